//! Ticket-slot plugin: drafts a ticket, or an update to the customer's open
//! ticket about the same intent, when a conversation needs follow-up (a person
//! takes over a follow-up intent, or a sensitive word or repeat contact); the
//! department comes from the intent (logistics questions to logistics, and so on).
//!
//! Config (JSON): `{"departments": {intent: department}, "follow_up_intents": [...],
//! "default_department": "customer-service"}`. Escalations for sensitive words or
//! repeat contact always get a ticket.

use std::cell::RefCell;
use std::collections::HashMap;

use serde::Deserialize;
use switchyard_sdk::prelude::*;

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    departments: HashMap<String, String>,
    #[serde(default)]
    follow_up_intents: Vec<String>,
    #[serde(default = "default_department")]
    default_department: String,
    /// A follow-up intent less confident than this opens no ticket: a
    /// ticket about a guess ("Hi" read as an account closure at 0.18) is
    /// work for nobody. Serious reasons (sensitive words, repeat contact)
    /// open one whatever the confidence.
    #[serde(default = "default_min_confidence")]
    min_confidence: f32,
}

fn default_min_confidence() -> f32 {
    0.5
}

fn default_department() -> String {
    "customer-service".into()
}

/// Escalation reasons that always deserve a ticket, whatever the intent.
const TICKET_REASONS: [&str; 2] = ["sensitive-word", "repeat-contact"];

thread_local! {
    static CONFIG: RefCell<Option<Config>> = const { RefCell::new(None) };
}

pub struct Plugin;

impl switchyard_sdk::ticket::Guest for Plugin {
    fn init(config: String) -> Result<(), String> {
        let config: Config =
            serde_json::from_str(&config).map_err(|e| format!("ticketer config: {e}"))?;
        CONFIG.with(|c| *c.borrow_mut() = Some(config));
        Ok(())
    }

    fn ticket(turn: Turn) -> Option<TicketDraft> {
        CONFIG.with(|c| c.borrow().as_ref().and_then(|config| draft(config, &turn)))
    }
}

fn draft(config: &Config, turn: &Turn) -> Option<TicketDraft> {
    let intent = turn.intent.as_ref()?;
    let reasons: Vec<&str> = turn
        .escalation
        .iter()
        .flat_map(|e| e.reasons.iter().map(|r| r.code.as_str()))
        .collect();
    // A question the bot answered needs no follow-up; one a person takes over
    // does when its intent is a follow-up intent (a refund to approve, a parcel
    // to trace). Sensitive words and repeat contact always do.
    let to_human = turn
        .route
        .as_ref()
        .is_some_and(|r| r.target != RouteTarget::Bot);
    let follow_up = to_human
        && config.follow_up_intents.contains(&intent.name)
        && intent.confidence >= config.min_confidence;
    let serious = reasons.iter().any(|r| TICKET_REASONS.contains(r));
    if !follow_up && !serious {
        return None;
    }
    let department = if reasons.contains(&"sensitive-word") {
        config.departments.get("complaint")
    } else {
        None
    }
    .or_else(|| config.departments.get(&intent.name))
    .cloned()
    .unwrap_or_else(|| config.default_department.clone());

    let pii = personal_spans(turn);
    let is_personal = |e: &Entity| {
        pii.iter()
            .any(|(s, t)| (e.start as usize) < *t && *s < e.end as usize)
    };
    let order = turn
        .entities
        .iter()
        .find(|e| e.kind == "order-id" && !is_personal(e));
    let title = match order {
        Some(o) => format!("{} · order {}", intent.name, o.value),
        None => format!("{} · customer {}", intent.name, turn.customer.id),
    };
    let mut facts = vec![
        fact("intent", &intent.name),
        fact("confidence", &format!("{:.2}", intent.confidence)),
        fact("customer", &turn.customer.id),
        fact("channel", &turn.message.channel),
    ];
    // An entity that overlaps personal data is masked: tickets travel
    // further than chats.
    for e in &turn.entities {
        let value = if is_personal(e) {
            "***".to_string()
        } else {
            e.value.clone()
        };
        facts.push(fact(&e.kind, &value));
    }
    for f in turn.findings.iter().filter(|f| f.kind == "sensitive-word") {
        facts.push(fact("flag", &f.code));
    }
    for r in &reasons {
        facts.push(fact("escalation", r));
    }
    let priority = turn.route.as_ref().map(|r| r.priority).unwrap_or(3);
    // The conversation's own ticket when it is about this intent (a
    // follow-up adds its facts there), else the customer's open ticket about
    // it from another conversation.
    let state = host::conversation_state();
    let open = host::open_tickets();
    let existing = state
        .ticket_id
        .filter(|id| open.iter().any(|t| &t.id == id && t.intent == intent.name))
        .or_else(|| {
            open.into_iter()
                .find(|t| t.intent == intent.name)
                .map(|t| t.id)
        });
    Some(TicketDraft {
        existing_ticket_id: existing,
        title,
        department,
        priority,
        summary: masked(turn),
        facts,
    })
}

fn fact(key: &str, value: &str) -> TicketFact {
    TicketFact {
        key: key.into(),
        value: value.into(),
    }
}

/// Where the message holds personal data: what the inspector found, and what
/// the SDK finds itself (a tenant may run no inspector).
fn personal_spans(turn: &Turn) -> Vec<(usize, usize)> {
    let text = &turn.message.text;
    let mut spans: Vec<(usize, usize)> = turn
        .findings
        .iter()
        .filter(|f| f.kind == "pii")
        .map(|f| (f.start as usize, f.end as usize))
        .filter(|(s, e)| {
            s < e && *e <= text.len() && text.is_char_boundary(*s) && text.is_char_boundary(*e)
        })
        .chain(
            switchyard_sdk::personal::find_personal(text)
                .into_iter()
                .map(|p| (p.start, p.end)),
        )
        .collect();
    spans.sort();
    spans
}

/// The message with every personal-data span blanked out: tickets travel
/// further than chats.
fn masked(turn: &Turn) -> String {
    let text = &turn.message.text;
    let spans = personal_spans(turn);
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in spans {
        if start < at {
            continue;
        }
        out.push_str(&text[at..start]);
        out.push_str("***");
        at = end;
    }
    out.push_str(&text[at..]);
    out.chars().take(500).collect()
}

#[cfg(target_arch = "wasm32")]
switchyard_sdk::ticket::export!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::testing::{self, MockHost};
    use switchyard_sdk::ticket::Guest;

    fn setup(host: MockHost) {
        testing::install(host);
        Plugin::init(
            r#"{"departments": {"refund": "after-sales", "logistics": "logistics", "complaint": "complaints"},
                "follow_up_intents": ["refund", "logistics"]}"#
                .into(),
        )
        .unwrap();
    }

    fn turn(text: &str, intent: &str) -> Turn {
        let mut t = testing::turn(text);
        t.intent = Some(Intent {
            name: intent.into(),
            confidence: 0.97,
        });
        t.route = Some(Route {
            target: RouteTarget::Queue,
            queue: Some("q".into()),
            agent: None,
            priority: 3,
            reason: String::new(),
        });
        t
    }

    #[test]
    fn refund_with_order_number_goes_to_after_sales() {
        setup(MockHost::default());
        let mut t = turn("我要退款，订单号 2024113012345，电话13812345678", "refund");
        t.entities.push(Entity {
            kind: "order-id".into(),
            value: "2024113012345".into(),
            start: 0,
            end: 0,
        });
        let phone_at = t.message.text.find("138").unwrap() as u32;
        t.findings.push(Finding {
            kind: "pii".into(),
            code: "phone".into(),
            severity: Severity::Info,
            detail: String::new(),
            start: phone_at,
            end: phone_at + 11,
        });
        let d = Plugin::ticket(t).unwrap();
        assert_eq!(d.department, "after-sales");
        assert_eq!(d.title, "refund · order 2024113012345");
        assert!(
            d.facts
                .iter()
                .any(|f| f.key == "order-id" && f.value == "2024113012345")
        );
        assert!(!d.summary.contains("13812345678"), "{}", d.summary);
        assert!(d.existing_ticket_id.is_none());
    }

    #[test]
    fn small_talk_gets_no_ticket_and_open_ticket_is_updated() {
        setup(MockHost::default());
        assert!(Plugin::ticket(turn("hello", "greeting")).is_none());
        let mut answered = turn("where is my parcel", "logistics");
        answered.route.as_mut().unwrap().target = RouteTarget::Bot;
        assert!(
            Plugin::ticket(answered).is_none(),
            "the bot answered: no follow-up"
        );
        let mut host = MockHost::default();
        host.open_tickets.push(TicketSummary {
            id: "t-7".into(),
            title: String::new(),
            department: "logistics".into(),
            intent: "logistics".into(),
            status: TicketStatus::Open,
            created_at_ms: 0,
        });
        setup(host);
        let d = Plugin::ticket(turn("still no parcel", "logistics")).unwrap();
        assert_eq!(d.existing_ticket_id.as_deref(), Some("t-7"));
        assert_eq!(d.department, "logistics");
    }
}
