//! GGUF header parse time for a realistic large header: a 150k-token vocabulary (tokens,
//! scores, token types, 150k merges), a chat template, and 291 tensor infos (a 32-block model).
#![allow(clippy::unwrap_used, reason = "benchmark setup")]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ollama_dash_core::gguf::{GgufValue, GgufWriter, Limits, read_header, read_header_from_path};

const VOCAB: usize = 150_000;

fn big_header() -> Vec<u8> {
    let s = |v: String| GgufValue::String(v);
    let tokens = (0..VOCAB).map(|i| s(format!("tok{i:06}"))).collect();
    let merges = (0..VOCAB)
        .map(|i| s(format!("t{} k{}", i % 977, i % 631)))
        .collect();
    let scores = (0..VOCAB).map(|i| GgufValue::F32(i as f32)).collect();
    let types = (0..VOCAB).map(|_| GgufValue::I32(1)).collect();
    let mut w = GgufWriter::new(3)
        .kv("general.architecture", s("llama".into()))
        .kv("general.name", s("bench".into()))
        .kv("general.file_type", GgufValue::U32(15))
        .kv("llama.context_length", GgufValue::U32(131_072))
        .kv("llama.block_count", GgufValue::U32(32))
        .kv("tokenizer.ggml.model", s("gpt2".into()))
        .kv(
            "tokenizer.ggml.tokens",
            GgufValue::array(GgufValue::TYPE_STRING, tokens),
        )
        .kv(
            "tokenizer.ggml.scores",
            GgufValue::array(GgufValue::TYPE_F32, scores),
        )
        .kv(
            "tokenizer.ggml.token_type",
            GgufValue::array(GgufValue::TYPE_I32, types),
        )
        .kv(
            "tokenizer.ggml.merges",
            GgufValue::array(GgufValue::TYPE_STRING, merges),
        )
        .kv(
            "tokenizer.chat_template",
            s("{% for m in messages %}{{ m.content }}{% endfor %}".repeat(50)),
        );
    for b in 0..32 {
        for t in [
            "attn_q",
            "attn_k",
            "attn_v",
            "attn_output",
            "ffn_gate",
            "ffn_up",
            "ffn_down",
            "attn_norm",
            "ffn_norm",
        ] {
            w = w.tensor(format!("blk.{b}.{t}.weight"), [32], 0);
        }
    }
    w.tensor("token_embd.weight", [32], 0)
        .tensor("output_norm.weight", [32], 0)
        .tensor("output.weight", [32], 0)
        .to_bytes()
}

fn bench(c: &mut Criterion) {
    let bytes = big_header();
    let dir = std::env::temp_dir().join("ollama-dash-bench-gguf");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("vocab150k.gguf");
    std::fs::write(&path, &bytes).unwrap();
    let limits = Limits::default();
    let header = read_header(bytes.as_slice(), bytes.len() as u64, &limits).unwrap();
    assert_eq!(header.tensors.len(), 291);
    let mut group = c.benchmark_group("gguf_header_150k_vocab");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("from_memory", |b| {
        b.iter(|| read_header(bytes.as_slice(), bytes.len() as u64, &limits).unwrap())
    });
    group.bench_function("from_file", |b| {
        b.iter(|| read_header_from_path(&path, &limits).unwrap())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
