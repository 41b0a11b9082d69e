//! `guardian:skill@0.2.0` — the current ABI. The host implements these traits
//! directly (see `host.rs`).

wasmtime::component::bindgen!({
    path: "../../wit/since_v0.2.0",
    world: "skill",
    imports: { default: async | trappable },
    exports: { default: async },
});

pub use guardian::skill::types;
