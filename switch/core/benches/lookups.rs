//! The common cases' decisions without DPDK, over a 32-frame burst. From the wire: the owner of
//! each frame of UDP to 8 (or 1,024) slave addresses, IPv4 and IPv6. From a slave in mode l3:
//! the route of each frame to 1,000 outside /24 networks (scripts/bench.sh's l3-out case).
//! Each with the whole verdict, the parts alone, and the harness alone. Prints ns per frame,
//! the best of several runs (a shared machine's steal time only ever adds). Frames are built
//! with etherparse. Run: `cargo bench -p switch-core --bench lookups`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use etherparse::PacketBuilder;
use switch_core::classify::{unicast_destination, Key};
use switch_core::dispatch::{Dispatch, McFilter, Multicast, Verdict};
use switch_core::routes::{Routes, Toward};
use switch_core::state::SlaveStates;
use switch_core::table::{AddressTable, SlaveId};
use switch_core::PortFlags;

const MASTER: [u8; 6] = [2, 0, 0, 0, 0, 1];
const BURST: usize = 32;
const BURSTS_PER_RUN: usize = 200_000;
const RUNS: usize = 9;

fn v4_of(slave: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, (slave / 200) as u8, (11 + slave % 200) as u8)
}

fn v6_of(slave: usize) -> Ipv6Addr {
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x11 + slave as u16)
}

fn dispatch(slaves: usize) -> Dispatch {
    let owners = (0..slaves).flat_map(|s| {
        let id = s as SlaveId;
        [
            (Key::V4(u32::from(v4_of(s))), id),
            (Key::V6(u128::from(v6_of(s))), id),
        ]
    });
    Dispatch {
        flags: PortFlags::Bridge,
        master_mac: MASTER,
        table: AddressTable::new(owners),
        multicast: Multicast::new((0..slaves).map(|_| McFilter::default()).collect()),
        states: Arc::new(SlaveStates::new(slaves, true)),
    }
}

/// A 64-byte (IPv4) or 66-byte (IPv6) UDP frame from outside to slave `to`'s address.
fn frame(v6: bool, to: usize) -> Vec<u8> {
    let eth = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0x99], MASTER);
    let (ip, payload) = match v6 {
        false => (eth.ipv4([192, 0, 2, 1], v4_of(to).octets(), 64), 18),
        true => (
            eth.ipv6(
                Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1).octets(),
                v6_of(to).octets(),
                64,
            ),
            0,
        ),
    };
    let udp = ip.udp(1024, 1024);
    let mut out = Vec::new();
    udp.write(&mut out, &vec![0u8; payload]).unwrap();
    out
}

/// Best ns per frame of `per_frame` over a burst of `frames`, repeated.
fn best_ns(frames: &[Vec<u8>], mut per_frame: impl FnMut(&[u8]) -> usize) -> f64 {
    (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            let mut sum = 0usize;
            for _ in 0..BURSTS_PER_RUN {
                for f in black_box(frames) {
                    sum = sum.wrapping_add(per_frame(f));
                }
            }
            black_box(sum);
            start.elapsed().as_nanos() as f64 / (BURSTS_PER_RUN * frames.len()) as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Outside network `n` of the l3-out case: 20.x.y.0/24.
fn outside(n: usize) -> Ipv4Addr {
    Ipv4Addr::new(20, (n / 250) as u8, (n % 250) as u8, 0)
}

/// Mode l3, a slave's frames routed: 1,000 /24 routes through one gateway, one slave (its
/// table probed and missed), frames to 32 of the networks spread over all.
fn routed() {
    let d = dispatch(1);
    let gateway = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 254));
    let networks: Vec<_> = (0..1000).map(|n| (IpAddr::V4(outside(n)), 24, gateway)).collect();
    let routes = Routes::new(
        &[(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 24)],
        &networks,
        &d.table,
    );
    let frames: Vec<_> = (0..BURST)
        .map(|i| {
            let to = u32::from(outside(i * 37 % 1000)) + 1;
            let udp = PacketBuilder::ethernet2(MASTER, MASTER)
                .ipv4(v4_of(0).octets(), Ipv4Addr::from(to).octets(), 64)
                .udp(4000, 5000);
            let mut out = Vec::new();
            udp.write(&mut out, &[0u8; 18]).unwrap();
            out
        })
        .collect();
    let key = |f: &[u8]| unicast_destination(f, f.len()).expect("a unicast IPv4 frame");
    let verdict = best_ns(&frames, |f| match d.from_slave_l3(&routes, 0, f, f.len()) {
        Verdict::Gateway(id) => id as usize,
        _ => usize::MAX,
    });
    let probe = best_ns(&frames, |f| d.table.lookup(key(f)).map_or(0, usize::from));
    let trie = best_ns(&frames, |f| match routes.toward(key(f)) {
        Some(Toward::Gateway(id)) => id as usize,
        _ => usize::MAX,
    });
    let alone = best_ns(&frames, |f| match key(f) {
        Key::V4(a) => a as usize,
        Key::V6(a) => a as usize,
    });
    let floor = best_ns(&frames, |f| usize::from(f[33]));
    println!(
        "mode l3 routed IPv4: from_slave_l3 {verdict:.2}, the key and slave-table probe {probe:.2}, the key and trie {trie:.2}, the key alone {alone:.2}, the harness {floor:.2} ns/frame"
    );
}

fn main() {
    for slaves in [8, 1024] {
        let d = dispatch(slaves);
        for v6 in [false, true] {
            // Round robin over the 8 slaves (as scripts/bench.sh's pcap), or 32 spread over 1,024.
            let frames: Vec<_> = (0..BURST).map(|i| frame(v6, (i * 37) % slaves)).collect();
            let verdict = best_ns(&frames, |f| match d.from_phy_frame(f, f.len()) {
                Verdict::Slave(s) => usize::from(s),
                _ => usize::MAX,
            });
            let key = best_ns(&frames, |f| match unicast_destination(f, f.len()) {
                Some(Key::V4(a)) => a as usize,
                Some(Key::V6(a)) => a as usize,
                None => usize::MAX,
            });
            // The harness alone: one byte of each frame.
            let floor = best_ns(&frames, |f| usize::from(f[33]));
            let family = if v6 { "IPv6" } else { "IPv4" };
            println!(
                "{slaves:>5} slaves {family}: from_phy_frame {verdict:.2}, its key alone {key:.2}, the harness {floor:.2} ns/frame"
            );
        }
    }
    routed();
}
