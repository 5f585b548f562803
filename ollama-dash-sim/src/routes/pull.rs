//! `POST /api/pull` and `POST /api/push` (digest §8, §9): progress streams paced by the token
//! delay (a tick is twice the token delay, so tests with no delay pull instantly).

use std::sync::Arc;

use axum::extract::State;
use bytes::Bytes;
use chrono::Local;
use serde::Serialize;
use tokio::sync::mpsc;

use super::Shared;
use crate::catalogue;
use crate::model::Model;
use crate::names::Name;
use crate::state::Sim;
use crate::wire::{ApiError, ApiResult, Item, Req, line, stream_response, wait_for_stream};

/// Progress updates per downloaded layer.
const UPDATES_PER_LAYER: u64 = 8;
/// Layers smaller than this arrive in one go.
const SMALL_LAYER: u64 = 1 << 20;

/// A progress line: `status`, and for layers `digest`, `total`, `completed` (omitted when zero).
#[derive(Serialize)]
pub(super) struct Progress<'a> {
    pub(super) status: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub(super) digest: &'a str,
    #[serde(skip_serializing_if = "is_zero")]
    pub(super) total: u64,
    #[serde(skip_serializing_if = "is_zero")]
    pub(super) completed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A line with only a status.
pub(super) fn status(text: &str) -> Item {
    line(&Progress {
        status: text,
        digest: "",
        total: 0,
        completed: 0,
    })
}

/// Sends an item; false once the client has gone away.
pub(super) async fn send(out: &mpsc::Sender<Item>, item: Item) -> bool {
    out.send(item).await.is_ok()
}

/// Waits one progress tick.
pub(super) async fn tick(sim: &Sim) {
    let delay = sim.knobs.token_delay() * 2;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

/// The first 12 hex characters of a digest, as in `pulling 74701a8c35f6`.
pub(super) fn short(digest: &str) -> &str {
    digest
        .strip_prefix("sha256:")
        .and_then(|hex| hex.get(..12))
        .unwrap_or(digest)
}

pub(super) async fn pull(State(sim): Shared, body: Bytes) -> ApiResult {
    let req = Req::parse(&body, "PullRequest")?;
    let requested_as = req.model()?;
    req.flag("insecure")?;
    req.string("username")?;
    req.string("password")?;
    let stream = req.stream()?;
    let name =
        Name::parse(&requested_as).ok_or_else(|| ApiError::bad_request("invalid model name"))?;
    let name = sim
        .find(&name)
        .map_or(name, |existing| existing.name.clone());
    let (sender, items) = mpsc::channel(16);
    tokio::spawn(async move {
        if run_pull(&sim, &name, &sender).await.is_some() {
            send(&sender, status("success")).await;
        }
    });
    Ok(if stream {
        stream_response(items).await
    } else {
        wait_for_stream(items).await
    })
}

/// Streams a pull into `out` and installs the model; `None` after an error (already sent) or
/// when the client left. The caller sends the final `success`.
pub(super) async fn run_pull(
    sim: &Arc<Sim>,
    name: &Name,
    out: &mpsc::Sender<Item>,
) -> Option<Arc<Model>> {
    if !send(out, status("pulling manifest")).await {
        return None;
    }
    tick(sim).await;
    let Some(parts) = catalogue::pullable(name) else {
        send(
            out,
            Item::Fail(500, "pull model manifest: file does not exist".to_owned()),
        )
        .await;
        return None;
    };
    let model = Model::build(name.clone(), parts, Local::now());
    for layer in model.layers.iter().chain([&model.config]) {
        let label = format!("pulling {}", short(&layer.digest));
        let progress = |completed| {
            line(&Progress {
                status: &label,
                digest: &layer.digest,
                total: layer.size,
                completed,
            })
        };
        if sim.blob_exists(&layer.digest) || layer.size < SMALL_LAYER {
            if !send(out, progress(layer.size)).await {
                return None;
            }
            continue;
        }
        for update in 0..=UPDATES_PER_LAYER {
            if !send(out, progress(layer.size * update / UPDATES_PER_LAYER)).await {
                return None;
            }
            tick(sim).await;
        }
    }
    for step in ["verifying sha256 digest", "writing manifest"] {
        if !send(out, status(step)).await {
            return None;
        }
        tick(sim).await;
    }
    sim.install(model);
    let installed = sim.find(name)?;
    send(out, status("removing unused layers"))
        .await
        .then_some(installed)
}

pub(super) async fn push(State(sim): Shared, body: Bytes) -> ApiResult {
    let req = Req::parse(&body, "PushRequest")?;
    let requested_as = req.model()?;
    req.flag("insecure")?;
    let stream = req.stream()?;
    if requested_as.is_empty() {
        return Err(ApiError::bad_request("model is required"));
    }
    let (sender, items) = mpsc::channel(16);
    tokio::spawn(async move {
        if !send(&sender, status("retrieving manifest")).await {
            return;
        }
        tick(&sim).await;
        let Some(model) = Name::parse(&requested_as).and_then(|name| sim.find(&name)) else {
            send(&sender, status("couldn't retrieve manifest")).await;
            let message = format!(
                "open manifests/{}: no such file or directory",
                requested_as.replace(':', "/")
            );
            send(&sender, Item::Fail(500, message)).await;
            return;
        };
        if let Some(layer) = model.layers.first() {
            let label = format!("pushing {}", short(&layer.digest));
            send(
                &sender,
                line(&Progress {
                    status: &label,
                    digest: &layer.digest,
                    total: layer.size,
                    completed: 0,
                }),
            )
            .await;
            tick(&sim).await;
        }
        let message = if model.name.namespace.eq_ignore_ascii_case("library") {
            "you are not authorized to push to this namespace, create the model under a namespace you own"
        } else {
            "unauthorized: access denied"
        };
        send(&sender, Item::Fail(500, message.to_owned())).await;
    });
    Ok(if stream {
        stream_response(items).await
    } else {
        wait_for_stream(items).await
    })
}
