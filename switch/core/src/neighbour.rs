//! ARP and Neighbour Solicitation from the switch's side: which requests a slave sends to
//! resolve an address (`solicitation`), and the answer the switch gives with the master's MAC
//! (`answer`), built into a fixed buffer: no allocation.

use std::net::{IpAddr, Ipv6Addr};

use crate::announce::icmpv6_checksum;
use crate::classify::{
    Key, ETHERTYPE_ARP, ETHERTYPE_IPV6, ETH_HLEN, ICMPV6_NEIGHBOUR_SOLICITATION, IPPROTO_ICMPV6,
};
use crate::routes::{key, AddressMap};

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

/// The MACs of the phy's neighbours (next hops), by address: the static entries of the
/// configuration.
#[derive(Default)]
pub struct Neighbours(AddressMap<Key, [u8; 6]>);

impl Neighbours {
    pub fn new(entries: impl IntoIterator<Item = (IpAddr, [u8; 6])>) -> Neighbours {
        Neighbours(entries.into_iter().map(|(ip, mac)| (key(ip), mac)).collect())
    }

    /// The MAC of next hop `ip`, if known.
    #[inline]
    pub fn get(&self, ip: Key) -> Option<[u8; 6]> {
        self.0.get(&ip).copied()
    }
}
