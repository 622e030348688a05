//! The L2 data plane end to end on ring-backed ports: frames built with etherparse go in on
//! one port; the test checks exactly which ports get which bytes, the counters, and that no
//! mbuf leaked. One switch (one EAL) per test: run with cargo nextest.

mod common;

use common::*;

fn with_flags(flags: &str) -> String {
    format!("mode = \"l2\"\nflags = \"{flags}\"\n{THREE_SLAVES}")
}

#[test]
fn phy_unicast_goes_to_the_owner_of_the_destination_ip() {
    let (_eal, sw) = start("phy_unicast", &with_flags("bridge"));
    let to_a = udp4(MASTER, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 11], b"to a");
    let to_b6 = udp6(MASTER, OUTSIDE, v6(1), v6(0x12), b"to b over v6");
    // The destination MAC is not checked: a foreign one is delivered by IP all the same.
    let to_b_foreign_mac = udp4(OUTSIDE, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 12], b"foreign mac");
    let nobody = udp4(MASTER, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 99], b"to the host");
    inject(
        &sw,
        "phy",
        &[
            to_a.clone(),
            to_b6.clone(),
            to_b_foreign_mac.clone(),
            nobody.clone(),
        ],
    );
    assert_eq!(take(&sw, "a"), vec![to_a.clone()]);
    assert_eq!(take(&sw, "b"), vec![to_b6.clone(), to_b_foreign_mac.clone()]);
    assert_eq!(take(&sw, "host"), vec![nobody.clone()]);
    assert!(take(&sw, "c").is_empty() && take(&sw, "phy").is_empty());
    let stats = finish(sw);
    let bytes = |f: &[Vec<u8>]| f.iter().map(|f| f.len() as u64).sum::<u64>();
    assert_eq!(stats["phy"].rx_packets, 4);
    assert_eq!(
        stats["phy"].rx_bytes,
        bytes(&[
            to_a.clone(),
            to_b6.clone(),
            to_b_foreign_mac.clone(),
            nobody.clone()
        ])
    );
    assert_eq!(
        (stats["a"].tx_packets, stats["a"].tx_bytes),
        (1, to_a.len() as u64)
    );
    assert_eq!(
        (stats["b"].tx_packets, stats["b"].tx_bytes),
        (2, bytes(&[to_b6, to_b_foreign_mac]))
    );
    assert_eq!(
        (stats["host"].tx_packets, stats["host"].tx_bytes),
        (1, nobody.len() as u64)
    );
}

#[test]
fn without_a_host_port_unknown_destinations_are_dropped_and_counted() {
    let toml = with_flags("bridge").replace("[host]\nring = \"host\"\n", "");
    let (_eal, sw) = start("no_host", &toml);
    let no_owner = udp4(MASTER, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 99], b"x");
    let mut no_key = no_owner.clone();
    no_key[12..14].copy_from_slice(&[0x88, 0xb5]); // a local-experimental ethertype: no key
    let bcast = arp(BROADCAST, OUTSIDE, 1, [10, 0, 0, 1], [10, 0, 0, 99]);
    inject(&sw, "phy", &[no_owner, no_key, bcast.clone()]);
    for slave in ["a", "b", "c"] {
        assert_eq!(take(&sw, slave), vec![bcast.clone()], "broadcast copy to {slave}");
    }
    let stats = finish(sw);
    let phy = &stats["phy"];
    assert_eq!(phy.drops["no_owner"], 1);
    assert_eq!(phy.drops["no_key"], 1);
    assert_eq!(phy.drops["no_host"], 1, "the host's copy of the broadcast");
}

#[test]
fn phy_broadcast_reaches_host_and_every_slave_multicast_only_members() {
    let (_eal, sw) = start("phy_multicast", &with_flags("bridge"));
    let who_has = arp(BROADCAST, OUTSIDE, 1, [10, 0, 0, 1], [10, 0, 0, 11]);
    let group = udp4(
        [0x01, 0, 0x5e, 1, 1, 1],
        OUTSIDE,
        [10, 0, 0, 1],
        [239, 1, 1, 1],
        b"group",
    );
    let other_group = udp4(
        [0x01, 0, 0x5e, 2, 2, 2],
        OUTSIDE,
        [10, 0, 0, 1],
        [239, 2, 2, 2],
        b"nobody",
    );
    inject(&sw, "phy", &[who_has.clone(), group.clone(), other_group.clone()]);
    assert_eq!(
        take(&sw, "host"),
        vec![who_has.clone(), group.clone(), other_group.clone()]
    );
    assert_eq!(take(&sw, "a"), vec![who_has.clone()]);
    assert_eq!(take(&sw, "b"), vec![who_has.clone(), group.clone()]);
    assert_eq!(take(&sw, "c"), vec![who_has.clone()]);
    assert!(take(&sw, "phy").is_empty());
    let stats = finish(sw);
    assert_eq!(stats["b"].multicast, 2);
    assert_eq!(stats["a"].multicast, 1);
    assert_eq!(stats["host"].multicast, 3);
}

#[test]
fn a_slaves_own_broadcast_reflected_from_the_wire_goes_to_the_host_only() {
    let (_eal, sw) = start("reflected", &with_flags("bridge"));
    // Slave a's ARP request, as the wire returns it: source MAC = master, sender IP = a's.
    let reflected = arp(BROADCAST, MASTER, 1, [10, 0, 0, 11], [10, 0, 0, 1]);
    inject(&sw, "phy", std::slice::from_ref(&reflected));
    assert_eq!(take(&sw, "host"), vec![reflected]);
    for slave in ["a", "b", "c"] {
        assert!(take(&sw, slave).is_empty(), "{slave} got a reflected frame");
    }
    finish(sw);
}

#[test]
fn slave_traffic_to_foreign_macs_leaves_on_the_phy_unchanged() {
    let (_eal, sw) = start("slave_to_wire", &with_flags("bridge"));
    // Even with the destination IP of another slave: L2 mode looks at MACs only here.
    let out1 = udp4(OUTSIDE, MASTER, [10, 0, 0, 11], [10, 0, 0, 12], b"to the wire");
    let out2 = udp6(OUTSIDE, MASTER, v6(0x11), v6(1), b"v6 to the wire");
    inject(&sw, "a", &[out1.clone(), out2.clone()]);
    assert_eq!(take(&sw, "phy"), vec![out1, out2]);
    assert!(take(&sw, "b").is_empty() && take(&sw, "host").is_empty());
    let stats = finish(sw);
    assert_eq!((stats["a"].rx_packets, stats["phy"].tx_packets), (2, 2));
}

#[test]
fn bridge_delivers_slave_to_slave_and_slave_to_host_when_dst_mac_is_src_mac() {
    let (_eal, sw) = start("bridge", &with_flags("bridge"));
    let a_to_b = udp4(MASTER, MASTER, [10, 0, 0, 11], [10, 0, 0, 12], b"a to b");
    let a_to_self = udp4(MASTER, MASTER, [10, 0, 0, 11], [10, 0, 0, 11], b"a to a");
    let a_to_host = udp4(MASTER, MASTER, [10, 0, 0, 11], [10, 0, 0, 1], b"a to host");
    inject(&sw, "a", &[a_to_b.clone(), a_to_self.clone(), a_to_host.clone()]);
    assert_eq!(take(&sw, "b"), vec![a_to_b]);
    assert_eq!(take(&sw, "a"), vec![a_to_self]);
    assert_eq!(take(&sw, "host"), vec![a_to_host]);
    assert!(take(&sw, "phy").is_empty(), "never to the wire");
    finish(sw);
}

#[test]
fn private_drops_slave_to_slave_but_not_to_host_or_wire() {
    let (_eal, sw) = start("private", &with_flags("private"));
    let a_to_b = udp4(MASTER, MASTER, [10, 0, 0, 11], [10, 0, 0, 12], b"a to b");
    let a_to_host = udp4(MASTER, MASTER, [10, 0, 0, 11], [10, 0, 0, 1], b"a to host");
    let a_to_wire = udp4(OUTSIDE, MASTER, [10, 0, 0, 11], [10, 0, 0, 1], b"a to wire");
    let a_bcast = arp(BROADCAST, MASTER, 1, [10, 0, 0, 11], [10, 0, 0, 12]);
    inject(
        &sw,
        "a",
        &[a_to_b, a_to_host.clone(), a_to_wire.clone(), a_bcast.clone()],
    );
    assert!(take(&sw, "a").is_empty());
    assert_eq!(take(&sw, "b"), vec![a_bcast.clone()], "multicast is not private");
    assert_eq!(take(&sw, "host"), vec![a_to_host]);
    assert_eq!(take(&sw, "phy"), vec![a_to_wire, a_bcast]);
    let stats = finish(sw);
    assert_eq!(stats["a"].drops["private"], 1);
}

#[test]
fn vepa_sends_dst_eq_src_to_the_wire_and_delivers_its_reflection() {
    let (_eal, sw) = start("vepa", &with_flags("vepa"));
    let a_to_b = udp4(MASTER, MASTER, [10, 0, 0, 11], [10, 0, 0, 12], b"hairpin");
    inject(&sw, "a", std::slice::from_ref(&a_to_b));
    let on_wire = take(&sw, "phy");
    assert_eq!(on_wire, vec![a_to_b.clone()]);
    assert!(take(&sw, "b").is_empty());
    // A reflective relay sends it back: delivered by destination.
    inject(&sw, "phy", &on_wire);
    assert_eq!(take(&sw, "b"), vec![a_to_b]);
    finish(sw);
}

#[test]
fn slave_broadcast_goes_to_other_slaves_and_the_wire_not_the_sender_nor_host() {
    let (_eal, sw) = start("slave_bcast", &with_flags("bridge"));
    let who_has = arp(BROADCAST, MASTER, 1, [10, 0, 0, 11], [10, 0, 0, 1]);
    let mut pause = arp([0x01, 0x80, 0xc2, 0, 0, 1], MASTER, 1, [0; 4], [0; 4]);
    pause[12..14].copy_from_slice(&[0x88, 0x08]);
    inject(&sw, "a", &[who_has.clone(), pause]);
    assert!(take(&sw, "a").is_empty());
    assert_eq!(take(&sw, "b"), vec![who_has.clone()]);
    assert_eq!(take(&sw, "c"), vec![who_has.clone()]);
    assert_eq!(take(&sw, "phy"), vec![who_has]);
    assert!(take(&sw, "host").is_empty());
    let stats = finish(sw);
    assert_eq!(stats["a"].drops["pause"], 1);
    assert_eq!(stats["phy"].multicast, 1);
}

#[test]
fn frames_over_the_receivers_mtu_are_dropped_and_counted() {
    let (_eal, sw) = start("mtu", &with_flags("bridge"));
    let small = udp4(MASTER, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 13], &[7; 400]);
    let big = udp4(MASTER, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 13], &[7; 600]);
    inject(&sw, "phy", &[small.clone(), big]);
    assert_eq!(take(&sw, "c"), vec![small]);
    let stats = finish(sw);
    assert_eq!(stats["c"].drops["mtu"], 1);
    assert_eq!(stats["c"].tx_packets, 1);
}

#[test]
fn host_transmissions_bypass_ipvlan_and_go_to_the_wire() {
    let (_eal, sw) = start("host_tx", &with_flags("bridge"));
    let to_slave_ip = udp4(MASTER, MASTER, [10, 0, 0, 1], [10, 0, 0, 11], b"from the host");
    let bcast = arp(BROADCAST, MASTER, 1, [10, 0, 0, 1], [10, 0, 0, 11]);
    inject(&sw, "host", &[to_slave_ip.clone(), bcast.clone()]);
    assert_eq!(take(&sw, "phy"), vec![to_slave_ip, bcast]);
    assert!(take(&sw, "a").is_empty());
    finish(sw);
}

#[test]
fn a_full_burst_of_mixed_traffic_leaks_nothing() {
    let (_eal, sw) = start("mixed", &with_flags("bridge"));
    let frames: Vec<Vec<u8>> = (0..300u32)
        .map(|i| match i % 3 {
            0 => udp4(
                MASTER,
                OUTSIDE,
                [10, 0, 0, 1],
                [10, 0, 0, 11 + (i % 4) as u8],
                &i.to_be_bytes(),
            ),
            1 => arp(BROADCAST, OUTSIDE, 1, [10, 0, 0, 1], [10, 0, 0, 12]),
            _ => udp6(MASTER, OUTSIDE, v6(1), v6(0x11), &i.to_be_bytes()),
        })
        .collect();
    inject(&sw, "phy", &frames);
    let a = take(&sw, "a").len();
    let b = take(&sw, "b").len();
    let host = take(&sw, "host").len();
    // 100 udp4 to .11/.12/.13/.14 (25 each), 100 broadcasts (to host and every slave), 100 v6 to a.
    assert_eq!(a, 25 + 100 + 100);
    assert_eq!(b, 25 + 100);
    assert_eq!(host, 25 + 100);
    let stats = finish(sw);
    assert_eq!(stats["phy"].rx_packets, 300);
}

#[test]
fn two_lcores_share_the_ports_and_their_counters_add_up() {
    // Lcores 1 and 2 both run on CPU 1 (this machine has two): slower, same semantics. The phy,
    // host and slave rx queues are spread over both lcores; each sends on its own tx queues.
    let (_eal, sw) = start_on_lcores("two_lcores", &with_flags("bridge"), "0@0,1@1,2@1", &[1, 2]);
    let to_a: Vec<Vec<u8>> = (0..100u32)
        .map(|i| udp4(MASTER, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 11], &i.to_be_bytes()))
        .collect();
    let b_to_a: Vec<Vec<u8>> = (0..100u32)
        .map(|i| udp4(MASTER, MASTER, [10, 0, 0, 12], [10, 0, 0, 11], &i.to_be_bytes()))
        .collect();
    inject(&sw, "phy", &to_a);
    inject(&sw, "b", &b_to_a);
    let got = take(&sw, "a");
    // Each source's frames arrive in order; the two sources interleave.
    let from = |src: [u8; 4]| -> Vec<Vec<u8>> { got.iter().filter(|f| f[26..30] == src).cloned().collect() };
    assert_eq!(from([10, 0, 0, 1]), to_a);
    assert_eq!(from([10, 0, 0, 12]), b_to_a);
    let stats = finish(sw);
    assert_eq!(stats["a"].tx_packets, 200);
    assert_eq!((stats["phy"].rx_packets, stats["b"].rx_packets), (100, 100));
}

#[test]
fn the_lcore_counts_its_busy_and_idle_cycles_and_every_frame_it_read() {
    let (_eal, sw) = start("lcore_cycles", &with_flags("bridge"));
    let frames: Vec<_> = (0..500u32)
        .map(|i| udp4(MASTER, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 11], &i.to_be_bytes()))
        .collect();
    inject(&sw, "phy", &frames[..300]);
    inject(
        &sw,
        "a",
        &[udp4(MASTER, MASTER, [10, 0, 0, 11], [10, 0, 0, 12], b"to b")],
    );
    inject(&sw, "phy", &frames[300..]);
    assert_eq!(take(&sw, "a").len(), 500);
    let lcores = sw.lcore_stats();
    assert_eq!(lcores.len(), 1);
    let lcore = &lcores[0];
    assert_eq!((lcore.lcore, lcore.packets), (1, 501), "{lcore:?}");
    // The injections came in a few busy rounds among many idle ones.
    assert!(
        lcore.busy_cycles > 0 && lcore.idle_cycles > lcore.busy_cycles,
        "{lcore:?}"
    );
    assert!(
        lcore.busy_percent() > 0.0 && lcore.busy_percent() < 50.0,
        "{lcore:?}"
    );
    assert!(lcore.cycles_per_packet() > 0.0, "{lcore:?}");
    // Idle time passes in idle rounds: the busy count stands still.
    std::thread::sleep(std::time::Duration::from_millis(50));
    let later = &sw.lcore_stats()[0];
    assert_eq!(
        (later.busy_cycles, later.packets),
        (lcore.busy_cycles, lcore.packets)
    );
    assert!(later.idle_cycles > lcore.idle_cycles);
    finish(sw);
}
