//! What the host asks of a live API server for itself rather than for a
//! skill: the server's version (`doctor`, `snapshot capture`), access reviews
//! (`doctor`), token reviews (`serve`'s authentication) and a capture
//! (`snapshot capture`). Each is decided by policy and audited like a
//! skill's call; a broker over a snapshot refuses them before anything is
//! asked.

use std::path::Path;

use crate::gate::Request;
use crate::live::capture::{self, CaptureReport, CaptureScope};
use crate::live::rbac::Permission;
use crate::live::{self, LiveBackend, ServerVersion, TokenUser};
use crate::{Broker, BrokerError, CallContext};

/// The answer of [`Broker::access_review`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessReview {
    pub allowed: bool,
    /// Where it was asked: the namespace given, or `None` (cluster-wide) when
    /// none was given or the resource is cluster-scoped.
    pub namespace: Option<String>,
}

/// The grant a token review needs in policy.
const TOKEN_REVIEWS: &str = "tokenreviews.authentication.k8s.io";

impl Broker {
    /// The live cluster, or why `what` cannot be done on this broker.
    fn live_only(&self, what: &str) -> Result<&LiveBackend, BrokerError> {
        self.live.as_ref().ok_or_else(|| {
            BrokerError::Invalid(format!(
                "{what} needs a live cluster, and this broker reads {}; name one with \
                 --kubeconfig / --context",
                self.describe()
            ))
        })
    }

    /// The API server's version and platform. Policy sees a `get` of
    /// resource `version` (no group, no version); the audit line says
    /// `/version`.
    pub async fn server_version(&self, cx: &CallContext) -> Result<ServerVersion, BrokerError> {
        let live = self.live_only("the server's version")?;
        let version = live::version_document();
        self.call(
            cx,
            &Request::new("get", &version, None, ""),
            async |permit| live.server_version(permit).await,
            |_| {},
        )
        .await
    }

    /// Whether the identity in use (after impersonation) may do what
    /// `permission` names, by SelfSubjectAccessReview, as `kubectl auth
    /// can-i` asks it: in `namespace` when the resource is namespaced (by
    /// the server's discovery; a resource it does not serve counts as
    /// namespaced, since a Role can grant it), else cluster-wide. Policy
    /// sees verb `review` on `selfsubjectaccessreviews.authorization.k8s.io`
    /// in that namespace; the audit line's reasons say what was asked.
    pub async fn access_review(
        &self,
        cx: &CallContext,
        permission: &Permission,
        namespace: Option<&str>,
    ) -> Result<AccessReview, BrokerError> {
        let live = self.live_only("an access review")?;
        let namespace = match namespace {
            Some(ns) if self.namespaced(permission).await => Some(ns),
            _ => None,
        };
        let reviews = live::access_reviews();
        let question = format!("can-i {} {}", permission.verb, permission.grant_name());
        let allowed = self
            .call(
                cx,
                &Request::new("review", &reviews, namespace, "").noting(&question),
                async |permit| live.access_review(permit, permission, namespace).await,
                |_| {},
            )
            .await?;
        Ok(AccessReview {
            allowed,
            namespace: namespace.map(str::to_owned),
        })
    }

    /// Whether `permission`'s resource is namespaced on this cluster.
    async fn namespaced(&self, permission: &Permission) -> bool {
        if permission.resource == "*" {
            return true;
        }
        let name = if permission.group.is_empty() {
            permission.resource.clone()
        } else {
            format!("{}.{}", permission.resource, permission.group)
        };
        self.backend
            .resolve(&name)
            .await
            .map_or(true, |kind| kind.namespaced)
    }

    /// Who a bearer token belongs to, by TokenReview, or `None` when the
    /// cluster does not accept it. Guardian asks as itself (caller
    /// `system:guardian`, tool `token-review`, granted token reviews only);
    /// policy sees verb `review` on `tokenreviews.authentication.k8s.io`.
    /// The token goes to this cluster only and never into the audit log.
    pub async fn token_review(
        &self,
        token: &str,
        audiences: &[String],
    ) -> Result<Option<TokenUser>, BrokerError> {
        let live = self.live_only("a token review")?;
        let cx = CallContext::guardian("token-review", &[TOKEN_REVIEWS]);
        let reviews = live::token_reviews();
        self.call(
            &cx,
            &Request::new("review", &reviews, None, ""),
            async |permit| live.token_review(permit, token, audiences).await,
            |_| {},
        )
        .await
    }

    /// A snapshot of the live cluster written to `dir` (new or empty), in
    /// the format [`crate::Snapshot`] loads (`live::capture`). Every read is
    /// decided by policy and audited as `cx`'s, and everything is masked as
    /// the read path masks what reaches a skill before it is written.
    /// `progress` receives one line per step.
    pub async fn capture(
        &self,
        cx: &CallContext,
        scope: &CaptureScope,
        dir: &Path,
        progress: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<CaptureReport, BrokerError> {
        let live = self.live_only("a capture")?;
        capture::capture(self, live, cx, scope, dir, progress).await
    }
}
