//! Shared by the `classify` and `dispatch` tests: frame builders (every frame is built with
//! etherparse, or field by field where etherparse 0.16 has no builder), the addresses the tests
//! use, and a small `Dispatch`.
#![allow(dead_code)] // each test binary uses a different subset

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use etherparse::{
    EtherType, Ethernet2Header, IpHeaders, IpNumber, Ipv4Header, Ipv6Extensions, Ipv6FlowLabel, Ipv6Header,
    Ipv6RawExtHeader, PacketBuilder, SingleVlanHeader, VlanId, VlanPcp,
};
use switch_core::classify::{classify, Classified, Key};
use switch_core::dispatch::{Dispatch, McFilter, Multicast};
use switch_core::state::SlaveStates;
use switch_core::table::{AddressTable, SlaveId};
use switch_core::PortFlags;

// ---- MACs ----

/// The phy's MAC, which every slave shares.
pub const MASTER_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x01];
/// Some other host on the LAN.
pub const FOREIGN_MAC: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x99];
pub const BROADCAST_MAC: [u8; 6] = [0xff; 6];
/// 224.0.0.251 (mDNS) mapped to Ethernet.
pub const MDNS_GROUP_MAC: [u8; 6] = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb];
/// 224.0.0.252 (LLMNR): another group, differing in the last byte only.
pub const LLMNR_GROUP_MAC: [u8; 6] = [0x01, 0x00, 0x5e, 0x00, 0x00, 0xfc];
/// ff02::1 mapped to Ethernet.
pub const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0x00, 0x00, 0x00, 0x01];
/// 802.3x flow control destination.
pub const PAUSE_MAC: [u8; 6] = [0x01, 0x80, 0xc2, 0x00, 0x00, 0x01];

// ---- ethertypes etherparse 0.16 has no constant for ----

pub const ETHERTYPE_PAUSE: u16 = 0x8808;
pub const ETHERTYPE_LLDP: u16 = 0x88cc;

// ---- addresses: slave 0 and slave 1 own one v4 and one v6 each, slave 2 one v4 ----

pub const SLAVE0_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const SLAVE1_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const SLAVE2_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 3);
pub const SLAVE0_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
pub const SLAVE1_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
/// In the slaves' subnet, owned by nobody (the host's, say).
pub const UNOWNED_V4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 99);
pub const UNOWNED_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x99);
/// Somewhere outside.
pub const EXTERNAL_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const EXTERNAL_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1);
pub const ALL_NODES_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

pub const SLAVE_COUNT: usize = 3;

pub fn v4(addr: Ipv4Addr) -> Key {
    Key::V4(u32::from(addr))
}

pub fn v6(addr: Ipv6Addr) -> Key {
    Key::V6(u128::from(addr))
}

/// The solicited-node multicast address of `target` (ff02::1:ffXX:XXXX).
pub fn solicited_node(target: Ipv6Addr) -> Ipv6Addr {
    let t = target.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, t[13], t[14], t[15],
    ])
}

/// Its Ethernet group (33:33 + the low 32 bits).
pub fn ipv6_group_mac(group: Ipv6Addr) -> [u8; 6] {
    let g = group.octets();
    [0x33, 0x33, g[12], g[13], g[14], g[15]]
}

// ---- the link layer ----

/// An untagged Ethernet II frame around `payload`.
pub fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let header = Ethernet2Header {
        destination: dst,
        source: src,
        ether_type: EtherType(ethertype),
    };
    [&header.to_bytes()[..], payload].concat()
}

/// The same frame with a tag (TPID `tpid`, VID `vid`) inserted after the MACs.
pub fn tagged_with(tpid: EtherType, frame: &[u8], vid: u16) -> Vec<u8> {
    let (mut header, payload) = Ethernet2Header::from_slice(frame).unwrap();
    let tag = SingleVlanHeader {
        pcp: VlanPcp::ZERO,
        drop_eligible_indicator: false,
        vlan_id: VlanId::try_new(vid).unwrap(),
        ether_type: header.ether_type,
    };
    header.ether_type = tpid;
    [&header.to_bytes()[..], &tag.to_bytes()[..], payload].concat()
}

/// The same frame with an 802.1Q tag.
pub fn vlan_tagged(frame: &[u8], vid: u16) -> Vec<u8> {
    tagged_with(EtherType::VLAN_TAGGED_FRAME, frame, vid)
}

/// The same frame with an 802.1ad service tag.
pub fn service_tagged(frame: &[u8], vid: u16) -> Vec<u8> {
    tagged_with(EtherType::PROVIDER_BRIDGING, frame, vid)
}

/// `bytes` without its last `n` bytes.
pub fn truncated(mut bytes: Vec<u8>, n: usize) -> Vec<u8> {
    bytes.truncate(bytes.len() - n);
    bytes
}

// ---- ARP (etherparse 0.16 has no ARP type) ----

pub const ARP_REQUEST: u16 = 1;
pub const ARP_REPLY: u16 = 2;

/// The 28-byte Ethernet/IPv4 ARP payload (RFC 826), field by field.
pub fn arp_payload(
    hardware_type: u16,
    op: u16,
    sender: ([u8; 6], Ipv4Addr),
    target: ([u8; 6], Ipv4Addr),
) -> Vec<u8> {
    let mut p = Vec::with_capacity(28);
    p.extend_from_slice(&hardware_type.to_be_bytes()); // hrd
    p.extend_from_slice(&EtherType::IPV4.0.to_be_bytes()); // pro
    p.push(6); // hln
    p.push(4); // pln
    p.extend_from_slice(&op.to_be_bytes());
    p.extend_from_slice(&sender.0); // sha
    p.extend_from_slice(&sender.1.octets()); // spa
    p.extend_from_slice(&target.0); // tha
    p.extend_from_slice(&target.1.octets()); // tpa
    assert_eq!(p.len(), 28);
    p
}

/// An Ethernet ARP frame: a request (target MAC zero) or a reply.
pub fn arp(dst: [u8; 6], src: [u8; 6], op: u16, sender_ip: Ipv4Addr, target_ip: Ipv4Addr) -> Vec<u8> {
    let target_mac = if op == ARP_REQUEST { [0; 6] } else { dst };
    eth(
        dst,
        src,
        EtherType::ARP.0,
        &arp_payload(1, op, (src, sender_ip), (target_mac, target_ip)),
    )
}

// ---- IPv4 ----

/// An IPv4/UDP packet with an 8-byte payload (36 bytes, no link layer).
pub fn ipv4_udp(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let builder = PacketBuilder::ipv4(src.octets(), dst.octets(), 64).udp(5353, 5353);
    let payload = [0u8; 8];
    let mut packet = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut packet, &payload).unwrap();
    packet
}

/// An IPv4 header written as given (its total length is not recomputed) plus `payload`.
pub fn ipv4_raw(header: &Ipv4Header, payload: &[u8]) -> Vec<u8> {
    let mut packet = Vec::new();
    header.write(&mut packet).unwrap();
    packet.extend_from_slice(payload);
    packet
}

/// The first byte of an IP header: version and IHL (IHL is IPv4 only).
pub fn with_version_ihl(mut packet: Vec<u8>, version: u8, ihl: u8) -> Vec<u8> {
    packet[0] = version << 4 | (ihl & 0x0f);
    packet
}

pub fn ipv4_frame(dst_mac: [u8; 6], src_mac: [u8; 6], src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    eth(dst_mac, src_mac, EtherType::IPV4.0, &ipv4_udp(src, dst))
}

// ---- IPv6 ----

/// An IPv6/UDP packet with an 8-byte payload (56 bytes, no link layer).
pub fn ipv6_udp(src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    let builder = PacketBuilder::ipv6(src.octets(), dst.octets(), 64).udp(546, 547);
    let payload = [0u8; 8];
    let mut packet = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut packet, &payload).unwrap();
    packet
}

/// An IPv6/ICMPv6 packet: 40 + 8 + `body` bytes (no link layer), optionally behind a
/// hop-by-hop options header (as MLD reports are).
pub fn icmpv6(src: Ipv6Addr, dst: Ipv6Addr, icmp_type: u8, body: &[u8], hop_by_hop: bool) -> Vec<u8> {
    let header = Ipv6Header {
        traffic_class: 0,
        flow_label: Ipv6FlowLabel::ZERO,
        payload_length: 0, // set by the builder
        next_header: IpNumber::IPV6_ICMP,
        hop_limit: 255,
        source: src.octets(),
        destination: dst.octets(),
    };
    let mut extensions = Ipv6Extensions::default();
    if hop_by_hop {
        // Router Alert (MLD) + 2 bytes PadN.
        let options = [0x05, 0x02, 0x00, 0x00, 0x01, 0x00];
        extensions.hop_by_hop_options =
            Some(Ipv6RawExtHeader::new_raw(IpNumber::IPV6_ICMP, &options).unwrap());
    }
    let builder = PacketBuilder::ip(IpHeaders::Ipv6(header, extensions)).icmpv6_raw(icmp_type, 0, [0; 4]);
    let mut packet = Vec::with_capacity(builder.size(body.len()));
    builder.write(&mut packet, body).unwrap();
    packet
}

pub const ICMPV6_ROUTER_SOLICITATION: u8 = 133;
pub const ICMPV6_NEIGHBOUR_SOLICITATION: u8 = 135;
pub const ICMPV6_NEIGHBOUR_ADVERTISEMENT: u8 = 136;

/// A Neighbour Solicitation for `target`, without options: exactly 64 bytes.
pub fn neighbour_solicitation(src: Ipv6Addr, dst: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    icmpv6(src, dst, ICMPV6_NEIGHBOUR_SOLICITATION, &target.octets(), false)
}

/// A Duplicate Address Detection NS: source `::`, to the target's solicited-node group.
pub fn dad_ns_frame(src_mac: [u8; 6], target: Ipv6Addr) -> Vec<u8> {
    let group = solicited_node(target);
    let ns = neighbour_solicitation(Ipv6Addr::UNSPECIFIED, group, target);
    eth(ipv6_group_mac(group), src_mac, EtherType::IPV6.0, &ns)
}

pub fn ipv6_frame(dst_mac: [u8; 6], src_mac: [u8; 6], src: Ipv6Addr, dst: Ipv6Addr) -> Vec<u8> {
    eth(dst_mac, src_mac, EtherType::IPV6.0, &ipv6_udp(src, dst))
}

// ---- classification ----

/// Classifies a frame the test expects to be at least 14 bytes long.
pub fn classified(frame: &[u8]) -> Classified {
    classify(frame, frame.len()).expect("a frame of at least 14 bytes classifies")
}

// ---- a small switch ----

/// Slaves 0..3 with the addresses above; slave 0 joined mDNS, slave 1 is allmulti, slave 2 only
/// takes broadcast.
pub fn dispatch(flags: PortFlags) -> Dispatch {
    let owners: [(Key, SlaveId); 5] = [
        (v4(SLAVE0_V4), 0),
        (v6(SLAVE0_V6), 0),
        (v4(SLAVE1_V4), 1),
        (v6(SLAVE1_V6), 1),
        (v4(SLAVE2_V4), 2),
    ];
    Dispatch {
        flags,
        master_mac: MASTER_MAC,
        table: AddressTable::new(owners),
        multicast: Multicast::new(vec![
            McFilter {
                groups: vec![MDNS_GROUP_MAC],
                allmulti: false,
            },
            McFilter {
                groups: vec![],
                allmulti: true,
            },
            McFilter::default(),
        ]),
        states: Arc::new(SlaveStates::new(SLAVE_COUNT, true)),
    }
}

pub const ALL_FLAGS: [PortFlags; 3] = [PortFlags::Bridge, PortFlags::Private, PortFlags::Vepa];
