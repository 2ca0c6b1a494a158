//! Errors of this crate: each names the object, the step and the cause.

use crate::aetitle::AeTitleError;

/// Everything that can go wrong in the model: parsing, mapping, validation, store.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An AE title broke a rule of PS3.5 (AE value representation).
    #[error("AE title {value:?}: {reason}")]
    AeTitle {
        /// The value as given.
        value: String,
        /// Which rule.
        reason: AeTitleError,
    },
    /// A distinguished name did not parse (RFC 4514).
    #[error("DN {input:?}, byte {at}: {reason}")]
    Dn {
        /// The text as given.
        input: String,
        /// Byte offset of the problem.
        at: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// A search filter did not parse (RFC 4515).
    #[error("filter {input:?}, byte {at}: {reason}")]
    Filter {
        /// The text as given.
        input: String,
        /// Byte offset of the problem.
        at: usize,
        /// What was wrong.
        reason: &'static str,
    },
    /// LDIF text did not parse (RFC 2849).
    #[error("LDIF line {line}: {reason}")]
    Ldif {
        /// 1-based line number in the input.
        line: usize,
        /// What was wrong.
        reason: String,
    },
    /// An LDAP entry could not become a model object.
    #[error("entry {dn}: attribute {attribute}: {reason}")]
    Mapping {
        /// The entry's DN.
        dn: String,
        /// The attribute at fault (or `objectClass`/the RDN).
        attribute: String,
        /// What was wrong.
        reason: String,
    },
    /// A model object broke a rule of PS3.15 Annex H.
    #[error("invalid configuration: {0}")]
    Invalid(#[from] crate::validate::ValidationError),
    /// The JSON store form could not be read.
    #[error("store file: {0}")]
    Store(String),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn mapping(dn: impl ToString, attribute: &str, reason: impl Into<String>) -> Self {
        Error::Mapping {
            dn: dn.to_string(),
            attribute: attribute.to_string(),
            reason: reason.into(),
        }
    }
}
