//! The web pages' server side over HTTP, without a browser (the browser
//! tests in `host/tests/browser.rs` drive the pages): sign-in and the
//! session cookie, CSRF on every write, pages per role, the customer chat's
//! endpoints and what a customer may see, the traffic report with known
//! answers, the queue monitor, assets and embedding.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use switchyard_e2e::{DEMO_KEY, OPERATOR_KEY, TestEnv, component};

/// Sign in with `key`; the session cookie (`name=value`) and where it lands.
fn sign_in(env: &TestEnv, key: &str) -> (String, String) {
    let (status, headers, body) = env.request_raw(
        Request::post("/sign-in")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("key={key}")))
            .unwrap(),
    );
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    let cookie = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("sy_session="))
        .expect("a session cookie");
    let location = headers[header::LOCATION].to_str().unwrap().to_string();
    (cookie.split(';').next().unwrap().to_string(), location)
}

/// The CSRF token a page hands its script.
fn csrf_of(env: &TestEnv, cookie: &str, page: &str) -> String {
    let (status, _, html) = env.request_raw(
        Request::get(page)
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(status, StatusCode::OK, "{html}");
    let start = html
        .find("name=\"csrf-token\" content=\"")
        .expect("a csrf meta")
        + 27;
    html[start..start + 32].to_string()
}

fn with_cookie(
    env: &TestEnv,
    method: Method,
    path: &str,
    cookie: &str,
    csrf: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::COOKIE, cookie);
    if let Some(token) = csrf {
        builder = builder.header("X-CSRF-Token", token);
    }
    let request = match body {
        Some(b) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string())),
        None => builder.body(Body::empty()),
    }
    .unwrap();
    env.request_built(request)
}

fn agent_key(env: &TestEnv, agent: &str) -> String {
    let (status, issued) = env.post(&format!("/v1/agents/{agent}/key"), DEMO_KEY, &json!({}));
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    issued["key"].as_str().unwrap().to_string()
}

/// Every agent of the demo away: escalations wait in their queues.
fn everyone_away(env: &TestEnv) {
    let (_, agents) = env.get("/v1/agents?limit=100", DEMO_KEY);
    for agent in agents["agents"].as_array().unwrap() {
        let mut record = agent.clone();
        let record_obj = record.as_object_mut().unwrap();
        record_obj.remove("load");
        record_obj.insert("status".into(), json!("away"));
        let id = agent["id"].as_str().unwrap();
        let (status, body) = env.put(&format!("/v1/agents/{id}"), DEMO_KEY, &record);
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

#[test]
fn signing_in_sets_a_private_session_cookie_and_lands_on_the_role_s_page() {
    let env = TestEnv::demo();
    let li = agent_key(&env, "li.na");
    for (key, home) in [
        (li.as_str(), "/desk"),
        (DEMO_KEY, "/console"),
        (OPERATOR_KEY, "/console"),
    ] {
        let (status, headers, _) = env.request_raw(
            Request::post("/sign-in")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("key={key}")))
                .unwrap(),
        );
        assert_eq!(status, StatusCode::SEE_OTHER);
        assert_eq!(headers[header::LOCATION], home);
        let cookie = headers[header::SET_COOKIE].to_str().unwrap();
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=43200"] {
            assert!(cookie.contains(attribute), "{attribute} missing: {cookie}");
        }
        assert!(!cookie.contains("Secure"), "plain HTTP here: {cookie}");
        assert!(!cookie.contains(key), "the key is in the cookie: {cookie}");
    }
    // Behind an HTTPS proxy the cookie is Secure.
    let (_, headers, _) = env.request_raw(
        Request::post("/sign-in")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("X-Forwarded-Proto", "https")
            .body(Body::from(format!("key={DEMO_KEY}")))
            .unwrap(),
    );
    assert!(
        headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("; Secure")
    );

    // Refusals: a clear page, no cookie.
    for (body, origin, status, says) in [
        (
            "key=not-a-key-at-all-123",
            None,
            StatusCode::UNAUTHORIZED,
            "not known",
        ),
        ("key=", None, StatusCode::BAD_REQUEST, "Enter a key"),
        ("nothing", None, StatusCode::BAD_REQUEST, "Enter a key"),
        (
            "key=demo-test-key",
            Some("http://evil.example"),
            StatusCode::FORBIDDEN,
            "another site",
        ),
    ] {
        let mut request = Request::post("/sign-in")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::HOST, "127.0.0.1:8080");
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        let (got, headers, html) = env.request_raw(request.body(Body::from(body)).unwrap());
        assert_eq!(got, status, "{body}: {html}");
        assert!(html.contains(says), "{body}: {html}");
        assert!(headers.get(header::SET_COOKIE).is_none(), "{body}");
    }
}

#[test]
fn a_session_reads_freely_but_writes_only_with_its_csrf_token_and_nothing_is_stored_without_it() {
    let env = TestEnv::demo();
    env.send("note-1", "耳机有杂音，我要退款", "c-1", "standard");
    let (cookie, _) = sign_in(&env, DEMO_KEY);
    let csrf = csrf_of(&env, &cookie, "/console");
    let notes = |env: &TestEnv| {
        let (_, view) = env.get("/v1/conversations/note-1", DEMO_KEY);
        view["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["private"] == true)
            .count()
    };
    let (status, list) = with_cookie(&env, Method::GET, "/v1/conversations", &cookie, None, None);
    assert_eq!(status, StatusCode::OK, "{list}");
    let note = Some(json!({"text": "客户很着急"}));
    for (token, expected) in [
        (None, StatusCode::FORBIDDEN),
        (Some(""), StatusCode::FORBIDDEN),
        (
            Some("0123456789abcdef0123456789abcdef"),
            StatusCode::FORBIDDEN,
        ),
        (Some(&csrf[..31]), StatusCode::FORBIDDEN),
    ] {
        let (status, body) = with_cookie(
            &env,
            Method::POST,
            "/v1/conversations/note-1/notes",
            &cookie,
            token,
            note.clone(),
        );
        assert_eq!(status, expected, "{token:?}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("CSRF"));
    }
    assert_eq!(notes(&env), 0, "a refused write stored a note");
    let (status, body) = with_cookie(
        &env,
        Method::POST,
        "/v1/conversations/note-1/notes",
        &cookie,
        Some(&csrf),
        note.clone(),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(notes(&env), 1);
    // Another session's token is not this session's.
    let (other_cookie, _) = sign_in(&env, DEMO_KEY);
    let other_csrf = csrf_of(&env, &other_cookie, "/console");
    assert_ne!(other_csrf, csrf);
    let (status, _) = with_cookie(
        &env,
        Method::POST,
        "/v1/conversations/note-1/notes",
        &cookie,
        Some(&other_csrf),
        note.clone(),
    );
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A bearer key needs no token: the header is no cookie a browser adds.
    let (status, _) = env.post(
        "/v1/conversations/note-1/notes",
        DEMO_KEY,
        &json!({"text": "x"}),
    );
    assert_eq!(status, StatusCode::CREATED);

    // A changed cookie is no session.
    let tampered = cookie.replacen('.', "0.", 1);
    let (status, body) = with_cookie(
        &env,
        Method::GET,
        "/v1/conversations",
        &tampered,
        None,
        None,
    );
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sign in")
    );

    // Rotating the key ends its sessions.
    let (status, _) = env.post("/v1/key", DEMO_KEY, &json!({}));
    assert_eq!(status, StatusCode::OK);
    let (status, _) = with_cookie(&env, Method::GET, "/v1/conversations", &cookie, None, None);
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[test]
fn pages_open_for_their_roles_and_carry_their_security_headers() {
    let env = TestEnv::demo();
    let li = agent_key(&env, "li.na");
    let (agent, _) = sign_in(&env, &li);
    let (admin, _) = sign_in(&env, DEMO_KEY);
    let (operator, _) = sign_in(&env, OPERATOR_KEY);
    let page = |path: &str, cookie: Option<&str>| {
        let mut request = Request::get(path);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        env.request_raw(request.body(Body::empty()).unwrap())
    };
    for path in ["/desk", "/console", "/"] {
        let (status, headers, _) = page(path, None);
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        assert_eq!(headers[header::LOCATION], "/sign-in", "{path}");
    }
    for (path, cookie, expected) in [
        ("/desk", &agent, StatusCode::OK),
        ("/desk", &admin, StatusCode::OK),
        ("/desk", &operator, StatusCode::FORBIDDEN),
        ("/console", &agent, StatusCode::FORBIDDEN),
        ("/console", &admin, StatusCode::OK),
        ("/console", &operator, StatusCode::OK),
    ] {
        let (status, headers, html) = page(path, Some(cookie));
        assert_eq!(status, expected, "{path} {cookie}: {html}");
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(
            csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "an outside link: {html}"
        );
    }
    // The page hands its script the role, never a key.
    let (_, _, html) = page("/desk", Some(&agent));
    assert!(
        html.contains("\"role\":\"agent\"") && html.contains("\"agent\":\"li.na\""),
        "{html}"
    );
    assert!(!html.contains(&li));
    // The language: the browser's, or the one chosen (remembered).
    let (_, _, html) = env.request_raw(
        Request::get("/sign-in")
            .header(header::ACCEPT_LANGUAGE, "zh-CN,zh;q=0.9,en;q=0.5")
            .body(Body::empty())
            .unwrap(),
    );
    assert!(
        html.contains("<html lang=\"zh-CN\">") && html.contains("登录"),
        "{html}"
    );
    let (_, headers, html) = page("/sign-in?lang=en", None);
    assert!(html.contains("<html lang=\"en\">"));
    assert!(
        headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .starts_with("sy_lang=en")
    );
}

/// A chat visitor's token for `tenant`.
fn visitor(env: &TestEnv, tenant: &str) -> String {
    let (status, body) = env.request_built(
        Request::post(format!("/chat/{tenant}/api/visitor"))
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_string()
}

fn as_visitor(
    env: &TestEnv,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Visitor {token}"));
    let request = match body {
        Some(b) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(b.to_string())),
        None => builder.body(Body::empty()),
    }
    .unwrap();
    env.request_built(request)
}

#[test]
fn the_chat_shows_a_customer_their_public_side_and_takes_their_rating() {
    let env = TestEnv::demo();
    everyone_away(&env);
    let li = agent_key(&env, "li.na");
    let token = visitor(&env, "demo");
    let (status, empty) = as_visitor(
        &env,
        Method::GET,
        "/chat/demo/api/conversation",
        &token,
        None,
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        empty,
        json!({"status": null, "entries": [], "survey_open": false})
    );

    let (status, sent) = as_visitor(
        &env,
        Method::POST,
        "/chat/demo/api/messages",
        &token,
        Some(json!({"text": "我要退款，订单号 2024113012345，手机 13812345678"})),
    );
    assert_eq!(status, StatusCode::CREATED, "{sent}");
    let (_, list) = env.get("/v1/conversations?status=waiting", DEMO_KEY);
    let conversation = list["conversations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"].as_str().unwrap().starts_with("web-"))
        .unwrap_or_else(|| panic!("the chat's conversation waits: {list}"))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, _) = env.post(
        &format!("/v1/conversations/{conversation}/claim"),
        &li,
        &json!({}),
    );
    assert_eq!(status, StatusCode::OK);
    env.post(
        &format!("/v1/conversations/{conversation}/notes"),
        &li,
        &json!({"text": "内部：VIP 待核实"}),
    );
    env.post(
        &format!("/v1/conversations/{conversation}/replies"),
        &li,
        &json!({"text": "您好，我来处理"}),
    );

    let (_, view) = as_visitor(
        &env,
        Method::GET,
        "/chat/demo/api/conversation",
        &token,
        None,
    );
    let text = view.to_string();
    for hidden in [
        "内部",
        "decision",
        "suggestions",
        "li.na",
        "intent",
        "after-sales",
    ] {
        assert!(
            !text.contains(hidden),
            "the customer sees {hidden:?}: {view}"
        );
    }
    let authors: Vec<&str> = view["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["author"].as_str().unwrap())
        .collect();
    assert!(
        authors.contains(&"customer") && authors.contains(&"agent"),
        "{view}"
    );
    let joined = view["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "claimed")
        .unwrap_or_else(|| panic!("no joined entry: {view}"));
    assert_eq!(joined["agent_name"], "Li Na");
    assert_eq!(joined["text"], "", "the page words it");
    assert_eq!(view["status"], "assigned");

    // Resolved: the survey is open; the customer rates once.
    env.post(
        &format!("/v1/conversations/{conversation}/resolve"),
        &li,
        &json!({}),
    );
    let (_, view) = as_visitor(
        &env,
        Method::GET,
        "/chat/demo/api/conversation",
        &token,
        None,
    );
    assert_eq!(view["survey_open"], true, "{view}");
    // Regression (issue 18 review): the agent's "resolved" entry reached the
    // customer with its text, "agent li.na resolved the conversation".
    assert!(!view.to_string().contains("li.na"), "{view}");
    let resolved = view["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "resolved")
        .unwrap_or_else(|| panic!("no resolved entry: {view}"));
    assert_eq!(resolved["text"], "", "the page words it");
    for bad in [
        json!({"score": 0}),
        json!({"score": 6}),
        json!({"score": 3, "extra": 1}),
    ] {
        let (status, body) = as_visitor(
            &env,
            Method::POST,
            "/chat/demo/api/survey",
            &token,
            Some(bad.clone()),
        );
        assert!(status.is_client_error(), "{bad}: {body}");
    }
    let (status, rated) = as_visitor(
        &env,
        Method::POST,
        "/chat/demo/api/survey",
        &token,
        Some(json!({"score": 5, "comment": "很好"})),
    );
    assert_eq!(status, StatusCode::OK, "{rated}");
    let (_, view) = as_visitor(
        &env,
        Method::GET,
        "/chat/demo/api/conversation",
        &token,
        None,
    );
    assert_eq!(view["survey_open"], false);
    assert_eq!(view["survey_score"], 5);
    let (status, again) = as_visitor(
        &env,
        Method::POST,
        "/chat/demo/api/survey",
        &token,
        Some(json!({"score": 1})),
    );
    assert!(status.is_client_error(), "rated twice: {again}");
    let (_, stored) = env.get(&format!("/v1/conversations/{conversation}"), DEMO_KEY);
    assert_eq!(stored["conversation"]["survey"]["score"], 5);
}

#[test]
fn a_visitor_token_opens_only_its_own_conversation_in_its_own_tenant_s_chat() {
    let env = TestEnv::demo();
    let token = visitor(&env, "demo");
    for (path, auth, expected) in [
        (
            "/chat/demo/api/conversation",
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/chat/demo/api/conversation",
            Some("Visitor nonsense".to_string()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/chat/demo/api/conversation",
            Some(format!("Bearer {DEMO_KEY}")),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "/chat/pharmacy/api/conversation",
            Some(format!("Visitor {token}")),
            StatusCode::FORBIDDEN,
        ),
        (
            "/chat/demo/api/conversation",
            Some(format!("Visitor {token}")),
            StatusCode::OK,
        ),
    ] {
        let mut request = Request::get(path);
        if let Some(auth) = &auth {
            request = request.header(header::AUTHORIZATION, auth);
        }
        let (status, body) = env.request_built(request.body(Body::empty()).unwrap());
        assert_eq!(status, expected, "{path} {auth:?}: {body}");
    }
    // Two visitors, two conversations.
    let other = visitor(&env, "demo");
    as_visitor(
        &env,
        Method::POST,
        "/chat/demo/api/messages",
        &token,
        Some(json!({"text": "我的快递到哪了"})),
    );
    let (_, theirs) = as_visitor(
        &env,
        Method::GET,
        "/chat/demo/api/conversation",
        &other,
        None,
    );
    assert_eq!(theirs["entries"], json!([]), "{theirs}");

    // A tenant whose chat is off (the default for a new tenant): no page, no API.
    let key = env.create_tenant("quiet");
    let _ = key;
    for path in ["/chat/quiet", "/chat/quiet/embed.js"] {
        let (status, _, _) = env.request_raw(Request::get(path).body(Body::empty()).unwrap());
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let (status, _) = env.request_built(
        Request::post("/chat/quiet/api/visitor")
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = env.request_built(
        Request::post("/chat/no-such/api/visitor")
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the same answer as a closed chat"
    );
}

#[test]
fn a_chat_message_at_the_size_limit_passes_and_one_byte_over_is_refused_and_not_stored() {
    let env = TestEnv::demo();
    let token = visitor(&env, "demo");
    let limit = switchyard::app::MAX_MESSAGE_BYTES;
    let over = "a".repeat(limit + 1);
    let (status, body) = as_visitor(
        &env,
        Method::POST,
        "/chat/demo/api/messages",
        &token,
        Some(json!({"text": over})),
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (_, view) = as_visitor(
        &env,
        Method::GET,
        "/chat/demo/api/conversation",
        &token,
        None,
    );
    assert_eq!(view["entries"], json!([]), "the refused message was stored");
    let at = "a".repeat(limit);
    let (status, body) = as_visitor(
        &env,
        Method::POST,
        "/chat/demo/api/messages",
        &token,
        Some(json!({"text": at})),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = as_visitor(
        &env,
        Method::POST,
        "/chat/demo/api/messages",
        &token,
        Some(json!({"text": "hi", "customer": {"id": "someone-else"}})),
    );
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a visitor cannot name a customer: {body}"
    );
}

#[test]
fn the_traffic_report_counts_messages_escalations_handoffs_and_versions() {
    let env = TestEnv::demo();
    everyone_away(&env);
    // What each message's answer says is what the report must count.
    let mut expected = (0u64, 0u64, 0u64, 0u64); // messages, escalated, started, handoffs
    let mut queues: std::collections::BTreeMap<String, u64> = Default::default();
    let script = [
        ("t-1", "我的快递到哪了？订单号 2024113012345"),
        ("t-1", "谢谢"),
        ("t-2", "耳机有杂音，我要退款"),
        ("t-2", "转人工"),
        ("t-3", "你们这服务太差了，我要投诉到消协"),
        ("t-4", "where is my package?"),
    ];
    let mut with_people = std::collections::HashSet::new();
    let mut started = std::collections::HashSet::new();
    // Per intent: (messages, handoffs); and the first message, to correct.
    let mut per_intent: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    let mut first_message = None;
    for (conversation, text) in script {
        let r = env.send(conversation, text, conversation, "standard");
        first_message.get_or_insert((
            conversation,
            r["message_id"].as_str().unwrap().to_string(),
            r["intent"]["name"].as_str().unwrap().to_string(),
        ));
        let row = per_intent
            .entry(r["intent"]["name"].as_str().unwrap().to_string())
            .or_default();
        row.0 += 1;
        row.1 += u64::from(r["route"]["to"] != "bot" && !with_people.contains(conversation));
        expected.0 += 1;
        expected.1 += u64::from(r["escalation"]["escalate"] == true);
        expected.2 += u64::from(started.insert(conversation));
        if r["route"]["to"] != "bot" && with_people.insert(conversation) {
            expected.3 += 1;
            *queues
                .entry(r["route"]["queue"].as_str().unwrap_or("agent").to_string())
                .or_default() += 1;
        }
    }
    assert!(
        expected.3 >= 2 && expected.1 >= 1,
        "the script must hand over and escalate: {expected:?}"
    );

    let report = |env: &TestEnv| {
        let (status, report) = env.get("/v1/stats?days=14", DEMO_KEY);
        assert_eq!(status, StatusCode::OK, "{report}");
        report
    };
    let first = report(&env);
    let totals = &first["totals"];
    assert_eq!(
        (
            totals["messages"].as_u64().unwrap(),
            totals["escalated"].as_u64().unwrap(),
            totals["started"].as_u64().unwrap(),
            totals["handoffs"].as_u64().unwrap()
        ),
        expected,
        "{totals}"
    );
    // Whole days back to midnight UTC, up to the end of the current hour.
    let (from, to) = (
        first["from_ms"].as_u64().unwrap(),
        first["to_ms"].as_u64().unwrap(),
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert_eq!(from % 86_400_000, 0, "{first}");
    assert!(to > now && to - now <= 3_600_000, "{to} {now}");
    assert_eq!(
        first["hours"].as_array().unwrap().len() as u64,
        (to - from) / 3_600_000
    );
    let today = first["days"].as_array().unwrap().last().unwrap();
    assert_eq!(today["messages"].as_u64().unwrap(), expected.0);
    for (queue, n) in &queues {
        assert_eq!(today["routes"][queue].as_u64(), Some(*n), "{today}");
    }
    assert_eq!(
        today["routes"]["bot"].as_u64(),
        Some(expected.2 - expected.3),
        "{today}"
    );
    assert_eq!(first["days"].as_array().unwrap().len(), 14);
    // Per intent, most handed to people first.
    let intents = first["intents"].as_array().unwrap();
    assert_eq!(intents.len(), per_intent.len(), "{intents:?}");
    for row in intents {
        let (messages, handoffs) = per_intent[row["intent"].as_str().unwrap()];
        assert_eq!(row["messages"].as_u64(), Some(messages), "{row}");
        assert_eq!(row["handoffs"].as_u64(), Some(handoffs), "{row}");
    }
    let rates: Vec<f64> = intents
        .iter()
        .map(|r| r["handoff_rate"].as_f64().unwrap())
        .collect();
    assert!(rates.windows(2).all(|w| w[0] >= w[1]), "{rates:?}");
    assert_eq!(first["accuracy_as_agents_judge"], 1.0);
    // An agent corrects one message: accuracy falls by one message, and
    // the correction counts under the classifier's intent; undone, it is back.
    let (conversation, message_id, intent) = first_message.clone().unwrap();
    let path = format!("/v1/conversations/{conversation}/messages/{message_id}/intent");
    let right = if intent == "complaint" {
        "refund"
    } else {
        "complaint"
    };
    assert_eq!(
        env.put(&path, DEMO_KEY, &json!({"intent": right})).0,
        StatusCode::OK
    );
    assert_eq!(
        env.put(&path, DEMO_KEY, &json!({"intent": "invoice"})).0,
        StatusCode::OK,
        "corrected again: still one"
    );
    let corrected = report(&env);
    let accuracy = corrected["accuracy_as_agents_judge"].as_f64().unwrap();
    assert!(
        (accuracy - (1.0 - 1.0 / expected.0 as f64)).abs() < 1e-9,
        "{accuracy}"
    );
    let row = corrected["intents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["intent"] == intent.as_str())
        .unwrap();
    assert_eq!(row["corrected"], 1, "{row}");
    assert_eq!(
        env.put(&path, DEMO_KEY, &json!({"intent": intent})).0,
        StatusCode::OK
    );
    assert_eq!(report(&env)["accuracy_as_agents_judge"], 1.0);
    assert_eq!(
        first["versions"],
        json!([]),
        "one version decided: no per-version rows"
    );
    // Counting is idempotent: asking again counts nothing twice.
    assert_eq!(report(&env)["totals"], first["totals"]);

    // A canary: each version's own rows, adding up to the traffic since.
    let candidate = {
        let (status, body) = env.push_to_lane(
            "demo",
            "classify",
            "classifier",
            "fixture",
            "1",
            &component("switchyard_fixture_misbehaving"),
            "ok",
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["id"].as_u64().unwrap()
    };
    let (status, _) = env.canary("demo", "classify", candidate, 50);
    assert_eq!(status, StatusCode::OK);
    for i in 0..20 {
        env.send(&format!("c-{i}"), "where is my package?", "x", "standard");
    }
    let with_canary = report(&env);
    let versions = with_canary["versions"].as_array().unwrap();
    let classify: Vec<&Value> = versions
        .iter()
        .filter(|v| v["slot"] == "classify")
        .collect();
    assert_eq!(classify.len(), 2, "{versions:?}");
    let candidate_row = classify
        .iter()
        .find(|v| v["version_id"] == candidate)
        .unwrap();
    assert_eq!(candidate_row["name"], "fixture");
    assert_eq!(candidate_row["state"], "canary");
    let sum: u64 = classify
        .iter()
        .map(|v| v["totals"]["messages"].as_u64().unwrap())
        .sum();
    assert_eq!(
        sum,
        expected.0 + 20,
        "every message was decided by one of them"
    );
    assert!(candidate_row["totals"]["messages"].as_u64().unwrap() > 0);

    // The bounds of a period, exactly.
    for (days, status) in [
        (0, StatusCode::UNPROCESSABLE_ENTITY),
        (1, StatusCode::OK),
        (92, StatusCode::OK),
        (93, StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (got, body) = env.get(&format!("/v1/stats?days={days}"), DEMO_KEY);
        assert_eq!(got, status, "days={days}: {body}");
        if status == StatusCode::OK {
            assert_eq!(body["days"].as_array().unwrap().len(), days as usize);
        }
    }
    // Who may read it: the tenant's admin, or the operator by tenant.
    let li = agent_key(&env, "li.na");
    assert_eq!(env.get("/v1/stats", &li).0, StatusCode::FORBIDDEN);
    assert_eq!(
        env.get("/v1/tenants/demo/stats", DEMO_KEY).0,
        StatusCode::FORBIDDEN
    );
    let (status, operator_view) = env.get("/v1/tenants/demo/stats", OPERATOR_KEY);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(operator_view["totals"], report(&env)["totals"]);
    assert_eq!(
        env.get("/v1/tenants/nobody/stats", OPERATOR_KEY).0,
        StatusCode::NOT_FOUND
    );

    // Counts are stored: a restart keeps them, and counts nothing again.
    let before = report(&env)["totals"].clone();
    let dir = env.shutdown();
    let env = TestEnv::open(dir, Default::default());
    assert_eq!(report(&env)["totals"], before);
}

#[test]
fn the_queue_monitor_counts_what_waits_per_queue_for_the_desk_and_the_admin() {
    let env = TestEnv::demo();
    everyone_away(&env);
    for i in 0..3 {
        let r = env.send(
            &format!("q-{i}"),
            "耳机有杂音，我要退款",
            &format!("c-{i}"),
            "standard",
        );
        assert_eq!(r["route"]["queue"], "after-sales", "{r}");
    }
    let li = agent_key(&env, "li.na");
    for key in [DEMO_KEY, li.as_str()] {
        let (status, monitor) = env.get("/v1/queues", key);
        assert_eq!(status, StatusCode::OK, "{monitor}");
        let queues = monitor["queues"].as_array().unwrap();
        let after_sales = queues.iter().find(|q| q["name"] == "after-sales").unwrap();
        assert_eq!(after_sales["waiting"], 3, "{monitor}");
        assert_eq!(after_sales["agents_online"], 0);
        let (_, first) = env.get("/v1/conversations/q-0", DEMO_KEY);
        assert_eq!(
            after_sales["longest_since_ms"],
            first["conversation"]["waiting_since_ms"]
        );
        let general = queues.iter().find(|q| q["name"] == "general").unwrap();
        assert_eq!(
            general["waiting"], 0,
            "a declared queue with nothing waiting is listed"
        );
        assert!(
            monitor["agents"]
                .as_array()
                .unwrap()
                .iter()
                .any(|a| a["id"] == "li.na" && a["status"] == "away")
        );
    }
    // Another tenant sees its own queues and agents only: none yet.
    let other = env.create_tenant("other");
    let (status, theirs) = env.get("/v1/queues", &other);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(theirs["queues"], json!([]), "{theirs}");
    assert_eq!(theirs["agents"], json!([]), "{theirs}");
}

#[test]
fn assets_are_cached_by_version_and_checked_again_by_etag() {
    let env = TestEnv::demo();
    let (_, _, html) = env.request_raw(Request::get("/sign-in").body(Body::empty()).unwrap());
    let start = html.find("/assets/style.css?v=").unwrap() + 20;
    let version = &html[start..start + 12];
    let (status, headers, css) = env.request_raw(
        Request::get(format!("/assets/style.css?v={version}"))
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(status, StatusCode::OK);
    assert!(css.contains(":focus-visible"), "focus is visible");
    assert_eq!(
        headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    let etag = headers[header::ETAG].to_str().unwrap().to_string();
    let (status, headers, _) = env.request_raw(
        Request::get("/assets/common.js")
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers[header::CACHE_CONTROL],
        "no-cache",
        "an import without a version is checked again"
    );
    let (status, _, body) = env.request_raw(
        Request::get("/assets/common.js")
            .header(header::IF_NONE_MATCH, &etag)
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    for missing in ["/assets/nope.js", "/assets/..%2Fstyle.css"] {
        let (status, _, _) = env.request_raw(Request::get(missing).body(Body::empty()).unwrap());
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    }
    // No asset reaches outside: every URL in them is this server's.
    for name in [
        "style.css",
        "common.js",
        "desk.js",
        "console.js",
        "plot.js",
        "chat.js",
        "sign-in.js",
    ] {
        let (_, _, body) = env.request_raw(
            Request::get(format!("/assets/{name}"))
                .body(Body::empty())
                .unwrap(),
        );
        // (The SVG namespace is a name, not a request.)
        let body = body.replace("http://www.w3.org/2000/svg", "");
        assert!(
            !body.contains("https://") && !body.contains("http://"),
            "{name} reaches outside"
        );
    }
}

#[test]
fn embedding_origins_are_checked_and_allowed_to_frame_the_chat() {
    let env = TestEnv::demo();
    let (_, settings) = env.get("/v1/settings", DEMO_KEY);
    let with_origins = |origins: Vec<String>| {
        let mut s = settings.clone();
        s["web_chat"]["embed_origins"] = json!(origins);
        env.put("/v1/settings", DEMO_KEY, &s)
    };
    let twenty: Vec<String> = (0..20)
        .map(|i| format!("https://shop{i}.example"))
        .collect();
    assert_eq!(with_origins(twenty.clone()).0, StatusCode::OK);
    let mut twenty_one = twenty.clone();
    twenty_one.push("https://one-more.example".into());
    let (status, body) = with_origins(twenty_one);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = with_origins(vec!["https://shop.example/page".into()]);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("without a path")
    );
    assert_eq!(
        with_origins(vec!["https://shop.example".into()]).0,
        StatusCode::OK
    );
    let (status, headers, _) =
        env.request_raw(Request::get("/chat/demo").body(Body::empty()).unwrap());
    assert_eq!(status, StatusCode::OK);
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.ends_with("frame-ancestors 'self' https://shop.example"),
        "{csp}"
    );
    let (status, headers, script) = env.request_raw(
        Request::get("/chat/demo/embed.js")
            .header(header::HOST, "evil.example")
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(
        script.contains("\"path\":\"/chat/demo?lang=en\""),
        "{script}"
    );
    assert!(
        !script.contains("evil.example"),
        "the snippet trusts no Host header: {script}"
    );
}

#[test]
fn the_forecast_reads_the_traffic_history_and_staffs_each_hour() {
    use switchyard::traffic::{Counts, HOUR_MS};
    let env = TestEnv::demo();
    // Twelve weeks of history written as the counter would: a weekly
    // pattern of conversations begun, busy at 10:00 UTC, quiet at night,
    // and the after-sales queue's handoffs a tenth of them.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let this_hour = now / HOUR_MS;
    let contacts = |hour: u64| -> u64 {
        if hour % 24 == 10 {
            60 + (hour / 24 % 7) * 10
        } else {
            4
        }
    };
    let mut deltas = std::collections::BTreeMap::new();
    for hour in this_hour - 12 * 168..this_hour {
        let n = contacts(hour);
        deltas.insert(
            (hour, String::new()),
            Counts {
                messages: n,
                escalated: 0,
                started: n,
                handoffs: n / 10,
                corrected: 0,
            },
        );
        deltas.insert(
            (hour, "q:after-sales".to_string()),
            Counts {
                messages: n / 10,
                escalated: 0,
                started: 0,
                handoffs: n / 10,
                corrected: 0,
            },
        );
    }
    let counted = env.app.storage.traffic_counted("demo").unwrap();
    env.app
        .storage
        .add_traffic("demo", &deltas, &Default::default(), counted)
        .unwrap();

    let (status, forecast) = env.get("/v1/forecast?hours=48", DEMO_KEY);
    assert_eq!(status, StatusCode::OK, "{forecast}");
    let hours = forecast["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 48);
    assert_eq!(
        hours[0]["hour_ms"].as_u64().unwrap(),
        this_hour * HOUR_MS,
        "from the current hour"
    );
    for h in hours {
        let hour = h["hour_ms"].as_u64().unwrap() / HOUR_MS;
        let expected = contacts(hour) as f64;
        let got = h["contacts"].as_f64().unwrap();
        assert!(
            (got - expected).abs() < 1e-6,
            "{h}: a stable week is forecast exactly ({expected})"
        );
        assert!(h["low"].as_f64().unwrap() <= got && got <= h["high"].as_f64().unwrap());
    }
    let busy = hours
        .iter()
        .find(|h| h["hour_ms"].as_u64().unwrap() / HOUR_MS % 24 == 10)
        .unwrap();
    let quiet = hours
        .iter()
        .find(|h| h["hour_ms"].as_u64().unwrap() / HOUR_MS % 24 == 3)
        .unwrap();
    assert!(busy["agents"].as_u64().unwrap() > quiet["agents"].as_u64().unwrap());
    // A longer handle time needs more agents for the same hour.
    let (_, slower) = env.get("/v1/forecast?hours=48&handle_secs=600", DEMO_KEY);
    let slower_busy = slower["hours"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hour_ms"] == busy["hour_ms"])
        .unwrap();
    assert!(slower_busy["agents"].as_u64().unwrap() > busy["agents"].as_u64().unwrap());
    // One queue's handoffs.
    let (status, queue) = env.get("/v1/forecast?hours=24&queue=after-sales", DEMO_KEY);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(queue["volume"], "after-sales");
    let busy_queue = queue["hours"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hour_ms"].as_u64().unwrap() / HOUR_MS % 24 == 10)
        .unwrap();
    let hour = busy_queue["hour_ms"].as_u64().unwrap() / HOUR_MS;
    assert!((busy_queue["contacts"].as_f64().unwrap() - (contacts(hour) / 10) as f64).abs() < 1e-6);
    // The bounds, exactly; who may ask.
    for (query, status) in [
        ("hours=0", StatusCode::UNPROCESSABLE_ENTITY),
        ("hours=1", StatusCode::OK),
        ("hours=336", StatusCode::OK),
        ("hours=337", StatusCode::UNPROCESSABLE_ENTITY),
        ("service_level=1", StatusCode::UNPROCESSABLE_ENTITY),
        ("handle_secs=0", StatusCode::UNPROCESSABLE_ENTITY),
        ("queue=..", StatusCode::UNPROCESSABLE_ENTITY),
        ("nonsense=1", StatusCode::BAD_REQUEST),
    ] {
        let (got, body) = env.get(&format!("/v1/forecast?{query}"), DEMO_KEY);
        assert_eq!(got, status, "{query}: {body}");
    }
    let li = agent_key(&env, "li.na");
    assert_eq!(env.get("/v1/forecast", &li).0, StatusCode::FORBIDDEN);
    let (status, operator) = env.get("/v1/tenants/demo/forecast?hours=48", OPERATOR_KEY);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(operator["hours"], forecast["hours"]);
}

/// Visitor tokens cost nothing to make, so their making is rate-limited
/// per tenant: a burst runs into 429 with a clear error and no token, and
/// another tenant's chat still opens.
#[test]
fn minting_visitor_tokens_is_rate_limited_per_tenant() {
    // The server's default rates (other tests run without limits).
    let env = TestEnv::demo().with_throttle(switchyard::api::throttle::Throttle::with_defaults());
    let mint = |tenant: &str| {
        env.request_built(
            Request::post(format!("/chat/{tenant}/api/visitor"))
                .body(Body::empty())
                .unwrap(),
        )
    };
    let mut refused = None;
    for i in 0..2_000 {
        let (status, body) = mint("demo");
        if status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some((i, body));
            break;
        }
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (after, body) = refused.expect("2,000 tokens in a burst were all minted");
    // The default rate (burst 2,000, 1,000 a second) at 20 a token: a burst
    // of 100, plus what refills while the loop runs.
    assert!((100..200).contains(&after), "refused after {after}");
    assert!(
        body.get("token").is_none() && body["error"]["code"].is_string(),
        "{body}"
    );
    // Another tenant's chat is not held back by the demo's burst.
    let other = env.create_tenant("other");
    let (_, mut settings) = env.get("/v1/settings", &other);
    settings["web_chat"] = json!({"enabled": true});
    assert_eq!(env.put("/v1/settings", &other, &settings).0, StatusCode::OK);
    assert_eq!(mint("other").0, StatusCode::OK);
}
