//! Live configuration for C: `annexr_watch_start` follows this device and
//! its peers in the directory and calls back with one JSON event per change
//! (`annexr::Watch`); `annexr_watch_stop` ends it.

use std::ffi::{CString, c_char, c_void};
use std::sync::Arc;
use std::thread::JoinHandle;

use annexr::{Watch, WatchEvent};

use crate::error::FfiError;
use crate::{AnnexrStartup, AnnexrStatus, boundary, handle_arg, with_session};

/// The watch callback: `event_json` is one event as a NUL-terminated UTF-8
/// JSON object, e.g. `{"event":"peer_moved","title":"ARCHIVE",...}`,
/// borrowed for the duration of the call only (copy it to keep it).
///
/// Thread rules: called on the watch's own library thread (never the
/// thread that called `annexr_watch_start`), one call at a time, in the
/// order of the events. It must not unwind (C++: must not throw) and must
/// not call `annexr_watch_stop` on its own watch (refused with
/// `ANNEXR_STATUS_BUSY`); other annexr functions may be called. While it
/// runs, further events wait (none is dropped).
pub type AnnexrWatchCallback =
    Option<unsafe extern "C" fn(user: *mut c_void, event_json: *const c_char)>;

/// An opaque running watch, made by `annexr_watch_start` and ended (and
/// freed) by `annexr_watch_stop`. It does not borrow the startup handle it
/// was made from: that handle may be freed while the watch runs.
pub struct AnnexrWatch {
    /// [`WATCH_MAGIC`] while live.
    magic: u64,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

/// "annexr-w" in ASCII; zeroed when the watch is freed.
const WATCH_MAGIC: u64 = 0x616e_6e65_7872_2d77;

struct CWatchCallback {
    callback: unsafe extern "C" fn(user: *mut c_void, event_json: *const c_char),
    user: *mut c_void,
}

// SAFETY: `user` is only passed back to `callback`, on the one watch thread;
// the header documents that the callback runs on a library thread, so the
// caller promises `user` may be used there.
unsafe impl Send for CWatchCallback {}

impl CWatchCallback {
    fn call(&self, event: &WatchEvent) {
        // serde_json escapes control characters, so there is no NUL inside.
        if let Ok(text) = CString::new(event.to_json().to_string()) {
            // SAFETY: the caller registered this function with this user
            // pointer; `text` outlives the call.
            unsafe { (self.callback)(self.user, text.as_ptr()) }
        }
    }
}

/// Starts following this device (the configuration the last
/// `annexr_startup_run` settled on, or `[device] name` before any run) and
/// the peers of the `[probe] device_types` in the directory: RFC 4533
/// refreshAndPersist where the server offers it, polling otherwise, with
/// reconnects and backoff. Each change is one call of `callback` with
/// `user` passed back unchanged; see `AnnexrWatchCallback` for its thread
/// rules. When the settings name a store (`[store] path`), a change of this
/// device's configuration is written there.
///
/// Returns once the watch has loaded what it follows (events then arrive on
/// the watch thread); on failure nothing runs and `*out` is NULL. `user`
/// must stay valid until `annexr_watch_stop` returns.
///
/// # Safety
/// `startup` is NULL or a live handle; `callback`, when not NULL, has the
/// `AnnexrWatchCallback` signature; `out` is NULL or writable.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn annexr_watch_start(
    startup: *mut AnnexrStartup,
    callback: AnnexrWatchCallback,
    user: *mut c_void,
    out: *mut *mut AnnexrWatch,
) -> AnnexrStatus {
    const F: &str = "annexr_watch_start";
    boundary(F, || {
        // SAFETY: the function's contract.
        let slot = unsafe { crate::out_arg(F, "out", out) }?;
        // SAFETY: the function's contract.
        let handle = unsafe { handle_arg(F, startup) }?;
        let Some(callback) = callback else {
            return Err(FfiError::Null {
                function: F,
                arg: "callback",
            });
        };
        let target = CWatchCallback { callback, user };
        let (config, urls, device) = with_session(F, handle, |s| s.watch_inputs(F))?;
        let name = device
            .as_ref()
            .map(|d| d.name.clone())
            .or_else(|| config.device.name.clone())
            .ok_or_else(|| FfiError::State {
                function: F,
                cause: "no device to watch: run the startup or set [device] name".into(),
            })?;
        let (started_tx, started_rx) = std::sync::mpsc::channel::<Result<(), FfiError>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("annexr-watch".into())
            .spawn(move || {
                let fail = |e: FfiError| {
                    let _ = started_tx.send(Err(e));
                };
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(r) => r,
                    Err(e) => {
                        return fail(FfiError::Runtime {
                            function: F,
                            cause: e.to_string(),
                        });
                    }
                };
                runtime.block_on(async {
                    let client = match annexr::ldap_client(&config, &urls) {
                        Ok(c) => c,
                        Err(e) => {
                            return fail(FfiError::Annexr {
                                function: F,
                                source: e,
                            });
                        }
                    };
                    let mut builder = Watch::builder(client, name)
                        .peer_device_types(config.probe.device_types.clone());
                    if let Some(d) = device {
                        builder = builder.baseline(d);
                    }
                    if let Some(path) = &config.store.path {
                        builder = builder.store(Arc::new(annexr::FileStore::new(path.clone())));
                    }
                    let mut watch = match builder.start().await {
                        Ok(w) => w,
                        Err(e) => {
                            return fail(FfiError::State {
                                function: F,
                                cause: e.to_string(),
                            });
                        }
                    };
                    let _ = started_tx.send(Ok(()));
                    tokio::pin!(stop_rx);
                    loop {
                        tokio::select! {
                            biased;
                            _ = &mut stop_rx => return,
                            event = watch.next() => match event {
                                Some(event) => target.call(&event),
                                None => return,
                            },
                        }
                    }
                });
            })
            .map_err(|e| FfiError::Runtime {
                function: F,
                cause: e.to_string(),
            })?;
        match started_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(FfiError::State {
                    function: F,
                    cause: "the watch thread ended before it started".into(),
                });
            }
        }
        *slot = Box::into_raw(Box::new(AnnexrWatch {
            magic: WATCH_MAGIC,
            stop: Some(stop_tx),
            thread: Some(thread),
        }));
        Ok(())
    })
}

/// Stops the watch and frees it: when this returns, the callback is not
/// running and will not be called again, and `user` may be released. NULL
/// is ignored. Refused (`ANNEXR_STATUS_BUSY`, nothing freed) when called
/// from inside the watch's own callback.
///
/// # Safety
/// `watch` is NULL or a live watch from `annexr_watch_start`, stopped once.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn annexr_watch_stop(watch: *mut AnnexrWatch) -> AnnexrStatus {
    const F: &str = "annexr_watch_stop";
    boundary(F, || {
        if watch.is_null() {
            return Ok(());
        }
        if !watch.is_aligned() {
            return Err(FfiError::BadHandle {
                function: F,
                arg: "watch",
            });
        }
        // SAFETY: non-NULL and aligned; the caller guarantees readable
        // memory; only the first field is read through the raw pointer.
        let magic = unsafe { std::ptr::addr_of!((*watch).magic).read() };
        if magic != WATCH_MAGIC {
            return Err(FfiError::BadHandle {
                function: F,
                arg: "watch",
            });
        }
        // SAFETY: the magic says it is a live watch from Box::into_raw in
        // `annexr_watch_start`, not yet stopped.
        let live = unsafe { &mut *watch };
        if live
            .thread
            .as_ref()
            .is_some_and(|t| t.thread().id() == std::thread::current().id())
        {
            return Err(FfiError::Busy { function: F });
        }
        if let Some(stop) = live.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = live.thread.take() {
            let _ = thread.join();
        }
        // SAFETY: as above; freed once, here.
        let mut boxed = unsafe { Box::from_raw(watch) };
        boxed.magic = 0;
        drop(boxed);
        Ok(())
    })
}
