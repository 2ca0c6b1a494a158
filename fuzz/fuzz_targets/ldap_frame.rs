//! The LDAP reply path: whatever a server sends, the framing check in front
//! of ldap3 never panics, never asks for more than the limit, and accepts
//! only messages whose every part it walked.
#![no_main]

use annexr_ldap::internal::{MAX_MESSAGE, check_message, frame_len, paged_cookie};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = paged_cookie(data);
    let mut rest = data;
    // Split the stream into messages as the guard does.
    while let Ok(Some(len)) = frame_len(rest) {
        assert!(len >= 2 && len <= rest.len() && len <= MAX_MESSAGE + 6);
        let (msg, tail) = rest.split_at(len);
        if let Ok(reply) = check_message(msg) {
            assert!(reply.id >= 0 && reply.id <= i64::from(i32::MAX));
            assert!(matches!(reply.op, 1 | 4 | 5 | 7 | 9 | 11 | 13 | 15 | 19 | 24 | 25));
        }
        rest = tail;
    }
});
