//! Deterministic tests of every transition and timer, driven by packets
//! captured from the lab's dnsmasq and kea (src/fixtures, written by
//! `ANNEXR_DHCP_CAPTURE=dir cargo test --test lab_dhcp`) and simulated time.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Duration;

use dhcproto::v4::MessageType;
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::client::{
    Action, Client, ClientConfig, Destination, Event, Ignored, LossReason, Outgoing, Random,
    StateName, backoff,
};
use crate::lease::Mac;
use crate::options::{self, split_options};

const DNSMASQ_OFFER: &[u8] = include_bytes!("fixtures/dnsmasq-offer.bin");
const DNSMASQ_ACK: &[u8] = include_bytes!("fixtures/dnsmasq-ack.bin");
const KEA_OFFER: &[u8] = include_bytes!("fixtures/kea-offer.bin");
const KEA_ACK: &[u8] = include_bytes!("fixtures/kea-ack.bin");

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 231, 0, 1);

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// Scripted xids first, then a seeded generator: deterministic.
struct Script {
    queue: VecDeque<u32>,
    rest: StdRng,
}

impl Script {
    fn new(xids: &[u32]) -> Script {
        Script {
            queue: xids.iter().copied().collect(),
            rest: StdRng::seed_from_u64(7),
        }
    }
}

impl Random for Script {
    fn next_u32(&mut self) -> u32 {
        self.queue
            .pop_front()
            .unwrap_or_else(|| rand::RngCore::next_u32(&mut self.rest))
    }
}

/// A fixed value: jitter exactly 0 (1000 % 2001 = 1000 → −1 s + 1 s).
struct Fixed(u32);
impl Random for Fixed {
    fn next_u32(&mut self) -> u32 {
        self.0
    }
}

fn xid_of(p: &[u8]) -> u32 {
    u32::from_be_bytes([p[4], p[5], p[6], p[7]])
}

fn mac_of(p: &[u8]) -> Mac {
    let mut m = [0; 6];
    m.copy_from_slice(&p[28..34]);
    Mac(m)
}

fn with_xid(p: &[u8], xid: u32) -> Vec<u8> {
    let mut v = p.to_vec();
    v[4..8].copy_from_slice(&xid.to_be_bytes());
    v
}

/// Replaces the value of option `code` in place (same length).
fn with_option(p: &[u8], code: u8, value: &[u8]) -> Vec<u8> {
    let mut v = p.to_vec();
    let mut i = 240;
    while i < v.len() && v[i] != 255 {
        if v[i] == 0 {
            i += 1;
            continue;
        }
        let len = usize::from(v[i + 1]);
        if v[i] == code {
            assert_eq!(len, value.len());
            v[i + 2..i + 2 + len].copy_from_slice(value);
            return v;
        }
        i += 2 + len;
    }
    panic!("option {code} not in fixture");
}

fn config_for(p: &[u8]) -> ClientConfig {
    ClientConfig::new(mac_of(p))
        .host_name("ct-scanner-1")
        .unwrap()
        .fqdn("ct-scanner-1.hospital.example")
        .unwrap()
}

fn sent(actions: &[Action]) -> Vec<&Outgoing> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(o) => Some(o),
            _ => None,
        })
        .collect()
}

fn only_send(actions: &[Action]) -> &Outgoing {
    let s = sent(actions);
    assert_eq!(s.len(), 1, "{actions:?}");
    s[0]
}

fn decoded(o: &Outgoing) -> (dhcproto::v4::Message, options::RawOptions) {
    use dhcproto::{Decodable, Decoder};
    let m = dhcproto::v4::Message::decode(&mut Decoder::new(&o.bytes)).unwrap();
    (m, split_options(&o.bytes).unwrap())
}

/// DISCOVER → OFFER → REQUEST → ACK on the dnsmasq capture, at t = 0.
fn bound_at_zero(offer: &[u8], ack: &[u8], rng: &mut dyn Random) -> Client {
    let c = Client::new(config_for(offer));
    let (c, _) = c.handle(Event::Start, s(0), rng);
    let (c, _) = c.handle(Event::Received(offer), s(0), rng);
    let (c, a) = c.handle(Event::Received(ack), s(0), rng);
    assert_eq!(c.state(), StateName::Bound, "{a:?}");
    c
}

#[test]
fn discover_carries_every_request_option() {
    let mut rng = Script::new(&[0xdead_beef]);
    let (c, a) = Client::new(config_for(DNSMASQ_OFFER)).handle(Event::Start, s(0), &mut rng);
    assert_eq!(c.state(), StateName::Selecting);
    let o = only_send(&a);
    assert_eq!(
        (o.kind, o.xid, o.to),
        (MessageType::Discover, 0xdead_beef, Destination::Broadcast)
    );
    let (m, raw) = decoded(o);
    assert!(m.flags().broadcast());
    assert_eq!(m.chaddr()[..6], mac_of(DNSMASQ_OFFER).0);
    assert_eq!(raw.get(12), Some(&b"ct-scanner-1"[..]));
    let fqdn = options::client_fqdn(raw.get(81).unwrap()).unwrap();
    assert!(
        fqdn.server_updates(),
        "S flag asks the server to update DNS"
    );
    assert_eq!(fqdn.name, "ct-scanner-1.hospital.example");
    // annexr's own RFC 4361 identity, not the OS client's 01:MAC.
    let mut cid = vec![255];
    cid.extend_from_slice(b"AXR1");
    cid.extend_from_slice(&[0, 3, 0, 1]);
    cid.extend_from_slice(&mac_of(DNSMASQ_OFFER).0);
    assert_eq!(raw.get(61), Some(&cid[..]));
    assert_eq!(raw.get(60), Some(&b"annexr"[..]));
    assert_eq!(
        raw.get(55),
        Some(
            &[
                1, 2, 3, 6, 12, 15, 26, 28, 33, 42, 51, 54, 58, 59, 100, 101, 119, 121
            ][..]
        )
    );
    assert_eq!(raw.get(50), None);
}

#[test]
fn backoff_doubles_to_64_s_with_one_second_jitter() {
    let mut zero = Fixed(1000);
    let got: Vec<u64> = (0..7).map(|n| backoff(n, &mut zero).as_secs()).collect();
    assert_eq!(got, [4, 8, 16, 32, 64, 64, 64]);
    assert_eq!(backoff(0, &mut Fixed(0)), Duration::from_millis(3000));
    assert_eq!(backoff(0, &mut Fixed(2000)), Duration::from_millis(5000));
    let mut rng = StdRng::seed_from_u64(1);
    for n in 0..8 {
        let b = backoff(n, &mut rng);
        let base = Duration::from_secs(4 << n.min(4));
        assert!(b >= base - s(1) && b <= base + s(1), "{b:?}");
    }
}

#[test]
fn selecting_retransmits_discover_with_same_xid_at_backoff() {
    let mut rng = Fixed(1000);
    let (c, _) = Client::new(config_for(DNSMASQ_OFFER)).handle(Event::Start, s(0), &mut rng);
    assert_eq!(c.deadline(), Some(s(4)));
    let xid = c.xid().unwrap();
    // Early timer: nothing.
    let (c, a) = c.handle(Event::Timer, s(3), &mut rng);
    assert!(a.is_empty());
    let (c, a) = c.handle(Event::Timer, s(4), &mut rng);
    assert_eq!(only_send(&a).kind, MessageType::Discover);
    assert_eq!(c.xid(), Some(xid));
    assert_eq!(c.deadline(), Some(s(12)));
    let (c, _) = c.handle(Event::Timer, s(12), &mut rng);
    assert_eq!(c.deadline(), Some(s(28)));
    let (_, a) = c.handle(Event::Timer, s(28), &mut rng);
    let (m, _) = decoded(only_send(&a));
    assert_eq!(m.secs(), 28, "secs counts from the first DISCOVER");
}

#[test]
fn offer_from_dnsmasq_leads_to_request_with_same_xid() {
    let xid = xid_of(DNSMASQ_OFFER);
    let mut rng = Script::new(&[xid]);
    let (c, _) = Client::new(config_for(DNSMASQ_OFFER)).handle(Event::Start, s(0), &mut rng);
    let (c, a) = c.handle(Event::Received(DNSMASQ_OFFER), s(1), &mut rng);
    assert_eq!(c.state(), StateName::Requesting);
    let o = only_send(&a);
    assert_eq!(
        (o.kind, o.xid, o.to),
        (MessageType::Request, xid, Destination::Broadcast)
    );
    let (m, raw) = decoded(o);
    assert!(m.ciaddr().is_unspecified());
    let offered = m_yiaddr(DNSMASQ_OFFER);
    assert_eq!(raw.get(50), Some(&offered.octets()[..]));
    assert_eq!(raw.get(54), Some(&SERVER.octets()[..]));
    assert!(raw.get(12).is_some() && raw.get(81).is_some());
}

fn m_yiaddr(p: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(p[16], p[17], p[18], p[19])
}

#[test]
fn real_offer_with_altered_xid_is_ignored() {
    let xid = xid_of(DNSMASQ_OFFER);
    let mut rng = Script::new(&[xid]);
    let (c, _) = Client::new(config_for(DNSMASQ_OFFER)).handle(Event::Start, s(0), &mut rng);
    let other = with_xid(DNSMASQ_OFFER, xid ^ 1);
    let (c, a) = c.handle(Event::Received(&other), s(1), &mut rng);
    assert_eq!(c.state(), StateName::Selecting);
    assert_eq!(
        a,
        vec![Action::Ignored(Ignored::WrongXid {
            expected: xid,
            got: xid ^ 1
        })]
    );
    // The genuine one still works afterwards.
    let (c, _) = c.handle(Event::Received(DNSMASQ_OFFER), s(1), &mut rng);
    assert_eq!(c.state(), StateName::Requesting);
}

#[test]
fn real_offer_for_another_chaddr_is_ignored() {
    let xid = xid_of(KEA_OFFER);
    let mut rng = Script::new(&[xid]);
    let mut cfg = config_for(KEA_OFFER);
    cfg.mac.0[5] ^= 0xff;
    let (c, _) = Client::new(cfg).handle(Event::Start, s(0), &mut rng);
    let (c, a) = c.handle(Event::Received(KEA_OFFER), s(1), &mut rng);
    assert_eq!(c.state(), StateName::Selecting);
    assert_eq!(a, vec![Action::Ignored(Ignored::WrongChaddr)]);
}

#[test]
fn requests_garbage_and_wrong_types_are_ignored() {
    let xid = xid_of(DNSMASQ_OFFER);
    let mut rng = Script::new(&[xid]);
    let (c, a) = Client::new(config_for(DNSMASQ_OFFER)).handle(Event::Start, s(0), &mut rng);
    // Our own broadcast DISCOVER comes back on the wire: not a reply.
    let own = only_send(&a).bytes.clone();
    let (c, a) = c.handle(Event::Received(&own), s(0), &mut rng);
    assert_eq!(a, vec![Action::Ignored(Ignored::NotAReply)]);
    let (c, a) = c.handle(Event::Received(&[1, 2, 3]), s(0), &mut rng);
    assert!(matches!(a[..], [Action::Ignored(Ignored::Undecodable(_))]));
    // An ACK while SELECTING is not for this state.
    let (c, a) = c.handle(Event::Received(DNSMASQ_ACK), s(0), &mut rng);
    assert_eq!(a, vec![Action::Ignored(Ignored::Unexpected(Some(5)))]);
    assert_eq!(c.state(), StateName::Selecting);
    // No transaction at all in INIT.
    let idle = Client::new(config_for(DNSMASQ_OFFER));
    let (_, a) = idle.handle(Event::Received(DNSMASQ_OFFER), s(0), &mut rng);
    assert_eq!(a, vec![Action::Ignored(Ignored::NotWaiting)]);
}

#[test]
fn ack_binds_with_every_option_typed_and_timers_from_first_request() {
    for (offer, ack) in [(DNSMASQ_OFFER, DNSMASQ_ACK), (KEA_OFFER, KEA_ACK)] {
        let mut rng = Script::new(&[xid_of(offer)]);
        let (c, _) = Client::new(config_for(offer)).handle(Event::Start, s(10), &mut rng);
        let (c, _) = c.handle(Event::Received(offer), s(11), &mut rng);
        let (c, a) = c.handle(Event::Received(ack), s(12), &mut rng);
        assert_eq!(c.state(), StateName::Bound);
        let [
            Action::Configure {
                lease,
                renewed: false,
            },
        ] = &a[..]
        else {
            panic!("{a:?}")
        };
        assert_eq!(lease.address, m_yiaddr(ack));
        assert_eq!(lease.server_id, Some(SERVER));
        assert_eq!(lease.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
        assert_eq!(lease.routers, vec![SERVER]);
        assert_eq!(lease.dns_servers, vec![SERVER]);
        assert_eq!(lease.ntp_servers, vec![SERVER]);
        assert_eq!(lease.time_offset, Some(3600));
        assert_eq!(lease.domain_name.as_deref(), Some("hospital.example"));
        assert_eq!(lease.tz_name.as_deref(), Some("Europe/Vienna"));
        assert!(lease.posix_tz.as_deref().unwrap().starts_with("CET-1CEST"));
        assert_eq!(
            lease.domain_search,
            vec!["hospital.example", "radiology.hospital.example"]
        );
        assert_eq!(lease.lease_time, Some(s(120)));
        assert!(lease.client_fqdn.is_some());
        // The lease counts from the first transmission of the xid (t = 10).
        assert_eq!(c.timers(), Some((Some(s(70)), Some(s(115)), Some(s(130)))));
        assert_eq!(c.deadline(), Some(s(70)));
    }
}

#[test]
fn ack_from_another_server_is_ignored_in_requesting() {
    let mut rng = Script::new(&[xid_of(DNSMASQ_OFFER)]);
    let (c, _) = Client::new(config_for(DNSMASQ_OFFER)).handle(Event::Start, s(0), &mut rng);
    let (c, _) = c.handle(Event::Received(DNSMASQ_OFFER), s(0), &mut rng);
    let foreign = with_option(DNSMASQ_ACK, 54, &[10, 231, 0, 2]);
    let (c, a) = c.handle(Event::Received(&foreign), s(0), &mut rng);
    assert_eq!(
        a,
        vec![Action::Ignored(Ignored::WrongServer(Some(Ipv4Addr::new(
            10, 231, 0, 2
        ))))]
    );
    assert_eq!(c.state(), StateName::Requesting);
}

#[test]
fn nak_in_requesting_restarts_discovery_with_new_xid() {
    let xid = xid_of(DNSMASQ_OFFER);
    let mut rng = Script::new(&[xid]);
    let (c, _) = Client::new(config_for(DNSMASQ_OFFER)).handle(Event::Start, s(0), &mut rng);
    let (c, _) = c.handle(Event::Received(DNSMASQ_OFFER), s(0), &mut rng);
    let nak = with_option(DNSMASQ_ACK, 53, &[6]);
    let (c, a) = c.handle(Event::Received(&nak), s(1), &mut rng);
    assert_eq!(c.state(), StateName::Selecting);
    let o = only_send(&a);
    assert_eq!(o.kind, MessageType::Discover);
    assert_ne!(o.xid, xid);
    assert_eq!(c.xid(), Some(o.xid));
}

#[test]
fn requesting_gives_up_after_four_requests() {
    let mut rng = Script::new(&[xid_of(DNSMASQ_OFFER)]);
    let (c, _) = Client::new(config_for(DNSMASQ_OFFER)).handle(Event::Start, s(0), &mut rng);
    let (mut c, _) = c.handle(Event::Received(DNSMASQ_OFFER), s(0), &mut rng);
    let mut kinds = vec![];
    for _ in 0..4 {
        let at = c.deadline().unwrap();
        let (next, a) = c.handle(Event::Timer, at, &mut rng);
        kinds.push(only_send(&a).kind);
        c = next;
    }
    assert_eq!(
        kinds,
        [
            MessageType::Request,
            MessageType::Request,
            MessageType::Request,
            MessageType::Discover
        ]
    );
    assert_eq!(c.state(), StateName::Selecting);
    assert_ne!(
        c.xid(),
        Some(xid_of(DNSMASQ_OFFER)),
        "a fresh xid for the new DISCOVER"
    );
}

#[test]
fn t1_renews_by_unicast_and_ack_rebinds_timers() {
    let mut rng = Script::new(&[xid_of(DNSMASQ_OFFER)]);
    let c = bound_at_zero(DNSMASQ_OFFER, DNSMASQ_ACK, &mut rng);
    let addr = c.lease().unwrap().address;
    let (c, a) = c.handle(Event::Timer, s(59), &mut rng);
    assert!(a.is_empty(), "before T1 nothing happens");
    let (c, a) = c.handle(Event::Timer, s(60), &mut rng);
    assert_eq!(c.state(), StateName::Renewing);
    let o = only_send(&a);
    assert_eq!(
        (o.kind, o.to),
        (MessageType::Request, Destination::Server(SERVER))
    );
    assert_ne!(
        o.xid,
        xid_of(DNSMASQ_OFFER),
        "a new transaction for RENEWING"
    );
    let renew_xid = o.xid;
    let (m, raw) = decoded(o);
    assert_eq!(m.ciaddr(), addr);
    assert!(!m.flags().broadcast());
    assert_eq!(
        (raw.get(50), raw.get(54)),
        (None, None),
        "RFC 2131 §4.3.2 RENEWING"
    );
    // Retransmission: half the time to T2 (105), at least 60 s, at most T2.
    assert_eq!(c.deadline(), Some(s(105)));
    let ack = with_xid(DNSMASQ_ACK, renew_xid);
    let (c, a) = c.handle(Event::Received(&ack), s(61), &mut rng);
    assert_eq!(c.state(), StateName::Bound);
    assert!(matches!(a[..], [Action::Configure { renewed: true, .. }]));
    assert_eq!(c.timers(), Some((Some(s(120)), Some(s(165)), Some(s(180)))));
}

#[test]
fn renewing_retransmits_half_way_then_rebinds_at_t2_then_expires() {
    let mut lease_long = with_option(DNSMASQ_ACK, 51, &3600u32.to_be_bytes());
    lease_long = with_option(&lease_long, 58, &1800u32.to_be_bytes());
    lease_long = with_option(&lease_long, 59, &3150u32.to_be_bytes());
    let mut rng = Script::new(&[xid_of(DNSMASQ_OFFER)]);
    let c = bound_at_zero(DNSMASQ_OFFER, &lease_long, &mut rng);
    let (c, _) = c.handle(Event::Timer, s(1800), &mut rng);
    let renew_xid = c.xid().unwrap();
    assert_eq!(c.state(), StateName::Renewing);
    // (3150 - 1800) / 2 = 675 s.
    assert_eq!(c.deadline(), Some(s(2475)));
    let (c, a) = c.handle(Event::Timer, s(2475), &mut rng);
    assert_eq!(only_send(&a).xid, renew_xid, "same xid while RENEWING");
    assert_eq!(c.deadline(), Some(s(2812) + Duration::from_millis(500)));
    // Close to T2 the 60 s floor, capped by T2.
    let (c, _) = c.handle(Event::Timer, s(3100), &mut rng);
    assert_eq!(c.deadline(), Some(s(3150)));
    let (c, a) = c.handle(Event::Timer, s(3150), &mut rng);
    assert_eq!(c.state(), StateName::Rebinding);
    let o = only_send(&a);
    assert_eq!(
        (o.kind, o.to),
        (MessageType::Request, Destination::Broadcast)
    );
    assert_ne!(o.xid, renew_xid, "a new transaction for REBINDING");
    let (m, _) = decoded(o);
    assert_eq!(m.ciaddr(), m_yiaddr(DNSMASQ_ACK));
    // (3600 - 3150) / 2 = 225 s.
    assert_eq!(c.deadline(), Some(s(3375)));
    let (c, _) = c.handle(Event::Timer, s(3375), &mut rng);
    assert_eq!(c.deadline(), Some(s(3487) + Duration::from_millis(500)));
    let (c, _) = c.handle(Event::Timer, s(3500), &mut rng);
    assert_eq!(c.deadline(), Some(s(3560)), "60 s floor");
    let (c, _) = c.handle(Event::Timer, s(3560), &mut rng);
    assert_eq!(c.deadline(), Some(s(3600)), "capped at expiry");
    let (c, a) = c.handle(Event::Timer, s(3600), &mut rng);
    assert_eq!(
        a[0],
        Action::Deconfigure {
            address: m_yiaddr(DNSMASQ_ACK),
            reason: LossReason::Expired
        }
    );
    assert_eq!(only_send(&a).kind, MessageType::Discover);
    assert_eq!(c.state(), StateName::Selecting);
}

#[test]
fn rebinding_ack_returns_to_bound() {
    let mut rng = Script::new(&[xid_of(DNSMASQ_OFFER)]);
    let c = bound_at_zero(DNSMASQ_OFFER, DNSMASQ_ACK, &mut rng);
    let (c, _) = c.handle(Event::Timer, s(60), &mut rng);
    let (c, _) = c.handle(Event::Timer, s(105), &mut rng);
    assert_eq!(c.state(), StateName::Rebinding);
    let xid = c.xid().unwrap();
    let (c, a) = c.handle(
        Event::Received(&with_xid(DNSMASQ_ACK, xid)),
        s(106),
        &mut rng,
    );
    assert_eq!(c.state(), StateName::Bound);
    assert!(matches!(a[..], [Action::Configure { renewed: true, .. }]));
}

#[test]
fn a_late_timer_past_expiry_from_bound_drops_the_address() {
    let mut rng = Script::new(&[xid_of(DNSMASQ_OFFER)]);
    let c = bound_at_zero(DNSMASQ_OFFER, DNSMASQ_ACK, &mut rng);
    // The device slept through T1, T2 and expiry.
    let (c, a) = c.handle(Event::Timer, s(500), &mut rng);
    assert!(matches!(
        a[0],
        Action::Deconfigure {
            reason: LossReason::Expired,
            ..
        }
    ));
    assert_eq!(c.state(), StateName::Selecting);
}

#[test]
fn nak_while_renewing_drops_address_and_rediscovers() {
    let mut rng = Script::new(&[xid_of(DNSMASQ_OFFER)]);
    let c = bound_at_zero(DNSMASQ_OFFER, DNSMASQ_ACK, &mut rng);
    let (c, _) = c.handle(Event::Timer, s(60), &mut rng);
    let nak = with_option(&with_xid(DNSMASQ_ACK, c.xid().unwrap()), 53, &[6]);
    let (c, a) = c.handle(Event::Received(&nak), s(61), &mut rng);
    assert_eq!(
        a[0],
        Action::Deconfigure {
            address: m_yiaddr(DNSMASQ_ACK),
            reason: LossReason::Nak
        }
    );
    assert_eq!(only_send(&a).kind, MessageType::Discover);
    assert_eq!(c.state(), StateName::Selecting);
}

#[test]
fn renewal_ack_with_another_address_replaces_the_old_one() {
    let mut rng = Script::new(&[xid_of(DNSMASQ_OFFER)]);
    let c = bound_at_zero(DNSMASQ_OFFER, DNSMASQ_ACK, &mut rng);
    let (c, _) = c.handle(Event::Timer, s(60), &mut rng);
    let mut other = with_xid(DNSMASQ_ACK, c.xid().unwrap());
    other[19] = 149;
    let (c, a) = c.handle(Event::Received(&other), s(61), &mut rng);
    assert!(matches!(a[0], Action::Deconfigure { .. }));
    assert!(
        matches!(&a[1], Action::Configure { renewed: false, lease } if lease.address.octets()[3] == 149)
    );
    assert_eq!(c.state(), StateName::Bound);
}

#[test]
fn conflict_sends_decline_and_waits_ten_seconds() {
    let mut rng = Script::new(&[xid_of(DNSMASQ_OFFER)]);
    let c = bound_at_zero(DNSMASQ_OFFER, DNSMASQ_ACK, &mut rng);
    let addr = c.lease().unwrap().address;
    let (c, a) = c.handle(Event::Conflict, s(1), &mut rng);
    let o = only_send(&a);
    assert_eq!(
        (o.kind, o.to),
        (MessageType::Decline, Destination::Broadcast)
    );
    let decline_xid = o.xid;
    let (m, raw) = decoded(o);
    assert!(m.ciaddr().is_unspecified());
    assert_eq!(raw.get(50), Some(&addr.octets()[..]));
    assert_eq!(raw.get(54), Some(&SERVER.octets()[..]));
    assert!(a.contains(&Action::Deconfigure {
        address: addr,
        reason: LossReason::Declined
    }));
    assert_eq!(c.state(), StateName::Init);
    assert_eq!(c.deadline(), Some(s(11)));
    let (c, a) = c.handle(Event::Timer, s(10), &mut rng);
    assert!(a.is_empty());
    let (c, a) = c.handle(Event::Timer, s(11), &mut rng);
    assert_eq!(only_send(&a).kind, MessageType::Discover);
    assert_ne!(c.xid(), Some(decline_xid));
}

#[test]
fn release_unicasts_to_the_server_and_ends() {
    let mut rng = Script::new(&[xid_of(DNSMASQ_OFFER)]);
    let c = bound_at_zero(DNSMASQ_OFFER, DNSMASQ_ACK, &mut rng);
    let addr = c.lease().unwrap().address;
    let (c, a) = c.handle(Event::Release, s(5), &mut rng);
    let o = only_send(&a);
    assert_eq!(
        (o.kind, o.to),
        (MessageType::Release, Destination::Server(SERVER))
    );
    let (m, raw) = decoded(o);
    assert_eq!(m.ciaddr(), addr);
    assert_eq!(raw.get(54), Some(&SERVER.octets()[..]));
    assert!(a.contains(&Action::Deconfigure {
        address: addr,
        reason: LossReason::Released
    }));
    assert_eq!(c.state(), StateName::Released);
    assert_eq!(c.deadline(), None);
    // Release without a lease sends nothing.
    let (c, _) = Client::new(config_for(DNSMASQ_OFFER)).handle(Event::Start, s(0), &mut rng);
    let (c, a) = c.handle(Event::Release, s(1), &mut rng);
    assert!(a.is_empty());
    assert_eq!(c.state(), StateName::Released);
}

#[test]
fn init_reboot_requests_the_remembered_address() {
    let xid = xid_of(DNSMASQ_ACK);
    let addr = m_yiaddr(DNSMASQ_ACK);
    let mut rng = Script::new(&[xid]);
    let c = Client::init_reboot(config_for(DNSMASQ_ACK), addr);
    assert_eq!(c.state(), StateName::InitReboot);
    let (c, a) = c.handle(Event::Start, s(0), &mut rng);
    assert_eq!(c.state(), StateName::Rebooting);
    let o = only_send(&a);
    assert_eq!(
        (o.kind, o.to),
        (MessageType::Request, Destination::Broadcast)
    );
    let (m, raw) = decoded(o);
    assert!(m.ciaddr().is_unspecified());
    assert_eq!(raw.get(50), Some(&addr.octets()[..]));
    assert_eq!(
        raw.get(54),
        None,
        "no server id in INIT-REBOOT (RFC 2131 §4.3.2)"
    );
    let (c, a) = c.handle(Event::Received(DNSMASQ_ACK), s(1), &mut rng);
    assert_eq!(c.state(), StateName::Bound);
    assert!(matches!(&a[..], [Action::Configure { lease, .. }] if lease.address == addr));
}

#[test]
fn init_reboot_nak_or_silence_falls_back_to_discover() {
    let xid = xid_of(DNSMASQ_ACK);
    let addr = Ipv4Addr::new(192, 0, 2, 7);
    let mut rng = Script::new(&[xid]);
    let (c, _) =
        Client::init_reboot(config_for(DNSMASQ_ACK), addr).handle(Event::Start, s(0), &mut rng);
    let nak = with_option(DNSMASQ_ACK, 53, &[6]);
    let (c, a) = c.handle(Event::Received(&nak), s(1), &mut rng);
    assert_eq!(c.state(), StateName::Selecting);
    assert_eq!(only_send(&a).kind, MessageType::Discover);

    // A non-authoritative server stays silent: two REQUESTs, then DISCOVER.
    let mut rng = Fixed(1000);
    let (c, _) =
        Client::init_reboot(config_for(DNSMASQ_ACK), addr).handle(Event::Start, s(0), &mut rng);
    assert_eq!(c.deadline(), Some(s(4)));
    let (c, a) = c.handle(Event::Timer, s(4), &mut rng);
    assert_eq!(only_send(&a).kind, MessageType::Request);
    assert_eq!(c.deadline(), Some(s(12)));
    let (c, a) = c.handle(Event::Timer, s(12), &mut rng);
    assert_eq!(only_send(&a).kind, MessageType::Discover);
    assert_eq!(c.state(), StateName::Selecting);
}

#[test]
fn inform_retransmits_a_bounded_number_of_times_then_stops() {
    let fixed = Ipv4Addr::new(10, 231, 0, 77);
    let mut rng = Fixed(1000);
    let c = Client::inform(config_for(DNSMASQ_ACK), fixed);
    let (mut c, a) = c.handle(Event::Start, s(0), &mut rng);
    let o = only_send(&a);
    assert_eq!(o.kind, MessageType::Inform);
    let (m, raw) = decoded(o);
    assert_eq!(m.ciaddr(), fixed);
    assert_eq!((raw.get(50), raw.get(54), raw.get(81)), (None, None, None));
    assert!(raw.get(55).is_some());
    let mut times = vec![];
    let mut last = vec![];
    while let Some(at) = c.deadline() {
        times.push(at.as_secs());
        let (n, a) = c.handle(Event::Timer, at, &mut rng);
        c = n;
        last = a;
    }
    assert_eq!(times, [4, 12, 28, 60]);
    assert_eq!(last, vec![Action::InformGaveUp { attempts: 4 }]);
    assert_eq!(c.state(), StateName::InformFailed);
    // Final: nothing more happens, ever.
    let (c, a) = c.handle(Event::Timer, s(10_000), &mut rng);
    assert!(a.is_empty() && c.deadline().is_none());
}

#[test]
fn inform_ack_gives_the_options_without_a_lease() {
    let fixed = Ipv4Addr::new(10, 231, 0, 77);
    let mut rng = Script::new(&[xid_of(DNSMASQ_ACK)]);
    let (c, _) =
        Client::inform(config_for(DNSMASQ_ACK), fixed).handle(Event::Start, s(0), &mut rng);
    let (c, a) = c.handle(Event::Received(DNSMASQ_ACK), s(1), &mut rng);
    assert_eq!(c.state(), StateName::Informed);
    let [Action::Informed(l)] = &a[..] else {
        panic!("{a:?}")
    };
    assert_eq!(l.address, fixed);
    assert_eq!(l.ntp_servers, vec![SERVER]);
    assert!(c.lease().is_none() && c.deadline().is_none());
}

#[test]
fn infinite_lease_has_no_timers() {
    let ack = with_option(DNSMASQ_ACK, 51, &[0xff; 4]);
    let ack = with_option(&ack, 58, &[0xff; 4]);
    let ack = with_option(&ack, 59, &[0xff; 4]);
    let mut rng = Script::new(&[xid_of(DNSMASQ_OFFER)]);
    let c = bound_at_zero(DNSMASQ_OFFER, &ack, &mut rng);
    assert_eq!(c.lease().unwrap().lease_time, None);
    assert_eq!(c.deadline(), None);
    let (c, a) = c.handle(Event::Timer, s(1 << 40), &mut rng);
    assert!(a.is_empty());
    assert_eq!(c.state(), StateName::Bound);
}

#[test]
fn offer_without_server_id_or_address_is_ignored() {
    let xid = xid_of(DNSMASQ_OFFER);
    let mut rng = Script::new(&[xid]);
    let (c, _) = Client::new(config_for(DNSMASQ_OFFER)).handle(Event::Start, s(0), &mut rng);
    let mut no_addr = DNSMASQ_OFFER.to_vec();
    no_addr[16..20].copy_from_slice(&[0; 4]);
    let (c, a) = c.handle(Event::Received(&no_addr), s(0), &mut rng);
    assert_eq!(a, vec![Action::Ignored(Ignored::NoAddress)]);
    // Option 54 renamed to an unassigned code: no server id.
    let no_sid = {
        let mut v = DNSMASQ_OFFER.to_vec();
        let i = (240..v.len())
            .find(|&i| v[i] == 54 && v[i + 1] == 4)
            .unwrap();
        v[i] = 224;
        v
    };
    let (c, a) = c.handle(Event::Received(&no_sid), s(0), &mut rng);
    assert_eq!(a, vec![Action::Ignored(Ignored::WrongServer(None))]);
    assert_eq!(c.state(), StateName::Selecting);
}

#[test]
fn config_rejects_bad_names() {
    let cfg = ClientConfig::new(Mac([2, 0, 0, 0, 0, 1]));
    assert!(cfg.clone().host_name("bad name").is_err());
    assert!(cfg.clone().host_name("").is_err());
    assert!(cfg.clone().fqdn(&"a".repeat(70)).is_err());
    assert!(cfg.fqdn("ct1.hospital.example").is_ok());
}

#[test]
fn hostile_option_that_panics_dhcproto_is_kept_raw() {
    // Option 12 (12 bytes) renamed to 152: dhcproto's decoder would hit a
    // debug_assert on its length (the fuzz target found it); we bind and
    // keep 152 raw.
    let mut ack = DNSMASQ_ACK.to_vec();
    let i = (240..ack.len())
        .find(|&i| ack[i] == 12 && ack[i + 1] == 12)
        .unwrap();
    ack[i] = 152;
    let mut rng = Script::new(&[xid_of(DNSMASQ_OFFER)]);
    let c = bound_at_zero(DNSMASQ_OFFER, &ack, &mut rng);
    let l = c.lease().unwrap();
    assert_eq!(
        l.unknown.get(&152).map(Vec::as_slice),
        Some(&b"ct-scanner-1"[..])
    );
    assert_eq!(l.host_name, None);
    assert!(crate::client::decode_lease(&ack).is_ok());
}

/// Option 54 renamed to an unassigned code: the same packet without a
/// server identifier.
fn without_server_id(p: &[u8]) -> Vec<u8> {
    let mut v = p.to_vec();
    let i = (240..v.len())
        .find(|&i| v[i] == 54 && v[i + 1] == 4)
        .unwrap();
    v[i] = 224;
    v
}

/// A bound client moved to RENEWING at T1; returns it and the renewal xid.
fn renewing() -> (Client, u32, Script) {
    let mut rng = Script::new(&[xid_of(DNSMASQ_OFFER)]);
    let c = bound_at_zero(DNSMASQ_OFFER, DNSMASQ_ACK, &mut rng);
    let (c, a) = c.handle(Event::Timer, s(60), &mut rng);
    assert_eq!(c.state(), StateName::Renewing);
    let xid = only_send(&a).xid;
    (c, xid, rng)
}

#[test]
fn renewing_ignores_ack_and_nak_from_another_server() {
    let (c, xid, mut rng) = renewing();
    let other = [10, 231, 0, 2];
    for kind in [5u8, 6] {
        let reply = with_option(&with_xid(DNSMASQ_ACK, xid), 53, &[kind]);
        let reply = with_option(&reply, 54, &other);
        let (c2, a) = c.clone().handle(Event::Received(&reply), s(61), &mut rng);
        assert_eq!(
            a,
            vec![Action::Ignored(Ignored::WrongServer(Some(Ipv4Addr::from(
                other
            ))))],
            "message type {kind}"
        );
        assert_eq!(c2.state(), StateName::Renewing);
        assert!(c2.lease().is_some());
    }
    // The lease's own server is heard.
    let nak = with_option(&with_xid(DNSMASQ_ACK, xid), 53, &[6]);
    let (c, a) = c.handle(Event::Received(&nak), s(61), &mut rng);
    assert!(a.iter().any(|a| matches!(
        a,
        Action::Deconfigure {
            reason: LossReason::Nak,
            ..
        }
    )));
    assert_eq!(c.state(), StateName::Selecting);
}

#[test]
fn nak_without_server_id_is_ignored_once_a_server_is_known() {
    // RENEWING.
    let (c, xid, mut rng) = renewing();
    let nak = with_option(&with_xid(DNSMASQ_ACK, xid), 53, &[6]);
    let anonymous = without_server_id(&nak);
    let (c, a) = c.handle(Event::Received(&anonymous), s(61), &mut rng);
    assert_eq!(a, vec![Action::Ignored(Ignored::WrongServer(None))]);
    assert_eq!(c.state(), StateName::Renewing);

    // REQUESTING: the chosen server is known from its OFFER.
    let offer_xid = xid_of(DNSMASQ_OFFER);
    let mut rng = Script::new(&[offer_xid]);
    let (c, _) = Client::new(config_for(DNSMASQ_OFFER)).handle(Event::Start, s(0), &mut rng);
    let (c, _) = c.handle(Event::Received(DNSMASQ_OFFER), s(0), &mut rng);
    let nak = without_server_id(&with_option(DNSMASQ_ACK, 53, &[6]));
    let (c, a) = c.handle(Event::Received(&nak), s(0), &mut rng);
    assert_eq!(a, vec![Action::Ignored(Ignored::WrongServer(None))]);
    assert_eq!(c.state(), StateName::Requesting);
    // A NAK naming the chosen server still restarts discovery.
    let nak = with_option(DNSMASQ_ACK, 53, &[6]);
    let (c, _) = c.handle(Event::Received(&nak), s(0), &mut rng);
    assert_eq!(c.state(), StateName::Selecting);
}

#[test]
fn release_only_own_lease() {
    // annexr's own client id by default: the release goes out.
    let mac = mac_of(DNSMASQ_OFFER);
    assert!(config_for(DNSMASQ_OFFER).owns_its_binding());
    assert_eq!(
        config_for(DNSMASQ_OFFER).client_id,
        crate::client::annexr_client_id(mac)
    );
    assert_ne!(
        config_for(DNSMASQ_OFFER).client_id,
        crate::client::hardware_client_id(mac)
    );
    let mut rng = Script::new(&[xid_of(DNSMASQ_OFFER)]);
    let c = bound_at_zero(DNSMASQ_OFFER, DNSMASQ_ACK, &mut rng);
    let (_, a) = c.handle(Event::Release, s(5), &mut rng);
    assert_eq!(only_send(&a).kind, MessageType::Release);
    let (_, raw) = decoded(only_send(&a));
    assert_eq!(raw.get(61), Some(&crate::client::annexr_client_id(mac)[..]));

    // The OS client's identity (01:MAC): nothing is released or removed.
    let os_like = config_for(DNSMASQ_OFFER).client_id(crate::client::hardware_client_id(mac));
    assert!(!os_like.owns_its_binding());
    let mut rng = Script::new(&[xid_of(DNSMASQ_OFFER)]);
    let c = Client::new(os_like);
    let (c, _) = c.handle(Event::Start, s(0), &mut rng);
    let (c, _) = c.handle(Event::Received(DNSMASQ_OFFER), s(0), &mut rng);
    let (c, _) = c.handle(Event::Received(DNSMASQ_ACK), s(0), &mut rng);
    let address = c.lease().unwrap().address;
    let (c, a) = c.handle(Event::Release, s(5), &mut rng);
    assert_eq!(a, vec![Action::ReleaseSkipped { address }]);
    assert_eq!(c.state(), StateName::Released);
}

#[test]
fn fqdn_option_sanitized() {
    use crate::client::dns_label;
    assert_eq!(dns_label("CT 7").as_deref(), Some("ct-7"));
    assert_eq!(
        dns_label("  MR__Scanner--2 ").as_deref(),
        Some("mr-scanner-2")
    );
    assert_eq!(dns_label("ct-scanner-1").as_deref(), Some("ct-scanner-1"));
    assert_eq!(dns_label("Röntgen 1").as_deref(), Some("r-ntgen-1"));
    assert_eq!(dns_label("***"), None);
    assert_eq!(dns_label(&"A".repeat(80)).map(|l| l.len()), Some(63));
    // The label is accepted as option 12 and option 81 and goes on the wire.
    let label = dns_label("CT 7").unwrap();
    let cfg = ClientConfig::new(Mac([2, 0, 0, 0, 0, 7]))
        .host_name(&label)
        .unwrap()
        .fqdn(&format!("{label}.hospital.example"))
        .unwrap();
    let mut rng = Script::new(&[1]);
    let (_, a) = Client::new(cfg).handle(Event::Start, s(0), &mut rng);
    let (_, raw) = decoded(only_send(&a));
    assert_eq!(raw.get(12), Some(&b"ct-7"[..]));
    let fqdn = raw.get(81).unwrap();
    // Flags S and E, RCODEs 0, then the wire-format name.
    assert_eq!(fqdn[0] & 0b0101, 0b0101);
    assert_eq!(&fqdn[3..8], b"\x04ct-7");
}
