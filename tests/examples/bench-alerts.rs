//! `bench-alerts`: Alertmanager's webhook under load. Starts `guardian
//! serve` on the example snapshot with a tokens file and an `alertmanager:`
//! config, then sends N alerts (default 500) over a window (default 60 s)
//! to `POST /alertmanager`, many of them repeats of the same fingerprints,
//! one notification per alert as Alertmanager sends them, while a probe
//! asks `/healthz` every 100 ms. Prints what became of the alerts
//! (new, duplicate, deferred…), the investigations stored and diagnosed,
//! and the latencies of the webhook and of `/healthz` — figures, not
//! assertions.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use guardian_tests::alertmanager::post_json_as;
use serde_json::{Value, json};

const HELP: &str = "\
bench-alerts — N alerts in a window to guardian serve's POST /alertmanager

Usage: bench-alerts [options]

Options:
  --guardian PATH   the binary [default: target/debug/guardian]
  --alerts N        alerts sent [default: 500]
  --distinct D      distinct fingerprints among them [default: 60]
  --seconds S       the window they are sent in [default: 60]
  --rate R          alertmanager.rate_limit_per_minute [default: 30]
  --settle S        seconds to wait after the window before counting [default: 5]
";

const TOKEN: &str = "bench-operator-token-0123456789";

fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-alerts: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let root = PathBuf::from(guardian_tests::REPO_ROOT);
    let mut guardian = root.join("target/debug/guardian");
    let (mut alerts, mut distinct, mut seconds, mut rate, mut settle) =
        (500usize, 60usize, 60f64, 30u32, 5u64);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| anyhow::anyhow!("{a} needs a value"))
        };
        match a.as_str() {
            "--guardian" => guardian = PathBuf::from(value()?),
            "--alerts" => alerts = value()?.parse()?,
            "--distinct" => distinct = value()?.parse()?,
            "--seconds" => seconds = value()?.parse()?,
            "--rate" => rate = value()?.parse()?,
            "--settle" => settle = value()?.parse()?,
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            other => anyhow::bail!("unknown option {other}\n{HELP}"),
        }
    }
    anyhow::ensure!(
        guardian.is_file(),
        "{} not found: cargo build -p guardian-cli",
        guardian.display()
    );
    let dir = tempfile::tempdir()?;
    std::fs::write(
        dir.path().join("tokens.yaml"),
        format!("tokens:\n  - {{identity: am, role: operator, token: {TOKEN}}}\n"),
    )?;
    std::fs::write(
        dir.path().join("config.yaml"),
        format!("alertmanager:\n  rate_limit_per_minute: {rate}\n  dedup_window_seconds: 600\n"),
    )?;
    let mut child = Command::new(&guardian)
        .current_dir(&root)
        .env("GUARDIAN_CACHE_DIR", dir.path().join("cache"))
        .args([
            "serve",
            "--snapshot",
            "examples/staging",
            "--http-listen",
            "127.0.0.1:0",
            "--grpc-listen",
            "127.0.0.1:0",
        ])
        .arg("--config")
        .arg(dir.path().join("config.yaml"))
        .arg("--tokens-file")
        .arg(dir.path().join("tokens.yaml"))
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let line = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .next()
        .transpose()?
        .unwrap_or_default();
    let http = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http="))
        .ok_or_else(|| anyhow::anyhow!("guardian serve said {line:?}"))?
        .to_owned();
    let base = format!("http://{http}");

    // The /healthz probe.
    let stop = Arc::new(AtomicBool::new(false));
    let probe = {
        let (stop, base) = (Arc::clone(&stop), base.clone());
        std::thread::spawn(move || {
            let (mut times, mut failed) = (Vec::new(), 0usize);
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                match guardian_tests::prometheus::http(
                    &base,
                    "GET",
                    "/healthz",
                    None,
                    Duration::from_secs(10),
                ) {
                    Ok((200, _)) => times.push(t.elapsed().as_secs_f64() * 1000.0),
                    _ => failed += 1,
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            (times, failed)
        })
    };

    let pods = [
        "checkout-kztvhqzmsz-drzl8",
        "search-0",
        "gateway-b6f62snvtq-gdxds",
    ];
    let started = Instant::now();
    let gap = Duration::from_secs_f64(seconds / alerts as f64);
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut statuses: BTreeMap<u16, usize> = BTreeMap::new();
    let mut latencies = Vec::with_capacity(alerts);
    for i in 0..alerts {
        let n = i % distinct;
        let labels = json!({
            "alertname": format!("BenchAlert{n}"),
            "namespace": "staging",
            "pod": pods[n % pods.len()],
        });
        let body = json!({
            "version": "4", "status": "firing", "receiver": "guardian", "groupKey": format!("bench/{n}"),
            "groupLabels": {}, "commonLabels": labels, "commonAnnotations": {}, "externalURL": "http://am",
            "alerts": [{"status": "firing", "labels": labels, "annotations": {}, "startsAt": "2026-12-07T08:00:00Z",
                        "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "", "fingerprint": format!("{n:016x}")}]
        });
        let t = Instant::now();
        let (status, answer) =
            post_json_as(&base, "/alertmanager", &body.to_string(), Some(TOKEN))?;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        *statuses.entry(status).or_default() += 1;
        if let Ok(v) = serde_json::from_slice::<Value>(&answer) {
            for a in v["alerts"].as_array().into_iter().flatten() {
                *outcomes
                    .entry(a["outcome"].as_str().unwrap_or("?").to_owned())
                    .or_default() += 1;
            }
        }
        let next = started + gap * (i as u32 + 1);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let sent_in = started.elapsed();
    std::thread::sleep(Duration::from_secs(settle));
    stop.store(true, Ordering::Relaxed);
    let (mut health, health_failed) = probe.join().unwrap();

    let out = Command::new(&guardian)
        .current_dir(&root)
        .env("GUARDIAN_CONFIG", "/dev/null")
        .args(["investigations", "list", "-o", "json", "--state-dir"])
        .arg(dir.path().join("state"))
        .output()?;
    let list: Vec<Value> = serde_json::from_slice(&out.stdout)?;
    let diagnosed = list
        .iter()
        .filter(|i| i["timing_ms"]["total"].is_u64())
        .count();
    let mut diag_ms: Vec<f64> = list
        .iter()
        .filter_map(|i| i["timing_ms"]["diagnose"].as_f64())
        .collect();
    let _ = child.kill();
    let _ = child.wait();

    println!(
        "alerts sent:            {alerts} in {:.1} s ({distinct} distinct fingerprints)",
        sent_in.as_secs_f64()
    );
    println!("HTTP statuses:          {statuses:?}");
    println!("outcomes:               {outcomes:?}");
    println!(
        "investigations stored:  {} (one per fingerprint expected: {distinct})",
        list.len()
    );
    println!(
        "diagnosed after {:.0} s:  {diagnosed} (rate limit {rate}/min; the rest deferred, queued)",
        sent_in.as_secs_f64() + settle as f64
    );
    println!(
        "diagnose ms:            p50 {:.0}  p99 {:.0}",
        pct(&mut diag_ms.clone(), 0.5),
        pct(&mut diag_ms, 0.99)
    );
    println!(
        "webhook latency ms:     p50 {:.1}  p99 {:.1}  max {:.1}",
        pct(&mut latencies.clone(), 0.5),
        pct(&mut latencies.clone(), 0.99),
        pct(&mut latencies, 1.0)
    );
    println!(
        "/healthz during it:     {} answered, {health_failed} failed; ms p50 {:.1}  p99 {:.1}  max {:.1}",
        health.len(),
        pct(&mut health.clone(), 0.5),
        pct(&mut health.clone(), 0.99),
        pct(&mut health, 1.0)
    );
    Ok(())
}
