//! Whether each slave is up. As in the kernel, a down slave's addresses are unknown
//! destinations and it takes no multicast copies. A slave is up when it is both
//! administratively up (the operator's say, and "it exists": a vacant place is down) and its
//! link is up (for a vhost slave: a guest is attached). The control side flips either while
//! the lcores read them: one relaxed load per lookup, no lock.

use std::sync::atomic::{AtomicU8, Ordering::Relaxed};

use crate::table::SlaveId;

const ADMIN_UP: u8 = 1;
const LINK_UP: u8 = 2;
const UP: u8 = ADMIN_UP | LINK_UP;

/// Up or down, per slave, indexed by `SlaveId`: one state for every id a slave can have, so
/// that the lookup's check needs no bounds check (ids past `count` stay down).
pub struct SlaveStates {
    /// Inline, not boxed: one load fewer from the table to a state.
    states: [AtomicU8; 1 << SlaveId::BITS],
    count: usize,
}

impl SlaveStates {
    /// `count` slaves, all up (administratively and with their links) or all down.
    pub fn new(count: usize, up: bool) -> SlaveStates {
        assert!(count <= 1 << SlaveId::BITS, "{count} slaves: more than slave ids");
        let states = std::array::from_fn(|id| AtomicU8::new(if up && id < count { UP } else { 0 }));
        SlaveStates { states, count }
    }

    /// Is `slave` up? A slave the switch does not have is not.
    #[inline(always)]
    pub fn is_up(&self, slave: SlaveId) -> bool {
        self.states[usize::from(slave)].load(Relaxed) == UP
    }

    /// Brings `slave` administratively up or down; returns its previous administrative state
    /// (`None`: no such slave).
    pub fn set(&self, slave: SlaveId, up: bool) -> Option<bool> {
        self.flip(slave, ADMIN_UP, up)
    }

    /// Its link came up or went down; returns the previous link state.
    pub fn set_link(&self, slave: SlaveId, up: bool) -> Option<bool> {
        self.flip(slave, LINK_UP, up)
    }

    /// (administratively up, link up) of `slave`.
    pub fn get(&self, slave: SlaveId) -> Option<(bool, bool)> {
        let state = self.slot(slave)?.load(Relaxed);
        Some((state & ADMIN_UP != 0, state & LINK_UP != 0))
    }

    fn flip(&self, slave: SlaveId, bit: u8, on: bool) -> Option<bool> {
        let state = self.slot(slave)?;
        let before = match on {
            true => state.fetch_or(bit, Relaxed),
            false => state.fetch_and(!bit, Relaxed),
        };
        Some(before & bit != 0)
    }

    fn slot(&self, slave: SlaveId) -> Option<&AtomicU8> {
        let i = usize::from(slave);
        (i < self.count).then(|| &self.states[i])
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}
