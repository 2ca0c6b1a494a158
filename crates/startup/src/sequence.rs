//! The normal startup of R.4, with the install of R.1.2.2 and the LDIF
//! fallback of R.1.2.3 when the device is not configured yet.
//!
//! Order and overlap: the network step runs first (it yields the server
//! lists); time synchronization then runs on its own task while DNS, LDAP
//! and configuration proceed. When LDAP uses TLS, LDAP waits for the time
//! step, and certificates are checked against the NTP-corrected time (a
//! battery clock years off would otherwise fail them); the report says when
//! the clock was stepped relative to the rest.
//!
//! Round trips are the currency: the time step decides on the first valid
//! sample of each server and refines in the background; a device that was
//! configured before connects to the LDAP server and root that served it
//! at once, while DNS SRV is asked in parallel whether that server is still
//! listed (its answer is dropped when not, H.1.4.1); over TLS that answer
//! counts only when the time step left the clock as it was. The store is
//! written only when something changed.

use std::sync::Arc;
use std::time::Duration;

use annexr_model::Device;
use annexr_sntp::{Clock, SystemClock};

use crate::config::{StartupConfig, millis};
use crate::configure::{FastLoad, LdapStart};
use crate::network::{self, NetworkParams};
use crate::recorder::{Finished, Recorder};
use crate::report::{Observer, Outcome, Source, StartupReport, Step};
use crate::store::{LoadSource, Store, StoredState};
use crate::time;

/// The result of [`Startup::run`]. Keep it while the device runs: it holds
/// the DHCP lease and the ongoing time synchronization; call
/// [`StartupOutcome::shutdown`] when the device shuts down (R.5).
#[derive(Debug)]
#[non_exhaustive]
pub struct StartupOutcome {
    /// What happened, step by step.
    pub report: StartupReport,
    /// The configuration the device runs with, if any.
    pub device: Option<Device>,
    /// The network parameters the sequence settled on.
    pub network: NetworkParams,
    /// The LDAP server URLs, in the order they were tried.
    pub ldap_urls: Vec<String>,
    lease: Option<network::LeaseKeeper>,
    time_sync: Option<annexr_sntp::SyncHandle>,
    /// The one background time refinement when the clock is not set.
    time_refine: Option<tokio::task::JoinHandle<()>>,
    config: StartupConfig,
    store: KeptStore,
}

/// The store, kept for the shutdown to remember what it did.
#[derive(Clone, Default)]
struct KeptStore(Option<Arc<dyn Store>>);

impl std::fmt::Debug for KeptStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "store"
        } else {
            "no store"
        })
    }
}

/// What [`StartupOutcome::shutdown`] did (R.5).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// The ongoing time synchronization was stopped.
    pub time_sync_stopped: bool,
    /// The device (all its AEs) was marked not installed in LDAP (R.5.2).
    pub marked_offline: bool,
    /// The DHCP lease was released (R.5.1).
    pub lease_released: bool,
    /// What could not be done, with the reason.
    pub problems: Vec<String>,
}

impl StartupOutcome {
    /// R.5 shutdown: optionally mark the device offline in LDAP
    /// (`dicomInstalled` FALSE, so peers stop calling it), stop time
    /// synchronization, release the DHCP lease.
    pub async fn shutdown(self, set_offline: bool) -> ShutdownReport {
        let mut report = ShutdownReport::default();
        if set_offline {
            match (&self.device, self.ldap_urls.is_empty()) {
                (Some(device), false) => {
                    let target = annexr_ldap::Target::Device(device.name.clone());
                    let result = match crate::configure::client(&self.config, &self.ldap_urls) {
                        Ok(client) => client
                            .set_installed(&target, false)
                            .await
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    match result {
                        Ok(_) => {
                            report.marked_offline = true;
                            // Remembered so that the next boot may undo this
                            // FALSE, and only this one (R.1.2, R.5.2).
                            if let Some(store) = &self.store.0 {
                                let saved = store.load().and_then(|(mut state, _)| {
                                    state.installed_false_at_shutdown = true;
                                    store.save(&state)
                                });
                                if let Err(e) = saved {
                                    report.problems.push(format!(
                                        "remember the offline mark in the store: {e}"
                                    ));
                                }
                            }
                        }
                        Err(e) => report.problems.push(format!("set offline: {e}")),
                    }
                }
                _ => report
                    .problems
                    .push("set offline: no configured device or LDAP server".into()),
            }
        }
        if let Some(sync) = self.time_sync {
            sync.stop().await;
            report.time_sync_stopped = true;
        }
        if let Some(refine) = self.time_refine {
            // Bounded by its own timeouts; not waited for at shutdown.
            refine.abort();
            report.time_sync_stopped = true;
        }
        if let Some(lease) = self.lease {
            match lease.release().await {
                // False: the binding was not annexr's own, so it was kept.
                Ok(released) => report.lease_released = released,
                Err(e) => report.problems.push(format!("DHCP release: {e}")),
            }
        }
        report
    }
}

/// Builds a [`Startup`].
#[derive(Default)]
pub struct StartupBuilder {
    config: StartupConfig,
    local: Option<Device>,
    store: Option<Arc<dyn Store>>,
    observer: Option<Arc<dyn Observer>>,
    clock: Option<Arc<dyn Clock>>,
}

impl StartupBuilder {
    /// The settings (default: [`StartupConfig::default`]).
    pub fn config(mut self, config: StartupConfig) -> Self {
        self.config = config;
        self
    }

    /// The device's local description: what the vendor's "device specific
    /// process" (R.1.2.2 step 5) says the device is. Installed when LDAP does
    /// not know the device; used as the configuration of last resort.
    pub fn local_description(mut self, device: Device) -> Self {
        self.local = Some(device);
        self
    }

    /// The non-volatile store. Without one, a
    /// [`FileStore`](crate::FileStore) at `config.store.path` is used when
    /// that is set, and nothing is remembered otherwise.
    pub fn store(mut self, store: Arc<dyn Store>) -> Self {
        self.store = Some(store);
        self
    }

    /// Receives progress events.
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The clock time synchronization reads and (with `[time] set_clock`)
    /// corrects. Default: the system clock. Tests and simulators give an
    /// [`annexr_sntp::SimClock`].
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = Some(clock);
        self
    }

    /// The startup, ready to run.
    pub fn build(self) -> Startup {
        let store = self.store.or_else(|| {
            self.config
                .store
                .path
                .clone()
                .map(|p| Arc::new(crate::FileStore::new(p)) as Arc<dyn Store>)
        });
        Startup {
            config: self.config,
            local: self.local,
            store,
            observer: self.observer,
            clock: self.clock.unwrap_or_else(|| Arc::new(SystemClock)),
        }
    }
}

/// The Annex R sequence for one device.
pub struct Startup {
    config: StartupConfig,
    local: Option<Device>,
    store: Option<Arc<dyn Store>>,
    observer: Option<Arc<dyn Observer>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Startup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Startup")
            .field("device", &self.config.device.name)
            .field("has_local_description", &self.local.is_some())
            .field("has_store", &self.store.is_some())
            .finish_non_exhaustive()
    }
}

impl Startup {
    /// A builder.
    pub fn builder() -> StartupBuilder {
        StartupBuilder::default()
    }

    /// The settings.
    pub fn config(&self) -> &StartupConfig {
        &self.config
    }

    /// Runs the normal startup (R.4), installing the device when LDAP does
    /// not know it and the settings allow (R.1.2.2). Never fails: every
    /// failure ends in a fallback or a failed step, and the report says which.
    pub async fn run(&self) -> StartupOutcome {
        let (mut stored, store_note) = self.load_store();
        // What the store holds now, when it read cleanly: the save at the
        // end is skipped when nothing changed.
        let unchanged_if = store_note.is_none().then(|| stored.clone());
        let device_name = stored
            .device_name
            .clone()
            .or_else(|| self.config.device.name.clone())
            .or_else(|| self.local.as_ref().map(|d| d.name.clone()));
        let recorder = Recorder::new(device_name.clone(), self.observer.clone());
        if let Some((message, action)) = store_note {
            recorder.warn(Step::Configure, message, action);
        }

        // R.4 step 1: IP parameters and server lists.
        let remembered = stored.last_lease.as_ref().map(|l| l.address);
        let (network, lease) = network::obtain(&self.config, remembered, &recorder).await;
        // R.1.2.2 step 4: without a configured name, the device is the one
        // matching the machine name the DHCP server assigned.
        let device_name = device_name.or_else(|| {
            let host = network.granted_name.as_deref()?.split('.').next()?;
            (!host.is_empty()).then(|| {
                recorder.set_device_name(host);
                host.to_string()
            })
        });
        if let Some(lease) = &network.lease {
            if let Some(previous) = &stored.last_lease
                && let Some((message, action)) = network::address_change(previous, lease)
            {
                recorder.warn(Step::Dhcp, message, action);
            }
            stored.last_lease = Some(lease.clone());
        }

        // R.4 step 2: time sync on its own task; the rest waits for it only
        // when LDAP uses TLS (certificates are checked against its time).
        let (decided, time_decision) = tokio::sync::watch::channel(None);
        let mut time_task = if self.config.time.enabled {
            let servers = time::servers(&self.config, &network);
            let settings = self.config.time.clone();
            let recorder = recorder.clone();
            let clock = self.clock.clone();
            Some(tokio::spawn(async move {
                time::synchronize(&settings, &servers, clock, &recorder, decided).await
            }))
        } else {
            let running = recorder.begin(Step::Time);
            recorder.finish(
                running,
                Finished::new(Outcome::Skipped, "time synchronization disabled"),
            );
            None
        };

        // R.4 steps 3–4: the LDAP servers. Meanwhile the server that
        // served the last boot is asked at once; its answer is used only
        // if DNS SRV still lists it (H.1.4.1).
        let fast_path = self.fast_path(&stored, device_name.as_deref());
        let fast_running = fast_path.as_ref().map(|_| recorder.begin(Step::Ldap));
        let fast_load = async {
            let (server, root, name) = fast_path.as_ref()?;
            let mut config = self.config.clone();
            // A password goes only to a server whose certificate was checked
            // against the time step's clock (anonymous reads go at once).
            let wait = self.config.time.enabled
                && self.config.ldap.bind_dn.is_some()
                && crate::configure::url_uses_tls(&self.config, &server.url);
            if wait {
                let mut decision = time_decision.clone();
                let decided =
                    tokio::time::timeout(self.time_limit(), decision.wait_for(Option::is_some))
                        .await;
                let correction = match decided {
                    Ok(Ok(d)) => d.and_then(|d| d.tls_correction_us),
                    // The time step is stuck: the main path handles it.
                    _ => return None,
                };
                config.time.tls_clock_correction_us = correction;
            }
            Some(crate::configure::fast_load(&config, server, root, name, wait).await)
        };
        let (found, fast) = {
            let mut fast_load = std::pin::pin!(fast_load);
            let mut discovery = std::pin::pin!(self.find_ldap_servers(&network, &recorder));
            let mut fast = None;
            let found = tokio::select! {
                found = &mut discovery => found,
                done = &mut fast_load => {
                    fast = done;
                    (&mut discovery).await
                }
            };
            // Not listed any more: its answer is not waited for.
            if fast.is_none()
                && let Some((server, _, _)) = &fast_path
                && found.urls.contains(&server.url)
            {
                fast = fast_load.await;
            }
            (found, fast)
        };
        let ldap_urls = found.urls.clone();

        let mut config = self.config.clone();
        let mut time_sync = None;
        let mut time_refine = None;
        // The clock the fast path's TLS checked certificates against was
        // right: the time step neither corrected nor stepped it.
        let mut clock_was_right = true;
        let tls =
            uses_tls(&config, &ldap_urls) || fast.as_ref().is_some_and(|f| f.checked_before_time);
        if tls && let Some(task) = time_task.take() {
            let synced = self.await_time(task, &recorder).await;
            time_sync = synced.handle;
            time_refine = synced.refine;
            clock_was_right = synced.tls_correction_us.is_none() && !synced.stepped;
            if synced.tls_correction_us.is_some() {
                config.time.tls_clock_correction_us = synced.tls_correction_us;
                recorder.tls_time_corrected();
            }
        }
        let start = ldap_start(
            fast_path.as_ref().map(|(s, _, _)| s.url.as_str()),
            fast_running,
            fast,
            &ldap_urls,
            clock_was_right,
            &recorder,
        );

        // R.4 step 4 and 5 (or R.1.2.2 steps 5–9).
        let (device, ldap) = match &device_name {
            Some(name) => {
                crate::configure::run(
                    &config,
                    name,
                    &ldap_urls,
                    self.local.as_ref(),
                    &mut stored,
                    &recorder,
                    start,
                )
                .await
            }
            None => {
                let running = match start {
                    LdapStart::Fresh => recorder.begin(Step::Ldap),
                    LdapStart::Begun(running) | LdapStart::Fast(running, _) => running,
                };
                recorder.finish(
                    running,
                    Finished::new(Outcome::Failed, "the device has no name"),
                );
                recorder.warn(
                    Step::Ldap,
                    "the device does not know its name (dicomDeviceName), so it cannot find its configuration",
                    "set [device] name in the configuration, or give a local description to install",
                );
                (None, None)
            }
        };
        if let Some(device) = &device {
            stored.device_name = Some(device.name.clone());
            recorder.set_device_name(&device.name);
        }
        if let Some(server) = stored.ldap_server.as_mut()
            && let Some(host) = crate::configure::url_host(&server.url)
            && let Some((_, addrs)) = found
                .addresses
                .iter()
                .find(|(h, _)| h.eq_ignore_ascii_case(host))
        {
            server.addresses.clone_from(addrs);
        }

        if self.config.probe.enabled
            && let Some(device) = &device
        {
            crate::probe::peers(&self.config, device, ldap.as_ref(), &recorder).await;
        }

        if let Some(task) = time_task {
            let synced = self.await_time(task, &recorder).await;
            time_sync = synced.handle;
            time_refine = synced.refine;
        }
        if unchanged_if.as_ref() != Some(&stored) {
            self.save_store(&stored, &recorder);
        }
        StartupOutcome {
            report: recorder.into_report(),
            device,
            network,
            ldap_urls,
            lease,
            time_sync,
            time_refine,
            config,
            store: KeptStore(self.store.clone()),
        }
    }

    /// Waits for the time step. It has its own timeouts; this only bounds a
    /// stuck task, which is then aborted so it cannot step the clock after
    /// the report said it did not finish.
    async fn await_time(
        &self,
        mut task: tokio::task::JoinHandle<time::Synced>,
        recorder: &Recorder,
    ) -> time::Synced {
        match tokio::time::timeout(self.time_limit(), &mut task).await {
            Ok(Ok(synced)) => synced,
            _ => {
                task.abort();
                recorder.warn(
                    Step::Time,
                    "time synchronization did not finish in time",
                    "check that the NTP servers answer on UDP port 123",
                );
                time::Synced::default()
            }
        }
    }

    /// How long the time step may take before it counts as stuck.
    fn time_limit(&self) -> Duration {
        let rounds = self.config.time.samples.saturating_add(2).saturating_mul(4);
        let limit = millis(self.config.time.timeout_ms).saturating_mul(rounds);
        limit.max(Duration::from_secs(5))
    }

    fn load_store(&self) -> (StoredState, Option<(String, String)>) {
        let Some(store) = &self.store else {
            return (StoredState::default(), None);
        };
        match store.load() {
            Ok((state, LoadSource::PreviousGeneration)) => (
                state,
                Some((
                    "the store was damaged; its previous generation was used".into(),
                    "check the device's storage medium; the next successful startup rewrites the store".into(),
                )),
            ),
            Ok((state, _)) => (state, None),
            Err(e) => (
                StoredState::default(),
                Some((
                    format!("the store could not be read ({e}); starting as a new device"),
                    "check the device's storage medium and the store path".into(),
                )),
            ),
        }
    }

    fn save_store(&self, state: &StoredState, recorder: &Recorder) {
        if let Some(store) = &self.store
            && let Err(e) = store.save(state)
        {
            recorder.warn(
                Step::Configure,
                format!("the store could not be written: {e}"),
                "check free space and permissions of the store directory",
            );
        }
    }

    /// The remembered server, root and device name when the fast path
    /// applies: a server and root remembered, the device named, no
    /// interrupted install to finish.
    fn fast_path(
        &self,
        stored: &StoredState,
        device_name: Option<&str>,
    ) -> Option<(crate::RememberedServer, String, String)> {
        let server = stored.ldap_server.clone()?;
        let root = self
            .config
            .ldap
            .base_dn
            .clone()
            .or_else(|| stored.ldap_base_dn.clone())?;
        let name = device_name?.to_string();
        // Never a password in clear to a server SRV may no longer list.
        if self.config.ldap.bind_dn.is_some()
            && !crate::configure::url_uses_tls(&self.config, &server.url)
        {
            return None;
        }
        if self.local.is_some() && crate::configure::install_interrupted(&self.config, &name) {
            return None;
        }
        Some((server, root, name))
    }

    async fn find_ldap_servers(
        &self,
        network: &NetworkParams,
        recorder: &Recorder,
    ) -> FoundServers {
        let running = recorder.begin(Step::Dns);
        let found = discover_ldap(&self.config, network).await;
        let finished = found.urls.iter().fold(
            Finished::new(found.outcome, found.detail.clone()),
            |f, url| f.value("ldap-server", url.clone(), found.source),
        );
        recorder.finish(running, finished);
        if let Some((message, action)) = &found.warning {
            recorder.warn(Step::Dns, message, action);
        }
        found
    }
}

/// Whether the LDAP step goes on with the fast path's answer: only when DNS
/// SRV (or the configured list) still names the remembered server, the
/// device was found, and a TLS certificate was checked against a clock the
/// time step left alone. The report says which.
fn ldap_start(
    remembered: Option<&str>,
    running: Option<crate::recorder::Running>,
    fast: Option<FastLoad>,
    urls: &[String],
    clock_was_right: bool,
    recorder: &Recorder,
) -> LdapStart {
    let (Some(url), Some(running)) = (remembered, running) else {
        return LdapStart::Fresh;
    };
    let note = |what: String| recorder.note(Step::Ldap, "remembered-server", what, Source::Cached);
    if !urls.iter().any(|u| u == url) {
        note(format!(
            "{url}: no longer among the site's LDAP servers; not used, the listed servers were"
        ));
        return LdapStart::Begun(running);
    }
    match fast {
        Some(fast) if !fast.found() => {
            note(format!(
                "{url}: {}; the listed servers were asked",
                fast.failure()
            ));
            LdapStart::Begun(running)
        }
        Some(fast) if fast.checked_before_time && !clock_was_right => {
            note(format!(
                "{url}: its certificate was checked before the clock was corrected; connected again"
            ));
            LdapStart::Begun(running)
        }
        Some(fast) => {
            note(format!(
                "{url}: asked at once while DNS SRV ran, and still listed"
            ));
            LdapStart::Fast(running, Box::new(fast))
        }
        None => LdapStart::Begun(running),
    }
}

/// True when LDAP will use TLS (`ldaps://`, or StartTLS: asked for or
/// implied by a password bind), so certificates are checked against the
/// clock.
fn uses_tls(config: &StartupConfig, urls: &[String]) -> bool {
    urls.iter()
        .any(|u| crate::configure::url_uses_tls(config, u))
}

/// The LDAP servers, as the DNS step found them.
pub(crate) struct FoundServers {
    pub urls: Vec<String>,
    /// The addresses the site's DNS gave for each SRV target's host name.
    pub addresses: Vec<(String, Vec<std::net::SocketAddr>)>,
    pub source: Source,
    pub outcome: Outcome,
    pub detail: String,
    pub warning: Option<(String, String)>,
}

/// R.4 steps 3–4: configured URLs when they take precedence, else DNS SRV
/// over the network's name servers and domains, else the configured URLs.
pub(crate) async fn discover_ldap(config: &StartupConfig, network: &NetworkParams) -> FoundServers {
    let configured = &config.ldap.urls;
    if config.ldap.prefer_configured && !configured.is_empty() {
        return FoundServers {
            urls: configured.clone(),
            addresses: Vec::new(),
            source: Source::Static,
            outcome: Outcome::Skipped,
            detail: "configured LDAP servers take precedence over DNS SRV".into(),
            warning: None,
        };
    }
    let mut domains: Vec<String> = network.domain.iter().cloned().collect();
    domains.extend(network.search.iter().cloned());
    let why = if network.dns_servers.is_empty() {
        "no DNS servers: SRV discovery not possible".to_string()
    } else if domains.is_empty() {
        "no DNS domain: SRV discovery not possible".to_string()
    } else {
        let dns = annexr_dns::DnsConfig::new(&network.dns_servers, &domains).map(|c| {
            c.timeout(millis(config.dns.timeout_ms))
                .nearest(if config.dns.nearest {
                    annexr_dns::Nearest::default()
                } else {
                    annexr_dns::Nearest::Off
                })
        });
        let discovery = match dns.and_then(annexr_dns::SrvDiscoverer::new) {
            Ok(discoverer) => discoverer.discover_ldap().await,
            Err(e) => Err(e),
        };
        match discovery {
            Ok(found) if !found.targets.is_empty() => {
                // A password bind gets StartTLS unless plaintext is allowed,
                // and TLS verifies the host name: keep it then.
                let tls = config.ldap.starttls
                    || (config.ldap.bind_dn.is_some() && !config.ldap.allow_plaintext_bind);
                let urls = connect_urls(&found, tls);
                let addresses = found
                    .targets
                    .iter()
                    .take(MAX_SRV_TARGETS)
                    .map(|t| {
                        let addrs = t.socket_addrs();
                        let kept = addrs.len().min(MAX_ADDRESSES_PER_TARGET);
                        (t.host().to_string(), addrs[..kept].to_vec())
                    })
                    .collect();
                return FoundServers {
                    detail: format!("{} LDAP server(s) from {}", urls.len(), found.owner),
                    urls,
                    addresses,
                    source: Source::Dns,
                    outcome: Outcome::Done,
                    warning: None,
                };
            }
            Ok(found) => format!("{} lists no LDAP server", found.owner),
            Err(e) => format!("SRV discovery failed: {e}"),
        }
    };
    if configured.is_empty() {
        return FoundServers {
            urls: Vec::new(),
            addresses: Vec::new(),
            source: Source::Static,
            outcome: Outcome::Failed,
            detail: why.clone(),
            warning: Some((
                format!("no LDAP server found: {why}"),
                "add an _ldap._tcp SRV record for the site's domain, or set [ldap] urls".into(),
            )),
        };
    }
    FoundServers {
        urls: configured.clone(),
        addresses: Vec::new(),
        source: Source::Static,
        outcome: Outcome::Fallback,
        detail: format!("{why}; using the configured LDAP servers"),
        warning: Some((
            format!("DNS SRV gave no LDAP server ({why}); the configured list was used"),
            "add an _ldap._tcp SRV record for the site's domain so that replicas are found".into(),
        )),
    }
}

/// Finds the LDAP servers the way the startup does, for tools that need
/// only them: configured URLs when preferred, else DNS SRV with the static
/// network settings, else the configured URLs.
pub async fn ldap_servers(config: &StartupConfig) -> Result<Vec<String>, crate::Error> {
    let network = crate::network::from_static(config);
    let found = discover_ldap(config, &network).await;
    if found.urls.is_empty() {
        Err(crate::Error::NoLdapServer {
            why: found.detail,
            action: "add an _ldap._tcp SRV record for the site's domain, or set [ldap] urls".into(),
        })
    } else {
        Ok(found.urls)
    }
}

/// The URLs to connect to, in discovery order. The SRV pass resolved each
/// target with the site's DNS servers, which the operating system's resolver
/// may not know (a device configured by Annex R has no other), so plain LDAP
/// connects to those addresses. TLS keeps the host name: the certificate
/// names it.
/// At most this many SRV targets are tried (RFC 2782 order)…
const MAX_SRV_TARGETS: usize = 8;
/// …with at most this many addresses each, so one LDAP step cannot walk
/// thousands of URLs.
const MAX_ADDRESSES_PER_TARGET: usize = 2;

fn connect_urls(found: &annexr_dns::Discovery, starttls: bool) -> Vec<String> {
    let scheme = found.service.url_scheme().unwrap_or("ldap");
    let mut urls = Vec::new();
    for target in found.targets.iter().take(MAX_SRV_TARGETS) {
        let addrs = target.socket_addrs();
        if scheme == "ldap" && !starttls && !addrs.is_empty() {
            urls.extend(
                addrs
                    .iter()
                    .take(MAX_ADDRESSES_PER_TARGET)
                    .map(|a| format!("ldap://{a}")),
            );
        } else {
            // The site's DNS resolved the name; the OS resolver may not know it.
            if !addrs.is_empty() {
                let addrs: Vec<_> = addrs
                    .iter()
                    .take(MAX_ADDRESSES_PER_TARGET)
                    .copied()
                    .collect();
                annexr_ldap::remember_addresses(target.host(), &addrs);
            }
            urls.push(format!(
                "{scheme}://{}:{}",
                target.host(),
                target.record.port
            ));
        }
    }
    urls
}
