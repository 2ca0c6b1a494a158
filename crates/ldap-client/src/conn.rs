//! The connection: server list with failover, StartTLS/ldaps, bind,
//! timeouts, one transparent reconnect after a dropped connection, write
//! referrals followed to the provider, and round-trip counting.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, LdapResult, Mod, Scope};
use tokio::sync::Mutex;

use annexr_model::{Attribute, Dn, LdapEntry};
use ldap3::ResultEntry;
use ldap3::asn1::StructureTag;

use crate::config::{Bind, ClientConfig};
use crate::error::{Error, Result};

/// What an operation cost on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted<T> {
    /// The result.
    pub value: T,
    /// Round trips, requests and connects it used.
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
}

pub(crate) struct Inner {
    pub(crate) config: ClientConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    conn: Mutex<Option<Active>>,
    referral: Mutex<Option<Active>>,
    generation: AtomicU64,
}

fn tls_config(config: &ClientConfig) -> Result<Option<Arc<rustls::ClientConfig>>> {
    // One provider for the process (ring), so ldap3's default config works too.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let correction = config.tls.clock_correction;
    let roots = match &config.tls.ca_file {
        Some(path) => ca_file_roots(path)?,
        // ldap3's default config (native roots) serves unless the clock
        // needs correcting, which only a config of our own can do.
        None if correction.is_some() => native_roots()?,
        None => return Ok(None),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = match correction {
        Some(c) => rustls::ClientConfig::builder_with_details(provider, Arc::new(CorrectedTime(c))),
        None => rustls::ClientConfig::builder_with_provider(provider),
    };
    let tls = builder
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(Arc::new(tls)))
}

fn ca_file_roots(path: &std::path::Path) -> Result<rustls::RootCertStore> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let bad = |cause: String| Error::Config(format!("CA file {}: {cause}", path.display()));
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| bad(e.to_string()))? {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        roots.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("no certificate in it".into()));
    }
    Ok(roots)
}

fn native_roots() -> Result<rustls::RootCertStore> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let why = found
            .errors
            .first()
            .map(ToString::to_string)
            .unwrap_or_else(|| "none found".into());
        return Err(Error::Config(format!(
            "system CA certificates: {why}; set a CA file"
        )));
    }
    Ok(roots)
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
            if !(s.starts_with("ldap://") || s.starts_with("ldaps://")) {
                return Err(Error::Config(format!(
                    "{s}: only ldap:// and ldaps:// URLs are supported"
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

    /// Connects and binds to one server.
    pub(crate) async fn open(&self, server: &str, stats: &mut Stats) -> Result<Ldap> {
        let cfg = &self.config;
        let mut settings = LdapConnSettings::new().set_conn_timeout(cfg.connect_timeout);
        let starttls = cfg.tls.starttls && server.starts_with("ldap://");
        settings = settings.set_starttls(starttls);
        if let Some(tls) = &self.tls {
            settings = settings.set_config(tls.clone());
        }
        if cfg.tls.insecure_skip_verify {
            settings = settings.set_no_tls_verify(true);
        }
        let connect_err = |cause: String| Error::Connect {
            server: server.to_string(),
            cause,
        };
        let fut = async {
            let (conn, mut ldap) = LdapConnAsync::with_settings(settings, server)
                .await
                .map_err(|e| connect_err(e.to_string()))?;
            stats.connects += 1;
            if starttls {
                stats.round_trips += 1;
                stats.requests += 1;
            }
            tokio::spawn(async move {
                if let Err(e) = conn.drive().await {
                    tracing::debug!("LDAP connection ended: {e}");
                }
            });
            if let Bind::Simple { dn, password } = &cfg.bind {
                stats.round_trips += 1;
                stats.requests += 1;
                let r = ldap
                    .simple_bind(dn, password.expose())
                    .await
                    .map_err(|e| connect_err(format!("bind: {e}")))?;
                if r.rc != 0 {
                    return Err(Error::Bind {
                        server: server.to_string(),
                        who: dn.clone(),
                        rc: r.rc,
                        text: r.text,
                    });
                }
            }
            Ok(ldap)
        };
        // The connect timeout of ldap3 covers TCP only; this covers TLS and bind too.
        match tokio::time::timeout(cfg.connect_timeout + cfg.operation_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                server: server.to_string(),
                step: "connect and bind".into(),
                after: cfg.connect_timeout + cfg.operation_timeout,
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
            match self.open(server, stats).await {
                Ok(ldap) => {
                    tracing::info!(server = %server, "LDAP connected");
                    return Ok(Active {
                        ldap,
                        server: server.clone(),
                        index,
                        generation: self.generation.fetch_add(1, Ordering::Relaxed) + 1,
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
        Ok(a)
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
        let ((entries, res), server) = self
            .run(&step, 1, stats, |mut ldap| {
                let attrs = attrs.clone();
                async move {
                    let r = ldap.search(base, scope, filter, attrs).await?;
                    Ok((r.0, r.1))
                }
            })
            .await?;
        let entries = entries_of(entries, &server)?;
        Ok((entries, res, server))
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
        let n = requests.len() as u32;
        let requests = Arc::new(requests);
        let (results, server) = self
            .run(step, n, stats, |ldap| {
                let requests = requests.clone();
                async move {
                    let mut set = tokio::task::JoinSet::new();
                    for (i, (base, scope, filter, attrs)) in requests.iter().cloned().enumerate() {
                        let mut ldap = ldap.clone();
                        set.spawn(async move {
                            let r = ldap.search(&base, scope, &filter, attrs).await;
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
            && let Some(url) = res.refs.iter().find_map(|r| referral_server(r))
        {
            tracing::info!(server = %server, "write referred to {url}");
            let a = self.open(&url, stats).await.map(|ldap| Active {
                ldap,
                server: url.clone(),
                index: usize::MAX,
                generation: 0,
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

/// Search result entries as model entries. ldap3's `SearchEntry::construct`
/// panics on malformed BER and splits binary values off; this keeps bytes.
fn entries_of(raw: Vec<ResultEntry>, server: &str) -> Result<Vec<LdapEntry>> {
    let mut out = Vec::with_capacity(raw.len());
    for re in raw {
        if re.is_ref() || re.is_intermediate() {
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
        attrs.push(Attribute { name, values });
    }
    Some((dn, attrs))
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
