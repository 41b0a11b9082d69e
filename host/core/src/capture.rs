//! `snapshot capture`: a complete, redacted snapshot of a live namespace
//! (or of every namespace), read through the broker — every read decided by
//! policy and audited like a skill's.

use std::path::Path;

use guardian_broker::CallContext;
use guardian_broker::live::capture::{self, CaptureReport, CaptureScope};

use crate::{ErrorClass, ServiceError, Session};

impl Session {
    /// Writes the snapshot of `namespace` (default: the context's), or of
    /// every namespace, into `dir`; `progress` hears a line per step.
    pub async fn capture(
        &self,
        namespace: Option<String>,
        all_namespaces: bool,
        dir: &Path,
        progress: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<CaptureReport, ServiceError> {
        if self.is_snapshot() {
            return Err(ServiceError::new(
                ErrorClass::FailedPrecondition,
                "snapshot capture reads a live cluster; this session reads a snapshot",
            ));
        }
        let broker = self.broker()?;
        let scope = if all_namespaces {
            CaptureScope::AllNamespaces
        } else {
            // As kubectl: without -n, the context's namespace.
            CaptureScope::Namespace(
                namespace
                    .unwrap_or_else(|| self.default_namespace().unwrap_or("default").to_string()),
            )
        };
        broker
            .capture(&CallContext::host(capture::TOOL), &scope, dir, progress)
            .await
            .map_err(|e| {
                ServiceError::new(
                    crate::error::host_class(e.kind_str()),
                    format!("snapshot capture: {e}"),
                )
            })
    }
}
