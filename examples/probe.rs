//! Probe a DICOM peer: can this AE reach that AE, and if not, why.
//!
//! ```text
//! cargo run --example probe -- HOST PORT CALLED_AE [CALLING_AE] [options]
//!   --json                      print the report as JSON
//!   --propose SOP=TS[,TS...]    also propose this SOP class in these transfer syntaxes
//!   --tls CA.pem                probe over TLS, verifying against this CA
//!   --client-cert CERT KEY      present this client certificate (PEM)
//!   --no-verify                 report, but do not enforce, certificate verification
//!   --timeout MS                per-response timeout (default 10000)
//! ```
//!
//! With no arguments it starts a lab storescp (DCMTK) and probes it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use annexr_probe::{ProbeOptions, ProposedContext, Target, TlsOptions};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        // Demo against a real DCMTK storescp from the lab.
        let Some(scp) = annexr_lab::or_skip(annexr_lab::Storescp::builder().start()) else {
            return;
        };
        let target = Target::new("127.0.0.1", scp.addr().port(), scp.ae_title(), "ANNEXR");
        let opts = ProbeOptions::default().with_context(ProposedContext::new(
            "1.2.840.10008.5.1.4.1.1.2",
            [annexr_probe::EXPLICIT_VR_LE],
        ));
        let report = annexr_probe::blocking::Prober::new()
            .and_then(|prober| prober.probe(&target, &opts))
            .expect("valid target");
        println!("{report}");
        return;
    }
    let mut positional = Vec::new();
    let mut json = false;
    let mut opts = ProbeOptions::default();
    let mut tls: Option<TlsOptions> = None;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--json" => json = true,
            "--propose" => {
                i += 1;
                let (sop, ts) = args[i].split_once('=').expect("--propose SOP=TS[,TS...]");
                opts = opts.with_context(ProposedContext::new(sop, ts.split(',')));
            }
            "--tls" => {
                i += 1;
                let ca = std::fs::read(&args[i]).expect("readable CA file");
                tls = Some(TlsOptions::with_ca_pem(ca));
            }
            "--client-cert" => {
                let cert = std::fs::read(&args[i + 1]).expect("readable certificate");
                let key = std::fs::read(&args[i + 2]).expect("readable key");
                i += 2;
                tls = Some(tls.unwrap_or_default().client_auth(cert, key));
            }
            "--no-verify" => tls = Some(tls.unwrap_or_default().insecure_skip_verify(true)),
            "--timeout" => {
                i += 1;
                let ms: u64 = args[i].parse().expect("milliseconds");
                opts = opts.response_timeout(Duration::from_millis(ms));
            }
            other => positional.push(other.to_string()),
        }
        i += 1;
    }
    let [host, port, called, rest @ ..] = positional.as_slice() else {
        eprintln!(
            "usage: probe HOST PORT CALLED_AE [CALLING_AE] [--json] [--propose SOP=TS,..] [--tls CA.pem]"
        );
        std::process::exit(2);
    };
    let calling = rest.first().map_or("ANNEXR", String::as_str);
    let mut target = Target::new(host, port.parse().expect("port"), called, calling);
    if let Some(t) = tls {
        target = target.tls(t);
    }
    match annexr_probe::blocking::Prober::new().and_then(|prober| prober.probe(&target, &opts)) {
        Ok(report) if json => println!("{}", report.to_json()),
        Ok(report) => println!("{report}"),
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    }
}
