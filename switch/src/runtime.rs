//! Brings the switch up from a configuration: opens and starts the ports, builds the tables,
//! spreads rx queues over the forwarding lcores, launches them; stops them and reads counters.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use conf::{Backing, Config, Mode, PortConf};
use dpdk_wrap::{DpdkError, Eal, EthPort, LcoreJob, Mempool, PortSetup, Ring, RxQueue, TxQueue};

use crate::classify::Key;
use crate::counters::{LcoreCounters, PortTotals};
use crate::datapath::{Outputs, Poll, PortIndex, Role, Worker, PHY};
use crate::dispatch::{Dispatch, DropReason, McFilter};
use crate::table::{AddressTable, SlaveId};

/// Entries of a ring backing a port.
const RING_SIZE: u32 = 1024;
/// Frame overhead above the MTU: Ethernet header and one VLAN tag (as the kernel's +18).
const FRAME_OVERHEAD: u32 = 18;
const ENOTSUP: i32 = 95;
/// Longest a partly filled tx batch waits under load (l3fwd's BURST_TX_DRAIN_US).
const TX_DRAIN_US: u64 = 100;

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

/// A port of the running switch.
struct SwitchPort {
    name: String,
    port: EthPort,
    /// For a ring-backed port: (into the switch, out of the switch).
    rings: Option<(Ring, Ring)>,
}

/// The running switch. `stop` (or Drop) stops the lcores, then the ports close.
pub struct Switch {
    ports: Vec<SwitchPort>,
    jobs: Vec<LcoreJob>,
    stop: Arc<AtomicBool>,
    counters: Arc<Vec<LcoreCounters>>,
    master_mac: [u8; 6],
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
        let workers = eal.worker_lcores();
        for lcore in &config.lcores {
            if !workers.contains(lcore) {
                return Err(SwitchError::Config(format!(
                    "lcore {lcore} is not an enabled worker lcore: enabled are {workers:?} (the EAL -l list minus the main lcore)"
                )));
            }
        }
        let lcores = config.lcores.len() as u16;

        // (name, conf, rx queues) of every port, in PortIndex order: phy, host, slaves.
        let mut specs: Vec<(&str, &PortConf, u16)> = vec![("phy", &config.phy, config.phy.queues)];
        if let Some(host) = &config.host {
            specs.push(("host", host, 1));
        }
        let first_slave = specs.len();
        specs.extend(config.slaves.iter().map(|s| (s.name.as_str(), &s.port, 1)));

        // Enough mbufs for every rx and tx descriptor and ring slot, plus per-lcore caches.
        let per_port = |rx_queues: u16| 1024 * u32::from(rx_queues + lcores) + RING_SIZE * 2;
        let descriptors: u32 = specs.iter().map(|(_, _, queues)| per_port(*queues)).sum();
        let pool_size = (descriptors + 4096).next_power_of_two() - 1;
        let pool = Mempool::new(eal, "ipvsw_pool", pool_size, 256)?;

        let mut ports = Vec::new();
        let mut rx_queues: Vec<(PortIndex, Vec<RxQueue>)> = Vec::new();
        let mut tx_queues: Vec<Vec<TxQueue>> = Vec::new();
        for (index, (name, pc, queues)) in specs.iter().enumerate() {
            let port_error = |source| SwitchError::Port {
                at: pc.at.clone(),
                source,
            };
            let (port, rings) = open_port(eal, pc, lcores).map_err(port_error)?;
            let setup = PortSetup {
                rx_queues: *queues,
                // Some drivers (tap) pair every rx queue with a tx queue: extras stay unused.
                tx_queues: lcores.max(*queues),
                allmulticast: index == PHY,
                mtu: pc.mtu,
                ..PortSetup::default()
            };
            let (rx, tx) = port.start(&setup, &pool).map_err(port_error)?;
            log_port(name, &port);
            rx_queues.push((index, rx));
            tx_queues.push(tx);
            ports.push(SwitchPort {
                name: name.to_string(),
                port,
                rings,
            });
        }
        let master_mac = master_mac(&ports[PHY].port, &config.phy)?;
        // A slave's MTU is the phy's unless set (as the kernel's).
        let phy_mtu = match config.phy.mtu {
            Some(mtu) => mtu,
            None => ports[PHY].port.mtu()?,
        };
        let max_frame: Vec<u32> = specs
            .iter()
            .map(|(_, pc, _)| u32::from(pc.mtu.unwrap_or(phy_mtu)) + FRAME_OVERHEAD)
            .collect();

        let dispatch = Arc::new(Dispatch {
            flags: config.flags,
            master_mac,
            table: AddressTable::new(config.slaves.iter().enumerate().flat_map(|(i, s)| {
                s.addresses.iter().map(move |(addr, _prefix)| {
                    let key = match addr {
                        std::net::IpAddr::V4(a) => Key::V4(u32::from(*a)),
                        std::net::IpAddr::V6(a) => Key::V6(u128::from(*a)),
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
        });

        // Every rx queue goes to one lcore, round robin; each lcore gets its own tx queue on every port.
        let mut polls: Vec<Vec<Poll>> = (0..lcores).map(|_| Vec::new()).collect();
        let mut next = 0;
        for (index, queues) in rx_queues {
            let role = match index {
                PHY => Role::Phy,
                i if i < first_slave => Role::Host,
                i => Role::Slave((i - first_slave) as SlaveId),
            };
            for rx in queues {
                polls[next % usize::from(lcores)].push(Poll {
                    port: index,
                    role,
                    rx,
                });
                next += 1;
            }
        }
        let mut tx_by_lcore: Vec<Vec<TxQueue>> = (0..lcores).map(|_| Vec::new()).collect();
        for port_queues in tx_queues {
            for (lcore, tx) in port_queues.into_iter().take(usize::from(lcores)).enumerate() {
                tx_by_lcore[lcore].push(tx);
            }
        }

        let counters: Arc<Vec<LcoreCounters>> =
            Arc::new((0..lcores).map(|_| LcoreCounters::new(ports.len())).collect());
        let stop = Arc::new(AtomicBool::new(false));
        let host = config.host.as_ref().map(|_| PHY + 1);
        let mut jobs = Vec::new();
        let lcore_work = polls.into_iter().zip(tx_by_lcore).zip(&config.lcores).enumerate();
        for (i, ((polls, tx), lcore)) in lcore_work {
            let worker = Worker {
                polls,
                out: Outputs::new(tx, max_frame.clone(), host, first_slave),
                dispatch: dispatch.clone(),
                drain_ticks: eal.tsc_hz() * TX_DRAIN_US / 1_000_000,
            };
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
            lcores = lcores,
            mac = %format_mac(&master_mac),
            "switch started"
        );
        Ok(Switch {
            ports,
            jobs,
            stop,
            counters,
            master_mac,
            pool,
        })
    }

    /// The MAC address every slave shares: the phy's.
    pub fn master_mac(&self) -> [u8; 6] {
        self.master_mac
    }

    /// The rings of a ring-backed port: (into the switch, out of the switch).
    pub fn rings(&self, port: &str) -> Option<(&Ring, &Ring)> {
        self.ports
            .iter()
            .find(|p| p.name == port)
            .and_then(|p| p.rings.as_ref().map(|(i, o)| (i, o)))
    }

    /// The switch's packet pool (its in-use count shows leaks once traffic stops).
    pub fn pool(&self) -> &Mempool {
        &self.pool
    }

    /// Every port's counters, summed over lcores, with the drivers' own drop counters.
    pub fn stats(&self) -> BTreeMap<String, PortTotals> {
        self.ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut totals = PortTotals::sum(self.counters.iter().map(|c| &c.ports[i]));
                if let Ok(driver) = p.port.stats() {
                    totals.add_drop(DropReason::PoolEmpty, driver.rx_no_mbuf);
                    totals.add_drop(DropReason::RxMissed, driver.rx_missed);
                }
                (p.name.clone(), totals)
            })
            .collect()
    }

    /// Stops the lcores (after their current burst) and waits for them.
    pub fn stop(&mut self) -> Result<(), SwitchError> {
        self.stop.store(true, Ordering::Relaxed);
        self.jobs.drain(..).try_for_each(LcoreJob::join)?;
        Ok(())
    }
}

impl Switch {
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

/// Opens a port from its backing: a DPDK device string, or a ring pair named after `ring`
/// (one tx queue per forwarding lcore, all writing the same multi-producer ring).
fn open_port(eal: &Eal, pc: &PortConf, lcores: u16) -> Result<(EthPort, Option<(Ring, Ring)>), DpdkError> {
    match &pc.backing {
        Backing::Device(device) => Ok((EthPort::open(eal, device)?, None)),
        Backing::Ring(name) => {
            let into = Ring::create(eal, &format!("{name}_in"), RING_SIZE)?;
            let out = Ring::create(eal, &format!("{name}_out"), RING_SIZE)?;
            let port = EthPort::from_rings(
                eal,
                &format!("ring_{name}"),
                &[&into],
                &vec![&out; usize::from(lcores)],
            )?;
            Ok((port, Some((into, out))))
        }
    }
}

/// The MAC every slave shares: the configured one, set on the phy where the device has a MAC
/// (a ring has none: the switch then just uses it as its own), else the phy's own.
fn master_mac(phy: &EthPort, pc: &PortConf) -> Result<[u8; 6], SwitchError> {
    match pc.mac {
        None => Ok(phy.mac()?),
        Some(mac) => unless_unsupported(phy.set_mac(mac))
            .map(|()| mac)
            .map_err(|source| SwitchError::Port {
                at: pc.at.clone(),
                source,
            }),
    }
}

/// Says what a port turned out to be: its driver and link.
fn log_port(name: &str, port: &EthPort) {
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

/// A MAC a device cannot set (a ring has none) is no error: the switch owns the shared MAC.
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
