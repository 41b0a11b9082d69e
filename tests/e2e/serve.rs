//! `guardian snapshot serve` as a child process and a kubeconfig for it
//! (for the gRPC and MCP tests that approve actions against a writable
//! served snapshot), and helpers for child processes and ports. The tests
//! of the live path run against a real kube-apiserver instead
//! (`guardian_tests::kube`, `crate::cluster`).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::support::guardian;

/// A running `guardian snapshot serve`; killed on drop.
pub struct Serve {
    _child: Killed,
    addr: SocketAddr,
    _cache: tempfile::TempDir,
}

/// A child process killed (and reaped) on drop, whatever the test does.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Serve {
    pub fn start(snapshot: &Path, writable: bool) -> Serve {
        let cache = tempfile::tempdir().unwrap();
        let mut cmd = guardian(cache.path());
        cmd.args(["snapshot", "serve"])
            .arg(snapshot)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if writable {
            cmd.arg("--writable");
        }
        let mut child = Killed(cmd.spawn().expect("guardian snapshot serve starts"));
        let stderr = child.0.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            // Keep draining stderr so the server never blocks on a full pipe.
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    if line.contains("serving snapshot")
                        && let Some(at) = line.find("http://")
                    {
                        let addr = line[at + "http://".len()..]
                            .split_whitespace()
                            .next()
                            .unwrap()
                            .trim_end_matches('/');
                        return Serve {
                            _child: child,
                            addr: addr.parse().expect("serve prints host:port"),
                            _cache: cache,
                        };
                    }
                    seen.push(line);
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = child.0.try_wait() {
                        panic!("snapshot serve exited with {status}: {}", seen.join("\n"));
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.0.wait().unwrap();
                    panic!("snapshot serve exited with {status}: {}", seen.join("\n"));
                }
            }
        }
        panic!(
            "snapshot serve did not say where it listens: {}",
            seen.join("\n")
        );
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// A kubeconfig with a `snap` context (current) pointing at `server`, a
/// `dead` context pointing at a closed port, and a `bad-token` user.
pub fn write_kubeconfig(dir: &Path, server: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: snap\n\
             clusters:\n\
             - name: snap\n  cluster:\n    server: {server}\n\
             - name: dead\n  cluster:\n    server: http://127.0.0.1:{}\n\
             users:\n\
             - name: me\n  user:\n    token: good-token\n\
             - name: bad\n  user:\n    token: bad-token\n\
             contexts:\n\
             - name: snap\n  context:\n    cluster: snap\n    user: me\n    namespace: staging\n\
             - name: dead\n  context:\n    cluster: dead\n    user: me\n\
             - name: bad-token\n  context:\n    cluster: snap\n    user: bad\n",
            closed_port()
        ),
    )
    .unwrap();
    path
}

/// A loopback port nothing listens on.
pub fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}
