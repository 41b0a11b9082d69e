//! Registry tags through the broker, against a real registry (Debian's
//! `docker-registry` with token auth, `guardian_tests::registry`) and — for
//! the pull secrets — a real API server (`guardian_tests::kube`): pages,
//! the token dance with a pull secret's credentials, wrong credentials, an
//! unknown repository, a host not allowed, a stopped registry, a policy
//! that denies, and no credential or token anywhere it could leak.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine;
use guardian_broker::{
    Audit, Broker, BrokerError, CallContext, ClusterOptions, Policy, RegistryOptions, RegistryTags,
    Snapshot, suggest_tags,
};
use guardian_tests::registry::{self, Registry};

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

fn options_for(hosts: &[&str]) -> RegistryOptions {
    RegistryOptions {
        allowed_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        insecure_http_hosts: hosts.iter().map(|h| (*h).to_owned()).collect(),
        timeout: Duration::from_secs(10),
        page_size: 50,
        ..Default::default()
    }
}

fn cx() -> CallContext {
    CallContext::host_for("human:test", "registry-tags")
}

/// A broker, its audit file and folder.
struct Setup {
    broker: Broker,
    audit: PathBuf,
    _dir: tempfile::TempDir,
}

impl Setup {
    fn audit_text(&self) -> String {
        std::fs::read_to_string(&self.audit).unwrap_or_default()
    }

    /// The audit lines of tags reads.
    fn tags_lines(&self) -> Vec<serde_json::Value> {
        self.audit_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["resource"] == "registry.guardian.dev/v1/tags")
            .collect()
    }
}

fn policy(extra: &[(&str, &str)]) -> Arc<Policy> {
    let modules: Vec<(String, String)> = extra
        .iter()
        .map(|(f, t)| ((*f).to_owned(), (*t).to_owned()))
        .collect();
    Arc::new(Policy::with_modules(&modules).expect("policy"))
}

/// A broker over the real API server.
async fn live(options: RegistryOptions, extra_policy: &[(&str, &str)]) -> Option<Setup> {
    let k = guardian_tests::kube::control_plane()?;
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let cluster = ClusterOptions {
        kubeconfig: Some(k.kubeconfig(dir.path())),
        ..Default::default()
    };
    let broker = Broker::live(
        &cluster,
        policy(extra_policy),
        Arc::new(Audit::open(&audit).unwrap()),
    )
    .await
    .unwrap()
    .with_registries(options);
    Some(Setup {
        broker,
        audit,
        _dir: dir,
    })
}

/// A broker over an empty snapshot (no pull secrets needed).
fn offline(options: RegistryOptions, extra_policy: &[(&str, &str)]) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let ns =
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}});
    let (snapshot, _) = Snapshot::from_values("registry-test", vec![ns]).unwrap();
    let broker = Broker::from_snapshot(
        snapshot,
        policy(extra_policy),
        Arc::new(Audit::open(&audit).unwrap()),
    )
    .with_registries(options);
    Setup {
        broker,
        audit,
        _dir: dir,
    }
}

/// A `kubernetes.io/dockerconfigjson` Secret `name` in a fresh namespace
/// with `user:password` for `host`; the namespace.
fn pull_secret(name: &str, host: &str, user: &str, password: &str) -> Option<String> {
    let k = guardian_tests::kube::control_plane()?;
    let ns = k.namespace("registry");
    let config = serde_json::json!({"auths": {host: {"auth": b64(&format!("{user}:{password}"))}}});
    k.apply(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\n\
         type: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n",
        b64(&config.to_string())
    ));
    Some(ns)
}

/// No password of the registry's users (nor `extra`) and no token the
/// token service issued is in `text`.
fn assert_no_credentials(r: &Registry, text: &str, extra: &[&str]) {
    for (user, password) in registry::USERS {
        assert!(
            !text.contains(password),
            "the password of {user} leaked: {text}"
        );
        assert!(
            !text.contains(&b64(&format!("{user}:{password}"))),
            "basic auth of {user} leaked: {text}"
        );
    }
    for secret in extra {
        assert!(!text.contains(secret), "{secret:?} leaked: {text}");
    }
    for token in r.issued_tokens() {
        assert!(!text.contains(&token), "a token leaked: {text}");
        // Its signature alone is enough to matter.
        let signature = token.rsplit('.').next().unwrap();
        assert!(
            !text.contains(signature),
            "a token signature leaked: {text}"
        );
    }
    assert!(!text.contains("eyJ"), "something JWT-shaped leaked: {text}");
}

fn assert_error_clean(r: &Registry, e: &BrokerError, extra: &[&str]) {
    assert_no_credentials(r, &e.to_string(), extra);
    assert_no_credentials(r, &format!("{e:?}"), extra);
}

fn count_for(r: &Registry, repository: &str) -> usize {
    r.requests()
        .iter()
        .filter(|s| s.target.starts_with(&format!("/v2/{repository}/")))
        .count()
}

#[tokio::test]
async fn tags_come_page_by_page_with_token_auth_and_the_pull_secrets_credentials() {
    let Some(r) = registry::shared() else { return };
    let host = r.host();
    let Some(ns) = pull_secret("regcred", &host, "puller", registry::password("puller")) else {
        return;
    };
    let setup = live(options_for(&[&host]), &[]).await.unwrap();
    let image = format!("{host}/{}:1.4.9", registry::SHOP_WEB);
    let got: RegistryTags = setup
        .broker
        .registry_tags(&cx(), &image, &ns, &["regcred".to_owned()])
        .await
        .unwrap();
    assert_eq!(got.registry, host);
    assert_eq!(got.repository, registry::SHOP_WEB);
    assert_eq!(got.pages, 3, "120 tags at 50 a page");
    assert!(got.authenticated && !got.truncated, "{got:?}");
    let mut tags = got.tags.clone();
    tags.sort();
    let mut want = registry::shop_web_tags();
    want.sort();
    assert_eq!(tags, want);

    // The registry asked for a token; the token service got the pull
    // secret's user for a pull of this repository; the pages followed Link.
    let asked: Vec<String> = r
        .requests()
        .iter()
        .filter(|s| s.target.starts_with("/v2/shop/web/tags/list"))
        .map(|s| format!("{} {:?} {}", s.target, s.auth, s.status))
        .collect();
    assert!(
        asked
            .iter()
            .any(|a| a == "/v2/shop/web/tags/list?n=50 None 401"),
        "{asked:#?}"
    );
    assert!(
        asked
            .iter()
            .any(|a| a.starts_with("/v2/shop/web/tags/list?n=50&last=")
                && a.ends_with("Some(\"Bearer\") 200")),
        "{asked:#?}"
    );
    assert!(
        r.token_requests()
            .iter()
            .any(|t| t.user.as_deref() == Some("puller")
                && t.scopes == ["repository:shop/web:pull"]
                && t.service == registry::SERVICE
                && t.status == 200),
        "{:#?}",
        r.token_requests()
    );

    // The suggestion over the real tags.
    let s = suggest_tags("1.4.9", &got.tags);
    assert_eq!(s.closest.as_deref(), Some("1.4.3"));
    assert_eq!(s.newest_stable.as_deref(), Some("3.8.1"));

    // One audit line for the tags, one for the Secret; no credential.
    let lines = setup.tags_lines();
    assert_eq!(lines.len(), 1, "{lines:#?}");
    let line = &lines[0];
    assert_eq!(line["verb"], "get");
    assert_eq!(line["name"], format!("{host}/shop/web"));
    assert_eq!(line["decision"], "allow");
    let reasons = line["reasons"].to_string();
    assert!(
        reasons.contains(&format!("registry {host} repository shop/web")),
        "{reasons}"
    );
    assert!(
        reasons.contains("answered 120 tags in 3 pages"),
        "{reasons}"
    );
    assert!(
        reasons.contains(&format!(
            "credentials: pull secret {ns}/regcred (entry {host})"
        )),
        "{reasons}"
    );
    let audit = setup.audit_text();
    assert!(
        audit
            .lines()
            .any(|l| l.contains("\"resource\":\"/v1/secrets\"")
                && l.contains("\"name\":\"regcred\"")
                && l.contains("\"decision\":\"allow\"")),
        "{audit}"
    );
    assert_no_credentials(r, &audit, &[]);
    assert_no_credentials(r, &format!("{got:?}"), &[]);
}

#[tokio::test]
async fn max_pages_cuts_the_list_and_says_so() {
    let Some(r) = registry::shared() else { return };
    let host = r.host();
    let Some(ns) = pull_secret("regcred", &host, "puller", registry::password("puller")) else {
        return;
    };
    let options = RegistryOptions {
        max_pages: 2,
        ..options_for(&[&host])
    };
    let setup = live(options, &[]).await.unwrap();
    let image = format!("{host}/shop/web");
    let got = setup
        .broker
        .registry_tags(&cx(), &image, &ns, &["regcred".to_owned()])
        .await
        .unwrap();
    assert_eq!((got.pages, got.tags.len(), got.truncated), (2, 100, true));
    let reasons = setup.tags_lines()[0]["reasons"].to_string();
    assert!(
        reasons.contains("cut at registries.max_pages (2)"),
        "{reasons}"
    );
}

#[tokio::test]
async fn wrong_credentials_are_a_clear_denial_that_names_the_secret_not_its_value() {
    let Some(r) = registry::shared() else { return };
    let host = r.host();
    let wrong = "not-the-Password-8f2Kq";
    let Some(ns) = pull_secret("stale", &host, "puller", wrong) else {
        return;
    };
    let setup = live(options_for(&[&host]), &[]).await.unwrap();
    let err = setup
        .broker
        .registry_tags(
            &cx(),
            &format!("{host}/shop/web:1.0.0"),
            &ns,
            &["stale".to_owned()],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "denied", "{err}");
    let m = err.to_string();
    assert!(
        m.contains(&format!(
            "refused the credentials of pull secret {ns}/stale (entry {host})"
        )),
        "{m}"
    );
    assert!(
        m.contains(&format!("registry {host}")) && m.contains("shop/web"),
        "{m}"
    );
    assert!(
        m.contains("fix that pull secret's username and password"),
        "{m}"
    );
    assert!(
        r.token_requests()
            .iter()
            .any(|t| t.user.as_deref() == Some("puller") && t.status == 401),
        "the token service saw the wrong password"
    );
    assert_error_clean(r, &err, &[wrong]);
    let audit = setup.audit_text();
    assert_no_credentials(r, &audit, &[wrong, &b64(&format!("puller:{wrong}"))]);
    let line = &setup.tags_lines()[0];
    assert_eq!(line["error"], "denied");

    // An account that may not pull: a token, but no access.
    let Some(ns) = pull_secret("nobody", &host, "nobody", registry::password("nobody")) else {
        return;
    };
    let err = setup
        .broker
        .registry_tags(
            &cx(),
            &format!("{host}/shop/web"),
            &ns,
            &["nobody".to_owned()],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "denied", "{err}");
    assert!(
        err.message().contains("may not pull this repository"),
        "{err}"
    );
    assert_error_clean(r, &err, &[]);

    // No pull secret at all: the registry needs one, and says so.
    let err = setup
        .broker
        .registry_tags(&cx(), &format!("{host}/shop/web"), &ns, &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "denied", "{err}");
    assert!(
        err.message()
            .contains("give the pod an imagePullSecrets entry"),
        "{err}"
    );
    assert_error_clean(r, &err, &[]);
    assert_no_credentials(r, &setup.audit_text(), &[wrong]);
}

#[tokio::test]
async fn anonymous_reads_need_no_pull_secret_and_a_missing_secret_is_passed_over() {
    let Some(r) = registry::shared() else { return };
    let host = r.host();
    let setup = offline(options_for(&[&host]), &[]);
    let got = setup
        .broker
        .registry_tags(
            &cx(),
            &format!("{host}/public/tools:9"),
            "shop",
            &["gone".to_owned()],
        )
        .await
        .unwrap();
    let mut tags = got.tags.clone();
    tags.sort();
    assert_eq!(tags, registry::PUBLIC_TOOLS_TAGS);
    assert!(!got.authenticated);
    let reasons = setup.tags_lines()[0]["reasons"].to_string();
    assert!(
        reasons.contains("pull secret shop/gone: not found; passed over"),
        "{reasons}"
    );
    assert!(reasons.contains("anonymous token from"), "{reasons}");
}

#[tokio::test]
async fn an_unknown_repository_is_name_unknown() {
    let Some(r) = registry::shared() else { return };
    let host = r.host();
    let setup = offline(options_for(&[&host]), &[]);
    let err = setup
        .broker
        .registry_tags(&cx(), &format!("{host}/public/nope:1.0"), "shop", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "not-found", "{err}");
    let m = err.message();
    assert!(
        m.contains(&format!(
            "repository public/nope is not known to registry {host}"
        )),
        "{m}"
    );
    assert!(m.contains("NAME_UNKNOWN"), "{m}");
    assert!(m.contains("check the image name"), "{m}");
    assert_eq!(setup.tags_lines()[0]["error"], "not-found");
}

#[tokio::test]
async fn a_host_not_allowed_is_refused_before_any_connection() {
    let Some(r) = registry::shared() else { return };
    let (canary, connections) = registry::canary();
    // Allowed: another host only. Neither the canary nor the real registry
    // may be asked.
    let setup = offline(options_for(&["registry.example:5000"]), &[]);
    for host in [canary.as_str(), r.host().as_str()] {
        let err = setup
            .broker
            .registry_tags(
                &cx(),
                &format!("{host}/never/asked:1"),
                "shop",
                &["regcred".to_owned()],
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind_str(), "denied", "{err}");
        assert!(err.message().contains("registries.allowed_hosts"), "{err}");
        assert!(
            err.message()
                .contains(&format!("registry {host} is not in")),
            "{err}"
        );
    }
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        connections.load(Ordering::SeqCst),
        0,
        "the canary was connected to"
    );
    assert_eq!(count_for(r, "never/asked"), 0, "{:#?}", r.requests());
    assert!(
        !r.log().contains("never/asked"),
        "the registry saw the request"
    );
    // Policy decided (and allowed) the read; the configuration refused it;
    // no pull secret was read.
    let lines = setup.tags_lines();
    assert_eq!(lines.len(), 2);
    assert!(lines.iter().all(|l| l["error"] == "denied"));
    assert!(!setup.audit_text().contains("/v1/secrets"));
}

#[tokio::test]
async fn an_operator_deny_rule_on_the_pseudo_resource_is_a_denial() {
    let Some(r) = registry::shared() else { return };
    let host = r.host();
    let rule = r#"package guardian
import rego.v1
deny contains {"rule": "no-registry-reads", "reason": "registry reads are off here"} if {
	input.resource.grant == "tags.registry.guardian.dev"
	endswith(input.name, "/shop/denied")
}
"#;
    let setup = offline(options_for(&[&host]), &[("ops/registry.rego", rule)]);
    let err = setup
        .broker
        .registry_tags(&cx(), &format!("{host}/shop/denied:1"), "shop", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "denied", "{err}");
    let m = err.message();
    assert!(
        m.contains("policy denied get tags.registry.guardian.dev"),
        "{m}"
    );
    assert!(
        m.contains("no-registry-reads") && m.contains("registry reads are off here"),
        "{m}"
    );
    assert_eq!(count_for(r, "shop/denied"), 0);
    let lines = setup.tags_lines();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["decision"], "deny");
    assert_eq!(lines[0]["rule"], "no-registry-reads");
    assert_eq!(lines[0]["name"], format!("{host}/shop/denied"));
}

#[tokio::test]
async fn a_stopped_registry_is_unreachable_and_the_next_call_after_a_restart_works() {
    if !registry::available() {
        return;
    }
    let r = tokio::task::spawn_blocking(|| {
        let r = Registry::start().unwrap();
        r.push_image("public/app", &["1.0.0".to_owned(), "1.1.0".to_owned()])
            .unwrap();
        r
    })
    .await
    .unwrap();
    let host = r.host();
    let setup = offline(options_for(&[&host]), &[]);
    let image = format!("{host}/public/app:2.0.0");
    let got = setup
        .broker
        .registry_tags(&cx(), &image, "shop", &[])
        .await
        .unwrap();
    assert_eq!(got.tags.len(), 2);

    let r = tokio::task::spawn_blocking(move || {
        r.stop();
        r
    })
    .await
    .unwrap();
    let err = setup
        .broker
        .registry_tags(&cx(), &image, "shop", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "unavailable", "{err}");
    let m = err.message();
    assert!(
        m.contains(&format!("registry {host} cannot be reached")),
        "{m}"
    );
    assert!(
        m.contains("connection refused") && m.contains("public/app"),
        "{m}"
    );

    let r = tokio::task::spawn_blocking(move || {
        r.restart().unwrap();
        r
    })
    .await
    .unwrap();
    let got = setup
        .broker
        .registry_tags(&cx(), &image, "shop", &[])
        .await
        .unwrap();
    assert_eq!(got.tags.len(), 2, "the next call after the restart works");
    let errors: Vec<serde_json::Value> = setup
        .tags_lines()
        .iter()
        .map(|l| l["error"].clone())
        .collect();
    assert_eq!(
        errors,
        [
            serde_json::Value::Null,
            "unavailable".into(),
            serde_json::Value::Null
        ]
    );
    tokio::task::spawn_blocking(move || drop(r)).await.unwrap();
}

/// A loopback server that accepts connections and answers with `reply`
/// (or never, when `None`).
fn stand_in(reply: Option<&'static str>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            if let Some(reply) = reply {
                let _ = conn.write_all(reply.as_bytes());
            }
            held.push(conn);
        }
    });
    addr
}

#[tokio::test]
async fn a_silent_registry_times_out_and_an_endless_answer_is_refused() {
    let silent = stand_in(None);
    let options = RegistryOptions {
        timeout: Duration::from_millis(600),
        ..options_for(&[&silent])
    };
    let setup = offline(options, &[]);
    let err = setup
        .broker
        .registry_tags(&cx(), &format!("{silent}/a/b"), "shop", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "timeout", "{err}");
    assert!(
        err.message().contains("registries.timeout") && err.message().contains(&silent),
        "{err}"
    );

    let huge = stand_in(Some(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 900000000\r\n\r\n{\"tags\":[",
    ));
    let setup = offline(options_for(&[&huge]), &[]);
    let err = setup
        .broker
        .registry_tags(&cx(), &format!("{huge}/a/b"), "shop", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "too-large", "{err}");
    assert!(err.message().contains("not read further"), "{err}");
}

#[tokio::test]
async fn a_bad_image_is_invalid_before_policy_is_asked() {
    let setup = offline(options_for(&["127.0.0.1:1"]), &[]);
    let err = setup
        .broker
        .registry_tags(&cx(), "Shop/Web:1", "shop", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "invalid", "{err}");
    assert!(setup.tags_lines().is_empty());
}

/// A registry stand-in behind Basic auth (`user:password`): 401 with a
/// Basic challenge without them, the tags list with them. Records each
/// request's `Authorization` header.
fn basic_registry(user: &str, password: &str) -> (String, Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let expected = format!("basic {}", b64(&format!("{user}:{password}"))).to_ascii_lowercase();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 8192];
            let n = conn.read(&mut buf).unwrap_or(0);
            let text = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
            let auth = text
                .lines()
                .find_map(|l| l.strip_prefix("authorization: "))
                .map(|v| v.trim().to_owned())
                .unwrap_or_default();
            record.lock().unwrap().push(auth.clone());
            let reply = if auth == expected {
                let body = r#"{"name":"team/app","tags":["0.9.0","1.0.0"]}"#;
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                let body =
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
                format!(
                    "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"Registry Realm\"\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            };
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    (addr, seen)
}

#[tokio::test]
async fn a_basic_challenge_is_answered_with_a_legacy_dockercfg_secrets_credentials() {
    let Some(k) = guardian_tests::kube::control_plane() else {
        return;
    };
    let password = "basic-pw-Tz81mQx";
    let (host, seen) = basic_registry("carol", password);
    let ns = k.namespace("registry");
    // A legacy `.dockercfg`: the registry map itself, `username`/`password`
    // fields; a second, glob entry that must lose to the exact one.
    let cfg = serde_json::json!({
        host.clone(): {"username": "carol", "password": password, "email": "c@example.com"},
        "*.example.com": {"auth": b64("someone:else")},
    });
    k.apply(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: legacy\n  namespace: {ns}\n\
         type: kubernetes.io/dockercfg\ndata:\n  .dockercfg: {}\n",
        b64(&cfg.to_string())
    ));
    let setup = live(options_for(&[&host]), &[]).await.unwrap();
    let got = setup
        .broker
        .registry_tags(
            &cx(),
            &format!("{host}/team/app:2"),
            &ns,
            &["legacy".to_owned()],
        )
        .await
        .unwrap();
    assert_eq!(got.tags, ["0.9.0", "1.0.0"]);
    assert!(got.authenticated && got.pages == 1);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "challenged once, then answered: {seen:?}");
    assert_eq!(seen[0], "");
    assert!(seen[1].starts_with("basic "), "{seen:?}");
    let audit = setup.audit_text();
    assert!(
        audit.contains(&format!(
            "basic auth with pull secret {ns}/legacy (entry {host})"
        )),
        "{audit}"
    );
    assert!(
        !audit.contains(password) && !audit.contains(&b64(&format!("carol:{password}"))),
        "{audit}"
    );
}

#[tokio::test]
async fn credentials_and_pages_go_nowhere_but_the_registry_asked() {
    // A plain-http token service on another host than the (plain-http)
    // registry: no request is sent there.
    let (realm, connections) = registry::canary();
    let port = realm.rsplit(':').next().unwrap();
    let reply: &'static str = Box::leak(
        format!(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://localhost:{port}/token\",service=\"x\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .into_boxed_str(),
    );
    let host = stand_in(Some(reply));
    let setup = offline(options_for(&[&host]), &[]);
    let err = setup
        .broker
        .registry_tags(&cx(), &format!("{host}/a/b"), "shop", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "denied", "{err}");
    assert!(
        err.message().contains("plain http")
            && err.message().contains("registries.insecure_http_hosts"),
        "{err}"
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(connections.load(Ordering::SeqCst), 0);

    // A next page on another host is not followed.
    let (elsewhere, connections) = registry::canary();
    let body = r#"{"name":"a/b","tags":["1","2"]}"#;
    let reply: &'static str = Box::leak(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLink: \
             <http://{elsewhere}/v2/a/b/tags/list?n=50&last=2>; rel=\"next\"\r\nContent-Length: \
             {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .into_boxed_str(),
    );
    let host = stand_in(Some(reply));
    let setup = offline(options_for(&[&host]), &[]);
    let err = setup
        .broker
        .registry_tags(&cx(), &format!("{host}/a/b"), "shop", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "unavailable", "{err}");
    assert!(err.message().contains("next page on another host"), "{err}");
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(connections.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn a_snapshots_pull_secret_is_redacted_and_said_to_be() {
    let Some(r) = registry::shared() else { return };
    let host = r.host();
    let config = serde_json::json!({"auths": {host.clone(): {"auth": b64(&format!("puller:{}", registry::password("puller")))}}});
    let secret = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "regcred", "namespace": "shop"},
        "type": "kubernetes.io/dockerconfigjson",
        "data": {".dockerconfigjson": b64(&config.to_string())},
    });
    let dir = tempfile::tempdir().unwrap();
    let audit = dir.path().join("audit.jsonl");
    let (snapshot, _) = Snapshot::from_values("with-secret", vec![secret]).unwrap();
    let broker = Broker::from_snapshot(
        snapshot,
        policy(&[]),
        Arc::new(Audit::open(&audit).unwrap()),
    )
    .with_registries(options_for(&[&host]));
    let err = broker
        .registry_tags(
            &cx(),
            &format!("{host}/shop/web"),
            "shop",
            &["regcred".to_owned()],
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "denied", "{err}");
    assert!(err.message().contains("imagePullSecrets"), "{err}");
    let text = std::fs::read_to_string(&audit).unwrap();
    assert!(text.contains("pull secret shop/regcred: its .dockerconfigjson is not base64 (a snapshot holds Secret values redacted"), "{text}");
    assert_no_credentials(r, &text, &[]);
}

#[tokio::test]
async fn a_plain_http_registry_asked_over_https_is_a_tls_error_that_says_what_to_set() {
    let Some(r) = registry::shared() else { return };
    let host = r.host();
    let options = RegistryOptions {
        insecure_http_hosts: Vec::new(),
        ..options_for(&[&host])
    };
    let setup = offline(options, &[]);
    let err = setup
        .broker
        .registry_tags(&cx(), &format!("{host}/public/tools"), "shop", &[])
        .await
        .unwrap_err();
    assert_eq!(err.kind_str(), "unavailable", "{err}");
    let m = err.message();
    assert!(
        m.contains(&format!("registry {host} cannot be reached")),
        "{m}"
    );
    assert!(
        m.contains("TLS failed")
            && m.contains("registries.ca_file")
            && m.contains("registries.insecure_http_hosts"),
        "{m}"
    );
}

#[tokio::test]
async fn the_pull_secrets_are_tried_in_the_pods_order_as_the_kubelet_tries_them() {
    let Some(r) = registry::shared() else { return };
    let Some(k) = guardian_tests::kube::control_plane() else {
        return;
    };
    let host = r.host();
    let ns = k.namespace("registry");
    let wrong = "stale-Password-0x7Yq";
    for (name, user, password) in [
        ("first", "puller", wrong),
        ("second", "puller", registry::password("puller")),
    ] {
        let config =
            serde_json::json!({"auths": {host.clone(): {"username": user, "password": password}}});
        k.apply(&format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\n\
             type: kubernetes.io/dockerconfigjson\ndata:\n  .dockerconfigjson: {}\n",
            b64(&config.to_string())
        ));
    }
    let setup = live(options_for(&[&host]), &[]).await.unwrap();
    let got = setup
        .broker
        .registry_tags(
            &cx(),
            &format!("{host}/shop/web"),
            &ns,
            &[
                "missing".to_owned(),
                "first".to_owned(),
                "second".to_owned(),
            ],
        )
        .await
        .unwrap();
    assert!(got.authenticated);
    assert_eq!(got.tags.len(), registry::SHOP_WEB_TAGS);
    let reasons = setup.tags_lines()[0]["reasons"].to_string();
    assert!(
        reasons.contains(&format!("pull secret {ns}/missing: not found; passed over")),
        "{reasons}"
    );
    assert!(
        reasons.contains(&format!(
            "token from {} with pull secret {ns}/second",
            r.realm()
        )),
        "{reasons}"
    );
    let audit = setup.audit_text();
    assert_eq!(
        audit.matches("\"resource\":\"/v1/secrets\"").count(),
        3,
        "{audit}"
    );
    assert_no_credentials(r, &audit, &[wrong]);
}
