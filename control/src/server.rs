//! The switch's side of the control socket: owner-only (or one group's), peers checked by
//! their credentials, requests read without blocking the switch's main loop. A malformed or
//! oversized request gets an error answer and never stops the switch.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use nix::unistd::{geteuid, getgrouplist, Gid, Group, Uid, User};
use serde_json::Value;

use crate::protocol::{refusal, Request, MAX_REQUEST};

/// How long an answer may wait for a client that does not read it.
const WRITE_TIMEOUT: Duration = Duration::from_secs(2);

pub struct ControlServer {
    listener: UnixListener,
    path: PathBuf,
    /// Members of this group may use the socket too.
    group: Option<Gid>,
    clients: Vec<Client>,
}

/// A connected client and what it sent that is not a whole line yet.
struct Client {
    stream: UnixStream,
    pending: Vec<u8>,
}

impl ControlServer {
    /// Listens on `path` (its directory made if needed), for its owner and root, and the
    /// members of `group` if given. A socket another process still listens on is refused: a
    /// second switch must not take the first one's socket.
    pub fn bind(path: &Path, group: Option<&str>) -> Result<ControlServer, String> {
        let at = path.display();
        let group = group
            .map(|name| match Group::from_name(name) {
                Ok(Some(group)) => Ok(group.gid),
                Ok(None) => Err(format!("control group \"{name}\" does not exist")),
                Err(e) => Err(format!("looking up control group \"{name}\": {e}")),
            })
            .transpose()?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        }
        match UnixStream::connect(path) {
            Ok(_) => {
                return Err(format!(
                    "another ipvlan-switch listens on {at}: stop it first, or give this one another \
                     [control] socket (or EAL --file-prefix)"
                ))
            }
            Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                // Left by a switch that is gone.
                std::fs::remove_file(path).map_err(|e| format!("removing the stale {at}: {e}"))?;
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(format!("{at}: {e}")),
        }
        let listener = UnixListener::bind(path).map_err(|e| format!("listening on {at}: {e}"))?;
        let mode = if group.is_some() { 0o660 } else { 0o600 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| format!("setting the mode of {at}: {e}"))?;
        if let Some(gid) = group {
            std::os::unix::fs::chown(path, None, Some(gid.as_raw()))
                .map_err(|e| format!("giving {at} to its group: {e}"))?;
        }
        listener.set_nonblocking(true).map_err(|e| format!("{at}: {e}"))?;
        Ok(ControlServer {
            listener,
            path: path.to_path_buf(),
            group,
            clients: Vec::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes new connections, reads what the clients sent, and answers each whole request
    /// line with `handle`'s answer. Never blocks on a client that sends nothing.
    pub fn serve(&mut self, mut handle: impl FnMut(Request) -> Value) {
        while let Ok((stream, _)) = self.listener.accept() {
            match self.admits(&stream) {
                Ok(()) if stream.set_nonblocking(true).is_ok() => self.clients.push(Client {
                    stream,
                    pending: Vec::new(),
                }),
                Ok(()) => {}
                Err(who) => {
                    tracing::warn!("control connection refused: {who}");
                    let mut stream = stream;
                    let _ = reply(&mut stream, &refusal(format!("{who} may not use this switch")));
                }
            }
        }
        self.clients.retain_mut(|client| client.serve(&mut handle));
    }

    /// Root, the switch's own user, and (if configured) the control group's members.
    fn admits(&self, stream: &UnixStream) -> Result<(), String> {
        let peer = getsockopt(stream, PeerCredentials)
            .map_err(|e| format!("a peer of unknown credentials ({e})"))?;
        let uid = Uid::from_raw(peer.uid());
        if uid.is_root() || uid == geteuid() {
            return Ok(());
        }
        let member = self.group.is_some_and(|group| {
            let primary = Gid::from_raw(peer.gid());
            primary == group || supplementary_groups(uid, primary).contains(&group)
        });
        match member {
            true => Ok(()),
            false => Err(format!("uid {uid} (pid {})", peer.pid())),
        }
    }
}

impl Drop for ControlServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn supplementary_groups(uid: Uid, primary: Gid) -> Vec<Gid> {
    let user = User::from_uid(uid).ok().flatten();
    let name = user.and_then(|u| std::ffi::CString::new(u.name).ok());
    name.and_then(|n| getgrouplist(&n, primary).ok())
        .unwrap_or_default()
}

impl Client {
    /// Reads what arrived and answers every whole line; `false`: the connection is done.
    fn serve(&mut self, handle: &mut impl FnMut(Request) -> Value) -> bool {
        let mut chunk = [0u8; 4096];
        let open = loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => break false,
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break true,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => return false,
            }
            if self.pending.len() > MAX_REQUEST && !self.pending.contains(&b'\n') {
                let error = refusal(format!("a request is one line of at most {MAX_REQUEST} bytes"));
                let _ = reply(&mut self.stream, &error);
                return false;
            }
        };
        while let Some(end) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            if !self.answer(&line[..end], handle) {
                return false;
            }
        }
        // A last request without its newline, at the end of the connection.
        if !open && !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.answer(&line, handle);
        }
        open
    }

    fn answer(&mut self, line: &[u8], handle: &mut impl FnMut(Request) -> Value) -> bool {
        if line.iter().all(u8::is_ascii_whitespace) {
            return true;
        }
        let answer = match serde_json::from_slice::<Request>(line) {
            Ok(request) => handle(request),
            Err(e) => refusal(format!("not a request: {e}")),
        };
        reply(&mut self.stream, &answer).is_ok()
    }
}

/// Writes one answer line, waiting a little for a slow reader.
fn reply(stream: &mut UnixStream, answer: &Value) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_write_timeout(Some(WRITE_TIMEOUT))?;
    let mut line = answer.to_string();
    line.push('\n');
    let written = stream.write_all(line.as_bytes());
    stream.set_nonblocking(true)?;
    written
}
