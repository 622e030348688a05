//! The switch on DPDK's telemetry socket, for `dpdk-telemetry.py` and any telemetry client:
//! `/ipvlan/ports` (the port names), `/ipvlan/port,NAME`, `/ipvlan/stats` (every port:
//! rx_packets, rx_bytes, tx_packets, tx_bytes, multicast, dropped), `/ipvlan/stats,NAME`
//! (every counter of one port) and `/ipvlan/addresses` (by slave). Each command is asked of
//! the main loop, the switch's one owner, which answers it as it answers the control socket.

use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use dpdk_wrap::{register_telemetry, DpdkError, Eal, Telemetry, TelemetryValue};
use serde_json::Value;

use crate::protocol::Request;

/// A request from the telemetry thread, and where its answer goes.
pub type Asked = (Request, SyncSender<Value>);

/// Longer than the main loop's period many times over; a telemetry client waits this long.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(2);

/// What answers one command, from its parameters.
type Command = Box<dyn Fn(Option<&str>) -> Option<Telemetry> + Send + Sync>;

/// The counters of `/ipvlan/stats` without a port, in their order.
const SUMMARY: [&str; 5] = ["rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "multicast"];

/// Registers the `/ipvlan/` commands; their requests arrive on the receiver.
pub fn register(eal: &Eal) -> Result<Receiver<Asked>, DpdkError> {
    let (requests, asked) = channel::<Asked>();
    let ask = Arc::new(move |request: Request| -> Option<Value> {
        let (reply, answer) = sync_channel(1);
        requests.send((request, reply)).ok()?;
        let answer = answer.recv_timeout(ANSWER_TIMEOUT).ok()?;
        (answer["ok"] == true).then(|| answer["result"].clone())
    });
    let commands: [(&str, &str, Command); 4] = [
        ("/ipvlan/ports", "The switch's ports, by name. Takes no parameters", {
            let ask = ask.clone();
            Box::new(move |_| {
                let ports = ask(Request::ShowPorts)?;
                let names = ports["ports"].as_array()?.iter().filter_map(|p| p["name"].as_str());
                Some(Telemetry::Strings(names.map(String::from).collect()))
            })
        }),
        ("/ipvlan/port", "One port: role, kind, backing, state, link, queues, lcores. Parameters: port name", {
            let ask = ask.clone();
            Box::new(move |name| {
                let ports = ask(Request::ShowPorts)?;
                let port = ports["ports"].as_array()?.iter().find(|p| p["name"].as_str() == name)?;
                Some(Telemetry::Dict(flatten(port, "")))
            })
        }),
        ("/ipvlan/stats", "Every port's rx/tx packets and bytes, multicast, dropped; or all counters of one. Parameters: [port name]", {
            let ask = ask.clone();
            Box::new(move |port| {
                let stats = ask(Request::ShowStats { port: port.map(String::from) })?;
                let ports = stats["ports"].as_object()?;
                Some(Telemetry::Dict(match port {
                    Some(name) => flatten(&ports[name], ""),
                    None => ports.iter().map(|(name, t)| (name.clone(), TelemetryValue::U64s(summary(t)))).collect(),
                }))
            })
        }),
        ("/ipvlan/addresses", "Each slave's addresses. Takes no parameters", {
            let ask = ask.clone();
            Box::new(move |_| {
                let addresses = ask(Request::ShowAddresses)?;
                let mut by_slave: Vec<(String, Vec<String>)> = Vec::new();
                for a in addresses["addresses"].as_array()? {
                    let (slave, address) = (a["slave"].as_str()?, a["address"].as_str()?);
                    match by_slave.iter_mut().find(|(s, _)| s == slave) {
                        Some((_, list)) => list.push(address.to_string()),
                        None => by_slave.push((slave.to_string(), vec![address.to_string()])),
                    }
                }
                let entries = by_slave.into_iter().map(|(s, list)| (s, TelemetryValue::Strs(list)));
                Some(Telemetry::Dict(entries.collect()))
            })
        }),
    ];
    for (command, help, handler) in commands {
        register_telemetry(eal, command, help, handler)?;
    }
    Ok(asked)
}

/// A port's counters in `SUMMARY` order, then all its drops summed.
fn summary(totals: &Value) -> Vec<u64> {
    let dropped = totals["drops"]
        .as_object()
        .map_or(0, |d| d.values().filter_map(Value::as_u64).sum());
    let counters = SUMMARY.iter().map(|key| totals[key].as_u64().unwrap_or(0));
    counters.chain([dropped]).collect()
}

/// A JSON object as one flat telemetry dict: nested objects' keys joined with '_'
/// (`drops_no_owner`), booleans as 0/1, lists of numbers or strings as lists, nulls left out.
fn flatten(object: &Value, prefix: &str) -> Vec<(String, TelemetryValue)> {
    let Some(fields) = object.as_object() else {
        return Vec::new();
    };
    let mut entries = Vec::new();
    for (key, value) in fields {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}_{key}")
        };
        let entry = match value {
            Value::Object(_) => {
                entries.extend(flatten(value, &name));
                continue;
            }
            Value::Bool(b) => TelemetryValue::U64(u64::from(*b)),
            Value::Number(n) => TelemetryValue::U64(n.as_u64().unwrap_or(0)),
            Value::String(s) => TelemetryValue::Str(s.clone()),
            Value::Array(list) => match list.iter().map(Value::as_u64).collect::<Option<Vec<u64>>>() {
                Some(numbers) => TelemetryValue::U64s(numbers),
                None => TelemetryValue::Strs(
                    list.iter()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), String::from))
                        .collect(),
                ),
            },
            Value::Null => continue,
        };
        entries.push((name, entry));
    }
    entries
}
