//! SRV discovery against the lab's real DNS servers (annexr-lab): every test
//! body runs once per server family (dnsmasq, BIND 9, unbound) on the same
//! zone description, and asserts what that family answers where they differ.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use annexr_dns::{
    AddrSource, DnsConfig, Error, Nearest, NearestOutcome, Service, Source, SplitMix64,
    SrvDiscoverer, WalkResult, blocking,
};
use annexr_lab::{DnsServer, DnsServerKind, DnsZone, SrvRecord, or_skip};

const LOCAL: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

fn config(servers: &[SocketAddr], search: &[&str]) -> DnsConfig {
    let servers: Vec<String> = servers.iter().map(|s| s.to_string()).collect();
    DnsConfig::new(&servers, search)
        .unwrap()
        .timeout(Duration::from_millis(400))
        .attempts(1)
        .nearest(Nearest::Off)
}

/// Starts `zone` on a server of family `kind` (None: skipped, see or_skip).
fn start(kind: DnsServerKind, zone: DnsZone) -> Option<DnsServer> {
    or_skip(zone.start_on(kind))
}

/// Whether the family puts the SRV targets' addresses in the additional
/// section of the SRV answer (unbound's local data does not: the client asks
/// for A and AAAA itself).
fn sends_additional_addresses(kind: DnsServerKind) -> bool {
    match kind {
        DnsServerKind::Dnsmasq | DnsServerKind::Bind => true,
        DnsServerKind::Unbound => false,
    }
}

/// 1,000 discoveries against dnsmasq, 250 against each other family (their
/// answers are parsed the same way; fewer keep the suite quick): every
/// selection is a fresh query (TTL 0), ordered by RFC 2782 with a seeded RNG. The share of each target in
/// first place must match its weight within 4 binomial standard deviations
/// (plus the RFC's +1 bias of the inclusive random range, at most
/// 1/(total+1)). Weight 0 sits beside weighted records.
#[tokio::test]
async fn weighted_distribution_of_selections() {
    for kind in DnsServerKind::ALL {
        let Some(dns) = start(
            kind,
            DnsZone::default()
                .srv(SrvRecord::new("_ldap._tcp.example.org", "a.example.org", 389).weight(60))
                .srv(SrvRecord::new("_ldap._tcp.example.org", "b.example.org", 389).weight(30))
                .srv(SrvRecord::new("_ldap._tcp.example.org", "c.example.org", 389).weight(10))
                .srv(
                    SrvRecord::new("_ldap._tcp.example.org", "d.example.org", 1389)
                        .priority(1)
                        .weight(5),
                )
                .srv(
                    SrvRecord::new("_ldap._tcp.example.org", "e.example.org", 1389)
                        .priority(1)
                        .weight(0),
                )
                .host("a.example.org", LOCAL)
                .host("b.example.org", LOCAL)
                .host("c.example.org", LOCAL)
                .host("d.example.org", LOCAL)
                .host("e.example.org", LOCAL),
        ) else {
            continue;
        };
        let d = SrvDiscoverer::with_rng(
            config(&[dns.addr()], &["example.org"]),
            Box::new(SplitMix64::new(2026)),
        )
        .unwrap();
        let n: usize = match kind {
            DnsServerKind::Dnsmasq => 1000,
            DnsServerKind::Bind | DnsServerKind::Unbound => 250,
        };
        let mut first: HashMap<String, usize> = HashMap::new();
        let mut e_before_d = 0usize;
        for _ in 0..n {
            let found = d.discover_ldap().await.unwrap();
            assert_eq!(found.source, Source::NameServer(dns.addr()), "{kind}");
            let hosts: Vec<&str> = found.targets.iter().map(|t| t.host()).collect();
            assert_eq!(hosts.len(), 5, "{kind}");
            // Priority 0 always before priority 1.
            assert!(
                hosts[..3]
                    .iter()
                    .all(|h| ["a.example.org", "b.example.org", "c.example.org"].contains(h)),
                "{kind}: {hosts:?}"
            );
            *first.entry(hosts[0].to_string()).or_default() += 1;
            if hosts[3] == "e.example.org" {
                e_before_d += 1;
            }
            for t in &found.targets {
                assert_eq!(t.addrs, vec![LOCAL], "{kind}");
                if sends_additional_addresses(kind) {
                    // Addresses came from the additional section, in the same answer.
                    assert!(
                        matches!(t.addr_source, AddrSource::Additional(_)),
                        "{kind}: {t:?}"
                    );
                } else {
                    assert!(
                        matches!(t.addr_source, AddrSource::Query(Source::NameServer(s)) if s == dns.addr()),
                        "{kind}: {t:?}"
                    );
                }
            }
        }
        let check = |observed: usize, p: f64, what: &str| {
            let expected = p * n as f64;
            let sigma = (n as f64 * p * (1.0 - p)).sqrt();
            let tol = 4.0 * sigma + n as f64 / 101.0;
            eprintln!("{kind} {what}: observed {observed}, expected {expected:.0} ± {tol:.0}");
            assert!(
                (observed as f64 - expected).abs() <= tol,
                "{kind} {what}: observed {observed}, expected {expected:.0} ± {tol:.0}"
            );
        };
        check(first["a.example.org"], 0.6, "a (weight 60)");
        check(first["b.example.org"], 0.3, "b (weight 30)");
        check(first["c.example.org"], 0.1, "c (weight 10)");
        // Zero-weight rule: e is placed first in the running sum and wins only
        // on a random 0 out of 0..=5, i.e. 1/6 of the time.
        check(e_before_d, 1.0 / 6.0, "e (weight 0) before d (weight 5)");
        // One SRV query per selection; A queries only where the family sends
        // no additional addresses (then one per target and selection).
        assert_eq!(
            dns.count_queries("SRV", "_ldap._tcp.example.org"),
            n,
            "{kind}"
        );
        let a_queries = if sends_additional_addresses(kind) {
            0
        } else {
            5 * n
        };
        assert_eq!(dns.count_queries_of_type("A"), a_queries, "{kind}");
    }
}

/// A "." target says the service is decidedly not offered (RFC 2782).
#[tokio::test]
async fn dot_target_is_not_offered() {
    for kind in DnsServerKind::ALL {
        let Some(dns) = start(
            kind,
            DnsZone::default()
                .srv_not_offered("_ldap._tcp.other.org")
                .srv(SrvRecord::new(
                    "_ldap._tcp.example.org",
                    "ldap1.example.org",
                    389,
                ))
                .host("ldap1.example.org", LOCAL),
        ) else {
            continue;
        };
        let d = SrvDiscoverer::new(config(&[dns.addr()], &["other.org"])).unwrap();
        match d.discover_ldap().await {
            Err(Error::NotOffered {
                service,
                domain,
                server,
            }) => {
                assert_eq!(service, "_ldap._tcp");
                assert_eq!(domain, "other.org");
                assert_eq!(server, dns.addr());
            }
            other => panic!("{kind}: expected NotOffered, got {other:?}"),
        }
        // With a further search domain, the walk goes on and says what it saw.
        let d = SrvDiscoverer::new(config(&[dns.addr()], &["other.org", "example.org"])).unwrap();
        let found = d.discover_ldap().await.unwrap();
        assert_eq!(found.domain, "example.org");
        assert_eq!(found.walked[0].result, WalkResult::NotOffered(dns.addr()));
        assert_eq!(found.urls(), ["ldap://ldap1.example.org:389"]);
    }
}

/// The first search domains have no record; the walk goes on to the next
/// domain either way, and says per domain what the server answered:
/// - dnsmasq without upstream servers answers REFUSED for any name it has no
///   record of that type for;
/// - BIND and unbound answer REFUSED outside their zones, and NODATA for a
///   name in their zone (nodata.org, which holds a TXT record) without SRV.
///
/// Made authoritative for the domains (`local_domain`), every family answers
/// NXDOMAIN and NODATA.
#[tokio::test]
async fn missing_record_falls_back_to_next_search_domain() {
    let zone = || {
        DnsZone::default()
            .txt("_ldap._tcp.nodata.org", "not an SRV record")
            .srv(SrvRecord::new(
                "_ldap._tcp.example.org",
                "ldap1.example.org",
                389,
            ))
            .host("ldap1.example.org", LOCAL)
    };
    for kind in DnsServerKind::ALL {
        let Some(dns) = start(kind, zone()) else {
            continue;
        };
        let d = SrvDiscoverer::new(config(
            &[dns.addr()],
            &["missing.org", "nodata.org", "example.org"],
        ))
        .unwrap();
        let refused = |r: &WalkResult| matches!(r, WalkResult::Failed(a) if a.len() == 1 && a[0].server == dns.addr() && a[0].failure.contains("Refused"));
        let found = d.discover_ldap().await.unwrap();
        assert_eq!(found.domain, "example.org");
        let results: Vec<_> = found.walked.iter().map(|w| w.result.clone()).collect();
        assert!(refused(&results[0]), "{kind}: {results:?}");
        match kind {
            DnsServerKind::Dnsmasq => assert!(refused(&results[1]), "{kind}: {results:?}"),
            DnsServerKind::Bind | DnsServerKind::Unbound => {
                assert_eq!(results[1], WalkResult::NoRecords(dns.addr()), "{kind}")
            }
        }
        assert_eq!(results[2], WalkResult::Found(dns.addr()), "{kind}");

        // A server authoritative for the domains answers NXDOMAIN and NODATA:
        // the walk goes on past both.
        let Some(auth) = start(
            kind,
            zone()
                .local_domain("missing.org")
                .local_domain("nodata.org"),
        ) else {
            continue;
        };
        let d = SrvDiscoverer::new(config(
            &[auth.addr()],
            &["missing.org", "nodata.org", "example.org"],
        ))
        .unwrap();
        let found = d.discover_ldap().await.unwrap();
        let results: Vec<_> = found.walked.iter().map(|w| w.result.clone()).collect();
        assert_eq!(
            results[0],
            WalkResult::NxDomain(auth.addr()),
            "{kind}: {results:?}"
        );
        assert_eq!(
            results[1],
            WalkResult::NoRecords(auth.addr()),
            "{kind}: {results:?}"
        );
        assert_eq!(results[2], WalkResult::Found(auth.addr()), "{kind}");
        assert_eq!(
            found.targets[0].socket_addrs(),
            [SocketAddr::new(LOCAL, 389)],
            "{kind}"
        );

        // Nothing anywhere: a NotFound naming each domain's outcome.
        let d = SrvDiscoverer::new(config(&[dns.addr()], &["missing.org", "nodata.org"])).unwrap();
        match d.discover_ldap().await {
            Err(e @ Error::NotFound { .. }) => {
                let text = e.to_string();
                assert!(text.contains("_ldap._tcp.nodata.org."), "{kind}: {text}");
            }
            other => panic!("{kind}: expected NotFound, got {other:?}"),
        }
    }
}

/// A UDP socket that is bound but never read: queries to it vanish. The next
/// name server answers; the result says which did and which did not.
#[tokio::test]
async fn silent_name_server_then_one_that_answers() {
    // The families run at once: the test mostly waits (timeouts, TTL).
    let [a, b, c] = DnsServerKind::ALL;
    tokio::join!(
        silent_name_server_then_one_that_answers_on(a),
        silent_name_server_then_one_that_answers_on(b),
        silent_name_server_then_one_that_answers_on(c)
    );
}

async fn silent_name_server_then_one_that_answers_on(kind: DnsServerKind) {
    let Some(dns) = start(
        kind,
        DnsZone::default()
            .srv(SrvRecord::new(
                "_ldap._tcp.example.org",
                "ldap1.example.org",
                389,
            ))
            .host("ldap1.example.org", LOCAL),
    ) else {
        return;
    };
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let silent_addr = silent.local_addr().unwrap();
    let d = SrvDiscoverer::new(config(&[silent_addr, dns.addr()], &["example.org"])).unwrap();
    let started = std::time::Instant::now();
    let found = d.discover_ldap().await.unwrap();
    assert_eq!(found.source, Source::NameServer(dns.addr()), "{kind}");
    assert_eq!(
        found.server_failures.len(),
        1,
        "{kind}: {:?}",
        found.server_failures
    );
    assert_eq!(found.server_failures[0].server, silent_addr);
    assert!(started.elapsed() >= Duration::from_millis(400));
    // The server that answered is asked first from now on.
    d.clear_cache();
    let again = d.discover_ldap().await.unwrap();
    assert!(
        again.server_failures.is_empty(),
        "{kind}: {:?}",
        again.server_failures
    );

    // Only the silent one: a typed "unreachable" naming it.
    let d = SrvDiscoverer::new(config(&[silent_addr], &["example.org"])).unwrap();
    match d.discover_ldap().await {
        Err(Error::Unreachable { attempts, .. }) => {
            assert_eq!(attempts[0].server, silent_addr);
        }
        other => panic!("{kind}: expected Unreachable, got {other:?}"),
    }
    drop(silent);
}

/// Records with a TTL of 2 s: the second discovery comes from the cache with
/// the remaining TTL, and after 2 s the records are fetched again.
#[tokio::test]
async fn cache_follows_ttl() {
    // The families run at once: the test mostly waits (timeouts, TTL).
    let [a, b, c] = DnsServerKind::ALL;
    tokio::join!(
        cache_follows_ttl_on(a),
        cache_follows_ttl_on(b),
        cache_follows_ttl_on(c)
    );
}

async fn cache_follows_ttl_on(kind: DnsServerKind) {
    let Some(dns) = start(
        kind,
        DnsZone::default()
            .srv(SrvRecord::new(
                "_ldap._tcp.example.org",
                "ldap1.example.org",
                389,
            ))
            .host("ldap1.example.org", LOCAL)
            .ttl(2),
    ) else {
        return;
    };
    let d = SrvDiscoverer::new(config(&[dns.addr()], &["example.org"])).unwrap();
    let cold = d.discover_ldap().await.unwrap();
    assert_eq!(cold.source, Source::NameServer(dns.addr()), "{kind}");
    assert_eq!(cold.ttl, Duration::from_secs(2), "{kind}");
    assert_eq!(cold.targets[0].addr_ttl, Duration::from_secs(2), "{kind}");
    let warm = d.discover_ldap().await.unwrap();
    assert!(
        matches!(warm.source, Source::Cache { server, .. } if server == dns.addr()),
        "{kind}: {:?}",
        warm.source
    );
    assert!(warm.ttl <= Duration::from_secs(2) && warm.ttl > Duration::ZERO);
    assert!(matches!(
        warm.targets[0].addr_source,
        AddrSource::Query(Source::Cache { .. })
    ));
    assert_eq!(dns.count_queries_of_type("SRV"), 1, "{kind}");
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = d.discover_ldap().await.unwrap();
    assert_eq!(expired.source, Source::NameServer(dns.addr()), "{kind}");
    assert_eq!(dns.count_queries_of_type("SRV"), 2, "{kind}");
}

/// Nearest race: the heavier target is dead (its port refuses connections),
/// the lighter one is a real listening server (a second DNS server's TCP
/// port); the race puts the one that accepts first, and strict mode keeps
/// RFC order.
#[tokio::test]
async fn nearest_race_prefers_the_target_that_accepts() {
    for kind in DnsServerKind::ALL {
        let Some(listener) = start(kind, DnsZone::default()) else {
            continue;
        };
        let closed_port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let Some(dns) = start(
            kind,
            DnsZone::default()
                .srv(
                    SrvRecord::new("_ldap._tcp.example.org", "far.example.org", closed_port)
                        .weight(65000),
                )
                .srv(
                    SrvRecord::new(
                        "_ldap._tcp.example.org",
                        "near.example.org",
                        listener.addr().port(),
                    )
                    .weight(1),
                )
                .srv(
                    SrvRecord::new("_ldap._tcp.example.org", "backup.example.org", 389).priority(5),
                )
                .host("far.example.org", LOCAL)
                .host("near.example.org", LOCAL)
                .host("backup.example.org", LOCAL),
        ) else {
            continue;
        };
        let strict = SrvDiscoverer::with_rng(
            config(&[dns.addr()], &["example.org"]),
            Box::new(SplitMix64::new(1)),
        )
        .unwrap();
        let found = strict.discover_ldap().await.unwrap();
        assert_eq!(found.nearest, NearestOutcome::Off);
        assert_eq!(found.targets[0].host(), "far.example.org", "{kind}");

        let racing = SrvDiscoverer::with_rng(
            config(&[dns.addr()], &["example.org"]).nearest(Nearest::Race {
                stagger: Duration::from_millis(30),
                timeout: Duration::from_secs(2),
            }),
            Box::new(SplitMix64::new(1)),
        )
        .unwrap();
        let found = racing.discover_ldap().await.unwrap();
        match &found.nearest {
            NearestOutcome::Winner { target, addr, .. } => {
                assert_eq!(target, "near.example.org", "{kind}");
                assert_eq!(*addr, listener.addr());
            }
            other => panic!("{kind}: expected a winner, got {other:?}"),
        }
        let hosts: Vec<_> = found.targets.iter().map(|t| t.host()).collect();
        assert_eq!(
            hosts,
            ["near.example.org", "far.example.org", "backup.example.org"],
            "{kind}"
        );
    }
}

/// Targets that break RFC 2782 (an alias, i.e. a CNAME as SRV target, and an
/// IP literal) and one without an address still give a result that says so,
/// never a panic.
#[tokio::test]
async fn odd_targets_are_reported() {
    for kind in DnsServerKind::ALL {
        let Some(dns) = start(
            kind,
            DnsZone::default()
                .srv(SrvRecord::new("_ldap._tcp.example.org", "alias.example.org", 389).weight(3))
                .srv(SrvRecord::new("_ldap._tcp.example.org", "127.0.0.1", 390).weight(2))
                .srv(SrvRecord::new("_ldap._tcp.example.org", "ghost.example.org", 391).weight(1))
                .host("ldap1.example.org", LOCAL)
                .cname("alias.example.org", "ldap1.example.org"),
        ) else {
            continue;
        };
        let d = SrvDiscoverer::new(config(&[dns.addr()], &["example.org"])).unwrap();
        let found = d.discover_ldap().await.unwrap();
        let by_host: HashMap<_, _> = found.targets.iter().map(|t| (t.host(), t)).collect();
        let alias = by_host["alias.example.org"];
        assert_eq!(alias.addrs, vec![LOCAL], "{kind}: {alias:?}");
        assert!(
            alias.note.as_deref().unwrap_or("").contains("alias"),
            "{kind}: {alias:?}"
        );
        let literal = by_host["127.0.0.1"];
        assert_eq!(literal.addr_source, AddrSource::Literal, "{kind}");
        let ghost = by_host["ghost.example.org"];
        assert_eq!(ghost.addr_source, AddrSource::Unresolved, "{kind}");
        assert!(ghost.addrs.is_empty());
    }
}

#[test]
fn blocking_facade_and_txt() {
    for kind in DnsServerKind::ALL {
        let Some(dns) = start(
            kind,
            DnsZone::default()
                .srv(SrvRecord::new(
                    "_ldaps._tcp.example.org",
                    "ldap1.example.org",
                    636,
                ))
                .srv(SrvRecord::new(
                    "_ldap._tcp.example.org",
                    "ldap1.example.org",
                    389,
                ))
                .host("ldap1.example.org", LOCAL)
                .txt("_dicom._tcp.example.org", "path=/dicom")
                .ttl(60),
        ) else {
            continue;
        };
        let d = blocking::SrvDiscoverer::new(
            config(&[dns.addr()], &["example.org"])
                .ldap_services(vec![Service::Ldaps, Service::Ldap]),
        )
        .unwrap();
        let found = d.discover_ldap().unwrap();
        assert_eq!(found.urls(), ["ldaps://ldap1.example.org:636"], "{kind}");
        let txt = d.txt("_dicom._tcp.example.org").unwrap();
        assert_eq!(txt.strings, ["path=/dicom"], "{kind}");
        assert_eq!(txt.ttl, Duration::from_secs(60), "{kind}");
        assert_eq!(txt.source, Source::NameServer(dns.addr()));
        let again = d.txt("_dicom._tcp.example.org").unwrap();
        assert!(matches!(again.source, Source::Cache { .. }), "{kind}");
    }
}

/// An RRset too big for one UDP datagram: the server truncates it, the
/// resolver asks again over TCP and gets every record.
#[tokio::test]
async fn truncated_answer_falls_back_to_tcp() {
    for kind in DnsServerKind::ALL {
        let mut zone = DnsZone::default();
        for i in 0..60u16 {
            let target = format!("ldap-replica-with-a-long-name-{i:02}.example.org");
            zone = zone
                .srv(SrvRecord::new("_ldap._tcp.example.org", &target, 389).weight(i))
                .host(&target, LOCAL);
        }
        let Some(dns) = start(kind, zone) else {
            continue;
        };
        let d = SrvDiscoverer::new(config(&[dns.addr()], &["example.org"])).unwrap();
        let found = d.discover_ldap().await.unwrap();
        assert_eq!(found.targets.len(), 60, "{kind}");
        // The truncated UDP answer and the TCP retry: two queries for one lookup.
        assert_eq!(
            dns.count_queries("SRV", "_ldap._tcp.example.org"),
            2,
            "{kind}\n{}",
            dns.log()
        );
    }
}
