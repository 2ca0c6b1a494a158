//! Runs the client against every misbehaviour of the lab's hostile LDAP
//! server and prints the typed error of each. Meant to be built with
//! `panic = "abort"` (as firmware is), where any panic, also one inside a
//! dependency's task, would kill the process:
//!
//! ```sh
//! CARGO_PROFILE_DEV_PANIC=abort CARGO_TARGET_DIR=target/abort \
//!     cargo run -p annexr-ldap --example hostile_server
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use annexr_lab::{EvilLdap, Misbehaviour};
use annexr_ldap::{ClientConfig, LdapClient};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let mut failed = false;
    for how in [
        Misbehaviour::EmptyMessage,
        Misbehaviour::DeepNesting,
        Misbehaviour::HugeLength,
        Misbehaviour::EndlessSearch,
        Misbehaviour::GarbageAfterBind,
    ] {
        let evil = EvilLdap::start(how).unwrap();
        let mut cfg = ClientConfig::new(evil.url())
            .base_dn("cn=DICOM Configuration,dc=example,dc=org")
            .timeouts(Duration::from_secs(2), Duration::from_secs(3));
        if matches!(
            how,
            Misbehaviour::EndlessSearch | Misbehaviour::GarbageAfterBind
        ) {
            cfg = cfg.simple_bind("cn=x", "pw").allow_plaintext_bind(true);
        }
        let c = LdapClient::new(cfg).unwrap();
        match tokio::time::timeout(Duration::from_secs(30), c.load_device("dev")).await {
            Ok(Err(e)) => println!("{how:?}: {e}"),
            Ok(Ok(v)) => {
                println!("{how:?}: accepted {:?}", v.value);
                failed = true;
            }
            Err(_) => {
                println!("{how:?}: no answer within 30 s");
                failed = true;
            }
        }
    }
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        println!("every hostile reply ended in a typed error; the process is alive");
        std::process::ExitCode::SUCCESS
    }
}
