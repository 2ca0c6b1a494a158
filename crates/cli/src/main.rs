//! `annexr`: the DICOM PS3.17 Annex R tool for field engineers.
//!
//! Every command reads the same settings as the library (a TOML file, see
//! `annexr::StartupConfig`), which flags and environment variables override, and
//! prints text or, with `--json`, one JSON document.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use annexr::{NetworkMode, StartupConfig};
use clap::{Args, Parser, Subcommand};

mod commands;
mod schema;
mod time_view;
mod watch;

/// Exit codes, documented in `--help`.
pub(crate) mod exit {
    /// The command did what it was asked.
    pub const OK: u8 = 0;
    /// It failed (the text or JSON says why).
    pub const FAILED: u8 = 1;
    /// The command line or the configuration file is wrong.
    pub const USAGE: u8 = 2;
    /// It worked through a fallback (e.g. cached configuration, LDIF file).
    pub const FALLBACK: u8 = 3;
    /// What was asked for does not exist (unknown AE title, device).
    pub const NOT_FOUND: u8 = 4;
}

const AFTER_HELP: &str = "\
SETTINGS
  --config FILE (or ANNEXR_CONFIG) names a TOML file with the sections [device], [network],
  [time], [dns], [ldap], [probe], [store]; flags override it. With no file and no flags,
  annexr expects DHCP-less static settings to come from flags.

EXIT CODES
  0  done          1  failed          2  usage or configuration error
  3  done through a fallback (cached configuration, configured LDAP URL, LDIF file)
  4  not found (AE title, device)

EXAMPLES
  annexr --dns 10.0.0.53 --domain hospital.example --bind-dn cn=device,dc=hospital,dc=example \\
         --password-file /etc/annexr/ldap.secret find --type ARCHIVE
  annexr --ldap ldap://ldap.hospital.example resolve ARCHIVE
  annexr --config /etc/annexr/annexr.toml startup --json
  annexr --ldap ldap://ldap.hospital.example probe --type ARCHIVE --calling CT1";

/// DICOM network self-configuration (PS3.17 Annex R): DHCP, NTP, DNS SRV,
/// LDAP (PS3.15 Annex H) and DICOM association probes.
#[derive(Debug, Parser)]
#[command(name = "annexr", version, about, long_about = None, after_long_help = AFTER_HELP)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes. `Debug` never shows the password.
#[derive(Args)]
pub(crate) struct Global {
    /// TOML settings file.
    #[arg(long, global = true, env = "ANNEXR_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print one JSON document instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// LDAP server URL (repeat for failover order); takes precedence over DNS SRV.
    #[arg(
        long = "ldap",
        global = true,
        env = "ANNEXR_LDAP_URL",
        value_delimiter = ','
    )]
    pub ldap_urls: Vec<String>,
    /// DN to bind with (anonymous when absent).
    #[arg(long, global = true, env = "ANNEXR_BIND_DN")]
    pub bind_dn: Option<String>,
    /// Bind password (prefer --password-file or ANNEXR_LDAP_PASSWORD).
    #[arg(
        long,
        global = true,
        env = "ANNEXR_LDAP_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
    /// File whose first line is the bind password.
    #[arg(long, global = true)]
    pub password_file: Option<PathBuf>,
    /// PEM file of the CA of the LDAP servers' certificates.
    #[arg(long, global = true)]
    pub ca_file: Option<PathBuf>,
    /// Upgrade ldap:// with StartTLS (done anyway when a password is sent).
    #[arg(long, global = true)]
    pub starttls: bool,
    /// UNSAFE: allow the bind password to travel without TLS.
    #[arg(long, global = true)]
    pub allow_plaintext_bind: bool,
    /// DNS server `ip[:port]` (repeatable): static network, as DHCP option 6.
    #[arg(long = "dns", global = true, value_delimiter = ',')]
    pub dns_servers: Vec<String>,
    /// DNS domain for the `_ldap._tcp` SRV query, as DHCP option 15.
    #[arg(long, global = true)]
    pub domain: Option<String>,
    /// NTP server `host[:port]` (repeatable): as DHCP option 42.
    #[arg(long = "ntp", global = true, value_delimiter = ',')]
    pub ntp_servers: Vec<String>,
    /// This device's name (dicomDeviceName).
    #[arg(long, global = true, env = "ANNEXR_DEVICE")]
    pub device: Option<String>,
    /// Timeout of each network operation, in milliseconds.
    #[arg(long, global = true)]
    pub timeout_ms: Option<u64>,
    /// Log progress to stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the normal startup of R.4: network, time, DNS SRV, LDAP, configure (install when new).
    Startup(commands::StartupArgs),
    /// Install this device from its local description (R.1.2.2), or write the LDIF (R.1.2.3).
    Install(commands::InstallArgs),
    /// Shutdown actions of R.5: mark the device offline when asked.
    Shutdown(commands::ShutdownArgs),
    /// Find AEs by primary device type (R.3.1), e.g. ARCHIVE, PRINT, CT, or by SOP class (R.1).
    Find(commands::FindArgs),
    /// Resolve an AE title to its device, host, port and TLS (R.3).
    Resolve(commands::ResolveArgs),
    /// Verify peers with an association and C-ECHO, and explain failures.
    Probe(commands::ProbeArgs),
    /// Register a title in the unique AE titles registry.
    RegisterTitle(commands::TitlesArgs),
    /// Say which of the proposed AE titles are free.
    CheckTitles(commands::TitlesArgs),
    /// Print a device's configuration as LDIF (importable with ldapadd).
    ExportLdif(commands::ExportArgs),
    /// Add the entries of an LDIF file (e.g. one written by R.1.2.3) to LDAP.
    ImportLdif(commands::ImportArgs),
    /// Mark the device (or one AE or connection) installed (R.5.2).
    Online(commands::InstalledArgs),
    /// Mark the device (or one AE or connection) not installed (R.5.2).
    Offline(commands::InstalledArgs),
    /// Measure the clock against the NTP servers (R.6); never sets the clock.
    Time(commands::TimeArgs),
    /// Ask DHCP for the network parameters on an interface.
    Dhcp(commands::DhcpArgs),
    /// Print the DICOM configuration schema (PS3.15 Annex H) in a directory's format.
    Schema(schema::SchemaArgs),
    /// The unique AE titles registry: `sync` adds entries for titles AEs use without one.
    Registry(commands::RegistryArgs),
    /// Follow a device and its peers in the directory; one line per change until stopped.
    Watch(watch::WatchArgs),
}

impl std::fmt::Debug for Global {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Global")
            .field("config", &self.config)
            .field("json", &self.json)
            .field("ldap_urls", &self.ldap_urls)
            .field("bind_dn", &self.bind_dn)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("password_file", &self.password_file)
            .field("ca_file", &self.ca_file)
            .field("starttls", &self.starttls)
            .field("allow_plaintext_bind", &self.allow_plaintext_bind)
            .field("dns_servers", &self.dns_servers)
            .field("domain", &self.domain)
            .field("ntp_servers", &self.ntp_servers)
            .field("device", &self.device)
            .field("timeout_ms", &self.timeout_ms)
            .field("verbose", &self.verbose)
            .finish()
    }
}

impl Global {
    /// The settings: the file, then the flags over it.
    pub fn settings(&self) -> Result<StartupConfig, String> {
        let mut config = match &self.config {
            Some(path) => StartupConfig::from_file(path).map_err(|e| e.to_string())?,
            None => StartupConfig::default(),
        };
        if !self.ldap_urls.is_empty() {
            config.ldap.urls = self.ldap_urls.clone();
            config.ldap.prefer_configured = true;
        }
        if let Some(dn) = &self.bind_dn {
            config.ldap.bind_dn = Some(dn.clone());
        }
        if let Some(p) = &self.password {
            config.ldap.password = Some(p.clone());
        }
        if let Some(p) = &self.password_file {
            config.ldap.password_file = Some(p.clone());
        }
        if let Some(p) = &self.ca_file {
            config.ldap.ca_file = Some(p.clone());
        }
        if self.starttls {
            config.ldap.starttls = true;
        }
        if self.allow_plaintext_bind {
            config.ldap.allow_plaintext_bind = true;
        }
        if !self.dns_servers.is_empty() {
            config.network.mode = NetworkMode::Static;
            config.network.dns_servers = self.dns_servers.clone();
        }
        if let Some(d) = &self.domain {
            config.network.domain = Some(d.clone());
        }
        if !self.ntp_servers.is_empty() {
            config.network.ntp_servers = self.ntp_servers.clone();
        }
        if let Some(name) = &self.device {
            config.device.name = Some(name.clone());
        }
        if let Some(ms) = self.timeout_ms {
            config.ldap.timeout_ms = ms;
            config.dns.timeout_ms = ms;
            config.time.timeout_ms = ms;
            config.probe.timeout_ms = ms;
        }
        Ok(config)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.global.verbose > 0 {
        let level = if cli.global.verbose > 1 {
            "debug"
        } else {
            "info"
        };
        tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(tracing_subscriber::EnvFilter::new(level))
            .init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => Arc::new(rt),
        Err(e) => {
            eprintln!("annexr: cannot start the runtime: {e}");
            return ExitCode::from(exit::FAILED);
        }
    };
    let code = runtime.block_on(commands::run(cli));
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    #[test]
    fn the_password_never_shows_and_plaintext_is_an_explicit_flag() {
        const PW: &str = "Cli-Secret-4242";
        let cli = Cli::try_parse_from([
            "annexr",
            "--ldap",
            "ldap://127.0.0.1:1",
            "--bind-dn",
            "cn=d",
            "--password",
            PW,
            "--allow-plaintext-bind",
            "find",
            "--type",
            "ARCHIVE",
        ])
        .unwrap();
        let text = format!("{cli:?} {:?}", cli.global);
        assert!(!text.contains(PW) && text.contains("***"), "{text}");
        let settings = cli.global.settings().unwrap();
        assert!(settings.ldap.allow_plaintext_bind);
        assert_eq!(settings.ldap.password.as_deref(), Some(PW));
        let text = format!("{settings:?}");
        assert!(!text.contains(PW), "{text}");
        let json = serde_json::to_string(&settings).unwrap();
        assert!(!json.contains(PW), "{json}");
        let plain =
            Cli::try_parse_from(["annexr", "--ldap", "ldap://h", "find", "--type", "X"]).unwrap();
        assert!(!plain.global.settings().unwrap().ldap.allow_plaintext_bind);
    }

    /// Every command acting on one device takes it positionally or with
    /// --device (before or after the command).
    #[test]
    fn a_device_is_named_positionally_or_with_device() {
        let commands: [&[&str]; 7] = [
            &["startup"],
            &["export-ldif"],
            &["online"],
            &["offline"],
            &["shutdown"],
            &["watch"],
            &["install", "--local", "d.json"],
        ];
        for command in commands {
            let positional = [&["annexr"], command, &["CT-1"]].concat();
            let after = [&["annexr"], command, &["--device", "CT-1"]].concat();
            let before = [&["annexr", "--device", "CT-1"], command].concat();
            for args in [positional, after, before] {
                let cli = Cli::try_parse_from(&args)
                    .unwrap_or_else(|e| panic!("{}: {e}", args.join(" ")));
                let named = match cli.command {
                    Command::Startup(a) => a.device,
                    Command::ExportLdif(a) => a.device,
                    Command::Online(a) | Command::Offline(a) => a.device,
                    Command::Shutdown(a) => a.device,
                    Command::Watch(a) => a.device,
                    Command::Install(a) => a.device,
                    _ => panic!("{}: another command", args.join(" ")),
                };
                let device = named.or(cli.global.device);
                assert_eq!(device.as_deref(), Some("CT-1"), "{}", args.join(" "));
            }
        }
    }
}
