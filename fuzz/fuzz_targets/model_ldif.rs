//! LDIF reader: never panics; whatever parses, written again, parses to the same records.
#![no_main]

use annexr_model::{parse_ldif, write_ldif};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(records) = parse_ldif(text) {
        let again = parse_ldif(&write_ldif(&records));
        assert_eq!(again.as_ref().ok(), Some(&records), "write/read round trip");
    }
});
