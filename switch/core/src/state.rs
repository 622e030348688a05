//! Whether each slave is up. As in the kernel, a down slave's addresses are unknown
//! destinations and it takes no multicast copies. The control side (a guest attaching, an
//! operator) flips a state while the lcores read it: one relaxed load per lookup, no lock.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use crate::table::SlaveId;

/// Up or down, per slave, indexed by `SlaveId`.
pub struct SlaveStates(Box<[AtomicBool]>);

impl SlaveStates {
    /// `count` slaves, all in state `up`.
    pub fn new(count: usize, up: bool) -> SlaveStates {
        SlaveStates((0..count).map(|_| AtomicBool::new(up)).collect())
    }

    /// Is `slave` up? A slave the switch does not have is not.
    #[inline(always)]
    pub fn is_up(&self, slave: SlaveId) -> bool {
        self.0.get(usize::from(slave)).is_some_and(|up| up.load(Relaxed))
    }

    /// Brings `slave` up or down; returns its previous state (`None`: no such slave).
    pub fn set(&self, slave: SlaveId, up: bool) -> Option<bool> {
        self.0
            .get(usize::from(slave))
            .map(|state| state.swap(up, Relaxed))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
