//! Job and CronJob analyzers: failed Jobs (backoff limit, deadline) with the
//! failed pods' evidence chain; CronJobs with an invalid schedule, suspended,
//! or whose last run failed.
//!
//! A Job created by a CronJob is reported on its CronJob (one finding per
//! CronJob, about its last run), not on its own.

use std::collections::BTreeMap;

use crate::ctx::{Scope, name_of};
use crate::finding::{Evidence, Finding, ObjRef, Severity, Source};
use crate::fix;
use crate::model::Pod;
use crate::reasons as r;

use super::pods::{self, EventIndex, Group};
use super::template::{ReplicaSets, existing, owner_named};

fn failed_condition(job: &serde_json::Value) -> Option<&serde_json::Value> {
    job["status"]["conditions"].as_array()?.iter().find(|c| {
        matches!(c["type"].as_str(), Some("Failed") | Some("FailureTarget"))
            && c["status"].as_str() == Some("True")
    })
}

/// A finding about `object` built from the failed pods of `job` (their
/// states, events, logs, references), with the Job's failure condition first.
fn job_failure(
    scope: &Scope,
    events: &EventIndex,
    job: &serde_json::Value,
    object: ObjRef,
    reason: &str,
    cause: String,
) -> Finding {
    let ns = scope.namespace.as_str();
    let job_name = name_of(job);
    let cond = failed_condition(job);
    let cond_text = cond
        .map(|c| {
            format!(
                "Failed=True {}: {}",
                c["reason"].as_str().unwrap_or(""),
                c["message"].as_str().unwrap_or("")
            )
        })
        .unwrap_or_default();
    let st = &job["status"];
    let counts = format!(
        "{} failed, {} succeeded, {} active (backoffLimit {}, activeDeadlineSeconds {})",
        st["failed"].as_i64().unwrap_or(0),
        st["succeeded"].as_i64().unwrap_or(0),
        st["active"].as_i64().unwrap_or(0),
        job["spec"]["backoffLimit"].as_i64().unwrap_or(6),
        job["spec"]["activeDeadlineSeconds"]
            .as_i64()
            .map_or("none".to_string(), |d| d.to_string()),
    );
    let failed_pods: Vec<&Pod> = scope
        .pods
        .iter()
        .filter(|p| {
            p.metadata
                .controller()
                .is_some_and(|o| o.kind == "Job" && o.name == job_name)
        })
        .filter(|p| p.status.phase.as_deref() != Some("Succeeded"))
        .collect();
    let mut failing = Vec::new();
    for pod in &failed_pods {
        if let Some(problem) = pods::classify(pod, events) {
            failing.push((*pod, problem));
        }
    }
    // Newest first: the last attempt says the most.
    failing.sort_by(|a, b| {
        b.0.metadata
            .creation_timestamp
            .cmp(&a.0.metadata.creation_timestamp)
    });
    let mut finding = if failing.is_empty() {
        Finding::new(object.clone(), Severity::Error, reason, cause.clone())
    } else {
        failing.truncate(3);
        let job_ref = ObjRef::new("batch/v1", "Job", Some(ns), job_name);
        let replicasets = ReplicaSets::new(scope);
        let mut f = pods::build(
            scope,
            events,
            &replicasets,
            job_ref,
            Group {
                failing,
                others: Vec::new(),
            },
        );
        let mut g = Finding::new(object.clone(), Severity::Error, reason, cause.clone());
        g.root_cause = f.root_cause.take();
        g.evidence = std::mem::take(&mut f.evidence);
        g.fixes = std::mem::take(&mut f.fixes);
        g.pods = std::mem::take(&mut f.pods);
        g
    };
    let head = vec![
        Evidence::new(
            Source::Status,
            format!("Job {ns}/{job_name} condition"),
            cond_text.clone(),
        ),
        Evidence::new(
            Source::Status,
            format!("Job {ns}/{job_name} status"),
            counts,
        ),
    ];
    finding.evidence.splice(0..0, head);
    // With failed pods, their evidence already holds the Job's events.
    let job_events = if failed_pods.is_empty() {
        events.of("Job", job_name)
    } else {
        &[]
    };
    for e in job_events
        .iter()
        .filter(|e| e.type_.as_deref() == Some("Warning"))
        .take(3)
    {
        finding.evidence.push(Evidence::new(
            Source::Event,
            format!(
                "Event {} on Job {ns}/{job_name}",
                e.reason.as_deref().unwrap_or("")
            ),
            e.message.clone().unwrap_or_default(),
        ));
    }
    if finding.root_cause.is_none() {
        let why = cond.and_then(|c| c["reason"].as_str()).unwrap_or("Failed");
        let detail = match why {
            "BackoffLimitExceeded" => {
                "its pods failed more often than the backoff limit allows".to_string()
            }
            "DeadlineExceeded" => "it ran longer than activeDeadlineSeconds".to_string(),
            other => format!("the Job controller marked it {other}"),
        };
        let gone = if failed_pods.is_empty() {
            "; the failed pods are gone, so their logs cannot be read"
        } else {
            ""
        };
        finding.root_cause = Some(format!(
            "Job {ns}/{job_name} failed ({why}): {detail}{gone}"
        ));
    }
    finding
}

pub fn jobs(scope: &Scope, out: &mut Vec<Finding>) {
    let events = EventIndex::new(scope);
    let ns = scope.namespace.as_str();
    for job in scope.objects("jobs.batch") {
        // CronJob runs are reported on the CronJob.
        if owner_named(job, "CronJob").is_some() {
            continue;
        }
        let Some(cond) = failed_condition(job) else {
            continue;
        };
        let name = name_of(job);
        let obj = ObjRef::new("batch/v1", "Job", Some(ns), name);
        if let Some(f) = existing(out, &obj) {
            f.evidence.insert(
                0,
                Evidence::new(
                    Source::Status,
                    format!("Job {ns}/{name} condition"),
                    format!(
                        "Failed=True {}: {}",
                        cond["reason"].as_str().unwrap_or(""),
                        cond["message"].as_str().unwrap_or("")
                    ),
                ),
            );
            continue;
        }
        let cause = format!(
            "Job {ns}/{name} failed: {} ({})",
            cond["reason"].as_str().unwrap_or("Failed"),
            cond["message"].as_str().unwrap_or("")
        );
        out.push(job_failure(scope, &events, job, obj, r::JOB_FAILED, cause));
    }
}

pub fn cronjobs(scope: &Scope, out: &mut Vec<Finding>) {
    let events = EventIndex::new(scope);
    let ns = scope.namespace.as_str();
    // The newest Job of each CronJob.
    let mut last_runs: BTreeMap<&str, &serde_json::Value> = BTreeMap::new();
    for job in scope.objects("jobs.batch") {
        let Some(cj) = owner_named(job, "CronJob") else {
            continue;
        };
        let newer = last_runs
            .get(cj)
            .is_none_or(|prev| (created(job), name_of(job)) > (created(prev), name_of(prev)));
        if newer {
            last_runs.insert(cj, job);
        }
    }
    for cj in scope.objects("cronjobs.batch") {
        let name = name_of(cj);
        let obj = ObjRef::new("batch/v1", "CronJob", Some(ns), name);
        let schedule = cj["spec"]["schedule"].as_str().unwrap_or("");
        if let Err(why) = validate_schedule(schedule) {
            let f = Finding::new(
                obj.clone(),
                Severity::Error,
                r::CRON_JOB_INVALID_SCHEDULE,
                format!("CronJob {ns}/{name} has an invalid schedule `{schedule}`"),
            )
            .root_cause(format!("the schedule `{schedule}` of CronJob {ns}/{name} is not valid cron syntax: {why}, so it never runs"))
            .evidence(Source::Spec, format!("CronJob {ns}/{name} spec.schedule"), schedule.to_string())
            .fix(fix::needs_input(
                obj.clone(),
                "Set a valid five-field cron schedule (minute hour day-of-month month day-of-week)",
                format!(
                    "kubectl patch cronjob {name} -n {ns} --type=merge -p {}",
                    fix::shell_quote(r#"{"spec":{"schedule":"<minute> <hour> <day-of-month> <month> <day-of-week>"}}"#)
                ),
            ));
            out.push(f);
        }
        if cj["spec"]["suspend"].as_bool() == Some(true) {
            let last = cj["status"]["lastScheduleTime"].as_str().unwrap_or("never");
            let ops = vec![
                fix::test("/spec/suspend", true),
                fix::replace("/spec/suspend", false),
            ];
            let f = Finding::new(obj.clone(), Severity::Info, r::CRON_JOB_SUSPENDED, format!("CronJob {ns}/{name} is suspended"))
                .root_cause(format!("spec.suspend of CronJob {ns}/{name} is true: no run is scheduled (last scheduled: {last})"))
                .evidence(Source::Spec, format!("CronJob {ns}/{name} spec.suspend"), "true")
                .fix(fix::patch(obj.clone(), cj, ops, format!("Resume CronJob {name} (spec.suspend: false), if the suspension is not intended")));
            out.push(f);
        }
        // The last run: the newest Job the CronJob created.
        let Some(job) = last_runs.get(name).copied() else {
            continue;
        };
        let Some(cond) = failed_condition(job) else {
            continue;
        };
        let job_name = name_of(job);
        if let Some(f) = existing(out, &obj)
            && !matches!(
                f.reason.as_str(),
                r::CRON_JOB_SUSPENDED | r::CRON_JOB_INVALID_SCHEDULE
            )
        {
            f.evidence.insert(
                0,
                Evidence::new(
                    Source::Status,
                    format!("Job {ns}/{job_name} condition"),
                    format!(
                        "last run Job {job_name} Failed=True {}: {}",
                        cond["reason"].as_str().unwrap_or(""),
                        cond["message"].as_str().unwrap_or("")
                    ),
                ),
            );
            continue;
        }
        let cause = format!(
            "the last run of CronJob {ns}/{name}, Job {job_name}, failed: {} ({})",
            cond["reason"].as_str().unwrap_or("Failed"),
            cond["message"].as_str().unwrap_or("")
        );
        let mut f = job_failure(scope, &events, job, obj, r::CRON_JOB_LAST_RUN_FAILED, cause);
        if let Some(ok) = cj["status"]["lastSuccessfulTime"].as_str() {
            f.evidence.push(Evidence::new(
                Source::Status,
                format!("CronJob {ns}/{name} status"),
                format!("last successful run: {ok}"),
            ));
        }
        out.push(f);
    }
}

fn created(object: &serde_json::Value) -> &str {
    object["metadata"]["creationTimestamp"]
        .as_str()
        .unwrap_or("")
}

// ---- cron syntax ----

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Checks a CronJob schedule as the controller parses it (five fields,
/// `@hourly`-style descriptors, `@every <duration>`, an optional `TZ=` /
/// `CRON_TZ=` prefix). `Err` says what is wrong.
pub fn validate_schedule(schedule: &str) -> Result<(), String> {
    let mut s = schedule.trim();
    if s.is_empty() {
        return Err("it is empty".into());
    }
    for prefix in ["CRON_TZ=", "TZ="] {
        if let Some(rest) = s.strip_prefix(prefix) {
            let (_, rest) = rest
                .split_once(' ')
                .ok_or("the time zone prefix is not followed by a schedule")?;
            s = rest.trim();
        }
    }
    if let Some(desc) = s.strip_prefix('@') {
        return match desc {
            "yearly" | "annually" | "monthly" | "weekly" | "daily" | "midnight" | "hourly" => {
                Ok(())
            }
            d if d.starts_with("every ") => {
                let dur = d["every ".len()..].trim();
                let ok = !dur.is_empty()
                    && dur.chars().any(|c| c.is_ascii_digit())
                    && dur.chars().all(|c| {
                        c.is_ascii_digit() || matches!(c, '.' | 'h' | 'm' | 's' | 'u' | 'µ' | 'n')
                    });
                if ok {
                    Ok(())
                } else {
                    Err(format!("`@every {dur}` is not a duration"))
                }
            }
            other => Err(format!("`@{other}` is not a known descriptor")),
        };
    }
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "it has {} fields, not 5 (minute hour day-of-month month day-of-week)",
            fields.len()
        ));
    }
    let specs: [(&str, u32, u32, &[&str]); 5] = [
        ("minute", 0, 59, &[]),
        ("hour", 0, 23, &[]),
        ("day-of-month", 1, 31, &[]),
        ("month", 1, 12, &MONTHS),
        ("day-of-week", 0, 7, &DAYS),
    ];
    for (field, (what, lo, hi, names)) in fields.iter().zip(specs) {
        validate_field(
            field,
            lo,
            hi,
            names,
            what == "day-of-month" || what == "day-of-week",
        )
        .map_err(|e| format!("{what} field `{field}`: {e}"))?;
    }
    Ok(())
}

fn validate_field(
    field: &str,
    lo: u32,
    hi: u32,
    names: &[&str],
    question: bool,
) -> Result<(), String> {
    for item in field.split(',') {
        if item.is_empty() {
            return Err("empty list item".into());
        }
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s
                    .parse()
                    .map_err(|_| format!("step `{s}` is not a number"))?;
                if step == 0 {
                    return Err("step 0".into());
                }
                (r, Some(step))
            }
            None => (item, None),
        };
        if range == "*" || (question && range == "?") {
            continue;
        }
        let value = |v: &str| -> Result<u32, String> {
            if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(v)) {
                return Ok(i as u32 + lo);
            }
            let n: u32 = v.parse().map_err(|_| format!("`{v}` is not a number"))?;
            if n < lo || n > hi {
                return Err(format!("{n} is outside {lo}-{hi}"));
            }
            Ok(n)
        };
        match range.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (value(a)?, value(b)?);
                if a > b {
                    return Err(format!("range {a}-{b} is backwards"));
                }
            }
            None => {
                value(range)?;
                // `5/10` means 5-max/10: fine.
                let _ = step;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        for ok in [
            "*/5 * * * *",
            "0 3 * * 1-5",
            "30 2 1,15 * *",
            "0 0 * JAN,JUL SUN",
            "@daily",
            "@every 1h30m",
            "TZ=Europe/Paris 0 9 * * *",
            "0 0 ? * MON",
            "5/10 * * * *",
            "0 0 * * 7",
        ] {
            assert!(
                validate_schedule(ok).is_ok(),
                "{ok}: {:?}",
                validate_schedule(ok)
            );
        }
        for bad in [
            "",
            "* * * *",
            "60 * * * *",
            "0 24 * * *",
            "0 0 0 * *",
            "0 0 * 13 *",
            "*/0 * * * *",
            "0 0 * * FUNDAY",
            "@sometimes",
            "5-1 * * * *",
            "* * * * * *",
        ] {
            assert!(validate_schedule(bad).is_err(), "{bad} should be invalid");
        }
    }
}
