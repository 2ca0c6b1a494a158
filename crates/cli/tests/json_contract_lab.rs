//! One JSON contract (docs/json.md): the tool's `--json resolve`/`find`
//! and the C ABI's `annexr_resolve_ae`/`annexr_find_aes_by_device_type`
//! give the same document for the same AE, against the lab's sample site.
// Calling the C ABI from Rust the way C does takes raw pointers and unsafe calls.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use std::ffi::{CStr, CString, c_char};
use std::process::Output;
use std::ptr;

use annexr_ffi::{
    AnnexrStartup, AnnexrStatus, annexr_find_aes_by_device_type, annexr_resolve_ae,
    annexr_startup_free, annexr_startup_new_from_toml, annexr_string_free,
};
use annexr_lab::{SITE_DOMAIN, SampleSite, or_skip};
use serde_json::Value;

/// The cost of a call: not part of the AE (a kept connection costs less).
const COST_KEYS: [&str; 3] = ["round_trips", "requests", "connects"];

fn annexr(site: &SampleSite, args: &[&str]) -> Output {
    support::annexr_at(site, 5000, args)
}

fn cli_json(out: &Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The same settings as [`annexr`]'s flags, as the C ABI takes them.
fn c_abi_session(site: &SampleSite) -> *mut AnnexrStartup {
    let toml = format!(
        "[network]\nmode = \"static\"\ndns_servers = [\"{}\"]\ndomain = \"{SITE_DOMAIN}\"\n\
         [ldap]\nbind_dn = \"{}\"\npassword = \"{}\"\nca_file = \"{}\"\ntimeout_ms = 5000\n",
        site.dns_addr(),
        site.slapd.device_dn(),
        site.slapd.device_password(),
        site.slapd.ca_cert_path().unwrap().display(),
    );
    let toml = CString::new(toml).unwrap();
    let mut out = ptr::null_mut();
    // SAFETY: a valid string and out pointer.
    let status = unsafe { annexr_startup_new_from_toml(toml.as_ptr(), &mut out) };
    assert_eq!(status, AnnexrStatus::Ok);
    out
}

/// Calls `f` with an out pointer; the JSON it hands back.
fn c_json(f: impl FnOnce(*mut *mut c_char) -> AnnexrStatus) -> Value {
    let mut out = ptr::null_mut();
    assert_eq!(f(&mut out), AnnexrStatus::Ok);
    // SAFETY: a NUL-terminated string of the library.
    let text = unsafe { CStr::from_ptr(out) }.to_str().unwrap().to_string();
    // SAFETY: returned by the library, freed once.
    unsafe { annexr_string_free(out) };
    serde_json::from_str(&text).unwrap()
}

/// The document without the cost, which both must carry.
fn without_cost(mut document: Value) -> Value {
    let map = document.as_object_mut().unwrap();
    for key in COST_KEYS {
        assert!(map.remove(key).is_some_and(|v| v.is_u64()), "{key} missing");
    }
    document
}

#[test]
fn the_tool_and_the_c_abi_give_the_same_document_for_an_ae() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    // An offline AE belongs in the contract too: null address, and why.
    let off = annexr(&site, &["offline", "PRINTER-1"]);
    assert_eq!(
        off.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&off.stderr)
    );
    let session = c_abi_session(&site);

    for title in ["ARCHIVE", "PRINTER"] {
        let from_tool = cli_json(&annexr(&site, &["--json", "resolve", title]));
        let c_title = CString::new(title).unwrap();
        // SAFETY: a live handle, a valid string and out pointer.
        let from_c = c_json(|out| unsafe { annexr_resolve_ae(session, c_title.as_ptr(), out) });
        assert_eq!(
            without_cost(from_tool),
            without_cost(from_c.clone()),
            "{title}"
        );
        assert_eq!(from_c["ae_title"], title);
    }

    // SAFETY: as above.
    let archive = c_json(|out| unsafe { annexr_resolve_ae(session, c"ARCHIVE".as_ptr(), out) });
    assert_eq!(archive["host"], "127.0.0.1");
    assert_eq!(archive["port"], site.archive.addr().port());
    assert_eq!(archive["tls"], false);
    assert_eq!(archive["not_callable"], Value::Null);
    assert_eq!(archive["device_name"], "ARCHIVE-1");
    // SAFETY: as above.
    let printer = c_json(|out| unsafe { annexr_resolve_ae(session, c"PRINTER".as_ptr(), out) });
    assert_eq!(printer["host"], Value::Null);
    assert_eq!(printer["port"], Value::Null);
    assert_eq!(printer["installed"], false);
    assert!(
        printer["not_callable"]
            .as_str()
            .unwrap()
            .contains("not installed"),
        "{printer:#}"
    );
    // The connection is still listed, with its port, marked not installed.
    assert_eq!(
        printer["connections"][0]["port"],
        site.printer.addr().port()
    );
    assert_eq!(printer["connections"][0]["installed"], false);

    // A search gives each AE as the same document, in both.
    let from_tool = cli_json(&annexr(
        &site,
        &["--json", "find", "--type", "print", "--all"],
    ));
    // SAFETY: as above; 0 includes AEs not installed, as --all does.
    let from_c =
        c_json(|out| unsafe { annexr_find_aes_by_device_type(session, c"print".as_ptr(), 0, out) });
    assert_eq!(from_tool["aes"], from_c["aes"]);
    assert_eq!(from_tool["aes"].as_array().unwrap().len(), 1);
    assert_eq!(from_tool["aes"][0], without_cost(printer));
    for key in ["skipped", "device_types_on_site", "device_type"] {
        assert_eq!(from_tool[key], from_c[key], "{key}");
    }

    // SAFETY: a live handle, freed once.
    unsafe { annexr_startup_free(session) };
}
