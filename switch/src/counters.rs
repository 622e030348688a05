//! Per-lcore, per-port counters: written by one lcore with plain loads and stores (no atomic
//! read-modify-write on the fast path), read and summed by the control plane at any time.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::Serialize;

use switch_core::dispatch::DropReason;

/// A counter with a single writer: `add` is a load and a store, not a locked add.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    #[inline(always)]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }

    fn reset(&self) {
        self.0.store(0, Relaxed);
    }
}

/// One port's counters as seen by one lcore. "rx" is what the switch read from the port, "tx"
/// what the port accepted from the switch (for a slave: the guest's tx and rx respectively).
#[derive(Default)]
#[repr(align(64))]
pub struct PortCounters {
    pub rx_packets: Counter,
    pub rx_bytes: Counter,
    pub tx_packets: Counter,
    pub tx_bytes: Counter,
    /// Multicast/broadcast copies the switch queued for this port (a copy the port then refuses
    /// is counted in `tx_full` too).
    pub multicast: Counter,
    drops: [Counter; DropReason::COUNT],
}

impl PortCounters {
    #[inline(always)]
    pub fn drop(&self, reason: DropReason, n: u64) {
        self.drops[reason as usize].add(n);
    }

    /// Back to zero: only while no lcore writes them (the port's place is vacant).
    pub fn reset(&self) {
        let counters = [
            &self.rx_packets,
            &self.rx_bytes,
            &self.tx_packets,
            &self.tx_bytes,
            &self.multicast,
        ];
        counters.into_iter().chain(&self.drops).for_each(Counter::reset);
    }
}

/// Where one lcore's time goes, in TSC cycles: rounds of polls that brought frames (busy) and
/// rounds that brought none (idle), and the frames the busy rounds brought. One TSC read per
/// round, none per frame.
#[derive(Default)]
#[repr(align(64))]
pub struct CoreCounters {
    pub busy_cycles: Counter,
    pub idle_cycles: Counter,
    pub packets: Counter,
}

/// All ports' counters of one lcore, indexed by port, and its cycles.
pub struct LcoreCounters {
    pub ports: Box<[PortCounters]>,
    pub core: CoreCounters,
}

impl LcoreCounters {
    pub fn new(ports: usize) -> LcoreCounters {
        LcoreCounters {
            ports: (0..ports).map(|_| PortCounters::default()).collect(),
            core: CoreCounters::default(),
        }
    }
}

/// One forwarding lcore's cycles so far (as grout's and OVS's pmd statistics show them).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LcoreTotals {
    pub lcore: u32,
    pub busy_cycles: u64,
    pub idle_cycles: u64,
    /// Frames received in busy rounds (every frame this lcore read).
    pub packets: u64,
}

impl LcoreTotals {
    pub fn read(lcore: u32, c: &CoreCounters) -> LcoreTotals {
        LcoreTotals {
            lcore,
            busy_cycles: c.busy_cycles.get(),
            idle_cycles: c.idle_cycles.get(),
            packets: c.packets.get(),
        }
    }

    /// The counts between an earlier reading and this one.
    pub fn since(&self, earlier: &LcoreTotals) -> LcoreTotals {
        LcoreTotals {
            lcore: self.lcore,
            busy_cycles: self.busy_cycles - earlier.busy_cycles,
            idle_cycles: self.idle_cycles - earlier.idle_cycles,
            packets: self.packets - earlier.packets,
        }
    }

    /// Share of the cycles spent in busy rounds, in percent.
    pub fn busy_percent(&self) -> f64 {
        let all = self.busy_cycles + self.idle_cycles;
        if all == 0 {
            return 0.0;
        }
        100.0 * self.busy_cycles as f64 / all as f64
    }

    /// Busy cycles per frame: what a frame costs this lcore, polling and sending included.
    pub fn cycles_per_packet(&self) -> f64 {
        if self.packets == 0 {
            return 0.0;
        }
        self.busy_cycles as f64 / self.packets as f64
    }
}

/// A port's totals over all lcores.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PortTotals {
    pub rx_packets: u64,
    pub rx_bytes: u64,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub multicast: u64,
    /// reason -> count, every reason present.
    pub drops: BTreeMap<&'static str, u64>,
}

impl PortTotals {
    /// Sums one port's counters over all lcores.
    pub fn sum<'a>(per_lcore: impl IntoIterator<Item = &'a PortCounters>) -> PortTotals {
        let mut t = PortTotals {
            drops: DropReason::ALL.iter().map(|r| (r.name(), 0)).collect(),
            ..PortTotals::default()
        };
        for c in per_lcore {
            t.rx_packets += c.rx_packets.get();
            t.rx_bytes += c.rx_bytes.get();
            t.tx_packets += c.tx_packets.get();
            t.tx_bytes += c.tx_bytes.get();
            t.multicast += c.multicast.get();
            for r in DropReason::ALL {
                *t.drops.get_mut(r.name()).unwrap() += c.drops[r as usize].get();
            }
        }
        t
    }

    pub fn add_drop(&mut self, reason: DropReason, n: u64) {
        *self.drops.entry(reason.name()).or_default() += n;
    }

    /// The counts between an earlier reading and this one.
    pub fn since(&self, earlier: &PortTotals) -> PortTotals {
        PortTotals {
            rx_packets: self.rx_packets - earlier.rx_packets,
            rx_bytes: self.rx_bytes - earlier.rx_bytes,
            tx_packets: self.tx_packets - earlier.tx_packets,
            tx_bytes: self.tx_bytes - earlier.tx_bytes,
            multicast: self.multicast - earlier.multicast,
            drops: self
                .drops
                .iter()
                .map(|(reason, n)| (*reason, n - earlier.drops.get(reason).copied().unwrap_or(0)))
                .collect(),
        }
    }
}
