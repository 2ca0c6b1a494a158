//! The startup's DHCP step in the lab's network namespaces with
//! `[network] apply = "ip"`: the lease is configured on the interface,
//! the desired name is sanitized and sent, and shutdown releases annexr's
//! own binding and removes the address.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use annexr::{LeaseApply, NetworkMode, Outcome, Startup, StartupConfig, Step};
use annexr_lab::{DhcpLab, DhcpServer, or_skip};

fn ip(args: &[&str]) -> String {
    let out = std::process::Command::new("ip")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "ip {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn lease_applied_in_namespace() {
    let Some(lab) = or_skip(DhcpLab::start(DhcpServer::Dnsmasq)) else {
        return;
    };
    let interface = lab.client_ifname().to_string();
    let router = lab.expected().router.to_string();
    let (report, address, addr_during, route_during, released, addr_after, store_text) = lab
        .in_client_ns(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let dir = tempfile::tempdir().unwrap();
                let mut config = StartupConfig::default();
                config.device.name = Some("CT 7".into());
                config.network.mode = NetworkMode::Dhcp;
                config.network.apply = LeaseApply::Ip;
                config.network.interface = Some(interface.clone());
                config.time.enabled = false;
                config.dns.timeout_ms = 300;
                config.ldap.timeout_ms = 300;
                config.store.path = Some(dir.path().join("state.json"));
                let outcome = Startup::builder().config(config).build().run().await;
                let report = outcome.report.clone();
                let address = outcome.network.lease.as_ref().unwrap().address;
                let addr_during = ip(&["-4", "addr", "show", "dev", &interface]);
                let route_during = ip(&["-4", "route", "show"]);
                let store_text = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
                let shutdown = outcome.shutdown(false).await;
                let addr_after = ip(&["-4", "addr", "show", "dev", &interface]);
                (
                    report,
                    address,
                    addr_during,
                    route_during,
                    shutdown.lease_released,
                    addr_after,
                    store_text,
                )
            })
        })
        .unwrap();
    println!("{report}");
    let dhcp = report.step(Step::Dhcp).unwrap();
    assert_eq!(dhcp.outcome, Outcome::Done, "{report}");
    assert!(dhcp.detail.contains("applied"), "{}", dhcp.detail);
    // The address and the default route are on the interface.
    assert!(
        addr_during.contains(&format!("inet {address}/24")),
        "{addr_during}"
    );
    assert!(
        route_during.contains(&format!("default via {router}")),
        "{route_during}"
    );
    // The desired name went out as a DNS label, with a warning.
    let text = report.to_string();
    assert!(text.contains("\"ct-7\""), "{text}");
    let log = lab.server_log();
    assert!(log.contains("ct-7"), "the server saw no name: {log}");
    // The name the server granted is reported.
    let granted: Vec<&str> = dhcp
        .values
        .iter()
        .filter(|v| v.name == "host-name")
        .map(|v| v.value.as_str())
        .collect();
    assert_eq!(granted, ["ct-7"], "{report}");
    // The lease memory says the lease is annexr's own.
    let stored: serde_json::Value = serde_json::from_str(&store_text).unwrap();
    let client_id = stored["last_lease"]["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(client_id.starts_with("ff:41:58:52:31"), "{client_id}");
    // Shutdown released annexr's binding and took the address away.
    assert!(released);
    assert!(log.contains("DHCPRELEASE"), "{log}");
    assert!(!addr_after.contains(&address.to_string()), "{addr_after}");
}

/// R.1.2.2 step 4: a device that does not know its name takes the machine
/// name the DHCP server assigned and looks for its configuration under it.
#[test]
fn assigned_machine_name_names_the_device() {
    let Some(lab) = or_skip(
        DhcpLab::builder(DhcpServer::Dnsmasq)
            .assigned_name("ct-west-3")
            .start(),
    ) else {
        return;
    };
    let interface = lab.client_ifname().to_string();
    let report = lab
        .in_client_ns(|| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let mut config = StartupConfig::default();
                config.network.mode = NetworkMode::Dhcp;
                config.network.interface = Some(interface.clone());
                config.time.enabled = false;
                config.dns.timeout_ms = 300;
                config.ldap.timeout_ms = 300;
                let outcome = Startup::builder().config(config).build().run().await;
                let report = outcome.report.clone();
                outcome.shutdown(false).await;
                report
            })
        })
        .unwrap();
    println!("{report}");
    let dhcp = report.step(Step::Dhcp).unwrap();
    let granted: Vec<&str> = dhcp
        .values
        .iter()
        .filter(|v| v.name == "host-name")
        .map(|v| v.value.as_str())
        .collect();
    assert_eq!(granted, ["ct-west-3"], "{report}");
    assert_eq!(report.device_name.as_deref(), Some("ct-west-3"), "{report}");
    // Without a name the step would say so; with the assigned one it looks.
    assert!(
        !report.to_string().contains("does not know its name"),
        "{report}"
    );
}
