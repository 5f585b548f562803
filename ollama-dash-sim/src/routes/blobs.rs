//! `HEAD` and `POST /api/blobs/:digest` (digest §7): uploads are streamed to disk while hashed.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::Shared;
use crate::wire::{ApiError, ApiResult, empty, go_quote};

/// `^sha256[:-][0-9a-fA-F]{64}$`
pub(super) fn valid_digest(digest: &str) -> bool {
    let hex = digest
        .strip_prefix("sha256:")
        .or_else(|| digest.strip_prefix("sha256-"));
    hex.is_some_and(|hex| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn check(digest: &str) -> Result<(), ApiError> {
    if valid_digest(digest) {
        Ok(())
    } else {
        Err(ApiError::bad_request("invalid digest format"))
    }
}

pub(super) async fn head(State(sim): Shared, Path(digest): Path<String>) -> ApiResult {
    check(&digest)?;
    if sim.blob_exists(&digest) {
        Ok(empty(StatusCode::OK))
    } else {
        Err(ApiError::not_found(format!(
            "blob {} not found",
            go_quote(&digest)
        )))
    }
}

/// Stores the body if its sha256 matches the path (compared as written, as Ollama does);
/// an existing blob answers 200 without reading the body.
pub(super) async fn upload(
    State(sim): Shared,
    Path(digest): Path<String>,
    body: Body,
) -> ApiResult {
    check(&digest)?;
    if sim.blob_exists(&digest) {
        return Ok(empty(StatusCode::OK));
    }
    let partial = sim.blobs_dir().join(format!(
        "{}-partial-{:016x}",
        digest.replacen(':', "-", 1),
        rand::random::<u64>()
    ));
    let written = write_hashed(&partial, body).await;
    let got = match written {
        Ok(got) => got,
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(ApiError::internal(e.to_string()));
        }
    };
    if got != digest {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(ApiError::bad_request(format!(
            "digest mismatch, expected {}, got {}",
            go_quote(&digest),
            go_quote(&got)
        )));
    }
    if let Err(e) = tokio::fs::rename(&partial, sim.blob_path(&got)).await {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(ApiError::internal(e.to_string()));
    }
    Ok(empty(StatusCode::CREATED))
}

/// Writes the body to `path` and returns its `sha256:<hex>`.
async fn write_hashed(path: &std::path::Path, body: Body) -> std::io::Result<String> {
    let mut file = tokio::fs::File::create(path).await?;
    let mut hasher = Sha256::new();
    let mut chunks = body.into_data_stream();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(std::io::Error::other)?;
        hasher.update(&chunk);
        file.write_all(&chunk).await?;
    }
    file.flush().await?;
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}
