//! Mode l3's neighbour resolution on the phy, as the master's stack did it: a thread of its
//! own (not a forwarding lcore) takes what the lcores hand it on a ring (frames routed to a
//! next hop whose MAC is not known, ARP replies and NAs from the wire), and hands what it sends
//! (requests, released frames) to the first lcore on another, which sends it on the phy (a
//! queue of its own would need an rx queue to match on a TAP). It asks for each unknown
//! next hop from the master's address and MAC (ARP, ND), keeps the frames waiting for it in a
//! small bounded queue, and once the answer comes sends them in order and publishes the
//! learned MAC in the lcores' tables. Entries age: incomplete (asked, up to `TRIES` times a
//! `RETRY` apart, then failed: its frames dropped and counted, each answered to its sender
//! with an ICMP "host unreachable" as the master's stack does), reachable (for
//! `REACHABLE_FOR`), then stale (still used, asked again; gone if unanswered).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use conf::L3Conf;
use dpdk_wrap::{Mbuf, MbufBatch, Mempool, Published, Ring};
use parking_lot::Mutex;
use switch_core::classify::{classify, Key};
use switch_core::icmp::Unreachable;
use switch_core::neighbour::{self, Neighbours, REQUEST_MAX};

use crate::datapath::{
    error_sources, eth_addresses, readdressed, IcmpBudget, NextHops, ResolverOutbox, Tables,
};

/// Frames that wait for one next hop, at most (more are dropped and counted).
const QUEUE_MAX: usize = 16;
/// Requests for a next hop before it counts as failed.
const TRIES: u32 = 3;
/// Between two requests for a next hop that has not answered.
const RETRY: Duration = Duration::from_secs(1);
/// How long a failed next hop drops its frames at once, before it is asked again.
const FAILED_FOR: Duration = Duration::from_secs(5);
/// How long an answer is trusted before the next hop is asked again (the kernel's base
/// reachable time is 30 s).
const REACHABLE_FOR: Duration = Duration::from_secs(30);
/// How often the thread looks at its ring and its timers.
const TICK: Duration = Duration::from_micros(500);

/// What the resolver did, since start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ResolverTotals {
    pub requests: u64,
    pub learned: u64,
    /// Frames that waited for a next hop and were sent.
    pub released: u64,
    /// Frames dropped: their next hop failed, or its queue was full.
    pub dropped: u64,
    /// ICMP "host unreachable" errors sent back for the frames of a failed next hop.
    pub unreachable: u64,
}

/// One neighbour as `show neighbours` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NeighbourReport {
    pub ip: String,
    pub mac: Option<String>,
    /// "static", "incomplete", "reachable", "stale" or "failed".
    pub state: &'static str,
    /// Frames waiting for it.
    pub waiting: usize,
}

#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    learned: AtomicU64,
    released: AtomicU64,
    dropped: AtomicU64,
    unreachable: AtomicU64,
}

enum State {
    Incomplete {
        asked: Instant,
        tries: u32,
    },
    Reachable {
        mac: [u8; 6],
        since: Instant,
    },
    /// Still used; asked again at `asked`, gone after `TRIES` unanswered requests.
    Stale {
        mac: [u8; 6],
        asked: Instant,
        tries: u32,
    },
    Failed {
        since: Instant,
    },
}

struct Entry {
    state: State,
    waiting: VecDeque<Mbuf>,
}

/// The running resolver; `stop` (or Drop) ends its thread.
pub struct Resolver {
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    /// The entries as of the last change (the thread writes it; `show neighbours` reads it).
    entries: Arc<Mutex<Vec<NeighbourReport>>>,
}

impl Resolver {
    /// Starts the thread: frames arrive on `inbox`, requests and released frames leave on
    /// `outbox` (for the phy; its ICMP errors for the slaves), learned MACs are published in
    /// `tables`.
    pub fn start(
        inbox: Ring,
        outbox: ResolverOutbox,
        tables: Arc<Published<Tables>>,
        l3: &L3Conf,
        master_mac: [u8; 6],
        pool: Mempool,
        tsc_hz: u64,
    ) -> Resolver {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let reports = Arc::new(Mutex::new(Vec::new()));
        let mut work = Work {
            inbox,
            outbox,
            tables,
            sources: l3.addresses.iter().map(|&(ip, prefix)| (ip, prefix)).collect(),
            master_mac,
            pool,
            entries: HashMap::new(),
            icmp: IcmpBudget::new(tsc_hz),
            error_sources: error_sources(&l3.addresses),
            counters: counters.clone(),
            reports: reports.clone(),
        };
        let stop_flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("ipvsw-resolver".into())
            .spawn(move || {
                while !stop_flag.load(Relaxed) {
                    work.round(Instant::now());
                    std::thread::sleep(TICK);
                }
                work.drop_all();
            })
            .expect("the resolver thread starts");
        Resolver {
            thread: Some(thread),
            stop,
            counters,
            entries: reports,
        }
    }

    /// The entries it keeps, by address.
    pub fn entries(&self) -> Vec<NeighbourReport> {
        self.entries.lock().clone()
    }

    pub fn totals(&self) -> ResolverTotals {
        let c = &self.counters;
        ResolverTotals {
            requests: c.requests.load(Relaxed),
            learned: c.learned.load(Relaxed),
            released: c.released.load(Relaxed),
            dropped: c.dropped.load(Relaxed),
            unreachable: c.unreachable.load(Relaxed),
        }
    }

    /// Ends the thread; the frames still waiting are freed (counted as dropped).
    pub fn stop(&mut self) {
        self.stop.store(true, Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The resolver thread's state.
struct Work {
    inbox: Ring,
    outbox: ResolverOutbox,
    tables: Arc<Published<Tables>>,
    /// The master's addresses: a request for a next hop comes from the one on its network.
    sources: Vec<(std::net::IpAddr, u8)>,
    master_mac: [u8; 6],
    pool: Mempool,
    entries: HashMap<Key, Entry>,
    /// The ICMP errors' rate limit, as an lcore's.
    icmp: IcmpBudget,
    /// Where they come from (the master's first IPv4 and IPv6 address).
    error_sources: (Option<Key>, Option<Key>),
    counters: Arc<Counters>,
    reports: Arc<Mutex<Vec<NeighbourReport>>>,
}

impl Work {
    fn round(&mut self, now: Instant) {
        let mut batch = MbufBatch::new();
        let (mut learned, mut took) = (false, false);
        while self.inbox.dequeue(&mut batch) > 0 {
            for m in batch.drain() {
                took = true;
                learned |= self.take(m, now);
            }
        }
        let (changed, moved) = self.age(now);
        if learned || changed {
            self.publish();
        }
        if took || learned || moved {
            self.report();
        }
    }

    /// The entries for `show neighbours`.
    fn report(&self) {
        let mut reports: Vec<NeighbourReport> = self
            .entries
            .iter()
            .map(|(ip, entry)| {
                let (state, mac) = match entry.state {
                    State::Incomplete { .. } => ("incomplete", None),
                    State::Reachable { mac, .. } => ("reachable", Some(mac)),
                    State::Stale { mac, .. } => ("stale", Some(mac)),
                    State::Failed { .. } => ("failed", None),
                };
                NeighbourReport {
                    ip: std::net::IpAddr::from(*ip).to_string(),
                    mac: mac.map(|m| crate::format_mac(&m)),
                    state,
                    waiting: entry.waiting.len(),
                }
            })
            .collect();
        reports.sort_by(|a, b| a.ip.cmp(&b.ip));
        *self.reports.lock() = reports;
    }

    /// A frame from an lcore: an answer (true: a MAC was learned) or one to route.
    fn take(&mut self, m: Mbuf, now: Instant) -> bool {
        if neighbour::is_advertisement(m.data()) {
            let learned = neighbour::learned(m.data()).is_some_and(|(ip, mac)| self.learn(ip, mac, now));
            drop(m);
            return learned;
        }
        let destination = classify(m.data(), m.pkt_len() as usize).and_then(|c| c.dst_key);
        let next_hop = destination.and_then(|d| {
            self.tables
                .with(|t| t.l3.as_ref().and_then(|l3| l3.routes.next_hop(d)))
        });
        match next_hop {
            Some(via) => self.route(m, via, now),
            None => {
                self.counters.dropped.fetch_add(1, Relaxed);
            }
        }
        false
    }

    /// `m` goes through `via`: now if its MAC is known, else once it is.
    fn route(&mut self, m: Mbuf, via: Key, now: Instant) {
        let entry = self.entries.entry(via).or_insert_with(|| Entry {
            state: State::Incomplete { asked: now, tries: 0 },
            waiting: VecDeque::new(),
        });
        let ask = match entry.state {
            State::Reachable { mac, .. } | State::Stale { mac, .. } => return self.send_to(m, &mac),
            State::Failed { since } if now.duration_since(since) < FAILED_FOR => {
                self.counters.dropped.fetch_add(1, Relaxed);
                return self.unreachable(&m);
            }
            // Failed long enough ago to try again, or new.
            State::Failed { .. } | State::Incomplete { tries: 0, .. } => {
                entry.state = State::Incomplete { asked: now, tries: 1 };
                true
            }
            State::Incomplete { .. } => false,
        };
        match entry.waiting.len() < QUEUE_MAX {
            true => entry.waiting.push_back(m),
            false => {
                self.counters.dropped.fetch_add(1, Relaxed);
            }
        }
        if ask {
            self.request(via);
        }
    }

    /// `ip` is at `mac`: kept if the resolver asked for it (or knows it), its frames sent.
    fn learn(&mut self, ip: Key, mac: [u8; 6], now: Instant) -> bool {
        let Some(entry) = self.entries.get_mut(&ip) else {
            return false;
        };
        let known = match entry.state {
            State::Reachable { mac: old, .. } | State::Stale { mac: old, .. } => old == mac,
            _ => false,
        };
        entry.state = State::Reachable { mac, since: now };
        let waiting: Vec<Mbuf> = entry.waiting.drain(..).collect();
        self.counters.learned.fetch_add(1, Relaxed);
        for m in waiting {
            self.counters.released.fetch_add(1, Relaxed);
            self.send_to(m, &mac);
        }
        !known
    }

    /// Retries, failures and ageing: (the published MACs change, any entry changed).
    fn age(&mut self, now: Instant) -> (bool, bool) {
        let mut ask = Vec::new();
        // `gone`: an entry failed or went.
        let (mut changed, mut gone) = (false, false);
        let mut failed = Vec::new();
        self.entries.retain(|ip, entry| {
            match &mut entry.state {
                State::Incomplete { asked, tries } if now.duration_since(*asked) >= RETRY => {
                    if *tries >= TRIES {
                        failed.extend(entry.waiting.drain(..));
                        entry.state = State::Failed { since: now };
                        gone = true;
                    } else {
                        (*asked, *tries) = (now, *tries + 1);
                        ask.push(*ip);
                    }
                }
                State::Reachable { mac, since } if now.duration_since(*since) >= REACHABLE_FOR => {
                    entry.state = State::Stale {
                        mac: *mac,
                        asked: now,
                        tries: 1,
                    };
                    ask.push(*ip);
                }
                State::Stale { asked, tries, .. } if now.duration_since(*asked) >= RETRY => {
                    if *tries >= TRIES {
                        (changed, gone) = (true, true);
                        return false;
                    }
                    (*asked, *tries) = (now, *tries + 1);
                    ask.push(*ip);
                }
                State::Failed { since } if now.duration_since(*since) >= FAILED_FOR => {
                    gone = true;
                    return false;
                }
                _ => {}
            }
            true
        });
        self.counters.dropped.fetch_add(failed.len() as u64, Relaxed);
        let moved = gone || !failed.is_empty() || !ask.is_empty();
        for m in failed {
            self.unreachable(&m);
        }
        for ip in ask {
            self.request(ip);
        }
        (changed, moved)
    }

    /// Publishes the MACs it knows for the lcores.
    fn publish(&self) {
        let known = self.entries.iter().filter_map(|(ip, entry)| match entry.state {
            State::Reachable { mac, .. } | State::Stale { mac, .. } => Some((*ip, mac)),
            _ => None,
        });
        let resolved = Neighbours::default().with(known);
        drop(self.tables.update(|current| Tables {
            next_hops: Arc::new(NextHops::new(current.l3.as_deref(), resolved, self.master_mac)),
            ..current.clone()
        }));
    }

    /// Asks for `ip`'s MAC, from the master's address on its network.
    fn request(&mut self, ip: Key) {
        let on_link = self.sources.iter().find(|&&own| conf::on_network(ip.into(), own));
        let Some(&(source, _)) = on_link else {
            return;
        };
        let source = Key::from(source);
        let mut frame = [0u8; REQUEST_MAX];
        let len = neighbour::request(ip, source, &self.master_mac, &mut frame);
        if let Ok(m) = self.pool.frame(&frame[..len]) {
            self.counters.requests.fetch_add(1, Relaxed);
            self.send(m);
        }
    }

    /// Tells the sender of `m`, whose next hop failed, with an ICMP(v6) "host unreachable"
    /// from the master's address of its family, within the rate limit.
    fn unreachable(&mut self, m: &Mbuf) {
        let made = self.icmp.error(
            m,
            Unreachable::Host,
            self.error_sources,
            &self.master_mac,
            &self.pool,
        );
        if let Some(error) = made {
            self.counters.unreachable.fetch_add(1, Relaxed);
            self.enqueue(&self.outbox.to_slaves, error);
        }
    }

    /// `m` to the phy with `mac` as destination and the master's as source.
    fn send_to(&mut self, m: Mbuf, mac: &[u8; 6]) {
        match readdressed(m, &eth_addresses(mac, &self.master_mac), &self.pool) {
            Some(m) => self.send(m),
            None => {
                self.counters.dropped.fetch_add(1, Relaxed);
            }
        }
    }

    fn send(&mut self, m: Mbuf) {
        self.enqueue(&self.outbox.to_phy, m);
    }

    /// `m` on `ring`; a full ring drops it, counted.
    fn enqueue(&self, ring: &Ring, m: Mbuf) {
        if !ring.enqueue_one(m) {
            self.counters.dropped.fetch_add(1, Relaxed);
        }
    }

    /// At stop: every waiting frame freed, counted.
    fn drop_all(&mut self) {
        let waiting: u64 = self.entries.values().map(|e| e.waiting.len() as u64).sum();
        self.counters.dropped.fetch_add(waiting, Relaxed);
        self.entries.clear();
        let mut batch = MbufBatch::new();
        while self.inbox.dequeue(&mut batch) > 0 {
            self.counters.dropped.fetch_add(batch.free_all() as u64, Relaxed);
        }
    }
}
