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
//! statuses themselves (see `../shared/k8s/README.md`).

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The token of the `admin` user (group `system:masters`).
pub const ADMIN_TOKEN: &str = "guardian-test-admin-token-0123456789";

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

fn start(assets: &Path) -> Result<ControlPlane, String> {
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
    write(
        "tokens.csv",
        &format!("{ADMIN_TOKEN},admin,uid-admin,\"system:masters\"\n"),
    )?;
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
    let etcd = Command::new(assets.join("etcd"))
        .arg("-config-file")
        .arg(dir.join("etcd.yaml"))
        .stdout(log("etcd.log")?)
        .stderr(log("etcd.err")?)
        .spawn()
        .map_err(|e| format!("cannot start etcd: {e}"))?;
    let apiserver = Command::new(assets.join("kube-apiserver"))
        .arg(format!("--etcd-servers=http://127.0.0.1:{client}"))
        .args([
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--endpoint-reconciler-type=none",
            "--service-account-issuer=https://kubernetes.default.svc",
            "--service-cluster-ip-range=10.96.0.0/16",
            "--authorization-mode=RBAC",
            "--kubelet-preferred-address-types=InternalIP",
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
    // Dropping a `Child` neither kills nor waits: the watchdog ends them.
    drop((etcd, apiserver));

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
        let path = self.dir.join("admin.kubeconfig");
        if !path.exists() {
            // Unique per call: tests in threads of one process race here.
            static WRITES: AtomicU32 = AtomicU32::new(0);
            let tmp = self.dir.join(format!(
                "admin.kubeconfig.{}.{}",
                std::process::id(),
                WRITES.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&tmp, self.kubeconfig_text(&[])).expect("admin kubeconfig");
            std::fs::rename(&tmp, &path).expect("admin kubeconfig");
        }
        path
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
