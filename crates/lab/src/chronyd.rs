//! chronyd as an NTP server that never touches the host clock.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;

use tempfile::TempDir;

use crate::process::{Readiness, ServerProcess, find_binary, version_of};
use crate::{LabError, announce, with_port_retry};

/// Where Debian's libfaketime package puts the preload library.
const FAKETIME_LIBS: [&str; 2] = [
    "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1",
    "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
];

/// Configures a [`Chronyd`] before it starts.
#[derive(Debug, Clone, Default)]
pub struct ChronydBuilder {
    offset_secs: i64,
    stratum: Option<u8>,
    extra: Vec<String>,
}

impl ChronydBuilder {
    /// Serve a clock shifted by this many seconds from the host's, by running
    /// chronyd under libfaketime (`FAKETIME=+37s`). Clients then measure that
    /// offset; the host clock is untouched either way (`chronyd -x`).
    pub fn offset_secs(mut self, offset: i64) -> Self {
        self.offset_secs = offset;
        self
    }

    /// The stratum it claims (`local stratum N`, default 8).
    pub fn stratum(mut self, stratum: u8) -> Self {
        self.stratum = Some(stratum);
        self
    }

    /// An extra chrony.conf directive, e.g. `ratelimit interval 1 burst 1`.
    pub fn directive(mut self, line: &str) -> Self {
        self.extra.push(line.to_string());
        self
    }

    /// Starts chronyd and waits until it answers an NTP request.
    pub fn start(self) -> Result<Chronyd, LabError> {
        let binary = find_binary("chronyd", "chronyd", "chrony")?;
        let faketime = if self.offset_secs != 0 {
            Some(faketime_library()?)
        } else {
            None
        };
        let version = version_of(&binary, &["-v"]);
        let dir = tempfile::Builder::new()
            .prefix("annexr-chronyd-")
            .tempdir()?;
        let (addr, process) = with_port_retry(|port| {
            let conf = write_config(dir.path(), port, self.stratum.unwrap_or(8), &self.extra)?;
            // -x: never set the system clock; -d: stay in the foreground.
            let mut cmd = Command::new(&binary);
            cmd.arg("-x").arg("-d").arg("-f").arg(&conf);
            if let Some(lib) = &faketime {
                cmd.env("LD_PRELOAD", lib)
                    .env("FAKETIME", format!("{:+}s", self.offset_secs));
            }
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let process = ServerProcess::spawn(
                "chronyd",
                cmd,
                &dir.path().join("chronyd.log"),
                Readiness::Ntp(addr),
            )?;
            Ok((addr, process))
        })?;
        announce("chronyd", &version, &addr.to_string(), process.ready_after);
        Ok(Chronyd {
            addr,
            offset_secs: self.offset_secs,
            version,
            process,
            _dir: dir,
        })
    }
}

fn faketime_library() -> Result<PathBuf, LabError> {
    FAKETIME_LIBS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or(LabError::Missing {
            server: "chronyd (shifted clock)",
            binary: "libfaketime.so.1",
            package: "faketime",
        })
}

fn write_config(dir: &Path, port: u16, stratum: u8, extra: &[String]) -> Result<PathBuf, LabError> {
    let mut conf = format!(
        "port {port}
bindaddress 127.0.0.1
local stratum {stratum}
allow 127.0.0.1
cmdport 0
pidfile {pid}
driftfile {drift}
",
        pid = dir.join("chronyd.pid").display(),
        drift = dir.join("drift").display(),
    );
    for line in extra {
        conf.push_str(line);
        conf.push('\n');
    }
    let path = dir.join("chrony.conf");
    std::fs::write(&path, conf)?;
    Ok(path)
}

/// A running chronyd serving time on a loopback UDP port.
#[derive(Debug)]
pub struct Chronyd {
    addr: SocketAddr,
    offset_secs: i64,
    version: String,
    process: ServerProcess,
    _dir: TempDir,
}

impl Chronyd {
    /// A builder: stratum 8, the host's own time.
    pub fn builder() -> ChronydBuilder {
        ChronydBuilder::default()
    }

    /// The UDP address it serves NTP on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The offset from the host clock it serves, in seconds.
    pub fn offset_secs(&self) -> i64 {
        self.offset_secs
    }

    /// chronyd's version line.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Time from spawn to the first NTP answer.
    pub fn ready_after(&self) -> std::time::Duration {
        self.process.ready_after
    }
}
