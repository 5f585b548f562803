//! Chat history for the web page: sessions and their messages, each message with the model and
//! options it was sent with and the trace of the generation that answered it.

use rusqlite::{OptionalExtension, Row};
use serde::Serialize;
use serde_json::Value;

use crate::dashboard::now_ms;
use crate::error::{Error, Result};
use crate::generation::{Ending, Generation, Origin};
use crate::ollama::types::{ChatRequest, Message, ModelOptions, Think};

/// A chat session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatSession {
    /// Id (UUIDv7).
    pub id: String,
    /// Title shown in the list.
    pub title: String,
    /// Default model of the session.
    pub model: Option<String>,
    /// System prompt sent first.
    pub system_prompt: Option<String>,
    /// Default generation options (an Ollama `options` object).
    pub options: Option<Value>,
    /// Name of the key that created it.
    pub owner: Option<String>,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// Last change (new message, rename), Unix ms.
    pub updated_at: i64,
}

/// What a new session starts with.
#[derive(Debug, Clone, Default)]
pub struct NewSession {
    /// Title; "New chat" when absent.
    pub title: Option<String>,
    /// Default model.
    pub model: Option<String>,
    /// System prompt.
    pub system_prompt: Option<String>,
    /// Default options.
    pub options: Option<Value>,
    /// Key name of the creator.
    pub owner: Option<String>,
}

/// Changes to a session; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct SessionUpdate {
    /// New title.
    pub title: Option<String>,
    /// New default model.
    pub model: Option<String>,
    /// New system prompt.
    pub system_prompt: Option<String>,
    /// New default options.
    pub options: Option<Value>,
}

/// A stored chat message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChatMessage {
    /// Id, increasing within the store.
    pub id: i64,
    /// Session it belongs to.
    pub session_id: String,
    /// `user`, `assistant`, `system` or `tool`.
    pub role: String,
    /// Text.
    pub content: String,
    /// Reasoning text (assistant).
    pub thinking: Option<String>,
    /// Base64 images (user).
    pub images: Option<Vec<String>>,
    /// Model it was sent to or answered by.
    pub model: Option<String>,
    /// Options it was sent with.
    pub options: Option<Value>,
    /// Trace of the generation (assistant).
    pub trace_id: Option<String>,
    /// Prompt tokens of that generation.
    pub prompt_tokens: Option<u64>,
    /// Generated tokens.
    pub completion_tokens: Option<u64>,
    /// Unix ms.
    pub created_at: i64,
}

/// A message to append to a session.
#[derive(Debug, Clone, Default)]
pub struct NewMessage {
    /// `user`, `assistant`, `system` or `tool`.
    pub role: String,
    /// Text.
    pub content: String,
    /// Reasoning text.
    pub thinking: Option<String>,
    /// Base64 images.
    pub images: Option<Vec<String>>,
    /// Model.
    pub model: Option<String>,
    /// Options.
    pub options: Option<Value>,
    /// Trace id.
    pub trace_id: Option<String>,
    /// Prompt tokens.
    pub prompt_tokens: Option<u64>,
    /// Generated tokens.
    pub completion_tokens: Option<u64>,
}

const SESSION_COLUMNS: &str =
    "id, title, model, system_prompt, options, owner, created_at, updated_at";
const MESSAGE_COLUMNS: &str = "id, session_id, role, content, thinking, images, model, options, \
    trace_id, prompt_tokens, completion_tokens, created_at";

/// The chat service: sessions and messages in the store, and session turns through the
/// generation service.
#[derive(Debug, Clone)]
pub(crate) struct Chats {
    store: crate::store::Store,
    generations: crate::generation::Generations,
}

impl Chats {
    /// The service over these handles.
    pub(crate) fn new(
        store: crate::store::Store,
        generations: crate::generation::Generations,
    ) -> Self {
        Self { store, generations }
    }

    /// Creates a chat session.
    pub(crate) async fn create_chat_session(&self, new: NewSession) -> Result<ChatSession> {
        let now = now_ms();
        let session = ChatSession {
            id: uuid::Uuid::now_v7().to_string(),
            title: checked_title(new.title.as_deref().unwrap_or("New chat"))?,
            model: checked_model(new.model)?,
            system_prompt: new.system_prompt,
            options: checked_options(new.options)?,
            owner: new.owner,
            created_at: now,
            updated_at: now,
        };
        let row = session.clone();
        self.store
            .call(move |c| {
                c.execute(
                    &format!(
                        "INSERT INTO chat_sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                    ),
                    rusqlite::params![
                        row.id,
                        row.title,
                        row.model,
                        row.system_prompt,
                        row.options.as_ref().map(Value::to_string),
                        row.owner,
                        row.created_at,
                        row.updated_at
                    ],
                )
            })
            .await?;
        Ok(session)
    }

    /// Sessions, most recently changed first; only `owner`'s when given.
    pub(crate) async fn chat_sessions(&self, owner: Option<&str>) -> Result<Vec<ChatSession>> {
        let owner = owner.map(str::to_owned);
        self.store
            .call(move |c| {
                let sql = format!(
                    "SELECT {SESSION_COLUMNS} FROM chat_sessions \
                     WHERE ?1 IS NULL OR owner = ?1 ORDER BY updated_at DESC, id DESC"
                );
                let mut st = c.prepare_cached(&sql)?;
                st.query_map([owner], session_row)?.collect()
            })
            .await
    }

    /// One session.
    pub(crate) async fn chat_session(&self, id: &str) -> Result<ChatSession> {
        let owned = id.to_owned();
        self.store
            .call(move |c| {
                let sql = format!("SELECT {SESSION_COLUMNS} FROM chat_sessions WHERE id = ?1");
                c.query_row(&sql, [owned], session_row).optional()
            })
            .await?
            .ok_or_else(|| Error::NotFound(format!("chat session {id:?}")))
    }

    /// Renames a session or changes its defaults.
    pub(crate) async fn update_chat_session(
        &self,
        id: &str,
        update: SessionUpdate,
    ) -> Result<ChatSession> {
        let title = update.title.as_deref().map(checked_title).transpose()?;
        let options = checked_options(update.options)?.map(|v| v.to_string());
        let model = checked_model(update.model)?;
        let owned = id.to_owned();
        let changed = self
            .store
            .call(move |c| {
                c.execute(
                    "UPDATE chat_sessions SET title = coalesce(?2, title), \
                     model = coalesce(?3, model), system_prompt = coalesce(?4, system_prompt), \
                     options = coalesce(?5, options), updated_at = ?6 WHERE id = ?1",
                    rusqlite::params![owned, title, model, update.system_prompt, options, now_ms()],
                )
            })
            .await?;
        if changed == 0 {
            return Err(Error::NotFound(format!("chat session {id:?}")));
        }
        self.chat_session(id).await
    }

    /// Deletes a session and its messages.
    pub(crate) async fn delete_chat_session(&self, id: &str) -> Result<()> {
        let owned = id.to_owned();
        let deleted = self
            .store
            .call(move |c| c.execute("DELETE FROM chat_sessions WHERE id = ?1", [owned]))
            .await?;
        if deleted == 0 {
            return Err(Error::NotFound(format!("chat session {id:?}")));
        }
        Ok(())
    }

    /// The messages of a session, oldest first.
    pub(crate) async fn chat_messages(&self, session_id: &str) -> Result<Vec<ChatMessage>> {
        self.chat_session(session_id).await?;
        let owned = session_id.to_owned();
        self.store
            .call(move |c| {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM chat_messages WHERE session_id = ?1 ORDER BY id"
                );
                let mut st = c.prepare_cached(&sql)?;
                st.query_map([owned], message_row)?.collect()
            })
            .await
    }

    /// Appends a message to a session (and marks the session changed).
    pub(crate) async fn add_chat_message(
        &self,
        session_id: &str,
        m: NewMessage,
    ) -> Result<ChatMessage> {
        if !matches!(m.role.as_str(), "user" | "assistant" | "system" | "tool") {
            return Err(Error::BadRequest(format!(
                "role must be user, assistant, system or tool, not {:?}",
                m.role
            )));
        }
        let options = checked_options(m.options)?;
        let message = ChatMessage {
            id: 0,
            session_id: session_id.to_owned(),
            role: m.role,
            content: m.content,
            thinking: m.thinking.filter(|t| !t.is_empty()),
            images: m.images.filter(|i| !i.is_empty()),
            model: m.model,
            options,
            trace_id: m.trace_id,
            prompt_tokens: m.prompt_tokens,
            completion_tokens: m.completion_tokens,
            created_at: now_ms(),
        };
        let row = message.clone();
        let id = self
            .store
            .call(move |c| {
                let tx = c.transaction()?;
                let touched = tx.execute(
                    "UPDATE chat_sessions SET updated_at = ?2 WHERE id = ?1",
                    (&row.session_id, row.created_at),
                )?;
                if touched == 0 {
                    return Ok(None);
                }
                tx.execute(
                    "INSERT INTO chat_messages (session_id, role, content, thinking, images, model, \
                     options, trace_id, prompt_tokens, completion_tokens, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                    rusqlite::params![
                        row.session_id,
                        row.role,
                        row.content,
                        row.thinking,
                        row.images.as_ref().map(|i| Value::from(i.clone()).to_string()),
                        row.model,
                        row.options.as_ref().map(Value::to_string),
                        row.trace_id,
                        row.prompt_tokens.and_then(|v| i64::try_from(v).ok()),
                        row.completion_tokens.and_then(|v| i64::try_from(v).ok()),
                        row.created_at
                    ],
                )?;
                let id = tx.last_insert_rowid();
                tx.commit()?;
                Ok(Some(id))
            })
            .await?
            .ok_or_else(|| Error::NotFound(format!("chat session {session_id:?}")))?;
        Ok(ChatMessage { id, ..message })
    }
}

fn checked_title(title: &str) -> Result<String> {
    let title = title.trim();
    if title.is_empty() || title.chars().count() > 200 {
        return Err(Error::BadRequest(
            "a session title is 1-200 characters".into(),
        ));
    }
    Ok(title.to_owned())
}

/// Options are an object of Ollama's options with the right types (`temperature` a number…):
/// a session keeps only what every one of its messages can send.
fn checked_options(options: Option<Value>) -> Result<Option<Value>> {
    match options {
        Some(Value::Null) | None => Ok(None),
        Some(v @ Value::Object(_)) => {
            serde_json::from_value::<crate::ollama::types::ModelOptions>(v.clone()).map_err(
                |e| Error::InvalidFields(vec![("options".into(), format!("invalid options: {e}"))]),
            )?;
            Ok(Some(v))
        }
        Some(_) => Err(Error::BadRequest("options must be a JSON object".into())),
    }
}

/// A session's default model follows Ollama's name grammar; empty means none.
fn checked_model(model: Option<String>) -> Result<Option<String>> {
    match model {
        Some(m) if !m.trim().is_empty() => {
            crate::lifecycle::check_name(&m)?;
            Ok(Some(m))
        }
        other => Ok(other),
    }
}

fn json_column(r: &Row<'_>, i: usize) -> rusqlite::Result<Option<Value>> {
    Ok(r.get::<_, Option<String>>(i)?
        .and_then(|s| serde_json::from_str(&s).ok()))
}

fn session_row(r: &Row<'_>) -> rusqlite::Result<ChatSession> {
    Ok(ChatSession {
        id: r.get(0)?,
        title: r.get(1)?,
        model: r.get(2)?,
        system_prompt: r.get(3)?,
        options: json_column(r, 4)?,
        owner: r.get(5)?,
        created_at: r.get(6)?,
        updated_at: r.get(7)?,
    })
}

fn message_row(r: &Row<'_>) -> rusqlite::Result<ChatMessage> {
    let uint = |i| -> rusqlite::Result<Option<u64>> {
        Ok(r.get::<_, Option<i64>>(i)?
            .and_then(|v| u64::try_from(v).ok()))
    };
    Ok(ChatMessage {
        id: r.get(0)?,
        session_id: r.get(1)?,
        role: r.get(2)?,
        content: r.get(3)?,
        thinking: r.get(4)?,
        images: json_column(r, 5)?.and_then(|v| serde_json::from_value(v).ok()),
        model: r.get(6)?,
        options: json_column(r, 7)?,
        trace_id: r.get(8)?,
        prompt_tokens: uint(9)?,
        completion_tokens: uint(10)?,
        created_at: r.get(11)?,
    })
}

impl Chats {
    /// Queues a message for the store's writer without waiting (for stream ends and drops, where
    /// nothing can await); the session is marked changed in the same write.
    pub(crate) fn queue_chat_message(&self, session_id: &str, m: NewMessage) {
        let session_id = session_id.to_owned();
        let images = m
            .images
            .filter(|i| !i.is_empty())
            .map(|i| Value::from(i).to_string());
        let options = m.options.filter(Value::is_object).map(|o| o.to_string());
        let now = now_ms();
        let result = self.store.write_detached(move |c| {
            c.execute(
                "INSERT INTO chat_messages (session_id, role, content, thinking, images, model, \
                 options, trace_id, prompt_tokens, completion_tokens, created_at) \
                 SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11 \
                 WHERE EXISTS (SELECT 1 FROM chat_sessions WHERE id = ?1)",
                rusqlite::params![
                    session_id,
                    m.role,
                    m.content,
                    m.thinking.filter(|t| !t.is_empty()),
                    images,
                    m.model,
                    options,
                    m.trace_id,
                    m.prompt_tokens.and_then(|v| i64::try_from(v).ok()),
                    m.completion_tokens.and_then(|v| i64::try_from(v).ok()),
                    now
                ],
            )?;
            c.execute(
                "UPDATE chat_sessions SET updated_at = ?2 WHERE id = ?1",
                (&session_id, now),
            )
            .map(drop)
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, "chat message not stored: the store is closed");
        }
    }
}

/// What a user sends to a chat session.
#[derive(Debug, Clone, Default)]
pub struct Turn {
    /// The message.
    pub content: String,
    /// Model for this turn; the session's when `None`.
    pub model: Option<String>,
    /// Options for this turn, over the session's.
    pub options: Option<Value>,
    /// Base64 images.
    pub images: Option<Vec<String>>,
    /// Reasoning switch.
    pub think: Option<Think>,
}

/// A turn sent: the user's message (stored) and the generation of the answer, which stores the
/// assistant's message as it ends (with what was produced, on an error or a drop too), in the
/// same commit as its trace.
#[derive(Debug)]
pub struct SessionTurn {
    /// The user's message as stored.
    pub user: ChatMessage,
    /// The answer, not sent yet.
    pub generation: Generation<ChatRequest>,
}

impl Chats {
    /// Stores the user's message and prepares the answer to the whole conversation: the
    /// session's system prompt, its history, the turn, with the session's options under the
    /// turn's. The caller checks that it may use the session.
    pub(crate) async fn send_chat_message(
        &self,
        mut origin: Origin,
        session_id: &str,
        turn: Turn,
    ) -> Result<SessionTurn> {
        let session = self.chat_session(session_id).await?;
        let model = turn
            .model
            .clone()
            .or(session.model.clone())
            .filter(|m| !m.trim().is_empty())
            .ok_or_else(|| {
                Error::invalid_field("model", "no model: give one or set the session's")
            })?;
        let mut merged = session
            .options
            .clone()
            .unwrap_or_else(|| serde_json::json!({}));
        if let (Some(Value::Object(extra)), Value::Object(base)) = (&turn.options, &mut merged) {
            base.extend(extra.clone());
        }
        let options: Option<ModelOptions> =
            match &merged {
                Value::Object(o) if o.is_empty() => None,
                other => Some(serde_json::from_value(other.clone()).map_err(|e| {
                    Error::invalid_field("options", format!("invalid options: {e}"))
                })?),
            };
        let history = self.chat_messages(session_id).await?;
        let user = self
            .add_chat_message(
                session_id,
                NewMessage {
                    role: "user".into(),
                    content: turn.content.clone(),
                    images: turn.images.clone(),
                    model: Some(model.clone()),
                    options: turn.options.clone(),
                    ..NewMessage::default()
                },
            )
            .await?;
        let system = session.system_prompt.iter().filter(|s| !s.is_empty());
        let mut messages: Vec<Message> = system
            .map(|s| Message {
                role: "system".into(),
                content: s.clone(),
                ..Message::default()
            })
            .collect();
        messages.extend(history.iter().chain([&user]).map(|m| Message {
            role: m.role.clone(),
            content: m.content.clone(),
            images: m.images.clone(),
            ..Message::default()
        }));
        let request = ChatRequest {
            model: model.clone(),
            messages,
            options,
            think: turn.think,
            ..ChatRequest::default()
        };
        origin.input =
            Some(serde_json::json!({ "session": session_id, "content": turn.content }).to_string());
        let dashboard = self.clone();
        let session_id = session_id.to_owned();
        let turn_options = turn.options;
        let store_reply = move |trace: &crate::TraceHandle, ending: Ending<'_>| {
            let (prompt_tokens, completion_tokens) = match ending {
                Ending::Done(m) => (m.prompt_eval_count, m.eval_count),
                // Failed or cut off: keep what was produced, if anything.
                _ if trace.output().is_empty() => return,
                _ => (None, None),
            };
            let reply = NewMessage {
                role: "assistant".into(),
                content: trace.output().to_owned(),
                thinking: Some(trace.thinking().to_owned()),
                model: Some(model),
                options: turn_options,
                trace_id: Some(trace.id().to_owned()),
                prompt_tokens,
                completion_tokens,
                ..NewMessage::default()
            };
            dashboard.queue_chat_message(&session_id, reply);
        };
        let generation = self
            .generations
            .chat(origin, request)
            .on_end(Box::new(store_reply));
        Ok(SessionTurn { user, generation })
    }
}
