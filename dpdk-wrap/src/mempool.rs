//! Packet-buffer pools (`rte_pktmbuf_pool_create`): NUMA-local hugepage memory from the EAL.

use std::ptr::NonNull;
use std::sync::Arc;

use dpdk_sys::rte_mempool;

use crate::eal::Eal;
use crate::error::{c_string, DpdkError, Result};
use crate::mbuf::{Mbuf, MbufBatch};

/// A pool of packet buffers. Clones share it; a port that receives into it keeps a clone. It is
/// freed with the last clone only if every mbuf came back (a later free would touch freed
/// memory); otherwise it stays, and the EAL skips its cleanup (see `Eal`).
#[derive(Clone)]
pub struct Mempool(Arc<PoolInner>);

struct PoolInner {
    ptr: NonNull<rte_mempool>,
    eal: Eal,
}

// SAFETY: mempool get/put are thread-safe (multi-producer/consumer rings, per-lcore caches).
unsafe impl Send for PoolInner {}
// SAFETY: as above; all methods take &self and use thread-safe mempool calls.
unsafe impl Sync for PoolInner {}

impl PoolInner {
    fn capacity(&self) -> u32 {
        // SAFETY: a valid pool; `size` is immutable after creation.
        unsafe { self.ptr.as_ref().size }
    }

    fn available(&self) -> u32 {
        // SAFETY: a valid pool; the count walks the per-lcore caches.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.ptr.as_ptr()) }
    }

    /// Fewer than `n` mbufs in the pool's shared ring (the lcores' caches not counted): an lcore
    /// whose own cache holds fewer than `n` cannot get `n`. Two index reads, where
    /// `available` reads every lcore's cache.
    fn shared_below(&self, n: u32) -> bool {
        // SAFETY: a valid pool created with ring ops (see `Mempool::new`): its pool_data is the
        // rte_ring that holds the free mbufs (the union member ring ops use), for the pool's life.
        unsafe { dpdk_sys::rte_ring_count(self.ptr.as_ref().__bindgen_anon_1.pool_data.cast()) < n }
    }

    fn in_use(&self) -> u32 {
        self.capacity() - self.available()
    }
}

impl Mempool {
    /// A pool of `size` mbufs with the default data room (2048 + headroom), `cache` per lcore.
    pub fn new(eal: &Eal, name: &str, size: u32, cache: u32) -> Result<Mempool> {
        let cname = c_string("mempool name", name)?;
        // Ring-backed (DPDK's default ops, named so that `shared_below` may read the ring).
        let ops = c"ring_mp_mc";
        // SAFETY: valid C strings; EAL is initialised (we hold a handle).
        let ptr = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create_by_ops(
                cname.as_ptr(),
                size,
                cache,
                0,
                dpdk_sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16,
                eal.socket_id(),
                ops.as_ptr(),
            )
        };
        NonNull::new(ptr)
            .map(|ptr| {
                Mempool(Arc::new(PoolInner {
                    ptr,
                    eal: eal.clone(),
                }))
            })
            .ok_or_else(|| DpdkError::from_errno(format!("rte_pktmbuf_pool_create({name}, {size})")))
    }

    pub(crate) fn as_ptr(&self) -> *mut rte_mempool {
        self.0.ptr.as_ptr()
    }

    /// The number of mbufs the pool was created with.
    pub fn capacity(&self) -> u32 {
        self.0.capacity()
    }

    /// Mbufs free in the pool, per-lcore caches included (control-path cost: walks the caches).
    pub fn available(&self) -> u32 {
        self.0.available()
    }

    /// Fewer than `n` mbufs left outside the lcores' caches: the cheap first test of a pool
    /// running dry, for the data path (an lcore with fewer than `n` cached cannot get `n`).
    #[inline]
    pub fn shared_below(&self, n: u32) -> bool {
        self.0.shared_below(n)
    }

    /// Mbufs currently out of the pool: a leak shows here once the data path is idle.
    pub fn in_use(&self) -> u32 {
        self.0.in_use()
    }

    /// One empty packet.
    pub fn alloc(&self) -> Result<Mbuf> {
        // SAFETY: a valid pool; a non-null result is an mbuf we now own.
        let raw = unsafe { dpdk_sys::rte_pktmbuf_alloc(self.as_ptr()) };
        if raw.is_null() {
            return Err(DpdkError::new("rte_pktmbuf_alloc: pool empty", 105));
        }
        // SAFETY: non-null and freshly allocated for us.
        Ok(unsafe { Mbuf::from_raw(raw) })
    }

    /// A packet holding a copy of `bytes` (a frame the switch makes itself).
    pub fn frame(&self, bytes: &[u8]) -> Result<Mbuf> {
        let mut m = self.alloc()?;
        m.append(bytes)?;
        Ok(m)
    }

    /// Fills the batch's free slots with empty packets, all or none.
    pub fn alloc_bulk(&self, batch: &mut MbufBatch) -> Result<()> {
        let (slots, n) = batch.spare();
        // SAFETY: `slots` has room for n pointers; on success all n are owned mbufs.
        let rc = unsafe { dpdk_sys::rte_pktmbuf_alloc_bulk(self.as_ptr(), slots, n as u32) };
        if rc != 0 {
            return Err(DpdkError::new("rte_pktmbuf_alloc_bulk: pool empty", 105));
        }
        // SAFETY: the call succeeded, so the n slots hold owned mbufs.
        unsafe { batch.commit(n as usize) };
        Ok(())
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        if self.in_use() == 0 {
            // SAFETY: no mbuf of this pool is outstanding and no handle remains.
            unsafe { dpdk_sys::rte_mempool_free(self.ptr.as_ptr()) }
        } else {
            self.eal.keep_memory();
        }
    }
}
