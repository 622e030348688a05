//! vhost-user slave ports, on DPDK's vhost library (through `dpdk_wrap::VhostSocket`): a vhost
//! slave takes no ethdev. The slave is up while a guest is attached with both virtqueues of
//! its first queue pair enabled, and down otherwise; the owner learns each change through a
//! callback, and a detach returns only once no lcore can still be using the guest's device.
//! With several queue pairs, each pair is read as a receive queue of its own (the switch
//! spreads them over its lcores, as the phy's RSS queues) and each sending lcore uses the pair
//! of its lane.

use std::io::ErrorKind;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::Arc;

use conf::VhostConf;
use dpdk_wrap::{DpdkError, Eal, MbufBatch, Mempool, VhostDevice, VhostEvents, VhostSocket, BURST};
use parking_lot::Mutex;

/// Queue pair p: virtqueue 2p into the guest (its rx), 2p + 1 out of it (its tx).
fn to_guest(pair: u16) -> u16 {
    2 * pair
}

fn from_guest(pair: u16) -> u16 {
    2 * pair + 1
}

/// Both virtqueues of `pair`, as bits of `Link::enabled`.
fn pair_bits(pair: u16) -> u32 {
    0b11 << (2 * pair)
}

/// Queue pairs a slave may have (`Link::enabled` holds 16 virtqueues).
const MAX_QUEUE_PAIRS: u16 = 8;
const NO_DEVICE: i32 = -1;

/// What the switch does when a slave comes up or goes down.
pub type OnState = Box<dyn Fn(bool) + Send + Sync>;
/// Returns once every forwarding lcore has passed a point where it holds no device.
pub type Quiesce = Box<dyn Fn() + Send + Sync>;

/// The data-path side of a vhost slave, shared by the lcores and the vhost event thread.
pub struct Link {
    name: String,
    /// The attached guest's device id, or `NO_DEVICE`.
    device: AtomicI32,
    /// Bit q set: virtqueue q enabled by the guest.
    enabled: AtomicU32,
    /// Queue pairs configured (the guest may use fewer).
    queues: u16,
    tx_retries: u8,
    /// Per queue pair, taken per burst only where several lcores send to this guest (one
    /// virtqueue must not be used by two lcores at once).
    tx_locks: Box<[Mutex<()>]>,
    on_state: OnState,
    quiesce: Quiesce,
}

impl Link {
    /// The guest's device, if one is attached and its first queue pair enabled.
    #[inline(always)]
    fn device(&self) -> Option<VhostDevice> {
        let ready = self.enabled.load(Ordering::Acquire) & pair_bits(0) == pair_bits(0);
        // SeqCst: ordered with the lcores' quiescent points (see switch's `quiesce`).
        match self.device.load(Ordering::SeqCst) {
            NO_DEVICE => None,
            id => ready.then(|| VhostDevice::from_id(id)),
        }
    }

    /// Queue pairs in use: the enabled ones from the first on (a guest enables them in order).
    #[inline(always)]
    fn pairs(&self) -> u16 {
        let enabled = self.enabled.load(Ordering::Acquire);
        let more = (1..self.queues).take_while(|&p| enabled & pair_bits(p) == pair_bits(p));
        1 + more.count() as u16
    }

    /// Frames the guest sent on queue pair `pair` (nothing if it does not use that pair), into
    /// the batch's free room, from `pool`.
    #[inline]
    pub fn recv(&self, pair: u16, pool: &Mempool, batch: &mut MbufBatch) -> usize {
        self.using_pair(pair)
            .map_or(0, |device| device.dequeue(from_guest(pair), pool, batch))
    }

    /// The guest's device, if one is attached and uses queue pair `pair`.
    #[inline(always)]
    fn using_pair(&self, pair: u16) -> Option<VhostDevice> {
        self.device().filter(|_| pair < self.pairs())
    }

    /// The guest has frames waiting that the last receive could not take for want of mbufs
    /// (they stay in its queue; checked only after a receive that brought nothing).
    /// The pool is tested first: reading the guest's ring after every empty poll would pull
    /// a cache line the guest is writing, and slow it.
    pub fn starved(&self, pair: u16, pool: &Mempool) -> bool {
        pool.shared_below(BURST as u32)
            && self
                .using_pair(pair)
                .is_some_and(|device| device.pending(from_guest(pair)) > 0)
    }

    /// Copies frames from the front of the batch into the guest, on the queue pair of `lane`
    /// (the sending lcore's index), retrying a full virtqueue up to `tx_retries` times while it
    /// makes progress; what it did not take stays in the batch. `shared`: other lcores send to
    /// this guest too.
    #[inline]
    pub fn send(&self, batch: &mut MbufBatch, lane: u16, shared: bool) -> usize {
        let Some(device) = self.device() else {
            return 0;
        };
        let pair = lane % self.pairs();
        let _guard = shared.then(|| self.tx_locks[usize::from(pair)].lock());
        let queue = to_guest(pair);
        let mut sent = device.enqueue(queue, batch);
        for _ in 0..self.tx_retries {
            if batch.is_empty() {
                break;
            }
            match device.enqueue(queue, batch) {
                0 => break,
                more => sent += more,
            }
        }
        sent
    }

    fn update_state(&self, was_up: bool) {
        let up = self.device().is_some();
        if up != was_up {
            (self.on_state)(up);
        }
    }
}

impl VhostEvents for Link {
    fn attached(&self, device: VhostDevice) {
        let was_up = self.device().is_some();
        let before = self.device.swap(device.id(), Ordering::AcqRel);
        if before != NO_DEVICE {
            // A second connection on the socket (a migration's destination started before the
            // source stopped, or a stray QEMU): the newest guest is the slave's.
            tracing::warn!(slave = %self.name, device = device.id(), replaced = before, "guest attached in place of another");
        }
        tracing::info!(slave = %self.name, device = device.id(), "guest attached");
        self.update_state(was_up);
    }

    fn detached(&self, device: VhostDevice) {
        let was_up = self.device().is_some();
        let current =
            self.device
                .compare_exchange(device.id(), NO_DEVICE, Ordering::SeqCst, Ordering::SeqCst);
        if current.is_err() {
            // Replaced already: the slave stays with the guest that replaced it. Lcores no
            // longer load this id, but one may still hold it from before the replacement.
            (self.quiesce)();
            return tracing::info!(slave = %self.name, device = device.id(), "replaced guest detached");
        }
        self.enabled.store(0, Ordering::Release);
        if was_up {
            (self.on_state)(false);
        }
        // No lcore may be inside an enqueue or dequeue on the device when this returns.
        (self.quiesce)();
        tracing::info!(slave = %self.name, device = device.id(), "guest detached");
    }

    fn queue_state(&self, _device: VhostDevice, queue: u16, enabled: bool) {
        let was_up = self.device().is_some();
        if queue < 2 * MAX_QUEUE_PAIRS {
            let bit = 1 << queue;
            match enabled {
                true => self.enabled.fetch_or(bit, Ordering::AcqRel),
                false => self.enabled.fetch_and(!bit, Ordering::AcqRel),
            };
        }
        // No wait here: the library calls this holding every virtqueue's lock, which an lcore
        // inside an enqueue or dequeue holds too (the library serialises them itself).
        self.update_state(was_up);
    }
}

/// A vhost-user slave port: its socket and its link. Dropping it unregisters the socket
/// (detaching a guest) and removes the socket file it created.
pub struct VhostSlave {
    link: Arc<Link>,
    /// Unregistering (on drop) detaches a guest through the link's events.
    _socket: VhostSocket,
}

impl VhostSlave {
    /// Creates (server) or connects to (client) the slave's socket. The slave starts down.
    pub fn open(
        eal: &Eal,
        name: &str,
        conf: &VhostConf,
        on_state: OnState,
        quiesce: Quiesce,
    ) -> Result<VhostSlave, DpdkError> {
        if !conf.client {
            prepare_server_path(&conf.socket)?;
        }
        let link = Arc::new(Link {
            name: name.to_string(),
            device: AtomicI32::new(NO_DEVICE),
            enabled: AtomicU32::new(0),
            queues: conf.queues.min(MAX_QUEUE_PAIRS),
            tx_retries: conf.tx_retries,
            tx_locks: (0..conf.queues).map(|_| Mutex::new(())).collect(),
            on_state,
            quiesce,
        });
        let path = conf
            .socket
            .to_str()
            .ok_or_else(|| DpdkError::new("the socket path is not UTF-8", 22))?;
        let socket = VhostSocket::register(eal, path, conf.client, conf.queues > 1, link.clone())?;
        Ok(VhostSlave {
            link,
            _socket: socket,
        })
    }

    /// The data-path side, for the lcores.
    pub fn link(&self) -> Arc<Link> {
        self.link.clone()
    }

    /// Queue pairs the attached guest uses; 0 without a guest (or with its first pair off).
    pub fn queue_pairs(&self) -> u16 {
        match self.link.device() {
            Some(_) => self.link.pairs(),
            None => 0,
        }
    }
}

/// Makes room for a server socket: its directory exists, and a socket file left by a switch
/// that is gone is removed; one that a live process listens on is refused.
fn prepare_server_path(path: &Path) -> Result<(), DpdkError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| DpdkError::new(format!("creating {}: {e}", dir.display()), 5))?;
    }
    if path.exists() {
        match UnixStream::connect(path) {
            Ok(_) => {
                return Err(DpdkError::new(format!("{} is in use", path.display()), 98)
                    .with_hint("another process listens on it: give this slave another socket"))
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                std::fs::remove_file(path)
                    .map_err(|e| DpdkError::new(format!("removing stale {}: {e}", path.display()), 5))?;
            }
            Err(e) => return Err(DpdkError::new(format!("{}: {e}", path.display()), 5)),
        }
    }
    Ok(())
}
