//! Per-call resource limits.

use std::time::Duration;

/// Limits applied to every tool call. Defaults suit a diagnostics scan of a
/// large cluster; operators may tighten them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Time the guest itself may run (wall time minus time blocked in host
    /// calls), enforced by epoch interruption.
    pub cpu_time: Duration,
    /// Deadline of one host call (a Kubernetes read, a PromQL query).
    pub host_call_timeout: Duration,
    /// Backstop on the whole call, host calls included.
    pub wall_time: Duration,
    /// Linear memory of one instance.
    pub memory_bytes: usize,
    /// The tool's JSON result.
    pub output_bytes: usize,
    /// Each of the captured stdout and stderr buffers.
    pub stdio_bytes: usize,
    /// Tool calls running at once (bounds the instance pool).
    pub concurrent_calls: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            cpu_time: Duration::from_secs(5),
            host_call_timeout: Duration::from_secs(30),
            wall_time: Duration::from_secs(120),
            memory_bytes: 64 << 20,
            output_bytes: 1 << 20,
            stdio_bytes: 64 << 10,
            concurrent_calls: 64,
        }
    }
}
