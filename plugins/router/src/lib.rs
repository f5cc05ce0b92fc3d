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
use switchyard_sdk::article_answers::ArticleAnswers;
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
    /// Skills kept for the conversations that need them (see [`Reserve`]).
    #[serde(default)]
    reserve: Vec<Reserve>,
    /// When no intent is confident, the bot may answer from a published
    /// article that scores and covers the question well enough
    /// (`switchyard_sdk::article_answers`).
    #[serde(default)]
    article_answers: Option<ArticleAnswers>,
    /// An intent less confident than this does not choose the queue (the
    /// default queue does): a guess sent "Hi" to the account-closure team.
    /// Off (0) by default: on BANKING77 a guess's queue is often right
    /// (0.5 cost the banking tenant 1.3 points of right places).
    #[serde(default)]
    min_intent_confidence: f32,
}

/// A scarce skill (VIP, a second language) kept for the conversations that
/// need it: an agent with `skill` takes a conversation that does not need it
/// only while the online agents with `skill` keep at least `keep` free
/// places after it. Whatever `keep` is, agents whose reserved skills a
/// conversation does not need are chosen last.
#[derive(Deserialize)]
struct Reserve {
    skill: String,
    #[serde(default = "one")]
    keep: u32,
}

fn one() -> u32 {
    1
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
        if !(0.0..=1.0).contains(&config.min_intent_confidence) {
            return Err(format!(
                "router config: min_intent_confidence is {}; confidences run from 0 to 1",
                config.min_intent_confidence
            ));
        }
        if let Some(a) = &config.article_answers {
            a.check("router")?;
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
    let guessed = turn
        .intent
        .as_ref()
        .is_some_and(|i| i.confidence < config.min_intent_confidence);
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
    // A guess does not choose the queue, unless the queue is urgent: a card
    // that may be stolen goes to the card team (a needless look costs
    // little; a stolen card waiting in the general queue costs a lot).
    let intent_queue = configured_queue
        .or(playbook_queue)
        .filter(|q| !guessed || q.urgent);
    let state = host::conversation_state();
    // Once people hold the conversation, the bot never takes it back: a
    // follow-up ("thanks", an order number) stays with them.
    let held_by_people = !matches!(state.holder, Holder::Bot);
    let bot_answers =
        config.bot_intents.iter().any(|i| i == intent) || playbook.as_ref().is_some_and(|e| e.bot);
    if !held_by_people && let Some(article) = article_answer(config, turn, &reasons) {
        return Route {
            target: RouteTarget::Bot,
            queue: None,
            agent: None,
            priority: 0,
            reason: article,
        };
    }
    if !held_by_people && !escalate && bot_answers {
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
    // A conversation already waiting for people stays in its queue, unless
    // it turned into a complaint: that goes to the complaint handlers.
    let waiting_in = match &state.holder {
        Holder::Queue(name) => config.queues.iter().find(|q| &q.name == name),
        _ => None,
    };
    let queue_name = by_finding
        .or_else(|| intent_queue.filter(|q| q.urgent).map(|q| &q.name))
        .or_else(|| {
            (reasons.contains(&"sensitive-word") || intent == "complaint")
                .then_some(config.sensitive_queue.as_ref())
                .flatten()
        })
        .or_else(|| waiting_in.map(|q| &q.name))
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

    let language = language_of(turn, &state);
    let agents = host::agents();
    let choice = choose_agent(config, turn, queue, &agents, &state, language);
    let mut why = if reasons.is_empty() {
        format!("intent {intent}")
    } else {
        reasons.join(", ")
    };
    if guessed && intent_queue.is_none() && (configured_queue.is_some() || playbook_queue.is_some())
    {
        why += &format!(" (intent {intent} too unsure to choose the queue)");
    }
    let notes = if choice.notes.is_empty() {
        String::new()
    } else {
        format!("; {}", choice.notes.join("; "))
    };
    match choice.agent {
        Some(agent) => Route {
            target: RouteTarget::Agent,
            queue: Some(queue.name.clone()),
            reason: format!(
                "{why}: queue {} (skill {}), agent {} at load {}/{}, {}{notes}",
                queue.name, queue.skill, agent.id, agent.load, agent.capacity, choice.because
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
                "{why}: queue {} (skill {}), no agent free{notes}",
                queue.name, queue.skill
            ),
        },
    }
}

/// The bot's answer from knowledge, as a route reason: when the message
/// escalates only because no intent is confident, and the best published
/// article matches at least `article_answers.min_score` and has a reply.
fn article_answer(config: &Config, turn: &Turn, reasons: &[&str]) -> Option<String> {
    let settings = config.article_answers.as_ref()?;
    if reasons.iter().any(|r| *r != "low-confidence") {
        return None;
    }
    let unsure = match &turn.intent {
        None => true,
        Some(i) if i.name == "unknown" => true,
        Some(i) if settings.is_out_of_scope(&i.name) => {
            !settings.surely_off_topic(&i.name, i.confidence)
        }
        Some(_) => reasons.contains(&"low-confidence"),
    };
    if !unsure {
        return None;
    }
    let text = &turn.message.text;
    let best = host::search_articles(text, 1).into_iter().next()?;
    if best.score < settings.min_score || best.templates.is_empty() {
        return None;
    }
    let coverage = host::article_coverage(text, &best.id);
    settings.answers(best.score, coverage).then(|| {
        format!(
            "no confident intent; bot answers from article {} (score {:.2} >= {:.2}, covers {:.0}% of the question)",
            best.id,
            best.score,
            settings.min_score,
            coverage * 100.0
        )
    })
}

/// The customer's language: the message's when it has words, else the
/// conversation's (an order number alone says nothing about it).
fn language_of(turn: &Turn, state: &ConversationState) -> &'static str {
    match switchyard_sdk::Lang::of_words(&turn.message.text) {
        Some(lang) => lang.code(),
        None => match state.language.as_deref() {
            Some("en") => "en",
            Some("zh") => "zh",
            _ => switchyard_sdk::Lang::detect(&turn.message.text).code(),
        },
    }
}

/// The agent chosen for a conversation and why.
struct Choice {
    agent: Option<Agent>,
    /// Why this agent: "holds the conversation", "handled ticket t-1", ...
    because: String,
    /// What the reason should also say (no agent speaks the language, a
    /// reserved skill kept).
    notes: Vec<String>,
}

const LANGUAGES: [&str; 2] = ["zh", "en"];

/// Who takes the conversation, in order:
/// 1. the agent who holds it, while online or away and within capacity
///    (their load already counts it), whatever the queue: a follow-up never moves;
/// 2. for a repeat contact, the agent who handled the customer's open ticket
///    about this intent (else any open ticket), when online and free;
/// 3. an online agent of the queue with a free place: who speaks the
///    customer's language first (agents without language tags speak both),
///    then who has fewer reserved skills the conversation does not need,
///    then the least loaded relative to capacity (ties: lower load, then id).
///    A reserved skill's `keep` free places are never given away.
fn choose_agent(
    config: &Config,
    turn: &Turn,
    queue: &QueueSpec,
    agents: &[Agent],
    state: &ConversationState,
    language: &str,
) -> Choice {
    let mut notes = Vec::new();
    let online = |a: &&Agent| a.status == AgentStatus::Online;
    // An agent who owns a conversation keeps it while away (away means no
    // new work, not giving up one's own); only offline lets it go.
    let holder = match &state.holder {
        Holder::Agent(id) => agents
            .iter()
            .filter(|a| a.status != AgentStatus::Offline)
            .find(|a| &a.id == id),
        _ => None,
    };
    // An urgent queue's work (a stolen card) goes to its team even from an
    // agent who holds the chat: holding it after "Hi" is no reason to keep it.
    let urgent_elsewhere = |a: &Agent| queue.urgent && !a.skills.contains(&queue.skill);
    match holder {
        Some(agent) if agent.load <= agent.capacity && !urgent_elsewhere(agent) => {
            return Choice {
                agent: Some(agent.clone()),
                because: "who holds the conversation".into(),
                notes,
            };
        }
        Some(agent) if urgent_elsewhere(agent) => notes.push(format!(
            "urgent: from agent {}, who held it, to queue {}",
            agent.id, queue.name
        )),
        _ => {
            if let Holder::Agent(id) = &state.holder {
                notes.push(format!("agent {id}, who held it, is not available"));
            }
        }
    }
    let intent = turn.intent.as_ref().map(|i| i.name.as_str()).unwrap_or("");
    let ticket = state
        .ticket_holders
        .iter()
        .filter(|t| t.agent.is_some() && t.conversation_id != turn.message.conversation_id)
        .max_by_key(|t| t.intent == intent);
    if let Some(ticket) = ticket {
        let id = ticket.agent.as_deref().unwrap_or_default();
        match agents.iter().filter(online).find(|a| a.id == id) {
            Some(agent) if agent.load < agent.capacity => {
                return Choice {
                    agent: Some(agent.clone()),
                    because: format!(
                        "who handled open ticket {} ({})",
                        ticket.ticket_id, ticket.intent
                    ),
                    notes,
                };
            }
            _ => notes.push(format!(
                "agent {id}, who handled open ticket {}, is not free",
                ticket.ticket_id
            )),
        }
    }

    let needs = |skill: &str| {
        skill == queue.skill
            || skill == language
            || (skill == "vip" && turn.customer.tier == Tier::Vip)
    };
    let speaks = |a: &Agent| {
        let tagged = a.skills.iter().any(|s| LANGUAGES.contains(&s.as_str()));
        !tagged || a.skills.iter().any(|s| s == language)
    };
    // Reserved skills this agent has and the conversation does not need.
    let spared = |a: &Agent| {
        config
            .reserve
            .iter()
            .filter(|r| !needs(&r.skill) && a.skills.contains(&r.skill))
            .count()
    };
    let free_with = |skill: &str| -> u32 {
        agents
            .iter()
            .filter(online)
            .filter(|a| a.skills.iter().any(|s| s == skill))
            .map(|a| a.capacity.saturating_sub(a.load))
            .sum()
    };
    let mut kept: Vec<&str> = Vec::new();
    let candidates: Vec<&Agent> = agents
        .iter()
        .filter(online)
        .filter(|a| a.skills.contains(&queue.skill) && a.load < a.capacity)
        .filter(|a| {
            let blocked = config.reserve.iter().find(|r| {
                !needs(&r.skill) && a.skills.contains(&r.skill) && free_with(&r.skill) <= r.keep
            });
            if let Some(r) = blocked {
                kept.push(&r.skill);
            }
            blocked.is_none()
        })
        .collect();
    let best = candidates.iter().min_by(|a, b| {
        let ra = a.load as f32 / a.capacity as f32;
        let rb = b.load as f32 / b.capacity as f32;
        speaks(b)
            .cmp(&speaks(a))
            .then(spared(a).cmp(&spared(b)))
            .then(ra.total_cmp(&rb))
            .then(a.load.cmp(&b.load))
            .then(a.id.cmp(&b.id))
    });
    if best.is_some_and(|a| !speaks(a)) {
        notes.push(format!("no free agent of the queue speaks {language}"));
    }
    if best.is_none() && !kept.is_empty() {
        kept.sort();
        kept.dedup();
        notes.push(format!(
            "agents with skill {} kept for the conversations that need it",
            kept.join(", ")
        ));
    }
    Choice {
        because: match best {
            Some(a) if speaks(a) => format!("least loaded who speaks {language}"),
            _ => "least loaded".into(),
        },
        agent: best.map(|a| (*a).clone()),
        notes,
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
            agent("a6", &["vip"], 4, 1, AgentStatus::Offline),
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
    fn conversation_stays_with_its_agent_while_they_are_online_or_away() {
        setup();
        testing::with_mock(|m| m.state.holder = Holder::Agent("a2".into()));
        let r = Plugin::route(turn("logistics", Tier::Vip, &["vip"])).unwrap();
        assert_eq!(
            r.agent.as_deref(),
            Some("a2"),
            "a2 (3/4) keeps the chat although a3 is less loaded"
        );
        assert!(
            r.reason.contains("who holds the conversation"),
            "{}",
            r.reason
        );
        // A follow-up the bot could answer ("thanks") stays with the person.
        let r = Plugin::route(turn("logistics", Tier::Standard, &[])).unwrap();
        assert_eq!(
            (r.target, r.agent.as_deref()),
            (RouteTarget::Agent, Some("a2"))
        );
        // Away means no new work, not giving up one's own conversation.
        testing::with_mock(|m| m.state.holder = Holder::Agent("a4".into()));
        let r = Plugin::route(turn("logistics", Tier::Vip, &["vip"])).unwrap();
        assert_eq!(r.agent.as_deref(), Some("a4"), "a4 is away and keeps it");
        testing::with_mock(|m| m.state.holder = Holder::Agent("a6".into()));
        let r = Plugin::route(turn("logistics", Tier::Vip, &["vip"])).unwrap();
        assert_eq!(r.agent.as_deref(), Some("a3"), "a6 is offline: pick afresh");
        assert!(
            r.reason.contains("agent a6, who held it, is not available"),
            "{}",
            r.reason
        );
    }

    #[test]
    fn a_guessed_intent_does_not_choose_the_queue_and_urgent_work_leaves_the_holder() {
        setup();
        Plugin::init(
            r#"{"default_queue": "general", "min_intent_confidence": 0.5,
                "queues": [{"name": "general", "skill": "general"}, {"name": "after-sales", "skill": "after-sales", "intents": ["refund"]}]}"#
                .into(),
        )
        .unwrap();
        // "Hi" read as a refund at 0.18: the default queue, saying why.
        let mut t = turn("refund", Tier::Standard, &["low-confidence"]);
        t.intent.as_mut().unwrap().confidence = 0.18;
        let r = Plugin::route(t).unwrap();
        assert_eq!(r.queue.as_deref(), Some("general"), "{}", r.reason);
        assert!(
            r.reason.contains("too unsure to choose the queue"),
            "{}",
            r.reason
        );

        let mut host = MockHost::default();
        host.agents = vec![
            agent("front", &["general"], 5, 1, AgentStatus::Online),
            agent("card", &["card-emergency"], 5, 0, AgentStatus::Online),
        ];
        host.state.holder = Holder::Agent("front".into());
        testing::install(host);
        Plugin::init(
            r#"{"default_queue": "general", "queues": [{"name": "general", "skill": "general"},
                {"name": "card-emergency", "skill": "card-emergency", "urgent": true, "intents": ["lost_card"]}]}"#
                .into(),
        )
        .unwrap();
        let r = Plugin::route(turn("lost_card", Tier::Standard, &[])).unwrap();
        assert_eq!(r.agent.as_deref(), Some("card"), "{}", r.reason);
        assert!(
            r.reason.contains("urgent: from agent front"),
            "{}",
            r.reason
        );
        // Other work stays with the holder.
        let r = Plugin::route(turn("refund", Tier::Standard, &["asked-for-human"])).unwrap();
        assert_eq!(r.agent.as_deref(), Some("front"), "{}", r.reason);
    }

    #[test]
    fn a_conversation_waiting_for_people_never_goes_back_to_the_bot() {
        setup();
        testing::with_mock(|m| {
            m.state.holder = Holder::Queue("after-sales".into());
            for a in &mut m.agents {
                a.load = a.capacity;
            }
        });
        let r = Plugin::route(turn("logistics", Tier::Standard, &[])).unwrap();
        assert_eq!(r.target, RouteTarget::Queue);
        assert_eq!(r.queue.as_deref(), Some("after-sales"), "{}", r.reason);
        // Turned into a complaint while waiting: the complaint handlers.
        let r = Plugin::route(turn("complaint", Tier::Standard, &["sensitive-word"])).unwrap();
        assert_eq!(r.queue.as_deref(), Some("complaints"), "{}", r.reason);
    }

    #[test]
    fn a_repeat_contact_goes_to_the_agent_who_handled_the_open_ticket() {
        setup();
        testing::with_mock(|m| {
            m.state.ticket_holders = vec![TicketHolder {
                ticket_id: "t-9".into(),
                intent: "refund".into(),
                agent: Some("a2".into()),
                conversation_id: "earlier".into(),
            }];
        });
        let r = Plugin::route(turn("refund", Tier::Standard, &["repeat-contact"])).unwrap();
        assert_eq!(r.agent.as_deref(), Some("a2"), "{}", r.reason);
        assert!(r.reason.contains("handled open ticket t-9"), "{}", r.reason);
        // Full: the least loaded of the queue instead, and the reason says why.
        testing::with_mock(|m| m.agents[1].load = 4);
        let r = Plugin::route(turn("refund", Tier::Standard, &["repeat-contact"])).unwrap();
        assert_eq!(r.agent.as_deref(), Some("a1"), "{}", r.reason);
        assert!(
            r.reason
                .contains("agent a2, who handled open ticket t-9, is not free"),
            "{}",
            r.reason
        );
    }

    #[test]
    fn the_reason_says_when_no_agent_speaks_the_customers_language() {
        let mut host = MockHost::default();
        host.agents = vec![agent(
            "zh1",
            &["after-sales", "zh"],
            5,
            0,
            AgentStatus::Online,
        )];
        testing::install(host);
        Plugin::init(
            r#"{"default_queue": "after-sales", "queues": [{"name": "after-sales", "skill": "after-sales", "intents": ["refund"]}]}"#.into(),
        )
        .unwrap();
        let mut t = turn("refund", Tier::Standard, &[]);
        t.message.text = "I want my money back".into();
        let r = Plugin::route(t).unwrap();
        assert_eq!(r.agent.as_deref(), Some("zh1"));
        assert!(
            r.reason.contains("no free agent of the queue speaks en"),
            "{}",
            r.reason
        );
        // An order number alone takes the conversation's language.
        testing::with_mock(|m| m.state.language = Some("zh".into()));
        let mut t = turn("refund", Tier::Standard, &[]);
        t.message.text = "2024113099123".into();
        let r = Plugin::route(t).unwrap();
        assert!(!r.reason.contains("speaks en"), "{}", r.reason);
    }

    #[test]
    fn reserved_skills_are_kept_for_the_conversations_that_need_them() {
        let mut host = MockHost::default();
        host.agents = vec![
            agent(
                "vip1",
                &["after-sales", "vip", "zh", "en"],
                2,
                0,
                AgentStatus::Online,
            ),
            agent("std1", &["after-sales", "zh"], 2, 0, AgentStatus::Online),
        ];
        testing::install(host);
        Plugin::init(
            r#"{"default_queue": "after-sales", "vip_queue": "vip", "reserve": [{"skill": "vip", "keep": 1}],
                "queues": [{"name": "after-sales", "skill": "after-sales", "intents": ["refund"]}, {"name": "vip", "skill": "vip"}]}"#
                .into(),
        )
        .unwrap();
        let standard = || {
            let mut t = turn("refund", Tier::Standard, &[]);
            t.message.text = "我要退款".into();
            Plugin::route(t).unwrap()
        };
        // Less loaded or not, the VIP agent comes after the standard one.
        assert_eq!(standard().agent.as_deref(), Some("std1"));
        testing::with_mock(|m| m.agents[1].load = 2);
        // std1 is full: vip1 may take one standard chat, keeping one place.
        assert_eq!(standard().agent.as_deref(), Some("vip1"));
        testing::with_mock(|m| m.agents[0].load = 1);
        let r = standard();
        assert_eq!(r.target, RouteTarget::Queue, "{}", r.reason);
        assert!(
            r.reason.contains("agents with skill vip kept"),
            "{}",
            r.reason
        );
        // The kept place goes to a VIP.
        let r = Plugin::route(turn("refund", Tier::Vip, &["vip"])).unwrap();
        assert_eq!(r.agent.as_deref(), Some("vip1"), "{}", r.reason);
    }

    #[test]
    fn a_message_no_intent_explains_is_answered_from_a_strong_article() {
        let mut host = MockHost::default();
        host.articles = vec![testing::MockArticle {
            id: "kb-intl".into(),
            title: "International shipping".into(),
            body: "We ship to 40 countries; international delivery takes 7-15 days.".into(),
            keywords: vec!["international shipping".into(), "ship abroad".into()],
            templates: vec![("en".into(), "Yes, we ship to 40 countries.".into())],
        }];
        testing::install(host);
        Plugin::init(
            r#"{"default_queue": "general", "article_answers": {"min_score": 0.3},
                "queues": [{"name": "general", "skill": "general"}]}"#
                .into(),
        )
        .unwrap();
        let mut t = turn("unknown", Tier::Standard, &["low-confidence"]);
        t.message.text = "do you do international shipping".into();
        let r = Plugin::route(t.clone()).unwrap();
        assert_eq!(r.target, RouteTarget::Bot, "{}", r.reason);
        assert!(r.reason.contains("article kb-intl"), "{}", r.reason);
        // Nearest is not enough: an off-topic question that shares a word
        // with the article, and little else, goes to a person.
        let mut off_topic = t.clone();
        off_topic.message.text = "international football results tonight".into();
        let r = Plugin::route(off_topic).unwrap();
        assert_eq!(r.target, RouteTarget::Queue, "{}", r.reason);
        // Any other reason to escalate still goes to a person.
        t.escalation
            .as_mut()
            .unwrap()
            .reasons
            .push(EscalationReason {
                code: "asked-for-human".into(),
                detail: String::new(),
            });
        assert_eq!(Plugin::route(t).unwrap().target, RouteTarget::Queue);
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
