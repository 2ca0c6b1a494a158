//! ntpsec's ntpd as a second NTP server family beside chronyd.
//!
//! ntpd always serves on UDP port 123, so each one runs in a network
//! namespace of its own (root only, like the DHCP lab), on that namespace's
//! loopback. Its Debian package conflicts with chrony's, so `cargo xtask`
//! extracts it under target/lab-pkgs/ntpsec instead of installing it.
//!
//! ntpd runs without the CAP_SYS_TIME capability (`setpriv`), so it cannot
//! touch the host clock whatever its configuration says.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use tempfile::TempDir;

use crate::process::{
    Readiness, ServerProcess, enter_netns, find_binary, is_root, run_tool, version_of,
};
use crate::{LabError, announce};

/// A running ntpsec ntpd with no time source: it answers every client with
/// leap indicator 3 and the Kiss-o'-Death code INIT ("not synchronized
/// yet"), as any ntpd does between its start and its first synchronization.
#[derive(Debug)]
pub struct Ntpsec {
    netns: String,
    ip: PathBuf,
    version: String,
    process: Option<ServerProcess>,
    dir: TempDir,
}

impl Ntpsec {
    /// Creates a network namespace, starts ntpd in it without a time source
    /// and waits until it listens on the namespace's 127.0.0.1:123.
    pub fn start_unsynchronized() -> Result<Ntpsec, LabError> {
        let ntpd = find_binary("ntpsec", "ntpd", "ntpsec")?;
        let ip = find_binary("ntpsec", "ip", "iproute2")?;
        let setpriv = find_binary("ntpsec", "setpriv", "util-linux")?;
        if !is_root() {
            return Err(LabError::NotPermitted {
                server: "ntpsec",
                reason: "ntpd serves on port 123 in a network namespace, which needs root (CI runs as root)".into(),
            });
        }
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let netns = format!(
            "annexr-ntp{}{}",
            std::process::id() % 100_000,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let dir = tempfile::Builder::new()
            .prefix("annexr-ntpsec-")
            .tempdir()?;
        let mut server = Ntpsec {
            netns,
            ip,
            version: version_of(&ntpd, &["--version"]),
            process: None,
            dir,
        };
        run_tool(
            "ip",
            Command::new(&server.ip).args(["netns", "add", &server.netns]),
            None,
        )?;
        run_tool(
            "ip",
            Command::new(&server.ip).args(["-n", &server.netns, "link", "set", "lo", "up"]),
            None,
        )?;
        let conf = server.dir.path().join("ntp.conf");
        std::fs::write(&conf, ntp_conf(server.dir.path()))?;
        let mut cmd = Command::new(&server.ip);
        // setpriv drops CAP_SYS_TIME from the bounding and inheritable sets:
        // ntpd (even as root) can then neither step nor slew the clock.
        cmd.args(["netns", "exec", &server.netns])
            .arg(&setpriv)
            .args([
                "--bounding-set",
                "-sys_time",
                "--inh-caps",
                "-sys_time",
                "--",
            ])
            .arg(&ntpd)
            .args(["-n", "-c"])
            .arg(&conf);
        let process = ServerProcess::spawn(
            "ntpsec",
            cmd,
            &server.dir.path().join("ntpd.log"),
            Readiness::LogLine("Listen normally on 2 lo 127.0.0.1:123".into()),
        )?;
        announce(
            "ntpsec",
            &server.version,
            &format!("127.0.0.1:123@netns:{}", server.netns),
            process.ready_after,
        );
        server.process = Some(process);
        Ok(server)
    }

    /// The address it serves on, inside [`Ntpsec::netns`].
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, 123))
    }

    /// The network namespace's name (`ip netns exec NAME …`).
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// ntpd's version line.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// ntpd's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("ntpd.log")).unwrap_or_default()
    }

    /// Runs `f` on a new thread that has entered the server's namespace and
    /// returns its result: every socket `f` opens (a current-thread tokio
    /// runtime built inside it too) reaches [`Ntpsec::addr`].
    pub fn in_netns<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R, LabError> {
        let path = Path::new("/run/netns").join(&self.netns);
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    enter_netns(&path)?;
                    Ok(f())
                })
                .join()
                .map_err(|_| {
                    LabError::Invalid("the closure run in the ntpsec namespace panicked".into())
                })?
        })
    }
}

/// No `server`, `pool` or `refclock` line: ntpd never synchronizes. No
/// drift or statistics files outside the lab's directory.
fn ntp_conf(dir: &Path) -> String {
    format!(
        "# annexr lab: an ntpd without time sources (always unsynchronized)\n\
         statsdir {dir}/\n\
         disable kernel\n\
         restrict default nomodify noquery\n",
        dir = dir.display()
    )
}

impl Drop for Ntpsec {
    fn drop(&mut self) {
        // Stop ntpd first: it holds the namespace's sockets.
        self.process = None;
        let _ = Command::new(&self.ip)
            .args(["netns", "del", &self.netns])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}
