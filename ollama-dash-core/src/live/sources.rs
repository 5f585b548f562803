//! Where the collector's numbers come from: Ollama over HTTP, sysinfo and the GPU probe.
//! A trait, so the collector's timing (TTL, staleness, backoff) is tested with paused time
//! against scripted sources.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::gpu::{GpuProbe, GpuReport};
use super::system::{SystemProbe, SystemStats};
use crate::error::{Error, Result};
use crate::ollama::OllamaClient;
use crate::ollama::types::{PsResponse, ShowRequest, ShowResponse, TagsResponse};

/// The collector's inputs.
#[async_trait]
pub(crate) trait Sources: Send + Sync + std::fmt::Debug {
    async fn system(&self) -> Result<SystemStats>;
    async fn gpu(&self) -> Result<GpuReport>;
    async fn ps(&self) -> Result<PsResponse>;
    async fn tags(&self) -> Result<TagsResponse>;
    async fn version(&self) -> Result<String>;
    async fn show(&self, model: &str) -> Result<ShowResponse>;
}

/// The real ones.
#[derive(Debug)]
pub(crate) struct RealSources {
    pub(crate) ollama: OllamaClient,
    pub(crate) system: Arc<Mutex<SystemProbe>>,
    pub(crate) gpu: GpuProbe,
}

#[async_trait]
impl Sources for RealSources {
    async fn system(&self) -> Result<SystemStats> {
        let probe = Arc::clone(&self.system);
        tokio::task::spawn_blocking(move || {
            let mut probe = probe.lock().unwrap_or_else(|e| e.into_inner());
            probe.sample()
        })
        .await
        .map_err(|e| Error::Unavailable(format!("system stats: {e}")))
    }

    async fn gpu(&self) -> Result<GpuReport> {
        self.gpu.sample().await
    }

    async fn ps(&self) -> Result<PsResponse> {
        self.ollama.ps().await
    }

    async fn tags(&self) -> Result<TagsResponse> {
        self.ollama.tags().await
    }

    async fn version(&self) -> Result<String> {
        Ok(self.ollama.version().await?.version)
    }

    async fn show(&self, model: &str) -> Result<ShowResponse> {
        self.ollama
            .show(&ShowRequest {
                model: model.to_owned(),
                verbose: None,
            })
            .await
    }
}
