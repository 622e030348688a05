//! The Environment Abstraction Layer: init once per process, lcores, cleanup.

use std::ffi::{c_int, c_void, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{c_string, DpdkError, Result};

static INITIALISED: AtomicBool = AtomicBool::new(false);
/// Set when a pool was dropped with mbufs still out: they may still be freed later, into
/// memory that `rte_eal_cleanup` would unmap.
static MBUFS_OUTSTANDING: AtomicBool = AtomicBool::new(false);

/// Owns DPDK's EAL. Every handle that needs the EAL alive (pools, ports, rings) keeps a clone;
/// `rte_eal_cleanup` runs when the last one is dropped, unless a pool was dropped with mbufs
/// still out (then the memory stays until the process exits).
#[derive(Clone)]
pub struct Eal {
    _guard: Arc<EalGuard>,
}

struct EalGuard;

impl Drop for EalGuard {
    fn drop(&mut self) {
        if MBUFS_OUTSTANDING.load(Ordering::SeqCst) {
            return;
        }
        // SAFETY: the last handle is gone, so no pool, port or ring of ours exists, every pool
        // was freed with all its mbufs back (so no Mbuf exists), and the worker lcores were
        // joined by their LcoreJob owners. (pdump's uninit only unregisters its action, a
        // no-op where it was never enabled.)
        unsafe {
            dpdk_sys::rte_pdump_uninit();
            dpdk_sys::rte_eal_cleanup();
        }
    }
}

impl Eal {
    /// Initialises the EAL from its command-line arguments (without a program name).
    /// DPDK allows this once per process; a second call fails with EALREADY.
    pub fn init<S: AsRef<str>>(args: &[S]) -> Result<Eal> {
        if INITIALISED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::new("rte_eal_init", EALREADY));
        }
        let mut owned: Vec<CString> = vec![CString::new("ipvlan-switch").unwrap()];
        for a in args {
            let a = a.as_ref();
            owned.push(c_string(&format!("EAL argument {a:?}"), a)?);
        }
        // The EAL may keep pointers into argv for the process lifetime: leak them on purpose.
        let mut argv: Vec<*mut std::ffi::c_char> = owned.into_iter().map(CString::into_raw).collect();
        let argv_ptr = argv.as_mut_ptr();
        let argc = argv.len() as c_int;
        std::mem::forget(argv);
        // SAFETY: argc/argv describe valid NUL-terminated strings that live forever; guarded above
        // so this runs once per process.
        let rc = unsafe { dpdk_sys::rte_eal_init(argc, argv_ptr) };
        if rc < 0 {
            let err = DpdkError::from_errno("rte_eal_init");
            return Err(match hugepage_hint(args) {
                Some(hint) => err.with_hint(hint),
                None => err,
            });
        }
        Ok(Eal {
            _guard: Arc::new(EalGuard),
        })
    }

    /// Keeps DPDK's memory mapped until the process exits: mbufs are still out of a dropped pool.
    pub(crate) fn keep_memory(&self) {
        MBUFS_OUTSTANDING.store(true, Ordering::SeqCst);
    }

    /// The lcore the calling thread runs on (`u32::MAX` for a non-EAL thread).
    pub fn current_lcore() -> u32 {
        // SAFETY: reads the calling thread's lcore id.
        unsafe { dpdk_sys::rte_lcore_id() }
    }

    /// The main lcore, which runs `main` and the control plane.
    pub fn main_lcore(&self) -> u32 {
        // SAFETY: EAL is initialised (we hold a handle).
        unsafe { dpdk_sys::rte_get_main_lcore() }
    }

    /// The enabled worker lcores (all enabled lcores but the main one), in order.
    pub fn worker_lcores(&self) -> Vec<u32> {
        let mut out = Vec::new();
        let mut id = u32::MAX;
        loop {
            // SAFETY: EAL is initialised; rte_get_next_lcore walks the enabled-lcore mask.
            id = unsafe { dpdk_sys::rte_get_next_lcore(id, 1, 0) };
            if id >= dpdk_sys::RTE_MAX_LCORE {
                return out;
            }
            out.push(id);
        }
    }

    /// The NUMA socket of the calling thread.
    pub fn socket_id(&self) -> i32 {
        // SAFETY: EAL is initialised.
        unsafe { dpdk_sys::rte_socket_id() as i32 }
    }

    /// Lets `dpdk-dumpcap` (a secondary process with this process's file prefix) capture any
    /// ethdev port of this process: DPDK's pdump server. Useful only in a primary whose memory
    /// other processes can map: without `--in-memory`.
    pub fn enable_capture(&self) -> Result<()> {
        // SAFETY: EAL is initialised; this registers pdump's multi-process action.
        match unsafe { dpdk_sys::rte_pdump_init() } {
            0 => Ok(()),
            _ => Err(DpdkError::from_errno("rte_pdump_init")),
        }
    }

    /// Timestamp counter ticks per second.
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: EAL is initialised.
        unsafe { dpdk_sys::rte_get_tsc_hz() }
    }

    /// Runs `job` on worker lcore `lcore`. The returned handle joins it.
    /// Must be called from the main lcore (DPDK's launch and wait are not thread-safe).
    pub fn launch<F>(&self, lcore: u32, job: F) -> Result<LcoreJob>
    where
        F: FnOnce() + Send + 'static,
    {
        if Eal::current_lcore() != self.main_lcore() {
            return Err(DpdkError::new(
                "lcore launch from a thread other than the main lcore",
                1,
            ));
        }
        if !self.worker_lcores().contains(&lcore) {
            return Err(DpdkError::new(
                format!("lcore {lcore} is not an enabled worker lcore"),
                22,
            ));
        }
        let boxed: Box<Box<dyn FnOnce() + Send>> = Box::new(Box::new(job));
        let arg = Box::into_raw(boxed) as *mut c_void;
        // SAFETY: `trampoline` takes back ownership of `arg` exactly once; on failure we do.
        let rc = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
        if rc < 0 {
            // SAFETY: the launch failed, so `arg` was not handed to the lcore.
            drop(unsafe { Box::from_raw(arg as *mut Box<dyn FnOnce() + Send>) });
            return Err(DpdkError::new(
                format!("rte_eal_remote_launch(lcore {lcore})"),
                rc,
            ));
        }
        Ok(LcoreJob {
            lcore,
            joined: false,
            _eal: self.clone(),
            _main_lcore_only: std::marker::PhantomData,
        })
    }
}

/// Reads the current thread's time stamp counter (inline on x86-64, as `rte_rdtsc` is in C: no
/// wrapper call per round of polls).
#[inline(always)]
pub fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: RDTSC reads the counter; no memory is touched (every x86-64 CPU has it).
    unsafe {
        std::arch::x86_64::_rdtsc()
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: reads the TSC; no memory is touched.
    unsafe {
        dpdk_sys::rte_rdtsc()
    }
}

unsafe extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` came from Box::into_raw in `launch` and is consumed only here.
    let job = unsafe { Box::from_raw(arg as *mut Box<dyn FnOnce() + Send>) };
    match catch_unwind(AssertUnwindSafe(job)) {
        Ok(()) => 0,
        Err(_) => -1,
    }
}

/// A job running on a worker lcore; `join` waits for it (Drop joins too). Not Send: it is
/// waited for on the main lcore that launched it.
pub struct LcoreJob {
    lcore: u32,
    joined: bool,
    _eal: Eal,
    _main_lcore_only: std::marker::PhantomData<*const ()>,
}

impl LcoreJob {
    /// Waits for the job; an error if it panicked.
    pub fn join(mut self) -> Result<()> {
        self.wait()
    }

    fn wait(&mut self) -> Result<()> {
        self.joined = true;
        // SAFETY: this lcore was launched by us and is waited for once.
        match unsafe { dpdk_sys::rte_eal_wait_lcore(self.lcore) } {
            0 => Ok(()),
            _ => Err(DpdkError {
                what: format!("job on lcore {}", self.lcore),
                code: 0,
                text: "panicked".into(),
                hint: None,
            }),
        }
    }
}

impl Drop for LcoreJob {
    fn drop(&mut self) {
        if !self.joined {
            let _ = self.wait();
        }
    }
}

/// Linux's EALREADY, which rte_eal_init also reports for a second call.
const EALREADY: i32 = 114;

/// Explains the usual cause of an EAL start failure: no hugepages.
fn hugepage_hint<S: AsRef<str>>(args: &[S]) -> Option<String> {
    if args.iter().any(|a| a.as_ref() == "--no-huge") {
        return None;
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let free = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("HugePages_Free:"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let mounted = mounts
        .lines()
        .any(|l| l.split_whitespace().nth(2) == Some("hugetlbfs"));
    let fix =
        "fix: `mkdir -p /dev/hugepages && dpdk-hugepages.py -p 2M --setup 1G` (as root), or pass --no-huge";
    match (free, mounted) {
        (0, _) => Some(format!("no free hugepages; {fix}")),
        (_, false) => Some(format!("no hugetlbfs is mounted; {fix}")),
        _ => None,
    }
}
