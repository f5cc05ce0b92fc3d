//! The whole loop over HTTP, in Chinese and in English: the bot answers a
//! routine question; the customer asks for a person; the conversation
//! waits in the right queue; an agent claims it and gets the handoff
//! context (with the order number said three messages earlier); the agent
//! replies from a suggestion, edited; the bot stays silent on the
//! customer's next message while the agent still gets suggestions; the
//! agent resolves; the survey reaches the channel's webhook (a real
//! receiver checking the signature); the customer answers 2; a follow-up
//! ticket appears for the supervisors.

use std::time::Duration;

use serde_json::{Value, json};
use switchyard::conversations::outbox::{self, DeliveryPolicy};
use switchyard_e2e::{DEMO_KEY, TestEnv};

use crate::desk::{agent_key, everyone_away};
use crate::receiver::Receiver;

struct Journey<'a> {
    conversation: &'a str,
    customer: &'a str,
    order: &'a str,
    agent: &'a str,
    /// Said in order: a routine question with the order number (the bot
    /// answers), a refund, asking for a person.
    messages: [&'a str; 3],
    follow_up: &'a str,
    rating: &'a str,
    question_word: &'a str,
}

fn run(journey: &Journey) {
    let env = TestEnv::demo();
    let secret = "whsec-journey-0123456789";
    let receiver = Receiver::start(secret);
    let (status, body) = env.put(
        "/v1/channel",
        DEMO_KEY,
        &json!({"url": receiver.url, "secret": secret}),
    );
    assert_eq!(status, 200, "{body}");
    let _delivery = outbox::start(
        env.app.clone(),
        DeliveryPolicy {
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            allow_private: true,
            ..Default::default()
        },
    );
    everyone_away(&env);
    let key = agent_key(&env, journey.agent);
    let send = |text: &str| env.send(journey.conversation, text, journey.customer, "standard");

    // A routine question, with the order number: the bot answers.
    let routine = send(journey.messages[0]);
    assert_eq!(routine["route"]["to"], "bot", "{routine}");
    assert!(routine["reply"].is_string(), "{routine}");
    // A refund, then asking for a person: it waits in after-sales.
    let refund = send(journey.messages[1]);
    assert_eq!(refund["route"]["queue"], "after-sales", "{refund}");
    let person = send(journey.messages[2]);
    assert_eq!(person["route"]["to"], "queue", "{person}");
    assert_eq!(person["route"]["queue"], "after-sales", "{person}");
    let (_, waiting) = env.get("/v1/conversations?status=waiting&queue=after-sales", &key);
    assert_eq!(
        waiting["conversations"][0]["id"], journey.conversation,
        "{waiting}"
    );

    // The agent claims it and reads the handoff context in one call.
    let (status, claimed) = env.post(
        &format!("/v1/conversations/{}/claim", journey.conversation),
        &key,
        &json!({}),
    );
    assert_eq!(status, 200, "{claimed}");
    let (status, handoff) = env.get(
        &format!("/v1/conversations/{}/handoff", journey.conversation),
        &key,
    );
    assert_eq!(status, 200, "{handoff}");
    let facts = handoff["facts"].as_array().unwrap();
    let order = facts
        .iter()
        .find(|f| f["kind"] == "order-id")
        .unwrap_or_else(|| panic!("{handoff:#}"));
    assert_eq!(order["value"], journey.order);
    assert_eq!(
        order["message_id"], handoff["history"][0]["id"],
        "said in the first message"
    );
    assert!(
        handoff["summary"].as_str().unwrap().contains(journey.order),
        "{handoff:#}"
    );
    assert_eq!(handoff["customer"]["id"], journey.customer);
    assert_eq!(handoff["customer"]["tier"], "standard");
    assert!(
        !handoff["customer"]["open_tickets"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        handoff["escalation_reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["code"] == "asked-for-human"),
        "{handoff:#}"
    );
    let history_authors: Vec<&str> = handoff["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["author"].as_str().unwrap())
        .collect();
    assert_eq!(
        history_authors.iter().filter(|a| **a == "customer").count(),
        3
    );
    let suggested = handoff["suggested_reply"].clone();
    assert!(suggested["id"].is_string(), "{handoff:#}");

    // The agent replies from the suggestion, edited.
    let edited = format!(
        "{}{}",
        suggested["text"].as_str().unwrap(),
        journey.follow_up
    );
    let (status, reply) = env.post(
        &format!("/v1/conversations/{}/replies", journey.conversation),
        &key,
        &json!({"text": edited, "suggestion_id": suggested["id"]}),
    );
    assert_eq!(status, 201, "{reply}");
    let (_, outcomes) = env.get("/v1/suggestion-outcomes", DEMO_KEY);
    let outcome = &outcomes["outcomes"][0];
    assert_eq!(outcome["outcome"], "edited", "{outcomes}");
    assert_eq!(outcome["agent"], journey.agent);
    assert_eq!(outcome["edit_distance"], journey.follow_up.chars().count());

    // The customer writes again: the bot is silent, the agent gets suggestions.
    let next = send(journey.question_word);
    assert!(next["reply"].is_null(), "{next}");
    assert!(
        !next["suggestions"].as_array().unwrap().is_empty(),
        "{next}"
    );
    let (_, view) = env.get(&format!("/v1/conversations/{}", journey.conversation), &key);
    let last = view["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last["author"], "customer",
        "no bot entry after it: {view:#}"
    );

    // Resolved: the summary is kept; the survey goes to the channel.
    let (status, resolved) = env.post(
        &format!("/v1/conversations/{}/resolve", journey.conversation),
        &key,
        &json!({}),
    );
    assert_eq!(status, 200, "{resolved}");
    assert!(
        resolved["summary"]["text"]
            .as_str()
            .unwrap()
            .contains(journey.order),
        "{resolved}"
    );
    assert!(
        resolved["summary"]["actions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a.as_str().unwrap().contains(journey.agent)),
        "{resolved}"
    );
    let survey_arrived = receiver.wait_for(Duration::from_secs(10), |got| {
        got.iter().any(|d| {
            d.body["type"] == "survey" && d.body["conversation_id"] == journey.conversation
        })
    });
    assert!(survey_arrived, "{:#?}", receiver.accepted());
    assert_eq!(receiver.bad_signatures(), 0);
    // The agent's reply went out before it, in order.
    let kinds: Vec<(Value, Value)> = receiver
        .accepted()
        .iter()
        .filter(|d| d.body["conversation_id"] == journey.conversation)
        .map(|d| (d.body["type"].clone(), d.body["message"]["author"].clone()))
        .collect();
    let agent_at = kinds.iter().position(|k| k.1 == "agent").unwrap();
    let survey_at = kinds.iter().position(|k| k.0 == "survey").unwrap();
    assert!(agent_at < survey_at, "{kinds:?}");

    // The customer answers 2 in a reply: recorded, and a follow-up ticket.
    let answer = send(journey.rating);
    assert_eq!(answer["intent"]["name"], "survey_answer", "{answer}");
    let (_, after) = env.get(
        &format!("/v1/conversations/{}", journey.conversation),
        DEMO_KEY,
    );
    assert_eq!(after["conversation"]["status"], "resolved");
    let survey = &after["conversation"]["survey"];
    assert_eq!(survey["score"], 2, "{after:#}");
    let ticket_id = survey["follow_up_ticket"].as_str().unwrap();
    let (status, ticket) = env.get(&format!("/v1/tickets/{ticket_id}"), DEMO_KEY);
    assert_eq!(status, 200, "{ticket}");
    assert_eq!(ticket["department"], "supervisors");
    assert_eq!(ticket["intent"], "csat-follow-up");
    assert_eq!(ticket["conversation_id"], journey.conversation);
    assert!(
        ticket["facts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["key"] == "agent" && f["value"] == journey.agent),
        "{ticket}"
    );
    // At most once per resolution: a second answer is refused.
    let (status, body) = env.post(
        &format!("/v1/conversations/{}/survey", journey.conversation),
        DEMO_KEY,
        &json!({"score": 5}),
    );
    assert_eq!(status, 409, "{body}");
}

#[test]
fn the_whole_loop_in_chinese() {
    run(&Journey {
        conversation: "journey-zh",
        customer: "cust-journey-zh",
        order: "2024113012345",
        agent: "li.na",
        messages: [
            "我的快递到哪了？订单号 2024113012345",
            "耳机有杂音，我要退款",
            "转人工",
        ],
        follow_up: "我已为您加急处理。",
        rating: "2",
        question_word: "那退款多久能到账？",
    });
}

#[test]
fn the_whole_loop_in_english() {
    run(&Journey {
        conversation: "journey-en",
        customer: "cust-journey-en",
        order: "2024113012399",
        agent: "emma.stone",
        messages: [
            "Where is my parcel? Order number 2024113012399",
            "The headphones crackle, I want a refund",
            "I want to talk to a human agent",
        ],
        follow_up: " I have escalated it for you.",
        rating: "bad",
        question_word: "How long will the refund take?",
    });
}

#[test]
fn a_survey_is_answered_once_by_api_and_skipped_for_excluded_topics() {
    let env = TestEnv::demo();
    everyone_away(&env);
    let li = agent_key(&env, "li.na");
    for c in ["sv-1", "sv-2"] {
        let r = env.send(
            c,
            "我要退款，订单号 2024113012345",
            &format!("cust-{c}"),
            "standard",
        );
        assert_eq!(r["route"]["to"], "queue", "{r}");
        env.post(&format!("/v1/conversations/{c}/claim"), &li, &json!({}));
    }
    env.post("/v1/conversations/sv-1/resolve", &li, &json!({}));
    // Bad scores are refused; 1 to 5 at the bounds are taken.
    for score in [0, 6] {
        let (status, body) = env.post(
            "/v1/conversations/sv-1/survey",
            DEMO_KEY,
            &json!({"score": score}),
        );
        assert_eq!(status.as_u16(), 422, "{score}: {body}");
    }
    let (status, body) = env.post(
        "/v1/conversations/sv-1/survey",
        DEMO_KEY,
        &json!({"score": 5, "comment": "很快"}),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["survey"]["score"], 5);
    assert!(
        body["survey"]["follow_up_ticket"].is_null(),
        "no follow-up for a 5"
    );
    // A reply that is a rating after the answer reopens nothing special:
    // it is a new message (the survey is answered).
    let r = env.send("sv-1", "5", "cust-sv-1", "standard");
    assert_ne!(r["intent"]["name"], "survey_answer", "{r}");
    // Excluded topic: no survey at all.
    let (_, mut settings) = env.get("/v1/settings", DEMO_KEY);
    settings["survey"] = json!({"skip_intents": ["refund"]});
    let (status, body) = env.put("/v1/settings", DEMO_KEY, &settings);
    assert_eq!(status, 200, "{body}");
    let (_, resolved) = env.post("/v1/conversations/sv-2/resolve", &li, &json!({}));
    assert!(resolved["survey"].is_null(), "{resolved}");
    let (status, body) = env.post(
        "/v1/conversations/sv-2/survey",
        DEMO_KEY,
        &json!({"score": 1}),
    );
    assert_eq!(status, 409, "{body}");
    // Settings are checked at their bounds.
    for (days, ok) in [(1, true), (3650, true), (0, false), (3651, false)] {
        let mut with = settings.clone();
        with["survey"] = json!({});
        with["event_retention_days"] = json!(days);
        let (status, body) = env.put("/v1/settings", DEMO_KEY, &with);
        assert_eq!(
            status.is_success(),
            ok,
            "event_retention_days {days}: {body}"
        );
    }
    for (survey, ok) in [
        (json!({"window_hours": 720}), true),
        (json!({"window_hours": 721}), false),
        (json!({"window_hours": 0}), false),
        (json!({"follow_up_at_or_below": 6}), false),
        (json!({"skip_intents": ["a/b"]}), false),
    ] {
        settings["survey"] = survey.clone();
        let (status, body) = env.put("/v1/settings", DEMO_KEY, &settings);
        assert_eq!(status.is_success(), ok, "{survey}: {body}");
    }
}

#[test]
fn a_summary_is_sent_when_the_tenant_wants_it_and_resolved_conversations_close_after_the_window() {
    let env = TestEnv::demo();
    everyone_away(&env);
    let li = agent_key(&env, "li.na");
    let (_, mut settings) = env.get("/v1/settings", DEMO_KEY);
    settings["send_summary"] = json!(true);
    let (status, body) = env.put("/v1/settings", DEMO_KEY, &settings);
    assert_eq!(status, 200, "{body}");
    let r = env.send(
        "sum-1",
        "我要退款，订单号 2024113012345",
        "cust-sum",
        "standard",
    );
    assert_eq!(r["route"]["to"], "queue", "{r}");
    env.post("/v1/conversations/sum-1/claim", &li, &json!({}));
    let (status, resolved) = env.post("/v1/conversations/sum-1/resolve", &li, &json!({}));
    assert_eq!(status, 200, "{resolved}");
    let (_, view) = env.get("/v1/conversations/sum-1", DEMO_KEY);
    let entries = view["messages"].as_array().unwrap();
    let summary = entries
        .iter()
        .find(|e| e["action"] == "summary")
        .unwrap_or_else(|| panic!("{view:#}"));
    assert_eq!(summary["author"], "system");
    assert_eq!(summary["private"], false);
    assert_eq!(summary["text"], resolved["summary"]["text"]);
    assert!(summary["text"].as_str().unwrap().contains("2024113012345"));
    // The survey window passed: the sweep closes it (and only it).
    let mut conversation: switchyard::model::Conversation =
        serde_json::from_value(view["conversation"].clone()).unwrap();
    conversation.updated_at_ms -= 25 * 3_600_000;
    if let Some(survey) = conversation.survey.as_mut() {
        survey.open_until_ms -= 25 * 3_600_000;
    }
    // Written back as a restarted server would find it a day later.
    let last = env
        .app
        .storage
        .last_message("demo", "sum-1")
        .unwrap()
        .unwrap();
    env.app
        .storage
        .commit_message(&switchyard::storage::Commit {
            tenant: "demo".into(),
            conversation: Some(conversation),
            message: Some(last),
            ..Default::default()
        })
        .unwrap();
    let r = env.send("sum-2", "你们几点发货", "cust-sum-2", "standard");
    assert!(r["reply"].is_string(), "{r}");
    assert_eq!(env.app.close_expired("demo").unwrap(), 1);
    let (_, view) = env.get("/v1/conversations/sum-1", DEMO_KEY);
    assert_eq!(view["conversation"]["status"], "closed", "{view:#}");
    assert_eq!(env.app.close_expired("demo").unwrap(), 0);
}

#[test]
fn the_survey_reaches_the_channel_after_the_configured_delay() {
    let env = TestEnv::demo();
    everyone_away(&env);
    let li = agent_key(&env, "li.na");
    let (status, body) = env.put(
        "/v1/channel",
        DEMO_KEY,
        &json!({"url": "https://channel.example.com/hook", "secret": "whsec-delay-0123456789"}),
    );
    assert_eq!(status, 200, "{body}");
    let (_, mut settings) = env.get("/v1/settings", DEMO_KEY);
    settings["survey"] = json!({"delay_secs": 600});
    assert_eq!(env.put("/v1/settings", DEMO_KEY, &settings).0, 200);
    env.send(
        "delay-1",
        "我要退款，订单号 2024113012345",
        "cust-delay",
        "standard",
    );
    env.post("/v1/conversations/delay-1/claim", &li, &json!({}));
    let before = switchyard::model::now_ms();
    let (status, resolved) = env.post("/v1/conversations/delay-1/resolve", &li, &json!({}));
    assert_eq!(status, 200, "{resolved}");
    let (_, pending) = env.get("/v1/outbox?state=pending", DEMO_KEY);
    let survey = pending["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "survey")
        .unwrap_or_else(|| panic!("{pending:#}"))
        .clone();
    let due = survey["next_attempt_ms"].as_u64().unwrap();
    assert!(due >= before + 600_000, "due {due}, resolved at {before}");
    assert!(due <= switchyard::model::now_ms() + 600_000);
    assert_eq!(survey["payload"]["survey"]["scale"], json!([1, 5]));
    // Answers are taken from the resolution on; the window is 24 h.
    let open_until = resolved["survey"]["open_until_ms"].as_u64().unwrap();
    assert!(open_until >= before + 24 * 3_600_000);
}
