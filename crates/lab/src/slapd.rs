//! OpenLDAP slapd with the DICOM configuration schema of PS3.15 Annex H.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::process::{Readiness, ServerProcess, find_binary, free_port, run_tool, version_of};
use crate::tls::LabCa;
use crate::{LabError, announce, with_port_retry};

/// The DICOM configuration schema (PS3.15 Annex H) as an OpenLDAP `.schema`
/// file, for `include` in slapd.conf. Shipped for users in `crates/lab/schema/`.
pub const DICOM_SCHEMA: &str = include_str!("../schema/dicom.schema");
/// The same schema as cn=config LDIF, for `ldapadd -Y EXTERNAL -H ldapi:///`.
pub const DICOM_SCHEMA_LDIF: &str = include_str!("../schema/dicom.ldif");

const ADMIN_PASSWORD: &str = "admin-secret";
const DEVICE_PASSWORD: &str = "device-secret";
const STOCK_SCHEMAS: [&str; 3] = ["core", "cosine", "inetorgperson"];

/// Configures a [`Slapd`] before it starts.
#[derive(Debug, Clone)]
pub struct SlapdBuilder {
    suffix: String,
    seed: Vec<String>,
    read_only: bool,
    log_operations: bool,
    tls: bool,
    size_limit: Option<u32>,
    dicom_tree: bool,
    role: Replication,
}

/// The part a slapd plays in syncrepl replication.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Replication {
    None,
    /// Serves changes to consumers (syncprov overlay).
    Provider,
    /// A read-only replica of the provider at this URL; writes are answered
    /// with a referral (10) to it.
    ConsumerOf(String),
    /// Like `ConsumerOf`, polling the provider only every so many seconds
    /// (refreshOnly): a replica that lags behind (R.1.3).
    LaggingConsumerOf(String, u32),
}

impl Default for SlapdBuilder {
    fn default() -> Self {
        SlapdBuilder {
            suffix: "dc=example,dc=org".into(),
            seed: Vec::new(),
            read_only: false,
            log_operations: false,
            // Clients refuse a password bind without TLS: every lab slapd
            // offers StartTLS and ldaps under its own lab CA.
            tls: true,
            size_limit: None,
            dicom_tree: true,
            role: Replication::None,
        }
    }
}

impl SlapdBuilder {
    /// The naming context (default `dc=example,dc=org`; must be `dc=` RDNs).
    pub fn suffix(mut self, suffix: &str) -> Self {
        self.suffix = suffix.to_string();
        self
    }

    /// LDIF content records loaded with `slapadd` after the base DIT
    /// (suffix, `cn=DICOM Configuration`, `cn=Devices`,
    /// `cn=Unique AE Titles Registry`). May be given several times.
    pub fn seed_ldif(mut self, ldif: &str) -> Self {
        self.seed.push(ldif.to_string());
        self
    }

    /// With `true`, the device account may read the configuration but not
    /// write it: writes fail with insufficientAccessRights (50).
    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    /// Log every operation (slapd `-d stats`), so tests and benches can count
    /// the round trips a client used; read them with [`Slapd::log`].
    pub fn log_operations(mut self, on: bool) -> Self {
        self.log_operations = on;
        self
    }

    /// With `true`, slapd also listens for `ldaps://` and offers StartTLS on
    /// its `ldap://` port, with a certificate for `localhost`/127.0.0.1 from
    /// a CA the lab generates ([`Slapd::ca_cert_path`]).
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// `sizelimit N` for every bind DN (stock slapd has 500; the lab
    /// default is unlimited). Paged results are capped by it too.
    pub fn size_limit(mut self, entries: u32) -> Self {
        self.size_limit = Some(entries);
        self
    }

    /// With `false`, the directory holds only the suffix and the device
    /// account: a server without a DICOM configuration root (another
    /// database of the site, H.1.4.1 note 2).
    pub fn dicom_tree(mut self, present: bool) -> Self {
        self.dicom_tree = present;
        self
    }

    /// With `true`, the main database carries the syncprov overlay, so
    /// clients can follow it with RFC 4533 content synchronization
    /// (refreshAndPersist), as a syncrepl provider serves its consumers.
    pub fn sync_provider(mut self, on: bool) -> Self {
        if on {
            self.role = Replication::Provider;
        } else if self.role == Replication::Provider {
            self.role = Replication::None;
        }
        self
    }

    /// Writes the configuration, loads the base DIT and the seed, starts
    /// slapd and waits until it accepts connections.
    pub fn start(self) -> Result<Slapd, LabError> {
        let slapd = find_binary("slapd", "slapd", "slapd")?;
        let slapadd = find_binary("slapd", "slapadd", "slapd")?;
        find_binary("slapd", "ldapadd", "ldap-utils")?;
        let dir = tempfile::Builder::new().prefix("annexr-slapd-").tempdir()?;
        let ca = if self.tls {
            Some(LabCa::generate(dir.path())?)
        } else {
            None
        };
        let conf = write_config(dir.path(), &self, ca.as_ref())?;
        // A consumer starts empty and receives everything from its provider.
        if !matches!(
            self.role,
            Replication::ConsumerOf(_) | Replication::LaggingConsumerOf(..)
        ) {
            let mut all = base_dit(&self.suffix, self.dicom_tree);
            for seed in &self.seed {
                all.push('\n');
                all.push_str(seed.trim_start_matches("version: 1\n"));
                all.push('\n');
            }
            let seed_path = dir.path().join("seed.ldif");
            std::fs::write(&seed_path, &all)?;
            run_tool(
                "slapadd",
                Command::new(&slapadd)
                    .arg("-f")
                    .arg(&conf)
                    .arg("-q")
                    .arg("-l")
                    .arg(&seed_path),
                None,
            )?;
        }
        let version = version_of(&slapd, &["-VV"]);
        let mut server = with_port_retry(|port| {
            let tls_port = if self.tls { Some(free_port()?) } else { None };
            let process = spawn(
                &slapd,
                &conf,
                dir.path(),
                port,
                tls_port,
                self.log_operations,
            )?;
            Ok(Slapd {
                suffix: self.suffix.clone(),
                port,
                tls_port,
                ca: ca.clone(),
                conf: conf.clone(),
                binary: slapd.clone(),
                log_operations: self.log_operations,
                version: version.clone(),
                process: Some(process),
                dir: None,
            })
        })?;
        server.dir = Some(dir);
        announce(
            "slapd",
            &server.version,
            &server.url(),
            server.ready_after(),
        );
        Ok(server)
    }
}

fn spawn(
    slapd: &Path,
    conf: &Path,
    dir: &Path,
    port: u16,
    tls_port: Option<u16>,
    log_operations: bool,
) -> Result<ServerProcess, LabError> {
    let mut urls = format!("ldap://127.0.0.1:{port}/");
    if let Some(tls_port) = tls_port {
        urls.push_str(&format!(" ldaps://127.0.0.1:{tls_port}/"));
    }
    let mut cmd = Command::new(slapd);
    cmd.arg("-f")
        .arg(conf)
        .arg("-h")
        .arg(urls)
        // `-d` keeps slapd in the foreground; level 0 logs nothing.
        .arg("-d")
        .arg(if log_operations { "stats" } else { "0" });
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let process = ServerProcess::spawn("slapd", cmd, &dir.join("slapd.log"), Readiness::Tcp(addr))?;
    Ok(process)
}

fn write_config(
    dir: &Path,
    options: &SlapdBuilder,
    ca: Option<&LabCa>,
) -> Result<PathBuf, LabError> {
    let suffix = &options.suffix;
    let db = dir.join("db");
    std::fs::create_dir_all(&db)?;
    std::fs::write(dir.join("dicom.schema"), DICOM_SCHEMA)?;
    let mut conf = String::new();
    for schema in STOCK_SCHEMAS {
        conf.push_str(&format!("include /etc/ldap/schema/{schema}.schema\n"));
    }
    conf.push_str(&format!("include {}\n", dir.join("dicom.schema").display()));
    conf.push_str(&format!(
        "pidfile {}\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\nsizelimit {}\n",
        dir.join("slapd.pid").display(),
        options
            .size_limit
            .map_or("unlimited".to_string(), |n| n.to_string())
    ));
    if options.role == Replication::Provider {
        conf.push_str("moduleload syncprov\n");
    }
    if let Some(ca) = ca {
        conf.push_str(&format!(
            "TLSCACertificateFile {}\nTLSCertificateFile {}\nTLSCertificateKeyFile {}\n",
            ca.ca_cert.display(),
            ca.server_cert.display(),
            ca.server_key.display()
        ));
    }
    let device_access = if options.read_only { "read" } else { "write" };
    conf.push_str(&format!(
        r#"database mdb
maxsize 1073741824
suffix "{suffix}"
rootdn "cn=admin,{suffix}"
rootpw {ADMIN_PASSWORD}
directory {db}
index objectClass,entryCSN,entryUUID eq
index dicomDeviceName,dicomAETitle,dicomPrimaryDeviceType eq
access to attrs=userPassword
  by anonymous auth
  by * none
access to dn.subtree="cn=DICOM Configuration,{suffix}"
  by dn.exact="cn=device,{suffix}" {device_access}
  by * read
access to *
  by * read
"#,
        db = db.display(),
    ));
    match &options.role {
        Replication::None => {}
        Replication::Provider => conf.push_str("overlay syncprov\nsyncprov-checkpoint 1 1\n"),
        Replication::ConsumerOf(provider) => conf.push_str(&format!(
            "syncrepl rid=001 provider={provider} type=refreshAndPersist retry=\"1 +\"\n  \
             searchbase=\"{suffix}\" bindmethod=simple binddn=\"cn=admin,{suffix}\"\n  \
             credentials={ADMIN_PASSWORD}\nupdateref {provider}\n"
        )),
        Replication::LaggingConsumerOf(provider, secs) => conf.push_str(&format!(
            "syncrepl rid=001 provider={provider} type=refreshOnly interval=00:00:00:{secs:02}\n  \
             retry=\"1 +\" searchbase=\"{suffix}\" bindmethod=simple binddn=\"cn=admin,{suffix}\"\n  \
             credentials={ADMIN_PASSWORD}\nupdateref {provider}\n"
        )),
    }
    let path = dir.join("slapd.conf");
    std::fs::write(&path, conf)?;
    Ok(path)
}

/// The lab's base DIT: the suffix, the device account and (unless
/// `dicom_tree` is false) the DICOM configuration root with its two
/// containers. 389-DS loads the same ([`crate::Ds389`]).
pub(crate) fn base_dit(suffix: &str, dicom_tree: bool) -> String {
    let first_dc = suffix
        .split(',')
        .next()
        .and_then(|rdn| rdn.strip_prefix("dc="))
        .unwrap_or("example");
    let dicom = if dicom_tree {
        format!(
            "
dn: cn=DICOM Configuration,{suffix}
objectClass: dicomConfigurationRoot
cn: DICOM Configuration

dn: cn=Devices,cn=DICOM Configuration,{suffix}
objectClass: dicomDevicesRoot
cn: Devices

dn: cn=Unique AE Titles Registry,cn=DICOM Configuration,{suffix}
objectClass: dicomUniqueAETitlesRegistryRoot
cn: Unique AE Titles Registry
"
        )
    } else {
        String::new()
    };
    format!(
        "dn: {suffix}
objectClass: dcObject
objectClass: organization
dc: {first_dc}
o: annexr lab

dn: cn=device,{suffix}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: device
userPassword: {DEVICE_PASSWORD}
{dicom}"
    )
}

/// A running OpenLDAP slapd (mdb backend) holding a DICOM configuration tree.
#[derive(Debug)]
pub struct Slapd {
    suffix: String,
    port: u16,
    tls_port: Option<u16>,
    ca: Option<LabCa>,
    conf: PathBuf,
    binary: PathBuf,
    log_operations: bool,
    version: String,
    process: Option<ServerProcess>,
    // Declared last: dropped after the process is stopped.
    dir: Option<TempDir>,
}

impl Slapd {
    /// A builder with the defaults: suffix `dc=example,dc=org`, no seed,
    /// writable by the device account.
    pub fn builder() -> SlapdBuilder {
        SlapdBuilder::default()
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// `ldaps://localhost:PORT` when started with TLS (the certificate names
    /// `localhost`).
    pub fn ldaps_url(&self) -> Option<String> {
        self.tls_port
            .map(|port| format!("ldaps://localhost:{port}"))
    }

    /// The PEM file of the CA that signed the server certificate, when
    /// started with TLS.
    pub fn ca_cert_path(&self) -> Option<&Path> {
        self.ca.as_ref().map(|ca| ca.ca_cert.as_path())
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The listening port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The naming context, e.g. `dc=example,dc=org`.
    pub fn suffix(&self) -> &str {
        &self.suffix
    }

    /// `cn=DICOM Configuration,<suffix>`.
    pub fn config_dn(&self) -> String {
        format!("cn=DICOM Configuration,{}", self.suffix)
    }

    /// `cn=Devices,cn=DICOM Configuration,<suffix>`.
    pub fn devices_dn(&self) -> String {
        format!("cn=Devices,{}", self.config_dn())
    }

    /// `cn=Unique AE Titles Registry,cn=DICOM Configuration,<suffix>`.
    pub fn registry_dn(&self) -> String {
        format!("cn=Unique AE Titles Registry,{}", self.config_dn())
    }

    /// The root DN, which may write anything.
    pub fn admin_dn(&self) -> String {
        format!("cn=admin,{}", self.suffix)
    }

    /// The root DN's password.
    pub fn admin_password(&self) -> &'static str {
        ADMIN_PASSWORD
    }

    /// The account a device binds with: writes the configuration tree unless
    /// the lab was started read-only.
    pub fn device_dn(&self) -> String {
        format!("cn=device,{}", self.suffix)
    }

    /// The device account's password.
    pub fn device_password(&self) -> &'static str {
        DEVICE_PASSWORD
    }

    /// slapd's version line.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Time from spawn to the first accepted connection of the last start.
    pub fn ready_after(&self) -> std::time::Duration {
        self.process
            .as_ref()
            .map(|p| p.ready_after)
            .unwrap_or_default()
    }

    /// The server's log so far (operations, with `log_operations(true)`).
    pub fn log(&self) -> String {
        self.dir
            .as_ref()
            .and_then(|d| std::fs::read_to_string(d.path().join("slapd.log")).ok())
            .unwrap_or_default()
    }

    /// Process id of the running slapd.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ServerProcess::pid)
    }

    /// Stops slapd, keeping its database: the server is "down" until
    /// [`Slapd::restart`].
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Stops slapd if it runs and starts it again on the same port with the
    /// same database: clients holding connections see them dropped.
    pub fn restart(&mut self) -> Result<(), LabError> {
        self.process = None;
        let dir = self
            .dir
            .as_ref()
            .ok_or_else(|| LabError::Invalid("slapd has no directory".into()))?;
        let process = spawn(
            &self.binary,
            &self.conf,
            dir.path(),
            self.port,
            self.tls_port,
            self.log_operations,
        )?;
        announce("slapd", &self.version, &self.url(), process.ready_after);
        self.process = Some(process);
        Ok(())
    }

    /// Runs the stock `ldapadd` as the admin with `ldif` on stdin.
    pub fn ldapadd(&self, ldif: &str) -> Result<String, LabError> {
        self.ldap_tool("ldapadd", ldif)
    }

    /// Runs the stock `ldapmodify` as the admin with `ldif` on stdin.
    pub fn ldapmodify(&self, ldif: &str) -> Result<String, LabError> {
        self.ldap_tool("ldapmodify", ldif)
    }

    fn ldap_tool(&self, tool: &'static str, ldif: &str) -> Result<String, LabError> {
        let binary = find_binary("slapd", tool, "ldap-utils")?;
        run_tool(
            tool,
            Command::new(binary)
                .args(["-x", "-H", &self.url(), "-D", &self.admin_dn(), "-w"])
                .arg(ADMIN_PASSWORD),
            Some(ldif.as_bytes()),
        )
    }

    /// Runs the stock `ldapsearch -LLL` as the admin: subtree search of
    /// `base` with `filter`, returning the LDIF it prints.
    pub fn ldapsearch(&self, base: &str, filter: &str) -> Result<String, LabError> {
        self.ldapsearch_scope(base, "sub", filter)
    }

    /// Like [`Slapd::ldapsearch`] with a scope: `base`, `one` or `sub`.
    pub fn ldapsearch_scope(
        &self,
        base: &str,
        scope: &str,
        filter: &str,
    ) -> Result<String, LabError> {
        let binary = find_binary("slapd", "ldapsearch", "ldap-utils")?;
        run_tool(
            "ldapsearch",
            Command::new(binary)
                .args(["-x", "-LLL", "-o", "ldif-wrap=no", "-H", &self.url()])
                .args(["-D", &self.admin_dn(), "-w", ADMIN_PASSWORD])
                .args(["-s", scope, "-b", base, filter]),
            None,
        )
    }

    /// Runs the stock `slapmodify` on the database with `ldif` (changetype
    /// records): an edit made while slapd is stopped ([`Slapd::stop`]).
    pub fn slapmodify(&self, ldif: &str) -> Result<String, LabError> {
        let binary = find_binary("slapd", "slapmodify", "slapd")?;
        run_tool(
            "slapmodify",
            Command::new(binary).arg("-f").arg(&self.conf),
            Some(ldif.as_bytes()),
        )
    }

    /// Runs the stock `slapcat` on the database, returning its LDIF.
    pub fn slapcat(&self) -> Result<String, LabError> {
        let binary = find_binary("slapd", "slapcat", "slapd")?;
        run_tool(
            "slapcat",
            Command::new(binary).arg("-f").arg(&self.conf),
            None,
        )
    }
}

/// A syncrepl provider and a read-only consumer replicating it: the
/// consumer answers writes with a referral (10) to the provider, as a
/// hospital's read-only LDAP replica would.
#[derive(Debug)]
pub struct SlapdPair {
    /// The writable provider (syncprov overlay).
    pub provider: Slapd,
    /// The read-only consumer.
    pub consumer: Slapd,
}

impl SlapdPair {
    /// Starts the provider with the base DIT and `seed_ldif`, then the
    /// consumer, and waits until the seed has replicated.
    pub fn start(seed_ldif: &str) -> Result<SlapdPair, LabError> {
        let mut provider = Slapd::builder().seed_ldif(seed_ldif);
        provider.role = Replication::Provider;
        let provider = provider.start()?;
        let mut consumer = Slapd::builder();
        consumer.role = Replication::ConsumerOf(provider.url());
        let consumer = consumer.start()?;
        let pair = SlapdPair { provider, consumer };
        pair.wait_replicated(&pair.provider.registry_dn())?;
        Ok(pair)
    }

    /// Like [`SlapdPair::start`], with a consumer that fetches the
    /// provider's changes only every `refresh_secs` seconds (1 to 59): a
    /// lagging replica.
    pub fn start_lagging(seed_ldif: &str, refresh_secs: u32) -> Result<SlapdPair, LabError> {
        let mut provider = Slapd::builder().seed_ldif(seed_ldif);
        provider.role = Replication::Provider;
        let provider = provider.start()?;
        let mut consumer = Slapd::builder();
        consumer.role = Replication::LaggingConsumerOf(provider.url(), refresh_secs.clamp(1, 59));
        let consumer = consumer.start()?;
        let pair = SlapdPair { provider, consumer };
        pair.wait_replicated(&pair.provider.registry_dn())?;
        Ok(pair)
    }

    /// Waits (up to 10 s) until `dn` is visible on the consumer.
    pub fn wait_replicated(&self, dn: &str) -> Result<(), LabError> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let found = self
                .consumer
                .ldapsearch_scope(dn, "base", "(objectClass=*)")
                .map(|out| !out.trim().is_empty())
                .unwrap_or(false);
            if found {
                return Ok(());
            }
            if std::time::Instant::now() > deadline {
                return Err(LabError::NotReady {
                    server: "slapd consumer",
                    waited: std::time::Duration::from_secs(10),
                    log: format!("{dn} did not replicate"),
                });
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
