//! Guardian's end-to-end tests: real wasm32-wasip2 skills, real snapshots, the
//! real `guardian` binary. One test binary for the whole workspace (it links
//! wasmtime once).

mod scripted;
mod serve;
mod support;

mod actions;
mod agent;
mod analyzer_reads;
mod apiserver;
mod broker;
mod capture;
mod cli;
mod deploy;
mod diagnose;
mod hostile;
mod large_namespaces;
mod live;
mod loading;
mod mcp_hardening;
mod not_read;
mod protected;
mod scenarios;
mod serve_api;
mod snapshot_load;
