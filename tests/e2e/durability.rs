//! Acknowledged writes survive a restart (in-process: the database is closed
//! and opened again; `host/tests/cli.rs` does it with SIGKILL on the real binary).

use switchyard::runtime::Limits;
use switchyard_e2e::{DEMO_KEY, TestEnv};

#[test]
fn messages_tickets_and_bindings_survive_a_restart() {
    let env = TestEnv::demo();
    let r = env.send(
        "durable",
        "我要退款，订单号 2024113012345",
        "cust-d",
        "standard",
    );
    let message_id = r["message_id"].as_str().unwrap().to_string();
    let ticket_id = r["ticket"]["id"].as_str().unwrap().to_string();
    let dir = env.shutdown();

    let env = TestEnv::open(dir, Limits::default());
    let (status, conversation) = env.get("/v1/conversations/durable", DEMO_KEY);
    assert_eq!(status, 200);
    let messages: Vec<&serde_json::Value> = conversation["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["author"] == "customer")
        .collect();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["id"], message_id.as_str());
    assert_eq!(messages[0]["decision"]["intent"]["name"], "refund");
    let (status, ticket) = env.get(&format!("/v1/tickets/{ticket_id}"), DEMO_KEY);
    assert_eq!(status, 200, "{ticket}");
    // Bindings came back too: the restarted host decides with the same plugins.
    let again = env.send("durable", "转人工", "cust-d", "standard");
    assert_eq!(again["intent"]["name"], "human_agent");
    assert_eq!(
        again["trace"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["outcome"] == "ok")
            .count(),
        6
    );
}
