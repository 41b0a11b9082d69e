//! `guardian diagnose --snapshot` on hostile snapshot folders: it finishes
//! (the harness kills it otherwise), says what it skipped, and diagnoses
//! the rest.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{example_snapshot, guardian};

/// Far more than any of these takes; only a hang reaches it.
const BOUND: Duration = Duration::from_secs(180);

/// Runs `cmd` to completion, or kills it after [`BOUND`] and fails.
fn run_bounded(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("guardian starts");
    // Drain the pipes while waiting, so a large output cannot block it.
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let read = |mut pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let (out, err) = (read(Box::new(stdout)), read(Box::new(stderr)));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {BOUND:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// `diagnose -A --snapshot DIR -o json`, bounded; (report, stderr).
fn diagnose(cache: &Path, snapshot: &Path, env: &[(&str, &str)]) -> (Value, String) {
    let mut cmd = guardian(cache);
    cmd.arg("--state-dir")
        .arg(cache.join("state"))
        .args(["diagnose", "-A", "-o", "json", "--snapshot"])
        .arg(snapshot);
    for (key, value) in env {
        cmd.env(key, value);
    }
    let out = run_bounded(&mut cmd);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    // 0, or 3 for findings at or above --fail-on.
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "diagnose failed ({:?}): {stderr}",
        out.status
    );
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("JSON report: {e}; stderr: {stderr}"));
    (report, stderr)
}

fn findings(report: &Value) -> usize {
    report["findings"].as_array().map_or(0, Vec::len)
}

#[cfg(unix)]
#[test]
fn diagnose_finishes_on_fifos_and_device_links() {
    // Before: a FIFO named *.json or *.txt hung the load; a link to
    // /dev/zero grew memory at ~270 MB/s until killed.
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (baseline, _) = diagnose(&cache, &example_snapshot(), &[]);
    let snapshot = dir.path().join("snapshot");
    copy_dir(&example_snapshot(), &snapshot);
    for fifo in ["pods-extra.json", "staging/notes.txt"] {
        let status = Command::new("mkfifo")
            .arg(snapshot.join(fifo))
            .status()
            .unwrap();
        assert!(status.success());
    }
    std::os::unix::fs::symlink("/dev/zero", snapshot.join("zero.json")).unwrap();
    std::os::unix::fs::symlink("/dev/urandom", snapshot.join("staging/random.yaml")).unwrap();

    let (report, stderr) = diagnose(&cache, &snapshot, &[]);
    for warning in [
        "pods-extra.json: a FIFO is not a regular file; skipped",
        "staging/notes.txt: a FIFO is not a regular file; skipped",
        "zero.json: a symlink to /dev/zero, outside the snapshot folder; not followed",
        "staging/random.yaml: a symlink to /dev/urandom, outside the snapshot folder; not followed",
    ] {
        assert!(stderr.contains(warning), "no warning `{warning}`: {stderr}");
    }
    assert_eq!(findings(&report), findings(&baseline), "the rest diagnosed");
}

#[test]
fn diagnose_finishes_on_a_deeply_nested_yaml_document() {
    // Before: a 100,000-deep flow sequence took about two minutes.
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("snapshot");
    copy_dir(&example_snapshot(), &snapshot);
    let depth = 100_000;
    std::fs::write(
        snapshot.join("deep.yaml"),
        format!("a: {}{}\n", "[".repeat(depth), "]".repeat(depth)),
    )
    .unwrap();
    let (report, stderr) = diagnose(&dir.path().join("cache"), &snapshot, &[]);
    assert!(
        stderr.contains(
            "deep.yaml: flow collections ([…] or {…}) nested more than 128 deep at line 1"
        ),
        "{stderr}"
    );
    assert!(findings(&report) > 0);
}

#[test]
fn a_misshapen_pod_hides_only_itself() {
    // Before: one Pod with `spec: [1,2,3]` made every pod of its namespace
    // unreadable to the diagnosis ("could not read pods in staging"), with
    // a warning naming neither file nor object.
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let snapshot = dir.path().join("snapshot");
    copy_dir(&example_snapshot(), &snapshot);
    let pods_json = snapshot.join("staging/pods.json");
    let mut pods: Value =
        serde_json::from_str(&std::fs::read_to_string(&pods_json).unwrap()).unwrap();
    let victim = pods["items"][2]["metadata"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    pods["items"][2]["spec"] = serde_json::json!([1, 2, 3]);
    std::fs::write(&pods_json, pods.to_string()).unwrap();

    let (report, stderr) = diagnose(&cache, &snapshot, &[]);
    let expected = format!("staging/pods.json: item 3 (Pod staging/{victim}): spec: invalid type");
    assert!(stderr.contains(&expected), "no `{expected}`: {stderr}");
    let unavailable = &report["summary"]["unavailable"];
    assert!(
        unavailable.as_array().is_none_or(Vec::is_empty),
        "nothing else unreadable: {unavailable}"
    );
    // The pod-level findings of the other pods are still there.
    let reasons: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["reason"].as_str())
        .collect();
    for reason in ["CrashLoopBackOff", "OOMKilled", "ImagePullBackOff"] {
        assert!(reasons.contains(&reason), "{reason} missing: {reasons:?}");
    }
}

#[test]
fn a_file_over_the_byte_bound_is_named_with_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let snapshot = dir.path().join("snapshot");
    copy_dir(&example_snapshot(), &snapshot);
    std::fs::write(
        snapshot.join("staging/big-configmap.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: big, namespace: staging}}\ndata:\n  blob: {}\n",
            "x".repeat(2 << 20)
        ),
    )
    .unwrap();
    let (report, stderr) = diagnose(
        &dir.path().join("cache"),
        &snapshot,
        &[("GUARDIAN_SNAPSHOT_MAX_FILE_BYTES", "1MiB")],
    );
    assert!(
        stderr.contains(
            "staging/big-configmap.yaml: 2 MiB, over the per-file limit of 1 MiB; skipped"
        ),
        "{stderr}"
    );
    assert!(findings(&report) > 0);

    // A bound that is not a size is an error that says what to give.
    let out = run_bounded(
        guardian(&dir.path().join("cache"))
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .args(["diagnose", "-A", "--snapshot"])
            .arg(&snapshot)
            .env("GUARDIAN_SNAPSHOT_MAX_FILE_BYTES", "lots"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("GUARDIAN_SNAPSHOT_MAX_FILE_BYTES=\"lots\" is not a size"),
        "{stderr}"
    );
}
