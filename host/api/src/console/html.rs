//! The console's pages, rendered on the server. Every value that comes
//! from outside this file — an object's name, a rationale, a diff line, an
//! audit reason, an identity — goes through [`esc`]; nothing else is
//! interpolated. No page has a script: forms and links do everything.

use chrono::{DateTime, Utc};
use guardian_actions::{Action, ActionKind, Integrity, State};
use guardian_core::actions::Check;
use guardian_core::audit_trail::AuditTrail;
use serde_json::Value;

use super::diff;
use super::session::WebSession;

/// `s` as HTML text or a double- or single-quoted attribute value.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The navigation: one entry per page, in order.
const NAV: &[(&str, &str)] = &[
    ("Actions", "/console/"),
    ("Investigations", "/console/investigations"),
];

/// A whole page around `body`. `current` is the navigation entry it is
/// under; `refresh` reloads it every so many seconds (an apply in
/// progress), without a script.
pub fn layout(
    title: &str,
    who: Option<&WebSession>,
    current: &str,
    refresh: Option<u32>,
    body: &str,
) -> String {
    let mut nav = String::new();
    if let Some(who) = who {
        nav.push_str("<nav aria-label=\"Console\"><ul>");
        for (name, href) in NAV {
            let here = if *name == current {
                " aria-current=\"page\""
            } else {
                ""
            };
            nav.push_str(&format!(
                "<li><a href=\"{}\"{here}>{}</a></li>",
                esc(href),
                esc(name)
            ));
        }
        nav.push_str(&format!(
            "</ul><div class=\"who\"><span>Signed in as <strong>{}</strong> ({})</span>\
             <form method=\"post\" action=\"/console/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">\
             <button type=\"submit\" class=\"link\">Sign out</button></form></div></nav>",
            esc(&who.identity.name),
            esc(who.identity.role.as_str()),
            esc(&who.csrf),
        ));
    }
    let refresh = refresh
        .map(|s| format!("<meta http-equiv=\"refresh\" content=\"{s}\">\n"))
        .unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n{refresh}\
         <title>{} · Guardian</title>\n<link rel=\"stylesheet\" href=\"/console/console.css\">\n</head>\n\
         <body>\n<a class=\"skip\" href=\"#main\">Skip to content</a>\n\
         <header class=\"top\"><a class=\"brand\" href=\"/console/\">Guardian</a>{nav}</header>\n\
         <main id=\"main\" tabindex=\"-1\">\n{body}\n</main>\n</body>\n</html>\n",
        esc(title)
    )
}

/// The sign-in form; `error` says why the last try failed.
pub fn login(csrf: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| {
            format!(
                "<p class=\"notice error\" role=\"alert\" id=\"login-error\">{}</p>",
                esc(e)
            )
        })
        .unwrap_or_default();
    let described = if error.is_empty() {
        ""
    } else {
        " aria-describedby=\"login-error\""
    };
    let body = format!(
        "<h1>Sign in</h1>\n{error}\
         <form method=\"post\" action=\"/console/login\" class=\"card login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"token\">Token</label>\
         <input id=\"token\" name=\"token\" type=\"password\" autocomplete=\"current-password\" required{described}>\
         <p class=\"hint\">The bearer token you were given in Guardian's tokens file (the same one gRPC and MCP take).</p>\
         <button type=\"submit\">Sign in</button></form>",
        esc(csrf)
    );
    layout("Sign in", None, "", None, &body)
}

/// An error page: `heading` and what went wrong.
pub fn error(who: Option<&WebSession>, heading: &str, message: &str) -> String {
    let back = if who.is_some() {
        "<p><a href=\"/console/\">Back to the actions</a></p>"
    } else {
        "<p><a href=\"/console/login\">Sign in</a></p>"
    };
    let body = format!(
        "<h1>{}</h1>\n<p class=\"notice error\" role=\"alert\">{}</p>\n{back}",
        esc(heading),
        esc(message)
    );
    layout(heading, who, "Actions", None, &body)
}

fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// `42s`, `5m`, `3h`, `2d`.
pub fn age(since: &DateTime<Utc>, now: &DateTime<Utc>) -> String {
    let s = (*now - *since).num_seconds().max(0);
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

fn state_badge(state: State) -> String {
    format!(
        "<span class=\"state state-{0}\">{0}</span>",
        esc(state.as_str())
    )
}

fn action_href(id: &str) -> String {
    format!("/console/actions/{}", esc(id))
}

fn kind_label(kind: &ActionKind) -> &'static str {
    match kind {
        ActionKind::GitChange => "Git change",
        ActionKind::ClusterPatch => "cluster patch",
    }
}

fn actions_table(actions: &[&Action], now: &DateTime<Utc>, caption: &str) -> String {
    if actions.is_empty() {
        return format!("<p class=\"muted\">No {}.</p>", esc(caption));
    }
    let mut out = format!(
        "<table class=\"list\"><caption class=\"sr\">{}</caption><thead><tr>\
         <th scope=\"col\">Action</th><th scope=\"col\">State</th><th scope=\"col\">Target</th>\
         <th scope=\"col\">Proposed by</th><th scope=\"col\">Age</th></tr></thead><tbody>\n",
        esc(caption)
    );
    for a in actions {
        out.push_str(&format!(
            "<tr><td data-label=\"Action\"><a href=\"{href}\">{id}</a><br><span class=\"muted\">{kind}</span></td>\
             <td data-label=\"State\">{state}</td><td data-label=\"Target\" class=\"target\">{target}</td>\
             <td data-label=\"Proposed by\">{proposer}</td>\
             <td data-label=\"Age\"><time datetime=\"{created}\" title=\"{created}\">{age}</time></td></tr>\n",
            href = action_href(&a.id),
            id = esc(&a.id),
            kind = kind_label(&a.kind),
            state = state_badge(a.state),
            target = esc(&a.target.label()),
            proposer = esc(&a.proposer.label()),
            created = esc(&time(&a.created)),
            age = esc(&age(&a.created, now)),
        ));
    }
    out.push_str("</tbody></table>\n");
    out
}

/// How many recent (not pending) actions the unfiltered list shows.
pub const RECENT: usize = 50;

/// The actions page: pending ones and the recent others, or those in
/// `filter`.
pub fn actions(who: &WebSession, actions: &[Action], filter: Option<State>) -> String {
    let now = Utc::now();
    let mut options = String::from("<option value=\"\">pending and recent</option>");
    for s in State::ALL {
        let selected = if filter == Some(s) { " selected" } else { "" };
        options.push_str(&format!(
            "<option value=\"{0}\"{selected}>{0}</option>",
            esc(s.as_str())
        ));
    }
    let mut body = format!(
        "<h1>Actions</h1>\n<form method=\"get\" action=\"/console/\" class=\"filter\">\
         <label for=\"state\">Show</label><select id=\"state\" name=\"state\">{options}</select>\
         <button type=\"submit\">Filter</button></form>\n"
    );
    match filter {
        Some(state) => {
            let shown: Vec<&Action> = actions.iter().filter(|a| a.state == state).collect();
            body.push_str(&format!(
                "<section aria-labelledby=\"h-filtered\"><h2 id=\"h-filtered\">{} ({})</h2>\n{}</section>",
                esc(state.as_str()),
                shown.len(),
                actions_table(&shown, &now, &format!("{state} actions"))
            ));
        }
        None => {
            let pending: Vec<&Action> = actions
                .iter()
                .filter(|a| a.state == State::Pending)
                .collect();
            let recent: Vec<&Action> = actions
                .iter()
                .filter(|a| a.state != State::Pending)
                .take(RECENT)
                .collect();
            body.push_str(&format!(
                "<section aria-labelledby=\"h-pending\"><h2 id=\"h-pending\">Pending ({})</h2>\n{}</section>\n\
                 <section aria-labelledby=\"h-recent\"><h2 id=\"h-recent\">Recent</h2>\n{}</section>",
                pending.len(),
                actions_table(&pending, &now, "pending actions"),
                actions_table(&recent, &now, "recent actions"),
            ));
        }
    }
    layout("Actions", Some(who), "Actions", None, &body)
}

/// A message at the top of the action page.
pub enum Notice {
    Info(String),
    Error(String),
}

/// What the action page offers the person looking at it.
pub struct Decision<'a> {
    /// They may approve or reject (approver role, the action can still be
    /// decided, its row is authentic).
    pub can_decide: bool,
    /// What `seen` carries in the approve form: the digest of the change
    /// shown ([`super::seen_digest`]).
    pub seen: &'a str,
}

fn row(out: &mut String, key: &str, value_html: &str) {
    out.push_str(&format!("<dt>{}</dt><dd>{value_html}</dd>", esc(key)));
}

/// One action: what it changes and why, the change as it would be applied
/// now, the checks, the decision (for an approver), its history and its
/// audit trail.
pub fn action(
    who: &WebSession,
    a: &Action,
    check: &Check,
    trail: &Result<AuditTrail, String>,
    notices: &[Notice],
    decision: &Decision<'_>,
) -> String {
    let mut body = format!(
        "<p class=\"crumbs\"><a href=\"/console/\">Actions</a> / {id}</p>\n\
         <h1>{target} <span class=\"muted\">{id}</span></h1>\n<p>{state} <span class=\"muted\">{kind}</span></p>\n",
        id = esc(&a.id),
        target = esc(&a.target.label()),
        state = state_badge(a.state),
        kind = kind_label(&a.kind),
    );
    for n in notices {
        let (class, role, text) = match n {
            Notice::Info(t) => ("info", "status", t),
            Notice::Error(t) => ("error", "alert", t),
        };
        body.push_str(&format!(
            "<p class=\"notice {class}\" role=\"{role}\">{}</p>\n",
            esc(text)
        ));
    }

    // The facts.
    let mut dl = String::from("<dl class=\"facts\">");
    row(
        &mut dl,
        "Target",
        &format!(
            "{} <span class=\"muted\">({} {})</span>",
            esc(&a.target.label()),
            esc(&a.target.api_version),
            esc(&a.target.kind)
        ),
    );
    row(
        &mut dl,
        "Lands in",
        match a.kind {
            ActionKind::GitChange => "Git (a branch and a pull request)",
            ActionKind::ClusterPatch => "the cluster (a patch)",
        },
    );
    row(&mut dl, "Proposed by", &esc(&a.proposer.label()));
    row(
        &mut dl,
        "Created",
        &format!(
            "<time datetime=\"{0}\">{0}</time> ({1} ago)",
            esc(&time(&a.created)),
            esc(&age(&a.created, &Utc::now()))
        ),
    );
    row(
        &mut dl,
        "Expires",
        &format!("<time datetime=\"{0}\">{0}</time>", esc(&time(&a.expires))),
    );
    if let Some(approver) = &a.approver {
        row(&mut dl, "Decided by", &esc(&approver.label()));
    }
    if let Some(outcome) = &a.outcome {
        row(&mut dl, "Outcome", &esc(outcome));
    }
    row(
        &mut dl,
        "Integrity",
        &match &a.integrity {
            Integrity::Verified => "verified (its MACs match)".to_owned(),
            Integrity::Tampered { reason } => format!(
                "<strong class=\"bad\">TAMPERED</strong> — {}; it will never be applied",
                esc(reason)
            ),
            Integrity::Unauthenticated { reason } => format!(
                "<strong class=\"bad\">NOT AUTHENTICATED</strong> — {}",
                esc(reason)
            ),
            Integrity::KeyUnavailable { reason } => format!(
                "<strong class=\"bad\">CANNOT BE CHECKED</strong> — {}",
                esc(reason)
            ),
        },
    );
    row(
        &mut dl,
        "Policy decision",
        &format!("<code>{}</code>", esc(&a.policy_decision)),
    );
    row(
        &mut dl,
        "Dry run (at proposal)",
        &format!(
            "<span class=\"pre\">{}</span>",
            esc(a.dry_run_result.trim())
        ),
    );
    dl.push_str("</dl>");
    body.push_str(&format!(
        "<section aria-labelledby=\"h-facts\"><h2 id=\"h-facts\" class=\"sr\">Facts</h2>{dl}</section>\n"
    ));

    body.push_str(&format!(
        "<section aria-labelledby=\"h-why\"><h2 id=\"h-why\">Rationale</h2><p class=\"pre\">{}</p></section>\n",
        esc(a.rationale.trim())
    ));

    // The change.
    let git = a.kind == ActionKind::GitChange;
    body.push_str("<section aria-labelledby=\"h-change\"><h2 id=\"h-change\">Change</h2>\n");
    match check {
        Check::Checked(p) => {
            let what = if git {
                format!(
                    "The files this change commits in Git (base commit <code>{}</code>). Checks: {}",
                    esc(&p.resource_version),
                    esc(&p.dry_run)
                )
            } else {
                format!(
                    "The write as it would be applied now, dry-run against the object (resourceVersion <code>{}</code>): <strong>{}</strong>. Guardian also sets <code>{}</code> to <code>{}</code>.",
                    esc(&p.resource_version),
                    esc(&p.dry_run),
                    esc(guardian_actions::ACTION_ANNOTATION),
                    esc(&a.id)
                )
            };
            body.push_str(&format!("<p class=\"verdict ok\">{what}</p>\n"));
            body.push_str(&diff::render(&p.diff, &format!("The change to {}", a.target.label())));
        }
        Check::AsProposed(why) => {
            body.push_str(&format!(
                "<p class=\"verdict warn\">As proposed; not checked now: {}.</p>\n",
                esc(why)
            ));
            body.push_str(&diff::render(
                &a.diff,
                &format!("The change to {}, as proposed", a.target.label()),
            ));
        }
        Check::Withheld => body.push_str(
            "<p class=\"verdict bad\">No diff is shown: the action's row failed its integrity check.</p>\n",
        ),
    }
    body.push_str("</section>\n");

    if let Some(g) = &a.git {
        let mut dl = String::from("<dl class=\"facts\">");
        if let Some(b) = &g.branch {
            row(&mut dl, "Branch", &format!("<code>{}</code>", esc(b)));
        }
        if let Some(c) = &g.commit {
            row(&mut dl, "Commit", &format!("<code>{}</code>", esc(c)));
        }
        if let Some(n) = g.pull_request {
            let url = g.pull_request_url.as_deref().unwrap_or("");
            let link = if url.starts_with("https://") || url.starts_with("http://") {
                format!(
                    "#{n} <a href=\"{0}\" rel=\"noreferrer noopener\">{0}</a>",
                    esc(url)
                )
            } else {
                format!("#{n} {}", esc(url))
            };
            row(&mut dl, "Pull request", &link);
        }
        if let Some(m) = &g.merge_commit {
            row(&mut dl, "Merged as", &format!("<code>{}</code>", esc(m)));
        }
        if let Some(s) = &g.sync_action {
            row(
                &mut dl,
                "Sync action",
                &format!("<a href=\"{}\">{}</a>", action_href(s), esc(s)),
            );
        }
        dl.push_str("</dl>");
        body.push_str(&format!(
            "<section aria-labelledby=\"h-git\"><h2 id=\"h-git\">Git progress</h2>{dl}</section>\n"
        ));
    }

    // The decision.
    body.push_str("<section aria-labelledby=\"h-decide\"><h2 id=\"h-decide\">Decision</h2>\n");
    if decision.can_decide {
        let approve_label = if git {
            "Approve: push and open the pull request"
        } else {
            "Approve and apply"
        };
        let rollout = if git {
            String::new()
        } else {
            "<label for=\"rollout\">Then wait for the rollout</label>\
             <select id=\"rollout\" name=\"rollout\"><option value=\"60\" selected>up to 60 seconds</option>\
             <option value=\"300\">up to 5 minutes</option><option value=\"0\">do not wait</option></select>"
                .to_owned()
        };
        body.push_str(&format!(
            "<div class=\"decide\">\
             <form method=\"post\" action=\"{href}/approve\" class=\"card\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\"><input type=\"hidden\" name=\"seen\" value=\"{seen}\">\
             <p>Approving applies exactly the change shown above, checked again now; if it is no longer what is shown, nothing is applied and the new change is shown instead.</p>\
             {rollout}<button type=\"submit\" id=\"approve\" class=\"approve\">{approve_label}</button></form>\
             <form method=\"post\" action=\"{href}/reject\" class=\"card\">\
             <input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
             <label for=\"reason\">Reason for rejecting</label><input id=\"reason\" name=\"reason\" type=\"text\" maxlength=\"1000\">\
             <button type=\"submit\" id=\"reject\" class=\"reject\">Reject</button></form></div>\n",
            href = action_href(&a.id),
            csrf = esc(&who.csrf),
            seen = esc(decision.seen),
        ));
    } else if a.state.is_final() || !matches!(a.state, State::Pending | State::Approved) {
        body.push_str(&format!(
            "<p class=\"muted\">Nothing to decide: the action is {}.</p>\n",
            esc(a.state.as_str())
        ));
    } else if who.identity.role < crate::auth::Role::Approver {
        body.push_str(&format!(
            "<p class=\"muted\" id=\"no-decision\">You are signed in as {} ({}): approving or rejecting needs the approver role.</p>\n",
            esc(&who.identity.name),
            esc(who.identity.role.as_str())
        ));
    } else {
        body.push_str(
            "<p class=\"muted\">This action cannot be decided here now (its row failed its integrity check, or the server is shutting down).</p>\n",
        );
    }
    body.push_str("</section>\n");

    // History.
    let mut hist = String::from(
        "<table class=\"list\"><caption class=\"sr\">History</caption><thead><tr><th scope=\"col\">State</th><th scope=\"col\">Who</th><th scope=\"col\">When</th><th scope=\"col\">Note</th></tr></thead><tbody>",
    );
    for t in &a.history {
        hist.push_str(&format!(
            "<tr><td data-label=\"State\">{}</td><td data-label=\"Who\">{}</td><td data-label=\"When\"><time datetime=\"{2}\">{2}</time></td><td data-label=\"Note\" class=\"pre\">{3}</td></tr>",
            state_badge(t.state),
            esc(&t.who),
            esc(&time(&t.at)),
            esc(&t.note)
        ));
    }
    hist.push_str("</tbody></table>");
    body.push_str(&format!(
        "<section aria-labelledby=\"h-history\"><h2 id=\"h-history\">History</h2>{hist}</section>\n"
    ));

    body.push_str(&format!(
        "<section aria-labelledby=\"h-audit\" id=\"audit\"><h2 id=\"h-audit\">Audit trail</h2>\
         <p><a href=\"{}/audit\">The audit trail on its own page</a></p>{}</section>\n",
        action_href(&a.id),
        audit_table(trail)
    ));

    let refresh = matches!(a.state, State::Approved | State::Applying).then_some(3);
    layout(&a.id, Some(who), "Actions", refresh, &body)
}

/// The audit trail of one action, on its own page.
pub fn audit(who: &WebSession, a: &Action, trail: &Result<AuditTrail, String>) -> String {
    let body = format!(
        "<p class=\"crumbs\"><a href=\"/console/\">Actions</a> / <a href=\"{href}\">{id}</a> / audit trail</p>\n\
         <h1>Audit trail of {id}</h1>\n<p>{target} {state}</p>\n{}",
        audit_table(trail),
        href = action_href(&a.id),
        id = esc(&a.id),
        target = esc(&a.target.label()),
        state = state_badge(a.state),
    );
    layout(
        &format!("Audit trail of {}", a.id),
        Some(who),
        "Actions",
        None,
        &body,
    )
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// The audit lines as a table: when, what kind, who, about what, detail.
fn audit_table(trail: &Result<AuditTrail, String>) -> String {
    let trail = match trail {
        Ok(t) => t,
        Err(e) => {
            return format!(
                "<p class=\"notice error\">The audit log could not be read: {}</p>",
                esc(e)
            );
        }
    };
    if let Some(why) = &trail.unavailable {
        return format!("<p class=\"notice warn\">{}</p>", esc(why));
    }
    if trail.lines.is_empty() {
        return "<p class=\"muted\">The audit log has no line about this action.</p>".into();
    }
    let mut out = String::new();
    if trail.omitted > 0 {
        out.push_str(&format!(
            "<p class=\"muted\">{} older lines are not shown.</p>",
            trail.omitted
        ));
    }
    out.push_str(
        "<table class=\"list audit\"><caption class=\"sr\">Audit lines</caption><thead><tr><th scope=\"col\">Time</th><th scope=\"col\">Event</th><th scope=\"col\">Who</th><th scope=\"col\">What</th><th scope=\"col\">Detail</th></tr></thead><tbody>\n",
    );
    for line in &trail.lines {
        let (event, who, what, detail) = match s(line, "event") {
            "action" => (
                format!(
                    "action: {} → {}",
                    line.get("from").and_then(Value::as_str).unwrap_or("new"),
                    s(line, "to")
                ),
                s(line, "who").to_owned(),
                s(line, "target").to_owned(),
                s(line, "note").to_owned(),
            ),
            "access" => (
                format!("refused: {}", s(line, "decision")),
                s(line, "caller").to_owned(),
                format!("{} {}", s(line, "channel"), s(line, "method")),
                s(line, "reason").to_owned(),
            ),
            "" if line.get("decision").is_some() => {
                let mut what = format!("{} {}", s(line, "verb"), s(line, "resource"));
                let (ns, name) = (s(line, "namespace"), s(line, "name"));
                match (ns.is_empty(), name.is_empty()) {
                    (false, false) => what.push_str(&format!(" {ns}/{name}")),
                    (false, true) => what.push_str(&format!(" in {ns}")),
                    (true, false) => what.push_str(&format!(" {name}")),
                    (true, true) => {}
                }
                if line.get("dry_run").and_then(Value::as_bool) == Some(true) {
                    what.push_str(" (dry run)");
                }
                let reasons: Vec<&str> = line
                    .get("reasons")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let mut detail = format!("rule {}: {}", s(line, "rule"), reasons.join("; "));
                if let Some(e) = line.get("error").and_then(Value::as_str) {
                    detail.push_str(&format!(" (error: {e})"));
                }
                (
                    format!("decision: {}", s(line, "decision")),
                    s(line, "caller").to_owned(),
                    what,
                    detail,
                )
            }
            other => (
                other.to_owned(),
                String::new(),
                String::new(),
                line.to_string(),
            ),
        };
        out.push_str(&format!(
            "<tr><td data-label=\"Time\"><time datetime=\"{0}\">{0}</time></td><td data-label=\"Event\">{1}</td><td data-label=\"Who\">{2}</td><td data-label=\"What\">{3}</td><td data-label=\"Detail\" class=\"pre\">{4}</td></tr>\n",
            esc(s(line, "time")),
            esc(&event),
            esc(&who),
            esc(&what),
            esc(&detail),
        ));
    }
    out.push_str("</tbody></table>");
    out
}

/// What an investigation's target is, in words.
fn investigation_target(i: &guardian_core::Investigation) -> String {
    match &i.target {
        Some(t) => match &t.namespace {
            Some(ns) => format!("{} {ns}/{}", t.kind, t.name),
            None => format!("{} {}", t.kind, t.name),
        },
        None => format!(
            "not mapped: {}",
            i.unmapped.as_deref().unwrap_or("no target")
        ),
    }
}

/// The investigations, newest first: the alert, the target, the state, how
/// many findings and proposals.
pub fn investigations(who: &WebSession, list: &[guardian_core::Investigation]) -> String {
    let mut body = String::from("<h1>Investigations</h1>\n");
    if list.is_empty() {
        body.push_str("<p>No investigation yet: none was started by an alert or a person.</p>");
    } else {
        body.push_str(
            "<table><caption>Investigations, newest first</caption><thead><tr>\
             <th scope=\"col\">Investigation</th><th scope=\"col\">Alert</th>\
             <th scope=\"col\">Target</th><th scope=\"col\">State</th>\
             <th scope=\"col\">Findings</th><th scope=\"col\">Proposed</th>\
             <th scope=\"col\">Started</th></tr></thead><tbody>",
        );
        for i in list {
            body.push_str(&format!(
                "<tr><td><a href=\"/console/investigations/{id}\">{id}</a></td><td>{alert}</td>\
                 <td>{target}</td><td>{state}</td><td>{findings}</td><td>{actions}</td><td>{created}</td></tr>",
                id = esc(&i.id),
                alert = esc(i.alert.as_ref().map(|a| a.alertname.as_str()).unwrap_or("-")),
                target = esc(&investigation_target(i)),
                state = esc(i.state.as_str()),
                findings = i.findings.len(),
                actions = i.actions.len(),
                created = esc(&i.created),
            ));
        }
        body.push_str("</tbody></table>");
    }
    layout("Investigations", Some(who), "Investigations", None, &body)
}

/// One investigation: the alert, the target, what was read, the findings
/// with their root causes, and its proposals (each a link to its page).
pub fn investigation(who: &WebSession, i: &guardian_core::Investigation) -> String {
    let mut body = format!("<h1>Investigation {}</h1>\n<dl>", esc(&i.id));
    row(&mut body, "State", &esc(i.state.as_str()));
    row(&mut body, "Started by", &esc(&i.started_by));
    if let Some(a) = &i.alert {
        row(
            &mut body,
            "Alert",
            &format!("{} ({})", esc(&a.alertname), esc(&a.status)),
        );
    }
    row(&mut body, "Target", &esc(&investigation_target(i)));
    row(&mut body, "Read", &esc(&i.scope_read));
    if let Some(e) = &i.error {
        row(&mut body, "Error", &esc(e));
    }
    body.push_str("</dl>\n<h2>Findings</h2>\n");
    if i.findings.is_empty() {
        body.push_str(&format!(
            "<p>No finding about the target in what was read ({}).</p>",
            esc(&i.scope_read)
        ));
    } else {
        body.push_str("<ul>");
        for f in &i.findings {
            body.push_str(&format!(
                "<li><strong>{}</strong> {} {}: {}</li>",
                esc(f["reason"].as_str().unwrap_or("?")),
                esc(f["object"]["kind"].as_str().unwrap_or("")),
                esc(f["object"]["name"].as_str().unwrap_or("")),
                esc(f["root_cause"]
                    .as_str()
                    .or(f["cause"].as_str())
                    .unwrap_or("")),
            ));
        }
        body.push_str("</ul>");
    }
    body.push_str("\n<h2>Proposed</h2>\n");
    if i.actions.is_empty() {
        body.push_str("<p>Nothing was proposed.</p>");
    } else {
        body.push_str("<ul>");
        for a in &i.actions {
            body.push_str(&format!(
                "<li><a href=\"/console/actions/{0}\">{0}</a></li>",
                esc(a)
            ));
        }
        body.push_str("</ul>");
    }
    layout("Investigation", Some(who), "Investigations", None, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Identity, Role};
    use serde_json::json;

    #[test]
    fn esc_leaves_no_markup() {
        assert_eq!(
            esc("<script>alert(\"x\")</script> & 'y'"),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        assert_eq!(esc("plain-name"), "plain-name");
    }

    #[test]
    fn ages_are_short() {
        let now = Utc::now();
        assert_eq!(age(&(now - chrono::TimeDelta::seconds(5)), &now), "5s");
        assert_eq!(age(&(now - chrono::TimeDelta::minutes(5)), &now), "5m");
        assert_eq!(age(&(now - chrono::TimeDelta::hours(5)), &now), "5h");
        assert_eq!(age(&(now - chrono::TimeDelta::days(5)), &now), "5d");
        assert_eq!(age(&(now + chrono::TimeDelta::days(1)), &now), "0s");
    }

    fn who() -> WebSession {
        let sessions = super::super::session::Sessions::default();
        sessions
            .create(Identity {
                name: "bob<i>".into(),
                role: Role::Viewer,
            })
            .1
    }

    #[test]
    fn the_layout_escapes_the_identity_and_loads_only_its_own_stylesheet() {
        let page = layout("a <title>", Some(&who()), "Actions", None, "<p>body</p>");
        assert!(page.contains("bob&lt;i&gt;"), "{page}");
        assert!(page.contains("a &lt;title&gt; · Guardian"), "{page}");
        assert!(!page.contains("<script"), "{page}");
        assert!(
            page.contains("<link rel=\"stylesheet\" href=\"/console/console.css\">"),
            "{page}"
        );
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "{page}"
        );
        assert!(page.contains("aria-current=\"page\""), "{page}");
    }

    #[test]
    fn audit_lines_are_escaped() {
        let trail = Ok(AuditTrail {
            action: "act-x".into(),
            lines: vec![
                json!({"time": "t", "event": "action", "from": null, "to": "pending", "who": "<b>who</b>", "target": "pods ns/<script>", "note": "n"}),
                json!({"time": "t", "event": "access", "channel": "web", "method": "console approve act-x", "caller": "web:bob", "decision": "permission-denied", "reason": "<i>no</i>"}),
                json!({"time": "t", "caller": "human:alice", "verb": "patch", "resource": "apps/v1/deployments", "namespace": "ns", "name": "<x>", "dry_run": false, "decision": "allow", "rule": "approved-action", "reasons": ["action act-x approved by human:alice"]}),
            ],
            omitted: 0,
            unavailable: None,
        });
        let html = audit_table(&trail);
        assert!(!html.contains("<script>") && !html.contains("<b>") && !html.contains("<i>"));
        assert!(html.contains("pods ns/&lt;script&gt;"), "{html}");
        assert!(html.contains("action: new → pending"), "{html}");
        assert!(html.contains("refused: permission-denied"), "{html}");
        assert!(
            html.contains("patch apps/v1/deployments ns/&lt;x&gt;"),
            "{html}"
        );
        let none = audit_table(&Ok(AuditTrail {
            unavailable: Some("no audit log is kept".into()),
            ..AuditTrail::default()
        }));
        assert!(none.contains("no audit log is kept"), "{none}");
    }
}
