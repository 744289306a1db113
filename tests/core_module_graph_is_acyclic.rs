//! Layering holds in the source: the modules of `src/core` import each other without a circle
//! (state modules below the shard, behaviour files above it), and the shared vocabulary, the
//! transfer rules and the media code never import from `core`. Read from the files themselves,
//! so a new `use` that closes a circle fails here with the circle named.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `use super::NAME` / `super::NAME::` edges of one file, to sibling modules of `src/core`.
fn sibling_imports(text: &str, siblings: &BTreeSet<String>) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (index, _) in text.match_indices("super::") {
        let before = &text[..index];
        if before.ends_with("super::") {
            continue; // super::super:: leaves src/core
        }
        let rest = &text[index + "super::".len()..];
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        if siblings.contains(&name) {
            found.insert(name);
        }
    }
    found
}

fn core_graph() -> BTreeMap<String, BTreeSet<String>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).expect("src/core is readable") {
        let path = entry.expect("entry").path();
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name")
            .to_string();
        if name == "mod" {
            continue; // the parent: its `mod` lines are not imports
        }
        let text = if path.is_dir() {
            // A directory module: all its files import as that module.
            let mut text = String::new();
            for inner in std::fs::read_dir(&path).expect("readable") {
                let inner = inner.expect("entry").path();
                let inner_text = std::fs::read_to_string(&inner).expect("readable");
                // Inside a directory module, `super::` is the directory itself; its imports of
                // core siblings are written `crate::core::NAME`.
                text.push_str(&inner_text.replace("crate::core::", "super::"));
            }
            text
        } else {
            std::fs::read_to_string(&path).expect("readable")
        };
        files.insert(name, text);
    }
    let siblings: BTreeSet<String> = files.keys().cloned().collect();
    files
        .iter()
        .map(|(name, text)| {
            let mut edges = sibling_imports(text, &siblings);
            edges.remove(name);
            (name.clone(), edges)
        })
        .collect()
}

/// A circle in `graph`, as the list of modules on it, if there is one.
fn find_circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut circle = path[start..].to_vec();
            circle.push(node.to_string());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, graph, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(circle) = visit(node, graph, &mut Vec::new(), &mut done) {
            return Some(circle);
        }
    }
    None
}

#[test]
fn the_modules_of_core_import_each_other_without_a_circle() {
    let graph = core_graph();
    // The reader can see what is being checked.
    assert!(graph.contains_key("effects") && graph.contains_key("transfer_state"));
    assert!(
        graph["effects"].contains("transfer_state"),
        "the edge reader finds nothing: {graph:?}"
    );
    if let Some(circle) = find_circle(&graph) {
        panic!("import circle in src/core: {}", circle.join(" -> "));
    }
}

#[test]
fn the_circle_finder_finds_a_circle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.insert("shard".into(), ["b2bua".to_string()].into());
    graph.insert("b2bua".into(), ["attended".to_string()].into());
    graph.insert("attended".into(), ["shard".to_string()].into());
    assert_eq!(
        find_circle(&graph),
        Some(vec![
            "attended".to_string(),
            "shard".into(),
            "b2bua".into(),
            "attended".into()
        ])
    );
}

#[test]
fn vocabulary_transfer_and_media_never_import_from_core() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for dir in ["vocab", "transfer", "media"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("readable") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("readable");
            for (number, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap_or("");
                assert!(
                    !code.contains("crate::core"),
                    "{}:{}: imports from core: {line}",
                    path.display(),
                    number + 1
                );
            }
        }
    }
}

#[test]
fn the_shard_core_is_implemented_only_in_the_shard_module() {
    // Behaviour lives with the state that has it: the call's in b2bua.rs and transfer_flow.rs
    // (impl Call), the joins' in attended.rs (impl AttendedState). Only the shard's own module
    // (src/core/shard/) routes inputs to them.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut shard_impls = 0;
    let mut stack = vec![dir.clone()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("readable") {
                stack.push(entry.expect("entry").path());
            }
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        let impls = text.matches("impl ShardCore {").count();
        let in_shard_module = path.starts_with(dir.join("shard"));
        assert!(
            impls == 0 || in_shard_module,
            "{}: impl ShardCore outside src/core/shard/",
            path.display()
        );
        shard_impls += impls;
    }
    assert!(shard_impls > 0, "the reader finds no impl ShardCore at all");
}
