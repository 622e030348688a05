//! The ICMP and ICMPv6 "destination unreachable" a router sends back when it cannot forward a
//! frame (no route, or a next hop that does not answer), from the master's address and MAC,
//! built into a fixed buffer: no allocation.

use std::net::Ipv6Addr;

use crate::announce::{icmpv6_checksum, ones_complement};
use crate::classify::{Key, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_HLEN, IPPROTO_ICMPV6};

/// How much of the frame that failed an ICMPv6 error quotes (RFC 4443 asks for as much as fits
/// the minimum MTU; less is allowed).
const QUOTED_V6: usize = 512;
/// The longest error: Ethernet, IPv6, ICMPv6 header, the quote.
pub const UNREACHABLE_MAX: usize = ETH_HLEN + 40 + 8 + QUOTED_V6;

const IPPROTO_ICMP: u8 = 1;

/// Why a frame could not be forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    /// No route to its destination.
    NoRoute,
    /// Its next hop did not answer ARP/ND (the kernel's "host unreachable" / "address
    /// unreachable").
    Host,
}

impl Unreachable {
    /// ICMP destination unreachable (type 3), code 0 network or 1 host unreachable.
    fn icmp(self) -> [u8; 2] {
        [3, if self == Unreachable::NoRoute { 0 } else { 1 }]
    }

    /// ICMPv6 destination unreachable (type 1), code 0 no route or 3 address unreachable.
    fn icmpv6(self) -> [u8; 2] {
        [1, if self == Unreachable::NoRoute { 0 } else { 3 }]
    }
}

/// The error `why` for the untagged IP `frame` (of which `frame` holds the first bytes), to
/// its sender, from `source` (the master's address of its family) and `master`'s MAC; `None`
/// for what gets no error: not IP, an ICMP error itself, from an unspecified or multicast
/// source, or a source of the other family than `source`.
pub fn unreachable(
    frame: &[u8],
    why: Unreachable,
    source: Key,
    master: &[u8; 6],
    out: &mut [u8; UNREACHABLE_MAX],
) -> Option<usize> {
    let ethertype = u16::from_be_bytes(frame.get(12..14)?.try_into().unwrap());
    out[0..6].copy_from_slice(&frame[6..12]);
    out[6..12].copy_from_slice(master);
    out[12..14].copy_from_slice(&frame[12..14]);
    let ip = &frame[ETH_HLEN..];
    match (ethertype, source) {
        (ETHERTYPE_IPV4, Key::V4(source)) if ip.len() >= 20 => {
            let header_len = usize::from(ip[0] & 0x0f) * 4;
            let sender: [u8; 4] = ip[12..16].try_into().unwrap();
            let is_error = ip[9] == IPPROTO_ICMP && ip.get(header_len).is_some_and(|&t| ![0, 8].contains(&t));
            if header_len < 20 || sender == [0; 4] || sender[0] >= 224 || is_error {
                return None;
            }
            // The failed datagram's header and its first 8 bytes (RFC 792).
            let quote = &ip[..(header_len + 8).min(ip.len())];
            let total = 20 + 8 + quote.len();
            let header = &mut out[ETH_HLEN..ETH_HLEN + 20];
            header.copy_from_slice(&[
                0x45,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                64,
                IPPROTO_ICMP,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
                0,
            ]);
            header[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            header[12..16].copy_from_slice(&source.to_be_bytes());
            header[16..20].copy_from_slice(&sender);
            let sum = ones_complement(&[header]);
            header[10..12].copy_from_slice(&sum.to_be_bytes());
            let icmp = &mut out[ETH_HLEN + 20..ETH_HLEN + total];
            icmp[..8].fill(0);
            icmp[..2].copy_from_slice(&why.icmp());
            icmp[8..].copy_from_slice(quote);
            let sum = ones_complement(&[icmp]);
            icmp[2..4].copy_from_slice(&sum.to_be_bytes());
            Some(ETH_HLEN + total)
        }
        (ETHERTYPE_IPV6, Key::V6(source)) if ip.len() >= 40 => {
            let sender: [u8; 16] = ip[8..24].try_into().unwrap();
            let is_error = ip[6] == IPPROTO_ICMPV6 && ip.get(40).is_some_and(|&t| t < 128);
            if sender == [0; 16] || sender[0] == 0xff || is_error {
                return None;
            }
            let quote = &ip[..ip.len().min(QUOTED_V6)];
            let icmp_len = 8 + quote.len();
            let header = &mut out[ETH_HLEN..ETH_HLEN + 40];
            header[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
            header[4..6].copy_from_slice(&(icmp_len as u16).to_be_bytes());
            header[6] = IPPROTO_ICMPV6;
            header[7] = 64;
            header[8..24].copy_from_slice(&source.to_be_bytes());
            header[24..40].copy_from_slice(&sender);
            let icmp = &mut out[ETH_HLEN + 40..ETH_HLEN + 40 + icmp_len];
            icmp[..8].fill(0);
            icmp[..2].copy_from_slice(&why.icmpv6());
            icmp[8..].copy_from_slice(quote);
            let sum = icmpv6_checksum(
                &Ipv6Addr::from(source.to_be_bytes()),
                &Ipv6Addr::from(sender),
                icmp,
            );
            icmp[2..4].copy_from_slice(&sum.to_be_bytes());
            Some(ETH_HLEN + 40 + icmp_len)
        }
        _ => None,
    }
}
