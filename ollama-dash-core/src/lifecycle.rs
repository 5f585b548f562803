//! Lifecycle of models: start (warm), stop (unload and confirm), delete, copy, show, with
//! errors classified the way users understand them.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::capabilities::{self, Capabilities};
use crate::error::{Error, Result};
use crate::live::{Nudger, Probe};
use crate::ollama::OllamaClient;
use crate::ollama::types::{
    CopyRequest, GenerateRequest, KeepAlive, ModelDetails, PsResponse, ShowRequest, ShowResponse,
};
use crate::settings::Settings;

pub use crate::error::Failure;

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

/// Rejects names Ollama would reject anyway, before they reach it: [`check_named`] for a
/// request field called `model`.
pub fn check_name(name: &str) -> Result<()> {
    check_named("model", name)
}

/// Checks `name`, sent as the request field `field`, against Ollama's model-name grammar
/// `[host/][namespace/]model[:tag][@digest]`: host 1–350 of `[A-Za-z0-9_][A-Za-z0-9_.:-]*`,
/// namespace 1–80 of `[A-Za-z0-9_][A-Za-z0-9_-]*`, model and tag 1–80 of
/// `[A-Za-z0-9_][A-Za-z0-9_.-]*`, digest `sha256:` (or `sha256-`) and 64 hex digits. So no part
/// is empty, `.` or `..`, and nothing but those characters gets through.
///
/// The one check of model names in the library; the error is [`Error::InvalidFields`] naming
/// `field` (400).
pub fn check_named(field: &str, name: &str) -> Result<()> {
    match name_problem(name) {
        None => Ok(()),
        Some(why) => Err(Error::InvalidFields(vec![(
            field.to_owned(),
            format!("invalid model name {name:?}: {why}"),
        )])),
    }
}

/// Why `name` breaks Ollama's grammar (see [`check_named`]), or `None`.
fn name_problem(name: &str) -> Option<&'static str> {
    let part = |s: &str, max: usize, extra: &[char]| {
        let mut chars = s.chars();
        s.len() <= max
            && chars
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || extra.contains(&c))
    };
    let (name, digest) = match name.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (name, None),
    };
    if let Some(digest) = digest {
        let hex = digest
            .strip_prefix("sha256:")
            .or_else(|| digest.strip_prefix("sha256-"));
        if !hex.is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Some("the digest after '@' must be sha256: and 64 hex digits");
        }
    }
    // A ':' after the last '/' starts the tag; one before it is a host's port.
    let (path, tag) = match name.rsplit_once(':') {
        Some((p, t)) if !t.contains('/') => (p, Some(t)),
        _ => (name, None),
    };
    if let Some(tag) = tag
        && !part(tag, 80, &['.', '-'])
    {
        return Some(
            "the tag must be 1-80 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
        );
    }
    let parts: Vec<&str> = path.split('/').collect();
    let ok = match parts[..] {
        [model] => part(model, 80, &['.', '-']),
        [ns, model] => part(ns, 80, &['-']) && part(model, 80, &['.', '-']),
        [host, ns, model] => {
            part(host, 350, &['.', ':', '-'])
                && part(ns, 80, &['-'])
                && part(model, 80, &['.', '-'])
        }
        _ => false,
    };
    (!ok).then_some(
        "expected [host/][namespace/]model[:tag]: host 1-350 and namespace, model 1-80 letters, \
         digits, '_' (and '.', ':' or '-' where Ollama allows them), no part empty or starting \
         with '.' or '-'",
    )
}

/// The lifecycle service: loads, unloads, copies and describes models on the dashboard's Ollama.
/// Cheap to clone; built from explicit handles, it never sees the facade.
#[derive(Debug, Clone)]
pub(crate) struct Lifecycle {
    ollama: OllamaClient,
    /// The keep-alive of each model and the global one.
    settings: Arc<Settings>,
    /// `start_keep_alive`: the keep-alive of last resort for a start.
    start_keep_alive: Option<KeepAlive>,
    /// How long a stop waits for the model to leave `/api/ps`.
    unload_timeout: Duration,
    /// The collector: refreshed after a change, and its installed list read.
    live: Nudger,
}

impl Lifecycle {
    /// The service over `ollama`, with the keep-alives of `settings` and `config`.
    pub(crate) fn new(
        config: &crate::DashboardConfig,
        ollama: OllamaClient,
        settings: Arc<Settings>,
        live: Nudger,
    ) -> Self {
        let start_keep_alive = config.live.start_keep_alive.as_deref();
        Self {
            ollama,
            settings,
            start_keep_alive: start_keep_alive
                .and_then(|raw| crate::settings::parse_keep_alive(raw).ok()),
            unload_timeout: Duration::from_secs(config.request_timeout_secs.max(5)),
            live,
        }
    }

    /// The same service acting on another node's Ollama (`client`), for an action a caller
    /// sent to a node of the fleet.
    pub(crate) fn on(&self, client: OllamaClient) -> Self {
        Self {
            ollama: client,
            ..self.clone()
        }
    }

    /// Loads `model` with an empty prompt (Ollama's "load only") and the keep-alive given, else
    /// the settings', else `start_keep_alive`. Errors are classified.
    pub(crate) async fn warm(&self, model: &str, keep_alive: Option<KeepAlive>) -> Result<()> {
        let keep_alive = keep_alive
            .or_else(|| self.settings.keep_alive(model))
            .or_else(|| self.start_keep_alive.clone());
        let request = GenerateRequest {
            model: model.to_owned(),
            keep_alive,
            ..Default::default()
        };
        self.ollama
            .generate(&request)
            .await
            .map_err(|e| classify(model, e))?;
        Ok(())
    }

    /// Unloads `model` (`keep_alive: 0`) and waits until it has left `/api/ps`.
    pub(crate) async fn stop(&self, model: &str) -> Result<StopOutcome> {
        check_name(model)?;
        let loaded = |ps: &PsResponse| ps.models.iter().any(|m| same_model(&m.name, model));
        let ps = self.ollama.ps().await.map_err(|e| classify(model, e))?;
        if !loaded(&ps) {
            return Ok(StopOutcome { was_loaded: false });
        }
        let request = GenerateRequest {
            model: model.to_owned(),
            keep_alive: Some(KeepAlive::Seconds(0.0)),
            ..Default::default()
        };
        self.ollama
            .generate(&request)
            .await
            .map_err(|e| classify(model, e))?;
        let deadline = tokio::time::Instant::now() + self.unload_timeout;
        loop {
            let ps = self.ollama.ps().await.map_err(|e| classify(model, e))?;
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
        self.live.refresh(&[Probe::Running]).await;
        Ok(StopOutcome { was_loaded: true })
    }

    /// Copies `source` to `destination`.
    pub(crate) async fn copy(&self, source: &str, destination: &str) -> Result<()> {
        check_named("source", source)?;
        check_named("destination", destination)?;
        let request = CopyRequest {
            source: source.to_owned(),
            destination: destination.to_owned(),
        };
        self.ollama
            .copy(&request)
            .await
            .map_err(|e| classify(source, e))?;
        self.live.refresh(&[Probe::Installed]).await;
        Ok(())
    }

    /// What Ollama knows about `model`, with its capabilities through the whole chain.
    pub(crate) async fn show(&self, model: &str) -> Result<ModelInfo> {
        check_name(model)?;
        let show: ShowResponse = self
            .ollama
            .show(&ShowRequest {
                model: model.to_owned(),
                verbose: None,
            })
            .await
            .map_err(|e| classify(model, e))?;
        let cached = self
            .live
            .installed()
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
        assert_eq!(e.kind(), crate::ErrorKind::DoesNotFit);
        let e = classify(
            "m",
            Error::Unreachable {
                url: "u".into(),
                message: "refused".into(),
            },
        );
        assert!(e.is_unreachable());
        assert_eq!(e.kind(), crate::ErrorKind::Unreachable);
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
        assert_eq!(
            e.kind(),
            crate::ErrorKind::Upstream(503),
            "unknown errors keep Ollama's status"
        );
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

    #[test]
    fn model_names_follow_ollamas_grammar() {
        for good in [
            "llama3",
            "llama3.2:1b",
            "my-model:q4_K_M",
            "user/model:v1.0",
            "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M",
            "host.example:5000/ns/m:t",
            "localhost:5000/ns/m",
            "a_b.c",
            "llama3@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert!(check_name(good).is_ok(), "{good}: {:?}", check_name(good));
        }
        let long = "m".repeat(81);
        for bad in [
            "",
            "../../etc/passwd",
            "..",
            "../x",
            "ns/../m",
            "./m",
            "/m",
            "m/",
            "ns//m",
            "-x",
            "a/b/c/d",
            "model:",
            ":tag",
            "x y",
            "m:t/a",
            "ns/.m",
            "m:.t",
            "m@",
            "m@sha256:xyz",
            "ns.x/m",
            long.as_str(),
        ] {
            let err = check_name(bad).expect_err(bad);
            assert_eq!(err.kind(), crate::ErrorKind::Invalid, "{bad}: {err}");
            assert!(
                matches!(&err, Error::InvalidFields(f) if f.len() == 1 && f[0].0 == "model"),
                "{bad}: the error names the field: {err:?}"
            );
        }
        let err = check_named("destination", "../x").expect_err("../x");
        assert!(
            matches!(&err, Error::InvalidFields(f) if f[0].0 == "destination"),
            "{err:?}"
        );
    }
}
