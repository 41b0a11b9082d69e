//! The one wasmtime `Engine` and the epoch ticker that drives CPU deadlines.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::limits::Limits;

/// How often the epoch advances. CPU deadlines are precise to about this much.
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Which instance allocator the engine ended up with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allocator {
    /// Pre-reserved slots: instantiation in a few microseconds.
    Pooling,
    /// mmap per instance; used where the address space for the pool is missing
    /// (e.g. under `ulimit -v`).
    OnDemand,
}

pub struct GuardianEngine {
    pub engine: Engine,
    pub allocator: Allocator,
    stop: Arc<AtomicBool>,
}

impl GuardianEngine {
    /// Builds the engine, trying the pooling allocator first.
    pub fn new(limits: &Limits) -> wasmtime::Result<Self> {
        let (engine, allocator) = match Engine::new(&config(limits, true)) {
            Ok(engine) => (engine, Allocator::Pooling),
            Err(err) => {
                tracing::info!(
                    error = %err,
                    "pooling instance allocator unavailable (not enough address space?); using on-demand allocation"
                );
                (Engine::new(&config(limits, false))?, Allocator::OnDemand)
            }
        };
        let stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(engine.weak(), stop.clone());
        Ok(Self {
            engine,
            allocator,
            stop,
        })
    }
}

impl Drop for GuardianEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn config(limits: &Limits, pooling: bool) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // For profiling skills with `perf` (docs/benchmarks.md): name the
    // guest's compiled functions in /tmp/perf-PID.map.
    if std::env::var_os("GUARDIAN_WASM_PERFMAP").is_some() {
        config.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    // Guardian's ABI is synchronous from the guest's point of view; turning off
    // component-model concurrency makes every typed call ~3x cheaper.
    config.concurrency_support(false);
    config.max_wasm_stack(1 << 20);
    config.async_stack_size(2 << 20);
    if pooling {
        let slots = limits.concurrent_calls.max(1);
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(slots)
            // A Rust wasip2 component is one core module plus a few small
            // adapter shims.
            .total_core_instances(slots * 8)
            .total_memories(slots * 2)
            .total_tables(slots * 8)
            .max_memory_size(limits.memory_bytes)
            .total_stacks(slots)
            // Where the kernel can say which pages a call dirtied (Linux
            // ≥ 6.7), reset just those instead of dropping and re-faulting
            // them: most of the per-call cost otherwise.
            .pagemap_scan(wasmtime::Enabled::Auto)
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(64 << 10);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    config
}

fn spawn_ticker(engine: wasmtime::EngineWeak, stop: Arc<AtomicBool>) {
    let spawned = thread::Builder::new()
        .name("guardian-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                thread::sleep(EPOCH_TICK);
                match engine.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => break,
                }
            }
        });
    if let Err(err) = spawned {
        // Without the ticker no guest can be interrupted; every call would
        // eventually hit the wall-time backstop instead. Loud, not fatal.
        tracing::error!(error = %err, "could not start the epoch ticker; CPU deadlines fall back to the wall-time limit");
    }
}
