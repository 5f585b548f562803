//! Tidy checks of core's layering (ARCHITECTURE.md, "Invariants"): read the sources, fail on a
//! line that breaks a rule.
//!
//! 1. No module below the facade (`dashboard.rs`, `lib.rs`) names `Dashboard`: services are
//!    built from explicit handles.
//! 2. `error.rs` imports nothing from the crate: it is the bottom of it.

use std::path::{Path, PathBuf};

fn core_src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ollama-dash-core/src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read core sources").flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The non-test code of a file, comments dropped: what is left before `#[cfg(test)]`.
fn code(source: &str) -> String {
    let before_tests = source.split("#[cfg(test)]").next().unwrap_or_default();
    before_tests
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `code` names the identifier `Dashboard` itself (not `DashboardConfig`, …).
fn names_dashboard(code: &str) -> bool {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    code.match_indices("Dashboard").any(|(at, _)| {
        let before = code[..at].chars().next_back();
        let after = code[at + "Dashboard".len()..].chars().next();
        !before.is_some_and(word) && !after.is_some_and(word)
    })
}

/// Which core files name `Dashboard` below the facade, as paths relative to `src/`.
fn modules_naming_dashboard() -> Vec<String> {
    let root = core_src();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut naming: Vec<String> = files
        .iter()
        .filter_map(|path| {
            let rel = path
                .strip_prefix(&root)
                .ok()?
                .to_string_lossy()
                .replace('\\', "/");
            let is_test = rel.ends_with("tests.rs") || rel.ends_with("_tests.rs");
            let facade = rel == "dashboard.rs" || rel == "lib.rs";
            if is_test || facade {
                return None;
            }
            let source = std::fs::read_to_string(path).ok()?;
            names_dashboard(&code(&source)).then_some(rel)
        })
        .collect();
    naming.sort();
    naming
}

#[test]
fn no_module_below_the_facade_names_dashboard() {
    let naming = modules_naming_dashboard();
    assert!(
        naming.is_empty(),
        "these core modules name `Dashboard`; build them as services from explicit handles \
         (see ARCHITECTURE.md, Invariants): {naming:?}"
    );
}

#[test]
fn error_rs_imports_nothing_from_the_crate() {
    let source = std::fs::read_to_string(core_src().join("error.rs")).expect("error.rs");
    let code = code(&source);
    for needle in ["crate::", "super::"] {
        assert!(
            !code.contains(needle),
            "error.rs is the bottom of the crate and may not use `{needle}`"
        );
    }
}

#[test]
fn the_checks_see_what_they_look_for() {
    assert!(names_dashboard("impl Dashboard {"));
    assert!(names_dashboard(
        "use crate::dashboard::{Dashboard, now_ms};"
    ));
    assert!(!names_dashboard("use crate::DashboardConfig;"));
    assert!(!names_dashboard("struct WeakDashboard;"));
    assert!(!names_dashboard(&code(
        "// Dashboard in a comment\nfn f() {}"
    )));
    assert!(!names_dashboard(&code(
        "fn f() {}\n#[cfg(test)]\nmod tests { use crate::Dashboard; }"
    )));
    let facade = std::fs::read_to_string(core_src().join("dashboard.rs")).expect("dashboard.rs");
    assert!(
        names_dashboard(&code(&facade)),
        "the scan reads the sources"
    );
}
