//! The address table: exact host addresses (v4 and v6) to slave, in a fixed-size open-addressing
//! hash table built once by the control plane and read by every lcore without locks.

use std::hash::{BuildHasher, RandomState};

use crate::classify::Key;

/// Index of a slave in the switch's slave list.
pub type SlaveId = u16;

#[derive(Clone, Copy)]
struct Slot {
    /// 0 = empty, 4 = IPv4, 6 = IPv6.
    family: u8,
    slave: SlaveId,
    addr: u128,
}

const EMPTY: Slot = Slot {
    family: 0,
    slave: 0,
    addr: 0,
};

/// Maps an address to the slave that owns it. Built whole, never changed: a new table replaces it.
pub struct AddressTable {
    slots: Box<[Slot]>,
    mask: usize,
    /// Per-table random key, as the kernel's: an outsider cannot aim at one bucket.
    seed: u64,
}

impl AddressTable {
    /// Builds the table. The caller guarantees each address appears once (conf checks that).
    pub fn new(entries: impl IntoIterator<Item = (Key, SlaveId)>) -> AddressTable {
        let entries: Vec<_> = entries.into_iter().collect();
        // Load factor <= 1/2 keeps probe chains short.
        let size = (entries.len() * 2).next_power_of_two().max(16);
        let mut table = AddressTable {
            slots: vec![EMPTY; size].into_boxed_slice(),
            mask: size - 1,
            seed: RandomState::new().hash_one(0x1b0a_u64),
        };
        for (key, slave) in entries {
            let (family, addr) = split(key);
            let mut i = table.bucket(family, addr);
            while table.slots[i].family != 0 {
                i = (i + 1) & table.mask;
            }
            table.slots[i] = Slot { family, slave, addr };
        }
        table
    }

    #[inline(always)]
    fn bucket(&self, family: u8, addr: u128) -> usize {
        let folded = (addr as u64) ^ ((addr >> 64) as u64).rotate_left(29) ^ u64::from(family);
        ((folded ^ self.seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize & self.mask
    }

    /// The slave owning `key`, if any.
    #[inline]
    pub fn lookup(&self, key: Key) -> Option<SlaveId> {
        let (family, addr) = split(key);
        let mut i = self.bucket(family, addr);
        loop {
            let slot = &self.slots[i];
            if slot.family == 0 {
                return None;
            }
            if slot.family == family && slot.addr == addr {
                return Some(slot.slave);
            }
            i = (i + 1) & self.mask;
        }
    }
}

#[inline(always)]
fn split(key: Key) -> (u8, u128) {
    match key {
        Key::V4(a) => (4, u128::from(a)),
        Key::V6(a) => (6, a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_entry_and_nothing_else() {
        let entries: Vec<_> = (0..1000u32)
            .map(|i| (Key::V4(0x0a00_0000 + i), (i % 7) as SlaveId))
            .chain((0..1000u128).map(|i| (Key::V6(0x2001_0db8 << 96 | i), 9)))
            .collect();
        let table = AddressTable::new(entries.clone());
        for (key, slave) in entries {
            assert_eq!(table.lookup(key), Some(slave), "{key:?}");
        }
        assert_eq!(table.lookup(Key::V4(0x0a00_0000 + 1000)), None);
        // Same numeric value, other family: not the same address.
        assert_eq!(table.lookup(Key::V6(0x0a00_0001)), None);
        assert_eq!(table.lookup(Key::V4(5)), None);
    }

    #[test]
    fn empty_table_finds_nothing() {
        assert_eq!(AddressTable::new([]).lookup(Key::V4(1)), None);
    }
}
