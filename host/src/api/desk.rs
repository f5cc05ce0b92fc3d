//! The agent's side: the conversation list, and what agents do with a
//! conversation (claim, reply, note, transfer, resolve) and with their own
//! status. Agents authenticate with their own key (`POST
//! /v1/agents/{id}/key`, by the tenant); the tenant's admin key may list,
//! note, transfer, resolve and close, acting as no agent.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::auth::{AgentCaller, DeskCaller, TenantCaller};
use super::page::{self, PageRequest};
use super::{ApiError, ApiJson, ApiPath, AppState, blocking};
use crate::app::check_id;
use crate::conversations::TransferTo;
use crate::model::{
    AgentStatus, AgentWithLoad, Conversation, ConversationHead, ConversationStatus, Post,
    SuggestionOutcome,
};
use crate::storage::ConversationFilter;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/conversations", get(list_conversations))
        .route("/conversations/{conversation_id}/handoff", get(handoff))
        .route("/conversations/{conversation_id}/claim", post(claim))
        .route("/conversations/{conversation_id}/replies", post(reply))
        .route("/conversations/{conversation_id}/notes", post(note))
        .route("/conversations/{conversation_id}/transfer", post(transfer))
        .route("/conversations/{conversation_id}/resolve", post(resolve))
        .route("/conversations/{conversation_id}/close", post(close))
        .route(
            "/conversations/{conversation_id}/suggestions/{suggestion_id}/dismiss",
            post(dismiss),
        )
        .route(
            "/conversations/{conversation_id}/messages/{message_id}/intent",
            axum::routing::put(correct_intent),
        )
        .route("/suggestion-outcomes", get(list_outcomes))
        .route("/me", get(me))
        .route("/me/status", put(set_status))
        .route("/agents/{agent_id}/key", post(issue_agent_key))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Comma-separated statuses; none: every status.
    status: Option<String>,
    queue: Option<String>,
    /// An agent id, or `me` with an agent's key.
    agent: Option<String>,
    customer: Option<String>,
    /// `newest` (default) or `longest_waiting`.
    order: Option<String>,
    limit: Option<usize>,
    after: Option<String>,
}

#[derive(Serialize)]
struct ConversationList {
    conversations: Vec<ConversationHead>,
    next: Option<String>,
}

async fn list_conversations(
    State(state): State<AppState>,
    caller: DeskCaller,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConversationList>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let page = PageRequest::new(query.limit, query.after.as_deref())?;
    let mut statuses = Vec::new();
    for name in query
        .status
        .iter()
        .flat_map(|s| s.split(','))
        .map(str::trim)
    {
        if name.is_empty() {
            continue;
        }
        statuses.push(ConversationStatus::parse(name).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "status {name:?} is not one of bot, waiting, assigned, resolved, closed, reopened"
            ))
        })?);
    }
    let agent = match query.agent.as_deref() {
        Some("me") => match caller.actor.agent_id() {
            Some(me) => Some(me.to_string()),
            None => {
                return Err(ApiError::BadRequest(
                    "agent=me needs an agent's key; the admin key is no agent".into(),
                ));
            }
        },
        other => other.map(str::to_string),
    };
    for (what, id) in [
        ("queue", &query.queue),
        ("agent id", &agent),
        ("customer id", &query.customer),
    ] {
        if let Some(id) = id {
            check_id(what, id)?;
        }
    }
    let newest_first = match query.order.as_deref() {
        None | Some("newest") => true,
        Some("longest_waiting") => false,
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "order {other:?} is not newest or longest_waiting"
            )));
        }
    };
    let filter = ConversationFilter {
        statuses,
        queue: query.queue,
        agent,
        customer: query.customer,
        newest_first,
    };
    let tenant = caller.tenant;
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    blocking(move || {
        let found =
            app.storage
                .conversations_page(&tenant, &filter, page.after.as_ref(), page.limit)?;
        Ok(Json(ConversationList {
            conversations: found.items,
            next: page::next(found.next),
        }))
    })
    .await
}

async fn handoff(
    State(state): State<AppState>,
    caller: DeskCaller,
    ApiPath(conversation_id): ApiPath<String>,
) -> Result<Json<crate::conversations::handoff::Handoff>, ApiError> {
    let _slot = state.throttle.run_slot(&caller.tenant).await;
    let app = state.app.clone();
    blocking(move || app.handoff(&caller.tenant, &conversation_id, &caller.actor))
        .await
        .map(Json)
}

async fn claim(
    State(state): State<AppState>,
    caller: AgentCaller,
    ApiPath(conversation_id): ApiPath<String>,
) -> Result<Json<Conversation>, ApiError> {
    let _slot = state.throttle.run_slot(&caller.tenant).await;
    let app = state.app.clone();
    blocking(move || app.claim(&caller.tenant, &conversation_id, &caller.agent))
        .await
        .map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextBody {
    text: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReplyBody {
    text: String,
    /// The suggestion the reply started from.
    suggestion_id: Option<String>,
}

async fn reply(
    State(state): State<AppState>,
    caller: AgentCaller,
    ApiPath(conversation_id): ApiPath<String>,
    ApiJson(body): ApiJson<ReplyBody>,
) -> Result<(StatusCode, Json<Post>), ApiError> {
    let _slot = state.throttle.run_slot(&caller.tenant).await;
    let app = state.app.clone();
    let post = blocking(move || {
        app.agent_reply(
            &caller.tenant,
            &conversation_id,
            &caller.agent,
            body.text,
            body.suggestion_id.as_deref(),
        )
    })
    .await?;
    Ok((StatusCode::CREATED, Json(post)))
}

async fn note(
    State(state): State<AppState>,
    caller: DeskCaller,
    ApiPath(conversation_id): ApiPath<String>,
    ApiJson(body): ApiJson<TextBody>,
) -> Result<(StatusCode, Json<Post>), ApiError> {
    let _slot = state.throttle.run_slot(&caller.tenant).await;
    let app = state.app.clone();
    let post =
        blocking(move || app.add_note(&caller.tenant, &conversation_id, &caller.actor, body.text))
            .await?;
    Ok((StatusCode::CREATED, Json(post)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    to: TransferTo,
    note: Option<String>,
}

async fn transfer(
    State(state): State<AppState>,
    caller: DeskCaller,
    ApiPath(conversation_id): ApiPath<String>,
    ApiJson(body): ApiJson<TransferBody>,
) -> Result<Json<Conversation>, ApiError> {
    let _slot = state.throttle.run_slot(&caller.tenant).await;
    let app = state.app.clone();
    blocking(move || {
        app.transfer(
            &caller.tenant,
            &conversation_id,
            &caller.actor,
            &body.to,
            body.note,
        )
    })
    .await
    .map(Json)
}

async fn resolve(
    State(state): State<AppState>,
    caller: DeskCaller,
    ApiPath(conversation_id): ApiPath<String>,
) -> Result<Json<Conversation>, ApiError> {
    let _slot = state.throttle.run_slot(&caller.tenant).await;
    let app = state.app.clone();
    blocking(move || app.resolve(&caller.tenant, &conversation_id, &caller.actor))
        .await
        .map(Json)
}

async fn close(
    State(state): State<AppState>,
    caller: DeskCaller,
    ApiPath(conversation_id): ApiPath<String>,
) -> Result<Json<Conversation>, ApiError> {
    let _slot = state.throttle.run_slot(&caller.tenant).await;
    let app = state.app.clone();
    blocking(move || app.close_conversation(&caller.tenant, &conversation_id, &caller.actor))
        .await
        .map(Json)
}

async fn dismiss(
    State(state): State<AppState>,
    caller: AgentCaller,
    ApiPath((conversation_id, suggestion_id)): ApiPath<(String, String)>,
) -> Result<Json<SuggestionOutcome>, ApiError> {
    let _slot = state.throttle.run_slot(&caller.tenant).await;
    let app = state.app.clone();
    blocking(move || {
        app.dismiss_suggestion(
            &caller.tenant,
            &conversation_id,
            &caller.agent,
            &suggestion_id,
        )
    })
    .await
    .map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OutcomeQuery {
    limit: Option<usize>,
    after: Option<String>,
}

#[derive(Serialize)]
struct OutcomePage {
    outcomes: Vec<SuggestionOutcome>,
    next: Option<String>,
}

/// What agents did with suggestions, by suggestion id (the tenant's key;
/// the reports of the KPI work read the same records).
async fn list_outcomes(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    query: Result<Query<OutcomeQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<OutcomePage>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let page = PageRequest::new(query.limit, query.after.as_deref())?;
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    blocking(move || {
        let found =
            app.storage
                .suggestion_outcomes_page(&tenant, page.after.as_ref(), page.limit)?;
        Ok(Json(OutcomePage {
            outcomes: found.items,
            next: page::next(found.next),
        }))
    })
    .await
}

async fn me(
    State(state): State<AppState>,
    caller: AgentCaller,
) -> Result<Json<AgentWithLoad>, ApiError> {
    let app = state.app.clone();
    blocking(move || app.agent_with_load(&caller.tenant, &caller.agent))
        .await
        .map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusBody {
    status: AgentStatus,
}

async fn set_status(
    State(state): State<AppState>,
    caller: AgentCaller,
    ApiJson(body): ApiJson<StatusBody>,
) -> Result<Json<AgentWithLoad>, ApiError> {
    let _slot = state.throttle.run_slot(&caller.tenant).await;
    let app = state.app.clone();
    blocking(move || app.set_agent_status(&caller.tenant, &caller.agent, body.status))
        .await
        .map(Json)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    /// Refused: agent keys are generated.
    key: Option<String>,
}

#[derive(Serialize)]
struct IssuedKey {
    agent: String,
    key: String,
}

async fn issue_agent_key(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    ApiPath(agent_id): ApiPath<String>,
    ApiJson(body): ApiJson<KeyBody>,
) -> Result<(StatusCode, Json<IssuedKey>), ApiError> {
    // Generated only: a key of the caller's choosing that collides would
    // tell a tenant that another tenant uses it.
    if body.key.is_some() {
        return Err(ApiError::Unprocessable(
            "an agent's key is generated; send {} (only the operator chooses keys)".into(),
        ));
    }
    let chosen: Option<String> = None;
    let app = state.app.clone();
    let agent = agent_id.clone();
    let key = blocking(move || app.issue_agent_key(&tenant, &agent_id, chosen.as_deref())).await?;
    Ok((StatusCode::CREATED, Json(IssuedKey { agent, key })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IntentBody {
    intent: String,
}

/// An agent (or the admin) says what a customer message was really about.
async fn correct_intent(
    State(state): State<AppState>,
    caller: DeskCaller,
    ApiPath((conversation_id, message_id)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<IntentBody>,
) -> Result<Json<crate::model::MessageRecord>, ApiError> {
    let _slot = state.throttle.run_slot(&caller.tenant).await;
    let app = state.app.clone();
    blocking(move || {
        app.correct_intent(
            &caller.tenant,
            &conversation_id,
            &message_id,
            &body.intent,
            &caller.actor,
        )
    })
    .await
    .map(Json)
}
