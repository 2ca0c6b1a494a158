//! A hostile "LDAP server" on loopback: it answers every connection with
//! one kind of broken or endless reply, to test that a client ends each in
//! a typed error within its deadline and never panics.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::LabError;

/// What the server sends after reading the client's first message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Test harness: tests run every misbehaviour, matched exhaustively.
#[allow(clippy::exhaustive_enums)]
pub enum Misbehaviour {
    /// `30 00`: an empty LDAPMessage.
    EmptyMessage,
    /// 20,000 levels of nested SEQUENCEs with definite lengths.
    DeepNesting,
    /// A message header announcing 2 GiB, then a trickle of bytes.
    HugeLength,
    /// A successful bind, then search entries without end.
    EndlessSearch,
    /// A successful bind, then bytes that are not BER.
    GarbageAfterBind,
}

/// The server; stops (and joins its thread) when dropped.
#[derive(Debug)]
pub struct EvilLdap {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EvilLdap {
    /// Listens on 127.0.0.1 (a free port) and misbehaves on every connection.
    pub fn start(how: Misbehaviour) -> Result<EvilLdap, LabError> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            // Bounded: the server runs until dropped, at most 2 minutes.
            let end = Instant::now() + Duration::from_secs(120);
            let mut workers = Vec::new();
            while !flag.load(Ordering::Relaxed) && Instant::now() < end {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let flag = flag.clone();
                        workers.push(std::thread::spawn(move || serve(stream, how, &flag, end)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            for w in workers {
                let _ = w.join();
            }
        });
        Ok(EvilLdap {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://{}", self.addr)
    }
}

impl Drop for EvilLdap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads one BER message (definite length) from the client: its message ID.
fn read_request(stream: &mut TcpStream) -> Option<u8> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head).ok()?;
    let len = if head[1] < 0x80 {
        usize::from(head[1])
    } else {
        let n = usize::from(head[1] & 0x7f);
        let mut b = vec![0u8; n];
        stream.read_exact(&mut b).ok()?;
        b.iter().fold(0usize, |a, x| (a << 8) | usize::from(*x))
    };
    let mut body = vec![0u8; len.min(1 << 20)];
    stream.read_exact(&mut body).ok()?;
    // 02 01 id
    body.get(2).copied()
}

fn bind_ok(id: u8) -> Vec<u8> {
    vec![
        0x30, 0x0c, 0x02, 0x01, id, 0x61, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
    ]
}

fn entry(id: u8, n: u32) -> Vec<u8> {
    let dn = format!("cn=e{n},dc=example,dc=org");
    let mut op = vec![0x04, dn.len() as u8];
    op.extend_from_slice(dn.as_bytes());
    op.extend_from_slice(&[0x30, 0x00]);
    let mut msg = vec![0x02, 0x01, id, 0x64, op.len() as u8];
    msg.extend(op);
    let mut out = vec![0x30, msg.len() as u8];
    out.extend(msg);
    out
}

fn deep() -> Vec<u8> {
    let mut inner: Vec<u8> = vec![0x04, 0x00];
    for _ in 0..20_000 {
        let mut next = vec![0x30, 0x84];
        next.extend_from_slice(&(inner.len() as u32).to_be_bytes());
        next.extend(inner);
        inner = next;
    }
    let mut msg = vec![0x02, 0x01, 0x01, 0x61, 0x84];
    msg.extend_from_slice(&(inner.len() as u32).to_be_bytes());
    msg.extend(inner);
    let mut out = vec![0x30, 0x84];
    out.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    out.extend(msg);
    out
}

fn serve(mut stream: TcpStream, how: Misbehaviour, stop: &AtomicBool, end: Instant) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let Some(id) = read_request(&mut stream) else {
        return;
    };
    let running = || !stop.load(Ordering::Relaxed) && Instant::now() < end;
    match how {
        Misbehaviour::EmptyMessage => {
            let _ = stream.write_all(&[0x30, 0x00]);
        }
        Misbehaviour::DeepNesting => {
            let _ = stream.write_all(&deep());
        }
        Misbehaviour::HugeLength => {
            let _ = stream.write_all(&[0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x02, 0x01, id]);
            while running() && stream.write_all(&[0u8; 64]).is_ok() {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Misbehaviour::EndlessSearch => {
            let _ = stream.write_all(&bind_ok(id));
            let Some(search) = read_request(&mut stream) else {
                return;
            };
            let mut n = 0u32;
            while running() && stream.write_all(&entry(search, n)).is_ok() {
                n = n.wrapping_add(1);
                if n.is_multiple_of(1000) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        Misbehaviour::GarbageAfterBind => {
            let _ = stream.write_all(&bind_ok(id));
            let _ = read_request(&mut stream);
            let _ = stream.write_all(b"\xff\xfe garbage, not BER \x00\x01");
        }
    }
    // Keep the connection open a little so the client sees data, not EOF.
    let hold = Instant::now() + Duration::from_secs(2);
    while running() && Instant::now() < hold {
        std::thread::sleep(Duration::from_millis(20));
    }
}
