//! The typed lease: every option the startup sequence uses, typed, plus the
//! options nobody asked about, raw.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use crate::options::{self, ClientFqdn, RawOptions, Route, code};

/// Where a lease came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LeaseSource {
    /// This crate's own client (DISCOVER/REQUEST or INIT-REBOOT).
    Dhcp,
    /// A DHCPINFORM answer: options only, the address is the fixed one.
    Inform,
    /// A systemd-networkd lease file.
    SystemdNetworkd,
    /// An ISC dhclient lease file.
    Dhclient,
    /// Pre-configured values (the legacy note of R.1.2.2).
    Static,
}

/// A hardware (MAC) address, printed as `00:1a:2b:3c:4d:5e`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Mac(pub [u8; 6]);

impl fmt::Display for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl std::str::FromStr for Mac {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut out = [0u8; 6];
        let mut n = 0;
        for part in s.trim().split([':', '-']) {
            let slot = out
                .get_mut(n)
                .ok_or_else(|| format!("too many octets in MAC {s:?}"))?;
            *slot = u8::from_str_radix(part, 16).map_err(|_| format!("bad MAC octet in {s:?}"))?;
            n += 1;
        }
        if n != 6 {
            return Err(format!("MAC {s:?} does not have 6 octets"));
        }
        Ok(Mac(out))
    }
}

/// The result of DHCP (or of a lease file, or static configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Lease {
    /// Where it came from.
    pub source: LeaseSource,
    /// The leased (or fixed) address.
    pub address: Ipv4Addr,
    /// Server identifier (option 54).
    pub server_id: Option<Ipv4Addr>,
    /// Option 1.
    pub subnet_mask: Option<Ipv4Addr>,
    /// Option 2, signed seconds east of UTC.
    pub time_offset: Option<i32>,
    /// Option 3.
    pub routers: Vec<Ipv4Addr>,
    /// Option 6.
    pub dns_servers: Vec<Ipv4Addr>,
    /// Option 12, the name the server assigned or accepted.
    pub host_name: Option<String>,
    /// Option 15.
    pub domain_name: Option<String>,
    /// Option 26.
    pub mtu: Option<u16>,
    /// Option 28.
    pub broadcast: Option<Ipv4Addr>,
    /// Option 33 (classful static routes).
    pub static_routes: Vec<Route>,
    /// Option 42.
    pub ntp_servers: Vec<Ipv4Addr>,
    /// Option 51; `None` for an infinite lease (0xffffffff) or none given.
    pub lease_time: Option<Duration>,
    /// Option 58.
    pub renewal_time: Option<Duration>,
    /// Option 59.
    pub rebinding_time: Option<Duration>,
    /// Option 81 as the server answered it.
    pub client_fqdn: Option<ClientFqdn>,
    /// Option 100, POSIX TZ string.
    pub posix_tz: Option<String>,
    /// Option 101, tz database name.
    pub tz_name: Option<String>,
    /// Option 119, without trailing dots.
    pub domain_search: Vec<String>,
    /// Option 121 (RFC 3442). When present, RFC 3442 says option 3 and 33
    /// are to be ignored for routing.
    pub classless_routes: Vec<Route>,
    /// Options this crate does not type, by code, raw.
    pub unknown: BTreeMap<u8, Vec<u8>>,
    /// Options this crate types but whose value was malformed, raw, with why.
    pub malformed: BTreeMap<u8, (Vec<u8>, String)>,
}

impl Lease {
    /// An empty lease for `address`.
    pub fn new(source: LeaseSource, address: Ipv4Addr) -> Lease {
        Lease {
            source,
            address,
            server_id: None,
            subnet_mask: None,
            time_offset: None,
            routers: Vec::new(),
            dns_servers: Vec::new(),
            host_name: None,
            domain_name: None,
            mtu: None,
            broadcast: None,
            static_routes: Vec::new(),
            ntp_servers: Vec::new(),
            lease_time: None,
            renewal_time: None,
            rebinding_time: None,
            client_fqdn: None,
            posix_tz: None,
            tz_name: None,
            domain_search: Vec::new(),
            classless_routes: Vec::new(),
            unknown: BTreeMap::new(),
            malformed: BTreeMap::new(),
        }
    }

    /// Builds a lease from the options of a DHCPACK (or INFORM answer).
    pub fn from_options(source: LeaseSource, address: Ipv4Addr, raw: &RawOptions) -> Lease {
        let mut lease = Lease::new(source, address);
        for (c, d) in raw.iter() {
            if let Err(e) = lease.set_option(c, d) {
                lease.malformed.insert(c, (d.to_vec(), e.to_string()));
            }
        }
        lease
    }

    /// Types one option into the lease; unknown codes go to `unknown`.
    pub fn set_option(&mut self, c: u8, d: &[u8]) -> Result<(), options::OptionError> {
        let secs = |d: &[u8]| -> Result<Option<Duration>, options::OptionError> {
            let v = options::u32_be(d)?;
            Ok((v != u32::MAX).then(|| Duration::from_secs(u64::from(v))))
        };
        match c {
            code::SUBNET_MASK => self.subnet_mask = Some(options::ipv4(d)?),
            code::TIME_OFFSET => self.time_offset = Some(options::i32_be(d)?),
            code::ROUTER => self.routers = options::ipv4_list(d)?,
            code::DNS => self.dns_servers = options::ipv4_list(d)?,
            code::HOST_NAME => self.host_name = Some(options::text(d)?),
            code::DOMAIN_NAME => {
                self.domain_name = Some(options::text(d)?.trim_end_matches('.').to_owned())
            }
            code::MTU => self.mtu = Some(options::u16_be(d)?),
            code::BROADCAST => self.broadcast = Some(options::ipv4(d)?),
            code::STATIC_ROUTES => self.static_routes = options::static_routes(d)?,
            code::NTP => self.ntp_servers = options::ipv4_list(d)?,
            code::LEASE_TIME => self.lease_time = secs(d)?,
            code::SERVER_ID => self.server_id = Some(options::ipv4(d)?),
            code::RENEWAL_TIME => self.renewal_time = secs(d)?,
            code::REBINDING_TIME => self.rebinding_time = secs(d)?,
            code::CLIENT_FQDN => self.client_fqdn = Some(options::client_fqdn(d)?),
            code::POSIX_TZ => self.posix_tz = Some(options::text(d)?),
            code::TZ_NAME => self.tz_name = Some(options::text(d)?),
            code::DOMAIN_SEARCH => self.domain_search = options::domain_search(d)?,
            code::CLASSLESS_ROUTES => self.classless_routes = options::classless_routes(d)?,
            // Protocol bookkeeping, not lease content.
            code::MESSAGE_TYPE | code::CLIENT_ID | code::MESSAGE | code::MAX_MESSAGE_SIZE => {}
            _ => {
                self.unknown.insert(c, d.to_vec());
            }
        }
        Ok(())
    }

    /// Prefix length of the subnet mask (24 when none was given: RFC 2131
    /// leaves it to the client; a /24 is what udhcpc and dhclient assume for
    /// a class C and the lab uses).
    pub fn prefix_len(&self) -> u8 {
        self.subnet_mask
            .map_or(24, |m| u32::from(m).leading_ones().min(32) as u8)
    }

    /// T1: option 58, else half the lease (RFC 2131 §4.4.5).
    pub fn t1(&self) -> Option<Duration> {
        let lease = self.lease_time?;
        let t1 = self.renewal_time.unwrap_or(lease / 2);
        Some(t1.min(lease))
    }

    /// T2: option 59, else 7/8 of the lease (RFC 2131 §4.4.5).
    pub fn t2(&self) -> Option<Duration> {
        let lease = self.lease_time?;
        let t2 = self.rebinding_time.unwrap_or(lease * 7 / 8);
        Some(t2.min(lease).max(self.t1().unwrap_or_default()))
    }

    /// The routes to install: option 121 when present (RFC 3442 §3: then 3
    /// and 33 are ignored), else a default route via the first router plus
    /// option 33.
    pub fn routes(&self) -> Vec<Route> {
        if !self.classless_routes.is_empty() {
            return self.classless_routes.clone();
        }
        let mut routes: Vec<Route> = self
            .routers
            .first()
            .map(|gw| Route {
                destination: Ipv4Addr::UNSPECIFIED,
                prefix_len: 0,
                gateway: *gw,
            })
            .into_iter()
            .collect();
        routes.extend(self.static_routes.iter().copied());
        routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_round_trip() {
        let m: Mac = "02:1A:2b:3c:4d:5e".parse().unwrap();
        assert_eq!(m.to_string(), "02:1a:2b:3c:4d:5e");
        assert!("02:1a".parse::<Mac>().is_err());
        assert!("02:1a:2b:3c:4d:5e:7f".parse::<Mac>().is_err());
    }

    #[test]
    fn timers_default_to_half_and_seven_eighths() {
        let mut l = Lease::new(LeaseSource::Dhcp, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(l.t1(), None);
        l.lease_time = Some(Duration::from_secs(120));
        assert_eq!(l.t1(), Some(Duration::from_secs(60)));
        assert_eq!(l.t2(), Some(Duration::from_secs(105)));
        l.renewal_time = Some(Duration::from_secs(500));
        assert_eq!(l.t1(), Some(Duration::from_secs(120)));
    }

    #[test]
    fn malformed_options_stay_raw_and_others_survive() {
        let mut p = vec![0u8; 236];
        p.extend_from_slice(&crate::options::MAGIC);
        p.extend_from_slice(&[
            1, 3, 255, 255, 0, 42, 4, 10, 0, 0, 9, 100, 2, 0xff, 0xfe, 224, 2, 7, 7, 255,
        ]);
        let raw = crate::options::split_options(&p).unwrap();
        let l = Lease::from_options(LeaseSource::Dhcp, Ipv4Addr::new(10, 0, 0, 2), &raw);
        assert_eq!(l.ntp_servers, vec![Ipv4Addr::new(10, 0, 0, 9)]);
        assert!(l.malformed.contains_key(&1));
        assert!(l.malformed.contains_key(&100));
        assert_eq!(l.unknown.get(&224), Some(&vec![7, 7]));
        assert_eq!(l.prefix_len(), 24);
    }
}
