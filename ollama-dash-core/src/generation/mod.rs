//! Generation: one traced call to Ollama (chat, generate, embed) with the settings' defaults.
//!
//! [`crate::Dashboard::chat`] (and `generate`, `embed`) fills what the request leaves out from
//! the settings, starts the trace and returns a [`Generation`]: its id is known at once (answers
//! name it), then [`Generation::answer`] waits for the whole answer or [`Generation::stream`]
//! returns the upstream [`Lines`]. Either way the call fills its own trace (output, reasoning,
//! tool calls, time to first token, Ollama's counts and timings) and records it: at the final
//! line, on an error, or as `cancelled` when dropped mid-way. The end a caller sees (the whole
//! answer, the final line, the error) comes only once the trace is durable, so a client that saw
//! the end always finds its trace, even across a `kill -9`.
//!
//! The node is chosen per call by the [`crate::fleet`] when the call is sent: by residency,
//! free slots, VRAM and conversation affinity, waiting in a bounded queue for a slot; a node
//! that is unreachable or failing before the answer starts is left for the next candidate.

mod lines;
mod traced;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

pub use lines::Lines;
pub use traced::Traced;

use crate::error::{Error, Result};
use crate::fleet::{Fleet, Hints, Reason, Routed};
use crate::ollama::NdjsonStream;
use crate::ollama::OllamaClient;
use crate::ollama::types::{
    ChatRequest, ChatResponse, EmbedRequest, EmbedResponse, GenerateRequest, GenerateResponse,
    Message, Metrics,
};
use crate::settings::Settings;
use crate::traces::{TraceCommit, TraceHandle, TraceStart, Traces};

/// Who asked for a generation, and through which route: what its trace records besides the
/// request itself.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// Route, e.g. `/v1/chat/completions`.
    pub endpoint: String,
    /// Name of the API key (never the secret).
    pub api_key: Option<String>,
    /// Client IP address.
    pub client_addr: Option<String>,
    /// The trace's input when it should not be derived from the request (e.g. the OpenAI
    /// request's own `prompt` or `input`).
    pub input: Option<String>,
    /// The HTTP status the embedder answers an error with, recorded in the trace; `None` when
    /// there is no HTTP answer (the trace then has no status for an error before the answer).
    pub status_of: Option<fn(&Error) -> u16>,
    /// The node the caller pinned this call to (`X-Ollama-Dash-Node`): routing takes that one
    /// or none, with no failover.
    pub node: Option<String>,
}

/// Longest the end of an answer waits for its trace's commit: a wedged store must not wedge
/// answers (the wait is logged, and the trace is still written when the store catches up).
pub const COMMIT_WAIT: Duration = Duration::from_secs(10);

/// Runs when a generation ends, before its trace is committed (a session stores its reply in
/// the same commit): told the trace so far, the final counts if the answer was complete, and
/// whether it failed.
pub(crate) type OnEnd = Box<dyn FnOnce(&TraceHandle, Ending<'_>) + Send>;

/// How a generation ended, for [`OnEnd`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ending<'a> {
    /// The final line arrived, with these counts.
    Done(&'a Metrics),
    /// It failed.
    Failed,
    /// The caller went away mid-way.
    Cancelled,
}

/// The generation service: defaults from the settings, traces, and the fleet that picks the
/// node of each call.
#[derive(Debug, Clone)]
pub(crate) struct Generations {
    fleet: Fleet,
    settings: Arc<Settings>,
    traces: Traces,
}

impl Generations {
    /// The service over these handles.
    pub(crate) fn new(fleet: Fleet, settings: Arc<Settings>, traces: Traces) -> Self {
        Self {
            fleet,
            settings,
            traces,
        }
    }

    /// A traced `/api/chat` call.
    pub(crate) fn chat(&self, origin: Origin, mut request: ChatRequest) -> Generation<ChatRequest> {
        self.settings.apply(
            &request.model,
            &mut request.options,
            &mut request.keep_alive,
        );
        let input = messages_input(&request.messages);
        let num_ctx = request
            .options
            .as_ref()
            .and_then(|o| o.num_ctx)
            .and_then(|n| u64::try_from(n).ok());
        let hints = Hints::chat(&request.model, &request.messages, num_ctx);
        self.start(origin, request, input, hints)
    }

    /// A traced `/api/generate` call.
    pub(crate) fn generate(
        &self,
        origin: Origin,
        mut request: GenerateRequest,
    ) -> Generation<GenerateRequest> {
        self.settings.apply(
            &request.model,
            &mut request.options,
            &mut request.keep_alive,
        );
        let input = serde_json::Value::from(request.prompt.as_str()).to_string();
        let hints = Hints {
            num_ctx: request
                .options
                .as_ref()
                .and_then(|o| o.num_ctx)
                .and_then(|n| u64::try_from(n).ok()),
            ..Hints::default()
        };
        self.start(origin, request, input, hints)
    }

    /// A traced `/api/embed` call, sent as given (generation defaults are for generations).
    pub(crate) fn embed(&self, origin: Origin, request: EmbedRequest) -> Generation<EmbedRequest> {
        let input = request.input.to_string();
        self.start(origin, request, input, Hints::default())
    }

    fn start<R: Request>(
        &self,
        origin: Origin,
        request: R,
        input: String,
        mut hints: Hints,
    ) -> Generation<R> {
        hints.node = origin.node;
        // Waiting for a slot is fair across keys: the caller's key is its place in line.
        hints.key = origin.api_key.clone();
        let model = request.model().to_owned();
        let trace = self.traces.start(TraceStart {
            endpoint: origin.endpoint,
            model,
            api_key: origin.api_key,
            client_addr: origin.client_addr,
            stream: false,
            input: Some(origin.input.unwrap_or(input)),
        });
        Generation {
            fleet: self.fleet.clone(),
            hints,
            placement: Placement::default(),
            request,
            trace,
            status_of: origin.status_of,
            on_end: None,
        }
    }
}

/// The trace input of a chat: its messages as JSON, images replaced by a marker.
pub(crate) fn messages_input(messages: &[Message]) -> String {
    let shown: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            let mut v = serde_json::to_value(m).unwrap_or_default();
            if let Some(images) = &m.images {
                v["images"] = images
                    .iter()
                    .map(|i| serde_json::Value::from(format!("[image: {} base64 chars]", i.len())))
                    .collect();
            }
            v
        })
        .collect();
    serde_json::Value::from(shown).to_string()
}

/// One traced call, not sent yet: its trace id is known; [`Generation::answer`] or
/// [`Generation::stream`] sends it. Dropping it unsent records a `cancelled` trace.
pub struct Generation<R> {
    fleet: Fleet,
    hints: Hints,
    placement: Placement,
    request: R,
    trace: TraceHandle,
    status_of: Option<fn(&Error) -> u16>,
    on_end: Option<OnEnd>,
}

impl<R: std::fmt::Debug> std::fmt::Debug for Generation<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generation")
            .field("request", &self.request)
            .field("trace", &self.trace.id())
            .finish_non_exhaustive()
    }
}

impl<R> Generation<R> {
    /// The id of its trace (a UUIDv7).
    pub fn trace_id(&self) -> &str {
        self.trace.id()
    }

    /// The request as it will be sent: with the settings' defaults filled in.
    pub fn request(&self) -> &R {
        &self.request
    }

    /// Where it runs, once sent: readable after [`Self::answer`] or [`Self::stream`] took the
    /// generation (for the `X-Ollama-Dash-Node` header).
    pub fn placement(&self) -> Placement {
        self.placement.clone()
    }

    /// Runs `on_end` when the call ends, before the trace is committed.
    pub(crate) fn on_end(mut self, on_end: OnEnd) -> Self {
        self.on_end = Some(on_end);
        self
    }
}

impl<R: Request> Generation<R> {
    /// Sends the request and waits for the whole answer; returns once its trace is durable.
    pub async fn answer(self) -> Result<R::Answer> {
        let Generation {
            fleet,
            hints,
            placement,
            request,
            mut trace,
            status_of,
            on_end,
        } = self;
        let whole = |ollama: OllamaClient, request: Arc<R>| async move {
            R::whole(&ollama, &request).await
        };
        let sent = send(&fleet, &hints, &placement, request, &mut trace, whole).await;
        match sent {
            Ok((answer, _routed)) => {
                answer.record(&mut trace);
                if let Some(on_end) = on_end {
                    on_end(&trace, Ending::Done(&answer.metrics()));
                }
                settle(trace.succeed_committed(200)).await;
                Ok(answer)
            }
            Err(e) => {
                fail(trace, &e, status_of, on_end).await;
                Err(e)
            }
        }
    }
}

impl<R: Streamed> Generation<R>
where
    R::Answer: serde::de::DeserializeOwned + crate::ollama::types::StreamItem,
{
    /// Sends the request streamed: an error before the answer starts is returned (its trace
    /// already durable); after that, the [`Lines`] fill and record the trace.
    pub async fn stream(self) -> Result<Lines<R::Answer>> {
        let Generation {
            fleet,
            hints,
            placement,
            request,
            mut trace,
            status_of,
            on_end,
        } = self;
        trace.set_stream(true);
        let lines = |ollama: OllamaClient, request: Arc<R>| async move {
            R::lines(&ollama, &request).await
        };
        match send(&fleet, &hints, &placement, request, &mut trace, lines).await {
            Ok((lines, routed)) => Ok(Lines::new(lines, trace, on_end, routed)),
            Err(e) => {
                fail(trace, &e, status_of, on_end).await;
                Err(e)
            }
        }
    }
}

/// Where a generation runs: the node and why, once it is sent.
#[derive(Debug, Clone, Default)]
pub struct Placement(Arc<std::sync::Mutex<Option<(String, Reason)>>>);

impl Placement {
    /// The node's name and the routing reason, if it has been sent.
    pub fn get(&self) -> Option<(String, Reason)> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, node: &str, reason: Reason) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((node.to_owned(), reason));
    }
}

/// Routes and sends a call, trying the next node when one is unreachable or failing before
/// its answer starts; the trace learns the node it ran on.
async fn send<R, T, F, Fut>(
    fleet: &Fleet,
    hints: &Hints,
    placement: &Placement,
    request: R,
    trace: &mut TraceHandle,
    call: F,
) -> Result<(T, Routed)>
where
    R: Request,
    F: Fn(OllamaClient, Arc<R>) -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let request = Arc::new(request);
    let mut tried = Vec::new();
    let mut last: Option<Error> = None;
    loop {
        let mut routed = match fleet.route(request.model(), hints, &tried).await {
            Ok(routed) => routed,
            // Every node tried: the last node's own error says more than "none left".
            Err(e) => return Err(last.unwrap_or(e)),
        };
        let node = routed.node().name().to_owned();
        trace.set_route(&node, routed.reason().as_str(), routed.queue_ms());
        placement.set(&node, routed.reason());
        match call(routed.node().client().clone(), Arc::clone(&request)).await {
            Ok(answer) => {
                routed.answered();
                return Ok((answer, routed));
            }
            Err(e) if fleet.failed(&routed, &e) => {
                tracing::warn!(node, error = %e, "node failed before answering; trying the next");
                tried.push(routed.node().id());
                last = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Records a failure before the answer started, with the status the embedder answers.
async fn fail(
    trace: TraceHandle,
    error: &Error,
    status_of: Option<fn(&Error) -> u16>,
    on_end: Option<OnEnd>,
) {
    if let Some(on_end) = on_end {
        on_end(&trace, Ending::Failed);
    }
    let status = status_of.map(|f| f(error));
    settle(trace.fail_committed_with(status, error)).await;
}

/// Waits for a trace's commit, at most [`COMMIT_WAIT`]; a failure is logged, not returned (the
/// answer goes out anyway).
pub async fn settle(commit: TraceCommit) {
    match tokio::time::timeout(COMMIT_WAIT, commit).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "trace not committed before the end of its answer")
        }
        Err(_) => tracing::warn!(
            seconds = COMMIT_WAIT.as_secs(),
            "trace not committed in time; the answer ends without waiting longer"
        ),
    }
}

/// A request [`Generation`] can send whole.
pub trait Request: Send + Sync + 'static {
    /// What Ollama answers.
    type Answer: Traced + Send + 'static;
    /// The model asked for.
    fn model(&self) -> &str;
    /// Sends it, waiting for the whole answer.
    fn whole(
        ollama: &OllamaClient,
        request: &Self,
    ) -> impl Future<Output = Result<Self::Answer>> + Send;
}

/// A request [`Generation`] can also stream.
pub trait Streamed: Request {
    /// Sends it streamed.
    fn lines(
        ollama: &OllamaClient,
        request: &Self,
    ) -> impl Future<Output = Result<NdjsonStream<Self::Answer>>> + Send;
}

impl Request for ChatRequest {
    type Answer = ChatResponse;
    fn model(&self) -> &str {
        &self.model
    }
    async fn whole(ollama: &OllamaClient, request: &Self) -> Result<ChatResponse> {
        ollama.chat(request).await
    }
}

impl Streamed for ChatRequest {
    async fn lines(ollama: &OllamaClient, request: &Self) -> Result<NdjsonStream<ChatResponse>> {
        ollama.chat_stream(request).await
    }
}

impl Request for GenerateRequest {
    type Answer = GenerateResponse;
    fn model(&self) -> &str {
        &self.model
    }
    async fn whole(ollama: &OllamaClient, request: &Self) -> Result<GenerateResponse> {
        ollama.generate(request).await
    }
}

impl Streamed for GenerateRequest {
    async fn lines(
        ollama: &OllamaClient,
        request: &Self,
    ) -> Result<NdjsonStream<GenerateResponse>> {
        ollama.generate_stream(request).await
    }
}

impl Request for EmbedRequest {
    type Answer = EmbedResponse;
    fn model(&self) -> &str {
        &self.model
    }
    async fn whole(ollama: &OllamaClient, request: &Self) -> Result<EmbedResponse> {
        ollama.embed(request).await
    }
}
