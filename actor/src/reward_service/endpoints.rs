//! The endpoints of a reward service and their health: client-side load balancing (the
//! healthy endpoint with the fewest calls in flight, ties taken in turn), ejection of an
//! endpoint that keeps failing, and its return after a pause.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, ClientTlsConfig};

use gfn_proto::auth::{AttachToken, RunToken};
use gfn_proto::reward::v1::reward_model_client::RewardModelClient;

use crate::error::ActorError;
use crate::metrics;

/// A reward service client whose calls carry the run token.
pub type RewardRpc = RewardModelClient<InterceptedService<Channel, AttachToken>>;

/// One server of the reward service.
pub struct Endpoint {
    /// Its address as written in metrics and logs (`http://10.0.0.7:50061`).
    pub name: String,
    /// The client (connects lazily, reconnects on its own).
    pub client: RewardRpc,
    in_flight: AtomicUsize,
    health: Mutex<Health>,
}

#[derive(Debug, Default)]
struct Health {
    consecutive_failures: u32,
    ejected_until: Option<Instant>,
}

impl Endpoint {
    /// Calls now in flight to it.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    fn ejected_until(&self, now: Instant) -> Option<Instant> {
        self.health.lock().expect("health lock").ejected_until.filter(|until| *until > now)
    }
}

/// Marks a call in flight on an endpoint until dropped.
pub struct InFlight(Arc<Endpoint>);

impl InFlight {
    /// The endpoint called.
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.0
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// How endpoints are connected and when they are ejected.
#[derive(Clone)]
pub struct EndpointSettings {
    /// The run token attached to every call.
    pub token: Option<RunToken>,
    /// TLS for `https` endpoints.
    pub tls: Option<ClientTlsConfig>,
    /// Largest reply accepted, in bytes.
    pub max_message_bytes: usize,
    /// Consecutive failures that eject an endpoint.
    pub eject_after_failures: u32,
    /// How long an ejected endpoint gets no calls.
    pub eject_for: Duration,
}

/// The current endpoints (replaced as a whole when DNS answers change).
pub struct EndpointSet {
    endpoints: Mutex<Vec<Arc<Endpoint>>>,
    next: AtomicUsize,
    settings: EndpointSettings,
}

impl EndpointSet {
    /// No endpoints yet.
    pub fn new(settings: EndpointSettings) -> Self {
        Self { endpoints: Mutex::new(Vec::new()), next: AtomicUsize::new(0), settings }
    }

    /// The endpoints now.
    pub fn all(&self) -> Vec<Arc<Endpoint>> {
        self.endpoints.lock().expect("endpoints lock").clone()
    }

    /// Makes `addresses` the endpoints: new ones are connected, gone ones dropped, the rest keep
    /// their health. Returns whether anything changed.
    pub fn set(&self, addresses: &[String]) -> Result<bool, ActorError> {
        let mut endpoints = self.endpoints.lock().expect("endpoints lock");
        let unchanged = endpoints.len() == addresses.len()
            && endpoints.iter().zip(addresses).all(|(endpoint, address)| &endpoint.name == address);
        if unchanged {
            return Ok(false);
        }
        let mut next = Vec::with_capacity(addresses.len());
        for address in addresses {
            match endpoints.iter().find(|e| &e.name == address) {
                Some(existing) => next.push(Arc::clone(existing)),
                None => next.push(Arc::new(self.connect(address)?)),
            }
        }
        *endpoints = next;
        Ok(true)
    }

    fn connect(&self, address: &str) -> Result<Endpoint, ActorError> {
        let transport =
            |what| move |source| ActorError::Transport { what, address: address.to_string(), source };
        let mut endpoint = tonic::transport::Endpoint::from_shared(address.to_string())
            .map_err(transport("invalid reward endpoint"))?;
        if address.starts_with("https://") {
            let tls =
                self.settings.tls.clone().ok_or_else(|| ActorError::NoCaForRewards(address.to_string()))?;
            endpoint =
                endpoint.tls_config(tls).map_err(transport("configuring TLS for the reward endpoint"))?;
        }
        let channel = endpoint.connect_timeout(Duration::from_secs(2)).tcp_nodelay(true).connect_lazy();
        let client =
            RewardModelClient::with_interceptor(channel, AttachToken::new(self.settings.token.as_ref()))
                .max_decoding_message_size(self.settings.max_message_bytes);
        ::metrics::gauge!(metrics::REWARD_ENDPOINT_EJECTED, "endpoint" => address.to_string()).set(0.0);
        Ok(Endpoint {
            name: address.to_string(),
            client,
            in_flight: AtomicUsize::new(0),
            health: Mutex::new(Health::default()),
        })
    }

    /// The endpoint for the next call: among those not `tried` and not ejected, the one with
    /// the fewest calls in flight (ties in turn); if every untried one is ejected, the one
    /// whose ejection ends first (a service that is all down is still probed); `None` when
    /// every endpoint was tried.
    pub fn pick(&self, tried: &[String]) -> Option<InFlight> {
        let endpoints = self.all();
        let now = Instant::now();
        let untried: Vec<&Arc<Endpoint>> = endpoints.iter().filter(|e| !tried.contains(&e.name)).collect();
        if untried.is_empty() {
            return None;
        }
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let rotated = (0..untried.len()).map(|i| untried[(start + i) % untried.len()]);
        let healthy =
            rotated.clone().filter(|e| e.ejected_until(now).is_none()).min_by_key(|e| e.in_flight());
        let chosen = healthy.or_else(|| rotated.min_by_key(|e| e.ejected_until(now)))?;
        chosen.in_flight.fetch_add(1, Ordering::Relaxed);
        Some(InFlight(Arc::clone(chosen)))
    }

    /// A call to `endpoint` succeeded: its failure count starts again.
    pub fn succeeded(&self, endpoint: &Endpoint) {
        let mut health = endpoint.health.lock().expect("health lock");
        if health.ejected_until.take().is_some()
            || health.consecutive_failures >= self.settings.eject_after_failures
        {
            tracing::info!(endpoint = %endpoint.name, "reward endpoint answers again: back in rotation");
        }
        health.consecutive_failures = 0;
        ::metrics::gauge!(metrics::REWARD_ENDPOINT_EJECTED, "endpoint" => endpoint.name.clone()).set(0.0);
    }

    /// A call to `endpoint` failed; after `eject_after_failures` in a row it is ejected for
    /// `eject_for` (and again after each further failure once it is tried again).
    pub fn failed(&self, endpoint: &Endpoint) {
        let mut health = endpoint.health.lock().expect("health lock");
        health.consecutive_failures += 1;
        if health.consecutive_failures >= self.settings.eject_after_failures {
            let first = health.ejected_until.is_none_or(|until| until <= Instant::now());
            health.ejected_until = Some(Instant::now() + self.settings.eject_for);
            if first {
                ::metrics::counter!(metrics::REWARD_ENDPOINT_EJECTIONS, "endpoint" => endpoint.name.clone())
                    .increment(1);
                tracing::warn!(
                    endpoint = %endpoint.name,
                    failures = health.consecutive_failures,
                    pause_seconds = self.settings.eject_for.as_secs_f64(),
                    "reward endpoint ejected after consecutive failures"
                );
            }
            ::metrics::gauge!(metrics::REWARD_ENDPOINT_EJECTED, "endpoint" => endpoint.name.clone()).set(1.0);
        }
    }

    /// Whether `name` is ejected now.
    pub fn is_ejected(&self, name: &str) -> bool {
        let now = Instant::now();
        self.all().iter().any(|e| e.name == name && e.ejected_until(now).is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(names: &[&str], eject_after_failures: u32) -> EndpointSet {
        let set = EndpointSet::new(EndpointSettings {
            token: None,
            tls: None,
            max_message_bytes: 1 << 20,
            eject_after_failures,
            eject_for: Duration::from_millis(200),
        });
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        set.set(&names).unwrap();
        set
    }

    #[tokio::test]
    async fn calls_spread_over_the_least_loaded_endpoints() {
        let endpoints = set(&["http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"], 3);
        let held: Vec<InFlight> = (0..3).map(|_| endpoints.pick(&[]).unwrap()).collect();
        let mut names: Vec<&str> = held.iter().map(|c| c.endpoint().name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3"], "one each");
        drop(held);
        assert!(endpoints.all().iter().all(|e| e.in_flight() == 0));
        // a retry skips the endpoints already tried
        let tried = vec!["http://127.0.0.1:1".to_string(), "http://127.0.0.1:2".to_string()];
        assert_eq!(endpoints.pick(&tried).unwrap().endpoint().name, "http://127.0.0.1:3");
        let all: Vec<String> = endpoints.all().iter().map(|e| e.name.clone()).collect();
        assert!(endpoints.pick(&all).is_none());
    }

    #[tokio::test]
    async fn an_endpoint_that_keeps_failing_is_ejected_and_returns_after_the_pause() {
        let endpoints = set(&["http://127.0.0.1:1", "http://127.0.0.1:2"], 2);
        let bad = Arc::clone(&endpoints.all()[0]);
        endpoints.failed(&bad);
        assert!(!endpoints.is_ejected(&bad.name), "one failure is not enough");
        endpoints.failed(&bad);
        assert!(endpoints.is_ejected(&bad.name));
        for _ in 0..10 {
            assert_eq!(endpoints.pick(&[]).unwrap().endpoint().name, "http://127.0.0.1:2");
        }
        // with the healthy one tried, the ejected one is still probed rather than nothing
        assert_eq!(endpoints.pick(&["http://127.0.0.1:2".into()]).unwrap().endpoint().name, bad.name);
        std::thread::sleep(Duration::from_millis(250));
        assert!(!endpoints.is_ejected(&bad.name));
        let picked: Vec<String> =
            (0..4).map(|_| endpoints.pick(&[]).unwrap().endpoint().name.clone()).collect();
        assert!(picked.contains(&bad.name), "back in rotation: {picked:?}");
        // one more failure after the pause ejects it again at once; a success clears it
        endpoints.failed(&bad);
        assert!(endpoints.is_ejected(&bad.name));
        endpoints.succeeded(&bad);
        assert!(!endpoints.is_ejected(&bad.name));
    }

    #[tokio::test]
    async fn new_addresses_are_added_and_gone_ones_dropped_keeping_health() {
        let endpoints = set(&["http://127.0.0.1:1", "http://127.0.0.1:2"], 1);
        endpoints.failed(&endpoints.all()[1]);
        let changed = endpoints.set(&["http://127.0.0.1:2".into(), "http://127.0.0.1:3".into()]).unwrap();
        assert!(changed);
        let names: Vec<String> = endpoints.all().iter().map(|e| e.name.clone()).collect();
        assert_eq!(names, ["http://127.0.0.1:2", "http://127.0.0.1:3"]);
        assert!(endpoints.is_ejected("http://127.0.0.1:2"), "health kept across the change");
        assert!(!endpoints.set(&names).unwrap());
    }
}
