//! A container refusing a command-line flag it does not know (Go's `flag
//! provided but not defined: -x`, pflag/cobra's `unknown flag: --x`,
//! kingpin's `unknown long flag '--x'`, argparse's `unrecognized
//! arguments: --x`), most often a sidecar beside a healthy main container.
//! The root cause names the container, the flag and where the spec passes
//! it; the fix corrects the flag to the one the usage text lists, else
//! restores the previous revision's arguments, else removes it.

use serde_json::Value;

use crate::analyzers::template::template_image;
use crate::fix;
use crate::reasons as r;

use super::diagnosis::Diagnosis;

impl<'a> Diagnosis<'a, '_> {
    /// The failing container exits on an unknown command-line flag.
    pub(super) fn bad_flag(&mut self) {
        if !matches!(
            self.reason,
            r::CRASH_LOOP_BACK_OFF | r::CONTAINER_FAILING | r::INIT_CONTAINER_FAILING
        ) {
            return;
        }
        let (Some(c), Some(t)) = (self.spec_container, self.template) else {
            return;
        };
        // The main container's refused command line is `usage.rs`'s (its
        // place may be an environment variable, its fix the usage text's
        // spelling); this is for the containers beside it.
        let main = self.rep.spec.containers.first().map(|m| m.name.as_str());
        if self.rep.spec.containers.len() < 2 || main == Some(c.name.as_str()) {
            return;
        }
        let Some((line_no, line, flag)) = unknown_flag(&self.log.text) else {
            return;
        };
        let Some((cpath, tc)) = t.container(&c.name) else {
            return;
        };
        // Where the spec passes it: args first, then command.
        let found = ["args", "command"].into_iter().find_map(|field| {
            tc[field].as_array()?.iter().enumerate().find_map(|(i, a)| {
                let a = a.as_str()?;
                (flag_name(a) == Some(flag.as_str())).then(|| (field, i, a.to_string()))
            })
        });
        let containers = self.rep.spec.containers.len();
        let role = match self.rep.spec.containers.first() {
            Some(first) if containers > 1 && first.name != c.name => format!(
                "sidecar container `{}` (beside the main container `{}`)",
                c.name, first.name
            ),
            _ => format!("container `{}`", c.name),
        };
        let wl = self.workload.display();
        let quoted = crate::analyzers::patterns::clip(line.trim(), 200);
        self.quote_log_line(line_no, &line);
        let mut root = format!(
            "{role} of {wl} exits because its program does not know the flag `{flag}` (`{quoted}`, {} line {line_no})",
            self.log.reference
        );
        if let Some((field, i, arg)) = &found {
            root.push_str(&format!(
                "; the flag is passed as {field}[{i}] `{arg}` of `{}`",
                c.name
            ));
        }
        let known = usage_flags(&self.log.text);
        let suggestion = closest(&flag, &known);
        if let Some(s) = &suggestion {
            root.push_str(&format!("; the usage text lists `{s}`"));
        }
        let Some((field, i, arg)) = found else {
            self.root = Some(root);
            return;
        };
        let path = format!("{cpath}/{field}/{i}");
        let base = vec![
            fix::test(&format!("{cpath}/name"), c.name.as_str()),
            fix::test(&path, arg.as_str()),
        ];
        let previous = self.previous_args(&c.name, field, tc);
        if let Some(s) = &suggestion {
            let new = arg.replacen(flag.as_str(), s, 1);
            let mut ops = base.clone();
            ops.push(fix::replace(&path, new.as_str()));
            if let Some(f) = self.template_fix(
                ops,
                format!(
                    "Correct the flag of {role}: {field}[{i}] `{arg}` → `{new}` (`{s}` is the flag its usage text lists)"
                ),
            ) {
                self.fixes.push(f);
            }
        } else if let Some((prev, rev)) = previous {
            root.push_str(&format!(
                "; revision {rev} passed {field} {}",
                Value::Array(prev.clone())
            ));
            let mut ops = vec![
                fix::test(&format!("{cpath}/name"), c.name.as_str()),
                fix::test(&format!("{cpath}/{field}"), tc[field].clone()),
            ];
            ops.push(fix::replace(
                &format!("{cpath}/{field}"),
                Value::Array(prev),
            ));
            if let Some(f) = self.template_fix(
                ops,
                format!("Restore the {field} of {role} that revision {rev} ran, without `{flag}`"),
            ) {
                self.fixes.push(f);
            }
        } else if arg.contains('=') || !takes_value(tc[field].get(i + 1)) {
            let mut ops = base;
            ops.push(fix::remove(&path));
            if let Some(f) = self.template_fix(
                ops,
                format!(
                    "Remove {field}[{i}] `{arg}` from {role}: its program does not accept `{flag}`"
                ),
            ) {
                self.fixes.push(f);
            }
        }
        self.root = Some(root);
    }

    /// The `field` (args/command) of container `name` in the previous
    /// revision, when it differs from the current one's `tc` and its
    /// image is the same: (the list, revision).
    fn previous_args(&self, name: &str, field: &str, tc: &Value) -> Option<(Vec<Value>, i64)> {
        let (current, previous) = self.revisions();
        let ((cur, _), (prev, rev)) = (current?, previous?);
        if template_image(cur, name) != template_image(prev, name) {
            return None;
        }
        let pc = prev["spec"]["template"]["spec"]["containers"]
            .as_array()?
            .iter()
            .find(|c| c["name"].as_str() == Some(name))?;
        let list = pc[field].as_array()?;
        (Some(list) != tc[field].as_array()).then(|| (list.clone(), rev))
    }
}

/// Whether the next argument is a value (not another flag).
fn takes_value(next: Option<&Value>) -> bool {
    next.and_then(Value::as_str)
        .is_some_and(|a| !a.starts_with('-'))
}

/// `-web.listen-address` of `-web.listen-address=:9113`, `--log.format` of
/// `--log.format`.
fn flag_name(arg: &str) -> Option<&str> {
    if !arg.starts_with('-') || arg == "-" || arg == "--" {
        return None;
    }
    Some(arg.split_once('=').map_or(arg, |(f, _)| f))
}

/// The first line reporting an unknown flag: (line number, line, flag as
/// written, dashes included).
fn unknown_flag(text: &str) -> Option<(usize, String, String)> {
    const MARKERS: &[&str] = &[
        "flag provided but not defined: ",
        "unknown long flag ",
        "unknown short flag ",
        "unknown flag: ",
        "unknown shorthand flag: ",
        "unrecognized arguments: ",
        "unrecognized option ",
        "unknown option ",
        "unknown option: ",
    ];
    text.lines().enumerate().find_map(|(i, line)| {
        let lower = line.to_ascii_lowercase();
        MARKERS.iter().find_map(|m| {
            let at = lower.find(m)?;
            let rest = &line[at + m.len()..];
            let flag: String = rest
                .trim_start_matches(['\'', '"', '`'])
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, '\'' | '"' | '`' | ',' | '='))
                .collect();
            flag.starts_with('-')
                .then(|| (i + 1, line.to_string(), flag))
        })
    })
}

/// Flags a usage text lists (`  -web.listen-address string`, `      --log.level=info`).
fn usage_flags(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let t = l.trim_start();
            (l.len() > t.len() && t.starts_with('-')).then_some(t)
        })
        .flat_map(|t| t.split([',', ' ']).filter(|w| w.starts_with('-')))
        .filter_map(|w| {
            let name = w.split(['=', '[']).next()?;
            (name.len() > 2).then(|| name.to_string())
        })
        .collect()
}

/// The listed flag closest to `flag` (same dashes, edit distance at most 2
/// and less than a third of its length).
fn closest(flag: &str, known: &[String]) -> Option<String> {
    let dashes = |f: &str| f.len() - f.trim_start_matches('-').len();
    known
        .iter()
        .filter(|k| k.as_str() != flag && dashes(k) == dashes(flag))
        .map(|k| (distance(flag, k), k))
        .filter(|(d, _)| *d <= 2 && *d * 3 < flag.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.clone())
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur.push((prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        let log = "flag provided but not defined: -web.listen-adress\nUsage of /usr/bin/nginx-prometheus-exporter:\n  -nginx.scrape-uri string\n    \tA URI\n  -web.listen-address string\n    \tAn address (default \":9113\")\n";
        let (n, _, f) = unknown_flag(log).unwrap();
        assert_eq!((n, f.as_str()), (1, "-web.listen-adress"));
        let known = usage_flags(log);
        assert_eq!(closest(&f, &known).as_deref(), Some("-web.listen-address"));
        let (_, _, f) =
            unknown_flag("vector: error: unknown long flag '--log.formatt', try --help").unwrap();
        assert_eq!(f, "--log.formatt");
        assert_eq!(
            unknown_flag("Error: unknown flag: --upstream-timeout")
                .unwrap()
                .2,
            "--upstream-timeout"
        );
        assert_eq!(flag_name("--a.b=c"), Some("--a.b"));
        assert!(unknown_flag("started, flags ok").is_none());
    }
}
