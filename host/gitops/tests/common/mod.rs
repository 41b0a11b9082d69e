#![allow(dead_code)]

use std::path::Path;

use guardian_gitops::{AppSource, Change, Edit, FileEdit, ObjectId};
use serde_json::{Value, json};
use tempfile::TempDir;

/// A repository tree in a temporary directory.
pub fn tree(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

pub fn read(root: &Path, rel: &str) -> String {
    std::fs::read_to_string(root.join(rel)).unwrap()
}

pub fn deployment(ns: Option<&str>, name: &str) -> ObjectId {
    ObjectId {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        namespace: ns.map(str::to_string),
        name: name.into(),
    }
}

pub fn src(path: &str) -> AppSource {
    AppSource {
        path: path.into(),
        ..AppSource::default()
    }
}

pub fn change(ops: Value) -> Change {
    Change {
        json_patch: ops,
        description: "test change".into(),
    }
}

pub fn image_change(old: &str, new: &str) -> Change {
    change(json!([
        {"op": "test", "path": "/spec/template/spec/containers/0/image", "value": old},
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": new},
    ]))
}

pub fn file<'e>(edit: &'e Edit, path: &str) -> &'e FileEdit {
    edit.files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| {
            panic!(
                "{path} not edited; edited: {:?}",
                edit.files.iter().map(|f| &f.path).collect::<Vec<_>>()
            )
        })
}

/// Asserts that `after` is `before` with exactly the lines `removed` taken out and `added`
/// put in (in order); every other line, comments and blank lines included, is unchanged.
pub fn assert_only_lines(f: &FileEdit, removed: &[&str], added: &[&str]) {
    let diff = similar::TextDiff::from_lines(&f.before, &f.after);
    let mut rem = Vec::new();
    let mut add = Vec::new();
    for c in diff.iter_all_changes() {
        match c.tag() {
            similar::ChangeTag::Delete => rem.push(c.value().trim_end_matches('\n').to_string()),
            similar::ChangeTag::Insert => add.push(c.value().trim_end_matches('\n').to_string()),
            similar::ChangeTag::Equal => {}
        }
    }
    assert_eq!(
        (rem, add),
        (
            removed.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            added.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        ),
        "unexpected line changes in {}:\n--- before\n{}\n--- after\n{}",
        f.path,
        f.before,
        f.after
    );
    assert_eq!(
        f.before.ends_with('\n'),
        f.after.ends_with('\n'),
        "final newline of {} changed",
        f.path
    );
}
