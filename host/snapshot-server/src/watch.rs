//! `?watch=true`: a stream of `{"type": …, "object": …}` events, one JSON
//! document per line, as client-go's watch decoder reads them.
//!
//! A snapshot only changes when a writable server applies a write, so a
//! watch is: the current objects as `ADDED` (when the client does not resume
//! from a resourceVersion), then each write as `MODIFIED` or `DELETED`, until
//! `timeoutSeconds` passes or the server stops. A watcher that falls too far
//! behind is cut off, and re-lists, as with the API server.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use guardian_kube_types::selectors::{FieldSelector, LabelSelector};
use guardian_kube_types::{ListQuery, ResourceKind, SharedItem};
use guardian_redact as redact;
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};

use crate::State;
use crate::status::ApiError;
use crate::table::{self, IncludeObject};

/// How long a watch lasts when the client does not say (the API server
/// picks between 30 and 60 minutes).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// One write, as the watches see it.
#[derive(Clone, Debug)]
pub(crate) struct Change {
    pub group: String,
    pub kind: String,
    /// `""` for cluster-scoped objects.
    pub namespace: String,
    /// `MODIFIED` or `DELETED`.
    pub event: &'static str,
    pub object: Arc<Value>,
}

impl Change {
    pub fn new(
        kind: &ResourceKind,
        namespace: Option<&str>,
        event: &'static str,
        object: Value,
    ) -> Self {
        Self {
            group: kind.group.clone(),
            kind: kind.kind.clone(),
            namespace: namespace.unwrap_or_default().to_string(),
            event,
            object: Arc::new(object),
        }
    }
}

/// What one watch asked for.
struct Filter {
    kind: ResourceKind,
    namespace: Option<String>,
    labels: Option<LabelSelector>,
    fields: Option<FieldSelector>,
    /// Events carry one-row Tables (kubectl get -w) instead of objects.
    table: Option<IncludeObject>,
}

impl Filter {
    fn matches(&self, change: &Change) -> bool {
        change.group == self.kind.group
            && change.kind == self.kind.kind
            && self
                .namespace
                .as_deref()
                .is_none_or(|ns| !self.kind.namespaced || ns == change.namespace)
            && self
                .labels
                .as_ref()
                .is_none_or(|s| s.matches(&change.object))
            && self
                .fields
                .as_ref()
                .is_none_or(|s| s.matches(&change.object))
    }

    fn event(&self, event: &str, object: &Value) -> Bytes {
        let mut object = object.clone();
        redact::object(&mut object);
        let object = match self.table {
            None => object,
            Some(include) => {
                let rv = object
                    .pointer("/metadata/resourceVersion")
                    .cloned()
                    .unwrap_or(json!(""));
                table::table(
                    &self.kind,
                    &[Arc::new(object)],
                    include,
                    json!({"resourceVersion": rv}),
                    Utc::now(),
                )
            }
        };
        let mut line =
            serde_json::to_vec(&json!({"type": event, "object": object})).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    }
}

struct Stream {
    filter: Filter,
    initial: VecDeque<Arc<Value>>,
    /// The `BOOKMARK` that ends the initial events of a streaming list
    /// (`sendInitialEvents=true`), sent after them.
    end_of_initial: Option<Bytes>,
    changes: broadcast::Receiver<Change>,
    stopping: watch::Receiver<bool>,
    deadline: tokio::time::Instant,
}

impl Stream {
    async fn next(mut self) -> Option<(Result<Bytes, std::convert::Infallible>, Self)> {
        if let Some(object) = self.initial.pop_front() {
            let bytes = self.filter.event("ADDED", &object);
            return Some((Ok(bytes), self));
        }
        if let Some(bookmark) = self.end_of_initial.take() {
            return Some((Ok(bookmark), self));
        }
        loop {
            let received = tokio::select! {
                () = tokio::time::sleep_until(self.deadline) => return None,
                _ = self.stopping.wait_for(|stopping| *stopping) => return None,
                change = self.changes.recv() => change,
            };
            match received {
                Ok(change) if self.filter.matches(&change) => {
                    let bytes = self.filter.event(change.event, &change.object);
                    return Some((Ok(bytes), self));
                }
                Ok(_) => {}
                // Too far behind (or the server is going away): end the
                // watch; the client re-lists.
                Err(_) => return None,
            }
        }
    }
}

fn is_true(value: Option<&String>) -> bool {
    matches!(value.map(String::as_str), Some("true" | "1"))
}

/// Start a watch on the collection `kind` (in `namespace`, if given).
pub(crate) fn start(
    state: &State,
    kind: &ResourceKind,
    namespace: Option<&str>,
    params: &std::collections::HashMap<String, String>,
    as_table: bool,
) -> Result<Response, ApiError> {
    let non_empty = |key: &str| params.get(key).filter(|v| !v.is_empty()).cloned();
    let labels = non_empty("labelSelector")
        .as_deref()
        .map(LabelSelector::parse)
        .transpose()
        .map_err(ApiError::from_read)?;
    let fields = non_empty("fieldSelector")
        .as_deref()
        .map(FieldSelector::parse)
        .transpose()
        .map_err(ApiError::from_read)?;
    let timeout = match non_empty("timeoutSeconds") {
        None => DEFAULT_TIMEOUT,
        Some(t) => Duration::from_secs(t.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "timeoutSeconds: Invalid value: \"{t}\": must be a non-negative integer"
            ))
        })?),
    };
    // Subscribe before reading the current objects, so that no write falls
    // between the two.
    let changes = state.changes.subscribe();
    let resume = non_empty("resourceVersion").filter(|rv| rv != "0");
    let send_initial = match non_empty("sendInitialEvents").as_deref() {
        Some("true") => true,
        Some(_) => false,
        None => resume.is_none(),
    };
    let initial: VecDeque<Arc<Value>> = if send_initial {
        let query = ListQuery {
            namespace: namespace.map(str::to_string),
            label_selector: non_empty("labelSelector"),
            field_selector: non_empty("fieldSelector"),
            limit: None,
        };
        state
            .snapshot
            .list_objects_shared(kind, &query)
            .map_err(ApiError::from_read)?
            .items
            .into_iter()
            .map(SharedItem::into_tree)
            .collect()
    } else {
        VecDeque::new()
    };
    // Streaming lists (client-go's WatchList, kube's `streaming_lists`) wait
    // for this bookmark to know the initial state is complete.
    let end_of_initial = (non_empty("sendInitialEvents").as_deref() == Some("true")
        && is_true(params.get("allowWatchBookmarks")))
    .then(|| {
        let bookmark = json!({
            "type": "BOOKMARK",
            "object": {
                "kind": kind.kind,
                "apiVersion": kind.api_version(),
                "metadata": {
                    "resourceVersion": state.snapshot.resource_version().to_string(),
                    "annotations": {"k8s.io/initial-events-end": "true"},
                },
            },
        });
        let mut line = serde_json::to_vec(&bookmark).unwrap_or_default();
        line.push(b'\n');
        Bytes::from(line)
    });
    let stream = Stream {
        filter: Filter {
            kind: kind.clone(),
            namespace: namespace.map(str::to_string),
            labels,
            fields,
            table: as_table
                .then(|| IncludeObject::parse(params.get("includeObject").map(String::as_str))),
        },
        initial,
        end_of_initial,
        changes,
        stopping: state.stopping.subscribe(),
        deadline: tokio::time::Instant::now() + timeout,
    };
    let body = Body::from_stream(futures_util::stream::unfold(stream, Stream::next));
    let mut response = (StatusCode::OK, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}
