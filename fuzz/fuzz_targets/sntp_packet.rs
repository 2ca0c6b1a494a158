//! The reply path on arbitrary datagrams: sntpc's parsing and checks through
//! annexr_sntp::judge, then the server report. Never panics; a reply that is
//! accepted must echo the request's transmit timestamp.
#![no_main]

use annexr_sntp::jiff::Timestamp;
use annexr_sntp::{Request, ServerReport, judge};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let t1 = Timestamp::from_second(1_800_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
    let Some(request) = Request::offline(t1) else {
        return;
    };
    let server = std::net::SocketAddr::from(([127, 0, 0, 1], 123));
    // Half the inputs carry our transmit timestamp as origin, so the checks
    // behind the anti-spoofing one are reached too.
    let mut reply = data.to_vec();
    if reply.len() >= 48 && reply[0] & 1 == 0 {
        reply[24..32].copy_from_slice(&request.bytes[40..48]);
    }
    let t4 = Timestamp::from_second(1_800_000_001).unwrap_or(Timestamp::UNIX_EPOCH);
    let outcome = judge(server, &request, &reply, server, t4);
    if outcome.is_ok() {
        assert_eq!(&reply[24..32], &request.bytes[40..48]);
    }
    let _ = ServerReport::from_outcomes(server, vec![outcome]);
});
