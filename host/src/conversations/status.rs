//! The rules that move a conversation from status to status, in one place:
//!
//! ```text
//! bot ──escalated──▶ waiting ──claimed / assigned──▶ assigned ──resolve──▶ resolved ──window──▶ closed
//!  │                    ▲                                 │                    │
//!  └──routed to agent───┼─────────────────────────────────┘                    │
//!                       └──transferred to a queue, agent offline               │
//! resolved/closed ──customer writes──▶ reopened (then routed like any message) ◀┘
//! ```
//!
//! An agent in `assigned_agent` and status `assigned` go together: the
//! agent's load counts the conversation exactly while both hold.

use crate::model::{Conversation, ConversationStatus, RouteTarget};

/// The status after a customer message, once its assignment is settled:
/// with an agent it is theirs; routed to people it waits; the bot keeps
/// it, or it stays reopened while the bot answers after a resolution.
pub fn after_customer_message(
    before: ConversationStatus,
    assigned: bool,
    route: RouteTarget,
) -> ConversationStatus {
    use ConversationStatus::*;
    if assigned {
        return Assigned;
    }
    match route {
        RouteTarget::Queue | RouteTarget::Agent => Waiting,
        RouteTarget::Bot if before.is_finished() || before == Reopened => Reopened,
        RouteTarget::Bot => Bot,
    }
}

/// Set `status`, keeping the waiting clock: it starts when the conversation
/// begins to wait and stops when it no longer does.
pub fn set_status(conversation: &mut Conversation, status: ConversationStatus, now_ms: u64) {
    if status == ConversationStatus::Waiting {
        if conversation.status != ConversationStatus::Waiting
            || conversation.waiting_since_ms.is_none()
        {
            conversation.waiting_since_ms = Some(now_ms);
        }
    } else {
        conversation.waiting_since_ms = None;
    }
    conversation.status = status;
}

/// Whether an agent may claim a conversation in this status: one nobody
/// owns and that is not finished.
pub fn claimable(status: ConversationStatus) -> bool {
    matches!(
        status,
        ConversationStatus::Bot | ConversationStatus::Waiting | ConversationStatus::Reopened
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConversationStatus::*;

    #[test]
    fn a_customer_message_moves_the_status_by_its_route_and_assignment() {
        assert_eq!(after_customer_message(Bot, false, RouteTarget::Bot), Bot);
        assert_eq!(
            after_customer_message(Bot, false, RouteTarget::Queue),
            Waiting
        );
        // Routed to an agent who filled up meanwhile: it waits.
        assert_eq!(
            after_customer_message(Bot, false, RouteTarget::Agent),
            Waiting
        );
        assert_eq!(
            after_customer_message(Waiting, true, RouteTarget::Agent),
            Assigned
        );
        // An owned conversation stays owned whatever a router says.
        assert_eq!(
            after_customer_message(Assigned, true, RouteTarget::Bot),
            Assigned
        );
        assert_eq!(
            after_customer_message(Resolved, false, RouteTarget::Bot),
            Reopened
        );
        assert_eq!(
            after_customer_message(Closed, false, RouteTarget::Bot),
            Reopened
        );
        assert_eq!(
            after_customer_message(Reopened, false, RouteTarget::Bot),
            Reopened
        );
        assert_eq!(
            after_customer_message(Resolved, false, RouteTarget::Queue),
            Waiting
        );
    }

    #[test]
    fn only_unowned_unfinished_conversations_can_be_claimed() {
        let claimable_ones: Vec<_> = ConversationStatus::ALL
            .into_iter()
            .filter(|s| claimable(*s))
            .collect();
        assert_eq!(claimable_ones, vec![Bot, Waiting, Reopened]);
    }
}
