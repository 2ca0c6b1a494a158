//! Shutdown (PS3.17 R.5): the device tells LDAP it goes offline
//! (`dicomInstalled` FALSE, so peers stop calling it), stops time
//! synchronization and releases its DHCP lease.
//!
//! ```sh
//! cargo run --example shutdown -- --ldap ldap://127.0.0.1:389 --device CT-SCANNER-1 \
//!     --bind-dn cn=device,dc=hospital,dc=example --password secret
//! ```

use annexr::{Startup, StartupConfig};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() {
    let mut config = StartupConfig::default();
    config.device.name = arg("--device");
    config.ldap.urls = arg("--ldap").into_iter().collect();
    config.ldap.prefer_configured = true;
    config.ldap.bind_dn = arg("--bind-dn");
    config.ldap.password = arg("--password");
    // The password goes over TLS, verified against the site's CA.
    config.ldap.ca_file = arg("--ca-file").map(Into::into);

    // The device ran the normal startup at boot and kept the outcome.
    let running = Startup::builder().config(config).build().run().await;
    println!("{}", running.report);

    // ... the device works ... then, at shutdown:
    let report = running.shutdown(true).await;
    println!(
        "marked offline: {}, time sync stopped: {}, lease released: {}",
        report.marked_offline, report.time_sync_stopped, report.lease_released
    );
    for problem in &report.problems {
        println!("problem: {problem}");
    }
}
