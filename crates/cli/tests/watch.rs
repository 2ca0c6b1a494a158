//! `annexr watch` against a real slapd: one line per event, JSON lines with
//! `--json`, and a clean exit on SIGTERM. Times are waiting timeouts only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use annexr_lab::{Slapd, or_skip};
use annexr_model::{AeTitle, Device, Dn, Layout, NetworkAe, NetworkConnection};

const WAIT: Duration = Duration::from_secs(15);

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

fn slapd() -> Option<Slapd> {
    let layout = Layout::at(Dn::parse("cn=DICOM Configuration,dc=example,dc=org").unwrap());
    or_skip(
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
    )
}

/// Starts `annexr watch`, its stdout lines arriving on the channel.
fn watch(slapd: &Slapd, json: bool) -> (Child, mpsc::Receiver<String>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_annexr"));
    cmd.args(["--ldap", &slapd.url(), "--timeout-ms", "2000"]);
    if json {
        cmd.arg("--json");
    }
    let mut child = cmd
        .args(["watch", "CT-WATCH", "--peer", "ARCHW"])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

fn wait_for(rx: &mpsc::Receiver<String>, what: &str, wanted: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    let mut seen = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if wanted(&line) => return line,
            Ok(line) => seen.push(line),
            Err(_) => panic!("no {what} within {WAIT:?}; saw {seen:?}"),
        }
    }
}

fn terminate(mut child: Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait().unwrap()
}

fn move_peer(slapd: &Slapd, port: u16) {
    slapd
        .ldapmodify(&format!(
            "dn: cn=dicom,dicomDeviceName=ARCHIVE-W,{}\nchangetype: modify\n\
             replace: dicomPort\ndicomPort: {port}\n",
            slapd.devices_dn()
        ))
        .unwrap();
}

#[test]
fn watch_prints_one_line_per_event_and_stops_on_sigterm() {
    let Some(slapd) = slapd() else { return };
    let (child, lines) = watch(&slapd, false);
    let first = wait_for(&lines, "following line", |l| l.starts_with("following "));
    assert!(first.contains("refreshAndPersist"), "{first}");
    move_peer(&slapd, 11121);
    let moved = wait_for(&lines, "peer moved line", |l| {
        l.starts_with("peer ARCHW moved")
    });
    assert_eq!(
        moved,
        "peer ARCHW moved: 127.0.0.1:11120 -> 127.0.0.1:11121"
    );
    slapd
        .ldapmodify(&format!(
            "dn: dicomDeviceName=CT-WATCH,{}\nchangetype: modify\n\
             replace: dicomInstalled\ndicomInstalled: FALSE\n",
            slapd.devices_dn()
        ))
        .unwrap();
    let changed = wait_for(&lines, "device changed line", |l| {
        l.starts_with("device CT-WATCH changed")
    });
    assert!(
        changed.contains("dicomInstalled TRUE -> FALSE"),
        "{changed}"
    );
    let offline = wait_for(&lines, "offline line", |l| l.starts_with("offline"));
    assert_eq!(offline, "offline: device CT-WATCH");
    let status = terminate(child);
    assert_eq!(status.code(), Some(0), "{status:?}");
}

#[test]
fn watch_json_prints_json_lines() {
    let Some(slapd) = slapd() else { return };
    let (child, lines) = watch(&slapd, true);
    let first = wait_for(&lines, "following event", |l| l.contains("\"following\""));
    let v: serde_json::Value = serde_json::from_str(&first).unwrap();
    assert_eq!(v["event"], "following");
    move_peer(&slapd, 11122);
    let moved = wait_for(&lines, "peer_moved event", |l| l.contains("\"peer_moved\""));
    let v: serde_json::Value = serde_json::from_str(&moved).unwrap();
    assert_eq!(v["title"], "ARCHW");
    assert_eq!(v["old"]["port"], 11120);
    assert_eq!(v["new"]["port"], 11122);
    assert_eq!(v["new"]["hostname"], "127.0.0.1");
    let status = terminate(child);
    assert_eq!(status.code(), Some(0), "{status:?}");
}
