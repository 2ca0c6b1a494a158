//! Child-process plumbing shared by every lab server: finding the binary,
//! spawning it in its own process group, waiting until it answers, and
//! stopping it (with every child it forked) on drop.
#![allow(unsafe_code)]

use std::fs::File;
use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::LabError;

/// How long a server may take to answer after it was spawned.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a server gets to exit after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);

/// Where `cargo xtask` extracts packages that must not be installed on the
/// host (`apt-get download` + `dpkg -x`): `ANNEXR_LAB_PKGS`, or the
/// workspace's target/lab-pkgs.
pub(crate) fn private_packages_dir() -> PathBuf {
    std::env::var_os("ANNEXR_LAB_PKGS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/lab-pkgs"))
}

/// Finds `binary` on `PATH`, in the sbin directories, which are not on a
/// normal user's `PATH` but hold slapd, dnsmasq and chronyd on Debian, or in
/// the package's private extraction (`private_packages_dir()/PACKAGE/usr/sbin`).
pub(crate) fn find_binary(
    server: &'static str,
    binary: &'static str,
    package: &'static str,
) -> Result<PathBuf, LabError> {
    find_binary_in(server, binary, package, &private_packages_dir())
}

fn find_binary_in(
    server: &'static str,
    binary: &'static str,
    package: &'static str,
    private_packages: &Path,
) -> Result<PathBuf, LabError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let private = private_packages.join(package);
    let dirs = std::env::split_paths(&path)
        .chain(
            ["/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/bin"]
                .iter()
                .map(PathBuf::from),
        )
        .chain([private.join("usr/sbin"), private.join("usr/bin")]);
    for dir in dirs {
        let candidate = dir.join(binary);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(LabError::Missing {
        server,
        binary,
        package,
    })
}

/// The first line a binary prints for its version flag, cached per binary.
pub(crate) fn version_of(binary: &Path, args: &[&str]) -> String {
    static CACHE: OnceLock<Mutex<Vec<(PathBuf, String)>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(Vec::new()));
    if let Ok(cached) = cache.lock()
        && let Some((_, v)) = cached.iter().find(|(p, _)| p == binary)
    {
        return v.clone();
    }
    let version = Command::new(binary)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map(|out| {
            let text = if out.stdout.is_empty() {
                out.stderr
            } else {
                out.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("unknown version")
                .to_string()
        })
        .unwrap_or_else(|e| format!("unknown version ({e})"));
    if let Ok(mut cached) = cache.lock() {
        cached.push((binary.to_path_buf(), version.clone()));
    }
    version
}

/// A free TCP port on 127.0.0.1 whose UDP twin is free too (dnsmasq serves
/// both). The port is released before the server binds it; a lost race shows
/// as a server that exits at once, and the callers retry with a new port.
pub(crate) fn free_port() -> Result<u16, LabError> {
    for _ in 0..50 {
        let tcp = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(LabError::Io)?;
        let port = tcp.local_addr().map_err(LabError::Io)?.port();
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return Ok(port);
        }
    }
    Err(LabError::Io(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no free TCP+UDP port pair on 127.0.0.1",
    )))
}

/// How the lab knows a server is ready.
pub(crate) enum Readiness {
    /// Accepts a TCP connection on this address.
    Tcp(SocketAddr),
    /// Answers an NTP client packet on this UDP address.
    Ntp(SocketAddr),
    /// Has written a line containing this text to its log (servers that
    /// listen where the lab cannot connect, e.g. inside a namespace).
    LogLine(String),
}

/// A running server process; dropping it stops the process group.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    server: &'static str,
    child: Child,
    log_path: PathBuf,
    /// Time from spawn to the first answer.
    pub(crate) ready_after: Duration,
}

impl ServerProcess {
    /// Spawns `cmd` with stdout and stderr going to `log_path`, in its own
    /// process group and with a parent-death signal, then waits for `ready`.
    pub(crate) fn spawn(
        server: &'static str,
        mut cmd: Command,
        log_path: &Path,
        ready: Readiness,
    ) -> Result<Self, LabError> {
        let log = File::create(log_path).map_err(LabError::Io)?;
        let log_err = log.try_clone().map_err(LabError::Io)?;
        cmd.stdin(Stdio::null()).stdout(log).stderr(log_err);
        // SAFETY: only async-signal-safe calls (setpgid, prctl) run between
        // fork and exec. A process group lets Drop stop forked children
        // (dcmqrscp forks per association); PDEATHSIG stops the server when
        // the test process dies without running Drop (SIGKILL, abort).
        unsafe {
            cmd.pre_exec(|| {
                libc::setpgid(0, 0);
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let started = Instant::now();
        let child = cmd.spawn().map_err(|e| LabError::Start {
            server,
            reason: format!("spawn failed: {e}"),
            log: String::new(),
        })?;
        let mut process = ServerProcess {
            server,
            child,
            log_path: log_path.to_path_buf(),
            ready_after: Duration::ZERO,
        };
        process.wait_ready(&ready, started)?;
        process.ready_after = started.elapsed();
        Ok(process)
    }

    fn wait_ready(&mut self, ready: &Readiness, started: Instant) -> Result<(), LabError> {
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(LabError::Start {
                    server: self.server,
                    reason: format!("exited before it answered ({status})"),
                    log: self.log_tail(),
                });
            }
            let answered = match ready {
                Readiness::Tcp(addr) => {
                    TcpStream::connect_timeout(addr, Duration::from_millis(200)).is_ok()
                }
                Readiness::Ntp(addr) => ntp_answers(*addr),
                Readiness::LogLine(text) => std::fs::read(&self.log_path)
                    .is_ok_and(|log| String::from_utf8_lossy(&log).contains(text.as_str())),
            };
            if answered {
                return Ok(());
            }
            if started.elapsed() > READY_TIMEOUT {
                return Err(LabError::NotReady {
                    server: self.server,
                    waited: READY_TIMEOUT,
                    log: self.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The last lines of the server's combined stdout/stderr.
    pub(crate) fn log_tail(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = File::open(&self.log_path) {
            let _ = f.read_to_string(&mut text);
        }
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Process id of the server (also its process group id).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal_group(&self, signal: libc::c_int) {
        let Ok(pid) = libc::pid_t::try_from(self.child.id()) else {
            return;
        };
        // SAFETY: kill(2) with a negative pid signals the process group we
        // created in pre_exec; it touches no memory of ours.
        unsafe {
            libc::kill(-pid, signal);
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.signal_group(libc::SIGTERM);
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                // The leader is gone; make sure forked children are too.
                self.signal_group(libc::SIGKILL);
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.signal_group(libc::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Sends one SNTP client request and reports whether any server reply came.
fn ntp_answers(addr: SocketAddr) -> bool {
    let Ok(socket) = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)) else {
        return false;
    };
    let _ = socket.set_read_timeout(Some(Duration::from_millis(200)));
    // LI 0, version 4, mode 3 (client); the rest may be zero for a probe.
    let mut request = [0u8; 48];
    request[0] = 0x23;
    if socket.send_to(&request, addr).is_err() {
        return false;
    }
    let mut reply = [0u8; 68];
    matches!(socket.recv_from(&mut reply), Ok((n, _)) if n >= 48 && reply[0] & 0x07 == 4)
}

/// The effective user id of this process.
pub(crate) fn effective_uid() -> u32 {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// True when this process runs as root (network namespaces need it).
pub(crate) fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    unsafe { libc::geteuid() == 0 }
}

/// Moves the calling thread into the network namespace bound at `path`
/// (e.g. `/run/netns/NAME`). Only this thread changes namespace.
pub(crate) fn enter_netns(path: &Path) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let file = File::open(path)?;
    // SAFETY: setns(2) on a file descriptor we own for the call's duration.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Runs `f` on a new thread that has entered the network namespace `netns`
/// (bound under /run/netns) and returns its result; `what` names the
/// namespace in the error when `f` panics. Only that thread changes
/// namespace: every socket `f` opens (a current-thread tokio runtime built
/// inside it too) lives there.
pub(crate) fn run_in_netns<R: Send>(
    netns: &str,
    what: &str,
    f: impl FnOnce() -> R + Send,
) -> Result<R, crate::LabError> {
    let path = Path::new("/run/netns").join(netns);
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                enter_netns(&path)?;
                Ok(f())
            })
            .join()
            .map_err(|_| crate::LabError::Invalid(format!("the closure run in {what} panicked")))?
    })
}

/// Runs a stock tool to completion, returning its stdout or a typed error
/// carrying its stderr.
pub(crate) fn run_tool(
    tool: &'static str,
    cmd: &mut Command,
    stdin: Option<&[u8]>,
) -> Result<String, LabError> {
    use std::io::Write;
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| LabError::Tool {
        tool,
        status: None,
        stderr: format!("spawn failed: {e}"),
    })?;
    if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(input).map_err(LabError::Io)?;
    }
    let out = child.wait_with_output().map_err(LabError::Io)?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(LabError::Tool {
            tool,
            status: out.status.code(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_binary_names_its_debian_package() {
        let err = find_binary("test server", "annexr-no-such-binary", "no-such-package")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("annexr-no-such-binary")
                && err.contains("apt-get install -y no-such-package"),
            "{err}"
        );
    }

    #[test]
    fn a_privately_extracted_package_is_found() {
        let dir = tempfile::tempdir().map_err(|e| e.to_string());
        let dir = dir
            .as_ref()
            .map(|d| d.path())
            .unwrap_or(Path::new("/nonexistent"));
        let sbin = dir.join("annexr-test-package/usr/sbin");
        let _ = std::fs::create_dir_all(&sbin);
        let _ = std::fs::write(sbin.join("annexr-private-binary"), "");
        let found = find_binary_in(
            "test server",
            "annexr-private-binary",
            "annexr-test-package",
            dir,
        );
        assert_eq!(found.ok(), Some(sbin.join("annexr-private-binary")));
    }

    #[test]
    fn free_ports_are_free_for_tcp_and_udp() {
        let port = free_port().map_err(|e| e.to_string());
        let port = port.unwrap_or_default();
        assert_ne!(port, 0);
        assert!(TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok());
        assert!(UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok());
    }
}
