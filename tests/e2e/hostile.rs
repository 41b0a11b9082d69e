//! DESIGN.md §4 invariant 3: a skill that loops, allocates without bound,
//! recurses, traps, floods its output or steps outside its grants is stopped
//! with a typed error — and the next call to a healthy skill on the same host
//! succeeds.

use guardian_runtime::{CallError, Runtime};
use serde_json::json;

use crate::support::*;

async fn hostile_runtime() -> (Runtime, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    install_test_skill(dir.path(), "hostile");
    let runtime = runtime_with(test_limits(), Some(snapshot_broker(&example_snapshot()))).await;
    let errors = runtime.load_dir(dir.path()).await.unwrap();
    assert!(errors.is_empty(), "{errors:?}");
    (runtime, dir)
}

/// After every hostile call, a healthy skill on the same host still answers.
async fn healthy_after(runtime: &Runtime) {
    let out = runtime
        .call("test", "hostile.ok", "{}")
        .await
        .expect("healthy call after a hostile one");
    assert_eq!(out, json!({"ok": true}));
    let summary = runtime
        .call("test", "cluster.summary", r#"{"namespace":"staging"}"#)
        .await
        .expect("built-in skill still serves");
    assert!(summary.is_object());
}

#[tokio::test]
async fn infinite_loop_is_interrupted() {
    let (rt, _d) = hostile_runtime().await;
    let err = rt.call("test", "hostile.spin", "{}").await.unwrap_err();
    assert!(matches!(err, CallError::CpuTimeExceeded { .. }), "{err:?}");
    assert!(err.to_string().contains("CPU budget"), "{err}");
    healthy_after(&rt).await;
}

#[tokio::test]
async fn unbounded_memory_growth_is_stopped() {
    let (rt, _d) = hostile_runtime().await;
    let err = rt.call("test", "hostile.grow", "{}").await.unwrap_err();
    assert!(
        matches!(err, CallError::MemoryExceeded { limit_mib: 64, .. }),
        "{err:?}"
    );
    healthy_after(&rt).await;
}

#[tokio::test]
async fn deep_recursion_is_stopped() {
    let (rt, _d) = hostile_runtime().await;
    let err = rt.call("test", "hostile.recurse", "{}").await.unwrap_err();
    assert!(matches!(err, CallError::StackExhausted { .. }), "{err:?}");
    healthy_after(&rt).await;
}

#[tokio::test]
async fn panic_is_reported_with_its_message() {
    let (rt, _d) = hostile_runtime().await;
    let err = rt.call("test", "hostile.panic", "{}").await.unwrap_err();
    match &err {
        CallError::Trap { message, .. } => {
            assert!(message.contains("panicked"), "{message}");
            // The guest's own panic message is quoted, not the backtrace hint.
            assert!(message.contains("panicking on purpose"), "{message}");
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    healthy_after(&rt).await;
}

#[tokio::test]
async fn output_over_the_bound_is_refused() {
    let (rt, _d) = hostile_runtime().await;
    let err = rt
        .call("test", "hostile.huge-output", "{}")
        .await
        .unwrap_err();
    match err {
        CallError::OutputTooLarge { bytes, limit, .. } => {
            assert_eq!(limit, 1 << 20);
            assert!(bytes > limit);
        }
        other => panic!("expected OutputTooLarge, got {other:?}"),
    }
    healthy_after(&rt).await;
}

#[tokio::test]
async fn garbage_output_is_refused() {
    let (rt, _d) = hostile_runtime().await;
    let err = rt.call("test", "hostile.garbage", "{}").await.unwrap_err();
    assert!(matches!(err, CallError::InvalidOutput { .. }), "{err:?}");
    healthy_after(&rt).await;
}

#[tokio::test]
async fn call_outside_grants_is_denied_naming_the_grant() {
    let (rt, _d) = hostile_runtime().await;
    let err = rt
        .call("test", "hostile.read-secret", "{}")
        .await
        .unwrap_err();
    match &err {
        CallError::HostError { kind, message, .. } => {
            assert_eq!(kind, "denied");
            assert!(
                message.contains("missing grant: read `secrets`"),
                "{message}"
            );
        }
        other => panic!("expected a denied host error, got {other:?}"),
    }
    // A read inside its grants works.
    let out = rt.call("test", "hostile.list-pods", "{}").await.unwrap();
    assert!(out["pods"].as_u64().unwrap() > 0, "{out}");
    healthy_after(&rt).await;
}

#[tokio::test]
async fn stdout_flood_is_bounded() {
    let (rt, _d) = hostile_runtime().await;
    // 10 MiB to stdout and stderr: the buffers are bounded (64 KiB), the
    // writes past the bound fail inside the guest, the host is unaffected.
    let result = rt.call("test", "hostile.stdout-spam", "{}").await;
    assert!(
        matches!(result, Ok(_) | Err(CallError::Trap { .. })),
        "{result:?}"
    );
    healthy_after(&rt).await;
}

#[tokio::test]
async fn many_hostile_calls_in_a_row_leave_the_host_serving() {
    let (rt, _d) = hostile_runtime().await;
    for tool in ["spin", "grow", "recurse", "panic", "huge-output", "garbage"] {
        for _ in 0..3 {
            assert!(
                rt.call("test", &format!("hostile.{tool}"), "{}")
                    .await
                    .is_err()
            );
        }
    }
    healthy_after(&rt).await;
}

#[tokio::test]
async fn concurrent_hostile_and_healthy_calls() {
    let (rt, _d) = hostile_runtime().await;
    let rt = std::sync::Arc::new(rt);
    let spin = {
        let rt = rt.clone();
        tokio::spawn(async move { rt.call("test", "hostile.spin", "{}").await })
    };
    // While one call spins, healthy ones keep completing.
    for _ in 0..20 {
        rt.call("test", "hostile.ok", "{}").await.unwrap();
    }
    assert!(matches!(
        spin.await.unwrap(),
        Err(CallError::CpuTimeExceeded { .. })
    ));
}
