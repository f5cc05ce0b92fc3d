//! `GET /v1/events`: a tenant's live event stream (Server-Sent Events) for
//! desks, filterable by queue and agent, resumable with `Last-Event-ID`.
//!
//! Each subscriber gets every event once, in id order: it subscribes to the
//! live tail first, then reads what it missed from the log (ids above its
//! `Last-Event-ID`, up to the newest durable one), then forwards live events
//! with ids above the last it handled. A gap in the live ids (an event
//! published while it subscribed) or a subscriber that fell behind the live
//! buffer is filled from the log, never skipped.

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::get;
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

use super::auth::DeskCaller;
use super::{ApiError, AppState};
use crate::app::{Switchyard, check_id};
use crate::events::LiveEvent;
use crate::model::{Entry, Event};

pub fn router() -> Router<AppState> {
    Router::new().route("/events", get(events))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventQuery {
    /// Comma-separated queues.
    queue: Option<String>,
    /// An agent id, or `me` with an agent's key.
    agent: Option<String>,
    /// Where to resume when the client cannot send `Last-Event-ID`.
    after: Option<u64>,
}

/// Which events a subscriber wants: those of its queues or its agent; all
/// when it names neither.
#[derive(Clone, Default)]
pub(crate) struct Interest {
    queues: HashSet<String>,
    agent: Option<String>,
    /// Only this conversation's events (the web chat's customer).
    conversation: Option<String>,
}

impl Interest {
    pub(crate) fn conversation(id: &str) -> Interest {
        Interest {
            conversation: Some(id.to_string()),
            ..Interest::default()
        }
    }

    fn wants(&self, event: &Event) -> bool {
        if let Some(conversation) = &self.conversation {
            return event.conversation_id.as_ref() == Some(conversation);
        }
        if self.queues.is_empty() && self.agent.is_none() {
            return true;
        }
        event
            .queue
            .as_ref()
            .is_some_and(|q| self.queues.contains(q))
            || (self.agent.is_some() && event.agent == self.agent)
    }
}

/// What a subscriber receives as `data:`: the event, and the entry it names.
#[derive(Serialize)]
struct EventData<'a> {
    #[serde(flatten)]
    event: &'a Event,
    #[serde(skip_serializing_if = "Option::is_none")]
    entry: Option<&'a Entry>,
}

/// Events read from the log per blocking read.
const LOG_PAGE: usize = 500;

async fn events(
    State(state): State<AppState>,
    caller: DeskCaller,
    headers: HeaderMap,
    query: Result<Query<EventQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let last_event_id = match headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    ApiError::BadRequest(
                        "Last-Event-ID must be an event id this server sent".into(),
                    )
                })?,
        ),
        None => None,
    };
    let mut interest = Interest::default();
    for queue in query.queue.iter().flat_map(|q| q.split(',')).map(str::trim) {
        if !queue.is_empty() {
            check_id("queue", queue)?;
            interest.queues.insert(queue.to_string());
        }
    }
    interest.agent = match query.agent.as_deref() {
        Some("me") => Some(
            caller
                .actor
                .agent_id()
                .ok_or_else(|| ApiError::BadRequest("agent=me needs an agent's key".into()))?
                .to_string(),
        ),
        Some(agent) => {
            check_id("agent id", agent)?;
            Some(agent.to_string())
        }
        None => None,
    };
    let hider = Hider {
        actor: caller.actor.clone(),
        hidden: {
            let (app, tenant, actor) = (
                state.app.clone(),
                caller.tenant.clone(),
                caller.actor.clone(),
            );
            super::blocking(move || app.no_assist_for(&tenant, &actor)).await?
        },
        checked: std::time::Instant::now(),
    };
    open_stream(
        &state.app,
        caller.tenant,
        interest,
        Audience::Desk(hider),
        last_event_id.or(query.after),
    )
    .await
}

/// A stream of the tenant's events that `interest` wants, as `audience`
/// may see them, from after `resume` (or from now).
pub(crate) async fn open_stream(
    app: &Arc<Switchyard>,
    tenant: String,
    interest: Interest,
    audience: Audience,
    resume: Option<u64>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>> + use<>>, ApiError> {
    let app = app.clone();
    // Subscribed before anything is read, so nothing falls between.
    let live = app.storage.event_hub().subscribe(&tenant);
    let start = match resume {
        Some(id) => id,
        // A new subscriber starts from now.
        None => {
            let (app, tenant) = (app.clone(), tenant.clone());
            super::blocking(move || durable_up_to(&app, &tenant)).await?
        }
    };
    let (tx, rx) = mpsc::channel::<SseEvent>(256);
    tokio::spawn(forward(app, tenant, interest, audience, start, live, tx));
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (Ok(event), rx))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The newest event id known to be on disk.
fn durable_up_to(app: &Switchyard, tenant: &str) -> crate::app::Result<u64> {
    match app.storage.event_hub().durable_up_to(tenant) {
        Some(id) => Ok(id),
        // Nothing published since start: what is stored was on disk at open.
        None => Ok(app.storage.last_event_id(tenant)?),
    }
}

/// Who reads a stream: a desk, or one customer of the web chat (who sees
/// the conversation's public entries and status, nothing the team keeps).
pub(crate) enum Audience {
    Desk(Hider),
    Customer,
}

impl Audience {
    fn view(&self) -> View {
        match self {
            Audience::Desk(hider) => View::Desk {
                hide_suggestions: hider.hidden,
            },
            Audience::Customer => View::Customer,
        }
    }

    async fn refresh(&mut self, app: &Arc<Switchyard>, tenant: &str) {
        if let Audience::Desk(hider) = self {
            hider.refresh(app, tenant).await;
        }
    }
}

#[derive(Clone, Copy)]
enum View {
    Desk { hide_suggestions: bool },
    Customer,
}

/// Whether the subscriber is an agent on their no-assist day: then the
/// entries it gets carry no suggestions. Checked again every minute.
pub(crate) struct Hider {
    actor: crate::conversations::DeskActor,
    hidden: bool,
    checked: std::time::Instant,
}

impl Hider {
    async fn refresh(&mut self, app: &Arc<Switchyard>, tenant: &str) {
        if self.actor.agent_id().is_none() || self.checked.elapsed() < Duration::from_secs(60) {
            return;
        }
        let (app, tenant, actor) = (app.clone(), tenant.to_string(), self.actor.clone());
        if let Ok(Ok(hidden)) =
            tokio::task::spawn_blocking(move || app.no_assist_for(&tenant, &actor)).await
        {
            self.hidden = hidden;
        }
        self.checked = std::time::Instant::now();
    }
}

/// Feed one subscriber until it goes away.
async fn forward(
    app: Arc<Switchyard>,
    tenant: String,
    interest: Interest,
    mut audience: Audience,
    mut last: u64,
    mut live: broadcast::Receiver<Arc<LiveEvent>>,
    tx: mpsc::Sender<SseEvent>,
) {
    // What was missed, from the log.
    let Some(caught_up) =
        catch_up(&app, &tenant, &interest, audience.view(), last, None, &tx).await
    else {
        return;
    };
    last = caught_up;
    loop {
        let received = live.recv().await;
        audience.refresh(&app, &tenant).await;
        match received {
            Ok(published) => {
                let id = published.event.id;
                if id <= last {
                    continue;
                }
                if id > last + 1
                    && catch_up(
                        &app,
                        &tenant,
                        &interest,
                        audience.view(),
                        last,
                        Some(id - 1),
                        &tx,
                    )
                    .await
                    .is_none()
                {
                    // (Published while this subscriber joined: from the log.)
                    return;
                }
                if interest.wants(&published.event)
                    && let Some(sse) = sse_event(
                        &published.event,
                        published.entry.as_deref(),
                        audience.view(),
                    )
                    && tx.send(sse).await.is_err()
                {
                    return;
                }
                last = id;
            }
            Err(broadcast::error::RecvError::Lagged(_)) => {
                match catch_up(&app, &tenant, &interest, audience.view(), last, None, &tx).await {
                    Some(to) => last = to,
                    None => return,
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Send the logged events after `after` (up to `up_to`, or the newest
/// durable one); returns the last id handled, or `None` when the
/// subscriber went away or the log could not be read.
async fn catch_up(
    app: &Arc<Switchyard>,
    tenant: &str,
    interest: &Interest,
    view: View,
    mut after: u64,
    up_to: Option<u64>,
    tx: &mpsc::Sender<SseEvent>,
) -> Option<u64> {
    loop {
        let (app2, tenant2, interest2) = (app.clone(), tenant.to_string(), interest.clone());
        let page = tokio::task::spawn_blocking(move || {
            let up_to = match up_to {
                Some(id) => id,
                None => durable_up_to(&app2, &tenant2)?,
            };
            let events = app2
                .storage
                .events_after(&tenant2, after, up_to, LOG_PAGE)?;
            let mut out = Vec::with_capacity(events.len());
            for event in events {
                let entry = if interest2.wants(&event) {
                    entry_of(&app2, &tenant2, &event)?
                } else {
                    None
                };
                out.push((event, entry));
            }
            Ok::<_, crate::app::Error>(out)
        })
        .await;
        let page = match page {
            Ok(Ok(page)) => page,
            Ok(Err(e)) => {
                tracing::error!(tenant, "event stream: reading the log: {e}");
                return None;
            }
            Err(e) => {
                tracing::error!(tenant, "event stream: {e}");
                return None;
            }
        };
        let full = page.len() == LOG_PAGE;
        for (event, entry) in page {
            if interest.wants(&event)
                && let Some(sse) = sse_event(&event, entry.as_ref(), view)
                && tx.send(sse).await.is_err()
            {
                return None;
            }
            after = event.id;
        }
        if !full {
            return Some(after);
        }
    }
}

/// The entry an event names, read from the store.
fn entry_of(app: &Switchyard, tenant: &str, event: &Event) -> crate::app::Result<Option<Entry>> {
    let (Some(conversation), Some(id)) = (&event.conversation_id, &event.message_id) else {
        return Ok(None);
    };
    Ok(if id.starts_with("p-") {
        app.storage.post(tenant, conversation, id)?.map(Entry::Post)
    } else {
        app.storage
            .message(tenant, conversation, id)?
            .map(Entry::customer)
    })
}

/// The SSE event `view` gets for a logged event, if it gets one.
fn sse_event(event: &Event, entry: Option<&Entry>, view: View) -> Option<SseEvent> {
    let data = match view {
        View::Desk { hide_suggestions } => desk_data(event, entry, hide_suggestions),
        View::Customer => crate::web::chat::customer_event(event, entry)?,
    };
    let kind = serde_json::to_value(event.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let sse = SseEvent::default().event(kind).data(data);
    Some(match view {
        View::Desk { .. } => sse.id(event.id.to_string()),
        // Tenant-wide ids would tell a customer the tenant's traffic.
        View::Customer => sse,
    })
}

fn desk_data(event: &Event, entry: Option<&Entry>, hide_suggestions: bool) -> String {
    let hidden;
    let entry = match entry {
        Some(Entry::Customer { .. }) if hide_suggestions => {
            let mut copy = entry.cloned();
            if let Some(e) = copy.as_mut() {
                super::conversations::hide_in_entries(std::slice::from_mut(e));
            }
            hidden = copy;
            hidden.as_ref()
        }
        other => other,
    };
    serde_json::to_string(&EventData { event, entry }).unwrap_or_else(|e| {
        format!(
            "{{\"error\": \"event {} did not serialise: {e}\"}}",
            event.id
        )
    })
}
