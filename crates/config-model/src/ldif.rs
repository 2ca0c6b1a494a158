//! LDIF (RFC 2849): reading and writing content and change records.
//!
//! The reader takes what `slapcat`, `ldapsearch -LLL` and hand-written files
//! contain: `version: 1`, comments, folded lines, base64 (`::`) values, CRLF line
//! ends. The writer emits `version: 1`, base64 for every value that is not a
//! SAFE-STRING (so UTF-8 text is base64, as OpenLDAP writes it) and folds lines
//! at 76 columns; its output imports with `ldapadd`/`ldapmodify` unchanged.

use base64::Engine as _;

use crate::entry::b64;
use crate::mapping::Layout;
use crate::model::Device;
use crate::{Dn, Error, LdapEntry, Rdn, Result};

/// One LDIF record.
#[derive(Debug, Clone, PartialEq, Eq)]
// Closed by RFC 2849: a content record or one of its four change types.
#[allow(clippy::exhaustive_enums)]
pub enum LdifRecord {
    /// A content record (no `changetype`): an entry as a dump lists it.
    Content(LdapEntry),
    /// `changetype: add`.
    Add(LdapEntry),
    /// `changetype: delete`.
    Delete(Dn),
    /// `changetype: modify`.
    Modify {
        /// Target entry.
        dn: Dn,
        /// The changes, applied in order and atomically by the server.
        changes: Vec<Modification>,
    },
    /// `changetype: modrdn` (or `moddn`).
    ModRdn {
        /// Target entry.
        dn: Dn,
        /// The new RDN.
        new_rdn: Rdn,
        /// Whether the old RDN's values are removed.
        delete_old_rdn: bool,
        /// New parent, if moved.
        new_superior: Option<Dn>,
    },
}

impl LdifRecord {
    /// The DN the record is about.
    pub fn dn(&self) -> &Dn {
        match self {
            LdifRecord::Content(e) | LdifRecord::Add(e) => &e.dn,
            LdifRecord::Delete(dn)
            | LdifRecord::Modify { dn, .. }
            | LdifRecord::ModRdn { dn, .. } => dn,
        }
    }
}

/// The operation of one [`Modification`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
// Closed by RFC 4511 (add, delete, replace) and RFC 4525 (increment).
#[allow(clippy::exhaustive_enums)]
pub enum ModOp {
    /// `add:` values (fails if a value exists).
    Add,
    /// `delete:` values, or the whole attribute when no values are given (fails if absent).
    Delete,
    /// `replace:` all values (none: remove the attribute).
    Replace,
    /// `increment:` (RFC 4525).
    Increment,
}

impl ModOp {
    fn keyword(self) -> &'static str {
        match self {
            ModOp::Add => "add",
            ModOp::Delete => "delete",
            ModOp::Replace => "replace",
            ModOp::Increment => "increment",
        }
    }
}

/// One change of a modify record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modification {
    /// What to do.
    pub op: ModOp,
    /// Attribute description.
    pub attribute: String,
    /// Values.
    pub values: Vec<Vec<u8>>,
}

impl Modification {
    /// A modification of `attribute` with `values`.
    pub fn new<V: Into<Vec<u8>>>(
        op: ModOp,
        attribute: &str,
        values: impl IntoIterator<Item = V>,
    ) -> Self {
        Modification {
            op,
            attribute: attribute.to_string(),
            values: values.into_iter().map(Into::into).collect(),
        }
    }
}

// ---------- reader ----------

/// A logical (unfolded) line and the 1-based number of its first physical line.
struct Line {
    no: usize,
    text: String,
}

/// Unfolds, drops comments, and splits into records (groups of lines).
fn records(input: &str) -> Vec<Vec<Line>> {
    let mut logical: Vec<Option<Line>> = Vec::new(); // None = blank separator
    for (i, raw) in input.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(cont) = raw.strip_prefix(' ')
            && let Some(Some(prev)) = logical.last_mut()
        {
            prev.text.push_str(cont);
            continue;
        }
        if raw.is_empty() {
            logical.push(None);
        } else {
            logical.push(Some(Line {
                no: i + 1,
                text: raw.to_string(),
            }));
        }
    }
    let mut out = Vec::new();
    let mut cur = Vec::new();
    for l in logical {
        match l {
            Some(l) if l.text.starts_with('#') => {}
            Some(l) => cur.push(l),
            None if !cur.is_empty() => out.push(std::mem::take(&mut cur)),
            None => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn err(line: usize, reason: impl Into<String>) -> Error {
    Error::Ldif {
        line,
        reason: reason.into(),
    }
}

/// Splits `name: value`, `name:: base64` or `name:< url` into name and decoded value.
fn attr_value(l: &Line) -> Result<(&str, Vec<u8>)> {
    let (name, rest) = l
        .text
        .split_once(':')
        .ok_or_else(|| err(l.no, "expected 'attribute: value'"))?;
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b';' || b == b'.')
    {
        return Err(err(l.no, format!("bad attribute description {name:?}")));
    }
    let value = if let Some(enc) = rest.strip_prefix(':') {
        b64()
            .decode(enc.trim())
            .map_err(|e| err(l.no, format!("{name}: bad base64: {e}")))?
    } else if rest.starts_with('<') {
        return Err(err(
            l.no,
            format!("{name}: URL values are not supported (this crate does no I/O)"),
        ));
    } else {
        rest.trim_start_matches(' ').as_bytes().to_vec()
    };
    Ok((name, value))
}

fn utf8(l: &Line, v: Vec<u8>) -> Result<String> {
    String::from_utf8(v).map_err(|_| err(l.no, "value is not UTF-8"))
}

fn dn_of(l: &Line, v: Vec<u8>) -> Result<Dn> {
    Dn::parse(&utf8(l, v)?).map_err(|e| err(l.no, e.to_string()))
}

/// Parses LDIF text into records.
pub fn parse_ldif(input: &str) -> Result<Vec<LdifRecord>> {
    let mut out = Vec::new();
    for (i, rec) in records(input).into_iter().enumerate() {
        let mut lines = rec.iter().peekable();
        if i == 0
            && let Some(l) = lines.next_if(|l| l.text.to_ascii_lowercase().starts_with("version:"))
            && l.text.get(8..).map(str::trim) != Some("1")
        {
            return Err(err(l.no, "only LDIF version 1 is supported"));
        }
        let Some(first) = lines.next() else { continue };
        let (name, v) = attr_value(first)?;
        if !name.eq_ignore_ascii_case("dn") {
            return Err(err(
                first.no,
                format!("record starts with {name:?}, expected dn"),
            ));
        }
        let dn = dn_of(first, v)?;
        // Controls apply to the LDAP operation, not to the data; they are accepted and dropped.
        while lines
            .next_if(|l| l.text.to_ascii_lowercase().starts_with("control:"))
            .is_some()
        {}
        let changetype =
            match lines.next_if(|l| l.text.to_ascii_lowercase().starts_with("changetype:")) {
                Some(l) => Some((l.no, utf8(l, attr_value(l)?.1)?.trim().to_ascii_lowercase())),
                None => None,
            };
        let rest: Vec<&Line> = lines.collect();
        out.push(match changetype {
            None => LdifRecord::Content(entry(dn, &rest)?),
            Some((_, t)) if t == "add" => LdifRecord::Add(entry(dn, &rest)?),
            Some((no, t)) if t == "delete" => match rest.first() {
                None => LdifRecord::Delete(dn),
                Some(l) => return Err(err(l.no.max(no), "delete record has extra lines")),
            },
            Some((_, t)) if t == "modify" => LdifRecord::Modify {
                dn,
                changes: modifications(&rest)?,
            },
            Some((no, t)) if t == "modrdn" || t == "moddn" => modrdn(dn, no, &rest)?,
            Some((no, t)) => return Err(err(no, format!("unknown changetype {t:?}"))),
        });
    }
    Ok(out)
}

fn entry(dn: Dn, lines: &[&Line]) -> Result<LdapEntry> {
    let mut e = LdapEntry::new(dn);
    for l in lines {
        let (name, v) = attr_value(l)?;
        e.push(name, v);
    }
    Ok(e)
}

fn modifications(lines: &[&Line]) -> Result<Vec<Modification>> {
    let mut out = Vec::new();
    let mut it = lines.iter();
    while let Some(l) = it.next() {
        let (kw, v) = attr_value(l)?;
        let op = match kw.to_ascii_lowercase().as_str() {
            "add" => ModOp::Add,
            "delete" => ModOp::Delete,
            "replace" => ModOp::Replace,
            "increment" => ModOp::Increment,
            other => {
                return Err(err(
                    l.no,
                    format!("expected add/delete/replace/increment, got {other:?}"),
                ));
            }
        };
        let attribute = utf8(l, v)?.trim().to_string();
        let mut m = Modification {
            op,
            attribute,
            values: Vec::new(),
        };
        for l in it.by_ref() {
            if l.text == "-" {
                break;
            }
            let (name, v) = attr_value(l)?;
            if !name.eq_ignore_ascii_case(&m.attribute) {
                return Err(err(
                    l.no,
                    format!(
                        "value for {name:?} inside a change of {:?} (missing '-'?)",
                        m.attribute
                    ),
                ));
            }
            m.values.push(v);
        }
        out.push(m);
    }
    Ok(out)
}

fn modrdn(dn: Dn, no: usize, lines: &[&Line]) -> Result<LdifRecord> {
    let (mut new_rdn, mut delete_old_rdn, mut new_superior) = (None, None, None);
    for l in lines {
        let (name, v) = attr_value(l)?;
        match name.to_ascii_lowercase().as_str() {
            "newrdn" => {
                let d = dn_of(l, v)?;
                match d.rdns() {
                    [rdn] => new_rdn = Some(rdn.clone()),
                    _ => return Err(err(l.no, "newrdn must be a single RDN")),
                }
            }
            "deleteoldrdn" => {
                delete_old_rdn = Some(match v.as_slice() {
                    b"0" => false,
                    b"1" => true,
                    _ => return Err(err(l.no, "deleteoldrdn must be 0 or 1")),
                })
            }
            "newsuperior" => new_superior = Some(dn_of(l, v)?),
            other => return Err(err(l.no, format!("unexpected {other:?} in modrdn record"))),
        }
    }
    Ok(LdifRecord::ModRdn {
        dn,
        new_rdn: new_rdn.ok_or_else(|| err(no, "modrdn without newrdn"))?,
        delete_old_rdn: delete_old_rdn.ok_or_else(|| err(no, "modrdn without deleteoldrdn"))?,
        new_superior,
    })
}

/// The entries of content and add records (what `slapcat` or `ldapsearch -LLL`
/// print); other change records are an error.
pub fn parse_entries(input: &str) -> Result<Vec<LdapEntry>> {
    parse_ldif(input)?
        .into_iter()
        .map(|r| match r {
            LdifRecord::Content(e) | LdifRecord::Add(e) => Ok(e),
            other => Err(err(
                0,
                format!(
                    "change record for {} where entries were expected",
                    other.dn()
                ),
            )),
        })
        .collect()
}

// ---------- writer ----------

/// Line length after which the writer folds.
pub const FOLD_WIDTH: usize = 76;

/// Whether `v` may be written as is (RFC 2849 SAFE-STRING, and no trailing space).
fn is_safe(v: &[u8]) -> bool {
    match v.first() {
        None => true,
        Some(b' ' | b':' | b'<') => false,
        Some(_) => {
            v.iter()
                .all(|&b| matches!(b, 0x01..=0x09 | 0x0b..=0x0c | 0x0e..=0x7f))
                && v.last() != Some(&b' ')
        }
    }
}

fn write_line(out: &mut String, name: &str, v: &[u8]) {
    let line = match std::str::from_utf8(v) {
        Ok(s) if is_safe(v) => {
            if s.is_empty() {
                format!("{name}:")
            } else {
                format!("{name}: {s}")
            }
        }
        _ => format!("{name}:: {}", b64().encode(v)),
    };
    // Every line is ASCII here, so folding by bytes cannot split a character.
    let mut rest = line.as_str();
    let mut width = FOLD_WIDTH;
    while rest.len() > width {
        let (head, tail) = rest.split_at(width);
        out.push_str(head);
        out.push_str("\n ");
        rest = tail;
        width = FOLD_WIDTH - 1;
    }
    out.push_str(rest);
    out.push('\n');
}

fn write_attrs(out: &mut String, e: &LdapEntry) {
    for a in &e.attributes {
        for v in &a.values {
            write_line(out, &a.name, v);
        }
    }
}

/// Appends one record (followed by a blank line) to `out`.
pub fn write_record(out: &mut String, r: &LdifRecord) {
    write_line(out, "dn", r.dn().to_string().as_bytes());
    match r {
        LdifRecord::Content(e) => write_attrs(out, e),
        LdifRecord::Add(e) => {
            out.push_str("changetype: add\n");
            write_attrs(out, e);
        }
        LdifRecord::Delete(_) => out.push_str("changetype: delete\n"),
        LdifRecord::Modify { changes, .. } => {
            out.push_str("changetype: modify\n");
            for m in changes {
                write_line(out, m.op.keyword(), m.attribute.as_bytes());
                for v in &m.values {
                    write_line(out, &m.attribute, v);
                }
                out.push_str("-\n");
            }
        }
        LdifRecord::ModRdn {
            new_rdn,
            delete_old_rdn,
            new_superior,
            ..
        } => {
            out.push_str("changetype: modrdn\n");
            write_line(out, "newrdn", new_rdn.to_string().as_bytes());
            out.push_str(if *delete_old_rdn {
                "deleteoldrdn: 1\n"
            } else {
                "deleteoldrdn: 0\n"
            });
            if let Some(s) = new_superior {
                write_line(out, "newsuperior", s.to_string().as_bytes());
            }
        }
    }
    out.push('\n');
}

/// LDIF text of `records`, starting with `version: 1`.
pub fn write_ldif<'a>(records: impl IntoIterator<Item = &'a LdifRecord>) -> String {
    let mut out = String::from("version: 1\n\n");
    for r in records {
        write_record(&mut out, r);
    }
    out
}

/// LDIF content records of `entries` (imports with `ldapadd`).
pub fn write_entries<'a>(entries: impl IntoIterator<Item = &'a LdapEntry>) -> String {
    let mut out = String::from("version: 1\n\n");
    for e in entries {
        write_line(&mut out, "dn", e.dn.to_string().as_bytes());
        write_attrs(&mut out, e);
        out.push('\n');
    }
    out
}

/// The export of one device: its unique AE title entries, the device, its
/// connections, its AEs and their transfer capabilities, in that order.
pub fn export_device(device: &Device, layout: &Layout) -> String {
    write_entries(&device.export_entries(layout))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;

    #[test]
    fn reads_rfc2849_examples() {
        let text = "version: 1\n\
# a comment that is\n \
 folded\n\
dn: cn=Barbara Jensen, ou=Product Development, dc=airius, dc=com\n\
objectclass: top\n\
objectclass: person\n\
cn: Barbara Jensen\n\
cn: Barbs Jensen\n\
description:: V2hhdCBhIGNhcmVmdWwgcmVhZGVyIHlvdSBhcmUhICBUaGlzIHZhbHVl\n \
IGlzIGJhc2UtNjQtZW5jb2RlZCBiZWNhdXNlIGl0IGhhcyBhIGNvbnRyb2wgY2hhcmFjdGVyIGlu\n \
IGl0IChhIENSKS4NICBCeSB0aGUgd2F5LCB5b3Ugc2hvdWxkIHJlYWxseSBnZXQgb3V0IG1vcmUu\n\
title:Product Manager, Rod and Reel Division\r\n\
\n\
\n\
dn:: b3U95Za25qWt6YOoLG89QWlyaXVz\n\
ou:: 5Za25qWt6YOo\n\
\n\
dn: cn=Fiona Jensen, ou=Marketing, dc=airius, dc=com\n\
changetype: add\n\
cn: Fiona Jensen\n\
\n\
dn: cn=Robert Jensen, ou=Marketing, dc=airius, dc=com\n\
changetype: delete\n\
\n\
dn: cn=Paul Jensen, ou=Product Development, dc=airius, dc=com\n\
changetype: modrdn\n\
newrdn: cn=Paula Jensen\n\
deleteoldrdn: 1\n\
newsuperior: ou=Marketing, dc=airius, dc=com\n\
\n\
dn: cn=Paula Jensen, ou=Product Development, dc=airius, dc=com\n\
changetype: modify\n\
add: postaladdress\n\
postaladdress: 123 Anystreet $ Sunnyvale, CA $ 94086\n\
-\n\
delete: description\n\
-\n\
replace: telephonenumber\n\
telephonenumber: +1 408 555 1234\n\
telephonenumber: +1 408 555 5678\n\
-\n\
delete: facsimiletelephonenumber\n\
facsimiletelephonenumber: +1 408 555 9876\n\
-\n";
        let recs = parse_ldif(text).unwrap();
        assert_eq!(recs.len(), 6);
        let LdifRecord::Content(e) = &recs[0] else {
            panic!()
        };
        assert_eq!(e.values("objectClass").len(), 2);
        assert!(e.first("description").unwrap().ends_with("get out more."));
        assert_eq!(
            e.first("title"),
            Some("Product Manager, Rod and Reel Division")
        );
        assert_eq!(recs[1].dn().rdn().unwrap().value(), "営業部");
        assert!(matches!(&recs[3], LdifRecord::Delete(_)));
        let LdifRecord::ModRdn {
            new_rdn,
            delete_old_rdn: true,
            new_superior: Some(_),
            ..
        } = &recs[4]
        else {
            panic!()
        };
        assert_eq!(new_rdn.value(), "Paula Jensen");
        let LdifRecord::Modify { changes, .. } = &recs[5] else {
            panic!()
        };
        assert_eq!(changes.len(), 4);
        assert_eq!(changes[2].values.len(), 2);
        assert_eq!(changes[1].op, ModOp::Delete);
        assert!(changes[1].values.is_empty());
        // Writing and reading again gives the same records.
        assert_eq!(parse_ldif(&write_ldif(&recs)).unwrap(), recs);
    }

    #[test]
    fn errors_name_the_line() {
        for (text, line) in [
            ("dn: cn=a\nbad line\n", 2),
            ("cn: a\n", 1),
            ("dn: cn=a\nchangetype: frobnicate\n", 2),
            ("dn: cn=a\nx:: !!!\n", 2),
            ("dn: cn=a\nx:< file:///etc/passwd\n", 2),
            ("version: 2\ndn: cn=a\n", 1),
            ("dn: cn=a\nchangetype: modify\nadd: cn\nsn: x\n", 4),
            (
                "\n\ndn: cn=a\nchangetype: modrdn\nnewrdn: cn=b,dc=c\ndeleteoldrdn: 1\n",
                5,
            ),
        ] {
            match parse_ldif(text) {
                Err(Error::Ldif { line: l, .. }) => assert_eq!(l, line, "{text:?}"),
                other => panic!("{text:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn writer_folds_and_base64s() {
        let e = LdapEntry::new(Dn::parse("cn=Ärzte,dc=example,dc=org").unwrap())
            .with("cn", "Ärzte")
            .with("description", " leading space")
            .with("description", "trailing space ")
            .with("description", ":colon")
            .with("description", "x".repeat(200))
            .with("description", "")
            .with("dicomVendorData", vec![0u8, 0xff]);
        let text = write_entries([&e]);
        assert!(text.starts_with("version: 1\n\ndn:: "));
        assert!(text.lines().all(|l| l.len() <= FOLD_WIDTH), "{text}");
        assert!(text.contains("description:\n"));
        assert_eq!(parse_entries(&text).unwrap(), vec![e]);
    }

    #[test]
    fn export_is_in_dependency_order() {
        let d = sample::sample_modality("ct-1", "CT", 3).unwrap();
        let layout = Layout::under(&Dn::parse("dc=example,dc=org").unwrap());
        let text = export_device(&d, &layout);
        let entries = parse_entries(&text).unwrap();
        let kinds: Vec<&str> = entries
            .iter()
            .map(|e| e.first("objectClass").unwrap())
            .collect();
        assert_eq!(
            &kinds[..5],
            [
                "dicomUniqueAETitle",
                "dicomUniqueAETitle",
                "dicomUniqueAETitle",
                "dicomDevice",
                "dicomNetworkConnection"
            ]
        );
        assert_eq!(kinds[6], "dicomNetworkAE");
        assert_eq!(Device::from_entries(&entries[3..]).unwrap(), d);
    }
}
