//! Imports: an upload becomes an Ollama model over HTTP only (`HEAD`/`POST /api/blobs`, then
//! `/api/create`), with a state machine persisted in SQLite:
//! `uploading → uploaded → validating → importing → ready | failed`.
//!
//! At most `import_concurrency` imports run at once; others wait in `uploaded`. A restart puts
//! interrupted ones back in the queue (blob uploads are skipped for what Ollama already has, and
//! `/api/create` is idempotent).

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::io::AsyncReadExt;
use tokio::sync::{Semaphore, broadcast};

use crate::dashboard::now_ms;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::fleet::{Fleet, Node, Targets};
use crate::live::{Nudger, Probe};
use crate::ollama::types::{CreateRequest, ProgressResponse};
use crate::store::Store;
use crate::uploads::{UploadFiles, UploadInfo, UploadState};
use crate::validate::{self, BlobFile, ModelReport, Prepared, Sniffed};

/// Where an import is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImportState {
    /// Waiting for the upload's bytes.
    Uploading,
    /// Every byte is here; waiting for a turn.
    Uploaded,
    /// Checking what the file holds.
    Validating,
    /// Sending blobs to Ollama and creating the model.
    Importing,
    /// The model exists in Ollama.
    Ready,
    /// It stopped; `error` says why.
    Failed,
}

impl ImportState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Uploading => "uploading",
            Self::Uploaded => "uploaded",
            Self::Validating => "validating",
            Self::Importing => "importing",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Self {
        match s {
            "uploading" => Self::Uploading,
            "uploaded" => Self::Uploaded,
            "validating" => Self::Validating,
            "importing" => Self::Importing,
            "ready" => Self::Ready,
            _ => Self::Failed,
        }
    }

    /// Ready or failed: nothing more will happen.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Ready | Self::Failed)
    }
}

/// How to create the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImportOptions {
    /// Base model for a LoRA adapter (`from` of `/api/create`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base: Option<String>,
    /// Go template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<String>,
    /// System prompt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<String>,
    /// Default options, e.g. `{"num_ctx": 8192}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<serde_json::Map<String, Value>>,
    /// Overwrite a model of the same name (refused otherwise).
    #[serde(default)]
    pub replace: bool,
    /// The nodes to create it on (`nodes`: a name, a list, or `"all"`); needed when there are
    /// several. The blobs go to each node in turn, then `/api/create` there.
    #[serde(default, skip_serializing_if = "Targets::is_default")]
    pub nodes: Targets,
}

/// `POST /v1/models/import`: import upload `upload_id` as model `name`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ImportRequest {
    /// A complete (or still uploading) upload.
    pub upload_id: String,
    /// The model name to create, e.g. `my-llama:q4`.
    pub name: String,
    /// How.
    #[serde(flatten)]
    pub options: ImportOptions,
}

/// The latest progress line of an import (Ollama's create status lines are forwarded as is).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportProgress {
    /// e.g. `uploading blob`, `parsing GGUF`, `writing manifest`, `success`.
    pub status: String,
    /// The blob concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Bytes done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed: Option<u64>,
    /// Bytes in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

impl From<ProgressResponse> for ImportProgress {
    fn from(p: ProgressResponse) -> Self {
        Self {
            status: p.status,
            digest: p.digest,
            completed: p.completed,
            total: p.total,
        }
    }
}

/// An import record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImportInfo {
    /// Server-made id.
    pub id: String,
    /// The upload it imports.
    pub upload_id: String,
    /// The model name it creates.
    pub name: String,
    /// Where it is.
    pub state: ImportState,
    /// Why it failed.
    pub error: Option<String>,
    /// Latest progress.
    pub progress: Option<ImportProgress>,
    /// What validation found.
    pub report: Option<ModelReport>,
    /// How the model is created.
    pub options: ImportOptions,
    /// Unix ms.
    pub created_at: i64,
    /// Unix ms.
    pub updated_at: i64,
}

/// The imports service: the state machine in the store, a queue of at most
/// `import_concurrency` running imports, Ollama over HTTP. Cheap to clone; built from explicit
/// handles, it never sees the facade. Its tasks hold the service, not the dashboard.
#[derive(Debug, Clone)]
pub(crate) struct Imports(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    store: Store,
    events: broadcast::Sender<Event>,
    /// The nodes models are created on.
    fleet: Fleet,
    /// The node the collector watches (its probe is refreshed; another node's own lists are).
    primary: String,
    /// The collector: it learns of a new model before the import says `ready`.
    live: Nudger,
    /// The uploads imported: their rows and files.
    files: UploadFiles,
    /// Bounded concurrency.
    permits: Arc<Semaphore>,
    /// Imports with a running task.
    active: Mutex<HashSet<String>>,
    /// `upload_max_bytes`: the most a ZIP may unpack to.
    max_bytes: u64,
    /// `upload_reserve_bytes`: disk space an extraction leaves free.
    reserve_bytes: u64,
    /// `keep_uploads_after_import`.
    keep_uploads: bool,
}

fn row_to_import(row: &rusqlite::Row<'_>) -> rusqlite::Result<ImportInfo> {
    let json = |col: &str| -> rusqlite::Result<Option<String>> { row.get(col) };
    Ok(ImportInfo {
        id: row.get("id")?,
        upload_id: row
            .get::<_, Option<String>>("upload_id")?
            .unwrap_or_default(),
        name: row.get("model")?,
        state: ImportState::parse(&row.get::<_, String>("state")?),
        error: row.get("error")?,
        progress: json("progress")?.and_then(|p| serde_json::from_str(&p).ok()),
        report: json("report")?.and_then(|p| serde_json::from_str(&p).ok()),
        options: json("request")?
            .and_then(|p| serde_json::from_str(&p).ok())
            .unwrap_or_default(),
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

/// Checks the name of a model to import (the request field `name`) with the library's one
/// check of Ollama's grammar, [`crate::lifecycle::check_named`].
pub(crate) fn check_model_name(name: &str) -> Result<()> {
    crate::lifecycle::check_named("name", name)
}

/// `llama3` and `registry.ollama.ai/library/llama3:latest` both become `llama3:latest`.
fn normalize(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    let name = name.strip_prefix("registry.ollama.ai/").unwrap_or(&name);
    let name = name.strip_prefix("library/").unwrap_or(name);
    match name.rsplit_once(':') {
        Some((_, tag)) if !tag.contains('/') => name.to_owned(),
        _ => format!("{name}:latest"),
    }
}

impl Imports {
    /// The service importing the uploads of `files` into the nodes of `fleet` (`primary` is the
    /// one the collector watches), with the limits of `config`.
    pub(crate) fn new(
        config: &crate::DashboardConfig,
        store: Store,
        events: broadcast::Sender<Event>,
        fleet: Fleet,
        primary: String,
        live: Nudger,
        files: UploadFiles,
    ) -> Self {
        Self(Arc::new(Inner {
            store,
            events,
            fleet,
            primary,
            live,
            files,
            permits: Arc::new(Semaphore::new(config.import_concurrency)),
            active: Mutex::default(),
            max_bytes: config.upload_max_bytes,
            reserve_bytes: config.upload_reserve_bytes,
            keep_uploads: config.keep_uploads_after_import,
        }))
    }

    fn emit(&self, event: Event) {
        let _ = self.0.events.send(event);
    }

    fn store(&self) -> &Store {
        &self.0.store
    }

    /// Claims `id` for a task; false when one already runs it.
    fn claim(&self, id: &str) -> bool {
        self.0
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned())
    }

    fn release(&self, id: &str) {
        self.0
            .active
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }

    /// Starts importing upload `request.upload_id` as model `request.name`.
    ///
    /// Refused before anything is recorded when the name is invalid (400), the upload is
    /// unknown (404) or gone (410), the name exists and `replace` is not set (409), another
    /// import of this upload is under way (409), or the finished file is not what it claims
    /// ([`Error::InvalidModel`], 422). An upload still in progress gets a record in `uploading`
    /// that goes on by itself when the last byte arrives.
    pub(crate) async fn start(&self, request: ImportRequest) -> Result<ImportInfo> {
        check_model_name(&request.name)?;
        let upload = self.0.files.upload(&request.upload_id).await?;
        self.check_name(&request.name, &request.options).await?;
        let busy = self.imports_of(&upload.id).await?;
        if let Some(other) = busy.iter().find(|i| !i.state.is_final()) {
            return Err(Error::Conflict(format!(
                "upload {} is already being imported by import {} ({:?})",
                upload.id, other.id, other.state
            )));
        }
        if upload.state == UploadState::Complete {
            self.precheck(&upload).await?;
        }
        self.create(&upload, request.name, request.options).await
    }

    /// Refuses an invalid model name (400), nodes that are not named when they must be or do
    /// not exist (400), or a name one of those nodes already has unless `replace` (409).
    pub(crate) async fn check_name(&self, name: &str, options: &ImportOptions) -> Result<()> {
        check_model_name(name)?;
        for node in self.0.fleet.targets(&options.nodes, false)? {
            self.refuse_existing_model(&node, name, options.replace)
                .await?;
        }
        Ok(())
    }

    /// A quick look at a complete upload (magic bytes, GGUF header, ZIP directory) that
    /// answers [`Error::InvalidModel`] for a file that is not what it claims.
    pub(crate) async fn inspect(&self, id: &str) -> Result<Option<ModelReport>> {
        let upload = self.0.files.upload(id).await?;
        if upload.state != UploadState::Complete {
            return Err(Error::Conflict(format!("upload {id} is not complete yet")));
        }
        self.precheck(&upload).await
    }

    async fn precheck(&self, upload: &UploadInfo) -> Result<Option<ModelReport>> {
        let paths = self.0.files.paths(&upload.id)?;
        let file = blob_file(upload, &paths);
        let max = self.0.max_bytes;
        tokio::task::spawn_blocking(move || match validate::sniff(&file.path, &file.name)? {
            Sniffed::Gguf => validate::prepare_gguf(file).map(|p| Some(p.report)),
            Sniffed::Zip => validate::archive::check(&file.path, &file.name, max).map(|_| None),
        })
        .await
        .map_err(|e| Error::io("validating", std::io::Error::other(e)))?
    }

    /// An import by id.
    pub(crate) async fn get(&self, id: &str) -> Result<ImportInfo> {
        let key = id.to_owned();
        self.store()
            .call(move |c| {
                c.query_row("SELECT * FROM imports WHERE id = ?1", [key], row_to_import)
                    .optional()
            })
            .await?
            .ok_or_else(|| Error::NotFound(format!("import {id}")))
    }

    /// Every import, newest first.
    pub(crate) async fn list(&self) -> Result<Vec<ImportInfo>> {
        self.store()
            .call(|c| {
                let mut stmt =
                    c.prepare("SELECT * FROM imports ORDER BY created_at DESC, id DESC")?;
                stmt.query_map([], row_to_import)?.collect()
            })
            .await
    }

    async fn imports_of(&self, upload_id: &str) -> Result<Vec<ImportInfo>> {
        let key = upload_id.to_owned();
        self.store()
            .call(move |c| {
                let mut stmt = c.prepare("SELECT * FROM imports WHERE upload_id = ?1")?;
                stmt.query_map([key], row_to_import)?.collect()
            })
            .await
    }

    /// Refuses `name` when `node` already has it, unless `replace`. When the node cannot be
    /// asked, the check is left to the import itself.
    async fn refuse_existing_model(&self, node: &Node, name: &str, replace: bool) -> Result<()> {
        if replace {
            return Ok(());
        }
        match node.client().tags().await {
            Ok(tags) => {
                let wanted = normalize(name);
                let on = match self.0.fleet.nodes().len() {
                    1 => String::new(),
                    _ => format!(" on node {}", node.name()),
                };
                match tags.models.iter().any(|m| normalize(&m.name) == wanted) {
                    true => Err(Error::Conflict(format!(
                        "model {name} already exists{on}; ask to replace it"
                    ))),
                    false => Ok(()),
                }
            }
            Err(e) if e.is_unreachable() => Ok(()),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn create(
        &self,
        upload: &UploadInfo,
        name: String,
        options: ImportOptions,
    ) -> Result<ImportInfo> {
        let now = now_ms();
        let state = match upload.state {
            UploadState::Complete => ImportState::Uploaded,
            _ => ImportState::Uploading,
        };
        let info = ImportInfo {
            id: uuid::Uuid::now_v7().simple().to_string(),
            upload_id: upload.id.clone(),
            name,
            state,
            error: None,
            progress: None,
            report: None,
            options,
            created_at: now,
            updated_at: now,
        };
        let row = info.clone();
        let request = serde_json::to_string(&row.options).unwrap_or_default();
        self.store()
            .call(move |c| {
                c.execute(
                    "INSERT INTO imports (id, upload_id, model, state, request, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                    params![row.id, row.upload_id, row.name, row.state.as_str(), request, row.created_at],
                )
            })
            .await?;
        tracing::info!(
            id = info.id,
            upload = info.upload_id,
            model = info.name,
            "import created"
        );
        self.emit(Event::Import(Box::new(info.clone())));
        if state == ImportState::Uploaded {
            self.enqueue(&info.id);
        }
        Ok(info)
    }

    /// The upload is complete: imports waiting for it move on.
    pub(crate) async fn uploaded(&self, upload_id: &str) -> Result<()> {
        for import in self.imports_of(upload_id).await? {
            if import.state == ImportState::Uploading {
                self.set_state(&import.id, ImportState::Uploaded, None)
                    .await?;
                self.enqueue(&import.id);
            }
        }
        Ok(())
    }

    /// An import is validating or importing this upload (or about to).
    pub(crate) async fn busy_with(&self, upload_id: &str) -> Result<bool> {
        Ok(self.imports_of(upload_id).await?.iter().any(|i| {
            matches!(
                i.state,
                ImportState::Uploaded | ImportState::Validating | ImportState::Importing
            )
        }))
    }

    /// Imports still waiting for a deleted or expired upload fail.
    pub(crate) async fn fail_waiting(&self, upload_id: &str, why: &str) -> Result<()> {
        for import in self.imports_of(upload_id).await? {
            if !import.state.is_final() {
                self.set_state(&import.id, ImportState::Failed, Some(why.to_owned()))
                    .await?;
            }
        }
        Ok(())
    }

    /// After a restart: imports that were queued or running start over.
    pub(crate) async fn requeue(&self) -> Result<()> {
        let ids: Vec<String> = self
            .store()
            .call(|c| {
                let mut stmt = c.prepare(
                    "SELECT id FROM imports WHERE state IN ('uploaded', 'validating', 'importing') ORDER BY created_at",
                )?;
                stmt.query_map([], |r| r.get(0))?.collect()
            })
            .await?;
        for id in ids {
            self.set_state(&id, ImportState::Uploaded, None).await?;
            self.enqueue(&id);
        }
        Ok(())
    }

    async fn update(
        &self,
        id: &str,
        state: ImportState,
        error: Option<String>,
        progress: Option<&ImportProgress>,
        report: Option<&ModelReport>,
    ) -> Result<ImportInfo> {
        let key = id.to_owned();
        let progress = progress.and_then(|p| serde_json::to_string(p).ok());
        let report = report.and_then(|r| serde_json::to_string(r).ok());
        let info = self
            .store()
            .call(move |c| {
                c.execute(
                    "UPDATE imports SET state = ?2, error = COALESCE(?3, error), progress = COALESCE(?4, progress),
                     report = COALESCE(?5, report), updated_at = ?6 WHERE id = ?1",
                    params![key, state.as_str(), error, progress, report, now_ms()],
                )?;
                c.query_row("SELECT * FROM imports WHERE id = ?1", [&key], row_to_import)
            })
            .await?;
        self.emit(Event::Import(Box::new(info.clone())));
        Ok(info)
    }

    async fn set_state(
        &self,
        id: &str,
        state: ImportState,
        error: Option<String>,
    ) -> Result<ImportInfo> {
        self.update(id, state, error, None, None).await
    }

    fn enqueue(&self, id: &str) {
        if !self.claim(id) {
            return;
        }
        let (imports, id) = (self.clone(), id.to_owned());
        tokio::spawn(async move {
            let permits = Arc::clone(&imports.0.permits);
            let Ok(_permit) = permits.acquire_owned().await else {
                return;
            };
            let outcome = imports.run(&id).await;
            if let Err(e) = outcome {
                tracing::warn!(import = id, error = %e, "import failed");
                let _ = imports
                    .set_state(&id, ImportState::Failed, Some(e.to_string()))
                    .await;
            }
            if let Ok(upload) = imports.get(&id).await.map(|i| i.upload_id)
                && let Ok(paths) = imports.0.files.paths(&upload)
            {
                let _ =
                    tokio::task::spawn_blocking(move || crate::uploads::remove_extracted(&paths))
                        .await;
            }
            imports.release(&id);
        });
    }

    async fn run(&self, id: &str) -> Result<()> {
        let import = self.get(id).await?;
        if import.state != ImportState::Uploaded {
            return Ok(());
        }
        let upload = self.0.files.upload(&import.upload_id).await?;
        self.set_state(id, ImportState::Validating, None).await?;
        let prepared = self.prepare(&upload).await?;
        self.update(
            id,
            ImportState::Validating,
            None,
            None,
            Some(&prepared.report),
        )
        .await?;
        if prepared.needs_base() && import.options.base.is_none() {
            return Err(Error::InvalidModel(
                "this is a LoRA adapter: give the base model to apply it to (`base`)".to_owned(),
            ));
        }
        let nodes = self.0.fleet.targets(&import.options.nodes, false)?;
        for node in &nodes {
            self.refuse_existing_model(node, &import.name, import.options.replace)
                .await?;
        }
        self.set_state(id, ImportState::Importing, None).await?;
        for node in &nodes {
            // With several nodes, every status line says which one it is about.
            let on = |status: String| match nodes.len() {
                1 => status,
                _ => format!("{}: {status}", node.name()),
            };
            for blob in prepared.files.iter().chain(&prepared.adapters) {
                self.send_blob(id, node, blob, &on).await?;
            }
            self.create_on(id, node, &import, &prepared, &on).await?;
        }
        // Clean up first, so a client that sees `ready` finds the disk as it will stay.
        let cleanup = match self.0.keep_uploads {
            false => {
                self.0
                    .files
                    .drop_upload(&upload.id, UploadState::Imported)
                    .await
            }
            true => {
                let paths = self.0.files.paths(&upload.id)?;
                tokio::task::spawn_blocking(move || crate::uploads::remove_extracted(&paths))
                    .await
                    .map_err(|e| Error::io("cleaning up", std::io::Error::other(e)))
            }
        };
        if let Err(e) = cleanup {
            tracing::warn!(import = id, error = %e, "cleaning up after an import");
        }
        // The lists learn of the model before anyone is told it is ready.
        for node in &nodes {
            if node.name() == self.0.primary {
                self.0.live.refresh(&[Probe::Installed]).await;
            } else if let Err(e) = self.0.fleet.refresh(node).await {
                tracing::debug!(node = node.name(), error = %e, "refreshing a node's lists failed");
            }
        }
        self.update(id, ImportState::Ready, None, None, None)
            .await?;
        tracing::info!(import = id, model = import.name, "import ready");
        self.emit(Event::ModelsChanged);
        Ok(())
    }

    /// `/api/create` on `node` from the blobs sent there, its status lines as progress.
    async fn create_on(
        &self,
        id: &str,
        node: &Node,
        import: &ImportInfo,
        prepared: &Prepared,
        on: &impl Fn(String) -> String,
    ) -> Result<()> {
        let map = |files: &[BlobFile]| {
            (!files.is_empty()).then(|| {
                files
                    .iter()
                    .map(|f| (f.name.clone(), f.digest()))
                    .collect::<BTreeMap<_, _>>()
            })
        };
        let request = CreateRequest {
            model: import.name.clone(),
            from: import.options.base.clone(),
            files: map(&prepared.files),
            adapters: map(&prepared.adapters),
            template: import.options.template.clone(),
            system: import.options.system.clone(),
            parameters: import.options.parameters.clone(),
            ..CreateRequest::default()
        };
        let mut stream = node.client().create_stream(&request).await?;
        while let Some(line) = stream.next().await {
            let mut progress = ImportProgress::from(line?);
            progress.status = on(progress.status);
            self.update(id, ImportState::Importing, None, Some(&progress), None)
                .await?;
        }
        Ok(())
    }

    /// Validates (and for a ZIP, extracts) a complete upload.
    pub(crate) async fn prepare(&self, upload: &UploadInfo) -> Result<Prepared> {
        let paths = self.0.files.paths(&upload.id)?;
        let mut file = blob_file(upload, &paths);
        let (max, reserve) = (self.0.max_bytes, self.0.reserve_bytes);
        tokio::task::spawn_blocking(move || match validate::sniff(&file.path, &file.name)? {
            Sniffed::Gguf => {
                if !file.name.to_ascii_lowercase().ends_with(".gguf") {
                    file.name = "model.gguf".to_owned();
                }
                validate::prepare_gguf(file)
            }
            Sniffed::Zip => {
                let free = crate::uploads::free_space(&paths.data)
                    .map_err(|e| Error::io("checking free disk space", e))?
                    .saturating_sub(reserve);
                let entries = validate::archive::check(&file.path, &file.name, max.min(free))?;
                let files =
                    validate::archive::extract(&file.path, &file.name, &entries, &paths.extracted)?;
                validate::prepare_extracted(files)
            }
        })
        .await
        .map_err(|e| Error::io("validating", std::io::Error::other(e)))?
    }

    /// `HEAD /api/blobs/…` on `node`, and `POST` it streamed from disk when the node lacks it.
    async fn send_blob(
        &self,
        id: &str,
        node: &Node,
        blob: &BlobFile,
        on: &impl Fn(String) -> String,
    ) -> Result<()> {
        let digest = blob.digest();
        if node.client().blob_exists(&digest).await? {
            let progress = ImportProgress {
                status: on(format!("using existing blob {}", blob.name)),
                digest: Some(digest),
                completed: Some(blob.size),
                total: Some(blob.size),
            };
            self.update(id, ImportState::Importing, None, Some(&progress), None)
                .await?;
            return Ok(());
        }
        let base = self
            .update(
                id,
                ImportState::Importing,
                None,
                Some(&ImportProgress {
                    status: on(format!("uploading blob {}", blob.name)),
                    digest: Some(digest.clone()),
                    completed: Some(0),
                    total: Some(blob.size),
                }),
                None,
            )
            .await?;
        let file = tokio::fs::File::open(&blob.path)
            .await
            .map_err(|e| Error::io(format!("opening {}", blob.name), e))?;
        let sent = Arc::new(AtomicU64::new(0));
        let body = blob_stream(file, Arc::clone(&sent), self.0.events.clone(), base);
        node.client().upload_blob(&digest, blob.size, body).await?;
        let done = ImportProgress {
            status: on(format!("uploaded blob {}", blob.name)),
            digest: Some(digest),
            completed: Some(blob.size),
            total: Some(blob.size),
        };
        self.update(id, ImportState::Importing, None, Some(&done), None)
            .await?;
        Ok(())
    }
}

/// The file of a complete upload, as a blob to send.
fn blob_file(upload: &UploadInfo, paths: &crate::uploads::Paths) -> BlobFile {
    BlobFile {
        name: upload.file_name.clone(),
        path: paths.data.clone(),
        size: upload.length,
        sha256: upload.sha256.clone().unwrap_or_default(),
    }
}

/// Reads a file in 1 MiB pieces for a blob upload, announcing progress about every 1 %.
fn blob_stream(
    file: tokio::fs::File,
    sent: Arc<AtomicU64>,
    events: broadcast::Sender<Event>,
    base: ImportInfo,
) -> impl futures_util::Stream<Item = std::io::Result<Bytes>> + Send + Sync + 'static {
    let total = base
        .progress
        .as_ref()
        .and_then(|p| p.total)
        .unwrap_or(0)
        .max(1);
    let step = (total / 100).max(1 << 20);
    futures_util::stream::try_unfold((file, 0u64), move |(mut file, announced)| {
        let (sent, events, base) = (Arc::clone(&sent), events.clone(), base.clone());
        async move {
            let mut buf = vec![0u8; 1 << 20];
            let n = file.read(&mut buf).await?;
            if n == 0 {
                return Ok(None);
            }
            buf.truncate(n);
            let done = sent.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
            let mut announced = announced;
            if done - announced >= step || done == total {
                announced = done;
                let mut info = base;
                if let Some(p) = &mut info.progress {
                    p.completed = Some(done);
                }
                let _ = events.send(Event::Import(Box::new(info)));
            }
            Ok(Some((Bytes::from(buf), (file, announced))))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_follow_ollamas_grammar() {
        for good in [
            "llama3",
            "my-model:q4_K_M",
            "user/model:v1.0",
            "host.example:5000/ns/m:t",
            "a_b.c",
        ] {
            assert!(check_model_name(good).is_ok(), "{good}");
        }
        for bad in [
            "", "-x", "a/b/c/d", "model:", "../etc", "x y", "m:t/a", "ns/.m",
        ] {
            assert!(check_model_name(bad).is_err(), "{bad}");
        }
        assert_eq!(normalize("Llama3"), "llama3:latest");
        assert_eq!(
            normalize("registry.ollama.ai/library/llama3:8b"),
            "llama3:8b"
        );
    }
}
