//! Issue 15, items 3 and 4: personal data is found whatever its checksum or
//! layout, is never taken for an order number nor echoed in a reply, and the
//! host masks every text a plugin produces, whatever the plugin did.

use serde_json::{Value, json};
use switchyard_e2e::{DEMO_KEY, TestEnv};

fn mask_stored_messages(env: &TestEnv) {
    let (_, mut settings) = env.get("/v1/settings", DEMO_KEY);
    settings["mask_stored_messages"] = json!(true);
    let (status, body) = env.put("/v1/settings", DEMO_KEY, &settings);
    assert_eq!(status, 200, "{body}");
}

fn assert_none_of(secrets: &[&str], what: &str, text: &str) {
    for secret in secrets {
        assert!(!text.contains(secret), "{what} shows {secret:?}: {text}");
    }
}

/// Item 3: a resident ID with a wrong check digit and a card number failing
/// Luhn were taken for order numbers, left unmasked and quoted by the bot.
#[test]
fn a_mistyped_id_or_card_number_is_personal_data_never_an_order_number_nor_echoed() {
    let env = TestEnv::demo();
    mask_stored_messages(&env);
    let cases: [(&str, &[&str], &str); 4] = [
        (
            "我的手机号13812345678，身份证号110101199003071234，帮我改一下收货地址",
            &["13812345678", "1101011990", "199003071234"],
            "id-card",
        ),
        (
            "我要退款，卡号6222020200112233445",
            &["6222020200112233445", "62220202001122"],
            "bank-card",
        ),
        (
            "please update my email to Li.Lei@example.com, my order never came",
            &["Li.Lei", "li.lei"],
            "email",
        ),
        (
            "call me back on +1 415-555-0132 about my refund",
            &["415-555", "4155550132"],
            "phone",
        ),
    ];
    for (i, (text, secrets, code)) in cases.iter().enumerate() {
        let conversation = format!("pii-mistyped-{i}");
        let r = env.send(&conversation, text, "pii-mistyped", "standard");
        let entities = r["entities"].as_array().unwrap();
        assert!(
            entities.iter().all(|e| e["kind"] != "order-id"),
            "{text}: {entities:?}"
        );
        assert!(
            r["findings"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f["kind"] == "pii" && f["code"] == *code),
            "{text}: {}",
            r["findings"]
        );
        let masked = r["masked_text"].as_str().expect("masked text");
        assert_none_of(secrets, "masked_text", masked);
        // The whole decision (reply, suggestions, ticket, entities, trace).
        assert_none_of(secrets, "the decision", &r.to_string());
        let (_, stored) = env.get(&format!("/v1/conversations/{conversation}"), DEMO_KEY);
        assert_none_of(secrets, "the stored conversation", &stored.to_string());
    }
    // The international number masks cleanly, keeping its layout.
    let (_, stored) = env.get("/v1/conversations/pii-mistyped-3", DEMO_KEY);
    let text = stored["messages"][0]["text"].as_str().unwrap();
    assert!(text.contains("+* ***-***-0132"), "{text}");
}

/// Item 4: with `mask_stored_messages` on, the stored masked text, entity
/// values and the ticket's title, summary and facts kept a landline and an
/// e-mail in clear, because the host trusted what plugins produced.
#[test]
fn the_host_masks_every_text_a_plugin_produces_whatever_the_plugin_did() {
    let env = TestEnv::demo();
    mask_stored_messages(&env);
    let sha = switchyard_e2e::upload_misbehaving(&env);
    // A classifier that quotes the whole message as its order number: the
    // assistant fills it into the reply, the ticketer into the ticket.
    let (status, body) = env.bind("demo", "classify", &[(&sha, "quote")]);
    assert_eq!(status, 200, "{body}");
    let text = "我要投诉！座机 010-62345678，邮箱 wang.fang@example.cn，手机 138.1234.5678，卡 4111.1111.1111.1111";
    let secrets = [
        "62345678",
        "wang.fang",
        "138.1234",
        "4111.1111",
        "13812345678",
    ];
    let r = env.send("pii-quoted", text, "pii-quoted", "standard");
    let quoted = r["entities"][0]["value"].as_str().unwrap();
    assert!(
        quoted.contains("我要投诉") && quoted.contains("w***@example.cn"),
        "the entity is kept, masked: {quoted}"
    );
    assert_none_of(&secrets, "the decision", &r.to_string());
    let reply = r["reply"].as_str().unwrap_or_default();
    let ticket_id = r["ticket"]["id"]
        .as_str()
        .expect("a complaint opens a ticket");
    let (_, ticket) = env.get(&format!("/v1/tickets/{ticket_id}"), DEMO_KEY);
    assert_none_of(&secrets, "the ticket", &ticket.to_string());
    let (_, stored) = env.get("/v1/conversations/pii-quoted", DEMO_KEY);
    assert_none_of(&secrets, "the stored conversation", &stored.to_string());
    assert_none_of(&secrets, "the reply", reply);
    let stored_text: &Value = &stored["messages"][0]["text"];
    assert!(
        stored_text.as_str().unwrap().contains("***.****.5678"),
        "{stored_text}"
    );
}

/// Item 5: after `DELETE /v1/customers/{id}`, a mined draft's title still
/// quoted the deleted customer's message with their order number.
#[test]
fn a_forgotten_customers_words_leave_every_mined_draft() {
    let env = TestEnv::demo();
    let messages = [
        (
            "leaver",
            "leaver-zhang-wei",
            "Zhang Wei here: do you offer engraving in Reykjavik? order 2024113012345",
        ),
        ("stayer-1", "engraving-1", "Do you offer engraving?"),
        (
            "stayer-2",
            "engraving-2",
            "do you offer engraving on bracelets",
        ),
        ("stayer-3", "engraving-3", "can i get my initials engraved"),
        ("stayer-4", "engraving-4", "do you offer engraving on rings"),
    ];
    for (customer, conversation, text) in messages {
        let r = env.send(conversation, text, customer, "standard");
        let intent = r["intent"]["name"].as_str().unwrap();
        assert!(
            r["escalation"]["escalate"] == true || intent == "out_of_scope" || intent == "unknown",
            "a blind spot: {r}"
        );
    }
    let (status, report) = env.post("/v1/knowledge/mine", DEMO_KEY, &json!({}));
    assert_eq!(status, 200, "{report}");
    let drafts = report["drafts"].as_array().unwrap();
    assert!(!drafts.is_empty(), "{report}");
    let unique = ["Zhang", "zhang", "Reykjavik", "reykjavik", "2024113012345"];
    for draft in drafts {
        // Title and keywords hold only words two customers used; the
        // examples quote live messages.
        assert_none_of(&unique, "a draft's title", draft["title"].as_str().unwrap());
        assert_none_of(
            &unique,
            "a draft's keywords",
            &draft["keywords"].to_string(),
        );
        assert!(
            draft["title"].as_str().unwrap().contains("engrav"),
            "the title still says what is asked: {draft}"
        );
    }
    assert!(
        report.to_string().contains("Reykjavik"),
        "the leaver's message is among the examples before: {report}"
    );

    let (status, body) = env.request(
        axum::http::Method::DELETE,
        "/v1/customers/leaver",
        Some(DEMO_KEY),
        None,
        "",
    );
    assert!(status.is_success(), "{status} {body}");
    let (_, after) = env.get("/v1/knowledge/drafts", DEMO_KEY);
    let after_drafts = after["drafts"].as_array().unwrap();
    assert_eq!(after_drafts.len(), drafts.len(), "{after}");
    let mut unique = unique.to_vec();
    unique.push("leaver-zhang-wei");
    assert_none_of(&unique, "the drafts after the erasure", &after.to_string());
    // Every article, draft or not, over the plain articles list too.
    let (_, articles) = env.get("/v1/knowledge/articles", DEMO_KEY);
    assert_none_of(
        &unique,
        "the articles after the erasure",
        &articles.to_string(),
    );
}
