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
use ollama_dash_core::ollama::types::{
    ChatRequest, ChatResponse, KeepAlive, Message, Metrics, ModelOptions, Think,
};
use ollama_dash_core::{
    ChatMessage, ChatSession, NewSession, Regenerate, SessionTurn, SessionUpdate, Turn,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AppState;
use super::caller::Caller;
use super::error::{ApiError, ApiResult};
use super::json::JsonBody;
use super::nodes::with_node;
use super::openapi::JsonObject;
use super::sse::{self, EVENT_STREAM, Frames, NDJSON, Step, fail};

/// The chat routes.
pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/chat", post(chat))
        .route("/api/sessions", get(list).post(create))
        .route("/api/sessions/{id}", get(show).patch(update).delete(delete))
        .route("/api/sessions/{id}/messages", get(messages).post(send))
        .route("/api/sessions/{id}/regenerate", post(regenerate))
        .route("/api/sessions/{id}/branch", post(branch))
}

fn keepalive(state: &AppState) -> std::time::Duration {
    std::time::Duration::from_millis(state.dashboard.config().stream_keepalive_ms)
}

// ---- POST /api/chat ----------------------------------------------------------------------

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct PromptRequest {
    model: String,
    prompt: String,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    #[schema(value_type = Option<serde_json::Value>)]
    options: Option<ModelOptions>,
}

/// `POST /api/chat {model, prompt, stream}`: one prompt; streamed as NDJSON when `stream`.
#[utoipa::path(post, path = "/api/chat", tag = "chat", request_body = PromptRequest, responses((status = 200, description = "`model`, `response`, `done`, then at the end `done_reason`, `trace_id`, `prompt_tokens`, `completion_tokens`; with `stream`, one such line per chunk (NDJSON).", content((JsonObject = "application/json"), (String = "application/x-ndjson")))))]
async fn chat(
    State(state): State<AppState>,
    caller: Caller,
    JsonBody(body): JsonBody<PromptRequest>,
) -> Response {
    if body.model.trim().is_empty() {
        let input = [PromptTurn {
            role: "user",
            content: &body.prompt,
        }];
        let input = serde_json::to_string(&input).unwrap_or_default();
        let start = caller.trace("/api/chat", &body.model, body.stream, input);
        let error = ApiError::bad_request("model is required").with_param("model");
        return fail(state.dashboard.start_trace(start), error).await;
    }
    let request = ChatRequest {
        model: body.model.clone(),
        messages: vec![Message {
            role: "user".into(),
            content: body.prompt,
            ..Message::default()
        }],
        options: body.options,
        ..ChatRequest::default()
    };
    let generation = state.dashboard.chat(caller.origin("/api/chat"), request);
    let placement = generation.placement();
    let trace_id = generation.trace_id().to_owned();
    let response = if body.stream {
        let frames = PromptFrames { trace_id };
        let keepalive = keepalive(&state);
        match sse::open(generation.stream(), keepalive, NDJSON, b"\n", frames).await {
            Ok(response) => response,
            Err((e, _)) => ApiError::from(e).into_response(),
        }
    } else {
        match generation.answer().await {
            Ok(answer) => Json(prompt_line(&answer, &trace_id)).into_response(),
            Err(e) => ApiError::from(e).into_response(),
        }
    };
    with_node(response, &placement)
}

/// The prompt as the trace records its input: one user message.
#[derive(Debug, Serialize)]
struct PromptTurn<'a> {
    role: &'static str,
    content: &'a str,
}

/// A line of `/api/chat`: Ollama's generate shape, with the trace id and counts at the end.
#[derive(Debug, Serialize)]
struct PromptLine<'a> {
    model: &'a str,
    response: &'a str,
    done: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    thinking: Option<&'a str>,
    /// On the last line only.
    #[serde(flatten)]
    end: Option<PromptEnd<'a>>,
}

/// What the last line of `/api/chat` adds.
#[derive(Debug, Serialize)]
struct PromptEnd<'a> {
    /// Null when Ollama gave none.
    done_reason: Option<&'a str>,
    trace_id: &'a str,
    prompt_tokens: u64,
    completion_tokens: u64,
}

/// An upstream failure mid-stream, as `/api/chat`'s last line.
#[derive(Debug, Serialize)]
struct PromptError {
    error: String,
}

fn prompt_line<'a>(line: &'a ChatResponse, trace_id: &'a str) -> PromptLine<'a> {
    let end = line.done.then(|| PromptEnd {
        done_reason: line.metrics.done_reason.as_deref(),
        trace_id,
        prompt_tokens: line.metrics.prompt_eval_count.unwrap_or(0),
        completion_tokens: line.metrics.eval_count.unwrap_or(0),
    });
    PromptLine {
        model: &line.model,
        response: &line.message.content,
        done: line.done,
        thinking: line.message.thinking.as_deref().filter(|t| !t.is_empty()),
        end,
    }
}

/// `/api/chat`'s NDJSON lines.
struct PromptFrames {
    trace_id: String,
}

impl Frames<ChatResponse> for PromptFrames {
    fn frame(&mut self, step: Step<ChatResponse>) -> Bytes {
        match step {
            Step::End => Bytes::new(),
            Step::Line(Err(e)) => sse::line(&PromptError {
                error: e.to_string(),
            }),
            Step::Line(Ok(answer)) => sse::line(&prompt_line(&answer, &self.trace_id)),
        }
    }
}

// ---- /api/sessions -----------------------------------------------------------------------

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
struct SessionBody {
    title: Option<String>,
    model: Option<String>,
    system_prompt: Option<String>,
    options: Option<Value>,
    /// true, false or a level; null clears it (the model's default).
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<serde_json::Value>)]
    think: Option<Option<Think>>,
    /// A duration ("5m") or seconds; null clears it (the settings').
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<serde_json::Value>)]
    keep_alive: Option<Option<KeepAlive>>,
}

/// A field that is there, null included (`Some(None)`); absent is `None` (`serde(default)`).
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
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

/// The answer of `GET /api/sessions`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SessionList {
    /// The caller's sessions (an admin's: all), latest first.
    #[schema(value_type = Vec<Object>)]
    sessions: Vec<ChatSession>,
}

/// A session and the messages of the branch it shows.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct SessionView {
    /// The session.
    #[schema(value_type = Object)]
    session: ChatSession,
    /// The messages of its branch, oldest first.
    #[schema(value_type = Vec<Object>)]
    messages: Vec<ChatMessage>,
}

/// The answer of `GET /api/sessions/{id}/messages`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct MessageList {
    /// The messages of the branch the session shows, oldest first.
    #[schema(value_type = Vec<Object>)]
    messages: Vec<ChatMessage>,
}

/// `GET /api/sessions`: the caller's sessions (all of them for an admin), latest first.
#[utoipa::path(get, path = "/api/sessions", tag = "chat", responses((status = 200, description = "`{\"sessions\": [...]}`: the caller's sessions (an admin's: all), latest first.", body = SessionList)))]
async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<SessionList>> {
    let owner = (caller.role != ollama_dash_core::Role::Admin)
        .then(|| caller.key.clone().unwrap_or_default());
    let sessions = state.dashboard.chat_sessions(owner.as_deref()).await?;
    Ok(Json(SessionList { sessions }))
}

/// `POST /api/sessions {title?, model?, system_prompt?, options?, think?, keep_alive?}`.
#[utoipa::path(post, path = "/api/sessions", tag = "chat", request_body = SessionBody, responses((status = 201, description = "The session.", body = JsonObject)))]
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
            think: body.think.flatten(),
            keep_alive: body.keep_alive.flatten(),
            owner: caller.key.clone(),
        })
        .await?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// `GET /api/sessions/{id}`: the session and the messages of the branch it shows.
#[utoipa::path(get, path = "/api/sessions/{id}", tag = "chat", params(("id" = String, Path, description = "The session's id")), responses((status = 200, description = "`session` and the `messages` of the branch it shows, oldest first; each message has `parent_id` and `siblings` (the ids of the alternatives at its place, itself included: more than one after an edit or a regenerate).", body = SessionView)))]
async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<SessionView>> {
    let session = owned(&state, &caller, &id).await?;
    let messages = state.dashboard.chat_messages(&id).await?;
    Ok(Json(SessionView { session, messages }))
}

/// `PATCH /api/sessions/{id}`: rename, change the model, system prompt, options, `think` or
/// `keep_alive` (each applied to every later turn; null clears `think` and `keep_alive`).
#[utoipa::path(patch, path = "/api/sessions/{id}", tag = "chat", params(("id" = String, Path, description = "The session's id")), request_body = SessionBody, responses((status = 200, description = "The session.", body = JsonObject)))]
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
        think: body.think,
        keep_alive: body.keep_alive,
    };
    Ok(Json(
        state.dashboard.update_chat_session(&id, update).await?,
    ))
}

/// `DELETE /api/sessions/{id}`.
#[utoipa::path(delete, path = "/api/sessions/{id}", tag = "chat", params(("id" = String, Path, description = "The session's id")), responses((status = 204, description = "Deleted.")))]
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
#[utoipa::path(get, path = "/api/sessions/{id}/messages", tag = "chat", params(("id" = String, Path, description = "The session's id")), responses((status = 200, description = "`{\"messages\": [...]}`.", body = MessageList)))]
async fn messages(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<MessageList>> {
    owned(&state, &caller, &id).await?;
    let messages = state.dashboard.chat_messages(&id).await?;
    Ok(Json(MessageList { messages }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct SendBody {
    content: String,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    options: Option<Value>,
    #[serde(default)]
    images: Option<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<serde_json::Value>)]
    think: Option<Think>,
    #[serde(default = "yes")]
    stream: bool,
    /// An earlier user message this one replaces (edit and resend): the new one follows what
    /// that one followed, and the old branch stays (see `POST /api/sessions/{id}/branch`).
    #[serde(default)]
    edit_of: Option<i64>,
}

fn yes() -> bool {
    true
}

/// `POST /api/sessions/{id}/messages {content, model?, options?, images?, think?, stream?,
/// edit_of?}`: stores the user's message, sends the whole conversation to Ollama and streams the
/// answer as SSE events (`user`, `delta`…, then `done` or `error`); the answer is stored with its
/// trace id, also when the client goes away mid-stream (with what was produced). With `edit_of`
/// the message replaces that earlier user message in a new branch.
#[utoipa::path(post, path = "/api/sessions/{id}/messages", tag = "chat", params(("id" = String, Path, description = "The session's id")), request_body = SendBody, responses((status = 200, description = "SSE (`user`, `delta`…, then `done` or `error`); without `stream`, `user_message` and `assistant_message`.", content((JsonObject = "application/json"), (String = "text/event-stream")))))]
async fn send(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<SendBody>,
) -> Response {
    if let Err(e) = owned(&state, &caller, &id).await {
        return e.into_response();
    }
    let turn = Turn {
        content: body.content,
        model: body.model,
        options: body.options,
        images: body.images,
        think: body.think,
        edit_of: body.edit_of,
    };
    let origin = caller.origin("/api/sessions/messages");
    match state.dashboard.send_chat_message(origin, &id, turn).await {
        Ok(turn) => answer(&state, turn, true, body.stream).await,
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct RegenerateBody {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    options: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<serde_json::Value>)]
    think: Option<Think>,
    #[serde(default = "yes")]
    stream: bool,
}

/// `POST /api/sessions/{id}/regenerate {model?, options?, think?, stream?}`: a new answer to the
/// last question of the branch the session shows, streamed like a send (`delta`…, then `done` or
/// `error`; no `user` event); the answer it replaces stays as the other branch.
#[utoipa::path(post, path = "/api/sessions/{id}/regenerate", tag = "chat", params(("id" = String, Path, description = "The session's id")), request_body = RegenerateBody, responses((status = 200, description = "SSE (`delta`…, then `done` or `error`); without `stream`, `user_message` (the question answered again) and `assistant_message`.", content((JsonObject = "application/json"), (String = "text/event-stream"))), (status = 400, description = "The chat has no question to answer again.", body = JsonObject)))]
async fn regenerate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<RegenerateBody>,
) -> Response {
    if let Err(e) = owned(&state, &caller, &id).await {
        return e.into_response();
    }
    let again = Regenerate {
        model: body.model,
        options: body.options,
        think: body.think,
    };
    let origin = caller.origin("/api/sessions/regenerate");
    match state
        .dashboard
        .regenerate_chat_message(origin, &id, again)
        .await
    {
        Ok(turn) => answer(&state, turn, false, body.stream).await,
        Err(e) => ApiError::from(e).into_response(),
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
struct BranchBody {
    /// A message of the session; the branch through it is shown (its newest message last).
    message_id: i64,
}

/// `POST /api/sessions/{id}/branch {message_id}`: shows the branch through that message (e.g.
/// one of a message's `siblings`); answers like `GET /api/sessions/{id}`.
#[utoipa::path(post, path = "/api/sessions/{id}/branch", tag = "chat", params(("id" = String, Path, description = "The session's id")), request_body = BranchBody, responses((status = 200, description = "`session` and the `messages` of the branch now shown.", body = SessionView), (status = 400, description = "No such message in this session.", body = JsonObject)))]
async fn branch(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<BranchBody>,
) -> ApiResult<Json<SessionView>> {
    let session = owned(&state, &caller, &id).await?;
    let messages = state
        .dashboard
        .select_chat_branch(&id, body.message_id)
        .await?;
    Ok(Json(SessionView { session, messages }))
}

/// Streams (or waits for) a session's answer; `user_event` sends the stored user message first.
async fn answer(state: &AppState, turn: SessionTurn, user_event: bool, stream: bool) -> Response {
    let SessionTurn { user, generation } = turn;
    let placement = generation.placement();
    let mut frames = SessionFrames {
        user: user_event.then(|| user.clone()),
        model: generation.request().model.clone(),
        trace_id: generation.trace_id().to_owned(),
        content: String::new(),
        thinking: String::new(),
    };
    let response = if stream {
        let keepalive = keepalive(state);
        let stream = generation.stream();
        match sse::open(stream, keepalive, EVENT_STREAM, b": keep-alive\n\n", frames).await {
            Ok(response) => response,
            Err((e, _)) => ApiError::from(e).into_response(),
        }
    } else {
        match generation.answer().await {
            Ok(answer) => {
                frames.user = None;
                frames.absorb(&answer);
                let whole = WholeTurn {
                    user_message: user,
                    assistant_message: frames.reply(&answer.metrics),
                };
                Json(whole).into_response()
            }
            Err(e) => ApiError::from(e).into_response(),
        }
    };
    with_node(response, &placement)
}

/// A session's answer as SSE events (core stores the reply and records the trace).
struct SessionFrames {
    user: Option<ChatMessage>,
    model: String,
    trace_id: String,
    content: String,
    thinking: String,
}

impl SessionFrames {
    fn absorb(&mut self, line: &ChatResponse) {
        self.content.push_str(&line.message.content);
        self.thinking
            .push_str(line.message.thinking.as_deref().unwrap_or_default());
    }

    /// The assistant's message as stored, for the `done` event.
    fn reply(&self, metrics: &Metrics) -> Reply<'_> {
        Reply {
            role: "assistant",
            content: &self.content,
            thinking: &self.thinking,
            model: &self.model,
            trace_id: &self.trace_id,
            prompt_tokens: metrics.prompt_eval_count,
            completion_tokens: metrics.eval_count,
        }
    }
}

/// A session's answer without `stream`: both sides of the turn.
#[derive(Debug, Serialize)]
struct WholeTurn<'a> {
    user_message: ChatMessage,
    assistant_message: Reply<'a>,
}

/// The assistant's message as stored.
#[derive(Debug, Serialize)]
struct Reply<'a> {
    role: &'static str,
    content: &'a str,
    thinking: &'a str,
    model: &'a str,
    trace_id: &'a str,
    /// Null when Ollama gave no count.
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

/// An SSE event of a session's answer.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum SessionEvent<'a> {
    /// The stored user message (a send, not a regenerate), first.
    User { message: ChatMessage },
    /// Text (and thinking) of the answer so far.
    Delta {
        content: &'a str,
        /// Null when the line had none.
        thinking: Option<&'a str>,
    },
    /// The end: the stored reply.
    Done {
        message: Reply<'a>,
        trace_id: &'a str,
        done_reason: Option<&'a str>,
    },
    /// An upstream failure: the `error` object of the one error shape.
    Error { error: Value },
}

impl Frames<ChatResponse> for SessionFrames {
    fn frame(&mut self, step: Step<ChatResponse>) -> Bytes {
        let mut out = Vec::new();
        if let Some(message) = self.user.take() {
            out.push(sse::event(&SessionEvent::User { message }));
        }
        match step {
            Step::End => {}
            Step::Line(Err(e)) => {
                // The `error` object of error.rs's one table.
                let error = ApiError::from(e).body()["error"].take();
                out.push(sse::event(&SessionEvent::Error { error }));
            }
            Step::Line(Ok(line)) if line.done => {
                let m = &line.message;
                if !m.content.is_empty() || m.thinking.as_deref().is_some_and(|t| !t.is_empty()) {
                    out.push(sse::event(&SessionEvent::Delta {
                        content: &m.content,
                        thinking: m.thinking.as_deref(),
                    }));
                }
                self.absorb(&line);
                out.push(sse::event(&SessionEvent::Done {
                    message: self.reply(&line.metrics),
                    trace_id: &self.trace_id,
                    done_reason: line.metrics.done_reason.as_deref(),
                }));
            }
            Step::Line(Ok(line)) => {
                self.absorb(&line);
                let m = &line.message;
                out.push(sse::event(&SessionEvent::Delta {
                    content: &m.content,
                    thinking: m.thinking.as_deref(),
                }));
            }
        }
        out.concat().into()
    }
}
