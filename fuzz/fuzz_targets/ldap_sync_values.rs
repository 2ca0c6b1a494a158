//! The RFC 4533 values a directory sends while a watch follows it (Sync
//! Info intermediate messages, Sync State controls). Never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    annexr_ldap::fuzz_sync_values(data);
});
