//! The address table: exact host addresses (v4 and v6) to slave, in a fixed-size open-addressing
//! hash table built once by the control plane and read by every lcore without locks.

use std::hash::{BuildHasher, RandomState};

use crate::classify::Key;

/// Index of a slave in the switch's slave list.
pub type SlaveId = u16;

/// Maps an address to the slave that owns it. Built whole, never changed: a new table replaces it.
/// IPv4 and IPv6 live in separate tables, so the common IPv4 lookup hashes and compares 4 bytes.
pub struct AddressTable {
    v4: OpenTable<u32>,
    v6: OpenTable<u128>,
}

impl AddressTable {
    /// Builds the table. The caller guarantees each address appears once (conf checks that).
    pub fn new(entries: impl IntoIterator<Item = (Key, SlaveId)>) -> AddressTable {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for (key, slave) in entries {
            match key {
                Key::V4(a) => v4.push((a, slave)),
                Key::V6(a) => v6.push((a, slave)),
            }
        }
        // Per-table random key, as the kernel's: an outsider cannot aim at one bucket.
        let seed = RandomState::new().hash_one(0x1b0a_u64);
        AddressTable {
            v4: OpenTable::new(v4, seed),
            v6: OpenTable::new(v6, seed),
        }
    }

    /// The slave owning `key`, if any.
    #[inline(always)]
    pub fn lookup(&self, key: Key) -> Option<SlaveId> {
        match key {
            Key::V4(a) => self.v4.lookup(a),
            Key::V6(a) => self.v6.lookup(a),
        }
    }
}

/// An address type the table can hash.
trait Address: Copy + Eq {
    fn fold(self) -> u64;
}

impl Address for u32 {
    #[inline(always)]
    fn fold(self) -> u64 {
        u64::from(self)
    }
}

impl Address for u128 {
    #[inline(always)]
    fn fold(self) -> u64 {
        (self as u64) ^ ((self >> 64) as u64).rotate_left(29)
    }
}

/// A slot's slave when the slot is empty: no slave has this id.
const EMPTY: SlaveId = SlaveId::MAX;

/// One slot: an address and its slave, or `EMPTY` (an IPv4 slot is 8 bytes: eight per cache
/// line, where an `Option` made it 12).
#[derive(Clone, Copy)]
struct Slot<A> {
    addr: A,
    slave: SlaveId,
}

/// Open addressing with linear probing, load factor <= 1/2 (short probe chains).
struct OpenTable<A> {
    slots: Box<[Slot<A>]>,
    mask: usize,
    seed: u64,
}

impl<A: Address + Default> OpenTable<A> {
    fn new(entries: Vec<(A, SlaveId)>, seed: u64) -> OpenTable<A> {
        let size = (entries.len() * 2).next_power_of_two().max(16);
        let empty = Slot {
            addr: A::default(),
            slave: EMPTY,
        };
        let mut table = OpenTable {
            slots: vec![empty; size].into_boxed_slice(),
            mask: size - 1,
            seed,
        };
        for (addr, slave) in entries {
            assert!(slave != EMPTY, "slave id {EMPTY} is the empty slot's");
            let mut i = table.bucket(addr);
            while table.slots[i].slave != EMPTY {
                i = (i + 1) & table.mask;
            }
            table.slots[i] = Slot { addr, slave };
        }
        table
    }

    #[inline(always)]
    fn bucket(&self, addr: A) -> usize {
        ((addr.fold() ^ self.seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize & self.mask
    }

    #[inline(always)]
    fn lookup(&self, addr: A) -> Option<SlaveId> {
        let mut i = self.bucket(addr);
        loop {
            let slot = self.slots[i];
            if slot.slave == EMPTY {
                return None;
            }
            if slot.addr == addr {
                return Some(slot.slave);
            }
            i = (i + 1) & self.mask;
        }
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
