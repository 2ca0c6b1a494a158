//! Against real DHCP servers (dnsmasq and ISC kea) inside the lab's network
//! namespaces. Skipped with a reason without root, unless ANNEXR_LAB=require.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::Ipv4Addr;
use std::time::Duration;

use std::os::unix::process::CommandExt;

use annexr_dhcp::Ignored;
use annexr_dhcp::{Applied, Apply, IpCommand, ReportOnly};
use annexr_dhcp::{Client, ClientConfig, Error, Lease, Mac, StateName};
use annexr_dhcp::{Driver, Happened};
use annexr_dhcp::{LeaseMemory, Remembered};
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
        .host_name("ct-scanner-1")
        .unwrap()
        .fqdn("ct-scanner-1.hospital.example")
        .unwrap()
}

/// The messages sent, with DISCOVER retransmissions folded: dnsmasq pings
/// a new address for ~3 s before offering it, and the first retransmission
/// comes after 4 s ± 1 s (RFC 2131 §4.1), so a second DISCOVER is legitimate.
fn sent_folded(sent: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for s in sent {
        if !(s == "DISCOVER" && out.last().is_some_and(|l| l == "DISCOVER")) {
            out.push(s.clone());
        }
    }
    out
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
    // The whole POSIX TZ string, commas included, from both servers.
    assert_eq!(lease.posix_tz.as_deref(), Some(e.posix_tz.as_str()));
    assert_eq!(lease.tz_name.as_deref(), Some(e.tz_database_name.as_str()));
    assert_eq!(lease.domain_search, e.domain_search);
    assert_eq!(
        lease.lease_time,
        Some(Duration::from_secs(u64::from(e.lease_secs)))
    );
    assert!(lease.t1().is_some() && lease.t2().is_some());
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
    let (lease, stats, addr_shown) = lab
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
                (lease, stats, shown)
            })
        })
        .unwrap();
    capture(server, &stats.packets.to_vec());
    check_every_option(&lab, &lease);
    assert!(
        addr_shown.contains(&format!("{}/24", lease.address)),
        "{addr_shown}"
    );
    assert_eq!(
        sent_folded(&stats.sent.to_vec())[..2],
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

fn ip_in_ns(args: &[&str]) -> String {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "ip {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// INIT-REBOOT of a remembered address, and the seed-000 guard around it.
fn init_reboot(server: DhcpServer) {
    let Some(lab) = or_skip(DhcpLab::start(server)) else {
        return;
    };
    let ifname = lab.client_ifname().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let memory = LeaseMemory::new(dir.path().join("last-lease"));
    let (first, second, sent, warnings) = lab
        .in_client_ns(|| {
            rt().block_on(async {
                let mac = mac_of(&ifname);
                let mut d =
                    Driver::new(&ifname, Client::new(config(&ifname)), ReportOnly::default())
                        .unwrap();
                let first = d.bound(Duration::from_secs(30)).await.unwrap();
                let w1 = memory.check_and_remember(&ifname, mac, &first).unwrap();
                // "Reboot": a new client that remembers the address, no RELEASE.
                drop(d);
                let remembered = memory.load().unwrap().unwrap().address;
                let client = Client::init_reboot(config(&ifname), remembered);
                let mut d = Driver::new(&ifname, client, ReportOnly::default()).unwrap();
                let second = d.bound(Duration::from_secs(30)).await.unwrap();
                let w2 = memory.check_and_remember(&ifname, mac, &second).unwrap();
                (first, second, d.stats.sent.to_vec(), (w1, w2))
            })
        })
        .unwrap();
    assert_eq!(second.address, first.address);
    assert_eq!(sent, ["REQUEST"], "INIT-REBOOT binds with one REQUEST");
    check_every_option(&lab, &second);
    assert_eq!(warnings, (None, None), "same address: no seed-000 warning");
}

#[test]
fn dnsmasq_init_reboot_of_remembered_address() {
    init_reboot(DhcpServer::Dnsmasq);
}

#[test]
fn kea_init_reboot_of_remembered_address() {
    init_reboot(DhcpServer::Kea);
}

/// The client asks INIT-REBOOT for an address that is not its lease (it
/// remembered one from another network): the server, which knows the
/// client's real lease, NAKs; the client discovers, and the seed-000 guard
/// names the MAC.
fn nak_path(server: DhcpServer) {
    let Some(lab) = or_skip(DhcpLab::start(server)) else {
        return;
    };
    let ifname = lab.client_ifname().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let memory = LeaseMemory::new(dir.path().join("last-lease"));
    let moved = Ipv4Addr::new(10, 231, 7, 50);
    let (first, lease, sent, warning, mac) = lab
        .in_client_ns(|| {
            rt().block_on(async {
                let mac = mac_of(&ifname);
                // The server gets to know this client.
                let mut d =
                    Driver::new(&ifname, Client::new(config(&ifname)), ReportOnly::default())
                        .unwrap();
                let first = d.bound(Duration::from_secs(30)).await.unwrap();
                drop(d);
                memory
                    .store(&Remembered {
                        interface: ifname.clone(),
                        mac,
                        address: moved,
                    })
                    .unwrap();
                let client = Client::init_reboot(config(&ifname), moved);
                let mut d = Driver::new(&ifname, client, ReportOnly::default()).unwrap();
                let lease = d.bound(Duration::from_secs(30)).await.unwrap();
                let w = memory.check_and_remember(&ifname, mac, &lease).unwrap();
                (first, lease, d.stats.sent.to_vec(), w, mac)
            })
        })
        .unwrap();
    check_every_option(&lab, &lease);
    assert_eq!(lease.address, first.address);
    assert_eq!(
        sent,
        ["REQUEST", "DISCOVER", "REQUEST"],
        "NAK, then DISCOVER at once"
    );
    let log = lab.server_log();
    assert!(log.contains("NAK"), "server log:\n{log}");
    let w = warning.expect("address changed");
    assert_eq!((w.previous, w.current), (moved, lease.address));
    assert!(w.to_string().contains(&format!("MAC {mac}")), "{w}");
}

#[test]
fn dnsmasq_nak_of_a_foreign_address_then_discover() {
    nak_path(DhcpServer::Dnsmasq);
}

#[test]
fn kea_nak_of_a_foreign_address_then_discover() {
    nak_path(DhcpServer::Kea);
}

/// Renewal at T1: unicast REQUEST, ACK, lease extended, address kept.
fn renewal(server: DhcpServer, lease_secs: u32) {
    let Some(lab) = or_skip(DhcpLab::builder(server).lease_secs(lease_secs).start()) else {
        return;
    };
    let ifname = lab.client_ifname().to_owned();
    let (first, renewed, t1, took, sent) = lab
        .in_client_ns(|| {
            rt().block_on(async {
                let mut d =
                    Driver::new(&ifname, Client::new(config(&ifname)), IpCommand::default())
                        .unwrap();
                let first = d.bound(Duration::from_secs(30)).await.unwrap();
                let (t1, _, _) = d.client().timers().unwrap();
                let bound_at = std::time::Instant::now();
                let wait = Duration::from_secs(u64::from(lease_secs));
                let renewed = d
                    .run_until(wait, |h| match h {
                        Happened::Bound {
                            lease,
                            renewed: true,
                        } => Some(lease),
                        _ => None,
                    })
                    .await
                    .unwrap();
                let took = bound_at.elapsed();
                let stats = d.release().await.unwrap();
                (first, renewed, t1, took, stats.sent.to_vec())
            })
        })
        .unwrap();
    assert_eq!(renewed.address, first.address);
    check_every_option(&lab, &renewed);
    assert!(t1.is_some());
    // Renewed at T1 (half the lease), not at T2 or later.
    let half = Duration::from_secs(u64::from(lease_secs) / 2);
    assert!(
        took <= half + Duration::from_secs(2),
        "renewed after {took:?}"
    );
    assert_eq!(
        sent_folded(&sent),
        ["DISCOVER", "REQUEST", "REQUEST", "RELEASE"]
    );
}

#[test]
fn dnsmasq_renewal_at_t1() {
    // dnsmasq's shortest lease is 120 s: T1 at 60 s.
    renewal(DhcpServer::Dnsmasq, 120);
}

#[test]
fn kea_renewal_at_t1() {
    renewal(DhcpServer::Kea, 20);
}

/// INFORM from a fixed address: options without a lease.
fn inform(server: DhcpServer) {
    let Some(lab) = or_skip(DhcpLab::start(server)) else {
        return;
    };
    let ifname = lab.client_ifname().to_owned();
    let fixed = Ipv4Addr::new(10, 231, 0, 77);
    let (lease, sent) = lab
        .in_client_ns(|| {
            // A pre-configured legacy device: the address is already set.
            ip_in_ns(&["addr", "add", "10.231.0.77/24", "dev", &ifname]);
            rt().block_on(async {
                let client = Client::inform(config(&ifname), fixed);
                let mut d = Driver::new(&ifname, client, ReportOnly::default()).unwrap();
                let lease = d.informed(Duration::from_secs(30)).await.unwrap();
                assert_eq!(d.client().state(), StateName::Informed);
                (lease, d.stats.sent.to_vec())
            })
        })
        .unwrap();
    let e = lab.expected();
    assert_eq!(lease.address, fixed);
    assert_eq!(sent, ["INFORM"]);
    assert_eq!(lease.ntp_servers, e.ntp_servers);
    assert_eq!(lease.dns_servers, e.dns_servers);
    assert_eq!(lease.domain_search, e.domain_search);
    assert_eq!(lease.tz_name.as_deref(), Some(e.tz_database_name.as_str()));
    assert_eq!(
        lease.lease_time, None,
        "RFC 2131 §4.3.5: no lease time in an INFORM answer"
    );
    let log = lab.server_log();
    let answered = match lab.server_kind() {
        DhcpServer::Dnsmasq => log.contains("DHCPINFORM"),
        // kea at this debug level logs the answer, not the query's type.
        DhcpServer::Kea => log.contains("DHCPACK (type 5) from 10.231.0.1:67 to 10.231.0.77:68"),
    };
    assert!(answered, "server log:\n{log}");
    assert!(!lab.leases().contains("10.231.0.77"), "{}", lab.leases());
}

#[test]
fn dnsmasq_inform_from_a_fixed_address() {
    inform(DhcpServer::Dnsmasq);
}

#[test]
fn kea_inform_from_a_fixed_address() {
    inform(DhcpServer::Kea);
}

/// An OS hook that finds the first address in use (as an ARP probe would).
#[derive(Default)]
struct FirstAddressInUse {
    seen: Vec<Ipv4Addr>,
}

impl Apply for FirstAddressInUse {
    fn apply(&mut self, _: &str, lease: &Lease, _: bool) -> Result<Applied, Error> {
        self.seen.push(lease.address);
        Ok(if self.seen.len() == 1 {
            Applied::Conflict
        } else {
            Applied::Applied
        })
    }
    fn remove(&mut self, _: &str, _: Ipv4Addr, _: u8) -> Result<(), Error> {
        Ok(())
    }
}

fn decline(server: DhcpServer) {
    let Some(lab) = or_skip(DhcpLab::start(server)) else {
        return;
    };
    let ifname = lab.client_ifname().to_owned();
    let (lease, seen, sent) = lab
        .in_client_ns(|| {
            rt().block_on(async {
                let mut d = Driver::new(
                    &ifname,
                    Client::new(config(&ifname)),
                    FirstAddressInUse::default(),
                )
                .unwrap();
                let lease = d.bound(Duration::from_secs(60)).await.unwrap();
                (lease, d.applier().seen.clone(), d.stats.sent.to_vec())
            })
        })
        .unwrap();
    assert_eq!(seen.len(), 2);
    assert_ne!(
        lease.address, seen[0],
        "the declined address is not taken again"
    );
    assert_eq!(
        sent_folded(&sent)[..3],
        [
            "DISCOVER".to_owned(),
            "REQUEST".to_owned(),
            "DECLINE".to_owned()
        ]
    );
    let log = lab.server_log();
    assert!(log.contains("DECLINE"), "server log:\n{log}");
}

#[test]
fn dnsmasq_decline_of_an_address_in_use() {
    decline(DhcpServer::Dnsmasq);
}

#[test]
fn kea_decline_of_an_address_in_use() {
    decline(DhcpServer::Kea);
}

/// busybox udhcpc runs on the same link (same MAC, another client id,
/// broadcast replies) over and over; its OFFERs and ACKs reach our socket.
/// First our client waits a few seconds for an answer that does not come
/// (DHCPINFORM from an address on no subnet of the server), so udhcpc's
/// replies certainly arrive while a transaction is open: each must be
/// ignored by xid. Then a DISCOVER to BOUND amid the same traffic.
fn wrong_xid_ignored(server: DhcpServer) {
    let Some(lab) = or_skip(DhcpLab::start(server)) else {
        return;
    };
    let ifname = lab.client_ifname().to_owned();
    let script = format!(
        "while :; do busybox udhcpc -f -q -n -B -R -t 3 -T 1 -i {ifname} \
         -x 0x3d:ff00000000beef -s /bin/true >/dev/null 2>&1; done"
    );
    let mut other = lab
        .client_command("sh")
        .arg("-c")
        .arg(&script)
        .process_group(0)
        .spawn()
        .unwrap();
    let result = lab.in_client_ns(|| {
        rt().block_on(async {
            let waiting = Client::inform(config(&ifname), Ipv4Addr::new(192, 0, 2, 77));
            let mut d = Driver::new(&ifname, waiting, ReportOnly::default()).unwrap();
            let r = d.run_until(Duration::from_secs(6), |_| Some(())).await;
            let first = (r.is_err(), d.stats.clone());
            drop(d);
            let mut d =
                Driver::new(&ifname, Client::new(config(&ifname)), ReportOnly::default()).unwrap();
            let lease = d.bound(Duration::from_secs(40)).await.unwrap();
            (first, lease, d.stats.clone())
        })
    });
    // Stop the udhcpc loop (its own process group).
    let _ = std::process::Command::new("kill")
        .args(["-TERM", "--", &format!("-{}", other.id())])
        .status();
    let _ = other.wait();
    let ((timed_out, waiting), lease, stats) = result.unwrap();
    assert!(timed_out, "nothing answered the off-subnet INFORM");
    let wrong_xid = waiting
        .ignored
        .iter()
        .filter(|i| matches!(i, Ignored::WrongXid { .. }))
        .count();
    assert!(wrong_xid > 0, "no foreign reply seen: {waiting:?}");
    assert!(waiting.sent.iter().all(|s| s == "INFORM"));
    check_every_option(&lab, &lease);
    assert_eq!(
        sent_folded(&stats.sent.to_vec()),
        ["DISCOVER", "REQUEST"],
        "{stats:?}"
    );
    eprintln!(
        "ignored {wrong_xid} replies to udhcpc while waiting, {} while binding",
        stats.ignored.len()
    );
}

#[test]
fn dnsmasq_reply_with_wrong_xid_ignored() {
    wrong_xid_ignored(DhcpServer::Dnsmasq);
}

#[test]
fn kea_reply_with_wrong_xid_ignored() {
    wrong_xid_ignored(DhcpServer::Kea);
}

#[test]
fn blocking_facade_obtains_a_lease() {
    let Some(lab) = or_skip(DhcpLab::start(DhcpServer::Dnsmasq)) else {
        return;
    };
    let ifname = lab.client_ifname().to_owned();
    let (lease, state, held, bound_stats, released_stats) = lab
        .in_client_ns(|| {
            let client = Client::new(config(&ifname));
            let mut driver =
                annexr_dhcp::blocking::Driver::new(&ifname, client, ReportOnly::default())?;
            let lease = driver.bound(Duration::from_secs(30))?;
            let state = driver.client().state();
            let held = driver.client().lease().cloned();
            let bound_stats = driver.stats().clone();
            let released_stats = driver.release()?;
            Ok::<_, Error>((lease, state, held, bound_stats, released_stats))
        })
        .unwrap()
        .unwrap();
    check_every_option(&lab, &lease);
    // The twin's driver keeps its state between calls: bound to the lease
    // it returned, after a DISCOVER/REQUEST exchange on its own socket.
    assert_eq!(state, StateName::Bound);
    assert_eq!(held.as_ref(), Some(&lease));
    assert_eq!(
        sent_folded(&bound_stats.sent.to_vec()),
        ["DISCOVER", "REQUEST"],
        "{bound_stats:?}"
    );
    assert_eq!(
        released_stats.sent.last().map(String::as_str),
        Some("RELEASE"),
        "{released_stats:?}"
    );
}

/// The lease file of a real systemd-networkd (Debian's 252) that got its
/// lease from the lab server, read with `sources::read_networkd`. networkd
/// runs in the client namespace with its own tmpfs /run/systemd (the mount
/// namespace of `ip netns exec`), and the file is copied out for reading.
#[test]
fn networkd_lease_file_from_a_real_networkd() {
    let networkd = std::path::Path::new("/lib/systemd/systemd-networkd");
    if !networkd.exists() {
        eprintln!("SKIPPED: systemd-networkd is not installed");
        return;
    }
    let Some(lab) = or_skip(DhcpLab::start(DhcpServer::Dnsmasq)) else {
        return;
    };
    let ifname = lab.client_ifname().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("lease");
    let script = format!(
        "set -e
mount -t tmpfs tmpfs /run/systemd
# No udev here: networkd treats links as initialized when /sys is read-only
# (the container interface); this sysfs is the namespace's own mount.
mount -o remount,ro /sys
mkdir -p /run/systemd/network /run/systemd/netif/leases /run/systemd/netif/links
chown -R systemd-network:systemd-network /run/systemd/netif
printf '[Match]\\nName={ifname}\\n[Network]\\nDHCP=ipv4\\n[DHCPv4]\\nClientIdentifier=mac\\nUseTimezone=yes\\nUseDomains=yes\\n' \
  > /run/systemd/network/50-annexr-lab.network
{networkd} &
pid=$!
for i in $(seq 1 150); do
  for f in /run/systemd/netif/leases/*; do
    if [ -s \"$f\" ] && grep -q '^ADDRESS=' \"$f\"; then cp \"$f\" {out}; kill $pid; exit 0; fi
  done
  sleep 0.2
done
kill $pid; exit 1",
        networkd = networkd.display(),
        out = out.display()
    );
    let result = lab
        .client_command("sh")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "networkd got no lease: {}\n{}",
        String::from_utf8_lossy(&result.stderr),
        lab.server_log()
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let lease = annexr_dhcp::read_networkd(&out).unwrap();
    let e = lab.expected();
    assert_eq!(lease.source, annexr_dhcp::LeaseSource::SystemdNetworkd);
    assert!(
        (u32::from(e.pool_start)..=u32::from(e.pool_end)).contains(&u32::from(lease.address)),
        "{text}"
    );
    assert_eq!(lease.subnet_mask, Some(e.netmask), "{text}");
    assert_eq!(lease.routers, vec![e.router], "{text}");
    assert_eq!(lease.server_id, Some(e.server), "{text}");
    assert_eq!(lease.dns_servers, e.dns_servers, "{text}");
    assert_eq!(lease.ntp_servers, e.ntp_servers, "{text}");
    assert_eq!(lease.domain_search, e.domain_search, "{text}");
    assert_eq!(
        lease.domain_name.as_deref(),
        Some(e.domain_name.as_str()),
        "{text}"
    );
    assert_eq!(
        lease.tz_name.as_deref(),
        Some(e.tz_database_name.as_str()),
        "{text}"
    );
    assert_eq!(
        lease.lease_time,
        Some(Duration::from_secs(u64::from(e.lease_secs))),
        "{text}"
    );
    eprintln!("networkd lease file:\n{text}");
}

/// The lease file of a real ISC dhclient (4.4) that got its lease from the
/// lab server, read with `sources::read_dhclient`.
#[test]
fn dhclient_lease_file_from_a_real_dhclient() {
    if std::process::Command::new("dhclient")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("SKIPPED: dhclient is not installed (apt-get install isc-dhcp-client)");
        return;
    }
    let Some(lab) = or_skip(DhcpLab::start(DhcpServer::Dnsmasq)) else {
        return;
    };
    let ifname = lab.client_ifname().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let (conf, leases, pid) = (
        dir.path().join("dhclient.conf"),
        dir.path().join("dhclient.leases"),
        dir.path().join("dhclient.pid"),
    );
    std::fs::write(
        &conf,
        "option pcode code 100 = text;\noption tcode code 101 = text;\n\
         request subnet-mask, broadcast-address, time-offset, routers, domain-name, \
         domain-name-servers, domain-search, host-name, ntp-servers, pcode, tcode, \
         dhcp-lease-time, dhcp-renewal-time, dhcp-rebinding-time;\n",
    )
    .unwrap();
    let status = lab
        .client_command("dhclient")
        .args(["-4", "-1", "-sf", "/bin/true", "-cf"])
        .arg(&conf)
        .arg("-lf")
        .arg(&leases)
        .arg("-pf")
        .arg(&pid)
        .arg(&ifname)
        .output()
        .unwrap();
    // dhclient went to the background after binding: stop it.
    if let Ok(p) = std::fs::read_to_string(&pid) {
        let _ = std::process::Command::new("kill").arg(p.trim()).status();
    }
    assert!(status.status.success(), "dhclient: {status:?}");
    let text = std::fs::read_to_string(&leases).unwrap();
    let lease = annexr_dhcp::read_dhclient(&leases, Some(&ifname)).unwrap();
    let e = lab.expected();
    assert_eq!(lease.source, annexr_dhcp::LeaseSource::Dhclient);
    assert!(
        (u32::from(e.pool_start)..=u32::from(e.pool_end)).contains(&u32::from(lease.address)),
        "{text}"
    );
    assert_eq!(lease.subnet_mask, Some(e.netmask), "{text}");
    assert_eq!(lease.routers, vec![e.router], "{text}");
    assert_eq!(lease.server_id, Some(e.server), "{text}");
    assert_eq!(lease.dns_servers, e.dns_servers, "{text}");
    assert_eq!(lease.ntp_servers, e.ntp_servers, "{text}");
    assert_eq!(lease.domain_search, e.domain_search, "{text}");
    assert_eq!(lease.time_offset, Some(e.time_offset), "{text}");
    assert_eq!(
        lease.posix_tz.as_deref(),
        Some(e.posix_tz.as_str()),
        "{text}"
    );
    assert_eq!(
        lease.tz_name.as_deref(),
        Some(e.tz_database_name.as_str()),
        "{text}"
    );
    assert_eq!(
        lease.lease_time,
        Some(Duration::from_secs(u64::from(e.lease_secs))),
        "{text}"
    );
    assert!(lease.malformed.is_empty(), "{:?}\n{text}", lease.malformed);
    eprintln!("dhclient lease file:\n{text}");
}

/// DHCPINFORM that nobody answers (the address is on no subnet of the
/// server) stops after the configured number of attempts instead of
/// looping (dhcpcd#47); through the blocking facade.
#[test]
fn inform_unanswered_gives_up_after_bounded_attempts() {
    let Some(lab) = or_skip(DhcpLab::start(DhcpServer::Kea)) else {
        return;
    };
    let ifname = lab.client_ifname().to_owned();
    let off_subnet = Ipv4Addr::new(192, 0, 2, 77);
    let started = std::time::Instant::now();
    let result = lab
        .in_client_ns(|| {
            let mut cfg = config(&ifname);
            cfg.inform_attempts = 2;
            annexr_dhcp::blocking::Driver::new(
                &ifname,
                Client::inform(cfg, off_subnet),
                ReportOnly::default(),
            )?
            .informed(Duration::from_secs(60))
        })
        .unwrap();
    let took = started.elapsed();
    match result {
        Err(Error::InformUnanswered {
            address, attempts, ..
        }) => {
            assert_eq!((address, attempts), (off_subnet, 2));
        }
        other => panic!("expected InformUnanswered, got {other:?}"),
    }
    // Two attempts, then the typed error (not the 60 s outer timeout):
    // the attempt count above says so without timing the test.
    eprintln!("gave up after {took:?}");
}

/// A busy link: hundreds of packets reach port 68 while the client is
/// BOUND (other hosts' replies, here sent from the server's side). The
/// driver's statistics count them but keep only the last 32.
#[test]
fn dhcp_stats_stay_bounded() {
    const FLOOD: usize = 300;
    const BATCH: usize = 50;
    let Some(lab) = or_skip(DhcpLab::start(DhcpServer::Dnsmasq)) else {
        return;
    };
    let ifname = lab.client_ifname().to_owned();
    let foreign = include_bytes!("../src/fixtures/kea-ack.bin");
    let stats = lab
        .in_client_ns(|| {
            rt().block_on(async {
                let mut d =
                    Driver::new(&ifname, Client::new(config(&ifname)), IpCommand::default())
                        .unwrap();
                d.bound(Duration::from_secs(30)).await.unwrap();
                // In batches that fit the socket's receive buffer.
                for _ in 0..FLOOD / BATCH {
                    let before = d.stats.received;
                    lab.in_server_ns(|| {
                        let socket = std::net::UdpSocket::bind((lab.expected().server, 0)).unwrap();
                        // Broadcast, as other clients' replies arrive.
                        socket.set_broadcast(true).unwrap();
                        for _ in 0..BATCH {
                            socket.send_to(foreign, ("10.231.0.255", 68)).unwrap();
                        }
                    })
                    .unwrap();
                    while d.stats.received < before + BATCH as u64 {
                        let step = tokio::time::timeout(Duration::from_secs(10), d.step()).await;
                        assert!(
                            step.is_ok(),
                            "received {} of {BATCH}",
                            d.stats.received - before
                        );
                    }
                }
                d.release().await.unwrap()
            })
        })
        .unwrap();
    assert_eq!(stats.ignored.len(), annexr_dhcp::RECENT, "{stats:?}");
    assert!(
        stats.ignored.total() >= FLOOD as u64,
        "{}",
        stats.ignored.total()
    );
    assert!(
        stats
            .ignored_by_kind
            .get("not-waiting")
            .copied()
            .unwrap_or(0)
            >= FLOOD as u64,
        "{:?}",
        stats.ignored_by_kind
    );
    assert!(stats.ignored.iter().all(|i| *i == Ignored::NotWaiting));
    assert!(stats.sent.len() <= annexr_dhcp::RECENT);
    assert_eq!(stats.sent_by_kind.get("RELEASE"), Some(&1));
}

/// The OS's DHCP client (client id 01:MAC) and annexr (its own RFC 4361
/// id) hold separate bindings on one interface. annexr's shutdown releases
/// its own binding only; a client acting under the OS's identity never
/// sends DHCPRELEASE.
#[test]
fn release_only_own_lease() {
    let Some(lab) = or_skip(DhcpLab::start(DhcpServer::Dnsmasq)) else {
        return;
    };
    let ifname = lab.client_ifname().to_owned();
    let (os_lease, own_lease, os_stats, own_stats) = lab
        .in_client_ns(|| {
            rt().block_on(async {
                let mac = mac_of(&ifname);
                let os_like =
                    ClientConfig::new(mac).client_id(annexr_dhcp::hardware_client_id(mac));
                let mut os =
                    Driver::new(&ifname, Client::new(os_like), ReportOnly::default()).unwrap();
                let os_lease = os.bound(Duration::from_secs(30)).await.unwrap();
                let os_stats = os.release().await.unwrap();
                // Configured, so that the RELEASE goes unicast as RFC 2131 says.
                let mut own =
                    Driver::new(&ifname, Client::new(config(&ifname)), IpCommand::default())
                        .unwrap();
                let own_lease = own.bound(Duration::from_secs(30)).await.unwrap();
                let own_stats = own.release().await.unwrap();
                (os_lease, own_lease, os_stats, own_stats)
            })
        })
        .unwrap();
    assert_ne!(
        os_lease.address, own_lease.address,
        "two client ids, two bindings"
    );
    assert_eq!(os_stats.sent_by_kind.get("RELEASE"), None, "{os_stats:?}");
    assert_eq!(own_stats.sent_by_kind.get("RELEASE"), Some(&1));
    // dnsmasq rewrites its lease file in place a moment after the RELEASE:
    // a read may see it half written, so wait for a complete one.
    let mut leases = lab.leases();
    for _ in 0..50 {
        if !leases.contains(&format!(" {} ", own_lease.address))
            && leases.contains(&format!(" {} ", os_lease.address))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        leases = lab.leases();
    }
    let log = lab.server_log();
    assert!(
        leases.contains(&format!(" {} ", os_lease.address)),
        "the OS client's binding must survive: {leases}"
    );
    assert!(
        !leases.contains(&format!(" {} ", own_lease.address)),
        "annexr's binding is released: {leases}\n{log}"
    );
    assert_eq!(log.matches("DHCPRELEASE").count(), 1, "{log}");
}
