//! Every lab DNS server family serves the same zone description, as the
//! stock `dig` sees it, and logs the queries the lab counts.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

use annexr_lab::{DnsServer, DnsServerKind, DnsZone, SrvRecord, or_skip};

fn dig(server: &DnsServer, args: &[&str]) -> String {
    let out = Command::new("dig")
        .args(["+time=2", "+tries=1", "-p"])
        .arg(server.addr().port().to_string())
        .arg(format!("@{}", server.addr().ip()))
        .args(args)
        .output()
        .expect("dig (bind9-dnsutils) runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn zone() -> DnsZone {
    DnsZone::default()
        .srv(SrvRecord::new("_ldap._tcp.example.org", "ldap1.example.org", 389).weight(10))
        .srv_not_offered("_ldap._tcp.other.org")
        .host("ldap1.example.org", IpAddr::V4(Ipv4Addr::new(127, 0, 0, 7)))
        .txt("_dicom._tcp.example.org", "path=/dicom")
        .cname("alias.example.org", "ldap1.example.org")
        .local_domain("missing.org")
        .ttl(30)
}

#[test]
fn each_dns_family_serves_the_zone_and_logs_its_queries() {
    for kind in DnsServerKind::ALL {
        let Some(dns) = or_skip(zone().start_on(kind)) else {
            continue;
        };
        assert_eq!(dns.kind(), kind);
        let srv = dig(&dns, &["+short", "SRV", "_ldap._tcp.example.org"]);
        assert_eq!(srv.trim(), "0 10 389 ldap1.example.org.", "{kind}: {srv}");
        let dot = dig(&dns, &["+short", "SRV", "_ldap._tcp.other.org"]);
        assert_eq!(dot.trim(), "0 0 0 .", "{kind}: {dot}");
        let txt = dig(&dns, &["+short", "TXT", "_dicom._tcp.example.org"]);
        assert_eq!(txt.trim(), "\"path=/dicom\"", "{kind}: {txt}");
        let a = dig(&dns, &["+noall", "+answer", "A", "ldap1.example.org"]);
        assert!(a.contains("30\tIN\tA\t127.0.0.7"), "{kind}: {a}");
        let nx = dig(&dns, &["SRV", "_ldap._tcp.missing.org"]);
        assert!(nx.contains("status: NXDOMAIN"), "{kind}: {nx}");
        let refused = dig(&dns, &["SRV", "_ldap._tcp.elsewhere.net"]);
        assert!(refused.contains("status: REFUSED"), "{kind}: {refused}");
        assert_eq!(
            dns.count_queries("SRV", "_ldap._tcp.example.org"),
            1,
            "{kind}\n{}",
            dns.log()
        );
        assert_eq!(dns.count_queries_of_type("SRV"), 4, "{kind}\n{}", dns.log());
        assert_eq!(dns.count_queries("A", "ldap1.example.org"), 1, "{kind}");
        assert!(!dns.version().is_empty());
    }
}
