//! The `annexr` tool against the lab's sample site, as a field engineer runs it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::process::{Command, Output};

use annexr_lab::{SITE_DOMAIN, SampleSite, Slapd, or_skip};

fn annexr(site: &SampleSite, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_annexr"))
        .args([
            "--dns",
            &site.dns_addr().to_string(),
            "--domain",
            SITE_DOMAIN,
        ])
        .args(["--bind-dn", &site.slapd.device_dn()])
        .env("ANNEXR_LDAP_PASSWORD", site.slapd.device_password())
        // The password goes over StartTLS, verified against the lab CA.
        .arg("--ca-file")
        .arg(site.slapd.ca_cert_path().unwrap())
        .args(["--timeout-ms", "2000"])
        .args(args)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            stdout(out),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
fn find_resolve_and_probe_through_dns_srv_and_ldap() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let found = annexr(&site, &["--json", "find", "--type", "ARCHIVE"]);
    assert_eq!(
        found.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&found.stderr)
    );
    let found = json(&found);
    assert_eq!(found["aes"][0]["ae_title"], "ARCHIVE");
    assert_eq!(
        found["aes"][0]["connections"][0]["port"],
        site.archive.addr().port()
    );

    let resolved = annexr(&site, &["resolve", "PRINTER"]);
    assert_eq!(resolved.status.code(), Some(0));
    assert!(stdout(&resolved).contains(&format!("127.0.0.1:{}", site.printer.addr().port())));

    // Unknown and hostile titles are "not found", never a crash or a wider search.
    for title in ["NOSUCH", "*)(objectClass=*", "A\\B"] {
        let out = annexr(&site, &["resolve", title]);
        let expected = if title.contains('\\') { 2 } else { 4 };
        assert_eq!(
            out.status.code(),
            Some(expected),
            "{title}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let probed = annexr(
        &site,
        &["--json", "probe", "ARCHIVE", "PRINTER", "--calling", "CT1"],
    );
    assert_eq!(probed.status.code(), Some(0), "{}", stdout(&probed));
    let probed = json(&probed);
    assert_eq!(probed["summary"]["all_good"], 2);
}

#[test]
fn titles_registry_export_and_import() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let checked = json(&annexr(&site, &["--json", "check-titles", "CT1", "FRESH1"]));
    assert_eq!(checked[0]["free"], false);
    assert_eq!(checked[1]["free"], true);
    assert_eq!(
        annexr(&site, &["register-title", "FRESH1"]).status.code(),
        Some(0)
    );
    let again = annexr(&site, &["register-title", "FRESH1"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stdout(&again).contains("taken"));

    let exported = annexr(&site, &["export-ldif", "ARCHIVE-1"]);
    assert_eq!(exported.status.code(), Some(0));
    let ldif = stdout(&exported);
    assert!(ldif.contains("dicomDeviceName=ARCHIVE-1"), "{ldif}");

    // Import into another directory: the device is installed there.
    let Some(other) = or_skip(Slapd::builder().suffix("dc=hospital,dc=example").start()) else {
        return;
    };
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &ldif).unwrap();
    let imported = Command::new(env!("CARGO_BIN_EXE_annexr"))
        .args([
            "--ldap",
            &other.url(),
            "--bind-dn",
            &other.device_dn(),
            "--password",
        ])
        .arg(other.device_password())
        .arg("--ca-file")
        .arg(other.ca_cert_path().unwrap())
        .arg("import-ldif")
        .arg(file.path())
        .output()
        .unwrap();
    assert_eq!(
        imported.status.code(),
        Some(0),
        "{}{}",
        stdout(&imported),
        String::from_utf8_lossy(&imported.stderr)
    );
    let there = other
        .ldapsearch(&other.devices_dn(), "(dicomDeviceName=ARCHIVE-1)")
        .unwrap();
    assert!(there.contains("dicomDeviceName: ARCHIVE-1"), "{there}");
}

#[test]
fn startup_online_offline_and_time() {
    let Some(site) = or_skip(SampleSite::start(2)) else {
        return;
    };
    let ntp = site.ntp.addr().to_string();
    let started = annexr(
        &site,
        &[
            "--json",
            "--ntp",
            &ntp,
            "--device",
            "CT-SCANNER-1",
            "startup",
        ],
    );
    assert_eq!(started.status.code(), Some(0), "{}", stdout(&started));
    assert_eq!(json(&started)["configuration_source"], "ldap");

    let off = annexr(&site, &["--device", "CT-SCANNER-1", "offline"]);
    assert_eq!(
        off.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&off.stderr)
    );
    let entry = site
        .slapd
        .ldapsearch(&site.slapd.devices_dn(), "(dicomDeviceName=CT-SCANNER-1)")
        .unwrap();
    assert!(entry.contains("dicomInstalled: FALSE"), "{entry}");
    // An offline AE is not found among installed ones.
    let found = json(&annexr(&site, &["--json", "find", "--type", "CT"]));
    assert_eq!(found["aes"].as_array().map(Vec::len), Some(0));
    assert_eq!(
        annexr(&site, &["--device", "CT-SCANNER-1", "online"])
            .status
            .code(),
        Some(0)
    );

    let time = annexr(&site, &["--json", "--ntp", &ntp, "time"]);
    let measured = json(&time);
    let offset = measured["offset_us"].as_i64().unwrap();
    assert!((offset - 2_000_000).abs() < 50_000, "{measured}");
    assert_eq!(
        time.status.code(),
        Some(1),
        "2 s off is outside the ordinary class"
    );
}

#[test]
fn usage_errors_exit_2_with_a_reason() {
    let out = Command::new(env!("CARGO_BIN_EXE_annexr"))
        .args(["--config", "/nonexistent/annexr.toml", "resolve", "X"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/annexr.toml"));
    let help = Command::new(env!("CARGO_BIN_EXE_annexr"))
        .arg("--help")
        .output()
        .unwrap();
    let help = stdout(&help);
    assert!(
        help.contains("EXIT CODES") && help.contains("export-ldif"),
        "{help}"
    );
}

#[test]
fn dhcp_command_reads_every_option_in_a_namespace() {
    let Some(lab) = or_skip(annexr_lab::DhcpLab::start(annexr_lab::DhcpServer::Kea)) else {
        return;
    };
    let out = lab
        .client_command(env!("CARGO_BIN_EXE_annexr"))
        .args(["--json", "dhcp", "--interface", lab.client_ifname()])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lease = json(&out);
    let e = lab.expected();
    assert_eq!(lease["ntp_servers"][0], e.ntp_servers[0].to_string());
    assert_eq!(lease["dns_servers"][0], e.dns_servers[0].to_string());
    assert_eq!(lease["domain_name"], e.domain_name);
    assert_eq!(lease["posix_tz"], e.posix_tz);
    assert_eq!(lease["tz_name"], e.tz_database_name);
    assert_eq!(lease["time_offset"], e.time_offset);
}

#[test]
fn shutdown_offline_marks_the_device_not_installed() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let out = annexr(&site, &["--device", "PRINTER-1", "shutdown", "--offline"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let entry = site
        .slapd
        .ldapsearch(&site.slapd.devices_dn(), "(dicomDeviceName=PRINTER-1)")
        .unwrap();
    assert!(entry.contains("dicomInstalled: FALSE"), "{entry}");
}
