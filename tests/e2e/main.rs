//! Guardian's end-to-end tests: real wasm32-wasip2 skills, real snapshots, the
//! real `guardian` binary. One test binary for the whole workspace (it links
//! wasmtime once).

mod scripted;
mod serve;
mod support;

mod actions;
mod actions_live;
mod agent;
mod apiserver;
mod broker;
mod cli;
mod deploy;
mod diagnose;
mod hostile;
mod live;
mod loading;
mod protected;
mod scenarios;
mod serve_api;
