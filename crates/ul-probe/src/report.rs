//! The probe's typed report, its verdict (a pure function of what happened),
//! and its text form. Everything serializes to JSON.

use std::fmt;
use std::net::SocketAddr;

use serde::Serialize;

use crate::codes::{Abort, Rejection, dimse_status_text, uid_name};
use crate::dimse::EchoResponse;
use crate::pdu::{NegotiatedContext, PeerInfo};

/// The phases of a probe, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Phase {
    /// Host name to addresses.
    Resolve,
    /// TCP connect.
    Connect,
    /// TLS handshake (TLS targets only).
    TlsHandshake,
    /// A-ASSOCIATE-RQ to A-ASSOCIATE-AC/RJ.
    Associate,
    /// C-ECHO-RQ to C-ECHO-RSP.
    Echo,
    /// A-RELEASE-RQ to A-RELEASE-RP.
    Release,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Resolve => "resolve",
            Phase::Connect => "TCP connect",
            Phase::TlsHandshake => "TLS handshake",
            Phase::Associate => "associate",
            Phase::Echo => "C-ECHO",
            Phase::Release => "release",
        })
    }
}

/// Transport failures told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// The host name has no address.
    NameNotResolved,
    /// Connection refused: nothing listens on that port (or a firewall rejects).
    Refused,
    /// No route to the host or network.
    Unreachable,
    /// The peer reset the connection.
    Reset,
    /// No answer within the timeout.
    TimedOut,
    /// The peer closed the connection without a PDU saying why.
    ClosedByPeer,
    /// The TLS handshake failed (protocol, cipher suites, or a refused client certificate).
    TlsHandshake,
    /// The peer's certificate did not verify.
    TlsCertificate,
    /// Any other I/O error.
    Other,
}

impl TransportErrorKind {
    /// Classify an I/O error.
    pub fn of(e: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        match e.kind() {
            K::ConnectionRefused => Self::Refused,
            K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable => Self::Unreachable,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => Self::Reset,
            K::TimedOut | K::WouldBlock => Self::TimedOut,
            K::UnexpectedEof => Self::ClosedByPeer,
            _ => Self::Other,
        }
    }
}

impl fmt::Display for TransportErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NameNotResolved => "host name not resolved",
            Self::Refused => "connection refused (nothing listens on that port)",
            Self::Unreachable => "host or network unreachable",
            Self::Reset => "connection reset by the peer",
            Self::TimedOut => "timed out",
            Self::ClosedByPeer => "connection closed by the peer",
            Self::TlsHandshake => "TLS handshake failed",
            Self::TlsCertificate => "peer certificate not trusted",
            Self::Other => "I/O error",
        })
    }
}

/// Everything that can stop a probe, naming the peer, the step and the cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Error {
    /// The target is not valid (checked before any I/O).
    #[error("probe of {peer}: invalid target: {cause}")]
    InvalidTarget {
        /// The peer, as `CALLED@host:port`.
        peer: String,
        /// What is wrong.
        cause: String,
    },
    /// The TLS settings cannot be used (checked before any I/O).
    #[error("probe of {peer}: TLS setup: {cause}")]
    TlsSetup {
        /// The peer.
        peer: String,
        /// What is wrong.
        cause: String,
    },
    /// Resolve, connect, TLS or a read/write failed.
    #[error("probe of {peer}: {phase}: {kind}: {cause}")]
    Transport {
        /// The peer.
        peer: String,
        /// The phase.
        phase: Phase,
        /// What kind of failure.
        kind: TransportErrorKind,
        /// The underlying error.
        cause: String,
    },
    /// The peer sent A-ASSOCIATE-RJ.
    #[error("probe of {peer}: association rejected: {} ({}, {}): {}",
        .rejection.reason_text, .rejection.result_text, .rejection.source_text, .rejection.likely_cause)]
    Rejected {
        /// The peer.
        peer: String,
        /// The decoded rejection.
        rejection: Box<Rejection>,
    },
    /// The peer sent A-ABORT.
    #[error("probe of {peer}: {phase}: aborted by the peer: {} / {}: {}",
        .abort.source_text, .abort.reason_text, .abort.likely_cause)]
    Aborted {
        /// The peer.
        peer: String,
        /// The phase in which the abort arrived.
        phase: Phase,
        /// The decoded abort.
        abort: Box<Abort>,
    },
    /// The peer sent something the protocol does not allow there.
    #[error("probe of {peer}: {phase}: protocol error: {cause}")]
    Protocol {
        /// The peer.
        peer: String,
        /// The phase.
        phase: Phase,
        /// What was wrong.
        cause: String,
    },
    /// The blocking facade could not start its runtime.
    #[error("blocking facade: cannot start the tokio runtime: {0}")]
    Runtime(#[source] RuntimeCause),
}

/// The operating system's refusal to start a runtime, kept typed: an
/// `io::Error` shared so that [`Error`] stays `Clone`, compared by kind and
/// text, serialized as `{"cause": "..."}`.
#[derive(Debug, Clone, thiserror::Error)]
#[error(transparent)]
pub struct RuntimeCause(std::sync::Arc<std::io::Error>);

impl RuntimeCause {
    /// The OS error.
    pub fn io(&self) -> &std::io::Error {
        &self.0
    }
}

impl From<std::io::Error> for RuntimeCause {
    fn from(e: std::io::Error) -> Self {
        RuntimeCause(std::sync::Arc::new(e))
    }
}

impl PartialEq for RuntimeCause {
    fn eq(&self, other: &Self) -> bool {
        self.0.kind() == other.0.kind() && self.0.to_string() == other.0.to_string()
    }
}

impl Eq for RuntimeCause {}

impl Serialize for RuntimeCause {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("RuntimeCause", 1)?;
        st.serialize_field("cause", &self.0.to_string())?;
        st.end()
    }
}

/// Duration of each phase in microseconds (`None`: not reached).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Timings {
    /// Name resolution.
    pub resolve_us: Option<u64>,
    /// TCP connect.
    pub connect_us: Option<u64>,
    /// TLS handshake.
    pub tls_handshake_us: Option<u64>,
    /// A-ASSOCIATE-RQ to AC/RJ.
    pub associate_us: Option<u64>,
    /// C-ECHO-RQ to C-ECHO-RSP.
    pub echo_us: Option<u64>,
    /// A-RELEASE-RQ to RP.
    pub release_us: Option<u64>,
    /// The whole probe.
    pub total_us: u64,
}

/// The outcome of the peer certificate verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum CertVerification {
    /// Chains to a trusted root and names the peer.
    Verified,
    /// Did not verify; `reason` says why.
    Failed {
        /// Why.
        reason: String,
    },
    /// Verification was turned off and no roots were given.
    NotChecked,
}

/// The peer's end-entity certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct CertInfo {
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Not before, RFC 3339.
    pub not_before: String,
    /// Not after (expiry), RFC 3339.
    pub not_after: String,
    /// Expiry as seconds since the Unix epoch.
    pub not_after_unix: i64,
    /// Days from the probe to expiry (negative: expired).
    pub expires_in_days: i64,
}

/// What the TLS handshake showed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TlsReport {
    /// Handshake duration in microseconds (also in [`Timings`]).
    pub handshake_us: Option<u64>,
    /// Negotiated protocol version, e.g. "TLSv1_3".
    pub protocol: Option<String>,
    /// Negotiated cipher suite.
    pub cipher_suite: Option<String>,
    /// The peer's certificate, when one was presented and parsed.
    pub peer_certificate: Option<CertInfo>,
    /// Verification outcome.
    pub verification: CertVerification,
}

/// A SOP class the peer refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Refused {
    /// Abstract syntax UID.
    pub abstract_syntax: String,
    /// Result code of the presentation context.
    pub result: u8,
    /// Why, in words.
    pub cause: String,
}

/// The verdict: what field engineers confuse, told apart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Verdict {
    /// No DICOM conversation: resolve, connect, TLS or the connection failed.
    TransportFailure {
        /// Where.
        phase: Phase,
        /// What.
        kind: TransportErrorKind,
    },
    /// The peer answered A-ASSOCIATE-RJ.
    AssociationRejected {
        /// Why, decoded.
        why: Rejection,
    },
    /// The peer sent A-ABORT.
    PeerAborted {
        /// When.
        phase: Phase,
        /// Why, decoded.
        abort: Abort,
    },
    /// The association was accepted but a SOP class asked for was refused
    /// (Verification itself, or one the caller proposed).
    AcceptedButSopClassRefused {
        /// The refused SOP classes.
        refused: Vec<Refused>,
    },
    /// The C-ECHO answered with a status other than success.
    EchoFailed {
        /// The DIMSE status.
        status: u16,
        /// The status in words.
        status_text: String,
    },
    /// The peer broke the protocol (malformed or unexpected PDU or response).
    ProtocolViolation {
        /// Where.
        phase: Phase,
        /// What.
        detail: String,
    },
    /// Associated, echoed with success, every proposed SOP class accepted.
    AllGood,
}

impl Verdict {
    /// A short name of the verdict (the JSON tag).
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::TransportFailure { .. } => "transport_failure",
            Verdict::AssociationRejected { .. } => "association_rejected",
            Verdict::PeerAborted { .. } => "peer_aborted",
            Verdict::AcceptedButSopClassRefused { .. } => "accepted_but_sop_class_refused",
            Verdict::EchoFailed { .. } => "echo_failed",
            Verdict::ProtocolViolation { .. } => "protocol_violation",
            Verdict::AllGood => "all_good",
        }
    }
}

/// Decide the verdict from what happened. Pure.
///
/// `failure` is what stopped the probe (if anything), `contexts` the
/// negotiation result, `echo` the C-ECHO response.
pub fn decide(
    failure: Option<&Error>,
    contexts: &[NegotiatedContext],
    echo: Option<&EchoResponse>,
) -> Verdict {
    let refused: Vec<Refused> = contexts
        .iter()
        .filter(|c| !c.accepted())
        .map(|c| Refused {
            abstract_syntax: c.abstract_syntax.clone(),
            result: c.result,
            cause: c.cause.clone(),
        })
        .collect();
    let verification_refused = refused
        .iter()
        .any(|r| r.abstract_syntax == crate::VERIFICATION)
        && !contexts
            .iter()
            .any(|c| c.accepted() && c.abstract_syntax == crate::VERIFICATION);
    match failure {
        Some(Error::Rejected { rejection, .. }) => {
            return Verdict::AssociationRejected {
                why: (**rejection).clone(),
            };
        }
        Some(Error::Aborted { phase, abort, .. }) => {
            return Verdict::PeerAborted {
                phase: *phase,
                abort: (**abort).clone(),
            };
        }
        // Verification refused is the answer even if the peer then hung up.
        _ if verification_refused => return Verdict::AcceptedButSopClassRefused { refused },
        Some(Error::Transport { phase, kind, .. }) => {
            return Verdict::TransportFailure {
                phase: *phase,
                kind: *kind,
            };
        }
        Some(Error::Protocol { phase, cause, .. }) => {
            return Verdict::ProtocolViolation {
                phase: *phase,
                detail: cause.clone(),
            };
        }
        Some(Error::InvalidTarget { cause, .. } | Error::TlsSetup { cause, .. }) => {
            return Verdict::ProtocolViolation {
                phase: Phase::Resolve,
                detail: cause.clone(),
            };
        }
        Some(Error::Runtime(cause)) => {
            return Verdict::ProtocolViolation {
                phase: Phase::Resolve,
                detail: cause.to_string(),
            };
        }
        None => {}
    }
    match echo {
        Some(rsp) if rsp.status != 0 => Verdict::EchoFailed {
            status: rsp.status,
            status_text: dimse_status_text(rsp.status).to_string(),
        },
        Some(_) if !refused.is_empty() => Verdict::AcceptedButSopClassRefused { refused },
        Some(_) => Verdict::AllGood,
        None => Verdict::ProtocolViolation {
            phase: Phase::Echo,
            detail: "no C-ECHO response".into(),
        },
    }
}

/// The target as it appears in a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TargetSummary {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Called AE title.
    pub called_ae: String,
    /// Calling AE title.
    pub calling_ae: String,
    /// Whether the probe used TLS.
    pub tls: bool,
}

impl fmt::Display for TargetSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}:{}", self.called_ae, self.host, self.port)
    }
}

/// How the association ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Ending {
    /// A-RELEASE-RQ answered by A-RELEASE-RP.
    Released,
    /// We sent A-ABORT (after a failure).
    AbortedByUs,
    /// The peer ended it (A-ABORT or closed).
    EndedByPeer,
    /// No association was established.
    NotAssociated,
    /// The release got no answer (timed out, or the peer closed instead).
    ReleaseUnanswered,
}

/// Everything one probe learned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ProbeReport {
    /// Who was probed.
    pub target: TargetSummary,
    /// Addresses the host name resolved to.
    pub resolved: Vec<SocketAddr>,
    /// The address the TCP connection reached.
    pub connected_to: Option<SocketAddr>,
    /// Phase durations (µs).
    pub timings: Timings,
    /// TLS details, for TLS targets.
    pub tls: Option<TlsReport>,
    /// The negotiation result, one entry per proposed context.
    pub contexts: Vec<NegotiatedContext>,
    /// What the A-ASSOCIATE-AC said about the peer.
    pub peer: Option<PeerInfo>,
    /// The C-ECHO response.
    pub echo: Option<EchoResponse>,
    /// How the association ended.
    pub ending: Ending,
    /// What stopped the probe, if anything.
    pub failure: Option<Error>,
    /// Things worth knowing that did not change the verdict.
    pub warnings: Vec<String>,
    /// The verdict.
    pub verdict: Verdict,
}

impl ProbeReport {
    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

fn us(v: Option<u64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v} µs"))
}

fn uid(u: &str) -> String {
    match uid_name(u) {
        Some(n) => format!("{n} ({u})"),
        None => u.to_string(),
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::TransportFailure { phase, kind } => {
                write!(f, "TRANSPORT FAILURE during {phase}: {kind}")
            }
            Verdict::AssociationRejected { why } => write!(
                f,
                "ASSOCIATION REJECTED: {} ({}, source {}): {}",
                why.reason_text, why.result_text, why.source_text, why.likely_cause
            ),
            Verdict::PeerAborted { phase, abort } => write!(
                f,
                "ABORTED BY PEER during {phase}: {} / {}: {}",
                abort.source_text, abort.reason_text, abort.likely_cause
            ),
            Verdict::AcceptedButSopClassRefused { refused } => {
                write!(f, "ASSOCIATION ACCEPTED BUT SOP CLASS REFUSED:")?;
                for r in refused {
                    write!(f, " {}: {};", uid(&r.abstract_syntax), r.cause)?;
                }
                Ok(())
            }
            Verdict::EchoFailed {
                status,
                status_text,
            } => write!(f, "ECHO FAILED: status {status:#06x} ({status_text})"),
            Verdict::ProtocolViolation { phase, detail } => {
                write!(f, "PROTOCOL VIOLATION during {phase}: {detail}")
            }
            Verdict::AllGood => f.write_str("ALL GOOD"),
        }
    }
}

impl fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "probe {} (calling {}{})",
            self.target,
            self.target.calling_ae,
            if self.target.tls { ", TLS" } else { "" }
        )?;
        writeln!(f, "  verdict: {}", self.verdict)?;
        if !self.resolved.is_empty() {
            let list: Vec<String> = self.resolved.iter().map(ToString::to_string).collect();
            writeln!(f, "  resolved: {}", list.join(", "))?;
        }
        if let Some(a) = self.connected_to {
            writeln!(f, "  connected to: {a}")?;
        }
        let t = &self.timings;
        writeln!(
            f,
            "  timings: resolve {}, connect {}, tls {}, associate {}, echo {}, release {}, total {} µs",
            us(t.resolve_us),
            us(t.connect_us),
            us(t.tls_handshake_us),
            us(t.associate_us),
            us(t.echo_us),
            us(t.release_us),
            t.total_us
        )?;
        if let Some(tls) = &self.tls {
            writeln!(
                f,
                "  tls: {} {}, verification: {}",
                tls.protocol.as_deref().unwrap_or("-"),
                tls.cipher_suite.as_deref().unwrap_or("-"),
                match &tls.verification {
                    CertVerification::Verified => "verified".to_string(),
                    CertVerification::Failed { reason } => format!("FAILED ({reason})"),
                    CertVerification::NotChecked => "not checked".to_string(),
                }
            )?;
            if let Some(c) = &tls.peer_certificate {
                writeln!(
                    f,
                    "  peer certificate: subject {}, issuer {}, expires {} (in {} days)",
                    c.subject, c.issuer, c.not_after, c.expires_in_days
                )?;
            }
        }
        if let Some(p) = &self.peer {
            writeln!(
                f,
                "  peer: max PDU {}, implementation {} {}",
                p.max_pdu_length
                    .map_or_else(|| "-".to_string(), |n| n.to_string()),
                p.implementation_class_uid.as_deref().unwrap_or("-"),
                p.implementation_version.as_deref().unwrap_or("")
            )?;
        }
        for c in &self.contexts {
            match &c.transfer_syntax {
                Some(ts) if c.accepted() => writeln!(
                    f,
                    "  context {}: {} accepted, transfer syntax {}",
                    c.id,
                    uid(&c.abstract_syntax),
                    uid(ts)
                )?,
                _ => writeln!(
                    f,
                    "  context {}: {} REFUSED: {} — {}",
                    c.id,
                    uid(&c.abstract_syntax),
                    c.result_text,
                    c.cause
                )?,
            }
        }
        if let Some(e) = &self.echo {
            writeln!(
                f,
                "  C-ECHO status: {:#06x} ({})",
                e.status,
                dimse_status_text(e.status)
            )?;
        }
        if let Some(e) = &self.failure {
            writeln!(f, "  error: {e}")?;
        }
        for w in &self.warnings {
            writeln!(f, "  warning: {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(abstract_syntax: &str, result: u8) -> NegotiatedContext {
        NegotiatedContext {
            id: 1,
            abstract_syntax: abstract_syntax.into(),
            proposed_transfer_syntaxes: vec![],
            result,
            result_text: crate::codes::context_result_text(result).into(),
            cause: crate::codes::context_refusal_cause(result).into(),
            transfer_syntax: (result == 0).then(|| crate::IMPLICIT_VR_LE.to_string()),
        }
    }

    fn rsp(status: u16) -> EchoResponse {
        EchoResponse {
            command_field: crate::dimse::C_ECHO_RSP,
            responded_to: Some(1),
            status,
            affected_sop_class: None,
        }
    }

    #[test]
    fn verdicts_are_told_apart() {
        let peer = "X@h:1".to_string();
        let refused = Error::Transport {
            peer: peer.clone(),
            phase: Phase::Connect,
            kind: TransportErrorKind::Refused,
            cause: "refused".into(),
        };
        assert_eq!(
            decide(Some(&refused), &[], None),
            Verdict::TransportFailure {
                phase: Phase::Connect,
                kind: TransportErrorKind::Refused
            }
        );
        let rj = Error::Rejected {
            peer: peer.clone(),
            rejection: Box::new(Rejection::from_codes(1, 1, 7)),
        };
        assert!(matches!(
            decide(Some(&rj), &[], None),
            Verdict::AssociationRejected { why } if why.reason == 7
        ));
        let v = [ctx(crate::VERIFICATION, 0)];
        assert_eq!(decide(None, &v, Some(&rsp(0))), Verdict::AllGood);
        assert!(matches!(
            decide(None, &v, Some(&rsp(0x0122))),
            Verdict::EchoFailed { status: 0x0122, .. }
        ));
        let storage_refused = [
            ctx(crate::VERIFICATION, 0),
            ctx("1.2.840.10008.5.1.4.1.1.2", 3),
        ];
        assert!(matches!(
            decide(None, &storage_refused, Some(&rsp(0))),
            Verdict::AcceptedButSopClassRefused { refused } if refused.len() == 1
        ));
        // Verification refused: no echo was sent, the negotiation is the answer,
        // even if the peer then hung up.
        let no_ts = [ctx(crate::VERIFICATION, 4)];
        assert!(matches!(
            decide(None, &no_ts, None),
            Verdict::AcceptedButSopClassRefused { refused } if refused[0].result == 4
        ));
        let hung_up = Error::Transport {
            peer,
            phase: Phase::Release,
            kind: TransportErrorKind::ClosedByPeer,
            cause: "eof".into(),
        };
        assert!(matches!(
            decide(Some(&hung_up), &no_ts, None),
            Verdict::AcceptedButSopClassRefused { refused } if refused[0].result == 4
        ));
    }

    #[test]
    fn transport_kinds_from_io_errors() {
        use std::io::{Error as IoError, ErrorKind as K};
        assert_eq!(
            TransportErrorKind::of(&IoError::from(K::ConnectionRefused)),
            TransportErrorKind::Refused
        );
        assert_eq!(
            TransportErrorKind::of(&IoError::from(K::ConnectionReset)),
            TransportErrorKind::Reset
        );
        assert_eq!(
            TransportErrorKind::of(&IoError::from(K::HostUnreachable)),
            TransportErrorKind::Unreachable
        );
        assert_eq!(
            TransportErrorKind::of(&IoError::from(K::UnexpectedEof)),
            TransportErrorKind::ClosedByPeer
        );
    }
}
