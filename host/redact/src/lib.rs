//! Secret redaction: the last thing every object passes through on its way
//! out of the broker (safety invariant 4: Secret values never reach a skill
//! or an LLM).
//!
//! Values are replaced, keys are kept: a diagnosis often hinges on *which*
//! keys a Secret has ("couldn't find key password in Secret staging/auth-db")
//! and sometimes on whether two Secrets hold the same value, so the marker
//! carries the decoded length and a short sha256 prefix — enough to compare,
//! far too little to recover a value.
//!
//! One file per job: `secrets.rs` (Secret values), `text.rs` (credential-
//! shaped text), `fields.rs` (where in an object such text sits: env values,
//! command lines, annotations, status and event messages, ConfigMap values,
//! the last-applied configuration) and `omit.rs` (ConfigMap values left out
//! of list answers).
//!
//! **Architecture invariant:** pure functions over JSON and text — no IO, no
//! state. The broker applies them to everything that leaves it, the
//! snapshot store when it loads, `snapshot capture` before it writes and
//! `snapshot serve` before it answers; all of them with these same rules.

mod fields;
pub mod omit;
#[cfg(test)]
mod samples;
mod secrets;
mod text;

pub use fields::{env_name_is_secret, env_values, env_values_needed, event_messages};
pub use secrets::{
    LAST_APPLIED_ANNOTATION, is_marker, list_item, list_item_needs_redaction, marker, object,
    shared_item,
};
pub use text::text;

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use serde_json::Value;

    use super::*;
    use crate::samples::*;

    #[test]
    fn text_changes_nothing_else_in_the_staging_snapshot() {
        // Every log line, event message and object of the example cluster
        // that holds no secret stays byte for byte the same.
        let mut changed_lines = Vec::new();
        for entry in std::fs::read_dir(STAGING).expect("staging dir") {
            let dir = entry.expect("entry").path();
            let Ok(log) = std::fs::read_to_string(dir.join("logs.txt")) else {
                continue;
            };
            for line in log.lines() {
                if let Cow::Owned(after) = text(line) {
                    changed_lines.push(after);
                }
            }
        }
        assert_eq!(changed_lines.len(), 3, "{changed_lines:#?}");

        let events: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{STAGING}/events.json")).expect("events"),
        )
        .expect("json");
        let mut redacted = events.clone();
        event_messages(&mut redacted);
        assert_eq!(redacted, events);

        for file in [
            "pods.json",
            "deployments.json",
            "replicasets.json",
            "daemonsets.json",
        ] {
            let list: Value = serde_json::from_str(
                &std::fs::read_to_string(format!("{STAGING}/{file}")).expect("list"),
            )
            .expect("json");
            assert!(!env_values_needed(&list), "{file}");
            let mut redacted = list.clone();
            env_values(&mut redacted);
            assert_eq!(redacted, list, "{file}");
        }
    }
}
