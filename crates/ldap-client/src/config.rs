//! Client configuration: servers, bind, TLS, timeouts, caching.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// A password (or any secret). Its `Debug` and `Display` print `***`, so it
/// never reaches a log line, an error message or a panic message.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// True for an empty secret (which would make an unauthenticated bind).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The secret itself, for the one place that sends it (the bind).
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How to authenticate after connecting.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Bind {
    /// No bind request: the anonymous identity of RFC 4513.
    #[default]
    Anonymous,
    /// Simple bind with a DN and a password.
    Simple {
        /// The bind DN.
        dn: String,
        /// The password (redacted in `Debug`).
        password: Secret,
    },
}

impl Bind {
    /// Simple bind.
    pub fn simple(dn: impl Into<String>, password: impl Into<String>) -> Self {
        Bind::Simple {
            dn: dn.into(),
            password: Secret::new(password),
        }
    }

    /// Who binds, for messages: the DN or "anonymous".
    pub fn who(&self) -> String {
        match self {
            Bind::Anonymous => "anonymous".into(),
            Bind::Simple { dn, .. } => dn.clone(),
        }
    }
}

/// What to add to the system clock to get the true time, as NTP measured
/// it. With it, certificates are checked against the corrected time, so a
/// battery clock years off does not make a valid certificate look expired
/// or not yet valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockCorrection {
    micros: i64,
}

impl ClockCorrection {
    /// A correction of `micros` microseconds (positive: the clock is behind).
    pub fn from_micros(micros: i64) -> Self {
        ClockCorrection { micros }
    }

    /// The correction in microseconds.
    pub fn micros(&self) -> i64 {
        self.micros
    }

    /// `now` corrected; `None` when the result is before 1970 or unrepresentable.
    pub fn apply(&self, now: std::time::SystemTime) -> Option<std::time::SystemTime> {
        let by = Duration::from_micros(self.micros.unsigned_abs());
        if self.micros >= 0 {
            now.checked_add(by)
        } else {
            now.checked_sub(by)
        }
    }
}

/// TLS settings. Certificate verification is on unless explicitly disabled.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsOptions {
    /// Upgrade `ldap://` connections with StartTLS (`ldaps://` is always TLS).
    pub starttls: bool,
    /// PEM file of the CA certificates to trust instead of the system store.
    pub ca_file: Option<PathBuf>,
    /// Skip certificate verification (test setups only).
    pub insecure_skip_verify: bool,
    /// Check certificates against the system clock plus this correction
    /// (the time NTP measured) instead of the system clock alone.
    pub clock_correction: Option<ClockCorrection>,
}

/// Everything the client needs to reach the configuration directory.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Server URLs (`ldap://host:port` or `ldaps://host:port`), tried in
    /// this order (as DNS SRV ordered them) with failover.
    pub servers: Vec<String>,
    /// How to bind.
    pub bind: Bind,
    /// TLS options.
    pub tls: TlsOptions,
    /// Limit for TCP connect + TLS + bind to one server.
    pub connect_timeout: Duration,
    /// Limit for one operation (or one pipelined batch).
    pub operation_timeout: Duration,
    /// The DN of the `dicomConfigurationRoot`, when known; otherwise it is
    /// found through the root DSE's naming contexts.
    pub base_dn: Option<String>,
    /// Follow write referrals (a read-only replica) to the provider, binding
    /// there with the same credentials. Off by default; when on, only to a
    /// host of [`ClientConfig::servers`] or [`ClientConfig::referral_hosts`],
    /// never from TLS to plain, and only until the primary reconnects.
    pub follow_referrals: bool,
    /// Further `host:port` pairs a referral may lead to (the SRV-discovered
    /// set, for example), besides those of `servers`.
    pub referral_hosts: Vec<String>,
    /// Allow a simple bind with a password over an unencrypted connection.
    /// Off by default: `ldap://` with credentials then uses StartTLS.
    pub allow_plaintext_bind: bool,
    /// Most entries one search may return (sent to the server as its size
    /// limit and enforced here). Larger devices are read level by level.
    pub size_limit: u32,
    /// Page size of paged results (RFC 2696) for device loads.
    pub page_size: u32,
    /// How long a resolved AE stays in the cache.
    pub cache_ttl: Duration,
    /// How long a "not found" stays in the cache (kept short: a device being
    /// installed right now must become visible soon).
    pub negative_cache_ttl: Duration,
}

impl ClientConfig {
    /// A configuration for one server with the defaults: anonymous bind,
    /// 5 s connect and 10 s operation timeouts, referrals not followed,
    /// no plaintext bind, 10,000 entries per search, pages of 1,000,
    /// 60 s cache, 2 s negative cache.
    pub fn new(server: impl Into<String>) -> Self {
        ClientConfig::with_servers(vec![server.into()])
    }

    /// Like [`ClientConfig::new`] for an ordered list of servers.
    pub fn with_servers(servers: Vec<String>) -> Self {
        ClientConfig {
            servers,
            bind: Bind::Anonymous,
            tls: TlsOptions::default(),
            connect_timeout: Duration::from_secs(5),
            operation_timeout: Duration::from_secs(10),
            base_dn: None,
            follow_referrals: false,
            referral_hosts: Vec::new(),
            allow_plaintext_bind: false,
            size_limit: 10_000,
            page_size: 1_000,
            cache_ttl: Duration::from_secs(60),
            negative_cache_ttl: Duration::from_secs(2),
        }
    }

    /// Builder: simple bind.
    pub fn simple_bind(mut self, dn: impl Into<String>, password: impl Into<String>) -> Self {
        self.bind = Bind::simple(dn, password);
        self
    }

    /// Builder: allow a simple bind with a password without TLS (unsafe:
    /// the password travels in clear).
    pub fn allow_plaintext_bind(mut self, on: bool) -> Self {
        self.allow_plaintext_bind = on;
        self
    }

    /// Builder: follow write referrals (see [`ClientConfig::follow_referrals`]).
    pub fn follow_referrals(mut self, on: bool) -> Self {
        self.follow_referrals = on;
        self
    }

    /// True when a connection to `server` would carry a password without
    /// TLS: only possible with [`ClientConfig::allow_plaintext_bind`].
    pub fn binds_in_clear(&self, server: &str) -> bool {
        matches!(self.bind, Bind::Simple { .. })
            && server.starts_with("ldap://")
            && !self.starttls_for(server)
    }

    /// Whether a connection to `server` is upgraded with StartTLS: when
    /// asked, and always for a password bind unless plaintext is allowed.
    pub fn starttls_for(&self, server: &str) -> bool {
        server.starts_with("ldap://")
            && (self.tls.starttls
                || (matches!(self.bind, Bind::Simple { .. }) && !self.allow_plaintext_bind))
    }

    /// Builder: StartTLS on `ldap://` URLs.
    pub fn starttls(mut self, on: bool) -> Self {
        self.tls.starttls = on;
        self
    }

    /// Builder: trust the CA certificates of this PEM file.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.ca_file = Some(path.into());
        self
    }

    /// Builder: check certificates against the NTP-corrected time.
    pub fn clock_correction(mut self, correction: ClockCorrection) -> Self {
        self.tls.clock_correction = Some(correction);
        self
    }

    /// Builder: the configuration root's DN.
    pub fn base_dn(mut self, dn: impl Into<String>) -> Self {
        self.base_dn = Some(dn.into());
        self
    }

    /// Builder: timeouts.
    pub fn timeouts(mut self, connect: Duration, operation: Duration) -> Self {
        self.connect_timeout = connect;
        self.operation_timeout = operation;
        self
    }
}
