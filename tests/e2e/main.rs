//! End-to-end tests: real compiled plugins in the real host, over the HTTP
//! API, on real sled in a temporary directory. One binary, one module per area:
//!
//! - `conversations`: Chinese and English conversations through every slot of the demo tenant
//! - `desk`: agent keys, claim (one winner), replies, notes, transfer, resolve, reopen, capacity, offline and online, the conversation list
//! - `dialogue`: follow-ups read with their conversation, one ticket per problem, the same agent throughout, routing that keeps customers with their person
//! - `containment`: purpose-built misbehaving plugins never take a message down
//! - `abuse`: per-tenant quotas at their boundary, bounded customer fields
//! - `api_errors`: bad requests, keys and tenants get the right 4xx, never a 5xx
//! - `events`: the SSE event stream: every event once, in order, to each subscriber; filters; resuming with Last-Event-ID
//! - `durability`: acknowledged writes survive a restart
//! - `journey`: the whole human loop in Chinese and English, from the bot's answer to the survey's follow-up ticket
//! - `knowledge`: drafts, publishing, hybrid search, blind-spot mining to a suggestion without a restart
//! - `lifecycle`: push, shadow, canary, activate, rollback, breaker, audit, hot swaps under load
//! - `operator`: tenants, plugin uploads and bindings
//! - `personal_data`: personal data found whatever its checksum or layout, masked in everything plugins produce
//! - `pharmacy`: the pharmacy tenant and its knowledge pack (demo graph; the real graph when `../shared/data` is there)
//! - `observability`: `/healthz` and `/metrics`
//! - `reports`: the KPIs of real conversations through the API (known answers), CSV, periods at their bounds, the canary compared by outcome, weak spots, coaching, tenants kept apart
//! - `pagination`: every list in pages that join up, limits at their boundary, cursors
//! - `security`: keys, tenant isolation (API and host imports), personal data, rate and plugin limits
//! - `understanding`: the demo shop on its held-out evaluation set through the whole pipeline, against the targets; the knowledge-answer threshold
//! - `web`: the pages' server side: sign-in, session cookies and CSRF, pages per role, the customer chat's endpoints, the traffic report, the queue monitor, assets
//! - `webhooks`: outbound delivery to a real receiver: signatures, idempotency keys, retries while it is down, order, dead letters, signed inbound messages
//! - `fuzz`: generated bad requests against every endpoint: never a 5xx, nothing stored

mod abuse;
mod api_errors;
mod banking;
mod containment;
mod conversations;
mod desk;
mod dialogue;
mod durability;
mod events;
mod fuzz;
mod journey;
mod knowledge;
mod lifecycle;
mod observability;
mod operator;
mod pagination;
mod personal_data;
mod pharmacy;
mod reports;
mod security;
mod understanding;
mod web;
mod webhooks;

#[path = "../../host/tests/support/receiver.rs"]
mod receiver;
