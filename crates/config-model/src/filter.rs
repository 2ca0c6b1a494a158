//! LDAP search filters (RFC 4515): escaping, a typed builder and a parser.
//!
//! Build filters with [`Filter`]; values are escaped when rendered, so a name
//! like `*)(objectClass=*` stays one literal value.

use std::fmt;

use crate::{Error, schema};

/// Escapes a value for an RFC 4515 filter: `*`, `(`, `)`, `\` and NUL become `\XX`.
pub fn escape_filter_value(v: &str) -> String {
    escape_filter_bytes(v.as_bytes())
}

/// [`escape_filter_value`] for raw bytes; bytes that are not ASCII are hex-escaped too.
pub fn escape_filter_bytes(v: &[u8]) -> String {
    let mut out = String::with_capacity(v.len());
    if let Ok(s) = std::str::from_utf8(v) {
        for c in s.chars() {
            match c {
                '*' | '(' | ')' | '\\' | '\0' => out.push_str(&format!("\\{:02x}", c as u32)),
                c => out.push(c),
            }
        }
    } else {
        for b in v {
            match b {
                b'*' | b'(' | b')' | b'\\' | 0 | 0x80.. => out.push_str(&format!("\\{b:02x}")),
                b => out.push(*b as char),
            }
        }
    }
    out
}

/// A search filter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Filter {
    /// `(&…)`
    And(Vec<Filter>),
    /// `(|…)`
    Or(Vec<Filter>),
    /// `(!…)`
    Not(Box<Filter>),
    /// `(attr=value)`
    Equal(String, Vec<u8>),
    /// `(attr>=value)`
    GreaterOrEqual(String, Vec<u8>),
    /// `(attr<=value)`
    LessOrEqual(String, Vec<u8>),
    /// `(attr~=value)`
    Approx(String, Vec<u8>),
    /// `(attr=*)`
    Present(String),
    /// `(attr=initial*any*…*final)`
    Substring {
        /// Attribute.
        attr: String,
        /// Leading part.
        initial: Option<Vec<u8>>,
        /// Middle parts.
        any: Vec<Vec<u8>>,
        /// Trailing part.
        last: Option<Vec<u8>>,
    },
}

impl Filter {
    /// `(attr=value)` with `value` escaped.
    pub fn eq(attr: &str, value: impl AsRef<[u8]>) -> Self {
        Filter::Equal(attr.to_string(), value.as_ref().to_vec())
    }

    /// `(attr=*)`
    pub fn present(attr: &str) -> Self {
        Filter::Present(attr.to_string())
    }

    /// `(objectClass=name)`
    pub fn object_class(name: &str) -> Self {
        Filter::eq(schema::attr::OBJECT_CLASS, name)
    }

    /// `(&…)` of `parts`.
    pub fn and(parts: impl IntoIterator<Item = Filter>) -> Self {
        Filter::And(parts.into_iter().collect())
    }

    /// `(|…)` of `parts`.
    pub fn or(parts: impl IntoIterator<Item = Filter>) -> Self {
        Filter::Or(parts.into_iter().collect())
    }

    /// `(!f)`
    pub fn negate(f: Filter) -> Self {
        Filter::Not(Box::new(f))
    }

    /// Parses an RFC 4515 string filter.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let mut p = Parser {
            s,
            b: s.as_bytes(),
            pos: 0,
        };
        let f = p.filter()?;
        if p.pos != p.b.len() {
            return Err(p.err("trailing characters"));
        }
        Ok(f)
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, op: &str, parts: &[Filter]| {
            write!(f, "({op}")?;
            for p in parts {
                write!(f, "{p}")?;
            }
            f.write_str(")")
        };
        match self {
            Filter::And(p) => list(f, "&", p),
            Filter::Or(p) => list(f, "|", p),
            Filter::Not(p) => write!(f, "(!{p})"),
            Filter::Equal(a, v) => write!(f, "({a}={})", escape_filter_bytes(v)),
            Filter::GreaterOrEqual(a, v) => write!(f, "({a}>={})", escape_filter_bytes(v)),
            Filter::LessOrEqual(a, v) => write!(f, "({a}<={})", escape_filter_bytes(v)),
            Filter::Approx(a, v) => write!(f, "({a}~={})", escape_filter_bytes(v)),
            Filter::Present(a) => write!(f, "({a}=*)"),
            Filter::Substring {
                attr,
                initial,
                any,
                last,
            } => {
                write!(f, "({attr}=")?;
                if let Some(i) = initial {
                    f.write_str(&escape_filter_bytes(i))?;
                }
                f.write_str("*")?;
                for a in any {
                    write!(f, "{}*", escape_filter_bytes(a))?;
                }
                if let Some(l) = last {
                    f.write_str(&escape_filter_bytes(l))?;
                }
                f.write_str(")")
            }
        }
    }
}

struct Parser<'a> {
    s: &'a str,
    b: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, reason: &'static str) -> Error {
        Error::Filter {
            input: self.s.to_string(),
            at: self.pos,
            reason,
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), Error> {
        if self.b.get(self.pos) == Some(&c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(match c {
                b'(' => "expected '('",
                _ => "expected ')'",
            }))
        }
    }

    fn filter(&mut self) -> Result<Filter, Error> {
        self.expect(b'(')?;
        let f = match self.b.get(self.pos) {
            Some(b'&') => {
                self.pos += 1;
                Filter::And(self.list()?)
            }
            Some(b'|') => {
                self.pos += 1;
                Filter::Or(self.list()?)
            }
            Some(b'!') => {
                self.pos += 1;
                Filter::Not(Box::new(self.filter()?))
            }
            _ => self.item()?,
        };
        self.expect(b')')?;
        Ok(f)
    }

    fn list(&mut self) -> Result<Vec<Filter>, Error> {
        let mut v = Vec::new();
        while self.b.get(self.pos) == Some(&b'(') {
            v.push(self.filter()?);
        }
        Ok(v)
    }

    fn item(&mut self) -> Result<Filter, Error> {
        let start = self.pos;
        while matches!(self.b.get(self.pos), Some(c) if c.is_ascii_alphanumeric() || b"-.;".contains(c))
        {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.err("expected an attribute description"));
        }
        let attr = self.s[start..self.pos].to_string();
        let op = match self.b.get(self.pos..self.pos + 2) {
            Some(b">=") => ">=",
            Some(b"<=") => "<=",
            Some(b"~=") => "~=",
            _ if self.b.get(self.pos) == Some(&b'=') => "=",
            _ => return Err(self.err("expected a filter operator")),
        };
        self.pos += op.len();
        // Split the value at unescaped '*'; escapes decoded per part.
        let mut parts = vec![Vec::new()];
        loop {
            match self.b.get(self.pos) {
                None => return Err(self.err("unterminated filter")),
                Some(b')') => break,
                Some(b'(') => return Err(self.err("unescaped '(' in value")),
                Some(b'*') => {
                    parts.push(Vec::new());
                    self.pos += 1;
                }
                Some(b'\\') => {
                    let h = self
                        .b
                        .get(self.pos + 1..self.pos + 3)
                        .and_then(|h| std::str::from_utf8(h).ok())
                        .and_then(|h| u8::from_str_radix(h, 16).ok())
                        .ok_or_else(|| self.err("bad escape"))?;
                    if let Some(p) = parts.last_mut() {
                        p.push(h);
                    }
                    self.pos += 3;
                }
                Some(&c) => {
                    if let Some(p) = parts.last_mut() {
                        p.push(c);
                    }
                    self.pos += 1;
                }
            }
        }
        let nonempty = |v: Vec<u8>| (!v.is_empty()).then_some(v);
        Ok(match (op, parts.len()) {
            ("=", 1) => Filter::Equal(attr, parts.remove(0)),
            ("=", _) if parts.iter().all(Vec::is_empty) => Filter::Present(attr),
            ("=", _) => {
                let last = parts.pop().and_then(nonempty);
                let initial = nonempty(parts.remove(0));
                let any = parts.into_iter().filter(|p| !p.is_empty()).collect();
                Filter::Substring {
                    attr,
                    initial,
                    any,
                    last,
                }
            }
            (_, n) if n > 1 => return Err(self.err("'*' only allowed with '='")),
            (">=", _) => Filter::GreaterOrEqual(attr, parts.remove(0)),
            ("<=", _) => Filter::LessOrEqual(attr, parts.remove(0)),
            _ => Filter::Approx(attr, parts.remove(0)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_hostile_values() {
        assert_eq!(
            escape_filter_value("*)(objectClass=*"),
            "\\2a\\29\\28objectClass=\\2a"
        );
        assert_eq!(escape_filter_value("a\\b\0"), "a\\5cb\\00");
        assert_eq!(escape_filter_value("Ärzt"), "Ärzt");
        assert_eq!(escape_filter_bytes(&[0xff, b'a']), "\\ffa");
        let f = Filter::and([
            Filter::object_class("dicomNetworkAE"),
            Filter::eq("dicomAETitle", "*)(objectClass=*"),
        ]);
        let s = f.to_string();
        assert_eq!(
            s,
            "(&(objectClass=dicomNetworkAE)(dicomAETitle=\\2a\\29\\28objectClass=\\2a))"
        );
        assert_eq!(Filter::parse(&s).unwrap(), f);
    }

    #[test]
    fn parses_rfc4515_examples() {
        for s in [
            "(cn=Babs Jensen)",
            "(!(cn=Tim Howes))",
            "(&(objectClass=Person)(|(sn=Jensen)(cn=Babs J*)))",
            "(o=univ*of*mich*)",
            "(seeAlso=)",
        ] {
            let f = Filter::parse(s).unwrap();
            assert_eq!(Filter::parse(&f.to_string()).unwrap(), f, "{s}");
        }
        assert!(matches!(
            Filter::parse("(cn=*)").unwrap(),
            Filter::Present(_)
        ));
        assert!(Filter::parse("(cn=a)(").is_err());
        assert!(Filter::parse("(cn=a").is_err());
        assert!(Filter::parse("(cn=\\2)").is_err());
        assert!(Filter::parse("(cn>=a*)").is_err());
    }
}
