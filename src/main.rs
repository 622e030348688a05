//! ipvlan-switch: wiring only. Parse the command line and configuration, start DPDK and the
//! switch, serve the control socket until SIGINT/SIGTERM (SIGHUP: reload), stop, report
//! counters; or, as `ctl`, be the control socket's client.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use conf::{Cli, Command};
use control::handler::Handler;
use control::instance::InstanceLock;
use control::render::{ports_table, stats_json, stats_table};
use control::server::ControlServer;
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
    if let Some(Command::Ctl(args)) = &cli.command {
        let socket = args.socket.clone().unwrap_or_else(|| config.control_socket());
        return match control::client::run(args, &socket) {
            Ok(out) => {
                print!("{out}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("ipvlan-switch ctl: {e}");
                ExitCode::FAILURE
            }
        };
    }
    if cli.check_config.is_some() {
        print!("{}", config.to_toml());
        return ExitCode::SUCCESS;
    }
    let level = config.log_level.as_deref().unwrap_or("info");
    let logs = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(std::io::stderr);
    match cli.log_format.as_str() {
        "json" => logs.json().init(),
        _ => logs.init(),
    }
    match run(&cli, &config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ipvlan-switch: {e}");
            ExitCode::FAILURE
        }
    }
}

/// How often the main loop serves the control socket and looks at the signals.
const CONTROL_PERIOD: Duration = Duration::from_millis(10);

fn run(cli: &Cli, config: &conf::Config) -> Result<(), Box<dyn std::error::Error>> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    let reload = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, reload.clone())?;
    // Before DPDK: a second switch with the same file prefix or socket is told so here.
    let _instance = InstanceLock::take(Path::new(conf::CONTROL_DIR), config.file_prefix())?;
    let mut server = ControlServer::bind(&config.control_socket(), config.control.group.as_deref())?;
    let eal = Eal::init(&config.eal_args)?;
    // dpdk-dumpcap is a secondary process: it can attach only to memory other processes map.
    if config.eal_args.iter().any(|a| a == "--in-memory") {
        tracing::info!(
            "packet capture off: dpdk-dumpcap needs a switch whose EAL arguments have no --in-memory"
        );
    } else {
        eal.enable_capture()?;
        tracing::info!(
            "packet capture on: dpdk-dumpcap --file-prefix={} -i <device port, or net_null_capture after ctl capture start>",
            config.file_prefix()
        );
    }
    let mut switch = Switch::start(&eal, config)?;
    let mut handler = Handler::new(&eal, Box::new(|| cli.resolve()));
    let telemetry = control::telemetry::register(&eal)?;
    print_summary(config, &switch);
    print_guest_options(config, &switch.master_mac());
    // On stdout, once every port is started: the line a supervisor (or a test) waits for.
    let lcores: Vec<String> = switch.lcore_stats().iter().map(|l| l.lcore.to_string()).collect();
    println!(
        "ipvlan-switch: forwarding, mode {}, {} slaves, lcores {}; control socket {}; stop with Ctrl-C (SIGINT) or SIGTERM",
        format!("{:?} {:?}", config.mode, config.flags).to_lowercase(),
        config.slaves.len(),
        lcores.join(","),
        server.path().display()
    );
    let stats_period = cli.stats_period.map(Duration::from_secs);
    let snapshot = |switch: &Switch| (Instant::now(), switch.stats(), switch.lcore_stats());
    let mut last = snapshot(&switch);
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(CONTROL_PERIOD);
        server.serve(|request| handler.handle(&mut switch, request));
        while let Ok((request, reply)) = telemetry.try_recv() {
            let _ = reply.send(handler.handle(&mut switch, request));
        }
        if reload.swap(false, Ordering::Relaxed) {
            match handler.reload(&mut switch) {
                Ok(applied) => tracing::info!("SIGHUP: configuration reloaded: {}", applied["applied"]),
                Err(e) => tracing::error!("SIGHUP: configuration not reloaded: {e}"),
            }
        }
        if stats_period.is_some_and(|p| last.0.elapsed() >= p) {
            let now = snapshot(&switch);
            print_rates(&last, &now);
            last = now;
        }
    }
    switch.stop()?;
    let stats = stats_json(&switch.stats(), &switch.lcore_stats(), switch.tsc_hz());
    print!("{}", stats_table(&stats));
    if let Some(path) = &config.stats_out {
        std::fs::write(path, serde_json::to_string_pretty(&stats)? + "\n")
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    let leaked = switch.shutdown()?;
    if leaked != 0 {
        tracing::warn!(leaked, "mbufs still out of the pool after all ports closed");
    }
    Ok(())
}

/// Ports listed at start (a thousand would drown the rest).
const PORTS_SHOWN: usize = 16;

/// What runs: mode, lcores, memory, and the ports.
fn print_summary(config: &conf::Config, switch: &Switch) {
    let lcores: Vec<String> = switch.lcore_stats().iter().map(|l| l.lcore.to_string()).collect();
    let hugepages = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find_map(|l| l.strip_prefix("HugetlbPages:"))?;
            line.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
        });
    let memory = hugepages.map_or(String::new(), |kib| {
        format!(", {} MiB of hugepages mapped", kib >> 10)
    });
    println!(
        "ipvlan-switch: mode {}, forwarding lcores {}, pool {} mbufs{memory}, room for {} slaves",
        format!("{:?} {:?}", config.mode, config.flags).to_lowercase(),
        lcores.join(","),
        switch.pool().capacity(),
        config.max_slaves
    );
    let reports = switch.port_reports();
    let shown: Vec<_> = reports.iter().take(PORTS_SHOWN).collect();
    print!("{}", ports_table(&serde_json::json!({ "ports": shown })));
    if reports.len() > PORTS_SHOWN {
        println!(
            "... and {} more ports (`ipvlan-switch ctl show ports`)",
            reports.len() - PORTS_SHOWN
        );
    }
}

/// Vhost slaves whose QEMU options are printed at start (a thousand would drown the rest).
const GUEST_OPTIONS_SHOWN: usize = 16;

/// For each vhost slave, the QEMU options that attach a guest to it.
fn print_guest_options(config: &conf::Config, master_mac: &[u8; 6]) {
    let vhost = config.slaves.iter().filter_map(|s| match &s.port.backing {
        conf::Backing::Vhost(vhost) => Some((&s.name, vhost)),
        _ => None,
    });
    for (shown, (name, vhost)) in vhost.enumerate() {
        if shown == GUEST_OPTIONS_SHOWN {
            println!("ipvlan-switch: (more vhost slaves: `ipvlan-switch ctl show ports` lists them)");
            break;
        }
        let mac = vhost.guest_mac.unwrap_or(*master_mac);
        println!(
            "ipvlan-switch: slave {name}: attach a guest with qemu-system-x86_64 ... {}",
            vhost.qemu_options(name, &mac)
        );
    }
}

type Snapshot = (Instant, BTreeMap<String, PortTotals>, Vec<LcoreTotals>);

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
