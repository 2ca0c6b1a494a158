//! Distinguished names (RFC 4514): building, parsing and escaping.
//!
//! A [`Dn`] is a list of RDNs, most specific first. Values are kept unescaped;
//! escaping happens only when a DN is rendered, so a value can never change the
//! structure of the DN it is put into.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Error, schema};

/// One `type=value` pair of an RDN.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Ava {
    /// Attribute type (name or numeric OID), as written.
    pub attr: String,
    /// The value, unescaped.
    pub value: String,
}

/// A relative distinguished name: one or more [`Ava`]s joined by `+`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rdn(pub Vec<Ava>);

impl Rdn {
    /// A single-valued RDN `attr=value`.
    pub fn new(attr: &str, value: &str) -> Self {
        Rdn(vec![Ava {
            attr: attr.to_string(),
            value: value.to_string(),
        }])
    }

    /// The first attribute type.
    pub fn attr(&self) -> &str {
        self.0.first().map_or("", |a| a.attr.as_str())
    }

    /// The first value.
    pub fn value(&self) -> &str {
        self.0.first().map_or("", |a| a.value.as_str())
    }

    /// The value of `attr` in this RDN (case-insensitive type match).
    pub fn get(&self, attr: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|a| a.attr.eq_ignore_ascii_case(attr))
            .map(|a| a.value.as_str())
    }
}

impl fmt::Display for Rdn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, ava) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("+")?;
            }
            write!(f, "{}={}", ava.attr, escape_value(&ava.value))?;
        }
        Ok(())
    }
}

/// A distinguished name; `rdns()[0]` is the entry's own RDN.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Dn(Vec<Rdn>);

impl Dn {
    /// The empty DN (the root DSE).
    pub fn root() -> Self {
        Dn(Vec::new())
    }

    /// A DN from RDNs, most specific first.
    pub fn from_rdns(rdns: Vec<Rdn>) -> Self {
        Dn(rdns)
    }

    /// Parses an RFC 4514 string (RFC 2253/1779 leniencies: spaces around
    /// separators, `;` as separator).
    pub fn parse(s: &str) -> Result<Self, Error> {
        Parser {
            s,
            b: s.as_bytes(),
            pos: 0,
        }
        .dn()
    }

    /// This DN with `attr=value` prepended: the DN of a child entry.
    pub fn child(&self, attr: &str, value: &str) -> Dn {
        self.child_rdn(Rdn::new(attr, value))
    }

    /// This DN with `rdn` prepended.
    pub fn child_rdn(&self, rdn: Rdn) -> Dn {
        let mut v = Vec::with_capacity(self.0.len() + 1);
        v.push(rdn);
        v.extend(self.0.iter().cloned());
        Dn(v)
    }

    /// The RDNs, most specific first.
    pub fn rdns(&self) -> &[Rdn] {
        &self.0
    }

    /// The entry's own RDN (`None` for the root).
    pub fn rdn(&self) -> Option<&Rdn> {
        self.0.first()
    }

    /// The parent's DN (`None` for the root).
    pub fn parent(&self) -> Option<Dn> {
        (!self.0.is_empty()).then(|| Dn(self.0[1..].to_vec()))
    }

    /// Whether this is the root DN.
    pub fn is_root(&self) -> bool {
        self.0.is_empty()
    }

    /// Number of RDNs.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the DN has no RDNs (same as [`Dn::is_root`]).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `self` lies at or below `base` (compared as LDAP would, see [`Dn::matches`]).
    pub fn is_within(&self, base: &Dn) -> bool {
        self.0.len() >= base.0.len()
            && self.0[self.0.len() - base.0.len()..]
                .iter()
                .zip(&base.0)
                .all(|(a, b)| rdn_matches(a, b))
    }

    /// The part of `self` above `base` (`None` if `self` is not within `base`).
    pub fn relative_to(&self, base: &Dn) -> Option<Dn> {
        self.is_within(base)
            .then(|| Dn(self.0[..self.0.len() - base.0.len()].to_vec()))
    }

    /// `self` (relative) followed by `base`.
    pub fn join(&self, base: &Dn) -> Dn {
        Dn(self.0.iter().chain(&base.0).cloned().collect())
    }

    /// Equality as a directory applies it: attribute types ignore case, and values
    /// ignore case except for case-exact attributes such as `dicomAETitle`.
    pub fn matches(&self, other: &Dn) -> bool {
        self.0.len() == other.0.len() && self.0.iter().zip(&other.0).all(|(a, b)| rdn_matches(a, b))
    }

    /// A canonical string for use as a map key: equal for DNs that [`Dn::matches`].
    pub fn normalized(&self) -> String {
        let mut out = String::new();
        for (i, rdn) in self.0.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let mut avas: Vec<String> = rdn
                .0
                .iter()
                .map(|a| {
                    let v = if value_ignores_case(&a.attr) {
                        a.value.to_lowercase()
                    } else {
                        a.value.clone()
                    };
                    format!("{}={}", a.attr.to_ascii_lowercase(), escape_value(&v))
                })
                .collect();
            avas.sort();
            out.push_str(&avas.join("+"));
        }
        out
    }
}

fn value_ignores_case(attr: &str) -> bool {
    // cn, dc, ou, … are case-ignore; the DICOM table says which of ours are not
    // (checked only for `dicom*` names: this runs for every RDN comparison).
    let dicom = attr
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("dicom"));
    !dicom || schema::attribute_type(attr).is_none_or(|t| t.equality.ignores_case())
}

fn ava_matches(a: &Ava, b: &Ava) -> bool {
    a.attr.eq_ignore_ascii_case(&b.attr)
        && if value_ignores_case(&a.attr) {
            if a.value.is_ascii() && b.value.is_ascii() {
                a.value.eq_ignore_ascii_case(&b.value)
            } else {
                a.value.to_lowercase() == b.value.to_lowercase()
            }
        } else {
            a.value == b.value
        }
}

fn rdn_matches(a: &Rdn, b: &Rdn) -> bool {
    a.0.len() == b.0.len() && a.0.iter().all(|x| b.0.iter().any(|y| ava_matches(x, y)))
}

impl fmt::Display for Dn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, rdn) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{rdn}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Dn {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Dn::parse(s)
    }
}

impl Serialize for Dn {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Dn {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Dn::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Escapes an attribute value for use in a DN (RFC 4514 section 2.4), plus `=`
/// and control characters so the result is safe in any context.
pub fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 4);
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '#' if i == 0 => out.push_str("\\#"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\{:02X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, reason: &'static str) -> Error {
        Error::Dn {
            input: self.s.to_string(),
            at: self.pos,
            reason,
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    fn dn(mut self) -> Result<Dn, Error> {
        self.skip_spaces();
        if self.pos == self.b.len() {
            return Ok(Dn::root());
        }
        let mut rdns = Vec::new();
        let mut avas = Vec::new();
        loop {
            avas.push(self.ava()?);
            match self.peek() {
                None => {
                    rdns.push(Rdn(std::mem::take(&mut avas)));
                    return Ok(Dn(rdns));
                }
                Some(b'+') => self.pos += 1,
                Some(b',' | b';') => {
                    self.pos += 1;
                    rdns.push(Rdn(std::mem::take(&mut avas)));
                }
                Some(_) => return Err(self.err("expected ',' or '+'")),
            }
        }
    }

    fn ava(&mut self) -> Result<Ava, Error> {
        self.skip_spaces();
        let start = self.pos;
        match self.peek() {
            Some(c) if c.is_ascii_alphabetic() => {
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'-') {
                    self.pos += 1;
                }
            }
            Some(c) if c.is_ascii_digit() => {
                while matches!(self.peek(), Some(c) if c.is_ascii_digit() || c == b'.') {
                    self.pos += 1;
                }
            }
            _ => return Err(self.err("expected an attribute type")),
        }
        let attr = self.s[start..self.pos].to_string();
        self.skip_spaces();
        if self.peek() != Some(b'=') {
            return Err(self.err("expected '='"));
        }
        self.pos += 1;
        self.skip_spaces();
        let value = if self.peek() == Some(b'#') {
            self.hexstring()?
        } else {
            self.string()?
        };
        Ok(Ava { attr, value })
    }

    fn hex_byte(&self, at: usize) -> Option<u8> {
        let h = self.b.get(at..at + 2)?;
        u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()
    }

    fn string(&mut self) -> Result<String, Error> {
        let mut out = Vec::new();
        // Unescaped trailing spaces are not part of the value (RFC 4514 requires them escaped).
        let mut keep = 0;
        while let Some(c) = self.peek() {
            match c {
                b',' | b';' | b'+' => break,
                b'\\' => {
                    match self.b.get(self.pos + 1) {
                        Some(&e) if b" \"#+,;<=>\\".contains(&e) => {
                            out.push(e);
                            self.pos += 2;
                        }
                        Some(_) => {
                            let byte = self
                                .hex_byte(self.pos + 1)
                                .ok_or_else(|| self.err("bad escape"))?;
                            out.push(byte);
                            self.pos += 3;
                        }
                        None => return Err(self.err("escape at end of DN")),
                    }
                    keep = out.len();
                }
                _ => {
                    out.push(c);
                    self.pos += 1;
                    if c != b' ' {
                        keep = out.len();
                    }
                }
            }
        }
        out.truncate(keep);
        String::from_utf8(out).map_err(|_| self.err("value is not UTF-8"))
    }

    /// `#` followed by the hex of a BER-encoded string value.
    fn hexstring(&mut self) -> Result<String, Error> {
        self.pos += 1;
        let mut bytes = Vec::new();
        while let Some(b) = self.hex_byte(self.pos) {
            bytes.push(b);
            self.pos += 2;
        }
        self.skip_spaces();
        if !matches!(self.peek(), None | Some(b',' | b';' | b'+')) {
            return Err(self.err("bad hex string"));
        }
        // Only the short-length primitive string forms appear in practice.
        match bytes.as_slice() {
            [tag, len, rest @ ..]
                if matches!(tag, 0x04 | 0x0c | 0x13 | 0x16 | 0x14)
                    && *len as usize == rest.len()
                    && *len < 0x80 =>
            {
                String::from_utf8(rest.to_vec()).map_err(|_| self.err("value is not UTF-8"))
            }
            _ => Err(self.err("unsupported BER value in hex string")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_renders() {
        let dn = Dn::parse("dicomAETitle=CT1,dicomDeviceName=ct-1,cn=Devices,cn=DICOM Configuration,dc=example,dc=org").unwrap();
        assert_eq!(dn.len(), 6);
        assert_eq!(dn.rdn().unwrap().attr(), "dicomAETitle");
        assert_eq!(dn.parent().unwrap().rdn().unwrap().value(), "ct-1");
        assert_eq!(
            dn.to_string(),
            "dicomAETitle=CT1,dicomDeviceName=ct-1,cn=Devices,cn=DICOM Configuration,dc=example,dc=org"
        );
        assert!(Dn::parse("").unwrap().is_root());
        let lenient = Dn::parse(" cn = a b , dc=x;dc=y").unwrap();
        assert_eq!(lenient.to_string(), "cn=a b,dc=x,dc=y");
    }

    #[test]
    fn escapes() {
        let hostile = Dn::root().child("dc", "org").child("cn", "a,b=c+d");
        assert_eq!(hostile.to_string(), "cn=a\\,b\\=c\\+d,dc=org");
        assert_eq!(Dn::parse(&hostile.to_string()).unwrap(), hostile);
        assert_eq!(escape_value(" #x "), "\\ #x\\ ");
        assert_eq!(escape_value("#"), "\\#");
        assert_eq!(escape_value("\0"), "\\00");
        let dn = Dn::parse("cn=\\C3\\A4rzt\\2C x\\ ,o=#04024869").unwrap();
        assert_eq!(dn.rdn().unwrap().value(), "ärzt, x ");
        assert_eq!(dn.parent().unwrap().rdn().unwrap().value(), "Hi");
        assert!(Dn::parse("cn=a\\").is_err());
        assert!(Dn::parse("cn=a\\zz").is_err());
        assert!(Dn::parse("=a").is_err());
        assert!(Dn::parse("cn").is_err());
        assert!(Dn::parse("cn=\\ff").is_err());
        let multi = Dn::parse("cn=a+sn=b,dc=x").unwrap();
        assert_eq!(multi.rdn().unwrap().get("SN"), Some("b"));
    }

    #[test]
    fn matching_follows_ldap_rules() {
        let a = Dn::parse("CN=Devices,DC=Example,dc=org").unwrap();
        let b = Dn::parse("cn=devices,dc=example,dc=ORG").unwrap();
        assert!(a.matches(&b));
        assert_eq!(a.normalized(), b.normalized());
        let ae1 = b.child("dicomAETitle", "ct1");
        let ae2 = b.child("dicomaetitle", "CT1");
        assert!(!ae1.matches(&ae2), "AE titles are case-exact");
        assert!(ae1.is_within(&a));
        assert_eq!(ae1.relative_to(&a).unwrap().to_string(), "dicomAETitle=ct1");
        assert_eq!(ae1.relative_to(&a).unwrap().join(&a).len(), 4);
        assert!(!a.is_within(&ae1));
    }
}
