//! `annexr watch [DEVICE]`: follow a device and its peers in the directory
//! and print one line per event (text, or JSON lines with `--json`) until
//! stopped with Ctrl-C or SIGTERM.

use std::sync::Arc;
use std::time::Duration;

use annexr::{StartupConfig, Watch};
use annexr::{WatchMode, WatchOptions};
use clap::Args;

use crate::exit;

#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    /// The device to follow (default: --device or [device] name).
    // Its own id: the global `--device` has the id "device".
    #[arg(id = "device_arg", value_name = "DEVICE")]
    pub device: Option<String>,
    /// Also follow this peer AE title (repeatable).
    #[arg(long = "peer", value_delimiter = ',')]
    pub peers: Vec<String>,
    /// Also follow every AE of devices of this primary device type
    /// (repeatable; default: the [probe] device types).
    #[arg(long = "type", value_delimiter = ',')]
    pub device_types: Vec<String>,
    /// Poll instead of RFC 4533 content synchronization.
    #[arg(long)]
    pub poll: bool,
    /// Polling interval (heartbeat with content synchronization), seconds.
    #[arg(long, default_value_t = 30)]
    pub interval: u64,
    /// Write this device's new configuration to the store of the settings
    /// ([store] path) when it changes. Off by default: a field engineer's
    /// run must not touch a device's files unasked.
    #[arg(long)]
    pub update_store: bool,
}

/// Runs until stopped; the exit code says how it ended.
pub(crate) async fn run(
    config: StartupConfig,
    args: WatchArgs,
    json_out: bool,
) -> Result<u8, (u8, String)> {
    let device = args.device.or_else(|| config.device.name.clone()).ok_or((
        exit::USAGE,
        "name the device: annexr watch DEVICE, --device or [device] name".to_string(),
    ))?;
    if args.interval == 0 {
        return Err((exit::USAGE, "--interval must be at least 1 second".into()));
    }
    let failed = |e: annexr::Error| (exit::FAILED, e.to_string());
    let urls = annexr::ldap_servers(&config).await.map_err(failed)?;
    let client = annexr::ldap_client(&config, &urls).map_err(failed)?;
    let options = WatchOptions {
        mode: if args.poll {
            WatchMode::Poll
        } else {
            WatchMode::Auto
        },
        interval: Duration::from_secs(args.interval),
        ..WatchOptions::default()
    };
    let types = if args.device_types.is_empty() {
        config.probe.device_types.clone()
    } else {
        args.device_types
    };
    let mut builder = Watch::builder(client, device)
        .peer_device_types(types)
        .options(options);
    for peer in args.peers {
        builder = builder.with_peer(peer);
    }
    if args.update_store {
        let Some(path) = &config.store.path else {
            return Err((
                exit::USAGE,
                "--update-store needs [store] path in the settings".into(),
            ));
        };
        builder = builder.store(Arc::new(annexr::FileStore::new(path.clone())));
    }
    let mut watch = builder.start().await.map_err(failed)?;
    let stop = stopped();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            event = watch.next() => {
                let Some(event) = event else {
                    return Ok(exit::FAILED);
                };
                if json_out {
                    println!("{}", event.to_json());
                } else {
                    println!("{event}");
                }
            }
            () = &mut stop => return Ok(exit::OK),
        }
    }
}

/// Resolves on Ctrl-C (SIGINT) or SIGTERM.
async fn stopped() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
