//! Reading a snapshot folder into memory.
//!
//! Loading is forgiving by design: a snapshot is evidence gathered in a hurry
//! from a broken cluster, and one bad file must not hide the other thousand.
//! Whatever cannot be used becomes a [`LoadProblem`] naming the file and the
//! document/item inside it; everything else loads.
//!
//! Two phases: files are parsed into a flat list of staged objects, then the
//! list is indexed. The split exists because whether a custom kind is
//! namespaced (and what its CRD calls it) is only known once every file has
//! been read.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::LoadProblem;
use super::logs::{PodLogs, parse_log_file};
use super::nesting::{MAX_FLOW_DEPTH, check_flow_depth};
use guardian_kube_types::{
    BrokerError, ResourceKind, ResourceTable, Stored, resource_version_of, split_api_version,
};

/// (API group, Kind): how objects are keyed. The version is deliberately not
/// part of the key: the API server serves one object under every version of
/// its group, so `autoscaling/v1` and `autoscaling/v2` HPAs are the same kind.
pub(crate) type GroupKind = (String, String);

/// group-kind → namespace (`""` for cluster-scoped kinds) → name → object.
/// BTreeMaps so that listing is already sorted by namespace, then name;
/// `Arc`s so that shared lists hand out items without copying them.
pub(crate) type Index = HashMap<GroupKind, BTreeMap<String, BTreeMap<String, Arc<Stored>>>>;

/// Everything a snapshot holds, ready to serve.
pub(crate) struct Loaded {
    pub table: ResourceTable,
    pub objects: Index,
    /// (namespace, pod) → logs by container.
    pub logs: HashMap<(String, String), PodLogs>,
    /// The highest resourceVersion seen anywhere, served as the lists' one.
    pub resource_version: u64,
    /// Objects read from files, duplicates included.
    pub scanned: usize,
}

struct Staged {
    group: String,
    kind: String,
    api_version: String,
    namespace: Option<String>,
    name: String,
    /// Redacted and compacted as soon as it is read, so a load never holds
    /// more than one file's parsed objects.
    object: Stored,
}

/// Where in a file an object came from, for problem messages.
#[derive(Clone)]
struct Origin<'a> {
    file: &'a Path,
    /// `document 2, item 5` — empty for a single-object file.
    at: String,
}

impl Origin<'_> {
    fn prefix(&self) -> String {
        if self.at.is_empty() {
            String::new()
        } else {
            format!("{}: ", self.at)
        }
    }

    fn child(&self, what: String) -> Self {
        Self {
            file: self.file,
            at: if self.at.is_empty() {
                what
            } else {
                format!("{}, {what}", self.at)
            },
        }
    }
}

pub(crate) struct Loader {
    builtin: ResourceTable,
    staged: Vec<Staged>,
    logs: HashMap<(String, String), PodLogs>,
    problems: Vec<LoadProblem>,
    max_resource_version: u64,
    /// Pods read from a cluster-info dump `pods.json`: the dump writes a
    /// `<pod>/logs.txt` beside it for each, so a missing one is worth saying.
    dump_pods: Vec<(PathBuf, String, String)>,
    /// Folders already walked, by identity (device and inode on Unix), so a
    /// symlink loop or a second link to a folder is read once.
    visited_dirs: HashSet<DirId>,
    /// The snapshot folder's real path: symlinks are followed only to
    /// targets inside it.
    root_real: PathBuf,
    /// Files found by the walk, read after it.
    files: Vec<FoundFile>,
    options: LoadOptions,
}

/// A file the walk found: the path shown in problems (a symlink's own path)
/// and the path read (its target, inside the snapshot folder).
struct FoundFile {
    shown: PathBuf,
    read: PathBuf,
    size: u64,
}

#[cfg(unix)]
type DirId = (u64, u64);
#[cfg(not(unix))]
type DirId = PathBuf;

#[cfg(unix)]
fn dir_id(meta: &fs::Metadata, _real: &Path) -> DirId {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

#[cfg(not(unix))]
fn dir_id(_meta: &fs::Metadata, real: &Path) -> DirId {
    real.to_path_buf()
}

/// The default of [`LoadOptions::max_file_bytes`]: 64 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 64 << 20;

/// The environment variable that sets [`LoadOptions::max_file_bytes`].
pub const MAX_FILE_BYTES_ENV: &str = "GUARDIAN_SNAPSHOT_MAX_FILE_BYTES";

/// Bounds on what one snapshot file may cost to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// A file larger than this is skipped with a warning naming it and the
    /// bound. Default 64 MiB ([`DEFAULT_MAX_FILE_BYTES`]); set with
    /// `GUARDIAN_SNAPSHOT_MAX_FILE_BYTES` (bytes, or with a `KiB`, `MiB` or
    /// `GiB` suffix).
    pub max_file_bytes: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

impl LoadOptions {
    /// The defaults, with `GUARDIAN_SNAPSHOT_MAX_FILE_BYTES` applied when set.
    pub fn from_env() -> Result<Self, BrokerError> {
        let mut options = Self::default();
        if let Some(raw) = std::env::var_os(MAX_FILE_BYTES_ENV) {
            let text = raw.to_string_lossy();
            options.max_file_bytes = parse_size(&text).ok_or_else(|| {
                BrokerError::Invalid(format!(
                    "{MAX_FILE_BYTES_ENV}={text:?} is not a size; give bytes, or a number with \
                     KiB, MiB or GiB (e.g. 256MiB), or unset it for the default of {}",
                    show_size(DEFAULT_MAX_FILE_BYTES)
                ))
            })?;
        }
        Ok(options)
    }
}

/// `1048576`, `512KiB`, `64MiB`, `1GiB` (also `K`, `M`, `G`, `KB`, `MB`, `GB`,
/// all binary) → bytes. Zero is not a size.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let number: u64 = text[..digits].parse().ok()?;
    let shift = match text[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return None,
    };
    number.checked_mul(1 << shift).filter(|n| *n > 0)
}

/// `64 MiB`, `1.5 GiB`, `812 bytes`.
pub(crate) fn show_size(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (unit, name) in UNITS {
        if bytes >= unit {
            let whole = bytes / unit;
            let tenths = (bytes % unit) * 10 / unit;
            return if tenths == 0 {
                format!("{whole} {name}")
            } else {
                format!("{whole}.{tenths} {name}")
            };
        }
    }
    format!("{bytes} bytes")
}

/// Extensions of the files a snapshot is made of.
fn is_snapshot_extension(extension: &str) -> bool {
    matches!(extension, "json" | "yaml" | "yml" | "txt" | "log")
}

fn extension_of(name: &str) -> String {
    name.rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default()
}

/// What a non-regular file is, for messages.
fn special_kind(file_type: fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
    }
    if file_type.is_symlink() {
        return "a symlink";
    }
    if file_type.is_dir() {
        return "a folder";
    }
    "not a regular file"
}

/// Opens a file for reading without blocking on a FIFO and without
/// following a symlink put in its place since the walk.
fn open_for_reading(path: &Path) -> std::io::Result<fs::File> {
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
    }
    options.open(path)
}

impl Loader {
    pub(crate) fn new() -> Self {
        Self {
            builtin: ResourceTable::builtin(),
            staged: Vec::new(),
            logs: HashMap::new(),
            problems: Vec::new(),
            max_resource_version: 0,
            dump_pods: Vec::new(),
            visited_dirs: HashSet::new(),
            root_real: PathBuf::new(),
            files: Vec::new(),
            options: LoadOptions::default(),
        }
    }

    pub(crate) fn with_options(options: LoadOptions) -> Self {
        Self {
            options,
            ..Self::new()
        }
    }

    fn problem(&mut self, file: &Path, message: String) {
        self.problems.push(LoadProblem {
            file: file.to_path_buf(),
            message,
        });
    }

    /// Load a folder (recursively) or a single file.
    pub(crate) fn load_path(&mut self, root: &Path) -> Result<(), BrokerError> {
        let meta = fs::metadata(root).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                BrokerError::NotFound(format!(
                    "snapshot path {} does not exist; pass the folder written by `kubectl \
                     cluster-info dump --output-directory` (plus any `kubectl get -o yaml` \
                     files), or a single YAML/JSON file",
                    root.display()
                ))
            } else {
                BrokerError::Unavailable(format!(
                    "cannot read snapshot path {}: {e}; check that it exists and is readable",
                    root.display()
                ))
            }
        })?;
        let real = fs::canonicalize(root).map_err(|e| {
            BrokerError::Unavailable(format!(
                "cannot resolve snapshot path {}: {e}; check that it exists and is readable",
                root.display()
            ))
        })?;
        if meta.is_dir() {
            // The root folder itself must be listable; anything below that
            // fails becomes a problem instead.
            fs::read_dir(root).map_err(|e| {
                BrokerError::Unavailable(format!(
                    "cannot list snapshot folder {}: {e}; check its permissions",
                    root.display()
                ))
            })?;
            let started = std::time::Instant::now();
            self.walk(root, &meta, real);
            let walked = started.elapsed();
            self.load_files();
            tracing::debug!(
                files = self.staged.len(),
                walk_ms = walked.as_millis() as u64,
                read_ms = (started.elapsed() - walked).as_millis() as u64,
                "snapshot files read"
            );
        } else if meta.is_file() {
            self.load_file(root, &real);
        } else {
            return Err(BrokerError::Invalid(format!(
                "snapshot path {} is {}, not a folder or a regular file; pass the folder written \
                 by `kubectl cluster-info dump --output-directory`, or a YAML/JSON file",
                root.display(),
                special_kind(meta.file_type())
            )));
        }
        Ok(())
    }
    /// Reads the files the walk found, in parallel: each thread reads a
    /// contiguous share (by bytes) into its own loader, and the shares are
    /// merged in file order, so the result is the same as reading them one
    /// after another.
    fn load_files(&mut self) {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, 8);
        // Small snapshots are not worth a thread.
        self.load_files_with(threads, 4 << 20);
    }

    fn load_files_with(&mut self, threads: usize, min_bytes: u64) {
        let files = std::mem::take(&mut self.files);
        let total: u64 = files.iter().map(|f| f.size).sum();
        if threads == 1 || files.len() < 2 || total < min_bytes {
            for file in &files {
                self.load_file(&file.shown, &file.read);
            }
            return;
        }
        let share = total.div_ceil(threads as u64);
        let mut chunks: Vec<&[FoundFile]> = Vec::new();
        let (mut start, mut bytes) = (0, 0u64);
        for (i, file) in files.iter().enumerate() {
            bytes += file.size;
            if bytes >= share && chunks.len() + 1 < threads {
                chunks.push(&files[start..=i]);
                start = i + 1;
                bytes = 0;
            }
        }
        chunks.push(&files[start..]);
        let loaded: Vec<Loader> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunks
                .iter()
                .map(|chunk| {
                    let options = self.options.clone();
                    scope.spawn(move || {
                        let mut part = Loader::with_options(options);
                        for file in chunk.iter() {
                            part.load_file(&file.shown, &file.read);
                        }
                        part
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("a snapshot loader thread panicked"))
                .collect()
        });
        for part in loaded {
            self.merge(part);
        }
    }

    /// Takes in what `part` read (from files after this loader's).
    fn merge(&mut self, part: Loader) {
        self.staged.extend(part.staged);
        self.problems.extend(part.problems);
        self.dump_pods.extend(part.dump_pods);
        self.max_resource_version = self.max_resource_version.max(part.max_resource_version);
        for (key, containers) in part.logs {
            let pod = self.logs.entry(key.clone()).or_default();
            for (name, entry) in containers {
                let mine = pod.entry(name.clone()).or_default();
                for (previous, slot) in [(false, entry.current), (true, entry.previous)] {
                    let Some(body) = slot else { continue };
                    let target = if previous {
                        &mut mine.previous
                    } else {
                        &mut mine.current
                    };
                    if target.is_some() {
                        self.problems.push(LoadProblem {
                            file: PathBuf::from(format!("{}/{}", key.0, key.1)),
                            message: format!(
                                "a second block of {} for container {name} of pod {}/{}; kept \
                                 the first one read",
                                if previous { "previous logs" } else { "logs" },
                                key.0,
                                key.1
                            ),
                        });
                    } else {
                        *target = Some(body);
                    }
                }
            }
        }
    }

    /// Walks the snapshot folder `root`, whose real path is `real`.
    fn walk(&mut self, root: &Path, meta: &fs::Metadata, real: PathBuf) {
        self.visited_dirs.insert(dir_id(meta, &real));
        self.root_real = real;
        self.walk_in(root);
    }

    /// Walks `dir`, a folder inside the snapshot (already marked visited).
    /// Reads only regular files and folders; follows a symlink only to a
    /// regular file or a folder inside the snapshot folder; each folder is
    /// read once, whatever the links to it. Everything skipped is said.
    fn walk_in(&mut self, dir: &Path) {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => {
                self.problem(
                    dir,
                    format!("cannot list this folder: {e}; its files were skipped"),
                );
                return;
            }
        };
        let mut found: Vec<fs::DirEntry> = Vec::new();
        for entry in entries {
            match entry {
                Ok(entry) => found.push(entry),
                Err(e) => self.problem(
                    dir,
                    format!("cannot read an entry of this folder: {e}; it was skipped"),
                ),
            }
        }
        // Sorted, so that problems and duplicate resolution are reproducible.
        found.sort_by_key(|e| e.file_name());
        for entry in found {
            let path = entry.path();
            let raw_name = entry.file_name();
            if raw_name.as_encoded_bytes().starts_with(b".") {
                // `.git`, editor swap files, `.DS_Store`: never snapshot data.
                continue;
            }
            let Some(name) = raw_name.to_str() else {
                self.problem(
                    &path,
                    "this name is not valid UTF-8 (shown with U+FFFD); skipped — kubectl \
                     writes only UTF-8 names: rename it if it belongs to the snapshot"
                        .to_string(),
                );
                continue;
            };
            // Not followed: this is the entry itself.
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(e) => {
                    self.problem(&path, format!("cannot read this entry: {e}; skipped"));
                    continue;
                }
            };
            let file_type = meta.file_type();
            if file_type.is_dir() {
                self.enter(&path, name, &meta, None);
            } else if file_type.is_file() {
                self.found_file(&path, name, path.clone(), meta.len());
            } else if file_type.is_symlink() {
                self.follow(&path, name);
            } else {
                self.problem(
                    &path,
                    format!(
                        "{} is not a regular file; skipped — a snapshot holds regular files and \
                         folders only",
                        special_kind(file_type)
                    ),
                );
            }
        }
    }

    /// Walks a folder found at `path` (a symlink's target is `target`),
    /// unless it was walked already.
    fn enter(&mut self, path: &Path, name: &str, meta: &fs::Metadata, target: Option<&Path>) {
        let real = target.map_or_else(|| path.to_path_buf(), Path::to_path_buf);
        if !self.visited_dirs.insert(dir_id(meta, &real)) {
            self.problem(
                path,
                format!(
                    "this leads to a folder already read{} (a symlink loop, or a second link \
                     to it); not read again",
                    target.map_or(String::new(), |t| format!(" ({})", t.display()))
                ),
            );
            return;
        }
        if is_snapshot_extension(&extension_of(name)) {
            self.problem(
                path,
                "a folder named like a snapshot file; read as a folder — kubectl writes a \
                 file here"
                    .to_string(),
            );
        }
        self.walk_in(path);
    }

    /// A symlink: followed only to a regular file or folder inside the
    /// snapshot folder.
    fn follow(&mut self, path: &Path, name: &str) {
        let target = match fs::canonicalize(path) {
            Ok(target) => target,
            Err(e) => {
                self.problem(
                    path,
                    format!("a symlink that cannot be resolved: {e} (dangling?); skipped"),
                );
                return;
            }
        };
        if !target.starts_with(&self.root_real) {
            self.problem(
                path,
                format!(
                    "a symlink to {}, outside the snapshot folder; not followed — copy the file \
                     in if it belongs to the snapshot",
                    target.display()
                ),
            );
            return;
        }
        // `target` has no symlinks left in it: this is the target itself.
        let meta = match fs::symlink_metadata(&target) {
            Ok(meta) => meta,
            Err(e) => {
                self.problem(
                    path,
                    format!("cannot read the target of this symlink: {e}; skipped"),
                );
                return;
            }
        };
        if meta.is_dir() {
            self.enter(path, name, &meta, Some(&target));
        } else if meta.is_file() {
            let size = meta.len();
            self.found_file(path, name, target, size);
        } else {
            self.problem(
                path,
                format!(
                    "a symlink to {}, which is {}, not a regular file; skipped",
                    target.display(),
                    special_kind(meta.file_type())
                ),
            );
        }
    }

    fn found_file(&mut self, shown: &Path, name: &str, read: PathBuf, size: u64) {
        if !is_snapshot_extension(&extension_of(name)) {
            // READMEs, tarballs, …: not ours to judge.
            return;
        }
        self.files.push(FoundFile {
            shown: shown.to_path_buf(),
            read,
            size,
        });
    }

    /// Reads at most `max_file_bytes` of a regular file, or says why not.
    fn read_bounded(&mut self, shown: &Path, read: &Path) -> Option<Vec<u8>> {
        use std::io::Read as _;
        let limit = self.options.max_file_bytes;
        let too_large = |size: String| {
            format!(
                "{size}, over the per-file limit of {}; skipped — split the file, or raise the \
                 limit with {MAX_FILE_BYTES_ENV} (e.g. {MAX_FILE_BYTES_ENV}=512MiB)",
                show_size(limit)
            )
        };
        let file = match open_for_reading(read) {
            Ok(file) => file,
            Err(e) => {
                self.problem(
                    shown,
                    format!("cannot read this file: {e}; check its permissions"),
                );
                return None;
            }
        };
        let meta = match file.metadata() {
            Ok(meta) => meta,
            Err(e) => {
                self.problem(shown, format!("cannot read this file: {e}; skipped"));
                return None;
            }
        };
        if !meta.is_file() {
            self.problem(
                shown,
                format!(
                    "{} is not a regular file; skipped — a snapshot holds regular files and \
                     folders only",
                    special_kind(meta.file_type())
                ),
            );
            return None;
        }
        if meta.len() > limit {
            let message = too_large(show_size(meta.len()));
            self.problem(shown, message);
            return None;
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        if let Err(e) = file.take(limit + 1).read_to_end(&mut bytes) {
            self.problem(
                shown,
                format!("cannot read this file: {e}; check its permissions"),
            );
            return None;
        }
        if bytes.len() as u64 > limit {
            // It grew while being read.
            let message = too_large("more than that".to_string());
            self.problem(shown, message);
            return None;
        }
        Some(bytes)
    }

    /// Reads one file: `shown` is the path problems name, `read` the path
    /// opened (a symlink's target).
    fn load_file(&mut self, shown: &Path, read: &Path) {
        let path = shown;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let extension = extension_of(&name);
        let is_logs = matches!(extension.as_str(), "txt" | "log");
        if !is_snapshot_extension(&extension) {
            // READMEs, tarballs, …: not ours to judge.
            return;
        }
        let Some(bytes) = self.read_bounded(shown, read) else {
            return;
        };
        if name == super::top::TOP_PODS_FILE || name == super::top::TOP_NODES_FILE {
            let text = String::from_utf8_lossy(&bytes);
            let (objects, problems) = if name == super::top::TOP_PODS_FILE {
                super::top::pod_metrics(&text)
            } else {
                super::top::node_metrics(&text)
            };
            for message in problems {
                self.problem(path, message);
            }
            for (i, object) in objects.into_iter().enumerate() {
                let origin = Origin {
                    file: path,
                    at: format!("row group {}", i + 1),
                };
                self.ingest(object, &origin, None, false);
            }
            return;
        }
        if is_logs {
            // Container logs may contain anything; keep what decodes.
            let text = String::from_utf8_lossy(&bytes);
            self.load_logs(path, &name, &text);
            return;
        }
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => {
                self.problem(
                    path,
                    format!(
                        "not UTF-8 text (invalid byte at offset {}); skipped — snapshot files \
                         are YAML or JSON as kubectl writes them",
                        e.utf8_error().valid_up_to()
                    ),
                );
                return;
            }
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
        if text.trim().is_empty() {
            self.problem(
                path,
                "empty file; nothing was loaded from it — was the capture cut short?".to_string(),
            );
            return;
        }
        let from_dump_pods = name == "pods.json";
        if extension == "json" {
            self.load_json(path, text, from_dump_pods);
        } else {
            self.load_yaml(path, text);
        }
    }

    fn load_logs(&mut self, path: &Path, name: &str, text: &str) {
        // Kept as written: credential-shaped text is masked when a log is
        // read (`Data::logs`), which is cheaper than masking megabytes
        // of logs nobody reads at every load.
        let (blocks, problems) = parse_log_file(text);
        for message in problems {
            self.problem(path, message);
        }
        if blocks.is_empty() {
            // Only `logs.txt` is a promise of log blocks; other .txt files
            // (notes, READMEs) are simply not ours.
            if name == "logs.txt" {
                self.problem(
                    path,
                    "no `==== START logs for container C of pod NS/POD ====` blocks found; \
                     this does not look like a cluster-info dump logs file"
                        .to_string(),
                );
            }
            return;
        }
        for block in blocks {
            let pod = self
                .logs
                .entry((block.namespace.clone(), block.pod.clone()))
                .or_default();
            let container = pod.entry(block.container.clone()).or_default();
            let slot = if block.previous {
                &mut container.previous
            } else {
                &mut container.current
            };
            if slot.is_some() {
                let which = if block.previous {
                    "previous logs"
                } else {
                    "logs"
                };
                self.problem(
                    path,
                    format!(
                        "a second block of {which} for container {} of pod {}/{}; kept the \
                         first one read",
                        block.container, block.namespace, block.pod
                    ),
                );
                continue;
            }
            *slot = Some(block.body);
        }
    }

    fn load_json(&mut self, path: &Path, text: &str, from_dump_pods: bool) {
        // A stream, not a single value: `kubectl cluster-info dump` without
        // --output-directory and `kubectl get -o json` run in a loop both
        // produce concatenated JSON documents.
        let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
        let mut index = 0usize;
        loop {
            match stream.next() {
                None => break,
                Some(Ok(value)) => {
                    index += 1;
                    let at = if index > 1 {
                        format!("document {index}")
                    } else {
                        String::new()
                    };
                    let origin = Origin { file: path, at };
                    self.ingest(value, &origin, None, from_dump_pods);
                }
                Some(Err(e)) => {
                    let rest = if index > 0 {
                        format!(
                            "; the {index} document(s) before it loaded, the rest of the file \
                             was skipped"
                        )
                    } else {
                        "; the file was skipped".to_string()
                    };
                    // serde_json appends the location itself; say it once.
                    let reason = e.to_string();
                    let reason = reason
                        .rsplit_once(" at line ")
                        .map_or(reason.as_str(), |(r, _)| r);
                    self.problem(
                        path,
                        format!(
                            "invalid JSON at line {}, column {}: {reason}{rest}",
                            e.line(),
                            e.column()
                        ),
                    );
                    break;
                }
            }
        }
    }

    fn load_yaml(&mut self, path: &Path, text: &str) {
        let documents = split_yaml_documents(text);
        if documents.is_empty() {
            self.problem(
                path,
                "no YAML documents in this file (only blank lines, comments and `---`); nothing \
                 was loaded from it"
                    .to_string(),
            );
            return;
        }
        let many = documents.len() > 1;
        for (number, (first_line, document)) in documents.iter().enumerate() {
            let number = number + 1;
            let at = if many {
                format!("document {number} (line {first_line})")
            } else {
                String::new()
            };
            if let Err(deep) = check_flow_depth(document, MAX_FLOW_DEPTH) {
                let prefix = if at.is_empty() {
                    String::new()
                } else {
                    format!("{at}: ")
                };
                self.problem(
                    path,
                    format!(
                        "{prefix}flow collections ([…] or {{…}}) nested more than {MAX_FLOW_DEPTH} \
                         deep at line {}; document skipped — Kubernetes objects nest far less",
                        deep.line + first_line - 1
                    ),
                );
                continue;
            }
            match serde_yaml::from_str::<Value>(document) {
                Ok(Value::Null) => {} // empty document, e.g. a trailing `---`
                Ok(value) => {
                    let origin = Origin { file: path, at };
                    self.ingest(value, &origin, None, false);
                }
                Err(e) => {
                    let prefix = if at.is_empty() {
                        String::new()
                    } else {
                        format!("{at}: ")
                    };
                    // serde_yaml counts lines from the start of the document;
                    // make them absolute so the user can jump straight there.
                    let reason = shift_line_numbers(&e.to_string(), first_line - 1);
                    self.problem(
                        path,
                        format!("{prefix}invalid YAML: {reason}; document skipped"),
                    );
                }
            }
        }
    }

    /// Take one parsed top-level value (or list item) apart.
    /// `implied` is the (apiVersion, Kind) a typed list gives its items.
    fn ingest(
        &mut self,
        mut value: Value,
        origin: &Origin<'_>,
        implied: Option<(&str, &str)>,
        from_dump_pods: bool,
    ) {
        let at = origin.prefix();
        let Some(map) = value.as_object_mut() else {
            let found = match value {
                Value::Array(_) => "an array",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                Value::Null | Value::Object(_) => "null",
            };
            self.problem(
                origin.file,
                format!(
                    "{at}expected a Kubernetes object (a mapping with apiVersion, kind and \
                     metadata.name), found {found}; skipped"
                ),
            );
            return;
        };
        let own_kind = map
            .get("kind")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty());
        let Some(kind) = own_kind.or(implied.map(|(_, k)| k)).map(str::to_string) else {
            self.problem(
                origin.file,
                format!(
                    "{at}object has no kind; skipped — every object needs apiVersion and kind \
                     (only items of a typed list such as PodList may omit them)"
                ),
            );
            return;
        };
        let own_api_version = map
            .get("apiVersion")
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string);

        if let Some(rv) = resource_version_of(&value) {
            self.max_resource_version = self.max_resource_version.max(rv);
        }
        let Some(map) = value.as_object_mut() else {
            return;
        };

        let is_list = kind == "List" || (kind.ends_with("List") && map.contains_key("items"));
        if is_list {
            let items = match map.remove("items") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(items)) => items,
                Some(_) => {
                    self.problem(
                        origin.file,
                        format!("{at}{kind} has an `items` field that is not a list; skipped"),
                    );
                    return;
                }
            };
            // `PodList` → items are `Pod`s of the list's apiVersion; a plain
            // `List` implies nothing, its items carry their own.
            let item_kind = kind.strip_suffix("List").filter(|k| !k.is_empty());
            let list_api_version = own_api_version.or(implied.map(|(v, _)| v.to_string()));
            for (i, item) in items.into_iter().enumerate() {
                let child = origin.child(format!("item {}", i + 1));
                let item_implied = match (&list_api_version, item_kind) {
                    (Some(v), Some(k)) => Some((v.as_str(), k)),
                    _ => None,
                };
                self.ingest(item, &child, item_implied, from_dump_pods);
            }
            return;
        }

        let name = map
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_string);
        let shown_name = name
            .as_deref()
            .map(|n| format!(" \"{n}\""))
            .unwrap_or_default();

        let api_version = match own_api_version.or_else(|| implied.map(|(v, _)| v.to_string())) {
            Some(v) => v,
            None => {
                // Hand-written files sometimes omit apiVersion; a built-in kind
                // with a single home is unambiguous.
                let homes = self.builtin.builtin_by_kind(&kind);
                match homes.as_slice() {
                    [only] => only.api_version(),
                    _ => {
                        self.problem(
                            origin.file,
                            format!(
                                "{at}{kind}{shown_name} has no apiVersion and {kind} is not a \
                                 built-in kind with a single API group; skipped — add \
                                 apiVersion (e.g. example.com/v1)"
                            ),
                        );
                        return;
                    }
                }
            }
        };
        let (group, _) = split_api_version(&api_version);
        if group.is_empty() && self.builtin.by_group_kind("", &kind).is_none() {
            // Custom resources always have a group; an unknown kind in the
            // core group is a typo or a non-Kubernetes file.
            self.problem(
                origin.file,
                format!(
                    "{at}kind {kind}{shown_name} is not part of the core v1 API (apiVersion \
                     \"{api_version}\"); skipped — a typo? Custom resources need their group in \
                     apiVersion, e.g. example.com/v1"
                ),
            );
            return;
        }
        let Some(name) = name else {
            self.problem(
                origin.file,
                format!(
                    "{at}{kind} object has no metadata.name; skipped — snapshot objects are \
                     server output, which always has a name"
                ),
            );
            return;
        };
        let namespace = map
            .get("metadata")
            .and_then(|m| m.get("namespace"))
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .map(str::to_string);

        // Items of typed lists lack these; every object we serve has them.
        map.insert("apiVersion".into(), Value::String(api_version.clone()));
        map.insert("kind".into(), Value::String(kind.clone()));

        // One misshapen object is skipped alone, named: it must not make the
        // list it is served in undecodable for a skill.
        if let Err(reason) = super::shape::check(&api_version, &kind, &value) {
            let object = match &namespace {
                Some(ns) => format!("{kind} {ns}/{name}"),
                None => format!("{kind} {name}"),
            };
            let at = if origin.at.is_empty() {
                format!("{object}: ")
            } else {
                format!("{} ({object}): ", origin.at)
            };
            self.problem(
                origin.file,
                format!(
                    "{at}{reason}; this object was skipped, the rest loaded — it does not have \
                     the shape the Kubernetes API gives a {kind}"
                ),
            );
            return;
        }

        if from_dump_pods && group.is_empty() && kind == "Pod" {
            self.dump_pods.push((
                origin.file.to_path_buf(),
                namespace.clone().unwrap_or_default(),
                name.clone(),
            ));
        }
        // Redacted once, at rest: a snapshot never changes after load, so
        // the broker need not scan every object on every call (see
        // `Backend::redacted_at_source`).
        guardian_redact::object(&mut value);
        guardian_redact::env_values(&mut value);
        guardian_redact::event_messages(&mut value);
        self.staged.push(Staged {
            group: group.to_string(),
            kind,
            api_version,
            namespace,
            name,
            object: Stored::new(&value),
        });
    }

    /// Load objects that are already parsed (tests, other crates' fixtures).
    pub(crate) fn load_values(&mut self, label: &Path, values: Vec<Value>) {
        for (i, value) in values.into_iter().enumerate() {
            let origin = Origin {
                file: label,
                at: format!("document {}", i + 1),
            };
            self.ingest(value, &origin, None, false);
        }
    }

    /// Index what was read. Fails only when nothing at all was usable.
    pub(crate) fn finish(mut self, root: &Path) -> Result<(Loaded, Vec<LoadProblem>), BrokerError> {
        let scanned = self.staged.len();
        let mut table = self.builtin.clone();

        // CRDs first: their declared names beat derived ones.
        for staged in &self.staged {
            if staged.group == "apiextensions.k8s.io"
                && staged.kind == "CustomResourceDefinition"
                && let Some(kind) = ResourceKind::from_crd(&staged.object.value())
            {
                table.insert(kind);
            }
        }
        // Then every other unknown (group, Kind): namespaced if any of its
        // objects has a namespace.
        let mut unknown: Vec<(GroupKind, String, bool)> = Vec::new();
        let mut position: HashMap<GroupKind, usize> = HashMap::new();
        for staged in &self.staged {
            if table.by_group_kind(&staged.group, &staged.kind).is_some() {
                continue;
            }
            let key = (staged.group.clone(), staged.kind.clone());
            match position.get(&key) {
                Some(&i) => unknown[i].2 |= staged.namespace.is_some(),
                None => {
                    position.insert(key.clone(), unknown.len());
                    unknown.push((key, staged.api_version.clone(), staged.namespace.is_some()));
                }
            }
        }
        for ((_, kind), api_version, namespaced) in unknown {
            table.insert(ResourceKind::discovered(&api_version, &kind, namespaced));
        }

        label_pod_metrics(&mut self.staged);

        let mut objects: Index = HashMap::new();
        let mut count = 0usize;
        for staged in self.staged {
            let namespaced = table
                .by_group_kind(&staged.group, &staged.kind)
                .is_none_or(|k| k.namespaced);
            // kubectl puts a namespaced object without a namespace into
            // `default`; cluster-scoped objects have none, whatever a file says.
            let namespace = if namespaced {
                staged.namespace.unwrap_or_else(|| "default".to_string())
            } else {
                String::new()
            };
            let by_name = objects
                .entry((staged.group, staged.kind))
                .or_default()
                .entry(namespace)
                .or_default();
            match by_name.get(&staged.name) {
                // Same object seen twice (dump + `kubectl get` output): keep
                // the newer one. Not a problem, just overlap.
                Some(existing)
                    if !is_newer(
                        staged.object.resource_version(),
                        existing.resource_version(),
                    ) => {}
                Some(_) => {
                    by_name.insert(staged.name, Arc::new(staged.object));
                }
                None => {
                    by_name.insert(staged.name, Arc::new(staged.object));
                    count += 1;
                }
            }
        }

        for (pods_json, namespace, pod) in &self.dump_pods {
            if !self.logs.contains_key(&(namespace.clone(), pod.clone())) {
                let expected = pods_json
                    .parent()
                    .unwrap_or(Path::new(""))
                    .join(pod)
                    .join("logs.txt");
                self.problems.push(LoadProblem {
                    file: expected,
                    message: format!(
                        "pod {namespace}/{pod} is in {} but this logs.txt is missing; logs for \
                         it will answer unavailable — re-run the dump or add the file",
                        pods_json.display()
                    ),
                });
            }
        }

        if count == 0 && self.logs.is_empty() {
            let skipped = if self.problems.is_empty() {
                "no YAML, JSON or logs.txt files were found".to_string()
            } else {
                let first = &self.problems[0];
                format!(
                    "{} problem(s), the first in {}: {}",
                    self.problems.len(),
                    first.file.display(),
                    first.message
                )
            };
            return Err(BrokerError::Invalid(format!(
                "no Kubernetes objects or pod logs could be loaded from {} ({skipped}); a \
                 snapshot is a `kubectl cluster-info dump --output-directory` folder and/or \
                 `kubectl get … -o yaml|json` files — see docs/snapshots.md",
                root.display()
            )));
        }

        let loaded = Loaded {
            table,
            objects,
            logs: self.logs,
            resource_version: self.max_resource_version,
            scanned,
        };
        Ok((loaded, self.problems))
    }
}

fn is_newer(candidate: Option<u64>, existing: Option<u64>) -> bool {
    match (candidate, existing) {
        (Some(c), Some(e)) => c > e,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// Add `offset` to every `line N` in a serde_yaml error message.
fn shift_line_numbers(message: &str, offset: usize) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(at) = rest.find("line ") {
        let (before, after) = rest.split_at(at + "line ".len());
        out.push_str(before);
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        match after[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&after[..digits]),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// Split a YAML stream at `---` / `...` document markers, returning each
/// document with the line it starts on. Done by hand rather than with
/// serde_yaml's multi-document reader so that a syntax error in one document
/// costs only that document, not the rest of the file. (A marker at column 0
/// always ends a document in YAML, even inside a block scalar, so this is
/// exact for real files.)
fn split_yaml_documents(text: &str) -> Vec<(usize, String)> {
    let mut documents = Vec::new();
    let mut current = String::new();
    let mut start_line = 1;
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let trimmed = line.trim_end();
        let is_start = trimmed == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        let is_end = trimmed == "...";
        if is_start || is_end {
            documents.push((start_line, std::mem::take(&mut current)));
            start_line = line_no;
            if is_start {
                // `--- {inline: doc}` keeps its content in the new document.
                let rest = line[3..].trim_start();
                if !rest.is_empty() && !rest.starts_with('#') {
                    current.push_str(rest);
                    current.push('\n');
                } else {
                    current.push('\n');
                }
            } else {
                current.push('\n');
            }
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    documents.push((start_line, current));
    // Documents that are only blank lines and comments are not documents.
    documents
        .into_iter()
        .filter(|(_, d)| {
            d.lines().any(|l| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with('#')
            })
        })
        .collect()
}

/// PodMetrics without labels (read from `top-pods.txt`) get their Pod's, as
/// metrics-server gives them, so label selectors find them.
fn label_pod_metrics(staged: &mut [Staged]) {
    let unlabelled = |s: &Staged| {
        s.group == "metrics.k8s.io"
            && s.kind == "PodMetrics"
            && s.object.value()["metadata"]["labels"].is_null()
    };
    if !staged.iter().any(unlabelled) {
        return;
    }
    let labels: HashMap<(Option<String>, String), Value> = staged
        .iter()
        .filter(|s| s.group.is_empty() && s.kind == "Pod")
        .filter_map(|s| {
            let labels = s.object.value()["metadata"]["labels"].clone();
            labels
                .is_object()
                .then(|| ((s.namespace.clone(), s.name.clone()), labels))
        })
        .collect();
    for s in staged.iter_mut() {
        if !unlabelled(s) {
            continue;
        }
        if let Some(l) = labels.get(&(s.namespace.clone(), s.name.clone())) {
            let mut value = s.object.value();
            value["metadata"]["labels"] = l.clone();
            s.object = Stored::new(&value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_documents_split_with_line_numbers() {
        let text = "# header\n---\na: 1\n---\n---\nb: 2\n...\n--- {c: 3}\n";
        let docs = split_yaml_documents(text);
        assert_eq!(docs.len(), 3, "{docs:?}");
        assert_eq!(docs[0].0, 2);
        assert!(docs[0].1.contains("a: 1"));
        assert_eq!(docs[1].0, 5);
        assert!(docs[1].1.contains("b: 2"));
        assert_eq!(docs[2].0, 8);
        assert!(docs[2].1.contains("{c: 3}"));
        // Relative line numbers inside a document stay right: the marker line
        // is kept as an empty line.
        assert_eq!(docs[1].1.lines().position(|l| l == "b: 2"), Some(1));
    }

    #[test]
    fn yaml_error_lines_become_absolute() {
        assert_eq!(
            shift_line_numbers(
                "did not find expected key at line 4 column 1, while parsing a block mapping at \
                 line 2 column 1",
                10
            ),
            "did not find expected key at line 14 column 1, while parsing a block mapping at \
             line 12 column 1"
        );
        assert_eq!(shift_line_numbers("no lines here", 3), "no lines here");
    }

    #[test]
    fn parallel_reading_gives_what_sequential_reading_gives() {
        let dir = tempfile::tempdir().unwrap();
        for ns in 0..6 {
            let folder = dir.path().join(format!("ns{ns}"));
            fs::create_dir_all(&folder).unwrap();
            let items: Vec<Value> = (0..20)
                .map(|i| {
                    serde_json::json!({"metadata": {"name": format!("p{i}"), "namespace": format!("ns{ns}"),
                        "resourceVersion": format!("{}", ns * 100 + i)},
                        "spec": {"containers": [{"name": "c"}]}})
                })
                .collect();
            let list = serde_json::json!({"kind": "PodList", "apiVersion": "v1", "items": items});
            fs::write(folder.join("pods.json"), list.to_string()).unwrap();
            for i in 0..20 {
                let pod = folder.join(format!("p{i}"));
                fs::create_dir_all(&pod).unwrap();
                let mut text = format!(
                    "==== START logs for container c of pod ns{ns}/p{i} ====\nline {i}\n==== END logs for container c of pod ns{ns}/p{i} ====\n"
                );
                if i == 3 {
                    text.push_str("not a block\n");
                }
                fs::write(pod.join("logs.txt"), text).unwrap();
            }
        }
        // A broken file in the middle, and a pod whose logs.txt is missing.
        fs::write(dir.path().join("ns3/broken.yaml"), "kind: [").unwrap();
        fs::remove_file(dir.path().join("ns4/p7/logs.txt")).unwrap();

        let read = |threads: usize| {
            let mut loader = Loader::new();
            let meta = fs::metadata(dir.path()).unwrap();
            loader.walk(dir.path(), &meta, fs::canonicalize(dir.path()).unwrap());
            loader.load_files_with(threads, 0);
            let (loaded, problems) = loader.finish(dir.path()).unwrap();
            let mut objects: Vec<(String, String, String)> = Vec::new();
            for ((_, kind), by_ns) in &loaded.objects {
                for (ns, by_name) in by_ns {
                    for (name, stored) in by_name {
                        objects.push((
                            kind.clone(),
                            ns.clone(),
                            format!("{name} {}", stored.json().get()),
                        ));
                    }
                }
            }
            objects.sort();
            let mut logs: Vec<String> = loaded
                .logs
                .iter()
                .map(|(k, v)| format!("{k:?} {:?}", v.keys()))
                .collect();
            logs.sort();
            let problems: Vec<String> = problems
                .iter()
                .map(|p| format!("{} {}", p.file.display(), p.message))
                .collect();
            (objects, logs, problems, loaded.resource_version)
        };
        let one = read(1);
        assert_eq!(one.0.len(), 120);
        assert!(!one.2.is_empty());
        for threads in [2, 3, 7] {
            assert_eq!(read(threads), one, "{threads} threads");
        }
    }

    #[test]
    fn newer_resource_version_wins() {
        assert!(is_newer(Some(10), Some(9)));
        assert!(!is_newer(Some(9), Some(10)));
        assert!(!is_newer(Some(9), Some(9)));
        assert!(is_newer(Some(1), None));
        assert!(!is_newer(None, Some(1)));
        assert!(!is_newer(None, None));
    }
}
