//! Brings the switch up from a configuration: sizes the pool, opens the ports, builds the
//! tables, spreads rx queues over the forwarding lcores, launches them; brings slaves up and
//! down; stops the lcores and reads counters.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use conf::{Backing, Config, FilterConf, Mode, PortConf, SlaveConf};
use dpdk_wrap::{DpdkError, Eal, Epochs, EthPort, LcoreJob, Mempool, PortSetup, Published, Ring, BURST};
use switch_core::announce::announcements;
use switch_core::classify::Key;
use switch_core::dispatch::{Dispatch, DropReason, McFilter, Multicast};
use switch_core::filter::{Connections, Filter, Net, Rule, SlaveFilters};
use switch_core::guest_mac::GuestMacs;
use switch_core::neighbour::Neighbours;
use switch_core::routes::Routes;
use switch_core::state::SlaveStates;
use switch_core::table::{AddressTable, SlaveId};
use vhost::VhostSlave;

use crate::counters::{LcoreCounters, LcoreTotals, PortTotals};
use crate::datapath::{
    error_sources, FilterTables, L3Tables, LcoreChange, NextHops, Outputs, Poll, PortIndex, PortMap,
    ResolverOutbox, Role, Tables, Worker, FLUSH_AFTER, PHY,
};
use crate::port::{Rx, Tx};
use crate::resolver::{NeighbourReport, Resolver, ResolverTotals};

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
/// The device a captured port's frames are copied to (`dpdk-dumpcap -i` takes this name).
const CAPTURE_DEVICE: &str = "net_null_capture";
/// Mbufs for the ring and vhost slaves added at run time (a device slave added then needs its
/// descriptors' worth more: set [pool] mbufs for it).
const RUNTIME_SHARE: u32 = 4096;

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
    /// A slave's port: a vhost slave's queue pairs are receive queues of their own, spread
    /// over the lcores; any other slave has one.
    fn slave(slave: &SlaveConf) -> PortSpec<'_> {
        PortSpec {
            name: &slave.name,
            conf: &slave.port,
            rx_queues: match &slave.port.backing {
                Backing::Vhost(vhost) => vhost.queues,
                _ => 1,
            },
        }
    }

    /// Tx queues: one per forwarding lcore; some drivers (tap) pair every rx queue with a tx
    /// queue, so never fewer than rx queues (the extras stay unused).
    fn tx_queues(&self, lcores: u16) -> u16 {
        lcores.max(self.rx_queues)
    }
}

/// One route as `show routes` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteReport {
    pub to: String,
    pub via: Option<String>,
    /// "local", "connected" or "static".
    pub kind: &'static str,
}

/// One rule of a slave's filter, or its default, as `show filters` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilterReport {
    pub slave: String,
    /// "ingress" or "egress".
    pub direction: &'static str,
    /// "allow tcp from any to any port 22", or "default deny".
    pub rule: String,
    pub hits: u64,
}

/// Mode l3s's connection table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ConnectionTotals {
    pub open: usize,
    pub capacity: usize,
    /// Open connections a full set pushed out.
    pub evicted: u64,
}

/// One port as `show ports` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortReport {
    pub name: String,
    /// "phy", "host" or "slave".
    pub role: &'static str,
    /// "device", "ring" or "vhost".
    pub kind: &'static str,
    /// The device string, ring name or socket path.
    pub backing: String,
    /// Administratively up (the phy and the host port always are).
    pub up: bool,
    /// A device's link; a vhost slave's guest attached with its first queue pair enabled; a
    /// ring's is always up.
    pub link: bool,
    /// Queue pairs the attached guest uses (0: none attached); `None` for other kinds.
    pub guest_queue_pairs: Option<u16>,
    pub rx_queues: u16,
    /// The lcores polling its rx queues.
    pub lcores: Vec<u32>,
}

/// The running switch. `stop` (or Drop) stops the lcores, then the ports close.
pub struct Switch {
    /// By PortIndex: the phy, the host port if any, then one place per slave (`None`: vacant).
    ports: Vec<Option<SwitchPort>>,
    /// By SlaveId: the slave in that place.
    pub(crate) slaves: Vec<Option<SlaveConf>>,
    pub(crate) first_slave: PortIndex,
    /// Everything but the slaves, as started.
    pub(crate) settings: Config,
    jobs: Vec<LcoreJob>,
    /// The forwarding lcores, in the order of `counters` and `changes`.
    lcore_ids: Vec<u32>,
    tsc_hz: u64,
    stop: Arc<AtomicBool>,
    /// Per lcore, every port's place (vacant ones included).
    counters: Arc<Vec<LcoreCounters>>,
    pub(crate) tables: Arc<Published<Tables>>,
    pub(crate) epochs: Arc<Epochs>,
    /// Per lcore, where its queue changes are sent.
    pub(crate) changes: Vec<Sender<LcoreChange>>,
    pub(crate) states: Arc<SlaveStates>,
    pub(crate) guest_macs: Arc<GuestMacs>,
    master_mac: [u8; 6],
    /// A slave's MTU where it gives none.
    phy_mtu: u16,
    /// The port being captured and the device its copies go to (`start_capture`).
    capture: Option<(String, EthPort)>,
    /// Mode l3's neighbour resolver.
    resolver: Option<Resolver>,
    /// Mode l3s's connection table.
    connections: Option<Arc<Connections>>,
    // Dropped last: the ports' queues and the lcores' batches hold its mbufs.
    pool: Mempool,
}

impl Switch {
    /// Opens every port of `config`, and starts forwarding on its lcores.
    pub fn start(eal: &Eal, config: &Config) -> Result<Switch, SwitchError> {
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
        specs.extend(config.slaves.iter().map(PortSpec::slave));

        let max_slaves = config.max_slaves as usize;
        // Every place starts down; a slave is brought up once the lcores have its queues.
        let states = Arc::new(SlaveStates::new(max_slaves, false));
        let guest_macs = Arc::new(GuestMacs::new((0..max_slaves).map(|_| None)));
        let (epochs, readers) = Epochs::new(usize::from(lcores));

        let mbufs = config
            .pool_mbufs
            .unwrap_or_else(|| in_flight(&specs, lcores) + RUNTIME_SHARE);
        let cache = (mbufs / (8 * (u32::from(lcores) + 1))).min(MAX_POOL_CACHE);
        let pool = Mempool::new(eal, "ipvsw_pool", mbufs, cache).map_err(|e| {
            let hint = format!(
                "the pool of {mbufs} mbufs needs about {} MiB of hugepage memory: reserve more 2 MB pages \
                 (/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages), or set [pool] mbufs lower",
                (u64::from(mbufs) * 2432) >> 20
            );
            SwitchError::Dpdk(e.with_hint(hint))
        })?;

        let l3 = config.mode != Mode::L2;
        let context = OpenContext {
            eal,
            lcores,
            pool: &pool,
            states: &states,
            guest_macs: &guest_macs,
            epochs: &epochs,
        };
        let mut ports = Vec::new();
        // Per port: its rx queues, and one tx queue per lcore.
        let mut opened: Vec<(Vec<Rx>, Vec<Tx>)> = Vec::new();
        for (index, spec) in specs.iter().enumerate() {
            let slave = index.checked_sub(first_slave).map(|s| s as SlaveId);
            let (backend, rx, tx) = context.open(spec, index == PHY, slave)?;
            opened.push((rx, tx));
            ports.push(Some(SwitchPort {
                name: spec.name.to_string(),
                backend,
            }));
        }
        let phy = &ports[PHY].as_ref().expect("the phy is open").backend;
        let master_mac = master_mac(phy, &config.phy)?;
        let phy_mtu = match (phy, config.phy.mtu) {
            (_, Some(mtu)) => mtu,
            (Backend::Eth(port), None) => port.mtu()?,
            (_, None) => DEFAULT_MTU,
        };

        // Every rx queue goes to one lcore (`lcore_of`); each lcore gets its own tx queue on
        // every port.
        let mut polls: Vec<Vec<Poll>> = (0..lcores).map(|_| Vec::new()).collect();
        let mut tx_by_lcore: Vec<Vec<(Tx, u32)>> = (0..lcores).map(|_| Vec::new()).collect();
        for (index, (rx, tx)) in opened.into_iter().enumerate() {
            let role = role_of(
                index,
                first_slave,
                config.slaves.get(index.wrapping_sub(first_slave)),
            );
            for (queue, rx) in rx.into_iter().enumerate() {
                polls[lcore_of(index, queue, lcores)].push(Poll::new(index, role, rx));
            }
            let max_frame = max_frame(specs[index].conf, phy_mtu);
            for (lcore, tx) in tx.into_iter().take(usize::from(lcores)).enumerate() {
                tx_by_lcore[lcore].push((tx, max_frame));
            }
        }

        // Mode l3s: one connection table for every lcore, its timeouts in TSC cycles.
        let connections = (config.mode == Mode::L3s).then(|| {
            let seconds = |s: u32| u64::from(s) * eal.tsc_hz();
            let c = &config.conntrack;
            Arc::new(Connections::new(
                c.entries as usize,
                seconds(c.tcp_timeout),
                seconds(c.other_timeout),
            ))
        });
        let mut slaves: Vec<Option<SlaveConf>> = config.slaves.iter().cloned().map(Some).collect();
        slaves.resize(max_slaves, None);
        let mut settings = config.clone();
        settings.slaves.clear();
        for (slave, conf) in config.slaves.iter().enumerate() {
            let slave = slave as SlaveId;
            states.set(slave, true);
            states.set_link(slave, !matches!(conf.port.backing, Backing::Vhost(_)));
            guest_macs.configure(slave, guest_mac_of(conf));
        }
        let tables = Arc::new(Published::new(
            build_tables(
                &settings,
                master_mac,
                &slaves,
                &states,
                None,
                connections.as_ref(),
            ),
            epochs.clone(),
        ));
        // Mode l3: the resolver's rings, from the lcores and back to the first one (which sends
        // what the resolver made or released on the phy, and its ICMP errors to the slaves).
        let resolver_rings = match l3 {
            true => Some((
                Ring::create(eal, "ipvsw_resolver_in", RING_SIZE)?,
                ResolverOutbox {
                    to_phy: Ring::create(eal, "ipvsw_resolver_out", RING_SIZE)?,
                    to_slaves: Ring::create(eal, "ipvsw_resolver_back", RING_SIZE)?,
                },
            )),
            false => None,
        };
        let counters: Arc<Vec<LcoreCounters>> = Arc::new(
            (0..lcores)
                .map(|_| LcoreCounters::new(first_slave + max_slaves))
                .collect(),
        );
        let map = Arc::new(PortMap {
            host: config.host.as_ref().map(|_| PHY + 1),
            first_slave,
            master_mac,
            guest_macs: guest_macs.clone(),
            pool: pool.clone(),
            resolver: resolver_rings.as_ref().map(|(inbox, _)| inbox.clone()),
            tsc_hz: eal.tsc_hz(),
        });
        let mut jobs = Vec::new();
        let mut changes = Vec::new();
        let stop = Arc::new(AtomicBool::new(false));
        let idle_sleep_max = Duration::from_micros(config.idle_sleep_max_us.into());
        let lcore_work = polls.into_iter().zip(tx_by_lcore).zip(readers).zip(&lcore_ids);
        for (i, (((polls, tx), reader), lcore)) in lcore_work.enumerate() {
            let (sender, receiver) = channel();
            changes.push(sender);
            let out = Outputs::new(tx, map.clone());
            let outbox = resolver_rings
                .as_ref()
                .filter(|_| i == 0)
                .map(|(_, outbox)| outbox.clone());
            let worker = Worker::new(polls, out, tables.clone(), receiver, idle_sleep_max, outbox);
            let (counters, stop_flag) = (counters.clone(), stop.clone());
            match eal.launch(*lcore, move || worker.run(reader, &counters[i], &stop_flag)) {
                Ok(job) => jobs.push(job),
                Err(e) => {
                    // The lcores already running must stop before their jobs are joined.
                    stop.store(true, Ordering::Relaxed);
                    return Err(e.into());
                }
            }
        }
        let resolver = resolver_rings.map(|(inbox, outbox)| {
            Resolver::start(
                inbox,
                outbox,
                tables.clone(),
                &config.l3,
                master_mac,
                pool.clone(),
                eal.tsc_hz(),
            )
        });
        tracing::info!(
            ports = ports.len(),
            slaves = config.slaves.len(),
            lcores = ?lcore_ids,
            mbufs,
            mac = %format_mac(&master_mac),
            "switch started"
        );
        ports.resize_with(first_slave + max_slaves, || None);
        Ok(Switch {
            connections,
            ports,
            slaves,
            first_slave,
            settings,
            jobs,
            lcore_ids,
            tsc_hz: eal.tsc_hz(),
            stop,
            counters,
            tables,
            epochs,
            changes,
            states,
            guest_macs,
            master_mac,
            phy_mtu,
            capture: None,
            resolver,
            pool,
        })
    }

    /// The MAC address every slave shares: the phy's.
    pub fn master_mac(&self) -> [u8; 6] {
        self.master_mac
    }

    /// The configuration running now (its slaves in the order of their places).
    pub fn config(&self) -> Config {
        let mut config = self.settings.clone();
        config.slaves = self.slaves.iter().flatten().cloned().collect();
        config
    }

    fn port(&self, name: &str) -> Option<&SwitchPort> {
        self.ports.iter().flatten().find(|p| p.name == name)
    }

    /// The rings of a ring-backed port: (into the switch, out of the switch).
    pub fn rings(&self, port: &str) -> Option<(&Ring, &Ring)> {
        self.port(port).and_then(|p| match &p.backend {
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
        self.slave_index(slave).map(|i| self.states.is_up(i))
    }

    /// Queue pairs the guest attached to vhost slave `slave` uses, 0 without a guest (`None`:
    /// no such vhost slave).
    pub fn guest_queue_pairs(&self, slave: &str) -> Option<u16> {
        self.port(slave).and_then(|p| match &p.backend {
            Backend::Vhost(port) => Some(port.queue_pairs()),
            _ => None,
        })
    }

    pub(crate) fn slave_index(&self, slave: &str) -> Option<SlaveId> {
        self.slaves
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.name == slave))
            .map(|i| i as SlaveId)
    }

    /// Brings a slave administratively up or down; returns its previous state. A down slave's
    /// addresses are unknown destinations, it takes no multicast, and its queue is not polled.
    pub fn set_up(&self, slave: &str, up: bool) -> Result<bool, SwitchError> {
        let index = self
            .slave_index(slave)
            .ok_or_else(|| SwitchError::Config(format!("no slave is called \"{slave}\"")))?;
        let was = self.states.set(index, up).unwrap_or(up);
        if was != up {
            tracing::info!(slave, up, "slave state changed");
        }
        Ok(was)
    }

    /// Every port, as `show ports` gives it.
    pub fn port_reports(&self) -> Vec<PortReport> {
        let lcores = self.lcore_ids.len() as u16;
        let ports = self.ports.iter().enumerate();
        ports
            .filter_map(|(index, port)| port.as_ref().map(|port| (index, port)))
            .map(|(index, port)| {
                let slave = index.checked_sub(self.first_slave).map(|s| s as SlaveId);
                let (conf, rx_queues) = match (index, slave) {
                    (PHY, _) => (&self.settings.phy, self.settings.phy.queues),
                    (_, None) => (self.settings.host.as_ref().expect("a host port is configured"), 1),
                    (_, Some(s)) => {
                        let slave = self.slaves[usize::from(s)]
                            .as_ref()
                            .expect("an open slave is configured");
                        (&slave.port, PortSpec::slave(slave).rx_queues)
                    }
                };
                let (up, link) = slave.and_then(|s| self.states.get(s)).unwrap_or((true, true));
                let (kind, backing) = match &conf.backing {
                    Backing::Device(device) => ("device", device.clone()),
                    Backing::Ring(ring) => ("ring", ring.clone()),
                    Backing::Vhost(vhost) => ("vhost", vhost.socket.display().to_string()),
                };
                let link = match &port.backend {
                    Backend::Eth(eth) => eth.link().is_ok_and(|l| l.up),
                    _ => link,
                };
                let mut polled_by: Vec<u32> = (0..usize::from(rx_queues))
                    .map(|queue| self.lcore_ids[lcore_of(index, queue, lcores)])
                    .collect();
                polled_by.sort_unstable();
                polled_by.dedup();
                PortReport {
                    name: port.name.clone(),
                    role: match (index, slave) {
                        (PHY, _) => "phy",
                        (_, None) => "host",
                        _ => "slave",
                    },
                    kind,
                    backing,
                    up,
                    link,
                    guest_queue_pairs: match &port.backend {
                        Backend::Vhost(vhost) => Some(vhost.queue_pairs()),
                        _ => None,
                    },
                    rx_queues,
                    lcores: polled_by,
                }
            })
            .collect()
    }

    /// Every port's counters, summed over lcores, with the drivers' own drop counters.
    pub fn stats(&self) -> BTreeMap<String, PortTotals> {
        self.ports
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|p| (i, p)))
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

    /// Stops the lcores (after their current burst) and waits for them, then the resolver.
    pub fn stop(&mut self) -> Result<(), SwitchError> {
        self.stop.store(true, Ordering::Relaxed);
        self.jobs.drain(..).try_for_each(LcoreJob::join)?;
        if let Some(resolver) = &mut self.resolver {
            resolver.stop();
        }
        Ok(())
    }

    /// Mode l3's neighbours: the configured ones, then those the resolver keeps.
    pub fn neighbour_reports(&self) -> Vec<NeighbourReport> {
        let configured = self.settings.l3.neighbours.iter().map(|n| NeighbourReport {
            ip: n.ip.to_string(),
            mac: Some(format_mac(&n.mac)),
            state: "static",
            waiting: 0,
        });
        let resolved = self.resolver.iter().flat_map(Resolver::entries);
        configured.chain(resolved).collect()
    }

    /// Mode l3's routes, most specific first in each family: the master's own addresses
    /// (local), its connected networks, the configured routes.
    pub fn route_reports(&self) -> Vec<RouteReport> {
        let l3 = &self.settings.l3;
        let host = |a: &IpAddr| if a.is_ipv4() { 32 } else { 128 };
        let local = l3.addresses.iter().map(|(a, _)| RouteReport {
            to: format!("{a}/{}", host(a)),
            via: None,
            kind: "local",
        });
        let connected = l3.addresses.iter().map(|&(a, prefix)| RouteReport {
            to: format!("{}/{prefix}", conf::network_of(a, prefix)),
            via: None,
            kind: "connected",
        });
        let configured = l3.routes.iter().map(|r| RouteReport {
            to: format!("{}/{}", r.to.0, r.to.1),
            via: Some(r.via.to_string()),
            kind: "static",
        });
        local.chain(connected).chain(configured).collect()
    }

    /// Mode l3s: every filtering rule of every slave, in order, each direction's default last,
    /// with its hits.
    pub fn filter_reports(&self) -> Vec<FilterReport> {
        self.tables.with(|tables| {
            let Some(filters) = &tables.filters else {
                return Vec::new();
            };
            let mut reports = Vec::new();
            for (slave, built) in self.slaves.iter().zip(&filters.slaves) {
                let (Some(slave), Some(built)) = (slave, built) else {
                    continue;
                };
                let directions = [
                    ("ingress", &slave.ingress, &built.ingress),
                    ("egress", &slave.egress, &built.egress),
                ];
                for (direction, conf, built) in directions {
                    let (Some(conf), Some(built)) = (conf, built) else {
                        continue;
                    };
                    let default = format!("default {}", conf.default.name());
                    let rules = conf.rules.iter().map(|r| r.to_string()).chain([default]);
                    reports.extend(rules.zip(built.hits()).map(|(rule, hits)| FilterReport {
                        slave: slave.name.clone(),
                        direction,
                        rule,
                        hits,
                    }));
                }
            }
            reports
        })
    }

    /// Mode l3s's connection table (`None`: another mode).
    pub fn connection_stats(&self) -> Option<ConnectionTotals> {
        let connections = self.connections.as_ref()?;
        Some(ConnectionTotals {
            open: connections.open(dpdk_wrap::rdtsc()),
            capacity: connections.capacity(),
            evicted: connections.evicted(),
        })
    }

    /// What mode l3's neighbour resolver did (`None`: another mode).
    pub fn resolver_stats(&self) -> Option<ResolverTotals> {
        self.resolver.as_ref().map(Resolver::totals)
    }

    /// Stops, closes every port, and reports how many mbufs are still out of the pool:
    /// anything but 0 is a leak.
    pub fn shutdown(mut self) -> Result<u32, SwitchError> {
        self.stop()?;
        self.ports.clear();
        Ok(self.pool.in_use())
    }

    /// Opens slave `conf` in place `slave` and hands its queues to the lcores (polled once
    /// each lcore has them); the slave is not in the tables yet.
    pub(crate) fn open_slave(
        &mut self,
        eal: &Eal,
        slave: SlaveId,
        conf: &SlaveConf,
    ) -> Result<(), SwitchError> {
        let lcores = self.lcore_ids.len() as u16;
        let spec = PortSpec::slave(conf);
        let context = OpenContext {
            eal,
            lcores,
            pool: &self.pool,
            states: &self.states,
            guest_macs: &self.guest_macs,
            epochs: &self.epochs,
        };
        let (backend, rx, tx) = context.open(&spec, false, Some(slave))?;
        let index = self.first_slave + usize::from(slave);
        let role = role_of(index, self.first_slave, Some(conf));
        let mut polls: Vec<Vec<Poll>> = (0..lcores).map(|_| Vec::new()).collect();
        for (queue, rx) in rx.into_iter().enumerate() {
            polls[lcore_of(index, queue, lcores)].push(Poll::idle(index, role, rx));
        }
        // Nothing has written this place's counters since its last slave was detached.
        self.counters.iter().for_each(|c| c.ports[index].reset());
        let max_frame = max_frame(&conf.port, self.phy_mtu);
        for ((changes, polls), tx) in self.changes.iter().zip(polls).zip(tx) {
            let attach = LcoreChange::Attach {
                port: index,
                polls,
                tx,
                max_frame,
            };
            // An lcore that stopped takes no change; nothing then reads the place.
            let _ = changes.send(attach);
        }
        self.ports[index] = Some(SwitchPort {
            name: conf.name.clone(),
            backend,
        });
        self.guest_macs.configure(slave, guest_mac_of(conf));
        self.slaves[usize::from(slave)] = Some(conf.clone());
        Ok(())
    }

    /// Takes the queues of slave `slave` from the lcores (each sends what waits for it
    /// first) and closes its port, freeing every mbuf its queues held. The tables must not
    /// name it any more.
    pub(crate) fn close_slave(&mut self, slave: SlaveId) {
        let index = self.first_slave + usize::from(slave);
        for changes in &self.changes {
            let _ = changes.send(LcoreChange::Detach { port: index });
        }
        self.lcores_caught_up();
        // A vhost guest detaches here (synchronously, through the link's events), before the
        // place can be reused.
        self.ports[index] = None;
        self.slaves[usize::from(slave)] = None;
        self.states.set_link(slave, false);
    }

    /// Returns once every running lcore has taken the changes sent to it so far (it takes
    /// them at its quiescent point, between rounds).
    pub(crate) fn lcores_caught_up(&self) {
        // The sends are ordered before the epoch counters are read.
        std::sync::atomic::fence(Ordering::SeqCst);
        self.epochs.wait();
    }

    /// Starts copying every frame port `port` receives and is sent (any kind of port: a vhost
    /// or ring slave too) to a `net_null` device made for it, whose tx queues DPDK's pdump
    /// reads: `dpdk-dumpcap -i <the name returned>`. One port at a time (a capture running
    /// ends); the device costs one ethdev while it exists. Frames are copied, not shared,
    /// so nothing the switch rewrites later changes a captured frame.
    pub fn start_capture(&mut self, eal: &Eal, port: &str) -> Result<String, SwitchError> {
        let index = self
            .ports
            .iter()
            .position(|p| p.as_ref().is_some_and(|p| p.name == port))
            .ok_or_else(|| SwitchError::Config(format!("no port is called \"{port}\"")))?;
        self.stop_capture();
        let device = EthPort::open(eal, &format!("{CAPTURE_DEVICE},no-rx=1"))?;
        let setup = PortSetup {
            tx_queues: self.lcore_ids.len() as u16,
            ..PortSetup::default()
        };
        let (_rx, tx) = device.start(&setup, &self.pool)?;
        for (changes, tx) in self.changes.iter().zip(tx) {
            let _ = changes.send(LcoreChange::Mirror(Some((index, Tx::Eth(tx)))));
        }
        self.lcores_caught_up();
        tracing::info!(port, device = CAPTURE_DEVICE, "capture started");
        self.capture = Some((port.to_string(), device));
        Ok(CAPTURE_DEVICE.to_string())
    }

    /// Ends the capture; returns the port that was captured, if any.
    pub fn stop_capture(&mut self) -> Option<String> {
        let (port, device) = self.capture.take()?;
        for changes in &self.changes {
            let _ = changes.send(LcoreChange::Mirror(None));
        }
        self.lcores_caught_up();
        // The lcores dropped their queues of it: the device closes here.
        drop(device);
        tracing::info!(port, "capture stopped");
        Some(port)
    }

    /// Publishes the tables of the slaves in place now; returns once no lcore reads the old.
    pub(crate) fn publish(&self) {
        let (settings, slaves, states) = (&self.settings, &self.slaves, &self.states);
        // The resolver's part stays.
        let build = |current: &Tables| {
            build_tables(
                settings,
                self.master_mac,
                slaves,
                states,
                Some(current),
                self.connections.as_ref(),
            )
        };
        drop(self.tables.update(build));
    }
}

impl Drop for Switch {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The tables of the slaves in their places: addresses, multicast filters, and the frames
/// that announce a guest's addresses.
fn build_tables(
    settings: &Config,
    master_mac: [u8; 6],
    slaves: &[Option<SlaveConf>],
    states: &Arc<SlaveStates>,
    current: Option<&Tables>,
    connections: Option<&Arc<Connections>>,
) -> Tables {
    // Up to the last slave: the multicast fan-out walks this far.
    let end = slaves
        .iter()
        .rposition(Option::is_some)
        .map_or(0, |last| last + 1);
    let slaves = &slaves[..end];
    let entries = slaves.iter().enumerate().flat_map(|(i, slave)| {
        let addresses = slave.iter().flat_map(|s| &s.addresses);
        addresses.map(move |(address, _prefix)| (Key::from(*address), i as SlaveId))
    });
    let table = AddressTable::new(entries);
    let l3 = &settings.l3;
    let routes: Vec<_> = l3.routes.iter().map(|r| (r.to.0, r.to.1, r.via)).collect();
    let l3 = (settings.mode != Mode::L2).then(|| {
        Arc::new(L3Tables {
            routes: Routes::new(&l3.addresses, &routes, &table),
            neighbours: Neighbours::new(l3.neighbours.iter().map(|n| (n.ip, n.mac))),
            proxy: l3.proxy_neighbour,
            sources: error_sources(&l3.addresses),
        })
    });
    let resolved = current.map_or_else(Neighbours::default, |c| c.next_hops.resolved.clone());
    let filters = connections.map(|connections| {
        let previous = current.and_then(|c| c.filters.as_deref());
        Arc::new(FilterTables {
            slaves: slaves
                .iter()
                .enumerate()
                .map(|(i, slave)| {
                    let wanted = slave_filters(slave.as_ref()?)?;
                    let kept = previous.and_then(|p| p.slaves.get(i)?.clone());
                    Some(
                        kept.filter(|k| k.same_rules(&wanted))
                            .unwrap_or_else(|| Arc::new(wanted)),
                    )
                })
                .collect(),
            connections: connections.clone(),
        })
    });
    Tables {
        next_hops: Arc::new(NextHops::new(l3.as_deref(), resolved, master_mac)),
        filters,
        l3,
        dispatch: Arc::new(Dispatch {
            flags: settings.flags,
            master_mac,
            table,
            multicast: Multicast::new(
                slaves
                    .iter()
                    .map(|slave| match slave {
                        Some(s) => McFilter {
                            groups: s.multicast.clone(),
                            allmulti: s.allmulti,
                        },
                        None => McFilter::default(),
                    })
                    .collect(),
            ),
            states: states.clone(),
        }),
        // Only a guest is announced (after it moved): a ring or device slave has none.
        announcements: Arc::new(
            slaves
                .iter()
                .map(|slave| match slave {
                    Some(s) if matches!(s.port.backing, Backing::Vhost(_)) => {
                        let addresses: Vec<IpAddr> = s.addresses.iter().map(|(a, _)| *a).collect();
                        announcements(&master_mac, &addresses)
                    }
                    _ => Vec::new(),
                })
                .collect(),
        ),
    }
}

/// What port `index` is to the dispatch (`slave`: its configuration, if it is a slave).
fn role_of(index: PortIndex, first_slave: PortIndex, slave: Option<&SlaveConf>) -> Role {
    match (index, slave) {
        (PHY, _) => Role::Phy,
        (i, _) if i < first_slave => Role::Host,
        (i, Some(s)) if matches!(s.port.backing, Backing::Vhost(_)) => {
            Role::Guest((i - first_slave) as SlaveId)
        }
        (i, _) => Role::Slave((i - first_slave) as SlaveId),
    }
}

/// The lcore (by its place in the list) that polls rx queue `queue` of port `index`: queue q
/// of port p goes to lcore (p + q) mod lcores, so that ports spread over the lcores and a
/// port's queues (the phy's RSS queues, a guest's queue pairs) land on different ones.
fn lcore_of(index: PortIndex, queue: usize, lcores: u16) -> usize {
    (index + queue) % usize::from(lcores)
}

/// The longest frame a port takes: its MTU (the phy's unless set, as the kernel's) plus the
/// Ethernet header and one VLAN tag.
fn max_frame(port: &PortConf, phy_mtu: u16) -> u32 {
    u32::from(port.mtu.unwrap_or(phy_mtu)) + FRAME_OVERHEAD
}

fn guest_mac_of(slave: &SlaveConf) -> Option<[u8; 6]> {
    match &slave.port.backing {
        Backing::Vhost(vhost) => vhost.guest_mac,
        _ => None,
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
    epochs: &'a Arc<Epochs>,
}

impl OpenContext<'_> {
    /// Opens and starts a port from its backing: a DPDK device string, a pair of plain rings
    /// `<ring>_in` / `<ring>_out` (multi-producer, so that every lcore writes `_out`), or a
    /// vhost-user socket (`slave` is then the slave it brings up and down). Errors name where
    /// the port was configured.
    fn open(&self, spec: &PortSpec, phy: bool, slave: Option<SlaveId>) -> Result<OpenedPort, SwitchError> {
        let opened = self
            .open_backing(spec, phy, slave)
            .map_err(|source| SwitchError::Port {
                at: spec.conf.at.clone(),
                source,
            })?;
        log_port(spec.name, &opened.0);
        Ok(opened)
    }

    fn open_backing(
        &self,
        spec: &PortSpec,
        phy: bool,
        slave: Option<SlaveId>,
    ) -> Result<OpenedPort, DpdkError> {
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
                    states.set_link(slave, up);
                    if !up {
                        // The next guest may have another MAC.
                        guest_macs.forget(slave);
                    }
                    tracing::info!(slave = %name, up, "slave state changed");
                });
                let epochs = self.epochs.clone();
                let quiesce = Box::new(move || epochs.wait());
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

/// A slave's filters, or `None` if it has neither.
fn slave_filters(slave: &SlaveConf) -> Option<SlaveFilters> {
    let filter = |conf: &FilterConf| {
        let net = |n: Option<(IpAddr, u8)>| n.map(|(address, prefix)| Net::new(address, prefix));
        let rules = conf.rules.iter().map(|r| Rule {
            action: r.action,
            from: net(r.from),
            to: net(r.to),
            proto: r.proto,
            from_ports: r.from_port,
            to_ports: r.to_port,
        });
        Filter::new(rules.collect(), conf.default, conf.established)
    };
    let filters = SlaveFilters {
        ingress: slave.ingress.as_ref().map(filter),
        egress: slave.egress.as_ref().map(filter),
    };
    (filters.ingress.is_some() || filters.egress.is_some()).then_some(filters)
}
