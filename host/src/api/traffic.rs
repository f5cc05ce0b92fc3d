//! Traffic reports for the console's plots: `GET /v1/stats` (the tenant's
//! admin key) and `GET /v1/tenants/{id}/stats` (the operator).

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::{OperatorCaller, TenantCaller};
use super::{ApiError, ApiPath, AppState, blocking};
use crate::traffic::Report;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/stats", get(own_stats))
        .route("/tenants/{tenant_id}/stats", get(tenant_stats))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsQuery {
    /// Whole days back from today (UTC), today included; 14 by default.
    days: Option<u32>,
}

async fn report(
    state: &AppState,
    tenant: String,
    query: Result<Query<StatsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Report>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let app = state.app.clone();
    blocking(move || {
        crate::traffic::report(
            &app,
            &tenant,
            query.days.unwrap_or(14),
            crate::model::now_ms(),
        )
    })
    .await
    .map(Json)
}

async fn own_stats(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    query: Result<Query<StatsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Report>, ApiError> {
    report(&state, tenant, query).await
}

async fn tenant_stats(
    State(state): State<AppState>,
    _: OperatorCaller,
    ApiPath(tenant_id): ApiPath<String>,
    query: Result<Query<StatsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Report>, ApiError> {
    crate::app::check_id("tenant id", &tenant_id)?;
    report(&state, tenant_id, query).await
}
