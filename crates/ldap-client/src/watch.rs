//! Following devices in the directory while the device runs (R.2, H.1.6).
//!
//! [`LdapClient::watch`] follows the subtrees of a set of devices and reports
//! each device again, freshly loaded, whenever something in its subtree
//! changed. Two mechanisms:
//!
//! - RFC 4533 content synchronization (refreshAndPersist) where the server
//!   offers it (OpenLDAP syncprov, 389-DS content sync): one persistent
//!   search per device on a connection of the watch's own, resumed from its
//!   cookie after a reconnect; a heartbeat on that connection notices a
//!   silently dropped one.
//! - Polling where it does not: every interval one search per device for the
//!   `entryCSN` and `modifyTimestamp` of its entries (operational attributes
//!   only), and a reload only when that fingerprint changed.
//!
//! A lost connection is reported once ([`WatchEvent::Lost`]), retried with
//! exponential backoff and jitter (never flooding the server), and reported
//! again when back ([`WatchEvent::Resumed`]); every followed device is then
//! reloaded, so a change made while the server was away is never missed.

use std::collections::BTreeMap;
use std::time::Duration;

use ldap3::controls::{MakeCritical, RefreshMode, SyncRequest};
use ldap3::{Ldap, Scope};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::client::{DeviceLookup, LdapClient};
use crate::conn::Stats;
use crate::error::Error;

const SYNC_STATE_OID: &str = "1.3.6.1.4.1.4203.1.9.1.2";
const SYNC_INFO_OID: &str = "1.3.6.1.4.1.4203.1.9.1.4";
/// RFC 4533 e-syncRefreshRequired: the cookie is too old; start afresh.
const SYNC_REFRESH_REQUIRED: u32 = 4096;

/// How to follow the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WatchMode {
    /// RFC 4533 refreshAndPersist when the server offers it, else polling.
    #[default]
    Auto,
    /// RFC 4533 refreshAndPersist only; a server without it is an error
    /// reported as [`WatchEvent::Lost`] (and retried).
    Sync,
    /// Polling by `entryCSN`/`modifyTimestamp` only.
    Poll,
}

/// Settings of a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchOptions {
    /// Which mechanism to use.
    pub mode: WatchMode,
    /// Polling interval; with refreshAndPersist the interval of the heartbeat
    /// that notices a silently dropped connection.
    pub interval: Duration,
    /// First wait before a reconnect; doubled per failure.
    pub backoff_min: Duration,
    /// Longest wait between reconnects.
    pub backoff_max: Duration,
    /// Notifications arriving within this time are coalesced into one
    /// reload (an admin's LDIF touches several entries at once).
    pub settle: Duration,
}

impl Default for WatchOptions {
    fn default() -> Self {
        WatchOptions {
            mode: WatchMode::Auto,
            interval: Duration::from_secs(30),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            settle: Duration::from_millis(100),
        }
    }
}

/// The mechanism a watch follows the directory with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Mechanism {
    /// RFC 4533 refreshAndPersist.
    RefreshAndPersist,
    /// Polling every `interval`.
    Polling {
        /// The polling interval.
        interval: Duration,
    },
}

impl std::fmt::Display for Mechanism {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mechanism::RefreshAndPersist => f.write_str("refreshAndPersist (RFC 4533)"),
            Mechanism::Polling { interval } => {
                write!(f, "polling every {} s", interval.as_secs_f64())
            }
        }
    }
}

/// What a watch reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
// Reported one at a time as the directory changes: boxing would only cost.
#[allow(clippy::large_enum_variant)]
pub enum WatchEvent {
    /// The watch is connected and following (sent once, first).
    Following {
        /// The server URL.
        server: String,
        /// The mechanism in use.
        mechanism: Mechanism,
    },
    /// A followed device, loaded again after its subtree may have changed
    /// (after each (re)connect, and after each change notification).
    Device {
        /// The device name followed.
        name: String,
        /// What the directory now holds.
        lookup: DeviceLookup,
    },
    /// The connection to the directory was lost; reconnecting with backoff.
    Lost {
        /// The server URL (or the list tried).
        server: String,
        /// What failed.
        cause: String,
    },
    /// The connection is back after [`WatchEvent::Lost`]; every followed
    /// device is reloaded next.
    Resumed {
        /// The server URL.
        server: String,
        /// The mechanism in use.
        mechanism: Mechanism,
    },
}

enum Command {
    Follow(String),
}

/// A running watch; dropping it stops it (and closes its connection).
#[derive(Debug)]
pub struct DirectoryWatch {
    events: mpsc::Receiver<WatchEvent>,
    commands: mpsc::UnboundedSender<Command>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Follow(d) => write!(f, "Follow({d})"),
        }
    }
}

impl DirectoryWatch {
    /// The next event; `None` once the watch has stopped.
    pub async fn next(&mut self) -> Option<WatchEvent> {
        self.events.recv().await
    }

    /// The next event, blocking the calling thread (not for use inside an
    /// async runtime's worker threads).
    pub fn blocking_next(&mut self) -> Option<WatchEvent> {
        self.events.blocking_recv()
    }

    /// Follows one more device (no-op when already followed).
    pub fn follow(&self, device: &str) {
        let _ = self.commands.send(Command::Follow(device.to_string()));
    }

    /// Stops the watch.
    pub fn stop(self) {
        self.task.abort();
    }
}

impl Drop for DirectoryWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl LdapClient {
    /// Follows `devices` (by name) in the directory; see the module docs.
    /// Must be called within a tokio runtime (the watch runs on a task).
    pub fn watch(&self, devices: Vec<String>, options: WatchOptions) -> DirectoryWatch {
        // A small buffer: a consumer that does not read holds the watch
        // back instead of letting it queue without bound.
        let (tx, rx) = mpsc::channel(64);
        let (ctx, crx) = mpsc::unbounded_channel();
        let mut watcher = Watcher {
            client: self.clone(),
            options,
            devices: BTreeMap::new(),
            events: tx,
            commands: crx,
        };
        for d in devices {
            watcher.devices.entry(d).or_default();
        }
        let task = tokio::spawn(async move { watcher.run().await });
        DirectoryWatch {
            events: rx,
            commands: ctx,
            task,
        }
    }
}

#[derive(Default)]
struct Followed {
    cookie: Option<Vec<u8>>,
    fingerprint: Option<Vec<(String, String)>>,
}

struct Watcher {
    client: LdapClient,
    options: WatchOptions,
    devices: BTreeMap<String, Followed>,
    events: mpsc::Sender<WatchEvent>,
    commands: mpsc::UnboundedReceiver<Command>,
}

/// Why a session ended.
enum Ended {
    /// The consumer is gone: stop.
    Closed,
    /// The server does not offer content synchronization.
    NoSync(String),
    /// The connection or the server failed.
    Failed { server: String, cause: String },
}

/// From a persistent search task to its session.
enum Notice {
    /// The refresh phase ended: the device's content is current.
    RefreshDone(String),
    /// An entry of the device changed during the persist phase.
    Changed(String),
    /// A new cookie for the device.
    Cookie(String, Vec<u8>),
    /// The server answered the search with a result: it ended.
    Done {
        device: String,
        rc: u32,
        text: String,
    },
    /// The transport failed.
    Broken(String),
}

impl Watcher {
    async fn emit(&self, e: WatchEvent) -> bool {
        self.events.send(e).await.is_ok()
    }

    async fn run(&mut self) {
        let mut use_sync = self.options.mode != WatchMode::Poll;
        let mut lost = false;
        let mut started = false;
        let mut failures: u32 = 0;
        loop {
            let ended = if use_sync {
                self.sync_session(&mut lost, &mut started, &mut failures)
                    .await
            } else {
                self.poll_session(&mut lost, &mut started, &mut failures)
                    .await
            };
            match ended {
                Ended::Closed => return,
                Ended::NoSync(why) if self.options.mode == WatchMode::Auto => {
                    tracing::info!("content synchronization not offered ({why}); polling");
                    use_sync = false;
                    continue;
                }
                Ended::NoSync(why) => {
                    if !lost {
                        lost = true;
                        let server = self.client.inner.config.servers.join(" ");
                        let cause = format!("content synchronization refused: {why}");
                        if !self.emit(WatchEvent::Lost { server, cause }).await {
                            return;
                        }
                    }
                }
                Ended::Failed { server, cause } => {
                    if !lost {
                        lost = true;
                        if !self.emit(WatchEvent::Lost { server, cause }).await {
                            return;
                        }
                    }
                }
            }
            failures = failures.saturating_add(1);
            let wait = backoff(&self.options, failures);
            tracing::debug!("watch: reconnecting in {wait:?}");
            tokio::time::sleep(wait).await;
            if self.events.is_closed() {
                return;
            }
        }
    }

    /// Reports the session up: `Following` the first time, `Resumed` after a loss.
    async fn up(
        &self,
        server: &str,
        mechanism: Mechanism,
        lost: &mut bool,
        started: &mut bool,
    ) -> bool {
        let event = if !*started {
            *started = true;
            WatchEvent::Following {
                server: server.to_string(),
                mechanism,
            }
        } else if *lost {
            WatchEvent::Resumed {
                server: server.to_string(),
                mechanism,
            }
        } else {
            return true;
        };
        *lost = false;
        self.emit(event).await
    }

    async fn reload(&self, name: &str) -> Result<bool, Ended> {
        let mut stats = Stats::default();
        let failed = |e: Error| Ended::Failed {
            server: self.client.inner.config.servers.join(" "),
            cause: e.to_string(),
        };
        let roots = self.client.roots_with(&mut stats).await.map_err(failed)?;
        let lookup = self
            .client
            .load_device_in(&mut stats, &roots, name)
            .await
            .map_err(failed)?;
        Ok(self
            .emit(WatchEvent::Device {
                name: name.to_string(),
                lookup,
            })
            .await)
    }

    async fn device_dn(&self, name: &str) -> Result<String, Ended> {
        let mut stats = Stats::default();
        let roots = self
            .client
            .roots_with(&mut stats)
            .await
            .map_err(|e| Ended::Failed {
                server: self.client.inner.config.servers.join(" "),
                cause: e.to_string(),
            })?;
        Ok(roots.device_dn(name).to_string())
    }

    async fn open(&self) -> Result<(Ldap, String), Ended> {
        let mut stats = Stats::default();
        let mut causes = Vec::new();
        for server in &self.client.inner.config.servers {
            // The guard's violation slot is not needed here: a connection
            // the guard closes ends the persistent search, which is a loss.
            match self.client.inner.open(server, &mut stats, false).await {
                Ok((ldap, _violation, _encrypted)) => return Ok((ldap, server.clone())),
                Err(e) => causes.push(e.to_string()),
            }
        }
        Err(Ended::Failed {
            server: self.client.inner.config.servers.join(" "),
            cause: causes.join("; "),
        })
    }

    async fn sync_session(
        &mut self,
        lost: &mut bool,
        started: &mut bool,
        failures: &mut u32,
    ) -> Ended {
        let (ldap, server) = match self.open().await {
            Ok(c) => c,
            Err(e) => return e,
        };
        let (ntx, mut nrx) = mpsc::unbounded_channel::<Notice>();
        let mut streams = Vec::new();
        let names: Vec<String> = self.devices.keys().cloned().collect();
        for name in names {
            match self.start_stream(&ldap, &name, &ntx).await {
                Ok(h) => streams.push(h),
                Err(e) => return e,
            }
        }
        let mut abort = AbortOnDrop(streams);
        let mut announced = false;
        let mut dirty: Vec<String> = Vec::new();
        let mut heartbeat = tokio::time::interval(self.options.interval);
        heartbeat.tick().await;
        let mut settle: Option<tokio::time::Instant> = None;
        loop {
            let settle_at = settle;
            tokio::select! {
                notice = nrx.recv() => {
                    let Some(notice) = notice else {
                        return Ended::Failed { server, cause: "persistent searches ended".into() };
                    };
                    match notice {
                        Notice::Cookie(d, c) => {
                            if let Some(f) = self.devices.get_mut(&d) { f.cookie = Some(c); }
                        }
                        Notice::RefreshDone(d) => {
                            if !announced {
                                announced = true;
                                *failures = 0;
                                if !self.up(&server, Mechanism::RefreshAndPersist, lost, started).await {
                                    return Ended::Closed;
                                }
                            }
                            match self.reload(&d).await {
                                Ok(true) => {}
                                Ok(false) => return Ended::Closed,
                                Err(e) => return e,
                            }
                        }
                        Notice::Changed(d) => {
                            if !dirty.contains(&d) { dirty.push(d); }
                            if settle.is_none() {
                                settle = Some(tokio::time::Instant::now() + self.options.settle);
                            }
                        }
                        Notice::Done { device, rc, text } => {
                            match rc {
                                // No such device (yet): report it; its persistent search
                                // is gone, and the next reconnect starts it again.
                                32 => {
                                    match self.reload(&device).await {
                                        Ok(true) => {}
                                        Ok(false) => return Ended::Closed,
                                        Err(e) => return e,
                                    }
                                }
                                SYNC_REFRESH_REQUIRED => {
                                    if let Some(f) = self.devices.get_mut(&device) { f.cookie = None; }
                                    return Ended::Failed { server, cause: format!("{device}: the server requires a full refresh") };
                                }
                                // unavailableCriticalExtension, unwillingToPerform: no syncprov.
                                12 | 53 if !announced => return Ended::NoSync(crate::error::result_text(rc, &text)),
                                0 => return Ended::NoSync("the server ended the persistent search".into()),
                                _ => return Ended::Failed { server, cause: format!("persistent search of {device}: {}", crate::error::result_text(rc, &text)) },
                            }
                        }
                        Notice::Broken(cause) => return Ended::Failed { server, cause },
                    }
                }
                command = self.commands.recv() => {
                    match command {
                        Some(Command::Follow(d)) => {
                            if !self.devices.contains_key(&d) {
                                self.devices.insert(d.clone(), Followed::default());
                                match self.start_stream(&ldap, &d, &ntx).await {
                                    Ok(h) => abort.0.push(h),
                                    Err(e) => return e,
                                }
                            }
                        }
                        None => return Ended::Closed,
                    }
                }
                _ = heartbeat.tick() => {
                    let mut probe = ldap.clone();
                    probe.with_timeout(self.client.inner.config.operation_timeout);
                    match probe.search("", Scope::Base, "(objectClass=*)", vec!["1.1"]).await {
                        Ok(_) => {}
                        Err(e) => return Ended::Failed { server, cause: format!("heartbeat: {e}") },
                    }
                }
                _ = sleep_until(settle_at) => {
                    settle = None;
                    for d in std::mem::take(&mut dirty) {
                        match self.reload(&d).await {
                            Ok(true) => {}
                            Ok(false) => return Ended::Closed,
                            Err(e) => return e,
                        }
                    }
                }
            }
            if self.events.is_closed() {
                return Ended::Closed;
            }
        }
    }

    async fn start_stream(
        &self,
        ldap: &Ldap,
        name: &str,
        notices: &mpsc::UnboundedSender<Notice>,
    ) -> Result<JoinHandle<()>, Ended> {
        let base = self.device_dn(name).await?;
        let cookie = self.devices.get(name).and_then(|f| f.cookie.clone());
        let mut ldap = ldap.clone();
        let notices = notices.clone();
        let name = name.to_string();
        Ok(tokio::spawn(async move {
            let request = SyncRequest {
                mode: RefreshMode::RefreshAndPersist,
                cookie,
                reload_hint: false,
            };
            // Critical: a server without content synchronization must refuse
            // rather than answer once and end.
            ldap.with_controls(request.critical());
            let attrs = vec!["1.1"];
            let mut stream = match ldap
                .streaming_search(&base, Scope::Subtree, "(objectClass=*)", attrs)
                .await
            {
                Ok(s) => s,
                Err(e) => {
                    let _ = notices.send(Notice::Broken(e.to_string()));
                    return;
                }
            };
            let mut persisting = false;
            loop {
                match stream.next().await {
                    Ok(Some(re)) => {
                        if re.is_intermediate() {
                            let Some(info) = sync_info(&re.0) else {
                                continue;
                            };
                            if let Some(c) = info.cookie {
                                let _ = notices.send(Notice::Cookie(name.clone(), c));
                            }
                            if info.refresh_done && !persisting {
                                persisting = true;
                                let _ = notices.send(Notice::RefreshDone(name.clone()));
                            }
                        } else if !re.is_ref() {
                            let state =
                                re.1.iter()
                                    .find(|c| c.1.ctype == SYNC_STATE_OID)
                                    .and_then(|c| c.1.val.as_deref())
                                    .and_then(sync_state_cookie);
                            if let Some(Some(c)) = state {
                                let _ = notices.send(Notice::Cookie(name.clone(), c));
                            }
                            if persisting {
                                let _ = notices.send(Notice::Changed(name.clone()));
                            }
                        }
                    }
                    Ok(None) => {
                        let res = stream.finish().await;
                        // A refreshOnly-style end carries syncDone with a cookie.
                        let _ = notices.send(Notice::Done {
                            device: name.clone(),
                            rc: res.rc,
                            text: res.text,
                        });
                        return;
                    }
                    Err(e) => {
                        let _ = notices.send(Notice::Broken(e.to_string()));
                        return;
                    }
                }
            }
        }))
    }

    async fn poll_session(
        &mut self,
        lost: &mut bool,
        started: &mut bool,
        failures: &mut u32,
    ) -> Ended {
        let interval = self.options.interval;
        let mut announced = false;
        loop {
            let names: Vec<String> = self.devices.keys().cloned().collect();
            for name in names {
                let fp = match self.fingerprint(&name).await {
                    Ok(fp) => fp,
                    Err(e) => return e,
                };
                if !announced {
                    announced = true;
                    *failures = 0;
                    let server = self.client.inner.server().await;
                    if !self
                        .up(&server, Mechanism::Polling { interval }, lost, started)
                        .await
                    {
                        return Ended::Closed;
                    }
                }
                let changed = self
                    .devices
                    .get(&name)
                    .is_none_or(|f| f.fingerprint.as_ref() != Some(&fp));
                if changed {
                    match self.reload(&name).await {
                        Ok(true) => {}
                        Ok(false) => return Ended::Closed,
                        Err(e) => return e,
                    }
                    if let Some(f) = self.devices.get_mut(&name) {
                        f.fingerprint = Some(fp);
                    }
                }
            }
            // A device to follow cuts the wait short: it is checked at once.
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                command = self.commands.recv() => match command {
                    Some(Command::Follow(d)) => {
                        self.devices.entry(d).or_default();
                    }
                    None => return Ended::Closed,
                },
            }
            if self.events.is_closed() {
                return Ended::Closed;
            }
        }
    }

    /// The DN and change stamps of every entry of the device: equal
    /// fingerprints mean nothing was added, removed or modified.
    async fn fingerprint(&self, name: &str) -> Result<Vec<(String, String)>, Ended> {
        let base = self.device_dn(name).await?;
        let mut stats = Stats::default();
        let (entries, res, server) = self
            .client
            .inner
            .search(
                &mut stats,
                &base,
                Scope::Subtree,
                "(objectClass=*)",
                &["entryCSN", "modifyTimestamp"],
            )
            .await
            .map_err(|e| Ended::Failed {
                server: self.client.inner.config.servers.join(" "),
                cause: e.to_string(),
            })?;
        if res.rc != 0 && res.rc != 32 {
            return Err(Ended::Failed {
                server,
                cause: format!(
                    "poll {base}: {}",
                    crate::error::result_text(res.rc, &res.text)
                ),
            });
        }
        let mut fp: Vec<(String, String)> = entries
            .iter()
            .map(|e| {
                let stamp = e
                    .strings("entryCSN")
                    .chain(e.strings("modifyTimestamp"))
                    .collect::<Vec<_>>()
                    .join(" ");
                (e.dn.normalized(), stamp)
            })
            .collect();
        fp.sort();
        Ok(fp)
    }
}

struct AbortOnDrop(Vec<JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for h in &self.0 {
            h.abort();
        }
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The wait before reconnect attempt `failures` (1-based): doubling from
/// the minimum up to the maximum, with up to 25 % jitter so that many
/// devices losing one server do not return in lockstep.
fn backoff(options: &WatchOptions, failures: u32) -> Duration {
    let shift = failures.saturating_sub(1).min(16);
    let base = options
        .backoff_min
        .saturating_mul(1u32 << shift)
        .min(options.backoff_max);
    let jitter = rand::random::<f64>() * 0.25;
    base.mul_f64(1.0 + jitter)
        .min(options.backoff_max.max(options.backoff_min))
}

// --- a small BER reader for the RFC 4533 values: ldap3's own parsers panic
// on malformed input, which must never happen on what a server sends.

/// One TLV: (class and constructed bits plus tag number, value, rest).
fn tlv(input: &[u8]) -> Option<(u8, u64, &[u8], &[u8])> {
    let (&first, mut rest) = input.split_first()?;
    let class_bits = first & 0xe0;
    let mut number = u64::from(first & 0x1f);
    if number == 0x1f {
        number = 0;
        loop {
            let (&b, r) = rest.split_first()?;
            rest = r;
            number = number.checked_mul(128)?.checked_add(u64::from(b & 0x7f))?;
            if b & 0x80 == 0 {
                break;
            }
        }
    }
    let (&len0, r) = rest.split_first()?;
    rest = r;
    let len = if len0 & 0x80 == 0 {
        usize::from(len0)
    } else {
        let n = usize::from(len0 & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, r) = rest.split_at(n);
        rest = r;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    if rest.len() < len {
        return None;
    }
    let (value, rest) = rest.split_at(len);
    Some((class_bits, number, value, rest))
}

const UNIVERSAL: u8 = 0x00;
const CONTEXT: u8 = 0x80;
const CONSTRUCTED: u8 = 0x20;

/// The cookie of a Sync State control value, if it carries one
/// (`None` for a malformed value).
fn sync_state_cookie(val: &[u8]) -> Option<Option<Vec<u8>>> {
    let (class, 16, body, _) = tlv(val)? else {
        return None;
    };
    if class != UNIVERSAL | CONSTRUCTED {
        return None;
    }
    let (_, 10, _state, rest) = tlv(body)? else {
        return None;
    };
    let (_, 4, _uuid, rest) = tlv(rest)? else {
        return None;
    };
    match tlv(rest) {
        Some((UNIVERSAL, 4, cookie, _)) => Some(Some(cookie.to_vec())),
        _ => Some(None),
    }
}

/// What a Sync Info intermediate message says.
#[derive(Debug, Default, PartialEq, Eq)]
struct SyncInfo {
    cookie: Option<Vec<u8>>,
    /// The refresh phase is over (refreshDelete/refreshPresent with
    /// refreshDone TRUE, its default).
    refresh_done: bool,
}

/// Parses an IntermediateResponse (`[APPLICATION 25]`) carrying Sync Info;
/// `None` for anything else or anything malformed.
fn sync_info(tag: &ldap3::asn1::StructureTag) -> Option<SyncInfo> {
    use ldap3::asn1::PL;
    if tag.id != 25 {
        return None;
    }
    let PL::C(parts) = &tag.payload else {
        return None;
    };
    let mut oid_ok = false;
    let mut value = None;
    for p in parts {
        match (&p.payload, p.id) {
            (PL::P(v), 0) => oid_ok = v.as_slice() == SYNC_INFO_OID.as_bytes(),
            (PL::P(v), 1) => value = Some(v.as_slice()),
            _ => {}
        }
    }
    if !oid_ok {
        return None;
    }
    parse_sync_info_value(value?)
}

fn parse_sync_info_value(value: &[u8]) -> Option<SyncInfo> {
    let (class, number, body, _) = tlv(value)?;
    match (class, number) {
        // newcookie [0] syncCookie
        (CONTEXT, 0) => Some(SyncInfo {
            cookie: Some(body.to_vec()),
            refresh_done: false,
        }),
        // refreshDelete [1] / refreshPresent [2]: { cookie?, refreshDone DEFAULT TRUE }
        (c, 1 | 2) if c == CONTEXT | CONSTRUCTED => {
            let mut info = SyncInfo {
                cookie: None,
                refresh_done: true,
            };
            let mut rest = body;
            while !rest.is_empty() {
                let (class, number, v, r) = tlv(rest)?;
                rest = r;
                match (class, number) {
                    (UNIVERSAL, 4) => info.cookie = Some(v.to_vec()),
                    (UNIVERSAL, 1) => info.refresh_done = v.first().is_some_and(|b| *b != 0),
                    _ => return None,
                }
            }
            Some(info)
        }
        // syncIdSet [3] { cookie?, refreshDeletes, syncUUIDs }: only the cookie matters here.
        (c, 3) if c == CONTEXT | CONSTRUCTED => {
            let cookie = match tlv(body) {
                Some((UNIVERSAL, 4, v, _)) => Some(v.to_vec()),
                _ => None,
            };
            Some(SyncInfo {
                cookie,
                refresh_done: false,
            })
        }
        _ => None,
    }
}

/// Entry point for the fuzz target `ldap_sync_values`: runs the RFC 4533
/// value readers on untrusted bytes. Not part of the API.
#[doc(hidden)]
pub fn fuzz_sync_values(data: &[u8]) {
    let _ = parse_sync_info_value(data);
    let _ = sync_state_cookie(data);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_info_values() {
        // refreshDelete { cookie "ck" } (refreshDone defaults to TRUE)
        let v = [0xa1, 0x04, 0x04, 0x02, b'c', b'k'];
        assert_eq!(
            parse_sync_info_value(&v),
            Some(SyncInfo {
                cookie: Some(b"ck".to_vec()),
                refresh_done: true
            })
        );
        // refreshPresent { refreshDone FALSE }
        let v = [0xa2, 0x03, 0x01, 0x01, 0x00];
        assert_eq!(
            parse_sync_info_value(&v),
            Some(SyncInfo {
                cookie: None,
                refresh_done: false
            })
        );
        // newcookie
        let v = [0x80, 0x01, b'x'];
        assert_eq!(
            parse_sync_info_value(&v).and_then(|i| i.cookie),
            Some(b"x".to_vec())
        );
        // syncIdSet with a cookie
        let v = [0xa3, 0x06, 0x04, 0x01, b'z', 0x31, 0x00, 0x00];
        assert_eq!(
            parse_sync_info_value(&v).map(|i| (i.cookie, i.refresh_done)),
            Some((Some(b"z".to_vec()), false))
        );
    }

    #[test]
    fn malformed_values_are_rejected_not_panicked_on() {
        for bad in [
            &[][..],
            &[0xa1],
            &[0xa1, 0x05, 0x04],
            &[0xa1, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0xa1, 0x02, 0x30, 0x00],
            &[
                0xbf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
            ],
            &[0xa5, 0x00],
        ] {
            assert_eq!(parse_sync_info_value(bad), None, "{bad:02x?}");
            assert_eq!(sync_state_cookie(bad), None, "{bad:02x?}");
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        for len in 0..64usize {
            for _ in 0..200 {
                let bytes: Vec<u8> = (0..len).map(|_| rand::random::<u8>()).collect();
                let _ = parse_sync_info_value(&bytes);
                let _ = sync_state_cookie(&bytes);
                let _ = tlv(&bytes);
            }
        }
    }

    #[test]
    fn sync_state_cookies() {
        // { state add(1), uuid 16 bytes, cookie "c1" }
        let mut v = vec![0x30, 0x19, 0x0a, 0x01, 0x01, 0x04, 0x10];
        v.extend([7u8; 16]);
        v.extend([0x04, 0x02, b'c', b'1']);
        assert_eq!(sync_state_cookie(&v), Some(Some(b"c1".to_vec())));
        let mut v = vec![0x30, 0x15, 0x0a, 0x01, 0x02, 0x04, 0x10];
        v.extend([7u8; 16]);
        assert_eq!(sync_state_cookie(&v), Some(None));
    }

    #[test]
    fn backoff_grows_to_the_cap_and_never_beyond() {
        let o = WatchOptions {
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            ..WatchOptions::default()
        };
        let first = backoff(&o, 1);
        assert!(first >= Duration::from_millis(100) && first <= Duration::from_millis(125));
        let third = backoff(&o, 3);
        assert!(third >= Duration::from_millis(400) && third <= Duration::from_millis(500));
        for n in [10, 100, u32::MAX] {
            assert_eq!(backoff(&o, n), Duration::from_secs(2));
        }
    }
}
