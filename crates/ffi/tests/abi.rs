//! The C ABI called the way C calls it: NULL and non-UTF-8 arguments,
//! errors and the thread-local message, the handle's state rules, the
//! progress callback (including calls back in from it), ownership of the
//! returned strings. No server is needed: the startup runs on static
//! settings with no LDAP, and probes go to a closed loopback port.
// Calling an FFI from Rust the way C does takes raw pointers and unsafe calls.
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::ffi::{CStr, CString, c_char, c_void};
use std::ptr;

use annexr_ffi::*;
use serde_json::Value;

const DEVICE_JSON: &str = include_str!("../../../examples/c/ct-scanner-1.json");

/// Static network, no DNS, no time: the startup ends at once on the local
/// description.
const OFFLINE_TOML: &str = "[device]\nname = \"CT-SCANNER-1\"\n[time]\nenabled = false\n";

fn last_error() -> Option<String> {
    let message = annexr_last_error_message();
    if message.is_null() {
        return None;
    }
    // SAFETY: a non-NULL result is a NUL-terminated string of the library.
    let text = unsafe { CStr::from_ptr(message) }
        .to_str()
        .unwrap()
        .to_string();
    // SAFETY: returned by the library, freed once.
    unsafe { annexr_string_free(message) };
    Some(text)
}

/// Takes a returned string: copies it and frees it with the library.
fn take(text: *mut c_char) -> String {
    assert!(!text.is_null());
    // SAFETY: a non-NULL result is a NUL-terminated string of the library.
    let copy = unsafe { CStr::from_ptr(text) }
        .to_str()
        .unwrap()
        .to_string();
    // SAFETY: returned by the library, freed once.
    unsafe { annexr_string_free(text) };
    copy
}

fn new_startup(toml: &str) -> *mut AnnexrStartup {
    let toml = CString::new(toml).unwrap();
    let mut out = ptr::null_mut();
    // SAFETY: valid string and out pointer.
    let status = unsafe { annexr_startup_new_from_toml(toml.as_ptr(), &mut out) };
    assert_eq!(status, AnnexrStatus::Ok, "{:?}", last_error());
    assert!(!out.is_null());
    out
}

fn set_device(startup: *mut AnnexrStartup, json: &str) -> AnnexrStatus {
    let json = CString::new(json).unwrap();
    // SAFETY: live handle, valid string.
    unsafe { annexr_startup_set_local_device(startup, json.as_ptr()) }
}

fn report(startup: *mut AnnexrStartup) -> Result<String, AnnexrStatus> {
    let mut out = ptr::null_mut();
    // SAFETY: live handle, valid out pointer.
    match unsafe { annexr_startup_report_json(startup, &mut out) } {
        AnnexrStatus::Ok => Ok(take(out)),
        status => {
            assert!(out.is_null(), "a failed call leaves NULL in *out");
            Err(status)
        }
    }
}

fn free(startup: *mut AnnexrStartup) {
    // SAFETY: live handle, freed once.
    unsafe { annexr_startup_free(startup) };
}

#[test]
fn null_arguments_are_errors_not_crashes() {
    let mut out = ptr::null_mut();
    // SAFETY: NULL is what is being tested; `out` is valid.
    let status = unsafe { annexr_startup_new_from_toml(ptr::null(), &mut out) };
    assert_eq!(status, AnnexrStatus::NullPointer);
    assert!(out.is_null());
    assert_eq!(
        last_error().as_deref(),
        Some("annexr_startup_new_from_toml: argument `toml` is NULL")
    );

    // SAFETY: NULL out pointer is what is being tested.
    let status = unsafe { annexr_startup_new_from_toml(c"".as_ptr(), ptr::null_mut()) };
    assert_eq!(status, AnnexrStatus::NullPointer);

    // SAFETY: NULL handle is what is being tested.
    let status = unsafe { annexr_startup_run(ptr::null_mut(), ptr::null_mut()) };
    assert_eq!(status, AnnexrStatus::NullPointer);

    let startup = new_startup("");
    let mut text = ptr::null_mut();
    // SAFETY: live handle; NULL title is what is being tested.
    let status = unsafe { annexr_resolve_ae(startup, ptr::null(), &mut text) };
    assert_eq!(status, AnnexrStatus::NullPointer);
    assert!(last_error().unwrap().contains("`ae_title`"));
    // SAFETY: live handle; NULL device JSON is what is being tested.
    let status = unsafe { annexr_startup_set_local_device(startup, ptr::null()) };
    assert_eq!(status, AnnexrStatus::NullPointer);
    free(startup);

    // Freeing NULL is a no-op, as free(3).
    // SAFETY: NULL is allowed.
    unsafe { annexr_startup_free(ptr::null_mut()) };
    // SAFETY: NULL is allowed.
    unsafe { annexr_string_free(ptr::null_mut()) };
}

#[test]
fn a_pointer_to_something_else_is_not_taken_for_a_handle() {
    // Zeroed, aligned, larger than a handle: readable, but no handle.
    let fake = vec![0u64; 512];
    let startup = fake.as_ptr() as *mut AnnexrStartup;
    // SAFETY: readable memory; the library must refuse it.
    let status = unsafe { annexr_startup_run(startup, ptr::null_mut()) };
    assert_eq!(status, AnnexrStatus::InvalidHandle);
    assert!(
        last_error()
            .unwrap()
            .contains("not a live AnnexrStartup handle")
    );
}

#[test]
fn strings_must_be_utf8() {
    let bytes = [b'[', 0xff, b']', 0];
    let mut out = ptr::null_mut();
    // SAFETY: NUL-terminated bytes, valid out pointer.
    let status = unsafe { annexr_startup_new_from_toml(bytes.as_ptr().cast(), &mut out) };
    assert_eq!(status, AnnexrStatus::InvalidUtf8);
    assert!(out.is_null());
    assert!(last_error().unwrap().contains("not valid UTF-8"));
}

#[test]
fn configuration_errors_name_the_setting_and_the_file() {
    let toml = CString::new("[ldap]\nbind_nd = \"cn=x\"\n").unwrap();
    let mut out = ptr::null_mut();
    // SAFETY: valid string and out pointer.
    let status = unsafe { annexr_startup_new_from_toml(toml.as_ptr(), &mut out) };
    assert_eq!(status, AnnexrStatus::Config);
    assert!(out.is_null());
    let message = last_error().unwrap();
    assert!(message.contains("bind_nd"), "{message}");

    // A later successful call clears the message.
    free(new_startup(""));
    assert_eq!(last_error(), None);

    let path = CString::new("/nonexistent/annexr.toml").unwrap();
    // SAFETY: valid string and out pointer.
    let status = unsafe { annexr_startup_new_from_file(path.as_ptr(), &mut out) };
    assert_eq!(status, AnnexrStatus::Config);
    assert!(last_error().unwrap().contains("/nonexistent/annexr.toml"));

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("annexr.toml");
    std::fs::write(&file, OFFLINE_TOML).unwrap();
    let path = CString::new(file.to_str().unwrap()).unwrap();
    // SAFETY: valid string and out pointer.
    let status = unsafe { annexr_startup_new_from_file(path.as_ptr(), &mut out) };
    assert_eq!(status, AnnexrStatus::Ok);
    free(out);
}

#[test]
fn a_password_never_reaches_the_last_error_and_plaintext_is_a_setting() {
    const PW: &str = "Ffi-Secret-9090";
    for text in [
        "[ldap]\npassword = 12345\n".to_string(),
        format!("[ldap]\npasword = \"{PW}\"\n"),
        format!("[ldap]\npassword = [\"{PW}\"]\n"),
    ] {
        let toml = CString::new(text).unwrap();
        let mut out = ptr::null_mut();
        // SAFETY: valid string and out pointer.
        let status = unsafe { annexr_startup_new_from_toml(toml.as_ptr(), &mut out) };
        assert_eq!(status, AnnexrStatus::Config);
        let message = last_error().unwrap();
        assert!(
            !message.contains(PW) && !message.contains("12345"),
            "{message}"
        );
        assert!(message.contains("line 2"), "{message}");
    }
    // The C ABI takes the [ldap] opt-in like every other setting.
    free(new_startup(&format!(
        "{OFFLINE_TOML}[ldap]\nallow_plaintext_bind = true\nbind_dn = \"cn=d\"\npassword = \"{PW}\"\n"
    )));
}

#[test]
fn the_last_error_belongs_to_the_thread_that_failed() {
    // SAFETY: NULL is what is being tested.
    let status = unsafe { annexr_startup_new_from_toml(ptr::null(), ptr::null_mut()) };
    assert_eq!(status, AnnexrStatus::NullPointer);
    let other = std::thread::spawn(last_error).join().unwrap();
    assert_eq!(other, None);
    assert!(last_error().is_some());
}

#[test]
fn the_device_json_must_be_the_store_form_and_valid() {
    let startup = new_startup(OFFLINE_TOML);
    assert_eq!(
        set_device(startup, "{\"name\":\"CT-1\"}"),
        AnnexrStatus::DeviceJson
    );
    assert!(last_error().unwrap().contains("format"));
    assert_eq!(set_device(startup, "not json"), AnnexrStatus::DeviceJson);
    assert_eq!(set_device(startup, DEVICE_JSON), AnnexrStatus::Ok);
    free(startup);
}

struct Seen {
    startup: *mut AnnexrStartup,
    events: Vec<Value>,
    nested: Vec<AnnexrStatus>,
}

unsafe extern "C" fn on_progress(user: *mut c_void, event_json: *const c_char) {
    // SAFETY: `user` is the `Seen` registered below, used by one call at a time.
    let seen = unsafe { &mut *user.cast::<Seen>() };
    // SAFETY: the library passes a NUL-terminated string valid for the call.
    let json = unsafe { CStr::from_ptr(event_json) }.to_str().unwrap();
    seen.events.push(serde_json::from_str(json).unwrap());
    // Calling back into the same handle must fail, not deadlock...
    let mut out = ptr::null_mut();
    // SAFETY: live handle, valid out pointer.
    seen.nested
        .push(unsafe { annexr_startup_report_json(seen.startup, &mut out) });
    // ...and freeing it from here is refused.
    // SAFETY: live handle; the library must refuse to free it while in use.
    unsafe { annexr_startup_free(seen.startup) };
}

#[test]
fn a_run_reports_progress_and_the_report_and_device_are_json() {
    let startup = new_startup(OFFLINE_TOML);
    assert_eq!(
        report(startup),
        Err(AnnexrStatus::State),
        "no report before a run"
    );
    assert!(last_error().unwrap().contains("annexr_startup_run first"));
    assert_eq!(set_device(startup, DEVICE_JSON), AnnexrStatus::Ok);

    let mut seen = Seen {
        startup,
        events: Vec::new(),
        nested: Vec::new(),
    };
    let user = ptr::addr_of_mut!(seen).cast::<c_void>();
    // SAFETY: live handle; `seen` outlives the run.
    let status = unsafe { annexr_startup_set_progress_callback(startup, Some(on_progress), user) };
    assert_eq!(status, AnnexrStatus::Ok);
    let mut configured = -1;
    // SAFETY: live handle, valid out pointer.
    let status = unsafe { annexr_startup_run(startup, &mut configured) };
    assert_eq!(status, AnnexrStatus::Ok, "{:?}", last_error());
    assert_eq!(configured, 1);

    assert!(
        seen.events
            .iter()
            .any(|e| e["event"] == "step-started" && e["step"] == "ldap")
    );
    assert!(seen.events.iter().any(|e| e["event"] == "warning"));
    assert!(!seen.nested.is_empty());
    assert!(
        seen.nested.iter().all(|s| *s == AnnexrStatus::Busy),
        "{:?}",
        seen.nested
    );

    // Still alive after the refused frees.
    let report: Value = serde_json::from_str(&report(startup).unwrap()).unwrap();
    assert_eq!(report["configured"], true);
    assert_eq!(report["configuration_source"], "local");
    let mut out = ptr::null_mut();
    // SAFETY: live handle, valid out pointer.
    let status = unsafe { annexr_startup_device_json(startup, &mut out) };
    assert_eq!(status, AnnexrStatus::Ok);
    let device: Value = serde_json::from_str(&take(out)).unwrap();
    assert_eq!(device["device"]["network_aes"][0]["ae_title"], "CT1");

    // No LDAP server anywhere: lookups say so.
    // SAFETY: live handle, valid strings and out pointer.
    let status = unsafe { annexr_resolve_ae(startup, c"ARCHIVE".as_ptr(), &mut out) };
    assert_eq!(status, AnnexrStatus::State);
    assert!(out.is_null());
    assert!(last_error().unwrap().contains("no LDAP server found"));

    // Clearing the callback: a second run reports to nobody.
    // SAFETY: live handle; NULL clears.
    let status = unsafe { annexr_startup_set_progress_callback(startup, None, ptr::null_mut()) };
    assert_eq!(status, AnnexrStatus::Ok);
    let before = seen.events.len();
    // SAFETY: live handle; NULL `configured` is allowed.
    assert_eq!(
        unsafe { annexr_startup_run(startup, ptr::null_mut()) },
        AnnexrStatus::Ok
    );
    assert_eq!(seen.events.len(), before);
    free(startup);
}

#[test]
fn probes_report_network_failures_and_refuse_bad_targets() {
    let startup = new_startup(OFFLINE_TOML);
    // A loopback port with nobody listening.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mut out = ptr::null_mut();
    // SAFETY: live handle, valid strings, NULL calling AE allowed.
    let status = unsafe {
        annexr_probe_peer(
            startup,
            c"127.0.0.1".as_ptr(),
            port,
            c"NOBODY".as_ptr(),
            ptr::null(),
            &mut out,
        )
    };
    assert_eq!(status, AnnexrStatus::Ok, "{:?}", last_error());
    let probe: Value = serde_json::from_str(&take(out)).unwrap();
    assert_eq!(
        probe["verdict"]["verdict"], "transport_failure",
        "{probe:#}"
    );
    assert_eq!(probe["target"]["calling_ae"], "ANNEXR");

    // SAFETY: as above; port 0 is what is being tested.
    let status = unsafe {
        annexr_probe_peer(
            startup,
            c"127.0.0.1".as_ptr(),
            0,
            c"NOBODY".as_ptr(),
            ptr::null(),
            &mut out,
        )
    };
    assert_eq!(status, AnnexrStatus::InvalidArgument);

    // An AE title of 17 characters cannot be called.
    // SAFETY: as above.
    let status = unsafe {
        annexr_probe_peer(
            startup,
            c"127.0.0.1".as_ptr(),
            port,
            c"SEVENTEEN-CHARS-X".as_ptr(),
            c"CT1".as_ptr(),
            &mut out,
        )
    };
    assert_eq!(status, AnnexrStatus::Probe);
    assert!(out.is_null());
    assert!(last_error().unwrap().contains("at most 16"));
    free(startup);
}

#[test]
fn after_shutdown_only_the_report_and_free_remain() {
    let startup = new_startup(OFFLINE_TOML);
    // SAFETY: live handle.
    assert_eq!(
        unsafe { annexr_startup_run(startup, ptr::null_mut()) },
        AnnexrStatus::Ok
    );
    let mut out = ptr::null_mut();
    // SAFETY: live handle, valid out pointer.
    let status = unsafe { annexr_startup_shutdown(startup, 1, &mut out) };
    assert_eq!(status, AnnexrStatus::Ok);
    let shutdown: Value = serde_json::from_str(&take(out)).unwrap();
    // Static network, no LDAP: nothing to release, offline impossible.
    assert_eq!(shutdown["lease_released"], false);
    assert_eq!(shutdown["marked_offline"], false, "{shutdown:#}");
    let problem = shutdown["problems"][0].as_str().unwrap();
    assert!(problem.starts_with("set offline"), "{problem}");
    // SAFETY: live handle; twice is harmless, and the report may be skipped.
    let status = unsafe { annexr_startup_shutdown(startup, 0, ptr::null_mut()) };
    assert_eq!(status, AnnexrStatus::Ok);
    // SAFETY: live handle.
    assert_eq!(
        unsafe { annexr_startup_run(startup, ptr::null_mut()) },
        AnnexrStatus::State
    );
    assert!(last_error().unwrap().contains("shut down"));
    assert!(report(startup).is_ok());
    free(startup);
}

#[test]
fn status_names_match_the_codes() {
    let all = [
        (AnnexrStatus::Ok, "ANNEXR_STATUS_OK"),
        (AnnexrStatus::NullPointer, "ANNEXR_STATUS_NULL_POINTER"),
        (AnnexrStatus::InvalidHandle, "ANNEXR_STATUS_INVALID_HANDLE"),
        (AnnexrStatus::InvalidUtf8, "ANNEXR_STATUS_INVALID_UTF8"),
        (
            AnnexrStatus::InvalidArgument,
            "ANNEXR_STATUS_INVALID_ARGUMENT",
        ),
        (AnnexrStatus::Config, "ANNEXR_STATUS_CONFIG"),
        (AnnexrStatus::DeviceJson, "ANNEXR_STATUS_DEVICE_JSON"),
        (AnnexrStatus::State, "ANNEXR_STATUS_STATE"),
        (AnnexrStatus::Busy, "ANNEXR_STATUS_BUSY"),
        (AnnexrStatus::Ldap, "ANNEXR_STATUS_LDAP"),
        (AnnexrStatus::NotFound, "ANNEXR_STATUS_NOT_FOUND"),
        (AnnexrStatus::Probe, "ANNEXR_STATUS_PROBE"),
        (AnnexrStatus::Runtime, "ANNEXR_STATUS_RUNTIME"),
        (AnnexrStatus::Panic, "ANNEXR_STATUS_PANIC"),
    ];
    let header = include_str!("../include/annexr.h");
    for (status, name) in all {
        // SAFETY: a static NUL-terminated string.
        let got = unsafe { CStr::from_ptr(annexr_status_name(status as i32)) };
        assert_eq!(got.to_str().unwrap(), name);
        assert!(
            header.contains(&format!("{name} = {},", status as i32)),
            "{name}"
        );
    }
    // SAFETY: a static NUL-terminated string.
    let unknown = unsafe { CStr::from_ptr(annexr_status_name(99)) };
    assert_eq!(unknown.to_str().unwrap(), "ANNEXR_STATUS_UNKNOWN");
    // SAFETY: a static NUL-terminated string.
    let version = unsafe { CStr::from_ptr(annexr_version()) };
    assert_eq!(version.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn handles_on_different_threads_are_independent() {
    let workers: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(|| {
                let startup = new_startup(OFFLINE_TOML);
                assert_eq!(set_device(startup, DEVICE_JSON), AnnexrStatus::Ok);
                let mut configured = 0;
                // SAFETY: live handle, valid out pointer.
                let status = unsafe { annexr_startup_run(startup, &mut configured) };
                assert_eq!(status, AnnexrStatus::Ok);
                assert_eq!(configured, 1);
                let report: Value = serde_json::from_str(&report(startup).unwrap()).unwrap();
                free(startup);
                report["configured"].as_bool().unwrap()
            })
        })
        .collect();
    for worker in workers {
        assert!(worker.join().unwrap());
    }
}

/// Lets the test hold a run inside its first progress event.
struct Gate {
    first: std::sync::atomic::AtomicBool,
    inside: std::sync::Barrier,
    release: std::sync::Barrier,
}

unsafe extern "C" fn hold_first_event(user: *mut c_void, _event_json: *const c_char) {
    // SAFETY: `user` is the `Gate` registered below, which outlives the run.
    let gate = unsafe { &*user.cast::<Gate>() };
    if gate.first.swap(false, std::sync::atomic::Ordering::SeqCst) {
        gate.inside.wait();
        gate.release.wait();
    }
}

/// A handle pointer handed to another thread.
struct SendHandle(*mut AnnexrStartup);
// SAFETY: the ABI allows a handle to be used from any thread; the test
// frees it only after joining the thread.
unsafe impl Send for SendHandle {}

#[test]
fn a_call_while_another_thread_runs_the_handle_is_busy_not_blocked() {
    let startup = new_startup(OFFLINE_TOML);
    let gate = Gate {
        first: std::sync::atomic::AtomicBool::new(true),
        inside: std::sync::Barrier::new(2),
        release: std::sync::Barrier::new(2),
    };
    let user = ptr::addr_of!(gate).cast_mut().cast::<c_void>();
    // SAFETY: live handle; `gate` outlives the run (joined below).
    let status =
        unsafe { annexr_startup_set_progress_callback(startup, Some(hold_first_event), user) };
    assert_eq!(status, AnnexrStatus::Ok);
    let handle = SendHandle(startup);
    let runner = std::thread::spawn(move || {
        let handle = handle;
        // SAFETY: live handle, used by this thread for the run.
        unsafe { annexr_startup_run(handle.0, ptr::null_mut()) }
    });
    gate.inside.wait();
    // The run is parked inside the callback: this thread gets BUSY at once.
    assert_eq!(report(startup), Err(AnnexrStatus::Busy));
    assert!(last_error().unwrap().contains("in progress"));
    gate.release.wait();
    assert_eq!(runner.join().unwrap(), AnnexrStatus::Ok);
    assert!(report(startup).is_ok());
    free(startup);
}
