//! Against real DHCP servers (dnsmasq and ISC kea) inside the lab's network
//! namespaces. Skipped with a reason without root, unless ANNEXR_LAB=require.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::Ipv4Addr;
use std::time::Duration;

use annexr_dhcp::driver::{Driver, Happened};
use annexr_dhcp::os::{Applied, Apply, IpCommand, ReportOnly};
use annexr_dhcp::{Client, ClientConfig, Lease, Mac, StateName};
use annexr_lab::{DhcpLab, DhcpServer, or_skip};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The MAC of the client-side veth (asked inside the namespace: /sys
/// still shows the host's).
fn mac_of(ifname: &str) -> Mac {
    let out = std::process::Command::new("ip")
        .args(["-o", "link", "show", "dev", ifname])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mac = text
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_else(|| panic!("no MAC in {text}"));
    mac.parse().unwrap()
}

fn config(ifname: &str) -> ClientConfig {
    ClientConfig::new(mac_of(ifname))
        .with_host_name("ct-scanner-1")
        .unwrap()
        .with_fqdn("ct-scanner-1.hospital.example")
        .unwrap()
}

fn check_every_option(lab: &DhcpLab, lease: &Lease) {
    let e = lab.expected();
    let a = u32::from(lease.address);
    assert!(
        (u32::from(e.pool_start)..=u32::from(e.pool_end)).contains(&a),
        "{lease:?}"
    );
    assert_eq!(lease.server_id, Some(e.server));
    assert_eq!(lease.subnet_mask, Some(e.netmask));
    assert_eq!(lease.routers, vec![e.router]);
    assert_eq!(lease.dns_servers, e.dns_servers);
    assert_eq!(lease.ntp_servers, e.ntp_servers);
    assert_eq!(lease.domain_name.as_deref(), Some(e.domain_name.as_str()));
    assert_eq!(lease.time_offset, Some(e.time_offset));
    assert_eq!(lease.posix_tz.as_deref(), Some(e.posix_tz.as_str()));
    assert_eq!(lease.tz_name.as_deref(), Some(e.tz_database_name.as_str()));
    assert_eq!(lease.domain_search, e.domain_search);
    assert_eq!(
        lease.lease_time,
        Some(Duration::from_secs(u64::from(e.lease_secs)))
    );
    assert!(lease.malformed.is_empty(), "{:?}", lease.malformed);
}

/// Writes received packets to $ANNEXR_DHCP_CAPTURE/<server>-<n>.bin (how
/// the unit-test fixtures in src/fixtures were captured).
fn capture(server: DhcpServer, packets: &[Vec<u8>]) {
    if let Ok(dir) = std::env::var("ANNEXR_DHCP_CAPTURE") {
        for (i, p) in packets.iter().enumerate() {
            let name = format!("{dir}/{:?}-{i}.bin", server).to_lowercase();
            std::fs::write(name, p).unwrap();
        }
    }
}

fn discover_to_bound(server: DhcpServer) {
    let Some(lab) = or_skip(DhcpLab::start(server)) else {
        return;
    };
    let ifname = lab.client_ifname().to_owned();
    let (lease, applied, stats, addr_shown) = lab
        .in_client_ns(|| {
            rt().block_on(async {
                let mut d =
                    Driver::new(&ifname, Client::new(config(&ifname)), IpCommand::default())
                        .unwrap();
                d.keep_packets(true);
                let lease = d.bound(Duration::from_secs(30)).await.unwrap();
                assert_eq!(d.client().state(), StateName::Bound);
                let shown = std::process::Command::new("ip")
                    .args(["-4", "addr", "show", "dev", &ifname])
                    .output()
                    .unwrap();
                let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
                let stats = d.release().await.unwrap();
                (lease, (), stats, shown)
            })
        })
        .unwrap();
    let _ = applied;
    capture(server, &stats.packets);
    check_every_option(&lab, &lease);
    assert!(
        addr_shown.contains(&format!("{}/24", lease.address)),
        "{addr_shown}"
    );
    assert_eq!(
        stats.sent[..2],
        ["DISCOVER".to_owned(), "REQUEST".to_owned()]
    );
    assert_eq!(stats.sent.last().map(String::as_str), Some("RELEASE"));
    // RELEASE seen by the server (R.5.1).
    std::thread::sleep(Duration::from_millis(300));
    let log = lab.server_log();
    assert!(log.contains("RELEASE"), "server log:\n{log}");
}

#[test]
fn dnsmasq_discover_to_bound_with_every_option_and_release() {
    discover_to_bound(DhcpServer::Dnsmasq);
}

#[test]
fn kea_discover_to_bound_with_every_option_and_release() {
    discover_to_bound(DhcpServer::Kea);
}
