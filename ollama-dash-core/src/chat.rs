//! Chat history for the web page: sessions and their messages, each message with the model and
//! options it was sent with and the trace of the generation that answered it.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, Row};
use serde::Serialize;
use serde_json::Value;

use crate::dashboard::now_ms;
use crate::error::{Error, Result};
use crate::generation::{Ending, Generation, Origin};
use crate::ollama::types::{ChatRequest, KeepAlive, Message, ModelOptions, Think};

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
    /// Reasoning switch of its turns (true, false or a level); `None`: the model's default.
    pub think: Option<Think>,
    /// How long the model stays loaded after each turn; `None`: the settings'.
    pub keep_alive: Option<KeepAlive>,
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
    /// Reasoning switch.
    pub think: Option<Think>,
    /// Keep-alive of its turns.
    pub keep_alive: Option<KeepAlive>,
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
    /// New reasoning switch; `Some(None)` clears it (the model's default).
    pub think: Option<Option<Think>>,
    /// New keep-alive; `Some(None)` clears it (the settings').
    pub keep_alive: Option<Option<KeepAlive>>,
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
    /// The message it follows (`None` for a session's first message): a session's messages form
    /// a tree, and an edited question or a regenerated answer is a sibling of the one it replaces.
    pub parent_id: Option<i64>,
    /// The alternatives at this point of the conversation (every message following the same
    /// message, this one included), oldest first; more than one after an edit or a regenerate.
    pub siblings: Vec<i64>,
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
    "id, title, model, system_prompt, options, owner, created_at, updated_at, think, keep_alive";
const MESSAGE_COLUMNS: &str = "id, session_id, role, content, thinking, images, model, options, \
    trace_id, prompt_tokens, completion_tokens, created_at, parent_id";

/// Where a new message goes in a session's tree.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// After the last message of the branch the session shows.
    AfterHead,
    /// After this message (`None`: a new first message).
    Under(Option<i64>),
}

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
            think: checked_think(new.think)?,
            keep_alive: checked_keep_alive(new.keep_alive)?,
            owner: new.owner,
            created_at: now,
            updated_at: now,
        };
        let row = session.clone();
        self.store
            .call(move |c| {
                c.execute(
                    &format!(
                        "INSERT INTO chat_sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
                    ),
                    rusqlite::params![
                        row.id,
                        row.title,
                        row.model,
                        row.system_prompt,
                        row.options.as_ref().map(Value::to_string),
                        row.owner,
                        row.created_at,
                        row.updated_at,
                        json_text(row.think.as_ref()),
                        json_text(row.keep_alive.as_ref())
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
        // (whether to set it, the JSON text or NULL)
        let think = match update.think {
            Some(t) => (true, json_text(checked_think(t)?.as_ref())),
            None => (false, None),
        };
        let keep_alive = match update.keep_alive {
            Some(k) => (true, json_text(checked_keep_alive(k)?.as_ref())),
            None => (false, None),
        };
        let owned = id.to_owned();
        let changed = self
            .store
            .call(move |c| {
                c.execute(
                    "UPDATE chat_sessions SET title = coalesce(?2, title), \
                     model = coalesce(?3, model), system_prompt = coalesce(?4, system_prompt), \
                     options = coalesce(?5, options), updated_at = ?6, \
                     think = CASE WHEN ?7 THEN ?8 ELSE think END, \
                     keep_alive = CASE WHEN ?9 THEN ?10 ELSE keep_alive END WHERE id = ?1",
                    rusqlite::params![
                        owned,
                        title,
                        model,
                        update.system_prompt,
                        options,
                        now_ms(),
                        think.0,
                        think.1,
                        keep_alive.0,
                        keep_alive.1
                    ],
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

    /// The messages of the branch a session shows, oldest first.
    pub(crate) async fn chat_messages(&self, session_id: &str) -> Result<Vec<ChatMessage>> {
        let (all, head) = self.message_tree(session_id).await?;
        Ok(thread(&all, head))
    }

    /// Every message of a session (all branches, by id) and the last message of the branch it
    /// shows.
    async fn message_tree(&self, session_id: &str) -> Result<(Vec<ChatMessage>, Option<i64>)> {
        let owned = session_id.to_owned();
        let (all, head) = self
            .store
            .call(move |c| {
                let head: Option<Option<i64>> = c
                    .query_row(
                        "SELECT head_id FROM chat_sessions WHERE id = ?1",
                        [&owned],
                        |r| r.get(0),
                    )
                    .optional()?;
                let Some(head) = head else {
                    return Ok(None);
                };
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM chat_messages WHERE session_id = ?1 ORDER BY id"
                );
                let mut st = c.prepare_cached(&sql)?;
                let all = st
                    .query_map([&owned], message_row)?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                Ok(Some((all, head)))
            })
            .await?
            .ok_or_else(|| Error::NotFound(format!("chat session {session_id:?}")))?;
        // A head that is gone (or never set) shows the newest message's branch.
        let head = head
            .filter(|h| all.iter().any(|m| m.id == *h))
            .or_else(|| all.last().map(|m| m.id));
        Ok((all, head))
    }

    /// Shows the branch through `message_id`: the session's head becomes the newest message at
    /// or below it. Returns the messages of that branch.
    pub(crate) async fn select_chat_branch(
        &self,
        session_id: &str,
        message_id: i64,
    ) -> Result<Vec<ChatMessage>> {
        let owned = session_id.to_owned();
        let found = self
            .store
            .call(move |c| {
                let tx = c.transaction()?;
                let known = tx
                    .query_row(
                        "SELECT 1 FROM chat_messages WHERE id = ?2 AND session_id = ?1",
                        rusqlite::params![owned, message_id],
                        |_| Ok(()),
                    )
                    .optional()?;
                if known.is_none() {
                    return Ok(false);
                }
                // Ids grow, so the newest message below `message_id` is a leaf.
                let leaf: i64 = tx.query_row(
                    "WITH RECURSIVE below(id) AS (SELECT ?1 UNION ALL \
                     SELECT m.id FROM chat_messages m JOIN below ON m.parent_id = below.id) \
                     SELECT max(id) FROM below",
                    [message_id],
                    |r| r.get(0),
                )?;
                tx.execute(
                    "UPDATE chat_sessions SET head_id = ?2 WHERE id = ?1",
                    rusqlite::params![owned, leaf],
                )?;
                tx.commit()?;
                Ok(true)
            })
            .await?;
        if !found {
            self.chat_session(session_id).await?;
            return Err(Error::invalid_field(
                "message_id",
                format!("no message {message_id} in this session"),
            ));
        }
        self.chat_messages(session_id).await
    }

    /// Appends a message to the branch a session shows (and marks the session changed).
    pub(crate) async fn add_chat_message(
        &self,
        session_id: &str,
        m: NewMessage,
    ) -> Result<ChatMessage> {
        self.insert_message(session_id, m, Place::AfterHead).await
    }

    /// Stores a message at `place`; it becomes the session's head.
    async fn insert_message(
        &self,
        session_id: &str,
        m: NewMessage,
        place: Place,
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
            parent_id: None,
            siblings: Vec::new(),
        };
        let row = message.clone();
        let (id, parent_id) = self
            .store
            .call(move |c| {
                let tx = c.transaction()?;
                let head: Option<Option<i64>> = tx
                    .query_row(
                        "SELECT head_id FROM chat_sessions WHERE id = ?1",
                        [&row.session_id],
                        |r| r.get(0),
                    )
                    .optional()?;
                let Some(head) = head else {
                    return Ok(None);
                };
                let parent = match place {
                    Place::AfterHead => head,
                    Place::Under(parent) => parent,
                };
                tx.execute(
                    "INSERT INTO chat_messages (session_id, role, content, thinking, images, model, \
                     options, trace_id, prompt_tokens, completion_tokens, created_at, parent_id) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
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
                        row.created_at,
                        parent
                    ],
                )?;
                let id = tx.last_insert_rowid();
                tx.execute(
                    "UPDATE chat_sessions SET updated_at = ?2, head_id = ?3 WHERE id = ?1",
                    rusqlite::params![row.session_id, row.created_at, id],
                )?;
                tx.commit()?;
                Ok(Some((id, parent)))
            })
            .await?
            .ok_or_else(|| Error::NotFound(format!("chat session {session_id:?}")))?;
        Ok(ChatMessage {
            id,
            parent_id,
            siblings: vec![id],
            ..message
        })
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

/// A reasoning level is one Ollama knows.
fn checked_think(think: Option<Think>) -> Result<Option<Think>> {
    match &think {
        Some(Think::Level(level))
            if !matches!(level.as_str(), "low" | "medium" | "high" | "max") =>
        {
            Err(Error::invalid_field(
                "think",
                format!("think is true, false or a level (low, medium, high, max), not {level:?}"),
            ))
        }
        _ => Ok(think),
    }
}

/// A keep-alive string is a duration Ollama reads ("5m", "1h30m", "-1").
fn checked_keep_alive(keep_alive: Option<KeepAlive>) -> Result<Option<KeepAlive>> {
    if let Some(KeepAlive::Duration(raw)) = &keep_alive {
        crate::settings::parse_keep_alive(raw)
            .map_err(|m| Error::invalid_field("keep_alive", m))?;
    }
    Ok(keep_alive)
}

/// A value as the JSON text of a column.
fn json_text<T: Serialize>(value: Option<&T>) -> Option<String> {
    value.and_then(|v| serde_json::to_string(v).ok())
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
        think: json_column(r, 8)?.and_then(|v| serde_json::from_value(v).ok()),
        keep_alive: json_column(r, 9)?.and_then(|v| serde_json::from_value(v).ok()),
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
        parent_id: r.get(12)?,
        siblings: Vec::new(),
    })
}

/// The branch ending at `leaf` (none: empty), oldest first, each message with its siblings.
fn thread(all: &[ChatMessage], leaf: Option<i64>) -> Vec<ChatMessage> {
    let by_id: HashMap<i64, &ChatMessage> = all.iter().map(|m| (m.id, m)).collect();
    let mut children: HashMap<Option<i64>, Vec<i64>> = HashMap::new();
    for m in all {
        children.entry(m.parent_id).or_default().push(m.id);
    }
    let mut path = Vec::new();
    let mut next = leaf;
    // A parent always has a smaller id, so the walk ends; the length check guards bad rows.
    while let Some(m) = next.and_then(|id| by_id.get(&id)) {
        if path.len() > all.len() {
            break;
        }
        let mut m = (*m).clone();
        m.siblings = children.get(&m.parent_id).cloned().unwrap_or_default();
        next = m.parent_id;
        path.push(m);
    }
    path.reverse();
    path
}

impl Chats {
    /// Queues a message for the store's writer without waiting (for stream ends and drops, where
    /// nothing can await); the session is marked changed in the same write.
    pub(crate) fn queue_chat_message(&self, session_id: &str, m: NewMessage) {
        self.queue_message(session_id, m, Place::AfterHead);
    }

    /// Queues a message at `place`; it becomes the session's head.
    fn queue_message(&self, session_id: &str, m: NewMessage, place: Place) {
        let session_id = session_id.to_owned();
        let images = m
            .images
            .filter(|i| !i.is_empty())
            .map(|i| Value::from(i).to_string());
        let options = m.options.filter(Value::is_object).map(|o| o.to_string());
        let now = now_ms();
        let result = self.store.write_detached(move |c| {
            let head: Option<Option<i64>> = c
                .query_row(
                    "SELECT head_id FROM chat_sessions WHERE id = ?1",
                    [&session_id],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(head) = head else {
                return Ok(()); // the session was deleted meanwhile
            };
            let parent = match place {
                Place::AfterHead => head,
                Place::Under(parent) => parent,
            };
            c.execute(
                "INSERT INTO chat_messages (session_id, role, content, thinking, images, model, \
                 options, trace_id, prompt_tokens, completion_tokens, created_at, parent_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
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
                    now,
                    parent
                ],
            )?;
            c.execute(
                "UPDATE chat_sessions SET updated_at = ?2, head_id = ?3 WHERE id = ?1",
                rusqlite::params![session_id, now, c.last_insert_rowid()],
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
    /// An earlier user message this one replaces (edit and resend): the new message follows
    /// what that one followed, and the old one stays as the other branch.
    pub edit_of: Option<i64>,
}

/// A new answer to the last question of the branch a session shows; the answer it replaces
/// stays as the other branch.
#[derive(Debug, Clone, Default)]
pub struct Regenerate {
    /// Model; the session's when `None`.
    pub model: Option<String>,
    /// Options, over the session's.
    pub options: Option<Value>,
    /// Reasoning switch.
    pub think: Option<Think>,
}

/// A turn sent: the user's message (stored) and the generation of the answer, which stores the
/// assistant's message as it ends (with what was produced, on an error or a drop too), in the
/// same commit as its trace.
#[derive(Debug)]
pub struct SessionTurn {
    /// The user's message as stored (for a regenerate, the question answered again).
    pub user: ChatMessage,
    /// The answer, not sent yet.
    pub generation: Generation<ChatRequest>,
}

/// What one answer in a session is asked with.
struct Ask {
    model: String,
    options: Option<Value>,
    think: Option<Think>,
}

impl Chats {
    /// Stores the user's message and prepares the answer to the whole conversation: the
    /// session's system prompt, the branch it follows, the turn, with the session's options under
    /// the turn's. The caller checks that it may use the session.
    pub(crate) async fn send_chat_message(
        &self,
        mut origin: Origin,
        session_id: &str,
        turn: Turn,
    ) -> Result<SessionTurn> {
        let session = self.chat_session(session_id).await?;
        let model = session_model(&session, turn.model.clone())?;
        merged_options(&session, turn.options.as_ref())?;
        let (all, head) = self.message_tree(session_id).await?;
        let parent = match turn.edit_of {
            None => head,
            Some(id) => {
                let edited = all.iter().find(|m| m.id == id).ok_or_else(|| {
                    Error::invalid_field("edit_of", format!("no message {id} in this session"))
                })?;
                if edited.role != "user" {
                    return Err(Error::invalid_field(
                        "edit_of",
                        "only a user message can be edited",
                    ));
                }
                edited.parent_id
            }
        };
        let mut conversation = thread(&all, parent);
        let user = self
            .insert_message(
                session_id,
                NewMessage {
                    role: "user".into(),
                    content: turn.content.clone(),
                    images: turn.images.clone(),
                    model: Some(model.clone()),
                    options: turn.options.clone(),
                    ..NewMessage::default()
                },
                Place::Under(parent),
            )
            .await?;
        conversation.push(user.clone());
        let mut input = serde_json::json!({ "session": session_id, "content": turn.content });
        if let Some(id) = turn.edit_of {
            input["edit_of"] = id.into();
        }
        origin.input = Some(input.to_string());
        let ask = Ask {
            model,
            options: turn.options,
            think: turn.think,
        };
        let generation = self.answer(origin, &session, &conversation, user.id, ask)?;
        Ok(SessionTurn { user, generation })
    }

    /// Prepares a new answer to the last user message of the branch the session shows (the one
    /// the last answer, if any, replied to). The caller checks that it may use the session.
    pub(crate) async fn regenerate_chat_message(
        &self,
        mut origin: Origin,
        session_id: &str,
        again: Regenerate,
    ) -> Result<SessionTurn> {
        let session = self.chat_session(session_id).await?;
        let model = session_model(&session, again.model.clone())?;
        let (all, head) = self.message_tree(session_id).await?;
        let mut conversation = thread(&all, head);
        let asked = conversation
            .iter()
            .rposition(|m| m.role == "user")
            .ok_or_else(|| {
                Error::BadRequest("nothing to regenerate: the chat has no question yet".into())
            })?;
        conversation.truncate(asked + 1);
        let user = conversation[asked].clone();
        origin.input = Some(
            serde_json::json!({ "session": session_id, "content": user.content, "regenerate": true })
                .to_string(),
        );
        let ask = Ask {
            model,
            options: again.options,
            think: again.think,
        };
        let generation = self.answer(origin, &session, &conversation, user.id, ask)?;
        Ok(SessionTurn { user, generation })
    }

    /// The generation answering `conversation` (which ends with the user's message `asked`);
    /// it stores the reply under that message as it ends.
    fn answer(
        &self,
        origin: Origin,
        session: &ChatSession,
        conversation: &[ChatMessage],
        asked: i64,
        ask: Ask,
    ) -> Result<Generation<ChatRequest>> {
        let options = merged_options(session, ask.options.as_ref())?;
        let system = session.system_prompt.iter().filter(|s| !s.is_empty());
        let mut messages: Vec<Message> = system
            .map(|s| Message {
                role: "system".into(),
                content: s.clone(),
                ..Message::default()
            })
            .collect();
        messages.extend(conversation.iter().map(|m| Message {
            role: m.role.clone(),
            content: m.content.clone(),
            images: m.images.clone(),
            ..Message::default()
        }));
        let request = ChatRequest {
            model: ask.model.clone(),
            messages,
            options,
            think: ask.think.or_else(|| session.think.clone()),
            keep_alive: session.keep_alive.clone(),
            ..ChatRequest::default()
        };
        let chats = self.clone();
        let session_id = session.id.clone();
        let (model, turn_options) = (ask.model, ask.options);
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
            chats.queue_message(&session_id, reply, Place::Under(Some(asked)));
        };
        Ok(self
            .generations
            .chat(origin, request)
            .on_end(Box::new(store_reply)))
    }
}

/// The model of a turn: the turn's, else the session's.
fn session_model(session: &ChatSession, model: Option<String>) -> Result<String> {
    model
        .or(session.model.clone())
        .filter(|m| !m.trim().is_empty())
        .ok_or_else(|| Error::invalid_field("model", "no model: give one or set the session's"))
}

/// The session's options with a turn's over them.
fn merged_options(session: &ChatSession, turn: Option<&Value>) -> Result<Option<ModelOptions>> {
    let mut merged = session
        .options
        .clone()
        .unwrap_or_else(|| serde_json::json!({}));
    if let (Some(Value::Object(extra)), Value::Object(base)) = (turn, &mut merged) {
        base.extend(extra.clone());
    }
    match &merged {
        Value::Object(o) if o.is_empty() => Ok(None),
        other => Ok(Some(serde_json::from_value(other.clone()).map_err(
            |e| Error::invalid_field("options", format!("invalid options: {e}")),
        )?)),
    }
}
