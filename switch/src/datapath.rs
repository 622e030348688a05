//! The run-to-completion loop of one forwarding lcore: poll its rx queues in bursts, classify,
//! dispatch, batch per destination port, send each batch with one tx burst.
//! No allocation, lock, syscall or formatting per packet.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use dpdk_wrap::{rdtsc, Mbuf, MbufBatch, RxQueue, TxQueue, BURST};

use crate::classify::classify;
use crate::counters::{LcoreCounters, PortCounters};
use crate::dispatch::{Dispatch, DropReason, Flood, Verdict};
use crate::table::SlaveId;

/// Index of a port in the switch: the phy, then the host port if any, then the slaves.
pub type PortIndex = usize;
pub const PHY: PortIndex = 0;

/// What a port is to the dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Phy,
    Host,
    Slave(SlaveId),
}

/// An rx queue this lcore polls.
pub struct Poll {
    pub port: PortIndex,
    pub role: Role,
    pub rx: RxQueue,
}

/// How far ahead of the packet being classified its successor's header is prefetched.
const PREFETCH_AHEAD: usize = 2;

/// The state one forwarding lcore owns: never shared.
pub struct Worker {
    pub polls: Vec<Poll>,
    pub out: Outputs,
    pub dispatch: Arc<Dispatch>,
    /// TSC ticks a partly filled tx batch may wait under load (see `run`).
    pub drain_ticks: u64,
}

/// Frames waiting for one destination port, and their bytes.
#[derive(Default)]
struct Pending {
    batch: MbufBatch,
    bytes: u64,
}

/// The transmit side of one lcore, indexed by PortIndex.
pub struct Outputs {
    /// This lcore's own tx queue on every port.
    tx: Vec<TxQueue>,
    pending: Vec<Pending>,
    /// Longest frame each port takes (MTU + Ethernet header + one VLAN tag).
    max_frame: Vec<u32>,
    host: Option<PortIndex>,
    first_slave: PortIndex,
    /// Frames dropped in this burst, freed together.
    trash: MbufBatch,
}

impl Outputs {
    pub fn new(
        tx: Vec<TxQueue>,
        max_frame: Vec<u32>,
        host: Option<PortIndex>,
        first_slave: PortIndex,
    ) -> Outputs {
        Outputs {
            pending: tx.iter().map(|_| Pending::default()).collect(),
            tx,
            max_frame,
            host,
            first_slave,
            trash: MbufBatch::new(),
        }
    }

    #[inline(always)]
    fn discard(&mut self, m: Mbuf) {
        if let Err(m) = self.trash.push(m) {
            self.trash.free_all();
            let _ = self.trash.push(m);
        }
    }

    /// Queues `m` for port `to`; an oversize frame is dropped and counted on `to`.
    #[inline(always)]
    fn deliver(&mut self, to: PortIndex, m: Mbuf, multicast: bool, counters: &LcoreCounters) {
        let c = &counters.ports[to];
        if m.pkt_len() > self.max_frame[to] {
            c.drop(DropReason::Mtu, 1);
            return self.discard(m);
        }
        if multicast {
            c.multicast.add(1);
        }
        let pending = &mut self.pending[to];
        pending.bytes += u64::from(m.pkt_len());
        // A full batch is sent at once, so there is always room for this one.
        if pending.batch.push(m).is_err() {
            unreachable!("a full tx batch was not sent");
        }
        if pending.batch.is_full() {
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
        let slaves = 0..dispatch.filters.len() as SlaveId;
        let takes =
            |s: &SlaveId| flood.to_slaves && Some(*s) != flood.except && dispatch.takes_multicast(*s, &dst);
        let host = if flood.to_host {
            self.host_or_count(DropReason::NoHost, ingress)
        } else {
            None
        };
        let total =
            slaves.clone().filter(takes).count() + usize::from(flood.to_phy) + usize::from(host.is_some());
        let mut copies = m.into_shares(total as u16);
        let first_slave = self.first_slave;
        let destinations = slaves
            .filter(takes)
            .map(|s| first_slave + usize::from(s))
            .chain(flood.to_phy.then_some(PHY))
            .chain(host);
        for (to, copy) in destinations.zip(&mut copies) {
            self.deliver(to, copy, true, counters);
        }
    }

    /// Sends port `to`'s pending batch with one tx burst; what the port refuses is freed and
    /// counted.
    #[inline]
    fn send(&mut self, to: PortIndex, counters: &LcoreCounters) {
        let Pending { batch, bytes } = &mut self.pending[to];
        let offered = batch.len() as u64;
        let sent = self.tx[to].send(batch) as u64;
        let c = &counters.ports[to];
        c.tx_packets.add(sent);
        if sent < offered {
            let refused: u64 = batch.as_slice().iter().map(|m| u64::from(m.pkt_len())).sum();
            *bytes -= refused;
            c.drop(DropReason::TxFull, offered - sent);
            batch.free_all();
        }
        c.tx_bytes.add(*bytes);
        *bytes = 0;
    }

    /// Sends every partly filled batch.
    fn flush(&mut self, counters: &LcoreCounters) {
        for to in 0..self.pending.len() {
            if !self.pending[to].batch.is_empty() {
                self.send(to, counters);
            }
        }
    }

    /// Dispatches one received burst from `from`; full tx batches go out at once.
    #[inline]
    fn handle_burst(
        &mut self,
        dispatch: &Dispatch,
        from: PortIndex,
        role: Role,
        batch: &mut MbufBatch,
        counters: &LcoreCounters,
    ) {
        let ingress = &counters.ports[from];
        ingress.rx_packets.add(batch.len() as u64);
        let mut bytes = 0u64;
        let mut drain = batch.drain();
        while let Some(m) = drain.next() {
            if let Some(next) = drain.peek_ahead(PREFETCH_AHEAD - 1) {
                next.prefetch_data();
            }
            bytes += u64::from(m.pkt_len());
            let class = classify(m.data());
            let verdict = match role {
                Role::Phy => dispatch.from_phy(class.as_ref()),
                Role::Slave(s) => dispatch.from_slave(s, class.as_ref()),
                // The master's own transmissions bypass ipvlan.
                Role::Host => Verdict::Phy,
            };
            match verdict {
                Verdict::Slave(s) => self.deliver(self.first_slave + usize::from(s), m, false, counters),
                Verdict::Phy => self.deliver(PHY, m, false, counters),
                Verdict::Host(reason) => match self.host_or_count(reason, ingress) {
                    Some(host) => self.deliver(host, m, false, counters),
                    None => self.discard(m),
                },
                Verdict::Drop(reason) => {
                    ingress.drop(reason, 1);
                    self.discard(m);
                }
                Verdict::Flood(flood) => self.flood(m, dispatch, flood, ingress, counters),
            }
        }
        drop(drain);
        ingress.rx_bytes.add(bytes);
        self.trash.free_all();
    }
}

impl Worker {
    /// Polls until `stop` is set. Frames for one port gather across bursts (as l3fwd's tx
    /// buffers): a batch goes out when full, and every batch goes out when a round of polls
    /// brought less than a burst (the load is light: nothing to gain by waiting) or after
    /// `drain_ticks` under load.
    pub fn run(mut self, counters: &LcoreCounters, stop: &AtomicBool) {
        let mut batch = MbufBatch::new();
        let mut last_drain = rdtsc();
        while !stop.load(Ordering::Relaxed) {
            let mut received = 0;
            for poll in &mut self.polls {
                let n = poll.rx.recv(&mut batch);
                if n > 0 {
                    received += n;
                    self.out
                        .handle_burst(&self.dispatch, poll.port, poll.role, &mut batch, counters);
                }
            }
            let now = rdtsc();
            if received < BURST || now - last_drain > self.drain_ticks {
                self.out.flush(counters);
                last_drain = now;
            }
        }
        self.out.flush(counters);
    }
}
