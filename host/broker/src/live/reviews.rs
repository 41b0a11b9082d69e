//! What the host asks the server about itself and its callers: the
//! server's version, SelfSubjectAccessReview (may the identity in use do
//! this?) and TokenReview (whose is this token?). Policy sees the reviews as
//! verb `review`: a question that stores nothing.

use guardian_policy::Permit;
use serde_json::{Map, Value, json};

use super::LiveBackend;
use super::errors::Op;
use super::rbac::Permission;
use super::request::{build_error, check_permit};
use crate::{BrokerError, ResourceKind};

impl LiveBackend {
    /// The server's `gitVersion` (`v1.31.2`) and `platform` (`linux/amd64`).
    pub(crate) async fn server_version(
        &self,
        permit: &Permit,
    ) -> Result<ServerVersion, BrokerError> {
        check_permit(permit, &["get"], &version_document(), "")?;
        let op = Op {
            verb: "get",
            what: "/version".to_string(),
            ..Op::default()
        };
        let version = self.get_path("/version", &op).await?;
        let field = |f: &str| {
            version
                .get(f)
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string()
        };
        Ok(ServerVersion {
            git_version: field("gitVersion"),
            platform: field("platform"),
        })
    }

    /// Whether the identity in use (after impersonation) may do what
    /// `permission` names in `namespace` (`None`: all namespaces /
    /// cluster-scoped), by SelfSubjectAccessReview — what `kubectl auth
    /// can-i` asks.
    pub(crate) async fn access_review(
        &self,
        permit: &Permit,
        permission: &Permission,
        namespace: Option<&str>,
    ) -> Result<bool, BrokerError> {
        check_permit(permit, &["review"], &access_reviews(), "")?;
        let Permission {
            verb,
            group,
            resource,
            subresource,
        } = permission;
        let mut attributes = Map::new();
        attributes.insert("verb".into(), json!(verb));
        attributes.insert("group".into(), json!(group));
        attributes.insert("resource".into(), json!(resource));
        if let Some(sub) = subresource.as_deref().filter(|s| !s.is_empty()) {
            attributes.insert("subresource".into(), json!(sub));
        }
        if let Some(ns) = namespace.filter(|s| !s.is_empty()) {
            attributes.insert("namespace".into(), json!(ns));
        }
        let review = json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attributes},
        });
        let op = Op {
            verb: "create",
            group: "authorization.k8s.io".into(),
            resource: "selfsubjectaccessreviews".into(),
            what: format!(
                "selfsubjectaccessreviews.authorization.k8s.io (can-i {verb} {})",
                if group.is_empty() || group == "*" {
                    resource.to_string()
                } else {
                    format!("{resource}.{group}")
                }
            ),
            ..Op::default()
        };
        let answer = self
            .post_review(
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                &review,
                &op,
            )
            .await?;
        Ok(answer
            .pointer("/status/allowed")
            .and_then(Value::as_bool)
            .unwrap_or(false))
    }

    /// Creates a review object (SelfSubjectAccessReview, TokenReview) and
    /// returns what the API server answered, status included.
    async fn post_review(&self, path: &str, review: &Value, op: &Op) -> Result<Value, BrokerError> {
        let body = serde_json::to_vec(review)
            .map_err(|e| BrokerError::Internal(format!("serializing {}: {e}", op.what)))?;
        let request = http::Request::post(path)
            .header(http::header::ACCEPT, "application/json")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(body)
            .map_err(|e| build_error(&e, op))?;
        self.send_json(request, op).await
    }

    /// Who a bearer token belongs to, by TokenReview (how the API server
    /// authenticates it), or `None` when the API server does not accept it.
    /// Used by `guardian serve` to admit Kubernetes service-account tokens;
    /// the token is sent to this cluster only.
    pub(crate) async fn token_review(
        &self,
        permit: &Permit,
        token: &str,
        audiences: &[String],
    ) -> Result<Option<TokenUser>, BrokerError> {
        check_permit(permit, &["review"], &token_reviews(), "")?;
        let mut spec = Map::new();
        spec.insert("token".into(), json!(token));
        if !audiences.is_empty() {
            spec.insert("audiences".into(), json!(audiences));
        }
        let review = json!({
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": spec,
        });
        let op = Op {
            verb: "create",
            group: "authentication.k8s.io".into(),
            resource: "tokenreviews".into(),
            what: "tokenreviews.authentication.k8s.io".into(),
            ..Op::default()
        };
        let answer = self
            .post_review("/apis/authentication.k8s.io/v1/tokenreviews", &review, &op)
            .await?;
        if answer
            .pointer("/status/authenticated")
            .and_then(Value::as_bool)
            != Some(true)
        {
            return Ok(None);
        }
        let user = &answer["status"]["user"];
        let name = user["username"].as_str().unwrap_or_default().to_owned();
        if name.is_empty() {
            return Ok(None);
        }
        let groups = user["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g.as_str().map(str::to_owned))
            .collect();
        Ok(Some(TokenUser { name, groups }))
    }
}

/// What `/version` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerVersion {
    /// `v1.31.2`
    pub git_version: String,
    /// `linux/amd64`
    pub platform: String,
}

/// The user a TokenReview found a token to belong to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenUser {
    /// `system:serviceaccount:ci:deployer`
    pub name: String,
    pub groups: Vec<String>,
}

/// The API server's `/version` document as policy and the audit log name
/// it: `get` of resource `version`, with no group and no version (it is not
/// an API resource; the audit line says `/version`).
pub(crate) fn version_document() -> ResourceKind {
    host_kind("", "", "", "version")
}

/// SelfSubjectAccessReviews, which policy sees as verb `review`: a question
/// to the API server that stores nothing.
pub(crate) fn access_reviews() -> ResourceKind {
    host_kind(
        "authorization.k8s.io",
        "v1",
        "SelfSubjectAccessReview",
        "selfsubjectaccessreviews",
    )
}

/// TokenReviews, which policy sees as verb `review`.
pub(crate) fn token_reviews() -> ResourceKind {
    host_kind("authentication.k8s.io", "v1", "TokenReview", "tokenreviews")
}

fn host_kind(group: &str, version: &str, kind: &str, plural: &str) -> ResourceKind {
    ResourceKind {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        plural: plural.into(),
        singular: kind.to_ascii_lowercase(),
        short_names: Vec::new(),
        namespaced: false,
        verbs: Vec::new(),
    }
}
