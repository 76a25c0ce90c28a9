//! The one way appreg opens a file a manifest names (certificates, secret files): inside the
//! manifest's directory, through no symbolic link, regular files only, reads bounded.
//!
//! A manifest may come from a pull request, so each path in it is hostile: a symlinked directory
//! would land a write outside the checkout, `/dev/zero` would make a read never end, a FIFO would
//! make it block. On unix a path is walked one component at a time from the manifest's directory
//! with `openat(O_NOFOLLOW)`, so a link swapped in during the walk is refused as well (no
//! check-then-use race); the file type is checked on the opened handle, which was opened
//! `O_NONBLOCK`. This module never follows a link and never reads past its cap.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Component, Path};

use crate::model::ManifestPath;

/// Most bytes read from a certificate file: a PEM chain of a few certificates fits many times.
pub const CERTIFICATE_MAX: u64 = 64 * 1024;
/// Most bytes read from a secret file appreg wrote (about 400 bytes).
pub const SECRET_FILE_MAX: u64 = 16 * 1024;

/// Temporary files of a secret file are named `.<name>.appreg-tmp-<random>` beside it, so a run
/// can recognise and remove what an interrupted one left.
const TEMPORARY_MARK: &str = ".appreg-tmp-";

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("is not a path inside the manifest's directory ({0})")]
    Outside(&'static str),
    #[error("goes through the symbolic link `{0}`; appreg follows no links in manifest paths")]
    Link(String),
    #[error("`{0}` is not a directory")]
    NotDirectory(String),
    #[error("is not a regular file")]
    NotRegular,
    #[error("is larger than {0} bytes")]
    TooLarge(u64),
    #[error("does not exist")]
    NotFound,
    #[error("{0}")]
    Io(std::io::Error),
}

/// The components of a declared path: relative, no `..`, not empty.
fn components(declared: &str) -> Result<(Vec<&OsStr>, &OsStr), FileError> {
    let mut parts = Vec::new();
    for component in Path::new(declared).components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(FileError::Outside("`..`")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(FileError::Outside("absolute"));
            }
        }
    }
    let name = parts.pop().ok_or(FileError::Outside("empty"))?;
    Ok((parts, name))
}

/// Reads the file at `path`, at most `max` bytes.
pub fn read(path: &ManifestPath, max: u64) -> Result<Vec<u8>, FileError> {
    let (dirs, name) = components(&path.declared)?;
    let dir = imp::open_dir(&path.base_dir, &dirs, false)?;
    let file = imp::open_regular(&dir, name)?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(FileError::Io)?;
    if bytes.len() as u64 > max {
        return Err(FileError::TooLarge(max));
    }
    Ok(bytes)
}

/// Checks a secret file can be written: its directories are made (mode 0700) and are no links,
/// and what is there is a regular file or nothing.
pub fn check_writable(path: &ManifestPath) -> Result<(), FileError> {
    let (dirs, name) = components(&path.declared)?;
    let dir = imp::open_dir(&path.base_dir, &dirs, true)?;
    imp::check_target(&dir, name)
}

/// Replaces the file at `path` with `bytes`, mode 0600: written to a temporary file beside it
/// (created exclusively, never through a link), flushed, renamed over the target, and the
/// directory synced, so a crash leaves the old file or the new one (and at worst a temporary that
/// [`sweep_temporaries`] removes).
pub fn write_private(path: &ManifestPath, bytes: &[u8]) -> Result<(), FileError> {
    let (dirs, name) = components(&path.declared)?;
    let dir = imp::open_dir(&path.base_dir, &dirs, true)?;
    imp::check_target(&dir, name)?;
    let temporary = format!(
        ".{}{TEMPORARY_MARK}{}",
        name.to_string_lossy(),
        uuid::Uuid::new_v4().simple()
    );
    imp::write_replace(&dir, OsStr::new(&temporary), name, bytes)
}

/// Removes the temporary files an interrupted write of `path` left beside it; returns how many.
/// Only regular files named as [`write_private`] names them (or as earlier versions did:
/// `.<name>.<32 hex>.tmp`) go. Run it only while holding the apply lock of the directory, or a
/// concurrent write could lose its temporary.
pub fn sweep_temporaries(path: &ManifestPath) -> Result<usize, FileError> {
    let (dirs, name) = components(&path.declared)?;
    let dir = match imp::open_dir(&path.base_dir, &dirs, false) {
        Ok(dir) => dir,
        Err(FileError::NotFound) => return Ok(0),
        Err(e) => return Err(e),
    };
    let name = name.to_string_lossy();
    imp::remove_matching(&dir, &|entry| is_temporary_of(&name, entry))
}

/// Whether `entry` is a temporary file of the secret file `name`.
fn is_temporary_of(name: &str, entry: &str) -> bool {
    let Some(rest) = entry
        .strip_prefix('.')
        .and_then(|e| e.strip_prefix(name))
        .and_then(|e| e.strip_prefix('.'))
    else {
        return false;
    };
    let hex = |s: &str| s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit());
    rest.strip_prefix(&TEMPORARY_MARK[1..]).is_some_and(hex)
        || rest.strip_suffix(".tmp").is_some_and(hex)
}

#[cfg(unix)]
mod imp {
    use std::ffi::OsStr;
    use std::fs::File;
    use std::io::Write;
    use std::os::fd::OwnedFd;
    use std::path::Path;

    use rustix::fs::{AtFlags, FileType, Mode, OFlags};
    use rustix::io::Errno;

    use super::FileError;

    fn io(e: Errno) -> FileError {
        if e == Errno::NOENT {
            FileError::NotFound
        } else {
            FileError::Io(e.into())
        }
    }

    fn kind(dir: &OwnedFd, name: &OsStr) -> Result<Option<FileType>, FileError> {
        match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(FileType::from_raw_mode(stat.st_mode))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(io(e)),
        }
    }

    /// Why `name` in `dir` could not be opened as what was wanted.
    fn refused(dir: &OwnedFd, name: &OsStr, error: Errno, want_dir: bool) -> FileError {
        match kind(dir, name) {
            Ok(Some(FileType::Symlink)) => FileError::Link(name.to_string_lossy().into_owned()),
            Ok(Some(FileType::Directory)) if !want_dir => FileError::NotRegular,
            Ok(Some(_)) if want_dir => FileError::NotDirectory(name.to_string_lossy().into_owned()),
            Ok(Some(_)) if error == Errno::LOOP => FileError::NotRegular,
            _ => io(error),
        }
    }

    /// The manifest's own directory (trusted: the user named it), then each component without
    /// following links, made when `create` says so.
    pub fn open_dir(base: &Path, dirs: &[&OsStr], create: bool) -> Result<OwnedFd, FileError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        // `a.yaml`'s directory is the empty path: the current directory.
        let base = if base.as_os_str().is_empty() {
            Path::new(".")
        } else {
            base
        };
        let mut dir = rustix::fs::open(base, flags, Mode::empty()).map_err(io)?;
        for part in dirs {
            let next =
                match rustix::fs::openat(&dir, *part, flags | OFlags::NOFOLLOW, Mode::empty()) {
                    Err(Errno::NOENT) if create => {
                        match rustix::fs::mkdirat(&dir, *part, Mode::from_raw_mode(0o700)) {
                            Ok(()) | Err(Errno::EXIST) => {}
                            Err(e) => return Err(io(e)),
                        }
                        rustix::fs::openat(&dir, *part, flags | OFlags::NOFOLLOW, Mode::empty())
                    }
                    other => other,
                };
            dir = next.map_err(|e| refused(&dir, part, e, true))?;
        }
        Ok(dir)
    }

    /// Opens `name` for reading: no link, no blocking open (a FIFO), a regular file by its handle.
    pub fn open_regular(dir: &OwnedFd, name: &OsStr) -> Result<File, FileError> {
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(dir, name, flags, Mode::empty())
            .map_err(|e| refused(dir, name, e, false))?;
        let stat = rustix::fs::fstat(&fd).map_err(io)?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(FileError::NotRegular);
        }
        Ok(File::from(fd))
    }

    /// What is at `name` may be replaced: nothing, or a regular file.
    pub fn check_target(dir: &OwnedFd, name: &OsStr) -> Result<(), FileError> {
        match kind(dir, name)? {
            None | Some(FileType::RegularFile) => Ok(()),
            Some(FileType::Symlink) => Err(FileError::Link(name.to_string_lossy().into_owned())),
            Some(_) => Err(FileError::NotRegular),
        }
    }

    pub fn write_replace(
        dir: &OwnedFd,
        temporary: &OsStr,
        name: &OsStr,
        bytes: &[u8],
    ) -> Result<(), FileError> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd =
            rustix::fs::openat(dir, temporary, flags, Mode::from_raw_mode(0o600)).map_err(io)?;
        let result = (|| -> Result<(), Errno> {
            let mut file = File::from(fd);
            file.write_all(bytes)
                .map_err(|e| Errno::from_io_error(&e).unwrap_or(Errno::IO))?;
            rustix::fs::fsync(&file)?;
            rustix::fs::renameat(dir, temporary, dir, name)?;
            rustix::fs::fsync(dir)
        })();
        if let Err(e) = result {
            let _ = rustix::fs::unlinkat(dir, temporary, AtFlags::empty());
            return Err(io(e));
        }
        Ok(())
    }

    pub fn remove_matching(
        dir: &OwnedFd,
        matches: &dyn Fn(&str) -> bool,
    ) -> Result<usize, FileError> {
        let mut removed = 0;
        let entries = rustix::fs::Dir::read_from(dir).map_err(io)?;
        for entry in entries {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !matches(&name) {
                continue;
            }
            let name = OsStr::new(&name);
            if kind(dir, name)? == Some(FileType::RegularFile) {
                match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
                    Ok(()) => removed += 1,
                    Err(Errno::NOENT) => {}
                    Err(e) => return Err(io(e)),
                }
            }
        }
        Ok(removed)
    }
}

/// Elsewhere std only: each component is checked with `symlink_metadata` before use, which a
/// concurrent swap can race; the unix walk above has no such window.
#[cfg(not(unix))]
mod imp {
    use std::ffi::OsStr;
    use std::fs::File;
    use std::io::Write;
    use std::path::{Path, PathBuf};

    use super::FileError;

    fn io(e: std::io::Error) -> FileError {
        if e.kind() == std::io::ErrorKind::NotFound {
            FileError::NotFound
        } else {
            FileError::Io(e)
        }
    }

    pub fn open_dir(base: &Path, dirs: &[&OsStr], create: bool) -> Result<PathBuf, FileError> {
        let mut dir = if base.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base.to_path_buf()
        };
        for part in dirs {
            dir.push(part);
            match std::fs::symlink_metadata(&dir) {
                Ok(m) if m.file_type().is_symlink() => {
                    return Err(FileError::Link(part.to_string_lossy().into_owned()));
                }
                Ok(m) if !m.is_dir() => {
                    return Err(FileError::NotDirectory(part.to_string_lossy().into_owned()));
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {
                    std::fs::create_dir(&dir).map_err(io)?;
                }
                Err(e) => return Err(io(e)),
            }
        }
        Ok(dir)
    }

    pub fn open_regular(dir: &Path, name: &OsStr) -> Result<File, FileError> {
        check_target(dir, name)?;
        let file = File::open(dir.join(name)).map_err(io)?;
        if !file.metadata().map_err(io)?.is_file() {
            return Err(FileError::NotRegular);
        }
        Ok(file)
    }

    pub fn check_target(dir: &Path, name: &OsStr) -> Result<(), FileError> {
        match std::fs::symlink_metadata(dir.join(name)) {
            Ok(m) if m.file_type().is_symlink() => {
                Err(FileError::Link(name.to_string_lossy().into_owned()))
            }
            Ok(m) if !m.is_file() => Err(FileError::NotRegular),
            Ok(_) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(e)),
        }
    }

    pub fn write_replace(
        dir: &Path,
        temporary: &OsStr,
        name: &OsStr,
        bytes: &[u8],
    ) -> Result<(), FileError> {
        let temporary = dir.join(temporary);
        let result = (|| -> std::io::Result<()> {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temporary)?;
            file.write_all(bytes)?;
            file.sync_all()?;
            std::fs::rename(&temporary, dir.join(name))
        })();
        if let Err(e) = result {
            let _ = std::fs::remove_file(&temporary);
            return Err(io(e));
        }
        Ok(())
    }

    pub fn remove_matching(dir: &Path, matches: &dyn Fn(&str) -> bool) -> Result<usize, FileError> {
        let mut removed = 0;
        for entry in std::fs::read_dir(dir).map_err(io)? {
            let entry = entry.map_err(io)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if matches(&name) && entry.file_type().map_err(io)?.is_file() {
                std::fs::remove_file(entry.path()).map_err(io)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn at(dir: &Path, declared: &str) -> ManifestPath {
        ManifestPath {
            declared: declared.into(),
            base_dir: dir.to_path_buf(),
        }
    }

    #[test]
    fn reads_and_writes_stay_inside_and_refuse_links_and_special_files() {
        let root = tempfile::tempdir().unwrap();
        let manifest = root.path().join("repo");
        let elsewhere = root.path().join("elsewhere");
        std::fs::create_dir_all(&manifest).unwrap();
        std::fs::create_dir_all(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, manifest.join("secrets")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", manifest.join("zero.pem")).unwrap();
        std::fs::write(elsewhere.join("x.json"), "{}").unwrap();
        std::fs::write(manifest.join("big.pem"), vec![b'a'; 100]).unwrap();
        rustix::fs::mkfifoat(
            rustix::fs::CWD,
            manifest.join("fifo.pem"),
            rustix::fs::Mode::from_raw_mode(0o600),
        )
        .unwrap();

        // Each case: declared path, expected error, why.
        type Expected = fn(&FileError) -> bool;
        let cases: [(&str, Expected, &str); 7] = [
            (
                "secrets/x.json",
                |e| matches!(e, FileError::Link(_)),
                "a linked directory",
            ),
            (
                "zero.pem",
                |e| matches!(e, FileError::Link(_)),
                "a link to a device",
            ),
            (
                "fifo.pem",
                |e| matches!(e, FileError::NotRegular),
                "a FIFO never blocks the read",
            ),
            (
                "big.pem",
                |e| matches!(e, FileError::TooLarge(10)),
                "the cap is enforced",
            ),
            (
                "../elsewhere/x.json",
                |e| matches!(e, FileError::Outside(_)),
                "`..`",
            ),
            (
                "/etc/passwd",
                |e| matches!(e, FileError::Outside(_)),
                "absolute",
            ),
            (
                "missing.pem",
                |e| matches!(e, FileError::NotFound),
                "missing is told apart",
            ),
        ];
        for (declared, expected, why) in cases {
            let error = read(&at(&manifest, declared), 10).unwrap_err();
            assert!(expected(&error), "{declared}: {why}: {error:?}");
        }
        let through_link = write_private(&at(&manifest, "secrets/new.json"), b"{}").unwrap_err();
        assert!(
            matches!(through_link, FileError::Link(_)),
            "{through_link:?}"
        );
        assert!(!elsewhere.join("new.json").exists());
        let onto_link = write_private(&at(&manifest, "zero.pem"), b"{}").unwrap_err();
        assert!(matches!(onto_link, FileError::Link(_)), "{onto_link:?}");
        assert!(check_writable(&at(&manifest, "fifo.pem")).is_err());
    }

    #[test]
    fn writes_are_private_and_sweeping_removes_only_temporaries_of_the_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = at(dir.path(), "s/a.json");
        write_private(&path, b"{\"v\":1}").unwrap();
        let written = dir.path().join("s/a.json");
        assert_eq!(std::fs::read(&written).unwrap(), b"{\"v\":1}");
        let mode = std::fs::metadata(&written).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(read(&path, SECRET_FILE_MAX).unwrap(), b"{\"v\":1}");

        let hex = "0123456789abcdef0123456789abcdef";
        let keep = [
            ".b.json.appreg-tmp-0123",
            "a.json.tmp",
            ".a.json.appreg-tmp-x",
        ];
        let stale = [
            format!(".a.json.appreg-tmp-{hex}"),
            format!(".a.json.{hex}.tmp"),
        ];
        for name in keep.iter().map(|s| s.to_string()).chain(stale.clone()) {
            std::fs::write(dir.path().join("s").join(name), "secret").unwrap();
        }
        assert_eq!(sweep_temporaries(&path).unwrap(), 2);
        for name in stale {
            assert!(!dir.path().join("s").join(name).exists());
        }
        for name in keep {
            assert!(dir.path().join("s").join(name).exists(), "{name}");
        }
        assert_eq!(
            sweep_temporaries(&at(dir.path(), "none/a.json")).unwrap(),
            0
        );
    }
}
