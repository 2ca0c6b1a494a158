//! AE titles (PS3.5 value representation AE).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Error;

/// Why a string is not an AE title.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AeTitleError {
    /// Nothing but spaces (or nothing at all).
    #[error("empty or all spaces")]
    Empty,
    /// More than 16 significant characters.
    #[error("{0} significant characters, at most 16 allowed")]
    TooLong(usize),
    /// Backslash, a control character or a character outside the default repertoire.
    #[error(
        "character {0:?} not allowed (default repertoire without backslash and control characters)"
    )]
    Character(char),
}

/// A valid AE title: 1–16 characters of the default repertoire, no backslash or
/// control characters, not all spaces. Leading and trailing spaces are not
/// significant, so they are removed; two titles that differ only in padding are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AeTitle(String);

impl AeTitle {
    /// Validates `s` and keeps its significant part.
    pub fn new(s: &str) -> Result<Self, Error> {
        Self::check(s)
            .map(|t| AeTitle(t.to_string()))
            .map_err(|reason| Error::AeTitle {
                value: s.to_string(),
                reason,
            })
    }

    /// The rule `s` breaks, if any; on success the significant (trimmed) part.
    pub fn check(s: &str) -> Result<&str, AeTitleError> {
        if let Some(c) = s.chars().find(|c| !(' '..='~').contains(c) || *c == '\\') {
            return Err(AeTitleError::Character(c));
        }
        let t = s.trim_matches(' ');
        match t.len() {
            0 => Err(AeTitleError::Empty),
            n if n > 16 => Err(AeTitleError::TooLong(n)),
            _ => Ok(t),
        }
    }

    /// The title without padding.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The title space-padded to 16 bytes, as it appears in an A-ASSOCIATE PDU.
    pub fn padded(&self) -> String {
        format!("{:<16}", self.0)
    }
}

impl fmt::Display for AeTitle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for AeTitle {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        AeTitle::new(s)
    }
}

impl TryFrom<String> for AeTitle {
    type Error = Error;
    fn try_from(s: String) -> Result<Self, Error> {
        AeTitle::new(&s)
    }
}

impl TryFrom<&str> for AeTitle {
    type Error = Error;
    fn try_from(s: &str) -> Result<Self, Error> {
        AeTitle::new(s)
    }
}

impl From<AeTitle> for String {
    fn from(a: AeTitle) -> String {
        a.0
    }
}

impl AsRef<str> for AeTitle {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for AeTitle {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.trim_matches(' ')
    }
}

impl PartialEq<&str> for AeTitle {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_of_ps3_5() {
        assert_eq!(AeTitle::new("  STORESCP ").unwrap().as_str(), "STORESCP");
        assert_eq!(AeTitle::new("ABCDEFGHIJKLMNOP").unwrap().padded().len(), 16);
        assert_eq!(
            AeTitle::new(" ABCDEFGHIJKLMNOP ").unwrap().as_str(),
            "ABCDEFGHIJKLMNOP"
        );
        assert_eq!(
            AeTitle::check("ABCDEFGHIJKLMNOPQ"),
            Err(AeTitleError::TooLong(17))
        );
        assert_eq!(AeTitle::check("    "), Err(AeTitleError::Empty));
        assert_eq!(AeTitle::check(""), Err(AeTitleError::Empty));
        assert_eq!(AeTitle::check("A\\B"), Err(AeTitleError::Character('\\')));
        assert_eq!(AeTitle::check("A\nB"), Err(AeTitleError::Character('\n')));
        assert_eq!(
            AeTitle::check("A\u{1b}B"),
            Err(AeTitleError::Character('\u{1b}'))
        );
        assert_eq!(AeTitle::check("ÄRZT"), Err(AeTitleError::Character('Ä')));
        assert!(
            AeTitle::new("a b*)(=,+").is_ok(),
            "spaces inside and specials are allowed"
        );
        assert_eq!(AeTitle::new("CT1").unwrap(), "CT1 ");
        let json = serde_json::to_string(&AeTitle::new("CT1").unwrap()).unwrap();
        assert_eq!(json, "\"CT1\"");
        assert!(serde_json::from_str::<AeTitle>("\"A\\\\B\"").is_err());
    }
}
