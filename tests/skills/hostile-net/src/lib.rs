//! `hostile-net`: a test skill whose tool opens a TCP connection, so its
//! component imports `wasi:sockets/*`. The host must refuse to load it.

use guardian_skill_sdk::{Effect, NoInput, Tool, ToolError, skill};
use serde_json::{Value, json};

skill!(Connect);

pub struct Connect;
impl Tool for Connect {
    const NAME: &'static str = "connect";
    const DESCRIPTION: &'static str = "Connects to 127.0.0.1:1 over TCP.";
    const EFFECT: Effect = Effect::Read;
    type Input = NoInput;
    type Output = Value;
    fn run(_input: NoInput) -> Result<Value, ToolError> {
        match std::net::TcpStream::connect("127.0.0.1:1") {
            Ok(_) => Ok(json!({"connected": true})),
            Err(e) => Err(ToolError::failed(format!("connect: {e}"))),
        }
    }
}
