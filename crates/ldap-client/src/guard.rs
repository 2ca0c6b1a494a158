//! The transport in front of ldap3: TCP, TLS (ldaps or StartTLS, done
//! here), then an in-process pipe to ldap3 on which every server message has
//! passed [`crate::frame`] and fits a request in flight. A server that breaks
//! the protocol ends the connection with the reason kept for the error.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, StdStream};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::frame::{self, FrameError};

/// Addresses that DNS SRV discovery resolved for a host name with the
/// site's DNS servers (which the operating system's resolver may not know).
static KNOWN_ADDRESSES: Mutex<Vec<(String, Vec<std::net::SocketAddr>)>> = Mutex::new(Vec::new());

/// Remembers `addrs` for `host` (the latest discovery wins): connections to
/// `host` go there, and TLS still verifies the name `host`.
pub fn remember_addresses(host: &str, addrs: &[std::net::SocketAddr]) {
    if let Ok(mut known) = KNOWN_ADDRESSES.lock() {
        known.retain(|(h, _)| !h.eq_ignore_ascii_case(host));
        known.push((host.to_string(), addrs.to_vec()));
        // Bounded like the SRV list it comes from.
        let excess = known.len().saturating_sub(64);
        known.drain(..excess);
    }
}

fn known_addresses(host: &str, port: u16) -> Vec<std::net::SocketAddr> {
    KNOWN_ADDRESSES
        .lock()
        .ok()
        .and_then(|known| {
            known
                .iter()
                .find(|(h, _)| h.eq_ignore_ascii_case(host))
                .map(|(_, a)| {
                    a.iter()
                        .map(|a| std::net::SocketAddr::new(a.ip(), port))
                        .collect()
                })
        })
        .unwrap_or_default()
}

/// Why the guard closed a connection (shared with the operations on it).
pub(crate) type Violation = Arc<Mutex<Option<String>>>;

/// A parsed `ldap://` or `ldaps://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) tls: bool,
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Target {
    pub(crate) fn parse(url: &str) -> Option<Target> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("ldaps://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("ldap://") {
            (false, r)
        } else {
            return None;
        };
        let hostport = rest.split(['/', '?']).next().unwrap_or_default();
        let default_port = if tls { 636 } else { 389 };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6.split_once(']')?;
            let port = match after.strip_prefix(':') {
                Some(p) => p.parse().ok()?,
                None if after.is_empty() => default_port,
                None => return None,
            };
            (h.to_string(), port)
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), p.parse().ok()?),
                None => (hostport.to_string(), default_port),
            }
        };
        if host.is_empty() {
            return None;
        }
        Some(Target { tls, host, port })
    }
}

/// A connection opened through the guard.
pub(crate) struct Guarded {
    pub(crate) conn: LdapConnAsync,
    pub(crate) ldap: Ldap,
    pub(crate) violation: Violation,
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// Connects to `target`, upgrading with StartTLS when asked, and hands
/// ldap3 the checked pipe. Errors are plain text for [`crate::Error::Connect`].
pub(crate) async fn connect(
    target: &Target,
    starttls: bool,
    tls: &Arc<rustls::ClientConfig>,
    max_entries: u32,
) -> Result<Guarded, String> {
    let known = known_addresses(&target.host, target.port);
    let tcp = if known.is_empty() {
        TcpStream::connect((target.host.as_str(), target.port)).await
    } else {
        TcpStream::connect(known.as_slice()).await
    }
    .map_err(|e| format!("TCP: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let stream: Box<dyn Stream> = if target.tls {
        Box::new(handshake(tcp, target, tls).await?)
    } else if starttls {
        let mut tcp = tcp;
        start_tls(&mut tcp).await?;
        Box::new(handshake(tcp, target, tls).await?)
    } else {
        Box::new(tcp)
    };
    let (ours, theirs, url) = local_pair().await.map_err(|e| format!("local pipe: {e}"))?;
    let violation: Violation = Arc::new(Mutex::new(None));
    tokio::spawn(pump(stream, ours, violation.clone(), max_entries));
    let settings = LdapConnSettings::new().set_std_stream(theirs);
    let (conn, ldap) = LdapConnAsync::with_settings(settings, url)
        .await
        .map_err(|e| format!("LDAP session: {e}"))?;
    Ok(Guarded {
        conn,
        ldap,
        violation,
    })
}

/// The guard's end of the in-process link to ldap3.
#[cfg(unix)]
type Local = tokio::net::UnixStream;
/// The guard's end of the in-process link to ldap3.
#[cfg(not(unix))]
type Local = tokio::net::TcpStream;

/// The in-process link between the guard and ldap3, and the URL ldap3 is
/// given for it: a socket pair where there is one, else a loopback TCP
/// connection (Windows), accepted from a listener that closes at once.
#[cfg(unix)]
async fn local_pair() -> std::io::Result<(Local, StdStream, &'static str)> {
    let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
    ours.set_nonblocking(true)?;
    Ok((
        tokio::net::UnixStream::from_std(ours)?,
        StdStream::Unix(theirs),
        "ldapi://guarded",
    ))
}

#[cfg(not(unix))]
async fn local_pair() -> std::io::Result<(Local, StdStream, &'static str)> {
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let theirs = std::net::TcpStream::connect(listener.local_addr()?)?;
    let (ours, _) = listener.accept().await?;
    let _ = ours.set_nodelay(true);
    let _ = theirs.set_nodelay(true);
    // The host part is not dialled: ldap3 runs on the stream it is given.
    Ok((ours, StdStream::Tcp(theirs), "ldap://127.0.0.1"))
}

async fn handshake(
    tcp: TcpStream,
    target: &Target,
    tls: &Arc<rustls::ClientConfig>,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let name = ServerName::try_from(target.host.clone())
        .map_err(|e| format!("TLS server name \"{}\": {e}", target.host.escape_debug()))?;
    tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS: {e}"))
}

/// RFC 4511 4.14: the StartTLS extended request, message ID 1 (ldap3's
/// own IDs on the pipe are independent of it).
async fn start_tls(tcp: &mut TcpStream) -> Result<(), String> {
    const OID: &[u8] = b"1.3.6.1.4.1.1466.20037";
    let mut req = vec![0x30, (OID.len() + 7) as u8, 0x02, 0x01, 0x01, 0x77];
    req.push((OID.len() + 2) as u8);
    req.extend_from_slice(&[0x80, OID.len() as u8]);
    req.extend_from_slice(OID);
    tcp.write_all(&req)
        .await
        .map_err(|e| format!("StartTLS: {e}"))?;
    let mut buf = Vec::new();
    let msg = loop {
        if let Some(n) = frame::frame_len(&buf).map_err(|e| format!("StartTLS reply: {e}"))? {
            break buf[..n].to_vec();
        }
        let mut chunk = [0u8; 512];
        let n = tcp
            .read(&mut chunk)
            .await
            .map_err(|e| format!("StartTLS: {e}"))?;
        if n == 0 {
            return Err("StartTLS: connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if buf.len() > msg.len() {
        return Err("StartTLS: server sent data before the TLS handshake".into());
    }
    let reply = frame::check_message(&msg).map_err(|e| format!("StartTLS reply: {e}"))?;
    if reply.op != 24 || reply.id != 1 {
        return Err("StartTLS: unexpected reply".into());
    }
    match result_code(&msg) {
        Some(0) => Ok(()),
        Some(rc) => Err(format!("StartTLS refused: {}", crate::error::rc_name(rc))),
        None => Err("StartTLS: unexpected reply".into()),
    }
}

/// The resultCode of a checked response message.
fn result_code(msg: &[u8]) -> Option<u32> {
    // 30 L 02 L id 78 L 0a L rc…: walk the headers checked before.
    let skip = |buf: &[u8], at: usize| -> Option<(usize, usize)> {
        let first = *buf.get(at + 1)?;
        if first < 0x80 {
            Some((usize::from(first), at + 2))
        } else {
            let n = usize::from(first & 0x7f);
            let len = buf
                .get(at + 2..at + 2 + n)?
                .iter()
                .fold(0usize, |a, b| (a << 8) | usize::from(*b));
            Some((len, at + 2 + n))
        }
    };
    let (_, seq) = skip(msg, 0)?;
    let (id_len, id_at) = skip(msg, seq)?;
    let (_, op) = skip(msg, id_at + id_len)?;
    let (rc_len, rc_at) = skip(msg, op)?;
    let rc = msg
        .get(rc_at..rc_at + rc_len)?
        .iter()
        .fold(0u32, |a, b| (a << 8) | u32::from(*b));
    Some(rc)
}

/// Copies requests to the server as they are, and replies to ldap3 only
/// once they are complete, well-formed and answer a request in flight.
async fn pump(server: Box<dyn Stream>, local: Local, violation: Violation, max_entries: u32) {
    let (mut server_rd, mut server_wr) = tokio::io::split(server);
    let (mut local_rd, mut local_wr) = local.into_split();
    let pending: Arc<Mutex<Pending>> = Arc::new(Mutex::new(HashMap::new()));
    let requests = {
        let pending = pending.clone();
        async move {
            let mut buf = Vec::new();
            let mut chunk = vec![0u8; 16 * 1024];
            loop {
                let n = match local_rd.read(&mut chunk).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                // ldap3 encodes its requests itself: only note what they are.
                while let Ok(Some(len)) = frame::frame_len(&buf) {
                    let msg: Vec<u8> = buf.drain(..len).collect();
                    note_request(&pending, &msg);
                    if server_wr.write_all(&msg).await.is_err() {
                        return;
                    }
                }
            }
            let _ = server_wr.shutdown().await;
        }
    };
    let replies = {
        let violation = violation.clone();
        async move {
            let mut buf: Vec<u8> = Vec::new();
            let mut chunk = vec![0u8; 64 * 1024];
            loop {
                loop {
                    match frame::frame_len(&buf) {
                        Ok(None) => break,
                        Ok(Some(len)) => {
                            let msg: Vec<u8> = buf.drain(..len).collect();
                            if let Err(e) = check_reply(&pending, &msg, max_entries) {
                                refuse(&violation, e);
                                return;
                            }
                            if local_wr.write_all(&msg).await.is_err() {
                                return;
                            }
                        }
                        Err(e) => {
                            refuse(&violation, e);
                            return;
                        }
                    }
                }
                let n = match server_rd.read(&mut chunk).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    };
    // Either side ending ends both: ldap3 then sees the connection closed.
    tokio::select! {
        () = requests => {}
        () = replies => {}
    }
}

fn refuse(violation: &Violation, e: FrameError) {
    tracing::warn!("LDAP server broke the protocol, connection closed: {e}");
    if let Ok(mut v) = violation.lock() {
        *v = Some(e.0);
    }
}

/// Requests in flight: message ID → (request op, replies so far).
type Pending = HashMap<i64, (u8, u32)>;

fn note_request(pending: &Mutex<Pending>, msg: &[u8]) {
    let Some(req) = frame::request_of(msg) else {
        return;
    };
    let Ok(mut map) = pending.lock() else {
        return;
    };
    match req.op {
        // unbindRequest and abandonRequest get no reply (replies to an
        // abandoned search may still arrive, so its entry stays).
        2 | 16 => {}
        op => {
            map.insert(req.id, (op, 0));
        }
    }
}

fn check_reply(pending: &Mutex<Pending>, msg: &[u8], max_entries: u32) -> Result<(), FrameError> {
    let reply = frame::check_message(msg)?;
    if reply.id == 0 {
        // Unsolicited notification (RFC 4511 4.4).
        return if reply.op == 24 {
            Ok(())
        } else {
            Err(FrameError(
                "unsolicited message that is not an extended response".into(),
            ))
        };
    }
    let mut map = pending
        .lock()
        .map_err(|_| FrameError("request table poisoned".into()))?;
    match map.get_mut(&reply.id) {
        Some((op, seen)) if frame::reply_fits(*op, reply.op) => {
            *seen = seen.saturating_add(1);
            // A server that ignores the size limit cannot fill memory.
            if *seen > max_entries.saturating_add(1) {
                return Err(FrameError(format!(
                    "more than {max_entries} entries for one search (the size limit)"
                )));
            }
            if frame::ends_operation(reply.op) {
                map.remove(&reply.id);
            }
            Ok(())
        }
        Some((op, _)) => Err(FrameError(format!(
            "reply op {} to request op {op} (message {})",
            reply.op, reply.id
        ))),
        None => Err(FrameError(format!(
            "reply to message {} that is not in flight",
            reply.id
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse() {
        let t = Target::parse("ldap://127.0.0.1:3890/dc=x").unwrap();
        assert_eq!((t.tls, t.host.as_str(), t.port), (false, "127.0.0.1", 3890));
        let t = Target::parse("ldaps://localhost").unwrap();
        assert_eq!((t.tls, t.host.as_str(), t.port), (true, "localhost", 636));
        let t = Target::parse("ldap://[::1]:389").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 389));
        assert_eq!(Target::parse("ldap://:389"), None);
        assert_eq!(Target::parse("ldap://h:x"), None);
        assert_eq!(Target::parse("http://h"), None);
    }

    #[test]
    fn replies_must_answer_a_request_in_flight() {
        let pending = Mutex::new(HashMap::new());
        let search = [0x30, 0x06, 0x02, 0x01, 0x02, 0x63, 0x01, 0x00];
        note_request(&pending, &search);
        let done = [
            0x30, 0x0c, 0x02, 0x01, 0x02, 0x65, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
        ];
        let bind_reply = [
            0x30, 0x0c, 0x02, 0x01, 0x02, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
        ];
        assert!(check_reply(&pending, &bind_reply, 10).is_err(), "wrong op");
        assert!(check_reply(&pending, &done, 10).is_ok());
        assert!(
            check_reply(&pending, &done, 10).is_err(),
            "no longer in flight"
        );
    }
}
