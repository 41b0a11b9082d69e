//! Loading skills: manifests, hashes, ABI versions, the sandbox's import
//! rules, the compile cache, grants and input validation.

use std::fs;

use guardian_runtime::{CacheOutcome, CallError, Grants, OperatorGrants, Runtime, RuntimeConfig};
use serde_json::json;

use crate::support::*;

#[tokio::test]
async fn a_skill_built_against_frozen_abi_0_1_loads_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    install_test_skill(dir.path(), "legacy-v0-1");
    let rt = runtime_with(test_limits(), Some(snapshot_broker(&example_snapshot()))).await;
    assert!(rt.load_dir(dir.path()).await.unwrap().is_empty());
    let skill = rt.skill("legacy-v0-1").expect("loaded");
    assert_eq!(skill.manifest.abi.to_string(), "0.1.0");
    // Its host calls (kube.list, log.log) go through the 0.1 adapter.
    let out = rt.call("test", "legacy-v0-1.ping", "{}").await.unwrap();
    assert_eq!(out["abi"], "0.1.0");
    assert!(out["pods"].as_u64().unwrap() > 0, "{out}");
    // And a current-ABI skill works beside it on the same host.
    let builtin = rt.skill("cluster").unwrap();
    assert_eq!(builtin.manifest.abi.to_string(), "0.2.0");
}

#[tokio::test]
async fn the_example_third_party_skill_loads_from_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = repo_root();
    install_skill(
        dir.path(),
        "hello",
        &test_skill_wasm("hello"),
        &root.join("examples/skills/hello/skill.toml"),
    );
    let rt = runtime_with(test_limits(), Some(snapshot_broker(&example_snapshot()))).await;
    assert!(rt.load_dir(dir.path()).await.unwrap().is_empty());
    let info = rt.skill("hello").unwrap().info();
    assert_eq!(info.source, "dir");
    let out = rt
        .call("test", "hello.pods-per-node", r#"{"namespace":"staging"}"#)
        .await
        .unwrap();
    assert!(out.is_object() || out.is_array(), "{out}");
}

#[tokio::test]
async fn bad_skills_are_refused_with_clear_messages_and_the_rest_load() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let root = repo_root();
    let hello_manifest = root.join("examples/skills/hello/skill.toml");
    let hello = test_skill_wasm("hello");
    install_skill(d, "hello", &hello, &hello_manifest);

    // sha256 mismatch: the manifest pins other bytes.
    let bad_sha = install_skill(d, "bad-sha", &hello, &hello_manifest);
    let text = fs::read_to_string(bad_sha.join("skill.toml")).unwrap();
    fs::write(bad_sha.join("skill.toml"), with_sha(&text, &"0".repeat(64))).unwrap();

    // Unknown ABI major.
    let future = install_skill(d, "future-abi", &hello, &hello_manifest);
    let text = fs::read_to_string(future.join("skill.toml")).unwrap();
    fs::write(
        future.join("skill.toml"),
        text.replace("abi = \"0.2.0\"", "abi = \"1.0.0\""),
    )
    .unwrap();

    // Malformed manifest.
    let broken = install_skill(d, "broken-toml", &hello, &hello_manifest);
    fs::write(broken.join("skill.toml"), "name = \"x\"\nversion = [\n").unwrap();

    // No wasm at all.
    fs::create_dir_all(d.join("no-wasm")).unwrap();
    fs::write(d.join("no-wasm/skill.toml"), "name = \"no-wasm\"").unwrap();

    // A core module, not a component.
    let core = d.join("core-module");
    fs::create_dir_all(&core).unwrap();
    let core_wasm = b"\0asm\x01\0\0\0".to_vec();
    fs::write(core.join("skill.wasm"), &core_wasm).unwrap();
    fs::write(
        core.join("skill.toml"),
        with_sha(
            "name = \"core-module\"\nversion = \"0.1.0\"\nabi = \"0.2.0\"\n",
            &sha256_hex(&core_wasm),
        ),
    )
    .unwrap();

    // Components that import sockets or the filesystem.
    install_test_skill(d, "hostile-net");
    install_test_skill(d, "hostile-fs");

    let rt = runtime_with(test_limits(), None).await;
    let errors = rt.load_dir(d).await.unwrap();
    let messages: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
    let find = |needle: &str| {
        messages
            .iter()
            .find(|m| m.contains(needle))
            .unwrap_or_else(|| panic!("no error mentioning {needle:?} in {messages:#?}"))
            .clone()
    };
    assert_eq!(errors.len(), 7, "{messages:#?}");
    assert!(find("bad-sha").contains("sha256 mismatch"));
    assert!(find("future-abi").contains("supports guardian:skill 0.1.0, 0.2.0"));
    assert!(find("broken-toml").contains("skill.toml"));
    assert!(find("no-wasm").contains("cannot read skill.wasm"));
    assert!(find("core-module").contains("not a valid WebAssembly component"));
    let net = find("hostile-net");
    assert!(
        net.contains("wasi:sockets/") && net.contains("no network access"),
        "{net}"
    );
    let fs_err = find("hostile-fs");
    assert!(
        fs_err.contains("wasi:filesystem/") && fs_err.contains("no filesystem access"),
        "{fs_err}"
    );
    // The good one loaded, next to the built-ins.
    let names: Vec<String> = rt
        .skills()
        .iter()
        .map(|s| s.manifest.name.clone())
        .collect();
    assert!(names.contains(&"hello".to_owned()), "{names:?}");
    assert!(names.contains(&"cluster".to_owned()), "{names:?}");
}

#[tokio::test]
async fn a_skill_name_cannot_shadow_a_builtin() {
    let dir = tempfile::tempdir().unwrap();
    let root = repo_root();
    let folder = install_skill(
        dir.path(),
        "impostor",
        &test_skill_wasm("hello"),
        &root.join("examples/skills/hello/skill.toml"),
    );
    let text = fs::read_to_string(folder.join("skill.toml")).unwrap();
    fs::write(
        folder.join("skill.toml"),
        text.replace("name = \"hello\"", "name = \"cluster\""),
    )
    .unwrap();
    let rt = runtime_with(test_limits(), None).await;
    let errors = rt.load_dir(dir.path()).await.unwrap();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].to_string().contains("already loaded"),
        "{}",
        errors[0]
    );
    assert_eq!(rt.skill("cluster").unwrap().info().source, "builtin");
}

#[tokio::test]
async fn compiled_components_are_cached_and_a_corrupt_entry_is_recompiled() {
    let cache = tempfile::tempdir().unwrap();
    let make = || async {
        let rt = Runtime::new(
            RuntimeConfig {
                limits: test_limits(),
                cache_dir: Some(cache.path().to_path_buf()),
                operator_grants: Default::default(),
            },
            Some(snapshot_broker(&example_snapshot())),
        )
        .unwrap();
        for b in guardian_builtin_skills::all() {
            rt.load_builtin(b.manifest, b.wasm).await.unwrap();
        }
        rt
    };
    let first = make().await;
    assert_eq!(first.skill("cluster").unwrap().cache, CacheOutcome::Miss);
    let second = make().await;
    assert_eq!(second.skill("cluster").unwrap().cache, CacheOutcome::Hit);
    second
        .call("test", "cluster.summary", r#"{"namespace":"staging"}"#)
        .await
        .unwrap();

    // The cache directory is private to this user.
    use std::os::unix::fs::PermissionsExt;
    let entry_dir = second.cache_dir().unwrap().to_path_buf();
    let mode = fs::metadata(&entry_dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "cache dir mode {mode:o}");

    // Flip bytes in every compiled entry: they fail their digest and are
    // recompiled instead of being mapped as code.
    for e in fs::read_dir(&entry_dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "cwasm") {
            let mut bytes = fs::read(&p).unwrap();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0xff;
            fs::write(&p, bytes).unwrap();
        }
    }
    let third = make().await;
    assert_eq!(third.skill("cluster").unwrap().cache, CacheOutcome::Miss);
    third
        .call("test", "cluster.summary", r#"{"namespace":"staging"}"#)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_cache_inside_the_skills_directory_is_refused() {
    let skills = tempfile::tempdir().unwrap();
    let rt = Runtime::new(
        RuntimeConfig {
            limits: test_limits(),
            cache_dir: Some(skills.path().join("cache")),
            operator_grants: Default::default(),
        },
        None,
    )
    .unwrap();
    let err = rt.load_dir(skills.path()).await.unwrap_err();
    assert!(
        err.to_string().contains("inside the skills directory"),
        "{err}"
    );
}

#[tokio::test]
async fn effective_grants_are_the_intersection_with_the_operators() {
    let dir = tempfile::tempdir().unwrap();
    install_test_skill(dir.path(), "hostile");
    let mut operator = OperatorGrants::default();
    operator.skills.insert(
        "hostile".into(),
        Grants {
            read: ["nodes".to_owned()].into(),
            ..Grants::default()
        },
    );
    let rt = Runtime::new(
        RuntimeConfig {
            limits: test_limits(),
            cache_dir: None,
            operator_grants: operator,
        },
        Some(snapshot_broker(&example_snapshot())),
    )
    .unwrap();
    assert!(rt.load_dir(dir.path()).await.unwrap().is_empty());
    let skill = rt.skill("hostile").unwrap();
    // Requested pods, operator allowed nodes: nothing in common.
    assert!(skill.grants.read.is_empty(), "{:?}", skill.grants);
    let err = rt
        .call("test", "hostile.list-pods", "{}")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("missing grant: read `pods`"),
        "{err}"
    );
}

#[tokio::test]
async fn invalid_input_is_refused_before_the_skill_runs_naming_the_field() {
    let rt = runtime_with(test_limits(), Some(snapshot_broker(&example_snapshot()))).await;
    let err = rt
        .call("test", "cluster.get", r#"{"resource": "pods", "name": 7}"#)
        .await
        .unwrap_err();
    match &err {
        CallError::InvalidInput { message, .. } => assert!(message.contains("`name`"), "{message}"),
        other => panic!("expected invalid input, got {other:?}"),
    }
    let err = rt
        .call("test", "cluster.get", r#"{"resource": "pods"}"#)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("name"), "{err}");
    let err = rt
        .call("test", "cluster.get", "not json")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not JSON"), "{err}");
    let err = rt.call("test", "cluster.nope", "{}").await.unwrap_err();
    assert!(matches!(err, CallError::UnknownTool { .. }), "{err:?}");
    let err = rt.call("test", "nope.summary", "{}").await.unwrap_err();
    assert!(matches!(err, CallError::UnknownSkill { .. }), "{err:?}");
    // A valid call still goes through.
    let ok = rt
        .call(
            "test",
            "cluster.list",
            &json!({"resource": "pods", "namespace": "staging"}).to_string(),
        )
        .await
        .unwrap();
    assert!(ok.is_object() || ok.is_array());
}

#[tokio::test]
async fn a_cache_others_can_write_is_refused_and_its_parent_left_alone() {
    use std::os::unix::fs::PermissionsExt;
    let shared = tempfile::tempdir().unwrap();
    fs::set_permissions(shared.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let err = Runtime::new(
        RuntimeConfig {
            limits: test_limits(),
            cache_dir: Some(shared.path().to_path_buf()),
            operator_grants: Default::default(),
        },
        None,
    )
    .err()
    .expect("world-writable cache parent refused");
    assert!(err.to_string().contains("writable by other users"), "{err}");
    // The operator's directory is never chmod-ed.
    let mode = fs::metadata(shared.path()).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o777);
    // With the sticky bit (like /tmp) it is accepted; our subdirectory is 0700.
    fs::set_permissions(shared.path(), fs::Permissions::from_mode(0o1777)).unwrap();
    let rt = Runtime::new(
        RuntimeConfig {
            limits: test_limits(),
            cache_dir: Some(shared.path().to_path_buf()),
            operator_grants: Default::default(),
        },
        None,
    )
    .unwrap();
    let sub = fs::metadata(rt.cache_dir().unwrap())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(sub & 0o777, 0o700);
}
