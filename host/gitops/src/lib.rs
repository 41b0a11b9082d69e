//! GitOps sources: where a live object comes from in a checked-out repository, and how a fix
//! to it becomes a reviewed change of that repository.
//!
//! - [`render`] turns an application's source (a directory of manifests, a Kustomize overlay,
//!   a Helm chart's values) into objects;
//! - [`locate`] finds the file and document an object comes from;
//! - [`edit`] turns a [`Change`] (RFC 6902 operations on the live object, `test` operations
//!   pinning the old values) into file edits that keep every untouched line as it was, renders
//!   the edited tree to check it, and explains where the change landed and why;
//! - [`write`] writes an [`Edit`] into the tree, refusing when a file changed since;
//! - [`field_diff`] compares the object Git renders with the live one, field by field.
//!
//! Nothing here talks to a network or a cluster; `kubectl kustomize` is the only program run.

mod diff;
mod helm;
mod kustomize;
mod yaml;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use diff::field_diff;

use yaml::{DocChunk, Editor, pointer_segments, split_documents};

/// How an application's source is turned into objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Directory,
    Kustomize,
    Helm,
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SourceKind::Directory => "directory",
            SourceKind::Kustomize => "kustomize",
            SourceKind::Helm => "helm",
        })
    }
}

/// What an Argo CD Application (or Flux Kustomization/HelmRelease) says about its source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSource {
    /// Repository-relative directory; `""` or `"."` is the root.
    pub path: String,
    /// `None`: detected (a kustomization file means Kustomize, `Chart.yaml` Helm, else Directory).
    pub kind: Option<SourceKind>,
    /// Argo CD's `directory.recurse`.
    pub recurse: bool,
    /// Relative to `path` (Argo CD's `spec.source.helm.valueFiles`); empty means `values.yaml`.
    pub helm_value_files: Vec<String>,
    /// The Application's destination namespace: objects in Git without `metadata.namespace`
    /// are deployed there.
    pub destination_namespace: Option<String>,
}

impl Default for AppSource {
    fn default() -> Self {
        AppSource {
            path: String::new(),
            kind: None,
            recurse: false,
            helm_value_files: vec!["values.yaml".into()],
            destination_namespace: None,
        }
    }
}

/// A live object's identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectId {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for ObjectId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(
                f,
                "{} {}/{} ({})",
                self.kind, ns, self.name, self.api_version
            ),
            None => write!(f, "{} {} ({})", self.kind, self.name, self.api_version),
        }
    }
}

/// The fix, as the cluster sees it: RFC 6902 operations on the live object's JSON. `test`
/// operations pin the old values; they must hold in Git too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub json_patch: Value,
    pub description: String,
}

/// Where an object comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Located {
    pub kind: SourceKind,
    /// Repository-relative path of the file that defines the object.
    pub file: String,
    /// Index of the YAML document in that file (0-based; comments before the first `---`
    /// are no document).
    pub document: usize,
    pub explanation: String,
}

/// One file's change; `before` empty means a new file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEdit {
    pub path: String,
    pub before: String,
    pub after: String,
}

/// A computed change of the repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Edit {
    pub kind: SourceKind,
    pub files: Vec<FileEdit>,
    /// Why the change lands where it does.
    pub explanation: String,
    /// The edited tree rendered.
    pub render: Render,
    /// Unified diff of all files (git style, `a/` and `b/` paths, 3 lines of context).
    pub diff: String,
}

/// The edited tree, rendered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Render {
    /// It renders: how many objects, and the changed object as rendered.
    Rendered { objects: usize, object: Value },
    /// It does not render: the renderer's message.
    Failed { error: String },
    /// It could not be rendered here.
    NotChecked { why: String },
}

/// One field that differs; `None` where the side does not have it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldDiff {
    /// JSON pointer.
    pub path: String,
    pub git: Option<Value>,
    pub live: Option<Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum GitopsError {
    #[error(
        "{object} is not defined in the source: read {objects} object(s) from {} file(s) ({}); check the application's path and destination namespace",
        files.len(),
        list(files)
    )]
    NotFound {
        object: String,
        files: Vec<String>,
        objects: usize,
    },
    #[error("{object} is defined more than once in the source: {}; remove the duplicate first", places.join(", "))]
    Ambiguous { object: String, places: Vec<String> },
    #[error("cannot read {path}: {error}")]
    Unreadable { path: String, error: String },
    #[error("{path}, line {line}: the YAML does not parse: {error}")]
    Parse {
        path: String,
        line: usize,
        error: String,
    },
    #[error(
        "the source in Git differs from the live object: {file} sets {field} to {git}, the live object has {live}; bring Git and the cluster in line (sync, or fix Git) before changing it"
    )]
    SourceDiffers {
        file: String,
        field: String,
        git: String,
        live: String,
    },
    #[error("{object}: the Helm chart must change, not only its values: {reason}")]
    ChartMustChange { object: String, reason: String },
    #[error("the change is not usable: {0}")]
    BadChange(String),
    #[error(
        "{file}: cannot edit it without damaging its format: {reason}; make this change by hand"
    )]
    Unsupported { file: String, reason: String },
    #[error("the source does not render: {0}")]
    RenderFailed(String),
    #[error("{path} changed since the edit was computed; compute the edit again")]
    Stale { path: String },
    #[error("the edited source does not produce the change: {0}")]
    Mismatch(String),
}

fn list(files: &[String]) -> String {
    if files.is_empty() {
        "none".into()
    } else if files.len() > 10 {
        format!("{}, … {} more", files[..10].join(", "), files.len() - 10)
    } else {
        files.join(", ")
    }
}

// ---------------------------------------------------------------------------------------------
// The API.

/// All objects the source renders to (Helm: not renderable here, an error).
pub fn render(root: &Path, src: &AppSource) -> Result<Vec<Value>, GitopsError> {
    match detect(root, src)? {
        SourceKind::Directory => Ok(directory_objects(root, src)?
            .into_iter()
            .map(|o| o.value)
            .collect()),
        SourceKind::Kustomize => kustomize::render(root, src),
        SourceKind::Helm => Err(GitopsError::RenderFailed(
            "Helm charts are not rendered here (helm is not available); only their values files are read".into(),
        )),
    }
}

/// The file and document that define `obj`.
pub fn locate(root: &Path, src: &AppSource, obj: &ObjectId) -> Result<Located, GitopsError> {
    match detect(root, src)? {
        SourceKind::Directory => {
            let objs = directory_objects(root, src)?;
            let found = find_object(&objs, obj, src.destination_namespace.as_deref())?;
            Ok(Located {
                kind: SourceKind::Directory,
                file: found.file.clone(),
                document: found.document,
                explanation: format!(
                    "{obj} is document {} of {} in the directory {}",
                    found.document,
                    found.file,
                    display_dir(src)
                ),
            })
        }
        SourceKind::Kustomize => kustomize::locate(root, src, obj),
        SourceKind::Helm => helm::locate(root, src, obj),
    }
}

/// Computes the edit that applies `change` to `obj`'s source. Writes nothing to `root`.
pub fn edit(
    root: &Path,
    src: &AppSource,
    obj: &ObjectId,
    change: &Change,
) -> Result<Edit, GitopsError> {
    let ops = Ops::parse(change)?;
    let (kind, files, explanation, render) = match detect(root, src)? {
        SourceKind::Directory => directory_edit(root, src, obj, &ops)?,
        SourceKind::Kustomize => kustomize::edit(root, src, obj, &ops)?,
        SourceKind::Helm => helm::edit(root, src, obj, &ops)?,
    };
    let diff = unified_diff(&files);
    Ok(Edit {
        kind,
        files,
        explanation,
        render,
        diff,
    })
}

/// Writes `edit`'s files under `root`; refuses (writing nothing) when a file's content is no
/// longer its `before` (or a new file already exists).
pub fn write(root: &Path, edit: &Edit) -> Result<(), GitopsError> {
    for f in &edit.files {
        let path = safe_join(root, &f.path)?;
        inside(root, &path, &f.path)?;
        let current = match std::fs::read_to_string(&path) {
            Ok(s) => Some(s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(unreadable(&f.path, e)),
        };
        let fresh = if f.before.is_empty() {
            current.is_none()
        } else {
            current.as_deref() == Some(f.before.as_str())
        };
        if !fresh {
            return Err(GitopsError::Stale {
                path: f.path.clone(),
            });
        }
    }
    for f in &edit.files {
        let path = safe_join(root, &f.path)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| unreadable(&f.path, e))?;
        }
        std::fs::write(&path, &f.after).map_err(|e| unreadable(&f.path, e))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Shared pieces.

fn unreadable(path: &str, e: impl std::fmt::Display) -> GitopsError {
    GitopsError::Unreadable {
        path: path.to_string(),
        error: e.to_string(),
    }
}

/// `root/rel`, refusing paths that leave `root`.
fn safe_join(root: &Path, rel: &str) -> Result<PathBuf, GitopsError> {
    let p = Path::new(rel);
    if p.is_absolute()
        || p.components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(unreadable(rel, "the path leaves the repository"));
    }
    Ok(root.join(p))
}

/// Refuses a path that resolves (through symbolic links) outside `root`.
fn inside(root: &Path, path: &Path, rel_path: &str) -> Result<(), GitopsError> {
    let canon_root = root.canonicalize().map_err(|e| unreadable(".", e))?;
    // A file that does not exist yet: its closest existing ancestor decides.
    let mut probe = path.to_path_buf();
    while !probe.exists() {
        if !probe.pop() {
            break;
        }
    }
    let canon = probe.canonicalize().map_err(|e| unreadable(rel_path, e))?;
    if canon.starts_with(&canon_root) {
        Ok(())
    } else {
        Err(unreadable(
            rel_path,
            "it leads outside the repository through a symbolic link",
        ))
    }
}

fn app_dir(src: &AppSource) -> String {
    let p = src.path.trim_matches('/');
    if p == "." {
        String::new()
    } else {
        p.to_string()
    }
}

fn display_dir(src: &AppSource) -> String {
    let d = app_dir(src);
    if d.is_empty() { ".".into() } else { d }
}

/// Repository-relative path with `/` separators.
fn rel(root: &Path, p: &Path) -> String {
    let r = p.strip_prefix(root).unwrap_or(p);
    let mut parts = Vec::new();
    for c in r.components() {
        match c {
            std::path::Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            std::path::Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    parts.join("/")
}

fn detect(root: &Path, src: &AppSource) -> Result<SourceKind, GitopsError> {
    if let Some(k) = src.kind {
        return Ok(k);
    }
    let dir = root.join(app_dir(src));
    if !dir.is_dir() {
        return Err(unreadable(
            &display_dir(src),
            "no such directory in the repository",
        ));
    }
    if kustomize::kustomization_file(&dir).is_some() {
        Ok(SourceKind::Kustomize)
    } else if dir.join("Chart.yaml").is_file() {
        Ok(SourceKind::Helm)
    } else {
        Ok(SourceKind::Directory)
    }
}

/// A file read and split into documents.
#[derive(Debug, Clone)]
pub(crate) struct SourceFile {
    pub rel: String,
    pub text: String,
    pub docs: Vec<DocChunk>,
}

pub(crate) fn read_source(root: &Path, rel_path: &str) -> Result<SourceFile, GitopsError> {
    let path = safe_join(root, rel_path)?;
    inside(root, &path, rel_path)?;
    let text = std::fs::read_to_string(&path).map_err(|e| unreadable(rel_path, e))?;
    let docs = if rel_path.ends_with(".json") {
        let value: Value = serde_json::from_str(&text).map_err(|e| GitopsError::Parse {
            path: rel_path.to_string(),
            line: e.line(),
            error: e.to_string(),
        })?;
        vec![DocChunk {
            span: 0..text.len(),
            value,
        }]
    } else {
        split_documents(&text).map_err(|(line, error)| GitopsError::Parse {
            path: rel_path.to_string(),
            line,
            error,
        })?
    };
    Ok(SourceFile {
        rel: rel_path.to_string(),
        text,
        docs,
    })
}

/// An object found in a source file.
#[derive(Debug, Clone)]
pub(crate) struct FoundObject {
    pub file: String,
    pub document: usize,
    pub value: Value,
}

fn is_manifest(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json")
}

fn list_files(dir: &Path, recurse: bool, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let ft = e.file_type()?;
        if ft.is_dir() {
            if recurse {
                list_files(&e.path(), recurse, out)?;
            }
        } else if is_manifest(&name) {
            out.push(e.path());
        }
    }
    Ok(())
}

/// The Kubernetes objects among a file's documents.
fn objects_of(file: &SourceFile, out: &mut Vec<FoundObject>) {
    for (i, d) in file.docs.iter().enumerate() {
        if d.value.get("kind").is_some() && d.value.get("metadata").is_some() {
            out.push(FoundObject {
                file: file.rel.clone(),
                document: i,
                value: d.value.clone(),
            });
        }
    }
}

fn directory_objects(root: &Path, src: &AppSource) -> Result<Vec<FoundObject>, GitopsError> {
    let dir = root.join(app_dir(src));
    let mut files = Vec::new();
    list_files(&dir, src.recurse, &mut files).map_err(|e| unreadable(&display_dir(src), e))?;
    let mut out = Vec::new();
    for f in files {
        let file = read_source(root, &rel(root, &f))?;
        objects_of(&file, &mut out);
    }
    Ok(out)
}

fn group_of(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

/// Whether `v` (an object as in Git, after any name/namespace transformations) is `obj`.
pub(crate) fn same_object(v: &Value, obj: &ObjectId, default_ns: Option<&str>) -> bool {
    let s = |p: &str| v.pointer(p).and_then(Value::as_str);
    if s("/kind") != Some(obj.kind.as_str())
        || group_of(s("/apiVersion").unwrap_or("")) != group_of(&obj.api_version)
        || s("/metadata/name") != Some(obj.name.as_str())
    {
        return false;
    }
    let ns = s("/metadata/namespace").or(default_ns);
    match (&obj.namespace, ns) {
        (Some(want), Some(have)) => want == have,
        // No namespace in Git and no destination known: the name decides.
        (Some(_), None) => true,
        (None, _) => true,
    }
}

fn find_object<'o>(
    objs: &'o [FoundObject],
    obj: &ObjectId,
    default_ns: Option<&str>,
) -> Result<&'o FoundObject, GitopsError> {
    let hits: Vec<&FoundObject> = objs
        .iter()
        .filter(|o| same_object(&o.value, obj, default_ns))
        .collect();
    match hits.as_slice() {
        [one] => Ok(one),
        [] => {
            let files: BTreeSet<String> = objs.iter().map(|o| o.file.clone()).collect();
            Err(GitopsError::NotFound {
                object: obj.to_string(),
                files: files.into_iter().collect(),
                objects: objs.len(),
            })
        }
        many => Err(GitopsError::Ambiguous {
            object: obj.to_string(),
            places: many
                .iter()
                .map(|o| format!("{} document {}", o.file, o.document))
                .collect(),
        }),
    }
}

/// The operations of a [`Change`], checked.
#[derive(Debug, Clone)]
pub(crate) struct Ops {
    /// `test` operations: (pointer, pinned value).
    pub tests: Vec<(String, Value)>,
    /// The other operations, as a JSON patch.
    pub changes: Vec<Value>,
}

impl Ops {
    fn parse(change: &Change) -> Result<Self, GitopsError> {
        let arr = change.json_patch.as_array().ok_or_else(|| {
            GitopsError::BadChange("json_patch is not a list of operations".into())
        })?;
        let mut tests = Vec::new();
        let mut changes = Vec::new();
        for op in arr {
            let name = op.get("op").and_then(Value::as_str).unwrap_or("");
            let path = op
                .get("path")
                .and_then(Value::as_str)
                .ok_or_else(|| GitopsError::BadChange(format!("operation without a path: {op}")))?;
            match name {
                "test" => tests.push((
                    path.to_string(),
                    op.get("value").cloned().unwrap_or(Value::Null),
                )),
                "add" | "replace" | "remove" => changes.push(op.clone()),
                other => {
                    return Err(GitopsError::BadChange(format!(
                        "operation `{other}` on {path} is not supported (add, replace, remove, test are)"
                    )));
                }
            }
        }
        if changes.is_empty() {
            return Err(GitopsError::BadChange(
                "no operation changes anything".into(),
            ));
        }
        Ok(Ops { tests, changes })
    }

    /// `value` with the changing operations applied.
    pub fn apply(&self, value: &Value) -> Result<Value, GitopsError> {
        let patch: json_patch::Patch = serde_json::from_value(Value::Array(self.changes.clone()))
            .map_err(|e| GitopsError::BadChange(e.to_string()))?;
        let mut out = value.clone();
        json_patch::patch(&mut out, &patch).map_err(|e| GitopsError::BadChange(e.to_string()))?;
        Ok(out)
    }

    /// Checks the pinned values against the object as Git has it.
    pub fn check_tests(&self, git: &Value, file: &str) -> Result<(), GitopsError> {
        for (path, want) in &self.tests {
            let have = git.pointer(path);
            if have != Some(want) {
                return Err(GitopsError::SourceDiffers {
                    file: file.to_string(),
                    field: path.clone(),
                    git: have.map(short).unwrap_or_else(|| "(not set)".into()),
                    live: short(want),
                });
            }
        }
        Ok(())
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 200 {
        format!("{}…", &s[..s.floor_char_boundary(200)])
    } else {
        s
    }
}

/// Rewrites document `doc` of `file` so it parses to `new`, touching as few lines as
/// possible, and checks that every document of the result parses to what is expected.
pub(crate) fn edit_document(
    file: &SourceFile,
    doc: usize,
    new: &Value,
) -> Result<String, GitopsError> {
    let unsupported = |reason: String| GitopsError::Unsupported {
        file: file.rel.clone(),
        reason,
    };
    let chunk = &file.docs[doc];
    let after = if file.rel.ends_with(".json") {
        json_edit(&file.text, &chunk.value, new).map_err(unsupported)?
    } else {
        let mut ed = Editor::new(&file.text);
        let node = ed.root(&chunk.span).map_err(unsupported)?;
        ed.set_document(&node, new, &chunk.value)
            .map_err(unsupported)?;
        ed.finish().map_err(unsupported)?
    };
    // The result must read back as intended, every other document unchanged.
    let reread = if file.rel.ends_with(".json") {
        serde_json::from_str::<Value>(&after)
            .map(|v| vec![v])
            .map_err(|e| e.to_string())
    } else {
        split_documents(&after)
            .map(|d| d.into_iter().map(|c| c.value).collect())
            .map_err(|(l, e)| format!("line {l}: {e}"))
    }
    .map_err(|e| unsupported(format!("the edited file does not parse ({e})")))?;
    let mut expected: Vec<Value> = file.docs.iter().map(|d| d.value.clone()).collect();
    expected[doc] = new.clone();
    if reread != expected {
        return Err(unsupported(
            "the edited file would not read back as intended".into(),
        ));
    }
    Ok(after)
}

/// JSON files: scalars are replaced where they are written; anything else is refused.
fn json_edit(text: &str, old: &Value, new: &Value) -> Result<String, String> {
    let mut changes = Vec::new();
    json_changes(old, new, &mut Vec::new(), &mut changes)?;
    let mut out = text.to_string();
    // Locate each changed scalar by its pointer with a small span parser.
    let spans = json_spans(text)?;
    let mut splices = Vec::new();
    for (ptr, v) in changes {
        let span = spans
            .iter()
            .find(|(p, _)| *p == ptr)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| format!("cannot find {ptr} in the JSON text"))?;
        splices.push(yaml::Splice {
            range: span,
            text: serde_json::to_string(&v).map_err(|e| e.to_string())?,
        });
    }
    out = yaml::apply_splices(&out, splices)?;
    Ok(out)
}

fn json_changes(
    old: &Value,
    new: &Value,
    path: &mut Vec<String>,
    out: &mut Vec<(String, Value)>,
) -> Result<(), String> {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            if a.keys().ne(b.keys()) {
                return Err("adding or removing keys in a JSON file is not supported".into());
            }
            for (k, v) in b {
                path.push(k.clone());
                json_changes(&a[k], v, path, out)?;
                path.pop();
            }
            Ok(())
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                return Err("changing a list's length in a JSON file is not supported".into());
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                path.push(i.to_string());
                json_changes(x, y, path, out)?;
                path.pop();
            }
            Ok(())
        }
        (a, b) if a == b => Ok(()),
        (a, b) if !a.is_object() && !a.is_array() && !b.is_object() && !b.is_array() => {
            out.push((
                path.iter()
                    .map(|s| format!("/{}", yaml::escape_segment(s)))
                    .collect(),
                b.clone(),
            ));
            Ok(())
        }
        _ => Err("changing a value's kind in a JSON file is not supported".into()),
    }
}

/// Pointer → byte span of every scalar in a JSON text.
fn json_spans(text: &str) -> Result<Vec<(String, std::ops::Range<usize>)>, String> {
    struct P<'a> {
        b: &'a [u8],
        i: usize,
        out: Vec<(String, std::ops::Range<usize>)>,
    }
    impl P<'_> {
        fn ws(&mut self) {
            while self.i < self.b.len() && (self.b[self.i] as char).is_ascii_whitespace() {
                self.i += 1;
            }
        }
        fn string(&mut self) -> Result<String, String> {
            let start = self.i;
            self.i += 1;
            while self.i < self.b.len() {
                match self.b[self.i] {
                    b'\\' => self.i += 2,
                    b'"' => {
                        self.i += 1;
                        let raw = std::str::from_utf8(&self.b[start..self.i])
                            .map_err(|e| e.to_string())?;
                        return serde_json::from_str(raw).map_err(|e| e.to_string());
                    }
                    _ => self.i += 1,
                }
            }
            Err("unterminated string".into())
        }
        fn value(&mut self, ptr: String) -> Result<(), String> {
            self.ws();
            match self.b.get(self.i) {
                Some(b'{') => {
                    self.i += 1;
                    loop {
                        self.ws();
                        if self.b.get(self.i) == Some(&b'}') {
                            self.i += 1;
                            return Ok(());
                        }
                        let k = self.string()?;
                        self.ws();
                        self.i += 1; // ':'
                        self.value(format!("{ptr}/{}", yaml::escape_segment(&k)))?;
                        self.ws();
                        if self.b.get(self.i) == Some(&b',') {
                            self.i += 1;
                        }
                    }
                }
                Some(b'[') => {
                    self.i += 1;
                    let mut n = 0;
                    loop {
                        self.ws();
                        if self.b.get(self.i) == Some(&b']') {
                            self.i += 1;
                            return Ok(());
                        }
                        self.value(format!("{ptr}/{n}"))?;
                        n += 1;
                        self.ws();
                        if self.b.get(self.i) == Some(&b',') {
                            self.i += 1;
                        }
                    }
                }
                Some(b'"') => {
                    let s = self.i;
                    self.string()?;
                    self.out.push((ptr, s..self.i));
                    Ok(())
                }
                Some(_) => {
                    let s = self.i;
                    while self.i < self.b.len() && !b",]} \t\r\n".contains(&self.b[self.i]) {
                        self.i += 1;
                    }
                    self.out.push((ptr, s..self.i));
                    Ok(())
                }
                None => Err("unexpected end of JSON".into()),
            }
        }
    }
    let mut p = P {
        b: text.as_bytes(),
        i: 0,
        out: Vec::new(),
    };
    p.value(String::new())?;
    Ok(p.out)
}

fn unified_diff(files: &[FileEdit]) -> String {
    let mut out = String::new();
    for f in files {
        let (old_name, new_name) = (
            if f.before.is_empty() {
                "/dev/null".to_string()
            } else {
                format!("a/{}", f.path)
            },
            format!("b/{}", f.path),
        );
        out.push_str(&format!("diff --git a/{0} b/{0}\n", f.path));
        if f.before.is_empty() {
            out.push_str("new file mode 100644\n");
        }
        let d = similar::TextDiff::from_lines(&f.before, &f.after);
        out.push_str(
            &d.unified_diff()
                .context_radius(3)
                .header(&old_name, &new_name)
                .to_string(),
        );
    }
    out
}

type EditParts = (SourceKind, Vec<FileEdit>, String, Render);

fn directory_edit(
    root: &Path,
    src: &AppSource,
    obj: &ObjectId,
    ops: &Ops,
) -> Result<EditParts, GitopsError> {
    let objs = directory_objects(root, src)?;
    let found = find_object(&objs, obj, src.destination_namespace.as_deref())?.clone();
    ops.check_tests(&found.value, &found.file)?;
    let new = ops.apply(&found.value)?;
    let file = read_source(root, &found.file)?;
    let after = edit_document(&file, found.document, &new)?;
    let count = objs.len();
    let explanation = format!(
        "{obj} is written as document {} of {}; the change is made there, every other line kept",
        found.document, found.file
    );
    Ok((
        SourceKind::Directory,
        vec![FileEdit {
            path: found.file.clone(),
            before: file.text.clone(),
            after,
        }],
        explanation,
        Render::Rendered {
            objects: count,
            object: new,
        },
    ))
}

/// Segments of a pointer (re-exported for the source kinds).
pub(crate) fn segments(ptr: &str) -> Vec<String> {
    pointer_segments(ptr)
}

#[cfg(test)]
mod stress {
    //! Every leaf of real manifests changed, added next to and removed, one at a time: each
    //! edit must succeed (read back as intended: `edit_document` checks it) and touch only
    //! the lines of that leaf.

    use super::*;

    fn leaves(v: &Value, p: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
        match v {
            Value::Object(m) => {
                for (k, c) in m {
                    p.push(k.clone());
                    leaves(c, p, out);
                    p.pop();
                }
            }
            Value::Array(a) => {
                for (i, c) in a.iter().enumerate() {
                    p.push(i.to_string());
                    leaves(c, p, out);
                    p.pop();
                }
            }
            _ => out.push(p.clone()),
        }
    }

    fn changed(before: &str, after: &str) -> (usize, usize) {
        let d = similar::TextDiff::from_lines(before, after);
        let count = |t| d.iter_all_changes().filter(|c| c.tag() == t).count();
        (
            count(similar::ChangeTag::Delete),
            count(similar::ChangeTag::Insert),
        )
    }

    #[test]
    fn every_leaf_of_real_manifests_is_edited_in_place() {
        let corpus = [
            "argocd-crds/appproject-crd.yaml",
            "real-dumps/staging/snapshot/cluster.yaml",
            "real-dumps/staging/snapshot/extra.yaml",
        ];
        let base = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/");
        // GITOPS_CORPUS: more files (one absolute path a line) to run the same checks on.
        let extra = std::env::var("GITOPS_CORPUS").unwrap_or_default();
        let corpus: Vec<String> = corpus
            .iter()
            .map(|r| format!("{base}{r}"))
            .chain(extra.lines().map(str::to_string))
            .collect();
        let mut edits = 0;
        for rel in &corpus {
            let text = std::fs::read_to_string(rel).unwrap();
            let file = SourceFile {
                rel: rel.to_string(),
                docs: split_documents(&text).unwrap(),
                text: text.clone(),
            };
            for (di, d) in file.docs.iter().enumerate() {
                let mut ls = Vec::new();
                leaves(&d.value, &mut Vec::new(), &mut ls);
                for p in &ls {
                    let old = yaml::get_value(&d.value, p).unwrap();
                    let nv = match old {
                        Value::String(s) => Value::String(format!("{s}-x")),
                        Value::Number(n) => Value::from(n.as_i64().unwrap_or(0) + 1),
                        Value::Bool(b) => Value::Bool(!b),
                        _ => Value::from("set"),
                    };
                    // Changed: one line written, the leaf's line(s) removed.
                    let mut new = d.value.clone();
                    yaml::set_value(&mut new, p, Some(nv)).unwrap();
                    let after = edit_document(&file, di, &new)
                        .unwrap_or_else(|e| panic!("{rel} {p:?}: {e}"));
                    let (del, ins) = changed(&text, &after);
                    assert!(del >= 1 && ins == 1, "{rel} {p:?}: -{del} +{ins}\n{after}");
                    if p.last().is_some_and(|l| l.parse::<usize>().is_ok()) {
                        edits += 1;
                        continue;
                    }
                    // Removed: only deletions, or one line rewritten (`- a: 1` → `- b: 2`,
                    // `key: {}`).
                    let mut new = d.value.clone();
                    yaml::set_value(&mut new, p, None).unwrap();
                    let after = edit_document(&file, di, &new)
                        .unwrap_or_else(|e| panic!("{rel} {p:?} removed: {e}"));
                    let (del, ins) = changed(&text, &after);
                    assert!(
                        del >= 1 && ins <= 1,
                        "{rel} {p:?} removed: -{del} +{ins}\n{after}"
                    );
                    // A sibling added: only insertions (or a flow collection rewritten).
                    let mut q = p.clone();
                    q.pop();
                    q.push("addedKey".into());
                    let mut new = d.value.clone();
                    yaml::set_value(&mut new, &q, Some(serde_json::json!({"k": ["a"]}))).unwrap();
                    let after = edit_document(&file, di, &new)
                        .unwrap_or_else(|e| panic!("{rel} {q:?} added: {e}"));
                    let (del, ins) = changed(&text, &after);
                    assert!(
                        (del == 0 && ins == 3)
                            || (del == 1 && ins == 1)
                            // After a last line without newline: that line gains one.
                            || (del == 1 && ins == 4 && !text.ends_with('\n')),
                        "{rel} {q:?} added: -{del} +{ins}\n{after}"
                    );
                    edits += 3;
                }
            }
        }
        assert!(edits > 500, "only {edits} edits tried");
    }
}
