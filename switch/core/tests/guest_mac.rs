//! A guest's own MAC hidden behind the master's (`guest_mac`), and the announcements of a
//! slave's addresses (`announce`): frames built with etherparse, results parsed with it.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use common::*;
use etherparse::{EtherType, SlicedPacket, TransportSlice};
use switch_core::announce::{announcements, gratuitous_arp, unsolicited_na};
use switch_core::guest_mac::{to_guest, to_master, GuestMacs};

const GUEST_MAC: [u8; 6] = [0x52, 0x54, 0x00, 0x12, 0x34, 0xa1];
const GUEST_V6: Ipv6Addr = SLAVE0_V6;
const LINK_LOCAL: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x5054, 0xff, 0xfe12, 0x34a1);

/// An ND message from the guest: `icmp_type` with `fixed` bytes after the first 8, then an
/// option of `option_type` carrying `mac`.
fn nd_frame(
    dst_mac: [u8; 6],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    icmp_type: u8,
    fixed: &[u8],
    option: (u8, [u8; 6]),
) -> Vec<u8> {
    let body = [fixed, &[option.0, 1], &option.1[..]].concat();
    eth(
        dst_mac,
        GUEST_MAC,
        EtherType::IPV6.0,
        &icmpv6(src, dst, icmp_type, &body, false),
    )
}

/// The ICMPv6 checksum of an Ethernet/IPv6/ICMPv6 frame is right.
fn icmpv6_checksum_valid(frame: &[u8]) -> bool {
    let packet = SlicedPacket::from_ethernet(frame).unwrap();
    let Some(etherparse::NetSlice::Ipv6(ip)) = packet.net else {
        panic!("not IPv6");
    };
    let Some(TransportSlice::Icmpv6(icmp)) = packet.transport else {
        panic!("not ICMPv6");
    };
    icmp.is_checksum_valid(ip.header().source(), ip.header().destination())
}

#[test]
fn an_arp_request_from_the_guest_carries_the_master_mac_in_header_and_payload() {
    let mut frame = arp(BROADCAST_MAC, GUEST_MAC, ARP_REQUEST, SLAVE0_V4, SLAVE1_V4);
    assert_eq!(to_master(&mut frame, &MASTER_MAC), Some(GUEST_MAC));
    let expected = arp(BROADCAST_MAC, MASTER_MAC, ARP_REQUEST, SLAVE0_V4, SLAVE1_V4);
    assert_eq!(frame, expected);
}

#[test]
fn an_arp_reply_keeps_its_target_mac_and_a_tagged_one_is_rewritten_too() {
    let reply = eth(
        FOREIGN_MAC,
        GUEST_MAC,
        EtherType::ARP.0,
        &arp_payload(1, ARP_REPLY, (GUEST_MAC, SLAVE0_V4), (FOREIGN_MAC, UNOWNED_V4)),
    );
    let mut frame = vlan_tagged(&reply, 7);
    assert_eq!(to_master(&mut frame, &MASTER_MAC), Some(GUEST_MAC));
    let expected = eth(
        FOREIGN_MAC,
        MASTER_MAC,
        EtherType::ARP.0,
        &arp_payload(1, ARP_REPLY, (MASTER_MAC, SLAVE0_V4), (FOREIGN_MAC, UNOWNED_V4)),
    );
    assert_eq!(frame, vlan_tagged(&expected, 7));
}

#[test]
fn a_frame_from_the_master_mac_is_untouched() {
    let original = arp(BROADCAST_MAC, MASTER_MAC, ARP_REQUEST, SLAVE0_V4, SLAVE1_V4);
    let mut frame = original.clone();
    assert_eq!(to_master(&mut frame, &MASTER_MAC), None);
    assert_eq!(frame, original);
}

#[test]
fn a_non_ethernet_arp_payload_keeps_its_bytes() {
    // Hardware type 6 (IEEE 802): the sender address is not where an Ethernet one is.
    let payload = arp_payload(6, ARP_REQUEST, (GUEST_MAC, SLAVE0_V4), ([0; 6], SLAVE1_V4));
    let mut frame = eth(BROADCAST_MAC, GUEST_MAC, EtherType::ARP.0, &payload);
    to_master(&mut frame, &MASTER_MAC);
    assert_eq!(frame, eth(BROADCAST_MAC, MASTER_MAC, EtherType::ARP.0, &payload));
}

#[test]
fn nd_link_layer_options_carry_the_master_mac_with_the_checksum_fixed() {
    let target = UNOWNED_V6;
    let group = solicited_node(target);
    let cases = [
        // NS: target, then the source link-layer address.
        (
            ipv6_group_mac(group),
            GUEST_V6,
            group,
            ICMPV6_NEIGHBOUR_SOLICITATION,
            target.octets().to_vec(),
            1,
        ),
        // NA: flags + target, then the target link-layer address.
        (
            FOREIGN_MAC,
            GUEST_V6,
            UNOWNED_V6,
            ICMPV6_NEIGHBOUR_ADVERTISEMENT,
            GUEST_V6.octets().to_vec(),
            2,
        ),
        // RS from the link-local address: only the option.
        (
            ALL_NODES_MAC,
            LINK_LOCAL,
            ALL_NODES_V6,
            ICMPV6_ROUTER_SOLICITATION,
            vec![],
            1,
        ),
    ];
    for (dst_mac, src, dst, icmp_type, fixed, option) in cases {
        let mut frame = nd_frame(dst_mac, src, dst, icmp_type, &fixed, (option, GUEST_MAC));
        assert!(icmpv6_checksum_valid(&frame));
        assert_eq!(to_master(&mut frame, &MASTER_MAC), Some(GUEST_MAC));
        let expected = {
            let mut e = nd_frame(dst_mac, src, dst, icmp_type, &fixed, (option, MASTER_MAC));
            e[6..12].copy_from_slice(&MASTER_MAC);
            e
        };
        assert_eq!(frame, expected, "ICMPv6 type {icmp_type}");
        assert!(icmpv6_checksum_valid(&frame), "ICMPv6 type {icmp_type}");
    }
}

#[test]
fn an_nd_option_with_another_mac_and_other_icmpv6_keep_their_bytes() {
    // A redirect's target link-layer address is the better hop's, not the guest's.
    let fixed = [UNOWNED_V6.octets(), EXTERNAL_V6.octets()].concat();
    let mut frame = nd_frame(FOREIGN_MAC, GUEST_V6, UNOWNED_V6, 137, &fixed, (2, FOREIGN_MAC));
    let mut expected = frame.clone();
    expected[6..12].copy_from_slice(&MASTER_MAC);
    to_master(&mut frame, &MASTER_MAC);
    assert_eq!(frame, expected);
    // An echo request whose body happens to look like an option.
    let mut frame = nd_frame(FOREIGN_MAC, GUEST_V6, UNOWNED_V6, 128, &[0; 16], (1, GUEST_MAC));
    let mut expected = frame.clone();
    expected[6..12].copy_from_slice(&MASTER_MAC);
    to_master(&mut frame, &MASTER_MAC);
    assert_eq!(frame, expected);
}

/// The guest's unicast NS for an address nobody owns, its source link-layer option its MAC.
fn guest_solicits_unowned() -> Vec<u8> {
    nd_frame(
        FOREIGN_MAC,
        GUEST_V6,
        UNOWNED_V6,
        ICMPV6_NEIGHBOUR_SOLICITATION,
        &UNOWNED_V6.octets(),
        (1, GUEST_MAC),
    )
}

#[test]
fn truncated_frames_are_rewritten_as_far_as_they_go_without_panicking() {
    let ns = guest_solicits_unowned();
    let request = arp(BROADCAST_MAC, GUEST_MAC, ARP_REQUEST, SLAVE0_V4, SLAVE1_V4);
    for original in [ns, vlan_tagged(&request, 3), request] {
        for cut in 0..original.len() {
            let mut frame = original[..cut].to_vec();
            let learned = to_master(&mut frame, &MASTER_MAC);
            assert_eq!(learned.is_some(), cut >= 12, "cut at {cut}");
            if cut >= 12 {
                assert_eq!(frame[6..12], MASTER_MAC);
            }
        }
    }
}

#[test]
fn guest_macs_are_learned_unless_configured_and_forgotten_when_the_guest_goes() {
    let configured = [0x02, 0, 0, 0, 0, 0x42];
    let macs = GuestMacs::new([None, Some(configured)]);
    assert_eq!(macs.get(0), None);
    macs.learn(0, GUEST_MAC);
    assert_eq!(macs.get(0), Some(GUEST_MAC));
    macs.learn(1, GUEST_MAC);
    assert_eq!(macs.get(1), Some(configured));
    macs.forget(0);
    macs.forget(1);
    assert_eq!((macs.get(0), macs.get(1)), (None, Some(configured)));
    assert_eq!(macs.get(2), None, "no such slave");
}

#[test]
fn a_gratuitous_arp_is_a_broadcast_request_for_the_address_from_the_master_mac() {
    let expected = arp(BROADCAST_MAC, MASTER_MAC, ARP_REQUEST, SLAVE0_V4, SLAVE0_V4);
    assert_eq!(gratuitous_arp(&MASTER_MAC, SLAVE0_V4), expected);
}

#[test]
fn an_unsolicited_na_overrides_to_all_nodes_with_the_master_mac_and_a_valid_checksum() {
    let frame = unsolicited_na(&MASTER_MAC, GUEST_V6);
    // Flags (Override only) in the header's last 4 bytes; then the target and its
    // link-layer address option.
    let body = [&GUEST_V6.octets()[..], &[2, 1], &MASTER_MAC[..]].concat();
    let icmp = {
        let header = etherparse::Ipv6Header {
            traffic_class: 0,
            flow_label: etherparse::Ipv6FlowLabel::ZERO,
            payload_length: 0,
            next_header: etherparse::IpNumber::IPV6_ICMP,
            hop_limit: 255,
            source: GUEST_V6.octets(),
            destination: ALL_NODES_V6.octets(),
        };
        let builder = etherparse::PacketBuilder::ip(etherparse::IpHeaders::Ipv6(header, Default::default()))
            .icmpv6_raw(ICMPV6_NEIGHBOUR_ADVERTISEMENT, 0, [0x20, 0, 0, 0]);
        let mut packet = Vec::new();
        builder.write(&mut packet, &body).unwrap();
        packet
    };
    assert_eq!(frame, eth(ALL_NODES_MAC, MASTER_MAC, EtherType::IPV6.0, &icmp));
    assert!(icmpv6_checksum_valid(&frame));
}

#[test]
fn a_slave_gets_one_announcement_per_address_in_order() {
    let v4 = Ipv4Addr::new(10, 1, 2, 3);
    let frames = announcements(&MASTER_MAC, &[IpAddr::V4(v4), IpAddr::V6(GUEST_V6)]);
    assert_eq!(
        frames,
        vec![
            gratuitous_arp(&MASTER_MAC, v4),
            unsolicited_na(&MASTER_MAC, GUEST_V6)
        ]
    );
    assert!(announcements(&MASTER_MAC, &[]).is_empty());
}

#[test]
fn a_frame_for_the_guest_gets_its_mac_as_destination_and_arp_target() {
    let mut reply = arp(MASTER_MAC, FOREIGN_MAC, ARP_REPLY, UNOWNED_V4, SLAVE0_V4);
    to_guest(&mut reply, &MASTER_MAC, &GUEST_MAC);
    let expected = eth(
        GUEST_MAC,
        FOREIGN_MAC,
        EtherType::ARP.0,
        &arp_payload(1, ARP_REPLY, (FOREIGN_MAC, UNOWNED_V4), (GUEST_MAC, SLAVE0_V4)),
    );
    assert_eq!(reply, expected);
    // A target that is not the master's stays; an IPv4 frame only gets its destination.
    let other = arp_payload(1, ARP_REPLY, (FOREIGN_MAC, UNOWNED_V4), (FOREIGN_MAC, SLAVE0_V4));
    let mut frame = vlan_tagged(&eth(MASTER_MAC, FOREIGN_MAC, EtherType::ARP.0, &other), 9);
    to_guest(&mut frame, &MASTER_MAC, &GUEST_MAC);
    assert_eq!(
        frame,
        vlan_tagged(&eth(GUEST_MAC, FOREIGN_MAC, EtherType::ARP.0, &other), 9)
    );
    let mut ip = ipv4_frame(MASTER_MAC, FOREIGN_MAC, UNOWNED_V4, SLAVE0_V4);
    to_guest(&mut ip, &MASTER_MAC, &GUEST_MAC);
    assert_eq!(ip, ipv4_frame(GUEST_MAC, FOREIGN_MAC, UNOWNED_V4, SLAVE0_V4));
}

#[test]
fn an_ipv6_payload_length_short_of_an_icmpv6_header_leaves_the_payload_alone() {
    // Found by the fuzz target: the payload length said 0 (or 7) while option bytes followed.
    for claimed in [0u16, 7] {
        let mut frame = guest_solicits_unowned();
        frame[18..20].copy_from_slice(&claimed.to_be_bytes());
        let mut expected = frame.clone();
        expected[6..12].copy_from_slice(&MASTER_MAC);
        assert_eq!(to_master(&mut frame, &MASTER_MAC), Some(GUEST_MAC));
        assert_eq!(frame, expected, "payload length {claimed}");
    }
}
