//! Quiescent points of the forwarding lcores, so that the control side can retire something
//! the lcores use (a vhost guest's device) without a lock on the fast path: each lcore bumps
//! its counter once per round of polls; `wait` returns once every running lcore has begun a
//! new round since it was called, when nothing of the old state can still be in use.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest `wait` waits for an lcore (one stuck that long is a bug worth a warning, not a hang).
const WAIT_LIMIT: Duration = Duration::from_secs(1);

pub struct Quiescence {
    /// Per lcore: rounds begun, 0 until it runs.
    rounds: Box<[AtomicU64]>,
    stop: Arc<AtomicBool>,
}

impl Quiescence {
    pub fn new(lcores: usize, stop: Arc<AtomicBool>) -> Quiescence {
        Quiescence {
            rounds: (0..lcores).map(|_| AtomicU64::new(0)).collect(),
            stop,
        }
    }

    /// Lcore `lcore` holds nothing from before: called when it starts and after each round.
    /// (SeqCst: ordered with the control side's store of what it retires, so that the round
    /// after this one sees it.)
    #[inline]
    pub fn passed(&self, lcore: usize) {
        let rounds = &self.rounds[lcore];
        rounds.store(rounds.load(SeqCst) + 1, SeqCst);
    }

    /// Returns once every lcore that runs has passed two points since the call (the round it
    /// was in has ended and a new one began), or the switch is stopping.
    pub fn wait(&self) {
        let start: Vec<u64> = self.rounds.iter().map(|r| r.load(SeqCst)).collect();
        let deadline = Instant::now() + WAIT_LIMIT;
        let behind = || {
            let lagging = |(r, s): (&AtomicU64, &u64)| *s != 0 && r.load(SeqCst) < s + 2;
            self.rounds.iter().zip(&start).any(lagging)
        };
        while !self.stop.load(SeqCst) && behind() {
            if Instant::now() > deadline {
                tracing::warn!("a forwarding lcore passed no quiescent point in {WAIT_LIMIT:?}");
                return;
            }
            std::thread::sleep(Duration::from_micros(20));
        }
    }
}
