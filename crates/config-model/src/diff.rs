//! Differences between two descriptions of one device (what the device holds
//! locally versus what LDAP holds), and the LDAP operations that apply them.
//!
//! The comparison runs on the LDAP entries of both sides, so every attribute,
//! including kept vendor extensions, is covered; multi-valued attributes compare as
//! multisets because LDAP does not order values.

use std::fmt;

use crate::ldif::{LdifRecord, ModOp, Modification};
use crate::mapping::Layout;
use crate::model::Device;
use crate::schema::{self, attr};
use crate::{AeTitle, Dn, LdapEntry};

/// Which object of the device a change is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ObjectRef {
    /// The device entry.
    Device,
    /// A network connection, by name.
    Connection(String),
    /// A Network AE.
    Ae(AeTitle),
    /// A transfer capability of an AE.
    TransferCapability {
        /// The AE.
        ae: AeTitle,
        /// Transfer capability name.
        name: String,
    },
    /// An entry the model does not know, by DN relative to the device.
    Other(Dn),
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ObjectRef::Device => f.write_str("device"),
            ObjectRef::Connection(n) => write!(f, "connection {n:?}"),
            ObjectRef::Ae(a) => write!(f, "AE {a}"),
            ObjectRef::TransferCapability { ae, name } => {
                write!(f, "AE {ae} transfer capability {name:?}")
            }
            ObjectRef::Other(dn) => write!(f, "entry {dn}"),
        }
    }
}

/// One difference, stated as what must happen to the old side to become the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// The object exists only on the new side.
    Added {
        /// Which object.
        object: ObjectRef,
        /// Its entry.
        entry: LdapEntry,
    },
    /// The object exists only on the old side.
    Removed {
        /// Which object.
        object: ObjectRef,
        /// Its DN.
        dn: Dn,
    },
    /// An attribute's values differ.
    Modified {
        /// Which object.
        object: ObjectRef,
        /// Its DN.
        dn: Dn,
        /// Attribute name.
        attribute: String,
        /// Values on the old side.
        old: Vec<Vec<u8>>,
        /// Values on the new side.
        new: Vec<Vec<u8>>,
    },
}

impl Change {
    /// The object the change is about.
    pub fn object(&self) -> &ObjectRef {
        match self {
            Change::Added { object, .. }
            | Change::Removed { object, .. }
            | Change::Modified { object, .. } => object,
        }
    }
}

fn show(values: &[Vec<u8>]) -> String {
    let v: Vec<String> = values
        .iter()
        .map(|v| match std::str::from_utf8(v) {
            Ok(s) => s.to_string(),
            Err(_) => format!("<{} bytes>", v.len()),
        })
        .collect();
    if v.is_empty() {
        "(none)".into()
    } else {
        v.join(", ")
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Added { object, .. } => write!(f, "add {object}"),
            Change::Removed { object, .. } => write!(f, "remove {object}"),
            Change::Modified {
                object,
                attribute,
                old,
                new,
                ..
            } => {
                write!(f, "{object}: {attribute} {} -> {}", show(old), show(new))
            }
        }
    }
}

fn object_ref(dn: &Dn, device_dn: &Dn) -> ObjectRef {
    let Some(rel) = dn.relative_to(device_dn) else {
        return ObjectRef::Other(dn.clone());
    };
    let aet = |r: &crate::Rdn| r.get(attr::AE_TITLE).and_then(|v| AeTitle::new(v).ok());
    match rel.rdns() {
        [] => ObjectRef::Device,
        [r] if r.get(attr::CN).is_some() => ObjectRef::Connection(r.value().to_string()),
        [r] => aet(r).map_or_else(|| ObjectRef::Other(rel.clone()), ObjectRef::Ae),
        [tc, ae] => match (aet(ae), tc.get(attr::CN)) {
            (Some(ae), Some(name)) => ObjectRef::TransferCapability {
                ae,
                name: name.to_string(),
            },
            _ => ObjectRef::Other(rel.clone()),
        },
        _ => ObjectRef::Other(rel.clone()),
    }
}

fn same_values(a: &[Vec<u8>], b: &[Vec<u8>]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort();
    b.sort();
    a == b
}

/// The changes that turn `old` into `new`, both placed in `layout`.
///
/// Typical use: `old` is what LDAP holds, `new` what the device holds locally;
/// [`operations`] then gives the LDAP requests that update the directory.
pub fn diff(old: &Device, new: &Device, layout: &Layout) -> Vec<Change> {
    let device_dn = new.dn(layout);
    let old_entries = old.to_entries(layout);
    let new_entries = new.to_entries(layout);
    let key = |e: &LdapEntry| e.dn.normalized();
    let old_keys: Vec<String> = old_entries.iter().map(key).collect();
    let mut out = Vec::new();
    for n in &new_entries {
        let object = object_ref(&n.dn, &device_dn);
        let Some(i) = old_keys.iter().position(|k| *k == key(n)) else {
            out.push(Change::Added {
                object,
                entry: n.clone(),
            });
            continue;
        };
        let o = &old_entries[i];
        let mut names: Vec<&str> = n.attributes.iter().map(|a| a.name.as_str()).collect();
        names.extend(
            o.attributes
                .iter()
                .map(|a| a.name.as_str())
                .filter(|x| !n.has(x)),
        );
        for name in names {
            let (ov, nv) = (o.values(name), n.values(name));
            if !same_values(ov, nv) {
                out.push(Change::Modified {
                    object: object.clone(),
                    dn: n.dn.clone(),
                    attribute: name.to_string(),
                    old: ov.to_vec(),
                    new: nv.to_vec(),
                });
            }
        }
    }
    let new_keys: Vec<String> = new_entries.iter().map(key).collect();
    for (o, k) in old_entries.iter().zip(&old_keys) {
        if !new_keys.contains(k) {
            out.push(Change::Removed {
                object: object_ref(&o.dn, &old.dn(layout)),
                dn: o.dn.clone(),
            });
        }
    }
    out
}

/// How [`operations`] writes attribute changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ModifyStyle {
    /// `replace` with the new values: last writer wins.
    Replace,
    /// `delete` the old values then `add` the new ones in one modify request: the
    /// server rejects it (noSuchAttribute, 16) if someone changed the values since
    /// they were read, so a concurrent edit is never silently overwritten.
    /// Attributes without an equality rule (vendor data, unknown ones) fall back to replace.
    #[default]
    Guarded,
}

/// The LDAP requests, as LDIF change records, that apply `changes`: adds parent
/// first, then one modify per entry, then deletes children first.
pub fn operations(changes: &[Change], style: ModifyStyle) -> Vec<LdifRecord> {
    let mut adds: Vec<&LdapEntry> = Vec::new();
    let mut modifies: Vec<(Dn, Vec<Modification>)> = Vec::new();
    let mut deletes: Vec<&Dn> = Vec::new();
    for c in changes {
        match c {
            Change::Added { entry, .. } => adds.push(entry),
            Change::Removed { dn, .. } => deletes.push(dn),
            Change::Modified {
                dn,
                attribute,
                old,
                new,
                ..
            } => {
                let mods = match modifies.iter_mut().find(|(d, _)| d == dn) {
                    Some((_, m)) => m,
                    None => {
                        modifies.push((dn.clone(), Vec::new()));
                        match modifies.last_mut() {
                            Some((_, m)) => m,
                            None => continue,
                        }
                    }
                };
                let guarded = style == ModifyStyle::Guarded
                    && schema::attribute_type(attribute)
                        .is_some_and(|t| t.equality.rule().is_some());
                if guarded && !old.is_empty() {
                    mods.push(Modification::new(
                        ModOp::Delete,
                        attribute,
                        old.iter().cloned(),
                    ));
                    if !new.is_empty() {
                        mods.push(Modification::new(
                            ModOp::Add,
                            attribute,
                            new.iter().cloned(),
                        ));
                    }
                } else {
                    mods.push(Modification::new(
                        ModOp::Replace,
                        attribute,
                        new.iter().cloned(),
                    ));
                }
            }
        }
    }
    adds.sort_by_key(|e| e.dn.len());
    deletes.sort_by_key(|d| std::cmp::Reverse(d.len()));
    let mut out: Vec<LdifRecord> = adds
        .into_iter()
        .map(|e| LdifRecord::Add(e.clone()))
        .collect();
    out.extend(
        modifies
            .into_iter()
            .map(|(dn, changes)| LdifRecord::Modify { dn, changes }),
    );
    out.extend(deletes.into_iter().map(|d| LdifRecord::Delete(d.clone())));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::*;
    use crate::sample;

    fn layout() -> Layout {
        Layout::under(&Dn::parse("dc=example,dc=org").unwrap())
    }

    #[test]
    fn no_changes_for_equal_or_reordered() {
        let d = sample::sample_modality("ct-1", "CT", 3).unwrap();
        assert!(diff(&d, &d, &layout()).is_empty());
        let mut r = d.clone();
        r.network_aes.reverse();
        r.software_versions.reverse();
        assert!(diff(&d, &r, &layout()).is_empty());
    }

    #[test]
    fn typed_changes_and_operations() {
        let old = sample::sample_modality("ct-1", "CT", 3).unwrap();
        let mut new = old.clone();
        new.network_aes[1].association_acceptor = true;
        new.network_aes.remove(2);
        new.network_aes[0].transfer_capabilities.pop();
        new.connections[0].port = Some(104);
        new.connections
            .push(NetworkConnection::new("dicom2", "10.0.0.2", Some(11113)));
        new.network_aes[1].connections.push("dicom2".into());
        new.description = None;
        let ct1 = AeTitle::new("CT1").unwrap();
        let ct2 = AeTitle::new("CT2").unwrap();
        let changes = diff(&old, &new, &layout());
        let shown: Vec<String> = changes.iter().map(ToString::to_string).collect();
        assert!(
            shown.contains(&"connection \"dicom\": dicomPort 11112 -> 104".to_string()),
            "{shown:#?}"
        );
        assert!(shown.contains(&"AE CT2: dicomAssociationAcceptor FALSE -> TRUE".to_string()));
        assert!(
            shown.contains(
                &"device: dicomDescription CT scanner ct-1, room 1 -> (none)".to_string()
            )
        );
        assert!(changes.iter().any(
            |c| matches!(c, Change::Added { object: ObjectRef::Connection(n), .. } if n == "dicom2")
        ));
        assert!(
            changes.iter().any(
                |c| matches!(c, Change::Removed { object: ObjectRef::Ae(a), .. } if a == "CT3")
            )
        );
        assert!(changes.iter().any(|c| c.object()
            == &ObjectRef::TransferCapability {
                ae: ct1.clone(),
                name: "CT Image Storage SCU".into()
            }));
        assert!(
            changes
                .iter()
                .any(|c| c.object() == &ObjectRef::Ae(ct2.clone()))
        );
        let ops = operations(&changes, ModifyStyle::Guarded);
        // Adds first, then modifies, then deletes with children before parents.
        assert!(matches!(ops[0], LdifRecord::Add(_)));
        let kinds: Vec<u8> = ops
            .iter()
            .map(|o| match o {
                LdifRecord::Add(_) => 0,
                LdifRecord::Modify { .. } => 1,
                _ => 2,
            })
            .collect();
        assert!(kinds.windows(2).all(|w| w[0] <= w[1]), "{kinds:?}");
        let deletes: Vec<usize> = ops
            .iter()
            .filter_map(|o| match o {
                LdifRecord::Delete(d) => Some(d.len()),
                _ => None,
            })
            .collect();
        assert!(deletes.windows(2).all(|w| w[0] >= w[1]));
        assert_eq!(deletes.len(), 1 + 3 + 1, "CT3, its 3 TCs, one TC of CT1");
        let port = ops
            .iter()
            .find_map(|o| match o {
                LdifRecord::Modify { dn, changes } if dn.rdn().unwrap().value() == "dicom" => {
                    Some(changes.clone())
                }
                _ => None,
            })
            .unwrap();
        assert_eq!(
            port,
            vec![
                Modification::new(ModOp::Delete, "dicomPort", ["11112"]),
                Modification::new(ModOp::Add, "dicomPort", ["104"])
            ]
        );
        let replace = operations(&changes, ModifyStyle::Replace);
        assert!(replace.iter().any(|o| matches!(o, LdifRecord::Modify { changes, .. } if changes == &vec![Modification::new(ModOp::Replace, "dicomPort", ["104"])])));
    }
}
