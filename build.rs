//! Bundles the shipped classification rules (`rules/*.toml`) and the training part of the
//! labelled corpus into the binary, so redress classifies out of the box; a landlord's own
//! `rules` folder takes the rules' place when present.

use std::fmt::Write;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=rules");
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let mut names: Vec<String> = std::fs::read_dir(manifest.join("rules"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(".toml"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut code = String::from(
        "/// The shipped rule files, bundled at build time.\npub const DEFAULT_RULES: &[(&str, &str)] = &[\n",
    );
    for name in &names {
        println!("cargo:rerun-if-changed=rules/{name}");
        let _ = writeln!(
            code,
            "    ({name:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/rules/{name}\"))),"
        );
    }
    code.push_str("];\n");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo"));
    std::fs::write(out_dir.join("default_rules.rs"), code).expect("OUT_DIR is writable");
    std::fs::write(out_dir.join("training.rs"), training(&manifest)).expect("OUT_DIR is writable");
    std::fs::write(out_dir.join("default_templates.rs"), templates(&manifest))
        .expect("OUT_DIR is writable");
}

/// The shipped letter templates (`templates/`), used when the landlord has no folder of their
/// own.
fn templates(manifest: &std::path::Path) -> String {
    println!("cargo:rerun-if-changed=templates");
    let mut names: Vec<String> = std::fs::read_dir(manifest.join("templates"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(".txt") || n.ends_with(".html"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut code = String::from(
        "/// The shipped letter templates, bundled at build time.\npub const DEFAULT_TEMPLATES: &[(&str, &str)] = &[\n",
    );
    for name in &names {
        println!("cargo:rerun-if-changed=templates/{name}");
        let _ = writeln!(
            code,
            "    ({name:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/templates/{name}\"))),"
        );
    }
    code.push_str("];\n");
    code
}

/// The tuning part of the labelled corpus, which trains the learned component the binary
/// ships with. Only `tests/corpus/tune`: the held-out part must stay unseen, or its scores
/// would say nothing about messages the classifier has never met.
fn training(manifest: &std::path::Path) -> String {
    println!("cargo:rerun-if-changed=tests/corpus/tune");
    let mut names: Vec<String> = std::fs::read_dir(manifest.join("tests/corpus/tune"))
        .map(|dir| {
            dir.filter_map(Result::ok)
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.ends_with(".txt"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut code = String::from(
        "/// The labelled messages the shipped learned component is trained on.\npub const TRAINING: &[(&str, &str)] = &[\n",
    );
    for name in &names {
        let _ = writeln!(
            code,
            "    ({name:?}, include_str!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/tests/corpus/tune/{name}\"))),"
        );
    }
    code.push_str("];\n");
    code
}
