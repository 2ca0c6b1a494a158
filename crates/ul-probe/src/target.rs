//! Who to probe and how.

use std::time::Duration;

use crate::pdu::ProposedContext;
use crate::report::TargetSummary;
use crate::tls::TlsOptions;

/// One peer to probe: where it listens and the AE titles on both ends.
#[derive(Debug, Clone)]
pub struct Target {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The peer's AE title (called AE).
    pub called_ae: String,
    /// Our AE title (calling AE).
    pub calling_ae: String,
    /// TLS settings; `None` for plain TCP.
    pub tls: Option<TlsOptions>,
}

impl Target {
    /// A plain TCP target.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        called_ae: impl Into<String>,
        calling_ae: impl Into<String>,
    ) -> Self {
        Target {
            host: host.into(),
            port,
            called_ae: called_ae.into(),
            calling_ae: calling_ae.into(),
            tls: None,
        }
    }

    /// Probe over TLS with these settings.
    pub fn tls(mut self, tls: TlsOptions) -> Self {
        self.tls = Some(tls);
        self
    }

    /// `CALLED@host:port`, the way the peer is named in errors.
    pub fn peer_name(&self) -> String {
        format!("{}@{}:{}", self.called_ae.trim(), self.host, self.port)
    }

    /// The target as the report shows it.
    pub fn summary(&self) -> TargetSummary {
        TargetSummary {
            host: self.host.clone(),
            port: self.port,
            called_ae: self.called_ae.trim().to_string(),
            calling_ae: self.calling_ae.trim().to_string(),
            tls: self.tls.is_some(),
        }
    }
}

/// How to probe: what to propose and how long to wait.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Presentation contexts to propose. Verification (Explicit and Implicit
    /// VR Little Endian) is added first when the list has none for it.
    pub contexts: Vec<ProposedContext>,
    /// Limit for resolve and TCP connect (each).
    pub connect_timeout: Duration,
    /// Limit for each wait on the peer: TLS handshake, A-ASSOCIATE-AC,
    /// C-ECHO-RSP, A-RELEASE-RP.
    pub response_timeout: Duration,
    /// Limit for the whole probe, whatever the phase.
    pub total_timeout: Option<Duration>,
    /// Message ID of the C-ECHO-RQ.
    pub message_id: u16,
    /// Acknowledge received data at once (Linux `TCP_QUICKACK`; default on).
    /// Off, a peer that splits its PDUs (DCMTK) costs ~40 ms per response.
    pub quick_ack: bool,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            contexts: vec![ProposedContext::verification()],
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(10),
            total_timeout: Some(Duration::from_secs(30)),
            message_id: 1,
            quick_ack: true,
        }
    }
}

impl ProbeOptions {
    /// Also propose `context` (to test a service beyond Verification).
    pub fn with_context(mut self, context: ProposedContext) -> Self {
        self.contexts.push(context);
        self
    }

    /// Propose exactly these contexts (Verification is still added if absent).
    pub fn contexts(mut self, contexts: Vec<ProposedContext>) -> Self {
        self.contexts = contexts;
        self
    }

    /// Set the connect timeout.
    pub fn connect_timeout(mut self, t: Duration) -> Self {
        self.connect_timeout = t;
        self
    }

    /// Set the per-response timeout.
    pub fn response_timeout(mut self, t: Duration) -> Self {
        self.response_timeout = t;
        self
    }

    /// Set (or clear) the whole-probe timeout.
    pub fn total_timeout(mut self, t: Option<Duration>) -> Self {
        self.total_timeout = t;
        self
    }

    /// Turn immediate acknowledgements on or off.
    pub fn quick_ack(mut self, on: bool) -> Self {
        self.quick_ack = on;
        self
    }

    /// The contexts actually proposed: the caller's, with Verification first if missing.
    pub fn effective_contexts(&self) -> Vec<ProposedContext> {
        let mut out = Vec::with_capacity(self.contexts.len() + 1);
        if !self
            .contexts
            .iter()
            .any(|c| c.abstract_syntax == crate::VERIFICATION)
        {
            out.push(ProposedContext::verification());
        }
        out.extend(self.contexts.iter().cloned());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_is_always_proposed_first_when_missing() {
        let o = ProbeOptions::default().contexts(vec![ProposedContext::new(
            "1.2.840.10008.5.1.4.1.1.2",
            [crate::IMPLICIT_VR_LE],
        )]);
        let c = o.effective_contexts();
        assert_eq!(c[0].abstract_syntax, crate::VERIFICATION);
        assert_eq!(c.len(), 2);
        let o = ProbeOptions::default().contexts(vec![ProposedContext::new(
            crate::VERIFICATION,
            ["1.2.840.10008.1.2.4.50"],
        )]);
        assert_eq!(o.effective_contexts().len(), 1);
    }
}
