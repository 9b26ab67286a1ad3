//! Which actors are alive, as the learner sees it: an actor is heard from when it calls
//! (register, submit) and whenever its weights stream takes a chunk; one not heard from for
//! `learner.actor_timeout_seconds` is counted gone and its streams are closed. On a real network
//! a peer can vanish without a FIN or RST, so nothing else would ever tell the learner.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::metrics as m;

struct Actor {
    last_heard: Instant,
    gone: CancellationToken,
}

/// The actors heard from recently.
pub struct Liveness {
    actors: Mutex<HashMap<u64, Actor>>,
    timeout: Duration,
}

impl Liveness {
    /// Actors count as gone after `timeout` of silence.
    pub fn new(timeout: Duration) -> Self {
        Self { actors: Mutex::new(HashMap::new()), timeout }
    }

    /// `actor_id` was heard from now; the token is cancelled if it is later counted gone.
    pub fn heard(&self, actor_id: u64) -> CancellationToken {
        let mut actors = self.actors.lock().expect("liveness lock");
        let actor = actors
            .entry(actor_id)
            .or_insert_with(|| Actor { last_heard: Instant::now(), gone: CancellationToken::new() });
        actor.last_heard = Instant::now();
        actor.gone.clone()
    }

    /// Counts as gone every actor silent for longer than the timeout (cancelling its token, so
    /// its streams close) and returns how many remain.
    pub fn sweep(&self) -> usize {
        let mut actors = self.actors.lock().expect("liveness lock");
        actors.retain(|actor_id, actor| {
            let alive = actor.last_heard.elapsed() <= self.timeout;
            if !alive {
                actor.gone.cancel();
                metrics::counter!(m::ACTORS_GONE).increment(1);
                tracing::warn!(
                    actor_id,
                    silent_seconds = actor.last_heard.elapsed().as_secs_f64(),
                    "actor not heard from: counted gone, its streams closed"
                );
            }
            alive
        });
        actors.len()
    }

    /// Sweeps every `every` until `shutdown`, exporting the number of live actors.
    pub async fn run(self: std::sync::Arc<Self>, every: Duration, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(every);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    let alive = self.sweep();
                    metrics::gauge!(m::CONNECTED_ACTORS).set(alive as f64);
                }
                _ = shutdown.cancelled() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_silent_actor_is_counted_gone_and_its_token_cancelled() {
        let liveness = Liveness::new(Duration::from_millis(100));
        let quiet = liveness.heard(1);
        let _chatty = liveness.heard(2);
        assert_eq!(liveness.sweep(), 2);
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(40));
            liveness.heard(2);
        }
        assert_eq!(liveness.sweep(), 1, "actor 1 was silent for 160 ms");
        assert!(quiet.is_cancelled());
        // heard again later, it is a live actor with a fresh token
        let back = liveness.heard(1);
        assert!(!back.is_cancelled());
        assert_eq!(liveness.sweep(), 2);
    }
}
