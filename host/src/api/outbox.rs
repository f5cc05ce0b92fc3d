//! The tenant's channel integration: its webhook endpoint and secrets
//! (`/v1/channel`), and the outbox of deliveries to it (`/v1/outbox`: what
//! is pending or dead, and redelivering a dead one).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::auth::TenantCaller;
use super::page::{self, PageRequest};
use super::{ApiError, ApiJson, ApiPath, AppState, blocking};
use crate::model::{ChannelEndpoint, OutboxItem, OutboxState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/channel",
            get(get_channel).put(put_channel).delete(delete_channel),
        )
        .route("/outbox", get(list_outbox))
        .route("/outbox/{delivery_id}/redeliver", post(redeliver))
}

/// The endpoint as the API shows it: the secrets never leave the server.
#[derive(Serialize)]
struct ChannelView {
    url: Option<String>,
    secret_set: bool,
    inbound_secret_set: bool,
}

fn view(channel: Option<&ChannelEndpoint>) -> ChannelView {
    ChannelView {
        url: channel.map(|c| c.url.clone()),
        secret_set: channel.is_some(),
        inbound_secret_set: channel.is_some_and(|c| c.inbound_secret.is_some()),
    }
}

async fn get_channel(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
) -> Result<Json<ChannelView>, ApiError> {
    let app = state.app.clone();
    blocking(move || Ok(Json(view(app.tenant(&tenant)?.channel.as_ref())))).await
}

async fn put_channel(
    State(state): State<AppState>,
    caller: TenantCaller,
    ApiJson(channel): ApiJson<ChannelEndpoint>,
) -> Result<Json<ChannelView>, ApiError> {
    let app = state.app.clone();
    let actor = caller.actor();
    blocking(move || {
        app.set_channel(&caller.0, Some(channel.clone()), &actor)?;
        Ok(Json(view(Some(&channel))))
    })
    .await
}

async fn delete_channel(
    State(state): State<AppState>,
    caller: TenantCaller,
) -> Result<StatusCode, ApiError> {
    let app = state.app.clone();
    let actor = caller.actor();
    blocking(move || app.set_channel(&caller.0, None, &actor)).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutboxQuery {
    /// `pending` (default) or `dead`.
    state: Option<OutboxState>,
    limit: Option<usize>,
    after: Option<String>,
}

#[derive(Serialize)]
struct OutboxPage {
    deliveries: Vec<OutboxItem>,
    next: Option<String>,
}

async fn list_outbox(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    query: Result<Query<OutboxQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<OutboxPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let page = PageRequest::new(query.limit, query.after.as_deref())?;
    let wanted = query.state.unwrap_or(OutboxState::Pending);
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    blocking(move || {
        let found = app
            .storage
            .outbox_page(&tenant, wanted, page.after.as_ref(), page.limit)?;
        Ok(Json(OutboxPage {
            deliveries: found.items,
            next: page::next(found.next),
        }))
    })
    .await
}

async fn redeliver(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    ApiPath(delivery_id): ApiPath<String>,
) -> Result<Json<OutboxItem>, ApiError> {
    let app = state.app.clone();
    blocking(move || app.redeliver(&tenant, &delivery_id))
        .await
        .map(Json)
}
