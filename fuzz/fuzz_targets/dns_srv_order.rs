//! RFC 2782 ordering on arbitrary SRV RRsets: never panics, returns a
//! permutation, priorities never go down, classify agrees with the "." rule.
#![no_main]

use annexr_dns::{SplitMix64, SrvAnswer, SrvRecord, classify, order_srv};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 8 {
        return;
    }
    let seed = u64::from_le_bytes([
        data[0], data[1], data[2], data[3], data[4], data[5], data[6], data[7],
    ]);
    let records: Vec<SrvRecord> = data[8..]
        .chunks_exact(7)
        .map(|c| SrvRecord {
            priority: u16::from_le_bytes([c[0], c[1]]) % 4,
            weight: u16::from_le_bytes([c[2], c[3]]),
            port: u16::from_le_bytes([c[4], c[5]]),
            target: if c[6] % 5 == 0 {
                ".".to_string()
            } else {
                format!("h{}.example.", c[6])
            },
        })
        .collect();
    let ordered = order_srv(&records, &mut SplitMix64::new(seed));
    assert_eq!(ordered.len(), records.len());
    assert!(ordered.windows(2).all(|w| w[0].priority <= w[1].priority));
    let mut a = records.clone();
    let mut b = ordered.clone();
    a.sort_by(|x, y| {
        (x.priority, x.weight, x.port, &x.target).cmp(&(y.priority, y.weight, y.port, &y.target))
    });
    b.sort_by(|x, y| {
        (x.priority, x.weight, x.port, &x.target).cmp(&(y.priority, y.weight, y.port, &y.target))
    });
    assert_eq!(a, b);
    match classify(records.clone()) {
        SrvAnswer::Empty => assert!(records.is_empty()),
        SrvAnswer::NotOffered => assert!(records.iter().all(|r| r.target == ".")),
        SrvAnswer::Targets(t) => assert!(!t.is_empty() && t.iter().all(|r| r.target != ".")),
    }
});
