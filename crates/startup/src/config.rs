//! The startup's settings, as a vendor or a field engineer writes them in
//! TOML. Every field has a default, so an empty file is a valid
//! configuration; with `[network] interface` set and no static server
//! lists it is a DHCP network with DNS SRV and LDAP (network mode `auto`).
//!
//! ```toml
//! [device]
//! name = "CT-SCANNER-1"          # used until the store remembers one
//!
//! [network]
//! mode = "static"                # "auto" (default: DHCP on `interface` unless static values are set) | "dhcp" | "static"
//! apply = "report"               # DHCP lease: "report" (default) | "ip" (configure the interface)
//! dns_servers = ["10.0.0.53"]    # static: DHCP option 6
//! ntp_servers = ["10.0.0.123"]   # static: DHCP option 42
//! domain = "hospital.example"    # static: DHCP option 15
//!
//! [ldap]
//! urls = ["ldap://ldap.hospital.example"]   # used when DNS SRV finds none
//! bind_dn = "cn=device,dc=hospital,dc=example"
//! password_file = "/etc/annexr/ldap.secret"
//!
//! [time]
//! set_clock = true               # step once at startup, then slew (CAP_SYS_TIME)
//! max_startup_step_ms = 1000     # beyond: two NTP servers must agree within 1 s
//! required_class = "ordinary"    # R.6: "high" (≤10 ms) | "ordinary" (≤500 ms)
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
#[non_exhaustive]
pub enum NetworkMode {
    /// DHCP on `interface` when one is set and no static server lists or
    /// domain are given; static otherwise.
    #[default]
    Auto,
    /// Pre-configured address and server lists (the legacy note of R.1.2.2):
    /// DHCP is skipped.
    Static,
    /// A DHCP lease on `interface`.
    Dhcp,
}

/// What is done with a DHCP lease.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum LeaseApply {
    /// Report the lease only; the operating system keeps its own address
    /// configuration.
    #[default]
    Report,
    /// Configure the interface with `ip` (address, routes, MTU; the name
    /// servers only when `resolv_conf` is set), and remove the address at
    /// release or expiry. Needs privileges.
    Ip,
}

/// Network settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NetworkSettings {
    /// Where the address and server lists come from.
    pub mode: NetworkMode,
    /// What is done with a DHCP lease.
    pub apply: LeaseApply,
    /// With `apply = "ip"`: the resolver file to write the lease's name
    /// servers and search list to (not written when absent).
    pub resolv_conf: Option<PathBuf>,
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
            apply: LeaseApply::default(),
            resolv_conf: None,
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
    /// Requests per server. The startup decides on the first valid reply
    /// of each server (asking again, up to this many times, only after a
    /// timeout or a rejected reply); the refinement in the background then
    /// takes this many samples of each.
    pub samples: u32,
    /// Timeout of one NTP request, in milliseconds.
    pub timeout_ms: u64,
    /// Apply the startup correction to the clock (needs privileges). Off:
    /// measure and report only.
    pub set_clock: bool,
    /// Largest startup step one NTP server may justify alone, in
    /// milliseconds. A larger step (the clock, or the time TLS checks
    /// certificates against) needs two servers agreeing within 1 s.
    pub max_startup_step_ms: u64,
    /// Accept a startup step beyond `max_startup_step_ms` from a single
    /// server. Unsafe: that unauthenticated server can then set any time;
    /// the report warns whenever it was used.
    pub trust_single_server: bool,
    /// The R.6 class the device needs (`"high"`: ≤10 ms, `"ordinary"`:
    /// ≤500 ms); a WARNING when the startup does not reach it.
    pub required_class: Option<RequiredClass>,
    /// The NTP-measured correction the startup found for the device clock,
    /// in µs, when the clock itself was not corrected: LDAP TLS checks
    /// certificates against it. Set by the startup, never read from a file.
    #[serde(skip)]
    pub(crate) tls_clock_correction_us: Option<i64>,
}

/// The R.6 synchronization class a device requires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
// Closed by PS3.17 R.6: the two accuracy classes.
#[allow(clippy::exhaustive_enums)]
pub enum RequiredClass {
    /// High accuracy (R.6.1): within about 10 ms.
    High,
    /// Ordinary (R.6.2): within about 500 ms.
    Ordinary,
}

impl Default for TimeSettings {
    fn default() -> Self {
        TimeSettings {
            enabled: true,
            servers: Vec::new(),
            samples: 4,
            timeout_ms: 1_000,
            set_clock: false,
            max_startup_step_ms: 1_000,
            trust_single_server: false,
            required_class: None,
            tls_clock_correction_us: None,
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

/// LDAP settings. `Debug` shows the password as `***`, and it is never
/// serialized.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LdapSettings {
    /// Server URLs used when DNS SRV finds none (or is not available).
    pub urls: Vec<String>,
    /// Prefer these URLs to DNS SRV ("manual configuration takes
    /// precedence", H.1.4.1). Default true.
    pub prefer_configured: bool,
    /// Bind DN; anonymous when absent. A bind DN needs a password.
    pub bind_dn: Option<String>,
    /// Bind password (prefer `password_file`: it keeps the secret out of
    /// the configuration). Never serialized.
    #[serde(skip_serializing)]
    pub password: Option<String>,
    /// A file whose first line is the bind password.
    pub password_file: Option<PathBuf>,
    /// Base DN of the DICOM configuration; found from the root DSE when absent.
    pub base_dn: Option<String>,
    /// Upgrade `ldap://` connections with StartTLS (always done when a
    /// password is sent, unless `allow_plaintext_bind`).
    pub starttls: bool,
    /// Allow the bind password to travel without TLS. Unsafe; the report
    /// warns when it is used. Default false.
    pub allow_plaintext_bind: bool,
    /// Follow write referrals (a read-only replica) to a server of the
    /// configured or SRV-discovered set. Default false.
    pub follow_referrals: bool,
    /// One deadline for the whole LDAP read (connect, bind, locate, load,
    /// all servers), in milliseconds. Default 30,000.
    pub deadline_ms: u64,
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
            prefer_configured: true,
            bind_dn: None,
            password: None,
            password_file: None,
            base_dn: None,
            starttls: false,
            allow_plaintext_bind: false,
            follow_referrals: false,
            deadline_ms: 30_000,
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

impl std::fmt::Debug for LdapSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdapSettings")
            .field("urls", &self.urls)
            .field("prefer_configured", &self.prefer_configured)
            .field("bind_dn", &self.bind_dn)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("password_file", &self.password_file)
            .field("base_dn", &self.base_dn)
            .field("starttls", &self.starttls)
            .field("allow_plaintext_bind", &self.allow_plaintext_bind)
            .field("follow_referrals", &self.follow_referrals)
            .field("deadline_ms", &self.deadline_ms)
            .field("ca_file", &self.ca_file)
            .field("timeout_ms", &self.timeout_ms)
            .field("install_if_missing", &self.install_if_missing)
            .field("ldif_fallback_path", &self.ldif_fallback_path)
            .finish()
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
#[non_exhaustive]
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
        toml::from_str(text).map_err(|e| parse_error("string".into(), text, &e))
    }

    /// Reads and parses a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| parse_error(path.display().to_string(), &text, &e))
    }

    /// The LDAP bind password: `password`, else the first line of
    /// `password_file`. A bind DN without a password (or with an empty
    /// one, which would be an unauthenticated bind) is an error.
    pub fn ldap_password(&self) -> Result<Option<String>, ConfigError> {
        let password = match (&self.ldap.password, &self.ldap.password_file) {
            (Some(p), _) => Some(p.clone()),
            (None, None) => None,
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|text| Some(text.lines().next().unwrap_or_default().to_string()))
                .map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?,
        };
        if let Some(dn) = &self.ldap.bind_dn
            && password.as_deref().is_none_or(str::is_empty)
        {
            return Err(ConfigError::Parse {
                origin: "[ldap]".into(),
                message: format!(
                    "bind_dn {dn} has no password: set password_file (an empty password would bind unauthenticated)"
                ),
            });
        }
        Ok(password)
    }
}

impl NetworkSettings {
    /// The mode in effect: [`NetworkMode::Auto`] resolved to DHCP when an
    /// interface is set and no static server lists or domain are given,
    /// else to static (without an interface there is nothing to run DHCP on).
    pub fn effective_mode(&self) -> NetworkMode {
        match self.mode {
            NetworkMode::Auto => {
                let has_static = !self.dns_servers.is_empty()
                    || !self.ntp_servers.is_empty()
                    || self.domain.is_some()
                    || !self.search.is_empty();
                if has_static || self.interface.is_none() {
                    NetworkMode::Static
                } else {
                    NetworkMode::Dhcp
                }
            }
            mode => mode,
        }
    }
}

/// A TOML error as message, line and column only: toml's own text quotes
/// the source line, which may hold the password, and its message may
/// quote the offending value, which is cut out here.
fn parse_error(origin: String, text: &str, e: &toml::de::Error) -> ConfigError {
    let mut message = e.message().to_string();
    if let Some(span) = e.span() {
        // An unknown key is named (it is no secret); a bad value is not.
        if !message.starts_with("unknown field")
            && let Some(value) = text.get(span.clone())
        {
            for v in [value.trim(), value.trim().trim_matches(['"', '\'', '`'])] {
                if !v.is_empty() {
                    message = message.replace(v, "…");
                }
            }
        }
        let before = text.get(..span.start).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        message = format!("line {line}, column {column}: {message}");
    }
    ConfigError::Parse { origin, message }
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
        assert_eq!(config.network.mode, NetworkMode::Auto);
        assert_eq!(config.network.apply, LeaseApply::Report);
        // As the module documentation says: with an interface, a DHCP network.
        let config = StartupConfig::from_toml("[network]\ninterface = \"eth0\"\n").unwrap();
        assert_eq!(config.network.effective_mode(), NetworkMode::Dhcp);
    }

    #[test]
    fn auto_mode_is_static_when_static_values_are_given() {
        let config =
            StartupConfig::from_toml("[network]\ndns_servers = [\"10.0.0.53\"]\n").unwrap();
        assert_eq!(config.network.mode, NetworkMode::Auto);
        assert_eq!(config.network.effective_mode(), NetworkMode::Static);
        let config =
            StartupConfig::from_toml("[network]\nmode = \"dhcp\"\napply = \"ip\"\n").unwrap();
        assert_eq!(config.network.effective_mode(), NetworkMode::Dhcp);
        assert_eq!(config.network.apply, LeaseApply::Ip);
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
        assert_eq!(config.time.required_class, Some(RequiredClass::Ordinary));
    }

    #[test]
    fn time_step_limits_and_required_class_parse() {
        let config = StartupConfig::from_toml(
            "[time]\nmax_startup_step_ms = 5000\ntrust_single_server = true\nrequired_class = \"high\"\n",
        )
        .unwrap();
        assert_eq!(config.time.max_startup_step_ms, 5_000);
        assert!(config.time.trust_single_server);
        assert_eq!(config.time.required_class, Some(RequiredClass::High));
        assert!(StartupConfig::from_toml("[time]\nrequired_class = \"best\"\n").is_err());
        // The runtime correction is never taken from a file.
        assert!(StartupConfig::from_toml("[time]\ntls_clock_correction_us = 5\n").is_err());
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

    #[test]
    fn the_password_never_shows() {
        const PW: &str = "Kn0wn-Secret-77";
        let config = StartupConfig::from_toml(&format!(
            "[ldap]\nbind_dn = \"cn=d\"\npassword = \"{PW}\"\n"
        ))
        .unwrap();
        assert_eq!(config.ldap_password().unwrap().as_deref(), Some(PW));
        let debug = format!("{config:?} {:#?} {:?}", config, config.ldap);
        assert!(!debug.contains(PW) && debug.contains("***"), "{debug}");
        let json = serde_json::to_string(&config).unwrap();
        assert!(!json.contains(PW), "{json}");
        let toml_text = toml::to_string(&config).unwrap();
        assert!(!toml_text.contains(PW), "{toml_text}");
        // Parse errors give line and column, never the line or the value.
        for text in [
            "[ldap]\npassword = 12345\n".to_string(),
            format!("[ldap]\npassword = [\"{PW}\"]\n"),
            format!("[ldap]\npasword = \"{PW}\"\n"),
            format!("[ldap]\ntimeout_ms = \"{PW}\"\n"),
        ] {
            let err = StartupConfig::from_toml(&text).unwrap_err().to_string();
            assert!(!err.contains("12345") && !err.contains(PW), "{err}");
            assert!(err.contains("line 2, column"), "{err}");
        }
        // A bind DN without a password is refused, not an unauthenticated bind.
        let config =
            StartupConfig::from_toml("[ldap]\nbind_dn = \"cn=d\"\npassword = \"\"\n").unwrap();
        assert!(config.ldap_password().is_err());
        let config = StartupConfig::from_toml("[ldap]\nbind_dn = \"cn=d\"\n").unwrap();
        assert!(config.ldap_password().is_err());
        // Safe defaults.
        let d = LdapSettings::default();
        assert!(d.prefer_configured && !d.allow_plaintext_bind && !d.follow_referrals);
        assert_eq!(d.deadline_ms, 30_000);
    }
}
