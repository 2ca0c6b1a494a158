//! Option decoding of received DHCP messages: the raw splitter, every typed
//! option parser, the Lease built from them, and the state machine's reply
//! checks. Never panics; a malformed option never hides the others.
#![no_main]

use std::time::Duration;

use annexr_dhcp::internal::options::{self, split_options};
use annexr_dhcp::{Client, ClientConfig, Event, Lease, LeaseSource, Mac};
use libfuzzer_sys::fuzz_target;

/// Fixed randomness so a crash replays.
struct Zero;
impl annexr_dhcp::Random for Zero {
    fn next_u32(&mut self) -> u32 {
        0
    }
}

fuzz_target!(|data: &[u8]| {
    // Each typed parser on the raw bytes.
    let _ = options::domain_search(data);
    let _ = options::classless_routes(data);
    let _ = options::static_routes(data);
    let _ = options::client_fqdn(data);
    let _ = options::text(data);

    // Whole messages: split, type, and feed a client waiting for a reply
    // with the message's own xid and chaddr so the checks go deep.
    if let Ok(raw) = split_options(data) {
        let lease = Lease::from_options(LeaseSource::Dhcp, std::net::Ipv4Addr::UNSPECIFIED, &raw);
        for (code, _) in raw.iter() {
            assert!(
                lease.unknown.contains_key(&code)
                    || lease.malformed.contains_key(&code)
                    || !matches!(code, 224..=254),
                "private option {code} lost"
            );
        }
        let _ = lease.routes();
        let _ = lease.prefix_len();
        let _ = (lease.t1(), lease.t2());
    }
    let _ = annexr_dhcp::internal::decode_lease(data);
    if data.len() >= 34 {
        let mut mac = [0u8; 6];
        mac.copy_from_slice(&data[28..34]);
        let xid = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
        let mut rng = Replay(xid, false);
        for client in [
            Client::new(ClientConfig::new(Mac(mac))),
            Client::init_reboot(ClientConfig::new(Mac(mac)), [10, 0, 0, 9].into()),
            Client::inform(ClientConfig::new(Mac(mac)), [10, 0, 0, 9].into()),
        ] {
            let (c, _) = client.handle(Event::Start, Duration::ZERO, &mut rng);
            let (c, _) = c.handle(Event::Received(data), Duration::from_secs(1), &mut Zero);
            // Whatever state it reached, one more reply and a timer are fine.
            let (c, _) = c.handle(Event::Received(data), Duration::from_secs(2), &mut Zero);
            let _ = c.handle(Event::Timer, Duration::from_secs(1 << 20), &mut Zero);
            rng.1 = false;
        }
    }
});

/// Hands out the message's xid first (so the reply matches), then zeros.
struct Replay(u32, bool);
impl annexr_dhcp::Random for Replay {
    fn next_u32(&mut self) -> u32 {
        if self.1 {
            0
        } else {
            self.1 = true;
            self.0
        }
    }
}
