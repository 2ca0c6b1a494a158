//! The tokio driver: sampling every server, and the ongoing poll loop.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use jiff::SignedDuration;
use tokio::sync::{mpsc, watch};

use crate::Error;
use crate::clock::Clock;
use crate::discipline::{Decision, Discipline, DisciplineConfig};
use crate::packet::{Rejection, Sample, TokioNtpSocket, judge};
use crate::poll::{PollConfig, PollSchedule};
use crate::select::{Discard, Measurement, ServerReport, select};

/// How each server is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SamplingConfig {
    /// Requests per server per measurement (the least-delay reply is kept).
    pub samples: usize,
    /// Pause between requests to one server.
    pub spacing: Duration,
    /// How long to wait for each reply.
    pub timeout: Duration,
}

impl Default for SamplingConfig {
    fn default() -> Self {
        SamplingConfig {
            samples: 4,
            spacing: Duration::from_millis(20),
            timeout: Duration::from_secs(1),
        }
    }
}

/// An SNTP client over a list of servers (DHCP option 42 or configuration).
#[derive(Debug, Clone)]
pub struct SntpClient {
    servers: Vec<SocketAddr>,
    config: SamplingConfig,
}

impl SntpClient {
    /// A client for `servers`.
    pub fn new(servers: Vec<SocketAddr>, config: SamplingConfig) -> Result<Self, Error> {
        if servers.is_empty() {
            return Err(Error::NoServers);
        }
        Ok(SntpClient { servers, config })
    }

    /// The servers asked.
    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    /// Samples every server (concurrently) and combines the best samples.
    /// Reads `clock` only; correcting it is the discipline's business.
    pub async fn measure(&self, clock: Arc<dyn Clock>) -> Result<Measurement, Error> {
        self.measure_until(clock, Until::AllSamples).await
    }

    /// Like [`SntpClient::measure`], but each server is asked only until
    /// its first valid reply (at most `samples` requests, the next one only
    /// after a timeout or a rejected reply): a startup decision in one
    /// round trip. Its error bound is that sample's delay; a later
    /// [`SntpClient::measure`] refines it.
    pub async fn measure_first(&self, clock: Arc<dyn Clock>) -> Result<Measurement, Error> {
        self.measure_until(clock, Until::FirstValid).await
    }

    async fn measure_until(
        &self,
        clock: Arc<dyn Clock>,
        until: Until,
    ) -> Result<Measurement, Error> {
        let mut set = tokio::task::JoinSet::new();
        for (i, server) in self.servers.iter().copied().enumerate() {
            let clock = clock.clone();
            let config = self.config;
            set.spawn(async move {
                (
                    i,
                    sample_server_until(server, clock.as_ref(), config, until).await,
                )
            });
        }
        let mut reports: Vec<Option<ServerReport>> = vec![None; self.servers.len()];
        while let Some(done) = set.join_next().await {
            if let Ok((i, r)) = done
                && let Some(slot) = reports.get_mut(i)
            {
                *slot = Some(r?);
            }
        }
        let reports: Vec<ServerReport> = reports.into_iter().flatten().collect();
        let at = clock.now();
        match select(reports.clone(), at) {
            Some(m) => Ok(m),
            None => Err(Error::NoUsableServer { servers: reports }),
        }
    }
}

fn unspecified_for(server: SocketAddr) -> SocketAddr {
    match server.ip() {
        IpAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        IpAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    }
}

/// Samples one server `config.samples` times. Spoofed or stray datagrams are
/// recorded and ignored while the genuine reply is awaited; a Kiss-o'-Death
/// or two timeouts in a row end the sampling of this server.
pub async fn sample_server(
    server: SocketAddr,
    clock: &dyn Clock,
    config: SamplingConfig,
) -> Result<ServerReport, Error> {
    sample_server_until(server, clock, config, Until::AllSamples).await
}

/// When the sampling of one server ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Until {
    /// After `samples` requests.
    AllSamples,
    /// At the first valid reply (or after `samples` requests without one).
    FirstValid,
}

async fn sample_server_until(
    server: SocketAddr,
    clock: &dyn Clock,
    config: SamplingConfig,
    until: Until,
) -> Result<ServerReport, Error> {
    let socket = tokio::net::UdpSocket::bind(unspecified_for(server))
        .await
        .map_err(|cause| Error::Socket {
            server,
            step: "bind a UDP socket",
            cause,
        })?;
    let socket = TokioNtpSocket::new(socket);
    let mut outcomes: Vec<Result<Sample, Rejection>> = Vec::new();
    let mut timeouts_in_row = 0;
    for i in 0..config.samples.max(1) {
        if i > 0 {
            tokio::time::sleep(config.spacing).await;
        }
        let outcome = exchange(&socket, server, clock, config.timeout, &mut outcomes).await;
        let stop = sampling_ends(&outcome, until, &mut timeouts_in_row);
        outcomes.push(outcome);
        if stop {
            break;
        }
    }
    Ok(ServerReport::from_outcomes(server, outcomes))
}

/// Whether the sampling of one server ends after `outcome` (pure): at a
/// Kiss-o'-Death, at the second timeout in a row, and with
/// [`Until::FirstValid`] at the first valid sample.
fn sampling_ends(
    outcome: &Result<Sample, Rejection>,
    until: Until,
    timeouts_in_row: &mut u32,
) -> bool {
    match outcome {
        Ok(_) if until == Until::FirstValid => true,
        Err(Rejection::KissOfDeath(_)) => true,
        Err(Rejection::Timeout(_)) => {
            *timeouts_in_row += 1;
            *timeouts_in_row >= 2
        }
        _ => {
            *timeouts_in_row = 0;
            false
        }
    }
}

/// One request and its reply. Replies that fail the anti-spoofing checks
/// (wrong source, wrong origin) go to `spurious` and waiting continues.
async fn exchange(
    socket: &TokioNtpSocket,
    server: SocketAddr,
    clock: &dyn Clock,
    timeout: Duration,
    spurious: &mut Vec<Result<Sample, Rejection>>,
) -> Result<Sample, Rejection> {
    let request = socket.send_request(server, clock).await?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return Err(Rejection::Timeout(timeout));
        }
        let (bytes, from, t4) = socket.receive(clock, left).await.map_err(|e| match e {
            Rejection::Timeout(_) => Rejection::Timeout(timeout),
            other => other,
        })?;
        match judge(server, &request, &bytes, from, t4) {
            Err(r @ (Rejection::WrongSource(_) | Rejection::OriginMismatch)) => {
                spurious.push(Err(r))
            }
            other => return other,
        }
    }
}

/// Something the poll loop did.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A measurement finished.
    Measured(Box<Measurement>),
    /// The clock was stepped (`startup`: the one-time startup step).
    Stepped {
        /// The amount.
        offset: SignedDuration,
        /// True for the startup step.
        startup: bool,
    },
    /// The slew rate was set.
    Slewing {
        /// The rate (fraction).
        rate: f64,
        /// The offset it addresses.
        offset: SignedDuration,
        /// The estimated frequency error of the local clock.
        drift: f64,
    },
    /// An offset above the panic threshold awaits [`SyncHandle::consent_to_step`].
    ConsentRequired {
        /// The offset.
        offset: SignedDuration,
    },
    /// A server said DENY or RSTR and is not asked again.
    ServerDropped {
        /// The server.
        server: SocketAddr,
        /// Why.
        reason: Discard,
    },
    /// A server said RATE: the interval grows.
    BackingOff {
        /// The server.
        server: SocketAddr,
        /// The next wait.
        wait: Duration,
    },
    /// A measurement or a clock correction failed; retrying after `retry_in`.
    Failed {
        /// What failed.
        error: String,
        /// The backoff.
        retry_in: Duration,
    },
    /// The loop ended.
    Stopped,
}

/// Settings of the ongoing synchronization.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// The servers (DHCP option 42 or configuration).
    pub servers: Vec<SocketAddr>,
    /// Per-measurement sampling.
    pub sampling: SamplingConfig,
    /// Step/slew policy.
    pub discipline: DisciplineConfig,
    /// Poll intervals.
    pub poll: PollConfig,
    /// True when a startup sequence already measured (and possibly stepped)
    /// the clock: the loop then starts past startup
    /// ([`Discipline::after_startup`]), so it takes no second unbounded step.
    pub startup_done: bool,
}

/// Controls a running poll loop.
#[derive(Debug)]
pub struct SyncHandle {
    stop: watch::Sender<bool>,
    consent: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl SyncHandle {
    /// Allows the next offset above the panic threshold to be stepped.
    pub fn consent_to_step(&self) {
        self.consent.store(true, Ordering::SeqCst);
    }

    /// Stops the loop and waits for it (it emits [`Event::Stopped`]).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// Starts the poll loop (R.1.2.2 step 2: "continues for the duration of device
/// activity") on the current tokio runtime. Events arrive on the receiver.
pub fn spawn_sync(
    config: SyncConfig,
    clock: Arc<dyn Clock>,
) -> Result<(SyncHandle, mpsc::UnboundedReceiver<Event>), Error> {
    if config.servers.is_empty() {
        return Err(Error::NoServers);
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop_tx, mut stop_rx) = watch::channel(false);
    let consent = Arc::new(AtomicBool::new(false));
    let consent2 = consent.clone();
    let task = tokio::spawn(async move {
        let mut servers = config.servers.clone();
        let mut discipline = if config.startup_done {
            Discipline::after_startup(config.discipline)
        } else {
            Discipline::new(config.discipline)
        };
        let mut schedule = PollSchedule::new(config.poll);
        loop {
            let wait = poll_once(
                &mut servers,
                &config,
                &clock,
                &mut discipline,
                &mut schedule,
                &consent2,
                &tx,
            )
            .await;
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop_rx.changed() => break,
            }
        }
        let _ = tx.send(Event::Stopped);
    });
    Ok((
        SyncHandle {
            stop: stop_tx,
            consent,
            task,
        },
        rx,
    ))
}

/// One round of the loop; returns how long to wait before the next.
async fn poll_once(
    servers: &mut Vec<SocketAddr>,
    config: &SyncConfig,
    clock: &Arc<dyn Clock>,
    discipline: &mut Discipline,
    schedule: &mut PollSchedule,
    consent: &AtomicBool,
    tx: &mpsc::UnboundedSender<Event>,
) -> Duration {
    let emit = |e: Event| {
        let _ = tx.send(e);
    };
    let client = match SntpClient::new(servers.clone(), config.sampling) {
        Ok(c) => c,
        Err(e) => {
            let retry_in = schedule.on_failure();
            emit(Event::Failed {
                error: e.to_string(),
                retry_in,
            });
            return retry_in;
        }
    };
    let result = client.measure(clock.clone()).await;
    let reports = match &result {
        Ok(m) => m.servers.clone(),
        Err(Error::NoUsableServer { servers }) => servers.clone(),
        Err(_) => Vec::new(),
    };
    let mut rate_limited = false;
    for r in &reports {
        match &r.discarded {
            Some(reason @ Discard::KissOfDeath(_)) => {
                servers.retain(|s| *s != r.server);
                emit(Event::ServerDropped {
                    server: r.server,
                    reason: reason.clone(),
                });
            }
            Some(Discard::RateLimited) => rate_limited = true,
            _ => {}
        }
    }
    let m = match result {
        Ok(m) => m,
        Err(e) => {
            let retry_in = if rate_limited {
                schedule.on_rate_limited()
            } else {
                schedule.on_failure()
            };
            emit(Event::Failed {
                error: e.to_string(),
                retry_in,
            });
            return retry_in;
        }
    };
    if consent.swap(false, Ordering::SeqCst) {
        discipline.grant_consent();
    }
    let horizon = schedule.interval();
    let decision = discipline.decide(m.offset, m.at, horizon);
    emit(Event::Measured(Box::new(m)));
    let applied = match decision {
        Decision::Step { offset, startup } => clock
            .step(offset)
            .and_then(|()| clock.slew(0.0))
            .map(|()| (Event::Stepped { offset, startup }, schedule.on_step())),
        Decision::Slew {
            rate,
            offset,
            drift,
        } => clock.slew(rate).map(|()| {
            (
                Event::Slewing {
                    rate,
                    offset,
                    drift,
                },
                schedule.on_success(),
            )
        }),
        Decision::NeedsConsent { offset } => {
            Ok((Event::ConsentRequired { offset }, schedule.on_success()))
        }
    };
    match applied {
        Ok((event, mut wait)) => {
            emit(event);
            if rate_limited {
                wait = schedule.on_rate_limited();
                for r in reports
                    .iter()
                    .filter(|r| r.discarded == Some(Discard::RateLimited))
                {
                    emit(Event::BackingOff {
                        server: r.server,
                        wait,
                    });
                }
            }
            wait
        }
        Err(e) => {
            let retry_in = schedule.on_failure();
            emit(Event::Failed {
                error: e.to_string(),
                retry_in,
            });
            retry_in
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Sample {
        crate::packet::test_sample(3, 1)
    }

    /// How many requests a run of outcomes takes before the sampling ends.
    fn requests(until: Until, outcomes: Vec<Result<Sample, Rejection>>) -> usize {
        let mut in_row = 0;
        outcomes
            .iter()
            .position(|o| sampling_ends(o, until, &mut in_row))
            .map_or(outcomes.len(), |i| i + 1)
    }

    #[test]
    fn the_startup_decision_takes_the_first_valid_sample_and_only_retries_failures() {
        let timeout = || Err(Rejection::Timeout(Duration::from_secs(1)));
        let valid = || Ok(sample());
        // A valid first reply: one request.
        assert_eq!(requests(Until::FirstValid, vec![valid(), valid()]), 1);
        // A timeout, then a valid reply: two.
        assert_eq!(
            requests(Until::FirstValid, vec![timeout(), valid(), valid()]),
            2
        );
        // Two timeouts in a row end it either way.
        assert_eq!(
            requests(Until::FirstValid, vec![timeout(), timeout(), valid()]),
            2
        );
        // An unsynchronized server's reply is no valid sample: asked again.
        assert_eq!(
            requests(Until::FirstValid, vec![Err(Rejection::Stratum), valid()]),
            2
        );
        // The refinement takes every sample.
        assert_eq!(requests(Until::AllSamples, vec![valid(); 4]), 4);
        assert_eq!(
            requests(
                Until::AllSamples,
                vec![
                    valid(),
                    Err(Rejection::KissOfDeath(crate::Kod::Deny)),
                    valid()
                ]
            ),
            2
        );
    }
}
