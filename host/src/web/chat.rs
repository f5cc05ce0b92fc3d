//! The customer chat of the `web` channel: a page per tenant
//! (`/chat/{tenant}`), a snippet that embeds it (`/chat/{tenant}/embed.js`),
//! and the endpoints its script uses (`/chat/{tenant}/api/...`).
//!
//! A visitor gets a signed token (`session.rs`) on first load; it names one
//! conversation (`web-<visitor>`) and one customer (the same id) and opens
//! nothing else. What the customer sees is the conversation's public side:
//! their messages, bot and agent replies, who joined, the survey; never
//! notes, decisions, suggestions or agent ids.

use std::collections::BTreeMap;

use axum::Json;
use axum::Router;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::i18n::{self, Lang};
use super::{LangQuery, escape, language, page};
use crate::api::{ApiError, ApiJson, AppState, blocking};
use crate::app::{NewMessage, check_id};
use crate::model::{Author, Customer, Entry, Event, EventKind, Tier};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/chat/{tenant}", get(chat_page))
        .route("/chat/{tenant}/embed.js", get(embed_script))
        .route("/chat/{tenant}/api/visitor", post(new_visitor))
        .route("/chat/{tenant}/api/conversation", get(conversation))
        .route("/chat/{tenant}/api/messages", post(send))
        .route("/chat/{tenant}/api/events", get(events))
        .route("/chat/{tenant}/api/survey", post(survey))
}

/// One entry as the customer sees it.
#[derive(Serialize)]
pub struct ChatEntry {
    id: String,
    author: Author,
    /// The agent's display name (an agent's reply, or who joined).
    #[serde(skip_serializing_if = "Option::is_none")]
    agent_name: Option<String>,
    /// Empty for the system entries the page words itself (who joined).
    text: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<String>,
    at_ms: u64,
}

/// System entries a customer is told about; the rest are the team's.
const CUSTOMER_ACTIONS: &[&str] = &[
    "resolved",
    "claimed",
    "assigned",
    "transferred",
    "returned",
    "survey",
    "survey-answered",
    "summary",
];

/// The customer's view of an entry, if they see it. Agent names are filled
/// in by the caller (`names`), which knows the roster.
fn chat_entry(entry: &Entry, names: &BTreeMap<String, String>) -> Option<ChatEntry> {
    match entry {
        Entry::Customer { message, .. } => Some(ChatEntry {
            id: message.id.clone(),
            author: Author::Customer,
            agent_name: None,
            // As stored: masked when the tenant masks stored messages.
            text: message.text.clone(),
            action: None,
            at_ms: message.received_at_ms,
        }),
        Entry::Post(post) => {
            if post.private {
                return None;
            }
            let action = post.action.as_deref();
            // A reply has no action; any entry with one is a record of what
            // someone did, and only some of those are the customer's to see
            // (an agent's "resolved" entry names the agent by id).
            if action.is_some_and(|a| !CUSTOMER_ACTIONS.contains(&a))
                || (post.author == Author::System && action.is_none())
            {
                return None;
            }
            let agent_name = post
                .agent_id
                .as_ref()
                .map(|id| names.get(id).cloned().unwrap_or_default());
            // Who joined, who left: the page says it in the customer's
            // language, with the agent's name, never their id.
            let worded_by_page = matches!(
                action,
                Some("claimed" | "assigned" | "transferred" | "returned" | "resolved")
            );
            Some(ChatEntry {
                id: post.id.clone(),
                author: post.author,
                agent_name,
                text: if worded_by_page {
                    String::new()
                } else {
                    post.text.clone()
                },
                action: post.action.clone(),
                at_ms: post.at_ms,
            })
        }
    }
}

/// The `data:` of a live event for the customer, or `None` when they do not
/// see it. Agent names are not known here (no store reads on the event
/// loop): an entry naming an agent carries `agent_name: ""` and the page
/// asks for the conversation again.
pub fn customer_event(event: &Event, entry: Option<&Entry>) -> Option<String> {
    #[derive(Serialize)]
    // No event id: ids count the whole tenant's events.
    struct Data {
        kind: EventKind,
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<crate::model::ConversationStatus>,
        #[serde(skip_serializing_if = "Option::is_none")]
        entry: Option<ChatEntry>,
    }
    let data = match event.kind {
        EventKind::MessageCreated => Data {
            kind: event.kind,
            status: event.status,
            entry: Some(chat_entry(entry?, &BTreeMap::new())?),
        },
        EventKind::ConversationStatus => Data {
            kind: event.kind,
            status: event.status,
            entry: None,
        },
        _ => return None,
    };
    serde_json::to_string(&data).ok()
}

/// A request from the chat page: the visitor its token names, for the
/// tenant in the path.
pub struct Visitor {
    pub tenant: String,
    pub id: String,
}

impl Visitor {
    fn conversation_id(&self) -> String {
        format!("web-{}", self.id)
    }
}

impl FromRequestParts<AppState> for Visitor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Path(params): Path<BTreeMap<String, String>> = Path::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let tenant = params.get("tenant").cloned().unwrap_or_default();
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Visitor "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::Unauthorized(
                    "missing Authorization: Visitor <token> (POST .../api/visitor gives one)"
                        .into(),
                )
            })?;
        let (token_tenant, id) = state
            .sessions
            .visitor(token)
            .ok_or_else(|| ApiError::Unauthorized("not a visitor token of this server".into()))?;
        if token_tenant != tenant {
            return Err(ApiError::Forbidden(
                "this visitor token is for another tenant's chat".into(),
            ));
        }
        // Each visitor has its own rate limit, like a key.
        state
            .throttle
            .admit(&crate::app::hash_key(&format!("visitor:{tenant}:{id}")))?;
        Ok(Visitor { tenant, id })
    }
}

/// The tenant's chat settings; 404 when the tenant does not exist or its
/// chat is off (the same answer: a closed chat says nothing of the tenant).
async fn open_chat(
    state: &AppState,
    tenant: &str,
) -> Result<crate::model::WebChatSettings, ApiError> {
    check_id("tenant id", tenant)?;
    let (app, id) = (state.app.clone(), tenant.to_string());
    let settings = blocking(move || Ok(app.storage.tenant(&id)?.map(|t| t.settings))).await?;
    match settings {
        Some(settings) if settings.web_chat.enabled => Ok(settings.web_chat),
        _ => Err(ApiError::NotFound(
            "no chat here: the tenant does not exist or its web chat is off".into(),
        )),
    }
}

async fn chat_page(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Query(query): Query<LangQuery>,
) -> Response {
    let (lang, cookie) = language(&headers, &query);
    let settings = match open_chat(&state, &tenant).await {
        Ok(settings) => settings,
        Err(_) => {
            let mut response = page(
                super::notice_html(lang, "chat", i18n::text(lang, "chat.closed")),
                cookie,
                "'none'",
            );
            *response.status_mut() = StatusCode::NOT_FOUND;
            return response;
        }
    };
    let ancestors = std::iter::once("'self'".to_string())
        .chain(settings.embed_origins.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let html = super::shell(
        lang,
        "chat",
        i18n::text(lang, "chat"),
        None,
        "chat",
        super::Main {
            attributes: format!(" data-tenant=\"{}\"", escape(&tenant)),
            html: None,
        },
    );
    page(html, cookie, &ancestors)
}

/// The snippet a site adds (`<script src=".../chat/{tenant}/embed.js"
/// async></script>`): a button that opens the chat page in a frame.
async fn embed_script(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    open_chat(&state, &tenant).await?;
    let lang = Lang::from_accept_language(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    );
    // The page's address comes from the script's own URL in the browser
    // (`document.currentScript.src`), never from the Host header.
    let config = serde_json::json!({
        "path": format!("/chat/{tenant}?lang={}", lang.code()),
        "label": i18n::text(lang, "chat.open"),
        "close": i18n::text(lang, "chat.close"),
        "title": i18n::text(lang, "chat"),
    });
    let script = include_str!("../../web/embed.js")
        .replace("/*CONFIG*/{}", &config.to_string().replace("</", "<\\/"));
    let mut response = script.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/javascript; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// What minting a visitor token costs against the tenant's minting rate,
/// in requests.
const MINT_COST: f64 = 20.0;

#[derive(Serialize)]
struct NewVisitor {
    token: String,
}

async fn new_visitor(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Json<NewVisitor>, ApiError> {
    open_chat(&state, &tenant).await?;
    // Tokens cost nothing to make, so their making is rate-limited per
    // tenant, each at the price of MINT_COST requests: with the default
    // rate, a burst of 100 and 50 a second (a visitor's own requests have
    // their own limit).
    state.throttle.admit_costing(
        &crate::app::hash_key(&format!("visitor-mint:{tenant}")),
        MINT_COST,
    )?;
    let mut id = [0u8; 12];
    getrandom::fill(&mut id)
        .map_err(|e| ApiError::Internal(format!("no randomness for a visitor id: {e}")))?;
    Ok(Json(NewVisitor {
        token: state.sessions.visitor_token(&tenant, &hex::encode(id)),
    }))
}

#[derive(Serialize)]
struct ChatView {
    /// `null` before the first message.
    status: Option<crate::model::ConversationStatus>,
    entries: Vec<ChatEntry>,
    /// The survey is open and not yet answered.
    survey_open: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    survey_score: Option<u8>,
}

/// Most entries the page loads at once (the newest).
const VIEW_ENTRIES: usize = 200;

async fn conversation(
    State(state): State<AppState>,
    visitor: Visitor,
) -> Result<Json<ChatView>, ApiError> {
    open_chat(&state, &visitor.tenant).await?;
    let app = state.app.clone();
    blocking(move || {
        let id = visitor.conversation_id();
        let Some(conversation) = app.storage.conversation(&visitor.tenant, &id)? else {
            return Ok(Json(ChatView {
                status: None,
                entries: vec![],
                survey_open: false,
                survey_score: None,
            }));
        };
        let entries = app.storage.entries(&visitor.tenant, &id)?;
        let mut names = BTreeMap::new();
        for entry in &entries {
            if let Entry::Post(post) = entry
                && let Some(agent) = &post.agent_id
                && !names.contains_key(agent)
            {
                let name = app
                    .storage
                    .agent(&visitor.tenant, agent)?
                    .map(|a| a.name)
                    .unwrap_or_default();
                names.insert(agent.clone(), name);
            }
        }
        let mut shown: Vec<ChatEntry> = entries
            .iter()
            .filter_map(|e| chat_entry(e, &names))
            .collect();
        let skip = shown.len().saturating_sub(VIEW_ENTRIES);
        shown.drain(..skip);
        let now = crate::model::now_ms();
        let survey = conversation.survey.as_ref();
        Ok(Json(ChatView {
            status: Some(conversation.status),
            entries: shown,
            survey_open: survey.is_some_and(|s| s.score.is_none() && now < s.open_until_ms),
            survey_score: survey.and_then(|s| s.score),
        }))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatMessage {
    text: String,
}

#[derive(Serialize)]
struct Sent {
    message_id: String,
}

async fn send(
    State(state): State<AppState>,
    visitor: Visitor,
    ApiJson(body): ApiJson<ChatMessage>,
) -> Result<(StatusCode, Json<Sent>), ApiError> {
    open_chat(&state, &visitor.tenant).await?;
    let conversation_id = visitor.conversation_id();
    let record = crate::api::conversations::admit_message(
        &state,
        visitor.tenant.clone(),
        conversation_id.clone(),
        NewMessage {
            text: body.text,
            channel: "web".into(),
            customer: Customer {
                id: conversation_id,
                tier: Tier::default(),
                tags: vec![],
            },
        },
        // The server's own channel: no webhook signature to check.
        None,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(Sent {
            message_id: record.id,
        }),
    ))
}

async fn events(State(state): State<AppState>, visitor: Visitor) -> Result<Response, ApiError> {
    open_chat(&state, &visitor.tenant).await?;
    // Always from now: the page reads the conversation again whenever its
    // stream (re)connects, so a resume point would only let a visitor make
    // the server read the tenant's whole log (and ids would tell them the
    // tenant's traffic; customer events carry none).
    let conversation = visitor.conversation_id();
    crate::api::events::open_stream(
        &state.app,
        visitor.tenant,
        crate::api::events::Interest::conversation(&conversation),
        crate::api::events::Audience::Customer,
        None,
    )
    .await
    .map(IntoResponse::into_response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SurveyAnswer {
    score: u8,
    #[serde(default)]
    comment: Option<String>,
}

#[derive(Serialize)]
struct Rated {
    score: u8,
}

async fn survey(
    State(state): State<AppState>,
    visitor: Visitor,
    ApiJson(body): ApiJson<SurveyAnswer>,
) -> Result<Json<Rated>, ApiError> {
    open_chat(&state, &visitor.tenant).await?;
    let app = state.app.clone();
    let comment = body.comment.filter(|c| !c.trim().is_empty());
    let conversation = visitor.conversation_id();
    blocking(move || app.answer_survey(&visitor.tenant, &conversation, body.score, comment))
        .await?;
    Ok(Json(Rated { score: body.score }))
}
