//! Capabilities: one chain, each flag with its source.
//!
//! 1. Ollama's own `capabilities` (from `/api/show`, cached per digest; `/api/tags` in new builds).
//! 2. Facts: GGUF `model_info` (`<arch>.pooling_type` → embedding, `<arch>.vision.block_count` or a
//!    projector → vision) and the template (`.Tools`, `.Suffix`, thinking tags), as Ollama derives them.
//! 3. Name and family rules, for old Ollama builds that report nothing (whole words only, so a
//!    bare `o1`, `vl` or `cot` inside another word is no match).
//! 4. [`CapabilityDetector`]s registered on the [`crate::Dashboard`] (the WASM plugins plug in here);
//!    they add flags, never remove them.

mod rules;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::error::Result;
use crate::ollama::types::{ModelDetails, ShowResponse};

pub use rules::name_rules;

/// The flags Ollama knows; detectors may add others.
pub const KNOWN: [&str; 6] = [
    "completion",
    "vision",
    "tools",
    "thinking",
    "embedding",
    "insert",
];

/// Where a flag came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Source {
    /// Ollama said so (`/api/show` or `/api/tags` `capabilities`).
    Ollama,
    /// GGUF metadata in `model_info` (or a projector).
    Gguf,
    /// The model's prompt template.
    Template,
    /// A rule on the model's name or family.
    NameRule,
    /// A registered detector, by name.
    Detector(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Ollama => f.write_str("ollama"),
            Source::Gguf => f.write_str("gguf"),
            Source::Template => f.write_str("template"),
            Source::NameRule => f.write_str("name_rule"),
            Source::Detector(name) => write!(f, "detector:{name}"),
        }
    }
}

impl Serialize for Source {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One flag and its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Capability {
    /// e.g. `vision`.
    pub name: String,
    /// Where it came from.
    pub source: Source,
}

/// A model's flags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Capabilities(pub Vec<Capability>);

impl Capabilities {
    /// Whether the model has `name`.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|c| c.name == name)
    }

    /// The flag names, e.g. `["completion", "tools"]`.
    pub fn names(&self) -> Vec<&str> {
        self.0.iter().map(|c| c.name.as_str()).collect()
    }

    fn add(&mut self, name: &str, source: &Source) {
        if !self.has(name) {
            self.0.push(Capability {
                name: name.to_owned(),
                source: source.clone(),
            });
        }
    }
}

/// What a detector gets to look at.
#[derive(Debug, Clone, Default)]
pub struct ModelFacts {
    /// Model name, e.g. `llava:7b`.
    pub name: String,
    /// Manifest digest.
    pub digest: String,
    /// Details from tags/ps/show.
    pub details: ModelDetails,
    /// `/api/show`, when it answered.
    pub show: Option<Arc<ShowResponse>>,
    /// The flags found by steps 1–3.
    pub found: Capabilities,
}

/// A pluggable capability detector (step 4 of the chain).
#[async_trait]
pub trait CapabilityDetector: Send + Sync + fmt::Debug {
    /// Its name, recorded as the flags' source (`detector:<name>`).
    fn name(&self) -> &str;
    /// The flags it finds for this model (added to those already found).
    async fn detect(&self, facts: &ModelFacts) -> Result<Vec<String>>;
}

/// Steps 1–3 of the chain for one model.
pub fn resolve(
    name: &str,
    details: &ModelDetails,
    show: Option<&ShowResponse>,
    listed: Option<&[String]>,
) -> Capabilities {
    let mut caps = Capabilities::default();
    let reported = show
        .and_then(|s| s.capabilities.as_deref())
        .or(listed)
        .filter(|c| !c.is_empty());
    if let Some(reported) = reported {
        for cap in reported {
            caps.add(cap, &Source::Ollama);
        }
        return caps;
    }
    let mut decided_kind = false;
    let mut decided_template = false;
    if let Some(show) = show {
        decided_kind = gguf_facts(show, &mut caps);
        decided_template = template_facts(show, &mut caps);
    }
    for cap in name_rules(name, details) {
        let is_kind = matches!(cap, "completion" | "embedding" | "vision");
        if (is_kind && !decided_kind) || (!is_kind && !decided_template) {
            caps.add(cap, &Source::NameRule);
        }
    }
    if !caps.has("embedding") && !caps.has("completion") {
        caps.add("completion", &Source::NameRule);
    }
    caps
}

/// Step 4: every detector, in registration order; a failing detector is logged and skipped.
pub(crate) async fn run_detectors(
    detectors: &[Arc<dyn CapabilityDetector>],
    mut facts: ModelFacts,
) -> Capabilities {
    for detector in detectors {
        match detector.detect(&facts).await {
            Ok(found) => {
                let source = Source::Detector(detector.name().to_owned());
                for cap in found {
                    facts.found.add(&cap, &source);
                }
            }
            Err(e) => {
                tracing::warn!(detector = detector.name(), model = %facts.name, error = %e, "capability detector failed")
            }
        }
    }
    facts.found
}

/// Completion/embedding and vision from GGUF metadata; false when there is none to read.
fn gguf_facts(show: &ShowResponse, caps: &mut Capabilities) -> bool {
    let info = &show.model_info;
    let Some(arch) = info.get("general.architecture").and_then(|a| a.as_str()) else {
        return false;
    };
    if info.contains_key(&format!("{arch}.pooling_type")) {
        caps.add("embedding", &Source::Gguf);
    } else {
        caps.add("completion", &Source::Gguf);
    }
    if info.contains_key(&format!("{arch}.vision.block_count"))
        || show.projector_info.as_ref().is_some_and(|p| !p.is_empty())
    {
        caps.add("vision", &Source::Gguf);
    }
    true
}

/// Tools, insert and thinking from the template, as Ollama reads it; false without a template.
fn template_facts(show: &ShowResponse, caps: &mut Capabilities) -> bool {
    let Some(template) = show.template.as_deref().filter(|t| !t.trim().is_empty()) else {
        return false;
    };
    if template.contains(".Tools") || template.contains("tool_call") {
        caps.add("tools", &Source::Template);
    }
    if template.contains(".Suffix") {
        caps.add("insert", &Source::Template);
    }
    if template.contains(".Thinking")
        || (template.contains("<think>") && template.contains("</think>"))
    {
        caps.add("thinking", &Source::Template);
    }
    true
}

#[cfg(test)]
mod tests;
