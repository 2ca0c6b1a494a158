//! The tokio driver: resolve, connect, TLS, associate, echo, release, each
//! timed and bounded. Decisions live in `pdu`, `dimse` and `report`.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu};
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::dimse;
use crate::pdu::{self, HEADER_LEN, Incoming, NegotiatedContext, PduError, ProposedContext};
#[cfg(feature = "tls")]
use crate::report::CertVerification;
use crate::report::{
    Ending, Error, Phase, ProbeReport, Timings, TlsReport, TransportErrorKind, decide,
};
use crate::target::{ProbeOptions, Target};
use crate::tls::Seen;
#[cfg(feature = "tls")]
use crate::tls::{cert_info, client_config};
use annexr_model::AeTitle;

/// A TCP stream that acknowledges received data at once (Linux `TCP_QUICKACK`,
/// re-armed before every read, since the kernel drops back to delayed ACKs).
///
/// Why: DCMTK writes a P-DATA PDU header and its body in two `write`s without
/// `TCP_NODELAY`, so Nagle holds the body until the header is acknowledged;
/// with the receiver's delayed ACK that costs ~40 ms per response, which
/// would be timed as the peer's. Acknowledging at once removes that artifact.
// The flag is read only where TCP_QUICKACK exists (Linux).
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
struct AckNow(TcpStream, bool);

impl AckNow {
    fn arm(&self) {
        #[cfg(target_os = "linux")]
        if self.1 {
            let _ = socket2::SockRef::from(&self.0).set_tcp_quickack(true);
        }
    }
}

impl AsyncRead for AckNow {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.arm();
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for AckNow {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// How long a courtesy A-ABORT or TLS close may take after a failure.
const GOODBYE_LIMIT: Duration = Duration::from_millis(200);

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// One probe in progress: the clock, the limits and what was learned so far.
struct Run {
    peer: String,
    started: Instant,
    deadline: Option<Instant>,
    timings: Timings,
    contexts: Vec<NegotiatedContext>,
    peer_info: Option<pdu::PeerInfo>,
    echo: Option<dimse::EchoResponse>,
    ending: Ending,
    warnings: Vec<String>,
}

impl Run {
    /// The limit for a phase: its own limit, cut by the whole-probe deadline.
    fn limit(&self, own: Duration) -> Duration {
        match self.deadline {
            Some(d) => own.min(d.saturating_duration_since(Instant::now())),
            None => own,
        }
    }

    fn transport(&self, phase: Phase, kind: TransportErrorKind, cause: impl ToString) -> Error {
        Error::Transport {
            peer: self.peer.clone(),
            phase,
            kind,
            cause: cause.to_string(),
        }
    }

    fn timed_out(&self, phase: Phase, limit: Duration) -> Error {
        self.transport(
            phase,
            TransportErrorKind::TimedOut,
            format!("no answer within {} ms", limit.as_millis()),
        )
    }

    fn protocol(&self, phase: Phase, cause: impl ToString) -> Error {
        Error::Protocol {
            peer: self.peer.clone(),
            phase,
            cause: cause.to_string(),
        }
    }

    /// Map a failed read of a PDU to an error of `phase`.
    fn read_failure(&self, phase: Phase, fail: ReadFail) -> Error {
        match fail {
            ReadFail::Io(e) => self.transport(phase, TransportErrorKind::of(&e), e),
            ReadFail::Pdu(e) => self.protocol(phase, e),
        }
    }

    /// Map a received PDU that is not the expected one to an error of `phase`.
    fn unexpected(&self, phase: Phase, incoming: Incoming) -> Error {
        match incoming {
            Incoming::Abort(abort) => Error::Aborted {
                peer: self.peer.clone(),
                phase,
                abort: Box::new(abort),
            },
            Incoming::Reject(rejection) if phase == Phase::Associate => Error::Rejected {
                peer: self.peer.clone(),
                rejection: Box::new(rejection),
            },
            other => self.protocol(phase, format!("unexpected {}", describe(&other))),
        }
    }
}

fn describe(incoming: &Incoming) -> String {
    match incoming {
        Incoming::Accept(_) => "A-ASSOCIATE-AC".into(),
        Incoming::Reject(_) => "A-ASSOCIATE-RJ".into(),
        Incoming::Abort(_) => "A-ABORT".into(),
        Incoming::PData(_) => "P-DATA-TF".into(),
        Incoming::ReleaseRq => "A-RELEASE-RQ".into(),
        Incoming::ReleaseRp => "A-RELEASE-RP".into(),
        Incoming::Other { pdu_type } => format!("PDU of type {pdu_type:#04x}"),
    }
}

enum ReadFail {
    Io(std::io::Error),
    Pdu(PduError),
}

/// Read one PDU: the header, then exactly the body it announces.
async fn read_incoming<S: AsyncRead + Unpin>(s: &mut S) -> Result<Incoming, ReadFail> {
    let mut header = [0u8; HEADER_LEN];
    s.read_exact(&mut header).await.map_err(ReadFail::Io)?;
    let (_, length) = pdu::parse_header(&header).map_err(ReadFail::Pdu)?;
    let mut whole = vec![0u8; HEADER_LEN + length as usize];
    whole[..HEADER_LEN].copy_from_slice(&header);
    s.read_exact(&mut whole[HEADER_LEN..])
        .await
        .map_err(ReadFail::Io)?;
    pdu::decode_pdu(&whole).map_err(ReadFail::Pdu)
}

async fn write_pdu<S: AsyncWrite + Unpin>(s: &mut S, p: &Pdu) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(256);
    dicom_ul::write_pdu(&mut bytes, p).map_err(std::io::Error::other)?;
    s.write_all(&bytes).await?;
    s.flush().await
}

/// Run `fut` within `limit`, mapping the elapsed limit to a timeout of `phase`.
async fn bounded<T, F>(run: &Run, phase: Phase, own: Duration, fut: F) -> Result<T, Error>
where
    F: std::future::Future<Output = Result<T, Error>>,
{
    let limit = run.limit(own);
    match tokio::time::timeout(limit, fut).await {
        Ok(r) => r,
        Err(_) => Err(run.timed_out(phase, limit)),
    }
}

/// Send a PDU and read the answer, within `own`.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    run: &Run,
    s: &mut S,
    phase: Phase,
    own: Duration,
    send: &Pdu,
) -> Result<Incoming, Error> {
    bounded(run, phase, own, async {
        write_pdu(s, send)
            .await
            .map_err(|e| run.transport(phase, TransportErrorKind::of(&e), e))?;
        read_incoming(s)
            .await
            .map_err(|f| run.read_failure(phase, f))
    })
    .await
}

/// Probe one peer. `Err` only for a target that cannot be probed at all
/// (invalid AE title, unusable TLS settings); every network outcome,
/// failures included, is in the `Ok` report.
pub async fn probe(target: &Target, opts: &ProbeOptions) -> Result<ProbeReport, Error> {
    let peer = target.peer_name();
    for title in [&target.called_ae, &target.calling_ae] {
        AeTitle::new(title).map_err(|cause| Error::InvalidTarget {
            peer: peer.clone(),
            cause: cause.to_string(),
        })?;
    }
    let seen = Arc::new(Mutex::new(Seen::default()));
    let tls_config = match &target.tls {
        #[cfg(not(feature = "tls"))]
        Some(_) => {
            return Err(Error::TlsSetup {
                peer,
                cause: NO_TLS.into(),
            });
        }
        #[cfg(feature = "tls")]
        Some(t) => Some(
            client_config(t, seen.clone()).map_err(|cause| Error::TlsSetup {
                peer: peer.clone(),
                cause,
            })?,
        ),
        None => None,
    };
    let server_name = match &target.tls {
        Some(t) => {
            let name = t.server_name.clone().unwrap_or_else(|| target.host.clone());
            Some(
                ServerName::try_from(name.clone()).map_err(|e| Error::TlsSetup {
                    peer: peer.clone(),
                    cause: format!("server name {name:?}: {e}"),
                })?,
            )
        }
        None => None,
    };
    let started = Instant::now();
    let mut run = Run {
        peer,
        started,
        deadline: opts.total_timeout.map(|t| started + t),
        timings: Timings::default(),
        contexts: Vec::new(),
        peer_info: None,
        echo: None,
        ending: Ending::NotAssociated,
        warnings: Vec::new(),
    };
    let mut resolved = Vec::new();
    let mut connected_to = None;
    let mut tls_report = None;
    let failure = drive(
        &mut run,
        target,
        opts,
        &mut resolved,
        &mut connected_to,
        tls_config.zip(server_name),
        &seen,
        &mut tls_report,
    )
    .await
    .err();
    run.timings.total_us = micros(run.started.elapsed());
    #[cfg(feature = "tls")]
    if let (Some(report), Ok(seen)) = (&mut tls_report, seen.lock())
        && report.peer_certificate.is_none()
    {
        report.peer_certificate = seen.end_entity.as_deref().and_then(cert_info);
        if let Some(o) = &seen.outcome {
            report.verification = o.clone();
        }
    }
    let verdict = decide(failure.as_ref(), &run.contexts, run.echo.as_ref());
    Ok(ProbeReport {
        target: target.summary(),
        resolved,
        connected_to,
        timings: run.timings,
        tls: tls_report,
        contexts: run.contexts,
        peer: run.peer_info,
        echo: run.echo,
        ending: run.ending,
        failure,
        warnings: run.warnings,
        verdict,
    })
}

/// Why a TLS target cannot be probed by a build without the `tls` feature.
#[cfg(not(feature = "tls"))]
const NO_TLS: &str = "this build has no DICOM TLS (annexr-probe feature `tls` is off)";

#[allow(clippy::too_many_arguments)]
async fn drive(
    run: &mut Run,
    target: &Target,
    opts: &ProbeOptions,
    resolved: &mut Vec<SocketAddr>,
    connected_to: &mut Option<SocketAddr>,
    tls: Option<(rustls::ClientConfig, ServerName<'static>)>,
    seen: &Arc<Mutex<Seen>>,
    tls_report: &mut Option<TlsReport>,
) -> Result<(), Error> {
    // Resolve.
    let t = Instant::now();
    *resolved = match target.host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, target.port)],
        Err(_) => {
            let host = target.host.clone();
            let port = target.port;
            let r = &*run;
            bounded(r, Phase::Resolve, opts.connect_timeout, async move {
                tokio::net::lookup_host((host.as_str(), port))
                    .await
                    .map(Iterator::collect::<Vec<_>>)
                    .map_err(|e| {
                        r.transport(Phase::Resolve, TransportErrorKind::NameNotResolved, e)
                    })
            })
            .await?
        }
    };
    run.timings.resolve_us = Some(micros(t.elapsed()));
    if resolved.is_empty() {
        return Err(run.transport(
            Phase::Resolve,
            TransportErrorKind::NameNotResolved,
            "no address",
        ));
    }

    // Connect: each address in turn, within one connect budget.
    let t = Instant::now();
    let budget_end = t + run.limit(opts.connect_timeout);
    let mut last = None;
    let mut stream = None;
    for addr in resolved.iter() {
        let left = budget_end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => {
                stream = Some((s, *addr));
                break;
            }
            Ok(Err(e)) => {
                last = Some(run.transport(
                    Phase::Connect,
                    TransportErrorKind::of(&e),
                    format!("{addr}: {e}"),
                ))
            }
            Err(_) => {
                last = Some(run.timed_out(Phase::Connect, opts.connect_timeout.min(left)));
                break;
            }
        }
    }
    let Some((tcp, addr)) = stream else {
        run.timings.connect_us = Some(micros(t.elapsed()));
        return Err(last.unwrap_or_else(|| run.timed_out(Phase::Connect, Duration::ZERO)));
    };
    run.timings.connect_us = Some(micros(t.elapsed()));
    *connected_to = Some(addr);
    // DICOM exchanges are small request/response PDUs: do not wait for Nagle.
    let _ = tcp.set_nodelay(true);
    let tcp = AckNow(tcp, opts.quick_ack);

    match tls {
        None => converse(run, tcp, target, opts).await,
        // Not reached: probe() refuses a TLS target before any I/O.
        #[cfg(not(feature = "tls"))]
        Some(_) => {
            let _ = (seen, tls_report);
            Err(Error::TlsSetup {
                peer: run.peer.clone(),
                cause: NO_TLS.into(),
            })
        }
        #[cfg(feature = "tls")]
        Some((config, name)) => {
            let t = Instant::now();
            let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
            *tls_report = Some(TlsReport {
                handshake_us: None,
                protocol: None,
                cipher_suite: None,
                peer_certificate: None,
                verification: CertVerification::NotChecked,
            });
            let r = &*run;
            let stream = bounded(r, Phase::TlsHandshake, opts.response_timeout, async {
                connector.connect(name, tcp).await.map_err(|e| {
                    let cert_failed = seen
                        .lock()
                        .ok()
                        .and_then(|s| s.outcome.clone())
                        .is_some_and(|o| matches!(o, CertVerification::Failed { .. }));
                    let kind = if cert_failed {
                        TransportErrorKind::TlsCertificate
                    } else if matches!(TransportErrorKind::of(&e), TransportErrorKind::Other) {
                        TransportErrorKind::TlsHandshake
                    } else {
                        TransportErrorKind::of(&e)
                    };
                    r.transport(Phase::TlsHandshake, kind, e)
                })
            })
            .await;
            let us = micros(t.elapsed());
            run.timings.tls_handshake_us = Some(us);
            let stream = stream?;
            if let Some(report) = tls_report.as_mut() {
                let (_, conn) = stream.get_ref();
                report.handshake_us = Some(us);
                report.protocol = conn.protocol_version().map(|v| format!("{v:?}"));
                report.cipher_suite = conn
                    .negotiated_cipher_suite()
                    .map(|c| format!("{:?}", c.suite()));
            }
            converse(run, stream, target, opts).await
        }
    }
}

/// Associate, echo and release over an open stream.
async fn converse<S: AsyncRead + AsyncWrite + Unpin>(
    run: &mut Run,
    mut s: S,
    target: &Target,
    opts: &ProbeOptions,
) -> Result<(), Error> {
    let proposed: Vec<ProposedContext> = opts.effective_contexts();
    let rq = pdu::association_rq(target.calling_ae.trim(), target.called_ae.trim(), &proposed);

    // Associate.
    let t = Instant::now();
    let answer = exchange(run, &mut s, Phase::Associate, opts.response_timeout, &rq).await;
    run.timings.associate_us = Some(micros(t.elapsed()));
    if let Err(Error::Transport {
        kind: TransportErrorKind::Reset | TransportErrorKind::ClosedByPeer,
        ..
    }) = &answer
    {
        run.warnings.push(
            "the peer dropped the connection on our A-ASSOCIATE-RQ without an A-ASSOCIATE-RJ: \
             it may expect TLS on this port (or plain TCP, if we used TLS), limit the hosts it \
             accepts, or not be a DICOM application"
                .into(),
        );
    }
    let ac = match answer? {
        Incoming::Accept(ac) => ac,
        other => {
            let e = run.unexpected(Phase::Associate, other);
            if matches!(e, Error::Protocol { .. }) {
                goodbye(&mut s, true).await;
            } else {
                run.ending = Ending::EndedByPeer;
            }
            return Err(e);
        }
    };
    let (contexts, info) = pdu::negotiate(&proposed, &ac);
    run.contexts = contexts;
    run.peer_info = Some(info);
    run.ending = Ending::ReleaseUnanswered;

    // Echo, on the first accepted Verification context.
    let echo_result = match run
        .contexts
        .iter()
        .find(|c| c.accepted() && c.abstract_syntax == crate::VERIFICATION)
        .map(|c| c.id)
    {
        Some(id) => echo(run, &mut s, id, opts).await,
        None => {
            // Not a failure of the probe: the negotiation result is the answer.
            run.warnings.push(
                "no presentation context for Verification was accepted, so no C-ECHO was sent"
                    .into(),
            );
            Ok(())
        }
    };
    match &echo_result {
        // A failed exchange leaves the association in an unknown state: abort it.
        Err(Error::Transport { .. } | Error::Protocol { .. })
            if run.echo.is_none() && run.timings.echo_us.is_some() =>
        {
            goodbye(&mut s, true).await;
            run.ending = Ending::AbortedByUs;
            return echo_result;
        }
        Err(Error::Aborted { .. }) => {
            run.ending = Ending::EndedByPeer;
            return echo_result;
        }
        _ => {}
    }

    // Release.
    let t = Instant::now();
    let released = exchange(
        run,
        &mut s,
        Phase::Release,
        opts.response_timeout,
        &Pdu::ReleaseRQ,
    )
    .await;
    run.timings.release_us = Some(micros(t.elapsed()));
    match released {
        Ok(Incoming::ReleaseRp) => run.ending = Ending::Released,
        Ok(Incoming::ReleaseRq) => {
            // Release collision (PS3.8 9.2.4): answer it; the association is over.
            let _ = write_pdu(&mut s, &Pdu::ReleaseRP).await;
            run.ending = Ending::Released;
        }
        Ok(Incoming::Abort(a)) => {
            run.ending = Ending::EndedByPeer;
            run.warnings.push(format!(
                "the peer answered A-RELEASE-RQ with A-ABORT ({} / {})",
                a.source_text, a.reason_text
            ));
        }
        Ok(other) => {
            goodbye(&mut s, true).await;
            run.ending = Ending::AbortedByUs;
            run.warnings.push(format!(
                "the peer answered A-RELEASE-RQ with {}",
                describe(&other)
            ));
        }
        Err(e) => {
            run.ending = Ending::ReleaseUnanswered;
            run.warnings
                .push(format!("the association was not released cleanly: {e}"));
        }
    }
    if run.ending == Ending::Released {
        goodbye(&mut s, false).await;
    }
    echo_result
}

/// C-ECHO-RQ on context `id`, then read the C-ECHO-RSP.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(
    run: &mut Run,
    s: &mut S,
    id: u8,
    opts: &ProbeOptions,
) -> Result<(), Error> {
    let command = dimse::echo_rq(opts.message_id, crate::VERIFICATION)
        .map_err(|e| run.protocol(Phase::Echo, e))?;
    let rq = Pdu::PData {
        data: vec![PDataValue {
            presentation_context_id: id,
            value_type: PDataValueType::Command,
            is_last: true,
            data: command,
        }],
    };
    let t = Instant::now();
    run.timings.echo_us = Some(0);
    let r = &*run;
    let result = bounded(r, Phase::Echo, opts.response_timeout, async {
        write_pdu(s, &rq)
            .await
            .map_err(|e| r.transport(Phase::Echo, TransportErrorKind::of(&e), e))?;
        // The response command may arrive in several PDVs and PDUs.
        let mut command = Vec::new();
        loop {
            match read_incoming(s).await.map_err(|f| r.read_failure(Phase::Echo, f))? {
                Incoming::PData(values) => {
                    for v in values {
                        if v.presentation_context_id != id
                            || v.value_type != PDataValueType::Command
                        {
                            return Err(r.protocol(
                                Phase::Echo,
                                format!(
                                    "response on context {} ({:?}), expected a command on context {id}",
                                    v.presentation_context_id, v.value_type
                                ),
                            ));
                        }
                        command.extend_from_slice(&v.data);
                        if v.is_last {
                            return dimse::read_echo_rsp(&command)
                                .map_err(|e| r.protocol(Phase::Echo, e));
                        }
                    }
                }
                other => return Err(r.unexpected(Phase::Echo, other)),
            }
        }
    })
    .await;
    run.timings.echo_us = Some(micros(t.elapsed()));
    let rsp = result?;
    if rsp.command_field != dimse::C_ECHO_RSP {
        return Err(run.protocol(
            Phase::Echo,
            format!(
                "response command field {:#06x}, expected C-ECHO-RSP",
                rsp.command_field
            ),
        ));
    }
    if rsp.responded_to != Some(opts.message_id) {
        run.warnings.push(format!(
            "the C-ECHO-RSP answers message {:?}, we sent {}",
            rsp.responded_to, opts.message_id
        ));
    }
    run.echo = Some(rsp);
    Ok(())
}

/// Leave politely and quickly: an A-ABORT after a failure, then shut the
/// stream down (TLS close_notify), never waiting longer than [`GOODBYE_LIMIT`].
async fn goodbye<S: AsyncWrite + Unpin>(s: &mut S, abort: bool) {
    let _ = tokio::time::timeout(GOODBYE_LIMIT, async {
        if abort {
            let _ = write_pdu(
                s,
                &Pdu::AbortRQ {
                    source: dicom_ul::pdu::AbortRQSource::ServiceUser,
                },
            )
            .await;
        }
        let _ = s.shutdown().await;
    })
    .await;
}
