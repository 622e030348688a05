//! Mode l3s's filtering stage, standing in for the master's netfilter: per slave and per
//! direction (ingress: to the slave, from the wire or another slave; egress: from it), ordered
//! allow/deny rules on source and destination network, protocol and port ranges, the first
//! match deciding, else the direction's default; and, for ingress, the replies to connections
//! the slave opened (`Connections`). Every rule counts its hits.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

use crate::classify::{Key, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_HLEN, IPPROTO_ICMPV6};
use crate::dispatch::{DropReason, Verdict};
use crate::routes::masked;
use crate::table::SlaveId;

pub const IPPROTO_ICMP: u8 = 1;
pub const IPPROTO_TCP: u8 = 6;
pub const IPPROTO_UDP: u8 = 17;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Allow,
    Deny,
}

impl Action {
    /// As the configuration writes it.
    pub fn name(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        }
    }
}

/// What the rules look at: the IP header's addresses and protocol, and the TCP/UDP ports
/// (an ICMP echo's identifier as both ports, so that the reply is the request reversed; other
/// ICMP, a fragment after the first and other protocols have ports 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Flow {
    pub src: Key,
    pub dst: Key,
    pub proto: u8,
    pub src_port: u16,
    pub dst_port: u16,
}

impl Flow {
    /// The flow of an untagged IPv4 or IPv6 frame whose header is present; `None` for
    /// anything else (ARP, which the filter lets through, as netfilter's IP tables do). IPv6
    /// extension headers are not walked: the first next header is the protocol.
    pub fn of(frame: &[u8]) -> Option<Flow> {
        let be16 = |at: usize| frame.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
        let (src, dst, proto, l4, first_fragment) = match be16(12)? {
            ETHERTYPE_IPV4 if frame.len() >= ETH_HLEN + 20 && frame[ETH_HLEN] >> 4 == 4 => {
                let word = |at: usize| u32::from_be_bytes(frame[at..at + 4].try_into().unwrap());
                let header = usize::from(frame[ETH_HLEN] & 0x0f) * 4;
                let offset = be16(ETH_HLEN + 6)? & 0x1fff;
                let (src, dst) = (Key::V4(word(26)), Key::V4(word(30)));
                (src, dst, frame[ETH_HLEN + 9], ETH_HLEN + header, offset == 0)
            }
            ETHERTYPE_IPV6 if frame.len() >= ETH_HLEN + 40 => {
                let address = |at: usize| u128::from_be_bytes(frame[at..at + 16].try_into().unwrap());
                let (src, dst) = (Key::V6(address(22)), Key::V6(address(38)));
                (src, dst, frame[ETH_HLEN + 6], ETH_HLEN + 40, true)
            }
            _ => return None,
        };
        let (src_port, dst_port) = match (proto, first_fragment) {
            (IPPROTO_TCP | IPPROTO_UDP, true) => (be16(l4).unwrap_or(0), be16(l4 + 2).unwrap_or(0)),
            (IPPROTO_ICMP, true) if matches!(frame.get(l4), Some(0 | 8)) => echo_ports(frame, l4),
            (IPPROTO_ICMPV6, true) if matches!(frame.get(l4), Some(128 | 129)) => echo_ports(frame, l4),
            _ => (0, 0),
        };
        Some(Flow {
            src,
            dst,
            proto,
            src_port,
            dst_port,
        })
    }

    /// The flow of the replies.
    pub fn reversed(&self) -> Flow {
        Flow {
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            ..*self
        }
    }
}

fn echo_ports(frame: &[u8], l4: usize) -> (u16, u16) {
    let id = frame
        .get(l4 + 4..l4 + 6)
        .map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    (id, id)
}

/// A network a rule matches: its masked address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    network: Key,
    prefix: u8,
}

impl Net {
    pub fn new(address: IpAddr, prefix: u8) -> Net {
        Net {
            network: masked(Key::from(address), prefix),
            prefix,
        }
    }

    #[inline]
    fn holds(&self, address: Key) -> bool {
        masked(address, self.prefix) == self.network
            && matches!(
                (address, self.network),
                (Key::V4(_), Key::V4(_)) | (Key::V6(_), Key::V6(_))
            )
    }
}

/// One rule: every part given must match (a port range only matches TCP and UDP, which conf
/// requires of a rule with ports).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub action: Action,
    pub from: Option<Net>,
    pub to: Option<Net>,
    pub proto: Option<u8>,
    pub from_ports: Option<(u16, u16)>,
    pub to_ports: Option<(u16, u16)>,
}

impl Rule {
    #[inline]
    fn matches(&self, flow: &Flow) -> bool {
        let within = |range: Option<(u16, u16)>, port: u16| {
            range.is_none_or(|(low, high)| (low..=high).contains(&port))
        };
        self.proto.is_none_or(|p| p == flow.proto)
            && self.from.is_none_or(|n| n.holds(flow.src))
            && self.to.is_none_or(|n| n.holds(flow.dst))
            && within(self.from_ports, flow.src_port)
            && within(self.to_ports, flow.dst_port)
    }
}

/// One direction's filter of one slave.
#[derive(Debug)]
pub struct Filter {
    rules: Box<[Rule]>,
    default: Action,
    /// Ingress: replies to the connections the slave opened pass before the rules.
    established: bool,
    /// By rule, then the default's.
    hits: Box<[AtomicU64]>,
}

impl Filter {
    pub fn new(rules: Vec<Rule>, default: Action, established: bool) -> Filter {
        Filter {
            hits: (0..=rules.len()).map(|_| AtomicU64::new(0)).collect(),
            rules: rules.into_boxed_slice(),
            default,
            established,
        }
    }

    /// The first matching rule's action, else the default; its hit counted.
    #[inline]
    pub fn decide(&self, flow: &Flow) -> Action {
        let (at, action) = match self.rules.iter().position(|rule| rule.matches(flow)) {
            Some(at) => (at, self.rules[at].action),
            None => (self.rules.len(), self.default),
        };
        self.hits[at].fetch_add(1, Relaxed);
        action
    }

    pub fn established(&self) -> bool {
        self.established
    }

    /// Whether `other` decides as this one does (its counts aside).
    pub fn same_rules(&self, other: &Filter) -> bool {
        (&self.rules, self.default, self.established) == (&other.rules, other.default, other.established)
    }

    /// The hits of each rule, then of the default.
    pub fn hits(&self) -> impl Iterator<Item = u64> + '_ {
        self.hits.iter().map(|hits| hits.load(Relaxed))
    }
}

/// A slave's filters; a direction without one allows everything.
#[derive(Debug, Default)]
pub struct SlaveFilters {
    pub ingress: Option<Filter>,
    pub egress: Option<Filter>,
}

impl SlaveFilters {
    /// Whether `other` filters as these do (their counts aside).
    pub fn same_rules(&self, other: &SlaveFilters) -> bool {
        let same = |a: &Option<Filter>, b: &Option<Filter>| match (a, b) {
            (Some(a), Some(b)) => a.same_rules(b),
            (a, b) => a.is_none() && b.is_none(),
        };
        same(&self.ingress, &other.ingress) && same(&self.egress, &other.egress)
    }
}

/// Mode l3s: the filters of every slave (by `SlaveId`) and the connections they opened.
pub struct Filters<'a> {
    pub slaves: &'a [Option<std::sync::Arc<SlaveFilters>>],
    pub connections: &'a Connections,
    /// The clock `Connections` counts in (the datapath's: TSC cycles).
    pub now: u64,
}

impl Filters<'_> {
    /// Mode l3's `verdict` for a frame slave `sender` sent, filtered: by the sender's egress
    /// filter, then (to another slave) by the receiver's ingress. What the sender may send
    /// opens a connection, whose replies its ingress filter lets through if it says so.
    /// Answers and the resolver's frames are neighbour traffic: not filtered.
    #[inline]
    pub fn from_slave(&self, sender: SlaveId, verdict: Verdict, frame: &[u8]) -> Verdict {
        if !matches!(
            verdict,
            Verdict::Slave(_) | Verdict::Gateway(_) | Verdict::Route | Verdict::Host(_)
        ) {
            return verdict;
        }
        let Some(flow) = Flow::of(frame) else {
            return verdict;
        };
        let own = self.of(sender);
        if own
            .egress
            .as_ref()
            .is_some_and(|f| f.decide(&flow) == Action::Deny)
        {
            return Verdict::Drop(DropReason::Filtered);
        }
        if own.ingress.as_ref().is_some_and(Filter::established) {
            self.connections.opened(&flow, self.now);
        }
        match verdict {
            Verdict::Slave(receiver) => self.to_slave(receiver, verdict, &flow),
            _ => verdict,
        }
    }

    /// Mode l3's `verdict` for a frame from the wire, filtered by the receiving slave's
    /// ingress filter.
    #[inline]
    pub fn from_phy(&self, verdict: Verdict, frame: &[u8]) -> Verdict {
        let Verdict::Slave(receiver) = verdict else {
            return verdict;
        };
        match Flow::of(frame) {
            Some(flow) => self.to_slave(receiver, verdict, &flow),
            None => verdict,
        }
    }

    fn to_slave(&self, receiver: SlaveId, verdict: Verdict, flow: &Flow) -> Verdict {
        let Some(ingress) = &self.of(receiver).ingress else {
            return verdict;
        };
        if ingress.established && self.connections.is_reply(flow, self.now) {
            return verdict;
        }
        match ingress.decide(flow) {
            Action::Allow => verdict,
            Action::Deny => Verdict::Drop(DropReason::Filtered),
        }
    }

    fn of(&self, slave: SlaveId) -> &SlaveFilters {
        static NONE: SlaveFilters = SlaveFilters {
            ingress: None,
            egress: None,
        };
        match self.slaves.get(usize::from(slave)) {
            Some(Some(filters)) => filters,
            _ => &NONE,
        }
    }
}

/// The connections slaves opened, by a keyed 64-bit fingerprint of their replies' flow, each
/// until its timeout from its last packet: a fixed table of sets of `WAYS` entries, shared by
/// the lcores without locks (lossy, never unbounded: a full set evicts its oldest, counted;
/// two lcores racing for a slot may lose one entry, whose next packet makes it again). No TCP
/// state machine: any packet of a flow opens or refreshes it, a TCP one for `tcp_timeout`.
pub struct Connections {
    entries: Box<[Entry]>,
    sets: usize,
    keys: RandomState,
    tcp_timeout: u64,
    other_timeout: u64,
    evicted: AtomicU64,
}

const WAYS: usize = 4;

#[derive(Default)]
struct Entry {
    /// 0: empty.
    fingerprint: AtomicU64,
    expires: AtomicU64,
}

impl Connections {
    /// A table of at least `capacity` entries (a power of two), with the timeouts in the
    /// caller's clock.
    pub fn new(capacity: usize, tcp_timeout: u64, other_timeout: u64) -> Connections {
        let sets = capacity.div_ceil(WAYS).next_power_of_two().max(1);
        Connections {
            entries: (0..sets * WAYS).map(|_| Entry::default()).collect(),
            sets,
            keys: RandomState::new(),
            tcp_timeout,
            other_timeout,
            evicted: AtomicU64::new(0),
        }
    }

    fn fingerprint(&self, flow: &Flow) -> u64 {
        self.keys.hash_one(flow).max(1)
    }

    fn set(&self, fingerprint: u64) -> &[Entry] {
        let first = (fingerprint as usize & (self.sets - 1)) * WAYS;
        &self.entries[first..first + WAYS]
    }

    /// A slave sent `flow` at `now`: its replies are expected until the timeout.
    pub fn opened(&self, flow: &Flow, now: u64) {
        let fingerprint = self.fingerprint(&flow.reversed());
        let timeout = match flow.proto {
            IPPROTO_TCP => self.tcp_timeout,
            _ => self.other_timeout,
        };
        let set = self.set(fingerprint);
        let slot = set
            .iter()
            .find(|e| e.fingerprint.load(Relaxed) == fingerprint)
            .or_else(|| set.iter().find(|e| e.expires.load(Relaxed) <= now))
            .unwrap_or_else(|| {
                self.evicted.fetch_add(1, Relaxed);
                set.iter()
                    .min_by_key(|e| e.expires.load(Relaxed))
                    .expect("a set has entries")
            });
        slot.fingerprint.store(fingerprint, Relaxed);
        slot.expires.store(now.saturating_add(timeout), Relaxed);
    }

    /// Whether `flow` replies to a connection open at `now`.
    pub fn is_reply(&self, flow: &Flow, now: u64) -> bool {
        let fingerprint = self.fingerprint(flow);
        self.set(fingerprint)
            .iter()
            .any(|e| e.fingerprint.load(Relaxed) == fingerprint && e.expires.load(Relaxed) > now)
    }

    /// How many connections are open at `now` (walks the table: for reports).
    pub fn open(&self, now: u64) -> usize {
        let open = |e: &&Entry| e.fingerprint.load(Relaxed) != 0 && e.expires.load(Relaxed) > now;
        self.entries.iter().filter(open).count()
    }

    /// How many open connections a full set pushed out.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Relaxed)
    }

    pub fn capacity(&self) -> usize {
        self.entries.len()
    }
}
