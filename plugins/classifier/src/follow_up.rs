//! Follow-ups: a message read with the conversation it continues.
//!
//! A message alone is often no question at all: "订单号是2024113099123",
//! "yes", "how long?", "can you give me back the second one?". Decided as if
//! it opened a new conversation, an order number came out as `logistics`
//! and moved a return to another agent with a second ticket (issue 16). So,
//! when the conversation has a topic (the intent of its latest message that
//! was about something, skipping `not_topics` such as thanks):
//!
//! - a message that only adds facts (entities, fillers such as "订单号是",
//!   "it's", "yes", "ok") keeps the topic, at the topic's confidence;
//! - small talk read confidently ("thanks") is small talk, and a long
//!   message read confidently on its own (at least `confident`) is a change
//!   of topic: their own intent (a "vague" reading, `unknown` or the
//!   out-of-scope intent, never counts as read confidently);
//! - otherwise, when it is short or points back ("the second one", "那个",
//!   "要多久能处理好"), it is read together with the topic's message; if that
//!   reading names the topic at least as surely as the message alone named
//!   its own intent, the topic is kept, at that reading's confidence. (A
//!   short change of topic the conversation outweighs is read as the topic:
//!   the agent who holds the chat sees the message's own reading first
//!   among the alternatives.)
//!
//! The classifier's own reading stays in the alternatives, so the agent sees
//! what the message said on its own.

use serde::Deserialize;
use switchyard_sdk::prelude::*;

/// `"follow_up"` in the classifier config.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FollowUp {
    /// Off: every message is decided alone.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Intents that never become a conversation's topic (small talk, asking
    /// for a person): a fact after "thanks" still belongs to the return.
    #[serde(default = "default_not_topics")]
    pub not_topics: Vec<String>,
    /// A message understood alone at least this well changes the topic.
    #[serde(default = "default_confident")]
    pub confident: f32,
    /// Readings that say what a message is not, rather than what it is
    /// ("unknown", the out-of-scope intent): however confident, a short or
    /// pointing-back message with such a reading is read with its topic.
    #[serde(default = "default_vague")]
    pub vague: Vec<String>,
}

fn default_vague() -> Vec<String> {
    ["unknown", "out_of_scope"].map(String::from).to_vec()
}

fn yes() -> bool {
    true
}

fn default_not_topics() -> Vec<String> {
    [
        "greeting",
        "thanks",
        "human_agent",
        "unknown",
        "out_of_scope",
    ]
    .map(String::from)
    .to_vec()
}

fn default_confident() -> f32 {
    0.6
}

impl Default for FollowUp {
    fn default() -> Self {
        FollowUp {
            enabled: true,
            not_topics: default_not_topics(),
            confident: default_confident(),
            vague: default_vague(),
        }
    }
}

/// Messages looked back through for the message that set the topic.
const LOOK_BACK: u32 = 20;

/// A message this short (words, or CJK characters / 2) may lean on the
/// conversation for its meaning.
const SHORT_WORDS: usize = 8;

/// The conversation's topic, as the host keeps it (`conversation.state`:
/// the intent of its latest message that was about something). The
/// message that set it is read from the history only when a message has to
/// be read with it: most messages need no history read at all.
fn topic(options: &FollowUp) -> Option<Intent> {
    host::conversation_state()
        .intent
        .filter(|i| !options.not_topics.contains(&i.name))
}

/// The text of the latest earlier message about `topic`.
fn topic_text(topic: &Intent) -> Option<String> {
    host::history(LOOK_BACK)
        .into_iter()
        .rev()
        .find(|m| m.intent.as_ref().is_some_and(|i| i.name == topic.name))
        .map(|m| m.text)
}

/// Decide `own` (the message's reading alone) against the conversation.
/// `read` classifies another text the way `own` was.
pub fn with_context(
    options: &FollowUp,
    text: &str,
    entities: &[Entity],
    own: (Intent, Vec<Intent>),
    read: impl Fn(&str) -> (Intent, Vec<Intent>),
) -> (Intent, Vec<Intent>) {
    if !options.enabled {
        return own;
    }
    let Some(topic) = topic(options) else {
        return own;
    };
    if only_adds_facts(text, entities) {
        return keep(topic, own);
    }
    if own.0.name == topic.name {
        // The conversation says the same: as sure as either reading.
        let (mut intent, alternatives) = own;
        intent.confidence = intent.confidence.max(topic.confidence);
        return (intent, alternatives);
    }
    let vague = options.vague.contains(&own.0.name);
    let short = is_short(text);
    let confident = !vague && own.0.confidence >= options.confident;
    // Small talk said clearly is small talk ("好的，谢谢"); a long message
    // read clearly is a change of topic. A short one read clearly may still
    // lean on the conversation: "要多久能处理好" after a broken cup is about
    // the cup, though alone it reads as delivery time.
    let small_talk = options.not_topics.contains(&own.0.name) && !vague;
    if confident && (small_talk || !short) {
        return own;
    }
    if !(short || points_back(text)) {
        return own;
    }
    let Some(earlier) = topic_text(&topic) else {
        return own;
    };
    let (together, _) = read(&format!("{earlier}\n{text}"));
    if together.name == topic.name && together.confidence >= own.0.confidence {
        return keep(
            Intent {
                name: topic.name,
                confidence: together.confidence,
            },
            own,
        );
    }
    own
}

/// The topic as the intent; the message's own reading first among the
/// alternatives (unless it is the topic: then as sure as either).
fn keep(
    mut topic: Intent,
    (own, mut alternatives): (Intent, Vec<Intent>),
) -> (Intent, Vec<Intent>) {
    alternatives.retain(|a| a.name != topic.name);
    if own.name == topic.name {
        topic.confidence = topic.confidence.max(own.confidence);
    } else if own.name != "unknown" {
        alternatives.insert(0, own);
    }
    alternatives.truncate(5);
    (topic, alternatives)
}

/// Words that carry no request: what customers put around a fact they give
/// ("订单号是 …", "here it is: …", "yes", "ok").
const FILLER_WORDS: [&str; 44] = [
    "order", "orders", "number", "no", "num", "id", "is", "it", "it's", "its", "my", "the", "here",
    "this", "that", "ok", "okay", "yes", "yeah", "yep", "sure", "right", "correct", "a", "an",
    "of", "for", "and", "please", "pls", "plz", "tracking", "date", "on", "was", "placed", "i",
    "me", "thats", "that's", "one", "phone", "email", "mine",
];

/// Chinese fillers, removed longest first.
const FILLER_ZH: [&str; 38] = [
    "快递单号",
    "订单编号",
    "订单号",
    "运单号",
    "手机号",
    "电话",
    "单号",
    "订单",
    "编号",
    "号码",
    "就是",
    "这个",
    "那个",
    "我的",
    "是的",
    "好的",
    "对的",
    "给你",
    "发你",
    "在这",
    "这是",
    "如下",
    "下单",
    "日期",
    "是",
    "的",
    "对",
    "嗯",
    "哦",
    "噢",
    "啊",
    "呢",
    "吧",
    "了",
    "好",
    "喏",
    "号",
    "我",
];

/// Whether the message, without its entities and fillers, says nothing:
/// then it only adds facts to what the conversation is about.
pub fn only_adds_facts(text: &str, entities: &[Entity]) -> bool {
    let mut rest = String::with_capacity(text.len());
    let mut at = 0;
    let mut spans: Vec<(usize, usize)> = entities
        .iter()
        .map(|e| (e.start as usize, e.end as usize))
        .filter(|(s, e)| s < e && *e <= text.len())
        .collect();
    spans.sort();
    for (start, end) in spans {
        if start < at || !text.is_char_boundary(start) || !text.is_char_boundary(end) {
            continue;
        }
        rest.push_str(&text[at..start]);
        rest.push(' ');
        at = end;
    }
    rest.push_str(&text[at..]);
    let mut rest = rest.to_lowercase();
    for filler in FILLER_ZH {
        rest = rest.replace(filler, " ");
    }
    let words = rest
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .filter(|w| !w.chars().all(|c| c.is_ascii_digit()))
        .filter(|w| !FILLER_WORDS.contains(w));
    words.count() == 0
}

fn is_short(text: &str) -> bool {
    let cjk = text.chars().filter(|c| text::is_cjk(*c)).count();
    let words = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !w.chars().any(text::is_cjk))
        .count();
    words + cjk / 2 <= SHORT_WORDS
}

/// Words that point back at something already said.
const POINTING_BACK: [&str; 22] = [
    "it",
    "that",
    "this one",
    "the second",
    "the first",
    "the other",
    "them",
    "those",
    "same",
    "again",
    "still",
    "这个",
    "那个",
    "那笔",
    "这笔",
    "第二",
    "第一",
    "刚才",
    "上面",
    "还是",
    "之前",
    "那件",
];

fn points_back(text: &str) -> bool {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .filter(|w| !w.is_empty())
        .collect();
    POINTING_BACK.iter().any(|cue| {
        if cue.is_ascii() {
            let cue: Vec<&str> = cue.split(' ').collect();
            words.windows(cue.len()).any(|w| w == cue.as_slice())
        } else {
            lower.contains(cue)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(text: &str, needle: &str) -> Entity {
        let start = text.find(needle).unwrap();
        Entity {
            kind: "order-id".into(),
            value: needle.into(),
            start: start as u32,
            end: (start + needle.len()) as u32,
        }
    }

    #[test]
    fn a_message_that_only_gives_a_fact_is_recognised() {
        for (text, number) in [
            ("订单号是2024113099123", "2024113099123"),
            ("2024113099123", "2024113099123"),
            ("my order number is 2024113099123", "2024113099123"),
            ("here it is: #2024113099123", "2024113099123"),
            ("单号 2024113099123 哦", "2024113099123"),
        ] {
            assert!(
                only_adds_facts(text, &[entity(text, number)]),
                "{text} only adds a fact"
            );
        }
        for text in ["yes", "好的", "ok", "是的"] {
            assert!(only_adds_facts(text, &[]), "{text}");
        }
        for (text, number) in [
            ("订单2024113099123还没发货", "2024113099123"),
            ("cancel order 2024113099123", "2024113099123"),
        ] {
            assert!(
                !only_adds_facts(text, &[entity(text, number)]),
                "{text} asks something"
            );
        }
    }

    #[test]
    fn pointing_back_and_short_messages() {
        assert!(points_back("Can you give me back the second one?"));
        assert!(points_back("那笔钱什么时候退"));
        assert!(!points_back("where is my parcel"));
        assert!(is_short("how long"));
        assert!(is_short("要多久"));
        assert!(!is_short(
            "I ordered a jacket two weeks ago and it still has not shipped, what is going on"
        ));
    }
}
