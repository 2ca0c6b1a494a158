//! The RFC 2131 client state machine, sans I/O.
//!
//! [`Client::handle`] is a pure function of (client, event, now) returning
//! the next client and the actions to perform; randomness (xids and the
//! ±1 s retransmission jitter) comes from an injected [`Random`], and `now`
//! is a monotonic time since any origin the caller picks. The driver in
//! [`crate::driver`] feeds it packets and timer events; the unit tests feed
//! it captured packets and simulated time.
//!
//! ```text
//!            Start                 OFFER                   ACK
//!   INIT ───────────▶ SELECTING ─────────▶ REQUESTING ─────────▶ BOUND
//!    ▲  ▲                                  │ NAK/no answer         │ T1
//!    │  └──────────────────────────────────┘                       ▼
//!    │  INIT-REBOOT ─REQUEST─▶ REBOOTING ──ACK──▶ BOUND ◀─ACK── RENEWING
//!    │                                                              │ T2
//!    └──── expiry or NAK ───────────────── REBINDING ◀──────────────┘
//! ```

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use dhcproto::v4::{self, DhcpOption, Flags, Message, MessageType, OptionCode};
use dhcproto::{Decodable, Decoder, Encodable};

use crate::error::{CodecError, Error};
use crate::lease::{Lease, LeaseSource, Mac};
use crate::options::{self, PARAMETER_REQUEST_LIST, RawOptions};

/// The source of randomness: transaction ids and retransmission jitter.
/// Any `rand::RngCore` is one; tests pass a seeded generator.
pub trait Random {
    /// A uniformly random u32.
    fn next_u32(&mut self) -> u32;
}

impl<R: rand::RngCore> Random for R {
    fn next_u32(&mut self) -> u32 {
        rand::RngCore::next_u32(self)
    }
}

/// RFC 2131 §4.1: 4 s doubling up to 64 s, randomized by ±1 s.
pub fn backoff(attempt: u32, rng: &mut dyn Random) -> Duration {
    let base_ms = 4000u64 << attempt.min(4);
    let jitter = u64::from(rng.next_u32() % 2001);
    Duration::from_millis(base_ms - 1000 + jitter)
}

/// RFC 2131 §4.4.5: in RENEWING and REBINDING, wait half the time left
/// until T2 (resp. expiry), but at least 60 s, never past the deadline.
fn half_way(now: Duration, deadline: Duration) -> Duration {
    let left = deadline.saturating_sub(now);
    (now + (left / 2).max(Duration::from_secs(60))).min(deadline)
}

/// What the client says about itself.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Hardware address (chaddr), also the default client identifier.
    pub mac: Mac,
    /// Option 12: the desired machine name (R.1.2.2 step 1).
    pub host_name: Option<String>,
    /// Option 81: the client FQDN, sent with the S flag so the server
    /// updates DNS (PS3.15 Annex F DDNS Coordination).
    pub fqdn: Option<String>,
    /// Option 61; default [`annexr_client_id`]: an identity of annexr's
    /// own, so that the server keeps this client's binding apart from the
    /// operating system's DHCP client (which uses `01:MAC` or its own
    /// RFC 4361 identifier) and a DHCPRELEASE frees only annexr's binding.
    pub client_id: Vec<u8>,
    /// Option 60.
    pub vendor_class: Option<Vec<u8>>,
    /// Option 55.
    pub parameter_request_list: Vec<u8>,
    /// REQUEST transmissions in REQUESTING before going back to INIT
    /// (RFC 2131 §3.1 step 5).
    pub request_attempts: u32,
    /// REQUEST transmissions in REBOOTING before discovering instead. A
    /// non-authoritative server (dnsmasq's default) stays silent about an
    /// address it does not know (RFC 2131 §4.3.2), so this is short: 2
    /// (about 12 s), like dhclient's 10 s `reboot` timeout.
    pub reboot_attempts: u32,
    /// DHCPINFORM transmissions before giving up (bounded: dhcpcd#47).
    pub inform_attempts: u32,
    /// Wait after a DHCPDECLINE before discovering again (RFC 2131 §3.1: at
    /// least 10 s).
    pub decline_wait: Duration,
}

/// The IAID of annexr's client identifier: "AXR1", fixed so that the
/// identity is stable across boots and distinct from the OS client's
/// (systemd-networkd derives its IAID from the interface name).
pub const ANNEXR_IAID: [u8; 4] = *b"AXR1";

/// annexr's own client identifier for `mac` (RFC 4361 §6.1): type 255,
/// the IAID [`ANNEXR_IAID`], and the link-layer DUID (RFC 8415 DUID-LL,
/// type 3, hardware type 1) of the MAC.
pub fn annexr_client_id(mac: Mac) -> Vec<u8> {
    let mut id = vec![255];
    id.extend_from_slice(&ANNEXR_IAID);
    id.extend_from_slice(&[0, 3, 0, 1]);
    id.extend_from_slice(&mac.0);
    id
}

/// The classic client identifier `01:MAC` (RFC 2132 §9.14), which the
/// operating system's DHCP client (dhclient, busybox udhcpc) uses: a
/// binding under it belongs to the OS, not to annexr.
pub fn hardware_client_id(mac: Mac) -> Vec<u8> {
    let mut id = vec![1];
    id.extend_from_slice(&mac.0);
    id
}

/// `name` made a DNS label (RFC 1123 host name: letters, digits, inner
/// hyphens, at most 63): lower case, every other character a hyphen,
/// hyphens not repeated nor at the ends; `None` when nothing is left.
/// "CT 7" gives "ct-7".
pub fn dns_label(name: &str) -> Option<String> {
    let mut label = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            label.push(c.to_ascii_lowercase());
        } else if !label.is_empty() && !label.ends_with('-') {
            label.push('-');
        }
    }
    label.truncate(63);
    let label = label.trim_end_matches('-').to_owned();
    (!label.is_empty()).then_some(label)
}

impl ClientConfig {
    /// Defaults for `mac`: annexr's own client id ([`annexr_client_id`]),
    /// vendor class `annexr`, the full parameter request list, 4 REQUEST,
    /// 2 INIT-REBOOT and 4 INFORM attempts.
    pub fn new(mac: Mac) -> ClientConfig {
        ClientConfig {
            mac,
            host_name: None,
            fqdn: None,
            client_id: annexr_client_id(mac),
            vendor_class: Some(b"annexr".to_vec()),
            parameter_request_list: PARAMETER_REQUEST_LIST.to_vec(),
            request_attempts: 4,
            reboot_attempts: 2,
            inform_attempts: 4,
            decline_wait: Duration::from_secs(10),
        }
    }

    /// Sets option 12 (checked: 1–63 letters, digits, hyphens).
    pub fn host_name(mut self, name: &str) -> Result<ClientConfig, Error> {
        let ok = !name.is_empty()
            && name.len() <= 63
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !ok {
            return Err(Error::Config(format!(
                "host name {name:?} is not a DNS label"
            )));
        }
        self.host_name = Some(name.to_owned());
        Ok(self)
    }

    /// Sets option 81 (checked as a DNS name).
    pub fn fqdn(mut self, fqdn: &str) -> Result<ClientConfig, Error> {
        fqdn_name(fqdn).map_err(|e| Error::Config(format!("FQDN {fqdn:?}: {e}")))?;
        self.fqdn = Some(fqdn.trim_end_matches('.').to_owned());
        Ok(self)
    }

    /// Sets option 60.
    pub fn vendor_class(mut self, class: &[u8]) -> ClientConfig {
        self.vendor_class = Some(class.to_vec());
        self
    }

    /// Sets option 61 (e.g. [`hardware_client_id`] to act as the OS client
    /// would; such a binding is then never released, see
    /// [`ClientConfig::owns_its_binding`]).
    pub fn client_id(mut self, id: Vec<u8>) -> ClientConfig {
        self.client_id = id;
        self
    }

    /// True when the client identifier is not the OS client's `01:MAC`:
    /// the server's binding is then this client's own, and
    /// [`Event::Release`] sends DHCPRELEASE for it. With `01:MAC` the
    /// binding is shared with the OS client, so nothing is released.
    pub fn owns_its_binding(&self) -> bool {
        self.client_id != hardware_client_id(self.mac)
    }
}

fn fqdn_name(fqdn: &str) -> Result<dhcproto::Name, dhcproto::NameError> {
    dhcproto::Name::from_ascii(format!("{}.", fqdn.trim_end_matches('.')))
}

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Closed by RFC 2131 4.1: a client broadcasts or sends to one server.
#[allow(clippy::exhaustive_enums)]
pub enum Destination {
    /// 255.255.255.255:67 on the interface.
    Broadcast,
    /// The server's address, port 67 (RENEWING, RELEASE).
    Server(Ipv4Addr),
}

/// One message to send.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outgoing {
    /// DHCP message type.
    pub kind: MessageType,
    /// Transaction id.
    pub xid: u32,
    /// Where to.
    pub to: Destination,
    /// The encoded message.
    pub bytes: Vec<u8>,
}

/// Why an address was given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LossReason {
    /// The lease expired without renewal (Annex F Maintain Lease).
    Expired,
    /// The server answered DHCPNAK.
    Nak,
    /// The address was found in use; DHCPDECLINE sent.
    Declined,
    /// DHCPRELEASE sent (shutdown, R.5.1).
    Released,
}

/// Why a received packet was ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ignored {
    /// Not a DHCP message.
    Undecodable(CodecError),
    /// A BOOTREQUEST (another client's broadcast).
    NotAReply,
    /// No transaction is waiting for a reply.
    NotWaiting,
    /// Another transaction's reply.
    WrongXid {
        /// Expected.
        expected: u32,
        /// Received.
        got: u32,
    },
    /// Addressed to another hardware address.
    WrongChaddr,
    /// A message type this state does not take (or none).
    Unexpected(Option<u8>),
    /// From a server other than the one selected.
    WrongServer(Option<Ipv4Addr>),
    /// An OFFER or ACK without a usable address.
    NoAddress,
}

impl Ignored {
    /// A short name of the kind, for counters: `undecodable`,
    /// `not-a-reply`, `not-waiting`, `wrong-xid`, `wrong-chaddr`,
    /// `unexpected`, `wrong-server`, `no-address`.
    pub fn kind(&self) -> &'static str {
        match self {
            Ignored::Undecodable(_) => "undecodable",
            Ignored::NotAReply => "not-a-reply",
            Ignored::NotWaiting => "not-waiting",
            Ignored::WrongXid { .. } => "wrong-xid",
            Ignored::WrongChaddr => "wrong-chaddr",
            Ignored::Unexpected(_) => "unexpected",
            Ignored::WrongServer(_) => "wrong-server",
            Ignored::NoAddress => "no-address",
        }
    }
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Action {
    /// Send a message.
    Send(Outgoing),
    /// Configure the interface with this lease (new or renewed).
    Configure {
        /// The lease.
        lease: Lease,
        /// True for a renewal of the address already configured.
        renewed: bool,
    },
    /// Stop using the address.
    Deconfigure {
        /// The address.
        address: Ipv4Addr,
        /// Why.
        reason: LossReason,
    },
    /// DHCPINFORM answered: the options, no lease taken.
    Informed(Lease),
    /// DHCPINFORM got no answer after every attempt; the client stops.
    InformGaveUp {
        /// INFORMs sent.
        attempts: u32,
    },
    /// A received packet was dropped, and why (for logs and tests).
    Ignored(Ignored),
    /// Shutdown with a lease whose binding is the OS client's (client id
    /// `01:MAC`): no DHCPRELEASE sent, the address left in place.
    ReleaseSkipped {
        /// The address kept.
        address: Ipv4Addr,
    },
    /// An outgoing message could not be built (a configuration fault).
    Fault(CodecError),
}

/// What happens to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event<'a> {
    /// Begin (from INIT, INIT-REBOOT or INFORM).
    Start,
    /// The deadline from [`Client::deadline`] passed (early calls do nothing).
    Timer,
    /// A datagram arrived on port 68.
    Received(&'a [u8]),
    /// The driver found the bound address in use (ARP): DHCPDECLINE.
    Conflict,
    /// Shut down: DHCPRELEASE if bound (R.5.1).
    Release,
}

/// The RFC 2131 state names (plus the INFORM ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StateName {
    /// INIT.
    Init,
    /// SELECTING.
    Selecting,
    /// REQUESTING.
    Requesting,
    /// INIT-REBOOT (not started yet).
    InitReboot,
    /// REBOOTING.
    Rebooting,
    /// BOUND.
    Bound,
    /// RENEWING.
    Renewing,
    /// REBINDING.
    Rebinding,
    /// INFORM not started yet.
    InformInit,
    /// Waiting for the INFORM answer.
    Informing,
    /// INFORM answered (final).
    Informed,
    /// INFORM unanswered (final).
    InformFailed,
    /// Released (final).
    Released,
}

impl StateName {
    /// The RFC spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            StateName::Init => "INIT",
            StateName::Selecting => "SELECTING",
            StateName::Requesting => "REQUESTING",
            StateName::InitReboot => "INIT-REBOOT",
            StateName::Rebooting => "REBOOTING",
            StateName::Bound => "BOUND",
            StateName::Renewing => "RENEWING",
            StateName::Rebinding => "REBINDING",
            StateName::InformInit => "INFORM",
            StateName::Informing => "INFORMING",
            StateName::Informed => "INFORMED",
            StateName::InformFailed => "INFORM-FAILED",
            StateName::Released => "RELEASED",
        }
    }
}

/// Retransmission bookkeeping of one transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tx {
    xid: u32,
    /// Transmissions so far.
    sent: u32,
    /// When the first one went out (lease times count from here, the
    /// conservative reading of RFC 2131 §4.4.1).
    first: Duration,
    /// When to retransmit (or give up).
    next: Duration,
}

impl Tx {
    /// A new transaction with a fresh xid, first sent `now`.
    fn fresh(now: Duration, rng: &mut dyn Random) -> Tx {
        Tx {
            xid: rng.next_u32(),
            sent: 0,
            first: now,
            next: now,
        }
    }

    /// After one more transmission, due again at `next`.
    fn retransmitted(self, next: Duration) -> Tx {
        Tx {
            sent: self.sent + 1,
            next,
            ..self
        }
    }
}

/// When a transaction's message is sent again.
enum Due {
    /// RFC 2131 §4.1: [`backoff`] after this transmission (acquiring an
    /// address, INFORM); `secs` counts from the first transmission.
    Backoff,
    /// RFC 2131 §4.4.5: half the time left until this deadline (T2 while
    /// renewing, expiry while rebinding); `secs` is 0.
    HalfWayTo(Duration),
}

/// What a state's transaction sends, decided by the state alone (smoltcp's
/// `dispatch`): [`Client::transmit`] builds, queues and schedules it.
struct Dispatch {
    kind: MessageType,
    ciaddr: Ipv4Addr,
    to: Destination,
    /// The options beyond those every message of that type carries.
    extra: Vec<DhcpOption>,
    due: Due,
}

/// A lease in use, with its absolute timers.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Bound {
    lease: Lease,
    t1: Option<Duration>,
    t2: Option<Duration>,
    expires: Option<Duration>,
}

impl Bound {
    fn new(lease: Lease, since: Duration) -> Bound {
        Bound {
            t1: lease.t1().map(|t| since + t),
            t2: lease.t2().map(|t| since + t),
            expires: lease.lease_time.map(|t| since + t),
            lease,
        }
    }
    fn server(&self) -> Ipv4Addr {
        self.lease.server_id.unwrap_or(Ipv4Addr::BROADCAST)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Init {
        at: Duration,
    },
    Selecting(Tx),
    Requesting {
        tx: Tx,
        offered: Ipv4Addr,
        server: Ipv4Addr,
    },
    InitReboot {
        address: Ipv4Addr,
    },
    Rebooting {
        tx: Tx,
        address: Ipv4Addr,
    },
    Bound(Bound),
    Renewing {
        bound: Bound,
        tx: Tx,
    },
    Rebinding {
        bound: Bound,
        tx: Tx,
    },
    InformInit {
        address: Ipv4Addr,
    },
    Informing {
        tx: Tx,
        address: Ipv4Addr,
    },
    Informed,
    InformFailed,
    Released,
}

/// The transaction of a state, by reference or by mutable reference (the
/// binding mode follows the scrutinee): the states that await a reply.
macro_rules! tx_of {
    ($state:expr) => {
        match $state {
            State::Selecting(tx)
            | State::Requesting { tx, .. }
            | State::Rebooting { tx, .. }
            | State::Renewing { tx, .. }
            | State::Rebinding { tx, .. }
            | State::Informing { tx, .. } => Some(tx),
            _ => None,
        }
    };
}

impl State {
    /// The transaction awaiting a reply, if any.
    fn tx(&self) -> Option<&Tx> {
        tx_of!(self)
    }

    fn tx_mut(&mut self) -> Option<&mut Tx> {
        tx_of!(self)
    }

    /// What this state's transaction sends `now` (RFC 2131 Table 5);
    /// `None` for the states without one.
    fn dispatch(&self, now: Duration) -> Option<Dispatch> {
        let unspecified = Ipv4Addr::UNSPECIFIED;
        let acquire = |kind, ciaddr, extra| Dispatch {
            kind,
            ciaddr,
            to: Destination::Broadcast,
            extra,
            due: Due::Backoff,
        };
        Some(match self {
            State::Selecting(_) => acquire(MessageType::Discover, unspecified, vec![]),
            State::Requesting {
                offered, server, ..
            } => acquire(
                MessageType::Request,
                unspecified,
                vec![
                    DhcpOption::RequestedIpAddress(*offered),
                    DhcpOption::ServerIdentifier(*server),
                ],
            ),
            State::Rebooting { address, .. } => acquire(
                MessageType::Request,
                unspecified,
                vec![DhcpOption::RequestedIpAddress(*address)],
            ),
            State::Informing { address, .. } => acquire(MessageType::Inform, *address, vec![]),
            State::Renewing { bound, .. } => Dispatch {
                kind: MessageType::Request,
                ciaddr: bound.lease.address,
                to: Destination::Server(bound.server()),
                extra: vec![],
                due: Due::HalfWayTo(bound.t2.or(bound.expires).unwrap_or(now)),
            },
            State::Rebinding { bound, .. } => Dispatch {
                kind: MessageType::Request,
                ciaddr: bound.lease.address,
                to: Destination::Broadcast,
                extra: vec![],
                due: Due::HalfWayTo(bound.expires.unwrap_or(now)),
            },
            _ => return None,
        })
    }
}

/// A checked reply.
struct Reply {
    kind: u8,
    yiaddr: Ipv4Addr,
    raw: RawOptions,
}

const OFFER: u8 = 2;
const ACK: u8 = 5;
const NAK: u8 = 6;

/// The client: configuration plus RFC 2131 state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    config: Arc<ClientConfigEq>,
    state: State,
}

/// Wrapper so `Client` can derive `PartialEq` (configs compare by identity).
#[derive(Debug)]
struct ClientConfigEq(ClientConfig);

impl PartialEq for ClientConfigEq {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}
impl Eq for ClientConfigEq {}

impl Client {
    /// A client in INIT: `Start` sends DHCPDISCOVER.
    pub fn new(config: ClientConfig) -> Client {
        Client::with_state(config, State::Init { at: Duration::ZERO })
    }

    /// A client in INIT-REBOOT for a remembered address: `Start` sends a
    /// broadcast DHCPREQUEST for it (RFC 2131 §3.2).
    pub fn init_reboot(config: ClientConfig, address: Ipv4Addr) -> Client {
        Client::with_state(config, State::InitReboot { address })
    }

    /// A DHCPINFORM client for a fixed `address` (the legacy note): `Start`
    /// sends DHCPINFORM; the answer or a bounded give-up ends it.
    pub fn inform(config: ClientConfig, address: Ipv4Addr) -> Client {
        Client::with_state(config, State::InformInit { address })
    }

    fn with_state(config: ClientConfig, state: State) -> Client {
        Client {
            config: Arc::new(ClientConfigEq(config)),
            state,
        }
    }

    fn cfg(&self) -> &ClientConfig {
        &self.config.0
    }

    /// The configuration.
    pub fn config(&self) -> &ClientConfig {
        self.cfg()
    }

    /// The current state.
    pub fn state(&self) -> StateName {
        match &self.state {
            State::Init { .. } => StateName::Init,
            State::Selecting(_) => StateName::Selecting,
            State::Requesting { .. } => StateName::Requesting,
            State::InitReboot { .. } => StateName::InitReboot,
            State::Rebooting { .. } => StateName::Rebooting,
            State::Bound(_) => StateName::Bound,
            State::Renewing { .. } => StateName::Renewing,
            State::Rebinding { .. } => StateName::Rebinding,
            State::InformInit { .. } => StateName::InformInit,
            State::Informing { .. } => StateName::Informing,
            State::Informed => StateName::Informed,
            State::InformFailed => StateName::InformFailed,
            State::Released => StateName::Released,
        }
    }

    /// The lease in use (BOUND, RENEWING, REBINDING).
    pub fn lease(&self) -> Option<&Lease> {
        match &self.state {
            State::Bound(b)
            | State::Renewing { bound: b, .. }
            | State::Rebinding { bound: b, .. } => Some(&b.lease),
            _ => None,
        }
    }

    /// The fixed address of an INFORM client.
    pub fn inform_address(&self) -> Option<Ipv4Addr> {
        match &self.state {
            State::InformInit { address } | State::Informing { address, .. } => Some(*address),
            _ => None,
        }
    }

    /// The transaction id a reply must carry, if one is awaited.
    pub fn xid(&self) -> Option<u32> {
        self.tx().map(|t| t.xid)
    }

    fn tx(&self) -> Option<&Tx> {
        self.state.tx()
    }

    /// When to deliver the next [`Event::Timer`]; `None` when nothing is
    /// timed (final states, infinite lease, or waiting for `Start`).
    pub fn deadline(&self) -> Option<Duration> {
        match &self.state {
            State::Init { at } => Some(*at),
            State::Bound(b) => b.t1.or(b.expires),
            _ => self.tx().map(|t| t.next),
        }
    }

    /// Absolute T1, T2 and expiry of the lease in use.
    pub fn timers(&self) -> Option<(Option<Duration>, Option<Duration>, Option<Duration>)> {
        match &self.state {
            State::Bound(b)
            | State::Renewing { bound: b, .. }
            | State::Rebinding { bound: b, .. } => Some((b.t1, b.t2, b.expires)),
            _ => None,
        }
    }

    /// The state machine: the next client and what to do.
    pub fn handle(
        self,
        event: Event<'_>,
        now: Duration,
        rng: &mut dyn Random,
    ) -> (Client, Vec<Action>) {
        let mut out = Vec::new();
        let Client { config, state } = self;
        let mut c = Client {
            config,
            state: State::Released,
        };
        c.state = c.step(state, event, now, rng, &mut out);
        (c, out)
    }

    fn step(
        &self,
        state: State,
        event: Event<'_>,
        now: Duration,
        rng: &mut dyn Random,
        out: &mut Vec<Action>,
    ) -> State {
        // Packets first: validation is the same for every state.
        if let Event::Received(bytes) = event {
            return self.on_packet(state, bytes, now, rng, out);
        }
        match (state, event) {
            (
                State::Bound(b)
                | State::Renewing { bound: b, .. }
                | State::Rebinding { bound: b, .. },
                Event::Release,
            ) => {
                if !self.cfg().owns_its_binding() {
                    // The OS client's binding (same client id): releasing
                    // it would take the address the host is using.
                    out.push(Action::ReleaseSkipped {
                        address: b.lease.address,
                    });
                    return State::Released;
                }
                let xid = rng.next_u32();
                self.send(
                    out,
                    MessageType::Release,
                    xid,
                    0,
                    b.lease.address,
                    Destination::Server(b.server()),
                    &[DhcpOption::ServerIdentifier(b.server())],
                );
                out.push(Action::Deconfigure {
                    address: b.lease.address,
                    reason: LossReason::Released,
                });
                State::Released
            }
            (_, Event::Release) => State::Released,

            (State::Init { at }, Event::Start) => self.discover(now.max(at), rng, out),
            (State::Init { at }, Event::Timer) if now >= at => self.discover(now, rng, out),
            (State::InitReboot { address }, Event::Start) => {
                let tx = Tx::fresh(now, rng);
                self.transmit(State::Rebooting { tx, address }, now, rng, out)
            }
            (State::InformInit { address }, Event::Start) => {
                let tx = Tx::fresh(now, rng);
                self.transmit(State::Informing { tx, address }, now, rng, out)
            }
            (
                state @ (State::Selecting(_)
                | State::Requesting { .. }
                | State::Rebooting { .. }
                | State::Informing { .. }),
                Event::Timer,
            ) if state.tx().is_some_and(|tx| now >= tx.next) => {
                self.retransmit(state, now, rng, out)
            }
            (State::Bound(b), Event::Timer)
                if self.deadline_of_bound(&b).is_some_and(|d| now >= d) =>
            {
                self.lease_timer(b, None, now, rng, out)
            }
            (State::Renewing { bound, tx }, Event::Timer) if now >= tx.next => {
                self.lease_timer(bound, Some((StateName::Renewing, tx)), now, rng, out)
            }
            (State::Rebinding { bound, tx }, Event::Timer) if now >= tx.next => {
                self.lease_timer(bound, Some((StateName::Rebinding, tx)), now, rng, out)
            }
            (State::Bound(b), Event::Conflict) => {
                let xid = rng.next_u32();
                self.send(
                    out,
                    MessageType::Decline,
                    xid,
                    0,
                    Ipv4Addr::UNSPECIFIED,
                    Destination::Broadcast,
                    &[
                        DhcpOption::RequestedIpAddress(b.lease.address),
                        DhcpOption::ServerIdentifier(b.server()),
                    ],
                );
                out.push(Action::Deconfigure {
                    address: b.lease.address,
                    reason: LossReason::Declined,
                });
                State::Init {
                    at: now + self.cfg().decline_wait,
                }
            }
            (state, _) => state,
        }
    }

    fn deadline_of_bound(&self, b: &Bound) -> Option<Duration> {
        b.t1.or(b.expires)
    }

    /// T1, T2 and expiry, from BOUND, RENEWING or REBINDING.
    fn lease_timer(
        &self,
        bound: Bound,
        current: Option<(StateName, Tx)>,
        now: Duration,
        rng: &mut dyn Random,
        out: &mut Vec<Action>,
    ) -> State {
        let address = bound.lease.address;
        if bound.expires.is_some_and(|e| now >= e) {
            out.push(Action::Deconfigure {
                address,
                reason: LossReason::Expired,
            });
            return self.discover(now, rng, out);
        }
        let past_t2 = bound.t2.is_some_and(|t2| now >= t2);
        // New xid on entering a state; same xid for its retransmissions.
        let (tx, rebinding) = match current {
            Some((StateName::Rebinding, tx)) => (tx, true),
            Some((_, tx)) if !past_t2 => (tx, false),
            _ => (Tx::fresh(now, rng), past_t2),
        };
        let state = if rebinding {
            State::Rebinding { bound, tx }
        } else {
            State::Renewing { bound, tx }
        };
        self.transmit(state, now, rng, out)
    }

    /// INIT → SELECTING with a fresh xid.
    fn discover(&self, now: Duration, rng: &mut dyn Random, out: &mut Vec<Action>) -> State {
        let tx = Tx::fresh(now, rng);
        self.transmit(State::Selecting(tx), now, rng, out)
    }

    /// A transaction's timer while acquiring an address or informing:
    /// transmit again, or give up after the configured attempts (REQUESTING
    /// and REBOOTING then discover, INFORM stops). SELECTING never gives up.
    fn retransmit(
        &self,
        state: State,
        now: Duration,
        rng: &mut dyn Random,
        out: &mut Vec<Action>,
    ) -> State {
        let sent = state.tx().map_or(0, |tx| tx.sent);
        let cfg = self.cfg();
        match state {
            State::Requesting { .. } if sent >= cfg.request_attempts => {
                self.discover(now, rng, out)
            }
            State::Rebooting { .. } if sent >= cfg.reboot_attempts => self.discover(now, rng, out),
            State::Informing { .. } if sent >= cfg.inform_attempts => {
                out.push(Action::InformGaveUp { attempts: sent });
                State::InformFailed
            }
            state => self.transmit(state, now, rng, out),
        }
    }

    /// The one transmit path: sends what `state`'s transaction sends
    /// ([`State::dispatch`]) and schedules its next transmission.
    fn transmit(
        &self,
        mut state: State,
        now: Duration,
        rng: &mut dyn Random,
        out: &mut Vec<Action>,
    ) -> State {
        let Some(dispatch) = state.dispatch(now) else {
            return state;
        };
        let Some(tx) = state.tx_mut() else {
            return state;
        };
        let secs = match dispatch.due {
            Due::Backoff => secs_since(tx.first, now),
            Due::HalfWayTo(_) => 0,
        };
        self.send(
            out,
            dispatch.kind,
            tx.xid,
            secs,
            dispatch.ciaddr,
            dispatch.to,
            &dispatch.extra,
        );
        let next = match dispatch.due {
            Due::Backoff => now + backoff(tx.sent, rng),
            Due::HalfWayTo(deadline) => half_way(now, deadline),
        };
        *tx = tx.retransmitted(next);
        state
    }

    fn on_packet(
        &self,
        state: State,
        bytes: &[u8],
        now: Duration,
        rng: &mut dyn Random,
        out: &mut Vec<Action>,
    ) -> State {
        let Some(tx) = state.tx().copied() else {
            out.push(Action::Ignored(Ignored::NotWaiting));
            return state;
        };
        let reply = match check_reply(bytes, tx.xid, self.cfg().mac) {
            Ok(r) => r,
            Err(why) => {
                out.push(Action::Ignored(why));
                return state;
            }
        };
        let server = reply.raw.server_id();
        match (state, reply.kind) {
            (State::Selecting(tx), OFFER) => {
                if reply.yiaddr.is_unspecified() {
                    out.push(Action::Ignored(Ignored::NoAddress));
                    return State::Selecting(tx);
                }
                let Some(server) = server else {
                    out.push(Action::Ignored(Ignored::WrongServer(None)));
                    return State::Selecting(tx);
                };
                // Same xid for the REQUEST (RFC 2131 Table 5), fresh count.
                let requesting = State::Requesting {
                    tx: Tx { sent: 0, ..tx },
                    offered: reply.yiaddr,
                    server,
                };
                self.transmit(requesting, now, rng, out)
            }
            (
                State::Requesting {
                    tx,
                    offered,
                    server: chosen,
                },
                kind @ (ACK | NAK),
            ) => {
                // RFC 2131 §4.3.2: ACK and NAK carry option 54. A NAK
                // without it cannot be tied to the chosen server, so it is
                // ignored rather than let anyone on the link undo the lease.
                if server.is_some_and(|s| s != chosen) || (kind == NAK && server.is_none()) {
                    out.push(Action::Ignored(Ignored::WrongServer(server)));
                    return State::Requesting {
                        tx,
                        offered,
                        server: chosen,
                    };
                }
                if kind == NAK {
                    return self.discover(now, rng, out);
                }
                self.bind(reply, tx, false, out)
                    .unwrap_or(State::Requesting {
                        tx,
                        offered,
                        server: chosen,
                    })
            }
            (State::Rebooting { tx, address }, kind @ (ACK | NAK)) => {
                if kind == NAK {
                    return self.discover(now, rng, out);
                }
                self.bind(reply, tx, false, out)
                    .unwrap_or(State::Rebooting { tx, address })
            }
            // RENEWING talks to the lease's server only (unicast): a reply
            // naming another server, or a NAK naming none, is not its.
            (State::Renewing { bound, tx }, kind @ (ACK | NAK))
                if bound.lease.server_id.is_some()
                    && (server.is_some_and(|s| Some(s) != bound.lease.server_id)
                        || (kind == NAK && server.is_none())) =>
            {
                out.push(Action::Ignored(Ignored::WrongServer(server)));
                State::Renewing { bound, tx }
            }
            // REBINDING hears any server, but a NAK naming none is ignored.
            (State::Rebinding { bound, tx }, NAK) if server.is_none() => {
                out.push(Action::Ignored(Ignored::WrongServer(None)));
                State::Rebinding { bound, tx }
            }
            (State::Renewing { bound, .. } | State::Rebinding { bound, .. }, NAK) => {
                out.push(Action::Deconfigure {
                    address: bound.lease.address,
                    reason: LossReason::Nak,
                });
                self.discover(now, rng, out)
            }
            (State::Renewing { bound, tx }, ACK) => {
                self.rebound(bound, tx, false, reply, now, rng, out)
            }
            (State::Rebinding { bound, tx }, ACK) => {
                self.rebound(bound, tx, true, reply, now, rng, out)
            }
            (State::Informing { address, .. }, ACK) => {
                let lease = Lease::from_options(LeaseSource::Inform, address, &reply.raw);
                out.push(Action::Informed(lease));
                State::Informed
            }
            (state, kind) => {
                out.push(Action::Ignored(Ignored::Unexpected(Some(kind))));
                state
            }
        }
    }

    /// DHCPACK in RENEWING or REBINDING.
    #[allow(clippy::too_many_arguments)]
    fn rebound(
        &self,
        bound: Bound,
        tx: Tx,
        rebinding: bool,
        reply: Reply,
        now: Duration,
        rng: &mut dyn Random,
        out: &mut Vec<Action>,
    ) -> State {
        if reply.yiaddr.is_unspecified() {
            out.push(Action::Ignored(Ignored::NoAddress));
            return if rebinding {
                State::Rebinding { bound, tx }
            } else {
                State::Renewing { bound, tx }
            };
        }
        let renewed = reply.yiaddr == bound.lease.address;
        if !renewed {
            // A different address: the old one goes first.
            out.push(Action::Deconfigure {
                address: bound.lease.address,
                reason: LossReason::Nak,
            });
        }
        self.bind(reply, tx, renewed, out)
            .unwrap_or_else(|| self.discover(now, rng, out))
    }

    /// DHCPACK → BOUND; `None` (and an Ignored action) if it has no address.
    fn bind(&self, reply: Reply, tx: Tx, renewed: bool, out: &mut Vec<Action>) -> Option<State> {
        if reply.yiaddr.is_unspecified() {
            out.push(Action::Ignored(Ignored::NoAddress));
            return None;
        }
        let lease = Lease::from_options(LeaseSource::Dhcp, reply.yiaddr, &reply.raw);
        let bound = Bound::new(lease, tx.first);
        out.push(Action::Configure {
            lease: bound.lease.clone(),
            renewed,
        });
        Some(State::Bound(bound))
    }

    /// Builds and queues one message.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &self,
        out: &mut Vec<Action>,
        kind: MessageType,
        xid: u32,
        secs: u16,
        ciaddr: Ipv4Addr,
        to: Destination,
        extra: &[DhcpOption],
    ) {
        match build(self.cfg(), kind, xid, secs, ciaddr, extra) {
            Ok(bytes) => out.push(Action::Send(Outgoing {
                kind,
                xid,
                to,
                bytes,
            })),
            Err(e) => out.push(Action::Fault(e)),
        }
    }
}

fn secs_since(first: Duration, now: Duration) -> u16 {
    u16::try_from(now.saturating_sub(first).as_secs()).unwrap_or(u16::MAX)
}

/// Encodes one client message with dhcproto.
fn build(
    cfg: &ClientConfig,
    kind: MessageType,
    xid: u32,
    secs: u16,
    ciaddr: Ipv4Addr,
    extra: &[DhcpOption],
) -> Result<Vec<u8>, CodecError> {
    let z = Ipv4Addr::UNSPECIFIED;
    let mut msg = Message::new_with_id(xid, ciaddr, z, z, z, &cfg.mac.0);
    msg.set_secs(secs);
    // Without an address configured the kernel drops unicast replies, so
    // ask for broadcast ones (RFC 2131 §4.1) whenever ciaddr is not ours yet.
    if ciaddr.is_unspecified() && !matches!(kind, MessageType::Decline | MessageType::Release) {
        msg.set_flags(Flags::default().set_broadcast());
    }
    let opts = msg.opts_mut();
    opts.insert(DhcpOption::MessageType(kind));
    opts.insert(DhcpOption::ClientIdentifier(cfg.client_id.clone()));
    let full = matches!(
        kind,
        MessageType::Discover | MessageType::Request | MessageType::Inform
    );
    if full {
        opts.insert(DhcpOption::MaxMessageSize(1500));
        if let Some(vc) = &cfg.vendor_class {
            opts.insert(DhcpOption::ClassIdentifier(vc.clone()));
        }
        opts.insert(DhcpOption::ParameterRequestList(
            cfg.parameter_request_list
                .iter()
                .map(|c| OptionCode::from(*c))
                .collect(),
        ));
    }
    if full && kind != MessageType::Inform {
        if let Some(h) = &cfg.host_name {
            opts.insert(DhcpOption::Hostname(h.clone()));
        }
        if let Some(f) = &cfg.fqdn {
            let name = fqdn_name(f).map_err(|e| CodecError::Encode {
                kind: "FQDN",
                cause: e.to_string(),
            })?;
            // S: please update the A RR (R.1.2.2 step 1); E: wire encoding.
            let flags = v4::fqdn::FqdnFlags::default().set_s(true).set_e(true);
            let mut o = v4::fqdn::ClientFQDN::new(flags, name);
            // RFC 4702 §2.2: clients send 0 in the deprecated RCODE fields.
            o.set_r1(0).set_r2(0);
            opts.insert(DhcpOption::ClientFQDN(o));
        }
    }
    for o in extra {
        opts.insert(o.clone());
    }
    msg.to_vec().map_err(|e| CodecError::Encode {
        kind: kind_name(kind),
        cause: e.to_string(),
    })
}

fn kind_name(kind: MessageType) -> &'static str {
    match kind {
        MessageType::Discover => "DHCPDISCOVER",
        MessageType::Request => "DHCPREQUEST",
        MessageType::Decline => "DHCPDECLINE",
        MessageType::Release => "DHCPRELEASE",
        MessageType::Inform => "DHCPINFORM",
        _ => "DHCP message",
    }
}

/// Decodes only the fixed header with dhcproto. Its option decoder must not
/// see received options: besides stopping at the first bad option, it has
/// `debug_assert!`s on lengths of options 152–155 and a `len - 1` underflow
/// on option 151 (found by fuzz/fuzz_targets/dhcp_options.rs), which panic
/// in debug builds on hostile input. Options are split by
/// [`options::split_options`] instead.
fn decode_header(bytes: &[u8]) -> Result<Message, CodecError> {
    let mut head = bytes
        .get(..240)
        .ok_or(CodecError::TooShort { len: bytes.len() })?
        .to_vec();
    head.push(255);
    Message::decode(&mut Decoder::new(&head)).map_err(|e| CodecError::Header(e.to_string()))
}

/// Header checks every reply must pass: BOOTREPLY, our xid, our chaddr.
fn check_reply(bytes: &[u8], xid: u32, mac: Mac) -> Result<Reply, Ignored> {
    let raw = options::split_options(bytes).map_err(Ignored::Undecodable)?;
    let msg = decode_header(bytes).map_err(Ignored::Undecodable)?;
    if msg.opcode() != v4::Opcode::BootReply {
        return Err(Ignored::NotAReply);
    }
    if msg.xid() != xid {
        return Err(Ignored::WrongXid {
            expected: xid,
            got: msg.xid(),
        });
    }
    if msg.hlen() != 6 || msg.chaddr().get(..6) != Some(&mac.0[..]) {
        return Err(Ignored::WrongChaddr);
    }
    let kind = raw.message_type().ok_or(Ignored::Unexpected(None))?;
    Ok(Reply {
        kind,
        yiaddr: msg.yiaddr(),
        raw,
    })
}

/// Parses a received message's options into a lease for `address` (used by
/// the fuzz target and by tools that capture packets).
pub fn decode_lease(bytes: &[u8]) -> Result<Lease, CodecError> {
    let raw = options::split_options(bytes)?;
    let msg = decode_header(bytes)?;
    Ok(Lease::from_options(LeaseSource::Dhcp, msg.yiaddr(), &raw))
}
