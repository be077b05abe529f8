//! Atomic file replacement: the one function every file kinkgrad writes goes
//! through (the library's savers and every output of the command line).
//!
//! [`write_atomic`] writes a file so that readers (and a later run after a
//! crash or kill) see either the complete old content or the complete new
//! content, never a half-written file. Temporary files left behind by a
//! process that was killed (`kill -9`) are removed by the next write to the
//! same target ([`remove_stale_temps`]); those of a live process never are.

use super::error::{IoError, IoErrorKind};
use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Distinguishes temporary files made by concurrent writers in one process.
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// How many temporary names to try before giving up when stale temporary
/// files from earlier runs happen to have the same name.
const MAX_NAME_TRIES: u32 = 1000;

/// Writes the file at `path` atomically.
///
/// First, temporary files of `path` left by dead processes are removed
/// ([`remove_stale_temps`]). Then `write` is handed a buffered writer over a
/// new temporary file in the same directory as `path`, named
/// `.{file name}.tmp-{process id}-{counter}`. When `write` returns `Ok`, the
/// temporary file is flushed, `fsync`ed and renamed over `path` (replacing
/// any existing file), and then the directory is `fsync`ed so the rename
/// itself is durable (file systems that cannot sync a directory, `EINVAL`,
/// are accepted; any other failure is an error).
///
/// If `write` returns an error (or panics), or any later step fails, the
/// temporary file is removed and `path` is left exactly as it was.
///
/// The new file gets default permissions for a newly created file; those of
/// a replaced file are not carried over. If `path` is a symbolic link, the
/// link itself is replaced by the new file.
///
/// # Errors
///
/// An [`Error::Io`](crate::Error::Io) naming `path` if `path` has no file name, if its directory
/// does not exist or is not writable, if `write` fails (kind
/// [`IoErrorKind::Io`], with the writer's error in the message), or if
/// flushing, syncing (the file or the directory) or renaming fails.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> crate::Result<()> {
    Ok(write_atomic_as("output", path, write)?)
}

/// [`write_atomic`] of a byte slice.
///
/// # Errors
///
/// As [`write_atomic`].
pub fn write_atomic_bytes(path: &Path, bytes: &[u8]) -> crate::Result<()> {
    write_atomic(path, |w| w.write_all(bytes))
}

/// Removes the temporary files `.{file name}.tmp-{pid}-{n}` (and the older
/// form `.{file name}.tmp-{pid}`) of `path` whose process `pid` is no longer
/// running, and returns how many were removed. A temporary file of a live
/// process (this one included) is never touched. Liveness is read from
/// `/proc/{pid}`; where there is no `/proc` (not Linux) nothing is removed.
/// Failures (an unreadable directory, a file removed concurrently) are
/// ignored: this is cleanup, and the write that follows reports real
/// problems with the directory.
pub fn remove_stale_temps(path: &Path) -> usize {
    let (Some(file_name), dir) = (path.file_name(), parent_dir(path)) else { return 0 };
    if !Path::new("/proc/self").exists() {
        return 0;
    }
    let mut prefix = OsString::from(".");
    prefix.push(file_name);
    prefix.push(".tmp-");
    let prefix = prefix.to_string_lossy().into_owned();
    let Ok(entries) = fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(prefix.as_str())) else { continue };
        let pid = match rest.split_once('-') {
            Some((pid, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => pid,
            Some(_) => continue,
            None => rest,
        };
        if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(pid) = pid.parse::<u32>() else { continue };
        if pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        if fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The directory of `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// [`write_atomic`] with `what` describing the file in error messages
/// ("IDX", "weights", ...).
pub(crate) fn write_atomic_as(
    what: &'static str,
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), IoError> {
    let io_err = |message: String, err: io::Error| IoError::file(IoErrorKind::Io, what, path, message).with_source(err);

    let file_name = path.file_name().ok_or_else(|| {
        IoError::file(IoErrorKind::InvalidInput, what, path, "cannot write: the path does not end in a file name")
    })?;
    let dir = parent_dir(path);
    remove_stale_temps(path);

    let (tmp_path, file) = create_temp(dir, file_name).map_err(|err| {
        let kind = if err.kind() == io::ErrorKind::NotFound { IoErrorKind::NotFound } else { IoErrorKind::Io };
        IoError::file(kind, what, path, format!("cannot create a temporary file in directory {}: {err}", dir.display()))
            .with_source(err)
    })?;
    // From here on, dropping `guard` (on an early return or a panic in
    // `write`) deletes the temporary file.
    let mut guard = TempGuard(Some(tmp_path));

    let mut writer = BufWriter::new(file);
    write(&mut writer).map_err(|e| io_err(format!("write failed: {e}"), e))?;
    let file = writer.into_inner().map_err(|e| io_err(format!("write failed: {}", e.error()), e.into_error()))?;
    file.sync_all().map_err(|e| io_err(format!("fsync failed: {e}"), e))?;
    drop(file);

    let tmp_path = guard.0.as_deref().unwrap_or(Path::new(""));
    fs::rename(tmp_path, path)
        .map_err(|e| io_err(format!("cannot rename temporary file {} over it: {e}", tmp_path.display()), e))?;
    guard.0 = None;

    sync_dir(dir).map_err(|e| io_err(format!("renamed, but fsync of directory {} failed: {e}", dir.display()), e))
}

/// Creates a new, empty temporary file next to the target.
fn create_temp(dir: &Path, file_name: &std::ffi::OsStr) -> io::Result<(PathBuf, File)> {
    let pid = std::process::id();
    let mut last_err = None;
    for _ in 0..MAX_NAME_TRIES {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut name = OsString::from(".");
        name.push(file_name);
        name.push(format!(".tmp-{pid}-{n}"));
        let tmp_path = dir.join(name);
        match OpenOptions::new().write(true).create_new(true).open(&tmp_path) {
            Ok(file) => return Ok((tmp_path, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no free temporary file name")))
}

/// Makes a completed rename durable by syncing the directory. A file system
/// that cannot sync a directory (`EINVAL`, e.g. some network file systems)
/// is accepted; other platforms than Unix cannot open a directory as a file
/// and skip this step.
fn sync_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        const EINVAL: i32 = 22;
        match File::open(dir).and_then(|d| d.sync_all()) {
            Err(e) if e.raw_os_error() == Some(EINVAL) => Ok(()),
            r => r,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Removes the temporary file when dropped, unless disarmed by taking the
/// path out.
struct TempGuard(Option<PathBuf>);

impl Drop for TempGuard {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::TempDir;
    use super::*;

    fn temp_files(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp-"))
            .collect()
    }

    #[test]
    fn writes_new_file() {
        let dir = TempDir::new("atomic-new");
        let path = dir.path().join("out.bin");
        write_atomic(&path, |w| w.write_all(b"hello")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"hello");
        assert!(temp_files(dir.path()).is_empty());
    }

    #[test]
    fn replaces_existing_file() {
        let dir = TempDir::new("atomic-replace");
        let path = dir.path().join("out.bin");
        fs::write(&path, b"old content that is longer").unwrap();
        write_atomic(&path, |w| w.write_all(b"new")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        assert!(temp_files(dir.path()).is_empty());
    }

    #[test]
    fn an_interrupted_save_never_leaves_a_corrupt_file() {
        let dir = TempDir::new("atomic-interrupted");
        let path = dir.path().join("weights.bin");
        let old: Vec<u8> = (0..=255u8).cycle().take(10_000).collect();
        fs::write(&path, &old).unwrap();

        let new: Vec<u8> = vec![0xAB; 100_000];
        let err = write_atomic(&path, |w| {
            w.write_all(&new[..new.len() / 2])?;
            Err(io::Error::other("simulated crash half-way"))
        })
        .unwrap_err();

        assert_eq!(err.io_kind(), Some(IoErrorKind::Io));
        let msg = err.to_string();
        assert!(msg.contains("weights.bin"), "{msg}");
        assert!(msg.contains("simulated crash half-way"), "{msg}");
        assert!(!msg.contains('\n'));
        assert_eq!(fs::read(&path).unwrap(), old, "old content must be intact");
        assert!(temp_files(dir.path()).is_empty(), "temporary file left behind: {:?}", temp_files(dir.path()));
    }

    #[test]
    fn a_panicking_writer_leaves_no_temp_file() {
        let dir = TempDir::new("atomic-panic");
        let path = dir.path().join("x.bin");
        fs::write(&path, b"keep").unwrap();
        let result = std::panic::catch_unwind(|| {
            let _ = write_atomic(&path, |w| {
                w.write_all(b"partial")?;
                panic!("writer panicked");
            });
        });
        assert!(result.is_err());
        assert_eq!(fs::read(&path).unwrap(), b"keep");
        assert!(temp_files(dir.path()).is_empty());
    }

    #[test]
    fn missing_directory_is_reported() {
        let dir = TempDir::new("atomic-nodir");
        let path = dir.path().join("no-such-dir").join("out.bin");
        let err = write_atomic(&path, |w| w.write_all(b"x")).unwrap_err();
        assert_eq!(err.io_kind(), Some(IoErrorKind::NotFound));
        assert!(err.to_string().contains("out.bin"), "{err}");
        assert!(!path.exists());
    }

    #[test]
    fn rename_failure_cleans_up() {
        // The target is an existing non-empty directory, so the rename fails.
        let dir = TempDir::new("atomic-isdir");
        let path = dir.path().join("target");
        fs::create_dir(&path).unwrap();
        fs::write(path.join("inner"), b"x").unwrap();
        let err = write_atomic(&path, |w| w.write_all(b"data")).unwrap_err();
        assert_eq!(err.io_kind(), Some(IoErrorKind::Io));
        assert!(path.is_dir());
        assert!(temp_files(dir.path()).is_empty());
    }

    /// A pid that is not running: the kernel's pid limit is at most 2^22 (`pid_max`), so this one
    /// cannot exist (checked through `/proc` like the code under test).
    const DEAD_PID: u32 = 4_194_305;

    #[test]
    fn stale_temps_of_dead_processes_are_removed_live_ones_kept() {
        let dir = TempDir::new("atomic-stale");
        let path = dir.path().join("ck.safetensors");
        assert!(!Path::new("/proc").join(DEAD_PID.to_string()).exists());
        let dead = [format!(".ck.safetensors.tmp-{DEAD_PID}-0"), format!(".ck.safetensors.tmp-{DEAD_PID}")];
        // this process is alive, and so is pid 1 (init)
        let live = [format!(".ck.safetensors.tmp-{}-3", std::process::id()), ".ck.safetensors.tmp-1-0".to_string()];
        // not temp files of this target: another file's, or not of the pattern
        let other = [format!(".other.tmp-{DEAD_PID}-0"), format!(".ck.safetensors.tmp-{DEAD_PID}-x")];
        for n in dead.iter().chain(&live).chain(&other) {
            fs::write(dir.path().join(n), b"partial").unwrap();
        }
        write_atomic(&path, |w| w.write_all(b"new")).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let mut left = temp_files(dir.path());
        left.sort();
        let mut want: Vec<String> = live.iter().chain(&other).cloned().collect();
        want.sort();
        if Path::new("/proc/self").exists() {
            assert_eq!(left, want);
        }
    }

    #[test]
    fn path_without_file_name_is_rejected() {
        let err = write_atomic(Path::new("/"), |w| w.write_all(b"x")).unwrap_err();
        assert_eq!(err.io_kind(), Some(IoErrorKind::InvalidInput));
    }
}
