//! The server's schema definitions (RFC 4512): whatever a server puts in
//! its subschema entry, parsing never panics, and the attributes a load
//! then asks for never include a password.
#![no_main]

use annexr_ldap::internal::{Subschema, parse_description};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = parse_description(&text);
    let values: Vec<&str> = text.split('\n').collect();
    let schema = Subschema::from_values(values.iter().copied(), values.iter().copied());
    let names: Vec<&str> = text.split_whitespace().take(8).collect();
    let wanted = schema.wanted(names.iter().copied().chain(["extensibleObject"]));
    assert!(!wanted.iter().any(|a| a.eq_ignore_ascii_case("userPassword")));
});
