//! Mode l3 end to end on ring-backed ports: routed output with the next hop's Ethernet header
//! (a static neighbour, and one the switch resolves with ARP, the frames waiting meanwhile),
//! local delivery, frames from the wire to the owner whatever their MAC, ARP for the master
//! answered on the wire and a slave's ARP answered to it, and the l3 drops, each counted; no
//! mbuf leaked.

mod common;

use common::*;

const GATEWAY_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];

/// The master 10.0.0.100/24 and 2001:db8::100/64 on a ring phy, a default IPv4 route via
/// 10.0.0.254 (a static neighbour), no IPv6 route beyond the connected network; slaves a
/// (10.0.0.11, 2001:db8::11) and b (10.0.0.12).
const L3: &str = r#"mode = "l3"
[phy]
ring = "phy"
mac = "02:00:00:00:00:01"
addresses = ["10.0.0.100/24", "2001:db8::100/64"]
[[route]]
to = "0.0.0.0/0"
via = "10.0.0.254"
[[neighbour]]
ip = "10.0.0.254"
mac = "02:00:00:00:00:fe"
[[slave]]
name = "a"
ring = "a"
addresses = ["10.0.0.11/24", "2001:db8::11/64"]
[[slave]]
name = "b"
ring = "b"
addresses = ["10.0.0.12/24"]
"#;

#[test]
fn slaves_frames_are_routed_delivered_or_dropped_and_counted() {
    let (_eal, sw) = start("l3_routes", L3);
    // As a NOARP slave sends: to its own (the master's) MAC.
    let outside = udp4(MASTER, MASTER, [10, 0, 0, 11], [192, 0, 2, 1], b"to the internet");
    let to_b = udp4(MASTER, MASTER, [10, 0, 0, 11], [10, 0, 0, 12], b"to b");
    let unroutable = udp6(
        MASTER,
        MASTER,
        v6(0x11),
        [0x20, 1, 0x0d, 0xb8, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
        b"v6 out",
    );
    let multicast = udp4(
        [0x01, 0, 0x5e, 0, 0, 0xfb],
        MASTER,
        [10, 0, 0, 11],
        [224, 0, 0, 251],
        b"mdns",
    );
    inject(
        &sw,
        "a",
        &[outside.clone(), to_b.clone(), unroutable.clone(), multicast],
    );

    let mut routed = outside.clone();
    routed[0..6].copy_from_slice(&GATEWAY_MAC);
    assert_eq!(take(&sw, "phy"), vec![routed]);
    assert_eq!(take(&sw, "b"), vec![to_b]);
    // The unroutable one is answered: ICMPv6 "no route" from the master's address, quoting it.
    let no_route = {
        let builder = etherparse::PacketBuilder::ethernet2(MASTER, MASTER)
            .ipv6(
                [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0],
                v6(0x11),
                64,
            )
            .icmpv6_raw(1, 0, [0; 4]);
        let mut frame = Vec::new();
        builder.write(&mut frame, &unroutable[14..]).unwrap();
        frame
    };
    assert_eq!(take(&sw, "a"), vec![no_route]);
    let stats = finish(sw);
    let drops = |port: &str, reason: &str| stats[port].drops[reason];
    assert_eq!([drops("a", "no_route"), drops("a", "l3_multicast")], [1, 1]);
    assert_eq!((stats["phy"].tx_packets, stats["b"].tx_packets), (1, 1));
}

#[test]
fn the_wire_reaches_the_owner_with_the_masters_mac_and_a_slaves_arp_is_answered() {
    let (_eal, sw) = start("l3_wire", L3);
    let foreign_mac = udp4(OUTSIDE, OUTSIDE, [192, 0, 2, 1], [10, 0, 0, 12], b"any MAC");
    let to_host = udp4(MASTER, OUTSIDE, [192, 0, 2, 1], [10, 0, 0, 99], b"nobody's");
    // The LAN asks for the master: answered on the wire.
    let for_master = arp(BROADCAST, OUTSIDE, 1, [10, 0, 0, 254], [10, 0, 0, 100]);
    inject(&sw, "phy", &[foreign_mac.clone(), to_host, for_master]);
    assert_eq!(
        take(&sw, "phy"),
        vec![arp(OUTSIDE, MASTER, 2, [10, 0, 0, 100], [10, 0, 0, 254])]
    );
    let mut delivered = foreign_mac;
    delivered[0..6].copy_from_slice(&MASTER);
    assert_eq!(take(&sw, "b"), vec![delivered]);

    // a resolves its gateway and b: both answered with the master's MAC, to a only.
    let who_has = |target: [u8; 4]| arp(BROADCAST, MASTER, 1, [10, 0, 0, 11], target);
    inject(&sw, "a", &[who_has([10, 0, 0, 254]), who_has([10, 0, 0, 12])]);
    // The reply: the master's MAC at the asked address, to a (whose MAC is the master's).
    let answered = |sender: [u8; 4]| arp(MASTER, MASTER, 2, sender, [10, 0, 0, 11]);
    assert_eq!(
        take(&sw, "a"),
        vec![answered([10, 0, 0, 254]), answered([10, 0, 0, 12])]
    );
    // A gratuitous ARP is never answered nor forwarded.
    inject(&sw, "a", &[who_has([10, 0, 0, 11])]);
    assert!(take(&sw, "a").is_empty() && take(&sw, "b").is_empty() && take(&sw, "phy").is_empty());
    let stats = finish(sw);
    assert_eq!(stats["phy"].drops["no_owner"], 1, "no host port: counted");
    assert_eq!(stats["a"].drops["probe"], 1);
    assert_eq!(stats["a"].tx_packets, 2);
}

#[test]
fn an_unknown_next_hop_is_resolved_with_arp_while_its_frames_wait() {
    let (_eal, sw) = start("l3_resolve", L3);
    let neighbour_mac = [0x02, 0, 0, 0, 0, 0x50];
    let to_neighbour = |n: u8| udp4(MASTER, MASTER, [10, 0, 0, 11], [10, 0, 0, 50], &[n; 8]);
    inject(&sw, "a", &[to_neighbour(1), to_neighbour(2)]);
    // One request, from the master's address and MAC.
    let request = arp(BROADCAST, MASTER, 1, [10, 0, 0, 100], [10, 0, 0, 50]);
    wait_until(
        || sw.rings("phy").unwrap().1.count() >= 1,
        || "no ARP request".into(),
    );
    assert_eq!(take(&sw, "phy"), vec![request]);
    // The answer releases both, in order, to the learned MAC.
    inject(
        &sw,
        "phy",
        &[arp(MASTER, neighbour_mac, 2, [10, 0, 0, 50], [10, 0, 0, 100])],
    );
    let resolved = |n: u8| {
        let mut frame = to_neighbour(n);
        frame[0..6].copy_from_slice(&neighbour_mac);
        frame
    };
    wait_until(
        || sw.rings("phy").unwrap().1.count() >= 2,
        || "the waiting frames were not sent".into(),
    );
    assert_eq!(take(&sw, "phy"), vec![resolved(1), resolved(2)]);
    // From now on the lcores know it.
    inject(&sw, "a", &[to_neighbour(3)]);
    assert_eq!(take(&sw, "phy"), vec![resolved(3)]);
    let stats = sw.resolver_stats().unwrap();
    assert_eq!(
        (stats.requests, stats.learned, stats.released, stats.dropped),
        (1, 1, 2, 0)
    );
    finish(sw);
}

#[test]
fn a_next_hop_that_never_answers_fails_after_three_requests_and_its_frames_are_told_so() {
    let (_eal, sw) = start("l3_fail", L3);
    let lost = udp4(MASTER, MASTER, [10, 0, 0, 11], [10, 0, 0, 60], b"nobody home");
    inject(&sw, "a", std::slice::from_ref(&lost));
    wait_until(
        || sw.resolver_stats().unwrap().dropped == 1,
        || format!("{:?}", sw.resolver_stats()),
    );
    let request = arp(BROADCAST, MASTER, 1, [10, 0, 0, 100], [10, 0, 0, 60]);
    assert_eq!(take(&sw, "phy"), vec![request.clone(), request.clone(), request]);
    assert_eq!(sw.resolver_stats().unwrap().requests, 3);
    // Its sender hears "host unreachable" from the master, quoting the header and 8 bytes, as
    // the kernel's stack answers (no DF); and again for a frame sent while it stays failed.
    let mut header =
        etherparse::Ipv4Header::new(0, 64, etherparse::IpNumber::ICMP, [10, 0, 0, 100], [10, 0, 0, 11])
            .unwrap();
    header.dont_fragment = false;
    let mut host_unreachable = Vec::new();
    etherparse::PacketBuilder::ethernet2(MASTER, MASTER)
        .ip(etherparse::IpHeaders::Ipv4(header, Default::default()))
        .icmpv4_raw(3, 1, [0; 4])
        .write(&mut host_unreachable, &lost[14..14 + 28])
        .unwrap();
    wait_until(
        || sw.stats()["a"].tx_packets == 1,
        || format!("{:?}", sw.stats()["a"]),
    );
    assert_eq!(take(&sw, "a"), vec![host_unreachable.clone()]);
    inject(&sw, "a", std::slice::from_ref(&lost));
    wait_until(
        || sw.stats()["a"].tx_packets == 2,
        || format!("{:?}", sw.resolver_stats()),
    );
    assert_eq!(take(&sw, "a"), vec![host_unreachable]);
    let totals = sw.resolver_stats().unwrap();
    assert_eq!((totals.dropped, totals.unreachable), (2, 2));
    finish(sw);
}

#[test]
fn a_routed_chained_jumbo_frame_keeps_all_its_bytes() {
    let jumbo = L3.replace(
        "mac = \"02:00:00:00:00:01\"",
        "mac = \"02:00:00:00:00:01\"\nmtu = 9000",
    );
    let (_eal, sw) = start("l3_jumbo", &jumbo);
    let frame = udp4(MASTER, MASTER, [10, 0, 0, 11], [192, 0, 2, 1], &[0xa5; 3000 - 42]);
    inject_chained(&sw, "a", &frame);
    let mut routed = frame;
    routed[0..6].copy_from_slice(&GATEWAY_MAC);
    assert_eq!(take(&sw, "phy"), vec![routed]);
    let stats = finish(sw);
    assert_eq!((stats["phy"].tx_packets, stats["phy"].tx_bytes), (1, 3000));
}

/// The wire asking for slave a's address.
fn who_has_a() -> Vec<u8> {
    arp(BROADCAST, OUTSIDE, 1, [10, 0, 0, 254], [10, 0, 0, 11])
}

#[test]
fn the_wire_asking_for_a_slave_is_not_answered_and_reaches_the_slave() {
    // The kernel's way: the router routes the slaves' network via the master.
    let (_eal, sw) = start("l3_no_proxy", L3);
    inject(&sw, "phy", &[who_has_a()]);
    assert!(take(&sw, "phy").is_empty());
    assert_eq!(take(&sw, "a"), vec![who_has_a()]);
    finish(sw);
}

#[test]
fn with_proxy_neighbour_the_wire_asking_for_a_slave_is_answered_with_the_masters_mac() {
    let proxy = L3.replace(
        "addresses = [\"10.0.0.100/24\"",
        "proxy_neighbour = true\naddresses = [\"10.0.0.100/24\"",
    );
    let (_eal, sw) = start("l3_proxy", &proxy);
    let for_nobody = arp(BROADCAST, OUTSIDE, 1, [10, 0, 0, 254], [10, 0, 0, 77]);
    inject(&sw, "phy", &[who_has_a(), for_nobody]);
    // a's address answered with the master's MAC, on the wire; nobody's address not at all.
    assert_eq!(
        take(&sw, "phy"),
        vec![arp(OUTSIDE, MASTER, 2, [10, 0, 0, 11], [10, 0, 0, 254])]
    );
    assert!(take(&sw, "a").is_empty());
    finish(sw);
}
