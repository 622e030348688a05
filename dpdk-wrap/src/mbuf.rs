//! Packet buffers: an owned `Mbuf` and a fixed-capacity burst `MbufBatch`.

use std::ptr::NonNull;

use dpdk_sys::rte_mbuf;

use crate::error::{DpdkError, Result};

/// Packets per burst: the size of every rx/tx call and of every batch.
pub const BURST: usize = 32;

/// One packet, owned: dropping it returns it (or its reference) to its pool.
#[repr(transparent)]
pub struct Mbuf(NonNull<rte_mbuf>);

// SAFETY: an mbuf is plain memory owned by whoever holds the pointer; mempools are thread-safe.
unsafe impl Send for Mbuf {}

impl Mbuf {
    /// Takes ownership of a raw mbuf pointer.
    ///
    /// # Safety
    /// `raw` must be a valid mbuf that nobody else will free.
    pub(crate) unsafe fn from_raw(raw: *mut rte_mbuf) -> Mbuf {
        // SAFETY: the caller guarantees a valid, hence non-null, pointer.
        Mbuf(unsafe { NonNull::new_unchecked(raw) })
    }

    fn into_raw(self) -> *mut rte_mbuf {
        let raw = self.0.as_ptr();
        std::mem::forget(self);
        raw
    }

    fn raw(&self) -> &rte_mbuf {
        // SAFETY: we own a valid mbuf for as long as self lives.
        unsafe { self.0.as_ref() }
    }

    /// The first segment's bytes (the whole packet unless it is chained).
    #[inline(always)]
    pub fn data(&self) -> &[u8] {
        let m = self.raw();
        // SAFETY: buf_addr + data_off points at data_len initialised bytes inside the buffer.
        unsafe {
            std::slice::from_raw_parts(
                (m.buf_addr as *const u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        }
    }

    /// The first segment's bytes, writable; `None` while the buffer is shared (refcount > 1).
    pub fn data_mut(&mut self) -> Option<&mut [u8]> {
        if self.refcnt() != 1 {
            return None;
        }
        let m = self.raw();
        // SAFETY: as in `data`, and the refcount of 1 means nobody else sees these bytes.
        Some(unsafe {
            std::slice::from_raw_parts_mut(
                (m.buf_addr as *mut u8).add(m.data_off as usize),
                m.data_len as usize,
            )
        })
    }

    /// The packet's total length over all segments.
    #[inline(always)]
    pub fn pkt_len(&self) -> u32 {
        self.raw().pkt_len
    }

    /// How many owners share this buffer.
    pub fn refcnt(&self) -> u16 {
        // SAFETY: reads the refcount of a valid mbuf.
        unsafe { dpdk_sys::rte_mbuf_refcnt_read(self.0.as_ptr()) }
    }

    /// Appends bytes at the end of the packet (for frames the switch or a test builds).
    pub fn append(&mut self, bytes: &[u8]) -> Result<()> {
        let len = u16::try_from(bytes.len()).map_err(|_| DpdkError::new("rte_pktmbuf_append", 22))?;
        // SAFETY: rte_pktmbuf_append returns room for `len` bytes in the last segment, or NULL.
        let dst = unsafe { dpdk_sys::rte_pktmbuf_append(self.0.as_ptr(), len) } as *mut u8;
        if dst.is_null() {
            return Err(DpdkError::new("rte_pktmbuf_append: no tailroom", 28));
        }
        // SAFETY: dst has room for bytes.len() bytes and cannot overlap a borrowed slice.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len()) };
        Ok(())
    }

    /// `n` owners of this buffer for zero-copy fan-out, with one refcount update. The bytes
    /// become read-only (`data_mut` returns `None`) until all but one owner are gone.
    /// `n == 0` frees the packet.
    #[inline]
    pub fn into_shares(self, n: u16) -> Shares {
        if n > 1 {
            // SAFETY: adds n - 1 references to a valid mbuf; the Shares hand them out.
            unsafe { dpdk_sys::rte_mbuf_refcnt_update(self.0.as_ptr(), (n - 1) as i16) };
        }
        if n == 0 {
            drop(self);
            return Shares {
                raw: std::ptr::null_mut(),
                left: 0,
            };
        }
        Shares {
            raw: self.into_raw(),
            left: n,
        }
    }

    /// Hints the CPU to load the packet's first cache line.
    #[inline(always)]
    pub fn prefetch_data(&self) {
        let m = self.raw();
        let p = (m.buf_addr as *const u8).wrapping_add(m.data_off as usize);
        #[cfg(target_arch = "x86_64")]
        // SAFETY: prefetch never faults, whatever the address.
        unsafe {
            std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0)
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = p;
    }
}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own one reference to a valid mbuf; free drops exactly that one.
        unsafe { dpdk_sys::rte_pktmbuf_free(self.0.as_ptr()) }
    }
}

/// The owners of one shared buffer, handed out one by one (see [`Mbuf::into_shares`]); those
/// not taken are freed on drop.
pub struct Shares {
    raw: *mut rte_mbuf,
    left: u16,
}

impl Iterator for Shares {
    type Item = Mbuf;

    #[inline(always)]
    fn next(&mut self) -> Option<Mbuf> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // SAFETY: each of the `left` references is handed out once.
        Some(unsafe { Mbuf::from_raw(self.raw) })
    }
}

impl Drop for Shares {
    fn drop(&mut self) {
        self.for_each(drop);
    }
}

/// Up to `BURST` owned mbufs, the unit of every rx and tx call. Dropping it frees what it
/// still holds in one bulk call.
pub struct MbufBatch {
    len: usize,
    bufs: [*mut rte_mbuf; BURST],
}

// SAFETY: the batch owns its mbufs exclusively (see Mbuf).
unsafe impl Send for MbufBatch {}

impl Default for MbufBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl MbufBatch {
    pub const fn new() -> MbufBatch {
        MbufBatch {
            len: 0,
            bufs: [std::ptr::null_mut(); BURST],
        }
    }

    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline(always)]
    pub fn is_full(&self) -> bool {
        self.len == BURST
    }

    /// Adds a packet; hands it back when the batch is full.
    #[inline(always)]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.len == BURST {
            return Err(m);
        }
        self.bufs[self.len] = m.into_raw();
        self.len += 1;
        Ok(())
    }

    /// The packets, in order.
    #[inline(always)]
    pub fn as_slice(&self) -> &[Mbuf] {
        // SAFETY: Mbuf is a transparent NonNull and entries 0..len are valid, owned mbufs.
        unsafe { std::slice::from_raw_parts(self.bufs.as_ptr() as *const Mbuf, self.len) }
    }

    /// Takes every packet out, in order; what the iterator has not yielded when dropped is freed.
    #[inline]
    pub fn drain(&mut self) -> Drain<'_> {
        let end = self.len;
        self.len = 0;
        Drain {
            batch: self,
            next: 0,
            end,
        }
    }

    /// Frees every packet in one bulk call; returns how many.
    pub fn free_all(&mut self) -> usize {
        let n = self.len;
        if n > 0 {
            // SAFETY: entries 0..n are owned, valid mbufs; the batch forgets them.
            unsafe { dpdk_sys::rte_pktmbuf_free_bulk(self.bufs.as_mut_ptr(), n as u32) };
            self.len = 0;
        }
        n
    }

    /// Room for the PMD to write into: (pointer to the first free slot, free slots).
    pub(crate) fn spare(&mut self) -> (*mut *mut rte_mbuf, u16) {
        // SAFETY: len <= BURST, so the pointer stays within (or one past) the array.
        (
            unsafe { self.bufs.as_mut_ptr().add(self.len) },
            (BURST - self.len) as u16,
        )
    }

    /// Records that the PMD filled `n` more slots.
    ///
    /// # Safety
    /// The `n` slots after `len` must now hold owned, valid mbufs.
    pub(crate) unsafe fn commit(&mut self, n: usize) {
        debug_assert!(self.len + n <= BURST);
        self.len += n;
    }

    /// The filled slots, for a PMD to take from the front.
    pub(crate) fn filled(&mut self) -> (*mut *mut rte_mbuf, u16) {
        (self.bufs.as_mut_ptr(), self.len as u16)
    }

    /// Forgets the first `n` packets (a PMD took them) and moves the rest to the front.
    pub(crate) fn consumed(&mut self, n: usize) {
        debug_assert!(n <= self.len);
        if n < self.len {
            self.bufs.copy_within(n..self.len, 0);
        }
        self.len -= n;
    }
}

impl Drop for MbufBatch {
    fn drop(&mut self) {
        self.free_all();
    }
}

/// See [`MbufBatch::drain`].
pub struct Drain<'a> {
    batch: &'a mut MbufBatch,
    next: usize,
    end: usize,
}

impl Drain<'_> {
    /// The packet `ahead` positions after the next one, if any (for prefetching).
    #[inline(always)]
    pub fn peek_ahead(&self, ahead: usize) -> Option<&Mbuf> {
        let i = self.next + ahead;
        // SAFETY: slots next..end are still owned by this drain and valid.
        (i < self.end).then(|| unsafe { &*(self.batch.bufs.as_ptr().add(i) as *const Mbuf) })
    }
}

impl Iterator for Drain<'_> {
    type Item = Mbuf;

    #[inline(always)]
    fn next(&mut self) -> Option<Mbuf> {
        if self.next == self.end {
            return None;
        }
        let raw = self.batch.bufs[self.next];
        self.next += 1;
        // SAFETY: each slot in next..end is owned and handed out exactly once.
        Some(unsafe { Mbuf::from_raw(raw) })
    }
}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        let rest = self.end - self.next;
        if rest > 0 {
            // SAFETY: slots next..end were never handed out; free them in bulk.
            unsafe {
                dpdk_sys::rte_pktmbuf_free_bulk(self.batch.bufs.as_mut_ptr().add(self.next), rest as u32)
            };
        }
    }
}
