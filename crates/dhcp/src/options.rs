//! Option decoding for received messages.
//!
//! dhcproto decodes the fixed header well, but its option decoder stops at
//! the first option it cannot parse and silently drops every option after
//! it (a non-UTF-8 byte in option 100 would lose the NTP servers that follow).
//! So received options are split here into raw TLVs first (RFC 2132, RFC 3396
//! long options, option 52 overload), and each one is typed on its own: a
//! malformed option stays raw and never hides the others.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use crate::error::CodecError;

/// Option codes this crate knows by name.
pub mod code {
    /// Subnet mask.
    pub const SUBNET_MASK: u8 = 1;
    /// Time offset (signed seconds east of UTC).
    pub const TIME_OFFSET: u8 = 2;
    /// Routers.
    pub const ROUTER: u8 = 3;
    /// Domain name servers.
    pub const DNS: u8 = 6;
    /// Host name.
    pub const HOST_NAME: u8 = 12;
    /// Domain name.
    pub const DOMAIN_NAME: u8 = 15;
    /// Interface MTU.
    pub const MTU: u8 = 26;
    /// Broadcast address.
    pub const BROADCAST: u8 = 28;
    /// Static routes (classful, RFC 2132).
    pub const STATIC_ROUTES: u8 = 33;
    /// NTP servers.
    pub const NTP: u8 = 42;
    /// Requested IP address.
    pub const REQUESTED_IP: u8 = 50;
    /// Lease time.
    pub const LEASE_TIME: u8 = 51;
    /// Option overload.
    pub const OVERLOAD: u8 = 52;
    /// DHCP message type.
    pub const MESSAGE_TYPE: u8 = 53;
    /// Server identifier.
    pub const SERVER_ID: u8 = 54;
    /// Parameter request list.
    pub const PARAMETER_REQUEST_LIST: u8 = 55;
    /// Message (error text from the server).
    pub const MESSAGE: u8 = 56;
    /// Maximum DHCP message size.
    pub const MAX_MESSAGE_SIZE: u8 = 57;
    /// Renewal (T1) time.
    pub const RENEWAL_TIME: u8 = 58;
    /// Rebinding (T2) time.
    pub const REBINDING_TIME: u8 = 59;
    /// Vendor class identifier.
    pub const VENDOR_CLASS: u8 = 60;
    /// Client identifier.
    pub const CLIENT_ID: u8 = 61;
    /// Client FQDN (RFC 4702).
    pub const CLIENT_FQDN: u8 = 81;
    /// POSIX TZ string (RFC 4833 PCode).
    pub const POSIX_TZ: u8 = 100;
    /// tz database name (RFC 4833 TCode).
    pub const TZ_NAME: u8 = 101;
    /// Domain search list (RFC 3397).
    pub const DOMAIN_SEARCH: u8 = 119;
    /// Classless static routes (RFC 3442).
    pub const CLASSLESS_ROUTES: u8 = 121;
}

/// The parameter request list (option 55) sent by default: every option
/// PS3.15 Annex F and the startup sequence use (see `spec/dhcp-ntp-dns.md`).
pub const PARAMETER_REQUEST_LIST: [u8; 18] = [
    1, 2, 3, 6, 12, 15, 26, 28, 33, 42, 51, 54, 58, 59, 100, 101, 119, 121,
];

/// Fixed BOOTP header length before the magic cookie.
const HEADER_LEN: usize = 236;
/// RFC 2131 magic cookie.
pub(crate) const MAGIC: [u8; 4] = [99, 130, 83, 99];

/// The options of one received message as raw bytes per code, long options
/// (RFC 3396) already concatenated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawOptions {
    map: BTreeMap<u8, Vec<u8>>,
    truncated: bool,
}

impl RawOptions {
    /// The raw value of option `code`.
    pub fn get(&self, code: u8) -> Option<&[u8]> {
        self.map.get(&code).map(Vec::as_slice)
    }

    /// All options, in code order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.map.iter().map(|(c, v)| (*c, v.as_slice()))
    }

    /// True when the option area ended in the middle of an option (the
    /// options before it are kept).
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// Number of distinct options.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when there are no options.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The DHCP message type (option 53), if present and one byte long.
    pub fn message_type(&self) -> Option<u8> {
        match self.get(code::MESSAGE_TYPE) {
            Some([t]) => Some(*t),
            _ => None,
        }
    }

    /// Option 54, the server identifier.
    pub fn server_id(&self) -> Option<Ipv4Addr> {
        self.get(code::SERVER_ID).and_then(|d| ipv4(d).ok())
    }

    /// Parses one option area into `self`, noting a truncated option.
    fn scan(&mut self, area: &[u8]) {
        let mut i = 0;
        while i < area.len() {
            let c = area[i];
            match c {
                0 => i += 1,
                255 => return,
                _ => {
                    let Some(&len) = area.get(i + 1) else {
                        self.truncated = true;
                        return;
                    };
                    let start = i + 2;
                    let end = start + usize::from(len);
                    let Some(data) = area.get(start..end) else {
                        self.truncated = true;
                        return;
                    };
                    // RFC 3396: repeated codes are one option, concatenated.
                    self.map.entry(c).or_default().extend_from_slice(data);
                    i = end;
                }
            }
        }
    }
}

/// Splits the options of a whole BOOTP/DHCP message (header included) into
/// raw per-code values. Fails only when the message is too short or lacks
/// the magic cookie; a truncated option area keeps what came before.
pub fn split_options(packet: &[u8]) -> Result<RawOptions, CodecError> {
    if packet.len() < HEADER_LEN + 4 {
        return Err(CodecError::TooShort { len: packet.len() });
    }
    if packet[HEADER_LEN..HEADER_LEN + 4] != MAGIC {
        return Err(CodecError::NoMagicCookie);
    }
    let mut raw = RawOptions::default();
    raw.scan(&packet[HEADER_LEN + 4..]);
    // RFC 2131 §4.1 / RFC 3396: option 52 says the file (1), sname (2) or
    // both (3) fields carry more options, read after the options field.
    let overload = match raw.map.remove(&code::OVERLOAD).as_deref() {
        Some([v]) => *v,
        _ => 0,
    };
    if overload & 1 != 0 {
        raw.scan(&packet[108..236]);
    }
    if overload & 2 != 0 {
        raw.scan(&packet[44..108]);
    }
    Ok(raw)
}

/// Why one option value could not be typed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OptionError {
    /// The value has the wrong length for its type.
    #[error("length {len} is not valid for this option")]
    Length {
        /// The length received.
        len: usize,
    },
    /// A text option is not UTF-8.
    #[error("text is not UTF-8")]
    NotUtf8,
    /// A DNS name is malformed (label too long, bad pointer, loop).
    #[error("malformed DNS name: {0}")]
    BadName(&'static str),
    /// A route has an impossible prefix length.
    #[error("route prefix length {0} is over 32")]
    BadPrefix(u8),
}

/// One IPv4 address (exactly 4 bytes).
pub fn ipv4(d: &[u8]) -> Result<Ipv4Addr, OptionError> {
    <[u8; 4]>::try_from(d)
        .map(Ipv4Addr::from)
        .map_err(|_| OptionError::Length { len: d.len() })
}

/// A non-empty list of IPv4 addresses.
pub fn ipv4_list(d: &[u8]) -> Result<Vec<Ipv4Addr>, OptionError> {
    if d.is_empty() || !d.len().is_multiple_of(4) {
        return Err(OptionError::Length { len: d.len() });
    }
    Ok(d.chunks_exact(4)
        .map(|c| Ipv4Addr::new(c[0], c[1], c[2], c[3]))
        .collect())
}

/// A big-endian u32.
pub fn u32_be(d: &[u8]) -> Result<u32, OptionError> {
    <[u8; 4]>::try_from(d)
        .map(u32::from_be_bytes)
        .map_err(|_| OptionError::Length { len: d.len() })
}

/// A big-endian i32 (option 2).
pub fn i32_be(d: &[u8]) -> Result<i32, OptionError> {
    <[u8; 4]>::try_from(d)
        .map(i32::from_be_bytes)
        .map_err(|_| OptionError::Length { len: d.len() })
}

/// A big-endian u16.
pub fn u16_be(d: &[u8]) -> Result<u16, OptionError> {
    <[u8; 2]>::try_from(d)
        .map(u16::from_be_bytes)
        .map_err(|_| OptionError::Length { len: d.len() })
}

/// A text option. RFC 2132 says no trailing NUL, but some servers send one
/// (and RFC 4833 strings come NUL-terminated from some): strip them.
pub fn text(d: &[u8]) -> Result<String, OptionError> {
    let end = d.iter().rposition(|b| *b != 0).map_or(0, |p| p + 1);
    if end == 0 {
        return Err(OptionError::Length { len: d.len() });
    }
    String::from_utf8(d[..end].to_vec()).map_err(|_| OptionError::NotUtf8)
}

/// Option 119: RFC 1035 names with compression pointers into the option
/// value itself (RFC 3397 §2). Pointers must go strictly backwards, so a
/// hostile value cannot loop.
pub fn domain_search(d: &[u8]) -> Result<Vec<String>, OptionError> {
    let mut names = Vec::new();
    let mut pos = 0;
    while pos < d.len() {
        let (name, next) = read_name(d, pos)?;
        names.push(name);
        pos = next;
    }
    if names.is_empty() {
        return Err(OptionError::Length { len: d.len() });
    }
    Ok(names)
}

/// Reads one (possibly compressed) name at `start`; returns it without the
/// trailing dot and the position after it in the uncompressed stream.
fn read_name(d: &[u8], start: usize) -> Result<(String, usize), OptionError> {
    let mut labels: Vec<String> = Vec::new();
    let mut pos = start;
    let mut after: Option<usize> = None;
    // Every jump must land before the previous one, which bounds the loop.
    let mut limit = start;
    let mut total = 0usize;
    loop {
        let len = *d
            .get(pos)
            .ok_or(OptionError::BadName("ends inside a name"))?;
        match len {
            0 => {
                let next = after.unwrap_or(pos + 1);
                return Ok((labels.join("."), next));
            }
            1..=63 => {
                let label = d
                    .get(pos + 1..pos + 1 + usize::from(len))
                    .ok_or(OptionError::BadName("label runs past the end"))?;
                total += usize::from(len) + 1;
                if total > 255 {
                    return Err(OptionError::BadName("name longer than 255 octets"));
                }
                let label = std::str::from_utf8(label)
                    .map_err(|_| OptionError::BadName("label not text"))?;
                labels.push(label.to_owned());
                pos += 1 + usize::from(len);
            }
            0xC0..=0xFF => {
                let lo = *d.get(pos + 1).ok_or(OptionError::BadName("cut pointer"))?;
                let target = (usize::from(len & 0x3F) << 8) | usize::from(lo);
                if target >= limit {
                    return Err(OptionError::BadName("pointer does not point backwards"));
                }
                if after.is_none() {
                    after = Some(pos + 2);
                }
                limit = target;
                pos = target;
            }
            _ => return Err(OptionError::BadName("reserved label type")),
        }
    }
}

/// A route: destination network, prefix length and gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Route {
    /// Destination network address.
    pub destination: Ipv4Addr,
    /// Prefix length (0–32).
    pub prefix_len: u8,
    /// Gateway (0.0.0.0 means on-link, RFC 3442).
    pub gateway: Ipv4Addr,
}

/// Option 121 (RFC 3442): width, significant octets of the destination, router.
pub fn classless_routes(d: &[u8]) -> Result<Vec<Route>, OptionError> {
    let mut routes = Vec::new();
    let mut i = 0;
    while i < d.len() {
        let width = d[i];
        if width > 32 {
            return Err(OptionError::BadPrefix(width));
        }
        let sig = usize::from(width).div_ceil(8);
        let dest = d
            .get(i + 1..i + 1 + sig)
            .ok_or(OptionError::Length { len: d.len() })?;
        let gw = d
            .get(i + 1 + sig..i + 5 + sig)
            .ok_or(OptionError::Length { len: d.len() })?;
        let mut octets = [0u8; 4];
        octets[..sig].copy_from_slice(dest);
        routes.push(Route {
            destination: Ipv4Addr::from(octets),
            prefix_len: width,
            gateway: ipv4(gw)?,
        });
        i += 5 + sig;
    }
    if routes.is_empty() {
        return Err(OptionError::Length { len: 0 });
    }
    Ok(routes)
}

/// Option 33: pairs of (destination host/network, router); classful, so the
/// prefix length is taken from the destination's class (RFC 2132 §5.8).
pub fn static_routes(d: &[u8]) -> Result<Vec<Route>, OptionError> {
    if d.is_empty() || !d.len().is_multiple_of(8) {
        return Err(OptionError::Length { len: d.len() });
    }
    Ok(d.chunks_exact(8)
        .map(|c| {
            let destination = Ipv4Addr::new(c[0], c[1], c[2], c[3]);
            let prefix_len = match c[0] {
                0..=127 => 8,
                128..=191 => 16,
                _ => 24,
            };
            // A host route when the host part is not zero.
            let host_bits = u32::from(destination) & (u32::MAX >> prefix_len);
            Route {
                destination,
                prefix_len: if host_bits != 0 { 32 } else { prefix_len },
                gateway: Ipv4Addr::new(c[4], c[5], c[6], c[7]),
            }
        })
        .collect())
}

/// Option 81 as the server returned it (RFC 4702).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFqdn {
    /// Flags byte: S (0x01) the server updates A RR, O (0x02) the server
    /// overrode the client, E (0x04) wire encoding, N (0x08) no updates.
    pub flags: u8,
    /// The name, without trailing dot (may be empty).
    pub name: String,
}

impl ClientFqdn {
    /// S: the server performs (or is asked to perform) the A RR update.
    pub fn server_updates(&self) -> bool {
        self.flags & 0x01 != 0
    }
    /// O: the server overrode the client's S preference.
    pub fn overridden(&self) -> bool {
        self.flags & 0x02 != 0
    }
    /// N: no DNS update at all.
    pub fn no_update(&self) -> bool {
        self.flags & 0x08 != 0
    }
}

/// Parses option 81: flags, two deprecated RCODE bytes, then the name in
/// wire format (E set) or ASCII (E clear).
pub fn client_fqdn(d: &[u8]) -> Result<ClientFqdn, OptionError> {
    if d.len() < 3 {
        return Err(OptionError::Length { len: d.len() });
    }
    let flags = d[0];
    let rest = &d[3..];
    let name = if rest.is_empty() {
        String::new()
    } else if flags & 0x04 != 0 {
        // Wire format without compression; a partial name has no final 0.
        let mut labels = Vec::new();
        let mut i = 0;
        while i < rest.len() {
            let len = usize::from(rest[i]);
            if len == 0 {
                break;
            }
            if len > 63 {
                return Err(OptionError::BadName("label too long"));
            }
            let l = rest
                .get(i + 1..i + 1 + len)
                .ok_or(OptionError::BadName("label runs past the end"))?;
            labels.push(
                std::str::from_utf8(l)
                    .map_err(|_| OptionError::BadName("label not text"))?
                    .to_owned(),
            );
            i += 1 + len;
        }
        labels.join(".")
    } else {
        text(rest)
            .map(|s| s.trim_end_matches('.').to_owned())
            .unwrap_or_default()
    };
    Ok(ClientFqdn { flags, name })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet_with(opts: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; HEADER_LEN];
        p.extend_from_slice(&MAGIC);
        p.extend_from_slice(opts);
        p
    }

    #[test]
    fn splits_and_concatenates_long_options() {
        let p = packet_with(&[0, 6, 4, 10, 0, 0, 1, 6, 4, 10, 0, 0, 2, 53, 1, 5, 255, 3, 4]);
        let raw = split_options(&p).unwrap();
        assert_eq!(raw.get(6), Some(&[10, 0, 0, 1, 10, 0, 0, 2][..]));
        assert_eq!(raw.message_type(), Some(5));
        // Bytes after End are not options.
        assert_eq!(raw.get(3), None);
        assert!(!raw.truncated());
    }

    #[test]
    fn truncated_option_keeps_earlier_ones() {
        let p = packet_with(&[53, 1, 2, 42, 8, 1, 2]);
        let raw = split_options(&p).unwrap();
        assert_eq!(raw.message_type(), Some(2));
        assert!(raw.truncated());
        assert_eq!(raw.get(42), None);
    }

    #[test]
    fn overload_reads_file_then_sname() {
        let mut p = packet_with(&[52, 1, 3, 53, 1, 5, 255]);
        p[108..113].copy_from_slice(&[15, 3, b'a', b'b', b'c']);
        p[113] = 255;
        p[44..47].copy_from_slice(&[12, 1, b'h']);
        p[47] = 255;
        let raw = split_options(&p).unwrap();
        assert_eq!(raw.get(15), Some(&b"abc"[..]));
        assert_eq!(raw.get(12), Some(&b"h"[..]));
        assert_eq!(raw.get(52), None);
    }

    #[test]
    fn rejects_short_and_cookieless() {
        assert!(matches!(
            split_options(&[0; 10]),
            Err(CodecError::TooShort { len: 10 })
        ));
        assert!(matches!(
            split_options(&[0; 300]),
            Err(CodecError::NoMagicCookie)
        ));
    }

    #[test]
    fn domain_search_rfc3397_example() {
        // RFC 3397 §3 example: eng.apple.com. and marketing.apple.com.
        let d = [
            3, b'e', b'n', b'g', 5, b'a', b'p', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0, 9, b'm',
            b'a', b'r', b'k', b'e', b't', b'i', b'n', b'g', 0xC0, 4,
        ];
        assert_eq!(
            domain_search(&d).unwrap(),
            vec!["eng.apple.com".to_owned(), "marketing.apple.com".to_owned()]
        );
    }

    #[test]
    fn domain_search_refuses_loops_and_forward_pointers() {
        assert!(domain_search(&[0xC0, 0]).is_err());
        assert!(domain_search(&[1, b'a', 0xC0, 0]).is_err());
        assert!(domain_search(&[0xC0, 5, 0, 0, 0, 0]).is_err());
        assert!(domain_search(&[3, b'a']).is_err());
    }

    #[test]
    fn classless_routes_rfc3442() {
        // 0/0 via 10.0.0.1; 10.17/16 via 10.0.0.2; 192.168.5.128/25 via 10.0.0.3
        let d = [
            0, 10, 0, 0, 1, 16, 10, 17, 10, 0, 0, 2, 25, 192, 168, 5, 128, 10, 0, 0, 3,
        ];
        let r = classless_routes(&d).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].prefix_len, 0);
        assert_eq!(r[0].gateway, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(r[1].destination, Ipv4Addr::new(10, 17, 0, 0));
        assert_eq!(r[2].destination, Ipv4Addr::new(192, 168, 5, 128));
        assert_eq!(r[2].prefix_len, 25);
        assert!(classless_routes(&[33, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(classless_routes(&[24, 10, 0]).is_err());
    }

    #[test]
    fn static_routes_classful() {
        let r =
            static_routes(&[10, 0, 0, 0, 10, 231, 0, 1, 192, 168, 1, 5, 10, 231, 0, 1]).unwrap();
        assert_eq!(r[0].prefix_len, 8);
        assert_eq!(r[1].prefix_len, 32);
    }

    #[test]
    fn text_strips_nul_and_rejects_bad_utf8() {
        assert_eq!(text(b"Europe/Vienna\0").unwrap(), "Europe/Vienna");
        assert_eq!(text(&[0xFF, 0xFE]), Err(OptionError::NotUtf8));
        assert!(text(b"\0").is_err());
    }

    #[test]
    fn fqdn_wire_and_ascii() {
        let f = client_fqdn(&[0x05, 0, 0, 3, b'c', b't', b'1', 3, b'o', b'r', b'g', 0]).unwrap();
        assert_eq!(f.name, "ct1.org");
        assert!(f.server_updates());
        let f = client_fqdn(&[0x03, 255, 255, b'c', b't', b'1', b'.']).unwrap();
        assert_eq!(f.name, "ct1");
        assert!(f.overridden());
        assert!(client_fqdn(&[1]).is_err());
    }
}
