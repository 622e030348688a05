//! The ipvlan data plane on DPDK, over the pure core (`switch_core`: classify, tables,
//! dispatch): `port` is the one I/O interface of every port, `datapath` the per-lcore poll
//! loop, `counters` its per-lcore counters, `runtime` the wiring of ports and lcores from a
//! configuration.

pub mod counters;
pub mod datapath;
pub mod port;
pub mod reconfigure;
pub mod resolver;
pub mod runtime;

pub use reconfigure::Applied;
pub use resolver::{NeighbourReport, ResolverTotals};
pub use runtime::{format_mac, ConnectionTotals, FilterReport, PortReport, RouteReport, Switch, SwitchError};
pub use switch_core as core;
