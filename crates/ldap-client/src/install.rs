//! Install (R.1.2.2 steps 6–9) in the standard's order: register the AE
//! titles, create the device, its connections, then the AEs referencing
//! them with their transfer capabilities.
//!
//! A failed step removes what this install created and releases its titles.
//! A killed install converges when re-run with the same journal file: the
//! journal (written atomically before each registry add) says which titles
//! and which device belong to this install, so the re-run reuses them and
//! creates only what is missing.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use std::collections::HashSet;

use annexr_model::export_device;
use annexr_model::{AeTitle, Device, Layout, LdapEntry};

use crate::alloc::{AllocationPolicy, Allocator};
use crate::client::{DeviceLookup, LdapClient, Registration};
use crate::conn::{Counted, Stats, Write};
use crate::error::{Error, Result, is_refusal_code};

/// What to install.
#[derive(Debug, Clone)]
pub struct InstallPlan {
    /// The device; its AE titles are tentative (see `titles`).
    pub device: Device,
    /// For each AE (same index), the allocation policies to try. By
    /// default: the AE's own title, then the random `AE…` form.
    pub titles: Vec<Vec<AllocationPolicy>>,
    /// The journal file that makes a killed install resumable.
    pub journal: Option<PathBuf>,
    /// Titles this device held before (from its store), per AE index:
    /// reclaimed first when still free or registered with no AE using them.
    pub reclaim: BTreeMap<usize, AeTitle>,
    /// Complete a device entry of this name that has no AEs (left by an
    /// interrupted install) instead of refusing it as someone else's.
    pub complete_existing: bool,
}

impl InstallPlan {
    /// A plan with the default policies and no journal: per AE its own
    /// title, then titles derived from it (`CT1_2`, `CT1_3`, …), then the
    /// random `AE…` form as the last resort.
    pub fn new(device: Device) -> Self {
        let titles = device
            .network_aes
            .iter()
            .map(|ae| {
                vec![
                    AllocationPolicy::Preferred(vec![ae.ae_title.clone()]),
                    AllocationPolicy::derived(&ae.ae_title),
                    AllocationPolicy::random_ae(),
                ]
            })
            .collect();
        InstallPlan {
            device,
            titles,
            journal: None,
            reclaim: BTreeMap::new(),
            complete_existing: false,
        }
    }

    /// Builder: the site's title rule (e.g. [`AllocationPolicy::Structured`])
    /// replaces the derived titles for every AE: own title, the rule, then
    /// the random form.
    pub fn site_rule(mut self, rule: AllocationPolicy) -> Self {
        for (policies, ae) in self.titles.iter_mut().zip(&self.device.network_aes) {
            *policies = vec![
                AllocationPolicy::Preferred(vec![ae.ae_title.clone()]),
                rule.clone(),
                AllocationPolicy::random_ae(),
            ];
        }
        self
    }

    /// Builder: the title AE `index` held before (remembered in the store).
    pub fn reclaim(mut self, index: usize, title: AeTitle) -> Self {
        self.reclaim.insert(index, title);
        self
    }

    /// Builder: complete a same-named device entry that has no AEs.
    pub fn complete_existing(mut self, yes: bool) -> Self {
        self.complete_existing = yes;
        self
    }

    /// Builder: the policies for AE `index`.
    pub fn policies(mut self, index: usize, policies: Vec<AllocationPolicy>) -> Self {
        if let Some(p) = self.titles.get_mut(index) {
            *p = policies;
        }
        self
    }

    /// Builder: the journal file.
    pub fn journal(mut self, path: impl Into<PathBuf>) -> Self {
        self.journal = Some(path.into());
        self
    }
}

/// Progress of an install, reported to the observer after each step.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstallStep {
    /// A title was registered for AE `index` (step 6).
    TitleRegistered {
        /// Index of the AE in the plan.
        index: usize,
        /// The title.
        title: AeTitle,
    },
    /// One entry of the device exists: the device (step 7), a connection
    /// (step 8), an AE or one of its transfer capabilities (step 9), in that
    /// order.
    EntryCreated(String),
}

/// How an install ended.
#[derive(Debug, Clone, PartialEq, Eq)]
// Returned once per install: boxing would only cost.
#[allow(clippy::large_enum_variant)]
// Closed: the device was written, or the directory refused and the LDIF is handed over (R.1.2.2).
#[allow(clippy::exhaustive_enums)]
pub enum InstallOutcome {
    /// The device is installed with these AE titles.
    Installed {
        /// The device as stored (actual titles).
        device: Device,
        /// Registry add attempts made for each AE.
        attempts: Vec<usize>,
        /// True when an interrupted earlier install was completed.
        resumed: bool,
        /// The title granted to each AE of the plan, in the plan's order
        /// (the stored device lists its AEs in the server's order).
        granted: Vec<AeTitle>,
    },
    /// The server refused writes: the LDIF of R.1.2.3 (registry entries and
    /// device, with the tentative titles) for an administrator to load.
    LdifFallback {
        /// The LDIF.
        ldif: String,
        /// The refusal's result code (50, 53 or 10).
        rc: u32,
        /// The server's text.
        text: String,
    },
}

/// The journal of one install: the device name, the titles owned, and the
/// title being proposed per AE.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstallJournal {
    /// Device name.
    pub device: String,
    /// Titles registered by this install, per AE index.
    pub titles: BTreeMap<usize, String>,
    /// Title being proposed (add sent, answer not yet recorded), per AE index.
    pub pending: BTreeMap<usize, String>,
    /// The device entry was (about to be) created by this install.
    pub device_created: bool,
}

impl InstallJournal {
    fn parse(text: &str) -> Option<InstallJournal> {
        let mut lines = text.lines();
        if lines.next()? != "annexr-ldap install journal 1" {
            return None;
        }
        let mut j = InstallJournal::default();
        for l in lines {
            let mut parts = l.splitn(3, ' ');
            match (parts.next()?, parts.next(), parts.next()) {
                ("device", Some(_), _) => j.device = l["device ".len()..].to_string(),
                ("device-created", _, _) => j.device_created = true,
                ("title", Some(i), Some(t)) => {
                    j.titles.insert(i.parse().ok()?, t.to_string());
                }
                ("pending", Some(i), Some(t)) => {
                    j.pending.insert(i.parse().ok()?, t.to_string());
                }
                _ => return None,
            }
        }
        Some(j)
    }

    fn render(&self) -> String {
        let mut s = format!("annexr-ldap install journal 1\ndevice {}\n", self.device);
        if self.device_created {
            s.push_str("device-created\n");
        }
        for (i, t) in &self.titles {
            s.push_str(&format!("title {i} {t}\n"));
        }
        for (i, t) in &self.pending {
            s.push_str(&format!("pending {i} {t}\n"));
        }
        s
    }

    /// Reads the journal at `path` (`None` when absent or unreadable).
    pub fn load(path: &Path) -> Option<InstallJournal> {
        std::fs::read_to_string(path)
            .ok()
            .and_then(|t| Self::parse(&t))
    }

    /// Writes atomically: temp file, fsync, rename, fsync of the directory.
    pub fn store(&self, path: &Path) -> Result<()> {
        let err = |e: std::io::Error| Error::Journal {
            path: path.display().to_string(),
            cause: e.to_string(),
        };
        // A unique temporary name (mode 0600), distinct from the store's
        // (`.store-tmp`): two writers never share a temporary file.
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut f = tempfile::Builder::new()
            .prefix(&format!(".{name}."))
            .suffix(".journal-tmp")
            .tempfile_in(dir)
            .map_err(err)?;
        f.write_all(self.render().as_bytes()).map_err(err)?;
        f.as_file().sync_all().map_err(err)?;
        f.persist(path).map_err(|e| err(e.error))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

struct Journal<'a> {
    path: Option<&'a Path>,
    state: InstallJournal,
    /// Titles reclaimed while already registered (from an earlier install
    /// of this device): a failure must not release them.
    kept: HashSet<String>,
}

impl Journal<'_> {
    fn save(&self) -> Result<()> {
        match self.path {
            Some(p) => self.state.store(p),
            None => Ok(()),
        }
    }

    fn remove(&self) {
        if let Some(p) = self.path {
            let _ = std::fs::remove_file(p);
        }
    }
}

enum Added {
    Created,
    Exists,
    Refused(u32, String),
}

impl LdapClient {
    async fn add_entry(&self, stats: &mut Stats, e: &LdapEntry) -> Result<Added> {
        let (res, server) = self.inner.write(stats, &Write::Add(e.clone())).await?;
        match res.rc {
            0 => Ok(Added::Created),
            68 => Ok(Added::Exists),
            rc if is_refusal_code(rc) => Ok(Added::Refused(rc, res.text)),
            _ => Err(Error::ldap(&server, format!("add {}", e.dn), &res)),
        }
    }

    /// True when no Network AE outside `device_dn` has the title `t`.
    async fn title_unused_elsewhere(
        &self,
        stats: &mut Stats,
        roots: &Layout,
        t: &AeTitle,
        device_dn: &annexr_model::Dn,
    ) -> Result<bool> {
        let filter = format!(
            "(&(objectClass={})({}={}))",
            annexr_model::oc::NETWORK_AE,
            annexr_model::attr::AE_TITLE,
            annexr_model::escape_filter_value(t.as_str())
        );
        let (aes, res, server) = self
            .inner
            .search(
                stats,
                &roots.devices_dn().to_string(),
                ldap3::Scope::Subtree,
                &filter,
                &["1.1"],
            )
            .await?;
        crate::client::check(&server, "find AE using a pending title", &res)?;
        Ok(aes
            .iter()
            .all(|e| e.dn.parent().is_some_and(|p| p.matches(device_dn))))
    }

    /// Installs a device (R.1.2.2 steps 6–9). See [`LdapClient::install_with`].
    pub async fn install(&self, plan: &InstallPlan) -> Result<Counted<InstallOutcome>> {
        self.install_with(plan, |_| {}).await
    }

    /// Installs a device, calling `observer` after each step. A device of
    /// that name that this install (per its journal) did not start is
    /// [`Error::DeviceExists`]: use [`LdapClient::merge_device`] for it.
    pub async fn install_with(
        &self,
        plan: &InstallPlan,
        mut observer: impl FnMut(&InstallStep),
    ) -> Result<Counted<InstallOutcome>> {
        let mut stats = Stats::default();
        plan.device
            .validate()
            .map_err(|e| Error::Invalid(e.to_string()))?;
        if plan.titles.len() != plan.device.network_aes.len() {
            return Err(Error::Invalid(format!(
                "{} AEs but {} title policies",
                plan.device.network_aes.len(),
                plan.titles.len()
            )));
        }
        let roots = self.roots_with(&mut stats).await?;
        let mut journal = Journal {
            kept: HashSet::new(),
            path: plan.journal.as_deref(),
            state: plan
                .journal
                .as_deref()
                .and_then(InstallJournal::load)
                .filter(|j| j.device == plan.device.name)
                .unwrap_or_else(|| InstallJournal {
                    device: plan.device.name.clone(),
                    ..Default::default()
                }),
        };
        let existing = self
            .load_device_in(&mut stats, &roots, &plan.device.name)
            .await?
            .found();
        let incomplete = existing
            .as_ref()
            .is_some_and(|d| d.network_aes.is_empty() && plan.complete_existing);
        if existing.is_some() && !journal.state.device_created && !incomplete {
            return Err(Error::DeviceExists {
                server: self.inner.server().await,
                name: plan.device.name.clone(),
            });
        }
        let resumed = existing.is_some() || !journal.state.titles.is_empty();
        let mut created: Vec<String> = Vec::new();
        match self
            .install_steps(
                &mut stats,
                &roots,
                plan,
                &mut journal,
                existing.as_ref(),
                &mut created,
                &mut observer,
            )
            .await
        {
            Ok(Some(outcome)) => {
                journal.remove();
                let granted = (0..plan.device.network_aes.len())
                    .filter_map(|i| journal.state.titles.get(&i))
                    .filter_map(|t| AeTitle::new(t).ok())
                    .collect();
                Ok(Counted {
                    value: InstallOutcome::Installed {
                        device: outcome.0,
                        attempts: outcome.1,
                        resumed,
                        granted,
                    },
                    stats,
                })
            }
            Ok(None) => unreachable_refusal(),
            Err(Failure::Refused(rc, text)) => {
                self.cleanup(&mut stats, &roots, &journal, &created).await;
                journal.remove();
                let mut tentative = plan.device.clone();
                for (i, ae) in tentative.network_aes.iter_mut().enumerate() {
                    if let Some(t) = journal
                        .state
                        .titles
                        .get(&i)
                        .and_then(|t| AeTitle::new(t).ok())
                    {
                        ae.ae_title = t;
                    }
                }
                Ok(Counted {
                    value: InstallOutcome::LdifFallback {
                        ldif: export_device(&tentative, &roots),
                        rc,
                        text,
                    },
                    stats,
                })
            }
            Err(Failure::Error(e)) => {
                tracing::warn!("install of {} failed, cleaning up: {e}", plan.device.name);
                self.cleanup(&mut stats, &roots, &journal, &created).await;
                journal.remove();
                Err(e)
            }
        }
    }

    /// Removes the entries of this attempt (children first) and releases the
    /// titles this install registered. Best effort: the original error is
    /// what the caller sees.
    async fn cleanup(
        &self,
        stats: &mut Stats,
        roots: &Layout,
        journal: &Journal<'_>,
        created: &[String],
    ) {
        for dn in created.iter().rev() {
            if let Err(e) = self.inner.write(stats, &Write::Delete(dn.clone())).await {
                tracing::warn!("cleanup: cannot delete {dn}: {e}");
            }
        }
        // Pending titles (answer unknown) are left alone: one might be
        // someone else's.
        let titles = journal.state.titles.values();
        let released = titles.filter(|t| !journal.kept.contains(*t));
        for title in released.filter_map(|t| AeTitle::new(t).ok()) {
            if let Err(e) = self.unregister_in(stats, roots, &title).await {
                tracing::warn!("cleanup: cannot release AE title {title}: {e}");
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn install_steps(
        &self,
        stats: &mut Stats,
        roots: &Layout,
        plan: &InstallPlan,
        journal: &mut Journal<'_>,
        existing: Option<&Device>,
        created: &mut Vec<String>,
        observer: &mut impl FnMut(&InstallStep),
    ) -> std::result::Result<Option<(Device, Vec<usize>)>, Failure> {
        // Step 6: titles.
        let mut attempts = vec![0usize; plan.device.network_aes.len()];
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_os_rng();
        let own_dn = roots.device_dn(&plan.device.name);
        for (i, policies) in plan.titles.iter().enumerate() {
            let mut reclaiming = false;
            if !journal.state.titles.contains_key(&i)
                && !journal.state.pending.contains_key(&i)
                && let Some(t) = plan.reclaim.get(&i)
            {
                // A title the store says is ours: claimed like a pending one
                // (free, or registered with no other AE using it).
                journal.state.pending.insert(i, t.to_string());
                reclaiming = true;
            }
            if let Some(t) = journal.state.titles.get(&i).cloned() {
                // Ours from the interrupted run; re-add in case it was released.
                let t = AeTitle::new(&t)?;
                match self.register_in(stats, roots, &t).await? {
                    Registration::Refused { rc, text } => return Err(Failure::Refused(rc, text)),
                    _ => continue,
                }
            }
            let mut allocator = Allocator::new(policies.clone())?;
            if let Some(t) = journal.state.pending.remove(&i) {
                let t = AeTitle::new(&t)?;
                // Killed between the add and the journal update: the add may
                // have succeeded. The journal names the title only while its add
                // is unanswered (a "taken" answer is recorded at once), so a
                // registered title that no AE uses is ours: claim it rather than
                // leave an orphan. One that an AE of another device uses is not.
                let ours = match self.register_in(stats, roots, &t).await? {
                    Registration::Registered => true,
                    Registration::Taken => {
                        let ddn = roots.device_dn(&plan.device.name);
                        let unused = self.title_unused_elsewhere(stats, roots, &t, &ddn).await?;
                        if unused && reclaiming {
                            journal.kept.insert(t.to_string());
                        }
                        unused
                    }
                    Registration::Refused { rc, text } => return Err(Failure::Refused(rc, text)),
                };
                if ours {
                    journal.state.titles.insert(i, t.to_string());
                    journal.save()?;
                    observer(&InstallStep::TitleRegistered { index: i, title: t });
                    continue;
                }
                journal.save()?;
                allocator.taken(&t);
            }
            let title = loop {
                let Some(candidate) = allocator.next_candidate(&mut rng) else {
                    return Err(Failure::Error(Error::TitlesExhausted {
                        server: self.inner.server().await,
                        tried: attempts[i],
                    }));
                };
                attempts[i] += 1;
                journal.state.pending.insert(i, candidate.to_string());
                journal.save()?;
                match self.register_for(stats, roots, &candidate, &own_dn).await? {
                    Registration::Registered => break candidate,
                    Registration::Taken => {
                        // Recorded at once, so a pending title in the journal
                        // always means "add sent, answer unknown".
                        journal.state.pending.remove(&i);
                        journal.save()?;
                        allocator.taken(&candidate);
                    }
                    Registration::Refused { rc, text } => {
                        journal.state.pending.remove(&i);
                        return Err(Failure::Refused(rc, text));
                    }
                }
            };
            journal.state.pending.remove(&i);
            journal.state.titles.insert(i, title.to_string());
            journal.save()?;
            observer(&InstallStep::TitleRegistered { index: i, title });
        }
        let mut device = plan.device.clone();
        for (i, ae) in device.network_aes.iter_mut().enumerate() {
            if let Some(t) = journal.state.titles.get(&i) {
                ae.ae_title = AeTitle::new(t)?;
            }
        }
        // What an interrupted run already created (by normalized DN).
        let present: HashSet<String> = existing
            .map(|d| {
                d.to_entries(roots)
                    .iter()
                    .map(|e| e.dn.normalized())
                    .collect()
            })
            .unwrap_or_default();
        // Steps 7–9: device, connections, AEs each followed by their
        // transfer capabilities, then vendor entries (the model's order).
        let entries: Vec<LdapEntry> = device.to_entries(roots);
        for (k, e) in entries.iter().enumerate() {
            let dn = e.dn.to_string();
            if !present.contains(&e.dn.normalized()) {
                if k == 0 {
                    // Recorded before the add: after a kill, the device is ours.
                    journal.state.device_created = true;
                    journal.save()?;
                }
                match self.add_entry(stats, e).await? {
                    Added::Created => created.push(dn.clone()),
                    Added::Exists if k == 0 => {
                        // Created by someone else between our load and our add.
                        journal.state.device_created = false;
                        return Err(Failure::Error(Error::DeviceExists {
                            server: self.inner.server().await,
                            name: device.name.clone(),
                        }));
                    }
                    Added::Exists => {}
                    Added::Refused(rc, text) => return Err(Failure::Refused(rc, text)),
                }
            }
            observer(&InstallStep::EntryCreated(dn));
        }
        // Read back what is stored so the caller has the server's view. The
        // writes may have gone to a provider through a referral while reads
        // go to a replica (R.1.3): a device not seen yet is waited for with
        // bounded retries, and never taken as a failure (which would delete
        // the fresh install): the written description is returned instead.
        let mut delay = std::time::Duration::from_millis(100);
        for attempt in 0..READ_BACK_TRIES {
            if let DeviceLookup::Found(d) = self.load_device_in(stats, roots, &device.name).await?
                && d.network_aes.len() >= device.network_aes.len()
            {
                return Ok(Some((d, attempts)));
            }
            if attempt + 1 < READ_BACK_TRIES {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(2));
            }
        }
        tracing::warn!(
            "device {} not yet visible on the server read after its install (replica lag?); using the written description",
            device.name
        );
        Ok(Some((device, attempts)))
    }
}

/// Reads after an install before the written description is used instead
/// (about 7 s in all with the doubling delay).
const READ_BACK_TRIES: usize = 6;

fn unreachable_refusal() -> Result<Counted<InstallOutcome>> {
    Err(Error::Invalid("install produced no outcome".into()))
}

enum Failure {
    Refused(u32, String),
    Error(Error),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Error(e)
    }
}

impl From<annexr_model::Error> for Failure {
    fn from(e: annexr_model::Error) -> Self {
        Failure::Error(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_round_trip() {
        let mut j = InstallJournal {
            device: "CT 7".into(),
            device_created: true,
            ..Default::default()
        };
        j.titles.insert(0, "CT7".into());
        j.pending.insert(1, "AE 1".into());
        assert_eq!(InstallJournal::parse(&j.render()), Some(j.clone()));
        assert_eq!(InstallJournal::parse("garbage"), None);
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("j");
        j.store(&p).unwrap();
        assert_eq!(InstallJournal::load(&p), Some(j));
    }
}
