//! The banking knowledge pack: an intent model and the playbook for its
//! intents (the queue that serves each, whether the bot may answer it alone,
//! and the reply script in English and Chinese), built by `switchyard pack
//! build banking` from labelled examples (BANKING77) and a playbook file.
//!
//! The tenant's plugins ask it: the classifier (`{"pack": "banking"}`) for the
//! intent, the router and the assistant (`"pack": "banking"`) for the queue
//! and the script. Model, scripts and routes ship and roll out as one version.
//!
//! Queries (JSON), one of:
//! - `{"text": "I lost my card"}`: the intent, its confidence, whether it is
//!   understood (the model's threshold), up to five alternatives, and the
//!   intent's playbook entry; see [`switchyard_sdk::playbook::TextAnswer`].
//! - `{"intent": "lost_or_stolen_card"}`: the playbook entry alone (no model
//!   run); see [`switchyard_sdk::playbook::IntentAnswer`].

use std::cell::RefCell;

use serde::{Deserialize, Serialize};
use switchyard_sdk::intents::{IntentModel, Scratch};
use switchyard_sdk::playbook::{Alternative, IntentAnswer, Playbook, TextAnswer};

/// Alternatives a text answer lists after the best intent.
const ALTERNATIVES: usize = 5;

/// The pack's config: what `switchyard pack build banking` writes.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackData {
    /// The intent model, base64 (`IntentModel::to_base64`).
    pub model: String,
    pub playbook: Playbook,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Query {
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    intent: Option<String>,
    /// Earlier messages, as the inspector sends them: skipped unread (the
    /// intent is the message's own), accepted so any plugin's query shape works.
    #[serde(default, rename = "context")]
    _context: Option<serde::de::IgnoredAny>,
}

/// A loaded pack.
pub struct Banking {
    model: IntentModel,
    playbook: Playbook,
    scratch: Scratch,
}

impl Banking {
    pub fn load(config: &str) -> Result<Banking, String> {
        let data: PackData =
            serde_json::from_str(config).map_err(|e| format!("banking pack data: {e}"))?;
        let model = IntentModel::from_base64(&data.model)
            .map_err(|e| format!("banking pack model: {e}"))?;
        data.playbook.check()?;
        Ok(Banking {
            model,
            playbook: data.playbook,
            scratch: Scratch::default(),
        })
    }

    /// What the pack says about a customer's message.
    pub fn classify(&mut self, text: &str) -> TextAnswer {
        let ranking = self.model.rank(text, ALTERNATIVES + 1, &mut self.scratch);
        let mut ranked = ranking.intents.iter();
        let (intent, confidence) = ranked.next().copied().unwrap_or(("unknown", 0.0));
        let alternatives = ranked
            .map(|(intent, confidence)| Alternative {
                intent: intent.to_string(),
                confidence: *confidence,
            })
            .collect();
        let playbook = ranking
            .understood
            .then(|| self.playbook.intents.get(intent).cloned())
            .flatten();
        TextAnswer {
            intent: intent.to_string(),
            confidence,
            understood: ranking.understood,
            alternatives,
            playbook,
        }
    }

    /// The pack's `query` export: JSON in, JSON out.
    pub fn query_json(&mut self, query: &str) -> Result<String, String> {
        let query: Query = serde_json::from_str(query).map_err(|e| {
            format!("banking query: {e} (expected {{\"text\": ...}} or {{\"intent\": ...}})")
        })?;
        let answer = match (query.text, query.intent) {
            (Some(text), None) => serde_json::to_string(&self.classify(&text)),
            (None, Some(intent)) => serde_json::to_string(&IntentAnswer {
                playbook: self.playbook.intents.get(&intent).cloned(),
                intent,
            }),
            _ => return Err("banking query: give either \"text\" or \"intent\"".into()),
        };
        answer.map_err(|e| e.to_string())
    }
}

thread_local! {
    static LOADED: RefCell<Option<Banking>> = const { RefCell::new(None) };
}

pub struct Plugin;

impl switchyard_sdk::pack::Guest for Plugin {
    fn init(config: String) -> Result<(), String> {
        let banking = Banking::load(&config)?;
        LOADED.with(|l| *l.borrow_mut() = Some(banking));
        Ok(())
    }

    fn query(query: String) -> Result<String, String> {
        LOADED.with(|l| match l.borrow_mut().as_mut() {
            Some(banking) => banking.query_json(&query),
            None => Err("the banking pack has no data loaded".into()),
        })
    }
}

#[cfg(target_arch = "wasm32")]
switchyard_sdk::pack::export!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::intents::train::{Example, Options, train};
    use switchyard_sdk::playbook::{Entry, Script};

    fn data() -> String {
        let rows = [
            ("I lost my card", "lost_or_stolen_card"),
            ("my card was stolen yesterday", "lost_or_stolen_card"),
            (
                "someone took my wallet with the card",
                "lost_or_stolen_card",
            ),
            ("I can't find my card anywhere", "lost_or_stolen_card"),
            ("when will my new card arrive", "card_arrival"),
            ("my card has not come in the post", "card_arrival"),
            ("still waiting for the card to be delivered", "card_arrival"),
            ("is my card on its way", "card_arrival"),
            ("what is the exchange rate today", "exchange_rate"),
            ("how much is a dollar in euros", "exchange_rate"),
            ("which rate do you use to exchange money", "exchange_rate"),
            ("exchange rate for pounds", "exchange_rate"),
        ];
        let examples: Vec<Example> = rows
            .iter()
            .map(|(text, label)| Example {
                text: text.to_string(),
                label: label.to_string(),
            })
            .collect();
        let model = train(&examples, &Options::default()).unwrap();
        let entry = |queue: &str, bot: bool, en: &str| Entry {
            queue: queue.into(),
            bot,
            script: Script {
                en: en.into(),
                zh: format!("{en}（中文）"),
            },
        };
        let mut playbook = Playbook::default();
        playbook.intents.insert(
            "lost_or_stolen_card".into(),
            entry("card-emergency", false, "Freeze your card in the app now."),
        );
        playbook.intents.insert(
            "card_arrival".into(),
            entry("cards", true, "Track your card in the app."),
        );
        serde_json::to_string(&PackData {
            model: model.to_base64(),
            playbook,
        })
        .unwrap()
    }

    #[test]
    fn a_message_gets_its_intent_and_the_intents_entry() {
        let mut pack = Banking::load(&data()).unwrap();
        let answer = pack.classify("I have lost my card");
        assert_eq!(answer.intent, "lost_or_stolen_card");
        assert!(answer.understood);
        assert_eq!(answer.alternatives.len(), 2);
        assert_eq!(answer.playbook.unwrap().queue, "card-emergency");
        // In the model but not in the playbook: understood, no entry.
        let answer = pack.classify("what exchange rate do you use");
        assert_eq!(answer.intent, "exchange_rate");
        assert_eq!(answer.playbook, None);
    }

    #[test]
    fn queries_by_intent_and_bad_queries() {
        let mut pack = Banking::load(&data()).unwrap();
        let answer: IntentAnswer =
            serde_json::from_str(&pack.query_json(r#"{"intent": "card_arrival"}"#).unwrap())
                .unwrap();
        assert!(answer.playbook.unwrap().bot);
        let answer: IntentAnswer =
            serde_json::from_str(&pack.query_json(r#"{"intent": "weather"}"#).unwrap()).unwrap();
        assert_eq!(answer.playbook, None);
        let answer: TextAnswer =
            serde_json::from_str(&pack.query_json(r#"{"text": "card stolen"}"#).unwrap()).unwrap();
        assert_eq!(answer.intent, "lost_or_stolen_card");
        // The inspector's shape: the context is accepted and not read.
        let answer: TextAnswer = serde_json::from_str(
            &pack
                .query_json(r#"{"text": "card stolen", "context": ["hello", "wait"]}"#)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(answer.intent, "lost_or_stolen_card");
        for bad in [
            "{}",
            r#"{"text": "a", "intent": "b"}"#,
            r#"{"drugs": []}"#,
            "not json",
        ] {
            let err = pack.query_json(bad).unwrap_err();
            assert!(err.starts_with("banking query"), "{bad}: {err}");
        }
    }

    #[test]
    fn bad_pack_data_is_refused_with_the_reason() {
        let err = |config: &str| Banking::load(config).err().expect("refused");
        assert!(err("{}").contains("banking pack data"));
        let mut data: serde_json::Value = serde_json::from_str(&data()).unwrap();
        data["model"] = "%%%".into();
        assert!(err(&data.to_string()).contains("base64"));
        let mut data: serde_json::Value = serde_json::from_str(&super::tests::data()).unwrap();
        data["playbook"]["intents"]["card_arrival"]["script"]["zh"] = "".into();
        assert!(err(&data.to_string()).contains("card_arrival"));
    }
}
