//! One apply at a time per manifest directory on a machine, and what an apply tidies first.
//!
//! Two applies of one manifest racing each other would each rotate, and the second delivery would
//! overwrite the first one's value in a shared sink. An exclusive advisory lock (`flock`) on each
//! manifest directory, held for the whole apply, serializes them: the second waits a bounded time
//! for the first to finish, then plans afresh and finds nothing left to do. Two CI runners do not
//! share a disk, so this lock cannot cover them; `engine::secrets` re-reads a sink just before
//! delivering for that. The lock locks the directory itself: nothing is created in it.
//!
//! Holding the lock is also what makes removing stale temporary secret files safe: no other apply
//! of this directory is writing one.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::files;
use crate::model::{DesiredState, SecretSink};

/// How long a second apply waits for the first to release the lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another apply holds the lock on {0} (waited {1} seconds); let it finish, then run apply again"
    )]
    Held(PathBuf, u64),
    #[error("cannot lock {0}: {1}")]
    Io(PathBuf, std::io::Error),
}

/// The locks of an apply, released when dropped (or when the process ends, however it ends).
#[derive(Debug)]
pub struct ApplyLock {
    _held: Vec<std::fs::File>,
}

/// Locks every directory of `manifests` (in a fixed order, so two applies over overlapping
/// directories cannot deadlock), waiting up to `wait` for each; `waiting` is called once when the
/// first attempt finds a lock held.
pub fn lock_directories(
    manifests: &[PathBuf],
    wait: Duration,
    waiting: &mut dyn FnMut(&Path),
) -> Result<ApplyLock, LockError> {
    let mut dirs: Vec<PathBuf> = manifests
        .iter()
        .map(|m| {
            let dir = if m.is_dir() {
                m.as_path()
            } else {
                m.parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."))
            };
            std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf())
        })
        .collect();
    dirs.sort();
    dirs.dedup();
    let deadline = Instant::now() + wait;
    let mut held = Vec::new();
    let mut told = false;
    for dir in dirs {
        held.extend(lock_one(&dir, deadline, wait, &mut || {
            if !told {
                told = true;
                waiting(&dir);
            }
        })?);
    }
    Ok(ApplyLock { _held: held })
}

#[cfg(unix)]
fn lock_one(
    dir: &Path,
    deadline: Instant,
    wait: Duration,
    waiting: &mut dyn FnMut(),
) -> Result<Option<std::fs::File>, LockError> {
    let handle = std::fs::File::open(dir).map_err(|e| LockError::Io(dir.to_path_buf(), e))?;
    loop {
        match handle.try_lock() {
            Ok(()) => return Ok(Some(handle)),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                waiting();
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(LockError::Held(dir.to_path_buf(), wait.as_secs()));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(LockError::Io(dir.to_path_buf(), e));
            }
        }
    }
}

/// A directory cannot be opened as a file to lock elsewhere; there the sink check alone guards.
#[cfg(not(unix))]
fn lock_one(
    _dir: &Path,
    _deadline: Instant,
    _wait: Duration,
    _waiting: &mut dyn FnMut(),
) -> Result<Option<std::fs::File>, LockError> {
    Ok(None)
}

/// Removes the temporary files interrupted applies left beside the manifest's secret files
/// (they may hold a client secret). Call it with the apply lock held. Returns what it could not
/// tidy, for a warning: tidying never fails an apply.
pub fn sweep_temporaries(state: &DesiredState) -> Vec<String> {
    let mut problems = Vec::new();
    for app in state.apps.values() {
        for secret in &app.secrets {
            if let Some(SecretSink::File(path)) = &secret.sink {
                match files::sweep_temporaries(path) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        "removed {n} temporary file(s) an interrupted apply left beside {}",
                        path.declared
                    ),
                    Err(e) => problems.push(format!("{}: {e}", path.resolved().display())),
                }
            }
        }
    }
    problems
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_of_a_directory_waits_then_fails() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("appreg.yaml");
        let first =
            lock_directories(std::slice::from_ref(&manifest), LOCK_WAIT, &mut |_| {}).unwrap();
        let mut waited = 0;
        let second = lock_directories(
            &[manifest.clone(), dir.path().to_path_buf()],
            Duration::from_millis(300),
            &mut |_| waited += 1,
        );
        assert!(matches!(second, Err(LockError::Held(..))), "{second:?}");
        assert_eq!(waited, 1);
        drop(first);
        lock_directories(&[manifest], Duration::ZERO, &mut |_| {}).unwrap();
    }
}
