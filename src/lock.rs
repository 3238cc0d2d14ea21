//! The run lock: an exclusive flock on `<state dir>/lock`, so two runs (the timer and the path
//! unit, or a person) never interleave their read–mint–swap.

use rustix::fs::{FlockOperation, flock};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "cannot open the lock file {path}: {source}; check that the state directory is writable"
    )]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "another vault-token-renew run has held {path} for {waited:?}; wait for it to finish, or find it with `fuser {path}`"
    )]
    Busy { path: PathBuf, waited: Duration },
}

/// Held for as long as it lives; the kernel releases the flock when the process dies, even by kill -9.
pub struct RunLock {
    _file: File,
}

pub fn acquire(state_dir: &Path, wait: Duration) -> Result<RunLock, LockError> {
    let path = state_dir.join("lock");
    let open_err = |source| LockError::Open {
        path: path.clone(),
        source,
    };
    crate::state::create_private_dir(state_dir).map_err(open_err)?;
    // Non-blocking open, regular files only: a FIFO planted here must not hang every run.
    let file = crate::localfile::open_regular(
        &path,
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600),
    )
    .map_err(open_err)?;
    let started = Instant::now();
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(RunLock { _file: file }),
            Err(rustix::io::Errno::WOULDBLOCK) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(open_err(e.into())),
        }
        if started.elapsed() >= wait {
            return Err(LockError::Busy {
                path,
                waited: started.elapsed(),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_waits_then_gives_up() {
        let dir = tempfile::tempdir().unwrap();
        let held = acquire(dir.path(), Duration::from_secs(1)).unwrap();
        let err = acquire(dir.path(), Duration::from_millis(100))
            .err()
            .unwrap();
        assert!(matches!(err, LockError::Busy { .. }));
        drop(held);
        acquire(dir.path(), Duration::from_millis(100)).unwrap();
    }
}
