//! Property tests: any string round-trips through DNs, filters, LDIF and the
//! model, and hostile names never change the structure of a DN or a filter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use annexr_model::{
    AeTitle, Device, Dn, Filter, Layout, LdapEntry, NetworkAe, NetworkConnection,
    escape_filter_value, parse_entries, write_entries,
};
use proptest::prelude::*;

/// Strings rich in the characters that matter to DNs, filters and LDIF.
fn nasty() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ ,=+<>#;\"\\\\*()\\x00\\r\\n:a-zA-Zä€]{0,16}",
        Just("*)(objectClass=*".to_string()),
        Just("a,b=c".to_string()),
        Just(" #leading and trailing ".to_string()),
        Just("\\2a".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn dn_values_round_trip_and_keep_structure(v in nasty(), w in nasty()) {
        let base = Dn::parse("cn=Devices,cn=DICOM Configuration,dc=example,dc=org").unwrap();
        let dn = base.child("dicomDeviceName", &v).child("cn", &w);
        let text = dn.to_string();
        let back = Dn::parse(&text).unwrap();
        prop_assert_eq!(&back, &dn);
        prop_assert_eq!(back.len(), base.len() + 2);
        prop_assert_eq!(back.rdn().unwrap().value(), w.as_str());
        prop_assert!(back.is_within(&base));
        prop_assert!(back.parent().unwrap().matches(&base.child("dicomDeviceName", &v)));
    }

    #[test]
    fn dn_parser_never_panics(s in any::<String>()) {
        if let Ok(dn) = Dn::parse(&s) {
            // Whatever parsed renders to text that parses to the same DN.
            prop_assert_eq!(Dn::parse(&dn.to_string()).unwrap(), dn);
        }
    }

    #[test]
    fn filter_values_cannot_change_filter_structure(v in nasty(), w in nasty()) {
        let f = Filter::and([
            Filter::object_class("dicomNetworkAE"),
            Filter::eq("dicomAETitle", &v),
            Filter::negate(Filter::eq("dicomDeviceName", &w)),
        ]);
        let text = f.to_string();
        prop_assert_eq!(Filter::parse(&text).unwrap(), f);
        let escaped = escape_filter_value(&v);
        prop_assert!(!escaped.contains(['*', '(', ')', '\0']));
        // Every backslash starts a two-hex-digit escape.
        let b = escaped.as_bytes();
        for (i, _) in escaped.match_indices('\\') {
            prop_assert!(b.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)));
        }
    }

    #[test]
    fn filter_parser_never_panics(s in "[()&|!=*~<>a-z\\\\0-9 ]{0,40}") {
        if let Ok(f) = Filter::parse(&s) {
            prop_assert_eq!(Filter::parse(&f.to_string()).unwrap(), f);
        }
    }

    #[test]
    fn ldif_round_trips_any_entry(
        v in nasty(),
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        values in proptest::collection::vec(nasty(), 1..4),
    ) {
        let e = LdapEntry::new(Dn::parse("dc=example,dc=org").unwrap().child("cn", &v))
            .with("cn", v.as_str())
            .with("userCertificate;binary", bytes)
            .extend_with("description", values);
        let text = write_entries([&e]);
        prop_assert!(text.lines().all(|l| l.len() <= 76));
        prop_assert_eq!(parse_entries(&text).unwrap(), vec![e]);
    }

    #[test]
    fn ae_titles_and_devices_round_trip(title in "[ -\\[\\]-~]{1,16}", name in nasty(), desc in nasty()) {
        let Ok(aet) = AeTitle::new(&title) else {
            prop_assert!(title.trim().is_empty());
            return Ok(());
        };
        prop_assert_eq!(aet.as_str(), title.trim_matches(' '));
        let mut d = Device::new(&name)
            .with_connection(NetworkConnection::new(&name, "127.0.0.1", Some(104)))
            .with_ae(NetworkAe::new(aet).with_connection(&name).roles(true, true));
        d.description = Some(desc);
        let layout = Layout::under(&Dn::parse("dc=example,dc=org").unwrap());
        let entries = parse_entries(&write_entries(&d.to_entries(&layout))).unwrap();
        prop_assert_eq!(&Device::from_entries(&entries).unwrap(), &d);
        prop_assert_eq!(annexr_model::device_from_json(&annexr_model::device_to_json(&d)).unwrap(), d);
    }

    #[test]
    fn ae_title_check_never_panics(s in any::<String>()) {
        if let Ok(a) = AeTitle::new(&s) {
            prop_assert!((1..=16).contains(&a.as_str().len()));
            prop_assert!(!a.as_str().contains('\\'));
        }
    }
}

trait ExtendWith {
    fn extend_with(self, name: &str, values: Vec<String>) -> Self;
}

impl ExtendWith for LdapEntry {
    fn extend_with(mut self, name: &str, values: Vec<String>) -> Self {
        self.extend(name, values);
        self
    }
}

#[test]
fn the_named_hostile_strings() {
    let f = Filter::eq("dicomAETitle", "*)(objectClass=*");
    assert_eq!(f.to_string(), "(dicomAETitle=\\2a\\29\\28objectClass=\\2a)");
    assert!(
        matches!(Filter::parse(&f.to_string()).unwrap(), Filter::Equal(_, v) if v == b"*)(objectClass=*")
    );
    let dn = Dn::root()
        .child("dc", "org")
        .child("dicomDeviceName", "a,b=c");
    assert_eq!(dn.to_string(), "dicomDeviceName=a\\,b\\=c,dc=org");
    assert_eq!(Dn::parse(&dn.to_string()).unwrap().len(), 2);
}
