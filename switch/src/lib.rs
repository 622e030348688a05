//! The ipvlan data plane.
//!
//! `classify`, `table` and `dispatch` are pure (bytes in, decision out) and are unit-tested and
//! fuzzed without DPDK; `datapath` is the per-lcore poll loop; `runtime` wires ports and lcores
//! from a configuration.

pub mod classify;
pub mod counters;
pub mod datapath;
pub mod dispatch;
pub mod runtime;
pub mod table;

pub use runtime::{format_mac, Switch, SwitchError};
