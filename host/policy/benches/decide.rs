//! Cost of one policy decision on the default policy: evaluated (an input
//! not seen before) and remembered (the same input again).
//! `cargo bench -p guardian-policy --bench decide`

use std::time::{Duration, Instant};

use guardian_policy::{Caller, GrantSets, Policy, PolicyInput, Resource};

fn main() {
    let policy = Policy::defaults().unwrap();
    let read = PolicyInput {
        caller: Caller::parse("agent:loop"),
        skill: "cluster".into(),
        tool: "summary".into(),
        verb: "list".into(),
        resource: Resource::new("", "v1", "pods", "", "Pod"),
        namespace: "staging".into(),
        grants: GrantSets {
            read: vec![
                "pods".into(),
                "pods/log".into(),
                "events".into(),
                "deployments.apps".into(),
            ],
            propose: vec![],
        },
        ..Default::default()
    };
    let mut write = read.clone();
    write.verb = "patch".into();
    write.dry_run = true;
    write.grants.propose = vec!["pods".into()];
    let mut outside = read.clone();
    outside.resource = Resource::new("", "v1", "secrets", "", "Secret");
    for (what, input) in [
        ("allow (read)", &read),
        ("allow (dry-run patch)", &write),
        ("deny (outside grants)", &outside),
    ] {
        for (how, fresh) in [("evaluated", true), ("remembered", false)] {
            let s = measure(&policy, input, 20_000, fresh);
            println!(
                "policy decision, {what}, {how}: p50 {:.1} µs, p90 {:.1} µs, p99 {:.1} µs",
                us(p(&s, 50)),
                us(p(&s, 90)),
                us(p(&s, 99))
            );
        }
    }
}

/// `fresh`: each input names a different object, so none is remembered.
fn measure(policy: &Policy, input: &PolicyInput, n: usize, fresh: bool) -> Vec<Duration> {
    for _ in 0..500 {
        std::hint::black_box(policy.decide(input.clone()));
    }
    let mut v: Vec<Duration> = (0..n)
        .map(|k| {
            let mut i = input.clone();
            if fresh {
                i.name = format!("web-{k}");
            }
            let t = Instant::now();
            std::hint::black_box(policy.decide(i));
            t.elapsed()
        })
        .collect();
    v.sort();
    v
}

fn p(s: &[Duration], pct: usize) -> Duration {
    s[(s.len() * pct / 100).min(s.len() - 1)]
}

fn us(d: Duration) -> f64 {
    d.as_nanos() as f64 / 1e3
}
