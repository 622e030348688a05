//! The L2-mode dispatch decision (kernel: ipvlan_xmit_mode_l2, ipvlan_handle_mode_l2): pure,
//! from a frame's classification to where it goes.

use std::sync::Arc;

use crate::classify::{
    classify, other_unicast_destination, usual_unicast_destination, Classified, Key, ETHERTYPE_PAUSE,
    ETHERTYPE_RARP, ETH_HLEN,
};
use crate::routes::GatewayId;
use crate::state::SlaveStates;
use crate::table::{AddressTable, SlaveId};
use crate::PortFlags;

/// Why a frame (or one copy of it) was not delivered. Each is a counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum DropReason {
    /// Shorter than an Ethernet header.
    Malformed,
    /// Bound for the host stack because it has no lookup key, and there is no host port.
    NoKey,
    /// Bound for the host stack because no slave owns its key, and there is no host port.
    NoOwner,
    /// The host's copy of a multicast frame from the phy, and there is no host port.
    NoHost,
    /// Slave-to-slave unicast on a `private` switch.
    Private,
    /// An 802.3x PAUSE frame from a slave (from the phy, only its slave copies are dropped).
    Pause,
    /// Longer than the receiving port's MTU allows.
    Mtu,
    /// The receiving port's transmit queue was full.
    TxFull,
    /// The driver had no mbuf to receive into (driver counter).
    PoolEmpty,
    /// The device's receive queue was full (driver counter).
    RxMissed,
    /// A RARP the vhost library sent for a guest that moved: not forwarded; the slave's
    /// addresses are announced on the phy instead.
    Rarp,
    /// Mode l3: from a slave, to no slave and no route.
    NoRoute,
    /// Mode l3: from a slave, neither IPv4 nor IPv6 (and to no slave).
    NotIp,
    /// Mode l3: from a slave, to a multicast or broadcast MAC (and to no slave).
    L3Multicast,
    /// Mode l3: a slave's gratuitous ARP or duplicate-address probe, or a request for its own
    /// address: never answered (that would say the address is taken), never forwarded.
    Probe,
    /// Mode l3: the next hop has no MAC known, and could not be resolved (or the resolver's
    /// queue was full).
    NoNeighbour,
    /// Mode l3s: refused by a slave's filter (a rule, or the default).
    Filtered,
}

impl DropReason {
    pub const COUNT: usize = 17;
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::Malformed,
        DropReason::NoKey,
        DropReason::NoOwner,
        DropReason::NoHost,
        DropReason::Private,
        DropReason::Pause,
        DropReason::Mtu,
        DropReason::TxFull,
        DropReason::PoolEmpty,
        DropReason::RxMissed,
        DropReason::Rarp,
        DropReason::NoRoute,
        DropReason::NotIp,
        DropReason::L3Multicast,
        DropReason::Probe,
        DropReason::NoNeighbour,
        DropReason::Filtered,
    ];

    /// The counter's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Malformed => "malformed",
            DropReason::NoKey => "no_key",
            DropReason::NoOwner => "no_owner",
            DropReason::NoHost => "no_host",
            DropReason::Private => "private",
            DropReason::Pause => "pause",
            DropReason::Mtu => "mtu",
            DropReason::TxFull => "tx_full",
            DropReason::PoolEmpty => "pool_empty",
            DropReason::RxMissed => "rx_missed",
            DropReason::Rarp => "rarp",
            DropReason::NoRoute => "no_route",
            DropReason::NotIp => "not_ip",
            DropReason::L3Multicast => "l3_multicast",
            DropReason::Probe => "probe",
            DropReason::NoNeighbour => "no_neighbour",
            DropReason::Filtered => "filtered",
        }
    }
}

/// Where a frame goes. Mode L3 adds its own destinations here (the phy with a rewritten
/// header, a frame waiting for a neighbour, an answer the switch generates): the poll loop
/// moves frames by verdict and never looks at a mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Slave(SlaveId),
    Phy,
    /// To the host stack; the reason is what to count if there is no host port.
    Host(DropReason),
    Flood(Flood),
    Drop(DropReason),
    /// Announce this slave's addresses on the phy (its guest moved); the frame is dropped.
    Announce(SlaveId),
    /// Mode l3: to the phy, on a connected network: the frame's destination is its own next
    /// hop (its MAC the destination, the master's the source). No key here: the datapath
    /// reads it from the frame again, which keeps a verdict small enough to live in
    /// registers (an IPv6 key would double it, and a verdict passed through memory stalls).
    Route,
    /// Mode l3: as `Route`, through a configured route's gateway (`Routes::gateway`), whose
    /// MAC the lcores find by this index, without hashing.
    Gateway(GatewayId),
    /// Mode l3: an ARP request or Neighbour Solicitation (a slave's, or one from the wire for
    /// the master's address), answered by the switch with the master's MAC
    /// (`neighbour::answer`) back where it came from; the frame is consumed.
    Answer,
    /// Mode l3: an ARP reply or Neighbour Advertisement from the wire, for the switch's
    /// neighbour resolver.
    ToResolver,
}

// Returned in two registers: see `Verdict::Route`.
const _: () = assert!(std::mem::size_of::<Verdict>() <= 16);

/// Multicast/broadcast: a copy to every slave whose filter takes the group (but `except`, the
/// sender) when `to_slaves`, plus the phy and/or the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flood {
    pub except: Option<SlaveId>,
    pub to_slaves: bool,
    pub to_phy: bool,
    pub to_host: bool,
}

/// A slave's multicast filter: exact group MACs (the kernel's 8-bit hash admits collisions;
/// this does not). Broadcast always passes.
#[derive(Debug, Clone, Default)]
pub struct McFilter {
    pub groups: Vec<[u8; 6]>,
    pub allmulti: bool,
}

impl McFilter {
    #[inline]
    pub fn takes(&self, dst: &[u8; 6]) -> bool {
        self.allmulti || *dst == BROADCAST || self.groups.contains(dst)
    }
}

const BROADCAST: [u8; 6] = [0xff; 6];

/// The slaves' multicast filters (by SlaveId) and, worked out from them with each table, who
/// takes each group: a frame's fan-out walks its group's takers, not every slave's filter (with
/// 1,024 slaves and two in a group, two reads instead of 1,024).
pub struct Multicast {
    filters: Vec<McFilter>,
    /// Every slave: broadcast passes every filter.
    everyone: Box<[SlaveId]>,
    /// By group MAC (sorted), the slaves that joined it or take all multicast, in order.
    groups: Vec<([u8; 6], Box<[SlaveId]>)>,
    /// The allmulti slaves: the takers of a group nobody joined.
    allmulti: Box<[SlaveId]>,
}

impl Multicast {
    pub fn new(filters: Vec<McFilter>) -> Multicast {
        let ids = || (0..filters.len()).map(|s| SlaveId::try_from(s).expect("fewer than 65,535 slaves"));
        let allmulti: Vec<SlaveId> = ids().filter(|&s| filters[usize::from(s)].allmulti).collect();
        let mut joined = std::collections::BTreeMap::<[u8; 6], Vec<SlaveId>>::new();
        for s in ids() {
            for group in &filters[usize::from(s)].groups {
                joined.entry(*group).or_default().push(s);
            }
        }
        let groups = joined
            .into_iter()
            .map(|(group, mut takers)| {
                takers.extend(&allmulti);
                takers.sort_unstable();
                takers.dedup();
                (group, takers.into_boxed_slice())
            })
            .collect();
        Multicast {
            everyone: ids().collect(),
            groups,
            allmulti: allmulti.into_boxed_slice(),
            filters,
        }
    }

    /// The slaves whose filters take a frame to `dst` (up or down), in SlaveId order.
    #[inline]
    pub fn takers(&self, dst: &[u8; 6]) -> &[SlaveId] {
        if *dst == BROADCAST {
            return &self.everyone;
        }
        match self.groups.binary_search_by(|(group, _)| group.cmp(dst)) {
            Ok(at) => &self.groups[at].1,
            Err(_) => &self.allmulti,
        }
    }
}

/// Everything an L2 decision reads. Built by the control plane, read by all lcores.
pub struct Dispatch {
    pub flags: PortFlags,
    /// The phy's MAC, shared by every slave.
    pub master_mac: [u8; 6],
    pub table: AddressTable,
    pub multicast: Multicast,
    /// A down slave owns no address and takes no multicast copy. Shared with whoever brings
    /// slaves up and down (a guest attaching, an operator).
    pub states: Arc<SlaveStates>,
}

impl Dispatch {
    #[inline(always)]
    fn owner(&self, key: Option<Key>) -> Option<SlaveId> {
        key.and_then(|k| self.table.lookup(k))
            .filter(|&slave| self.states.is_up(slave))
    }

    /// To the owner of `key`, or to the host with the reason it was not found.
    #[inline(always)]
    fn by_destination(&self, key: Option<Key>) -> Result<SlaveId, DropReason> {
        match (key, self.owner(key)) {
            (_, Some(owner)) => Ok(owner),
            (None, None) => Err(DropReason::NoKey),
            (Some(_), None) => Err(DropReason::NoOwner),
        }
    }

    /// A frame a slave sent (ipvlan_xmit_mode_l2).
    #[inline]
    pub fn from_slave(&self, sender: SlaveId, c: Option<&Classified>) -> Verdict {
        let Some(c) = c else {
            return Verdict::Drop(DropReason::Malformed);
        };
        if self.flags != PortFlags::Vepa && c.dst_is_src() {
            // A tagged frame from a slave counts as "other": no key.
            let key = if c.tagged { None } else { c.dst_key };
            return match self.by_destination(key) {
                Ok(_) if self.flags == PortFlags::Private => Verdict::Drop(DropReason::Private),
                Ok(owner) => Verdict::Slave(owner),
                Err(reason) => Verdict::Host(reason),
            };
        }
        if c.is_multicast() {
            if c.ethertype == ETHERTYPE_PAUSE && !c.tagged {
                return Verdict::Drop(DropReason::Pause);
            }
            return Verdict::Flood(Flood {
                except: Some(sender),
                to_slaves: true,
                to_phy: true,
                to_host: false,
            });
        }
        Verdict::Phy
    }

    /// A frame a vhost guest sent (its MAC already the master's): as a slave's, but the RARP
    /// QEMU has the vhost library send after a live migration becomes announcements.
    #[inline]
    pub fn from_guest(&self, sender: SlaveId, c: Option<&Classified>) -> Verdict {
        match c {
            Some(c) if c.ethertype == ETHERTYPE_RARP && !c.tagged => Verdict::Announce(sender),
            _ => self.from_slave(sender, c),
        }
    }

    /// A slave's unicast to a MAC not its own (or any unicast, with vepa) goes to the wire:
    /// decided from the MACs alone, the common case of a slave's traffic.
    #[inline(always)]
    fn to_wire(&self, frame: &[u8]) -> bool {
        frame.len() >= ETH_HLEN
            && frame[0] & 1 == 0
            && (self.flags == PortFlags::Vepa || frame[0..6] != frame[6..12])
    }

    /// `from_slave` of the frame whose first bytes (of `frame_len`) are `frame`, classified
    /// only when the MACs do not settle it.
    #[inline(always)]
    pub fn from_slave_frame(&self, sender: SlaveId, frame: &[u8], frame_len: usize) -> Verdict {
        match self.to_wire(frame) {
            true => Verdict::Phy,
            false => self.from_slave(sender, classify(frame, frame_len).as_ref()),
        }
    }

    /// `from_guest` of a frame, as `from_slave_frame` (a RARP is never settled by its MACs).
    #[inline(always)]
    pub fn from_guest_frame(&self, sender: SlaveId, frame: &[u8], frame_len: usize) -> Verdict {
        match self.to_wire(frame) && frame[12..14] != ETHERTYPE_RARP.to_be_bytes() {
            true => Verdict::Phy,
            false => self.from_guest(sender, classify(frame, frame_len).as_ref()),
        }
    }

    /// `from_phy` of the frame whose first bytes (of `frame_len`) are `frame`: an untagged
    /// unicast with a key needs only its destination key, anything else is classified.
    #[inline(always)]
    pub fn from_phy_frame(&self, frame: &[u8], frame_len: usize) -> Verdict {
        match self.from_phy_unicast(frame, frame_len) {
            Some(Ok(owner)) => Verdict::Slave(owner),
            Some(Err(reason)) => Verdict::Host(reason),
            None => self.from_phy(classify(frame, frame_len).as_ref()),
        }
    }

    /// The common case of `from_phy_frame`, an untagged unicast with a key: its owner, or
    /// why it goes to the host; `None` for any other frame. Apart from the `Verdict`, so that
    /// the datapath can deliver it without building and matching one.
    #[inline(always)]
    pub fn from_phy_unicast(&self, frame: &[u8], frame_len: usize) -> Option<Result<SlaveId, DropReason>> {
        // Apart, so that the usual frame's key stays in a register (a merged Option went to
        // the stack).
        if let Some(key) = usual_unicast_destination(frame, frame_len) {
            return Some(self.by_destination(Some(key)));
        }
        other_unicast_destination(frame, frame_len).map(|key| self.by_destination(Some(key)))
    }

    /// A frame from the wire (ipvlan_handle_mode_l2).
    #[inline]
    pub fn from_phy(&self, c: Option<&Classified>) -> Verdict {
        let Some(c) = c else {
            return Verdict::Drop(DropReason::Malformed);
        };
        if !c.is_multicast() {
            return match self.by_destination(c.dst_key) {
                Ok(owner) => Verdict::Slave(owner),
                Err(reason) => Verdict::Host(reason),
            };
        }
        // A slave's own multicast reflected back from outside was already copied locally when
        // it was sent: only the host gets it. PAUSE (its tag, if any, stripped on receive, as
        // the kernel's skb->protocol is) is for the host only too.
        let reflected = c.src == self.master_mac && self.owner(c.src_key).is_some();
        Verdict::Flood(Flood {
            except: None,
            to_slaves: !reflected && c.ethertype != ETHERTYPE_PAUSE,
            to_phy: false,
            to_host: true,
        })
    }

    /// Does `slave` take a copy of a multicast frame to `dst`? Only if it is up.
    #[inline]
    pub fn takes_multicast(&self, slave: SlaveId, dst: &[u8; 6]) -> bool {
        let filter = self.multicast.filters.get(usize::from(slave));
        self.states.is_up(slave) && filter.is_some_and(|f| f.takes(dst))
    }
}
