//! ARP and Neighbour Solicitation from the switch's side: which requests a slave sends to
//! resolve an address (`solicitation`), and the answer the switch gives with the master's MAC
//! (`answer`), built into a fixed buffer: no allocation.

use std::net::{IpAddr, Ipv6Addr};

use crate::announce::icmpv6_checksum;
use crate::classify::{
    Key, ETHERTYPE_ARP, ETHERTYPE_IPV6, ETH_HLEN, ICMPV6_NEIGHBOUR_SOLICITATION, IPPROTO_ICMPV6,
};
use crate::table::AddressTable;

/// What an ARP request or an NS asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Solicitation {
    /// A gratuitous ARP (sender 0.0.0.0 or sender = target) or a duplicate-address probe (NS
    /// from ::): an answer would tell the sender its address is taken.
    Probe,
    /// The MAC of this address.
    Resolve(Key),
}

/// The longest answer: an NA with its target link-layer address option.
pub const ANSWER_MAX: usize = ETH_HLEN + 40 + 32;
/// An ARP reply, padded to Ethernet's minimum.
const ARP_REPLY_LEN: usize = 60;

const ARP_REQUEST: u16 = 1;
const ARP_REPLY: u16 = 2;
const NEIGHBOUR_ADVERTISEMENT: u8 = 136;
/// An NA's Solicited and Override flags.
const NA_SOLICITED_OVERRIDE: u8 = 0x60;
/// The target link-layer address option: type 2, 8 bytes.
const TARGET_LL: [u8; 2] = [2, 1];
/// The source link-layer address option: type 1, 8 bytes.
const SOURCE_LL: [u8; 2] = [1, 1];

fn be16(frame: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([frame[at], frame[at + 1]])
}

/// The ARP request or NS the untagged `frame` is, if it is one (an NS without extension
/// headers, as stacks send them).
pub fn solicitation(frame: &[u8]) -> Option<Solicitation> {
    match be16(frame.get(..ETH_HLEN)?, 12) {
        ETHERTYPE_ARP if frame.len() >= ETH_HLEN + 28 && be16(frame, 20) == ARP_REQUEST => {
            let (sender, target) = (&frame[28..32], &frame[38..42]);
            Some(match sender == [0; 4] || sender == target {
                true => Solicitation::Probe,
                false => Solicitation::Resolve(Key::V4(u32::from_be_bytes(target.try_into().unwrap()))),
            })
        }
        ETHERTYPE_IPV6
            if frame.len() >= ETH_HLEN + 40 + 24
                && frame[20] == IPPROTO_ICMPV6
                && frame[54] == ICMPV6_NEIGHBOUR_SOLICITATION =>
        {
            let target = u128::from_be_bytes(frame[62..78].try_into().unwrap());
            Some(match frame[22..38] == [0; 16] {
                true => Solicitation::Probe,
                false => Solicitation::Resolve(Key::V6(target)),
            })
        }
        _ => None,
    }
}

/// The answer to the solicitation `frame` (see `solicitation`), from `master`'s MAC: an ARP
/// reply or a solicited NA (Override set, the master's MAC as target link-layer address),
/// addressed to the asker. Returns its length in `out`, `None` if `frame` asks nothing.
pub fn answer(frame: &[u8], master: &[u8; 6], out: &mut [u8; ANSWER_MAX]) -> Option<usize> {
    solicitation(frame)?;
    out[0..6].copy_from_slice(&frame[6..12]);
    out[6..12].copy_from_slice(master);
    out[12..14].copy_from_slice(&frame[12..14]);
    if frame[12..14] == ETHERTYPE_ARP.to_be_bytes() {
        // Ethernet, IPv4, 6 and 4 bytes; reply: the asked address at the master's MAC.
        out[14..20].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
        out[20..22].copy_from_slice(&ARP_REPLY.to_be_bytes());
        out[22..28].copy_from_slice(master);
        out[28..32].copy_from_slice(&frame[38..42]);
        out[32..38].copy_from_slice(&frame[22..28]);
        out[38..42].copy_from_slice(&frame[28..32]);
        out[42..ARP_REPLY_LEN].fill(0);
        return Some(ARP_REPLY_LEN);
    }
    let target: [u8; 16] = frame[62..78].try_into().unwrap();
    let asker: [u8; 16] = frame[22..38].try_into().unwrap();
    let icmp_len = 32u16;
    out[14..18].copy_from_slice(&[0x60, 0, 0, 0]);
    out[18..20].copy_from_slice(&icmp_len.to_be_bytes());
    out[20] = IPPROTO_ICMPV6;
    out[21] = 255; // hop limit, as ND requires
    out[22..38].copy_from_slice(&target);
    out[38..54].copy_from_slice(&asker);
    let icmp = &mut out[54..ANSWER_MAX];
    icmp[0..8].copy_from_slice(&[NEIGHBOUR_ADVERTISEMENT, 0, 0, 0, NA_SOLICITED_OVERRIDE, 0, 0, 0]);
    icmp[8..24].copy_from_slice(&target);
    icmp[24..26].copy_from_slice(&TARGET_LL);
    icmp[26..32].copy_from_slice(master);
    let sum = icmpv6_checksum(&Ipv6Addr::from(target), &Ipv6Addr::from(asker), icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    Some(ANSWER_MAX)
}

/// What an ARP or NA frame from the wire tells of its sender: an address and its MAC (an
/// ARP's sender, an NA's target with its target link-layer address option). A multicast or
/// all-zero MAC is no neighbour's.
pub fn learned(frame: &[u8]) -> Option<(Key, [u8; 6])> {
    match be16(frame.get(..ETH_HLEN)?, 12) {
        ETHERTYPE_ARP if frame.len() >= ETH_HLEN + 28 && frame[14..20] == [0, 1, 0x08, 0x00, 6, 4] => {
            let sender = u32::from_be_bytes(frame[28..32].try_into().unwrap());
            let mac: [u8; 6] = frame[22..28].try_into().unwrap();
            (sender != 0 && is_unicast(&mac)).then_some((Key::V4(sender), mac))
        }
        ETHERTYPE_IPV6
            if frame.len() >= ETH_HLEN + 40 + 32
                && frame[20] == IPPROTO_ICMPV6
                && frame[54] == NEIGHBOUR_ADVERTISEMENT =>
        {
            let target = u128::from_be_bytes(frame[62..78].try_into().unwrap());
            // The options after the target: the first target link-layer address one.
            let mut at = 78;
            while at + 8 <= frame.len() && frame[at + 1] != 0 {
                if frame[at..at + 2] == TARGET_LL {
                    let mac: [u8; 6] = frame[at + 2..at + 8].try_into().unwrap();
                    return is_unicast(&mac).then_some((Key::V6(target), mac));
                }
                at += 8 * usize::from(frame[at + 1]);
            }
            None
        }
        _ => None,
    }
}

/// Is `frame` an ARP reply or a Neighbour Advertisement (what a resolution waits for)?
pub fn is_advertisement(frame: &[u8]) -> bool {
    match frame.get(12..14) {
        Some([0x08, 0x06]) => frame.len() >= ETH_HLEN + 28 && be16(frame, 20) == ARP_REPLY,
        Some([0x86, 0xdd]) => {
            frame.len() >= ETH_HLEN + 40 + 24
                && frame[20] == IPPROTO_ICMPV6
                && frame[54] == NEIGHBOUR_ADVERTISEMENT
        }
        _ => false,
    }
}

/// The longest request: an NS with its source link-layer address option.
pub const REQUEST_MAX: usize = ANSWER_MAX;

/// A request for `target`'s MAC, from `source` (the master's address on its network) and
/// `master`'s MAC: a broadcast ARP request, or an NS to the target's solicited-node group with
/// the master's MAC as source link-layer address. Returns its length in `out`.
pub fn request(target: Key, source: Key, master: &[u8; 6], out: &mut [u8; REQUEST_MAX]) -> usize {
    out[6..12].copy_from_slice(master);
    match (target, source) {
        (Key::V4(target), Key::V4(source)) => {
            out[0..6].fill(0xff);
            out[12..14].copy_from_slice(&ETHERTYPE_ARP.to_be_bytes());
            out[14..20].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4]);
            out[20..22].copy_from_slice(&ARP_REQUEST.to_be_bytes());
            out[22..28].copy_from_slice(master);
            out[28..32].copy_from_slice(&source.to_be_bytes());
            out[32..38].fill(0);
            out[38..42].copy_from_slice(&target.to_be_bytes());
            out[42..ARP_REPLY_LEN].fill(0);
            ARP_REPLY_LEN
        }
        (Key::V6(target), Key::V6(source)) => {
            let target = target.to_be_bytes();
            let mut group = [0u8; 16];
            group[..13].copy_from_slice(&[0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]);
            group[13..].copy_from_slice(&target[13..]);
            out[0..6].copy_from_slice(&[0x33, 0x33, group[12], group[13], group[14], group[15]]);
            out[12..14].copy_from_slice(&ETHERTYPE_IPV6.to_be_bytes());
            out[14..18].copy_from_slice(&[0x60, 0, 0, 0]);
            out[18..20].copy_from_slice(&32u16.to_be_bytes());
            out[20] = IPPROTO_ICMPV6;
            out[21] = 255;
            out[22..38].copy_from_slice(&source.to_be_bytes());
            out[38..54].copy_from_slice(&group);
            let icmp = &mut out[54..REQUEST_MAX];
            icmp[0..8].copy_from_slice(&[ICMPV6_NEIGHBOUR_SOLICITATION, 0, 0, 0, 0, 0, 0, 0]);
            icmp[8..24].copy_from_slice(&target);
            icmp[24..26].copy_from_slice(&SOURCE_LL);
            icmp[26..32].copy_from_slice(master);
            let sum = icmpv6_checksum(
                &Ipv6Addr::from(source.to_be_bytes()),
                &Ipv6Addr::from(group),
                icmp,
            );
            icmp[2..4].copy_from_slice(&sum.to_be_bytes());
            REQUEST_MAX
        }
        _ => panic!("a request's target and source are of one family"),
    }
}

fn is_unicast(mac: &[u8; 6]) -> bool {
    mac[0] & 1 == 0 && *mac != [0; 6]
}

/// The MACs of the phy's neighbours (next hops), by address: the static entries of the
/// configuration, and those the switch resolved. Read per routed frame, so a fixed table.
#[derive(Clone)]
pub struct Neighbours {
    known: Vec<(Key, [u8; 6])>,
    table: AddressTable<[u8; 6]>,
}

impl Default for Neighbours {
    fn default() -> Neighbours {
        Neighbours::of(Vec::new())
    }
}

impl Neighbours {
    pub fn new(entries: impl IntoIterator<Item = (IpAddr, [u8; 6])>) -> Neighbours {
        Neighbours::of(
            entries
                .into_iter()
                .map(|(ip, mac)| (Key::from(ip), mac))
                .collect(),
        )
    }

    /// No entry has the all-zero MAC: conf refuses it, `learned` never yields it.
    fn of(known: Vec<(Key, [u8; 6])>) -> Neighbours {
        Neighbours {
            table: AddressTable::new(known.iter().copied()),
            known,
        }
    }

    /// The MAC of next hop `ip`, if known.
    #[inline(always)]
    pub fn get(&self, ip: Key) -> Option<[u8; 6]> {
        self.table.lookup(ip)
    }

    /// These entries and `more` (which win).
    pub fn with(&self, more: impl IntoIterator<Item = (Key, [u8; 6])>) -> Neighbours {
        let mut known = self.known.clone();
        known.extend(more);
        known.reverse();
        let mut seen = std::collections::HashSet::new();
        known.retain(|(ip, _)| seen.insert(*ip));
        Neighbours::of(known)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_entries_win_and_unknown_addresses_have_no_mac() {
        let (gateway, other) = (Key::V4(0x0a00_00fe), Key::V6(0x2001_0db8 << 96 | 0xfe));
        let configured = Neighbours::new([("10.0.0.254".parse().unwrap(), [2, 0, 0, 0, 0, 1])]);
        assert_eq!(configured.get(gateway), Some([2, 0, 0, 0, 0, 1]));
        assert_eq!(configured.get(other), None);
        let learned = configured.with([(other, [2, 0, 0, 0, 0, 3]), (gateway, [2, 0, 0, 0, 0, 2])]);
        assert_eq!(learned.get(gateway), Some([2, 0, 0, 0, 0, 2]));
        assert_eq!(learned.get(other), Some([2, 0, 0, 0, 0, 3]));
        assert_eq!(learned.get(Key::V4(0x0a00_00fd)), None);
        assert_eq!(Neighbours::default().get(gateway), None);
    }
}
