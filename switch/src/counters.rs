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
}

/// All ports' counters of one lcore, indexed by port.
pub struct LcoreCounters {
    pub ports: Box<[PortCounters]>,
}

impl LcoreCounters {
    pub fn new(ports: usize) -> LcoreCounters {
        LcoreCounters {
            ports: (0..ports).map(|_| PortCounters::default()).collect(),
        }
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
}
