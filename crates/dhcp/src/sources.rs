//! Lease sources for hosts where the OS already runs DHCP (systemd-networkd,
//! ISC dhclient), and static configuration (the legacy note of R.1.2.2).
//! All produce the same typed [`Lease`].

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use crate::error::Error;
use crate::lease::{Lease, LeaseSource};
use crate::options::{Route, code};

fn file_error(path: &Path, cause: String) -> Error {
    Error::LeaseFile {
        path: path.to_owned(),
        cause,
    }
}

fn read(path: &Path) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|e| file_error(path, e.to_string()))
}

fn addr(path: &Path, line: usize, v: &str) -> Result<Ipv4Addr, Error> {
    Ipv4Addr::from_str(v.trim())
        .map_err(|_| file_error(path, format!("line {line}: {v:?} is not an IPv4 address")))
}

fn addrs(path: &Path, line: usize, v: &str, sep: char) -> Result<Vec<Ipv4Addr>, Error> {
    v.split(sep)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| addr(path, line, s))
        .collect()
}

fn hex(path: &Path, line: usize, v: &str) -> Result<Vec<u8>, Error> {
    // dhclient writes `1:2:ff` (no leading zeros); networkd plain `0102ff`.
    if v.contains(':') {
        return v
            .split(':')
            .map(|p| {
                u8::from_str_radix(p, 16)
                    .map_err(|_| file_error(path, format!("line {line}: bad hex {v:?}")))
            })
            .collect();
    }
    let v = v.trim();
    if !v.len().is_multiple_of(2) {
        return Err(file_error(path, format!("line {line}: odd-length hex")));
    }
    (0..v.len())
        .step_by(2)
        .map(|i| {
            v.get(i..i + 2)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| file_error(path, format!("line {line}: bad hex {v:?}")))
        })
        .collect()
}

/// The systemd-networkd lease file of interface index `ifindex`.
pub fn networkd_lease_path(ifindex: u32) -> PathBuf {
    PathBuf::from(format!("/run/systemd/netif/leases/{ifindex}"))
}

/// Reads a systemd-networkd lease file (`/run/systemd/netif/leases/N`, the
/// KEY=VALUE format networkd writes up to at least v257).
pub fn read_networkd(path: &Path) -> Result<Lease, Error> {
    parse_networkd(path, &read(path)?)
}

/// Parses networkd lease text; `path` only names the source in errors.
pub fn parse_networkd(path: &Path, text: &str) -> Result<Lease, Error> {
    let mut lease = Lease::new(LeaseSource::SystemdNetworkd, Ipv4Addr::UNSPECIFIED);
    let mut have_address = false;
    let secs = |line: usize, v: &str| -> Result<Option<Duration>, Error> {
        let n: u64 = v
            .trim()
            .parse()
            .map_err(|_| file_error(path, format!("line {line}: {v:?} is not seconds")))?;
        Ok((n != u64::from(u32::MAX)).then(|| Duration::from_secs(n)))
    };
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let raw = raw.trim();
        if raw.is_empty() || raw.starts_with('#') {
            continue;
        }
        let Some((key, value)) = raw.split_once('=') else {
            return Err(file_error(path, format!("line {line}: no '=' in {raw:?}")));
        };
        match key {
            "ADDRESS" => {
                lease.address = addr(path, line, value)?;
                have_address = true;
            }
            "NETMASK" => lease.subnet_mask = Some(addr(path, line, value)?),
            "ROUTER" => lease.routers = addrs(path, line, value, ' ')?,
            "SERVER_ADDRESS" => lease.server_id = Some(addr(path, line, value)?),
            "BROADCAST" => lease.broadcast = Some(addr(path, line, value)?),
            "MTU" => {
                lease.mtu = value.trim().parse().ok();
            }
            "T1" => lease.renewal_time = secs(line, value)?,
            "T2" => lease.rebinding_time = secs(line, value)?,
            "LIFETIME" => lease.lease_time = secs(line, value)?,
            "DNS" => lease.dns_servers = addrs(path, line, value, ' ')?,
            "NTP" => lease.ntp_servers = addrs(path, line, value, ' ')?,
            "DOMAINNAME" => lease.domain_name = Some(value.trim().to_owned()),
            "DOMAIN_SEARCH_LIST" => {
                lease.domain_search = value.split_whitespace().map(str::to_owned).collect()
            }
            "HOSTNAME" => lease.host_name = Some(value.trim().to_owned()),
            "TIMEZONE" => lease.tz_name = Some(value.trim().to_owned()),
            "STATIC_ROUTES" | "CLASSLESS_ROUTES" | "ROUTES" => {
                let routes = networkd_routes(path, line, value)?;
                if key == "STATIC_ROUTES" {
                    lease.static_routes = routes;
                } else {
                    lease.classless_routes = routes;
                }
            }
            _ => {
                // OPTION_224 … OPTION_254: private options, hex.
                if let Some(n) = key
                    .strip_prefix("OPTION_")
                    .and_then(|n| n.parse::<u8>().ok())
                {
                    let data = hex(path, line, value)?;
                    if let Err(e) = lease.set_option(n, &data) {
                        lease.malformed.insert(n, (data, e.to_string()));
                    }
                }
                // Other keys (CLIENTID, NEXT_SERVER, SIP, …) are not lease
                // content the sequence uses.
            }
        }
    }
    if !have_address {
        return Err(file_error(path, "no ADDRESS= line".into()));
    }
    Ok(lease)
}

/// `dst/len,gw dst/len,gw …`
fn networkd_routes(path: &Path, line: usize, v: &str) -> Result<Vec<Route>, Error> {
    v.split_whitespace()
        .map(|r| {
            let bad = || file_error(path, format!("line {line}: bad route {r:?}"));
            let (dst, gw) = r.split_once(',').ok_or_else(bad)?;
            let (net, len) = dst.split_once('/').ok_or_else(bad)?;
            let prefix_len: u8 = len.parse().map_err(|_| bad())?;
            if prefix_len > 32 {
                return Err(bad());
            }
            Ok(Route {
                destination: addr(path, line, net)?,
                prefix_len,
                gateway: addr(path, line, gw)?,
            })
        })
        .collect()
}

/// The usual ISC dhclient lease files.
pub const DHCLIENT_LEASE_FILES: [&str; 3] = [
    "/var/lib/dhcp/dhclient.leases",
    "/var/lib/dhclient/dhclient.leases",
    "/var/db/dhclient.leases",
];

/// Reads the last lease for `interface` (any interface when `None`) from an
/// ISC dhclient lease file; later leases supersede earlier ones.
pub fn read_dhclient(path: &Path, interface: Option<&str>) -> Result<Lease, Error> {
    parse_dhclient(path, &read(path)?, interface)
}

/// Tokens of dhclient's lease syntax.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(Vec<u8>),
    Punct(char),
}

fn tokenize(path: &Path, text: &str) -> Result<Vec<(usize, Tok)>, Error> {
    let mut out = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    let mut line = 1;
    while i < b.len() {
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'{' | b'}' | b';' | b',' => {
                out.push((line, Tok::Punct(char::from(c))));
                i += 1;
            }
            b'"' => {
                // dhclient writes non-printables as \NNN octal, and \" \\.
                let mut s = Vec::new();
                i += 1;
                loop {
                    let Some(&ch) = b.get(i) else {
                        return Err(file_error(
                            path,
                            format!("line {line}: unterminated string"),
                        ));
                    };
                    i += 1;
                    match ch {
                        b'"' => break,
                        b'\\' => {
                            let digits: Vec<u8> = b[i..]
                                .iter()
                                .take(3)
                                .take_while(|d| (b'0'..=b'7').contains(d))
                                .copied()
                                .collect();
                            if digits.len() == 3 {
                                let v = digits
                                    .iter()
                                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                                s.push(u8::try_from(v).unwrap_or(u8::MAX));
                                i += 3;
                            } else if let Some(&e) = b.get(i) {
                                s.push(e);
                                i += 1;
                            }
                        }
                        b'\n' => {
                            line += 1;
                            s.push(ch);
                        }
                        _ => s.push(ch),
                    }
                }
                out.push((line, Tok::Str(s)));
            }
            _ => {
                let start = i;
                while i < b.len() && !b" \t\r\n{};,\"".contains(&b[i]) {
                    i += 1;
                }
                out.push((line, Tok::Word(text[start..i].to_owned())));
            }
        }
    }
    Ok(out)
}

/// One `option NAME VALUE…;` statement's value tokens joined for parsing.
fn option_code(name: &str) -> Option<u8> {
    Some(match name {
        "subnet-mask" => code::SUBNET_MASK,
        "time-offset" => code::TIME_OFFSET,
        "routers" => code::ROUTER,
        "domain-name-servers" => code::DNS,
        "host-name" => code::HOST_NAME,
        "domain-name" => code::DOMAIN_NAME,
        "interface-mtu" => code::MTU,
        "broadcast-address" => code::BROADCAST,
        "static-routes" => code::STATIC_ROUTES,
        "ntp-servers" => code::NTP,
        "dhcp-lease-time" => code::LEASE_TIME,
        "dhcp-server-identifier" => code::SERVER_ID,
        "dhcp-renewal-time" => code::RENEWAL_TIME,
        "dhcp-rebinding-time" => code::REBINDING_TIME,
        "fqdn" => code::CLIENT_FQDN,
        "pcode" => code::POSIX_TZ,
        "tcode" => code::TZ_NAME,
        "domain-search" => code::DOMAIN_SEARCH,
        "rfc3442-classless-static-routes" | "classless-static-routes" => code::CLASSLESS_ROUTES,
        "dhcp-message-type" => code::MESSAGE_TYPE,
        _ => return name.strip_prefix("unknown-").and_then(|n| n.parse().ok()),
    })
}

/// Parses dhclient lease text.
pub fn parse_dhclient(path: &Path, text: &str, interface: Option<&str>) -> Result<Lease, Error> {
    let toks = tokenize(path, text)?;
    let mut best: Option<Lease> = None;
    let mut i = 0;
    while i < toks.len() {
        match &toks[i].1 {
            Tok::Word(w) if w == "lease" => {
                let (lease, iface, next) = parse_lease_block(path, &toks, i + 1)?;
                i = next;
                if interface.is_none() || iface.as_deref() == interface {
                    best = Some(lease);
                }
            }
            _ => i += 1,
        }
    }
    best.ok_or_else(|| {
        file_error(
            path,
            match interface {
                Some(n) => format!("no lease for interface {n}"),
                None => "no lease block".into(),
            },
        )
    })
}

/// Parses `{ … }` after `lease`; returns the lease, its interface and the
/// index after the closing brace.
fn parse_lease_block(
    path: &Path,
    toks: &[(usize, Tok)],
    mut i: usize,
) -> Result<(Lease, Option<String>, usize), Error> {
    let line_at = |i: usize| toks.get(i).map_or(0, |t| t.0);
    if toks.get(i).map(|t| &t.1) != Some(&Tok::Punct('{')) {
        return Err(file_error(
            path,
            format!("line {}: expected '{{' after lease", line_at(i)),
        ));
    }
    i += 1;
    let mut lease = Lease::new(LeaseSource::Dhclient, Ipv4Addr::UNSPECIFIED);
    let mut iface = None;
    let mut have_address = false;
    loop {
        // One statement: tokens up to ';' (or the closing '}').
        let start = i;
        while i < toks.len() && !matches!(toks[i].1, Tok::Punct(';') | Tok::Punct('}')) {
            i += 1;
        }
        let stmt = &toks[start..i.min(toks.len())];
        let line = line_at(start);
        match toks.get(i).map(|t| &t.1) {
            None => {
                return Err(file_error(
                    path,
                    format!("line {line}: lease block not closed"),
                ));
            }
            Some(Tok::Punct('}')) if stmt.is_empty() => {
                i += 1;
                break;
            }
            Some(Tok::Punct('}')) => {
                return Err(file_error(path, format!("line {line}: missing ';'")));
            }
            _ => i += 1,
        }
        let words: Vec<&Tok> = stmt.iter().map(|t| &t.1).collect();
        match words.as_slice() {
            [Tok::Word(k), Tok::Str(s)] if k == "interface" => {
                iface = Some(String::from_utf8_lossy(s).into_owned());
            }
            [Tok::Word(k), Tok::Word(a)] if k == "fixed-address" => {
                lease.address = addr(path, line, a)?;
                have_address = true;
            }
            [Tok::Word(k), Tok::Word(name), rest @ ..] if k == "option" => {
                let Some(c) = option_code(name) else { continue };
                let data = option_bytes(path, line, c, rest)?;
                if let Err(e) = lease.set_option(c, &data) {
                    lease.malformed.insert(c, (data, e.to_string()));
                }
            }
            // renew/rebind/expire dates, filename, server-name, …
            _ => {}
        }
    }
    if !have_address {
        return Err(file_error(path, "lease block without fixed-address".into()));
    }
    Ok((lease, iface, i))
}

/// dhclient's text for one option back to its wire bytes, so the typed
/// parser is the same for every source.
fn option_bytes(path: &Path, line: usize, c: u8, rest: &[&Tok]) -> Result<Vec<u8>, Error> {
    let values: Vec<&Tok> = rest
        .iter()
        .copied()
        .filter(|t| **t != Tok::Punct(','))
        .collect();
    let bad = |what: &str| file_error(path, format!("line {line}: option {c}: {what}"));
    let mut out = Vec::new();
    match c {
        code::DOMAIN_SEARCH => {
            for v in values {
                let Tok::Str(s) = v else {
                    return Err(bad("expected quoted names"));
                };
                let name = String::from_utf8_lossy(s);
                for label in name.trim_end_matches('.').split('.') {
                    let len = u8::try_from(label.len()).map_err(|_| bad("label too long"))?;
                    out.push(len);
                    out.extend_from_slice(label.as_bytes());
                }
                out.push(0);
            }
        }
        code::CLASSLESS_ROUTES => {
            // Written as comma-separated decimal octets: width,dest…,router.
            for v in values {
                let Tok::Word(w) = v else {
                    return Err(bad("expected octets"));
                };
                out.push(w.parse().map_err(|_| bad("bad octet"))?);
            }
        }
        _ => match values.as_slice() {
            [Tok::Str(s)] => out.extend_from_slice(s),
            [Tok::Word(w)] if w.contains(':') && !w.contains('.') => out = hex(path, line, w)?,
            words => {
                for v in words {
                    let Tok::Word(w) = v else {
                        return Err(bad("unexpected string"));
                    };
                    if let Ok(a) = Ipv4Addr::from_str(w) {
                        out.extend_from_slice(&a.octets());
                    } else if c == code::TIME_OFFSET {
                        let n: i32 = w.parse().map_err(|_| bad("bad number"))?;
                        out.extend_from_slice(&n.to_be_bytes());
                    } else if c == code::MTU {
                        let n: u16 = w.parse().map_err(|_| bad("bad number"))?;
                        out.extend_from_slice(&n.to_be_bytes());
                    } else if let Ok(n) = w.parse::<u32>() {
                        if c == code::MESSAGE_TYPE {
                            out.push(u8::try_from(n).map_err(|_| bad("bad number"))?);
                        } else {
                            out.extend_from_slice(&n.to_be_bytes());
                        }
                    } else {
                        return Err(bad(&format!("cannot read {w:?}")));
                    }
                }
            }
        },
    }
    Ok(out)
}

/// Pre-configured values for a device that skips DHCP (the legacy note of
/// R.1.2.2): the same [`Lease`] shape, source [`LeaseSource::Static`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticConfig {
    /// The fixed address.
    pub address: Ipv4Addr,
    /// Prefix length.
    pub prefix_len: u8,
    /// Default gateway.
    pub gateway: Option<Ipv4Addr>,
    /// DNS servers.
    pub dns_servers: Vec<Ipv4Addr>,
    /// NTP servers.
    pub ntp_servers: Vec<Ipv4Addr>,
    /// Domain for SRV queries.
    pub domain_name: Option<String>,
    /// Search list.
    pub domain_search: Vec<String>,
    /// Host name.
    pub host_name: Option<String>,
    /// POSIX TZ string.
    pub posix_tz: Option<String>,
    /// tz database name.
    pub tz_name: Option<String>,
}

impl StaticConfig {
    /// A static address with nothing else configured.
    pub fn new(address: Ipv4Addr, prefix_len: u8) -> StaticConfig {
        StaticConfig {
            address,
            prefix_len,
            gateway: None,
            dns_servers: Vec::new(),
            ntp_servers: Vec::new(),
            domain_name: None,
            domain_search: Vec::new(),
            host_name: None,
            posix_tz: None,
            tz_name: None,
        }
    }

    /// The configuration as a lease (no lease time: it never expires).
    pub fn to_lease(&self) -> Result<Lease, Error> {
        if self.prefix_len > 32 {
            return Err(Error::Config(format!(
                "prefix length {} is over 32",
                self.prefix_len
            )));
        }
        let mut l = Lease::new(LeaseSource::Static, self.address);
        let mask = u32::MAX
            .checked_shl(32 - u32::from(self.prefix_len))
            .unwrap_or(0);
        l.subnet_mask = Some(Ipv4Addr::from(mask));
        l.routers = self.gateway.into_iter().collect();
        l.dns_servers = self.dns_servers.clone();
        l.ntp_servers = self.ntp_servers.clone();
        l.domain_name = self.domain_name.clone();
        l.domain_search = self.domain_search.clone();
        l.host_name = self.host_name.clone();
        l.posix_tz = self.posix_tz.clone();
        l.tz_name = self.tz_name.clone();
        Ok(l)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As systemd-networkd 252 writes it (keys and formats from
    /// sd-dhcp-lease.c dhcp_lease_save).
    const NETWORKD: &str = "# This is private data. Do not parse.
ADDRESS=10.231.0.117
NETMASK=255.255.255.0
ROUTER=10.231.0.1
SERVER_ADDRESS=10.231.0.1
BROADCAST=10.231.0.255
T1=60
T2=105
LIFETIME=120
DNS=10.231.0.1 10.231.0.2
NTP=10.231.0.1
DOMAINNAME=hospital.example
DOMAIN_SEARCH_LIST=hospital.example radiology.hospital.example
HOSTNAME=ct-scanner-1
CLASSLESS_ROUTES=0.0.0.0/0,10.231.0.1 10.9.0.0/16,10.231.0.254
CLIENTID=01020000000001
TIMEZONE=Europe/Vienna
OPTION_224=0102
";

    #[test]
    fn networkd_lease_file() {
        let l = parse_networkd(Path::new("leases/2"), NETWORKD).unwrap();
        assert_eq!(l.source, LeaseSource::SystemdNetworkd);
        assert_eq!(l.address, Ipv4Addr::new(10, 231, 0, 117));
        assert_eq!(l.prefix_len(), 24);
        assert_eq!(l.routers, vec![Ipv4Addr::new(10, 231, 0, 1)]);
        assert_eq!(l.dns_servers.len(), 2);
        assert_eq!(l.ntp_servers, vec![Ipv4Addr::new(10, 231, 0, 1)]);
        assert_eq!(
            l.domain_search,
            vec!["hospital.example", "radiology.hospital.example"]
        );
        assert_eq!(l.tz_name.as_deref(), Some("Europe/Vienna"));
        assert_eq!(l.lease_time, Some(Duration::from_secs(120)));
        assert_eq!(l.t1(), Some(Duration::from_secs(60)));
        assert_eq!(l.classless_routes.len(), 2);
        assert_eq!(l.classless_routes[1].prefix_len, 16);
        assert_eq!(l.unknown.get(&224), Some(&vec![1, 2]));
    }

    #[test]
    fn networkd_errors_name_the_line() {
        let e = parse_networkd(Path::new("x"), "ADDRESS=10.0.0.300\n").unwrap_err();
        assert!(e.to_string().contains("line 1"), "{e}");
        assert!(parse_networkd(Path::new("x"), "DNS=10.0.0.1\n").is_err());
        assert!(
            parse_networkd(
                Path::new("x"),
                "ADDRESS=10.0.0.1\nROUTES=1.2.3.0/40,1.1.1.1\n"
            )
            .is_err()
        );
    }

    /// As ISC dhclient 4.4 writes it: options it does not know by name
    /// (100, 101 without a dhclient.conf definition) as unknown-N.
    const DHCLIENT: &str = r#"default-duid "\000\001\000\001,\221\2173\002\000\000\000\000\001";
lease {
  interface "eth0";
  fixed-address 10.231.0.101;
  option subnet-mask 255.255.255.0;
  option routers 10.231.0.1;
  option dhcp-lease-time 120;
  option dhcp-message-type 5;
  option domain-name-servers 10.231.0.1;
  option dhcp-server-identifier 10.231.0.1;
  renew 1 2026/11/23 09:00:00;
}
lease {
  interface "eth0";
  fixed-address 10.231.0.102;
  option subnet-mask 255.255.255.0;
  option time-offset 3600;
  option routers 10.231.0.1;
  option dhcp-lease-time 120;
  option dhcp-message-type 5;
  option domain-name-servers 10.231.0.1;
  option ntp-servers 10.231.0.1;
  option dhcp-server-identifier 10.231.0.1;
  option dhcp-renewal-time 60;
  option dhcp-rebinding-time 105;
  option broadcast-address 10.231.0.255;
  option host-name "ct-scanner-1";
  option domain-search "hospital.example.", "radiology.hospital.example.";
  option domain-name "hospital.example";
  option unknown-100 "CET-1CEST,M3.5.0,M10.5.0/3";
  option unknown-101 "Europe/Vienna";
  option unknown-224 1:2:ff;
  option rfc3442-classless-static-routes 16,10,9,10,231,0,254,0,10,231,0,1;
  renew 1 2026/11/23 10:01:00;
  rebind 1 2026/11/23 10:01:45;
  expire 1 2026/11/23 10:02:00;
}
lease {
  interface "eth1";
  fixed-address 192.168.7.9;
}
"#;

    #[test]
    fn dhclient_last_lease_of_the_interface() {
        let l = parse_dhclient(Path::new("dhclient.leases"), DHCLIENT, Some("eth0")).unwrap();
        assert_eq!(l.source, LeaseSource::Dhclient);
        assert_eq!(l.address, Ipv4Addr::new(10, 231, 0, 102));
        assert_eq!(l.time_offset, Some(3600));
        assert_eq!(l.ntp_servers, vec![Ipv4Addr::new(10, 231, 0, 1)]);
        assert_eq!(l.host_name.as_deref(), Some("ct-scanner-1"));
        assert_eq!(
            l.domain_search,
            vec!["hospital.example", "radiology.hospital.example"]
        );
        assert_eq!(l.posix_tz.as_deref(), Some("CET-1CEST,M3.5.0,M10.5.0/3"));
        assert_eq!(l.tz_name.as_deref(), Some("Europe/Vienna"));
        assert_eq!(l.unknown.get(&224), Some(&vec![1, 2, 0xff]));
        assert_eq!(l.renewal_time, Some(Duration::from_secs(60)));
        assert_eq!(l.classless_routes.len(), 2);
        assert_eq!(l.broadcast, Some(Ipv4Addr::new(10, 231, 0, 255)));
        assert!(l.malformed.is_empty(), "{:?}", l.malformed);
        let any = parse_dhclient(Path::new("x"), DHCLIENT, None).unwrap();
        assert_eq!(any.address, Ipv4Addr::new(192, 168, 7, 9));
        assert!(parse_dhclient(Path::new("x"), DHCLIENT, Some("eth9")).is_err());
    }

    #[test]
    fn dhclient_octal_escapes_and_errors() {
        let t = "lease { fixed-address 10.0.0.2; option host-name \"a\\142c\"; }";
        let l = parse_dhclient(Path::new("x"), t, None).unwrap();
        assert_eq!(l.host_name.as_deref(), Some("abc"));
        assert!(parse_dhclient(Path::new("x"), "lease { fixed-address 10.0.0.2; ", None).is_err());
        assert!(parse_dhclient(Path::new("x"), "lease { option routers 1.2.3.4; }", None).is_err());
        assert!(parse_dhclient(Path::new("x"), "lease { host-name \"x", None).is_err());
    }

    #[test]
    fn static_config_is_a_lease_that_never_expires() {
        let mut s = StaticConfig::new(Ipv4Addr::new(10, 1, 2, 3), 20);
        s.gateway = Some(Ipv4Addr::new(10, 1, 0, 1));
        s.ntp_servers = vec![Ipv4Addr::new(10, 1, 0, 5)];
        let l = s.to_lease().unwrap();
        assert_eq!(l.source, LeaseSource::Static);
        assert_eq!(l.subnet_mask, Some(Ipv4Addr::new(255, 255, 240, 0)));
        assert_eq!(l.prefix_len(), 20);
        assert_eq!(l.lease_time, None);
        assert_eq!(l.routes().len(), 1);
        assert_eq!(
            StaticConfig::new(Ipv4Addr::LOCALHOST, 0)
                .to_lease()
                .unwrap()
                .prefix_len(),
            0
        );
        assert!(
            StaticConfig::new(Ipv4Addr::LOCALHOST, 33)
                .to_lease()
                .is_err()
        );
    }
}
