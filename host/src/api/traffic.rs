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
        .route("/forecast", get(own_forecast))
        .route("/tenants/{tenant_id}/forecast", get(tenant_forecast))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ForecastQuery {
    /// Hours ahead, 1 to 336 (default 48).
    hours: Option<i64>,
    /// Conversations handed to this queue, instead of all conversations begun.
    queue: Option<String>,
    handle_secs: Option<f64>,
    service_level: Option<f64>,
    within_secs: Option<f64>,
    /// Conversations an agent holds at once (1 to 20, default 1): the
    /// agents are the Erlang C places divided by it.
    concurrency: Option<u32>,
}

/// The next hours' volume with intervals and staffing.
#[derive(serde::Serialize)]
struct ForecastAnswer {
    /// What is forecast: `contacts` (conversations begun) or the queue's handoffs.
    volume: String,
    /// Weeks of history read (up to 12; counted from the event log).
    history_weeks: u32,
    handle_secs: f64,
    /// `given` (the query's), `measured` (the mean handling time of the
    /// last 4 weeks' resolved conversations, of the queue when one is
    /// named) or `default` (180 s: fewer than 20 measured).
    handle_secs_from: &'static str,
    /// Resolutions the measured handle time comes from.
    handle_measured_from: u64,
    service_level: f64,
    within_secs: f64,
    /// Of the forecast conversations, the share staffed for: those that
    /// reach a person (the last 4 weeks' transfer rate, once 20
    /// conversations began; 1 for a queue's handoffs, or before that).
    staffed_share: f64,
    /// `measured`, `queue` (a queue's handoffs all reach people) or
    /// `default` (fewer than 20 conversations to measure it on).
    staffed_share_from: &'static str,
    concurrency: u32,
    hours: Vec<crate::forecast::HourForecast>,
}

/// Resolutions needed before the measured handle time is used, and
/// conversations before the measured share reaching people is.
const MIN_HANDLED: u64 = 20;

/// What the last 4 weeks' conversations measured for staffing, read once:
/// the mean handling time (assignment to resolution) of one queue or all
/// and how many resolutions it comes from, and the share of conversations
/// handed to a person with how many began.
struct Measured {
    handle_secs: Option<f64>,
    handled: u64,
    people_share: f64,
    started: u64,
}

fn measured(
    app: &crate::app::Switchyard,
    tenant: &str,
    queue: Option<&str>,
) -> crate::app::Result<Measured> {
    let period = crate::kpi::report::Period::last_days(28, crate::model::now_ms())?;
    let read = crate::kpi::report::read(app, tenant, period)?;
    let mut all = crate::kpi::Outcomes::default();
    for outcomes in read.hours.values() {
        all.add(outcomes);
    }
    let handling = match queue {
        Some(queue) => read
            .groups
            .get(&crate::kpi::count::group_queue(queue))
            .map(|o| o.handling.clone())
            .unwrap_or_default(),
        None => all.handling.clone(),
    };
    Ok(Measured {
        handle_secs: handling.mean_secs(),
        handled: handling.n,
        people_share: if all.started > 0 {
            (all.handed_off as f64 / all.started as f64).min(1.0)
        } else {
            1.0
        },
        started: all.started,
    })
}

/// Weeks of hourly history a forecast reads.
const FORECAST_WEEKS: u32 = 12;

async fn forecast_for(
    state: &AppState,
    tenant: String,
    query: Result<Query<ForecastQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ForecastAnswer>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let hours = query.hours.unwrap_or(48);
    if !(1..=336).contains(&hours) {
        return Err(ApiError::Unprocessable(format!(
            "hours is {hours}; 1 to 336"
        )));
    }
    let mut staffing = crate::forecast::Staffing {
        handle_secs: query.handle_secs.unwrap_or(180.0),
        service_level: query.service_level.unwrap_or(0.8),
        within_secs: query.within_secs.unwrap_or(30.0),
        ..crate::forecast::Staffing::default()
    };
    let sensible = (1.0..=86_400.0).contains(&staffing.handle_secs)
        && staffing.service_level > 0.0
        && staffing.service_level < 1.0
        && (0.0..=3_600.0).contains(&staffing.within_secs);
    if !sensible {
        return Err(ApiError::Unprocessable(
            "handle_secs is 1 to 86400, service_level above 0 and below 1, within_secs 0 to 3600"
                .into(),
        ));
    }
    let concurrency = query.concurrency.unwrap_or(1);
    if !(1..=20).contains(&concurrency) {
        return Err(ApiError::Unprocessable(format!(
            "concurrency is {concurrency}; 1 to 20"
        )));
    }
    if let Some(queue) = &query.queue {
        crate::app::check_id("queue", queue)?;
    }
    let app = state.app.clone();
    blocking(move || {
        let volume = match &query.queue {
            Some(queue) => crate::traffic::Volume::Queue(queue),
            None => crate::traffic::Volume::Contacts,
        };
        let measured = measured(&app, &tenant, query.queue.as_deref())?;
        let handle_measured_from = measured.handled;
        let handle_secs_from = match (query.handle_secs, measured.handle_secs) {
            (Some(_), _) => "given",
            (None, Some(secs)) if handle_measured_from >= MIN_HANDLED => {
                staffing.handle_secs = secs.clamp(1.0, 86_400.0);
                "measured"
            }
            _ => "default",
        };
        let series = crate::traffic::hourly_series(
            &app,
            &tenant,
            &volume,
            FORECAST_WEEKS,
            crate::model::now_ms(),
        )?;
        // Agents for the conversations that reach people, each agent
        // holding `concurrency` of them.
        let (staffed_share, staffed_share_from) = match &query.queue {
            Some(_) => (1.0, "queue"),
            None if measured.started >= MIN_HANDLED => (measured.people_share, "measured"),
            None => (1.0, "default"),
        };
        staffing.share = staffed_share;
        staffing.concurrency = concurrency;
        let hours = crate::forecast::ahead(&series, hours, &staffing);
        Ok(Json(ForecastAnswer {
            staffed_share,
            staffed_share_from,
            concurrency,
            volume: query.queue.clone().unwrap_or_else(|| "contacts".into()),
            history_weeks: FORECAST_WEEKS,
            handle_secs: staffing.handle_secs,
            handle_secs_from,
            handle_measured_from,
            service_level: staffing.service_level,
            within_secs: staffing.within_secs,
            hours,
        }))
    })
    .await
}

async fn own_forecast(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    query: Result<Query<ForecastQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ForecastAnswer>, ApiError> {
    forecast_for(&state, tenant, query).await
}

async fn tenant_forecast(
    State(state): State<AppState>,
    _: OperatorCaller,
    ApiPath(tenant_id): ApiPath<String>,
    query: Result<Query<ForecastQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ForecastAnswer>, ApiError> {
    crate::app::check_id("tenant id", &tenant_id)?;
    forecast_for(&state, tenant_id, query).await
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
