//! The commands. Each prints text or one JSON document and returns an exit
//! code from [`crate::exit`].

use std::path::PathBuf;
use std::sync::Arc;

use annexr::{Event, Outcome, Source, Startup, StartupConfig};
use annexr_ldap::{
    Counted, DeviceLookup, DeviceTypeQuery, FoundAes, LdapClient, Registration, ResolvedAe,
    SopClassQuery,
};
use clap::Args;
use serde::Serialize;
use serde_json::{Value, json};

use crate::{Cli, Command, exit};

/// `annexr startup`.
#[derive(Debug, Args)]
pub(crate) struct StartupArgs {
    /// The device (default: --device or [device] name).
    // Its own id: the global `--device` has the id "device".
    #[arg(id = "device_arg", value_name = "DEVICE")]
    pub device: Option<String>,
    /// The device's local description (JSON, the model's store format),
    /// installed when LDAP does not know the device.
    #[arg(long)]
    pub local: Option<PathBuf>,
    /// Do not install a device LDAP does not know.
    #[arg(long)]
    pub no_install: bool,
    /// Probe the AEs of these device types after configuration.
    #[arg(long = "probe-type", value_delimiter = ',')]
    pub probe_types: Vec<String>,
}

/// `annexr install`.
#[derive(Debug, Args)]
pub(crate) struct InstallArgs {
    /// The device's name (default: --device or [device] name); must be
    /// the name in the local description.
    // Its own id: the global `--device` has the id "device".
    #[arg(id = "device_arg", value_name = "DEVICE")]
    pub device: Option<String>,
    /// The device's local description (JSON, the model's store format).
    #[arg(long)]
    pub local: PathBuf,
    /// Where to write the LDIF when the server refuses writes (R.1.2.3).
    #[arg(long)]
    pub ldif_out: Option<PathBuf>,
    /// The site's title rule when a preferred title is taken: prefix…
    #[arg(long, requires = "title_digits")]
    pub title_prefix: Option<String>,
    /// …plus a counter of this many digits…
    #[arg(long, requires = "title_prefix")]
    pub title_digits: Option<usize>,
    /// …plus a Luhn check digit.
    #[arg(long, requires = "title_prefix")]
    pub check_digit: bool,
    /// Install under this name when a device of this name exists but is
    /// another device (serial number or device UID differ).
    #[arg(long)]
    pub install_as_on_collision: Option<String>,
}

/// `annexr shutdown`.
#[derive(Debug, Args)]
pub(crate) struct ShutdownArgs {
    /// The device (default: --device or [device] name).
    // Its own id: the global `--device` has the id "device".
    #[arg(id = "device_arg", value_name = "DEVICE")]
    pub device: Option<String>,
    /// Also mark the device not installed (offline) in LDAP.
    #[arg(long)]
    pub offline: bool,
}

/// `annexr find`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["device_type", "sop_class"])))]
pub(crate) struct FindArgs {
    /// Primary device type, e.g. ARCHIVE, PRINT, CT (any case).
    #[arg(long = "type")]
    pub device_type: Option<String>,
    /// AEs with a transfer capability for this SOP class UID (R.1).
    #[arg(long)]
    pub sop_class: Option<String>,
    /// With --sop-class: only in this role (SCP or SCU).
    #[arg(long, requires = "sop_class", value_parser = ["SCP", "SCU", "scp", "scu"])]
    pub role: Option<String>,
    /// Only AEs in this application cluster.
    #[arg(long)]
    pub cluster: Option<String>,
    /// Include devices and AEs not marked installed.
    #[arg(long)]
    pub all: bool,
}

/// `annexr resolve`.
#[derive(Debug, Args)]
pub(crate) struct ResolveArgs {
    /// The AE title.
    pub ae_title: String,
}

/// `annexr probe`.
#[derive(Debug, Args)]
pub(crate) struct ProbeArgs {
    /// AE titles to probe (resolved through LDAP).
    pub ae_titles: Vec<String>,
    /// Probe every AE of this device type.
    #[arg(long = "type")]
    pub device_type: Option<String>,
    /// Probe `host:port` directly (with --called).
    #[arg(long)]
    pub address: Option<String>,
    /// Called AE title for --address.
    #[arg(long)]
    pub called: Option<String>,
    /// Our AE title (calling AE).
    #[arg(long, default_value = "ANNEXR")]
    pub calling: String,
    /// Also call AEs that are not installed or do not accept associations.
    #[arg(long)]
    pub include_offline: bool,
}

/// `annexr registry`.
#[derive(Debug, Args)]
pub(crate) struct RegistryArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: RegistryAction,
}

/// `annexr registry …`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum RegistryAction {
    /// Add registry entries for the titles AEs use without one (dry run
    /// unless --apply).
    Sync {
        /// Write the missing entries.
        #[arg(long)]
        apply: bool,
    },
}

/// `annexr register-title` / `check-titles`.
#[derive(Debug, Args)]
pub(crate) struct TitlesArgs {
    /// AE titles.
    #[arg(required = true)]
    pub titles: Vec<String>,
}

/// `annexr export-ldif`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The device (default: --device or [device] name).
    // Its own id: the global `--device` has the id "device".
    #[arg(id = "device_arg", value_name = "DEVICE")]
    pub device: Option<String>,
}

/// `annexr import-ldif`.
#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    /// LDIF file of content records.
    pub file: PathBuf,
}

/// `annexr online` / `offline`.
#[derive(Debug, Args)]
pub(crate) struct InstalledArgs {
    /// The device (default: --device or [device] name).
    // Its own id: the global `--device` has the id "device".
    #[arg(id = "device_arg", value_name = "DEVICE")]
    pub device: Option<String>,
    /// Only this AE of the device.
    #[arg(long)]
    pub ae: Option<String>,
    /// Only this network connection (its cn) of the device.
    #[arg(long)]
    pub connection: Option<String>,
}

/// `annexr time`.
#[derive(Debug, Args)]
pub(crate) struct TimeArgs {
    /// Samples per server.
    #[arg(long, default_value_t = 4)]
    pub samples: u32,
}

/// `annexr dhcp`.
#[derive(Debug, Args)]
pub(crate) struct DhcpArgs {
    /// The interface.
    #[arg(long)]
    pub interface: String,
    /// Ask for the options only (DHCPINFORM), keeping the address this host has.
    #[arg(long)]
    pub inform: Option<std::net::Ipv4Addr>,
}

/// A serializable document as JSON (plain data: cannot fail; null if it did).
fn to_value(document: &impl Serialize) -> Value {
    serde_json::to_value(document).unwrap_or(Value::Null)
}

/// Prints `value` as JSON, or `text`.
fn emit(json_out: bool, value: &Value, text: &str) {
    if json_out {
        println!(
            "{}",
            serde_json::to_string_pretty(value).unwrap_or_default()
        );
    } else {
        print!("{text}");
        if !text.ends_with('\n') {
            println!();
        }
    }
}

fn fail(json_out: bool, code: u8, message: &str) -> u8 {
    if json_out {
        println!("{}", json!({ "error": message }));
    } else {
        eprintln!("annexr: {message}");
    }
    code
}

pub(crate) async fn run(cli: Cli) -> u8 {
    let json_out = cli.global.json;
    let config = match cli.global.settings() {
        Ok(c) => c,
        Err(e) => return fail(json_out, exit::USAGE, &e),
    };
    let result = match cli.command {
        Command::Startup(args) => startup(config, args, json_out).await,
        Command::Install(args) => install(config, args, json_out).await,
        Command::Shutdown(args) => shutdown(config, args, json_out).await,
        Command::Find(args) => find(config, args, json_out).await,
        Command::Resolve(args) => resolve(config, args, json_out).await,
        Command::Probe(args) => probe(config, args, json_out).await,
        Command::RegisterTitle(args) => register_titles(config, args, json_out).await,
        Command::CheckTitles(args) => check_titles(config, args, json_out).await,
        Command::ExportLdif(args) => export_ldif(config, args, json_out).await,
        Command::ImportLdif(args) => import_ldif(config, args, json_out).await,
        Command::Online(args) => set_installed(config, args, true, json_out).await,
        Command::Offline(args) => set_installed(config, args, false, json_out).await,
        Command::Time(args) => time(config, args, json_out).await,
        Command::Dhcp(args) => dhcp(args, json_out).await,
        Command::Schema(args) => Ok(crate::schema::run(args)),
        Command::Registry(args) => registry(config, args, json_out).await,
        Command::Watch(args) => crate::watch::run(config, args, json_out).await,
    };
    match result {
        Ok(code) => code,
        Err((code, message)) => fail(json_out, code, &message),
    }
}

type Result<T> = std::result::Result<T, (u8, String)>;

fn failed(e: impl std::fmt::Display) -> (u8, String) {
    (exit::FAILED, e.to_string())
}

async fn client(config: &StartupConfig) -> Result<LdapClient> {
    let urls = annexr::ldap_servers(config).await.map_err(failed)?;
    annexr::ldap_client(config, &urls).map_err(failed)
}

/// A title given on the command line, checked against PS3.5 before it goes
/// anywhere: a malformed one is a usage error, not a failed lookup.
fn ae_title(title: &str) -> Result<String> {
    annexr_model::AeTitle::new(title)
        .map(|t| t.to_string())
        // The error names the title already.
        .map_err(|e| (exit::USAGE, e.to_string()))
}

/// The device a command acts on: named on the command line (`DEVICE`),
/// else `--device` or `[device] name`.
fn device_name(config: &StartupConfig, given: Option<String>) -> Result<String> {
    given.or_else(|| config.device.name.clone()).ok_or((
        exit::USAGE,
        "name the device: DEVICE argument, --device or [device] name".into(),
    ))
}

fn read_local(path: &PathBuf) -> Result<annexr_model::Device> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| (exit::USAGE, format!("cannot read {}: {e}", path.display())))?;
    annexr_model::device_from_json(&text)
        .map_err(|e| (exit::USAGE, format!("{}: {e}", path.display())))
}

async fn startup(mut config: StartupConfig, args: StartupArgs, json_out: bool) -> Result<u8> {
    if let Some(name) = args.device {
        config.device.name = Some(name);
    }
    if args.no_install {
        config.ldap.install_if_missing = false;
    }
    if !args.probe_types.is_empty() {
        config.probe.enabled = true;
        config.probe.device_types = args.probe_types;
    }
    let mut builder = Startup::builder().config(config);
    if let Some(path) = &args.local {
        builder = builder.local_description(read_local(path)?);
    }
    if !json_out {
        // Progress on stderr as each step starts and ends.
        builder = builder.observer(Arc::new(|event: &Event| {
            if let Event::StepStarted { step } = event {
                eprintln!("annexr: {} ...", step.name());
            }
        }));
    }
    let outcome = builder.build().run().await;
    let report = &outcome.report;
    let value = serde_json::to_value(report).unwrap_or(Value::Null);
    emit(json_out, &value, &report.to_string());
    Ok(match (report.configured, report.configuration_source) {
        (true, Some(Source::Ldap))
            if report.steps.iter().all(|s| s.outcome != Outcome::Fallback) =>
        {
            exit::OK
        }
        (true, _) => exit::FALLBACK,
        (false, _) => exit::FAILED,
    })
}

async fn install(mut config: StartupConfig, args: InstallArgs, json_out: bool) -> Result<u8> {
    config.ldap.install_if_missing = true;
    config.ldap.ldif_fallback_path = args.ldif_out;
    if let (Some(prefix), Some(digits)) = (args.title_prefix, args.title_digits) {
        config.ldap.title_rule = Some(annexr::TitleRule {
            prefix,
            digits,
            start: 1,
            check_digit: args.check_digit,
        });
    }
    if args.install_as_on_collision.is_some() {
        config.ldap.install_as_on_collision = args.install_as_on_collision;
    }
    let local = read_local(&args.local)?;
    // A name given on the command line or in the settings must be the
    // description's: installing another device than named is refused.
    if let Some(name) = args.device.or_else(|| config.device.name.clone())
        && name != local.name
    {
        return Err((
            exit::USAGE,
            format!(
                "device {name} was named, but {} describes device {}",
                args.local.display(),
                local.name
            ),
        ));
    }
    config.device.name = Some(local.name.clone());
    let outcome = Startup::builder()
        .config(config)
        .local_description(local)
        .build()
        .run()
        .await;
    let report = &outcome.report;
    emit(
        json_out,
        &serde_json::to_value(report).unwrap_or(Value::Null),
        &report.to_string(),
    );
    Ok(match report.configuration_source {
        Some(Source::Ldap) => exit::OK,
        Some(_) => exit::FALLBACK,
        None => exit::FAILED,
    })
}

async fn shutdown(config: StartupConfig, args: ShutdownArgs, json_out: bool) -> Result<u8> {
    let name = device_name(&config, args.device)?;
    if !args.offline {
        emit(
            json_out,
            &json!({ "device": name, "offline": false }),
            &format!(
                "{name}: nothing to do (no --offline); a DHCP lease is released by the process that holds it"
            ),
        );
        return Ok(exit::OK);
    }
    let client = client(&config).await?;
    let target = annexr_ldap::Target::Device(name.clone());
    let done = client.set_installed(&target, false).await.map_err(failed)?;
    emit(
        json_out,
        &json!({ "device": name, "offline": true, "round_trips": done.stats.round_trips }),
        &format!("{name}: marked offline (dicomInstalled FALSE)"),
    );
    Ok(exit::OK)
}

fn resolved_text(ae: &ResolvedAe) -> String {
    let address = match (ae.address(), ae.not_callable()) {
        (Some(a), _) => format!("{a}{}", if a.tls { " (TLS)" } else { "" }),
        (None, Some(why)) => format!("not callable: {why}"),
        (None, None) => "not callable".into(),
    };
    format!(
        "{:<16} device {:<16} {:<24} {}",
        ae.ae_title,
        ae.device_name,
        address,
        if ae.installed {
            "installed"
        } else {
            "NOT installed"
        }
    )
}

/// Lays out `rows` under `header` in columns as wide as their widest cell
/// (the last column is not padded).
fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(&format!("{cell:<width$}"));
        }
        text.trim_end().to_string() + "\n"
    };
    let mut text = line(header.to_vec());
    for row in rows {
        text.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    text
}

/// One row per connection of each AE (an AE without connections gets one
/// row); the AE's columns and why it must not be called on its first row.
fn ae_table(aes: &[ResolvedAe]) -> String {
    let yes_no = |b: bool| if b { "yes" } else { "no" }.to_string();
    let mut rows = Vec::new();
    for ae in aes {
        let note = ae
            .not_callable()
            .map(|why| format!("not callable: {why}"))
            .unwrap_or_default();
        let first = vec![
            ae.ae_title.to_string(),
            ae.device_name.clone(),
            yes_no(ae.installed),
        ];
        let blank = vec![String::new(); first.len()];
        if ae.connections.is_empty() {
            let mut row = first;
            row.extend(["-", "-", "-", "-", "-"].map(String::from));
            row.push(note);
            rows.push(row);
            continue;
        }
        for (i, c) in ae.connections.iter().enumerate() {
            let mut row = if i == 0 { first.clone() } else { blank.clone() };
            row.extend([
                c.name.clone(),
                c.hostname.clone(),
                c.port.map_or("-".into(), |p| p.to_string()),
                yes_no(c.tls),
                yes_no(c.installed),
                if i == 0 { note.clone() } else { String::new() },
            ]);
            rows.push(row);
        }
    }
    table(
        &[
            "AE TITLE",
            "DEVICE",
            "AE INSTALLED",
            "CONNECTION",
            "HOST",
            "PORT",
            "TLS",
            "INSTALLED",
            "NOTE",
        ],
        &rows,
    )
}

/// `annexr --json find`: the query, the duplicate titles, and the
/// library's document of the search (docs/json.md).
#[derive(Serialize)]
struct FindDocument<'a> {
    device_type: Option<&'a str>,
    sop_class: Option<&'a str>,
    role: Option<&'a str>,
    duplicates: Vec<String>,
    #[serde(flatten)]
    found: &'a Counted<FoundAes>,
}

async fn find(config: StartupConfig, args: FindArgs, json_out: bool) -> Result<u8> {
    let client = client(&config).await?;
    let (found, what) = match (&args.device_type, &args.sop_class) {
        (Some(device_type), _) => {
            let mut query = DeviceTypeQuery::new(device_type);
            query.application_cluster = args.cluster.clone();
            query.installed_only = !args.all;
            (
                client.find_aes(&query).await.map_err(failed)?,
                format!("device type {device_type}"),
            )
        }
        (None, Some(uid)) => {
            let query = SopClassQuery {
                sop_class: uid.clone(),
                role: args.role.clone(),
                installed_only: !args.all,
            };
            (
                client.find_aes_by_sop_class(&query).await.map_err(failed)?,
                format!(
                    "SOP class {uid}{}",
                    args.role
                        .as_deref()
                        .map(|r| format!(" as {}", r.to_ascii_uppercase()))
                        .unwrap_or_default()
                ),
            )
        }
        (None, None) => return Err((exit::USAGE, "give --type or --sop-class".into())),
    };
    let result = &found.value;
    let mut text = String::new();
    if result.aes.is_empty() {
        text.push_str(&format!("no AE found for {what}"));
        if args.device_type.is_some() {
            if result.device_types_on_site.is_empty() {
                text.push_str("; no device on this site has a primary device type");
            } else {
                text.push_str(&format!(
                    "; device types on this site: {}",
                    result.device_types_on_site.join(", ")
                ));
            }
        }
        if !args.all {
            text.push_str(" (installed only; --all includes the others)");
        }
        text.push('\n');
    }
    for skipped in &result.skipped {
        text.push_str(&format!("warning: {skipped}\n"));
    }
    // A title on several AEs is a defect of the tree: said, never hidden.
    let mut duplicates: Vec<String> = Vec::new();
    for ae in &result.aes {
        let devices: Vec<&str> = result
            .aes
            .iter()
            .filter(|other| other.ae_title == ae.ae_title)
            .map(|other| other.device_name.as_str())
            .collect();
        let line = format!(
            "AE title {} is used by several AEs (devices {})",
            ae.ae_title,
            devices.join(", ")
        );
        if devices.len() > 1 && !duplicates.contains(&line) {
            text.push_str(&format!("warning: {line}\n"));
            duplicates.push(line);
        }
    }
    if !result.aes.is_empty() {
        text.insert_str(0, &ae_table(&result.aes));
    }
    let document = FindDocument {
        device_type: args.device_type.as_deref(),
        sop_class: args.sop_class.as_deref(),
        role: args.role.as_deref(),
        duplicates,
        found: &found,
    };
    emit(json_out, &to_value(&document), &text);
    Ok(if result.aes.is_empty() {
        exit::NOT_FOUND
    } else {
        exit::OK
    })
}

async fn resolve(config: StartupConfig, args: ResolveArgs, json_out: bool) -> Result<u8> {
    let title = ae_title(&args.ae_title)?;
    let client = client(&config).await?;
    let found = client.resolve_ae(&title).await.map_err(failed)?;
    match found.value {
        Some(ae) => {
            let text = resolved_text(&ae);
            // The library's one document of an AE and its cost, as the C
            // ABI's annexr_resolve_ae gives it (docs/json.md).
            let document = Counted {
                value: ae,
                stats: found.stats,
            };
            emit(json_out, &to_value(&document), &text);
            Ok(exit::OK)
        }
        None => Err((
            exit::NOT_FOUND,
            format!("AE title {} is not configured", args.ae_title),
        )),
    }
}

async fn probe(config: StartupConfig, args: ProbeArgs, json_out: bool) -> Result<u8> {
    let mut targets = Vec::new();
    let mut not_called: Vec<String> = Vec::new();
    if let Some(address) = &args.address {
        let (host, port) = address
            .rsplit_once(':')
            .and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h.to_string(), p)))
            .ok_or((exit::USAGE, format!("--address {address}: not host:port")))?;
        let called = ae_title(
            args.called
                .as_deref()
                .ok_or((exit::USAGE, "--address needs --called".into()))?,
        )?;
        targets.push(annexr_probe::Target::new(
            host,
            port,
            called,
            args.calling.clone(),
        ));
    }
    if !args.ae_titles.is_empty() || args.device_type.is_some() {
        let client = client(&config).await?;
        let mut resolved = Vec::new();
        for title in &args.ae_titles {
            let title = ae_title(title)?;
            match client.resolve_ae(&title).await.map_err(failed)?.value {
                Some(ae) => resolved.push(ae),
                None => {
                    return Err((
                        exit::NOT_FOUND,
                        format!("AE title {title} is not configured"),
                    ));
                }
            }
        }
        if let Some(t) = &args.device_type {
            let mut query = DeviceTypeQuery::new(t);
            query.installed_only = !args.include_offline;
            resolved.extend(client.find_aes(&query).await.map_err(failed)?.value.aes);
        }
        for ae in resolved {
            // Offline AEs and non-acceptors are not called (R.5.2) unless
            // the user insists.
            let address = if args.include_offline {
                ae.any_address()
            } else {
                ae.address()
            };
            match (address, ae.not_callable()) {
                (Some(a), _) => targets.push(annexr_probe::Target::new(
                    a.host,
                    a.port,
                    ae.ae_title.clone(),
                    args.calling.clone(),
                )),
                (None, Some(why)) => not_called.push(format!("{why}; not called")),
                (None, None) => not_called.push(format!(
                    "{} has no connection with a port; not called",
                    ae.ae_title
                )),
            }
        }
    }
    if targets.is_empty() {
        if !not_called.is_empty() {
            let mut message = not_called.join("; ");
            if !args.include_offline {
                message.push_str(" (--include-offline calls it anyway)");
            }
            return Err((exit::FAILED, message));
        }
        return Err((
            exit::USAGE,
            "name AE titles, --type or --address to probe".into(),
        ));
    }
    // Said once: here when others are probed, in the error when none is.
    for line in &not_called {
        if !json_out {
            eprintln!("annexr: {line}");
        }
    }
    let options = annexr_probe::SweepOptions {
        concurrency: 16,
        probe: annexr_probe::ProbeOptions::default().total_timeout(Some(
            std::time::Duration::from_millis(config.probe.timeout_ms),
        )),
    };
    let sweep = annexr_probe::sweep(&targets, &options).await;
    let mut text = String::new();
    for item in &sweep.items {
        match (&item.report, &item.error) {
            (Some(report), _) => text.push_str(&report.to_string()),
            (None, Some(e)) => text.push_str(&format!("{}: {e}\n", item.target.called_ae)),
            (None, None) => {}
        }
    }
    text.push_str(&format!(
        "{} of {} peer(s) all good\n",
        sweep.summary.all_good, sweep.summary.peers
    ));
    for line in &not_called {
        text.push_str(&format!("{line}\n"));
    }
    let mut value = serde_json::to_value(&sweep).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.insert("not_called".into(), json!(not_called));
    }
    emit(json_out, &value, &text);
    Ok(
        if sweep.summary.all_good == sweep.summary.peers && not_called.is_empty() {
            exit::OK
        } else {
            exit::FAILED
        },
    )
}

async fn register_titles(config: StartupConfig, args: TitlesArgs, json_out: bool) -> Result<u8> {
    let titles = args
        .titles
        .iter()
        .map(|t| ae_title(t))
        .collect::<Result<Vec<_>>>()?;
    let client = client(&config).await?;
    let mut results = Vec::new();
    let mut code = exit::OK;
    for title in &titles {
        let outcome = client.register_title(title).await.map_err(failed)?.value;
        let said = match &outcome {
            Registration::Registered => "registered".to_string(),
            Registration::Taken => {
                code = exit::FAILED;
                "taken".to_string()
            }
            Registration::Refused { rc, text } => {
                code = exit::FAILED;
                format!("refused ({})", annexr_ldap::result_text(*rc, text))
            }
        };
        results.push((title.clone(), said));
    }
    let text: String = results
        .iter()
        .map(|(t, s)| format!("{t:<16} {s}\n"))
        .collect();
    emit(
        json_out,
        &json!(
            results
                .iter()
                .map(|(t, s)| json!({"ae_title": t, "result": s}))
                .collect::<Vec<_>>()
        ),
        &text,
    );
    Ok(code)
}

async fn check_titles(config: StartupConfig, args: TitlesArgs, json_out: bool) -> Result<u8> {
    let titles = args
        .titles
        .iter()
        .map(|t| ae_title(t))
        .collect::<Result<Vec<_>>>()?;
    let client = client(&config).await?;
    let titles: Vec<&str> = titles.iter().map(String::as_str).collect();
    let checked = client.check_titles(&titles).await.map_err(failed)?;
    // Titles AEs use without a registry entry: in use all the same, and
    // worth fixing (`annexr registry sync`).
    let unregistered = client.unregistered_titles().await.map_err(failed)?.value;
    let without_entry = |t: &str| {
        unregistered
            .iter()
            .find(|(u, _)| u == t)
            .map(|(_, device)| device.clone())
    };
    let text: String = checked
        .value
        .iter()
        .map(|(t, free)| match (free, without_entry(t)) {
            (true, _) => format!("{t:<16} free\n"),
            (false, Some(device)) => format!(
                "{t:<16} in use by an AE of {device} without a registry entry (annexr registry sync)\n"
            ),
            (false, None) => format!("{t:<16} in use\n"),
        })
        .collect();
    emit(
        json_out,
        &json!(
            checked
                .value
                .iter()
                .map(|(t, free)| json!({
                    "ae_title": t,
                    "free": free,
                    "unregistered_user": without_entry(t),
                }))
                .collect::<Vec<_>>()
        ),
        &text,
    );
    Ok(exit::OK)
}

async fn registry(config: StartupConfig, args: RegistryArgs, json_out: bool) -> Result<u8> {
    let RegistryAction::Sync { apply } = args.action;
    let client = client(&config).await?;
    let synced = client.sync_registry(apply).await.map_err(failed)?.value;
    let mut code = exit::OK;
    let rows: Vec<(String, String, String)> = synced
        .into_iter()
        .map(|synced| {
            let (title, device) = (synced.title, synced.device);
            let said = match synced.registration {
                None => "missing (dry run; --apply adds it)".to_string(),
                Some(Registration::Registered) => "added".to_string(),
                Some(Registration::Taken) => "added meanwhile by someone else".to_string(),
                Some(Registration::Refused { rc, text }) => {
                    code = exit::FAILED;
                    format!("refused ({})", annexr_ldap::result_text(rc, &text))
                }
            };
            (title, device, said)
        })
        .collect();
    let mut text: String = rows
        .iter()
        .map(|(t, d, s)| format!("{t:<16} {s} (AE of {d})\n"))
        .collect();
    if rows.is_empty() {
        text.push_str("every AE title in use has its registry entry\n");
    }
    emit(
        json_out,
        &json!({
            "apply": apply,
            "titles": rows.iter().map(|(t, d, s)| json!({"ae_title": t, "device": d, "result": s})).collect::<Vec<_>>(),
        }),
        &text,
    );
    Ok(code)
}

async fn export_ldif(config: StartupConfig, args: ExportArgs, json_out: bool) -> Result<u8> {
    let name = device_name(&config, args.device)?;
    let client = client(&config).await?;
    let layout = client.locate().await.map_err(failed)?.value;
    match client.load_device(&name).await.map_err(failed)?.value {
        DeviceLookup::Found(device) => {
            let ldif = annexr_model::export_device(&device, &layout);
            emit(json_out, &json!({ "device": name, "ldif": ldif }), &ldif);
            Ok(exit::OK)
        }
        DeviceLookup::NotConfigured { .. } => Err((
            exit::NOT_FOUND,
            format!("device {name} is not configured in LDAP"),
        )),
    }
}

async fn import_ldif(config: StartupConfig, args: ImportArgs, json_out: bool) -> Result<u8> {
    let text = std::fs::read_to_string(&args.file).map_err(|e| {
        (
            exit::USAGE,
            format!("cannot read {}: {e}", args.file.display()),
        )
    })?;
    let entries = annexr_model::parse_entries(&text)
        .map_err(|e| (exit::USAGE, format!("{}: {e}", args.file.display())))?;
    // Each device with its subtree is installed the way R.1.2.2 installs:
    // titles registered first, then the device, connections and AEs.
    let mut devices = Vec::new();
    for device_entry in entries.iter().filter(|e| e.has_object_class("dicomDevice")) {
        let suffix = format!(",{}", device_entry.dn.normalized());
        let subtree: Vec<annexr_model::LdapEntry> = entries
            .iter()
            .filter(|e| e.dn == device_entry.dn || e.dn.normalized().ends_with(&suffix))
            .cloned()
            .collect();
        let device = annexr_model::Device::from_entries(&subtree).map_err(|e| match e {
            // It names its entry already.
            annexr_model::Error::Mapping { .. } => (exit::USAGE, e.to_string()),
            e => (exit::USAGE, format!("{}: {e}", device_entry.dn)),
        })?;
        devices.push(device);
    }
    if devices.is_empty() {
        return Err((
            exit::USAGE,
            format!("{} holds no dicomDevice entry", args.file.display()),
        ));
    }
    let client = client(&config).await?;
    let mut results = Vec::new();
    let mut code = exit::OK;
    for device in devices {
        let name = device.name.clone();
        let outcome = client
            .install(&annexr_ldap::InstallPlan::new(device))
            .await
            .map_err(failed)?;
        let said = match outcome.value {
            annexr_ldap::InstallOutcome::Installed { device, .. } => format!(
                "installed with AE title(s) {}",
                device
                    .network_aes
                    .iter()
                    .map(|ae| ae.ae_title.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            annexr_ldap::InstallOutcome::LdifFallback { rc, text, .. } => {
                code = exit::FAILED;
                format!("refused by the server (rc {rc}: {text})")
            }
        };
        results.push((name, said));
    }
    let text: String = results.iter().map(|(n, s)| format!("{n}: {s}\n")).collect();
    emit(
        json_out,
        &json!(
            results
                .iter()
                .map(|(n, s)| json!({"device": n, "result": s}))
                .collect::<Vec<_>>()
        ),
        &text,
    );
    Ok(code)
}

async fn set_installed(
    config: StartupConfig,
    args: InstalledArgs,
    installed: bool,
    json_out: bool,
) -> Result<u8> {
    let name = device_name(&config, args.device)?;
    let target = match (&args.ae, &args.connection) {
        (Some(ae), _) => annexr_ldap::Target::Ae {
            device: name.clone(),
            // The error names the title already.
            ae_title: ae
                .parse()
                .map_err(|e| (exit::USAGE, format!("--ae: {e}")))?,
        },
        (None, Some(c)) => annexr_ldap::Target::Connection {
            device: name.clone(),
            name: c.clone(),
        },
        (None, None) => annexr_ldap::Target::Device(name.clone()),
    };
    let client = client(&config).await?;
    let done = client
        .set_installed(&target, installed)
        .await
        .map_err(failed)?;
    let what = if installed { "online" } else { "offline" };
    emit(
        json_out,
        &json!({
            "device": name,
            "ae_title": args.ae,
            "connection": if args.ae.is_none() { args.connection.clone() } else { None },
            "installed": installed,
            "round_trips": done.stats.round_trips,
        }),
        &format!(
            "{target}: {what} (dicomInstalled {})",
            if installed { "TRUE" } else { "FALSE" }
        ),
    );
    Ok(exit::OK)
}

async fn time(config: StartupConfig, args: TimeArgs, json_out: bool) -> Result<u8> {
    let mut servers = config.network.ntp_servers.clone();
    servers.extend(config.time.servers.iter().cloned());
    if servers.is_empty() {
        return Err((
            exit::USAGE,
            "name NTP servers with --ntp or [network] ntp_servers".into(),
        ));
    }
    let measured = annexr::measure_time(&servers, args.samples, config.time.timeout_ms)
        .await
        .map_err(failed)?;
    emit(
        json_out,
        &crate::time_view::json(&measured),
        &crate::time_view::text(&measured),
    );
    Ok(if crate::time_view::synchronized(&measured) {
        exit::OK
    } else {
        exit::FAILED
    })
}

async fn dhcp(args: DhcpArgs, json_out: bool) -> Result<u8> {
    let (lease, mac) = annexr::request_lease(&args.interface, None, None, args.inform)
        .await
        .map_err(failed)?;
    let ips = |v: &[std::net::Ipv4Addr]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
    let value = json!({
        "interface": args.interface,
        "mac": mac,
        "address": lease.address.to_string(),
        "server": lease.server_id.map(|a| a.to_string()),
        "subnet_mask": lease.subnet_mask.map(|a| a.to_string()),
        "routers": ips(&lease.routers),
        "dns_servers": ips(&lease.dns_servers),
        "ntp_servers": ips(&lease.ntp_servers),
        "domain_name": lease.domain_name,
        "domain_search": lease.domain_search,
        "host_name": lease.host_name,
        "time_offset": lease.time_offset,
        "posix_tz": lease.posix_tz,
        "tz_name": lease.tz_name,
        "lease_secs": lease.lease_time.map(|d| d.as_secs()),
    });
    let mut text = String::new();
    if let Some(fields) = value.as_object() {
        for (k, v) in fields {
            if !v.is_null() {
                text.push_str(&format!("{k:<14} {v}\n"));
            }
        }
    }
    emit(json_out, &value, &text);
    Ok(exit::OK)
}
