//! Operator endpoints: tenants, plugin uploads and bindings.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::auth::OperatorCaller;
use super::{ApiError, ApiJson, ApiPath, AppState, blocking};
use crate::model::{Binding, Bindings, PluginMeta, Slot, Tenant};

/// Largest plugin component accepted.
pub const MAX_COMPONENT_BYTES: usize = 32 << 20;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tenants", get(list_tenants).post(create_tenant))
        .route(
            "/plugins",
            get(list_plugins)
                .post(upload_plugin)
                .layer(DefaultBodyLimit::max(MAX_COMPONENT_BYTES)),
        )
        .route("/tenants/{tenant_id}/bindings", get(get_bindings))
        .route("/tenants/{tenant_id}/bindings/{slot}", put(put_binding))
}

#[derive(Serialize)]
struct TenantView {
    id: String,
    name: String,
    created_at_ms: u64,
}

impl From<Tenant> for TenantView {
    fn from(t: Tenant) -> Self {
        TenantView {
            id: t.id,
            name: t.name,
            created_at_ms: t.created_at_ms,
        }
    }
}

async fn list_tenants(
    State(state): State<AppState>,
    _: OperatorCaller,
) -> Result<Json<Vec<TenantView>>, ApiError> {
    let app = state.app.clone();
    blocking(move || {
        Ok(Json(
            app.storage
                .tenants()?
                .into_iter()
                .map(TenantView::from)
                .collect(),
        ))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    id: String,
    name: String,
}

#[derive(Serialize)]
struct CreatedTenant {
    #[serde(flatten)]
    tenant: TenantView,
    /// Shown once; only its hash is stored.
    api_key: String,
}

async fn create_tenant(
    State(state): State<AppState>,
    _: OperatorCaller,
    ApiJson(body): ApiJson<NewTenant>,
) -> Result<(StatusCode, Json<CreatedTenant>), ApiError> {
    let app = state.app.clone();
    let (tenant, api_key) = blocking(move || app.create_tenant(&body.id, &body.name, None)).await?;
    state.app.storage.flush().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTenant {
            tenant: tenant.into(),
            api_key,
        }),
    ))
}

async fn list_plugins(
    State(state): State<AppState>,
    _: OperatorCaller,
) -> Result<Json<Vec<PluginMeta>>, ApiError> {
    let app = state.app.clone();
    blocking(move || Ok(Json(app.storage.plugins()?))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadQuery {
    name: String,
    version: String,
}

/// Body: the component's bytes. The slot is read from the component's exports.
async fn upload_plugin(
    State(state): State<AppState>,
    _: OperatorCaller,
    query: Result<Query<UploadQuery>, axum::extract::rejection::QueryRejection>,
    body: Bytes,
) -> Result<(StatusCode, Json<PluginMeta>), ApiError> {
    let Query(query) = query.map_err(|e| {
        ApiError::BadRequest(format!("{}; use ?name=NAME&version=VERSION", e.body_text()))
    })?;
    if body.is_empty() {
        return Err(ApiError::BadRequest(
            "the body must be the plugin's component bytes".into(),
        ));
    }
    let app = state.app.clone();
    let meta = blocking(move || app.add_plugin(&query.name, &query.version, &body)).await?;
    state.app.storage.flush().await?;
    Ok((StatusCode::CREATED, Json(meta)))
}

async fn get_bindings(
    State(state): State<AppState>,
    _: OperatorCaller,
    ApiPath(tenant_id): ApiPath<String>,
) -> Result<Json<Bindings>, ApiError> {
    let app = state.app.clone();
    blocking(move || {
        app.tenant(&tenant_id)?;
        Ok(Json(app.storage.bindings(&tenant_id)?))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlotBindings {
    plugins: Vec<Binding>,
}

/// Replace what is bound to one slot of a tenant, in call order.
async fn put_binding(
    State(state): State<AppState>,
    _: OperatorCaller,
    ApiPath((tenant_id, slot)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<SlotBindings>,
) -> Result<Json<Bindings>, ApiError> {
    let slot = Slot::parse(&slot).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no slot {slot:?}; slots are inspect, classify, escalate, route, assist, ticket"
        ))
    })?;
    let app = state.app.clone();
    let bindings = blocking(move || {
        app.bind(&tenant_id, slot, body.plugins)?;
        Ok(app.storage.bindings(&tenant_id)?)
    })
    .await?;
    state.app.storage.flush().await?;
    Ok(Json(bindings))
}
