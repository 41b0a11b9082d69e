//! `bench-rightsize`: what right-sizing costs against a real Prometheus
//! holding N workloads × 14 days of 5-minute cAdvisor/kube-state-metrics
//! history (`guardian_tests::usage_history::History::bench`).
//!
//! For each size it generates the history a day at a time as OpenMetrics
//! files of 2 hours, loads each day with `promtool tsdb
//! create-blocks-from openmetrics` and deletes its text (so the disk holds
//! one day of text at most), writes the same workloads as a snapshot folder,
//! starts Prometheus on the TSDB, then runs the measured command once to
//! warm up and `--runs` times. Per run: wall time, peak RSS of the child
//! (GNU time's `%M`: `ru_maxrss` from wait4), the Prometheus queries it made
//! and the bytes Prometheus answered (from Prometheus' own
//! `prometheus_http_requests_total` / `prometheus_http_response_size_bytes`
//! at `/metrics`, before and after), and the CPU time Prometheus spent.
//! Generation, promtool and startup are timed separately. It asserts
//! nothing about time.
//!
//! The measured command is `--command` (`{snapshot}` and `{url}` are
//! replaced), e.g. `target/release/guardian rightsize -A --snapshot
//! {snapshot} --prometheus {url} -o json`; without one it runs itself in
//! query mode: the contract's per-namespace queries (CPU percentile, memory
//! peak, points, OOM kills: four per namespace) with a plain HTTP client —
//! the floor any right-sizing run pays.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use guardian_tests::prometheus::{self, BLOCK, Options as PromOptions, Prometheus};
use guardian_tests::usage_history::{self, DAY, History};

const HELP: &str = "\
bench-rightsize — right-sizing against a real Prometheus with N workloads × 14 days

Usage: bench-rightsize [options]

Options:
  --sizes A,B,…        workload counts [default: 100,1000]
  --per-namespace N    workloads per namespace [default: 20]
  --days D             days of history [default: 14]
  --runs N             measured runs per size, after one warm-up [default: 3]
  --work DIR           where the data goes [default: target/bench-rightsize]
  --keep               keep each size's TSDB and snapshot (default: deleted)
  --command ARGS       the measured command, space-separated; {snapshot} and
                       {url} are replaced [default: this program's query mode,
                       the contract's per-namespace queries]
  -h, --help           this help

Query mode (what the default command runs):
  bench-rightsize --query URL WINDOW NS…
";

struct Options {
    sizes: Vec<usize>,
    per_namespace: usize,
    days: i64,
    runs: usize,
    work: PathBuf,
    keep: bool,
    command: Option<Vec<String>>,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--query") {
        return match query_mode(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("bench-rightsize --query: {e}");
                ExitCode::from(2)
            }
        };
    }
    match parse(args).and_then(|o| o.map(|o| run(&o)).transpose()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-rightsize: {e}");
            ExitCode::from(2)
        }
    }
}

fn parse(args: Vec<String>) -> Result<Option<Options>, String> {
    let mut o = Options {
        sizes: vec![100, 1000],
        per_namespace: 20,
        days: 14,
        runs: 3,
        work: PathBuf::from(guardian_tests::REPO_ROOT).join("target/bench-rightsize"),
        keep: false,
        command: None,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value (see --help)"))
        };
        let num = |v: String| {
            v.replace('_', "")
                .parse::<usize>()
                .map_err(|_| format!("not a whole number: {v}"))
        };
        match flag.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(None);
            }
            "--sizes" => {
                o.sizes = value()?
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| num(s.trim().to_string()))
                    .collect::<Result<_, _>>()?;
            }
            "--per-namespace" => o.per_namespace = num(value()?)?.max(1),
            "--days" => o.days = num(value()?)?.max(1) as i64,
            "--runs" => o.runs = num(value()?)?.max(1),
            "--work" => o.work = PathBuf::from(value()?),
            "--keep" => o.keep = true,
            "--command" => {
                o.command = Some(value()?.split_whitespace().map(str::to_string).collect());
            }
            other => return Err(format!("unknown argument {other} (see --help)")),
        }
    }
    Ok(Some(o))
}

fn mib(bytes: u64) -> String {
    if bytes < 1 << 20 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / 1_048_576.0)
    }
}

fn du(path: &Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if meta.is_dir() {
        std::fs::read_dir(path)
            .map(|d| d.flatten().map(|e| du(&e.path())).sum())
            .unwrap_or(0)
    } else {
        meta.len()
    }
}

fn run(o: &Options) -> Result<(), String> {
    if !Prometheus::available() {
        return Err("no prometheus/promtool (run scripts/setup.sh)".into());
    }
    let gnu_time = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o", "/dev/null", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !gnu_time {
        return Err("peak RSS is read with GNU time: install `time` (/usr/bin/time)".into());
    }
    println!(
        "history: {} days of 5-minute samples (+1 h), {} workloads per namespace, shapes cycling \
         through {:?}\ncommand: {}\nruns:    {} per size after 1 warm-up\n",
        o.days,
        o.per_namespace,
        usage_history::Shape::ALL.map(|s| s.name()),
        o.command
            .as_ref()
            .map_or("query mode (4 per-namespace queries)".to_owned(), |c| c
                .join(" ")),
        o.runs
    );
    for &n in &o.sizes {
        size(o, n)?;
    }
    Ok(())
}

fn size(o: &Options, n: usize) -> Result<(), String> {
    let dir = o.work.join(format!("workloads-{n}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut h = History::bench(n, o.per_namespace, usage_history::now());
    h.span = o.days * DAY + 3600;
    let namespaces = h.namespaces();
    println!(
        "== {n} workloads, {} namespaces, {} pods",
        namespaces.len(),
        h.workloads
            .iter()
            .map(|w| w.replicas as usize)
            .sum::<usize>()
    );

    // Generate a day at a time, load it, delete its text.
    let bin = prometheus::bin_dir().ok_or("no promtool")?;
    let tsdb = dir.join("tsdb");
    let text = dir.join("openmetrics");
    let (mut gen_time, mut promtool_time) = (Duration::ZERO, Duration::ZERO);
    let (mut samples, mut text_bytes, mut files, mut series_last_day) = (0u64, 0u64, 0usize, 0u64);
    let start = h.end - h.span;
    let mut from = start - start.rem_euclid(DAY);
    while from <= h.end {
        let t = Instant::now();
        let stats = h
            .write_openmetrics_chunks_between(&text, BLOCK, from, from + DAY)
            .map_err(|e| format!("writing OpenMetrics: {e}"))?;
        gen_time += t.elapsed();
        samples += stats.samples;
        text_bytes += stats.bytes;
        files += stats.files.len();
        series_last_day = stats.series;
        let t = Instant::now();
        for f in &stats.files {
            let out = Command::new(bin.join("promtool"))
                .args(["tsdb", "create-blocks-from", "openmetrics", "--quiet"])
                .arg(f)
                .arg(&tsdb)
                .output()
                .map_err(|e| format!("promtool: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "promtool on {}: {}",
                    f.display(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            let _ = std::fs::remove_file(f);
        }
        promtool_time += t.elapsed();
        from += DAY;
    }
    let _ = std::fs::remove_dir_all(&text);
    let snapshot = dir.join("snapshot");
    let t = Instant::now();
    h.write_snapshot(&snapshot)
        .map_err(|e| format!("snapshot: {e}"))?;
    let snapshot_time = t.elapsed();
    println!(
        "   data:     {samples} samples, {series_last_day} series in the last day, {} of OpenMetrics \
         text in {files} files; generated in {:.1} s",
        mib(text_bytes),
        gen_time.as_secs_f64()
    );
    println!(
        "   promtool: {:.1} s for {files} files -> TSDB {}",
        promtool_time.as_secs_f64(),
        mib(du(&tsdb))
    );
    println!(
        "   snapshot: {} objects' folder {} in {:.2} s",
        h.objects().len(),
        mib(du(&snapshot)),
        snapshot_time.as_secs_f64()
    );

    let p = Prometheus::start_on_tsdb(
        &dir,
        &PromOptions {
            keep: true,
            ..PromOptions::default()
        },
    )
    .map_err(|e| format!("{e:#}"))?;
    println!(
        "   prometheus: ready in {:.1} s at {}",
        p.startup_time.as_secs_f64(),
        p.url()
    );
    let window = format!("{}d", o.days);
    let command: Vec<String> = match &o.command {
        Some(c) => c
            .iter()
            .map(|a| {
                a.replace("{snapshot}", &snapshot.display().to_string())
                    .replace("{url}", p.url())
            })
            .collect(),
        None => {
            let me = std::env::current_exe().map_err(|e| e.to_string())?;
            let mut c = vec![
                me.display().to_string(),
                "--query".into(),
                p.url().into(),
                window.clone(),
            ];
            c.extend(namespaces.iter().cloned());
            c
        }
    };
    println!(
        "   {:>4} {:>9} {:>11} {:>8} {:>12} {:>13}",
        "run", "wall s", "peak RSS", "queries", "bytes read", "prom CPU s"
    );
    for run in 0..=o.runs {
        let before = counters(&p)?;
        let cpu_before = proc_cpu(p.pid());
        let (wall, rss_kib, code) = measure(&command)?;
        let after = counters(&p)?;
        let cpu = proc_cpu(p.pid()) - cpu_before;
        println!(
            "   {:>4} {:>9.3} {:>11} {:>8} {:>12} {:>13.2}{}",
            if run == 0 {
                "warm".to_owned()
            } else {
                run.to_string()
            },
            wall.as_secs_f64(),
            rss_kib.map_or("?".into(), |k| mib(k * 1024)),
            after.0 - before.0,
            mib(after.1 - before.1),
            cpu,
            if code == 0 {
                String::new()
            } else {
                format!("  (exit {code})")
            }
        );
    }
    drop(p);
    if o.keep {
        println!("   kept: {}", dir.display());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
    }
    println!();
    Ok(())
}

/// Queries answered by the API (`/api/v1/*` handlers) and the bytes of
/// their answers, from Prometheus' own metrics.
fn counters(p: &Prometheus) -> Result<(u64, u64), String> {
    let text = p.self_metrics().map_err(|e| format!("{e:#}"))?;
    let (mut requests, mut bytes) = (0.0, 0.0);
    for line in text.lines() {
        let api = line.contains("handler=\"/api/v1/query");
        if !api {
            continue;
        }
        let value = || -> f64 {
            line.rsplit(' ')
                .next()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0.0)
        };
        if line.starts_with("prometheus_http_requests_total{") {
            requests += value();
        } else if line.starts_with("prometheus_http_response_size_bytes_sum{") {
            bytes += value();
        }
    }
    Ok((requests as u64, bytes as u64))
}

/// CPU seconds (user + system) process `pid` has used.
fn proc_cpu(pid: Option<u32>) -> f64 {
    let Some(pid) = pid else { return 0.0 };
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command's closing parenthesis: utime is the 14th
    // field of the line, stime the 15th.
    let rest = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Runs `command` under GNU time: wall time, peak RSS (KiB), exit code.
fn measure(command: &[String]) -> Result<(Duration, Option<u64>, i32), String> {
    let rss = std::env::temp_dir().join(format!("bench-rightsize-rss-{}", std::process::id()));
    let started = Instant::now();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&rss)
        .args(command)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| format!("{}: {e}", command[0]))?;
    let wall = started.elapsed();
    let text = std::fs::read_to_string(&rss).unwrap_or_default();
    let _ = std::fs::remove_file(&rss);
    let code = out.status.code().unwrap_or(-1);
    if code != 0 && code != 3 {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(8).collect();
        eprintln!(
            "   {} failed ({}):\n{}",
            command.join(" "),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok((
        wall,
        text.lines().last().and_then(|l| l.trim().parse().ok()),
        code,
    ))
}

/// Query mode: the contract's per-namespace queries, one namespace after
/// another; prints how many answers and bytes it read.
fn query_mode(args: &[String]) -> Result<(), String> {
    let [url, window, namespaces @ ..] = args else {
        return Err("usage: --query URL WINDOW NS…".into());
    };
    let at = usage_history::now();
    let (mut answers, mut series) = (0usize, 0usize);
    for ns in namespaces {
        let mut qs: Vec<String> = usage_history::queries(ns, window, "5m", 0.95)
            .into_iter()
            .map(|(_, q)| q)
            .collect();
        qs.push(format!(
            "max by (namespace, pod, container) (max_over_time(kube_pod_container_status_last_terminated_reason{{namespace=\"{ns}\",reason=\"OOMKilled\"}}[{window}:5m]))"
        ));
        for q in qs {
            let data = prometheus::api(
                url,
                "/api/v1/query",
                &[("query", q), ("time", at.to_string())],
            )
            .map_err(|e| format!("{e:#}"))?;
            answers += 1;
            series += data["result"].as_array().map_or(0, Vec::len);
        }
    }
    println!("{answers} queries, {series} series");
    Ok(())
}
