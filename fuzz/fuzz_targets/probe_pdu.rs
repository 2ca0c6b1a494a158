//! Everything the probe parses from a peer: PDU framing and decoding (our
//! A-ASSOCIATE-RJ / A-ABORT decoder, dicom-ul's reader for the rest, the
//! negotiation against a proposal) and the C-ECHO-RSP command set.
#![no_main]

use annexr_probe::ProposedContext;
use annexr_probe::internal::pdu::{self, Incoming};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector & 1 == 0 {
        if let Some(header) = rest.get(..pdu::HEADER_LEN) {
            let mut h = [0u8; pdu::HEADER_LEN];
            h.copy_from_slice(header);
            let _ = pdu::parse_header(&h);
        }
        match pdu::decode_pdu(rest) {
            Ok(Incoming::Accept(ac)) => {
                let proposed = [
                    ProposedContext::verification(),
                    ProposedContext::new("1.2.840.10008.5.1.4.1.1.2", ["1.2.840.10008.1.2"]),
                ];
                let _ = pdu::negotiate(&proposed, &ac);
            }
            Ok(Incoming::PData(values)) => {
                for v in values {
                    let _ = annexr_probe::internal::dimse::read_echo_rsp(&v.data);
                }
            }
            _ => {}
        }
    } else {
        let _ = annexr_probe::internal::dimse::read_echo_rsp(rest);
    }
});
