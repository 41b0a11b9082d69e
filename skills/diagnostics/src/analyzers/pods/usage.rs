//! A container whose program refuses its command line (`flag provided but
//! not defined: -x`, `unrecognized arguments: --x`, `Unrecognized VM option
//! 'X'`): which option, where the pod template sets it (an argument, the
//! command, an environment variable such as `JAVA_TOOL_OPTIONS`), and —
//! when the usage text the program printed lists an option one or two
//! typos away — a fix that spells it as the program does.

use crate::analyzers::patterns::{self, Match};
use crate::fix;

use super::diagnosis::Diagnosis;

/// Where the pod template sets a refused option.
struct Setting {
    /// `args[2]`, `command[1]`, `env JAVA_TOOL_OPTIONS`.
    place: String,
    /// The JSON pointer of the string that holds it (an argument).
    path: Option<String>,
    value: String,
}

impl Diagnosis<'_, '_> {
    /// The root cause of a refused command line, with a fix when the
    /// program's usage text shows the spelling it wants. Whether it found
    /// the option.
    pub(super) fn usage_root(&mut self, m: &Match) -> bool {
        let Some(option) = m.target.as_deref() else {
            return false;
        };
        let name = option.trim_start_matches('-');
        if name.is_empty() {
            return false;
        }
        let (cname, wl) = (self.container.unwrap_or(""), self.workload.display());
        let setting = self.setting_of(name);
        let quote = patterns::quote(m, 200);
        let Some(setting) = setting else {
            self.root = Some(format!(
                "container `{cname}` of {wl} exits at startup: its program refuses the option `{option}` (`{quote}`)"
            ));
            return true;
        };
        self.root = Some(format!(
            "container `{cname}` of {wl} exits at startup: its program refuses the option `{option}` (`{quote}`), which the pod template sets in {} `{}`",
            setting.place, setting.value
        ));
        self.spec(
            format!("{wl} container {cname} {}", setting.place),
            format!("`{}` sets the option the program refuses", setting.value),
        );
        // The spelling the usage text offers.
        let offered = offered_options(&self.log.text);
        let Some(better) = nearest(name, &offered) else {
            return true;
        };
        let (Some(path), Some(t)) = (setting.path.as_deref(), self.template) else {
            return true;
        };
        let Some((cpath, _)) = t.container(cname) else {
            return true;
        };
        let fixed = setting.value.replacen(name, &better, 1);
        let ops = vec![
            fix::test(&format!("{cpath}/name"), cname),
            fix::test(path, setting.value.as_str()),
            fix::replace(path, fixed.as_str()),
        ];
        if let Some(f) = self.template_fix(
            ops,
            format!(
                "Spell the option of container `{cname}` as its program's usage text does: `{}` → `{fixed}` (in {})",
                setting.value, setting.place
            ),
        ) {
            self.fixes.push(f);
        }
        true
    }

    /// Where the pod template sets option `name`: an argument or a word of
    /// the command, else an environment variable's value.
    fn setting_of(&self, name: &str) -> Option<Setting> {
        let t = self.template?;
        let (cpath, c) = t.container(self.container?)?;
        for list in ["args", "command"] {
            for (i, a) in c[list].as_array().into_iter().flatten().enumerate() {
                let Some(a) = a.as_str() else { continue };
                if sets(a, name) {
                    return Some(Setting {
                        place: format!("{list}[{i}]"),
                        path: Some(format!("{cpath}/{list}/{i}")),
                        value: a.to_string(),
                    });
                }
            }
        }
        c["env"].as_array().into_iter().flatten().find_map(|e| {
            let v = e["value"].as_str()?;
            v.split_whitespace()
                .any(|w| sets(w, name))
                .then(|| Setting {
                    place: format!("env {}", e["name"].as_str().unwrap_or("")),
                    path: None,
                    value: v.to_string(),
                })
        })
    }
}

/// Whether word `w` of a command line sets option `name`: `--name`,
/// `-name=value`, `-XX:+Name`.
fn sets(w: &str, name: &str) -> bool {
    let body = w.trim_start_matches('-');
    let body = body
        .strip_prefix("XX:+")
        .or_else(|| body.strip_prefix("XX:-"))
        .or_else(|| body.strip_prefix("XX:"))
        .unwrap_or(body);
    w.starts_with('-')
        && body
            .strip_prefix(name)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('='))
}

/// The options a usage text lists: `  -metrics-addr string`,
/// `[--concurrency CONCURRENCY]`, without their dashes.
fn offered_options(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in text.split(|c: char| c.is_whitespace() || matches!(c, '[' | ']' | ',' | '|')) {
        let body = w.trim_start_matches('-');
        if w.len() - body.len() > 2 || body.len() < 2 || !w.starts_with('-') {
            continue;
        }
        let body = body.split('=').next().unwrap_or(body);
        if body.starts_with(|c: char| c.is_ascii_alphabetic())
            && body
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            && !out.iter().any(|o| o == body)
        {
            out.push(body.to_string());
        }
    }
    out
}

/// The one offered option within two edits of `name` (not `name` itself).
fn nearest(name: &str, offered: &[String]) -> Option<String> {
    let close: Vec<&String> = offered
        .iter()
        .filter(|o| o.as_str() != name && edits(o, name) <= 2)
        .collect();
    match close.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    }
}

/// Levenshtein distance.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_set_offered_and_nearest() {
        assert!(sets(
            "--metrics-bind-address=127.0.0.1:8080",
            "metrics-bind-address"
        ));
        assert!(sets(
            "-XX:+UseCGroupMemoryLimitForHeap",
            "UseCGroupMemoryLimitForHeap"
        ));
        assert!(!sets("--metrics-bind-address-v2", "metrics-bind-address"));
        assert!(!sets("metrics-bind-address", "metrics-bind-address"));
        let usage = "usage: worker.py [-h] [--queue QUEUE] [--concurrency CONCURRENCY]\nworker.py: error: unrecognized arguments: --concurency 8\n";
        let offered = offered_options(usage);
        assert!(offered.contains(&"concurrency".to_string()), "{offered:?}");
        assert_eq!(nearest("concurency", &offered), Some("concurrency".into()));
        // Go's usage lists -metrics-addr: too far from metrics-bind-address.
        let go = "Usage of /manager:\n  -metrics-addr string\n  -leader-elect\n";
        assert_eq!(nearest("metrics-bind-address", &offered_options(go)), None);
        assert_eq!(edits("kitten", "sitting"), 3);
    }
}
