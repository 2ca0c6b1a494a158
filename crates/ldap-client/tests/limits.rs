//! annexr-ldap against real size limits (OpenLDAP slapd and 389 Directory
//! Server, from one test body each), with credentials policy, and against
//! the lab's hostile "LDAP server".
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use annexr_lab::{EvilLdap, LdapServer, LdapServerKind, Misbehaviour, Slapd, or_skip};
use annexr_ldap::{ClientConfig, DeviceLookup, Error, LdapClient};
use annexr_model::{
    AeTitle, Device, Dn, Layout, NetworkAe, NetworkConnection, TransferCapability, TransferRole,
    export_device,
};

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// Counts every panic in the process (also inside spawned tasks of
/// dependencies), so a test can assert that none happened.
fn count_panics() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            previous(info);
        }));
    });
}

/// An archive: 8 AEs × 140 transfer capabilities (1,131 entries). The
/// names share long prefixes and suffixes (" Scp"/" Scu"), the hard case
/// for splitting a level by name.
fn archive() -> Device {
    let mut d = Device::new("ARCHIVE-BIG")
        .with_device_type("ARCHIVE")
        .with_connection(NetworkConnection::new("dicom", "127.0.0.1", Some(11112)))
        .with_connection(NetworkConnection::new("dicom2", "127.0.0.1", Some(11113)));
    for a in 1..=8 {
        let mut ae =
            NetworkAe::new(AeTitle::new(&format!("ARCH{a}")).unwrap()).with_connection("dicom");
        for t in 0..140 {
            let role = if t % 2 == 0 {
                TransferRole::Scp
            } else {
                TransferRole::Scu
            };
            ae = ae.with_transfer_capability(TransferCapability::new(
                &format!("Storage {t} {role:?}"),
                &format!("1.2.840.10008.5.1.4.1.1.{}", t / 2 + 1),
                role,
                ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"],
            ));
        }
        d.network_aes.push(ae);
    }
    d
}

fn layout(slapd: &(impl LdapServer + ?Sized)) -> Layout {
    Layout::at(Dn::parse(&slapd.config_dn()).unwrap())
}

fn tls_config(slapd: &(impl LdapServer + ?Sized)) -> ClientConfig {
    ClientConfig::new(slapd.url())
        .ca_file(slapd.ca_cert_path().unwrap())
        .starttls(true)
        .base_dn(slapd.config_dn())
        .timeouts(Duration::from_secs(3), Duration::from_secs(10))
}

fn tc_count(d: &Device) -> usize {
    d.network_aes
        .iter()
        .map(|a| a.transfer_capabilities.len())
        .sum()
}

#[tokio::test]
async fn a_large_device_loads_under_any_server_size_limit() {
    let big = archive();
    for (kind, (limit, max_round_trips)) in LdapServerKind::all()
        .into_iter()
        .flat_map(|kind| [(None, 3), (Some(500), 4), (Some(50), 6)].map(|l| (kind, l)))
    {
        // Seeded offline (slapadd, ldif2db): ldapadd of 1,131 entries
        // through pipes is slow.
        let default_layout =
            Layout::at(Dn::parse("cn=DICOM Configuration,dc=example,dc=org").unwrap());
        let builder = kind
            .builder()
            .seed_ldif(&export_device(&big, &default_layout));
        let builder = match limit {
            Some(n) => builder.size_limit(n),
            None => builder,
        };
        let Some(server) = or_skip(builder.start()) else {
            continue;
        };
        assert_eq!(layout(&server), default_layout);
        let anonymous = tls_config(&server);
        let device = tls_config(&server).simple_bind(server.device_dn(), server.device_password());
        for cfg in [anonymous, device] {
            let who = cfg.bind.who();
            let c = LdapClient::new(cfg).unwrap();
            c.connect().await.unwrap();
            let r = c.load_device("ARCHIVE-BIG").await.unwrap();
            eprintln!("{kind}, size limit {limit:?}, {who}: {:?}", r.stats);
            let DeviceLookup::Found(loaded) = r.value else {
                panic!("{kind}: limit {limit:?} as {who}: not found")
            };
            assert_eq!(
                loaded.network_aes.len(),
                8,
                "{kind}: limit {limit:?} as {who}"
            );
            assert_eq!(
                tc_count(&loaded),
                8 * 140,
                "{kind}: limit {limit:?} as {who}"
            );
            assert!(
                r.stats.round_trips <= max_round_trips,
                "{kind}: limit {limit:?} as {who}: {:?}",
                r.stats
            );
            // Pipelined batches of at most 32 searches.
            assert!(
                r.stats.requests <= 32 * r.stats.round_trips,
                "{:?}",
                r.stats
            );
        }
    }
}

/// A level whose entries carry a second `cn` (a vendor alias) cannot be
/// continued by excluding RDNs (an alias could hide a sibling): it is read
/// in parts by name, and still completely.
#[tokio::test]
async fn a_level_with_aliased_names_loads_completely_under_a_small_limit() {
    let big = archive();
    let default_layout = Layout::at(Dn::parse("cn=DICOM Configuration,dc=example,dc=org").unwrap());
    let mut ldif = String::new();
    let mut aliased = 0;
    for block in export_device(&big, &default_layout).split("\n\n") {
        // Folded lines (RFC 2849) unfolded before looking.
        let unfolded = block.replace("\n ", "");
        if unfolded.contains("dicomAETitle=ARCH1,") && unfolded.contains("dicomTransferCapability")
        {
            ldif.push_str(block);
            ldif.push_str(&format!("\ncn: vendor alias {aliased}"));
            aliased += 1;
        } else {
            ldif.push_str(block);
        }
        ldif.push_str("\n\n");
    }
    assert_eq!(aliased, 140, "{}", &ldif[..2000]);
    let Some(slapd) = or_skip(Slapd::builder().seed_ldif(&ldif).size_limit(50).start()) else {
        return;
    };
    let c = LdapClient::new(tls_config(&slapd)).unwrap();
    let r = c.load_device("ARCHIVE-BIG").await.unwrap();
    eprintln!("aliased names, size limit 50: {:?}", r.stats);
    let DeviceLookup::Found(loaded) = r.value else {
        panic!("not found")
    };
    assert_eq!(tc_count(&loaded), 8 * 140);
    let arch1 = &loaded
        .network_aes
        .iter()
        .find(|a| a.ae_title.as_str() == "ARCH1")
        .unwrap();
    assert!(
        arch1.transfer_capabilities.iter().all(|t| t
            .extensions
            .attributes
            .iter()
            .any(|a| a.name.eq_ignore_ascii_case("cn"))),
        "the alias is kept as an extension value"
    );
    // The other seven AEs continue by exclusion: far fewer round trips than
    // a split of all eight by name.
    assert!(r.stats.round_trips < 100, "{:?}", r.stats);
}

#[tokio::test]
async fn a_password_never_travels_in_clear() {
    let Some(slapd) = or_skip(Slapd::builder().log_operations(true).start()) else {
        return;
    };
    // ldap:// with credentials: StartTLS although not asked for.
    let cfg = ClientConfig::new(slapd.url())
        .ca_file(slapd.ca_cert_path().unwrap())
        .simple_bind(slapd.device_dn(), slapd.device_password());
    let r = LdapClient::new(cfg).unwrap().connect().await.unwrap();
    assert_eq!(r.stats.round_trips, 2, "StartTLS then bind: {:?}", r.stats);
    assert!(slapd.log().contains("STARTTLS"), "{}", slapd.log());

    // A server without TLS: refused before any bind is sent.
    let Some(plain) = or_skip(Slapd::builder().tls(false).log_operations(true).start()) else {
        return;
    };
    let cfg = ClientConfig::new(plain.url()).simple_bind(plain.device_dn(), "Secret-Pw-123");
    let err = LdapClient::new(cfg).unwrap().connect().await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    assert!(!plain.log().contains("BIND dn="), "{}", plain.log());
    assert!(!format!("{err} {err:?}").contains("Secret-Pw-123"));

    // Only as an explicit opt-in.
    let cfg = ClientConfig::new(plain.url())
        .simple_bind(plain.device_dn(), plain.device_password())
        .allow_plaintext_bind(true);
    assert!(cfg.binds_in_clear(&plain.url()));
    LdapClient::new(cfg).unwrap().connect().await.unwrap();

    // A bind DN without a password is a configuration error, before any packet.
    let err = LdapClient::new(ClientConfig::new(plain.url()).simple_bind(plain.device_dn(), ""))
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
}

#[tokio::test]
async fn result_codes_are_named_and_missing_devices_are_not_configured() {
    for kind in LdapServerKind::all() {
        let Some(server) = or_skip(kind.start()) else {
            continue;
        };
        let c = LdapClient::new(tls_config(&server)).unwrap();
        let r = c.load_device("nobody").await.unwrap();
        assert_eq!(
            r.value,
            DeviceLookup::NotConfigured {
                name: "nobody".into()
            }
        );
        // A base DN without the tree is not trusted: a typed error.
        let bad =
            LdapClient::new(tls_config(&server).base_dn("cn=nothing,dc=example,dc=org")).unwrap();
        let err = bad.titles_in_use("").await.unwrap_err();
        assert!(matches!(err, Error::NoConfigurationRoot { .. }), "{err}");
        // A refused operation is named by RFC 4511, never "result code N ()".
        let wrong = tls_config(&server).simple_bind(server.device_dn(), "not-the-Pa55word");
        let err = LdapClient::new(wrong)
            .unwrap()
            .load_device("x")
            .await
            .unwrap_err();
        assert_eq!(err.result_code(), Some(49), "{err}");
        let text = err.to_string();
        assert!(text.contains("invalidCredentials (49)"), "{text}");
        assert!(!text.contains("result code"), "{text}");
        assert!(!text.contains("not-the-Pa55word"), "{text}");
        assert_eq!(err.action(), "check the bind DN and its password");
        assert!(!err.action().is_empty());
    }
}

/// Each hostile reply ends in a typed error within the deadline, and
/// nothing panics (ldap3 would panic on `30 00`, lber overflow its stack
/// on deep nesting).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_server_gives_typed_errors_and_no_panic() {
    count_panics();
    for how in [
        Misbehaviour::EmptyMessage,
        Misbehaviour::DeepNesting,
        Misbehaviour::HugeLength,
        Misbehaviour::EndlessSearch,
        Misbehaviour::GarbageAfterBind,
    ] {
        let evil = EvilLdap::start(how).unwrap();
        let mut cfg = ClientConfig::new(evil.url())
            .base_dn("cn=DICOM Configuration,dc=example,dc=org")
            .timeouts(Duration::from_secs(2), Duration::from_secs(3));
        if matches!(
            how,
            Misbehaviour::EndlessSearch | Misbehaviour::GarbageAfterBind
        ) {
            // These answer a bind first; the evil server has no TLS.
            cfg = cfg.simple_bind("cn=x", "pw").allow_plaintext_bind(true);
        }
        let c = LdapClient::new(cfg).unwrap();
        let r = tokio::time::timeout(Duration::from_secs(30), c.load_device("dev")).await;
        let err = match r {
            Err(_) => panic!("{how:?}: no answer within the deadline"),
            Ok(Ok(v)) => panic!("{how:?}: accepted {:?}", v.value),
            Ok(Err(e)) => e,
        };
        assert!(
            matches!(
                err,
                Error::Protocol { .. } | Error::Timeout { .. } | Error::Connect { .. }
            ),
            "{how:?}: {err}"
        );
        if matches!(
            how,
            Misbehaviour::EmptyMessage | Misbehaviour::DeepNesting | Misbehaviour::HugeLength
        ) {
            assert!(
                matches!(err, Error::Protocol { .. } | Error::Connect { .. }),
                "{how:?}: {err}"
            );
        }
    }
    assert_eq!(PANICS.load(Ordering::SeqCst), 0, "a panic happened");
}

#[tokio::test]
async fn root_discovery_moves_on_to_the_server_that_holds_the_tree() {
    for kind in LdapServerKind::all() {
        let Some(other) = or_skip(kind.builder().dicom_tree(false).start()) else {
            continue;
        };
        let Some(dicom) = or_skip(kind.start()) else {
            continue;
        };
        let bundle = {
            let mut pem = std::fs::read_to_string(other.ca_cert_path().unwrap()).unwrap();
            pem.push_str(&std::fs::read_to_string(dicom.ca_cert_path().unwrap()).unwrap());
            let f = tempfile::NamedTempFile::new().unwrap();
            std::fs::write(f.path(), pem).unwrap();
            f
        };
        // As the SRV list would order them: the server without the tree first.
        let cfg = ClientConfig::with_servers(vec![other.url(), dicom.url()])
            .ca_file(bundle.path())
            .starttls(true);
        let c = LdapClient::new(cfg.clone()).unwrap();
        let r = c.locate().await.unwrap();
        assert_eq!(r.value, layout(&dicom));
        assert_eq!(r.stats.connects, 2, "{:?}", r.stats);
        assert_eq!(c.connect().await.unwrap().value, dicom.url());

        // A configured base DN that is the suffix, not the root: searched below.
        let c = LdapClient::new(cfg.clone().base_dn("dc=example,dc=org")).unwrap();
        assert_eq!(c.locate().await.unwrap().value, layout(&dicom));

        // No server holds it: a typed error listing what was searched.
        let only = ClientConfig::new(other.url())
            .ca_file(other.ca_cert_path().unwrap())
            .starttls(true);
        let err = LdapClient::new(only).unwrap().locate().await.unwrap_err();
        assert!(matches!(err, Error::NoConfigurationRoot { .. }), "{err}");
        assert!(err.to_string().contains("dc=example,dc=org"), "{err}");
    }
}
