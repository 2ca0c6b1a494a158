//! TLS for probes: a rustls client whose verifier records the peer
//! certificate and the verification outcome, so that a failed verification
//! is still reported with the certificate's subject and expiry.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::report::{CertInfo, CertVerification};

/// TLS settings of a target (PS3.15 Annex B secure transport).
///
/// The default verifies the peer's certificate (and so needs
/// [`TlsOptions::ca_pem`]); turning that off is the explicit
/// [`TlsOptions::insecure_skip_verify`]. `Debug` never shows the private key.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct TlsOptions {
    /// Trusted CA certificates, PEM. Without them the peer cannot be verified.
    pub ca_pem: Option<Vec<u8>>,
    /// Our client certificate chain, PEM (DICOM TLS peers usually require one).
    pub client_cert_pem: Option<Vec<u8>>,
    /// Our client private key, PEM.
    pub client_key_pem: Option<Vec<u8>>,
    /// Name to verify the certificate against; defaults to the target host.
    pub server_name: Option<String>,
    /// Accept a peer whose certificate does not verify (default false: such
    /// a peer is refused). The verification outcome is reported either way.
    pub insecure_skip_verify: bool,
}

impl std::fmt::Debug for TlsOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsOptions")
            .field("ca_pem", &self.ca_pem.as_ref().map(|p| p.len()))
            .field(
                "client_cert_pem",
                &self.client_cert_pem.as_ref().map(|p| p.len()),
            )
            .field(
                "client_key_pem",
                &self.client_key_pem.as_ref().map(|_| "***"),
            )
            .field("server_name", &self.server_name)
            .field("insecure_skip_verify", &self.insecure_skip_verify)
            .finish()
    }
}

impl TlsOptions {
    /// Verify the peer against these CA certificates (PEM).
    pub fn with_ca_pem(ca_pem: impl Into<Vec<u8>>) -> Self {
        TlsOptions {
            ca_pem: Some(ca_pem.into()),
            ..Self::default()
        }
    }

    /// Present this client certificate chain and key (PEM).
    pub fn client_auth(
        mut self,
        cert_pem: impl Into<Vec<u8>>,
        key_pem: impl Into<Vec<u8>>,
    ) -> Self {
        self.client_cert_pem = Some(cert_pem.into());
        self.client_key_pem = Some(key_pem.into());
        self
    }

    /// Accept a peer whose certificate does not verify (test setups only;
    /// the report still says what verification found).
    pub fn insecure_skip_verify(mut self, skip: bool) -> Self {
        self.insecure_skip_verify = skip;
        self
    }

    /// Verify the certificate against this name instead of the host.
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }
}

/// What the verifier saw during one handshake.
#[derive(Debug, Default)]
pub(crate) struct Seen {
    pub(crate) end_entity: Option<Vec<u8>>,
    pub(crate) outcome: Option<CertVerification>,
}

#[derive(Debug)]
struct RecordingVerifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    enforce: bool,
    algorithms: WebPkiSupportedAlgorithms,
    seen: Arc<Mutex<Seen>>,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = match &self.inner {
            Some(v) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Ok(ServerCertVerified::assertion()),
        };
        let outcome = match (&self.inner, &result) {
            (None, _) => CertVerification::NotChecked,
            (Some(_), Ok(_)) => CertVerification::Verified,
            (Some(_), Err(e)) => CertVerification::Failed {
                reason: e.to_string(),
            },
        };
        if let Ok(mut seen) = self.seen.lock() {
            seen.end_entity = Some(end_entity.to_vec());
            seen.outcome = Some(outcome);
        }
        if self.enforce {
            result
        } else {
            Ok(ServerCertVerified::assertion())
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Build a client configuration for one probe; `seen` receives what the
/// verifier saw. Errors are plain strings, wrapped by the caller with the peer.
pub(crate) fn client_config(
    opts: &TlsOptions,
    seen: Arc<Mutex<Seen>>,
) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = match &opts.ca_pem {
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("CA certificates: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("CA certificate refused: {e}"))?;
            }
            if roots.is_empty() {
                return Err("no certificate in the CA PEM".into());
            }
            Some(
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| format!("verifier: {e}"))?,
            )
        }
        None if !opts.insecure_skip_verify => {
            return Err("verification is on but no CA certificate was given".into());
        }
        None => None,
    };
    let verifier = Arc::new(RecordingVerifier {
        inner,
        enforce: !opts.insecure_skip_verify,
        algorithms: provider.signature_verification_algorithms,
        seen,
    });
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("protocol versions: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    match (&opts.client_cert_pem, &opts.client_key_pem) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("client certificate: {e}"))?;
            let key = PrivateKeyDer::from_pem_slice(key).map_err(|e| format!("client key: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("client certificate and key: {e}"))
        }
        (None, None) => Ok(builder.with_no_client_auth()),
        _ => Err("a client certificate needs both the certificate and the key".into()),
    }
}

/// Parse a DER certificate into what the report shows.
pub fn cert_info(der: &[u8]) -> Option<CertInfo> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let validity = cert.validity();
    let not_after = validity.not_after.timestamp();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    Some(CertInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        not_before: rfc3339(validity.not_before.timestamp()),
        not_after: rfc3339(not_after),
        not_after_unix: not_after,
        expires_in_days: (not_after - now).div_euclid(86_400),
    })
}

/// Seconds since the epoch as an RFC 3339 UTC time (proleptic Gregorian).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_of_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn setup_errors_are_reported() {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let no_ca = TlsOptions::default();
        assert!(client_config(&no_ca, seen.clone()).is_err());
        let bad_ca = TlsOptions::with_ca_pem(b"not pem".to_vec());
        assert!(client_config(&bad_ca, seen.clone()).is_err());
        let insecure = TlsOptions::default().insecure_skip_verify(true);
        assert!(client_config(&insecure, seen).is_ok());
        assert!(cert_info(b"junk").is_none());
    }

    #[test]
    fn default_verifies_and_debug_hides_the_key() {
        let tls = TlsOptions::default().client_auth(b"CERT".to_vec(), b"KEY-SECRET-1234".to_vec());
        assert!(!tls.insecure_skip_verify);
        let shown = format!("{tls:?}");
        assert!(!shown.contains("KEY-SECRET-1234"), "{shown}");
        assert!(!shown.contains("75, 69, 89"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
    }
}
