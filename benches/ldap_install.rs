//! 64 concurrent installs contending for the same 8 preferred AE titles
//! (then the standard's random `AE…` form): all complete, no duplicate
//! titles, no orphans; total time and registry add attempts per title.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use annexr_lab::{Slapd, or_skip};
use annexr_ldap::{AllocationPolicy, ClientConfig, InstallOutcome, InstallPlan, LdapClient};
use annexr_model::{
    AeTitle, Device, NetworkAe, NetworkConnection, TransferCapability, TransferRole,
};
use criterion::{Criterion, criterion_group, criterion_main};

const INSTALLS: usize = 64;

/// Runs the 64 installs on a fresh slapd; returns (wall time, attempts per title).
fn round(rt: &tokio::runtime::Runtime) -> Option<(Duration, f64)> {
    let slapd = or_skip(Slapd::builder().start())?;
    let client = LdapClient::new(
        ClientConfig::new(slapd.url())
            .simple_bind(slapd.device_dn(), slapd.device_password())
            .ca_file(slapd.ca_cert_path().expect("lab slapd has TLS"))
            .base_dn(slapd.config_dn()),
    )
    .unwrap();
    let preferred: Vec<String> = (1..=8).map(|i| format!("MOD{i}")).collect();
    let (elapsed, attempts, titles) = rt.block_on(async {
        client.connect().await.unwrap();
        let t = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..INSTALLS {
            let c = client.clone();
            let preferred = preferred.clone();
            tasks.spawn(async move {
                let d = Device::new(&format!("modality-{i}"))
                    .with_device_type("CT")
                    .with_connection(NetworkConnection::new("dicom", "127.0.0.1", Some(104)))
                    .with_ae(
                        NetworkAe::new(AeTitle::new("MOD1").unwrap())
                            .with_connection("dicom")
                            .roles(true, false)
                            .with_transfer_capability(TransferCapability::verification(
                                TransferRole::Scu,
                            )),
                    );
                let plan = InstallPlan::new(d).policies(
                    0,
                    vec![
                        AllocationPolicy::preferred(&preferred).unwrap(),
                        AllocationPolicy::random_ae(),
                    ],
                );
                c.install(&plan).await.unwrap().value
            });
        }
        let mut attempts = 0;
        let mut titles = HashSet::new();
        while let Some(r) = tasks.join_next().await {
            let InstallOutcome::Installed {
                device,
                attempts: a,
                ..
            } = r.unwrap()
            else {
                panic!("refused")
            };
            attempts += a.iter().sum::<usize>();
            assert!(
                titles.insert(device.network_aes[0].ae_title.clone()),
                "duplicate title"
            );
        }
        let elapsed = t.elapsed();
        let registered = client.titles_in_use("").await.unwrap().value;
        assert_eq!(registered.len(), INSTALLS, "orphans or missing titles");
        (elapsed, attempts, titles)
    });
    assert_eq!(titles.len(), INSTALLS);
    Some((elapsed, attempts as f64 / INSTALLS as f64))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let Some((first, per_title)) = round(&rt) else {
        return;
    };
    eprintln!(
        "ldap_install: {INSTALLS} installs in {first:?}, {per_title:.2} add attempts per title"
    );
    let mut g = c.benchmark_group("ldap_install");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("64_concurrent_installs_8_preferred_titles", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let (t, per_title) = round(&rt).unwrap();
                eprintln!("  round: {t:?}, {per_title:.2} attempts/title");
                total += t;
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
