//! Every LDAP server family of the lab behind one interface, so that one
//! test body runs against OpenLDAP slapd and 389 Directory Server alike.

use std::net::SocketAddr;
use std::path::Path;

use crate::{Ds389, LabError, Slapd};

/// An LDAP server family the lab can start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LdapServerKind {
    /// OpenLDAP slapd ([`Slapd`]).
    OpenLdap,
    /// 389 Directory Server ([`Ds389`]).
    Ds389,
}

impl LdapServerKind {
    /// Every family, for tests that run once per family.
    pub const ALL: [LdapServerKind; 2] = [LdapServerKind::OpenLdap, LdapServerKind::Ds389];

    /// Every family, for tests that run once per family.
    pub fn all() -> [LdapServerKind; 2] {
        Self::ALL
    }

    /// The name the lab logs the family under: `slapd` or `389-ds`.
    pub fn name(self) -> &'static str {
        match self {
            LdapServerKind::OpenLdap => "slapd",
            LdapServerKind::Ds389 => "389-ds",
        }
    }

    /// A builder for a server of this family with the lab defaults: suffix
    /// `dc=example,dc=org`, the DICOM tree, TLS, writable by the device
    /// account, no size limit.
    pub fn builder(self) -> LdapServerBuilder {
        LdapServerBuilder {
            kind: self,
            seed: Vec::new(),
            read_only: false,
            tls: true,
            size_limit: None,
            dicom_tree: true,
            log_operations: false,
            sync_provider: false,
        }
    }

    /// Starts a server of this family with the lab defaults.
    pub fn start(self) -> Result<AnyLdapServer, LabError> {
        self.builder().start()
    }
}

impl std::fmt::Display for LdapServerKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The options every family supports, applied to the family's own builder.
#[derive(Debug, Clone)]
pub struct LdapServerBuilder {
    kind: LdapServerKind,
    seed: Vec<String>,
    read_only: bool,
    tls: bool,
    size_limit: Option<u32>,
    dicom_tree: bool,
    log_operations: bool,
    sync_provider: bool,
}

impl LdapServerBuilder {
    /// LDIF content records loaded after the base DIT (see
    /// [`crate::SlapdBuilder::seed_ldif`]). May be given several times.
    pub fn seed_ldif(mut self, ldif: &str) -> Self {
        self.seed.push(ldif.to_string());
        self
    }

    /// With `true`, the device account may read but not write the
    /// configuration: writes fail with insufficientAccessRights (50).
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// StartTLS and `ldaps://` under a lab CA (default `true`).
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// A size limit for every bind DN but the root (default unlimited).
    pub fn size_limit(mut self, entries: u32) -> Self {
        self.size_limit = Some(entries);
        self
    }

    /// With `false`, only the suffix and the device account exist.
    pub fn dicom_tree(mut self, present: bool) -> Self {
        self.dicom_tree = present;
        self
    }

    /// Log every operation, for [`LdapServer::log`]. 389-DS always keeps
    /// its access log; slapd logs operations only when asked.
    pub fn log_operations(mut self, on: bool) -> Self {
        self.log_operations = on;
        self
    }

    /// RFC 4533 content synchronization (refreshAndPersist) for clients:
    /// slapd's syncprov overlay, 389-DS's Content Synchronization plugin.
    pub fn sync_provider(mut self, on: bool) -> Self {
        self.sync_provider = on;
        self
    }

    /// Starts the server.
    pub fn start(self) -> Result<AnyLdapServer, LabError> {
        match self.kind {
            LdapServerKind::OpenLdap => {
                let mut b = Slapd::builder()
                    .read_only(self.read_only)
                    .tls(self.tls)
                    .dicom_tree(self.dicom_tree)
                    .log_operations(self.log_operations)
                    .sync_provider(self.sync_provider);
                for seed in &self.seed {
                    b = b.seed_ldif(seed);
                }
                if let Some(n) = self.size_limit {
                    b = b.size_limit(n);
                }
                b.start().map(AnyLdapServer::Slapd)
            }
            LdapServerKind::Ds389 => {
                let mut b = Ds389::builder()
                    .read_only(self.read_only)
                    .tls(self.tls)
                    .dicom_tree(self.dicom_tree)
                    .sync_provider(self.sync_provider);
                for seed in &self.seed {
                    b = b.seed_ldif(seed);
                }
                if let Some(n) = self.size_limit {
                    b = b.size_limit(n);
                }
                b.start().map(AnyLdapServer::Ds389)
            }
        }
    }
}

/// What a test needs of a running lab LDAP server, whatever its family.
pub trait LdapServer {
    /// The family.
    fn kind(&self) -> LdapServerKind;
    /// `ldap://127.0.0.1:PORT`.
    fn url(&self) -> String;
    /// `ldaps://localhost:PORT` when started with TLS.
    fn ldaps_url(&self) -> Option<String>;
    /// The PEM file of the lab CA that signed the server certificate.
    fn ca_cert_path(&self) -> Option<&Path>;
    /// The listening address.
    fn addr(&self) -> SocketAddr;
    /// The naming context, e.g. `dc=example,dc=org`.
    fn suffix(&self) -> &str;
    /// `cn=DICOM Configuration,<suffix>`.
    fn config_dn(&self) -> String {
        format!("cn=DICOM Configuration,{}", self.suffix())
    }
    /// `cn=Devices,cn=DICOM Configuration,<suffix>`.
    fn devices_dn(&self) -> String {
        format!("cn=Devices,{}", self.config_dn())
    }
    /// `cn=Unique AE Titles Registry,cn=DICOM Configuration,<suffix>`.
    fn registry_dn(&self) -> String {
        format!("cn=Unique AE Titles Registry,{}", self.config_dn())
    }
    /// The root DN, which may write anything.
    fn admin_dn(&self) -> String;
    /// The device account.
    fn device_dn(&self) -> String;
    /// The device account's password.
    fn device_password(&self) -> &'static str;
    /// The server's version line.
    fn version(&self) -> &str;
    /// The server's operation log so far (slapd: with `log_operations`;
    /// 389-DS: its access log). The line formats differ per family.
    fn log(&self) -> String;
    /// The stock `ldapadd` as the root DN.
    fn ldapadd(&self, ldif: &str) -> Result<String, LabError>;
    /// The stock `ldapmodify` as the root DN.
    fn ldapmodify(&self, ldif: &str) -> Result<String, LabError>;
    /// The stock `ldapsearch -LLL` as the root DN with a scope (`base`,
    /// `one` or `sub`).
    fn ldapsearch_scope(&self, base: &str, scope: &str, filter: &str) -> Result<String, LabError>;
}

macro_rules! delegate_ldap_server {
    ($type:ty, $kind:expr) => {
        impl LdapServer for $type {
            fn kind(&self) -> LdapServerKind {
                $kind
            }
            fn url(&self) -> String {
                <$type>::url(self)
            }
            fn ldaps_url(&self) -> Option<String> {
                <$type>::ldaps_url(self)
            }
            fn ca_cert_path(&self) -> Option<&Path> {
                <$type>::ca_cert_path(self)
            }
            fn addr(&self) -> SocketAddr {
                <$type>::addr(self)
            }
            fn suffix(&self) -> &str {
                <$type>::suffix(self)
            }
            fn admin_dn(&self) -> String {
                <$type>::admin_dn(self)
            }
            fn device_dn(&self) -> String {
                <$type>::device_dn(self)
            }
            fn device_password(&self) -> &'static str {
                <$type>::device_password(self)
            }
            fn version(&self) -> &str {
                <$type>::version(self)
            }
            fn log(&self) -> String {
                <$type>::log(self)
            }
            fn ldapadd(&self, ldif: &str) -> Result<String, LabError> {
                <$type>::ldapadd(self, ldif)
            }
            fn ldapmodify(&self, ldif: &str) -> Result<String, LabError> {
                <$type>::ldapmodify(self, ldif)
            }
            fn ldapsearch_scope(
                &self,
                base: &str,
                scope: &str,
                filter: &str,
            ) -> Result<String, LabError> {
                <$type>::ldapsearch_scope(self, base, scope, filter)
            }
        }
    };
}

delegate_ldap_server!(Slapd, LdapServerKind::OpenLdap);
delegate_ldap_server!(Ds389, LdapServerKind::Ds389);

/// A running lab LDAP server of either family.
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyLdapServer {
    /// OpenLDAP slapd.
    Slapd(Slapd),
    /// 389 Directory Server.
    Ds389(Ds389),
}

impl AnyLdapServer {
    fn inner(&self) -> &dyn LdapServer {
        match self {
            AnyLdapServer::Slapd(s) => s,
            AnyLdapServer::Ds389(s) => s,
        }
    }

    /// Stops the server, keeping its database, until
    /// [`AnyLdapServer::restart`].
    pub fn stop(&mut self) {
        match self {
            AnyLdapServer::Slapd(s) => s.stop(),
            AnyLdapServer::Ds389(s) => s.stop(),
        }
    }

    /// Starts the server again on the same port with the same database.
    pub fn restart(&mut self) -> Result<(), LabError> {
        match self {
            AnyLdapServer::Slapd(s) => s.restart(),
            AnyLdapServer::Ds389(s) => s.restart(),
        }
    }
}

impl LdapServer for AnyLdapServer {
    fn kind(&self) -> LdapServerKind {
        self.inner().kind()
    }
    fn url(&self) -> String {
        self.inner().url()
    }
    fn ldaps_url(&self) -> Option<String> {
        self.inner().ldaps_url()
    }
    fn ca_cert_path(&self) -> Option<&Path> {
        self.inner().ca_cert_path()
    }
    fn addr(&self) -> SocketAddr {
        self.inner().addr()
    }
    fn suffix(&self) -> &str {
        self.inner().suffix()
    }
    fn admin_dn(&self) -> String {
        self.inner().admin_dn()
    }
    fn device_dn(&self) -> String {
        self.inner().device_dn()
    }
    fn device_password(&self) -> &'static str {
        self.inner().device_password()
    }
    fn version(&self) -> &str {
        self.inner().version()
    }
    fn log(&self) -> String {
        self.inner().log()
    }
    fn ldapadd(&self, ldif: &str) -> Result<String, LabError> {
        self.inner().ldapadd(ldif)
    }
    fn ldapmodify(&self, ldif: &str) -> Result<String, LabError> {
        self.inner().ldapmodify(ldif)
    }
    fn ldapsearch_scope(&self, base: &str, scope: &str, filter: &str) -> Result<String, LabError> {
        self.inner().ldapsearch_scope(base, scope, filter)
    }
}
