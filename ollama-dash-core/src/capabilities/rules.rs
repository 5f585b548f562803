//! Name and family rules for Ollama builds that report no capabilities (before v0.6.4).
//!
//! A keyword matches only as a whole word: the character before it is not a letter (digits and
//! separators are fine, so `qwen2.5vl` has `vl`) and the character after it is not a letter or
//! digit (so `gemma3n` is not `gemma3`, `mascot` has no `cot`, `o10` no `o1`).

use crate::ollama::types::ModelDetails;

/// `(keyword, capabilities, unless any of these words is also in the name)`.
type Rule = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
);

const V: &[&str] = &["vision"];
const T: &[&str] = &["tools"];
const R: &[&str] = &["thinking"];
const TR: &[&str] = &["tools", "thinking"];
const E: &[&str] = &["embedding"];
const I: &[&str] = &["insert"];

const RULES: &[Rule] = &[
    // vision
    ("llava", V, &[]),
    ("bakllava", V, &[]),
    ("moondream", V, &[]),
    ("minicpm-v", V, &[]),
    ("vision", V, &[]),
    ("vl", V, &[]),
    ("internvl", V, &[]),
    ("smolvlm", V, &[]),
    ("pixtral", V, &[]),
    ("llama4", &["vision", "tools"], &[]),
    ("gemma3", V, &["1b", "270m"]),
    ("mistral-small3.1", &["vision", "tools"], &[]),
    ("mistral-small3.2", &["vision", "tools"], &[]),
    // embedding
    ("embed", E, &[]),
    ("embedding", E, &[]),
    ("nomic-embed-text", E, &[]),
    ("mxbai-embed-large", E, &[]),
    ("bge-m3", E, &[]),
    ("bge-large", E, &[]),
    ("all-minilm", E, &[]),
    ("paraphrase-multilingual", E, &[]),
    ("e5", E, &[]),
    ("gte", E, &[]),
    // tools
    ("llama3.1", T, &[]),
    ("llama3.2", T, &["vision"]),
    ("llama3.3", T, &[]),
    ("qwen2", T, &["vl", "coder", "math"]),
    ("qwen2.5", T, &["vl", "math"]),
    ("qwen2.5-coder", T, &[]),
    ("mistral", T, &[]),
    ("mistral-nemo", T, &[]),
    ("mixtral", T, &[]),
    ("command-r", T, &[]),
    ("command-r-plus", T, &[]),
    ("firefunction-v2", T, &[]),
    ("hermes3", T, &[]),
    ("granite3", T, &[]),
    ("granite3.1", T, &[]),
    ("granite3.2", T, &["vision"]),
    ("granite3.3", T, &[]),
    ("nemotron", T, &[]),
    ("smollm2", T, &[]),
    ("phi4-mini", T, &[]),
    ("devstral", T, &[]),
    // thinking (some with tools)
    ("qwen3", TR, &["embedding"]),
    ("gpt-oss", TR, &[]),
    ("magistral", TR, &[]),
    ("cogito", TR, &[]),
    ("deepseek-r1", R, &[]),
    ("qwq", &["tools", "thinking"], &[]),
    ("phi4-reasoning", R, &[]),
    ("exaone-deep", R, &[]),
    ("openthinker", R, &[]),
    ("marco-o1", R, &[]),
    ("o1", R, &[]),
    ("cot", R, &[]),
    ("reasoning", R, &[]),
    ("thinking", R, &[]),
    // fill-in-the-middle
    ("starcoder", I, &[]),
    ("starcoder2", I, &[]),
    ("codellama", I, &["instruct"]),
    ("deepseek-coder", I, &[]),
    ("deepseek-coder-v2", I, &[]),
    ("qwen2.5-coder", I, &[]),
    ("codegemma", I, &["instruct"]),
    ("codestral", I, &[]),
    ("stable-code", I, &[]),
    ("granite-code", I, &[]),
];

/// Whether `word` occurs in `hay` as a whole word (see the module docs).
pub(crate) fn has_word(hay: &str, word: &str) -> bool {
    if word.is_empty() {
        return false;
    }
    hay.match_indices(word).any(|(at, _)| {
        let before = hay[..at].chars().next_back();
        let after = hay[at + word.len()..].chars().next();
        before.is_none_or(|c| !c.is_ascii_alphabetic())
            && after.is_none_or(|c| !c.is_ascii_alphanumeric())
    })
}

/// The flags the name and family suggest (no `completion`: the caller adds it unless embedding).
pub fn name_rules(name: &str, details: &ModelDetails) -> Vec<&'static str> {
    let lower = name.to_ascii_lowercase();
    // The host and namespace say nothing about the model ("hf.co/…"), the tag often does.
    let model = lower.rsplit('/').next().unwrap_or(&lower);
    let mut caps: Vec<&'static str> = Vec::new();
    let mut add = |list: &[&'static str]| {
        for cap in list {
            if !caps.contains(cap) {
                caps.push(cap);
            }
        }
    };
    for (word, found, unless) in RULES {
        if has_word(model, word) && !unless.iter().any(|u| has_word(model, u)) {
            add(found);
        }
    }
    let families: Vec<&str> = std::iter::once(details.family.as_str())
        .chain(details.families.iter().flatten().map(String::as_str))
        .collect();
    for family in families {
        match family {
            "clip" | "mllama" => add(V),
            "bert" | "nomic-bert" | "xlm-roberta" => add(E),
            "gptoss" | "gpt-oss" => add(TR),
            _ => {}
        }
    }
    caps
}
