//! Traffic per hour: customer messages, escalations, conversations started
//! and handed to people (per queue), per deciding plugin version. The
//! console's plots read a period as a range of hourly buckets, never the
//! messages themselves.
//!
//! The buckets are counted from the event log, not on the write path: each
//! customer message's `message.created` event carries what is counted
//! ([`message_detail`]), and one counting thread reads each tenant's new
//! events every few seconds and adds them to the `traffic` tree together
//! with the id it counted up to, in one atomic batch. So a restart (tested)
//! or a crash (argued: the batch is all or nothing) loses nothing and counts
//! nothing twice, a database from before this module is
//! counted on first start from its log (up to the log's retention), and a
//! message costs the hot path one small JSON detail.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::app::{Result, Switchyard};
use crate::model::{
    Conversation, ConversationStatus, Decision, Event, EventKind, RouteTarget, Slot, Ticket,
};

pub const HOUR_MS: u64 = 3_600_000;
pub const DAY_MS: u64 = 24 * HOUR_MS;
/// How often new events are counted: the plots lag the traffic by this much.
pub const COUNT_EVERY: Duration = Duration::from_secs(2);
/// Events read per page while counting.
const PAGE: usize = 5_000;
/// Longest period a report covers.
pub const MAX_DAYS: u32 = 92;

/// A customer message as it is committed: what its event says for counting.
pub struct CustomerMessage<'a> {
    /// The customer as the numbers name them ([`crate::kpi::customer_key`]).
    pub customer_key: &'a str,
    /// The conversation after the message.
    pub conversation: &'a Conversation,
    pub decision: &'a Decision,
    pub before: ConversationStatus,
    /// The bot replied to it (whether or not it also handed over).
    pub answered: bool,
    /// The ticket it opened.
    pub opened_ticket: Option<&'a Ticket>,
}

/// What a customer message's `message.created` event says for counting
/// (here and in [`crate::kpi`]). The customer is named by a keyed digest
/// ([`crate::kpi::customer_key`]), never by id: the log outlives a
/// forgotten customer.
pub fn message_detail(message: &CustomerMessage) -> serde_json::Value {
    let decision = message.decision;
    let with_people = |s: ConversationStatus| {
        matches!(
            s,
            ConversationStatus::Waiting | ConversationStatus::Assigned
        )
    };
    let route = match decision.route.to {
        RouteTarget::Bot => "bot".to_string(),
        _ => decision
            .route
            .queue
            .clone()
            .unwrap_or_else(|| "agent".to_string()),
    };
    let version = |slot: Slot| {
        decision
            .trace
            .iter()
            .find(|t| t.slot == slot && t.role.as_deref().is_none_or(|r| r != "shadow"))
            .and_then(|t| t.version_id)
    };
    let conversation = message.conversation;
    serde_json::json!({
        "route": route,
        "escalated": decision.escalation.escalate,
        "handoff": with_people(conversation.status) && !with_people(message.before),
        "first": conversation.message_count <= 1,
        "classify_version": version(Slot::Classify),
        "route_version": version(Slot::Route),
        "intent": decision.intent.name,
        "customer": message.customer_key,
        "channel": conversation.channel,
        "bot_turn": !with_people(message.before),
        // The bot answered it itself: a reply that hands over ("a colleague
        // will take over") is no answer.
        "answered": message.answered && decision.route.to == RouteTarget::Bot,
        "ticket_department": message.opened_ticket.map(|t| &t.department),
    })
}

/// One bucket's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Customer messages.
    pub messages: u64,
    /// Messages the escalation plugin flagged for a person.
    pub escalated: u64,
    /// Conversations begun (their first message).
    pub started: u64,
    /// Conversations handed from the bot to people (waiting or assigned).
    pub handoffs: u64,
    /// Messages whose intent an agent corrected, less corrections undone
    /// (counted in the hour of the correction, under the classifier's intent).
    #[serde(default)]
    pub corrected: i64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.messages += other.messages;
        self.escalated += other.escalated;
        self.started += other.started;
        self.handoffs += other.handoffs;
        self.corrected += other.corrected;
    }
}

/// What a bucket counts: everything, handoffs to one queue, or what one
/// version of a slot decided.
pub fn dimension_all() -> String {
    String::new()
}

fn dimension_queue(queue: &str) -> String {
    format!("q:{queue}")
}

fn dimension_intent(intent: &str) -> String {
    format!("i:{intent}")
}

fn dimension_version(slot: &str, id: u64) -> String {
    format!("v:{slot}:{id}")
}

/// Add one event to `deltas` (hour, dimension) -> counts.
fn count(event: &Event, deltas: &mut BTreeMap<(u64, String), Counts>) {
    if event.kind == EventKind::MessageCorrected {
        count_correction(event, deltas);
        return;
    }
    if event.kind != EventKind::MessageCreated {
        return;
    }
    // Posts (bot and agent replies, notes) are `p-`; customer messages
    // carry the counting detail.
    let Some(detail) = &event.detail else {
        return;
    };
    if detail.get("route").is_none() {
        return;
    }
    let hour = event.at_ms / HOUR_MS;
    let flag = |name: &str| u64::from(detail[name].as_bool().unwrap_or(false));
    let counts = Counts {
        messages: 1,
        escalated: flag("escalated"),
        started: flag("first"),
        handoffs: flag("handoff"),
        corrected: 0,
    };
    deltas
        .entry((hour, dimension_all()))
        .or_default()
        .add(&counts);
    if counts.handoffs > 0 {
        let queue = detail["route"].as_str().unwrap_or("agent");
        deltas
            .entry((hour, dimension_queue(queue)))
            .or_default()
            .add(&counts);
    }
    if let Some(intent) = detail["intent"].as_str() {
        deltas
            .entry((hour, dimension_intent(intent)))
            .or_default()
            .add(&counts);
    }
    for (slot, field) in [("classify", "classify_version"), ("route", "route_version")] {
        if let Some(id) = detail[field].as_u64() {
            deltas
                .entry((hour, dimension_version(slot, id)))
                .or_default()
                .add(&counts);
        }
    }
}

/// A correction counts +1 when a message becomes corrected, -1 when the
/// correction is taken away, under the intent the classifier gave it.
fn count_correction(event: &Event, deltas: &mut BTreeMap<(u64, String), Counts>) {
    let Some(detail) = &event.detail else {
        return;
    };
    let (Some(was), Some(before), Some(after)) = (
        detail["was"].as_str(),
        detail["corrected_before"].as_bool(),
        detail["corrected"].as_bool(),
    ) else {
        return;
    };
    let delta = i64::from(after) - i64::from(before);
    if delta == 0 {
        return;
    }
    let hour = event.at_ms / HOUR_MS;
    let counts = Counts {
        corrected: delta,
        ..Counts::default()
    };
    for dimension in [dimension_all(), dimension_intent(was)] {
        deltas.entry((hour, dimension)).or_default().add(&counts);
    }
}

/// One counter at a time: a report counts what is new before it reads,
/// beside the counting thread, and two counters would count an event twice.
static COUNTING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Count the tenant's events that are on disk and not counted yet.
pub fn count_new(storage: &crate::storage::Storage, tenant: &str) -> Result<u64> {
    let _one = COUNTING.lock().unwrap_or_else(|p| p.into_inner());
    let mut after = storage.traffic_counted(tenant)?;
    let up_to = match storage.event_hub().durable_up_to(tenant) {
        Some(id) => id,
        None => storage.last_event_id(tenant)?,
    };
    let mut counted = 0;
    while after < up_to {
        let events = storage.events_after(tenant, after, up_to, PAGE)?;
        let Some(last) = events.last().map(|e| e.id) else {
            // Trimmed away (older than the retention): nothing to count.
            storage.add_traffic(tenant, &BTreeMap::new(), &Default::default(), up_to)?;
            break;
        };
        let mut deltas = BTreeMap::new();
        let mut outcomes = crate::kpi::count::Counting::new(storage, tenant);
        for event in &events {
            count(event, &mut deltas);
            outcomes.event(event)?;
        }
        storage.add_traffic(tenant, &deltas, &outcomes.changes, last)?;
        counted += events.len() as u64;
        after = last;
    }
    Ok(counted)
}

/// The counting thread; stops when the handle is dropped.
pub struct Counter {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Counter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

pub fn start(app: Arc<Switchyard>) -> Counter {
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    let thread = std::thread::Builder::new()
        .name("traffic-counter".into())
        .spawn(move || {
            let mut pruned = std::collections::HashMap::new();
            while !stopping.load(Ordering::Relaxed) {
                count_all(&app, &mut pruned);
                let mut waited = Duration::ZERO;
                while waited < COUNT_EVERY && !stopping.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(100));
                    waited += Duration::from_millis(100);
                }
            }
        })
        .expect("spawning the traffic counter");
    Counter {
        stop,
        thread: Some(thread),
    }
}

/// How often the counter forgets old tracks ([`prune`]).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Forget the counter's old per-conversation state, a page at a time
/// under its lock, pausing between pages: a report waiting to count gets
/// the lock then (std's mutex is not fair: re-taken at once, a waiter
/// could starve for the whole prune; measured, a first report waited
/// 2.7 s behind the prune of a million messages' tracks).
/// Returns how many tracks and last contacts it forgot, as of `now`.
pub fn prune(storage: &crate::storage::Storage, tenant: &str, now: u64) -> Result<(u64, u64)> {
    let (mut removed, mut after) = ((0, 0), None);
    loop {
        let page = {
            let _one = COUNTING.lock().unwrap_or_else(|p| p.into_inner());
            storage.kpi_prune_page(tenant, now, after.as_deref())?
        };
        let (tracks, contacts, next) = page;
        removed = (removed.0 + tracks, removed.1 + contacts);
        match next {
            Some(key) => after = Some(key),
            None => return Ok(removed),
        }
        std::thread::sleep(PRUNE_PAUSE);
    }
}

/// The pause between two pages of a prune.
const PRUNE_PAUSE: Duration = Duration::from_millis(5);

fn count_all(app: &Switchyard, pruned: &mut std::collections::HashMap<String, std::time::Instant>) {
    let tenants = match app.storage.tenants() {
        Ok(tenants) => tenants,
        Err(e) => {
            tracing::error!("traffic: listing tenants: {e}");
            return;
        }
    };
    for tenant in tenants {
        if let Err(e) = count_new(&app.storage, &tenant.id) {
            tracing::error!(tenant = tenant.id, "traffic: counting events: {e}");
        }
        let due = pruned
            .get(&tenant.id)
            .is_none_or(|at| at.elapsed() >= PRUNE_EVERY);
        if due {
            pruned.insert(tenant.id.clone(), std::time::Instant::now());
            match prune(&app.storage, &tenant.id, crate::model::now_ms()) {
                Ok((0, 0)) => {}
                Ok((tracks, contacts)) => tracing::info!(
                    tenant = tenant.id,
                    tracks,
                    contacts,
                    "traffic: forgot old per-conversation state"
                ),
                Err(e) => tracing::error!(tenant = tenant.id, "traffic: pruning: {e}"),
            }
        }
    }
}

/// One hour of a report.
#[derive(Clone, Debug, Serialize)]
pub struct HourRow {
    pub hour_ms: u64,
    #[serde(flatten)]
    pub counts: Counts,
}

/// One day of a report, with the conversations per route: kept by the bot
/// (begun, never handed over that day) or handed to each queue.
#[derive(Clone, Debug, Serialize)]
pub struct DayRow {
    pub day_ms: u64,
    #[serde(flatten)]
    pub counts: Counts,
    pub routes: BTreeMap<String, u64>,
}

/// One intent over the period, for finding the bot's weak spots: how often
/// its messages handed the conversation to a person, and how often agents
/// said the intent was wrong.
#[derive(Clone, Debug, Serialize)]
pub struct IntentRow {
    pub intent: String,
    #[serde(flatten)]
    pub counts: Counts,
    /// Handoffs per message of the intent.
    pub handoff_rate: f64,
    /// Corrections per message of the intent.
    pub correction_rate: f64,
}

/// What one plugin version decided, hour by hour.
#[derive(Clone, Debug, Serialize)]
pub struct VersionRow {
    pub slot: String,
    pub version_id: u64,
    pub name: String,
    pub version: String,
    pub state: String,
    pub totals: Counts,
    pub hours: Vec<HourRow>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The first hour and the hour after the last (UTC, whole hours).
    pub from_ms: u64,
    pub to_ms: u64,
    pub totals: Counts,
    pub hours: Vec<HourRow>,
    pub days: Vec<DayRow>,
    /// Per version of a slot that more than one version decided in the
    /// period (a canary, or a change of versions).
    pub versions: Vec<VersionRow>,
    /// Per intent (the classifier's), most handed to people first.
    pub intents: Vec<IntentRow>,
    /// The share of customer messages whose intent no agent corrected.
    pub accuracy_as_agents_judge: Option<f64>,
    /// Events on disk not counted yet (the counter runs every few seconds).
    pub counted_up_to_event: u64,
}

/// The last `days` whole days up to now (the current hour included).
pub fn report(app: &Switchyard, tenant: &str, days: u32, now_ms: u64) -> Result<Report> {
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(crate::app::Error::Invalid(format!(
            "days is {days}; 1 to {MAX_DAYS}"
        )));
    }
    app.tenant(tenant)?;
    // Up to the moment: what the counter has not reached yet, counted now.
    count_new(&app.storage, tenant)?;
    let to_hour = now_ms / HOUR_MS + 1;
    let from_hour = (now_ms / DAY_MS + 1 - u64::from(days)) * 24;
    let buckets = app.storage.traffic_range(tenant, from_hour, to_hour)?;
    let mut hours: Vec<HourRow> = (from_hour..to_hour)
        .map(|h| HourRow {
            hour_ms: h * HOUR_MS,
            counts: Counts::default(),
        })
        .collect();
    let mut totals = Counts::default();
    let mut per_version: BTreeMap<(String, u64), Vec<HourRow>> = BTreeMap::new();
    let mut queue_days: BTreeMap<(u64, String), u64> = BTreeMap::new();
    let mut per_intent: BTreeMap<String, Counts> = BTreeMap::new();
    for ((hour, dimension), counts) in &buckets {
        let index = (hour - from_hour) as usize;
        if dimension.is_empty() {
            hours[index].counts.add(counts);
            totals.add(counts);
        } else if let Some(intent) = dimension.strip_prefix("i:") {
            per_intent
                .entry(intent.to_string())
                .or_default()
                .add(counts);
        } else if let Some(queue) = dimension.strip_prefix("q:") {
            *queue_days
                .entry((hour / 24, queue.to_string()))
                .or_default() += counts.handoffs;
        } else if let Some(rest) = dimension.strip_prefix("v:")
            && let Some((slot, id)) = rest.split_once(':')
            && let Ok(id) = id.parse::<u64>()
        {
            let rows = per_version
                .entry((slot.to_string(), id))
                .or_insert_with(|| {
                    (from_hour..to_hour)
                        .map(|h| HourRow {
                            hour_ms: h * HOUR_MS,
                            counts: Counts::default(),
                        })
                        .collect()
                });
            rows[index].counts.add(counts);
        }
    }
    let days_rows = (from_hour / 24..to_hour.div_ceil(24))
        .map(|day| {
            let mut counts = Counts::default();
            for row in hours.iter().filter(|r| r.hour_ms / DAY_MS == day) {
                counts.add(&row.counts);
            }
            let mut routes: BTreeMap<String, u64> = queue_days
                .range((day, String::new())..(day + 1, String::new()))
                .map(|((_, queue), n)| (queue.clone(), *n))
                .collect();
            routes.insert("bot".into(), counts.started.saturating_sub(counts.handoffs));
            DayRow {
                day_ms: day * DAY_MS,
                counts,
                routes,
            }
        })
        .collect();
    let rollouts = app.storage.bindings(tenant)?;
    let mut slots_with: BTreeMap<String, usize> = BTreeMap::new();
    for (slot, _) in per_version.keys() {
        *slots_with.entry(slot.clone()).or_default() += 1;
    }
    let versions = per_version
        .into_iter()
        .filter(|((slot, _), _)| slots_with.get(slot).is_some_and(|n| *n > 1))
        .map(|((slot, id), hours)| {
            let known = Slot::parse(&slot)
                .and_then(|s| rollouts.slots.get(&s))
                .and_then(|r| r.version(id));
            let mut totals = Counts::default();
            for row in &hours {
                totals.add(&row.counts);
            }
            VersionRow {
                name: known.map(|v| v.name.clone()).unwrap_or_default(),
                version: known.map(|v| v.version.clone()).unwrap_or_default(),
                state: known
                    .and_then(|v| serde_json::to_value(v.state).ok())
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                slot,
                version_id: id,
                totals,
                hours,
            }
        })
        .collect();
    let rate = |part: f64, whole: u64| if whole > 0 { part / whole as f64 } else { 0.0 };
    let mut intents: Vec<IntentRow> = per_intent
        .into_iter()
        .map(|(intent, counts)| IntentRow {
            handoff_rate: rate(counts.handoffs as f64, counts.messages),
            correction_rate: rate(counts.corrected.max(0) as f64, counts.messages),
            intent,
            counts,
        })
        .collect();
    intents.sort_by(|a, b| {
        b.handoff_rate
            .total_cmp(&a.handoff_rate)
            .then(b.counts.messages.cmp(&a.counts.messages))
    });
    let accuracy_as_agents_judge =
        (totals.messages > 0).then(|| 1.0 - rate(totals.corrected.max(0) as f64, totals.messages));
    Ok(Report {
        intents,
        accuracy_as_agents_judge,
        from_ms: from_hour * HOUR_MS,
        to_ms: to_hour * HOUR_MS,
        totals,
        hours,
        days: days_rows,
        versions,
        counted_up_to_event: app.storage.traffic_counted(tenant)?,
    })
}

/// What a forecast counts: conversations begun (all contacts), or
/// conversations handed to one queue.
pub enum Volume<'a> {
    Contacts,
    Queue(&'a str),
}

/// The tenant's hourly volume over the last `weeks` weeks up to the hour
/// before `now_ms`, every hour present (a quiet hour is 0): the history a
/// forecast reads. Hour indexes are UTC.
pub fn hourly_series(
    app: &Switchyard,
    tenant: &str,
    volume: &Volume,
    weeks: u32,
    now_ms: u64,
) -> Result<crate::forecast::Series> {
    app.tenant(tenant)?;
    count_new(&app.storage, tenant)?;
    let to_hour = now_ms / HOUR_MS;
    let from_hour = to_hour.saturating_sub(u64::from(weeks) * 168);
    let buckets = app.storage.traffic_range(tenant, from_hour, to_hour)?;
    let mut points: BTreeMap<i64, f64> = (from_hour..to_hour).map(|h| (h as i64, 0.0)).collect();
    let wanted = match volume {
        Volume::Contacts => dimension_all(),
        Volume::Queue(queue) => dimension_queue(queue),
    };
    for ((hour, dimension), counts) in buckets {
        if dimension == wanted {
            let n = match volume {
                Volume::Contacts => counts.started,
                Volume::Queue(_) => counts.handoffs,
            };
            *points.entry(hour as i64).or_default() += n as f64;
        }
    }
    Ok(crate::forecast::Series { points })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: u64, at_ms: u64, detail: serde_json::Value) -> Event {
        Event {
            id,
            at_ms,
            kind: EventKind::MessageCreated,
            conversation_id: Some("c".into()),
            message_id: Some(format!("m-{id}")),
            queue: None,
            agent: None,
            status: None,
            detail: Some(detail),
        }
    }

    #[test]
    fn a_handoff_counts_for_its_queue_and_its_versions() {
        let mut deltas = BTreeMap::new();
        let detail = serde_json::json!({"route": "after-sales", "escalated": true, "handoff": true,
            "first": true, "classify_version": 3, "route_version": null});
        count(&event(1, 2 * HOUR_MS + 5, detail), &mut deltas);
        let all = deltas[&(2, String::new())];
        assert_eq!(
            all,
            Counts {
                messages: 1,
                escalated: 1,
                started: 1,
                handoffs: 1,
                corrected: 0,
            }
        );
        assert_eq!(deltas[&(2, "q:after-sales".to_string())].handoffs, 1);
        assert_eq!(deltas[&(2, "v:classify:3".to_string())].messages, 1);
        assert!(!deltas.keys().any(|(_, d)| d.starts_with("v:route")));
    }

    #[test]
    fn posts_and_other_events_count_nothing() {
        let mut deltas = BTreeMap::new();
        // A correction whose state did not change counts nothing either.
        let mut same = event(
            3,
            0,
            serde_json::json!({"was": "refund", "corrected_before": true, "corrected": true}),
        );
        same.kind = EventKind::MessageCorrected;
        count(&same, &mut deltas);
        let mut post = event(1, 0, serde_json::json!(null));
        post.detail = None;
        count(&post, &mut deltas);
        let mut status = event(2, 0, serde_json::json!({"route": "bot"}));
        status.kind = EventKind::ConversationStatus;
        count(&status, &mut deltas);
        assert!(deltas.is_empty());
    }
}
