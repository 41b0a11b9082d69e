//! Kustomize sources: the overlay an application points at, followed through `resources:` to
//! its bases; image changes through the overlay's `images:` transformer, other changes in a
//! patch or in the base, rendered with `kubectl kustomize`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

use crate::yaml::{emit_document, emit_ordered, get_value, set_value, split_documents};
use crate::{
    AppSource, EditParts, FileEdit, FoundObject, GitopsError, Located, ObjectId, Ops, Render,
    SourceFile, SourceKind, app_dir, edit_document, read_source, rel, same_object, segments,
    unreadable,
};

const NAMES: &[&str] = &["kustomization.yaml", "kustomization.yml", "Kustomization"];

pub(crate) fn kustomization_file(dir: &Path) -> Option<PathBuf> {
    NAMES.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

/// A kustomization read from the tree.
#[derive(Debug, Clone)]
struct Kust {
    /// Repository-relative directory.
    dir: String,
    source: SourceFile,
    value: Value,
}

impl Kust {
    fn str_list(&self, key: &str) -> Vec<String> {
        self.value
            .get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
    fn s(&self, key: &str) -> &str {
        self.value.get(key).and_then(Value::as_str).unwrap_or("")
    }
}

/// A document of a resource file and the kustomizations it passes through (outermost first).
#[derive(Debug, Clone)]
struct ResourceDoc {
    found: FoundObject,
    chain: Vec<usize>,
}

#[derive(Debug, Default)]
struct Graph {
    kusts: Vec<Kust>,
    docs: Vec<ResourceDoc>,
    files: Vec<String>,
    notes: Vec<String>,
    /// Remote resources or components (URLs): never fetched.
    remote: Vec<String>,
}

fn join_rel(dir: &str, entry: &str) -> String {
    let mut parts: Vec<&str> = if dir.is_empty() {
        Vec::new()
    } else {
        dir.split('/').collect()
    };
    for seg in entry.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

fn is_remote(entry: &str) -> bool {
    entry.contains("://") || entry.starts_with("github.com/") || entry.starts_with("git@")
}

fn load_kust(root: &Path, dir: &str) -> Result<Kust, GitopsError> {
    let file = kustomization_file(&root.join(dir))
        .ok_or_else(|| unreadable(dir, "no kustomization.yaml in this directory"))?;
    let source = read_source(root, &rel(root, &file))?;
    let value = source
        .docs
        .first()
        .map(|d| d.value.clone())
        .unwrap_or(Value::Null);
    Ok(Kust {
        dir: dir.to_string(),
        source,
        value,
    })
}

fn walk(root: &Path, dir: &str, chain: &[usize], g: &mut Graph) -> Result<(), GitopsError> {
    if chain.iter().any(|&i| g.kusts[i].dir == dir) {
        return Err(unreadable(
            dir,
            "kustomizations include each other in a loop",
        ));
    }
    let k = load_kust(root, dir)?;
    g.files.push(k.source.rel.clone());
    let idx = g.kusts.len();
    let mut entries = k.str_list("resources");
    entries.extend(k.str_list("bases"));
    for c in k.str_list("components") {
        if is_remote(&c) {
            g.remote.push(format!("{} in {}", c, display(dir)));
        }
    }
    g.kusts.push(k);
    let mut chain = chain.to_vec();
    chain.push(idx);
    for e in entries {
        if is_remote(&e) {
            g.remote.push(format!("{} in {}", e, display(dir)));
            continue;
        }
        let r = join_rel(dir, &e);
        let p = root.join(&r);
        if p.is_dir() {
            walk(root, &r, &chain, g)?;
        } else if p.is_file() {
            let f = read_source(root, &r)?;
            g.files.push(r.clone());
            for (i, d) in f.docs.iter().enumerate() {
                if d.value.get("kind").is_some() {
                    g.docs.push(ResourceDoc {
                        found: FoundObject {
                            file: r.clone(),
                            document: i,
                            value: d.value.clone(),
                        },
                        chain: chain.clone(),
                    });
                }
            }
        } else {
            g.notes.push(format!("{dir}: resource {e} does not exist"));
        }
    }
    Ok(())
}

fn graph(root: &Path, src: &AppSource) -> Result<Graph, GitopsError> {
    let mut g = Graph::default();
    walk(root, &app_dir(src), &[], &mut g)?;
    Ok(g)
}

impl Graph {
    /// The document as the chain of kustomizations names it (prefixes, suffixes, namespace).
    fn transformed(&self, d: &ResourceDoc) -> Value {
        let mut v = d.found.value.clone();
        let mut name = v
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let mut ns: Option<String> = None;
        for &k in d.chain.iter().rev() {
            let k = &self.kusts[k];
            name = format!("{}{}{}", k.s("namePrefix"), name, k.s("nameSuffix"));
            if !k.s("namespace").is_empty() {
                ns = Some(k.s("namespace").to_string());
            }
        }
        if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            m.insert("name".into(), Value::String(name));
            if let Some(ns) = ns {
                m.insert("namespace".into(), Value::String(ns));
            }
        }
        v
    }

    fn find(&self, obj: &ObjectId, default_ns: Option<&str>) -> Result<&ResourceDoc, GitopsError> {
        let hits: Vec<&ResourceDoc> = self
            .docs
            .iter()
            .filter(|d| same_object(&self.transformed(d), obj, default_ns))
            .collect();
        match hits.as_slice() {
            [one] => Ok(one),
            [] => Err(GitopsError::NotFound {
                object: obj.to_string(),
                files: self.files.clone(),
                objects: self.docs.len(),
            }),
            many => Err(GitopsError::Ambiguous {
                object: obj.to_string(),
                places: many
                    .iter()
                    .map(|d| format!("{} document {}", d.found.file, d.found.document))
                    .collect(),
            }),
        }
    }

    fn chain_dirs(&self, d: &ResourceDoc) -> String {
        d.chain
            .iter()
            .map(|&k| display(&self.kusts[k].dir))
            .collect::<Vec<_>>()
            .join(" → ")
    }
}

fn display(dir: &str) -> String {
    if dir.is_empty() {
        ".".into()
    } else {
        dir.into()
    }
}

pub(crate) fn locate(root: &Path, src: &AppSource, obj: &ObjectId) -> Result<Located, GitopsError> {
    let g = graph(root, src)?;
    let d = g.find(obj, src.destination_namespace.as_deref())?;
    Ok(Located {
        kind: SourceKind::Kustomize,
        file: d.found.file.clone(),
        document: d.found.document,
        explanation: format!(
            "{obj} is document {} of {}, reached through the kustomizations {}",
            d.found.document,
            d.found.file,
            g.chain_dirs(d)
        ),
    })
}

/// `kubectl kustomize DIR`: the objects, or kubectl's message.
/// Paths in kubectl's message are made relative to `root`.
fn kubectl_build(root: &Path, app_dir: &str) -> Result<Vec<Value>, String> {
    let dir = root.join(app_dir);
    let out = Command::new("kubectl")
        .arg("kustomize")
        .arg(&dir)
        .env("KUBECONFIG", "/dev/null")
        .output()
        .map_err(|e| format!("cannot run kubectl (needed to render kustomizations): {e}"))?;
    if !out.status.success() {
        let err = kubectl_message(&String::from_utf8_lossy(&out.stderr));
        let root_s = root.to_string_lossy();
        return Err(err
            .replace(&format!("{root_s}/"), "")
            .replace(&*root_s, "."));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let docs = split_documents(&text).map_err(|(l, e)| format!("kubectl output, line {l}: {e}"))?;
    Ok(docs
        .into_iter()
        .map(|d| d.value)
        .filter(|v| !v.is_null())
        .collect())
}

/// Why the tree is not built here, when it includes remote resources (building it would
/// fetch them from the network).
fn remote_reason(g: &Graph) -> Option<String> {
    (!g.remote.is_empty()).then(|| {
        format!(
            "the kustomization includes remote resources ({}); they are not fetched, so it is not rendered here",
            g.remote.join(", ")
        )
    })
}

/// kubectl's failure without its log decoration: warnings dropped, the klog `err="…"` or
/// `err=<…>` value kept.
fn kubectl_message(stderr: &str) -> String {
    let kept: Vec<&str> = stderr
        .lines()
        .filter(|l| !l.starts_with("# Warning:") && !l.starts_with("Warning:"))
        .collect();
    let err = kept.join("\n");
    let err = err.trim();
    let msg = if let Some(start) = err.find("err=\"") {
        let inner = &err[start + 5..];
        inner
            .strip_suffix('"')
            .unwrap_or(inner)
            .replace("\\\"", "\"")
    } else if let Some(start) = err.find("err=<") {
        let inner = err[start + 5..].trim_end();
        inner
            .strip_suffix('>')
            .unwrap_or(inner)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        err.to_string()
    };
    msg.trim_start_matches("error: ").to_string()
}

pub(crate) fn render(root: &Path, src: &AppSource) -> Result<Vec<Value>, GitopsError> {
    let g = graph(root, src)?;
    if let Some(why) = remote_reason(&g) {
        return Err(GitopsError::RenderFailed(why));
    }
    kubectl_build(root, &app_dir(src)).map_err(GitopsError::RenderFailed)
}

/// An image reference split into name, tag and digest.
#[derive(Debug, Clone, PartialEq)]
struct ImageRef {
    name: String,
    tag: Option<String>,
    digest: Option<String>,
}

fn parse_image(s: &str) -> ImageRef {
    let (rest, digest) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d.to_string())),
        None => (s, None),
    };
    let slash = rest.rfind('/').map(|i| i + 1).unwrap_or(0);
    match rest[slash..].rfind(':') {
        Some(c) => ImageRef {
            name: rest[..slash + c].to_string(),
            tag: Some(rest[slash + c + 1..].to_string()),
            digest,
        },
        None => ImageRef {
            name: rest.to_string(),
            tag: None,
            digest,
        },
    }
}

/// Whether a pointer is a container's image (`…/containers/N/image`).
pub(crate) fn is_image_path(segs: &[String]) -> bool {
    matches!(segs, [.., c, n, i] if is_container_list(c) && n.parse::<usize>().is_ok() && i == "image")
}

pub(crate) fn is_container_list(s: &str) -> bool {
    matches!(s, "containers" | "initContainers" | "ephemeralContainers")
}

/// The files being changed, their documents' new values.
#[derive(Default)]
struct Pending {
    files: BTreeMap<String, (SourceFile, BTreeMap<usize, Value>)>,
    new_files: Vec<(String, String)>,
}

impl Pending {
    fn doc(&mut self, f: &SourceFile, doc: usize) -> &mut Value {
        let entry = self
            .files
            .entry(f.rel.clone())
            .or_insert_with(|| (f.clone(), BTreeMap::new()));
        entry
            .1
            .entry(doc)
            .or_insert_with(|| f.docs[doc].value.clone())
    }

    fn into_edits(self) -> Result<Vec<FileEdit>, GitopsError> {
        let mut out = Vec::new();
        for (path, (source, docs)) in self.files {
            let mut current = source.clone();
            for (doc, value) in docs {
                let text = edit_document(&current, doc, &value)?;
                current = SourceFile {
                    rel: current.rel.clone(),
                    docs: split_documents(&text).map_err(|(line, error)| GitopsError::Parse {
                        path: path.clone(),
                        line,
                        error,
                    })?,
                    text,
                };
            }
            if current.text != source.text {
                out.push(FileEdit {
                    path,
                    before: source.text,
                    after: current.text,
                });
            }
        }
        for (path, text) in self.new_files {
            out.push(FileEdit {
                path,
                before: String::new(),
                after: text,
            });
        }
        Ok(out)
    }
}

/// Where an existing patch of the chain sets the field: the patch file's document and the
/// pointer inside it.
struct PatchHit {
    file: SourceFile,
    doc: usize,
    /// `Some(op index)` for a JSON 6902 patch (the op whose value holds the field).
    op: Option<usize>,
    path: Vec<String>,
    kust_dir: String,
}

pub(crate) fn edit(
    root: &Path,
    src: &AppSource,
    obj: &ObjectId,
    ops: &Ops,
) -> Result<EditParts, GitopsError> {
    let g = graph(root, src)?;
    let dest = src.destination_namespace.as_deref();
    let d = g.find(obj, dest)?.clone();
    let app = &g.kusts[0];

    // The object as Git renders it today (kubectl), or as the base writes it when the tree
    // does not build.
    let remote = remote_reason(&g);
    let original = match &remote {
        Some(why) => Err(why.clone()),
        None => kubectl_build(root, &app.dir),
    };
    let git_obj = match &original {
        Ok(objs) => objs
            .iter()
            .find(|o| same_object(o, obj, dest))
            .cloned()
            .ok_or_else(|| GitopsError::NotFound {
                object: obj.to_string(),
                files: vec![format!("kubectl kustomize {}", display(&app.dir))],
                objects: objs.len(),
            })?,
        Err(_) => g.transformed(&d),
    };
    let where_ = format!("{} as rendered from {}", d.found.file, display(&app.dir));
    ops.check_tests(&git_obj, &where_)?;

    let mut pending = Pending::default();
    let mut why = Vec::new();
    let mut smp_ops: Vec<&Value> = Vec::new();

    for op in &ops.changes {
        let ptr = op["path"].as_str().unwrap_or("");
        let segs = segments(ptr);
        let kind = op["op"].as_str().unwrap_or("");
        if is_image_path(&segs) && kind != "remove" {
            let new = op["value"].as_str().ok_or_else(|| {
                GitopsError::BadChange(format!("{ptr}: the new image is not a string"))
            })?;
            let old = git_obj
                .pointer(ptr)
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    GitopsError::BadChange(format!("{ptr}: the object in Git has no image there"))
                })?;
            // A kustomization without overlay that lists no such image: the image is
            // written in its own resource file, and changed there.
            if d.chain.len() > 1 || has_image_entry(&app.value, &parse_image(old).name) {
                why.push(image_edit(app, old, new, &mut pending)?);
                continue;
            }
        }
        if is_image_path(&segs) && kind != "remove" && d.chain.len() == 1 {
            let f = read_source(root, &d.found.file)?;
            let value = pending.doc(&f, d.found.document);
            let mut patch = json_patch::Patch(Vec::new());
            patch.0.push(
                serde_json::from_value(op.clone())
                    .map_err(|e| GitopsError::BadChange(e.to_string()))?,
            );
            json_patch::patch(value, &patch).map_err(|e| {
                GitopsError::BadChange(format!(
                    "{ptr} cannot be changed in {} as written: {e}",
                    d.found.file
                ))
            })?;
            why.push(format!(
                "{} is a resource of {} itself (no overlay) and its kustomization has no images: entry for it: the image is changed in the file",
                d.found.file,
                display(&app.dir)
            ));
            continue;
        }
        // An existing patch that sets the field?
        if let Some(hit) = find_patch(root, &g, &d, &git_obj, &segs)? {
            let value = pending.doc(&hit.file, hit.doc);
            let target = match hit.op {
                Some(i) => value
                    .get_mut(i)
                    .and_then(|o| o.get_mut("value"))
                    .ok_or_else(|| {
                        GitopsError::BadChange("patch operation without value".into())
                    })?,
                None => value,
            };
            let new = if kind == "remove" {
                if hit.op.is_some() {
                    return Err(GitopsError::Unsupported {
                        file: hit.file.rel.clone(),
                        reason: "removing a field set by a JSON 6902 patch".into(),
                    });
                }
                Some(Value::Null) // strategic merge: null deletes
            } else {
                op.get("value").cloned()
            };
            if hit.path.is_empty() {
                *target = new.unwrap_or(Value::Null);
            } else {
                set_value(target, &hit.path, new).map_err(GitopsError::BadChange)?;
            }
            why.push(format!(
                "the patch {} in {} already sets {ptr}: it is changed there",
                hit.file.rel,
                display(&hit.kust_dir)
            ));
            continue;
        }
        let owner = &g.kusts[*d.chain.last().unwrap_or(&0)];
        // Any kustomization between the overlay and the file that another one also
        // includes shares the file with it.
        let mut shared_with = Vec::new();
        for &k in d.chain.iter().skip(1) {
            for u in other_users(root, &g.kusts[k].dir, &g)? {
                if !shared_with.contains(&u) {
                    shared_with.push(u);
                }
            }
        }
        if d.chain.len() == 1 || shared_with.is_empty() {
            let f = read_source(root, &d.found.file)?;
            let value = pending.doc(&f, d.found.document);
            let mut patch = json_patch::Patch(Vec::new());
            patch.0.push(
                serde_json::from_value(op.clone())
                    .map_err(|e| GitopsError::BadChange(e.to_string()))?,
            );
            json_patch::patch(value, &patch).map_err(|e| {
                GitopsError::BadChange(format!(
                    "{ptr} cannot be changed in {} as written: {e}",
                    d.found.file
                ))
            })?;
            why.push(if d.chain.len() == 1 {
                format!(
                    "{} is a resource of {} itself: {ptr} is changed in it",
                    d.found.file,
                    display(&app.dir)
                )
            } else {
                format!(
                    "no patch in {} touches {ptr} and only this application uses {}: it is changed in the base file {}",
                    display(&app.dir),
                    display(&owner.dir),
                    d.found.file
                )
            });
        } else {
            why.push(format!(
                "no patch in {} touches {ptr}, and {} (from the base {}) is also used by {}: a patch is added to the overlay so the others keep theirs",
                display(&app.dir),
                d.found.file,
                display(&owner.dir),
                shared_with.join(", ")
            ));
            smp_ops.push(op);
        }
    }

    if !smp_ops.is_empty() {
        add_overlay_patch(root, app, &d, &git_obj, &smp_ops, &mut pending)?;
    }

    let files = pending.into_edits()?;
    let (render, others) = match &remote {
        Some(why) => (Render::NotChecked { why: why.clone() }, Vec::new()),
        None => render_edited(root, &app.dir, &files, obj, dest, &original, &git_obj, ops)?,
    };
    let mut explanation = why.join("; ");
    if !others.is_empty() {
        explanation.push_str(&format!(
            "; the edit also changes {} as rendered (review them too)",
            others.join(", ")
        ));
    }
    for n in &g.notes {
        explanation.push_str(&format!("; note: {n}"));
    }
    if let Some(r) = &remote {
        explanation.push_str(&format!(
            "; {r}: the pinned values were checked against {} as written",
            d.found.file
        ));
    } else if let Err(e) = &original {
        explanation.push_str(&format!(
            "; the tree in Git did not build before the change either (kubectl: {e}), so the pinned values were checked against {} as written",
            d.found.file
        ));
    }
    Ok((SourceKind::Kustomize, files, explanation, render))
}

/// Changes (or adds) the overlay's `images:` entry for the image.
fn image_edit(
    app: &Kust,
    old: &str,
    new: &str,
    pending: &mut Pending,
) -> Result<String, GitopsError> {
    let old_ref = parse_image(old);
    let new_ref = parse_image(new);
    let value = pending.doc(&app.source, 0);
    if !value.is_object() {
        return Err(GitopsError::Unsupported {
            file: app.source.rel.clone(),
            reason: "the kustomization is not a mapping".into(),
        });
    }
    let images = value
        .as_object_mut()
        .map(|m| m.entry("images").or_insert_with(|| json!([])))
        .and_then(Value::as_array_mut)
        .ok_or_else(|| GitopsError::Unsupported {
            file: app.source.rel.clone(),
            reason: "`images:` is not a list".into(),
        })?;
    let pos = images.iter().position(|e| {
        let name = e.get("name").and_then(Value::as_str);
        let new_name = e.get("newName").and_then(Value::as_str);
        new_name.or(name) == Some(old_ref.name.as_str())
    });
    let dir = display(&app.dir);
    let set = |e: &mut serde_json::Map<String, Value>| {
        if new_ref.name != e.get("name").and_then(Value::as_str).unwrap_or("")
            || e.contains_key("newName")
        {
            e.insert("newName".into(), Value::String(new_ref.name.clone()));
        }
        match &new_ref.tag {
            Some(t) => {
                e.insert("newTag".into(), Value::String(t.clone()));
            }
            None => {
                e.remove("newTag");
            }
        }
        match &new_ref.digest {
            Some(dg) => {
                e.insert("digest".into(), Value::String(dg.clone()));
            }
            None => {
                e.remove("digest");
            }
        }
    };
    Ok(match pos {
        Some(i) => {
            let entry = images[i]
                .as_object_mut()
                .ok_or_else(|| GitopsError::Unsupported {
                    file: app.source.rel.clone(),
                    reason: "an `images:` entry is not a mapping".into(),
                })?;
            set(entry);
            format!(
                "the overlay {dir} sets images: for {}; the image is changed there ({old} → {new})",
                old_ref.name
            )
        }
        None => {
            let mut e = serde_json::Map::new();
            e.insert("name".into(), Value::String(old_ref.name.clone()));
            set(&mut e);
            images.push(Value::Object(e));
            format!(
                "the overlay {dir} has no images: entry for {}; one is added there ({old} → {new}) rather than editing the base",
                old_ref.name
            )
        }
    })
}

fn has_image_entry(kust: &Value, name: &str) -> bool {
    kust.get("images")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|e| {
            let n = e.get("name").and_then(Value::as_str);
            e.get("newName").and_then(Value::as_str).or(n) == Some(name)
        })
}

/// The kustomizations outside the application's chain that include `dir`.
fn other_users(root: &Path, dir: &str, g: &Graph) -> Result<Vec<String>, GitopsError> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&p) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(e.path());
            }
        }
        let kdir = rel(root, &p);
        if g.kusts.iter().any(|k| k.dir == kdir) || kustomization_file(&p).is_none() {
            continue;
        }
        let Ok(k) = load_kust(root, &kdir) else {
            continue;
        };
        let mut entries = k.str_list("resources");
        entries.extend(k.str_list("bases"));
        if entries.iter().any(|e| join_rel(&kdir, e) == dir) {
            out.push(display(&kdir));
        }
    }
    out.sort();
    Ok(out)
}

/// Path of the field inside a strategic-merge patch: container indices become the index of
/// the container with the same name in the patch.
fn smp_path(patch: &Value, segs: &[String], git_obj: &Value) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur_git = git_obj;
    let mut cur_patch = Some(patch);
    let mut i = 0;
    while i < segs.len() {
        let s = &segs[i];
        out.push(s.clone());
        cur_git = cur_git.get(s)?;
        cur_patch = cur_patch.and_then(|p| p.get(s));
        if is_container_list(s) && i + 1 < segs.len() {
            let idx: usize = segs[i + 1].parse().ok()?;
            let name = cur_git.get(idx)?.get("name")?.as_str()?;
            let pi = cur_patch?
                .as_array()?
                .iter()
                .position(|c| c.get("name").and_then(Value::as_str) == Some(name))?;
            out.push(pi.to_string());
            cur_git = cur_git.get(idx)?;
            cur_patch = cur_patch.and_then(|p| p.get(pi));
            i += 2;
            continue;
        }
        i += 1;
    }
    Some(out)
}

/// Segments that do not make a patch "touch" a field by merely containing them.
fn structural(s: &str) -> bool {
    s.parse::<usize>().is_ok()
        || is_container_list(s)
        || matches!(s, "spec" | "template" | "metadata" | "jobTemplate")
}

/// The deepest prefix of `path` (not a structural one) that `patch` sets.
fn touches(patch: &Value, path: &[String]) -> bool {
    (1..=path.len())
        .rev()
        .filter(|&n| !structural(&path[n - 1]))
        .any(|n| get_value(patch, &path[..n]).is_some())
}

fn target_matches(t: &Value, doc: &ResourceDoc) -> bool {
    let v = &doc.found.value;
    let kind = v.get("kind").and_then(Value::as_str);
    let name = v.pointer("/metadata/name").and_then(Value::as_str);
    t.get("kind")
        .and_then(Value::as_str)
        .is_none_or(|k| Some(k) == kind)
        && t.get("name")
            .and_then(Value::as_str)
            .is_none_or(|n| Some(n) == name)
}

fn find_patch(
    root: &Path,
    g: &Graph,
    d: &ResourceDoc,
    git_obj: &Value,
    segs: &[String],
) -> Result<Option<PatchHit>, GitopsError> {
    let kind = d.found.value.get("kind").and_then(Value::as_str);
    let name = d
        .found
        .value
        .pointer("/metadata/name")
        .and_then(Value::as_str);
    for &ki in &d.chain {
        let k = &g.kusts[ki];
        let mut candidates: Vec<(String, Option<Value>)> = Vec::new();
        for p in k
            .value
            .get("patches")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(path) = p.get("path").and_then(Value::as_str) {
                candidates.push((path.to_string(), p.get("target").cloned()));
            } else if let Some(inline) = p.get("patch").and_then(Value::as_str) {
                let parsed = split_documents(inline).ok();
                let hit = parsed.iter().flatten().any(|c| {
                    let v = &c.value;
                    (v.get("kind").and_then(Value::as_str) == kind
                        && v.pointer("/metadata/name").and_then(Value::as_str) == name
                        && smp_path(v, segs, git_obj).is_some_and(|sp| touches(v, &sp)))
                        || v.as_array().is_some_and(|ops| {
                            ops.iter().any(|o| {
                                o.get("path")
                                    .and_then(Value::as_str)
                                    .is_some_and(|op| prefix_of(&segments(op), segs))
                            })
                        })
                });
                if hit {
                    return Err(GitopsError::Unsupported {
                        file: k.source.rel.clone(),
                        reason: format!("an inline patch there already sets {}", pointer(segs)),
                    });
                }
            }
        }
        for p in k.str_list("patchesStrategicMerge") {
            candidates.push((p, None));
        }
        for p in k
            .value
            .get("patchesJson6902")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(path) = p.get("path").and_then(Value::as_str) {
                candidates.push((path.to_string(), p.get("target").cloned()));
            }
        }
        for (path, target) in candidates {
            let r = join_rel(&k.dir, &path);
            if !root.join(&r).is_file() {
                continue;
            }
            let f = read_source(root, &r)?;
            for (di, c) in f.docs.iter().enumerate() {
                let v = &c.value;
                if let Some(ops) = v.as_array() {
                    // JSON 6902: applies to its target.
                    if !target.as_ref().is_some_and(|t| target_matches(t, d)) {
                        continue;
                    }
                    for (oi, o) in ops.iter().enumerate() {
                        let Some(op_path) = o.get("path").and_then(Value::as_str) else {
                            continue;
                        };
                        let op_segs = segments(op_path);
                        if o.get("value").is_some() && prefix_of(&op_segs, segs) {
                            return Ok(Some(PatchHit {
                                file: f.clone(),
                                doc: di,
                                op: Some(oi),
                                path: segs[op_segs.len()..].to_vec(),
                                kust_dir: k.dir.clone(),
                            }));
                        }
                    }
                    continue;
                }
                let same = v.get("kind").and_then(Value::as_str) == kind
                    && v.pointer("/metadata/name").and_then(Value::as_str) == name;
                let targeted = target.as_ref().is_some_and(|t| target_matches(t, d));
                if !(same || targeted) {
                    continue;
                }
                if let Some(sp) = smp_path(v, segs, git_obj)
                    && touches(v, &sp)
                {
                    return Ok(Some(PatchHit {
                        file: f.clone(),
                        doc: di,
                        op: None,
                        path: sp,
                        kust_dir: k.dir.clone(),
                    }));
                }
            }
        }
    }
    Ok(None)
}

fn prefix_of(prefix: &[String], path: &[String]) -> bool {
    prefix.len() <= path.len() && path[..prefix.len()] == *prefix
}

fn pointer(segs: &[String]) -> String {
    segs.iter().map(|s| format!("/{s}")).collect()
}

/// Adds a strategic-merge patch file (or a JSON 6902 one, when the path goes through a list
/// without a merge key) to the overlay, and lists it under `patches:`.
fn add_overlay_patch(
    root: &Path,
    app: &Kust,
    d: &ResourceDoc,
    git_obj: &Value,
    ops: &[&Value],
    pending: &mut Pending,
) -> Result<(), GitopsError> {
    let base = &d.found.value;
    let kind = base.get("kind").and_then(Value::as_str).unwrap_or("");
    let api_version = base.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let name = base
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("");
    let all_segs: Vec<Vec<String>> = ops
        .iter()
        .map(|o| segments(o["path"].as_str().unwrap_or("")))
        .collect();
    // Strategic merge works when every list on the way is a container list (merge key `name`).
    let smp_ok = all_segs.iter().all(|segs| {
        segs.iter().enumerate().all(|(i, s)| {
            s != "-" && (s.parse::<usize>().is_err() || (i > 0 && is_container_list(&segs[i - 1])))
        })
    });
    let field = all_segs
        .first()
        .and_then(|s| {
            s.iter()
                .rev()
                .find(|x| {
                    !structural(x)
                        && x.as_str() != "limits"
                        && x.as_str() != "requests"
                        && x.as_str() != "memory"
                        && x.as_str() != "cpu"
                })
                .cloned()
        })
        .unwrap_or_else(|| "change".into());
    let mut file_name = format!("{name}-{field}-patch.yaml");
    let mut n = 2;
    while root.join(join_rel(&app.dir, &file_name)).exists() {
        file_name = format!("{name}-{field}-patch-{n}.yaml");
        n += 1;
    }
    let (text, entry) = if smp_ok {
        let mut spec = Value::Null;
        for (op, segs) in ops.iter().zip(&all_segs) {
            let mut path = Vec::new();
            let mut g = git_obj;
            let mut i = 0;
            while i < segs.len() {
                let s = &segs[i];
                g = g.get(s).unwrap_or(&Value::Null);
                path.push(s.clone());
                if is_container_list(s) && i + 1 < segs.len() {
                    let idx: usize = segs[i + 1].parse().unwrap_or(0);
                    let cname =
                        g.get(idx)
                            .and_then(|c| c.get("name"))
                            .cloned()
                            .ok_or_else(|| {
                                GitopsError::BadChange(format!(
                                    "{}: no container {idx}",
                                    pointer(segs)
                                ))
                            })?;
                    // Find or add the container item named `cname` in the patch.
                    let list = get_value(&spec, &path)
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    let pi = match list.iter().position(|c| c.get("name") == Some(&cname)) {
                        Some(pi) => pi,
                        None => {
                            let mut l = list.clone();
                            l.push(json!({ "name": cname }));
                            set_value(&mut spec, &path, Some(Value::Array(l)))
                                .map_err(GitopsError::BadChange)?;
                            list.len()
                        }
                    };
                    path.push(pi.to_string());
                    g = g.get(idx).unwrap_or(&Value::Null);
                    i += 2;
                    continue;
                }
                i += 1;
            }
            let v = if op["op"] == "remove" {
                Value::Null
            } else {
                op["value"].clone()
            };
            set_value(&mut spec, &path, Some(v)).map_err(GitopsError::BadChange)?;
        }
        let mut meta = serde_json::Map::new();
        meta.insert("name".into(), json!(name));
        if let Some(ns) = base.pointer("/metadata/namespace") {
            meta.insert("namespace".into(), ns.clone());
        }
        let mut entries: Vec<(&str, Value)> = vec![
            ("apiVersion", json!(api_version)),
            ("kind", json!(kind)),
            ("metadata", Value::Object(meta)),
        ];
        let spec_obj = spec.as_object().cloned().unwrap_or_default();
        let keys: Vec<String> = spec_obj.keys().cloned().collect();
        for k in &keys {
            entries.push((k.as_str(), spec_obj[k].clone()));
        }
        (emit_ordered(&entries), json!({ "path": file_name }))
    } else {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let list: Vec<Value> = ops.iter().map(|o| (*o).clone()).collect();
        let mut target = serde_json::Map::new();
        if !group.is_empty() {
            target.insert("group".into(), json!(group));
        }
        target.insert("version".into(), json!(version));
        target.insert("kind".into(), json!(kind));
        target.insert("name".into(), json!(name));
        (
            emit_document(&Value::Array(list)),
            json!({ "path": file_name, "target": target }),
        )
    };
    let rel_file = join_rel(&app.dir, &file_name);
    pending.new_files.push((rel_file, text));
    let value = pending.doc(&app.source, 0);
    let patches = value
        .as_object_mut()
        .map(|m| m.entry("patches").or_insert_with(|| json!([])))
        .and_then(Value::as_array_mut)
        .ok_or_else(|| GitopsError::Unsupported {
            file: app.source.rel.clone(),
            reason: "`patches:` is not a list".into(),
        })?;
    patches.push(entry);
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn render_edited(
    root: &Path,
    app_dir: &str,
    files: &[FileEdit],
    obj: &ObjectId,
    dest: Option<&str>,
    original: &Result<Vec<Value>, String>,
    git_obj: &Value,
    ops: &Ops,
) -> Result<(Render, Vec<String>), GitopsError> {
    let tmp = tempfile::tempdir().map_err(|e| unreadable("a temporary directory", e))?;
    copy_tree(root, tmp.path()).map_err(|e| unreadable("a copy of the repository", e))?;
    for f in files {
        let p = tmp.path().join(&f.path);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).map_err(|e| unreadable(&f.path, e))?;
        }
        std::fs::write(&p, &f.after).map_err(|e| unreadable(&f.path, e))?;
    }
    match kubectl_build(tmp.path(), app_dir) {
        Err(error) => Ok((Render::Failed { error }, Vec::new())),
        Ok(objs) => {
            let object = objs
                .iter()
                .find(|o| same_object(o, obj, dest))
                .cloned()
                .ok_or_else(|| {
                    GitopsError::Mismatch(format!("{obj} is no longer rendered after the edit"))
                })?;
            let mut others = Vec::new();
            if let Ok(before) = original {
                // Other objects the edit changes too (an `images:` entry applies to every
                // container with that image).
                let key = |o: &Value| {
                    (
                        o.get("kind").cloned(),
                        o.pointer("/metadata/namespace").cloned(),
                        o.pointer("/metadata/name").cloned(),
                    )
                };
                for o in &objs {
                    if same_object(o, obj, dest) {
                        continue;
                    }
                    if before.iter().find(|b| key(b) == key(o)) != Some(o) {
                        let (k, ns, n) = key(o);
                        let s = |v: Option<Value>| v.and_then(|v| v.as_str().map(str::to_string));
                        others.push(match s(ns) {
                            Some(ns) => format!(
                                "{} {}/{}",
                                s(k).unwrap_or_default(),
                                ns,
                                s(n).unwrap_or_default()
                            ),
                            None => {
                                format!("{} {}", s(k).unwrap_or_default(), s(n).unwrap_or_default())
                            }
                        });
                    }
                }
                let expected = ops.apply(git_obj)?;
                if expected != object {
                    let diffs = crate::field_diff(&expected, &object);
                    return Err(GitopsError::Mismatch(format!(
                        "rendered after the edit, {obj} differs from the live object with the change applied at {}",
                        diffs
                            .iter()
                            .map(|d| d.path.clone())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
            Ok((
                Render::Rendered {
                    objects: objs.len(),
                    object,
                },
                others,
            ))
        }
    }
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let name = e.file_name();
        if name == ".git" {
            continue;
        }
        let ft = e.file_type()?;
        let dest = to.join(&name);
        if ft.is_dir() {
            std::fs::create_dir_all(&dest)?;
            copy_tree(&e.path(), &dest)?;
        } else if ft.is_file() {
            std::fs::copy(e.path(), &dest)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_messages_lose_their_log_decoration() {
        let multi = "# Warning: 'commonLabels' is deprecated.\nE1207 08:07:30.389513   25381 run.go:72] \"command failed\" err=<\n\twrong node kind: expected SequenceNode\n\t\"-\": --b\n >\n";
        assert_eq!(
            kubectl_message(multi),
            "wrong node kind: expected SequenceNode \"-\": --b"
        );
        let quoted =
            "E1207 run.go:72] \"command failed\" err=\"accumulating resources: \\\"x\\\" missing\"";
        assert_eq!(
            kubectl_message(quoted),
            "accumulating resources: \"x\" missing"
        );
        assert_eq!(
            kubectl_message("error: no kustomization\n"),
            "no kustomization"
        );
    }

    #[test]
    fn image_references_split() {
        assert_eq!(
            parse_image("127.0.0.1:5000/shop/web:1.2"),
            ImageRef {
                name: "127.0.0.1:5000/shop/web".into(),
                tag: Some("1.2".into()),
                digest: None
            }
        );
        assert_eq!(parse_image("127.0.0.1:5000/shop/web").tag, None);
        assert_eq!(
            parse_image("nginx@sha256:abc").digest.as_deref(),
            Some("sha256:abc")
        );
    }
}
