//! The simulated model library: what is installed at start and what `/api/pull` can fetch.
//! Values follow the real Ollama library entries (families, sizes, context lengths, templates).

use chrono::{Local, TimeDelta};
use ollama_dash_gguf as gguf;
use serde_json::{Map, Value, json};

use super::model::{
    Gguf, Layer, MEDIA_MODEL, MEDIA_PROJECTOR, Model, Parts, Tensor, bits_per_weight, file_type_id,
    sha256_digest, tensor_type,
};
use super::names::Name;

/// One library model.
struct Spec {
    name: &'static str,
    installed: bool,
    arch: &'static str,
    basename: &'static str,
    params: u64,
    file_type: u64,
    /// Bytes of the model layer.
    size: u64,
    context: u64,
    embedding: u64,
    blocks: u64,
    heads: u64,
    heads_kv: u64,
    ffn: u64,
    vocab: u64,
    tokenizer: &'static str,
    /// An embedding model (`<arch>.pooling_type`).
    pooling: bool,
    /// A separate CLIP projector: (bytes, parameters).
    projector: Option<(u64, u64)>,
    /// A vision encoder inside the model file (`<arch>.vision.block_count`, Ollama's new engine).
    vision: bool,
    template: &'static str,
    params_json: &'static str,
    license: &'static str,
}

const LLAMA32_TEMPLATE: &str = r#"<|start_header_id|>system<|end_header_id|>

Cutting Knowledge Date: December 2023

{{ if .System }}{{ .System }}
{{- end }}
{{- if .Tools }}When you receive a tool call response, use the output to format an answer to the orginal user question.

You are a helpful assistant with tool calling capabilities.
{{- end }}<|eot_id|>
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<|start_header_id|>user<|end_header_id|>
{{- if and $.Tools $last }}

Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.

Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}. Do not use variables.

{{ range $.Tools }}
{{- . }}
{{ end }}
{{ .Content }}<|eot_id|>
{{- else }}

{{ .Content }}<|eot_id|>
{{- end }}{{ if $last }}<|start_header_id|>assistant<|end_header_id|>

{{ end }}
{{- else if eq .Role "assistant" }}<|start_header_id|>assistant<|end_header_id|>
{{- if .ToolCalls }}
{{ range .ToolCalls }}
{"name": "{{ .Function.Name }}", "parameters": {{ .Function.Arguments }}}{{ end }}
{{- else }}

{{ .Content }}
{{- end }}{{ if not $last }}<|eot_id|>{{ end }}
{{- else if eq .Role "tool" }}<|start_header_id|>ipython<|end_header_id|>

{{ .Content }}<|eot_id|>{{ if $last }}<|start_header_id|>assistant<|end_header_id|>

{{ end }}
{{- end }}
{{- end }}"#;

const QWEN3_TEMPLATE: &str = r#"{{- $lastUserIdx := -1 -}}
{{- range $idx, $msg := .Messages -}}
{{- if eq $msg.Role "user" }}{{ $lastUserIdx = $idx }}{{ end -}}
{{- end }}
{{- if or .System .Tools }}<|im_start|>system
{{ if .System }}
{{ .System }}
{{- end }}
{{- if .Tools }}

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{{- range .Tools }}
{"type": "function", "function": {{ .Function }}}
{{- end }}
</tools>

For each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:
<tool_call>
{"name": <function-name>, "arguments": <args-json-object>}
</tool_call>
{{- end -}}
<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ if (and $.IsThinkSet (and .Thinking (or $last (gt $i $lastUserIdx)))) -}}
<think>{{ .Thinking }}</think>
{{ end -}}
{{ if .Content }}{{ .Content }}
{{- else if .ToolCalls }}<tool_call>
{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ .Function.Arguments }}}
{{ end }}</tool_call>
{{- end }}{{ if not $last }}<|im_end|>
{{ end }}
{{- else if eq .Role "tool" }}<|im_start|>user
<tool_response>
{{ .Content }}
</tool_response><|im_end|>
{{ end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ if and $.IsThinkSet (not $.Think) -}}
<think>

</think>

{{ end -}}
{{ end }}
{{- end }}"#;

const QWEN25_TEMPLATE: &str = r#"{{- if .Messages }}
{{- if or .System .Tools }}<|im_start|>system
{{- if .System }}
{{ .System }}
{{- end }}
{{- if .Tools }}

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{{- range .Tools }}
{"type": "function", "function": {{ .Function }}}
{{- end }}
</tools>
{{- end }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ .Content }}{{ if not $last }}<|im_end|>
{{ end }}
{{- else if eq .Role "tool" }}<|im_start|>user
<tool_response>
{{ .Content }}
</tool_response><|im_end|>
{{ end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ end }}
{{- end }}
{{- else }}
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>{{ end }}"#;

const QWEN25_CODER_TEMPLATE: &str = r#"{{- if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>
{{- else if .Messages }}
{{- if or .System .Tools }}<|im_start|>system
{{- if .System }}
{{ .System }}
{{- end }}
{{- if .Tools }}

# Tools

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{{- range .Tools }}
{"type": "function", "function": {{ .Function }}}
{{- end }}
</tools>
{{- end }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
<|im_start|>{{ .Role }}
{{ .Content }}{{ if not $last }}<|im_end|>
{{ end }}
{{- if and (ne .Role "assistant") $last }}<|im_end|>
<|im_start|>assistant
{{ end }}
{{- end }}
{{- else }}<|im_start|>user
{{ .Prompt }}<|im_end|>
<|im_start|>assistant
{{ end }}{{ .Response }}"#;

const GPTOSS_TEMPLATE: &str = r#"<|start|>system<|message|>You are ChatGPT, a large language model trained by OpenAI.
Reasoning: {{ if .ThinkLevel }}{{ .ThinkLevel }}{{ else }}medium{{ end }}
{{- if .Tools }}

# Tools

## functions

namespace functions {
{{- range .Tools }}
// {{ .Function.Description }}
type {{ .Function.Name }} = (_: {{ .Function.Parameters }}) => any;
{{- end }}
} // namespace functions
{{- end }}<|end|>
{{- range $i, $msg := .Messages }}
{{- if eq $msg.Role "user" }}<|start|>user<|message|>{{ $msg.Content }}<|end|>
{{- else if eq $msg.Role "assistant" }}
{{- if $msg.Thinking }}<|start|>assistant<|channel|>analysis<|message|>{{ $msg.Thinking }}<|end|>{{ end }}
{{- if $msg.Content }}<|start|>assistant<|channel|>final<|message|>{{ $msg.Content }}<|end|>{{ end }}
{{- else if eq $msg.Role "tool" }}<|start|>functions.{{ $msg.ToolName }} to=assistant<|channel|>commentary<|message|>{{ $msg.Content }}<|end|>
{{- end }}
{{- end }}<|start|>assistant"#;

const CHATML_TEMPLATE: &str = r#"{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
"#;

const GEMMA3_TEMPLATE: &str = r#"{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if or (eq .Role "user") (eq .Role "system") }}<start_of_turn>user
{{ .Content }}<end_of_turn>
{{ if $last }}<start_of_turn>model
{{ end }}
{{- else if eq .Role "assistant" }}<start_of_turn>model
{{ .Content }}{{ if not $last }}<end_of_turn>
{{ end }}
{{- end }}
{{- end }}"#;

const LLAVA_TEMPLATE: &str = "[INST] {{ if .System }}{{ .System }} {{ end }}{{ .Prompt }} [/INST]";
const PROMPT_TEMPLATE: &str = "{{ .Prompt }}";

const LLAMA_LICENSE: &str = "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT\nLlama 3.2 Version Release Date: September 25, 2024\n\n\u{201c}Agreement\u{201d} means the terms and conditions for use, reproduction, distribution and modification of the Llama Materials set forth herein.";
const APACHE_LICENSE: &str = "                                 Apache License\n                           Version 2.0, January 2004\n                        http://www.apache.org/licenses/";
const LLAMA31_LICENSE: &str =
    "LLAMA 3.1 COMMUNITY LICENSE AGREEMENT\nLlama 3.1 Version Release Date: July 23, 2024";
const MIT_LICENSE: &str = "MIT License\n\nCopyright (c) 2023 DeepSeek";
const GEMMA_LICENSE: &str = "Gemma Terms of Use\n\nLast modified: March 24, 2025\n\nBy using, reproducing, modifying, distributing, performing or displaying any portion or element of Gemma, Model Derivatives including via any Hosted Service, you agree to be bound by this Agreement.";

const SPECS: &[Spec] = &[
    Spec {
        name: "llama3.2:1b",
        installed: true,
        arch: "llama",
        basename: "Llama-3.2",
        params: 1_235_814_432,
        file_type: 7,
        size: 1_321_082_688,
        context: 131_072,
        embedding: 2048,
        blocks: 16,
        heads: 32,
        heads_kv: 8,
        ffn: 8192,
        vocab: 128_256,
        tokenizer: "gpt2",
        pooling: false,
        projector: None,
        vision: false,
        template: LLAMA32_TEMPLATE,
        params_json: r#"{"stop":["<|start_header_id|>","<|end_header_id|>","<|eot_id|>"]}"#,
        license: LLAMA_LICENSE,
    },
    Spec {
        name: "llava:7b",
        installed: true,
        arch: "llama",
        basename: "llava-v1.6-mistral",
        params: 7_241_732_096,
        file_type: 2,
        size: 4_108_916_384,
        context: 32_768,
        embedding: 4096,
        blocks: 32,
        heads: 32,
        heads_kv: 8,
        ffn: 14_336,
        vocab: 32_000,
        tokenizer: "llama",
        pooling: false,
        projector: Some((624_434_344, 311_891_456)),
        vision: false,
        template: LLAVA_TEMPLATE,
        params_json: r#"{"stop":["[INST]","[/INST]"]}"#,
        license: APACHE_LICENSE,
    },
    Spec {
        name: "qwen3:0.6b",
        installed: true,
        arch: "qwen3",
        basename: "Qwen3",
        params: 751_632_384,
        file_type: 15,
        size: 522_650_272,
        context: 40_960,
        embedding: 1024,
        blocks: 28,
        heads: 16,
        heads_kv: 8,
        ffn: 3072,
        vocab: 151_936,
        tokenizer: "gpt2",
        pooling: false,
        projector: None,
        vision: false,
        template: QWEN3_TEMPLATE,
        params_json: r#"{"repeat_penalty":1,"stop":["<|im_start|>","<|im_end|>"],"temperature":0.6,"top_k":20,"top_p":0.95}"#,
        license: APACHE_LICENSE,
    },
    Spec {
        name: "nomic-embed-text:latest",
        installed: true,
        arch: "nomic-bert",
        basename: "nomic-embed-text",
        params: 136_727_040,
        file_type: 1,
        size: 274_290_656,
        context: 2048,
        embedding: 768,
        blocks: 12,
        heads: 12,
        heads_kv: 12,
        ffn: 3072,
        vocab: 30_522,
        tokenizer: "bert",
        pooling: true,
        projector: None,
        vision: false,
        template: PROMPT_TEMPLATE,
        params_json: r#"{"num_ctx":8192}"#,
        license: APACHE_LICENSE,
    },
    Spec {
        name: "smollm2:135m",
        installed: false,
        arch: "llama",
        basename: "SmolLM2",
        params: 134_515_008,
        file_type: 7,
        size: 270_898_528,
        context: 8192,
        embedding: 576,
        blocks: 30,
        heads: 9,
        heads_kv: 3,
        ffn: 1536,
        vocab: 49_152,
        tokenizer: "gpt2",
        pooling: false,
        projector: None,
        vision: false,
        template: CHATML_TEMPLATE,
        params_json: r#"{"stop":["<|im_start|>","<|im_end|>"]}"#,
        license: APACHE_LICENSE,
    },
    Spec {
        name: "qwen2.5:0.5b",
        installed: false,
        arch: "qwen2",
        basename: "Qwen2.5",
        params: 494_032_768,
        file_type: 15,
        size: 397_807_936,
        context: 32_768,
        embedding: 896,
        blocks: 24,
        heads: 14,
        heads_kv: 2,
        ffn: 4864,
        vocab: 151_936,
        tokenizer: "gpt2",
        pooling: false,
        projector: None,
        vision: false,
        template: QWEN25_TEMPLATE,
        params_json: "",
        license: APACHE_LICENSE,
    },
    Spec {
        name: "gemma3:1b",
        installed: false,
        arch: "gemma3",
        basename: "gemma-3",
        params: 999_885_952,
        file_type: 15,
        size: 815_310_432,
        context: 32_768,
        embedding: 1152,
        blocks: 26,
        heads: 4,
        heads_kv: 1,
        ffn: 6912,
        vocab: 262_144,
        tokenizer: "llama",
        pooling: false,
        projector: None,
        vision: false,
        template: GEMMA3_TEMPLATE,
        params_json: r#"{"stop":["<end_of_turn>"],"temperature":1,"top_k":64,"top_p":0.95}"#,
        license: GEMMA_LICENSE,
    },
    Spec {
        name: "all-minilm:latest",
        installed: false,
        arch: "bert",
        basename: "all-MiniLM-L6-v2",
        params: 22_565_376,
        file_type: 1,
        size: 45_949_216,
        context: 512,
        embedding: 384,
        blocks: 6,
        heads: 12,
        heads_kv: 12,
        ffn: 1536,
        vocab: 30_522,
        tokenizer: "bert",
        pooling: true,
        projector: None,
        vision: false,
        template: PROMPT_TEMPLATE,
        params_json: "",
        license: APACHE_LICENSE,
    },
    Spec {
        name: "llama3.2:3b",
        installed: false,
        arch: "llama",
        basename: "Llama-3.2",
        params: 3_212_749_888,
        file_type: 15,
        size: 2_019_377_376,
        context: 131_072,
        embedding: 3072,
        blocks: 28,
        heads: 24,
        heads_kv: 8,
        ffn: 8192,
        vocab: 128_256,
        tokenizer: "gpt2",
        pooling: false,
        projector: None,
        vision: false,
        template: LLAMA32_TEMPLATE,
        params_json: r#"{"stop":["<|start_header_id|>","<|end_header_id|>","<|eot_id|>"]}"#,
        license: LLAMA_LICENSE,
    },
    Spec {
        name: "llama3.1:8b",
        installed: false,
        arch: "llama",
        basename: "Meta-Llama-3.1",
        params: 8_030_261_248,
        file_type: 15,
        size: 4_920_734_016,
        context: 131_072,
        embedding: 4096,
        blocks: 32,
        heads: 32,
        heads_kv: 8,
        ffn: 14_336,
        vocab: 128_256,
        tokenizer: "gpt2",
        pooling: false,
        projector: None,
        vision: false,
        template: LLAMA32_TEMPLATE,
        params_json: r#"{"stop":["<|start_header_id|>","<|end_header_id|>","<|eot_id|>"]}"#,
        license: LLAMA31_LICENSE,
    },
    Spec {
        name: "qwen3:4b",
        installed: false,
        arch: "qwen3",
        basename: "Qwen3",
        params: 4_022_468_096,
        file_type: 15,
        size: 2_497_280_256,
        context: 40_960,
        embedding: 2560,
        blocks: 36,
        heads: 32,
        heads_kv: 8,
        ffn: 9728,
        vocab: 151_936,
        tokenizer: "gpt2",
        pooling: false,
        projector: None,
        vision: false,
        template: QWEN3_TEMPLATE,
        params_json: r#"{"repeat_penalty":1,"stop":["<|im_start|>","<|im_end|>"],"temperature":0.6,"top_k":20,"top_p":0.95}"#,
        license: APACHE_LICENSE,
    },
    Spec {
        name: "qwen3:8b",
        installed: false,
        arch: "qwen3",
        basename: "Qwen3",
        params: 8_190_735_360,
        file_type: 15,
        size: 5_225_376_256,
        context: 40_960,
        embedding: 4096,
        blocks: 36,
        heads: 32,
        heads_kv: 8,
        ffn: 12_288,
        vocab: 151_936,
        tokenizer: "gpt2",
        pooling: false,
        projector: None,
        vision: false,
        template: QWEN3_TEMPLATE,
        params_json: r#"{"repeat_penalty":1,"stop":["<|im_start|>","<|im_end|>"],"temperature":0.6,"top_k":20,"top_p":0.95}"#,
        license: APACHE_LICENSE,
    },
    Spec {
        name: "qwen2.5-coder:7b",
        installed: false,
        arch: "qwen2",
        basename: "Qwen2.5-Coder",
        params: 7_615_616_512,
        file_type: 15,
        size: 4_683_073_184,
        context: 32_768,
        embedding: 3584,
        blocks: 28,
        heads: 28,
        heads_kv: 4,
        ffn: 18_944,
        vocab: 152_064,
        tokenizer: "gpt2",
        pooling: false,
        projector: None,
        vision: false,
        template: QWEN25_CODER_TEMPLATE,
        params_json: "",
        license: APACHE_LICENSE,
    },
    Spec {
        name: "qwen2.5vl:7b",
        installed: false,
        arch: "qwen25vl",
        basename: "Qwen2.5-VL",
        params: 8_292_166_656,
        file_type: 15,
        size: 5_969_243_136,
        context: 128_000,
        embedding: 3584,
        blocks: 28,
        heads: 28,
        heads_kv: 4,
        ffn: 18_944,
        vocab: 152_064,
        tokenizer: "gpt2",
        pooling: false,
        projector: None,
        vision: true,
        template: CHATML_TEMPLATE,
        params_json: "",
        license: APACHE_LICENSE,
    },
    Spec {
        name: "gemma3:4b",
        installed: false,
        arch: "gemma3",
        basename: "gemma-3",
        params: 4_300_079_472,
        file_type: 15,
        size: 3_338_792_448,
        context: 131_072,
        embedding: 2560,
        blocks: 34,
        heads: 8,
        heads_kv: 4,
        ffn: 10_240,
        vocab: 262_144,
        tokenizer: "llama",
        pooling: false,
        projector: None,
        vision: true,
        template: GEMMA3_TEMPLATE,
        params_json: r#"{"stop":["<end_of_turn>"],"temperature":1,"top_k":64,"top_p":0.95}"#,
        license: GEMMA_LICENSE,
    },
    Spec {
        name: "deepseek-r1:8b",
        installed: false,
        arch: "qwen3",
        basename: "DeepSeek-R1-0528-Qwen3",
        params: 8_190_735_360,
        file_type: 15,
        size: 5_225_376_256,
        context: 131_072,
        embedding: 4096,
        blocks: 36,
        heads: 32,
        heads_kv: 8,
        ffn: 12_288,
        vocab: 151_936,
        tokenizer: "gpt2",
        pooling: false,
        projector: None,
        vision: false,
        template: QWEN3_TEMPLATE,
        params_json: r#"{"repeat_penalty":1,"stop":["<|im_start|>","<|im_end|>"],"temperature":0.6,"top_k":20,"top_p":0.95}"#,
        license: MIT_LICENSE,
    },
    Spec {
        name: "gpt-oss:20b",
        installed: false,
        arch: "gptoss",
        basename: "gpt-oss",
        params: 20_914_757_184,
        file_type: 38,
        size: 13_780_154_624,
        context: 131_072,
        embedding: 2880,
        blocks: 24,
        heads: 64,
        heads_kv: 8,
        ffn: 2880,
        vocab: 201_088,
        tokenizer: "gpt2",
        pooling: false,
        projector: None,
        vision: false,
        template: GPTOSS_TEMPLATE,
        params_json: r#"{"temperature":1}"#,
        license: APACHE_LICENSE,
    },
];

/// The models installed when the simulator starts, newest first.
pub(crate) fn installed() -> Vec<Model> {
    let now = Local::now();
    SPECS
        .iter()
        .filter(|spec| spec.installed)
        .zip(1i64..)
        .filter_map(|(spec, age)| {
            let name = Name::parse(spec.name)?;
            Some(Model::build(
                name,
                parts(spec, spec.name, None),
                now - TimeDelta::hours(age * 30),
            ))
        })
        .collect()
}

/// What `/api/pull` finds in the "registry" for a name: library models, and any Hugging Face repository.
pub(crate) fn pullable(name: &Name) -> Option<Parts> {
    if let Some(spec) = SPECS
        .iter()
        .find(|spec| Name::parse(spec.name).is_some_and(|n| n.key() == name.key()))
    {
        return Some(parts(spec, spec.name, None));
    }
    name.is_hugging_face().then(|| hugging_face(name))
}

/// A GGUF repository on Hugging Face: the family is guessed from the repository name, the size from
/// a `1.5B`/`135M` marker in it, and the quantization from the tag (default `Q4_K_M`).
fn hugging_face(name: &Name) -> Parts {
    let repo = name.model.to_lowercase();
    let base = [
        ("qwen3", 2),
        ("qwen", 5),
        ("gemma", 6),
        ("smollm", 4),
        ("llava", 1),
        ("nomic", 3),
        ("minilm", 7),
    ]
    .iter()
    .find(|(key, _)| repo.contains(key))
    .and_then(|(_, index)| SPECS.get(*index))
    .or(SPECS.first());
    let params = parameter_marker(&repo);
    let file_type = file_type_id(&name.tag).unwrap_or(15);
    base.map_or_else(Parts::default, |spec| {
        parts(spec, &name.to_string(), Some((params, file_type)))
    })
}

/// `1.5b` → 1.5e9, `135m` → 135e6, from a repository name.
fn parameter_marker(repo: &str) -> Option<u64> {
    repo.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.'))
        .find_map(|word| {
            let (number, scale) = match word.chars().last()? {
                'b' => (&word[..word.len() - 1], 1e9),
                'm' => (&word[..word.len() - 1], 1e6),
                _ => return None,
            };
            number
                .parse::<f64>()
                .ok()
                .filter(|n| *n > 0.0)
                .map(|n| (n * scale) as u64)
        })
}

/// Builds the parts of a library model; `seed` names its blobs, `resize` overrides parameters and file type.
fn parts(spec: &Spec, seed: &str, resize: Option<(Option<u64>, u64)>) -> Parts {
    let (params, file_type, size) = match resize {
        Some((params, file_type)) => {
            let params = params.unwrap_or(spec.params);
            (
                params,
                file_type,
                (params as f64 * bits_per_weight(file_type) / 8.0) as u64,
            )
        }
        None => (spec.params, spec.file_type, spec.size),
    };
    let arch = spec.arch;
    let mut kv = Map::new();
    let mut put = |key: String, value: Value| kv.insert(key, value);
    put("general.architecture".into(), json!(arch));
    put("general.type".into(), json!("model"));
    put("general.basename".into(), json!(spec.basename));
    put("general.file_type".into(), json!(file_type));
    put("general.parameter_count".into(), json!(params));
    put("general.quantization_version".into(), json!(2));
    for (key, value) in [
        ("context_length", spec.context),
        ("embedding_length", spec.embedding),
        ("block_count", spec.blocks),
        ("feed_forward_length", spec.ffn),
        ("attention.head_count", spec.heads),
        ("attention.head_count_kv", spec.heads_kv),
        ("vocab_size", spec.vocab),
    ] {
        put(format!("{arch}.{key}"), json!(value));
    }
    put(
        format!("{arch}.attention.layer_norm_rms_epsilon"),
        json!(1e-5),
    );
    if spec.vision {
        put(format!("{arch}.vision.block_count"), json!(27));
    }
    if spec.pooling {
        put(format!("{arch}.pooling_type"), json!(1));
        put(format!("{arch}.attention.causal"), json!(false));
    } else {
        put(
            format!("{arch}.rope.freq_base"),
            json!(if arch == "llama" {
                500_000.0
            } else {
                1_000_000.0
            }),
        );
    }
    put("tokenizer.ggml.model".into(), json!(spec.tokenizer));
    put("tokenizer.ggml.tokens".into(), json!([]));
    put("tokenizer.ggml.token_type".into(), json!([]));
    if spec.tokenizer == "gpt2" {
        put("tokenizer.ggml.merges".into(), json!([]));
    }
    put("tokenizer.ggml.bos_token_id".into(), json!(1));
    put("tokenizer.ggml.eos_token_id".into(), json!(2));
    let blob = |kind: &str| sha256_digest(format!("ollama-dash-sim:{seed}:{kind}").as_bytes());
    let projector = spec.projector.map(|(bytes, params)| {
        let kv = json!({
            "general.architecture": "clip", "general.type": "mmproj", "general.file_type": 1,
            "general.parameter_count": params, "clip.has_vision_encoder": true, "clip.has_llava_projector": true,
            "clip.projector_type": "mlp", "clip.vision.image_size": 336, "clip.vision.patch_size": 14,
            "clip.vision.embedding_length": 1024, "clip.vision.block_count": 23,
            "clip.vision.feed_forward_length": 4096, "clip.vision.attention.head_count": 16,
            "clip.vision.projection_dim": 768,
        });
        let kv = kv.as_object().cloned().unwrap_or_default();
        let layer = Layer { media_type: MEDIA_PROJECTOR.to_owned(), digest: blob("projector"), size: bytes };
        (Gguf { kv, tensors: Vec::new(), parameter_count: params, quantization: "F16".to_owned() }, layer)
    });
    Parts {
        weights: Gguf {
            kv,
            tensors: tensors(spec, file_type),
            parameter_count: params,
            quantization: u32::try_from(file_type)
                .ok()
                .and_then(gguf::file_type_name)
                .unwrap_or("unknown")
                .to_owned(),
        },
        weights_layer: Some(Layer {
            media_type: MEDIA_MODEL.to_owned(),
            digest: blob("model"),
            size,
        }),
        projector,
        adapter: None,
        template: spec.template.to_owned(),
        system: String::new(),
        params: serde_json::from_str(spec.params_json).unwrap_or_default(),
        license: vec![spec.license.to_owned()],
        messages: Vec::new(),
        parent: String::new(),
    }
}

/// A plausible tensor list for a transformer of this shape.
fn tensors(spec: &Spec, file_type: u64) -> Vec<Tensor> {
    let weight = tensor_type(file_type);
    let sensitive = if file_type == 15 { "Q6_K" } else { weight };
    let kv_width = spec.embedding * spec.heads_kv / spec.heads.max(1);
    let tensor = |name: String, kind: &str, shape: &[u64]| Tensor {
        name,
        kind: kind.to_owned(),
        shape: shape.to_vec(),
    };
    let mut out = vec![tensor(
        "token_embd.weight".into(),
        sensitive,
        &[spec.embedding, spec.vocab],
    )];
    for i in 0..spec.blocks {
        let blk = |part: &str| format!("blk.{i}.{part}.weight");
        out.push(tensor(blk("attn_norm"), "F32", &[spec.embedding]));
        out.push(tensor(
            blk("attn_q"),
            weight,
            &[spec.embedding, spec.embedding],
        ));
        out.push(tensor(blk("attn_k"), weight, &[spec.embedding, kv_width]));
        out.push(tensor(
            blk("attn_v"),
            sensitive,
            &[spec.embedding, kv_width],
        ));
        out.push(tensor(
            blk("attn_output"),
            weight,
            &[spec.embedding, spec.embedding],
        ));
        out.push(tensor(blk("ffn_norm"), "F32", &[spec.embedding]));
        if !spec.pooling {
            out.push(tensor(blk("ffn_gate"), weight, &[spec.embedding, spec.ffn]));
        }
        out.push(tensor(blk("ffn_up"), weight, &[spec.embedding, spec.ffn]));
        out.push(tensor(
            blk("ffn_down"),
            sensitive,
            &[spec.ffn, spec.embedding],
        ));
    }
    out.push(tensor(
        "output_norm.weight".into(),
        "F32",
        &[spec.embedding],
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_models_report_ollamas_capabilities() {
        let models = installed();
        let caps = |name: &str| {
            models
                .iter()
                .find(|m| m.name.display() == name)
                .map(|m| m.capabilities.clone())
        };
        assert_eq!(caps("llama3.2:1b"), Some(vec!["completion", "tools"]));
        assert_eq!(caps("llava:7b"), Some(vec!["completion", "vision"]));
        assert_eq!(
            caps("qwen3:0.6b"),
            Some(vec!["completion", "tools", "thinking"])
        );
        assert_eq!(caps("nomic-embed-text:latest"), Some(vec!["embedding"]));
        let llama = models
            .iter()
            .find(|m| m.name.model == "llama3.2")
            .expect("valid");
        assert_eq!(
            (
                llama.details.parameter_size.as_str(),
                llama.details.quantization_level.as_str()
            ),
            ("1.2B", "Q8_0")
        );
        let llava = models
            .iter()
            .find(|m| m.name.model == "llava")
            .expect("valid");
        assert_eq!(llava.details.families, ["llama", "clip"]);
    }

    /// `serve --simulate` works from the first click: every model the dashboard's catalogue
    /// recommends (`ollama-dash-core/data/catalogue.json`, `"best": true`) can be pulled here,
    /// with the capabilities the catalogue promises and about the size it states.
    #[test]
    fn every_recommended_catalogue_model_is_pullable_with_its_capabilities_and_size() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../ollama-dash-core/data/catalogue.json"
        );
        let catalogue: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("catalogue")).expect("json");
        let best: Vec<&Value> = catalogue["models"]
            .as_array()
            .expect("models")
            .iter()
            .filter(|m| m["best"] == true)
            .collect();
        assert!(best.len() >= 10, "{}", best.len());
        for model in best {
            let name = model["name"].as_str().expect("name");
            let parts = pullable(&Name::parse(name).expect("valid"))
                .unwrap_or_else(|| panic!("{name} cannot be pulled in the simulator"));
            let mut caps: Vec<&str> = super::super::model::capabilities(&parts);
            let mut promised: Vec<&str> = model["capabilities"]
                .as_array()
                .expect("capabilities")
                .iter()
                .filter_map(Value::as_str)
                .collect();
            caps.sort_unstable();
            promised.sort_unstable();
            assert_eq!(caps, promised, "{name}");
            let size = parts.weights_layer.as_ref().expect("weights").size as f64
                + parts
                    .projector
                    .as_ref()
                    .map_or(0.0, |(_, layer)| layer.size as f64);
            let stated = model["size_bytes"].as_f64().expect("size");
            assert!(
                (size / stated - 1.0).abs() < 0.1,
                "{name}: {size} bytes, the catalogue says {stated}"
            );
        }
    }

    #[test]
    fn hugging_face_names_are_pullable() {
        let name = Name::parse("hf.co/bartowski/Qwen2.5-1.5B-Instruct-GGUF:Q8_0").expect("valid");
        let parts = pullable(&name).expect("valid");
        assert_eq!(parts.weights.architecture(), "qwen2");
        assert_eq!(parts.weights.parameter_count, 1_500_000_000);
        assert_eq!(parts.weights.quantization, "Q8_0");
        assert!(pullable(&Name::parse("nosuchmodel").expect("valid")).is_none());
    }
}
