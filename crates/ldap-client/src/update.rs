//! Pre-configured and update paths (R.1.2.1, R.4 step 5, R.5.2): merging a
//! local description into the stored one, applying the model's diff with
//! conflict detection, online/offline.
//!
//! Changes are written in the model's guarded style: a changed value is
//! "delete old value, add new value" in one modify, so when someone else
//! changed it in between, the delete fails (noSuchAttribute) and that edit
//! is not overwritten. Attributes and entries of the stored device that the
//! local description does not mention are kept by [`merge`].

use std::collections::HashSet;

use annexr_model::attr;
use annexr_model::write_ldif;
use annexr_model::{AeTitle, Device, LdifRecord, ModOp, Modification, NetworkAe};
use annexr_model::{ModifyStyle, diff, operations};
use annexr_model::{ae_dn, connection_dn};
use ldap3::Mod;

use crate::client::{DeviceLookup, LdapClient, Registration};
use crate::conn::{Counted, Stats, Write};
use crate::error::{Error, Result, is_refusal_code};

/// What to switch online or offline (R.5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// A device (its `dicomInstalled` is mandatory).
    Device(String),
    /// One AE of a device.
    Ae {
        /// Device name.
        device: String,
        /// AE title.
        ae_title: AeTitle,
    },
    /// One network connection of a device.
    Connection {
        /// Device name.
        device: String,
        /// Connection name (`cn`).
        name: String,
    },
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Device(device) => write!(f, "device {device}"),
            Target::Ae { device, ae_title } => write!(f, "AE {ae_title} of device {device}"),
            Target::Connection { device, name } => {
                write!(f, "connection {name} of device {device}")
            }
        }
    }
}

/// How an update ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpdateOutcome {
    /// The changes were applied.
    Applied {
        /// How many LDAP requests were made.
        operations: usize,
    },
    /// The stored description already matches: nothing to do.
    Unchanged,
    /// No such device (a merge needs a stored description).
    NotConfigured,
    /// The server refused the write: here is the LDIF of R.1.2.3 (the
    /// remaining operations) for an administrator to apply.
    LdifFallback {
        /// The operations as LDIF change records.
        ldif: String,
        /// The refusal's result code (50, 53 or 10).
        rc: u32,
        /// The server's text.
        text: String,
    },
}

pub(crate) fn to_write(r: &LdifRecord) -> Option<Write> {
    Some(match r {
        LdifRecord::Content(e) | LdifRecord::Add(e) => Write::Add(e.clone()),
        LdifRecord::Delete(dn) => Write::Delete(dn.to_string()),
        LdifRecord::Modify { dn, changes } => Write::Modify(
            dn.to_string(),
            changes
                .iter()
                .filter_map(|m| {
                    let name = m.attribute.as_bytes().to_vec();
                    let values: HashSet<Vec<u8>> = m.values.iter().cloned().collect();
                    match m.op {
                        ModOp::Add => Some(Mod::Add(name, values)),
                        ModOp::Delete => Some(Mod::Delete(name, values)),
                        ModOp::Replace => Some(Mod::Replace(name, values)),
                        ModOp::Increment => None,
                    }
                })
                .collect(),
        ),
        LdifRecord::ModRdn { .. } => return None,
    })
}

fn merge_ae(stored: &NetworkAe, local: &NetworkAe) -> NetworkAe {
    let mut m = local.clone();
    // Keep what the local side cannot know: vendor extensions, and
    // transfer capabilities an administrator added.
    m.extensions = stored.extensions.clone();
    if local.vendor_data.is_empty() {
        m.vendor_data = stored.vendor_data.clone();
    }
    for tc in &stored.transfer_capabilities {
        match m
            .transfer_capabilities
            .iter_mut()
            .find(|t| t.name.eq_ignore_ascii_case(&tc.name))
        {
            Some(t) => t.extensions = tc.extensions.clone(),
            None => m.transfer_capabilities.push(tc.clone()),
        }
    }
    m
}

/// Merges a device's local description into the stored one (R.1.2.1): the
/// local values of what the device describes win; what only the directory
/// has stays — connections, AEs and transfer capabilities an administrator
/// added, auxiliary classes and vendor attributes (`extensions`, e.g.
/// `userCertificate;binary`), vendor data the device does not set, and
/// unknown child entries.
///
/// `dicomInstalled` is the site's (R.1.2, R.5.2): the stored values of the
/// device, its connections and AEs are kept, never the local ones.
pub fn merge(stored: &Device, local: &Device) -> Device {
    let mut m = local.clone();
    m.installed = stored.installed;
    m.extensions = stored.extensions.clone();
    m.other_entries = stored.other_entries.clone();
    if local.vendor_data.is_empty() {
        m.vendor_data = stored.vendor_data.clone();
    }
    for (list, from) in [
        (
            &mut m.related_device_references,
            &stored.related_device_references,
        ),
        (
            &mut m.authorized_node_certificate_references,
            &stored.authorized_node_certificate_references,
        ),
        (
            &mut m.this_node_certificate_references,
            &stored.this_node_certificate_references,
        ),
    ] {
        if list.is_empty() {
            list.clone_from(from);
        }
    }
    for c in &mut m.connections {
        if let Some(s) = stored
            .connections
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(&c.name))
        {
            c.extensions = s.extensions.clone();
            c.installed = s.installed;
        }
    }
    for s in &stored.connections {
        if !m
            .connections
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(&s.name))
        {
            m.connections.push(s.clone());
        }
    }
    for ae in &mut m.network_aes {
        if let Some(s) = stored
            .network_aes
            .iter()
            .find(|s| s.ae_title == ae.ae_title)
        {
            *ae = merge_ae(s, ae);
            ae.installed = s.installed;
        }
    }
    for s in &stored.network_aes {
        if !m.network_aes.iter().any(|a| a.ae_title == s.ae_title) {
            m.network_aes.push(s.clone());
        }
    }
    m
}

/// Result codes that mean "the entry is not as we read it".
fn is_conflict(rc: u32) -> bool {
    matches!(rc, 16 | 19 | 20 | 32 | 66 | 68)
}

impl LdapClient {
    /// Applies the model's diff from `stored` to `desired`. `stored` must be
    /// the description as loaded: if the directory changed since, the first
    /// operation that touches the edited values fails with
    /// [`Error::Conflict`] and that edit is not overwritten (operations
    /// before it stay applied; reload and merge again). A refused write gives
    /// the LDIF fallback.
    pub async fn update_device(
        &self,
        stored: &Device,
        desired: &Device,
    ) -> Result<Counted<UpdateOutcome>> {
        let mut stats = Stats::default();
        desired
            .validate()
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let value = self.apply_diff(&mut stats, stored, desired).await?;
        Ok(Counted { value, stats })
    }

    async fn apply_diff(
        &self,
        stats: &mut Stats,
        stored: &Device,
        desired: &Device,
    ) -> Result<UpdateOutcome> {
        let layout = self.roots_with(stats).await?;
        let records = operations(&diff(stored, desired, &layout), ModifyStyle::Guarded);
        if records.is_empty() {
            return Ok(UpdateOutcome::Unchanged);
        }
        // Unique titles (H.1.4.3.5): a title an AE gains (added or renamed) is
        // registered first, and refused when another device holds it; titles
        // no longer used are released once the update is in.
        let own_dn = layout.device_dn(&desired.name);
        let old_titles: Vec<&AeTitle> = stored.network_aes.iter().map(|a| &a.ae_title).collect();
        let new_titles: Vec<&AeTitle> = desired.network_aes.iter().map(|a| &a.ae_title).collect();
        for title in new_titles.iter().filter(|t| !old_titles.contains(t)) {
            match self.register_for(stats, &layout, title, &own_dn).await? {
                Registration::Registered => {}
                Registration::Taken => {
                    // Registered already: fine only when no other device's AE uses it.
                    let holders = self
                        .title_holders_in(stats, &layout, std::slice::from_ref(*title))
                        .await?;
                    if holders.iter().any(|(_, d)| !d.matches(&own_dn)) {
                        return Err(Error::TitleTaken {
                            title: title.to_string(),
                        });
                    }
                }
                Registration::Refused { rc, text } => {
                    return Ok(UpdateOutcome::LdifFallback {
                        ldif: write_ldif(&records),
                        rc,
                        text,
                    });
                }
            }
        }
        for (i, record) in records.iter().enumerate() {
            let Some(w) = to_write(record) else { continue };
            let (res, server) = self.inner.write(stats, &w).await?;
            match res.rc {
                0 => {}
                rc if is_refusal_code(rc) => {
                    return Ok(UpdateOutcome::LdifFallback {
                        ldif: write_ldif(&records[i..]),
                        rc,
                        text: res.text,
                    });
                }
                rc if is_conflict(rc) => {
                    return Err(Error::Conflict {
                        server,
                        dn: w.dn(),
                        detail: format!(
                            "the entry changed since it was read ({})",
                            if res.text.is_empty() {
                                "no text"
                            } else {
                                &res.text
                            }
                        ),
                        rc,
                    });
                }
                _ => return Err(Error::ldap(&server, format!("update {}", w.dn()), &res)),
            }
        }
        for title in old_titles.iter().filter(|t| !new_titles.contains(t)) {
            if let Err(e) = self.unregister_in(stats, &layout, title).await {
                tracing::warn!("update: cannot release AE title {title}: {e}");
            }
        }
        self.clear_cache();
        Ok(UpdateOutcome::Applied {
            operations: records.len(),
        })
    }

    /// R.1.2.1 / R.4 step 5: loads the stored description (one search),
    /// confirms whether it matches the local one, and if not applies
    /// [`merge`] of the two.
    pub async fn merge_device(&self, local: &Device) -> Result<Counted<UpdateOutcome>> {
        let mut stats = Stats::default();
        local
            .validate()
            .map_err(|e| Error::Invalid(e.to_string()))?;
        let layout = self.roots_with(&mut stats).await?;
        let stored = match self
            .load_device_in(&mut stats, &layout, &local.name)
            .await?
        {
            DeviceLookup::Found(d) => d,
            DeviceLookup::NotConfigured { .. } => {
                return Ok(Counted {
                    value: UpdateOutcome::NotConfigured,
                    stats,
                });
            }
        };
        let desired = merge(&stored, local);
        let value = self.apply_diff(&mut stats, &stored, &desired).await?;
        Ok(Counted { value, stats })
    }

    /// R.5.2: marks a device, AE or connection online (`true`) or offline.
    /// One modify; a refused write gives the LDIF fallback.
    pub async fn set_installed(
        &self,
        target: &Target,
        installed: bool,
    ) -> Result<Counted<UpdateOutcome>> {
        let mut stats = Stats::default();
        let layout = self.roots_with(&mut stats).await?;
        let dn = match target {
            Target::Device(d) => layout.device_dn(d),
            Target::Ae { device, ae_title } => ae_dn(&layout.device_dn(device), ae_title),
            Target::Connection { device, name } => connection_dn(&layout.device_dn(device), name),
        };
        let record = LdifRecord::Modify {
            dn: dn.clone(),
            changes: vec![Modification::new(
                ModOp::Replace,
                attr::INSTALLED,
                [if installed { "TRUE" } else { "FALSE" }],
            )],
        };
        let w = to_write(&record).ok_or_else(|| Error::Invalid("no write".into()))?;
        let (res, server) = self.inner.write(&mut stats, &w).await?;
        let value = match res.rc {
            0 => UpdateOutcome::Applied { operations: 1 },
            rc if is_refusal_code(rc) => UpdateOutcome::LdifFallback {
                ldif: write_ldif([&record]),
                rc,
                text: res.text,
            },
            _ => {
                return Err(Error::ldap(
                    &server,
                    format!("set dicomInstalled on {dn}"),
                    &res,
                ));
            }
        };
        match target {
            Target::Ae { ae_title, .. } => self.forget_cached(ae_title.as_str()),
            _ => self.clear_cache(),
        }
        Ok(Counted { value, stats })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use annexr_model::sample_modality;
    use annexr_model::{Attribute, Dn, Layout, NetworkConnection};

    fn layout() -> Layout {
        Layout::under(&Dn::parse("dc=example,dc=org").unwrap())
    }

    #[test]
    fn a_target_displays_as_words_not_debug() {
        let ae = Target::Ae {
            device: "ct-1".into(),
            ae_title: AeTitle::new("CT1").unwrap(),
        };
        assert_eq!(ae.to_string(), "AE CT1 of device ct-1");
        assert_eq!(Target::Device("ct-1".into()).to_string(), "device ct-1");
        let connection = Target::Connection {
            device: "ct-1".into(),
            name: "dicom".into(),
        };
        assert_eq!(connection.to_string(), "connection dicom of device ct-1");
    }

    #[test]
    fn merge_keeps_what_the_device_does_not_model() {
        let mut stored = sample_modality("ct-1", "CT", 2).unwrap();
        stored.extensions.attributes.push(Attribute {
            name: "userCertificate;binary".into(),
            values: vec![vec![0x30, 0x82]],
        });
        stored
            .connections
            .push(NetworkConnection::new("admin-added", "10.0.0.9", Some(104)));
        // The device's own view: no vendor data, no certificate, a new port.
        let mut local = stored.clone();
        local.extensions = Default::default();
        local.other_entries.clear();
        local.vendor_data.clear();
        local.connections.retain(|c| c.name != "admin-added");
        local.connections[0].port = Some(104);
        let merged = merge(&stored, &local);
        assert_eq!(merged.extensions, stored.extensions);
        assert_eq!(merged.other_entries, stored.other_entries);
        assert!(merged.connections.iter().any(|c| c.name == "admin-added"));
        let records = operations(&diff(&stored, &merged, &layout()), ModifyStyle::Guarded);
        assert_eq!(records.len(), 1, "{records:#?}");
        let LdifRecord::Modify { changes, .. } = &records[0] else {
            panic!("{records:?}")
        };
        // Guarded: delete the old value, add the new one.
        assert_eq!(changes[0].op, ModOp::Delete);
        assert_eq!(changes[0].values, vec![b"11112".to_vec()]);
        assert_eq!(changes[1].op, ModOp::Add);
        assert!(matches!(to_write(&records[0]), Some(Write::Modify(_, m)) if m.len() == 2));
        assert!(diff(&stored, &merge(&stored, &stored), &layout()).is_empty());
    }
}
