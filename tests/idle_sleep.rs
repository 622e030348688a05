//! Idle back-off: a forwarding lcore whose polls come back empty sleeps (up to
//! `idle_sleep_max_us`) instead of spinning, and still forwards the first frame that comes.
//! Without the setting it spins: the same measurement shows a busy core (bounds with room for
//! a CPU shared with other tests: alone, a spinning lcore measures 90-100%, a sleeping one 1-2%).

mod common;

use std::time::{Duration, Instant};

use common::*;

/// The CPU time (user + system, in clock ticks of 10 ms) of this process's forwarding lcore
/// thread (DPDK names it `rte-worker-<lcore>`).
fn lcore_cpu_ticks() -> u64 {
    for task in std::fs::read_dir("/proc/self/task").unwrap() {
        let task = task.unwrap().path();
        let comm = std::fs::read_to_string(task.join("comm")).unwrap_or_default();
        if comm.trim() == "rte-worker-1" {
            let stat = std::fs::read_to_string(task.join("stat")).unwrap();
            // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
            let fields: Vec<&str> = stat.rsplit_once(')').unwrap().1.split_whitespace().collect();
            return fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        }
    }
    panic!("no rte-worker-1 thread");
}

/// The forwarding lcore's share of one CPU over 1.5 s with no traffic, then checks that a frame
/// still goes through.
fn idle_cpu_share(test: &str, setting: &str) -> f64 {
    let (_eal, sw) = start(test, &format!("{setting}\nmode = \"l2\"\n{THREE_SLAVES}"));
    // Every queue turns idle after its first empty polls.
    std::thread::sleep(Duration::from_millis(200));
    let (t0, cpu0) = (Instant::now(), lcore_cpu_ticks());
    std::thread::sleep(Duration::from_millis(1500));
    let share = (lcore_cpu_ticks() - cpu0) as f64 / 100.0 / t0.elapsed().as_secs_f64();
    let to_a = udp4(MASTER, OUTSIDE, [10, 0, 0, 1], [10, 0, 0, 11], b"after a rest");
    inject(&sw, "phy", std::slice::from_ref(&to_a));
    assert_eq!(take(&sw, "a"), vec![to_a]);
    let stats = finish(sw);
    assert_eq!(stats["a"].tx_packets, 1);
    eprintln!("{test}: the idle lcore used {:.1}% of a CPU", share * 100.0);
    share
}

#[test]
fn an_idle_lcore_sleeps_up_to_the_bound_and_still_forwards() {
    let share = idle_cpu_share("idle_sleep", "idle_sleep_max_us = 1000");
    assert!(share < 0.15, "the idle lcore used {:.0}% of a CPU", share * 100.0);
}

#[test]
fn without_the_setting_an_idle_lcore_spins() {
    let share = idle_cpu_share("idle_spin", "");
    assert!(
        share > 0.3,
        "the spinning lcore used only {:.0}% of a CPU",
        share * 100.0
    );
}
