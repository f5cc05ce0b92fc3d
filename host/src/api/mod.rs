//! The HTTP API (`/v1`, JSON). Routes are grouped by resource, each module
//! exposing `router()`; [`app`] merges them. Errors are always
//! `{"error": {"code", "message"}}` with the matching status.

mod agents;
pub(crate) mod auth;
pub(crate) mod conversations;
mod desk;
mod error;
pub(crate) mod events;
pub mod fair_share;
pub mod health;
mod knowledge;
pub mod low_priority;
mod operator;
mod outbox;
mod page;
mod reports;
mod tenancy;
pub mod throttle;
mod tickets;
mod traffic;

use std::sync::Arc;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::IntoResponse;
use axum::routing::get;
use serde::de::DeserializeOwned;

pub use auth::OperatorKey;
pub use error::ApiError;

use crate::app::Switchyard;

#[derive(Clone)]
pub struct AppState {
    pub app: Arc<Switchyard>,
    pub operator_key: Arc<OperatorKey>,
    pub throttle: Arc<throttle::Throttle>,
    /// Signs the browser sessions of the web pages.
    pub sessions: Arc<crate::web::session::SessionKeys>,
}

impl AppState {
    /// With the default rate limits and per-tenant concurrency; reads (or
    /// makes, on first start) the session secret from the store.
    pub fn new(app: Arc<Switchyard>, operator_key: OperatorKey) -> crate::app::Result<AppState> {
        let sessions = Arc::new(crate::web::session::SessionKeys::load_or_create(
            &app.storage,
        )?);
        Ok(AppState {
            app,
            operator_key: Arc::new(operator_key),
            throttle: Arc::new(throttle::Throttle::with_defaults()),
            sessions,
        })
    }
}

/// Largest JSON body accepted, except where a route allows more (plugin
/// uploads and bindings carry components and configs).
pub const MAX_JSON_BODY: usize = 256 << 10;

/// The whole HTTP application; tests drive it without a socket.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/metrics", get(metrics))
        .nest("/v1", api_router())
        .merge(crate::web::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_JSON_BODY))
        .layer(axum::middleware::from_fn(error::log_server_errors))
        .with_state(state)
}

fn api_router() -> Router<AppState> {
    Router::new()
        .merge(conversations::router())
        .merge(desk::router())
        .merge(events::router())
        .merge(outbox::router())
        .merge(tickets::router())
        .merge(reports::router())
        .merge(agents::router())
        .merge(knowledge::router())
        .merge(operator::router())
        .merge(tenancy::router())
        .merge(traffic::router())
}

/// Prometheus text; the operator key is required (scrapers send it as a
/// bearer token), since it lists every tenant.
async fn metrics(
    axum::extract::State(state): axum::extract::State<AppState>,
    _: auth::OperatorCaller,
) -> Result<impl IntoResponse, ApiError> {
    let app = state.app.clone();
    // The live state of the desks, read from the store at scrape time (on
    // a blocking thread, as every store read).
    let live = blocking(move || queue_gauges(&app)).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        state.app.metrics.render() + &live,
    ))
}

/// One figure of the KPIs, for a gauge.
type KpiFigure = fn(&crate::kpi::Kpis) -> Option<f64>;

/// Waiting conversations per queue, the longest wait, and agents online,
/// per tenant: what a team lead's alert watches.
fn queue_gauges(app: &Switchyard) -> crate::app::Result<String> {
    use std::fmt::Write;
    let now = crate::model::now_ms();
    let mut waiting = String::from(
        "# HELP switchyard_queue_waiting Conversations waiting in a queue for a person.\n# TYPE switchyard_queue_waiting gauge\n",
    );
    let mut longest = String::from(
        "# HELP switchyard_queue_longest_wait_seconds How long the longest-waiting conversation of a queue has waited.\n# TYPE switchyard_queue_longest_wait_seconds gauge\n",
    );
    let mut online = String::from(
        "# HELP switchyard_agents_online Agents online, by tenant.\n# TYPE switchyard_agents_online gauge\n",
    );
    let label = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"");
    // The seed's live figures, of the conversations begun today (UTC).
    let kpi_gauges: [(&str, &str, KpiFigure); 6] = [
        (
            "switchyard_kpi_conversations_today",
            "Conversations begun today (UTC).",
            |k| Some(k.conversations as f64),
        ),
        (
            "switchyard_kpi_ai_instant_response_ratio",
            "Customer messages the bot answered at once, of those it held today.",
            |k| k.ai_instant_response_rate,
        ),
        (
            "switchyard_kpi_transfer_ratio",
            "Conversations begun today handed to a person.",
            |k| k.transfer_rate,
        ),
        (
            "switchyard_kpi_first_response_median_seconds",
            "Median time from a handoff to a person's first reply, conversations begun today.",
            |k| k.first_response_median_secs,
        ),
        (
            "switchyard_kpi_csat_average",
            "Average survey score, conversations begun today.",
            |k| k.csat_average,
        ),
        (
            "switchyard_kpi_ai_accuracy_ratio",
            "Customer messages whose intent no agent corrected, conversations begun today.",
            |k| k.ai_accuracy_as_agents_judge,
        ),
    ];
    let mut kpi_lines: Vec<String> = kpi_gauges
        .iter()
        .map(|(name, help, _)| format!("# HELP {name} {help}\n# TYPE {name} gauge\n"))
        .collect();
    for tenant in app.storage.tenants()? {
        // One tenant's unreadable buckets cost its gauges, not the scrape.
        let today = match crate::kpi::report::today(app, &tenant.id, now) {
            Ok(today) => Some(today),
            Err(e) => {
                tracing::error!(tenant = tenant.id, "metrics: reading today's KPIs: {e}");
                None
            }
        };
        for ((name, _, figure), lines) in kpi_gauges.iter().zip(kpi_lines.iter_mut()) {
            if let Some(value) = today.as_ref().and_then(figure) {
                let _ = writeln!(lines, "{name}{{tenant=\"{}\"}} {value}", label(&tenant.id));
            }
        }
        let monitor = app.queue_monitor(&tenant.id)?;
        for queue in &monitor.queues {
            let labels = format!(
                "tenant=\"{}\",queue=\"{}\"",
                label(&tenant.id),
                label(&queue.name)
            );
            let _ = writeln!(
                waiting,
                "switchyard_queue_waiting{{{labels}}} {}",
                queue.waiting.waiting
            );
            let secs = queue
                .waiting
                .longest_since_ms
                .map_or(0.0, |since| now.saturating_sub(since) as f64 / 1000.0);
            let _ = writeln!(
                longest,
                "switchyard_queue_longest_wait_seconds{{{labels}}} {secs}"
            );
        }
        let count = monitor
            .agents
            .iter()
            .filter(|a| a.agent.status == crate::model::AgentStatus::Online)
            .count();
        let _ = writeln!(
            online,
            "switchyard_agents_online{{tenant=\"{}\"}} {count}",
            label(&tenant.id)
        );
    }
    Ok(waiting + &longest + &online + &kpi_lines.concat())
}

/// A path no route takes. Under /v1 the prefix was right and the rest is
/// not (saying "the API lives under /v1" there sent people looking for the
/// wrong mistake); elsewhere the prefix is what is missing.
async fn not_found(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    let path = uri.path();
    if path == "/v1" || path.starts_with("/v1/") {
        ApiError::NotFound(format!(
            "no such endpoint: {method} {}",
            path.chars().take(200).collect::<String>()
        ))
    } else {
        ApiError::NotFound("no such endpoint; the API lives under /v1".into())
    }
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// `Json<T>` whose rejections are API errors with a readable message.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let body = JsonBody::from_request(req, state).await?;
        body.parse().map(ApiJson)
    }
}

/// A JSON request body, read (within the body limit) but not yet parsed, so
/// that a handler can time parsing apart from receiving.
pub struct JsonBody(pub(crate) axum::body::Bytes);

impl JsonBody {
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        axum::Json::<T>::from_bytes(&self.0)
            .map(|axum::Json(value)| value)
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
    }
}

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .is_some_and(|essence| {
                essence == "application/json"
                    || (essence.starts_with("application/") && essence.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "send JSON with Content-Type: application/json".into(),
            ));
        }
        axum::body::Bytes::from_request(req, state)
            .await
            .map(JsonBody)
            .map_err(|rejection| match rejection.status() {
                axum::http::StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge,
                _ => ApiError::BadRequest(rejection.body_text()),
            })
    }
}

/// `Path<T>` whose rejections are API errors.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|r| ApiError::BadRequest(r.body_text()))
    }
}

/// Run blocking work (plugin calls, sled) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, crate::app::Error> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::Internal(format!("worker failed: {e}")))?
        .map_err(ApiError::from)
}
