//! `hostile-fs`: a test skill whose tool reads a file, so its component
//! imports `wasi:filesystem/*`. The host must refuse to load it.

use guardian_skill_sdk::{Effect, NoInput, Tool, ToolError, skill};
use serde_json::{Value, json};

skill!(ReadFile);

pub struct ReadFile;
impl Tool for ReadFile {
    const NAME: &'static str = "read-file";
    const DESCRIPTION: &'static str = "Reads /etc/passwd.";
    const EFFECT: Effect = Effect::Read;
    type Input = NoInput;
    type Output = Value;
    fn run(_input: NoInput) -> Result<Value, ToolError> {
        match std::fs::read_to_string("/etc/passwd") {
            Ok(text) => Ok(json!({"passwd": text})),
            Err(e) => Err(ToolError::failed(format!("read /etc/passwd: {e}"))),
        }
    }
}
