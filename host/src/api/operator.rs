//! Operator endpoints: tenants, plugin uploads, and each slot's plugin
//! lifecycle (stage, shadow, canary, activate, retire, rollback, diff, audit).

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::auth::OperatorCaller;
use super::page::PageRequest;
use super::{ApiError, ApiJson, ApiPath, AppState, blocking};
use crate::app::MAX_CONFIG_BYTES;
use crate::lifecycle::{LimitsReport, Transition};
use crate::model::{
    AuditEvent, Binding, Bindings, LimitOverrides, PluginMeta, ShadowStats, Slot, SlotRollout,
    SlotVersion, Tenant,
};

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
        .route(
            "/tenants/{tenant_id}/bindings/{slot}",
            put(put_binding).layer(DefaultBodyLimit::max(MAX_CONFIG_BYTES * 2)),
        )
        .route("/tenants/{tenant_id}/audit", get(audit))
        .route(
            "/tenants/{tenant_id}/limits",
            get(get_limits).put(put_tenant_limits),
        )
        .route(
            "/tenants/{tenant_id}/slots/{slot}/versions/{id}/limits",
            put(put_version_limits),
        )
        .route("/tenants/{tenant_id}/slots/{slot}", get(get_rollout))
        .route("/tenants/{tenant_id}/configs/{sha256}", get(get_config))
        .route(
            "/tenants/{tenant_id}/slots/{slot}/versions",
            post(stage_version).layer(DefaultBodyLimit::max(
                MAX_COMPONENT_BYTES * 4 / 3 + MAX_CONFIG_BYTES,
            )),
        )
        .route("/tenants/{tenant_id}/slots/{slot}/rollback", post(rollback))
        .route(
            "/tenants/{tenant_id}/slots/{slot}/lanes",
            put(reorder_lanes),
        )
        .route(
            "/tenants/{tenant_id}/slots/{slot}/versions/{id}/shadow",
            post(shadow_version),
        )
        .route(
            "/tenants/{tenant_id}/slots/{slot}/versions/{id}/canary",
            post(canary_version),
        )
        .route(
            "/tenants/{tenant_id}/slots/{slot}/versions/{id}/activate",
            post(activate_version),
        )
        .route(
            "/tenants/{tenant_id}/slots/{slot}/versions/{id}/stage",
            post(unstage_version),
        )
        .route(
            "/tenants/{tenant_id}/slots/{slot}/versions/{id}/retire",
            post(retire_version),
        )
        .route(
            "/tenants/{tenant_id}/slots/{slot}/versions/{id}/diff",
            get(shadow_diff),
        )
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

/// `?limit=&after=` of the operator's lists.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<usize>,
    after: Option<String>,
}

type ListQueryResult = Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>;

fn page_request(query: ListQueryResult) -> Result<PageRequest, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    PageRequest::new(query.limit, query.after.as_deref())
}

#[derive(Serialize)]
struct TenantPage {
    tenants: Vec<TenantView>,
    next: Option<String>,
}

async fn list_tenants(
    State(state): State<AppState>,
    _: OperatorCaller,
    query: ListQueryResult,
) -> Result<Json<TenantPage>, ApiError> {
    let page = page_request(query)?;
    let app = state.app.clone();
    blocking(move || {
        let found = app.storage.tenants_page(page.after.as_ref(), page.limit)?;
        Ok(Json(TenantPage {
            tenants: found.items.into_iter().map(TenantView::from).collect(),
            next: super::page::next(found.next),
        }))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    id: String,
    name: String,
    /// An example tenant to copy (`demo`, `pharmacy`, `banking`): its
    /// plugins and configs, pack, queues, agents and articles.
    #[serde(default)]
    from: Option<String>,
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
    caller: OperatorCaller,
    ApiJson(body): ApiJson<NewTenant>,
) -> Result<(StatusCode, Json<CreatedTenant>), ApiError> {
    let app = state.app.clone();
    let actor = caller.actor();
    let (tenant, api_key) = blocking(move || match &body.from {
        Some(from) => {
            crate::demo::create_from_example(&app, from, &body.id, &body.name, None, &actor)
        }
        None => app.create_tenant(&body.id, &body.name, None),
    })
    .await?;
    state.app.storage.flush().await?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedTenant {
            tenant: tenant.into(),
            api_key,
        }),
    ))
}

#[derive(Serialize)]
struct PluginPage {
    plugins: Vec<PluginMeta>,
    next: Option<String>,
}

async fn list_plugins(
    State(state): State<AppState>,
    _: OperatorCaller,
    query: ListQueryResult,
) -> Result<Json<PluginPage>, ApiError> {
    let page = page_request(query)?;
    let app = state.app.clone();
    blocking(move || {
        let found = app.storage.plugins_page(page.after.as_ref(), page.limit)?;
        Ok(Json(PluginPage {
            plugins: found.items,
            next: super::page::next(found.next),
        }))
    })
    .await
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
    blocking(move || Ok(Json(app.rollouts(&tenant_id)?))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SlotBindings {
    plugins: Vec<Binding>,
}

fn parse_slot(slot: &str) -> Result<Slot, ApiError> {
    Slot::parse(slot).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no slot {slot:?}; slots are inspect, classify, escalate, route, assist, ticket"
        ))
    })
}

/// Replace what is active on one slot of a tenant, in call order (each
/// plugin validated and smoke-run first).
async fn put_binding(
    State(state): State<AppState>,
    caller: OperatorCaller,
    ApiPath((tenant_id, slot)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<SlotBindings>,
) -> Result<Json<Bindings>, ApiError> {
    let slot = parse_slot(&slot)?;
    let app = state.app.clone();
    blocking(move || {
        app.bind(&tenant_id, slot, body.plugins, &caller.actor())?;
        Ok(Json(app.rollouts(&tenant_id)?))
    })
    .await
}

async fn get_rollout(
    State(state): State<AppState>,
    _: OperatorCaller,
    ApiPath((tenant_id, slot)): ApiPath<(String, String)>,
) -> Result<Json<SlotRollout>, ApiError> {
    let slot = parse_slot(&slot)?;
    let app = state.app.clone();
    blocking(move || Ok(Json(app.rollout(&tenant_id, slot)?))).await
}

/// A config of the tenant's rollouts, by the `config_sha256` a version names
/// (rollouts list configs by hash only: they can be 16 MiB each).
#[derive(Serialize)]
struct RolloutConfig {
    sha256: String,
    config: String,
}

async fn get_config(
    State(state): State<AppState>,
    _: OperatorCaller,
    ApiPath((tenant_id, sha256)): ApiPath<(String, String)>,
) -> Result<Json<RolloutConfig>, ApiError> {
    let app = state.app.clone();
    blocking(move || {
        let config = app.rollout_config(&tenant_id, &sha256)?;
        Ok(Json(RolloutConfig { sha256, config }))
    })
    .await
}

/// Stage a version on a slot: either upload a component (`component`, base64)
/// or name a stored one (`sha256`), with its config. Validated (component,
/// world, `init`, smoke run) before anything is stored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StageRequest {
    /// The place in the slot it competes for; by default the plugin's name.
    #[serde(default)]
    lane: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    component: Option<String>,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    config: String,
    /// Limits for this version, over the tenant's (see `PUT .../limits`).
    #[serde(default)]
    limits: LimitOverrides,
}

async fn stage_version(
    State(state): State<AppState>,
    caller: OperatorCaller,
    ApiPath((tenant_id, slot)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<StageRequest>,
) -> Result<(StatusCode, Json<StagedVersion>), ApiError> {
    let slot = parse_slot(&slot)?;
    let app = state.app.clone();
    let actor = caller.actor();
    let tenant = tenant_id.clone();
    let version = match (body.component, body.sha256) {
        (Some(encoded), None) => {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded.as_bytes())
                .map_err(|e| ApiError::BadRequest(format!("component is not valid base64: {e}")))?;
            let (Some(name), Some(version)) = (body.name, body.version) else {
                return Err(ApiError::BadRequest(
                    "an uploaded component needs a name and a version".into(),
                ));
            };
            blocking(move || {
                app.push(
                    &tenant_id,
                    slot,
                    body.lane.as_deref(),
                    &name,
                    &version,
                    &bytes,
                    body.config,
                    body.limits,
                    &actor,
                )
            })
            .await?
        }
        (None, Some(sha)) => {
            blocking(move || {
                app.stage(
                    &tenant_id,
                    slot,
                    body.lane.as_deref(),
                    &sha,
                    body.config,
                    body.limits,
                    &actor,
                )
            })
            .await?
        }
        _ => {
            return Err(ApiError::BadRequest(
                "give either \"component\" (base64) with \"name\" and \"version\", or \"sha256\" of a stored plugin".into(),
            ));
        }
    };
    let app = state.app.clone();
    let (version, warnings) = blocking(move || {
        let warnings = app.lane_warnings(&tenant, slot, &version)?;
        Ok((version, warnings))
    })
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(StagedVersion { version, warnings }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CanaryRequest {
    percent: u8,
}

async fn transition(
    state: AppState,
    caller: OperatorCaller,
    tenant_id: String,
    slot: String,
    id: u64,
    transition: Transition,
) -> Result<Json<SlotRollout>, ApiError> {
    let slot = parse_slot(&slot)?;
    let app = state.app.clone();
    blocking(move || {
        Ok(Json(app.transition(
            &tenant_id,
            slot,
            id,
            transition,
            &caller.actor(),
        )?))
    })
    .await
}

async fn shadow_version(
    State(state): State<AppState>,
    caller: OperatorCaller,
    ApiPath((tenant_id, slot, id)): ApiPath<(String, String, u64)>,
) -> Result<Json<SlotRollout>, ApiError> {
    transition(state, caller, tenant_id, slot, id, Transition::Shadow).await
}

async fn canary_version(
    State(state): State<AppState>,
    caller: OperatorCaller,
    ApiPath((tenant_id, slot, id)): ApiPath<(String, String, u64)>,
    ApiJson(body): ApiJson<CanaryRequest>,
) -> Result<Json<SlotRollout>, ApiError> {
    transition(
        state,
        caller,
        tenant_id,
        slot,
        id,
        Transition::Canary(body.percent),
    )
    .await
}

async fn activate_version(
    State(state): State<AppState>,
    caller: OperatorCaller,
    ApiPath((tenant_id, slot, id)): ApiPath<(String, String, u64)>,
) -> Result<Json<SlotRollout>, ApiError> {
    transition(state, caller, tenant_id, slot, id, Transition::Activate).await
}

async fn unstage_version(
    State(state): State<AppState>,
    caller: OperatorCaller,
    ApiPath((tenant_id, slot, id)): ApiPath<(String, String, u64)>,
) -> Result<Json<SlotRollout>, ApiError> {
    transition(state, caller, tenant_id, slot, id, Transition::Stage).await
}

async fn retire_version(
    State(state): State<AppState>,
    caller: OperatorCaller,
    ApiPath((tenant_id, slot, id)): ApiPath<(String, String, u64)>,
) -> Result<Json<SlotRollout>, ApiError> {
    transition(state, caller, tenant_id, slot, id, Transition::Retire).await
}

async fn rollback(
    State(state): State<AppState>,
    caller: OperatorCaller,
    ApiPath((tenant_id, slot)): ApiPath<(String, String)>,
) -> Result<Json<SlotRollout>, ApiError> {
    let slot = parse_slot(&slot)?;
    let app = state.app.clone();
    blocking(move || Ok(Json(app.rollback(&tenant_id, slot, &caller.actor())?))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LaneOrder {
    lanes: Vec<String>,
}

async fn reorder_lanes(
    State(state): State<AppState>,
    caller: OperatorCaller,
    ApiPath((tenant_id, slot)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<LaneOrder>,
) -> Result<Json<SlotRollout>, ApiError> {
    let slot = parse_slot(&slot)?;
    let app = state.app.clone();
    blocking(move || {
        Ok(Json(app.reorder_lanes(
            &tenant_id,
            slot,
            body.lanes,
            &caller.actor(),
        )?))
    })
    .await
}

/// A staged version, with what the operator should know about where it runs.
#[derive(Serialize)]
struct StagedVersion {
    #[serde(flatten)]
    version: SlotVersion,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<String>,
}

async fn shadow_diff(
    State(state): State<AppState>,
    _: OperatorCaller,
    ApiPath((tenant_id, slot, id)): ApiPath<(String, String, u64)>,
) -> Result<Json<ShadowStats>, ApiError> {
    let slot = parse_slot(&slot)?;
    let app = state.app.clone();
    blocking(move || Ok(Json(app.shadow_stats(&tenant_id, slot, id)?))).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    /// Newest events to return (default 500, at most 5000).
    #[serde(default = "default_audit_limit")]
    limit: usize,
}

fn default_audit_limit() -> usize {
    500
}

async fn audit(
    State(state): State<AppState>,
    _: OperatorCaller,
    ApiPath(tenant_id): ApiPath<String>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<AuditEvent>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let app = state.app.clone();
    blocking(move || Ok(Json(app.audit_log(&tenant_id, query.limit.clamp(1, 5000))?))).await
}

/// The limits a tenant's plugins run under: server defaults, the tenant's
/// overrides, and the result.
async fn get_limits(
    State(state): State<AppState>,
    _: OperatorCaller,
    ApiPath(tenant_id): ApiPath<String>,
) -> Result<Json<LimitsReport>, ApiError> {
    let app = state.app.clone();
    blocking(move || Ok(Json(app.limits_of(&tenant_id)?))).await
}

/// Replace the tenant's limit overrides (fields left out take the server's
/// default). Serving plugins are checked under the new limits first.
async fn put_tenant_limits(
    State(state): State<AppState>,
    caller: OperatorCaller,
    ApiPath(tenant_id): ApiPath<String>,
    ApiJson(body): ApiJson<LimitOverrides>,
) -> Result<Json<LimitsReport>, ApiError> {
    let app = state.app.clone();
    blocking(move || {
        Ok(Json(app.set_limits(
            &tenant_id,
            None,
            body,
            &caller.actor(),
        )?))
    })
    .await
}

/// Replace one version's limit overrides (fields left out take the tenant's).
async fn put_version_limits(
    State(state): State<AppState>,
    caller: OperatorCaller,
    ApiPath((tenant_id, slot, id)): ApiPath<(String, String, u64)>,
    ApiJson(body): ApiJson<LimitOverrides>,
) -> Result<Json<SlotVersion>, ApiError> {
    let slot = parse_slot(&slot)?;
    let app = state.app.clone();
    blocking(move || {
        app.set_limits(&tenant_id, Some((slot, id)), body, &caller.actor())?;
        app.rollout(&tenant_id, slot)?
            .versions
            .into_iter()
            .find(|v| v.id == id)
            .map(Json)
            .ok_or_else(|| crate::app::Error::NotFound(format!("no version {id}")))
    })
    .await
}
