//! R.3.1 on a directory of 10,000 devices and 30,000 AEs where 100 devices
//! are archives: wall time and round trips (sequential waits) of
//! `find_aes_by_device_type`, which pipelines the per-device reads on one
//! connection; the stock `ldapsearch` finding just the device entries is
//! timed alongside for scale.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use annexr_lab::{Slapd, or_skip};
use annexr_ldap::{ClientConfig, DeviceTypeQuery, blocking::LdapClient};
use criterion::{Criterion, criterion_group, criterion_main};

const DEVICES: usize = 10_000;
const ARCHIVE_EVERY: usize = 100;

/// Seed LDIF written directly (slapadd), 5 entries per device.
fn seed(suffix: &str) -> String {
    let devices = format!("cn=Devices,cn=DICOM Configuration,{suffix}");
    let mut s = String::with_capacity(DEVICES * 900);
    for i in 0..DEVICES {
        let kind = if i % ARCHIVE_EVERY == 0 {
            "ARCHIVE"
        } else {
            "CT"
        };
        let ddn = format!("dicomDeviceName=dev{i:05},{devices}");
        write!(
            s,
            "dn: {ddn}\nobjectClass: dicomDevice\ndicomDeviceName: dev{i:05}\ndicomPrimaryDeviceType: {kind}\ndicomInstalled: TRUE\n\n\
             dn: cn=dicom,{ddn}\nobjectClass: dicomNetworkConnection\ncn: dicom\ndicomHostname: host{i}.example\ndicomPort: 104\n\n"
        )
        .unwrap();
        for a in 0..3 {
            write!(
                s,
                "dn: dicomAETitle=D{i:05}A{a},{ddn}\nobjectClass: dicomNetworkAE\ndicomAETitle: D{i:05}A{a}\n\
                 dicomNetworkConnectionReference: cn=dicom,{ddn}\ndicomAssociationInitiator: TRUE\ndicomAssociationAcceptor: TRUE\n\n"
            )
            .unwrap();
        }
    }
    s
}

fn bench(c: &mut Criterion) {
    let t = Instant::now();
    let Some(slapd) = or_skip(
        Slapd::builder()
            .seed_ldif(&seed("dc=example,dc=org"))
            .start(),
    ) else {
        return;
    };
    eprintln!(
        "ldap_find: seeded {DEVICES} devices / {} AEs in {:?}",
        DEVICES * 3,
        t.elapsed()
    );
    let client = LdapClient::new(
        ClientConfig::new(slapd.url())
            .simple_bind(slapd.device_dn(), slapd.device_password())
            .ca_file(slapd.ca_cert_path().expect("lab slapd has TLS"))
            .base_dn(slapd.config_dn()),
    )
    .unwrap();
    client.connect().unwrap();
    let query = DeviceTypeQuery::new("ARCHIVE");
    let r = client.find_aes_by_device_type(&query).unwrap();
    assert_eq!(r.value.len(), 3 * DEVICES / ARCHIVE_EVERY);
    eprintln!(
        "ldap_find: {} AEs of {} archives, {} round trips of sequential waiting, {} requests",
        r.value.len(),
        DEVICES / ARCHIVE_EVERY,
        r.stats.round_trips,
        r.stats.requests
    );
    let mut g = c.benchmark_group("ldap_find");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    g.bench_function("annexr_find_archives_pipelined", |b| {
        b.iter(|| client.find_aes_by_device_type(&query).unwrap())
    });
    g.bench_function("ldapsearch_archive_devices_only", |b| {
        b.iter(|| {
            slapd
                .ldapsearch(
                    &slapd.devices_dn(),
                    "(&(objectClass=dicomDevice)(dicomPrimaryDeviceType=ARCHIVE))",
                )
                .unwrap()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
