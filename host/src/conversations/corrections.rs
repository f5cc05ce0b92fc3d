//! An agent's correction of a customer message's intent: the decision
//! stays as the plugins made it; the correction is kept beside it and
//! announced (`message.corrected`), so "AI accuracy as agents judge it" is
//! the share of messages nobody corrected.

use super::DeskActor;
use crate::app::{Error, Result, Switchyard, check_id};
use crate::model::{Event, EventKind, IntentCorrection, MessageRecord, now_ms};
use crate::storage::Commit;

impl Switchyard {
    /// Set the right intent of a customer message; the classifier's own
    /// intent takes a correction away again.
    pub fn correct_intent(
        &self,
        tenant: &str,
        conversation_id: &str,
        message_id: &str,
        intent: &str,
        actor: &DeskActor,
    ) -> Result<MessageRecord> {
        check_id("conversation id", conversation_id)?;
        check_id("message id", message_id)?;
        check_id("intent", intent)?;
        let _serial = self
            .conversation_locks
            .conversation(tenant, conversation_id);
        let conversation = self.existing_conversation(tenant, conversation_id)?;
        let mut message = self
            .storage
            .message(tenant, conversation_id, message_id)?
            .ok_or_else(|| {
                Error::NotFound(format!(
                    "conversation {conversation_id:?} has no customer message {message_id:?}"
                ))
            })?;
        let was = message.decision.intent.name.clone();
        let by = actor.agent_id().unwrap_or("admin").to_string();
        let now = now_ms();
        let before = message.correction.as_ref().map(|c| c.intent.clone());
        message.correction = (intent != was).then(|| IntentCorrection {
            intent: intent.to_string(),
            was: was.clone(),
            by: by.clone(),
            at_ms: now,
        });
        let event = Event::about(EventKind::MessageCorrected, &conversation, now)
            .with_message(&message.id)
            .with_detail(serde_json::json!({
                "from": before.clone().unwrap_or_else(|| was.clone()),
                "to": intent,
                "by": by,
                "was": was,
                "corrected_before": before.is_some(),
                "corrected": message.correction.is_some(),
            }));
        self.storage.commit_durably(
            Commit {
                tenant: tenant.into(),
                message: Some(message.clone()),
                events: vec![event],
                ..Default::default()
            },
            None,
        )?;
        Ok(message)
    }
}
