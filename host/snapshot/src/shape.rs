//! Whether a built-in object has the shape the Kubernetes API gives it.
//!
//! A snapshot is read by skills that decode objects into typed models; one
//! Pod whose `spec` is `[1, 2, 3]` made a whole namespace's pod list
//! undecodable, and the skill's error named neither the file nor the object.
//! So the loader checks every object of a built-in kind against the API's
//! own types (k8s-openapi) and skips the one that does not fit, naming it and
//! the field. Only types are checked: the API types default every missing
//! field, and ignore unknown ones, as the API server's output needs.

use k8s_openapi::api;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// `Err("spec: invalid type: sequence, expected a PodSpec")` when `object`
/// (of `api_version` and `kind`) does not fit the API type; `Ok` for a fit
/// or a kind without a built-in type here (custom resources, old versions).
pub(crate) fn check(api_version: &str, kind: &str, object: &Value) -> Result<(), String> {
    let Some(check) = checker(api_version, kind) else {
        return Ok(());
    };
    // Base64 fields may hold redaction markers (`<redacted: …>`) instead:
    // a captured Secret's `data`, a ConfigMap's `binaryData`. They are
    // checked as maps of strings, the rest against the type.
    let bytes_field = match (api_version, kind) {
        ("v1", "Secret") => Some("data"),
        ("v1", "ConfigMap") => Some("binaryData"),
        _ => None,
    };
    if let Some(field) = bytes_field
        && let Some(Value::Object(map)) = object.get(field)
    {
        if let Some((key, _)) = map.iter().find(|(_, v)| !v.is_string() && !v.is_null()) {
            return Err(format!("{field}.{key}: invalid type: expected a string"));
        }
        let mut rest = object.clone();
        if let Some(rest) = rest.as_object_mut() {
            rest.remove(field);
        }
        return check(&rest);
    }
    check(object)
}

fn fits<T: DeserializeOwned>(object: &Value) -> Result<(), String> {
    // The fast path decodes without tracking where it is; only a failure
    // pays for a second pass that names the field.
    if T::deserialize(object).is_ok() {
        return Ok(());
    }
    match serde_path_to_error::deserialize::<_, T>(object) {
        Ok(_) => Ok(()),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path.is_empty() {
                Err(inner.to_string())
            } else {
                Err(format!("{path}: {inner}"))
            }
        }
    }
}

type Checker = fn(&Value) -> Result<(), String>;

macro_rules! table {
    ($($ty:ty),* $(,)?) => {
        fn checker(api_version: &str, kind: &str) -> Option<Checker> {
            $(
                if api_version == <$ty as k8s_openapi::Resource>::API_VERSION
                    && kind == <$ty as k8s_openapi::Resource>::KIND
                {
                    return Some(fits::<$ty>);
                }
            )*
            None
        }
    };
}

table!(
    api::core::v1::Pod,
    api::core::v1::Service,
    api::core::v1::Endpoints,
    api::core::v1::Event,
    api::core::v1::ConfigMap,
    api::core::v1::Secret,
    api::core::v1::Namespace,
    api::core::v1::Node,
    api::core::v1::PersistentVolume,
    api::core::v1::PersistentVolumeClaim,
    api::core::v1::ServiceAccount,
    api::core::v1::ResourceQuota,
    api::core::v1::LimitRange,
    api::core::v1::ReplicationController,
    api::core::v1::PodTemplate,
    api::apps::v1::Deployment,
    api::apps::v1::ReplicaSet,
    api::apps::v1::StatefulSet,
    api::apps::v1::DaemonSet,
    api::apps::v1::ControllerRevision,
    api::batch::v1::Job,
    api::batch::v1::CronJob,
    api::autoscaling::v1::HorizontalPodAutoscaler,
    api::autoscaling::v2::HorizontalPodAutoscaler,
    api::policy::v1::PodDisruptionBudget,
    api::networking::v1::Ingress,
    api::networking::v1::IngressClass,
    api::networking::v1::NetworkPolicy,
    api::discovery::v1::EndpointSlice,
    api::events::v1::Event,
    api::rbac::v1::Role,
    api::rbac::v1::RoleBinding,
    api::rbac::v1::ClusterRole,
    api::rbac::v1::ClusterRoleBinding,
    api::storage::v1::StorageClass,
    api::scheduling::v1::PriorityClass,
    api::admissionregistration::v1::ValidatingWebhookConfiguration,
    api::admissionregistration::v1::MutatingWebhookConfiguration,
    api::coordination::v1::Lease,
);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_misshapen_field_is_named() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"},
            "spec": [1, 2, 3]});
        let err = check("v1", "Pod", &pod).unwrap_err();
        assert!(err.starts_with("spec: invalid type: sequence"), "{err}");
        let deep = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "ports": [{"containerPort": "http"}]}]}}}});
        let err = check("apps/v1", "Deployment", &deep).unwrap_err();
        assert!(
            err.starts_with("spec.template.spec.containers[0].ports[0].containerPort:"),
            "{err}"
        );
    }

    #[test]
    fn redaction_markers_in_base64_fields_pass() {
        let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"password": "<redacted: 6 bytes, sha256:2bb80d53>"}});
        assert_eq!(check("v1", "Secret", &secret), Ok(()));
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"},
            "binaryData": {"k": "<redacted: 6 bytes, sha256:2bb80d53>"}, "data": {"a": "b"}});
        assert_eq!(check("v1", "ConfigMap", &cm), Ok(()));
        let bad = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"password": 5}});
        assert!(
            check("v1", "Secret", &bad)
                .unwrap_err()
                .starts_with("data.password")
        );
        let bad = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
            "data": {"password": "eA=="}, "type": 5});
        assert!(check("v1", "Secret", &bad).unwrap_err().starts_with("type"));
    }

    #[test]
    fn sparse_objects_and_unknown_kinds_pass() {
        // Missing fields (hand-written files omit most) and unknown ones are
        // fine; quantities may be numbers, as the API server accepts.
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"},
            "spec": {"containers": [{"resources": {"limits": {"cpu": 1}}}], "futureField": 1},
            "status": {"containerStatuses": [{"name": "c"}]}});
        assert_eq!(check("v1", "Pod", &pod), Ok(()));
        let custom = json!({"spec": [1]});
        assert_eq!(check("example.com/v1", "Widget", &custom), Ok(()));
        assert_eq!(
            check("autoscaling/v2beta2", "HorizontalPodAutoscaler", &custom),
            Ok(())
        );
    }
}
