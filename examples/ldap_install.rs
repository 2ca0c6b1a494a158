//! R.1.2.2 steps 6–9: install an unconfigured device — register its AE titles
//! (preferred, else `AE` + random digits), then create the device, its
//! connections and its AEs, with a journal so a killed install resumes. When
//! the server refuses writes, print the LDIF of R.1.2.3 instead.
//!
//! ```text
//! cargo run --example ldap_install -- [DEVICE-NAME] [JOURNAL-FILE]
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::settings;

use annexr_ldap::blocking::LdapClient;
use annexr_ldap::{DeviceLookup, InstallOutcome, InstallPlan};
use annexr_model::{
    AeTitle, Device, NetworkAe, NetworkConnection, TransferCapability, TransferRole,
};

fn main() {
    let (config, args, _lab) = settings();
    let name = args.first().cloned().unwrap_or_else(|| "US-CART-7".into());
    let journal = args.get(1).cloned().unwrap_or_else(|| {
        std::env::temp_dir()
            .join(format!("{name}.install-journal"))
            .display()
            .to_string()
    });
    let client = LdapClient::new(config).unwrap_or_else(|e| fail(e));
    // R.1.2.2 step 4: is the device configured already?
    let lookup = client.load_device(&name).unwrap_or_else(|e| fail(e));
    if let DeviceLookup::Found(d) = lookup.value {
        println!(
            "{name} is configured already ({} AEs): use the merge path",
            d.network_aes.len()
        );
        return;
    }
    println!("{name} is not configured: installing");
    let device = Device::new(&name)
        .with_device_type("US")
        .with_connection(NetworkConnection::new("dicom", "127.0.0.1", Some(11120)))
        .with_ae(
            NetworkAe::new(AeTitle::new("US1").unwrap())
                .with_connection("dicom")
                .roles(true, true)
                .with_transfer_capability(TransferCapability::verification(TransferRole::Scu))
                .with_transfer_capability(TransferCapability::verification(TransferRole::Scp)),
        );
    let plan = InstallPlan::new(device).journal(&journal);
    let r = client.install(&plan).unwrap_or_else(|e| fail(e));
    match r.value {
        InstallOutcome::Installed {
            device,
            attempts,
            resumed,
            ..
        } => {
            println!(
                "installed {} ({}), AE titles {:?}, add attempts {attempts:?}, {} round trips",
                device.name,
                if resumed {
                    "resumed an interrupted install"
                } else {
                    "fresh"
                },
                device.ae_titles().map(|t| t.as_str()).collect::<Vec<_>>(),
                r.stats.round_trips
            );
        }
        InstallOutcome::LdifFallback { ldif, rc, text } => {
            println!(
                "the server refused the write ({rc} {text}); give this LDIF to the administrator:\n{ldif}"
            );
        }
    }
}

fn fail(e: annexr_ldap::Error) -> ! {
    eprintln!("error: {e}");
    std::process::exit(1)
}
