//! Entry -> model mapping: LDIF entries (as a server returns them) never make the
//! mapping panic; a device that maps, mapped back to entries and read again, is equal.
#![no_main]

use annexr_model::{Configuration, Device, Dn, Layout, parse_entries};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(entries) = parse_entries(text) else {
        return;
    };
    if let Ok(cfg) = Configuration::from_entries(&entries) {
        let again = Configuration::from_entries(&cfg.to_entries());
        assert_eq!(again.as_ref().ok(), Some(&cfg), "configuration round trip");
    }
    if let Ok(device) = Device::from_entries(&entries) {
        let _ = device.problems();
        let layout = Layout::under(&Dn::parse("dc=example,dc=org").unwrap_or_default());
        let again = Device::from_entries(&device.to_entries(&layout));
        assert_eq!(again.as_ref().ok(), Some(&device), "device round trip");
        let json = annexr_model::device_to_json(&device);
        assert_eq!(
            annexr_model::device_from_json(&json).ok().as_ref(),
            Some(&device),
            "store round trip"
        );
    }
});
