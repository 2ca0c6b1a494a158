//! The non-volatile store (R.1: the device remembers its own name; R.1.3:
//! the local view stays reliable during network disruptions).
//!
//! [`FileStore`] writes atomically: a temporary file in the same directory,
//! fsync, rename over the old file, fsync the directory. A power cut leaves
//! the old or the new state, never a mix. The previous generation is kept
//! beside it (`<file>.prev`), so a store damaged from outside (a truncated
//! file, a bad flash block) still yields the state before the last save.
//!
//! Firmware data partitions are often FAT: there the previous generation is
//! a copy (FAT has no hard links). Temporary files have unique names, every
//! file is created with mode 0600, and a save holds an exclusive `flock` on
//! `<file>.lock`, so a second writer (the CLI during a boot) is refused
//! instead of interleaving. A store this library cannot read for a reason
//! other than damage (a newer format after a firmware downgrade, an I/O
//! error) is never overwritten: it is moved aside to `<file>.bad-<time>`,
//! and when even that fails, saving is refused.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use annexr_model::Device;
use serde::{Deserialize, Serialize};

/// The store format this library writes. Readers accept this and every
/// older version; unknown fields written by newer versions are kept.
pub const STORE_FORMAT_VERSION: u32 = 1;

/// Everything the device keeps across reboots.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StoredState {
    /// The format version that wrote this state.
    #[serde(default = "current_version")]
    pub format_version: u32,
    /// The device's own name (`dicomDeviceName`), remembered after install.
    #[serde(default)]
    pub device_name: Option<String>,
    /// The configuration last applied (loaded from LDAP or installed), in
    /// the model's versioned device form (`annexr_model::store`).
    #[serde(default, with = "device_form")]
    pub last_configuration: Option<Device>,
    /// The last DHCP lease (or static address) the device used.
    #[serde(default)]
    pub last_lease: Option<StoredLease>,
    /// AE titles this device registered in the unique AE titles registry.
    #[serde(default)]
    pub registered_titles: Vec<String>,
    /// The DN of the `dicomConfigurationRoot` found at the last successful
    /// load: the next boot searches there directly instead of locating it
    /// again (two round trips saved).
    #[serde(default)]
    pub ldap_base_dn: Option<String>,
    /// The LDAP server that served the last successful configuration: the
    /// next boot connects to it at once, while DNS SRV is asked in parallel
    /// whether it is still one of the site's servers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ldap_server: Option<RememberedServer>,
    /// This device set its own `dicomInstalled` to FALSE at shutdown (R.5.2):
    /// the next boot may set it TRUE again. A FALSE the site set is never
    /// undone (R.1.2).
    #[serde(default)]
    pub installed_false_at_shutdown: bool,
    /// Fields a newer version wrote; kept and written back unchanged.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

fn current_version() -> u32 {
    STORE_FORMAT_VERSION
}

/// The device is kept in the model's own versioned JSON form, so that its
/// evolution follows the model's migrations rather than this file's.
mod device_form {
    use annexr_model::Device;
    use serde::de::Error as _;
    use serde::ser::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(device: &Option<Device>, s: S) -> Result<S::Ok, S::Error> {
        match device {
            None => s.serialize_none(),
            Some(device) => {
                let value: serde_json::Value =
                    serde_json::from_str(&annexr_model::device_to_json(device))
                        .map_err(S::Error::custom)?;
                s.serialize_some(&value)
            }
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Device>, D::Error> {
        let value: Option<serde_json::Value> = Option::deserialize(d)?;
        value
            .map(|v| annexr_model::device_from_json(&v.to_string()).map_err(D::Error::custom))
            .transpose()
    }
}

/// An LDAP server remembered from the last boot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RememberedServer {
    /// The URL connected to (`ldap://addr:port`, or `ldap[s]://host:port`
    /// for TLS, which verifies the host name).
    pub url: String,
    /// The addresses the site's DNS gave for the URL's host name (the
    /// operating system's resolver may not know it).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<std::net::SocketAddr>,
}

/// The address the device had, to notice a change at the next boot
/// (seed 000: legacy peers configured with IP addresses break).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLease {
    /// The IPv4 address.
    pub address: Ipv4Addr,
    /// The interface's MAC address, `aa:bb:cc:dd:ee:ff`, when known.
    #[serde(default)]
    pub mac: Option<String>,
    /// Where the address came from: `dhcp`, `static`, `os-lease`.
    pub source: String,
    /// The DHCP client identifier (hex, `ff:41:…`) annexr obtained the
    /// lease with. Present only for a lease annexr's own client obtained:
    /// that binding is annexr's to renew and release, never the OS
    /// client's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// A store could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing the file failed.
    #[error("store {path}: {step} failed: {source}")]
    Io {
        /// The store file.
        path: PathBuf,
        /// What was being done.
        step: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file exists but is not a store this library can read, and no
    /// readable previous generation exists.
    #[error("store {path} is damaged ({cause}) and has no readable previous generation")]
    Corrupt {
        /// The store file.
        path: PathBuf,
        /// What the parser said.
        cause: String,
    },
    /// The file was written by a format this library does not know.
    #[error("store {path} has format version {found}; this library reads up to {supported}")]
    TooNew {
        /// The store file.
        path: PathBuf,
        /// The version found.
        found: u32,
        /// The newest version this library reads.
        supported: u32,
    },
    /// The store could not be read for a reason other than damage, so it
    /// was moved aside (never overwritten) and a new store begins.
    #[error("{cause}; the file was kept as {moved_to}")]
    MovedAside {
        /// Why it could not be read.
        cause: Box<StoreError>,
        /// Where the unreadable file is now.
        moved_to: PathBuf,
    },
    /// Another writer holds the store's lock (`<file>.lock`).
    #[error("store {path} is locked by another writer ({lock})")]
    Locked {
        /// The store file.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// Saving is refused: the current file could not be read and could
    /// not be moved aside, so writing would destroy it.
    #[error("store {path} is not written: {reason}")]
    Refused {
        /// The store file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// How a load went, besides the state itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub enum LoadSource {
    /// No store existed yet (first boot): the state is empty.
    Empty,
    /// The current file was read.
    Current,
    /// The current file was damaged; the previous generation was read.
    PreviousGeneration,
}

/// A non-volatile store for [`StoredState`].
pub trait Store: Send + Sync {
    /// Reads the state; a store that does not exist yet reads as empty.
    fn load(&self) -> Result<(StoredState, LoadSource), StoreError>;
    /// Replaces the state atomically. [`FileStore`] writes nothing when the
    /// file already holds this state.
    fn save(&self, state: &StoredState) -> Result<(), StoreError>;
}

/// The embedded default: one JSON file, written atomically.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
    /// Set when the current file could not be read nor moved aside: a save
    /// would destroy it. Shared by clones.
    refused: Arc<Mutex<Option<String>>>,
}

/// The exclusive lock on a [`FileStore`] (`flock` on `<file>.lock`), held
/// until dropped.
#[derive(Debug)]
pub struct StoreLock {
    #[cfg(unix)]
    _lock: nix::fcntl::Flock<File>,
    #[cfg(not(unix))]
    _lock: File,
}

impl FileStore {
    /// A store in `path` (its directory must exist).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileStore {
            path: path.into(),
            refused: Arc::default(),
        }
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The lock file beside the store.
    pub fn lock_path(&self) -> PathBuf {
        with_suffix(&self.path, ".lock")
    }

    /// Takes the writer lock without waiting: [`StoreError::Locked`] when
    /// another writer (another process, or another `FileStore` on the same
    /// file) holds it. [`Store::save`] takes it for its own duration; a
    /// tool that loads, changes and saves holds it across all three.
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
        let lock_path = self.lock_path();
        let file = create_private(&lock_path, false).map_err(self.io("open the lock file"))?;
        #[cfg(unix)]
        {
            use nix::fcntl::{Flock, FlockArg};
            match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
                Ok(lock) => Ok(StoreLock { _lock: lock }),
                Err((_, nix::errno::Errno::EWOULDBLOCK)) => Err(StoreError::Locked {
                    path: self.path.clone(),
                    lock: lock_path,
                }),
                Err((_, errno)) => Err(self.io("lock")(std::io::Error::from(errno))),
            }
        }
        #[cfg(not(unix))]
        {
            // No flock here: the open lock file only marks the writer.
            Ok(StoreLock { _lock: file })
        }
    }

    fn previous_path(&self) -> PathBuf {
        with_suffix(&self.path, ".prev")
    }

    fn io(&self, step: &'static str) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
        move |source| StoreError::Io {
            path: self.path.clone(),
            step,
            source,
        }
    }

    fn directory(&self) -> &Path {
        self.path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
    }

    fn read(&self, path: &Path) -> Result<Option<StoredState>, StoreError> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io("read")(e)),
        };
        let state: StoredState =
            serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                path: path.to_path_buf(),
                cause: e.to_string(),
            })?;
        if state.format_version > STORE_FORMAT_VERSION {
            return Err(StoreError::TooNew {
                path: path.to_path_buf(),
                found: state.format_version,
                supported: STORE_FORMAT_VERSION,
            });
        }
        Ok(Some(state))
    }

    /// Moves an unreadable current file to `<file>.bad-<time>`, so the next
    /// save cannot overwrite it; when that fails, later saves are refused.
    fn move_aside(&self, cause: StoreError) -> StoreError {
        let stamp = jiff::Timestamp::now()
            .strftime("%Y%m%dT%H%M%SZ")
            .to_string();
        let mut target = with_suffix(&self.path, &format!(".bad-{stamp}"));
        for n in 1..100 {
            if !target.exists() {
                break;
            }
            target = with_suffix(&self.path, &format!(".bad-{stamp}-{n}"));
        }
        let moved = if target.exists() {
            Err(std::io::Error::from(std::io::ErrorKind::AlreadyExists))
        } else {
            std::fs::rename(&self.path, &target).and_then(|()| sync_directory(self.directory()))
        };
        match moved {
            Ok(()) => {
                tracing::warn!(store = %self.path.display(), moved_to = %target.display(), "{cause}: moved aside");
                StoreError::MovedAside {
                    cause: Box::new(cause),
                    moved_to: target,
                }
            }
            Err(e) => {
                let reason = format!("{cause}, and moving it aside failed ({e})");
                if let Ok(mut refused) = self.refused.lock() {
                    *refused = Some(reason.clone());
                }
                StoreError::Refused {
                    path: self.path.clone(),
                    reason,
                }
            }
        }
    }

    /// Writes `bytes` to `target` through a uniquely named temporary file
    /// (mode 0600) in the same directory: fsync, then rename.
    fn write_atomically(&self, target: &Path, bytes: &[u8]) -> Result<(), StoreError> {
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut tmp = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".store-tmp")
            .tempfile_in(self.directory())
            .map_err(self.io("create temporary file"))?;
        tmp.write_all(bytes).map_err(self.io("write"))?;
        tmp.as_file().sync_all().map_err(self.io("fsync"))?;
        tmp.persist(target)
            .map_err(|e| self.io("rename")(e.error))?;
        Ok(())
    }

    /// Removes temporary files a killed save left behind. Called under the
    /// lock: no other writer of this store is between create and rename.
    fn remove_stale_temporaries(&self) {
        let Some(name) = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
        else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(self.directory()) else {
            return;
        };
        let prefix = format!(".{name}.");
        for entry in entries.flatten() {
            let file = entry.file_name().to_string_lossy().into_owned();
            if file.starts_with(&prefix) && file.ends_with(".store-tmp") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    /// Keeps the current generation as `<file>.prev`: a hard link costs no
    /// copy; where there are none (FAT), a copy written atomically.
    fn keep_previous(&self) -> Result<(), StoreError> {
        let previous = self.previous_path();
        let Ok(current) = std::fs::read(&self.path) else {
            return Ok(());
        };
        if !matches!(self.read(&self.path), Ok(Some(_))) {
            // Damaged: the older `.prev` is the better generation.
            return Ok(());
        }
        let _ = std::fs::remove_file(&previous);
        if let Err(e) = std::fs::hard_link(&self.path, &previous) {
            tracing::debug!(store = %self.path.display(), "no hard link ({e}): copying the previous generation");
            self.write_atomically(&previous, &current)?;
        }
        Ok(())
    }
}

/// Creates (or opens) `path` with mode 0600; `new` adds `O_EXCL`.
pub(crate) fn create_private(path: &Path, new: bool) -> std::io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if new {
        options.create_new(true);
    } else {
        options.create(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Makes a rename durable. Windows cannot open a directory as a file (and
/// its renames need no directory fsync), so it is skipped there.
fn sync_directory(dir: &Path) -> std::io::Result<()> {
    #[cfg(not(windows))]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(windows)]
    {
        let _ = dir;
        Ok(())
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_os_string();
    name.push(suffix);
    PathBuf::from(name)
}

impl Store for FileStore {
    fn load(&self) -> Result<(StoredState, LoadSource), StoreError> {
        match self.read(&self.path) {
            Ok(Some(state)) => Ok((state, LoadSource::Current)),
            Ok(None) => match self.read(&self.previous_path()) {
                // Only the previous generation exists: a crash between the
                // two renames of `save`.
                Ok(Some(state)) => Ok((state, LoadSource::PreviousGeneration)),
                Ok(None) => Ok((StoredState::default(), LoadSource::Empty)),
                Err(e) => Err(e),
            },
            Err(current @ StoreError::Corrupt { .. }) => match self.read(&self.previous_path()) {
                Ok(Some(state)) => Ok((state, LoadSource::PreviousGeneration)),
                _ => Err(current),
            },
            // A newer format or an unreadable file: keep it out of harm's way.
            Err(other) => Err(self.move_aside(other)),
        }
    }

    fn save(&self, state: &StoredState) -> Result<(), StoreError> {
        if let Ok(refused) = self.refused.lock()
            && let Some(reason) = refused.as_ref()
        {
            return Err(StoreError::Refused {
                path: self.path.clone(),
                reason: reason.clone(),
            });
        }
        let mut state = state.clone();
        state.format_version = STORE_FORMAT_VERSION;
        let json = serde_json::to_vec_pretty(&state).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            cause: format!("cannot serialize: {e}"),
        })?;
        // The same bytes are there already: no write and no fsync, so an
        // unchanged boot costs the flash nothing (and takes no lock).
        if std::fs::read(&self.path).is_ok_and(|current| current == json) {
            return Ok(());
        }
        let _lock = self.lock()?;
        // A file this library cannot read (a newer format written since
        // the load) is moved aside, never overwritten.
        match self.read(&self.path) {
            Ok(_) | Err(StoreError::Corrupt { .. }) => {}
            Err(other) => {
                if let e @ StoreError::Refused { .. } = self.move_aside(other) {
                    return Err(e);
                }
            }
        }
        self.remove_stale_temporaries();
        self.keep_previous()?;
        self.write_atomically(&self.path, &json)?;
        sync_directory(self.directory()).map_err(self.io("fsync directory"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, FileStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = FileStore::new(dir.path().join("annexr-state.json"));
        (dir, store)
    }

    #[test]
    fn a_new_store_reads_empty_and_round_trips() {
        let (_dir, store) = store();
        let (state, source) = store.load().unwrap();
        assert_eq!(source, LoadSource::Empty);
        assert_eq!(state.device_name, None);
        let mut state = StoredState {
            device_name: Some("CT-SCANNER-1".into()),
            registered_titles: vec!["CT1".into()],
            ..StoredState::default()
        };
        state.last_lease = Some(StoredLease {
            address: Ipv4Addr::new(10, 231, 0, 100),
            mac: Some("02:00:00:00:00:01".into()),
            source: "dhcp".into(),
            client_id: Some("ff:41:58:52:31:00:03:00:01:02:00:00:00:00:01".into()),
        });
        store.save(&state).unwrap();
        let (read, source) = store.load().unwrap();
        assert_eq!(source, LoadSource::Current);
        assert_eq!(read.device_name, state.device_name);
        assert_eq!(read.last_lease, state.last_lease);
        assert_eq!(read.format_version, STORE_FORMAT_VERSION);
    }

    #[cfg(unix)]
    #[test]
    fn an_unchanged_state_is_not_rewritten_and_a_changed_one_is() {
        use std::os::unix::fs::MetadataExt;
        let (_dir, store) = store();
        let inode = |path: &Path| std::fs::metadata(path).unwrap().ino();
        let state = StoredState {
            device_name: Some("CT-1".into()),
            ..StoredState::default()
        };
        store.save(&state).unwrap();
        let first = inode(store.path());
        // Loaded and saved back unchanged: the same file, no new generation.
        let (loaded, _) = store.load().unwrap();
        store.save(&loaded).unwrap();
        assert_eq!(inode(store.path()), first);
        assert!(!store.previous_path().exists());
        // A change is written (a new file renamed over the old one).
        let changed = StoredState {
            device_name: Some("CT-2".into()),
            ..loaded
        };
        store.save(&changed).unwrap();
        assert_ne!(inode(store.path()), first);
        assert_eq!(store.load().unwrap().0.device_name.as_deref(), Some("CT-2"));
        assert!(store.previous_path().exists());
    }

    #[test]
    fn a_damaged_store_falls_back_to_the_previous_generation() {
        let (_dir, store) = store();
        for name in ["FIRST", "SECOND"] {
            let state = StoredState {
                device_name: Some(name.into()),
                ..StoredState::default()
            };
            store.save(&state).unwrap();
        }
        // Truncate the current file as a power cut on a bad medium would.
        let bytes = std::fs::read(store.path()).unwrap();
        std::fs::write(store.path(), &bytes[..bytes.len() / 2]).unwrap();
        let (state, source) = store.load().unwrap();
        assert_eq!(source, LoadSource::PreviousGeneration);
        assert_eq!(state.device_name.as_deref(), Some("FIRST"));
    }

    #[test]
    fn garbage_without_a_previous_generation_is_a_typed_error() {
        let (_dir, store) = store();
        std::fs::write(store.path(), b"\x00\xffnot json").unwrap();
        assert!(matches!(store.load(), Err(StoreError::Corrupt { .. })));
    }

    #[test]
    fn an_older_store_without_new_fields_reads_and_unknown_fields_survive() {
        let (_dir, store) = store();
        // A store as an early version (or a newer one with extra fields) wrote it.
        std::fs::write(
            store.path(),
            br#"{"device_name":"MR-2","vendor_note":{"kept":true}}"#,
        )
        .unwrap();
        let (state, _) = store.load().unwrap();
        assert_eq!(state.device_name.as_deref(), Some("MR-2"));
        assert_eq!(state.format_version, STORE_FORMAT_VERSION);
        store.save(&state).unwrap();
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(text.contains("vendor_note"), "{text}");
    }

    #[test]
    fn the_device_is_kept_in_the_model_store_form() {
        let (_dir, store) = store();
        let device = annexr_model::Device::new("CT-9").installed(true);
        let state = StoredState {
            last_configuration: Some(device.clone()),
            ..StoredState::default()
        };
        store.save(&state).unwrap();
        let text = std::fs::read_to_string(store.path()).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            json["last_configuration"]["format"],
            annexr_model::STORE_FORMAT
        );
        let (read, _) = store.load().unwrap();
        assert_eq!(read.last_configuration, Some(device));
    }

    #[test]
    fn a_store_from_a_newer_format_is_refused_not_misread() {
        let (_dir, store) = store();
        std::fs::write(store.path(), br#"{"format_version": 99}"#).unwrap();
        let err = store.load().unwrap_err();
        let StoreError::MovedAside { cause, .. } = err else {
            panic!("expected MovedAside, got {err:?}");
        };
        assert!(matches!(*cause, StoreError::TooNew { found: 99, .. }));
    }

    #[test]
    fn newer_store_is_moved_aside_not_overwritten() {
        let (dir, store) = store();
        let newer = br#"{"format_version": 7, "device_name": "CT-FROM-THE-FUTURE"}"#;
        std::fs::write(store.path(), newer).unwrap();
        let err = store.load().unwrap_err();
        let StoreError::MovedAside { cause, moved_to } = &err else {
            panic!("expected MovedAside, got {err:?}");
        };
        assert!(
            matches!(**cause, StoreError::TooNew { found: 7, .. }),
            "{cause:?}"
        );
        let name = moved_to.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("annexr-state.json.bad-"), "{name}");
        assert!(err.to_string().contains(&name), "{err}");
        // The startup goes on with a fresh state and saves it; the newer
        // file is still there, byte for byte.
        store.save(&StoredState::default()).unwrap();
        assert_eq!(std::fs::read(moved_to).unwrap(), newer);
        assert_eq!(store.load().unwrap().1, LoadSource::Current);
        drop(dir);
    }

    #[test]
    fn a_newer_store_written_after_the_load_is_not_overwritten_by_save() {
        let (dir, store) = store();
        store.save(&StoredState::default()).unwrap();
        let newer = br#"{"format_version": 3}"#;
        std::fs::write(store.path(), newer).unwrap();
        store.save(&StoredState::default()).unwrap();
        let kept: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                name.contains(".bad-").then_some(name)
            })
            .collect();
        assert_eq!(kept.len(), 1, "{kept:?}");
        assert_eq!(std::fs::read(dir.path().join(&kept[0])).unwrap(), newer);
    }

    #[test]
    fn an_unreadable_store_is_moved_aside() {
        let (_dir, store) = store();
        // A directory where the file should be: reading fails with an
        // I/O error, not a parse error.
        std::fs::create_dir(store.path()).unwrap();
        std::fs::write(store.path().join("inside"), b"kept").unwrap();
        let err = store.load().unwrap_err();
        let StoreError::MovedAside { cause, moved_to } = err else {
            panic!("expected MovedAside, got {err:?}");
        };
        assert!(matches!(*cause, StoreError::Io { .. }), "{cause:?}");
        assert_eq!(std::fs::read(moved_to.join("inside")).unwrap(), b"kept");
        store.save(&StoredState::default()).unwrap();
    }

    #[test]
    fn two_writers_are_locked_out() {
        let (_dir, store) = store();
        let other_writer = FileStore::new(store.path());
        let held = other_writer.lock().unwrap();
        let err = store.save(&StoredState::default()).unwrap_err();
        assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
        assert!(!store.path().exists(), "a locked-out save wrote the store");
        drop(held);
        store.save(&StoredState::default()).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn store_files_are_private_and_temp_files_do_not_linger() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, store) = store();
        // The journal's old fixed temp name must not be touched by a save.
        let journal_tmp = dir.path().join("annexr-state.tmp");
        std::fs::write(&journal_tmp, b"journal in progress").unwrap();
        for name in ["A", "B"] {
            let state = StoredState {
                device_name: Some(name.into()),
                ..StoredState::default()
            };
            store.save(&state).unwrap();
        }
        for file in [
            store.path().to_path_buf(),
            store.previous_path(),
            store.lock_path(),
        ] {
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
        }
        assert_eq!(std::fs::read(&journal_tmp).unwrap(), b"journal in progress");
        // A save killed between create and rename left its temporary file;
        // the next save clears it.
        let stale = dir.path().join(".annexr-state.json.AbC123.store-tmp");
        std::fs::write(&stale, b"half").unwrap();
        store.save(&StoredState::default()).unwrap();
        assert!(!stale.exists());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".store-tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_unreadable_store_that_cannot_be_moved_is_never_written() {
        // Reading /proc/self/mem from offset 0 fails with EIO, and procfs
        // refuses the rename: the store must refuse to save over it.
        let store = FileStore::new("/proc/self/mem");
        let err = store.load().unwrap_err();
        assert!(matches!(err, StoreError::Refused { .. }), "{err:?}");
        let err = store.save(&StoredState::default()).unwrap_err();
        assert!(matches!(err, StoreError::Refused { .. }), "{err:?}");
        assert!(err.to_string().contains("moving it aside failed"), "{err}");
    }
}
