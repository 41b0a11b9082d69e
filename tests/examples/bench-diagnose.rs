//! `bench-diagnose`: wall time and peak RSS of `guardian diagnose` on large
//! generated snapshots (1k / 5k / 20k pods by default).
//!
//! For each size it generates the snapshot once (`guardian_tests::generate`),
//! runs the guardian binary once to warm the page cache, then `--runs` times,
//! and prints snapshot bytes, wall time p50/min/max, peak RSS of the child,
//! the findings count from its JSON output, and whether the 5k-pod targets
//! hold (≤ 1 s wall, ≤ 200 MiB peak RSS).
//!
//! Peak RSS is the child's `ru_maxrss`, read through GNU `time -f %M` when
//! `/usr/bin/time` is GNU time (the workspace forbids `unsafe`, so no
//! `wait4` here); otherwise `/proc/<pid>/status` `VmHWM` is polled every
//! millisecond until the child exits (a lower bound, marked `≥`).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use guardian_tests::generate::{Spec, generate};
use serde_json::Value;

/// The measured command, after the guardian binary; `{dir}` is replaced by
/// the snapshot folder. `SUMMARY` is the stand-in for a guardian without
/// `diagnose`.
const COMMAND: &[&str] = DIAGNOSE;

/// `guardian diagnose -A --snapshot DIR -o json`.
const DIAGNOSE: &[&str] = &["diagnose", "-A", "--snapshot", "{dir}", "-o", "json"];

/// Stand-in for a guardian without `diagnose`: the cluster summary skill.
#[allow(dead_code)]
const SUMMARY: &[&str] = &[
    "skills",
    "call",
    "cluster.summary",
    "--snapshot",
    "{dir}",
    "-o",
    "json",
];

/// Targets at 5,000 pods.
const TARGET_PODS: usize = 5000;
const TARGET_WALL: Duration = Duration::from_secs(1);
const TARGET_RSS_MIB: f64 = 200.0;

const HELP: &str = "\
bench-diagnose — time `guardian diagnose` on large generated snapshots

Usage: bench-diagnose [options]

Options:
  --guardian PATH     guardian binary [default: target/release/guardian]
  --runs N            measured runs per size, after one warm-up [default: 5]
  --sizes A,B,…       pod counts [default: 1000,5000,20000]; deployments =
                      pods / 5, namespaces = pods / 100
  --broken-percent P  share of broken Deployments [default: 2]
  --seed N            generator seed [default: 1]
  --keep DIR          generate into DIR/pods-N and keep it; an existing
                      DIR/pods-N/nodes.json is reused as is
  --command ARGS      the guardian arguments, space-separated, `{dir}` for
                      the snapshot [default: `diagnose -A --snapshot {dir}
                      -o json`; without diagnose: `skills call
                      cluster.summary --snapshot {dir} -o json`]
  -h, --help          this help

Targets (5,000 pods): p50 wall <= 1 s, peak RSS <= 200 MiB.
";

struct Options {
    guardian: PathBuf,
    runs: usize,
    sizes: Vec<usize>,
    broken_percent: f64,
    seed: u64,
    keep: Option<PathBuf>,
    command: Vec<String>,
}

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("bench-diagnose: {e}");
            ExitCode::from(2)
        }
    }
}

fn parse() -> Result<Option<Options>, String> {
    let mut o = Options {
        guardian: PathBuf::from("target/release/guardian"),
        runs: 5,
        sizes: vec![1000, 5000, 20_000],
        broken_percent: 2.0,
        seed: 1,
        keep: None,
        command: COMMAND.iter().map(|s| s.to_string()).collect(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if flag == "-h" || flag == "--help" {
            print!("{HELP}");
            return Ok(None);
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value (see --help)"))
        };
        let num = |v: String| {
            v.replace('_', "")
                .parse::<usize>()
                .map_err(|_| format!("{flag}: not a whole number: {v}"))
        };
        match flag.as_str() {
            "--guardian" => o.guardian = PathBuf::from(value()?),
            "--runs" => o.runs = num(value()?)?.max(1),
            "--sizes" => {
                o.sizes = value()?
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .map(|s| num(s.trim().to_string()))
                    .collect::<Result<_, _>>()?;
            }
            "--broken-percent" => {
                let v = value()?;
                o.broken_percent = v
                    .parse()
                    .map_err(|_| format!("--broken-percent: not a number: {v}"))?;
            }
            "--seed" => o.seed = num(value()?)? as u64,
            "--keep" => o.keep = Some(PathBuf::from(value()?)),
            "--command" => {
                o.command = value()?.split_whitespace().map(str::to_string).collect();
            }
            other => return Err(format!("unknown argument {other} (see --help)")),
        }
    }
    Ok(Some(o))
}

/// One measured run.
struct Sample {
    wall: Duration,
    rss_kib: Option<u64>,
    stdout: Vec<u8>,
}

/// How peak RSS is read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// GNU time's `%M`: the child's ru_maxrss from wait4. Exact.
    GnuTime,
    /// Polled `VmHWM`: a lower bound.
    ProcPoll,
}

fn probe() -> Probe {
    let out = std::env::temp_dir().join(format!("bench-diagnose-probe-{}", std::process::id()));
    let ok = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o"])
        .arg(&out)
        .arg("true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        && std::fs::read_to_string(&out).is_ok_and(|t| t.trim().parse::<u64>().is_ok());
    let _ = std::fs::remove_file(&out);
    if ok { Probe::GnuTime } else { Probe::ProcPoll }
}

fn run() -> Result<bool, String> {
    let Some(o) = parse()? else {
        return Ok(true);
    };
    if !o.guardian.is_file() {
        return Err(format!(
            "{} not found: build it (cargo build --release -p guardian-cli) or pass --guardian",
            o.guardian.display()
        ));
    }
    let probe = probe();
    let scratch = std::env::temp_dir().join(format!("guardian-bench-{}", std::process::id()));
    let base = o.keep.clone().unwrap_or_else(|| scratch.clone());
    println!(
        "guardian: {}\ncommand:  guardian {}\nruns:     {} per size after 1 warm-up; peak RSS via {}\n",
        o.guardian.display(),
        o.command.join(" "),
        o.runs,
        match probe {
            Probe::GnuTime => "GNU time (ru_maxrss)",
            Probe::ProcPoll => "polled /proc VmHWM (lower bound)",
        }
    );

    let mut rows = Vec::new();
    let mut errors = Vec::new();
    let mut all_ok = true;
    for &pods in &o.sizes {
        let spec = Spec {
            broken_percent: o.broken_percent,
            seed: o.seed,
            ..Spec::for_pods(pods)
        };
        let dir = base.join(format!("pods-{pods}"));
        let (bytes, objects) = if o.keep.is_some() && dir.join("nodes.json").is_file() {
            eprintln!("reusing {}", dir.display());
            (dir_size(&dir), None)
        } else {
            eprint!("generating {} … ", dir.display());
            let t = Instant::now();
            let stats = generate(&dir, &spec).map_err(|e| format!("{}: {e}", dir.display()))?;
            eprintln!("{:.1}s", t.elapsed().as_secs_f64());
            (stats.bytes, Some(stats.total_objects()))
        };

        let args: Vec<String> = o
            .command
            .iter()
            .map(|a| a.replace("{dir}", &dir.to_string_lossy()))
            .collect();
        eprint!("running {pods} pods: warm-up");
        let measured = run_once(&o.guardian, &args, probe).and_then(|warm| {
            let mut samples = Vec::new();
            for i in 0..o.runs {
                eprint!(", {}", i + 1);
                samples.push(run_once(&o.guardian, &args, probe)?);
            }
            Ok((findings(&warm.stdout), samples))
        });
        eprintln!();
        let (findings, samples) = match measured {
            Ok(m) => m,
            Err(e) => {
                // Keep going: a failure at one size is a result too.
                eprintln!("  {e}");
                let first = e.lines().last().unwrap_or("failed").to_string();
                errors.push(format!("{pods} pods: {e}"));
                all_ok &= pods != TARGET_PODS;
                let bytes = format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0));
                let objects = objects.map_or("-".to_string(), |n| n.to_string());
                let mut row = vec![pods.to_string(), bytes, objects];
                row.extend(["-"; 5].map(String::from));
                row.push(format!(
                    "FAILED: {}",
                    first.chars().take(60).collect::<String>()
                ));
                rows.push(row);
                continue;
            }
        };
        let mut walls: Vec<Duration> = samples.iter().map(|s| s.wall).collect();
        walls.sort();
        let p50 = walls[walls.len() / 2];
        let rss = samples.iter().filter_map(|s| s.rss_kib).max();
        let rss_mib = rss.map(|k| k as f64 / 1024.0);
        let target = if pods == TARGET_PODS {
            let wall_ok = p50 <= TARGET_WALL;
            let rss_ok = rss_mib.is_some_and(|m| m <= TARGET_RSS_MIB);
            all_ok &= wall_ok && rss_ok;
            format!(
                "wall {} rss {}",
                if wall_ok { "ok" } else { "MISS" },
                if rss_ok { "ok" } else { "MISS" }
            )
        } else {
            "-".to_string()
        };
        rows.push(vec![
            pods.to_string(),
            format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0)),
            objects.map_or("-".to_string(), |n| n.to_string()),
            ms(p50),
            ms(walls[0]),
            ms(walls[walls.len() - 1]),
            rss_mib.map_or("-".to_string(), |m| {
                let bound = if probe == Probe::ProcPoll { "≥" } else { "" };
                format!("{bound}{m:.0} MiB")
            }),
            findings,
            target,
        ]);
    }
    if o.keep.is_none() {
        let _ = std::fs::remove_dir_all(&scratch);
    }

    println!();
    print_table(
        &[
            "pods",
            "snapshot",
            "objects",
            "p50",
            "min",
            "max",
            "peak RSS",
            "findings",
            "5k target",
        ],
        &rows,
    );
    for e in &errors {
        println!("\n{e}");
    }
    println!(
        "\n5k-pod targets: p50 wall <= {} ms, peak RSS <= {TARGET_RSS_MIB:.0} MiB{}",
        TARGET_WALL.as_millis(),
        if o.sizes.contains(&TARGET_PODS) {
            if all_ok { " — met" } else { " — NOT met" }
        } else {
            " (5000 not among the sizes)"
        }
    );
    Ok(all_ok)
}

fn run_once(guardian: &Path, args: &[String], probe: Probe) -> Result<Sample, String> {
    let rss_file = std::env::temp_dir().join(format!("bench-diagnose-rss-{}", std::process::id()));
    let mut cmd = match probe {
        Probe::GnuTime => {
            let mut c = Command::new("/usr/bin/time");
            c.args(["-f", "%M", "-o"]).arg(&rss_file).arg(guardian);
            c
        }
        Probe::ProcPoll => Command::new(guardian),
    };
    cmd.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{}: {e}", guardian.display()))?;
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = String::new();
        let _ = err.read_to_string(&mut buf);
        buf
    });
    let status_path = format!("/proc/{}/status", child.id());
    let mut hwm = None;
    let status = loop {
        if probe == Probe::ProcPoll
            && let Some(k) = vm_hwm(&status_path)
        {
            hwm = Some(hwm.map_or(k, |h: u64| h.max(k)));
        }
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => return Err(format!("waiting for guardian: {e}")),
        }
    };
    let wall = started.elapsed();
    let stdout = reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    let rss_kib = match probe {
        Probe::GnuTime => {
            let text = std::fs::read_to_string(&rss_file).unwrap_or_default();
            let _ = std::fs::remove_file(&rss_file);
            // GNU time adds "Command exited with non-zero status N" first.
            text.lines().last().and_then(|l| l.trim().parse().ok())
        }
        Probe::ProcPoll => hwm,
    };
    // `diagnose` exits 3 when a finding is at or above --fail-on: a result.
    if !status.success() && status.code() != Some(3) {
        let tail: Vec<&str> = stderr.lines().rev().take(10).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "guardian {} failed ({status}):\n{}",
            args.join(" "),
            tail.join("\n")
        ));
    }
    let warnings = stderr.lines().filter(|l| l.starts_with("warning:")).count();
    if warnings > 0 {
        eprintln!("\n  ({warnings} warning(s) on stderr, e.g. {})", {
            stderr
                .lines()
                .find(|l| l.starts_with("warning:"))
                .unwrap_or("")
        });
    }
    Ok(Sample {
        wall,
        rss_kib,
        stdout,
    })
}

fn vm_hwm(status_path: &str) -> Option<u64> {
    let text = std::fs::read_to_string(status_path).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The findings count from the JSON output: `findings` (array or number, at
/// the top or under `summary`); for `cluster.summary`, the degraded
/// workloads, marked `(degraded)`.
fn findings(stdout: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<Value>(stdout) else {
        return "? (not JSON)".to_string();
    };
    let count = |v: &Value| match v {
        Value::Array(a) => Some(a.len()),
        Value::Number(n) => n.as_u64().map(|n| n as usize),
        _ => None,
    };
    if let Some(n) = v.get("findings").and_then(count) {
        return n.to_string();
    }
    if let Some(n) = v.pointer("/summary/findings").and_then(count) {
        return n.to_string();
    }
    if let Some(namespaces) = v.get("namespaces").and_then(Value::as_array) {
        let n: usize = namespaces
            .iter()
            .filter_map(|ns| ns.get("degraded_workloads").and_then(Value::as_array))
            .map(Vec::len)
            .sum();
        return format!("{n} (degraded)");
    }
    "?".to_string()
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            Ok(_) => e.metadata().map_or(0, |m| m.len()),
            Err(_) => 0,
        })
        .sum()
}

fn print_table(header: &[&str], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    );
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
}
