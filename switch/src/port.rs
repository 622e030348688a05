//! Port I/O: the one interface the poll loop uses for every port, whatever backs it: an ethdev
//! queue (the phy, the host port, any device string), a ring pair that is not an ethdev, or a
//! vhost-user guest's queue pair (neither spends one of DPDK's 32 ethdev ports). Enum dispatch:
//! one well-predicted branch per burst, no virtual call.
//!
//! One ownership rule for every backing: `send` takes frames from the front of the batch and
//! what it did not take stays in the batch, the caller's to count and free. (A backing that
//! copies, as a vhost enqueue does, frees what it copied before returning.)

use std::sync::Arc;

use dpdk_wrap::{MbufBatch, Mempool, Ring, RxQueue, TxQueue};
use vhost::Link;

/// Where one lcore reads a port's frames.
pub enum Rx {
    Eth(RxQueue),
    /// The port's `<name>_in` ring, filled by its peer.
    Ring(Ring),
    /// What a vhost guest sent on one queue pair, dequeued into mbufs of the switch's pool.
    Vhost(Arc<Link>, u16, Mempool),
}

impl Rx {
    /// Receives into the batch's free room; returns how many frames arrived.
    #[inline(always)]
    pub fn recv(&mut self, batch: &mut MbufBatch) -> usize {
        match self {
            Rx::Eth(queue) => queue.recv(batch),
            Rx::Ring(ring) => ring.dequeue(batch),
            Rx::Vhost(link, pair, pool) => link.recv(*pair, pool, batch),
        }
    }

    /// After a receive that brought nothing: did frames wait that the pool had no mbufs for?
    /// (Only a vhost guest's queue can tell; a device counts its own misses.)
    #[inline]
    pub fn starved(&self) -> bool {
        match self {
            Rx::Vhost(link, pair, pool) => link.starved(*pair, pool),
            Rx::Eth(_) | Rx::Ring(_) => false,
        }
    }
}

/// Where one lcore writes a port's frames.
pub enum Tx {
    Eth(TxQueue),
    /// The port's `<name>_out` ring (multi-producer: every lcore writes it).
    Ring(Ring),
    /// Into a vhost guest (copied), on the queue pair of this lcore's lane (its index);
    /// `true`: other lcores send to it too.
    Vhost(Arc<Link>, u16, bool),
    /// The place of a port that was removed (or not added yet): takes nothing. The tables
    /// never name such a port; this only keeps the place.
    Detached,
}

impl Tx {
    /// Offers the batch; returns how many frames the port took. The rest stay in the batch.
    #[inline(always)]
    pub fn send(&mut self, batch: &mut MbufBatch) -> usize {
        match self {
            Tx::Eth(queue) => queue.send(batch),
            Tx::Ring(ring) => ring.enqueue(batch),
            Tx::Vhost(link, lane, shared) => link.send(batch, *lane, *shared),
            Tx::Detached => 0,
        }
    }
}
