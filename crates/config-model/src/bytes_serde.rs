//! JSON form of byte values: a string when the bytes are UTF-8 text, else
//! `{"base64": "…"}`, so store files stay readable and lossless.

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::entry::b64;

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum Repr {
    Text(String),
    Binary { base64: String },
}

fn to_repr(v: &[u8]) -> Repr {
    match std::str::from_utf8(v) {
        Ok(s) => Repr::Text(s.to_string()),
        Err(_) => Repr::Binary {
            base64: b64().encode(v),
        },
    }
}

fn from_repr<E: serde::de::Error>(r: Repr) -> Result<Vec<u8>, E> {
    match r {
        Repr::Text(s) => Ok(s.into_bytes()),
        Repr::Binary { base64 } => b64().decode(base64).map_err(E::custom),
    }
}

/// `Vec<Vec<u8>>` as a list of values.
pub mod list {
    use super::*;

    /// Serialize.
    pub fn serialize<S: Serializer>(v: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|b| to_repr(b)))
    }

    /// Deserialize.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        Vec::<Repr>::deserialize(d)?
            .into_iter()
            .map(from_repr)
            .collect()
    }
}
