//! One switch per EAL file prefix: a second one (whose DPDK would share, or with
//! `--in-memory` silently duplicate, the first one's runtime files and devices) is refused at
//! once, naming the process that holds the prefix.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Held while the switch runs; the lock goes with the process, however it ends.
pub struct InstanceLock {
    _lock: Flock<File>,
    path: PathBuf,
}

impl InstanceLock {
    /// Takes `DIR/<prefix>.lock`, or says which process has it.
    pub fn take(dir: &Path, prefix: &str) -> Result<InstanceLock, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let path = dir.join(format!("{prefix}.lock"));
        let at = path.display();
        let file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| format!("opening {at}: {e}"))?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(lock) => lock,
            Err((mut file, _)) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim();
                let pid = if holder.is_empty() {
                    String::new()
                } else {
                    format!(" (pid {holder})")
                };
                return Err(format!(
                    "another ipvlan-switch{pid} runs with EAL file prefix \"{prefix}\" ({at} is locked): \
                     stop it first, or give this one another --file-prefix"
                ));
            }
        };
        let written = lock
            .set_len(0)
            .and_then(|()| lock.rewind())
            .and_then(|()| writeln!(lock, "{}", std::process::id()));
        written.map_err(|e| format!("writing {at}: {e}"))?;
        Ok(InstanceLock { _lock: lock, path })
    }
}

impl Drop for InstanceLock {
    fn drop(&mut self) {
        // Removed while still locked: a switch starting now either opened the old file (and
        // will take that lock once this one is released) or creates a new one.
        let _ = std::fs::remove_file(&self.path);
    }
}
