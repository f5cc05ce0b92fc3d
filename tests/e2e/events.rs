//! The event stream (`GET /v1/events`, Server-Sent Events) over a real
//! socket: every event once and in order to each subscriber, filters by
//! queue and agent, resuming with `Last-Event-ID`, and tenant isolation.

use std::time::Duration;

use serde_json::json;
use switchyard_e2e::{DEMO_KEY, SseClient, SseMessage, TestEnv};

use crate::desk::{agent_key, everyone_away};

const WAIT: Duration = Duration::from_secs(5);

/// The demo tenant with plugin deadlines no busy test machine reaches: the
/// events these tests count depend on every plugin answering (a bot reply
/// that timed out is an event fewer).
fn unhurried() -> TestEnv {
    TestEnv::demo_with(switchyard::runtime::Limits {
        deadline: Duration::from_secs(2),
        ..Default::default()
    })
}

fn ids(messages: &[SseMessage]) -> Vec<u64> {
    messages.iter().map(|m| m.id.unwrap()).collect()
}

/// What the desk does in one conversation: a customer message that waits,
/// a claim, a reply, a note, a resolution.
fn one_handled_conversation(env: &TestEnv, agent: &str, conversation: &str) {
    let r = env.send(
        conversation,
        "我要退款，订单号 2024113012345",
        "cust-ev",
        "standard",
    );
    assert_eq!(r["route"]["to"], "queue", "{r}");
    for (path, body) in [
        ("claim", json!({})),
        ("replies", json!({"text": "您好，我来处理"})),
        ("notes", json!({"text": "customer is polite"})),
        ("resolve", json!({})),
    ] {
        let (status, body) = env.post(
            &format!("/v1/conversations/{conversation}/{path}"),
            agent,
            &body,
        );
        assert!(status.is_success(), "{path}: {body}");
    }
}

#[test]
fn each_subscriber_gets_every_event_once_in_order_and_resumes_after_its_last_id() {
    let env = unhurried();
    everyone_away(&env);
    let li = agent_key(&env, "li.na");
    let base = env.serve();
    let first = SseClient::connect(&base, "/v1/events", DEMO_KEY, None);
    let second = SseClient::connect(&base, "/v1/events", &li, None);
    assert_eq!((first.status, second.status), (200, 200));
    // Let both subscriptions settle before the first event.
    std::thread::sleep(Duration::from_millis(200));
    one_handled_conversation(&env, &li, "ev-1");

    // customer message, bot reply, status; claim: assigned, status, entry;
    // reply; note; resolve: status, its entry, the survey's entry.
    let expected = 11;
    let a = first.take(expected, WAIT);
    let b = second.take(expected, WAIT);
    assert_eq!(a.len(), expected, "{a:#?}");
    assert_eq!(ids(&a), ids(&b), "both subscribers see the same events");
    let got = ids(&a);
    assert!(
        got.windows(2).all(|w| w[1] == w[0] + 1),
        "contiguous, in order: {got:?}"
    );
    let kinds: Vec<&str> = a.iter().map(|m| m.event.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "message.created",
            "message.created",
            "conversation.status",
            "conversation.assigned",
            "conversation.status",
            "message.created",
            "message.created",
            "message.created",
            "conversation.status",
            "message.created",
            "message.created",
        ]
    );
    // The data is the event, with the entry it names.
    let customer = &a[0].data;
    assert_eq!(customer["id"], got[0]);
    assert_eq!(customer["conversation_id"], "ev-1");
    assert_eq!(customer["entry"]["author"], "customer");
    assert_eq!(customer["entry"]["decision"]["intent"]["name"], "refund");
    assert_eq!(a[1].data["entry"]["author"], "bot");
    assert_eq!(a[2].data["status"], "waiting");
    assert_eq!(a[2].data["queue"], "after-sales");
    assert_eq!(a[3].data["agent"], "li.na");
    assert_eq!(a[6].data["entry"]["author"], "agent");
    assert_eq!(a[7].data["entry"]["private"], true);
    assert_eq!(a[8].data["status"], "resolved");
    assert_eq!(a[10].data["entry"]["action"], "survey");
    // Nothing more than what happened.
    let extra = first.next(Duration::from_millis(300));
    assert!(extra.is_none(), "{extra:#?}");

    // A subscriber that goes away and comes back with its last id gets
    // exactly what it missed, then what follows, live.
    let last_seen = got[4];
    drop(first);
    one_handled_conversation(&env, &li, "ev-2");
    let resumed = SseClient::connect(&base, "/v1/events", DEMO_KEY, Some(last_seen));
    assert_eq!(resumed.status, 200);
    let missed = resumed.take(2 * expected - 5, WAIT);
    let all_ids: Vec<u64> = ids(&b)
        .into_iter()
        .chain(ids(&second.take(expected, WAIT)))
        .collect();
    assert_eq!(
        all_ids.len(),
        2 * expected,
        "the live subscriber saw both conversations"
    );
    assert_eq!(ids(&missed), all_ids[5..].to_vec());
    // Then live.
    let r = env.send("ev-3", "你们几点发货", "cust-ev3", "standard");
    assert!(r["reply"].is_string(), "{r}");
    let live = resumed.take(2, WAIT);
    assert_eq!(live.len(), 2, "{live:#?}");
    assert_eq!(live[0].id.unwrap(), all_ids.last().unwrap() + 1);
    assert_eq!(live[0].data["conversation_id"], "ev-3");
    // `?after=` does what the header does, for clients that cannot set it.
    let n = all_ids.len();
    let by_query = SseClient::connect(
        &base,
        &format!("/v1/events?after={}", all_ids[n - 3]),
        DEMO_KEY,
        None,
    );
    let rest = by_query.take(4, WAIT);
    assert_eq!(
        ids(&rest),
        vec![
            all_ids[n - 2],
            all_ids[n - 1],
            live[0].id.unwrap(),
            live[1].id.unwrap()
        ]
    );
}

#[test]
fn a_subscriber_gets_only_its_queues_and_its_agent_and_only_its_tenant() {
    let env = unhurried();
    everyone_away(&env);
    let li = agent_key(&env, "li.na");
    let base = env.serve();
    let billing = SseClient::connect(&base, "/v1/events?queue=billing,logistics", DEMO_KEY, None);
    let mine = SseClient::connect(&base, "/v1/events?agent=me", &li, None);
    let after_sales = SseClient::connect(&base, "/v1/events?queue=after-sales", &li, None);
    let acme_key = env.create_tenant("acme");
    let acme = SseClient::connect(&base, "/v1/events", &acme_key, None);
    std::thread::sleep(Duration::from_millis(200));
    one_handled_conversation(&env, &li, "ev-f");
    let queue_events = after_sales.take(11, WAIT);
    assert_eq!(
        queue_events.len(),
        11,
        "every event of the conversation names its queue"
    );
    assert!(after_sales.next(Duration::from_millis(300)).is_none());
    // li.na's own: from her claim to her resolution, which concerns her
    // though it leaves nobody holding the conversation.
    let own = mine.take(10, Duration::from_secs(2));
    assert!(!own.is_empty());
    assert!(own.iter().all(|m| m.data["agent"] == "li.na"), "{own:#?}");
    assert_eq!(own.len(), 7, "{own:#?}");
    assert_eq!(own[5].data["status"], "resolved", "{own:#?}");
    assert!(billing.next(Duration::from_millis(500)).is_none());
    assert!(
        acme.next(Duration::from_millis(100)).is_none(),
        "another tenant sees nothing"
    );

    // Bad requests get a clear 4xx before any stream starts.
    for (path, key, id, code) in [
        ("/v1/events", DEMO_KEY, None, 400u16),
        ("/v1/events?agent=me", DEMO_KEY, None, 400),
        ("/v1/events?queue=a/b", DEMO_KEY, None, 422),
        ("/v1/events?after=x", DEMO_KEY, None, 400),
        ("/v1/events", "no-such-key", None, 401),
        ("/v1/events", switchyard_e2e::OPERATOR_KEY, None, 403),
    ] {
        let client = if path == "/v1/events" && key == DEMO_KEY {
            // A Last-Event-ID that is no id.
            raw_with_header(&base, path, key, "Last-Event-ID: yesterday")
        } else {
            SseClient::connect(&base, path, key, id)
        };
        assert_eq!(client.status, code, "{path}: {}", client.error);
        assert!(
            !client.error["error"]["message"]
                .as_str()
                .unwrap_or("")
                .is_empty(),
            "{path}: {}",
            client.error
        );
    }
}

/// A subscription with one extra header line.
fn raw_with_header(base: &str, path: &str, key: &str, header: &str) -> SseClient {
    // `connect` sends Last-Event-ID as a number; a malformed one goes in by hand.
    let (name, value) = header.split_once(": ").unwrap();
    assert_eq!(name, "Last-Event-ID");
    SseClient::connect_with(base, path, key, &[("Last-Event-ID", value)])
}
