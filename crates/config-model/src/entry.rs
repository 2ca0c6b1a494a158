//! The neutral LDAP entry: a DN and attributes whose values are bytes.
//!
//! This is what the LDAP client, the LDIF reader/writer and the model mapping
//! exchange. Attribute names compare without regard to case, as in LDAP; the
//! spelling first seen is kept for writing back.

use serde::{Deserialize, Serialize};

use crate::{Dn, schema};

/// One attribute (name with options, e.g. `userCertificate;binary`) and its values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    /// Attribute description as written.
    pub name: String,
    /// Values, in the order received.
    #[serde(with = "crate::bytes_serde::list")]
    pub values: Vec<Vec<u8>>,
}

/// A DN plus attributes; attribute order is kept.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LdapEntry {
    /// The entry's DN.
    pub dn: Dn,
    /// Attributes, in order, names unique without regard to case.
    pub attributes: Vec<Attribute>,
}

impl LdapEntry {
    /// An entry with no attributes.
    pub fn new(dn: Dn) -> Self {
        LdapEntry {
            dn,
            attributes: Vec::new(),
        }
    }

    /// The attribute `name` (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&Attribute> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// The values of `name`, empty if absent.
    pub fn values(&self, name: &str) -> &[Vec<u8>] {
        self.get(name).map_or(&[], |a| a.values.as_slice())
    }

    /// The values of `name` that are UTF-8, as strings.
    pub fn strings(&self, name: &str) -> impl Iterator<Item = &str> {
        self.values(name)
            .iter()
            .filter_map(|v| std::str::from_utf8(v).ok())
    }

    /// The first value of `name` as a string, if present and UTF-8.
    pub fn first(&self, name: &str) -> Option<&str> {
        self.values(name)
            .first()
            .and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Whether `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Adds one value to `name`, creating the attribute if needed.
    pub fn push(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        let value = value.into();
        match self
            .attributes
            .iter_mut()
            .find(|a| a.name.eq_ignore_ascii_case(name))
        {
            Some(a) => a.values.push(value),
            None => self.attributes.push(Attribute {
                name: name.to_string(),
                values: vec![value],
            }),
        }
    }

    /// Adds every value of `values` to `name` (nothing when empty).
    pub fn extend<V: Into<Vec<u8>>>(&mut self, name: &str, values: impl IntoIterator<Item = V>) {
        for v in values {
            self.push(name, v);
        }
    }

    /// Builder form of [`LdapEntry::push`].
    pub fn with(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.push(name, value);
        self
    }

    /// Removes `name`, returning it.
    pub fn remove(&mut self, name: &str) -> Option<Attribute> {
        let i = self
            .attributes
            .iter()
            .position(|a| a.name.eq_ignore_ascii_case(name))?;
        Some(self.attributes.remove(i))
    }

    /// The `objectClass` values.
    pub fn object_classes(&self) -> impl Iterator<Item = &str> {
        self.strings(schema::attr::OBJECT_CLASS)
    }

    /// Whether the entry has object class `oc` (case-insensitive).
    pub fn has_object_class(&self, oc: &str) -> bool {
        self.object_classes().any(|c| c.eq_ignore_ascii_case(oc))
    }
}

/// Base64 with the standard alphabet, as LDIF and the JSON store use it.
pub(crate) fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ignore_case() {
        let mut e = LdapEntry::new(Dn::parse("cn=x").unwrap())
            .with("objectClass", "dicomDevice")
            .with("OBJECTCLASS", "dcmDevice")
            .with("userCertificate;binary", vec![0x30u8, 0x82, 0xff]);
        assert_eq!(e.values("objectclass").len(), 2);
        assert_eq!(e.attributes.len(), 2);
        assert!(e.has_object_class("DCMDEVICE"));
        assert_eq!(
            e.values("USERCERTIFICATE;BINARY"),
            &[vec![0x30u8, 0x82, 0xff]]
        );
        assert_eq!(e.first("objectClass"), Some("dicomDevice"));
        assert!(e.remove("objectclass").is_some());
        assert!(!e.has("objectClass"));
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            r#"{"dn":"cn=x","attributes":[{"name":"userCertificate;binary","values":[{"base64":"MIL/"}]}]}"#
        );
        assert_eq!(serde_json::from_str::<LdapEntry>(&json).unwrap(), e);
    }
}
