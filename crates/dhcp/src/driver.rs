//! The tokio driver for Linux: UDP port 68 bound to one interface
//! (SO_BINDTODEVICE) with SO_BROADCAST, feeding the state machine packets
//! and timer events and applying its actions.

use std::collections::{BTreeMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;
use tokio::time::Instant;

use crate::client::{Action, Client, Destination, Event, Ignored, LossReason};
use crate::error::Error;
use crate::lease::Lease;
use crate::os::{Applied, Apply};

/// The client port.
pub const CLIENT_PORT: u16 = 68;
/// The server port.
pub const SERVER_PORT: u16 = 67;

/// Sends and receives only on `interface` (Linux `SO_BINDTODEVICE`).
#[cfg(any(target_os = "linux", target_os = "android", target_os = "fuchsia"))]
fn bind_to_interface(sock: &Socket, interface: &str) -> std::io::Result<()> {
    sock.bind_device(Some(interface.as_bytes()))
}

/// Elsewhere the operating system's own DHCP client owns the interface:
/// read its lease (the `os` module) or configure a static address instead.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "fuchsia")))]
fn bind_to_interface(_sock: &Socket, _interface: &str) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "a DHCP client bound to one interface needs Linux; use the OS lease or a static address",
    ))
}

/// Opens UDP 0.0.0.0:68 bound to `interface`, broadcast allowed.
/// Must be called inside a tokio runtime.
pub fn open_socket(interface: &str) -> Result<UdpSocket, Error> {
    let fail = |step: &str, cause: std::io::Error| Error::Socket {
        interface: interface.to_owned(),
        step: step.to_owned(),
        cause,
    };
    let sock = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| fail("create UDP socket", e))?;
    // Several clients (ours on other interfaces, a stock one) may hold :68.
    sock.set_reuse_address(true)
        .map_err(|e| fail("SO_REUSEADDR", e))?;
    sock.set_broadcast(true)
        .map_err(|e| fail("SO_BROADCAST", e))?;
    bind_to_interface(&sock, interface).map_err(|e| fail("SO_BINDTODEVICE", e))?;
    let addr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT));
    sock.bind(&addr.into())
        .map_err(|e| fail("bind 0.0.0.0:68", e))?;
    sock.set_nonblocking(true)
        .map_err(|e| fail("set non-blocking", e))?;
    UdpSocket::from_std(sock.into()).map_err(|e| fail("register with tokio", e))
}

/// What the driver saw happen (besides packets sent).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Happened {
    /// A lease was configured (`renewed`: the same address again).
    Bound {
        /// The lease.
        lease: Lease,
        /// True for a renewal.
        renewed: bool,
    },
    /// An address was given up.
    Lost {
        /// The address.
        address: Ipv4Addr,
        /// Why.
        reason: LossReason,
    },
    /// DHCPINFORM answered.
    Informed(Lease),
    /// DHCPINFORM gave up.
    InformGaveUp {
        /// INFORMs sent.
        attempts: u32,
    },
}

/// How many of the latest sent messages, ignored and kept packets
/// [`Stats`] holds: the driver runs for the device's life on a LAN full of
/// other clients' broadcasts, so only counters grow.
pub const RECENT: usize = 32;

/// The last [`RECENT`] items of a stream, oldest first, and the count of
/// all items ever pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recent<T> {
    items: VecDeque<T>,
    total: u64,
}

impl<T> Default for Recent<T> {
    fn default() -> Self {
        Recent {
            items: VecDeque::with_capacity(RECENT),
            total: 0,
        }
    }
}

impl<T> Recent<T> {
    /// Adds one item, dropping the oldest beyond [`RECENT`].
    pub fn push(&mut self, item: T) {
        if self.items.len() == RECENT {
            self.items.pop_front();
        }
        self.items.push_back(item);
        self.total = self.total.saturating_add(1);
    }

    /// The items kept, oldest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &T> + ExactSizeIterator {
        self.items.iter()
    }

    /// How many items are kept (at most [`RECENT`]).
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when nothing was pushed.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many items were pushed in all.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The newest item.
    pub fn last(&self) -> Option<&T> {
        self.items.back()
    }

    /// The items kept, oldest first, as a vector.
    pub fn to_vec(&self) -> Vec<T>
    where
        T: Clone,
    {
        self.items.iter().cloned().collect()
    }
}

/// Counters and the latest messages, for reports and tests. Bounded: the
/// counters grow, the logs keep the last [`RECENT`].
#[derive(Debug, Default, Clone)]
#[non_exhaustive]
pub struct Stats {
    /// Messages sent, counted by type name (`DISCOVER`, …).
    pub sent_by_kind: BTreeMap<String, u64>,
    /// The latest messages sent, by type name, in order.
    pub sent: Recent<String>,
    /// Packets received on port 68.
    pub received: u64,
    /// Packets dropped, counted by [`Ignored::kind`].
    pub ignored_by_kind: BTreeMap<&'static str, u64>,
    /// The latest packets dropped, with why.
    pub ignored: Recent<Ignored>,
    /// The latest received packets, when [`Driver::keep_packets`] is on.
    pub packets: Recent<Vec<u8>>,
    keep: bool,
}

impl Stats {
    /// Counts and logs one message sent.
    pub fn record_sent(&mut self, name: String) {
        *self.sent_by_kind.entry(name.clone()).or_default() += 1;
        self.sent.push(name);
    }

    /// Counts and logs one packet dropped.
    pub fn record_ignored(&mut self, why: Ignored) {
        *self.ignored_by_kind.entry(why.kind()).or_default() += 1;
        self.ignored.push(why);
    }
}

/// One client on one interface.
pub struct Driver<A: Apply> {
    interface: String,
    socket: UdpSocket,
    client: Client,
    applier: A,
    rng: Box<dyn crate::client::Random + Send>,
    origin: Instant,
    started: bool,
    /// Counters and ignored packets.
    pub stats: Stats,
}

impl<A: Apply> std::fmt::Debug for Driver<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("interface", &self.interface)
            .field("state", &self.client.state())
            .finish_non_exhaustive()
    }
}

impl<A: Apply> Driver<A> {
    /// Opens the socket on `interface` for `client`, applying leases with
    /// `applier`. Randomness comes from the OS.
    pub fn new(interface: &str, client: Client, applier: A) -> Result<Driver<A>, Error> {
        Ok(Driver {
            interface: interface.to_owned(),
            socket: open_socket(interface)?,
            client,
            applier,
            rng: Box::new(StdRng::from_os_rng()),
            origin: Instant::now(),
            started: false,
            stats: Stats::default(),
        })
    }

    /// Keep a copy of every received packet in [`Stats::packets`].
    pub fn keep_packets(&mut self, on: bool) {
        self.stats.keep = on;
    }

    /// The state machine as it is now.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The applier (e.g. to read a [`crate::os::ReportOnly`] log).
    pub fn applier(&self) -> &A {
        &self.applier
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Feeds one event and performs its actions.
    async fn feed(&mut self, event: Event<'_>) -> Result<Vec<Happened>, Error> {
        let now = self.now();
        // The prefix of the address in use, before the event may drop it.
        let prefix = self.client.lease().map_or(24, Lease::prefix_len);
        let (client, actions) = self.client.clone().handle(event, now, self.rng.as_mut());
        self.client = client;
        let mut happened = Vec::new();
        for action in actions {
            match action {
                Action::Send(out) => {
                    let dest = match out.to {
                        Destination::Broadcast => Ipv4Addr::BROADCAST,
                        Destination::Server(ip) => ip,
                    };
                    let name = format!("{:?}", out.kind).to_uppercase();
                    tracing::debug!(interface = %self.interface, xid = out.xid, %dest, "send {name}");
                    let mut sent = self
                        .socket
                        .send_to(&out.bytes, SocketAddrV4::new(dest, SERVER_PORT))
                        .await;
                    // When the unicast cannot be sent at all (no route to the
                    // server, e.g. the OS removed the address), a broadcast
                    // still reaches the server.
                    if sent.is_err() && dest != Ipv4Addr::BROADCAST {
                        tracing::debug!(interface = %self.interface, "unicast to {dest} failed, broadcasting {name}");
                        sent = self
                            .socket
                            .send_to(
                                &out.bytes,
                                SocketAddrV4::new(Ipv4Addr::BROADCAST, SERVER_PORT),
                            )
                            .await;
                    }
                    sent.map_err(|cause| Error::Socket {
                        interface: self.interface.clone(),
                        step: format!("send {name} to {dest}"),
                        cause,
                    })?;
                    self.stats.record_sent(name);
                }
                Action::Configure { lease, renewed } => {
                    match self.applier.apply(&self.interface, &lease, renewed)? {
                        Applied::Applied => happened.push(Happened::Bound { lease, renewed }),
                        Applied::Conflict => {
                            tracing::warn!(interface = %self.interface, address = %lease.address, "address in use: DHCPDECLINE");
                            happened.extend(Box::pin(self.feed(Event::Conflict)).await?);
                        }
                    }
                }
                Action::Deconfigure { address, reason } => {
                    if let Err(e) = self.applier.remove(&self.interface, address, prefix) {
                        // The address may already be gone (declined before use).
                        tracing::debug!("{e}");
                    }
                    happened.push(Happened::Lost { address, reason });
                }
                Action::Informed(lease) => happened.push(Happened::Informed(lease)),
                Action::InformGaveUp { attempts } => {
                    happened.push(Happened::InformGaveUp { attempts })
                }
                Action::Ignored(why) => {
                    tracing::debug!(interface = %self.interface, "ignored: {why:?}");
                    self.stats.record_ignored(why);
                }
                Action::ReleaseSkipped { address } => {
                    tracing::info!(interface = %self.interface, %address, "the binding is the OS client's (client id 01:MAC): not released");
                }
                Action::Fault(e) => return Err(Error::Codec(e)),
            }
        }
        Ok(happened)
    }

    /// Sends the first message (once).
    pub async fn start(&mut self) -> Result<Vec<Happened>, Error> {
        if self.started {
            return Ok(Vec::new());
        }
        self.started = true;
        self.feed(Event::Start).await
    }

    /// Waits for the next packet or timer and handles it. Returns what
    /// happened (often nothing: a retransmission, an ignored packet).
    pub async fn step(&mut self) -> Result<Vec<Happened>, Error> {
        self.start().await?;
        let mut buf = vec![0u8; 4096];
        let deadline = self.client.deadline().map(|d| self.origin + d);
        let received = match deadline {
            Some(at) => tokio::select! {
                r = self.socket.recv_from(&mut buf) => Some(r),
                _ = tokio::time::sleep_until(at) => None,
            },
            None => Some(self.socket.recv_from(&mut buf).await),
        };
        match received {
            Some(Ok((n, _from))) => {
                self.stats.received = self.stats.received.saturating_add(1);
                let packet = buf.get(..n).unwrap_or_default().to_vec();
                if self.stats.keep {
                    self.stats.packets.push(packet.clone());
                }
                self.feed(Event::Received(&packet)).await
            }
            Some(Err(cause)) => Err(Error::Socket {
                interface: self.interface.clone(),
                step: "receive".into(),
                cause,
            }),
            None => self.feed(Event::Timer).await,
        }
    }

    /// Runs until `pick` accepts something that happened, or `timeout`.
    pub async fn run_until<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(Happened) -> Option<T>,
    ) -> Result<T, Error> {
        let until = Instant::now() + timeout;
        loop {
            let step = tokio::time::timeout_at(until, self.step()).await;
            let Ok(happened) = step else {
                return Err(Error::Timeout {
                    interface: self.interface.clone(),
                    waited: timeout,
                    state: self.client.state().as_str(),
                });
            };
            for h in happened? {
                if let Some(t) = pick(h) {
                    return Ok(t);
                }
            }
        }
    }

    /// Runs until BOUND and returns the lease.
    pub async fn bound(&mut self, timeout: Duration) -> Result<Lease, Error> {
        self.run_until(timeout, |h| match h {
            Happened::Bound { lease, .. } => Some(lease),
            _ => None,
        })
        .await
    }

    /// For an INFORM client: runs until the answer, or the bounded give-up.
    pub async fn informed(&mut self, timeout: Duration) -> Result<Lease, Error> {
        let Some(address) = self.client.inform_address() else {
            return Err(Error::Config(
                "this client was not made with Client::inform".into(),
            ));
        };
        let iface = self.interface.clone();
        let r = self
            .run_until(timeout, |h| match h {
                Happened::Informed(l) => Some(Ok(l)),
                Happened::InformGaveUp { attempts } => Some(Err(attempts)),
                _ => None,
            })
            .await?;
        r.map_err(|attempts| Error::InformUnanswered {
            interface: iface,
            address,
            attempts,
        })
    }

    /// Tells the client the bound address is in use (sends DHCPDECLINE).
    pub async fn decline(&mut self) -> Result<Vec<Happened>, Error> {
        self.feed(Event::Conflict).await
    }

    /// Shutdown: DHCPRELEASE if bound, address removed (R.5.1).
    pub async fn release(mut self) -> Result<Stats, Error> {
        self.feed(Event::Release).await?;
        Ok(self.stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dhcp_stats_stay_bounded() {
        let mut stats = Stats::default();
        for i in 0..10_000u32 {
            stats.record_ignored(Ignored::WrongXid {
                expected: 1,
                got: i,
            });
            stats.record_ignored(Ignored::NotWaiting);
            stats.record_sent("REQUEST".into());
        }
        stats.record_sent("RELEASE".into());
        assert_eq!(stats.ignored.len(), RECENT);
        assert_eq!(stats.ignored.total(), 20_000);
        assert_eq!(stats.ignored_by_kind.get("wrong-xid"), Some(&10_000));
        assert_eq!(stats.ignored_by_kind.get("not-waiting"), Some(&10_000));
        assert_eq!(stats.ignored.last(), Some(&Ignored::NotWaiting));
        assert_eq!(
            stats.ignored.iter().next(),
            Some(&Ignored::WrongXid {
                expected: 1,
                got: 10_000 - 16
            })
        );
        assert_eq!(stats.sent.len(), RECENT);
        assert_eq!(stats.sent_by_kind.get("REQUEST"), Some(&10_000));
        assert_eq!(stats.sent.last().map(String::as_str), Some("RELEASE"));
    }
}
