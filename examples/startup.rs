//! Normal startup (PS3.17 R.4) of a configured device: DNS SRV finds the
//! LDAP servers, LDAP holds the device's description, the device applies it.
//!
//! ```sh
//! cargo run --example startup -- --dns 10.0.0.53 --domain hospital.example \
//!     --ntp 10.0.0.123 --device CT-SCANNER-1 \
//!     --bind-dn cn=device,dc=hospital,dc=example --password secret [--store state.json]
//! ```
//! `cargo xtask demo` runs it against the lab's sample hospital.

use std::sync::Arc;

use annexr::{Event, NetworkMode, Startup, StartupConfig};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // The vendor's settings; a real device reads them from its TOML file
    // with StartupConfig::from_file.
    let mut config = StartupConfig::default();
    config.device.name = arg("--device");
    config.network.mode = NetworkMode::Static;
    config.network.dns_servers = arg("--dns").into_iter().collect();
    config.network.ntp_servers = arg("--ntp").into_iter().collect();
    config.network.domain = arg("--domain");
    config.ldap.bind_dn = arg("--bind-dn");
    config.ldap.password = arg("--password");
    // The password goes over TLS, verified against the site's CA.
    config.ldap.ca_file = arg("--ca-file").map(Into::into);
    config.store.path = arg("--store").map(Into::into);

    let outcome = Startup::builder()
        .config(config)
        // Progress for the modality's UI.
        .observer(Arc::new(|event: &Event| {
            if let Event::StepFinished { step, outcome, .. } = event {
                eprintln!("  {} -> {outcome:?}", step.name());
            }
        }))
        .build()
        .run()
        .await;

    println!("{}", outcome.report);
    match &outcome.device {
        Some(device) => {
            for ae in &device.network_aes {
                println!("ready: AE {} of {}", ae.ae_title, device.name);
            }
            std::process::ExitCode::SUCCESS
        }
        None => std::process::ExitCode::FAILURE,
    }
}
