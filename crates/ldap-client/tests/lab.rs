//! annexr-ldap against the lab's real LDAP servers: connection, TLS,
//! failover, registry, load, resolve, find, install (with kills), merge,
//! conflicts, online/offline, read-only ACL and replica referrals, reconnect.
//!
//! The locate/bind, TLS (ldaps, StartTLS), registry, load, resolve/find,
//! install, merge, online/offline and LDIF fallback tests run against every
//! server family of the lab (OpenLDAP
//! slapd and 389 Directory Server, `LdapServerKind::all()`), each from one
//! test body; where a family legitimately answers differently, the test
//! says what each family answers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashSet;
use std::time::Duration;

use annexr_lab::{LdapServer, LdapServerKind, Slapd, SlapdPair, or_skip};
use annexr_ldap::{
    AeAddress, AllocationPolicy, Allocator, ClientConfig, ClockCorrection, DeviceLookup,
    DeviceTypeQuery, Error, InstallOutcome, InstallPlan, InstallStep, LdapClient, Registration,
    SopClassQuery, Target, UpdateOutcome, WatchEvent, WatchOptions,
};
use annexr_model::{
    AeTitle, Attribute, Device, Dn, Extensions, Layout, NetworkAe, NetworkConnection,
    TransferCapability, TransferRole, export_device,
};

fn aet(s: &str) -> AeTitle {
    AeTitle::new(s).unwrap()
}

fn layout(slapd: &(impl LdapServer + ?Sized)) -> Layout {
    Layout::at(Dn::parse(&slapd.config_dn()).unwrap())
}

/// The device account over StartTLS (a password bind needs TLS), trusting
/// the server's lab CA.
fn config(slapd: &(impl LdapServer + ?Sized)) -> ClientConfig {
    ClientConfig::new(slapd.url())
        .ca_file(slapd.ca_cert_path().expect("lab slapd has TLS"))
        .simple_bind(slapd.device_dn(), slapd.device_password())
        .timeouts(Duration::from_secs(3), Duration::from_secs(10))
}

/// One PEM file trusting the lab CAs of several slapds (each has its own).
fn ca_bundle(servers: &[&Slapd]) -> tempfile::NamedTempFile {
    let mut pem = String::new();
    for s in servers {
        pem.push_str(&std::fs::read_to_string(s.ca_cert_path().unwrap()).unwrap());
    }
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), pem).unwrap();
    f
}

fn client(slapd: &(impl LdapServer + ?Sized)) -> LdapClient {
    LdapClient::new(config(slapd)).unwrap()
}

/// A modality with `aes` AEs whose vendor extensions use classes the lab's
/// schema has (`extensibleObject`), plus a vendor child entry.
fn device(name: &str, prefix: &str, aes: usize) -> Device {
    let mut d = annexr_model::sample_modality(name, prefix, aes).unwrap();
    d.extensions = Extensions {
        object_classes: vec!["extensibleObject".into()],
        attributes: vec![Attribute {
            name: "labeledURI".into(),
            values: vec![b"https://ct.example.org/ vendor".to_vec()],
        }],
    };
    d.network_aes[0].extensions = Extensions {
        object_classes: vec!["extensibleObject".into()],
        attributes: vec![Attribute {
            name: "seeAlso".into(),
            values: vec![b"cn=somewhere,dc=example,dc=org".to_vec()],
        }],
    };
    d
}

/// A device with one AE on one connection, of a given type.
fn small_device(name: &str, device_type: &str, title: &str, port: u16) -> Device {
    Device::new(name)
        .with_device_type(device_type)
        .with_connection(NetworkConnection::new("dicom", "127.0.0.1", Some(port)))
        .with_ae(
            NetworkAe::new(aet(title))
                .with_connection("dicom")
                .roles(true, true)
                .with_transfer_capability(TransferCapability::verification(TransferRole::Scp)),
        )
}

/// `d` as a server of `kind` gives it back: 389-DS adds the abstract class
/// `top` to every entry whose objectClass does not list it (the vendor's
/// own entries below a device keep all their classes in the model).
fn as_stored(kind: LdapServerKind, d: &Device) -> Device {
    let mut d = d.clone();
    if kind == LdapServerKind::Ds389 {
        for entry in &mut d.other_entries {
            if !entry.has_object_class("top") {
                entry.push("objectClass", "top");
            }
        }
    }
    d
}

/// Equal as LDAP sees them: no differences (values compare as multisets).
fn same(a: &Device, b: &Device) -> bool {
    let l = Layout::under(&Dn::parse("dc=example,dc=org").unwrap());
    let d = annexr_model::diff(a, b, &l);
    if !d.is_empty() {
        eprintln!("differences: {d:#?}");
    }
    d.is_empty()
}

fn count(log: &str, what: &str) -> usize {
    log.lines().filter(|l| l.contains(what)).count()
}

#[tokio::test]
async fn locate_bind_and_credentials_stay_secret() {
    for kind in LdapServerKind::all() {
        let Some(server) = or_skip(kind.start()) else {
            continue;
        };
        let c = client(&server);
        let located = c.locate().await.unwrap();
        assert_eq!(located.value, layout(&server));
        // StartTLS + bind + root DSE + the naming-context search.
        assert_eq!(located.stats.round_trips, 4, "{:?}", located.stats);
        assert_eq!(located.stats.connects, 1);
        // Remembered: no further round trip.
        assert_eq!(c.locate().await.unwrap().stats.round_trips, 0);

        // Anonymous reads work on this server.
        let anon = LdapClient::new(ClientConfig::new(server.url())).unwrap();
        assert_eq!(anon.locate().await.unwrap().value, layout(&server));

        // A wrong password: typed error naming the server and the DN, never the password.
        let bad =
            LdapClient::new(config(&server).simple_bind(server.device_dn(), "wrong-Pa55word"))
                .unwrap();
        let err = bad.locate().await.unwrap_err();
        assert_eq!(err.result_code(), Some(49), "{err}");
        let text = format!("{err} {err:?} {:?}", bad);
        assert!(!text.contains("wrong-Pa55word"), "{text}");
        assert!(
            text.contains(&server.url()) && text.contains("cn=device"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn failover_to_the_next_server_and_all_failing() {
    let Some(slapd) = or_skip(Slapd::builder().start()) else {
        return;
    };
    // A port nobody listens on (bound then released).
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("ldap://127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let mut cfg = config(&slapd);
    cfg.servers = vec![dead.clone(), slapd.url()];
    let c = LdapClient::new(cfg.clone()).unwrap();
    let r = c.connect().await.unwrap();
    assert_eq!(r.value, slapd.url());
    cfg.servers = vec![dead.clone(), dead.clone()];
    let err = LdapClient::new(cfg).unwrap().connect().await.unwrap_err();
    match &err {
        Error::AllServersFailed(errors) => assert_eq!(errors.len(), 2),
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains(&dead));
}

#[tokio::test]
async fn tls_ldaps_and_starttls_verify_the_certificate() {
    for kind in LdapServerKind::all() {
        let Some(server) = or_skip(kind.builder().tls(true).start()) else {
            continue;
        };
        let ca = server.ca_cert_path().unwrap().to_path_buf();
        let ldaps = server.ldaps_url().unwrap();
        let mut cfg = config(&server).ca_file(&ca);
        cfg.servers = vec![ldaps.clone()];
        let c = LdapClient::new(cfg).unwrap();
        assert_eq!(c.locate().await.unwrap().value, layout(&server));

        let starttls = LdapClient::new(config(&server).ca_file(&ca).starttls(true)).unwrap();
        let r = starttls.locate().await.unwrap();
        assert_eq!(r.value, layout(&server));
        // StartTLS is one more request before the bind.
        assert_eq!(r.stats.round_trips, 4);

        // Verification is on by default: the lab CA is not in the system store.
        for url in [ldaps, server.url()] {
            let untrusted =
                ClientConfig::new(url).simple_bind(server.device_dn(), server.device_password());
            match LdapClient::new(untrusted) {
                // No system store at all is refused before connecting.
                Err(e) => assert!(matches!(e, Error::Config(_)), "{e}"),
                Ok(c) => {
                    let err = c.connect().await.unwrap_err();
                    assert!(matches!(err, Error::Connect { .. }), "{err}");
                }
            }
        }
        // A CA file that is not PEM is a configuration error.
        let bogus = tempfile::NamedTempFile::new().unwrap();
        let err = LdapClient::new(config(&server).ca_file(bogus.path())).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err}");
    }
}

/// The lab certificate is valid for 30 days from now: with the clock
/// corrected by two years either way it is expired or not yet valid, over
/// ldaps and StartTLS alike; with a small correction it still verifies.
#[tokio::test]
async fn tls_certificates_are_checked_against_the_corrected_clock() {
    let Some(slapd) = or_skip(Slapd::builder().tls(true).start()) else {
        return;
    };
    let ca = slapd.ca_cert_path().unwrap().to_path_buf();
    let two_years_us = 730 * 86_400 * 1_000_000;
    let ldaps = |micros: i64| {
        let mut cfg = config(&slapd)
            .ca_file(&ca)
            .clock_correction(ClockCorrection::from_micros(micros));
        cfg.servers = vec![slapd.ldaps_url().unwrap()];
        LdapClient::new(cfg).unwrap()
    };
    for (micros, why) in [(two_years_us, "expired"), (-two_years_us, "not valid yet")] {
        let err = ldaps(micros).connect().await.unwrap_err();
        assert!(matches!(err, Error::Connect { .. }), "{err}");
        assert!(err.to_string().contains(why), "{err}");
        let starttls = config(&slapd)
            .ca_file(&ca)
            .starttls(true)
            .clock_correction(ClockCorrection::from_micros(micros));
        let err = LdapClient::new(starttls)
            .unwrap()
            .connect()
            .await
            .unwrap_err();
        assert!(err.to_string().contains(why), "{err}");
    }
    assert_eq!(
        ldaps(3_000_000).locate().await.unwrap().value,
        layout(&slapd)
    );
}

#[tokio::test]
async fn registry_register_check_list_allocate_unregister() {
    for kind in LdapServerKind::all() {
        let Some(server) = or_skip(kind.start()) else {
            continue;
        };
        let c = client(&server);
        assert_eq!(
            c.register_title("CT1").await.unwrap().value,
            Registration::Registered
        );
        let again = c.register_title("CT1").await.unwrap();
        assert_eq!(again.value, Registration::Taken);
        // The Devices tree is searched for an AE using it, then the add.
        assert_eq!(again.stats.round_trips, 2);
        // Titles with characters special in DNs and filters.
        assert_eq!(
            c.register_title("A,B=C+*(").await.unwrap().value,
            Registration::Registered
        );
        let checked = c.check_titles(&["CT1", "CT2", "A,B=C+*("]).await.unwrap();
        assert_eq!(
            checked.value,
            vec![
                ("CT1".into(), false),
                ("CT2".into(), true),
                ("A,B=C+*(".into(), false)
            ]
        );
        // The registry, then the AEs of the Devices tree.
        assert_eq!(checked.stats.round_trips, 2);
        assert!(c.register_title("WAY-TOO-LONG-AE-TITLE").await.is_err());

        // Structured allocation skips taken titles.
        c.register_title("CT0018").await.unwrap();
        let mut alloc = Allocator::new(vec![AllocationPolicy::Structured {
            prefix: "CT".into(),
            start: 1,
            digits: 3,
            check_digit: true,
        }])
        .unwrap();
        let a = c.allocate_title(&mut alloc).await.unwrap().value;
        assert_eq!((a.title.as_str(), a.attempts), ("CT0026", 2));
        assert_eq!(
            c.titles_in_use("CT").await.unwrap().value,
            vec!["CT0018", "CT0026", "CT1"]
        );
        assert_eq!(c.titles_in_use("").await.unwrap().value.len(), 4);
        // Random allocation: "AE" + 14 digits.
        let mut random = Allocator::new(vec![AllocationPolicy::random_ae()]).unwrap();
        let r = c.allocate_title(&mut random).await.unwrap().value;
        assert!(r.title.as_str().starts_with("AE") && r.title.as_str().len() == 16);
        // Exhausted preferred list.
        let mut only =
            Allocator::new(vec![AllocationPolicy::preferred(&["CT1"]).unwrap()]).unwrap();
        assert!(matches!(
            c.allocate_title(&mut only).await.unwrap_err(),
            Error::TitlesExhausted { tried: 1, .. }
        ));
        assert!(c.unregister_title("CT1").await.unwrap().value);
        assert!(!c.unregister_title("CT1").await.unwrap().value);
        assert_eq!(
            c.register_title("CT1").await.unwrap().value,
            Registration::Registered
        );
    }
}

#[tokio::test]
async fn load_device_is_one_bind_and_one_search() {
    let mut d = device("CT-LOAD", "LD", 10);
    // Vendor extensions cost two round trips more (below): not here.
    let extended = device("CT-EXT", "LX", 10);
    d.extensions = Default::default();
    d.other_entries.clear();
    for ae in &mut d.network_aes {
        ae.extensions = Default::default();
    }
    // 4 connections, as in the performance case.
    d.connections
        .push(NetworkConnection::new("dicom3", "127.0.0.1", Some(11113)));
    d.connections
        .push(NetworkConnection::new("dicom4", "127.0.0.1", Some(11114)));
    for kind in LdapServerKind::all() {
        let Some(server) = or_skip(kind.builder().log_operations(true).start()) else {
            continue;
        };
        server
            .ldapadd(&export_device(&d, &layout(&server)))
            .unwrap();
        let log_before = server.log();
        let c = LdapClient::new(config(&server).base_dn(server.config_dn())).unwrap();
        let r = c.load_device("CT-LOAD").await.unwrap();
        assert_eq!(
            r.stats.round_trips, 4,
            "StartTLS + bind + base DN check + one subtree search: {:?}",
            r.stats
        );
        let DeviceLookup::Found(loaded) = r.value else {
            panic!("not found")
        };
        assert!(same(&loaded, &as_stored(kind, &d)), "{kind}");
        assert_eq!(loaded.network_aes.len(), 10);
        assert_eq!(loaded.connections.len(), 4);
        // The server saw exactly one bind and one search from us.
        let log = server.log();
        let ours = &log[log_before.len()..];
        // slapd logs a bind in two lines (request, then mechanism and
        // security strength factor), 389-DS in one (its RESULT line names
        // no operation).
        let lines_per_bind = match kind {
            LdapServerKind::OpenLdap => 2,
            _ => 1,
        };
        assert_eq!(
            count(ours, " BIND dn=") / lines_per_bind,
            1,
            "{kind}: {ours}"
        );
        // The two base DN checks (once per client) and the device search.
        assert_eq!(count(ours, " SRCH base="), 3, "{kind}: {ours}");

        // Not there: a distinct outcome, still one search.
        let missing = c.load_device("NO-SUCH-DEVICE").await.unwrap();
        assert_eq!(
            missing.value,
            DeviceLookup::NotConfigured {
                name: "NO-SUCH-DEVICE".into()
            }
        );
        assert_eq!(missing.stats.round_trips, 1);
        // Hostile names stay values.
        let hostile = c.load_device("x)(objectClass=*),cn=Devices").await.unwrap();
        assert!(matches!(hostile.value, DeviceLookup::NotConfigured { .. }));

        // Vendor extension classes are read by the attributes the server's
        // schema gives them, never with `*`: one round trip for the schema
        // (once per client), one for the extension entries.
        server
            .ldapadd(&export_device(&extended, &layout(&server)))
            .unwrap();
        let log_before = server.log();
        let c = LdapClient::new(config(&server).base_dn(server.config_dn())).unwrap();
        let r = c.load_device("CT-EXT").await.unwrap();
        assert_eq!(
            r.stats.round_trips, 6,
            "{kind}: StartTLS + bind + base DN check + subtree search + schema + extensions: {:?}",
            r.stats
        );
        let DeviceLookup::Found(loaded) = r.value else {
            panic!("{kind}: not found")
        };
        assert!(same(&loaded, &as_stored(kind, &extended)), "{kind}");
        let again = c.load_device("CT-EXT").await.unwrap();
        assert_eq!(again.stats.round_trips, 2, "{kind}: {:?}", again.stats);
        // No search asked for every attribute, nor for a password. slapd
        // logs `SRCH attr=a b`, 389-DS `SRCH ... attrs="a b"`.
        let log = server.log();
        let ours = &log[log_before.len()..];
        let asked: Vec<Vec<String>> = ours
            .lines()
            .filter_map(|l| {
                let list = match kind {
                    LdapServerKind::OpenLdap => l.split(" SRCH attr=").nth(1)?,
                    _ => l.split(" SRCH ").nth(1)?.split(" attrs=").nth(1)?,
                };
                Some(
                    list.trim_matches('"')
                        .split(|c: char| c.is_whitespace() || c == '"')
                        .filter(|a| !a.is_empty())
                        .map(str::to_string)
                        .collect(),
                )
            })
            .collect();
        assert!(asked.len() >= 3, "{kind}: {ours}");
        for attrs in &asked {
            assert!(
                !attrs.iter().any(|a| a == "*" || a == "ALL"),
                "{kind}: {attrs:?}"
            );
            assert!(
                !attrs.iter().any(|a| a.eq_ignore_ascii_case("userPassword")),
                "{kind}: {attrs:?}"
            );
        }
    }
}

/// Seeds `n` devices: every third an ARCHIVE, half of those in cluster
/// "WEST", one of the archives offline.
fn seed_site(slapd: &(impl LdapServer + ?Sized), n: usize) -> Vec<Device> {
    let mut devices = Vec::new();
    let l = layout(slapd);
    let mut ldif = String::new();
    for i in 0..n {
        let kind = if i % 3 == 0 { "ARCHIVE" } else { "CT" };
        let mut d = small_device(
            &format!("dev-{i}"),
            kind,
            &format!("AET{i}"),
            10000 + i as u16,
        );
        if i % 6 == 0 {
            d.network_aes[0].application_clusters.push("WEST".into());
        }
        if i == 3 {
            d.installed = false;
        }
        ldif.push_str(export_device(&d, &l).trim_start_matches("version: 1\n"));
        devices.push(d);
    }
    slapd.ldapadd(&format!("version: 1\n{ldif}")).unwrap();
    devices
}

#[tokio::test]
async fn resolve_and_find_by_device_type_in_bounded_round_trips() {
    for kind in LdapServerKind::all() {
        let Some(server) = or_skip(kind.start()) else {
            continue;
        };
        seed_site(&server, 30);
        let c = client(&server);
        c.locate().await.unwrap();

        let r = c.resolve_ae("AET4").await.unwrap();
        assert_eq!(r.stats.round_trips, 2);
        let ae = r.value.unwrap();
        assert_eq!(ae.device_name, "dev-4");
        assert_eq!(
            ae.address(),
            Some(AeAddress {
                host: "127.0.0.1",
                port: 10004,
                tls: false
            })
        );
        assert!(ae.installed);
        let offline = c.resolve_ae("AET3").await.unwrap().value.unwrap();
        assert!(!offline.installed && offline.address().is_none());
        assert_eq!(c.resolve_ae("NOPE").await.unwrap().value, None);

        let all = c
            .find_aes_by_device_type(&DeviceTypeQuery::new("ARCHIVE"))
            .await
            .unwrap();
        assert_eq!(all.value.len(), 10);
        assert_eq!(all.stats.round_trips, 2, "{:?}", all.stats);
        assert_eq!(all.stats.requests, 11);
        let installed = c
            .find_aes_by_device_type(&DeviceTypeQuery {
                installed_only: true,
                ..DeviceTypeQuery::new("ARCHIVE")
            })
            .await
            .unwrap();
        assert_eq!(installed.value.len(), 9);
        assert!(installed.value.iter().all(|a| a.device_name != "dev-3"));
        let west = c
            .find_aes_by_device_type(&DeviceTypeQuery {
                application_cluster: Some("WEST".into()),
                ..DeviceTypeQuery::new("ARCHIVE")
            })
            .await
            .unwrap();
        let mut names: Vec<_> = west.value.iter().map(|a| a.device_name.clone()).collect();
        names.sort();
        assert_eq!(names, ["dev-0", "dev-12", "dev-18", "dev-24", "dev-6"]);
        // Device types match without regard to case (users type "archive").
        let lower = c
            .find_aes_by_device_type(&DeviceTypeQuery::new("archive"))
            .await
            .unwrap();
        assert_eq!(lower.value.len(), 10);
        // Nothing matches: one round trip, and the site's terms for the hint.
        let none = c.find_aes(&DeviceTypeQuery::new("PRINT")).await.unwrap();
        assert!(none.value.aes.is_empty());
        assert_eq!(none.stats.round_trips, 1);
        assert_eq!(none.value.device_types_on_site, ["ARCHIVE", "CT"]);
    }
}

#[tokio::test]
async fn install_in_order_then_exists_and_blocking_facade_loads_it() {
    for kind in LdapServerKind::all() {
        let Some(server) = or_skip(kind.builder().log_operations(true).start()) else {
            continue;
        };
        let d = device("CT-INSTALL", "IN", 3);
        let c = client(&server);
        let mut steps = Vec::new();
        let r = c
            .install_with(&InstallPlan::new(d.clone()), |s| steps.push(s.clone()))
            .await
            .unwrap();
        let InstallOutcome::Installed {
            device,
            attempts,
            resumed,
            granted,
        } = r.value
        else {
            panic!("{:?}", r.value)
        };
        assert!(!resumed);
        assert_eq!(attempts, vec![1, 1, 1]);
        assert_eq!(granted, [aet("IN1"), aet("IN2"), aet("IN3")]);
        assert!(same(&device, &as_stored(kind, &d)), "{kind}");
        // Standard's order: titles, then device, connections, AEs with TCs.
        assert!(
            matches!(&steps[0], InstallStep::TitleRegistered { index: 0, title } if title == "IN1")
        );
        assert!(
            matches!(&steps[3], InstallStep::EntryCreated(dn) if dn.starts_with("dicomDeviceName=CT-INSTALL"))
        );
        assert!(matches!(&steps[4], InstallStep::EntryCreated(dn) if dn.starts_with("cn=dicom,")));
        assert!(
            matches!(&steps[6], InstallStep::EntryCreated(dn) if dn.starts_with("dicomAETitle=IN1,"))
        );
        let log = server.log();
        let first_add = log.find(" ADD dn=\"dicomAETitle=IN1,cn=Unique").unwrap();
        let device_add = log.find(" ADD dn=\"dicomDeviceName=CT-INSTALL").unwrap();
        assert!(first_add < device_add);
        assert_eq!(
            c.titles_in_use("IN").await.unwrap().value,
            vec!["IN1", "IN2", "IN3"]
        );
        // A second install of the same name is refused: that is the merge path.
        let err = c.install(&InstallPlan::new(d.clone())).await.unwrap_err();
        assert!(matches!(err, Error::DeviceExists { .. }), "{err}");

        // The blocking facade, from a plain thread.
        let cfg = config(&server);
        let loaded = std::thread::spawn(move || {
            let b = annexr_ldap::blocking::LdapClient::new(cfg).unwrap();
            b.load_device("CT-INSTALL").unwrap().value
        })
        .join()
        .unwrap();
        assert!(
            same(&loaded.found().unwrap(), &as_stored(kind, &d)),
            "{kind}"
        );
    }
}

/// The blocking twin has what the async client offers: install_with (with
/// its steps), the configuration, the cache, and a watch whose events are
/// read without async (its runtime's worker drives it between calls).
#[test]
fn blocking_twin_installs_with_steps_and_watches() {
    let Some(slapd) = or_skip(Slapd::builder().start()) else {
        return;
    };
    let d = device("CT-TWIN", "TW", 1);
    let b = annexr_ldap::blocking::LdapClient::new(config(&slapd)).unwrap();
    assert_eq!(b.config().servers, vec![slapd.url()]);
    let mut steps = Vec::new();
    let r = b
        .install_with(&InstallPlan::new(d.clone()), |s| steps.push(s.clone()))
        .unwrap();
    assert!(
        matches!(r.value, InstallOutcome::Installed { .. }),
        "{:?}",
        r.value
    );
    assert!(!steps.is_empty());
    let cached = b.resolve_ae_cached("TW1").unwrap().value.unwrap();
    assert_eq!(cached.device_name, "CT-TWIN");
    b.clear_cache();
    // After clear_cache the lookup goes to the server again.
    let fresh = b.resolve_ae_cached("TW1").unwrap();
    assert!(fresh.stats.round_trips > 0, "{:?}", fresh.stats);

    let mut watch = b.watch(vec!["CT-TWIN".into()], WatchOptions::default());
    assert!(
        matches!(watch.blocking_next(), Some(WatchEvent::Following { .. })),
        "the watch reports that it follows first"
    );
    match watch.blocking_next() {
        Some(WatchEvent::Device { name, lookup }) => {
            assert_eq!(name, "CT-TWIN");
            assert!(same(&lookup.found().unwrap(), &d));
        }
        other => panic!("expected the followed device, got {other:?}"),
    }
}

#[tokio::test]
async fn failed_install_leaves_no_orphans_and_releases_titles() {
    for kind in LdapServerKind::all() {
        let Some(server) = or_skip(kind.start()) else {
            continue;
        };
        let mut d = device("CT-FAIL", "FL", 3);
        // The last AE carries what the server's schema refuses: the device,
        // connections and two AEs are created before it fails. slapd refuses
        // an attribute type it does not know (undefinedAttributeType, 17);
        // 389-DS allows any attribute on an extensibleObject entry, and
        // refuses an object class it does not know (objectClassViolation, 65).
        let (extensions, refused) = match kind {
            LdapServerKind::OpenLdap => (
                Extensions {
                    object_classes: vec!["extensibleObject".into()],
                    attributes: vec![Attribute {
                        name: "noSuchAttributeType".into(),
                        values: vec![b"x".to_vec()],
                    }],
                },
                17,
            ),
            _ => (
                Extensions {
                    object_classes: vec!["noSuchObjectClass".into()],
                    attributes: Vec::new(),
                },
                65,
            ),
        };
        d.network_aes[2].extensions = extensions;
        let c = client(&server);
        let err = c.install(&InstallPlan::new(d)).await.unwrap_err();
        assert_eq!(err.result_code(), Some(refused), "{kind}: {err}");
        assert!(matches!(
            c.load_device("CT-FAIL").await.unwrap().value,
            DeviceLookup::NotConfigured { .. }
        ));
        assert!(c.titles_in_use("FL").await.unwrap().value.is_empty());
        let everything = server
            .ldapsearch_scope(server.suffix(), "sub", "(objectClass=*)")
            .unwrap();
        assert!(everything.contains("cn=Devices,"), "{kind}: {everything}");
        assert!(!everything.contains("CT-FAIL"), "{kind}: {everything}");
    }
}

/// Run by `killed_install_converges` in a child process: installs and kills
/// itself with SIGKILL after step N.
#[test]
#[ignore = "child process of killed_install_converges"]
fn install_child() {
    let (Ok(url), Ok(base), Ok(journal), Ok(kill_after), Ok(name)) = (
        std::env::var("CHILD_URL"),
        std::env::var("CHILD_BASE"),
        std::env::var("CHILD_JOURNAL"),
        std::env::var("CHILD_KILL_AFTER"),
        std::env::var("CHILD_DEVICE"),
    ) else {
        return;
    };
    let kill_after: usize = kill_after.parse().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let cfg = ClientConfig::new(url)
            .ca_file(std::env::var("CHILD_CA").unwrap())
            .simple_bind(
                std::env::var("CHILD_DN").unwrap(),
                std::env::var("CHILD_PW").unwrap(),
            )
            .base_dn(base);
        let c = LdapClient::new(cfg).unwrap();
        let plan = InstallPlan::new(device(&name, &std::env::var("CHILD_PREFIX").unwrap(), 3))
            .journal(journal);
        let mut n = 0;
        let _ = c
            .install_with(&plan, |_| {
                n += 1;
                if n == kill_after {
                    let me = std::process::id().to_string();
                    let _ = std::process::Command::new("kill")
                        .args(["-9", &me])
                        .status();
                    std::thread::sleep(Duration::from_secs(60));
                }
            })
            .await;
    });
}

#[tokio::test]
async fn killed_install_converges_when_re_run() {
    let Some(slapd) = or_skip(Slapd::builder().start()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let c = client(&slapd);
    // 3 titles, device, 2 connections, 3 AEs with 3 TCs each, 1 vendor entry:
    // 3 + 1 + 2 + 12 + 1 = 19 steps. Kill after several of them.
    for kill_after in [1usize, 3, 4, 6, 9, 18] {
        let name = format!("CT-KILL-{kill_after}");
        let prefix = format!("K{kill_after}X");
        let journal = dir.path().join(format!("{name}.journal"));
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "install_child", "--ignored", "--nocapture"])
            .env("CHILD_URL", slapd.url())
            .env("CHILD_BASE", slapd.config_dn())
            .env("CHILD_DN", slapd.device_dn())
            .env("CHILD_PW", slapd.device_password())
            .env("CHILD_CA", slapd.ca_cert_path().unwrap())
            .env("CHILD_JOURNAL", &journal)
            .env("CHILD_KILL_AFTER", kill_after.to_string())
            .env("CHILD_DEVICE", &name)
            .env("CHILD_PREFIX", &prefix)
            .status()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "child was killed after step {kill_after}"
        );
        assert!(journal.exists());
        // Re-run in this process with the same journal.
        let plan = InstallPlan::new(device(&name, &prefix, 3)).journal(&journal);
        let r = c.install(&plan).await.unwrap();
        let InstallOutcome::Installed {
            device: got,
            resumed,
            ..
        } = r.value
        else {
            panic!("{:?}", r.value)
        };
        assert!(resumed, "kill after {kill_after}");
        assert!(same(&got, &device(&name, &prefix, 3)));
        // Exactly the device's titles are registered: none leaked.
        assert_eq!(
            c.titles_in_use(&prefix).await.unwrap().value,
            vec![
                format!("{prefix}1"),
                format!("{prefix}2"),
                format!("{prefix}3")
            ],
            "kill after {kill_after}"
        );
        assert!(!journal.exists());
    }
}

/// Killed after the registry add of a proposed title succeeded but before the
/// journal recorded it: on resume the title (taken, by ourselves, used by no
/// AE) is claimed, not orphaned. A pending title another device's AE uses is
/// not claimed.
#[tokio::test]
async fn resume_claims_a_pending_title_that_no_ae_uses() {
    let Some(slapd) = or_skip(Slapd::builder().start()) else {
        return;
    };
    seed_site(&slapd, 3); // AET0..AET2 in use by AEs
    let c = client(&slapd);
    let dir = tempfile::tempdir().unwrap();
    for (device_name, pending, expect) in [("pend-1", "PX1", "PX1"), ("pend-2", "AET1", "PX2")] {
        if pending == "PX1" {
            // Our add went through just before the kill.
            assert_eq!(
                c.register_title("PX1").await.unwrap().value,
                Registration::Registered
            );
        }
        let path = dir.path().join(format!("{device_name}.journal"));
        let mut j = annexr_ldap::InstallJournal {
            device: device_name.into(),
            ..Default::default()
        };
        j.pending.insert(0, pending.into());
        j.store(&path).unwrap();
        let d = small_device(device_name, "CT", pending, 104);
        let plan = InstallPlan::new(d)
            .policies(
                0,
                vec![AllocationPolicy::preferred(&[pending, expect]).unwrap()],
            )
            .journal(&path);
        let r = c.install(&plan).await.unwrap();
        let InstallOutcome::Installed { device, .. } = r.value else {
            panic!("{:?}", r.value)
        };
        assert_eq!(device.network_aes[0].ae_title, aet(expect), "{device_name}");
    }
    // No orphan: every registered title is used by exactly one AE.
    assert_eq!(
        c.titles_in_use("").await.unwrap().value,
        vec!["AET0", "AET1", "AET2", "PX1", "PX2"]
    );
}

#[tokio::test]
async fn concurrent_installs_with_the_same_preferred_titles() {
    let Some(slapd) = or_skip(Slapd::builder().start()) else {
        return;
    };
    let c = client(&slapd);
    c.locate().await.unwrap();
    let preferred: Vec<String> = (1..=8).map(|i| format!("MOD{i}")).collect();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..24 {
        let c = c.clone();
        let preferred = preferred.clone();
        tasks.spawn(async move {
            let d = small_device(&format!("modality-{i}"), "CT", "MOD1", 20000 + i);
            let plan = InstallPlan::new(d).policies(
                0,
                vec![
                    AllocationPolicy::preferred(&preferred).unwrap(),
                    AllocationPolicy::random_ae(),
                ],
            );
            c.install(&plan).await.unwrap().value
        });
    }
    let mut titles = HashSet::new();
    while let Some(r) = tasks.join_next().await {
        let InstallOutcome::Installed { device, .. } = r.unwrap() else {
            panic!()
        };
        assert_eq!(device.network_aes.len(), 1);
        assert!(titles.insert(device.network_aes[0].ae_title.clone()));
    }
    assert_eq!(titles.len(), 24);
    for p in &preferred {
        assert!(titles.contains(&aet(p)), "{p} was given to someone");
    }
    // The registry holds exactly those titles: no orphans.
    assert_eq!(c.titles_in_use("").await.unwrap().value.len(), 24);
}

#[tokio::test]
async fn merge_keeps_vendor_data_and_refuses_to_overwrite_a_concurrent_edit() {
    for kind in LdapServerKind::all() {
        let Some(server) = or_skip(kind.start()) else {
            continue;
        };
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let cert = CertificateDer::from_pem_file(server.ca_cert_path().unwrap()).unwrap();
        let mut d = device("CT-MERGE", "MG", 2);
        d.extensions.attributes.push(Attribute {
            name: "userCertificate;binary".into(),
            values: vec![cert.to_vec()],
        });
        let c = client(&server);
        c.install(&InstallPlan::new(d.clone())).await.unwrap();

        // The device's local view knows nothing of vendor data or certificates.
        let mut local = d.clone();
        local.extensions = Extensions::default();
        local.vendor_data.clear();
        local.other_entries.clear();
        local.connections[0].port = Some(11200);
        local.description = Some("moved to room 2".into());
        let r = c.merge_device(&local).await.unwrap();
        assert!(
            matches!(r.value, UpdateOutcome::Applied { .. }),
            "{:?}",
            r.value
        );
        let stored = c
            .load_device("CT-MERGE")
            .await
            .unwrap()
            .value
            .found()
            .unwrap();
        assert_eq!(
            stored
                .connections
                .iter()
                .find(|c| c.name == "dicom")
                .unwrap()
                .port,
            Some(11200)
        );
        assert_eq!(
            stored.extensions, d.extensions,
            "certificate and vendor attributes survive"
        );
        assert_eq!(stored.vendor_data, d.vendor_data);
        assert_eq!(stored.other_entries.len(), 1);
        // Same again: the stored description matches.
        assert_eq!(
            c.merge_device(&local).await.unwrap().value,
            UpdateOutcome::Unchanged
        );

        // An administrator edits the port after we read the description.
        let conn_dn = format!("cn=dicom,dicomDeviceName=CT-MERGE,{}", server.devices_dn());
        server
            .ldapmodify(&format!(
                "dn: {conn_dn}\nchangetype: modify\nreplace: dicomPort\ndicomPort: 4242\n"
            ))
            .unwrap();
        let mut desired = stored.clone();
        desired
            .connections
            .iter_mut()
            .find(|c| c.name == "dicom")
            .unwrap()
            .port = Some(11300);
        let err = c.update_device(&stored, &desired).await.unwrap_err();
        assert!(matches!(err, Error::Conflict { rc: 16, .. }), "{err}");
        let now = c
            .load_device("CT-MERGE")
            .await
            .unwrap()
            .value
            .found()
            .unwrap();
        assert_eq!(
            now.connections
                .iter()
                .find(|c| c.name == "dicom")
                .unwrap()
                .port,
            Some(4242),
            "the admin's edit is not overwritten"
        );
        // Not configured: a merge says so.
        let other = small_device("NOT-THERE", "CT", "NT1", 1);
        assert_eq!(
            c.merge_device(&other).await.unwrap().value,
            UpdateOutcome::NotConfigured
        );
    }
}

#[tokio::test]
async fn online_offline_and_the_cache() {
    for kind in LdapServerKind::all() {
        let Some(server) = or_skip(kind.start()) else {
            continue;
        };
        seed_site(&server, 6);
        let mut cfg = config(&server);
        cfg.negative_cache_ttl = Duration::from_millis(300);
        let c = LdapClient::new(cfg).unwrap();
        let first = c.resolve_ae_cached("AET1").await.unwrap();
        assert!(first.stats.round_trips > 0 && first.value.as_ref().unwrap().installed);
        let hit = c.resolve_ae_cached("AET1").await.unwrap();
        assert_eq!(hit.stats.round_trips, 0);

        let off = c
            .set_installed(&Target::Device("dev-1".into()), false)
            .await
            .unwrap();
        assert_eq!(off.value, UpdateOutcome::Applied { operations: 1 });
        assert_eq!(off.stats.round_trips, 1);
        let r = c.resolve_ae_cached("AET1").await.unwrap();
        assert!(r.stats.round_trips > 0, "a write clears the cache");
        assert!(!r.value.unwrap().installed);
        c.set_installed(&Target::Device("dev-1".into()), true)
            .await
            .unwrap();
        c.set_installed(
            &Target::Ae {
                device: "dev-1".into(),
                ae_title: aet("AET1"),
            },
            false,
        )
        .await
        .unwrap();
        assert!(!c.resolve_ae("AET1").await.unwrap().value.unwrap().installed);
        c.set_installed(
            &Target::Connection {
                device: "dev-2".into(),
                name: "dicom".into(),
            },
            false,
        )
        .await
        .unwrap();
        let r = c.resolve_ae("AET2").await.unwrap().value.unwrap();
        assert!(r.installed && r.address().is_none());
        let err = c
            .set_installed(&Target::Device("no-such".into()), false)
            .await
            .unwrap_err();
        assert_eq!(err.result_code(), Some(32));

        // A "not found" is cached only briefly.
        assert_eq!(c.resolve_ae_cached("LATE").await.unwrap().value, None);
        assert_eq!(
            c.resolve_ae_cached("LATE").await.unwrap().stats.round_trips,
            0
        );
        server
            .ldapadd(&export_device(
                &small_device("late", "CT", "LATE", 999),
                &layout(&server),
            ))
            .unwrap();
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(c.resolve_ae_cached("LATE").await.unwrap().value.is_some());
    }
}

#[tokio::test]
async fn read_only_server_gives_the_ldif_fallback() {
    for kind in LdapServerKind::all() {
        let Some(server) = or_skip(kind.builder().read_only(true).start()) else {
            continue;
        };
        seed_site(&server, 3);
        let c = client(&server);
        let d = device("CT-RO", "RO", 2);
        let r = c.install(&InstallPlan::new(d.clone())).await.unwrap();
        let InstallOutcome::LdifFallback { ldif, rc, .. } = r.value else {
            panic!("{:?}", r.value)
        };
        assert_eq!(rc, 50);
        assert!(ldif.contains("dn: dicomAETitle=RO1,cn=Unique AE Titles Registry"));
        assert!(matches!(
            c.register_title("RO9").await.unwrap().value,
            Registration::Refused { rc: 50, .. }
        ));
        // The administrator loads the file: the device is then there, complete.
        server.ldapadd(&ldif).unwrap();
        let loaded = c.load_device("CT-RO").await.unwrap().value.found().unwrap();
        assert!(same(&loaded, &as_stored(kind, &d)), "{kind}");

        let off = c
            .set_installed(&Target::Device("CT-RO".into()), false)
            .await
            .unwrap();
        let UpdateOutcome::LdifFallback { ldif, rc: 50, .. } = off.value else {
            panic!("{:?}", off.value)
        };
        assert!(
            ldif.contains("replace: dicomInstalled\ndicomInstalled: FALSE"),
            "{ldif}"
        );
        server.ldapmodify(&ldif).unwrap();
        assert!(
            !c.load_device("CT-RO")
                .await
                .unwrap()
                .value
                .found()
                .unwrap()
                .installed
        );

        let mut local = d.clone();
        local.description = Some("changed".into());
        let m = c.merge_device(&local).await.unwrap();
        assert!(
            matches!(m.value, UpdateOutcome::LdifFallback { rc: 50, .. }),
            "{:?}",
            m.value
        );
    }
}

#[tokio::test]
async fn writes_to_a_replica_follow_the_referral_to_the_provider() {
    let Some(pair) = or_skip(SlapdPair::start("")) else {
        return;
    };
    let consumer = &pair.consumer;
    let bundle = ca_bundle(&[consumer, &pair.provider]);
    let mut cfg = config(consumer)
        .ca_file(bundle.path())
        .follow_referrals(true);
    // Only hosts of the known set: here the provider, as SRV would list it.
    cfg.referral_hosts = vec![format!("127.0.0.1:{}", pair.provider.port())];
    let c = LdapClient::new(cfg).unwrap();
    let r = c.register_title("REPL1").await.unwrap();
    assert_eq!(r.value, Registration::Registered);
    let dn = format!("dicomAETitle=REPL1,{}", pair.provider.registry_dn());
    pair.wait_replicated(&dn).unwrap();
    let d = small_device("replica-dev", "CT", "REPL2", 104);
    let r = c.install(&InstallPlan::new(d.clone())).await.unwrap();
    assert!(
        matches!(r.value, InstallOutcome::Installed { .. }),
        "{:?}",
        r.value
    );
    pair.wait_replicated(&format!(
        "dicomAETitle=REPL2,dicomDeviceName=replica-dev,{}",
        pair.provider.devices_dn()
    ))
    .unwrap();
    // Reads come from the replica.
    assert!(c.resolve_ae("REPL2").await.unwrap().value.is_some());

    // Not allowed to follow: the referral is a refusal, and install falls back to LDIF.
    // Referrals are off by default (and to an unknown host never followed).
    let mut unknown = config(consumer)
        .ca_file(bundle.path())
        .follow_referrals(true);
    unknown.referral_hosts.clear();
    let r = LdapClient::new(unknown)
        .unwrap()
        .register_title("REPL5")
        .await
        .unwrap();
    assert!(
        matches!(r.value, Registration::Refused { rc: 10, .. }),
        "{:?}",
        r.value
    );
    let strict = LdapClient::new(config(consumer)).unwrap();
    let r = strict.register_title("REPL3").await.unwrap();
    assert!(
        matches!(r.value, Registration::Refused { rc: 10, .. }),
        "{:?}",
        r.value
    );
    let r = strict
        .install(&InstallPlan::new(small_device(
            "replica-2",
            "CT",
            "REPL4",
            104,
        )))
        .await
        .unwrap();
    assert!(
        matches!(r.value, InstallOutcome::LdifFallback { rc: 10, .. }),
        "{:?}",
        r.value
    );
}

#[tokio::test]
async fn reconnects_once_after_a_restart_and_fails_over_when_down() {
    let Some(mut slapd) = or_skip(Slapd::builder().start()) else {
        return;
    };
    seed_site(&slapd, 3);
    let Some(backup) = or_skip(Slapd::builder().start()) else {
        return;
    };
    seed_site(&backup, 3);
    let bundle = ca_bundle(&[&slapd, &backup]);
    let mut cfg = config(&slapd).ca_file(bundle.path());
    cfg.servers.push(backup.url());
    let c = LdapClient::new(cfg).unwrap();
    assert!(c.resolve_ae("AET1").await.unwrap().value.is_some());
    // The server restarts: the idle connection is gone.
    slapd.restart().unwrap();
    let r = c.resolve_ae("AET1").await.unwrap();
    assert!(r.value.is_some());
    assert_eq!(r.stats.connects, 1, "reconnected once: {:?}", r.stats);
    let after = c.connect().await.unwrap();
    assert_eq!(after.value, slapd.url(), "same server again");
    // The server goes away: fail over to the next one.
    slapd.stop();
    let r = c.resolve_ae("AET2").await.unwrap();
    assert!(r.value.is_some());
    assert_eq!(c.connect().await.unwrap().value, backup.url());
}

/// The LDIF of a device's entries only (no registry entries): how
/// pre-configured trees often look.
fn device_only_ldif(d: &Device, l: &Layout) -> String {
    let records: Vec<_> = d
        .to_entries(l)
        .into_iter()
        .map(annexr_model::LdifRecord::Content)
        .collect();
    annexr_model::write_ldif(&records)
}

fn installed(outcome: InstallOutcome) -> Device {
    match outcome {
        InstallOutcome::Installed { device, .. } => device,
        other => panic!("not installed: {other:?}"),
    }
}

/// Issue 14 points 1 and 5: device FALSE takes an AE that says TRUE offline;
/// an offline AE or a non-acceptor gets no callable address, with the
/// reason; duplicate titles are reported, not resolved to the first.
#[tokio::test]
async fn offline_and_non_acceptor_aes_are_never_callable_and_duplicates_are_errors() {
    let Some(slapd) = or_skip(Slapd::builder().start()) else {
        return;
    };
    let l = layout(&slapd);
    let mut spare = small_device("ct-spare", "CT", "CT_SPARE", 11112);
    spare.installed = false;
    spare.network_aes[0].installed = Some(true);
    spare.connections[0].installed = Some(true);
    let mut scu = small_device("ct-scu", "CT", "CT_SCU", 11113);
    scu.network_aes[0].association_acceptor = false;
    slapd.ldapadd(&export_device(&spare, &l)).unwrap();
    slapd.ldapadd(&export_device(&scu, &l)).unwrap();
    let c = client(&slapd);

    let r = c.resolve_ae("CT_SPARE").await.unwrap().value.unwrap();
    assert!(!r.installed, "device FALSE wins over the AE's TRUE");
    assert!(r.connections.iter().all(|c| !c.installed));
    assert_eq!(r.address(), None);
    assert_eq!(
        r.not_callable().unwrap(),
        "CT_SPARE is not installed (dicomInstalled FALSE)"
    );
    assert_eq!(
        r.any_address(),
        Some(AeAddress {
            host: "127.0.0.1",
            port: 11112,
            tls: false
        })
    );
    // The same rule in the model (which ul-probe's targets use).
    assert!(!spare.network_aes[0].effective_installed(&spare));
    assert!(!spare.connections[0].effective_installed(&spare));

    let r = c.resolve_ae("CT_SCU").await.unwrap().value.unwrap();
    assert!(r.installed && r.address().is_none());
    assert!(
        r.not_callable()
            .unwrap()
            .contains("does not accept associations"),
        "{:?}",
        r.not_callable()
    );

    // The same title on two devices (possible in a tree loaded without the
    // registry): an error naming both devices.
    let a = small_device("dup-a", "CT", "DUP", 1);
    let b = small_device("dup-b", "CT", "DUP", 2);
    slapd.ldapadd(&device_only_ldif(&a, &l)).unwrap();
    slapd.ldapadd(&device_only_ldif(&b, &l)).unwrap();
    match c.resolve_ae("DUP").await.unwrap_err() {
        Error::DuplicateAeTitle { title, devices } => {
            assert_eq!(title, "DUP");
            assert_eq!(devices.len(), 2);
            assert!(devices.iter().any(|d| d.contains("dup-a")), "{devices:?}");
            assert!(devices.iter().any(|d| d.contains("dup-b")), "{devices:?}");
        }
        other => panic!("{other:?}"),
    }
}

/// Issue 14 point 2: a title an AE uses is taken although the registry lacks
/// it, for check, register, allocate, install and update; sync adds the
/// missing entries (dry run first).
#[tokio::test]
async fn titles_used_by_aes_without_registry_entry_are_taken_everywhere() {
    let Some(slapd) = or_skip(Slapd::builder().start()) else {
        return;
    };
    let l = layout(&slapd);
    let pre = small_device("pre-configured", "ARCHIVE", "PRECONF", 104);
    slapd.ldapadd(&device_only_ldif(&pre, &l)).unwrap();
    let c = client(&slapd);

    assert_eq!(
        c.check_titles(&["PRECONF", "FREE1"]).await.unwrap().value,
        vec![("PRECONF".into(), false), ("FREE1".into(), true)]
    );
    assert_eq!(
        c.register_title("PRECONF").await.unwrap().value,
        Registration::Taken
    );
    let mut only =
        Allocator::new(vec![AllocationPolicy::preferred(&["PRECONF"]).unwrap()]).unwrap();
    assert!(matches!(
        c.allocate_title(&mut only).await.unwrap_err(),
        Error::TitlesExhausted { .. }
    ));
    let missing = c.unregistered_titles().await.unwrap().value;
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].0, "PRECONF");
    assert!(missing[0].1.contains("pre-configured"), "{missing:?}");

    // Install with the same preferred title: derived, not duplicated.
    let d = installed(
        c.install(&InstallPlan::new(small_device(
            "newcomer", "CT", "PRECONF", 105,
        )))
        .await
        .unwrap()
        .value,
    );
    assert_eq!(d.network_aes[0].ae_title, "PRECONF_2");

    // Sync: a dry run writes nothing; --apply adds the entry.
    let dry = c.sync_registry(false).await.unwrap().value;
    assert_eq!(dry.len(), 1);
    assert_eq!(
        (dry[0].title.as_str(), &dry[0].registration),
        ("PRECONF", &None)
    );
    assert!(
        !c.titles_in_use("")
            .await
            .unwrap()
            .value
            .contains(&"PRECONF".to_string())
    );
    let applied = c.sync_registry(true).await.unwrap().value;
    assert_eq!(applied[0].registration, Some(Registration::Registered));
    assert!(c.unregistered_titles().await.unwrap().value.is_empty());
    assert!(
        c.titles_in_use("")
            .await
            .unwrap()
            .value
            .contains(&"PRECONF".to_string())
    );

    // Update: a rename to a title another device holds is refused; a rename
    // to a free one registers it and releases the old one.
    let stored = c
        .load_device("newcomer")
        .await
        .unwrap()
        .value
        .found()
        .unwrap();
    let mut taken = stored.clone();
    taken.network_aes[0].ae_title = aet("PRECONF");
    assert!(matches!(
        c.update_device(&stored, &taken).await.unwrap_err(),
        Error::TitleTaken { .. }
    ));
    let mut renamed = stored.clone();
    renamed.network_aes[0].ae_title = aet("NEWNAME");
    c.update_device(&stored, &renamed).await.unwrap();
    let titles = c.titles_in_use("").await.unwrap().value;
    assert!(titles.contains(&"NEWNAME".to_string()), "{titles:?}");
    assert!(!titles.contains(&"PRECONF_2".to_string()), "{titles:?}");
    assert!(c.unregistered_titles().await.unwrap().value.is_empty());
}

/// Issue 14 point 3: derived titles, the site's rule, random only last; a
/// re-installed device reclaims the title it held.
#[tokio::test]
async fn derived_titles_site_rule_and_reclaimed_titles() {
    let Some(slapd) = or_skip(Slapd::builder().start()) else {
        return;
    };
    let c = client(&slapd);
    c.register_title("CT1").await.unwrap();
    c.register_title("CT1_2").await.unwrap();
    let d = installed(
        c.install(&InstallPlan::new(small_device("ct-a", "CT", "CT1", 1)))
            .await
            .unwrap()
            .value,
    );
    assert_eq!(d.network_aes[0].ae_title, "CT1_3");

    let rule = AllocationPolicy::Structured {
        prefix: "CT".into(),
        start: 1,
        digits: 3,
        check_digit: true,
    };
    let d = installed(
        c.install(&InstallPlan::new(small_device("ct-b", "CT", "CT1", 2)).site_rule(rule))
            .await
            .unwrap()
            .value,
    );
    assert_eq!(d.network_aes[0].ae_title, "CT0018");

    // ct-c held "HELD7"; its device entry was deleted but the registry
    // entry stayed. Re-installed (preferring another title), it gets its
    // old title back.
    let first = installed(
        c.install(&InstallPlan::new(small_device("ct-c", "CT", "HELD7", 3)))
            .await
            .unwrap()
            .value,
    );
    assert_eq!(first.network_aes[0].ae_title, "HELD7");
    let l = layout(&slapd);
    let deletes: Vec<_> = first
        .to_entries(&l)
        .iter()
        .rev()
        .map(|e| annexr_model::LdifRecord::Delete(e.dn.clone()))
        .collect();
    slapd
        .ldapmodify(&annexr_model::write_ldif(&deletes))
        .unwrap();
    let again = installed(
        c.install(
            &InstallPlan::new(small_device("ct-c", "CT", "OTHER9", 3)).reclaim(0, aet("HELD7")),
        )
        .await
        .unwrap()
        .value,
    );
    assert_eq!(again.network_aes[0].ae_title, "HELD7");
    // A failed install that reclaimed an already registered title leaves
    // that registry entry alone (it was not this attempt's to release).
    c.register_title("HELD8").await.unwrap();
    let mut failing = small_device("ct-e", "CT", "OTHER8", 5);
    failing.network_aes[0].extensions = Extensions {
        object_classes: vec!["extensibleObject".into()],
        attributes: vec![Attribute {
            name: "noSuchAttributeType".into(),
            values: vec![b"x".to_vec()],
        }],
    };
    let err = c
        .install(&InstallPlan::new(failing).reclaim(0, aet("HELD8")))
        .await
        .unwrap_err();
    assert_eq!(err.result_code(), Some(17), "{err}");
    assert!(
        c.titles_in_use("HELD8")
            .await
            .unwrap()
            .value
            .contains(&"HELD8".to_string()),
        "the reclaimed title was released"
    );
    // A held title another device's AE uses now is not reclaimed.
    let stolen = installed(
        c.install(
            &InstallPlan::new(small_device("ct-d", "CT", "CT1_3X", 4)).reclaim(0, aet("CT1_3")),
        )
        .await
        .unwrap()
        .value,
    );
    assert_eq!(stolen.network_aes[0].ae_title, "CT1_3X");
}

/// Issue 14 points 5 and 6: find by SOP class and role; a malformed device
/// is skipped with its reason instead of failing the search.
#[tokio::test]
async fn find_by_sop_class_and_malformed_devices_are_skipped() {
    let Some(slapd) = or_skip(Slapd::builder().start()) else {
        return;
    };
    seed_site(&slapd, 4);
    let l = layout(&slapd);
    let mut store = small_device("store-scu", "CT", "STORESCU", 5);
    store.network_aes[0]
        .transfer_capabilities
        .push(TransferCapability::new(
            "ct-storage",
            "1.2.840.10008.5.1.4.1.1.2",
            TransferRole::Scu,
            ["1.2.840.10008.1.2.1"],
        ));
    slapd.ldapadd(&export_device(&store, &l)).unwrap();
    let c = client(&slapd);
    let ct_storage = SopClassQuery {
        sop_class: "1.2.840.10008.5.1.4.1.1.2".into(),
        ..Default::default()
    };
    let found = c.find_aes_by_sop_class(&ct_storage).await.unwrap().value;
    let titles: Vec<_> = found.aes.iter().map(|a| a.ae_title.to_string()).collect();
    assert_eq!(titles, ["STORESCU"]);
    let as_scp = SopClassQuery {
        role: Some("scp".into()),
        ..ct_storage.clone()
    };
    assert!(
        c.find_aes_by_sop_class(&as_scp)
            .await
            .unwrap()
            .value
            .aes
            .is_empty()
    );
    let verification = SopClassQuery {
        sop_class: "1.2.840.10008.1.1".into(),
        role: Some("SCP".into()),
        installed_only: true,
    };
    // seed_site's dev-3 is not installed.
    assert_eq!(
        c.find_aes_by_sop_class(&verification)
            .await
            .unwrap()
            .value
            .aes
            .len(),
        4
    );
    assert!(matches!(
        c.find_aes_by_sop_class(&SopClassQuery {
            role: Some("BOTH".into()),
            ..ct_storage
        })
        .await
        .unwrap_err(),
        Error::Invalid(_)
    ));

    // A device whose AE references a connection of another device: not a
    // valid device, skipped with a reason; the others are still found.
    let bad_dn = format!("dicomDeviceName=broken,{}", l.devices_dn());
    slapd
        .ldapadd(&format!(
            "version: 1\n\ndn: {bad_dn}\nobjectClass: dicomDevice\ndicomDeviceName: broken\n\
             dicomInstalled: TRUE\ndicomPrimaryDeviceType: ARCHIVE\n\n\
             dn: dicomAETitle=BROKEN,{bad_dn}\nobjectClass: dicomNetworkAE\ndicomAETitle: BROKEN\n\
             dicomNetworkConnectionReference: cn=dicom,dicomDeviceName=dev-0,{}\n\
             dicomAssociationInitiator: TRUE\ndicomAssociationAcceptor: TRUE\n",
            l.devices_dn()
        ))
        .unwrap();
    let archives = c
        .find_aes(&DeviceTypeQuery::new("ARCHIVE"))
        .await
        .unwrap()
        .value;
    assert_eq!(archives.aes.len(), 2, "{archives:?}");
    assert_eq!(archives.skipped.len(), 1, "{archives:?}");
    assert!(archives.skipped[0].contains("broken"), "{archives:?}");
}

/// Issue 14 point 4: found again by serial number after a rename (H.1.6);
/// a device entry without AEs is completed only when asked, never taken
/// over otherwise.
#[tokio::test]
async fn device_by_serial_number_and_completing_an_incomplete_device() {
    let Some(slapd) = or_skip(Slapd::builder().start()) else {
        return;
    };
    let c = client(&slapd);
    let mut d = small_device("ct-serial", "CT", "SERIAL1", 1);
    d.device_serial_number = Some("SN-4711".into());
    installed(c.install(&InstallPlan::new(d)).await.unwrap().value);
    assert_eq!(
        c.find_devices_by_serial("SN-4711").await.unwrap().value,
        ["ct-serial"]
    );
    assert!(
        c.find_devices_by_serial("SN-0")
            .await
            .unwrap()
            .value
            .is_empty()
    );

    // The device entry and its connection, no AEs: an interrupted install.
    let l = layout(&slapd);
    let full = small_device("half", "CT", "HALF1", 2);
    let mut half = full.clone();
    half.network_aes.clear();
    slapd.ldapadd(&device_only_ldif(&half, &l)).unwrap();
    assert!(matches!(
        c.install(&InstallPlan::new(full.clone()))
            .await
            .unwrap_err(),
        Error::DeviceExists { .. }
    ));
    let done = c
        .install(&InstallPlan::new(full).complete_existing(true))
        .await
        .unwrap()
        .value;
    let InstallOutcome::Installed {
        device, resumed, ..
    } = done
    else {
        panic!("{done:?}")
    };
    assert!(resumed);
    assert_eq!(device.network_aes.len(), 1);
    assert_eq!(device.network_aes[0].ae_title, "HALF1");
    // A complete device is never "completed": it is someone's.
    assert!(matches!(
        c.install(
            &InstallPlan::new(small_device("half", "CT", "HALF2", 2)).complete_existing(true)
        )
        .await
        .unwrap_err(),
        Error::DeviceExists { .. }
    ));
}

/// Issue 14 point 7: writes go to the provider through the referral while
/// the replica lags; the install's read-back does not see the device yet,
/// and the install keeps what it wrote instead of deleting itself.
#[tokio::test]
async fn install_through_a_lagging_replica_never_deletes_itself() {
    let Some(pair) = or_skip(SlapdPair::start_lagging("", 30)) else {
        return;
    };
    // Writes follow the replica's referral to the provider (a known host).
    let bundle = ca_bundle(&[&pair.consumer, &pair.provider]);
    let mut cfg = config(&pair.consumer)
        .ca_file(bundle.path())
        .follow_referrals(true);
    cfg.referral_hosts = vec![format!("127.0.0.1:{}", pair.provider.port())];
    let c = LdapClient::new(cfg).unwrap();
    let d = small_device("lagging-dev", "CT", "LAG1", 104);
    let r = c.install(&InstallPlan::new(d.clone())).await.unwrap();
    let device = installed(r.value);
    assert_eq!(device.network_aes[0].ae_title, "LAG1");
    // Everything is on the provider: nothing was cleaned up.
    let on_provider = pair
        .provider
        .ldapsearch(&pair.provider.devices_dn(), "(dicomAETitle=LAG1)")
        .unwrap();
    assert!(on_provider.contains("dicomAETitle: LAG1"), "{on_provider}");
    let registry = pair
        .provider
        .ldapsearch(&pair.provider.registry_dn(), "(dicomAETitle=LAG1)")
        .unwrap();
    assert!(registry.contains("dicomAETitle: LAG1"), "{registry}");
}

/// Issue 14 point 6 against slapd: a connection and a transfer capability
/// whose RDNs are not `cn=` load (entries are read by object class).
#[tokio::test]
async fn entries_with_other_rdns_load_from_slapd() {
    let Some(slapd) = or_skip(Slapd::builder().start()) else {
        return;
    };
    let l = layout(&slapd);
    let device_dn = format!("dicomDeviceName=us-1,{}", l.devices_dn());
    let conn_dn = format!("dicomHostname=127.0.0.1,{device_dn}");
    let ae_dn = format!("dicomAETitle=US1,{device_dn}");
    slapd
        .ldapadd(&format!(
            "version: 1\n\ndn: {device_dn}\nobjectClass: dicomDevice\ndicomDeviceName: us-1\n\
             dicomInstalled: TRUE\ndicomPrimaryDeviceType: US\n\n\
             dn: {conn_dn}\nobjectClass: dicomNetworkConnection\ndicomHostname: 127.0.0.1\n\
             dicomPort: 11112\n\n\
             dn: {ae_dn}\nobjectClass: dicomNetworkAE\ndicomAETitle: US1\n\
             dicomNetworkConnectionReference: {conn_dn}\n\
             dicomAssociationInitiator: TRUE\ndicomAssociationAcceptor: TRUE\n\n\
             dn: dicomSOPClass=1.2.840.10008.1.1,{ae_dn}\nobjectClass: dicomTransferCapability\n\
             dicomSOPClass: 1.2.840.10008.1.1\ndicomTransferRole: SCP\n\
             dicomTransferSyntax: 1.2.840.10008.1.2\n"
        ))
        .unwrap();
    let c = client(&slapd);
    let d = c.load_device("us-1").await.unwrap().value.found().unwrap();
    assert_eq!(d.connections[0].name, "127.0.0.1");
    assert_eq!(d.network_aes[0].connections, ["127.0.0.1"]);
    assert_eq!(d.network_aes[0].transfer_capabilities.len(), 1);
    let r = c.resolve_ae("US1").await.unwrap().value.unwrap();
    assert_eq!(
        r.address(),
        Some(AeAddress {
            host: "127.0.0.1",
            port: 11112,
            tls: false
        })
    );
    let found = c.find_aes(&DeviceTypeQuery::new("us")).await.unwrap().value;
    assert_eq!(found.aes.len(), 1);
    assert!(found.skipped.is_empty());
}
