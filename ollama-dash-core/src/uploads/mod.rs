//! Resumable uploads: bytes stream to `DATA_PATH/uploads/<id>`, hashed as they arrive, with a
//! checkpoint (offset + SHA-256 midstate) saved only after the data is fsynced.
//!
//! The protocol (tus 1.0, chunked, single request) lives in the host; this is the machinery all
//! of them share. Ids are made here (UUIDv7, 32 hex digits) and checked before any path is built,
//! so nothing a client sends ever names a file. A restart cuts each data file back to its
//! checkpoint and goes on from there; a janitor removes uploads nobody touched for
//! `upload_expiry_secs`.

mod disk;
mod sha;
mod writer;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::Stream;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

pub(crate) use disk::{Paths, free_space, remove_extracted};
pub use writer::Checksum;

use crate::dashboard::now_ms;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::imports::{ImportOptions, Imports};
use crate::store::Store;

/// Directory under `DATA_PATH` that holds uploads.
pub const UPLOADS_DIR: &str = "uploads";

/// Where an upload is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UploadState {
    /// Bytes are still expected.
    Uploading,
    /// Every byte arrived; `sha256` is known.
    Complete,
    /// A successful import consumed it (its file may be gone).
    Imported,
    /// The janitor removed it, or a client terminated it.
    Expired,
}

impl UploadState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Uploading => "uploading",
            Self::Complete => "complete",
            Self::Imported => "imported",
            Self::Expired => "expired",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "uploading" => Self::Uploading,
            "complete" => Self::Complete,
            "imported" => Self::Imported,
            _ => Self::Expired,
        }
    }
}

/// An upload as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UploadInfo {
    /// Server-made id (32 lower-case hex digits).
    pub id: String,
    /// The client's file name, cleaned (display and the name given to Ollama; never a path).
    pub file_name: String,
    /// The model to import it as, when the client said.
    pub model_name: Option<String>,
    /// Declared total length in bytes.
    pub length: u64,
    /// Bytes durably received.
    pub offset: u64,
    /// Hex SHA-256 of the whole file, once complete.
    pub sha256: Option<String>,
    /// Opaque client metadata (tus `Upload-Metadata` pairs, values as sent).
    pub metadata: BTreeMap<String, String>,
    /// Where it is in its life.
    pub state: UploadState,
    /// Creation time, Unix ms.
    pub created_at: i64,
    /// When the janitor removes it unless it is touched again, Unix ms.
    pub expires_at: i64,
}

/// What a client asks for when it starts an upload.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewUpload {
    /// The file's name as the client knows it (cleaned before use).
    pub file_name: String,
    /// Total length in bytes.
    pub length: u64,
    /// Import the finished upload as this model (an import record is made at once).
    pub model_name: Option<String>,
    /// Options for that import.
    pub import: ImportOptions,
    /// Opaque metadata kept and returned as is.
    pub metadata: BTreeMap<String, String>,
}

/// The uploads' rows and files: what imports read and consume. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct UploadFiles(Arc<FilesInner>);

#[derive(Debug)]
struct FilesInner {
    dir: PathBuf,
    store: Store,
    slots: Mutex<HashMap<String, Arc<Slot>>>,
}

/// In-memory companion of an upload being written: one writer at a time, and the durable offset.
#[derive(Debug)]
struct Slot {
    writer: tokio::sync::Mutex<()>,
    durable: Arc<AtomicU64>,
}

impl UploadFiles {
    /// The uploads under `data_path`, their rows in `store`.
    pub(crate) fn new(data_path: &std::path::Path, store: Store) -> Self {
        Self(Arc::new(FilesInner {
            dir: data_path.join(UPLOADS_DIR),
            store,
            slots: Mutex::default(),
        }))
    }

    /// The directory that holds every upload.
    fn dir(&self) -> &std::path::Path {
        &self.0.dir
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Slot>>> {
        self.0.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The files of upload `id`, once `id` is checked to be one of ours.
    pub(crate) fn paths(&self, id: &str) -> Result<Paths> {
        check_id(id)?;
        Ok(Paths::new(self.dir(), id))
    }

    fn slot(&self, id: &str, offset: u64) -> Arc<Slot> {
        let mut slots = self.slots();
        Arc::clone(slots.entry(id.to_owned()).or_insert_with(|| {
            Arc::new(Slot {
                writer: tokio::sync::Mutex::new(()),
                durable: Arc::new(AtomicU64::new(offset)),
            })
        }))
    }

    fn durable(&self, id: &str) -> Option<u64> {
        let slots = self.slots();
        slots.get(id).map(|s| s.durable.load(Ordering::SeqCst))
    }

    /// A request is appending to this upload right now.
    fn writing(&self, id: &str) -> bool {
        let slots = self.slots();
        slots.get(id).is_some_and(|s| s.writer.try_lock().is_err())
    }

    fn forget(&self, id: &str) {
        self.slots().remove(id);
    }

    /// An upload by id, with its durable offset. Expired or consumed ones are
    /// [`Error::Gone`]; unknown ones [`Error::NotFound`].
    pub(crate) async fn upload(&self, id: &str) -> Result<UploadInfo> {
        check_id(id)?;
        let key = id.to_owned();
        let info = self
            .0
            .store
            .call(move |c| {
                c.query_row("SELECT * FROM uploads WHERE id = ?1", [key], row_to_info)
                    .optional()
            })
            .await?
            .ok_or_else(|| Error::NotFound(format!("upload {id}")))?;
        match info.state {
            UploadState::Expired => Err(Error::Gone(format!("upload {id} has expired"))),
            UploadState::Imported => Err(Error::Gone(format!(
                "upload {id} was imported and its file removed"
            ))),
            UploadState::Uploading => Ok(UploadInfo {
                offset: self.durable(id).unwrap_or(info.offset),
                ..info
            }),
            UploadState::Complete => Ok(info),
        }
    }

    /// Marks an upload `state` and removes its files.
    pub(crate) async fn drop_upload(&self, id: &str, state: UploadState) -> Result<()> {
        let paths = self.paths(id)?;
        let slot = self.slot(id, 0);
        let _writer = slot.writer.lock().await;
        let key = id.to_owned();
        self.0
            .store
            .call(move |c| {
                c.execute(
                    "UPDATE uploads SET state = ?2 WHERE id = ?1",
                    params![key, state.as_str()],
                )
            })
            .await?;
        blocking("removing upload files", move || {
            disk::remove(&paths);
            Ok(())
        })
        .await?;
        self.forget(id);
        Ok(())
    }
}

/// Ids are 32 lower-case hex digits; anything else never reaches the filesystem.
fn check_id(id: &str) -> Result<()> {
    let ok = id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    match ok {
        true => Ok(()),
        false => Err(Error::NotFound(format!("upload {id:?}"))),
    }
}

/// Refuses a client file name that is a path or holds control characters (`../x.gguf`,
/// `/etc/passwd`, `C:\models\x.gguf`, `a\0.gguf`) with a 400 on `file_name`: a file name is a
/// base name, and a client sending a path is broken or hostile. Other odd characters are
/// merely replaced by [`clean_file_name`].
fn check_file_name(raw: &str) -> Result<()> {
    let why = if raw.contains(['/', '\\']) {
        "it may not contain / or \\; send the file's base name"
    } else if raw.chars().any(char::is_control) {
        "it may not contain NUL or other control characters"
    } else if raw == "." || raw == ".." {
        "it may not be . or .."
    } else {
        return Ok(());
    };
    Err(Error::InvalidFields(vec![(
        "file_name".to_owned(),
        format!("invalid file name {raw:?}: {why}"),
    )]))
}

/// The client's file name reduced to a safe base name (`[A-Za-z0-9._-]`, at most 128 bytes,
/// never starting with a dot); `upload.bin` when nothing is left.
pub fn clean_file_name(raw: &str) -> String {
    let base = raw.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base
        .chars()
        .map(|c| match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '.' | '_' | '-' => c,
            _ => '_',
        })
        .take(128)
        .collect();
    let cleaned = cleaned.trim_start_matches('.');
    if cleaned.is_empty() {
        "upload.bin".to_owned()
    } else {
        cleaned.to_owned()
    }
}

fn row_to_info(row: &rusqlite::Row<'_>) -> rusqlite::Result<UploadInfo> {
    let metadata: Option<String> = row.get("metadata")?;
    Ok(UploadInfo {
        id: row.get("id")?,
        file_name: row.get("file_name")?,
        model_name: row.get("model_name")?,
        length: row.get::<_, i64>("length")?.max(0) as u64,
        offset: row.get::<_, i64>("offset")?.max(0) as u64,
        sha256: row.get("sha256")?,
        metadata: metadata
            .and_then(|m| serde_json::from_str(&m).ok())
            .unwrap_or_default(),
        state: UploadState::parse(&row.get::<_, String>("state")?),
        created_at: row.get("created_at")?,
        expires_at: row.get::<_, Option<i64>>("expires_at")?.unwrap_or(0),
    })
}

async fn blocking<T: Send + 'static>(
    what: &'static str,
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::io(what, std::io::Error::other(e)))?
        .map_err(|e| Error::io(what, e))
}

/// The uploads service: starts, appends to, completes and expires uploads, and hands complete
/// ones to the imports waiting for them. Cheap to clone; built from explicit handles, it never
/// sees the facade.
#[derive(Debug, Clone)]
pub(crate) struct Uploads(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    files: UploadFiles,
    /// Imports are made, moved on and failed as their uploads come and go.
    imports: Imports,
    store: Store,
    events: broadcast::Sender<Event>,
    /// `upload_max_bytes`.
    max_bytes: u64,
    /// `upload_reserve_bytes`: disk space uploads leave free.
    reserve_bytes: u64,
    /// `upload_expiry_secs`, in milliseconds.
    expiry_ms: i64,
    janitor: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Uploads {
    /// The service over `files`, with the limits of `config`.
    pub(crate) fn new(
        config: &crate::DashboardConfig,
        files: UploadFiles,
        imports: Imports,
        store: Store,
        events: broadcast::Sender<Event>,
    ) -> Self {
        Self(Arc::new(Inner {
            files,
            imports,
            store,
            events,
            max_bytes: config.upload_max_bytes,
            reserve_bytes: config.upload_reserve_bytes,
            expiry_ms: i64::try_from(config.upload_expiry_secs.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            janitor: Mutex::default(),
        }))
    }

    fn emit(&self, event: Event) {
        let _ = self.0.events.send(event);
    }

    fn store(&self) -> &Store {
        &self.0.store
    }

    fn files(&self) -> &UploadFiles {
        &self.0.files
    }

    fn imports(&self) -> &Imports {
        &self.0.imports
    }

    /// Stops the janitor.
    pub(crate) fn shutdown(&self) {
        if let Some(janitor) = self
            .0
            .janitor
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            janitor.abort();
        }
    }

    /// Starts an upload: checks the length against `upload_max_bytes` and the free disk space
    /// (minus `upload_reserve_bytes` and what unfinished uploads still need), creates the empty
    /// file and its checkpoint, and, when a model name is given, an import record waiting for
    /// the bytes. Refuses an existing model name unless `import.replace`.
    pub(crate) async fn create(&self, new: NewUpload) -> Result<UploadInfo> {
        check_file_name(&new.file_name)?;
        let (max_bytes, reserve_bytes) = (self.0.max_bytes, self.0.reserve_bytes);
        if new.length > max_bytes {
            return Err(Error::TooLarge(format!(
                "the upload is {} bytes, over the limit of {max_bytes} bytes (upload_max_bytes)",
                new.length
            )));
        }
        if let Some(name) = &new.model_name {
            self.imports().check_name(name, &new.import).await?;
        }
        let dir = self.files().dir().to_owned();
        let pending: i64 = self
            .store()
            .call(|c| {
                c.query_row(
                    "SELECT COALESCE(SUM(length - offset), 0) FROM uploads WHERE state = 'uploading'",
                    [],
                    |r| r.get(0),
                )
            })
            .await?;
        let probe = dir.clone();
        let free = blocking("checking free disk space", move || {
            std::fs::create_dir_all(&probe)?;
            disk::free_space(&probe)
        })
        .await?;
        let usable = free
            .saturating_sub(reserve_bytes)
            .saturating_sub(pending.max(0) as u64);
        if new.length > usable {
            return Err(Error::TooLarge(format!(
                "not enough disk space: the upload needs {} bytes, {usable} are available \
                 ({free} free, less {reserve_bytes} reserved and {pending} promised to unfinished uploads)",
                new.length
            )));
        }

        let id = uuid::Uuid::now_v7().simple().to_string();
        let paths = self.files().paths(&id)?;
        blocking("creating the upload file", move || disk::create(&paths)).await?;
        let now = now_ms();
        let info = UploadInfo {
            id: id.clone(),
            file_name: clean_file_name(&new.file_name),
            model_name: new.model_name.clone(),
            length: new.length,
            offset: 0,
            sha256: None,
            metadata: new.metadata,
            state: UploadState::Uploading,
            created_at: now,
            expires_at: now.saturating_add(self.0.expiry_ms),
        };
        let row = info.clone();
        let metadata = serde_json::to_string(&row.metadata).unwrap_or_default();
        self.store()
            .call(move |c| {
                c.execute(
                    "INSERT INTO uploads (id, file_name, model_name, length, offset, metadata, state, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, 0, ?5, 'uploading', ?6, ?7)",
                    params![row.id, row.file_name, row.model_name, row.length as i64, metadata, row.created_at, row.expires_at],
                )
            })
            .await?;
        self.files().slot(&id, 0);
        if let Some(name) = new.model_name {
            self.imports().create(&info, name, new.import).await?;
        }
        tracing::info!(
            id,
            length = info.length,
            file = info.file_name,
            "upload created"
        );
        if info.length == 0 {
            return self.complete(&id, disk::Checkpoint::empty()).await;
        }
        Ok(info)
    }

    /// An upload by id, with its durable offset. Expired or consumed ones are
    /// [`Error::Gone`]; unknown ones [`Error::NotFound`].
    pub(crate) async fn get(&self, id: &str) -> Result<UploadInfo> {
        self.files().upload(id).await
    }

    /// Every upload the store knows, newest first (expired ones included, for a while).
    pub(crate) async fn list(&self) -> Result<Vec<UploadInfo>> {
        let mut list: Vec<UploadInfo> = self
            .store()
            .call(|c| {
                let mut stmt =
                    c.prepare("SELECT * FROM uploads ORDER BY created_at DESC, id DESC")?;
                stmt.query_map([], row_to_info)?.collect()
            })
            .await?;
        for info in &mut list {
            if info.state == UploadState::Uploading {
                info.offset = self.files().durable(&info.id).unwrap_or(info.offset);
            }
        }
        Ok(list)
    }

    /// Appends `body` to upload `id` at `offset`, which must equal its current offset
    /// ([`Error::Conflict`] otherwise). At most the bytes left are accepted
    /// ([`Error::TooLarge`] past that). With `checksum` (of the body) the body is kept
    /// only if it all arrived and matches ([`Error::ChecksumMismatch`]); without it, whatever
    /// arrived before a dropped connection is kept. One writer at a time per upload
    /// ([`Error::Locked`] when another is still busy after a few seconds).
    pub(crate) async fn append<S, E>(
        &self,
        id: &str,
        offset: u64,
        body: S,
        checksum: Option<Checksum>,
    ) -> Result<UploadInfo>
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let info = self.get(id).await?;
        let slot = self.files().slot(id, info.offset);
        let _writer = tokio::time::timeout(std::time::Duration::from_secs(5), slot.writer.lock())
            .await
            .map_err(|_| {
                Error::Locked(format!("upload {id} is being written by another request"))
            })?;
        let info = self.get(id).await?; // again, under the lock
        if info.state != UploadState::Uploading {
            return Err(Error::Conflict(format!("upload {id} is already complete")));
        }
        if offset != info.offset {
            return Err(Error::Conflict(format!(
                "offset mismatch: the upload is at byte {}, the request starts at {offset}",
                info.offset
            )));
        }
        let paths = self.files().paths(id)?;
        let start = {
            let p = paths.clone();
            blocking("reading the upload checkpoint", move || disk::restore(&p)).await?
        };
        if start.offset != info.offset {
            slot.durable.store(start.offset, Ordering::SeqCst);
            return Err(Error::Conflict(format!(
                "offset mismatch: the upload is at byte {}, the request starts at {offset}",
                start.offset
            )));
        }
        let room = info.length - start.offset;
        let done = writer::append(
            &paths,
            start,
            room,
            body,
            checksum,
            Arc::clone(&slot.durable),
        )
        .await;
        let offset = done.checkpoint.offset;
        let expires_at = now_ms().saturating_add(self.0.expiry_ms);
        let key = id.to_owned();
        self.store()
            .write(move |c| {
                c.execute(
                    "UPDATE uploads SET offset = ?2, expires_at = ?3 WHERE id = ?1 AND state = 'uploading'",
                    params![key, offset as i64, expires_at],
                )
                .map(drop)
            })
            .await?;
        self.emit(Event::UploadProgress {
            id: id.to_owned(),
            offset,
            length: info.length,
        });
        if let Some(e) = done.error {
            return Err(e);
        }
        if offset == info.length {
            return self.complete(id, done.checkpoint).await;
        }
        Ok(UploadInfo {
            offset,
            expires_at,
            ..info
        })
    }

    async fn complete(&self, id: &str, checkpoint: disk::Checkpoint) -> Result<UploadInfo> {
        let sha = checkpoint.sha.hex();
        let expires_at = now_ms().saturating_add(self.0.expiry_ms);
        let (key, digest) = (id.to_owned(), sha.clone());
        self.store()
            .call(move |c| {
                c.execute(
                    "UPDATE uploads SET state = 'complete', sha256 = ?2, offset = length, expires_at = ?3 WHERE id = ?1",
                    params![key, digest, expires_at],
                )
            })
            .await?;
        self.files().forget(id);
        tracing::info!(id, sha256 = sha, "upload complete");
        self.emit(Event::UploadComplete {
            id: id.to_owned(),
            sha256: sha,
        });
        self.imports().uploaded(id).await?;
        self.get(id).await
    }

    /// Terminates an upload: its files are removed and it answers [`Error::Gone`] from then on.
    /// Refused ([`Error::Conflict`]) while an import is working on it.
    pub(crate) async fn delete(&self, id: &str) -> Result<()> {
        let info = self.get(id).await?;
        if self.imports().busy_with(&info.id).await? {
            return Err(Error::Conflict(format!(
                "upload {id} is being imported; wait for the import to finish"
            )));
        }
        self.files().drop_upload(id, UploadState::Expired).await?;
        self.imports()
            .fail_waiting(id, "the upload was deleted")
            .await
    }

    /// Removes every upload whose expiry is before `now_ms` (Unix ms) and that no import is
    /// working on; returns their ids. The janitor calls this every minute with the current time.
    pub(crate) async fn expire(&self, now_ms: i64) -> Result<Vec<String>> {
        let ids: Vec<String> = self
            .store()
            .call(move |c| {
                let mut stmt = c.prepare(
                    "SELECT id FROM uploads WHERE state IN ('uploading', 'complete') AND expires_at < ?1",
                )?;
                stmt.query_map([now_ms], |r| r.get(0))?.collect()
            })
            .await?;
        let mut removed = Vec::new();
        for id in ids {
            // A request still streaming into it, or an import working on it: not abandoned.
            if self.files().writing(&id) || self.imports().busy_with(&id).await? {
                continue;
            }
            self.files().drop_upload(&id, UploadState::Expired).await?;
            self.imports()
                .fail_waiting(&id, "the upload expired before it was complete")
                .await?;
            tracing::info!(id, "upload expired");
            self.emit(Event::UploadExpired { id: id.clone() });
            removed.push(id);
        }
        Ok(removed)
    }

    /// After a restart: cuts every unfinished upload back to its checkpoint, removes files no
    /// upload owns, requeues interrupted imports, and starts the janitor.
    pub(crate) async fn start(&self) -> Result<()> {
        let unfinished: Vec<String> = self
            .store()
            .call(|c| {
                let mut stmt = c.prepare("SELECT id FROM uploads WHERE state = 'uploading'")?;
                stmt.query_map([], |r| r.get(0))?.collect()
            })
            .await?;
        let live: Vec<String> = self
            .store()
            .call(|c| {
                let mut stmt =
                    c.prepare("SELECT id FROM uploads WHERE state IN ('uploading', 'complete')")?;
                stmt.query_map([], |r| r.get(0))?.collect()
            })
            .await?;
        let dir = self.files().dir().to_owned();
        let restored = blocking("restoring uploads", move || {
            std::fs::create_dir_all(&dir)?;
            let mut restored = Vec::new();
            for id in unfinished {
                if check_id(&id).is_ok() {
                    let checkpoint = disk::restore(&Paths::new(&dir, &id))?;
                    restored.push((id, checkpoint.offset));
                }
            }
            for entry in std::fs::read_dir(&dir)? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                let owner = name.split('.').next().unwrap_or_default();
                if !live.iter().any(|id| id == owner) {
                    tracing::info!(file = name, "removing a file no upload owns");
                    let path = entry.path();
                    let _ = if path.is_dir() {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                }
            }
            Ok(restored)
        })
        .await?;
        for (id, offset) in restored {
            self.files().slot(&id, offset);
            self.store()
                .write(move |c| {
                    c.execute(
                        "UPDATE uploads SET offset = ?2 WHERE id = ?1",
                        params![id, offset as i64],
                    )
                    .map(drop)
                })
                .await?;
        }
        self.imports().requeue().await?;
        // The janitor does not keep the service alive: it ends once the service is dropped.
        let weak = Arc::downgrade(&self.0);
        let janitor = tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(60));
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else {
                    return;
                };
                if let Err(e) = Uploads(inner).expire(now_ms()).await {
                    tracing::warn!(error = %e, "upload janitor");
                }
            }
        });
        *self.0.janitor.lock().unwrap_or_else(|p| p.into_inner()) = Some(janitor);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
