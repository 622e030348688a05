//! `rte_ring`: lock-free multi-producer/multi-consumer queues of mbufs, shareable between
//! lcores and with other DPDK processes (found by name).

use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::Arc;

use dpdk_sys::rte_ring;

use crate::eal::Eal;
use crate::error::{c_string, DpdkError, Result};
use crate::mbuf::{Mbuf, MbufBatch};

/// A ring of mbufs. Clones share it; the ring is freed with the last clone.
#[derive(Clone)]
pub struct Ring(Arc<RingInner>);

struct RingInner {
    ptr: NonNull<rte_ring>,
    _eal: Eal,
}

// SAFETY: created multi-producer/multi-consumer, so every operation is safe from any thread.
unsafe impl Send for RingInner {}
// SAFETY: as above.
unsafe impl Sync for RingInner {}

impl Ring {
    /// A new ring that holds up to `size - 1` mbufs (`size` is rounded up to a power of two).
    pub fn create(eal: &Eal, name: &str, size: u32) -> Result<Ring> {
        let cname = c_string("ring name", name)?;
        // SAFETY: valid C string; flags 0 = multi-producer/multi-consumer.
        let ptr = unsafe {
            dpdk_sys::rte_ring_create(cname.as_ptr(), size.next_power_of_two(), eal.socket_id(), 0)
        };
        NonNull::new(ptr)
            .map(|ptr| {
                Ring(Arc::new(RingInner {
                    ptr,
                    _eal: eal.clone(),
                }))
            })
            .ok_or_else(|| {
                let error = DpdkError::from_errno(format!("rte_ring_create({name}, {size})"));
                match error.code {
                    // ENOSPC: every ring takes a memzone, and the build has RTE_MAX_MEMZONE.
                    28 => error.with_hint(format!(
                        "all {} DPDK memzones (RTE_MAX_MEMZONE) are taken; each ring port takes two",
                        dpdk_sys::RTE_MAX_MEMZONE
                    )),
                    _ => error,
                }
            })
    }

    pub(crate) fn as_ptr(&self) -> *mut rte_ring {
        self.0.ptr.as_ptr()
    }

    /// Moves as many packets as fit from the front of `batch` into the ring; the rest stay.
    pub fn enqueue(&self, batch: &mut MbufBatch) -> usize {
        let (slots, n) = batch.filled();
        // SAFETY: `slots` holds n owned mbufs; those enqueued now belong to the ring.
        let done = unsafe {
            dpdk_sys::rte_ring_enqueue_burst(
                self.as_ptr(),
                slots as *const *mut c_void,
                n as u32,
                std::ptr::null_mut(),
            )
        } as usize;
        batch.consumed(done);
        done
    }

    /// Enqueues one packet; a full ring frees it: `false`.
    pub fn enqueue_one(&self, m: Mbuf) -> bool {
        let mut one = MbufBatch::new();
        let _ = one.push(m);
        self.enqueue(&mut one) == 1
    }

    /// Moves up to the batch's free room of packets out of the ring.
    pub fn dequeue(&self, batch: &mut MbufBatch) -> usize {
        self.0.dequeue(batch)
    }

    /// The most packets the ring holds.
    pub fn capacity(&self) -> u32 {
        // SAFETY: a valid ring.
        unsafe { dpdk_sys::rte_ring_get_capacity(self.as_ptr()) }
    }

    /// Packets waiting in the ring.
    pub fn count(&self) -> u32 {
        // SAFETY: a valid ring.
        unsafe { dpdk_sys::rte_ring_count(self.as_ptr()) }
    }
}

impl RingInner {
    fn dequeue(&self, batch: &mut MbufBatch) -> usize {
        let (slots, n) = batch.spare();
        // SAFETY: room for n pointers; what is dequeued is owned mbufs the ring gives up.
        let got = unsafe {
            dpdk_sys::rte_ring_dequeue_burst(
                self.ptr.as_ptr(),
                slots as *mut *mut c_void,
                n as u32,
                std::ptr::null_mut(),
            )
        } as usize;
        // SAFETY: `got` slots were just filled with owned mbufs.
        unsafe { batch.commit(got) };
        got
    }
}

impl Drop for RingInner {
    fn drop(&mut self) {
        // Free the packets still queued, then the ring.
        let mut batch = MbufBatch::new();
        while self.dequeue(&mut batch) > 0 {
            batch.free_all();
        }
        // SAFETY: the last handle is gone (ports that use it hold clones), so nobody uses it.
        unsafe { dpdk_sys::rte_ring_free(self.ptr.as_ptr()) }
    }
}
