//! The frames that tell a network where a slave's addresses are now: a gratuitous ARP per IPv4
//! address and an unsolicited Neighbour Advertisement per IPv6 address, from the master's MAC.
//! Sent on the phy after a guest moved (live migration) in place of the RARP that QEMU asks
//! the backend to send, which would only carry the guest's own MAC.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const BROADCAST: [u8; 6] = [0xff; 6];
/// ff02::1, all nodes, and its multicast MAC.
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
const ALL_NODES_MAC: [u8; 6] = [0x33, 0x33, 0, 0, 0, 1];
const ICMPV6_NEIGHBOUR_ADVERTISEMENT: u8 = 136;
/// The NA's Override flag: replace whatever link-layer address a neighbour has cached.
const NA_OVERRIDE: u8 = 0x20;

/// One announcement per address, in order.
pub fn announcements(master: &[u8; 6], addresses: &[IpAddr]) -> Vec<Vec<u8>> {
    addresses
        .iter()
        .map(|address| match address {
            IpAddr::V4(ip) => gratuitous_arp(master, *ip),
            IpAddr::V6(ip) => unsolicited_na(master, *ip),
        })
        .collect()
}

/// A broadcast ARP request for `ip` from `ip` itself (sender = target), as Linux sends one.
pub fn gratuitous_arp(master: &[u8; 6], ip: Ipv4Addr) -> Vec<u8> {
    let mut frame = Vec::with_capacity(42);
    frame.extend_from_slice(&BROADCAST);
    frame.extend_from_slice(master);
    frame.extend_from_slice(&[0x08, 0x06]);
    // Ethernet, IPv4, 6-byte and 4-byte addresses, request.
    frame.extend_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    frame.extend_from_slice(master);
    frame.extend_from_slice(&ip.octets());
    frame.extend_from_slice(&[0; 6]);
    frame.extend_from_slice(&ip.octets());
    frame
}

/// A Neighbour Advertisement of `ip` to all nodes, from `ip`, Override set, with the master's
/// MAC as target link-layer address (RFC 4861 7.2.6).
pub fn unsolicited_na(master: &[u8; 6], ip: Ipv6Addr) -> Vec<u8> {
    let mut icmp = vec![ICMPV6_NEIGHBOUR_ADVERTISEMENT, 0, 0, 0, NA_OVERRIDE, 0, 0, 0];
    icmp.extend_from_slice(&ip.octets());
    icmp.extend_from_slice(&[2, 1]); // target link-layer address option, 8 bytes
    icmp.extend_from_slice(master);
    let sum = icmpv6_checksum(&ip, &ALL_NODES, &icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());

    let mut frame = Vec::with_capacity(14 + 40 + icmp.len());
    frame.extend_from_slice(&ALL_NODES_MAC);
    frame.extend_from_slice(master);
    frame.extend_from_slice(&[0x86, 0xdd]);
    frame.extend_from_slice(&[0x60, 0, 0, 0]);
    frame.extend_from_slice(&(icmp.len() as u16).to_be_bytes());
    frame.extend_from_slice(&[58, 255]); // ICMPv6, hop limit 255 as ND requires
    frame.extend_from_slice(&ip.octets());
    frame.extend_from_slice(&ALL_NODES.octets());
    frame.extend_from_slice(&icmp);
    frame
}

/// The ICMPv6 checksum of `icmp` (its checksum field zero) between `src` and `dst`.
pub(crate) fn icmpv6_checksum(src: &Ipv6Addr, dst: &Ipv6Addr, icmp: &[u8]) -> u16 {
    let length = (icmp.len() as u32).to_be_bytes();
    ones_complement(&[
        &src.octets()[..],
        &dst.octets()[..],
        &length[..],
        &[0, 0, 0, 58][..],
        icmp,
    ])
}

/// The Internet checksum (RFC 1071) of `parts` one after the other, each of even length but
/// the last.
pub(crate) fn ones_complement(parts: &[&[u8]]) -> u16 {
    let mut acc: u32 = 0;
    for part in parts {
        for pair in part.chunks(2) {
            acc += u32::from(u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]));
        }
    }
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}
