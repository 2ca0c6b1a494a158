//! R.4 steps 4–6 (load this device's description from LDAP and apply it),
//! R.1.2.1 (a pre-configured device not yet marked installed), R.1.2.2 steps
//! 5–9 (install an unconfigured device) and R.1.2.3 (the LDIF file when the
//! server refuses writes); with the fallbacks of R.1.3 when LDAP is down.

use std::path::PathBuf;

use annexr_ldap::{ClientConfig, DeviceLookup, InstallOutcome, InstallPlan, LdapClient};
use annexr_model::{Device, Dn, Layout};

use crate::config::{StartupConfig, millis};
use crate::recorder::{Finished, Recorder};
use crate::report::{Outcome, Source, Step};
use crate::store::StoredState;

/// An LDAP client for the settings (bind, TLS, timeouts, base DN) and the
/// server list (in failover order).
pub fn client(config: &StartupConfig, urls: &[String]) -> Result<LdapClient, crate::Error> {
    client_with_base(config, urls, None)
}

/// Like [`client`], with a base DN remembered from an earlier boot used when
/// the settings name none.
fn client_with_base(
    config: &StartupConfig,
    urls: &[String],
    remembered_base: Option<&str>,
) -> Result<LdapClient, crate::Error> {
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
    if let Some(base) = config.ldap.base_dn.as_deref().or(remembered_base) {
        client_config = client_config.base_dn(base.to_string());
    }
    Ok(LdapClient::new(client_config)?)
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
) -> (Option<Device>, Option<LdapClient>) {
    let running = recorder.begin(Step::Ldap);
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
                let device = install(config, &client, name, local, stored, recorder).await;
                return (device, Some(client));
            }
            _ => {}
        }
    }
    let remembered = stored
        .ldap_base_dn
        .clone()
        .filter(|_| config.ldap.base_dn.is_none());
    let (mut client, mut lookup) = load(config, urls, name, remembered.as_deref()).await;
    let stale = !matches!(&lookup, Ok(c) if matches!(c.value, DeviceLookup::Found(_)));
    if remembered.is_some() && stale {
        // The directory may have moved since the last boot: locate it anew.
        (client, lookup) = load(config, urls, name, None).await;
    }
    if let (Ok(client), Ok(_)) = (&client, &lookup)
        && let Ok(layout) = client.locate().await
    {
        // Remembered for the next boot; the client already knows it.
        stored.ldap_base_dn = Some(layout.value.config_dn.to_string());
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
                    let device = apply_found(config, &client, device, stored, recorder).await;
                    (Some(device), Some(client))
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
                    let device = install(config, &client, name, local, stored, recorder).await;
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

/// Connects and loads `name`, with `base` as the configuration root when given.
async fn load(
    config: &StartupConfig,
    urls: &[String],
    name: &str,
    base: Option<&str>,
) -> (Result<LdapClient, String>, Lookup) {
    let client = if urls.is_empty() {
        Err(LoadFailure {
            message: "no LDAP server is known".into(),
            action: "add an _ldap._tcp SRV record for the site's domain, or set [ldap] urls".into(),
        })
    } else {
        client_with_base(config, urls, base).map_err(|e| LoadFailure {
            message: e.to_string(),
            action: "fix the [ldap] settings".into(),
        })
    };
    let deadline = millis(config.ldap.deadline_ms);
    let lookup = match &client {
        // One deadline for connect, bind, root discovery and the load,
        // over every server of the list.
        Ok(client) => match tokio::time::timeout(deadline, client.load_device(name)).await {
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
        let changes = differences(previous, &device);
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
    // R.1.2.1: a pre-configured description not yet marked installed.
    if !device.installed {
        if config.ldap.install_if_missing {
            let target = annexr_ldap::Target::Device(device.name.clone());
            match client.set_installed(&target, true).await {
                Ok(_) => {
                    device.installed = true;
                    finished = finished.value("dicomInstalled", "TRUE (set by this device)", Source::Local);
                }
                Err(e) => recorder.warn(
                    Step::Configure,
                    format!("the device is configured in LDAP with dicomInstalled FALSE and could not mark itself installed: {e}"),
                    "set dicomInstalled to TRUE on the device entry in LDAP",
                ),
            }
        } else {
            recorder.warn(
                Step::Configure,
                "the device is configured in LDAP but dicomInstalled is FALSE (pre-configured, R.1.2.1)",
                "set dicomInstalled to TRUE when the device is ready for use",
            );
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
    annexr_model::diff::diff(old, new, &layout)
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
    let mut plan = InstallPlan::new(local.clone());
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
                } => {
                    let titles: Vec<String> = device
                        .network_aes
                        .iter()
                        .map(|ae| ae.ae_title.to_string())
                        .collect();
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
                    recorder.configured(Source::Ldap);
                    stored.registered_titles = titles;
                    stored.last_configuration = Some(device.clone());
                    Some(device)
                }
                InstallOutcome::LdifFallback { ldif, rc, text } => {
                    let path = ldif_path(config, name);
                    let written = std::fs::write(&path, ldif);
                    let detail = format!(
                        "the LDAP server refused writes (rc {rc}: {text}); running on the local description"
                    );
                    recorder.finish(
                        running,
                        Finished::new(Outcome::Fallback, detail).round_trips(trips),
                    );
                    match written {
                        Ok(()) => recorder.warn(
                            Step::Configure,
                            format!("device {name} could not register itself; its description was written to {}", path.display()),
                            format!("give {} to the LDAP administrator to load with ldapadd (R.1.2.3)", path.display()),
                        ),
                        Err(e) => recorder.warn(
                            Step::Configure,
                            format!("device {name} could not register itself, and the LDIF could not be written to {}: {e}", path.display()),
                            "set [ldap] ldif_fallback_path to a writable file, or run `annexr export-ldif`",
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
fn install_interrupted(config: &StartupConfig, name: &str) -> bool {
    journal_path(config)
        .and_then(|path| annexr_ldap::InstallJournal::load(&path))
        .is_some_and(|journal| journal.device == name)
}

fn ldif_path(config: &StartupConfig, name: &str) -> PathBuf {
    config.ldap.ldif_fallback_path.clone().unwrap_or_else(|| {
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
        std::env::temp_dir().join(format!("annexr-{safe}.ldif"))
    })
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
            "last applied configuration from the store",
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
        format!("LDAP is unavailable ({why}); running on the {detail}"),
        format!("{action}; changes made in LDAP take effect at the next successful startup"),
    );
    recorder.configured(source);
    Some(device)
}
