//! Ethernet ports (`rte_ethdev`): physical NICs, vdevs and ring-backed ports alike.

use std::ffi::{c_char, c_void, CStr, CString};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, OnceLock};

use crate::eal::Eal;
use crate::error::{c_string, check, DpdkError, Result};
use crate::mbuf::MbufBatch;
use crate::mempool::Mempool;
use crate::ring::Ring;

/// `RTE_ETH_RX_OFFLOAD_SCATTER` (a macro bindgen cannot evaluate).
const RX_OFFLOAD_SCATTER: u64 = 1 << 13;
/// Ethernet header, FCS and a VLAN tag over the MTU.
const FRAME_OVERHEAD: u32 = 22;

/// How to bring a port up.
#[derive(Debug, Clone)]
pub struct PortSetup {
    pub rx_queues: u16,
    pub tx_queues: u16,
    pub rx_descriptors: u16,
    pub tx_descriptors: u16,
    pub promiscuous: bool,
    /// Receive every multicast frame (a switch port must: its slaves' groups are not in the NIC filter).
    pub allmulticast: bool,
    /// MTU to configure (before start, as real NICs require); frames that do not fit one mbuf
    /// are then received as chains where the driver can scatter.
    pub mtu: Option<u16>,
}

impl Default for PortSetup {
    fn default() -> Self {
        PortSetup {
            rx_queues: 1,
            tx_queues: 1,
            rx_descriptors: 1024,
            tx_descriptors: 1024,
            promiscuous: false,
            allmulticast: false,
            mtu: None,
        }
    }
}

/// What the driver reports about a port.
#[derive(Debug, Clone)]
pub struct PortInfo {
    pub driver: String,
    pub max_rx_queues: u16,
    pub max_tx_queues: u16,
}

/// Link state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub up: bool,
    pub speed_mbps: u32,
}

/// The driver's basic counters (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Dropped by the device: rx queue full.
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    /// Rx mbuf allocation failures: the pool was empty.
    pub rx_no_mbuf: u64,
}

/// An Ethernet port. Clones and its queues share it; it is stopped, closed and (for a vdev we
/// created) removed when the last of them is dropped.
#[derive(Clone)]
pub struct EthPort(Arc<PortInner>);

struct PortInner {
    id: u16,
    name: String,
    /// Set when we created the vdev and must remove it.
    vdev: Option<CString>,
    /// Rings a ring-backed port reads and writes: kept alive as long as the port.
    _rings: Vec<Ring>,
    /// The pool its rx queues fill from: must outlive the port (closing it frees into it).
    pool: OnceLock<Mempool>,
    _eal: Eal,
}

impl EthPort {
    /// Opens the device described by a DPDK device string: a vdev (`net_tap0,iface=x`,
    /// `net_pcap0,rx_pcap=f`, ...) is created; anything else (a PCI address) is probed.
    pub fn open(eal: &Eal, device: &str) -> Result<EthPort> {
        let (name, args) = device.split_once(',').unwrap_or((device, ""));
        let cname = c_string("device name", name)?;
        let vdev = if name.starts_with("net_") || name.starts_with("eth_") {
            let cargs = c_string("device arguments", args)?;
            // SAFETY: valid C strings; EAL is initialised.
            let rc = unsafe { dpdk_sys::rte_vdev_init(cname.as_ptr(), cargs.as_ptr()) };
            check(|| format!("rte_vdev_init({device})"), rc).map_err(|e| with_device_hint(e, name, None))?;
            Some(cname.clone())
        } else {
            let cdev = c_string("device", device)?;
            // SAFETY: valid C string; EAL is initialised.
            let rc = unsafe { dpdk_sys::rte_dev_probe(cdev.as_ptr()) };
            check(|| format!("rte_dev_probe({device})"), rc)
                .map_err(|e| with_device_hint(e, name, Some(PROBE_HINT)))?;
            None
        };
        let mut id = 0u16;
        // SAFETY: valid C string and out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
        if rc < 0 {
            if let Some(v) = &vdev {
                // SAFETY: we created this vdev just above and nothing uses it.
                unsafe { dpdk_sys::rte_vdev_uninit(v.as_ptr()) };
            }
            return Err(DpdkError::new(format!("{device} is not an Ethernet device"), rc));
        }
        Ok(EthPort::new(eal, id, name, vdev, Vec::new()))
    }

    /// Ethernet devices this process has, out of the build's `RTE_MAX_ETHPORTS`.
    pub fn count() -> (u16, u32) {
        // SAFETY: reads the ethdev table's count; no argument.
        (
            unsafe { dpdk_sys::rte_eth_dev_count_total() },
            dpdk_sys::RTE_MAX_ETHPORTS,
        )
    }

    /// A port whose receive queues read `rx` rings and whose transmit queues write `tx` rings
    /// (`rte_eth_from_rings`). Several tx queues may share one ring (it is multi-producer).
    pub fn from_rings(eal: &Eal, name: &str, rx: &[&Ring], tx: &[&Ring]) -> Result<EthPort> {
        let cname = c_string("port name", name)?;
        let mut rxp: Vec<_> = rx.iter().map(|r| r.as_ptr()).collect();
        let mut txp: Vec<_> = tx.iter().map(|r| r.as_ptr()).collect();
        // SAFETY: arrays of valid rings, kept alive by the port (`_rings`).
        let rc = unsafe {
            dpdk_sys::rte_eth_from_rings(
                cname.as_ptr(),
                rxp.as_mut_ptr(),
                rxp.len() as u32,
                txp.as_mut_ptr(),
                txp.len() as u32,
                eal.socket_id() as u32,
            )
        };
        let id =
            u16::try_from(rc).map_err(|_| DpdkError::from_errno(format!("rte_eth_from_rings({name})")))?;
        // The ring driver names its vdev after the port.
        let vdev = c_string("port name", format!("net_ring_{name}"))?;
        let rings = rx.iter().chain(tx).map(|r| (*r).clone()).collect();
        Ok(EthPort::new(eal, id, name, Some(vdev), rings))
    }

    fn new(eal: &Eal, id: u16, name: &str, vdev: Option<CString>, rings: Vec<Ring>) -> EthPort {
        EthPort(Arc::new(PortInner {
            id,
            name: name.to_string(),
            vdev,
            _rings: rings,
            pool: OnceLock::new(),
            _eal: eal.clone(),
        }))
    }

    pub fn id(&self) -> u16 {
        self.0.id
    }

    pub fn name(&self) -> &str {
        &self.0.name
    }

    pub fn info(&self) -> Result<PortInfo> {
        let mut info = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: valid port id and out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_dev_info_get(self.0.id, &mut info) };
        check(|| format!("rte_eth_dev_info_get({})", self.0.name), rc)?;
        let driver = if info.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: the driver name is a static C string of the PMD.
            unsafe { CStr::from_ptr(info.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        Ok(PortInfo {
            driver,
            max_rx_queues: info.max_rx_queues,
            max_tx_queues: info.max_tx_queues,
        })
    }

    /// Configures the queues, starts the port and hands out its queues (once per port).
    pub fn start(&self, setup: &PortSetup, pool: &Mempool) -> Result<(Vec<RxQueue>, Vec<TxQueue>)> {
        let id = self.0.id;
        let name = &self.0.name;
        if self.0.pool.set(pool.clone()).is_err() {
            return Err(DpdkError::new(format!("{name} was already started"), 114));
        }
        let mut info = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: valid port id and out-pointer.
        check(|| format!("rte_eth_dev_info_get({name})"), unsafe {
            dpdk_sys::rte_eth_dev_info_get(id, &mut info)
        })?;
        if setup.rx_queues > info.max_rx_queues || setup.tx_queues > info.max_tx_queues {
            return Err(DpdkError::new(
                format!(
                    "{name}: needs {} rx / {} tx queues, the driver offers {} / {}",
                    setup.rx_queues, setup.tx_queues, info.max_rx_queues, info.max_tx_queues
                ),
                22,
            ));
        }
        let mut conf = dpdk_sys::rte_eth_conf::default();
        if setup.rx_queues > 1 {
            conf.rxmode.mq_mode = dpdk_sys::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = info.flow_type_rss_offloads;
        }
        if let Some(mtu) = setup.mtu {
            conf.rxmode.mtu = u32::from(mtu);
            if u32::from(mtu) + FRAME_OVERHEAD > dpdk_sys::RTE_MBUF_DEFAULT_DATAROOM {
                conf.rxmode.offloads |= info.rx_offload_capa & RX_OFFLOAD_SCATTER;
            }
        }
        // SAFETY: valid port id and configuration.
        check(|| format!("rte_eth_dev_configure({name})"), unsafe {
            dpdk_sys::rte_eth_dev_configure(id, setup.rx_queues, setup.tx_queues, &conf)
        })?;
        let (mut nb_rx, mut nb_tx) = (setup.rx_descriptors, setup.tx_descriptors);
        // SAFETY: valid port id and out-pointers.
        check(|| format!("rte_eth_dev_adjust_nb_rx_tx_desc({name})"), unsafe {
            dpdk_sys::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut nb_rx, &mut nb_tx)
        })?;
        // SAFETY: a valid port.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(id) }.max(0) as u32;
        for q in 0..setup.rx_queues {
            // SAFETY: configured port, queue index in range, the pool outlives the port's use of it
            // (pools are never freed while mbufs are out).
            check(|| format!("rte_eth_rx_queue_setup({name}, {q})"), unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(id, q, nb_rx, socket, std::ptr::null(), pool.as_ptr())
            })?;
        }
        for q in 0..setup.tx_queues {
            // SAFETY: configured port, queue index in range.
            check(|| format!("rte_eth_tx_queue_setup({name}, {q})"), unsafe {
                dpdk_sys::rte_eth_tx_queue_setup(id, q, nb_tx, socket, std::ptr::null())
            })?;
        }
        // SAFETY: all queues are set up.
        check(|| format!("rte_eth_dev_start({name})"), unsafe {
            dpdk_sys::rte_eth_dev_start(id)
        })?;
        if setup.promiscuous {
            // SAFETY: a started port. Some vdevs (ring, null) cannot filter and refuse: harmless.
            unsafe { dpdk_sys::rte_eth_promiscuous_enable(id) };
        }
        if setup.allmulticast {
            // SAFETY: a started port. Refused by devices that take all multicast anyway: harmless.
            unsafe { dpdk_sys::rte_eth_allmulticast_enable(id) };
        }
        let rx = (0..setup.rx_queues)
            .map(|queue| RxQueue {
                port: id,
                queue,
                _owner: self.0.clone(),
            })
            .collect();
        let tx = (0..setup.tx_queues)
            .map(|queue| TxQueue {
                port: id,
                queue,
                _owner: self.0.clone(),
            })
            .collect();
        Ok((rx, tx))
    }

    pub fn mac(&self) -> Result<[u8; 6]> {
        let mut addr = dpdk_sys::rte_ether_addr::default();
        // SAFETY: valid port id and out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_macaddr_get(self.0.id, &mut addr) };
        check(|| format!("rte_eth_macaddr_get({})", self.0.name), rc)?;
        Ok(addr.addr_bytes)
    }

    /// Sets the port's MAC address (ENOTSUP from devices without one, such as rings).
    pub fn set_mac(&self, mac: [u8; 6]) -> Result<()> {
        let mut addr = dpdk_sys::rte_ether_addr { addr_bytes: mac };
        // SAFETY: a valid port and address.
        let rc = unsafe { dpdk_sys::rte_eth_dev_default_mac_addr_set(self.0.id, &mut addr) };
        check(
            || format!("rte_eth_dev_default_mac_addr_set({})", self.0.name),
            rc,
        )
        .map(|_| ())
    }

    pub fn mtu(&self) -> Result<u16> {
        let mut mtu = 0u16;
        // SAFETY: valid port id and out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_dev_get_mtu(self.0.id, &mut mtu) };
        check(|| format!("rte_eth_dev_get_mtu({})", self.0.name), rc)?;
        Ok(mtu)
    }

    /// Link state, without waiting.
    pub fn link(&self) -> Result<Link> {
        let mut link = dpdk_sys::rte_eth_link::default();
        // SAFETY: valid port id and out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_link_get_nowait(self.0.id, &mut link) };
        check(|| format!("rte_eth_link_get_nowait({})", self.0.name), rc)?;
        Ok(Link {
            up: link.link_status() != 0,
            speed_mbps: link.link_speed,
        })
    }

    pub fn stats(&self) -> Result<PortStats> {
        let mut s = dpdk_sys::rte_eth_stats::default();
        // SAFETY: valid port id and out-pointer.
        let rc = unsafe { dpdk_sys::rte_eth_stats_get(self.0.id, &mut s) };
        check(|| format!("rte_eth_stats_get({})", self.0.name), rc)?;
        Ok(PortStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_no_mbuf: s.rx_nombuf,
        })
    }

    /// The driver's extended counters, by name.
    pub fn xstats(&self) -> Result<Vec<(String, u64)>> {
        let id = self.0.id;
        let what = || format!("rte_eth_xstats_get({})", self.0.name);
        // SAFETY: a NULL array asks for the count.
        let n = check(what, unsafe {
            dpdk_sys::rte_eth_xstats_get_names(id, std::ptr::null_mut(), 0)
        })? as usize;
        let mut names = vec![dpdk_sys::rte_eth_xstat_name { name: [0; 64] }; n];
        let mut values = vec![dpdk_sys::rte_eth_xstat::default(); n];
        // SAFETY: arrays of n entries.
        check(what, unsafe {
            dpdk_sys::rte_eth_xstats_get_names(id, names.as_mut_ptr(), n as u32)
        })?;
        // SAFETY: arrays of n entries.
        let got = check(what, unsafe {
            dpdk_sys::rte_eth_xstats_get(id, values.as_mut_ptr(), n as u32)
        })? as usize;
        Ok(values[..got.min(n)]
            .iter()
            .map(|v| {
                // SAFETY: names are NUL-terminated within their 64 bytes.
                let name = unsafe { CStr::from_ptr(names[v.id as usize].name.as_ptr() as *const c_char) };
                (name.to_string_lossy().into_owned(), v.value)
            })
            .collect())
    }
}

/// What to check when a (PCI) device cannot be probed.
const PROBE_HINT: &str = "a PCI device must be bound to vfio-pci first (dpdk-devbind.py --status \
                          shows it), and the EAL arguments must not say --no-pci";

/// Advice for a device DPDK refused: the most common causes in the user's words, else
/// `otherwise`.
fn with_device_hint(error: DpdkError, name: &str, otherwise: Option<&str>) -> DpdkError {
    let (used, max) = EthPort::count();
    if u32::from(used) >= max {
        return error.with_hint(format!(
            "all {max} Ethernet device slots of this DPDK build (RTE_MAX_ETHPORTS) are taken: \
             give slaves a ring (or vhost) backing, which takes none"
        ));
    }
    match error.code {
        // rte_vdev_init gives -1 when no driver takes the name, or the driver's own code.
        1 | 19 if otherwise.is_none() => error.with_hint(format!(
            "no DPDK driver took \"{name}\": a vdev is named after its driver plus a number \
             (net_tap0, net_pcap0, net_null0) and takes only that driver's arguments (the EAL's \
             log above may say which)"
        )),
        17 => error.with_hint(format!("a device named \"{name}\" exists already")),
        _ => match otherwise {
            Some(hint) => error.with_hint(hint),
            None => error,
        },
    }
}

impl Drop for PortInner {
    fn drop(&mut self) {
        // SAFETY: the last handle (and every queue) is gone, so no lcore polls this port.
        unsafe {
            dpdk_sys::rte_eth_dev_stop(self.id);
            dpdk_sys::rte_eth_dev_close(self.id);
            if let Some(v) = &self.vdev {
                dpdk_sys::rte_vdev_uninit(v.as_ptr());
            }
        }
    }
}

/// Port `port`'s burst functions and queue data, which ethdev sets when the port starts and
/// resets (to functions that receive and send nothing) when it stops. Read in Rust rather than
/// through a C wrapper of `rte_eth_rx_burst`/`rte_eth_tx_burst`: one call per burst, not two.
#[inline(always)]
fn fast_path_ops(port: u16) -> &'static dpdk_sys::rte_eth_fp_ops {
    // SAFETY: a valid port id indexes ethdev's static array, which lives as long as the process
    // and whose entry for a port with live queues changes only while the port is not polled.
    unsafe {
        &*std::ptr::addr_of!(dpdk_sys::rte_eth_fp_ops)
            .cast::<dpdk_sys::rte_eth_fp_ops>()
            .add(usize::from(port))
    }
}

/// Queue `q`'s rx or tx callback list (null: none), read as ethdev reads it (relaxed: the list
/// is published with a release store, and is reached through this pointer only).
///
/// # Safety
/// `lists` is a port's callback array (`rxq.clbk` or `txq.clbk`) and `q` one of its queues.
#[inline(always)]
unsafe fn callback_list(lists: *mut *mut c_void, q: usize) -> *mut c_void {
    // SAFETY: the caller's; a pointer-sized, aligned slot read atomically, as ethdev writes it.
    unsafe { (*lists.add(q).cast::<AtomicPtr<c_void>>()).load(Ordering::Relaxed) }
}

/// A receive queue: owned by exactly one lcore at a time (Send, not Sync, not Clone).
pub struct RxQueue {
    port: u16,
    queue: u16,
    _owner: Arc<PortInner>,
}

impl RxQueue {
    /// Receives into the batch's free room; returns how many packets arrived.
    #[inline(always)]
    pub fn recv(&mut self, batch: &mut MbufBatch) -> usize {
        let (slots, n) = batch.spare();
        let (ops, q) = (fast_path_ops(self.port), usize::from(self.queue));
        // SAFETY: rte_eth_rx_burst's own steps (rte_ethdev.h, callbacks compiled in): a started
        // port's queue, used by this owner only, with room for n mbufs; its callbacks, if any.
        let got = unsafe {
            let mut got = match ops.rx_pkt_burst {
                Some(rx) => rx(*ops.rxq.data.add(q), slots, n),
                None => 0,
            };
            let callbacks = callback_list(ops.rxq.clbk, q);
            if !callbacks.is_null() {
                got = dpdk_sys::rte_eth_call_rx_callbacks(self.port, self.queue, slots, got, n, callbacks);
            }
            got
        } as usize;
        // SAFETY: the PMD filled `got` slots with mbufs it gave up.
        unsafe { batch.commit(got) };
        got
    }
}

/// A transmit queue: owned by exactly one lcore at a time.
pub struct TxQueue {
    port: u16,
    queue: u16,
    _owner: Arc<PortInner>,
}

impl TxQueue {
    /// Offers the whole batch to the driver. What it took leaves the batch; what it refused
    /// stays at the front, for the caller to retry or free (and count).
    #[inline(always)]
    pub fn send(&mut self, batch: &mut MbufBatch) -> usize {
        let (slots, mut n) = batch.filled();
        let (ops, q) = (fast_path_ops(self.port), usize::from(self.queue));
        // SAFETY: rte_eth_tx_burst's own steps (rte_ethdev.h, callbacks compiled in): a started
        // port's queue, used by this owner only; n owned mbufs; its callbacks, if any, first.
        let sent = unsafe {
            let callbacks = callback_list(ops.txq.clbk, q);
            if !callbacks.is_null() {
                n = dpdk_sys::rte_eth_call_tx_callbacks(self.port, self.queue, slots, n, callbacks);
            }
            match ops.tx_pkt_burst {
                Some(tx) => tx(*ops.txq.data.add(q), slots, n),
                None => 0,
            }
        } as usize;
        batch.consumed(sent);
        sent
    }
}
