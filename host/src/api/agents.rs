//! The tenant's agents: skills, capacity, status and live load.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};

use serde::{Deserialize, Serialize};

use super::auth::{DeskCaller, TenantCaller};
use super::page::{self, PageRequest};
use super::{ApiError, ApiJson, ApiPath, AppState, blocking};
use crate::model::{Agent, AgentWithLoad};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/agents", get(list_agents).post(create_agent))
        .route("/agents/{agent_id}", put(put_agent).get(get_agent))
        .route("/queues", get(queues))
}

async fn queues(
    State(state): State<AppState>,
    DeskCaller { tenant, .. }: DeskCaller,
) -> Result<Json<crate::conversations::monitor::QueueMonitor>, ApiError> {
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    blocking(move || app.queue_monitor(&tenant)).await.map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentQuery {
    limit: Option<usize>,
    after: Option<String>,
}

#[derive(Serialize)]
struct AgentPage {
    agents: Vec<AgentWithLoad>,
    next: Option<String>,
}

async fn list_agents(
    State(state): State<AppState>,
    DeskCaller { tenant, .. }: DeskCaller,
    query: Result<Query<AgentQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AgentPage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let page = PageRequest::new(query.limit, query.after.as_deref())?;
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    blocking(move || {
        let found = app
            .storage
            .agents_page(&tenant, page.after.as_ref(), page.limit)?;
        Ok(Json(AgentPage {
            agents: found.items,
            next: page::next(found.next),
        }))
    })
    .await
}

async fn get_agent(
    State(state): State<AppState>,
    DeskCaller { tenant, .. }: DeskCaller,
    ApiPath(agent_id): ApiPath<String>,
) -> Result<Json<AgentWithLoad>, ApiError> {
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    blocking(move || {
        let agent = app.storage.agent(&tenant, &agent_id)?.ok_or_else(|| {
            crate::app::Error::NotFound(format!("agent {agent_id:?} does not exist"))
        })?;
        let load = app.storage.agent_load(&tenant, &agent.id)?;
        Ok(Json(AgentWithLoad { agent, load }))
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
        let before = app.storage.agent(&tenant, &agent.id)?.map(|a| a.status);
        app.put_agent(&tenant, &agent, false)?;
        // Offline hands back the agent's conversations; online takes waiting ones.
        if before.is_some_and(|b| b != agent.status) {
            app.after_agent_status(&tenant, &agent.id, agent.status)?;
        }
        Ok(agent)
    })
    .await?;
    state.app.storage.flush().await?;
    Ok(Json(agent))
}
