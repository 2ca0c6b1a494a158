//! The versioned JSON form of a device: the local non-volatile store and
//! `annexr export --json`.
//!
//! The file names its format and version. Compatibility rules: fields added later
//! are optional (`#[serde(default)]`), so a newer library reads an older file of the
//! same version as is; an incompatible change bumps [`STORE_VERSION`] and adds a
//! step to `migrate`, so older versions keep reading. A file from a newer library
//! (higher version) is refused with a clear error instead of being misread.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::Device;
use crate::{Error, Result};

/// The `format` field of every store file.
pub const STORE_FORMAT: &str = "annexr-device";
/// The version this library writes.
pub const STORE_VERSION: u32 = 1;

#[derive(Serialize)]
struct StoreOut<'a> {
    format: &'static str,
    version: u32,
    device: &'a Device,
}

#[derive(Deserialize)]
struct StoreIn {
    device: Device,
}

/// The device as a store file (pretty-printed JSON).
pub fn device_to_json(device: &Device) -> String {
    let out = StoreOut {
        format: STORE_FORMAT,
        version: STORE_VERSION,
        device,
    };
    // Serializing plain data with string keys cannot fail; fall back to compact output just in case.
    serde_json::to_string_pretty(&out)
        .unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()))
}

/// Reads a store file of this or any older version.
pub fn device_from_json(text: &str) -> Result<Device> {
    let mut v: Value =
        serde_json::from_str(text).map_err(|e| Error::Store(format!("not JSON: {e}")))?;
    match v.get("format").and_then(Value::as_str) {
        Some(STORE_FORMAT) => {}
        other => {
            return Err(Error::Store(format!(
                "format is {other:?}, expected {STORE_FORMAT:?}"
            )));
        }
    }
    let version = v
        .get("version")
        .and_then(Value::as_u64)
        .ok_or_else(|| Error::Store("no numeric \"version\" field".into()))?;
    if version > u64::from(STORE_VERSION) || version == 0 {
        return Err(Error::Store(format!(
            "version {version} was written by a newer annexr; this library reads versions 1 to {STORE_VERSION}"
        )));
    }
    migrate(&mut v, version)?;
    let s: StoreIn = serde_json::from_value(v).map_err(|e| Error::Store(format!("device: {e}")))?;
    Ok(s.device)
}

/// Upgrades the JSON of an older version in place, one version at a time.
fn migrate(_v: &mut Value, from: u64) -> Result<()> {
    // Version 1 is the first; a step `1 => { …rewrite fields… }` goes here when 2 appears.
    match from {
        1 => Ok(()),
        other => Err(Error::Store(format!("no migration from version {other}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;

    #[test]
    fn round_trips() {
        let d = sample::sample_modality("ct-1", "CT", 3).unwrap();
        let text = device_to_json(&d);
        assert!(text.contains("\"format\": \"annexr-device\""));
        assert!(text.contains("\"version\": 1"));
        assert!(
            text.contains("\"base64\""),
            "vendor data that is not UTF-8 is base64"
        );
        assert_eq!(device_from_json(&text).unwrap(), d);
    }

    #[test]
    fn reads_minimal_older_files_and_refuses_newer_ones() {
        let minimal = r#"{"format":"annexr-device","version":1,"device":{"name":"ct-1","installed":true,
            "network_aes":[{"ae_title":"CT1","connections":["dicom"],"association_initiator":true,
            "association_acceptor":false}],"some_future_field":42}}"#;
        let d = device_from_json(minimal).unwrap();
        assert_eq!(d.network_aes[0].ae_title, "CT1");
        assert!(d.connections.is_empty());
        for (text, needle) in [
            (
                r#"{"format":"annexr-device","version":2,"device":{}}"#,
                "newer annexr",
            ),
            (r#"{"format":"other","version":1}"#, "format"),
            (r#"{"format":"annexr-device"}"#, "version"),
            ("not json", "not JSON"),
            (
                r#"{"format":"annexr-device","version":1,"device":{"name":"x","installed":true,"network_aes":[{"ae_title":"A\\B"}]}}"#,
                "device",
            ),
        ] {
            let e = device_from_json(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }
}
