//! What a handle holds and does, in safe Rust: the C entry points in
//! `lib.rs` check their pointers and strings, then call in here.

use std::sync::Arc;
use std::time::Duration;

use annexr::blocking::Runner;
use annexr::{Event, ShutdownReport, Startup, StartupConfig, StartupOutcome, StartupReport};
use annexr_ldap::blocking::LdapClient;
use annexr_ldap::{Counted, DeviceTypeQuery, FoundAes, ResolvedAe};
use annexr_model::Device;
use annexr_probe::blocking::Prober;
use annexr_probe::{ProbeOptions, Target};
use serde::Serialize;

use crate::error::FfiError;

/// Receives each progress event as JSON.
pub(crate) type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// The calling AE title of probes when neither the caller nor the device
/// names one.
const DEFAULT_CALLING_AE: &str = "ANNEXR";

/// How long `shutdown` waits for the runner's tasks (a lookup in a
/// blocking thread) before leaving them.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// The state behind one `AnnexrStartup` handle.
pub(crate) struct Session {
    config: StartupConfig,
    local: Option<Device>,
    progress: Option<Progress>,
    /// The blocking facade of the sequence, started on the first call that
    /// needs it, so that creating a handle starts no threads.
    runner: Option<Runner>,
    /// The blocking prober, started on the first probe.
    prober: Option<Prober>,
    shut_down: bool,
    /// What the last run found; kept after shutdown.
    last: Option<LastRun>,
    /// The last run's outcome while the device runs: it keeps the DHCP
    /// lease and the ongoing time synchronization (on the runner) until
    /// shutdown.
    live: Option<StartupOutcome>,
    /// The blocking lookup client, with the server list it was made for.
    ldap: Option<(Vec<String>, LdapClient)>,
}

type Result<T> = std::result::Result<T, FfiError>;

impl Session {
    /// A session for `config`.
    pub(crate) fn new(config: StartupConfig) -> Self {
        Session {
            config,
            local: None,
            progress: None,
            runner: None,
            prober: None,
            shut_down: false,
            last: None,
            live: None,
            ldap: None,
        }
    }

    fn check_live(&self, function: &'static str) -> Result<()> {
        if self.shut_down {
            return Err(FfiError::State {
                function,
                cause: "the handle was shut down; only annexr_startup_free may follow".into(),
            });
        }
        Ok(())
    }

    fn runner(&mut self, function: &'static str) -> Result<&Runner> {
        self.check_live(function)?;
        started(&mut self.runner, || {
            Runner::new().map_err(|source| FfiError::Annexr { function, source })
        })
    }

    fn prober(&mut self, function: &'static str) -> Result<&Prober> {
        self.check_live(function)?;
        started(&mut self.prober, || {
            Prober::new().map_err(|source| FfiError::Probe { function, source })
        })
    }

    /// Parses, validates and keeps the local description.
    pub(crate) fn set_local_device(&mut self, function: &'static str, json: &str) -> Result<()> {
        self.check_live(function)?;
        let device = annexr_model::device_from_json(json).map_err(|e| FfiError::DeviceJson {
            function,
            cause: e.to_string(),
        })?;
        device.validate().map_err(|e| FfiError::DeviceJson {
            function,
            cause: e.to_string(),
        })?;
        self.local = Some(device);
        Ok(())
    }

    /// Sets or clears the progress receiver.
    pub(crate) fn set_progress(
        &mut self,
        function: &'static str,
        progress: Option<Progress>,
    ) -> Result<()> {
        self.check_live(function)?;
        self.progress = progress;
        Ok(())
    }

    /// Runs the startup to the end; returns whether the device is configured.
    pub(crate) fn run(&mut self, function: &'static str) -> Result<bool> {
        let mut builder = Startup::builder().config(self.config.clone());
        if let Some(local) = &self.local {
            builder = builder.local_description(local.clone());
        }
        if let Some(progress) = self.progress.clone() {
            builder = builder.observer(Arc::new(move |event: &Event| {
                // Events are plain data; should one ever fail to serialize,
                // the UI misses one line rather than the startup failing.
                if let Ok(json) = serde_json::to_string(event) {
                    progress(&json);
                }
            }));
        }
        let startup = builder.build();
        let previous = self.live.take();
        let runner = self.runner(function)?;
        if let Some(previous) = previous {
            // A second run is a reboot: the first one's lease and time
            // synchronization end first (problems show in its own report).
            runner.shutdown(previous, false);
        }
        let outcome = runner.run(&startup);
        let configured = outcome.report.configured;
        // The servers may have changed: the next lookup uses the new list.
        self.ldap = None;
        self.last = Some(LastRun {
            report: outcome.report.clone(),
            device: outcome.device.clone(),
            ldap_urls: outcome.ldap_urls.clone(),
        });
        self.live = Some(outcome);
        Ok(configured)
    }

    /// The last run's outcome; still there after shutdown.
    fn last_run(&self, function: &'static str) -> Result<&LastRun> {
        self.last.as_ref().ok_or_else(|| FfiError::State {
            function,
            cause: "the startup has not run yet: call annexr_startup_run first".into(),
        })
    }

    /// The last run's report, as JSON.
    pub(crate) fn report_json(&self, function: &'static str) -> Result<String> {
        Ok(self.last_run(function)?.report.to_json())
    }

    /// The configuration the last run settled on, in the model's store form.
    pub(crate) fn device_json(&self, function: &'static str) -> Result<String> {
        match &self.last_run(function)?.device {
            Some(device) => Ok(annexr_model::device_to_json(device)),
            None => Err(FfiError::NotFound {
                function,
                what: "the last run left the device without a configuration (see the report)"
                    .into(),
            }),
        }
    }

    /// What a watch needs: the settings, the LDAP servers, and the
    /// configuration the last run settled on.
    pub(crate) fn watch_inputs(
        &mut self,
        function: &'static str,
    ) -> Result<(StartupConfig, Vec<String>, Option<Device>)> {
        let urls = self.ldap_urls(function)?;
        let device = self.last.as_ref().and_then(|l| l.device.clone());
        Ok((self.config.clone(), urls, device))
    }

    /// The LDAP servers for lookups: those the last run used, else what DNS
    /// SRV (or `[ldap] urls`) gives now.
    fn ldap_urls(&mut self, function: &'static str) -> Result<Vec<String>> {
        if let Some(last) = &self.last
            && !last.ldap_urls.is_empty()
        {
            return Ok(last.ldap_urls.clone());
        }
        if let Some((urls, _)) = &self.ldap {
            return Ok(urls.clone());
        }
        let config = self.config.clone();
        self.runner(function)?
            .ldap_servers(&config)
            .map_err(|source| FfiError::Annexr { function, source })
    }

    fn ldap_client(&mut self, function: &'static str) -> Result<&LdapClient> {
        let urls = self.ldap_urls(function)?;
        let ldap = match self.ldap.take() {
            Some((for_urls, client)) if for_urls == urls => (for_urls, client),
            _ => {
                let config = self.config.clone();
                let client = self
                    .runner(function)?
                    .ldap_client(&config, &urls)
                    .map_err(|source| FfiError::Annexr { function, source })?;
                (urls, client)
            }
        };
        Ok(&self.ldap.insert(ldap).1)
    }

    /// R.3: one AE title to its device and connections, as JSON.
    pub(crate) fn resolve_ae(&mut self, function: &'static str, ae_title: &str) -> Result<String> {
        // The library's one document of an AE and its cost (docs/json.md).
        Ok(to_json(&self.resolve(function, ae_title)?))
    }

    fn resolve(&mut self, function: &'static str, ae_title: &str) -> Result<Counted<ResolvedAe>> {
        let counted = self
            .ldap_client(function)?
            .resolve_ae(ae_title)
            .map_err(|source| FfiError::Ldap { function, source })?;
        match counted.value {
            Some(ae) => Ok(Counted {
                value: ae,
                stats: counted.stats,
            }),
            None => Err(FfiError::NotFound {
                function,
                what: format!("AE title {ae_title:?} is not in the DICOM configuration"),
            }),
        }
    }

    /// R.3.1: the AEs of devices of a primary device type, as JSON.
    pub(crate) fn find_aes(
        &mut self,
        function: &'static str,
        device_type: &str,
        installed_only: bool,
    ) -> Result<String> {
        let mut query = DeviceTypeQuery::new(device_type);
        query.installed_only = installed_only;
        let counted = self
            .ldap_client(function)?
            .find_aes(&query)
            .map_err(|source| FfiError::Ldap { function, source })?;
        Ok(to_json(&Found {
            device_type,
            installed_only,
            found: &counted,
        }))
    }

    /// The calling AE title: the caller's, else the device's first AE's.
    fn calling_ae(&self, calling: Option<&str>) -> String {
        if let Some(calling) = calling {
            return calling.to_string();
        }
        let device = self
            .last
            .as_ref()
            .and_then(|o| o.device.as_ref())
            .or(self.local.as_ref());
        device
            .and_then(|d| d.network_aes.first())
            .map(|ae| ae.ae_title.to_string())
            .unwrap_or_else(|| DEFAULT_CALLING_AE.to_string())
    }

    fn probe_options(&self) -> ProbeOptions {
        ProbeOptions::default()
            .total_timeout(Some(Duration::from_millis(self.config.probe.timeout_ms)))
    }

    /// Association + C-ECHO to `host:port`; the probe report as JSON.
    pub(crate) fn probe(
        &mut self,
        function: &'static str,
        host: &str,
        port: u16,
        called_ae: &str,
        calling_ae: Option<&str>,
    ) -> Result<String> {
        let target = Target::new(host, port, called_ae, self.calling_ae(calling_ae));
        let options = self.probe_options();
        let report = self
            .prober(function)?
            .probe(&target, &options)
            .map_err(|source| FfiError::Probe { function, source })?;
        Ok(report.to_json())
    }

    /// Resolves `called_ae` over LDAP (R.3), then probes its address.
    pub(crate) fn probe_ae(
        &mut self,
        function: &'static str,
        called_ae: &str,
        calling_ae: Option<&str>,
    ) -> Result<String> {
        let ae = self.resolve(function, called_ae)?.value;
        // Never an offline AE or a non-acceptor (R.5.2): say why instead.
        let Some(annexr_ldap::AeAddress { host, port, tls }) = ae.address() else {
            let why = ae.not_callable().unwrap_or_else(|| {
                format!("{called_ae} has no installed connection that accepts associations")
            });
            return Err(FfiError::NotFound {
                function,
                what: format!("AE {why}; not called"),
            });
        };
        if tls {
            return Err(FfiError::InvalidArgument {
                function,
                cause: format!(
                    "AE {called_ae} listens with TLS at {host}:{port}; TLS probes need certificates, which this ABI does not take yet"
                ),
            });
        }
        let host = host.to_string();
        self.probe(function, &host, port, called_ae, calling_ae)
    }

    /// R.5: marks the device offline in LDAP when asked (R.5.2), stops the
    /// time synchronization, releases the DHCP lease (R.5.1), closes the
    /// lookup connection and stops the threads of the blocking facades.
    /// Later calls fail with a state error, except for the last run's
    /// report; freeing is still needed.
    pub(crate) fn shutdown(&mut self, set_offline: bool) -> ShutdownReport {
        let mut report = ShutdownReport::default();
        if self.shut_down {
            report.problems.push("already shut down".into());
            return report;
        }
        self.shut_down = true;
        // The lookup client and the prober own their runtimes: dropping
        // them closes the connection and stops their threads.
        self.ldap = None;
        self.prober = None;
        let live = self.live.take();
        let runner = self.runner.take();
        match (live, &runner) {
            (Some(live), Some(runner)) => report = runner.shutdown(live, set_offline),
            (_, _) if set_offline => report
                .problems
                .push("set offline: the startup has not run".into()),
            (_, _) => {}
        }
        if let Some(runner) = runner {
            runner.shutdown_timeout(SHUTDOWN_WAIT);
        }
        report
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Freed without a shutdown: still end the lease and the time sync
        // properly rather than dropping them with the runtime.
        self.shutdown(false);
    }
}

/// The facade in `slot`, started with `start` on first use (and left
/// unstarted when that fails).
fn started<T>(slot: &mut Option<T>, start: impl FnOnce() -> Result<T>) -> Result<&T> {
    let facade = match slot.take() {
        Some(facade) => facade,
        None => start()?,
    };
    Ok(slot.insert(facade))
}

/// What the last run found, kept for the report and the lookups.
struct LastRun {
    report: StartupReport,
    device: Option<Device>,
    ldap_urls: Vec<String>,
}

pub(crate) fn to_json<T: Serialize>(value: &T) -> String {
    // Plain data with string keys: serialization cannot fail; the fallback
    // still hands C valid JSON.
    serde_json::to_string_pretty(value)
        .unwrap_or_else(|e| format!("{{\"error\":{:?}}}", e.to_string()))
}

#[derive(Serialize)]
struct Found<'a> {
    device_type: &'a str,
    installed_only: bool,
    /// The library's document of the search (docs/json.md): `aes`,
    /// `skipped`, `device_types_on_site` and the cost.
    #[serde(flatten)]
    found: &'a Counted<FoundAes>,
}
