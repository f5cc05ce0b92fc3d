//! Route-slot plugin: the bot answers routine questions it is confident about;
//! everything else goes to a human queue chosen by intent, sensitivity and
//! customer tier, and to the least-loaded online agent there who has the
//! queue's skill and spare capacity.
//!
//! Config (JSON): `{"bot_intents": [...], "queues": [{"name", "skill", "intents": [...]}],
//! "default_queue", "vip_queue", "sensitive_queue"}`; each of the last three names a queue.

use std::cell::RefCell;

use serde::Deserialize;
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
    if !escalate && config.bot_intents.iter().any(|i| i == intent) {
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
        .or_else(|| {
            config
                .queues
                .iter()
                .find(|q| q.intents.iter().any(|i| i == intent))
                .map(|q| &q.name)
        })
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
    let priority = priority.min(9);

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

    #[test]
    fn unknown_queue_in_config_is_refused() {
        let err = Plugin::init(r#"{"queues": [], "default_queue": "nowhere"}"#.into()).unwrap_err();
        assert!(err.contains("nowhere"), "{err}");
    }
}
