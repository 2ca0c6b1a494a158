//! PS3.8 / PS3.7 codes in words: A-ASSOCIATE-RJ, A-ABORT, presentation-context
//! results and DIMSE statuses. Pure functions, no I/O.

use serde::Serialize;

/// A-ASSOCIATE-RJ as received, with the raw codes kept (reserved values
/// included) and their meaning in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Rejection {
    /// 1 rejected-permanent, 2 rejected-transient.
    pub result: u8,
    /// 1 service-user, 2 service-provider (ACSE), 3 service-provider (presentation).
    pub source: u8,
    /// Reason/diag., interpreted according to `source`.
    pub reason: u8,
    /// `result` in words.
    pub result_text: String,
    /// `source` in words.
    pub source_text: String,
    /// `reason` in words (PS3.8 table 9-21).
    pub reason_text: String,
    /// The likely cause, in the words a service engineer acts on.
    pub likely_cause: String,
}

impl Rejection {
    /// Decode the three codes of an A-ASSOCIATE-RJ PDU.
    pub fn from_codes(result: u8, source: u8, reason: u8) -> Self {
        let result_text = match result {
            1 => "rejected-permanent",
            2 => "rejected-transient",
            _ => "invalid result code",
        };
        let source_text = match source {
            1 => "service-user",
            2 => "service-provider (ACSE)",
            3 => "service-provider (presentation)",
            _ => "invalid source code",
        };
        let (reason_text, cause) = match (source, reason) {
            (1, 1) => (
                "no reason given",
                "the called application refused without saying why; usual causes: no \
                 presentation context could be accepted (no common SOP class or transfer \
                 syntax), the peer refuses all associations, or it does not allow this caller \
                 (check the peer's log)",
            ),
            (1, 2) => (
                "application context name not supported",
                "the peer does not support the DICOM application context: it is probably not \
                 a DICOM application, or a broken one",
            ),
            (1, 3) => (
                "calling AE title not recognized",
                "the peer does not know our calling AE title: add it (case-sensitive) to the \
                 peer's list of known AEs, with our host and port",
            ),
            (1, 7) => (
                "called AE title not recognized",
                "no AE with that called AE title on this host and port: check the called AE \
                 title (case-sensitive) and the port against the peer's configuration; some \
                 peers (DCMTK's dcmqrscp) also send this reason when they do not know the \
                 calling AE title or the caller's host",
            ),
            (1, 4..=6) | (1, 8..=10) => ("reserved", "the peer sent a reserved reason code"),
            (2, 1) => (
                "no reason given",
                "the peer's DICOM stack (ACSE) refused without saying why",
            ),
            (2, 2) => (
                "protocol version not supported",
                "the peer does not support DICOM upper layer protocol version 1",
            ),
            (3, 1) => (
                "temporary congestion",
                "the peer is busy: retry later, or check its load",
            ),
            (3, 2) => (
                "local limit exceeded",
                "the peer has reached its maximum number of associations: retry later, or \
                 raise its limit",
            ),
            (3, 0) | (3, 3..=7) => ("reserved", "the peer sent a reserved reason code"),
            _ => (
                "invalid reason code",
                "the peer sent codes PS3.8 does not define",
            ),
        };
        let mut likely_cause = cause.to_string();
        if result == 2 {
            likely_cause.push_str(" (transient: a retry may succeed)");
        }
        Rejection {
            result,
            source,
            reason,
            result_text: result_text.to_string(),
            source_text: source_text.to_string(),
            reason_text: reason_text.to_string(),
            likely_cause,
        }
    }
}

/// A-ABORT as received, raw codes kept, with their meaning in words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Abort {
    /// 0 service-user, 1 reserved, 2 service-provider.
    pub source: u8,
    /// Reason/diag. (meaningful when `source` = 2).
    pub reason: u8,
    /// `source` in words.
    pub source_text: String,
    /// `reason` in words.
    pub reason_text: String,
    /// The likely cause, in words.
    pub likely_cause: String,
}

impl Abort {
    /// Decode the two codes of an A-ABORT PDU.
    pub fn from_codes(source: u8, reason: u8) -> Self {
        let source_text = match source {
            0 => "service-user (the peer application)",
            1 => "reserved",
            2 => "service-provider (the peer's DICOM stack)",
            _ => "invalid source code",
        };
        let (reason_text, cause) = if source == 2 {
            match reason {
                0 => (
                    "reason not specified",
                    "the peer's DICOM stack aborted without saying why",
                ),
                1 => (
                    "unrecognized PDU",
                    "the peer did not recognize a PDU we sent (a protocol mismatch)",
                ),
                2 => (
                    "unexpected PDU",
                    "the peer received a PDU it did not expect in its current state",
                ),
                3 => ("reserved", "the peer sent a reserved reason code"),
                4 => (
                    "unrecognized PDU parameter",
                    "the peer did not recognize a parameter of a PDU we sent",
                ),
                5 => (
                    "unexpected PDU parameter",
                    "the peer did not expect a parameter of a PDU we sent",
                ),
                6 => (
                    "invalid PDU parameter value",
                    "the peer found an invalid value in a PDU we sent",
                ),
                _ => (
                    "invalid reason code",
                    "the peer sent a reason PS3.8 does not define",
                ),
            }
        } else {
            (
                "not significant for this source",
                "the peer application aborted: usually a failed DIMSE exchange, a timeout on \
                 the peer's side, or a request it refuses to handle (check the peer's log)",
            )
        };
        Abort {
            source,
            reason,
            source_text: source_text.to_string(),
            reason_text: reason_text.to_string(),
            likely_cause: cause.to_string(),
        }
    }
}

/// A presentation-context result (A-ASSOCIATE-AC) in words.
pub fn context_result_text(result: u8) -> &'static str {
    match result {
        0 => "acceptance",
        1 => "user rejection",
        2 => "no reason (provider rejection)",
        3 => "abstract syntax not supported (provider rejection)",
        4 => "transfer syntaxes not supported (provider rejection)",
        _ => "invalid result code",
    }
}

/// The likely cause of a refused presentation context, in words.
pub fn context_refusal_cause(result: u8) -> &'static str {
    match result {
        0 => "accepted",
        1 => "the peer application does not want this SOP class from this caller",
        2 => "the peer refused the context without a reason",
        3 => "the peer does not offer this SOP class",
        4 => "no common transfer syntax: the peer accepts none of the transfer syntaxes proposed",
        _ => "the peer sent a result code PS3.8 does not define",
    }
}

/// A DIMSE status code (PS3.7 Annex C) in words.
pub fn dimse_status_text(status: u16) -> &'static str {
    match status {
        0x0000 => "success",
        0x0110 => "processing failure",
        0x0112 => "no such SOP instance",
        0x0122 => "SOP class not supported",
        0x0211 => "unrecognized operation",
        0xA700..=0xA7FF => "refused: out of resources",
        0xA900..=0xA9FF => "data set does not match SOP class",
        0xB000 | 0xB006 | 0xB007 => "warning",
        0xC000..=0xCFFF => "cannot understand",
        0xFE00 => "cancel",
        0xFF00 | 0xFF01 => "pending",
        _ => "unknown status",
    }
}

/// UIDs the probe names in its text report.
pub fn uid_name(uid: &str) -> Option<&'static str> {
    Some(match uid {
        crate::VERIFICATION => "Verification",
        crate::IMPLICIT_VR_LE => "Implicit VR Little Endian",
        crate::EXPLICIT_VR_LE => "Explicit VR Little Endian",
        "1.2.840.10008.1.2.2" => "Explicit VR Big Endian",
        "1.2.840.10008.1.2.4.50" => "JPEG Baseline",
        "1.2.840.10008.1.2.4.70" => "JPEG Lossless SV1",
        "1.2.840.10008.1.2.4.90" => "JPEG 2000 Lossless",
        "1.2.840.10008.1.2.5" => "RLE Lossless",
        "1.2.840.10008.5.1.4.1.1.2" => "CT Image Storage",
        "1.2.840.10008.5.1.4.1.1.4" => "MR Image Storage",
        "1.2.840.10008.5.1.4.1.1.7" => "Secondary Capture Image Storage",
        "1.2.840.10008.5.1.4.1.2.2.1" => "Study Root Q/R Find",
        "1.2.840.10008.5.1.4.1.2.2.2" => "Study Root Q/R Move",
        "1.2.840.10008.5.1.4.31" => "Modality Worklist Find",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejection_reasons_of_ps3_8() {
        let r = Rejection::from_codes(1, 1, 7);
        assert_eq!(r.reason_text, "called AE title not recognized");
        assert!(r.likely_cause.contains("called AE title"));
        let r = Rejection::from_codes(1, 1, 3);
        assert_eq!(r.reason_text, "calling AE title not recognized");
        let r = Rejection::from_codes(2, 3, 2);
        assert_eq!(r.result_text, "rejected-transient");
        assert!(r.likely_cause.contains("retry"));
        let r = Rejection::from_codes(1, 1, 9);
        assert_eq!(r.reason_text, "reserved");
        let r = Rejection::from_codes(7, 9, 9);
        assert_eq!(r.source_text, "invalid source code");
    }

    #[test]
    fn abort_reasons_of_ps3_8() {
        assert_eq!(Abort::from_codes(2, 2).reason_text, "unexpected PDU");
        assert_eq!(
            Abort::from_codes(2, 6).reason_text,
            "invalid PDU parameter value"
        );
        assert!(
            Abort::from_codes(0, 0)
                .source_text
                .starts_with("service-user")
        );
        assert_eq!(Abort::from_codes(2, 200).reason_text, "invalid reason code");
    }

    #[test]
    fn statuses_and_results() {
        assert_eq!(dimse_status_text(0), "success");
        assert_eq!(dimse_status_text(0xA702), "refused: out of resources");
        assert_eq!(dimse_status_text(0xC123), "cannot understand");
        assert!(context_result_text(4).starts_with("transfer syntaxes"));
        assert!(context_refusal_cause(3).contains("SOP class"));
    }
}
