//! Atomic file replacement.
//!
//! [`write_atomic`] writes a file so that readers (and a later run after a
//! crash or kill) see either the complete old content or the complete new
//! content, never a half-written file.

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
/// `write` is handed a buffered writer over a new temporary file in the same
/// directory as `path`, named `.{file name}.tmp-{process id}-{counter}`. When
/// `write` returns `Ok`, the temporary file is flushed, `fsync`ed and renamed
/// over `path` (replacing any existing file), and then the directory is
/// `fsync`ed on a best-effort basis so the rename itself is durable.
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
/// flushing, syncing or renaming fails.
pub fn write_atomic(path: &Path, write: impl FnOnce(&mut dyn Write) -> io::Result<()>) -> crate::Result<()> {
    Ok(write_atomic_as("output", path, write)?)
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
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };

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

    sync_dir(dir);
    Ok(())
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

/// Makes a completed rename durable. Best effort: some file systems and
/// platforms cannot open or sync a directory, and the data itself is already
/// synced, so failures are ignored.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
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

    #[test]
    fn path_without_file_name_is_rejected() {
        let err = write_atomic(Path::new("/"), |w| w.write_all(b"x")).unwrap_err();
        assert_eq!(err.io_kind(), Some(IoErrorKind::InvalidInput));
    }
}
