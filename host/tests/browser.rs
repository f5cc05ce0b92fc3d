//! The web pages in a real headless Chromium against the real server
//! binary: a customer in the chat page and an agent at the desk, an
//! operator canarying and rolling back, a tenant admin publishing a mined
//! draft, the sign-in's cookie and CSRF rules, tenant isolation, and an
//! accessibility check (axe-core) on the three main pages.
//!
//! Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them
//! and sets SWITCHYARD_REQUIRE_BROWSER=1); without them each test says
//! SKIPPED and passes. Timings (first paint, live update) are printed as
//! `FIGURE ...` lines for BENCHMARKS.md, not asserted.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};

#[path = "support/server.rs"]
mod server;
#[path = "support/webdriver.rs"]
mod webdriver;

use server::{DEMO_KEY, OPERATOR_KEY, Server, http, serve};
use webdriver::{Driver, Session};

/// One browser test at a time: two cores, and the timings they print
/// should not measure each other.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

const SECOND: Duration = Duration::from_secs(1);
const WAIT: Duration = Duration::from_secs(15);

fn call(method: &str, base: &str, path: &str, key: &str, body: Option<&Value>) -> (u16, Value) {
    let url = format!("{base}{path}");
    let auth = format!("Bearer {key}");
    let mut response = match (method, body) {
        ("GET", _) => http().get(&url).header("Authorization", &auth).call(),
        ("PUT", Some(b)) => http().put(&url).header("Authorization", &auth).send_json(b),
        (_, b) => http()
            .post(&url)
            .header("Authorization", &auth)
            .send_json(b.cloned().unwrap_or(json!({}))),
    }
    .expect("the server answers");
    (
        response.status().as_u16(),
        response.body_mut().read_json().unwrap_or(Value::Null),
    )
}

/// Every after-sales agent steps away, so a refund waits in its queue for
/// someone to claim it; returns li.na's new key.
fn everyone_in_after_sales_away(base: &str) -> String {
    for agent in ["li.na", "emma.stone", "zhao.min"] {
        let (status, mut record) =
            call("GET", base, &format!("/v1/agents/{agent}"), DEMO_KEY, None);
        assert_eq!(status, 200, "{record}");
        let record = record.as_object_mut().unwrap();
        record.remove("load");
        record.insert("status".into(), json!("away"));
        let (status, body) = call(
            "PUT",
            base,
            &format!("/v1/agents/{agent}"),
            DEMO_KEY,
            Some(&Value::Object(record.clone())),
        );
        assert_eq!(status, 200, "{body}");
    }
    let (status, issued) = call(
        "POST",
        base,
        "/v1/agents/li.na/key",
        DEMO_KEY,
        Some(&json!({})),
    );
    assert_eq!(status, 201, "{issued}");
    issued["key"].as_str().unwrap().to_string()
}

/// Sign in through the form, as a person would.
fn sign_in(session: &Session, base: &str, key: &str) {
    session.goto(&format!("{base}/sign-in"));
    let field = session.find("#key");
    session.type_into(&field, key);
    session.click_css("form[action='/sign-in'] button[type=submit]");
    session.wait_until(
        "the signed-in page",
        "document.documentElement.dataset.ready === 'true' && !location.pathname.startsWith('/sign-in')",
        WAIT,
    );
}

fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Keep a screenshot; with SWITCHYARD_UPDATE_SCREENSHOTS=1 it also
/// replaces the README's copy in `docs/screenshots/`.
fn keep_screenshot(session: &Session, name: &str) {
    let png = session.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    std::fs::write(screenshot_dir().join(name), &png).unwrap();
    if std::env::var("SWITCHYARD_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join(name), &png).unwrap();
    }
}

fn start() -> Option<(
    std::sync::MutexGuard<'static, ()>,
    Driver,
    tempfile::TempDir,
    Server,
)> {
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let driver = Driver::start()?;
    let data = tempfile::tempdir().unwrap();
    let server = serve(data.path());
    Some((guard, driver, data, server))
}

#[test]
fn a_customer_in_the_chat_and_an_agent_at_the_desk_resolve_a_refund() {
    let Some((_guard, driver, _data, server)) = start() else {
        return;
    };
    let base = &server.base;
    let li_key = everyone_in_after_sales_away(base);

    // The agent signs in: a session cookie, HttpOnly and SameSite; the key
    // is nowhere the page's script or the address bar can read it.
    let desk = driver.session("en-US");
    sign_in(&desk, base, &li_key);
    assert!(desk.url().ends_with("/desk"), "{}", desk.url());
    let cookies = desk.cookies();
    let session_cookie = cookies
        .iter()
        .find(|c| c["name"] == "sy_session")
        .unwrap_or_else(|| panic!("no session cookie in {cookies:?}"));
    assert_eq!(session_cookie["httpOnly"], true);
    assert_eq!(session_cookie["sameSite"], "Lax");
    let exposed = desk.run(
        "return [document.cookie, location.href, JSON.stringify(localStorage), JSON.stringify(sessionStorage), document.documentElement.outerHTML].some(s => s.includes(arguments[0]));",
        json!([li_key]),
    );
    assert_eq!(exposed, false, "the key is readable by the page");
    let paint = desk.run(
        "const p = performance.getEntriesByName('first-contentful-paint')[0]; const r = performance.getEntriesByName('desk-ready')[0]; return {paint: p ? p.startTime : null, ready: r ? r.startTime : null};",
        json!([]),
    );
    println!(
        "FIGURE desk first contentful paint {:.0} ms, list drawn {:.0} ms after navigation (cold: first load)",
        paint["paint"].as_f64().unwrap_or(-1.0),
        paint["ready"].as_f64().unwrap_or(-1.0)
    );

    // The customer writes in the chat page; the desk is watching.
    let chat = driver.session("zh-CN");
    chat.goto(&format!("{base}/chat/demo"));
    chat.wait_until(
        "the chat",
        "document.documentElement.dataset.ready === 'true'",
        WAIT,
    );
    chat.wait_until(
        "the chat's stream",
        "document.documentElement.dataset.stream === 'live'",
        WAIT,
    );
    desk.run(
        "window.__appeared = null; new MutationObserver(() => { if (!window.__appeared && document.querySelector('[data-conversation^=\"web-\"]')) window.__appeared = Date.now(); }).observe(document.body, {subtree: true, childList: true});",
        json!([]),
    );
    let input = chat.find("#chat-input");
    chat.type_into(&input, "我要退款，订单号 2024113012345");
    let sent_at = chat.run(
        "const t = Date.now(); document.getElementById('chat-send').click(); return t;",
        json!([]),
    );
    let appeared = desk.wait_until(
        "the new conversation in the desk",
        "window.__appeared",
        WAIT,
    );
    let latency = appeared.as_f64().unwrap() - sent_at.as_f64().unwrap();
    println!(
        "FIGURE chat message to the desk's list: {latency:.0} ms (message decided, stored, flushed, streamed, list redrawn)"
    );

    // The conversation, with the order number in the context panel.
    desk.click_css("[data-conversation^='web-']");
    let fact = desk.find(".fact[data-kind='order-id']");
    assert_eq!(desk.text(&fact), "2024113012345");
    let history = desk.text(&desk.find("ol.history"));
    assert!(history.contains("我要退款"), "{history}");
    assert!(desk.try_find(".chip.intent").is_some(), "no intent chip");

    // The customer asks for a person; the desk shows it live.
    chat.type_into(&chat.find("#chat-input"), "转人工");
    chat.click_css("#chat-send");
    desk.wait_until(
        "the request for a person in the history",
        "document.querySelector('ol.history')?.innerText.includes('转人工')",
        WAIT,
    );

    // She claims it; the customer sees that a person joined.
    desk.click_css("#claim");
    desk.find("#send-reply");
    chat.wait_until(
        "the agent joining",
        "[...document.querySelectorAll('.bubble.system')].some(b => b.innerText.includes('Li Na'))",
        WAIT,
    );

    // The refund script is the first suggestion: Alt+1 puts it in the box.
    let first = desk.find("ol.cards li.suggestion");
    let kind = desk.run(
        "return document.querySelector('ol.cards li.suggestion').className;",
        json!([]),
    );
    assert!(kind.as_str().unwrap().contains("kind-reply"), "{kind}");
    let suggested = desk.text(&desk.find("ol.cards li.suggestion p.text"));
    assert!(
        suggested.contains("退款") && suggested.contains("2024113012345"),
        "the first suggestion is not the refund script for this order: {suggested}"
    );
    let _ = first;
    desk.press(&["\u{E00A}", "1"]);
    desk.wait_until(
        "the suggestion in the reply box",
        "document.getElementById('reply-text').value.length > 0",
        WAIT,
    );
    assert_eq!(desk.value("#reply-text"), suggested);
    let reply_box = desk.find("#reply-text");
    desk.type_into(&reply_box, "我已为您加急处理。");
    // Regression (issue 18 review): a customer message arriving while the
    // agent typed redrew the reply box and lost the draft.
    chat.type_into(&chat.find("#chat-input"), "在吗？");
    chat.click_css("#chat-send");
    desk.wait_until(
        "the customer's new message at the desk",
        "document.querySelector('ol.history')?.innerText.includes('在吗？')",
        WAIT,
    );
    assert_eq!(
        desk.value("#reply-text"),
        format!("{suggested}我已为您加急处理。"),
        "the draft survived the redraw"
    );
    desk.click_css("#send-reply");
    chat.wait_until(
        "the agent's reply in the chat",
        "[...document.querySelectorAll('.bubble.agent')].some(b => b.innerText.includes('我已为您加急处理。'))",
        WAIT,
    );

    // Live updates: each customer message into the open conversation at the
    // desk, timed from the chat's send to the desk's history showing it.
    let mut updates = Vec::new();
    for text in [
        "多久能到账？",
        "是原路退回吗",
        "好的，我等一下",
        "需要我提供什么吗",
        "谢谢",
    ] {
        let marked = text.to_string();
        desk.run(
            "window.__seen = null; const want = arguments[0]; const o = new MutationObserver(() => { if (!window.__seen && document.querySelector('ol.history')?.innerText.includes(want)) { window.__seen = Date.now(); o.disconnect(); } }); o.observe(document.body, {subtree: true, childList: true, characterData: true});",
            json!([marked]),
        );
        chat.type_into(&chat.find("#chat-input"), &marked);
        let sent = chat.run(
            "const t = Date.now(); document.getElementById('chat-send').click(); return t;",
            json!([]),
        );
        let seen = desk.wait_until("the message at the desk", "window.__seen", WAIT);
        updates.push(seen.as_f64().unwrap() - sent.as_f64().unwrap());
    }
    updates.sort_by(f64::total_cmp);
    println!(
        "FIGURE live update, chat to the open conversation at the desk, 5 messages: median {:.0} ms, max {:.0} ms",
        updates[updates.len() / 2],
        updates[updates.len() - 1]
    );
    keep_screenshot(&desk, "desk.png");

    // The desk loaded again, warm: its first paint.
    desk.goto(&format!("{base}/desk"));
    desk.wait_until(
        "the desk again",
        "document.documentElement.dataset.ready === 'true'",
        WAIT,
    );
    let warm = desk.run(
        "const p = performance.getEntriesByName('first-contentful-paint')[0]; const r = performance.getEntriesByName('desk-ready')[0]; return {paint: p ? p.startTime : null, ready: r ? r.startTime : null};",
        json!([]),
    );
    println!(
        "FIGURE desk first contentful paint {:.0} ms, list drawn {:.0} ms after navigation (warm: assets cached)",
        warm["paint"].as_f64().unwrap_or(-1.0),
        warm["ready"].as_f64().unwrap_or(-1.0)
    );
    // Back to the conversation: it is hers now, under "Mine".
    desk.click_css("#tab-mine");
    desk.click_css("[data-conversation^='web-']");
    desk.find("#resolve");

    // A private note stays with the team: the desk shows it, the chat never.
    desk.type_into(&desk.find("#reply-text"), "客户要求加急，已核对订单");
    desk.click_css("#add-note");
    desk.wait_until(
        "the note in the history",
        "document.querySelector('ol.history .entry.note')?.innerText.includes('已核对订单')",
        WAIT,
    );
    chat.run("return 0;", json!([]));
    std::thread::sleep(Duration::from_millis(500));
    let customer_sees = chat.body_text();
    assert!(!customer_sees.contains("已核对订单"), "{customer_sees}");

    // Her status, from the header: online.
    desk.run(
        "const s = document.getElementById('my-status'); s.value = 'online'; s.dispatchEvent(new Event('change'));",
        json!([]),
    );
    desk.wait_until(
        "the status set",
        "document.getElementById('my-status').className.includes('agent-online')",
        WAIT,
    );
    let (_, me) = call("GET", base, "/v1/me", &li_key, None);
    assert_eq!(me["status"], "online", "{me}");

    // Resolved: the survey appears in the chat and the customer answers.
    desk.click_css("#resolve");
    chat.wait_until(
        "the survey",
        "!document.getElementById('survey').hidden && document.querySelector('#survey input[name=score]')",
        WAIT,
    );
    keep_screenshot(&chat, "chat.png");
    chat.click_css("#survey label.score:nth-of-type(4)");
    chat.type_into(&chat.find("#survey-comment"), "很快，谢谢");
    chat.click_css("#survey-send");
    let thanks = chat.text(&chat.find("#survey .thanks"));
    assert!(thanks.contains('4'), "{thanks}");

    // What the pages did is what the API records.
    let (_, list) = call(
        "GET",
        base,
        "/v1/conversations?customer=&limit=50",
        DEMO_KEY,
        None,
    );
    let _ = list;
    let conversation_id = desk
        .run(
            "return document.querySelector('[data-conversation^=\"web-\"]')?.dataset.conversation || document.querySelector('#conversation-title').innerText.split(' ')[0];",
            json!([]),
        )
        .as_str()
        .unwrap()
        .to_string();
    let (status, view) = call(
        "GET",
        base,
        &format!("/v1/conversations/{conversation_id}"),
        DEMO_KEY,
        None,
    );
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["conversation"]["survey"]["score"], 4, "{view}");
    assert_eq!(view["conversation"]["survey"]["comment"], "很快，谢谢");
    let (_, outcomes) = call("GET", base, "/v1/suggestion-outcomes", DEMO_KEY, None);
    let outcome = &outcomes["outcomes"][0];
    assert_eq!(outcome["outcome"], "edited", "{outcomes}");
    assert_eq!(outcome["agent"], "li.na");
    let _ = SECOND;
}

/// Say something to the demo tenant over the API, as a channel would.
fn say(base: &str, conversation: &str, text: &str) -> Value {
    let (status, body) = call(
        "POST",
        base,
        &format!("/v1/conversations/{conversation}/messages"),
        DEMO_KEY,
        Some(&json!({"text": text, "channel": "web", "customer": {"id": conversation}})),
    );
    assert_eq!(status, 201, "{body}");
    body
}

fn classify_version(decision: &Value) -> u64 {
    decision["trace"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["slot"] == "classify")
        .and_then(|t| t["version_id"].as_u64())
        .unwrap_or_else(|| panic!("no classify trace: {decision}"))
}

/// Click the confirmation dialog's OK.
fn confirm(session: &Session) {
    session.click_css("dialog.confirm[open] button[value=ok]");
    session.wait_until(
        "the dialog to close",
        "!document.querySelector('dialog.confirm[open]')",
        WAIT,
    );
}

#[test]
fn an_operator_canaries_a_classifier_reads_its_figures_and_rolls_back() {
    let Some((_guard, driver, data, server)) = start() else {
        return;
    };
    let base = &server.base;
    let before = say(base, "before-canary", "where is my package?");
    let active = classify_version(&before);

    let console = driver.session("en-US");
    sign_in(&console, base, OPERATOR_KEY);
    assert!(console.url().contains("/console"), "{}", console.url());
    console.run(
        "const s = document.getElementById('tenant'); s.value = 'demo'; s.dispatchEvent(new Event('change'));",
        json!([]),
    );
    console.find("section.slot[data-slot='classify'] tbody tr");

    // A file that is no component: the validation error as the API gives it.
    let not_a_component = data.path().join("not-a-component.wasm");
    std::fs::write(&not_a_component, b"this is not wasm").unwrap();
    let fill_push = |file: &Path, config: &str| {
        console.run(
            "document.getElementById('push-slot').value = 'classify';",
            json!([]),
        );
        let input = console.find("#push-file");
        console.type_into(&input, file.to_str().unwrap());
        for (id, value) in [
            ("#push-name", "fixture"),
            ("#push-version", "2"),
            ("#push-lane", "classifier"),
            ("#push-config", config),
        ] {
            let field = console.find(id);
            console.clear(&field);
            console.type_into(&field, value);
        }
        console.click_css("#push-submit");
    };
    fill_push(&not_a_component, "ok");
    let error = console.text(&console.find("#push-error"));
    assert!(
        error.starts_with("422") || error.starts_with("400"),
        "{error}"
    );
    assert!(error.to_lowercase().contains("component"), "{error}");

    // The fixture calls everything a refund: a visible change.
    let fixture = PathBuf::from(format!(
        "{}/switchyard_fixture_misbehaving.wasm",
        switchyard::demo::COMPONENT_DIR
    ));
    fill_push(&fixture, "ok");
    let staged = console.text(&console.find("#push-result .ok"));
    let candidate: u64 = staged
        .split(|c: char| !c.is_ascii_digit())
        .find(|s| !s.is_empty())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{staged}"));

    // First in shadow: the diff, counts and the differing message side by side.
    let row = format!("section.slot[data-slot='classify'] tr[data-version='{candidate}']");
    console.click_css(&format!("{row} button[data-action='shadow']"));
    confirm(&console);
    console.wait_until(
        "the shadow state",
        &format!("document.querySelector(\"{row}\")?.dataset.state === 'shadow'"),
        WAIT,
    );
    say(base, "shadowed", "where is my package?");
    console.click_css(&format!("{row} button[data-action='diff']"));
    let compared = console.text(&console.find("#diff dd[data-figure='console.diff.messages']"));
    assert_eq!(compared, "1", "{compared}");
    let differs = console.text(&console.find("#diff dd[data-figure='console.diff.intent']"));
    assert!(differs.starts_with("1"), "{differs}");
    let sides = console.text(&console.find("#diff table.diff-table tbody tr"));
    assert!(
        sides.contains("logistics") && sides.contains("refund"),
        "{sides}"
    );

    // Canary at 50%, with a confirmation.
    let percent = console.find(&format!("{row} input[type=number]"));
    console.clear(&percent);
    console.type_into(&percent, "50");
    console.click_css(&format!("{row} button[data-action='canary']"));
    confirm(&console);
    console.wait_until(
        "the canary state",
        &format!("document.querySelector(\"{row}\")?.dataset.state === 'canary'"),
        WAIT,
    );

    // Traffic on both sides of the canary.
    let mut on_canary = None;
    for i in 0..16 {
        let conversation = format!("canary-{i}");
        let decided = say(base, &conversation, "where is my package?");
        if classify_version(&decided) == candidate {
            assert_eq!(decided["intent"]["name"], "refund");
            on_canary.get_or_insert(conversation);
        }
    }
    let on_canary = on_canary.expect("no conversation of 16 fell in a 50% canary");

    // The canary's figures: its own plot beside the active version's.
    console.click_css("#nav-traffic");
    let plot = console.find(&format!("#plot-version-classify-{candidate}"));
    let title = console.text(&plot);
    assert!(title.contains("fixture"), "{title}");
    console.find(&format!("#plot-version-classify-{active}"));
    console.find("#plot-messages svg path");
    // The intents most handed to people, and the forecast with its
    // staffing line, under the traffic.
    console.find("#intent-table tbody tr");
    let accuracy = console.text(&console.find("#accuracy"));
    assert!(accuracy.contains("100.0%"), "{accuracy}");
    console.find("#plot-forecast svg path");
    console.find("#plot-staffing svg path");
    // The README's picture: the two versions of the canary side by side.
    console.run(
        "document.querySelectorAll('.toast').forEach(t => t.textContent = ''); document.getElementById('plot-version-classify-' + arguments[0]).previousElementSibling.scrollIntoView();",
        json!([active]),
    );
    keep_screenshot(&console, "console.png");

    // The numbers: each KPI beside its target, plotted by day, and the
    // canary judged by outcome with its intervals and the API's verdict.
    console.click_css("#nav-numbers");
    let transfer = console.text(&console.find("#kpi-targets tr[data-kpi='transfer_rate']"));
    assert!(transfer.contains("≤ 15.0%"), "{transfer}");
    console.find("#plot-kpi-transfer_rate svg path");
    console.find("#plot-kpi-ai_instant_response_rate svg path");
    let comparison = console.find(".comparison[data-design='canary']");
    let text = console.text(&comparison);
    assert!(
        text.contains("fixture") && text.contains("classifier"),
        "{text}"
    );
    let verdict = console.text(
        &console.find(".comparison[data-design='canary'] tr[data-kpi='transfer_rate'] td.verdict"),
    );
    let (_, canary) = call(
        "GET",
        base,
        "/v1/tenants/demo/reports/canary?days=30",
        OPERATOR_KEY,
        None,
    );
    let figure = canary["comparisons"][0]["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["kpi"] == "transfer_rate")
        .unwrap()
        .clone();
    assert_eq!(
        verdict,
        figure["verdict"].as_str().unwrap().replace('_', " "),
        "{figure}"
    );
    let n = canary["comparisons"][0]["candidate"]["conversations"]
        .as_u64()
        .unwrap();
    assert!(
        text.contains(&format!("{n} conversations")),
        "{text} {canary}"
    );
    // The fixture calls everything a refund, and refunds go to people:
    // this week's weak spot.
    let weak = console.text(&console.find("#weak-spots-table tr[data-intent='refund']"));
    assert!(weak.contains("handed over"), "{weak}");
    console.find("#kpi-csv");
    console.run(
        "document.querySelectorAll('.toast').forEach(t => t.textContent = ''); document.getElementById('canary-title').scrollIntoView();",
        json!([]),
    );
    keep_screenshot(&console, "numbers.png");

    // Roll back, confirmed; the next message of a canary conversation is
    // decided by the previous version again.
    console.click_css("#nav-plugins");
    console.click_css("section.slot[data-slot='classify'] button[data-action='rollback']");
    confirm(&console);
    console.wait_until(
        "the candidate retired",
        &format!("document.querySelector(\"{row}\")?.dataset.state === 'retired'"),
        WAIT,
    );
    let after = say(base, &on_canary, "where is my package?");
    assert_eq!(classify_version(&after), active, "{after}");
    assert_eq!(after["intent"]["name"], "logistics");

    // Both changes in the audit log, with who made them.
    console.click_css("#nav-audit");
    let table = console.find("#audit-table");
    let audit = console.text(&table);
    let rows: Vec<&str> = audit.lines().collect();
    for action in ["canary", "rollback"] {
        let line = rows
            .iter()
            .find(|l| l.contains(action))
            .unwrap_or_else(|| panic!("no {action} in the audit log: {audit}"));
        assert!(line.contains("operator (key "), "{line}");
    }

    // A tenant's limits, and one version's, from the console.
    console.click_css("#nav-limits");
    let deadline = console.find("#limit-deadline_ms");
    console.clear(&deadline);
    console.type_into(&deadline, "250");
    console.click_css("#limit-deadline_ms");
    console.run(
        "document.getElementById('limit-deadline_ms').form.requestSubmit();",
        json!([]),
    );
    confirm(&console);
    console.find("#limits-result .ok");
    let (_, limits) = call("GET", base, "/v1/tenants/demo/limits", OPERATOR_KEY, None);
    assert_eq!(limits["tenant"]["deadline_ms"], 250, "{limits}");
    console.run(
        "const s = document.getElementById('limits-version'); s.value = 'classify:' + arguments[0]; s.dispatchEvent(new Event('change'));",
        json!([active]),
    );
    let fuel = console.find("#vlimit-fuel");
    console.clear(&fuel);
    console.type_into(&fuel, "5000000000");
    console.run(
        "document.getElementById('vlimit-fuel').form.requestSubmit();",
        json!([]),
    );
    confirm(&console);
    console.find("#version-limits-result .ok");
    let (_, slot) = call(
        "GET",
        base,
        "/v1/tenants/demo/slots/classify",
        OPERATOR_KEY,
        None,
    );
    let version = slot["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == active)
        .unwrap();
    assert_eq!(version["limits"]["fuel"], 5_000_000_000u64, "{version}");

    // A new tenant, copied from the demo: its key shown once, and it works.
    console.click_css("#nav-tenants");
    for (id, value) in [
        ("#new-tenant-id", "acme"),
        ("#new-tenant-name", "Acme Shop"),
    ] {
        console.type_into(&console.find(id), value);
    }
    console.run(
        "const s = document.getElementById('new-tenant-from'); s.value = 'demo'; s.form.requestSubmit();",
        json!([]),
    );
    let key = console.text(&console.wait_for("#new-tenant-key", Duration::from_secs(60)));
    let (status, _) = call("GET", base, "/v1/settings", &key, None);
    assert_eq!(status, 200, "the shown key is the tenant's");
    console.find("#tenant-table tr[data-tenant='acme']");
}

#[test]
fn a_tenant_admin_publishes_a_mined_draft_and_the_chat_answers_with_it() {
    let Some((_guard, driver, _data, server)) = start() else {
        return;
    };
    let base = &server.base;
    for (i, text) in [
        "is custom engraving possible",
        "Do you offer engraving?",
        "do you offer engraving on bracelets",
        "Do you offer engraving on the watch?",
        "do you offer engraving on rings",
    ]
    .iter()
    .enumerate()
    {
        say(base, &format!("engraving-{i}"), text);
    }

    let console = driver.session("en-US");
    sign_in(&console, base, DEMO_KEY);
    // The admin's console opens on the live queue monitor.
    console.find("#queue-table tr[data-queue='after-sales']");
    console.find("#agent-load tr[data-agent='li.na'] meter");

    // Onboarding an agent: a key from the console, shown once, opens the desk.
    console.click_css("#nav-agents");
    console.click_css("tr[data-agent='wang.lei'] button");
    confirm(&console);
    let wang_key = console.text(&console.find("#issued-key"));
    let wang = driver.session("zh-CN");
    sign_in(&wang, base, &wang_key);
    assert!(wang.url().ends_with("/desk"));
    let who = wang.text(&wang.find("header .who"));
    assert!(who.contains("wang.lei"), "{who}");
    drop(wang);

    console.click_css("#nav-knowledge");
    console.click_css("#mine");
    let draft = console.find("section.draft");
    let examples = console.text(&draft);
    assert!(examples.contains("engraving"), "{examples}");
    let id = console
        .run(
            "return document.querySelector('section.draft').dataset.draft;",
            json!([]),
        )
        .as_str()
        .unwrap()
        .to_string();
    for (field, value) in [
        (format!("#title-{id}"), "Engraving"),
        (
            format!("#body-{id}"),
            "We engrave rings, bracelets and watches, up to 12 characters, for 30 yuan.",
        ),
        (
            format!("#template-{id}"),
            "Yes, we can engrave your ring, bracelet or watch: up to 12 characters for 30 yuan.",
        ),
    ] {
        let element = console.find(&field);
        console.clear(&element);
        console.type_into(&element, value);
    }
    console.run(
        "document.getElementById(arguments[0]).value = 'en';",
        json!([format!("template-lang-{id}")]),
    );
    console.click_css(&format!(
        "section.draft[data-draft='{id}'] button[data-action='publish']"
    ));
    console.wait_until(
        "the draft gone from the list",
        &format!("!document.querySelector(\"section.draft[data-draft='{id}']\")"),
        WAIT,
    );
    let (status, article) = call(
        "GET",
        base,
        &format!("/v1/knowledge/articles/{id}"),
        DEMO_KEY,
        None,
    );
    assert_eq!(status, 200, "{article}");
    assert_eq!(article["published"], true, "{article}");

    // The next customer who asks in the chat gets the article's answer.
    let chat = driver.session("en-US");
    chat.goto(&format!("{base}/chat/demo"));
    chat.wait_until(
        "the chat",
        "document.documentElement.dataset.stream === 'live'",
        WAIT,
    );
    chat.type_into(&chat.find("#chat-input"), "could you engrave my ring?");
    chat.click_css("#chat-send");
    chat.wait_until(
        "the bot's answer from the article",
        "[...document.querySelectorAll('.bubble.bot')].some(b => b.innerText.includes('Yes, we can engrave'))",
        WAIT,
    );
}

#[test]
fn sessions_stay_in_their_tenant_and_forged_writes_are_refused() {
    let Some((_guard, driver, _data, server)) = start() else {
        return;
    };
    let base = &server.base;
    let li_key = everyone_in_after_sales_away(base);

    // By keyboard alone: the key field has focus, Enter signs in, the
    // arrow keys move between the desk's lists.
    let keyboard = driver.session("en-US");
    keyboard.goto(&format!("{base}/sign-in"));
    keyboard.wait_until(
        "the key field focused",
        "document.activeElement?.id === 'key'",
        WAIT,
    );
    keyboard.type_into(&keyboard.find("#key"), &format!("{li_key}\u{E007}"));
    keyboard.wait_until(
        "the desk",
        "document.documentElement.dataset.ready === 'true'",
        WAIT,
    );
    keyboard.run("document.getElementById('tab-queues').focus();", json!([]));
    keyboard.press(&["\u{E014}"]); // ArrowRight
    keyboard.wait_until(
        "the next list, focused and selected",
        "document.activeElement?.id === 'tab-mine' && document.activeElement.getAttribute('aria-selected') === 'true'",
        WAIT,
    );
    drop(keyboard);

    // Her no-assist day: the desk shows no suggestions, and says why.
    let (_, mut settings) = call("GET", base, "/v1/settings", DEMO_KEY, None);
    let today = {
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        switchyard::forecast::civil_from_days((secs / 86_400) as i64).2
    };
    settings["no_assist_days"] = json!({"li.na": today});
    let (status, body) = call("PUT", base, "/v1/settings", DEMO_KEY, Some(&settings));
    assert_eq!(status, 200, "{body}");
    say(base, "no-assist-1", "耳机有杂音，我要退款");
    let desk = driver.session("en-US");
    sign_in(&desk, base, &li_key);
    desk.click_css("[data-conversation='no-assist-1']");
    desk.find("#no-assist");
    assert!(
        desk.try_find("ol.cards li.suggestion").is_none(),
        "suggestions shown on her no-assist day"
    );
    settings["no_assist_days"] = json!({});
    call("PUT", base, "/v1/settings", DEMO_KEY, Some(&settings));

    let fetch = |session: &Session, method: &str, path: &str, csrf: bool| -> (u64, Value) {
        let result = session.run_async(
            "const [method, path, csrf, done] = arguments;
             const headers = {'Content-Type': 'application/json'};
             if (csrf) headers['X-CSRF-Token'] = document.querySelector('meta[name=csrf-token]').content;
             fetch(path, {method, headers, body: method === 'GET' ? undefined : '{\"text\": \"x\"}'})
               .then(async r => done([r.status, await r.text()]));",
            json!([method, path, csrf]),
        );
        let body = serde_json::from_str(result[1].as_str().unwrap_or("")).unwrap_or(Value::Null);
        (result[0].as_u64().unwrap(), body)
    };

    // Another tenant's data is out of reach of an agent's session.
    let banking = {
        let (status, body) = call(
            "POST",
            base,
            "/v1/conversations/bank-1/messages",
            std::fs::read_to_string(_data.path().join("banking.key"))
                .unwrap()
                .trim(),
            Some(&json!({"text": "I lost my card", "customer": {"id": "bank-cust"}})),
        );
        assert_eq!(status, 201, "{body}");
        body
    };
    let _ = banking;
    say(base, "csrf-1", "耳机有杂音，我要退款");
    let (status, body) = fetch(&desk, "GET", "/v1/conversations/bank-1", false);
    assert_eq!(status, 404, "{body}");
    let (status, body) = fetch(&desk, "GET", "/v1/tenants/banking/audit", false);
    assert_eq!(status, 403, "{body}");
    let (status, _) = fetch(&desk, "GET", "/v1/stats", false);
    assert_eq!(status, 403, "an agent reads no tenant reports");
    // The desk's event stream is its own tenant's: a banking message never arrives.
    let streamed = desk.run_async(
        "const done = arguments[0]; const seen = [];
         fetch('/v1/events?after=0').then(async r => {
           const reader = r.body.getReader(); const text = new TextDecoder();
           const stop = setTimeout(() => { reader.cancel(); done(seen.join('')); }, 1500);
           for (;;) { const {value, done: end} = await reader.read(); if (end) break; seen.push(text.decode(value)); }
         });",
        json!([]),
    );
    let streamed = streamed.as_str().unwrap();
    assert!(
        streamed.contains("id:"),
        "the stream sent nothing: {streamed}"
    );
    assert!(
        streamed.contains("csrf-1"),
        "its own tenant's event: {streamed}"
    );
    assert!(
        !streamed.contains("bank-1"),
        "another tenant's event: {streamed}"
    );
    // The console is not an agent's page.
    desk.goto(&format!("{base}/console"));
    let refused = desk.body_text();
    assert!(refused.contains("operators and tenant admins"), "{refused}");
    // The chat page of a tenant whose chat is off says nothing of it.
    desk.goto(&format!("{base}/chat/no-such-tenant"));
    assert!(desk.body_text().contains("not available"));

    // A write without the session's CSRF token is refused, and nothing is written.
    desk.goto(&format!("{base}/desk"));
    desk.wait_until(
        "the desk",
        "document.documentElement.dataset.ready === 'true'",
        WAIT,
    );
    let (status, body) = fetch(&desk, "POST", "/v1/conversations/csrf-1/notes", false);
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("CSRF"),
        "{body}"
    );
    let (status, body) = fetch(&desk, "POST", "/v1/conversations/csrf-1/notes", true);
    assert_eq!(status, 201, "the same write with the token: {body}");
    let (_, view) = call("GET", base, "/v1/conversations/csrf-1", DEMO_KEY, None);
    let notes = view["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["private"] == true)
        .count();
    assert_eq!(notes, 1, "only the write with the token: {view}");
    // A forged HTML form (what another site would post) carries no token.
    desk.run(
        "const f = document.createElement('form'); f.method = 'post'; f.action = '/sign-out'; document.body.append(f); f.submit();",
        json!([]),
    );
    desk.wait_until(
        "the refusal",
        "document.body && document.body.innerText.includes('CSRF')",
        WAIT,
    );
    desk.goto(&format!("{base}/desk"));
    desk.wait_until(
        "still signed in",
        "document.documentElement.dataset.ready === 'true'",
        WAIT,
    );
    assert!(desk.url().ends_with("/desk"), "{}", desk.url());

    // A new key for li.na ends the old key's sessions.
    let (status, _) = call(
        "POST",
        base,
        "/v1/agents/li.na/key",
        DEMO_KEY,
        Some(&json!({})),
    );
    assert_eq!(status, 201);
    desk.goto(&format!("{base}/desk"));
    desk.wait_until("the sign-in page", "location.pathname === '/sign-in'", WAIT);

    // Signing out from the page's own button ends the session.
    let admin = driver.session("en-US");
    sign_in(&admin, base, DEMO_KEY);
    admin.click_css("form[action='/sign-out'] button");
    admin.wait_until("the sign-in page", "location.pathname === '/sign-in'", WAIT);
    admin.goto(&format!("{base}/console"));
    admin.wait_until(
        "the sign-in page again",
        "location.pathname === '/sign-in'",
        WAIT,
    );
    assert!(admin.cookies().iter().all(|c| c["name"] != "sy_session"));
}

/// axe-core, from npm (`.ci/run` installs it into target/browser-tools).
fn axe_source() -> Option<String> {
    let path = std::env::var_os("SWITCHYARD_AXE_JS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../target/browser-tools/node_modules/axe-core/axe.min.js")
        });
    match std::fs::read_to_string(&path) {
        Ok(source) => Some(source),
        Err(e) => {
            assert!(
                !webdriver::browser_required(),
                "axe-core not at {}: {e} (npm install --prefix target/browser-tools axe-core@4)",
                path.display()
            );
            eprintln!("SKIPPED: axe-core not at {}", path.display());
            None
        }
    }
}

/// The serious and critical WCAG 2 A/AA violations on the current page.
fn axe_violations(session: &Session, axe: &str) -> Vec<String> {
    session.run(axe, json!([]));
    let result = session.run_async(
        "const done = arguments[0];
         axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
           .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                 nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))))
           .catch(e => done([{id: 'axe-failed', impact: 'critical', help: String(e), nodes: []}]));",
        json!([]),
    );
    result
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["impact"] == "serious" || v["impact"] == "critical")
        .map(|v| {
            format!(
                "{} ({}): {} at {}",
                v["id"], v["impact"], v["help"], v["nodes"]
            )
        })
        .collect()
}

#[test]
fn the_desk_the_console_and_the_chat_pass_an_accessibility_check() {
    let Some((_guard, driver, _data, server)) = start() else {
        return;
    };
    let Some(axe) = axe_source() else {
        return;
    };
    let base = &server.base;
    let li_key = everyone_in_after_sales_away(base);
    say(
        base,
        "a11y-1",
        "我在吃华法林，可以同时吃阿司匹林吗？我要退款，订单号 2024113012345",
    );

    let mut report = Vec::new();
    let mut check = |session: &Session, page: &str| {
        report.extend(
            axe_violations(session, &axe)
                .into_iter()
                .map(|v| format!("{page}: {v}")),
        );
    };
    let desk = driver.session("zh-CN");
    sign_in(&desk, base, &li_key);
    // Before a conversation is open: the agent's own numbers.
    desk.find("#my-coaching table.coaching-figures");
    check(&desk, "desk (my numbers)");
    desk.click_css("[data-conversation='a11y-1']");
    desk.find("ol.cards, #no-assist, .suggestions .empty");
    // The agent says the intent was wrong, from the message itself.
    desk.click_css("ol.history .entry.customer button[data-action='correct']");
    let field = desk.find("ol.history .entry.customer .correction-form input");
    desk.clear(&field);
    desk.type_into(&field, "drug_interaction\u{E007}");
    desk.wait_until(
        "the correction shown on the message",
        "document.querySelector('ol.history .chip.corrected')?.innerText.includes('drug_interaction')",
        WAIT,
    );
    let (_, view) = call("GET", base, "/v1/conversations/a11y-1", DEMO_KEY, None);
    assert_eq!(
        view["messages"][0]["correction"]["intent"], "drug_interaction",
        "{view}"
    );
    assert_eq!(view["messages"][0]["correction"]["by"], "li.na");
    check(&desk, "desk");

    let console = driver.session("en-US");
    sign_in(&console, base, DEMO_KEY);
    console.find("#queue-table");
    check(&console, "console (monitor)");
    console.click_css("#nav-traffic");
    console.find("#plot-messages");
    check(&console, "console (traffic)");
    console.click_css("#nav-numbers");
    console.find("#kpi-targets");
    console.find("#weak-spots-table, #weak-spots-table + *, .card .empty");
    check(&console, "console (numbers)");

    let operator = driver.session("en-US");
    sign_in(&operator, base, OPERATOR_KEY);
    operator.find("section.slot");
    check(&operator, "console (plugins)");

    let chat = driver.session("en-US");
    chat.goto(&format!("{base}/chat/demo"));
    chat.wait_until(
        "the chat",
        "document.documentElement.dataset.ready === 'true'",
        WAIT,
    );
    check(&chat, "chat");

    let sign_in_page = driver.session("en-US");
    sign_in_page.goto(&format!("{base}/sign-in"));
    check(&sign_in_page, "sign-in");
    assert!(
        report.is_empty(),
        "serious accessibility violations:\n{}",
        report.join("\n")
    );
}
