//! What can go wrong at the boundary, as one error type with an integer
//! code for C, and the thread-local last-error message.

use std::cell::RefCell;

use crate::AnnexrStatus;

/// An error of one C call: its status code and a message naming the step
/// and the cause.
#[derive(Debug, thiserror::Error)]
pub(crate) enum FfiError {
    /// A required pointer was NULL.
    #[error("{function}: argument `{arg}` is NULL")]
    Null {
        /// The C function.
        function: &'static str,
        /// The argument.
        arg: &'static str,
    },
    /// A handle pointer does not point to a live handle.
    #[error("{function}: `{arg}` is not a live AnnexrStartup handle")]
    BadHandle {
        /// The C function.
        function: &'static str,
        /// The argument.
        arg: &'static str,
    },
    /// A string argument is not UTF-8.
    #[error("{function}: argument `{arg}` is not valid UTF-8: {cause}")]
    Utf8 {
        /// The C function.
        function: &'static str,
        /// The argument.
        arg: &'static str,
        /// Where the bad byte is.
        cause: String,
    },
    /// An argument is malformed or out of range.
    #[error("{function}: {cause}")]
    InvalidArgument {
        /// The C function.
        function: &'static str,
        /// What is wrong.
        cause: String,
    },
    /// The TOML configuration could not be used.
    #[error("{function}: {source}")]
    Config {
        /// The C function.
        function: &'static str,
        /// The configuration error (file, line, column).
        source: annexr::ConfigError,
    },
    /// The device JSON could not be used.
    #[error("{function}: local device description: {cause}")]
    DeviceJson {
        /// The C function.
        function: &'static str,
        /// The model's parse or validation error.
        cause: String,
    },
    /// The call does not fit the handle's state.
    #[error("{function}: {cause}")]
    State {
        /// The C function.
        function: &'static str,
        /// Why.
        cause: String,
    },
    /// Another call on the same handle is in progress.
    #[error(
        "{function}: another call on this handle is in progress (from another thread, or this is a call from inside the progress callback)"
    )]
    Busy {
        /// The C function.
        function: &'static str,
    },
    /// An LDAP operation failed.
    #[error("{function}: {source}")]
    Ldap {
        /// The C function.
        function: &'static str,
        /// The LDAP client's error (server, step, cause).
        source: annexr_ldap::Error,
    },
    /// A step of the `annexr` crate failed (finding the LDAP servers,
    /// setting up the client).
    #[error("{function}: {source}")]
    Annexr {
        /// The C function.
        function: &'static str,
        /// The library's error, mapped to a status by its variant.
        source: annexr::Error,
    },
    /// Nothing was found.
    #[error("{function}: {what}")]
    NotFound {
        /// The C function.
        function: &'static str,
        /// What was not found.
        what: String,
    },
    /// A probe could not be run at all.
    #[error("{function}: {source}")]
    Probe {
        /// The C function.
        function: &'static str,
        /// The probe's error (peer, cause).
        source: annexr_probe::Error,
    },
    /// The watch thread (or its runtime) could not be started.
    #[error("{function}: cannot start the runtime: {cause}")]
    Runtime {
        /// The C function.
        function: &'static str,
        /// The OS error.
        cause: String,
    },
}

impl FfiError {
    /// The integer code C sees.
    pub(crate) fn status(&self) -> AnnexrStatus {
        match self {
            FfiError::Null { .. } => AnnexrStatus::NullPointer,
            FfiError::BadHandle { .. } => AnnexrStatus::InvalidHandle,
            FfiError::Utf8 { .. } => AnnexrStatus::InvalidUtf8,
            FfiError::InvalidArgument { .. } => AnnexrStatus::InvalidArgument,
            FfiError::Config { .. } => AnnexrStatus::Config,
            FfiError::DeviceJson { .. } => AnnexrStatus::DeviceJson,
            FfiError::State { .. } => AnnexrStatus::State,
            FfiError::Busy { .. } => AnnexrStatus::Busy,
            FfiError::Ldap { .. } => AnnexrStatus::Ldap,
            FfiError::Annexr { source, .. } => annexr_status(source),
            FfiError::NotFound { .. } => AnnexrStatus::NotFound,
            FfiError::Probe {
                source: annexr_probe::Error::Runtime(_),
                ..
            } => AnnexrStatus::Runtime,
            FfiError::Probe { .. } => AnnexrStatus::Probe,
            FfiError::Runtime { .. } => AnnexrStatus::Runtime,
        }
    }
}

thread_local! {
    /// The message of the last failed call on this thread.
    static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Records `message` as this thread's last error.
pub(crate) fn set_last_error(message: String) {
    // try_with: during thread teardown the slot may be gone; losing the
    // message then is better than panicking at the boundary.
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = Some(message);
        }
    });
}

/// Forgets this thread's last error (each call starts clean).
pub(crate) fn clear_last_error() {
    let _ = LAST_ERROR.try_with(|slot| {
        if let Ok(mut slot) = slot.try_borrow_mut() {
            *slot = None;
        }
    });
}

/// A copy of this thread's last error message.
pub(crate) fn last_error() -> Option<String> {
    LAST_ERROR
        .try_with(|slot| slot.try_borrow().ok().and_then(|s| s.clone()))
        .ok()
        .flatten()
}

/// The status C sees for an error of the `annexr` crate.
fn annexr_status(error: &annexr::Error) -> AnnexrStatus {
    match error {
        annexr::Error::Config(_) => AnnexrStatus::Config,
        annexr::Error::Runtime(_) | annexr::Error::Ldap(annexr_ldap::Error::Runtime(_)) => {
            AnnexrStatus::Runtime
        }
        annexr::Error::Ldap(annexr_ldap::Error::Config(_)) => AnnexrStatus::Config,
        annexr::Error::Ldap(_) => AnnexrStatus::Ldap,
        // No LDAP server known, nothing to watch, no NTP server: the call
        // does not fit what the handle knows.
        _ => AnnexrStatus::State,
    }
}
