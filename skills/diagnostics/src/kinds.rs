//! Kinds, apiVersions and kubectl resource names.

/// kubectl's resource name for a kind: `deployments.apps`, `pods`,
/// `ingresses.networking.k8s.io`.
pub fn resource_of(api_version: &str, kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    let plural = if lower == "endpoints" {
        lower
    } else if let Some(stem) = lower.strip_suffix('y') {
        format!("{stem}ies")
    } else if lower.ends_with('s') || lower.ends_with("ch") || lower.ends_with("sh") {
        format!("{lower}es")
    } else {
        format!("{lower}s")
    };
    match api_version.split_once('/') {
        Some((group, _)) => format!("{plural}.{group}"),
        None => plural,
    }
}

/// The usual apiVersion of a built-in kind (for references that carry only
/// the kind, like a pod's owner or an Event's involvedObject without one).
pub fn api_version_of(kind: &str) -> &'static str {
    match kind {
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet" | "ControllerRevision" => {
            "apps/v1"
        }
        "Job" | "CronJob" => "batch/v1",
        "HorizontalPodAutoscaler" => "autoscaling/v2",
        "PodDisruptionBudget" => "policy/v1",
        "Ingress" | "IngressClass" | "NetworkPolicy" => "networking.k8s.io/v1",
        "StorageClass" => "storage.k8s.io/v1",
        "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration" => {
            "admissionregistration.k8s.io/v1"
        }
        "GatewayClass" | "Gateway" | "HTTPRoute" => "gateway.networking.k8s.io/v1",
        _ => "v1",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals() {
        assert_eq!(resource_of("apps/v1", "Deployment"), "deployments.apps");
        assert_eq!(resource_of("v1", "Endpoints"), "endpoints");
        assert_eq!(
            resource_of("networking.k8s.io/v1", "Ingress"),
            "ingresses.networking.k8s.io"
        );
        assert_eq!(
            resource_of("networking.k8s.io/v1", "NetworkPolicy"),
            "networkpolicies.networking.k8s.io"
        );
        assert_eq!(
            resource_of("v1", "PersistentVolumeClaim"),
            "persistentvolumeclaims"
        );
    }
}
