//! A strict check of every LDAP message a server sends, before `ldap3`
//! parses it.
//!
//! ldap3 0.12.1 and lber 0.5.1 trust the server: an empty `LDAPMessage`
//! (`30 00`) panics its connection task (protocol.rs:71 `expect("element")`),
//! lber recurses once per nesting level without a limit (a stack overflow
//! aborts the process), a malformed LDAPResult, control or referral panics
//! in result.rs / controls_impl.rs / search.rs, and any announced length is
//! buffered. Until upstream bounds these, every message passes this check
//! first: definite lengths only, at most [`MAX_MESSAGE`] bytes, and the exact
//! RFC 4511 grammar of the server-to-client messages (which also bounds the
//! nesting depth). Anything else ends the connection with a typed error.

use std::fmt;

/// The largest LDAP message accepted from a server. A device entry with
/// vendor data is a few hundred KiB at most; 16 MiB leaves room without
/// letting a 2 GiB length reserve memory.
pub const MAX_MESSAGE: usize = 16 << 20;

/// Why a message was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

type Check<T> = Result<T, FrameError>;

fn bad<T>(what: impl Into<String>) -> Check<T> {
    Err(FrameError(what.into()))
}

/// What a server message is, as far as the requests in flight care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// The message ID.
    pub id: i64,
    /// The protocolOp's APPLICATION tag number (1 bindResponse, 4 entry, 5 done…).
    pub op: u8,
}

/// The length of the first message in `buf` once it is complete: `Ok(None)`
/// while more bytes are needed. Refuses a wrong outer tag, an indefinite or
/// oversized length before any content arrives.
pub fn frame_len(buf: &[u8]) -> Check<Option<usize>> {
    let Some(&tag) = buf.first() else {
        return Ok(None);
    };
    if tag != 0x30 {
        return bad(format!("message starts with tag 0x{tag:02x}, not SEQUENCE"));
    }
    let Some((len, header)) = read_len(buf, 1)? else {
        return Ok(None);
    };
    if len > MAX_MESSAGE {
        return bad(format!(
            "message announces {len} bytes (limit {MAX_MESSAGE})"
        ));
    }
    let total = header + len;
    Ok((buf.len() >= total).then_some(total))
}

/// Reads a BER definite length at `at`: `(length, offset after it)`, or
/// `None` when `buf` ends inside it.
fn read_len(buf: &[u8], at: usize) -> Check<Option<(usize, usize)>> {
    let Some(&first) = buf.get(at) else {
        return Ok(None);
    };
    if first < 0x80 {
        return Ok(Some((usize::from(first), at + 1)));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 {
        return bad("indefinite length (not allowed in LDAP)");
    }
    if n > 4 {
        return bad(format!("length of {n} bytes"));
    }
    let Some(bytes) = buf.get(at + 1..at + 1 + n) else {
        return Ok(None);
    };
    let len = bytes
        .iter()
        .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
    Ok(Some((len, at + 1 + n)))
}

/// One TLV inside a complete buffer.
#[derive(Clone, Copy)]
struct Tlv<'a> {
    tag: u8,
    content: &'a [u8],
}

/// Splits a complete buffer into its TLVs (one level, no recursion).
struct Items<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Items<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Items { buf, at: 0 }
    }

    fn next(&mut self) -> Check<Option<Tlv<'a>>> {
        let Some(&tag) = self.buf.get(self.at) else {
            return Ok(None);
        };
        if tag & 0x1f == 0x1f {
            return bad("multi-byte tag");
        }
        let Some((len, start)) = read_len(self.buf, self.at + 1)? else {
            return bad("truncated length");
        };
        let Some(content) = self.buf.get(start..start.saturating_add(len)) else {
            return bad("element longer than its container");
        };
        self.at = start + len;
        Ok(Some(Tlv { tag, content }))
    }

    fn need(&mut self, what: &str) -> Check<Tlv<'a>> {
        match self.next()? {
            Some(t) => Ok(t),
            None => bad(format!("{what} missing")),
        }
    }

    fn peek_tag(&self) -> Option<u8> {
        self.buf.get(self.at).copied()
    }

    fn end(&mut self, what: &str) -> Check<()> {
        match self.next()? {
            None => Ok(()),
            Some(t) => bad(format!("unexpected element 0x{:02x} in {what}", t.tag)),
        }
    }
}

fn expect_tag<'a>(t: Tlv<'a>, tag: u8, what: &str) -> Check<&'a [u8]> {
    if t.tag == tag {
        Ok(t.content)
    } else {
        bad(format!("{what}: tag 0x{:02x}, expected 0x{tag:02x}", t.tag))
    }
}

fn utf8(bytes: &[u8], what: &str) -> Check<()> {
    match std::str::from_utf8(bytes) {
        Ok(_) => Ok(()),
        Err(_) => bad(format!("{what} is not UTF-8")),
    }
}

/// A non-negative INTEGER or ENUMERATED content that fits 32 bits.
fn small_uint(bytes: &[u8], what: &str) -> Check<i64> {
    if bytes.is_empty() || bytes.len() > 5 || bytes.first().is_some_and(|b| b & 0x80 != 0) {
        return bad(format!("{what} out of range"));
    }
    let v = bytes.iter().fold(0i64, |acc, b| (acc << 8) | i64::from(*b));
    if v > i64::from(i32::MAX) {
        return bad(format!("{what} out of range"));
    }
    Ok(v)
}

/// Checks one complete message (as [`frame_len`] delimited it).
pub fn check_message(msg: &[u8]) -> Check<Reply> {
    let mut outer = Items::new(msg);
    let seq = expect_tag(outer.need("LDAPMessage")?, 0x30, "LDAPMessage")?;
    outer.end("the frame")?;
    let mut items = Items::new(seq);
    let id = small_uint(
        expect_tag(items.need("messageID")?, 0x02, "messageID")?,
        "messageID",
    )?;
    let op = items.need("protocolOp")?;
    let number = check_op(op)?;
    match items.next()? {
        None => {}
        Some(t) if t.tag == 0xa0 => check_controls(t.content)?,
        // ldap3 tolerates Active Directory's misplaced responseName of a
        // Notice of Disconnection here.
        Some(t) if t.tag == 0x8a && number == 24 => utf8(t.content, "responseName")?,
        Some(t) => {
            return bad(format!(
                "unexpected element 0x{:02x} after protocolOp",
                t.tag
            ));
        }
    }
    items.end("LDAPMessage")?;
    Ok(Reply { id, op: number })
}

fn check_op(op: Tlv<'_>) -> Check<u8> {
    let number = op.tag & 0x1f;
    if op.tag & 0xe0 != 0x60 {
        return bad(format!(
            "protocolOp tag 0x{:02x} is not a constructed APPLICATION tag",
            op.tag
        ));
    }
    let mut items = Items::new(op.content);
    match number {
        // bindResponse, searchResDone, modifyResponse, addResponse, delResponse,
        // modDNResponse, compareResponse, extendedResponse
        1 | 5 | 7 | 9 | 11 | 13 | 15 | 24 => {
            check_result(&mut items)?;
            loop {
                match items.next()? {
                    None => break,
                    Some(t) if number == 1 && t.tag == 0x87 => {}
                    Some(t) if number == 24 && t.tag == 0x8a => utf8(t.content, "responseName")?,
                    Some(t) if number == 24 && t.tag == 0x8b => {}
                    Some(t) => {
                        return bad(format!("unexpected element 0x{:02x} in a result", t.tag));
                    }
                }
            }
        }
        // searchResEntry
        4 => {
            utf8(
                expect_tag(items.need("objectName")?, 0x04, "objectName")?,
                "objectName",
            )?;
            let attrs = expect_tag(items.need("attributes")?, 0x30, "attributes")?;
            let mut attrs = Items::new(attrs);
            while let Some(a) = attrs.next()? {
                let mut pa = Items::new(expect_tag(a, 0x30, "PartialAttribute")?);
                utf8(
                    expect_tag(pa.need("type")?, 0x04, "attribute type")?,
                    "attribute type",
                )?;
                let mut vals = Items::new(expect_tag(pa.need("vals")?, 0x31, "vals")?);
                while let Some(v) = vals.next()? {
                    expect_tag(v, 0x04, "attribute value")?;
                }
                pa.end("PartialAttribute")?;
            }
            items.end("SearchResultEntry")?;
        }
        // searchResRef
        19 => {
            check_uris(op.content, "SearchResultReference")?;
        }
        // intermediateResponse
        25 => {
            if items.peek_tag() == Some(0x80) {
                utf8(items.need("responseName")?.content, "responseName")?;
            }
            if items.peek_tag() == Some(0x81) {
                items.need("responseValue")?;
            }
            items.end("IntermediateResponse")?;
        }
        n => return bad(format!("protocolOp {n} is not a server response")),
    }
    Ok(number)
}

fn check_result(items: &mut Items<'_>) -> Check<()> {
    small_uint(
        expect_tag(items.need("resultCode")?, 0x0a, "resultCode")?,
        "resultCode",
    )?;
    utf8(
        expect_tag(items.need("matchedDN")?, 0x04, "matchedDN")?,
        "matchedDN",
    )?;
    utf8(
        expect_tag(items.need("diagnosticMessage")?, 0x04, "diagnosticMessage")?,
        "diagnosticMessage",
    )?;
    if items.peek_tag() == Some(0xa3) {
        check_uris(items.need("referral")?.content, "referral")?;
    }
    Ok(())
}

fn check_uris(content: &[u8], what: &str) -> Check<()> {
    let mut uris = Items::new(content);
    let mut n = 0;
    while let Some(u) = uris.next()? {
        utf8(expect_tag(u, 0x04, what)?, what)?;
        n += 1;
    }
    if n == 0 {
        return bad(format!("empty {what}"));
    }
    Ok(())
}

/// The paged results control (RFC 2696): ldap3 parses its value itself.
const PAGED_RESULTS_OID: &[u8] = b"1.2.840.113556.1.4.319";

fn check_controls(content: &[u8]) -> Check<()> {
    let mut controls = Items::new(content);
    while let Some(c) = controls.next()? {
        let mut parts = Items::new(expect_tag(c, 0x30, "Control")?);
        let oid = expect_tag(parts.need("controlType")?, 0x04, "controlType")?;
        utf8(oid, "controlType")?;
        if parts.peek_tag() == Some(0x01) {
            let crit = parts.need("criticality")?;
            if crit.content.len() != 1 {
                return bad("criticality is not one byte");
            }
        }
        let value = match parts.next()? {
            None => None,
            Some(v) => Some(expect_tag(v, 0x04, "controlValue")?),
        };
        parts.end("Control")?;
        if oid == PAGED_RESULTS_OID {
            match value {
                Some(v) => {
                    paged_cookie(v)?;
                }
                None => return bad("paged results control without a value"),
            }
        }
    }
    Ok(())
}

/// The cookie of a paged results control value
/// (`SEQUENCE { size INTEGER, cookie OCTET STRING }`).
pub fn paged_cookie(value: &[u8]) -> Check<Vec<u8>> {
    let mut outer = Items::new(value);
    let mut seq = Items::new(expect_tag(
        outer.need("paged results value")?,
        0x30,
        "paged results value",
    )?);
    outer.end("paged results value")?;
    let size = expect_tag(seq.need("size")?, 0x02, "paged results size")?;
    if size.is_empty() || size.len() > 4 {
        return bad("paged results size out of range");
    }
    let cookie = expect_tag(seq.need("cookie")?, 0x04, "paged results cookie")?;
    seq.end("paged results value")?;
    Ok(cookie.to_vec())
}

/// What the client sent, as far as replies care: message ID and request op.
/// `None` when the bytes are not a complete request of ours.
pub fn request_of(msg: &[u8]) -> Option<Reply> {
    let mut outer = Items::new(msg);
    let seq = expect_tag(outer.need("").ok()?, 0x30, "").ok()?;
    let mut items = Items::new(seq);
    let id = small_uint(expect_tag(items.need("").ok()?, 0x02, "").ok()?, "").ok()?;
    let op = items.need("").ok()?;
    Some(Reply {
        id,
        op: op.tag & 0x1f,
    })
}

/// Which reply ops a request may receive.
pub fn reply_fits(request_op: u8, reply_op: u8) -> bool {
    match request_op {
        0 => reply_op == 1,                       // bind
        3 => matches!(reply_op, 4 | 5 | 19 | 25), // search
        6 => reply_op == 7,                       // modify
        8 => reply_op == 9,                       // add
        10 => reply_op == 11,                     // delete
        12 => reply_op == 13,                     // modDN
        14 => reply_op == 15,                     // compare
        23 => matches!(reply_op, 24 | 25),        // extended
        _ => false,
    }
}

/// Replies that end an operation (a search ends with searchResDone).
pub fn ends_operation(reply_op: u8) -> bool {
    !matches!(reply_op, 4 | 19 | 25)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(id: u8, rc: u8) -> Vec<u8> {
        vec![
            0x30, 0x0c, 0x02, 0x01, id, 0x65, 0x07, 0x0a, 0x01, rc, 0x04, 0x00, 0x04, 0x00,
        ]
    }

    #[test]
    fn a_search_done_passes() {
        let m = done(2, 4);
        assert_eq!(frame_len(&m), Ok(Some(m.len())));
        assert_eq!(check_message(&m), Ok(Reply { id: 2, op: 5 }));
        assert_eq!(frame_len(&m[..5]), Ok(None));
    }

    #[test]
    fn an_empty_message_is_refused() {
        let m = [0x30, 0x00];
        assert_eq!(frame_len(&m), Ok(Some(2)));
        assert!(check_message(&m).is_err());
    }

    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        let mut m = Vec::new();
        for _ in 0..20_000 {
            m.extend_from_slice(&[0x30, 0x80]);
        }
        assert!(frame_len(&m).is_err(), "indefinite length");
        // Definite lengths, nested 20,000 deep inside a message ID'd search entry.
        let mut inner: Vec<u8> = vec![0x04, 0x00];
        for _ in 0..20_000 {
            let len = inner.len();
            let mut next = vec![0x30, 0x84];
            next.extend_from_slice(&(len as u32).to_be_bytes());
            next.extend(inner);
            inner = next;
        }
        let mut msg = vec![0x02, 0x01, 0x01, 0x64];
        msg.push(0x84);
        msg.extend_from_slice(&(inner.len() as u32).to_be_bytes());
        msg.extend(inner);
        let mut full = vec![0x30, 0x84];
        full.extend_from_slice(&(msg.len() as u32).to_be_bytes());
        full.extend(msg);
        assert_eq!(frame_len(&full), Ok(Some(full.len())));
        assert!(check_message(&full).is_err());
    }

    #[test]
    fn a_huge_length_is_refused_before_its_content() {
        let m = [0x30, 0x84, 0x7f, 0xff, 0xff, 0xff];
        assert!(frame_len(&m).unwrap_err().0.contains("announces"));
    }

    #[test]
    fn garbage_and_bad_results_are_refused() {
        assert!(frame_len(b"HTTP/1.1 400").is_err());
        // resultCode as INTEGER instead of ENUMERATED.
        let mut m = done(2, 0);
        m[7] = 0x02;
        assert!(check_message(&m).is_err());
        // Not UTF-8 diagnostic message.
        let m = [
            0x30, 0x0d, 0x02, 0x01, 0x02, 0x65, 0x08, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x01,
            0xff,
        ];
        assert!(check_message(&m).is_err());
        // A request op (searchRequest) from the server.
        let m = [0x30, 0x05, 0x02, 0x01, 0x02, 0x63, 0x00];
        assert!(check_message(&m).is_err());
        // Control with an empty criticality.
        let mut m = done(2, 0);
        m[1] += 9;
        m.extend_from_slice(&[0xa0, 0x07, 0x30, 0x05, 0x04, 0x01, b'1', 0x01, 0x00]);
        assert!(check_message(&m).is_err());
    }

    #[test]
    fn replies_match_requests() {
        assert!(reply_fits(3, 4) && reply_fits(3, 5) && !reply_fits(3, 1));
        assert!(reply_fits(0, 1) && !reply_fits(0, 5));
        assert!(ends_operation(5) && !ends_operation(4));
        let req = [0x30, 0x05, 0x02, 0x01, 0x07, 0x42, 0x00];
        assert_eq!(request_of(&req), Some(Reply { id: 7, op: 2 }));
    }

    #[test]
    fn paged_cookie_parses() {
        let v = [0x30, 0x07, 0x02, 0x01, 0x00, 0x04, 0x02, 0xab, 0xcd];
        assert_eq!(paged_cookie(&v), Ok(vec![0xab, 0xcd]));
        assert!(paged_cookie(&[0x30, 0x00]).is_err());
    }
}
