//! A real Kubernetes control plane for tests: etcd and kube-apiserver from
//! the folder `KUBEBUILDER_ASSETS` names (the envtest convention), started on
//! free loopback ports once per test process, with RBAC on.
//!
//! ```no_run
//! # let dir = std::path::PathBuf::from("/tmp/t");
//! let Some(k) = guardian_tests::kube::control_plane() else { return }; // skipped, says why
//! let ns = k.namespace("hardening");                  // a fresh namespace for this test
//! k.apply(&format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c, namespace: {ns}}}\n"));
//! let kubeconfig = k.kubeconfig(&dir);                 // context `admin` (system:masters)
//! ```
//!
//! Without the assets the tests that need the server are skipped with a line
//! that says how to enable them; with `GUARDIAN_REQUIRE_KUBE=1` (CI) a missing
//! server fails them instead, so a CI run can never skip them silently.
//!
//! The servers outlive nothing: a watchdog shell kills them and removes
//! their folder when the test process exits, however it exits. Nothing
//! schedules pods or runs controllers there: tests write objects and their
//! statuses themselves (see `../shared/k8s/README.md`):
//! [`ControlPlane::create_objects`] recreates a snapshot's objects
//! ([`read_dump`]) in a namespace as their cluster had them, and a kubelet
//! stand-in ([`ControlPlane::set_log`]) serves pod logs through the API
//! server, as a node's kubelet does. Besides `admin`, the server knows the
//! users of [`USERS`] by static token; ServiceAccount tokens come from the
//! TokenRequest API ([`ControlPlane::service_account_token`]).

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The token of the `admin` user (group `system:masters`).
pub const ADMIN_TOKEN: &str = "guardian-test-admin-token-0123456789";

/// The other users of the API server's static token file: (token, user
/// name, groups). RBAC grants them nothing; a test binds what it needs.
pub const USERS: &[(&str, &str, &[&str])] = &[
    (
        "guardian-test-erin-token-0123456789",
        "erin@example.com",
        &["guardian-approvers"],
    ),
    ("guardian-test-mallory-token-0123456789", "mallory", &[]),
];

/// The static token of `user` (one of [`USERS`]).
pub fn user_token(user: &str) -> &'static str {
    USERS
        .iter()
        .find(|(_, name, _)| *name == user)
        .map(|(token, _, _)| *token)
        .unwrap_or_else(|| panic!("no static user {user}"))
}

/// A running etcd + kube-apiserver.
#[derive(Debug)]
pub struct ControlPlane {
    /// `https://127.0.0.1:PORT`
    pub url: String,
    /// The serving certificate the API server generated (use as the CA).
    pub ca: PathBuf,
    /// Its working folder (certificates, etcd data, logs).
    pub dir: PathBuf,
    /// `v1.36.2`
    pub version: String,
}

static PLANE: OnceLock<Result<ControlPlane, String>> = OnceLock::new();

/// The folder holding `kube-apiserver` and `etcd`: `$KUBEBUILDER_ASSETS`,
/// else `target/kubebuilder-assets` (where `scripts/setup.sh` unpacks them).
pub fn assets() -> Option<PathBuf> {
    let from_env = std::env::var_os("KUBEBUILDER_ASSETS")
        .map(PathBuf::from)
        .filter(|p| !p.as_os_str().is_empty());
    let dir =
        from_env.unwrap_or_else(|| Path::new(crate::REPO_ROOT).join("target/kubebuilder-assets"));
    (dir.join("kube-apiserver").is_file() && dir.join("etcd").is_file()).then_some(dir)
}

/// The shared control plane, started on first use. `None` (after printing
/// why) when the binaries are not there; panics when they are there but the
/// servers do not start, or when `GUARDIAN_REQUIRE_KUBE=1` and they are not.
pub fn control_plane() -> Option<&'static ControlPlane> {
    let plane = PLANE.get_or_init(|| match assets() {
        None => Err(
            "skipped: no real kube-apiserver. Set KUBEBUILDER_ASSETS to a folder holding \
             kube-apiserver and etcd (or run scripts/setup.sh, which unpacks them into \
             target/kubebuilder-assets when ../shared/k8s exists)"
                .to_owned(),
        ),
        Some(dir) => Ok(start(&dir).unwrap_or_else(|e| panic!("the real API server: {e}"))),
    });
    match plane {
        Ok(p) => Some(p),
        Err(why) => {
            if std::env::var("GUARDIAN_REQUIRE_KUBE").is_ok_and(|v| v == "1") {
                panic!("GUARDIAN_REQUIRE_KUBE=1 but {why}");
            }
            eprintln!("{why}");
            None
        }
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Starts etcd and kube-apiserver; again on fresh ports when one of them
/// lost its port to another process between choosing and binding it.
fn start(assets: &Path) -> Result<ControlPlane, String> {
    let mut attempt = 0;
    loop {
        match start_once(assets) {
            Err(e) if e.contains("address already in use") && attempt < 3 => attempt += 1,
            other => return other,
        }
    }
}

fn start_once(assets: &Path) -> Result<ControlPlane, String> {
    let dir = std::env::temp_dir().join(format!(
        "guardian-kube-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    let certs = dir.join("certs");
    std::fs::create_dir_all(&certs).map_err(|e| format!("{}: {e}", dir.display()))?;
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    // The ServiceAccount token signing key pair.
    let key = dir.join("sa.key");
    let key_ok = Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&key)
        .arg("2048")
        .stderr(Stdio::null())
        .status()
        .map_err(|e| format!("openssl: {e}"))?
        .success()
        && Command::new("openssl")
            .args(["rsa", "-pubout", "-in"])
            .arg(&key)
            .arg("-out")
            .arg(dir.join("sa.pub"))
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("openssl: {e}"))?
            .success();
    if !key_ok {
        return Err("openssl could not make the service-account key pair".into());
    }
    let mut tokens = format!("{ADMIN_TOKEN},admin,uid-admin,\"system:masters\"\n");
    for (token, user, groups) in USERS {
        tokens.push_str(&format!("{token},{user},uid-{user}"));
        if !groups.is_empty() {
            tokens.push_str(&format!(",\"{}\"", groups.join(",")));
        }
        tokens.push('\n');
    }
    write("tokens.csv", &tokens)?;
    let (client, peer, secure) = (free_port(), free_port(), free_port());
    write(
        "etcd.yaml",
        &format!(
            "name: test\ndata-dir: {data}\nlisten-client-urls: http://127.0.0.1:{client}\n\
             advertise-client-urls: http://127.0.0.1:{client}\nlisten-peer-urls: http://127.0.0.1:{peer}\n\
             initial-advertise-peer-urls: http://127.0.0.1:{peer}\ninitial-cluster: test=http://127.0.0.1:{peer}\n\
             log-level: error\nunsafe-no-fsync: true\n",
            data = dir.join("etcd").display()
        ),
    )?;
    let log = |name: &str| -> Result<Stdio, String> {
        std::fs::File::create(dir.join(name))
            .map(Stdio::from)
            .map_err(|e| format!("{name}: {e}"))
    };
    let mut etcd = Command::new(assets.join("etcd"))
        .arg("-config-file")
        .arg(dir.join("etcd.yaml"))
        .stdout(log("etcd.log")?)
        .stderr(log("etcd.err")?)
        .spawn()
        .map_err(|e| format!("cannot start etcd: {e}"))?;
    let mut apiserver = Command::new(assets.join("kube-apiserver"))
        .arg(format!("--etcd-servers=http://127.0.0.1:{client}"))
        .args([
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
            "--service-account-issuer=https://kubernetes.default.svc",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--authorization-mode=RBAC",
            "--kubelet-preferred-address-types=InternalIP",
            // Objects are stored as the tests give them: no topology labels
            // copied from a node onto the pods bound to it at creation
            // (the snapshots they come from were taken without it).
            "--disable-admission-plugins=PodTopologyLabels",
        ])
        .arg(format!("--secure-port={secure}"))
        .arg(format!("--cert-dir={}", certs.display()))
        .arg(format!(
            "--token-auth-file={}",
            dir.join("tokens.csv").display()
        ))
        .arg(format!(
            "--service-account-key-file={}",
            dir.join("sa.pub").display()
        ))
        .arg(format!(
            "--service-account-signing-key-file={}",
            key.display()
        ))
        .stdout(log("apiserver.log")?)
        .stderr(log("apiserver.err")?)
        .spawn()
        .map_err(|e| format!("cannot start kube-apiserver: {e}"))?;
    // The watchdog: when this process is gone, so are the servers and their
    // folder.
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill {api} {etcd} 2>/dev/null; \
         sleep 1; kill -9 {api} {etcd} 2>/dev/null; rm -rf '{dir}'",
        me = std::process::id(),
        api = apiserver.id(),
        etcd = etcd.id(),
        dir = dir.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the watchdog: {e}"))?;
    let plane = ControlPlane {
        url: format!("https://127.0.0.1:{secure}"),
        ca: certs.join("apiserver.crt"),
        dir: dir.clone(),
        version: String::new(),
    };
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if plane.ca.is_file() {
            let out = plane
                .kubectl_cmd()
                .args(["get", "--raw", "/readyz"])
                .output();
            if let Ok(out) = out
                && out.status.success()
                && String::from_utf8_lossy(&out.stdout).trim() == "ok"
            {
                break;
            }
        }
        // A server that exited will not become ready: say why now.
        let exited = match (apiserver.try_wait(), etcd.try_wait()) {
            (Ok(Some(status)), _) => Some(("kube-apiserver", status, "apiserver.err")),
            (_, Ok(Some(status))) => Some(("etcd", status, "etcd.err")),
            _ => None,
        };
        if let Some((name, status, err)) = exited {
            {
                let _ = apiserver.kill();
                let _ = etcd.kill();
                let tail = std::fs::read_to_string(dir.join(err)).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(5).collect();
                return Err(format!(
                    "{name} exited ({status}); last lines of its log:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                ));
            }
        }
        if Instant::now() > deadline {
            let tail = std::fs::read_to_string(dir.join("apiserver.err")).unwrap_or_default();
            let tail: Vec<&str> = tail.lines().rev().take(20).collect();
            return Err(format!(
                "not ready after 90 s; last lines of its log:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            ));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // Dropping a `Child` neither kills nor waits: the watchdog ends them.
    drop((etcd, apiserver));
    let version = plane
        .kubectl_cmd()
        .args(["version", "-o", "json"])
        .output()
        .ok()
        .and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.stdout).ok())
        .and_then(|v| v["serverVersion"]["gitVersion"].as_str().map(str::to_owned))
        .unwrap_or_default();
    Ok(ControlPlane { version, ..plane })
}

static NAMESPACES: AtomicU32 = AtomicU32::new(0);

impl ControlPlane {
    /// The admin kubeconfig, written once into the server's folder.
    pub fn admin_kubeconfig(&self) -> PathBuf {
        // Once per process: test threads ask for it at the same time.
        static WRITTEN: OnceLock<PathBuf> = OnceLock::new();
        WRITTEN
            .get_or_init(|| {
                let path = self.dir.join("admin.kubeconfig");
                std::fs::write(&path, self.kubeconfig_text(&[])).expect("admin kubeconfig");
                path
            })
            .clone()
    }

    /// A kubeconfig in `dir` with the context `admin` (current) and one
    /// context per `(name, token)` of `users`, all on this server.
    pub fn kubeconfig_with(&self, dir: &Path, users: &[(&str, &str)]) -> PathBuf {
        let path = dir.join("kubeconfig");
        std::fs::write(&path, self.kubeconfig_text(users)).expect("kubeconfig");
        path
    }

    /// A kubeconfig in `dir` with the context `admin` (current).
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        self.kubeconfig_with(dir, &[])
    }

    fn kubeconfig_text(&self, users: &[(&str, &str)]) -> String {
        let mut text = format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: admin\n\
             clusters:\n- name: test\n  cluster:\n    server: {}\n    certificate-authority: {}\n\
             users:\n- name: admin\n  user:\n    token: {ADMIN_TOKEN}\n",
            self.url,
            self.ca.display()
        );
        for (name, token) in users {
            text.push_str(&format!("- name: {name}\n  user:\n    token: {token}\n"));
        }
        text.push_str("contexts:\n- name: admin\n  context:\n    cluster: test\n    user: admin\n");
        for (name, _) in users {
            text.push_str(&format!(
                "- name: {name}\n  context:\n    cluster: test\n    user: {name}\n"
            ));
        }
        text
    }

    fn kubectl_cmd(&self) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--server")
            .arg(&self.url)
            .arg("--certificate-authority")
            .arg(&self.ca)
            .arg("--token")
            .arg(ADMIN_TOKEN)
            .env_remove("KUBECONFIG");
        cmd
    }

    /// `kubectl` as the admin, against this server.
    pub fn kubectl(&self) -> Command {
        let mut cmd = Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(self.admin_kubeconfig())
            .env_remove("KUBECONFIG");
        cmd
    }

    /// Runs `kubectl ARGS` as the admin; panics with its output on failure.
    pub fn run(&self, args: &[&str]) -> String {
        let out = self.kubectl().args(args).output().expect("kubectl runs");
        assert!(
            out.status.success(),
            "kubectl {}: {}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl ARGS` with `stdin`, as the admin; panics on failure.
    pub fn run_with_input(&self, args: &[&str], stdin: &str) -> String {
        let mut child = self
            .kubectl()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("kubectl runs");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "kubectl {}: {}{}\ninput:\n{stdin}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `kubectl apply -f -` of `yaml`, as the admin.
    pub fn apply(&self, yaml: &str) -> String {
        self.run_with_input(&["apply", "-f", "-"], yaml)
    }

    /// Writes the `status` of an object (as a controller would):
    /// `kubectl patch RESOURCE NAME -n NS --subresource=status --type=merge -p STATUS`.
    pub fn set_status(
        &self,
        namespace: &str,
        resource: &str,
        name: &str,
        status: &serde_json::Value,
    ) {
        let patch = serde_json::json!({ "status": status }).to_string();
        self.run(&[
            "patch",
            resource,
            name,
            "-n",
            namespace,
            "--subresource=status",
            "--type=merge",
            "-p",
            &patch,
        ]);
    }

    /// A new namespace `<prefix>-<n>` with its `default` ServiceAccount
    /// (namespaces are never deleted here: without a namespace controller
    /// they would stay Terminating).
    pub fn namespace(&self, prefix: &str) -> String {
        self.namespace_labelled(prefix, &[])
    }

    /// [`ControlPlane::namespace`] with labels.
    pub fn namespace_labelled(&self, prefix: &str, labels: &[(&str, &str)]) -> String {
        let n = NAMESPACES.fetch_add(1, Ordering::SeqCst);
        let name = format!("{prefix}-{}-{n}", std::process::id() % 100_000);
        let mut yaml = format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n");
        if !labels.is_empty() {
            yaml.push_str("  labels:\n");
            for (k, v) in labels {
                yaml.push_str(&format!("    {k}: \"{v}\"\n"));
            }
        }
        // No controller creates the `default` ServiceAccount here, and the
        // ServiceAccount admission plugin refuses pods without it.
        yaml.push_str(&format!(
            "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n  namespace: {name}\n"
        ));
        self.apply(&yaml);
        name
    }

    /// A ServiceAccount `name` in `namespace` (created if missing) and a
    /// fresh token for it from the TokenRequest API.
    pub fn service_account_token(&self, namespace: &str, name: &str) -> String {
        self.apply(&format!(
            "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: {name}\n  namespace: {namespace}\n"
        ));
        self.run(&["create", "token", name, "-n", namespace, "--duration=1h"])
            .trim()
            .to_owned()
    }
}

// ----- more of a cluster: a kubelet for logs, CRDs, whole namespaces ----

/// A kubelet stand-in: answers the API server's `pods/log` proxy requests
/// (`GET /containerLogs/NS/POD/CONTAINER?previous=…&tailLines=…`) over TLS
/// on loopback from the files under its folder, and exits with the test
/// process. Python's standard library only.
const KUBELET_PY: &str = r#"
import http.server, os, ssl, sys, threading, time, urllib.parse
root, port_file, parent = sys.argv[1], sys.argv[2], int(sys.argv[3])

class Kubelet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def answer(self, code, text):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "containerLogs" or any(p in ("", ".", "..") for p in parts):
            return self.answer(404, "404 page not found")
        query = urllib.parse.parse_qs(url.query)
        ns, pod, container = parts[1:]
        folder = os.path.join(root, ns, pod, container)
        previous = query.get("previous", ["false"])[0] == "true"
        error = os.path.join(folder, "error")
        path = os.path.join(folder, "previous" if previous else "current")
        # A waiting container's error is about the current instance: the
        # previous one's log is still served, as a kubelet does.
        if os.path.isfile(error) and not (previous and os.path.isfile(path)):
            return self.answer(500, open(error).read())
        if not os.path.isfile(path):
            if previous:
                return self.answer(400, 'previous terminated container "%s" in pod "%s" not found' % (container, pod))
            return self.answer(404, 'container "%s" in pod "%s" not found' % (container, pod))
        text = open(path).read()
        if "tailLines" in query:
            n = int(query["tailLines"][0])
            lines = text.splitlines(keepends=True)
            text = "".join(lines[max(0, len(lines) - n):]) if n > 0 else ""
        self.answer(200, text)

def orphaned():
    while True:
        time.sleep(1)
        try:
            os.kill(parent, 0)
        except OSError:
            os._exit(0)

threading.Thread(target=orphaned, daemon=True).start()
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Kubelet)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(os.path.join(root, "..", "kubelet.crt"), os.path.join(root, "..", "kubelet.key"))
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
"#;

static KUBELET: OnceLock<Result<u16, String>> = OnceLock::new();

/// One container's log on the kubelet stand-in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodLog {
    pub namespace: String,
    pub pod: String,
    pub container: String,
    /// The previous (terminated) instance's log.
    pub previous: bool,
    /// The text, or `Err(message)`: the kubelet answers 500 with it.
    pub text: Result<String, String>,
}

impl ControlPlane {
    fn kubelet_dir(&self) -> PathBuf {
        self.dir.join("kubelet/logs")
    }

    /// The port of the kubelet stand-in (started on first use): the kubelet
    /// of every Node created by [`ControlPlane::create_objects`]. It serves
    /// the logs written with [`ControlPlane::set_log`], so a pod bound to
    /// such a node has its logs read through the API server as in a real
    /// cluster. Needs `python3`.
    pub fn kubelet_port(&self) -> u16 {
        let started = KUBELET.get_or_init(|| self.start_kubelet());
        *started
            .as_ref()
            .unwrap_or_else(|e| panic!("the kubelet stand-in: {e}"))
    }

    fn start_kubelet(&self) -> Result<u16, String> {
        let logs = self.kubelet_dir();
        std::fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
        let dir = self.dir.join("kubelet");
        let ok = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            ])
            .args(["-subj", "/CN=kubelet", "-keyout"])
            .arg(dir.join("kubelet.key"))
            .arg("-out")
            .arg(dir.join("kubelet.crt"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("openssl: {e}"))?
            .success();
        if !ok {
            return Err("openssl could not make the kubelet's certificate".into());
        }
        let script = dir.join("kubelet.py");
        std::fs::write(&script, KUBELET_PY).map_err(|e| e.to_string())?;
        let port_file = dir.join("port");
        Command::new("python3")
            .arg(&script)
            .arg(&logs)
            .arg(&port_file)
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("kubelet.err")).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("cannot start python3 (the kubelet stand-in needs it): {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                return text.trim().parse().map_err(|e| format!("its port: {e}"));
            }
            if Instant::now() > deadline {
                let err = std::fs::read_to_string(dir.join("kubelet.err")).unwrap_or_default();
                return Err(format!("it did not start: {err}"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Writes what the kubelet stand-in answers for one container's log.
    pub fn set_log(&self, log: &PodLog) {
        self.kubelet_port();
        let folder = self
            .kubelet_dir()
            .join(&log.namespace)
            .join(&log.pod)
            .join(&log.container);
        std::fs::create_dir_all(&folder).unwrap();
        match &log.text {
            Ok(text) => {
                let file = if log.previous { "previous" } else { "current" };
                std::fs::write(folder.join(file), text).unwrap();
            }
            Err(message) => std::fs::write(folder.join("error"), message).unwrap(),
        }
    }

    /// Waits until the CustomResourceDefinition `name` is `Established`
    /// (custom objects of it can be created, and discovery serves it).
    /// `kubectl apply --server-side` of `files` (CRDs: some are too large
    /// for the last-applied annotation), retried when a concurrent apply of
    /// the same objects by another test conflicts.
    pub fn apply_server_side(&self, files: &[PathBuf]) {
        let mut args: Vec<String> = vec!["apply".into(), "--server-side".into()];
        for file in files {
            assert!(file.is_file(), "{} is missing", file.display());
            args.push("-f".into());
            args.push(file.display().to_string());
        }
        let mut attempt = 0;
        loop {
            let out = self.kubectl().args(&args).output().expect("kubectl runs");
            if out.status.success() {
                return;
            }
            attempt += 1;
            assert!(
                attempt < 5,
                "kubectl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(300 * attempt));
        }
    }

    pub fn wait_established(&self, name: &str) {
        self.run(&[
            "wait",
            "--for=condition=Established",
            &format!("customresourcedefinition/{name}"),
            "--timeout=60s",
        ]);
    }

    /// `kubectl ARGS` as the admin, expected to fail: its stderr.
    pub fn run_err(&self, args: &[&str]) -> String {
        let out = self.kubectl().args(args).output().expect("kubectl runs");
        assert!(
            !out.status.success(),
            "kubectl {} unexpectedly succeeded: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// Creates `objects` (taken from another cluster, e.g. a snapshot) in
    /// namespace `ns`, as that cluster had them:
    /// - what only the server sets (uid, resourceVersion, timestamps,
    ///   managedFields) is dropped, and every string equal to `from_ns` (the
    ///   namespace they came from) becomes `ns`;
    /// - objects are created owners first, and every reference to an old
    ///   uid (ownerReferences, an event's involvedObject, an endpoint's
    ///   targetRef) is rewritten to the new object's uid;
    /// - Services keep their cluster IPs with `keep_cluster_ips` (each IP
    ///   can be had once per server: the logs and configs of the objects
    ///   name them), else get new ones; headless ones stay headless;
    /// - Nodes are served by the kubelet stand-in (their addresses become
    ///   loopback, and they keep their own taints, without the not-ready one
    ///   a new node gets): the logs of the pods bound to them are read
    ///   through the API server from what [`ControlPlane::set_log`] wrote;
    /// - then every `status` is written as a controller would.
    ///
    /// Cluster-scoped objects (nodes, classes) are shared by every test:
    /// applied the first time they are given, left as they are after.
    pub fn create_objects(
        &self,
        ns: &str,
        from_ns: &str,
        objects: &[serde_json::Value],
        keep_cluster_ips: bool,
    ) {
        use serde_json::Value;
        let port = self.kubelet_port();
        let mut cluster: Vec<(Value, Value)> = Vec::new(); // (object, status)
        let mut pending: Vec<(Value, Value)> = Vec::new(); // (object, its old self)
        for original in objects {
            let mut object = original.clone();
            rename_strings(&mut object, from_ns, ns);
            let meta = object["metadata"].as_object_mut().expect("metadata");
            for field in [
                "uid",
                "resourceVersion",
                "creationTimestamp",
                "generation",
                "managedFields",
                "selfLink",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ] {
                meta.remove(field);
            }
            match object["kind"].as_str() {
                Some("Service") if !keep_cluster_ips => {
                    let spec = object["spec"].as_object_mut().unwrap();
                    if spec.get("clusterIP").and_then(Value::as_str) != Some("None") {
                        spec.remove("clusterIP");
                        spec.remove("clusterIPs");
                    }
                }
                Some("Node") => {
                    let status = &mut object["status"];
                    status["addresses"] = serde_json::json!([
                        {"type": "InternalIP", "address": "127.0.0.1"},
                        {"type": "Hostname", "address": "localhost"},
                    ]);
                    status["daemonEndpoints"] =
                        serde_json::json!({"kubeletEndpoint": {"Port": port}});
                }
                _ => {}
            }
            if object["metadata"].get("namespace").is_none() {
                let status = object
                    .as_object_mut()
                    .and_then(|o| o.remove("status"))
                    .unwrap_or(Value::Null);
                cluster.push((object, status));
                continue;
            }
            pending.push((object, original.clone()));
        }
        self.apply_cluster_objects(cluster);
        let mut created: Vec<(Value, Value)> = Vec::new(); // (as created, status)

        let old_uids: std::collections::HashSet<String> = objects
            .iter()
            .filter_map(|o| o["metadata"]["uid"].as_str().map(str::to_owned))
            .collect();
        let mut new_uid: std::collections::HashMap<String, String> = Default::default();
        while !pending.is_empty() {
            let (ready, waiting): (Vec<_>, Vec<_>) = pending.into_iter().partition(|(o, _)| {
                let mut refs = Vec::new();
                strings_in(o, &old_uids, &mut refs);
                refs.iter().all(|u| new_uid.contains_key(u))
            });
            assert!(
                !ready.is_empty(),
                "objects refer to each other's uids in a cycle: {:?}",
                waiting
                    .iter()
                    .map(|(o, _)| format!("{}/{}", o["kind"], o["metadata"]["name"]))
                    .collect::<Vec<_>>()
            );
            pending = waiting;
            let mut batch = Vec::new();
            for (mut object, _) in ready.iter().cloned() {
                replace_strings(&mut object, &new_uid);
                if let Some(o) = object.as_object_mut() {
                    o.remove("status");
                }
                batch.push(object);
            }
            let out = self.run_with_input(
                &["create", "-o", "json", "-f", "-"],
                &list_of(batch).to_string(),
            );
            let items = items_of(&out);
            assert_eq!(items.len(), ready.len(), "kubectl created every object");
            for (made, (_, original)) in items.into_iter().zip(ready) {
                assert_eq!(made["metadata"]["name"], original["metadata"]["name"]);
                if let (Some(old), Some(new)) = (
                    original["metadata"]["uid"].as_str(),
                    made["metadata"]["uid"].as_str(),
                ) {
                    new_uid.insert(old.to_owned(), new.to_owned());
                }
                created.push((made, original["status"].clone()));
            }
        }

        self.write_statuses(created);
    }
}

impl ControlPlane {
    /// Applies cluster-scoped `(object, status)`s not applied before in this
    /// process (tests share them: each test's copy of a snapshot brings the
    /// same ones), one test at a time.
    fn apply_cluster_objects(&self, objects: Vec<(serde_json::Value, serde_json::Value)>) {
        static APPLIED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
        let mut applied = APPLIED.lock().unwrap_or_else(|e| e.into_inner());
        let key = |o: &serde_json::Value| format!("{}/{}", o["kind"], o["metadata"]["name"]);
        let objects: Vec<_> = objects
            .into_iter()
            .filter(|(o, _)| !applied.contains(&key(o)))
            .collect();
        if objects.is_empty() {
            return;
        }
        let list = list_of(objects.iter().map(|(o, _)| o.clone()).collect());
        let out = self.run_with_input(&["apply", "-o", "json", "-f", "-"], &list.to_string());
        let items = items_of(&out);
        assert_eq!(items.len(), objects.len(), "kubectl applied every object");
        // A new node is tainted not-ready until its kubelet reports
        // (TaintNodesByCondition); the node controller would then lift it.
        // Here: back to the node's own taints.
        for (object, _) in &objects {
            if object["kind"] == "Node" {
                let patch = serde_json::json!({"spec": {"taints": object["spec"]["taints"]}});
                self.run(&[
                    "patch",
                    "node",
                    object["metadata"]["name"].as_str().unwrap(),
                    "--type=merge",
                    "-p",
                    &patch.to_string(),
                ]);
            }
        }
        applied.extend(objects.iter().map(|(o, _)| key(o)));
        self.write_statuses(items.into_iter().zip(objects.into_iter().map(|(_, s)| s)));
    }

    /// Writes each `status` onto its object as created (a status write
    /// keeps only the metadata it is given), unconditionally.
    fn write_statuses(
        &self,
        objects: impl IntoIterator<Item = (serde_json::Value, serde_json::Value)>,
    ) {
        let statuses: Vec<serde_json::Value> = objects
            .into_iter()
            .filter(|(_, status)| status.as_object().is_some_and(|s| !s.is_empty()))
            .map(|(mut made, status)| {
                made["status"] = status;
                if let Some(meta) = made["metadata"].as_object_mut() {
                    meta.remove("resourceVersion");
                }
                made
            })
            .collect();
        if !statuses.is_empty() {
            self.run_with_input(
                &["replace", "--subresource=status", "-f", "-"],
                &list_of(statuses).to_string(),
            );
        }
    }
}

/// The objects `kubectl … -o json` printed: a `List`, or one object after
/// another.
fn items_of(out: &str) -> Vec<serde_json::Value> {
    let mut items = Vec::new();
    for answer in serde_json::Deserializer::from_str(out).into_iter::<serde_json::Value>() {
        let answer = answer.expect("kubectl -o json");
        match answer["kind"].as_str() {
            Some("List") => items.extend(answer["items"].as_array().cloned().unwrap_or_default()),
            _ => items.push(answer),
        }
    }
    items
}

fn list_of(items: Vec<serde_json::Value>) -> serde_json::Value {
    serde_json::json!({"apiVersion": "v1", "kind": "List", "items": items})
}

/// Every string in `v` equal to `from` becomes `to`.
fn rename_strings(v: &mut serde_json::Value, from: &str, to: &str) {
    match v {
        serde_json::Value::String(s) if s == from => *s = to.to_owned(),
        serde_json::Value::Array(a) => a.iter_mut().for_each(|v| rename_strings(v, from, to)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|v| rename_strings(v, from, to)),
        _ => {}
    }
}

/// Every string in `v` that is a key of `map` becomes its value.
fn replace_strings(v: &mut serde_json::Value, map: &std::collections::HashMap<String, String>) {
    match v {
        serde_json::Value::String(s) => {
            if let Some(new) = map.get(s.as_str()) {
                *s = new.clone();
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|v| replace_strings(v, map)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|v| replace_strings(v, map)),
        _ => {}
    }
}

/// The strings in `v` that are in `set`.
fn strings_in(
    v: &serde_json::Value,
    set: &std::collections::HashSet<String>,
    out: &mut Vec<String>,
) {
    match v {
        serde_json::Value::String(s) if set.contains(s) => out.push(s.clone()),
        serde_json::Value::Array(a) => a.iter().for_each(|v| strings_in(v, set, out)),
        serde_json::Value::Object(o) => o.values().for_each(|v| strings_in(v, set, out)),
        _ => {}
    }
}

/// What a snapshot folder holds, as [`ControlPlane::create_objects`] and
/// [`ControlPlane::set_log`] take it.
#[derive(Debug, Default)]
pub struct Dump {
    pub objects: Vec<serde_json::Value>,
    pub logs: Vec<PodLog>,
}

/// Reads a snapshot folder the way Guardian's snapshot loader does: a
/// `kubectl cluster-info dump` (`NS/KIND.json` lists, `NS/POD/logs.txt` in
/// its block format) and `*.yaml` / `*.json` files of `kubectl get -o`.
pub fn read_dump(dir: &Path) -> Dump {
    let mut dump = Dump::default();
    read_dump_into(dir, &mut dump);
    dump
}

fn read_dump_into(dir: &Path, dump: &mut Dump) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_dir() {
            read_dump_into(&path, dump);
        } else if name == "logs.txt" {
            dump.logs
                .extend(parse_dump_logs(&std::fs::read_to_string(&path).unwrap()));
        } else if name.ends_with(".json") || name.ends_with(".yaml") || name.ends_with(".yml") {
            let text = std::fs::read_to_string(&path).unwrap();
            for document in serde_yaml::Deserializer::from_str(&text) {
                let doc: serde_json::Value = serde::Deserialize::deserialize(document)
                    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                if doc.is_null() {
                    continue;
                }
                let is_list = doc["kind"].as_str().is_some_and(|k| k.ends_with("List"));
                match doc["items"].as_array() {
                    None if is_list => {} // `items: null`: an empty list
                    Some(items) => {
                        // Items of a cluster-info dump list carry no kind.
                        let kind = doc["kind"].as_str().and_then(|k| k.strip_suffix("List"));
                        for item in items {
                            let mut item = item.clone();
                            if item.get("kind").is_none()
                                && let Some(kind) = kind
                            {
                                item["kind"] = kind.into();
                                item["apiVersion"] = doc["apiVersion"].clone();
                            }
                            dump.objects.push(item);
                        }
                    }
                    None => dump.objects.push(doc),
                }
            }
        }
    }
}

/// `==== START [previous ]logs for container C of pod NS/P ====` blocks.
fn parse_dump_logs(text: &str) -> Vec<PodLog> {
    let mut logs = Vec::new();
    let mut current: Option<(PodLog, String)> = None;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end();
        if let Some(head) = bare
            .strip_prefix("==== START ")
            .and_then(|h| h.strip_suffix(" ===="))
        {
            let (previous, rest) = match head.strip_prefix("previous ") {
                Some(rest) => (true, rest),
                None => (false, head),
            };
            let rest = rest
                .strip_prefix("logs for container ")
                .expect("a log block");
            let (container, pod) = rest.split_once(" of pod ").expect("a log block");
            let (namespace, pod) = pod.split_once('/').expect("NS/POD");
            current = Some((
                PodLog {
                    namespace: namespace.into(),
                    pod: pod.into(),
                    container: container.into(),
                    previous,
                    text: Ok(String::new()),
                },
                String::new(),
            ));
        } else if bare.starts_with("==== END ") && bare.ends_with(" ====") {
            if let Some((mut log, body)) = current.take() {
                log.text = match body
                    .strip_prefix("Request log error: ")
                    .or_else(|| body.strip_prefix("Create log request error: "))
                {
                    Some(_) => Err(body.trim_end().to_owned()),
                    None => Ok(body),
                };
                logs.push(log);
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
        }
    }
    logs
}

// ----- a kubelet's Summary API, one stand-in per node ----------------------

/// A kubelet stand-in serving the Summary API (`GET /stats/summary`) over
/// HTTPS on loopback, from a JSON file it reads at each request, to
/// requests that carry `Authorization: Bearer TOKEN` (anything else: 401,
/// as a kubelet with webhook authentication answers an unknown token).
/// Every other path is 404 (so a pod's log read through the API server
/// finds no container). Python's standard library only; it exits with
/// the test process.
const STATS_KUBELET_PY: &str = r#"
import http.server, os, ssl, sys, threading, time
cert, key, summary, token_file, port_file, parent = sys.argv[1:7]
parent = int(parent)

class Kubelet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def answer(self, code, body, kind="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        with open(os.path.join(os.path.dirname(port_file), "requests"), "a") as f:
            f.write(self.path + "\n")
        # Only the Summary API is served (a log read through the API server
        # finds nothing here).
        if self.path.split("?")[0] != "/stats/summary":
            return self.answer(404, b"404 page not found")
        expected = "Bearer " + open(token_file).read().strip()
        if self.headers.get("Authorization", "") != expected:
            return self.answer(401, b"Unauthorized")
        self.answer(200, open(summary, "rb").read(), "application/json")

def orphaned():
    while True:
        time.sleep(1)
        try:
            os.kill(parent, 0)
        except OSError:
            os._exit(0)

threading.Thread(target=orphaned, daemon=True).start()
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Kubelet)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
"#;

/// One node's Summary API stand-in ([`ControlPlane::stats_kubelet`]).
#[derive(Debug)]
pub struct StatsKubelet {
    pub port: u16,
    /// The CA that signed its serving certificate (for 127.0.0.1), for
    /// `--kubelet-ca-file`.
    pub ca_file: PathBuf,
    dir: PathBuf,
}

impl StatsKubelet {
    /// The paths it was asked for, in order.
    pub fn requests(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("requests"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Answers `summary` from now on.
    pub fn set_summary(&self, summary: &serde_json::Value) {
        std::fs::write(self.dir.join("summary.json"), summary.to_string()).unwrap();
    }
}

static STATS_CA: OnceLock<Result<PathBuf, String>> = OnceLock::new();
static STATS_KUBELETS: AtomicU32 = AtomicU32::new(0);

fn openssl(args: &[&str], dir: &Path) -> Result<(), String> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|e| format!("openssl: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "openssl {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

impl ControlPlane {
    /// The CA of the Summary API stand-ins: `kubelet-ca/ca.crt`, made once.
    fn stats_ca(&self) -> PathBuf {
        STATS_CA
            .get_or_init(|| {
                let dir = self.dir.join("kubelet-ca");
                std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
                openssl(
                    &[
                        "req",
                        "-x509",
                        "-newkey",
                        "rsa:2048",
                        "-nodes",
                        "-days",
                        "2",
                        "-subj",
                        "/CN=kubelet-ca",
                        "-keyout",
                        "ca.key",
                        "-out",
                        "ca.crt",
                    ],
                    &dir,
                )?;
                Ok(dir)
            })
            .clone()
            .unwrap_or_else(|e| panic!("the kubelet CA: {e}"))
    }

    /// Starts a kubelet stand-in serving `summary` as `/stats/summary` to
    /// requests with the bearer `token`, over HTTPS with a certificate for
    /// 127.0.0.1 signed by one CA ([`StatsKubelet::ca_file`]). Register it
    /// in a Node's status (`addresses` InternalIP 127.0.0.1,
    /// `daemonEndpoints.kubeletEndpoint.Port`). Needs `python3`, `openssl`.
    pub fn stats_kubelet(&self, summary: &serde_json::Value, token: &str) -> StatsKubelet {
        let ca = self.stats_ca();
        let n = STATS_KUBELETS.fetch_add(1, Ordering::SeqCst);
        let dir = self.dir.join(format!("stats-kubelet-{n}"));
        std::fs::create_dir_all(&dir).unwrap();
        let ext = dir.join("ext.cnf");
        std::fs::write(
            &ext,
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        let ca_crt = ca.join("ca.crt");
        let ca_key = ca.join("ca.key");
        openssl(
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-subj",
                "/CN=kubelet",
                "-keyout",
                "kubelet.key",
                "-out",
                "kubelet.csr",
            ],
            &dir,
        )
        .unwrap();
        openssl(
            &[
                "x509",
                "-req",
                "-in",
                "kubelet.csr",
                "-CA",
                ca_crt.to_str().unwrap(),
                "-CAkey",
                ca_key.to_str().unwrap(),
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                "ext.cnf",
                "-out",
                "kubelet.crt",
            ],
            &dir,
        )
        .unwrap();
        std::fs::write(dir.join("token"), token).unwrap();
        let kubelet = StatsKubelet {
            port: 0,
            ca_file: ca_crt,
            dir: dir.clone(),
        };
        kubelet.set_summary(summary);
        let script = dir.join("stats_kubelet.py");
        std::fs::write(&script, STATS_KUBELET_PY).unwrap();
        let port_file = dir.join("port");
        // Never waited on: it exits by itself once the test process is gone.
        #[allow(clippy::zombie_processes)]
        Command::new("python3")
            .arg(&script)
            .args(["kubelet.crt", "kubelet.key", "summary.json", "token"].map(|f| dir.join(f)))
            .arg(&port_file)
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("err")).unwrap())
            .spawn()
            .expect("python3 (the kubelet stand-in needs it)");
        let deadline = Instant::now() + Duration::from_secs(30);
        let port = loop {
            if let Ok(text) = std::fs::read_to_string(&port_file) {
                break text.trim().parse().expect("its port");
            }
            assert!(
                Instant::now() < deadline,
                "the kubelet stand-in did not start: {}",
                std::fs::read_to_string(dir.join("err")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        StatsKubelet { port, ..kubelet }
    }
}
