//! R.1.2.3: export a device's configuration as LDIF (its unique AE title
//! entries first, then the device, connections, AEs and transfer
//! capabilities), for a site where devices may not write the directory.
//! The file loads with `ldapadd -f`.
//!
//! ```text
//! cargo run --example ldap_export_ldif -- [DEVICE-NAME] > device.ldif
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
use common::settings;

use annexr_ldap::DeviceLookup;
use annexr_ldap::blocking::LdapClient;
use annexr_model::export_device;

fn main() {
    let (config, args, _lab) = settings();
    let name = args
        .first()
        .cloned()
        .unwrap_or_else(|| "CT-SCANNER-1".into());
    let client = LdapClient::new(config).unwrap_or_else(|e| fail(e));
    let layout = client.locate().unwrap_or_else(|e| fail(e)).value;
    let r = client.load_device(&name).unwrap_or_else(|e| fail(e));
    match r.value {
        DeviceLookup::Found(device) => {
            eprintln!("loaded {name} in {} round trips", r.stats.round_trips);
            print!("{}", export_device(&device, &layout));
        }
        DeviceLookup::NotConfigured { name } => {
            eprintln!("{name} is not configured on this server");
            std::process::exit(1);
        }
    }
}

fn fail(e: annexr_ldap::Error) -> ! {
    eprintln!("error: {e}");
    std::process::exit(1)
}
