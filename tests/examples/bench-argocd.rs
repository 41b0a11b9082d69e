//! `bench-argocd`: what `guardian argocd apps -A` costs on N Argo CD
//! Applications held by a real kube-apiserver (Argo CD's own CRDs, the
//! Applications in the states of `guardian_tests::argocd::applications`:
//! three in four Synced and Healthy, the rest Degraded, OutOfSync,
//! ComparisonError, Progressing or SyncFailed, over several Argo CD
//! namespaces).
//!
//! Per run: wall time, peak RSS of the child (GNU time's `%M`), and the
//! API requests it made — counted by the API server itself
//! (`apiserver_request_total` at `/metrics`, before and after, all
//! resources, and Applications alone) — plus the size of the JSON it
//! printed. `kubectl get applications -A -o json` is measured the same way
//! as the floor. It asserts nothing about time.

use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use guardian_tests::argocd;
use guardian_tests::kube::control_plane;

const HELP: &str = "\
bench-argocd — `guardian argocd apps -A` on N Applications in a real kube-apiserver

Usage: bench-argocd [--apps N] [--namespaces M] [--runs R] [--guardian PATH]

  --apps N         Applications [default: 500]
  --namespaces M   Argo CD namespaces they are spread over [default: 5]
  --runs R         measured runs, after one warm-up [default: 5]
  --guardian PATH  the binary [default: target/release/guardian]
";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-argocd: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut apps = 500usize;
    let mut namespaces = 5usize;
    let mut runs = 5usize;
    let mut guardian = PathBuf::from(guardian_tests::REPO_ROOT).join("target/release/guardian");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--apps" => {
                apps = value("--apps")?
                    .parse()
                    .map_err(|e| format!("--apps: {e}"))?
            }
            "--namespaces" => {
                namespaces = value("--namespaces")?
                    .parse()
                    .map_err(|e| format!("--namespaces: {e}"))?
            }
            "--runs" => {
                runs = value("--runs")?
                    .parse()
                    .map_err(|e| format!("--runs: {e}"))?
            }
            "--guardian" => guardian = PathBuf::from(value("--guardian")?),
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}\n{HELP}")),
        }
    }
    if !guardian.is_file() {
        return Err(format!(
            "{} not found: cargo build --release -p guardian-cli",
            guardian.display()
        ));
    }
    let k = control_plane().ok_or("no kube-apiserver (run scripts/setup.sh)")?;
    argocd::install_crds(k);
    let names: Vec<String> = (0..namespaces).map(|_| k.namespace("argocd")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let started = Instant::now();
    k.run_with_input(&["create", "-f", "-"], &argocd::applications(apps, &refs));
    println!(
        "{apps} Applications in {namespaces} namespaces created in {:.1}s",
        started.elapsed().as_secs_f64()
    );
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let kubeconfig = k.kubeconfig(dir.path());
    let guardian_cmd = || {
        let mut c = Command::new(&guardian);
        c.arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .args(["argocd", "apps", "-A", "-o", "json"]);
        c
    };
    let kubectl_cmd = || {
        let mut c = Command::new("kubectl");
        c.arg("--kubeconfig").arg(&kubeconfig).args([
            "get",
            "applications.argoproj.io",
            "-A",
            "-o",
            "json",
        ]);
        c
    };
    println!(
        "\n{:<34} {:>9} {:>10} {:>9} {:>12} {:>10}",
        "command", "wall s", "RSS MiB", "requests", "on apps", "output KiB"
    );
    for (label, make) in [
        (
            "guardian argocd apps -A -o json",
            &guardian_cmd as &dyn Fn() -> Command,
        ),
        ("kubectl get applications -A -o json", &kubectl_cmd),
    ] {
        // Warm-up: the first guardian run compiles the skills into the
        // empty cache and reads discovery.
        let first = measure(k, make(), apps)?;
        println!(
            "{:<34} {:>9.3} {:>10.1} {:>9} {:>12} {:>10} (first run)",
            label,
            first.wall,
            first.rss_kib as f64 / 1024.0,
            first.requests,
            first.on_apps,
            first.output / 1024
        );
        let mut rows = Vec::new();
        for _ in 0..runs {
            rows.push(measure(k, make(), apps)?);
        }
        rows.sort_by(|a, b| a.wall.total_cmp(&b.wall));
        let m = &rows[rows.len() / 2];
        println!(
            "{label:<34} {:>9.3} {:>10.1} {:>9} {:>12} {:>10} (median of {runs}; wall min {:.3} max {:.3})",
            m.wall,
            m.rss_kib as f64 / 1024.0,
            m.requests,
            m.on_apps,
            m.output / 1024,
            rows[0].wall,
            rows[rows.len() - 1].wall
        );
    }
    Ok(())
}

struct Run {
    wall: f64,
    rss_kib: u64,
    requests: u64,
    on_apps: u64,
    output: usize,
}

fn measure(
    k: &guardian_tests::kube::ControlPlane,
    cmd: Command,
    apps: usize,
) -> Result<Run, String> {
    // What two reads of the counters count by themselves (the /metrics
    // read, the server's own traffic): taken off the command's figure.
    let idle = {
        let a = requests(k);
        let b = requests(k);
        b.0 - a.0
    };
    let before = requests(k);
    let rss = tempfile::NamedTempFile::new().map_err(|e| e.to_string())?;
    let mut timed = Command::new("/usr/bin/time");
    timed
        .args(["-f", "%M", "-o"])
        .arg(rss.path())
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(Stdio::null());
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            timed.env(k, v);
        }
    }
    let started = Instant::now();
    let out = timed.output().map_err(|e| format!("running: {e}"))?;
    let wall = started.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "{:?} failed: {}",
            cmd.get_program(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let listed: serde_json::Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("not JSON: {e}"))?;
    let n = listed["apps"]
        .as_array()
        .or(listed["items"].as_array())
        .map_or(0, Vec::len);
    if n != apps {
        return Err(format!("listed {n} Applications, not {apps}"));
    }
    let after = requests(k);
    let rss_kib = std::fs::read_to_string(rss.path())
        .ok()
        .and_then(|t| t.trim().lines().last().and_then(|l| l.trim().parse().ok()))
        .unwrap_or(0);
    Ok(Run {
        wall,
        rss_kib,
        requests: (after.0 - before.0).saturating_sub(idle),
        on_apps: after.1 - before.1,
        output: out.stdout.len(),
    })
}

/// (every request, requests on applications) the API server has counted.
fn requests(k: &guardian_tests::kube::ControlPlane) -> (u64, u64) {
    let text = k.run(&["get", "--raw", "/metrics"]);
    let mut all = 0f64;
    let mut apps = 0f64;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("apiserver_request_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let v: f64 = value.trim().parse().unwrap_or(0.0);
        all += v;
        if labels.contains("resource=\"applications\"") {
            apps += v;
        }
    }
    (all as u64, apps as u64)
}
