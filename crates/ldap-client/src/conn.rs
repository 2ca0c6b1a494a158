//! The connection: server list with failover, StartTLS/ldaps, bind,
//! timeouts, one transparent reconnect after a dropped connection, write
//! referrals followed to the provider, and round-trip counting.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ldap3::{Ldap, LdapError, LdapResult, Mod, Scope, SearchOptions};
use tokio::sync::Mutex;

use annexr_model::{Attribute, Dn, LdapEntry};
use ldap3::ResultEntry;
use ldap3::asn1::StructureTag;

use crate::config::{Bind, ClientConfig};
use crate::error::{Error, Result};
use crate::guard::{self, Target, Violation};

/// Searches sent together on one connection at most (the rest wait for a
/// later round trip), so one load cannot flood a server.
pub(crate) const MAX_PIPELINED: usize = 32;

/// What an operation cost on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct Stats {
    /// Sequential waits for the server: requests sent together (pipelined
    /// on one connection) and awaited together count once.
    pub round_trips: u32,
    /// LDAP requests sent (StartTLS and bind included).
    pub requests: u32,
    /// Connections (re-)established during the operation.
    pub connects: u32,
}

/// A result together with what it cost.
///
/// Serializes as the result's own fields next to `round_trips`,
/// `requests` and `connects` (a result that is an object, such as
/// `ResolvedAe` or `FoundAes`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Counted<T> {
    /// The result.
    #[serde(flatten)]
    pub value: T,
    /// Round trips, requests and connects it used.
    #[serde(flatten)]
    pub stats: Stats,
}

/// A write to perform.
#[derive(Debug, Clone)]
pub(crate) enum Write {
    Add(LdapEntry),
    Modify(String, Vec<Mod<Vec<u8>>>),
    Delete(String),
}

impl Write {
    pub(crate) fn dn(&self) -> String {
        match self {
            Write::Add(e) => e.dn.to_string(),
            Write::Modify(dn, _) | Write::Delete(dn) => dn.clone(),
        }
    }

    fn verb(&self) -> &'static str {
        match self {
            Write::Add(_) => "add",
            Write::Modify(..) => "modify",
            Write::Delete(_) => "delete",
        }
    }
}

#[derive(Clone)]
struct Active {
    ldap: Ldap,
    server: String,
    index: usize,
    generation: u64,
    violation: Violation,
    /// TLS protects this connection (ldaps or StartTLS).
    encrypted: bool,
}

pub(crate) struct Inner {
    pub(crate) config: ClientConfig,
    tls: Arc<rustls::ClientConfig>,
    conn: Mutex<Option<Active>>,
    referral: Mutex<Option<Active>>,
    generation: AtomicU64,
}

fn tls_config(config: &ClientConfig) -> Result<Arc<rustls::ClientConfig>> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    if let Some(path) = &config.tls.ca_file {
        let bad = |cause: String| Error::Config(format!("CA file {}: {cause}", path.display()));
        for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
            let cert = cert.map_err(|e| bad(e.to_string()))?;
            roots.add(cert).map_err(|e| bad(e.to_string()))?;
        }
        if roots.is_empty() {
            return Err(bad("no certificate in it".into()));
        }
    } else {
        // The system store; certificates that fail to load are skipped,
        // but an empty store is an error rather than a silent "trust none".
        let native = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        if added == 0 && !config.tls.insecure_skip_verify {
            return Err(Error::Config(
                "no system CA certificate could be loaded: set a CA file".into(),
            ));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // A battery clock years off would fail every certificate: with an
    // NTP-measured correction, rustls checks validity against corrected time.
    let builder = match config.tls.clock_correction {
        Some(c) => rustls::ClientConfig::builder_with_details(provider, Arc::new(CorrectedTime(c))),
        None => rustls::ClientConfig::builder_with_provider(provider),
    };
    let mut tls = builder
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    if config.tls.insecure_skip_verify {
        tls.dangerous()
            .set_certificate_verifier(Arc::new(NoVerification));
    }
    Ok(Arc::new(tls))
}

/// The time rustls checks certificates against: the system clock plus the
/// NTP-measured correction.
#[derive(Debug)]
struct CorrectedTime(crate::config::ClockCorrection);

impl rustls::time_provider::TimeProvider for CorrectedTime {
    fn current_time(&self) -> Option<rustls::pki_types::UnixTime> {
        let now = self.0.apply(std::time::SystemTime::now())?;
        let since = now.duration_since(std::time::UNIX_EPOCH).ok()?;
        Some(rustls::pki_types::UnixTime::since_unix_epoch(since))
    }
}
/// `insecure_skip_verify`: accepts any certificate (test setups only).
#[derive(Debug)]
struct NoVerification;

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &[rustls::pki_types::CertificateDer<'_>],
        _: &rustls::pki_types::ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> std::result::Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _: &[u8],
        _: &rustls::pki_types::CertificateDer<'_>,
        _: &rustls::DigitallySignedStruct,
    ) -> std::result::Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Transport failures (the connection is unusable) versus everything else.
fn is_transport(e: &LdapError) -> bool {
    matches!(
        e,
        LdapError::Io { .. }
            | LdapError::OpSend { .. }
            | LdapError::ResultRecv { .. }
            | LdapError::IdScrubSend { .. }
            | LdapError::MiscSend { .. }
            | LdapError::EndOfStream
            | LdapError::Timeout { .. }
    )
}

impl Inner {
    pub(crate) fn new(config: ClientConfig) -> Result<Inner> {
        if config.servers.is_empty() {
            return Err(Error::Config("no LDAP server given".into()));
        }
        for s in &config.servers {
            if Target::parse(s).is_none() {
                return Err(Error::Config(format!(
                    "{s}: only ldap://host[:port] and ldaps://host[:port] URLs are supported"
                )));
            }
        }
        if let Bind::Simple { dn, password } = &config.bind {
            if dn.trim().is_empty() {
                return Err(Error::Config("simple bind with an empty bind DN".into()));
            }
            if password.is_empty() {
                // RFC 4513 5.1.2: an empty password is an unauthenticated
                // bind, which some servers treat as anonymous.
                return Err(Error::Config(format!(
                    "bind DN {dn} has no password (an empty password would be an unauthenticated bind)"
                )));
            }
        }
        let tls = tls_config(&config)?;
        Ok(Inner {
            config,
            tls,
            conn: Mutex::new(None),
            referral: Mutex::new(None),
            generation: AtomicU64::new(0),
        })
    }

    /// Connects and binds to one server. `must_encrypt` refuses a
    /// connection without TLS (a referral from a TLS connection).
    pub(crate) async fn open(
        &self,
        server: &str,
        stats: &mut Stats,
        must_encrypt: bool,
    ) -> Result<(Ldap, Violation, bool)> {
        let cfg = &self.config;
        let connect_err = |cause: String| Error::Connect {
            server: server.to_string(),
            cause,
        };
        let target = Target::parse(server)
            .ok_or_else(|| Error::Config(format!("{server}: not an ldap:// or ldaps:// URL")))?;
        let starttls = cfg.starttls_for(server) || (must_encrypt && !target.tls);
        if cfg.binds_in_clear(server) && !starttls {
            tracing::warn!(server = %server, "simple bind without TLS (allow_plaintext_bind): the password travels in clear");
        }
        let encrypted = target.tls || starttls;
        let fut = async {
            let guarded = guard::connect(&target, starttls, &self.tls, cfg.size_limit)
                .await
                .map_err(connect_err)?;
            let mut ldap = guarded.ldap;
            stats.connects += 1;
            if starttls {
                stats.round_trips += 1;
                stats.requests += 1;
            }
            let conn = guarded.conn;
            tokio::spawn(async move {
                if let Err(e) = conn.drive().await {
                    tracing::debug!("LDAP connection ended: {e}");
                }
            });
            if let Bind::Simple { dn, password } = &cfg.bind {
                stats.round_trips += 1;
                stats.requests += 1;
                let r = ldap.simple_bind(dn, password.expose()).await;
                let r = match r {
                    Ok(r) => r,
                    Err(e) => {
                        return Err(violation_or(&guarded.violation, server, "bind")
                            .unwrap_or_else(|| connect_err(format!("bind: {e}"))));
                    }
                };
                if r.rc != 0 {
                    return Err(Error::Bind {
                        server: server.to_string(),
                        who: dn.clone(),
                        rc: r.rc,
                        text: r.text,
                    });
                }
            }
            Ok((ldap, guarded.violation, encrypted))
        };
        let limit = cfg.connect_timeout + cfg.operation_timeout;
        // Covers TCP, TLS and bind together.
        match tokio::time::timeout(limit, fut).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                server: server.to_string(),
                step: "connect and bind".into(),
                after: limit,
            }),
        }
    }

    /// Connects to the first usable server, starting at `start` (so a
    /// reconnect tries the same server once before failing over).
    async fn connect_from(&self, start: usize, stats: &mut Stats) -> Result<Active> {
        let n = self.config.servers.len();
        let mut errors = Vec::new();
        for k in 0..n {
            let index = (start + k) % n;
            let server = &self.config.servers[index];
            match self.open(server, stats, false).await {
                Ok((ldap, violation, encrypted)) => {
                    tracing::info!(server = %server, "LDAP connected");
                    return Ok(Active {
                        ldap,
                        server: server.clone(),
                        index,
                        generation: self.generation.fetch_add(1, Ordering::Relaxed) + 1,
                        violation,
                        encrypted,
                    });
                }
                Err(e) => {
                    tracing::warn!("LDAP server failed, trying the next: {e}");
                    errors.push(e);
                }
            }
        }
        if errors.len() == 1 {
            Err(errors.remove(0))
        } else {
            Err(Error::AllServersFailed(errors))
        }
    }

    async fn active(&self, stats: &mut Stats) -> Result<Active> {
        let mut guard = self.conn.lock().await;
        let (start, usable) = match guard.as_mut() {
            Some(a) => (a.index, !a.ldap.is_closed()),
            None => (0, false),
        };
        if usable && let Some(a) = guard.as_ref() {
            return Ok(a.clone());
        }
        let a = self.connect_from(start, stats).await?;
        *guard = Some(a.clone());
        // A redirect lasts only as long as the connection that was referred.
        *self.referral.lock().await = None;
        Ok(a)
    }

    /// Moves to the next server of the list (root discovery found nothing
    /// on this one).
    pub(crate) async fn next_server(&self, stats: &mut Stats) -> Result<()> {
        let mut guard = self.conn.lock().await;
        let start = guard.as_ref().map_or(0, |a| a.index + 1) % self.config.servers.len();
        let a = self.connect_from(start, stats).await?;
        *guard = Some(a);
        *self.referral.lock().await = None;
        Ok(())
    }

    async fn invalidate(&self, generation: u64) {
        let mut guard = self.conn.lock().await;
        if guard.as_ref().is_some_and(|a| a.generation == generation) {
            *guard = None;
        }
    }

    /// The server currently connected (for messages), if any.
    pub(crate) async fn server(&self) -> String {
        self.conn
            .lock()
            .await
            .as_ref()
            .map(|a| a.server.clone())
            .unwrap_or_else(|| self.config.servers.join(" "))
    }

    /// Runs `op` (one round trip of `requests` requests) on the shared
    /// connection; after a transport failure it reconnects once and retries.
    pub(crate) async fn run<T, F, Fut>(
        &self,
        step: &str,
        requests: u32,
        stats: &mut Stats,
        op: F,
    ) -> Result<(T, String)>
    where
        F: Fn(Ldap) -> Fut,
        Fut: Future<Output = std::result::Result<T, LdapError>>,
    {
        let limit = self.config.operation_timeout;
        let mut last = None;
        for _attempt in 0..2 {
            let active = self.active(stats).await?;
            stats.round_trips += 1;
            stats.requests += requests;
            match tokio::time::timeout(limit, op(active.ldap.clone())).await {
                Ok(Ok(v)) => return Ok((v, active.server)),
                Ok(Err(_)) if violation_or(&active.violation, &active.server, step).is_some() => {
                    self.invalidate(active.generation).await;
                    return Err(violation_or(&active.violation, &active.server, step)
                        .unwrap_or_else(|| Error::Config("no violation".into())));
                }
                Ok(Err(e)) if is_transport(&e) => {
                    tracing::info!(server = %active.server, "{step}: connection lost ({e}); reconnecting once");
                    self.invalidate(active.generation).await;
                    last = Some(Error::Connection {
                        server: active.server,
                        step: step.to_string(),
                        cause: e.to_string(),
                    });
                }
                Ok(Err(e)) => {
                    return Err(Error::Connection {
                        server: active.server,
                        step: step.to_string(),
                        cause: e.to_string(),
                    });
                }
                Err(_) => {
                    // A silently dropped connection (firewall) looks like this.
                    self.invalidate(active.generation).await;
                    last = Some(Error::Timeout {
                        server: active.server,
                        step: step.to_string(),
                        after: limit,
                    });
                }
            }
        }
        Err(last.unwrap_or_else(|| Error::Config("no attempt ran".into())))
    }

    /// One search; entries plus the final result (rc not checked).
    pub(crate) async fn search(
        &self,
        stats: &mut Stats,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
    ) -> Result<(Vec<LdapEntry>, LdapResult, String)> {
        let step = format!("search {base} {filter}");
        let attrs: Vec<String> = attrs.iter().map(|s| s.to_string()).collect();
        let options = self.search_options();
        let ((entries, res), server) = self
            .run(&step, 1, stats, |mut ldap| {
                let attrs = attrs.clone();
                let options = options.clone();
                async move {
                    let r = ldap
                        .with_search_options(options)
                        .search(base, scope, filter, attrs)
                        .await?;
                    Ok((r.0, r.1))
                }
            })
            .await?;
        self.within_limit(entries.len(), &server, &step)?;
        let entries = entries_of(entries, &server)?;
        Ok((entries, res, server))
    }

    /// The size and time limit sent with every search.
    fn search_options(&self) -> SearchOptions {
        let secs = self
            .config
            .operation_timeout
            .as_secs()
            .clamp(1, i32::MAX as u64) as i32;
        let size = self.config.size_limit.min(i32::MAX as u32) as i32;
        SearchOptions::new().sizelimit(size).timelimit(secs)
    }

    fn within_limit(&self, n: usize, server: &str, step: &str) -> Result<()> {
        if n > self.config.size_limit as usize {
            return Err(Error::TooManyEntries {
                server: server.to_string(),
                step: step.to_string(),
                limit: self.config.size_limit,
            });
        }
        Ok(())
    }

    /// A subtree search with paged results (RFC 2696), one round trip per
    /// page. The final result tells whether the server cut it short
    /// (3/4/11); the entries read so far come back with it.
    pub(crate) async fn search_paged(
        &self,
        stats: &mut Stats,
        base: &str,
        filter: &str,
        attrs: &[&str],
    ) -> Result<(Vec<LdapEntry>, LdapResult, String)> {
        use ldap3::controls::{PagedResults, RawControl};
        let step = format!("paged search {base} {filter}");
        let attrs: Vec<String> = attrs.iter().map(|s| s.to_string()).collect();
        let page = self.config.page_size.clamp(1, i32::MAX as u32) as i32;
        let mut cookie: Vec<u8> = Vec::new();
        let mut all = Vec::new();
        loop {
            let options = self.search_options();
            let ((entries, res), server) = self
                .run(&step, 1, stats, |mut ldap| {
                    let attrs = attrs.clone();
                    let options = options.clone();
                    let control: RawControl = PagedResults {
                        size: page,
                        cookie: cookie.clone(),
                    }
                    .into();
                    async move {
                        let r = ldap
                            .with_search_options(options)
                            .with_controls(vec![control])
                            .search(base, Scope::Subtree, filter, attrs)
                            .await?;
                        Ok((r.0, r.1))
                    }
                })
                .await?;
            self.within_limit(all.len() + entries.len(), &server, &step)?;
            all.extend(entries_of(entries, &server)?);
            let next = res
                .ctrls
                .iter()
                .find(|c| c.1.ctype == "1.2.840.113556.1.4.319")
                .and_then(|c| c.1.val.as_deref())
                .map(crate::frame::paged_cookie)
                .transpose()
                .map_err(|e| Error::Protocol {
                    server: server.clone(),
                    step: step.clone(),
                    cause: e.0,
                })?
                .unwrap_or_default();
            if res.rc != 0 || next.is_empty() {
                return Ok((all, res, server));
            }
            cookie = next;
        }
    }

    /// Several searches sent together on the one connection (pipelined) and
    /// awaited together: one round trip of sequential waiting.
    pub(crate) async fn search_many(
        &self,
        stats: &mut Stats,
        step: &str,
        requests: Vec<(String, Scope, String, Vec<String>)>,
    ) -> Result<(Vec<(Vec<LdapEntry>, LdapResult)>, String)> {
        if requests.is_empty() {
            return Ok((Vec::new(), self.server().await));
        }
        let mut out = Vec::with_capacity(requests.len());
        let mut server = String::new();
        let mut requests = requests;
        while !requests.is_empty() {
            let rest = requests.split_off(requests.len().min(MAX_PIPELINED));
            let (mut part, s) = self.search_batch(stats, step, requests).await?;
            out.append(&mut part);
            server = s;
            requests = rest;
        }
        Ok((out, server))
    }

    /// Up to [`MAX_PIPELINED`] searches in one round trip.
    async fn search_batch(
        &self,
        stats: &mut Stats,
        step: &str,
        requests: Vec<(String, Scope, String, Vec<String>)>,
    ) -> Result<(Vec<(Vec<LdapEntry>, LdapResult)>, String)> {
        let n = requests.len() as u32;
        let requests = Arc::new(requests);
        let options = self.search_options();
        let (results, server) = self
            .run(step, n, stats, |ldap| {
                let requests = requests.clone();
                let options = options.clone();
                async move {
                    let mut set = tokio::task::JoinSet::new();
                    for (i, (base, scope, filter, attrs)) in requests.iter().cloned().enumerate() {
                        let mut ldap = ldap.clone();
                        let options = options.clone();
                        set.spawn(async move {
                            let r = ldap
                                .with_search_options(options)
                                .search(&base, scope, &filter, attrs)
                                .await;
                            (i, r)
                        });
                    }
                    let mut out: Vec<Option<(Vec<ResultEntry>, LdapResult)>> =
                        (0..requests.len()).map(|_| None).collect();
                    while let Some(joined) = set.join_next().await {
                        let (i, r) =
                            joined.map_err(|e| LdapError::from(std::io::Error::other(e)))?;
                        let r = r?;
                        if let Some(slot) = out.get_mut(i) {
                            *slot = Some((r.0, r.1));
                        }
                    }
                    Ok(out.into_iter().flatten().collect::<Vec<_>>())
                }
            })
            .await?;
        let mut out = Vec::with_capacity(results.len());
        for (entries, res) in results {
            self.within_limit(entries.len(), &server, step)?;
            out.push((entries_of(entries, &server)?, res));
        }
        Ok((out, server))
    }

    async fn write_on(ldap: &mut Ldap, w: &Write) -> std::result::Result<LdapResult, LdapError> {
        match w {
            Write::Add(e) => {
                let attrs: Vec<(Vec<u8>, HashSet<Vec<u8>>)> = e
                    .attributes
                    .iter()
                    .map(|a| {
                        (
                            a.name.as_bytes().to_vec(),
                            a.values.iter().cloned().collect(),
                        )
                    })
                    .collect();
                ldap.add(&e.dn.to_string(), attrs).await
            }
            Write::Modify(dn, mods) => ldap.modify(dn, mods.clone()).await,
            Write::Delete(dn) => ldap.delete(dn).await,
        }
    }

    /// One write. A referral (a read-only replica) is followed to the
    /// provider with the same credentials when the configuration allows;
    /// later writes of this client then go to the provider directly.
    pub(crate) async fn write(&self, stats: &mut Stats, w: &Write) -> Result<(LdapResult, String)> {
        if let Some(r) = self.referral_write(stats, w).await? {
            return Ok(r);
        }
        let step = format!("{} {}", w.verb(), w.dn());
        let (res, server) = self
            .run(&step, 1, stats, |mut ldap| async move {
                Self::write_on(&mut ldap, w).await
            })
            .await?;
        if res.rc == 10
            && self.config.follow_referrals
            && let Some(url) = res
                .refs
                .iter()
                .filter_map(|r| referral_server(r))
                .find(|u| self.referral_allowed(u))
        {
            tracing::info!(server = %server, "write referred to {url}");
            let from_tls = self.conn.lock().await.as_ref().is_some_and(|a| a.encrypted);
            let a = self
                .open(&url, stats, from_tls)
                .await
                .map(|(ldap, violation, encrypted)| Active {
                    ldap,
                    server: url.clone(),
                    index: usize::MAX,
                    generation: 0,
                    violation,
                    encrypted,
                });
            match a {
                Ok(a) => {
                    *self.referral.lock().await = Some(a);
                    if let Some(r) = self.referral_write(stats, w).await? {
                        return Ok(r);
                    }
                }
                Err(e) => {
                    tracing::warn!("cannot follow referral to {url}: {e}");
                }
            }
        }
        Ok((res, server))
    }

    /// A referral may lead only to a host of the configured (or SRV) set.
    fn referral_allowed(&self, url: &str) -> bool {
        let Some(t) = Target::parse(url) else {
            return false;
        };
        let hostport = format!("{}:{}", t.host, t.port).to_ascii_lowercase();
        let known = self
            .config
            .servers
            .iter()
            .filter_map(|s| Target::parse(s))
            .map(|k| format!("{}:{}", k.host, k.port).to_ascii_lowercase())
            .chain(
                self.config
                    .referral_hosts
                    .iter()
                    .map(|h| h.to_ascii_lowercase()),
            )
            .any(|k| k == hostport);
        if !known {
            tracing::warn!("referral to {url} not followed: not a configured LDAP server");
        }
        known
    }

    async fn referral_write(
        &self,
        stats: &mut Stats,
        w: &Write,
    ) -> Result<Option<(LdapResult, String)>> {
        let Some(mut a) = self.referral.lock().await.clone() else {
            return Ok(None);
        };
        if a.ldap.is_closed() {
            *self.referral.lock().await = None;
            return Ok(None);
        }
        stats.round_trips += 1;
        stats.requests += 1;
        let limit = self.config.operation_timeout;
        match tokio::time::timeout(limit, Self::write_on(&mut a.ldap, w)).await {
            Ok(Ok(r)) => Ok(Some((r, a.server))),
            Ok(Err(e)) => Err(Error::Connection {
                server: a.server,
                step: format!("{} {}", w.verb(), w.dn()),
                cause: e.to_string(),
            }),
            Err(_) => Err(Error::Timeout {
                server: a.server,
                step: format!("{} {}", w.verb(), w.dn()),
                after: limit,
            }),
        }
    }
}

/// The typed error for a connection the guard closed, if it did.
fn violation_or(violation: &Violation, server: &str, step: &str) -> Option<Error> {
    let cause = violation.lock().ok()?.clone()?;
    Some(Error::Protocol {
        server: server.to_string(),
        step: step.to_string(),
        cause,
    })
}

/// Search result entries as model entries. ldap3's `SearchEntry::construct`
/// panics on malformed BER and splits binary values off; this keeps bytes.
fn entries_of(raw: Vec<ResultEntry>, server: &str) -> Result<Vec<LdapEntry>> {
    let mut out = Vec::with_capacity(raw.len());
    for re in raw {
        if re.is_ref() {
            // R.1.3: entries held by another server. Not followed here: said,
            // so that a search that missed them is not silent.
            let urls = reference_urls(re.0);
            tracing::warn!(
                "{server}: search continuation reference not followed, entries there are missing: {}",
                urls.join(" ")
            );
            continue;
        }
        if re.is_intermediate() {
            continue;
        }
        let Some((dn, attrs)) = parse_entry(re.0) else {
            return Err(Error::BadEntry {
                server: server.to_string(),
                dn: String::new(),
                reason: "malformed SearchResultEntry".into(),
            });
        };
        let parsed = Dn::parse(&dn).map_err(|e| Error::BadEntry {
            server: server.to_string(),
            dn: dn.clone(),
            reason: e.to_string(),
        })?;
        let mut entry = LdapEntry::new(parsed);
        entry.attributes = attrs;
        out.push(entry);
    }
    Ok(out)
}

fn parse_entry(tag: StructureTag) -> Option<(String, Vec<Attribute>)> {
    let mut parts = tag.match_id(4)?.expect_constructed()?.into_iter();
    let dn = String::from_utf8(parts.next()?.expect_primitive()?).ok()?;
    let mut attrs = Vec::new();
    for attr in parts.next()?.expect_constructed()? {
        let mut pa = attr.expect_constructed()?.into_iter();
        let name = String::from_utf8(pa.next()?.expect_primitive()?).ok()?;
        let mut values = Vec::new();
        for v in pa.next()?.expect_constructed()? {
            values.push(v.expect_primitive()?);
        }
        // One attribute given twice (RFC 4511 forbids it; slapadd -q data
        // can do it): its values are merged, none is shadowed.
        match attrs
            .iter_mut()
            .find(|a: &&mut Attribute| a.name.eq_ignore_ascii_case(&name))
        {
            Some(known) => known.values.extend(values),
            None => attrs.push(Attribute { name, values }),
        }
    }
    Some((dn, attrs))
}

/// The URIs of a SearchResultReference (`[APPLICATION 19] SEQUENCE OF URI`).
fn reference_urls(tag: StructureTag) -> Vec<String> {
    tag.match_id(19)
        .and_then(|t| t.expect_constructed())
        .map(|parts| {
            parts
                .into_iter()
                .filter_map(|p| p.expect_primitive())
                .filter_map(|b| String::from_utf8(b).ok())
                .collect()
        })
        .unwrap_or_default()
}

/// `ldap://host:port/dn??…` → `ldap://host:port`.
fn referral_server(r: &str) -> Option<String> {
    let (scheme, rest) = r.split_once("://")?;
    if scheme != "ldap" && scheme != "ldaps" {
        return None;
    }
    let hostport = rest.split('/').next()?;
    (!hostport.is_empty()).then(|| format!("{scheme}://{hostport}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn referral_urls() {
        assert_eq!(
            referral_server("ldap://127.0.0.1:3890/dc=example,dc=org").as_deref(),
            Some("ldap://127.0.0.1:3890")
        );
        assert_eq!(referral_server("ldaps://h").as_deref(), Some("ldaps://h"));
        assert_eq!(referral_server("http://h/"), None);
        assert_eq!(referral_server("ldap:///dc=x"), None);
    }

    #[test]
    fn credentials_never_printed() {
        let cfg = ClientConfig::new("ldap://127.0.0.1:1").simple_bind("cn=x", "s3cr3t-pw");
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("s3cr3t-pw"), "{dbg}");
        assert!(dbg.contains("***"));
        let e = Inner::new(ClientConfig::with_servers(vec![]))
            .err()
            .unwrap();
        assert!(e.to_string().contains("no LDAP server"));
        let e = Inner::new(ClientConfig::new("http://x")).err().unwrap();
        assert!(matches!(e, Error::Config(_)));
    }

    #[test]
    fn certificates_are_checked_against_the_corrected_clock() {
        use rustls::time_provider::TimeProvider;
        let two_years = 730 * 86_400;
        let correction = crate::config::ClockCorrection::from_micros(-two_years * 1_000_000);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let seen = CorrectedTime(correction).current_time().unwrap().as_secs();
        let expected = now - two_years as u64;
        assert!(seen.abs_diff(expected) <= 5, "{seen} vs {expected}");
        // A correction to before 1970 gives no time: rustls then fails closed.
        let absurd = crate::config::ClockCorrection::from_micros(i64::MIN);
        assert_eq!(CorrectedTime(absurd).current_time(), None);
    }
}
