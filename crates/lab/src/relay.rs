//! A relay that adds a fixed one-way delay to everything it forwards to a
//! real lab server, over TCP and UDP on the same port: a WAN link for
//! benchmarks on kernels without the netem qdisc.
//!
//! Each chunk (TCP) or datagram (UDP) is forwarded `one_way` after it
//! arrived, in order, in both directions, so a request/response costs
//! `2 × one_way` more than on loopback. The TCP handshake completes at the
//! relay at once; to keep its round trip in the total, the first chunk of
//! each connection waits one extra round trip.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::LabError;
use crate::process::free_port;

/// How often blocked threads look at the stop flag.
const POLL: Duration = Duration::from_millis(50);

/// A running delay relay; stops on drop.
#[derive(Debug)]
pub struct DelayRelay {
    addr: SocketAddr,
    one_way: Duration,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl DelayRelay {
    /// Relays `127.0.0.1:<new port>` to `upstream` (TCP and UDP), delaying
    /// each direction by `one_way`.
    pub fn start(upstream: SocketAddr, one_way: Duration) -> Result<DelayRelay, LabError> {
        let port = free_port()?;
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, port))?;
        tcp.set_nonblocking(true)?;
        let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, port))?;
        udp.set_read_timeout(Some(POLL))?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        let s = stop.clone();
        threads.push(std::thread::spawn(move || {
            accept_loop(tcp, upstream, one_way, s)
        }));
        let s = stop.clone();
        threads.push(std::thread::spawn(move || {
            udp_loop(udp, upstream, one_way, s)
        }));
        Ok(DelayRelay {
            addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
            one_way,
            stop,
            threads,
        })
    }

    /// The relay's address (TCP and UDP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The round trip it adds.
    pub fn round_trip(&self) -> Duration {
        self.one_way * 2
    }
}

impl Drop for DelayRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Writes what arrives on `rx` once its deadline has passed.
fn delayed_writer<W: Write>(mut out: W, rx: Receiver<(Instant, Vec<u8>)>) {
    while let Ok((due, data)) = rx.recv() {
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if out.write_all(&data).is_err() {
            return;
        }
    }
}

/// Reads `from` and queues each chunk `delay` later (the first one
/// `first_extra` later still).
fn delayed_reader(
    mut from: TcpStream,
    tx: Sender<(Instant, Vec<u8>)>,
    delay: Duration,
    first_extra: Duration,
    stop: Arc<AtomicBool>,
) {
    let _ = from.set_read_timeout(Some(POLL));
    let mut first = true;
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::SeqCst) {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                let extra = if first { first_extra } else { Duration::ZERO };
                first = false;
                if tx
                    .send((Instant::now() + delay + extra, buf[..n].to_vec()))
                    .is_err()
                {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    one_way: Duration,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::SeqCst) {
        let Ok((client, _)) = listener.accept() else {
            std::thread::sleep(Duration::from_millis(2));
            continue;
        };
        let _ = client.set_nonblocking(false);
        let Ok(server) = TcpStream::connect(upstream) else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let (Ok(client_w), Ok(server_w)) = (client.try_clone(), server.try_clone()) else {
            continue;
        };
        let (to_server, server_rx) = channel();
        let (to_client, client_rx) = channel();
        std::thread::spawn(move || delayed_writer(server_w, server_rx));
        std::thread::spawn(move || delayed_writer(client_w, client_rx));
        let s = stop.clone();
        std::thread::spawn(move || delayed_reader(client, to_server, one_way, one_way * 2, s));
        let s = stop.clone();
        std::thread::spawn(move || delayed_reader(server, to_client, one_way, Duration::ZERO, s));
    }
}

type Datagram = (Instant, Arc<UdpSocket>, SocketAddr, Vec<u8>);
/// Each client's own upstream socket.
type UpstreamSockets = Arc<Mutex<Vec<(SocketAddr, Arc<UdpSocket>)>>>;

fn udp_loop(relay: UdpSocket, upstream: SocketAddr, one_way: Duration, stop: Arc<AtomicBool>) {
    let Ok(relay) = relay.try_clone().map(Arc::new) else {
        return;
    };
    let (tx, rx) = channel::<Datagram>();
    let sender = std::thread::spawn(move || {
        while let Ok((due, socket, to, data)) = rx.recv() {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
            let _ = socket.send_to(&data, to);
        }
    });
    // One upstream socket per client, so that replies find their way back.
    let clients: UpstreamSockets = Arc::default();
    let mut buf = vec![0u8; 65_535];
    while !stop.load(Ordering::SeqCst) {
        let Ok((n, client)) = relay.recv_from(&mut buf) else {
            continue;
        };
        let known = clients
            .lock()
            .ok()
            .and_then(|c| c.iter().find(|(a, _)| *a == client).map(|(_, s)| s.clone()));
        let up = match known {
            Some(up) => up,
            None => {
                let Ok(up) = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).map(Arc::new) else {
                    continue;
                };
                let _ = up.set_read_timeout(Some(POLL));
                if let Ok(mut c) = clients.lock() {
                    c.push((client, up.clone()));
                }
                let (up2, back, tx2, s) = (up.clone(), relay.clone(), tx.clone(), stop.clone());
                std::thread::spawn(move || {
                    let mut buf = vec![0u8; 65_535];
                    while !s.load(Ordering::SeqCst) {
                        if let Ok((n, _)) = up2.recv_from(&mut buf) {
                            let _ = tx2.send((
                                Instant::now() + one_way,
                                back.clone(),
                                client,
                                buf[..n].to_vec(),
                            ));
                        }
                    }
                });
                up
            }
        };
        let _ = tx.send((Instant::now() + one_way, up, upstream, buf[..n].to_vec()));
    }
    drop(tx);
    let _ = sender.join();
}
