//! A C ABI for annexr, so that C and C++ modality firmware and PACS products
//! (and Java or C# through JNI/JNA or P/Invoke) can run the DICOM PS3.17
//! Annex R startup and the lookups without writing Rust.
//!
//! The header `include/annexr.h` is generated from this file by cbindgen
//! (`tests/header.rs` fails when it is stale; `ANNEXR_BLESS_HEADER=1 cargo
//! test -p annexr-ffi --test header` rewrites it). The crate's README has
//! the table of functions and the ownership rules.
//!
//! Rules every entry point keeps:
//! - no panic crosses the boundary: each body runs under `catch_unwind`, and
//!   a caught panic becomes [`AnnexrStatus::Panic`];
//! - every pointer is checked for NULL before use, every string for UTF-8;
//! - every `char *` the library hands out is owned by the caller and freed
//!   with [`annexr_string_free`]; every `const char *` argument is borrowed
//!   for the duration of the call only;
//! - a failed call returns a non-zero [`AnnexrStatus`] and leaves a message
//!   for [`annexr_last_error_message`] on the calling thread.

// An FFI crate cannot avoid `unsafe`: it dereferences pointers handed in by C.
#![allow(unsafe_code)]
// ...and every unsafe block says why it is sound.
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod error;
mod session;
mod watch;

use std::ffi::{CStr, CString, c_char, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Mutex, TryLockError};

use error::{FfiError, clear_last_error, last_error, set_last_error};
use session::Session;
pub use watch::{AnnexrWatch, AnnexrWatchCallback, annexr_watch_start, annexr_watch_stop};

/// The result of every fallible call. `ANNEXR_STATUS_OK` (0) is success;
/// any other value is an error whose message
/// `annexr_last_error_message` returns on the same thread.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AnnexrStatus {
    /// Success.
    Ok = 0,
    /// A required pointer argument was NULL.
    NullPointer = 1,
    /// A handle argument does not point to a live `AnnexrStartup`.
    InvalidHandle = 2,
    /// A string argument is not valid UTF-8.
    InvalidUtf8 = 3,
    /// An argument is malformed or out of range.
    InvalidArgument = 4,
    /// The TOML configuration (or a file it names) could not be used.
    Config = 5,
    /// The device JSON is not in the model's store form, or not valid.
    DeviceJson = 6,
    /// The call does not fit the handle's state (no run yet, shut down, no
    /// LDAP server known).
    State = 7,
    /// Another call on the same handle is in progress (another thread, or a
    /// call from inside the progress callback).
    Busy = 8,
    /// An LDAP operation failed (server, step and cause in the message).
    Ldap = 9,
    /// Nothing was found (an AE title, the device's configuration).
    NotFound = 10,
    /// A probe could not be run at all (invalid AE title, TLS settings).
    /// Network failures of a probe are not errors: they are in its report.
    Probe = 11,
    /// The library's private runtime could not be started.
    Runtime = 12,
    /// A panic inside the library was caught at the boundary: a bug in
    /// annexr; the handle should be freed.
    Panic = 13,
}

/// The progress callback: `event_json` is one event of the startup as a
/// NUL-terminated UTF-8 JSON object, e.g.
/// `{"event":"step-started","step":"dns"}`, borrowed for the duration of
/// the call only (copy it to keep it). Called on a library thread, one call
/// at a time; it must return quickly, must not unwind (C++: must not
/// throw), and must not call functions on the same handle.
pub type AnnexrProgressCallback =
    Option<unsafe extern "C" fn(user: *mut c_void, event_json: *const c_char)>;

/// An opaque handle on one device's startup: its settings, its local
/// description, the last run's outcome, and the lookup connections. Made by
/// `annexr_startup_new_from_toml` or `annexr_startup_new_from_file`,
/// released by `annexr_startup_free`.
pub struct AnnexrStartup {
    /// [`HANDLE_MAGIC`] while live; catches pointers to something else.
    magic: u64,
    session: Mutex<Session>,
}

/// "annexr-1" in ASCII; zeroed when the handle is freed.
const HANDLE_MAGIC: u64 = 0x616e_6e65_7872_2d31;

/// Runs one entry point's body: catches panics, records the error message,
/// maps the result to a status.
fn boundary(function: &'static str, body: impl FnOnce() -> Result<(), FfiError>) -> AnnexrStatus {
    clear_last_error();
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => AnnexrStatus::Ok,
        Ok(Err(e)) => {
            set_last_error(e.to_string());
            e.status()
        }
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            set_last_error(format!("{function}: internal error (caught panic): {what}"));
            AnnexrStatus::Panic
        }
    }
}

/// A borrowed string argument.
///
/// # Safety
/// `ptr` is NULL or points to a NUL-terminated string that stays valid and
/// unchanged for the returned lifetime (the C call).
unsafe fn str_arg<'a>(
    function: &'static str,
    arg: &'static str,
    ptr: *const c_char,
) -> Result<&'a str, FfiError> {
    if ptr.is_null() {
        return Err(FfiError::Null { function, arg });
    }
    // SAFETY: non-NULL checked above; the caller guarantees NUL termination
    // and validity for the call (the function's contract).
    let text = unsafe { CStr::from_ptr(ptr) };
    text.to_str().map_err(|e| FfiError::Utf8 {
        function,
        arg,
        cause: e.to_string(),
    })
}

/// A borrowed string argument that may be NULL.
///
/// # Safety
/// As [`str_arg`].
unsafe fn optional_str_arg<'a>(
    function: &'static str,
    arg: &'static str,
    ptr: *const c_char,
) -> Result<Option<&'a str>, FfiError> {
    if ptr.is_null() {
        return Ok(None);
    }
    // SAFETY: same contract as ours.
    unsafe { str_arg(function, arg, ptr) }.map(Some)
}

/// The handle behind `ptr`.
///
/// # Safety
/// `ptr` is NULL or was returned by a constructor of this library and not
/// yet freed.
unsafe fn handle_arg<'a>(
    function: &'static str,
    ptr: *const AnnexrStartup,
) -> Result<&'a AnnexrStartup, FfiError> {
    if ptr.is_null() {
        return Err(FfiError::Null {
            function,
            arg: "startup",
        });
    }
    if !ptr.is_aligned() {
        return Err(FfiError::BadHandle {
            function,
            arg: "startup",
        });
    }
    // SAFETY: non-NULL and aligned, and the caller guarantees it points to
    // readable memory; only the first field is read, through the raw
    // pointer, so a pointer to something else is caught before a reference
    // to the whole handle exists.
    let magic = unsafe { std::ptr::addr_of!((*ptr).magic).read() };
    if magic != HANDLE_MAGIC {
        return Err(FfiError::BadHandle {
            function,
            arg: "startup",
        });
    }
    // SAFETY: the magic says it is a live handle from `new_handle`
    // (Box::into_raw), which the caller has not freed.
    Ok(unsafe { &*ptr })
}

/// Locks the handle's session without waiting: a second call on the same
/// handle while one runs (another thread, or the progress callback calling
/// back in) fails with `Busy` instead of deadlocking.
fn with_session<T>(
    function: &'static str,
    handle: &AnnexrStartup,
    f: impl FnOnce(&mut Session) -> Result<T, FfiError>,
) -> Result<T, FfiError> {
    let mut session = match handle.session.try_lock() {
        Ok(s) => s,
        // A panic mid-call left the lock poisoned; the session's data is
        // still consistent enough to report on or to shut down.
        Err(TryLockError::Poisoned(p)) => p.into_inner(),
        Err(TryLockError::WouldBlock) => return Err(FfiError::Busy { function }),
    };
    f(&mut session)
}

/// Clears `*out` (so a failed call leaves NULL there) and returns it.
///
/// # Safety
/// `out` is NULL or valid for writing one pointer.
unsafe fn out_arg<'a, T>(
    function: &'static str,
    arg: &'static str,
    out: *mut *mut T,
) -> Result<&'a mut *mut T, FfiError> {
    if out.is_null() {
        return Err(FfiError::Null { function, arg });
    }
    // SAFETY: non-NULL checked; the caller guarantees it is writable.
    let slot = unsafe { &mut *out };
    *slot = std::ptr::null_mut();
    Ok(slot)
}

/// Hands `text` to C as a new NUL-terminated buffer.
fn give_string(
    function: &'static str,
    slot: &mut *mut c_char,
    text: String,
) -> Result<(), FfiError> {
    let text = CString::new(text).map_err(|e| FfiError::InvalidArgument {
        function,
        cause: format!("result contains a NUL byte at {}", e.nul_position()),
    })?;
    *slot = text.into_raw();
    Ok(())
}

fn new_handle(session: Session) -> *mut AnnexrStartup {
    Box::into_raw(Box::new(AnnexrStartup {
        magic: HANDLE_MAGIC,
        session: Mutex::new(session),
    }))
}

/// Creates a startup handle from TOML settings (the format of
/// `annexr::StartupConfig`; an empty string gives every default).
///
/// On success `*out` holds a new handle, owned by the caller and released
/// with `annexr_startup_free`. On failure `*out` is NULL.
///
/// # Safety
/// `toml` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn annexr_startup_new_from_toml(
    toml: *const c_char,
    out: *mut *mut AnnexrStartup,
) -> AnnexrStatus {
    const F: &str = "annexr_startup_new_from_toml";
    boundary(F, || {
        // SAFETY: the function's contract.
        let slot = unsafe { out_arg(F, "out", out) }?;
        // SAFETY: the function's contract.
        let text = unsafe { str_arg(F, "toml", toml) }?;
        let config = annexr::StartupConfig::from_toml(text).map_err(|source| FfiError::Config {
            function: F,
            source,
        })?;
        *slot = new_handle(Session::new(config));
        Ok(())
    })
}

/// Creates a startup handle from a TOML settings file.
///
/// On success `*out` holds a new handle, owned by the caller and released
/// with `annexr_startup_free`. On failure `*out` is NULL.
///
/// # Safety
/// `path` is NULL or a NUL-terminated string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn annexr_startup_new_from_file(
    path: *const c_char,
    out: *mut *mut AnnexrStartup,
) -> AnnexrStatus {
    const F: &str = "annexr_startup_new_from_file";
    boundary(F, || {
        // SAFETY: the function's contract.
        let slot = unsafe { out_arg(F, "out", out) }?;
        // SAFETY: the function's contract.
        let path = unsafe { str_arg(F, "path", path) }?;
        let config = annexr::StartupConfig::from_file(Path::new(path)).map_err(|source| {
            FfiError::Config {
                function: F,
                source,
            }
        })?;
        *slot = new_handle(Session::new(config));
        Ok(())
    })
}

/// Sets the device's local description (what the vendor's software says
/// the device is, R.1.2.2 step 5): JSON in the model's versioned store form
/// (`{"format":"annexr-device","version":1,"device":{...}}`). It is
/// installed when LDAP does not know the device, and used as the
/// configuration of last resort. Replaces any earlier one.
///
/// # Safety
/// `startup` is NULL or a live handle; `device_json` is NULL or a
/// NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn annexr_startup_set_local_device(
    startup: *mut AnnexrStartup,
    device_json: *const c_char,
) -> AnnexrStatus {
    const F: &str = "annexr_startup_set_local_device";
    boundary(F, || {
        // SAFETY: the function's contract.
        let handle = unsafe { handle_arg(F, startup) }?;
        // SAFETY: the function's contract.
        let json = unsafe { str_arg(F, "device_json", device_json) }?;
        with_session(F, handle, |s| s.set_local_device(F, json))
    })
}

/// The C callback and its user pointer, as one value the startup's threads
/// may call.
#[derive(Clone, Copy)]
struct CProgress {
    callback: unsafe extern "C" fn(*mut c_void, *const c_char),
    user: *mut c_void,
}

// SAFETY: `user` is only passed back to `callback`; the header documents
// that the callback runs on a library thread, so the caller promises that
// `user` may be used there.
unsafe impl Send for CProgress {}
// SAFETY: calls are serialized by the mutex in `annexr_startup_set_progress_callback`,
// so `user` is never used by two threads at once through us.
unsafe impl Sync for CProgress {}

impl CProgress {
    fn call(&self, event_json: &str) {
        // serde_json escapes control characters, so there is no NUL inside.
        if let Ok(text) = CString::new(event_json) {
            // SAFETY: the caller registered this function with this user
            // pointer; `text` outlives the call.
            unsafe { (self.callback)(self.user, text.as_ptr()) }
        }
    }
}

/// Sets (or, with a NULL `callback`, clears) the progress callback that
/// receives each event of `annexr_startup_run` as JSON, with `user` passed
/// back unchanged. See `AnnexrProgressCallback` for the rules the callback
/// keeps. `user` must stay valid until the callback is cleared or the
/// handle freed.
///
/// # Safety
/// `startup` is NULL or a live handle; `callback`, when not NULL, is a
/// function with the `AnnexrProgressCallback` signature.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn annexr_startup_set_progress_callback(
    startup: *mut AnnexrStartup,
    callback: AnnexrProgressCallback,
    user: *mut c_void,
) -> AnnexrStatus {
    const F: &str = "annexr_startup_set_progress_callback";
    boundary(F, || {
        // SAFETY: the function's contract.
        let handle = unsafe { handle_arg(F, startup) }?;
        let progress = callback.map(|callback| {
            let target = CProgress { callback, user };
            // One call at a time: the time step reports from its own task.
            let serial = Mutex::new(());
            Arc::new(move |json: &str| {
                let _one = serial.lock();
                target.call(json);
            }) as session::Progress
        });
        with_session(F, handle, |s| s.set_progress(F, progress))
    })
}

/// Runs the normal startup (R.4), installing the device when LDAP does not
/// know it (R.1.2.2); blocks until it ends, calling the progress callback
/// on the way. A startup does not fail: it ends configured or not, and the
/// report says why (`annexr_startup_report_json`). `*configured`, when
/// `configured` is not NULL, is set to 1 when the device runs with a
/// configuration, 0 otherwise. May be called again (a later boot).
///
/// # Safety
/// `startup` is NULL or a live handle; `configured` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn annexr_startup_run(
    startup: *mut AnnexrStartup,
    configured: *mut i32,
) -> AnnexrStatus {
    const F: &str = "annexr_startup_run";
    boundary(F, || {
        // SAFETY: the function's contract.
        let handle = unsafe { handle_arg(F, startup) }?;
        let done = with_session(F, handle, |s| s.run(F))?;
        if !configured.is_null() {
            // SAFETY: non-NULL checked; the caller guarantees it is writable.
            unsafe { *configured = i32::from(done) };
        }
        Ok(())
    })
}

/// The last run's report as pretty JSON: each step's outcome, the source
/// of each value, durations, warnings with the action to take.
///
/// On success `*out` is a new string owned by the caller: free it with
/// `annexr_string_free`. On failure `*out` is NULL.
///
/// # Safety
/// `startup` is NULL or a live handle; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn annexr_startup_report_json(
    startup: *mut AnnexrStartup,
    out: *mut *mut c_char,
) -> AnnexrStatus {
    const F: &str = "annexr_startup_report_json";
    boundary(F, || {
        // SAFETY: the function's contract.
        let slot = unsafe { out_arg(F, "out", out) }?;
        // SAFETY: the function's contract.
        let handle = unsafe { handle_arg(F, startup) }?;
        let json = with_session(F, handle, |s| s.report_json(F))?;
        give_string(F, slot, json)
    })
}

/// The configuration the last run settled on (from LDAP, the store or the
/// local description) in the model's store form.
/// `ANNEXR_STATUS_NOT_FOUND` when the device ended unconfigured.
///
/// On success `*out` is a new string owned by the caller: free it with
/// `annexr_string_free`. On failure `*out` is NULL.
///
/// # Safety
/// `startup` is NULL or a live handle; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn annexr_startup_device_json(
    startup: *mut AnnexrStartup,
    out: *mut *mut c_char,
) -> AnnexrStatus {
    const F: &str = "annexr_startup_device_json";
    boundary(F, || {
        // SAFETY: the function's contract.
        let slot = unsafe { out_arg(F, "out", out) }?;
        // SAFETY: the function's contract.
        let handle = unsafe { handle_arg(F, startup) }?;
        let json = with_session(F, handle, |s| s.device_json(F))?;
        give_string(F, slot, json)
    })
}

/// R.3: resolves an AE title over LDAP to its device and connections.
/// The JSON object has `ae_title`, `device_name`, `device_types`,
/// `installed`, `host`, `port` and `tls` (of the first installed
/// connection with a port; null when the AE is not installed or does not
/// accept associations: never a callable address for those),
/// `not_callable` (why `host` is null, else null), `acceptor`,
/// `initiator`, `application_clusters`, `connections`, and the cost:
/// `round_trips`, `requests`, `connects`. The same document as
/// `annexr --json resolve` prints (docs/json.md).
/// Uses the LDAP servers the last run found, else `[ldap] urls`.
/// `ANNEXR_STATUS_NOT_FOUND` when no AE has that title; an LDAP error when
/// several AEs carry it.
///
/// On success `*out` is a new string owned by the caller: free it with
/// `annexr_string_free`. On failure `*out` is NULL.
///
/// # Safety
/// `startup` is NULL or a live handle; `ae_title` is NULL or a
/// NUL-terminated string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn annexr_resolve_ae(
    startup: *mut AnnexrStartup,
    ae_title: *const c_char,
    out: *mut *mut c_char,
) -> AnnexrStatus {
    const F: &str = "annexr_resolve_ae";
    boundary(F, || {
        // SAFETY: the function's contract.
        let slot = unsafe { out_arg(F, "out", out) }?;
        // SAFETY: the function's contract.
        let handle = unsafe { handle_arg(F, startup) }?;
        // SAFETY: the function's contract.
        let title = unsafe { str_arg(F, "ae_title", ae_title) }?;
        let json = with_session(F, handle, |s| s.resolve_ae(F, title))?;
        give_string(F, slot, json)
    })
}

/// R.3.1: the AEs of devices whose primary device type is `device_type`
/// (e.g. `"ARCHIVE"`, matched in any case), only installed ones when
/// `installed_only` is non-zero. The JSON object has `device_type`,
/// `installed_only`, `aes` (an array of objects as `annexr_resolve_ae`
/// returns them, without the cost; empty when none match), `skipped`
/// (devices that could not be read, with the reason),
/// `device_types_on_site` (the types present, a hint when none match) and
/// the cost: `round_trips`, `requests`, `connects` (docs/json.md).
///
/// On success `*out` is a new string owned by the caller: free it with
/// `annexr_string_free`. On failure `*out` is NULL.
///
/// # Safety
/// `startup` is NULL or a live handle; `device_type` is NULL or a
/// NUL-terminated string; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn annexr_find_aes_by_device_type(
    startup: *mut AnnexrStartup,
    device_type: *const c_char,
    installed_only: i32,
    out: *mut *mut c_char,
) -> AnnexrStatus {
    const F: &str = "annexr_find_aes_by_device_type";
    boundary(F, || {
        // SAFETY: the function's contract.
        let slot = unsafe { out_arg(F, "out", out) }?;
        // SAFETY: the function's contract.
        let handle = unsafe { handle_arg(F, startup) }?;
        // SAFETY: the function's contract.
        let device_type = unsafe { str_arg(F, "device_type", device_type) }?;
        let json = with_session(F, handle, |s| {
            s.find_aes(F, device_type, installed_only != 0)
        })?;
        give_string(F, slot, json)
    })
}

/// Probes a peer with an association and a C-ECHO (plain TCP): the report
/// JSON has the duration of each phase, the negotiated contexts, a decoded
/// rejection or abort, and a `verdict`. Network failures are in the report,
/// not errors. `calling_ae` may be NULL: the configured device's first AE
/// title is used, else `ANNEXR`. Timeout: `[probe] timeout_ms`.
///
/// On success `*out` is a new string owned by the caller: free it with
/// `annexr_string_free`. On failure `*out` is NULL.
///
/// # Safety
/// `startup` is NULL or a live handle; `host`, `called_ae` and
/// `calling_ae` are NULL or NUL-terminated strings; `out` is NULL or
/// writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn annexr_probe_peer(
    startup: *mut AnnexrStartup,
    host: *const c_char,
    port: u16,
    called_ae: *const c_char,
    calling_ae: *const c_char,
    out: *mut *mut c_char,
) -> AnnexrStatus {
    const F: &str = "annexr_probe_peer";
    boundary(F, || {
        // SAFETY: the function's contract.
        let slot = unsafe { out_arg(F, "out", out) }?;
        // SAFETY: the function's contract.
        let handle = unsafe { handle_arg(F, startup) }?;
        // SAFETY: the function's contract.
        let host = unsafe { str_arg(F, "host", host) }?;
        // SAFETY: the function's contract.
        let called = unsafe { str_arg(F, "called_ae", called_ae) }?;
        // SAFETY: the function's contract.
        let calling = unsafe { optional_str_arg(F, "calling_ae", calling_ae) }?;
        if port == 0 {
            return Err(FfiError::InvalidArgument {
                function: F,
                cause: "port 0 cannot be probed".into(),
            });
        }
        let json = with_session(F, handle, |s| s.probe(F, host, port, called, calling))?;
        give_string(F, slot, json)
    })
}

/// Resolves `called_ae` over LDAP (as `annexr_resolve_ae`) and probes the
/// address found (as `annexr_probe_peer`). An AE that is not installed or
/// does not accept associations is not called: `ANNEXR_STATUS_NOT_FOUND`,
/// the reason in `annexr_last_error_message`.
///
/// On success `*out` is a new string owned by the caller: free it with
/// `annexr_string_free`. On failure `*out` is NULL.
///
/// # Safety
/// `startup` is NULL or a live handle; `called_ae` and `calling_ae` are
/// NULL or NUL-terminated strings; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn annexr_probe_ae(
    startup: *mut AnnexrStartup,
    called_ae: *const c_char,
    calling_ae: *const c_char,
    out: *mut *mut c_char,
) -> AnnexrStatus {
    const F: &str = "annexr_probe_ae";
    boundary(F, || {
        // SAFETY: the function's contract.
        let slot = unsafe { out_arg(F, "out", out) }?;
        // SAFETY: the function's contract.
        let handle = unsafe { handle_arg(F, startup) }?;
        // SAFETY: the function's contract.
        let called = unsafe { str_arg(F, "called_ae", called_ae) }?;
        // SAFETY: the function's contract.
        let calling = unsafe { optional_str_arg(F, "calling_ae", calling_ae) }?;
        let json = with_session(F, handle, |s| s.probe_ae(F, called, calling))?;
        give_string(F, slot, json)
    })
}

/// Shuts the device down (R.5): when `set_offline` is non-zero, marks the
/// device and its AEs not installed in LDAP first (R.5.2, so that peers stop
/// calling it); stops the ongoing time synchronization; releases the DHCP
/// lease (R.5.1); closes the lookup connection and stops the handle's
/// threads (waiting up to 5 s). Afterwards the last run's report and device
/// stay readable; runs, lookups and probes fail with `ANNEXR_STATUS_STATE`.
/// The handle must still be freed. Calling it twice is harmless.
///
/// What was done is reported, not failed: when `report_json` is not NULL,
/// `*report_json` receives `{"time_sync_stopped","marked_offline",
/// "lease_released","problems":[...]}`, a new string owned by the caller
/// (free it with `annexr_string_free`).
///
/// # Safety
/// `startup` is NULL or a live handle; `report_json` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn annexr_startup_shutdown(
    startup: *mut AnnexrStartup,
    set_offline: i32,
    report_json: *mut *mut c_char,
) -> AnnexrStatus {
    const F: &str = "annexr_startup_shutdown";
    boundary(F, || {
        let slot = if report_json.is_null() {
            None
        } else {
            // SAFETY: the function's contract.
            Some(unsafe { out_arg(F, "report_json", report_json) }?)
        };
        // SAFETY: the function's contract.
        let handle = unsafe { handle_arg(F, startup) }?;
        let report = with_session(F, handle, |s| Ok(s.shutdown(set_offline != 0)))?;
        match slot {
            Some(slot) => give_string(F, slot, session::to_json(&report)),
            None => Ok(()),
        }
    })
}

/// Frees a handle, shutting it down first if needed (as
/// `annexr_startup_shutdown` without `set_offline`). NULL is ignored.
/// The handle must not be in use by another call, and must not be used
/// after this; freeing from inside its own progress callback is refused
/// (nothing is freed, and the last-error message says so).
///
/// # Safety
/// `startup` is NULL or a live handle from this library, freed once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn annexr_startup_free(startup: *mut AnnexrStartup) {
    const F: &str = "annexr_startup_free";
    let _ = boundary(F, || {
        if startup.is_null() {
            return Ok(());
        }
        // SAFETY: the function's contract.
        let handle = unsafe { handle_arg(F, startup) }?;
        // A call in progress still uses the handle: refuse rather than free
        // memory under it.
        if let Err(TryLockError::WouldBlock) = handle.session.try_lock() {
            return Err(FfiError::Busy { function: F });
        }
        // SAFETY: live handle checked above, no call in progress; it came
        // from Box::into_raw in `new_handle` and the caller frees it once.
        let mut boxed = unsafe { Box::from_raw(startup) };
        boxed.magic = 0;
        // Dropping the session shuts it down (lease, time sync, runtime).
        drop(boxed);
        Ok(())
    });
}

/// Frees a string returned by this library. NULL is ignored.
///
/// # Safety
/// `text` is NULL or a `char *` returned by an annexr function and not
/// yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn annexr_string_free(text: *mut c_char) {
    if text.is_null() {
        return;
    }
    // Nothing here can panic; catch_unwind keeps the rule anyway.
    let _ = catch_unwind(|| {
        // SAFETY: the caller guarantees it came from CString::into_raw in
        // `give_string` or `annexr_last_error_message` and is freed once.
        drop(unsafe { CString::from_raw(text) });
    });
}

/// The message of the last failed call on this thread, naming the function,
/// the server or file, the step and the cause; NULL when the last call on
/// this thread succeeded.
///
/// The result is a new string owned by the caller: free it with
/// `annexr_string_free`.
#[unsafe(no_mangle)]
pub extern "C" fn annexr_last_error_message() -> *mut c_char {
    catch_unwind(|| {
        last_error()
            .and_then(|m| CString::new(m.replace('\0', " ")).ok())
            .map_or(std::ptr::null_mut(), CString::into_raw)
    })
    .unwrap_or(std::ptr::null_mut())
}

/// The library's version, e.g. `"0.1.0"`: a static string, not to be freed.
#[unsafe(no_mangle)]
pub extern "C" fn annexr_version() -> *const c_char {
    static VERSION: &CStr =
        match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
            Ok(v) => v,
            Err(_) => c"unknown",
        };
    VERSION.as_ptr()
}

/// The short name of a status code, e.g. `"ANNEXR_STATUS_NOT_FOUND"`: a
/// static string, not to be freed; `"ANNEXR_STATUS_UNKNOWN"` for a value
/// that is no status.
#[unsafe(no_mangle)]
pub extern "C" fn annexr_status_name(status: i32) -> *const c_char {
    let name: &'static CStr = match status {
        0 => c"ANNEXR_STATUS_OK",
        1 => c"ANNEXR_STATUS_NULL_POINTER",
        2 => c"ANNEXR_STATUS_INVALID_HANDLE",
        3 => c"ANNEXR_STATUS_INVALID_UTF8",
        4 => c"ANNEXR_STATUS_INVALID_ARGUMENT",
        5 => c"ANNEXR_STATUS_CONFIG",
        6 => c"ANNEXR_STATUS_DEVICE_JSON",
        7 => c"ANNEXR_STATUS_STATE",
        8 => c"ANNEXR_STATUS_BUSY",
        9 => c"ANNEXR_STATUS_LDAP",
        10 => c"ANNEXR_STATUS_NOT_FOUND",
        11 => c"ANNEXR_STATUS_PROBE",
        12 => c"ANNEXR_STATUS_RUNTIME",
        13 => c"ANNEXR_STATUS_PANIC",
        _ => c"ANNEXR_STATUS_UNKNOWN",
    };
    name.as_ptr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_stops_at_the_boundary_with_a_message() {
        let status = boundary("annexr_test", || panic!("invariant broken"));
        assert_eq!(status, AnnexrStatus::Panic);
        assert_eq!(
            last_error().as_deref(),
            Some("annexr_test: internal error (caught panic): invariant broken")
        );
        let status = boundary("annexr_test", || {
            let detail = String::from("with detail");
            panic!("{detail}")
        });
        assert_eq!(status, AnnexrStatus::Panic);
        assert!(last_error().unwrap().ends_with("with detail"));
        // The next call starts clean.
        assert_eq!(boundary("annexr_test", || Ok(())), AnnexrStatus::Ok);
        assert_eq!(last_error(), None);
    }

    #[test]
    fn a_panic_inside_a_call_leaves_the_handle_usable() {
        let handle = new_handle(Session::new(annexr::StartupConfig::default()));
        // SAFETY: just created.
        let live = unsafe { handle_arg("annexr_test", handle) }.unwrap();
        let status = boundary("annexr_test", || {
            with_session("annexr_test", live, |_| -> Result<(), FfiError> {
                panic!("mid-call")
            })
        });
        assert_eq!(status, AnnexrStatus::Panic);
        // The poisoned lock is recovered: the handle still answers.
        let mut out = std::ptr::null_mut();
        // SAFETY: live handle, valid out pointer.
        let status = unsafe { annexr_startup_report_json(handle, &mut out) };
        assert_eq!(status, AnnexrStatus::State);
        // SAFETY: live handle, freed once.
        unsafe { annexr_startup_free(handle) };
    }
}
