//! The address table: exact host addresses (v4 and v6) to a value (the slave owning it, or a
//! neighbour's MAC), in a fixed-size open-addressing hash table built once by the control plane
//! and read by every lcore without locks.

use std::hash::{BuildHasher, RandomState};

use crate::classify::Key;

/// Index of a slave in the switch's slave list.
pub type SlaveId = u16;

/// What a table maps addresses to: a value no entry has marks an empty slot.
pub trait Value: Copy + Eq {
    const EMPTY: Self;
}

/// No slave has this id.
impl Value for SlaveId {
    const EMPTY: SlaveId = SlaveId::MAX;
}

/// No neighbour has the all-zero MAC (conf and the resolver refuse it).
impl Value for [u8; 6] {
    const EMPTY: [u8; 6] = [0; 6];
}

/// Maps an address to its value (by default the slave that owns it). Built whole, never
/// changed: a new table replaces it. IPv4 and IPv6 live in separate tables, so the common IPv4
/// lookup hashes and compares 4 bytes.
#[derive(Clone)]
pub struct AddressTable<V = SlaveId> {
    v4: OpenTable<u32, V>,
    v6: OpenTable<u128, V>,
}

impl<V: Value> AddressTable<V> {
    /// Builds the table. Where an address appears twice, the last stands.
    pub fn new(entries: impl IntoIterator<Item = (Key, V)>) -> AddressTable<V> {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for (key, value) in entries {
            match key {
                Key::V4(a) => v4.push((a, value)),
                Key::V6(a) => v6.push((a, value)),
            }
        }
        AddressTable {
            v4: OpenTable::new(v4),
            v6: OpenTable::new(v6),
        }
    }

    /// The value of `key` (the slave owning it), if any.
    #[inline(always)]
    pub fn lookup(&self, key: Key) -> Option<V> {
        match key {
            Key::V4(a) => self.v4.lookup(a),
            Key::V6(a) => self.v6.lookup(a),
        }
    }

    /// Every address the table holds (in no particular order).
    pub fn keys(&self) -> impl Iterator<Item = Key> + '_ {
        let v4 = self.v4.addresses().map(Key::V4);
        v4.chain(self.v6.addresses().map(Key::V6))
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

/// Seeds tried per table (see `OpenTable::new`).
const SEED_ATTEMPTS: u64 = 16;

/// One slot: an address and its value, or `EMPTY` (an IPv4 slave slot is 8 bytes: eight per
/// cache line, where an `Option` made it 12).
#[derive(Clone, Copy)]
struct Slot<A, V> {
    addr: A,
    value: V,
}

/// Open addressing with linear probing, load factor <= 1/4 (short probe chains). The slots
/// are a power of two, so `len - 1` is the mask (and the compiler can tell it in bounds).
#[derive(Clone)]
struct OpenTable<A, V> {
    slots: Box<[Slot<A, V>]>,
    seed: u64,
}

impl<A: Address + Default, V: Value> OpenTable<A, V> {
    /// The table of `entries` with the fewest entries away from their home slot (none, for
    /// the handful of addresses most switches have) over a few random seeds: a displaced entry
    /// costs its lookups another probe and a branch that mispredicts. Random per table, as the
    /// kernel's hash key: an outsider cannot aim at one bucket.
    fn new(entries: Vec<(A, V)>) -> OpenTable<A, V> {
        let mut best: Option<(usize, OpenTable<A, V>)> = None;
        for attempt in 0..SEED_ATTEMPTS {
            let seed = RandomState::new().hash_one(attempt);
            let (displaced, table) = OpenTable::with_seed(&entries, seed);
            if best.as_ref().is_none_or(|(fewest, _)| displaced < *fewest) {
                best = Some((displaced, table));
            }
            if displaced == 0 {
                break;
            }
        }
        best.expect("at least one attempt").1
    }

    /// The table of `entries` with `seed`, and how many entries are away from their home slot.
    fn with_seed(entries: &[(A, V)], seed: u64) -> (usize, OpenTable<A, V>) {
        let size = (entries.len() * 4).next_power_of_two().max(16);
        let empty = Slot {
            addr: A::default(),
            value: V::EMPTY,
        };
        let mut table = OpenTable {
            slots: vec![empty; size].into_boxed_slice(),
            seed,
        };
        let mut displaced = 0;
        for &(addr, value) in entries {
            assert!(value != V::EMPTY, "an entry has the empty slot's value");
            let home = table.bucket(addr);
            let mut i = home;
            while table.slots[i].value != V::EMPTY && table.slots[i].addr != addr {
                i = (i + 1) & table.mask();
            }
            displaced += usize::from(i != home);
            table.slots[i] = Slot { addr, value };
        }
        (displaced, table)
    }

    fn addresses(&self) -> impl Iterator<Item = A> + '_ {
        self.slots.iter().filter(|s| s.value != V::EMPTY).map(|s| s.addr)
    }

    #[inline(always)]
    fn mask(&self) -> usize {
        self.slots.len().wrapping_sub(1)
    }

    #[inline(always)]
    fn bucket(&self, addr: A) -> usize {
        ((addr.fold() ^ self.seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32) as usize & self.mask()
    }

    #[inline(always)]
    fn lookup(&self, addr: A) -> Option<V> {
        let mut i = self.bucket(addr);
        loop {
            let slot = self.slots[i];
            if slot.value == V::EMPTY {
                return None;
            }
            if slot.addr == addr {
                return Some(slot.value);
            }
            i = (i + 1) & self.mask();
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
        let keys: std::collections::HashSet<_> = table.keys().collect();
        assert_eq!(keys, entries.iter().map(|&(key, _)| key).collect());
        assert_eq!(table.keys().count(), entries.len());
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
        let table = AddressTable::<SlaveId>::new([]);
        // 0.0.0.0 and :: are the empty slots' addresses.
        for key in [Key::V4(1), Key::V4(0), Key::V6(0)] {
            assert_eq!(table.lookup(key), None);
        }
    }

    #[test]
    fn the_zero_address_is_an_address() {
        let table = AddressTable::new([(Key::V4(0), 3), (Key::V6(0), 4)]);
        assert_eq!(table.lookup(Key::V4(0)), Some(3));
        assert_eq!(table.lookup(Key::V6(0)), Some(4));
    }
}
