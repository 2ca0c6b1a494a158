//! The C watch example, built with the system compiler against the static
//! library, follows a real slapd (RFC 4533): an administrator's ldapmodify
//! reaches the C callback as a JSON event; stopping is clean. Times are
//! waiting timeouts only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use annexr_lab::{Slapd, or_skip};
use annexr_model::{AeTitle, Device, Dn, Layout, NetworkAe, NetworkConnection};
use serde_json::Value;

const NATIVE_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];
const WAIT: Duration = Duration::from_secs(15);

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn static_lib() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let lib = exe.parent().unwrap().join("libannexr_ffi.a");
    assert!(lib.exists(), "{} is missing", lib.display());
    lib
}

fn compile(out: &Path) {
    let result = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-g"])
        .arg("-I")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("include"))
        .arg("-o")
        .arg(out)
        .arg(workspace().join("examples/c/watch.c"))
        .arg(static_lib())
        .args(NATIVE_LIBS)
        .output()
        .unwrap_or_else(|e| panic!("cannot run cc: {e}"));
    assert!(
        result.status.success(),
        "cc watch.c failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
}

fn device(name: &str, title: &str, port: u16) -> Device {
    Device::new(name)
        .with_device_type("CT")
        .installed(true)
        .with_connection(NetworkConnection::new("dicom", "127.0.0.1", Some(port)))
        .with_ae(
            NetworkAe::new(AeTitle::new(title).unwrap())
                .with_connection("dicom")
                .roles(true, true),
        )
}

#[test]
fn a_c_callback_receives_directory_changes_and_stops_cleanly() {
    let layout = Layout::at(Dn::parse("cn=DICOM Configuration,dc=example,dc=org").unwrap());
    let Some(slapd) = or_skip(
        Slapd::builder()
            .sync_provider(true)
            .seed_ldif(&annexr_model::export_device(
                &device("CT-WATCH", "CTW", 11112),
                &layout,
            ))
            .seed_ldif(&annexr_model::export_device(
                &device("ARCHIVE-W", "ARCHW", 11120),
                &layout,
            ))
            .start(),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let program = dir.path().join("watch");
    compile(&program);
    let config = dir.path().join("annexr.toml");
    std::fs::write(
        &config,
        format!(
            "[device]\nname = \"CT-WATCH\"\n\n[ldap]\nurls = [\"{}\"]\nprefer_configured = true\n\
             timeout_ms = 5000\n\n[probe]\ndevice_types = [\"CT\"]\n",
            slapd.url()
        ),
    )
    .unwrap();
    let mut child = Command::new(&program)
        .arg(&config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let mut seen = Vec::new();
    let mut next_event = |kind: &str| -> Value {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no {kind} event within {WAIT:?}; saw {seen:?}"));
            if let Some(json) = line.strip_prefix("event: ") {
                let v: Value = serde_json::from_str(json).unwrap();
                if v["event"] == kind {
                    return v;
                }
            }
            seen.push(line);
        }
    };
    let following = next_event("following");
    assert!(
        following["mechanism"]
            .as_str()
            .unwrap()
            .contains("refreshAndPersist"),
        "{following}"
    );
    slapd
        .ldapmodify(&format!(
            "dn: cn=dicom,dicomDeviceName=ARCHIVE-W,{}\nchangetype: modify\n\
             replace: dicomPort\ndicomPort: 11125\n",
            slapd.devices_dn()
        ))
        .unwrap();
    let moved = next_event("peer_moved");
    assert_eq!(moved["title"], "ARCHW");
    assert_eq!(moved["old"]["port"], 11120);
    assert_eq!(moved["new"]["port"], 11125);
    child.stdin.take().unwrap().write_all(b"stop\n").unwrap();
    let output = child.wait_with_output().unwrap();
    let rest: Vec<String> = lines.try_iter().collect();
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        rest.iter().any(|l| l.starts_with("stopped after ")),
        "{rest:?}"
    );
}
