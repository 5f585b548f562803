//! `code-models`: flags models made for programming.
//!
//! - `code`: the name or a family names a code model (`coder`, `starcoder`, `codellama`, …), or
//!   a `[settings] extra_names` entry matches the name.
//! - `fill-in-middle`: the prompt template handles a suffix (Ollama's `.Suffix`) or carries a
//!   fill-in-middle token (`<|fim_prefix|>`, `<fim_prefix>`, `<PRE>`, `<｜fim▁begin｜>`,
//!   `[SUFFIX]`), so editors can complete between a prefix and a suffix.

use ollama_dash_plugin::{Kv, ModelFacts, Plugin, Provides, export_plugin, setting};

/// Substrings of model names and families that mean "trained for code".
const CODE_MARKERS: &[&str] = &[
    "coder",
    "starcoder",
    "codellama",
    "codegemma",
    "codestral",
    "codeqwen",
    "granite-code",
    "stable-code",
    "codegeex",
    "devstral",
];

/// Template fragments that mean "fill-in-middle".
const FIM_MARKERS: &[&str] = &[
    ".Suffix",
    "<|fim_prefix|>",
    "<fim_prefix>",
    "<fim-prefix>",
    "<PRE>",
    "<｜fim▁begin｜>",
    "<|fim▁begin|>",
    "[SUFFIX]",
];

struct CodeModels;

impl Plugin for CodeModels {
    const NAME: &'static str = "code-models";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const DESCRIPTION: &'static str = "Flags code models (code) and fill-in-middle templates";
    const PROVIDES: &'static [Provides] = &[Provides::Detector];

    fn configure(settings: &[Kv]) -> Result<(), String> {
        for kv in settings {
            if kv.key != "extra_names" {
                return Err(format!("unknown setting {:?} (known: extra_names)", kv.key));
            }
        }
        Ok(())
    }

    fn detect(model: &ModelFacts) -> Result<Vec<String>, String> {
        let name = model.name.to_ascii_lowercase();
        let extra = setting("extra_names").unwrap_or_default();
        let extra = extra.split(',').map(str::trim).filter(|s| !s.is_empty());
        let by_name = CODE_MARKERS.iter().copied().chain(extra).any(|marker| {
            let marker = marker.to_ascii_lowercase();
            name.contains(&marker)
                || model.family.to_ascii_lowercase().contains(&marker)
                || model
                    .families
                    .iter()
                    .any(|f| f.to_ascii_lowercase().contains(&marker))
        });
        let fim = FIM_MARKERS.iter().any(|m| model.template.contains(m));
        let mut flags = Vec::new();
        if by_name {
            flags.push("code".to_owned());
        }
        if fim {
            flags.push("fill-in-middle".to_owned());
        }
        Ok(flags)
    }
}

export_plugin!(CodeModels);
