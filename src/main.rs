//! ipvlan-switch: wiring only. Parse the command line and configuration, start DPDK and the
//! switch, wait for SIGINT/SIGTERM, stop, report counters.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use conf::Cli;
use dpdk_wrap::Eal;
use switch::counters::{LcoreTotals, PortTotals};
use switch::Switch;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match cli.resolve() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ipvlan-switch: {e}");
            return ExitCode::from(2);
        }
    };
    if cli.check_config.is_some() {
        print!("{}", config.to_toml());
        return ExitCode::SUCCESS;
    }
    let level = config.log_level.as_deref().unwrap_or("info");
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(std::io::stderr)
        .init();
    match run(&config, cli.stats_period.map(Duration::from_secs)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipvlan-switch: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(config: &conf::Config, stats_period: Option<Duration>) -> Result<(), Box<dyn std::error::Error>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    let eal = Eal::init(&config.eal_args)?;
    let mut switch = Switch::start(&eal, config)?;
    // On stdout, once every port is started: the line a supervisor (or a test) waits for.
    let lcores: Vec<String> = switch.lcore_stats().iter().map(|l| l.lcore.to_string()).collect();
    println!(
        "ipvlan-switch: forwarding, mode {}, {} slaves, lcores {}; stop with Ctrl-C (SIGINT) or SIGTERM",
        format!("{:?} {:?}", config.mode, config.flags).to_lowercase(),
        config.slaves.len(),
        lcores.join(",")
    );
    let snapshot = |switch: &Switch| (Instant::now(), switch.stats(), switch.lcore_stats());
    let mut last = snapshot(&switch);
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        if stats_period.is_some_and(|p| last.0.elapsed() >= p) {
            let now = snapshot(&switch);
            print_rates(&last, &now);
            last = now;
        }
    }
    switch.stop()?;
    let (stats, lcores) = (switch.stats(), switch.lcore_stats());
    print_table(&stats);
    for lcore in &lcores {
        println!("{}", lcore_line(lcore, switch.tsc_hz()));
    }
    if let Some(path) = &config.stats_out {
        let json = serde_json::json!({ "ports": stats, "lcores": lcores, "tsc_hz": switch.tsc_hz() });
        std::fs::write(path, serde_json::to_string_pretty(&json)? + "\n")
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    let leaked = switch.shutdown()?;
    if leaked != 0 {
        tracing::warn!(leaked, "mbufs still out of the pool after all ports closed");
    }
    Ok(())
}

type Snapshot = (Instant, BTreeMap<String, PortTotals>, Vec<LcoreTotals>);

/// Where one lcore's cycles went, e.g. `lcore 1: busy 93.1% of 3.00 s, 48.2 cycles per packet`.
fn lcore_line(l: &LcoreTotals, tsc_hz: u64) -> String {
    let seconds = (l.busy_cycles + l.idle_cycles) as f64 / tsc_hz.max(1) as f64;
    format!(
        "lcore {}: busy {:.1}% of {seconds:.2} s, {:.1} cycles per packet",
        l.lcore,
        l.busy_percent(),
        l.cycles_per_packet()
    )
}

/// One line of per-port rates between two snapshots, e.g. `rates: phy rx 12.345 Mpps tx 0.000
/// Mpps, ...`, then each lcore's busy share and cycles per packet in that time.
fn print_rates((t0, before, lcores_before): &Snapshot, (t1, after, lcores_after): &Snapshot) {
    let seconds = t1.duration_since(*t0).as_secs_f64();
    let rate = |a: u64, b: u64| (b - a) as f64 / seconds / 1e6;
    let ports: Vec<String> = after
        .iter()
        .map(|(name, now)| {
            let then = &before[name];
            format!(
                "{name} rx {:.3} Mpps tx {:.3} Mpps",
                rate(then.rx_packets, now.rx_packets),
                rate(then.tx_packets, now.tx_packets)
            )
        })
        .collect();
    let lcores: Vec<String> = lcores_after
        .iter()
        .zip(lcores_before)
        .map(|(now, then)| {
            let period = now.since(then);
            format!(
                "lcore {} busy {:.1}% {:.1} cycles/packet",
                now.lcore,
                period.busy_percent(),
                period.cycles_per_packet()
            )
        })
        .collect();
    println!("rates: {}; {}", ports.join(", "), lcores.join(", "));
}

fn print_table(stats: &BTreeMap<String, PortTotals>) {
    println!(
        "{:<12} {:>12} {:>14} {:>12} {:>14} {:>10}  drops",
        "port", "rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "multicast"
    );
    for (name, t) in stats {
        let drops: Vec<String> = t
            .drops
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| format!("{r}={n}"))
            .collect();
        println!(
            "{:<12} {:>12} {:>14} {:>12} {:>14} {:>10}  {}",
            name,
            t.rx_packets,
            t.rx_bytes,
            t.tx_packets,
            t.tx_bytes,
            t.multicast,
            if drops.is_empty() {
                "-".to_string()
            } else {
                drops.join(" ")
            }
        );
    }
}
