//! Credential-shaped text in objects' fields: env values, command lines,
//! probe headers and container messages of pod-shaped objects (pods and
//! every template), annotations and status messages of every object,
//! ConfigMap values, the last-applied configuration, event messages.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::secrets::{LAST_APPLIED_ANNOTATION, decode_base64, is_marker, marker};
use crate::text::{KEY_WORDS, is_placeholder, key_kind, tag, text};

/// Where a pod spec sits in an object: a Pod; the template of a Deployment,
/// StatefulSet, DaemonSet, ReplicaSet, ReplicationController or Job (and
/// any CRD that follows the convention); a CronJob's job template; a
/// PodTemplate.
const POD_SPEC_PATHS: &[&str] = &[
    "/spec",
    "/spec/template/spec",
    "/spec/jobTemplate/spec/template/spec",
    "/template/spec",
];
const CONTAINER_LISTS: &[&str] = &["containers", "initContainers", "ephemeralContainers"];
const STATUS_LISTS: &[&str] = &[
    "containerStatuses",
    "initContainerStatuses",
    "ephemeralContainerStatuses",
];
/// A whole command-line word that is a flag named like a credential:
/// `--password`, `-token`, `--db-api-key`.
static SECRET_FLAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(r"(?i)^--?[a-z0-9_.\-]*?{KEY_WORDS}$")).expect("flag pattern compiles")
});
const LAST_APPLIED_POINTER: &str =
    "/metadata/annotations/kubectl.kubernetes.io~1last-applied-configuration";

/// Redact literal secrets in pod-shaped objects — a Pod, a workload with a
/// pod template, or a list of either — and leave every other object alone:
///
/// - `env[].value` of every container, init and ephemeral container is
///   replaced by a [`marker`] (length + short hash, like Secret values) when
///   the variable's name looks secret ([`env_name_is_secret`]) or the value
///   has a credential shape per [`text`]. `valueFrom` is kept: it is a
///   reference, not a value.
/// - `command[]` / `args[]` items go through [`text`], and the item after a
///   flag named like a credential (`["--password", "hunter2"]`) is masked;
///   probe/lifecycle `httpGet.httpHeaders` values get a marker when the
///   header is named like a secret or `Authorization`/`Cookie`, or the value
///   has a credential shape.
/// - a Pod's container termination/waiting messages (which carry the log
///   tail under `terminationMessagePolicy: FallbackToLogsOnError`) go
///   through [`text`].
/// - the `kubectl.kubernetes.io/last-applied-configuration` annotation holds
///   the same manifest: it is parsed, redacted the same way, re-serialized
///   and then passed through [`text`]; if it does not parse, [`text`] alone.
///
/// And in every object, pod-shaped or not (an operator's annotation, a
/// controller's status message or a ConfigMap value is where a connection
/// string or a token gets pasted; safety invariants 4 and 8):
///
/// - every annotation value goes through [`text`] (the last-applied one as
///   above, for every kind);
/// - `status.message` and `status.conditions[].message` go through [`text`];
/// - a ConfigMap's `data` values go through [`text`] — keys and every
///   non-credential character stay, so a diagnosis that reads a setting
///   still can — and its `binaryData` values become a [`marker`] (length and
///   short hash of the decoded bytes, like Secret values).
///
/// Idempotent.
pub fn env_values(object: &mut Value) {
    for (pointer, value) in pod_edits(object) {
        if let Some(slot) = object.pointer_mut(&pointer) {
            *slot = value;
        }
    }
}

/// Whether [`env_values`] would change this object: lets a caller holding a
/// shared item (`Arc<Value>`) copy only the items that need it.
pub fn env_values_needed(object: &Value) -> bool {
    !pod_edits(object).is_empty()
}

/// Whether an env var's (or header's) name says its value is a secret.
/// Case-insensitive, separators ignored: contains `PASSWORD`, `PASSWD`,
/// `PASSPHRASE`, `SECRET`, `TOKEN`, `API_KEY`, `PRIVATE_KEY`, `CREDENTIAL`;
/// or has a `PASS` / `PWD` segment (`DB_PASS`, `MYSQL_PWD`, but not the
/// shell's `PWD`/`OLDPWD`); or ends in a `KEY` segment (`SIGNING_KEY`,
/// `ENCRYPTION_KEY`) unless a segment says `PUBLIC`.
pub fn env_name_is_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let squashed: String = upper.chars().filter(char::is_ascii_alphanumeric).collect();
    const WORDS: &[&str] = &[
        "PASSWORD",
        "PASSWD",
        "PASSPHRASE",
        "SECRET",
        "TOKEN",
        "APIKEY",
        "PRIVATEKEY",
        "CREDENTIAL",
    ];
    if WORDS.iter().any(|w| squashed.contains(w)) {
        return true;
    }
    if squashed == "PWD" || squashed == "OLDPWD" {
        return false;
    }
    let segments: Vec<&str> = upper
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|s| !s.is_empty())
        .collect();
    if segments.iter().any(|s| *s == "PASS" || *s == "PWD") {
        return true;
    }
    segments.last() == Some(&"KEY") && !segments.contains(&"PUBLIC")
}

/// Whether a literal env value must be hidden.
fn env_value_needs_marker(name: &str, value: &str) -> bool {
    if value.is_empty() || is_marker(value) {
        return false;
    }
    if env_name_is_secret(name) && !is_path_setting(name, value) {
        // `TOKENIZERS_PARALLELISM=false`, `SECRET_ENABLED=true`: a flag is
        // not a secret, whatever its name.
        let flag = value.eq_ignore_ascii_case("true") || value.eq_ignore_ascii_case("false");
        if !flag {
            return true;
        }
    }
    matches!(text(value), Cow::Owned(_))
}

/// `DB_PASSWORD_FILE=/run/secrets/db`: where a secret is, not what it is
/// (the Docker `_FILE` convention). Only with an absolute path as value.
fn is_path_setting(name: &str, value: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    let path_name = ["FILE", "PATH", "DIR", "FILENAME", "LOCATION"]
        .iter()
        .any(|s| upper.ends_with(&format!("_{s}")) || upper.ends_with(&format!("-{s}")));
    path_name && value.starts_with('/') && !value.contains(char::is_whitespace)
}

/// The edits [`env_values`] makes: (JSON pointer, new value).
fn pod_edits(object: &Value) -> Vec<(String, Value)> {
    let mut edits = Vec::new();
    collect_pod_edits(object, "", &mut edits);
    edits
}

fn collect_pod_edits(object: &Value, path: &str, edits: &mut Vec<(String, Value)>) {
    if !object.is_object() {
        return;
    }
    if let Some(Value::Array(items)) = object.get("items") {
        for (i, item) in items.iter().enumerate() {
            collect_pod_edits(item, &format!("{path}/items/{i}"), edits);
        }
    }
    free_text_edits(object, path, edits);
    let mut pod_shaped = false;
    for spec_path in POD_SPEC_PATHS {
        if let Some(spec) = object.pointer(spec_path)
            && spec.get("containers").is_some_and(Value::is_array)
        {
            pod_shaped = true;
            pod_spec_edits(spec, &format!("{path}{spec_path}"), edits);
        }
    }
    if !pod_shaped {
        return;
    }
    if let Some(Value::Object(status)) = object.get("status") {
        for list in STATUS_LISTS {
            let Some(Value::Array(statuses)) = status.get(*list) else {
                continue;
            };
            for (i, status) in statuses.iter().enumerate() {
                for state in ["state", "lastState"] {
                    for reason in ["terminated", "waiting"] {
                        let pointer = format!("/{state}/{reason}/message");
                        if let Some(Value::String(message)) = status.pointer(&pointer)
                            && let Cow::Owned(masked) = text(message)
                        {
                            edits.push((
                                format!("{path}/status/{list}/{i}{pointer}"),
                                Value::String(masked),
                            ));
                        }
                    }
                }
            }
        }
    }
}

/// `a/b~c` as a JSON Pointer segment: `a~1b~0c`.
fn pointer_segment(key: &str) -> Cow<'_, str> {
    if key.contains(['~', '/']) {
        Cow::Owned(key.replace('~', "~0").replace('/', "~1"))
    } else {
        Cow::Borrowed(key)
    }
}

/// The edits of [`env_values`] that every object gets, pod-shaped or not:
/// annotation values, status messages, ConfigMap values.
fn free_text_edits(object: &Value, path: &str, edits: &mut Vec<(String, Value)>) {
    fn mask(edits: &mut Vec<(String, Value)>, pointer: String, value: &str) {
        if let Cow::Owned(masked) = text(value) {
            edits.push((pointer, Value::String(masked)));
        }
    }
    if let Some(Value::Object(annotations)) = object.pointer("/metadata/annotations") {
        for (key, value) in annotations {
            let Value::String(value) = value else {
                continue;
            };
            if key == LAST_APPLIED_ANNOTATION {
                if let Some(masked) = redact_last_applied(value) {
                    edits.push((
                        format!("{path}{LAST_APPLIED_POINTER}"),
                        Value::String(masked),
                    ));
                }
                continue;
            }
            mask(
                edits,
                format!("{path}/metadata/annotations/{}", pointer_segment(key)),
                value,
            );
        }
    }
    if let Some(Value::Object(status)) = object.get("status") {
        if let Some(Value::String(message)) = status.get("message") {
            mask(edits, format!("{path}/status/message"), message);
        }
        if let Some(Value::Array(conditions)) = status.get("conditions") {
            for (i, condition) in conditions.iter().enumerate() {
                if let Some(Value::String(message)) = condition.get("message") {
                    mask(
                        edits,
                        format!("{path}/status/conditions/{i}/message"),
                        message,
                    );
                }
            }
        }
    }
    // A ConfigMap, or a kind-less list item holding `data` (a Secret's
    // values are markers by then, which `text` leaves alone).
    let kind = object.get("kind").and_then(Value::as_str);
    if kind == Some("ConfigMap")
        || (kind.is_none() && object.get("data").is_some_and(Value::is_object))
    {
        if let Some(Value::Object(data)) = object.get("data") {
            for (key, value) in data {
                if let Value::String(value) = value {
                    mask(
                        edits,
                        format!("{path}/data/{}", pointer_segment(key)),
                        value,
                    );
                }
            }
        }
        if let Some(Value::Object(binary)) = object.get("binaryData") {
            for (key, value) in binary {
                if let Value::String(encoded) = value
                    && !is_marker(encoded)
                {
                    let bytes =
                        decode_base64(encoded).unwrap_or_else(|| encoded.as_bytes().to_vec());
                    edits.push((
                        format!("{path}/binaryData/{}", pointer_segment(key)),
                        Value::String(marker(&bytes)),
                    ));
                }
            }
        }
    }
}

fn pod_spec_edits(spec: &Value, path: &str, edits: &mut Vec<(String, Value)>) {
    for list in CONTAINER_LISTS {
        let Some(Value::Array(containers)) = spec.get(*list) else {
            continue;
        };
        for (i, container) in containers.iter().enumerate() {
            let at = format!("{path}/{list}/{i}");
            if let Some(Value::Array(env)) = container.get("env") {
                for (j, var) in env.iter().enumerate() {
                    let name = var.get("name").and_then(Value::as_str).unwrap_or("");
                    if let Some(Value::String(value)) = var.get("value")
                        && env_value_needs_marker(name, value)
                    {
                        edits.push((
                            format!("{at}/env/{j}/value"),
                            Value::String(marker(value.as_bytes())),
                        ));
                    }
                }
            }
            for field in ["command", "args"] {
                let Some(Value::Array(words)) = container.get(field) else {
                    continue;
                };
                for (j, word) in words.iter().enumerate() {
                    let Value::String(word) = word else {
                        continue;
                    };
                    // `["--password", "hunter2"]`: the value of a secret
                    // flag is its own item.
                    let flag = j
                        .checked_sub(1)
                        .and_then(|k| words[k].as_str())
                        .filter(|f| SECRET_FLAG.is_match(f));
                    let masked = match flag {
                        Some(flag) if !word.starts_with('-') && !is_placeholder(word) => {
                            Some(tag(key_kind(&flag.to_ascii_lowercase())))
                        }
                        _ => match text(word) {
                            Cow::Owned(masked) => Some(masked),
                            Cow::Borrowed(_) => None,
                        },
                    };
                    if let Some(masked) = masked {
                        edits.push((format!("{at}/{field}/{j}"), Value::String(masked)));
                    }
                }
            }
            for handler in [
                "/livenessProbe/httpGet",
                "/readinessProbe/httpGet",
                "/startupProbe/httpGet",
                "/lifecycle/postStart/httpGet",
                "/lifecycle/preStop/httpGet",
            ] {
                let Some(Value::Array(headers)) = container
                    .pointer(handler)
                    .and_then(|h| h.get("httpHeaders"))
                else {
                    continue;
                };
                for (j, header) in headers.iter().enumerate() {
                    let name = header.get("name").and_then(Value::as_str).unwrap_or("");
                    let Some(Value::String(value)) = header.get("value") else {
                        continue;
                    };
                    let auth_header = ["authorization", "proxy-authorization", "cookie"]
                        .iter()
                        .any(|h| name.eq_ignore_ascii_case(h));
                    let hide = if auth_header {
                        !value.is_empty() && !is_marker(value)
                    } else {
                        env_value_needs_marker(name, value)
                    };
                    if hide {
                        edits.push((
                            format!("{at}{handler}/httpHeaders/{j}/value"),
                            Value::String(marker(value.as_bytes())),
                        ));
                    }
                }
            }
        }
    }
}

/// The last-applied manifest, redacted like the object; `None` if nothing
/// changes (the original text is then kept byte for byte).
fn redact_last_applied(applied: &str) -> Option<String> {
    let serialized = match serde_json::from_str::<Value>(applied) {
        Ok(mut manifest) => {
            let edits = pod_edits(&manifest);
            if edits.is_empty() {
                Cow::Borrowed(applied)
            } else {
                for (pointer, value) in edits {
                    if let Some(slot) = manifest.pointer_mut(&pointer) {
                        *slot = value;
                    }
                }
                let mut s = manifest.to_string();
                if applied.ends_with('\n') {
                    s.push('\n');
                }
                Cow::Owned(s)
            }
        }
        Err(_) => Cow::Borrowed(applied),
    };
    if let Cow::Owned(masked) = text(&serialized) {
        return Some(masked);
    }
    match serialized {
        Cow::Owned(s) => Some(s),
        Cow::Borrowed(_) => None,
    }
}

/// [`text`] over an Event's (or each event of a list's) `message` (core/v1)
/// and `note` (events.k8s.io/v1).
pub fn event_messages(v: &mut Value) {
    let Some(map) = v.as_object_mut() else {
        return;
    };
    if let Some(Value::Array(items)) = map.get_mut("items") {
        for item in items {
            event_messages(item);
        }
    }
    for field in ["message", "note"] {
        if let Some(Value::String(s)) = map.get_mut(field)
            && let Cow::Owned(masked) = text(s)
        {
            *s = masked;
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::samples::*;

    #[test]
    fn annotations_status_messages_and_config_map_values_are_masked() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJlLW5vdC1yZWFs";
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "app", "annotations": {
                "example.com/db": "postgres://app:Sup3rS3cret@db:5432/app",
                "team": "orders"}},
            "data": {"DATABASE_URL": "postgres://app:Sup3rS3cret@db:5432/app", "mode": "fast",
                     "app.properties": format!("token={jwt}\nthreads=4\n")},
            "binaryData": {"keystore.p12": "c2VjcmV0LWJ5dGVz"}});
        assert!(env_values_needed(&cm));
        env_values(&mut cm);
        let text = cm.to_string();
        assert!(
            !text.contains("Sup3rS3cret") && !text.contains(jwt),
            "{text}"
        );
        assert_eq!(cm["data"]["mode"], "fast");
        assert!(
            cm["data"]["app.properties"]
                .as_str()
                .unwrap()
                .contains("threads=4")
        );
        assert_eq!(cm["metadata"]["annotations"]["team"], "orders");
        assert_eq!(cm["binaryData"]["keystore.p12"], marker(b"secret-bytes"));
        let mut deployment = json!({"kind": "Deployment", "metadata": {"name": "d"},
            "status": {"conditions": [{"type": "Progressing",
                "message": format!("pull failed with Authorization: Bearer {jwt}")}]}});
        env_values(&mut deployment);
        assert!(!deployment.to_string().contains(jwt), "{deployment}");
        // Idempotent.
        let again = cm.clone();
        env_values(&mut cm);
        assert_eq!(cm, again);
    }

    #[test]
    fn env_names_that_look_secret() {
        for name in [
            "DB_PASSWORD",
            "postgres_password",
            "QUEUE_PASSWD",
            "JWT_SECRET",
            "AWS_SECRET_ACCESS_KEY",
            "GITHUB_TOKEN",
            "authToken",
            "STRIPE_API_KEY",
            "apiKey",
            "GCP_PRIVATE_KEY",
            "GOOGLE_APPLICATION_CREDENTIALS_JSON",
            "DB_PASS",
            "MYSQL_PWD",
            "SIGNING_KEY",
            "SSH_PASSPHRASE",
        ] {
            assert!(env_name_is_secret(name), "{name}");
        }
        for name in [
            "DB_USER",
            "DATABASE_URL",
            "LOG_LEVEL",
            "PWD",
            "OLDPWD",
            "PASSTHROUGH_MODE",
            "KEY_ID",
            "JWT_PUBLIC_KEY",
            "CACHE_TTL",
        ] {
            assert!(!env_name_is_secret(name), "{name}");
        }
    }

    fn containers() -> Value {
        json!([{
            "name": "app",
            "image": "registry.example.com/orders-api@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "args": ["--db=postgres://orders_app:s3cr3t@pg:5432/orders", "--port=8080",
                     "--api-key", "0123456789abcdef", "--api-key", "$(API_KEY)", "--verbose"],
            "env": [
                {"name": "DB_PASSWORD", "value": "hunter2"},
                {"name": "DB_PASSWORD_REF", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                {"name": "DATABASE_URL", "value": "postgres://orders_app:s3cr3t@pg:5432/orders"},
                {"name": "UPSTREAM_AUTH", "value": format!("Bearer {JWT}")},
                {"name": "LOG_LEVEL", "value": "debug"},
                {"name": "API_TOKEN", "value": ""},
                {"name": "DB_PASSWORD_FILE", "value": "/run/secrets/db-password"},
                {"name": "TOKENIZERS_PARALLELISM", "value": "false"},
            ],
            "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080, "httpHeaders": [
                {"name": "Authorization", "value": "Basic b3JkZXJzX2FwcDpzM2NyM3Q="},
                {"name": "X-Probe", "value": "1"},
            ]}},
        }])
    }

    fn assert_pod_spec_redacted(spec: &Value) {
        let env = &spec["containers"][0]["env"];
        assert_eq!(env[0]["value"], marker(b"hunter2"), "secret name");
        assert_eq!(
            env[1],
            json!({"name": "DB_PASSWORD_REF", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}),
            "references are kept"
        );
        assert_eq!(
            env[2]["value"],
            marker(b"postgres://orders_app:s3cr3t@pg:5432/orders"),
            "credential-shaped value"
        );
        assert_eq!(env[3]["value"], marker(format!("Bearer {JWT}").as_bytes()));
        assert_eq!(env[4]["value"], "debug");
        assert_eq!(env[5]["value"], "", "empty stays empty");
        assert_eq!(
            env[6]["value"], "/run/secrets/db-password",
            "a path to a secret"
        );
        assert_eq!(env[7]["value"], "false", "a flag");
        let c = &spec["containers"][0];
        assert_eq!(
            c["args"],
            json!([
                "--db=postgres://orders_app:<redacted:password>@pg:5432/orders",
                "--port=8080",
                "--api-key",
                "<redacted:api-key>",
                "--api-key",
                "$(API_KEY)",
                "--verbose"
            ])
        );
        let headers = &c["readinessProbe"]["httpGet"]["httpHeaders"];
        assert_eq!(
            headers[0]["value"],
            marker(b"Basic b3JkZXJzX2FwcDpzM2NyM3Q=")
        );
        assert_eq!(headers[1]["value"], "1");
    }

    #[test]
    fn env_values_in_pods_and_templates() {
        let spec = json!({"containers": containers(), "initContainers": containers(),
                          "ephemeralContainers": containers()});
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                         "spec": spec.clone(),
                         "status": {"containerStatuses": [{"name": "app", "lastState": {"terminated": {
                             "exitCode": 1,
                             "message": "panic: dial postgres://orders_app:s3cr3t@pg:5432: refused"}}}]}});
        let template = json!({"metadata": {"labels": {"app": "orders"}}, "spec": spec.clone()});
        let deployment = |kind: &str| {
            json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "orders"},
                   "spec": {"replicas": 2, "template": template.clone()}})
        };
        let cronjob = json!({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "c"},
                             "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template.clone()}}}});
        let pod_template =
            json!({"apiVersion": "v1", "kind": "PodTemplate", "template": template.clone()});

        let mut objects = vec![
            ("/spec", pod.clone()),
            ("/spec/jobTemplate/spec/template/spec", cronjob),
            ("/template/spec", pod_template),
        ];
        for kind in [
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "ReplicaSet",
            "Job",
            "ReplicationController",
        ] {
            objects.push(("/spec/template/spec", deployment(kind)));
        }
        for (path, object) in &objects {
            let mut redacted = object.clone();
            assert!(env_values_needed(&redacted));
            env_values(&mut redacted);
            let spec = redacted.pointer(path).expect(path);
            for list in CONTAINER_LISTS {
                assert_pod_spec_redacted(&json!({"containers": spec[*list]}));
            }
            assert!(!redacted.to_string().contains("s3cr3t"), "{path}");
            assert!(!redacted.to_string().contains("hunter2"), "{path}");
            // Idempotent.
            assert!(!env_values_needed(&redacted));
            let before = redacted.clone();
            env_values(&mut redacted);
            assert_eq!(redacted, before);
        }

        // The pod's termination message (a log tail) goes through `text`.
        let mut p = pod.clone();
        env_values(&mut p);
        assert_eq!(
            p["status"]["containerStatuses"][0]["lastState"]["terminated"]["message"],
            "panic: dial postgres://orders_app:<redacted:password>@pg:5432: refused"
        );

        // Lists: a PodList (kind-less items) and a `kind: List`.
        let mut list = json!({"kind": "PodList", "items": [
            {"metadata": {"name": "a"}, "spec": spec.clone()},
            {"metadata": {"name": "b"}, "spec": {"containers": [{"name": "c", "env": [{"name": "X", "value": "1"}]}]}}
        ]});
        assert!(env_values_needed(&list["items"][0]));
        assert!(!env_values_needed(&list["items"][1]));
        let untouched = list["items"][1].clone();
        env_values(&mut list);
        assert_pod_spec_redacted(&list["items"][0]["spec"]);
        assert_eq!(list["items"][1], untouched);
        let mut mixed = json!({"kind": "List", "items": [deployment("Deployment"),
            {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"password": "not-our-business"}}]});
        let configmap = mixed["items"][1].clone();
        env_values(&mut mixed);
        assert_pod_spec_redacted(&mixed["items"][0]["spec"]["template"]["spec"]);
        assert_eq!(mixed["items"][1], configmap, "only pod-shaped objects");
    }

    #[test]
    fn env_values_in_last_applied_configuration() {
        let manifest = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "orders", "namespace": "staging"},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "env": [
                {"name": "DB_PASSWORD", "value": "hunter2"},
                {"name": "LOG_LEVEL", "value": "debug"}]}]}}}});
        let applied = format!("{manifest}\n");
        let mut deployment = manifest.clone();
        deployment["metadata"]["annotations"] =
            json!({LAST_APPLIED_ANNOTATION: applied, "team": "orders"});
        env_values(&mut deployment);
        let annotations = &deployment["metadata"]["annotations"];
        assert_eq!(annotations["team"], "orders");
        let applied = annotations[LAST_APPLIED_ANNOTATION]
            .as_str()
            .expect("string");
        assert!(applied.ends_with('\n'));
        let parsed: Value = serde_json::from_str(applied).expect("still JSON");
        let env = &parsed["spec"]["template"]["spec"]["containers"][0]["env"];
        assert_eq!(env[0]["value"], marker(b"hunter2"));
        assert_eq!(env[1]["value"], "debug");
        let before = deployment.clone();
        env_values(&mut deployment);
        assert_eq!(deployment, before, "idempotent");

        // Not JSON (hand-edited, truncated): `text` alone.
        let mut broken = json!({"kind": "Deployment", "metadata": {"annotations": {
            LAST_APPLIED_ANNOTATION: "{\"env\":[{\"name\":\"X\",\"value\":\"postgres://u:s3cr3t@pg/db\"}"}},
            "spec": {"template": {"spec": {"containers": []}}}});
        env_values(&mut broken);
        assert_eq!(
            broken["metadata"]["annotations"][LAST_APPLIED_ANNOTATION],
            "{\"env\":[{\"name\":\"X\",\"value\":\"postgres://u:<redacted:password>@pg/db\"}"
        );

        // A clean annotation is kept byte for byte (no re-serialization).
        let odd_but_clean = "{ \"kind\": \"Deployment\",  \"spec\": {} }";
        let mut clean = json!({"kind": "Deployment", "metadata": {"annotations": {
            LAST_APPLIED_ANNOTATION: odd_but_clean}},
            "spec": {"template": {"spec": {"containers": []}}}});
        env_values(&mut clean);
        assert_eq!(
            clean["metadata"]["annotations"][LAST_APPLIED_ANNOTATION],
            odd_but_clean
        );
    }

    #[test]
    fn event_messages_are_redacted() {
        let mut events = json!({"kind": "EventList", "items": [
            {"reason": "Failed", "message": "Failed to pull image: Authorization: Basic b3JkZXJzX2FwcDpzM2NyM3Q="},
            {"reason": "BackOff", "message": "Back-off restarting failed container"},
            {"reason": "X", "note": format!("webhook called with token={JWT}")}
        ]});
        event_messages(&mut events);
        assert_eq!(
            events["items"][0]["message"],
            "Failed to pull image: Authorization: Basic <redacted:basic-auth>"
        );
        assert_eq!(
            events["items"][1]["message"],
            "Back-off restarting failed container"
        );
        assert_eq!(
            events["items"][2]["note"],
            "webhook called with token=<redacted:jwt>"
        );
    }
}
