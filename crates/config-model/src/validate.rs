//! Validation of a device description against the rules of PS3.15 Annex H and
//! PS3.5: ports, host names, UIDs, IA5 values and references between objects.

use std::collections::HashSet;

use crate::model::{Device, NetworkAe};
use crate::{AeTitle, schema::attr};

/// One broken rule, naming the object and the attribute.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValidationError {
    /// The device name is empty.
    #[error("device name is empty")]
    DeviceName,
    /// Port 0 (valid ports are 1–65535).
    #[error("connection {connection:?}: port 0 is not a valid port (1–65535)")]
    Port {
        /// Connection name.
        connection: String,
    },
    /// Not a host name (RFC 1123) nor an IPv4/IPv6 literal.
    #[error("connection {connection:?}: {hostname:?} is neither a host name nor an IP address")]
    Hostname {
        /// Connection name.
        connection: String,
        /// The value.
        hostname: String,
    },
    /// Two connections share a name.
    #[error("device {device:?}: connection name {connection:?} used twice")]
    DuplicateConnection {
        /// Device name.
        device: String,
        /// Connection name.
        connection: String,
    },
    /// Two AEs of the device share a title.
    #[error("device {device:?}: AE title {ae} used twice")]
    DuplicateAeTitle {
        /// Device name.
        device: String,
        /// The title.
        ae: AeTitle,
    },
    /// An AE references no connection (the attribute is mandatory).
    #[error("AE {ae}: no network connection referenced")]
    NoConnection {
        /// The AE.
        ae: AeTitle,
    },
    /// An AE references a connection the device does not have.
    #[error("AE {ae}: references connection {connection:?}, which device {device:?} does not have")]
    UnknownConnection {
        /// The AE.
        ae: AeTitle,
        /// The missing name.
        connection: String,
        /// Device name.
        device: String,
    },
    /// A value that must be a UID is not one (PS3.5 9.1).
    #[error("{object}: {attribute} {value:?} is not a valid UID")]
    Uid {
        /// Which object (`device X`, `AE Y/transfer capability Z`).
        object: String,
        /// The attribute.
        attribute: &'static str,
        /// The value.
        value: String,
    },
    /// A transfer capability with no transfer syntax.
    #[error("AE {ae}: transfer capability {name:?} has no transfer syntax")]
    NoTransferSyntax {
        /// The AE.
        ae: AeTitle,
        /// Transfer capability name.
        name: String,
    },
    /// Two transfer capabilities of an AE share a name.
    #[error("AE {ae}: transfer capability name {name:?} used twice")]
    DuplicateTransferCapability {
        /// The AE.
        ae: AeTitle,
        /// The name.
        name: String,
    },
    /// A value of an IA5String attribute is not ASCII.
    #[error("{object}: {attribute} {value:?} is not an IA5 (ASCII) string")]
    NotIa5 {
        /// Which object.
        object: String,
        /// The attribute.
        attribute: &'static str,
        /// The value.
        value: String,
    },
    /// An empty name where the entry's RDN needs one.
    #[error("{object}: empty name")]
    EmptyName {
        /// Which object.
        object: String,
    },
}

/// Whether `s` is a DICOM UID: 1–64 characters, numeric components separated by
/// dots, no leading zeros in a component other than `0` itself.
pub fn is_valid_uid(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.split('.').all(|c| {
            !c.is_empty()
                && c.bytes().all(|b| b.is_ascii_digit())
                && (c == "0" || !c.starts_with('0'))
        })
}

/// Whether `s` is an RFC 1123 host name (optionally fully qualified with a trailing
/// dot) or an IPv4/IPv6 literal.
pub fn is_valid_hostname(s: &str) -> bool {
    if s.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

impl Device {
    /// Every rule the description breaks (empty when valid).
    pub fn problems(&self) -> Vec<ValidationError> {
        use ValidationError as V;
        let mut out = Vec::new();
        let dev = format!("device {:?}", self.name);
        if self.name.trim().is_empty() {
            out.push(V::DeviceName);
        }
        if let Some(uid) = self.device_uid.as_ref().filter(|u| !is_valid_uid(u)) {
            out.push(V::Uid {
                object: dev.clone(),
                attribute: attr::DEVICE_UID,
                value: uid.clone(),
            });
        }
        ia5(
            &mut out,
            &dev,
            attr::PRIMARY_DEVICE_TYPE,
            &self.primary_device_types,
        );
        let mut names = HashSet::new();
        for c in &self.connections {
            if c.name.is_empty() {
                out.push(V::EmptyName {
                    object: format!("{dev} connection"),
                });
            }
            if !names.insert(c.name.to_lowercase()) {
                out.push(V::DuplicateConnection {
                    device: self.name.clone(),
                    connection: c.name.clone(),
                });
            }
            if c.port == Some(0) {
                out.push(V::Port {
                    connection: c.name.clone(),
                });
            }
            if !is_valid_hostname(&c.hostname) {
                out.push(V::Hostname {
                    connection: c.name.clone(),
                    hostname: c.hostname.clone(),
                });
            }
            ia5(
                &mut out,
                &format!("connection {:?}", c.name),
                attr::TLS_CIPHER_SUITE,
                &c.tls_cipher_suites,
            );
        }
        let mut titles = HashSet::new();
        for ae in &self.network_aes {
            if !titles.insert(&ae.ae_title) {
                out.push(V::DuplicateAeTitle {
                    device: self.name.clone(),
                    ae: ae.ae_title.clone(),
                });
            }
            self.ae_problems(ae, &mut out);
        }
        out
    }

    fn ae_problems(&self, ae: &NetworkAe, out: &mut Vec<ValidationError>) {
        use ValidationError as V;
        if ae.connections.is_empty() {
            out.push(V::NoConnection {
                ae: ae.ae_title.clone(),
            });
        }
        for c in &ae.connections {
            if self.connection(c).is_none() {
                out.push(V::UnknownConnection {
                    ae: ae.ae_title.clone(),
                    connection: c.clone(),
                    device: self.name.clone(),
                });
            }
        }
        ia5(
            out,
            &format!("AE {}", ae.ae_title),
            attr::SUPPORTED_CHARACTER_SET,
            &ae.supported_character_sets,
        );
        let mut names = HashSet::new();
        for tc in &ae.transfer_capabilities {
            let object = format!("AE {}/transfer capability {:?}", ae.ae_title, tc.name);
            if tc.name.is_empty() {
                out.push(V::EmptyName {
                    object: object.clone(),
                });
            }
            if !names.insert(tc.name.to_lowercase()) {
                out.push(V::DuplicateTransferCapability {
                    ae: ae.ae_title.clone(),
                    name: tc.name.clone(),
                });
            }
            if !is_valid_uid(&tc.sop_class) {
                out.push(V::Uid {
                    object: object.clone(),
                    attribute: attr::SOP_CLASS,
                    value: tc.sop_class.clone(),
                });
            }
            if tc.transfer_syntaxes.is_empty() {
                out.push(V::NoTransferSyntax {
                    ae: ae.ae_title.clone(),
                    name: tc.name.clone(),
                });
            }
            for ts in tc.transfer_syntaxes.iter().filter(|ts| !is_valid_uid(ts)) {
                out.push(V::Uid {
                    object: object.clone(),
                    attribute: attr::TRANSFER_SYNTAX,
                    value: ts.clone(),
                });
            }
        }
    }

    /// `Ok` when the description breaks no rule, else the first broken rule.
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.problems().into_iter().next().map_or(Ok(()), Err)
    }
}

fn ia5(out: &mut Vec<ValidationError>, object: &str, attribute: &'static str, values: &[String]) {
    for v in values.iter().filter(|v| !v.is_ascii()) {
        out.push(ValidationError::NotIa5 {
            object: object.to_string(),
            attribute,
            value: v.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;

    fn aet(s: &str) -> AeTitle {
        AeTitle::new(s).unwrap()
    }

    #[test]
    fn uids_and_hosts() {
        assert!(is_valid_uid("1.2.840.10008.1.1"));
        assert!(is_valid_uid("1.2.0.3"));
        assert!(!is_valid_uid("1.02.3"));
        assert!(!is_valid_uid("1..3"));
        assert!(!is_valid_uid("1.2.a"));
        assert!(!is_valid_uid(
            &"1.".repeat(32).trim_end_matches('.').replace('1', "12")
        ));
        assert!(is_valid_hostname("pacs.example.org"));
        assert!(is_valid_hostname("pacs.example.org."));
        assert!(is_valid_hostname("127.0.0.1"));
        assert!(is_valid_hostname("::1"));
        assert!(is_valid_hostname("fe80::1"));
        assert!(!is_valid_hostname("-bad.example"));
        assert!(!is_valid_hostname("a..b"));
        assert!(!is_valid_hostname("white space"));
        assert!(!is_valid_hostname(""));
    }

    #[test]
    fn references_and_inheritance() {
        let d = Device::new("ct-1")
            .installed(false)
            .with_connection(NetworkConnection::new(
                "dicom",
                "ct1.example.org",
                Some(104),
            ))
            .with_connection(NetworkConnection::new("bad", "no such host", Some(0)).installed(true))
            .with_ae(
                NetworkAe::new(aet("CT1"))
                    .with_connection("DICOM")
                    .roles(true, true),
            )
            .with_ae(
                NetworkAe::new(aet("CT1"))
                    .with_connection("missing")
                    .with_transfer_capability(TransferCapability::new(
                        "x",
                        "1.2.x",
                        TransferRole::Scu,
                        Vec::<String>::new(),
                    )),
            );
        let p = d.problems();
        assert!(
            p.contains(&ValidationError::Port {
                connection: "bad".into()
            }),
            "{p:?}"
        );
        assert!(
            p.iter()
                .any(|e| matches!(e, ValidationError::Hostname { .. }))
        );
        assert!(
            p.iter()
                .any(|e| matches!(e, ValidationError::DuplicateAeTitle { .. }))
        );
        assert!(p.iter().any(|e| matches!(e, ValidationError::UnknownConnection { connection, .. } if connection == "missing")));
        assert!(
            p.iter()
                .any(|e| matches!(e, ValidationError::Uid { value, .. } if value == "1.2.x"))
        );
        assert!(
            p.iter()
                .any(|e| matches!(e, ValidationError::NoTransferSyntax { .. }))
        );
        assert_eq!(p.len(), 6, "{p:?}");
        assert!(!d.network_aes[0].effective_installed(&d));
        // One rule everywhere (R.5.2): the device's FALSE wins over a TRUE.
        assert!(!d.connections[1].effective_installed(&d));
        assert!(!d.connections[0].effective_installed(&d));
        assert_eq!(
            d.network_aes[0].connections_in(&d).count(),
            1,
            "cn compares without case"
        );
        let ok = Device::new("ok")
            .with_connection(NetworkConnection::new("dicom", "10.0.0.1", Some(11112)))
            .with_ae(
                NetworkAe::new(aet("OK"))
                    .with_connection("dicom")
                    .with_transfer_capability(TransferCapability::verification(TransferRole::Scp)),
            );
        assert_eq!(ok.validate(), Ok(()));
    }
}
