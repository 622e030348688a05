//! The run-to-completion loop of one forwarding lcore: poll its rx queues in bursts, classify,
//! dispatch, batch per destination port, and send the batches after a few bursts at most. No
//! allocation, lock, syscall or formatting per packet.

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

use dpdk_wrap::{rdtsc, EpochReader, Mbuf, MbufBatch, Mempool, Published, Ring, BURST};
use switch_core::classify::{classify, unicast_destination, Key, ETH_HLEN};
use switch_core::dispatch::{Dispatch, DropReason, Flood, Verdict};
use switch_core::filter::{Connections, Filters, SlaveFilters};
use switch_core::guest_mac::{self, GuestMacs};
use switch_core::icmp::{self, Unreachable, UNREACHABLE_MAX};
use switch_core::neighbour::{self, Neighbours, ANSWER_MAX};
use switch_core::routes::{GatewayId, Routes};
use switch_core::table::SlaveId;

use crate::counters::{LcoreCounters, PortCounters};
use crate::port::{Rx, Tx};

/// Index of a port in the switch: the phy, then the host port if any, then the slaves.
pub type PortIndex = usize;
pub const PHY: PortIndex = 0;

/// What a port is to the dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Phy,
    Host,
    Slave(SlaveId),
    /// A slave whose peer is a vhost guest: its MAC may be its own (see `guest_mac`).
    Guest(SlaveId),
}

/// An rx queue this lcore polls.
pub struct Poll {
    port: PortIndex,
    role: Role,
    rx: Rx,
    /// Polls in a row that brought nothing.
    empty_polls: u32,
}

impl Poll {
    /// A queue polled every round from the start.
    pub fn new(port: PortIndex, role: Role, rx: Rx) -> Poll {
        Poll {
            port,
            role,
            rx,
            empty_polls: 0,
        }
    }

    /// A queue of a port added at run time: idle (polled in turn) until its first frame.
    pub fn idle(port: PortIndex, role: Role, rx: Rx) -> Poll {
        Poll {
            empty_polls: EMPTY_POLLS_TO_IDLE,
            ..Poll::new(port, role, rx)
        }
    }
}

/// What the lcores read, replaced whole on a change: by the control side (slaves, addresses,
/// routes) and by the neighbour resolver (what it resolved), each keeping the other's part.
#[derive(Clone)]
pub struct Tables {
    pub dispatch: Arc<Dispatch>,
    /// By SlaveId, the frames that announce the slave's addresses on the phy.
    pub announcements: Arc<Vec<Vec<Vec<u8>>>>,
    /// Mode l3 (routes, static neighbours), or `None`: mode l2.
    pub l3: Option<Arc<L3Tables>>,
    /// Mode l3: the next hops' MACs the resolver resolved.
    pub next_hops: Arc<NextHops>,
    /// Mode l3s: the slaves' filters, or `None`.
    pub filters: Option<Arc<FilterTables>>,
}

/// Mode l3s: each slave's filters (by SlaveId; `None`: unfiltered), kept across rebuilds
/// where they did not change (so are their hit counts), and the one connection table.
pub struct FilterTables {
    pub slaves: Vec<Option<Arc<SlaveFilters>>>,
    pub connections: Arc<Connections>,
}

/// What mode l3 routes with.
pub struct L3Tables {
    pub routes: Routes,
    /// The configured `[[neighbour]]` entries.
    pub neighbours: Neighbours,
    /// Answer ARP/NS on the phy for the slaves' addresses.
    pub proxy: bool,
    /// The master's first address of each family (IPv4, IPv6): where ICMP errors come from.
    pub sources: (Option<Key>, Option<Key>),
}

impl Tables {
    /// The MAC of next hop `via`: configured, or resolved.
    #[inline]
    pub fn neighbour(&self, via: Key) -> Option<[u8; 6]> {
        let configured = self.l3.as_ref().and_then(|l3| l3.neighbours.get(via));
        configured.or_else(|| self.next_hops.resolved.get(via))
    }
}

/// Mode l3: the MACs of the next hops the resolver resolved and, by `GatewayId`, the Ethernet
/// addresses of a frame routed through each route's gateway (its MAC, configured or resolved,
/// then the master's), made again when either changes: most routed frames go through a
/// gateway, whose addresses are then one 12-byte read away.
#[derive(Default)]
pub struct NextHops {
    pub resolved: Neighbours,
    /// All-zero destination: not known.
    gateways: Box<[EthAddresses]>,
}

/// A frame's destination and source MACs, as its first 12 bytes.
pub(crate) type EthAddresses = [u8; 12];

/// `dst` then `src`.
pub(crate) fn eth_addresses(dst: &[u8; 6], src: &[u8; 6]) -> EthAddresses {
    let mut addresses = [0; 12];
    addresses[..6].copy_from_slice(dst);
    addresses[6..].copy_from_slice(src);
    addresses
}

impl NextHops {
    pub fn new(l3: Option<&L3Tables>, resolved: Neighbours, master_mac: [u8; 6]) -> NextHops {
        let mut gateways = Vec::new();
        if let Some(l3) = l3 {
            gateways.resize(l3.routes.gateway_ids() as usize, [0; 12]);
            for (id, via) in l3.routes.gateways() {
                let mac = l3.neighbours.get(via).or_else(|| resolved.get(via));
                gateways[id as usize] = eth_addresses(&mac.unwrap_or_default(), &master_mac);
            }
        }
        NextHops {
            resolved,
            gateways: gateways.into_boxed_slice(),
        }
    }

    /// The addresses of a frame through gateway `id`, if its MAC is known.
    #[inline(always)]
    pub fn gateway(&self, id: GatewayId) -> Option<&EthAddresses> {
        self.gateways
            .get(id as usize)
            .filter(|addresses| addresses[..6] != [0; 6])
    }
}

/// A change of one lcore's own queues, sent by the control side and applied between rounds.
pub enum LcoreChange {
    /// Port `port` is added: poll `polls`, send to it on `tx`, frames up to `max_frame`.
    Attach {
        port: PortIndex,
        polls: Vec<Poll>,
        tx: Tx,
        max_frame: u32,
    },
    /// Port `port` goes: what waits for it is sent, its queues dropped.
    Detach { port: PortIndex },
    /// Copies of every frame port `.0` receives and is sent go to `.1` (a capture device), or
    /// no longer (`None`).
    Mirror(Option<(PortIndex, Tx)>),
}

/// A port being captured: copies of its frames, both ways, go out on this lcore's queue of a
/// capture device (which `dpdk-dumpcap` reads through DPDK's pdump callbacks).
struct Mirror {
    port: PortIndex,
    tx: Tx,
    batch: MbufBatch,
    /// Copies the pool or the capture device had no room for.
    lost: u64,
}

impl Mirror {
    /// Sends a copy of each frame of `frames` to the capture device.
    #[cold]
    fn copy(&mut self, frames: &[Mbuf], pool: &Mempool) {
        for m in frames {
            match m.copy(pool) {
                Ok(copy) => {
                    // The batch is sent whenever full, so there is room.
                    let _ = self.batch.push(copy);
                    if self.batch.is_full() {
                        self.send();
                    }
                }
                Err(_) => self.lost += 1,
            }
        }
        self.send();
    }

    fn send(&mut self) {
        self.tx.send(&mut self.batch);
        self.lost += self.batch.free_all() as u64;
    }
}

/// How far ahead of the packet being classified its successor's header is prefetched.
const PREFETCH_AHEAD: usize = 2;
/// Empty polls in a row after which a queue counts as idle.
const EMPTY_POLLS_TO_IDLE: u32 = 64;
/// Received frames after which every waiting batch is sent. Batches gather across bursts (fewer
/// tx calls when frames spread over many ports) but only this far: frames held longer, for
/// many destinations, go cold in the cache before they are sent.
pub const FLUSH_AFTER: usize = 128;
/// Idle queues polled per round, in turn. With a thousand idle slaves, polling each every
/// round would cost more than the traffic; in turn, an idle queue waits a few hundred rounds
/// (well under a millisecond under load, far less when idle) and is busy again from its
/// first frame.
const IDLE_POLLS_PER_ROUND: usize = 2;

/// The state one forwarding lcore owns: never shared.
pub struct Worker {
    /// Busy queues first (`..busy`), polled every round; the idle ones after them.
    polls: Vec<Poll>,
    busy: usize,
    /// Which idle queue is polled next.
    next_idle: usize,
    /// Frames received since the waiting batches were last sent.
    since_flush: usize,
    out: Outputs,
    tables: Arc<Published<Tables>>,
    changes: Receiver<LcoreChange>,
    /// Mode l3, on the first lcore: what the neighbour resolver sends on the phy, and to
    /// slaves (its ICMP errors).
    outbox: Option<ResolverOutbox>,
    /// The longest sleep after a round that brought nothing (zero: never sleeps).
    idle_sleep_max: Duration,
}

/// What the neighbour resolver hands the first lcore to send.
#[derive(Clone)]
pub struct ResolverOutbox {
    /// Requests and released frames, for the phy.
    pub to_phy: Ring,
    /// ICMP errors, each for the slave owning its destination.
    pub to_slaves: Ring,
}

/// Frames waiting for one destination port: this lcore's tx queue on it, the batch, what the
/// port takes. Cache-line aligned: the fields each frame touches (the batch's length, bytes,
/// `max_frame`, `guest`, `listed`) then share one line, after the batch's 32 pointers.
#[repr(align(64))]
struct Dest {
    tx: Tx,
    batch: MbufBatch,
    bytes: u64,
    /// On the dirty list.
    listed: bool,
    /// Longest frame the port takes (MTU + Ethernet header + one VLAN tag).
    max_frame: u32,
    /// A vhost guest's slave: its unicast frames get the guest's own MAC, if it has one.
    guest: Option<SlaveId>,
}

impl Dest {
    /// Port `port`'s queue `tx`; a guest's frames are addressed to its own MAC.
    fn new(port: PortIndex, tx: Tx, max_frame: u32, first_slave: PortIndex) -> Dest {
        Dest {
            guest: matches!(tx, Tx::Vhost(..)).then(|| (port - first_slave) as SlaveId),
            tx,
            batch: MbufBatch::new(),
            bytes: 0,
            listed: false,
            max_frame,
        }
    }

    /// Sends the batch with one tx burst; what the port refuses is freed and counted.
    #[inline]
    fn send(&mut self, c: &PortCounters) {
        let offered = self.batch.len() as u64;
        let sent = self.tx.send(&mut self.batch) as u64;
        c.tx_packets.add(sent);
        if sent < offered {
            let refused: u64 = self.batch.as_slice().iter().map(|m| u64::from(m.pkt_len())).sum();
            self.bytes -= refused;
            c.drop(DropReason::TxFull, offered - sent);
            self.batch.free_all();
        }
        c.tx_bytes.add(self.bytes);
        self.bytes = 0;
    }
}

/// What every lcore knows of the switch's ports besides its own queues on them.
pub struct PortMap {
    pub host: Option<PortIndex>,
    pub first_slave: PortIndex,
    pub master_mac: [u8; 6],
    /// The vhost guests' own MACs, by SlaveId.
    pub guest_macs: Arc<GuestMacs>,
    /// Where announcements and private copies come from.
    pub pool: Mempool,
    /// Mode l3: where frames for the neighbour resolver go (routed ones waiting for their next
    /// hop's MAC, ARP replies and NAs from the wire).
    pub resolver: Option<Ring>,
    /// TSC cycles per second (the ICMP error budget is per second).
    pub tsc_hz: u64,
}

/// ICMP errors an lcore sends at most, per second and in a burst (the kernel limits its own
/// to 1,000 per second, host-wide).
const ICMP_PER_SECOND: u64 = 100;
const ICMP_BURST: u64 = 10;

/// A token bucket for the ICMP errors of an lcore (or of the resolver).
pub(crate) struct IcmpBudget {
    tokens: u64,
    /// When the last token was earned (TSC).
    since: u64,
    tsc_hz: u64,
}

impl IcmpBudget {
    pub(crate) fn new(tsc_hz: u64) -> IcmpBudget {
        IcmpBudget {
            tokens: ICMP_BURST,
            since: rdtsc(),
            tsc_hz,
        }
    }

    /// Takes a token if there is one.
    fn take(&mut self) -> bool {
        let now = rdtsc();
        let earned = now.wrapping_sub(self.since) * ICMP_PER_SECOND / self.tsc_hz.max(1);
        if earned > 0 {
            self.tokens = (self.tokens + earned).min(ICMP_BURST);
            self.since = now;
        }
        let has = self.tokens > 0;
        self.tokens -= u64::from(has);
        has
    }

    /// The ICMP(v6) error `why` about `m`, from the master's address of its family among
    /// `sources` (IPv4, IPv6), if there is one and a token; `None` also for what gets no error.
    pub(crate) fn error(
        &mut self,
        m: &Mbuf,
        why: Unreachable,
        sources: (Option<Key>, Option<Key>),
        master: &[u8; 6],
        pool: &Mempool,
    ) -> Option<Mbuf> {
        let source = match m.data().get(12..14) {
            Some([0x08, 0x00]) => sources.0,
            _ => sources.1,
        }?;
        if !self.take() {
            return None;
        }
        let mut error = [0u8; UNREACHABLE_MAX];
        let len = icmp::unreachable(m.data(), why, source, master, &mut error)?;
        pool.frame(&error[..len]).ok()
    }
}

/// The master's first address of each family (IPv4, IPv6): where its ICMP errors come from.
pub(crate) fn error_sources(addresses: &[(IpAddr, u8)]) -> (Option<Key>, Option<Key>) {
    let first = |v4: bool| {
        addresses
            .iter()
            .find(|(a, _)| a.is_ipv4() == v4)
            .map(|(a, _)| Key::from(*a))
    };
    (first(true), first(false))
}

/// The transmit side of one lcore, indexed by PortIndex.
pub struct Outputs {
    dests: Vec<Dest>,
    /// Ports with frames waiting, each once: a flush touches only them, however many ports
    /// the switch has.
    dirty: Vec<PortIndex>,
    host: Option<PortIndex>,
    first_slave: PortIndex,
    map: Arc<PortMap>,
    /// Where the multicast frame being copied goes (room for every port, made once).
    flood_ports: Vec<PortIndex>,
    /// Frames dropped in this burst, freed together.
    trash: MbufBatch,
    /// The port being captured, if any.
    mirror: Option<Mirror>,
    icmp: IcmpBudget,
    /// Its index, or `NO_PORT`: one compare per burst and per send when nothing is captured.
    mirrored: PortIndex,
    /// The TSC at this round's start: mode l3s's connection clock.
    now: u64,
}

/// No port (nothing is mirrored).
const NO_PORT: PortIndex = PortIndex::MAX;

impl Outputs {
    /// `tx[port]` is this lcore's queue on each port, with the longest frame the port takes.
    pub fn new(tx: Vec<(Tx, u32)>, map: Arc<PortMap>) -> Outputs {
        let (first_slave, tsc_hz) = (map.first_slave, map.tsc_hz);
        let dests: Vec<Dest> = tx
            .into_iter()
            .enumerate()
            .map(|(port, (tx, max_frame))| Dest::new(port, tx, max_frame, first_slave))
            .collect();
        Outputs {
            dirty: Vec::with_capacity(dests.len()),
            flood_ports: Vec::with_capacity(dests.len()),
            dests,
            host: map.host,
            first_slave,
            map,
            trash: MbufBatch::new(),
            mirror: None,
            mirrored: NO_PORT,
            now: rdtsc(),
            icmp: IcmpBudget::new(tsc_hz),
        }
    }

    /// Sends port `to`'s waiting batch (a copy of it to the capture device first, if `to` is
    /// being captured).
    #[inline(always)]
    fn send(&mut self, to: PortIndex, counters: &LcoreCounters) {
        if to == self.mirrored {
            self.mirror_frames(to);
        }
        self.dests[to].send(&counters.ports[to]);
    }

    #[cold]
    fn mirror_frames(&mut self, port: PortIndex) {
        if let Some(mirror) = &mut self.mirror {
            mirror.copy(self.dests[port].batch.as_slice(), &self.map.pool);
        }
    }

    /// Port `port` is captured on `tx` from now on, or nothing is (`None`).
    fn set_mirror(&mut self, mirror: Option<(PortIndex, Tx)>) {
        if let Some(old) = &self.mirror {
            tracing::debug!(port = old.port, lost = old.lost, "capture ended");
        }
        self.mirrored = mirror.as_ref().map_or(NO_PORT, |(port, _)| *port);
        self.mirror = mirror.map(|(port, tx)| Mirror {
            port,
            tx,
            batch: MbufBatch::new(),
            lost: 0,
        });
    }

    #[inline(always)]
    fn discard(&mut self, m: Mbuf) {
        if let Err(m) = self.trash.push(m) {
            self.trash.free_all();
            let _ = self.trash.push(m);
        }
    }

    /// Queues `m` for port `to`; an oversize frame is dropped and counted on `to`. A unicast
    /// frame for a guest with a MAC of its own is addressed to that MAC.
    #[inline(always)]
    fn deliver(&mut self, to: PortIndex, mut m: Mbuf, multicast: bool, counters: &LcoreCounters) {
        // The fields borrowed apart, so that the port's record is indexed once.
        let Outputs {
            dests, dirty, map, ..
        } = self;
        let dest = &mut dests[to];
        // Read once: an addressed copy has the same length.
        let len = m.pkt_len();
        if len > dest.max_frame {
            counters.ports[to].drop(DropReason::Mtu, 1);
            return self.discard(m);
        }
        if multicast {
            counters.ports[to].multicast.add(1);
        } else if let Some(mac) = dest.guest.and_then(|s| map.guest_macs.get(s)) {
            m = match addressed_to(m, &map.master_mac, &mac, &map.pool) {
                Some(m) => m,
                None => return counters.ports[to].drop(DropReason::PoolEmpty, 1),
            };
        }
        if !dest.listed {
            dest.listed = true;
            dirty.push(to);
        }
        dest.bytes += u64::from(len);
        // A full batch is sent at once, so there is always room for this one.
        if dest.batch.push(m).is_err() {
            unreachable!("a full tx batch was not sent");
        }
        if dest.batch.is_full() {
            self.send(to, counters);
        }
    }

    /// The host port, or `None` after counting `reason` on the ingress port if there is none.
    #[inline(always)]
    fn host_or_count(&self, reason: DropReason, ingress: &PortCounters) -> Option<PortIndex> {
        if self.host.is_none() {
            ingress.drop(reason, 1);
        }
        self.host
    }

    /// Sends `m` to the host port; without one, it is dropped and `reason` counted on the
    /// ingress port.
    #[inline(always)]
    fn deliver_to_host(
        &mut self,
        m: Mbuf,
        reason: DropReason,
        ingress: &PortCounters,
        counters: &LcoreCounters,
    ) {
        match self.host_or_count(reason, ingress) {
            Some(host) => self.deliver(host, m, false, counters),
            None => self.discard(m),
        }
    }

    /// Copies a multicast frame to every destination the verdict names, sharing the buffer
    /// (one refcount update) rather than copying it.
    #[inline]
    fn flood(
        &mut self,
        m: Mbuf,
        dispatch: &Dispatch,
        flood: Flood,
        ingress: &PortCounters,
        counters: &LcoreCounters,
    ) {
        let dst: [u8; 6] = m.data()[0..6].try_into().unwrap();
        // One pass over the group's takers, into a list kept from frame to frame.
        let mut ports = std::mem::take(&mut self.flood_ports);
        ports.clear();
        if flood.to_slaves {
            let takes = |&&s: &&SlaveId| Some(s) != flood.except && dispatch.states.is_up(s);
            let slaves = dispatch.multicast.takers(&dst).iter().filter(takes);
            ports.extend(slaves.map(|&s| self.first_slave + usize::from(s)));
        }
        if flood.to_phy {
            ports.push(PHY);
        }
        if flood.to_host {
            ports.extend(self.host_or_count(DropReason::NoHost, ingress));
        }
        let copies = m.into_shares(ports.len() as u16);
        for (&to, copy) in ports.iter().zip(copies) {
            self.deliver(to, copy, true, counters);
        }
        self.flood_ports = ports;
    }

    /// Sends the frames announcing `slave`'s addresses on the phy (its guest moved).
    #[cold]
    fn announce(&mut self, frames: &[Vec<u8>], slave: SlaveId, counters: &LcoreCounters) {
        let map = self.map.clone();
        for frame in frames {
            let made = map.pool.frame(frame);
            match made {
                Ok(m) => self.deliver(PHY, m, true, counters),
                Err(_) => counters.ports[PHY].drop(DropReason::PoolEmpty, 1),
            }
        }
        tracing::info!(slave, frames = frames.len(), "addresses announced on the phy");
    }

    /// Sends every batch with frames waiting, one tx burst each.
    #[inline]
    fn flush(&mut self, counters: &LcoreCounters) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for &to in &dirty {
            let dest = &mut self.dests[to];
            dest.listed = false;
            if !dest.batch.is_empty() {
                self.send(to, counters);
            }
        }
        dirty.clear();
        self.dirty = dirty;
    }

    /// Port `port` is added: this lcore sends to it on `tx` (a vacant place is filled, or the
    /// list grows to it).
    fn attach(&mut self, port: PortIndex, tx: Tx, max_frame: u32) {
        let first_slave = self.first_slave;
        while self.dests.len() <= port {
            let vacant = self.dests.len();
            self.dests.push(Dest::new(vacant, Tx::Detached, 0, first_slave));
        }
        self.dests[port] = Dest::new(port, tx, max_frame, first_slave);
        self.dirty.reserve(self.dests.len());
        self.flood_ports.reserve(self.dests.len());
    }

    /// Port `port` goes: what waits for it is sent first (the tables no longer name it, so
    /// nothing more comes), then its queue is dropped.
    fn detach(&mut self, port: PortIndex, counters: &LcoreCounters) {
        self.flush(counters);
        let first_slave = self.first_slave;
        self.dests[port] = Dest::new(port, Tx::Detached, 0, first_slave);
    }

    /// Dispatches one received burst from `from`; full tx batches go out at once. One loop per
    /// role, so that the per-frame work has no branch on it.
    #[inline]
    fn handle_burst(
        &mut self,
        tables: &Tables,
        from: PortIndex,
        role: Role,
        batch: &mut MbufBatch,
        counters: &LcoreCounters,
    ) {
        let dispatch = &*tables.dispatch;
        if let Some(l3) = &tables.l3 {
            return self.handle_l3_burst(tables, l3, from, role, batch, counters);
        }
        match role {
            Role::Phy => self.dispatch_burst(
                tables,
                from,
                batch,
                counters,
                |out, m, len, ingress| {
                    match dispatch.from_phy_unicast(m.data(), len) {
                        Some(Ok(owner)) => {
                            out.deliver(out.first_slave + usize::from(owner), m, false, counters)
                        }
                        Some(Err(reason)) => out.deliver_to_host(m, reason, ingress, counters),
                        None => return Some(m),
                    }
                    None
                },
                |_, m, len| dispatch.from_phy(classify(m.data(), len).as_ref()),
            ),
            Role::Slave(s) => self.dispatch_burst(tables, from, batch, counters, no_shortcut, |_, m, len| {
                dispatch.from_slave_frame(s, m.data(), len)
            }),
            Role::Guest(s) => {
                self.dispatch_burst(tables, from, batch, counters, no_shortcut, |map, m, len| {
                    hide_guest_mac(map, s, m);
                    dispatch.from_guest_frame(s, m.data(), len)
                })
            }
            // The master's own transmissions bypass ipvlan.
            Role::Host => {
                self.dispatch_burst(tables, from, batch, counters, no_shortcut, |_, _, _| Verdict::Phy)
            }
        }
    }

    /// `handle_burst` in mode l3: a frame from the wire goes to the slave owning its
    /// destination with the master's MAC as destination (whatever it carried), a slave's is
    /// routed or answered.
    #[inline]
    fn handle_l3_burst(
        &mut self,
        tables: &Tables,
        l3: &L3Tables,
        from: PortIndex,
        role: Role,
        batch: &mut MbufBatch,
        counters: &LcoreCounters,
    ) {
        let dispatch = &*tables.dispatch;
        let (routes, proxy) = (&l3.routes, l3.proxy);
        let filters = tables.filters.as_deref().map(|f| Filters {
            slaves: &f.slaves,
            connections: &f.connections,
            now: self.now,
        });
        let filters = filters.as_ref();
        match role {
            Role::Phy => self.dispatch_burst(tables, from, batch, counters, no_shortcut, |map, m, len| {
                let mut verdict = dispatch.from_phy_l3(routes, proxy, m.data(), len);
                if let Some(f) = filters {
                    verdict = f.from_phy(verdict, m.data());
                }
                if let Verdict::Slave(_) = verdict {
                    to_master_mac(map, m);
                }
                verdict
            }),
            // A function each arm calls, not a closure both share: a shared closure had two
            // call sites, stayed out of line and returned its verdict through the stack, whose
            // reload stalled on the partial stores that wrote it. Inlined, it stays in registers.
            Role::Slave(s) => self.dispatch_burst(
                tables,
                from,
                batch,
                counters,
                // Unfiltered, a frame through a gateway is routed at once (l3s filters it first).
                |out, m, len, ingress| {
                    let gateway = match filters {
                        None => dispatch.from_slave_l3_gateway(routes, m.data(), len),
                        Some(_) => None,
                    };
                    let Some(gateway) = gateway else {
                        return Some(m);
                    };
                    out.route(m, tables.next_hops.gateway(gateway), ingress, counters);
                    None
                },
                |_, m, len| slave_l3_verdict(dispatch, routes, filters, s, m.data(), len),
            ),
            Role::Guest(s) => {
                self.dispatch_burst(tables, from, batch, counters, no_shortcut, |map, m, len| {
                    hide_guest_mac(map, s, m);
                    slave_l3_verdict(dispatch, routes, filters, s, m.data(), len)
                })
            }
            Role::Host => {
                self.dispatch_burst(tables, from, batch, counters, no_shortcut, |_, _, _| Verdict::Phy)
            }
        }
    }

    /// Sends `m` to the phy through its next hop, with `addresses` (the next hop's MAC as
    /// destination, the master's as source). A next hop without a known MAC hands it to the
    /// resolver. Forced inline, with `from_slave_l3`: ~9 % fewer cycles per routed frame.
    #[inline(always)]
    fn route(
        &mut self,
        m: Mbuf,
        addresses: Option<&EthAddresses>,
        ingress: &PortCounters,
        counters: &LcoreCounters,
    ) {
        let Some(addresses) = addresses else {
            return self.hand_to_resolver(m, ingress);
        };
        match readdressed(m, addresses, &self.map.pool) {
            Some(m) => self.deliver(PHY, m, false, counters),
            None => counters.ports[PHY].drop(DropReason::PoolEmpty, 1),
        }
    }

    /// Tells the sender of `m`, which has no route, so with an ICMP(v6) "destination
    /// unreachable" from the master's address, back on port `to`, within this lcore's budget.
    #[cold]
    fn unreachable(&mut self, m: &Mbuf, to: PortIndex, tables: &Tables, counters: &LcoreCounters) {
        let Some(l3) = &tables.l3 else {
            return;
        };
        let (master, pool) = (&self.map.master_mac, &self.map.pool);
        if let Some(reply) = self.icmp.error(m, Unreachable::NoRoute, l3.sources, master, pool) {
            self.deliver(to, reply, false, counters);
        }
    }

    /// Sends `m`, a frame the switch made, to the slave owning its destination address (none:
    /// freed).
    #[cold]
    fn deliver_to_owner(&mut self, m: Mbuf, tables: &Tables, counters: &LcoreCounters) {
        let owner = classify(m.data(), m.pkt_len() as usize)
            .and_then(|c| c.dst_key)
            .and_then(|key| tables.dispatch.table.lookup(key));
        match owner {
            Some(slave) => self.deliver(self.first_slave + usize::from(slave), m, false, counters),
            None => self.discard(m),
        }
    }

    /// Hands `m` to the neighbour resolver; if its queue is full, `m` is dropped and counted.
    #[cold]
    fn hand_to_resolver(&mut self, m: Mbuf, ingress: &PortCounters) {
        let taken = match &self.map.resolver {
            Some(ring) => ring.enqueue_one(m),
            None => false,
        };
        if !taken {
            ingress.drop(DropReason::NoNeighbour, 1);
        }
    }

    /// Answers an ARP request or NS (the verdict said it is one: a slave's, or the wire's for the
    /// master) with the master's MAC, back where it came from; the request itself is consumed.
    #[cold]
    fn answer(&mut self, m: Mbuf, to: PortIndex, counters: &LcoreCounters) {
        let mut answer = [0u8; ANSWER_MAX];
        let reply = neighbour::answer(m.data(), &self.map.master_mac, &mut answer)
            .and_then(|len| self.map.pool.frame(&answer[..len]).ok());
        self.discard(m);
        match reply {
            Some(reply) => self.deliver(to, reply, false, counters),
            None => counters.ports[to].drop(DropReason::PoolEmpty, 1),
        }
    }

    /// `handle_burst` with the verdict of each frame (of its length) from `decide`, unless
    /// `shortcut` settles the frame first (the common case of the role, sent on without a
    /// `Verdict`: building and matching one measured ~20 instructions); it hands back a frame
    /// it does not settle.
    #[inline(always)]
    fn dispatch_burst(
        &mut self,
        tables: &Tables,
        from: PortIndex,
        batch: &mut MbufBatch,
        counters: &LcoreCounters,
        shortcut: impl Fn(&mut Outputs, Mbuf, usize, &PortCounters) -> Option<Mbuf>,
        decide: impl Fn(&PortMap, &mut Mbuf, usize) -> Verdict,
    ) {
        if from == self.mirrored {
            if let Some(mirror) = &mut self.mirror {
                mirror.copy(batch.as_slice(), &self.map.pool);
            }
        }
        let ingress = &counters.ports[from];
        ingress.rx_packets.add(batch.len() as u64);
        let mut bytes = 0u64;
        let mut drain = batch.drain();
        while let Some(m) = drain.next() {
            if let Some(next) = drain.peek_ahead(PREFETCH_AHEAD - 1) {
                next.prefetch_data();
            }
            let frame_len = m.pkt_len() as usize;
            bytes += frame_len as u64;
            let Some(mut m) = shortcut(self, m, frame_len, ingress) else {
                continue;
            };
            let verdict = decide(&self.map, &mut m, frame_len);
            match verdict {
                Verdict::Slave(s) => self.deliver(self.first_slave + usize::from(s), m, false, counters),
                Verdict::Phy => self.deliver(PHY, m, false, counters),
                Verdict::Host(reason) => self.deliver_to_host(m, reason, ingress, counters),
                Verdict::Drop(reason) => {
                    ingress.drop(reason, 1);
                    if reason == DropReason::NoRoute {
                        self.unreachable(&m, from, tables, counters);
                    }
                    self.discard(m);
                }
                Verdict::Flood(flood) => self.flood(m, &tables.dispatch, flood, ingress, counters),
                Verdict::Announce(s) => {
                    ingress.drop(DropReason::Rarp, 1);
                    self.discard(m);
                    self.announce(&tables.announcements[usize::from(s)], s, counters);
                }
                Verdict::Route => {
                    let next_hop = unicast_destination(m.data(), frame_len).and_then(|d| tables.neighbour(d));
                    let addresses = next_hop.map(|mac| eth_addresses(&mac, &self.map.master_mac));
                    self.route(m, addresses.as_ref(), ingress, counters)
                }
                Verdict::Gateway(id) => self.route(m, tables.next_hops.gateway(id), ingress, counters),
                Verdict::Answer => self.answer(m, from, counters),
                Verdict::ToResolver => self.hand_to_resolver(m, ingress),
            }
        }
        drop(drain);
        ingress.rx_bytes.add(bytes);
        self.trash.free_all();
    }
}

impl Worker {
    /// A forwarding lcore's worker, reading `tables` and taking its queue changes from
    /// `changes`; every queue starts busy.
    pub fn new(
        polls: Vec<Poll>,
        out: Outputs,
        tables: Arc<Published<Tables>>,
        changes: Receiver<LcoreChange>,
        idle_sleep_max: Duration,
        outbox: Option<ResolverOutbox>,
    ) -> Worker {
        Worker {
            busy: polls.len(),
            polls,
            next_idle: 0,
            since_flush: 0,
            out,
            tables,
            changes,
            outbox,
            idle_sleep_max,
        }
    }

    /// Polls until `stop` is set. Each round polls every busy queue and a few idle ones in
    /// turn. Waiting batches are sent once `FLUSH_AFTER` frames arrived since the last time
    /// (however many destinations: frames are still in the cache), and after any round that
    /// brought less than a burst (the load is light: nothing to gain by waiting). With an idle
    /// sleep bound, each round in a row that brought nothing sleeps twice as long as the one
    /// before (from 1 µs) up to the bound; the first frame ends it. Between rounds, at its
    /// quiescent point (`reader`), the lcore applies the queue changes sent to it.
    pub fn run(mut self, mut reader: EpochReader, counters: &LcoreCounters, stop: &AtomicBool) {
        let mut batch = MbufBatch::new();
        let mut idle_sleep = Duration::ZERO;
        let published = self.tables.clone();
        reader.passed();
        let mut round_start = rdtsc();
        while !stop.load(Ordering::Relaxed) {
            self.out.now = round_start;
            while let Ok(change) = self.changes.try_recv() {
                self.apply(change, counters);
            }
            let tables = published.read(&reader);
            let mut received = 0;
            let mut i = 0;
            while i < self.busy {
                let got = self.poll(tables, i, &mut batch, counters);
                received += got;
                if got == 0 && self.polls[i].empty_polls >= EMPTY_POLLS_TO_IDLE {
                    // Idle now: swap it behind the busy ones; the one swapped in is polled next.
                    self.busy -= 1;
                    self.polls.swap(i, self.busy);
                } else {
                    i += 1;
                }
            }
            // No idle queue twice in a round (with one idle queue, it is polled once).
            for _ in 0..IDLE_POLLS_PER_ROUND.min(self.polls.len() - self.busy) {
                if self.busy == self.polls.len() {
                    break;
                }
                let j = self.busy + self.next_idle % (self.polls.len() - self.busy);
                let got = self.poll(tables, j, &mut batch, counters);
                received += got;
                if got > 0 {
                    self.polls.swap(j, self.busy);
                    self.busy += 1;
                } else {
                    self.next_idle = self.next_idle.wrapping_add(1);
                }
            }
            if let Some(outbox) = &self.outbox {
                if outbox.to_phy.dequeue(&mut batch) > 0 {
                    for m in batch.drain() {
                        self.out.deliver(PHY, m, false, counters);
                    }
                }
                if outbox.to_slaves.dequeue(&mut batch) > 0 {
                    for m in batch.drain() {
                        self.out.deliver_to_owner(m, tables, counters);
                    }
                }
            }
            if received < BURST {
                self.flush(counters);
            }
            reader.passed();
            if received == 0 && !self.idle_sleep_max.is_zero() {
                idle_sleep = (idle_sleep * 2).clamp(Duration::from_micros(1), self.idle_sleep_max);
                // Counted below with the round, as idle.
                std::thread::sleep(idle_sleep);
            } else {
                idle_sleep = Duration::ZERO;
            }
            let now = rdtsc();
            let spent = now.wrapping_sub(round_start);
            round_start = now;
            if received > 0 {
                counters.core.busy_cycles.add(spent);
                counters.core.packets.add(received as u64);
            } else {
                counters.core.idle_cycles.add(spent);
            }
        }
        self.flush(counters);
    }

    /// Polls queue `i` once and dispatches what it brought; returns how many frames came. A
    /// down slave is not polled (its frames wait in its queue).
    #[inline]
    fn poll(&mut self, tables: &Tables, i: usize, batch: &mut MbufBatch, counters: &LcoreCounters) -> usize {
        let poll = &mut self.polls[i];
        let states = &tables.dispatch.states;
        let down = matches!(poll.role, Role::Slave(s) | Role::Guest(s) if !states.is_up(s));
        let got = if down { 0 } else { poll.rx.recv(batch) };
        if got == 0 {
            if !down && poll.rx.starved() {
                counters.ports[poll.port].drop(DropReason::PoolEmpty, 1);
            }
            poll.empty_polls = match down {
                true => EMPTY_POLLS_TO_IDLE,
                false => poll.empty_polls.saturating_add(1),
            };
            return 0;
        }
        poll.empty_polls = 0;
        self.out
            .handle_burst(tables, poll.port, poll.role, batch, counters);
        self.since_flush += got;
        if self.since_flush >= FLUSH_AFTER {
            self.flush(counters);
        }
        got
    }

    fn flush(&mut self, counters: &LcoreCounters) {
        self.out.flush(counters);
        self.since_flush = 0;
    }

    /// Applies a change of this lcore's queues (between rounds: no frame is in hand).
    #[cold]
    fn apply(&mut self, change: LcoreChange, counters: &LcoreCounters) {
        match change {
            LcoreChange::Attach {
                port,
                polls,
                tx,
                max_frame,
            } => {
                self.out.attach(port, tx, max_frame);
                self.polls.extend(polls);
            }
            LcoreChange::Mirror(mirror) => self.out.set_mirror(mirror),
            LcoreChange::Detach { port } => {
                self.out.detach(port, counters);
                self.since_flush = 0;
                // Remove its queues, keeping the busy ones before the idle ones.
                let mut i = 0;
                while i < self.polls.len() {
                    if self.polls[i].port != port {
                        i += 1;
                        continue;
                    }
                    if i < self.busy {
                        self.busy -= 1;
                        self.polls.swap(i, self.busy);
                        self.polls.swap_remove(self.busy);
                    } else {
                        self.polls.swap_remove(i);
                    }
                }
            }
        }
    }
}

/// The `shortcut` of a role that has none.
#[inline(always)]
fn no_shortcut(_: &mut Outputs, m: Mbuf, _: usize, _: &PortCounters) -> Option<Mbuf> {
    Some(m)
}

/// Mode l3's verdict for a frame slave `sender` sent (of `frame_len` bytes), filtered in mode
/// l3s.
#[inline(always)]
fn slave_l3_verdict(
    dispatch: &Dispatch,
    routes: &Routes,
    filters: Option<&Filters>,
    sender: SlaveId,
    frame: &[u8],
    frame_len: usize,
) -> Verdict {
    let verdict = dispatch.from_slave_l3(routes, sender, frame, frame_len);
    match filters {
        Some(f) => f.from_slave(sender, verdict, frame),
        None => verdict,
    }
}

/// `m` addressed to the guest whose MAC is `guest` (`guest_mac::to_guest`); a shared buffer
/// is copied first (the other owners keep theirs). `None`: no mbuf for the copy.
#[inline(always)]
fn addressed_to(mut m: Mbuf, master: &[u8; 6], guest: &[u8; 6], pool: &Mempool) -> Option<Mbuf> {
    match m.data_mut().filter(|data| data.len() >= ETH_HLEN) {
        Some(frame) => {
            guest_mac::to_guest(frame, master, guest);
            Some(m)
        }
        None => private_copy(&m, master, guest, pool),
    }
}

/// Gives a frame from `slave`'s guest the master's MAC (`guest_mac::to_master`), learning the
/// guest's own. Only a guest with a MAC of its own pays for more than a compare.
#[inline(always)]
fn hide_guest_mac(map: &PortMap, slave: SlaveId, m: &mut Mbuf) {
    let master = &map.master_mac;
    if m.data().get(6..12) == Some(&master[..]) {
        return;
    }
    // A vhost dequeue gives a private mbuf: data_mut always has it.
    if let Some(own) = m.data_mut().and_then(|data| guest_mac::to_master(data, master)) {
        map.guest_macs.learn(slave, own);
    }
}

/// A frame from the wire for a slave, in mode l3: a unicast destination MAC becomes the
/// master's (the slave's own MAC; a guest with one of its own gets it on delivery).
#[inline(always)]
fn to_master_mac(map: &PortMap, m: &mut Mbuf) {
    let master = &map.master_mac;
    if m.data().first().is_some_and(|b| b & 1 == 0) && m.data().get(0..6) != Some(&master[..]) {
        if let Some(frame) = m.data_mut().filter(|data| data.len() >= ETH_HLEN) {
            frame[0..6].copy_from_slice(master);
        }
    }
}

/// `m` with `addresses` as its destination and source MACs (a shared buffer is copied first).
/// `None`: no mbuf for the copy. Forced inline, the copy out of line: every routed frame comes
/// here (out of line, the call and the MACs passed through memory measured ~15 instructions a
/// frame).
#[inline(always)]
pub(crate) fn readdressed(mut m: Mbuf, addresses: &EthAddresses, pool: &Mempool) -> Option<Mbuf> {
    // One ownership check in the common case: a buffer of its own.
    match m.data_mut().filter(|data| data.len() >= ETH_HLEN) {
        Some(frame) => {
            frame[..12].copy_from_slice(addresses);
            Some(m)
        }
        None => readdressed_copy(&m, addresses, pool),
    }
}

/// `readdressed` of a shared buffer: a private copy, readdressed.
#[cold]
fn readdressed_copy(m: &Mbuf, addresses: &EthAddresses, pool: &Mempool) -> Option<Mbuf> {
    let mut copy = m.copy(pool).ok()?;
    copy.data_mut().filter(|data| data.len() >= ETH_HLEN)?[..12].copy_from_slice(addresses);
    Some(copy)
}

#[cold]
fn private_copy(m: &Mbuf, master: &[u8; 6], guest: &[u8; 6], pool: &Mempool) -> Option<Mbuf> {
    let mut copy = m.copy(pool).ok()?;
    let frame = copy.data_mut().filter(|data| data.len() >= ETH_HLEN)?;
    guest_mac::to_guest(frame, master, guest);
    Some(copy)
}
