//! Customer messages and conversations.

use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::auth::{DeskCaller, TenantCaller};
use super::page::{self, PageRequest};
use super::{ApiError, ApiPath, AppState, JsonBody, blocking};
use crate::app::{InboundProof, NewMessage};
use crate::metrics::Stage;
use crate::model::{Conversation, Customer, Decision, Entry};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/conversations/{conversation_id}/messages",
            post(post_message),
        )
        .route("/conversations/{conversation_id}", get(get_conversation))
        .route(
            "/conversations/{conversation_id}/survey",
            post(answer_survey),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostMessage {
    text: String,
    #[serde(default = "default_channel")]
    channel: String,
    customer: Customer,
}

fn default_channel() -> String {
    "web".into()
}

/// The answer to a message: its id and everything decided about it.
#[derive(Serialize)]
struct MessageResponse {
    message_id: String,
    conversation_id: String,
    #[serde(flatten)]
    decision: Decision,
}

async fn post_message(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    ApiPath(conversation_id): ApiPath<String>,
    headers: axum::http::HeaderMap,
    raw: JsonBody,
) -> Result<Response, ApiError> {
    let metrics = &state.app.metrics;
    let stage = Instant::now();
    let body: PostMessage = raw.parse()?;
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let proof = InboundProof {
        timestamp: header("switchyard-timestamp"),
        signature: header("switchyard-signature"),
        body: raw.0,
    };
    metrics.record_stage(Stage::Parse, stage);
    let record = admit_message(
        &state,
        tenant,
        conversation_id,
        NewMessage {
            text: body.text,
            channel: body.channel,
            customer: body.customer,
        },
        Some(proof),
    )
    .await?;
    let stage = Instant::now();
    let json = serde_json::to_vec(&MessageResponse {
        message_id: record.id,
        conversation_id: record.conversation_id,
        decision: record.decision,
    })
    .map_err(|e| ApiError::Internal(format!("the answer did not serialise: {e}")))?;
    metrics.record_stage(Stage::Serialise, stage);
    Ok((
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        json,
    )
        .into_response())
}

#[derive(Serialize)]
struct ConversationResponse {
    conversation: Conversation,
    /// One page of its entries, oldest first: customer messages with their
    /// decisions, bot and agent replies, notes, what the system did.
    messages: Vec<Entry>,
    next: Option<String>,
    /// The caller is an agent on their no-assist day: suggestions are
    /// made and compared, not shown.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    no_assist_today: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MessagesQuery {
    limit: Option<usize>,
    after: Option<String>,
}

async fn get_conversation(
    State(state): State<AppState>,
    DeskCaller { tenant, actor }: DeskCaller,
    ApiPath(conversation_id): ApiPath<String>,
    query: Result<Query<MessagesQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ConversationResponse>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let page = PageRequest::new(query.limit, query.after.as_deref())?;
    crate::app::check_id("conversation id", &conversation_id)?;
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    blocking(move || {
        let conversation = app
            .storage
            .conversation(&tenant, &conversation_id)?
            .ok_or_else(|| {
                crate::app::Error::NotFound(format!(
                    "conversation {conversation_id:?} does not exist"
                ))
            })?;
        let found =
            app.storage
                .entries_page(&tenant, &conversation_id, page.after.as_ref(), page.limit)?;
        let mut messages = found.items;
        let no_assist_today = app.no_assist_for(&tenant, &actor)?;
        if no_assist_today {
            hide_in_entries(&mut messages);
        }
        Ok(Json(ConversationResponse {
            conversation,
            messages,
            next: page::next(found.next),
            no_assist_today,
        }))
    })
    .await
}

/// Take suggestions out of the entries an agent on their no-assist day sees.
pub(super) fn hide_in_entries(entries: &mut [Entry]) {
    for entry in entries {
        if let Entry::Customer { message, .. } = entry {
            crate::conversations::suggestions::hide_suggestions(&mut message.decision);
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SurveyAnswer {
    score: u8,
    comment: Option<String>,
}

/// The customer's survey answer, as the channel hands it in.
async fn answer_survey(
    State(state): State<AppState>,
    TenantCaller(tenant, _): TenantCaller,
    ApiPath(conversation_id): ApiPath<String>,
    crate::api::ApiJson(body): crate::api::ApiJson<SurveyAnswer>,
) -> Result<Json<Conversation>, ApiError> {
    let _slot = state.throttle.run_slot(&tenant).await;
    let app = state.app.clone();
    blocking(move || app.answer_survey(&tenant, &conversation_id, body.score, body.comment))
        .await
        .map(Json)
}

/// Decide and store one customer message under the tenant's limits: a run
/// slot for the plugins, the lowest priority for a tenant hogging the cores,
/// durable on return. The API's message endpoint and the web chat both come
/// through here.
pub(crate) async fn admit_message(
    state: &AppState,
    tenant: String,
    conversation_id: String,
    message: NewMessage,
    proof: Option<InboundProof>,
) -> Result<crate::model::MessageRecord, ApiError> {
    let queued = Instant::now();
    let app = state.app.clone();
    let running = state.throttle.run_slot(&tenant).await;
    let hog_check = tenant.clone();
    // A tenant whose plugin just ran to its deadline, or that keeps more than
    // its part of the cores busy while others wait (`fair_share.rs`), runs at
    // the lowest scheduling priority: it takes the cores nobody else wants.
    let low_priority =
        state.throttle.is_hogging(&tenant) || state.throttle.fair_share.is_heavy(&tenant);
    // From here the message is a writer the next flush may wait for; not a
    // low-priority one, whose plugins may wait for a core or run to their
    // deadline: every flush would wait the whole commit delay for it (the
    // healthy neighbour's p50 rose from 2 to 5 ms).
    let write = (!low_priority).then(|| state.app.storage.begin_write());
    // The slot covers the plugins' CPU, not the wait for the disk: the
    // message gives it up once its plugins are done, and returns durable.
    let work = move || {
        app.metrics.record_stage(Stage::Queue, queued);
        app.handle_admitted(&tenant, &conversation_id, message, proof, running, write)
    };
    let record = if low_priority {
        state
            .throttle
            .low_priority()
            .run(work)
            .await
            .ok_or_else(|| ApiError::Internal("the low-priority pool stopped".into()))??
    } else {
        blocking(work).await?
    };
    // Packs run inside the plugin that asked them: its time includes theirs.
    let plugin_time = |trace: &[crate::model::TraceEntry]| {
        Duration::from_micros(
            trace
                .iter()
                .filter(|t| t.slot != crate::model::Slot::Pack)
                .map(|t| t.micros)
                .sum(),
        )
    };
    state.throttle.fair_share.charge(
        &hog_check,
        plugin_time(&record.decision.trace)
            + record
                .decision
                .shadow
                .as_ref()
                .map_or(Duration::ZERO, |s| plugin_time(&s.trace)),
    );
    // A plugin that ran to its deadline burnt that much CPU: its tenant runs
    // one message at a time for a while (throttle.rs).
    let timed_out =
        |trace: &[crate::model::TraceEntry]| trace.iter().any(|t| t.outcome == "timeout");
    if timed_out(&record.decision.trace)
        || record
            .decision
            .shadow
            .as_ref()
            .is_some_and(|s| timed_out(&s.trace))
    {
        state
            .throttle
            .hogged(&hog_check, Instant::now() + super::throttle::HOG_PENALTY);
    }
    Ok(record)
}
