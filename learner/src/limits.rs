//! Admission limits of the gRPC service, so that no client — a misbehaving actor or an
//! attacker — can make the learner hold unbounded state: concurrent weight streams and
//! concurrent trajectory submissions, per actor and in total, and a per-actor ingest rate
//! (a token bucket of trajectories). Exceeding one gives `RESOURCE_EXHAUSTED` with the limit's
//! name; actors back off and retry, so nothing is lost. (Message size is capped by tonic
//! (`OUT_OF_RANGE`), streams per connection by HTTP/2, trajectory length by the environment.)

use std::sync::{Arc, Mutex};
use std::time::Instant;

use rustc_hash::FxHashMap;
use tonic::Status;

use gfn_common::config::LearnerConfig;

use crate::metrics as m;

/// Counts holders per actor and in total, within two caps.
struct Gate {
    name: &'static str,
    per_actor: usize,
    total: usize,
    held: Mutex<(FxHashMap<u64, usize>, usize)>,
}

impl Gate {
    fn new(name: &'static str, per_actor: usize, total: usize) -> Self {
        Self { name, per_actor, total, held: Mutex::new((FxHashMap::default(), 0)) }
    }

    fn acquire(&self, actor: u64) -> Result<(), Status> {
        let mut guard = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let (per_actor, total) = &mut *guard;
        if *total >= self.total {
            metrics::counter!(m::LIMITED, "limit" => self.name, "scope" => "total").increment(1);
            return Err(Status::resource_exhausted(format!(
                "{}: the learner's limit of {} is reached; retry later",
                self.name, self.total
            )));
        }
        let count = per_actor.entry(actor).or_insert(0);
        if *count >= self.per_actor {
            metrics::counter!(m::LIMITED, "limit" => self.name, "scope" => "actor").increment(1);
            return Err(Status::resource_exhausted(format!(
                "{}: actor {actor} already has {} (the per-actor limit); retry later",
                self.name, self.per_actor
            )));
        }
        *count += 1;
        *total += 1;
        Ok(())
    }

    fn release(&self, actor: u64) {
        let mut guard = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let (per_actor, total) = &mut *guard;
        if let Some(count) = per_actor.get_mut(&actor) {
            *count -= 1;
            if *count == 0 {
                per_actor.remove(&actor);
            }
            *total -= 1;
        }
    }
}

/// A token bucket: `rate` tokens per second, at most `burst` stored.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The learner's admission limits.
pub struct Limits {
    weight_streams: Gate,
    submissions: Gate,
    rate: f64,
    burst: f64,
    buckets: Mutex<FxHashMap<u64, Bucket>>,
}

/// Buckets kept before idle (full) ones are dropped.
const MAX_BUCKETS: usize = 4096;

/// Held while a weight stream or a submission runs; releases its place when dropped.
pub struct Permit {
    limits: Arc<Limits>,
    actor: u64,
    weights: bool,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let gate = if self.weights { &self.limits.weight_streams } else { &self.limits.submissions };
        gate.release(self.actor);
    }
}

impl Limits {
    /// The limits `config` sets.
    pub fn new(config: &LearnerConfig) -> Arc<Self> {
        let rate = config.max_ingest_per_actor;
        Arc::new(Self {
            weight_streams: Gate::new(
                "weight streams",
                config.max_weight_streams_per_actor,
                config.max_weight_streams,
            ),
            submissions: Gate::new(
                "concurrent submissions",
                config.max_submissions_per_actor,
                config.max_submissions,
            ),
            rate,
            burst: rate.max(1.0),
            buckets: Mutex::new(FxHashMap::default()),
        })
    }

    /// A place for one more weight stream of `actor`.
    pub fn weight_stream(self: &Arc<Self>, actor: u64) -> Result<Permit, Status> {
        self.weight_streams.acquire(actor)?;
        Ok(Permit { limits: self.clone(), actor, weights: true })
    }

    /// A place for one more concurrent submission of `actor`.
    pub fn submission(self: &Arc<Self>, actor: u64) -> Result<Permit, Status> {
        self.submissions.acquire(actor)?;
        Ok(Permit { limits: self.clone(), actor, weights: false })
    }

    /// Takes `count` trajectories from `actor`'s ingest budget, or refuses the whole batch.
    pub fn ingest(&self, actor: u64, count: usize) -> Result<(), Status> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_BUCKETS {
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, b| b.tokens + now.duration_since(b.updated).as_secs_f64() * rate < burst);
        }
        let bucket = buckets.entry(actor).or_insert(Bucket { tokens: self.burst, updated: now });
        bucket.tokens =
            (bucket.tokens + now.duration_since(bucket.updated).as_secs_f64() * self.rate).min(self.burst);
        bucket.updated = now;
        let wanted = count as f64;
        if wanted > bucket.tokens {
            metrics::counter!(m::LIMITED, "limit" => "ingest rate", "scope" => "actor").increment(1);
            return Err(Status::resource_exhausted(format!(
                "ingest rate: actor {actor} may send {} trajectories/s (burst {}); retry later",
                self.rate, self.burst
            )));
        }
        bucket.tokens -= wanted;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    fn with_rate(rate: f64) -> Arc<Limits> {
        Limits::new(&LearnerConfig {
            max_weight_streams_per_actor: 2,
            max_weight_streams: 3,
            max_submissions_per_actor: 1,
            max_submissions: 8,
            max_ingest_per_actor: rate,
            ..LearnerConfig::default()
        })
    }

    #[test]
    fn streams_are_capped_per_actor_and_in_total_and_released_on_drop() {
        let limits = with_rate(0.0);
        let a1 = limits.weight_stream(1).unwrap();
        let _a2 = limits.weight_stream(1).unwrap();
        let error = limits.weight_stream(1).err().unwrap();
        assert_eq!(error.code(), Code::ResourceExhausted);
        assert!(error.message().contains("per-actor"), "{error:?}");
        let _b1 = limits.weight_stream(2).unwrap();
        let error = limits.weight_stream(3).err().unwrap();
        assert!(error.message().contains("limit of 3"), "{error:?}");
        drop(a1);
        let _c1 = limits.weight_stream(3).unwrap();
        // submissions are a separate gate
        let s = limits.submission(1).unwrap();
        assert_eq!(limits.submission(1).err().unwrap().code(), Code::ResourceExhausted);
        drop(s);
        assert!(limits.submission(1).is_ok());
    }

    #[test]
    fn the_ingest_rate_refuses_a_burst_beyond_the_bucket_then_refills() {
        let limits = with_rate(1000.0);
        assert!(limits.ingest(7, 600).is_ok());
        assert!(limits.ingest(7, 400).is_ok());
        let error = limits.ingest(7, 16).unwrap_err();
        assert_eq!(error.code(), Code::ResourceExhausted);
        assert!(error.message().contains("ingest rate"), "{error:?}");
        assert!(limits.ingest(8, 16).is_ok(), "other actors have their own bucket");
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(limits.ingest(7, 16).is_ok(), "≈ 50 tokens refilled after 50 ms");
        assert!(with_rate(0.0).ingest(7, 1_000_000).is_ok(), "rate 0: unlimited");
    }
}
