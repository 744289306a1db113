//! The REFER hook's HTTP client (`refer_hook` on a platform trunk, issue 11): a small pool of
//! threads that POST the core's `Output::ReferHook` bodies and bring each outcome back to the
//! shard that asked, as `ShardMessage::HookAnswer` on its control queue plus a wake-up. A
//! shard never blocks: it hands the request over with a `try_send` (a full queue answers
//! "queue full" at once, and the trunk's `on_error` applies), and the core keeps its own
//! deadline of `timeout_ms`, so a lost or late answer only means the deadline decided.
//!
//! The client is `ureq` (blocking, small, no async runtime next to the shards' own loops, TLS
//! left out: hooks are plain `http://`), one agent shared by the workers, each request bounded
//! by the hook's own `timeout_ms`.

use std::sync::Arc;
use std::time::Duration;

use crossbeam::channel::{Receiver, Sender, TrySendError, bounded};

use super::backend::ShardWaker;
use super::queues::ShardMesh;
use crate::core::{CallRef, HookAnswer, ShardMessage};

/// Worker threads: hooks answering slowly hold one each, up to their `timeout_ms`.
pub const HOOK_THREADS: usize = 4;
/// Requests waiting for a worker; beyond it a hook call fails at once ("queue full").
pub const HOOK_QUEUE: usize = 1024;
/// An answer body is read up to this many bytes (an answer is a few hundred).
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// One hook call to make, from shard `shard`.
#[derive(Debug)]
pub struct HookRequest {
    pub shard: usize,
    pub call: CallRef,
    pub request_id: u64,
    pub url: String,
    pub body: String,
    pub timeout: Duration,
}

/// The shards' handle on the hook workers (cheap to clone).
#[derive(Clone, Debug)]
pub struct HookClient {
    queue: Sender<HookRequest>,
}

impl HookClient {
    /// Starts the workers; answers go to `mesh`'s control queues, each followed by a wake of
    /// the shard's `wakers` entry. The workers end when every `HookClient` is dropped.
    pub fn start(mesh: Arc<ShardMesh>, wakers: Vec<Arc<ShardWaker>>) -> HookClient {
        let (queue, requests) = bounded(HOOK_QUEUE);
        let agent = ureq::AgentBuilder::new().redirects(0).build();
        for worker in 0..HOOK_THREADS {
            let requests: Receiver<HookRequest> = requests.clone();
            let (mesh, wakers, agent) = (mesh.clone(), wakers.clone(), agent.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("refer-hook-{worker}"))
                .spawn(move || {
                    for request in requests.iter() {
                        let answer = post(&agent, &request);
                        let (shard, call) = (request.shard, request.call);
                        let message = ShardMessage::HookAnswer {
                            call,
                            request_id: request.request_id,
                            answer,
                        };
                        if mesh.push_control(shard, message).is_err() {
                            // The core's own deadline decides for it.
                            tracing::warn!(shard, %call, "control queue full: REFER hook answer dropped");
                        } else if let Some(waker) = wakers.get(shard) {
                            waker.wake();
                        }
                    }
                });
            if let Err(error) = spawned {
                tracing::error!(%error, "cannot start a REFER hook worker");
            }
        }
        HookClient { queue }
    }

    /// Hands `request` to a worker without waiting; `Err` gives it back when the queue is full
    /// (or no worker runs).
    pub fn submit(&self, request: HookRequest) -> Result<(), Box<HookRequest>> {
        self.queue.try_send(request).map_err(|error| match error {
            TrySendError::Full(request) | TrySendError::Disconnected(request) => Box::new(request),
        })
    }
}

/// POSTs the request's JSON body and reads what came back.
fn post(agent: &ureq::Agent, request: &HookRequest) -> HookAnswer {
    let started = std::time::Instant::now();
    let result = agent
        .post(&request.url)
        .timeout(request.timeout)
        .set("Content-Type", "application/json")
        .send_string(&request.body);
    let answer = match result {
        Ok(response) => read(response),
        Err(ureq::Error::Status(_, response)) => read(response),
        Err(ureq::Error::Transport(error)) => HookAnswer::Failed(error.to_string()),
    };
    tracing::debug!(
        url = %request.url,
        call = %request.call,
        elapsed_ms = started.elapsed().as_millis() as u64,
        ?answer,
        "REFER hook answered"
    );
    answer
}

fn read(response: ureq::Response) -> HookAnswer {
    use std::io::Read;
    let status = response.status();
    let mut body = Vec::new();
    match response
        .into_reader()
        .take(MAX_ANSWER_BYTES)
        .read_to_end(&mut body)
    {
        Ok(_) => HookAnswer::Response { status, body },
        Err(error) => HookAnswer::Failed(format!("reading the answer: {error}")),
    }
}
