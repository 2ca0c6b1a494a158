//! The `annexr` tool against the lab's sample site, as a field engineer runs it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::process::{Command, Output};

use annexr_lab::{SampleSite, Slapd, or_skip};

fn annexr(site: &SampleSite, args: &[&str]) -> Output {
    support::annexr_at(site, 2000, args)
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

/// A device entry (with AE and Verification SCP) added by the admin without
/// a registry entry, as pre-configured trees often are.
fn add_unregistered_device(site: &SampleSite, name: &str, title: &str, port: u16, installed: bool) {
    let devices = site.slapd.devices_dn();
    let device_dn = format!("dicomDeviceName={name},{devices}");
    let flag = if installed { "TRUE" } else { "FALSE" };
    site.slapd
        .ldapadd(&format!(
            "dn: {device_dn}\nobjectClass: dicomDevice\ndicomDeviceName: {name}\n\
             dicomPrimaryDeviceType: CT\ndicomInstalled: {flag}\n\n\
             dn: cn=dicom,{device_dn}\nobjectClass: dicomNetworkConnection\ncn: dicom\n\
             dicomHostname: 127.0.0.1\ndicomPort: {port}\n\n\
             dn: dicomAETitle={title},{device_dn}\nobjectClass: dicomNetworkAE\ndicomAETitle: {title}\n\
             dicomNetworkConnectionReference: cn=dicom,{device_dn}\n\
             dicomAssociationInitiator: TRUE\ndicomAssociationAcceptor: TRUE\n\n\
             dn: cn=Verification SCP,dicomAETitle={title},{device_dn}\nobjectClass: dicomTransferCapability\n\
             cn: Verification SCP\ndicomSOPClass: 1.2.840.10008.1.1\ndicomTransferRole: SCP\n\
             dicomTransferSyntax: 1.2.840.10008.1.2\n"
        ))
        .unwrap();
}

/// Issue 14 point 5 with the tool: an AE marked not installed is not called
/// (unless --include-offline), device types in any case with a hint, and
/// search by SOP class.
#[test]
fn probe_skips_offline_aes_and_find_by_type_any_case_or_sop_class() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    add_unregistered_device(
        &site,
        "CT-SPARE",
        "CT_SPARE",
        site.archive.addr().port(),
        false,
    );

    let out = annexr(&site, &["probe", "CT_SPARE"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("CT_SPARE is not installed (dicomInstalled FALSE); not called"),
        "{stderr}"
    );
    assert!(stderr.contains("--include-offline"), "{stderr}");
    let forced = annexr(
        &site,
        &[
            "--json",
            "probe",
            "CT_SPARE",
            "--include-offline",
            "--calling",
            "CT1",
        ],
    );
    let forced = json(&forced);
    assert_eq!(forced["summary"]["peers"], 1, "{forced}");
    assert_eq!(forced["not_called"].as_array().unwrap().len(), 0);

    // Entries read by object class: a connection named by another RDN.
    let devices = site.slapd.devices_dn();
    let us = format!("dicomDeviceName=US-1,{devices}");
    site.slapd
        .ldapadd(&format!(
            "dn: {us}\nobjectClass: dicomDevice\ndicomDeviceName: US-1\ndicomInstalled: TRUE\n\
             dicomPrimaryDeviceType: US\n\n\
             dn: dicomHostname=127.0.0.1,{us}\nobjectClass: dicomNetworkConnection\n\
             dicomHostname: 127.0.0.1\ndicomPort: 11115\n\n\
             dn: dicomAETitle=US1,{us}\nobjectClass: dicomNetworkAE\ndicomAETitle: US1\n\
             dicomNetworkConnectionReference: dicomHostname=127.0.0.1,{us}\n\
             dicomAssociationInitiator: TRUE\ndicomAssociationAcceptor: TRUE\n"
        ))
        .unwrap();
    let us1 = annexr(&site, &["resolve", "US1"]);
    assert!(stdout(&us1).contains("127.0.0.1:11115"), "{}", stdout(&us1));

    let resolved = annexr(&site, &["resolve", "CT_SPARE"]);
    assert!(
        stdout(&resolved).contains("not callable: CT_SPARE is not installed"),
        "{}",
        stdout(&resolved)
    );

    let found = json(&annexr(&site, &["--json", "find", "--type", "archive"]));
    assert_eq!(found["aes"][0]["ae_title"], "ARCHIVE", "{found}");
    let none = annexr(&site, &["find", "--type", "scanner"]);
    assert_eq!(none.status.code(), Some(4));
    let hint = stdout(&none);
    assert!(
        hint.contains("device types on this site:") && hint.contains("ARCHIVE"),
        "{hint}"
    );

    let by_sop = json(&annexr(
        &site,
        &[
            "--json",
            "find",
            "--sop-class",
            "1.2.840.10008.1.1",
            "--role",
            "SCP",
        ],
    ));
    let titles: Vec<&str> = by_sop["aes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["ae_title"].as_str().unwrap())
        .collect();
    assert!(
        titles.contains(&"ARCHIVE") && titles.contains(&"PRINTER"),
        "{titles:?}"
    );
    // Installed only by default: the spare is left out; --all includes it.
    assert!(!titles.contains(&"CT_SPARE"), "{titles:?}");
    let all = json(&annexr(
        &site,
        &[
            "--json",
            "find",
            "--sop-class",
            "1.2.840.10008.1.1",
            "--all",
        ],
    ));
    assert!(
        all["aes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["ae_title"] == "CT_SPARE"),
        "{all}"
    );
    // The same title on a second device (no registry check in ldapadd):
    // find says so, resolve refuses to pick one.
    add_unregistered_device(&site, "CT-TWIN", "CT_SPARE", 11114, false);
    let twins = annexr(&site, &["find", "--type", "ct", "--all"]);
    let text = stdout(&twins);
    assert!(
        text.contains("warning: AE title CT_SPARE is used by several AEs"),
        "{text}"
    );
    let resolved = annexr(&site, &["resolve", "CT_SPARE"]);
    assert_eq!(resolved.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&resolved.stderr);
    assert!(stderr.contains("is used by 2 AEs"), "{stderr}");
    let none = annexr(
        &site,
        &["find", "--sop-class", "1.2.840.10008.1.1", "--role", "SCU"],
    );
    assert_eq!(none.status.code(), Some(4), "{}", stdout(&none));
}

/// Issue 14 point 2 with the tool: a title an AE uses without a registry
/// entry is in use for check-titles and register-title; `registry sync`
/// lists it (dry run), then adds it with --apply.
#[test]
fn titles_in_use_without_registry_entry_and_registry_sync() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    add_unregistered_device(&site, "PRE-1", "PRECONF", 104, true);

    let checked = annexr(&site, &["check-titles", "PRECONF", "FREE9"]);
    let text = stdout(&checked);
    assert!(
        text.contains("PRECONF") && text.contains("without a registry entry"),
        "{text}"
    );
    assert!(text.contains("FREE9            free"), "{text}");
    let registered = annexr(&site, &["register-title", "PRECONF"]);
    assert_eq!(registered.status.code(), Some(1));
    assert!(stdout(&registered).contains("taken"));

    let dry = annexr(&site, &["registry", "sync"]);
    assert_eq!(dry.status.code(), Some(0));
    assert!(
        stdout(&dry).contains("PRECONF") && stdout(&dry).contains("dry run"),
        "{}",
        stdout(&dry)
    );
    let still = site
        .slapd
        .ldapsearch(&site.slapd.registry_dn(), "(dicomAETitle=PRECONF)")
        .unwrap();
    assert!(still.trim().is_empty(), "a dry run wrote: {still}");
    let applied = annexr(&site, &["--json", "registry", "sync", "--apply"]);
    let applied = json(&applied);
    assert_eq!(applied["titles"][0]["ae_title"], "PRECONF");
    assert_eq!(applied["titles"][0]["result"], "added");
    let now = site
        .slapd
        .ldapsearch(&site.slapd.registry_dn(), "(dicomAETitle=PRECONF)")
        .unwrap();
    assert!(now.contains("dicomAETitle: PRECONF"), "{now}");
    let again = annexr(&site, &["registry", "sync"]);
    assert!(stdout(&again).contains("every AE title in use has its registry entry"));
}

fn write_local(dir: &std::path::Path, name: &str, title: &str, serial: &str) -> String {
    let mut device = annexr_model::Device::new(name)
        .with_device_type("MR")
        .with_connection(annexr_model::NetworkConnection::new(
            "dicom",
            "127.0.0.1",
            Some(11119),
        ))
        .with_ae(
            annexr_model::NetworkAe::new(annexr_model::AeTitle::new(title).unwrap())
                .with_connection("dicom")
                .roles(true, true)
                .with_transfer_capability(annexr_model::TransferCapability::verification(
                    annexr_model::TransferRole::Scp,
                )),
        );
    device.device_serial_number = Some(serial.into());
    let path = dir.join(format!("{name}-{serial}.json"));
    std::fs::write(&path, annexr_model::device_to_json(&device)).unwrap();
    path.display().to_string()
}

/// Issue 14 points 1, 3 and 4 with the tool: a taken title follows the
/// site's rule given on the command line, with a WARNING; a same-named
/// device with another serial number is not adopted (or installed under
/// the name given); a FALSE the site set survives a startup.
#[test]
fn install_with_a_title_rule_collisions_and_the_sites_installed_flag() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // CT1 belongs to the site's CT-SCANNER-1.
    let local = write_local(dir.path(), "MR-RULE", "CT1", "SN-1");
    let out = annexr(
        &site,
        &[
            "install",
            "--local",
            &local,
            "--title-prefix",
            "MR",
            "--title-digits",
            "3",
            "--check-digit",
        ],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("with AE title(s) MR0018"), "{text}");
    assert!(
        text.contains("WARNING")
            && text.contains("AE title CT1 is taken")
            && text.contains("tell the peers"),
        "{text}"
    );

    // Another unit named MR-RULE (serial SN-2): not adopted.
    let other = write_local(dir.path(), "MR-RULE", "MRB", "SN-2");
    let out = annexr(&site, &["install", "--local", &other]);
    let text = stdout(&out);
    assert_ne!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("name collision") && text.contains("SN-1"),
        "{text}"
    );
    let out = annexr(
        &site,
        &[
            "install",
            "--local",
            &other,
            "--install-as-on-collision",
            "MR-RULE-B",
        ],
    );
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("installed as MR-RULE-B"), "{text}");

    // The site takes MR-RULE offline; its next startup leaves it so.
    let off = annexr(&site, &["--device", "MR-RULE", "offline"]);
    assert_eq!(off.status.code(), Some(0));
    let started = annexr(
        &site,
        &["--device", "MR-RULE", "startup", "--local", &local],
    );
    let text = stdout(&started);
    assert!(text.contains("set by the site"), "{text}");
    let entry = site
        .slapd
        .ldapsearch(&site.slapd.devices_dn(), "(dicomDeviceName=MR-RULE)")
        .unwrap();
    assert!(entry.contains("dicomInstalled: FALSE"), "{entry}");
}

/// Issue 14 point 7 with the tool: `annexr install` against a replica that
/// lags behind its provider. The writes follow the referral; the read-back
/// does not see the device yet, and the install stands (nothing deleted).
#[test]
fn install_through_a_lagging_replica_stands() {
    let Some(pair) = or_skip(annexr_lab::SlapdPair::start_lagging("", 30)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let local = write_local(dir.path(), "MR-REPLICA", "MRREPL", "SN-R");
    // Writes follow the replica's referral to the provider, a server of the
    // configured set, when the settings allow it; TLS is verified against
    // both servers' CAs.
    let mut bundle = String::new();
    for server in [&pair.consumer, &pair.provider] {
        bundle.push_str(&std::fs::read_to_string(server.ca_cert_path().unwrap()).unwrap());
    }
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, bundle).unwrap();
    let settings = dir.path().join("annexr.toml");
    std::fs::write(
        &settings,
        format!(
            "[ldap]\nurls = [\"{}\", \"{}\"]\nbind_dn = \"{}\"\nca_file = \"{}\"\n\
             follow_referrals = true\ntimeout_ms = 3000\n",
            pair.consumer.url(),
            pair.provider.url(),
            pair.consumer.device_dn(),
            ca.display(),
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_annexr"))
        .arg("--config")
        .arg(&settings)
        .arg("--password")
        .arg(pair.consumer.device_password())
        .args(["install", "--local", &local])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("installed as MR-REPLICA with AE title(s) MRREPL"),
        "{text}"
    );
    let on_provider = pair
        .provider
        .ldapsearch(&pair.provider.devices_dn(), "(dicomAETitle=MRREPL)")
        .unwrap();
    assert!(
        on_provider.contains("dicomAETitle: MRREPL"),
        "{on_provider}"
    );
}

/// Issue 16 point 6: a command acting on one device takes it positionally
/// or with --device; human output is words, never a Rust Debug form; an
/// error names its subject once; `find` prints an aligned table with every
/// connection of an AE.
#[test]
fn one_tool_device_argument_plain_words_and_the_find_table() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let printer_entry = || {
        site.slapd
            .ldapsearch(&site.slapd.devices_dn(), "(dicomDeviceName=PRINTER-1)")
            .unwrap()
    };
    let ok = |out: &Output| {
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}{}",
            stdout(out),
            String::from_utf8_lossy(&out.stderr)
        );
        let text = stdout(out);
        assert!(!text.contains("Device(") && !text.contains(" {"), "{text}");
        text
    };

    // online / offline: the device positionally or with --device.
    let text = ok(&annexr(&site, &["offline", "PRINTER-1", "--ae", "PRINTER"]));
    assert_eq!(
        text.trim_end(),
        "AE PRINTER of device PRINTER-1: offline (dicomInstalled FALSE)"
    );
    let on = json(&annexr(
        &site,
        &[
            "--json",
            "online",
            "--device",
            "PRINTER-1",
            "--ae",
            "PRINTER",
        ],
    ));
    assert_eq!(on["device"], "PRINTER-1");
    assert_eq!(on["ae_title"], "PRINTER");
    assert_eq!(on["installed"], true);
    let text = ok(&annexr(&site, &["offline", "PRINTER-1"]));
    assert_eq!(
        text.trim_end(),
        "device PRINTER-1: offline (dicomInstalled FALSE)"
    );
    assert!(printer_entry().contains("dicomInstalled: FALSE"));
    ok(&annexr(&site, &["online", "--device", "PRINTER-1"]));
    assert!(printer_entry().contains("dicomInstalled: TRUE"));

    // The startup report in words: sources and outcomes, no Debug forms.
    let started = annexr(&site, &["startup", "ARCHIVE-1", "--no-install"]);
    let text = stdout(&started);
    assert!(text.contains("configuration from: LDAP"), "{text}");
    for debug in [
        "(Dhcp)",
        "(OsLease)",
        "(Static)",
        "(Cached)",
        "(Ldap)",
        "(Dns)",
        "(Ntp)",
        "(LocalClock)",
        "(Local)",
        "class Ordinary",
        "NotNeeded",
    ] {
        assert!(!text.contains(debug), "{debug} in {text}");
    }

    // export-ldif and shutdown: both ways.
    let positional = ok(&annexr(&site, &["export-ldif", "ARCHIVE-1"]));
    let flagged = ok(&annexr(&site, &["export-ldif", "--device", "ARCHIVE-1"]));
    assert!(
        positional.contains("dicomDeviceName=ARCHIVE-1"),
        "{positional}"
    );
    assert_eq!(positional, flagged);
    let text = ok(&annexr(&site, &["shutdown", "PRINTER-1"]));
    assert!(text.starts_with("PRINTER-1: nothing to do"), "{text}");

    // install: a name other than the description's is refused, not
    // silently replaced by it.
    let dir = tempfile::tempdir().unwrap();
    let local = write_local(dir.path(), "MR-NAMED", "MRN", "SN-9");
    let out = annexr(&site, &["install", "OTHER-NAME", "--local", &local]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("device OTHER-NAME was named") && stderr.contains("device MR-NAMED"),
        "{stderr}"
    );
    let there = site
        .slapd
        .ldapsearch(&site.slapd.devices_dn(), "(dicomDeviceName=MR-NAMED)")
        .unwrap();
    assert!(!there.contains("dicomDeviceName: MR-NAMED"), "{there}");

    // An error names its subject once.
    for args in [
        &["resolve", "A\\B"][..],
        &["offline", "PRINTER-1", "--ae", "A\\B"][..],
    ] {
        let out = annexr(&site, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert_eq!(stderr.matches("AE title").count(), 1, "{stderr}");
        assert_eq!(stderr.matches("A\\\\B").count(), 1, "{stderr}");
    }

    // find: one row per connection, columns aligned.
    let devices = site.slapd.devices_dn();
    let multi = format!("dicomDeviceName=MULTI-1,{devices}");
    site.slapd
        .ldapadd(&format!(
            "dn: {multi}\nobjectClass: dicomDevice\ndicomDeviceName: MULTI-1\ndicomInstalled: TRUE\n\
             dicomPrimaryDeviceType: MULTI\n\n\
             dn: cn=dicom,{multi}\nobjectClass: dicomNetworkConnection\ncn: dicom\n\
             dicomHostname: 127.0.0.1\ndicomPort: 11130\n\n\
             dn: cn=dicom-tls,{multi}\nobjectClass: dicomNetworkConnection\ncn: dicom-tls\n\
             dicomHostname: multi.hospital.example\ndicomPort: 2762\n\
             dicomTLSCipherSuite: TLS_RSA_WITH_AES_128_CBC_SHA\n\n\
             dn: dicomAETitle=MULTI,{multi}\nobjectClass: dicomNetworkAE\ndicomAETitle: MULTI\n\
             dicomNetworkConnectionReference: cn=dicom,{multi}\n\
             dicomNetworkConnectionReference: cn=dicom-tls,{multi}\n\
             dicomAssociationInitiator: TRUE\ndicomAssociationAcceptor: TRUE\n"
        ))
        .unwrap();
    let text = ok(&annexr(&site, &["find", "--type", "multi"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    let header = lines[0];
    assert!(header.starts_with("AE TITLE"), "{text}");
    let column = |name: &str| header.find(name).unwrap();
    let (connection, host, port, tls) = (
        column("CONNECTION"),
        column("HOST"),
        column("PORT"),
        column("TLS"),
    );
    let mut rows: Vec<(&str, &str, &str, &str)> = lines[1..]
        .iter()
        .map(|row| {
            let cell = |at: usize| row[at..].split_whitespace().next().unwrap();
            (cell(connection), cell(host), cell(port), cell(tls))
        })
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        [
            ("dicom", "127.0.0.1", "11130", "no"),
            ("dicom-tls", "multi.hospital.example", "2762", "yes"),
        ],
        "{text}"
    );
    assert!(lines[1].starts_with("MULTI "), "{text}");
}
