//! `upload FILE`: a resumable tus upload to the server's `/v1/uploads`, then the import into
//! Ollama that the server starts by itself once every byte is there (the upload names its
//! model), followed to `ready` or `failed`.
//!
//! The upload URL is kept in the client's state file until the upload is complete, so running
//! the same command again after an interrupt (Ctrl-C, a lost connection, a killed process)
//! asks the server for its durable `Upload-Offset` and sends only the rest. Ctrl-C stops at
//! once and says so.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine;
use serde_json::json;

use crate::api::Import;
use crate::client::Client;
use crate::connect::ConnectArgs;
use crate::error::{Error, Result};
use crate::output;
use crate::progress::{Progress, Step};
use crate::state::{self, UploadState};
use crate::target::NodeArgs;

/// Default bytes per tus `PATCH` request.
const DEFAULT_CHUNK: u64 = 8 << 20;

/// Arguments of `upload`.
#[derive(Debug, Clone, clap::Args)]
pub struct UploadArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// A GGUF file (or a ZIP or safetensors the server can import).
    file: PathBuf,
    /// The model to create (default: the file name without its extension).
    #[arg(long)]
    name: Option<String>,
    /// Replace a model of that name if there is one.
    #[arg(long)]
    replace: bool,
    /// The node to import it into (repeat for several, `all` for every node); needed when the
    /// server fronts more than one node.
    #[command(flatten)]
    nodes: NodeArgs,
    /// Bytes per request (each is made durable by the server before it answers).
    #[arg(long, env = "OLLAMA_DASH_UPLOAD_CHUNK", default_value_t = DEFAULT_CHUNK, value_name = "BYTES")]
    chunk_size: u64,
    /// Print the upload (id, URL, where it resumed, bytes sent) and the finished import as JSON.
    #[arg(long)]
    json: bool,
}

/// Attempts at a request the server refused for now (423: the killed run's request still holds
/// the upload; 409: the offset moved).
const RETRIES: u32 = 100;
/// Pause between those attempts.
const RETRY_PAUSE: Duration = Duration::from_millis(200);

/// The model name a file gives when `--name` is not given: its stem, lower-cased.
fn default_name(file: &Path) -> Result<String> {
    file.file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_lowercase)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::Usage(format!("give --name for {}", file.display())))
}

/// tus `Upload-Metadata`: `key base64(value)` pairs.
fn metadata(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{k} {}",
                base64::engine::general_purpose::STANDARD.encode(v)
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Reads `len` bytes of `file` at `offset`.
fn read_at(file: &mut std::fs::File, path: &Path, offset: u64, len: u64) -> Result<Vec<u8>> {
    let what = || format!("reading {}", path.display());
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io(what(), e))?;
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(len)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(what(), e))?;
    if buf.len() as u64 != len {
        return Err(Error::Usage(format!(
            "{} changed while it was being uploaded",
            path.display()
        )));
    }
    Ok(buf)
}

/// `upload`.
pub(crate) async fn upload(args: UploadArgs) -> Result<()> {
    if args.chunk_size == 0 {
        return Err(Error::Usage("--chunk-size must be at least 1".to_owned()));
    }
    let client = args.connect.client()?;
    let path = &args.file;
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path.display().to_string(), e))?;
    if !meta.is_file() {
        return Err(Error::Usage(format!("{} is not a file", path.display())));
    }
    let size = meta.len();
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
    let name = match &args.name {
        Some(name) => name.clone(),
        None => default_name(path)?,
    };
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(&name)
        .to_owned();

    let key = state::key(client.base(), &canonical, size, mtime_ns, &name);
    let mut saved = UploadState::load();
    let mut resumed = None;
    if let Some(location) = saved.get(&key).map(str::to_owned) {
        match client.upload_offset(&location).await? {
            Some(offset) => resumed = Some((location, offset)),
            None => saved.remove(&key)?,
        }
    }
    let (location, resumed_from) = match resumed {
        Some((location, offset)) => {
            output::note(&format!(
                "resuming the upload of {} at byte {offset} of {size}",
                path.display()
            ));
            (location, offset)
        }
        None => {
            let mut pairs = vec![("filename", file_name.as_str()), ("model", name.as_str())];
            if args.replace {
                pairs.push(("replace", "true"));
            }
            // tus metadata carries `nodes` as names separated by commas.
            let nodes = args.nodes.nodes.join(",");
            if !nodes.is_empty() {
                pairs.push(("nodes", nodes.as_str()));
            }
            let location = client.create_upload(size, &metadata(&pairs)).await?;
            saved.set(&key, &location)?;
            (location, 0)
        }
    };

    let sent = send(&client, &args, &location, resumed_from, size).await?;
    saved.remove(&key)?;
    let upload_id = location.rsplit('/').next().unwrap_or_default().to_owned();
    let import = wait_for_import(&client, &upload_id).await?;
    if args.json {
        return output::json(&json!({
            "upload_id": upload_id,
            "upload_url": location,
            "length": size,
            "import": import,
            "resumed_from": resumed_from,
            "bytes_sent": sent,
        }));
    }
    output::line(&format!("imported {} from {}", import.name, path.display()))
}

/// Sends the file from `offset` in chunks; the bytes sent in requests the server acknowledged.
async fn send(
    client: &Client,
    args: &UploadArgs,
    location: &str,
    offset: u64,
    size: u64,
) -> Result<u64> {
    let path = &args.file;
    let mut file =
        std::fs::File::open(path).map_err(|e| Error::io(path.display().to_string(), e))?;
    let mut progress = Progress::new(false);
    let mut offset = offset;
    let mut sent = 0u64;
    let mut retries = 0;
    let mut ctrl_c = super::interrupt();
    while offset < size {
        progress.update(&Step {
            status: "uploading".to_owned(),
            done: offset,
            total: size,
            ..Step::default()
        });
        let len = args.chunk_size.min(size - offset);
        let bytes = read_at(&mut file, path, offset, len)?;
        let appended = tokio::select! {
            appended = client.append_upload(location, offset, bytes) => appended,
            _ = &mut ctrl_c => {
                progress.finish();
                return Err(Error::Interrupted(format!(
                    "upload interrupted at byte {offset} of {size}; run the same command again \
                     to resume"
                )));
            }
        };
        match appended {
            Ok(next) => {
                sent += next.saturating_sub(offset);
                offset = next;
                retries = 0;
            }
            Err(Error::Api {
                status: 409 | 423, ..
            }) if retries < RETRIES => {
                retries += 1;
                tokio::time::sleep(RETRY_PAUSE).await;
                offset = client
                    .upload_offset(location)
                    .await?
                    .ok_or_else(|| Error::Failed("the upload is gone from the server".into()))?;
            }
            Err(e) => return Err(e),
        }
    }
    progress.update(&Step {
        status: "uploaded".to_owned(),
        done: size,
        total: size,
        ..Step::default()
    });
    progress.finish();
    Ok(sent)
}

/// Follows the import of upload `upload_id` until it is `ready` (or fails).
async fn wait_for_import(client: &Client, upload_id: &str) -> Result<Import> {
    let import = client
        .imports()
        .await?
        .into_iter()
        .find(|i| i.upload_id == upload_id)
        .ok_or_else(|| Error::Protocol(format!("no import for upload {upload_id}")))?;
    let mut import = import;
    let mut shown = String::new();
    loop {
        if import.state != shown {
            output::note(&format!("import of {}: {}", import.name, import.state));
            shown.clone_from(&import.state);
        }
        if import.is_finished() {
            break;
        }
        tokio::time::sleep(super::POLL).await;
        import = client.import(&import.id).await?;
    }
    if import.state == "ready" {
        Ok(import)
    } else {
        Err(Error::Failed(format!(
            "the import of {} failed: {}",
            import.name,
            import.error.as_deref().unwrap_or("no reason given")
        )))
    }
}
