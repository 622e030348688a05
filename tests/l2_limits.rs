//! The switch at its limits, on ring-backed ports (and a pcap phy where the driver must
//! allocate): full rings, refused multicast copies, an empty pool, chained jumbo frames, PAUSE
//! from the wire, down slaves. Every refusal is counted and no mbuf leaks.

mod common;

use std::time::{Duration, Instant};

use common::*;
use switch::Switch;

/// Frames from outside to `dst`, each with its number as payload.
fn numbered_to(dst: [u8; 4], count: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| udp4(MASTER, OUTSIDE, [10, 0, 0, 1], dst, &(i as u32).to_be_bytes()))
        .collect()
}

/// The ring capacity of a ring port's out ring.
fn out_capacity(sw: &Switch, port: &str) -> usize {
    sw.rings(port).unwrap().1.capacity() as usize
}

#[test]
fn a_full_slave_ring_refuses_frames_which_are_freed_and_counted() {
    let (_eal, sw) = start("full_ring", THREE_SLAVES);
    let capacity = out_capacity(&sw, "a");
    let frames = numbered_to([10, 0, 0, 11], capacity + 77);
    inject(&sw, "phy", &frames);
    // The first `capacity` frames fit, in order; the rest were refused.
    assert_eq!(take(&sw, "a"), frames[..capacity]);
    let stats = finish(sw);
    assert_eq!(stats["a"].tx_packets, capacity as u64);
    assert_eq!(stats["a"].drops["tx_full"], 77);
    assert_eq!(stats["phy"].rx_packets, frames.len() as u64);
}

#[test]
fn a_multicast_copy_one_port_refuses_is_counted_while_the_others_get_theirs() {
    let (_eal, sw) = start("mc_refused", THREE_SLAVES);
    // Fill b's ring, so that b refuses its copy; c's MTU (500) refuses a 600-byte frame.
    let fill = numbered_to([10, 0, 0, 12], out_capacity(&sw, "b"));
    inject(&sw, "phy", &fill);
    let broadcast = arp(BROADCAST, OUTSIDE, 1, [10, 0, 0, 1], [10, 0, 0, 99]);
    let big = udp4(BROADCAST, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 255], &[7; 600]);
    assert!(big.len() > 500 + 18, "longer than c's MTU allows");
    inject(&sw, "phy", &[broadcast.clone(), big.clone()]);
    assert_eq!(take(&sw, "a"), vec![broadcast.clone(), big.clone()]);
    assert_eq!(take(&sw, "host"), vec![broadcast.clone(), big.clone()]);
    assert_eq!(take(&sw, "c"), vec![broadcast.clone()]);
    assert_eq!(take(&sw, "b"), fill);
    let stats = finish(sw);
    assert_eq!(stats["b"].drops["tx_full"], 2);
    assert_eq!(stats["b"].multicast, 2);
    assert_eq!(stats["c"].drops["mtu"], 1);
    assert_eq!((stats["c"].multicast, stats["c"].tx_packets), (1, 1));
    assert_eq!((stats["a"].multicast, stats["host"].multicast), (2, 2));
}

#[test]
fn a_chained_jumbo_frame_is_delivered_by_its_destination_ip() {
    // Slave a takes the phy's MTU, as in the kernel.
    let jumbo_ports = THREE_SLAVES.replace(
        "mac = \"02:00:00:00:00:01\"",
        "mac = \"02:00:00:00:00:01\"\nmtu = 9000",
    );
    let (_eal, sw) = start("jumbo", &jumbo_ports);
    let frame = udp4(MASTER, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 11], &[0x5a; 3000 - 42]);
    assert_eq!(frame.len(), 3000);
    inject_chained(&sw, "phy", &frame);
    assert_eq!(take(&sw, "a"), vec![frame]);
    assert!(take(&sw, "host").is_empty());
    let stats = finish(sw);
    assert_eq!((stats["a"].tx_packets, stats["a"].tx_bytes), (1, 3000));
}

#[test]
fn pause_from_the_wire_reaches_the_host_only() {
    let (_eal, sw) = start("phy_pause", THREE_SLAVES);
    let mut pause = vec![0x01, 0x80, 0xc2, 0x00, 0x00, 0x01];
    pause.extend_from_slice(&OUTSIDE);
    pause.extend_from_slice(&[0x88, 0x08, 0x00, 0x01, 0xff, 0xff]);
    pause.resize(60, 0);
    inject(&sw, "phy", &[pause.clone()]);
    assert_eq!(take(&sw, "host"), vec![pause]);
    for slave in ["a", "b", "c"] {
        assert!(take(&sw, slave).is_empty(), "{slave} got a PAUSE copy");
    }
    let stats = finish(sw);
    assert_eq!(stats["host"].tx_packets, 1);
}

#[test]
fn a_down_slaves_addresses_go_to_the_host_and_it_gets_no_multicast() {
    let (_eal, sw) = start("down_slave", THREE_SLAVES);
    let to_a = udp4(MASTER, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 11], b"to a");
    let broadcast = arp(BROADCAST, OUTSIDE, 1, [10, 0, 0, 1], [10, 0, 0, 99]);
    assert!(sw.set_up("a", false).unwrap());
    inject(&sw, "phy", &[to_a.clone(), broadcast.clone()]);
    assert!(take(&sw, "a").is_empty());
    assert_eq!(take(&sw, "host"), vec![to_a.clone(), broadcast.clone()]);
    assert_eq!(take(&sw, "b"), vec![broadcast.clone()]);
    // Up again: its own once more.
    assert!(!sw.set_up("a", true).unwrap());
    inject(&sw, "phy", std::slice::from_ref(&to_a));
    assert_eq!(take(&sw, "a"), vec![to_a]);
    assert!(sw.set_up("nobody", false).is_err());
    let stats = finish(sw);
    assert_eq!(stats["a"].tx_packets, 1);
}

#[test]
fn an_empty_pool_is_counted_and_forwarding_resumes_when_mbufs_come_back() {
    // net_pcap allocates an mbuf per frame it reads; with none left it counts the frame as
    // rx_nombuf (our pool_empty) and goes on with the next. Enough frames that the file
    // outlasts the test's reaction by far (~5 M/s are dropped while the pool is dry).
    const FRAMES: usize = 500_000;
    let pcap = scratch_dir("tiny_pool").join("in.pcap");
    let frame = udp4(MASTER, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 11], b"tiny pool");
    std::fs::write(&pcap, pcap::write(&vec![frame.clone(); FRAMES])).unwrap();
    let toml = format!(
        "[pool]\nmbufs = 48\n[phy]\ndevice = \"net_pcap0,rx_pcap={}\"\nmac = \"02:00:00:00:00:01\"\n\
         [[slave]]\nname = \"a\"\nring = \"a\"\naddresses = [\"10.0.0.11/24\"]\n",
        pcap.display()
    );
    let (_eal, sw) = start("tiny_pool", &toml);
    assert_eq!(sw.pool().capacity(), 48);
    let counts = || {
        let stats = sw.stats();
        (
            stats["a"].tx_packets,
            stats["phy"].drops["pool_empty"],
            stats["phy"].rx_packets,
        )
    };
    // Nobody drains a: its ring holds every mbuf, and the driver finds the pool empty.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (stalled, dry, _) = loop {
        let now = counts();
        if now.1 > 0 {
            break now;
        }
        assert!(Instant::now() < deadline, "the pool never ran dry: {now:?}");
    };
    assert!(stalled <= 48, "{stalled} frames out of a 48-mbuf pool");
    // Draining a gives the mbufs back, and frames flow again until the file ends.
    let mut received = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        received += take(&sw, "a").len();
        let (_, empty, rx) = counts();
        if rx + empty == FRAMES as u64 {
            break;
        }
        assert!(Instant::now() < deadline, "the switch stalled: {:?}", counts());
    }
    settle(&sw);
    received += take(&sw, "a").len();
    let stats = finish(sw);
    let (forwarded, empty) = (stats["a"].tx_packets, stats["phy"].drops["pool_empty"]);
    assert!(
        forwarded > stalled + 1000,
        "forwarding did not resume: {forwarded} after {stalled}"
    );
    assert!(empty >= dry);
    // Every frame of the file was forwarded or counted.
    assert_eq!((received as u64, forwarded + empty), (forwarded, FRAMES as u64));
}
