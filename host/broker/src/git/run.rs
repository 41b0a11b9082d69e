//! Running the `git` binary: never prompting, reading no user or system
//! configuration, speaking only http(s) and ssh, and carrying credentials
//! where neither the command line, the URL nor an error can hold them: a
//! token through `GIT_ASKPASS` (a script in a 0700 directory that prints
//! it from a 0600 file), an SSH key through `GIT_SSH_COMMAND`. Whatever git
//! says is scrubbed of the token before it goes anywhere.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::options::{GitCredential, read_token};
use crate::BrokerError;

/// How much of git's output is kept.
const MAX_OUTPUT: usize = 1 << 20;

/// What git said.
pub(crate) struct Output {
    pub ok: bool,
    pub stdout: String,
    /// Scrubbed of the credential.
    pub stderr: String,
}

/// A git environment for one repository: the credential and the author.
pub(crate) struct Git {
    env: Vec<(OsString, OsString)>,
    /// The token, to scrub from what git says.
    secret: Option<String>,
    /// Holds the askpass script and the token file; removed on drop.
    _askpass: Option<tempfile::TempDir>,
    /// An empty HOME.
    _home: tempfile::TempDir,
    timeout: Duration,
    /// The repository URL (without credentials), for messages.
    pub shown: String,
}

/// Environment variables passed through from Guardian's own environment.
const PASSED: &[&str] = &[
    "PATH",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

impl Git {
    /// The environment for `url` with `credential`; `key` names the config
    /// setting the credential came from.
    pub(crate) fn new(
        url: &str,
        credential: Option<&GitCredential>,
        key: &str,
        author: (&str, &str),
        timeout: Duration,
    ) -> Result<Self, BrokerError> {
        let home = tempfile::Builder::new()
            .prefix("guardian-git-home-")
            .tempdir()
            .map_err(|e| io_error("create a home directory for git", &e))?;
        let mut env: Vec<(OsString, OsString)> = PASSED
            .iter()
            .filter_map(|k| std::env::var_os(k).map(|v| ((*k).into(), v)))
            .collect();
        let mut set = |k: &str, v: &str| env.push((k.into(), v.into()));
        set("HOME", &home.path().to_string_lossy());
        set("LC_ALL", "C");
        set("GIT_TERMINAL_PROMPT", "0");
        set("GIT_CONFIG_NOSYSTEM", "1");
        set("GIT_CONFIG_GLOBAL", "/dev/null");
        set("GIT_ALLOW_PROTOCOL", "http:https:ssh");
        set("GIT_AUTHOR_NAME", author.0);
        set("GIT_AUTHOR_EMAIL", author.1);
        set("GIT_COMMITTER_NAME", author.0);
        set("GIT_COMMITTER_EMAIL", author.1);
        // No credential helper, no signing, no hooks of ours.
        let config = [
            ("credential.helper", ""),
            ("core.hooksPath", "/dev/null"),
            ("commit.gpgSign", "false"),
            ("protocol.version", "2"),
            ("init.defaultBranch", "main"),
        ];
        set("GIT_CONFIG_COUNT", &config.len().to_string());
        for (i, (k, v)) in config.iter().enumerate() {
            set(&format!("GIT_CONFIG_KEY_{i}"), k);
            set(&format!("GIT_CONFIG_VALUE_{i}"), v);
        }
        let mut secret = None;
        let mut askpass = None;
        match credential {
            None => {
                // Nothing to answer with: fail rather than ask.
                set("GIT_ASKPASS", "/bin/false");
                set("SSH_ASKPASS", "/bin/false");
            }
            Some(GitCredential::Token {
                token_file,
                username,
            }) => {
                let token = read_token(token_file, key)?;
                let dir = askpass_dir(&token, username)?;
                set("GIT_ASKPASS", &dir.path().join("askpass").to_string_lossy());
                secret = Some(token);
                askpass = Some(dir);
            }
            Some(GitCredential::SshKey {
                ssh_key_file,
                known_hosts_file,
            }) => {
                if !ssh_key_file.is_file() {
                    return Err(BrokerError::Invalid(format!(
                        "the SSH key file {} ({key}) does not exist",
                        ssh_key_file.display()
                    )));
                }
                // The host key must be known: from the configured file, else
                // the system's; never accepted on first use.
                let mut command = format!(
                    "ssh -F /dev/null -i {} -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes",
                    shell_quote(&ssh_key_file.to_string_lossy())
                );
                if let Some(known) = known_hosts_file {
                    if !known.is_file() {
                        return Err(BrokerError::Invalid(format!(
                            "the SSH known-hosts file {} ({key}) does not exist",
                            known.display()
                        )));
                    }
                    command.push_str(&format!(
                        " -o UserKnownHostsFile={}",
                        shell_quote(&known.to_string_lossy())
                    ));
                } else {
                    command.push_str(" -o UserKnownHostsFile=/dev/null");
                }
                set("GIT_SSH_COMMAND", &command);
                set("GIT_ASKPASS", "/bin/false");
            }
        }
        Ok(Git {
            env,
            secret,
            _askpass: askpass,
            _home: home,
            timeout,
            shown: url.to_owned(),
        })
    }

    /// Runs `git ARGS` in `dir`; an error only when git could not be run
    /// or did not finish in time (a failing git is `Output { ok: false }`).
    pub(crate) async fn run(&self, dir: &Path, args: &[&str]) -> Result<Output, BrokerError> {
        let mut command = tokio::process::Command::new("git");
        command
            .args(args)
            .current_dir(dir)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| {
            BrokerError::Unavailable(format!(
                "cannot run git ({e}); install git (the `git` package) on the host"
            ))
        })?;
        let mut stdout = child.stdout.take().expect("piped");
        let mut stderr = child.stderr.take().expect("piped");
        let work = async {
            let mut out = Vec::new();
            let mut err = Vec::new();
            let read_out = async {
                let _ = (&mut stdout)
                    .take(MAX_OUTPUT as u64)
                    .read_to_end(&mut out)
                    .await;
                // Drain the rest so git is not blocked on a full pipe.
                let _ = tokio::io::copy(&mut stdout, &mut tokio::io::sink()).await;
            };
            let read_err = async {
                let _ = (&mut stderr)
                    .take(MAX_OUTPUT as u64)
                    .read_to_end(&mut err)
                    .await;
                let _ = tokio::io::copy(&mut stderr, &mut tokio::io::sink()).await;
            };
            tokio::join!(read_out, read_err);
            let status = child.wait().await;
            (status, out, err)
        };
        let (status, out, err) = match tokio::time::timeout(self.timeout, work).await {
            Ok(done) => done,
            Err(_) => {
                return Err(BrokerError::Timeout(format!(
                    "git {} on {} did not finish within {}s (gitops.timeout); is the server \
                     slow or unreachable?",
                    args.first().copied().unwrap_or_default(),
                    self.shown,
                    self.timeout.as_secs_f64()
                )));
            }
        };
        let status = status.map_err(|e| io_error("wait for git", &e))?;
        Ok(Output {
            ok: status.success(),
            stdout: String::from_utf8_lossy(&out).into_owned(),
            stderr: self.scrub(&String::from_utf8_lossy(&err)),
        })
    }

    /// Runs git and returns its stdout, or an error built by `fail` from
    /// its (scrubbed) stderr.
    pub(crate) async fn must(
        &self,
        dir: &Path,
        args: &[&str],
        fail: impl FnOnce(&str) -> BrokerError,
    ) -> Result<String, BrokerError> {
        let out = self.run(dir, args).await?;
        if out.ok {
            Ok(out.stdout)
        } else {
            Err(fail(&summary(&out.stderr)))
        }
    }

    /// `text` without the token or anything credential-shaped.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut text = text.to_owned();
        if let Some(secret) = &self.secret {
            text = text.replace(secret.as_str(), "<redacted>");
        }
        let masked = guardian_redact::text(&text).into_owned();
        strip_userinfo(&masked)
    }
}

/// A 0700 directory holding the token (0600) and a script that prints the
/// user name or the token, whichever git asks for.
fn askpass_dir(token: &str, username: &str) -> Result<tempfile::TempDir, BrokerError> {
    use std::io::Write;
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = tempfile::Builder::new()
        .prefix("guardian-askpass-")
        .tempdir()
        .map_err(|e| io_error("create the askpass directory", &e))?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
        .map_err(|e| io_error("protect the askpass directory", &e))?;
    let write = |name: &str, mode: u32, content: &str| -> std::io::Result<PathBuf> {
        let path = dir.path().join(name);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)?;
        f.write_all(content.as_bytes())?;
        Ok(path)
    };
    let token_path =
        write("token", 0o600, token).map_err(|e| io_error("write the askpass token file", &e))?;
    let user_path = write("username", 0o600, username)
        .map_err(|e| io_error("write the askpass user file", &e))?;
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\n  Username*) cat {user}; echo ;;\n  *) cat {token}; echo ;;\nesac\n",
        user = shell_quote(&user_path.to_string_lossy()),
        token = shell_quote(&token_path.to_string_lossy()),
    );
    write("askpass", 0o700, &script).map_err(|e| io_error("write the askpass script", &e))?;
    Ok(dir)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

pub(crate) fn io_error(what: &str, e: &std::io::Error) -> BrokerError {
    BrokerError::Internal(format!("cannot {what}: {e}"))
}

/// `scheme://user:pw@host/…` → `scheme://host/…` wherever it appears.
fn strip_userinfo(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '/' | '\'' | '"'))
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(i) => out.push_str(&authority[i + 1..]),
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// The lines of git's stderr worth showing: `fatal:`/`error:`/`remote:`
/// lines and refusals, at most 1 KiB.
pub(crate) fn summary(stderr: &str) -> String {
    let lines: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("hint:"))
        .collect();
    let text = lines.join("; ");
    crate::gate::truncate(&text, 1024).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The token is in no environment variable and no argument: only the
    /// askpass script prints it, from its 0600 file, and both are gone
    /// with the environment.
    #[test]
    fn the_token_reaches_git_only_through_askpass() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "tok-Vx9-secret\n").unwrap();
        let credential = GitCredential::Token {
            token_file: file,
            username: "x-access-token".into(),
        };
        let git = Git::new(
            "http://127.0.0.1:1/r.git",
            Some(&credential),
            "k",
            ("A", "a@b"),
            Duration::from_secs(5),
        )
        .unwrap();
        for (k, v) in &git.env {
            assert!(
                !v.to_string_lossy().contains("tok-Vx9-secret"),
                "the token is in {k:?}"
            );
        }
        let askpass = git
            .env
            .iter()
            .find(|(k, _)| k == "GIT_ASKPASS")
            .map(|(_, v)| PathBuf::from(v))
            .unwrap();
        let dir_mode = std::fs::metadata(askpass.parent().unwrap())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(dir_mode & 0o777, 0o700);
        let ask = |prompt: &str| {
            let out = std::process::Command::new(&askpass)
                .arg(prompt)
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap()
        };
        assert_eq!(
            ask("Username for 'http://127.0.0.1:1': "),
            "x-access-token\n"
        );
        assert_eq!(
            ask("Password for 'http://x-access-token@127.0.0.1:1': "),
            "tok-Vx9-secret\n"
        );
        assert_eq!(
            git.scrub("remote: tok-Vx9-secret at https://u:p@h/x"),
            "remote: <redacted> at https://h/x"
        );
        drop(git);
        assert!(!askpass.exists(), "the askpass script outlives the call");
    }

    #[test]
    fn userinfo_is_stripped_from_text() {
        assert_eq!(
            strip_userinfo("fatal: unable to access 'https://x:tok@host/a.git/': no"),
            "fatal: unable to access 'https://host/a.git/': no"
        );
        assert_eq!(strip_userinfo("no url here"), "no url here");
    }
}
