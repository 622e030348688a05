//! Packet buffers: an owned `Mbuf` and a fixed-capacity burst `MbufBatch`.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

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

    /// The first segment's data: (start, length). Fields are read one by one through the raw
    /// pointer: other owners of a shared mbuf update its refcount concurrently, so no reference
    /// to the whole struct is made.
    #[inline(always)]
    fn first_segment(&self) -> (*mut u8, usize) {
        let p = self.0.as_ptr();
        // SAFETY: we own a valid mbuf; these fields are not written while we hold it.
        unsafe {
            (
                ((*p).buf_addr as *mut u8).add((*p).data_off as usize),
                (*p).data_len as usize,
            )
        }
    }

    /// The first segment's bytes (the whole packet unless it is chained).
    #[inline(always)]
    pub fn data(&self) -> &[u8] {
        let (start, len) = self.first_segment();
        // SAFETY: start points at len initialised bytes inside the buffer, alive while self is.
        unsafe { std::slice::from_raw_parts(start, len) }
    }

    /// Whether this handle alone owns its bytes: refcount 1 and a direct buffer (not an
    /// indirect or external one another mbuf may also point at).
    #[inline(always)]
    fn exclusive(&self) -> bool {
        let flags = dpdk_sys::RTE_MBUF_F_INDIRECT | dpdk_sys::RTE_MBUF_F_EXTERNAL;
        // SAFETY: reads one field of a valid mbuf.
        self.refcnt() == 1 && unsafe { (*self.0.as_ptr()).ol_flags } & flags == 0
    }

    /// The first segment's bytes, writable; `None` unless this handle alone owns them.
    pub fn data_mut(&mut self) -> Option<&mut [u8]> {
        if !self.exclusive() {
            return None;
        }
        let (start, len) = self.first_segment();
        // SAFETY: as in `data`, and nobody else sees these bytes.
        Some(unsafe { std::slice::from_raw_parts_mut(start, len) })
    }

    /// The packet's total length over all segments.
    #[inline(always)]
    pub fn pkt_len(&self) -> u32 {
        // SAFETY: reads one field of a valid mbuf.
        unsafe { (*self.0.as_ptr()).pkt_len }
    }

    /// How many owners share this buffer.
    /// (`rte_mbuf_refcnt_read` is a relaxed atomic load: done here, not through its C wrapper,
    /// as it is read for every frame the switch rewrites.)
    #[inline(always)]
    pub fn refcnt(&self) -> u16 {
        // SAFETY: the refcount of a valid mbuf, aligned, only ever accessed atomically by DPDK.
        let refcnt = unsafe { AtomicU16::from_ptr(std::ptr::addr_of_mut!((*self.0.as_ptr()).refcnt)) };
        refcnt.load(Ordering::Relaxed)
    }

    /// Appends bytes at the end of the packet (for frames the switch or a test builds).
    pub fn append(&mut self, bytes: &[u8]) -> Result<()> {
        if !self.exclusive() {
            return Err(DpdkError::new("rte_pktmbuf_append: the buffer is shared", 1));
        }
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

    /// Appends `tail`'s segments to this packet (`rte_pktmbuf_chain`), as a driver receiving a
    /// frame longer than one buffer does; hands `tail` back if the chain would be too long or
    /// this packet is shared.
    pub fn chain(&mut self, tail: Mbuf) -> Result<(), Mbuf> {
        if !self.exclusive() {
            return Err(tail);
        }
        // SAFETY: both are valid mbufs we own; on success the head owns the tail's segments.
        let rc = unsafe { dpdk_sys::rte_pktmbuf_chain(self.0.as_ptr(), tail.0.as_ptr()) };
        if rc != 0 {
            return Err(tail);
        }
        std::mem::forget(tail);
        Ok(())
    }

    /// A private copy of every byte of the packet (all segments, into one or more mbufs of
    /// `pool`), for a writer whose buffer is shared.
    pub fn copy(&self, pool: &crate::Mempool) -> Result<Mbuf> {
        // SAFETY: a valid mbuf and pool; the copy, if any, is a new mbuf we own.
        let raw = unsafe { dpdk_sys::rte_pktmbuf_copy(self.0.as_ptr(), pool.as_ptr(), 0, u32::MAX) };
        if raw.is_null() {
            return Err(DpdkError::new("rte_pktmbuf_copy: pool empty", 105));
        }
        // SAFETY: non-null and made for us.
        Ok(unsafe { Mbuf::from_raw(raw) })
    }

    /// The number of segments (1 unless chained).
    pub fn segments(&self) -> u16 {
        // SAFETY: reads one field of a valid mbuf.
        unsafe { (*self.0.as_ptr()).nb_segs }
    }

    /// Every byte of the packet, all segments, copied out (for control paths and tests).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(self.pkt_len() as usize);
        let mut segment = self.0.as_ptr();
        while !segment.is_null() {
            // SAFETY: every segment of a valid chain is a valid mbuf; its data_len bytes at
            // buf_addr + data_off are initialised and live while we hold the head.
            unsafe {
                let start = ((*segment).buf_addr as *const u8).add((*segment).data_off as usize);
                bytes.extend_from_slice(std::slice::from_raw_parts(start, (*segment).data_len as usize));
                segment = (*segment).next;
            }
        }
        bytes
    }

    /// `n` owners of this buffer for zero-copy fan-out, with one refcount update. The bytes
    /// become read-only (`data_mut` returns `None`) until all but one owner are gone.
    /// `n == 0` frees the packet.
    /// Panics if the refcount would overflow (more than 32767 shares at once).
    #[inline]
    pub fn into_shares(self, n: u16) -> Shares {
        if n > 1 {
            let add = i16::try_from(n - 1).expect("too many shares");
            assert!(
                u32::from(self.refcnt()) + u32::from(n - 1) <= u32::from(u16::MAX),
                "refcount overflow"
            );
            // SAFETY: adds n - 1 references to every segment of a valid mbuf; the Shares hand
            // them out.
            unsafe { dpdk_sys::rte_pktmbuf_refcnt_update(self.0.as_ptr(), add) };
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
        let (p, _) = self.first_segment();
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
        // One compare, which also proves the index in bounds; the length stays in a register.
        let n = self.len;
        if n >= BURST {
            return Err(m);
        }
        self.bufs[n] = m.into_raw();
        self.len = n + 1;
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
        // The batch stays borrowed (mutably, through this shared reborrow) while it drains.
        Drain {
            rest: self.bufs[..end].iter(),
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

    /// Frees the first `n` packets (a backing copied them) and moves the rest to the front.
    ///
    /// # Safety
    /// `n` must not exceed the batch's length.
    pub(crate) unsafe fn free_front(&mut self, n: usize) {
        if n > 0 {
            // SAFETY: entries 0..n are owned, valid mbufs (n <= len); the batch forgets them.
            unsafe { dpdk_sys::rte_pktmbuf_free_bulk(self.bufs.as_mut_ptr(), n as u32) };
            self.consumed(n);
        }
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
    /// The slots not handed out yet: each is owned and valid.
    rest: std::slice::Iter<'a, *mut rte_mbuf>,
}

impl Drain<'_> {
    /// The packet `ahead` positions after the next one, if any (for prefetching).
    #[inline(always)]
    pub fn peek_ahead(&self, ahead: usize) -> Option<&Mbuf> {
        // SAFETY: Mbuf is a transparent NonNull, and the slots not handed out are valid mbufs.
        self.rest
            .as_slice()
            .get(ahead)
            .map(|raw| unsafe { &*(raw as *const *mut rte_mbuf as *const Mbuf) })
    }
}

impl Iterator for Drain<'_> {
    type Item = Mbuf;

    #[inline(always)]
    fn next(&mut self) -> Option<Mbuf> {
        // SAFETY: each slot not handed out is owned and handed out exactly once.
        self.rest.next().map(|&raw| unsafe { Mbuf::from_raw(raw) })
    }
}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        let rest = self.rest.as_slice();
        if !rest.is_empty() {
            // SAFETY: these slots were never handed out; free them in bulk. The call only reads
            // the array, so the pointer from a shared slice is not written through.
            unsafe {
                dpdk_sys::rte_pktmbuf_free_bulk(rest.as_ptr() as *mut *mut rte_mbuf, rest.len() as u32)
            };
        }
    }
}
