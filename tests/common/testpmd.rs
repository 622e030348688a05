//! `dpdk-testpmd` as a virtio-user guest on a vhost-user socket: its one `net_virtio_user`
//! port sends every frame back (loop topology) as it came (`io`) or with its MACs, IPs and
//! ports swapped (`5tswap`), on CPU 0 with its own file prefix. (Also used by dpdk-wrap's
//! vhost test.)

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running testpmd guest; killed on drop.
pub struct Guest {
    child: Child,
    /// Told when testpmd forwards.
    forwarding: std::sync::mpsc::Receiver<()>,
}

impl Guest {
    /// Starts testpmd on `socket` and waits until it forwards (see `wait_forwarding`).
    pub fn start(socket: &str, server: bool, queues: u16, mode: &str, name: &str) -> Guest {
        let guest = Guest::spawn(socket, server, queues, mode, name);
        guest.wait_forwarding();
        guest
    }

    /// Starts testpmd on `socket` (`server`: testpmd listens, the switch connects) with
    /// `queues` queue pairs, in forwarding mode `mode`.
    pub fn spawn(socket: &str, server: bool, queues: u16, mode: &str, name: &str) -> Guest {
        let server = if server { ",server=1" } else { "" };
        // Line-buffered, so that its "Press enter to exit" reaches us through the pipe.
        let mut child = Command::new("stdbuf")
            .args([
                "-oL",
                "dpdk-testpmd",
                "--lcores",
                "0@0,1@0",
                "--no-pci",
                "--in-memory",
            ])
            .args([
                "--single-file-segments",
                "--file-prefix",
                &format!("{name}-{}", std::process::id()),
            ])
            .args([
                "--vdev",
                &format!("net_virtio_user0,path={socket},queues={queues}{server}"),
            ])
            .args([
                "--log-level",
                "*:warning",
                "--",
                &format!("--forward-mode={mode}"),
                "--port-topology=loop",
            ])
            .args([
                "--nb-cores=1",
                "--total-num-mbufs=4096",
                &format!("--rxq={queues}"),
                &format!("--txq={queues}"),
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("dpdk-testpmd (package dpdk)");
        let (forwarding, _) = watch_stdout(&mut child, |line| line.contains("Press enter to exit"));
        Guest { child, forwarding }
    }

    /// Waits until testpmd forwards: before that it may still reset its queues, and the
    /// frames in them.
    pub fn wait_forwarding(&self) {
        let started = self.forwarding.recv_timeout(Duration::from_secs(30));
        assert!(started.is_ok(), "testpmd never started forwarding");
    }

    /// Sends the testpmd process a signal (e.g. STOP to freeze the guest, CONT to resume it).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal}");
    }

    /// Kills the guest, as a crash would.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a child's piped stdout on a thread of its own (so a full pipe never blocks the child):
/// the receiver is told at each line `ready` accepts, the thread returns every line once the
/// pipe closes. (Here because this file is the one dpdk-wrap's tests share too.)
pub fn watch_stdout(
    child: &mut Child,
    ready: fn(&str) -> bool,
) -> (std::sync::mpsc::Receiver<()>, std::thread::JoinHandle<String>) {
    let pipe = child.stdout.take().expect("a piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    let lines = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(pipe).lines().map_while(Result::ok) {
            if ready(&line) {
                let _ = tx.send(());
            }
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    (rx, lines)
}

impl Drop for Guest {
    fn drop(&mut self) {
        self.stop();
    }
}
