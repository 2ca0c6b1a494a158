//! Project automation: `cargo xtask demo | test | lab`.
//!
//! - `demo`: start the lab's sample site and run the startup example on it.
//! - `test`: fmt check, clippy `-D warnings`, the whole test suite with every
//!   lab server required, and a build of every fuzz target.
//! - `lab`: start the sample site and wait, for manual experiments.
//!
//! `demo` and `test` install the Debian packages the lab needs when run as
//! root, and otherwise print the one command that installs them.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// Debian packages the lab, the benches and the fuzz build need, with one
/// binary each that shows whether the package is installed.
const PACKAGES: &[(&str, &str)] = &[
    ("slapd", "/usr/sbin/slapd"),
    ("ldap-utils", "/usr/bin/ldapsearch"),
    ("dnsmasq", "/usr/sbin/dnsmasq"),
    ("chrony", "/usr/sbin/chronyd"),
    ("dcmtk", "/usr/bin/storescp"),
    ("faketime", "/usr/bin/faketime"),
    ("iproute2", "/usr/sbin/ip"),
    ("bind9-dnsutils", "/usr/bin/dig"),
    ("openssl", "/usr/bin/openssl"),
    ("busybox", "/bin/busybox"),
    ("kea-dhcp4-server", "/usr/sbin/kea-dhcp4"),
    ("dosfstools", "/usr/sbin/mkfs.vfat"),
    ("fusefat", "/usr/bin/fusefat"),
    ("valgrind", "/usr/bin/valgrind"),
    ("g++", "/usr/bin/g++"),
];

const USAGE: &str = "usage: cargo xtask <demo | test | lab>
  demo   start the sample site and run a normal startup against it
  test   fmt, clippy -D warnings, all tests with the lab required, fuzz build
  lab    start the sample site and wait (Ctrl-C stops it)";

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "demo" => demo(),
        "test" => test(),
        "lab" => lab(),
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

/// Installs the missing Debian packages as root, or says how to.
fn ensure_packages() -> Result<(), String> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, probe)| !Path::new(probe).exists())
        .map(|(package, _)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let install = format!(
        "apt-get install -y --no-install-recommends {}",
        missing.join(" ")
    );
    if !is_root() {
        return Err(format!(
            "the lab needs Debian packages that are not installed; run as root:\n  apt-get update && {install}"
        ));
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    run(Command::new("apt-get").args(["update", "-qq"]))?;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("{install} -qq"))
        .env("DEBIAN_FRONTEND", "noninteractive");
    run(&mut cmd)
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
    fuzz_build()?;
    // The closing line CI reads: the sum over every test binary.
    println!(
        "xtask: {} passed, {} failed, {} skipped",
        totals.passed, totals.failed, totals.ignored
    );
    Ok(())
}

/// Prints, per lab server, how often the tests started it, its version, an
/// example address and the median start-to-ready time.
fn summarize_lab_log(path: &Path) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut servers: std::collections::BTreeMap<String, (String, String, Vec<f64>)> =
        Default::default();
    for line in text.lines() {
        // annexr-lab: NAME ready on ADDR in N ms [VERSION]
        let Some(rest) = line.strip_prefix("annexr-lab: ") else {
            continue;
        };
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
        let entry = servers.entry(name).or_insert_with(|| {
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
    println!("xtask: lab servers started by the tests:");
    for (name, (version, addr, mut times)) in servers {
        times.sort_by(f64::total_cmp);
        let median = times.get(times.len() / 2).copied().unwrap_or_default();
        println!(
            "  {name:<16} {:>4} starts, median start-to-ready {median:.1} ms, e.g. {addr}  [{version}]",
            times.len()
        );
    }
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

/// Builds every fuzz target (cargo-fuzz on the stable toolchain needs
/// RUSTC_BOOTSTRAP=1), installing cargo-fuzz first when it is missing.
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
        .args(["--password", site.slapd.device_password()]))?;

    println!(
        "\n=== R.1.2.2 install of a new device MR-NEW-1 (preferred AE title CT1 is taken) ==="
    );
    run(cargo()
        .args(["run", "--quiet", "--example", "install", "--"])
        .args(["--ldap", &site.slapd.url()])
        .args(["--bind-dn", &site.slapd.device_dn()])
        .args(["--password", site.slapd.device_password()])
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
