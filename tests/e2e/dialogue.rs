//! Conversations, not single messages (issue 16): follow-ups read with the
//! conversation they continue, one ticket per problem updated with the facts,
//! the same agent throughout, the bot silent while a person holds the chat,
//! a real change of topic still recognised; routing that keeps customers
//! with their person (repeat contact, language, scarce skills).

use axum::http::StatusCode;
use serde_json::{Value, json};
use switchyard_e2e::*;

fn intent(response: &Value) -> &str {
    response["intent"]["name"].as_str().unwrap()
}

fn agent(response: &Value) -> Option<&str> {
    response["route"]["agent"].as_str()
}

fn route(response: &Value) -> &str {
    response["route"]["to"].as_str().unwrap()
}

fn ticket_action(response: &Value) -> Option<(String, String)> {
    let ticket = &response["ticket"];
    Some((
        ticket["id"].as_str()?.to_string(),
        ticket["action"].as_str()?.to_string(),
    ))
}

/// The customer's tickets, through the API.
fn tickets_of(env: &TestEnv, key: &str, customer: &str) -> Vec<Value> {
    let (status, body) = env.get(&format!("/v1/tickets?customer={customer}"), key);
    assert_eq!(status, StatusCode::OK, "{body}");
    body["tickets"].as_array().unwrap().clone()
}

fn fact_values<'a>(ticket: &'a Value, key: &str) -> Vec<&'a str> {
    ticket["facts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["key"] == key)
        .filter_map(|f| f["value"].as_str())
        .collect()
}

/// A problem, then a fact, then a closing word: one ticket updated with the
/// fact, the same agent, no bot reply once a person holds the chat.
fn problem_fact_thanks(
    conversation: &str,
    customer: &str,
    problem: &str,
    expected: &str,
    fact: &str,
    closing: &str,
) {
    let env = TestEnv::demo();
    let first = env.send(conversation, problem, customer, "standard");
    assert_eq!(intent(&first), expected, "{problem}: {first}");
    assert_eq!(route(&first), "agent", "{first}");
    let held_by = agent(&first).unwrap().to_string();
    let (ticket, action) = ticket_action(&first).expect("a follow-up intent opens a ticket");
    assert_eq!(action, "opened");

    let second = env.send(conversation, fact, customer, "standard");
    assert_eq!(
        intent(&second),
        expected,
        "regression (issue 16): an order number alone was decided as a new conversation: {second}"
    );
    assert_eq!(agent(&second), Some(held_by.as_str()), "{second}");
    assert_eq!(
        ticket_action(&second),
        Some((ticket.clone(), "updated".to_string())),
        "{second}"
    );
    assert!(
        second["reply"].is_null(),
        "the agent answers, not the bot: {second}"
    );
    let reasons = reasons(&second);
    assert!(
        !reasons.contains(&"repeat-contact".to_string()),
        "its own ticket is no repeat contact: {reasons:?}"
    );

    let third = env.send(conversation, closing, customer, "standard");
    assert_eq!(route(&third), "agent", "{third}");
    assert_eq!(agent(&third), Some(held_by.as_str()), "{third}");
    assert!(third["reply"].is_null(), "{third}");
    assert_ne!(
        ticket_action(&third).map(|t| t.1),
        Some("opened".to_string()),
        "{third}"
    );

    let tickets = tickets_of(&env, DEMO_KEY, customer);
    assert_eq!(tickets.len(), 1, "one ticket per problem: {tickets:?}");
    assert_eq!(tickets[0]["id"], ticket.as_str());
    assert_eq!(fact_values(&tickets[0], "order-id"), ["2024113099123"]);

    let (status, view) = env.get(&format!("/v1/conversations/{conversation}"), DEMO_KEY);
    assert_eq!(status, StatusCode::OK, "{view}");
    let state = &view["conversation"]["state"];
    assert_eq!(
        state["holder"],
        json!({"by": "agent", "name": held_by}),
        "{view}"
    );
    assert_eq!(state["ticket_id"], ticket.as_str(), "{view}");
    if intent(&third) == "thanks" {
        assert_eq!(
            state["intent"]["name"], expected,
            "the closing word is no new topic: {view}"
        );
    }
    assert!(
        state["facts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "order-id" && f["value"] == "2024113099123"),
        "{view}"
    );
}

#[test]
fn a_return_then_its_order_number_then_thanks_is_one_ticket_with_one_agent() {
    problem_fact_thanks(
        "return-zh",
        "cust-return-zh",
        "我想退货",
        "return",
        "订单号是2024113099123",
        "好的，谢谢",
    );
}

#[test]
fn the_same_in_english() {
    problem_fact_thanks(
        "return-en",
        "cust-return-en",
        "I want to return the jacket I bought",
        "return",
        "my order number is 2024113099123",
        "ok thanks",
    );
}

#[test]
fn a_damaged_item_then_its_order_number_then_how_long() {
    problem_fact_thanks(
        "damaged-zh",
        "cust-damaged",
        "收到的杯子碎了",
        "damaged_item",
        "订单号 2024113099123",
        "要多久能处理好",
    );
}

#[test]
fn a_late_parcel_then_its_order_number_gets_the_bot_answer_for_that_order() {
    let env = TestEnv::demo();
    let first = env.send("late", "我的快递一周了还没到", "cust-late", "standard");
    assert_eq!(intent(&first), "logistics", "{first}");
    let second = env.send("late", "订单号是2024113099123", "cust-late", "standard");
    assert_eq!(intent(&second), "logistics", "{second}");
    assert_eq!(route(&first), route(&second), "{first}\n{second}");
    if route(&second) == "bot" {
        let reply = second["reply"].as_str().unwrap();
        assert!(reply.contains("2024113099123"), "{reply}");
    } else {
        assert_eq!(agent(&first), agent(&second));
    }
}

#[test]
fn a_change_of_topic_inside_one_conversation_is_a_new_problem_with_the_same_agent() {
    let env = TestEnv::demo();
    let first = env.send(
        "topics",
        "我想退货，订单号2024113099123",
        "cust-topics",
        "standard",
    );
    assert_eq!(intent(&first), "return", "{first}");
    let held_by = agent(&first).unwrap().to_string();
    let second = env.send(
        "topics",
        "另外上个月那笔订单的发票抬头开错了，能重开吗",
        "cust-topics",
        "standard",
    );
    assert_eq!(
        intent(&second),
        "invoice",
        "a real change of topic: {second}"
    );
    assert_eq!(agent(&second), Some(held_by.as_str()), "{second}");
    let tickets = tickets_of(&env, DEMO_KEY, "cust-topics");
    let mut intents: Vec<&str> = tickets
        .iter()
        .filter_map(|t| t["intent"].as_str())
        .collect();
    intents.sort();
    assert_eq!(intents, ["invoice", "return"], "one ticket per problem");
}

#[test]
fn a_banking_double_charge_then_give_me_back_the_second_one_stays_on_the_charge() {
    let env = TestEnv::demo();
    let key = "banking-dialogue-key";
    switchyard::demo::seed_banking(&env.app, key).unwrap();
    let first = env.send_as(
        key,
        "double",
        "I was charged twice for the same coffee this morning",
        "cust-double",
        "standard",
    );
    let charge = intent(&first).to_string();
    assert_ne!(charge, "unknown", "{first}");
    let second = env.send_as(
        key,
        "double",
        "Can you give me back the second one?",
        "cust-double",
        "standard",
    );
    assert_eq!(
        intent(&second),
        charge,
        "regression (issue 16): the follow-up became an account closure: {second}"
    );
    let tickets = tickets_of(&env, key, "cust-double");
    assert!(
        tickets.iter().all(|t| t["intent"] != "terminate_account"),
        "{tickets:?}"
    );
    assert!(tickets.len() <= 1, "{tickets:?}");
}

/// Put an agent of the demo tenant in a status.
fn set_status(env: &TestEnv, id: &str, status: &str) {
    let (code, mut agent) = env.get(&format!("/v1/agents/{id}"), DEMO_KEY);
    assert_eq!(code, StatusCode::OK, "{agent}");
    agent["status"] = json!(status);
    agent.as_object_mut().unwrap().remove("load");
    let (code, body) = env.put(&format!("/v1/agents/{id}"), DEMO_KEY, &agent);
    assert_eq!(code, StatusCode::OK, "{body}");
}

#[test]
fn a_repeat_contact_about_an_open_ticket_goes_to_the_agent_who_handled_it() {
    let env = TestEnv::demo();
    // li.na would take a Chinese refund first; she is away at the first contact.
    set_status(&env, "li.na", "away");
    let first = env.send(
        "refund-1",
        "我要退款，订单号2024113012345",
        "cust-repeat",
        "standard",
    );
    let handler = agent(&first).unwrap().to_string();
    assert_ne!(handler, "li.na");
    set_status(&env, "li.na", "online");
    let (_, closed) = env.post("/v1/conversations/refund-1/close", DEMO_KEY, &json!({}));
    assert_eq!(closed["status"], "closed", "{closed}");
    // Another customer's refund now goes to li.na, the usual choice...
    let other = env.send("refund-other", "我要退款", "cust-other", "standard");
    assert_eq!(agent(&other), Some("li.na"), "{other}");
    // ...but the first customer's next contact goes back to who handled it.
    let again = env.send("refund-2", "退款怎么还没到账", "cust-repeat", "standard");
    assert_eq!(agent(&again), Some(handler.as_str()), "{again}");
    let reason = again["route"]["reason"].as_str().unwrap();
    assert!(reason.contains("who handled open ticket"), "{reason}");
}

#[test]
fn agents_are_matched_to_the_customers_language_and_the_reason_says_when_none_speaks_it() {
    let env = TestEnv::demo();
    let english = env.send(
        "lang-en",
        "I want a refund for my broken headphones",
        "cust-en",
        "standard",
    );
    let agent_id = agent(&english).unwrap();
    let (_, record) = env.get(&format!("/v1/agents/{agent_id}"), DEMO_KEY);
    assert!(
        record["skills"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "en"),
        "{english}\n{record}"
    );
    // Logistics has no English speaker: the reason says so.
    let parcel = env.send(
        "lang-en-2",
        "I want to change the delivery address of my order",
        "cust-en-2",
        "standard",
    );
    if route(&parcel) == "agent" {
        let reason = parcel["route"]["reason"].as_str().unwrap();
        assert!(reason.contains("speaks en"), "{reason}");
    }
    // An order number alone keeps the conversation's language.
    let number = env.send("lang-en", "2024113012345", "cust-en", "standard");
    assert_eq!(agent(&number), Some(agent_id), "{number}");
}

#[test]
fn a_vip_still_finds_the_bilingual_vip_agent_after_a_burst_of_standard_chats() {
    let env = TestEnv::demo();
    // Five Chinese after-sales chats: li.na takes them all (capacity 5),
    // though zhao.min (VIP, bilingual) is less loaded by ratio.
    for n in 0..5 {
        let r = env.send(
            &format!("burst-{n}"),
            "我要退款",
            &format!("burst-cust-{n}"),
            "standard",
        );
        assert_eq!(agent(&r), Some("li.na"), "chat {n}: {r}");
    }
    // Nobody else speaks Chinese in after-sales: the next one overflows to zhao.min.
    let overflow = env.send("burst-5", "我要退款", "burst-cust-5", "standard");
    assert_eq!(agent(&overflow), Some("zhao.min"), "{overflow}");
    // An English-speaking VIP still finds zhao.min, the one bilingual VIP agent.
    let vip = env.send("vip-en", "I need a refund for my order", "vip-cust", "vip");
    assert_eq!(agent(&vip), Some("zhao.min"), "{vip}");
}

/// Issue 16, item 1: the contract grew (`conversation.state`,
/// `knowledge.coverage`) as `switchyard:plugin@0.1.1`; a plugin built
/// against 0.1.0 imports the old interfaces and still links (the host's
/// linker matches imports by semver) and decides.
#[test]
fn a_router_built_against_contract_0_1_0_still_links_and_decides() {
    let env = TestEnv::demo();
    let (status, staged) = env.push_to_lane(
        "demo",
        "route",
        "router",
        "old-router",
        "0.1.0",
        &component("switchyard_fixture_contract_0_1_0"),
        "",
    );
    assert_eq!(status, StatusCode::CREATED, "{staged}");
    let id = staged["id"].as_u64().unwrap();
    env.lifecycle("demo", "route", id, "activate");
    env.send("old-1", "我想退货", "old-cust", "standard");
    let second = env.send("old-1", "订单号是2024113099123", "old-cust", "standard");
    let reason = second["route"]["reason"].as_str().unwrap();
    assert_eq!(
        reason, "contract 0.1.0 router: 1 earlier messages, agent None, intent return",
        "{second}"
    );
    let routers = trace_of(&second, "route");
    assert_eq!(routers[0]["outcome"], "ok", "{second}");
    assert_eq!(routers[0]["plugin"], "old-router", "{second}");
}

/// The tenant's `not_topics` (intents that never become a conversation's
/// topic) at their bound: 100 pass, 101 are refused, and a malformed name is
/// refused with what is wrong; a refused change keeps the settings.
#[test]
fn not_topics_are_bounded_and_checked() {
    let env = TestEnv::demo();
    let (_, before) = env.get("/v1/settings", DEMO_KEY);
    assert_eq!(
        before["not_topics"],
        json!([
            "unknown",
            "out_of_scope",
            "greeting",
            "thanks",
            "human_agent"
        ])
    );
    let names = |n: usize| -> Vec<String> { (0..n).map(|i| format!("intent_{i}")).collect() };
    let mut settings = before.clone();
    settings["not_topics"] = json!(names(100));
    let (status, body) = env.put("/v1/settings", DEMO_KEY, &settings);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["not_topics"].as_array().unwrap().len(), 100);
    settings["not_topics"] = json!(names(101));
    let (status, body) = env.put("/v1/settings", DEMO_KEY, &settings);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 100"),
        "{body}"
    );
    settings["not_topics"] = json!(["thanks", "bad name with spaces"]);
    let (status, body) = env.put("/v1/settings", DEMO_KEY, &settings);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, after) = env.get("/v1/settings", DEMO_KEY);
    assert_eq!(
        after["not_topics"].as_array().unwrap().len(),
        100,
        "{after}"
    );
}
