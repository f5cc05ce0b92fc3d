//! Escalate-slot plugin: decides when a human must take over, naming every
//! reason: low intent confidence, the customer asking for a human, anger,
//! sensitive words found by the inspector, VIP tier, and repeat contact about
//! the same unresolved intent.
//!
//! Config (JSON): `{"threshold": 0.8, "human_intents": [...], "human_phrases": [...],
//! "anger_words": [...], "escalate_findings": [...], "vip_tiers": ["vip"], "repeat_contact": true}`.

use std::cell::RefCell;

use serde::Deserialize;
use switchyard_sdk::prelude::*;

#[derive(Deserialize)]
struct Config {
    #[serde(default = "default_threshold")]
    threshold: f32,
    #[serde(default)]
    human_intents: Vec<String>,
    #[serde(default)]
    human_phrases: Vec<String>,
    #[serde(default)]
    anger_words: Vec<String>,
    /// Findings that hand the chat to a human: a sensitive-word code
    /// ("regulator"), or any finding as "kind/code"
    /// ("drug-interaction/contraindication"); the reason's code is the kind.
    #[serde(default)]
    escalate_findings: Vec<String>,
    #[serde(default = "default_vip_tiers")]
    vip_tiers: Vec<String>,
    #[serde(default = "yes")]
    repeat_contact: bool,
}

fn default_threshold() -> f32 {
    0.8
}
fn default_vip_tiers() -> Vec<String> {
    vec!["vip".into()]
}
fn yes() -> bool {
    true
}

/// Intents that are small talk: asking them twice is no sign of a problem.
const SMALL_TALK: [&str; 3] = ["greeting", "thanks", "unknown"];

/// The configuration with its word lists prepared for matching.
struct Escalator {
    config: Config,
    human_phrases: Vec<text::Needle>,
    anger_words: Vec<text::Needle>,
}

thread_local! {
    static CONFIG: RefCell<Option<Escalator>> = const { RefCell::new(None) };
}

pub struct Plugin;

impl switchyard_sdk::escalate::Guest for Plugin {
    fn init(config: String) -> Result<(), String> {
        let config: Config =
            serde_json::from_str(&config).map_err(|e| format!("escalator config: {e}"))?;
        if !(0.0..=1.0).contains(&config.threshold) {
            return Err(format!(
                "escalator config: threshold {} is not in [0, 1]",
                config.threshold
            ));
        }
        let prepare = |words: &[String]| -> Vec<text::Needle> {
            words
                .iter()
                .map(|w| text::Needle::new(w))
                .filter(|n| !n.is_empty())
                .collect()
        };
        let escalator = Escalator {
            human_phrases: prepare(&config.human_phrases),
            anger_words: prepare(&config.anger_words),
            config,
        };
        CONFIG.with(|c| *c.borrow_mut() = Some(escalator));
        Ok(())
    }

    fn escalate(turn: Turn) -> Escalation {
        CONFIG.with(|c| match &*c.borrow() {
            Some(config) => decide(config, &turn),
            None => Escalation {
                escalate: true,
                reasons: vec![reason("not-configured", "escalator has no configuration")],
            },
        })
    }
}

fn reason(code: &str, detail: impl Into<String>) -> EscalationReason {
    EscalationReason {
        code: code.into(),
        detail: detail.into(),
    }
}

fn first_match<'a>(haystack: &text::Haystack, words: &'a [text::Needle]) -> Option<&'a str> {
    words
        .iter()
        .find(|w| haystack.contains(w))
        .map(|w| w.as_str())
}

fn decide(escalator: &Escalator, turn: &Turn) -> Escalation {
    let config = &escalator.config;
    let haystack = text::Haystack::new(&turn.message.text);
    let mut reasons = Vec::new();
    let intent = turn.intent.clone().unwrap_or(Intent {
        name: "unknown".into(),
        confidence: 0.0,
    });

    if config.human_intents.contains(&intent.name) {
        reasons.push(reason("asked-for-human", format!("intent {}", intent.name)));
    } else if let Some(phrase) = first_match(&haystack, &escalator.human_phrases) {
        reasons.push(reason("asked-for-human", format!("said \"{phrase}\"")));
    }
    if intent.confidence < config.threshold {
        reasons.push(reason(
            "low-confidence",
            format!(
                "intent {} at {:.2} < {:.2}",
                intent.name, intent.confidence, config.threshold
            ),
        ));
    }
    if let Some(word) = first_match(&haystack, &escalator.anger_words) {
        reasons.push(reason("anger", format!("said \"{word}\"")));
    } else if shouting(&turn.message.text) {
        reasons.push(reason("anger", "repeated exclamation or question marks"));
    }
    let listed = |f: &Finding| {
        f.kind == "sensitive-word" && config.escalate_findings.contains(&f.code)
            || config
                .escalate_findings
                .iter()
                .any(|e| e.split_once('/') == Some((f.kind.as_str(), f.code.as_str())))
    };
    // One reason per kind of finding, in the order the kinds first appear.
    let mut kinds: Vec<&str> = Vec::new();
    for f in turn.findings.iter().filter(|f| listed(f)) {
        if !kinds.contains(&f.kind.as_str()) {
            kinds.push(&f.kind);
        }
    }
    for kind in kinds {
        let detail = turn
            .findings
            .iter()
            .filter(|f| f.kind == kind && listed(f))
            .map(|f| format!("{} ({})", f.code, f.detail))
            .collect::<Vec<_>>()
            .join(", ");
        reasons.push(reason(kind, detail));
    }
    let tier = match turn.customer.tier {
        Tier::Standard => "standard",
        Tier::Premium => "premium",
        Tier::Vip => "vip",
    };
    if config.vip_tiers.iter().any(|t| t == tier) {
        reasons.push(reason("vip", format!("customer tier {tier}")));
    }
    if config.repeat_contact && !SMALL_TALK.contains(&intent.name.as_str()) {
        // A ticket this conversation opened is its own follow-up, not a
        // repeat contact ("the order number is ..." after "I want a return").
        let state = host::conversation_state();
        let from_elsewhere = |id: &str| {
            state
                .ticket_holders
                .iter()
                .find(|h| h.ticket_id == id)
                .is_none_or(|h| h.conversation_id != turn.message.conversation_id)
        };
        if let Some(ticket) = host::open_tickets()
            .into_iter()
            .find(|t| t.intent == intent.name && from_elsewhere(&t.id))
        {
            reasons.push(reason(
                "repeat-contact",
                format!("ticket {} about {} is still open", ticket.id, intent.name),
            ));
        } else if matches!(state.holder, Holder::Bot) {
            // Asked again and again while the bot holds the chat: the bot is
            // not helping. (With people on it, follow-ups repeat the topic.)
            let earlier = host::history(20)
                .iter()
                .filter(|m| m.intent.as_ref().is_some_and(|i| i.name == intent.name))
                .count();
            if earlier >= 2 {
                reasons.push(reason(
                    "repeat-contact",
                    format!(
                        "asked about {} {} times in this conversation",
                        intent.name,
                        earlier + 1
                    ),
                ));
            }
        }
    }
    Escalation {
        escalate: !reasons.is_empty(),
        reasons,
    }
}

/// "!!!", "？？？" and the like: three or more in a row.
fn shouting(text: &str) -> bool {
    let mut run = 0;
    for c in text.chars() {
        if matches!(c, '!' | '！' | '?' | '？') {
            run += 1;
            if run >= 3 {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

#[cfg(target_arch = "wasm32")]
switchyard_sdk::escalate::export!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::escalate::Guest;
    use switchyard_sdk::testing::{self, MockHost};

    fn setup(host: MockHost) {
        testing::install(host);
        Plugin::init(
            r#"{"threshold": 0.8, "human_intents": ["human_agent"], "human_phrases": ["转人工", "real person"],
                "anger_words": ["气死", "ridiculous"], "escalate_findings": ["regulator", "complaint"]}"#
                .into(),
        )
        .unwrap();
    }

    fn turn_with(text: &str, intent: &str, confidence: f32) -> Turn {
        let mut t = testing::turn(text);
        t.intent = Some(Intent {
            name: intent.into(),
            confidence,
        });
        t
    }

    fn codes(e: &Escalation) -> Vec<&str> {
        e.reasons.iter().map(|r| r.code.as_str()).collect()
    }

    #[test]
    fn confident_routine_question_stays_with_the_bot() {
        setup(MockHost::default());
        let e = Plugin::escalate(turn_with("where is my parcel", "logistics", 0.95));
        assert!(!e.escalate, "{:?}", e.reasons);
    }

    #[test]
    fn each_reason_is_named() {
        setup(MockHost::default());
        assert_eq!(
            codes(&Plugin::escalate(turn_with("转人工", "human_agent", 0.99))),
            ["asked-for-human"]
        );
        assert_eq!(
            codes(&Plugin::escalate(turn_with("hmm", "price", 0.4))),
            ["low-confidence"]
        );
        assert_eq!(
            codes(&Plugin::escalate(turn_with(
                "this is ridiculous",
                "refund",
                0.9
            ))),
            ["anger"]
        );
        assert_eq!(
            codes(&Plugin::escalate(turn_with(
                "where is it???",
                "logistics",
                0.9
            ))),
            ["anger"]
        );
        let mut t = turn_with("我要去12315投诉你们", "complaint", 0.99);
        t.findings.push(Finding {
            kind: "sensitive-word".into(),
            code: "regulator".into(),
            severity: Severity::Critical,
            detail: "mentions \"12315\"".into(),
            start: 9,
            end: 14,
        });
        let e = Plugin::escalate(t);
        assert!(e.escalate);
        assert_eq!(codes(&e), ["sensitive-word"]);
        assert!(e.reasons[0].detail.contains("regulator"));
    }

    #[test]
    fn vip_and_repeat_contact() {
        let mut host = MockHost::default();
        host.customer.tier = Tier::Vip;
        setup(host);
        let mut t = turn_with("where is my parcel", "logistics", 0.95);
        t.customer.tier = Tier::Vip;
        assert_eq!(codes(&Plugin::escalate(t)), ["vip"]);

        let mut host = MockHost::default();
        host.open_tickets.push(TicketSummary {
            id: "t-9".into(),
            title: "refund".into(),
            department: "after-sales".into(),
            intent: "refund".into(),
            status: TicketStatus::Open,
            created_at_ms: 0,
        });
        setup(host);
        let e = Plugin::escalate(turn_with("我的退款呢", "refund", 0.95));
        assert_eq!(codes(&e), ["repeat-contact"]);
        assert!(e.reasons[0].detail.contains("t-9"));

        let mut host = MockHost::default();
        host.history = vec![
            testing::past("where is it", Some("logistics")),
            testing::past("still nothing", Some("logistics")),
        ];
        setup(host);
        assert_eq!(
            codes(&Plugin::escalate(turn_with(
                "where is my parcel",
                "logistics",
                0.95
            ))),
            ["repeat-contact"]
        );
    }

    #[test]
    fn threshold_out_of_range_is_refused() {
        assert!(
            Plugin::init(r#"{"threshold": 1.5}"#.into())
                .unwrap_err()
                .contains("threshold")
        );
    }
}
