//! Outbound delivery that loses nothing. What a customer must receive (a
//! bot's or agent's reply, a survey, a summary) is written to the outbox in
//! the same transaction as its entry (`storage::Commit::outbox`), so an
//! acknowledged message is never lost to a crash; the dispatcher then POSTs
//! it to the tenant's channel webhook, signed, with an idempotency key,
//! retrying with exponential backoff for at least 24 hours before it goes
//! to the dead-letter list (`GET /v1/outbox?state=dead`, redelivered by
//! hand). Delivery is at least once: a crash between the channel's answer
//! and the outbox's update sends that item again, with the same key.
//!
//! The webhook contract (README, "Channel webhooks"): `POST <url>` with a
//! JSON body, `Switchyard-Timestamp` (unix seconds), `Switchyard-Signature:
//! v1=<hex HMAC-SHA256(secret, timestamp "." body)>`, `Idempotency-Key`
//! and `Switchyard-Attempt`; any 2xx acknowledges. Inbound messages are
//! verified the same way when the tenant set an inbound secret.

use std::collections::{HashMap, HashSet};
use std::net::ToSocketAddrs;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::app::{Error, Result, Switchyard};
use crate::model::*;

/// How deliveries are retried and what they may reach.
#[derive(Clone, Debug)]
pub struct DeliveryPolicy {
    /// The first retry's delay; each next one doubles, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// After this long since an item was written, a failure makes it dead.
    pub give_up_after: Duration,
    /// One attempt's deadline (connect, send, answer).
    pub timeout: Duration,
    /// Deliver to loopback and private addresses (tests, a channel adapter
    /// on the same host). Off by default: a tenant must not make the server
    /// call into its own network.
    pub allow_private: bool,
    /// Deliveries under way at once, and per tenant.
    pub workers: usize,
    pub per_tenant: usize,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        DeliveryPolicy {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(3600),
            // The issue asks for at least 24 h; one more hour covers a
            // receiver that is down for a whole day and its last attempt.
            give_up_after: Duration::from_secs(25 * 3600),
            timeout: Duration::from_secs(10),
            allow_private: false,
            workers: 4,
            per_tenant: 2,
        }
    }
}

impl DeliveryPolicy {
    /// The delay before attempt `attempts + 1`, with up to a fifth of jitter
    /// so a receiver coming back is not hit by every retry at once.
    pub fn backoff(&self, attempts: u32) -> Duration {
        let doubled = self
            .base_delay
            .saturating_mul(1u32.checked_shl(attempts.min(31)).unwrap_or(u32::MAX));
        let delay = doubled.min(self.max_delay);
        let mut byte = [0u8; 1];
        let _ = getrandom::fill(&mut byte);
        delay + delay.mul_f64(f64::from(byte[0]) / 255.0 / 5.0)
    }
}

/// Longest a webhook URL may be.
pub const MAX_URL_BYTES: usize = 2048;
/// Shortest secret accepted: a short one is guessable.
pub const MIN_SECRET_BYTES: usize = 16;
/// How far an inbound signature's timestamp may be from now.
pub const INBOUND_TOLERANCE_SECS: u64 = 300;

/// `v1=<hex>`: the signature of `body` sent at `timestamp` (unix seconds).
pub fn sign(secret: &str, timestamp: u64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Check an inbound request's signature headers against `secret`: the
/// timestamp within [`INBOUND_TOLERANCE_SECS`] of `now_secs` and one of the
/// signatures (comma-separated, for a receiver rotating its secret) right.
pub fn verify(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now_secs: u64,
) -> std::result::Result<(), String> {
    let timestamp: u64 = timestamp
        .ok_or("missing Switchyard-Timestamp header (this tenant signs inbound messages)")?
        .trim()
        .parse()
        .map_err(|_| "Switchyard-Timestamp must be unix seconds".to_string())?;
    if timestamp.abs_diff(now_secs) > INBOUND_TOLERANCE_SECS {
        return Err(format!(
            "Switchyard-Timestamp is more than {INBOUND_TOLERANCE_SECS} s from the server's clock"
        ));
    }
    let signature = signature.ok_or("missing Switchyard-Signature header")?;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    for candidate in signature.split(',').map(str::trim) {
        if let Some(hex_sig) = candidate.strip_prefix("v1=")
            && let Ok(bytes) = hex::decode(hex_sig)
            && mac.clone().verify_slice(&bytes).is_ok()
        {
            return Ok(());
        }
    }
    Err("Switchyard-Signature does not match the body and timestamp".into())
}

/// Check a channel endpoint before it is stored.
pub fn check_endpoint(channel: &ChannelEndpoint) -> Result<()> {
    let url = channel.url.trim();
    if url.len() > MAX_URL_BYTES {
        return Err(Error::Invalid(format!(
            "the url is {} bytes; at most {MAX_URL_BYTES}",
            url.len()
        )));
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| Error::Invalid("the url must start with http:// or https://".into()))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || host.contains('@') || host.chars().any(char::is_whitespace) {
        return Err(Error::Invalid(format!(
            "the url's host {host:?} is not a host[:port]"
        )));
    }
    for (what, secret) in [
        ("secret", Some(&channel.secret)),
        ("inbound_secret", channel.inbound_secret.as_ref()),
    ] {
        if let Some(secret) = secret
            && (secret.len() < MIN_SECRET_BYTES || secret.len() > 256)
        {
            return Err(Error::Invalid(format!(
                "the {what} must be {MIN_SECRET_BYTES} to 256 bytes"
            )));
        }
    }
    Ok(())
}

/// Whether `url` resolves to an address a tenant must not reach from the
/// server (loopback, private, link-local: cloud metadata lives there).
fn private_target(url: &str) -> std::result::Result<bool, String> {
    let rest = url
        .strip_prefix("https://")
        .map(|r| (r, 443))
        .or_else(|| url.strip_prefix("http://").map(|r| (r, 80)));
    let Some((rest, default_port)) = rest else {
        return Err("not an http(s) url".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let with_port = if authority
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !authority.ends_with(']')
    {
        authority.to_string()
    } else {
        format!("{authority}:{default_port}")
    };
    let addrs = with_port
        .to_socket_addrs()
        .map_err(|e| format!("resolving {authority}: {e}"))?;
    Ok(addrs.into_iter().any(|a| match a.ip() {
        std::net::IpAddr::V4(ip) => {
            ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
        }
        std::net::IpAddr::V6(ip) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
        }
    }))
}

impl Switchyard {
    /// The outbox item that delivers `post` (a reply the customer reads),
    /// when the tenant has a channel endpoint.
    pub(crate) fn outbound(
        &self,
        tenant: &Tenant,
        conversation: &Conversation,
        kind: OutboundKind,
        body: serde_json::Value,
        at_ms: u64,
    ) -> Result<Option<OutboxItem>> {
        if tenant.channel.is_none() {
            return Ok(None);
        }
        let id = format!("o-{:x}", self.storage.next_id(&tenant.id)?);
        let mut payload = serde_json::json!({
            "id": id,
            "type": kind,
            "tenant": tenant.id,
            "conversation_id": conversation.id,
            "customer_id": conversation.customer.id,
            "channel": conversation.channel,
            "created_at_ms": at_ms,
        });
        let field = match kind {
            OutboundKind::Message => "message",
            OutboundKind::Survey => "survey",
            OutboundKind::Summary => "summary",
        };
        payload[field] = body;
        Ok(Some(OutboxItem {
            id,
            tenant: tenant.id.clone(),
            conversation_id: conversation.id.clone(),
            kind,
            payload,
            created_at_ms: at_ms,
            state: OutboxState::Pending,
            attempts: 0,
            next_attempt_ms: at_ms,
            last_error: None,
        }))
    }

    /// The message a post delivers, as the webhook body's `message`.
    pub(crate) fn outbound_message(
        &self,
        tenant: &Tenant,
        conversation: &Conversation,
        post: &Post,
    ) -> Result<Option<OutboxItem>> {
        if post.private {
            return Ok(None);
        }
        let body = serde_json::json!({
            "id": post.id,
            "author": post.author,
            "agent_id": post.agent_id,
            "text": post.text,
            "at_ms": post.at_ms,
        });
        self.outbound(
            tenant,
            conversation,
            OutboundKind::Message,
            body,
            post.at_ms,
        )
    }

    /// Wake the dispatcher: something was just queued.
    pub(crate) fn outbox_queued(&self) {
        let (lock, wake) = &*self.outbox_signal;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) = true;
        wake.notify_one();
    }

    /// Set (or, with `None`, remove) the tenant's channel endpoint.
    pub fn set_channel(
        &self,
        tenant: &str,
        channel: Option<ChannelEndpoint>,
        actor: &Actor,
    ) -> Result<()> {
        if let Some(channel) = &channel {
            check_endpoint(channel)?;
        }
        let reason = match &channel {
            Some(c) => format!("channel webhook {}", crate::pii::mask(&c.url)),
            None => "channel webhook removed".into(),
        };
        self.update_tenant_record(tenant, "channel", actor, reason, |t| {
            t.channel = channel.clone()
        })
    }

    /// A dead delivery, sent again from now with a fresh retry window.
    pub fn redeliver(&self, tenant: &str, id: &str) -> Result<OutboxItem> {
        crate::app::check_id("delivery id", id)?;
        let item = match self.storage.outbox_redeliver(tenant, id, now_ms()) {
            Ok(Some(item)) => item,
            Ok(None) => return Err(Error::NotFound(format!("delivery {id:?} does not exist"))),
            Err(crate::storage::StorageError::Inconsistent(why)) => {
                return Err(Error::Conflict(why));
            }
            Err(e) => return Err(e.into()),
        };
        self.storage.flush_blocking()?;
        self.outbox_queued();
        Ok(item)
    }
}

/// The running dispatcher; dropping it stops the threads after the
/// deliveries under way.
pub struct Delivery {
    stop: Arc<Mutex<bool>>,
    app: Arc<Switchyard>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Drop for Delivery {
    fn drop(&mut self) {
        *self.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.app.outbox_queued();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// What is being delivered now: a conversation's next item waits for the
/// one under way, and a tenant gets at most `per_tenant` at once.
#[derive(Default)]
struct InFlight {
    conversations: HashSet<(String, String)>,
    tenants: HashMap<String, usize>,
}

/// Start delivering the outbox of every tenant.
pub fn start(app: Arc<Switchyard>, policy: DeliveryPolicy) -> Delivery {
    let stop = Arc::new(Mutex::new(false));
    let in_flight = Arc::new(Mutex::new(InFlight::default()));
    let (jobs_tx, jobs_rx) = std::sync::mpsc::sync_channel::<OutboxItem>(policy.workers);
    let jobs_rx = Arc::new(Mutex::new(jobs_rx));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(policy.timeout))
        .max_redirects(0)
        .build()
        .into();
    let mut threads = Vec::new();
    for n in 0..policy.workers.max(1) {
        let (app, policy, agent) = (app.clone(), policy.clone(), agent.clone());
        let (jobs, in_flight) = (jobs_rx.clone(), in_flight.clone());
        threads.push(
            std::thread::Builder::new()
                .name(format!("sy-deliver-{n}"))
                .spawn(move || {
                    loop {
                        let item = {
                            let jobs = jobs.lock().unwrap_or_else(|p| p.into_inner());
                            jobs.recv()
                        };
                        let Ok(item) = item else { return };
                        deliver(&app, &policy, &agent, &item);
                        let mut flying = in_flight.lock().unwrap_or_else(|p| p.into_inner());
                        flying
                            .conversations
                            .remove(&(item.tenant.clone(), item.conversation_id.clone()));
                        if let Some(n) = flying.tenants.get_mut(&item.tenant) {
                            *n = n.saturating_sub(1);
                        }
                        drop(flying);
                        app.outbox_queued();
                    }
                })
                .expect("a delivery thread starts"),
        );
    }
    let dispatcher = {
        let (app, stop, in_flight) = (app.clone(), stop.clone(), in_flight.clone());
        std::thread::Builder::new()
            .name("sy-outbox".into())
            .spawn(move || dispatch(&app, &policy, &stop, &in_flight, jobs_tx))
            .expect("the outbox dispatcher starts")
    };
    threads.insert(0, dispatcher);
    Delivery { stop, app, threads }
}

/// Hand due items to the delivery threads, in order per conversation.
fn dispatch(
    app: &Switchyard,
    policy: &DeliveryPolicy,
    stop: &Mutex<bool>,
    in_flight: &Mutex<InFlight>,
    jobs: std::sync::mpsc::SyncSender<OutboxItem>,
) {
    let mut swept = std::time::Instant::now();
    loop {
        if *stop.lock().unwrap_or_else(|p| p.into_inner()) {
            return; // dropping `jobs` ends the delivery threads
        }
        // Once a minute: close conversations whose survey window passed,
        // and trim each tenant's event log to its retention.
        if swept.elapsed() >= Duration::from_secs(60) {
            swept = std::time::Instant::now();
            for tenant in app.storage.tenants().unwrap_or_default() {
                if let Err(e) = app.close_expired(&tenant.id) {
                    tracing::error!(tenant = tenant.id, "closing expired conversations: {e}");
                }
                let keep_ms = u64::from(tenant.settings.event_retention_days) * 86_400_000;
                match app
                    .storage
                    .trim_events(&tenant.id, now_ms().saturating_sub(keep_ms), 10_000)
                {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(tenant = tenant.id, trimmed = n, "old events trimmed"),
                    Err(e) => tracing::error!(tenant = tenant.id, "trimming events: {e}"),
                }
            }
        }
        // What can go now: not a conversation or a tenant already at its
        // share, not behind an earlier delivery of its conversation.
        let now = now_ms();
        let mut picked: HashSet<(String, String)> = HashSet::new();
        let mut picked_per_tenant: HashMap<String, usize> = HashMap::new();
        let due = app
            .storage
            .due_outbox(now, 256, 10_000, |item| {
                let conversation = (item.tenant.clone(), item.conversation_id.clone());
                let tenant_busy = {
                    let flying = in_flight.lock().unwrap_or_else(|p| p.into_inner());
                    if flying.conversations.contains(&conversation) {
                        return false;
                    }
                    flying.tenants.get(&item.tenant).copied().unwrap_or(0)
                        + picked_per_tenant.get(&item.tenant).copied().unwrap_or(0)
                        >= policy.per_tenant
                };
                if tenant_busy || picked.contains(&conversation) {
                    return false;
                }
                match app.storage.outbox_waits_for_earlier(item, now) {
                    Ok(false) => {
                        *picked_per_tenant.entry(item.tenant.clone()).or_default() += 1;
                        picked.insert(conversation);
                        true
                    }
                    Ok(true) => false,
                    Err(e) => {
                        tracing::error!("reading the outbox: {e}");
                        false
                    }
                }
            })
            .unwrap_or_else(|e| {
                tracing::error!("reading the outbox: {e}");
                vec![]
            });
        for item in due {
            let conversation = (item.tenant.clone(), item.conversation_id.clone());
            {
                let mut flying = in_flight.lock().unwrap_or_else(|p| p.into_inner());
                flying.conversations.insert(conversation.clone());
                *flying.tenants.entry(item.tenant.clone()).or_default() += 1;
            }
            // Read again now that this conversation is ours: the list above
            // may predate a delivery that just finished (a worker leaves the
            // in-flight set only after the outbox is updated), and sending
            // that item again would deliver it twice.
            let current = match app.storage.outbox_item(&item.tenant, &item.id) {
                Ok(Some(current))
                    if current.state == OutboxState::Pending
                        && current.attempts == item.attempts
                        && current.next_attempt_ms <= now_ms() =>
                {
                    Some(current)
                }
                Ok(_) => None,
                Err(e) => {
                    tracing::error!("reading the outbox: {e}");
                    None
                }
            };
            let Some(item) = current else {
                let mut flying = in_flight.lock().unwrap_or_else(|p| p.into_inner());
                flying.conversations.remove(&conversation);
                if let Some(n) = flying.tenants.get_mut(&item.tenant) {
                    *n = n.saturating_sub(1);
                }
                continue;
            };
            if jobs.send(item).is_err() {
                return;
            }
        }
        // Sleep until something is queued or a retry may be due.
        let (lock, wake) = &*app.outbox_signal;
        let mut queued = lock.lock().unwrap_or_else(|p| p.into_inner());
        if !*queued {
            queued = wake
                .wait_timeout(queued, Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        *queued = false;
    }
}

/// One attempt at one item, and what it leaves in the outbox.
fn deliver(app: &Switchyard, policy: &DeliveryPolicy, agent: &ureq::Agent, item: &OutboxItem) {
    let outcome = attempt(app, policy, agent, item);
    let now = now_ms();
    let written = match outcome {
        Ok(()) => {
            app.metrics.record_delivery(&item.tenant, "delivered");
            app.storage.outbox_delivered(item)
        }
        Err(error) => {
            let age = Duration::from_millis(now.saturating_sub(item.created_at_ms));
            if age >= policy.give_up_after {
                app.metrics.record_delivery(&item.tenant, "dead");
                tracing::warn!(
                    tenant = item.tenant,
                    delivery = item.id,
                    "dead after {} attempts: {error}",
                    item.attempts + 1
                );
                app.storage.outbox_dead(item, error)
            } else {
                app.metrics.record_delivery(&item.tenant, "retried");
                let next = now + policy.backoff(item.attempts).as_millis() as u64;
                app.storage.outbox_retry(item, next, error)
            }
        }
    };
    if let Err(e) = written.and_then(|()| app.storage.flush_blocking()) {
        tracing::error!(
            tenant = item.tenant,
            delivery = item.id,
            "updating the outbox: {e}"
        );
    }
}

fn attempt(
    app: &Switchyard,
    policy: &DeliveryPolicy,
    agent: &ureq::Agent,
    item: &OutboxItem,
) -> std::result::Result<(), String> {
    let tenant = app
        .storage
        .tenant(&item.tenant)
        .map_err(|e| e.to_string())?
        .ok_or("the tenant no longer exists")?;
    let channel = tenant
        .channel
        .ok_or("the tenant has no channel endpoint (PUT /v1/channel)")?;
    if !policy.allow_private && private_target(&channel.url)? {
        return Err(format!(
            "{} is a loopback or private address; the server delivers there only with --allow-private-webhooks",
            channel.url
        ));
    }
    let body = serde_json::to_vec(&item.payload).map_err(|e| e.to_string())?;
    let timestamp = now_ms() / 1000;
    let response = agent
        .post(&channel.url)
        .header("Content-Type", "application/json")
        .header("Switchyard-Timestamp", timestamp.to_string())
        .header(
            "Switchyard-Signature",
            sign(&channel.secret, timestamp, &body),
        )
        .header("Idempotency-Key", item.idempotency_key())
        .header("Switchyard-Attempt", (item.attempts + 1).to_string())
        .send(&body[..])
        .map_err(|e| format!("delivering to {}: {e}", channel.url))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{} answered {status}", channel.url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signature a receiver computes by hand matches.
    #[test]
    fn a_signature_verifies_and_anything_changed_does_not() {
        let secret = "whsec-0123456789abcdef";
        let body = br#"{"id":"o-1"}"#;
        let signature = sign(secret, 1_700_000_000, body);
        assert!(signature.starts_with("v1=") && signature.len() == 3 + 64);
        let now = 1_700_000_100;
        assert_eq!(
            verify(secret, Some("1700000000"), Some(&signature), body, now),
            Ok(())
        );
        // A rotating receiver may send two; one right is enough.
        let both = format!("v1=00ff, {signature}");
        assert_eq!(
            verify(secret, Some("1700000000"), Some(&both), body, now),
            Ok(())
        );
        assert!(verify(secret, Some("1700000000"), Some(&signature), b"{}", now).is_err());
        assert!(verify(secret, Some("1700000001"), Some(&signature), body, now).is_err());
        assert!(
            verify(
                "another-secret-value",
                Some("1700000000"),
                Some(&signature),
                body,
                now
            )
            .is_err()
        );
        assert!(verify(secret, None, Some(&signature), body, now).is_err());
        assert!(verify(secret, Some("1700000000"), None, body, now).is_err());
        // The tolerance, at its bound and one over.
        let at_bound = 1_700_000_000 + INBOUND_TOLERANCE_SECS;
        assert_eq!(
            verify(secret, Some("1700000000"), Some(&signature), body, at_bound),
            Ok(())
        );
        assert!(
            verify(
                secret,
                Some("1700000000"),
                Some(&signature),
                body,
                at_bound + 1
            )
            .is_err()
        );
    }

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        let policy = DeliveryPolicy::default();
        let within = |attempts: u32, secs: f64| {
            let d = policy.backoff(attempts).as_secs_f64();
            assert!(
                (secs..=secs * 1.2 + 0.001).contains(&d),
                "attempt {attempts}: {d} s"
            );
        };
        within(0, 1.0);
        within(1, 2.0);
        within(5, 32.0);
        within(12, 3600.0);
        within(40, 3600.0);
        // Retried for at least 24 hours before giving up.
        assert!(policy.give_up_after >= Duration::from_secs(24 * 3600));
    }

    #[test]
    fn endpoints_are_checked_before_they_are_stored() {
        let ok = ChannelEndpoint {
            url: "https://channel.example.com/switchyard".into(),
            secret: "s".repeat(MIN_SECRET_BYTES),
            inbound_secret: None,
        };
        assert!(check_endpoint(&ok).is_ok());
        for (url, secret) in [
            ("ftp://x.example.com", "s".repeat(16)),
            ("https://", "s".repeat(16)),
            ("https://user@x.example.com/", "s".repeat(16)),
            ("https://x.example.com", "s".repeat(MIN_SECRET_BYTES - 1)),
            (
                &*format!("https://x.example.com/{}", "a".repeat(MAX_URL_BYTES)),
                "s".repeat(16),
            ),
        ] {
            let channel = ChannelEndpoint {
                url: url.to_string(),
                secret,
                inbound_secret: None,
            };
            assert!(check_endpoint(&channel).is_err(), "{url}");
        }
        assert!(private_target("http://127.0.0.1:9/x").unwrap());
        assert!(private_target("http://10.1.2.3/x").unwrap());
        assert!(private_target("http://169.254.169.254/latest").unwrap());
        assert!(private_target("http://[::1]:8080/").unwrap());
        assert!(!private_target("http://93.184.216.34/").unwrap());
    }
}
