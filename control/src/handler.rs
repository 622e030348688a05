//! What the switch does for each request: reads its state, or makes the change as a new
//! configuration applied as a difference from the running one. So every refusal (a duplicate
//! address, an unknown slave, a bad prefix) is the configuration check's, and changes nothing.

use std::collections::BTreeMap;

use conf::{ConfError, Config};
use dpdk_wrap::Eal;
use serde_json::{json, Value};
use switch::counters::{LcoreTotals, PortTotals};
use switch::Switch;

use crate::protocol::{answer, refusal, Request};
use crate::render::stats_json;

/// Reads the configuration file again, with the command line's overrides (for `reload`).
pub type Reload<'a> = Box<dyn Fn() -> Result<Config, ConfError> + 'a>;

pub struct Handler<'a> {
    eal: &'a Eal,
    reload: Reload<'a>,
    /// Counters as they were at the last `stats clear`, subtracted by `show stats`.
    cleared: BTreeMap<String, PortTotals>,
    lcores_cleared: Vec<LcoreTotals>,
}

impl<'a> Handler<'a> {
    pub fn new(eal: &'a Eal, reload: Reload<'a>) -> Handler<'a> {
        Handler {
            eal,
            reload,
            cleared: BTreeMap::new(),
            lcores_cleared: Vec::new(),
        }
    }

    /// The answer to `request`, applied to `switch`.
    pub fn handle(&mut self, switch: &mut Switch, request: Request) -> Value {
        tracing::debug!(?request, "control request");
        match self.result(switch, request) {
            Ok(result) => answer(result),
            Err(error) => refusal(error),
        }
    }

    /// Applies the configuration file again (a `reload`, or SIGHUP).
    pub fn reload(&mut self, switch: &mut Switch) -> Result<Value, String> {
        let config = (self.reload)().map_err(|e| e.to_string())?;
        self.apply(switch, config)
    }

    fn result(&mut self, switch: &mut Switch, request: Request) -> Result<Value, String> {
        let config = || switch.config();
        let edit = match request {
            Request::ShowPorts => return Ok(json!({ "ports": switch.port_reports() })),
            Request::ShowAddresses => return Ok(addresses(&config())),
            Request::ShowNeighbours => return Ok(json!({ "neighbours": switch.neighbour_reports() })),
            Request::ShowRoutes => return Ok(json!({ "routes": switch.route_reports() })),
            Request::ShowFilters => return Ok(json!({ "filters": switch.filter_reports() })),
            Request::ShowStats { port } => return self.stats(switch, port),
            Request::SetPort { name, up } => {
                let was_up = switch.set_up(&name, up).map_err(|e| e.to_string())?;
                return Ok(json!({ "name": name, "was_up": was_up, "up": up }));
            }
            Request::StatsClear => {
                self.cleared = switch.stats();
                self.lcores_cleared = switch.lcore_stats();
                return Ok(json!({}));
            }
            Request::Reload => return self.reload(switch),
            Request::CaptureStart { port } => return self.start_capture(switch, &port),
            Request::CaptureStop => return Ok(json!({ "port": switch.stop_capture() })),
            Request::AddSlave { slave } => match toml::Value::try_from(Value::Object(slave)) {
                Ok(toml::Value::Table(table)) => config().with_slave(table),
                Ok(_) => unreachable!("an object becomes a table"),
                Err(e) => return Err(format!("the slave is not a [[slave]] table: {e}")),
            },
            Request::DelSlave { name } => config().without_slave(&name),
            Request::AddAddress { slave, address } => config().with_address(&slave, &address),
            Request::DelAddress { slave, address } => config().without_address(&slave, &address),
        };
        self.apply(switch, edit.map_err(|e| e.to_string())?)
    }

    /// Starts a capture of `port`: only where `dpdk-dumpcap`, a secondary process, can attach.
    fn start_capture(&mut self, switch: &mut Switch, port: &str) -> Result<Value, String> {
        let config = switch.config();
        if config.eal_args.iter().any(|a| a == "--in-memory") {
            return Err(
                "capture needs a switch whose EAL arguments have no --in-memory: dpdk-dumpcap is a \
                        secondary process and maps the switch's memory"
                    .into(),
            );
        }
        let device = switch.start_capture(self.eal, port).map_err(|e| e.to_string())?;
        let dumpcap = format!(
            "dpdk-dumpcap --file-prefix={} -i {device} -w {port}.pcapng",
            config.file_prefix()
        );
        Ok(json!({ "port": port, "device": device, "dumpcap": dumpcap }))
    }

    fn apply(&mut self, switch: &mut Switch, config: Config) -> Result<Value, String> {
        let applied = switch.apply(self.eal, &config).map_err(|e| e.to_string())?;
        // A slave added in a removed one's place counts from zero.
        for name in applied.added.iter().chain(&applied.removed) {
            self.cleared.remove(name);
        }
        Ok(json!({ "applied": applied }))
    }

    fn stats(&self, switch: &Switch, port: Option<String>) -> Result<Value, String> {
        let mut stats = switch.stats();
        if let Some(port) = &port {
            stats.retain(|name, _| name == port);
            if stats.is_empty() {
                return Err(format!("no port is called \"{port}\""));
            }
        }
        for (name, totals) in stats.iter_mut() {
            if let Some(cleared) = self.cleared.get(name) {
                *totals = totals.since(cleared);
            }
        }
        let mut lcores = switch.lcore_stats();
        for (now, cleared) in lcores.iter_mut().zip(&self.lcores_cleared) {
            *now = now.since(cleared);
        }
        let mut json = stats_json(&stats, &lcores, switch.tsc_hz());
        if let Some(connections) = switch.connection_stats() {
            json["connections"] = json!(connections);
        }
        if let Some(resolver) = switch.resolver_stats() {
            json["resolver"] = json!(resolver);
        }
        Ok(json)
    }
}

/// Every slave address, in slave order.
fn addresses(config: &Config) -> Value {
    let list: Vec<Value> = config
        .slaves
        .iter()
        .flat_map(|slave| {
            let addresses = slave.addresses.iter();
            addresses.map(
                |(address, prefix)| json!({ "address": format!("{address}/{prefix}"), "slave": slave.name }),
            )
        })
        .collect();
    json!({ "addresses": list })
}
