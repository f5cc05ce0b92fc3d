//! Switchyard: a customer-service routing and assist engine in which every
//! decision is a sandboxed WebAssembly component. See ARCHITECTURE.md for the
//! map; `app::Switchyard` is the entry point for embedding.

pub mod api;
pub mod app;
pub mod bindings;
pub mod cli;
pub mod conversations;
pub mod demo;
pub mod durability;
pub mod events;
pub mod forecast;
pub mod ids;
mod imports;
pub mod knowledge;
pub mod knowledge_cache;
pub mod kpi;
pub mod lifecycle;
pub mod metrics;
pub mod mining;
pub mod model;
pub mod pii;
pub mod pipeline;
pub mod quotas;
pub mod runtime;
mod serial;
pub mod server;
pub mod storage;
pub mod traffic;
pub mod training;
pub mod web;
