//! `classify` against section 2 of the ipvlan semantics (the lookup key), case by case.

mod common;

use std::net::Ipv6Addr;

use common::*;
use etherparse::{EtherType, IpNumber, Ipv4Header};
use switch_core::classify::{classify, unicast_destination, usual_unicast_destination, DstKind, Key};

/// Both keys of a frame, or `None` when it has none.
fn keys(frame: &[u8]) -> Option<(Key, Key)> {
    let c = classified(frame);
    assert_eq!(
        c.dst_key.is_some(),
        c.src_key.is_some(),
        "keys come in pairs: {c:?}"
    );
    c.dst_key.zip(c.src_key)
}

fn ipv4_in_frame(packet: &[u8]) -> Vec<u8> {
    eth(MASTER_MAC, FOREIGN_MAC, EtherType::IPV4.0, packet)
}

fn ipv6_in_frame(packet: &[u8]) -> Vec<u8> {
    eth(MASTER_MAC, FOREIGN_MAC, EtherType::IPV6.0, packet)
}

// ---- the Ethernet header ----

#[test]
fn frame_shorter_than_ethernet_header_is_malformed() {
    let frame = ipv4_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V4, SLAVE0_V4);
    assert_eq!(classify(&frame[..13], 13), None);
    assert_eq!(classify(&[], 0), None);
}

#[test]
fn bare_ethernet_header_classifies_without_key() {
    let frame = ipv4_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V4, SLAVE0_V4);
    let c = classified(&frame[..14]);
    assert_eq!(c.ethertype, 0x0800);
    assert_eq!((c.dst_key, c.src_key), (None, None));
}

#[test]
fn macs_are_read_from_the_header() {
    let c = classified(&ipv4_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V4, SLAVE0_V4));
    assert_eq!(c.dst, MASTER_MAC);
    assert_eq!(c.src, FOREIGN_MAC);
    assert!(!c.dst_is_src());
    assert!(classified(&ipv4_frame(MASTER_MAC, MASTER_MAC, SLAVE0_V4, SLAVE1_V4)).dst_is_src());
}

#[test]
fn all_ones_destination_is_broadcast() {
    let c = classified(&ipv4_frame(BROADCAST_MAC, FOREIGN_MAC, EXTERNAL_V4, SLAVE0_V4));
    assert_eq!(c.dst_kind, DstKind::Broadcast);
    assert!(c.is_multicast());
}

#[test]
fn group_bit_destination_is_multicast() {
    for group in [
        MDNS_GROUP_MAC,
        ALL_NODES_MAC,
        PAUSE_MAC,
        [0xff, 0xff, 0xff, 0xff, 0xff, 0xfe],
    ] {
        let c = classified(&ipv4_frame(group, FOREIGN_MAC, EXTERNAL_V4, SLAVE0_V4));
        assert_eq!(c.dst_kind, DstKind::Multicast, "{group:02x?}");
        assert!(c.is_multicast());
    }
}

#[test]
fn individual_destination_is_unicast_even_if_locally_administered() {
    for dst in [MASTER_MAC, [0x00, 0x1b, 0x21, 0x01, 0x02, 0x03], [0xfe; 6]] {
        let c = classified(&ipv4_frame(dst, FOREIGN_MAC, EXTERNAL_V4, SLAVE0_V4));
        assert_eq!(c.dst_kind, DstKind::Unicast, "{dst:02x?}");
        assert!(!c.is_multicast());
    }
}

#[test]
fn unknown_ethertype_has_no_key() {
    let frame = eth(
        MASTER_MAC,
        FOREIGN_MAC,
        ETHERTYPE_LLDP,
        &ipv4_udp(EXTERNAL_V4, SLAVE0_V4),
    );
    let c = classified(&frame);
    assert_eq!(c.ethertype, ETHERTYPE_LLDP);
    assert!(!c.tagged);
    assert_eq!(keys(&frame), None);
}

// ---- ARP ----

#[test]
fn arp_request_keys_on_target_ip_and_sender_ip() {
    let frame = arp(BROADCAST_MAC, FOREIGN_MAC, ARP_REQUEST, EXTERNAL_V4, SLAVE0_V4);
    assert_eq!(frame.len(), 14 + 28);
    assert_eq!(keys(&frame), Some((v4(SLAVE0_V4), v4(EXTERNAL_V4))));
}

#[test]
fn arp_reply_keys_on_target_ip_too() {
    // A reply's target is the requester: it is switched back to it.
    let frame = arp(FOREIGN_MAC, MASTER_MAC, ARP_REPLY, SLAVE1_V4, EXTERNAL_V4);
    assert_eq!(keys(&frame), Some((v4(EXTERNAL_V4), v4(SLAVE1_V4))));
}

#[test]
fn arp_hardware_and_protocol_fields_are_not_checked() {
    let payload = arp_payload(0x1234, 0x7777, (FOREIGN_MAC, EXTERNAL_V4), ([0; 6], SLAVE1_V4));
    let frame = eth(BROADCAST_MAC, FOREIGN_MAC, EtherType::ARP.0, &payload);
    assert_eq!(keys(&frame), Some((v4(SLAVE1_V4), v4(EXTERNAL_V4))));
}

#[test]
fn arp_shorter_than_28_bytes_has_no_key() {
    let frame = truncated(
        arp(BROADCAST_MAC, FOREIGN_MAC, ARP_REQUEST, EXTERNAL_V4, SLAVE0_V4),
        1,
    );
    assert_eq!(frame.len(), 14 + 27);
    assert_eq!(classified(&frame).ethertype, 0x0806);
    assert_eq!(keys(&frame), None);
}

// ---- IPv4 ----

#[test]
fn ipv4_keys_on_destination_and_source() {
    let frame = ipv4_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V4, SLAVE0_V4);
    assert_eq!(keys(&frame), Some((v4(SLAVE0_V4), v4(EXTERNAL_V4))));
}

#[test]
fn ipv4_with_options_is_keyed() {
    let mut header = Ipv4Header::new(8, 64, IpNumber::UDP, EXTERNAL_V4.octets(), SLAVE1_V4.octets()).unwrap();
    header.options = [1, 1, 1, 0].into(); // NOP NOP NOP EOL: IHL 6
    header.total_len = header.header_len() as u16 + 8;
    let packet = ipv4_raw(&header, &[0; 8]);
    assert_eq!(packet[0] & 0x0f, 6);
    assert_eq!(
        keys(&ipv4_in_frame(&packet)),
        Some((v4(SLAVE1_V4), v4(EXTERNAL_V4)))
    );
}

#[test]
fn ipv4_checksum_is_not_checked() {
    let mut header = Ipv4Header::new(0, 64, IpNumber::UDP, EXTERNAL_V4.octets(), SLAVE1_V4.octets()).unwrap();
    header.header_checksum = header.calc_header_checksum() ^ 0xffff;
    let frame = ipv4_in_frame(&ipv4_raw(&header, &[]));
    assert_eq!(keys(&frame), Some((v4(SLAVE1_V4), v4(EXTERNAL_V4))));
}

#[test]
fn ipv4_followed_by_ethernet_padding_is_keyed() {
    // Total length < bytes present (a 20-byte packet padded to the 60-byte minimum frame).
    let header = Ipv4Header::new(0, 64, IpNumber::UDP, EXTERNAL_V4.octets(), SLAVE0_V4.octets()).unwrap();
    let frame = ipv4_in_frame(&ipv4_raw(&header, &[0; 26]));
    assert_eq!(frame.len(), 60);
    assert_eq!(keys(&frame), Some((v4(SLAVE0_V4), v4(EXTERNAL_V4))));
}

#[test]
fn ipv4_shorter_than_20_bytes_has_no_key() {
    let header = Ipv4Header::new(0, 64, IpNumber::UDP, EXTERNAL_V4.octets(), SLAVE0_V4.octets()).unwrap();
    let frame = truncated(ipv4_in_frame(&ipv4_raw(&header, &[])), 1);
    assert_eq!(keys(&frame), None);
}

#[test]
fn ipv4_ethertype_with_version_other_than_4_has_no_key() {
    for version in [0, 5, 6, 15] {
        let packet = with_version_ihl(ipv4_udp(EXTERNAL_V4, SLAVE0_V4), version, 5);
        assert_eq!(keys(&ipv4_in_frame(&packet)), None, "version {version}");
    }
}

#[test]
fn ipv4_ihl_below_5_has_no_key() {
    for ihl in [0, 4] {
        let packet = with_version_ihl(ipv4_udp(EXTERNAL_V4, SLAVE0_V4), 4, ihl);
        assert_eq!(keys(&ipv4_in_frame(&packet)), None, "IHL {ihl}");
    }
}

#[test]
fn ipv4_total_length_beyond_bytes_present_has_no_key() {
    let frame = truncated(ipv4_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V4, SLAVE0_V4), 1);
    assert_eq!(keys(&frame), None);
}

#[test]
fn ipv4_total_length_below_header_length_has_no_key() {
    let mut header = Ipv4Header::new(8, 64, IpNumber::UDP, EXTERNAL_V4.octets(), SLAVE0_V4.octets()).unwrap();
    header.total_len = 19;
    assert_eq!(keys(&ipv4_in_frame(&ipv4_raw(&header, &[0; 8]))), None);
    // IHL 6 (24-byte header), total length 20: covers the base header but not the options.
    header.options = [1, 1, 1, 0].into();
    header.total_len = 20;
    assert_eq!(keys(&ipv4_in_frame(&ipv4_raw(&header, &[0; 8]))), None);
}

#[test]
fn ipv4_total_length_equal_to_header_length_is_keyed() {
    let mut header = Ipv4Header::new(0, 64, IpNumber::UDP, EXTERNAL_V4.octets(), SLAVE0_V4.octets()).unwrap();
    header.total_len = 20;
    assert_eq!(
        keys(&ipv4_in_frame(&ipv4_raw(&header, &[]))),
        Some((v4(SLAVE0_V4), v4(EXTERNAL_V4)))
    );
}

// ---- IPv6 ----

#[test]
fn ipv6_keys_on_destination_and_source() {
    let frame = ipv6_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V6, SLAVE0_V6);
    assert_eq!(keys(&frame), Some((v6(SLAVE0_V6), v6(EXTERNAL_V6))));
}

#[test]
fn ipv6_payload_length_is_not_checked() {
    // Claims 16 payload bytes, carries none.
    let packet = ipv6_udp(EXTERNAL_V6, SLAVE0_V6);
    let frame = ipv6_in_frame(&packet[..40]);
    assert_eq!(keys(&frame), Some((v6(SLAVE0_V6), v6(EXTERNAL_V6))));
}

#[test]
fn ipv6_shorter_than_40_bytes_has_no_key() {
    let packet = ipv6_udp(EXTERNAL_V6, SLAVE0_V6);
    assert_eq!(keys(&ipv6_in_frame(&packet[..39])), None);
}

#[test]
fn ipv6_ethertype_with_version_other_than_6_has_no_key() {
    for version in [0, 4, 7] {
        let packet = with_version_ihl(ipv6_udp(EXTERNAL_V6, SLAVE0_V6), version, 0);
        assert_eq!(keys(&ipv6_in_frame(&packet)), None, "version {version}");
    }
}

#[test]
fn dad_neighbour_solicitation_keys_on_its_target_both_ways() {
    let frame = dad_ns_frame(FOREIGN_MAC, SLAVE1_V6);
    assert_eq!(frame.len(), 14 + 64);
    assert_eq!(keys(&frame), Some((v6(SLAVE1_V6), v6(SLAVE1_V6))));
}

#[test]
fn dad_neighbour_solicitation_shorter_than_64_bytes_has_no_key() {
    let frame = truncated(dad_ns_frame(FOREIGN_MAC, SLAVE1_V6), 1);
    assert_eq!(keys(&frame), None);
    // Not even the 8-byte ICMPv6 header.
    assert_eq!(keys(&frame[..14 + 47]), None);
}

#[test]
fn unspecified_source_router_solicitation_has_no_key() {
    let all_routers = "ff02::2".parse().unwrap();
    let packet = icmpv6(
        Ipv6Addr::UNSPECIFIED,
        all_routers,
        ICMPV6_ROUTER_SOLICITATION,
        &[],
        false,
    );
    assert_eq!(keys(&ipv6_in_frame(&packet)), None);
}

#[test]
fn unspecified_source_neighbour_advertisement_has_no_key() {
    // Long enough to carry a target: only a solicitation is keyed by it.
    let packet = icmpv6(
        Ipv6Addr::UNSPECIFIED,
        ALL_NODES_V6,
        ICMPV6_NEIGHBOUR_ADVERTISEMENT,
        &SLAVE0_V6.octets(),
        false,
    );
    assert_eq!(packet.len(), 64);
    assert_eq!(keys(&ipv6_in_frame(&packet)), None);
}

#[test]
fn unspecified_source_icmpv6_shorter_than_icmp_header_has_no_key() {
    let packet = icmpv6(
        Ipv6Addr::UNSPECIFIED,
        ALL_NODES_V6,
        ICMPV6_NEIGHBOUR_SOLICITATION,
        &[],
        false,
    );
    assert_eq!(keys(&ipv6_in_frame(&packet[..47])), None);
}

#[test]
fn neighbour_solicitation_with_real_source_keys_on_destination() {
    let group = solicited_node(SLAVE0_V6);
    let packet = neighbour_solicitation(EXTERNAL_V6, group, SLAVE0_V6);
    assert_eq!(keys(&ipv6_in_frame(&packet)), Some((v6(group), v6(EXTERNAL_V6))));
}

#[test]
fn neighbour_advertisement_with_real_source_keys_on_destination() {
    let packet = icmpv6(
        SLAVE1_V6,
        EXTERNAL_V6,
        ICMPV6_NEIGHBOUR_ADVERTISEMENT,
        &SLAVE1_V6.octets(),
        false,
    );
    assert_eq!(
        keys(&ipv6_in_frame(&packet)),
        Some((v6(EXTERNAL_V6), v6(SLAVE1_V6)))
    );
}

#[test]
fn unspecified_source_udp_keys_on_destination() {
    // Only ICMPv6 from `::` is special.
    let frame = ipv6_frame(MASTER_MAC, FOREIGN_MAC, Ipv6Addr::UNSPECIFIED, SLAVE0_V6);
    assert_eq!(keys(&frame), Some((v6(SLAVE0_V6), v6(Ipv6Addr::UNSPECIFIED))));
}

#[test]
fn unspecified_source_icmpv6_behind_extension_header_keys_on_destination() {
    // An MLDv2 report from `::` carries hop-by-hop options: plain IPv6.
    let mld_routers: Ipv6Addr = "ff02::16".parse().unwrap();
    let packet = icmpv6(Ipv6Addr::UNSPECIFIED, mld_routers, 143, &[0; 4], true);
    assert_eq!(packet[6], 0, "next header is hop-by-hop");
    assert_eq!(
        keys(&ipv6_in_frame(&packet)),
        Some((v6(mld_routers), v6(Ipv6Addr::UNSPECIFIED)))
    );
}

// ---- 802.1Q ----

#[test]
fn tagged_arp_keys_on_inner_header() {
    let frame = vlan_tagged(
        &arp(BROADCAST_MAC, FOREIGN_MAC, ARP_REQUEST, EXTERNAL_V4, SLAVE0_V4),
        7,
    );
    let c = classified(&frame);
    assert!(c.tagged);
    assert_eq!(c.ethertype, 0x0806);
    assert_eq!(c.dst_kind, DstKind::Broadcast);
    assert_eq!(keys(&frame), Some((v4(SLAVE0_V4), v4(EXTERNAL_V4))));
}

#[test]
fn tagged_ipv4_keys_on_inner_header() {
    let frame = vlan_tagged(&ipv4_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V4, SLAVE1_V4), 100);
    let c = classified(&frame);
    assert!(c.tagged);
    assert_eq!(c.ethertype, 0x0800);
    assert_eq!(keys(&frame), Some((v4(SLAVE1_V4), v4(EXTERNAL_V4))));
}

#[test]
fn tagged_dad_neighbour_solicitation_keys_on_target() {
    let frame = vlan_tagged(&dad_ns_frame(FOREIGN_MAC, SLAVE0_V6), 0);
    let c = classified(&frame);
    assert!(c.tagged);
    assert_eq!(c.ethertype, 0x86dd);
    assert_eq!(keys(&frame), Some((v6(SLAVE0_V6), v6(SLAVE0_V6))));
}

#[test]
fn tagged_frame_length_checks_apply_to_inner_header() {
    let frame = truncated(
        vlan_tagged(&ipv4_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V4, SLAVE1_V4), 100),
        1,
    );
    assert!(classified(&frame).tagged);
    assert_eq!(keys(&frame), None);
}

#[test]
fn service_tag_keys_on_the_header_inside_it() {
    // The kernel's RX path removes one 802.1Q or 802.1ad tag before ipvlan looks.
    let frame = service_tagged(&ipv6_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V6, SLAVE1_V6), 20);
    let c = classified(&frame);
    assert!(c.tagged);
    assert_eq!(c.ethertype, 0x86dd);
    assert_eq!(keys(&frame), Some((v6(SLAVE1_V6), v6(EXTERNAL_V6))));
}

#[test]
fn double_tagged_frame_has_no_key() {
    // Only one tag is removed: the inner one makes the frame "other".
    let frame = service_tagged(
        &vlan_tagged(&ipv4_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V4, SLAVE1_V4), 10),
        20,
    );
    let c = classified(&frame);
    assert_eq!((c.tagged, c.ethertype), (true, 0x8100));
    assert_eq!(keys(&frame), None);
}

#[test]
fn truncated_tag_is_tagged_without_key() {
    let frame = vlan_tagged(&ipv4_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V4, SLAVE1_V4), 100);
    for len in 14..18 {
        let c = classified(&frame[..len]);
        assert!(c.tagged, "{len} bytes");
        assert_eq!(c.ethertype, 0x8100, "{len} bytes");
        assert_eq!(keys(&frame[..len]), None, "{len} bytes");
    }
    // 18 bytes: the tag is complete, the inner header absent.
    let c = classified(&frame[..18]);
    assert_eq!((c.tagged, c.ethertype, c.dst_key), (true, 0x0800, None));
    let c = classified(&service_tagged(&frame, 1)[..15]);
    assert_eq!((c.tagged, c.ethertype, c.dst_key), (true, 0x88a8, None));
}

// ---- chained frames: headers from the first segment, lengths from the whole frame ----

#[test]
fn jumbo_ipv4_whose_first_segment_holds_only_the_headers_is_keyed() {
    // A 3,000-byte IPv4 frame arriving as an mbuf chain: the first segment has 2,048 bytes.
    let mut header =
        Ipv4Header::new(2966, 64, IpNumber::UDP, EXTERNAL_V4.octets(), SLAVE0_V4.octets()).unwrap();
    header.total_len = 2986;
    let frame = ipv4_in_frame(&ipv4_raw(&header, &[0; 2966]));
    assert_eq!(frame.len(), 3000);
    let c = classify(&frame[..2048], frame.len()).unwrap();
    assert_eq!(c.dst_key, Some(v4(SLAVE0_V4)));
    assert_eq!(c.src_key, Some(v4(EXTERNAL_V4)));
    // Still longer than the whole frame: no key, however the frame is split.
    let short = truncated(frame, 1);
    assert_eq!(classify(&short[..2048], short.len()).unwrap().dst_key, None);
}

#[test]
fn first_segment_shorter_than_the_ipv4_header_has_no_key() {
    let frame = ipv4_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V4, SLAVE0_V4);
    assert_eq!(classify(&frame[..14 + 19], frame.len()).unwrap().dst_key, None);
}

#[test]
fn the_unicast_shortcut_gives_the_destination_key_or_leaves_the_frame_to_classify() {
    let shortcut = |frame: &[u8]| unicast_destination(frame, frame.len());
    let unicast4 = ipv4_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V4, SLAVE0_V4);
    assert_eq!(shortcut(&unicast4), Some(v4(SLAVE0_V4)));
    let unicast6 = ipv6_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V6, SLAVE0_V6);
    assert_eq!(shortcut(&unicast6), Some(v6(SLAVE0_V6)));
    // A unicast DAD probe's key is its target, as classify says.
    let mut dad = dad_ns_frame(FOREIGN_MAC, SLAVE1_V6);
    dad[0..6].copy_from_slice(&MASTER_MAC);
    assert_eq!(shortcut(&dad), classified(&dad).dst_key);
    // Tagged, multicast, keyless, short: classify decides.
    assert_eq!(shortcut(&vlan_tagged(&unicast4, 3)), None);
    assert_eq!(
        shortcut(&ipv4_frame(BROADCAST_MAC, FOREIGN_MAC, EXTERNAL_V4, SLAVE0_V4)),
        None
    );
    assert_eq!(
        shortcut(&eth(MASTER_MAC, FOREIGN_MAC, ETHERTYPE_LLDP, &[0; 40])),
        None
    );
    assert_eq!(shortcut(&unicast4[..13]), None);
}

/// Padded to Ethernet's 60-byte minimum, as every frame from the wire is.
fn padded(mut frame: Vec<u8>) -> Vec<u8> {
    frame.resize(frame.len().max(60), 0);
    frame
}

#[test]
fn the_usual_frames_inline_destination_is_unicast_destination_or_nothing() {
    let usual = |frame: &[u8]| usual_unicast_destination(frame, frame.len());
    let unicast4 = padded(ipv4_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V4, SLAVE0_V4));
    assert_eq!(usual(&unicast4), Some(v4(SLAVE0_V4)));
    let unicast6 = ipv6_frame(MASTER_MAC, FOREIGN_MAC, EXTERNAL_V6, SLAVE0_V6);
    assert_eq!(usual(&unicast6), Some(v6(SLAVE0_V6)));
    // Left to the rest (which keys them): IPv4 with options, any ICMPv6 (it may be an NS).
    let mut header = Ipv4Header::new(8, 64, IpNumber::UDP, EXTERNAL_V4.octets(), SLAVE1_V4.octets()).unwrap();
    header.options = [1, 1, 1, 0].into();
    header.total_len = header.header_len() as u16 + 8;
    let options = padded(ipv4_in_frame(&ipv4_raw(&header, &[0; 8])));
    assert_eq!(usual(&options), None);
    assert_eq!(unicast_destination(&options, options.len()), Some(v4(SLAVE1_V4)));
    let mut dad = dad_ns_frame(FOREIGN_MAC, SLAVE1_V6);
    dad[0..6].copy_from_slice(&MASTER_MAC);
    assert_eq!(usual(&dad), None);
    assert_eq!(unicast_destination(&dad, dad.len()), Some(v6(SLAVE1_V6)));
    // A total length past the frame's bytes, or below the header's: no key either way.
    for total_len in [unicast4.len() as u16 - 13, 19] {
        let mut bad = unicast4.clone();
        bad[16..18].copy_from_slice(&total_len.to_be_bytes());
        assert_eq!(usual(&bad), None, "total length {total_len}");
        assert_eq!(
            unicast_destination(&bad, bad.len()),
            None,
            "total length {total_len}"
        );
    }
    // The largest total length that fits is keyed.
    let mut fits = unicast4.clone();
    fits[16..18].copy_from_slice(&(unicast4.len() as u16 - 14).to_be_bytes());
    assert_eq!(usual(&fits), Some(v4(SLAVE0_V4)));
    // Multicast, tagged, ARP: not the usual frame.
    let multicast = padded(ipv4_frame(BROADCAST_MAC, FOREIGN_MAC, EXTERNAL_V4, SLAVE0_V4));
    assert_eq!(usual(&multicast), None);
    assert_eq!(usual(&vlan_tagged(&unicast4, 3)), None);
    let arp = padded(arp(MASTER_MAC, FOREIGN_MAC, ARP_REQUEST, EXTERNAL_V4, SLAVE0_V4));
    assert_eq!(usual(&arp), None);
    assert_eq!(unicast_destination(&arp, arp.len()), Some(v4(SLAVE0_V4)));
}
