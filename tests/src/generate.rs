//! A large, realistic, deterministic cluster snapshot for load tests and
//! benchmarks.
//!
//! [`generate`] writes what `kubectl cluster-info dump --output-directory`
//! writes — `nodes.json`, and per namespace `pods.json`, `deployments.json`,
//! `replicasets.json`, `services.json`, `events.json`, `daemonsets.json`,
//! `replication-controllers.json` (typed lists whose items carry no
//! kind/apiVersion) and `<pod>/logs.txt` in the dump's block format — plus
//! `extra.json`, a `kind: List` with the ConfigMaps, Secrets, Endpoints and
//! HorizontalPodAutoscalers the pods and Deployments reference (what
//! `kubectl get configmaps,secrets,endpoints,hpa -A -o json` writes).
//!
//! Objects have the shape of `examples/staging`: Deployment → ReplicaSet →
//! Pod owner references with `pod-template-hash`, kubelet container statuses
//! with image digests, conditions, tolerations, the projected
//! `kube-api-access-*` volume, resources, probes, env from ConfigMaps and
//! Secrets, Services selecting the pods, Endpoints, Events and logs for every
//! pod (previous logs for restarted containers). JSON keys are sorted (the
//! loader does not care about order; `kubectl` writes Go struct order).
//!
//! `broken_percent` of the Deployments are broken, cycling through
//! [`Breakage::ALL`]. Everything derives from `seed`: the same [`Spec`]
//! always writes the same bytes.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{self, Write};
use std::path::Path;

use serde_json::{Value, json};

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct Spec {
    /// Pods in total (exactly).
    pub pods: usize,
    /// Deployments in total (exactly); pods are spread over them.
    pub deployments: usize,
    /// Namespaces; Deployments are spread over them.
    pub namespaces: usize,
    /// Share of Deployments that are broken, in percent (rounded to a whole
    /// number of Deployments).
    pub broken_percent: f64,
    /// Seed of the PRNG: same spec, same bytes.
    pub seed: u64,
}

impl Spec {
    /// The default shape for `pods` pods: 5 pods per Deployment, ~100 pods per
    /// namespace, 2% broken.
    pub fn for_pods(pods: usize) -> Spec {
        Spec {
            pods,
            deployments: (pods / 5).max(1),
            namespaces: (pods / 100).max(1),
            broken_percent: 2.0,
            seed: 1,
        }
    }

    /// Nodes: ~10 per 1,000 pods, at least 3.
    pub fn nodes(&self) -> usize {
        self.pods.div_ceil(100).max(3)
    }

    /// How many Deployments are broken.
    pub fn broken_deployments(&self) -> usize {
        let n = (self.deployments as f64 * self.broken_percent / 100.0).round();
        (n.max(0.0) as usize).min(self.deployments)
    }

    fn check(&self) -> io::Result<()> {
        let bad = |m: String| Err(io::Error::new(io::ErrorKind::InvalidInput, m));
        if self.deployments == 0 || self.pods < self.deployments {
            return bad(format!(
                "need 1 <= deployments <= pods (got {} deployments, {} pods)",
                self.deployments, self.pods
            ));
        }
        if self.namespaces == 0 || self.namespaces > self.deployments {
            return bad(format!(
                "need 1 <= namespaces <= deployments (got {} namespaces, {} deployments)",
                self.namespaces, self.deployments
            ));
        }
        if !(0.0..=100.0).contains(&self.broken_percent) {
            return bad(format!(
                "broken_percent must be within 0..=100 (got {})",
                self.broken_percent
            ));
        }
        Ok(())
    }
}

impl Default for Spec {
    fn default() -> Self {
        Spec::for_pods(5000)
    }
}

/// How a broken Deployment is broken. Each is one an analyzer detects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Breakage {
    /// CrashLoopBackOff: an env var comes from an optional ConfigMap key that
    /// is absent; the previous log says the variable is not set.
    MissingConfigKey,
    /// CreateContainerConfigError: a `secretKeyRef` names a key the Secret
    /// lacks (kubelet `Failed` events: `couldn't find key … in Secret …`).
    MissingSecretKey,
    /// Restarts with `lastState.terminated.reason: OOMKilled`, exit 137.
    OomKilled,
    /// ImagePullBackOff: a mistyped image tag that does not exist.
    ImagePullBackOff,
    /// The Service selector matches no pod; its Endpoints have no subsets.
    SelectorMismatch,
    /// The readiness probe targets a port nothing listens on.
    ReadinessWrongPort,
}

impl Breakage {
    /// Every kind, in the order broken Deployments cycle through them.
    pub const ALL: [Breakage; 6] = [
        Breakage::MissingConfigKey,
        Breakage::MissingSecretKey,
        Breakage::OomKilled,
        Breakage::ImagePullBackOff,
        Breakage::SelectorMismatch,
        Breakage::ReadinessWrongPort,
    ];

    /// A short name, e.g. `missing-config-key`.
    pub fn name(self) -> &'static str {
        match self {
            Breakage::MissingConfigKey => "missing-config-key",
            Breakage::MissingSecretKey => "missing-secret-key",
            Breakage::OomKilled => "oom-killed",
            Breakage::ImagePullBackOff => "image-pull-backoff",
            Breakage::SelectorMismatch => "service-selector-mismatch",
            Breakage::ReadinessWrongPort => "readiness-wrong-port",
        }
    }
}

impl fmt::Display for Breakage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What [`generate`] wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Files written.
    pub files: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Objects written, by kind.
    pub objects: BTreeMap<&'static str, usize>,
    /// Log blocks written (current and previous).
    pub log_blocks: usize,
    /// Broken Deployments, by kind of breakage.
    pub broken: BTreeMap<Breakage, usize>,
    pub namespaces: usize,
    pub nodes: usize,
}

impl Stats {
    /// Objects written, all kinds.
    pub fn total_objects(&self) -> usize {
        self.objects.values().sum()
    }

    /// Broken Deployments, all kinds.
    pub fn total_broken(&self) -> usize {
        self.broken.values().sum()
    }

    fn add(&mut self, kind: &'static str, n: usize) {
        if n == 0 {
            return;
        }
        *self.objects.entry(kind).or_default() += n;
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} objects, {} log blocks, {} files, {} bytes ({:.1} MiB), {} namespaces, {} nodes",
            self.total_objects(),
            self.log_blocks,
            self.files,
            self.bytes,
            self.bytes as f64 / (1024.0 * 1024.0),
            self.namespaces,
            self.nodes
        )?;
        let kinds: Vec<String> = self
            .objects
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        writeln!(f, "  objects: {}", kinds.join(", "))?;
        let broken: Vec<String> = self
            .broken
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        write!(
            f,
            "  broken deployments: {} ({})",
            self.total_broken(),
            if broken.is_empty() {
                "none".to_string()
            } else {
                broken.join(", ")
            }
        )
    }
}

/// Write the snapshot for `spec` into `dir` (created if needed; existing
/// files of the same names are overwritten).
pub fn generate(dir: &Path, spec: &Spec) -> io::Result<Stats> {
    spec.check()?;
    fs::create_dir_all(dir)?;
    let mut g = Gen {
        rng: Rng::new(spec.seed),
        out: Out {
            root: dir,
            stats: Stats::default(),
        },
        rv: 4_000_000,
        service_ips: 0,
        nodes: Vec::new(),
    };
    g.out.stats.namespaces = spec.namespaces;
    g.nodes_json(spec.nodes())?;

    let plan = plan(spec, &mut g.rng);
    let mut extra = ListWriter::create(dir.join("extra.json"))?;
    for (ns, apps) in plan {
        g.namespace(&ns, &apps, &mut extra)?;
    }
    let (files, bytes) = extra.finish()?;
    g.out.stats.files += files;
    g.out.stats.bytes += bytes;
    Ok(g.out.stats)
}

// ------------------------------------------------------------------ planning

/// One Deployment to write.
struct AppPlan {
    name: String,
    replicas: usize,
    breakage: Option<Breakage>,
}

fn plan(spec: &Spec, rng: &mut Rng) -> Vec<(String, Vec<AppPlan>)> {
    // Replicas: even split, then random one-pod moves for variety (1..=~2x).
    let mut replicas = vec![spec.pods / spec.deployments; spec.deployments];
    for r in replicas.iter_mut().take(spec.pods % spec.deployments) {
        *r += 1;
    }
    let avg = spec.pods / spec.deployments;
    for _ in 0..spec.deployments {
        let from = rng.below(spec.deployments);
        let to = rng.below(spec.deployments);
        if replicas[from] > 1 && replicas[to] < avg * 2 + 1 {
            replicas[from] -= 1;
            replicas[to] += 1;
        }
    }
    // Which Deployments are broken: a seeded shuffle, kinds cycled.
    let mut order: Vec<usize> = (0..spec.deployments).collect();
    for i in (1..order.len()).rev() {
        order.swap(i, rng.below(i + 1));
    }
    let mut breakage = vec![None; spec.deployments];
    for (k, &i) in order.iter().take(spec.broken_deployments()).enumerate() {
        breakage[i] = Some(Breakage::ALL[k % Breakage::ALL.len()]);
    }

    let mut namespaces = Vec::with_capacity(spec.namespaces);
    let per_ns = spec.deployments / spec.namespaces;
    let mut next = 0;
    for n in 0..spec.namespaces {
        let count = per_ns + usize::from(n < spec.deployments % spec.namespaces);
        let ns = numbered(NAMESPACE_WORDS, n);
        let apps = (0..count)
            .map(|j| {
                let i = next + j;
                AppPlan {
                    name: numbered(APP_WORDS, j),
                    replicas: replicas[i],
                    breakage: breakage[i],
                }
            })
            .collect();
        next += count;
        namespaces.push((ns, apps));
    }
    namespaces
}

/// `words[i]`, then `words[i]-2`, `-3`… once the list is used up.
fn numbered(words: &[&str], i: usize) -> String {
    let word = words[i % words.len()];
    match i / words.len() {
        0 => word.to_string(),
        round => format!("{word}-{}", round + 1),
    }
}

const NAMESPACE_WORDS: &[&str] = &[
    "payments",
    "checkout",
    "catalog",
    "search",
    "orders",
    "shipping",
    "billing",
    "identity",
    "accounts",
    "inventory",
    "pricing",
    "reviews",
    "media",
    "notifications",
    "analytics",
    "reporting",
    "support",
    "partners",
    "loyalty",
    "marketing",
    "fraud",
    "ledger",
    "warehouse",
    "returns",
    "recommendations",
];

const APP_WORDS: &[&str] = &[
    "api",
    "web",
    "worker",
    "gateway",
    "scheduler",
    "indexer",
    "exporter",
    "sync",
    "importer",
    "auth",
    "cache-warmer",
    "events",
    "mailer",
    "renderer",
    "webhooks",
    "admin",
    "graphql",
    "consumer",
    "publisher",
    "reconciler",
    "thumbnailer",
    "audit",
    "quota",
    "session",
    "search",
    "ledger",
    "feeds",
    "tracker",
    "notifier",
    "resolver",
];

// ------------------------------------------------------------------- the PRNG

/// SplitMix64: tiny, fast, good enough for fixtures.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chars(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| alphabet[self.below(alphabet.len())] as char)
            .collect()
    }

    fn hex(&mut self, n: usize) -> String {
        self.chars(b"0123456789abcdef", n)
    }

    /// The alphabet of generated names (`rand.String` in apimachinery).
    fn k8s_suffix(&mut self, n: usize) -> String {
        self.chars(b"bcdfghjklmnpqrstvwxz2456789", n)
    }

    fn uuid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-4{}-{}{}-{}",
            &h[0..8],
            &h[8..12],
            &h[13..16],
            ['8', '9', 'a', 'b'][self.below(4)],
            &h[17..20],
            &h[20..32]
        )
    }
}

// ---------------------------------------------------------------------- time

/// 2026-11-20T09:00:00Z, the moment the snapshot is taken.
const NOW: i64 = 1_795_165_200;

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn ts(secs: i64) -> String {
    let (y, mo, d) = civil(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// `ts` with milliseconds, for log lines.
fn ts_ms(ms: i64) -> String {
    let t = ts(ms.div_euclid(1000));
    format!("{}.{:03}Z", &t[..t.len() - 1], ms.rem_euclid(1000))
}

/// `ts` with microseconds, for events.k8s.io `eventTime`.
fn ts_us(secs: i64, us: i64) -> String {
    let t = ts(secs);
    format!("{}.{us:06}Z", &t[..t.len() - 1])
}

// ------------------------------------------------------------------- writing

struct Out<'a> {
    root: &'a Path,
    stats: Stats,
}

impl Out<'_> {
    fn write(&mut self, rel: &str, bytes: &[u8]) -> io::Result<()> {
        let path = self.root.join(rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, bytes)?;
        self.stats.files += 1;
        self.stats.bytes += bytes.len() as u64;
        Ok(())
    }

    /// A typed list as `kubectl cluster-info dump` writes it (4-space indent).
    fn typed_list(
        &mut self,
        rel: &str,
        list_kind: &str,
        api_version: &str,
        kind: &'static str,
        resource_version: u64,
        items: Vec<Value>,
    ) -> io::Result<()> {
        self.stats.add(kind, items.len());
        // An empty list is `"items": null` in the dump (a nil Go slice).
        let items = if items.is_empty() {
            Value::Null
        } else {
            Value::Array(items)
        };
        let list = json!({
            "kind": list_kind,
            "apiVersion": api_version,
            "metadata": {"resourceVersion": resource_version.to_string()},
            "items": items,
        });
        self.write(rel, &pretty(&list))
    }
}

fn pretty(value: &Value) -> Vec<u8> {
    let mut buf = Vec::with_capacity(4096);
    let mut ser = serde_json::Serializer::with_formatter(
        &mut buf,
        serde_json::ser::PrettyFormatter::with_indent(b"    "),
    );
    serde::Serialize::serialize(value, &mut ser).expect("a Value always serializes");
    buf.push(b'\n');
    buf
}

/// `extra.json`: one `kind: List`, written item by item so that a 20k-pod
/// snapshot never holds all of it in memory.
struct ListWriter {
    file: io::BufWriter<fs::File>,
    bytes: u64,
    items: usize,
}

impl ListWriter {
    fn create(path: std::path::PathBuf) -> io::Result<Self> {
        let mut w = ListWriter {
            file: io::BufWriter::new(fs::File::create(path)?),
            bytes: 0,
            items: 0,
        };
        w.put(b"{\n    \"apiVersion\": \"v1\",\n    \"items\": [")?;
        Ok(w)
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.bytes += bytes.len() as u64;
        self.file.write_all(bytes)
    }

    fn item(&mut self, value: &Value) -> io::Result<()> {
        let text = pretty(value);
        let text = String::from_utf8_lossy(&text);
        let indented = text.trim_end().replace('\n', "\n        ");
        let sep: &[u8] = if self.items == 0 { b"\n" } else { b",\n" };
        self.put(sep)?;
        self.put(b"        ")?;
        self.put(indented.as_bytes())?;
        self.items += 1;
        Ok(())
    }

    /// (files, bytes)
    fn finish(mut self) -> io::Result<(usize, u64)> {
        self.put(
            b"\n    ],\n    \"kind\": \"List\",\n    \"metadata\": {\n        \"resourceVersion\": \"\"\n    }\n}\n",
        )?;
        self.file.flush()?;
        Ok((1, self.bytes))
    }
}

// ---------------------------------------------------------------- generation

#[derive(Clone, Copy, PartialEq, Eq)]
enum Runtime {
    Go,
    Java,
    Node,
    Python,
}

/// Per-runtime container shape.
struct Profile {
    runtime: Runtime,
    cpu: &'static str,
    memory: &'static str,
    limit: &'static str,
    ready_path: &'static str,
    live_path: &'static str,
    initial_delay: u32,
    uid: u32,
    image_size: u64,
}

const PROFILES: [Profile; 4] = [
    Profile {
        runtime: Runtime::Go,
        cpu: "50m",
        memory: "64Mi",
        limit: "256Mi",
        ready_path: "/readyz",
        live_path: "/healthz",
        initial_delay: 0,
        uid: 65532,
        image_size: 18_330_612,
    },
    Profile {
        runtime: Runtime::Java,
        cpu: "250m",
        memory: "512Mi",
        limit: "768Mi",
        ready_path: "/actuator/health/readiness",
        live_path: "/actuator/health/liveness",
        initial_delay: 20,
        uid: 10001,
        image_size: 187_402_911,
    },
    Profile {
        runtime: Runtime::Node,
        cpu: "100m",
        memory: "192Mi",
        limit: "384Mi",
        ready_path: "/healthz",
        live_path: "/healthz",
        initial_delay: 5,
        uid: 1001,
        image_size: 71_093_448,
    },
    Profile {
        runtime: Runtime::Python,
        cpu: "100m",
        memory: "128Mi",
        limit: "256Mi",
        ready_path: "/health/ready",
        live_path: "/health/live",
        initial_delay: 5,
        uid: 1000,
        image_size: 52_771_904,
    },
];

/// The env var a [`Breakage::MissingConfigKey`] app leaves unset: variable,
/// the key the pod asks for, the key the ConfigMap has instead.
const RENAMED_KEYS: &[(&str, &str, &str)] = &[
    ("DATABASE_URL", "database.url", "db.url"),
    ("REDIS_URL", "redis.url", "redis.address"),
    ("UPSTREAM_URL", "upstream.url", "upstream.endpoint"),
    ("BROKER_URL", "broker.url", "kafka.brokers"),
];

struct Node {
    name: String,
    ip: String,
    cidr_prefix: String,
    pods: usize,
}

/// One ReplicaSet of an app.
struct Rs {
    name: String,
    hash: String,
    uid: String,
    revision: u32,
    image: String,
    image_id: String,
    pods: usize,
    created: i64,
    broken: bool,
}

/// One pod as written, for Endpoints and events.
struct PodInfo {
    name: String,
    uid: String,
    ip: String,
    node: String,
    ready: bool,
}

/// Everything about one Deployment needed to write its objects.
struct App<'a> {
    ns: &'a str,
    name: &'a str,
    replicas: usize,
    breakage: Option<Breakage>,
    profile: &'static Profile,
    uid: String,
    created: i64,
    recreate: bool,
    has_secret: bool,
    renamed: (&'static str, &'static str, &'static str),
    rs: Vec<Rs>,
}

struct Gen<'a> {
    rng: Rng,
    out: Out<'a>,
    rv: u64,
    service_ips: usize,
    nodes: Vec<Node>,
}

impl Gen<'_> {
    fn rv(&mut self) -> String {
        self.rv += 1 + self.rng.below(40) as u64;
        self.rv.to_string()
    }

    fn nodes_json(&mut self, count: usize) -> io::Result<()> {
        let mut items = Vec::with_capacity(count);
        for n in 0..count {
            let name = format!("worker-{n:03}");
            let ip = format!("10.20.{}.{}", n / 200, n % 200 + 10);
            let cidr_prefix = format!("10.{}.{}", 244 + n / 256, n % 256);
            let zone = ["a", "b", "c"][n % 3];
            let created = NOW - 18 * 86_400 - self.rng.range(0, 86_400);
            let heartbeat = ts(NOW - self.rng.range(5, 50));
            let mut images = Vec::new();
            for (image, size) in [
                ("registry.k8s.io/kube-proxy:v1.35.2", 30_912_418u64),
                ("ghcr.io/flannel-io/flannel:v0.27.4", 32_884_101),
                ("quay.io/prometheus/node-exporter:v1.9.1", 11_764_812),
                ("registry.k8s.io/pause:3.10.1", 320_448),
            ] {
                let repo = image.split(':').next().unwrap_or(image);
                images.push(json!({
                    "names": [format!("{repo}@sha256:{}", self.rng.hex(64)), image],
                    "sizeBytes": size,
                }));
            }
            let conditions: Vec<Value> = [
                (
                    "MemoryPressure",
                    "False",
                    "KubeletHasSufficientMemory",
                    "kubelet has sufficient memory available",
                ),
                (
                    "DiskPressure",
                    "False",
                    "KubeletHasNoDiskPressure",
                    "kubelet has no disk pressure",
                ),
                (
                    "PIDPressure",
                    "False",
                    "KubeletHasSufficientPID",
                    "kubelet has sufficient PID available",
                ),
                (
                    "Ready",
                    "True",
                    "KubeletReady",
                    "kubelet is posting ready status",
                ),
            ]
            .iter()
            .map(|(t, s, r, m)| {
                json!({"type": t, "status": s, "lastHeartbeatTime": heartbeat,
                       "lastTransitionTime": ts(created + 30), "reason": r, "message": m})
            })
            .collect();
            items.push(json!({
                "metadata": {
                    "name": name,
                    "uid": self.rng.uuid(),
                    "resourceVersion": self.rv(),
                    "creationTimestamp": ts(created),
                    "labels": {
                        "beta.kubernetes.io/arch": "amd64",
                        "beta.kubernetes.io/os": "linux",
                        "kubernetes.io/arch": "amd64",
                        "kubernetes.io/hostname": name,
                        "kubernetes.io/os": "linux",
                        "node.kubernetes.io/instance-type": "m6i.2xlarge",
                        "topology.kubernetes.io/region": "eu-central-1",
                        "topology.kubernetes.io/zone": format!("eu-central-1{zone}"),
                    },
                    "annotations": {
                        "node.alpha.kubernetes.io/ttl": "0",
                        "volumes.kubernetes.io/controller-managed-attach-detach": "true",
                    },
                },
                "spec": {
                    "podCIDR": format!("{cidr_prefix}.0/24"),
                    "podCIDRs": [format!("{cidr_prefix}.0/24")],
                    "providerID": format!("aws:///eu-central-1{zone}/i-0{}", self.rng.hex(16)),
                },
                "status": {
                    "capacity": {"cpu": "8", "ephemeral-storage": "101430960Ki", "hugepages-1Gi": "0",
                                 "hugepages-2Mi": "0", "memory": "32475912Ki", "pods": "110"},
                    "allocatable": {"cpu": "7910m", "ephemeral-storage": "93478772582", "hugepages-1Gi": "0",
                                    "hugepages-2Mi": "0", "memory": "31424136Ki", "pods": "110"},
                    "conditions": conditions,
                    "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": name}],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                    "nodeInfo": {
                        "machineID": self.rng.hex(32),
                        "systemUUID": self.rng.uuid(),
                        "bootID": self.rng.uuid(),
                        "kernelVersion": "6.8.0-87-generic",
                        "osImage": "Ubuntu 24.04.3 LTS",
                        "containerRuntimeVersion": "containerd://2.1.4",
                        "kubeletVersion": "v1.35.2",
                        "kubeProxyVersion": "",
                        "operatingSystem": "linux",
                        "architecture": "amd64",
                    },
                    "images": images,
                },
            }));
            self.nodes.push(Node {
                name,
                ip,
                cidr_prefix,
                pods: 0,
            });
        }
        self.out.stats.nodes = count;
        let rv = self.rv;
        self.out
            .typed_list("nodes.json", "NodeList", "v1", "Node", rv, items)
    }

    /// Everything of one namespace.
    fn namespace(&mut self, ns: &str, plans: &[AppPlan], extra: &mut ListWriter) -> io::Result<()> {
        let mut pods = Vec::new();
        let mut deployments = Vec::new();
        let mut replicasets = Vec::new();
        let mut services = Vec::new();
        let mut events = Vec::new();
        let mut extras = Vec::new();

        // Per-namespace objects every pod references.
        extras.push(self.root_ca(ns));
        extras.push(self.regcred(ns));

        for plan in plans {
            let app = self.app(ns, plan);
            if let Some(b) = app.breakage {
                *self.out.stats.broken.entry(b).or_default() += 1;
            }
            let mut infos = Vec::new();
            for rs in &app.rs {
                replicasets.push(self.replicaset(&app, rs));
                for i in 0..rs.pods {
                    let (pod, info) = self.pod(&app, rs, i, &mut events)?;
                    pods.push(pod);
                    infos.push(info);
                }
                if rs.created > NOW - 3600 && rs.pods > 0 {
                    let first = rs.created;
                    let names: Vec<&str> = infos
                        .iter()
                        .rev()
                        .take(rs.pods)
                        .map(|p| p.name.as_str())
                        .collect();
                    for name in names {
                        let e = self.event(
                            ns,
                            ("ReplicaSet", "apps/v1", &rs.name, &rs.uid, None),
                            ("Normal", "SuccessfulCreate", format!("Created pod: {name}")),
                            ("replicaset-controller", None),
                            (first, first, 1),
                        );
                        events.push(e);
                    }
                }
            }
            deployments.push(self.deployment(&app, &infos));
            self.deployment_events(&app, &mut events);
            services.push(self.service(&app));
            extras.push(self.endpoints(&app, &infos));
            extras.push(self.configmap(&app));
            if app.has_secret {
                extras.push(self.secret(&app));
            }
            if app.breakage.is_none() && app.replicas >= 2 && self.rng.chance(15) {
                extras.push(self.hpa(&app));
            }
        }

        let rv = self.rv;
        let o = &mut self.out;
        o.typed_list(&format!("{ns}/pods.json"), "PodList", "v1", "Pod", rv, pods)?;
        o.typed_list(
            &format!("{ns}/deployments.json"),
            "DeploymentList",
            "apps/v1",
            "Deployment",
            rv,
            deployments,
        )?;
        o.typed_list(
            &format!("{ns}/replicasets.json"),
            "ReplicaSetList",
            "apps/v1",
            "ReplicaSet",
            rv,
            replicasets,
        )?;
        o.typed_list(
            &format!("{ns}/services.json"),
            "ServiceList",
            "v1",
            "Service",
            rv,
            services,
        )?;
        o.typed_list(
            &format!("{ns}/events.json"),
            "EventList",
            "v1",
            "Event",
            rv,
            events,
        )?;
        o.typed_list(
            &format!("{ns}/daemonsets.json"),
            "DaemonSetList",
            "apps/v1",
            "DaemonSet",
            rv,
            Vec::new(),
        )?;
        o.typed_list(
            &format!("{ns}/replication-controllers.json"),
            "ReplicationControllerList",
            "v1",
            "ReplicationController",
            rv,
            Vec::new(),
        )?;
        for item in &extras {
            let kind = match item["kind"].as_str() {
                Some("ConfigMap") => "ConfigMap",
                Some("Secret") => "Secret",
                Some("Endpoints") => "Endpoints",
                _ => "HorizontalPodAutoscaler",
            };
            self.out.stats.add(kind, 1);
            extra.item(item)?;
        }
        Ok(())
    }

    fn app<'p>(&mut self, ns: &'p str, plan: &'p AppPlan) -> App<'p> {
        let profile = &PROFILES[self.rng.below(PROFILES.len())];
        let created = NOW - self.rng.range(3 * 86_400, 90 * 86_400);
        let breakage = plan.breakage;
        let recreate = breakage == Some(Breakage::MissingSecretKey);
        let has_secret = recreate || self.rng.chance(60);
        let renamed = *self.rng.pick(RENAMED_KEYS);
        let repo = format!("registry.example.com/{ns}/{}", plan.name);
        let major = self.rng.range(0, 4);
        let minor = self.rng.range(1, 30);
        let patch = self.rng.range(0, 9);
        let old_version = format!("{major}.{minor}.{patch}");
        let version = format!("{major}.{minor}.{}", patch + 1);
        let r = plan.replicas;

        // When the current ReplicaSet was rolled out: broken ones and ~10% of
        // the healthy ones within the hour (their pods have events).
        let rolled = match breakage {
            Some(_) => NOW - self.rng.range(20 * 60, 50 * 60),
            None if self.rng.chance(10) => NOW - self.rng.range(5 * 60, 55 * 60),
            None => created + self.rng.range(3600, NOW - created - 3600),
        };
        let mut rs = Vec::new();
        let mut make_rs = |g: &mut Self, revision: u32, image: String, pods: usize, at: i64| {
            let hash = g.rng.k8s_suffix(10);
            let image_id = format!("{repo}@sha256:{}", g.rng.hex(64));
            rs.push(Rs {
                name: format!("{}-{hash}", plan.name),
                hash,
                uid: g.rng.uuid(),
                revision,
                image,
                image_id,
                pods,
                created: at,
                broken: false,
            });
        };
        let old_image = format!("{repo}:{old_version}");
        let new_image = if breakage == Some(Breakage::ImagePullBackOff) {
            // A mistyped tag: a stray `v`, a doubled digit or a dropped dot.
            match self.rng.below(3) {
                0 => format!("{repo}:v{version}"),
                1 => format!("{repo}:{major}.{minor}.{}{}", patch + 1, patch + 1),
                _ => format!("{repo}:{major}.{minor}{}", patch + 1),
            }
        } else {
            format!("{repo}:{version}")
        };
        match breakage {
            // Rolling update stuck: the new ReplicaSet's pods never get
            // ready, the old ones keep serving.
            Some(Breakage::MissingConfigKey | Breakage::ImagePullBackOff) => {
                let k = r.div_ceil(4).max(1);
                make_rs(self, 1, old_image, r - k, created);
                make_rs(self, 2, new_image, k, rolled);
                rs[1].broken = true;
            }
            // Created broken within the hour.
            Some(Breakage::ReadinessWrongPort) => {
                make_rs(self, 1, new_image, r, rolled);
                rs[0].broken = true;
            }
            Some(b) => {
                make_rs(self, 1, old_image, 0, created);
                make_rs(self, 2, new_image, r, rolled);
                rs[1].broken = b != Breakage::SelectorMismatch;
            }
            None => {
                if self.rng.chance(70) {
                    make_rs(self, 1, old_image, 0, created);
                    make_rs(self, 2, new_image, r, rolled);
                } else {
                    make_rs(self, 1, new_image, r, rolled);
                }
            }
        }
        let created = if breakage == Some(Breakage::ReadinessWrongPort) {
            rolled
        } else {
            created
        };
        App {
            ns,
            name: &plan.name,
            replicas: r,
            breakage,
            profile,
            uid: self.rng.uuid(),
            created,
            recreate,
            has_secret,
            renamed,
            rs,
        }
    }

    fn labels(app: &App<'_>) -> Value {
        json!({"app": app.name, "app.kubernetes.io/part-of": app.ns, "tier": "api"})
    }

    /// The container as the Deployment's template has it (defaults filled).
    fn container(&self, app: &App<'_>, image: &str) -> Value {
        let p = app.profile;
        let (var, wanted_key, _) = app.renamed;
        let mut env = vec![
            json!({"name": "LOG_LEVEL", "value": "info"}),
            json!({"name": "APP_NAMESPACE", "value": app.ns}),
        ];
        if p.runtime == Runtime::Java {
            env.push(json!({"name": "JAVA_TOOL_OPTIONS", "value": "-XX:MaxRAMPercentage=75"}));
        }
        env.push(json!({"name": var, "valueFrom": {"configMapKeyRef": {
            "name": format!("{}-config", app.name), "key": wanted_key, "optional": true}}}));
        env.push(
            json!({"name": "FEATURE_FLAGS", "valueFrom": {"configMapKeyRef": {
            "name": format!("{}-config", app.name), "key": "feature.flags"}}}),
        );
        if app.has_secret {
            for (var, key) in [("DB_USER", "username"), ("DB_PASSWORD", "password")] {
                env.push(json!({"name": var, "valueFrom": {"secretKeyRef": {
                    "name": format!("{}-credentials", app.name), "key": key}}}));
            }
        }
        let ready_port = if app.breakage == Some(Breakage::ReadinessWrongPort) {
            json!(8081)
        } else {
            json!("http")
        };
        let limit = if app.breakage == Some(Breakage::OomKilled) {
            "128Mi"
        } else {
            p.limit
        };
        let request = if app.breakage == Some(Breakage::OomKilled) {
            "96Mi"
        } else {
            p.memory
        };
        json!({
            "name": app.name,
            "image": image,
            "ports": [
                {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                {"name": "metrics", "containerPort": 9090, "protocol": "TCP"},
            ],
            "env": env,
            "resources": {
                "limits": {"memory": limit},
                "requests": {"cpu": p.cpu, "memory": request},
            },
            "livenessProbe": {
                "httpGet": {"path": p.live_path, "port": "http", "scheme": "HTTP"},
                "initialDelaySeconds": p.initial_delay + 10,
                "timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3,
            },
            "readinessProbe": {
                "httpGet": {"path": p.ready_path, "port": ready_port, "scheme": "HTTP"},
                "initialDelaySeconds": p.initial_delay,
                "timeoutSeconds": 1, "periodSeconds": 5, "successThreshold": 1, "failureThreshold": 3,
            },
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
            "imagePullPolicy": "IfNotPresent",
            "securityContext": {
                "capabilities": {"drop": ["ALL"]},
                "runAsNonRoot": true,
                "readOnlyRootFilesystem": true,
                "allowPrivilegeEscalation": false,
            },
        })
    }

    fn template(&self, app: &App<'_>, rs: &Rs, hash: bool) -> Value {
        let mut labels = Self::labels(app);
        if hash {
            labels["pod-template-hash"] = json!(rs.hash);
        }
        json!({
            "metadata": {"creationTimestamp": null, "labels": labels},
            "spec": {
                "containers": [self.container(app, &rs.image)],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst",
                "securityContext": {},
                "schedulerName": "default-scheduler",
            },
        })
    }

    fn replicaset(&mut self, app: &App<'_>, rs: &Rs) -> Value {
        let mut selector = json!({"app": app.name});
        selector["pod-template-hash"] = json!(rs.hash);
        let ready = if rs.broken { 0 } else { rs.pods };
        let status = if rs.pods == 0 {
            json!({"replicas": 0, "observedGeneration": 2})
        } else {
            json!({"replicas": rs.pods, "fullyLabeledReplicas": rs.pods, "readyReplicas": ready,
                   "availableReplicas": ready, "observedGeneration": 1})
        };
        let mut labels = Self::labels(app);
        labels["pod-template-hash"] = json!(rs.hash);
        json!({
            "metadata": {
                "name": rs.name,
                "namespace": app.ns,
                "uid": rs.uid,
                "resourceVersion": self.rv(),
                "generation": if rs.pods == 0 { 2 } else { 1 },
                "creationTimestamp": ts(rs.created),
                "labels": labels,
                "annotations": {
                    "deployment.kubernetes.io/desired-replicas": app.replicas.to_string(),
                    "deployment.kubernetes.io/max-replicas": (app.replicas + app.replicas.div_ceil(4)).to_string(),
                    "deployment.kubernetes.io/revision": rs.revision.to_string(),
                },
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": app.name,
                                     "uid": app.uid, "controller": true, "blockOwnerDeletion": true}],
            },
            "spec": {
                "replicas": rs.pods,
                "selector": {"matchLabels": selector},
                "template": self.template(app, rs, true),
            },
            "status": status,
        })
    }

    fn deployment(&mut self, app: &App<'_>, pods: &[PodInfo]) -> Value {
        let current = app.rs.last().expect("every app has a ReplicaSet");
        let template = self.template(app, current, false);
        let strategy = if app.recreate {
            json!({"type": "Recreate"})
        } else {
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        };
        let applied = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"labels": {"app": app.name, "app.kubernetes.io/part-of": app.ns},
                         "name": app.name, "namespace": app.ns},
            "spec": {"replicas": app.replicas, "selector": {"matchLabels": {"app": app.name}},
                     "strategy": strategy, "template": {"metadata": {"labels": Self::labels(app)},
                     "spec": {"containers": template["spec"]["containers"]}}},
        });
        let ready = pods.iter().filter(|p| p.ready).count();
        let total: usize = app.rs.iter().map(|r| r.pods).sum();
        let updated = current.pods;
        let available = if ready > 0 {
            json!({"type": "Available", "status": "True", "lastUpdateTime": ts(app.created + 40),
                   "lastTransitionTime": ts(app.created + 40), "reason": "MinimumReplicasAvailable",
                   "message": "Deployment has minimum availability."})
        } else {
            json!({"type": "Available", "status": "False", "lastUpdateTime": ts(current.created + 5),
                   "lastTransitionTime": ts(current.created + 5), "reason": "MinimumReplicasUnavailable",
                   "message": "Deployment does not have minimum availability."})
        };
        let stuck = current.broken && app.breakage != Some(Breakage::OomKilled);
        let progressing = if stuck {
            json!({"type": "Progressing", "status": "False", "lastUpdateTime": ts(current.created + 600),
                   "lastTransitionTime": ts(current.created + 600), "reason": "ProgressDeadlineExceeded",
                   "message": format!("ReplicaSet \"{}\" has timed out progressing.", current.name)})
        } else {
            json!({"type": "Progressing", "status": "True", "lastUpdateTime": ts(current.created + 45),
                   "lastTransitionTime": ts(app.created + 2), "reason": "NewReplicaSetAvailable",
                   "message": format!("ReplicaSet \"{}\" has successfully progressed.", current.name)})
        };
        let mut status = json!({
            "observedGeneration": current.revision,
            "replicas": total,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": ready,
            "conditions": [available, progressing],
        });
        if total > ready {
            status["unavailableReplicas"] = json!(total - ready);
        }
        if ready == 0 {
            let s = status.as_object_mut().expect("an object");
            s.remove("readyReplicas");
            s.remove("availableReplicas");
        }
        json!({
            "metadata": {
                "name": app.name,
                "namespace": app.ns,
                "uid": app.uid,
                "resourceVersion": self.rv(),
                "generation": current.revision,
                "creationTimestamp": ts(app.created),
                "labels": {"app": app.name, "app.kubernetes.io/part-of": app.ns},
                "annotations": {
                    "deployment.kubernetes.io/revision": current.revision.to_string(),
                    "kubectl.kubernetes.io/last-applied-configuration":
                        format!("{}\n", serde_json::to_string(&applied).unwrap_or_default()),
                },
            },
            "spec": {
                "replicas": app.replicas,
                "selector": {"matchLabels": {"app": app.name}},
                "template": template,
                "strategy": strategy,
                "revisionHistoryLimit": 10,
                "progressDeadlineSeconds": 600,
            },
            "status": status,
        })
    }

    fn deployment_events(&mut self, app: &App<'_>, events: &mut Vec<Value>) {
        let current = app.rs.last().expect("every app has a ReplicaSet");
        if current.created <= NOW - 3600 {
            return;
        }
        let obj = ("Deployment", "apps/v1", app.name, app.uid.as_str(), None);
        let src = ("deployment-controller", None);
        let t = current.created;
        let e = self.event(
            app.ns,
            obj,
            (
                "Normal",
                "ScalingReplicaSet",
                format!(
                    "Scaled up replica set {} from 0 to {}",
                    current.name, current.pods
                ),
            ),
            src,
            (t, t, 1),
        );
        events.push(e);
        if app.rs.len() > 1 && app.rs[0].pods == 0 {
            let old = &app.rs[0];
            let e = self.event(
                app.ns,
                obj,
                (
                    "Normal",
                    "ScalingReplicaSet",
                    format!(
                        "Scaled down replica set {} from {} to 0",
                        old.name, app.replicas
                    ),
                ),
                src,
                (t + 40, t + 40, 1),
            );
            events.push(e);
        }
    }

    /// One Event. `obj` = (kind, apiVersion, name, uid, fieldPath),
    /// `what` = (type, reason, message), `src` = (component, host),
    /// `when` = (first, last, count).
    fn event(
        &mut self,
        ns: &str,
        obj: (&str, &str, &str, &str, Option<&str>),
        what: (&str, &str, String),
        src: (&str, Option<&str>),
        when: (i64, i64, u32),
    ) -> Value {
        let (kind, api_version, name, uid, field_path) = obj;
        let (ty, reason, message) = what;
        let (component, host) = src;
        let (first, last, count) = when;
        let mut involved = json!({"kind": kind, "namespace": ns, "name": name, "uid": uid,
                                  "apiVersion": api_version, "resourceVersion": self.rv()});
        if let Some(fp) = field_path {
            involved["fieldPath"] = json!(fp);
        }
        let metadata = json!({
            "name": format!("{name}.{}", self.rng.hex(16)),
            "namespace": ns,
            "uid": self.rng.uuid(),
            "resourceVersion": self.rv(),
            "creationTimestamp": ts(first),
        });
        if component == "default-scheduler" {
            // The scheduler records through events.k8s.io: eventTime, no count.
            return json!({
                "metadata": metadata,
                "involvedObject": involved,
                "reason": reason,
                "message": message,
                "source": {},
                "firstTimestamp": null,
                "lastTimestamp": null,
                "type": ty,
                "eventTime": ts_us(first, self.rng.range(0, 999_999)),
                "action": "Scheduling",
                "reportingComponent": "default-scheduler",
                "reportingInstance": "default-scheduler-cp-0",
            });
        }
        let mut source = json!({"component": component});
        if let Some(h) = host {
            source["host"] = json!(h);
        }
        json!({
            "metadata": metadata,
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": source,
            "firstTimestamp": ts(first),
            "lastTimestamp": ts(last),
            "count": count,
            "type": ty,
            "eventTime": null,
            "reportingComponent": component,
            "reportingInstance": host.unwrap_or(""),
        })
    }

    fn pod(
        &mut self,
        app: &App<'_>,
        rs: &Rs,
        index: usize,
        events: &mut Vec<Value>,
    ) -> io::Result<(Value, PodInfo)> {
        let p = app.profile;
        let name = format!("{}-{}", rs.name, self.rng.k8s_suffix(5));
        let uid = self.rng.uuid();
        let n = self.rng.below(self.nodes.len());
        let node = &mut self.nodes[n];
        node.pods += 1;
        let ip = format!("{}.{}", node.cidr_prefix, 2 + node.pods % 250);
        let (node_name, host_ip) = (node.name.clone(), node.ip.clone());
        let created = rs.created + self.rng.range(0, 20);
        let scheduled = created;
        let started = created + self.rng.range(4, 30);
        let token = self.rng.k8s_suffix(5);
        let volume = format!("kube-api-access-{token}");

        let mut container = self.container(app, &rs.image);
        container["volumeMounts"] = json!([{"name": volume, "readOnly": true,
            "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}]);
        let container_id = format!("containerd://{}", self.rng.hex(64));
        let breakage = if rs.broken { app.breakage } else { None };
        let recent = created > NOW - 3600;

        // State, readiness, restarts, logs.
        let cname = app.name;
        let mut status_c = json!({
            "name": cname,
            "image": rs.image,
            "imageID": rs.image_id,
            "containerID": container_id,
            "started": true,
            "ready": true,
            "restartCount": 0,
            "state": {"running": {"startedAt": ts(started)}},
            "lastState": {},
            "resources": container["resources"].clone(),
            "volumeMounts": [{"name": volume, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                              "readOnly": true, "recursiveReadOnly": "Disabled"}],
            "user": {"linux": {"uid": p.uid, "gid": p.uid, "supplementalGroups": [p.uid]}},
        });
        let mut phase = "Running";
        let mut ready = true;
        let mut logs = String::new();
        let header = |prev: bool, what: &str| {
            let p = if prev { "previous " } else { "" };
            format!(
                "==== {what} {p}logs for container {cname} of pod {}/{name} ====\n",
                app.ns
            )
        };
        let mut block = |prev: bool, body: &str| {
            logs.push_str(&header(prev, "START"));
            logs.push_str(body);
            logs.push_str(&header(prev, "END"));
        };
        let mut blocks = 1;
        let obj = ("Pod", "v1", name.as_str(), uid.as_str(), None);
        let cpath = format!("spec.containers{{{cname}}}");
        let kubelet = ("kubelet", Some(node_name.as_str()));
        let fp = Some(cpath.as_str());
        let pobj = ("Pod", "v1", name.as_str(), uid.as_str(), fp);
        let image = rs.image.clone();
        if recent || breakage.is_some() {
            events.push(self.event(
                app.ns,
                obj,
                (
                    "Normal",
                    "Scheduled",
                    format!("Successfully assigned {}/{name} to {node_name}", app.ns),
                ),
                ("default-scheduler", None),
                (scheduled, scheduled, 1),
            ));
            events.push(self.event(
                app.ns,
                pobj,
                ("Normal", "Pulling", format!("Pulling image \"{image}\"")),
                kubelet,
                (scheduled + 1, scheduled + 1, 1),
            ));
        }
        let pulled = |g: &mut Self, events: &mut Vec<Value>, restarts: u32, last: i64| {
            let secs = g.rng.range(2_000, 30_000) as f64 / 1000.0;
            let msg = format!(
                "Successfully pulled image \"{image}\" in {secs:.3}s ({:.3}s including waiting). Image size: {} bytes.",
                secs + 0.004,
                p.image_size
            );
            events.push(g.event(
                app.ns,
                pobj,
                ("Normal", "Pulled", msg),
                kubelet,
                (started - 1, started - 1, 1),
            ));
            if restarts > 0 {
                events.push(g.event(
                    app.ns,
                    pobj,
                    (
                        "Normal",
                        "Pulled",
                        format!("Container image \"{image}\" already present on machine"),
                    ),
                    kubelet,
                    (started + 60, last, restarts),
                ));
            }
            for (reason, msg) in [
                ("Created", format!("Created container: {cname}")),
                ("Started", format!("Started container {cname}")),
            ] {
                events.push(g.event(
                    app.ns,
                    pobj,
                    ("Normal", reason, msg),
                    kubelet,
                    (started, last.max(started), restarts + 1),
                ));
            }
        };

        match breakage {
            None => {
                if recent {
                    pulled(self, events, 0, started);
                }
                let body = app_log(&mut self.rng, p.runtime, app, started.max(NOW - 1800));
                if started < NOW - 3 * 3600 && self.rng.chance(3) {
                    // Restarted once, hours or days ago, when its node rebooted.
                    let died = self.rng.range(started + 3600, NOW - 2 * 3600);
                    status_c["restartCount"] = json!(1);
                    status_c["state"] = json!({"running": {"startedAt": ts(died + 14)}});
                    status_c["lastState"] = json!({"terminated": {"exitCode": 255, "reason": "Unknown",
                        "startedAt": ts(started), "finishedAt": ts(died),
                        "containerID": format!("containerd://{}", self.rng.hex(64))}});
                    let prev = app_log(&mut self.rng, p.runtime, app, died - 900);
                    block(false, &body);
                    block(true, &prev);
                    blocks += 1;
                } else {
                    block(false, &body);
                }
            }
            Some(Breakage::SelectorMismatch) => {
                pulled(self, events, 0, started);
                block(
                    false,
                    &app_log(&mut self.rng, p.runtime, app, started.max(NOW - 1800)),
                );
            }
            Some(Breakage::MissingConfigKey) => {
                let restarts = self.rng.range(5, 9) as u32;
                let last_start = NOW - self.rng.range(60, 280);
                let fin = last_start + self.rng.range(2, 12);
                let last_backoff = NOW - self.rng.range(1, 30);
                pulled(self, events, restarts, last_start);
                events.push(self.event(
                    app.ns,
                    pobj,
                    (
                        "Warning",
                        "BackOff",
                        format!(
                            "Back-off restarting failed container {cname} in pod {name}_{}({uid})",
                            app.ns
                        ),
                    ),
                    kubelet,
                    (started + 30, last_backoff, 10 * restarts),
                ));
                status_c["ready"] = json!(false);
                status_c["started"] = json!(false);
                status_c["restartCount"] = json!(restarts);
                status_c["state"] = json!({"waiting": {"reason": "CrashLoopBackOff",
                    "message": format!("back-off 5m0s restarting failed container={cname} pod={name}_{}({uid})", app.ns)}});
                status_c["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error",
                    "startedAt": ts(last_start), "finishedAt": ts(fin), "containerID": container_id}});
                ready = false;
                // The kubelet serves the last terminated instance's logs.
                let current = crash_log(p.runtime, app, last_start);
                let prev = crash_log(p.runtime, app, last_start - 300);
                block(false, &current);
                block(true, &prev);
                blocks += 1;
            }
            Some(Breakage::OomKilled) => {
                let restarts = self.rng.range(3, 6) as u32;
                let last_start = NOW - self.rng.range(60, 200);
                pulled(self, events, restarts, last_start);
                let oom_start = last_start - self.rng.range(180, 240);
                status_c["restartCount"] = json!(restarts);
                status_c["lastState"] = json!({"terminated": {"exitCode": 137, "reason": "OOMKilled",
                    "startedAt": ts(oom_start), "finishedAt": ts(last_start - 2),
                    "containerID": format!("containerd://{}", self.rng.hex(64))}});
                if index == 0 {
                    status_c["ready"] = json!(false);
                    status_c["started"] = json!(false);
                    status_c["state"] = json!({"waiting": {"reason": "CrashLoopBackOff",
                        "message": format!("back-off 2m40s restarting failed container={cname} pod={name}_{}({uid})", app.ns)}});
                    ready = false;
                    let last_backoff = NOW - self.rng.range(1, 30);
                    events.push(self.event(
                        app.ns,
                        pobj,
                        (
                            "Warning",
                            "BackOff",
                            format!(
                                "Back-off restarting failed container {cname} in pod {name}_{}({uid})",
                                app.ns
                            ),
                        ),
                        kubelet,
                        (started + 400, last_backoff, 6 * restarts),
                    ));
                } else {
                    status_c["state"] = json!({"running": {"startedAt": ts(last_start)}});
                }
                let current = oom_log(&mut self.rng, app, last_start, ready);
                let prev = oom_log(&mut self.rng, app, oom_start, false);
                block(false, &current);
                block(true, &prev);
                blocks += 1;
            }
            Some(Breakage::MissingSecretKey) => {
                let count = ((NOW - started) / 12).max(1) as u32;
                pulled(self, events, 0, started);
                events.pop(); // no Started: the container was never created
                events.pop();
                events.push(self.event(
                    app.ns,
                    pobj,
                    (
                        "Normal",
                        "Pulled",
                        format!("Container image \"{image}\" already present on machine"),
                    ),
                    kubelet,
                    (started + 10, NOW - 5, count - 1),
                ));
                events.push(self.event(
                    app.ns,
                    pobj,
                    (
                        "Warning",
                        "Failed",
                        format!(
                            "Error: couldn't find key password in Secret {}/{}-credentials",
                            app.ns, app.name
                        ),
                    ),
                    kubelet,
                    (started, NOW - 5, count),
                ));
                let s = status_c.as_object_mut().expect("an object");
                s.remove("containerID");
                s.remove("user");
                status_c["imageID"] = json!("");
                status_c["ready"] = json!(false);
                status_c["started"] = json!(false);
                status_c["state"] = json!({"waiting": {"reason": "CreateContainerConfigError",
                    "message": format!("couldn't find key password in Secret {}/{}-credentials", app.ns, app.name)}});
                phase = "Pending";
                ready = false;
                block(
                    false,
                    &format!(
                        "Request log error: container \"{cname}\" in pod \"{name}\" is waiting to start: CreateContainerConfigError\n"
                    ),
                );
            }
            Some(Breakage::ImagePullBackOff) => {
                let attempts = self.rng.range(6, 11) as u32;
                let msg = format!(
                    "failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": {image}: not found"
                );
                let last = NOW - self.rng.range(30, 200);
                for (ty, reason, text, count) in [
                    (
                        "Warning",
                        "Failed",
                        format!(
                            "Failed to pull image \"{image}\": rpc error: code = NotFound desc = {msg}"
                        ),
                        attempts,
                    ),
                    (
                        "Warning",
                        "Failed",
                        "Error: ErrImagePull".to_string(),
                        attempts,
                    ),
                    (
                        "Normal",
                        "BackOff",
                        format!("Back-off pulling image \"{image}\""),
                        attempts * 14,
                    ),
                    (
                        "Warning",
                        "Failed",
                        "Error: ImagePullBackOff".to_string(),
                        attempts * 14,
                    ),
                ] {
                    events.push(self.event(
                        app.ns,
                        pobj,
                        (ty, reason, text),
                        kubelet,
                        (scheduled + 2, last, count),
                    ));
                }
                let s = status_c.as_object_mut().expect("an object");
                s.remove("containerID");
                s.remove("user");
                status_c["imageID"] = json!("");
                status_c["ready"] = json!(false);
                status_c["started"] = json!(false);
                status_c["state"] = json!({"waiting": {"reason": "ImagePullBackOff",
                    "message": format!("Back-off pulling image \"{image}\": ErrImagePull: rpc error: code = NotFound desc = {msg}")}});
                phase = "Pending";
                ready = false;
                block(
                    false,
                    &format!(
                        "Request log error: container \"{cname}\" in pod \"{name}\" is waiting to start: trying and failing to pull image\n"
                    ),
                );
            }
            Some(Breakage::ReadinessWrongPort) => {
                pulled(self, events, 0, started);
                let count = ((NOW - started) / 10).max(1) as u32;
                let last = NOW - self.rng.range(1, 9);
                events.push(self.event(
                    app.ns,
                    pobj,
                    ("Warning", "Unhealthy", format!(
                        "Readiness probe failed: Get \"http://{ip}:8081{}\": dial tcp {ip}:8081: connect: connection refused",
                        p.ready_path
                    )),
                    kubelet,
                    (started + 5, last, count),
                ));
                status_c["ready"] = json!(false);
                ready = false;
                block(
                    false,
                    &app_log(&mut self.rng, p.runtime, app, started.max(NOW - 1800)),
                );
            }
        }

        let ready_str = if ready { "True" } else { "False" };
        let ready_at = if ready { started + 8 } else { scheduled + 1 };
        let mut conditions = vec![
            json!({"type": "PodReadyToStartContainers", "observedGeneration": 1, "status": "True",
                   "lastProbeTime": null, "lastTransitionTime": ts(scheduled + 2)}),
            json!({"type": "Initialized", "observedGeneration": 1, "status": "True",
                   "lastProbeTime": null, "lastTransitionTime": ts(scheduled)}),
            json!({"type": "Ready", "observedGeneration": 1, "status": ready_str,
                   "lastProbeTime": null, "lastTransitionTime": ts(ready_at)}),
            json!({"type": "ContainersReady", "observedGeneration": 1, "status": ready_str,
                   "lastProbeTime": null, "lastTransitionTime": ts(ready_at)}),
            json!({"type": "PodScheduled", "observedGeneration": 1, "status": "True",
                   "lastProbeTime": null, "lastTransitionTime": ts(scheduled)}),
        ];
        if !ready {
            for c in &mut conditions[2..4] {
                c["reason"] = json!("ContainersNotReady");
                c["message"] = json!(format!("containers with unready status: [{cname}]"));
            }
        }

        let mut labels = Self::labels(app);
        labels["pod-template-hash"] = json!(rs.hash);
        let pod = json!({
            "metadata": {
                "name": name,
                "generateName": format!("{}-", rs.name),
                "namespace": app.ns,
                "uid": uid,
                "resourceVersion": self.rv(),
                "generation": 1,
                "creationTimestamp": ts(created),
                "labels": labels,
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rs.name,
                                     "uid": rs.uid, "controller": true, "blockOwnerDeletion": true}],
            },
            "spec": {
                "volumes": [{"name": volume, "projected": {"sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"path": "namespace", "fieldRef":
                        {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
                ], "defaultMode": 420}}],
                "containers": [container],
                "restartPolicy": "Always",
                "terminationGracePeriodSeconds": 30,
                "dnsPolicy": "ClusterFirst",
                "serviceAccountName": "default",
                "serviceAccount": "default",
                "nodeName": node_name,
                "securityContext": {},
                "imagePullSecrets": [{"name": "regcred"}],
                "schedulerName": "default-scheduler",
                "tolerations": [
                    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
                     "tolerationSeconds": 300},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
                     "tolerationSeconds": 300},
                ],
                "priority": 0,
                "enableServiceLinks": true,
                "preemptionPolicy": "PreemptLowerPriority",
            },
            "status": {
                "observedGeneration": 1,
                "phase": phase,
                "conditions": conditions,
                "hostIP": host_ip,
                "hostIPs": [{"ip": host_ip}],
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "startTime": ts(scheduled),
                "containerStatuses": [status_c],
                "qosClass": "Burstable",
            },
        });
        self.out
            .write(&format!("{}/{name}/logs.txt", app.ns), logs.as_bytes())?;
        self.out.stats.log_blocks += blocks;
        Ok((
            pod,
            PodInfo {
                name,
                uid,
                ip,
                node: node_name,
                ready,
            },
        ))
    }

    fn service(&mut self, app: &App<'_>) -> Value {
        let c = self.service_ips;
        self.service_ips += 1;
        let ip = format!("10.{}.{}.{}", 96 + c / 62_500, c / 250 % 250, c % 250 + 2);
        let mut selector = json!({"app": app.name});
        if app.breakage == Some(Breakage::SelectorMismatch) {
            // The pods are labelled tier=api.
            selector["tier"] = json!("backend");
        }
        let ports =
            json!([{"name": "http", "protocol": "TCP", "port": 8080, "targetPort": "http"}]);
        let applied = json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"labels": {"app": app.name}, "name": app.name, "namespace": app.ns},
            "spec": {"ports": [{"name": "http", "port": 8080, "targetPort": "http"}], "selector": selector}});
        json!({
            "metadata": {
                "name": app.name,
                "namespace": app.ns,
                "uid": self.rng.uuid(),
                "resourceVersion": self.rv(),
                "creationTimestamp": ts(app.created),
                "labels": {"app": app.name, "app.kubernetes.io/part-of": app.ns},
                "annotations": {"kubectl.kubernetes.io/last-applied-configuration":
                    format!("{}\n", serde_json::to_string(&applied).unwrap_or_default())},
            },
            "spec": {
                "ports": ports,
                "selector": selector,
                "clusterIP": ip,
                "clusterIPs": [ip],
                "type": "ClusterIP",
                "sessionAffinity": "None",
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "internalTrafficPolicy": "Cluster",
            },
            "status": {"loadBalancer": {}},
        })
    }

    fn endpoints(&mut self, app: &App<'_>, pods: &[PodInfo]) -> Value {
        let address = |p: &PodInfo| {
            json!({"ip": p.ip, "nodeName": p.node, "targetRef":
                {"kind": "Pod", "name": p.name, "namespace": app.ns, "uid": p.uid}})
        };
        let mut endpoints = json!({
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {
                "name": app.name,
                "namespace": app.ns,
                "uid": self.rng.uuid(),
                "resourceVersion": self.rv(),
                "creationTimestamp": ts(app.created),
                "labels": {"app": app.name, "app.kubernetes.io/part-of": app.ns,
                           "endpoints.kubernetes.io/managed-by": "endpoint-controller"},
                "annotations": {"endpoints.kubernetes.io/last-change-trigger-time":
                    ts(app.rs.last().map_or(app.created, |r| r.created) + 30)},
            },
        });
        if app.breakage != Some(Breakage::SelectorMismatch) {
            let ready: Vec<Value> = pods.iter().filter(|p| p.ready).map(address).collect();
            let not_ready: Vec<Value> = pods.iter().filter(|p| !p.ready).map(address).collect();
            let mut subset = json!({"ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]});
            if !ready.is_empty() {
                subset["addresses"] = json!(ready);
            }
            if !not_ready.is_empty() {
                subset["notReadyAddresses"] = json!(not_ready);
            }
            endpoints["subsets"] = json!([subset]);
        }
        endpoints
    }

    fn configmap(&mut self, app: &App<'_>) -> Value {
        let (_, wanted, renamed) = app.renamed;
        let key = if app.breakage == Some(Breakage::MissingConfigKey) {
            renamed
        } else {
            wanted
        };
        let value = match wanted {
            "database.url" => format!(
                "postgresql://pg-{}.{}.internal:5432/{}?sslmode=require",
                app.name, app.ns, app.name
            ),
            "redis.url" => format!("redis://redis.{}.svc.cluster.local:6379/0", app.ns),
            "upstream.url" => format!("http://gateway.{}.svc.cluster.local:8080", app.ns),
            _ => format!("kafka-0.kafka.{}.svc.cluster.local:9092", app.ns),
        };
        let mut data = serde_json::Map::new();
        data.insert(key.to_string(), json!(value));
        data.insert(
            "feature.flags".into(),
            json!("new-checkout=false,async-export=true"),
        );
        data.insert("log.format".into(), json!("json"));
        data.insert(
            "app.yaml".into(),
            json!(format!(
                "server:\n  port: 8080\n  shutdownTimeout: 25s\nmetrics:\n  port: 9090\n  path: /metrics\ncache:\n  maxEntries: {}\n  ttl: 5m\nclients:\n  timeout: 2s\n  retries: 3\n",
                self.rng.range(1, 200) * 1000
            )),
        );
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": format!("{}-config", app.name),
                "namespace": app.ns,
                "uid": self.rng.uuid(),
                "resourceVersion": self.rv(),
                "creationTimestamp": ts(app.created - 5),
                "labels": {"app": app.name},
            },
            "data": data,
        })
    }

    fn secret(&mut self, app: &App<'_>) -> Value {
        let mut data = serde_json::Map::new();
        data.insert("username".into(), json!(b64(&format!("{}_svc", app.name))));
        let password_key = if app.breakage == Some(Breakage::MissingSecretKey) {
            "pass"
        } else {
            "password"
        };
        data.insert(
            password_key.into(),
            json!(b64("example-only-not-a-real-password")),
        );
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": format!("{}-credentials", app.name),
                "namespace": app.ns,
                "uid": self.rng.uuid(),
                "resourceVersion": self.rv(),
                "creationTimestamp": ts(app.created - 60),
                "labels": {"app": app.name},
            },
            "type": "Opaque",
            "data": data,
        })
    }

    fn hpa(&mut self, app: &App<'_>) -> Value {
        let util = self.rng.range(10, 65);
        json!({
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {
                "name": app.name,
                "namespace": app.ns,
                "uid": self.rng.uuid(),
                "resourceVersion": self.rv(),
                "creationTimestamp": ts(app.created + 30),
                "labels": {"app": app.name},
            },
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app.name},
                "minReplicas": app.replicas,
                "maxReplicas": app.replicas * 3,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 70}}}],
            },
            "status": {
                "currentReplicas": app.replicas,
                "desiredReplicas": app.replicas,
                "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu",
                    "current": {"averageUtilization": util, "averageValue": format!("{}m", util)}}}],
                "conditions": [
                    {"type": "AbleToScale", "status": "True", "lastTransitionTime": ts(app.created + 45),
                     "reason": "ReadyForNewScale", "message": "recommended size matches current size"},
                    {"type": "ScalingActive", "status": "True", "lastTransitionTime": ts(app.created + 45),
                     "reason": "ValidMetricFound",
                     "message": "the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)"},
                    {"type": "ScalingLimited", "status": "True", "lastTransitionTime": ts(app.created + 45),
                     "reason": "TooFewReplicas", "message": "the desired replica count is less than the minimum replica count"},
                ],
            },
        })
    }

    fn root_ca(&mut self, ns: &str) -> Value {
        let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
        for _ in 0..17 {
            pem.push_str(&self.rng.chars(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                64,
            ));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "kube-root-ca.crt",
                "namespace": ns,
                "uid": self.rng.uuid(),
                "resourceVersion": self.rv(),
                "creationTimestamp": ts(NOW - 100 * 86_400),
                "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."},
            },
            "data": {"ca.crt": pem},
        })
    }

    fn regcred(&mut self, ns: &str) -> Value {
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "regcred",
                "namespace": ns,
                "uid": self.rng.uuid(),
                "resourceVersion": self.rv(),
                "creationTimestamp": ts(NOW - 100 * 86_400),
            },
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": b64(
                "{\"auths\":{\"registry.example.com\":{\"auth\":\"ZXhhbXBsZTpub3QtYS1yZWFsLXRva2Vu\"}}}")},
        })
    }
}

fn b64(s: &str) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &c)| n | u32::from(c) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

// ---------------------------------------------------------------------- logs

const PATHS: &[&str] = &[
    "/v1/items",
    "/v1/items/{id}",
    "/v1/search",
    "/v1/orders/{id}",
    "/v1/accounts/{id}/summary",
    "/v1/export",
];

/// A healthy container's logs: start-up, then request lines.
fn app_log(rng: &mut Rng, runtime: Runtime, app: &App<'_>, from: i64) -> String {
    let mut ms = from * 1000 + rng.range(0, 999);
    let mut out = String::with_capacity(4096);
    let name = app.name;
    let startup: &[&str] = match runtime {
        Runtime::Go => &["starting", "connected to database", "listening"],
        Runtime::Java => &[
            "Starting Application using Java 21.0.8 with PID 1",
            "Tomcat initialized with port 8080 (http)",
            "Started Application in 9.412 seconds",
        ],
        Runtime::Node => &[
            "server starting",
            "database pool ready",
            "listening on 0.0.0.0:8080",
        ],
        Runtime::Python => &[
            "Started server process [1]",
            "Waiting for application startup.",
            "Application startup complete.",
        ],
    };
    for msg in startup {
        log_line(&mut out, runtime, name, ms, "INFO", msg);
        ms += rng.range(50, 900);
    }
    for _ in 0..rng.range(8, 30) {
        ms += rng.range(200, 60_000);
        let path = rng
            .pick(PATHS)
            .replace("{id}", &rng.range(1000, 99_999).to_string());
        let status = if rng.chance(3) { 404 } else { 200 };
        let dur = rng.range(2, 180);
        let method = if rng.chance(20) { "POST" } else { "GET" };
        let req_id = rng.k8s_suffix(26).to_uppercase();
        let line = match runtime {
            Runtime::Go => format!(
                "{{\"level\":\"info\",\"ts\":\"{}\",\"caller\":\"http/log.go:31\",\"msg\":\"request\",\"method\":\"{method}\",\"path\":\"{path}\",\"status\":{status},\"duration_ms\":{dur},\"req_id\":\"{req_id}\"}}\n",
                ts_ms(ms)
            ),
            Runtime::Java => format!(
                "{}  INFO 1 --- [{name}] [nio-8080-exec-{}] c.e.{name}.web.RequestLogFilter      : {method} {path} {status} {dur}ms req_id={req_id}\n",
                ts_ms(ms),
                rng.range(1, 10)
            ),
            Runtime::Node => format!(
                "{{\"level\":30,\"time\":{ms},\"pid\":1,\"hostname\":\"{name}\",\"reqId\":\"{req_id}\",\"req\":{{\"method\":\"{method}\",\"url\":\"{path}\"}},\"res\":{{\"statusCode\":{status}}},\"responseTime\":{dur},\"msg\":\"request completed\"}}\n"
            ),
            Runtime::Python => format!(
                "INFO:     10.244.{}.{}:{} - \"{method} {path} HTTP/1.1\" {status} {}\n",
                rng.range(0, 40),
                rng.range(2, 250),
                rng.range(30_000, 60_000),
                if status == 200 { "OK" } else { "Not Found" }
            ),
        };
        out.push_str(&line);
    }
    out
}

fn log_line(out: &mut String, runtime: Runtime, app: &str, ms: i64, level: &str, msg: &str) {
    let line = match runtime {
        Runtime::Go => format!(
            "{{\"level\":\"{}\",\"ts\":\"{}\",\"caller\":\"cmd/server/main.go:57\",\"msg\":\"{msg}\"}}\n",
            level.to_lowercase(),
            ts_ms(ms)
        ),
        Runtime::Java => format!(
            "{} {level:>5} 1 --- [{app}] [           main] c.e.{app}.Application                  : {msg}\n",
            ts_ms(ms)
        ),
        Runtime::Node => format!(
            "{{\"level\":{},\"time\":{ms},\"pid\":1,\"hostname\":\"{app}\",\"msg\":\"{msg}\"}}\n",
            match level {
                "ERROR" => 50,
                "WARN" => 40,
                _ => 30,
            }
        ),
        Runtime::Python => format!("{level}:     {msg}\n"),
    };
    out.push_str(&line);
}

/// The log of a container that exits because an env var is unset.
fn crash_log(runtime: Runtime, app: &App<'_>, start: i64) -> String {
    let (var, _, _) = app.renamed;
    let ms = start * 1000 + 317;
    let mut out = String::new();
    let name = app.name;
    match runtime {
        Runtime::Go => {
            log_line(&mut out, runtime, name, ms, "INFO", "starting");
            out.push_str(&format!(
                "{{\"level\":\"fatal\",\"ts\":\"{}\",\"caller\":\"cmd/server/main.go:44\",\"msg\":\"invalid configuration\",\"error\":\"{var} is not set\"}}\n",
                ts_ms(ms + 4)
            ));
        }
        Runtime::Java => {
            out.push_str("Picked up JAVA_TOOL_OPTIONS: -XX:MaxRAMPercentage=75\n");
            log_line(
                &mut out,
                runtime,
                name,
                ms,
                "INFO",
                "Starting Application using Java 21.0.8 with PID 1",
            );
            log_line(
                &mut out,
                runtime,
                name,
                ms + 6100,
                "WARN",
                &format!("{var} is not set; no connection URL configured"),
            );
            log_line(
                &mut out,
                runtime,
                name,
                ms + 6180,
                "ERROR",
                "Application run failed",
            );
            out.push_str(&format!(
                "\norg.springframework.beans.factory.BeanCreationException: Error creating bean with name 'dataSource': Failed to instantiate [javax.sql.DataSource]\n\tat org.springframework.beans.factory.support.ConstructorResolver.instantiate(ConstructorResolver.java:657)\n\tat org.springframework.boot.SpringApplication.run(SpringApplication.java:318)\n\tat com.example.{name}.Application.main(Application.java:12)\nCaused by: java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"url\" is null\n\tat com.example.{name}.config.DataSourceConfig.dataSource(DataSourceConfig.java:41)\n\t... 59 common frames omitted\n\n"
            ));
        }
        Runtime::Node => {
            log_line(&mut out, runtime, name, ms, "INFO", "server starting");
            out.push_str(&format!(
                "/app/dist/config.js:14\n    throw new Error(\"{var} is not set\");\n    ^\n\nError: {var} is not set\n    at requireEnv (/app/dist/config.js:14:11)\n    at Object.<anonymous> (/app/dist/config.js:22:16)\n    at Module._compile (node:internal/modules/cjs/loader:1554:14)\n\nNode.js v22.20.0\n"
            ));
        }
        Runtime::Python => {
            out.push_str(&format!(
                "Traceback (most recent call last):\n  File \"/app/{name}/main.py\", line 9, in <module>\n    from {name}.settings import settings\n  File \"/app/{name}/settings.py\", line 31, in <module>\n    raise RuntimeError(\"{var} is not set\")\nRuntimeError: {var} is not set\n"
            ));
        }
    }
    out
}

/// The log of a container whose heap grows until the OOM killer stops it
/// (mid-line, no shutdown message); `survived` for one still running.
fn oom_log(rng: &mut Rng, app: &App<'_>, start: i64, survived: bool) -> String {
    let mut out = String::new();
    let mut ms = start * 1000 + rng.range(0, 999);
    log_line(&mut out, Runtime::Go, app.name, ms, "INFO", "starting");
    let total = 20_000;
    let mut heap = 40;
    let steps = if survived { 5 } else { 16 };
    for i in 1..=steps {
        ms += rng.range(3000, 14_000);
        heap += rng.range(4, 9);
        out.push_str(&format!(
            "{{\"level\":\"info\",\"ts\":\"{}\",\"caller\":\"cache/warmup.go:77\",\"msg\":\"cache warmup progress\",\"done\":{},\"total\":{total},\"heap_inuse_mb\":{heap}}}\n",
            ts_ms(ms),
            i * 900
        ));
        if heap > 100 {
            out.push_str(&format!(
                "{{\"level\":\"warn\",\"ts\":\"{}\",\"caller\":\"cache/warmup.go:91\",\"msg\":\"heap growing during warmup; consider raising memory or lowering cache.max_entries\",\"heap_inuse_mb\":{heap}}}\n",
                ts_ms(ms + 3)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use guardian_kube_types::ListQuery;
    use guardian_snapshot::Snapshot;

    fn count(backend: &Snapshot, resource: &str) -> usize {
        let kind = backend.table().resolve(resource).expect("resolves");
        let list = backend
            .list_objects(&kind, &ListQuery::default())
            .expect("lists");
        list["items"].as_array().map_or(0, Vec::len)
    }

    #[test]
    fn time_formatting() {
        assert_eq!(ts(NOW), "2026-11-20T09:00:00Z");
        assert_eq!(ts(0), "1970-01-01T00:00:00Z");
        assert_eq!(ts_ms(NOW * 1000 + 42), "2026-11-20T09:00:00.042Z");
        assert_eq!(b64("checkout_svc"), "Y2hlY2tvdXRfc3Zj");
        assert_eq!(b64("ab"), "YWI=");
    }

    #[test]
    fn small_snapshot_loads_cleanly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = Spec {
            pods: 60,
            deployments: 12,
            namespaces: 3,
            broken_percent: 50.0,
            seed: 7,
        };
        let stats = generate(dir.path(), &spec).expect("generates");
        assert_eq!(stats.objects["Pod"], 60);
        assert_eq!(stats.objects["Deployment"], 12);
        assert_eq!(stats.objects["Service"], 12);
        assert_eq!(stats.objects["Endpoints"], 12);
        assert_eq!(stats.total_broken(), 6);
        assert_eq!(
            stats.broken.keys().copied().collect::<Vec<_>>(),
            Breakage::ALL.to_vec(),
            "each kind of breakage once"
        );

        let (backend, problems) = Snapshot::load(dir.path()).expect("loads");
        assert!(problems.is_empty(), "load problems: {problems:#?}");
        assert_eq!(backend.objects_scanned(), stats.total_objects());
        assert_eq!(count(&backend, "pods"), 60);
        assert_eq!(count(&backend, "deployments"), 12);
        assert_eq!(count(&backend, "replicasets"), stats.objects["ReplicaSet"]);
        assert_eq!(count(&backend, "nodes"), spec.nodes());
        assert_eq!(count(&backend, "configmaps"), stats.objects["ConfigMap"]);
        assert_eq!(count(&backend, "secrets"), stats.objects["Secret"]);
        assert_eq!(count(&backend, "events"), stats.objects["Event"]);
        assert_eq!(backend.namespaces().len(), 3);

        // Every pod has logs; a crash-looping one has its previous logs.
        let kind = backend.table().resolve("pods").expect("pods");
        let pods = backend
            .list_objects(&kind, &ListQuery::default())
            .expect("lists");
        let mut crash_looping = 0;
        for pod in pods["items"].as_array().expect("items") {
            let ns = pod["metadata"]["namespace"].as_str().expect("ns");
            let name = pod["metadata"]["name"].as_str().expect("name");
            let status = &pod["status"]["containerStatuses"][0];
            let waiting = status["state"]["waiting"]["reason"].as_str();
            let logs = backend.pod_logs(ns, name, &Default::default());
            match waiting {
                Some("CreateContainerConfigError" | "ImagePullBackOff") => {
                    assert!(logs.is_err(), "{ns}/{name}: {logs:?}")
                }
                _ => assert!(logs.is_ok(), "{ns}/{name}: {logs:?}"),
            }
            if status["restartCount"].as_u64() > Some(0) {
                let previous = guardian_kube_types::LogQuery {
                    previous: true,
                    ..Default::default()
                };
                let prev = backend.pod_logs(ns, name, &previous).expect("previous");
                if status["lastState"]["terminated"]["exitCode"] == 1 {
                    crash_looping += 1;
                    assert!(prev.contains(" is not set"), "{prev}");
                }
            }
        }
        assert!(crash_looping > 0);
    }

    #[test]
    fn deterministic() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        let spec = Spec {
            seed: 3,
            ..Spec::for_pods(100)
        };
        let sa = generate(a.path(), &spec).expect("generates");
        let sb = generate(b.path(), &spec).expect("generates");
        assert_eq!(sa, sb);
        for file in ["nodes.json", "extra.json", "payments/pods.json"] {
            assert_eq!(
                fs::read(a.path().join(file)).expect("read"),
                fs::read(b.path().join(file)).expect("read"),
                "{file}"
            );
        }
    }

    #[test]
    fn rejects_impossible_specs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let spec = Spec {
            deployments: 10,
            ..Spec::for_pods(5)
        };
        assert!(generate(dir.path(), &spec).is_err());
    }
}
