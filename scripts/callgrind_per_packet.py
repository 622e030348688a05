#!/usr/bin/env python3
"""Instructions per packet, by object (the switch, each PMD, libc...), from a callgrind output
file: the self cost of every function, summed per object and divided by PACKETS.
usage: callgrind_per_packet.py CALLGRIND_OUT PACKETS"""
import collections
import re
import sys

path, packets = sys.argv[1], int(sys.argv[2])
names, by_object = {}, collections.Counter()
current, after_calls = None, False
for line in open(path, encoding="utf-8", errors="replace"):
    if line.startswith(("ob=", "cob=")):
        # "ob=(N) name" names object N; a later "ob=(N)" refers to it.
        key, rest = line.rstrip("\n").split("=", 1)
        number, _, name = rest.partition(" ")
        if name:
            names[number] = name
        if key == "ob":
            current = names.get(number)
        continue
    if line.startswith("calls="):
        # The next cost line is the call's inclusive cost: not this function's own.
        after_calls = True
        continue
    if not line[:1] or line[0] not in "0123456789+-*":
        continue
    if after_calls:
        after_calls = False
        continue
    fields = line.split()
    # Positions (instr and line, or line alone) come first, the Ir count last.
    by_object[current] += int(fields[-1])
total = sum(by_object.values())
short = lambda name: (name or "?").rsplit("/", 1)[-1]
print(f"{total / packets:.1f} instructions/packet: " +
      ", ".join(f"{short(o)} {n / packets:.1f}" for o, n in by_object.most_common(5) if n / packets >= 0.5))
