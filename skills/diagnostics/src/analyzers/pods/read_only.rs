//! A container with `readOnlyRootFilesystem: true` whose app writes under
//! its root filesystem: the log says `Read-only file system` (`EROFS`,
//! errno 30) and names the path. The fix mounts an `emptyDir` at the
//! directory the app writes to, keeping the root filesystem read-only.

use serde_json::{Value, json};

use crate::fix;
use crate::reasons as r;

use super::diagnosis::Diagnosis;

/// Directories whose contents are scratch by convention: a write under one
/// of them gets the emptyDir at that level (`/var/cache/nginx`, `/tmp`).
const SCRATCH: &[&str] = &[
    "/tmp",
    "/var/tmp",
    "/run",
    "/var/run",
    "/var/cache/",
    "/var/lib/",
    "/var/log/",
    "/home/",
];

impl<'a> Diagnosis<'a, '_> {
    /// The app writes where the read-only root filesystem does not allow:
    /// the root cause naming the path, and an emptyDir fix.
    pub(super) fn read_only_root(&mut self) {
        if !matches!(
            self.reason,
            r::CRASH_LOOP_BACK_OFF
                | r::CONTAINER_FAILING
                | r::INIT_CONTAINER_FAILING
                | r::PROBE_FAILING
        ) {
            return;
        }
        let (Some(c), Some(t)) = (self.spec_container, self.template) else {
            return;
        };
        let Some((cpath, tc)) = t.container(&c.name) else {
            return;
        };
        if tc["securityContext"]["readOnlyRootFilesystem"].as_bool() != Some(true) {
            return;
        }
        let mounts: Vec<&str> = tc["volumeMounts"]
            .as_array()
            .map(|m| m.iter().filter_map(|v| v["mountPath"].as_str()).collect())
            .unwrap_or_default();
        // A write under a mounted volume (a ConfigMap's, read-only by
        // design) is not a root-filesystem write.
        let Some((line_no, line, path)) =
            erofs_lines(&self.log.text).find(|(_, _, path)| !mounts.iter().any(|m| under(path, m)))
        else {
            return;
        };
        self.quote_log_line(line_no, &line);
        let dir = directory_for(&path, &line);
        let wl = self.workload.display();
        let quoted = crate::analyzers::patterns::clip(line.trim(), 240);
        self.root = Some(format!(
            "container `{}` of {wl} runs with readOnlyRootFilesystem: true and its app writes to `{path}` on the root filesystem, which fails (`{quoted}`, {} line {line_no}); nothing writable is mounted at `{dir}`",
            c.name, self.log.reference
        ));
        let spec = t.spec();
        let existing: Vec<&str> = spec["volumes"]
            .as_array()
            .map(|v| v.iter().filter_map(|x| x["name"].as_str()).collect())
            .unwrap_or_default();
        let name = volume_name(&dir, &existing);
        let volume = json!({"name": name, "emptyDir": {}});
        let mount = json!({"name": name, "mountPath": dir});
        let mut ops = vec![
            fix::test(&format!("{cpath}/name"), c.name.as_str()),
            fix::test(
                &format!("{cpath}/securityContext/readOnlyRootFilesystem"),
                true,
            ),
        ];
        let prefix = t.prefix;
        ops.push(if spec["volumes"].is_array() {
            fix::add(&format!("{prefix}/volumes/-"), volume)
        } else {
            fix::add(&format!("{prefix}/volumes"), Value::Array(vec![volume]))
        });
        ops.push(if tc["volumeMounts"].is_array() {
            fix::add(&format!("{cpath}/volumeMounts/-"), mount)
        } else {
            fix::add(&format!("{cpath}/volumeMounts"), Value::Array(vec![mount]))
        });
        if let Some(f) = self.template_fix(
            ops,
            format!(
                "Mount an emptyDir volume `{name}` at `{dir}` in container `{}`, so the app can write there while the root filesystem stays read-only",
                c.name
            ),
        ) {
            self.fixes.push(f);
        }
    }
}

impl Diagnosis<'_, '_> {
    /// Quotes log line `line_no` of the failing container in full, unless
    /// the evidence already does.
    pub(super) fn quote_log_line(&mut self, line_no: usize, line: &str) {
        let line = line.trim();
        if !self.finding.evidence.iter().any(|e| e.text.contains(line)) {
            self.finding.evidence.push(crate::finding::Evidence::new(
                crate::finding::Source::Log,
                format!("{} line {line_no}", self.log.reference),
                line.to_string(),
            ));
        }
    }
}

/// The log lines that report a read-only filesystem and name an absolute
/// path: (line number, line, path).
fn erofs_lines(text: &str) -> impl Iterator<Item = (usize, String, String)> + '_ {
    text.lines().enumerate().filter_map(|(i, line)| {
        let lower = line.to_ascii_lowercase();
        if !(lower.contains("read-only file system") || line.contains("EROFS")) {
            return None;
        }
        let path = absolute_path(line)?;
        Some((i + 1, line.to_string(), path))
    })
}

/// The first absolute path in `line` (quoted or bare).
fn absolute_path(line: &str) -> Option<String> {
    line.split(|c: char| {
        c.is_whitespace() || matches!(c, '\'' | '"' | '`' | '(' | ')' | '[' | ']' | ',' | '=')
    })
    .map(|w| w.trim_end_matches([':', '.', ';']))
    .find(|w| w.starts_with('/') && w.len() > 1 && !w.starts_with("//"))
    .map(|w| w.trim_end_matches('/').to_string())
}

/// Whether `path` is `dir` or under it.
fn under(path: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    path == dir || path.starts_with(&format!("{dir}/"))
}

/// Where the emptyDir goes for a write to `path`: a scratch location at its
/// conventional level (`/tmp`, `/var/cache/nginx`), else the directory
/// itself when the app creates it (`mkdir`), else the file's directory.
fn directory_for(path: &str, line: &str) -> String {
    for s in SCRATCH {
        if let Some(base) = s.strip_suffix('/') {
            // `/var/cache/<app>`: one level below.
            if let Some(rest) = path.strip_prefix(s)
                && let Some(first) = rest.split('/').next().filter(|f| !f.is_empty())
            {
                return format!("{base}/{first}");
            }
        } else if under(path, s) {
            return s.to_string();
        }
    }
    let lower = line.to_ascii_lowercase();
    let file = path
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.') && !last.starts_with('.'));
    if lower.contains("mkdir") || !file {
        path.to_string()
    } else {
        match path.rfind('/') {
            Some(0) | None => path.to_string(),
            Some(i) => path[..i].to_string(),
        }
    }
}

/// `var-cache-nginx`, `tmp`: a DNS label for the volume, unique among
/// `existing`.
fn volume_name(dir: &str, existing: &[&str]) -> String {
    let mut base: String = dir
        .trim_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while base.contains("--") {
        base = base.replace("--", "-");
    }
    let mut base = base.trim_matches('-').to_string();
    base.truncate(50);
    let base = if base.is_empty() {
        "scratch".to_string()
    } else {
        base.trim_end_matches('-').to_string()
    };
    let mut name = base.clone();
    let mut n = 2;
    while existing.contains(&name.as_str()) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_directories() {
        let l = r#"2026/11/20 08:58:02 [emerg] 1#1: mkdir() "/var/cache/nginx/client_temp" failed (30: Read-only file system)"#;
        let (_, _, p) = erofs_lines(l).next().unwrap();
        assert_eq!(p, "/var/cache/nginx/client_temp");
        assert_eq!(directory_for(&p, l), "/var/cache/nginx");
        let l = "OSError: [Errno 30] Read-only file system: '/srv/app/uploads/tmp'";
        let (_, _, p) = erofs_lines(l).next().unwrap();
        assert_eq!(directory_for(&p, l), "/srv/app/uploads/tmp");
        let l = "Error: EROFS: read-only file system, open '/app/data/session.db'";
        let (_, _, p) = erofs_lines(l).next().unwrap();
        assert_eq!(directory_for(&p, l), "/app/data");
        let l = "java.nio.file.FileSystemException: /tmp/tomcat.8080.1234: Read-only file system";
        let (_, _, p) = erofs_lines(l).next().unwrap();
        assert_eq!(directory_for(&p, l), "/tmp");
        assert!(erofs_lines("all good on /var/lib").next().is_none());
        assert_eq!(volume_name("/var/cache/nginx", &[]), "var-cache-nginx");
        assert_eq!(volume_name("/tmp", &["tmp"]), "tmp-2");
    }
}
