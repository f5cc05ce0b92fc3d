//! Intent playbooks: for each intent, the queue that serves it, whether the
//! bot may answer it alone, and the reply script. An industry pack carries
//! one beside its intent model (the banking pack), so a vendor ships the
//! model, the scripts and the routes as one versioned component.
//!
//! A playbook pack answers `{"intent": "lost_or_stolen_card"}` with an
//! [`IntentAnswer`]; the first-party router and assistant ask it through
//! [`ask`] when their config names the pack.

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

/// Ask `pack` what to do for `intent`. `Ok(None)`: the pack knows no such
/// intent. An error: the pack is missing, failed, or answered something else.
#[cfg(feature = "guest")]
pub fn ask(pack: &str, intent: &str) -> Result<Option<Entry>, String> {
    let query = serde_json::json!({ "intent": intent }).to_string();
    let answer = crate::host::query_pack(pack, &query)?;
    let answer: IntentAnswer = serde_json::from_str(&answer)
        .map_err(|e| format!("pack {pack:?} answered no playbook entry: {e}"))?;
    Ok(answer.playbook)
}
