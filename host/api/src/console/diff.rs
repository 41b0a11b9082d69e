//! A unified diff (the YAML diff of an object, or a Git change's file diff)
//! laid out side by side: the lines before on the left, after on the right,
//! removed and added lines paired up, with their line numbers. Everything
//! is escaped: a diff line is text, whatever it holds.

use super::html::esc;

/// One row of the side-by-side view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Row {
    /// A file's header (`diff --git …`, or the `---`/`+++` names).
    File(String),
    /// A hunk's header (`@@ -1,4 +1,5 @@`).
    Hunk(String),
    /// A line on both sides (`changed: false`), or a removed line and/or an
    /// added one (`changed: true`).
    Line {
        old: Option<(usize, String)>,
        new: Option<(usize, String)>,
        changed: bool,
    },
    /// Text outside any hunk that is not a header (shown as is).
    Note(String),
}

/// `@@ -12,3 +12,4 @@` → (12, 3, 12, 4).
fn hunk_header(line: &str) -> Option<(usize, usize, usize, usize)> {
    let rest = line.strip_prefix("@@ -")?;
    let (ranges, _) = rest.split_once(" @@")?;
    let (old, new) = ranges.split_once(" +")?;
    let range = |r: &str| -> Option<(usize, usize)> {
        match r.split_once(',') {
            Some((start, len)) => Some((start.parse().ok()?, len.parse().ok()?)),
            None => Some((r.parse().ok()?, 1)),
        }
    };
    let (a, b) = range(old)?;
    let (c, d) = range(new)?;
    Some((a, b, c, d))
}

/// The rows of `diff`.
pub fn rows(diff: &str) -> Vec<Row> {
    let mut out = Vec::new();
    let (mut old_no, mut new_no) = (0usize, 0usize);
    // Lines still expected in the current hunk (old side, new side); a
    // hunk whose header did not parse is read until the next header.
    let mut left: Option<(usize, usize)> = None;
    let mut in_hunk = false;
    let mut dels: Vec<(usize, String)> = Vec::new();
    let mut adds: Vec<(usize, String)> = Vec::new();
    let flush =
        |out: &mut Vec<Row>, dels: &mut Vec<(usize, String)>, adds: &mut Vec<(usize, String)>| {
            let n = dels.len().max(adds.len());
            let mut d = dels.drain(..);
            let mut a = adds.drain(..);
            for _ in 0..n {
                out.push(Row::Line {
                    old: d.next(),
                    new: a.next(),
                    changed: true,
                });
            }
        };
    for line in diff.lines() {
        if in_hunk && left == Some((0, 0)) {
            in_hunk = false;
        }
        if line.starts_with("@@ ") {
            flush(&mut out, &mut dels, &mut adds);
            let parsed = hunk_header(line);
            if let Some((a, b, c, d)) = parsed {
                old_no = a;
                new_no = c;
                left = Some((b, d));
            } else {
                left = None;
            }
            in_hunk = true;
            out.push(Row::Hunk(line.to_owned()));
            continue;
        }
        if !in_hunk || line.starts_with("diff --git ") {
            flush(&mut out, &mut dels, &mut adds);
            in_hunk = false;
            if line.starts_with("diff --git ")
                || line.starts_with("--- ")
                || line.starts_with("+++ ")
                || line.starts_with("index ")
                || line.starts_with("new file mode")
                || line.starts_with("deleted file mode")
            {
                out.push(Row::File(line.to_owned()));
            } else if !line.is_empty() {
                out.push(Row::Note(line.to_owned()));
            }
            continue;
        }
        let (kind, text) = match line.chars().next() {
            Some(c @ ('-' | '+' | ' ')) => (c, &line[1..]),
            Some('\\') => continue, // "\ No newline at end of file"
            // An empty line in a hunk is an empty context line.
            None => (' ', ""),
            Some(_) => (' ', line),
        };
        match kind {
            '-' => {
                dels.push((old_no, text.to_owned()));
                old_no += 1;
                if let Some((o, _)) = &mut left {
                    *o = o.saturating_sub(1);
                }
            }
            '+' => {
                adds.push((new_no, text.to_owned()));
                new_no += 1;
                if let Some((_, n)) = &mut left {
                    *n = n.saturating_sub(1);
                }
            }
            _ => {
                flush(&mut out, &mut dels, &mut adds);
                out.push(Row::Line {
                    old: Some((old_no, text.to_owned())),
                    new: Some((new_no, text.to_owned())),
                    changed: false,
                });
                old_no += 1;
                new_no += 1;
                if let Some((o, n)) = &mut left {
                    *o = o.saturating_sub(1);
                    *n = n.saturating_sub(1);
                }
            }
        }
    }
    flush(&mut out, &mut dels, &mut adds);
    out
}

/// Lines removed and added.
pub fn counts(rows: &[Row]) -> (usize, usize) {
    rows.iter().fold((0, 0), |(d, a), r| match r {
        Row::Line {
            old,
            new,
            changed: true,
        } => (
            d + usize::from(old.is_some()),
            a + usize::from(new.is_some()),
        ),
        _ => (d, a),
    })
}

/// The side-by-side table of `diff` (escaped), inside a scrolling wrapper.
pub fn render(diff: &str, caption: &str) -> String {
    let rows = rows(diff);
    if rows.is_empty() {
        return "<p class=\"muted\">The diff is empty.</p>".into();
    }
    let (removed, added) = counts(&rows);
    let mut out = format!(
        "<p class=\"diff-counts\"><span class=\"count-del\">{removed} line{} removed</span>, <span class=\"count-add\">{added} line{} added</span></p>\n\
         <div class=\"diff-wrap\" role=\"region\" aria-label=\"{cap}\" tabindex=\"0\">\
         <table class=\"diff\"><caption class=\"sr\">{cap}</caption>\
         <thead><tr><th scope=\"col\" class=\"ln\">#</th><th scope=\"col\">Before</th><th scope=\"col\" class=\"ln\">#</th><th scope=\"col\">After</th></tr></thead><tbody>\n",
        if removed == 1 { "" } else { "s" },
        if added == 1 { "" } else { "s" },
        cap = esc(caption),
    );
    let cell = |side: &Option<(usize, String)>, class: &str, tag: &str| -> String {
        match side {
            Some((no, text)) if tag.is_empty() => format!(
                "<td class=\"ln\">{no}</td><td class=\"code {class}\">{}</td>",
                esc(text)
            ),
            Some((no, text)) => format!(
                "<td class=\"ln\">{no}</td><td class=\"code {class}\"><{tag}>{}</{tag}></td>",
                esc(text)
            ),
            None => "<td class=\"ln\"></td><td class=\"code empty\"></td>".into(),
        }
    };
    for row in &rows {
        match row {
            Row::File(t) => out.push_str(&format!(
                "<tr class=\"file\"><th scope=\"rowgroup\" colspan=\"4\">{}</th></tr>\n",
                esc(t)
            )),
            Row::Hunk(t) => out.push_str(&format!(
                "<tr class=\"hunk\"><td colspan=\"4\">{}</td></tr>\n",
                esc(t)
            )),
            Row::Note(t) => out.push_str(&format!(
                "<tr class=\"note\"><td colspan=\"4\">{}</td></tr>\n",
                esc(t)
            )),
            Row::Line {
                old, new, changed, ..
            } => {
                let (l, r) = if *changed {
                    (cell(old, "del", "del"), cell(new, "add", "ins"))
                } else {
                    (cell(old, "ctx", ""), cell(new, "ctx", ""))
                };
                out.push_str(&format!("<tr>{l}{r}</tr>\n"));
            }
        }
    }
    out.push_str("</tbody></table></div>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "--- a/deployments.apps shop/web\n+++ b/deployments.apps shop/web\n@@ -10,5 +10,6 @@\n   template:\n     spec:\n-      image: nginx:1.0\n+      image: nginx:1.1\n+      imagePullPolicy: Always\n       name: web\n";

    #[test]
    fn removed_and_added_lines_are_paired_with_their_numbers() {
        let rows = rows(YAML);
        assert_eq!(rows[0], Row::File("--- a/deployments.apps shop/web".into()));
        assert_eq!(rows[1], Row::File("+++ b/deployments.apps shop/web".into()));
        assert_eq!(rows[2], Row::Hunk("@@ -10,5 +10,6 @@".into()));
        assert_eq!(
            rows[3],
            Row::Line {
                old: Some((10, "  template:".into())),
                new: Some((10, "  template:".into())),
                changed: false
            }
        );
        assert_eq!(
            rows[5],
            Row::Line {
                old: Some((12, "      image: nginx:1.0".into())),
                new: Some((12, "      image: nginx:1.1".into())),
                changed: true
            }
        );
        assert_eq!(
            rows[6],
            Row::Line {
                old: None,
                new: Some((13, "      imagePullPolicy: Always".into())),
                changed: true
            }
        );
        assert_eq!(
            rows[7],
            Row::Line {
                old: Some((13, "      name: web".into())),
                new: Some((14, "      name: web".into())),
                changed: false
            }
        );
        assert_eq!(counts(&rows), (1, 2));
    }

    #[test]
    fn a_removed_line_that_looks_like_a_header_stays_in_its_hunk() {
        let diff = "--- a/x\n+++ b/x\n@@ -1,2 +1,1 @@\n--- not a header\n keep\n";
        let rows = rows(diff);
        assert_eq!(
            rows[3],
            Row::Line {
                old: Some((1, "-- not a header".into())),
                new: None,
                changed: true
            }
        );
    }

    #[test]
    fn git_file_diffs_get_a_header_per_file() {
        let diff = "diff --git a/apps/web.yaml b/apps/web.yaml\n--- a/apps/web.yaml\n+++ b/apps/web.yaml\n@@ -1 +1 @@\n-image: a\n+image: b\ndiff --git a/apps/db.yaml b/apps/db.yaml\n--- /dev/null\n+++ b/apps/db.yaml\n@@ -0,0 +1 @@\n+kind: x\n";
        let rows = rows(diff);
        let files: Vec<_> = rows
            .iter()
            .filter_map(|r| match r {
                Row::File(t) if t.starts_with("diff --git") => Some(t.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(files.len(), 2);
        assert_eq!(counts(&rows), (1, 2));
    }

    #[test]
    fn every_line_is_escaped() {
        let diff = "--- a/<b>\n+++ b/<b>\n@@ -1 +1 @@\n-name: <script>alert(1)</script>\n+name: \"x\" & 'y'\n";
        let html = render(diff, "the <change>");
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("&quot;x&quot; &amp; &#39;y&#39;"), "{html}");
        assert!(html.contains("a/&lt;b&gt;"), "{html}");
        assert!(html.contains("the &lt;change&gt;"), "{html}");
        assert!(html.contains("<del>") && html.contains("<ins>"), "{html}");
    }
}
