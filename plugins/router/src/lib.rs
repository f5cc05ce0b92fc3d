//! Route-slot plugin: the bot answers routine questions it is confident about;
//! everything else goes to a human queue chosen by intent, sensitivity and
//! customer tier, and to the least-loaded online agent there who has the
//! queue's skill and spare capacity.
//!
//! Config (JSON): `{"bot_intents": [...], "queues": [{"name", "skill", "intents": [...],
//! "findings": [...], "min_priority", "urgent"}], "default_queue", "vip_queue",
//! "sensitive_queue", "pack"}`; `default_queue`, `vip_queue` and
//! `sensitive_queue` each name a queue of `queues`, `pack` a knowledge pack.
//!
//! With `"pack"`, an intent playbook pack (the banking pack) also says which
//! queue serves an intent and whether the bot may answer it; the config's own
//! `bot_intents` and queue `intents` come first. The pack names queues, the
//! tenant's config defines them (skill, priority floor, urgency).
//!
//! The queue, in order: a queue listed for one of the message's findings; an
//! `urgent` queue that serves the intent (a stolen card is blocked by the card
//! team, whoever the customer is); the sensitive queue for complaints; the VIP
//! queue; the queue that serves the intent; the default queue.

use std::cell::RefCell;

use serde::Deserialize;
use switchyard_sdk::playbook;
use switchyard_sdk::prelude::*;

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    bot_intents: Vec<String>,
    queues: Vec<QueueSpec>,
    default_queue: String,
    #[serde(default)]
    vip_queue: Option<String>,
    #[serde(default)]
    sensitive_queue: Option<String>,
    /// An intent playbook pack asked about intents the config does not place.
    #[serde(default)]
    pack: Option<String>,
}

#[derive(Deserialize)]
struct QueueSpec {
    name: String,
    /// Agents need this skill tag to serve the queue.
    skill: String,
    /// Intents this queue serves.
    #[serde(default)]
    intents: Vec<String>,
    /// Findings ("kind/code", e.g. "drug-interaction/contraindication") that
    /// send an escalated conversation here, before any other rule.
    #[serde(default)]
    findings: Vec<String>,
    /// Conversations routed here get at least this priority (0-9).
    #[serde(default)]
    min_priority: u8,
    /// The queue's intents come here before the sensitive and VIP rules.
    #[serde(default)]
    urgent: bool,
}

thread_local! {
    static CONFIG: RefCell<Option<Config>> = const { RefCell::new(None) };
}

pub struct Plugin;

impl switchyard_sdk::route::Guest for Plugin {
    fn init(config: String) -> Result<(), String> {
        let config: Config =
            serde_json::from_str(&config).map_err(|e| format!("router config: {e}"))?;
        let known = |name: &String| config.queues.iter().any(|q| &q.name == name);
        for name in std::iter::once(&config.default_queue)
            .chain(&config.vip_queue)
            .chain(&config.sensitive_queue)
        {
            if !known(name) {
                return Err(format!(
                    "router config: queue {name:?} is not defined in \"queues\""
                ));
            }
        }
        if let Some(q) = config.queues.iter().find(|q| q.min_priority > 9) {
            return Err(format!(
                "router config: queue {:?} has min_priority {}; priorities run from 0 to 9",
                q.name, q.min_priority
            ));
        }
        CONFIG.with(|c| *c.borrow_mut() = Some(config));
        Ok(())
    }

    fn route(turn: Turn) -> Option<Route> {
        CONFIG.with(|c| c.borrow().as_ref().map(|config| decide(config, &turn)))
    }
}

fn decide(config: &Config, turn: &Turn) -> Route {
    let intent = turn
        .intent
        .as_ref()
        .map(|i| i.name.as_str())
        .unwrap_or("unknown");
    let reasons: Vec<&str> = turn
        .escalation
        .as_ref()
        .map(|e| e.reasons.iter().map(|r| r.code.as_str()).collect())
        .unwrap_or_default();
    let escalate = turn.escalation.as_ref().is_some_and(|e| e.escalate);
    let configured_queue = config
        .queues
        .iter()
        .find(|q| q.intents.iter().any(|i| i == intent));
    let placed_by_config =
        configured_queue.is_some() || config.bot_intents.iter().any(|i| i == intent);
    let playbook = match &config.pack {
        Some(pack) if intent != "unknown" && !placed_by_config => playbook::ask(pack, intent),
        _ => None,
    };
    let playbook_queue = playbook.as_ref().and_then(|entry| {
        let queue = config.queues.iter().find(|q| q.name == entry.queue);
        if queue.is_none() {
            host::log(
                Level::Warn,
                &format!(
                    "the pack sends {intent} to queue {:?}, which this router does not define",
                    entry.queue
                ),
            );
        }
        queue
    });
    let intent_queue = configured_queue.or(playbook_queue);
    let bot_answers =
        config.bot_intents.iter().any(|i| i == intent) || playbook.as_ref().is_some_and(|e| e.bot);
    if !escalate && bot_answers {
        return Route {
            target: RouteTarget::Bot,
            queue: None,
            agent: None,
            priority: 0,
            reason: format!("bot answers {intent}"),
        };
    }

    let critical = turn
        .findings
        .iter()
        .any(|f| f.severity == Severity::Critical);
    let by_finding = config
        .queues
        .iter()
        .find(|q| {
            turn.findings.iter().any(|f| {
                q.findings
                    .iter()
                    .any(|k| k.split_once('/') == Some((f.kind.as_str(), f.code.as_str())))
            })
        })
        .map(|q| &q.name);
    let queue_name = by_finding
        .or_else(|| intent_queue.filter(|q| q.urgent).map(|q| &q.name))
        .or_else(|| {
            (reasons.contains(&"sensitive-word") || intent == "complaint")
                .then_some(config.sensitive_queue.as_ref())
                .flatten()
        })
        .or_else(|| {
            (turn.customer.tier == Tier::Vip)
                .then_some(config.vip_queue.as_ref())
                .flatten()
        })
        .or_else(|| intent_queue.map(|q| &q.name))
        .unwrap_or(&config.default_queue);
    let queue = config
        .queues
        .iter()
        .find(|q| &q.name == queue_name)
        .expect("checked at init");

    let mut priority: u8 = 3;
    priority += match turn.customer.tier {
        Tier::Vip => 3,
        Tier::Premium => 1,
        Tier::Standard => 0,
    };
    if critical {
        priority += 3;
    }
    if reasons.contains(&"anger") {
        priority += 2;
    }
    if reasons.contains(&"repeat-contact") {
        priority += 1;
    }
    let priority = priority.max(queue.min_priority).min(9);

    // Keep the customer with the agent already on the conversation while that
    // agent is online and serves the queue; otherwise prefer agents who speak
    // the customer's language (skill "zh" or "en"), then the least loaded
    // relative to capacity (ties: lower absolute load, then id, so the choice
    // is stable). Agents without language tags count as speaking both.
    let language = switchyard_sdk::Lang::detect(&turn.message.text).code();
    let speaks = |a: &Agent| {
        let tagged = a.skills.iter().any(|s| s == "zh" || s == "en");
        !tagged || a.skills.iter().any(|s| s == language)
    };
    let agents = host::agents();
    let serves = |a: &Agent| a.status == AgentStatus::Online && a.skills.contains(&queue.skill);
    let current = host::assigned_agent()
        .and_then(|id| agents.iter().find(|a| a.id == id && serves(a)).cloned());
    let agent = current.or_else(|| {
        agents
            .into_iter()
            .filter(|a| serves(a) && a.load < a.capacity)
            .min_by(|a, b| {
                let ra = a.load as f32 / a.capacity as f32;
                let rb = b.load as f32 / b.capacity as f32;
                speaks(b)
                    .cmp(&speaks(a))
                    .then(ra.total_cmp(&rb))
                    .then(a.load.cmp(&b.load))
                    .then(a.id.cmp(&b.id))
            })
    });
    let why = if reasons.is_empty() {
        format!("intent {intent}")
    } else {
        reasons.join(", ")
    };
    match agent {
        Some(agent) => Route {
            target: RouteTarget::Agent,
            queue: Some(queue.name.clone()),
            reason: format!(
                "{why}: queue {} (skill {}), agent {} at load {}/{}",
                queue.name, queue.skill, agent.id, agent.load, agent.capacity
            ),
            agent: Some(agent.id),
            priority,
        },
        None => Route {
            target: RouteTarget::Queue,
            queue: Some(queue.name.clone()),
            agent: None,
            priority,
            reason: format!(
                "{why}: queue {} (skill {}), no agent free",
                queue.name, queue.skill
            ),
        },
    }
}

#[cfg(target_arch = "wasm32")]
switchyard_sdk::route::export!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::route::Guest;
    use switchyard_sdk::testing::{self, MockHost};

    fn agent(id: &str, skills: &[&str], capacity: u32, load: u32, status: AgentStatus) -> Agent {
        Agent {
            id: id.into(),
            name: id.into(),
            skills: skills.iter().map(|s| s.to_string()).collect(),
            capacity,
            load,
            status,
        }
    }

    fn setup() {
        let mut host = MockHost::default();
        host.agents = vec![
            agent("a1", &["after-sales"], 5, 1, AgentStatus::Online),
            agent("a2", &["vip", "after-sales"], 4, 3, AgentStatus::Online),
            agent("a3", &["vip"], 4, 1, AgentStatus::Online),
            agent("a4", &["vip"], 4, 0, AgentStatus::Away),
            agent("a5", &["complaints"], 2, 2, AgentStatus::Online),
        ];
        testing::install(host);
        Plugin::init(
            r#"{"bot_intents": ["logistics"], "default_queue": "general", "vip_queue": "vip", "sensitive_queue": "complaints",
                "queues": [{"name": "general", "skill": "general"}, {"name": "after-sales", "skill": "after-sales", "intents": ["refund"]},
                           {"name": "vip", "skill": "vip"}, {"name": "complaints", "skill": "complaints", "intents": ["complaint"]}]}"#
                .into(),
        )
        .unwrap();
    }

    fn turn(intent: &str, tier: Tier, reasons: &[&str]) -> Turn {
        let mut t = testing::turn("text");
        t.customer.tier = tier;
        t.intent = Some(Intent {
            name: intent.into(),
            confidence: 0.9,
        });
        t.escalation = Some(Escalation {
            escalate: !reasons.is_empty(),
            reasons: reasons
                .iter()
                .map(|c| EscalationReason {
                    code: c.to_string(),
                    detail: String::new(),
                })
                .collect(),
        });
        t
    }

    #[test]
    fn bot_answers_routine_questions() {
        setup();
        let r = Plugin::route(turn("logistics", Tier::Standard, &[])).unwrap();
        assert_eq!(r.target, RouteTarget::Bot);
    }

    #[test]
    fn vip_goes_to_least_loaded_online_agent_with_the_skill() {
        setup();
        let r = Plugin::route(turn("logistics", Tier::Vip, &["vip"])).unwrap();
        assert_eq!(r.target, RouteTarget::Agent);
        assert_eq!(r.queue.as_deref(), Some("vip"));
        // a4 has load 0 but is away; a3 (1/4) beats a2 (3/4).
        assert_eq!(r.agent.as_deref(), Some("a3"));
        assert!(r.priority >= 6);
    }

    #[test]
    fn intent_queue_and_full_queue() {
        setup();
        let r = Plugin::route(turn("refund", Tier::Standard, &[])).unwrap();
        assert_eq!(
            (r.queue.as_deref(), r.agent.as_deref()),
            (Some("after-sales"), Some("a1"))
        );
        // The only complaints agent is at capacity: the conversation waits in the queue.
        let r = Plugin::route(turn("complaint", Tier::Standard, &["sensitive-word"])).unwrap();
        assert_eq!(r.target, RouteTarget::Queue);
        assert_eq!(r.queue.as_deref(), Some("complaints"));
    }

    #[test]
    fn conversation_stays_with_its_agent_while_they_serve_the_queue() {
        setup();
        testing::with_mock(|m| m.assigned_agent = Some("a2".into()));
        let r = Plugin::route(turn("logistics", Tier::Vip, &["vip"])).unwrap();
        assert_eq!(
            r.agent.as_deref(),
            Some("a2"),
            "a2 (3/4) keeps the chat although a3 is less loaded"
        );
        testing::with_mock(|m| m.assigned_agent = Some("a4".into()));
        let r = Plugin::route(turn("logistics", Tier::Vip, &["vip"])).unwrap();
        assert_eq!(r.agent.as_deref(), Some("a3"), "a4 is away: pick afresh");
    }

    #[test]
    fn agents_who_speak_the_customers_language_come_first() {
        let mut host = MockHost::default();
        host.agents = vec![
            agent("zh-only", &["general", "zh"], 4, 0, AgentStatus::Online),
            agent("en-busy", &["general", "en"], 4, 3, AgentStatus::Online),
        ];
        testing::install(host);
        Plugin::init(
            r#"{"default_queue": "general", "queues": [{"name": "general", "skill": "general"}]}"#
                .into(),
        )
        .unwrap();
        let mut t = turn("complaint", Tier::Standard, &["asked-for-human"]);
        t.message.text = "I want a person".into();
        assert_eq!(
            Plugin::route(t.clone()).unwrap().agent.as_deref(),
            Some("en-busy")
        );
        t.message.text = "转人工".into();
        assert_eq!(Plugin::route(t).unwrap().agent.as_deref(), Some("zh-only"));
    }

    thread_local! {
        /// Intents the mock pack was asked about.
        static ASKED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }

    /// A playbook pack as the banking pack answers `{"intent": ...}`.
    fn playbook_pack(query: &str) -> Result<String, String> {
        let query: serde_json::Value = serde_json::from_str(query).map_err(|e| e.to_string())?;
        let intent = query["intent"].as_str().ok_or("no intent")?;
        ASKED.with(|a| a.borrow_mut().push(intent.to_string()));
        let script = serde_json::json!({"en": "script", "zh": "话术"});
        let playbook = match intent {
            "lost_or_stolen_card" => {
                serde_json::json!({"queue": "card-emergency", "bot": false, "script": script})
            }
            "exchange_rate" => {
                serde_json::json!({"queue": "payments", "bot": true, "script": script})
            }
            "refund" => serde_json::json!({"queue": "payments", "bot": true, "script": script}),
            "misplaced" => serde_json::json!({"queue": "nowhere", "bot": false, "script": script}),
            _ => serde_json::Value::Null,
        };
        Ok(serde_json::json!({"intent": intent, "playbook": playbook}).to_string())
    }

    fn bank(with_pack: bool) {
        let mut host = MockHost::default();
        host.agents = vec![
            agent("card-desk", &["card-emergency"], 4, 0, AgentStatus::Online),
            agent("pay", &["payments"], 4, 0, AgentStatus::Online),
            agent("vip-desk", &["vip"], 4, 0, AgentStatus::Online),
            agent("gen", &["general"], 4, 0, AgentStatus::Online),
        ];
        if with_pack {
            host.packs = vec![("banking".into(), playbook_pack)];
        }
        testing::install(host);
        Plugin::init(
            r#"{"pack": "banking", "default_queue": "general", "vip_queue": "vip",
                "queues": [{"name": "general", "skill": "general"}, {"name": "vip", "skill": "vip"},
                           {"name": "payments", "skill": "payments", "intents": ["refund"]},
                           {"name": "card-emergency", "skill": "card-emergency", "urgent": true, "min_priority": 7}]}"#
                .into(),
        )
        .unwrap();
    }

    #[test]
    fn a_playbook_pack_places_intents_and_urgent_queues_come_before_vip() {
        bank(true);
        let lost = Plugin::route(turn("lost_or_stolen_card", Tier::Standard, &[])).unwrap();
        assert_eq!(lost.queue.as_deref(), Some("card-emergency"));
        assert_eq!(lost.agent.as_deref(), Some("card-desk"));
        assert_eq!(lost.priority, 7, "the queue's floor");
        let vip_lost = Plugin::route(turn("lost_or_stolen_card", Tier::Vip, &["vip"])).unwrap();
        assert_eq!(
            vip_lost.queue.as_deref(),
            Some("card-emergency"),
            "urgent before VIP"
        );
        assert_eq!(vip_lost.priority, 7, "VIP (6) stays under the floor");
        let mut angry = turn("lost_or_stolen_card", Tier::Vip, &["vip", "anger"]);
        angry.message.text = "WHERE IS MY MONEY".into();
        assert_eq!(
            Plugin::route(angry).unwrap().priority,
            8,
            "6 + 2 for anger, above the floor"
        );

        // The pack lets the bot answer; once escalated, its queue serves.
        let rate = Plugin::route(turn("exchange_rate", Tier::Standard, &[])).unwrap();
        assert_eq!(rate.target, RouteTarget::Bot);
        let rate =
            Plugin::route(turn("exchange_rate", Tier::Standard, &["low-confidence"])).unwrap();
        assert_eq!(rate.queue.as_deref(), Some("payments"));
        assert_eq!(rate.priority, 3);
        // A VIP with a non-urgent intent goes to the VIP desk.
        let rate = Plugin::route(turn("exchange_rate", Tier::Vip, &["vip"])).unwrap();
        assert_eq!(rate.queue.as_deref(), Some("vip"));

        // The tenant's own config comes first: refund is placed by it, so the
        // pack is not asked and its "bot" does not apply.
        ASKED.with(|a| a.borrow_mut().clear());
        let refund = Plugin::route(turn("refund", Tier::Standard, &[])).unwrap();
        assert_eq!(refund.target, RouteTarget::Agent);
        assert_eq!(refund.queue.as_deref(), Some("payments"));
        assert!(ASKED.with(|a| a.borrow().is_empty()));

        // A queue the router does not define, or an intent the pack does not
        // know: the default queue; the first is logged.
        let odd = Plugin::route(turn("misplaced", Tier::Standard, &[])).unwrap();
        assert_eq!(odd.queue.as_deref(), Some("general"));
        assert!(
            testing::with_mock(|m| m.logs.iter().any(|l| l.contains("\"nowhere\""))),
            "the misplaced queue is logged"
        );
        let other = Plugin::route(turn("weather", Tier::Standard, &[])).unwrap();
        assert_eq!(other.queue.as_deref(), Some("general"));
    }

    #[test]
    fn a_missing_pack_costs_its_placement_not_the_route() {
        bank(false);
        let lost = Plugin::route(turn("lost_or_stolen_card", Tier::Standard, &[])).unwrap();
        assert_eq!(lost.queue.as_deref(), Some("general"));
        assert!(testing::with_mock(|m| m
            .logs
            .iter()
            .any(|l| l.contains("banking"))));
    }

    #[test]
    fn a_priority_floor_above_nine_is_refused() {
        let err = Plugin::init(
            r#"{"default_queue": "q", "queues": [{"name": "q", "skill": "s", "min_priority": 12}]}"#.into(),
        )
        .unwrap_err();
        assert!(err.contains("min_priority 12"), "{err}");
    }

    #[test]
    fn unknown_queue_in_config_is_refused() {
        let err = Plugin::init(r#"{"queues": [], "default_queue": "nowhere"}"#.into()).unwrap_err();
        assert!(err.contains("nowhere"), "{err}");
    }
}
