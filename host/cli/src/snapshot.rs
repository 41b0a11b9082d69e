//! `guardian snapshot …`

use std::process::ExitCode;

use crate::args::{Global, SnapshotCommand};

pub async fn run(_global: &Global, cmd: SnapshotCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SnapshotCommand::Serve { .. } => {
            anyhow::bail!("snapshot serve is not available in this build")
        }
        SnapshotCommand::Capture { .. } => {
            anyhow::bail!("snapshot capture is not available in this build")
        }
    }
}
