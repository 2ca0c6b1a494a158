//! The tokio driver: queries the configured name servers one after the other,
//! walks the search domains, resolves targets, caches by TTL, races connects.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ResolveHosts, ResolverConfig, ResolverOpts,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};

use crate::cache::{Cache, Entry, Kind};
use crate::config::{DnsConfig, Nearest, Service, normalize_domain};
use crate::order::{SelectionRng, SplitMix64, SrvAnswer, SrvRecord, classify, order_srv};
use crate::types::{
    AddrSource, Attempt, Discovery, DomainOutcome, NearestOutcome, Source, Target, TxtAnswer,
    WalkResult,
};
use crate::{Error, nearest};

/// Upper bounds that keep a hostile answer from costing much.
const MAX_SRV_RECORDS: usize = 256;
const MAX_ADDRS_PER_TARGET: usize = 32;
const MAX_CNAME_CHAIN: usize = 8;

/// Addresses from an answer's additional section: owner → (addresses, TTL, server).
type Additional = HashMap<String, (Vec<IpAddr>, u32, SocketAddr)>;
/// An SRV RRset as fetched for one owner name.
struct SrvFetch {
    records: CachedSrv,
    /// Where it came from.
    source: Source,
    /// Its remaining TTL.
    ttl: Duration,
    /// Addresses from the additional section (empty from the cache).
    additional: Additional,
    /// Servers that failed before one answered.
    failed_first: Vec<Attempt>,
}

#[derive(Debug, Clone)]
enum CachedSrv {
    NotOffered,
    Records(Vec<SrvRecord>),
}

/// A successful answer from one server.
struct Answered {
    server: SocketAddr,
    /// Servers that failed before this one answered.
    failed_first: Vec<Attempt>,
    answers: Vec<Record>,
    additionals: Vec<Record>,
}

/// Why a query produced no answer.
enum Unanswered {
    NxDomain(SocketAddr),
    NoRecords(SocketAddr),
    /// Some server answered but not usefully (REFUSED, SERVFAIL, malformed).
    Failed(Vec<Attempt>),
    /// Nobody answered.
    Unreachable(Vec<Attempt>),
}

impl From<Unanswered> for WalkResult {
    fn from(u: Unanswered) -> Self {
        match u {
            Unanswered::NxDomain(s) => WalkResult::NxDomain(s),
            Unanswered::NoRecords(s) => WalkResult::NoRecords(s),
            Unanswered::Failed(a) => WalkResult::Failed(a),
            Unanswered::Unreachable(a) => WalkResult::Unreachable(a),
        }
    }
}

struct Inner {
    config: DnsConfig,
    servers: Vec<(SocketAddr, TokioResolver)>,
    preferred: AtomicUsize,
    srv_cache: Mutex<Cache<CachedSrv>>,
    addr_cache: Mutex<Cache<Vec<IpAddr>>>,
    txt_cache: Mutex<Cache<Vec<String>>>,
    rng: Mutex<Box<dyn SelectionRng + Send>>,
}

/// Discovers services with DNS SRV against explicit name servers. Cheap to clone.
#[derive(Clone)]
pub struct SrvDiscoverer {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SrvDiscoverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SrvDiscoverer")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave a cache inconsistent in a way
    // that matters: keep going with the data.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Absolute lower-case form with a trailing dot; "." for the root.
fn name_text(name: &Name) -> String {
    if name.is_root() {
        return ".".into();
    }
    let s = name.to_ascii().to_ascii_lowercase();
    format!("{}.", s.trim_end_matches('.'))
}

impl SrvDiscoverer {
    /// Builds one resolver per name server (UDP, TCP on truncation or error),
    /// with hickory's own cache off: this crate caches, so it can say where each
    /// value came from.
    pub fn new(config: DnsConfig) -> Result<Self, Error> {
        Self::with_rng(config, Box::new(SplitMix64::from_entropy()))
    }

    /// Like [`SrvDiscoverer::new`] with a given random source (deterministic tests).
    pub fn with_rng(
        mut config: DnsConfig,
        rng: Box<dyn SelectionRng + Send>,
    ) -> Result<Self, Error> {
        if config.use_system_config {
            apply_system_config(&mut config)?;
        }
        if config.name_servers.is_empty() {
            return Err(Error::NoNameServers);
        }
        let mut servers = Vec::with_capacity(config.name_servers.len());
        for addr in &config.name_servers {
            let mut udp = ConnectionConfig::udp();
            udp.port = addr.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = addr.port();
            let ns = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
            let mut opts = ResolverOpts::default();
            opts.timeout = config.timeout;
            // Rounds over the list are ours; one try per server per round here.
            opts.attempts = 1;
            opts.cache_size = 0;
            opts.use_hosts_file = ResolveHosts::Never;
            opts.try_tcp_on_error = true;
            opts.num_concurrent_reqs = 1;
            opts.ndots = 0;
            let resolver = TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![ns]),
                TokioRuntimeProvider::default(),
            )
            .with_options(opts)
            .build()
            .map_err(|e| Error::InvalidNameServer {
                input: addr.to_string(),
                reason: e.to_string(),
            })?;
            servers.push((*addr, resolver));
        }
        Ok(SrvDiscoverer {
            inner: Arc::new(Inner {
                config,
                servers,
                preferred: AtomicUsize::new(0),
                srv_cache: Mutex::new(Cache::default()),
                addr_cache: Mutex::new(Cache::default()),
                txt_cache: Mutex::new(Cache::default()),
                rng: Mutex::new(rng),
            }),
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &DnsConfig {
        &self.inner.config
    }

    /// Forgets every cached answer.
    pub fn clear_cache(&self) {
        lock(&self.inner.srv_cache).clear();
        lock(&self.inner.addr_cache).clear();
        lock(&self.inner.txt_cache).clear();
    }

    /// Finds the LDAP servers: each configured LDAP service (default `_ldap._tcp`)
    /// in order, returning the first that has servers.
    pub async fn discover_ldap(&self) -> Result<Discovery, Error> {
        let mut first_err = None;
        for service in self.inner.config.ldap_services.clone() {
            match self.discover(&service).await {
                Ok(d) => return Ok(d),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(first_err.unwrap_or(Error::NotFound {
            service: "_ldap._tcp".into(),
            walked: Vec::new(),
        }))
    }

    /// Finds `service` by walking the search domains in order: the first domain
    /// with usable SRV records wins. Targets are ordered by RFC 2782, resolved to
    /// addresses (the additional section first), then the nearest race runs.
    pub async fn discover(&self, service: &Service) -> Result<Discovery, Error> {
        if self.inner.config.search.is_empty() {
            return Err(Error::NoSearchDomains);
        }
        let mut walked = Vec::new();
        let mut server_failures = Vec::new();
        for domain in self.inner.config.search.clone() {
            let owner = normalize_domain(&format!("{}.{}", service.prefix(), domain))?;
            let SrvFetch {
                records: cached,
                source,
                ttl,
                additional,
                failed_first: failures,
            } = match self.srv_rrset(&owner).await {
                Ok(v) => v,
                Err(u) => {
                    walked.push(DomainOutcome {
                        owner,
                        result: u.into(),
                    });
                    continue;
                }
            };
            server_failures.extend(failures);
            let server = match source {
                Source::NameServer(s) | Source::Cache { server: s, .. } => s,
            };
            let records = match cached {
                CachedSrv::NotOffered => {
                    walked.push(DomainOutcome {
                        owner,
                        result: WalkResult::NotOffered(server),
                    });
                    continue;
                }
                CachedSrv::Records(r) => r,
            };
            walked.push(DomainOutcome {
                owner: owner.clone(),
                result: WalkResult::Found(server),
            });
            let ordered = {
                let mut rng = lock(&self.inner.rng);
                order_srv(&records, rng.as_mut())
            };
            let mut targets = self.resolve_targets(ordered, additional).await;
            let nearest = match self.inner.config.nearest {
                Nearest::Off => NearestOutcome::Off,
                Nearest::Race { stagger, timeout } => {
                    nearest::race_best_priority(&mut targets, stagger, timeout).await
                }
            };
            return Ok(Discovery {
                service: service.clone(),
                domain: domain.trim_end_matches('.').to_string(),
                owner,
                targets,
                source,
                ttl,
                walked,
                nearest,
                server_failures,
            });
        }
        Err(walk_error(service, walked))
    }

    /// TXT strings at `name` (e.g. the DNS-SD parameters of a DICOM service).
    pub async fn txt(&self, name: &str) -> Result<TxtAnswer, Error> {
        let owner = normalize_domain(name)?;
        let now = Instant::now();
        if let Some((e, left)) = lock(&self.inner.txt_cache).get(&owner, Kind::Txt, now) {
            return Ok(TxtAnswer {
                strings: e.value,
                source: Source::Cache {
                    server: e.server,
                    age: now.saturating_duration_since(e.fetched),
                },
                ttl: left,
            });
        }
        match self.query(&owner, RecordType::TXT).await {
            Ok(a) => {
                let mut ttl = u32::MAX;
                let mut strings = Vec::new();
                for r in &a.answers {
                    if let RData::TXT(txt) = &r.data {
                        ttl = ttl.min(r.ttl);
                        for s in txt.txt_data.iter().take(MAX_SRV_RECORDS) {
                            strings.push(String::from_utf8_lossy(s).into_owned());
                        }
                    }
                }
                if strings.is_empty() {
                    return Err(Error::NoRecords {
                        query: format!("{owner} TXT"),
                        server: a.server,
                    });
                }
                let ttl = Duration::from_secs(u64::from(ttl));
                lock(&self.inner.txt_cache).put(
                    &owner,
                    Kind::Txt,
                    Entry {
                        value: strings.clone(),
                        server: a.server,
                        fetched: now,
                        ttl,
                    },
                );
                Ok(TxtAnswer {
                    strings,
                    source: Source::NameServer(a.server),
                    ttl,
                })
            }
            Err(u) => Err(unanswered_error(format!("{owner} TXT"), u)),
        }
    }

    /// The SRV RRset for `owner`, from the cache or the servers. Also caches the
    /// addresses found in the additional section.
    async fn srv_rrset(&self, owner: &str) -> Result<SrvFetch, Unanswered> {
        let now = Instant::now();
        if let Some((e, left)) = lock(&self.inner.srv_cache).get(owner, Kind::Srv, now) {
            let source = Source::Cache {
                server: e.server,
                age: now.saturating_duration_since(e.fetched),
            };
            return Ok(SrvFetch {
                records: e.value,
                source,
                ttl: left,
                additional: HashMap::new(),
                failed_first: Vec::new(),
            });
        }
        let a = self.query(owner, RecordType::SRV).await?;
        let mut records = Vec::new();
        let mut ttl = u32::MAX;
        for r in &a.answers {
            if let RData::SRV(srv) = &r.data {
                if records.len() >= MAX_SRV_RECORDS {
                    break;
                }
                ttl = ttl.min(r.ttl);
                records.push(SrvRecord {
                    priority: srv.priority,
                    weight: srv.weight,
                    port: srv.port,
                    target: name_text(&srv.target),
                });
            }
        }
        let cached = match classify(records) {
            SrvAnswer::Empty => return Err(Unanswered::NoRecords(a.server)),
            SrvAnswer::NotOffered => CachedSrv::NotOffered,
            SrvAnswer::Targets(t) => CachedSrv::Records(t),
        };
        let ttl = Duration::from_secs(u64::from(ttl));
        lock(&self.inner.srv_cache).put(
            owner,
            Kind::Srv,
            Entry {
                value: cached.clone(),
                server: a.server,
                fetched: now,
                ttl,
            },
        );
        // Additional-section addresses, grouped per owner with their own TTL.
        let mut extra: HashMap<String, (Vec<IpAddr>, u32)> = HashMap::new();
        for r in &a.additionals {
            let ip = match &r.data {
                RData::A(a) => IpAddr::V4(a.0),
                RData::AAAA(a) => IpAddr::V6(a.0),
                _ => continue,
            };
            let e = extra
                .entry(name_text(&r.name))
                .or_insert((Vec::new(), u32::MAX));
            if e.0.len() < MAX_ADDRS_PER_TARGET && !e.0.contains(&ip) {
                e.0.push(ip);
            }
            e.1 = e.1.min(r.ttl);
        }
        {
            let mut cache = lock(&self.inner.addr_cache);
            for (name, (ips, ttl)) in &extra {
                cache.put(
                    name,
                    Kind::Addr,
                    Entry {
                        value: ips.clone(),
                        server: a.server,
                        fetched: now,
                        ttl: Duration::from_secs(u64::from(*ttl)),
                    },
                );
            }
        }
        // With TTL 0 nothing is cached, but this pass still uses the additional
        // section: hand it to resolve_targets.
        let extra = extra
            .into_iter()
            .map(|(k, (ips, ttl))| (k, (ips, ttl, a.server)))
            .collect();
        Ok(SrvFetch {
            records: cached,
            source: Source::NameServer(a.server),
            ttl,
            additional: extra,
            failed_first: a.failed_first,
        })
    }

    /// Resolves every target: additional section, cache, IP literal, or a query
    /// (A and AAAA concurrently, all targets concurrently).
    async fn resolve_targets(
        &self,
        ordered: Vec<SrvRecord>,
        additional: Additional,
    ) -> Vec<Target> {
        let now = Instant::now();
        let mut out: Vec<Option<Target>> = Vec::with_capacity(ordered.len());
        let mut pending = tokio::task::JoinSet::new();
        for (i, record) in ordered.into_iter().enumerate() {
            if let Some((ips, ttl, server)) = additional.get(&record.target) {
                out.push(Some(Target {
                    record,
                    addrs: ips.clone(),
                    addr_source: AddrSource::Additional(Source::NameServer(*server)),
                    addr_ttl: Duration::from_secs(u64::from(*ttl)),
                    note: None,
                }));
                continue;
            }
            if let Some((e, left)) =
                lock(&self.inner.addr_cache).get(&record.target, Kind::Addr, now)
            {
                out.push(Some(Target {
                    record,
                    addrs: e.value,
                    addr_source: AddrSource::Query(Source::Cache {
                        server: e.server,
                        age: now.saturating_duration_since(e.fetched),
                    }),
                    addr_ttl: left,
                    note: None,
                }));
                continue;
            }
            if let Ok(ip) = record.target.trim_end_matches('.').parse::<IpAddr>() {
                out.push(Some(Target {
                    record,
                    addrs: vec![ip],
                    addr_source: AddrSource::Literal,
                    addr_ttl: Duration::ZERO,
                    note: Some("SRV target is an IP literal (RFC 2782 wants a host name)".into()),
                }));
                continue;
            }
            out.push(None);
            let me = self.clone();
            pending.spawn(async move {
                let t = me.resolve_one(record).await;
                (i, t)
            });
        }
        while let Some(joined) = pending.join_next().await {
            if let Ok((i, t)) = joined
                && let Some(slot) = out.get_mut(i)
            {
                *slot = Some(t);
            }
        }
        out.into_iter().flatten().collect()
    }

    async fn resolve_one(&self, record: SrvRecord) -> Target {
        let name = record.target.clone();
        let (a, aaaa) = tokio::join!(
            self.query(&name, RecordType::A),
            self.query(&name, RecordType::AAAA)
        );
        let mut addrs = Vec::new();
        let mut ttl = u32::MAX;
        let mut server = None;
        let mut aliased = false;
        let mut failures = Vec::new();
        for (kind, res) in [("A", a), ("AAAA", aaaa)] {
            match res {
                Ok(ans) => {
                    server.get_or_insert(ans.server);
                    let (ips, t, alias) = addresses_for(&name, &ans.answers);
                    aliased |= alias;
                    ttl = ttl.min(t);
                    for ip in ips {
                        if addrs.len() < MAX_ADDRS_PER_TARGET && !addrs.contains(&ip) {
                            addrs.push(ip);
                        }
                    }
                }
                Err(Unanswered::NoRecords(s)) => {
                    server.get_or_insert(s);
                }
                Err(Unanswered::NxDomain(s)) => failures.push(format!("{kind}: NXDOMAIN from {s}")),
                Err(Unanswered::Failed(a)) | Err(Unanswered::Unreachable(a)) => {
                    failures.push(format!(
                        "{kind}: {}",
                        a.iter()
                            .map(|x| format!("{} {}", x.server, x.failure))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ))
                }
            }
        }
        let ttl = if addrs.is_empty() {
            Duration::ZERO
        } else {
            Duration::from_secs(u64::from(ttl))
        };
        let (addr_source, note) = match (server, addrs.is_empty()) {
            (Some(s), false) => {
                lock(&self.inner.addr_cache).put(
                    &name,
                    Kind::Addr,
                    Entry {
                        value: addrs.clone(),
                        server: s,
                        fetched: Instant::now(),
                        ttl,
                    },
                );
                (
                    AddrSource::Query(Source::NameServer(s)),
                    aliased.then(|| {
                        "SRV target is an alias (CNAME); RFC 2782 wants the host name itself".into()
                    }),
                )
            }
            _ => (
                AddrSource::Unresolved,
                Some(if failures.is_empty() {
                    "no A or AAAA records for the target".into()
                } else {
                    failures.join("; ")
                }),
            ),
        };
        Target {
            record,
            addrs,
            addr_source,
            addr_ttl: ttl,
            note,
        }
    }

    /// One question to the name servers in turn, starting with the one that
    /// answered last, for `attempts` rounds. A definite answer (records, NXDOMAIN,
    /// NODATA) ends it; timeouts, REFUSED, SERVFAIL and malformed answers move on.
    async fn query(&self, owner: &str, rtype: RecordType) -> Result<Answered, Unanswered> {
        let name = match Name::from_ascii(owner) {
            Ok(n) => n,
            Err(e) => {
                return Err(Unanswered::Failed(vec![Attempt {
                    server: self
                        .inner
                        .config
                        .name_servers
                        .first()
                        .copied()
                        .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
                    failure: format!("invalid name: {e}"),
                }]));
            }
        };
        let n = self.inner.servers.len();
        let start = self.inner.preferred.load(Ordering::Relaxed) % n.max(1);
        let mut attempts = Vec::new();
        let mut anyone_answered = false;
        for _round in 0..self.inner.config.attempts.max(1) {
            for k in 0..n {
                let idx = (start + k) % n;
                let Some((server, resolver)) = self.inner.servers.get(idx) else {
                    continue;
                };
                let server = *server;
                match resolver.lookup(name.clone(), rtype).await {
                    Ok(lookup) => {
                        self.inner.preferred.store(idx, Ordering::Relaxed);
                        let msg = lookup.message();
                        return Ok(Answered {
                            server,
                            failed_first: attempts,
                            answers: msg.answers.clone(),
                            additionals: msg.additionals.clone(),
                        });
                    }
                    Err(NetError::Dns(DnsError::NoRecordsFound(nr))) => {
                        self.inner.preferred.store(idx, Ordering::Relaxed);
                        return Err(if nr.response_code == ResponseCode::NXDomain {
                            Unanswered::NxDomain(server)
                        } else {
                            Unanswered::NoRecords(server)
                        });
                    }
                    Err(NetError::Dns(DnsError::ResponseCode(code))) => {
                        anyone_answered = true;
                        attempts.push(Attempt {
                            server,
                            failure: format!("answered {code}"),
                        });
                    }
                    Err(e @ NetError::Proto(_)) => {
                        anyone_answered = true;
                        attempts.push(Attempt {
                            server,
                            failure: format!("malformed answer: {e}"),
                        });
                    }
                    Err(NetError::Timeout) => attempts.push(Attempt {
                        server,
                        failure: format!("no answer within {:?}", self.inner.config.timeout),
                    }),
                    Err(e) => attempts.push(Attempt {
                        server,
                        failure: e.to_string(),
                    }),
                }
            }
        }
        Err(if anyone_answered {
            Unanswered::Failed(attempts)
        } else {
            Unanswered::Unreachable(attempts)
        })
    }
}

/// A/AAAA records for `name` in an answer section, following a CNAME chain
/// (bounded, so a loop ends). Returns the addresses, their minimum TTL and
/// whether an alias was followed.
fn addresses_for(name: &str, answers: &[Record]) -> (Vec<IpAddr>, u32, bool) {
    let mut names = vec![name.to_string()];
    for _ in 0..MAX_CNAME_CHAIN {
        let mut grew = false;
        for r in answers {
            if let RData::CNAME(c) = &r.data
                && names.contains(&name_text(&r.name))
            {
                let t = name_text(&c.0);
                if !names.contains(&t) {
                    names.push(t);
                    grew = true;
                }
            }
        }
        if !grew {
            break;
        }
    }
    let mut ips = Vec::new();
    let mut ttl = u32::MAX;
    for r in answers {
        let ip = match &r.data {
            RData::A(a) => IpAddr::V4(a.0),
            RData::AAAA(a) => IpAddr::V6(a.0),
            _ => continue,
        };
        if names.contains(&name_text(&r.name)) {
            ips.push(ip);
            ttl = ttl.min(r.ttl);
        }
    }
    (ips, ttl, names.len() > 1)
}

fn unanswered_error(query: String, u: Unanswered) -> Error {
    match u {
        Unanswered::NxDomain(server) => Error::NxDomain { query, server },
        Unanswered::NoRecords(server) => Error::NoRecords { query, server },
        Unanswered::Failed(attempts) | Unanswered::Unreachable(attempts) => {
            Error::Unreachable { query, attempts }
        }
    }
}

/// The error for a walk that found nothing: "not offered" if a domain said so,
/// "unreachable" if no server answered anything, otherwise "not found".
fn walk_error(service: &Service, walked: Vec<DomainOutcome>) -> Error {
    if let Some((owner, server)) = walked.iter().find_map(|d| match d.result {
        WalkResult::NotOffered(s) => Some((d.owner.clone(), s)),
        _ => None,
    }) {
        let domain = owner
            .strip_prefix(&format!("{}.", service.prefix()))
            .unwrap_or(&owner)
            .trim_end_matches('.')
            .to_string();
        return Error::NotOffered {
            service: service.prefix().to_string(),
            domain,
            server,
        };
    }
    if !walked.is_empty()
        && walked
            .iter()
            .all(|d| matches!(d.result, WalkResult::Unreachable(_)))
    {
        let attempts = walked
            .iter()
            .flat_map(|d| match &d.result {
                WalkResult::Unreachable(a) => a.clone(),
                _ => Vec::new(),
            })
            .collect();
        return Error::Unreachable {
            query: walked
                .last()
                .map(|d| format!("{} SRV", d.owner))
                .unwrap_or_default(),
            attempts,
        };
    }
    Error::NotFound {
        service: service.prefix().to_string(),
        walked,
    }
}

#[cfg(feature = "system-config")]
fn apply_system_config(config: &mut DnsConfig) -> Result<(), Error> {
    let (sys, _opts) = hickory_resolver::system_conf::read_system_conf()
        .map_err(|e| Error::SystemConfig(e.to_string()))?;
    config.name_servers = sys
        .name_servers()
        .iter()
        .map(|ns| {
            let port = ns.connections.first().map(|c| c.port).unwrap_or(53);
            SocketAddr::new(ns.ip, port)
        })
        .collect();
    let mut search: Vec<String> = sys.search().iter().map(name_text).collect();
    if let Some(d) = sys.domain() {
        search.insert(0, name_text(d));
    }
    if config.search.is_empty() {
        config.search = search;
    }
    Ok(())
}

#[cfg(not(feature = "system-config"))]
fn apply_system_config(_config: &mut DnsConfig) -> Result<(), Error> {
    Err(Error::SystemConfig(
        "annexr-dns was built without the `system-config` feature".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::rr::rdata::{A, CNAME};

    fn rec(name: &str, data: RData) -> Record {
        Record::from_rdata(Name::from_ascii(name).unwrap(), 60, data)
    }

    #[test]
    fn cname_loop_terminates() {
        let answers = vec![
            rec(
                "a.example.",
                RData::CNAME(CNAME(Name::from_ascii("b.example.").unwrap())),
            ),
            rec(
                "b.example.",
                RData::CNAME(CNAME(Name::from_ascii("a.example.").unwrap())),
            ),
        ];
        let (ips, _, alias) = addresses_for("a.example.", &answers);
        assert!(ips.is_empty());
        assert!(alias);
    }

    #[test]
    fn cname_chain_followed_and_foreign_records_ignored() {
        let answers = vec![
            rec(
                "a.example.",
                RData::CNAME(CNAME(Name::from_ascii("B.example.").unwrap())),
            ),
            rec("b.example.", RData::A(A::new(10, 0, 0, 2))),
            rec("evil.example.", RData::A(A::new(10, 6, 6, 6))),
        ];
        let (ips, ttl, alias) = addresses_for("a.example.", &answers);
        assert_eq!(ips, vec![IpAddr::from([10, 0, 0, 2])]);
        assert_eq!(ttl, 60);
        assert!(alias);
    }
}
