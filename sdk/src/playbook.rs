//! Intent playbooks: for each intent, the queue that serves it, whether the
//! bot may answer it alone, and the reply script. An industry pack carries
//! one beside its intent model (the banking pack), so a vendor ships the
//! model, the scripts and the routes as one versioned component.
//!
//! A playbook pack answers `{"text": "I lost my card"}` with a
//! [`TextAnswer`] (the intent its model names, and that intent's entry) and
//! `{"intent": "lost_or_stolen_card"}` with an [`IntentAnswer`]. The
//! first-party classifier asks through [`classify`], the router and the
//! assistant through [`ask`], when their config names the pack.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Lang;

/// Every intent's entry.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Playbook {
    pub intents: BTreeMap<String, Entry>,
}

/// What to do for one intent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The queue that serves the intent: a queue the tenant's router defines
    /// (its skill, priority floor and urgency are the tenant's to set).
    pub queue: String,
    /// The bot may answer alone, when nothing escalates: the script resolves
    /// the question without looking at the customer's account.
    #[serde(default)]
    pub bot: bool,
    /// The reply script.
    pub script: Script,
}

/// A reply in both languages the product speaks. Other keys are ignored
/// (assistant configs that carry more stay readable); both texts are required.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Script {
    pub en: String,
    pub zh: String,
}

impl Script {
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Zh => &self.zh,
            Lang::En => &self.en,
        }
    }
}

impl Playbook {
    /// Every entry has a queue and both scripts: a clear error naming the
    /// first intent that does not.
    pub fn check(&self) -> Result<(), String> {
        for (intent, entry) in &self.intents {
            if intent.trim().is_empty() {
                return Err("playbook: an intent has an empty name".into());
            }
            if entry.queue.trim().is_empty() {
                return Err(format!("playbook: intent {intent:?} names no queue"));
            }
            if entry.script.en.trim().is_empty() || entry.script.zh.trim().is_empty() {
                return Err(format!(
                    "playbook: intent {intent:?} needs a script in both \"en\" and \"zh\""
                ));
            }
        }
        Ok(())
    }
}

/// A playbook pack's answer to `{"intent": name}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct IntentAnswer {
    pub intent: String,
    /// `None` when the pack's playbook has no entry for the intent.
    pub playbook: Option<Entry>,
}

/// A playbook pack's answer to `{"text": message}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct TextAnswer {
    /// The best in-scope intent (also when not understood: then it is the
    /// model's guess).
    pub intent: String,
    pub confidence: f32,
    /// The model places the text in scope with at least its threshold's
    /// confidence.
    pub understood: bool,
    /// The runners-up, best first.
    #[serde(default)]
    pub alternatives: Vec<Alternative>,
    /// The best intent's entry, when understood and the playbook has one.
    #[serde(default)]
    pub playbook: Option<Entry>,
}

#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct Alternative {
    pub intent: String,
    pub confidence: f32,
}

/// Ask `pack` what to do for `intent`; `None` when the pack has no entry
/// for it. A pack that is missing, fails or answers something else costs
/// the entry and is logged, never the asking plugin's answer.
#[cfg(feature = "guest")]
pub fn ask(pack: &str, intent: &str) -> Option<Entry> {
    query::<IntentAnswer>(pack, &serde_json::json!({ "intent": intent }))
        .and_then(|answer| answer.playbook)
}

/// Ask `pack` about a customer's message; `None` (logged) as for [`ask`].
#[cfg(feature = "guest")]
pub fn classify(pack: &str, text: &str) -> Option<TextAnswer> {
    query(pack, &serde_json::json!({ "text": text }))
}

#[cfg(feature = "guest")]
fn query<T: serde::de::DeserializeOwned>(pack: &str, query: &serde_json::Value) -> Option<T> {
    let answer = crate::host::query_pack(pack, &query.to_string()).and_then(|answer| {
        serde_json::from_str(&answer).map_err(|e| format!("its answer does not fit: {e}"))
    });
    answer
        .map_err(|e| {
            crate::host::log(crate::types::Level::Warn, &format!("pack {pack}: {e}"));
        })
        .ok()
}
