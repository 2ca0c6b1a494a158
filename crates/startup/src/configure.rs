//! R.4 steps 4–6 (load this device's description from LDAP and apply it),
//! R.1.2.1 (a pre-configured device not yet marked installed), R.1.2.2 steps
//! 5–9 (install an unconfigured device) and R.1.2.3 (the LDIF file when the
//! server refuses writes); with the fallbacks of R.1.3 when LDAP is down.

use std::path::PathBuf;

use annexr_ldap::{ClientConfig, DeviceLookup, InstallOutcome, InstallPlan, LdapClient};
use annexr_model::{Device, Dn, Layout};

use crate::config::{StartupConfig, millis};
use crate::recorder::{Finished, Recorder, Running};
use crate::report::{Outcome, Source, Step};
use crate::store::{RememberedServer, StoredState};

/// An LDAP client for the settings (bind, TLS, timeouts, base DN) and the
/// server list (in failover order).
pub fn client(config: &StartupConfig, urls: &[String]) -> Result<LdapClient, crate::Error> {
    Ok(LdapClient::new(client_config(config, urls)?)?)
}

/// The LDAP client settings for the startup settings and the server list
/// (also for the blocking twin, [`crate::blocking::Runner::ldap_client`]).
pub(crate) fn client_config(
    config: &StartupConfig,
    urls: &[String],
) -> Result<ClientConfig, crate::Error> {
    let mut client_config = ClientConfig::with_servers(urls.to_vec())
        .starttls(config.ldap.starttls)
        .allow_plaintext_bind(config.ldap.allow_plaintext_bind)
        .follow_referrals(config.ldap.follow_referrals)
        .timeouts(
            millis(config.ldap.timeout_ms),
            millis(config.ldap.timeout_ms),
        );
    if let Some(dn) = &config.ldap.bind_dn {
        // An error for a missing or empty password, before any packet.
        let password = config.ldap_password()?.unwrap_or_default();
        client_config = client_config.simple_bind(dn.clone(), password);
    }
    if let Some(ca) = &config.ldap.ca_file {
        client_config = client_config.ca_file(ca.clone());
    }
    if let Some(us) = config.time.tls_clock_correction_us {
        client_config =
            client_config.clock_correction(annexr_ldap::ClockCorrection::from_micros(us));
    }
    if let Some(base) = config.ldap.base_dn.as_deref() {
        client_config = client_config.base_dn(base.to_string());
    }
    Ok(client_config)
}

/// Why the LDAP read failed, and what an administrator can do about it.
#[derive(Debug, Clone)]
struct LoadFailure {
    message: String,
    action: String,
}

impl From<&annexr_ldap::Error> for LoadFailure {
    fn from(e: &annexr_ldap::Error) -> Self {
        LoadFailure {
            message: e.to_string(),
            action: e.action().to_string(),
        }
    }
}

/// True when LDAP to `url` uses TLS (`ldaps://`, or StartTLS: asked for,
/// or implied by a password bind), so certificates are checked against
/// the clock.
pub(crate) fn url_uses_tls(config: &StartupConfig, url: &str) -> bool {
    url.starts_with("ldaps://")
        || config.ldap.starttls
        || (config.ldap.bind_dn.is_some() && !config.ldap.allow_plaintext_bind)
}

/// The host of an `ldap://` or `ldaps://` URL.
pub(crate) fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split_once(']')?.0,
        None => rest.rsplit_once(':').map_or(rest, |(h, _)| h),
    };
    (!host.is_empty()).then_some(host)
}

/// The server that served the last boot, asked at once (before DNS SRV
/// has answered): connect, bind, and one subtree search under the
/// remembered configuration root.
pub(crate) struct FastLoad {
    /// TLS checked its certificate against the clock before the time step
    /// had decided (no password was sent: only anonymous reads go early).
    pub checked_before_time: bool,
    client: Result<LdapClient, String>,
    lookup: Lookup,
}

impl FastLoad {
    /// The device was found under the remembered root.
    pub fn found(&self) -> bool {
        matches!(&self.lookup, Ok(c) if matches!(c.value, DeviceLookup::Found(_)))
    }

    /// Why it did not find the device, in words.
    pub fn failure(&self) -> String {
        match &self.lookup {
            Ok(_) => "the device is not under the remembered configuration root".into(),
            Err(f) => f.message.clone(),
        }
    }
}

/// Asks the remembered server (see [`FastLoad`]).
pub(crate) async fn fast_load(
    config: &StartupConfig,
    server: &RememberedServer,
    root: &str,
    name: &str,
    time_decided: bool,
) -> FastLoad {
    if let Some(host) = url_host(&server.url)
        && !server.addresses.is_empty()
    {
        // The site's DNS resolved it at the last boot; the OS resolver may
        // not know it. TLS still verifies the name.
        annexr_ldap::remember_addresses(host, &server.addresses);
    }
    let (client, lookup) = load(config, std::slice::from_ref(&server.url), name, Some(root)).await;
    FastLoad {
        checked_before_time: !time_decided && url_uses_tls(config, &server.url),
        client,
        lookup,
    }
}

/// How the `ldap` step starts.
pub(crate) enum LdapStart {
    /// From nothing.
    Fresh,
    /// The step began with the fast path, whose result is not used.
    Begun(Running),
    /// With the fast path's result.
    Fast(Running, Box<FastLoad>),
}

/// Loads, installs or falls back; returns the configuration the device runs
/// with, and the LDAP client when the server answered (later steps reuse its
/// connection). Records the `ldap` and `configure` steps.
pub(crate) async fn run(
    config: &StartupConfig,
    name: &str,
    urls: &[String],
    local: Option<&Device>,
    stored: &mut StoredState,
    recorder: &Recorder,
    start: LdapStart,
) -> (Option<Device>, Option<LdapClient>) {
    let (running, fast) = match start {
        LdapStart::Fresh => (recorder.begin(Step::Ldap), None),
        LdapStart::Begun(running) => (running, None),
        LdapStart::Fast(running, fast) => {
            let FastLoad { client, lookup, .. } = *fast;
            (running, Some((client, lookup)))
        }
    };
    if config.ldap.allow_plaintext_bind && config.ldap.bind_dn.is_some() && !config.ldap.starttls {
        recorder.warn(
            Step::Ldap,
            "allow_plaintext_bind is set: the LDAP password may travel without TLS",
            "use ldaps:// or StartTLS and remove allow_plaintext_bind",
        );
    }
    if local.is_some() && install_interrupted(config, name) {
        // The device entry may exist without its AEs: finish the install
        // rather than take the half-made description for the configuration.
        match client(config, urls) {
            Ok(client) if !urls.is_empty() => {
                recorder.finish(
                    running,
                    Finished::new(
                        Outcome::Done,
                        format!("resuming the interrupted install of {name}"),
                    ),
                );
                let device = install(config, &client, name, local, stored, recorder, false).await;
                return (device, Some(client));
            }
            _ => {}
        }
    }
    // The configured root, else the one found at the last boot: searched
    // directly, without locating it first.
    let root = config
        .ldap
        .base_dn
        .clone()
        .or_else(|| stored.ldap_base_dn.clone());
    let (mut client, mut lookup) = match fast {
        Some(fast) => fast,
        None => load(config, urls, name, root.as_deref()).await,
    };
    let stale = !matches!(&lookup, Ok(c) if matches!(c.value, DeviceLookup::Found(_)));
    if root.is_some() && stale {
        // Not under that root: the directory may have moved since the last
        // boot, or the device is new. Locate the root (and check a
        // configured one holds cn=Devices) before believing either.
        (client, lookup) = load(config, urls, name, None).await;
    }
    if let (Ok(client), Ok(_)) = (&client, &lookup) {
        if let Ok(layout) = client.locate().await {
            // Remembered for the next boot; the client already knows it.
            stored.ldap_base_dn = Some(layout.value.config_dn.to_string());
        }
        // Connected already: this only names the server that answered.
        if let Ok(server) = client.connect().await {
            let addresses = match &stored.ldap_server {
                Some(kept) if kept.url == server.value => kept.addresses.clone(),
                _ => Vec::new(),
            };
            stored.ldap_server = Some(RememberedServer {
                url: server.value,
                addresses,
            });
        }
    }
    match lookup {
        Ok(counted) => {
            let trips = counted.stats.round_trips;
            match counted.value {
                DeviceLookup::Found(device) => {
                    recorder.finish(
                        running,
                        Finished::new(
                            Outcome::Done,
                            format!(
                                "device {name}: {} AE(s), {} connection(s)",
                                device.network_aes.len(),
                                device.connections.len()
                            ),
                        )
                        .round_trips(trips)
                        .value("device", name, Source::Ldap),
                    );
                    let Ok(client) = client else {
                        return (None, None);
                    };
                    let device =
                        adopt_or_not(config, &client, name, device, local, stored, recorder).await;
                    (device, Some(client))
                }
                DeviceLookup::NotConfigured { .. } => {
                    recorder.finish(
                        running,
                        Finished::new(
                            Outcome::Done,
                            format!(
                                "device {name} is not in LDAP (unconfigured device, R.1.2.2 step 4)"
                            ),
                        )
                        .round_trips(trips),
                    );
                    let Ok(client) = client else {
                        return (None, None);
                    };
                    if let Some(device) = renamed(&client, name, local, recorder).await {
                        let device = apply_found(config, &client, device, stored, recorder).await;
                        return (Some(device), Some(client));
                    }
                    let device =
                        install(config, &client, name, local, stored, recorder, false).await;
                    (device, Some(client))
                }
            }
        }
        Err(failure) => {
            // A refused or cut-short read is no "unconfigured device": it
            // never starts an install.
            recorder.finish(
                running,
                Finished::new(
                    Outcome::Fallback,
                    format!("LDAP unavailable: {}", failure.message),
                ),
            );
            (
                offline(
                    name,
                    local,
                    stored,
                    recorder,
                    &failure.message,
                    &failure.action,
                ),
                None,
            )
        }
    }
}

type Lookup = Result<annexr_ldap::Counted<DeviceLookup>, LoadFailure>;

/// Connects and loads `name`: directly under `root` when given (not found
/// there is only "not under this root"), else under the root the client
/// locates (or the configured one, verified).
async fn load(
    config: &StartupConfig,
    urls: &[String],
    name: &str,
    root: Option<&str>,
) -> (Result<LdapClient, String>, Lookup) {
    let root = match root.map(Dn::parse).transpose() {
        Ok(root) => root,
        Err(e) => {
            let failure = LoadFailure {
                message: format!("the configuration root is not a DN: {e}"),
                action: "fix [ldap] base_dn".into(),
            };
            return (Err(failure.message.clone()), Err(failure));
        }
    };
    let client = if urls.is_empty() {
        Err(LoadFailure {
            message: "no LDAP server is known".into(),
            action: "add an _ldap._tcp SRV record for the site's domain, or set [ldap] urls".into(),
        })
    } else {
        client(config, urls).map_err(|e| LoadFailure {
            message: e.to_string(),
            action: "fix the [ldap] settings".into(),
        })
    };
    let deadline = millis(config.ldap.deadline_ms);
    let lookup = match &client {
        // One deadline for connect, bind, root discovery and the load,
        // over every server of the list.
        Ok(client) => match tokio::time::timeout(deadline, async {
            match &root {
                Some(root) => client.load_device_at(root, name).await,
                None => client.load_device(name).await,
            }
        })
        .await
        {
            Ok(r) => r.map_err(|e| LoadFailure::from(&e)),
            Err(_) => Err(LoadFailure {
                message: format!(
                    "no answer from the LDAP servers within {} ms (the LDAP deadline)",
                    config.ldap.deadline_ms
                ),
                action:
                    "check that the LDAP servers answer; raise [ldap] deadline_ms if they are slow"
                        .into(),
            }),
        },
        Err(e) => Err(e.clone()),
    };
    let client = client.map_err(|e| e.message);
    (client, lookup)
}

/// Why `found` is not this device: its serial number or device UID differ
/// from the local description's (only compared where both have one).
fn identity_mismatch(local: &Device, found: &Device) -> Option<String> {
    let differ = |ours: &Option<String>, theirs: &Option<String>| match (ours, theirs) {
        (Some(a), Some(b)) if a.trim() != b.trim() => Some((a.clone(), b.clone())),
        _ => None,
    };
    if let Some((ours, theirs)) = differ(&local.device_serial_number, &found.device_serial_number) {
        return Some(format!(
            "dicomDeviceSerialNumber is {theirs} in LDAP, {ours} on this device"
        ));
    }
    differ(&local.device_uid, &found.device_uid)
        .map(|(ours, theirs)| format!("dicomDeviceUID is {theirs} in LDAP, {ours} on this device"))
}

/// R.1.2.2 step 7 / R.4 step 4: a device of this name was found. It is
/// adopted only when it is this device (same serial number / device UID)
/// and complete; a half-made entry (no AEs while the local description has
/// some) is completed; another device's entry is a name collision, reported
/// and not adopted (installed under another name only when configured).
async fn adopt_or_not(
    config: &StartupConfig,
    client: &LdapClient,
    name: &str,
    device: Device,
    local: Option<&Device>,
    stored: &mut StoredState,
    recorder: &Recorder,
) -> Option<Device> {
    let Some(local) = local else {
        if device.network_aes.is_empty() {
            recorder.warn(
                Step::Configure,
                format!("device {name} in LDAP has no AEs (an interrupted install?), and there is no local description to complete it"),
                format!("add the AEs of {name} in LDAP, or give the device its local description"),
            );
        }
        return Some(apply_found(config, client, device, stored, recorder).await);
    };
    if let Some(why) = identity_mismatch(local, &device) {
        return collision(config, client, name, local, &why, stored, recorder).await;
    }
    if device.network_aes.is_empty() && !local.network_aes.is_empty() {
        recorder.warn(
            Step::Configure,
            format!("device {name} in LDAP has no AEs while this device has {} (an interrupted install); completing it", local.network_aes.len()),
            "none: the missing entries are being added",
        );
        return install(config, client, name, Some(local), stored, recorder, true).await;
    }
    Some(apply_found(config, client, device, stored, recorder).await)
}

/// Another device holds this device's name.
async fn collision(
    config: &StartupConfig,
    client: &LdapClient,
    name: &str,
    local: &Device,
    why: &str,
    stored: &mut StoredState,
    recorder: &Recorder,
) -> Option<Device> {
    let Some(other) = config.ldap.install_as_on_collision.as_deref() else {
        let running = recorder.begin(Step::Configure);
        recorder.finish(
            running,
            Finished::new(
                Outcome::Fallback,
                format!("device {name} in LDAP is another device ({why}); not adopted, running on the local description"),
            ),
        );
        recorder.warn(
            Step::Configure,
            format!("name collision: device {name} in LDAP is another device ({why}); its configuration was not adopted"),
            "give this device another name ([device] name), rename or remove the other entry in LDAP, or set [ldap] install_as_on_collision",
        );
        recorder.configured(Source::Local);
        return Some(local.clone());
    };
    recorder.warn(
        Step::Configure,
        format!("name collision: device {name} in LDAP is another device ({why}); using the name {other} ([ldap] install_as_on_collision)"),
        format!("the device is now {other} in LDAP: tell the site's administrator"),
    );
    let mut renamed = local.clone();
    renamed.name = other.to_string();
    match client.load_device(other).await.map(|c| c.value) {
        Ok(DeviceLookup::Found(d)) if identity_mismatch(local, &d).is_none() => {
            Some(apply_found(config, client, d, stored, recorder).await)
        }
        Ok(DeviceLookup::Found(_)) => {
            recorder.warn(
                Step::Configure,
                format!("device {other} in LDAP is another device too; not adopted"),
                "choose another [ldap] install_as_on_collision name",
            );
            recorder.configured(Source::Local);
            Some(local.clone())
        }
        Ok(DeviceLookup::NotConfigured { .. }) => {
            install(
                config,
                client,
                other,
                Some(&renamed),
                stored,
                recorder,
                false,
            )
            .await
        }
        Err(e) => {
            recorder.warn(
                Step::Configure,
                format!("device {other} could not be loaded: {e}"),
                "check the LDAP server; the next startup retries",
            );
            recorder.configured(Source::Local);
            Some(local.clone())
        }
    }
}

/// H.1.6: the device's name is not in LDAP; the site may have renamed it.
/// Found by its serial number when exactly one device has it and it is
/// this device (same device UID where both have one).
async fn renamed(
    client: &LdapClient,
    name: &str,
    local: Option<&Device>,
    recorder: &Recorder,
) -> Option<Device> {
    let local = local?;
    let serial = local.device_serial_number.as_deref()?;
    let names = match client.find_devices_by_serial(serial).await {
        Ok(found) => found.value,
        Err(e) => {
            recorder.warn(
                Step::Configure,
                format!("device {name} is not in LDAP and the search by serial number {serial} failed: {e}"),
                "check the LDAP account's read access to dicomDeviceSerialNumber",
            );
            return None;
        }
    };
    match names.as_slice() {
        [only] => {
            let found = match client.load_device(only).await {
                Ok(found) => found.value.found()?,
                Err(e) => {
                    recorder.warn(
                        Step::Configure,
                        format!("device {only} has this device's serial number {serial} but cannot be loaded: {e}"),
                        format!("repair device {only} in LDAP (e.g. connection references left by a rename)"),
                    );
                    return None;
                }
            };
            if identity_mismatch(local, &found).is_some() {
                return None;
            }
            recorder.warn(
                Step::Configure,
                format!("device {name} was renamed {only} in LDAP (found by serial number {serial}, H.1.6); using {only}"),
                format!("none; this device now calls itself {only}"),
            );
            Some(found)
        }
        [] => None,
        many => {
            recorder.warn(
                Step::Configure,
                format!(
                    "devices {} in LDAP all have serial number {serial}",
                    many.join(", ")
                ),
                "give each device its own dicomDeviceSerialNumber in LDAP",
            );
            None
        }
    }
}

/// R.4 steps 5–6: confirm the stored configuration matches, apply LDAP's.
async fn apply_found(
    config: &StartupConfig,
    client: &LdapClient,
    mut device: Device,
    stored: &mut StoredState,
    recorder: &Recorder,
) -> Device {
    let running = recorder.begin(Step::Configure);
    let mut finished = Finished::new(Outcome::Done, "configuration from LDAP applied");
    if let Some(previous) = &stored.last_configuration {
        // Equal is the common boot, and much cheaper to tell than a diff.
        let changes = if *previous == device {
            Vec::new()
        } else {
            differences(previous, &device)
        };
        if changes.is_empty() {
            finished.detail = "LDAP matches the stored configuration".into();
        } else {
            finished.detail = format!(
                "configuration from LDAP applied; {} change(s) since the last boot",
                changes.len()
            );
            for change in changes.iter().take(20) {
                finished = finished.value("changed", change.clone(), Source::Ldap);
            }
        }
    }
    // The installed flag is the site's (R.1.2, R.5.2): TRUE is set back only
    // where this device itself set FALSE at shutdown, or where the site
    // opted in with [ldap] activate_on_boot.
    if device.installed {
        stored.installed_false_at_shutdown = false;
    } else {
        let by_shutdown = stored.installed_false_at_shutdown;
        let reason = if by_shutdown {
            Some("this device set it FALSE at its last shutdown")
        } else if config.ldap.activate_on_boot {
            Some("[ldap] activate_on_boot = true")
        } else {
            None
        };
        match reason {
            Some(reason) => {
                let target = annexr_ldap::Target::Device(device.name.clone());
                match client.set_installed(&target, true).await {
                    Ok(_) => {
                        device.installed = true;
                        stored.installed_false_at_shutdown = false;
                        finished = finished.value(
                            "dicomInstalled",
                            format!("TRUE (set by this device: {reason})"),
                            Source::Local,
                        );
                        if !by_shutdown {
                            recorder.warn(
                                Step::Configure,
                                "dicomInstalled was FALSE in LDAP and this device set it TRUE because [ldap] activate_on_boot = true",
                                "turn activate_on_boot off to leave the installed flag to the site",
                            );
                        }
                    }
                    Err(e) => recorder.warn(
                        Step::Configure,
                        format!("dicomInstalled is FALSE in LDAP and this device could not set it TRUE ({reason}): {e}"),
                        "set dicomInstalled to TRUE on the device entry in LDAP",
                    ),
                }
            }
            None => {
                finished = finished.value(
                    "dicomInstalled",
                    "FALSE (set by the site; left as is)",
                    Source::Ldap,
                );
                recorder.warn(
                    Step::Configure,
                    format!("device {} is marked not installed in LDAP (dicomInstalled FALSE, set by the site); it stays offline and peers will not call it", device.name),
                    "set dicomInstalled to TRUE on the device entry when the device is ready for use (R.1.2)",
                );
            }
        }
    }
    recorder.finish(running, finished);
    recorder.configured(Source::Ldap);
    stored.last_configuration = Some(device.clone());
    device
}

/// The differences between two descriptions of the device, in words.
fn differences(old: &Device, new: &Device) -> Vec<String> {
    let Ok(config_dn) = Dn::parse("cn=DICOM Configuration") else {
        return Vec::new();
    };
    let layout = Layout::at(config_dn);
    annexr_model::diff(old, new, &layout)
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// R.1.2.2 steps 5–9, or R.1.2.3 when the server refuses writes.
async fn install(
    config: &StartupConfig,
    client: &LdapClient,
    name: &str,
    local: Option<&Device>,
    stored: &mut StoredState,
    recorder: &Recorder,
    complete_existing: bool,
) -> Option<Device> {
    let running = recorder.begin(Step::Configure);
    let Some(local) = local else {
        recorder.finish(
            running,
            Finished::new(Outcome::Failed, "no local description to install"),
        );
        recorder.warn(
            Step::Configure,
            format!("device {name} is not configured in LDAP and has no local description"),
            format!("create device {name} in LDAP (see annexr export-ldif), or give the device its local description"),
        );
        return None;
    };
    if !config.ldap.install_if_missing {
        recorder.finish(
            running,
            Finished::new(
                Outcome::Fallback,
                "install disabled; running on the local description",
            ),
        );
        recorder.warn(
            Step::Configure,
            format!("device {name} is not configured in LDAP; installing is disabled"),
            "run `annexr install` or enable [ldap] install_if_missing",
        );
        recorder.configured(Source::Local);
        return Some(local.clone());
    }
    let mut plan = InstallPlan::new(local.clone()).complete_existing(complete_existing);
    if let Some(rule) = &config.ldap.title_rule {
        plan = plan.site_rule(rule.policy());
    }
    // R.2 stability: the titles this device held before are reclaimed first.
    for (index, title) in stored.registered_titles.iter().enumerate() {
        if index < local.network_aes.len()
            && let Ok(title) = annexr_model::AeTitle::new(title)
        {
            plan = plan.reclaim(index, title);
        }
    }
    if let Some(journal) = journal_path(config) {
        plan = plan.journal(journal);
    }
    match client.install(&plan).await {
        Ok(counted) => {
            let trips = counted.stats.round_trips;
            match counted.value {
                InstallOutcome::Installed {
                    device,
                    attempts,
                    resumed,
                    granted,
                } => {
                    // In the local description's order (the stored device
                    // lists AEs in the server's): the store reclaims by index.
                    let titles: Vec<String> = granted.iter().map(ToString::to_string).collect();
                    let mut finished = Finished::new(
                        Outcome::Done,
                        format!(
                            "installed as {} with AE title(s) {}{}",
                            device.name,
                            titles.join(", "),
                            if resumed {
                                " (resumed an interrupted install)"
                            } else {
                                ""
                            }
                        ),
                    )
                    .round_trips(trips);
                    for (title, tries) in titles.iter().zip(attempts) {
                        finished = finished.value(
                            "ae-title",
                            format!("{title} ({tries} attempt(s))"),
                            Source::Ldap,
                        );
                    }
                    recorder.finish(running, finished);
                    for (ae, granted) in local.network_aes.iter().zip(&titles) {
                        if ae.ae_title.as_str() != granted {
                            recorder.warn(
                                Step::Configure,
                                format!("AE title {} is taken on this site; this device's AE was granted {granted}", ae.ae_title),
                                format!("tell the peers that call this device or that it calls (PACS, worklist, modalities) its new AE title {granted}"),
                            );
                        }
                    }
                    recorder.configured(Source::Ldap);
                    stored.registered_titles = titles;
                    stored.last_configuration = Some(device.clone());
                    Some(device)
                }
                InstallOutcome::LdifFallback { ldif, rc, text } => {
                    let written = write_ldif(config, name, &ldif);
                    let detail = format!(
                        "the LDAP server refused writes ({}); running on the local description",
                        annexr_ldap::result_text(rc, &text)
                    );
                    let mut finished = Finished::new(Outcome::Fallback, detail).round_trips(trips);
                    if let Ok(path) = &written {
                        finished =
                            finished.value("ldif-file", path.display().to_string(), Source::Local);
                    }
                    recorder.finish(running, finished);
                    match written {
                        Ok(path) => recorder.warn(
                            Step::Configure,
                            format!("device {name} could not register itself; its description was written to {}", path.display()),
                            format!("give {} to the LDAP administrator to load with ldapadd (R.1.2.3)", path.display()),
                        ),
                        Err(why) => recorder.warn(
                            Step::Configure,
                            format!("device {name} could not register itself, and its LDIF was not written: {why}"),
                            "set [store] path or [ldap] ldif_fallback_path to a writable place, or run `annexr export-ldif`",
                        ),
                    }
                    recorder.configured(Source::Local);
                    Some(local.clone())
                }
            }
        }
        Err(e) => {
            recorder.finish(
                running,
                Finished::new(Outcome::Fallback, format!("install failed: {e}")),
            );
            recorder.warn(
                Step::Configure,
                format!("device {name} could not be installed: {e}"),
                "check the LDAP account's write access to the DICOM configuration; the next startup retries",
            );
            recorder.configured(Source::Local);
            Some(local.clone())
        }
    }
}

/// The install journal lives beside the store: a killed install resumes
/// from it at the next boot.
fn journal_path(config: &StartupConfig) -> Option<PathBuf> {
    config.store.path.as_ref().map(|store| {
        let mut journal = store.clone().into_os_string();
        journal.push(".install-journal");
        PathBuf::from(journal)
    })
}

/// True when an install of `name` was interrupted: its journal is still
/// there (a finished install removes it).
pub(crate) fn install_interrupted(config: &StartupConfig, name: &str) -> bool {
    journal_path(config)
        .and_then(|path| annexr_ldap::InstallJournal::load(&path))
        .is_some_and(|journal| journal.device == name)
}

/// Writes the LDIF of R.1.2.3 to `[ldap] ldif_fallback_path`, or else
/// beside the store (`<store>.<device>.ldif`); never to a fixed name in a
/// shared directory. The file is created new (`O_EXCL`, mode 0600), so a
/// planted file or symlink is never followed or truncated; when the name is
/// taken, a time-stamped name beside it is used. Returns the path written.
fn write_ldif(config: &StartupConfig, name: &str, ldif: &str) -> Result<PathBuf, String> {
    use std::io::Write;
    let base = match (&config.ldap.ldif_fallback_path, &config.store.path) {
        (Some(path), _) => path.clone(),
        (None, Some(store)) => {
            let safe: String = name
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let mut path = store.clone().into_os_string();
            path.push(format!(".{safe}.ldif"));
            PathBuf::from(path)
        }
        (None, None) => {
            return Err("neither [ldap] ldif_fallback_path nor [store] path is set".into());
        }
    };
    let stamp = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let mut candidates = vec![base.clone()];
    candidates.extend((0..10).map(|n| {
        let mut path = base.clone().into_os_string();
        path.push(if n == 0 {
            format!(".{stamp}")
        } else {
            format!(".{stamp}-{n}")
        });
        PathBuf::from(path)
    }));
    for path in candidates {
        match crate::store::create_private(&path, true) {
            Ok(mut file) => {
                return file
                    .write_all(ldif.as_bytes())
                    .and_then(|()| file.sync_all())
                    .map(|()| path.clone())
                    .map_err(|e| format!("{}: {e}", path.display()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    Err(format!(
        "{} and the time-stamped names beside it exist",
        base.display()
    ))
}

/// R.1.3: LDAP is unreachable; the device starts from the last applied
/// configuration, or its local description.
fn offline(
    name: &str,
    local: Option<&Device>,
    stored: &StoredState,
    recorder: &Recorder,
    why: &str,
    action: &str,
) -> Option<Device> {
    let running = recorder.begin(Step::Configure);
    let cached = stored
        .last_configuration
        .as_ref()
        .filter(|d| d.name == name);
    let (device, source, detail) = match (cached, local) {
        (Some(d), _) => (
            d.clone(),
            Source::Cached,
            "the last applied configuration from the store",
        ),
        (None, Some(d)) => (
            d.clone(),
            Source::Local,
            "the local description (nothing stored yet)",
        ),
        (None, None) => {
            recorder.finish(
                running,
                Finished::new(Outcome::Failed, "no configuration available"),
            );
            recorder.warn(
                Step::Ldap,
                format!("LDAP is unavailable ({why}) and device {name} has no stored or local configuration"),
                format!("{action}, then restart the device"),
            );
            return None;
        }
    };
    recorder.finish(
        running,
        Finished::new(Outcome::Fallback, detail).value("configuration", detail, source),
    );
    recorder.warn(
        Step::Ldap,
        format!("LDAP is unavailable ({why}); running on {detail}"),
        format!("{action}; changes made in LDAP take effect at the next successful startup"),
    );
    recorder.configured(source);
    Some(device)
}
#[cfg(test)]
mod ldif_fallback_tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn ldif_fallback_goes_beside_the_store_new_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mut config = StartupConfig::default();
        config.store.path = Some(dir.path().join("state.json"));
        let first = write_ldif(&config, "CT 7", "dn: first\n").unwrap();
        assert_eq!(first, dir.path().join("state.json.CT_7.ldif"));
        let mode = std::fs::metadata(&first).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // A second boot does not truncate the first file.
        let second = write_ldif(&config, "CT 7", "dn: second\n").unwrap();
        assert_ne!(second, first);
        assert_eq!(second.parent(), first.parent());
        assert_eq!(std::fs::read_to_string(&first).unwrap(), "dn: first\n");
        assert_eq!(std::fs::read_to_string(&second).unwrap(), "dn: second\n");
    }

    #[cfg(unix)]
    #[test]
    fn ldif_fallback_does_not_follow_a_planted_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let path = dir.path().join("device.ldif");
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let mut config = StartupConfig::default();
        config.ldap.ldif_fallback_path = Some(path.clone());
        let written = write_ldif(&config, "MR-1", "dn: x\n").unwrap();
        assert_ne!(written, path);
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    }

    #[test]
    fn ldif_fallback_without_a_place_is_an_error_not_tmp() {
        let err = write_ldif(&StartupConfig::default(), "MR-1", "dn: x\n").unwrap_err();
        assert!(err.contains("[store] path"), "{err}");
    }
}
