//! The C-ECHO command set (PS3.7 9.3.5), built and read with `dicom-object`
//! in Implicit VR Little Endian, the encoding of every DIMSE command set.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::entries::IMPLICIT_VR_LITTLE_ENDIAN;
use serde::Serialize;

/// Command Field of C-ECHO-RQ.
pub const C_ECHO_RQ: u16 = 0x0030;
/// Command Field of C-ECHO-RSP.
pub const C_ECHO_RSP: u16 = 0x8030;
/// Command Data Set Type: no data set follows.
const NO_DATA_SET: u16 = 0x0101;

/// Why a command set could not be built or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CommandError(pub String);

/// Encode a C-ECHO-RQ command set.
pub fn echo_rq(message_id: u16, sop_class: &str) -> Result<Vec<u8>, CommandError> {
    let obj = InMemDicomObject::command_from_element_iter([
        DataElement::new(
            tags::AFFECTED_SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from(sop_class),
        ),
        DataElement::new(tags::COMMAND_FIELD, VR::US, PrimitiveValue::from(C_ECHO_RQ)),
        DataElement::new(tags::MESSAGE_ID, VR::US, PrimitiveValue::from(message_id)),
        DataElement::new(
            tags::COMMAND_DATA_SET_TYPE,
            VR::US,
            PrimitiveValue::from(NO_DATA_SET),
        ),
    ]);
    let mut out = Vec::with_capacity(80);
    obj.write_dataset_with_ts(&mut out, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
        .map_err(|e| CommandError(format!("cannot encode C-ECHO-RQ: {e}")))?;
    Ok(out)
}

/// The fields of a C-ECHO-RSP the probe reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct EchoResponse {
    /// Command Field (0x8030 for C-ECHO-RSP).
    pub command_field: u16,
    /// Message ID Being Responded To.
    pub responded_to: Option<u16>,
    /// Status (0000,0900).
    pub status: u16,
    /// Affected SOP Class UID, when present.
    pub affected_sop_class: Option<String>,
}

/// The command elements a C-ECHO-RSP is read for, with their largest length.
const KEPT: [(u16, usize); 5] = [
    (0x0002, 64), // Affected SOP Class UID (UI)
    (0x0100, 2),  // Command Field (US)
    (0x0120, 2),  // Message ID Being Responded To (US)
    (0x0800, 2),  // Command Data Set Type (US)
    (0x0900, 2),  // Status (US)
];

/// Walk the elements of an Implicit VR Little Endian command set, check
/// that every length fits in the bytes received, and rebuild a clean command
/// set of the elements the probe reads (first occurrence of each, with a
/// correct group length).
///
/// Why: `dicom-object` 0.10 can allocate gigabytes on some malformed command
/// sets (found by the `probe_pdu` fuzz target: a huge announced length, and
/// repeated or unknown group 0000 elements), so it only ever sees this
/// rebuilt, well-formed set. Command sets hold only defined-length group
/// 0000 elements, so the walk is exact.
pub fn sanitize_command(bytes: &[u8]) -> Result<Vec<u8>, CommandError> {
    let mut rest = bytes;
    let mut kept: Vec<(u16, &[u8])> = Vec::new();
    while !rest.is_empty() {
        let Some((head, tail)) = rest.split_first_chunk::<8>() else {
            return Err(CommandError(format!(
                "command set ends inside an element header ({} bytes left)",
                rest.len()
            )));
        };
        let group = u16::from_le_bytes([head[0], head[1]]);
        let element = u16::from_le_bytes([head[2], head[3]]);
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        if group != 0x0000 {
            return Err(CommandError(format!(
                "element ({group:04X},{element:04X}) is not a command element"
            )));
        }
        let Some(value) = tail.get(..len) else {
            return Err(CommandError(format!(
                "element (0000,{element:04X}) announces {len} bytes, {} remain",
                tail.len()
            )));
        };
        if let Some((_, max)) = KEPT.iter().find(|(e, _)| *e == element) {
            if len > *max || (*max == 2 && len != 2) {
                return Err(CommandError(format!(
                    "element (0000,{element:04X}) has length {len}"
                )));
            }
            if !kept.iter().any(|(e, _)| *e == element) {
                kept.push((element, value));
            }
        }
        rest = &tail[len..];
    }
    kept.sort_by_key(|(e, _)| *e);
    let body_len: usize = kept.iter().map(|(_, v)| 8 + v.len()).sum();
    let mut out = Vec::with_capacity(12 + body_len);
    out.extend_from_slice(&[0, 0, 0, 0, 4, 0, 0, 0]);
    out.extend_from_slice(&u32::try_from(body_len).unwrap_or(u32::MAX).to_le_bytes());
    for (element, value) in kept {
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&element.to_le_bytes());
        out.extend_from_slice(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(value);
    }
    Ok(out)
}

/// Decode a C-ECHO-RSP command set (Implicit VR Little Endian).
pub fn read_echo_rsp(bytes: &[u8]) -> Result<EchoResponse, CommandError> {
    let clean = sanitize_command(bytes)?;
    let obj =
        InMemDicomObject::read_dataset_with_ts(&clean[..], &IMPLICIT_VR_LITTLE_ENDIAN.erased())
            .map_err(|e| CommandError(format!("cannot decode the response command set: {e}")))?;
    let u16_of = |tag| obj.get(tag).and_then(|e| e.to_int::<u16>().ok());
    let command_field =
        u16_of(tags::COMMAND_FIELD).ok_or_else(|| CommandError("no Command Field".into()))?;
    let status = u16_of(tags::STATUS).ok_or_else(|| CommandError("no Status".into()))?;
    Ok(EchoResponse {
        command_field,
        responded_to: u16_of(tags::MESSAGE_ID_BEING_RESPONDED_TO),
        status,
        affected_sop_class: obj
            .get(tags::AFFECTED_SOP_CLASS_UID)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_rq_has_group_length_and_fields() {
        let bytes = echo_rq(7, crate::VERIFICATION).unwrap();
        // (0000,0000) UL, length 4, then the group length value.
        assert_eq!(&bytes[..8], &[0, 0, 0, 0, 4, 0, 0, 0]);
        let group_len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        assert_eq!(group_len as usize, bytes.len() - 12);
        let back =
            InMemDicomObject::read_dataset_with_ts(&bytes[..], &IMPLICIT_VR_LITTLE_ENDIAN.erased())
                .unwrap();
        assert_eq!(
            back.get(tags::MESSAGE_ID).unwrap().to_int::<u16>().unwrap(),
            7
        );
    }

    #[test]
    fn a_response_is_read_back() {
        let obj = InMemDicomObject::command_from_element_iter([
            DataElement::new(
                tags::AFFECTED_SOP_CLASS_UID,
                VR::UI,
                PrimitiveValue::from(crate::VERIFICATION),
            ),
            DataElement::new(
                tags::COMMAND_FIELD,
                VR::US,
                PrimitiveValue::from(C_ECHO_RSP),
            ),
            DataElement::new(
                tags::MESSAGE_ID_BEING_RESPONDED_TO,
                VR::US,
                PrimitiveValue::from(7_u16),
            ),
            DataElement::new(
                tags::COMMAND_DATA_SET_TYPE,
                VR::US,
                PrimitiveValue::from(NO_DATA_SET),
            ),
            DataElement::new(tags::STATUS, VR::US, PrimitiveValue::from(0x0122_u16)),
        ]);
        let mut bytes = Vec::new();
        obj.write_dataset_with_ts(&mut bytes, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
            .unwrap();
        let rsp = read_echo_rsp(&bytes).unwrap();
        assert_eq!(rsp.status, 0x0122);
        assert_eq!(rsp.responded_to, Some(7));
        assert_eq!(rsp.affected_sop_class.as_deref(), Some(crate::VERIFICATION));
        assert!(read_echo_rsp(&[1, 2, 3]).is_err());
        // A length far beyond the bytes received is refused before decoding.
        let mut huge = bytes.clone();
        huge[4..8].copy_from_slice(&0xFFFF_FFFE_u32.to_le_bytes());
        assert!(read_echo_rsp(&huge).is_err());
        assert!(sanitize_command(&[8, 0, 0, 0, 0, 0, 0, 0]).is_err());
        // The command set the probe_pdu fuzz target found (repeated group
        // lengths and unknown elements) is read without a huge allocation.
        let found = include_bytes!("../tests/data/fuzz-oom-command.bin");
        let _ = read_echo_rsp(&found[1..]);
    }
}
