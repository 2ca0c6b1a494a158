//! Kill `annexr install` at random points (200 trials over 100 devices) and
//! show that the store and the directory always converge on restart: every
//! device ends complete exactly once, the store always reads, and no unique
//! AE title is left registered without an AE.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use annexr::{FileStore, Store};
use annexr_lab::{Slapd, or_skip};
use annexr_model::{
    AeTitle, Device, NetworkAe, NetworkConnection, TransferCapability, TransferRole,
};

const DEVICES: usize = 100;
const KILLS_PER_DEVICE: usize = 2;

/// xorshift64*: deterministic per seed, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

fn write_device(dir: &Path, i: usize) -> (String, std::path::PathBuf) {
    let name = format!("MR-KILL-{i:03}");
    let device = Device::new(&name)
        .with_device_type("MR")
        .installed(true)
        .with_connection(NetworkConnection::new(
            "dicom",
            "127.0.0.1",
            Some(20_000 + i as u16),
        ))
        .with_ae(
            NetworkAe::new(AeTitle::new(&format!("MRK{i:03}")).unwrap())
                .with_connection("dicom")
                .roles(true, true)
                .with_transfer_capability(TransferCapability::verification(TransferRole::Scp)),
        );
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, annexr_model::device_to_json(&device)).unwrap();
    (name, path)
}

fn write_config(dir: &Path, slapd: &Slapd, name: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let store = dir.join(format!("{name}.state.json"));
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "[device]\nname = \"{name}\"\n[time]\nenabled = false\n\
             [ldap]\nurls = [\"{url}\"]\nprefer_configured = true\nbind_dn = \"{dn}\"\npassword = \"{pw}\"\nca_file = \"{ca}\"\ntimeout_ms = 10000\n\
             [store]\npath = \"{store}\"\n",
            url = slapd.url(),
            dn = slapd.device_dn(),
            pw = slapd.device_password(),
            ca = slapd.ca_cert_path().unwrap().display(),
            store = store.display(),
        ),
    )
    .unwrap();
    (config, store)
}

fn install(config: &Path, local: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_annexr"));
    cmd.arg("--config")
        .arg(config)
        .arg("install")
        .arg("--local")
        .arg(local)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

#[test]
fn killed_installs_and_store_writes_converge_on_restart() {
    let Some(slapd) = or_skip(Slapd::builder().start()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // How long one whole install takes, to spread the kills over it.
    let (probe_name, probe_local) = write_device(dir.path(), 999);
    let (probe_config, _) = write_config(dir.path(), &slapd, &probe_name);
    let started = Instant::now();
    assert!(
        install(&probe_config, &probe_local)
            .status()
            .unwrap()
            .success()
    );
    let full = started.elapsed();
    println!("one install takes {full:?}");

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut trials = 0;
    let mut killed_before_exit = 0;
    for i in 0..DEVICES {
        let (name, local) = write_device(dir.path(), i);
        let (config, store) = write_config(dir.path(), &slapd, &name);
        for _ in 0..KILLS_PER_DEVICE {
            let delay = Duration::from_micros(rng.next() % (full.as_micros() as u64 + 1));
            let mut child = install(&config, &local).spawn().unwrap();
            std::thread::sleep(delay);
            if child.try_wait().unwrap().is_none() {
                killed_before_exit += 1;
            }
            let _ = child.kill();
            child.wait().unwrap();
            trials += 1;
            // Whatever instant the kill hit, the store reads (old or new state).
            FileStore::new(&store)
                .load()
                .unwrap_or_else(|e| panic!("{name}: store unreadable after a kill: {e}"));
        }
        // The restart completes the install.
        let done = install(&config, &local)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(
            done.status.code(),
            Some(0),
            "{name}: restart did not converge:\n{}{}",
            String::from_utf8_lossy(&done.stdout),
            String::from_utf8_lossy(&done.stderr)
        );
        let (state, _) = FileStore::new(&store).load().unwrap();
        assert_eq!(state.device_name.as_deref(), Some(name.as_str()));
        assert!(state.last_configuration.is_some());
    }
    println!("{trials} trials, {killed_before_exit} killed before they finished");
    assert!(trials >= 200);
    assert!(killed_before_exit >= trials / 2, "kills must land mid-run");

    // The directory: every device complete, once; no orphan titles.
    for i in 0..DEVICES {
        let name = format!("MR-KILL-{i:03}");
        let base = format!("dicomDeviceName={name},{}", slapd.devices_dn());
        let subtree = slapd.ldapsearch(&base, "(objectClass=*)").unwrap();
        let count = |class: &str| subtree.matches(&format!("objectClass: {class}")).count();
        assert_eq!(count("dicomDevice"), 1, "{subtree}");
        assert_eq!(count("dicomNetworkConnection"), 1, "{subtree}");
        assert_eq!(count("dicomNetworkAE"), 1, "{subtree}");
        assert_eq!(count("dicomTransferCapability"), 1, "{subtree}");
    }
    let titles = |text: String| -> BTreeSet<String> {
        text.lines()
            .filter_map(|l| l.strip_prefix("dicomAETitle: "))
            .map(str::to_string)
            .collect()
    };
    let registered = titles(
        slapd
            .ldapsearch(&slapd.registry_dn(), "(objectClass=dicomUniqueAETitle)")
            .unwrap(),
    );
    let in_use = titles(
        slapd
            .ldapsearch(&slapd.devices_dn(), "(objectClass=dicomNetworkAE)")
            .unwrap(),
    );
    assert_eq!(
        registered, in_use,
        "registry and AEs differ: orphans or unregistered titles"
    );
    assert_eq!(in_use.len(), DEVICES + 1);
}
