//! Which line of a crashed container's log tells why it died.
//!
//! The pattern library's detectors find the lines that name a cause; this
//! file adds what they leave out and sorts out what misleads:
//! - the first line of a usage error (`flag provided but not defined: -x`,
//!   `unknown flag: --x`, `error: unrecognized arguments: --x`), a
//!   configuration the program cannot parse (`yaml: line 12: …`, `unknown
//!   directive`), and a fatal head without level or class (`Error: …`,
//!   `fatal: …`, .NET's `crit:`), a Ruby exception head (`…: msg (KeyError)`);
//! - a line logged at INFO, DEBUG or TRACE that merely holds the word
//!   `error` or an exception's name is no error;
//! - what a runtime or a shell prints after the real error — a version
//!   banner (`Node.js v20.11.1`), usage text, `npm ERR!`, `exited with code
//!   1`, `Shutting down` — is noise: quoted last, if at all.
//!
//! These checks run on every line: they test a few fixed words, case
//! sensitive, without lower-casing the line.

use super::{Kind, Match, exception_class, path_in};

/// What a line shows once the detectors have had their say: a usage,
/// configuration or fatal line they did not see, a more specific kind for
/// a bare error-level line, and nothing for a quiet level's generic match.
/// `may` is whether the line holds a word these checks need (the `MORE`
/// gate): without one, only the detectors' match is refined.
pub(super) fn refine(
    raw: &str,
    line: &str,
    may: bool,
    known: Option<Match>,
    line_no: usize,
) -> Option<Match> {
    if known.is_none() && !may {
        return None;
    }
    if raw.starts_with([' ', '\t']) && option_in(line, 0).is_some_and(|o| line.starts_with(&o)) {
        // A flag's help text, indented under `Usage:`.
        return known.filter(|m| !generic(m.kind));
    }
    // The JVM echoing its options, a usage line: what they name is no error
    // (`-XX:+UseCGroupMemoryLimitForHeap` is no heap exhausted).
    if ["Picked up ", "Usage:", "usage:", "Usage of "]
        .iter()
        .any(|p| line.starts_with(p))
    {
        return None;
    }
    // A refused command line says why whatever else the line names
    // (`Unrecognized VM option 'UseCGroupMemoryLimitForHeap'` is no heap).
    if may
        && let Some(option) = usage_error(line)
        && !echoed_source(line)
        && !quiet_level(line)
    {
        let mut m = Match::new(Kind::UsageError, line_no, line);
        m.target = option;
        return Some(m);
    }
    match known {
        Some(m) if generic(m.kind) => {
            if quiet_level(line) {
                return None;
            }
            match may.then(|| more(line, line_no)).flatten() {
                Some(better) if better.kind < m.kind || m.kind == Kind::ErrorLevel => Some(Match {
                    exception: m.exception.clone().or(better.exception),
                    ..better
                }),
                _ => Some(m),
            }
        }
        Some(m) => Some(m),
        None => {
            let m = more(line, line_no)?;
            (!quiet_level(line)).then_some(m)
        }
    }
}

/// Kinds a line may show by merely holding a word: an exception's name, an
/// error level, `Error:`.
pub(super) fn generic(kind: Kind) -> bool {
    matches!(
        kind,
        Kind::Exception | Kind::StackTrace | Kind::ErrorLevel | Kind::Fatal
    )
}

/// Usage errors, configuration errors, fatal heads.
fn more(line: &str, line_no: usize) -> Option<Match> {
    if echoed_source(line) {
        return None;
    }
    if let Some(option) = usage_error(line) {
        let mut m = Match::new(Kind::UsageError, line_no, line);
        m.target = option;
        return Some(m);
    }
    if config_error(line) {
        let mut m = Match::new(Kind::ConfigError, line_no, line);
        m.target = path_in(line);
        return Some(m);
    }
    if let Some(class) = ruby_exception(line) {
        // `ENV.fetch("X")` of an unset variable: `key not found: "X" (KeyError)`.
        let var = line
            .find("key not found: ")
            .and_then(|at| super::token_after(line, at + "key not found: ".len()))
            .filter(|v| super::is_env_name(v));
        let kind = if var.is_some() {
            Kind::MissingEnv
        } else {
            Kind::Exception
        };
        let mut m = Match::new(kind, line_no, line);
        m.var = var.map(str::to_string);
        m.exception = Some(class);
        return Some(m);
    }
    const HEADS: &[&str] = &[
        "Error: ",
        "error: ",
        "ERROR: ",
        "Error [ERR_",
        "fatal: ",
        "Fatal: ",
        "FATAL: ",
        "crit: ",
        "fail: ",
        "Unhandled exception. ",
        "Unhandled Exception: ",
    ];
    if HEADS.iter().any(|h| line.starts_with(h)) && !is_noise(line) {
        let mut m = Match::new(Kind::Fatal, line_no, line);
        m.exception = exception_class(line);
        return Some(m);
    }
    None
}

/// A line of source code a runtime echoes above its error (Node prints
/// the line that threw): `throw new Error(`…${x}…`);`.
fn echoed_source(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("throw ") || t.starts_with("raise ") || t.contains("${")
}

/// The option a usage error names (`-metrics-addr`, `--concurency`), when
/// the line is one: `Some(None)` for a usage error that names none.
fn usage_error(line: &str) -> Option<Option<String>> {
    const MARKERS: &[&str] = &[
        "flag provided but not defined",
        "unknown flag: ",
        "unknown shorthand flag: ",
        "unrecognized arguments: ",
        "unrecognized option",
        "Unrecognized option",
        "Unrecognized VM option",
        "invalid option -- ",
        "unknown option",
        "Unknown option",
        "No such option",
        "no such option",
        "which wasn't expected",
        "unexpected argument '",
        "required flag(s) ",
        "the following arguments are required",
        "Missing required option",
        "missing required argument",
    ];
    let at = MARKERS
        .iter()
        .find_map(|m| line.find(m).map(|i| i + m.len()));
    let at = at.or_else(|| {
        // Go's `invalid value "x" for flag -y: …`, pflag's `invalid
        // argument "x" for "--y" flag: …`.
        let v = line
            .find("invalid value \"")
            .or_else(|| line.find("invalid argument \""))?;
        line[v..].contains(" flag").then_some(v)
    })?;
    Some(
        option_in(line, at)
            .or_else(|| option_in(line, 0))
            .or_else(|| quoted_after(line, at)),
    )
}

/// The first quoted word from byte `from` of `line`: `'UseCGroupMemoryLimitForHeap'`.
fn quoted_after(line: &str, from: usize) -> Option<String> {
    let rest = &line[from..];
    let open = rest.find(['\'', '"', '`'])?;
    let q = rest[open..].chars().next()?;
    let body = &rest[open + 1..];
    let end = body.find(q)?;
    let word = &body[..end];
    (!word.is_empty() && !word.contains(char::is_whitespace)).then(|| word.to_string())
}

/// The first command-line option (`-x`, `--x-y`, `-XX:+Flag`) from byte
/// `from` of `line`.
fn option_in(line: &str, from: usize) -> Option<String> {
    line[from..]
        .split(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '`' | ',' | '(' | ')'))
        .map(|w| w.trim_end_matches([':', '.', ';']))
        .find(|w| {
            let body = w.trim_start_matches('-');
            w.starts_with('-')
                && w.len() - body.len() <= 2
                && body.starts_with(|c: char| c.is_ascii_alphabetic())
        })
        .map(str::to_string)
}

/// A configuration the program cannot parse or refuses.
fn config_error(line: &str) -> bool {
    const MARKERS: &[&str] = &[
        "yaml: ",
        "toml: ",
        "cannot unmarshal",
        "unknown field",
        "Unrecognized field",
        "unknown directive",
        "unknown key",
        "invalid key",
        "did not find expected",
        "mapping values are not allowed",
        "found character that cannot start",
        "error parsing config",
        "Error parsing config",
        "error loading config",
        "Error loading config",
        "failed to parse config",
        "failed to load config",
        "Failed to load config",
        "invalid configuration",
        "Invalid configuration",
        "configuration error",
        "ConfigurationError",
        "Configuration property",
        "JSONDecodeError",
        "ParserError",
        "ScannerError",
    ];
    if MARKERS.iter().any(|m| line.contains(m)) {
        return true;
    }
    // A parser's continuation line: `line 14: field x not found in type y`,
    // PyYAML's mark `in "/etc/app/config.yaml", line 7, column 27`.
    let t = line.trim_start();
    if t.starts_with("in \"") && t.contains("\", line ") && t.contains(", column ") {
        return true;
    }
    t.strip_prefix("line ").is_some_and(|rest| {
        rest.starts_with(|c: char| c.is_ascii_digit())
            && rest.contains(": ")
            && (rest.contains("field") || rest.contains("cannot") || rest.contains("key"))
    })
}

/// A Ruby exception head: `/app/x.rb:12:in 'fetch': key not found:
/// "SECRET_KEY_BASE" (KeyError)`: the class in the closing parentheses.
fn ruby_exception(line: &str) -> Option<String> {
    let body = line.strip_suffix(')')?;
    let open = body.rfind(" (")?;
    let class = &body[open + 2..];
    let last = class.rsplit("::").next()?;
    let ok = line.contains(":in ")
        && class.split("::").all(|seg| {
            seg.starts_with(|c: char| c.is_ascii_uppercase())
                && seg.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        && ["Error", "Exception", "Invalid", "NotFound", "Missing"]
            .iter()
            .any(|s| last.contains(s));
    ok.then(|| class.to_string())
}

/// A line logged at a level below warning: `INFO`, `level=info`,
/// `"level":"debug"`, `[info]`, klog's `I1120 …`.
fn quiet_level(line: &str) -> bool {
    const STRUCTURED: &[&str] = &[
        "level=info",
        "level=debug",
        "level=trace",
        "level=INFO",
        "level=DEBUG",
        "\"level\":\"info\"",
        "\"level\":\"debug\"",
        "\"level\":\"trace\"",
        "\"level\":\"INFO\"",
        "\"severity\":\"INFO\"",
        "\"severity\":\"info\"",
        "\"severity\":\"DEBUG\"",
    ];
    if STRUCTURED.iter().any(|w| line.contains(w)) {
        return true;
    }
    let b = line.as_bytes();
    if b.len() > 5
        && matches!(b[0], b'I' | b'D')
        && b[1..5].iter().all(u8::is_ascii_digit)
        && b[5] == b' '
    {
        return true;
    }
    let mut words = line.split_whitespace().take(6);
    let level = words.find_map(|w| {
        let w = w.trim_matches(['[', ']', ':', '|']);
        match w {
            "INFO" | "DEBUG" | "TRACE" | "NOTICE" | "info" | "debug" | "trace" => Some(true),
            "ERROR" | "FATAL" | "CRITICAL" | "WARN" | "WARNING" | "error" | "fatal" | "crit" => {
                Some(false)
            }
            _ => None,
        }
    });
    level == Some(true)
}

/// What a runtime, a process manager or a shell prints after the real
/// error: a version banner, usage text, `npm ERR!`, an exit summary, a
/// shutdown line.
pub fn is_noise(line: &str) -> bool {
    let t = line.trim();
    const STARTS: &[&str] = &[
        "Node.js v",
        "Usage:",
        "usage:",
        "Usage of ",
        "Flags:",
        "Global Flags:",
        "Options:",
        "Available Commands:",
        "Use \"",
        "Run '",
        "For more information",
        "npm ERR!",
        "npm error",
        "error Command failed",
        "info Visit https://yarnpkg.com",
        "Picked up JAVA_TOOL_OPTIONS",
        "Picked up _JAVA_OPTIONS",
        "Error: Could not create the Java Virtual Machine",
        "Error: A fatal exception has occurred",
        "exit status ",
        "Exiting",
        "exiting",
        "Shutting down",
        "shutting down",
        "Stopping ",
        "Stopped ",
        "* Version ",
        "* Puma version",
        "* Ruby version",
        "Puma starting",
        ":: Spring Boot ::",
    ];
    if STARTS.iter().any(|s| t.starts_with(s)) {
        return true;
    }
    const ANYWHERE: &[&str] = &[
        "exited with code",
        "Worker failed to boot",
        "Application startup failed. Exiting.",
        "Shutting down",
        "shutting down",
        "Stopping service",
        "Shutdown completed",
        "process exited",
        "See you next time",
        "ELIFECYCLE",
        "A complete log of this run",
    ];
    ANYWHERE.iter().any(|w| t.contains(w))
}

/// The last line of `text` worth quoting when none tells why the program
/// died: the last non-empty line that is not noise (the last non-empty
/// one when all are), with its 1-based number.
pub fn last_meaningful_line(text: &str) -> Option<(usize, &str)> {
    let lines: Vec<(usize, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    lines
        .iter()
        .rev()
        .find(|(_, l)| !is_noise(l) && !l.starts_with('-'))
        .or(lines.last())
        .copied()
}

/// Whether a line names something a person can act on: a path, a host and
/// port, a quoted key or name, a command-line option, a line number.
pub(super) fn names_something(line: &str) -> bool {
    path_in(line).is_some()
        || line.contains('\'')
        || line.contains('"')
        || line.contains('`')
        || option_in(line, 0).is_some()
        || line.contains("line ")
        || line
            .split(|c: char| c.is_whitespace() || matches!(c, '/' | ','))
            .any(|w| {
                w.rsplit_once(':').is_some_and(|(h, p)| {
                    !h.is_empty()
                        && !p.is_empty()
                        && p.len() <= 5
                        && p.chars().all(|c| c.is_ascii_digit())
                })
            })
}

#[cfg(test)]
mod tests {
    use super::super::{Kind, clip, most_telling, scan};
    use super::*;

    /// The line the root cause quotes: the first of the most telling.
    fn best(log: &str) -> (usize, String) {
        let ms = scan(log);
        let top = most_telling(&ms, 4);
        let mut ordered = top.clone();
        ordered.sort_by_key(|m| super::super::standing(m));
        let m = ordered
            .first()
            .unwrap_or_else(|| panic!("nothing telling: {ms:?}"));
        (m.line_no, m.line.clone())
    }

    #[test]
    fn node_error_before_its_version_banner() {
        let log = "/app/dist/config.js:58\n    throw new Error(`Invalid configuration: ${p}`);\n    ^\n\nError: Invalid configuration: \"cache.ttlSeconds\" must be a number (got \"15m\")\n    at loadConfig (/app/dist/config.js:58:11)\n\nNode.js v20.18.0\n";
        let (n, line) = best(log);
        assert_eq!(n, 5, "{line}");
        assert!(line.contains("cache.ttlSeconds"));
        assert_eq!(
            last_meaningful_line("x\nNode.js v20.18.0\n"),
            Some((1, "x"))
        );
    }

    #[test]
    fn bad_flag_before_usage_text() {
        let log = "flag provided but not defined: -metrics-bind-address\nUsage of /manager:\n  -kubeconfig string\n    \tPaths to a kubeconfig.\n  -zap-log-level value\n    \tone of 'debug', 'info', 'error'\n";
        let ms = scan(log);
        assert_eq!(ms.len(), 1, "usage text is not telling: {ms:?}");
        assert_eq!(ms[0].kind, Kind::UsageError);
        assert_eq!(ms[0].target.as_deref(), Some("-metrics-bind-address"));
        // Cobra, argparse, clap, the JVM.
        for (line, option) in [
            (
                "Error: unknown flag: --kubeconfig-path",
                "--kubeconfig-path",
            ),
            (
                "worker.py: error: unrecognized arguments: --concurency 8",
                "--concurency",
            ),
            ("error: unexpected argument '--colour' found", "--colour"),
        ] {
            let m = &scan(line)[0];
            assert_eq!(
                (m.kind, m.target.as_deref()),
                (Kind::UsageError, Some(option)),
                "{line}"
            );
        }
        let jvm = "Picked up JAVA_TOOL_OPTIONS: -XX:+UseCGroupMemoryLimitForHeap\nUnrecognized VM option 'UseCGroupMemoryLimitForHeap'\nError: Could not create the Java Virtual Machine.\nError: A fatal exception has occurred. Program will exit.\n";
        assert_eq!(best(jvm).0, 2);
        let m = &scan(jvm)[0];
        assert_eq!(m.kind, Kind::UsageError, "not a heap exhausted");
        assert_eq!(m.target.as_deref(), Some("UseCGroupMemoryLimitForHeap"));
        // Go flag help that holds `…Level=Error` is no error line.
        let help = "  -zap-devel\n    \tProduction Mode defaults(encoder=jsonEncoder,logLevel=Info,stackTraceLevel=Error) (default true)\n";
        assert!(scan(help).is_empty(), "{:?}", scan(help));
        // argparse prints its usage line before the error.
        let py = "usage: worker.py [-h] [--log-level {debug,info,warning,error}]\nworker.py: error: unrecognized arguments: --concurency 8\n";
        assert_eq!(best(py).0, 2);
    }

    #[test]
    fn exception_heads_and_shutdown_noise() {
        // gunicorn: the traceback's exception, not the worker's exit line.
        let py = "Traceback (most recent call last):\n  File \"/app/app.py\", line 3, in <module>\n    port = int(os.environ[\"PORT\"])\nValueError: invalid literal for int() with base 10: 'http'\n[2026-11-20 08:58:01 +0000] [1] [ERROR] Worker (pid:7) exited with code 3\n[2026-11-20 08:58:01 +0000] [1] [ERROR] Reason: Worker failed to boot.\n";
        assert_eq!(best(py).0, 4);
        // The worker's exit lines are not quoted beside the exception.
        let ms = scan(py);
        let top = most_telling(&ms, 4);
        assert!(top.iter().all(|m| !is_noise(&m.line)), "{top:?}");
        // Ruby: `…:in 'fetch': key not found: "X" (KeyError)`.
        let rb = "=> Booting Puma\nExiting\n/app/config/initializers/ledger.rb:4:in `fetch': key not found: \"LEDGER_API_URL\" (KeyError)\n\tfrom /app/config/environment.rb:5:in `<main>'\n";
        let ms = scan(rb);
        assert_eq!(ms.len(), 1, "{ms:?}");
        assert_eq!(
            (ms[0].kind, ms[0].var.as_deref()),
            (Kind::MissingEnv, Some("LEDGER_API_URL"))
        );
        // .NET: the inner exception under `--->` is quoted too.
        let net = "Unhandled exception. System.IO.InvalidDataException: Failed to load configuration from file '/app/appsettings.json'.\n ---> System.Text.Json.JsonReaderException: Expected a ':'. LineNumber: 17 | BytePositionInLine: 10.\n   at System.Text.Json.ThrowHelper.Throw()\n";
        let ms = scan(net);
        let top = most_telling(&ms, 4);
        assert_eq!(top.len(), 2, "{ms:?}");
        assert_eq!(top[0].kind, Kind::ConfigError);
        // A Go program's config error at the end of a long logfmt line.
        let prom = "ts=2026-11-20T08:57:41.105Z caller=main.go:1103 level=error msg=\"Error loading config (--config.file=/etc/prometheus/prometheus.yml)\" file=/etc/prometheus/prometheus.yml err=\"parsing YAML file /etc/prometheus/prometheus.yml: yaml: unmarshal errors:\\n  line 23: field scrape_intervall not found in type config.ScrapeConfig\"\nts=2026-11-20T08:57:41.105Z caller=main.go:1131 level=info msg=\"See you next time!\"\n";
        let ms = scan(prom);
        assert_eq!(ms.len(), 1, "{ms:?}");
        assert_eq!(ms[0].kind, Kind::ConfigError);
        assert!(super::super::quote(&ms[0], 200).contains("scrape_intervall"));
    }

    #[test]
    fn quiet_levels_that_merely_say_error_are_not_telling() {
        for line in [
            "2026-11-20 08:57:01,204 INFO  [main] c.e.ErrorHandlers - registered handler for java.lang.IllegalStateException",
            "level=info msg=\"registered error handler\" handler=java.lang.IllegalArgumentException",
            "{\"level\":\"info\",\"msg\":\"Error: none, batch flushed\",\"errors\":0}",
            "I1120 08:57:01.000000 1 main.go:12] Error: 0 of 12 checks failed",
            "2026-11-20 08:57:01 WARN  [main] o.e.Cache - cache error rate 0.1% below threshold",
            "level=warn msg=\"error budget at 80%\" slo=checkout-availability",
            "{\"level\":\"warn\",\"msg\":\"retry queue drained\",\"errors\":0}",
            "INFO:     error handlers registered: app.errors.UpstreamTimeoutError -> 504",
            "Usage: app [flags]",
            "  -h, --help   help for app (errors are printed to stderr)",
        ] {
            assert!(scan(line).is_empty(), "{line}: {:?}", scan(line));
        }
        // The same words at error level are.
        assert_eq!(scan("Error: none of the brokers answered").len(), 1);
        assert_eq!(
            scan("2026-11-20 08:57:01,204 ERROR [main] c.e.App - java.lang.IllegalStateException: no leader")[0].kind,
            Kind::Exception
        );
    }

    #[test]
    fn long_lines_lose_their_middle_never_their_end() {
        let image = "harbor.corp.example.com/payments-internal/settlement-batch-processor:3.14.2-20261118.1f0c9a2b";
        let msg = format!(
            "Failed to pull image \"{image}\": failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": unexpected status from HEAD request to https://harbor.corp.example.com/v2/x/manifests/3.14.2: 403 Forbidden"
        );
        let cut = clip(&msg, 240);
        assert!(cut.starts_with("Failed to pull image"), "{cut}");
        assert!(cut.ends_with(": 403 Forbidden"), "{cut}");
        assert!(cut.contains(" … "), "{cut}");
        assert!(cut.chars().count() <= 243, "{cut}");
        assert_eq!(clip("short", 240), "short");
    }
}
