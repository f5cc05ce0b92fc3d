//! The human half of a conversation: its status (`status`), what agents do
//! with it (`actions`: claim, reply, note, transfer, resolve, close, their
//! own status), and who gets a waiting conversation when an agent has room
//! (`assignment`). The customer's side enters through
//! `app::Switchyard::handle_message`; both sides write through
//! `storage::Commit`, so a change, its entries and its events are one
//! transaction.

pub mod actions;
pub mod assignment;
pub mod corrections;
pub mod handoff;
pub mod inbound;
pub mod monitor;
pub mod outbox;
pub mod status;
pub mod suggestions;
pub mod survey;
pub mod tickets;

pub use actions::{DeskActor, TransferTo};
