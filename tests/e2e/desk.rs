//! The agent's side over HTTP: agent keys and what they may do, claiming
//! (one winner), replies and notes, transfer, resolve and reopen, the bot
//! silent once a person owns a conversation, capacity everywhere, agents
//! going offline and online, and the conversation list.

use std::collections::HashSet;

use axum::http::StatusCode;
use serde_json::{Value, json};
use switchyard_e2e::{DEMO_KEY, OPERATOR_KEY, TestEnv};

/// Error answers carry a code and a message.
fn assert_error(status: StatusCode, body: &Value, expected: u16, code: &str) {
    assert_eq!(status.as_u16(), expected, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        !body["error"]["message"].as_str().unwrap_or("").is_empty(),
        "{body}"
    );
}

/// Issue an agent of the demo tenant their own key.
pub fn agent_key(env: &TestEnv, agent: &str) -> String {
    let (status, body) = env.post(&format!("/v1/agents/{agent}/key"), DEMO_KEY, &json!({}));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["agent"], agent);
    body["key"].as_str().unwrap().to_string()
}

/// Set a demo agent's status through the tenant's agent record.
pub fn set_status(env: &TestEnv, agent: &str, status: &str) {
    let (_, mut record) = env.get(&format!("/v1/agents/{agent}"), DEMO_KEY);
    record["status"] = json!(status);
    let record = json!({
        "id": record["id"], "name": record["name"], "skills": record["skills"],
        "capacity": record["capacity"], "status": record["status"],
    });
    let (code, body) = env.put(&format!("/v1/agents/{agent}"), DEMO_KEY, &record);
    assert_eq!(code, StatusCode::OK, "{body}");
}

/// Every demo agent away: escalated conversations wait in their queues.
pub fn everyone_away(env: &TestEnv) {
    let (_, agents) = env.get("/v1/agents", DEMO_KEY);
    for agent in agents["agents"].as_array().unwrap() {
        set_status(env, agent["id"].as_str().unwrap(), "away");
    }
}

fn view(env: &TestEnv, conversation: &str) -> Value {
    let (status, body) = env.get(
        &format!("/v1/conversations/{conversation}?limit=500"),
        DEMO_KEY,
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

fn authors(view: &Value) -> Vec<String> {
    view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["author"].as_str().unwrap().to_string())
        .collect()
}

fn load(env: &TestEnv, agent: &str) -> u64 {
    env.get(&format!("/v1/agents/{agent}"), DEMO_KEY).1["load"]
        .as_u64()
        .unwrap()
}

/// A refund the bot cannot settle, with nobody online: it waits in the
/// after-sales queue.
fn waiting_refund(env: &TestEnv, conversation: &str, customer: &str) -> Value {
    let r = env.send(
        conversation,
        "我要退款，订单号 2024113012345",
        customer,
        "standard",
    );
    assert_eq!(r["route"]["to"], "queue", "{r}");
    assert_eq!(r["route"]["queue"], "after-sales", "{r}");
    r
}

#[test]
fn an_agent_claims_a_waiting_conversation_and_the_bot_never_answers_again() {
    let env = TestEnv::demo();
    everyone_away(&env);
    let li = agent_key(&env, "li.na");
    waiting_refund(&env, "claim-1", "cust-claim");
    let before = view(&env, "claim-1");
    assert_eq!(before["conversation"]["status"], "waiting");
    assert!(before["conversation"]["waiting_since_ms"].as_u64().unwrap() > 0);

    let (status, claimed) = env.post("/v1/conversations/claim-1/claim", &li, &json!({}));
    assert_eq!(status, StatusCode::OK, "{claimed}");
    assert_eq!(claimed["status"], "assigned");
    assert_eq!(claimed["assigned_agent"], "li.na");
    assert!(claimed.get("waiting_since_ms").is_none(), "{claimed}");
    assert_eq!(load(&env, "li.na"), 1);
    // Claiming one's own conversation again changes nothing.
    let (status, again) = env.post("/v1/conversations/claim-1/claim", &li, &json!({}));
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(load(&env, "li.na"), 1);

    // The customer writes: plugins still decide (the agent gets the
    // decision and suggestions) but the bot does not answer.
    let r = env.send("claim-1", "多久能退到账？", "cust-claim", "standard");
    assert!(r["reply"].is_null(), "{r}");
    assert_eq!(r["route"]["agent"], "li.na", "{r}");
    let (status, reply) = env.post(
        "/v1/conversations/claim-1/replies",
        &li,
        &json!({"text": "您好，退款会在3-5个工作日原路退回。"}),
    );
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    assert_eq!(reply["author"], "agent");
    assert_eq!(reply["agent_id"], "li.na");
    assert_eq!(reply["private"], false);
    let after = view(&env, "claim-1");
    assert_eq!(
        authors(&after),
        ["customer", "bot", "system", "customer", "agent"],
        "{after}"
    );
    let entries = after["messages"].as_array().unwrap();
    assert_eq!(entries[2]["action"], "claimed");
    assert_eq!(entries[4]["text"], "您好，退款会在3-5个工作日原路退回。");
    // Every customer entry carries its decision; posts carry none.
    for entry in entries {
        assert_eq!(
            entry.get("decision").is_some(),
            entry["author"] == "customer",
            "{entry}"
        );
    }
    assert_eq!(after["conversation"]["status"], "assigned");
    assert_eq!(after["conversation"]["state"]["holder"]["by"], "agent");
}

#[test]
fn two_agents_claiming_at_once_one_wins_and_the_other_gets_409() {
    let env = TestEnv::demo();
    everyone_away(&env);
    let keys = [agent_key(&env, "li.na"), agent_key(&env, "emma.stone")];
    // Three rounds: fewer than either agent's capacity, so the loser always
    // lost to the winner, not to their own load.
    for round in 0..3 {
        let conversation = format!("race-{round}");
        waiting_refund(&env, &conversation, &format!("cust-race-{round}"));
        let answers: Vec<(StatusCode, Value)> = std::thread::scope(|s| {
            let handles: Vec<_> = keys
                .iter()
                .map(|key| {
                    let (env, conversation) = (&env, &conversation);
                    s.spawn(move || {
                        env.post(
                            &format!("/v1/conversations/{conversation}/claim"),
                            key,
                            &json!({}),
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won: Vec<&Value> = answers
            .iter()
            .filter(|(s, _)| *s == StatusCode::OK)
            .map(|(_, b)| b)
            .collect();
        let lost: Vec<&(StatusCode, Value)> = answers
            .iter()
            .filter(|(s, _)| *s != StatusCode::OK)
            .collect();
        assert_eq!(won.len(), 1, "{answers:?}");
        assert_eq!(lost.len(), 1, "{answers:?}");
        assert_error(lost[0].0, &lost[0].1, 409, "conflict");
        let winner = won[0]["assigned_agent"].as_str().unwrap();
        assert!(
            lost[0].1["error"]["message"]
                .as_str()
                .unwrap()
                .contains(winner),
            "{lost:?}"
        );
        let stored = view(&env, &conversation);
        assert_eq!(stored["conversation"]["assigned_agent"], winner);
        let claims = stored["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["action"] == "claimed")
            .count();
        assert_eq!(claims, 1, "one claim entry: {stored}");
    }
    // Each conversation counted once, on its winner.
    assert_eq!(load(&env, "li.na") + load(&env, "emma.stone"), 3);
}

#[test]
fn an_agent_key_acts_only_as_that_agent_and_only_within_its_tenant() {
    let env = TestEnv::demo();
    everyone_away(&env);
    let li = agent_key(&env, "li.na");
    let emma = agent_key(&env, "emma.stone");
    waiting_refund(&env, "own-1", "cust-own");
    assert_eq!(
        env.post("/v1/conversations/own-1/claim", &li, &json!({})).0,
        StatusCode::OK
    );
    // Another agent cannot reply in, transfer or resolve li.na's conversation.
    let (status, body) = env.post(
        "/v1/conversations/own-1/replies",
        &emma,
        &json!({"text": "hi"}),
    );
    assert_error(status, &body, 403, "forbidden");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("li.na"),
        "{body}"
    );
    let (status, body) = env.post(
        "/v1/conversations/own-1/transfer",
        &emma,
        &json!({"to": {"queue": "billing"}}),
    );
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = env.post("/v1/conversations/own-1/resolve", &emma, &json!({}));
    assert_error(status, &body, 403, "forbidden");
    // Nothing of it was written.
    let stored = view(&env, "own-1");
    assert_eq!(authors(&stored), ["customer", "bot", "system"], "{stored}");

    // An agent key is not the tenant's admin key, nor the operator's.
    for (method, path) in [
        ("GET", "/v1/settings"),
        ("PUT", "/v1/settings"),
        ("POST", "/v1/key"),
        ("POST", "/v1/agents"),
        ("PUT", "/v1/agents/li.na"),
        ("POST", "/v1/agents/emma.stone/key"),
        ("POST", "/v1/knowledge/articles"),
        ("POST", "/v1/knowledge/mine"),
        ("DELETE", "/v1/customers/cust-own"),
        ("POST", "/v1/conversations/own-1/messages"),
        ("GET", "/v1/tenants"),
        ("GET", "/v1/plugins"),
        ("GET", "/metrics"),
    ] {
        let (status, body) = match method {
            "GET" => env.get(path, &li),
            "PUT" => env.put(path, &li, &json!({})),
            "DELETE" => env.request(axum::http::Method::DELETE, path, Some(&li), None, ""),
            _ => env.post(path, &li, &json!({})),
        };
        assert_error(status, &body, 403, "forbidden");
        assert!(
            !body["error"]["message"].as_str().unwrap().is_empty(),
            "{method} {path}: {body}"
        );
    }
    // The admin key is no agent: it cannot claim or reply as one.
    let (status, body) = env.post("/v1/conversations/own-1/claim", DEMO_KEY, &json!({}));
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = env.post(
        "/v1/conversations/own-1/replies",
        DEMO_KEY,
        &json!({"text": "hi"}),
    );
    assert_error(status, &body, 403, "forbidden");
    // The operator key acts for no tenant.
    let (status, body) = env.get("/v1/conversations", OPERATOR_KEY);
    assert_error(status, &body, 403, "forbidden");

    // Another tenant's agent sees nothing of the demo tenant.
    let acme = env.create_tenant("acme");
    let (status, body) = env.post(
        "/v1/agents",
        &acme,
        &json!({"id": "li.na", "name": "Li Na of Acme", "skills": ["general"], "capacity": 3}),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = env.post("/v1/agents/li.na/key", &acme, &json!({}));
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let acme_li = body["key"].as_str().unwrap().to_string();
    let (status, body) = env.get("/v1/conversations/own-1", &acme_li);
    assert_error(status, &body, 404, "not_found");
    let (_, list) = env.get("/v1/conversations", &acme_li);
    assert_eq!(list["conversations"], json!([]), "{list}");
    for path in ["claim", "resolve"] {
        let (status, body) = env.post(
            &format!("/v1/conversations/own-1/{path}"),
            &acme_li,
            &json!({}),
        );
        assert_error(status, &body, 404, "not_found");
    }
    let (status, body) = env.post(
        "/v1/conversations/own-1/notes",
        &acme_li,
        &json!({"text": "peek"}),
    );
    assert_error(status, &body, 404, "not_found");
    assert_eq!(authors(&view(&env, "own-1")), ["customer", "bot", "system"]);

    // A new key replaces the agent's old one.
    let li_again = agent_key(&env, "li.na");
    let (status, body) = env.get("/v1/me", &li);
    assert_error(status, &body, 401, "unauthorized");
    let (status, me) = env.get("/v1/me", &li_again);
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["id"], "li.na");
    assert_eq!(me["load"], 1);
    // A key for an agent that does not exist is refused.
    let (status, body) = env.post("/v1/agents/nobody/key", DEMO_KEY, &json!({}));
    assert_error(status, &body, 404, "not_found");
}

#[test]
fn capacity_is_respected_by_claims_and_transfers_at_its_exact_bound() {
    let env = TestEnv::demo();
    everyone_away(&env);
    // emma.stone: capacity 4, online only to claim.
    let emma = agent_key(&env, "emma.stone");
    set_status(&env, "li.na", "away");
    for i in 0..5 {
        waiting_refund(&env, &format!("cap-{i}"), &format!("cust-cap-{i}"));
    }
    for i in 0..4 {
        let (status, body) = env.post(
            &format!("/v1/conversations/cap-{i}/claim"),
            &emma,
            &json!({}),
        );
        assert_eq!(status, StatusCode::OK, "claim {i} of 4: {body}");
    }
    assert_eq!(load(&env, "emma.stone"), 4);
    // One over: refused, nothing changes.
    let (status, body) = env.post("/v1/conversations/cap-4/claim", &emma, &json!({}));
    assert_error(status, &body, 409, "conflict");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("capacity"),
        "{body}"
    );
    assert_eq!(view(&env, "cap-4")["conversation"]["status"], "waiting");
    assert_eq!(load(&env, "emma.stone"), 4);
    // Transfer to a full agent: refused, the conversation stays where it was.
    let li = agent_key(&env, "li.na");
    set_status(&env, "li.na", "online");
    // li.na came online with room: the oldest waiting refund went to her.
    assert_eq!(
        view(&env, "cap-4")["conversation"]["assigned_agent"],
        "li.na"
    );
    let (status, body) = env.post(
        "/v1/conversations/cap-4/transfer",
        &li,
        &json!({"to": {"agent": "emma.stone"}, "note": "she knows this customer"}),
    );
    assert_error(status, &body, 409, "conflict");
    let stored = view(&env, "cap-4");
    assert_eq!(stored["conversation"]["assigned_agent"], "li.na");
    assert_eq!(load(&env, "li.na"), 1);
    // Once emma resolves one, the transfer goes through and the note stays private.
    let (status, body) = env.post("/v1/conversations/cap-0/resolve", &emma, &json!({}));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "resolved");
    let (status, body) = env.post(
        "/v1/conversations/cap-4/transfer",
        &li,
        &json!({"to": {"agent": "emma.stone"}, "note": "she knows this customer"}),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["assigned_agent"], "emma.stone");
    assert_eq!((load(&env, "li.na"), load(&env, "emma.stone")), (0, 4));
    let stored = view(&env, "cap-4");
    let note = stored["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["private"] == true)
        .unwrap_or_else(|| panic!("{stored}"));
    assert_eq!(note["text"], "she knows this customer");
    assert_eq!(note["agent_id"], "li.na");
}

#[test]
fn going_offline_hands_back_and_coming_online_takes_the_most_urgent_longest_waiting() {
    let env = TestEnv::demo();
    everyone_away(&env);
    let li = agent_key(&env, "li.na");
    // Three refunds wait; the second is a VIP's (higher priority).
    waiting_refund(&env, "off-1", "cust-off-1");
    let vip = env.send(
        "off-2",
        "我要退款，订单号 2024113012346",
        "cust-off-2",
        "vip",
    );
    assert_eq!(vip["route"]["to"], "queue", "{vip}");
    waiting_refund(&env, "off-3", "cust-off-3");
    let (status, body) = env.put("/v1/me/status", &li, &json!({"status": "online"}));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "online");
    // li.na serves after-sales (not VIP): by the router's rules she takes
    // the standard refunds, oldest first, up to her capacity (5).
    let holder = |c: &str| view(&env, c)["conversation"]["assigned_agent"].clone();
    assert_eq!(holder("off-1"), "li.na");
    assert_eq!(holder("off-3"), "li.na");
    assert_eq!(load(&env, "li.na"), 2);
    // The VIP's refund needs a VIP agent; zhao.min comes online and takes it.
    set_status(&env, "zhao.min", "online");
    assert_eq!(holder("off-2"), "zhao.min");

    // li.na goes offline: her conversations go back to their queue and
    // to whoever has room there (nobody: they wait).
    let (status, body) = env.put("/v1/me/status", &li, &json!({"status": "offline"}));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["load"], 0);
    for c in ["off-1", "off-3"] {
        let stored = view(&env, c);
        assert_eq!(stored["conversation"]["status"], "waiting", "{stored}");
        assert_eq!(stored["conversation"]["queue"], "after-sales");
        assert!(stored["conversation"]["assigned_agent"].is_null());
        let last = stored["messages"]
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .clone();
        assert_eq!(last["action"], "returned", "{stored}");
    }
    // emma.stone (after-sales) comes online: both go to her, oldest first.
    set_status(&env, "emma.stone", "online");
    assert_eq!(holder("off-1"), "emma.stone");
    assert_eq!(holder("off-3"), "emma.stone");
    // An offline agent claims nothing.
    let (status, body) = env.post("/v1/conversations/off-1/claim", &li, &json!({}));
    assert_error(status, &body, 409, "conflict");
    let (status, body) = env.put("/v1/me/status", &li, &json!({"status": "asleep"}));
    assert_eq!(status.as_u16(), 400, "{body}");
}

#[test]
fn resolving_frees_the_agent_and_the_customer_writing_again_reopens() {
    let env = TestEnv::demo();
    everyone_away(&env);
    let li = agent_key(&env, "li.na");
    waiting_refund(&env, "re-1", "cust-re");
    env.post("/v1/conversations/re-1/claim", &li, &json!({}));
    let (status, body) = env.post("/v1/conversations/re-1/resolve", &li, &json!({}));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "resolved");
    assert_eq!(body["resolved_by"], "li.na");
    assert!(body["assigned_agent"].is_null());
    assert_eq!(load(&env, "li.na"), 0);
    let (status, body) = env.post("/v1/conversations/re-1/resolve", &li, &json!({}));
    assert_error(status, &body, 409, "conflict");
    // Nobody owns it: the agent cannot reply any more.
    let (status, body) = env.post(
        "/v1/conversations/re-1/replies",
        &li,
        &json!({"text": "one more"}),
    );
    assert_error(status, &body, 409, "conflict");
    // The customer writes again: reopened, and the bot may answer again.
    let r = env.send("re-1", "你好，再问一下怎么开发票", "cust-re", "standard");
    assert_eq!(r["route"]["to"], "bot", "{r}");
    assert!(r["reply"].is_string(), "{r}");
    let stored = view(&env, "re-1");
    assert_eq!(stored["conversation"]["status"], "reopened");
    assert_eq!(stored["conversation"]["last_agent"], "li.na");
    // Closing by hand, then closing again, is fine; the admin may do it.
    let (status, body) = env.post("/v1/conversations/re-1/close", DEMO_KEY, &json!({}));
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "closed");
    let (status, body) = env.post("/v1/conversations/re-1/close", DEMO_KEY, &json!({}));
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[test]
fn bad_desk_input_gets_a_clear_4xx_and_stores_nothing() {
    let env = TestEnv::demo();
    everyone_away(&env);
    let li = agent_key(&env, "li.na");
    waiting_refund(&env, "bad-1", "cust-bad");
    // Reply before claiming: nobody owns it.
    let (status, body) = env.post(
        "/v1/conversations/bad-1/replies",
        &li,
        &json!({"text": "hi"}),
    );
    assert_error(status, &body, 409, "conflict");
    env.post("/v1/conversations/bad-1/claim", &li, &json!({}));
    let before = authors(&view(&env, "bad-1"));
    let limit = 8 * 1024;
    for (path, body, expected, code) in [
        ("replies", json!({"text": "   "}), 422, "unprocessable"),
        (
            "replies",
            json!({"text": "字".repeat(limit / 3 + 1)}),
            422,
            "unprocessable",
        ),
        (
            "replies",
            json!({"text": "hi", "extra": 1}),
            400,
            "bad_request",
        ),
        ("replies", json!({}), 400, "bad_request"),
        ("notes", json!({"text": ""}), 422, "unprocessable"),
        ("transfer", json!({"to": {"team": "x"}}), 400, "bad_request"),
        (
            "transfer",
            json!({"to": {"queue": "../etc"}}),
            422,
            "unprocessable",
        ),
        (
            "transfer",
            json!({"to": {"agent": "nobody"}}),
            404,
            "not_found",
        ),
    ] {
        let (status, answer) = env.post(&format!("/v1/conversations/bad-1/{path}"), &li, &body);
        assert_error(status, &answer, expected, code);
    }
    for (path, body) in [
        ("replies", json!({"text": "x"})),
        ("claim", json!({})),
        ("notes", json!({"text": "x"})),
        ("resolve", json!({})),
    ] {
        let (status, answer) = env.post(&format!("/v1/conversations/no-such/{path}"), &li, &body);
        assert_error(status, &answer, 404, "not_found");
    }
    assert_eq!(authors(&view(&env, "bad-1")), before, "nothing stored");
    // At the size limit exactly, a reply passes.
    let (status, body) = env.post(
        "/v1/conversations/bad-1/replies",
        &li,
        &json!({"text": "a".repeat(limit)}),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = env.post(
        "/v1/conversations/bad-1/replies",
        &li,
        &json!({"text": "a".repeat(limit + 1)}),
    );
    assert_error(status, &body, 422, "unprocessable");
    // List parameters.
    for query in [
        "status=sleeping",
        "order=random",
        "limit=0",
        "limit=501",
        "agent=me",
        "queue=a/b",
    ] {
        let (status, body) = env.get(&format!("/v1/conversations?{query}"), DEMO_KEY);
        assert!(status.is_client_error(), "{query}: {status} {body}");
        assert!(
            !body["error"]["message"].as_str().unwrap().is_empty(),
            "{query}"
        );
    }
}

#[test]
fn conversations_are_listed_by_status_queue_agent_and_customer_in_pages() {
    let env = TestEnv::demo();
    everyone_away(&env);
    let li = agent_key(&env, "li.na");
    // Routine questions stay with the bot; refunds wait; two are claimed.
    env.send("list-bot-1", "你们几点发货", "cust-l1", "standard");
    env.send("list-bot-2", "do you ship to canada", "cust-l2", "standard");
    for i in 0..5 {
        waiting_refund(&env, &format!("list-wait-{i}"), &format!("cust-w{i}"));
    }
    for i in [1, 3] {
        env.post(
            &format!("/v1/conversations/list-wait-{i}/claim"),
            &li,
            &json!({}),
        );
    }
    let list = |query: &str| -> Vec<String> {
        let (status, body) = env.get(&format!("/v1/conversations?{query}"), &li);
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        body["conversations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        list("status=waiting&order=longest_waiting"),
        ["list-wait-0", "list-wait-2", "list-wait-4"]
    );
    assert_eq!(
        list("status=waiting"),
        ["list-wait-4", "list-wait-2", "list-wait-0"],
        "newest first by default"
    );
    assert_eq!(
        list("agent=me&order=longest_waiting"),
        ["list-wait-1", "list-wait-3"]
    );
    assert_eq!(list("status=assigned,waiting&queue=after-sales").len(), 5);
    assert_eq!(list("customer=cust-l2"), ["list-bot-2"]);
    assert_eq!(list("status=bot").len(), 2);
    assert_eq!(list("status=resolved"), Vec::<String>::new());
    // Pages join up to the whole list, each at most `limit` long.
    let whole = list("limit=500");
    assert_eq!(whole.len(), 7);
    assert_eq!(whole.iter().collect::<HashSet<_>>().len(), 7);
    let mut paged = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..20 {
        let url = match &after {
            Some(a) => format!("/v1/conversations?limit=3&after={a}"),
            None => "/v1/conversations?limit=3".to_string(),
        };
        let (_, page) = env.get(&url, &li);
        let items = page["conversations"].as_array().unwrap();
        assert!(items.len() <= 3);
        paged.extend(items.iter().map(|c| c["id"].as_str().unwrap().to_string()));
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => break,
        }
    }
    assert_eq!(paged, whole);
    // A row says enough for a desk: status, queue, agent, priority, wait, preview.
    let (_, body) = env.get("/v1/conversations?status=assigned&limit=1", &li);
    let row = &body["conversations"][0];
    assert_eq!(row["status"], "assigned");
    assert_eq!(row["agent"], "li.na");
    assert_eq!(row["queue"], "after-sales");
    assert_eq!(row["intent"], "refund");
    assert!(
        row["preview"].as_str().unwrap().contains("agent li.na"),
        "{row}"
    );
}

fn outcomes(env: &TestEnv) -> Vec<Value> {
    let (status, body) = env.get("/v1/suggestion-outcomes", DEMO_KEY);
    assert_eq!(status, StatusCode::OK, "{body}");
    body["outcomes"].as_array().unwrap().clone()
}

#[test]
fn replies_from_suggestions_are_accepted_or_edited_and_dismissals_are_kept() {
    let env = TestEnv::demo();
    everyone_away(&env);
    let li = agent_key(&env, "li.na");
    waiting_refund(&env, "sg-1", "cust-sg");
    env.post("/v1/conversations/sg-1/claim", &li, &json!({}));
    let r = env.send("sg-1", "退款多久能到账？", "cust-sg", "standard");
    let message_id = r["message_id"].as_str().unwrap();
    let suggestions = r["suggestions"].as_array().unwrap().clone();
    assert!(suggestions.len() >= 3, "{r}");
    for (n, s) in suggestions.iter().enumerate() {
        assert_eq!(s["id"], format!("{message_id}.{n}"), "{s}");
    }
    // The plugin version that made each one is kept (the withheld bot
    // answer is the host's).
    let from_assistant = suggestions
        .iter()
        .find(|s| s["plugin"] == "assistant@0.1.0")
        .unwrap_or_else(|| panic!("{r}"));
    assert!(from_assistant["version_id"].as_u64().is_some());
    let replies: Vec<&Value> = suggestions
        .iter()
        .filter(|s| s["kind"] == "reply")
        .collect();
    assert!(replies.len() >= 2, "{suggestions:#?}");

    // Sent as suggested (whitespace aside): accepted.
    let first = replies[0];
    let (status, body) = env.post(
        "/v1/conversations/sg-1/replies",
        &li,
        &json!({"text": format!("  {} ", first["text"].as_str().unwrap()), "suggestion_id": first["id"]}),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Changed: edited, with how much.
    let second = replies[1];
    let edited = format!("{}（已为您加急）", second["text"].as_str().unwrap());
    let (status, reply) = env.post(
        "/v1/conversations/sg-1/replies",
        &li,
        &json!({"text": edited, "suggestion_id": second["id"]}),
    );
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    // Set aside: dismissed.
    let article = suggestions.iter().find(|s| s["kind"] == "article").unwrap();
    let (status, body) = env.post(
        &format!(
            "/v1/conversations/sg-1/suggestions/{}/dismiss",
            article["id"].as_str().unwrap()
        ),
        &li,
        &json!({}),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let recorded = outcomes(&env);
    assert_eq!(recorded.len(), 3, "{recorded:#?}");
    let by_id = |id: &Value| {
        recorded
            .iter()
            .find(|o| &o["suggestion_id"] == id)
            .unwrap()
            .clone()
    };
    let accepted = by_id(&first["id"]);
    assert_eq!(accepted["outcome"], "accepted");
    assert_eq!(accepted["edit_distance"], 0);
    assert_eq!(accepted["agent"], "li.na");
    assert_eq!(accepted["shown"], true);
    let changed = by_id(&second["id"]);
    assert_eq!(changed["outcome"], "edited");
    assert_eq!(changed["edit_distance"], "（已为您加急）".chars().count());
    assert_eq!(changed["reply_id"], reply["id"]);
    assert_eq!(changed["kind"], "reply");
    let dismissed = by_id(&article["id"]);
    assert_eq!(dismissed["outcome"], "dismissed");
    assert_eq!(dismissed["article_id"], article["article_id"]);
    assert_eq!(dismissed["plugin"], article["plugin"]);

    // Suggestion ids are checked: unknown, another conversation's, malformed.
    waiting_refund(&env, "sg-2", "cust-sg2");
    env.post("/v1/conversations/sg-2/claim", &li, &json!({}));
    for id in [
        format!("{message_id}.99"),
        "m-ffffff.0".to_string(),
        "nodot".to_string(),
    ] {
        let (status, body) = env.post(
            "/v1/conversations/sg-2/replies",
            &li,
            &json!({"text": "hello", "suggestion_id": id}),
        );
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}: {body}");
    }
    // Using sg-1's suggestion in sg-2 is refused too.
    let (status, body) = env.post(
        "/v1/conversations/sg-2/replies",
        &li,
        &json!({"text": "hello", "suggestion_id": first["id"]}),
    );
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(
        outcomes(&env).len(),
        3,
        "nothing recorded for refused replies"
    );
}

#[test]
fn on_an_agents_no_assist_day_suggestions_are_compared_not_shown() {
    let env = TestEnv::demo();
    everyone_away(&env);
    let li = agent_key(&env, "li.na");
    let today = switchyard::conversations::suggestions::day_of_month(switchyard::model::now_ms());
    let (_, mut settings) = env.get("/v1/settings", DEMO_KEY);
    settings["no_assist_days"] = json!({"li.na": today});
    let (status, body) = env.put("/v1/settings", DEMO_KEY, &settings);
    assert_eq!(status, StatusCode::OK, "{body}");
    waiting_refund(&env, "na-1", "cust-na");
    env.post("/v1/conversations/na-1/claim", &li, &json!({}));
    let r = env.send("na-1", "退款多久能到账？", "cust-na", "standard");
    assert!(
        !r["suggestions"].as_array().unwrap().is_empty(),
        "still made: {r}"
    );
    // li.na sees none today; the tenant's key sees them.
    let (_, seen) = env.get("/v1/conversations/na-1", &li);
    assert_eq!(seen["no_assist_today"], true);
    for entry in seen["messages"].as_array().unwrap() {
        if entry["author"] == "customer" {
            assert_eq!(entry["decision"]["suggestions"], json!([]), "{entry}");
        }
    }
    let (_, admin) = env.get("/v1/conversations/na-1", DEMO_KEY);
    assert!(admin.get("no_assist_today").is_none());
    let last = admin["messages"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        !last["decision"]["suggestions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Her own reply is compared with the best reply suggestion, unseen.
    let (status, body) = env.post(
        "/v1/conversations/na-1/replies",
        &li,
        &json!({"text": "退款一般三到五个工作日原路退回。"}),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let recorded = outcomes(&env);
    assert_eq!(recorded.len(), 1, "{recorded:#?}");
    assert_eq!(recorded[0]["shown"], false);
    assert_eq!(recorded[0]["outcome"], "edited");
    assert!(recorded[0]["edit_distance"].as_u64().unwrap() > 0);
    // Other agents still see suggestions; a bad day is refused.
    settings["no_assist_days"] = json!({"li.na": 32});
    let (status, body) = env.put("/v1/settings", DEMO_KEY, &settings);
    assert_eq!(status.as_u16(), 422, "{body}");
    settings["no_assist_days"] = json!({"li.na": 0});
    assert_eq!(env.put("/v1/settings", DEMO_KEY, &settings).0.as_u16(), 422);
    settings["no_assist_days"] = json!({"li.na": 31});
    assert_eq!(
        env.put("/v1/settings", DEMO_KEY, &settings).0,
        StatusCode::OK
    );
}

/// "AI accuracy as agents judge it" needs agents to say when an intent was
/// wrong: the correction is kept beside the decision (which stays as the
/// plugins made it), announced on the event stream, undone by naming the
/// classifier's own intent, and out of reach of another tenant.
#[test]
fn an_agent_corrects_a_message_s_intent_and_the_decision_stays_as_made() {
    let env = TestEnv::demo();
    let r = env.send("fix-1", "我想问一下发票的事情", "c-fix", "standard");
    let message_id = r["message_id"].as_str().unwrap().to_string();
    let original = r["intent"]["name"].as_str().unwrap().to_string();
    let (status, issued) = env.post("/v1/agents/li.na/key", DEMO_KEY, &json!({}));
    assert_eq!(status, StatusCode::CREATED);
    let li = issued["key"].as_str().unwrap().to_string();
    let path = format!("/v1/conversations/fix-1/messages/{message_id}/intent");
    let corrected = if original == "refund" {
        "invoice"
    } else {
        "refund"
    };

    let (status, record) = env.put(&path, &li, &json!({"intent": corrected}));
    assert_eq!(status, StatusCode::OK, "{record}");
    assert_eq!(record["correction"]["intent"], corrected);
    assert_eq!(record["correction"]["was"], original.as_str());
    assert_eq!(record["correction"]["by"], "li.na");
    assert_eq!(
        record["decision"]["intent"]["name"],
        original.as_str(),
        "the decision stays"
    );
    let stored = view(&env, "fix-1");
    let message = stored["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == message_id.as_str())
        .unwrap();
    assert_eq!(message["correction"]["intent"], corrected, "{message}");

    // Announced, from what it was to what it is, by whom.
    let base = env.serve();
    let stream = switchyard_e2e::SseClient::connect(&base, "/v1/events?after=0", DEMO_KEY, None);
    let events = stream.take(50, std::time::Duration::from_secs(3));
    let announced = events
        .iter()
        .find(|e| e.event == "message.corrected")
        .unwrap_or_else(|| panic!("no message.corrected event"));
    let data = &announced.data;
    assert_eq!(data["detail"]["from"], original.as_str());
    assert_eq!(data["detail"]["to"], corrected);
    assert_eq!(data["detail"]["by"], "li.na");
    drop(stream);

    // The classifier's own intent takes the correction away.
    let (status, record) = env.put(&path, DEMO_KEY, &json!({"intent": original}));
    assert_eq!(status, StatusCode::OK);
    assert!(record.get("correction").is_none(), "{record}");

    // Refusals, each storing nothing.
    for (path, key, body, expected) in [
        (
            path.clone(),
            DEMO_KEY.to_string(),
            json!({"intent": "not an id!"}),
            422,
        ),
        (
            path.clone(),
            DEMO_KEY.to_string(),
            json!({"intent": "refund", "extra": 1}),
            400,
        ),
        (
            "/v1/conversations/fix-1/messages/m-999999/intent".to_string(),
            DEMO_KEY.to_string(),
            json!({"intent": "refund"}),
            404,
        ),
        (
            "/v1/conversations/nope/messages/m-1/intent".to_string(),
            DEMO_KEY.to_string(),
            json!({"intent": "refund"}),
            404,
        ),
        (
            path.clone(),
            OPERATOR_KEY.to_string(),
            json!({"intent": "refund"}),
            403,
        ),
    ] {
        let (status, body) = env.put(&path, &key, &body);
        assert_eq!(status.as_u16(), expected, "{path}: {body}");
    }
    let other = env.create_tenant("other");
    let (status, _) = env.put(&path, &other, &json!({"intent": "refund"}));
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another tenant's key finds no such conversation"
    );
    let after = view(&env, "fix-1");
    let message = after["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == message_id.as_str())
        .unwrap();
    assert!(
        message.get("correction").is_none(),
        "a refused correction changed it: {message}"
    );
}
