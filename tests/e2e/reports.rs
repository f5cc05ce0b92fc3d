//! The numbers through the API, from real conversations in the real host:
//! every KPI against what the answers said (handoff, first response,
//! resolution, repeat contact, survey answered and not, suggestion used,
//! correction, ticket closed), groups, CSV, periods at their bounds, the
//! canary compared by outcome, weak spots, coaching, and tenants apart.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use switchyard_e2e::{DEMO_KEY, OPERATOR_KEY, TestEnv};

use crate::desk::{agent_key, everyone_away};

fn kpis(env: &TestEnv, query: &str) -> Value {
    let (status, body) = env.get(&format!("/v1/reports/kpis?{query}"), DEMO_KEY);
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// What the script below did, as its answers said.
struct Script {
    /// Customer messages that came while the bot held the conversation,
    /// and of those the bot answered.
    bot_turns: u64,
    answered: u64,
    ticket: Option<String>,
    refund_intent: String,
}

/// k-1: a refund waits, li.na claims it, replies, resolves; the customer
/// answers the survey 5. k-2: the bot answers, the admin resolves it, the
/// survey is never answered. k-3: k-1's customer back about the same thing.
fn script(env: &TestEnv, li: &str) -> Script {
    let mut s = Script {
        bot_turns: 0,
        answered: 0,
        ticket: None,
        refund_intent: String::new(),
    };
    let mut note = |r: &Value| {
        s.bot_turns += 1;
        // A reply that hands over is no answer.
        s.answered += u64::from(r["reply"].is_string() && r["route"]["to"] == "bot");
    };
    let r = env.send(
        "k-1",
        "我要退款，订单号 2024113012345",
        "cust-k",
        "standard",
    );
    assert_eq!(r["route"]["queue"], "after-sales", "{r}");
    note(&r);
    let refund_intent = r["intent"]["name"].as_str().unwrap().to_string();
    let ticket = r["ticket"]["id"].as_str().map(str::to_string);
    let (status, body) = env.post("/v1/conversations/k-1/claim", li, &json!({}));
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = env.post(
        "/v1/conversations/k-1/notes",
        li,
        &json!({"text": "checking the order"}),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = env.post(
        "/v1/conversations/k-1/replies",
        li,
        &json!({"text": "您好，已为您提交退款"}),
    );
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = env.post("/v1/conversations/k-1/resolve", li, &json!({}));
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = env.post(
        "/v1/conversations/k-1/survey",
        DEMO_KEY,
        &json!({"score": 5}),
    );
    assert_eq!(status, StatusCode::OK, "{body}");

    let r = env.send("k-2", "where is my package?", "cust-other", "standard");
    assert_eq!(r["route"]["to"], "bot", "{r}");
    note(&r);
    let (status, body) = env.post("/v1/conversations/k-2/resolve", DEMO_KEY, &json!({}));
    assert_eq!(status, StatusCode::OK, "{body}");

    let r = env.send(
        "k-3",
        "我要退款，订单号 2024113012345",
        "cust-k",
        "standard",
    );
    assert_eq!(r["intent"]["name"], refund_intent.as_str(), "{r}");
    assert_eq!(r["route"]["queue"], "after-sales", "{r}");
    note(&r);
    s.ticket = ticket;
    s.refund_intent = refund_intent;
    s
}

#[test]
fn every_kpi_of_real_conversations_has_its_known_answer() {
    let env = TestEnv::demo();
    everyone_away(&env);
    let li = agent_key(&env, "li.na");
    let s = script(&env, &li);
    let report = kpis(&env, "days=1");
    let t = &report["totals"];
    assert_eq!(t["conversations"], 3, "{t}");
    assert_eq!(t["messages"], 3, "{t}");
    let instant = s.answered as f64 / s.bot_turns as f64;
    assert_eq!(t["ai_instant_response_rate"].as_f64(), Some(instant), "{t}");
    // k-1 and k-3 reached people; k-2 the bot resolved.
    assert_eq!(t["transfer_rate"].as_f64(), Some(2.0 / 3.0), "{t}");
    assert_eq!(t["containment_rate"].as_f64(), Some(1.0 / 3.0), "{t}");
    assert_eq!(t["first_responses"], 1, "the note is not a response: {t}");
    let first = t["first_response_median_secs"].as_f64().unwrap();
    assert!((0.0..=30.0).contains(&first), "{t}");
    assert_eq!(t["resolved"], 2, "{t}");
    // k-1 resolved, then its customer came back about the same intent.
    assert_eq!(t["first_contact_resolution"].as_f64(), Some(0.5), "{t}");
    assert_eq!(t["csat_average"].as_f64(), Some(5.0), "{t}");
    assert_eq!(t["csat_high_share"].as_f64(), Some(1.0), "{t}");
    assert_eq!(t["csat_response_rate"].as_f64(), Some(0.5), "{t}");
    assert_eq!(t["ai_accuracy_as_agents_judge"].as_f64(), Some(1.0), "{t}");
    // The seeds' targets beside the figures.
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 7, "{targets:?}");
    let target = |kpi: &str| targets.iter().find(|x| x["kpi"] == kpi).unwrap().clone();
    assert_eq!(target("transfer_rate")["value"], 0.15);
    assert_eq!(target("transfer_rate")["meets"], false);
    assert_eq!(target("csat_average")["meets"], true);

    // An agent corrects a message: accuracy falls by one message in three.
    let (_, view) = env.get("/v1/conversations/k-3", DEMO_KEY);
    let message = view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["author"] == "customer")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = env.put(
        &format!("/v1/conversations/k-3/messages/{message}/intent"),
        DEMO_KEY,
        &json!({"intent": "complaint"}),
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    // The ticket k-1 opened is solved: closed within 24 h.
    let ticket = s.ticket.clone().expect("the demo's refund opens a ticket");
    {
        let (status, body) = env.request(
            Method::PATCH,
            &format!("/v1/tickets/{ticket}"),
            Some(DEMO_KEY),
            Some(Body::from(json!({"status": "solved"}).to_string())),
            "application/json",
        );
        assert_eq!(status, StatusCode::OK, "{body}");
        // Solving it again changes nothing and counts nothing.
        let (status, _) = env.request(
            Method::PATCH,
            &format!("/v1/tickets/{ticket}"),
            Some(DEMO_KEY),
            Some(Body::from(json!({"status": "solved"}).to_string())),
            "application/json",
        );
        assert_eq!(status, StatusCode::OK);
    }
    let t = kpis(&env, "days=1")["totals"].clone();
    let accuracy = t["ai_accuracy_as_agents_judge"].as_f64().unwrap();
    assert!((accuracy - 2.0 / 3.0).abs() < 1e-9, "{t}");
    if s.ticket.is_some() {
        assert_eq!(t["tickets_closed"], 1, "{t}");
        assert_eq!(
            t["cross_department_closure_24h"].as_f64().map(|v| v > 0.0),
            Some(true),
            "{t}"
        );
    }

    // Per agent: li.na's first response, resolution and survey.
    let by_agent = kpis(&env, "days=1&by=agent");
    let rows = by_agent["groups"].as_array().unwrap();
    let li_row = rows
        .iter()
        .find(|r| r["key"] == "li.na")
        .unwrap_or_else(|| panic!("{by_agent}"));
    assert_eq!(li_row["first_responses"], 1, "{li_row}");
    assert_eq!(li_row["csat_average"].as_f64(), Some(5.0), "{li_row}");
    assert!(li_row["handling_mean_secs"].as_f64().is_some(), "{li_row}");
    // Per intent: the refund's three... two conversations, both handed over.
    let by_intent = kpis(&env, "days=1&by=intent");
    let refund = by_intent["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == s.refund_intent.as_str())
        .unwrap()
        .clone();
    assert_eq!(refund["conversations"], 2, "{refund}");
    assert_eq!(refund["transfer_rate"].as_f64(), Some(1.0), "{refund}");
    // Per version: the classifier that decided them all.
    let by_version = kpis(&env, "days=1&by=version");
    let classify: u64 = by_version["groups"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["key"].as_str().unwrap().starts_with("classify:"))
        .map(|r| r["conversations"].as_u64().unwrap())
        .sum();
    assert_eq!(classify, 3, "{by_version}");

    // The same through the operator's path; another tenant sees none of it.
    let (status, operator) = env.get("/v1/tenants/demo/reports/kpis?days=1", OPERATOR_KEY);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(operator["totals"], kpis(&env, "days=1")["totals"]);
    let other = env.create_tenant("other-shop");
    let (status, theirs) = env.get("/v1/reports/kpis?days=1", &other);
    assert_eq!(status, StatusCode::OK, "{theirs}");
    assert_eq!(theirs["totals"]["conversations"], 0, "{theirs}");
    assert!(theirs["totals"]["transfer_rate"].is_null(), "{theirs}");
    let (status, _) = env.get("/v1/reports/kpis?days=1", &li);
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "an agent's key reads no tenant report"
    );

    // The live figures as gauges.
    let metrics = env.metrics();
    assert!(
        metrics.contains("switchyard_kpi_conversations_today{tenant=\"demo\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("switchyard_kpi_csat_average{tenant=\"demo\"} 5"),
        "{metrics}"
    );
}

#[test]
fn a_report_is_json_or_csv_by_hour_day_or_week_and_its_bounds_hold() {
    let env = TestEnv::demo();
    env.send("r-1", "where is my package?", "cust-r", "standard");
    let day = kpis(&env, "days=7");
    let series = day["series"].as_array().unwrap();
    assert_eq!(series.len(), 7, "{day}");
    assert_eq!(series.last().unwrap()["conversations"], 1);
    assert!(series[..6].iter().all(|r| r["conversations"] == 0));
    let hours = kpis(&env, "days=1&group=hour")["series"]
        .as_array()
        .unwrap()
        .len();
    assert!((1..=24).contains(&hours), "{hours}");
    let weeks = kpis(&env, "days=14&group=week")["series"]
        .as_array()
        .unwrap()
        .len();
    assert!((2..=3).contains(&weeks), "{weeks}");

    let request = Request::builder()
        .uri("/v1/reports/kpis?days=3&format=csv")
        .header("Authorization", format!("Bearer {DEMO_KEY}"))
        .body(Body::empty())
        .unwrap();
    let (status, headers, csv) = env.request_raw(request);
    assert_eq!(status, StatusCode::OK, "{csv}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4, "a header and three days: {csv}");
    assert!(
        lines[0].starts_with("start,conversations,messages,ai_instant_response_rate"),
        "{csv}"
    );
    let columns = lines[0].split(',').count();
    assert!(
        lines.iter().all(|l| l.split(',').count() == columns),
        "{csv}"
    );
    assert!(lines[3].contains("T00:00,1,1,"), "{csv}");
    let request = Request::builder()
        .uri("/v1/reports/kpis?days=3&format=csv&by=channel")
        .header("Authorization", format!("Bearer {DEMO_KEY}"))
        .body(Body::empty())
        .unwrap();
    let (_, _, csv) = env.request_raw(request);
    assert!(csv.starts_with("group,"), "{csv}");
    assert_eq!(csv.lines().count(), 2, "{csv}");

    // Periods at their bounds: 92 days pass, 93 and 0 do not.
    let (status, _) = env.get("/v1/reports/kpis?days=92", DEMO_KEY);
    assert_eq!(status, StatusCode::OK);
    for (query, expected) in [
        ("days=93", StatusCode::UNPROCESSABLE_ENTITY),
        ("days=0", StatusCode::UNPROCESSABLE_ENTITY),
        ("from=2026-01-01&to=2026-04-02", StatusCode::OK),
        (
            "from=2026-01-01&to=2026-04-03",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("from=2026-01-01", StatusCode::UNPROCESSABLE_ENTITY),
        (
            "from=2026-02-30&to=2026-03-01",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "from=2026-01-01&to=2026-01-02&days=3",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("format=xml", StatusCode::UNPROCESSABLE_ENTITY),
        ("by=planet", StatusCode::BAD_REQUEST),
        ("group=month", StatusCode::BAD_REQUEST),
        ("colour=red", StatusCode::BAD_REQUEST),
    ] {
        let (status, body) = env.get(&format!("/v1/reports/kpis?{query}"), DEMO_KEY);
        assert_eq!(status, expected, "{query}: {body}");
        if status != StatusCode::OK {
            assert!(
                !body["error"]["message"].as_str().unwrap_or("").is_empty(),
                "{query}: {body}"
            );
        }
    }
    let explicit = kpis(&env, "from=2026-11-01&to=2026-11-30");
    assert_eq!(explicit["series"].as_array().unwrap().len(), 30);
}

#[test]
fn a_canary_is_compared_with_the_active_version_by_outcome_with_intervals() {
    let env = TestEnv::demo();
    let canary = crate::lifecycle::stage_fixture(&env, "ok");
    let (status, body) = env.canary("demo", "classify", canary, 50);
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut on_canary = 0u64;
    for n in 0..24 {
        let r = env.send(
            &format!("cn-{n}"),
            "where is my package?",
            &format!("cust-{n}"),
            "standard",
        );
        let decided = switchyard_e2e::trace_of(&r, "classify")
            .into_iter()
            .find(|t| t["role"] == "active" || t["role"] == "canary")
            .unwrap()["version_id"]
            .as_u64()
            .unwrap();
        on_canary += u64::from(decided == canary);
    }
    let (status, answer) = env.get("/v1/reports/canary?days=1", DEMO_KEY);
    assert_eq!(status, StatusCode::OK, "{answer}");
    let comparisons = answer["comparisons"].as_array().unwrap();
    assert_eq!(comparisons.len(), 1, "{answer}");
    let c = &comparisons[0];
    assert_eq!(c["slot"], "classify");
    assert_eq!(c["design"], "canary");
    assert_eq!(c["candidate"]["version_id"], canary);
    assert_eq!(c["candidate"]["conversations"], on_canary, "{c}");
    assert_eq!(c["baseline"]["conversations"], 24 - on_canary, "{c}");
    let transfer = c["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kpi"] == "transfer_rate")
        .unwrap();
    assert_eq!(transfer["candidate"]["n"], on_canary, "{transfer}");
    // The fixture hands every conversation over, the demo's classifier
    // none of these: with 10 or more a side, the interval of the
    // difference says worse; below that, no verdict.
    let expected = if on_canary < 10 || 24 - on_canary < 10 {
        "too_few_to_tell"
    } else {
        assert!(
            transfer["difference_low"].as_f64().unwrap() > 0.0,
            "{transfer}"
        );
        "worse"
    };
    assert_eq!(transfer["verdict"], expected, "{transfer}");
    for side in ["candidate", "baseline"] {
        let e = &transfer[side];
        if e["n"].as_u64().unwrap() > 0 {
            let (low, value, high) = (
                e["low"].as_f64().unwrap(),
                e["value"].as_f64().unwrap(),
                e["high"].as_f64().unwrap(),
            );
            assert!(
                low <= value && value <= high && low >= 0.0 && high <= 1.0,
                "{e}"
            );
        }
    }
    // Two chosen versions; a version the tenant does not have is a 404.
    let baseline = c["baseline"]["version_id"].as_u64().unwrap();
    let (status, chosen) = env.get(
        &format!("/v1/reports/canary?days=1&slot=classify&candidate={canary}&baseline={baseline}"),
        DEMO_KEY,
    );
    assert_eq!(status, StatusCode::OK, "{chosen}");
    assert_eq!(chosen["comparisons"][0]["design"], "chosen");
    let (status, body) = env.get(
        &format!("/v1/reports/canary?slot=classify&candidate=999999&baseline={baseline}"),
        DEMO_KEY,
    );
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = env.get("/v1/reports/canary?slot=classify&candidate=1", DEMO_KEY);
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = env.get(
        "/v1/reports/canary?slot=dance&candidate=1&baseline=2",
        DEMO_KEY,
    );
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[test]
fn weak_spots_name_the_intents_handed_over_with_examples_and_coaching_compares_agents() {
    let env = TestEnv::demo();
    everyone_away(&env);
    let li = agent_key(&env, "li.na");
    let s = script(&env, &li);
    let (status, weak) = env.get("/v1/reports/weak-spots", DEMO_KEY);
    assert_eq!(status, StatusCode::OK, "{weak}");
    assert_eq!(weak["by_transfer"][0], s.refund_intent.as_str(), "{weak}");
    let row = weak["intents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["intent"] == s.refund_intent.as_str())
        .unwrap();
    let examples: Vec<&str> = row["examples"]["handoff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(examples, vec!["k-1", "k-3"], "{row}");
    assert_eq!(row["examples"]["repeat"], json!(["k-1"]), "{row}");
    assert_eq!(row["transfer"]["n"], 2);
    assert_eq!(row["links"]["mine"], "/v1/knowledge/mine");
    let (status, operator) = env.get("/v1/tenants/demo/reports/weak-spots?days=7", OPERATOR_KEY);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(operator["by_transfer"], weak["by_transfer"]);

    // Coaching: li.na against the team; the agent sees their own.
    let (status, own) = env.get("/v1/me/coaching", &li);
    assert_eq!(status, StatusCode::OK, "{own}");
    assert_eq!(own["agent"], "li.na");
    assert_eq!(own["agent_kpis"]["first_responses"], 1, "{own}");
    assert_eq!(own["team_kpis"]["first_responses"], 1, "{own}");
    let (status, lead) = env.get("/v1/reports/coaching/li.na", DEMO_KEY);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(lead["agent_kpis"], own["agent_kpis"]);
    let (status, body) = env.get("/v1/reports/coaching/nobody", DEMO_KEY);
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // Another tenant cannot read this tenant's agents.
    let other = env.create_tenant("other-shop");
    let (status, _) = env.get("/v1/reports/coaching/li.na", &other);
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[test]
fn the_forecast_staffs_with_the_measured_handle_time_from_twenty_resolutions() {
    let env = TestEnv::demo();
    everyone_away(&env);
    let li = agent_key(&env, "li.na");
    let forecast = |env: &TestEnv, query: &str| {
        let (status, body) = env.get(&format!("/v1/forecast?hours=2{query}"), DEMO_KEY);
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    };
    let handle = |env: &TestEnv, n: usize| {
        let conversation = format!("ht-{n}");
        env.send(
            &conversation,
            "我要退款，订单号 2024113012345",
            &format!("cust-ht-{n}"),
            "standard",
        );
        let (status, body) = env.post(
            &format!("/v1/conversations/{conversation}/claim"),
            &li,
            &json!({}),
        );
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, body) = env.post(
            &format!("/v1/conversations/{conversation}/resolve"),
            &li,
            &json!({}),
        );
        assert_eq!(status, StatusCode::OK, "{body}");
    };
    for n in 0..19 {
        handle(&env, n);
    }
    // 19 resolutions: not enough to measure; the default, and it says why.
    let f = forecast(&env, "");
    assert_eq!(f["handle_secs_from"], "default", "{f}");
    assert_eq!(f["handle_measured_from"], 19, "{f}");
    assert_eq!(f["handle_secs"], 180.0);
    handle(&env, 19);
    // 20: measured (claims resolved at once: the 1 s floor).
    let f = forecast(&env, "");
    assert_eq!(f["handle_secs_from"], "measured", "{f}");
    assert_eq!(f["handle_measured_from"], 20, "{f}");
    let secs = f["handle_secs"].as_f64().unwrap();
    assert!((1.0..60.0).contains(&secs), "{f}");
    // Per queue: the after-sales queue's own; a quiet queue has none.
    let f = forecast(&env, "&queue=after-sales");
    assert_eq!(f["handle_secs_from"], "measured", "{f}");
    let f = forecast(&env, "&queue=vip");
    assert_eq!(f["handle_secs_from"], "default", "{f}");
    assert_eq!(f["handle_measured_from"], 0, "{f}");
    // Given in the query: used as given.
    let f = forecast(&env, "&handle_secs=240");
    assert_eq!(f["handle_secs_from"], "given", "{f}");
    assert_eq!(f["handle_secs"], 240.0);

    // Agents are for the conversations that reach people: all 20 so far...
    let f = forecast(&env, "");
    assert_eq!(f["staffed_share_from"], "measured", "{f}");
    assert_eq!(f["staffed_share"], 1.0, "{f}");
    // ...half, once as many stay with the bot.
    for n in 0..20 {
        let r = env.send(
            &format!("bot-{n}"),
            "where is my package?",
            &format!("cust-bot-{n}"),
            "standard",
        );
        assert_eq!(r["route"]["to"], "bot", "{r}");
    }
    let f = forecast(&env, "");
    assert_eq!(f["staffed_share"], 0.5, "{f}");
    // A queue's handoffs all reach people.
    assert_eq!(
        forecast(&env, "&queue=after-sales")["staffed_share_from"],
        "queue"
    );
    // Two conversations an agent: half the places, rounded up.
    let one = forecast(&env, "&handle_secs=600");
    let two = forecast(&env, "&handle_secs=600&concurrency=2");
    assert_eq!(two["concurrency"], 2);
    let agents = |f: &Value| -> Vec<u64> {
        f["hours"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["agents"].as_u64().unwrap())
            .collect()
    };
    assert!(!agents(&one).is_empty());
    assert_eq!(
        agents(&two),
        agents(&one)
            .iter()
            .map(|a| a.div_ceil(2))
            .collect::<Vec<_>>()
    );
    for bad in ["concurrency=0", "concurrency=21"] {
        let (status, body) = env.get(&format!("/v1/forecast?{bad}"), DEMO_KEY);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
    }
    let (status, _) = env.get("/v1/forecast?concurrency=20", DEMO_KEY);
    assert_eq!(status, StatusCode::OK);
}

/// The customer digest's secret is the store's: after a restart the same
/// customer is the same customer, so their repeat contact is found.
#[test]
fn a_repeat_contact_is_found_across_a_restart() {
    let env = TestEnv::demo();
    let r = env.send("rs-1", "where is my package?", "cust-rs", "standard");
    assert_eq!(r["route"]["to"], "bot", "{r}");
    let (status, body) = env.post("/v1/conversations/rs-1/resolve", DEMO_KEY, &json!({}));
    assert_eq!(status, StatusCode::OK, "{body}");
    let dir = env.shutdown();
    let env = TestEnv::open(dir, switchyard::runtime::Limits::default());
    env.send("rs-2", "where is my package?", "cust-rs", "standard");
    let t = kpis(&env, "days=1")["totals"].clone();
    assert_eq!(t["conversations"], 2, "{t}");
    assert_eq!(t["first_contact_resolution"].as_f64(), Some(0.0), "{t}");
    // Another customer's contact is no repeat of theirs.
    env.send("rs-3", "where is my package?", "cust-other", "standard");
    let (status, _) = env.post("/v1/conversations/rs-3/resolve", DEMO_KEY, &json!({}));
    assert_eq!(status, StatusCode::OK);
    let t = kpis(&env, "days=1")["totals"].clone();
    assert_eq!(t["first_contact_resolution"].as_f64(), Some(0.5), "{t}");
}
