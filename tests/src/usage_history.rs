//! Realistic, deterministic usage history for the right-sizing tests and
//! benchmark: what cAdvisor (through the kubelet) and kube-state-metrics
//! expose, scraped every 5 minutes (or every minute) over a window ending at
//! a given time, as OpenMetrics text for `promtool`; the Kubernetes objects
//! of the same workloads (Deployment → ReplicaSet → Pods, HPAs) as manifests,
//! a snapshot folder, or objects created in the real API server; and the
//! recommendations expected from that history, computed here from the
//! samples written (never by asking Prometheus).
//!
//! ```no_run
//! use guardian_tests::usage_history::History;
//! let h = History::standard("shop", 1_800_000_000);
//! let om = h.openmetrics();          // for Prometheus::start
//! let yaml = h.to_manifests();       // the same names, as objects
//! for e in h.expected() {            // what KRR's simple strategy / Guardian must say
//!     println!("{} {} {:?}", e.workload, e.container, e.krr.cpu);
//! }
//! ```
//!
//! Series (labels as the kubelet's cAdvisor and kube-state-metrics v2 have
//! them, plus the `job`/`instance`/`node` the scrape adds):
//! - `container_cpu_usage_seconds_total` (counter) and
//!   `container_memory_working_set_bytes` for every container instance
//!   (`container`, `pod`, `namespace`, `image`, `name` and `id` naming the
//!   containerd container: a restarted container is a new series), for the
//!   pod's cgroup (`container=""`, no image) and for its sandbox
//!   (`container="POD"`, the pause image) — what `container!=""` and
//!   `container!="POD"` filter out;
//! - `kube_pod_container_resource_requests` / `_limits`
//!   (`resource="cpu"|"memory"`, `unit="core"|"byte"`),
//!   `kube_pod_container_status_restarts_total`,
//!   `kube_pod_container_status_last_terminated_reason{reason="OOMKilled"}`
//!   (from a container's first OOM kill on), `kube_pod_owner`,
//!   `kube_replicaset_owner`, and for HPAs
//!   `kube_horizontalpodautoscaler_spec_target_metric`, `_spec_min_replicas`,
//!   `_spec_max_replicas`, `_status_current_replicas`.
//!
//! Values derive from the workload's seed and the sample's position counted
//! back from the end, never from the wall clock: the same [`History`] (same
//! end) always writes the same bytes, and histories ending at different
//! times hold the same values.
//!
//! Expected values ([`History::expected_at`]) follow Prometheus 2.x's
//! semantics exactly ([`Eval`]): subquery steps aligned to multiples of the
//! step; an instant selector sees a series' latest sample in
//! `[t - 5m, t]`; `rate(x[r])` takes the samples in `[t - r, t]` (both ends
//! included before Prometheus 3) and extrapolates as `extrapolatedRate`
//! does; `quantile_over_time` interpolates linearly between ranks. The CPU
//! counter grows at a constant rate within each scrape interval, so with
//! samples every 5 minutes and `rate(...[5m])` at 5-minute steps each rate
//! is the interval's exact rate.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// One mebibyte.
pub const MIB: f64 = 1_048_576.0;
/// One day in seconds.
pub const DAY: i64 = 86_400;
/// Prometheus' default lookback (`--query.lookback-delta`).
pub const LOOKBACK: i64 = 300;

/// How far (relative) a CPU percentile computed at the history's end may be
/// from one a run makes up to 10 minutes later (its window lost the first
/// step or two: the percentile moves to a neighbouring order statistic).
/// At the same evaluation time the numbers are exact (floating point only).
pub const CPU_TOLERANCE: f64 = 0.01;

/// The same for the memory peak: the peaks sit mid-window or at the end,
/// never in the steps a later run loses, so only floating point differs.
pub const MEMORY_TOLERANCE: f64 = 1e-9;

/// The shapes of usage the test set covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Shape {
    /// Flat usage with noise and a daily cycle, well under its requests.
    Steady,
    /// Low CPU with rare spikes (3% of intervals) and one memory spike:
    /// p95 ignores the spikes, the memory peak does not.
    Spiky,
    /// Memory growing linearly over the window (a leak), CPU growing too.
    Growing,
    /// Working set climbing to its limit and staying there (99%),
    /// OOMKilled every two days, restarts.
    OomPinned,
    /// OOMKilled every three days by bursts between scrapes: the scraped
    /// working set never goes above ~60% of the limit (KRR's simple
    /// strategy then lowers the limit of a container that is being killed).
    OomBurst,
    /// Pods started 90 minutes before the end: fewer than 100 points.
    TooYoung,
    /// Almost no usage against large requests: the minimums apply.
    Idle,
    /// The seed case: memory at ~95% of its limit while an HPA scales on
    /// CPU at 50% utilization (CPU at ~40% of its request).
    Seed,
    /// An HPA on CPU at 70% pinned at its maxReplicas (4), CPU at ~90% of
    /// its request.
    HpaAtMax,
    /// An HPA on CPU whose target's container has no CPU request (the HPA
    /// cannot compute a utilization).
    HpaNoRequest,
}

impl Shape {
    /// Every shape, in the order of [`History::standard`].
    pub const ALL: [Shape; 10] = [
        Shape::Steady,
        Shape::Spiky,
        Shape::Growing,
        Shape::OomPinned,
        Shape::OomBurst,
        Shape::TooYoung,
        Shape::Idle,
        Shape::Seed,
        Shape::HpaAtMax,
        Shape::HpaNoRequest,
    ];

    /// `steady`, `spiky`, …, `seed`.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Steady => "steady",
            Shape::Spiky => "spiky",
            Shape::Growing => "growing",
            Shape::OomPinned => "oom-pinned",
            Shape::OomBurst => "oom-burst",
            Shape::TooYoung => "too-young",
            Shape::Idle => "idle",
            Shape::Seed => "seed",
            Shape::HpaAtMax => "hpa-at-max",
            Shape::HpaNoRequest => "hpa-no-request",
        }
    }
}

/// A container's requests and limits (`None`: not set).
#[derive(Clone, Debug, PartialEq)]
pub struct Resources {
    pub cpu_request_m: Option<u32>,
    pub cpu_limit_m: Option<u32>,
    pub memory_request: Option<u64>,
    pub memory_limit: Option<u64>,
}

/// How a container uses CPU and memory. Shares are of the typical value.
#[derive(Clone, Debug, PartialEq)]
pub struct Usage {
    /// Typical CPU use, millicores.
    pub cpu_m: f64,
    /// ± share of uniform noise per scrape interval.
    pub cpu_noise: f64,
    /// ± share of a 24-hour sine.
    pub cpu_daily: f64,
    /// Share added linearly from the start of the history to its end.
    pub cpu_growth: f64,
    /// Level of CPU spikes, millicores (0: none).
    pub cpu_spike_m: f64,
    /// Share of intervals that spike.
    pub cpu_spike_share: f64,
    /// Typical working set, bytes.
    pub memory: f64,
    /// ± share of uniform noise.
    pub memory_noise: f64,
    /// Bytes added linearly from the start of the history to its end.
    pub memory_growth: f64,
    /// Bytes added by a memory spike (one per pod, mid-window).
    pub memory_spike: f64,
    /// The working set climbs from `memory` to this share of the memory
    /// limit within three hours of every container start and stays there.
    pub memory_pinned: Option<f64>,
    /// Seconds between OOM kills of each pod's container (`None`: never).
    pub oom_every: Option<i64>,
}

impl Usage {
    fn flat(cpu_m: f64, memory: f64) -> Usage {
        Usage {
            cpu_m,
            cpu_noise: 0.1,
            cpu_daily: 0.0,
            cpu_growth: 0.0,
            cpu_spike_m: 0.0,
            cpu_spike_share: 0.0,
            memory,
            memory_noise: 0.02,
            memory_growth: 0.0,
            memory_spike: 0.0,
            memory_pinned: None,
            oom_every: None,
        }
    }
}

/// A container of a workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub resources: Resources,
    pub usage: Usage,
}

/// An `autoscaling/v2` HorizontalPodAutoscaler on a workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Hpa {
    pub name: String,
    pub min: u32,
    pub max: u32,
    /// Target average CPU utilization, percent of the request.
    pub cpu_utilization: Option<u32>,
    /// Target average memory utilization, percent of the request.
    pub memory_utilization: Option<u32>,
}

/// A Deployment and the history of its pods.
#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub namespace: String,
    pub name: String,
    pub shape: Shape,
    pub replicas: u32,
    pub containers: Vec<Container>,
    pub hpa: Option<Hpa>,
    /// Seconds before the end at which the pods started.
    pub age: i64,
    pub seed: u64,
}

/// A container instance (a restart makes a new one): its containerd id and
/// its samples' times.
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    /// 64 hex digits.
    pub id: String,
    /// When the container started (Unix seconds).
    pub started_at: i64,
    /// Its first and last scrape (Unix seconds, on the scrape grid).
    pub first: i64,
    pub last: i64,
    /// Whether it ended OOMKilled (at `last + interval / 2`).
    pub oom_killed: bool,
}

/// A pod of a workload, as the history has it.
#[derive(Clone, Debug, PartialEq)]
pub struct Pod {
    pub name: String,
    pub uid: String,
    pub node: String,
    pub ip: String,
    /// Unix seconds.
    pub started_at: i64,
    /// Per container of the workload (same order): its instances in time
    /// order.
    pub instances: Vec<Vec<Instance>>,
}

/// One series: metric name, labels (in order), samples `(Unix seconds,
/// value)` in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub samples: Vec<(i64, f64)>,
}

impl Series {
    fn label(&self, name: &str) -> &str {
        self.labels
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    fn write_labels(&self, out: &mut String) {
        out.push_str(self.name);
        out.push('{');
        for (i, (k, v)) in self.labels.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{k}=\"{v}\"");
        }
        out.push('}');
    }
}

/// The metric families, in the order they are written (OpenMetrics wants
/// each family's samples together): family name, type, sample name.
pub const FAMILIES: &[(&str, &str, &str)] = &[
    (
        "container_cpu_usage_seconds",
        "counter",
        "container_cpu_usage_seconds_total",
    ),
    (
        "container_memory_working_set_bytes",
        "gauge",
        "container_memory_working_set_bytes",
    ),
    (
        "kube_pod_container_resource_requests",
        "gauge",
        "kube_pod_container_resource_requests",
    ),
    (
        "kube_pod_container_resource_limits",
        "gauge",
        "kube_pod_container_resource_limits",
    ),
    (
        "kube_pod_container_status_restarts",
        "counter",
        "kube_pod_container_status_restarts_total",
    ),
    (
        "kube_pod_container_status_last_terminated_reason",
        "gauge",
        "kube_pod_container_status_last_terminated_reason",
    ),
    ("kube_pod_owner", "gauge", "kube_pod_owner"),
    ("kube_replicaset_owner", "gauge", "kube_replicaset_owner"),
    (
        "kube_horizontalpodautoscaler_spec_target_metric",
        "gauge",
        "kube_horizontalpodautoscaler_spec_target_metric",
    ),
    (
        "kube_horizontalpodautoscaler_spec_min_replicas",
        "gauge",
        "kube_horizontalpodautoscaler_spec_min_replicas",
    ),
    (
        "kube_horizontalpodautoscaler_spec_max_replicas",
        "gauge",
        "kube_horizontalpodautoscaler_spec_max_replicas",
    ),
    (
        "kube_horizontalpodautoscaler_status_current_replicas",
        "gauge",
        "kube_horizontalpodautoscaler_status_current_replicas",
    ),
];

/// Workloads and the window of their history.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// The last scrape (Unix seconds, a multiple of `interval`).
    pub end: i64,
    /// How far back the samples go before `end` (at most; younger pods
    /// start later): the analysis window plus an hour.
    pub span: i64,
    /// Seconds between scrapes: 300 or 60.
    pub interval: i64,
    pub workloads: Vec<Workload>,
    /// Write the pod cgroup (`container=""`) and sandbox
    /// (`container="POD"`) series too.
    pub pod_level_series: bool,
}

const MI: u64 = 1 << 20;

fn container(
    name: &str,
    image: &str,
    r: (Option<u32>, Option<u32>, u64, u64),
    usage: Usage,
) -> Container {
    Container {
        name: name.into(),
        image: image.into(),
        resources: Resources {
            cpu_request_m: r.0,
            cpu_limit_m: r.1,
            memory_request: Some(r.2),
            memory_limit: Some(r.3),
        },
        usage,
    }
}

/// The workload of `shape` named `name` in `namespace` (the test set's
/// definitions; [`History::standard`] lists their names).
pub fn workload(namespace: &str, name: &str, shape: Shape, seed: u64) -> Workload {
    let age = 14 * DAY + 2 * 3600;
    let w = |replicas, containers, hpa, age| Workload {
        namespace: namespace.into(),
        name: name.into(),
        shape,
        replicas,
        containers,
        hpa,
        age,
        seed,
    };
    match shape {
        Shape::Steady => w(
            3,
            vec![
                container(
                    "app",
                    "registry.example.com/shop/catalog:2.14.1",
                    (Some(500), None, 512 * MI, 512 * MI),
                    Usage {
                        cpu_noise: 0.15,
                        cpu_daily: 0.25,
                        ..Usage::flat(120.0, 210.0 * MIB)
                    },
                ),
                container(
                    "envoy",
                    "docker.io/envoyproxy/envoy:v1.31.2",
                    (Some(100), None, 128 * MI, 256 * MI),
                    Usage {
                        cpu_noise: 0.2,
                        ..Usage::flat(15.0, 45.0 * MIB)
                    },
                ),
            ],
            None,
            age,
        ),
        Shape::Spiky => w(
            2,
            vec![container(
                "app",
                "registry.example.com/shop/search:5.0.3",
                (Some(1000), None, 1024 * MI, 1024 * MI),
                Usage {
                    cpu_noise: 0.2,
                    cpu_daily: 0.2,
                    cpu_spike_m: 900.0,
                    cpu_spike_share: 0.03,
                    memory_spike: 350.0 * MIB,
                    ..Usage::flat(80.0, 300.0 * MIB)
                },
            )],
            None,
            age,
        ),
        Shape::Growing => w(
            1,
            vec![container(
                "app",
                "registry.example.com/shop/ledger:1.9.0",
                (Some(250), None, 256 * MI, 1024 * MI),
                Usage {
                    cpu_growth: 1.5,
                    memory_growth: 520.0 * MIB,
                    ..Usage::flat(60.0, 180.0 * MIB)
                },
            )],
            None,
            age,
        ),
        Shape::OomPinned => w(
            2,
            vec![container(
                "app",
                "registry.example.com/shop/reports:3.2.0",
                (Some(200), None, 256 * MI, 256 * MI),
                Usage {
                    cpu_noise: 0.2,
                    memory_noise: 0.003,
                    memory_pinned: Some(0.99),
                    oom_every: Some(2 * DAY),
                    ..Usage::flat(150.0, 120.0 * MIB)
                },
            )],
            None,
            age,
        ),
        Shape::OomBurst => w(
            2,
            vec![container(
                "app",
                "registry.example.com/shop/thumbnails:0.8.4",
                (Some(300), None, 512 * MI, 512 * MI),
                Usage {
                    cpu_noise: 0.25,
                    memory_noise: 0.05,
                    oom_every: Some(3 * DAY),
                    ..Usage::flat(200.0, 280.0 * MIB)
                },
            )],
            None,
            age,
        ),
        Shape::TooYoung => w(
            2,
            vec![container(
                "app",
                "registry.example.com/shop/canary:0.1.0",
                (Some(100), None, 128 * MI, 128 * MI),
                Usage::flat(40.0, 90.0 * MIB),
            )],
            None,
            90 * 60,
        ),
        Shape::Idle => w(
            1,
            vec![container(
                "app",
                "registry.example.com/shop/legacy-admin:0.9.9",
                (Some(1000), None, 1024 * MI, 2048 * MI),
                Usage {
                    cpu_noise: 0.5,
                    ..Usage::flat(0.8, 22.0 * MIB)
                },
            )],
            None,
            age,
        ),
        Shape::Seed => w(
            3,
            vec![container(
                "app",
                "registry.example.com/shop/checkout:4.7.2",
                (Some(500), None, 512 * MI, 512 * MI),
                Usage {
                    cpu_daily: 0.3,
                    memory_noise: 0.01,
                    ..Usage::flat(200.0, 0.945 * 512.0 * MIB)
                },
            )],
            Some(Hpa {
                name: name.into(),
                min: 3,
                max: 10,
                cpu_utilization: Some(50),
                memory_utilization: None,
            }),
            age,
        ),
        Shape::HpaAtMax => w(
            4,
            vec![container(
                "app",
                "registry.example.com/shop/payments:2.0.1",
                (Some(300), None, 512 * MI, 512 * MI),
                Usage {
                    cpu_daily: 0.05,
                    cpu_noise: 0.05,
                    ..Usage::flat(270.0, 300.0 * MIB)
                },
            )],
            Some(Hpa {
                name: name.into(),
                min: 2,
                max: 4,
                cpu_utilization: Some(70),
                memory_utilization: None,
            }),
            age,
        ),
        Shape::HpaNoRequest => w(
            2,
            vec![container(
                "app",
                "registry.example.com/shop/recommender:1.3.0",
                (None, None, 256 * MI, 512 * MI),
                Usage::flat(100.0, 180.0 * MIB),
            )],
            Some(Hpa {
                name: name.into(),
                min: 2,
                max: 6,
                cpu_utilization: Some(60),
                memory_utilization: None,
            }),
            age,
        ),
    }
}

/// The names of the test set's workloads, per shape.
pub fn standard_name(shape: Shape) -> &'static str {
    match shape {
        Shape::Steady => "catalog",
        Shape::Spiky => "search",
        Shape::Growing => "ledger",
        Shape::OomPinned => "reports",
        Shape::OomBurst => "thumbnails",
        Shape::TooYoung => "canary",
        Shape::Idle => "legacy-admin",
        Shape::Seed => "checkout",
        Shape::HpaAtMax => "payments",
        Shape::HpaNoRequest => "recommender",
    }
}

impl History {
    /// The test set: one workload of every [`Shape`] in `namespace`
    /// (named by [`standard_name`]: the seed case is `checkout`), 5-minute
    /// scrapes over 14 days and an hour ending at `end` (rounded down to
    /// the interval).
    pub fn standard(namespace: &str, end: i64) -> History {
        History {
            end: end - end.rem_euclid(300),
            span: 14 * DAY + 3600,
            interval: 300,
            workloads: Shape::ALL
                .iter()
                .enumerate()
                .map(|(i, &s)| workload(namespace, standard_name(s), s, 1000 + i as u64))
                .collect(),
            pod_level_series: true,
        }
    }

    /// [`History::standard`] ending now (the current time rounded down to
    /// 5 minutes).
    pub fn standard_now(namespace: &str) -> History {
        History::standard(namespace, now())
    }

    /// The benchmark's set: `n` workloads cycling through the shapes (the
    /// too-young one included), one replica each, `per_namespace` to a
    /// namespace (`bench-000`, …), 14 days and an hour of 5-minute samples
    /// ending at `end`.
    pub fn bench(n: usize, per_namespace: usize, end: i64) -> History {
        let per_namespace = per_namespace.max(1);
        History {
            end: end - end.rem_euclid(300),
            span: 14 * DAY + 3600,
            interval: 300,
            workloads: (0..n)
                .map(|i| {
                    let shape = Shape::ALL[i % Shape::ALL.len()];
                    let ns = format!("bench-{:03}", i / per_namespace);
                    let mut w = workload(&ns, &format!("{}-{i}", shape.name()), shape, i as u64);
                    w.replicas = 1;
                    if let Some(h) = &mut w.hpa {
                        h.min = 1;
                        if shape == Shape::HpaAtMax {
                            h.max = 1;
                        }
                    }
                    w
                })
                .collect(),
            pod_level_series: true,
        }
    }

    /// The same workloads scraped every `interval` seconds.
    pub fn with_interval(mut self, interval: i64) -> History {
        self.interval = interval;
        self.end -= self.end.rem_euclid(interval);
        self
    }

    /// The namespaces of the workloads, sorted.
    pub fn namespaces(&self) -> Vec<String> {
        let mut ns: Vec<String> = self.workloads.iter().map(|w| w.namespace.clone()).collect();
        ns.sort();
        ns.dedup();
        ns
    }

    /// The workload named `name`.
    pub fn workload(&self, name: &str) -> &Workload {
        self.workloads
            .iter()
            .find(|w| w.name == name)
            .unwrap_or_else(|| panic!("no workload {name}"))
    }

    fn first_scrape(&self, started_at: i64) -> i64 {
        // The first scrape after the start, on the grid; never before the
        // span.
        let first = started_at + self.interval - started_at.rem_euclid(self.interval);
        first.max(self.end - self.span)
    }

    /// The ReplicaSet name of `w`: `<deployment>-<pod-template-hash>`.
    pub fn replicaset(&self, w: &Workload) -> String {
        format!("{}-{}", w.name, pod_template_hash(w.seed))
    }

    /// The pods of `w` with their container instances.
    pub fn pods(&self, w: &Workload) -> Vec<Pod> {
        let rs = self.replicaset(w);
        (0..w.replicas)
            .map(|p| {
                let h = |what: u64| hash(&[w.seed, p as u64, what]);
                let started_at = self.end - w.age - (h(1) % 600) as i64;
                let first = self.first_scrape(started_at);
                let instances = w
                    .containers
                    .iter()
                    .enumerate()
                    .map(|(c, spec)| {
                        let mut out = Vec::new();
                        let mut start = started_at;
                        let mut first = first;
                        let mut n = 0u64;
                        if let Some(every) = spec.usage.oom_every {
                            // Kills at a phase of the period that differs
                            // per pod, on the scrape grid.
                            let phase = every * (p as i64 + 1) / (w.replicas as i64 + 1);
                            let mut kill = first + phase;
                            kill -= kill.rem_euclid(self.interval);
                            while kill <= self.end {
                                let last = kill - self.interval;
                                if last >= first {
                                    out.push(Instance {
                                        id: hex64(&[w.seed, p as u64, c as u64, n]),
                                        started_at: start,
                                        first,
                                        last,
                                        oom_killed: true,
                                    });
                                    n += 1;
                                }
                                start = kill - 20;
                                first = kill;
                                kill += every;
                            }
                        }
                        out.push(Instance {
                            id: hex64(&[w.seed, p as u64, c as u64, n]),
                            started_at: start,
                            first,
                            last: self.end,
                            oom_killed: false,
                        });
                        out
                    })
                    .collect();
                Pod {
                    name: format!("{rs}-{}", pod_suffix(hash(&[w.seed, p as u64, 7]))),
                    uid: uuid(&[w.seed, p as u64, 11]),
                    node: format!("worker-{}", (w.seed + p as u64) % 3 + 1),
                    ip: format!("10.244.{}.{}", (w.seed + p as u64) % 3 + 1, 10 + h(3) % 240),
                    started_at,
                    instances,
                }
            })
            .collect()
    }

    /// CPU use (cores) of container `c` of pod `p` over the scrape interval
    /// ending at `t`.
    fn cpu_rate(&self, w: &Workload, p: usize, c: usize, t: i64) -> f64 {
        let u = &w.containers[c].usage;
        let k = (self.end - t) / self.interval; // scrapes back from the end
        let r = |what: u64| unit(hash(&[w.seed, p as u64, c as u64, k as u64, what]));
        let frac = 1.0 - (self.end - t) as f64 / self.span as f64;
        let day = (t - self.end).rem_euclid(DAY) as f64 / DAY as f64;
        let mut m = u.cpu_m
            * (1.0
                + u.cpu_daily * (day * std::f64::consts::TAU).sin()
                + u.cpu_noise * (2.0 * r(1) - 1.0)
                + u.cpu_growth * frac.max(0.0));
        if u.cpu_spike_m > 0.0 && r(2) < u.cpu_spike_share {
            m = u.cpu_spike_m * (0.95 + 0.1 * r(3));
        }
        m.max(0.05) / 1000.0
    }

    /// Working set (bytes) of container `c` of pod `p` scraped at `t`, in
    /// the instance that started at `started_at`.
    fn working_set(&self, w: &Workload, p: usize, c: usize, t: i64, started_at: i64) -> f64 {
        let spec = &w.containers[c];
        let u = &spec.usage;
        let k = (self.end - t) / self.interval;
        let r = unit(hash(&[w.seed, p as u64, c as u64, k as u64, 4]));
        // The noise's top is reserved for one scrape per pod, mid-window:
        // the peak never sits at the window's edges.
        let peak_k = (14 * DAY / 2) / self.interval + 7 * p as i64;
        let noise = if k == peak_k {
            1.0
        } else {
            2.0 * r * 0.98 - 1.0
        };
        let frac = 1.0 - (self.end - t) as f64 / self.span as f64;
        let limit = spec.resources.memory_limit.map(|l| l as f64);
        let mut v = u.memory * (1.0 + u.memory_noise * noise) + u.memory_growth * frac.max(0.0);
        if let (Some(pin), Some(limit)) = (u.memory_pinned, limit) {
            let ramp = ((t - started_at) as f64 / (3.0 * 3600.0)).min(1.0);
            let target = pin * limit;
            v = (u.memory + (target - u.memory) * ramp) * (1.0 + u.memory_noise * noise);
        }
        if u.memory_spike > 0.0 && k == peak_k {
            v += u.memory_spike;
        }
        if let Some(limit) = limit {
            // The kernel never lets the working set pass the limit.
            v = v.min(limit - 65_536.0);
        }
        v.round()
    }

    /// Calls `f` with every series, family by family in [`FAMILIES`] order.
    pub fn for_each_series(&self, mut f: impl FnMut(&Series)) {
        let grid = |from: i64, to: i64| (from..=to).step_by(self.interval as usize);
        let pods: Vec<Vec<Pod>> = self.workloads.iter().map(|w| self.pods(w)).collect();
        // The labels of a cAdvisor series as the kubelet's scrape has them
        // (`image` and `name` are empty for the pod's cgroup: absent).
        let cadvisor =
            |w: &Workload, pod: &Pod, container: &str, id: String, image: &str, name: &str| {
                let mut labels = vec![
                    ("container", container.to_owned()),
                    ("id", id),
                    ("image", image.to_owned()),
                    ("instance", format!("{}:10250", node_ip(&pod.node))),
                    ("job", "kubelet".to_owned()),
                    ("metrics_path", "/metrics/cadvisor".to_owned()),
                    ("name", name.to_owned()),
                    ("namespace", w.namespace.clone()),
                    ("node", pod.node.clone()),
                    ("pod", pod.name.clone()),
                ];
                labels.retain(|(k, v)| !v.is_empty() || *k == "container");
                labels
            };
        let cgroup = |pod: &Pod| {
            format!(
                "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice",
                pod.uid.replace('-', "_")
            )
        };
        let ksm = |w: &Workload, pod: &Pod| -> Vec<(&'static str, String)> {
            vec![
                ("instance", "10.244.0.5:8080".into()),
                ("job", "kube-state-metrics".into()),
                ("namespace", w.namespace.clone()),
                ("node", pod.node.clone()),
                ("pod", pod.name.clone()),
                ("uid", pod.uid.clone()),
            ]
        };
        for &(_, _, family) in FAMILIES {
            for (wi, w) in self.workloads.iter().enumerate() {
                for (pi, pod) in pods[wi].iter().enumerate() {
                    let first = pod.instances[0][0].first;
                    let pod_grid = || grid(first, self.end);
                    match family {
                        "container_cpu_usage_seconds_total"
                        | "container_memory_working_set_bytes" => {
                            let cpu = family == "container_cpu_usage_seconds_total";
                            // Sandbox and pod cgroup: the pod cgroup is the
                            // sum of the containers and the sandbox.
                            let mut pod_total: BTreeMap<i64, f64> = BTreeMap::new();
                            for (ci, instances) in pod.instances.iter().enumerate() {
                                for inst in instances {
                                    let labels = cadvisor(
                                        w,
                                        pod,
                                        &w.containers[ci].name,
                                        format!("{}/cri-containerd-{}.scope", cgroup(pod), inst.id),
                                        &w.containers[ci].image,
                                        &inst.id,
                                    );
                                    let mut samples = Vec::new();
                                    let mut counter = self.cpu_rate(w, pi, ci, inst.first)
                                        * (inst.first - inst.started_at) as f64;
                                    for t in grid(inst.first, inst.last) {
                                        let v = if cpu {
                                            if t > inst.first {
                                                counter += self.cpu_rate(w, pi, ci, t)
                                                    * self.interval as f64;
                                            }
                                            counter
                                        } else {
                                            self.working_set(w, pi, ci, t, inst.started_at)
                                        };
                                        samples.push((t, v));
                                        *pod_total.entry(t).or_default() += v;
                                    }
                                    f(&Series {
                                        name: family,
                                        labels,
                                        samples,
                                    });
                                }
                            }
                            if self.pod_level_series {
                                let sandbox = hex64(&[w.seed, pi as u64, 99]);
                                let labels = cadvisor(
                                    w,
                                    pod,
                                    "POD",
                                    format!("{}/cri-containerd-{sandbox}.scope", cgroup(pod)),
                                    "registry.k8s.io/pause:3.10",
                                    &sandbox,
                                );
                                let samples: Vec<(i64, f64)> = pod_grid()
                                    .map(|t| {
                                        let v = if cpu {
                                            0.00002 * (t - pod.started_at) as f64
                                        } else {
                                            (300 * 1024) as f64
                                        };
                                        *pod_total.entry(t).or_default() += v;
                                        (t, v)
                                    })
                                    .collect();
                                f(&Series {
                                    name: family,
                                    labels,
                                    samples,
                                });
                                // The pod cgroup (its counter does not reset
                                // when a container restarts).
                                let labels = cadvisor(w, pod, "", cgroup(pod), "", "");
                                let samples = if cpu {
                                    // What every container and the sandbox
                                    // used since the pod started.
                                    let mut total = pod_total.get(&first).copied().unwrap_or(0.0);
                                    pod_grid()
                                        .map(|t| {
                                            if t > first {
                                                total += (0..w.containers.len())
                                                    .map(|ci| self.cpu_rate(w, pi, ci, t))
                                                    .sum::<f64>()
                                                    * self.interval as f64
                                                    + 0.00002 * self.interval as f64;
                                            }
                                            (t, total)
                                        })
                                        .collect()
                                } else {
                                    pod_grid()
                                        .map(|t| (t, pod_total.get(&t).copied().unwrap_or(0.0)))
                                        .collect()
                                };
                                f(&Series {
                                    name: family,
                                    labels,
                                    samples,
                                });
                            }
                        }
                        "kube_pod_container_resource_requests"
                        | "kube_pod_container_resource_limits" => {
                            let requests = family == "kube_pod_container_resource_requests";
                            for spec in &w.containers {
                                let r = &spec.resources;
                                let (cpu, mem) = if requests {
                                    (r.cpu_request_m, r.memory_request)
                                } else {
                                    (r.cpu_limit_m, r.memory_limit)
                                };
                                let values = [
                                    ("cpu", "core", cpu.map(|m| m as f64 / 1000.0)),
                                    ("memory", "byte", mem.map(|b| b as f64)),
                                ];
                                for (resource, unit, value) in values {
                                    let Some(value) = value else { continue };
                                    let mut labels = vec![("container", spec.name.clone())];
                                    labels.extend(ksm(w, pod));
                                    labels.push(("resource", resource.into()));
                                    labels.push(("unit", unit.into()));
                                    labels.sort();
                                    f(&Series {
                                        name: family,
                                        labels,
                                        samples: pod_grid().map(|t| (t, value)).collect(),
                                    });
                                }
                            }
                        }
                        "kube_pod_container_status_restarts_total" => {
                            for (ci, instances) in pod.instances.iter().enumerate() {
                                let mut labels = vec![("container", w.containers[ci].name.clone())];
                                labels.extend(ksm(w, pod));
                                labels.sort();
                                let samples = pod_grid()
                                    .map(|t| {
                                        let n = instances
                                            .iter()
                                            .filter(|i| i.oom_killed && i.last < t)
                                            .count();
                                        (t, n as f64)
                                    })
                                    .collect();
                                f(&Series {
                                    name: family,
                                    labels,
                                    samples,
                                });
                            }
                        }
                        "kube_pod_container_status_last_terminated_reason" => {
                            for (ci, instances) in pod.instances.iter().enumerate() {
                                let Some(kill) = instances.iter().find(|i| i.oom_killed) else {
                                    continue;
                                };
                                let mut labels = vec![("container", w.containers[ci].name.clone())];
                                labels.extend(ksm(w, pod));
                                labels.push(("reason", "OOMKilled".into()));
                                labels.sort();
                                f(&Series {
                                    name: family,
                                    labels,
                                    samples: grid(kill.last + self.interval, self.end)
                                        .map(|t| (t, 1.0))
                                        .collect(),
                                });
                            }
                        }
                        "kube_pod_owner" => {
                            let mut labels = ksm(w, pod);
                            labels.push(("owner_is_controller", "true".into()));
                            labels.push(("owner_kind", "ReplicaSet".into()));
                            labels.push(("owner_name", self.replicaset(w)));
                            labels.retain(|(k, _)| *k != "node");
                            labels.sort();
                            f(&Series {
                                name: family,
                                labels,
                                samples: pod_grid().map(|t| (t, 1.0)).collect(),
                            });
                        }
                        _ => {}
                    }
                }
                let first_pod = pods[wi].iter().map(|p| p.instances[0][0].first).min();
                let Some(first) = first_pod else { continue };
                let base = |extra: &[(&'static str, String)]| {
                    let mut l = vec![
                        ("instance", "10.244.0.5:8080".to_owned()),
                        ("job", "kube-state-metrics".to_owned()),
                        ("namespace", w.namespace.clone()),
                    ];
                    l.extend(extra.iter().cloned());
                    l.sort();
                    l
                };
                let constant = |labels, v: f64| Series {
                    name: family,
                    labels,
                    samples: grid(first, self.end).map(|t| (t, v)).collect(),
                };
                match (family, &w.hpa) {
                    ("kube_replicaset_owner", _) => f(&constant(
                        base(&[
                            ("owner_is_controller", "true".into()),
                            ("owner_kind", "Deployment".into()),
                            ("owner_name", w.name.clone()),
                            ("replicaset", self.replicaset(w)),
                        ]),
                        1.0,
                    )),
                    ("kube_horizontalpodautoscaler_spec_target_metric", Some(h)) => {
                        for (metric, target) in
                            [("cpu", h.cpu_utilization), ("memory", h.memory_utilization)]
                        {
                            let Some(target) = target else { continue };
                            f(&constant(
                                base(&[
                                    ("horizontalpodautoscaler", h.name.clone()),
                                    ("metric_name", metric.into()),
                                    ("metric_target_type", "utilization".into()),
                                ]),
                                target as f64,
                            ));
                        }
                    }
                    ("kube_horizontalpodautoscaler_spec_min_replicas", Some(h)) => f(&constant(
                        base(&[("horizontalpodautoscaler", h.name.clone())]),
                        h.min as f64,
                    )),
                    ("kube_horizontalpodautoscaler_spec_max_replicas", Some(h)) => f(&constant(
                        base(&[("horizontalpodautoscaler", h.name.clone())]),
                        h.max as f64,
                    )),
                    ("kube_horizontalpodautoscaler_status_current_replicas", Some(h)) => {
                        f(&constant(
                            base(&[("horizontalpodautoscaler", h.name.clone())]),
                            w.replicas.max(h.min) as f64,
                        ))
                    }
                    _ => {}
                }
            }
        }
    }

    /// Every series, in memory (for small histories: the test set).
    pub fn series(&self) -> Vec<Series> {
        let mut all = Vec::new();
        self.for_each_series(|s| all.push(s.clone()));
        all
    }

    /// The history as OpenMetrics text (ends with `# EOF`).
    pub fn openmetrics(&self) -> String {
        let mut out = Vec::new();
        self.write_openmetrics(&mut out).expect("writing to memory");
        String::from_utf8(out).expect("UTF-8")
    }

    /// Writes the history as OpenMetrics text; returns the number of
    /// samples.
    pub fn write_openmetrics(&self, out: &mut impl Write) -> io::Result<u64> {
        let mut chunks = Chunks::single(out);
        self.for_each_series(|s| chunks.add(s));
        chunks.finish()
    }

    /// Writes the history as OpenMetrics files of `chunk` seconds each
    /// (aligned to multiples of `chunk`; 7200 matches promtool's blocks, so
    /// each file makes one block and promtool reads each sample once) into
    /// `dir`; returns the files in time order and the number of samples and
    /// bytes.
    pub fn write_openmetrics_chunks(&self, dir: &Path, chunk: i64) -> io::Result<ChunkStats> {
        self.write_openmetrics_chunks_between(dir, chunk, i64::MIN, i64::MAX)
    }

    /// [`History::write_openmetrics_chunks`] for the samples in
    /// `[from, to)` only (a large history a day at a time: the values are
    /// made again for each call, the text only once).
    pub fn write_openmetrics_chunks_between(
        &self,
        dir: &Path,
        chunk: i64,
        from: i64,
        to: i64,
    ) -> io::Result<ChunkStats> {
        fs::create_dir_all(dir)?;
        let mut chunks = Chunks::split(dir, chunk);
        chunks.from = from;
        chunks.to = to;
        self.for_each_series(|s| chunks.add(s));
        chunks.finish_split()
    }
}

impl History {
    /// A real Prometheus holding this history: written in 2-hour files
    /// (into `options.dir`, else a fresh folder), loaded with promtool,
    /// the files removed once loaded.
    pub fn start_prometheus(
        &self,
        options: &crate::prometheus::Options,
    ) -> anyhow::Result<crate::prometheus::Prometheus> {
        let dir = options
            .dir
            .clone()
            .unwrap_or_else(|| crate::prometheus::fresh_dir("guardian-prometheus"));
        let chunks = dir.join("openmetrics");
        let stats = self.write_openmetrics_chunks(&chunks, crate::prometheus::BLOCK)?;
        let started = crate::prometheus::Prometheus::start_from_files(&stats.files, &dir, options);
        let _ = fs::remove_dir_all(&chunks);
        started
    }
}

/// What [`History::write_openmetrics_chunks`] wrote.
#[derive(Debug, Default)]
pub struct ChunkStats {
    pub files: Vec<PathBuf>,
    pub samples: u64,
    pub series: u64,
    pub bytes: u64,
}

/// OpenMetrics writers: one output, or one file per time chunk (each
/// writes a family's `# TYPE` line before its first sample there).
struct Chunks<'a> {
    single: Option<&'a mut dyn Write>,
    dir: PathBuf,
    chunk: i64,
    files: BTreeMap<i64, (BufWriter<fs::File>, &'static str)>,
    family: &'static str,
    samples: u64,
    series: u64,
    line: String,
    /// Only the samples in `[from, to)` (split files only).
    from: i64,
    to: i64,
    error: Option<io::Error>,
}

impl<'a> Chunks<'a> {
    fn single(out: &'a mut dyn Write) -> Chunks<'a> {
        Chunks {
            single: Some(out),
            dir: PathBuf::new(),
            chunk: i64::MAX,
            files: BTreeMap::new(),
            family: "",
            samples: 0,
            series: 0,
            line: String::new(),
            from: i64::MIN,
            to: i64::MAX,
            error: None,
        }
    }

    fn split(dir: &Path, chunk: i64) -> Chunks<'a> {
        Chunks {
            dir: dir.to_path_buf(),
            chunk,
            ..Chunks::single_none()
        }
    }

    fn single_none() -> Chunks<'a> {
        Chunks {
            single: None,
            dir: PathBuf::new(),
            chunk: i64::MAX,
            files: BTreeMap::new(),
            family: "",
            samples: 0,
            series: 0,
            line: String::new(),
            from: i64::MIN,
            to: i64::MAX,
            error: None,
        }
    }

    fn type_line(name: &'static str) -> String {
        let (family, kind, _) = FAMILIES
            .iter()
            .find(|(_, _, sample)| *sample == name)
            .expect("a known family");
        format!("# TYPE {family} {kind}\n")
    }

    fn add(&mut self, s: &Series) {
        if self.error.is_some() || s.samples.is_empty() {
            return;
        }
        self.series += 1;
        let mut head = String::new();
        s.write_labels(&mut head);
        if let Some(out) = self.single.as_mut() {
            let mut text = String::new();
            if self.family != s.name {
                self.family = s.name;
                text.push_str(&Self::type_line(s.name));
            }
            for &(t, v) in &s.samples {
                let _ = writeln!(text, "{head} {v} {t}");
            }
            self.samples += s.samples.len() as u64;
            if let Err(e) = out.write_all(text.as_bytes()) {
                self.error = Some(e);
            }
            return;
        }
        let lo = s.samples.partition_point(|&(t, _)| t < self.from);
        let hi = s.samples.partition_point(|&(t, _)| t < self.to);
        if lo == hi {
            return;
        }
        for &(t, v) in &s.samples[lo..hi] {
            let key = t.div_euclid(self.chunk);
            if !self.files.contains_key(&key) {
                let path = self.dir.join(format!("{:012}.om.txt", key * self.chunk));
                match fs::File::create(&path) {
                    Ok(f) => {
                        self.files
                            .insert(key, (BufWriter::with_capacity(1 << 20, f), ""));
                    }
                    Err(e) => {
                        self.error = Some(e);
                        return;
                    }
                }
            }
            let (file, family) = self.files.get_mut(&key).expect("just made");
            self.line.clear();
            if *family != s.name {
                *family = s.name;
                self.line.push_str(&Self::type_line(s.name));
            }
            let _ = writeln!(self.line, "{head} {v} {t}");
            if let Err(e) = file.write_all(self.line.as_bytes()) {
                self.error = Some(e);
                return;
            }
        }
        self.samples += (hi - lo) as u64;
    }

    fn finish(mut self) -> io::Result<u64> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        if let Some(out) = self.single.as_mut() {
            out.write_all(b"# EOF\n")?;
            out.flush()?;
        }
        Ok(self.samples)
    }

    fn finish_split(mut self) -> io::Result<ChunkStats> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let mut stats = ChunkStats {
            samples: self.samples,
            series: self.series,
            ..ChunkStats::default()
        };
        for (key, (mut file, _)) in std::mem::take(&mut self.files) {
            file.write_all(b"# EOF\n")?;
            file.flush()?;
            let path = self.dir.join(format!("{:012}.om.txt", key * self.chunk));
            stats.bytes += fs::metadata(&path)?.len();
            stats.files.push(path);
        }
        Ok(stats)
    }
}

// ---------------------------------------------------------------- objects

fn quantity_m(m: u32) -> String {
    format!("{m}m")
}

fn quantity_bytes(b: u64) -> String {
    if b.is_multiple_of(MI) {
        format!("{}Mi", b / MI)
    } else {
        b.to_string()
    }
}

fn rfc3339(t: i64) -> String {
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let days = t.div_euclid(DAY);
    let secs = t.rem_euclid(DAY);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

impl History {
    /// The Kubernetes objects of the workloads, with statuses as their
    /// controllers and kubelets would have written them: per workload its
    /// Deployment, ReplicaSet, Pods (owner references, container statuses
    /// with restarts and `lastState.terminated.reason: OOMKilled`) and
    /// HorizontalPodAutoscaler (`autoscaling/v2`).
    pub fn objects(&self) -> Vec<Value> {
        let mut out = Vec::new();
        for w in &self.workloads {
            let rs = self.replicaset(w);
            let hash = pod_template_hash(w.seed);
            let deploy_uid = uuid(&[w.seed, 1_000_001]);
            let rs_uid = uuid(&[w.seed, 1_000_002]);
            let created = rfc3339(self.end - w.age - 3600);
            let labels = json!({"app.kubernetes.io/name": w.name});
            let pod_labels = json!({"app.kubernetes.io/name": w.name, "pod-template-hash": hash});
            let containers: Vec<Value> = w
                .containers
                .iter()
                .map(|c| {
                    let r = &c.resources;
                    let mut requests = serde_json::Map::new();
                    let mut limits = serde_json::Map::new();
                    if let Some(m) = r.cpu_request_m {
                        requests.insert("cpu".into(), quantity_m(m).into());
                    }
                    if let Some(b) = r.memory_request {
                        requests.insert("memory".into(), quantity_bytes(b).into());
                    }
                    if let Some(m) = r.cpu_limit_m {
                        limits.insert("cpu".into(), quantity_m(m).into());
                    }
                    if let Some(b) = r.memory_limit {
                        limits.insert("memory".into(), quantity_bytes(b).into());
                    }
                    json!({
                        "name": c.name,
                        "image": c.image,
                        "imagePullPolicy": "IfNotPresent",
                        "resources": {"requests": requests, "limits": limits},
                        "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File",
                    })
                })
                .collect();
            let template = json!({
                "metadata": {"labels": pod_labels},
                "spec": {"containers": containers, "restartPolicy": "Always",
                         "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                         "schedulerName": "default-scheduler", "securityContext": {}},
            });
            let replicas = w.hpa.as_ref().map_or(w.replicas, |h| w.replicas.max(h.min));
            out.push(json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": w.name, "namespace": w.namespace, "uid": deploy_uid,
                    "labels": labels, "creationTimestamp": created, "generation": 1,
                    "annotations": {"deployment.kubernetes.io/revision": "1"},
                },
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": labels},
                    "template": template,
                    "strategy": {"type": "RollingUpdate",
                                 "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
                    "revisionHistoryLimit": 10, "progressDeadlineSeconds": 600,
                },
                "status": {
                    "observedGeneration": 1, "replicas": replicas, "updatedReplicas": replicas,
                    "readyReplicas": replicas, "availableReplicas": replicas,
                    "conditions": [
                        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                         "message": "Deployment has minimum availability.",
                         "lastTransitionTime": created, "lastUpdateTime": created},
                        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                         "message": format!("ReplicaSet \"{rs}\" has successfully progressed."),
                         "lastTransitionTime": created, "lastUpdateTime": created},
                    ],
                },
            }));
            let mut rs_template = template.clone();
            rs_template["metadata"]["labels"]["pod-template-hash"] = hash.clone().into();
            out.push(json!({
                "apiVersion": "apps/v1",
                "kind": "ReplicaSet",
                "metadata": {
                    "name": rs, "namespace": w.namespace, "uid": rs_uid,
                    "labels": pod_labels, "creationTimestamp": created, "generation": 1,
                    "annotations": {"deployment.kubernetes.io/desired-replicas": replicas.to_string(),
                                    "deployment.kubernetes.io/max-replicas": (replicas + 1).to_string(),
                                    "deployment.kubernetes.io/revision": "1"},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": w.name,
                                         "uid": deploy_uid, "controller": true, "blockOwnerDeletion": true}],
                },
                "spec": {"replicas": replicas,
                         "selector": {"matchLabels": pod_labels},
                         "template": rs_template},
                "status": {"replicas": replicas, "fullyLabeledReplicas": replicas, "readyReplicas": replicas,
                           "availableReplicas": replicas, "observedGeneration": 1},
            }));
            for pod in self.pods(w) {
                let statuses: Vec<Value> = w
                    .containers
                    .iter()
                    .zip(&pod.instances)
                    .map(|(c, instances)| {
                        let current = instances.last().expect("an instance");
                        let mut s = json!({
                            "name": c.name, "image": c.image,
                            "imageID": format!("{}@sha256:{}", c.image.split(':').next().unwrap_or(""),
                                               hex64(&[w.seed, 5])),
                            "containerID": format!("containerd://{}", current.id),
                            "ready": true, "started": true,
                            "restartCount": instances.len() - 1,
                            "state": {"running": {"startedAt": rfc3339(current.started_at)}},
                            "lastState": {},
                        });
                        if instances.len() > 1 {
                            let before = &instances[instances.len() - 2];
                            s["lastState"] = json!({"terminated": {
                                "exitCode": 137, "reason": "OOMKilled",
                                "containerID": format!("containerd://{}", before.id),
                                "startedAt": rfc3339(before.started_at),
                                "finishedAt": rfc3339(current.started_at - 1),
                            }});
                        }
                        s
                    })
                    .collect();
                let started = rfc3339(pod.started_at);
                let mut spec = template["spec"].clone();
                spec["nodeName"] = pod.node.clone().into();
                out.push(json!({
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": pod.name, "namespace": w.namespace, "uid": pod.uid,
                        "labels": pod_labels, "creationTimestamp": started,
                        "generateName": format!("{rs}-"),
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs,
                                             "uid": rs_uid, "controller": true, "blockOwnerDeletion": true}],
                    },
                    "spec": spec,
                    "status": {
                        "phase": "Running", "qosClass": "Burstable",
                        "hostIP": node_ip(&pod.node), "podIP": pod.ip,
                        "podIPs": [{"ip": pod.ip}],
                        "startTime": started,
                        "conditions": [
                            {"type": "Initialized", "status": "True", "lastTransitionTime": started},
                            {"type": "Ready", "status": "True", "lastTransitionTime": started},
                            {"type": "ContainersReady", "status": "True", "lastTransitionTime": started},
                            {"type": "PodScheduled", "status": "True", "lastTransitionTime": started},
                        ],
                        "containerStatuses": statuses,
                    },
                }));
            }
            if let Some(h) = &w.hpa {
                let mut metrics = Vec::new();
                let mut current = Vec::new();
                let mut missing_request = "";
                for (name, target) in [("cpu", h.cpu_utilization), ("memory", h.memory_utilization)]
                {
                    let Some(target) = target else { continue };
                    metrics.push(json!({"type": "Resource", "resource": {"name": name,
                        "target": {"type": "Utilization", "averageUtilization": target}}}));
                    let c = &w.containers[0];
                    let (use_, req) = if name == "cpu" {
                        (c.usage.cpu_m, c.resources.cpu_request_m.map(f64::from))
                    } else {
                        (c.usage.memory, c.resources.memory_request.map(|b| b as f64))
                    };
                    match req {
                        Some(req) => current.push(json!({"type": "Resource", "resource": {"name": name,
                            "current": {"averageUtilization": (use_ / req * 100.0).round() as u64}}})),
                        None => missing_request = name,
                    }
                }
                let first_pod = self
                    .pods(w)
                    .first()
                    .map(|p| p.name.clone())
                    .unwrap_or_default();
                out.push(json!({
                    "apiVersion": "autoscaling/v2",
                    "kind": "HorizontalPodAutoscaler",
                    "metadata": {"name": h.name, "namespace": w.namespace,
                                 "uid": uuid(&[w.seed, 1_000_003]), "creationTimestamp": created},
                    "spec": {
                        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": w.name},
                        "minReplicas": h.min, "maxReplicas": h.max, "metrics": metrics,
                    },
                    "status": {
                        "currentReplicas": replicas, "desiredReplicas": replicas,
                        "currentMetrics": current,
                        "conditions": [
                            {"type": "AbleToScale", "status": "True", "reason": "ReadyForNewScale",
                             "lastTransitionTime": created},
                            if missing_request.is_empty() {
                                json!({"type": "ScalingActive", "status": "True",
                                       "reason": "ValidMetricFound", "lastTransitionTime": created})
                            } else {
                                json!({"type": "ScalingActive", "status": "False",
                                       "reason": "FailedGetResourceMetric", "lastTransitionTime": created,
                                       "message": format!("the HPA was unable to compute the replica \
                                           count: failed to get {missing_request} utilization: missing \
                                           request for {missing_request} in container {} of Pod {}",
                                           w.containers[0].name, first_pod)})
                            },
                            if replicas >= h.max {
                                json!({"type": "ScalingLimited", "status": "True",
                                       "reason": "TooManyReplicas", "lastTransitionTime": created,
                                       "message": "the desired replica count is more than the maximum \
                                                   replica count"})
                            } else {
                                json!({"type": "ScalingLimited", "status": "False",
                                       "reason": "DesiredWithinRange", "lastTransitionTime": created})
                            },
                        ],
                    },
                }));
            }
        }
        out
    }

    /// [`History::objects`] as multi-document YAML.
    pub fn to_manifests(&self) -> String {
        let mut out = String::new();
        for o in self.objects() {
            out.push_str("---\n");
            out.push_str(&serde_yaml::to_string(&o).expect("YAML"));
        }
        out
    }

    /// Writes [`History::objects`] as a snapshot folder Guardian loads: one
    /// `<namespace>.yaml` of `kubectl get -o yaml` documents per namespace.
    pub fn write_snapshot(&self, dir: &Path) -> io::Result<()> {
        fs::create_dir_all(dir)?;
        let mut per_ns: BTreeMap<String, String> = BTreeMap::new();
        for o in self.objects() {
            let ns = o["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_owned();
            let text = per_ns.entry(ns).or_default();
            text.push_str("---\n");
            text.push_str(&serde_yaml::to_string(&o).map_err(io::Error::other)?);
        }
        for (ns, text) in per_ns {
            fs::write(dir.join(format!("{ns}.yaml")), text)?;
        }
        Ok(())
    }

    /// Creates [`History::objects`] in the real API server, statuses
    /// included (the namespaces must exist: make the history with the
    /// names [`crate::kube::ControlPlane::namespace`] gave).
    pub fn apply_to(&self, k: &crate::kube::ControlPlane) {
        let objects = self.objects();
        for ns in self.namespaces() {
            let mine: Vec<Value> = objects
                .iter()
                .filter(|o| o["metadata"]["namespace"] == ns.as_str())
                .cloned()
                .collect();
            k.create_objects(&ns, &ns, &mine, false);
        }
    }
}

// --------------------------------------------------- expected recommendations

/// How Prometheus evaluates the queries the expectations stand for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Eval {
    /// Evaluation time (Unix seconds).
    pub at: i64,
    /// The subquery range (`14d`).
    pub window: i64,
    /// The subquery step and the `rate()` range (`5m`).
    pub step: i64,
    /// Percentile of CPU (0–100).
    pub cpu_percentile: f64,
    /// Memory buffer, percent.
    pub memory_buffer_percent: f64,
    /// Fewer points than this: not enough data.
    pub min_points: u64,
}

impl Eval {
    /// The contract's defaults at `at`: 14 days, 5-minute steps, p95,
    /// +15%, 100 points.
    pub fn at(at: i64) -> Eval {
        Eval {
            at,
            window: 14 * DAY,
            step: 300,
            cpu_percentile: 95.0,
            memory_buffer_percent: 15.0,
            min_points: 100,
        }
    }

    /// The subquery's step times: multiples of `step` in
    /// `[at - window, at]`.
    pub fn steps(&self) -> impl Iterator<Item = i64> + '_ {
        let from = self.at - self.window;
        let first = from + (self.step - from.rem_euclid(self.step)) % self.step;
        (first..=self.at).step_by(self.step as usize)
    }
}

/// The latest sample of `s` in `[t - lookback, t]`.
pub fn instant(s: &[(i64, f64)], t: i64, lookback: i64) -> Option<f64> {
    let i = s.partition_point(|&(ts, _)| ts <= t);
    (i > 0 && s[i - 1].0 >= t - lookback).then(|| s[i - 1].1)
}

/// `rate(s[range])` at `t` as Prometheus 2.x computes it
/// (`extrapolatedRate`): the samples in `[t - range, t]`, counter resets
/// added back, extrapolated to the range's edges when the first/last
/// sample is within 1.1 average intervals of them (never below zero).
pub fn rate(s: &[(i64, f64)], t: i64, range: i64) -> Option<f64> {
    let lo = s.partition_point(|&(ts, _)| ts < t - range);
    let hi = s.partition_point(|&(ts, _)| ts <= t);
    let w = &s[lo..hi];
    if w.len() < 2 {
        return None;
    }
    let mut result = w[w.len() - 1].1 - w[0].1;
    for pair in w.windows(2) {
        if pair[1].1 < pair[0].1 {
            result += pair[0].1;
        }
    }
    let (first, last) = (w[0], w[w.len() - 1]);
    let range_start = (t - range) as f64;
    let range_end = t as f64;
    let mut to_start = first.0 as f64 - range_start;
    let to_end = range_end - last.0 as f64;
    let sampled = (last.0 - first.0) as f64;
    let avg = sampled / (w.len() - 1) as f64;
    if result > 0.0 && first.1 >= 0.0 {
        let to_zero = sampled * (first.1 / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    let threshold = avg * 1.1;
    let mut interval = sampled;
    interval += if to_start < threshold {
        to_start
    } else {
        avg / 2.0
    };
    interval += if to_end < threshold {
        to_end
    } else {
        avg / 2.0
    };
    Some(result * (interval / sampled) / range as f64)
}

/// `quantile` as PromQL computes it: linear between the ranks around
/// `q * (n - 1)`.
pub fn quantile(q: f64, values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    Some(v[lower as usize] * (1.0 - weight) + v[upper as usize] * weight)
}

/// What KRR's simple strategy says for one resource.
#[derive(Clone, Debug, PartialEq)]
pub enum Advice {
    /// A value: cores for CPU, bytes for memory (after KRR's rounding up
    /// to 1m / 1 MiB and its minimums 10m / 100 MiB).
    Value(f64),
    /// Fewer points than required.
    NotEnoughData,
    /// An HPA targets this resource (KRR gives no advice without
    /// `--allow-hpa`).
    HpaDetected,
    /// No series at all.
    NoData,
}

/// What KRR's simple strategy (v1.29, defaults but the step) recommends.
#[derive(Clone, Debug, PartialEq)]
pub struct Krr {
    /// CPU request (no limit).
    pub cpu: Advice,
    /// Memory request = limit.
    pub memory: Advice,
}

/// What Guardian must recommend (raw values; its own rounding is its own).
#[derive(Clone, Debug, PartialEq)]
pub struct GuardianExpected {
    /// `ok` or `not_enough_data`.
    pub status: &'static str,
    /// CPU request, millicores: max over pods of the per-pod percentile,
    /// at least 10.
    pub cpu_request_m: Option<f64>,
    /// Memory request = limit, bytes: the peak + buffer, or for a censored
    /// peak (OOMKilled, or peak >= 95% of the limit) the larger of that and
    /// the limit × 1.25; at least 100 MiB.
    pub memory_bytes: Option<f64>,
    /// The memory recommendation may not be below this (the current limit,
    /// for a container that is OOMKilled or pinned at its limit).
    pub memory_floor: Option<f64>,
    /// Peak >= 95% of the limit.
    pub memory_at_limit: bool,
    /// An HPA scales on CPU only while memory is >= 90% of its limit: a
    /// warning proposing a memory metric on the HPA or a higher limit.
    pub hpa_memory_proposal: bool,
    /// An HPA on the workload runs at its maxReplicas: a warning.
    pub hpa_at_max: bool,
    /// An HPA scales on a resource the container does not request: a
    /// warning (its utilization cannot be computed).
    pub hpa_target_without_request: bool,
}

/// The expected recommendation for one container of one workload.
#[derive(Clone, Debug, PartialEq)]
pub struct Expected {
    pub namespace: String,
    pub kind: &'static str,
    pub workload: String,
    pub container: String,
    pub shape: Shape,
    /// Pods with samples in the window.
    pub pods: usize,
    /// Sum over pods of `count_over_time(max by (pod, container)
    /// (container_cpu_usage_seconds_total)[window:step])`.
    pub points: u64,
    /// Max over pods of the per-pod percentile of `rate(...[step])` at the
    /// steps, cores.
    pub cpu_percentile_cores: Option<f64>,
    /// Max over pods of `max_over_time(max by (pod, container)
    /// (container_memory_working_set_bytes)[window:step])`, bytes.
    pub memory_peak_bytes: Option<f64>,
    /// Per pod (name, its percentile, its peak): what the per-namespace
    /// queries return before the max over pods.
    pub per_pod: Vec<(String, Option<f64>, Option<f64>)>,
    /// OOM kills in the window (all pods).
    pub oom_kills: u32,
    pub current: Resources,
    pub hpa_cpu: bool,
    pub hpa_memory: bool,
    pub krr: Krr,
    pub guardian: GuardianExpected,
}

impl History {
    /// The expected recommendations with the contract's defaults at the
    /// history's end.
    pub fn expected(&self) -> Vec<Expected> {
        self.expected_at(&Eval::at(self.end))
    }

    /// The expected recommendations per workload container, computed from
    /// the samples [`History::for_each_series`] writes with Prometheus'
    /// semantics ([`Eval`]).
    pub fn expected_at(&self, e: &Eval) -> Vec<Expected> {
        // (namespace, pod, container) -> the CPU / memory series of its
        // instances.
        type Key = (String, String, String);
        let mut cpu: BTreeMap<Key, Vec<Vec<(i64, f64)>>> = BTreeMap::new();
        let mut mem: BTreeMap<Key, Vec<Vec<(i64, f64)>>> = BTreeMap::new();
        self.for_each_series(|s| {
            let map = match s.name {
                "container_cpu_usage_seconds_total" => &mut cpu,
                "container_memory_working_set_bytes" => &mut mem,
                _ => return,
            };
            let c = s.label("container");
            if c.is_empty() || c == "POD" {
                return;
            }
            let key = (
                s.label("namespace").to_owned(),
                s.label("pod").to_owned(),
                c.to_owned(),
            );
            map.entry(key).or_default().push(s.samples.clone());
        });
        let steps: Vec<i64> = e.steps().collect();
        let mut out = Vec::new();
        for w in &self.workloads {
            let pods = self.pods(w);
            for (ci, c) in w.containers.iter().enumerate() {
                let mut points = 0u64;
                let mut per_pod = Vec::new();
                let mut oom_kills = 0u32;
                for pod in &pods {
                    oom_kills += pod.instances[ci]
                        .iter()
                        .filter(|i| i.oom_killed && i.last > e.at - e.window && i.last < e.at)
                        .count() as u32;
                    let key = (w.namespace.clone(), pod.name.clone(), c.name.clone());
                    let empty = Vec::new();
                    let cpu_series = cpu.get(&key).unwrap_or(&empty);
                    let mem_series = mem.get(&key).unwrap_or(&empty);
                    let mut rates = Vec::new();
                    let mut peak: Option<f64> = None;
                    let mut present = 0u64;
                    for &t in &steps {
                        let counters: Vec<f64> = cpu_series
                            .iter()
                            .filter_map(|s| instant(s, t, LOOKBACK))
                            .collect();
                        if !counters.is_empty() {
                            present += 1;
                        }
                        if let Some(r) = cpu_series
                            .iter()
                            .filter_map(|s| rate(s, t, e.step))
                            .max_by(f64::total_cmp)
                        {
                            rates.push(r);
                        }
                        if let Some(m) = mem_series
                            .iter()
                            .filter_map(|s| instant(s, t, LOOKBACK))
                            .max_by(f64::total_cmp)
                        {
                            peak = Some(peak.map_or(m, |p: f64| p.max(m)));
                        }
                    }
                    if present == 0 && peak.is_none() {
                        continue;
                    }
                    points += present;
                    let q = ((e.cpu_percentile / 100.0) * 100.0).round() / 100.0;
                    per_pod.push((pod.name.clone(), quantile(q, &rates), peak));
                }
                let cpu_p = per_pod.iter().filter_map(|p| p.1).max_by(f64::total_cmp);
                let peak = per_pod.iter().filter_map(|p| p.2).max_by(f64::total_cmp);
                let hpa_cpu = w.hpa.as_ref().is_some_and(|h| h.cpu_utilization.is_some());
                let hpa_memory = w
                    .hpa
                    .as_ref()
                    .is_some_and(|h| h.memory_utilization.is_some());
                let enough = points >= e.min_points;
                let buffer = 1.0 + e.memory_buffer_percent / 100.0;
                let krr_cpu = match cpu_p {
                    None => Advice::NoData,
                    Some(_) if !enough => Advice::NotEnoughData,
                    Some(_) if hpa_cpu => Advice::HpaDetected,
                    Some(v) => Advice::Value(((v * 1000.0).ceil() / 1000.0).max(0.010)),
                };
                let krr_memory = match peak {
                    None => Advice::NoData,
                    Some(_) if !enough => Advice::NotEnoughData,
                    Some(_) if hpa_memory => Advice::HpaDetected,
                    Some(v) => Advice::Value(((v * buffer / MIB).ceil() * MIB).max(100.0 * MIB)),
                };
                let limit = c.resources.memory_limit.map(|l| l as f64);
                let at_limit = matches!((peak, limit), (Some(p), Some(l)) if p >= 0.95 * l);
                let censored = at_limit || oom_kills > 0;
                let memory_floor = if censored { limit } else { None };
                let memory = peak.filter(|_| enough).map(|p| {
                    let mut m = p * buffer;
                    if let (true, Some(l)) = (censored, limit) {
                        m = m.max(l * 1.25);
                    }
                    m.max(100.0 * MIB)
                });
                let hpa_memory_proposal = hpa_cpu
                    && !hpa_memory
                    && matches!((peak, limit), (Some(p), Some(l)) if p >= 0.90 * l);
                out.push(Expected {
                    namespace: w.namespace.clone(),
                    kind: "Deployment",
                    workload: w.name.clone(),
                    container: c.name.clone(),
                    shape: w.shape,
                    pods: per_pod.len(),
                    points,
                    cpu_percentile_cores: cpu_p,
                    memory_peak_bytes: peak,
                    per_pod,
                    oom_kills,
                    current: c.resources.clone(),
                    hpa_cpu,
                    hpa_memory,
                    krr: Krr {
                        cpu: krr_cpu,
                        memory: krr_memory,
                    },
                    guardian: GuardianExpected {
                        status: if enough { "ok" } else { "not_enough_data" },
                        cpu_request_m: cpu_p.filter(|_| enough).map(|v| (v * 1000.0).max(10.0)),
                        memory_bytes: memory,
                        memory_floor,
                        memory_at_limit: at_limit,
                        hpa_memory_proposal,
                        hpa_at_max: w.hpa.as_ref().is_some_and(|h| w.replicas >= h.max),
                        hpa_target_without_request: (hpa_cpu
                            && c.resources.cpu_request_m.is_none())
                            || (hpa_memory && c.resources.memory_request.is_none()),
                    },
                });
            }
        }
        out
    }
}

/// The per-namespace queries of the contract (one per metric, aggregated
/// by namespace, pod and container), for `namespace` with `window` and
/// `step` as Prometheus durations and `q` the CPU quantile (0–1).
pub fn queries(namespace: &str, window: &str, step: &str, q: f64) -> [(&'static str, String); 3] {
    let sel =
        |m: &str| format!("{m}{{namespace=\"{namespace}\",container!=\"\",container!=\"POD\"}}");
    [
        (
            "cpu",
            format!(
                "quantile_over_time({q}, max by (namespace, pod, container) (rate({}[{step}]))[{window}:{step}])",
                sel("container_cpu_usage_seconds_total")
            ),
        ),
        (
            "memory",
            format!(
                "max_over_time(max by (namespace, pod, container) ({})[{window}:{step}])",
                sel("container_memory_working_set_bytes")
            ),
        ),
        (
            "points",
            format!(
                "count_over_time(max by (namespace, pod, container) ({})[{window}:{step}])",
                sel("container_cpu_usage_seconds_total")
            ),
        ),
    ]
}

// ------------------------------------------------------------ shared set

/// The test set loaded everywhere a test needs it, once per test binary:
/// its history, a real Prometheus holding it, the same workloads as a
/// snapshot folder and, when the real API server is there, as objects in it.
#[derive(Debug)]
pub struct Standard {
    pub history: History,
    pub prometheus: &'static crate::prometheus::Prometheus,
    /// The workloads' namespace: a fresh one of the real API server when it
    /// is there (`shop-<pid>-<n>`), else `shop`.
    pub namespace: String,
    /// A snapshot folder of the workloads (`<namespace>.yaml`), removed
    /// when the process exits.
    pub snapshot: PathBuf,
    /// The real API server holding the workloads, when it is there.
    pub live: Option<&'static crate::kube::ControlPlane>,
}

/// The shared [`Standard`] set ending when first asked for (now, rounded
/// down to 5 minutes). `None` (after printing why) when Prometheus is not
/// available; panics when it is but does not start.
pub fn standard() -> Option<&'static Standard> {
    static STANDARD: std::sync::OnceLock<Option<Standard>> = std::sync::OnceLock::new();
    if !crate::prometheus::Prometheus::available() {
        return None;
    }
    STANDARD
        .get_or_init(|| {
            let live = crate::kube::control_plane();
            let namespace = live.map_or_else(|| "shop".to_owned(), |k| k.namespace("shop"));
            let history = History::standard_now(&namespace);
            let prometheus = crate::prometheus::shared_with("rightsizing-standard", || {
                history.start_prometheus(&Default::default())
            })?;
            let snapshot = prometheus.dir().join("snapshot");
            history
                .write_snapshot(&snapshot)
                .unwrap_or_else(|e| panic!("{}: {e}", snapshot.display()));
            if let Some(k) = live {
                history.apply_to(k);
            }
            Some(Standard {
                history,
                prometheus,
                namespace,
                snapshot,
                live,
            })
        })
        .as_ref()
}

// ------------------------------------------------------------- names, noise

/// The current time, Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// SplitMix64 over the words: a deterministic hash.
pub fn hash(words: &[u64]) -> u64 {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for &w in words {
        x ^= w
            .wrapping_add(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(x << 6)
            .wrapping_add(x >> 2);
        let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x = z ^ (z >> 31);
    }
    x
}

/// A hash as a number in `[0, 1)`.
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// The alphabet of Kubernetes' generated names (no vowels, no 0/1/3).
const SAFE: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

fn safe_chars(mut h: u64, n: usize) -> String {
    (0..n)
        .map(|_| {
            let c = SAFE[(h % SAFE.len() as u64) as usize] as char;
            h /= SAFE.len() as u64;
            c
        })
        .collect()
}

/// A `pod-template-hash` (10 characters).
pub fn pod_template_hash(seed: u64) -> String {
    safe_chars(hash(&[seed, 0xC0FFEE]), 10)
}

fn pod_suffix(h: u64) -> String {
    safe_chars(h, 5)
}

fn hex64(words: &[u64]) -> String {
    (0..4)
        .map(|i| format!("{:016x}", hash(&[hash(words), i])))
        .collect()
}

fn uuid(words: &[u64]) -> String {
    let h = format!("{:016x}{:016x}", hash(words), hash(&[hash(words), 1]));
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn node_ip(node: &str) -> String {
    let n: u32 = node
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    format!("10.0.1.{}", 10 + n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const END: i64 = 1_800_000_000;

    #[test]
    fn the_same_history_writes_the_same_bytes_and_values_do_not_follow_the_clock() {
        let a = History::standard("shop", END);
        assert_eq!(
            a.openmetrics(),
            History::standard("shop", END).openmetrics()
        );
        // Ending a day later: the same values at the same distance from
        // the end.
        let b = History::standard("shop", END + DAY);
        let (sa, sb) = (a.series(), b.series());
        assert_eq!(sa.len(), sb.len());
        for (x, y) in sa.iter().zip(&sb) {
            let vx: Vec<f64> = x.samples.iter().map(|s| s.1).collect();
            let vy: Vec<f64> = y.samples.iter().map(|s| s.1).collect();
            assert_eq!(vx, vy, "{}", x.name);
            assert_eq!(x.samples[0].0 + DAY, y.samples[0].0);
        }
    }

    #[test]
    fn openmetrics_is_grouped_by_family_in_time_order_and_ends_with_eof() {
        let h = History::standard("shop", END);
        let text = h.openmetrics();
        assert!(text.ends_with("# EOF\n"));
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
        let mut unique = types.clone();
        unique.dedup();
        assert_eq!(types, unique, "each family once");
        for s in h.series() {
            assert!(s.samples.windows(2).all(|w| w[0].0 < w[1].0), "{s:?}");
            assert!(
                s.samples
                    .iter()
                    .all(|&(t, v)| t <= h.end && v.is_finite() && v >= 0.0)
            );
        }
    }

    #[test]
    fn the_shapes_look_as_their_names_say() {
        let h = History::standard("shop", END);
        let ex = h.expected();
        let get = |name: &str| {
            ex.iter()
                .find(|e| e.workload == name && e.container == "app")
                .unwrap()
        };
        let limit = |e: &Expected| e.current.memory_limit.unwrap() as f64;
        // Steady: three pods, under the request.
        let steady = get("catalog");
        assert_eq!(steady.pods, 3);
        assert!(steady.cpu_percentile_cores.unwrap() < 0.2);
        assert!(steady.points > 3 * 4000);
        // Spiky: p95 ignores the spikes.
        let spiky = get("search");
        assert!(spiky.cpu_percentile_cores.unwrap() < 0.2, "{spiky:?}");
        // Growing: the peak is near the end's level.
        let growing = get("ledger");
        assert!(growing.memory_peak_bytes.unwrap() > 650.0 * MIB);
        // OOM pinned: at the limit; OOM burst: far below it, still killed.
        let pinned = get("reports");
        assert!(pinned.guardian.memory_at_limit && pinned.oom_kills > 0);
        let burst = get("thumbnails");
        assert!(burst.memory_peak_bytes.unwrap() < 0.7 * limit(burst) && burst.oom_kills > 0);
        let Advice::Value(krr) = burst.krr.memory else {
            panic!("{burst:?}")
        };
        assert!(
            krr < limit(burst),
            "KRR lowers the limit of an OOMKilled container"
        );
        assert!(burst.guardian.memory_bytes.unwrap() >= limit(burst));
        // Too young: not enough data.
        let young = get("canary");
        assert!(young.points < 100 && young.points > 0);
        assert_eq!(young.krr.cpu, Advice::NotEnoughData);
        assert_eq!(young.guardian.status, "not_enough_data");
        // Idle: the minimums.
        let idle = get("legacy-admin");
        assert_eq!(idle.krr.cpu, Advice::Value(0.010));
        assert_eq!(idle.krr.memory, Advice::Value(100.0 * MIB));
        // Seed: memory at ~95% of the limit, HPA on CPU.
        let seed = get("checkout");
        let share = seed.memory_peak_bytes.unwrap() / limit(seed);
        assert!((0.95..0.97).contains(&share), "{share}");
        assert_eq!(seed.krr.cpu, Advice::HpaDetected);
        assert!(seed.guardian.hpa_memory_proposal);
        assert!(!seed.guardian.hpa_at_max && !seed.guardian.hpa_target_without_request);
        // HPA at its maximum, HPA without the request it divides by.
        let at_max = get("payments");
        assert!(at_max.guardian.hpa_at_max && !at_max.guardian.hpa_memory_proposal);
        assert_eq!(at_max.krr.cpu, Advice::HpaDetected);
        let no_request = get("recommender");
        assert!(no_request.guardian.hpa_target_without_request);
        assert_eq!(no_request.current.cpu_request_m, None);
    }

    #[test]
    fn rate_matches_prometheus_extrapolation() {
        // Aligned samples: exact.
        let s = [(0, 0.0), (300, 60.0), (600, 120.0)];
        assert_eq!(rate(&s, 600, 300), Some(0.2));
        // One sample: nothing.
        assert_eq!(rate(&s, 900, 300), None);
        // Samples 60 s apart, range 300 s ending 30 s after the last
        // sample and starting 30 s before the first: extrapolated by 30 s
        // at each end.
        let s: Vec<(i64, f64)> = (0..10).map(|i| (i * 60, (i + 1) as f64 * 6.0)).collect();
        let r = rate(&s, 270, 300).unwrap();
        assert!((r - 0.1).abs() < 1e-12, "{r}");
        // A counter reset adds the value before it back.
        let s = [(0, 50.0), (300, 10.0)];
        assert!(rate(&s, 300, 300).unwrap() > 0.0);
        assert_eq!(quantile(0.5, &[1.0, 2.0, 3.0, 4.0]), Some(2.5));
        assert_eq!(quantile(0.95, &[]), None);
    }

    #[test]
    fn objects_chain_pods_to_the_deployment() {
        let h = History::standard("shop", END);
        let objects = h.objects();
        let by_kind = |k: &'static str| objects.iter().filter(move |o| o["kind"] == k);
        assert_eq!(by_kind("Deployment").count(), 10);
        assert_eq!(by_kind("HorizontalPodAutoscaler").count(), 3);
        let hpa = |name: &str| {
            by_kind("HorizontalPodAutoscaler")
                .find(|h| h["metadata"]["name"] == name)
                .unwrap()
                .clone()
        };
        let limited = &hpa("payments")["status"]["conditions"][2];
        assert_eq!(limited["reason"], "TooManyReplicas");
        let active = &hpa("recommender")["status"]["conditions"][1];
        assert_eq!(active["status"], "False");
        assert!(
            active["message"]
                .as_str()
                .unwrap()
                .contains("missing request for cpu")
        );
        for pod in by_kind("Pod") {
            let owner = &pod["metadata"]["ownerReferences"][0];
            let rs = by_kind("ReplicaSet")
                .find(|r| r["metadata"]["uid"] == owner["uid"])
                .expect("the pod's ReplicaSet");
            let name = pod["metadata"]["name"].as_str().unwrap();
            assert!(name.starts_with(&format!("{}-", rs["metadata"]["name"].as_str().unwrap())));
            assert_eq!(
                name.len() - rs["metadata"]["name"].as_str().unwrap().len(),
                6
            );
        }
        let oom = by_kind("Pod")
            .find(|p| {
                p["metadata"]["name"]
                    .as_str()
                    .unwrap()
                    .starts_with("reports-")
            })
            .unwrap();
        assert_eq!(
            oom["status"]["containerStatuses"][0]["lastState"]["terminated"]["reason"],
            "OOMKilled"
        );
        assert!(h.to_manifests().contains("kind: HorizontalPodAutoscaler"));
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_800_000_000), "2027-01-15T08:00:00Z");
    }
}
