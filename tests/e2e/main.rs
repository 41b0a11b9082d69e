//! Guardian's end-to-end tests: real wasm32-wasip2 skills, real snapshots, the
//! real `guardian` binary. One test binary for the whole workspace (it links
//! wasmtime once).

mod cluster;
mod serve;
mod support;

mod actions;
mod actions_live;
mod admission;
mod agent;
mod analyzer_reads;
mod apiserver;
mod argocd;
mod argocd_controller;
mod broker;
mod capture;
mod cascades;
mod cli;
mod common_fixes;
mod console;
mod deploy;
mod diagnose;
mod gitops;
mod hostile;
mod investigations;
mod large_namespaces;
mod live;
mod live_capture;
mod loading;
mod mcp_hardening;
mod metrics_sources;
mod node_mode;
mod not_read;
mod oncall;
mod protected;
mod questions;
mod rightsizing;
mod rightsizing_data;
mod rightsizing_live;
mod scenarios;
mod serve_api;
mod service;
mod slack;
mod snapshot_load;
mod unreadable_log;
