//! What a question is about, found by matching its words against what
//! exists (one listing of names, `cluster.summary` with `names`), not by
//! its phrasing: namespace names however they are written, object names in
//! every namespace the caller may read (exact, prefix/suffix at a `-`, or a
//! small typo — each match says how it was made), kinds, and the words that
//! mean the whole cluster. Words that look like names but match nothing are
//! kept, so the answer can say so and offer the nearest names.

use std::collections::BTreeSet;

use serde_json::Value;

/// One object that exists, by kind, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Named {
    pub kind: &'static str,
    /// `None` for Nodes (and Namespaces).
    pub namespace: Option<String>,
    pub name: String,
}

impl Named {
    /// `Deployment payments/payments-api`, `Node worker-2`.
    pub fn display(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("{} {ns}/{}", self.kind, self.name),
            None => format!("{} {}", self.kind, self.name),
        }
    }
}

/// The names in the cluster, from `cluster.summary` with `names: true`.
#[derive(Debug, Default)]
pub struct Inventory {
    pub namespaces: Vec<String>,
    pub objects: Vec<Named>,
}

/// `counts` keys of `cluster.summary` and their kinds.
const SUMMARY_KINDS: &[(&str, &str)] = &[
    ("deployments", "Deployment"),
    ("statefulsets", "StatefulSet"),
    ("daemonsets", "DaemonSet"),
    ("cronjobs", "CronJob"),
    ("jobs", "Job"),
    ("services", "Service"),
    ("ingresses", "Ingress"),
    ("persistentvolumeclaims", "PersistentVolumeClaim"),
    ("pods", "Pod"),
];

/// The kinds whose names the listing holds.
pub const LISTED_KINDS: &[&str] = &[
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "CronJob",
    "Job",
    "Service",
    "Ingress",
    "PersistentVolumeClaim",
    "Pod",
    "Node",
];

impl Inventory {
    pub fn from_summary(summary: &Value) -> Self {
        let mut inv = Inventory::default();
        for ns in summary["namespaces"].as_array().into_iter().flatten() {
            let Some(name) = ns["namespace"].as_str().filter(|n| !n.is_empty()) else {
                continue;
            };
            inv.namespaces.push(name.to_owned());
            for (key, kind) in SUMMARY_KINDS {
                for n in ns["names"][*key].as_array().into_iter().flatten() {
                    if let Some(n) = n.as_str() {
                        inv.objects.push(Named {
                            kind,
                            namespace: Some(name.to_owned()),
                            name: n.to_owned(),
                        });
                    }
                }
            }
        }
        for n in summary["nodes"]["names"].as_array().into_iter().flatten() {
            if let Some(n) = n.as_str() {
                inv.objects.push(Named {
                    kind: "Node",
                    namespace: None,
                    name: n.to_owned(),
                });
            }
        }
        inv
    }

    /// How many names the listing holds.
    pub fn len(&self) -> usize {
        self.namespaces.len() + self.objects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// How a word was matched to a name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum How {
    /// A small typo (`payment-api` → `payments-api`).
    Typo,
    /// A prefix or suffix at a `-` (`api` → `payments-api`, `notifier` →
    /// the pod `notifier-7d9c…`).
    Affix,
    Exact,
}

/// An object the question names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hit {
    pub object: Named,
    /// The word (or words joined by `-`) of the question.
    pub word: String,
    pub how: How,
}

impl Hit {
    /// `` `payment-api` → Deployment payments/payments-api (closest name) ``,
    /// or `None` for an exact match.
    pub fn explain(&self) -> Option<String> {
        let how = match self.how {
            How::Exact => return None,
            How::Affix => "the name that starts or ends with it",
            How::Typo => "the closest name",
        };
        Some(format!(
            "`{}` → {} ({how})",
            self.word,
            self.object.display()
        ))
    }
}

/// What the question is about.
#[derive(Debug, Default)]
pub struct Resolution {
    /// Namespaces the question names, that exist.
    pub namespaces: BTreeSet<String>,
    /// Namespace names it gives (`-n x`, `namespace x`, `x ns`) that do not
    /// exist.
    pub missing_namespaces: Vec<String>,
    /// Objects it names.
    pub hits: Vec<Hit>,
    /// Kinds it names.
    pub kinds: BTreeSet<&'static str>,
    /// It asks about the whole cluster ("anything", "cluster", "all"…).
    pub everything: bool,
    /// Words that look like names and match nothing.
    pub unmatched: Vec<String>,
}

impl Resolution {
    /// Namespaces to analyze for the hits and the named namespaces.
    pub fn scope(&self) -> BTreeSet<String> {
        let mut out = self.namespaces.clone();
        for h in &self.hits {
            if let Some(ns) = &h.object.namespace {
                out.insert(ns.clone());
            }
        }
        out
    }

    /// Whether a Node is part of what is asked.
    pub fn nodes(&self) -> bool {
        self.kinds.contains("Node") || self.hits.iter().any(|h| h.object.kind == "Node")
    }

    /// Nothing in the question matched anything that exists.
    pub fn nothing_matched(&self) -> bool {
        self.namespaces.is_empty() && self.hits.is_empty()
    }
}

pub(crate) const KINDS: &[(&str, &str)] = &[
    ("deployment", "Deployment"),
    ("deploy", "Deployment"),
    ("pod", "Pod"),
    ("service", "Service"),
    ("svc", "Service"),
    ("ingress", "Ingress"),
    ("ingresse", "Ingress"),
    ("job", "Job"),
    ("cronjob", "CronJob"),
    ("statefulset", "StatefulSet"),
    ("sts", "StatefulSet"),
    ("daemonset", "DaemonSet"),
    ("ds", "DaemonSet"),
    ("replicaset", "ReplicaSet"),
    ("pvc", "PersistentVolumeClaim"),
    ("volume", "PersistentVolumeClaim"),
    ("persistentvolumeclaim", "PersistentVolumeClaim"),
    ("node", "Node"),
    ("hpa", "HorizontalPodAutoscaler"),
    ("autoscaler", "HorizontalPodAutoscaler"),
    ("pdb", "PodDisruptionBudget"),
    ("networkpolicy", "NetworkPolicy"),
    ("webhook", "ValidatingWebhookConfiguration"),
    (
        "validatingwebhookconfiguration",
        "ValidatingWebhookConfiguration",
    ),
    (
        "mutatingwebhookconfiguration",
        "MutatingWebhookConfiguration",
    ),
    ("horizontalpodautoscaler", "HorizontalPodAutoscaler"),
    ("poddisruptionbudget", "PodDisruptionBudget"),
    ("netpol", "NetworkPolicy"),
    ("storageclass", "StorageClass"),
    ("ingressclass", "IngressClass"),
    ("httproute", "HTTPRoute"),
    ("route", "HTTPRoute"),
    ("gateway", "Gateway"),
    ("configmap", "ConfigMap"),
];

/// Words that mean every namespace.
const EVERYTHING: &[&str] = &[
    "cluster",
    "clusters",
    "anything",
    "everything",
    "all",
    "whole",
    "entire",
    "every",
    "overall",
    "anywhere",
    "something",
];

/// Words of questions that are not names: they never match a name by
/// prefix, suffix or typo (an exact match with a namespace or object name
/// still counts, except for the shortest function words).
const VOCABULARY: &[&str] = &[
    "a",
    "about",
    "after",
    "again",
    "all",
    "am",
    "an",
    "and",
    "any",
    "anymore",
    "app",
    "apps",
    "application",
    "are",
    "aren",
    "as",
    "at",
    "back",
    "bad",
    "be",
    "been",
    "behind",
    "being",
    "big",
    "both",
    "break",
    "breaking",
    "broke",
    "broken",
    "bug",
    "but",
    "by",
    "can",
    "cannot",
    "cant",
    "check",
    "come",
    "coming",
    "container",
    "containers",
    "could",
    "couldn",
    "crash",
    "crashed",
    "crashes",
    "crashing",
    "crashloop",
    "crashloopbackoff",
    "currently",
    "dead",
    "deploys",
    "deployed",
    "did",
    "didn",
    "die",
    "dies",
    "dying",
    "do",
    "does",
    "doesn",
    "doing",
    "don",
    "done",
    "down",
    "error",
    "errors",
    "erroring",
    "exactly",
    "explain",
    "fail",
    "failed",
    "failing",
    "fails",
    "failure",
    "failures",
    "find",
    "fine",
    "fix",
    "for",
    "from",
    "get",
    "getting",
    "go",
    "going",
    "good",
    "had",
    "happen",
    "happened",
    "happening",
    "has",
    "have",
    "having",
    "health",
    "healthy",
    "hello",
    "help",
    "here",
    "hey",
    "hi",
    "how",
    "i",
    "if",
    "in",
    "info",
    "into",
    "is",
    "isn",
    "issue",
    "issues",
    "it",
    "its",
    "itself",
    "just",
    "keep",
    "keeps",
    "kill",
    "killed",
    "know",
    "last",
    "latest",
    "let",
    "like",
    "live",
    "load",
    "look",
    "looks",
    "lot",
    "made",
    "make",
    "many",
    "matter",
    "me",
    "memory",
    "might",
    "more",
    "most",
    "much",
    "my",
    "need",
    "needs",
    "new",
    "no",
    "not",
    "now",
    "of",
    "off",
    "ok",
    "okay",
    "on",
    "once",
    "one",
    "only",
    "or",
    "other",
    "our",
    "out",
    "over",
    "please",
    "problem",
    "problems",
    "properly",
    "reason",
    "ready",
    "really",
    "restart",
    "restarted",
    "restarting",
    "restarts",
    "right",
    "run",
    "running",
    "runs",
    "s",
    "same",
    "say",
    "says",
    "see",
    "seems",
    "serving",
    "should",
    "show",
    "since",
    "slow",
    "so",
    "some",
    "start",
    "started",
    "starting",
    "starts",
    "state",
    "status",
    "still",
    "stuck",
    "t",
    "tell",
    "than",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "thing",
    "things",
    "this",
    "those",
    "to",
    "today",
    "too",
    "trouble",
    "unhealthy",
    "up",
    "us",
    "use",
    "using",
    "very",
    "wait",
    "waiting",
    "want",
    "was",
    "wasn",
    "we",
    "were",
    "what",
    "whats",
    "when",
    "where",
    "which",
    "while",
    "who",
    "why",
    "will",
    "with",
    "won",
    "work",
    "working",
    "works",
    "would",
    "wrong",
    "yet",
    "you",
    "your",
    "namespace",
    "namespaces",
    "ns",
    "n",
    "pending",
    "scheduled",
    "schedule",
    "scheduling",
    "pull",
    "pulling",
    "image",
    "images",
    "oom",
    "oomkilled",
    "ooming",
    "cpu",
    "probe",
    "probes",
    "config",
    "secret",
    "secrets",
    "configmaps",
    "logs",
    "log",
    "events",
    "event",
    "timeout",
    "timeouts",
    "latency",
    "unavailable",
    "available",
    "replicas",
    "replica",
    "rollout",
    "rolling",
    "stopped",
    "stop",
    "anyone",
    "someone",
    "else",
    "outage",
    "degraded",
    "red",
    "green",
    "alert",
    "alerts",
    "firing",
    "page",
    "paged",
    "paging",
    "traffic",
    "requests",
    "responding",
    "respond",
    "reachable",
    "unreachable",
    "connect",
    "connection",
    "connecting",
    "backoff",
    "loop",
    "looping",
    "eviction",
    "evicted",
    "storage",
    "disk",
    "mount",
    "mounting",
    "bound",
    "unbound",
    "claim",
    "claims",
    "quota",
    "limit",
    "limits",
    "team",
    "prod",
    "production",
    "staging",
    "dev",
    "env",
    "environment",
    "k8s",
    "kubernetes",
    "kube",
    "guardian",
];

/// Function words: never a name, even exactly.
const FUNCTION_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "by", "do", "for", "i", "if", "in", "is", "it",
    "me", "my", "n", "no", "not", "of", "on", "or", "s", "so", "t", "the", "to", "up", "us", "we",
    "why", "what", "how", "who", "when", "where", "which", "there", "this", "that", "with",
];

/// The question's words, lower-case, split where a Kubernetes name cannot
/// continue; `kind/name` gives both parts.
pub fn words(question: &str) -> Vec<String> {
    let mut out = Vec::new();
    for w in question.split(|c: char| {
        !(c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_' || c == '/')
    }) {
        let w = w
            .trim_matches(|c| c == '.' || c == '/' || c == '-' || c == '_')
            .to_ascii_lowercase();
        if w.is_empty() {
            continue;
        }
        if let Some((kind, name)) = w.split_once('/') {
            out.push(kind.to_owned());
            if !name.is_empty() {
                out.push(name.to_owned());
            }
        } else {
            out.push(w);
        }
    }
    out
}

/// The kind a word names (`deployments` → `Deployment`).
pub fn kind_of(word: &str) -> Option<&'static str> {
    let singular = word
        .strip_suffix('s')
        .filter(|s| s.len() > 2)
        .unwrap_or(word);
    let y = word.strip_suffix("ies").map(|s| format!("{s}y"));
    KINDS
        .iter()
        .find(|(w, _)| *w == word || *w == singular || y.as_deref() == Some(*w))
        .map(|(_, k)| *k)
}

fn is_vocabulary(w: &str) -> bool {
    VOCABULARY.contains(&w) || EVERYTHING.contains(&w) || kind_of(w).is_some()
}

/// Whether a word could be the name of something (not a common word of
/// questions, not a number).
fn name_like(w: &str) -> bool {
    w.len() >= 3
        && !is_vocabulary(w)
        && !w.chars().all(|c| c.is_ascii_digit())
        && w.chars().any(|c| c.is_ascii_alphabetic())
}

/// Optimal string alignment distance (a transposition counts one), capped.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let (n, m) = (a.len(), b.len());
    let mut d = vec![vec![0usize; m + 1]; n + 1];
    for (i, row) in d.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in d[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=n {
        for j in 1..=m {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[i - 1][j] + 1)
                .min(d[i][j - 1] + 1)
                .min(d[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[i - 2][j - 2] + 1);
            }
            d[i][j] = v;
        }
    }
    d[n][m]
}

/// How far a word may be from a name and still be read as it.
fn typo_allowance(word: &str) -> usize {
    match word.len() {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// How `word` matches `name`, if it does.
fn match_name(word: &str, name: &str) -> Option<How> {
    if word == name {
        return Some(How::Exact);
    }
    if !name_like(word) {
        return None;
    }
    let affix = (name.len() > word.len()
        && (name.starts_with(&format!("{word}-")) || name.ends_with(&format!("-{word}"))))
        || (word.len() > name.len()
            && name.len() >= 3
            && word.starts_with(&format!("{name}-"))
            && hash_like(&word[name.len() + 1..]));
    if affix {
        return Some(How::Affix);
    }
    let allowed = typo_allowance(word);
    if allowed > 0 && name.len() >= 4 && distance(word, name) <= allowed {
        return Some(How::Typo);
    }
    // Another form of the same word (`migration` → `db-migrate-…`,
    // `recommendations` → `recommender`).
    if !word.contains('-') && name.split('-').any(|part| same_stem(word, part)) {
        return Some(How::Typo);
    }
    None
}

/// Whether two words share a long prefix: at least 5 letters and three
/// quarters of the shorter word.
fn same_stem(a: &str, b: &str) -> bool {
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let shorter = a.len().min(b.len());
    common >= 5 && common * 4 >= shorter * 3
}

/// Whether the rest of a name after a known name looks like what a
/// controller appends (`8gh47bsg54-x8sbg`, `0`), not another word
/// (`worker`).
fn hash_like(rest: &str) -> bool {
    rest.split('-')
        .next()
        .is_some_and(|p| p.chars().any(|c| c.is_ascii_digit()))
}

/// Where an explicit namespace is given: `namespace x`, `ns x`, `-n x`,
/// `--namespace x`, `x namespace`, `x ns`, `namespace=x`.
fn explicit_namespaces(words: &[String]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let is_marker = |w: &str| matches!(w, "namespace" | "ns" | "n" | "-n" | "--namespace");
    for (i, w) in words.iter().enumerate() {
        if let Some(v) = w
            .strip_prefix("namespace=")
            .or_else(|| w.strip_prefix("--namespace="))
        {
            out.push((i, v.to_owned()));
            continue;
        }
        if !is_marker(w) {
            continue;
        }
        if let Some(next) = words.get(i + 1).filter(|n| is_name(n) && !is_vocabulary(n)) {
            out.push((i + 1, next.clone()));
        } else if i > 0 && is_name(&words[i - 1]) && !is_vocabulary(&words[i - 1]) {
            out.push((i - 1, words[i - 1].clone()));
        }
    }
    out
}

fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// Finds what `question` is about among what `inv` holds.
pub fn resolve(question: &str, inv: &Inventory) -> Resolution {
    let words = words(question);
    let mut r = Resolution::default();
    let mut used = vec![false; words.len()];

    for w in &words {
        if let Some(k) = kind_of(w) {
            r.kinds.insert(k);
        }
        if EVERYTHING.contains(&w.as_str()) {
            r.everything = true;
        }
    }

    // Namespaces given as such: exact, else the closest existing one.
    for (i, ns) in explicit_namespaces(&words) {
        used[i] = true;
        if inv.namespaces.contains(&ns) {
            r.namespaces.insert(ns);
        } else if let Some(close) = inv
            .namespaces
            .iter()
            .filter(|n| distance(&ns, n) <= typo_allowance(&ns))
            .min_by_key(|n| distance(&ns, n))
        {
            r.namespaces.insert(close.clone());
        } else {
            r.missing_namespaces.push(ns);
        }
    }

    // Runs of words joined by `-` (`payments api` → `payments-api`), the
    // longest first; a word inside a matched run is not matched again. A
    // common word ("crashing", "staging") names something only when nothing
    // else in the question does.
    let mut deferred = Vec::new();
    for len in (1..=3).rev() {
        for start in 0..words.len().saturating_sub(len - 1) {
            if used[start..start + len].iter().any(|u| *u) {
                continue;
            }
            let part = &words[start..start + len];
            if len == 1 && FUNCTION_WORDS.contains(&part[0].as_str()) {
                continue;
            }
            if len > 1 && part.iter().any(|w| FUNCTION_WORDS.contains(&w.as_str())) {
                continue;
            }
            let word = part.join("-");
            if len == 1 && is_vocabulary(&word) {
                deferred.push(start);
                continue;
            }
            // A namespace, exactly.
            if inv.namespaces.contains(&word) {
                r.namespaces.insert(word.clone());
                used[start..start + len].iter_mut().for_each(|u| *u = true);
                // An object of the same name in that namespace is meant too.
                for o in &inv.objects {
                    if o.name == word && o.namespace.as_deref() == Some(word.as_str()) {
                        push_hit(&mut r, o, &word, How::Exact);
                    }
                }
                continue;
            }
            let hits = best_matches(&word, inv, len > 1);
            if !hits.is_empty() {
                used[start..start + len].iter_mut().for_each(|u| *u = true);
                for (o, how) in hits {
                    push_hit(&mut r, o, &word, how);
                }
            }
        }
    }

    if r.nothing_matched() {
        for start in deferred {
            let word = &words[start];
            if inv.namespaces.iter().any(|n| n == word) {
                r.namespaces.insert(word.clone());
                used[start] = true;
            }
            for o in inv.objects.iter().filter(|o| o.name == *word) {
                push_hit(&mut r, o, word, How::Exact);
                used[start] = true;
            }
        }
    }

    // A namespace the question names narrows the hits when some are in it
    // (`catalog in shop`: not the catalog of every other namespace).
    if !r.namespaces.is_empty()
        && r.hits.iter().any(|h| {
            h.object
                .namespace
                .as_ref()
                .is_some_and(|n| r.namespaces.contains(n))
        })
    {
        let namespaces = r.namespaces.clone();
        r.hits.retain(|h| {
            h.object
                .namespace
                .as_ref()
                .is_none_or(|n| namespaces.contains(n))
        });
    }

    // Kind words narrow the hits when they can.
    if !r.kinds.is_empty() && r.hits.iter().any(|h| r.kinds.contains(h.object.kind)) {
        let kinds = r.kinds.clone();
        r.hits.retain(|h| kinds.contains(h.object.kind));
    }

    for (i, w) in words.iter().enumerate() {
        if !used[i] && name_like(w) && !w.starts_with('-') {
            r.unmatched.push(w.clone());
        }
    }
    r
}

fn push_hit(r: &mut Resolution, o: &Named, word: &str, how: How) {
    if !r.hits.iter().any(|h| h.object == *o) {
        r.hits.push(Hit {
            object: o.clone(),
            word: word.to_owned(),
            how,
        });
    }
}

/// The objects `word` names at its best match quality. Pods yield to any
/// other kind matched as well; a run of several words matches exactly or
/// by a typo only.
fn best_matches<'a>(word: &str, inv: &'a Inventory, run: bool) -> Vec<(&'a Named, How)> {
    let mut found: Vec<(&Named, How)> = inv
        .objects
        .iter()
        .filter_map(|o| match_name(word, &o.name).map(|h| (o, h)))
        .filter(|(_, h)| !run || *h != How::Affix)
        .collect();
    let Some(best) = found.iter().map(|(_, h)| *h).max() else {
        return found;
    };
    found.retain(|(_, h)| *h == best);
    if found.iter().any(|(o, _)| o.kind != "Pod") {
        found.retain(|(o, _)| o.kind != "Pod");
    }
    found
}

/// The names closest to `word`, nearest first (at most `n`).
pub fn nearest(word: &str, inv: &Inventory, n: usize) -> Vec<Named> {
    let mut scored: Vec<(usize, Named)> = Vec::new();
    let ns_named = inv.namespaces.iter().map(|ns| Named {
        kind: "Namespace",
        namespace: None,
        name: ns.clone(),
    });
    for o in inv
        .objects
        .iter()
        .filter(|o| o.kind != "Pod")
        .cloned()
        .chain(ns_named)
    {
        let whole = distance(word, &o.name);
        // A part of the word against a part of the name (`notifer-worker`
        // → `notifier`), a step further than a whole match.
        let part = word
            .split('-')
            .filter(|w| w.len() >= 3)
            .flat_map(|w| {
                o.name
                    .split('-')
                    .filter(|p| p.len() >= 3)
                    .map(move |p| distance(w, p) + 1)
            })
            .min()
            .unwrap_or(usize::MAX);
        // A question names a workload more often than a node.
        let d = whole.min(part) + usize::from(o.kind == "Node");
        if d <= word.len().div_ceil(2) {
            scored.push((d, o));
        }
    }
    scored.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    // Each name once: the first (kind, namespace) that holds it stands for
    // the others.
    let mut out: Vec<Named> = Vec::new();
    for (_, o) in scored {
        if !out.iter().any(|x| x.name == o.name) {
            out.push(o);
        }
        if out.len() == n {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv() -> Inventory {
        let o = |kind, ns: &str, name: &str| Named {
            kind,
            namespace: Some(ns.to_owned()),
            name: name.to_owned(),
        };
        Inventory {
            namespaces: ["default", "notifications", "payments", "ml", "crashing"]
                .map(String::from)
                .to_vec(),
            objects: vec![
                o("Deployment", "notifications", "notifier"),
                o("Pod", "notifications", "notifier-6d5f8b7c9-x2k4p"),
                o("Service", "notifications", "notifier"),
                o("Deployment", "payments", "payments-api"),
                o("Service", "payments", "payments-api"),
                o("Job", "ml", "ml-trainer"),
                o("Deployment", "shop", "web"),
                o("Deployment", "blog", "web"),
                Named {
                    kind: "Node",
                    namespace: None,
                    name: "worker-2".into(),
                },
            ],
        }
    }

    fn names(r: &Resolution) -> Vec<String> {
        r.hits.iter().map(|h| h.object.display()).collect()
    }

    #[test]
    fn a_namespace_the_question_names_narrows_the_objects_found_elsewhere() {
        let mut inv = inv();
        inv.namespaces
            .extend(["shop".to_owned(), "blog".to_owned()]);
        let r = resolve("why is web failing in shop?", &inv);
        assert_eq!(names(&r), ["Deployment shop/web"]);
        let r = resolve("why is web failing in namespace blog?", &inv);
        assert_eq!(names(&r), ["Deployment blog/web"]);
        // Named nowhere: every namespace's.
        let r = resolve("why is web failing?", &inv);
        assert_eq!(names(&r), ["Deployment shop/web", "Deployment blog/web"]);
        // Nothing of that name in the namespace named: what was found stays.
        let r = resolve("why is notifier failing in shop?", &inv);
        assert_eq!(
            names(&r),
            [
                "Deployment notifications/notifier",
                "Service notifications/notifier"
            ]
        );
    }

    #[test]
    fn an_object_is_found_in_whatever_namespace_it_lives() {
        let r = resolve("why is notifier crashing?", &inv());
        assert_eq!(
            names(&r),
            [
                "Deployment notifications/notifier",
                "Service notifications/notifier"
            ]
        );
        assert_eq!(r.scope(), BTreeSet::from(["notifications".to_owned()]));
        assert!(r.unmatched.is_empty(), "{:?}", r.unmatched);
    }

    #[test]
    fn a_namespace_word_after_the_name_is_not_a_namespace_called_crashing() {
        let r = resolve(
            "why is the notifier deployment in the notifications namespace crashing?",
            &inv(),
        );
        assert_eq!(
            r.namespaces,
            BTreeSet::from(["notifications".to_owned()]),
            "{r:?}"
        );
        assert_eq!(names(&r), ["Deployment notifications/notifier"]);
    }

    #[test]
    fn namespaces_in_any_phrasing() {
        for q in [
            "what's wrong in payments",
            "the payments namespace is broken",
            "payments ns",
            "pods failing -n payments",
            "is anything wrong in namespace=payments",
        ] {
            let r = resolve(q, &inv());
            assert!(r.namespaces.contains("payments"), "{q}: {r:?}");
        }
    }

    #[test]
    fn typos_prefixes_and_runs_of_words_are_matched_and_say_how() {
        let r = resolve("what's wrong with payment-api", &inv());
        assert_eq!(r.hits[0].how, How::Typo);
        assert_eq!(r.hits[0].object.name, "payments-api");
        assert!(r.hits[0].explain().unwrap().contains("closest name"));
        let r = resolve("is the payments api down?", &inv());
        assert!(
            names(&r).contains(&"Deployment payments/payments-api".to_owned()),
            "{r:?}"
        );
        let r = resolve("why can't ml-trainer start", &inv());
        assert_eq!(names(&r), ["Job ml/ml-trainer"]);
        let r = resolve("why is NOTIFER crashing", &inv());
        assert_eq!(r.hits[0].object.name, "notifier");
        let r = resolve("trainer keeps failing", &inv());
        assert_eq!(names(&r), ["Job ml/ml-trainer"]);
    }

    #[test]
    fn a_name_in_several_namespaces_names_each() {
        let r = resolve("is web down?", &inv());
        assert_eq!(names(&r), ["Deployment shop/web", "Deployment blog/web"]);
    }

    #[test]
    fn cluster_words_and_unknown_names() {
        let r = resolve("is anything broken in the cluster?", &inv());
        assert!(r.everything && r.nothing_matched() && r.unmatched.is_empty());
        let r = resolve("why is notifier-7d9c8-x2k4p restarting?", &inv());
        assert_eq!(r.hits[0].object.name, "notifier", "{r:?}");
        let r = resolve("why is billing-worker down?", &inv());
        assert!(r.nothing_matched());
        assert_eq!(r.unmatched, ["billing-worker"]);
        let r = resolve("why is the namespace paymnts failing", &inv());
        assert!(r.namespaces.contains("payments"), "{r:?}");
        let r = resolve("what's wrong in namespace checkout", &inv());
        assert_eq!(r.missing_namespaces, ["checkout"]);
    }

    #[test]
    fn nearest_names_for_an_honest_negative() {
        let mut inv = inv();
        for ns in ["a", "b", "c", "d"] {
            inv.objects.push(Named {
                kind: "DaemonSet",
                namespace: Some(ns.into()),
                name: "node-exporter".into(),
            });
        }
        let near = nearest("notifer-worker", &inv, 3);
        assert_eq!(near[0].name, "notifier", "{near:?}");
        let near = nearest("node-exprter", &inv, 3);
        assert_eq!(
            near.iter().filter(|n| n.name == "node-exporter").count(),
            1,
            "{near:?}"
        );
        assert!(distance("payment-api", "payments-api") == 1);
        assert!(distance("notifier", "notifeir") == 1);
    }

    #[test]
    fn kinds_in_any_form() {
        assert_eq!(kind_of("networkpolicies"), Some("NetworkPolicy"));
        assert_eq!(kind_of("deployments"), Some("Deployment"));
        assert_eq!(
            kind_of("validatingwebhookconfiguration"),
            Some("ValidatingWebhookConfiguration")
        );
    }

    #[test]
    fn nodes_are_named_too() {
        let r = resolve("is node worker-2 ok?", &inv());
        assert_eq!(names(&r), ["Node worker-2"]);
        assert!(r.nodes());
    }
}
