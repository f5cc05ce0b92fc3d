//! The tenant's agents: skills, capacity, status and live load.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};

use super::auth::TenantCaller;
use super::{ApiError, ApiJson, ApiPath, AppState, blocking};
use crate::model::{Agent, AgentWithLoad};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/agents", get(list_agents).post(create_agent))
        .route("/agents/{agent_id}", put(put_agent).get(get_agent))
}

async fn list_agents(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
) -> Result<Json<Vec<AgentWithLoad>>, ApiError> {
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    blocking(move || Ok(Json(app.storage.agents(&tenant)?))).await
}

async fn get_agent(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    ApiPath(agent_id): ApiPath<String>,
) -> Result<Json<AgentWithLoad>, ApiError> {
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    blocking(move || {
        app.storage
            .agents(&tenant)?
            .into_iter()
            .find(|a| a.agent.id == agent_id)
            .map(Json)
            .ok_or_else(|| {
                crate::app::Error::NotFound(format!("agent {agent_id:?} does not exist"))
            })
    })
    .await
}

async fn create_agent(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    ApiJson(agent): ApiJson<Agent>,
) -> Result<(StatusCode, Json<Agent>), ApiError> {
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    let agent = blocking(move || {
        app.put_agent(&tenant, &agent, true)?;
        Ok(agent)
    })
    .await?;
    state.app.storage.flush().await?;
    Ok((StatusCode::CREATED, Json(agent)))
}

async fn put_agent(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    ApiPath(agent_id): ApiPath<String>,
    ApiJson(agent): ApiJson<Agent>,
) -> Result<Json<Agent>, ApiError> {
    if agent.id != agent_id {
        return Err(ApiError::BadRequest(format!(
            "the body's id {:?} differs from the path's {agent_id:?}",
            agent.id
        )));
    }
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    let agent = blocking(move || {
        app.put_agent(&tenant, &agent, false)?;
        Ok(agent)
    })
    .await?;
    state.app.storage.flush().await?;
    Ok(Json(agent))
}
