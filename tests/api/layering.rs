//! The layer map in `src/lib.rs` is true: no module uses a module its line
//! of the map does not name.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The `name -> deps` lines of the map's `text` block in `src/lib.rs`.
fn layer_map(lib: &str) -> BTreeMap<String, BTreeSet<String>> {
    let docs: Vec<&str> = lib
        .lines()
        .filter_map(|line| line.strip_prefix("//!"))
        .map(str::trim)
        .collect();
    let start = docs
        .iter()
        .position(|line| *line == "# Layers")
        .expect("src/lib.rs documents its layers under `# Layers`");
    docs[start..]
        .iter()
        .skip_while(|line| **line != "```text")
        .skip(1)
        .take_while(|line| **line != "```")
        .map(|line| {
            let (name, deps) = line
                .split_once("->")
                .unwrap_or_else(|| panic!("map line without `->`: {line:?}"));
            let deps = deps.split_whitespace().map(str::to_owned).collect();
            (name.trim().to_owned(), deps)
        })
        .collect()
}

/// The top-level modules `src/lib.rs` declares.
fn declared_modules(lib: &str) -> BTreeSet<String> {
    lib.lines()
        .filter_map(|line| line.trim().strip_prefix("pub mod "))
        .map(|rest| rest.trim_end_matches(';').to_owned())
        .collect()
}

/// Every `.rs` file of a top-level module: `src/NAME.rs` and `src/NAME/**`.
fn module_files(name: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let single = src().join(format!("{name}.rs"));
    if single.is_file() {
        files.push(single);
    }
    let mut folders = vec![src().join(name)];
    while let Some(folder) = folders.pop() {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files
}

/// The top-level modules a piece of code names through `crate::`, in both
/// `crate::store::Db` and `crate::{store, telemetry}` form. Comments are
/// skipped: a doc link is not a dependency.
fn crate_uses(code: &str) -> BTreeSet<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect()
    };
    let mut used = BTreeSet::new();
    for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
        for (at, _) in line.match_indices("crate::") {
            let rest = &line[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // One level of braces is all rustfmt leaves on a line.
                let group = group.split('}').next().unwrap_or("");
                used.extend(group.split(',').map(ident).filter(|s| !s.is_empty()));
            } else {
                used.insert(ident(rest));
            }
        }
    }
    used
}

#[test]
fn every_module_uses_only_the_layers_the_map_allows() {
    let lib = fs::read_to_string(src().join("lib.rs")).expect("src/lib.rs");
    let map = layer_map(&lib);
    let modules = declared_modules(&lib);
    assert_eq!(
        map.keys().cloned().collect::<BTreeSet<_>>(),
        modules,
        "the layer map in src/lib.rs must name every module, and only those"
    );
    let mut breaches = Vec::new();
    for (module, allowed) in &map {
        let files = module_files(module);
        assert!(!files.is_empty(), "no source files for module {module}");
        for file in files {
            let code = fs::read_to_string(&file).expect("readable source");
            for used in crate_uses(&code) {
                if used != *module && !allowed.contains(&used) {
                    breaches.push(format!(
                        "{} uses crate::{used}, but `{module}` may use only {allowed:?}",
                        file.strip_prefix(src()).unwrap_or(&file).display()
                    ));
                }
            }
        }
    }
    assert!(
        breaches.is_empty(),
        "layering breaches (fix the code, or the map in src/lib.rs if the design changed):\n{}",
        breaches.join("\n")
    );
}

#[test]
fn the_scanner_sees_both_path_forms_and_skips_comments() {
    let code = "use crate::{store, telemetry::metrics};\n\
                // see crate::http\n\
                let x = crate::config::Config::default();\n";
    let used: Vec<String> = crate_uses(code).into_iter().collect();
    assert_eq!(used, ["config", "store", "telemetry"]);
}
