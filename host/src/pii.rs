//! Personal data the host itself masks wherever text leaves the decision
//! path: log lines (the host's and plugins'), decision-trace details, audit
//! reasons and metric labels, stored messages when a tenant asks for it, and
//! every text a plugin produced (the reply, suggestions, the ticket, entity
//! values, the inspector's masked text). Phone numbers, resident ID numbers
//! and bank card numbers keep their last four characters; an e-mail address
//! keeps its first character and its domain. What counts as personal is
//! [`switchyard_sdk::personal`], shared with the first-party plugins.
//!
//! This does not depend on any plugin: a plugin that masks nothing, or masks
//! badly, or quotes the customer in its reply, is masked again here.

use std::borrow::Cow;

use crate::bindings::types as wit;
use crate::model::Decision;

/// `text` with personal data masked; borrowed when there is nothing to mask.
pub fn mask(text: &str) -> Cow<'_, str> {
    switchyard_sdk::personal::mask_personal(text)
}

fn mask_in_place(text: &mut String) {
    if let Cow::Owned(masked) = mask(text) {
        *text = masked;
    }
}

/// Masks every text the plugins put into `decision` and `draft`. The
/// decision's `masked_text` is the customer's message masked by the host
/// when no inspector masked it.
pub fn mask_plugin_output(
    original: &str,
    decision: &mut Decision,
    draft: Option<&mut wit::TicketDraft>,
) {
    match &mut decision.masked_text {
        Some(text) => mask_in_place(text),
        None => {
            if let Cow::Owned(masked) = mask(original) {
                decision.masked_text = Some(masked);
            }
        }
    }
    for entity in &mut decision.entities {
        mask_in_place(&mut entity.value);
    }
    for finding in &mut decision.findings {
        mask_in_place(&mut finding.detail);
    }
    for reason in &mut decision.escalation.reasons {
        mask_in_place(&mut reason.detail);
    }
    mask_in_place(&mut decision.route.reason);
    if let Some(reply) = &mut decision.reply {
        mask_in_place(reply);
    }
    for suggestion in &mut decision.suggestions {
        mask_in_place(&mut suggestion.title);
        mask_in_place(&mut suggestion.text);
    }
    if let Some(draft) = draft {
        mask_in_place(&mut draft.title);
        mask_in_place(&mut draft.summary);
        for fact in &mut draft.facts {
            mask_in_place(&mut fact.key);
            mask_in_place(&mut fact.value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 15, item 4: the stored masked text, entity values and the
    /// ticket kept a landline and an e-mail in clear because the host trusted
    /// the inspector's masked text and the plugins' other texts.
    #[test]
    fn plugin_texts_are_masked_whatever_the_plugin_masked() {
        let leak = "座机 010-62345678，邮箱 wang.fang@example.cn";
        let mut decision: Decision = serde_json::from_value(serde_json::json!({
            "intent": {"name": "x", "confidence": 1.0}, "alternatives": [],
            "entities": [{"kind": "order-id", "value": leak, "start": 0, "end": 3}],
            "findings": [{"kind": "k", "code": "c", "severity": "info", "detail": leak, "start": 0, "end": 0}],
            "masked_text": leak,
            "escalation": {"escalate": true, "reasons": [{"code": "c", "detail": leak}]},
            "route": {"to": "agent", "queue": "q", "agent": "a", "priority": 0, "reason": leak},
            "reply": leak,
            "suggestions": [{"kind": "reply", "title": leak, "text": leak, "score": 1.0, "article_id": null}],
            "ticket": null, "trace": []
        }))
        .unwrap();
        let mut draft = wit::TicketDraft {
            existing_ticket_id: None,
            title: leak.into(),
            department: "d".into(),
            priority: 1,
            summary: leak.into(),
            facts: vec![wit::TicketFact {
                key: leak.into(),
                value: leak.into(),
            }],
        };
        mask_plugin_output(leak, &mut decision, Some(&mut draft));
        let all = format!(
            "{} {} {} {:?}",
            serde_json::to_string(&decision).unwrap(),
            draft.title,
            draft.summary,
            draft
                .facts
                .iter()
                .map(|f| (&f.key, &f.value))
                .collect::<Vec<_>>()
        );
        assert_eq!(all.matches("***-****5678").count(), 12, "{all}");
        assert!(
            !all.contains("62345678") && !all.contains("wang.fang"),
            "{all}"
        );
    }

    #[test]
    fn a_message_with_nothing_to_mask_gets_no_masked_text() {
        let mut decision: Decision = serde_json::from_value(serde_json::json!({
            "intent": {"name": "x", "confidence": 1.0}, "alternatives": [], "entities": [],
            "findings": [], "masked_text": null, "escalation": {"escalate": false, "reasons": []},
            "route": {"to": "bot", "queue": null, "agent": null, "priority": 0, "reason": ""},
            "reply": null, "suggestions": [], "ticket": null, "trace": []
        }))
        .unwrap();
        mask_plugin_output("where is order 2024113012345", &mut decision, None);
        assert!(decision.masked_text.is_none());
        mask_plugin_output("call 13812345678", &mut decision, None);
        assert_eq!(decision.masked_text.as_deref(), Some("call *******5678"));
    }
}
