//! 389 Directory Server (`389-ds-base`) with the DICOM configuration schema
//! of PS3.15 Annex H: the second LDAP server family beside OpenLDAP slapd.
//!
//! The instance is created by the stock `dscreate from-file` entirely inside
//! a temporary directory: `PREFIX` points lib389 at a private copy of
//! `defaults.inf` whose every writable path (configuration, database, logs,
//! run and lock directories, the ldapi socket) lies in that directory, with
//! systemd and SELinux off. Nothing is written to /etc, /var or /run, and no
//! systemd unit is enabled. That instance is made once per 389-DS version
//! and kept as a template under target/lab-cache; every lab server is a
//! clone of it in its own temporary directory, with its own database, CA and
//! ports. The lab runs `ns-slapd -d 0` in the foreground as its own child
//! process, and removes the directory on drop.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::process::{Readiness, ServerProcess, find_binary, free_port, run_tool};
use crate::tls::LabCa;
use crate::{LabError, announce, with_port_retry};

/// The DICOM configuration schema (PS3.15 Annex H) as a 389 Directory
/// Server schema file (`dn: cn=schema`), installed as `98dicom.ldif` in the
/// instance's schema directory. Shipped for users in `crates/lab/schema/`.
pub const DICOM_SCHEMA_389: &str = include_str!("../schema/98dicom-389ds.ldif");

const SERVER: &str = "389-ds";
const PACKAGE: &str = "389-ds-base";
const INSTANCE: &str = "annexr";
/// The backend `dscreate` makes for the `[backend-userroot]` section.
const BACKEND: &str = "userroot";
const ROOT_DN: &str = "cn=Directory Manager";
const ADMIN_PASSWORD: &str = "admin-secret";
const DEVICE_PASSWORD: &str = "device-secret";
/// The NSS nickname 389-DS serves (`nsSSLPersonalitySSL` of cn=RSA).
const SERVER_CERT_NICKNAME: &str = "Server-Cert";

/// Configures a [`Ds389`] before it starts.
#[derive(Debug, Clone)]
pub struct Ds389Builder {
    suffix: String,
    seed: Vec<String>,
    read_only: bool,
    tls: bool,
    size_limit: Option<u32>,
    dicom_tree: bool,
    sync_provider: bool,
}

impl Default for Ds389Builder {
    fn default() -> Self {
        Ds389Builder {
            suffix: "dc=example,dc=org".into(),
            seed: Vec::new(),
            read_only: false,
            // As for slapd: clients refuse a password bind without TLS.
            tls: true,
            size_limit: None,
            dicom_tree: true,
            sync_provider: false,
        }
    }
}

impl Ds389Builder {
    /// The naming context (default `dc=example,dc=org`; must be `dc=` RDNs).
    pub fn suffix(mut self, suffix: &str) -> Self {
        self.suffix = suffix.to_string();
        self
    }

    /// LDIF content records imported (`ns-slapd ldif2db`) after the base DIT
    /// (suffix, device account, `cn=DICOM Configuration`, `cn=Devices`,
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

    /// With `true` (the default), the server also listens for `ldaps://`
    /// and offers StartTLS, with a certificate for `localhost`/127.0.0.1
    /// from a lab CA ([`Ds389::ca_cert_path`]).
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// `nsslapd-sizelimit N` for every bind DN but the root (stock 389-DS
    /// has 2000; the lab default is unlimited). Paged results are capped by
    /// it too (`nsslapd-pagedsizelimit` 0 defers to it).
    pub fn size_limit(mut self, entries: u32) -> Self {
        self.size_limit = Some(entries);
        self
    }

    /// With `false`, the directory holds only the suffix and the device
    /// account: a server without a DICOM configuration root.
    pub fn dicom_tree(mut self, present: bool) -> Self {
        self.dicom_tree = present;
        self
    }

    /// With `true`, clients can follow the directory with RFC 4533 content
    /// synchronization (refreshAndPersist): the Retro Changelog and Content
    /// Synchronization plugins are enabled, as a 389-DS site enables them.
    pub fn sync_provider(mut self, on: bool) -> Self {
        self.sync_provider = on;
        self
    }

    /// Creates the instance with `dscreate`, loads the schema, the access
    /// rules, the base DIT and the seed, starts `ns-slapd` and waits until
    /// it accepts connections.
    pub fn start(self) -> Result<Ds389, LabError> {
        let dscreate = find_binary(SERVER, "dscreate", PACKAGE)?;
        let ns_slapd = find_binary(SERVER, "ns-slapd", PACKAGE)?;
        find_binary(SERVER, "ldapadd", "ldap-utils")?;
        let version = version_of_389(&ns_slapd);
        let template = template(&dscreate, &version)?;
        let dir = tempfile::Builder::new().prefix("annexr-ds389-").tempdir()?;
        let paths = InstancePaths::new(dir.path());
        clone_template(&template, &paths, &self.suffix)?;
        std::fs::write(paths.schema_dir().join("98dicom.ldif"), DICOM_SCHEMA_389)?;
        let ca = if self.tls {
            let ca = LabCa::generate(dir.path())?;
            import_certificates(&paths, &ca)?;
            Some(ca)
        } else {
            None
        };
        let config = vec![
            (
                "nsslapd-security",
                if self.tls { "on" } else { "off" }.to_string(),
            ),
            (
                "nsslapd-sizelimit",
                self.size_limit.map_or("-1".to_string(), |n| n.to_string()),
            ),
            // Every operation in the access log at once, for Ds389::log.
            ("nsslapd-accesslog-logbuffering", "off".to_string()),
        ];
        edit_entry(&paths.dse(), "cn=config", &config)?;
        if self.sync_provider {
            edit_entry(
                &paths.dse(),
                "cn=Retro Changelog Plugin,cn=plugins,cn=config",
                &[
                    ("nsslapd-pluginEnabled", "on".to_string()),
                    // Content sync identifies entries by their unique id.
                    ("nsslapd-attribute", "nsuniqueid:targetUniqueId".to_string()),
                    ("nsslapd-include-suffix", self.suffix.clone()),
                ],
            )?;
            edit_entry(
                &paths.dse(),
                "cn=Content Synchronization,cn=plugins,cn=config",
                &[("nsslapd-pluginEnabled", "on".to_string())],
            )?;
            // Stock 389-DS lets only bound users send the sync request
            // control (userdn ldap:///all); like the lab's slapd, anyone may.
            edit_entry(
                &paths.dse(),
                "oid=1.3.6.1.4.1.4203.1.9.1.1,cn=features,cn=config",
                &[(
                    "aci",
                    "(targetattr != \"aci\")(version 3.0; acl \"Sync Request Control\"; \
                     allow (read, search) userdn = \"ldap:///anyone\";)"
                        .to_string(),
                )],
            )?;
        }
        import_seed(&ns_slapd, &paths, &self)?;
        let mut server = with_port_retry(|port| {
            let tls_port = if self.tls { Some(free_port()?) } else { None };
            set_ports(&paths, port, tls_port)?;
            let process = spawn(&ns_slapd, &paths, port)?;
            Ok(Ds389 {
                suffix: self.suffix.clone(),
                port,
                tls_port,
                ca: ca.clone(),
                binary: ns_slapd.clone(),
                version: version.clone(),
                process: Some(process),
                dir: None,
            })
        })?;
        server.dir = Some(dir);
        announce(SERVER, &server.version, &server.url(), server.ready_after());
        Ok(server)
    }
}

/// Where the instance's files live inside the lab's temporary directory.
struct InstancePaths {
    root: PathBuf,
}

impl InstancePaths {
    fn new(root: &Path) -> Self {
        InstancePaths {
            root: root.to_path_buf(),
        }
    }

    /// What lib389 reads as `$PREFIX/etc`: the configuration directories.
    fn sysconf(&self) -> PathBuf {
        self.root.join("etc")
    }

    fn config_dir(&self) -> PathBuf {
        self.sysconf().join(format!("dirsrv/slapd-{INSTANCE}"))
    }

    fn schema_dir(&self) -> PathBuf {
        self.config_dir().join("schema")
    }

    fn dse(&self) -> PathBuf {
        self.config_dir().join("dse.ldif")
    }

    fn log_dir(&self) -> PathBuf {
        self.root.join("log")
    }

    fn run_dir(&self) -> PathBuf {
        self.root.join("run")
    }

    fn var(&self) -> PathBuf {
        self.root.join("var")
    }
}

/// The suffix the template instance is created with; a clone replaces it.
const TEMPLATE_SUFFIX: &str = "dc=example,dc=org";
/// Bumped when the template's layout changes, so an old cache is not used.
const TEMPLATE_REVISION: u32 = 2;
/// The file in a template naming the directory it was created in, which
/// its configuration's paths refer to.
const CREATED_AT: &str = "created-at";

/// An instance made by `dscreate` once per 389-DS version and kept under
/// target/lab-cache (dscreate takes seconds: it starts and stops the server
/// to configure it). Instances are clones of it ([`clone_template`]).
fn template(dscreate: &Path, version: &str) -> Result<PathBuf, LabError> {
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/lab-cache");
    std::fs::create_dir_all(&cache)?;
    // dscreate writes some paths canonical, some as given: give it one form.
    let cache = std::fs::canonicalize(&cache)?;
    let name: String = version
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    // The instance runs as the user who created it: one template per user.
    let user = current_user_name();
    let ready = cache.join(format!("ds389-template-v{TEMPLATE_REVISION}-{user}-{name}"));
    if ready.join(CREATED_AT).is_file() {
        return Ok(ready);
    }
    let staging = tempfile::Builder::new()
        .prefix("ds389-staging-")
        .tempdir_in(&cache)?;
    create_instance(
        dscreate,
        &InstancePaths::new(staging.path()),
        TEMPLATE_SUFFIX,
    )?;
    // The paths in the configuration name the staging directory.
    std::fs::write(
        staging.path().join(CREATED_AT),
        staging.path().display().to_string(),
    )?;
    // Whole or not at all: a concurrent test process may have won the
    // race, and then its template is used and this one dropped.
    if std::fs::rename(staging.path(), &ready).is_ok() {
        // The directory moved; nothing is left for the TempDir to remove.
        let _ = staging.keep();
    }
    Ok(ready)
}

/// Copies the template's configuration (dse.ldif, schema, NSS database)
/// into `paths`, with the template's paths and suffix replaced, and makes
/// the empty directories the server writes to.
fn clone_template(template: &Path, paths: &InstancePaths, suffix: &str) -> Result<(), LabError> {
    let from = InstancePaths::new(template);
    for dir in [
        paths.log_dir(),
        paths.run_dir(),
        paths.var().join("db"),
        paths.var().join("bak"),
        paths.var().join("ldif"),
        paths.root.join("tmp"),
        paths.root.join(format!("lock/slapd-{INSTANCE}")),
    ] {
        std::fs::create_dir_all(dir)?;
    }
    copy_dir(&from.config_dir(), &paths.config_dir())?;
    copy_dir(&from.schema_dir(), &paths.schema_dir())?;
    let old_root = std::fs::read_to_string(template.join(CREATED_AT))?;
    let new_root = paths.root.display().to_string();
    for name in ["dse.ldif", "pkcs11.txt"] {
        let file = paths.config_dir().join(name);
        // Unfolded first: the server folds long lines, also inside paths.
        let text = std::fs::read_to_string(&file)?.replace("\n ", "");
        let mut text = text.replace(&old_root, &new_root);
        if name == "dse.ldif" && suffix != TEMPLATE_SUFFIX {
            text = text.replace(TEMPLATE_SUFFIX, suffix);
        }
        std::fs::write(&file, text)?;
    }
    // Left by the template's own run; the clone starts from dse.ldif.
    for stale in ["dse.ldif.bak", "dse.ldif.startOK", "dse.ldif.tmp"] {
        let _ = std::fs::remove_file(paths.config_dir().join(stale));
    }
    Ok(())
}

/// Runs `dscreate from-file` with every path of the instance inside the lab
/// directory. dscreate starts the new server once to configure it over
/// LDAP and stops it again (`start = False`).
fn create_instance(dscreate: &Path, paths: &InstancePaths, suffix: &str) -> Result<(), LabError> {
    // dscreate copies the stock schema and configuration templates from
    // $sysconf_dir/dirsrv; a private sysconf_dir needs its own copy.
    for sub in ["schema", "config"] {
        copy_dir(
            &Path::new("/etc/dirsrv").join(sub),
            &paths.sysconf().join("dirsrv").join(sub),
        )?;
    }
    let stock = std::fs::read_to_string("/usr/share/dirsrv/inf/defaults.inf").map_err(|e| {
        LabError::Start {
            server: SERVER,
            reason: format!("/usr/share/dirsrv/inf/defaults.inf: {e}"),
            log: String::new(),
        }
    })?;
    let inf_dir = paths.root.join("share/dirsrv/inf");
    std::fs::create_dir_all(&inf_dir)?;
    std::fs::write(
        inf_dir.join("defaults.inf"),
        private_defaults(&stock, paths),
    )?;
    // dscreate's own start needs ports too; the lab's start picks new ones.
    let inf = format!(
        "[general]\nconfig_version = 2\nfull_machine_name = localhost\nselinux = False\n\
         systemd = False\nstart = False\nstrict_host_checking = False\n\n\
         [slapd]\ninstance_name = {INSTANCE}\nport = {port}\nsecure_port = {secure_port}\n\
         root_dn = {ROOT_DN}\nroot_password = {ADMIN_PASSWORD}\nself_sign_cert = False\n\n\
         [backend-{BACKEND}]\nsuffix = {suffix}\ncreate_suffix_entry = False\n",
        port = free_port()?,
        secure_port = free_port()?,
    );
    let inf_path = paths.root.join("instance.inf");
    std::fs::write(&inf_path, inf)?;
    run_tool(
        "dscreate",
        Command::new(dscreate)
            .arg("from-file")
            .arg(&inf_path)
            .env("PREFIX", &paths.root)
            .current_dir(&paths.root),
        None,
    )?;
    Ok(())
}

/// The stock `defaults.inf` with every path a running instance writes moved
/// under the lab directory, run as the current user, and no systemd.
fn private_defaults(stock: &str, paths: &InstancePaths) -> String {
    let root = paths.root.display().to_string();
    let user = current_user_name();
    let inst = "slapd-{instance_name}";
    let moved = [
        ("with_systemd", "0".into()),
        ("with_selinux", String::new()),
        ("tmp_dir", format!("{root}/tmp")),
        ("sysconf_dir", paths.sysconf().display().to_string()),
        ("initconfig_dir", format!("{root}/etc/default")),
        ("config_dir", format!("{root}/etc/dirsrv/{inst}")),
        ("local_state_dir", paths.var().display().to_string()),
        ("run_dir", paths.run_dir().display().to_string()),
        ("ldapi", format!("{root}/run/{inst}.socket")),
        ("pid_file", format!("{root}/run/{inst}.pid")),
        ("inst_dir", format!("{root}/inst")),
        ("tmpfiles_d", format!("{root}/tmpfiles.d")),
        ("user", user.clone()),
        ("group", user),
        ("schema_dir", format!("{root}/etc/dirsrv/{inst}/schema")),
        ("cert_dir", format!("{root}/etc/dirsrv/{inst}")),
        ("lock_dir", format!("{root}/lock/{inst}")),
        ("log_dir", format!("{root}/log")),
        ("access_log", format!("{root}/log/access")),
        ("audit_log", format!("{root}/log/audit")),
        ("error_log", format!("{root}/log/errors")),
        ("security_log", format!("{root}/log/security")),
        ("db_dir", format!("{root}/var/db")),
        ("db_home_dir", format!("{root}/var/db")),
        ("backup_dir", format!("{root}/var/bak")),
        ("ldif_dir", format!("{root}/var/ldif")),
    ];
    stock
        .lines()
        .map(|line| {
            let key = line.split('=').next().unwrap_or_default().trim();
            match moved.iter().find(|(k, _)| *k == key) {
                Some((k, v)) => format!("{k} = {v}\n"),
                None => format!("{line}\n"),
            }
        })
        .collect()
}

/// The name of the user this process runs as (the instance runs as it).
fn current_user_name() -> String {
    let uid = crate::process::effective_uid();
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|passwd| {
            passwd.lines().find_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                (fields.get(2) == Some(&uid.to_string().as_str())).then(|| fields[0].to_string())
            })
        })
        .unwrap_or_else(|| "root".into())
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), LabError> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// Puts the lab CA and the server certificate with its key into the
/// instance's NSS database, under the nickname 389-DS serves.
fn import_certificates(paths: &InstancePaths, ca: &LabCa) -> Result<(), LabError> {
    let certutil = find_binary(SERVER, "certutil", "libnss3-tools")?;
    let pk12util = find_binary(SERVER, "pk12util", "libnss3-tools")?;
    let openssl = find_binary("lab CA", "openssl", "openssl")?;
    let db = format!("sql:{}", paths.config_dir().display());
    let db_password = paths.config_dir().join("pwdfile.txt");
    let p12 = paths.root.join("server.p12");
    // The PKCS#12 file lives seconds in the lab's private directory; its
    // transport password only satisfies the format.
    let transport = "annexr-lab";
    run_tool(
        "certutil -A (lab CA)",
        Command::new(certutil)
            .args([
                "-A",
                "-d",
                &db,
                "-n",
                "annexr lab CA",
                "-t",
                "CT,,",
                "-a",
                "-i",
            ])
            .arg(&ca.ca_cert)
            .arg("-f")
            .arg(&db_password),
        None,
    )?;
    run_tool(
        "openssl pkcs12",
        Command::new(openssl)
            .args(["pkcs12", "-export", "-name", SERVER_CERT_NICKNAME, "-in"])
            .arg(&ca.server_cert)
            .arg("-inkey")
            .arg(&ca.server_key)
            .arg("-out")
            .arg(&p12)
            .args(["-passout", &format!("pass:{transport}")]),
        None,
    )?;
    run_tool(
        "pk12util",
        Command::new(pk12util)
            .arg("-i")
            .arg(&p12)
            .args(["-d", &db, "-W", transport, "-k"])
            .arg(&db_password),
        None,
    )?;
    Ok(())
}

/// Replaces (or adds) attributes of the entry `dn` in a dse.ldif, which the
/// server reads at start: settings that only take effect at start
/// (`nsslapd-security`, the ports) go here while the server is stopped.
fn edit_entry(dse: &Path, dn: &str, attrs: &[(&str, String)]) -> Result<(), LabError> {
    let text = std::fs::read_to_string(dse)?;
    let header = format!("dn: {dn}");
    let mut out = String::with_capacity(text.len() + 256);
    let mut found = false;
    for entry in text.split("\n\n") {
        if entry.is_empty() {
            continue;
        }
        let first = entry.lines().find(|l| !l.starts_with('#')).unwrap_or("");
        if !first.eq_ignore_ascii_case(&header) {
            out.push_str(entry.trim_end_matches('\n'));
            out.push_str("\n\n");
            continue;
        }
        found = true;
        // Drop the attributes being set, with their continuation lines.
        let mut skipping = false;
        for line in entry.lines() {
            if line.starts_with(' ') {
                if !skipping {
                    out.push_str(line);
                    out.push('\n');
                }
                continue;
            }
            let name = line.split(':').next().unwrap_or_default();
            skipping = attrs.iter().any(|(a, _)| a.eq_ignore_ascii_case(name));
            if !skipping {
                out.push_str(line);
                out.push('\n');
            }
        }
        for (name, value) in attrs {
            out.push_str(&format!("{name}: {value}\n"));
        }
        out.push('\n');
    }
    if !found {
        return Err(LabError::Invalid(format!(
            "{}: no entry {dn}",
            dse.display()
        )));
    }
    std::fs::write(dse, out)?;
    Ok(())
}

fn set_ports(paths: &InstancePaths, port: u16, tls_port: Option<u16>) -> Result<(), LabError> {
    let mut attrs = vec![("nsslapd-port", port.to_string())];
    if let Some(tls_port) = tls_port {
        attrs.push(("nsslapd-securePort", tls_port.to_string()));
    }
    edit_entry(&paths.dse(), "cn=config", &attrs)
}

/// Replaces the backend's content with the base DIT, the access rules and
/// the seed (`ns-slapd ldif2db`, the server stopped).
fn import_seed(
    ns_slapd: &Path,
    paths: &InstancePaths,
    options: &Ds389Builder,
) -> Result<(), LabError> {
    let mut all = base_dit_with_acis(options);
    for seed in &options.seed {
        all.push('\n');
        all.push_str(seed.trim_start_matches("version: 1\n"));
        all.push('\n');
    }
    let seed_path = paths.root.join("seed.ldif");
    std::fs::write(&seed_path, &all)?;
    run_tool(
        "ns-slapd ldif2db",
        Command::new(ns_slapd)
            .arg("ldif2db")
            .arg("-D")
            .arg(paths.config_dir())
            .args(["-n", BACKEND, "-i"])
            .arg(&seed_path),
        None,
    )?;
    Ok(())
}

/// The same base DIT as the lab's slapd, with the access rules of its
/// slapd.conf as 389-DS `aci` values: everyone reads everything but
/// passwords, and the device account writes the DICOM configuration tree
/// unless the server is read-only.
fn base_dit_with_acis(options: &Ds389Builder) -> String {
    let suffix = &options.suffix;
    let device = format!("cn=device,{suffix}");
    let read = "aci: (targetattr != \"userPassword\")(version 3.0; acl \"annexr lab: anyone reads\"; \
                allow (read, search, compare) userdn = \"ldap:///anyone\";)\n";
    let dit = crate::slapd::base_dit(suffix, options.dicom_tree);
    let with_read = dit.replacen(
        &format!("dn: {suffix}\n"),
        &format!("dn: {suffix}\n{read}"),
        1,
    );
    let config_dn = format!("dn: cn=DICOM Configuration,{suffix}\n");
    if options.read_only || !options.dicom_tree {
        return with_read;
    }
    let write = format!(
        "aci: (targetattr = \"*\")(version 3.0; acl \"annexr lab: the device writes the configuration\"; \
         allow (add, delete, write) userdn = \"ldap:///{device}\";)\n"
    );
    with_read.replacen(&config_dn, &format!("{config_dn}{write}"), 1)
}

fn spawn(ns_slapd: &Path, paths: &InstancePaths, port: u16) -> Result<ServerProcess, LabError> {
    let mut cmd = Command::new(ns_slapd);
    // `-d 0` keeps ns-slapd in the foreground, a child the lab can stop.
    cmd.arg("-D")
        .arg(paths.config_dir())
        .arg("-i")
        .arg(paths.run_dir().join("ns-slapd.pid"))
        .args(["-d", "0"]);
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    ServerProcess::spawn(
        SERVER,
        cmd,
        &paths.root.join("ns-slapd.log"),
        Readiness::Tcp(addr),
    )
}

/// `389-Directory/2.3.1 B…`: the line of `ns-slapd -v` that names the
/// version (the first one only says "389 Project").
fn version_of_389(ns_slapd: &Path) -> String {
    Command::new(ns_slapd)
        .arg("-v")
        .output()
        .ok()
        .and_then(|out| {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            text.lines()
                .map(str::trim)
                .find(|l| l.starts_with("389-Directory/"))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "unknown version".into())
}

/// A running 389 Directory Server instance holding a DICOM configuration
/// tree, created and removed by the lab.
#[derive(Debug)]
pub struct Ds389 {
    suffix: String,
    port: u16,
    tls_port: Option<u16>,
    ca: Option<LabCa>,
    binary: PathBuf,
    version: String,
    process: Option<ServerProcess>,
    // Declared last: dropped after the process is stopped.
    dir: Option<TempDir>,
}

impl Ds389 {
    /// A builder with the defaults: suffix `dc=example,dc=org`, no seed,
    /// writable by the device account, TLS on, no size limit.
    pub fn builder() -> Ds389Builder {
        Ds389Builder::default()
    }

    /// `ldap://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// `ldaps://localhost:PORT` when started with TLS.
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

    /// The root DN (`cn=Directory Manager`), which may write anything.
    pub fn admin_dn(&self) -> String {
        ROOT_DN.to_string()
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

    /// The `389-Directory/VERSION` line of `ns-slapd -v`.
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

    /// The access log so far: one line per operation and result
    /// (`conn=N op=M BIND dn="…"`, `SRCH base="…"`, `ADD dn="…"`, …).
    pub fn log(&self) -> String {
        self.dir
            .as_ref()
            .and_then(|d| {
                std::fs::read_to_string(InstancePaths::new(d.path()).log_dir().join("access")).ok()
            })
            .unwrap_or_default()
    }

    /// Process id of the running ns-slapd.
    pub fn pid(&self) -> Option<u32> {
        self.process.as_ref().map(ServerProcess::pid)
    }

    /// Stops the server, keeping its database, until [`Ds389::restart`].
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Stops the server if it runs and starts it again on the same port with
    /// the same database: clients holding connections see them dropped.
    pub fn restart(&mut self) -> Result<(), LabError> {
        self.process = None;
        let dir = self
            .dir
            .as_ref()
            .ok_or_else(|| LabError::Invalid("389-ds has no directory".into()))?;
        let process = spawn(&self.binary, &InstancePaths::new(dir.path()), self.port)?;
        announce(SERVER, &self.version, &self.url(), process.ready_after);
        self.process = Some(process);
        Ok(())
    }

    /// Runs the stock `ldapadd` as the root DN with `ldif` on stdin.
    pub fn ldapadd(&self, ldif: &str) -> Result<String, LabError> {
        self.ldap_tool("ldapadd", ldif)
    }

    /// Runs the stock `ldapmodify` as the root DN with `ldif` on stdin.
    pub fn ldapmodify(&self, ldif: &str) -> Result<String, LabError> {
        self.ldap_tool("ldapmodify", ldif)
    }

    fn ldap_tool(&self, tool: &'static str, ldif: &str) -> Result<String, LabError> {
        let binary = find_binary(SERVER, tool, "ldap-utils")?;
        run_tool(
            tool,
            Command::new(binary)
                .args(["-x", "-H", &self.url(), "-D", ROOT_DN, "-w"])
                .arg(ADMIN_PASSWORD),
            Some(ldif.as_bytes()),
        )
    }

    /// Runs the stock `ldapsearch -LLL` as the root DN: a search of `base`
    /// with `scope` (`base`, `one` or `sub`) and `filter`, returning the
    /// LDIF it prints.
    pub fn ldapsearch_scope(
        &self,
        base: &str,
        scope: &str,
        filter: &str,
    ) -> Result<String, LabError> {
        let binary = find_binary(SERVER, "ldapsearch", "ldap-utils")?;
        run_tool(
            "ldapsearch",
            Command::new(binary)
                .args(["-x", "-LLL", "-o", "ldif-wrap=no", "-H", &self.url()])
                .args(["-D", ROOT_DN, "-w", ADMIN_PASSWORD])
                .args(["-s", scope, "-b", base, filter]),
            None,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_of_dse_ldif_gets_attributes_replaced_and_added() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let dir = dir
            .as_ref()
            .map(|d| d.path())
            .unwrap_or(Path::new("/nonexistent"));
        let dse = dir.join("dse.ldif");
        let before = "dn: cn=config\ncn: config\nnsslapd-port: 389\nnsslapd-rootpw: {PBKDF2}abc\n def\n\n\
                      dn: cn=other,cn=config\nnsslapd-port: 1\n\n";
        let _ = std::fs::write(&dse, before);
        let edited = edit_entry(
            &dse,
            "cn=config",
            &[
                ("nsslapd-port", "1234".into()),
                ("nsslapd-security", "on".into()),
            ],
        )
        .and_then(|()| Ok(std::fs::read_to_string(&dse)?));
        assert_eq!(
            edited.ok().as_deref(),
            Some(
                "dn: cn=config\ncn: config\nnsslapd-rootpw: {PBKDF2}abc\n def\nnsslapd-port: 1234\nnsslapd-security: on\n\n\
                 dn: cn=other,cn=config\nnsslapd-port: 1\n\n"
            )
        );
        assert!(matches!(
            edit_entry(&dse, "cn=missing", &[]),
            Err(LabError::Invalid(_))
        ));
    }

    #[test]
    fn the_private_defaults_move_every_writable_path_into_the_lab_directory() {
        let stock = "[slapd]\nprefix = /usr\nsysconf_dir = /etc\nrun_dir = /run/dirsrv\n\
                     ldapi = /run/slapd-{instance_name}.socket\nwith_systemd = 1\n\
                     db_dir = /var/lib/dirsrv/slapd-{instance_name}/db\nuser = dirsrv\n";
        let paths = InstancePaths::new(Path::new("/tmp/lab"));
        let private = private_defaults(stock, &paths);
        assert!(private.contains("prefix = /usr\n"), "{private}");
        assert!(private.contains("with_systemd = 0\n"), "{private}");
        for line in private.lines().filter(|l| l.contains(" = /")) {
            let value = line.split(" = ").nth(1).unwrap_or_default();
            assert!(value == "/usr" || value.starts_with("/tmp/lab/"), "{line}");
        }
    }
}
