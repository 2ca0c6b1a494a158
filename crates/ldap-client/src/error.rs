//! Errors: each names the server, the step and the cause. Passwords never
//! appear here (nothing in this crate formats a [`crate::Secret`]).

use std::time::Duration;

/// Everything that can go wrong talking to the configuration directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The client configuration itself is unusable (no servers, bad URL, bad CA file).
    #[error("LDAP client configuration: {0}")]
    Config(String),
    /// A TCP, TLS or StartTLS connection could not be made.
    #[error("{server}: connect: {cause}")]
    Connect {
        /// The server URL.
        server: String,
        /// What failed.
        cause: String,
    },
    /// The server refused the bind.
    #[error("{server}: bind as {who}: result code {rc} ({text})")]
    Bind {
        /// The server URL.
        server: String,
        /// The bind DN, or "anonymous".
        who: String,
        /// LDAP result code (49 = invalidCredentials).
        rc: u32,
        /// The server's diagnostic text.
        text: String,
    },
    /// No server of the list could be used; each attempt's error in order.
    #[error("no LDAP server reachable: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    AllServersFailed(Vec<Error>),
    /// An operation did not complete within the configured time.
    #[error("{server}: {step}: no answer within {after:?}")]
    Timeout {
        /// The server URL.
        server: String,
        /// The step that timed out.
        step: String,
        /// The configured limit.
        after: Duration,
    },
    /// The connection broke during an operation (and a reconnect did not help).
    #[error("{server}: {step}: connection lost: {cause}")]
    Connection {
        /// The server URL.
        server: String,
        /// The step.
        step: String,
        /// What the transport said.
        cause: String,
    },
    /// The server answered an operation with an unexpected result code.
    #[error("{server}: {step}: result code {rc} ({text})")]
    Ldap {
        /// The server URL.
        server: String,
        /// The step, e.g. "search cn=Devices,…".
        step: String,
        /// LDAP result code.
        rc: u32,
        /// The server's diagnostic text.
        text: String,
    },
    /// No `dicomConfigurationRoot` (with devices root and registry) was found.
    #[error("{server}: no DICOM configuration root found under {searched:?}")]
    NoConfigurationRoot {
        /// The server URL.
        server: String,
        /// The bases searched (naming contexts or the configured base).
        searched: Vec<String>,
    },
    /// The server sent an entry whose DN does not parse.
    #[error("{server}: entry DN {dn:?}: {reason}")]
    BadEntry {
        /// The server URL.
        server: String,
        /// The DN as sent.
        dn: String,
        /// What was wrong.
        reason: String,
    },
    /// A value given by the caller (or found in the directory) broke a rule
    /// of the model: an AE title, a DN, a mapping.
    #[error("{0}")]
    Model(#[from] annexr_model::Error),
    /// A structured or random allocation rule cannot make valid AE titles.
    #[error("AE title rule {rule:?}: {reason}")]
    TitleRule {
        /// The rule as given.
        rule: String,
        /// Why it cannot work.
        reason: String,
    },
    /// The description given by the caller is inconsistent.
    #[error("invalid device description: {0}")]
    Invalid(String),
    /// Every candidate of the allocation policy was taken.
    #[error("{server}: no free AE title: {tried} candidates taken")]
    TitlesExhausted {
        /// The server URL.
        server: String,
        /// How many candidates were tried.
        tried: usize,
    },
    /// The stored configuration changed since it was read: someone else edited
    /// it in between. Nothing of that edit was overwritten.
    #[error("{server}: conflict at {dn}: {detail} (result code {rc}); reload and merge again")]
    Conflict {
        /// The server URL.
        server: String,
        /// The entry whose modification failed.
        dn: String,
        /// What was expected.
        detail: String,
        /// LDAP result code (16 noSuchAttribute, 20 attributeOrValueExists, 32, 68, 66…).
        rc: u32,
    },
    /// A device of that name exists and does not belong to this install.
    #[error("{server}: device {name:?} already exists")]
    DeviceExists {
        /// The server URL.
        server: String,
        /// The device name.
        name: String,
    },
    /// The install journal could not be read or written.
    #[error("install journal {path}: {cause}")]
    Journal {
        /// The journal file.
        path: String,
        /// What failed.
        cause: String,
    },
    /// Several AEs in the Devices tree carry the same title: which one is
    /// meant cannot be decided, so none is handed out.
    #[error("AE title {title} is used by {} AEs (devices {}); fix the duplicate in LDAP", devices.len(), devices.join(", "))]
    DuplicateAeTitle {
        /// The title.
        title: String,
        /// The devices (DNs) whose AEs carry it.
        devices: Vec<String>,
    },
    /// An update would give an AE a title that another device holds (in the
    /// registry or on one of its AEs). Nothing was written.
    #[error("AE title {title} is taken; choose another title")]
    TitleTaken {
        /// The title.
        title: String,
    },
}

impl Error {
    /// Builds [`Error::Ldap`] from a result.
    pub(crate) fn ldap(server: &str, step: impl Into<String>, r: &ldap3::LdapResult) -> Self {
        Error::Ldap {
            server: server.to_string(),
            step: step.into(),
            rc: r.rc,
            text: r.text.clone(),
        }
    }

    /// The LDAP result code, when the server gave one.
    pub fn result_code(&self) -> Option<u32> {
        match self {
            Error::Bind { rc, .. } | Error::Ldap { rc, .. } | Error::Conflict { rc, .. } => {
                Some(*rc)
            }
            _ => None,
        }
    }

    /// True when the server refused a write for lack of rights or policy
    /// (50 insufficientAccessRights, 53 unwillingToPerform, 10 referral):
    /// the LDIF fallback of R.1.2.3 applies.
    pub fn is_write_refusal(&self) -> bool {
        matches!(self, Error::Ldap { rc, .. } if is_refusal_code(*rc))
    }
}

/// Result codes that mean "this server will not take this write".
pub(crate) fn is_refusal_code(rc: u32) -> bool {
    matches!(rc, 10 | 50 | 53)
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
