//! The C and C++ examples, built with the system compiler against the static
//! library, boot the lab's sample site through the C ABI; then again under
//! valgrind, which must report no error and no leak.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use annexr_lab::{SITE_DOMAIN, SampleSite, lab_required, or_skip};
use serde_json::Value;

/// What the static library needs from the system (rustc's
/// `--print native-static-libs` for linux-gnu).
const NATIVE_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The staticlib cargo built next to this test (target/<profile>/deps).
fn static_lib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let lib = exe.parent().unwrap().join("libannexr_ffi.a");
    assert!(
        lib.exists(),
        "{} is missing; cargo builds it with the tests",
        lib.display()
    );
    lib
}

/// Compiles `source` with `compiler` into `out`, warnings as errors.
fn compile(compiler: &str, std: &str, source: &str, out: &Path) {
    let result = Command::new(compiler)
        .arg(format!("-std={std}"))
        .args(["-Wall", "-Wextra", "-Werror", "-pedantic", "-g"])
        .arg("-I")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("include"))
        .arg("-o")
        .arg(out)
        .arg(workspace().join(source))
        .arg(static_lib())
        .args(NATIVE_LIBS)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    assert!(
        result.status.success(),
        "{compiler} {source} failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

/// The sample site's settings for CT-SCANNER-1, as a modality's TOML file.
/// Timeouts are generous because valgrind slows everything ~30 times.
fn write_config(site: &SampleSite, dir: &Path) -> PathBuf {
    let toml = format!(
        r#"[device]
name = "CT-SCANNER-1"

[network]
mode = "static"
dns_servers = ["{dns}"]
ntp_servers = ["{ntp}"]
domain = "{SITE_DOMAIN}"

[time]
timeout_ms = 5000

[dns]
timeout_ms = 10000

[ldap]
bind_dn = "{bind_dn}"
password = "{password}"
ca_file = "{ca}"
timeout_ms = 30000

[probe]
enabled = true
device_types = ["ARCHIVE"]
timeout_ms = 30000
"#,
        dns = site.dns_addr(),
        ntp = site.ntp.addr(),
        bind_dn = site.slapd.device_dn(),
        password = site.slapd.device_password(),
        ca = site.slapd.ca_cert_path().unwrap().display(),
    );
    let path = dir.join("annexr.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

fn run(program: &[&Path], config: &Path) -> Output {
    let device = workspace().join("examples/c/ct-scanner-1.json");
    let mut command = Command::new(program[0]);
    command
        .args(&program[1..])
        .arg(config)
        .arg(device)
        .arg("ARCHIVE")
        .arg("ARCHIVE");
    command.output().unwrap()
}

/// The JSON between `=== name ===` and `=== end name ===`.
fn section(stdout: &str, name: &str) -> Value {
    let start = format!("=== {name} ===\n");
    let end = format!("\n=== end {name} ===");
    let from = stdout
        .find(&start)
        .unwrap_or_else(|| panic!("no {name} section in:\n{stdout}"))
        + start.len();
    let to = from + stdout[from..].find(&end).unwrap();
    serde_json::from_str(&stdout[from..to]).unwrap_or_else(|e| panic!("{name} is not JSON: {e}"))
}

/// What both examples must print for a normal startup of the sample site.
fn check_normal_startup(site: &SampleSite, output: &Output) {
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );

    let events: Vec<Value> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("progress: "))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events.iter().any(|e| e["event"] == "step-finished"
            && e["step"] == "ldap"
            && e["outcome"] == "done"),
        "{events:?}"
    );
    // Events up to the end of the run; the time refinement may come later,
    // from the background.
    let before_end = stdout
        .split("configured: ")
        .next()
        .unwrap_or("")
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .count();
    assert!(
        stdout.contains(&format!("configured: 1 after {before_end} progress events")),
        "{stdout}"
    );
    assert!(
        events[before_end..]
            .iter()
            .all(|e| e["event"] == "time-refined"),
        "{events:?}"
    );

    let report = section(&stdout, "report");
    assert_eq!(report["device_name"], "CT-SCANNER-1");
    assert_eq!(report["configured"], true, "{report:#}");
    assert_eq!(report["configuration_source"], "ldap", "{report:#}");
    let outcome = |step: &str| {
        report["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["step"] == step)
            .map(|s| s["outcome"].clone())
    };
    assert_eq!(outcome("dns"), Some("done".into()), "{report:#}");
    assert_eq!(outcome("ldap"), Some("done".into()), "{report:#}");
    assert_eq!(outcome("probe"), Some("done".into()), "{report:#}");

    let device = section(&stdout, "device");
    assert_eq!(device["format"], "annexr-device");
    assert_eq!(device["device"]["name"], "CT-SCANNER-1");
    assert_eq!(device["device"]["network_aes"][0]["ae_title"], "CT1");

    let archive_port = site.archive.addr().port();
    let resolved = section(&stdout, "resolve");
    assert_eq!(resolved["ae_title"], "ARCHIVE");
    assert_eq!(resolved["device_name"], "ARCHIVE-1");
    assert_eq!(resolved["host"], "127.0.0.1");
    assert_eq!(resolved["port"], archive_port);
    assert_eq!(resolved["tls"], false);

    let probe = section(&stdout, "probe");
    assert_eq!(probe["verdict"]["verdict"], "all_good", "{probe:#}");
    assert_eq!(probe["target"]["port"], archive_port);
    assert_eq!(probe["target"]["calling_ae"], "CT1");

    let found = section(&stdout, "find");
    let aes = found["aes"].as_array().unwrap();
    assert_eq!(aes.len(), 1, "{found:#}");
    assert_eq!(aes[0]["ae_title"], "ARCHIVE");
    assert_eq!(aes[0]["port"], archive_port);

    let shutdown = section(&stdout, "shutdown");
    assert_eq!(shutdown["problems"], serde_json::json!([]), "{shutdown:#}");
    assert_eq!(shutdown["marked_offline"], false);

    let unknown = stdout
        .lines()
        .find(|l| l.starts_with("unknown AE: "))
        .unwrap_or_else(|| panic!("no unknown-AE line in:\n{stdout}"));
    assert!(unknown.contains("ANNEXR_STATUS_NOT_FOUND"), "{unknown}");
    assert!(
        unknown.contains("\"NO-SUCH-AE\" is not in the DICOM configuration"),
        "{unknown}"
    );
}

/// Runs the example under valgrind's memcheck; `None` when valgrind is not
/// installed and the lab is not required.
fn valgrind(program: &Path, config: &Path) -> Option<Output> {
    if Command::new("valgrind").arg("--version").output().is_err() {
        assert!(
            !lab_required(),
            "valgrind is not installed (ANNEXR_LAB=require)"
        );
        println!("skipped: valgrind is not installed");
        return None;
    }
    let suppressions = Path::new(env!("CARGO_MANIFEST_DIR")).join("valgrind.supp");
    let suppressions = format!("--suppressions={}", suppressions.display());
    let args = [
        "valgrind",
        "--leak-check=full",
        "--error-exitcode=99",
        &suppressions,
        // Deep stacks, so that suppressions match below Rust's allocation
        // wrappers; a failing run prints the suppression entry it would need.
        "--num-callers=40",
        "--gen-suppressions=all",
    ];
    let mut program_and_args: Vec<&Path> = args.iter().map(Path::new).collect();
    program_and_args.push(program);
    Some(run(&program_and_args, config))
}

fn check_valgrind_clean(site: &SampleSite, output: &Output) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stderr}");
    assert!(
        stderr.contains("ERROR SUMMARY: 0 errors from 0 contexts"),
        "valgrind:\n{stderr}"
    );
    assert!(
        stderr.contains("All heap blocks were freed")
            || stderr.contains("definitely lost: 0 bytes in 0 blocks"),
        "valgrind:\n{stderr}"
    );
    assert!(
        !stderr.contains("possibly lost: ")
            || stderr.contains("possibly lost: 0 bytes in 0 blocks"),
        "valgrind:\n{stderr}"
    );
    // Under valgrind the startup must still have done its job.
    check_normal_startup(site, output);
}

fn example(compiler: &str, std: &str, source: &str, binary: &str) {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join(binary);
    compile(compiler, std, source, &program);
    let config = write_config(&site, dir.path());

    let output = run(&[&program], &config);
    println!("{}", String::from_utf8_lossy(&output.stdout));
    check_normal_startup(&site, &output);

    if let Some(output) = valgrind(&program, &config) {
        check_valgrind_clean(&site, &output);
    }
}

/// The shared library exports the same ABI: the C example linked against
/// `libannexr_ffi.so` does the same boot.
#[test]
fn the_c_example_boots_the_sample_site_through_the_shared_library() {
    let Some(site) = or_skip(SampleSite::start(0)) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("startup_c_shared");
    let lib_dir = static_lib().parent().unwrap().to_path_buf();
    assert!(lib_dir.join("libannexr_ffi.so").exists());
    let result = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .arg("-I")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("include"))
        .arg("-o")
        .arg(&program)
        .arg(workspace().join("examples/c/startup.c"))
        .arg("-L")
        .arg(&lib_dir)
        .arg("-lannexr_ffi")
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let config = write_config(&site, dir.path());
    let device = workspace().join("examples/c/ct-scanner-1.json");
    let output = Command::new(&program)
        .arg(&config)
        .arg(device)
        .args(["ARCHIVE", "ARCHIVE"])
        .env("LD_LIBRARY_PATH", &lib_dir)
        .output()
        .unwrap();
    check_normal_startup(&site, &output);
}

#[test]
fn the_c_example_boots_the_sample_site_cleanly_under_valgrind() {
    example("cc", "c99", "examples/c/startup.c", "startup_c");
}

#[test]
fn the_cpp_example_boots_the_sample_site_cleanly_under_valgrind() {
    example("c++", "c++17", "examples/c/startup.cpp", "startup_cpp");
}
