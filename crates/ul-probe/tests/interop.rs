//! Probes against a second DICOM peer family: pynetdicom (annexr-lab's
//! `PynetdicomScp`, chosen per association by the called AE title). Every
//! verdict of the probe comes from this real peer, including A-ABORT in
//! answer to the probe's own association, release and C-ECHO, and every
//! A-ASSOCIATE-RJ result/source/reason that PS3.8 defines.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use annexr_lab::{Orthanc, PynetdicomScp, called_ae, or_skip};
use annexr_probe::{Ending, Phase, ProbeOptions, ProbeReport, Target, TransportErrorKind, Verdict};

/// One pynetdicom process serves every case (its start, a Python import of
/// pydicom, is most of this test's time); each case is a function below.
#[tokio::test]
async fn every_verdict_from_one_pynetdicom_peer() {
    let Some(scp) = or_skip(PynetdicomScp::start()) else {
        return;
    };
    pynetdicom_accepts_and_echoes(&scp).await;
    pynetdicom_rejects_with_every_result_source_and_reason(&scp).await;
    pynetdicom_aborts_in_each_phase(&scp).await;
    pynetdicom_fails_echo_refuses_verification_hangs_up_and_breaks_the_protocol(&scp).await;
}

async fn probe(scp: &PynetdicomScp, called: &str) -> ProbeReport {
    let target = Target::new("127.0.0.1", scp.addr().port(), called, "ANNEXR");
    let opts = ProbeOptions::default().response_timeout(Duration::from_secs(3));
    annexr_probe::probe(&target, &opts).await.unwrap()
}

async fn pynetdicom_accepts_and_echoes(scp: &PynetdicomScp) {
    let report = probe(scp, "ANY-SCP").await;
    println!("{} {report}", scp.version());
    assert_eq!(report.verdict, Verdict::AllGood, "{report}");
    assert_eq!(report.ending, Ending::Released);
    assert_eq!(report.echo.as_ref().unwrap().status, 0);
    let peer = report.peer.as_ref().unwrap();
    // pynetdicom's implementation class UID root.
    assert!(
        peer.implementation_class_uid
            .as_deref()
            .unwrap()
            .starts_with("1.2.826.0.1.3680043.9.3811."),
        "{peer:?}"
    );
}

/// Every defined (result, source, reason) of A-ASSOCIATE-RJ, decoded.
async fn pynetdicom_rejects_with_every_result_source_and_reason(scp: &PynetdicomScp) {
    let reasons: [(u8, u8, &str); 8] = [
        (1, 1, "no reason given"),
        (1, 2, "application context name not supported"),
        (1, 3, "calling AE title not recognized"),
        (1, 7, "called AE title not recognized"),
        (2, 1, "no reason given"),
        (2, 2, "protocol version not supported"),
        (3, 1, "temporary congestion"),
        (3, 2, "local limit exceeded"),
    ];
    for result in [1u8, 2] {
        for (source, reason, reason_text) in reasons {
            let called = called_ae::reject(result, source, reason);
            let report = probe(scp, &called).await;
            match &report.verdict {
                Verdict::AssociationRejected { why } => {
                    assert_eq!(
                        (why.result, why.source, why.reason),
                        (result, source, reason),
                        "{called}"
                    );
                    assert_eq!(why.reason_text, reason_text, "{called}");
                    let result_text = if result == 1 {
                        "rejected-permanent"
                    } else {
                        "rejected-transient"
                    };
                    assert_eq!(why.result_text, result_text, "{called}");
                    assert!(!why.likely_cause.is_empty(), "{called}");
                }
                other => panic!(
                    "{called}: expected a rejection, got {other:?}\n{report}\n{}",
                    scp.log()
                ),
            }
            assert_eq!(report.ending, Ending::EndedByPeer, "{called}");
            assert!(
                report.to_string().contains("ASSOCIATION REJECTED"),
                "{report}"
            );
        }
    }
}

/// A-ABORT in answer to the probe's A-ASSOCIATE-RQ and C-ECHO-RQ, from the
/// service user and from the service provider with each reason pynetdicom
/// can send: the verdict is PeerAborted in that phase. An A-ABORT in answer
/// to A-RELEASE-RQ, after a successful echo, does not change the verdict
/// (the peer answered): it is a warning, and the ending says the peer ended it.
async fn pynetdicom_aborts_in_each_phase(scp: &PynetdicomScp) {
    let mut cases: Vec<(String, Phase, u8, u8)> = Vec::new();
    for (source, reason) in [(0u8, 0u8), (2, 0), (2, 1), (2, 2), (2, 4), (2, 5), (2, 6)] {
        cases.push((
            called_ae::abort_on_associate(source, reason),
            Phase::Associate,
            source,
            reason,
        ));
    }
    for (source, reason) in [(0u8, 0u8), (2, 2)] {
        cases.push((
            called_ae::abort_on_echo(source, reason),
            Phase::Echo,
            source,
            reason,
        ));
    }
    for (called, phase, source, reason) in cases {
        let report = probe(scp, &called).await;
        match &report.verdict {
            Verdict::PeerAborted { phase: at, abort } => {
                assert_eq!(*at, phase, "{called}: {report}");
                assert_eq!((abort.source, abort.reason), (source, reason), "{called}");
                assert!(!abort.likely_cause.is_empty(), "{called}");
            }
            other => panic!(
                "{called}: expected an abort, got {other:?}\n{report}\n{}",
                scp.log()
            ),
        }
        assert_eq!(report.ending, Ending::EndedByPeer, "{called}: {report}");
    }
    for (source, reason, source_text) in [(0u8, 0u8, "service-user"), (2, 2, "service-provider")] {
        let called = called_ae::abort_on_release(source, reason);
        let report = probe(scp, &called).await;
        assert_eq!(report.verdict, Verdict::AllGood, "{called}: {report}");
        assert_eq!(report.echo.as_ref().unwrap().status, 0, "{called}");
        assert!(
            report.warnings.iter().any(
                |w| w.contains("answered A-RELEASE-RQ with A-ABORT") && w.contains(source_text)
            ),
            "{called}: {:?}",
            report.warnings
        );
        assert_eq!(report.ending, Ending::EndedByPeer, "{called}: {report}");
    }
}

/// The remaining verdicts: a failed C-ECHO, a refused Verification context,
/// a hang-up, silence, and a malformed PDU.
async fn pynetdicom_fails_echo_refuses_verification_hangs_up_and_breaks_the_protocol(
    scp: &PynetdicomScp,
) {
    let report = probe(scp, &called_ae::echo_status(0x0110)).await;
    match &report.verdict {
        Verdict::EchoFailed {
            status,
            status_text,
        } => {
            assert_eq!(*status, 0x0110);
            assert!(
                status_text
                    .to_ascii_lowercase()
                    .contains("processing failure"),
                "{status_text}"
            );
        }
        other => panic!("expected EchoFailed, got {other:?}\n{report}"),
    }

    let report = probe(scp, called_ae::NO_VERIFICATION).await;
    match &report.verdict {
        Verdict::AcceptedButSopClassRefused { refused } => {
            assert_eq!(refused.len(), 1, "{refused:?}");
            assert_eq!(refused[0].abstract_syntax, annexr_probe::VERIFICATION);
            assert_eq!(refused[0].result, 3, "abstract syntax not supported");
        }
        other => panic!("expected AcceptedButSopClassRefused, got {other:?}\n{report}"),
    }

    let report = probe(scp, called_ae::HANG_UP).await;
    assert_eq!(
        report.verdict,
        Verdict::TransportFailure {
            phase: Phase::Associate,
            kind: TransportErrorKind::ClosedByPeer
        },
        "{report}"
    );

    let target = Target::new("127.0.0.1", scp.addr().port(), called_ae::SILENT, "ANNEXR");
    let opts = ProbeOptions::default().response_timeout(Duration::from_millis(500));
    let report = annexr_probe::probe(&target, &opts).await.unwrap();
    assert_eq!(
        report.verdict,
        Verdict::TransportFailure {
            phase: Phase::Associate,
            kind: TransportErrorKind::TimedOut
        },
        "{report}"
    );

    let report = probe(scp, called_ae::BAD_PDU).await;
    match &report.verdict {
        Verdict::ProtocolViolation { phase, detail } => {
            assert_eq!(*phase, Phase::Associate, "{report}");
            assert!(
                detail.contains("0x09") || detail.contains("type 9"),
                "{detail}"
            );
        }
        other => panic!("expected ProtocolViolation, got {other:?}\n{report}"),
    }
}

/// Probes `called` at Orthanc from inside its namespace.
fn probe_orthanc(orthanc: &Orthanc, called: &str, calling: &str) -> ProbeReport {
    let target = Target::new("127.0.0.1", orthanc.addr().port(), called, calling);
    orthanc
        .in_netns(|| {
            annexr_probe::blocking::Prober::new()
                .and_then(|prober| prober.probe(&target, &ProbeOptions::default()))
        })
        .unwrap()
        .unwrap()
}

/// Orthanc answers C-ECHO; checking the called AE title it rejects a wrong
/// one; echo restricted to known modalities, it rejects an unknown caller.
#[test]
fn orthanc_echoes_and_rejects_wrong_called_and_unknown_calling_ae() {
    let Some(open) = or_skip(Orthanc::builder().start()) else {
        return;
    };
    let report = probe_orthanc(&open, "ANY-CALLED", "ANNEXR");
    println!("{} {report}", open.version());
    assert_eq!(report.verdict, Verdict::AllGood, "{report}\n{}", open.log());
    drop(open);

    let Some(strict) = or_skip(
        Orthanc::builder()
            .ae_title("ORTHANC")
            .check_called_aet(true)
            .always_allow_echo(false)
            .modality("KNOWN", "127.0.0.1", 104)
            .start(),
    ) else {
        return;
    };
    let rejected = |report: &ProbeReport| match &report.verdict {
        Verdict::AssociationRejected { why } => (why.result, why.source, why.reason),
        other => panic!("expected a rejection, got {other:?}\n{report}"),
    };
    let report = probe_orthanc(&strict, "NOT-ORTHANC", "KNOWN");
    assert_eq!(
        rejected(&report),
        (1, 1, 7),
        "called AE title not recognized"
    );
    let report = probe_orthanc(&strict, "ORTHANC", "STRANGER");
    assert_eq!(
        rejected(&report),
        (1, 1, 3),
        "calling AE title not recognized"
    );
    let report = probe_orthanc(&strict, "ORTHANC", "KNOWN");
    assert_eq!(
        report.verdict,
        Verdict::AllGood,
        "{report}\n{}",
        strict.log()
    );
    assert_eq!(report.ending, Ending::Released);
}
