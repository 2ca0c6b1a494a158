//! PDU framing and decoding (sans-I/O). The A-ASSOCIATE-RJ and A-ABORT PDUs are
//! decoded here from their bytes so that every code is kept, reserved values
//! included; every other PDU goes through `dicom_ul`'s public reader.

use dicom_ul::pdu::{
    AssociationAC, AssociationRQ, PDataValue, Pdu, PresentationContextProposed, UserVariableItem,
};
use serde::Serialize;

use crate::codes::{Abort, Rejection, context_refusal_cause, context_result_text};

/// The PDU header: type (1), reserved (1), length (4, big endian).
pub const HEADER_LEN: usize = 6;

/// Largest PDU the probe reads from a peer. The probe only expects small
/// PDUs (A-ASSOCIATE-AC, a C-ECHO response); anything bigger is refused
/// instead of allocated.
pub const MAX_INCOMING_PDU: u32 = 1 << 20;

/// Our maximum receive length, announced in the A-ASSOCIATE-RQ.
pub const OUR_MAX_PDU: u32 = 16_384;

/// Application Context Name of DICOM (PS3.7 Annex A).
pub const APPLICATION_CONTEXT: &str = "1.2.840.10008.3.1.1.1";

/// Our implementation class UID (UUID-derived root 2.25).
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.254061427195284932611541374946478425938";
/// Our implementation version name (at most 16 characters).
pub const IMPLEMENTATION_VERSION: &str = "ANNEXR_PROBE_01";

/// What is wrong with bytes a peer sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PduError {
    /// Fewer bytes than the header announces.
    #[error("truncated PDU: {have} of {need} bytes")]
    Truncated {
        /// Bytes present.
        have: usize,
        /// Bytes needed.
        need: usize,
    },
    /// The announced length is over [`MAX_INCOMING_PDU`].
    #[error("PDU of type {pdu_type:#04x} announces {length} bytes, more than the {limit} accepted")]
    TooLong {
        /// PDU type.
        pdu_type: u8,
        /// Announced length.
        length: u32,
        /// Our limit.
        limit: u32,
    },
    /// A fixed-length PDU (A-ASSOCIATE-RJ, A-ABORT, A-RELEASE) with another length.
    #[error("PDU of type {pdu_type:#04x} has length {length}, PS3.8 says 4")]
    BadFixedLength {
        /// PDU type.
        pdu_type: u8,
        /// Announced length.
        length: u32,
    },
    /// `dicom_ul`'s reader refused the PDU.
    #[error("malformed PDU of type {pdu_type:#04x}: {cause}")]
    Malformed {
        /// PDU type.
        pdu_type: u8,
        /// The reader's message.
        cause: String,
    },
}

/// A PDU received from the peer, as the probe cares about it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Incoming {
    /// A-ASSOCIATE-AC.
    Accept(AssociationAC),
    /// A-ASSOCIATE-RJ, decoded.
    Reject(Rejection),
    /// A-ABORT, decoded.
    Abort(Abort),
    /// P-DATA-TF.
    PData(Vec<PDataValue>),
    /// A-RELEASE-RQ (a release collision, or a peer that wants to end).
    ReleaseRq,
    /// A-RELEASE-RP.
    ReleaseRp,
    /// Any other PDU (an A-ASSOCIATE-RQ, or an unknown type).
    Other {
        /// PDU type.
        pdu_type: u8,
    },
}

/// Read a PDU header: the PDU type and the length of the body that follows.
/// Refuses lengths over [`MAX_INCOMING_PDU`].
pub fn parse_header(header: &[u8; HEADER_LEN]) -> Result<(u8, u32), PduError> {
    let pdu_type = header[0];
    let length = u32::from_be_bytes([header[2], header[3], header[4], header[5]]);
    if length > MAX_INCOMING_PDU {
        return Err(PduError::TooLong {
            pdu_type,
            length,
            limit: MAX_INCOMING_PDU,
        });
    }
    Ok((pdu_type, length))
}

/// Decode one whole PDU (header and body). Bytes after the PDU are ignored.
pub fn decode_pdu(bytes: &[u8]) -> Result<Incoming, PduError> {
    let header: &[u8; HEADER_LEN] = match bytes.get(..HEADER_LEN).map(<&[u8; HEADER_LEN]>::try_from)
    {
        Some(Ok(h)) => h,
        _ => {
            return Err(PduError::Truncated {
                have: bytes.len(),
                need: HEADER_LEN,
            });
        }
    };
    let (pdu_type, length) = parse_header(header)?;
    let need = HEADER_LEN + length as usize;
    let Some(whole) = bytes.get(..need) else {
        return Err(PduError::Truncated {
            have: bytes.len(),
            need,
        });
    };
    let body = &whole[HEADER_LEN..];
    match pdu_type {
        // A-ASSOCIATE-RJ and A-ABORT: reserved, reserved, then result/source/reason.
        0x03 | 0x07 => {
            if length != 4 {
                return Err(PduError::BadFixedLength { pdu_type, length });
            }
            if pdu_type == 0x03 {
                Ok(Incoming::Reject(Rejection::from_codes(
                    body[1], body[2], body[3],
                )))
            } else {
                Ok(Incoming::Abort(Abort::from_codes(body[2], body[3])))
            }
        }
        // A-RELEASE-RQ/RP: four reserved bytes; not tested on receipt (PS3.8 9.3.6).
        0x05 | 0x06 => {
            if length != 4 {
                return Err(PduError::BadFixedLength { pdu_type, length });
            }
            Ok(if pdu_type == 0x05 {
                Incoming::ReleaseRq
            } else {
                Incoming::ReleaseRp
            })
        }
        _ => match dicom_ul::read_pdu(whole, MAX_INCOMING_PDU, false) {
            Ok(Some(Pdu::AssociationAC(ac))) => Ok(Incoming::Accept(ac)),
            Ok(Some(Pdu::PData { data })) => Ok(Incoming::PData(data)),
            Ok(Some(_)) => Ok(Incoming::Other { pdu_type }),
            Ok(None) => Err(PduError::Truncated {
                have: whole.len(),
                need,
            }),
            Err(e) => Err(PduError::Malformed {
                pdu_type,
                cause: e.to_string(),
            }),
        },
    }
}

/// A presentation context the caller proposes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProposedContext {
    /// Abstract syntax (SOP class UID).
    pub abstract_syntax: String,
    /// Transfer syntax UIDs, in order of preference.
    pub transfer_syntaxes: Vec<String>,
}

impl ProposedContext {
    /// A context for `abstract_syntax` with the given transfer syntaxes.
    pub fn new<S: Into<String>>(
        abstract_syntax: impl Into<String>,
        transfer_syntaxes: impl IntoIterator<Item = S>,
    ) -> Self {
        ProposedContext {
            abstract_syntax: abstract_syntax.into(),
            transfer_syntaxes: transfer_syntaxes.into_iter().map(Into::into).collect(),
        }
    }

    /// Verification in Explicit and Implicit VR Little Endian: the context of every echo.
    pub fn verification() -> Self {
        Self::new(
            crate::VERIFICATION,
            [crate::EXPLICIT_VR_LE, crate::IMPLICIT_VR_LE],
        )
    }
}

/// Build the A-ASSOCIATE-RQ. Context ids are 1, 3, 5, … in the order given.
pub fn association_rq(calling: &str, called: &str, contexts: &[ProposedContext]) -> Pdu {
    Pdu::AssociationRQ(AssociationRQ {
        protocol_version: 1,
        calling_ae_title: calling.to_string(),
        called_ae_title: called.to_string(),
        application_context_name: APPLICATION_CONTEXT.to_string(),
        presentation_contexts: contexts
            .iter()
            .enumerate()
            .map(|(i, c)| PresentationContextProposed {
                id: context_id(i),
                abstract_syntax: c.abstract_syntax.clone(),
                transfer_syntaxes: c.transfer_syntaxes.clone(),
            })
            .collect(),
        user_variables: vec![
            UserVariableItem::MaxLength(OUR_MAX_PDU),
            UserVariableItem::ImplementationClassUID(IMPLEMENTATION_CLASS_UID.to_string()),
            UserVariableItem::ImplementationVersionName(IMPLEMENTATION_VERSION.to_string()),
        ],
    })
}

/// The presentation context id of the `index`-th proposed context (odd, 1..=255).
pub fn context_id(index: usize) -> u8 {
    u8::try_from(index * 2 + 1).unwrap_or(255)
}

/// The outcome of one proposed presentation context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct NegotiatedContext {
    /// Presentation context id.
    pub id: u8,
    /// Abstract syntax (SOP class) proposed.
    pub abstract_syntax: String,
    /// Transfer syntaxes proposed.
    pub proposed_transfer_syntaxes: Vec<String>,
    /// Result code (0 acceptance … 4 transfer syntaxes not supported).
    pub result: u8,
    /// `result` in words.
    pub result_text: String,
    /// Why, in words, when refused.
    pub cause: String,
    /// The transfer syntax the peer chose (when accepted).
    pub transfer_syntax: Option<String>,
}

impl NegotiatedContext {
    /// Whether the peer accepted the context.
    pub fn accepted(&self) -> bool {
        self.result == 0
    }
}

/// What the A-ASSOCIATE-AC told about the peer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct PeerInfo {
    /// Maximum PDU length the peer receives (0 = unlimited).
    pub max_pdu_length: Option<u32>,
    /// Implementation class UID.
    pub implementation_class_uid: Option<String>,
    /// Implementation version name.
    pub implementation_version: Option<String>,
    /// Protocol version bits of the AC.
    pub protocol_version: u16,
}

/// Match the A-ASSOCIATE-AC against what was proposed: one entry per proposed
/// context (a context the peer did not answer shows as "no reason").
pub fn negotiate(
    proposed: &[ProposedContext],
    ac: &AssociationAC,
) -> (Vec<NegotiatedContext>, PeerInfo) {
    let contexts = proposed
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let id = context_id(i);
            let answer = ac.presentation_contexts.iter().find(|r| r.id == id);
            let result = answer.map_or(2, |r| r.reason.clone() as u8);
            NegotiatedContext {
                id,
                abstract_syntax: p.abstract_syntax.clone(),
                proposed_transfer_syntaxes: p.transfer_syntaxes.clone(),
                result,
                result_text: context_result_text(result).to_string(),
                cause: context_refusal_cause(result).to_string(),
                transfer_syntax: answer
                    .filter(|_| result == 0)
                    .map(|r| r.transfer_syntax.trim_end_matches(['\0', ' ']).to_string()),
            }
        })
        .collect();
    let mut info = PeerInfo {
        max_pdu_length: None,
        implementation_class_uid: None,
        implementation_version: None,
        protocol_version: ac.protocol_version,
    };
    for item in &ac.user_variables {
        match item {
            UserVariableItem::MaxLength(n) => info.max_pdu_length = Some(*n),
            UserVariableItem::ImplementationClassUID(s) => {
                info.implementation_class_uid = Some(s.trim_end_matches(['\0', ' ']).to_string())
            }
            UserVariableItem::ImplementationVersionName(s) => {
                info.implementation_version = Some(s.trim().to_string())
            }
            _ => {}
        }
    }
    (contexts, info)
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_ul::pdu::{PresentationContextResult, PresentationContextResultReason};

    #[test]
    fn rejection_and_abort_bytes_as_dcmtk_sends_them() {
        // Captured from DCMTK 3.6.7 (dcmqrscp, unknown called AE; storescp, second A-ASSOCIATE-RQ).
        let rj = [0x03, 0, 0, 0, 0, 4, 0, 1, 1, 7];
        match decode_pdu(&rj) {
            Ok(Incoming::Reject(r)) => {
                assert_eq!((r.result, r.source, r.reason), (1, 1, 7));
                assert_eq!(r.reason_text, "called AE title not recognized");
            }
            other => panic!("{other:?}"),
        }
        let ab = [0x07, 0, 0, 0, 0, 4, 0, 0, 2, 2];
        match decode_pdu(&ab) {
            Ok(Incoming::Abort(a)) => assert_eq!((a.source, a.reason), (2, 2)),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_lengths_are_errors_not_panics() {
        assert!(matches!(
            decode_pdu(&[0x07, 0, 0, 0, 0, 3, 0, 0, 2]),
            Err(PduError::BadFixedLength { .. })
        ));
        assert!(matches!(
            decode_pdu(&[0x07, 0, 0, 0, 0, 4, 0]),
            Err(PduError::Truncated { .. })
        ));
        assert!(matches!(
            decode_pdu(&[0x04, 0, 0xff, 0xff, 0xff, 0xff]),
            Err(PduError::TooLong { .. })
        ));
        assert!(matches!(decode_pdu(&[1]), Err(PduError::Truncated { .. })));
        assert!(matches!(
            decode_pdu(&[0x06, 0, 0, 0, 0, 4, 0, 0, 0, 0]),
            Ok(Incoming::ReleaseRp)
        ));
    }

    #[test]
    fn association_rq_round_trips_through_dicom_ul() {
        let pdu = association_rq(
            "PROBE",
            "STORESCP",
            &[
                ProposedContext::verification(),
                ProposedContext::new("1.2.840.10008.5.1.4.1.1.2", ["1.2.840.10008.1.2"]),
            ],
        );
        let mut bytes = Vec::new();
        dicom_ul::write_pdu(&mut bytes, &pdu).unwrap();
        let back = dicom_ul::read_pdu(&bytes[..], MAX_INCOMING_PDU, true)
            .unwrap()
            .unwrap();
        match back {
            Pdu::AssociationRQ(rq) => {
                assert_eq!(rq.called_ae_title, "STORESCP");
                assert_eq!(rq.presentation_contexts.len(), 2);
                assert_eq!(rq.presentation_contexts[1].id, 3);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn negotiation_matches_results_to_proposals() {
        let proposed = [
            ProposedContext::verification(),
            ProposedContext::new("1.2.840.10008.5.1.4.1.1.2", ["1.2.840.10008.1.2.4.50"]),
            ProposedContext::new("1.2.3", ["1.2.840.10008.1.2"]),
        ];
        let ac = AssociationAC {
            protocol_version: 1,
            calling_ae_title: "PROBE".into(),
            called_ae_title: "SCP".into(),
            application_context_name: APPLICATION_CONTEXT.into(),
            presentation_contexts: vec![
                PresentationContextResult {
                    id: 1,
                    reason: PresentationContextResultReason::Acceptance,
                    transfer_syntax: "1.2.840.10008.1.2.1\0".into(),
                },
                PresentationContextResult {
                    id: 3,
                    reason: PresentationContextResultReason::TransferSyntaxesNotSupported,
                    transfer_syntax: "1.2.840.10008.1.2".into(),
                },
            ],
            user_variables: vec![
                UserVariableItem::MaxLength(116_794),
                UserVariableItem::ImplementationClassUID("1.2.276.0.7230010.3.0.3.6.7".into()),
                UserVariableItem::ImplementationVersionName("OFFIS_DCMTK_367".into()),
            ],
        };
        let (ctx, info) = negotiate(&proposed, &ac);
        assert!(ctx[0].accepted());
        assert_eq!(
            ctx[0].transfer_syntax.as_deref(),
            Some("1.2.840.10008.1.2.1")
        );
        assert_eq!(ctx[1].result, 4);
        assert_eq!(ctx[1].transfer_syntax, None);
        assert!(ctx[1].cause.contains("no common transfer syntax"));
        assert_eq!(ctx[2].result, 2);
        assert_eq!(info.max_pdu_length, Some(116_794));
        assert_eq!(
            info.implementation_version.as_deref(),
            Some("OFFIS_DCMTK_367")
        );
    }
}
