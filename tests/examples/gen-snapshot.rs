//! `gen-snapshot`: writes a large, realistic, deterministic cluster snapshot
//! (a `kubectl cluster-info dump` tree plus a `kind: List` of ConfigMaps,
//! Secrets, Endpoints and HPAs). See `guardian_tests::generate`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use guardian_tests::generate::{Spec, generate};

const HELP: &str = "\
gen-snapshot — write a large synthetic cluster snapshot for load tests

Usage: gen-snapshot --pods N -o DIR [options]

Writes what `kubectl cluster-info dump --output-directory` writes (nodes.json,
<ns>/{pods,deployments,replicasets,services,events,daemonsets,
replication-controllers}.json, <ns>/<pod>/logs.txt) plus extra.json, a
`kind: List` with the ConfigMaps, Secrets, Endpoints and HPAs the workloads
reference. The same options always write the same bytes.

Options:
  --pods N             pods in total (required)
  --deployments N      Deployments [default: pods / 5]
  --namespaces N       namespaces [default: pods / 100, at least 1]
  --broken-percent P   share of Deployments broken, in percent, cycling
                       through: missing optional ConfigMap key
                       (CrashLoopBackOff), missing Secret key
                       (CreateContainerConfigError), OOMKilled,
                       ImagePullBackOff (mistyped tag), Service selector
                       mismatch, readiness probe on the wrong port
                       [default: 2]
  --seed N             PRNG seed [default: 1]
  -o, --output DIR     where to write (created; files are overwritten)
  -h, --help           this help

Nodes: ~10 per 1,000 pods (at least 3).

Example:
  gen-snapshot --pods 5000 --deployments 1000 --namespaces 50 -o /tmp/gen-5k
";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen-snapshot: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut pods = None;
    let mut deployments = None;
    let mut namespaces = None;
    let mut broken = None;
    let mut seed = None;
    let mut output = None;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        if flag == "-h" || flag == "--help" {
            print!("{HELP}");
            return Ok(());
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value (see --help)"))
        };
        match flag.as_str() {
            "--pods" => pods = Some(number(&flag, &value()?)?),
            "--deployments" => deployments = Some(number(&flag, &value()?)?),
            "--namespaces" => namespaces = Some(number(&flag, &value()?)?),
            "--broken-percent" => {
                let v = value()?;
                broken = Some(
                    v.parse::<f64>()
                        .map_err(|_| format!("--broken-percent: not a number: {v}"))?,
                );
            }
            "--seed" => seed = Some(number(&flag, &value()?)? as u64),
            "-o" | "--output" => output = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other} (see --help)")),
        }
    }
    let pods = pods.ok_or("--pods is required (see --help)")?;
    let output = output.ok_or("-o DIR is required (see --help)")?;
    let mut spec = Spec::for_pods(pods);
    if let Some(d) = deployments {
        spec.deployments = d;
    }
    spec.namespaces = namespaces.unwrap_or(spec.namespaces.min(spec.deployments));
    if let Some(b) = broken {
        spec.broken_percent = b;
    }
    if let Some(s) = seed {
        spec.seed = s;
    }

    let started = Instant::now();
    let stats = generate(&output, &spec).map_err(|e| format!("{}: {e}", output.display()))?;
    println!(
        "wrote {} in {:.1}s: {} pods, {} deployments, {} namespaces",
        output.display(),
        started.elapsed().as_secs_f64(),
        spec.pods,
        spec.deployments,
        spec.namespaces
    );
    println!("{stats}");
    Ok(())
}

fn number(flag: &str, v: &str) -> Result<usize, String> {
    v.replace('_', "")
        .parse()
        .map_err(|_| format!("{flag}: not a whole number: {v}"))
}
