//! Install of a new device (PS3.17 R.1.2.2): the device is not in LDAP yet;
//! its local description (what the vendor's "device specific process" says
//! it is) is registered with unique AE titles and created in LDAP. When the
//! server refuses writes, the LDIF of R.1.2.3 is written instead.
//!
//! ```sh
//! cargo run --example install -- --ldap ldap://127.0.0.1:389 \
//!     --bind-dn cn=device,dc=hospital,dc=example --password secret \
//!     --name MR-NEW-1 --ae MR1 --host 192.0.2.10 --port 11112
//! ```

use annexr::{Source, Startup, StartupConfig};
use annexr_model::{
    AeTitle, Device, NetworkAe, NetworkConnection, TransferCapability, TransferRole,
};

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let name = arg("--name").unwrap_or_else(|| "MR-NEW-1".into());
    let port: u16 = arg("--port").unwrap_or_else(|| "11112".into()).parse()?;
    let host = arg("--host").unwrap_or_else(|| "127.0.0.1".into());
    // The preferred title; when it is taken, the install picks another.
    let title = AeTitle::new(&arg("--ae").unwrap_or_else(|| "MR1".into()))?;

    let local = Device::new(&name)
        .with_device_type("MR")
        .installed(true)
        .with_connection(NetworkConnection::new("dicom", &host, Some(port)))
        .with_ae(
            NetworkAe::new(title)
                .with_connection("dicom")
                .roles(true, true)
                .with_transfer_capability(TransferCapability::verification(TransferRole::Scp)),
        );

    let mut config = StartupConfig::default();
    config.device.name = Some(name.clone());
    config.time.enabled = false;
    config.ldap.urls = arg("--ldap").into_iter().collect();
    config.ldap.prefer_configured = true;
    config.ldap.bind_dn = arg("--bind-dn");
    config.ldap.password = arg("--password");
    // The password goes over TLS, verified against the site's CA.
    config.ldap.ca_file = arg("--ca-file").map(Into::into);
    config.ldap.install_if_missing = true;

    let outcome = Startup::builder()
        .config(config)
        .local_description(local)
        .build()
        .run()
        .await;
    println!("{}", outcome.report);
    match outcome.report.configuration_source {
        Some(Source::Ldap) => println!("{name} is installed in LDAP"),
        Some(_) => println!("{name} runs on its local description (see the warnings)"),
        None => return Err("not configured".into()),
    }
    Ok(())
}
