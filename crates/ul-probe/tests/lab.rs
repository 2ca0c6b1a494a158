//! Probes against real DCMTK peers started by `annexr-lab`, and against
//! real sockets for the transport failures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use annexr_lab::{Dcmqrscp, Storescp, or_skip};
use annexr_probe::internal::pdu::{self, Incoming};
use annexr_probe::{
    Ending, Error, Phase, ProbeOptions, ProposedContext, Target, TlsOptions, TransportErrorKind,
    Verdict, decide,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";
const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
const MADE_UP_SOP_CLASS: &str = "1.2.3.4.5.6.7.8.9";

#[tokio::test]
async fn storescp_echo_succeeds_with_every_phase_timed() {
    let Some(scp) = or_skip(Storescp::builder().ae_title("STORESCP").start()) else {
        return;
    };
    let target = Target::new("127.0.0.1", scp.addr().port(), "STORESCP", "ANNEXR");
    let report = annexr_probe::probe(&target, &ProbeOptions::default())
        .await
        .unwrap();
    println!("{report}");
    assert_eq!(report.verdict, Verdict::AllGood, "{report}");
    let t = &report.timings;
    for (name, v) in [
        ("resolve", t.resolve_us),
        ("connect", t.connect_us),
        ("associate", t.associate_us),
        ("echo", t.echo_us),
        ("release", t.release_us),
    ] {
        assert!(v.is_some(), "{name} not timed");
    }
    assert_eq!(t.tls_handshake_us, None);
    assert!(t.total_us >= t.associate_us.unwrap() + t.echo_us.unwrap());
    assert_eq!(report.ending, Ending::Released);
    assert_eq!(report.echo.as_ref().unwrap().status, 0);
    assert_eq!(report.echo.as_ref().unwrap().responded_to, Some(1));
    let ctx = &report.contexts[0];
    assert!(ctx.accepted());
    assert_eq!(ctx.abstract_syntax, annexr_probe::VERIFICATION);
    assert!(ctx.transfer_syntax.is_some());
    let peer = report.peer.as_ref().unwrap();
    // DCMTK's implementation class UID root.
    assert!(
        peer.implementation_class_uid
            .as_deref()
            .unwrap()
            .starts_with("1.2.276.0.7230010.3"),
        "{peer:?}"
    );
    assert!(
        peer.implementation_version
            .as_deref()
            .unwrap()
            .starts_with("OFFIS_DCMTK")
    );
    assert!(peer.max_pdu_length.unwrap() > 0);
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["verdict"]["verdict"], "all_good");
    assert!(json["timings"]["associate_us"].as_u64().is_some());
}

#[tokio::test]
async fn storescp_refuses_a_sop_class_it_does_not_offer() {
    let Some(scp) = or_skip(Storescp::builder().start()) else {
        return;
    };
    let target = Target::new("127.0.0.1", scp.addr().port(), scp.ae_title(), "ANNEXR");
    let opts = ProbeOptions::default()
        .with_context(ProposedContext::new(
            CT_IMAGE_STORAGE,
            [annexr_probe::EXPLICIT_VR_LE],
        ))
        .with_context(ProposedContext::new(
            MADE_UP_SOP_CLASS,
            [annexr_probe::IMPLICIT_VR_LE],
        ));
    let report = annexr_probe::probe(&target, &opts).await.unwrap();
    println!("{report}");
    // Echo works, CT storage is accepted, the made-up SOP class is refused:
    // "echo works but the asked service is refused".
    assert_eq!(report.echo.as_ref().unwrap().status, 0);
    assert!(report.contexts[1].accepted(), "{report}");
    assert_eq!(report.contexts[2].result, 3, "{report}");
    match &report.verdict {
        Verdict::AcceptedButSopClassRefused { refused } => {
            assert_eq!(refused.len(), 1);
            assert_eq!(refused[0].abstract_syntax, MADE_UP_SOP_CLASS);
            assert!(refused[0].cause.contains("does not offer this SOP class"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn dcmqrscp_rejects_an_unknown_called_ae_decoded() {
    let Some(qr) = or_skip(
        Dcmqrscp::builder()
            .ae_title("PICKY")
            .peer("ANNEXR", "127.0.0.1", 104)
            .start(),
    ) else {
        return;
    };
    let target = Target::new("127.0.0.1", qr.addr().port(), "NOT_PICKY", "ANNEXR");
    let report = annexr_probe::probe(&target, &ProbeOptions::default())
        .await
        .unwrap();
    println!("{report}");
    match &report.verdict {
        Verdict::AssociationRejected { why } => {
            assert_eq!((why.result, why.source, why.reason), (1, 1, 7));
            assert_eq!(why.reason_text, "called AE title not recognized");
            assert!(why.likely_cause.contains("called AE title"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(report.ending, Ending::EndedByPeer);
    assert!(report.timings.associate_us.is_some());
    assert!(report.to_string().contains("ASSOCIATION REJECTED"));

    // The right called AE and a known calling AE: accepted and echoed.
    let good = Target::new("127.0.0.1", qr.addr().port(), "PICKY", "ANNEXR");
    let report = annexr_probe::probe(&good, &ProbeOptions::default())
        .await
        .unwrap();
    assert_eq!(report.verdict, Verdict::AllGood, "{report}");
}

#[tokio::test]
async fn dcmqrscp_rejects_an_unknown_calling_ae_decoded() {
    let Some(qr) = or_skip(
        Dcmqrscp::builder()
            .ae_title("PICKY")
            .peer("ANNEXR", "127.0.0.1", 104)
            .start(),
    ) else {
        return;
    };
    let target = Target::new("127.0.0.1", qr.addr().port(), "PICKY", "STRANGER");
    let report = annexr_probe::probe(&target, &ProbeOptions::default())
        .await
        .unwrap();
    println!("{report}");
    match &report.verdict {
        // PS3.8 has reason 3 for this; DCMTK 3.6.7's dcmqrscp sends the
        // codes below, which the report decodes as they are.
        Verdict::AssociationRejected { why } => {
            assert_eq!((why.result, why.source), (1, 1));
            assert!(matches!(why.reason, 3 | 7), "{why:?}");
            assert!(!why.likely_cause.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn no_common_transfer_syntax_shows_the_negotiation() {
    let Some(scp) = or_skip(
        Storescp::builder()
            .only_transfer_syntax(JPEG_BASELINE)
            .start(),
    ) else {
        return;
    };
    let target = Target::new("127.0.0.1", scp.addr().port(), scp.ae_title(), "ANNEXR");
    // Verification in the usual little-endian syntaxes, which this peer refuses.
    let report = annexr_probe::probe(&target, &ProbeOptions::default())
        .await
        .unwrap();
    println!("{report}");
    match &report.verdict {
        Verdict::AcceptedButSopClassRefused { refused } => {
            assert_eq!(refused[0].abstract_syntax, annexr_probe::VERIFICATION);
            assert_eq!(refused[0].result, 4, "{report}");
            assert!(refused[0].cause.contains("no common transfer syntax"));
        }
        Verdict::AssociationRejected { why } => {
            // A peer may also reject the whole association when no context is left.
            assert_eq!(why.source, 1, "{report}");
        }
        other => panic!("{other:?}"),
    }
    assert!(report.echo.is_none());
    assert!(report.failure.is_none(), "{report}");
    assert_eq!(report.ending, Ending::Released);

    // Proposing the one syntax it takes makes the echo work.
    let opts = ProbeOptions::default().contexts(vec![ProposedContext::new(
        annexr_probe::VERIFICATION,
        [JPEG_BASELINE],
    )]);
    let report = annexr_probe::probe(&target, &opts).await.unwrap();
    assert_eq!(report.verdict, Verdict::AllGood, "{report}");
    assert_eq!(
        report.contexts[0].transfer_syntax.as_deref(),
        Some(JPEG_BASELINE)
    );
}

#[tokio::test]
async fn refused_association_is_decoded() {
    let Some(scp) = or_skip(Storescp::builder().refuse_all().start()) else {
        return;
    };
    let target = Target::new("127.0.0.1", scp.addr().port(), scp.ae_title(), "ANNEXR");
    let report = annexr_probe::probe(&target, &ProbeOptions::default())
        .await
        .unwrap();
    println!("{report}");
    match &report.verdict {
        Verdict::AssociationRejected { why } => {
            assert_eq!((why.result, why.source, why.reason), (1, 1, 1));
            assert_eq!(why.reason_text, "no reason given");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_closed_port_is_connection_refused() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    }; // dropped: nothing listens there now
    let target = Target::new("127.0.0.1", port, "ANY", "ANNEXR");
    let report = annexr_probe::probe(&target, &ProbeOptions::default())
        .await
        .unwrap();
    println!("{report}");
    assert_eq!(
        report.verdict,
        Verdict::TransportFailure {
            phase: Phase::Connect,
            kind: TransportErrorKind::Refused
        }
    );
    assert!(report.timings.connect_us.is_some());
    assert_eq!(report.timings.associate_us, None);
    assert!(matches!(report.failure, Some(Error::Transport { .. })));
}

#[tokio::test]
async fn a_silent_peer_times_out_within_100_ms_of_the_limit() {
    // A real socket that accepts TCP and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let holder = std::thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_secs(3));
        drop(sock);
    });
    let target = Target::new("127.0.0.1", port, "SILENT", "ANNEXR");
    let limit = Duration::from_millis(700);
    let opts = ProbeOptions::default().response_timeout(limit);
    let started = Instant::now();
    let report = annexr_probe::probe(&target, &opts).await.unwrap();
    let took = started.elapsed();
    println!("{report}");
    assert_eq!(
        report.verdict,
        Verdict::TransportFailure {
            phase: Phase::Associate,
            kind: TransportErrorKind::TimedOut
        }
    );
    assert!(took >= limit, "{took:?}");
    assert!(took < limit + Duration::from_millis(100), "{took:?}");

    // The whole-probe limit cuts a longer phase limit too.
    let opts = ProbeOptions::default()
        .response_timeout(Duration::from_secs(10))
        .total_timeout(Some(Duration::from_millis(400)));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port2 = listener.local_addr().unwrap().port();
    let holder2 = std::thread::spawn(move || {
        let (sock, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_secs(2));
        drop(sock);
    });
    let started = Instant::now();
    let report = annexr_probe::probe(&Target::new("127.0.0.1", port2, "SILENT", "ANNEXR"), &opts)
        .await
        .unwrap();
    let took = started.elapsed();
    assert!(matches!(
        report.verdict,
        Verdict::TransportFailure {
            kind: TransportErrorKind::TimedOut,
            ..
        }
    ));
    assert!(took < Duration::from_millis(500), "{took:?}");
    holder.join().unwrap();
    holder2.join().unwrap();
}

#[tokio::test]
async fn a_peer_that_resets_is_told_apart() {
    // A real socket that reads the A-ASSOCIATE-RQ and resets the connection.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let resetter = tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 1024];
        let _ = sock.read(&mut buf).await;
        // Zero linger: the close sends RST instead of FIN.
        sock.set_zero_linger().unwrap();
        drop(sock);
    });
    let report = annexr_probe::probe(
        &Target::new("127.0.0.1", port, "ANY", "ANNEXR"),
        &ProbeOptions::default(),
    )
    .await
    .unwrap();
    resetter.await.unwrap();
    println!("{report}");
    assert_eq!(
        report.verdict,
        Verdict::TransportFailure {
            phase: Phase::Associate,
            kind: TransportErrorKind::Reset,
        }
    );
}

/// DCMTK's storescp answers a second A-ASSOCIATE-RQ on an established
/// association with A-ABORT (service provider, unexpected PDU). The probe
/// never does that itself, so the test drives the wire with the crate's own
/// PDU builder and decoder, which are the ones the probe uses.
#[tokio::test]
async fn storescp_abort_is_decoded_with_source_and_reason() {
    let Some(scp) = or_skip(Storescp::builder().start()) else {
        return;
    };
    let mut s = tokio::net::TcpStream::connect(scp.addr()).await.unwrap();
    let rq = pdu::association_rq("ANNEXR", scp.ae_title(), &[ProposedContext::verification()]);
    let mut bytes = Vec::new();
    dicom_ul::write_pdu(&mut bytes, &rq).unwrap();
    s.write_all(&bytes).await.unwrap();
    assert!(matches!(read_one(&mut s).await, Incoming::Accept(_)));
    s.write_all(&bytes).await.unwrap();
    let abort = match read_one(&mut s).await {
        Incoming::Abort(a) => a,
        other => panic!("{other:?}"),
    };
    assert_eq!((abort.source, abort.reason), (2, 2));
    assert_eq!(abort.reason_text, "unexpected PDU");
    let failure = Error::Aborted {
        peer: "STORESCP".into(),
        phase: Phase::Associate,
        abort: Box::new(abort),
    };
    assert!(failure.to_string().contains("unexpected PDU"));
    match decide(Some(&failure), &[], None) {
        Verdict::PeerAborted { phase, abort } => {
            assert_eq!(phase, Phase::Associate);
            assert_eq!(abort.source, 2);
        }
        other => panic!("{other:?}"),
    }
}

async fn read_one(s: &mut tokio::net::TcpStream) -> Incoming {
    let mut header = [0u8; pdu::HEADER_LEN];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut header))
        .await
        .unwrap()
        .unwrap();
    let (_, len) = pdu::parse_header(&header).unwrap();
    let mut whole = header.to_vec();
    whole.resize(pdu::HEADER_LEN + len as usize, 0);
    s.read_exact(&mut whole[pdu::HEADER_LEN..]).await.unwrap();
    pdu::decode_pdu(&whole).unwrap()
}

#[tokio::test]
async fn tls_probe_reports_handshake_and_certificate() {
    let Some(scp) = or_skip(Storescp::builder().tls(true).start()) else {
        return;
    };
    let ca = std::fs::read(scp.ca_cert_path().unwrap()).unwrap();
    let target = Target::new("127.0.0.1", scp.addr().port(), scp.ae_title(), "ANNEXR")
        .tls(TlsOptions::with_ca_pem(ca.clone()));
    let report = annexr_probe::probe(&target, &ProbeOptions::default())
        .await
        .unwrap();
    println!("{report}");
    assert_eq!(report.verdict, Verdict::AllGood, "{report}");
    let tls = report.tls.as_ref().unwrap();
    assert!(tls.handshake_us.is_some());
    assert_eq!(report.timings.tls_handshake_us, tls.handshake_us);
    assert_eq!(tls.verification, annexr_probe::CertVerification::Verified);
    let cert = tls.peer_certificate.as_ref().unwrap();
    assert!(cert.subject.contains("localhost"), "{cert:?}");
    assert!(cert.issuer.contains("annexr lab CA"), "{cert:?}");
    assert!((28..=30).contains(&cert.expires_in_days), "{cert:?}");
    assert!(tls.protocol.is_some() && tls.cipher_suite.is_some());

    // Verified against a name the certificate does not carry: the
    // certificate is still reported, with the failed verification.
    let wrong_name = Target::new("127.0.0.1", scp.addr().port(), scp.ae_title(), "ANNEXR")
        .tls(TlsOptions::with_ca_pem(ca.clone()).server_name("pacs.example.org"));
    let report = annexr_probe::probe(&wrong_name, &ProbeOptions::default())
        .await
        .unwrap();
    println!("{report}");
    assert_eq!(
        report.verdict,
        Verdict::TransportFailure {
            phase: Phase::TlsHandshake,
            kind: TransportErrorKind::TlsCertificate
        }
    );
    let tls = report.tls.as_ref().unwrap();
    assert!(matches!(
        tls.verification,
        annexr_probe::CertVerification::Failed { .. }
    ));
    assert!(tls.peer_certificate.is_some());

    // Same, with verification reported but not enforced: the echo goes through.
    let lenient = Target::new("127.0.0.1", scp.addr().port(), scp.ae_title(), "ANNEXR").tls(
        TlsOptions::with_ca_pem(ca)
            .server_name("pacs.example.org")
            .insecure_skip_verify(true),
    );
    let report = annexr_probe::probe(&lenient, &ProbeOptions::default())
        .await
        .unwrap();
    assert_eq!(report.verdict, Verdict::AllGood, "{report}");
    assert!(matches!(
        report.tls.as_ref().unwrap().verification,
        annexr_probe::CertVerification::Failed { .. }
    ));

    // A plain probe of the TLS port fails at the transport, not as a rejection.
    let plain = Target::new("127.0.0.1", scp.addr().port(), scp.ae_title(), "ANNEXR");
    let opts = ProbeOptions::default().response_timeout(Duration::from_secs(2));
    let report = annexr_probe::probe(&plain, &opts).await.unwrap();
    println!("{report}");
    assert!(
        matches!(
            report.verdict,
            Verdict::TransportFailure { .. } | Verdict::ProtocolViolation { .. }
        ),
        "{report}"
    );
    assert!(
        report.warnings.iter().any(|w| w.contains("TLS")),
        "{report}"
    );
}

#[tokio::test]
async fn sweep_probes_many_peers_with_bounded_concurrency() {
    let Some(scp) = or_skip(Storescp::builder().start()) else {
        return;
    };
    let Some(qr) = or_skip(
        Dcmqrscp::builder()
            .ae_title("PICKY")
            .peer("ANNEXR", "127.0.0.1", 104)
            .start(),
    ) else {
        return;
    };
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut targets: Vec<Target> = (0..20)
        .map(|_| Target::new("127.0.0.1", scp.addr().port(), "STORESCP", "ANNEXR"))
        .collect();
    targets.push(Target::new(
        "127.0.0.1",
        qr.addr().port(),
        "WRONG",
        "ANNEXR",
    ));
    targets.push(Target::new("127.0.0.1", closed, "NOBODY", "ANNEXR"));
    targets.push(Target::new("127.0.0.1", closed, "BAD\\TITLE", "ANNEXR"));
    let opts = annexr_probe::SweepOptions {
        concurrency: 4,
        probe: ProbeOptions::default().total_timeout(Some(Duration::from_secs(10))),
    };
    let report = annexr_probe::sweep(&targets, &opts).await;
    println!("{report}");
    let s = &report.summary;
    assert_eq!(s.peers, 23);
    assert_eq!(s.all_good, 20, "{report}");
    assert_eq!(s.by_verdict.get("association_rejected"), Some(&1));
    assert_eq!(s.by_verdict.get("transport_failure"), Some(&1));
    assert_eq!(s.by_verdict.get("not_probed"), Some(&1));
    assert!(matches!(
        report.items[22].error,
        Some(Error::InvalidTarget { .. })
    ));
    // Order of the targets is kept.
    assert_eq!(report.items[20].target.called_ae, "WRONG");
    let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
    assert_eq!(json["summary"]["all_good"], 20);
}

#[test]
fn blocking_facade_probes_and_sweeps() {
    let Some(scp) = or_skip(Storescp::builder().start()) else {
        return;
    };
    let target = Target::new("localhost", scp.addr().port(), "STORESCP", "ANNEXR");
    let prober = annexr_probe::blocking::Prober::new().unwrap();
    let report = prober.probe(&target, &ProbeOptions::default()).unwrap();
    assert_eq!(report.verdict, Verdict::AllGood, "{report}");
    assert!(!report.resolved.is_empty());
    let sweep = prober.sweep(
        &[target.clone(), target],
        &annexr_probe::SweepOptions::default(),
    );
    assert_eq!(sweep.summary.all_good, 2, "{sweep}");
}

#[tokio::test]
async fn targets_come_from_the_configuration_model() {
    use annexr_model::{
        AeTitle, Device, NetworkAe, NetworkConnection, TransferCapability, TransferRole,
    };
    let Some(scp) = or_skip(Storescp::builder().start()) else {
        return;
    };
    let device = Device::new("archive")
        .with_connection(NetworkConnection::new(
            "dicom",
            "127.0.0.1",
            Some(scp.addr().port()),
        ))
        .with_ae(
            NetworkAe::new(AeTitle::new("STORESCP").unwrap())
                .with_connection("dicom")
                .roles(false, true)
                .with_transfer_capability(TransferCapability::new(
                    "CT",
                    CT_IMAGE_STORAGE,
                    TransferRole::Scp,
                    [annexr_probe::EXPLICIT_VR_LE],
                ))
                // The configuration claims a service this storescp does not offer.
                .with_transfer_capability(TransferCapability::new(
                    "made up",
                    MADE_UP_SOP_CLASS,
                    TransferRole::Scp,
                    [annexr_probe::IMPLICIT_VR_LE],
                )),
        );
    let targets = annexr_probe::targets_of_device(&device, "ANNEXR", None);
    assert_eq!(targets.len(), 1);
    let opts = ProbeOptions::for_capabilities(&device.network_aes[0]);
    let report = annexr_probe::probe(&targets[0], &opts).await.unwrap();
    println!("{report}");
    match &report.verdict {
        Verdict::AcceptedButSopClassRefused { refused } => {
            assert_eq!(refused.len(), 1);
            assert_eq!(refused[0].abstract_syntax, MADE_UP_SOP_CLASS);
        }
        other => panic!("{other:?}"),
    }
    assert!(report.contexts[1].accepted());
}
