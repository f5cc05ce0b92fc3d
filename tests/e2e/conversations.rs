//! The demo tenant's decisions for Chinese and English conversations, slot by slot.

use serde_json::Value;
use switchyard_e2e::{DEMO_KEY, TestEnv, reasons, trace_of};

fn agents(env: &TestEnv) -> Vec<Value> {
    env.get("/v1/agents", DEMO_KEY).1["agents"]
        .as_array()
        .unwrap()
        .clone()
}

#[test]
fn refund_with_order_number_opens_an_after_sales_ticket() {
    let env = TestEnv::demo();
    let r = env.send(
        "zh-refund",
        "我要退款，订单号 2024113012345",
        "cust-1",
        "standard",
    );
    assert_eq!(r["intent"]["name"], "refund");
    assert!(r["intent"]["confidence"].as_f64().unwrap() >= 0.8);
    let order = r["entities"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "order-id")
        .expect("order entity");
    assert_eq!(order["value"], "2024113012345");
    let ticket = &r["ticket"];
    assert_eq!(ticket["action"], "opened");
    assert_eq!(ticket["department"], "after-sales");
    assert!(
        ticket["facts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["key"] == "order-id" && f["value"] == "2024113012345")
    );
    // A refund needs a person: routed to an after-sales agent, with the script ready.
    assert_eq!(r["route"]["queue"], "after-sales");
    assert!(
        r["suggestions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["kind"] == "reply" && s["text"].as_str().unwrap().contains("2024113012345"))
    );
    // Every slot ran its plugin successfully, and the trace names the version.
    for slot in [
        "inspect", "classify", "escalate", "route", "assist", "ticket",
    ] {
        let entries = trace_of(&r, slot);
        assert_eq!(entries.len(), 1, "{slot}: {entries:?}");
        assert_eq!(entries[0]["outcome"], "ok", "{slot}");
        assert_eq!(entries[0]["sha256"].as_str().unwrap().len(), 64);
    }
    // The ticket is stored and listed.
    let id = ticket["id"].as_str().unwrap();
    let (status, stored) = env.get(&format!("/v1/tickets/{id}"), DEMO_KEY);
    assert_eq!(status, 200);
    assert_eq!(stored["intent"], "refund");
    assert_eq!(stored["status"], "open");
}

#[test]
fn asking_for_a_human_escalates_with_the_reason_named() {
    let env = TestEnv::demo();
    for (conversation, text) in [
        ("zh-human", "转人工"),
        ("en-human", "I want to talk to a real person"),
    ] {
        let r = env.send(conversation, text, "cust-2", "standard");
        assert_eq!(r["escalation"]["escalate"], true, "{text}");
        assert!(
            reasons(&r).contains(&"asked-for-human".to_string()),
            "{text}: {:?}",
            reasons(&r)
        );
        assert_ne!(r["route"]["to"], "bot", "{text}");
        // The customer is told a person is coming.
        assert!(r["reply"].as_str().is_some(), "{text}");
    }
}

#[test]
fn regulator_threat_raises_a_sensitive_word_finding_and_escalates() {
    let env = TestEnv::demo();
    let r = env.send("zh-12315", "我要去12315投诉你们", "cust-3", "standard");
    let findings = r["findings"].as_array().unwrap();
    let regulator = findings
        .iter()
        .find(|f| f["code"] == "regulator")
        .expect("regulator finding");
    assert_eq!(regulator["kind"], "sensitive-word");
    assert_eq!(regulator["severity"], "critical");
    // The offsets point at "12315" in the original text.
    let text = "我要去12315投诉你们";
    let (start, end) = (
        regulator["start"].as_u64().unwrap() as usize,
        regulator["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(&text[start..end], "12315");
    assert_eq!(r["escalation"]["escalate"], true);
    assert!(reasons(&r).contains(&"sensitive-word".to_string()));
    assert_eq!(r["route"]["queue"], "complaints");
    assert!(r["route"]["priority"].as_u64().unwrap() >= 6);
    // The agent gets the compliance script first, and a complaints ticket is opened.
    assert_eq!(r["suggestions"][0]["kind"], "compliance");
    assert_eq!(r["ticket"]["department"], "complaints");
}

#[test]
fn vip_goes_to_the_least_loaded_agent_with_the_vip_skill() {
    let env = TestEnv::demo();
    // Load one VIP agent first: zhao.min takes an English complaint.
    let first = env.send(
        "vip-1",
        "Where is my parcel? order 2024112900001",
        "vip-a",
        "vip",
    );
    assert_eq!(first["route"]["queue"], "vip");
    assert_eq!(first["route"]["to"], "agent");
    let first_agent = first["route"]["agent"].as_str().unwrap().to_string();

    // Expected: among online agents with the vip skill and spare capacity,
    // those who speak Chinese (or carry no language tag) first, then the lowest
    // load/capacity before this message (ties: lower load, then id).
    let roster = agents(&env);
    let has_vip = |a: &Value| a["skills"].as_array().unwrap().iter().any(|s| s == "vip");
    let expected = roster
        .iter()
        .filter(|a| {
            a["status"] == "online" && has_vip(a) && a["load"].as_u64() < a["capacity"].as_u64()
        })
        .min_by(|a, b| {
            let ratio = |a: &Value| a["load"].as_f64().unwrap() / a["capacity"].as_f64().unwrap();
            let speaks_zh = |a: &Value| {
                let skills = a["skills"].as_array().unwrap();
                skills.iter().any(|s| s == "zh") || !skills.iter().any(|s| s == "en")
            };
            speaks_zh(b)
                .cmp(&speaks_zh(a))
                .then(ratio(a).total_cmp(&ratio(b)))
                .then(a["load"].as_u64().cmp(&b["load"].as_u64()))
                .then(a["id"].as_str().cmp(&b["id"].as_str()))
        })
        .unwrap()["id"]
        .clone();
    assert_ne!(
        expected,
        first_agent.as_str(),
        "the first VIP agent now carries load"
    );

    let r = env.send("vip-2", "我的快递到哪了", "vip-b", "vip");
    assert!(reasons(&r).contains(&"vip".to_string()));
    assert_eq!(r["route"]["to"], "agent");
    assert_eq!(r["route"]["queue"], "vip");
    assert_eq!(r["route"]["agent"], expected);
    let after = agents(&env);
    let load_of = |id: &Value| {
        after.iter().find(|a| &a["id"] == id).unwrap()["load"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(load_of(&expected), 1);
}

#[test]
fn routine_questions_are_answered_by_the_bot_in_the_customers_language() {
    let env = TestEnv::demo();
    let zh = env.send("zh-invoice", "能开发票吗", "cust-4", "standard");
    assert_eq!(zh["intent"]["name"], "invoice");
    assert_eq!(zh["escalation"]["escalate"], false);
    assert_eq!(zh["route"]["to"], "bot");
    let reply = zh["reply"].as_str().unwrap();
    assert!(
        reply
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "Chinese reply: {reply}"
    );

    let en = env.send("en-parcel", "where is my package?", "cust-5", "standard");
    assert_eq!(en["intent"]["name"], "logistics");
    assert_eq!(en["route"]["to"], "bot");
    let reply = en["reply"].as_str().unwrap();
    assert!(reply.is_ascii(), "English reply: {reply}");
    // Knowledge articles come along as suggestions.
    assert!(
        en["suggestions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["kind"] == "article" && s["article_id"].is_string())
    );
}

#[test]
fn personal_data_is_masked_for_the_desk_and_the_ticket() {
    let env = TestEnv::demo();
    let text = "I want a refund for order 2024113000077, call me on 13812345678";
    let r = env.send("en-pii", text, "cust-6", "standard");
    let masked = r["masked_text"].as_str().expect("masked text");
    assert!(
        masked.contains("*******5678") && !masked.contains("13812345678"),
        "{masked}"
    );
    assert!(
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "pii" && f["code"] == "phone")
    );
    let id = r["ticket"]["id"].as_str().unwrap();
    let ticket = env.get(&format!("/v1/tickets/{id}"), DEMO_KEY).1;
    assert!(
        !ticket["summary"].as_str().unwrap().contains("13812345678"),
        "{ticket}"
    );

    // A resident ID and a bank card never reach the ticket, not even as an "order number".
    let text = "我要退款，身份证110101199003074258，卡号4111111111111111";
    let r = env.send("zh-pii", text, "cust-6b", "standard");
    let masked = r["masked_text"].as_str().unwrap();
    assert!(
        !masked.contains("199003") && !masked.contains("41111111"),
        "{masked}"
    );
    assert!(
        r["entities"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["kind"] != "order-id"),
        "{}",
        r["entities"]
    );
    let id = r["ticket"]["id"].as_str().unwrap();
    let stored = env
        .get(&format!("/v1/tickets/{id}"), DEMO_KEY)
        .1
        .to_string();
    assert!(
        !stored.contains("199003") && !stored.contains("41111111"),
        "{stored}"
    );
}

#[test]
fn repeat_contact_about_an_open_refund_escalates_and_updates_the_ticket() {
    let env = TestEnv::demo();
    let first = env.send(
        "repeat-1",
        "我要退款，订单号 2024113012399",
        "cust-7",
        "standard",
    );
    let ticket = first["ticket"]["id"].as_str().unwrap().to_string();
    // A new conversation, same customer, same unresolved intent.
    let again = env.send("repeat-2", "我的退款怎么还没到账？", "cust-7", "standard");
    assert_eq!(again["intent"]["name"], "refund");
    assert_eq!(again["escalation"]["escalate"], true);
    let repeat = again["escalation"]["reasons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == "repeat-contact")
        .expect("repeat-contact");
    assert!(repeat["detail"].as_str().unwrap().contains(&ticket));
    assert_eq!(again["ticket"]["id"], ticket.as_str());
    assert_eq!(again["ticket"]["action"], "updated");
    let stored = env.get(&format!("/v1/tickets/{ticket}"), DEMO_KEY).1;
    assert_eq!(stored["message_ids"].as_array().unwrap().len(), 2);
}

#[test]
fn anger_escalates_and_out_of_scope_messages_get_no_guessed_intent() {
    let env = TestEnv::demo();
    let angry = env.send(
        "en-angry",
        "This is ridiculous, my parcel is a week late!!!",
        "cust-8",
        "standard",
    );
    assert!(
        reasons(&angry).contains(&"anger".to_string()),
        "{:?}",
        reasons(&angry)
    );
    let lost = env.send(
        "en-oos",
        "what's the weather on mars tomorrow",
        "cust-9",
        "standard",
    );
    // Off-topic: never a guessed intent. Sure of it, the bot declines
    // politely (the out-of-scope intent's script); unsure, a person.
    assert_eq!(lost["intent"]["name"], "out_of_scope", "{lost}");
    if lost["intent"]["confidence"].as_f64().unwrap() >= 0.8 {
        assert_eq!(
            lost["route"]["reason"], "bot answers out_of_scope",
            "{lost}"
        );
        assert!(
            lost["reply"]
                .as_str()
                .unwrap()
                .starts_with("Sorry, I can't help"),
            "{lost}"
        );
    } else {
        assert!(reasons(&lost).contains(&"low-confidence".to_string()));
        assert_ne!(lost["route"]["to"], "bot");
    }
}

#[test]
fn exchange_and_return_in_english_go_to_after_sales() {
    let env = TestEnv::demo();
    for (conversation, text, intent) in [
        (
            "en-exchange",
            "can I exchange this jacket for a bigger size",
            "exchange",
        ),
        (
            "en-return",
            "I want to return these shoes, order #A7781",
            "return",
        ),
    ] {
        let r = env.send(conversation, text, "cust-10", "premium");
        assert_eq!(r["intent"]["name"], intent, "{text}");
        assert_eq!(r["route"]["queue"], "after-sales", "{text}");
        assert_eq!(r["ticket"]["department"], "after-sales", "{text}");
    }
}

#[test]
fn a_conversation_keeps_its_messages_and_its_agent_and_closing_frees_the_agent() {
    let env = TestEnv::demo();
    let a = env.send("keep", "转人工", "cust-11", "standard");
    let agent = a["route"]["agent"].as_str().unwrap().to_string();
    let b = env.send("keep", "人工客服在吗", "cust-11", "standard");
    assert_eq!(
        b["route"]["agent"],
        agent.as_str(),
        "stays with the same agent"
    );
    let (status, conversation) = env.get("/v1/conversations/keep", DEMO_KEY);
    assert_eq!(status, 200);
    let messages = conversation["messages"].as_array().unwrap();
    let authors: Vec<&str> = messages
        .iter()
        .map(|m| m["author"].as_str().unwrap())
        .collect();
    // The bot says once that a person takes over; once the agent holds the
    // conversation it never answers again.
    assert_eq!(authors, ["customer", "bot", "customer"], "{conversation}");
    assert_eq!(messages[0]["text"], "转人工");
    assert_eq!(messages[1]["in_reply_to"], messages[0]["id"]);
    assert_eq!(messages[2]["decision"]["route"]["agent"], agent.as_str());
    assert!(messages[2]["decision"]["reply"].is_null(), "{conversation}");
    assert_eq!(conversation["conversation"]["status"], "assigned");
    let load = |env: &TestEnv| {
        agents(env)
            .iter()
            .find(|a| a["id"] == agent.as_str())
            .unwrap()["load"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(load(&env), 1, "one open conversation, counted once");
    let (status, closed) = env.post(
        "/v1/conversations/keep/close",
        DEMO_KEY,
        &serde_json::json!({}),
    );
    assert_eq!(status, 200, "{closed}");
    assert_eq!(closed["status"], "closed");
    assert_eq!(load(&env), 0);
}

#[test]
fn a_published_article_reaches_suggestions_without_a_restart() {
    let env = TestEnv::demo();
    let article = serde_json::json!({
        "id": "kb-gift-wrap", "title": "礼品包装 / Gift wrapping", "scenario": "pre_sales", "problem_type": "product_info",
        "keywords": ["礼品包装", "gift wrap"], "body": "下单时勾选礼品包装，每件 5 元。Tick gift wrap at checkout, 5 yuan per item."
    });
    let (status, body) = env.post("/v1/knowledge/articles", DEMO_KEY, &article);
    assert_eq!(status, 201, "{body}");
    let r = env.send("gift", "do you offer gift wrap?", "cust-12", "standard");
    assert!(
        r["suggestions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["article_id"] == "kb-gift-wrap"),
        "{}",
        r["suggestions"]
    );
    let (status, hits) = env.get(
        "/v1/knowledge/search?q=%E7%A4%BC%E5%93%81%E5%8C%85%E8%A3%85",
        DEMO_KEY,
    );
    assert_eq!(status, 200);
    assert_eq!(hits[0]["id"], "kb-gift-wrap");
}
