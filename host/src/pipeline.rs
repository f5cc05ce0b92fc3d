//! One message through a tenant's plugins: inspect -> classify -> escalate ->
//! route -> assist -> ticket. Each slot runs its bound plugins in order and
//! merges what they return; a slot with no plugin, or whose plugins all
//! failed, uses its documented default (see ARCHITECTURE.md, "Slot defaults").
//! Every call and every default lands in the trace.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::bindings::types as wit;
use crate::knowledge::KnowledgeIndex;
use crate::model::{self, Slot, TraceEntry};
pub use crate::runtime::lanes::{PackCall, Packs, Role, canary_bucket};
use crate::runtime::{BoundPlugin, CallContext, CallResult, Outcome, SlotOutput};
use crate::storage::Storage;

/// Confidence below which the default escalation rule hands over to a human.
pub const DEFAULT_ESCALATION_THRESHOLD: f32 = 0.8;
/// Queue the default router sends escalated conversations to.
pub const DEFAULT_QUEUE: &str = "general";

/// One place in a slot: the versions of one plugin name.
#[derive(Default, Clone)]
pub struct Lane {
    pub active: Option<Arc<BoundPlugin>>,
    /// Decides instead of `active` for this percentage of conversations.
    pub canary: Option<(Arc<BoundPlugin>, u8)>,
    /// Runs in the shadow pass only.
    pub shadow: Option<Arc<BoundPlugin>>,
}

/// A tenant's plugins, slot by slot, lane by lane in call order. Immutable:
/// a lifecycle change builds a new one and swaps it in, so a message keeps
/// the pipeline it started with.
#[derive(Default)]
pub struct Pipeline {
    pub slots: BTreeMap<Slot, Vec<Lane>>,
    /// The `pack` slot's lanes by pack name, handed to every call.
    pub packs: Arc<Packs>,
}

/// The main pass decides; the shadow pass runs shadow versions in their
/// lanes' place and is only recorded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Main,
    Shadow,
}

/// A message as the pipeline receives it.
pub struct Inbound {
    pub tenant: Arc<str>,
    pub conversation_id: String,
    pub message_id: String,
    pub text: String,
    pub channel: String,
    pub customer: model::Customer,
    pub received_at_ms: u64,
    /// Agent the conversation is assigned to, if open and assigned.
    pub assigned_agent: Option<String>,
    /// What the conversation established before this message.
    pub state: model::ConversationState,
    /// Queues the tenant declared (`TenantSettings::queues`); empty: any.
    pub declared_queues: Vec<String>,
}

/// What the pipeline decided, before the host applies it (ticket, assignment).
pub struct PipelineResult {
    pub decision: model::Decision,
    pub ticket_draft: Option<wit::TicketDraft>,
}

/// How one plugin call went, for metrics and circuit breakers.
#[derive(Clone, Debug)]
pub struct CallStat {
    pub slot: Slot,
    /// "name@version".
    pub plugin: String,
    pub version_id: u64,
    pub role: Role,
    pub outcome: Outcome,
    pub micros: u64,
}

pub type CallStats = Vec<CallStat>;

impl Pipeline {
    pub fn has_shadow(&self) -> bool {
        self.slots
            .values()
            .flatten()
            .any(|lane| lane.shadow.is_some())
    }

    /// Every bound plugin, for reuse when the next pipeline is built.
    pub fn plugins(&self) -> impl Iterator<Item = &Arc<BoundPlugin>> {
        self.slots.values().flatten().flat_map(|lane| {
            lane.active
                .iter()
                .chain(lane.canary.iter().map(|(p, _)| p))
                .chain(lane.shadow.iter())
        })
    }

    /// Decide one message; with shadow versions bound, also record what they
    /// would have decided.
    pub fn run(
        &self,
        storage: &Storage,
        knowledge: Arc<KnowledgeIndex>,
        inbound: &Inbound,
    ) -> (PipelineResult, CallStats) {
        let (mut result, mut stats) = self.pass(storage, knowledge.clone(), inbound, Pass::Main);
        if self.has_shadow() {
            let (shadow, shadow_stats) = self.pass(storage, knowledge, inbound, Pass::Shadow);
            let main = &result.decision;
            let s = shadow.decision;
            result.decision.shadow = Some(model::ShadowDecision {
                intent_differs: s.intent.name != main.intent.name,
                escalation_differs: s.escalation.escalate != main.escalation.escalate,
                route_differs: (&s.route.to, &s.route.queue, &s.route.agent)
                    != (&main.route.to, &main.route.queue, &main.route.agent),
                intent: s.intent,
                escalation: s.escalation,
                route: s.route,
                trace: s.trace,
            });
            // Only the shadow versions' own calls count: the lanes that ran
            // again beside them are already counted by the main pass.
            stats.extend(shadow_stats.into_iter().filter(|s| s.role == Role::Shadow));
        }
        (result, stats)
    }

    fn pass(
        &self,
        storage: &Storage,
        knowledge: Arc<KnowledgeIndex>,
        inbound: &Inbound,
        pass: Pass,
    ) -> (PipelineResult, CallStats) {
        let customer = wit_customer(&inbound.customer);
        let context = self.context(storage, knowledge, inbound, &customer);
        let mut turn = wit::Turn {
            message: wit::Message {
                id: inbound.message_id.clone(),
                conversation_id: inbound.conversation_id.clone(),
                text: inbound.text.clone(),
                channel: inbound.channel.clone(),
                received_at_ms: inbound.received_at_ms,
            },
            customer,
            findings: vec![],
            intent: None,
            entities: vec![],
            escalation: None,
            route: None,
            suggestions: vec![],
        };
        let mut run = Run {
            trace: Vec::new(),
            stats: Vec::new(),
            pass,
            conversation_id: &inbound.conversation_id,
        };

        // inspect: findings add up; the last masked text wins (later inspectors see more).
        let mut masked_text = None;
        let outputs = run.slot(self, Slot::Inspect, &context, &turn);
        if outputs.is_empty() {
            run.default(Slot::Inspect, "no findings");
        }
        for out in outputs {
            if let SlotOutput::Inspect(i) = out {
                turn.findings.extend(i.findings);
                masked_text = i.masked_text.or(masked_text);
            }
        }

        // classify: the most confident intent wins; entities add up.
        let mut alternatives = Vec::new();
        let outputs = run.slot(self, Slot::Classify, &context, &turn);
        if outputs.is_empty() {
            run.default(Slot::Classify, "intent unknown at confidence 0");
        }
        for out in outputs {
            if let SlotOutput::Classify(c) = out {
                let better = turn
                    .intent
                    .as_ref()
                    .is_none_or(|i| c.intent.confidence > i.confidence);
                if better {
                    if let Some(previous) = turn.intent.take() {
                        alternatives.push(previous);
                    }
                    turn.intent = Some(c.intent);
                    alternatives.extend(c.alternatives);
                } else {
                    alternatives.push(c.intent);
                }
                turn.entities.extend(c.entities);
            }
        }
        let intent = turn.intent.get_or_insert_with(|| wit::Intent {
            name: "unknown".into(),
            confidence: 0.0,
        });
        let intent = intent.clone();
        alternatives.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        // Several classifiers' entities, in text order as the contract promises.
        turn.entities.sort_by_key(|e| (e.start, e.end));
        alternatives.truncate(5);

        // escalate: any escalator can hand over; reasons add up.
        let mut escalation: Option<wit::Escalation> = None;
        for out in run.slot(self, Slot::Escalate, &context, &turn) {
            if let SlotOutput::Escalate(e) = out {
                let merged = escalation.get_or_insert(wit::Escalation {
                    escalate: false,
                    reasons: vec![],
                });
                merged.escalate |= e.escalate;
                merged.reasons.extend(e.reasons);
            }
        }
        let escalation = escalation.unwrap_or_else(|| {
            run.default(Slot::Escalate, "confidence threshold and critical findings");
            default_escalation(&turn)
        });
        turn.escalation = Some(escalation.clone());

        // route: the first router with an opinion decides.
        let route = run.route(self, &context, &turn, storage, inbound);
        let route = route.unwrap_or_else(|| {
            run.default(Slot::Route, "bot unless escalated, else the general queue");
            default_route(&escalation)
        });
        turn.route = Some(route.clone());

        // assist: suggestions add up; the first reply wins. Each suggestion
        // remembers the version that made it (the assist calls that
        // answered, in order, are the trace's "ok" assist entries).
        let mut reply = None;
        let traced = run.trace.len();
        let outputs = run.slot(self, Slot::Assist, &context, &turn);
        if outputs.is_empty() {
            run.default(Slot::Assist, "no reply, no suggestions");
        }
        let makers: Vec<(String, Option<u64>)> = run.trace[traced..]
            .iter()
            .filter(|t| t.slot == Slot::Assist && t.outcome == "ok")
            .map(|t| (format!("{}@{}", t.plugin, t.version), t.version_id))
            .collect();
        let mut made_by = Vec::new();
        for (out, maker) in outputs.into_iter().zip(makers) {
            if let SlotOutput::Assist(a) = out {
                reply = reply.or(a.reply);
                made_by.extend(std::iter::repeat_n(maker, a.suggestions.len()));
                turn.suggestions.extend(a.suggestions);
            }
        }

        // ticket: the first draft wins.
        let mut ticket_draft = None;
        let outputs = run.slot_until(self, Slot::Ticket, &context, &turn, |out| {
            matches!(out, SlotOutput::Ticket(Some(_)))
        });
        if outputs.is_empty() {
            run.default(Slot::Ticket, "no ticket");
        }
        for out in outputs {
            if let SlotOutput::Ticket(Some(t)) = out {
                ticket_draft = Some(t);
            }
        }

        let mut decision = model::Decision {
            intent: intent_result(&intent),
            alternatives: alternatives.iter().map(intent_result).collect(),
            entities: turn
                .entities
                .iter()
                .map(|e| model::EntityResult {
                    kind: e.kind.clone(),
                    value: e.value.clone(),
                    start: e.start,
                    end: e.end,
                    offsets: model::TextOffsets::of(&inbound.text, e.start, e.end),
                })
                .collect(),
            findings: turn
                .findings
                .iter()
                .map(|f| finding_result(&inbound.text, f))
                .collect(),
            masked_text,
            escalation: model::EscalationResult {
                escalate: escalation.escalate,
                reasons: escalation
                    .reasons
                    .iter()
                    .map(|r| model::EscalationReason {
                        code: r.code.clone(),
                        detail: r.detail.clone(),
                    })
                    .collect(),
            },
            route: route_result(&route),
            reply,
            suggestions: turn
                .suggestions
                .iter()
                .zip(made_by)
                .map(|(s, (plugin, version_id))| model::SuggestionResult {
                    plugin: Some(plugin),
                    version_id,
                    ..suggestion_result(s)
                })
                .collect(),
            ticket: None,
            trace: run.trace,
            shadow: None,
        };
        crate::pii::mask_plugin_output(&inbound.text, &mut decision, ticket_draft.as_mut());
        (
            PipelineResult {
                decision,
                ticket_draft,
            },
            run.stats,
        )
    }
}

impl Pipeline {
    /// What the plugins deciding `inbound` are called with.
    fn context(
        &self,
        storage: &Storage,
        knowledge: Arc<KnowledgeIndex>,
        inbound: &Inbound,
        customer: &wit::Customer,
    ) -> CallContext {
        CallContext {
            tenant: inbound.tenant.clone(),
            storage: storage.clone(),
            conversation_id: inbound.conversation_id.clone(),
            message_id: inbound.message_id.clone(),
            customer: customer.clone(),
            assigned_agent: inbound.assigned_agent.clone(),
            state: Arc::new(inbound.state.clone()),
            knowledge,
            packs: self.packs.clone(),
            pack_calls: Default::default(),
            reads: Default::default(),
        }
    }

    /// Run the route slot again for a message already decided, with what its
    /// decision found (findings, intent, entities, escalation) and the
    /// conversation and roster as they are now: how the router's own rules
    /// place a waiting conversation once an agent has room. Lanes pick their
    /// version as for a message of this conversation; there is no shadow pass.
    pub fn route_again(
        &self,
        storage: &Storage,
        knowledge: Arc<KnowledgeIndex>,
        inbound: &Inbound,
        decided: &model::Decision,
    ) -> (model::RouteResult, CallStats) {
        let customer = wit_customer(&inbound.customer);
        let context = self.context(storage, knowledge, inbound, &customer);
        let escalation = wit::Escalation {
            escalate: decided.escalation.escalate,
            reasons: decided
                .escalation
                .reasons
                .iter()
                .map(|r| wit::EscalationReason {
                    code: r.code.clone(),
                    detail: r.detail.clone(),
                })
                .collect(),
        };
        let turn = wit::Turn {
            message: wit::Message {
                id: inbound.message_id.clone(),
                conversation_id: inbound.conversation_id.clone(),
                text: inbound.text.clone(),
                channel: inbound.channel.clone(),
                received_at_ms: inbound.received_at_ms,
            },
            customer,
            findings: decided
                .findings
                .iter()
                .map(|f| wit::Finding {
                    kind: f.kind.clone(),
                    code: f.code.clone(),
                    severity: match f.severity.as_str() {
                        "critical" => wit::Severity::Critical,
                        "warning" => wit::Severity::Warning,
                        _ => wit::Severity::Info,
                    },
                    detail: f.detail.clone(),
                    start: f.start,
                    end: f.end,
                })
                .collect(),
            intent: Some(wit::Intent {
                name: decided.intent.name.clone(),
                confidence: decided.intent.confidence,
            }),
            entities: decided
                .entities
                .iter()
                .map(|e| wit::Entity {
                    kind: e.kind.clone(),
                    value: e.value.clone(),
                    start: e.start,
                    end: e.end,
                })
                .collect(),
            escalation: Some(escalation.clone()),
            route: None,
            suggestions: vec![],
        };
        let mut run = Run {
            trace: Vec::new(),
            stats: Vec::new(),
            pass: Pass::Main,
            conversation_id: &inbound.conversation_id,
        };
        let route = run.route(self, &context, &turn, storage, inbound);
        let route = route.unwrap_or_else(|| default_route(&escalation));
        (route_result(&route), run.stats)
    }
}

struct Run<'a> {
    trace: Vec<TraceEntry>,
    stats: CallStats,
    pass: Pass,
    conversation_id: &'a str,
}

impl Run<'_> {
    /// The route slot: the first router whose route names what the tenant
    /// has decides; `None` when none did (the caller applies the default).
    fn route(
        &mut self,
        pipeline: &Pipeline,
        context: &CallContext,
        turn: &wit::Turn,
        storage: &Storage,
        inbound: &Inbound,
    ) -> Option<wit::Route> {
        let mut route = None;
        for out in self.slot_until(
            pipeline,
            Slot::Route,
            context,
            turn,
            |out| matches!(out, SlotOutput::Route(Some(r)) if route_is_known(storage, inbound, r)),
        ) {
            if let SlotOutput::Route(Some(r)) = out {
                route = Some(r);
            }
        }
        route
    }

    /// The version of `lane` that runs for this message in this pass.
    fn pick<'l>(&self, lane: &'l Lane) -> Option<(&'l Arc<BoundPlugin>, Role)> {
        if self.pass == Pass::Shadow
            && let Some(shadow) = &lane.shadow
        {
            return Some((shadow, Role::Shadow));
        }
        if let Some((canary, percent)) = &lane.canary
            && canary_bucket(self.conversation_id, canary.version_id) < *percent
        {
            return Some((canary, Role::Canary));
        }
        lane.active.as_ref().map(|a| (a, Role::Active))
    }

    /// Call every plugin of `slot`; return the outputs of those that succeeded.
    /// An empty result means the caller applies the slot's default (and records it).
    fn slot(
        &mut self,
        pipeline: &Pipeline,
        slot: Slot,
        context: &CallContext,
        turn: &wit::Turn,
    ) -> Vec<SlotOutput> {
        self.slot_until(pipeline, slot, context, turn, |_| false)
    }

    /// Like [`Run::slot`], but stop after the first output `done` accepts.
    /// An output `done` rejects (for a route: an agent the tenant does not have)
    /// is recorded as invalid and skipped.
    fn slot_until(
        &mut self,
        pipeline: &Pipeline,
        slot: Slot,
        context: &CallContext,
        turn: &wit::Turn,
        done: impl Fn(&SlotOutput) -> bool,
    ) -> Vec<SlotOutput> {
        let mut outputs = Vec::new();
        let Some(lanes) = pipeline.slots.get(&slot) else {
            return outputs;
        };
        for lane in lanes {
            let Some((plugin, role)) = self.pick(lane) else {
                continue;
            };
            let mut result = plugin.call(context.clone(), turn);
            let accepted = result.output.as_ref().map(&done);
            // Route is the only slot whose `done` can reject a well-formed answer.
            if slot == Slot::Route
                && accepted == Some(false)
                && matches!(result.output, Some(SlotOutput::Route(Some(_))))
            {
                result.outcome = Outcome::InvalidOutput;
                result.detail =
                    Some("route names a queue or agent the tenant does not have".into());
                result.output = None;
            }
            self.record(slot, plugin, role, &result);
            // The packs it asked, each as the call it was.
            let asked: Vec<PackCall> = std::mem::take(&mut *context.pack_calls.lock().unwrap());
            for call in asked {
                self.record(Slot::Pack, &call.pack, call.role, &call.result);
            }
            if let Some(out) = result.output {
                let stop = done(&out);
                outputs.push(out);
                if stop {
                    break;
                }
            }
        }
        outputs
    }

    fn record(&mut self, slot: Slot, plugin: &BoundPlugin, role: Role, result: &CallResult) {
        self.trace.push(TraceEntry {
            slot,
            plugin: plugin.meta.name.clone(),
            version: plugin.meta.version.clone(),
            sha256: Some(plugin.meta.sha256.clone()),
            version_id: Some(plugin.version_id),
            config_sha256: Some(plugin.config_sha256.clone()),
            role: Some(role.as_str().into()),
            outcome: result.outcome.as_str().into(),
            micros: result.micros,
            fuel: result.fuel,
            detail: result
                .detail
                .as_deref()
                .map(|d| crate::pii::mask(d).into_owned()),
        });
        self.stats.push(CallStat {
            slot,
            plugin: format!("{}@{}", plugin.meta.name, plugin.meta.version),
            version_id: plugin.version_id,
            role,
            outcome: result.outcome,
            micros: result.micros,
        });
    }

    fn default(&mut self, slot: Slot, what: &str) {
        self.trace.push(TraceEntry {
            slot,
            plugin: "default".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            sha256: None,
            version_id: None,
            config_sha256: None,
            role: None,
            outcome: "default".into(),
            micros: 0,
            fuel: 0,
            detail: Some(what.into()),
        });
    }
}

/// Without a working escalator: hand over when the intent is uncertain or an
/// inspector raised something critical.
fn default_escalation(turn: &wit::Turn) -> wit::Escalation {
    let mut reasons = Vec::new();
    if let Some(i) = &turn.intent
        && i.confidence < DEFAULT_ESCALATION_THRESHOLD
    {
        reasons.push(wit::EscalationReason {
            code: "low-confidence".into(),
            detail: format!(
                "intent {} at {:.2} < {:.2} (default rule)",
                i.name, i.confidence, DEFAULT_ESCALATION_THRESHOLD
            ),
        });
    }
    for f in turn
        .findings
        .iter()
        .filter(|f| f.severity == wit::Severity::Critical)
    {
        reasons.push(wit::EscalationReason {
            code: "sensitive-word".into(),
            detail: format!("{} ({}) (default rule)", f.code, f.detail),
        });
    }
    wit::Escalation {
        escalate: !reasons.is_empty(),
        reasons,
    }
}

/// Without a working router: the bot answers unless the message escalated,
/// in which case it waits in the general queue.
fn default_route(escalation: &wit::Escalation) -> wit::Route {
    if escalation.escalate {
        wit::Route {
            target: wit::RouteTarget::Queue,
            queue: Some(DEFAULT_QUEUE.into()),
            agent: None,
            priority: 5,
            reason: "default route: escalated".into(),
        }
    } else {
        wit::Route {
            target: wit::RouteTarget::Bot,
            queue: None,
            agent: None,
            priority: 0,
            reason: "default route: not escalated".into(),
        }
    }
}

/// A route to an agent must name one of the tenant's agents.
/// A route names a well-formed queue the tenant declared (when it declares
/// any) and an agent the tenant has.
fn route_is_known(storage: &Storage, inbound: &Inbound, route: &wit::Route) -> bool {
    if let Some(queue) = &route.queue {
        let declared = &inbound.declared_queues;
        if crate::app::check_id("queue", queue).is_err()
            || (!declared.is_empty() && !declared.contains(queue))
        {
            return false;
        }
    }
    match (&route.target, &route.agent) {
        (wit::RouteTarget::Agent, Some(agent)) => storage
            .agent(&inbound.tenant, agent)
            .ok()
            .flatten()
            .is_some(),
        _ => true,
    }
}

pub fn wit_customer(c: &model::Customer) -> wit::Customer {
    wit::Customer {
        id: c.id.clone(),
        tier: match c.tier {
            model::Tier::Standard => wit::Tier::Standard,
            model::Tier::Premium => wit::Tier::Premium,
            model::Tier::Vip => wit::Tier::Vip,
        },
        tags: c.tags.clone(),
    }
}

fn intent_result(i: &wit::Intent) -> model::IntentResult {
    model::IntentResult {
        name: i.name.clone(),
        confidence: i.confidence,
    }
}

fn finding_result(text: &str, f: &wit::Finding) -> model::FindingResult {
    model::FindingResult {
        kind: f.kind.clone(),
        code: f.code.clone(),
        severity: match f.severity {
            wit::Severity::Info => "info",
            wit::Severity::Warning => "warning",
            wit::Severity::Critical => "critical",
        }
        .into(),
        detail: f.detail.clone(),
        start: f.start,
        end: f.end,
        offsets: model::TextOffsets::of(text, f.start, f.end),
    }
}

fn route_result(r: &wit::Route) -> model::RouteResult {
    model::RouteResult {
        to: match r.target {
            wit::RouteTarget::Bot => model::RouteTarget::Bot,
            wit::RouteTarget::Queue => model::RouteTarget::Queue,
            wit::RouteTarget::Agent => model::RouteTarget::Agent,
        },
        queue: r.queue.clone(),
        agent: r.agent.clone(),
        priority: r.priority,
        reason: r.reason.clone(),
    }
}

fn suggestion_result(s: &wit::Suggestion) -> model::SuggestionResult {
    model::SuggestionResult {
        id: String::new(),
        plugin: None,
        version_id: None,
        kind: match s.kind {
            wit::SuggestionKind::Reply => "reply",
            wit::SuggestionKind::Article => "article",
            wit::SuggestionKind::Compliance => "compliance",
            wit::SuggestionKind::Warning => "warning",
        }
        .into(),
        title: s.title.clone(),
        text: s.text.clone(),
        score: s.score,
        article_id: s.article_id.clone(),
    }
}
