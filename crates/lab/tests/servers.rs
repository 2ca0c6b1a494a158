//! The lab's own tests: every server really starts, answers the protocol it
//! stands for, and is gone after drop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, SystemTime};

use annexr_lab::{Chronyd, Dcmqrscp, Dnsmasq, SampleSite, Slapd, SrvRecord, Storescp, or_skip};
use ldap3::{LdapConnAsync, Scope, SearchEntry};

const SEED: &str =
    "dn: dicomAETitle=CT1,cn=Unique AE Titles Registry,cn=DICOM Configuration,dc=example,dc=org
objectClass: dicomUniqueAETitle
dicomAETitle: CT1

dn: dicomDeviceName=CT-1,cn=Devices,cn=DICOM Configuration,dc=example,dc=org
objectClass: dicomDevice
dicomDeviceName: CT-1
dicomInstalled: TRUE
dicomPrimaryDeviceType: CT
";

fn process_alive(pid: u32) -> bool {
    // A zombie still has /proc/PID; its state is Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

async fn bind(slapd: &Slapd, dn: &str, password: &str) -> ldap3::Ldap {
    let (conn, mut ldap) = LdapConnAsync::new(&slapd.url()).await.unwrap();
    ldap3::drive!(conn);
    ldap.simple_bind(dn, password)
        .await
        .unwrap()
        .success()
        .unwrap();
    ldap
}

#[tokio::test]
async fn slapd_serves_the_seed_with_the_dicom_schema() {
    let Some(slapd) = or_skip(Slapd::builder().seed_ldif(SEED).start()) else {
        return;
    };
    let mut ldap = bind(&slapd, &slapd.device_dn(), slapd.device_password()).await;
    let (entries, _) = ldap
        .search(
            &slapd.devices_dn(),
            Scope::Subtree,
            "(&(objectClass=dicomDevice)(dicomPrimaryDeviceType=CT))",
            vec!["dicomDeviceName", "dicomInstalled"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(entries.len(), 1);
    let entry = SearchEntry::construct(entries.into_iter().next().unwrap());
    assert_eq!(entry.attrs["dicomDeviceName"], vec!["CT-1"]);
    assert_eq!(entry.attrs["dicomInstalled"], vec!["TRUE"]);
    // The base DIT of PS3.15 Annex H is there.
    let (roots, _) = ldap
        .search(
            slapd.suffix(),
            Scope::Subtree,
            "(objectClass=dicomConfigurationRoot)",
            vec!["cn"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(
        SearchEntry::construct(roots[0].clone()).dn,
        slapd.config_dn()
    );
    ldap.unbind().await.unwrap();
}

#[tokio::test]
async fn duplicate_unique_ae_title_is_entry_already_exists() {
    let Some(slapd) = or_skip(Slapd::builder().seed_ldif(SEED).start()) else {
        return;
    };
    let mut ldap = bind(&slapd, &slapd.device_dn(), slapd.device_password()).await;
    let dn = format!("dicomAETitle=CT1,{}", slapd.registry_dn());
    let attrs = vec![
        ("objectClass", ["dicomUniqueAETitle"].into()),
        ("dicomAETitle", ["CT1"].into()),
    ];
    let result = ldap.add(&dn, attrs).await.unwrap();
    assert_eq!(result.rc, 68, "entryAlreadyExists expected: {result:?}");
    // A free title is added by the same account.
    let free = format!("dicomAETitle=CT2,{}", slapd.registry_dn());
    let attrs = vec![
        ("objectClass", ["dicomUniqueAETitle"].into()),
        ("dicomAETitle", ["CT2"].into()),
    ];
    assert_eq!(ldap.add(&free, attrs).await.unwrap().rc, 0);
}

#[tokio::test]
async fn read_only_acl_refuses_writes_with_50() {
    let Some(slapd) = or_skip(Slapd::builder().read_only(true).start()) else {
        return;
    };
    let mut ldap = bind(&slapd, &slapd.device_dn(), slapd.device_password()).await;
    let dn = format!("dicomAETitle=NEW,{}", slapd.registry_dn());
    let attrs = vec![
        ("objectClass", ["dicomUniqueAETitle"].into()),
        ("dicomAETitle", ["NEW"].into()),
    ];
    let result = ldap.add(&dn, attrs).await.unwrap();
    assert_eq!(
        result.rc, 50,
        "insufficientAccessRights expected: {result:?}"
    );
    // Reading is still allowed.
    let (entries, _) = ldap
        .search(
            &slapd.config_dn(),
            Scope::OneLevel,
            "(objectClass=*)",
            vec!["cn"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(entries.len(), 2);
}

#[test]
fn stock_tools_work_against_slapd_and_restart_keeps_data() {
    let Some(mut slapd) = or_skip(Slapd::builder().start()) else {
        return;
    };
    slapd
        .ldapadd(&format!(
            "dn: dicomAETitle=MR1,{}\nobjectClass: dicomUniqueAETitle\ndicomAETitle: MR1\n",
            slapd.registry_dn()
        ))
        .unwrap();
    let before = slapd.pid().unwrap();
    slapd.restart().unwrap();
    assert_ne!(slapd.pid().unwrap(), before);
    assert!(!process_alive(before));
    let found = slapd
        .ldapsearch(&slapd.registry_dn(), "(dicomAETitle=MR1)")
        .unwrap();
    assert!(found.contains("dicomAETitle: MR1"), "{found}");
    let dump = slapd.slapcat().unwrap();
    assert!(dump.contains("dn: cn=Devices,cn=DICOM Configuration,dc=example,dc=org"));
    // A seed that does not fit the schema is refused with slapadd's reason.
    let bad = Slapd::builder()
        .seed_ldif("dn: cn=x,cn=Devices,cn=DICOM Configuration,dc=example,dc=org\nobjectClass: dicomDevice\ncn: x\n")
        .start()
        .unwrap_err();
    assert!(bad.to_string().contains("slapadd"), "{bad}");
}

/// The shipped cn=config LDIF of the schema loads into a slapd.d
/// configuration, as a site administrator would load it.
#[test]
fn schema_ldif_loads_into_cn_config() {
    if or_skip(Slapd::builder().start()).is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf_dir = dir.path().join("slapd.d");
    std::fs::create_dir(&conf_dir).unwrap();
    let ldif = format!(
        "dn: cn=config\nobjectClass: olcGlobal\ncn: config\n\n\
         dn: cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: schema\n\n\
         include: file:///etc/ldap/schema/core.ldif\n\n{}",
        annexr_lab::DICOM_SCHEMA_LDIF
    );
    let ldif_path = dir.path().join("config.ldif");
    std::fs::write(&ldif_path, ldif).unwrap();
    let out = Command::new("/usr/sbin/slapadd")
        .args(["-n0", "-F"])
        .arg(&conf_dir)
        .arg("-l")
        .arg(&ldif_path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let schema = std::fs::read_dir(conf_dir.join("cn=config/cn=schema")).unwrap();
    let names: Vec<String> = schema
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with("}dicom.ldif")),
        "{names:?}"
    );
}

#[tokio::test]
async fn dnsmasq_answers_srv_with_target_addresses() {
    use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
    use hickory_resolver::proto::rr::RData;
    let Some(dns) = or_skip(
        Dnsmasq::builder()
            .srv(
                SrvRecord::new("_ldap._tcp.example.org", "ldap1.example.org", 389)
                    .priority(1)
                    .weight(10),
            )
            .srv(SrvRecord::new("_ldap._tcp.example.org", "ldap2.example.org", 1389).priority(2))
            .host("ldap1.example.org", IpAddr::V4(Ipv4Addr::new(127, 0, 0, 7)))
            .ttl(30)
            .start(),
    ) else {
        return;
    };
    let mut ns = NameServerConfig::udp_and_tcp(dns.addr().ip());
    for conn in &mut ns.connections {
        conn.port = dns.addr().port();
    }
    let config = ResolverConfig::from_name_servers(vec![ns]);
    let resolver = hickory_resolver::Resolver::builder_with_config(
        config,
        hickory_resolver::net::runtime::TokioRuntimeProvider::default(),
    )
    .with_options(ResolverOpts::default())
    .build()
    .unwrap();
    let srv = resolver
        .srv_lookup("_ldap._tcp.example.org.")
        .await
        .unwrap();
    let mut records: Vec<(u16, u16, String)> = srv
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::SRV(srv) => Some((srv.priority, srv.port, srv.target.to_string())),
            _ => None,
        })
        .collect();
    records.sort();
    assert_eq!(
        records,
        vec![
            (1, 389, "ldap1.example.org.".to_string()),
            (2, 1389, "ldap2.example.org.".to_string())
        ]
    );
    let ip = resolver.ipv4_lookup("ldap1.example.org.").await.unwrap();
    let RData::A(a) = &ip.answers()[0].data else {
        panic!("not an A record: {:?}", ip.answers());
    };
    assert_eq!(a.0, Ipv4Addr::new(127, 0, 0, 7));
    assert!(
        dns.log().contains("_ldap._tcp.example.org"),
        "query log: {}",
        dns.log()
    );
}

/// A blocking UDP socket for sntpc's async socket trait: each call completes
/// at once.
struct BlockingUdp(UdpSocket);

impl sntpc::NtpUdpSocket for BlockingUdp {
    async fn send_to(&self, buf: &[u8], addr: SocketAddr) -> sntpc::Result<usize> {
        self.0.send_to(buf, addr).map_err(|_| sntpc::Error::Network)
    }
    async fn recv_from(&self, buf: &mut [u8]) -> sntpc::Result<(usize, SocketAddr)> {
        self.0.recv_from(buf).map_err(|_| sntpc::Error::Network)
    }
}

#[test]
fn chronyd_serves_the_injected_offset_and_leaves_the_host_clock_alone() {
    let Some(ntp) = or_skip(Chronyd::builder().offset_secs(37).start()) else {
        return;
    };
    let host_before = SystemTime::now();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let context = sntpc::NtpContext::new(sntpc::StdTimestampGen::default());
    let result = sntpc::sync::get_time(ntp.addr(), &BlockingUdp(socket), context).unwrap();
    let offset_secs = result.offset() as f64 / 1e6;
    assert!((offset_secs - 37.0).abs() < 0.05, "offset {offset_secs} s");
    assert_eq!(result.stratum(), 8);
    // chronyd -x: the host clock did not jump by the served offset.
    let elapsed = SystemTime::now().duration_since(host_before).unwrap();
    assert!(elapsed < Duration::from_secs(5));
}

fn echoscu(addr: SocketAddr, calling: &str, called: &str) -> std::process::Output {
    Command::new("echoscu")
        .args(["-aet", calling, "-aec", called])
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .output()
        .unwrap()
}

#[test]
fn storescp_accepts_verification_and_answers_c_echo() {
    let Some(scp) = or_skip(Storescp::builder().ae_title("ARCHIVE").start()) else {
        return;
    };
    let association = dicom_ul::ClientAssociationOptions::new()
        .with_abstract_syntax("1.2.840.10008.1.1")
        .calling_ae_title("LABTEST")
        .called_ae_title("ARCHIVE")
        .establish(scp.addr())
        .unwrap();
    assert_eq!(association.presentation_contexts().len(), 1);
    association.release().unwrap();
    // The stock C-ECHO client gets status success.
    let out = echoscu(scp.addr(), "LABTEST", "ARCHIVE");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn rejection(addr: SocketAddr, calling: &str, called: &str) -> dicom_ul::pdu::AssociationRJ {
    let result = dicom_ul::ClientAssociationOptions::new()
        .with_abstract_syntax("1.2.840.10008.1.1")
        .calling_ae_title(calling)
        .called_ae_title(called)
        .establish(addr);
    match result {
        Err(dicom_ul::association::Error::Rejected { association_rj, .. }) => association_rj,
        Err(other) => panic!("expected a rejection, got {other:?}"),
        Ok(_) => panic!("association {calling} -> {called} must be rejected"),
    }
}

#[test]
fn picky_peers_reject_with_decodable_reasons() {
    use dicom_ul::pdu::{AssociationRJResult, AssociationRJServiceUserReason, AssociationRJSource};
    let Some(qr) = or_skip(
        Dcmqrscp::builder()
            .ae_title("PICKY")
            .peer("MODALITY1", "127.0.0.1", 11112)
            .start(),
    ) else {
        return;
    };
    // The known caller is accepted.
    let out = echoscu(qr.addr(), "MODALITY1", "PICKY");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let called_unknown = rejection(qr.addr(), "MODALITY1", "NOSUCH");
    assert_eq!(called_unknown.result, AssociationRJResult::Permanent);
    assert_eq!(
        called_unknown.source,
        AssociationRJSource::ServiceUser(
            AssociationRJServiceUserReason::CalledAETitleNotRecognized
        )
    );
    let calling_unknown = rejection(qr.addr(), "STRANGER", "PICKY");
    assert_eq!(calling_unknown.result, AssociationRJResult::Permanent);

    let Some(refusing) = or_skip(Storescp::builder().refuse_all().start()) else {
        return;
    };
    let refused = rejection(refusing.addr(), "LABTEST", "STORESCP");
    assert_eq!(
        refused.source,
        AssociationRJSource::ServiceUser(AssociationRJServiceUserReason::NoReasonGiven)
    );
}

#[test]
fn restricted_peer_refuses_transfer_syntaxes_it_was_not_given() {
    let Some(scp) = or_skip(
        Storescp::builder()
            .only_transfer_syntax("1.2.840.10008.1.2.4.50")
            .start(),
    ) else {
        return;
    };
    // Offering only the uncompressed syntaxes: no presentation context is accepted.
    let result = dicom_ul::ClientAssociationOptions::new()
        .with_presentation_context(
            "1.2.840.10008.1.1",
            vec!["1.2.840.10008.1.2", "1.2.840.10008.1.2.1"],
        )
        .calling_ae_title("LABTEST")
        .establish(scp.addr());
    assert!(
        matches!(
            result,
            Err(dicom_ul::association::Error::NoAcceptedPresentationContexts { .. })
        ),
        "{result:?}"
    );
    // Offering the one syntax it takes is accepted.
    let association = dicom_ul::ClientAssociationOptions::new()
        .with_presentation_context("1.2.840.10008.1.1", vec!["1.2.840.10008.1.2.4.50"])
        .calling_ae_title("LABTEST")
        .establish(scp.addr())
        .unwrap();
    association.release().unwrap();
}

#[test]
fn servers_stop_on_drop_even_when_a_test_panics() {
    let Some(slapd) = or_skip(Slapd::builder().start()) else {
        return;
    };
    let pid = slapd.pid().unwrap();
    let worker = std::thread::spawn(move || {
        let _held = slapd;
        panic!("a test that fails while holding a server");
    });
    assert!(worker.join().is_err());
    // Drop ran during unwinding: the server is gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while process_alive(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !process_alive(pid),
        "slapd {pid} survived its owner's panic"
    );
}

#[test]
fn sample_site_starts_every_server() {
    let Some(site) = or_skip(SampleSite::start(2)) else {
        return;
    };
    let text = site.describe();
    assert!(
        text.contains("ARCHIVE-1") && text.contains("PRINTER-1") && text.contains("CT-SCANNER-1")
    );
    let archives = site
        .slapd
        .ldapsearch(&site.slapd.devices_dn(), "(dicomPrimaryDeviceType=ARCHIVE)")
        .unwrap();
    assert!(
        archives.contains("dicomDeviceName: ARCHIVE-1"),
        "{archives}"
    );
    let out = echoscu(site.archive.addr(), "CT1", "ARCHIVE");
    assert!(out.status.success());
}

fn ldapsearch_tls(url: &str, ca: &std::path::Path, start_tls: bool) -> std::process::Output {
    let mut cmd = Command::new("ldapsearch");
    cmd.env("LDAPTLS_CACERT", ca)
        .env("LDAPTLS_REQCERT", "demand")
        .args([
            "-x",
            "-LLL",
            "-H",
            url,
            "-s",
            "base",
            "-b",
            "dc=example,dc=org",
            "dn",
        ]);
    if start_tls {
        cmd.arg("-ZZ");
    }
    cmd.output().unwrap()
}

#[test]
fn slapd_with_tls_serves_ldaps_and_starttls_under_the_lab_ca() {
    let Some(slapd) = or_skip(Slapd::builder().tls(true).start()) else {
        return;
    };
    let ca = slapd.ca_cert_path().unwrap();
    let ldaps = ldapsearch_tls(&slapd.ldaps_url().unwrap(), ca, false);
    assert!(
        ldaps.status.success(),
        "{}",
        String::from_utf8_lossy(&ldaps.stderr)
    );
    assert!(String::from_utf8_lossy(&ldaps.stdout).contains("dn: dc=example,dc=org"));
    let start_tls = ldapsearch_tls(&slapd.url().replace("127.0.0.1", "localhost"), ca, true);
    assert!(
        start_tls.status.success(),
        "{}",
        String::from_utf8_lossy(&start_tls.stderr)
    );
    // A client that does not trust the lab CA is refused.
    let untrusted = ldapsearch_tls(
        &slapd.ldaps_url().unwrap(),
        std::path::Path::new("/dev/null"),
        false,
    );
    assert!(!untrusted.status.success());
}

#[tokio::test]
async fn replica_consumer_refers_writes_to_its_provider() {
    let Some(pair) = or_skip(annexr_lab::SlapdPair::start(SEED)) else {
        return;
    };
    let seed_dn = format!("dicomDeviceName=CT-1,{}", pair.provider.devices_dn());
    pair.wait_replicated(&seed_dn).unwrap();
    let mut consumer = bind(
        &pair.consumer,
        &pair.consumer.admin_dn(),
        pair.consumer.admin_password(),
    )
    .await;
    let dn = format!("dicomAETitle=REPL1,{}", pair.consumer.registry_dn());
    let attrs = vec![
        ("objectClass", ["dicomUniqueAETitle"].into()),
        ("dicomAETitle", ["REPL1"].into()),
    ];
    let result = consumer.add(&dn, attrs.clone()).await.unwrap();
    assert_eq!(result.rc, 10, "referral expected: {result:?}");
    assert!(
        result.refs.iter().any(|r| r.contains(&pair.provider.url())),
        "referral to the provider expected: {:?}",
        result.refs
    );
    // Written at the provider, it replicates to the consumer.
    let mut provider = bind(
        &pair.provider,
        &pair.provider.device_dn(),
        pair.provider.device_password(),
    )
    .await;
    assert_eq!(provider.add(&dn, attrs).await.unwrap().rc, 0);
    pair.wait_replicated(&dn).unwrap();
}

#[test]
fn storescp_with_tls_answers_echo_over_tls_only() {
    let Some(scp) = or_skip(Storescp::builder().ae_title("SECURE").tls(true).start()) else {
        return;
    };
    let ca = scp.ca_cert_path().unwrap();
    // The stock client, trusting the lab CA, verifies the server and echoes.
    let verified = Command::new("echoscu")
        .args(["+tla", "+cf"])
        .arg(ca)
        .args([
            "-aec",
            "SECURE",
            "localhost",
            &scp.addr().port().to_string(),
        ])
        .output()
        .unwrap();
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    // A plain (non-TLS) association attempt does not get through.
    let plain = echoscu(scp.addr(), "LABTEST", "SECURE");
    assert!(!plain.status.success());
}

fn udhcpc_gets_a_lease(server: annexr_lab::DhcpServer) {
    let Some(lab) = or_skip(annexr_lab::DhcpLab::start(server)) else {
        return;
    };
    let out = lab
        .client_command("busybox")
        .args(["udhcpc", "-n", "-q", "-f", "-t", "5", "-s", "/bin/true"])
        .args(["-i", lab.client_ifname()])
        .args(["-O", "42", "-O", "2", "-O", "100", "-O", "101", "-O", "119"])
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&out.stderr).into_owned() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains("lease of 10.231.0."), "{said}");
    // The client namespace sees only its own link: no route to the host.
    let in_ns = lab
        .in_client_ns(|| std::net::UdpSocket::bind("10.231.0.1:0").is_err())
        .unwrap();
    assert!(
        in_ns,
        "the server address must not be local in the client namespace"
    );
    let log = lab.server_log();
    assert!(
        log.contains("DHCPACK") || log.contains("DHCP4_LEASE_ALLOC"),
        "{log}"
    );
}

#[test]
fn dnsmasq_dhcp_in_namespaces_leases_to_a_stock_client() {
    udhcpc_gets_a_lease(annexr_lab::DhcpServer::Dnsmasq);
}

#[test]
fn kea_dhcp_in_namespaces_leases_to_a_stock_client() {
    udhcpc_gets_a_lease(annexr_lab::DhcpServer::Kea);
}

#[test]
fn delay_relay_adds_its_round_trip_over_tcp_and_udp() {
    let Some(slapd) = or_skip(Slapd::builder().start()) else {
        return;
    };
    let Some(ntp) = or_skip(Chronyd::builder().start()) else {
        return;
    };
    let one_way = Duration::from_millis(10);
    let ldap_relay = annexr_lab::DelayRelay::start(slapd.addr(), one_way).unwrap();
    let ntp_relay = annexr_lab::DelayRelay::start(ntp.addr(), one_way).unwrap();
    // TCP: the stock client through the relay sees the handshake round trip
    // plus bind and search: at least 3 round trips of 20 ms.
    let started = std::time::Instant::now();
    let out = Command::new("ldapsearch")
        .args(["-x", "-LLL", "-H", &format!("ldap://{}", ldap_relay.addr())])
        .args(["-s", "base", "-b", slapd.suffix(), "dn"])
        .output()
        .unwrap();
    let took = started.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took >= ldap_relay.round_trip() * 3, "{took:?}");
    // UDP: one NTP exchange costs one round trip.
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let context = sntpc::NtpContext::new(sntpc::StdTimestampGen::default());
    let result = sntpc::sync::get_time(ntp_relay.addr(), &BlockingUdp(socket), context).unwrap();
    let roundtrip = Duration::from_micros(result.roundtrip());
    assert!(roundtrip >= ntp_relay.round_trip(), "{roundtrip:?}");
    assert!(roundtrip < ntp_relay.round_trip() * 3, "{roundtrip:?}");
}
