//! The numbers (`crate::kpi`): `GET /v1/reports/{kpis,canary,weak-spots,
//! coaching/{agent}}` with the tenant's admin key, the same under
//! `/v1/tenants/{id}/reports/` for the operator, and `GET /v1/me/coaching`
//! for an agent's own. A period is `days` back from today (UTC) or
//! `from`/`to` dates, both included; `format=csv` for the KPI tables.

use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::{AgentCaller, OperatorCaller, TenantCaller};
use super::{ApiError, ApiPath, AppState, blocking};
use crate::kpi::report::{By, Grouping, Period};
use crate::model::Slot;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/reports/kpis", get(own_kpis))
        .route("/reports/canary", get(own_canary))
        .route("/reports/weak-spots", get(own_weak_spots))
        .route("/reports/coaching/{agent_id}", get(own_coaching))
        .route("/me/coaching", get(my_coaching))
        .route("/tenants/{tenant_id}/reports/kpis", get(tenant_kpis))
        .route("/tenants/{tenant_id}/reports/canary", get(tenant_canary))
        .route(
            "/tenants/{tenant_id}/reports/weak-spots",
            get(tenant_weak_spots),
        )
        .route(
            "/tenants/{tenant_id}/reports/coaching/{agent_id}",
            get(tenant_coaching),
        )
}

type QueryResult<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

fn query<T>(q: QueryResult<T>) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::BadRequest(e.body_text()))
}

/// `days`, or `from` and `to`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PeriodQuery {
    days: Option<u32>,
    from: Option<String>,
    to: Option<String>,
}

impl PeriodQuery {
    fn period(&self, default_days: u32) -> Result<Period, ApiError> {
        let period = match (&self.from, &self.to, self.days) {
            (Some(_), Some(_), Some(_)) => {
                return Err(ApiError::Unprocessable(
                    "give days, or from and to, not both".into(),
                ));
            }
            (Some(from), Some(to), None) => Period::dates(from, to),
            (None, None, days) => {
                Period::last_days(days.unwrap_or(default_days), crate::model::now_ms())
            }
            _ => {
                return Err(ApiError::Unprocessable(
                    "from and to go together (YYYY-MM-DD, both included)".into(),
                ));
            }
        };
        Ok(period?)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KpiQuery {
    days: Option<u32>,
    from: Option<String>,
    to: Option<String>,
    group: Option<Grouping>,
    by: Option<By>,
    /// `json` (the default) or `csv`.
    format: Option<String>,
}

async fn kpis(state: &AppState, tenant: String, q: KpiQuery) -> Result<Response, ApiError> {
    let period = PeriodQuery {
        days: q.days,
        from: q.from,
        to: q.to,
    }
    .period(30)?;
    let csv = match q.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::Unprocessable(format!(
                "format is {other:?}; json or csv"
            )));
        }
    };
    // Reports count what is new first: they take a tenant slot, as reads
    // of conversations do.
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    let (grouping, by) = (q.group.unwrap_or_default(), q.by);
    let report =
        blocking(move || crate::kpi::report::report(&app, &tenant, period, grouping, by)).await?;
    Ok(if csv {
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"kpis.csv\"",
                ),
            ],
            crate::kpi::report::to_csv(&report),
        )
            .into_response()
    } else {
        Json(report).into_response()
    })
}

async fn own_kpis(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    q: QueryResult<KpiQuery>,
) -> Result<Response, ApiError> {
    kpis(&state, tenant, query(q)?).await
}

async fn tenant_kpis(
    State(state): State<AppState>,
    _: OperatorCaller,
    ApiPath(tenant_id): ApiPath<String>,
    q: QueryResult<KpiQuery>,
) -> Result<Response, ApiError> {
    crate::app::check_id("tenant id", &tenant_id)?;
    kpis(&state, tenant_id, query(q)?).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CanaryQuery {
    days: Option<u32>,
    from: Option<String>,
    to: Option<String>,
    /// With `candidate` and `baseline`: compare these two versions.
    slot: Option<String>,
    candidate: Option<u64>,
    baseline: Option<u64>,
}

#[derive(serde::Serialize)]
struct CanaryAnswer {
    from_ms: u64,
    to_ms: u64,
    comparisons: Vec<crate::kpi::compare::Comparison>,
}

async fn canary(
    state: &AppState,
    tenant: String,
    q: CanaryQuery,
) -> Result<Json<CanaryAnswer>, ApiError> {
    let period = PeriodQuery {
        days: q.days,
        from: q.from,
        to: q.to,
    }
    .period(14)?;
    let pick = match (&q.slot, q.candidate, q.baseline) {
        (None, None, None) => None,
        (Some(slot), Some(candidate), Some(baseline)) => {
            let slot = Slot::parse(slot)
                .ok_or_else(|| ApiError::Unprocessable(format!("{slot:?} is not a slot")))?;
            Some((slot, candidate, baseline))
        }
        _ => {
            return Err(ApiError::Unprocessable(
                "slot, candidate and baseline go together".into(),
            ));
        }
    };
    // Reports count what is new first: they take a tenant slot, as reads
    // of conversations do.
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    let comparisons =
        blocking(move || crate::kpi::compare::compare(&app, &tenant, period, pick)).await?;
    Ok(Json(CanaryAnswer {
        from_ms: period.from_hour * crate::traffic::HOUR_MS,
        to_ms: period.to_hour * crate::traffic::HOUR_MS,
        comparisons,
    }))
}

async fn own_canary(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    q: QueryResult<CanaryQuery>,
) -> Result<Json<CanaryAnswer>, ApiError> {
    canary(&state, tenant, query(q)?).await
}

async fn tenant_canary(
    State(state): State<AppState>,
    _: OperatorCaller,
    ApiPath(tenant_id): ApiPath<String>,
    q: QueryResult<CanaryQuery>,
) -> Result<Json<CanaryAnswer>, ApiError> {
    crate::app::check_id("tenant id", &tenant_id)?;
    canary(&state, tenant_id, query(q)?).await
}

async fn weak_spots(
    state: &AppState,
    tenant: String,
    q: PeriodQuery,
) -> Result<Json<crate::kpi::weak_spots::WeakSpots>, ApiError> {
    let period = q.period(7)?;
    // Reports count what is new first: they take a tenant slot, as reads
    // of conversations do.
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    blocking(move || crate::kpi::weak_spots::weak_spots(&app, &tenant, period))
        .await
        .map(Json)
}

async fn own_weak_spots(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    q: QueryResult<PeriodQuery>,
) -> Result<Json<crate::kpi::weak_spots::WeakSpots>, ApiError> {
    weak_spots(&state, tenant, query(q)?).await
}

async fn tenant_weak_spots(
    State(state): State<AppState>,
    _: OperatorCaller,
    ApiPath(tenant_id): ApiPath<String>,
    q: QueryResult<PeriodQuery>,
) -> Result<Json<crate::kpi::weak_spots::WeakSpots>, ApiError> {
    crate::app::check_id("tenant id", &tenant_id)?;
    weak_spots(&state, tenant_id, query(q)?).await
}

async fn coaching(
    state: &AppState,
    tenant: String,
    agent: String,
    q: PeriodQuery,
) -> Result<Json<crate::kpi::coaching::Coaching>, ApiError> {
    let period = q.period(30)?;
    // Reports count what is new first: they take a tenant slot, as reads
    // of conversations do.
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    blocking(move || crate::kpi::coaching::coaching(&app, &tenant, &agent, period))
        .await
        .map(Json)
}

async fn own_coaching(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    ApiPath(agent_id): ApiPath<String>,
    q: QueryResult<PeriodQuery>,
) -> Result<Json<crate::kpi::coaching::Coaching>, ApiError> {
    coaching(&state, tenant, agent_id, query(q)?).await
}

async fn my_coaching(
    State(state): State<AppState>,
    caller: AgentCaller,
    q: QueryResult<PeriodQuery>,
) -> Result<Json<crate::kpi::coaching::Coaching>, ApiError> {
    coaching(&state, caller.tenant, caller.agent, query(q)?).await
}

async fn tenant_coaching(
    State(state): State<AppState>,
    _: OperatorCaller,
    ApiPath((tenant_id, agent_id)): ApiPath<(String, String)>,
    q: QueryResult<PeriodQuery>,
) -> Result<Json<crate::kpi::coaching::Coaching>, ApiError> {
    crate::app::check_id("tenant id", &tenant_id)?;
    coaching(&state, tenant_id, agent_id, query(q)?).await
}
