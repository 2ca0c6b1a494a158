//! A PACS's use of the C ABI against the lab's sample site: lookups and
//! probes without running the startup first (the servers come from DNS SRV
//! as the startup would find them), the connection reused, and LDAP
//! failures reported with the server and the cause.
// Calling an FFI from Rust the way C does takes raw pointers and unsafe calls.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::ffi::{CStr, CString, c_char};
use std::ptr;

use annexr_ffi::*;
use annexr_lab::{SITE_DOMAIN, SampleSite, or_skip};
use serde_json::Value;

fn config(site: &SampleSite, password: &str) -> String {
    format!(
        "[network]\nmode = \"static\"\ndns_servers = [\"{}\"]\ndomain = \"{SITE_DOMAIN}\"\n\
         [ldap]\nbind_dn = \"{}\"\npassword = \"{password}\"\nca_file = \"{}\"\ntimeout_ms = 5000\n",
        site.dns_addr(),
        site.slapd.device_dn(),
        site.slapd.ca_cert_path().unwrap().display(),
    )
}

fn new_startup(toml: &str) -> *mut AnnexrStartup {
    let toml = CString::new(toml).unwrap();
    let mut out = ptr::null_mut();
    // SAFETY: valid string and out pointer.
    assert_eq!(
        unsafe { annexr_startup_new_from_toml(toml.as_ptr(), &mut out) },
        AnnexrStatus::Ok
    );
    out
}

fn last_error() -> String {
    let message = annexr_last_error_message();
    assert!(!message.is_null());
    // SAFETY: a NUL-terminated string of the library.
    let text = unsafe { CStr::from_ptr(message) }
        .to_str()
        .unwrap()
        .to_string();
    // SAFETY: returned by the library, freed once.
    unsafe { annexr_string_free(message) };
    text
}

/// Calls `f` with an out pointer; the JSON it hands back, or the status.
fn json(f: impl FnOnce(*mut *mut c_char) -> AnnexrStatus) -> Result<Value, AnnexrStatus> {
    let mut out = ptr::null_mut();
    match f(&mut out) {
        AnnexrStatus::Ok => {
            // SAFETY: a NUL-terminated string of the library.
            let text = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_string();
            // SAFETY: returned by the library, freed once.
            unsafe { annexr_string_free(out) };
            Ok(serde_json::from_str(&text).unwrap())
        }
        status => {
            assert!(out.is_null());
            Err(status)
        }
    }
}

#[test]
fn a_pacs_resolves_finds_and_probes_without_a_startup_run() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let startup = new_startup(&config(&site, site.slapd.device_password()));
    let printer_port = site.printer.addr().port();

    // SAFETY: live handle, valid strings and out pointer (in every call below).
    let first =
        json(|out| unsafe { annexr_resolve_ae(startup, c"PRINTER".as_ptr(), out) }).unwrap();
    assert_eq!(first["device_name"], "PRINTER-1");
    assert_eq!(first["device_types"], serde_json::json!(["PRINT"]));
    assert_eq!(first["host"], "127.0.0.1");
    assert_eq!(first["port"], printer_port);
    assert_eq!(first["tls"], false);
    assert_eq!(first["installed"], true);
    // The connection is kept: the second lookup needs no connect or bind.
    let second =
        json(|out| unsafe { annexr_resolve_ae(startup, c"ARCHIVE".as_ptr(), out) }).unwrap();
    assert_eq!(second["port"], site.archive.addr().port());
    assert!(
        second["round_trips"].as_u64().unwrap() < first["round_trips"].as_u64().unwrap(),
        "{} then {}",
        first["round_trips"],
        second["round_trips"]
    );

    let found =
        json(|out| unsafe { annexr_find_aes_by_device_type(startup, c"PRINT".as_ptr(), 1, out) })
            .unwrap();
    assert_eq!(found["aes"].as_array().unwrap().len(), 1, "{found:#}");
    assert_eq!(found["aes"][0]["ae_title"], "PRINTER");
    let none = json(|out| unsafe {
        annexr_find_aes_by_device_type(startup, c"NO-SUCH-TYPE".as_ptr(), 0, out)
    })
    .unwrap();
    assert_eq!(none["aes"], serde_json::json!([]));

    // No device configured here: the calling AE is the library's default.
    let probe =
        json(|out| unsafe { annexr_probe_ae(startup, c"PRINTER".as_ptr(), ptr::null(), out) })
            .unwrap();
    assert_eq!(probe["verdict"]["verdict"], "all_good", "{probe:#}");
    assert_eq!(probe["target"]["port"], printer_port);
    assert_eq!(probe["target"]["calling_ae"], "ANNEXR");

    let title = CString::new("UNKNOWN").unwrap();
    let missing = json(|out| unsafe { annexr_resolve_ae(startup, title.as_ptr(), out) });
    assert_eq!(missing, Err(AnnexrStatus::NotFound));
    assert!(last_error().contains("\"UNKNOWN\" is not in the DICOM configuration"));

    // SAFETY: live handle, freed once.
    unsafe { annexr_startup_free(startup) };
}

#[test]
fn a_refused_bind_is_an_ldap_error_naming_the_server() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let startup = new_startup(&config(&site, "wrong password"));
    // SAFETY: live handle, valid string and out pointer.
    let result = json(|out| unsafe { annexr_resolve_ae(startup, c"PRINTER".as_ptr(), out) });
    assert_eq!(result, Err(AnnexrStatus::Ldap));
    let message = last_error();
    assert!(message.starts_with("annexr_resolve_ae: "), "{message}");
    // The SRV target by name (StartTLS verifies it).
    let server = format!("ldap://{}:{}", annexr_lab::LDAP_HOST, site.slapd.port());
    assert!(message.contains(&server), "{message}");
    assert!(message.contains("invalidCredentials (49)"), "{message}");
    assert!(!message.contains("wrong password"), "{message}");
    // SAFETY: live handle, freed once.
    unsafe { annexr_startup_free(startup) };
}

#[test]
fn shutdown_with_set_offline_marks_the_device_not_installed_in_ldap() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let toml = format!(
        "[device]\nname = \"CT-SCANNER-1\"\n[time]\nenabled = false\n{}",
        config(&site, site.slapd.device_password())
    );
    let device = new_startup(&toml);
    let mut configured = 0;
    // SAFETY: live handle, valid out pointer.
    let status = unsafe { annexr_startup_run(device, &mut configured) };
    assert_eq!(status, AnnexrStatus::Ok);
    assert_eq!(configured, 1);

    let pacs = new_startup(&config(&site, site.slapd.device_password()));
    // SAFETY: live handle, valid string and out pointer (in every call below).
    let before = json(|out| unsafe { annexr_resolve_ae(pacs, c"CT1".as_ptr(), out) }).unwrap();
    assert_eq!(before["installed"], true);

    let report = json(|out| unsafe { annexr_startup_shutdown(device, 1, out) }).unwrap();
    assert_eq!(report["marked_offline"], true, "{report:#}");
    assert_eq!(report["problems"], serde_json::json!([]), "{report:#}");
    // After shutdown the report is still there, lookups are not.
    let startup_report = json(|out| unsafe { annexr_startup_report_json(device, out) }).unwrap();
    assert_eq!(startup_report["configuration_source"], "ldap");
    assert_eq!(
        json(|out| unsafe { annexr_resolve_ae(device, c"CT1".as_ptr(), out) }),
        Err(AnnexrStatus::State)
    );

    // The PACS sees the modality offline (R.5.2) in the directory itself.
    let entry = site
        .slapd
        .ldapsearch(&site.slapd.devices_dn(), "(dicomDeviceName=CT-SCANNER-1)")
        .unwrap();
    assert!(entry.contains("dicomInstalled: FALSE"), "{entry}");
    let after = json(|out| unsafe { annexr_resolve_ae(pacs, c"CT1".as_ptr(), out) }).unwrap();
    assert_eq!(after["installed"], false, "{after:#}");

    // SAFETY: live handles, each freed once.
    unsafe {
        annexr_startup_free(device);
        annexr_startup_free(pacs);
    }
}

/// Issue 14 point 5 through the C ABI: an AE whose device the site marked
/// not installed resolves with no callable address and the reason, and is
/// never probed; device types match in any case.
#[test]
fn an_offline_ae_gets_no_callable_address_and_is_not_probed() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    site.slapd
        .ldapmodify(&format!(
            "dn: dicomDeviceName=PRINTER-1,{}\nchangetype: modify\nreplace: dicomInstalled\ndicomInstalled: FALSE\n",
            site.slapd.devices_dn()
        ))
        .unwrap();
    let startup = new_startup(&config(&site, site.slapd.device_password()));
    // SAFETY: live handle, valid strings and out pointer (in every call below).
    let printer =
        json(|out| unsafe { annexr_resolve_ae(startup, c"PRINTER".as_ptr(), out) }).unwrap();
    assert_eq!(printer["installed"], false, "{printer:#}");
    assert_eq!(printer["host"], Value::Null, "{printer:#}");
    assert_eq!(printer["port"], Value::Null, "{printer:#}");
    assert_eq!(
        printer["not_callable"],
        "PRINTER is not installed (dicomInstalled FALSE)"
    );
    let probe =
        json(|out| unsafe { annexr_probe_ae(startup, c"PRINTER".as_ptr(), ptr::null(), out) });
    assert_eq!(probe, Err(AnnexrStatus::NotFound));
    let message = last_error();
    assert!(
        message.contains("PRINTER is not installed (dicomInstalled FALSE); not called"),
        "{message}"
    );
    let archive =
        json(|out| unsafe { annexr_find_aes_by_device_type(startup, c"archive".as_ptr(), 1, out) })
            .unwrap();
    assert_eq!(archive["aes"][0]["ae_title"], "ARCHIVE", "{archive:#}");
    let none =
        json(|out| unsafe { annexr_find_aes_by_device_type(startup, c"scanner".as_ptr(), 0, out) })
            .unwrap();
    assert_eq!(none["aes"], serde_json::json!([]));
    let terms = none["device_types_on_site"].as_array().unwrap();
    assert!(terms.iter().any(|t| t == "ARCHIVE"), "{none:#}");
    // SAFETY: live handle, freed once.
    unsafe { annexr_startup_free(startup) };
}
