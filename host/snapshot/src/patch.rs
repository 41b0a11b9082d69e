//! Strategic merge patch, for the built-in kinds.
//!
//! A strategic merge patch is a JSON merge patch (RFC 7386) whose lists know
//! how to merge: `containers` merge by `name`, `ports` by `containerPort`,
//! `finalizers` as a set, and every other list is replaced whole. The API
//! server learns which is which from the `patchStrategy`/`patchMergeKey` tags
//! of the Go types in `k8s.io/api`; [`Schema`] carries the same facts for the
//! kinds a snapshot serves. Lists of a built-in kind that carry no tag are
//! atomic in the API server too, so "not in the table" means "replace".
//!
//! Custom resources have no such tags: the API server refuses strategic merge
//! patches for them (415), and so does [`unsupported`].
//!
//! Directives supported: `$patch: replace|merge|delete` (in maps and in the
//! elements of keyed lists), `$retainKeys`, `$deleteFromPrimitiveList/<field>`;
//! `$setElementOrder/<field>` is accepted and ignored (it only orders).

use serde_json::{Map, Value};

use guardian_kube_types::{BrokerError, ResourceKind, ResourceTable};

/// The merge facts of one kind: which list paths merge, and how. A path is
/// the dotted field names from the object's root; list elements add nothing
/// (`spec.template.spec.containers.env`).
struct Schema {
    /// path → the merge key of its elements.
    keyed: Vec<(String, &'static str)>,
    /// Lists of scalars merged as a set.
    sets: Vec<String>,
}

/// The `patchMergeKey` of each list in a PodSpec and a Container, from
/// `k8s.io/api/core/v1/types.go`.
const POD_SPEC_KEYED: &[(&str, &str)] = &[
    ("containers", "name"),
    ("initContainers", "name"),
    ("ephemeralContainers", "name"),
    ("volumes", "name"),
    ("imagePullSecrets", "name"),
    ("hostAliases", "ip"),
    ("topologySpreadConstraints", "topologyKey"),
    ("resourceClaims", "name"),
    ("schedulingGates", "name"),
];
const CONTAINER_KEYED: &[(&str, &str)] = &[
    ("ports", "containerPort"),
    ("env", "name"),
    ("volumeMounts", "mountPath"),
    ("volumeDevices", "devicePath"),
];

/// Where the PodSpec sits in objects of this kind, if they hold one.
fn pod_spec_path(kind: &ResourceKind) -> Option<&'static str> {
    let path = match (kind.group.as_str(), kind.kind.as_str()) {
        ("", "Pod") => "spec",
        ("", "PodTemplate") => "template.spec",
        ("", "ReplicationController")
        | ("apps", "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet")
        | ("batch", "Job") => "spec.template.spec",
        ("batch", "CronJob") => "spec.jobTemplate.spec.template.spec",
        _ => return None,
    };
    Some(path)
}

impl Schema {
    fn of(kind: &ResourceKind) -> Self {
        let mut keyed: Vec<(String, &'static str)> =
            vec![("metadata.ownerReferences".to_string(), "uid")];
        let mut sets = vec!["metadata.finalizers".to_string()];
        if let Some(spec) = pod_spec_path(kind) {
            for (field, key) in POD_SPEC_KEYED {
                keyed.push((format!("{spec}.{field}"), key));
            }
            for containers in ["containers", "initContainers", "ephemeralContainers"] {
                for (field, key) in CONTAINER_KEYED {
                    keyed.push((format!("{spec}.{containers}.{field}"), key));
                }
            }
        }
        match (kind.group.as_str(), kind.kind.as_str()) {
            ("", "Service") => keyed.push(("spec.ports".to_string(), "port")),
            ("", "ServiceAccount") => keyed.push(("secrets".to_string(), "name")),
            ("", "Node") => sets.push("spec.podCIDRs".to_string()),
            (
                "admissionregistration.k8s.io",
                "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration",
            ) => keyed.push(("webhooks".to_string(), "name")),
            _ => {}
        }
        Self { keyed, sets }
    }

    fn merge_key(&self, path: &str) -> Option<&'static str> {
        self.keyed.iter().find(|(p, _)| p == path).map(|(_, k)| *k)
    }

    fn is_set(&self, path: &str) -> bool {
        self.sets.iter().any(|p| p == path)
    }
}

/// Why a strategic merge patch of `kind` cannot be applied here, or `None`
/// if it can: the API server only knows the merge rules of built-in kinds.
pub fn unsupported(table: &ResourceTable, kind: &ResourceKind) -> Option<String> {
    if table.is_builtin(kind) {
        return None;
    }
    Some(format!(
        "strategic merge patch is not supported for {}, which is not a built-in kind (its \
         lists have no merge keys); send a JSON merge patch (kubectl patch --type=merge) or a \
         JSON Patch (--type=json) instead",
        kind.grant_name()
    ))
}

/// Apply a strategic merge patch to a copy of `target`.
pub(crate) fn apply(
    kind: &ResourceKind,
    target: &Value,
    patch: &Value,
    what: &str,
) -> Result<Value, BrokerError> {
    let (Some(target_map), Some(patch_map)) = (target.as_object(), patch.as_object()) else {
        return Err(BrokerError::Invalid(format!(
            "the strategic merge patch for {what} must be a JSON object"
        )));
    };
    let schema = Schema::of(kind);
    let mut merged = target_map.clone();
    let cx = Cx {
        schema: &schema,
        what,
    };
    match cx.merge_map(&mut merged, patch_map, "")? {
        MapOutcome::Keep => Ok(Value::Object(merged)),
        MapOutcome::Delete => Err(BrokerError::Invalid(format!(
            "the strategic merge patch for {what} deletes the whole object ($patch: delete at \
             the top level); delete the object instead"
        ))),
    }
}

struct Cx<'a> {
    schema: &'a Schema,
    what: &'a str,
}

enum MapOutcome {
    Keep,
    /// `$patch: delete`: the map is to be removed from its parent.
    Delete,
}

fn join(path: &str, field: &str) -> String {
    if path.is_empty() {
        field.to_string()
    } else {
        format!("{path}.{field}")
    }
}

/// The patch value without directives, for where it lands as a whole.
fn strip(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .filter(|v| !is_directive_only(v))
                .map(strip)
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `{"$patch": "replace"}` and the like: an element that only directs.
fn is_directive_only(value: &Value) -> bool {
    value
        .as_object()
        .is_some_and(|m| !m.is_empty() && m.keys().all(|k| k.starts_with('$')))
}

fn patch_directive(map: &Map<String, Value>) -> Option<&str> {
    map.get("$patch").and_then(Value::as_str)
}

impl Cx<'_> {
    fn invalid(&self, path: &str, what: String) -> BrokerError {
        let at = if path.is_empty() {
            "the top level"
        } else {
            path
        };
        BrokerError::Invalid(format!(
            "the strategic merge patch for {} is invalid at {at}: {what}",
            self.what
        ))
    }

    fn merge_map(
        &self,
        target: &mut Map<String, Value>,
        patch: &Map<String, Value>,
        path: &str,
    ) -> Result<MapOutcome, BrokerError> {
        match patch_directive(patch) {
            None | Some("merge") => {}
            Some("replace") => {
                let Value::Object(replacement) = strip(&Value::Object(patch.clone())) else {
                    unreachable!("strip keeps an object an object");
                };
                *target = replacement;
                return Ok(MapOutcome::Keep);
            }
            Some("delete") => return Ok(MapOutcome::Delete),
            Some(other) => {
                return Err(self.invalid(
                    path,
                    format!("unknown $patch directive \"{other}\" (replace, merge or delete)"),
                ));
            }
        }
        let mut deletions: Vec<(&str, &Value)> = Vec::new();
        for (key, value) in patch {
            if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
                deletions.push((field, value));
                continue;
            }
            if key.starts_with("$setElementOrder/") || key == "$patch" || key == "$retainKeys" {
                continue;
            }
            if key.starts_with('$') {
                return Err(self.invalid(path, format!("unknown directive \"{key}\"")));
            }
            let child = join(path, key);
            match value {
                Value::Null => {
                    target.remove(key);
                }
                Value::Object(patch_child) => {
                    let mut merged = match target.remove(key) {
                        Some(Value::Object(existing)) => existing,
                        _ => Map::new(),
                    };
                    if let MapOutcome::Keep = self.merge_map(&mut merged, patch_child, &child)? {
                        target.insert(key.clone(), Value::Object(merged));
                    }
                }
                Value::Array(patch_items) => {
                    let existing = match target.remove(key) {
                        Some(Value::Array(items)) => items,
                        _ => Vec::new(),
                    };
                    let merged = self.merge_list(existing, patch_items, &child)?;
                    target.insert(key.clone(), Value::Array(merged));
                }
                scalar => {
                    target.insert(key.clone(), scalar.clone());
                }
            }
        }
        for (field, values) in deletions {
            let Some(values) = values.as_array() else {
                return Err(self.invalid(
                    path,
                    format!("$deleteFromPrimitiveList/{field} must be a list"),
                ));
            };
            if let Some(Value::Array(items)) = target.get_mut(field) {
                items.retain(|item| !values.contains(item));
            }
        }
        if let Some(retain) = patch.get("$retainKeys") {
            let Some(keys) = retain.as_array() else {
                return Err(self.invalid(path, "$retainKeys must be a list of field names".into()));
            };
            target.retain(|k, _| keys.iter().any(|r| r.as_str() == Some(k)));
        }
        Ok(MapOutcome::Keep)
    }

    fn merge_list(
        &self,
        mut target: Vec<Value>,
        patch: &[Value],
        path: &str,
    ) -> Result<Vec<Value>, BrokerError> {
        if self.schema.is_set(path) {
            for item in patch {
                if !target.contains(item) {
                    target.push(item.clone());
                }
            }
            return Ok(target);
        }
        let Some(key) = self.schema.merge_key(path) else {
            // An atomic list: the patch's list replaces it.
            return Ok(patch.iter().map(strip).collect());
        };
        let replace = patch.iter().any(|item| {
            item.as_object()
                .is_some_and(|m| patch_directive(m) == Some("replace"))
        });
        if replace {
            return Ok(patch
                .iter()
                .filter(|item| !is_directive_only(item))
                .map(strip)
                .collect());
        }
        for item in patch {
            let Some(element) = item.as_object() else {
                return Err(self.invalid(
                    path,
                    format!("the elements of this list merge by \"{key}\" and must be objects"),
                ));
            };
            let Some(id) = element.get(key).filter(|v| !v.is_null()) else {
                return Err(self.invalid(
                    path,
                    format!(
                        "an element has no \"{key}\", the key this list merges by: {}",
                        Value::Object(element.clone())
                    ),
                ));
            };
            let position = target.iter().position(|t| t.get(key) == Some(id));
            if patch_directive(element) == Some("delete") {
                if let Some(i) = position {
                    target.remove(i);
                }
                continue;
            }
            let mut merged = match position.map(|i| &mut target[i]) {
                Some(Value::Object(existing)) => std::mem::take(existing),
                _ => Map::new(),
            };
            let outcome = self.merge_map(&mut merged, element, path)?;
            match (position, outcome) {
                (Some(i), MapOutcome::Keep) => target[i] = Value::Object(merged),
                (Some(i), MapOutcome::Delete) => {
                    target.remove(i);
                }
                (None, MapOutcome::Keep) => target.push(Value::Object(merged)),
                (None, MapOutcome::Delete) => {}
            }
        }
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment() -> ResourceKind {
        ResourceTable::builtin().resolve("deployments").unwrap()
    }

    fn smp(target: Value, patch: Value) -> Value {
        apply(&deployment(), &target, &patch, "deployments.apps \"x\"").unwrap()
    }

    #[test]
    fn containers_merge_by_name_and_env_by_name() {
        let target = json!({"spec": {"template": {"spec": {"containers": [
            {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]},
            {"name": "b", "image": "b:1"}
        ]}}}});
        let out = smp(
            target,
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "a", "env": [{"name": "Y", "value": "3"}, {"name": "Z", "value": "4"}]},
                {"name": "c", "image": "c:1"}
            ]}}}}),
        );
        assert_eq!(
            out,
            json!({"spec": {"template": {"spec": {"containers": [
                {"name": "a", "image": "a:1", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "3"}, {"name": "Z", "value": "4"}]},
                {"name": "b", "image": "b:1"},
                {"name": "c", "image": "c:1"}
            ]}}}})
        );
    }

    #[test]
    fn directives_delete_replace_and_primitive_lists() {
        let target = json!({
            "metadata": {"finalizers": ["a", "b"], "labels": {"x": "1", "y": "2"}},
            "spec": {"template": {"spec": {
                "containers": [{"name": "a", "args": ["--x"]}, {"name": "b"}],
                "tolerations": [{"key": "k1"}],
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}
            }}}
        });
        let out = smp(
            target,
            json!({
                "metadata": {"finalizers": ["c"], "labels": {"x": null},
                             "$deleteFromPrimitiveList/finalizers": ["a"]},
                "spec": {"template": {"spec": {
                    "containers": [{"name": "b", "$patch": "delete"}, {"name": "a", "args": ["--y"]}],
                    "$setElementOrder/containers": [{"name": "a"}],
                    "tolerations": [{"key": "k2"}],
                    "strategy": {"$retainKeys": ["type"], "type": "Recreate"}
                }}}
            }),
        );
        assert_eq!(
            out,
            json!({
                "metadata": {"finalizers": ["b", "c"], "labels": {"y": "2"}},
                "spec": {"template": {"spec": {
                    "containers": [{"name": "a", "args": ["--y"]}],
                    "tolerations": [{"key": "k2"}],
                    "strategy": {"type": "Recreate"}
                }}}
            })
        );
        let replaced = smp(
            json!({"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}}),
            json!({"spec": {"template": {"spec": {"containers": [{"$patch": "replace"}, {"name": "c"}]}}}}),
        );
        assert_eq!(
            replaced,
            json!({"spec": {"template": {"spec": {"containers": [{"name": "c"}]}}}})
        );
    }

    #[test]
    fn keyed_elements_need_their_key_and_custom_kinds_are_refused() {
        let err = apply(
            &deployment(),
            &json!({}),
            &json!({"spec": {"template": {"spec": {"containers": [{"image": "x"}]}}}}),
            "deployments.apps \"x\"",
        )
        .unwrap_err();
        assert!(err.message().contains("no \"name\""), "{err}");
        let table = ResourceTable::builtin();
        assert!(unsupported(&table, &deployment()).is_none());
        let custom = ResourceKind::discovered("example.com/v1", "Widget", true);
        assert!(
            unsupported(&table, &custom)
                .unwrap()
                .contains("--type=merge")
        );
    }
}
