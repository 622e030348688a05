//! The only door to DPDK: safe types over the raw `dpdk-sys` bindings.
//!
//! Every `unsafe` block of the project that touches DPDK lives in this crate.

mod eal;
mod error;
mod ethdev;
mod mbuf;
mod mempool;
mod rcu;
mod ring;
mod telemetry;
mod vhost;

pub use eal::{rdtsc, Eal, LcoreJob};
pub use error::{DpdkError, Result};
pub use ethdev::{EthPort, Link, PortInfo, PortSetup, PortStats, RxQueue, TxQueue};
pub use mbuf::{Drain, Mbuf, MbufBatch, Shares, BURST};
pub use mempool::Mempool;
pub use rcu::{EpochReader, Epochs, Published};
pub use ring::Ring;
pub use telemetry::{register_telemetry, Telemetry, TelemetryValue};
pub use vhost::{VhostDevice, VhostEvents, VhostSocket};
