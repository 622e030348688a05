//! Guests that keep a MAC of their own behind the shared one. In ipvlan every slave uses the
//! master's MAC; a vhost guest may have been given another. The switch hides it: a guest's
//! frames get the master's MAC as their source, in the Ethernet header and wherever a
//! neighbour would learn it from (the ARP sender address, the ND link-layer address options,
//! ICMPv6 checksum fixed), before they are dispatched, so neither the phy's network nor another
//! slave ever sees the guest's MAC; unicast frames delivered to the guest get its MAC as their
//! destination, and an ARP packet's target hardware address too where it is the master's
//! (tools such as arping check it). The guest's MAC is configured or learned from its first
//! frame.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::classify::{ETHERTYPE_ARP, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN, IPPROTO_ICMPV6};
use crate::table::SlaveId;

/// ND option types carrying a link-layer address.
const SOURCE_LINK_ADDRESS: u8 = 1;
const TARGET_LINK_ADDRESS: u8 = 2;

/// Rewrites a frame a guest sent so that it carries `master` wherever it carried the guest's
/// source MAC; returns that MAC, or `None` (frame untouched) if the guest already uses
/// `master` (or the frame is too short or its source is not a unicast MAC). `frame` is the
/// first segment: ND options beyond it are not reached (ND messages are small).
pub fn to_master(frame: &mut [u8], master: &[u8; 6]) -> Option<[u8; 6]> {
    let own: [u8; 6] = frame.get(6..12)?.try_into().unwrap();
    if own == *master || own[0] & 1 != 0 {
        return None;
    }
    frame[6..12].copy_from_slice(master);
    let (ethertype, l3) = ethertype_and_l3(frame);
    let l3 = &mut frame[l3..];
    match ethertype {
        ETHERTYPE_ARP => arp_to_master(l3, &own, master),
        ETHERTYPE_IPV6 => nd_to_master(l3, &own, master),
        _ => {}
    }
    Some(own)
}

/// Rewrites a unicast frame for a guest whose MAC is `guest`: its destination MAC, and an ARP
/// target hardware address that is the master's. `frame` is at least an Ethernet header.
#[inline]
pub fn to_guest(frame: &mut [u8], master: &[u8; 6], guest: &[u8; 6]) {
    frame[0..6].copy_from_slice(guest);
    let (ethertype, l3) = ethertype_and_l3(frame);
    if ethertype == ETHERTYPE_ARP {
        let arp = &mut frame[l3..];
        if is_ethernet_ipv4_arp(arp) && arp[18..24] == *master {
            arp[18..24].copy_from_slice(guest);
        }
    }
}

/// The (inner) ethertype and where the L3 header starts (at most the frame's end); a frame
/// too short for its ethertype has ethertype 0.
fn ethertype_and_l3(frame: &[u8]) -> (u16, usize) {
    let (ethertype, l3) = match be16(frame, 12) {
        Some(ETHERTYPE_VLAN | ETHERTYPE_QINQ) => (be16(frame, 16).unwrap_or(0), 18),
        Some(ethertype) => (ethertype, 14),
        None => (0, 14),
    };
    (ethertype, l3.min(frame.len()))
}

fn is_ethernet_ipv4_arp(arp: &[u8]) -> bool {
    arp.len() >= 28 && arp[0..6] == [0, 1, 0x08, 0x00, 6, 4]
}

/// An Ethernet/IPv4 ARP packet's sender hardware address.
fn arp_to_master(arp: &mut [u8], own: &[u8; 6], master: &[u8; 6]) {
    if is_ethernet_ipv4_arp(arp) && arp[8..14] == *own {
        arp[8..14].copy_from_slice(master);
    }
}

/// The link-layer address options of an ND message (router solicitation and advertisement,
/// neighbour solicitation and advertisement, redirect) that carry `own`.
fn nd_to_master(ip6: &mut [u8], own: &[u8; 6], master: &[u8; 6]) {
    if ip6.len() < 40 + 8 || ip6[0] >> 4 != 6 || ip6[6] != IPPROTO_ICMPV6 {
        return;
    }
    let payload = usize::from(u16::from_be_bytes([ip6[4], ip6[5]]));
    let icmp_end = ip6.len().min(40 + payload);
    let icmp = &mut ip6[40..icmp_end];
    // A payload length short of an ICMPv6 header: nothing to read (the bytes beyond it are
    // not the message's).
    if icmp.len() < 8 {
        return;
    }
    // Where the options start after each message's fixed part.
    let options_at = match icmp[0] {
        133 => 8,        // router solicitation
        134 => 16,       // router advertisement
        135 | 136 => 24, // neighbour solicitation, advertisement
        137 => 40,       // redirect
        _ => return,
    };
    let mut at = options_at;
    while at + 8 <= icmp.len() {
        let (kind, units) = (icmp[at], usize::from(icmp[at + 1]));
        if units == 0 {
            return; // malformed: a zero-length option (RFC 4861 says drop; we leave it)
        }
        let is_address = kind == SOURCE_LINK_ADDRESS || kind == TARGET_LINK_ADDRESS;
        if is_address && units == 1 && icmp[at + 2..at + 8] == *own {
            icmp[at + 2..at + 8].copy_from_slice(master);
            let sum = u16::from_be_bytes([icmp[2], icmp[3]]);
            icmp[2..4].copy_from_slice(&checksum_replaced(sum, own, master).to_be_bytes());
        }
        at += 8 * units;
    }
}

/// An Internet checksum after the 16-bit-aligned bytes `old` became `new` (RFC 1624, eqn. 3).
fn checksum_replaced(sum: u16, old: &[u8; 6], new: &[u8; 6]) -> u16 {
    let words = |b: &[u8; 6], i: usize| u32::from(u16::from_be_bytes([b[2 * i], b[2 * i + 1]]));
    let mut acc = u32::from(!sum);
    for i in 0..3 {
        acc += (!words(old, i) & 0xffff) + words(new, i);
    }
    while acc >> 16 != 0 {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

fn be16(frame: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(frame.get(at..at + 2)?.try_into().unwrap()))
}

/// Set on a stored MAC: the slave's guest has a MAC of its own.
const PRESENT: u64 = 1 << 63;

fn pack(mac: Option<[u8; 6]>) -> u64 {
    mac.map_or(0, |m| {
        PRESENT | m.iter().fold(0u64, |n, b| n << 8 | u64::from(*b))
    })
}

/// The MAC each slave's guest uses where it is not the master's, indexed by `SlaveId`:
/// configured (fixed) or learned from the guest's frames by the lcore that reads them, and
/// forgotten when the guest goes. One relaxed load per delivered frame, no lock.
pub struct GuestMacs {
    macs: Box<[AtomicU64]>,
    /// The configured MAC of each slave (0: none, learn it); set again when a slave of that
    /// index is added at run time.
    configured: Box<[AtomicU64]>,
}

impl GuestMacs {
    /// One entry per slave, each with its configured MAC if any.
    pub fn new(configured: impl IntoIterator<Item = Option<[u8; 6]>>) -> GuestMacs {
        let configured: Box<[AtomicU64]> = configured.into_iter().map(|m| AtomicU64::new(pack(m))).collect();
        GuestMacs {
            macs: configured
                .iter()
                .map(|m| AtomicU64::new(m.load(Relaxed)))
                .collect(),
            configured,
        }
    }

    /// The MAC of `slave`'s guest, if it has one of its own.
    #[inline(always)]
    pub fn get(&self, slave: SlaveId) -> Option<[u8; 6]> {
        let packed = self.macs.get(usize::from(slave))?.load(Relaxed);
        (packed & PRESENT != 0).then(|| packed.to_be_bytes()[2..8].try_into().unwrap())
    }

    /// `slave`'s guest sent from `mac`: kept, unless the slave's MAC is configured.
    #[inline(always)]
    pub fn learn(&self, slave: SlaveId, mac: [u8; 6]) {
        let i = usize::from(slave);
        if self.configured.get(i).is_some_and(|c| c.load(Relaxed) == 0) {
            let packed = pack(Some(mac));
            if self.macs[i].load(Relaxed) != packed {
                self.macs[i].store(packed, Relaxed);
            }
        }
    }

    /// `slave`'s guest went: back to the configured MAC, or none (the next guest may differ).
    pub fn forget(&self, slave: SlaveId) {
        let i = usize::from(slave);
        if let Some(configured) = self.configured.get(i) {
            self.macs[i].store(configured.load(Relaxed), Relaxed);
        }
    }

    /// `slave` is (re)defined with this configured MAC, or none: its guest is not known yet.
    pub fn configure(&self, slave: SlaveId, mac: Option<[u8; 6]>) {
        if let Some(configured) = self.configured.get(usize::from(slave)) {
            configured.store(pack(mac), Relaxed);
            self.forget(slave);
        }
    }
}
