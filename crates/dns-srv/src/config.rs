//! What the caller tells the resolver: name servers, search domains, services.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::Error;

/// The SRV service names the standard uses (PS3.15 H.1.4.1 and H.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Service {
    /// `_ldap._tcp`: the DICOM configuration's LDAP servers.
    Ldap,
    /// `_ldaps._tcp`: LDAP over TLS, where the site publishes it.
    Ldaps,
    /// `_dicom._tcp`: unsecured DICOM acceptors (DNS-SD, H.2).
    Dicom,
    /// `_dicom-tls._tcp`: DICOM acceptors with the Basic TLS profile.
    DicomTls,
    /// `_dicom-iscl._tcp`: DICOM acceptors with ISCL.
    DicomIscl,
    /// Any other `_service._proto` prefix.
    Other(String),
}

impl Service {
    /// The owner-name prefix, e.g. `_ldap._tcp`.
    pub fn prefix(&self) -> &str {
        match self {
            Service::Ldap => "_ldap._tcp",
            Service::Ldaps => "_ldaps._tcp",
            Service::Dicom => "_dicom._tcp",
            Service::DicomTls => "_dicom-tls._tcp",
            Service::DicomIscl => "_dicom-iscl._tcp",
            Service::Other(s) => s,
        }
    }

    /// The URL scheme for LDAP services (`ldap`/`ldaps`), `None` for others.
    pub fn url_scheme(&self) -> Option<&'static str> {
        match self {
            Service::Ldap => Some("ldap"),
            Service::Ldaps => Some("ldaps"),
            _ => None,
        }
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.prefix())
    }
}

/// How the best-priority targets are put in order (R.4 step 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Nearest {
    /// Strict RFC 2782 order.
    Off,
    /// Race TCP connects to the best-priority targets, starting one every
    /// `stagger`, and put the first to accept in front; give up after `timeout`.
    Race {
        /// Delay between starting successive connects.
        stagger: Duration,
        /// How long the whole race may take.
        timeout: Duration,
    },
}

impl Default for Nearest {
    fn default() -> Self {
        Nearest::Race {
            stagger: Duration::from_millis(50),
            timeout: Duration::from_secs(2),
        }
    }
}

/// Parses one name server as DHCP or a user gives it: `ip`, `ip:port`,
/// `[v6]:port` or a bare IPv6 address. Port 53 by default.
pub fn parse_name_server(input: &str) -> Result<SocketAddr, Error> {
    let s = input.trim();
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Ok(sa);
    }
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|r| r.strip_suffix(']'))
        && let Ok(ip) = inner.parse::<IpAddr>()
    {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(Error::InvalidNameServer {
        input: input.to_string(),
        reason: "expected ip, ip:port or [ipv6]:port".into(),
    })
}

/// Resolver settings. Build with [`DnsConfig::new`] and the `with_*` methods.
#[derive(Debug, Clone)]
pub struct DnsConfig {
    /// Name servers in the order given (DHCP option 6). UDP, TCP on truncation or error.
    pub name_servers: Vec<SocketAddr>,
    /// Search domains, walked in order (DHCP options 15 and 119), absolute.
    pub search: Vec<String>,
    /// Time to wait for one answer from one server.
    pub timeout: Duration,
    /// How many rounds over the server list before giving up on a query.
    pub attempts: usize,
    /// Services tried by [`crate::SrvDiscoverer::discover_ldap`], in order.
    pub ldap_services: Vec<Service>,
    /// Nearest-server race among the best priority.
    pub nearest: Nearest,
    /// Use the operating system's configuration instead of `name_servers`
    /// (feature `system-config`).
    pub use_system_config: bool,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            name_servers: Vec::new(),
            search: Vec::new(),
            timeout: Duration::from_secs(2),
            attempts: 2,
            ldap_services: vec![Service::Ldap],
            nearest: Nearest::default(),
            use_system_config: false,
        }
    }
}

impl DnsConfig {
    /// A configuration from name servers (`ip[:port]` strings) and search domains.
    pub fn new<S: AsRef<str>, D: AsRef<str>>(
        name_servers: &[S],
        search: &[D],
    ) -> Result<Self, Error> {
        let name_servers = name_servers
            .iter()
            .map(|s| parse_name_server(s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let search = search
            .iter()
            .map(|d| normalize_domain(d.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(DnsConfig {
            name_servers,
            search,
            ..DnsConfig::default()
        })
    }

    /// Sets the per-query timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the number of rounds over the server list (at least 1).
    pub fn attempts(mut self, attempts: usize) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// Sets the nearest-server policy ([`Nearest::Off`] for strict RFC order).
    pub fn nearest(mut self, nearest: Nearest) -> Self {
        self.nearest = nearest;
        self
    }

    /// Sets the LDAP services to look for, e.g. `[Ldaps, Ldap]`.
    pub fn ldap_services(mut self, services: Vec<Service>) -> Self {
        self.ldap_services = services;
        self
    }

    /// Whether to also use the operating system's resolver configuration (feature `system-config`).
    pub fn use_system_config(mut self, on: bool) -> Self {
        self.use_system_config = on;
        self
    }
}

/// Lower-cases a domain and makes it absolute (trailing dot); rejects what
/// cannot be a DNS name (empty labels, labels over 63 or names over 253 octets).
pub fn normalize_domain(domain: &str) -> Result<String, Error> {
    let d = domain.trim().trim_end_matches('.').to_ascii_lowercase();
    let bad = |reason: &str| Error::InvalidName {
        name: domain.to_string(),
        reason: reason.to_string(),
    };
    if d.is_empty() {
        return Err(bad("empty"));
    }
    if d.len() > 253 {
        return Err(bad("longer than 253 octets"));
    }
    for label in d.split('.') {
        if label.is_empty() {
            return Err(bad("empty label"));
        }
        if label.len() > 63 {
            return Err(bad("label longer than 63 octets"));
        }
    }
    Ok(format!("{d}."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_server_forms() {
        assert_eq!(
            parse_name_server("10.0.0.1").unwrap(),
            "10.0.0.1:53".parse().unwrap()
        );
        assert_eq!(
            parse_name_server("10.0.0.1:5353").unwrap(),
            "10.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(
            parse_name_server("[::1]:54").unwrap(),
            "[::1]:54".parse().unwrap()
        );
        assert_eq!(
            parse_name_server("::1").unwrap(),
            "[::1]:53".parse().unwrap()
        );
        assert_eq!(
            parse_name_server("[fe80::1]").unwrap(),
            "[fe80::1]:53".parse().unwrap()
        );
        assert!(parse_name_server("dns.example.org").is_err());
        assert!(parse_name_server("10.0.0.1:99999").is_err());
    }

    #[test]
    fn domains() {
        assert_eq!(normalize_domain("Example.ORG").unwrap(), "example.org.");
        assert_eq!(normalize_domain("example.org.").unwrap(), "example.org.");
        assert!(normalize_domain("a..b").is_err());
        assert!(normalize_domain("").is_err());
        assert!(normalize_domain(&"a".repeat(64)).is_err());
    }
}
