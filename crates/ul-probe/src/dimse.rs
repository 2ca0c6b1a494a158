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

/// Decode a C-ECHO-RSP command set (Implicit VR Little Endian).
pub fn read_echo_rsp(bytes: &[u8]) -> Result<EchoResponse, CommandError> {
    let obj = InMemDicomObject::read_dataset_with_ts(bytes, &IMPLICIT_VR_LITTLE_ENDIAN.erased())
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
    }
}
