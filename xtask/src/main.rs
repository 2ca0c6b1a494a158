//! Project automation: `cargo xtask demo | test | lab | bench`.
//!
//! - `demo`: start the lab's sample site and run the startup example on it.
//! - `test`: fmt check, clippy `-D warnings`, the whole test suite with every
//!   lab server required, the LDAP client against the hostile server in a
//!   `panic = "abort"` build, and a build of every fuzz target.
//! - `lab`: start the sample site and wait, for manual experiments.
//! - `bench`: every bench, release sizes and peak RSS, in one summary
//!   (target/bench-summary.json) and one table.
//! - `packages`: only make the lab's Debian packages available.
//!
//! `demo` and `test` install the Debian packages the lab needs when run as
//! root, and otherwise print the one command that installs them. Installing
//! never starts a daemon (policy-rc.d), and a package that would remove a
//! host service is extracted under target/lab-pkgs instead.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod bench;

/// How a Debian package reaches the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// `apt-get install`ed (as root), with no daemon started.
    System,
    /// `apt-get download` + `dpkg -x` into target/lab-pkgs/PACKAGE, because
    /// installing it would remove a host service (chrony removes
    /// systemd-timesyncd; ntpsec and chrony conflict with each other).
    Private,
}

/// Debian packages the lab, the benches and the fuzz build need, with one
/// file each that shows whether the package is there (for a private package,
/// relative to its directory under target/lab-pkgs, or installed system-wide).
const PACKAGES: &[(&str, &str, Placement)] = &[
    ("slapd", "/usr/sbin/slapd", Placement::System),
    // Starts nothing: its units are installed disabled (dirsrv@.service is a
    // template, dirsrv-snmp is not enabled) and policy-rc.d forbids the
    // start its postinst asks for; the lab creates instances in temporary
    // directories with dscreate.
    ("389-ds-base", "/usr/sbin/ns-slapd", Placement::System),
    ("libnss3-tools", "/usr/bin/certutil", Placement::System),
    ("ldap-utils", "/usr/bin/ldapsearch", Placement::System),
    ("dnsmasq", "/usr/sbin/dnsmasq", Placement::System),
    ("bind9", "/usr/sbin/named", Placement::System),
    ("unbound", "/usr/sbin/unbound", Placement::System),
    ("chrony", "/usr/sbin/chronyd", Placement::Private),
    ("ntpsec", "/usr/sbin/ntpd", Placement::Private),
    ("dcmtk", "/usr/bin/storescp", Placement::System),
    ("orthanc", "/usr/sbin/Orthanc", Placement::System),
    (
        "python3-venv",
        "/usr/share/doc/python3-venv",
        Placement::System,
    ),
    ("faketime", "/usr/bin/faketime", Placement::System),
    ("iproute2", "/usr/sbin/ip", Placement::System),
    ("bind9-dnsutils", "/usr/bin/dig", Placement::System),
    ("openssl", "/usr/bin/openssl", Placement::System),
    ("busybox", "/bin/busybox", Placement::System),
    ("kea-dhcp4-server", "/usr/sbin/kea-dhcp4", Placement::System),
    ("dosfstools", "/usr/sbin/mkfs.vfat", Placement::System),
    ("fusefat", "/usr/bin/fusefat", Placement::System),
    ("valgrind", "/usr/bin/valgrind", Placement::System),
    ("g++", "/usr/bin/g++", Placement::System),
    // The C parts of ring for the Windows build check.
    (
        "gcc-mingw-w64-x86-64",
        "/usr/bin/x86_64-w64-mingw32-gcc",
        Placement::System,
    ),
];

/// Where privately extracted packages live; the lab (annexr-lab's
/// find_binary) looks for binaries under `PACKAGE/usr/{sbin,bin}` here.
/// `ANNEXR_LAB_PKGS` overrides it for both.
fn private_packages_dir() -> PathBuf {
    std::env::var_os("ANNEXR_LAB_PKGS")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/lab-pkgs"))
}

/// Written to /usr/sbin/policy-rc.d while apt-get installs: exit code 101
/// tells invoke-rc.d "action forbidden", so no package starts its daemon.
const POLICY_RC_D: &str = "/usr/sbin/policy-rc.d";
const POLICY_RC_D_DENY: &str = "#!/bin/sh\n# written by annexr's cargo xtask during apt-get install; removed after\nexit 101\n";

const USAGE: &str = "usage: cargo xtask <demo | test | lab | bench>
  demo   start the sample site and run a normal startup against it
  test   fmt, clippy -D warnings, all tests with the lab required, a panic=abort run against a hostile LDAP server, a Windows build check, fuzz build
  lab    start the sample site and wait (Ctrl-C stops it)
  bench  [BENCH...] run the benches, measure release sizes and peak RSS, write target/bench-summary.json
  packages  only install (as root) or extract the lab's Debian packages";

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "demo" => demo(),
        "test" => test(),
        "lab" => lab(),
        "bench" => bench::bench(&std::env::args().skip(2).collect::<Vec<_>>()),
        "packages" => ensure_packages(),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask {task}: {message}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    // xtask/ sits directly under the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Makes the lab's Debian packages available without changing the host's
/// services: installs the missing system packages as root with daemon starts
/// forbidden (policy-rc.d), extracts the private ones under target/, and
/// tells a non-root user the one command to run instead.
fn ensure_packages() -> Result<(), String> {
    let private_dir = private_packages_dir();
    let mut install: Vec<&str> = Vec::new();
    let mut extract: Vec<&str> = Vec::new();
    for &(package, probe, placement) in PACKAGES {
        let on_system = Path::new(probe).exists();
        let private = private_dir
            .join(package)
            .join(probe.trim_start_matches('/'))
            .exists();
        match placement {
            _ if on_system => {}
            Placement::Private if private => {}
            Placement::Private => extract.push(package),
            Placement::System => install.push(package),
        }
    }
    if install.is_empty() && extract.is_empty() {
        return Ok(());
    }
    let root = is_root();
    if root && !install.is_empty() {
        run(Command::new("apt-get").args(["update", "-qq"]))?;
        // A package whose install would remove another (a host service) is
        // extracted privately instead.
        let (removing, safe): (Vec<&str>, Vec<&str>) =
            install.iter().partition(|p| install_would_remove(p));
        extract.extend(removing);
        install = safe;
    }
    if !install.is_empty() {
        let command = format!(
            "apt-get install -y --no-install-recommends {}",
            install.join(" ")
        );
        if !root {
            return Err(format!(
                "the lab needs Debian packages that are not installed; run as root:\n  apt-get update && {command}"
            ));
        }
        eprintln!(
            "xtask: installing {} (no daemon is started)",
            install.join(" ")
        );
        let _no_daemons = ForbidDaemonStarts::new()?;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("{command} -qq"))
            .env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut cmd)?;
    }
    for package in extract {
        extract_privately(package, &private_dir)?;
    }
    Ok(())
}

/// True when `apt-get install` of `package` would remove an installed
/// package (asked with a simulated install, `-s`, which changes nothing).
fn install_would_remove(package: &str) -> bool {
    Command::new("apt-get")
        .args(["install", "-s", "--no-install-recommends", package])
        .output()
        .is_ok_and(|out| {
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.starts_with("Remv "))
        })
}

/// Unpacks `package` (without its maintainer scripts) into
/// `private_dir/package`; nothing outside that directory changes. Works
/// without root when the apt package lists are present.
fn extract_privately(package: &str, private_dir: &Path) -> Result<(), String> {
    let debs = private_dir.join("debs");
    let target = private_dir.join(package);
    std::fs::create_dir_all(&debs).map_err(|e| format!("{}: {e}", debs.display()))?;
    let command = format!(
        "cd {} && apt-get download {package} && dpkg -x {package}_*.deb {}",
        debs.display(),
        target.display()
    );
    eprintln!("xtask: extracting {package} privately (installing it would replace a host service)");
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(&command);
    run(&mut cmd).map_err(|e| format!("{e}\nto extract it by hand, run:\n  {command}"))
}

/// Forbids daemon starts (policy-rc.d exit 101) while it lives, unless the
/// host already has a policy-rc.d, which is then left untouched.
struct ForbidDaemonStarts {
    /// The policy file this guard wrote and removes, if it wrote one.
    path: Option<PathBuf>,
}

impl ForbidDaemonStarts {
    fn new() -> Result<Self, String> {
        Self::at(Path::new(POLICY_RC_D))
    }

    fn at(path: &Path) -> Result<Self, String> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        // create_new: never overwrite a policy the host has.
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o755)
            .open(path)
        {
            Ok(mut file) => {
                let written = ForbidDaemonStarts {
                    path: Some(path.to_path_buf()),
                };
                file.write_all(POLICY_RC_D_DENY.as_bytes())
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                Ok(written)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                eprintln!("xtask: keeping the host's own {}", path.display());
                Ok(ForbidDaemonStarts { path: None })
            }
            Err(e) => Err(format!("could not write {}: {e}", path.display())),
        }
    }
}

impl Drop for ForbidDaemonStarts {
    fn drop(&mut self) {
        if let Some(path) = &self.path
            && let Err(e) = std::fs::remove_file(path)
        {
            eprintln!("xtask: could not remove {}: {e}", path.display());
        }
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let shown = format!("{cmd:?}");
    eprintln!("xtask: {shown}");
    let status = cmd
        .status()
        .map_err(|e| format!("could not run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

fn test() -> Result<(), String> {
    ensure_packages()?;
    run(cargo().args(["fmt", "--all", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    let lab_log = workspace_root().join("target/annexr-lab-servers.log");
    let _ = std::fs::remove_file(&lab_log);
    let totals = run_tests(
        cargo()
            .args(["test", "--workspace"])
            .env("ANNEXR_LAB", "require")
            .env("ANNEXR_LAB_LOG", &lab_log),
    )?;
    summarize_lab_log(&lab_log);
    firmware_features_check()?;
    panic_abort_check()?;
    windows_check()?;
    fuzz_build()?;
    // The closing line CI reads: the sum over every test binary.
    println!(
        "xtask: {} passed, {} failed, {} skipped",
        totals.passed, totals.failed, totals.ignored
    );
    Ok(())
}

/// Prints, per lab server family, how often the tests started it, its
/// version, an example address and the median start-to-ready time, grouped
/// by protocol, so that every server family a protocol was tested against
/// shows.
fn summarize_lab_log(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    println!("xtask: lab servers started by the tests:");
    for line in lab_summary(&text) {
        println!("  {line}");
    }
}

/// The protocol a lab server family (its log name) serves.
fn protocol_of(server: &str) -> &'static str {
    match server {
        "slapd" | "389-ds" => "LDAP",
        "dnsmasq" | "bind9" | "unbound" => "DNS",
        "chronyd" | "ntpsec" => "NTP",
        "dnsmasq-dhcp" | "kea-dhcp4" => "DHCP",
        "storescp" | "dcmqrscp" | "pynetdicom" | "orthanc" => "DICOM",
        _ => "other",
    }
}

/// One line per server family found in the lab log's "ready" lines, sorted
/// by protocol and name.
fn lab_summary(text: &str) -> Vec<String> {
    let mut servers: std::collections::BTreeMap<(&str, String), (String, String, Vec<f64>)> =
        Default::default();
    // Split at every record start, not only at line starts: a log written
    // by an older lab could have two records glued on one line.
    for rest in text
        .lines()
        .flat_map(|line| line.split("annexr-lab: ").skip(1))
    {
        // annexr-lab: NAME ready on ADDR in N ms [VERSION]
        let Some((name, rest)) = rest.split_once(" ready on ") else {
            continue;
        };
        let Some((addr, rest)) = rest.rsplit_once(" in ") else {
            continue;
        };
        let Some((ms, version)) = rest.split_once(" ms [") else {
            continue;
        };
        let name = name.split_whitespace().next().unwrap_or(name).to_string();
        let entry = servers
            .entry((protocol_of(&name), name))
            .or_insert_with(|| {
                (
                    version.trim_end_matches(']').to_string(),
                    addr.to_string(),
                    Vec::new(),
                )
            });
        if let Ok(ms) = ms.parse::<f64>() {
            entry.2.push(ms);
        }
    }
    servers
        .into_iter()
        .map(|((protocol, name), (version, addr, mut times))| {
            times.sort_by(f64::total_cmp);
            let median = times.get(times.len() / 2).copied().unwrap_or_default();
            format!(
                "{protocol:<6} {name:<14} {:>4} starts, median start-to-ready {median:.1} ms, e.g. {addr}  [{version}]",
                times.len()
            )
        })
        .collect()
}

/// Test counts summed over the `test result:` lines of every test binary.
#[derive(Debug, Default)]
struct TestTotals {
    passed: u64,
    failed: u64,
    ignored: u64,
}

/// Runs `cargo test`, echoing its output and summing its result lines.
fn run_tests(cmd: &mut Command) -> Result<TestTotals, String> {
    use std::io::{BufRead, BufReader};
    let shown = format!("{cmd:?}");
    eprintln!("xtask: {shown}");
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run {shown}: {e}"))?;
    let mut totals = TestTotals::default();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                for part in rest.split([';', '.']) {
                    let mut words = part.split_whitespace();
                    if let (Some(n), Some(what)) = (words.next(), words.next()) {
                        let n: u64 = n.parse().unwrap_or(0);
                        match what {
                            "passed" => totals.passed += n,
                            "failed" => totals.failed += n,
                            "ignored" => totals.ignored += n,
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    let status = child.wait().map_err(|e| format!("{shown}: {e}"))?;
    if status.success() && totals.passed > 0 {
        Ok(totals)
    } else if status.success() {
        Err(format!("{shown} ran no test"))
    } else {
        Err(format!(
            "{shown} failed ({status}): {} passed, {} failed",
            totals.passed, totals.failed
        ))
    }
}

/// A firmware build leaves out DHCP and the probe's TLS: the `annexr`
/// crate and the `annexr` tool must build without their default features.
fn firmware_features_check() -> Result<(), String> {
    run(cargo().args(["check", "-p", "annexr", "--no-default-features"]))?;
    run(cargo().args(["check", "-p", "annexr-cli", "--no-default-features"]))
}

/// Builds every fuzz target (cargo-fuzz on the stable toolchain needs
/// RUSTC_BOOTSTRAP=1), installing cargo-fuzz first when it is missing.
/// Firmware is built with `panic = "abort"`, where a panic anywhere, also in
/// a dependency's task, kills the device: the LDAP client is run against
/// every misbehaviour of the lab's hostile server in such a build (its own
/// target directory, so the test build stays as it is). The example exits
/// non-zero when a reply was accepted or not ended in time; an abort fails
/// it too.
fn panic_abort_check() -> Result<(), String> {
    run(cargo()
        .args(["run", "-p", "annexr-ldap", "--example", "hostile_server"])
        .env("CARGO_PROFILE_DEV_PANIC", "abort")
        .env(
            "CARGO_TARGET_DIR",
            workspace_root().join("target/panic-abort"),
        ))
}

/// Firmware may run Windows (design.md): the library crates, the tool and
/// the C ABI must build for it. Checked (not linked) for the GNU target, so
/// no Windows SDK is needed, only the target's standard library.
const WINDOWS_TARGET: &str = "x86_64-pc-windows-gnu";

fn windows_check() -> Result<(), String> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("rustup (needed for the Windows build check): {e}"))?;
    if !String::from_utf8_lossy(&installed.stdout)
        .lines()
        .any(|l| l.trim() == WINDOWS_TARGET)
    {
        run(Command::new("rustup").args(["target", "add", WINDOWS_TARGET]))?;
    }
    run(cargo().args([
        "check",
        "--quiet",
        "--target",
        WINDOWS_TARGET,
        "-p",
        "annexr",
        "-p",
        "annexr-cli",
        "-p",
        "annexr-ffi",
    ]))?;
    eprintln!("xtask: annexr, the annexr tool and the C ABI build for {WINDOWS_TARGET}");
    Ok(())
}

fn fuzz_build() -> Result<(), String> {
    let has_targets = std::fs::read_dir(workspace_root().join("fuzz/fuzz_targets"))
        .map(|mut d| d.next().is_some())
        .unwrap_or(false);
    if !has_targets {
        eprintln!("xtask: no fuzz targets yet");
        return Ok(());
    }
    let installed = cargo()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !installed {
        run(cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    run(cargo()
        .current_dir(workspace_root().join("fuzz"))
        .args(["fuzz", "build", "--dev"])
        .env("RUSTC_BOOTSTRAP", "1"))
}

fn start_site(clock_offset_secs: i64) -> Result<annexr_lab::SampleSite, String> {
    annexr_lab::SampleSite::start(clock_offset_secs).map_err(|e| e.to_string())
}

fn demo() -> Result<(), String> {
    ensure_packages()?;
    // Build first, so that the servers do not idle while cargo compiles.
    run(cargo().args([
        "build",
        "--quiet",
        "--example",
        "startup",
        "--example",
        "install",
    ]))?;
    let site = start_site(3)?;
    println!("{}", site.describe());
    show_site_with_stock_tools(&site)?;

    println!("\n=== R.4 normal startup of the configured modality CT-SCANNER-1 ===");
    run(cargo()
        .args(["run", "--quiet", "--example", "startup", "--"])
        .args(["--dns", &site.dns_addr().to_string()])
        .args(["--domain", annexr_lab::SITE_DOMAIN])
        .args(["--ntp", &site.ntp.addr().to_string()])
        .args(["--device", "CT-SCANNER-1"])
        .args(["--bind-dn", &site.slapd.device_dn()])
        .args(["--password", site.slapd.device_password()])
        .args(site_ca(&site)))?;

    println!(
        "\n=== R.1.2.2 install of a new device MR-NEW-1 (preferred AE title CT1 is taken) ==="
    );
    run(cargo()
        .args(["run", "--quiet", "--example", "install", "--"])
        .args(["--ldap", &site.slapd.url()])
        .args(["--bind-dn", &site.slapd.device_dn()])
        .args(["--password", site.slapd.device_password()])
        .args(site_ca(&site))
        .args(["--name", "MR-NEW-1", "--ae", "CT1", "--port", "11113"]))?;
    println!("\n$ ldapsearch (the unique AE titles registry after the install)");
    let registry = site
        .slapd
        .ldapsearch(
            &site.slapd.registry_dn(),
            "(objectClass=dicomUniqueAETitle)",
        )
        .map_err(|e| e.to_string())?;
    println!("{registry}");
    Ok(())
}

/// `--ca-file` of the site's LDAP server: credentials go over verified TLS.
fn site_ca(site: &annexr_lab::SampleSite) -> Vec<std::ffi::OsString> {
    match site.slapd.ca_cert_path() {
        Some(path) => vec!["--ca-file".into(), path.into()],
        None => Vec::new(),
    }
}

/// What the site serves, as the stock tools see it.
fn show_site_with_stock_tools(site: &annexr_lab::SampleSite) -> Result<(), String> {
    println!("$ dig SRV _ldap._tcp.{}", annexr_lab::SITE_DOMAIN);
    run(Command::new("dig").args([
        "+short",
        "-p",
        &site.dns_addr().port().to_string(),
        "@127.0.0.1",
        "SRV",
        &format!("_ldap._tcp.{}", annexr_lab::SITE_DOMAIN),
    ]))?;
    println!("\n$ ldapsearch (devices of type ARCHIVE, their AEs)");
    let found = site
        .slapd
        .ldapsearch(
            &site.slapd.devices_dn(),
            "(|(objectClass=dicomDevice)(objectClass=dicomNetworkAE))",
        )
        .map_err(|e| e.to_string())?;
    println!("{found}");
    println!("$ echoscu {} (ARCHIVE)", site.archive.addr());
    run(Command::new("echoscu").args([
        "-v",
        "-aet",
        "CT1",
        "-aec",
        "ARCHIVE",
        &site.archive.addr().ip().to_string(),
        &site.archive.addr().port().to_string(),
    ]))
}

fn lab() -> Result<(), String> {
    ensure_packages()?;
    let site = start_site(0)?;
    println!("{}", site.describe());
    println!("The lab runs until you press Ctrl-C or close standard input.");
    // Read stdin until EOF: Ctrl-D or a closed pipe stops the lab cleanly,
    // Ctrl-C kills xtask and the servers die with it (parent-death signal).
    let mut sink = String::new();
    while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {
        sink.clear();
    }
    drop(site);
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn policy_rc_d_is_written_denying_and_removed_after() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy-rc.d");
        {
            let _guard = ForbidDaemonStarts::at(&path).unwrap();
            let status = Command::new(&path).status().unwrap();
            assert_eq!(status.code(), Some(101));
        }
        assert!(!path.exists());
    }

    #[test]
    fn a_host_policy_rc_d_is_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy-rc.d");
        let host_policy = "#!/bin/sh\nexit 0\n";
        std::fs::write(&path, host_policy).unwrap();
        drop(ForbidDaemonStarts::at(&path).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), host_policy);
    }

    #[test]
    fn the_lab_summary_lists_every_server_family_by_protocol() {
        let log = "\
annexr-lab: dnsmasq ready on 127.0.0.1:5353 in 50.0 ms [Dnsmasq version 2.90]
annexr-lab: bind9 ready on 127.0.0.1:5354 in 80.0 ms [BIND 9.18.49]
annexr-lab: unbound ready on 127.0.0.1:5355 in 30.0 ms [Version 1.17.1]
annexr-lab: bind9 ready on 127.0.0.1:5356 in 90.0 ms [BIND 9.18.49]
annexr-lab: ntpsec (synchronized) ready on 10.233.0.1:123@netns:x in 7000.0 ms [ntpd ntpsec-1.2.2]
annexr-lab: storescp STORESCP ready on 127.0.0.1:104 in 10.0 ms [storescp v3.6.7]
annexr-lab: pynetdicom ready on 127.0.0.1:11112 in 900.0 ms [pynetdicom 3.0.4]
test noise that is not a lab line
annexr-lab: slapd ready on ldap://127.0.0.1:389 in 100.0 ms [OpenLDAP 2.5]annexr-lab: 389-ds ready on ldap://127.0.0.1:390 in 2000.0 ms [389-Directory/2.3.1]

";
        let lines = lab_summary(log);
        let families: Vec<(&str, &str)> = lines
            .iter()
            .map(|l| {
                let mut words = l.split_whitespace();
                (words.next().unwrap(), words.next().unwrap())
            })
            .collect();
        assert_eq!(
            families,
            [
                ("DICOM", "pynetdicom"),
                ("DICOM", "storescp"),
                ("DNS", "bind9"),
                ("DNS", "dnsmasq"),
                ("DNS", "unbound"),
                ("LDAP", "389-ds"),
                ("LDAP", "slapd"),
                ("NTP", "ntpsec"),
            ]
        );
        assert!(
            lines[2].contains("   2 starts, median start-to-ready 90.0 ms"),
            "{}",
            lines[2]
        );
        // Two records glued on one line are two families, each whole.
        assert!(
            lines[5].ends_with("e.g. ldap://127.0.0.1:390  [389-Directory/2.3.1]"),
            "{}",
            lines[5]
        );
        assert!(
            lines[6].ends_with("e.g. ldap://127.0.0.1:389  [OpenLDAP 2.5]"),
            "{}",
            lines[6]
        );
        assert!(lines[7].ends_with("[ntpd ntpsec-1.2.2]"), "{}", lines[7]);
    }

    #[test]
    fn every_private_package_is_found_by_the_lab_under_usr_bin_or_sbin() {
        for (package, probe, placement) in PACKAGES {
            if *placement == Placement::Private {
                assert!(
                    probe.starts_with("/usr/sbin/") || probe.starts_with("/usr/bin/"),
                    "{package}: {probe}"
                );
            }
        }
    }
}
