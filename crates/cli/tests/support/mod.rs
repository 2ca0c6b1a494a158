//! What the `annexr` tool's lab tests share: running it against the lab's
//! sample site as a field engineer would.

use std::process::{Command, Output};

use annexr_lab::{SITE_DOMAIN, SampleSite};

/// Runs `annexr ARGS` against `site`: its DNS and domain, the device's bind
/// DN with the password from the environment (never on the command line),
/// over StartTLS verified against the lab CA, with an LDAP timeout of
/// `timeout_ms`.
pub fn annexr_at(site: &SampleSite, timeout_ms: u32, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_annexr"))
        .args([
            "--dns",
            &site.dns_addr().to_string(),
            "--domain",
            SITE_DOMAIN,
        ])
        .args(["--bind-dn", &site.slapd.device_dn()])
        .env("ANNEXR_LDAP_PASSWORD", site.slapd.device_password())
        .arg("--ca-file")
        .arg(site.slapd.ca_cert_path().unwrap())
        .args(["--timeout-ms", &timeout_ms.to_string()])
        .args(args)
        .output()
        .unwrap()
}
