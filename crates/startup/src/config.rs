//! The startup's settings, as a vendor or a field engineer writes them in
//! TOML. Every field has a default, so an empty file is a valid
//! configuration for a DHCP network with DNS SRV and LDAP.
//!
//! ```toml
//! [device]
//! name = "CT-SCANNER-1"          # used until the store remembers one
//!
//! [network]
//! mode = "static"                # "dhcp" | "static"
//! dns_servers = ["10.0.0.53"]    # static: DHCP option 6
//! ntp_servers = ["10.0.0.123"]   # static: DHCP option 42
//! domain = "hospital.example"    # static: DHCP option 15
//!
//! [ldap]
//! urls = ["ldap://ldap.hospital.example"]   # used when DNS SRV finds none
//! bind_dn = "cn=device,dc=hospital,dc=example"
//! password_file = "/etc/annexr/ldap.secret"
//!
//! [store]
//! path = "/var/lib/annexr/state.json"
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Everything [`crate::Startup`] needs besides the device's local description.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StartupConfig {
    /// The device's identity.
    pub device: DeviceSettings,
    /// How the device gets its address and server lists.
    pub network: NetworkSettings,
    /// Time synchronization.
    pub time: TimeSettings,
    /// DNS SRV discovery.
    pub dns: DnsSettings,
    /// The LDAP configuration server.
    pub ldap: LdapSettings,
    /// Association probes of the device's peers.
    pub probe: ProbeSettings,
    /// The non-volatile store.
    pub store: StoreSettings,
}

/// The device's identity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeviceSettings {
    /// `dicomDeviceName` to use when the store does not remember one.
    pub name: Option<String>,
}

/// How the IP parameters are obtained (R.1.2.2 step 1, and the legacy note).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkMode {
    /// Pre-configured address and server lists (the legacy note of R.1.2.2):
    /// DHCP is skipped.
    #[default]
    Static,
    /// A DHCP lease on `interface`.
    Dhcp,
}

/// Network settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSettings {
    /// Where the address and server lists come from.
    pub mode: NetworkMode,
    /// The interface DHCP runs on.
    pub interface: Option<String>,
    /// Static: name servers, `ip` or `ip:port` (DHCP option 6).
    pub dns_servers: Vec<String>,
    /// Static: NTP servers, `host` or `host:port` (DHCP option 42).
    pub ntp_servers: Vec<String>,
    /// Static: the domain for the SRV query (DHCP option 15).
    pub domain: Option<String>,
    /// Static: further search domains (DHCP option 119).
    pub search: Vec<String>,
    /// How long DHCP may take before the static settings are used, in
    /// milliseconds.
    pub dhcp_timeout_ms: u64,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        NetworkSettings {
            mode: NetworkMode::default(),
            interface: None,
            dns_servers: Vec::new(),
            ntp_servers: Vec::new(),
            domain: None,
            search: Vec::new(),
            dhcp_timeout_ms: 30_000,
        }
    }
}

/// Time synchronization settings (R.6).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TimeSettings {
    /// Synchronize at all.
    pub enabled: bool,
    /// Extra NTP servers, tried besides the network's.
    pub servers: Vec<String>,
    /// Samples per server at startup.
    pub samples: u32,
    /// Timeout of one NTP request, in milliseconds.
    pub timeout_ms: u64,
    /// Apply the startup correction to the clock (needs privileges). Off:
    /// measure and report only.
    pub set_clock: bool,
}

impl Default for TimeSettings {
    fn default() -> Self {
        TimeSettings {
            enabled: true,
            servers: Vec::new(),
            samples: 4,
            timeout_ms: 1_000,
            set_clock: false,
        }
    }
}

/// DNS SRV settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsSettings {
    /// Timeout of one DNS query, in milliseconds.
    pub timeout_ms: u64,
    /// Race TCP connects among the best-priority servers (R.4 step 4
    /// "nearest"); off keeps strict RFC 2782 order.
    pub nearest: bool,
}

impl Default for DnsSettings {
    fn default() -> Self {
        DnsSettings {
            timeout_ms: 2_000,
            nearest: true,
        }
    }
}

/// LDAP settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LdapSettings {
    /// Server URLs used when DNS SRV finds none (or is not available).
    pub urls: Vec<String>,
    /// Prefer these URLs to DNS SRV ("manual configuration takes
    /// precedence", H.1.4.1).
    pub prefer_configured: bool,
    /// Bind DN; anonymous when absent.
    pub bind_dn: Option<String>,
    /// Bind password (prefer `password_file`: it keeps the secret out of
    /// the configuration).
    pub password: Option<String>,
    /// A file whose first line is the bind password.
    pub password_file: Option<PathBuf>,
    /// Base DN of the DICOM configuration; found from the root DSE when absent.
    pub base_dn: Option<String>,
    /// Upgrade `ldap://` connections with StartTLS.
    pub starttls: bool,
    /// PEM file of the CA that signs the LDAP servers' certificates.
    pub ca_file: Option<PathBuf>,
    /// Timeout of connect and of each operation, in milliseconds.
    pub timeout_ms: u64,
    /// Install the device when LDAP does not know it (R.1.2.2).
    pub install_if_missing: bool,
    /// Where to write the LDIF of R.1.2.3 when the server refuses writes.
    pub ldif_fallback_path: Option<PathBuf>,
    /// Set `dicomInstalled` TRUE at boot when the directory says FALSE,
    /// although this device did not set it FALSE itself. Off by default:
    /// the installed flag is the site's (R.1.2, R.5.2).
    pub activate_on_boot: bool,
    /// The site's rule for AE titles when a preferred title is taken
    /// (prefix + counter + optional check digit). Without one, titles are
    /// derived from the preferred one (`CT1` → `CT1_2`).
    pub title_rule: Option<TitleRule>,
    /// When a device of this device's name exists but is another device (its
    /// serial number or device UID differ), install under this name instead.
    /// Without it the device is not adopted and the name collision is reported.
    pub install_as_on_collision: Option<String>,
}

/// A site's AE title rule: `prefix` + a `digits`-wide counter from `start`,
/// optionally followed by a Luhn check digit (e.g. `CT` `0001` `8`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TitleRule {
    /// Fixed leading part.
    pub prefix: String,
    /// Counter width.
    pub digits: usize,
    /// First counter value.
    #[serde(default = "one")]
    pub start: u64,
    /// Append a Luhn check digit over the counter.
    #[serde(default)]
    pub check_digit: bool,
}

fn one() -> u64 {
    1
}

impl TitleRule {
    /// The allocation policy of this rule.
    pub fn policy(&self) -> annexr_ldap::AllocationPolicy {
        annexr_ldap::AllocationPolicy::Structured {
            prefix: self.prefix.clone(),
            start: self.start,
            digits: self.digits,
            check_digit: self.check_digit,
        }
    }
}

impl Default for LdapSettings {
    fn default() -> Self {
        LdapSettings {
            urls: Vec::new(),
            prefer_configured: false,
            bind_dn: None,
            password: None,
            password_file: None,
            base_dn: None,
            starttls: false,
            ca_file: None,
            timeout_ms: 3_000,
            install_if_missing: true,
            ldif_fallback_path: None,
            activate_on_boot: false,
            title_rule: None,
            install_as_on_collision: None,
        }
    }
}

/// Probe settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProbeSettings {
    /// Probe peers after configuration.
    pub enabled: bool,
    /// Primary device types whose AEs are probed (e.g. `ARCHIVE`).
    pub device_types: Vec<String>,
    /// Timeout of each phase of a probe, in milliseconds.
    pub timeout_ms: u64,
}

impl Default for ProbeSettings {
    fn default() -> Self {
        ProbeSettings {
            enabled: false,
            device_types: Vec::new(),
            timeout_ms: 3_000,
        }
    }
}

/// Store settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    /// The store file; no store when absent (nothing is remembered).
    pub path: Option<PathBuf>,
}

/// A configuration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TOML is malformed or names unknown settings.
    #[error("configuration {origin}: {message}")]
    Parse {
        /// The file, or `string`.
        origin: String,
        /// What the parser said, with line and column.
        message: String,
    },
}

impl StartupConfig {
    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            origin: "string".into(),
            message: e.to_string(),
        })
    }

    /// Reads and parses a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            origin: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// The LDAP bind password: `password`, else the first line of
    /// `password_file`.
    pub fn ldap_password(&self) -> Result<Option<String>, ConfigError> {
        if let Some(p) = &self.ldap.password {
            return Ok(Some(p.clone()));
        }
        match &self.ldap.password_file {
            None => Ok(None),
            Some(path) => std::fs::read_to_string(path)
                .map(|text| Some(text.lines().next().unwrap_or_default().to_string()))
                .map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                }),
        }
    }
}

/// Milliseconds as a [`Duration`].
pub(crate) fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_a_complete_configuration() {
        let config = StartupConfig::from_toml("").unwrap();
        assert_eq!(config, StartupConfig::default());
        assert!(config.time.enabled);
        assert!(config.ldap.install_if_missing);
    }

    #[test]
    fn the_documented_example_parses() {
        let text = include_str!("config.rs")
            .split("//! ```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("//! ```").next())
            .unwrap()
            .lines()
            .map(|l| l.trim_start_matches("//!").trim_start())
            .collect::<Vec<_>>()
            .join("\n");
        let config = StartupConfig::from_toml(&text).unwrap();
        assert_eq!(config.device.name.as_deref(), Some("CT-SCANNER-1"));
        assert_eq!(config.network.mode, NetworkMode::Static);
        assert_eq!(config.network.dns_servers, vec!["10.0.0.53"]);
    }

    #[test]
    fn site_controlled_settings_parse_and_default_to_the_sites_choice() {
        let config = StartupConfig::from_toml(
            "[ldap]\nactivate_on_boot = true\ninstall_as_on_collision = \"CT-2\"\n\
             title_rule = { prefix = \"CT\", digits = 3, check_digit = true }\n",
        )
        .unwrap();
        assert!(config.ldap.activate_on_boot);
        assert_eq!(config.ldap.install_as_on_collision.as_deref(), Some("CT-2"));
        let rule = config.ldap.title_rule.unwrap();
        assert_eq!((rule.start, rule.digits, rule.check_digit), (1, 3, true));
        assert!(matches!(
            rule.policy(),
            annexr_ldap::AllocationPolicy::Structured { ref prefix, .. } if prefix == "CT"
        ));
        let default = StartupConfig::default();
        assert!(
            !default.ldap.activate_on_boot,
            "the installed flag is the site's"
        );
        assert!(default.ldap.title_rule.is_none());
        assert!(default.ldap.install_as_on_collision.is_none());
    }

    #[test]
    fn a_misspelt_setting_is_an_error_naming_it() {
        let err = StartupConfig::from_toml("[ldap]\nbind_nd = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("bind_nd"), "{err}");
    }
}
