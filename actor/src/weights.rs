//! Receives the learner's weights stream and keeps the newest complete version.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::connection::LearnerRpc;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use gfn_proto::v1;

use crate::backoff::Backoff;
use crate::connection::Registration;

/// One complete version of the policy weights (a safetensors file).
#[derive(Debug)]
pub struct PolicyWeights {
    /// The learner's version number.
    pub version: u64,
    /// The safetensors bytes.
    pub bytes: Vec<u8>,
}

/// Reassembles chunks into complete versions.
#[derive(Debug, Default)]
pub struct ChunkAssembler {
    version: u64,
    next_index: u32,
    chunk_count: u32,
    total_bytes: u64,
    bytes: Vec<u8>,
}

impl ChunkAssembler {
    /// Adds a chunk; returns the version once its last chunk arrives. Out-of-order or
    /// inconsistent chunks abandon the version being assembled.
    pub fn push(&mut self, chunk: v1::WeightsChunk) -> Option<PolicyWeights> {
        if chunk.chunk_index == 0 {
            self.version = chunk.version;
            self.chunk_count = chunk.chunk_count;
            self.total_bytes = chunk.total_bytes;
            self.next_index = 0;
            self.bytes = Vec::with_capacity(chunk.total_bytes.min(1 << 30) as usize);
        }
        let consistent = chunk.version == self.version
            && chunk.chunk_index == self.next_index
            && chunk.chunk_count == self.chunk_count
            && chunk.total_bytes == self.total_bytes;
        if !consistent {
            tracing::warn!(
                version = chunk.version,
                index = chunk.chunk_index,
                "inconsistent weights chunk dropped"
            );
            self.next_index = u32::MAX;
            return None;
        }
        self.bytes.extend_from_slice(&chunk.data);
        self.next_index += 1;
        if self.next_index == self.chunk_count && self.bytes.len() as u64 == self.total_bytes {
            self.next_index = u32::MAX;
            return Some(PolicyWeights { version: self.version, bytes: std::mem::take(&mut self.bytes) });
        }
        None
    }
}

/// Streams weights into `newest` until `shutdown`, resubscribing with back-off whenever the
/// stream breaks (learner restart, network).
pub async fn follow_weights(
    mut client: LearnerRpc,
    registration: Arc<RwLock<Registration>>,
    newest: watch::Sender<Option<Arc<PolicyWeights>>>,
    max_backoff: Duration,
    shutdown: CancellationToken,
) {
    let mut backoff = Backoff::new(max_backoff);
    while !shutdown.is_cancelled() {
        let have_version = newest.borrow().as_ref().map_or(0, |w| w.version);
        let request = {
            let registration = registration.read().expect("registration lock");
            v1::WatchWeightsRequest {
                run_id: registration.run_id.clone(),
                actor_id: registration.actor_id,
                have_version,
            }
        };
        let stream = tokio::select! {
            response = client.watch_weights(request) => response,
            _ = shutdown.cancelled() => return,
        };
        match stream {
            Ok(response) => {
                let mut stream = response.into_inner();
                let mut assembler = ChunkAssembler::default();
                loop {
                    let message = tokio::select! {
                        message = stream.message() => message,
                        _ = shutdown.cancelled() => return,
                    };
                    match message {
                        Ok(Some(chunk)) => {
                            if let Some(weights) = assembler.push(chunk) {
                                backoff.reset();
                                tracing::debug!(version = weights.version, "weights received");
                                newest.send_replace(Some(Arc::new(weights)));
                            }
                        }
                        Ok(None) => break,
                        Err(status) => {
                            tracing::debug!(code = ?status.code(), "weights stream broke");
                            break;
                        }
                    }
                }
            }
            Err(status) => {
                tracing::debug!(code = ?status.code(), message = status.message(), "weights stream refused")
            }
        }
        let pause = backoff.next_pause();
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(version: u64, index: u32, count: u32, data: &[u8], total: u64) -> v1::WeightsChunk {
        v1::WeightsChunk {
            version,
            chunk_index: index,
            chunk_count: count,
            total_bytes: total,
            data: data.to_vec(),
        }
    }

    #[test]
    fn assembles_in_order_and_abandons_gaps() {
        let mut assembler = ChunkAssembler::default();
        assert!(assembler.push(chunk(3, 0, 2, b"ab", 4)).is_none());
        let weights = assembler.push(chunk(3, 1, 2, b"cd", 4)).unwrap();
        assert_eq!((weights.version, weights.bytes.as_slice()), (3, &b"abcd"[..]));
        // a version whose middle chunk is missing is never completed
        assert!(assembler.push(chunk(4, 0, 3, b"ab", 6)).is_none());
        assert!(assembler.push(chunk(4, 2, 3, b"ef", 6)).is_none());
        // the next version starts cleanly
        assert_eq!(assembler.push(chunk(5, 0, 1, b"z", 1)).unwrap().bytes, b"z");
    }
}
