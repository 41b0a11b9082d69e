//! The `guardian` binary as a user runs it.

use serde_json::Value;

use crate::support::*;

#[test]
fn skills_list_json_has_the_documented_shape() {
    let cache = tempfile::tempdir().unwrap();
    let out = run_ok(guardian(cache.path()).args(["skills", "list", "-o", "json"]));
    let skills: Vec<Value> = serde_json::from_str(&out).unwrap();
    let cluster = skills
        .iter()
        .find(|s| s["name"] == "cluster")
        .expect("built-in cluster skill listed");
    for key in ["name", "version", "abi", "source", "grants", "tools"] {
        assert!(cluster.get(key).is_some(), "missing {key} in {cluster}");
    }
    assert_eq!(cluster["source"], "builtin");
    assert_eq!(cluster["abi"], "0.2.0");
    let tools = cluster["tools"].as_array().unwrap();
    let summary = tools.iter().find(|t| t["name"] == "summary").unwrap();
    assert_eq!(summary["effect"], "read");
    assert_eq!(summary["input_schema"]["type"], "object");
    assert!(!summary["description"].as_str().unwrap().is_empty());
}

#[test]
fn skills_list_table_and_dir_skills() {
    let cache = tempfile::tempdir().unwrap();
    let skills = tempfile::tempdir().unwrap();
    install_skill(
        skills.path(),
        "hello",
        &test_skill_wasm("hello"),
        &repo_root().join("examples/skills/hello/skill.toml"),
    );
    let out = run_ok(
        guardian(cache.path())
            .args(["skills", "list", "--skills-dir"])
            .arg(skills.path()),
    );
    let mut lines = out.lines();
    assert!(lines.next().unwrap().starts_with("NAME"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("cluster") && l.contains("builtin")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("hello") && l.contains("dir")),
        "{out}"
    );
}

#[test]
fn a_refused_skill_is_a_warning_not_a_failure() {
    let cache = tempfile::tempdir().unwrap();
    let skills = tempfile::tempdir().unwrap();
    install_test_skill(skills.path(), "hostile-net");
    let out = guardian(cache.path())
        .args(["skills", "list", "--skills-dir"])
        .arg(skills.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning:") && stderr.contains("no network access"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("cluster"));
}

#[test]
fn skills_call_runs_a_tool_on_the_example_snapshot() {
    let cache = tempfile::tempdir().unwrap();
    let out = run_ok(guardian(cache.path()).args([
        "skills",
        "call",
        "cluster.summary",
        "--input",
        r#"{"namespace":"staging"}"#,
        "--snapshot",
        "examples/staging",
    ]));
    let v: Value = serde_json::from_str(&out).unwrap();
    let text = v.to_string();
    // The example cluster has crash-looping and image-pull-failing pods.
    assert!(text.contains("CrashLoopBackOff"), "{text}");
    assert!(
        text.contains("ImagePullBackOff") || text.contains("ErrImagePull"),
        "{text}"
    );
}

#[test]
fn skills_call_with_invalid_input_names_the_field() {
    let cache = tempfile::tempdir().unwrap();
    let out = run_err(guardian(cache.path()).args([
        "skills",
        "call",
        "cluster.logs",
        "--input",
        r#"{"namespace":"staging","pod":5}"#,
        "--snapshot",
        "examples/staging",
    ]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid-input") && stderr.contains("`pod`"),
        "{stderr}"
    );
}

#[test]
fn skills_call_without_a_cluster_says_how_to_configure_one() {
    let cache = tempfile::tempdir().unwrap();
    let out = run_err(guardian(cache.path()).args([
        "skills",
        "call",
        "cluster.summary",
        "--input",
        "{}",
    ]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--snapshot"), "{stderr}");
}

#[test]
fn skills_inspect_shows_requested_and_effective_grants() {
    let cache = tempfile::tempdir().unwrap();
    let out = run_ok(guardian(cache.path()).args(["skills", "inspect", "cluster", "-o", "json"]));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["grants"]["requested"]["read"].is_array());
    assert_eq!(v["grants"]["requested"], v["grants"]["effective"]);
    assert_eq!(v["sha256"].as_str().unwrap().len(), 64);
    let err = run_err(guardian(cache.path()).args(["skills", "inspect", "nope"]));
    let stderr = String::from_utf8_lossy(&err.stderr);
    let loaded = stderr
        .split_once("loaded: ")
        .map(|(_, list)| list.lines().next().unwrap_or_default())
        .unwrap_or_else(|| panic!("names what is loaded: {stderr}"));
    assert!(
        loaded.split(", ").any(|s| s.trim() == "cluster"),
        "{stderr}"
    );
}

#[test]
fn operator_config_restricts_grants() {
    let cache = tempfile::tempdir().unwrap();
    let cfg = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        cfg.path(),
        "skills:\n  grants:\n    skills:\n      cluster:\n        read: [\"nodes\"]\n",
    )
    .unwrap();
    let out = run_err(
        guardian(cache.path())
            .env("GUARDIAN_CONFIG", cfg.path())
            .args([
                "skills",
                "call",
                "cluster.list",
                "--input",
                r#"{"resource":"pods","namespace":"staging"}"#,
                "--snapshot",
                "examples/staging",
            ]),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("missing grant: read `pods`"), "{stderr}");
}

#[test]
fn a_skills_stderr_is_forwarded_to_tracing() {
    let cache = tempfile::tempdir().unwrap();
    let skills = tempfile::tempdir().unwrap();
    install_test_skill(skills.path(), "hostile");
    let out = run_err(
        guardian(cache.path())
            .args(["-vv", "skills", "call", "hostile.panic", "--skills-dir"])
            .arg(skills.path()),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The guest's panic message, captured from its stderr, arrives as a
    // tracing event tagged with the stream and the tool.
    let forwarded = stderr
        .lines()
        .find(|l| l.contains("stream=\"stderr\"") && l.contains("panicked"))
        .unwrap_or_else(|| panic!("no forwarded stderr line in:\n{stderr}"));
    assert!(forwarded.contains("hostile.panic"), "{forwarded}");
}

/// Waits for `child` at most `secs` seconds; kills it and fails past that.
fn finish_within(mut child: std::process::Child, secs: u64) -> std::process::Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("did not finish within {secs} s");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn an_endless_tool_input_is_refused_not_read_forever() {
    let cache = tempfile::tempdir().unwrap();
    let child = guardian(cache.path())
        .args(["skills", "call", "cluster.summary", "--input", "@/dev/zero"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = finish_within(child, 60);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/dev/zero") && stderr.contains("larger than 16 MiB"),
        "{stderr}"
    );
}

#[test]
fn skills_call_finds_the_cluster_through_kubeconfig_like_every_command() {
    let Some(k) = guardian_tests::kube::control_plane() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = k.kubeconfig(dir.path());
    let out = run_ok(
        guardian(&dir.path().join("cache"))
            .env("KUBECONFIG", &kubeconfig)
            .args(["skills", "call", "cluster.get", "--input"])
            .arg(r#"{"resource": "namespaces", "name": "default"}"#),
    );
    assert!(out.contains("\"name\": \"default\""), "{out}");
}
