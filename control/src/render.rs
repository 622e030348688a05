//! The human tables of answers, for `ctl` and for the switch's own report at exit.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::{json, Value};
use switch::counters::{LcoreTotals, PortTotals};

/// The counters as JSON: `{"ports": {name: counters}, "lcores": [...], "tsc_hz": n}` (what
/// `show stats` answers and `--stats-out` writes).
pub fn stats_json(ports: &BTreeMap<String, PortTotals>, lcores: &[LcoreTotals], tsc_hz: u64) -> Value {
    json!({ "ports": ports, "lcores": lcores, "tsc_hz": tsc_hz })
}

fn number(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// A port table, then one line per lcore: `lcore 1: busy 93.1% of 3.00 s, 48.2 cycles per packet`.
pub fn stats_table(stats: &Value) -> String {
    let mut out = format!(
        "{:<12} {:>12} {:>14} {:>12} {:>14} {:>10}  drops\n",
        "port", "rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "multicast"
    );
    for (name, t) in stats["ports"].as_object().into_iter().flatten() {
        let drops: Vec<String> = t["drops"]
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, n)| number(n) > 0)
            .map(|(reason, n)| format!("{reason}={n}"))
            .collect();
        let field = |key: &str| number(&t[key]);
        let _ = writeln!(
            out,
            "{name:<12} {:>12} {:>14} {:>12} {:>14} {:>10}  {}",
            field("rx_packets"),
            field("rx_bytes"),
            field("tx_packets"),
            field("tx_bytes"),
            field("multicast"),
            if drops.is_empty() {
                "-".to_string()
            } else {
                drops.join(" ")
            }
        );
    }
    let tsc_hz = number(&stats["tsc_hz"]).max(1) as f64;
    if let Some(c) = stats.get("connections") {
        let _ = writeln!(
            out,
            "connections: {} open of {}, {} evicted",
            c["open"], c["capacity"], c["evicted"]
        );
    }
    if let Some(r) = stats.get("resolver") {
        let _ = writeln!(
            out,
            "resolver: {} requests, {} learned, {} frames released, {} dropped, {} told unreachable",
            r["requests"], r["learned"], r["released"], r["dropped"], r["unreachable"]
        );
    }
    for l in stats["lcores"].as_array().into_iter().flatten() {
        let (busy, idle, packets) = (
            number(&l["busy_cycles"]),
            number(&l["idle_cycles"]),
            number(&l["packets"]),
        );
        let all = (busy + idle).max(1) as f64;
        let _ = writeln!(
            out,
            "lcore {}: busy {:.1}% of {:.2} s, {:.1} cycles per packet",
            l["lcore"],
            100.0 * busy as f64 / all,
            (busy + idle) as f64 / tsc_hz,
            if packets == 0 {
                0.0
            } else {
                busy as f64 / packets as f64
            }
        );
    }
    out
}

/// `show ports`: one line per port.
pub fn ports_table(result: &Value) -> String {
    let mut out = format!(
        "{:<12} {:<6} {:<7} {:<5} {:<5} {:<6} {:>3} {:<8} backing\n",
        "port", "role", "kind", "state", "link", "guest", "rxq", "lcores"
    );
    for p in result["ports"].as_array().into_iter().flatten() {
        let up_down = |v: &Value| if v.as_bool() == Some(true) { "up" } else { "down" };
        let guest = match p["guest_queue_pairs"].as_u64() {
            None => "-".to_string(),
            Some(0) => "none".to_string(),
            Some(pairs) => format!("{pairs}qp"),
        };
        let lcores: Vec<String> = p["lcores"]
            .as_array()
            .into_iter()
            .flatten()
            .map(Value::to_string)
            .collect();
        let text = |key: &str| p[key].as_str().unwrap_or("").to_string();
        let _ = writeln!(
            out,
            "{:<12} {:<6} {:<7} {:<5} {:<5} {:<6} {:>3} {:<8} {}",
            text("name"),
            text("role"),
            text("kind"),
            up_down(&p["up"]),
            up_down(&p["link"]),
            guest,
            p["rx_queues"].as_u64().unwrap_or(0),
            lcores.join(","),
            text("backing")
        );
    }
    out
}

/// `show addresses`: one line per address.
pub fn addresses_table(result: &Value) -> String {
    let mut out = format!("{:<40} slave\n", "address");
    for a in result["addresses"].as_array().into_iter().flatten() {
        let _ = writeln!(
            out,
            "{:<40} {}",
            a["address"].as_str().unwrap_or(""),
            a["slave"].as_str().unwrap_or("")
        );
    }
    out
}

/// `show neighbours`: one line per neighbour.
pub fn neighbours_table(result: &Value) -> String {
    let mut out = format!("{:<40} {:<18} {:<11} waiting\n", "address", "mac", "state");
    for n in result["neighbours"].as_array().into_iter().flatten() {
        let text = |key: &str| n[key].as_str().unwrap_or("-").to_string();
        let _ = writeln!(
            out,
            "{:<40} {:<18} {:<11} {}",
            text("ip"),
            text("mac"),
            text("state"),
            n["waiting"]
        );
    }
    out
}

/// `show routes`: one line per route.
pub fn routes_table(result: &Value) -> String {
    let mut out = format!("{:<44} {:<40} kind\n", "to", "via");
    for r in result["routes"].as_array().into_iter().flatten() {
        let text = |key: &str| r[key].as_str().unwrap_or("-").to_string();
        let _ = writeln!(out, "{:<44} {:<40} {}", text("to"), text("via"), text("kind"));
    }
    out
}

/// `show filters`: one line per rule (each direction's default last), with its hits.
pub fn filters_table(result: &Value) -> String {
    let mut out = format!("{:<16} {:<8} {:>12}  rule\n", "slave", "way", "hits");
    for r in result["filters"].as_array().into_iter().flatten() {
        let text = |key: &str| r[key].as_str().unwrap_or("-").to_string();
        let hits = r["hits"].as_u64().unwrap_or(0);
        let _ = writeln!(
            out,
            "{:<16} {:<8} {hits:>12}  {}",
            text("slave"),
            text("direction"),
            text("rule")
        );
    }
    out
}

/// What a change did: `added: x; removed: -; changed: a`.
pub fn applied(result: &Value) -> String {
    let list = |key: &str| {
        let names: Vec<&str> = result["applied"][key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if names.is_empty() {
            "-".to_string()
        } else {
            names.join(",")
        }
    };
    format!(
        "added: {}; removed: {}; changed: {}\n",
        list("added"),
        list("removed"),
        list("changed")
    )
}
