//! vhost-user through DPDK's vhost library (`rte_vhost_*`), not the `net_vhost` PMD: a vhost
//! port takes no ethdev, and the library's device events reach the application directly.

use std::collections::BTreeMap;
use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::{Arc, Mutex};

use crate::eal::Eal;
use crate::error::{c_string, check, Result};
use crate::mbuf::MbufBatch;
use crate::mempool::Mempool;

/// `RTE_VHOST_USER_CLIENT`: connect to the socket (QEMU listens) and reconnect when it goes.
const FLAG_CLIENT: u64 = 1 << 0;
/// virtio-net feature bits the forwarding path does not honour: checksum and segmentation
/// offloads in either direction (CSUM 0, GUEST_CSUM 1, GUEST_TSO4/6 7/8, GUEST_ECN 9,
/// GUEST_UFO 10, HOST_TSO4/6 11/12, HOST_ECN 13, HOST_UFO 14).
const OFFLOAD_FEATURES: u64 = (1 << 0) | (1 << 1) | (0xff << 7);
/// VIRTIO_NET_F_MQ: more than one queue pair.
const MULTIQUEUE_FEATURE: u64 = 1 << 22;
/// VIRTIO_NET_F_GUEST_ANNOUNCE: without it, QEMU has the backend announce a migrated guest
/// (VHOST_USER_SEND_RARP: the library hands the application a RARP) and the switch announces
/// the slave's addresses itself, from the master's MAC.
const GUEST_ANNOUNCE_FEATURE: u64 = 1 << 21;

/// What a vhost socket tells its owner. Called from DPDK's vhost event thread.
pub trait VhostEvents: Send + Sync {
    /// A guest's device is ready: `device` may now be used by the data path.
    fn attached(&self, device: VhostDevice);
    /// The guest went away: when this returns, nobody may use the device any more.
    fn detached(&self, device: VhostDevice);
    /// The guest enabled or disabled virtqueue `queue` (even: into the guest, odd: out of it).
    fn queue_state(&self, device: VhostDevice, queue: u16, enabled: bool);
}

/// Sockets by path, for the C callbacks (which get only a device id).
static SOCKETS: Mutex<BTreeMap<String, Arc<dyn VhostEvents>>> = Mutex::new(BTreeMap::new());

/// A registered vhost-user socket; unregistered (its guest disconnected) on drop.
pub struct VhostSocket {
    path: CString,
    _eal: Eal,
}

impl VhostSocket {
    /// Creates (server) or connects to (client, reconnecting) the socket at `path`; offers
    /// multiqueue only when `multiqueue`.
    pub fn register(
        eal: &Eal,
        path: &str,
        client: bool,
        multiqueue: bool,
        events: Arc<dyn VhostEvents>,
    ) -> Result<VhostSocket> {
        let cpath = c_string("vhost socket path", path)?;
        let flags = if client { FLAG_CLIENT } else { 0 };
        // SAFETY: a valid C string; the EAL is initialised.
        let rc = unsafe { dpdk_sys::rte_vhost_driver_register(cpath.as_ptr(), flags) };
        check(|| format!("rte_vhost_driver_register({path})"), rc)?;
        let socket = VhostSocket {
            path: cpath,
            _eal: eal.clone(),
        };
        let features =
            OFFLOAD_FEATURES | GUEST_ANNOUNCE_FEATURE | if multiqueue { 0 } else { MULTIQUEUE_FEATURE };
        // SAFETY: a registered path.
        let rc = unsafe { dpdk_sys::rte_vhost_driver_disable_features(socket.path.as_ptr(), features) };
        check(|| format!("rte_vhost_driver_disable_features({path})"), rc)?;
        SOCKETS.lock().unwrap().insert(path.to_string(), events);
        // SAFETY: a registered path; OPS is static.
        let rc = unsafe { dpdk_sys::rte_vhost_driver_callback_register(socket.path.as_ptr(), &OPS.0) };
        check(|| format!("rte_vhost_driver_callback_register({path})"), rc)?;
        // SAFETY: a registered path with its callbacks.
        let rc = unsafe { dpdk_sys::rte_vhost_driver_start(socket.path.as_ptr()) };
        check(|| format!("rte_vhost_driver_start({path})"), rc)?;
        Ok(socket)
    }
}

impl Drop for VhostSocket {
    fn drop(&mut self) {
        // SAFETY: a registered path; a connected guest is detached first (destroy_device).
        unsafe { dpdk_sys::rte_vhost_driver_unregister(self.path.as_ptr()) };
        SOCKETS
            .lock()
            .unwrap()
            .remove(self.path.to_str().unwrap_or_default());
    }
}

/// The callbacks of every socket.
struct Ops(dpdk_sys::rte_vhost_device_ops);
// SAFETY: the table is never written; it holds function pointers and a null.
unsafe impl Sync for Ops {}
static OPS: Ops = Ops(dpdk_sys::rte_vhost_device_ops {
    new_device: Some(new_device),
    destroy_device: Some(destroy_device),
    vring_state_changed: Some(vring_state_changed),
    features_changed: None,
    new_connection: None,
    destroy_connection: None,
    guest_notified: None,
    reserved: [std::ptr::null_mut(); 1],
});

/// The events of the socket device `vid` came through.
fn events_of(vid: c_int) -> Option<Arc<dyn VhostEvents>> {
    let mut name = [0 as c_char; 256];
    // SAFETY: a buffer of the given length; DPDK writes a NUL-terminated path.
    if unsafe { dpdk_sys::rte_vhost_get_ifname(vid, name.as_mut_ptr(), name.len()) } != 0 {
        return None;
    }
    // SAFETY: NUL-terminated within the buffer (rte_vhost_get_ifname truncates).
    let path = unsafe { CStr::from_ptr(name.as_ptr()) }
        .to_string_lossy()
        .into_owned();
    SOCKETS.lock().unwrap().get(&path).cloned()
}

/// The lcores poll every virtqueue, so the guest need not notify the switch after each burst
/// it queues (an eventfd write, or for a QEMU guest a VM exit): told so, as net_vhost and OVS
/// tell theirs. Set when the device is ready (not in `vring_state_changed`: the library holds
/// the virtqueues' locks there, and the call takes them); a virtqueue enabled later, or a
/// refusal, leaves the guest's notifications on, which costs only speed.
fn no_kicks(vid: c_int, queue: u16) {
    // SAFETY: the library checks the device id and queue index.
    unsafe { dpdk_sys::rte_vhost_enable_guest_notification(vid, queue, 0) };
}

unsafe extern "C" fn new_device(vid: c_int) -> c_int {
    // SAFETY: the library checks the device id (0 for an unknown one).
    for queue in 0..unsafe { dpdk_sys::rte_vhost_get_vring_num(vid) } {
        no_kicks(vid, queue);
    }
    if let Some(events) = events_of(vid) {
        events.attached(VhostDevice { vid });
    }
    0
}

unsafe extern "C" fn destroy_device(vid: c_int) {
    if let Some(events) = events_of(vid) {
        events.detached(VhostDevice { vid });
    }
}

unsafe extern "C" fn vring_state_changed(vid: c_int, queue: u16, enable: c_int) -> c_int {
    if let Some(events) = events_of(vid) {
        events.queue_state(VhostDevice { vid }, queue, enable != 0);
    }
    0
}

/// A guest's device, between its `attached` and `detached` events. The owner guarantees that no
/// lcore uses it after `detached` returns and that one virtqueue is used by one lcore at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VhostDevice {
    vid: c_int,
}

impl VhostDevice {
    /// The device with id `id`, as an event gave it. Using an id whose device is gone is no
    /// memory error (the library checks every id) but sends to whatever device has it now:
    /// the owner keeps to the type's contract.
    pub fn from_id(id: i32) -> VhostDevice {
        VhostDevice { vid: id }
    }

    pub fn id(&self) -> i32 {
        self.vid
    }

    /// Copies frames from the front of the batch into the guest's virtqueue `queue` (even);
    /// frees those it copied; what did not fit stays in the batch. Returns how many went.
    #[inline]
    pub fn enqueue(&self, queue: u16, batch: &mut MbufBatch) -> usize {
        let (slots, n) = batch.filled();
        // SAFETY: `slots` holds n owned mbufs; the library copies them and keeps none. The
        // device is live (see the type's contract); DPDK checks the queue index.
        let done = unsafe { dpdk_sys::rte_vhost_enqueue_burst(self.vid, queue, slots, n) } as usize;
        // SAFETY: the first `done` were copied into the guest: ours to free.
        unsafe { batch.free_front(done) };
        done
    }

    /// Frames the guest has queued on virtqueue `queue` (odd) that no dequeue took yet.
    pub fn pending(&self, queue: u16) -> u32 {
        // SAFETY: the device is live (see the type's contract); DPDK checks the queue index.
        unsafe { dpdk_sys::rte_vhost_rx_queue_count(self.vid, queue) }
    }

    /// Moves frames the guest sent on virtqueue `queue` (odd) into the batch's free room,
    /// allocated from `pool`. Returns how many arrived.
    #[inline]
    pub fn dequeue(&self, queue: u16, pool: &Mempool, batch: &mut MbufBatch) -> usize {
        let (slots, n) = batch.spare();
        // SAFETY: room for n mbufs; the device is live; the pool outlives the call.
        let got =
            unsafe { dpdk_sys::rte_vhost_dequeue_burst(self.vid, queue, pool.as_ptr(), slots, n) } as usize;
        // SAFETY: the library filled `got` slots with mbufs from our pool, now ours.
        unsafe { batch.commit(got) };
        got
    }
}
