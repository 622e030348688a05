//! The ipvlan semantics as pure functions, free of DPDK and of the configuration format: what a
//! frame is (`classify`), who owns an address (`table`), whether a slave is up (`state`), and
//! where a frame goes (`dispatch`); and the frames the switch rewrites or makes itself: a
//! guest's own MAC hidden behind the master's (`guest_mac`), the announcements of a slave's
//! addresses (`announce`); mode l3's routes (`routes`), decisions (`l3`) and its answers to a
//! slave's ARP and NS (`neighbour`); mode l3s's filters and connection tracking (`filter`).
//! Bytes in, decision out: unit-tested and fuzzed anywhere.

pub mod announce;
pub mod classify;
pub mod dispatch;
pub mod filter;
pub mod guest_mac;
pub mod icmp;
pub mod l3;
pub mod neighbour;
pub mod routes;
pub mod state;
pub mod table;

use serde::{Deserialize, Serialize};

/// The ipvlan mode, as in Linux: where slaves are told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    L2,
    L3,
    L3s,
}

/// The ipvlan port flags, as in Linux: whether slaves may talk to each other directly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortFlags {
    Bridge,
    Private,
    Vepa,
}
