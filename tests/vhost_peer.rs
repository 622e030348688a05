//! A vhost-user slave against a real virtio-user peer: `dpdk-testpmd` with `net_virtio_user`
//! (its own process and file prefix) sending every frame back with MACs, IPs and UDP ports
//! swapped (5tswap), as an answer. The slave is down until the guest attaches (its address goes
//! to the host port), carries frames both ways byte for byte while attached (answers to the
//! outside leave on the phy, answers to ring slave a reach a), goes down when the guest is
//! killed, comes back with a new guest, and nothing leaks. In server mode (the switch listens)
//! and client mode (testpmd listens), and with two forwarding lcores sending to the guest.

mod common;

use std::time::{Duration, Instant};

use common::testpmd::Guest;
use common::*;
use switch::Switch;

fn config(socket: &str, client: bool, queues: u16) -> String {
    format!(
        "[phy]\nring = \"phy\"\nmac = \"02:00:00:00:00:01\"\n[host]\nring = \"host\"\n\
         [[slave]]\nname = \"g\"\nvhost = {{ socket = \"{socket}\", client = {client}, queues = {queues} }}\n\
         addresses = [\"10.0.0.21/24\"]\n[[slave]]\nname = \"a\"\nring = \"a\"\naddresses = [\"10.0.0.11/24\"]\n"
    )
}

fn wait_until_up(sw: &Switch, up: bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while sw.is_up("g") != Some(up) {
        assert!(
            Instant::now() < deadline,
            "slave g never went {}",
            if up { "up" } else { "down" }
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(sw.guest_queue_pairs("g").map(|pairs| pairs > 0), Some(up));
}

/// What 5tswap makes of a `udp4` frame: MACs, addresses and UDP ports swapped.
fn swapped(dst_mac: [u8; 6], src_mac: [u8; 6], src: [u8; 4], dst: [u8; 4], payload: &[u8]) -> Vec<u8> {
    udp4_ports(dst_mac, src_mac, src, dst, (UDP_PORTS.1, UDP_PORTS.0), payload)
}

/// Sends `frames` in from `from`, collects what comes out of `to`: every answer, in order.
fn answers(sw: &Switch, from: &str, frames: &[Vec<u8>], to: &str, expected: &[Vec<u8>]) {
    let mut back = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    for chunk in frames.chunks(16) {
        inject(sw, from, chunk);
        back.extend(take(sw, to));
    }
    while back.len() < expected.len() {
        assert!(
            Instant::now() < deadline,
            "{} of {} answers came",
            back.len(),
            expected.len()
        );
        std::thread::sleep(Duration::from_millis(5));
        back.extend(take(sw, to));
    }
    assert_eq!(back, expected);
}

/// The guest answers frames from outside (to the phy, its destination MAC the outside's) and
/// from ring slave a (to a: dst MAC = src MAC = the master's, slave to slave).
fn answers_through_the_guest(sw: &Switch, count: usize) {
    let number = |i: usize| (i as u32).to_be_bytes();
    let from_outside: Vec<_> = (0..count)
        .map(|i| udp4(MASTER, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 21], &number(i)))
        .collect();
    let to_outside: Vec<_> = (0..count)
        .map(|i| swapped(OUTSIDE, MASTER, [10, 0, 0, 21], [10, 0, 0, 1], &number(i)))
        .collect();
    answers(sw, "phy", &from_outside, "phy", &to_outside);
    let from_a: Vec<_> = (0..count)
        .map(|i| udp4(MASTER, MASTER, [10, 0, 0, 11], [10, 0, 0, 21], &number(i)))
        .collect();
    let to_a: Vec<_> = (0..count)
        .map(|i| swapped(MASTER, MASTER, [10, 0, 0, 21], [10, 0, 0, 11], &number(i)))
        .collect();
    answers(sw, "a", &from_a, "a", &to_a);
}

/// `lcores`: (the EAL lcore map, the forwarding lcores); `queues`: queue pairs of slave and
/// guest. Returns the frames each forwarding lcore read.
fn guest_comes_and_goes(test: &str, client: bool, lcores: (&str, &[u32]), queues: u16) -> Vec<u64> {
    let socket = scratch_dir(test).join("g.sock");
    let socket = socket.to_str().unwrap();
    let _ = std::fs::remove_file(socket);
    // In client mode testpmd must listen first (it forwards once the switch connected); in
    // server mode the switch creates the socket.
    let mut guest = client.then(|| Guest::spawn(socket, true, queues, "5tswap", test));
    let (_eal, sw) = start_on_lcores(test, &config(socket, client, queues), lcores.0, lcores.1);
    if let Some(guest) = &guest {
        guest.wait_forwarding();
    }
    let to_g = udp4(MASTER, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 21], b"nobody attached");
    if guest.is_none() {
        // Down: its address is an unknown destination.
        assert_eq!(sw.is_up("g"), Some(false));
        inject(&sw, "phy", std::slice::from_ref(&to_g));
        assert_eq!(take(&sw, "host"), vec![to_g.clone()]);
        guest = Some(Guest::start(socket, false, queues, "5tswap", test));
    }
    wait_until_up(&sw, true);
    // The guest enables its queue pairs one after the other.
    let deadline = Instant::now() + Duration::from_secs(10);
    while sw.guest_queue_pairs("g") != Some(queues) {
        assert!(
            Instant::now() < deadline,
            "queue pairs in use: {:?}",
            sw.guest_queue_pairs("g")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    answers_through_the_guest(&sw, 100);

    // The guest dies: down, its traffic goes to the host, the ring slave is unaffected.
    guest.take().unwrap().stop();
    wait_until_up(&sw, false);
    inject(&sw, "phy", std::slice::from_ref(&to_g));
    assert_eq!(take(&sw, "host"), vec![to_g.clone()]);
    let to_a = udp4(MASTER, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 11], b"to a");
    inject(&sw, "phy", std::slice::from_ref(&to_a));
    assert_eq!(take(&sw, "a"), vec![to_a]);

    // A new guest: up again (in client mode the switch reconnects by itself, once the new
    // guest listens where the killed one left its socket file).
    if client {
        std::fs::remove_file(socket).unwrap();
    }
    let _guest = Guest::start(socket, client, queues, "5tswap", test);
    wait_until_up(&sw, true);
    answers_through_the_guest(&sw, 50);
    let read = sw.lcore_stats().iter().map(|l| l.packets).collect();
    let stats = finish(sw);
    assert_eq!((stats["g"].rx_packets, stats["g"].tx_packets), (300, 300));
    assert_eq!(stats["phy"].tx_packets, 150);
    assert_eq!(stats["a"].tx_packets, 151);
    if !client {
        assert!(
            !std::path::Path::new(socket).exists(),
            "the switch removes the socket it created"
        );
    }
    read
}

const ONE_LCORE: (&str, &[u32]) = ("0@0,1@1", &[1]);
const TWO_LCORES: (&str, &[u32]) = ("0@0,1@1,2@1", &[1, 2]);

#[test]
fn a_guest_attaches_to_a_server_socket_forwards_and_comes_back() {
    guest_comes_and_goes("vhost_server", false, ONE_LCORE, 1);
}

#[test]
fn the_switch_connects_to_a_guests_socket_and_reconnects() {
    guest_comes_and_goes("vhost_client", true, ONE_LCORE, 1);
}

#[test]
fn two_lcores_send_to_one_guest_on_one_queue_pair() {
    // Lcores 1 and 2 share CPU 1: the phy and the guest are polled by lcore 1, ring slave a by
    // lcore 2, so both send into the guest's one receive virtqueue (under its per-queue lock).
    guest_comes_and_goes("vhost_two_lcores", false, TWO_LCORES, 1);
}

#[test]
fn two_lcores_send_to_a_guest_on_two_queue_pairs() {
    // Lcore 1 reads the phy and the guest's pair 0 and sends on pair 0; lcore 2 reads ring
    // slave a and the guest's pair 1 and sends on pair 1. testpmd answers on the pair a frame
    // came in on, so the answers to a come out of the guest's second pair, read by lcore 2.
    let read = guest_comes_and_goes("vhost_multiqueue", false, TWO_LCORES, 2);
    // Each lcore read its own guest pair: lcore 1 the phy's 153 frames and their 150 answers
    // on pair 0, lcore 2 a's 150 frames and their 150 answers on pair 1.
    assert_eq!(read, vec![303, 300]);
}

#[test]
fn a_guest_waits_while_the_pool_is_dry_and_the_wait_is_counted() {
    let test = "vhost_pool_dry";
    let socket = scratch_dir(test).join("g.sock");
    let socket = socket.to_str().unwrap();
    // 256 mbufs, and a phy ring (1,024) nobody drains: the guest's frames use up the pool.
    let (_eal, sw) = start(
        test,
        &format!("[pool]\nmbufs = 256\n{}", config(socket, false, 1)),
    );
    let mut guest = Guest::start(socket, false, 1, "txonly", test);
    wait_until_up(&sw, true);
    wait_until(
        || sw.stats()["g"].drops["pool_empty"] > 0,
        || format!("the pool never ran dry: {:?}", sw.stats()),
    );
    let held = take(&sw, "phy").len();
    assert!(held >= 100, "only {held} frames held in the phy's ring");
    // Drained: the guest's frames flow again.
    wait_until(
        || sw.stats()["phy"].tx_packets >= held as u64 + 100,
        || format!("no frames after the drain: {:?}", sw.stats()),
    );
    guest.stop();
    let stats = finish(sw);
    // Nothing was dropped: the frames waited in the guest's queue.
    assert_eq!(stats["g"].rx_packets, stats["phy"].tx_packets, "{stats:?}");
    assert_eq!(stats["phy"].drops.values().sum::<u64>(), 0, "{stats:?}");
}

#[test]
fn a_frozen_guest_costs_counted_drops_not_a_stalled_switch() {
    let test = "vhost_frozen";
    let socket = scratch_dir(test).join("g.sock");
    let socket = socket.to_str().unwrap();
    let (_eal, sw) = start(test, &config(socket, false, 1));
    let guest = Guest::start(socket, false, 1, "rxonly", test);
    wait_until_up(&sw, true);
    // The guest stops taking frames: its receive virtqueue fills, the rest is dropped after a
    // bounded number of retries, and the switch goes on serving the others.
    guest.signal("STOP");
    let to_g: Vec<_> = (0..1000u32)
        .map(|i| udp4(MASTER, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 21], &i.to_be_bytes()))
        .collect();
    inject(&sw, "phy", &to_g);
    let to_a = udp4(MASTER, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 11], b"to a");
    inject(&sw, "phy", std::slice::from_ref(&to_a));
    assert_eq!(take(&sw, "a"), vec![to_a]);
    let g = &sw.stats()["g"];
    assert!(g.drops["tx_full"] > 0 && g.tx_packets <= 512, "{g:?}");
    assert_eq!(g.tx_packets + g.drops["tx_full"], 1000, "{g:?}");
    // Thawed, it takes frames again.
    guest.signal("CONT");
    let delivered = g.tx_packets;
    let takes_again = || {
        inject(&sw, "phy", &to_g[..10]);
        sw.stats()["g"].tx_packets >= delivered + 10
    };
    wait_until(takes_again, || {
        format!("the thawed guest takes nothing: {:?}", sw.stats()["g"])
    });
    drop(guest);
    finish(sw);
}
