//! Mode l3 against section 4 (and 5, flags) of the ipvlan semantics, with what the switch
//! supplies for the master's stack: routes to the phy, and answers to a slave's ARP/NS.
//! The master is 10.0.0.100/24 and 2001:db8::100/64; default routes via 10.0.0.254 and
//! 2001:db8::fe.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::*;
use etherparse::{EtherType, IpHeaders, IpNumber, Ipv4Header, PacketBuilder};
use switch_core::dispatch::{DropReason, Verdict};
use switch_core::icmp::{unreachable, Unreachable, UNREACHABLE_MAX};
use switch_core::neighbour::{answer, learned, request, ANSWER_MAX, REQUEST_MAX};
use switch_core::routes::Routes;
use switch_core::PortFlags;

const MASTER_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
const MASTER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100);
const GATEWAY_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);
const GATEWAY_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xfe);

fn routes(with_defaults: bool) -> Routes {
    let master = [(IpAddr::V4(MASTER_V4), 24), (IpAddr::V6(MASTER_V6), 64)];
    let defaults = [
        (IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0, IpAddr::V4(GATEWAY_V4)),
        (IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0, IpAddr::V6(GATEWAY_V6)),
    ];
    let slaves = dispatch(PortFlags::Bridge).table;
    Routes::new(&master, if with_defaults { &defaults } else { &[] }, &slaves)
}

/// The verdict routing through `via`, a default route's gateway.
fn gateway(via: switch_core::classify::Key) -> Verdict {
    Verdict::Gateway(routes(true).gateway_id(via).expect("a gateway"))
}

fn from_slave(flags: PortFlags, sender: u16, frame: &[u8]) -> Verdict {
    dispatch(flags).from_slave_l3(&routes(true), sender, frame, frame.len())
}

fn from_phy(frame: &[u8]) -> Verdict {
    dispatch(PortFlags::Bridge).from_phy_l3(&routes(true), false, frame, frame.len())
}

/// A slave's unicast IPv4 frame to `dst`, to the master's MAC (as a NOARP slave sends it).
fn to4(dst: Ipv4Addr) -> Vec<u8> {
    ipv4_frame(MASTER_MAC, MASTER_MAC, SLAVE0_V4, dst)
}

#[test]
fn a_destination_a_slave_owns_is_delivered_locally_whatever_the_macs() {
    assert_eq!(
        from_slave(PortFlags::Bridge, 0, &to4(SLAVE1_V4)),
        Verdict::Slave(1)
    );
    let foreign = ipv4_frame(FOREIGN_MAC, MASTER_MAC, SLAVE0_V4, SLAVE1_V4);
    assert_eq!(from_slave(PortFlags::Bridge, 0, &foreign), Verdict::Slave(1));
    let v6 = ipv6_frame(MASTER_MAC, MASTER_MAC, SLAVE0_V6, SLAVE1_V6);
    assert_eq!(from_slave(PortFlags::Bridge, 0, &v6), Verdict::Slave(1));
    // private drops it; vepa routes it (it reaches the slave back through the phy's network).
    assert_eq!(
        from_slave(PortFlags::Private, 0, &to4(SLAVE1_V4)),
        Verdict::Drop(DropReason::Private)
    );
    assert_eq!(from_slave(PortFlags::Vepa, 0, &to4(SLAVE1_V4)), Verdict::Route);
}

#[test]
fn everything_else_is_routed_through_its_next_hop() {
    assert_eq!(
        from_slave(PortFlags::Bridge, 0, &to4(EXTERNAL_V4)),
        gateway(v4(GATEWAY_V4))
    );
    let connected = Ipv4Addr::new(10, 0, 0, 50);
    assert_eq!(from_slave(PortFlags::Bridge, 0, &to4(connected)), Verdict::Route);
    let v6 = ipv6_frame(MASTER_MAC, MASTER_MAC, SLAVE0_V6, EXTERNAL_V6);
    assert_eq!(from_slave(PortFlags::Bridge, 0, &v6), gateway(v6_key(GATEWAY_V6)));
    // The master's own address is the host's.
    assert_eq!(
        from_slave(PortFlags::Bridge, 0, &to4(MASTER_V4)),
        Verdict::Host(DropReason::NoHost)
    );
    // Without a default route an outside address is unreachable.
    let no_default = dispatch(PortFlags::Bridge).from_slave_l3(&routes(false), 0, &to4(EXTERNAL_V4), 50);
    assert_eq!(no_default, Verdict::Drop(DropReason::NoRoute));
}

fn v6_key(a: Ipv6Addr) -> switch_core::classify::Key {
    v6(a)
}

#[test]
fn multicast_non_ip_and_broken_ip_from_a_slave_are_dropped() {
    let mdns = ipv4_frame(
        MDNS_GROUP_MAC,
        MASTER_MAC,
        SLAVE0_V4,
        Ipv4Addr::new(224, 0, 0, 251),
    );
    assert_eq!(
        from_slave(PortFlags::Bridge, 0, &mdns),
        Verdict::Drop(DropReason::L3Multicast)
    );
    let lldp = eth(MASTER_MAC, MASTER_MAC, ETHERTYPE_LLDP, &[0; 46]);
    assert_eq!(
        from_slave(PortFlags::Bridge, 0, &lldp),
        Verdict::Drop(DropReason::NotIp)
    );
    assert_eq!(
        from_slave(PortFlags::Bridge, 0, &vlan_tagged(&to4(EXTERNAL_V4), 7)),
        Verdict::Drop(DropReason::NotIp)
    );
    // An ARP reply to an outsider is not IP either.
    let reply = arp(FOREIGN_MAC, MASTER_MAC, ARP_REPLY, SLAVE0_V4, GATEWAY_V4);
    assert_eq!(
        from_slave(PortFlags::Bridge, 0, &reply),
        Verdict::Drop(DropReason::NotIp)
    );
    // An IPv4 total length beyond the bytes present: not routed.
    let frame = to4(EXTERNAL_V4);
    let short = dispatch(PortFlags::Bridge).from_slave_l3(
        &routes(true),
        0,
        &frame[..frame.len() - 4],
        frame.len() - 4,
    );
    assert_eq!(short, Verdict::Drop(DropReason::Malformed));
    assert_eq!(
        from_slave(PortFlags::Bridge, 0, &[0; 10]),
        Verdict::Drop(DropReason::Malformed)
    );
}

#[test]
fn a_slaves_arp_and_ns_are_answered_before_local_delivery_and_probes_never() {
    // For the gateway, for another slave (never delivered to it), for an outsider.
    for target in [GATEWAY_V4, SLAVE1_V4, EXTERNAL_V4] {
        let request = arp(BROADCAST_MAC, MASTER_MAC, ARP_REQUEST, SLAVE0_V4, target);
        assert_eq!(
            from_slave(PortFlags::Bridge, 0, &request),
            Verdict::Answer,
            "{target}"
        );
        assert_eq!(
            from_slave(PortFlags::Private, 0, &request),
            Verdict::Answer,
            "{target}"
        );
    }
    let gratuitous = arp(BROADCAST_MAC, MASTER_MAC, ARP_REQUEST, SLAVE0_V4, SLAVE0_V4);
    let probe = arp(
        BROADCAST_MAC,
        MASTER_MAC,
        ARP_REQUEST,
        Ipv4Addr::UNSPECIFIED,
        SLAVE0_V4,
    );
    let own = arp(
        BROADCAST_MAC,
        MASTER_MAC,
        ARP_REQUEST,
        Ipv4Addr::new(10, 0, 0, 77),
        SLAVE0_V4,
    );
    for frame in [gratuitous, probe, own] {
        assert_eq!(
            from_slave(PortFlags::Bridge, 0, &frame),
            Verdict::Drop(DropReason::Probe)
        );
    }
    let group = solicited_node(GATEWAY_V6);
    let ns = neighbour_solicitation(SLAVE0_V6, group, GATEWAY_V6);
    let ns = eth(ipv6_group_mac(group), MASTER_MAC, EtherType::IPV6.0, &ns);
    assert_eq!(from_slave(PortFlags::Bridge, 0, &ns), Verdict::Answer);
    assert_eq!(
        from_slave(PortFlags::Bridge, 0, &dad_ns_frame(MASTER_MAC, SLAVE0_V6)),
        Verdict::Drop(DropReason::Probe)
    );
}

#[test]
fn from_the_wire_the_destination_decides_whatever_the_mac() {
    let foreign = ipv4_frame(FOREIGN_MAC, FOREIGN_MAC, EXTERNAL_V4, SLAVE1_V4);
    assert_eq!(from_phy(&foreign), Verdict::Slave(1));
    let who_has = arp(BROADCAST_MAC, FOREIGN_MAC, ARP_REQUEST, GATEWAY_V4, SLAVE0_V4);
    assert_eq!(from_phy(&who_has), Verdict::Slave(0));
    let mdns = ipv4_frame(
        MDNS_GROUP_MAC,
        FOREIGN_MAC,
        EXTERNAL_V4,
        Ipv4Addr::new(224, 0, 0, 251),
    );
    assert_eq!(from_phy(&mdns), Verdict::Host(DropReason::NoOwner));
    assert_eq!(
        from_phy(&ipv4_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V4, UNOWNED_V4)),
        Verdict::Host(DropReason::NoOwner)
    );
    assert_eq!(
        from_phy(&eth(MASTER_MAC, FOREIGN_MAC, ETHERTYPE_LLDP, &[0; 46])),
        Verdict::Host(DropReason::NoKey)
    );
    let d = dispatch(PortFlags::Bridge);
    d.states.set(1, false);
    assert_eq!(
        d.from_phy_l3(&routes(true), false, &foreign, foreign.len()),
        Verdict::Host(DropReason::NoOwner)
    );
}

#[test]
fn the_answers_carry_the_masters_mac_to_the_asker() {
    let guest = [0x52, 0x54, 0, 0x12, 0x34, 0x56];
    let mut out = [0u8; ANSWER_MAX];

    let request = arp(BROADCAST_MAC, guest, ARP_REQUEST, SLAVE0_V4, GATEWAY_V4);
    let len = answer(&request, &MASTER_MAC, &mut out).unwrap();
    let mut expected = eth(
        guest,
        MASTER_MAC,
        EtherType::ARP.0,
        &arp_payload(1, ARP_REPLY, (MASTER_MAC, GATEWAY_V4), (guest, SLAVE0_V4)),
    );
    expected.resize(60, 0);
    assert_eq!(&out[..len], &expected[..]);

    let group = solicited_node(GATEWAY_V6);
    let ns = neighbour_solicitation(SLAVE0_V6, group, GATEWAY_V6);
    let ns = eth(ipv6_group_mac(group), guest, EtherType::IPV6.0, &ns);
    let len = answer(&ns, &MASTER_MAC, &mut out).unwrap();
    // Type 136, Solicited and Override set (etherparse has no NA type: raw ICMPv6).
    let builder = PacketBuilder::ethernet2(MASTER_MAC, guest)
        .ipv6(GATEWAY_V6.octets(), SLAVE0_V6.octets(), 255)
        .icmpv6_raw(ICMPV6_NEIGHBOUR_ADVERTISEMENT, 0, [0x60, 0, 0, 0]);
    let mut body = GATEWAY_V6.octets().to_vec();
    body.extend_from_slice(&[2, 1]);
    body.extend_from_slice(&MASTER_MAC);
    let mut expected = Vec::new();
    builder.write(&mut expected, &body).unwrap();
    assert_eq!(&out[..len], &expected[..]);

    // What asks nothing gets no answer.
    assert_eq!(answer(&to4(GATEWAY_V4), &MASTER_MAC, &mut out), None);
}

#[test]
fn the_wire_asking_for_the_master_is_answered_and_its_advertisements_go_to_the_resolver() {
    let for_master = arp(BROADCAST_MAC, FOREIGN_MAC, ARP_REQUEST, GATEWAY_V4, MASTER_V4);
    assert_eq!(from_phy(&for_master), Verdict::Answer);
    let unicast = arp(MASTER_MAC, FOREIGN_MAC, ARP_REQUEST, GATEWAY_V4, MASTER_V4);
    assert_eq!(from_phy(&unicast), Verdict::Answer);
    // To a foreign unicast MAC: not ours to answer (the kernel ignores it).
    let foreign = arp(FOREIGN_MAC, FOREIGN_MAC, ARP_REQUEST, GATEWAY_V4, MASTER_V4);
    assert_eq!(from_phy(&foreign), Verdict::Host(DropReason::NoOwner));
    let group = solicited_node(MASTER_V6);
    let ns = neighbour_solicitation(GATEWAY_V6, group, MASTER_V6);
    let ns = eth(ipv6_group_mac(group), FOREIGN_MAC, EtherType::IPV6.0, &ns);
    assert_eq!(from_phy(&ns), Verdict::Answer);
    // A slave's address: answered only with proxy_neighbour; else the slave gets it.
    let for_slave = arp(BROADCAST_MAC, FOREIGN_MAC, ARP_REQUEST, GATEWAY_V4, SLAVE0_V4);
    assert_eq!(from_phy(&for_slave), Verdict::Slave(0));
    let proxy = dispatch(PortFlags::Bridge).from_phy_l3(&routes(true), true, &for_slave, for_slave.len());
    assert_eq!(proxy, Verdict::Answer);
    // The gateway's reply to the master's request, and an NA.
    let reply = arp(MASTER_MAC, FOREIGN_MAC, ARP_REPLY, GATEWAY_V4, MASTER_V4);
    assert_eq!(from_phy(&reply), Verdict::ToResolver);
    let na = advertisement(GATEWAY_V6, MASTER_V6, FOREIGN_MAC);
    assert_eq!(from_phy(&na), Verdict::ToResolver);
}

/// A solicited NA of `target` at `mac`, to `dst` (from `mac`).
fn advertisement(target: Ipv6Addr, dst: Ipv6Addr, mac: [u8; 6]) -> Vec<u8> {
    let mut body = target.octets().to_vec();
    body.extend_from_slice(&[2, 1]);
    body.extend_from_slice(&mac);
    let builder = PacketBuilder::ethernet2(mac, MASTER_MAC)
        .ipv6(target.octets(), dst.octets(), 255)
        .icmpv6_raw(ICMPV6_NEIGHBOUR_ADVERTISEMENT, 0, [0x60, 0, 0, 0]);
    let mut frame = Vec::new();
    builder.write(&mut frame, &body).unwrap();
    frame
}

#[test]
fn requests_are_built_and_answers_learned() {
    let mut out = [0u8; REQUEST_MAX];
    let len = request(v4(GATEWAY_V4), v4(MASTER_V4), &MASTER_MAC, &mut out);
    let mut expected = arp(BROADCAST_MAC, MASTER_MAC, ARP_REQUEST, MASTER_V4, GATEWAY_V4);
    expected.resize(60, 0);
    assert_eq!(&out[..len], &expected[..]);

    let len = request(v6(GATEWAY_V6), v6(MASTER_V6), &MASTER_MAC, &mut out);
    let group = solicited_node(GATEWAY_V6);
    let mut body = GATEWAY_V6.octets().to_vec();
    body.extend_from_slice(&[1, 1]);
    body.extend_from_slice(&MASTER_MAC);
    let builder = PacketBuilder::ethernet2(MASTER_MAC, ipv6_group_mac(group))
        .ipv6(MASTER_V6.octets(), group.octets(), 255)
        .icmpv6_raw(ICMPV6_NEIGHBOUR_SOLICITATION, 0, [0; 4]);
    let mut expected = Vec::new();
    builder.write(&mut expected, &body).unwrap();
    assert_eq!(&out[..len], &expected[..]);

    let gateway_mac = [0x02, 0, 0, 0, 0, 0xfe];
    let reply = arp(MASTER_MAC, gateway_mac, ARP_REPLY, GATEWAY_V4, MASTER_V4);
    assert_eq!(learned(&reply), Some((v4(GATEWAY_V4), gateway_mac)));
    let na = advertisement(GATEWAY_V6, MASTER_V6, gateway_mac);
    assert_eq!(learned(&na), Some((v6(GATEWAY_V6), gateway_mac)));
    assert_eq!(learned(&to4(GATEWAY_V4)), None);
    let probe = arp(
        BROADCAST_MAC,
        gateway_mac,
        ARP_REQUEST,
        Ipv4Addr::UNSPECIFIED,
        GATEWAY_V4,
    );
    assert_eq!(learned(&probe), None, "a probe's sender has no address yet");
}

#[test]
fn a_next_hop_that_never_answered_is_told_as_host_unreachable() {
    let mut out = [0u8; UNREACHABLE_MAX];
    let frame = to4(EXTERNAL_V4);
    let len = unreachable(&frame, Unreachable::Host, v4(MASTER_V4), &MASTER_MAC, &mut out).unwrap();
    let mut header = Ipv4Header::new(0, 64, IpNumber::ICMP, MASTER_V4.octets(), SLAVE0_V4.octets()).unwrap();
    header.dont_fragment = false;
    let mut expected = Vec::new();
    PacketBuilder::ethernet2(MASTER_MAC, MASTER_MAC)
        .ip(IpHeaders::Ipv4(header, Default::default()))
        .icmpv4_raw(3, 1, [0; 4])
        .write(&mut expected, &frame[14..14 + 20 + 8])
        .unwrap();
    assert_eq!(&out[..len], &expected[..]);
    // IPv6: "address unreachable", quoting the whole (short) packet.
    let v6 = ipv6_frame(MASTER_MAC, MASTER_MAC, SLAVE0_V6, EXTERNAL_V6);
    let len = unreachable(&v6, Unreachable::Host, v6_key(MASTER_V6), &MASTER_MAC, &mut out).unwrap();
    let mut expected = Vec::new();
    PacketBuilder::ethernet2(MASTER_MAC, MASTER_MAC)
        .ipv6(MASTER_V6.octets(), SLAVE0_V6.octets(), 64)
        .icmpv6_raw(1, 3, [0; 4])
        .write(&mut expected, &v6[14..])
        .unwrap();
    assert_eq!(&out[..len], &expected[..]);
}

#[test]
fn no_route_is_told_with_icmp_quoting_the_frame() {
    let mut out = [0u8; UNREACHABLE_MAX];
    let frame = to4(EXTERNAL_V4);
    let len = unreachable(&frame, Unreachable::NoRoute, v4(MASTER_V4), &MASTER_MAC, &mut out).unwrap();
    // Without DF, as Linux sends its ICMP errors.
    let mut header = Ipv4Header::new(0, 64, IpNumber::ICMP, MASTER_V4.octets(), SLAVE0_V4.octets()).unwrap();
    header.dont_fragment = false;
    let builder = PacketBuilder::ethernet2(MASTER_MAC, MASTER_MAC)
        .ip(IpHeaders::Ipv4(header, Default::default()))
        .icmpv4_raw(3, 0, [0; 4]);
    let mut expected = Vec::new();
    // The IP header and the first 8 bytes of what it carried.
    builder.write(&mut expected, &frame[14..14 + 20 + 8]).unwrap();
    assert_eq!(&out[..len], &expected[..]);
    // An ICMP error gets none, nor a frame from 0.0.0.0.
    let error = &out[..len].to_vec();
    assert_eq!(
        unreachable(error, Unreachable::NoRoute, v4(MASTER_V4), &MASTER_MAC, &mut out),
        None
    );
    let unspecified = ipv4_frame(MASTER_MAC, MASTER_MAC, Ipv4Addr::UNSPECIFIED, EXTERNAL_V4);
    assert_eq!(
        unreachable(
            &unspecified,
            Unreachable::NoRoute,
            v4(MASTER_V4),
            &MASTER_MAC,
            &mut out
        ),
        None
    );
}
