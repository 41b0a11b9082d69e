//! `legacy-v0-1`: a test skill built against the frozen ABI
//! `guardian:skill@0.1.0` with raw wit-bindgen (not the SDK, which targets the
//! current ABI), to prove that the host keeps loading skills of older ABIs.

#[allow(unsafe_code)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/since_v0.1.0",
        world: "skill",
    });
}

use bindings::exports::guardian::skill::tools::{Guest, ToolError, ToolSpec};
use bindings::guardian::skill::kube;
use bindings::guardian::skill::log;
use bindings::guardian::skill::types::{Effect, Level, ListOptions};

struct Legacy;

impl Guest for Legacy {
    fn describe() -> Vec<ToolSpec> {
        vec![ToolSpec {
            name: "ping".into(),
            description:
                "Lists pods in every namespace and logs a line; returns the count and the ABI."
                    .into(),
            input_schema: r#"{"type":"object","properties":{}}"#.into(),
            effect: Effect::Read,
        }]
    }

    fn call(name: String, _input: String) -> Result<String, ToolError> {
        if name != "ping" {
            return Err(ToolError::Failed(format!(
                "unknown tool {name}; this skill has: ping"
            )));
        }
        let options = ListOptions {
            namespace: None,
            label_selector: None,
            field_selector: None,
            limit: None,
        };
        let list = kube::list("pods", &options).map_err(ToolError::Host)?;
        let list: serde_json::Value =
            serde_json::from_str(&list).map_err(|e| ToolError::Failed(format!("pod list: {e}")))?;
        let pods = list["items"].as_array().map_or(0, Vec::len);
        log::log(Level::Info, &format!("legacy-v0-1: {pods} pods"));
        Ok(format!(r#"{{"pods":{pods},"abi":"0.1.0"}}"#))
    }
}

// The export glue is generated `unsafe` code too.
#[allow(unsafe_code)]
mod export {
    use super::Legacy;
    crate::bindings::export!(Legacy with_types_in crate::bindings);
}
