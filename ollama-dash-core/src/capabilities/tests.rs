#![allow(clippy::unwrap_used, reason = "tests")]

use serde_json::json;

use super::rules::has_word;
use super::*;

fn details(family: &str, families: &[&str]) -> ModelDetails {
    ModelDetails {
        family: family.to_owned(),
        families: Some(families.iter().map(|f| (*f).to_owned()).collect()),
        ..Default::default()
    }
}

/// Renders flags as `name(source), …` sorted, for one-line expectations.
fn render(caps: &Capabilities) -> String {
    let mut parts: Vec<String> = caps
        .0
        .iter()
        .map(|c| format!("{}({})", c.name, c.source))
        .collect();
    parts.sort();
    parts.join(", ")
}

#[test]
fn name_rules_on_real_model_names() {
    // (name, family, expected flags by name/family rules only)
    let table: &[(&str, &str, &str)] = &[
        ("llava:7b", "llama", "completion, vision"),
        ("llava-phi3:3.8b", "llama", "completion, vision"),
        ("llama3.2-vision:11b", "mllama", "completion, vision"),
        ("qwen2.5vl:7b", "qwen25vl", "completion, vision"),
        (
            "hf.co/bartowski/Qwen2-VL-7B-Instruct-GGUF:Q4_K_M",
            "qwen2vl",
            "completion, vision",
        ),
        ("moondream:1.8b", "phi2", "completion, vision"),
        ("minicpm-v:8b", "qwen2", "completion, vision"),
        ("gemma3:4b", "gemma3", "completion, vision"),
        ("gemma3:1b", "gemma3", "completion"),
        ("gemma3n:e4b", "gemma3n", "completion"),
        ("nomic-embed-text:latest", "nomic-bert", "embedding"),
        ("mxbai-embed-large:335m", "bert", "embedding"),
        ("bge-m3:567m", "bert", "embedding"),
        ("all-minilm:22m", "bert", "embedding"),
        ("snowflake-arctic-embed:110m", "bert", "embedding"),
        ("llama3.1:8b", "llama", "completion, tools"),
        ("llama3.2:1b", "llama", "completion, tools"),
        ("qwen2.5:7b", "qwen2", "completion, tools"),
        ("qwen2.5-coder:7b", "qwen2", "completion, insert, tools"),
        ("mistral:7b", "llama", "completion, tools"),
        ("qwen3:0.6b", "qwen3", "completion, thinking, tools"),
        ("deepseek-r1:7b", "qwen2", "completion, thinking"),
        ("deepseek-r1:8b", "llama", "completion, thinking"),
        ("qwq:32b", "qwen2", "completion, thinking, tools"),
        ("gpt-oss:20b", "gptoss", "completion, thinking, tools"),
        ("marco-o1:7b", "qwen2", "completion, thinking"),
        ("codellama:7b-code", "llama", "completion, insert"),
        ("codellama:7b-instruct", "llama", "completion"),
        ("starcoder2:3b", "starcoder2", "completion, insert"),
        ("phi3:3.8b", "phi3", "completion"),
        ("tinyllama:1.1b", "llama", "completion"),
        // No false positives: o1, vl and cot inside other words.
        ("mascot-7b:latest", "llama", "completion"),
        ("devlin/helper:o10", "llama", "completion"),
        ("yo1lo:latest", "llama", "completion"),
        ("scottish-gpt:7b", "gpt2", "completion"),
        ("solvlet:3b", "llama", "completion"),
        ("embedded-assistant:7b", "llama", "completion"),
    ];
    for (name, family, expected) in table {
        let caps = resolve(name, &details(family, &[family]), None, None);
        let mut names = caps.names();
        names.sort_unstable();
        assert_eq!(names.join(", "), *expected, "{name}");
        assert!(
            caps.0.iter().all(|c| c.source == Source::NameRule),
            "{name}: {caps:?}"
        );
    }
}

#[test]
fn whole_words_only() {
    assert!(has_word("qwen2.5vl:7b", "vl"));
    assert!(has_word("qwen2-vl", "vl"));
    assert!(!has_word("devlin", "vl"));
    assert!(!has_word("mascot", "cot"));
    assert!(has_word("cot-llama", "cot"));
    assert!(!has_word("o10", "o1"));
    assert!(!has_word("yo1", "o1"));
    assert!(has_word("marco-o1", "o1"));
    assert!(!has_word("gemma3n", "gemma3"));
    assert!(has_word("gemma3:4b", "gemma3"));
}

#[test]
fn ollama_capabilities_win_and_say_so() {
    let show = ShowResponse {
        capabilities: Some(vec!["completion".into(), "vision".into()]),
        ..Default::default()
    };
    // The name would suggest tools; Ollama's list is authoritative.
    let caps = resolve("llama3.2:1b", &ModelDetails::default(), Some(&show), None);
    assert_eq!(render(&caps), "completion(ollama), vision(ollama)");
    // /api/tags capabilities (v0.30+) count as Ollama's too.
    let listed = vec!["embedding".to_owned()];
    let caps = resolve("x:1b", &ModelDetails::default(), None, Some(&listed));
    assert_eq!(render(&caps), "embedding(ollama)");
}

#[test]
fn gguf_and_template_facts_come_before_names() {
    let info = |v: serde_json::Value| v.as_object().unwrap().clone();
    // An embedding model by GGUF, though its name says nothing.
    let show = ShowResponse {
        model_info: info(json!({"general.architecture": "bert", "bert.pooling_type": 1})),
        ..Default::default()
    };
    let caps = resolve(
        "my-model:latest",
        &ModelDetails::default(),
        Some(&show),
        None,
    );
    assert_eq!(render(&caps), "embedding(gguf)");
    // Vision inside the main GGUF, tools and thinking from the template.
    let show = ShowResponse {
        model_info: info(
            json!({"general.architecture": "gemma3", "gemma3.vision.block_count": 27}),
        ),
        template: Some("{{ if .Tools }}…{{ end }}{{ .Thinking }}".into()),
        ..Default::default()
    };
    let caps = resolve("custom:latest", &ModelDetails::default(), Some(&show), None);
    assert_eq!(
        render(&caps),
        "completion(gguf), thinking(template), tools(template), vision(gguf)"
    );
    // A projector layer means vision (llava); a template without .Tools means no tools even
    // if the name says llama3.1.
    let show = ShowResponse {
        model_info: info(json!({"general.architecture": "llama"})),
        projector_info: Some(info(json!({"general.architecture": "clip"}))),
        template: Some("{{ .Prompt }}".into()),
        ..Default::default()
    };
    let caps = resolve(
        "llama3.1-llava:8b",
        &ModelDetails::default(),
        Some(&show),
        None,
    );
    assert_eq!(render(&caps), "completion(gguf), vision(gguf)");
    // FIM from the template's .Suffix.
    let show = ShowResponse {
        template: Some("<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>".into()),
        ..Default::default()
    };
    let caps = resolve(
        "codellama:7b-code",
        &ModelDetails::default(),
        Some(&show),
        None,
    );
    assert_eq!(render(&caps), "completion(name_rule), insert(template)");
}

#[derive(Debug)]
struct Audio;

#[async_trait]
impl CapabilityDetector for Audio {
    fn name(&self) -> &str {
        "audio-check"
    }
    async fn detect(&self, facts: &ModelFacts) -> Result<Vec<String>> {
        if facts.name.contains("whisper") {
            return Ok(vec!["audio".into(), "completion".into()]);
        }
        Err(crate::Error::Unavailable("nothing to say".into()))
    }
}

#[tokio::test]
async fn detectors_add_flags_with_their_name_and_failures_are_skipped() {
    let detectors: Vec<Arc<dyn CapabilityDetector>> = vec![Arc::new(Audio)];
    let name = "whisper-llm:1b";
    let found = resolve(name, &ModelDetails::default(), None, None);
    let facts = ModelFacts {
        name: name.into(),
        found,
        ..Default::default()
    };
    let caps = run_detectors(&detectors, facts).await;
    assert_eq!(
        render(&caps),
        "audio(detector:audio-check), completion(name_rule)"
    );
    let facts = ModelFacts {
        name: "plain:1b".into(),
        found: resolve("plain:1b", &ModelDetails::default(), None, None),
        ..Default::default()
    };
    assert_eq!(
        render(&run_detectors(&detectors, facts).await),
        "completion(name_rule)"
    );
}
