//! Orthanc as a third DICOM peer family. Orthanc has no setting for the
//! address its DICOM server binds (it takes every interface), so it runs in
//! a network namespace of its own with only a loopback interface (root only,
//! like the DHCP lab): nothing outside the namespace can reach it.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use tempfile::TempDir;

use crate::process::{Readiness, ServerProcess, find_binary, is_root, run_tool, version_of};
use crate::{LabError, announce};

/// Orthanc's DICOM port inside its namespace.
const DICOM_PORT: u16 = 4242;

/// Configures an [`Orthanc`] before it starts.
#[derive(Debug, Clone)]
pub struct OrthancBuilder {
    ae_title: String,
    check_called_aet: bool,
    always_allow_echo: bool,
    modalities: Vec<(String, String, u16)>,
}

impl Default for OrthancBuilder {
    fn default() -> Self {
        OrthancBuilder {
            ae_title: "ORTHANC".into(),
            check_called_aet: false,
            always_allow_echo: true,
            modalities: Vec::new(),
        }
    }
}

impl OrthancBuilder {
    /// Its own AE title (`DicomAet`, default `ORTHANC`).
    pub fn ae_title(mut self, ae_title: &str) -> Self {
        self.ae_title = ae_title.to_string();
        self
    }

    /// Reject associations whose called AE title is not its own
    /// (`DicomCheckCalledAet`, default off).
    pub fn check_called_aet(mut self, on: bool) -> Self {
        self.check_called_aet = on;
        self
    }

    /// Answer C-ECHO from callers it does not know (`DicomAlwaysAllowEcho`,
    /// default on). Off, only [`OrthancBuilder::modality`] callers may echo.
    pub fn always_allow_echo(mut self, on: bool) -> Self {
        self.always_allow_echo = on;
        self
    }

    /// A known peer (`DicomModalities`): AE title, host, port.
    pub fn modality(mut self, ae_title: &str, host: &str, port: u16) -> Self {
        self.modalities
            .push((ae_title.to_string(), host.to_string(), port));
        self
    }

    /// Creates the namespace, starts Orthanc (DICOM only, HTTP server off)
    /// and waits until it says it has started.
    pub fn start(self) -> Result<Orthanc, LabError> {
        let binary = find_binary("orthanc", "Orthanc", "orthanc")?;
        let ip = find_binary("orthanc", "ip", "iproute2")?;
        if !is_root() {
            return Err(LabError::NotPermitted {
                server: "orthanc",
                reason: "Orthanc binds every interface, so the lab runs it in a network namespace, which needs root (CI runs as root)".into(),
            });
        }
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let netns = format!(
            "annexr-orthanc{}{}",
            std::process::id() % 100_000,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = tempfile::Builder::new()
            .prefix("annexr-orthanc-")
            .tempdir()?;
        let mut orthanc = Orthanc {
            netns,
            ip,
            ae_title: self.ae_title.clone(),
            version: version_of(&binary, &["--version"]),
            process: None,
            dir,
        };
        run_tool(
            "ip",
            Command::new(&orthanc.ip).args(["netns", "add", &orthanc.netns]),
            None,
        )?;
        run_tool(
            "ip",
            Command::new(&orthanc.ip).args(["-n", &orthanc.netns, "link", "set", "lo", "up"]),
            None,
        )?;
        let conf = orthanc.dir.path().join("orthanc.json");
        std::fs::write(&conf, self.config(orthanc.dir.path()))?;
        let mut cmd = Command::new(&orthanc.ip);
        cmd.args(["netns", "exec", &orthanc.netns])
            .arg(&binary)
            .arg(&conf);
        let process = ServerProcess::spawn(
            "orthanc",
            cmd,
            &orthanc.dir.path().join("orthanc.log"),
            Readiness::LogLine("Orthanc has started".into()),
        )?;
        announce(
            "orthanc",
            &orthanc.version,
            &format!("{}@netns:{}", orthanc.addr(), orthanc.netns),
            process.ready_after,
        );
        orthanc.process = Some(process);
        Ok(orthanc)
    }

    fn config(&self, dir: &Path) -> String {
        let json_string = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let modalities: Vec<String> = self
            .modalities
            .iter()
            .map(|(aet, host, port)| {
                format!(
                    "{}: [{}, {}, {port}]",
                    json_string(aet),
                    json_string(aet),
                    json_string(host)
                )
            })
            .collect();
        let storage = json_string(&dir.join("db").display().to_string());
        format!(
            r#"{{
  "Name": "annexr-lab",
  "StorageDirectory": {storage},
  "IndexDirectory": {storage},
  "HttpServerEnabled": false,
  "RemoteAccessAllowed": false,
  "DicomServerEnabled": true,
  "DicomAet": {aet},
  "DicomPort": {DICOM_PORT},
  "DicomCheckCalledAet": {check_called},
  "DicomAlwaysAllowEcho": {allow_echo},
  "DicomAlwaysAllowStore": false,
  "DicomModalities": {{ {modalities} }},
  "DicomAssociationCloseDelay": 0,
  "SaveJobs": false,
  "Plugins": [],
  "LuaScripts": []
}}
"#,
            aet = json_string(&self.ae_title),
            check_called = self.check_called_aet,
            allow_echo = self.always_allow_echo,
            modalities = modalities.join(", "),
        )
    }
}

/// A running Orthanc in its own network namespace.
#[derive(Debug)]
pub struct Orthanc {
    netns: String,
    ip: PathBuf,
    ae_title: String,
    version: String,
    process: Option<ServerProcess>,
    dir: TempDir,
}

impl Orthanc {
    /// A builder: AE title ORTHANC, any called AE, echo for anyone.
    pub fn builder() -> OrthancBuilder {
        OrthancBuilder::default()
    }

    /// Its DICOM address, inside [`Orthanc::netns`].
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, DICOM_PORT))
    }

    /// Its own AE title.
    pub fn ae_title(&self) -> &str {
        &self.ae_title
    }

    /// The network namespace's name.
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// Orthanc's version line.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Orthanc's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("orthanc.log")).unwrap_or_default()
    }

    /// Runs `f` on a new thread that has entered Orthanc's namespace (so
    /// that the sockets it opens reach [`Orthanc::addr`]) and returns its
    /// result.
    pub fn in_netns<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R, LabError> {
        crate::process::run_in_netns(&self.netns, "Orthanc's namespace", f)
    }
}

impl Drop for Orthanc {
    fn drop(&mut self) {
        self.process = None;
        let _ = Command::new(&self.ip)
            .args(["netns", "del", &self.netns])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}
