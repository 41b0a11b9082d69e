//! Where a capture writes: a new or empty folder made private (0700), files
//! written once and owner-only (0600), one typed list per kind and namespace
//! in the layout the snapshot store reads.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use crate::{BrokerError, ResourceKind};

/// The output folder: created 0700, or an existing empty one tightened to
/// 0700 (a capture holds a cluster's configuration; nobody else should read
/// it). Never one with files in it.
pub(super) fn prepare_dir(dir: &Path) -> Result<Option<String>, BrokerError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(BrokerError::Invalid(format!(
                    "output folder {} exists and is not empty; a capture never overwrites — \
                     choose a new folder",
                    dir.display()
                )));
            }
            tighten(dir)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            create_private_dir(dir).map_err(|e| {
                BrokerError::Unavailable(format!(
                    "cannot create output folder {}: {e}",
                    dir.display()
                ))
            })?;
            Ok(None)
        }
        Err(e) => Err(BrokerError::Unavailable(format!(
            "cannot use output folder {}: {e}",
            dir.display()
        ))),
    }
}

/// Makes an existing (empty) output folder 0700; says so when it was not.
#[cfg(unix)]
fn tighten(dir: &Path) -> Result<Option<String>, BrokerError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(dir).map_err(|e| {
        BrokerError::Unavailable(format!("cannot use output folder {}: {e}", dir.display()))
    })?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 == 0 {
        return Ok(None);
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| {
        BrokerError::Unavailable(format!(
            "output folder {} can be read by others (mode {mode:o}) and cannot be made private: \
             {e}; choose a folder you own",
            dir.display()
        ))
    })?;
    Ok(Some(format!(
        "output folder {} was mode {mode:o}; made 0700 (owner only) before writing",
        dir.display()
    )))
}

#[cfg(not(unix))]
fn tighten(_dir: &Path) -> Result<Option<String>, BrokerError> {
    Ok(None)
}

/// `create_dir_all` with mode 0700 for every folder it creates.
pub(super) fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes a new file, mode 0600, in a 0700 folder (created if needed).
/// Never replaces a file.
pub(super) fn write_file(path: &Path, bytes: &[u8]) -> Result<(), BrokerError> {
    use std::io::Write as _;
    if let Some(parent) = path.parent() {
        create_private_dir(parent).map_err(|e| {
            BrokerError::Unavailable(format!("cannot create folder {}: {e}", parent.display()))
        })?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .and_then(|mut file| file.write_all(bytes))
        .map_err(|e| BrokerError::Unavailable(format!("cannot write {}: {e}", path.display())))
}

/// Write one kind's list: at the top for cluster-scoped kinds, one file per
/// namespace otherwise. Returns the object count.
pub(super) fn write_kind(
    dir: &Path,
    kind: &ResourceKind,
    list: &Value,
) -> Result<usize, BrokerError> {
    let items: &[Value] = list
        .get("items")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let file = format!("{}.json", kind.grant_name());
    let metadata = json!({
        "resourceVersion": list.pointer("/metadata/resourceVersion").cloned().unwrap_or(json!("")),
    });
    let mut by_folder: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for item in items {
        let folder = if kind.namespaced {
            item.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .filter(|ns| valid_folder(ns))
                .unwrap_or("default")
                .to_string()
        } else {
            String::new()
        };
        by_folder.entry(folder).or_default().push(item);
    }
    for (folder, items) in by_folder {
        let typed = json!({
            "apiVersion": kind.api_version(),
            "kind": kind.list_kind(),
            "metadata": metadata,
            "items": items,
        });
        let text = serde_json::to_string_pretty(&typed)
            .map_err(|e| BrokerError::Internal(format!("serializing {file}: {e}")))?;
        let path = if folder.is_empty() {
            dir.join(&file)
        } else {
            dir.join(&folder).join(&file)
        };
        write_file(&path, text.as_bytes())?;
    }
    Ok(items.len())
}

/// Namespace and pod names are DNS labels/subdomains; anything else must not
/// become a path.
pub(super) fn valid_folder(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_must_be_names() {
        assert!(valid_folder("staging"));
        assert!(valid_folder("web-1.a"));
        assert!(!valid_folder(".."));
        assert!(!valid_folder("a/b"));
        assert!(!valid_folder(""));
    }

    #[test]
    fn output_folder_must_be_new_or_empty() {
        let dir = tempfile::tempdir().unwrap();
        prepare_dir(dir.path()).unwrap();
        let nested = dir.path().join("a/b");
        prepare_dir(&nested).unwrap();
        assert!(nested.is_dir());
        std::fs::write(dir.path().join("x"), "").unwrap();
        let err = prepare_dir(dir.path()).unwrap_err();
        assert!(err.message().contains("is not empty"), "{err}");
    }

    #[test]
    fn folders_are_private_and_files_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tempfile::tempdir().unwrap();
        let fresh = dir.path().join("new/out");
        assert_eq!(prepare_dir(&fresh).unwrap(), None);
        assert_eq!(mode(&fresh), 0o700);
        write_file(&fresh.join("ns/pods.json"), b"{}").unwrap();
        assert_eq!(mode(&fresh.join("ns")), 0o700);
        assert_eq!(mode(&fresh.join("ns/pods.json")), 0o600);
        // Never replaces a file.
        assert!(write_file(&fresh.join("ns/pods.json"), b"{}").is_err());
        // An existing empty folder others can read is made private, and said.
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o755)).unwrap();
        let note = prepare_dir(&open).unwrap().expect("a note");
        assert!(note.contains("was mode 755; made 0700"), "{note}");
        assert_eq!(mode(&open), 0o700);
    }
}
