//! DN and filter parsers: never panic; whatever parses renders to text that parses
//! to the same value.
#![no_main]

use annexr_model::{Dn, Filter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(dn) = Dn::parse(text) {
        let back = Dn::parse(&dn.to_string());
        assert_eq!(back.as_ref().ok(), Some(&dn), "DN round trip");
        let _ = dn.normalized();
        if let Some(p) = dn.parent() {
            assert!(dn.is_within(&p));
        }
    }
    if let Ok(f) = Filter::parse(text) {
        let back = Filter::parse(&f.to_string());
        assert_eq!(back.as_ref().ok(), Some(&f), "filter round trip");
    }
});
