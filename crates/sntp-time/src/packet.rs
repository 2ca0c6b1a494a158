//! One NTP exchange: the request/reply bytes and the judgement of a reply.
//!
//! The judgement is a pure function of the bytes, the request that was sent and
//! the receive time: it runs sntpc's own reply processing (origin timestamp,
//! mode, version, stratum, leap indicator, transmit time, root distance,
//! Kiss-o'-Death) over an in-memory replay of the datagram, so the live path
//! and the tests on captured packets go through exactly the same code.

use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use sntpc::{NtpContext, NtpTimestampGenerator, NtpUdpSocket, SendRequestResult};

use crate::clock::Clock;

/// NTP packet length without extensions.
pub const NTP_PACKET_LEN: usize = 48;

/// A Kiss-o'-Death code (stratum 0, RFC 5905 §7.4).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Kod {
    /// DENY: access denied; stop using the server.
    Deny,
    /// RSTR: access restricted; stop using the server.
    Rstr,
    /// RATE: polling too fast; back off.
    Rate,
    /// Any other code (discard the reply).
    Other(String),
}

impl Kod {
    fn from_sntpc(code: sntpc::KissOfDeathCode) -> Self {
        match code {
            sntpc::KissOfDeathCode::Deny => Kod::Deny,
            sntpc::KissOfDeathCode::Rstr => Kod::Rstr,
            sntpc::KissOfDeathCode::Rate => Kod::Rate,
            other => Kod::Other(
                other
                    .as_str()
                    .chars()
                    .filter(|c| c.is_ascii_graphic())
                    .collect(),
            ),
        }
    }

    /// What the client does about it (RFC 4330 §8, RFC 5905 §7.4).
    pub fn action(&self) -> KodAction {
        match self {
            Kod::Deny | Kod::Rstr => KodAction::StopUsing,
            Kod::Rate => KodAction::BackOff,
            Kod::Other(_) => KodAction::Discard,
        }
    }
}

impl std::fmt::Display for Kod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kod::Deny => f.write_str("DENY"),
            Kod::Rstr => f.write_str("RSTR"),
            Kod::Rate => f.write_str("RATE"),
            Kod::Other(c) => write!(f, "{c}"),
        }
    }
}

/// The consequence of a Kiss-o'-Death.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum KodAction {
    /// Never ask this server again (DENY, RSTR).
    StopUsing,
    /// Ask less often (RATE).
    BackOff,
    /// Ignore this reply only.
    Discard,
}

/// Why a reply was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// The origin timestamp is not our transmit timestamp: spoofed, stale or
    /// duplicated (RFC 5905 "bogus" check).
    #[error("origin timestamp does not match the request (spoofed or stale reply)")]
    OriginMismatch,
    /// The datagram came from another address than the one asked.
    #[error("reply came from {0}, not from the server asked")]
    WrongSource(SocketAddr),
    /// Shorter than an NTP header.
    #[error("reply shorter than 48 octets")]
    Short,
    /// Mode is not 4 (server).
    #[error("mode is not 4 (server)")]
    Mode,
    /// Version 0 or newer than ours.
    #[error("unsupported NTP version")]
    Version,
    /// Leap indicator 3: the server's clock is not synchronized.
    #[error("leap indicator 3: server clock not synchronized")]
    Unsynchronized,
    /// Stratum 16 or above.
    #[error("stratum 16 or more (unsynchronized)")]
    Stratum,
    /// Transmit timestamp zero, or not reconstructable.
    #[error("transmit timestamp zero or invalid")]
    Timestamp,
    /// Root distance beyond what NTP accepts (16 s).
    #[error("root distance too large")]
    RootDistance,
    /// Reference time after transmit time.
    #[error("reference timestamp after transmit timestamp")]
    BackwardReference,
    /// Kiss-o'-Death.
    #[error("Kiss-o'-Death {0}")]
    KissOfDeath(Kod),
    /// No reply within the timeout.
    #[error("no reply within {0:?}")]
    Timeout(Duration),
    /// Socket error.
    #[error("network: {0}")]
    Network(String),
}

impl Rejection {
    fn from_sntpc(e: sntpc::Error, from: SocketAddr) -> Self {
        match e {
            sntpc::Error::IncorrectOriginTimestamp => Rejection::OriginMismatch,
            sntpc::Error::IncorrectMode => Rejection::Mode,
            sntpc::Error::UnsynchronizedClock => Rejection::Unsynchronized,
            sntpc::Error::InvalidTimestamp => Rejection::Timestamp,
            sntpc::Error::ExcessiveRootDistance => Rejection::RootDistance,
            sntpc::Error::BackwardReferenceTimestamp => Rejection::BackwardReference,
            sntpc::Error::IncorrectResponseVersion => Rejection::Version,
            sntpc::Error::IncorrectStratumHeaders => Rejection::Stratum,
            sntpc::Error::IncorrectPayload => Rejection::Short,
            sntpc::Error::ResponseAddressMismatch => Rejection::WrongSource(from),
            sntpc::Error::KissOfDeath(code) => Rejection::KissOfDeath(Kod::from_sntpc(code)),
            other => Rejection::Network(format!("{other:?}")),
        }
    }
}

/// One valid measurement against one server.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Sample {
    /// θ: what to add to the local clock to match the server.
    pub offset: SignedDuration,
    /// δ: round-trip delay without the server's processing time.
    pub delay: Duration,
    /// Server stratum (1–15).
    pub stratum: u8,
    /// Leap indicator (0–2).
    pub leap: u8,
    /// Reference ID (for stratum 1 four ASCII letters, else an IPv4 address or hash).
    pub reference_id: [u8; 4],
    /// Server precision, log2 seconds.
    pub precision: i8,
    /// Root delay.
    pub root_delay: Duration,
    /// Root dispersion.
    pub root_dispersion: Duration,
    /// Local time the reply arrived (T4).
    pub received: Timestamp,
}

impl Sample {
    /// Root distance (RFC 5905): root delay / 2 + root dispersion.
    pub fn root_distance(&self) -> Duration {
        self.root_delay / 2 + self.root_dispersion
    }

    /// Error bound of this sample: delay / 2 + root distance.
    pub fn sync_distance(&self) -> Duration {
        self.delay / 2 + self.root_distance()
    }

    /// Reference ID as text: letters for stratum 1, dotted quad otherwise.
    pub fn reference_text(&self) -> String {
        let r = self.reference_id;
        if self.stratum == 1 {
            r.iter()
                .filter(|c| c.is_ascii_graphic())
                .map(|&c| char::from(c))
                .collect()
        } else {
            format!("{}.{}.{}.{}", r[0], r[1], r[2], r[3])
        }
    }
}

/// A sent request: what sntpc needs to check the reply, and the bytes sent.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    sent: SendRequestResult,
    /// The 48 octets sent (the transmit timestamp is octets 40..48).
    pub bytes: [u8; NTP_PACKET_LEN],
}

impl Request {
    /// The transmit timestamp we sent; a genuine reply echoes it as origin.
    pub fn transmit_timestamp(&self) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.bytes[40..48]);
        u64::from_be_bytes(b)
    }

    /// Builds a request without a network (the bytes are only captured), with
    /// `now` as transmit time. For fuzzing and offline tests.
    pub fn offline(now: Timestamp) -> Option<Self> {
        let sink = CaptureSocket::default();
        let addr = SocketAddr::from(([127, 0, 0, 1], 123));
        let sent =
            sntpc::sync::sntp_send_request(addr, &sink, NtpContext::new(FixedStamp::at(now)))
                .ok()?;
        Some(Request {
            sent,
            bytes: sink.last(),
        })
    }
}

/// Judges a reply: the pure core of the client. `received` is the local time
/// (T4) read right after the datagram arrived.
pub fn judge(
    server: SocketAddr,
    request: &Request,
    reply: &[u8],
    from: SocketAddr,
    received: Timestamp,
) -> Result<Sample, Rejection> {
    if reply.len() < NTP_PACKET_LEN {
        return Err(Rejection::Short);
    }
    let replay = ReplaySocket { reply, from };
    let result = sntpc::sync::sntp_process_response(
        server,
        &replay,
        NtpContext::new(FixedStamp::at(received)),
        request.sent,
    )
    .map_err(|e| Rejection::from_sntpc(e, from))?;
    // sntpc computes in microseconds; round trip never below its precision floor.
    let delay = Duration::from_micros(result.roundtrip);
    let offset = SignedDuration::from_micros(result.offset);
    Ok(Sample {
        offset,
        delay,
        stratum: result.stratum,
        leap: result.leap_indicator,
        reference_id: result.reference_id,
        precision: result.precision,
        root_delay: short_format(result.root_delay),
        root_dispersion: short_format(result.root_dispersion),
        received,
    })
}

/// NTP short format (16.16 fixed point seconds) to a duration.
fn short_format(v: u32) -> Duration {
    Duration::from_nanos((u64::from(v) * 1_000_000_000) >> 16)
}

/// Timestamp generator fixed at one instant (T1 for requests, T4 for replies).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FixedStamp {
    secs: u64,
    micros: u32,
}

impl FixedStamp {
    pub(crate) fn at(t: Timestamp) -> Self {
        let ns = t.as_nanosecond().max(0);
        FixedStamp {
            secs: u64::try_from(ns / 1_000_000_000).unwrap_or(0),
            micros: u32::try_from((ns % 1_000_000_000) / 1_000).unwrap_or(0),
        }
    }
}

impl NtpTimestampGenerator for FixedStamp {
    fn init(&mut self) {}
    fn timestamp_sec(&self) -> u64 {
        self.secs
    }
    fn timestamp_subsec_micros(&self) -> u32 {
        self.micros
    }
}

/// sntpc's timestamp generator on our [`Clock`]: `init` reads the clock.
#[derive(Clone, Copy)]
pub(crate) struct ClockStamp<'a> {
    clock: &'a dyn Clock,
    now: FixedStamp,
}

impl<'a> ClockStamp<'a> {
    pub(crate) fn new(clock: &'a dyn Clock) -> Self {
        ClockStamp {
            clock,
            now: FixedStamp::at(clock.now()),
        }
    }
}

impl NtpTimestampGenerator for ClockStamp<'_> {
    fn init(&mut self) {
        self.now = FixedStamp::at(self.clock.now());
    }
    fn timestamp_sec(&self) -> u64 {
        self.now.secs
    }
    fn timestamp_subsec_micros(&self) -> u32 {
        self.now.micros
    }
}

/// Hands one captured datagram to sntpc.
struct ReplaySocket<'a> {
    reply: &'a [u8],
    from: SocketAddr,
}

impl NtpUdpSocket for ReplaySocket<'_> {
    async fn send_to(&self, buf: &[u8], _addr: SocketAddr) -> sntpc::Result<usize> {
        Ok(buf.len())
    }
    async fn recv_from(&self, buf: &mut [u8]) -> sntpc::Result<(usize, SocketAddr)> {
        let n = self.reply.len().min(buf.len());
        buf[..n].copy_from_slice(&self.reply[..n]);
        Ok((n, self.from))
    }
}

/// Captures what sntpc sends.
struct CaptureSocket {
    sent: Mutex<[u8; NTP_PACKET_LEN]>,
}

impl Default for CaptureSocket {
    fn default() -> Self {
        CaptureSocket {
            sent: Mutex::new([0; NTP_PACKET_LEN]),
        }
    }
}

impl CaptureSocket {
    fn last(&self) -> [u8; NTP_PACKET_LEN] {
        *self
            .sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl NtpUdpSocket for CaptureSocket {
    async fn send_to(&self, buf: &[u8], _addr: SocketAddr) -> sntpc::Result<usize> {
        let mut s = self
            .sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = buf.len().min(NTP_PACKET_LEN);
        s[..n].copy_from_slice(&buf[..n]);
        Ok(buf.len())
    }
    async fn recv_from(&self, _buf: &mut [u8]) -> sntpc::Result<(usize, SocketAddr)> {
        Err(sntpc::Error::Network)
    }
}

/// sntpc's socket trait on a tokio UDP socket; remembers the bytes it sent.
pub struct TokioNtpSocket {
    socket: tokio::net::UdpSocket,
    sent: Mutex<[u8; NTP_PACKET_LEN]>,
}

impl TokioNtpSocket {
    /// Wraps a bound socket.
    pub fn new(socket: tokio::net::UdpSocket) -> Self {
        TokioNtpSocket {
            socket,
            sent: Mutex::new([0; NTP_PACKET_LEN]),
        }
    }

    /// Sends a request with T1 from `clock` through sntpc.
    pub async fn send_request(
        &self,
        server: SocketAddr,
        clock: &dyn Clock,
    ) -> Result<Request, Rejection> {
        let sent = sntpc::sntp_send_request(server, self, NtpContext::new(ClockStamp::new(clock)))
            .await
            .map_err(|e| Rejection::Network(format!("send to {server}: {e:?}")))?;
        let bytes = *self
            .sent
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(Request { sent, bytes })
    }

    /// Waits for one datagram; returns it, its source and T4 read from `clock`.
    pub async fn receive(
        &self,
        clock: &dyn Clock,
        timeout: Duration,
    ) -> Result<(Vec<u8>, SocketAddr, Timestamp), Rejection> {
        let mut buf = vec![0u8; 1024];
        match tokio::time::timeout(timeout, NtpUdpSocket::recv_from(self, &mut buf)).await {
            Err(_) => Err(Rejection::Timeout(timeout)),
            Ok(Err(e)) => Err(Rejection::Network(format!("{e:?}"))),
            Ok(Ok((n, from))) => {
                let t4 = clock.now();
                buf.truncate(n);
                Ok((buf, from, t4))
            }
        }
    }
}

impl NtpUdpSocket for TokioNtpSocket {
    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> sntpc::Result<usize> {
        {
            let mut s = self
                .sent
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let n = buf.len().min(NTP_PACKET_LEN);
            s[..n].copy_from_slice(&buf[..n]);
        }
        self.socket
            .send_to(buf, addr)
            .await
            .map_err(|_| sntpc::Error::Network)
    }
    async fn recv_from(&self, buf: &mut [u8]) -> sntpc::Result<(usize, SocketAddr)> {
        self.socket
            .recv_from(buf)
            .await
            .map_err(|_| sntpc::Error::Network)
    }
}

/// A valid sample for unit tests: `offset_ms` from a stratum 2 server at
/// 127.0.0.1, `delay_ms` round trip.
#[cfg(test)]
pub(crate) fn test_sample(offset_ms: i64, delay_ms: u64) -> Sample {
    Sample {
        offset: SignedDuration::from_millis(offset_ms),
        delay: Duration::from_millis(delay_ms),
        stratum: 2,
        leap: 0,
        reference_id: [127, 0, 0, 1],
        precision: -20,
        root_delay: Duration::ZERO,
        root_dispersion: Duration::ZERO,
        received: Timestamp::UNIX_EPOCH,
    }
}
