//! Helm sources: only the chart's values files are changed, for a container's image
//! (repository/tag keys, or one `image:` string, whose values match the live image) and its
//! resources (a `resources:` block whose values match the live container's). Anything else
//! needs the chart's templates changed, which is said rather than guessed.

use std::path::Path;

use serde_json::Value;

use crate::kustomize::{is_container_list, is_image_path};
use crate::yaml::{escape_segment, set_value};
use crate::{
    AppSource, EditParts, FileEdit, GitopsError, Located, ObjectId, Ops, Render, SourceFile,
    SourceKind, app_dir, edit_document, read_source, segments,
};

fn value_files(src: &AppSource) -> Vec<String> {
    let dir = app_dir(src);
    let files = if src.helm_value_files.is_empty() {
        vec!["values.yaml".to_string()]
    } else {
        src.helm_value_files.clone()
    };
    files
        .iter()
        .map(|f| {
            if dir.is_empty() {
                f.clone()
            } else {
                format!("{dir}/{f}")
            }
        })
        .collect()
}

fn read_values(root: &Path, src: &AppSource) -> Result<Vec<SourceFile>, GitopsError> {
    value_files(src)
        .iter()
        .map(|f| read_source(root, f))
        .collect()
}

pub(crate) fn locate(root: &Path, src: &AppSource, obj: &ObjectId) -> Result<Located, GitopsError> {
    let files = value_files(src);
    // The chart must at least be there and its values readable.
    read_values(root, src)?;
    let chart = if app_dir(src).is_empty() {
        "Chart.yaml".to_string()
    } else {
        format!("{}/Chart.yaml", app_dir(src))
    };
    Ok(Located {
        kind: SourceKind::Helm,
        file: files.last().cloned().unwrap_or(chart.clone()),
        document: 0,
        explanation: format!(
            "{obj} is rendered by the Helm chart {chart} from the values files {}; the chart is not rendered here, so which template writes it is not known",
            files.join(", ")
        ),
    })
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A place in a values file.
#[derive(Debug, Clone)]
struct Spot {
    file: usize,
    path: Vec<String>,
}

fn dotted(path: &[String]) -> String {
    path.join(".")
}

fn walk<'v>(v: &'v Value, path: &mut Vec<String>, f: &mut dyn FnMut(&[String], &'v Value)) {
    f(path, v);
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                path.push(k.clone());
                walk(c, path, f);
                path.pop();
            }
        }
        Value::Array(a) => {
            for (i, c) in a.iter().enumerate() {
                path.push(i.to_string());
                walk(c, path, f);
                path.pop();
            }
        }
        _ => {}
    }
}

fn split_image(s: &str) -> (String, Option<String>) {
    let no_digest = s.split('@').next().unwrap_or(s);
    let slash = no_digest.rfind('/').map(|i| i + 1).unwrap_or(0);
    match no_digest[slash..].rfind(':') {
        Some(c) => (
            no_digest[..slash + c].to_string(),
            Some(no_digest[slash + c + 1..].to_string()),
        ),
        None => (no_digest.to_string(), None),
    }
}

pub(crate) fn edit(
    root: &Path,
    src: &AppSource,
    obj: &ObjectId,
    ops: &Ops,
) -> Result<EditParts, GitopsError> {
    let files = read_values(root, src)?;
    let mut new_values: Vec<Value> = files
        .iter()
        .map(|f| {
            f.docs
                .first()
                .map(|d| d.value.clone())
                .unwrap_or(Value::Null)
        })
        .collect();
    let must_change = |reason: String| GitopsError::ChartMustChange {
        object: obj.to_string(),
        reason,
    };
    let mut why = Vec::new();
    let mut handled_tests = Vec::new();
    for op in &ops.changes {
        let ptr = op["path"].as_str().unwrap_or("");
        let segs = segments(ptr);
        let kind = op["op"].as_str().unwrap_or("");
        if is_image_path(&segs) && kind != "remove" {
            let new = op["value"].as_str().ok_or_else(|| {
                GitopsError::BadChange(format!("{ptr}: the new image is not a string"))
            })?;
            let old = pinned(ops, ptr).and_then(Value::as_str).ok_or_else(|| {
                GitopsError::BadChange(format!(
                    "{ptr}: the chart cannot be rendered here, so the change must pin the live image with a `test` operation on {ptr}"
                ))
            })?;
            handled_tests.push(ptr.to_string());
            // The container is found in the values by its image, not by
            // its index: a pin of the same container's name holds on the
            // live object (the dry run checks it), and names nothing here.
            if let Some(name) = ptr
                .strip_suffix("/image")
                .map(|container| format!("{container}/name"))
                && pinned(ops, &name).is_some()
            {
                handled_tests.push(name);
            }
            let (old_name, old_tag) = split_image(old);
            let (new_name, new_tag) = split_image(new);
            let mut spots: Vec<(Spot, bool)> = Vec::new(); // (place, whole-image string?)
            let mut differs: Option<GitopsError> = None;
            for (fi, f) in files.iter().enumerate() {
                let v = &new_values[fi];
                walk(v, &mut Vec::new(), &mut |path, node| {
                    if let Some(m) = node.as_object() {
                        let repo = m.get("repository").and_then(Value::as_str);
                        let registry = m.get("registry").and_then(Value::as_str);
                        let full = match (registry, repo) {
                            (Some(r), Some(p)) if !r.is_empty() => Some(format!("{r}/{p}")),
                            (_, Some(p)) => Some(p.to_string()),
                            _ => None,
                        };
                        if full.as_deref() == Some(old_name.as_str())
                            || repo == Some(old_name.as_str())
                        {
                            let tag = m.get("tag").and_then(scalar_string);
                            if tag.as_deref() == old_tag.as_deref() && tag.is_some() {
                                spots.push((
                                    Spot {
                                        file: fi,
                                        path: path.to_vec(),
                                    },
                                    false,
                                ));
                            } else if tag.as_deref().is_some_and(|t| !t.is_empty()) {
                                let mut p = path.to_vec();
                                p.push("tag".into());
                                differs.get_or_insert(GitopsError::SourceDiffers {
                                    file: f.rel.clone(),
                                    field: dotted(&p),
                                    git: tag.clone().unwrap_or_default(),
                                    live: old_tag.clone().unwrap_or_else(|| "(no tag)".into()),
                                });
                            }
                        }
                    } else if node.as_str() == Some(old) {
                        spots.push((
                            Spot {
                                file: fi,
                                path: path.to_vec(),
                            },
                            true,
                        ));
                    }
                });
            }
            let spot = pick(spots, obj, "the image")?;
            let Some((spot, whole)) = spot else {
                return Err(differs.unwrap_or_else(|| {
                    must_change(format!(
                        "no values file sets the image {old} (as repository/tag keys or one image string); the chart's templates write it"
                    ))
                }));
            };
            let v = &mut new_values[spot.file];
            let file = &files[spot.file].rel;
            if whole {
                set_value(v, &spot.path, Some(Value::String(new.into())))
                    .map_err(GitopsError::BadChange)?;
                why.push(format!(
                    "{file} {} holds the container's whole image; it is changed there",
                    dotted(&spot.path)
                ));
            } else {
                let Some(new_tag) = new_tag else {
                    return Err(must_change(format!("the new image {new} has no tag")));
                };
                let mut p = spot.path.clone();
                p.push("tag".into());
                set_value(v, &p, Some(Value::String(new_tag))).map_err(GitopsError::BadChange)?;
                if new_name != old_name {
                    let mut p = spot.path.clone();
                    p.push("repository".into());
                    set_value(v, &p, Some(Value::String(new_name)))
                        .map_err(GitopsError::BadChange)?;
                }
                why.push(format!(
                    "{file} {}.repository/{}.tag map to the container's image {old}; the tag is changed there",
                    dotted(&spot.path),
                    dotted(&spot.path)
                ));
            }
            continue;
        }
        // Resources of a container.
        let res_at = segs.windows(3).position(|w| {
            is_container_list(&w[0]) && w[1].parse::<usize>().is_ok() && w[2] == "resources"
        });
        let Some(res_at) = res_at else {
            return Err(must_change(format!(
                "{ptr} is not an image or resources of a container; only those are changed through values files"
            )));
        };
        let res_ptr: String = segs[..res_at + 3]
            .iter()
            .map(|s| format!("/{}", escape_segment(s)))
            .collect();
        let inner = &segs[res_at + 3..];
        // The live resources as the change pins them.
        let pins: Vec<(Vec<String>, Value)> = ops
            .tests
            .iter()
            .filter(|(p, _)| p == &res_ptr || p.starts_with(&format!("{res_ptr}/")))
            .map(|(p, v)| (segments(&p[res_ptr.len()..]), v.clone()))
            .collect();
        if pins.is_empty() {
            return Err(GitopsError::BadChange(format!(
                "{ptr}: the chart cannot be rendered here, so the change must pin the live resources with `test` operations under {res_ptr}"
            )));
        }
        handled_tests.extend(
            ops.tests
                .iter()
                .filter(|(p, _)| p == &res_ptr || p.starts_with(&format!("{res_ptr}/")))
                .map(|(p, _)| p.clone()),
        );
        let mut spots = Vec::new();
        let mut near: Option<GitopsError> = None;
        for (fi, f) in files.iter().enumerate() {
            walk(&new_values[fi], &mut Vec::new(), &mut |path, node| {
                if path.last().map(String::as_str) != Some("resources") || !node.is_object() {
                    return;
                }
                let mut ok = true;
                for (p, want) in &pins {
                    let have = crate::yaml::get_value(node, p);
                    if have.and_then(scalar_string) != scalar_string(want) && have != Some(want) {
                        ok = false;
                        let mut field = path.to_vec();
                        field.extend(p.iter().cloned());
                        near.get_or_insert(GitopsError::SourceDiffers {
                            file: f.rel.clone(),
                            field: dotted(&field),
                            git: have
                                .map(|v| v.to_string())
                                .unwrap_or_else(|| "(not set)".into()),
                            live: want.to_string(),
                        });
                    }
                }
                if ok {
                    spots.push((
                        Spot {
                            file: fi,
                            path: path.to_vec(),
                        },
                        false,
                    ));
                }
            });
        }
        let Some((spot, _)) = pick(spots, obj, "the container's resources")? else {
            return Err(near.unwrap_or_else(|| {
                must_change("no values file has a `resources:` block; the chart's templates write the container's resources".into())
            }));
        };
        let mut p = spot.path.clone();
        p.extend(inner.iter().cloned());
        let nv = if kind == "remove" {
            None
        } else {
            op.get("value").cloned()
        };
        set_value(&mut new_values[spot.file], &p, nv).map_err(GitopsError::BadChange)?;
        why.push(format!(
            "{} {} matches the live container's resources; {} is changed there",
            files[spot.file].rel,
            dotted(&spot.path),
            dotted(&p)
        ));
    }
    if let Some((p, _)) = ops.tests.iter().find(|(p, _)| !handled_tests.contains(p)) {
        return Err(GitopsError::BadChange(format!(
            "the pinned value at {p} cannot be checked against a chart that is not rendered here"
        )));
    }
    let mut out = Vec::new();
    for (fi, f) in files.iter().enumerate() {
        let old = f.docs.first().map(|d| &d.value);
        if old == Some(&new_values[fi]) {
            continue;
        }
        let after = edit_document(f, 0, &new_values[fi])?;
        out.push(FileEdit {
            path: f.rel.clone(),
            before: f.text.clone(),
            after,
        });
    }
    Ok((
        SourceKind::Helm,
        out,
        why.join("; "),
        Render::NotChecked {
            why: "helm is not installed here: the chart was not rendered; only its values files were read and changed".into(),
        },
    ))
}

fn pinned<'o>(ops: &'o Ops, ptr: &str) -> Option<&'o Value> {
    ops.tests.iter().find(|(p, _)| p == ptr).map(|(_, v)| v)
}

/// One place: the same key path in several values files is the last file's (it wins in Helm);
/// different key paths are ambiguous.
fn pick(
    spots: Vec<(Spot, bool)>,
    obj: &ObjectId,
    what: &str,
) -> Result<Option<(Spot, bool)>, GitopsError> {
    let mut paths: Vec<&Vec<String>> = spots.iter().map(|(s, _)| &s.path).collect();
    paths.sort();
    paths.dedup();
    if paths.len() > 1 {
        return Err(GitopsError::Ambiguous {
            object: format!("{obj}: {what}"),
            places: paths.iter().map(|p| dotted(p)).collect(),
        });
    }
    Ok(spots.into_iter().max_by_key(|(s, _)| s.file))
}
