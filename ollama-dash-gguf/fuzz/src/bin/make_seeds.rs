//! Writes the seed corpus: the sample model (v2, v3), projector and adapter files.
//! `cargo run --manifest-path ollama-dash-gguf/fuzz/Cargo.toml --bin make_seeds`

use ollama_dash_gguf::{sample_adapter, sample_model, sample_projector};

fn main() -> std::io::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/gguf_header");
    std::fs::create_dir_all(&dir)?;
    for version in [2, 3] {
        sample_model("llama", version).write_to(&dir.join(format!("model-v{version}.gguf")))?;
        sample_projector(version).write_to(&dir.join(format!("mmproj-v{version}.gguf")))?;
        sample_adapter("qwen2", version).write_to(&dir.join(format!("adapter-v{version}.gguf")))?;
    }
    Ok(())
}
