//! Read-copy-update for what the forwarding lcores read: the control side builds a new value,
//! publishes it with one atomic pointer swap, and frees the old one once every reading lcore
//! has passed a quiescent point (a point where it holds nothing it read before). Readers take
//! no lock and write no shared line but their own counter, once per round of polls.
//!
//! An epoch scheme of the same shape as DPDK's `rte_rcu_qsbr`, kept in Rust so that the
//! borrow checker proves what QSBR leaves to the programmer: a reference read through an
//! `EpochReader` cannot outlive the reader's next quiescent point.

use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A reader's counter before it first runs.
const NOT_STARTED: u64 = 0;
/// A reader's counter once it has stopped for good.
const OFFLINE: u64 = u64::MAX;

/// One counter per reader, on a line of its own (each is written by its lcore every round).
#[repr(align(64))]
struct ReaderCounter(AtomicU64);

/// The quiescent points of a fixed set of readers (the forwarding lcores).
pub struct Epochs {
    readers: Box<[ReaderCounter]>,
}

/// One reader's handle: its lcore calls `passed` at each quiescent point. Dropping it takes
/// the reader offline (a stopped lcore holds nothing).
pub struct EpochReader {
    epochs: Arc<Epochs>,
    id: usize,
}

impl Epochs {
    /// `count` readers, each handed out once.
    pub fn new(count: usize) -> (Arc<Epochs>, Vec<EpochReader>) {
        let epochs = Arc::new(Epochs {
            readers: (0..count)
                .map(|_| ReaderCounter(AtomicU64::new(NOT_STARTED)))
                .collect(),
        });
        let readers = (0..count)
            .map(|id| EpochReader {
                epochs: epochs.clone(),
                id,
            })
            .collect();
        (epochs, readers)
    }

    /// Returns once every running reader has passed two points since the call (the round it
    /// was in has ended and a new one began), so that nothing it read before the call is still
    /// in use. Readers not started yet or offline are not waited for.
    pub fn wait(&self) {
        let start: Vec<u64> = self.readers.iter().map(|r| r.0.load(SeqCst)).collect();
        let lagging = |(reader, &s): (&ReaderCounter, &u64)| {
            let now = reader.0.load(SeqCst);
            s != NOT_STARTED && s != OFFLINE && now != OFFLINE && now < s + 2
        };
        let mut warn_at = Instant::now() + Duration::from_secs(1);
        while self.readers.iter().zip(&start).any(lagging) {
            if Instant::now() > warn_at {
                warn_stuck_reader();
                warn_at += Duration::from_secs(1);
            }
            std::thread::sleep(Duration::from_micros(20));
        }
    }
}

/// An lcore that passes no quiescent point for a second is a bug; waiting on is still the
/// only sound choice (what it read may be in use), so say so on stderr and keep waiting.
#[cold]
fn warn_stuck_reader() {
    eprintln!("ipvlan-switch: a forwarding lcore passed no quiescent point for a second; waiting on");
}

impl EpochReader {
    /// This reader holds nothing it read before: called when its lcore starts and after each
    /// round. (SeqCst: ordered with the control side's swap, so that the round after this
    /// one reads what was published.)
    #[inline]
    pub fn passed(&mut self) {
        let counter = &self.epochs.readers[self.id].0;
        counter.store(counter.load(SeqCst) + 1, SeqCst);
    }
}

impl Drop for EpochReader {
    fn drop(&mut self) {
        self.epochs.readers[self.id].0.store(OFFLINE, SeqCst);
    }
}

/// A value the readers of one `Epochs` read without a lock, replaced whole by the control side.
pub struct Published<T> {
    current: AtomicPtr<T>,
    epochs: Arc<Epochs>,
    /// One replacement at a time: the old value is freed by the replacer that took it out.
    writer: Mutex<()>,
}

impl<T: Send + Sync> Published<T> {
    pub fn new(value: T, epochs: Arc<Epochs>) -> Published<T> {
        Published {
            current: AtomicPtr::new(Box::into_raw(Box::new(value))),
            epochs,
            writer: Mutex::new(()),
        }
    }

    /// The current value, for as long as `reader` is not passed on (its next `passed` needs
    /// it mutably, so the borrow checker ends this reference first).
    #[inline(always)]
    pub fn read<'a>(&'a self, reader: &'a EpochReader) -> &'a T {
        assert!(
            Arc::ptr_eq(&reader.epochs, &self.epochs),
            "a reader of other epochs"
        );
        // SAFETY: the pointer came from Box::into_raw and is freed only by `replace` (after
        // every running reader passed two quiescent points since the swap, so after this
        // reader's next `passed`, which cannot happen while this borrow of `reader` lives)
        // or by Drop (no reference can outlive `&self`).
        unsafe { &*self.current.load(SeqCst) }
    }

    /// Publishes `value`; returns the old one once no reader can still be using it.
    pub fn replace(&self, value: T) -> T {
        self.update(|_| value)
    }

    /// Publishes what `make` builds from the current value (no other writer replaces it in
    /// between); returns the old one once no reader can still be using it.
    pub fn update(&self, make: impl FnOnce(&T) -> T) -> T {
        let _writer = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // SAFETY: only a writer frees the current value, and this one holds the writer lock.
        let value = make(unsafe { &*self.current.load(SeqCst) });
        let old = self.current.swap(Box::into_raw(Box::new(value)), SeqCst);
        self.epochs.wait();
        // SAFETY: `old` came from Box::into_raw, was taken out of `current` by this call alone
        // (replacements are serialised by `writer`), and every reader that could have read it
        // has passed a quiescent point since.
        *unsafe { Box::from_raw(old) }
    }

    /// `look` at the current value, for a writer's side that is no reader (no replacement
    /// happens meanwhile).
    pub fn with<R>(&self, look: impl FnOnce(&T) -> R) -> R {
        let _writer = self
            .writer
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // SAFETY: only a writer frees the current value, and this call holds the writer lock.
        look(unsafe { &*self.current.load(SeqCst) })
    }
}

impl<T> Drop for Published<T> {
    fn drop(&mut self) {
        // SAFETY: from Box::into_raw, and `&mut self` means no reference from `read` is alive.
        drop(unsafe { Box::from_raw(*self.current.get_mut()) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    /// A value that knows whether it was freed.
    struct Canary(Arc<AtomicUsize>, u64);

    impl Drop for Canary {
        fn drop(&mut self) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn a_replaced_value_is_freed_only_after_every_reader_passed() {
        let (epochs, mut readers) = Epochs::new(2);
        let freed = Arc::new(AtomicUsize::new(0));
        let published = Arc::new(Published::new(Canary(freed.clone(), 1), epochs));
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = readers
            .drain(..)
            .map(|mut reader| {
                let (published, stop) = (published.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut seen = 0u64;
                    reader.passed();
                    loop {
                        let value = published.read(&reader);
                        assert!(value.1 >= seen, "values go forward");
                        seen = value.1;
                        reader.passed();
                        if stop.load(SeqCst) {
                            break seen;
                        }
                    }
                })
            })
            .collect();
        for generation in 2..200 {
            let old = published.replace(Canary(freed.clone(), generation));
            assert_eq!(old.1, generation - 1);
            drop(old);
            assert_eq!(freed.load(SeqCst), (generation - 1) as usize);
        }
        stop.store(true, SeqCst);
        for thread in threads {
            assert!(thread.join().unwrap() >= 1);
        }
    }

    #[test]
    fn waits_for_no_reader_that_is_offline_or_not_started() {
        let (epochs, mut readers) = Epochs::new(3);
        readers[0].passed();
        readers.remove(0); // offline
        let published = Published::new(1u32, epochs);
        // Reader 1 and 2 never started: nothing to wait for.
        assert_eq!(published.replace(2), 1);
        assert_eq!(*published.read(&readers[0]), 2);
    }
}
