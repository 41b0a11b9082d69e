//! A loopback Git server over HTTP: `git http-backend` (CGI) behind a small
//! axum server, serving the bare repositories under one directory, with a
//! token checked on every request (HTTP basic auth with the token as the
//! password, or `Authorization: Bearer TOKEN`), and a `pre-receive` hook a
//! test can install to refuse pushes. Repositories are created from a
//! directory tree (branch `main`) and read back with plain git.
//!
//! ```no_run
//! let server = guardian_tests::git::GitServer::start(Some("t0ken"));
//! let base = server.create_repo("shop", &[("apps/web.yaml", "kind: Deployment\n")]);
//! let url = server.repo_url("shop"); // http://127.0.0.1:PORT/shop.git
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, Request, Response, StatusCode};

const HTTP_BACKEND: &str = "/usr/lib/git-core/git-http-backend";

/// One request the server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GitRequest {
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// The basic-auth user name, when one was given.
    pub user: Option<String>,
    pub status: u16,
}

/// A running loopback Git server; stopped when dropped (or by
/// [`GitServer::stop`]).
pub struct GitServer {
    /// `http://127.0.0.1:PORT/`.
    pub url: String,
    root: tempfile::TempDir,
    requests: Arc<Mutex<Vec<GitRequest>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl GitServer {
    /// Starts a server on a free loopback port; `token`: the token every
    /// request must carry (`None`: anonymous).
    pub fn start(token: Option<&str>) -> GitServer {
        let root = tempfile::tempdir().expect("git root");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}/", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = Arc::new(State {
            root: root.path().to_owned(),
            token: token.map(str::to_owned),
            requests: requests.clone(),
        });
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let app = axum::Router::new().fallback(move |req: Request<Body>| {
                    let state = state.clone();
                    async move { state.serve(req).await }
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("serve");
            });
            // Drop the runtime here, closing every connection.
            rt.shutdown_background();
        });
        GitServer {
            url,
            root,
            requests,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Stops the server: the port refuses connections afterwards. The
    /// repositories stay readable.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// `http://127.0.0.1:PORT/NAME.git`.
    pub fn repo_url(&self, name: &str) -> String {
        format!("{}{name}.git", self.url)
    }

    /// The folder holding the bare repositories.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The bare repository `NAME.git`.
    pub fn repo_dir(&self, name: &str) -> PathBuf {
        self.root.path().join(format!("{name}.git"))
    }

    /// The requests answered so far.
    pub fn requests(&self) -> Vec<GitRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// Creates the bare repository `NAME.git` holding `files` as one
    /// commit on `main` (its default branch); returns the commit.
    pub fn create_repo(&self, name: &str, files: &[(&str, &str)]) -> String {
        let bare = self.repo_dir(name);
        git(
            self.root.path(),
            &["init", "-q", "--bare", "-b", "main", &path_str(&bare)],
        );
        git(&bare, &["config", "http.receivepack", "true"]);
        let work = tempfile::tempdir().expect("work tree");
        git(work.path(), &["init", "-q", "-b", "main"]);
        for (path, content) in files {
            let file = work.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, content).unwrap();
        }
        git(work.path(), &["add", "-A"]);
        git(work.path(), &["commit", "-q", "-m", "initial"]);
        git(work.path(), &["push", "-q", &path_str(&bare), "main"]);
        self.commit_of(name, "main").expect("main")
    }

    /// Adds a commit changing `files` on `branch` (created from `main`
    /// when missing); returns it.
    pub fn commit(
        &self,
        name: &str,
        branch: &str,
        files: &[(&str, &str)],
        message: &str,
    ) -> String {
        let bare = self.repo_dir(name);
        let work = tempfile::tempdir().expect("work tree");
        git(work.path(), &["clone", "-q", &path_str(&bare), "."]);
        let start = if self.commit_of(name, branch).is_some() {
            branch
        } else {
            "main"
        };
        git(
            work.path(),
            &["checkout", "-q", "-B", branch, &format!("origin/{start}")],
        );
        for (path, content) in files {
            let file = work.path().join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, content).unwrap();
        }
        git(work.path(), &["add", "-A"]);
        git(work.path(), &["commit", "-q", "-m", message]);
        git(work.path(), &["push", "-q", "origin", branch]);
        self.commit_of(name, branch).expect("branch")
    }

    /// Makes every push to `NAME.git` fail with `message` (a `pre-receive`
    /// hook that rejects).
    pub fn refuse_pushes(&self, name: &str, message: &str) {
        use std::os::unix::fs::PermissionsExt;
        let hook = self.repo_dir(name).join("hooks/pre-receive");
        std::fs::create_dir_all(hook.parent().unwrap()).unwrap();
        let script = format!(
            "#!/bin/sh\necho '{}' >&2\nexit 1\n",
            message.replace('\'', "")
        );
        std::fs::write(&hook, script).unwrap();
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    /// The commit `branch` points at, if the branch exists.
    pub fn commit_of(&self, name: &str, branch: &str) -> Option<String> {
        let out = git_output(
            &self.repo_dir(name),
            &[
                "rev-parse",
                "--verify",
                "-q",
                &format!("refs/heads/{branch}"),
            ],
        );
        out.ok().map(|s| s.trim().to_owned())
    }

    /// The branches of `NAME.git` and their commits.
    pub fn branches(&self, name: &str) -> BTreeMap<String, String> {
        let out = git_output(
            &self.repo_dir(name),
            &[
                "for-each-ref",
                "--format=%(refname:short) %(objectname)",
                "refs/heads",
            ],
        )
        .unwrap_or_default();
        out.lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(b, c)| (b.to_owned(), c.to_owned()))
            .collect()
    }

    /// Every file on `branch` and its content.
    pub fn files(&self, name: &str, branch: &str) -> BTreeMap<String, String> {
        let dir = self.repo_dir(name);
        let list = git_output(&dir, &["ls-tree", "-r", "--name-only", branch]).expect("ls-tree");
        list.lines()
            .map(|path| {
                let content =
                    git_output(&dir, &["show", &format!("{branch}:{path}")]).expect("show");
                (path.to_owned(), content)
            })
            .collect()
    }

    /// `git ARGS` in the bare repository `NAME.git`: its stdout.
    pub fn git(&self, name: &str, args: &[&str]) -> String {
        git_output(&self.repo_dir(name), args).unwrap_or_else(|e| panic!("git {args:?}: {e}"))
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        self.stop();
    }
}

struct State {
    root: PathBuf,
    token: Option<String>,
    requests: Arc<Mutex<Vec<GitRequest>>>,
}

impl State {
    async fn serve(&self, req: Request<Body>) -> Response<Body> {
        let method = req.method().to_string();
        let uri = req.uri().to_string();
        let user = basic_user(req.headers());
        let response = self.answer(req).await;
        self.requests.lock().unwrap().push(GitRequest {
            method,
            uri,
            user,
            status: response.status().as_u16(),
        });
        response
    }

    async fn answer(&self, req: Request<Body>) -> Response<Body> {
        let authorized = match &self.token {
            None => true,
            Some(token) => token_of(req.headers()).as_deref() == Some(token.as_str()),
        };
        if !authorized {
            return Response::builder()
                .status(StatusCode::UNAUTHORIZED)
                .header("WWW-Authenticate", "Basic realm=\"git\"")
                .body(Body::from("authentication required\n"))
                .unwrap();
        }
        let (parts, body) = req.into_parts();
        let body = match axum::body::to_bytes(body, 64 << 20).await {
            Ok(b) => b,
            Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("body: {e}")),
        };
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let mut command = tokio::process::Command::new(HTTP_BACKEND);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("GIT_PROJECT_ROOT", &self.root)
            .env("GIT_HTTP_EXPORT_ALL", "1")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("REQUEST_METHOD", parts.method.as_str())
            .env("PATH_INFO", parts.uri.path())
            .env("QUERY_STRING", parts.uri.query().unwrap_or_default())
            .env("CONTENT_TYPE", header("content-type"))
            .env("CONTENT_LENGTH", body.len().to_string())
            .env("HTTP_CONTENT_ENCODING", header("content-encoding"))
            .env("HTTP_GIT_PROTOCOL", header("git-protocol"))
            .env("REMOTE_ADDR", "127.0.0.1")
            .env(
                "REMOTE_USER",
                basic_user(&parts.headers).unwrap_or("git".into()),
            )
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = match command.spawn() {
            Ok(c) => c,
            Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("backend: {e}")),
        };
        let mut stdin = child.stdin.take().unwrap();
        let writer = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let _ = stdin.write_all(&body).await;
        });
        let out = match child.wait_with_output().await {
            Ok(o) => o,
            Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, &format!("backend: {e}")),
        };
        let _ = writer.await;
        cgi_response(&out.stdout)
    }
}

/// A CGI answer (headers, blank line, body) as an HTTP response.
fn cgi_response(out: &[u8]) -> Response<Body> {
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            out.windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        });
    let Some((end, start)) = split else {
        return plain(StatusCode::BAD_GATEWAY, "the backend wrote no headers");
    };
    let head = String::from_utf8_lossy(&out[..end]);
    let mut builder = Response::builder().status(StatusCode::OK);
    for line in head.lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or("500");
            builder = builder.status(code.parse::<u16>().unwrap_or(500));
        } else {
            builder = builder.header(name.trim(), value);
        }
    }
    builder
        .body(Body::from(out[start..].to_vec()))
        .unwrap_or_else(|e| plain(StatusCode::BAD_GATEWAY, &e.to_string()))
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(Body::from(format!("{text}\n")))
        .unwrap()
}

/// The token a request carries: the basic-auth password or the bearer
/// token.
fn token_of(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    if let Some(token) = value.strip_prefix("Bearer ") {
        return Some(token.trim().to_owned());
    }
    let (_, password) = basic(value)?;
    Some(password)
}

fn basic_user(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    basic(value).map(|(user, _)| user)
}

fn basic(value: &str) -> Option<(String, String)> {
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn base64_decode(s: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut buf = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
            buf &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// Plain git for the test's own use: no user config, a fixed author.
fn git_command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new("git");
    c.args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test Author")
        .env("GIT_COMMITTER_EMAIL", "test@example.com");
    c
}

fn git(dir: &Path, args: &[&str]) {
    if let Err(e) = git_output(dir, args) {
        panic!("git {args:?} in {}: {e}", dir.display());
    }
}

fn git_output(dir: &Path, args: &[&str]) -> Result<String, String> {
    let out = git_command(dir, args).output().map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The environment variable that makes a missing SSH server a failure
/// instead of a skip (CI sets it; `scripts/setup.sh` installs one).
pub const REQUIRE_SSH_ENV: &str = "GUARDIAN_REQUIRE_SSH";

const SSHD: &str = "/usr/sbin/sshd";

/// A [`GitServer`]'s repositories over SSH: Debian's OpenSSH server on a
/// loopback port, as the user running the tests, accepting one client key
/// (public-key authentication only); git runs there as it does behind
/// GitHub's or GitLab's SSH. Stopped when dropped.
pub struct SshGit {
    pub port: u16,
    pub user: String,
    /// The client's private key (OpenSSH format, no passphrase).
    pub client_key: PathBuf,
    /// `[127.0.0.1]:PORT <host key>`: what `ssh-keyscan` would find.
    pub known_hosts: PathBuf,
    /// Another key the server does not accept.
    pub other_key: PathBuf,
    root: PathBuf,
    _dir: tempfile::TempDir,
    child: std::process::Child,
}

impl SshGit {
    /// Serves `server`'s repositories over SSH, or says why it cannot
    /// (no `sshd` here).
    pub fn start(server: &GitServer) -> Result<SshGit, String> {
        if !Path::new(SSHD).is_file() {
            return Err(format!("{SSHD} is not installed (Debian's openssh-server)"));
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let d = dir.path();
        for key in ["host_key", "client_key", "other_key"] {
            let ok = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", key, "-f"])
                .arg(d.join(key))
                .status()
                .map_err(|e| format!("ssh-keygen: {e}"))?
                .success();
            if !ok {
                return Err(format!("ssh-keygen could not make {key}"));
            }
        }
        std::fs::copy(d.join("client_key.pub"), d.join("authorized_keys"))
            .map_err(|e| e.to_string())?;
        // sshd run by root separates privileges into this folder.
        if Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
        {
            let _ = std::fs::create_dir_all("/run/sshd");
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            l.local_addr().map_err(|e| e.to_string())?.port()
        };
        let config = format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\n\
             AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nUsePAM no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             PermitRootLogin prohibit-password\nPidFile {d}/sshd.pid\nLogLevel ERROR\n",
            d = d.display()
        );
        std::fs::write(d.join("sshd_config"), config).map_err(|e| e.to_string())?;
        let host_key =
            std::fs::read_to_string(d.join("host_key.pub")).map_err(|e| e.to_string())?;
        let host_key: Vec<&str> = host_key.split_whitespace().take(2).collect();
        std::fs::write(
            d.join("known_hosts"),
            format!("[127.0.0.1]:{port} {}\n", host_key.join(" ")),
        )
        .map_err(|e| e.to_string())?;
        let child = Command::new(SSHD)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stderr(std::fs::File::create(d.join("sshd.log")).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("cannot start {SSHD}: {e}"))?;
        let user = String::from_utf8_lossy(
            &Command::new("id")
                .arg("-un")
                .output()
                .map_err(|e| e.to_string())?
                .stdout,
        )
        .trim()
        .to_owned();
        let ssh = SshGit {
            port,
            user,
            client_key: d.join("client_key"),
            known_hosts: d.join("known_hosts"),
            other_key: d.join("other_key"),
            root: server.root().to_owned(),
            _dir: dir,
            child,
        };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if std::time::Instant::now() > deadline {
                let log =
                    std::fs::read_to_string(ssh._dir.path().join("sshd.log")).unwrap_or_default();
                return Err(format!("sshd did not listen on {port}: {log}"));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Ok(ssh)
    }

    /// `ssh://USER@127.0.0.1:PORT/`: the prefix of every repository URL.
    pub fn url_prefix(&self) -> String {
        format!("ssh://{}@127.0.0.1:{}/", self.user, self.port)
    }

    /// `ssh://USER@127.0.0.1:PORT/ROOT/NAME.git`.
    pub fn repo_url(&self, name: &str) -> String {
        format!(
            "{}{}/{name}.git",
            self.url_prefix(),
            self.root.display().to_string().trim_start_matches('/')
        )
    }
}

impl Drop for SshGit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_basic_credentials() {
        // "user:pa ss" in base64.
        assert_eq!(
            basic("Basic dXNlcjpwYSBzcw=="),
            Some(("user".into(), "pa ss".into()))
        );
    }

    #[test]
    fn clone_with_the_token_works_and_without_it_is_refused() {
        let server = GitServer::start(Some("t0k"));
        let main = server.create_repo("r", &[("a.txt", "one\n")]);
        let work = tempfile::tempdir().unwrap();
        let authed = server.repo_url("r").replace("http://", "http://u:t0k@");
        git(work.path(), &["clone", "-q", &authed, "ok"]);
        let head = git_output(&work.path().join("ok"), &["rev-parse", "HEAD"]).unwrap();
        assert_eq!(head.trim(), main);
        let refused = git_output(work.path(), &["clone", "-q", &server.repo_url("r"), "no"]);
        assert!(refused.is_err());
        assert_eq!(server.files("r", "main")["a.txt"], "one\n");
    }
}
