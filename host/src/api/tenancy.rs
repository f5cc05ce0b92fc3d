//! A tenant's own account: its settings, its API key, and deleting a
//! customer's data (the right to be forgotten). The operator can rotate any
//! tenant's key from `POST /v1/tenants/{id}/key`.

use std::time::Duration;

use axum::extract::State;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::auth::{OperatorCaller, TenantCaller};
use super::{ApiError, ApiJson, ApiPath, AppState, blocking};
use crate::model::{Actor, ForgetReport, TenantSettings};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings", get(get_settings).put(put_settings))
        .route("/key", post(rotate_own_key))
        .route("/tenants/{tenant_id}/key", post(rotate_tenant_key))
        .route("/customers/{customer_id}", delete(forget_customer))
}

async fn get_settings(
    State(state): State<AppState>,
    caller: TenantCaller,
) -> Result<Json<TenantSettings>, ApiError> {
    let _slot = state.throttle.run_slot(&caller.0).await;
    let app = state.app.clone();
    blocking(move || Ok(Json(app.settings(&caller.0)?))).await
}

async fn put_settings(
    State(state): State<AppState>,
    caller: TenantCaller,
    ApiJson(body): ApiJson<TenantSettings>,
) -> Result<Json<TenantSettings>, ApiError> {
    let _slot = state.throttle.run_slot(&caller.0).await;
    let app = state.app.clone();
    let actor = caller.actor();
    blocking(move || Ok(Json(app.set_settings(&caller.0, body, &actor)?))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    /// The new key; generated when absent.
    #[serde(default)]
    api_key: Option<String>,
    /// How long the old key keeps working (at most 7 days); 0 by default.
    #[serde(default)]
    grace_secs: u64,
}

#[derive(Serialize)]
struct RotateResponse {
    api_key: String,
    old_key_valid_for_secs: u64,
}

/// A tenant replaces its own key (a generated one: a tenant cannot choose it).
/// Only the tenant's current key may: a key in its grace period (the one
/// rotated away, perhaps because it leaked) may read, not rotate.
async fn rotate_own_key(
    State(state): State<AppState>,
    caller: TenantCaller,
    headers: axum::http::HeaderMap,
    ApiJson(body): ApiJson<RotateRequest>,
) -> Result<Json<RotateResponse>, ApiError> {
    if body.api_key.is_some() {
        return Err(ApiError::Unprocessable(
            "a tenant's new key is generated; only the operator may set one".into(),
        ));
    }
    let used = crate::app::hash_key(super::auth::bearer_of(&headers)?);
    rotate(state, caller.0.clone(), caller.actor(), body, Some(used)).await
}

async fn rotate_tenant_key(
    State(state): State<AppState>,
    caller: OperatorCaller,
    ApiPath(tenant_id): ApiPath<String>,
    ApiJson(body): ApiJson<RotateRequest>,
) -> Result<Json<RotateResponse>, ApiError> {
    rotate(state, tenant_id, caller.actor(), body, None).await
}

async fn rotate(
    state: AppState,
    tenant: String,
    actor: Actor,
    body: RotateRequest,
    used_key_hash: Option<String>,
) -> Result<Json<RotateResponse>, ApiError> {
    let app = state.app.clone();
    blocking(move || {
        let key = app.rotate_key(
            &tenant,
            body.api_key.as_deref(),
            Duration::from_secs(body.grace_secs),
            &actor,
            used_key_hash.as_deref(),
        )?;
        Ok(Json(RotateResponse {
            api_key: key,
            old_key_valid_for_secs: body.grace_secs,
        }))
    })
    .await
}

/// Delete every conversation, message and ticket of one customer.
async fn forget_customer(
    State(state): State<AppState>,
    caller: TenantCaller,
    ApiPath(customer_id): ApiPath<String>,
) -> Result<Json<ForgetReport>, ApiError> {
    let _slot = state.throttle.run_slot(&caller.0).await;
    let app = state.app.clone();
    let actor = caller.actor();
    blocking(move || {
        Ok(Json(app.forget_customer(
            &caller.0,
            &customer_id,
            &actor,
        )?))
    })
    .await
}
