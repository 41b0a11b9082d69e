//! Which existing tag to suggest for a broken one (an image that does not
//! pull): the closest to it, and the newest stable release, each with the
//! evidence behind it. Pure.
//!
//! A semantic version here is `MAJOR.MINOR.PATCH` (a `v` prefix allowed,
//! `MAJOR.MINOR` read as `.0`), an optional `-PRERELEASE` and `+BUILD`;
//! stable means no pre-release. The closest tag to a version is, in order:
//! the highest patch of the same `MAJOR.MINOR`, the highest release of the
//! same `MAJOR`, the nearest release below it (else above it). A tag that is
//! not a version is matched by the longest common prefix (then the fewest
//! edits).

use std::cmp::Ordering;

use serde::Serialize;

/// The suggestion, with why.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TagSuggestion {
    /// The existing tag closest to the broken one.
    pub closest: Option<String>,
    /// The newest stable semantic version among the tags.
    pub newest_stable: Option<String>,
    /// One line per fact the suggestion rests on.
    pub evidence: Vec<String>,
}

/// A parsed semantic version.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Version {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Option<String>,
    /// `v1.2.3` rather than `1.2.3`.
    prefixed: bool,
    /// Written with three numbers.
    full: bool,
}

impl Version {
    fn parse(tag: &str) -> Option<Version> {
        let (prefixed, rest) = match tag.strip_prefix(['v', 'V']) {
            Some(rest) => (true, rest),
            None => (false, tag),
        };
        let rest = rest.split_once('+').map_or(rest, |(v, _)| v);
        let (numbers, pre) = match rest.split_once('-') {
            Some((n, p)) if !p.is_empty() => (n, Some(p.to_owned())),
            Some(_) => return None,
            None => (rest, None),
        };
        let parts: Vec<&str> = numbers.split('.').collect();
        if !(2..=3).contains(&parts.len()) {
            return None;
        }
        let mut nums = [0u64; 3];
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() || !p.chars().all(|c| c.is_ascii_digit()) || p.len() > 18 {
                return None;
            }
            nums[i] = p.parse().ok()?;
        }
        Some(Version {
            major: nums[0],
            minor: nums[1],
            patch: nums[2],
            pre,
            prefixed,
            full: parts.len() == 3,
        })
    }

    fn stable(&self) -> bool {
        self.pre.is_none()
    }

    fn triple(&self) -> (u64, u64, u64) {
        (self.major, self.minor, self.patch)
    }

    /// Version order: numbers, then a pre-release before its release.
    fn order(&self, other: &Version) -> Ordering {
        self.triple()
            .cmp(&other.triple())
            .then_with(|| match (&self.pre, &other.pre) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(a), Some(b)) => a.cmp(b),
            })
    }
}

/// Among tags of equal version, the one written like the broken tag (`v`
/// prefix, three numbers), then the shorter, then the lexically first.
fn better_written(
    a: &(String, Version),
    b: &(String, Version),
    like: Option<&Version>,
) -> Ordering {
    let style = |v: &Version| {
        like.map_or((v.full, !v.prefixed), |l| {
            (v.prefixed == l.prefixed, v.full == l.full)
        })
    };
    style(&a.1)
        .cmp(&style(&b.1))
        .then_with(|| b.0.len().cmp(&a.0.len()))
        .then_with(|| b.0.cmp(&a.0))
}

/// The highest of `versions` by version order (ties by how it is written).
fn highest<'a>(
    versions: impl Iterator<Item = &'a (String, Version)>,
    like: Option<&Version>,
) -> Option<&'a (String, Version)> {
    versions.max_by(|a, b| a.1.order(&b.1).then_with(|| better_written(a, b, like)))
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = if ca == cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = here;
        }
    }
    row[b.len()]
}

fn list(tags: &[&str], max: usize) -> String {
    let mut out: Vec<&str> = tags.iter().take(max).copied().collect();
    if tags.len() > max {
        out.push("…");
    }
    out.join(", ")
}

/// The existing tag closest to `broken_tag`, and the newest stable semantic
/// version of `tags`, with the evidence.
pub fn suggest_tags(broken_tag: &str, tags: &[String]) -> TagSuggestion {
    let broken = broken_tag.trim();
    let mut evidence = Vec::new();
    let mut unique: Vec<&str> = tags.iter().map(String::as_str).collect();
    unique.sort_unstable();
    unique.dedup();
    if unique.is_empty() {
        evidence.push("the repository has no tags".to_owned());
        return TagSuggestion {
            closest: None,
            newest_stable: None,
            evidence,
        };
    }
    let versions: Vec<(String, Version)> = unique
        .iter()
        .filter_map(|t| Version::parse(t).map(|v| ((*t).to_owned(), v)))
        .collect();
    let stable: Vec<&(String, Version)> = versions.iter().filter(|(_, v)| v.stable()).collect();
    let broken_version = Version::parse(broken);
    let exists = unique.contains(&broken);
    evidence.push(if exists {
        format!(
            "tag {broken} exists in the registry ({} tags read): the tag itself is not what is \
             missing",
            unique.len()
        )
    } else {
        format!(
            "tag {broken} is not in the registry ({} tags read, {} of them semantic versions, {} \
             stable)",
            unique.len(),
            versions.len(),
            stable.len()
        )
    });

    // The newest stable release.
    let newest = highest(stable.iter().copied(), broken_version.as_ref());
    match newest {
        Some((tag, _)) => {
            let newer_pre: Vec<&str> = versions
                .iter()
                .filter(|(_, v)| !v.stable() && newest.is_some_and(|(_, n)| v.order(n).is_gt()))
                .map(|(t, _)| t.as_str())
                .collect();
            let mut line = format!(
                "newest stable: {tag}, the highest of the {} releases without a pre-release",
                stable.len()
            );
            if !newer_pre.is_empty() {
                line.push_str(&format!(
                    " (newer pre-releases left out: {})",
                    list(&newer_pre, 3)
                ));
            }
            evidence.push(line);
        }
        None => evidence.push(
            "no tag is a stable semantic version (MAJOR.MINOR.PATCH without a pre-release)"
                .to_owned(),
        ),
    }
    let newest_stable = newest.map(|(t, _)| t.clone());

    let closest = if exists {
        Some(broken.to_owned())
    } else if let Some(b) = &broken_version {
        closest_version(broken, b, &versions, &stable, &mut evidence)
    } else {
        closest_text(broken, &unique, &mut evidence)
    };
    TagSuggestion {
        closest,
        newest_stable,
        evidence,
    }
}

fn closest_version(
    broken: &str,
    b: &Version,
    versions: &[(String, Version)],
    stable: &[&(String, Version)],
    evidence: &mut Vec<String>,
) -> Option<String> {
    // Releases, or — when there are none — every version.
    let pool: Vec<&(String, Version)> = if stable.is_empty() {
        versions.iter().collect()
    } else {
        stable.to_vec()
    };
    if pool.is_empty() {
        evidence.push(format!(
            "closest: none; {broken} is a version but no tag is one"
        ));
        return None;
    }
    let same_minor: Vec<&(String, Version)> = pool
        .iter()
        .copied()
        .filter(|(_, v)| v.major == b.major && v.minor == b.minor)
        .collect();
    if let Some((tag, _)) = highest(same_minor.iter().copied(), Some(b)) {
        let names: Vec<&str> = same_minor.iter().map(|(t, _)| t.as_str()).collect();
        evidence.push(format!(
            "closest: {tag}, the highest patch of {}.{} that exists ({})",
            b.major,
            b.minor,
            list(&names, 6)
        ));
        return Some(tag.clone());
    }
    let same_major: Vec<&(String, Version)> = pool
        .iter()
        .copied()
        .filter(|(_, v)| v.major == b.major)
        .collect();
    if let Some((tag, _)) = highest(same_major.iter().copied(), Some(b)) {
        evidence.push(format!(
            "closest: {tag}, the highest release of major version {} (no {}.{}.x exists)",
            b.major, b.major, b.minor
        ));
        return Some(tag.clone());
    }
    let below = highest(
        pool.iter().copied().filter(|(_, v)| v.order(b).is_lt()),
        Some(b),
    );
    if let Some((tag, _)) = below {
        evidence.push(format!(
            "closest: {tag}, the nearest version below {broken} (no tag of major version {})",
            b.major
        ));
        return Some(tag.clone());
    }
    let above = pool
        .iter()
        .copied()
        .filter(|(_, v)| v.order(b).is_gt())
        .min_by(|x, y| x.1.order(&y.1).then_with(|| better_written(y, x, Some(b))));
    if let Some((tag, _)) = above {
        evidence.push(format!(
            "closest: {tag}, the nearest version above {broken} (none is below it)"
        ));
        return Some(tag.clone());
    }
    evidence.push(format!("closest: none; no version is near {broken}"));
    None
}

fn closest_text(broken: &str, tags: &[&str], evidence: &mut Vec<String>) -> Option<String> {
    let best = tags
        .iter()
        .map(|t| (common_prefix(broken, t), edit_distance(broken, t), *t))
        .min_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(b.2)));
    let (prefix, edits, tag) = best?;
    let longest = broken.chars().count().max(tag.chars().count());
    // Something in common: a shared beginning, or fewer edits than half.
    if prefix == 0 && edits * 2 > longest {
        evidence.push(format!(
            "closest: none; {broken} is not a version and no tag resembles it"
        ));
        return None;
    }
    evidence.push(format!(
        "closest: {tag}, the tag sharing the longest beginning with {broken} ({prefix} \
         characters; {edits} edits apart)"
    ));
    Some(tag.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn versions_parse_with_a_prefix_and_a_pre_release() {
        let v = Version::parse("v1.2.3-rc.1+build.5").unwrap();
        assert_eq!(
            (v.triple(), v.pre.as_deref(), v.prefixed),
            ((1, 2, 3), Some("rc.1"), true)
        );
        assert_eq!(Version::parse("1.27").unwrap().triple(), (1, 27, 0));
        for not in [
            "latest",
            "1",
            "1.2.3.4",
            "1..2",
            "v",
            "1.2.x",
            "1.2.3-",
            "sha-3f9c2e1",
            "",
        ] {
            assert_eq!(Version::parse(not), None, "{not}");
        }
        let rc = Version::parse("2.0.0-rc.1").unwrap();
        let release = Version::parse("2.0.0").unwrap();
        assert!(rc.order(&release).is_lt());
    }

    #[test]
    fn the_highest_patch_of_the_same_minor_is_closest() {
        let s = suggest_tags(
            "1.4.9",
            &tags(&[
                "1.4.0",
                "1.4.7",
                "1.4.8-rc.1",
                "1.5.0",
                "2.0.0",
                "2.1.0-beta.1",
                "latest",
            ]),
        );
        assert_eq!(s.closest.as_deref(), Some("1.4.7"));
        assert_eq!(s.newest_stable.as_deref(), Some("2.0.0"));
        assert!(
            s.evidence[0].contains("tag 1.4.9 is not in the registry (7 tags read"),
            "{:?}",
            s.evidence
        );
        assert!(
            s.evidence
                .iter()
                .any(|e| e.contains("highest patch of 1.4") && e.contains("1.4.0, 1.4.7")),
            "{:?}",
            s.evidence
        );
        assert!(
            s.evidence
                .iter()
                .any(|e| e.contains("newest stable: 2.0.0") && e.contains("2.1.0-beta.1")),
            "{:?}",
            s.evidence
        );
    }

    #[test]
    fn then_the_highest_of_the_same_major_then_the_nearest() {
        let t = tags(&["1.2.0", "1.9.3", "3.0.1", "3.1.0", "v4.0.0"]);
        let s = suggest_tags("1.4.2", &t);
        assert_eq!(s.closest.as_deref(), Some("1.9.3"));
        assert!(
            s.evidence.iter().any(|e| e.contains("major version 1")),
            "{:?}",
            s.evidence
        );
        let s = suggest_tags("2.5.0", &t);
        assert_eq!(s.closest.as_deref(), Some("1.9.3"), "nearest below");
        assert!(
            s.evidence
                .iter()
                .any(|e| e.contains("nearest version below 2.5.0")),
            "{:?}",
            s.evidence
        );
        let s = suggest_tags("0.1.0", &t);
        assert_eq!(s.closest.as_deref(), Some("1.2.0"), "nearest above");
        assert_eq!(s.newest_stable.as_deref(), Some("v4.0.0"));
    }

    #[test]
    fn the_v_prefix_is_matched_and_kept() {
        let s = suggest_tags("v1.4.9", &tags(&["1.4.7", "v1.4.7", "v1.3.0"]));
        assert_eq!(s.closest.as_deref(), Some("v1.4.7"));
        let s = suggest_tags("1.4.9", &tags(&["1.4.7", "v1.4.7", "v1.3.0"]));
        assert_eq!(s.closest.as_deref(), Some("1.4.7"));
        // A minor-only tag counts as .0, but a full version of the same is preferred.
        let s = suggest_tags("1.27.9", &tags(&["1.27", "1.26.3"]));
        assert_eq!(s.closest.as_deref(), Some("1.27"));
    }

    #[test]
    fn pre_releases_are_never_the_newest_stable_but_serve_when_nothing_else_does() {
        let s = suggest_tags("2.0.5", &tags(&["2.0.0-rc.1", "2.0.0-rc.2", "main"]));
        assert_eq!(s.newest_stable, None);
        assert_eq!(s.closest.as_deref(), Some("2.0.0-rc.2"));
        assert!(
            s.evidence
                .iter()
                .any(|e| e.contains("no tag is a stable semantic version"))
        );
    }

    #[test]
    fn text_tags_go_by_common_prefix_then_edits() {
        let t = tags(&[
            "main",
            "master",
            "latest",
            "1.0.0",
            "sha-3f9c2e1",
            "sha-77aa01b",
        ]);
        assert_eq!(suggest_tags("mian", &t).closest.as_deref(), Some("main"));
        assert_eq!(suggest_tags("lates", &t).closest.as_deref(), Some("latest"));
        assert_eq!(
            suggest_tags("sha-3f9c2e2", &t).closest.as_deref(),
            Some("sha-3f9c2e1")
        );
        let s = suggest_tags("zzzzzzzz", &t);
        assert_eq!(s.closest, None);
        assert!(
            s.evidence.iter().any(|e| e.contains("no tag resembles")),
            "{:?}",
            s.evidence
        );
        assert_eq!(s.newest_stable.as_deref(), Some("1.0.0"));
    }

    #[test]
    fn an_existing_tag_is_its_own_closest_and_no_tags_says_so() {
        let s = suggest_tags("1.0.0", &tags(&["1.0.0", "1.0.1"]));
        assert_eq!(s.closest.as_deref(), Some("1.0.0"));
        assert!(s.evidence[0].contains("exists"), "{:?}", s.evidence);
        assert_eq!(s.newest_stable.as_deref(), Some("1.0.1"));
        let s = suggest_tags("1.0.0", &[]);
        assert_eq!((s.closest, s.newest_stable), (None, None));
        assert_eq!(s.evidence, vec!["the repository has no tags".to_owned()]);
    }

    #[test]
    fn numbers_compare_as_numbers_not_text() {
        let s = suggest_tags("1.10.99", &tags(&["1.9.0", "1.10.2", "1.10.10", "1.2.0"]));
        assert_eq!(s.closest.as_deref(), Some("1.10.10"));
        assert_eq!(s.newest_stable.as_deref(), Some("1.10.10"));
    }
}
