//! Budgets for host calls that cost per call (container logs).
//!
//! A scan reads at most about [`FAILING_LOG_READS`] logs for failing
//! workloads and [`HEALTHY_LOG_READS`] for the Log analyzer, spread evenly
//! over the namespaces it scans: each namespace gets its share (never less
//! than a floor), whatever order or grouping the namespaces are scanned in,
//! so a scan split across parallel calls finds exactly what one call finds.
//!
//! The host instantiates the skill afresh for every tool call, so the
//! statics live exactly as long as one call. (The guest is single-threaded;
//! the atomics are only a safe way to have a mutable static.)

use std::sync::atomic::{AtomicUsize, Ordering};

/// Logs the Pod and Job analyzers may read per scan (evidence for failing
/// workloads; at most three reads each).
pub const FAILING_LOG_READS: usize = 300;
/// Logs the Log analyzer may read per scan (healthy pods, optional).
pub const HEALTHY_LOG_READS: usize = 100;
/// Every namespace gets at least these many of each.
const FAILING_FLOOR: usize = 12;
const HEALTHY_FLOOR: usize = 2;

static FAILING: AtomicUsize = AtomicUsize::new(0);
static HEALTHY: AtomicUsize = AtomicUsize::new(0);
static FAILING_MAX: AtomicUsize = AtomicUsize::new(FAILING_LOG_READS);
static HEALTHY_MAX: AtomicUsize = AtomicUsize::new(HEALTHY_LOG_READS);

/// Starts a namespace of a scan of `namespaces` namespaces in all: its share
/// of the budgets.
pub fn start_namespace(namespaces: usize) {
    let n = namespaces.max(1);
    FAILING_MAX.store(
        (FAILING_LOG_READS / n).max(FAILING_FLOOR),
        Ordering::Relaxed,
    );
    HEALTHY_MAX.store(
        (HEALTHY_LOG_READS / n).max(HEALTHY_FLOOR),
        Ordering::Relaxed,
    );
    FAILING.store(0, Ordering::Relaxed);
    HEALTHY.store(0, Ordering::Relaxed);
}

fn take(counter: &AtomicUsize, max: &AtomicUsize) -> bool {
    let max = max.load(Ordering::Relaxed);
    counter
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok()
}

/// One log read for a failing workload, if the namespace's share allows.
pub fn failing_log() -> bool {
    take(&FAILING, &FAILING_MAX)
}

/// One log read of a healthy pod, if the namespace's share allows.
pub fn healthy_log() -> bool {
    take(&HEALTHY, &HEALTHY_MAX)
}

/// The failing-workload share of the current namespace (for messages).
pub fn failing_share() -> usize {
    FAILING_MAX.load(Ordering::Relaxed)
}
