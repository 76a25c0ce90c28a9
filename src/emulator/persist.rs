//! Saving and loading the sandbox tenant: one JSON file, replaced atomically (temp file in the same
//! directory, fsync, rename) with mode 0600 because it holds the admin client secret.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use super::store::Store;

/// Version of the state file layout.
const FORMAT: u32 = 1;

#[derive(Serialize)]
struct StateRef<'a> {
    format: u32,
    store: &'a Store,
}

#[derive(Deserialize)]
struct StateFile {
    format: u32,
    store: Store,
}

/// Serializes a store into the state file layout.
pub fn serialize(store: &Store) -> Vec<u8> {
    serde_json::to_vec(&StateRef {
        format: FORMAT,
        store,
    })
    .unwrap_or_default()
}

/// Reads a saved tenant; `Ok(None)` when the file does not exist.
pub fn load(path: &Path) -> io::Result<Option<Store>> {
    let bytes = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let state: StateFile = serde_json::from_slice(&bytes)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    if state.format != FORMAT {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("unsupported sandbox state format {}", state.format),
        ));
    }
    let mut store = state.store;
    store.reindex();
    Ok(Some(store))
}

/// Writes `bytes` to `path` atomically, readable only by the owner.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("sandbox.json");
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&temp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temp, path)
}

/// Saves snapshots in version order: a snapshot older than the last one written is skipped, so
/// concurrent writers cannot leave an older state on disk.
pub struct Persister {
    path: PathBuf,
    last_written: Mutex<u64>,
}

impl Persister {
    pub fn new(path: PathBuf) -> Self {
        Persister {
            path,
            last_written: Mutex::new(0),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Holds the file for one save: a second saver (the shutdown's flush) waits here for one in
    /// progress instead of finding nothing dirty and returning before the file is written.
    pub fn exclusive(&self) -> MutexGuard<'_, u64> {
        self.last_written.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes `bytes` unless a newer version is on disk already; `last` is [`Self::exclusive`]'s.
    pub fn save(&self, last: &mut u64, version: u64, bytes: &[u8]) -> io::Result<()> {
        if version < *last {
            return Ok(());
        }
        write_atomic(&self.path, bytes)?;
        *last = version;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_with_owner_only_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/sandbox.json");
        let store = crate::emulator::seed::tenant(1, 0);
        write_atomic(&path, &serialize(&store)).unwrap();
        let loaded = load(&path).unwrap().unwrap();
        assert_eq!(loaded.tenant_id, store.tenant_id);
        assert_eq!(loaded.objects().len(), store.objects().len());
        assert!(
            loaded
                .sp_by_app_id(crate::emulator::auth::GRAPH_APP_ID)
                .is_some(),
            "indexes are rebuilt"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        assert!(load(&dir.path().join("missing.json")).unwrap().is_none());
    }
}
