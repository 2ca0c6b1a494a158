//! The non-volatile store (R.1: the device remembers its own name; R.1.3:
//! the local view stays reliable during network disruptions).
//!
//! [`FileStore`] writes atomically: a temporary file in the same directory,
//! fsync, rename over the old file, fsync the directory. A power cut leaves
//! the old or the new state, never a mix. The previous generation is kept
//! beside it (`<file>.prev`), so a store damaged from outside (a truncated
//! file, a bad flash block) still yields the state before the last save.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

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
                    serde_json::from_str(&annexr_model::store::to_json(device))
                        .map_err(S::Error::custom)?;
                s.serialize_some(&value)
            }
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Device>, D::Error> {
        let value: Option<serde_json::Value> = Option::deserialize(d)?;
        value
            .map(|v| annexr_model::store::from_json(&v.to_string()).map_err(D::Error::custom))
            .transpose()
    }
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
}

/// A store could not be read or written.
#[derive(Debug, thiserror::Error)]
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
}

/// How a load went, besides the state itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
    /// Replaces the state atomically.
    fn save(&self, state: &StoredState) -> Result<(), StoreError>;
}

/// The embedded default: one JSON file, written atomically.
#[derive(Debug, Clone)]
pub struct FileStore {
    path: PathBuf,
}

impl FileStore {
    /// A store in `path` (its directory must exist).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        FileStore { path: path.into() }
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
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
            Err(other) => Err(other),
        }
    }

    fn save(&self, state: &StoredState) -> Result<(), StoreError> {
        let mut state = state.clone();
        state.format_version = STORE_FORMAT_VERSION;
        let json = serde_json::to_vec_pretty(&state).map_err(|e| StoreError::Corrupt {
            path: self.path.clone(),
            cause: format!("cannot serialize: {e}"),
        })?;
        let tmp = with_suffix(&self.path, ".tmp");
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)
            .map_err(self.io("create temporary file"))?;
        file.write_all(&json).map_err(self.io("write"))?;
        file.sync_all().map_err(self.io("fsync"))?;
        drop(file);
        // Keep the current generation: a hard link costs no copy, and
        // renaming the new file over the current one leaves it intact.
        let previous = self.previous_path();
        if self.path.exists() && self.read(&self.path).is_ok_and(|s| s.is_some()) {
            let _ = std::fs::remove_file(&previous);
            std::fs::hard_link(&self.path, &previous)
                .map_err(self.io("keep previous generation"))?;
        }
        std::fs::rename(&tmp, &self.path).map_err(self.io("rename"))?;
        let dir = self
            .path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(self.io("fsync directory"))?;
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
        });
        store.save(&state).unwrap();
        let (read, source) = store.load().unwrap();
        assert_eq!(source, LoadSource::Current);
        assert_eq!(read.device_name, state.device_name);
        assert_eq!(read.last_lease, state.last_lease);
        assert_eq!(read.format_version, STORE_FORMAT_VERSION);
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
            annexr_model::store::STORE_FORMAT
        );
        let (read, _) = store.load().unwrap();
        assert_eq!(read.last_configuration, Some(device));
    }

    #[test]
    fn a_store_from_a_newer_format_is_refused_not_misread() {
        let (_dir, store) = store();
        std::fs::write(store.path(), br#"{"format_version": 99}"#).unwrap();
        assert!(matches!(
            store.load(),
            Err(StoreError::TooNew { found: 99, .. })
        ));
    }
}
