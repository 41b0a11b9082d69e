//! Field-level difference between the object as Git renders it and the live object.

use serde_json::Value;

use crate::FieldDiff;
use crate::yaml::escape_segment;

/// Metadata the API server (or a controller, or Argo CD) writes; never compared.
const SERVER_METADATA: &[&str] = &[
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
];
const SERVER_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
    "argocd.argoproj.io/tracking-id",
];

/// Field-level difference between `git` (the object as Git renders it) and `live`.
///
/// Only fields Git sets are compared: what exists only in the live object (server defaults
/// such as `imagePullPolicy`, `terminationMessagePath`, `strategy`) is not a difference.
/// `status` and server-written metadata are ignored (see the crate docs). Lists are compared
/// element by element by index, as Argo CD's diff does for lists without a merge strategy:
/// container 0 in Git is compared with container 0 live; a live list longer than Git's is
/// reported as the extra elements (Git sets the whole list), a shorter one as the missing ones.
/// Resource quantities (under `resources`, `limits`, `requests`, `hard`) compare by value,
/// as the API server normalises them (`0.5` and `500m`, `1` and `"1"`). Paths are JSON
/// pointers into the object.
pub fn field_diff(git: &Value, live: &Value) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    walk(git, live, &mut Vec::new(), &mut out);
    out
}

fn ignored(path: &[String]) -> bool {
    match path {
        [s] if s == "status" => true,
        [m, k] if m == "metadata" => SERVER_METADATA.contains(&k.as_str()),
        [m, a, k] if m == "metadata" && a == "annotations" => {
            SERVER_ANNOTATIONS.contains(&k.as_str())
        }
        _ => false,
    }
}

fn pointer(path: &[String]) -> String {
    path.iter()
        .map(|s| format!("/{}", escape_segment(s)))
        .collect()
}

fn walk(git: &Value, live: &Value, path: &mut Vec<String>, out: &mut Vec<FieldDiff>) {
    if ignored(path) {
        return;
    }
    match (git, live) {
        (Value::Object(g), Value::Object(l)) => {
            for (k, gv) in g {
                path.push(k.clone());
                if !ignored(path) {
                    match l.get(k) {
                        Some(lv) => walk(gv, lv, path, out),
                        // `key: null` or an empty value in Git sets nothing.
                        None if gv.is_null() || is_empty(gv) => {}
                        None => out.push(FieldDiff {
                            path: pointer(path),
                            git: Some(gv.clone()),
                            live: None,
                        }),
                    }
                }
                path.pop();
            }
        }
        (Value::Array(g), Value::Array(l)) => {
            for i in 0..g.len().max(l.len()) {
                path.push(i.to_string());
                match (g.get(i), l.get(i)) {
                    (Some(gv), Some(lv)) => walk(gv, lv, path, out),
                    (gv, lv) => out.push(FieldDiff {
                        path: pointer(path),
                        git: gv.cloned(),
                        live: lv.cloned(),
                    }),
                }
                path.pop();
            }
        }
        (Value::Null, _) => {}
        (g, l) => {
            let quantity = path
                .iter()
                .any(|s| matches!(s.as_str(), "resources" | "limits" | "requests" | "hard"));
            if !(same_scalar(g, l) || quantity && same_quantity(g, l)) {
                out.push(FieldDiff {
                    path: pointer(path),
                    git: Some(g.clone()),
                    live: Some(l.clone()),
                });
            }
        }
    }
}

fn is_empty(v: &Value) -> bool {
    matches!(v, Value::Object(m) if m.is_empty()) || matches!(v, Value::Array(a) if a.is_empty())
}

/// Scalars equal as the API server would store them: `80` and `"80"` differ in type and are
/// reported; integral floats equal integers (`2.0` = `2`).
fn same_scalar(g: &Value, l: &Value) -> bool {
    match (g, l) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => g == l,
    }
}

/// Resource quantities equal in value: the API server stores `cpu: 0.5` as `500m` and
/// `cpu: 1` (a YAML number) as `"1"`.
fn same_quantity(g: &Value, l: &Value) -> bool {
    match (quantity(g), quantity(l)) {
        (Some(a), Some(b)) => (a - b).abs() <= f64::EPSILON * a.abs().max(b.abs()) * 4.0,
        _ => false,
    }
}

fn quantity(v: &Value) -> Option<f64> {
    let s = match v {
        Value::Number(n) => return n.as_f64(),
        Value::String(s) => s.trim(),
        _ => return None,
    };
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1048576.0),
        ("Gi", 1073741824.0),
        ("Ti", 1099511627776.0),
        ("Pi", 1125899906842624.0),
        ("Ei", 1152921504606846976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    let (num, mult) = SUFFIXES
        .iter()
        .find_map(|(suf, m)| s.strip_suffix(suf).map(|n| (n, *m)))
        .unwrap_or((s, 1.0));
    if num.is_empty()
        || !num
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '+' || c == '-')
    {
        return None;
    }
    num.parse::<f64>().ok().map(|n| n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lists_missing_and_extra_elements() {
        let d = field_diff(&json!({"a": [1, 2]}), &json!({"a": [1, 3, 4]}));
        assert_eq!(
            d,
            vec![
                FieldDiff {
                    path: "/a/1".into(),
                    git: Some(json!(2)),
                    live: Some(json!(3))
                },
                FieldDiff {
                    path: "/a/2".into(),
                    git: None,
                    live: Some(json!(4))
                },
            ]
        );
    }

    #[test]
    fn quantities_compare_by_value_under_resources_only() {
        let git = json!({"spec": {"resources": {"requests": {"cpu": 0.5, "memory": "1Gi"}, "limits": {"cpu": 1, "memory": "1024Mi"}}}, "x": 1});
        let live = json!({"spec": {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}, "x": "1"});
        let d = field_diff(&git, &live);
        assert_eq!(
            d.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(),
            vec!["/x"]
        );
        let live2 = json!({"spec": {"resources": {"requests": {"cpu": "600m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "1Gi"}}}, "x": 1});
        let d = field_diff(&git, &live2);
        assert_eq!(
            d.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(),
            vec!["/spec/resources/requests/cpu"]
        );
    }

    #[test]
    fn escapes_pointer_segments() {
        let d = field_diff(
            &json!({"metadata": {"labels": {"app.kubernetes.io/name": "a"}}}),
            &json!({"metadata": {"labels": {"app.kubernetes.io/name": "b"}}}),
        );
        assert_eq!(d[0].path, "/metadata/labels/app.kubernetes.io~1name");
    }
}
