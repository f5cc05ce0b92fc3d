//! Assist-slot plugin: the reply script for the intent (in the customer's
//! language, with the order number filled in), compliance scripts for flagged
//! conversations, and the best knowledge-base articles with their reply
//! templates. The bot answers with the intent's script, else the best
//! article's template, else its snippet.
//!
//! Config (JSON): `{"scripts": {intent: {"zh", "en"}}, "compliance": {code: {"zh", "en"}},
//! "handoff": {"zh", "en"}, "max_articles": 3, "min_article_score": 0.2, "pack": "banking"}`.
//! With `"pack"`, an intent playbook pack supplies the script of an intent
//! that `scripts` does not have.

use std::cell::RefCell;
use std::collections::HashMap;

use serde::Deserialize;
use switchyard_sdk::Lang;
use switchyard_sdk::article_answers::ArticleAnswers;
use switchyard_sdk::playbook;
use switchyard_sdk::prelude::*;

/// A script in Chinese and English.
type Bilingual = playbook::Script;

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    scripts: HashMap<String, Bilingual>,
    #[serde(default)]
    compliance: HashMap<String, Bilingual>,
    #[serde(default)]
    handoff: Option<Bilingual>,
    #[serde(default = "default_max_articles")]
    max_articles: u32,
    /// Articles scoring below this are not worth the agent's attention.
    #[serde(default = "default_min_article_score")]
    min_article_score: f32,
    /// An intent playbook pack asked for the scripts `scripts` lacks.
    #[serde(default)]
    pack: Option<String>,
    /// The bot answers from knowledge (`switchyard_sdk::article_answers`).
    #[serde(default)]
    article_answers: Option<ArticleAnswers>,
}

fn default_max_articles() -> u32 {
    3
}

fn default_min_article_score() -> f32 {
    0.2
}

thread_local! {
    static CONFIG: RefCell<Option<Config>> = const { RefCell::new(None) };
}

pub struct Plugin;

impl switchyard_sdk::assist::Guest for Plugin {
    fn init(config: String) -> Result<(), String> {
        let config: Config =
            serde_json::from_str(&config).map_err(|e| format!("assistant config: {e}"))?;
        if let Some(a) = &config.article_answers {
            a.check("assistant")?;
        }
        CONFIG.with(|c| *c.borrow_mut() = Some(config));
        Ok(())
    }

    fn assist(turn: Turn) -> Assistance {
        CONFIG.with(|c| match &*c.borrow() {
            Some(config) => assist(config, &turn),
            None => Assistance {
                reply: None,
                suggestions: vec![],
            },
        })
    }
}

fn assist(config: &Config, turn: &Turn) -> Assistance {
    let lang = Lang::detect(&turn.message.text);
    let order = turn
        .entities
        .iter()
        .find(|e| e.kind == "order-id")
        .map(|e| e.value.clone());
    let fill = |script: &str| {
        let order = match (&order, lang) {
            (Some(id), Lang::Zh) => format!("订单 {id}"),
            (Some(id), Lang::En) => format!("order {id}"),
            (None, Lang::Zh) => "您的订单".to_string(),
            (None, Lang::En) => "your order".to_string(),
        };
        script.replace("{order_id}", &order)
    };
    let mut suggestions = Vec::new();

    // A compliance script is keyed by the finding's "kind/code"
    // ("drug-interaction/contraindication") or, for sensitive words, the code.
    let mut codes: Vec<String> = Vec::new();
    for f in &turn.findings {
        let code = if f.kind == "sensitive-word" {
            f.code.clone()
        } else {
            format!("{}/{}", f.kind, f.code)
        };
        if !codes.contains(&code) {
            codes.push(code);
        }
    }
    for code in codes {
        if let Some(script) = config.compliance.get(&code) {
            suggestions.push(Suggestion {
                kind: SuggestionKind::Compliance,
                title: format!("compliance: {code}"),
                text: fill(script.get(lang)),
                score: 1.0,
                article_id: None,
            });
        }
    }
    let intent = turn.intent.as_ref();
    let script = intent.and_then(|i| match config.scripts.get(&i.name) {
        Some(script) => Some(script.get(lang).to_string()),
        None => pack_script(config, &i.name, lang),
    });
    if let (Some(intent), Some(script)) = (intent, script) {
        suggestions.push(Suggestion {
            kind: SuggestionKind::Reply,
            title: format!("reply: {}", intent.name),
            text: fill(&script),
            score: intent.confidence.clamp(0.0, 1.0),
            article_id: None,
        });
    }
    if config.max_articles > 0 {
        // The intent, when the classifier is fairly sure, says what the articles
        // should be about; articles are indexed by their problem type too.
        let query = match intent.filter(|i| i.confidence >= 0.5) {
            Some(i) => format!("{} {}", turn.message.text, i.name.replace('_', " ")),
            None => turn.message.text.clone(),
        };
        for hit in host::search_articles(&query, config.max_articles)
            .into_iter()
            .filter(|h| h.score >= config.min_article_score)
        {
            if let Some(template) = template_in(&hit, lang) {
                suggestions.push(Suggestion {
                    kind: SuggestionKind::Reply,
                    title: format!("reply: {}", hit.title),
                    text: fill(&template.text),
                    score: hit.score.clamp(0.0, 1.0),
                    article_id: Some(hit.id.clone()),
                });
            }
            suggestions.push(Suggestion {
                kind: SuggestionKind::Article,
                title: hit.title,
                text: hit.snippet,
                score: hit.score.clamp(0.0, 1.0),
                article_id: Some(hit.id),
            });
        }
    }

    let to_bot = turn
        .route
        .as_ref()
        .is_some_and(|r| r.target == RouteTarget::Bot);
    let reply = if to_bot {
        let scripted = intent.filter(|i| i.name != "unknown").is_some()
            && suggestions
                .iter()
                .any(|s| s.kind == SuggestionKind::Reply && s.article_id.is_none());
        match article_answer(config, turn, scripted, lang) {
            Some(answer) => {
                let text = fill(&answer.text);
                suggestions.insert(
                    0,
                    Suggestion {
                        text: text.clone(),
                        ..answer
                    },
                );
                Some(text)
            }
            None => suggestions
                .iter()
                .find(|s| s.kind == SuggestionKind::Reply)
                .or_else(|| {
                    suggestions
                        .iter()
                        .find(|s| s.kind == SuggestionKind::Article)
                })
                .map(|s| s.text.clone()),
        }
    } else if matches!(host::conversation_state().holder, Holder::Bot) {
        // A human takes over: tell the customer so; the agent sees the scripts.
        config.handoff.as_ref().map(|h| h.get(lang).to_string())
    } else {
        // People hold the conversation already: they answer, not the bot.
        None
    };
    Assistance { reply, suggestions }
}

/// The reply from the best article for the message, when knowledge should
/// answer: the article scores and covers the message enough
/// (`article_answers`), has a template, and either no script fits
/// (`scripted` false) or it is not the intent's own article (the one the
/// intent's name finds first, whose answer the script gives).
fn article_answer(config: &Config, turn: &Turn, scripted: bool, lang: Lang) -> Option<Suggestion> {
    let settings = config.article_answers.as_ref()?;
    // Off-topic for sure: its script answers. Off-topic, not sure: no
    // script fits, an article may.
    let out_of_scope = turn
        .intent
        .as_ref()
        .filter(|i| settings.is_out_of_scope(&i.name));
    if out_of_scope.is_some_and(|i| settings.surely_off_topic(&i.name, i.confidence)) {
        return None;
    }
    let scripted = scripted && out_of_scope.is_none();
    let text = &turn.message.text;
    let best = host::search_articles(text, 1)
        .into_iter()
        .next()
        .filter(|h| settings.answers(h.score, host::article_coverage(text, &h.id)))?;
    if scripted {
        let intent = turn.intent.as_ref()?;
        let own = host::search_articles(&intent.name.replace('_', " "), 1);
        if own.first().is_none_or(|o| o.id == best.id) {
            return None;
        }
    }
    let template = template_in(&best, lang)?;
    Some(Suggestion {
        kind: SuggestionKind::Reply,
        title: format!("reply: {}", best.title),
        text: template.text.clone(),
        score: best.score.clamp(0.0, 1.0),
        article_id: Some(best.id.clone()),
    })
}

/// The article's own reply, in the customer's language when it has one.
fn template_in(hit: &ArticleHit, lang: Lang) -> Option<&ReplyTemplate> {
    hit.templates
        .iter()
        .find(|t| t.lang == lang.code())
        .or(hit.templates.first())
}

/// The configured pack's script for `intent`; a pack that is missing or
/// fails costs the script (logged), never the assistance.
fn pack_script(config: &Config, intent: &str, lang: Lang) -> Option<String> {
    let pack = config.pack.as_deref().filter(|_| intent != "unknown")?;
    playbook::ask(pack, intent).map(|e| e.script.get(lang).to_string())
}

#[cfg(target_arch = "wasm32")]
switchyard_sdk::assist::export!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::assist::Guest;
    use switchyard_sdk::testing::{self, MockArticle, MockHost};

    fn setup() {
        let mut host = MockHost::default();
        host.articles.push(MockArticle {
            id: "kb-refund".into(),
            title: "退款多久到账 / How long does a refund take".into(),
            body: "退款 1-7 个工作日原路退回。Refunds arrive in 1-7 business days.".into(),
            keywords: vec!["退款".into(), "refund".into()],
            templates: vec![],
        });
        testing::install(host);
        Plugin::init(
            r#"{"scripts": {"refund": {"zh": "{order_id}的退款已受理。", "en": "The refund for {order_id} is being processed."}},
                "compliance": {"regulator": {"zh": "非常抱歉，我们会在24小时内联系您。", "en": "We are sorry; we will contact you within 24 hours."}},
                "handoff": {"zh": "正在为您转接人工客服。", "en": "Connecting you to a colleague."}}"#
                .into(),
        )
        .unwrap();
    }

    fn turn(text: &str, target: RouteTarget) -> Turn {
        let mut t = testing::turn(text);
        t.intent = Some(Intent {
            name: "refund".into(),
            confidence: 0.93,
        });
        t.route = Some(Route {
            target,
            queue: None,
            agent: None,
            priority: 0,
            reason: String::new(),
        });
        t
    }

    #[test]
    fn an_articles_reply_template_answers_when_no_intent_script_does() {
        let mut host = MockHost::default();
        host.articles.push(MockArticle {
            id: "kb-address".into(),
            title: "修改收货地址 / Change the delivery address".into(),
            body: "Before shipping, edit the address on the order page.".into(),
            keywords: vec!["address".into(), "地址".into()],
            templates: vec![
                ("zh".into(), "{order_id}发货前可在订单页修改地址。".into()),
                (
                    "en".into(),
                    "You can change the address of {order_id} before it ships.".into(),
                ),
            ],
        });
        testing::install(host);
        Plugin::init(r#"{"scripts": {}}"#.into()).unwrap();
        let mut t = turn("can I change my delivery address?", RouteTarget::Bot);
        t.intent = None;
        let a = Plugin::assist(t);
        assert_eq!(
            a.reply.as_deref(),
            Some("You can change the address of your order before it ships.")
        );
        let reply = a
            .suggestions
            .iter()
            .find(|s| s.kind == SuggestionKind::Reply)
            .unwrap();
        assert_eq!(reply.article_id.as_deref(), Some("kb-address"));
        let mut t = turn("我想改一下地址", RouteTarget::Bot);
        t.intent = None;
        assert_eq!(
            Plugin::assist(t).reply.as_deref(),
            Some("您的订单发货前可在订单页修改地址。")
        );
    }

    fn playbook_pack(query: &str) -> Result<String, String> {
        let query: serde_json::Value = serde_json::from_str(query).map_err(|e| e.to_string())?;
        let intent = query["intent"].as_str().ok_or("no intent")?;
        let playbook = (intent == "card_arrival").then(|| {
            serde_json::json!({"queue": "cards", "bot": true,
                "script": {"en": "Cards arrive by post; track yours in the app.", "zh": "卡片通过邮寄送达，可在应用中查看进度。"}})
        });
        Ok(serde_json::json!({"intent": intent, "playbook": playbook}).to_string())
    }

    #[test]
    fn a_playbook_pack_supplies_the_scripts_the_config_lacks() {
        let mut host = MockHost::default();
        host.packs = vec![("banking".into(), playbook_pack)];
        testing::install(host);
        Plugin::init(
            r#"{"pack": "banking", "max_articles": 0,
                "scripts": {"refund": {"zh": "退款已受理。", "en": "Your refund is being processed."}}}"#
                .into(),
        )
        .unwrap();
        let mut t = turn("where is my new card?", RouteTarget::Bot);
        t.intent = Some(Intent {
            name: "card_arrival".into(),
            confidence: 0.9,
        });
        assert_eq!(
            Plugin::assist(t.clone()).reply.as_deref(),
            Some("Cards arrive by post; track yours in the app.")
        );
        t.message.text = "我的新卡到哪了？".into();
        assert_eq!(
            Plugin::assist(t.clone()).reply.as_deref(),
            Some("卡片通过邮寄送达，可在应用中查看进度。")
        );
        // The config's own script wins; an intent neither knows gets none.
        let a = Plugin::assist(turn("refund please", RouteTarget::Bot));
        assert_eq!(a.reply.as_deref(), Some("Your refund is being processed."));
        t.intent.as_mut().unwrap().name = "weather".into();
        assert_eq!(Plugin::assist(t.clone()).reply, None);
        // Without the pack installed: no script, logged, nothing else lost.
        testing::install(MockHost::default());
        t.intent.as_mut().unwrap().name = "card_arrival".into();
        let a = Plugin::assist(t);
        assert_eq!(a.reply, None);
        assert!(testing::with_mock(|m| m
            .logs
            .iter()
            .any(|l| l.contains("banking"))));
    }

    #[test]
    fn bot_reply_in_the_customers_language_with_the_order_number() {
        setup();
        let mut t = turn("我要退款，订单号 2024113012345", RouteTarget::Bot);
        t.entities.push(Entity {
            kind: "order-id".into(),
            value: "2024113012345".into(),
            start: 0,
            end: 0,
        });
        let a = Plugin::assist(t);
        assert_eq!(a.reply.as_deref(), Some("订单 2024113012345的退款已受理。"));
        assert!(
            a.suggestions
                .iter()
                .any(|s| s.article_id.as_deref() == Some("kb-refund"))
        );
        let a = Plugin::assist(turn("I want a refund", RouteTarget::Bot));
        assert_eq!(
            a.reply.as_deref(),
            Some("The refund for your order is being processed.")
        );
    }

    #[test]
    fn flagged_conversation_gets_the_compliance_script_first_and_a_handoff() {
        setup();
        let mut t = turn("我要去12315投诉", RouteTarget::Queue);
        t.findings.push(Finding {
            kind: "sensitive-word".into(),
            code: "regulator".into(),
            severity: Severity::Critical,
            detail: String::new(),
            start: 0,
            end: 0,
        });
        let a = Plugin::assist(t);
        assert_eq!(a.suggestions[0].kind, SuggestionKind::Compliance);
        assert_eq!(a.reply.as_deref(), Some("正在为您转接人工客服。"));
    }
}
