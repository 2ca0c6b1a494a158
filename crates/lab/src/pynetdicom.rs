//! pynetdicom as a second DICOM peer family beside DCMTK: one Verification
//! SCP (`py/scp.py`) whose answer the called AE title chooses, so that a
//! real peer produces every A-ASSOCIATE-RJ result/source/reason, A-ABORT in
//! every phase, a failed C-ECHO, a refused SOP class, a hang-up, silence and
//! a malformed PDU.
//!
//! pynetdicom comes from PyPI into a virtual environment the lab creates
//! once (`python3 -m venv` + `pip install pynetdicom`) under the workspace's
//! target/lab-venv (`ANNEXR_LAB_VENV` overrides), and reuses after that.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::process::{Readiness, ServerProcess, find_binary, run_tool, version_of};
use crate::{LabError, announce, with_port_retry};

/// The SCP script; its doc string lists the called AE titles it knows.
const SCP_SCRIPT: &str = include_str!("../py/scp.py");
/// The PyPI requirement installed into the virtual environment.
const REQUIREMENT: &str = "pynetdicom>=2.0";

/// The called AE titles [`PynetdicomScp`] knows (anything else: accept,
/// C-ECHO success, normal release).
pub mod called_ae {
    /// A-ASSOCIATE-RJ with `result`, `source` and `reason`.
    pub fn reject(result: u8, source: u8, reason: u8) -> String {
        format!("RJ-{result}-{source}-{reason}")
    }

    /// A-ABORT (`source`, `reason`) in answer to the A-ASSOCIATE-RQ.
    pub fn abort_on_associate(source: u8, reason: u8) -> String {
        format!("AB-ASSOC-{source}-{reason}")
    }

    /// Accept, then A-ABORT in answer to the C-ECHO-RQ.
    pub fn abort_on_echo(source: u8, reason: u8) -> String {
        format!("AB-ECHO-{source}-{reason}")
    }

    /// Accept and echo, then A-ABORT in answer to the A-RELEASE-RQ.
    pub fn abort_on_release(source: u8, reason: u8) -> String {
        format!("AB-REL-{source}-{reason}")
    }

    /// Accept, and answer C-ECHO with this DIMSE status.
    pub fn echo_status(status: u16) -> String {
        format!("ECHO-{status:04X}")
    }

    /// Accept the association but refuse the Verification context.
    pub const NO_VERIFICATION: &str = "NO-VERIF";
    /// Close the connection without any PDU.
    pub const HANG_UP: &str = "HANG-UP";
    /// Do not answer the A-ASSOCIATE-RQ for 30 s.
    pub const SILENT: &str = "SILENT";
    /// Answer the A-ASSOCIATE-RQ with an unknown PDU type (0x09).
    pub const BAD_PDU: &str = "BAD-PDU";
}

/// A running pynetdicom Verification SCP on a loopback port.
#[derive(Debug)]
pub struct PynetdicomScp {
    addr: SocketAddr,
    version: String,
    process: ServerProcess,
    dir: TempDir,
}

impl PynetdicomScp {
    /// Creates the virtual environment if needed, starts the SCP and waits
    /// until it accepts TCP connections.
    pub fn start() -> Result<PynetdicomScp, LabError> {
        let python = ensure_venv()?;
        let version = version_of(
            &python,
            &[
                "-c",
                "import pynetdicom; print('pynetdicom', pynetdicom.__version__)",
            ],
        );
        let dir = tempfile::Builder::new()
            .prefix("annexr-pynetdicom-")
            .tempdir()?;
        let script = dir.path().join("scp.py");
        std::fs::write(&script, SCP_SCRIPT)?;
        let log_path = dir.path().join("scp.log");
        let (addr, process) = with_port_retry(|port| {
            let mut cmd = Command::new(&python);
            cmd.arg(&script).arg(port.to_string());
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let process = ServerProcess::spawn("pynetdicom", cmd, &log_path, Readiness::Tcp(addr))?;
            Ok((addr, process))
        })?;
        announce(
            "pynetdicom",
            &version,
            &addr.to_string(),
            process.ready_after,
        );
        Ok(PynetdicomScp {
            addr,
            version,
            process,
            dir,
        })
    }

    /// The address it accepts associations on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// "pynetdicom X.Y.Z".
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Time from spawn to the first accepted connection.
    pub fn ready_after(&self) -> std::time::Duration {
        self.process.ready_after
    }

    /// The SCP's log so far (pynetdicom's INFO lines).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("scp.log")).unwrap_or_default()
    }
}

fn venv_dir() -> PathBuf {
    std::env::var_os("ANNEXR_LAB_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/lab-venv"))
}

/// The virtual environment's python with pynetdicom importable, creating the
/// environment first when needed (under a lock: test binaries run at once).
fn ensure_venv() -> Result<PathBuf, LabError> {
    let dir = venv_dir();
    let python = dir.join("bin/python3");
    let ready = |python: &Path| {
        Command::new(python)
            .args(["-c", "import pynetdicom"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if ready(&python) {
        return Ok(python);
    }
    // The Debian python, whose venv module python3-venv provides.
    let system_python = if Path::new("/usr/bin/python3").is_file() {
        PathBuf::from("/usr/bin/python3")
    } else {
        find_binary("pynetdicom", "python3", "python3-venv")?
    };
    if let Some(parent) = dir.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let _lock = VenvLock::take(&dir.with_extension("lock"))?;
    if ready(&python) {
        return Ok(python);
    }
    run_tool(
        "python3 -m venv",
        Command::new(&system_python).arg("-m").arg("venv").arg(&dir),
        None,
    )
    .map_err(|e| match e {
        LabError::Tool { stderr, .. } if stderr.contains("ensurepip") => LabError::Missing {
            server: "pynetdicom",
            binary: "python3 -m venv",
            package: "python3-venv",
        },
        other => other,
    })?;
    run_tool(
        "pip install pynetdicom",
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            REQUIREMENT,
        ]),
        None,
    )?;
    Ok(python)
}

/// An exclusive lock on a file, released on drop.
struct VenvLock {
    _file: std::fs::File,
}

impl VenvLock {
    #[allow(unsafe_code)]
    fn take(path: &Path) -> Result<Self, LabError> {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)?;
        // SAFETY: flock(2) on a descriptor we own; it touches no memory.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        if rc != 0 {
            return Err(LabError::Io(std::io::Error::last_os_error()));
        }
        Ok(VenvLock { _file: file })
    }
}
