//! Appending a request body to an upload: streamed, hashed as it arrives, checkpointed.
//!
//! The async side reads the body and hands each piece to a blocking writer over a small bounded
//! channel, so at most `CHANNEL_DEPTH` pieces plus one write buffer are in memory whatever the
//! file size, and network reads overlap disk writes and hashing. Every `CHECKPOINT_EVERY` bytes
//! (and at the end) the writer fsyncs the data and only then saves the checkpoint, so the offset
//! ever reported is never past what is durably written.

use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::disk::{self, Checkpoint, Paths};
use crate::error::Error;

/// Bytes between two checkpoints while a long request streams in.
const CHECKPOINT_EVERY: u64 = 64 << 20;
/// Body pieces queued between the network reader and the disk writer.
const CHANNEL_DEPTH: usize = 16;
/// Write buffer of the disk writer.
const WRITE_BUFFER: usize = 1 << 20;

/// What one append did.
#[derive(Debug)]
pub(crate) struct Appended {
    /// The durable state after it (equal to the start when it was rolled back).
    pub(crate) checkpoint: Checkpoint,
    /// Why it stopped early, if it did.
    pub(crate) error: Option<Error>,
}

struct WriterDone {
    checkpoint: Checkpoint,
    chunk_digest: Vec<u8>,
}

/// A checksum a client sent for one request body (tus `Upload-Checksum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checksum {
    /// SHA-1 (the algorithm every tus server must support).
    Sha1([u8; 20]),
    /// SHA-256.
    Sha256([u8; 32]),
}

impl Checksum {
    fn bytes(&self) -> &[u8] {
        match self {
            Self::Sha1(d) => d,
            Self::Sha256(d) => d,
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Self::Sha1(_) => "sha1",
            Self::Sha256(_) => "sha256",
        }
    }
}

enum ChunkHasher {
    Sha1(sha1::Sha1),
    Sha256(Sha256),
}

impl ChunkHasher {
    fn new(checksum: &Checksum) -> Self {
        match checksum {
            Checksum::Sha1(_) => Self::Sha1(sha1::Sha1::new()),
            Checksum::Sha256(_) => Self::Sha256(Sha256::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha1(h) => h.update(bytes),
            Self::Sha256(h) => h.update(bytes),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Self::Sha1(h) => h.finalize().to_vec(),
            Self::Sha256(h) => h.finalize().to_vec(),
        }
    }
}

/// Appends `body` at `start.offset`, accepting at most `limit` bytes. With `checksum` (what the
/// client announced for this body) nothing is kept unless the whole body arrived
/// and matches; without it, whatever arrived is kept, even when the connection drops.
pub(crate) async fn append<S, E>(
    paths: &Paths,
    start: Checkpoint,
    limit: u64,
    body: S,
    checksum: Option<Checksum>,
    durable: Arc<AtomicU64>,
) -> Appended
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Send,
    E: std::fmt::Display,
{
    let (tx, rx) = mpsc::channel::<Bytes>(CHANNEL_DEPTH);
    let writer_paths = paths.clone();
    let writer_start = start.clone();
    let hasher = checksum.as_ref().map(ChunkHasher::new);
    let writer_durable = Arc::clone(&durable);
    let writer = tokio::task::spawn_blocking(move || {
        write_all(&writer_paths, writer_start, rx, hasher, &writer_durable)
    });

    let mut received = 0u64;
    let mut stopped: Option<Error> = None;
    let mut body = std::pin::pin!(body);
    while let Some(piece) = body.next().await {
        match piece {
            Ok(mut bytes) => {
                let room = limit - received;
                if bytes.len() as u64 > room {
                    bytes.truncate(room as usize);
                    stopped = Some(Error::TooLarge(format!(
                        "the body is longer than the {limit} bytes left in this upload"
                    )));
                }
                received += bytes.len() as u64;
                if !bytes.is_empty() && tx.send(bytes).await.is_err() {
                    break; // the writer failed; its error is reported below
                }
                if stopped.is_some() {
                    break;
                }
            }
            Err(e) => {
                stopped = Some(Error::BadRequest(format!(
                    "the request body ended early after {received} bytes: {e}"
                )));
                break;
            }
        }
    }
    drop(tx);

    let done = match writer.await {
        Ok(Ok(done)) => done,
        Ok(Err(e)) => return rollback(paths, None, Error::io("writing upload data", e)).await,
        Err(e) => {
            let e = Error::io("upload writer", std::io::Error::other(e));
            return rollback(paths, None, e).await;
        }
    };
    if let Some(expected) = checksum {
        if let Some(e) = stopped {
            return rollback(paths, Some(start), e).await;
        }
        if done.chunk_digest != expected.bytes() {
            let e = Error::ChecksumMismatch(format!(
                "checksum mismatch: the body's {} is {}, the client said {}",
                expected.name(),
                hex::encode(&done.chunk_digest),
                hex::encode(expected.bytes())
            ));
            return rollback(paths, Some(start), e).await;
        }
    }
    let checkpoint = done.checkpoint;
    let save = {
        let (path, c) = (paths.checkpoint.clone(), checkpoint.clone());
        tokio::task::spawn_blocking(move || disk::save_checkpoint(&path, &c)).await
    };
    match save {
        Ok(Ok(())) => {
            durable.store(checkpoint.offset, Ordering::SeqCst);
            Appended {
                checkpoint,
                error: stopped,
            }
        }
        Ok(Err(e)) => rollback(paths, None, Error::io("saving upload checkpoint", e)).await,
        Err(e) => {
            let e = Error::io("saving upload checkpoint", std::io::Error::other(e));
            rollback(paths, None, e).await
        }
    }
}

/// Undoes an append: back to `to` (or to the last saved checkpoint), cutting the data file.
async fn rollback(paths: &Paths, to: Option<Checkpoint>, error: Error) -> Appended {
    let paths = paths.clone();
    let restored = tokio::task::spawn_blocking(move || {
        if let Some(to) = &to {
            disk::save_checkpoint(&paths.checkpoint, to)?;
        }
        disk::restore(&paths)
    })
    .await;
    match restored {
        Ok(Ok(checkpoint)) => Appended {
            checkpoint,
            error: Some(error),
        },
        other => {
            tracing::error!(?other, %error, "could not roll an upload back to its checkpoint");
            Appended {
                checkpoint: Checkpoint::empty(),
                error: Some(error),
            }
        }
    }
}

fn write_all(
    paths: &Paths,
    mut checkpoint: Checkpoint,
    mut rx: mpsc::Receiver<Bytes>,
    mut chunk: Option<ChunkHasher>,
    durable: &AtomicU64,
) -> std::io::Result<WriterDone> {
    let mut file = std::fs::OpenOptions::new().write(true).open(&paths.data)?;
    file.seek(SeekFrom::Start(checkpoint.offset))?;
    let mut out = BufWriter::with_capacity(WRITE_BUFFER, file);
    let intermediate = chunk.is_none();
    let mut since = 0u64;
    while let Some(bytes) = rx.blocking_recv() {
        out.write_all(&bytes)?;
        checkpoint.sha.update(&bytes);
        if let Some(chunk) = &mut chunk {
            chunk.update(&bytes);
        }
        checkpoint.offset += bytes.len() as u64;
        since += bytes.len() as u64;
        if intermediate && since >= CHECKPOINT_EVERY {
            out.flush()?;
            out.get_ref().sync_data()?;
            disk::save_checkpoint(&paths.checkpoint, &checkpoint)?;
            durable.store(checkpoint.offset, Ordering::SeqCst);
            since = 0;
        }
    }
    out.flush()?;
    out.get_ref().sync_data()?;
    Ok(WriterDone {
        checkpoint,
        chunk_digest: chunk.map(ChunkHasher::finish).unwrap_or_default(),
    })
}
