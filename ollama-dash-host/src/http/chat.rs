//! The web page's chat: `POST /api/chat` (one prompt, the seed's route) and chat sessions under
//! `/api/sessions` with a streaming send that stores both sides and links the trace.
//!
//! Sessions belong to the key that created them; an admin sees all of them.

use crate::http::json::Path;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use ollama_dash_core::ollama::types::{ChatRequest, ChatResponse, Message, ModelOptions, Think};
use ollama_dash_core::{ChatSession, NewMessage, NewSession, SessionUpdate, TraceHandle};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::caller::Caller;
use super::error::{ApiError, ApiResult};
use super::json::JsonBody;
use super::sse::{self, EVENT_STREAM, Frames, Hold, NDJSON, Step, fail};

/// The chat routes.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/chat", post(chat))
        .route("/api/sessions", get(list).post(create))
        .route("/api/sessions/{id}", get(show).patch(update).delete(delete))
        .route("/api/sessions/{id}/messages", get(messages).post(send))
}

fn keepalive(state: &AppState) -> std::time::Duration {
    std::time::Duration::from_millis(state.dashboard.config().stream_keepalive_ms)
}

// ---- POST /api/chat ----------------------------------------------------------------------

#[derive(Debug, Deserialize)]
struct PromptRequest {
    model: String,
    prompt: String,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    options: Option<ModelOptions>,
}

/// `POST /api/chat {model, prompt, stream}`: one prompt; streamed as NDJSON when `stream`.
async fn chat(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<PromptRequest>,
) -> Response {
    let messages = vec![Message {
        role: "user".into(),
        content: body.prompt.clone(),
        ..Message::default()
    }];
    let input = Value::from(vec![json!({"role": "user", "content": body.prompt})]).to_string();
    let mut trace =
        state
            .dashboard
            .start_trace(caller.trace("/api/chat", &body.model, body.stream, input));
    if body.model.trim().is_empty() {
        return fail(
            trace,
            ApiError::bad_request("model is required").with_param("model"),
        )
        .await;
    }
    let mut request = ChatRequest {
        model: body.model.clone(),
        messages,
        options: body.options,
        ..ChatRequest::default()
    };
    let defaults = state.dashboard.generation_defaults(&body.model).await;
    defaults.apply(&mut request.options, &mut request.keep_alive);
    if !body.stream {
        return match state.dashboard.ollama().chat(&request).await {
            Ok(answer) => {
                record(&mut trace, &answer);
                let body = prompt_line(&answer, trace.id());
                sse::committed(trace.succeed_committed(200)).await;
                Json(body).into_response()
            }
            Err(e) => fail(trace, e.into()).await,
        };
    }
    let frames = PromptFrames {
        trace: Some(trace),
        commit: None,
    };
    let client = state.dashboard.ollama().clone();
    let connect = async move { client.chat_stream(&request).await };
    match sse::open(connect, keepalive(&state), NDJSON, b"\n", frames).await {
        Ok(response) => response,
        Err((e, mut frames)) => match frames.trace.take() {
            Some(trace) => fail(trace, e.into()).await,
            None => ApiError::from(e).into_response(),
        },
    }
}

fn record(trace: &mut TraceHandle, line: &ChatResponse) {
    let m = &line.message;
    trace.push_thinking(m.thinking.as_deref().unwrap_or_default());
    trace.push_output(&m.content);
    trace.push_tool_calls(m.tool_calls.as_deref().unwrap_or_default());
    if line.done {
        trace.set_metrics(&line.metrics);
    }
}

/// A line of `/api/chat`: Ollama's generate shape, with the trace id and counts at the end.
fn prompt_line(line: &ChatResponse, trace_id: &str) -> Value {
    let mut v = json!({ "model": line.model, "response": line.message.content, "done": line.done });
    if let Some(thinking) = line.message.thinking.as_deref().filter(|t| !t.is_empty()) {
        v["thinking"] = thinking.into();
    }
    if line.done {
        v["done_reason"] = json!(line.metrics.done_reason);
        v["trace_id"] = trace_id.into();
        v["prompt_tokens"] = json!(line.metrics.prompt_eval_count.unwrap_or(0));
        v["completion_tokens"] = json!(line.metrics.eval_count.unwrap_or(0));
    }
    v
}

struct PromptFrames {
    trace: Option<TraceHandle>,
    /// The ended trace's commit, which the last line waits for.
    commit: Option<Hold>,
}

impl Frames<ChatResponse> for PromptFrames {
    fn frame(&mut self, step: Step<ChatResponse>) -> Bytes {
        match step {
            Step::End => Bytes::new(),
            Step::Line(Err(e)) => {
                let message = e.to_string();
                if let Some(trace) = self.trace.take() {
                    self.commit = Some(sse::committed(trace.fail_committed(200, &message)));
                }
                sse::line(&json!({ "error": message }))
            }
            Step::Line(Ok(line)) => {
                let Some(trace) = &mut self.trace else {
                    return Bytes::new();
                };
                record(trace, &line);
                let out = sse::line(&prompt_line(&line, trace.id()));
                if line.done
                    && let Some(trace) = self.trace.take()
                {
                    self.commit = Some(sse::committed(trace.succeed_committed(200)));
                }
                out
            }
        }
    }

    fn hold(&mut self) -> Option<Hold> {
        self.commit.take()
    }
}

// ---- /api/sessions -----------------------------------------------------------------------

#[derive(Debug, Default, Deserialize)]
struct SessionBody {
    title: Option<String>,
    model: Option<String>,
    system_prompt: Option<String>,
    options: Option<Value>,
}

/// The session, if this caller may see it (others' sessions are "not found").
async fn owned(state: &AppState, caller: &Caller, id: &str) -> ApiResult<ChatSession> {
    let session = state.dashboard.chat_session(id).await?;
    if caller.owns(session.owner.as_deref()) {
        Ok(session)
    } else {
        Err(ApiError::not_found(format!(
            "chat session {id:?} not found"
        )))
    }
}

/// `GET /api/sessions`: the caller's sessions (all of them for an admin), latest first.
async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Value>> {
    let owner = (caller.role != ollama_dash_core::Role::Admin)
        .then(|| caller.key.clone().unwrap_or_default());
    let sessions = state.dashboard.chat_sessions(owner.as_deref()).await?;
    Ok(Json(json!({ "sessions": sessions })))
}

/// `POST /api/sessions {title?, model?, system_prompt?, options?}`.
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<SessionBody>,
) -> ApiResult<(StatusCode, Json<ChatSession>)> {
    let session = state
        .dashboard
        .create_chat_session(NewSession {
            title: body.title,
            model: body.model,
            system_prompt: body.system_prompt,
            options: body.options,
            owner: caller.key.clone(),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// `GET /api/sessions/{id}`: the session and its messages.
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let session = owned(&state, &caller, &id).await?;
    let messages = state.dashboard.chat_messages(&id).await?;
    Ok(Json(json!({ "session": session, "messages": messages })))
}

/// `PATCH /api/sessions/{id}`: rename, change the model, system prompt or options.
async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SessionBody>,
) -> ApiResult<Json<ChatSession>> {
    owned(&state, &caller, &id).await?;
    let update = SessionUpdate {
        title: body.title,
        model: body.model,
        system_prompt: body.system_prompt,
        options: body.options,
    };
    Ok(Json(
        state.dashboard.update_chat_session(&id, update).await?,
    ))
}

/// `DELETE /api/sessions/{id}`.
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    owned(&state, &caller, &id).await?;
    state.dashboard.delete_chat_session(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/sessions/{id}/messages`.
async fn messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    owned(&state, &caller, &id).await?;
    let messages = state.dashboard.chat_messages(&id).await?;
    Ok(Json(json!({ "messages": messages })))
}

#[derive(Debug, Deserialize)]
struct SendBody {
    content: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    options: Option<Value>,
    #[serde(default)]
    images: Option<Vec<String>>,
    #[serde(default)]
    think: Option<Think>,
    #[serde(default = "yes")]
    stream: bool,
}

fn yes() -> bool {
    true
}

/// `POST /api/sessions/{id}/messages {content, model?, options?, images?, think?, stream?}`:
/// stores the user's message, sends the whole conversation to Ollama and streams the answer as
/// SSE events (`user`, `delta`…, then `done` or `error`); the answer is stored with its trace
/// id, also when the client goes away mid-stream (with what was produced).
async fn send(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SendBody>,
) -> Response {
    match prepare(&state, &caller, &id, body).await {
        Ok(prepared) => prepared.run(&state).await,
        Err(e) => e.into_response(),
    }
}

struct Prepared {
    request: ChatRequest,
    session: String,
    user: ollama_dash_core::ChatMessage,
    options: Option<Value>,
    trace: TraceHandle,
    stream: bool,
}

async fn prepare(
    state: &AppState,
    caller: &Caller,
    id: &str,
    body: SendBody,
) -> ApiResult<Prepared> {
    let session = owned(state, caller, id).await?;
    let model = body
        .model
        .clone()
        .or(session.model.clone())
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("no model: give one or set the session's").with_param("model")
        })?;
    let mut merged = session.options.clone().unwrap_or_else(|| json!({}));
    if let (Some(Value::Object(extra)), Value::Object(base)) = (&body.options, &mut merged) {
        base.extend(extra.clone());
    }
    let options: Option<ModelOptions> = match &merged {
        Value::Object(o) if o.is_empty() => None,
        other => Some(serde_json::from_value(other.clone()).map_err(|e| {
            ApiError::bad_request(format!("invalid options: {e}")).with_param("options")
        })?),
    };
    let history = state.dashboard.chat_messages(id).await?;
    let user = state
        .dashboard
        .add_chat_message(
            id,
            NewMessage {
                role: "user".into(),
                content: body.content.clone(),
                images: body.images.clone(),
                model: Some(model.clone()),
                options: body.options.clone(),
                ..NewMessage::default()
            },
        )
        .await?;
    let mut messages: Vec<Message> = session
        .system_prompt
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| Message {
            role: "system".into(),
            content: s.clone(),
            ..Message::default()
        })
        .collect();
    messages.extend(history.iter().chain([&user]).map(|m| Message {
        role: m.role.clone(),
        content: m.content.clone(),
        thinking: None,
        images: m.images.clone(),
        ..Message::default()
    }));
    let mut request = ChatRequest {
        model: model.clone(),
        messages,
        options,
        think: body.think,
        ..ChatRequest::default()
    };
    let defaults = state.dashboard.generation_defaults(&model).await;
    defaults.apply(&mut request.options, &mut request.keep_alive);
    let input = serde_json::to_string(&json!({ "session": id, "content": body.content }))
        .unwrap_or_default();
    let trace = state.dashboard.start_trace(caller.trace(
        "/api/sessions/messages",
        &model,
        body.stream,
        input,
    ));
    Ok(Prepared {
        request,
        session: id.to_owned(),
        user,
        options: body.options,
        trace,
        stream: body.stream,
    })
}

impl Prepared {
    async fn run(self, state: &AppState) -> Response {
        let mut frames = SessionFrames {
            dashboard: state.dashboard.clone(),
            session: self.session,
            model: self.request.model.clone(),
            options: self.options,
            trace: Some(self.trace),
            thinking: String::new(),
            user: Some(self.user),
            stored: false,
            commit: None,
        };
        if !self.stream {
            let response = match state.dashboard.ollama().chat(&self.request).await {
                Ok(answer) => {
                    let user = frames.user.take();
                    let assistant = frames.finish(&answer);
                    Json(json!({ "user_message": user, "assistant_message": assistant }))
                        .into_response()
                }
                Err(e) => {
                    let error = ApiError::from(e);
                    frames.fail(&error);
                    error.into_response()
                }
            };
            if let Some(commit) = frames.hold() {
                commit.await;
            }
            return response;
        }
        let client = state.dashboard.ollama().clone();
        let request = self.request;
        let connect = async move { client.chat_stream(&request).await };
        match sse::open(
            connect,
            keepalive(state),
            EVENT_STREAM,
            b": keep-alive\n\n",
            frames,
        )
        .await
        {
            Ok(response) => response,
            Err((e, mut frames)) => {
                let error = ApiError::from(e);
                frames.fail(&error);
                if let Some(commit) = frames.hold() {
                    commit.await;
                }
                error.into_response()
            }
        }
    }
}

/// Streams a session's answer and stores it: at the end, on error, or (partial) when dropped.
struct SessionFrames {
    dashboard: ollama_dash_core::Dashboard,
    session: String,
    model: String,
    options: Option<Value>,
    trace: Option<TraceHandle>,
    thinking: String,
    user: Option<ollama_dash_core::ChatMessage>,
    stored: bool,
    /// The ended trace's commit (which also commits the message queued before it), which the
    /// last event waits for.
    commit: Option<Hold>,
}

impl SessionFrames {
    /// Stores the assistant's message (once) and returns it as sent in the `done` event.
    fn store(&mut self, prompt: Option<u64>, completion: Option<u64>) -> Value {
        self.stored = true;
        let (content, trace_id) = match &self.trace {
            Some(t) => (t.output().to_owned(), Some(t.id().to_owned())),
            None => (String::new(), None),
        };
        let message = NewMessage {
            role: "assistant".into(),
            content: content.clone(),
            thinking: Some(self.thinking.clone()),
            model: Some(self.model.clone()),
            options: self.options.clone(),
            trace_id: trace_id.clone(),
            prompt_tokens: prompt,
            completion_tokens: completion,
            ..NewMessage::default()
        };
        self.dashboard.queue_chat_message(&self.session, message);
        json!({
            "role": "assistant", "content": content, "thinking": self.thinking,
            "model": self.model, "trace_id": trace_id,
            "prompt_tokens": prompt, "completion_tokens": completion,
        })
    }

    fn absorb(&mut self, line: &ChatResponse) {
        if let Some(trace) = &mut self.trace {
            record(trace, line);
        }
        self.thinking
            .push_str(line.message.thinking.as_deref().unwrap_or_default());
    }

    fn finish(&mut self, line: &ChatResponse) -> Value {
        self.absorb(line);
        let m = &line.metrics;
        let message = self.store(m.prompt_eval_count, m.eval_count);
        if let Some(trace) = self.trace.take() {
            self.commit = Some(sse::committed(trace.succeed_committed(200)));
        }
        message
    }

    fn fail(&mut self, error: &ApiError) {
        if self.trace.as_ref().is_some_and(|t| !t.output().is_empty()) {
            self.store(None, None);
        }
        self.stored = true;
        if let Some(trace) = self.trace.take() {
            let commit = trace.fail_committed(error.status().as_u16(), error.message());
            self.commit = Some(sse::committed(commit));
        }
    }
}

impl Frames<ChatResponse> for SessionFrames {
    fn frame(&mut self, step: Step<ChatResponse>) -> Bytes {
        let mut out = Vec::new();
        if let Some(user) = self.user.take() {
            out.push(sse::event(&json!({ "type": "user", "message": user })));
        }
        match step {
            Step::End => {}
            Step::Line(Err(e)) => {
                let error = ApiError::from(e);
                self.fail(&error);
                out.push(sse::event(
                    &json!({ "type": "error", "error": error.body()["error"] }),
                ));
            }
            Step::Line(Ok(line)) if line.done => {
                let m = &line.message;
                if !m.content.is_empty() || m.thinking.as_deref().is_some_and(|t| !t.is_empty()) {
                    out.push(sse::event(&json!({
                        "type": "delta", "content": m.content, "thinking": m.thinking,
                    })));
                }
                let trace_id = self.trace.as_ref().map(|t| t.id().to_owned());
                let message = self.finish(&line);
                out.push(sse::event(&json!({
                    "type": "done", "message": message, "trace_id": trace_id,
                    "done_reason": line.metrics.done_reason,
                })));
            }
            Step::Line(Ok(line)) => {
                self.absorb(&line);
                let m = &line.message;
                out.push(sse::event(&json!({
                    "type": "delta", "content": m.content, "thinking": m.thinking,
                })));
            }
        }
        out.concat().into()
    }

    fn hold(&mut self) -> Option<Hold> {
        self.commit.take()
    }
}

impl Drop for SessionFrames {
    fn drop(&mut self) {
        // The client went away mid-answer: keep what was produced.
        if !self.stored && self.trace.as_ref().is_some_and(|t| !t.output().is_empty()) {
            self.store(None, None);
        }
    }
}
