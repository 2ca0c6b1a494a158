//! Errors: each names the server, the step and the cause. Passwords never
//! appear here (nothing in this crate formats a [`crate::Secret`]).

use std::sync::Arc;
use std::time::Duration;

/// Everything that can go wrong talking to the configuration directory.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
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
    #[error("{server}: bind as {who}: {}{}", rc_name(*.rc), detail(.text))]
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
    #[error("{server}: {step}: no answer within {} ms", .after.as_millis())]
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
    /// The server answered an operation with an unexpected result code,
    /// named by its RFC 4511 name (see [`rc_name`]).
    #[error("{server}: {step}: {}{}", rc_name(*.rc), detail(.text))]
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
    /// The server sent something that is not LDAP as RFC 4511 defines it
    /// (malformed or oversized message, a reply to no request): the
    /// connection was closed before the client library parsed it.
    #[error("{server}: {step}: the server broke the LDAP protocol: {cause}")]
    Protocol {
        /// The server URL.
        server: String,
        /// The step.
        step: String,
        /// What was wrong with the message.
        cause: String,
    },
    /// A search returned more entries than the client accepts
    /// ([`crate::ClientConfig::size_limit`]).
    #[error("{server}: {step}: more than {limit} entries")]
    TooManyEntries {
        /// The server URL.
        server: String,
        /// The step.
        step: String,
        /// The client's limit.
        limit: u32,
    },
    /// No `dicomConfigurationRoot` (with devices root and registry) was found.
    #[error("{server}: no DICOM configuration root found under {}", list(.searched))]
    NoConfigurationRoot {
        /// The server URL.
        server: String,
        /// The bases searched (naming contexts or the configured base).
        searched: Vec<String>,
    },
    /// The server sent an entry whose DN does not parse.
    // Quoted and escaped: the DN is the server's text.
    #[error("{server}: entry DN \"{}\": {reason}", .dn.escape_debug())]
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
    #[error("AE title rule \"{}\": {reason}", .rule.escape_debug())]
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
    #[error("{server}: conflict at {dn}: {detail} ({}); reload and merge again", rc_name(*.rc))]
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
    #[error("{server}: device \"{}\" already exists", .name.escape_debug())]
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
    /// The blocking facade could not start its runtime (`Arc`: this error
    /// is `Clone`).
    #[error("blocking facade: cannot start the tokio runtime: {0}")]
    Runtime(#[source] Arc<std::io::Error>),
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

/// Whether this result code says the server limited what it returned
/// (3 timeLimitExceeded, 4 sizeLimitExceeded, 11 adminLimitExceeded).
pub(crate) fn is_limit_code(rc: u32) -> bool {
    matches!(rc, 3 | 4 | 11)
}

impl Error {
    /// What an administrator can do about this error, for reports.
    pub fn action(&self) -> &'static str {
        match self {
            Error::Config(_) => "fix the LDAP settings",
            Error::Connect { .. } | Error::AllServersFailed(_) | Error::Connection { .. } => {
                "check the network path to the LDAP server and its TLS certificate"
            }
            Error::Timeout { .. } => {
                "check that the LDAP server answers; raise the LDAP deadline if it is slow"
            }
            Error::Bind { rc: 49, .. } => "check the bind DN and its password",
            Error::Bind { rc: 8 | 13, .. } => "connect with TLS (ldaps:// or StartTLS)",
            Error::Bind { .. } => "check the bind DN and the server's bind policy",
            Error::Ldap { rc, .. } if is_limit_code(*rc) => {
                "raise the size and time limits for this bind DN on the LDAP server (olcLimits), or allow paged results"
            }
            Error::Ldap { rc: 50, .. } => {
                "grant this bind DN read access to the DICOM configuration (ACL)"
            }
            Error::Ldap { rc: 8 | 13, .. } => "connect with TLS (ldaps:// or StartTLS)",
            Error::Ldap { rc: 10, .. } => {
                "point the device at the server that holds the configuration, or allow referrals"
            }
            Error::Ldap { rc: 51 | 52, .. } => {
                "retry later: the LDAP server is busy or unavailable"
            }
            Error::Ldap { .. } | Error::BadEntry { .. } | Error::Model(_) => {
                "check the DICOM configuration entries on the LDAP server"
            }
            Error::Protocol { .. } => {
                "check that the URL points at an LDAP server (and that nothing intercepts it)"
            }
            Error::TooManyEntries { .. } => {
                "check the DICOM configuration for an unexpectedly large device"
            }
            Error::NoConfigurationRoot { .. } => {
                "create the DICOM configuration root on the LDAP server, or set the base DN"
            }
            Error::TitleRule { .. } | Error::Invalid(_) => "fix the device description",
            Error::TitlesExhausted { .. } => {
                "free AE titles in the registry or change the title rule"
            }
            Error::Conflict { .. } => "reload and merge again",
            Error::DeviceExists { .. } => "choose another device name or remove the old device",
            Error::Journal { .. } => "check the store directory",
            Error::DuplicateAeTitle { .. } => {
                "give each AE its own title: the same title on several devices makes callers reach the wrong one"
            }
            Error::TitleTaken { .. } => "choose another AE title, or free it in the registry",
            Error::Runtime(_) => "check the process's limits on threads and open files",
        }
    }
}

/// The RFC 4511 name of an LDAP result code (and the number, for codes
/// the RFC does not name).
pub fn rc_name(rc: u32) -> String {
    let name = match rc {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        5 => "compareFalse",
        6 => "compareTrue",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        12 => "unavailableCriticalExtension",
        13 => "confidentialityRequired",
        14 => "saslBindInProgress",
        16 => "noSuchAttribute",
        17 => "undefinedAttributeType",
        18 => "inappropriateMatching",
        19 => "constraintViolation",
        20 => "attributeOrValueExists",
        21 => "invalidAttributeSyntax",
        32 => "noSuchObject",
        33 => "aliasProblem",
        34 => "invalidDNSyntax",
        36 => "aliasDereferencingProblem",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        54 => "loopDetect",
        64 => "namingViolation",
        65 => "objectClassViolation",
        66 => "notAllowedOnNonLeaf",
        67 => "notAllowedOnRDN",
        68 => "entryAlreadyExists",
        69 => "objectClassModsProhibited",
        71 => "affectsMultipleDSAs",
        80 => "other",
        _ => return format!("LDAP result {rc}"),
    };
    format!("{name} ({rc})")
}

/// A server's answer for messages: the code's RFC 4511 name, and the
/// server's diagnostic text when it sent one.
pub fn result_text(rc: u32, text: &str) -> String {
    format!("{}{}", rc_name(rc), detail(text))
}

/// The bases searched, for a message: `"a", "b"`, or "no base" when none.
fn list(bases: &[String]) -> String {
    if bases.is_empty() {
        return "no base".to_string();
    }
    bases
        .iter()
        .map(|b| format!("\"{}\"", b.escape_debug()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn detail(text: &str) -> String {
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

/// Result codes that mean "this server will not take this write".
pub(crate) fn is_refusal_code(rc: u32) -> bool {
    matches!(rc, 10 | 50 | 53)
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_codes_are_named_with_a_fitting_action() {
        let e = Error::Ldap {
            server: "ldap://s".into(),
            step: "load device x".into(),
            rc: 4,
            text: String::new(),
        };
        assert_eq!(
            e.to_string(),
            "ldap://s: load device x: sizeLimitExceeded (4)"
        );
        assert!(e.action().contains("olcLimits"), "{}", e.action());
        let e = Error::Ldap {
            server: "ldap://s".into(),
            step: "load".into(),
            rc: 50,
            text: " no read access ".into(),
        };
        assert_eq!(
            e.to_string(),
            "ldap://s: load: insufficientAccessRights (50): no read access"
        );
        assert!(e.action().contains("read access"));
        assert_eq!(rc_name(8), "strongerAuthRequired (8)");
        assert_eq!(rc_name(4242), "LDAP result 4242");
        for rc in 0..200 {
            assert!(!rc_name(rc).contains("()"));
        }
    }
}
