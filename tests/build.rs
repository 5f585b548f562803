//! Builds the plugins the tests and benches load: the example plugins (`plugins/`), the SDK's
//! crate-docs example, and the test plugins (`tests/test-plugins/`), all for `wasm32-wasip2`,
//! into `target/wasm-plugins` (a target dir of their own, so the nested cargo never waits on the
//! lock the outer one holds). Emits `OUT_DIR/plugin_paths.rs` with one path constant per plugin.

use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";

/// One cargo build: the workspace manifest, extra cargo args, and the artefacts it yields as
/// (constant name, path under the release dir).
type Build = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
);

const BUILDS: &[Build] = &[
    (
        "plugins/Cargo.toml",
        &[],
        &[
            ("CODE_MODELS", "code_models.wasm"),
            ("VRAM_HEADROOM", "vram_headroom.wasm"),
        ],
    ),
    (
        "bindings/ollama-dash-plugin/Cargo.toml",
        &["--example", "detector"],
        &[("SDK_EXAMPLE", "examples/detector.wasm")],
    ),
    (
        "tests/test-plugins/Cargo.toml",
        &[],
        &[
            ("ECHO_V1", "echo_v1.wasm"),
            ("ECHO_V2", "echo_v2.wasm"),
            ("SPIN", "spin.wasm"),
            ("HOG", "hog.wasm"),
            ("PANICKY", "panicky.wasm"),
            ("BAD_SHAPE", "bad_shape.wasm"),
            ("SNOOP", "snoop.wasm"),
            ("CHATTY", "chatty.wasm"),
            ("ENTROPY", "entropy.wasm"),
        ],
    ),
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest_dir
        .parent()
        .expect("tests/ is inside the repository");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    // OUT_DIR is <target>/<profile>/build/<pkg>/out (with a triple dir when cross-building).
    let target_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|t| if t.is_absolute() { t } else { root.join(t) })
        .or_else(|| out_dir.ancestors().nth(4).map(Path::to_path_buf))
        .expect("a target dir");
    let wasm_target_dir = target_dir.join("wasm-plugins");
    for watched in ["bindings", "plugins", "tests/test-plugins"] {
        println!("cargo::rerun-if-changed={}", root.join(watched).display());
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let release = wasm_target_dir.join(TARGET).join("release");
    let mut constants = String::new();
    for (manifest, args, artefacts) in BUILDS {
        let status = Command::new(&cargo)
            .args([
                "build",
                "--release",
                "--locked",
                "--target",
                TARGET,
                "--manifest-path",
            ])
            .arg(root.join(manifest))
            .args(*args)
            .env("CARGO_TARGET_DIR", &wasm_target_dir)
            // The outer build's flags and wrappers are for the host target, not for wasm.
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env_remove("RUSTFLAGS")
            .env_remove("RUSTC_WRAPPER")
            .env_remove("RUSTC_WORKSPACE_WRAPPER")
            .env_remove("CLIPPY_ARGS")
            .env_remove("CARGO_BUILD_TARGET")
            .status()
            .unwrap_or_else(|e| panic!("running {cargo}: {e}"));
        assert!(
            status.success(),
            "building the {TARGET} plugins of {manifest} failed (is the target installed? \
             `rustup target add {TARGET}`)"
        );
        for (name, file) in *artefacts {
            let path = release.join(file);
            assert!(path.is_file(), "{} was not built", path.display());
            constants.push_str(&format!(
                "/// `{file}`, built from `{manifest}`.\npub const {name}: &str = {:?};\n",
                path.display().to_string()
            ));
        }
    }
    std::fs::write(out_dir.join("plugin_paths.rs"), constants).expect("writing plugin_paths.rs");
}
