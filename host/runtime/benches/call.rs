//! Cost of one tool call and of one host-import round trip.
//!
//! `cargo bench -p guardian-runtime --bench call` prints p50/p90/p99 of:
//! - `hostile.ok`: a full `Runtime::call` of a tool that makes no host call —
//!   input parse and schema check, a fresh `Store`, instantiation from the
//!   skill's `InstancePre`, the call, output parse;
//! - the same tool reached with `roundtrip {n}`, which makes `n` `log.log`
//!   host calls, giving the cost of one import round trip as the slope.

use std::path::Path;
use std::time::{Duration, Instant};

use guardian_runtime::{Limits, Runtime, RuntimeConfig};

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run());
}

async fn run() {
    let runtime = Runtime::new(
        RuntimeConfig {
            limits: Limits::default(),
            cache_dir: None,
            operator_grants: Default::default(),
        },
        None,
    )
    .unwrap();
    println!("allocator: {:?}", runtime.allocator());
    let dir = tempfile::tempdir().unwrap();
    install(dir.path());
    let errors = runtime.load_dir(dir.path()).await.unwrap();
    assert!(errors.is_empty(), "{errors:?}");

    let ok = measure(&runtime, "hostile.ok", "{}", 20_000).await;
    report("tool call, fresh instance, no host calls", &ok);

    let n = 1000;
    let zero = measure(&runtime, "hostile.roundtrip", r#"{"n":0}"#, 5_000).await;
    let many = measure(
        &runtime,
        "hostile.roundtrip",
        &format!(r#"{{"n":{n}}}"#),
        2_000,
    )
    .await;
    report("roundtrip n=0", &zero);
    report(&format!("roundtrip n={n}"), &many);
    let per = (p(&many, 50).as_nanos() as f64 - p(&zero, 50).as_nanos() as f64) / n as f64;
    println!("host import round trip (log.log): {per:.0} ns per call (p50 slope)");
}

async fn measure(runtime: &Runtime, tool: &str, input: &str, iters: usize) -> Vec<Duration> {
    for _ in 0..200 {
        runtime.call("bench", tool, input).await.unwrap();
    }
    let mut samples = Vec::with_capacity(iters);
    for _ in 0..iters {
        let t = Instant::now();
        runtime.call("bench", tool, input).await.unwrap();
        samples.push(t.elapsed());
    }
    samples.sort();
    samples
}

fn p(sorted: &[Duration], pct: usize) -> Duration {
    sorted[(sorted.len() * pct / 100).min(sorted.len() - 1)]
}

fn report(what: &str, s: &[Duration]) {
    println!(
        "{what}: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs ({} calls)",
        p(s, 50).as_nanos() as f64 / 1e3,
        p(s, 90).as_nanos() as f64 / 1e3,
        p(s, 99).as_nanos() as f64 / 1e3,
        s.len()
    );
}

fn install(dir: &Path) {
    use sha2::{Digest, Sha256};
    let wasm = std::fs::read(guardian_tests::skill_wasm("hostile")).unwrap();
    let manifest = std::fs::read_to_string(guardian_tests::skill_manifest("hostile")).unwrap();
    let sha = hex::encode(Sha256::digest(&wasm));
    let manifest: String = manifest
        .lines()
        .filter(|l| !l.starts_with("sha256"))
        .map(|l| format!("{l}\n"))
        .collect::<String>()
        .replacen("\n[", &format!("\nsha256 = \"{sha}\"\n["), 1);
    let folder = dir.join("hostile");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("skill.wasm"), wasm).unwrap();
    std::fs::write(folder.join("skill.toml"), manifest).unwrap();
}
