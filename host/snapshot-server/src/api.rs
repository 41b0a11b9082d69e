//! The resource endpoints: `/api/v1/…` and `/apis/{group}/{version}/…`.
//!
//! Paths are parsed by hand rather than by a route table because their shape
//! depends on the resource: `namespaces/{ns}/pods` lists pods, while
//! `namespaces/{ns}` gets a namespace and `namespaces/{ns}/status` is its
//! subresource.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Query, State as StateExtractor};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use guardian_kube_types::selectors::{FieldSelector, LabelSelector};
use guardian_kube_types::{BrokerError, ListQuery, LogQuery, ResourceKind, SharedItem, SharedList};
use guardian_redact as redact;
use guardian_snapshot::{PatchKind, Preconditions};
use serde_json::{Value, json};

use crate::State;
use crate::discovery;
use crate::status::{ApiError, json_bytes, json_response};
use crate::table::{self, IncludeObject};
use crate::watch::{self, Change};

type AppState = StateExtractor<Arc<State>>;
type Params = HashMap<String, String>;

pub(crate) async fn version(StateExtractor(state): AppState) -> Response {
    json_response(StatusCode::OK, &state.version)
}

pub(crate) async fn core_versions(headers: HeaderMap) -> Response {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    json_response(StatusCode::OK, &discovery::core_versions(host))
}

pub(crate) async fn group_list(StateExtractor(state): AppState) -> Response {
    json_response(StatusCode::OK, &discovery::group_list(&state.served))
}

pub(crate) async fn ok() -> &'static str {
    "ok"
}

/// Everything that is not a fixed route.
pub(crate) async fn handle(
    StateExtractor(state): AppState,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match dispatch(&state, &method, &uri, &headers, &body) {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

/// What a resource path names.
struct Target {
    kind: ResourceKind,
    /// From the URL; `None` for cluster-scoped kinds and all-namespace lists.
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

impl Target {
    fn ns(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// `deployments.apps "x" in namespace "staging"`, for messages.
    fn describe(&self) -> String {
        let name = self.name.as_deref().unwrap_or("");
        match self.ns() {
            Some(ns) => format!(
                "{} \"{name}\" in namespace \"{ns}\"",
                self.kind.grant_name()
            ),
            None => format!("{} \"{name}\"", self.kind.grant_name()),
        }
    }
}

enum Route {
    /// `/api/v1`, `/apis/{group}/{version}`
    ResourceList {
        group: String,
        version: String,
    },
    /// `/apis/{group}`
    Group(String),
    Resource(Target),
}

fn parse_path(state: &State, path: &str) -> Result<Route, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (group, version, rest) = match segments.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group] => return Ok(Route::Group(group.to_string())),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return Err(ApiError::no_such_path()),
    };
    if rest.is_empty() {
        return Ok(Route::ResourceList {
            group: group.to_string(),
            version: version.to_string(),
        });
    }
    // `namespaces/{ns}/{plural}/…` names namespaced resources, except the
    // namespace's own subresources (`namespaces/{ns}/status`).
    let namespace_subresource =
        group.is_empty() && rest.len() == 3 && matches!(rest[2], "status" | "finalize");
    let (namespace, rest) = if rest.len() >= 3 && rest[0] == "namespaces" && !namespace_subresource
    {
        (Some(rest[1].to_string()), &rest[2..])
    } else {
        (None, rest)
    };
    let (plural, tail) = rest.split_first().ok_or_else(ApiError::no_such_path)?;
    if tail.len() > 2 || tail.iter().any(|s| s.is_empty()) {
        return Err(ApiError::no_such_path());
    }
    let kind = state
        .snapshot
        .table()
        .kinds()
        .iter()
        .find(|k| k.group == group && k.version == version && k.plural == *plural)
        .cloned()
        .ok_or_else(ApiError::no_such_path)?;
    let name = tail.first().map(|s| s.to_string());
    if namespace.is_some() && !kind.namespaced {
        return Err(ApiError::no_such_path());
    }
    if name.is_some() && kind.namespaced && namespace.is_none() {
        return Err(ApiError::no_such_path());
    }
    Ok(Route::Resource(Target {
        kind,
        namespace,
        name,
        subresource: tail.get(1).map(|s| s.to_string()),
    }))
}

fn dispatch(
    state: &State,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let target = match parse_path(state, uri.path())? {
        Route::ResourceList { group, version } => {
            return discovery::resource_list(&state.served, &group, &version)
                .map(|list| json_response(StatusCode::OK, &list))
                .ok_or_else(ApiError::no_such_path);
        }
        Route::Group(group) => {
            return discovery::group(&state.served, &group)
                .map(|g| json_response(StatusCode::OK, &g))
                .ok_or_else(ApiError::no_such_path);
        }
        Route::Resource(target) => target,
    };
    let Query(params): Query<Params> = Query::try_from_uri(uri)
        .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?;
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let as_table = table::wants_table(accept);

    let name = target.name.clone();
    match (method, name.as_deref(), target.subresource.as_deref()) {
        (&Method::GET, None, _) => {
            if is_true(params.get("watch")) {
                return watch::start(state, &target.kind, target.ns(), &params, as_table);
            }
            list(state, &target, &params, as_table)
        }
        (&Method::GET, Some(name), None | Some("status")) => {
            get(state, &target, name, &params, as_table)
        }
        (&Method::GET, Some(pod), Some("log"))
            if target.kind.group.is_empty() && target.kind.kind == "Pod" =>
        {
            logs(state, &target, pod, &params)
        }
        (&Method::GET, Some(name), Some("scale")) if discovery::has_scale(&target.kind) => {
            get_scale(state, &target, name)
        }
        (&Method::PATCH | &Method::PUT, Some(name), Some("scale"))
            if discovery::has_scale(&target.kind) =>
        {
            let dry_run = is_dry_run(&params)?;
            write_gate(state, "scale", &target, dry_run)?;
            write_scale(state, &target, name, method, headers, body, dry_run)
        }
        (&Method::GET, Some(_), Some(_)) => Err(ApiError::no_such_path()),
        (&Method::PATCH, Some(name), None) => {
            let dry_run = is_dry_run(&params)?;
            write_gate(state, "patch", &target, dry_run)?;
            patch(state, &target, name, headers, body, dry_run)
        }
        (&Method::PUT, Some(name), None) => {
            let dry_run = is_dry_run(&params)?;
            write_gate(state, "update", &target, dry_run)?;
            replace(state, &target, name, body, dry_run)
        }
        (&Method::DELETE, Some(name), None) => {
            let dry_run = is_dry_run(&params)?;
            write_gate(state, "delete", &target, dry_run)?;
            delete(state, &target, name, body, dry_run)
        }
        (&Method::POST, None, _) => Err(ApiError::method_not_allowed(format!(
            "creating {} is not supported by guardian snapshot serve: a snapshot holds what \
             was captured; patch, replace or delete existing objects instead",
            target.kind.grant_name()
        ))
        .about(&target.kind, None)),
        (&Method::DELETE, None, _) => Err(ApiError::method_not_allowed(format!(
            "deleting a collection of {} is not supported by guardian snapshot serve; delete \
             objects one by one",
            target.kind.grant_name()
        ))
        .about(&target.kind, None)),
        (&Method::PATCH | &Method::PUT | &Method::POST, Some(_), Some(sub)) => {
            Err(ApiError::method_not_allowed(format!(
                "writing the {sub} subresource of {} is not supported by guardian snapshot \
                 serve; patch the object itself",
                target.describe()
            ))
            .about(&target.kind, name.as_deref()))
        }
        _ => Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({method} {})",
            uri.path()
        ))),
    }
}

fn is_true(value: Option<&String>) -> bool {
    matches!(value.map(String::as_str), Some("true" | "1"))
}

/// `?dryRun=All` (the only value the API server accepts).
fn is_dry_run(params: &Params) -> Result<bool, ApiError> {
    match params.get("dryRun").map(String::as_str) {
        None | Some("") => Ok(false),
        Some("All") => Ok(true),
        Some(other) => Err(ApiError::bad_request(format!(
            "dryRun: Unsupported value: \"{other}\": supported values: \"All\""
        ))),
    }
}

/// Writes that are not dry runs need `--writable`.
fn write_gate(state: &State, verb: &str, target: &Target, dry_run: bool) -> Result<(), ApiError> {
    if dry_run || state.writable {
        return Ok(());
    }
    Err(ApiError::method_not_allowed(format!(
        "the snapshot served by guardian is read-only: the {verb} of {} was not applied; \
         dry-run it (?dryRun=All, kubectl --dry-run=server), or restart `guardian snapshot \
         serve` with --writable to apply writes to the snapshot in memory",
        target.describe()
    ))
    .about(&target.kind, target.name.as_deref()))
}

fn redacted(object: &Value) -> Value {
    let mut object = object.clone();
    redact::object(&mut object);
    object
}

fn get(
    state: &State,
    target: &Target,
    name: &str,
    params: &Params,
    as_table: bool,
) -> Result<Response, ApiError> {
    let object = match state.snapshot.get_object(&target.kind, target.ns(), name) {
        Ok(object) => object,
        Err(BrokerError::NotFound(_)) => is_namespace_kind(&target.kind)
            .then(|| implied_namespace(state, name))
            .flatten()
            .ok_or_else(|| ApiError::object_not_found(&target.kind, name))?,
        Err(other) => return Err(ApiError::from_read(other)),
    };
    let object = Arc::new(redacted(&object));
    if as_table {
        let include = IncludeObject::parse(params.get("includeObject").map(String::as_str));
        let table = table::table(
            &target.kind,
            &[object],
            include,
            json!({"resourceVersion": ""}),
            Utc::now(),
        );
        return Ok(table_response(&table));
    }
    Ok(json_response(StatusCode::OK, &object))
}

fn table_response(table: &Value) -> Response {
    let mut response = json_response(StatusCode::OK, table);
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;as=Table;v=v1;g=meta.k8s.io"),
    );
    response
}

fn is_namespace_kind(kind: &ResourceKind) -> bool {
    kind.group.is_empty() && kind.kind == "Namespace"
}

/// A Namespace object for a namespace the snapshot knows of only through
/// the objects in it (a cluster-info dump holds no Namespace objects), so
/// that `kubectl get ns` lists it and kubectl's existence checks pass.
fn implied_namespace(state: &State, name: &str) -> Option<Arc<Value>> {
    if !state.snapshot.namespaces().iter().any(|n| n == name) {
        return None;
    }
    Some(Arc::new(json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/metadata.name": name},
        },
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    })))
}

fn add_implied_namespaces(
    state: &State,
    list: &mut SharedList,
    query: &ListQuery,
) -> Result<(), ApiError> {
    let labels = query
        .label_selector
        .as_deref()
        .map(LabelSelector::parse)
        .transpose()
        .map_err(ApiError::from_read)?;
    let fields = query
        .field_selector
        .as_deref()
        .map(FieldSelector::parse)
        .transpose()
        .map_err(ApiError::from_read)?;
    let name_of = |o: &Value| {
        o.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    for name in state.snapshot.namespaces() {
        if list.items.iter().any(|o| name_of(&o.to_value()) == name) {
            continue;
        }
        let Some(namespace) = implied_namespace(state, &name) else {
            continue;
        };
        if labels.as_ref().is_none_or(|s| s.matches(&namespace))
            && fields.as_ref().is_none_or(|s| s.matches(&namespace))
        {
            list.items.push(SharedItem::Tree(namespace));
        }
    }
    list.items.sort_by_key(|o| name_of(&o.to_value()));
    Ok(())
}

/// The continue token of a page that starts at `offset`.
fn continue_token(offset: usize) -> String {
    format!("offset-{offset}")
}

fn list(
    state: &State,
    target: &Target,
    params: &Params,
    as_table: bool,
) -> Result<Response, ApiError> {
    let non_empty = |key: &str| params.get(key).filter(|v| !v.is_empty()).cloned();
    let query = ListQuery {
        namespace: target.namespace.clone(),
        label_selector: non_empty("labelSelector"),
        field_selector: non_empty("fieldSelector"),
        // Paging is done here, so that a cut list can carry a continue token.
        limit: None,
    };
    let mut list: SharedList = state
        .snapshot
        .list_objects_shared(&target.kind, &query)
        .map_err(ApiError::from_read)?;
    if is_namespace_kind(&target.kind) {
        add_implied_namespaces(state, &mut list, &query)?;
    }
    let limit = match non_empty("limit") {
        None => usize::MAX,
        Some(l) => match l.parse::<usize>() {
            Ok(0) => usize::MAX,
            Ok(l) => l,
            Err(_) => {
                return Err(ApiError::bad_request(format!(
                    "limit: Invalid value: \"{l}\": must be a non-negative integer"
                )));
            }
        },
    };
    let offset = match non_empty("continue") {
        None => 0,
        Some(token) => token
            .strip_prefix("offset-")
            .and_then(|o| o.parse::<usize>().ok())
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "continue key is not valid: \"{token}\"; list again from the start"
                ))
            })?,
    };
    let total = list.items.len();
    let mut items: Vec<SharedItem> = list.items.drain(..).skip(offset).take(limit).collect();
    let next = offset.saturating_add(items.len());
    if next < total {
        list.metadata["continue"] = json!(continue_token(next));
        list.metadata["remainingItemCount"] = json!(total - next);
    }
    // Secrets are copied to be redacted; every other item stays shared.
    for item in &mut items {
        redact::shared_item(item, &list.kind);
    }
    if as_table {
        let include = IncludeObject::parse(params.get("includeObject").map(String::as_str));
        let trees: Vec<Arc<Value>> = items.into_iter().map(SharedItem::into_tree).collect();
        let table = table::table(&target.kind, &trees, include, list.metadata, Utc::now());
        return Ok(table_response(&table));
    }
    list.items = items;
    let body = serde_json::to_vec(&list)
        .map_err(|e| ApiError::from_read(BrokerError::Internal(e.to_string())))?;
    Ok(json_bytes(StatusCode::OK, body))
}

fn logs(state: &State, target: &Target, pod: &str, params: &Params) -> Result<Response, ApiError> {
    let namespace = target.ns().unwrap_or_default();
    let tail_lines = match params.get("tailLines").filter(|v| !v.is_empty()) {
        None => None,
        Some(t) => Some(t.parse::<i64>().map_err(|_| {
            ApiError::bad_request(format!(
                "tailLines: Invalid value: \"{t}\": must be an integer"
            ))
        })?),
    };
    let query = LogQuery {
        container: params.get("container").filter(|c| !c.is_empty()).cloned(),
        // A negative tail means "everything", as in kubectl.
        tail_lines: tail_lines.and_then(|t| u32::try_from(t).ok()),
        previous: is_true(params.get("previous")),
    };
    let text = state
        .snapshot
        .pod_logs(namespace, pod, &query)
        .map_err(|e| match e {
            BrokerError::NotFound(m) if m.starts_with("pods \"") => {
                ApiError::object_not_found(&target.kind, pod)
            }
            // The API server answers a missing previous container with 400.
            BrokerError::NotFound(m) => ApiError::bad_request(m),
            other => ApiError::from_read(other),
        })?;
    let text = match params
        .get("limitBytes")
        .and_then(|l| l.parse::<usize>().ok())
    {
        Some(limit) if limit < text.len() => {
            let mut cut = limit;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            text[..cut].to_string()
        }
        _ => text,
    };
    let mut response = (StatusCode::OK, text).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    Ok(response)
}

/// The `autoscaling/v1` `Scale` of a workload.
fn scale_of(object: &Value) -> Value {
    let mut metadata = serde_json::Map::new();
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = object.pointer(&format!("/metadata/{field}")) {
            metadata.insert(field.into(), v.clone());
        }
    }
    let selector = object
        .pointer("/spec/selector/matchLabels")
        .or_else(|| object.pointer("/spec/selector"))
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| format!("{k}={v}")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": object.pointer("/spec/replicas").cloned().unwrap_or(json!(1))},
        "status": {
            "replicas": object.pointer("/status/replicas").cloned().unwrap_or(json!(0)),
            "selector": selector,
        },
    })
}

fn get_scale(state: &State, target: &Target, name: &str) -> Result<Response, ApiError> {
    let object = state
        .snapshot
        .get_object(&target.kind, target.ns(), name)
        .map_err(|e| write_error(e, target, name, "scale"))?;
    Ok(json_response(StatusCode::OK, &scale_of(&object)))
}

/// PATCH or PUT of `…/scale`: the new Scale's `spec.replicas` (and its
/// `metadata.resourceVersion`, as a precondition) become a merge patch of
/// the workload.
fn write_scale(
    state: &State,
    target: &Target,
    name: &str,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
    dry_run: bool,
) -> Result<Response, ApiError> {
    let current = state
        .snapshot
        .get_object(&target.kind, target.ns(), name)
        .map_err(|e| write_error(e, target, name, "scale"))?;
    let request = parse_body(body, "the Scale")?;
    let scale = if method == Method::PUT {
        request
    } else {
        let mut scale = scale_of(&current);
        match content_type(headers).as_str() {
            "application/json-patch+json" => {
                let operations: json_patch::Patch = serde_json::from_value(request)
                    .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
                json_patch::patch(&mut scale, &operations).map_err(|e| {
                    ApiError::from_write(BrokerError::Invalid(e.to_string()), "patch")
                        .about(&target.kind, Some(name))
                })?;
            }
            "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
                json_patch::merge(&mut scale, &request);
            }
            other => {
                return Err(ApiError::unsupported_media_type(format!(
                    "the body of the request was in an unknown format \"{other}\" - accepted \
                     media types include: application/json-patch+json, \
                     application/merge-patch+json, application/strategic-merge-patch+json"
                )));
            }
        }
        scale
    };
    let Some(replicas) = scale.pointer("/spec/replicas").and_then(Value::as_i64) else {
        return Err(ApiError::from_write(
            BrokerError::Invalid("spec.replicas: Required value".into()),
            "spec.replicas",
        )
        .about(&target.kind, Some(name)));
    };
    if replicas < 0 {
        return Err(ApiError::from_write(
            BrokerError::Invalid(format!(
                "spec.replicas: Invalid value: {replicas}: must be greater than or equal to 0"
            )),
            "spec.replicas",
        )
        .about(&target.kind, Some(name)));
    }
    let mut patch = json!({"spec": {"replicas": replicas}});
    if let Some(rv) = scale
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
        .filter(|rv| !rv.is_empty())
    {
        patch["metadata"] = json!({"resourceVersion": rv});
    }
    let scaled = state
        .snapshot
        .patch_object(
            &target.kind,
            target.ns(),
            name,
            &PatchKind::Merge(patch),
            dry_run,
        )
        .map_err(|e| write_error(e, target, name, "scale"))?;
    if !dry_run {
        tracing::info!(object = %target.describe(), replicas, "scaled in memory");
        publish(state, target, "MODIFIED", &scaled);
    }
    Ok(json_response(StatusCode::OK, &scale_of(&scaled)))
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Tell the open watches about a write. No watch open is not an error.
fn publish(state: &State, target: &Target, event: &'static str, object: &Value) {
    let _ = state.changes.send(Change::new(
        &target.kind,
        target.ns(),
        event,
        object.clone(),
    ));
}

/// A broker error on a write, worded and detailed as the API server does.
fn write_error(error: BrokerError, target: &Target, name: &str, field: &str) -> ApiError {
    match error {
        BrokerError::NotFound(_) => ApiError::object_not_found(&target.kind, name),
        other => ApiError::from_write(other, field).about(&target.kind, Some(name)),
    }
}

fn parse_body(body: &[u8], what: &str) -> Result<Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding {what}: {e}")))
}

fn patch(
    state: &State,
    target: &Target,
    name: &str,
    headers: &HeaderMap,
    body: &[u8],
    dry_run: bool,
) -> Result<Response, ApiError> {
    let content_type = content_type(headers);
    let kind_of_patch: fn(Value) -> PatchKind = match content_type.as_str() {
        "application/json-patch+json" => PatchKind::Json,
        "application/merge-patch+json" => PatchKind::Merge,
        "application/strategic-merge-patch+json" => PatchKind::StrategicMerge,
        "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
            return Err(ApiError::unsupported_media_type(
                "server-side apply is not supported by guardian snapshot serve; use kubectl \
                 patch --type=merge or --type=json, or kubectl apply without --server-side",
            ));
        }
        other => {
            return Err(ApiError::unsupported_media_type(format!(
                "the body of the request was in an unknown format \"{other}\" - accepted media \
                 types include: application/json-patch+json, application/merge-patch+json, \
                 application/strategic-merge-patch+json"
            )));
        }
    };
    let patch = kind_of_patch(parse_body(body, "patch")?);
    if let Some(reason) = patch.unsupported(&state.snapshot, &target.kind) {
        return Err(ApiError::unsupported_media_type(reason));
    }
    let patched = state
        .snapshot
        .patch_object(&target.kind, target.ns(), name, &patch, dry_run)
        .map_err(|e| write_error(e, target, name, "patch"))?;
    if !dry_run {
        tracing::info!(object = %target.describe(), "patched in memory");
        publish(state, target, "MODIFIED", &patched);
    }
    Ok(json_response(StatusCode::OK, &redacted(&patched)))
}

fn replace(
    state: &State,
    target: &Target,
    name: &str,
    body: &[u8],
    dry_run: bool,
) -> Result<Response, ApiError> {
    let object = parse_body(body, "the object")?;
    let replaced = state
        .snapshot
        .replace_object(&target.kind, target.ns(), name, object, dry_run)
        .map_err(|e| write_error(e, target, name, "object"))?;
    if !dry_run {
        tracing::info!(object = %target.describe(), "replaced in memory");
        publish(state, target, "MODIFIED", &replaced);
    }
    Ok(json_response(StatusCode::OK, &redacted(&replaced)))
}

fn delete(
    state: &State,
    target: &Target,
    name: &str,
    body: &[u8],
    dry_run: bool,
) -> Result<Response, ApiError> {
    // An optional DeleteOptions body; its preconditions are honoured.
    let options = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        parse_body(body, "DeleteOptions")?
    };
    let precondition = |field: &str| {
        options
            .pointer(&format!("/preconditions/{field}"))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let preconditions = Preconditions {
        uid: precondition("uid"),
        resource_version: precondition("resourceVersion"),
    };
    let mut deleted = state
        .snapshot
        .delete_object(&target.kind, target.ns(), name, &preconditions, dry_run)
        .map_err(|e| write_error(e, target, name, "preconditions"))?;
    if !dry_run {
        tracing::info!(object = %target.describe(), "deleted in memory");
        // A DELETED event carries the version of the delete itself.
        deleted["metadata"]["resourceVersion"] =
            json!(state.snapshot.resource_version().to_string());
        publish(state, target, "DELETED", &deleted);
    }
    let mut details = json!({"name": name, "kind": target.kind.plural});
    if !target.kind.group.is_empty() {
        details["group"] = json!(target.kind.group);
    }
    if let Some(uid) = deleted.pointer("/metadata/uid") {
        details["uid"] = uid.clone();
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Success",
            "details": details,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use guardian_snapshot::Snapshot;
    use tower::ServiceExt;

    use crate::{ApiServer, Options};

    use super::*;

    fn server(writable: bool) -> ApiServer {
        let values = vec![
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {
                "name": "web-1", "namespace": "shop", "resourceVersion": "10", "uid": "u1",
                "labels": {"app": "web"}, "creationTimestamp": "2020-01-01T00:00:00Z"},
                "spec": {"containers": [{"name": "web", "image": "web:1"}]},
                "status": {"phase": "Running"}}),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {
                "name": "db-1", "namespace": "shop", "resourceVersion": "11", "uid": "u2",
                "labels": {"app": "db"}},
                "spec": {"containers": [{"name": "db", "image": "db:1"}]},
                "status": {"phase": "Pending"}}),
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {
                "name": "web", "namespace": "shop", "resourceVersion": "12", "uid": "u3",
                "generation": 4},
                "spec": {"replicas": 2, "template": {"spec": {"containers": [
                    {"name": "web", "image": "web:1"}]}}},
                "status": {"replicas": 2}}),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {
                "name": "creds", "namespace": "shop", "resourceVersion": "13"},
                "data": {"password": "aHVudGVyMg=="}}),
        ];
        let (snapshot, problems) = Snapshot::from_values("test", values).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        ApiServer::new(snapshot, Options { writable })
    }

    async fn call(
        server: &ApiServer,
        method: &str,
        uri: &str,
        content_type: Option<&str>,
        body: &str,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(ct) = content_type {
            request = request.header(header::CONTENT_TYPE, ct);
        }
        let response = server
            .router()
            .oneshot(request.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let bytes = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()));
        (status, value)
    }

    /// A watch body: one event per line (a single line parses as one value).
    fn watch_events(body: Value) -> Vec<Value> {
        match body {
            Value::String(lines) => lines
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
            one => vec![one],
        }
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn get_list_and_errors() {
        block_on(async {
            let s = server(false);
            let (code, list) = call(
                &s,
                "GET",
                "/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb",
                None,
                "",
            )
            .await;
            assert_eq!(code, StatusCode::OK);
            assert_eq!(list["kind"], "PodList");
            assert_eq!(list["items"].as_array().unwrap().len(), 1);

            let (_, page) = call(&s, "GET", "/api/v1/pods?limit=1", None, "").await;
            assert_eq!(page["metadata"]["remainingItemCount"], 1);
            let token = page["metadata"]["continue"].as_str().unwrap().to_string();
            let (_, rest) = call(
                &s,
                "GET",
                &format!("/api/v1/pods?limit=1&continue={token}"),
                None,
                "",
            )
            .await;
            assert_eq!(rest["items"][0]["metadata"]["name"], "web-1");
            assert!(rest["metadata"].get("continue").is_none());

            let (code, status) =
                call(&s, "GET", "/api/v1/namespaces/shop/pods/nope", None, "").await;
            assert_eq!(code, StatusCode::NOT_FOUND);
            assert_eq!(status["message"], "pods \"nope\" not found");
            assert_eq!(status["details"], json!({"name": "nope", "kind": "pods"}));

            let (code, _) = call(&s, "GET", "/apis/apps/v1beta1/deployments", None, "").await;
            assert_eq!(code, StatusCode::NOT_FOUND);

            let (_, secret) =
                call(&s, "GET", "/api/v1/namespaces/shop/secrets/creds", None, "").await;
            let value = secret["data"]["password"].as_str().unwrap();
            assert!(value.starts_with("<redacted"), "{value}");
            let (_, secrets) = call(&s, "GET", "/api/v1/secrets", None, "").await;
            assert!(
                secrets["items"][0]["data"]["password"]
                    .as_str()
                    .unwrap()
                    .starts_with("<redacted")
            );
        });
    }

    #[test]
    fn writes_are_refused_unless_dry_run_or_writable() {
        block_on(async {
            let s = server(false);
            let uri = "/apis/apps/v1/namespaces/shop/deployments/web";
            let patch = r#"[{"op":"replace","path":"/spec/replicas","value":5}]"#;
            let (code, status) =
                call(&s, "PATCH", uri, Some("application/json-patch+json"), patch).await;
            assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED);
            assert_eq!(status["reason"], "MethodNotAllowed");
            assert!(
                status["message"].as_str().unwrap().contains("--writable"),
                "{status}"
            );

            let (code, patched) = call(
                &s,
                "PATCH",
                &format!("{uri}?dryRun=All"),
                Some("application/json-patch+json"),
                patch,
            )
            .await;
            assert_eq!(code, StatusCode::OK, "{patched}");
            assert_eq!(patched["spec"]["replicas"], 5);
            let (_, stored) = call(&s, "GET", uri, None, "").await;
            assert_eq!(stored["spec"]["replicas"], 2);

            let failing = r#"[{"op":"test","path":"/spec/replicas","value":9}]"#;
            let (code, status) = call(
                &s,
                "PATCH",
                &format!("{uri}?dryRun=All"),
                Some("application/json-patch+json"),
                failing,
            )
            .await;
            assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{status}");
            assert_eq!(status["reason"], "Invalid");

            let (code, _) = call(&s, "DELETE", uri, None, "").await;
            assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED);
        });
    }

    #[test]
    fn writable_patches_bump_versions_and_honour_preconditions() {
        block_on(async {
            let s = server(true);
            let uri = "/apis/apps/v1/namespaces/shop/deployments/web";
            let smp =
                r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"web:2"}]}}}}"#;
            let (code, patched) = call(
                &s,
                "PATCH",
                uri,
                Some("application/strategic-merge-patch+json"),
                smp,
            )
            .await;
            assert_eq!(code, StatusCode::OK, "{patched}");
            assert_eq!(
                patched["spec"]["template"]["spec"]["containers"][0]["image"],
                "web:2"
            );
            assert_eq!(patched["metadata"]["resourceVersion"], "14");
            assert_eq!(patched["metadata"]["generation"], 5);
            assert_eq!(patched["status"], json!({"replicas": 2}));

            let stale = r#"{"metadata":{"resourceVersion":"12"},"spec":{"replicas":1}}"#;
            let (code, status) = call(
                &s,
                "PATCH",
                uri,
                Some("application/merge-patch+json"),
                stale,
            )
            .await;
            assert_eq!(code, StatusCode::CONFLICT, "{status}");
            assert_eq!(status["reason"], "Conflict");
            assert!(
                status["message"]
                    .as_str()
                    .unwrap()
                    .contains("the object has been modified")
            );

            let (code, replaced) = call(
                &s,
                "PUT",
                uri,
                None,
                r#"{"metadata":{"resourceVersion":"14"},"spec":{"replicas":7}}"#,
            )
            .await;
            assert_eq!(code, StatusCode::OK, "{replaced}");
            assert_eq!(replaced["metadata"]["resourceVersion"], "15");
            assert_eq!(replaced["metadata"]["uid"], "u3");

            let (code, scale) = call(
                &s,
                "PATCH",
                &format!("{uri}/scale"),
                Some("application/merge-patch+json"),
                r#"{"spec":{"replicas":4}}"#,
            )
            .await;
            assert_eq!(code, StatusCode::OK, "{scale}");
            assert_eq!(scale["kind"], "Scale");
            assert_eq!(scale["spec"]["replicas"], 4);
            let (_, scale) = call(&s, "GET", &format!("{uri}/scale"), None, "").await;
            assert_eq!(scale["spec"]["replicas"], 4);
            assert_eq!(scale["metadata"]["resourceVersion"], "16");

            let (code, status) = call(
                &s,
                "DELETE",
                "/api/v1/namespaces/shop/pods/db-1",
                None,
                r#"{"preconditions":{"resourceVersion":"1"}}"#,
            )
            .await;
            assert_eq!(code, StatusCode::CONFLICT, "{status}");
            let (code, status) =
                call(&s, "DELETE", "/api/v1/namespaces/shop/pods/db-1", None, "").await;
            assert_eq!(code, StatusCode::OK, "{status}");
            assert_eq!(status["status"], "Success");
            let (code, _) = call(&s, "GET", "/api/v1/namespaces/shop/pods/db-1", None, "").await;
            assert_eq!(code, StatusCode::NOT_FOUND);
        });
    }

    #[test]
    fn watches_send_the_current_objects_then_the_writes() {
        block_on(async {
            let s = server(true);
            let (code, body) = call(
                &s,
                "GET",
                "/api/v1/namespaces/shop/pods?watch=1&timeoutSeconds=1",
                None,
                "",
            )
            .await;
            assert_eq!(code, StatusCode::OK);
            let events = watch_events(body);
            assert_eq!(events.len(), 2, "{events:?}");
            assert!(events.iter().all(|e| e["type"] == "ADDED"));

            // A streaming list ends its initial events with a bookmark.
            let (_, body) = call(&s, "GET",
                "/api/v1/namespaces/shop/pods?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1",
                None, "").await;
            let events = watch_events(body);
            assert_eq!(events.len(), 3, "{events:?}");
            assert_eq!(events[2]["type"], "BOOKMARK");
            assert_eq!(
                events[2]["object"]["metadata"]["annotations"]["k8s.io/initial-events-end"],
                "true"
            );

            // Resuming from the current version: only what is written next.
            let watch = call(
                &s,
                "GET",
                "/apis/apps/v1/namespaces/shop/deployments?watch=true&resourceVersion=13&timeoutSeconds=2",
                None,
                "",
            );
            let write = async {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                call(
                    &s,
                    "PATCH",
                    "/apis/apps/v1/namespaces/shop/deployments/web",
                    Some("application/merge-patch+json"),
                    r#"{"spec":{"replicas":3}}"#,
                )
                .await
            };
            let ((code, body), (patched, _)) = tokio::join!(watch, write);
            assert_eq!((code, patched), (StatusCode::OK, StatusCode::OK));
            let events = watch_events(body);
            assert_eq!(events.len(), 1, "{events:?}");
            assert_eq!(events[0]["type"], "MODIFIED");
            assert_eq!(events[0]["object"]["spec"]["replicas"], 3);
        });
    }
}
