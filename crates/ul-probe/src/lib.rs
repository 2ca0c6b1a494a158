//! DICOM association and C-ECHO probes with negotiation and rejection diagnostics.
//!
//! Part of annexr: DICOM PS3.17 Annex R network self-configuration. After a
//! device is configured, a service engineer needs to know whether this AE
//! reaches that AE, and if not, why. [`probe`] answers with a [`ProbeReport`]:
//! the duration of every phase (resolve, TCP connect, TLS handshake,
//! A-ASSOCIATE, C-ECHO, A-RELEASE) in microseconds, the negotiation result of
//! every proposed presentation context, the peer's maximum PDU length and
//! implementation, A-ASSOCIATE-RJ and A-ABORT decoded with their likely
//! cause in words, the DIMSE status of the C-ECHO, the peer certificate of a
//! TLS peer, and a [`Verdict`] that tells apart transport failure, rejection,
//! abort, a refused SOP class and a failed echo.
//!
//! Getting started: which AEs of a device to probe, and where, follows from
//! its description (installed acceptors, through installed connections with
//! a port), without a network:
//!
//! ```
//! use annexr_model::{AeTitle, Device, NetworkAe, NetworkConnection};
//!
//! let pacs = Device::new("pacs")
//!     .with_connection(NetworkConnection::new("dicom", "pacs.hospital.example", Some(104)))
//!     .with_ae(NetworkAe::new(AeTitle::new("PACS1")?).with_connection("dicom").roles(false, true))
//!     .with_ae(NetworkAe::new(AeTitle::new("PACS_SCU")?).with_connection("dicom").roles(true, false));
//! let targets = annexr_probe::targets_of_device(&pacs, "CT1", None);
//! assert_eq!(targets.len(), 1, "the initiator-only AE is not called");
//! assert_eq!(targets[0].called_ae, "PACS1");
//! assert_eq!((targets[0].host.as_str(), targets[0].port), ("pacs.hospital.example", 104));
//! # Ok::<(), annexr_model::Error>(())
//! ```
//!
//! Then probe one, here a local storescp:
//!
//! ```no_run
//! # async fn run() -> Result<(), annexr_probe::Error> {
//! use annexr_probe::{ProbeOptions, Target, Verdict};
//! let report = annexr_probe::probe(
//!     &Target::new("127.0.0.1", 11112, "STORESCP", "ANNEXR"),
//!     &ProbeOptions::default(),
//! )
//! .await?;
//! println!("{report}");
//! assert_eq!(report.verdict, Verdict::AllGood);
//! # Ok(()) }
//! ```
//!
//! The association itself is driven here rather than by
//! `dicom_ul::ClientAssociationOptions`, on `dicom_ul`'s PDU reader and
//! writer: that way TCP connect and association are timed apart, A-ABORT
//! source and reason are kept (`dicom_ul`'s `Error::Aborted` has none), and
//! the TLS handshake is timed with the peer certificate reported.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod blocking;
mod codes;
mod dimse;
mod model;
mod pdu;
mod probe;
mod report;
mod sweep;
mod target;
// Without the `tls` feature only TlsOptions is used (a TLS target is
// refused); the handshake code stays compiled but is left out of the binary.
#[cfg_attr(not(feature = "tls"), allow(dead_code))]
mod tls;

/// Parsers of peer input, public only for the fuzz targets: not a stable API.
#[doc(hidden)]
pub mod internal {
    /// PDU framing and decoding.
    pub mod pdu {
        pub use crate::pdu::*;
    }
    /// The C-ECHO command set.
    pub mod dimse {
        pub use crate::dimse::*;
    }
}

pub use annexr_model::AeTitle;
pub use codes::{
    Abort, Rejection, context_refusal_cause, context_result_text, dimse_status_text, uid_name,
};
pub use model::targets_of_device;
pub use pdu::{NegotiatedContext, PeerInfo, ProposedContext};
pub use probe::probe;
pub use report::{
    CertInfo, CertVerification, Ending, Error, Phase, ProbeReport, Refused, RuntimeCause, Timings,
    TlsReport, TransportErrorKind, Verdict, decide,
};
pub use sweep::{SweepItem, SweepOptions, SweepReport, SweepSummary, sweep};
pub use target::{ProbeOptions, Target};
pub use tls::TlsOptions;

/// Verification SOP Class UID.
pub const VERIFICATION: &str = "1.2.840.10008.1.1";
/// Implicit VR Little Endian transfer syntax UID.
pub const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
/// Explicit VR Little Endian transfer syntax UID.
pub const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
