//! Queries NTP servers and prints offset, delay, stratum and the R.6 class,
//! per server and combined. Reads the clock only; never sets it.
//!
//! ```text
//! cargo run --example sntp_query -- 192.168.1.1:123 [more servers…]
//! cargo run --example sntp_query            # against a lab chronyd serving +37 s
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::Arc;

use annexr_lab::{Chronyd, or_skip};
use annexr_sntp::{SamplingConfig, SystemClock, blocking::SntpClient};

fn main() {
    let mut servers: Vec<SocketAddr> = Vec::new();
    for a in std::env::args().skip(1) {
        match a
            .parse::<SocketAddr>()
            .or_else(|_| format!("{a}:123").parse())
        {
            Ok(s) => servers.push(s),
            Err(_) => {
                eprintln!("not an address: {a} (ip or ip:port)");
                std::process::exit(2);
            }
        }
    }
    let _lab = if servers.is_empty() {
        let Some(ntp) = or_skip(Chronyd::builder().offset_secs(37).start()) else {
            return;
        };
        servers.push(ntp.addr());
        Some(ntp)
    } else {
        None
    };
    let client = SntpClient::new(servers, SamplingConfig::default()).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(2)
    });
    match client.measure(Arc::new(SystemClock)) {
        Ok(m) => {
            for r in &m.servers {
                match &r.best {
                    Some(s) => println!(
                        "{}  offset {:+.6} s  delay {:.3} ms  stratum {}  leap {}  ref {}  precision 2^{}  root distance {:.3} ms  ({} valid samples)",
                        r.server,
                        s.offset.as_secs_f64(),
                        s.delay.as_secs_f64() * 1e3,
                        s.stratum,
                        s.leap,
                        s.reference_text(),
                        s.precision,
                        s.root_distance().as_secs_f64() * 1e3,
                        r.valid_samples
                    ),
                    None => println!(
                        "{}  discarded: {}",
                        r.server,
                        r.discarded
                            .as_ref()
                            .map(ToString::to_string)
                            .unwrap_or_default()
                    ),
                }
                for x in &r.rejections {
                    println!("    rejected reply: {x}");
                }
            }
            println!(
                "combined: offset {:+.6} s, delay {:.3} ms, error bound {:.3} ms, from {:?}",
                m.offset.as_secs_f64(),
                m.delay.as_secs_f64() * 1e3,
                m.sync_distance.as_secs_f64() * 1e3,
                m.used
            );
            println!("class the network supports: {}", m.supported_class);
            println!("class of the clock now (uncorrected): {}", m.clock_class);
        }
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    }
}
