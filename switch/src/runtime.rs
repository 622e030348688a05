//! Brings the switch up from a configuration: sizes the pool, opens the ports, builds the
//! tables, spreads rx queues over the forwarding lcores, launches them; brings slaves up and
//! down; stops the lcores and reads counters.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use conf::{Backing, Config, Mode, PortConf};
use dpdk_wrap::{DpdkError, Eal, EthPort, LcoreJob, Mempool, PortSetup, Ring, BURST};
use switch_core::announce::announcements;
use switch_core::classify::Key;
use switch_core::dispatch::{Dispatch, DropReason, McFilter};
use switch_core::guest_mac::GuestMacs;
use switch_core::state::SlaveStates;
use switch_core::table::{AddressTable, SlaveId};
use vhost::VhostSlave;

use crate::counters::{LcoreCounters, LcoreTotals, PortTotals};
use crate::datapath::{Outputs, Poll, PortIndex, PortMap, Role, Worker, FLUSH_AFTER, PHY};
use crate::port::{Rx, Tx};
use crate::quiesce::Quiescence;

/// Entries of each ring of a ring-backed port.
const RING_SIZE: u32 = 1024;
/// Descriptors of every ethdev rx and tx queue.
const DESCRIPTORS: u16 = 1024;
/// Frame overhead above the MTU: Ethernet header and one VLAN tag (as the kernel's +18).
const FRAME_OVERHEAD: u32 = 18;
/// The MTU of a port that has none of its own (a ring) and is given none.
const DEFAULT_MTU: u16 = 1500;
/// Mbufs a pool keeps per lcore at most (DPDK's default for a pktmbuf pool).
const MAX_POOL_CACHE: u32 = 256;
/// Mbufs all ring ports together may hold beyond their two bursts each: rings whose peers
/// fall behind share this; past it the pool runs dry and receiving ports count `pool_empty`.
const SLOW_RING_SHARE: u32 = 16384;
const ENOTSUP: i32 = 95;

#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    /// A port the configuration describes could not be brought up.
    #[error("{at}: {source}")]
    Port { at: String, source: DpdkError },
    #[error(transparent)]
    Dpdk(#[from] DpdkError),
    #[error("{0}")]
    Config(String),
}

/// What a port of the running switch is made of.
enum Backend {
    Eth(EthPort),
    /// (into the switch, out of the switch): plain rings, not an ethdev.
    Ring(Ring, Ring),
    Vhost(VhostSlave),
}

/// A port of the running switch.
struct SwitchPort {
    name: String,
    backend: Backend,
}

/// What the configuration asks of one port: its name, configuration and rx queues.
struct PortSpec<'a> {
    name: &'a str,
    conf: &'a PortConf,
    rx_queues: u16,
}

impl PortSpec<'_> {
    /// Tx queues: one per forwarding lcore; some drivers (tap) pair every rx queue with a tx
    /// queue, so never fewer than rx queues (the extras stay unused).
    fn tx_queues(&self, lcores: u16) -> u16 {
        lcores.max(self.rx_queues)
    }
}

/// The running switch. `stop` (or Drop) stops the lcores, then the ports close.
pub struct Switch {
    ports: Vec<SwitchPort>,
    first_slave: PortIndex,
    jobs: Vec<LcoreJob>,
    /// The forwarding lcores, in the order of `counters`.
    lcore_ids: Vec<u32>,
    tsc_hz: u64,
    stop: Arc<AtomicBool>,
    counters: Arc<Vec<LcoreCounters>>,
    dispatch: Arc<Dispatch>,
    // Dropped last: the ports' queues and the lcores' batches hold its mbufs.
    pool: Mempool,
}

impl Switch {
    /// Opens every port of `config`, and starts forwarding on its lcores.
    pub fn start(eal: &Eal, config: &Config) -> Result<Switch, SwitchError> {
        if config.mode != Mode::L2 {
            return Err(SwitchError::Config(format!(
                "mode {:?} is not implemented yet: only l2 is (the configuration is valid)",
                config.mode
            )));
        }
        let lcore_ids = forwarding_lcores(eal, config)?;
        check_open_files(config)?;
        let lcores = lcore_ids.len() as u16;

        // Every port, in PortIndex order: phy, host, slaves.
        let mut specs = vec![PortSpec {
            name: "phy",
            conf: &config.phy,
            rx_queues: config.phy.queues,
        }];
        if let Some(host) = &config.host {
            specs.push(PortSpec {
                name: "host",
                conf: host,
                rx_queues: 1,
            });
        }
        let first_slave = specs.len();
        // A vhost slave's queue pairs are receive queues of their own, spread over the lcores.
        specs.extend(config.slaves.iter().map(|s| PortSpec {
            name: &s.name,
            conf: &s.port,
            rx_queues: match &s.port.backing {
                Backing::Vhost(vhost) => vhost.queues,
                _ => 1,
            },
        }));

        // Ring and device slaves are up from the start; a vhost slave once a guest attaches.
        let states = Arc::new(SlaveStates::new(config.slaves.len(), true));
        for (i, slave) in config.slaves.iter().enumerate() {
            if let Backing::Vhost(_) = slave.port.backing {
                states.set(i as SlaveId, false);
            }
        }
        let guest_macs = Arc::new(GuestMacs::new(config.slaves.iter().map(
            |s| match &s.port.backing {
                Backing::Vhost(vhost) => vhost.guest_mac,
                _ => None,
            },
        )));
        let stop = Arc::new(AtomicBool::new(false));
        let quiescence = Arc::new(Quiescence::new(usize::from(lcores), stop.clone()));

        let mbufs = config.pool_mbufs.unwrap_or_else(|| in_flight(&specs, lcores));
        let cache = (mbufs / (8 * (u32::from(lcores) + 1))).min(MAX_POOL_CACHE);
        let pool = Mempool::new(eal, "ipvsw_pool", mbufs, cache).map_err(|e| {
            let hint = format!(
                "the pool of {mbufs} mbufs needs about {} MiB of hugepage memory: reserve more 2 MB pages \
                 (/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages), or set [pool] mbufs lower",
                (u64::from(mbufs) * 2432) >> 20
            );
            SwitchError::Dpdk(e.with_hint(hint))
        })?;

        let mut ports = Vec::new();
        // Per port: its rx queues, and one tx queue per lcore.
        let mut rx_queues: Vec<(PortIndex, Vec<Rx>)> = Vec::new();
        let mut tx_queues: Vec<Vec<Tx>> = Vec::new();
        let context = OpenContext {
            eal,
            lcores,
            pool: &pool,
            states: &states,
            guest_macs: &guest_macs,
            quiescence: &quiescence,
        };
        for (index, spec) in specs.iter().enumerate() {
            let slave = index.checked_sub(first_slave).map(|s| s as SlaveId);
            let (backend, rx, tx) =
                context
                    .open(spec, index == PHY, slave)
                    .map_err(|source| SwitchError::Port {
                        at: spec.conf.at.clone(),
                        source,
                    })?;
            log_port(spec.name, &backend);
            rx_queues.push((index, rx));
            tx_queues.push(tx);
            ports.push(SwitchPort {
                name: spec.name.to_string(),
                backend,
            });
        }
        let master_mac = master_mac(&ports[PHY].backend, &config.phy)?;
        // A slave's MTU is the phy's unless set (as the kernel's).
        let phy_mtu = match (&ports[PHY].backend, config.phy.mtu) {
            (_, Some(mtu)) => mtu,
            (Backend::Eth(port), None) => port.mtu()?,
            (_, None) => DEFAULT_MTU,
        };
        let max_frame: Vec<u32> = specs
            .iter()
            .map(|spec| u32::from(spec.conf.mtu.unwrap_or(phy_mtu)) + FRAME_OVERHEAD)
            .collect();

        let dispatch = Arc::new(Dispatch {
            flags: config.flags,
            master_mac,
            table: AddressTable::new(config.slaves.iter().enumerate().flat_map(|(i, s)| {
                s.addresses.iter().map(move |(addr, _prefix)| {
                    let key = match addr {
                        IpAddr::V4(a) => Key::V4(u32::from(*a)),
                        IpAddr::V6(a) => Key::V6(u128::from(*a)),
                    };
                    (key, i as SlaveId)
                })
            })),
            filters: config
                .slaves
                .iter()
                .map(|s| McFilter {
                    groups: s.multicast.clone(),
                    allmulti: s.allmulti,
                })
                .collect(),
            states,
        });

        // Every rx queue goes to one lcore: queue q of port p to lcore (p + q) mod lcores, so
        // ports spread over the lcores and a port's queues (the phy's RSS queues, a guest's
        // queue pairs) land on different ones. Each lcore gets its own tx queue on every port.
        let mut polls: Vec<Vec<Poll>> = (0..lcores).map(|_| Vec::new()).collect();
        for (index, queues) in rx_queues {
            let role = match index {
                PHY => Role::Phy,
                i if i < first_slave => Role::Host,
                i => match config.slaves[i - first_slave].port.backing {
                    Backing::Vhost(_) => Role::Guest((i - first_slave) as SlaveId),
                    _ => Role::Slave((i - first_slave) as SlaveId),
                },
            };
            for (queue, rx) in queues.into_iter().enumerate() {
                polls[(index + queue) % usize::from(lcores)].push(Poll::new(index, role, rx));
            }
        }
        let mut tx_by_lcore: Vec<Vec<Tx>> = (0..lcores).map(|_| Vec::new()).collect();
        for port_queues in tx_queues {
            for (lcore, tx) in port_queues.into_iter().take(usize::from(lcores)).enumerate() {
                tx_by_lcore[lcore].push(tx);
            }
        }

        let counters: Arc<Vec<LcoreCounters>> =
            Arc::new((0..lcores).map(|_| LcoreCounters::new(ports.len())).collect());
        let map = Arc::new(PortMap {
            max_frame,
            host: config.host.as_ref().map(|_| PHY + 1),
            first_slave,
            master_mac,
            guest_macs,
            // Only a guest is announced (after it moved): a ring or device slave has none.
            announcements: config
                .slaves
                .iter()
                .map(|s| match s.port.backing {
                    Backing::Vhost(_) => {
                        let addresses: Vec<IpAddr> = s.addresses.iter().map(|(a, _)| *a).collect();
                        announcements(&master_mac, &addresses)
                    }
                    _ => Vec::new(),
                })
                .collect(),
            pool: pool.clone(),
        });
        let mut jobs = Vec::new();
        let idle_sleep_max = Duration::from_micros(config.idle_sleep_max_us.into());
        let lcore_work = polls.into_iter().zip(tx_by_lcore).zip(&lcore_ids).enumerate();
        for (i, ((polls, tx), lcore)) in lcore_work {
            let out = Outputs::new(tx, map.clone());
            let worker = Worker::new(
                polls,
                out,
                dispatch.clone(),
                quiescence.clone(),
                i,
                idle_sleep_max,
            );
            let (counters, stop_flag) = (counters.clone(), stop.clone());
            match eal.launch(*lcore, move || worker.run(&counters[i], &stop_flag)) {
                Ok(job) => jobs.push(job),
                Err(e) => {
                    // The lcores already running must stop before their jobs are joined.
                    stop.store(true, Ordering::Relaxed);
                    return Err(e.into());
                }
            }
        }
        tracing::info!(
            ports = ports.len(),
            slaves = config.slaves.len(),
            lcores = ?lcore_ids,
            mbufs,
            mac = %format_mac(&master_mac),
            "switch started"
        );
        Ok(Switch {
            ports,
            first_slave,
            jobs,
            lcore_ids,
            tsc_hz: eal.tsc_hz(),
            stop,
            counters,
            dispatch,
            pool,
        })
    }

    /// The MAC address every slave shares: the phy's.
    pub fn master_mac(&self) -> [u8; 6] {
        self.dispatch.master_mac
    }

    /// The rings of a ring-backed port: (into the switch, out of the switch).
    pub fn rings(&self, port: &str) -> Option<(&Ring, &Ring)> {
        self.ports
            .iter()
            .find(|p| p.name == port)
            .and_then(|p| match &p.backend {
                Backend::Ring(into, out) => Some((into, out)),
                _ => None,
            })
    }

    /// The switch's packet pool (its in-use count shows leaks once traffic stops).
    pub fn pool(&self) -> &Mempool {
        &self.pool
    }

    /// Whether slave `slave` is up (`None`: no such slave).
    pub fn is_up(&self, slave: &str) -> Option<bool> {
        self.slave_index(slave).map(|i| self.dispatch.states.is_up(i))
    }

    /// Queue pairs the guest attached to vhost slave `slave` uses, 0 without a guest (`None`:
    /// no such vhost slave).
    pub fn guest_queue_pairs(&self, slave: &str) -> Option<u16> {
        self.ports
            .iter()
            .find(|p| p.name == slave)
            .and_then(|p| match &p.backend {
                Backend::Vhost(port) => Some(port.queue_pairs()),
                _ => None,
            })
    }

    fn slave_index(&self, slave: &str) -> Option<SlaveId> {
        self.ports[self.first_slave..]
            .iter()
            .position(|p| p.name == slave)
            .map(|i| i as SlaveId)
    }

    /// Brings a slave up or down; returns its previous state. A down slave's addresses are
    /// unknown destinations, it takes no multicast, and its queue is not polled.
    pub fn set_up(&self, slave: &str, up: bool) -> Result<bool, SwitchError> {
        let index = self
            .slave_index(slave)
            .ok_or_else(|| SwitchError::Config(format!("no slave is called \"{slave}\"")))?;
        let was = self.dispatch.states.set(index, up).unwrap_or(up);
        if was != up {
            tracing::info!(slave, up, "slave state changed");
        }
        Ok(was)
    }

    /// Every port's counters, summed over lcores, with the drivers' own drop counters.
    pub fn stats(&self) -> BTreeMap<String, PortTotals> {
        self.ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut totals = PortTotals::sum(self.counters.iter().map(|c| &c.ports[i]));
                if let Backend::Eth(port) = &p.backend {
                    if let Ok(driver) = port.stats() {
                        totals.add_drop(DropReason::PoolEmpty, driver.rx_no_mbuf);
                        totals.add_drop(DropReason::RxMissed, driver.rx_missed);
                    }
                }
                (p.name.clone(), totals)
            })
            .collect()
    }

    /// Each forwarding lcore's busy and idle cycles and the frames it read.
    pub fn lcore_stats(&self) -> Vec<LcoreTotals> {
        self.lcore_ids
            .iter()
            .zip(self.counters.iter())
            .map(|(&lcore, c)| LcoreTotals::read(lcore, &c.core))
            .collect()
    }

    /// TSC cycles per second (to read `lcore_stats` in time).
    pub fn tsc_hz(&self) -> u64 {
        self.tsc_hz
    }

    /// Stops the lcores (after their current burst) and waits for them.
    pub fn stop(&mut self) -> Result<(), SwitchError> {
        self.stop.store(true, Ordering::Relaxed);
        self.jobs.drain(..).try_for_each(LcoreJob::join)?;
        Ok(())
    }

    /// Stops, closes every port, and reports how many mbufs are still out of the pool:
    /// anything but 0 is a leak.
    pub fn shutdown(mut self) -> Result<u32, SwitchError> {
        self.stop()?;
        self.ports.clear();
        Ok(self.pool.in_use())
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The configured lcores, each an enabled worker; by default every worker lcore.
fn forwarding_lcores(eal: &Eal, config: &Config) -> Result<Vec<u32>, SwitchError> {
    let workers = eal.worker_lcores();
    let Some(lcores) = &config.lcores else {
        if workers.is_empty() {
            return Err(SwitchError::Config(
                "the EAL arguments enable no worker lcore to forward on: give -l at least two lcores \
                 (the first is the main lcore), e.g. -l 0,1"
                    .into(),
            ));
        }
        return Ok(workers);
    };
    match lcores.iter().find(|lcore| !workers.contains(lcore)) {
        Some(lcore) => Err(SwitchError::Config(format!(
            "lcore {lcore} is not an enabled worker lcore: enabled are {workers:?} (the EAL -l list minus the main lcore)"
        ))),
        None => Ok(lcores.clone()),
    }
}

/// Files the switch keeps open besides its vhost sockets (EAL, drivers, logs), generously.
const OTHER_FILES: u64 = 256;

/// Each vhost slave holds a socket (and a connected guest a few more fds): refuse a
/// configuration the process's open-file limit cannot hold, before it fails half-way.
fn check_open_files(config: &Config) -> Result<(), SwitchError> {
    let vhost = config
        .slaves
        .iter()
        .filter(|s| matches!(s.port.backing, Backing::Vhost(_)))
        .count() as u64;
    let limit = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse::<u64>().ok()
        });
    match limit {
        // A guest adds its kick/call eventfds and memory-region fds: count 4 per slave.
        Some(limit) if vhost > 0 && vhost * 4 + OTHER_FILES > limit => Err(SwitchError::Config(format!(
            "{vhost} vhost slaves need about {} open files and the limit is {limit}: raise it \
             (ulimit -n, or LimitNOFILE= in a systemd unit)",
            vhost * 4 + OTHER_FILES
        ))),
        _ => Ok(()),
    }
}

/// The mbufs the switch can hold at once: every ethdev descriptor (rx rings filled by the
/// driver, tx rings until the driver frees), two bursts per ring port (its peer keeps up) plus
/// a share for the rings whose peers fall behind, and per lcore its pool cache and batches.
fn in_flight(specs: &[PortSpec], lcores: u16) -> u32 {
    let (mut descriptors, mut rings) = (0u32, 0u32);
    for spec in specs {
        match spec.conf.backing {
            Backing::Device(_) => {
                descriptors += u32::from(DESCRIPTORS) * u32::from(spec.rx_queues + spec.tx_queues(lcores));
            }
            Backing::Ring(_) => rings += 1,
            // The guest's frames are copied in and out: a vhost port holds no mbuf of ours.
            Backing::Vhost(_) => {}
        }
    }
    // Frames waiting for a flush (and the burst that tips it over), the drop batch.
    let batches = (FLUSH_AFTER + 2 * BURST) as u32;
    let per_lcore = MAX_POOL_CACHE * 3 / 2 + batches;
    let ring_mbufs = (rings * RING_SIZE).min(rings * 2 * BURST as u32 + SLOW_RING_SHARE);
    descriptors + ring_mbufs + u32::from(lcores) * per_lcore
}

/// The queues of one port: (its backend, its rx queues, one tx queue per lcore).
type OpenedPort = (Backend, Vec<Rx>, Vec<Tx>);

/// What opening a port needs of the switch being built.
struct OpenContext<'a> {
    eal: &'a Eal,
    lcores: u16,
    pool: &'a Mempool,
    states: &'a Arc<SlaveStates>,
    guest_macs: &'a Arc<GuestMacs>,
    quiescence: &'a Arc<Quiescence>,
}

impl OpenContext<'_> {
    /// Opens and starts a port from its backing: a DPDK device string, a pair of plain rings
    /// `<ring>_in` / `<ring>_out` (multi-producer, so that every lcore writes `_out`), or a
    /// vhost-user socket (`slave` is then the slave it brings up and down).
    fn open(&self, spec: &PortSpec, phy: bool, slave: Option<SlaveId>) -> Result<OpenedPort, DpdkError> {
        let (eal, lcores) = (self.eal, self.lcores);
        match &spec.conf.backing {
            Backing::Device(device) => {
                let port = EthPort::open(eal, device)?;
                let setup = PortSetup {
                    rx_queues: spec.rx_queues,
                    tx_queues: spec.tx_queues(lcores),
                    rx_descriptors: DESCRIPTORS,
                    tx_descriptors: DESCRIPTORS,
                    allmulticast: phy,
                    mtu: spec.conf.mtu,
                    ..PortSetup::default()
                };
                let (rx, tx) = port.start(&setup, self.pool)?;
                let rx = rx.into_iter().map(Rx::Eth).collect();
                let tx = tx.into_iter().map(Tx::Eth).collect();
                Ok((Backend::Eth(port), rx, tx))
            }
            Backing::Ring(name) => {
                let into = Ring::create(eal, &format!("{name}_in"), RING_SIZE)?;
                let out = Ring::create(eal, &format!("{name}_out"), RING_SIZE)?;
                let rx = vec![Rx::Ring(into.clone())];
                let tx = (0..lcores).map(|_| Tx::Ring(out.clone())).collect();
                Ok((Backend::Ring(into, out), rx, tx))
            }
            Backing::Vhost(vhost) => {
                let slave = slave.ok_or_else(|| DpdkError::new("only a slave can be a vhost port", 22))?;
                let (states, name) = (self.states.clone(), spec.name.to_string());
                let guest_macs = self.guest_macs.clone();
                let on_state = Box::new(move |up: bool| {
                    states.set(slave, up);
                    if !up {
                        // The next guest may have another MAC.
                        guest_macs.forget(slave);
                    }
                    tracing::info!(slave = %name, up, "slave state changed");
                });
                let quiescence = self.quiescence.clone();
                let quiesce = Box::new(move || quiescence.wait());
                let port = VhostSlave::open(eal, spec.name, vhost, on_state, quiesce)?;
                let rx = (0..spec.rx_queues)
                    .map(|pair| Rx::Vhost(port.link(), pair, self.pool.clone()))
                    .collect();
                let tx = (0..lcores)
                    .map(|lane| Tx::Vhost(port.link(), lane, lcores > 1))
                    .collect();
                Ok((Backend::Vhost(port), rx, tx))
            }
        }
    }
}

/// The MAC every slave shares: the configured one, set on the phy where the device has a MAC,
/// else the phy's own. A ring has none: it must be configured.
fn master_mac(phy: &Backend, pc: &PortConf) -> Result<[u8; 6], SwitchError> {
    let port_error = |source| SwitchError::Port {
        at: pc.at.clone(),
        source,
    };
    match (phy, pc.mac) {
        (Backend::Eth(port), None) => Ok(port.mac()?),
        (Backend::Eth(port), Some(mac)) => unless_unsupported(port.set_mac(mac))
            .map(|()| mac)
            .map_err(port_error),
        (_, Some(mac)) => Ok(mac),
        (_, None) => Err(SwitchError::Config(format!(
            "{}: a ring phy has no MAC of its own: give the one the slaves share as phy.mac",
            pc.at
        ))),
    }
}

/// Says what a port turned out to be: its driver and link, or its rings.
fn log_port(name: &str, backend: &Backend) {
    let port = match backend {
        Backend::Eth(port) => port,
        // A switch may have a thousand: not one line each at the default level.
        Backend::Ring(..) => return tracing::debug!(port = name, "ring port ready"),
        Backend::Vhost(_) => return tracing::debug!(port = name, "vhost socket ready"),
    };
    let driver = port.info().map(|i| i.driver).unwrap_or_default();
    match port.link() {
        Ok(link) => tracing::info!(
            port = name,
            driver,
            up = link.up,
            speed_mbps = link.speed_mbps,
            "port started"
        ),
        Err(e) => tracing::info!(port = name, driver, "port started; link state unknown: {e}"),
    }
}

/// A MAC a device cannot set is no error: the switch owns the shared MAC.
fn unless_unsupported(result: Result<(), DpdkError>) -> Result<(), DpdkError> {
    match result {
        Err(e) if e.code == ENOTSUP => {
            tracing::debug!("{e}: the switch enforces it itself");
            Ok(())
        }
        other => other,
    }
}

pub fn format_mac(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
