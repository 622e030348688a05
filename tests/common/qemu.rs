//! Real QEMU guests on vhost-user sockets: a Debian cloud kernel and a busybox initramfs built
//! by `tests/guest/make-guest.sh` (packages downloaded with apt, cached), booted under TCG
//! (this host's /dev/kvm cannot run stock kernels). The guest configures eth0, pings a peer
//! and/or runs a command, and prints `GUEST-RESULT: ok|fail ...` on its console.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Where the guest's kernel and initramfs are built, once per machine.
const GUEST_DIR: &str = "/var/tmp/ipvsw-guest";

/// Builds the guest if needed (idempotent, cached) and returns its directory.
fn guest_dir() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guest/make-guest.sh");
        super::output_ok(Command::new(&script).arg(GUEST_DIR), "make-guest.sh");
        PathBuf::from(GUEST_DIR)
    })
}

/// What a guest does.
pub struct GuestPlan<'a> {
    /// The vhost-user socket: the switch listens on it (QEMU connects), or QEMU does (`listen`).
    pub socket: &'a Path,
    pub listen: bool,
    pub mac: &'a str,
    /// eth0's address, e.g. "10.0.0.2/24".
    pub ip: &'a str,
    /// Pings this address (after it answers ARP) three times.
    pub peer: Option<&'a str>,
    /// Then runs this busybox shell command; non-zero exit is a failure.
    pub cmd: Option<&'a str>,
    /// Stays up this long after its result.
    pub linger_s: u32,
    /// IPv6 on (the guest then has a link-local address and sends ND of its own).
    pub ipv6: bool,
}

/// A booted guest; killed on drop.
pub struct Qemu {
    child: Child,
    console: PathBuf,
    /// QEMU's monitor (QMP) socket.
    qmp: PathBuf,
}

impl Qemu {
    pub fn boot(plan: &GuestPlan, console: PathBuf) -> Qemu {
        Qemu::launch(plan, console, &[])
    }

    /// A QEMU that waits for `plan`'s guest to be migrated to it over the Unix socket `from`
    /// (it attaches to the vhost socket at once, its device starts once the guest arrives);
    /// returns once that socket listens. (`-incoming unix:` at launch made the socket file
    /// before it listened: a migration started in between was refused.)
    pub fn incoming(plan: &GuestPlan, console: PathBuf, from: &Path) -> Qemu {
        let qemu = Qemu::launch(plan, console, &["-incoming".into(), "defer".into()]);
        super::wait_until(
            || UnixStream::connect(&qemu.qmp).is_ok(),
            || "no QMP socket from the destination QEMU".into(),
        );
        // QMP answers once the listener is set up.
        qemu.qmp(&format!(
            r#"{{"execute": "migrate-incoming", "arguments": {{"uri": "unix:{}"}}}}"#,
            from.display()
        ));
        qemu
    }

    fn launch(plan: &GuestPlan, console: PathBuf, extra: &[String]) -> Qemu {
        let dir = guest_dir();
        let mut append = format!(
            "console=ttyS0 panic=-1 quiet guest_count=3 guest_linger={} guest_timeout=100 guest_ip={}",
            plan.linger_s, plan.ip
        );
        if !plan.ipv6 {
            append += " ipv6.disable=1";
        }
        if let Some(peer) = plan.peer {
            append += &format!(" guest_peer={peer}");
        }
        if let Some(cmd) = plan.cmd {
            append += &format!(" guest_cmd={}", base64(cmd.as_bytes()));
        }
        let _ = std::fs::remove_file(&console);
        let qmp = console.with_extension("qmp");
        let listen = if plan.listen { ",server=on,wait=off" } else { "" };
        let stderr = std::fs::File::create(console.with_extension("err")).expect("QEMU's stderr file");
        let child = Command::new("qemu-system-x86_64")
            .args(["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"])
            .args(["-accel", "tcg", "-cpu", "max", "-smp", "1", "-m", "256M"])
            // Guest memory must be shared with the vhost backend.
            .args(["-object", "memory-backend-memfd,id=mem,size=256M,share=on"])
            .args(["-machine", "pc,memory-backend=mem"])
            .arg("-kernel")
            .arg(dir.join("vmlinuz"))
            .arg("-initrd")
            .arg(dir.join("initrd.img"))
            .args(["-append", &append])
            .arg("-serial")
            .arg(format!("file:{}", console.display()))
            .arg("-chardev")
            .arg(format!("socket,id=c0,path={}{listen}", plan.socket.display()))
            .args(["-netdev", "vhost-user,id=n0,chardev=c0"])
            // vectors=0: QEMU 7.2 with TCG, vhost-user and MSI-X crashes.
            .args([
                "-device",
                &format!("virtio-net-pci,netdev=n0,mac={},romfile=,vectors=0", plan.mac),
            ])
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", qmp.display()))
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("qemu-system-x86_64 (package qemu-system-x86)");
        Qemu { child, console, qmp }
    }

    /// Sends one QMP command (JSON) to QEMU's monitor; returns its answer line, panicking on
    /// an error answer.
    pub fn qmp(&self, request: &str) -> String {
        let mut monitor = UnixStream::connect(&self.qmp).expect("QEMU's QMP socket");
        let mut lines = BufReader::new(monitor.try_clone().unwrap()).lines();
        let mut ask = |request: &str| {
            writeln!(monitor, "{request}").unwrap();
            // Skip the greeting and events up to the answer.
            loop {
                let line = lines.next().expect("QMP closed").unwrap();
                if line.contains("\"return\"") || line.contains("\"error\"") {
                    assert!(line.contains("\"return\""), "QMP {request}: {line}");
                    return line;
                }
            }
        };
        ask(r#"{"execute": "qmp_capabilities"}"#);
        ask(request)
    }

    /// Has QEMU announce the guest as after a live migration (QMP `announce-self`, `rounds`
    /// times): without GUEST_ANNOUNCE it asks the vhost backend to send a RARP for the guest.
    pub fn announce(&self, rounds: u32) {
        self.qmp(&format!(
            r#"{{"execute": "announce-self", "arguments": {{"initial": 50, "max": 550, "rounds": {rounds}, "step": 100}}}}"#
        ));
    }

    /// Live-migrates the running guest to the QEMU waiting on the Unix socket `to` (see
    /// `incoming`); returns once the migration completed, panics if it fails or takes a minute.
    pub fn migrate(&self, to: &Path) {
        self.qmp(&format!(
            r#"{{"execute": "migrate", "arguments": {{"uri": "unix:{}"}}}}"#,
            to.display()
        ));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let status = self.qmp(r#"{"execute": "query-migrate"}"#);
            if status.contains("\"completed\"") {
                return;
            }
            assert!(
                !status.contains("\"failed\"") && Instant::now() < deadline,
                "migration: {status}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the console shows `text` at least `count` times; panics after `timeout`.
    pub fn wait_for(&mut self, text: &str, count: usize, timeout: Duration) {
        let what = format!("{text} seen {count} times");
        self.wait_until(&what, timeout, |console| console.matches(text).count() >= count);
    }

    /// Returns the console once `done` holds for it; panics if QEMU exits or after `timeout`.
    fn wait_until(&mut self, what: &str, timeout: Duration, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let console = self.console();
            if done(&console) {
                return console;
            }
            let exited = self.child.try_wait().unwrap();
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "waiting for {what} ({exited:?}); console:\n{console}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The guest's console so far, then what QEMU printed.
    pub fn console(&self) -> String {
        let read =
            |path: &Path| String::from_utf8_lossy(&std::fs::read(path).unwrap_or_default()).into_owned();
        format!(
            "{}\n--- qemu stderr:\n{}",
            read(&self.console),
            read(&self.console.with_extension("err"))
        )
    }

    /// Waits for the guest's result line; panics on a failure or after `timeout`.
    pub fn expect_ok(&mut self, what: &str, timeout: Duration) {
        let result = |console: &str| console.lines().any(|l| l.starts_with("GUEST-RESULT: "));
        let console = self.wait_until(&format!("{what}'s result"), timeout, result);
        let line = console.lines().find(|l| l.starts_with("GUEST-RESULT: ")).unwrap();
        assert!(line.starts_with("GUEST-RESULT: ok"), "{what}: {line}\n{console}");
    }

    /// Kills the guest, as a crash would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Standard base64 (the guest's kernel command line carries the command so).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
