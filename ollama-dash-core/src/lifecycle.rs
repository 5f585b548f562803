//! Lifecycle of models: start (warm), stop (unload and confirm), delete, copy, show, with
//! errors classified the way users understand them.

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::capabilities::{self, Capabilities};
use crate::dashboard::Dashboard;
use crate::error::{Error, Result};
use crate::live::Probe;
use crate::ollama::types::{
    CopyRequest, GenerateRequest, KeepAlive, ModelDetails, ShowRequest, ShowResponse,
};

/// How a model action failed, in the user's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Failure {
    /// No such model (locally, or in the registry when pulling). 404.
    NotFound,
    /// Not enough (V)RAM to load it. 507.
    DoesNotFit,
    /// Ollama's runner process died while loading or answering. 502.
    RunnerCrashed,
    /// Ollama could not be reached. 502.
    Unreachable,
    /// Asked to unload, but it was still loaded when we stopped waiting. 504.
    StillLoaded,
}

impl Failure {
    /// The HTTP status that matches.
    pub fn http_status(self) -> u16 {
        match self {
            Failure::NotFound => 404,
            Failure::DoesNotFit => 507,
            Failure::RunnerCrashed | Failure::Unreachable => 502,
            Failure::StillLoaded => 504,
        }
    }

    /// Its name as shown (`not_found`, `does_not_fit`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::NotFound => "not_found",
            Failure::DoesNotFit => "does_not_fit",
            Failure::RunnerCrashed => "runner_crashed",
            Failure::Unreachable => "unreachable",
            Failure::StillLoaded => "still_loaded",
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Failure::NotFound => "model not found",
            Failure::DoesNotFit => "does not fit in memory",
            Failure::RunnerCrashed => "the model runner crashed",
            Failure::Unreachable => "Ollama is unreachable",
            Failure::StillLoaded => "still loaded",
        })
    }
}

const MEMORY: &[&str] = &[
    "requires more system memory",
    "out of memory",
    "insufficient memory",
    "not enough memory",
    "cudamalloc failed",
    "unable to allocate",
    "failed to allocate",
    "does not fit",
    "model request too large",
    "exceeds the available",
];

const CRASH: &[&str] = &[
    "runner process has terminated",
    "runner process no longer running",
    "llama runner exited",
    "signal: killed",
    "signal: segmentation fault",
    "exit status",
    "core dumped",
];

/// Which failure an Ollama error message describes, if a known one.
pub fn classify_message(message: &str) -> Option<Failure> {
    let m = message.to_ascii_lowercase();
    if MEMORY.iter().any(|p| m.contains(p)) {
        Some(Failure::DoesNotFit)
    } else if CRASH.iter().any(|p| m.contains(p)) {
        Some(Failure::RunnerCrashed)
    } else if m.contains("not found") || m.contains("file does not exist") {
        Some(Failure::NotFound)
    } else {
        None
    }
}

/// Turns an error of an action on `model` into a classified one where it is a known kind.
pub fn classify(model: &str, error: Error) -> Error {
    let kind = match &error {
        Error::Unreachable { .. } | Error::Timeout { .. } => Some(Failure::Unreachable),
        Error::Ollama { status: 404, .. } => Some(Failure::NotFound),
        Error::Ollama { message, .. } | Error::StreamError(message) => classify_message(message),
        _ => None,
    };
    match kind {
        Some(kind) => Error::Lifecycle {
            model: model.to_owned(),
            kind,
            message: error.to_string(),
        },
        None => error,
    }
}

/// What `/api/show` and the capability chain say about a model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    /// The name asked for.
    pub name: String,
    /// Details.
    pub details: ModelDetails,
    /// Trained context length.
    pub context_length: Option<u64>,
    /// Flags and sources.
    pub capabilities: Capabilities,
    /// Modelfile parameters, `key value` lines.
    pub parameters: Option<String>,
    /// Prompt template.
    pub template: Option<String>,
    /// System prompt.
    pub system: Option<String>,
    /// License.
    pub license: Option<String>,
    /// Has a separate vision projector.
    pub has_projector: bool,
    /// GGUF metadata (flat).
    pub model_info: serde_json::Map<String, serde_json::Value>,
    /// Manifest modification time.
    pub modified_at: Option<chrono::DateTime<chrono::FixedOffset>>,
}

/// What stopping did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StopOutcome {
    /// It was loaded when asked.
    pub was_loaded: bool,
}

/// Whether two model names mean the same model (`x` is `x:latest`; case-insensitive).
pub fn same_model(a: &str, b: &str) -> bool {
    let norm = |n: &str| {
        let n = n.to_ascii_lowercase();
        if n.rsplit('/').next().is_some_and(|last| last.contains(':')) {
            n
        } else {
            format!("{n}:latest")
        }
    };
    norm(a) == norm(b)
}

/// Rejects names Ollama would reject anyway, before they reach it.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 512
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-:/@".contains(c));
    if ok {
        Ok(())
    } else {
        Err(Error::BadRequest(format!("invalid model name {name:?}")))
    }
}

impl Dashboard {
    /// Loads `model` with an empty prompt (Ollama's "load only") and the keep-alive given, else
    /// the settings', else `start_keep_alive`. Errors are classified.
    pub(crate) async fn warm(&self, model: &str, keep_alive: Option<KeepAlive>) -> Result<()> {
        let keep_alive = keep_alive
            .or_else(|| self.default_keep_alive(model))
            .or_else(|| {
                let raw = self.config().live.start_keep_alive.as_deref()?;
                crate::settings::parse_keep_alive(raw).ok()
            });
        let request = GenerateRequest {
            model: model.to_owned(),
            keep_alive,
            ..Default::default()
        };
        self.ollama()
            .generate(&request)
            .await
            .map_err(|e| classify(model, e))?;
        Ok(())
    }

    /// Unloads `model` (`keep_alive: 0`) and waits until it has left `/api/ps`.
    pub async fn stop_model(&self, model: &str) -> Result<StopOutcome> {
        check_name(model)?;
        let loaded = |ps: &crate::ollama::types::PsResponse| {
            ps.models.iter().any(|m| same_model(&m.name, model))
        };
        let ps = self.ollama().ps().await.map_err(|e| classify(model, e))?;
        if !loaded(&ps) {
            return Ok(StopOutcome { was_loaded: false });
        }
        let request = GenerateRequest {
            model: model.to_owned(),
            keep_alive: Some(KeepAlive::Seconds(0.0)),
            ..Default::default()
        };
        self.ollama()
            .generate(&request)
            .await
            .map_err(|e| classify(model, e))?;
        let deadline = tokio::time::Instant::now()
            + Duration::from_secs(self.config().request_timeout_secs.max(5));
        loop {
            let ps = self.ollama().ps().await.map_err(|e| classify(model, e))?;
            if !loaded(&ps) {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Lifecycle {
                    model: model.to_owned(),
                    kind: Failure::StillLoaded,
                    message: "Ollama accepted the unload but still lists the model in /api/ps"
                        .to_owned(),
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.refresh(&[Probe::Running]).await;
        Ok(StopOutcome { was_loaded: true })
    }

    /// Copies `source` to `destination`.
    pub async fn copy_model(&self, source: &str, destination: &str) -> Result<()> {
        check_name(source)?;
        check_name(destination)?;
        let request = CopyRequest {
            source: source.to_owned(),
            destination: destination.to_owned(),
        };
        self.ollama()
            .copy(&request)
            .await
            .map_err(|e| classify(source, e))?;
        self.refresh(&[Probe::Installed]).await;
        Ok(())
    }

    /// What Ollama knows about `model`, with its capabilities through the whole chain.
    pub async fn show_model(&self, model: &str) -> Result<ModelInfo> {
        check_name(model)?;
        let show: ShowResponse = self
            .ollama()
            .show(&ShowRequest {
                model: model.to_owned(),
                verbose: None,
            })
            .await
            .map_err(|e| classify(model, e))?;
        let cached = self
            .list_models()
            .value
            .and_then(|list| list.iter().find(|m| same_model(&m.name, model)).cloned());
        let capabilities = match cached {
            Some(m) => m.capabilities,
            None => capabilities::resolve(model, &show.details, Some(&show), None),
        };
        let context_length = show
            .model_info
            .get("general.architecture")
            .and_then(|a| a.as_str())
            .and_then(|arch| show.model_info.get(&format!("{arch}.context_length")))
            .and_then(serde_json::Value::as_u64);
        Ok(ModelInfo {
            name: model.to_owned(),
            details: show.details,
            context_length,
            capabilities,
            parameters: show.parameters,
            template: show.template,
            system: show.system,
            license: show.license,
            has_projector: show.projector_info.is_some_and(|p| !p.is_empty()),
            model_info: show.model_info,
            modified_at: show.modified_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ollama_messages_are_classified() {
        let cases = [
            (
                "model requires more system memory (12.1 GiB) than is available (7.6 GiB)",
                Some(Failure::DoesNotFit),
            ),
            (
                "llama runner process has terminated: error loading model: unable to allocate CUDA0 buffer",
                Some(Failure::DoesNotFit),
            ),
            (
                "llama runner process has terminated: signal: killed",
                Some(Failure::RunnerCrashed),
            ),
            (
                "llama runner process has terminated: exit status 2",
                Some(Failure::RunnerCrashed),
            ),
            ("model 'ghost' not found", Some(Failure::NotFound)),
            (
                "pull model manifest: file does not exist",
                Some(Failure::NotFound),
            ),
            (
                "server busy, please try again.  maximum pending requests exceeded",
                None,
            ),
        ];
        for (message, expected) in cases {
            assert_eq!(classify_message(message), expected, "{message}");
        }
        let e = classify(
            "m",
            Error::Ollama {
                status: 500,
                message: cases[0].0.into(),
            },
        );
        assert_eq!(e.http_status(), 507);
        let e = classify(
            "m",
            Error::Unreachable {
                url: "u".into(),
                message: "refused".into(),
            },
        );
        assert!(e.is_unreachable());
        assert_eq!(e.http_status(), 502);
        let e = classify(
            "m",
            Error::Ollama {
                status: 404,
                message: "model 'm' not found".into(),
            },
        );
        assert!(e.is_not_found());
        let e = classify(
            "m",
            Error::Ollama {
                status: 503,
                message: "server busy".into(),
            },
        );
        assert_eq!(e.http_status(), 503, "unknown errors keep Ollama's status");
    }

    #[test]
    fn names() {
        assert!(same_model("llama3.2", "llama3.2:latest"));
        assert!(same_model("Llama3.2:1B", "llama3.2:1b"));
        assert!(!same_model("llama3.2:1b", "llama3.2:3b"));
        assert!(same_model(
            "hf.co/org/model:Q4_K_M",
            "hf.co/org/model:Q4_K_M"
        ));
        assert!(check_name("hf.co/org/model:Q4_K_M").is_ok());
        assert!(check_name("").is_err());
        assert!(check_name("a b").is_err());
        assert!(check_name("x\"; drop").is_err());
    }
}
