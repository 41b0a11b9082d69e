//! Building fixes: a JSON Patch applied to a copy of the object gives the
//! YAML diff; the same patch gives the `kubectl patch --type=json` command.
//! The dry-run against the API server is [`dry_run`], once per fix.

use serde_json::{Value, json};
use similar::TextDiff;

use crate::finding::{DryRun, Finding, Fix, ObjRef};

/// A JSON Patch operation `test` of `path` against `value`.
pub fn test(path: &str, value: impl Into<Value>) -> Value {
    json!({"op": "test", "path": path, "value": value.into()})
}

/// A JSON Patch operation `replace`.
pub fn replace(path: &str, value: impl Into<Value>) -> Value {
    json!({"op": "replace", "path": path, "value": value.into()})
}

/// A JSON Patch operation `add` (`path` ending in `/-` appends to an array).
pub fn add(path: &str, value: impl Into<Value>) -> Value {
    json!({"op": "add", "path": path, "value": value.into()})
}

/// A JSON Patch operation `remove`.
pub fn remove(path: &str) -> Value {
    json!({"op": "remove", "path": path})
}

/// Escapes one JSON Pointer segment (`~` → `~0`, `/` → `~1`).
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// A fix that patches `object` (the full object as read, the target of
/// `target`) with `ops`. When the patch does not apply to the object as read
/// (a `test` fails), the fix is still returned, with a failed dry-run saying
/// so, so a person sees what was meant.
pub fn patch(
    target: ObjRef,
    object: &Value,
    ops: Vec<Value>,
    description: impl Into<String>,
) -> Fix {
    let patch = Value::Array(ops);
    let kubectl = kubectl_patch(&target, &patch);
    let (yaml_diff, dry_run) = match apply(object, &patch) {
        Ok(after) => (Some(yaml_diff(&target, object, &after)), None),
        Err(e) => (
            None,
            Some(DryRun::Failed {
                error: format!("the patch does not apply to the object as read: {e}"),
            }),
        ),
    };
    Fix {
        target,
        description: description.into(),
        json_patch: Some(patch),
        yaml_diff,
        kubectl: Some(kubectl),
        dry_run,
        requires_input: false,
        gitops: None,
    }
}

/// A fix that needs data Guardian cannot know: `command` is what to run, with
/// placeholders like `<value>` to fill in.
pub fn needs_input(
    target: ObjRef,
    description: impl Into<String>,
    command: impl Into<String>,
) -> Fix {
    Fix {
        target,
        description: description.into(),
        json_patch: None,
        yaml_diff: None,
        kubectl: Some(command.into()),
        dry_run: Some(DryRun::Skipped {
            why: "requires input".into(),
        }),
        requires_input: true,
        gitops: None,
    }
}

/// `kubectl patch deployment payments -n staging --type=json -p '[...]'`.
pub fn kubectl_patch(target: &ObjRef, patch: &Value) -> String {
    let resource = target.resource();
    let mut cmd = format!("kubectl patch {resource} {}", target.name);
    if let Some(ns) = &target.namespace {
        cmd.push_str(&format!(" -n {ns}"));
    }
    cmd.push_str(&format!(
        " --type=json -p {}",
        shell_quote(&patch.to_string())
    ));
    cmd
}

/// Single-quotes `text` for a POSIX shell.
pub fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r#"'\''"#))
}

/// Unified diff of the YAML of `before` and `after` (without `managedFields`
/// and `status`, which a patch does not change), three lines of context.
pub fn yaml_diff(target: &ObjRef, before: &Value, after: &Value) -> String {
    let a = to_yaml(&trim(before));
    let b = to_yaml(&trim(after));
    let name = format!("{}/{}", target.kind.to_lowercase(), target.name);
    TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{name}"), &format!("b/{name}"))
        .to_string()
}

fn trim(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
        if let Some(ann) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
            ann.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    if let Some(map) = object.as_object_mut() {
        map.remove("status");
    }
    object
}

fn to_yaml(value: &Value) -> String {
    crate::yaml::to_string(value)
}

/// Applies an RFC 6902 JSON Patch (`add`, `remove`, `replace`, `test`, `copy`,
/// `move`) to a copy of `object`.
pub fn apply(object: &Value, patch: &Value) -> Result<Value, String> {
    let ops = patch.as_array().ok_or("a JSON Patch is an array")?;
    let mut doc = object.clone();
    for (i, op) in ops.iter().enumerate() {
        let kind = op["op"]
            .as_str()
            .ok_or(format!("operation {i} has no `op`"))?;
        let path = op["path"]
            .as_str()
            .ok_or(format!("operation {i} has no `path`"))?;
        match kind {
            "test" => {
                let found = doc
                    .pointer(path)
                    .ok_or(format!("test: {path} does not exist"))?;
                if found != &op["value"] {
                    return Err(format!("test: {path} is {found}, not {}", op["value"]));
                }
            }
            "add" => add_at(&mut doc, path, op["value"].clone())?,
            "remove" => {
                remove_at(&mut doc, path)?;
            }
            "replace" => {
                let slot = doc
                    .pointer_mut(path)
                    .ok_or(format!("replace: {path} does not exist"))?;
                *slot = op["value"].clone();
            }
            "copy" | "move" => {
                let from = op["from"]
                    .as_str()
                    .ok_or(format!("operation {i} has no `from`"))?;
                let value = if kind == "move" {
                    remove_at(&mut doc, from)?
                } else {
                    doc.pointer(from)
                        .cloned()
                        .ok_or(format!("copy: {from} does not exist"))?
                };
                add_at(&mut doc, path, value)?;
            }
            other => return Err(format!("unknown operation `{other}`")),
        }
    }
    Ok(doc)
}

fn split(path: &str) -> Result<(String, String), String> {
    let idx = path.rfind('/').ok_or(format!("bad path `{path}`"))?;
    let last = path[idx + 1..].replace("~1", "/").replace("~0", "~");
    Ok((path[..idx].to_string(), last))
}

fn add_at(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, last) = split(path)?;
    let target = doc
        .pointer_mut(&parent)
        .ok_or(format!("add: {parent} does not exist"))?;
    match target {
        Value::Object(map) => {
            map.insert(last, value);
        }
        Value::Array(items) => {
            if last == "-" {
                items.push(value);
            } else {
                let i: usize = last
                    .parse()
                    .map_err(|_| format!("add: bad index in {path}"))?;
                if i > items.len() {
                    return Err(format!("add: index {i} out of bounds in {path}"));
                }
                items.insert(i, value);
            }
        }
        _ => return Err(format!("add: {parent} is not an object or array")),
    }
    Ok(())
}

fn remove_at(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, last) = split(path)?;
    let target = doc
        .pointer_mut(&parent)
        .ok_or(format!("remove: {parent} does not exist"))?;
    match target {
        Value::Object(map) => map
            .remove(&last)
            .ok_or(format!("remove: {path} does not exist")),
        Value::Array(items) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("remove: bad index in {path}"))?;
            if i >= items.len() {
                return Err(format!("remove: index {i} out of bounds in {path}"));
            }
            Ok(items.remove(i))
        }
        _ => Err(format!("remove: {parent} is not an object or array")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_and_diffs() {
        let obj = json!({"kind": "Deployment", "metadata": {"name": "a"},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "x:1"}]}}}});
        let ops = vec![
            test("/spec/template/spec/containers/0/name", "app"),
            test("/spec/template/spec/containers/0/image", "x:1"),
            replace("/spec/template/spec/containers/0/image", "x:2"),
        ];
        let target = ObjRef::new("apps/v1", "Deployment", Some("ns"), "a");
        let fix = patch(target, &obj, ops, "tag");
        let diff = fix.yaml_diff.unwrap();
        // YAML sorts `image` before `name`: the image is the item's first key.
        assert!(diff.contains("\n-      - image: x:1\n"), "{diff}");
        assert!(diff.contains("\n+      - image: x:2\n"), "{diff}");
        assert!(diff.contains("\n         name: app\n"), "{diff}");
        assert!(
            fix.kubectl
                .unwrap()
                .starts_with("kubectl patch deployments.apps a -n ns --type=json -p '[{")
        );
        let bad = apply(
            &obj,
            &json!([test("/spec/template/spec/containers/0/name", "web")]),
        );
        assert!(bad.unwrap_err().contains("not \"web\""));
    }
}

/// Checks each fix of `findings` that has a JSON Patch and no result yet by
/// server-side dry-run through the host, recording passed or the error.
pub fn dry_run(findings: &mut [Finding]) {
    for finding in findings {
        for fix in &mut finding.fixes {
            if fix.dry_run.is_some() {
                continue;
            }
            let Some(patch) = &fix.json_patch else {
                continue;
            };
            let result = guardian_skill_sdk::kube::dry_run_patch_check(
                &fix.target.resource(),
                fix.target.namespace.as_deref(),
                &fix.target.name,
                patch,
            );
            fix.dry_run = Some(match result {
                Ok(_) => DryRun::Passed,
                Err(e) => DryRun::Failed {
                    error: e.describe(),
                },
            });
        }
    }
}
