//! Every list is paged (`?limit=`, `?after=`): tickets (all, by status, by
//! customer), a conversation's messages, articles and drafts, agents, and
//! the operator's tenants and plugins. Pages join up
//! to the whole list with nothing twice and nothing missed; the limit is
//! checked at its boundary; a cursor is opaque and bad ones are refused.

use axum::http::StatusCode;
use serde_json::{Value, json};
use switchyard_e2e::{DEMO_KEY, OPERATOR_KEY, TestEnv};

/// Every page of `path` (which has no query yet, or ends in one) at `limit`;
/// the items under `field`, page sizes, and checks that only the last page
/// has no `next`.
fn all_pages(
    env: &TestEnv,
    key: &str,
    path: &str,
    field: &str,
    limit: usize,
) -> (Vec<Value>, Vec<usize>) {
    let join = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut sizes = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..1_000 {
        let url = match &after {
            Some(cursor) => format!("{path}{join}limit={limit}&after={cursor}"),
            None => format!("{path}{join}limit={limit}"),
        };
        let (status, page) = env.get(&url, key);
        assert_eq!(status, StatusCode::OK, "{url}: {page}");
        let got = page[field]
            .as_array()
            .unwrap_or_else(|| panic!("{url}: {page}"));
        assert!(
            got.len() <= limit,
            "{url}: {} items over the limit",
            got.len()
        );
        sizes.push(got.len());
        items.extend(got.iter().cloned());
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => {
                assert!(page["next"].is_null(), "{page}");
                return (items, sizes);
            }
        }
    }
    panic!("{path}: more than 1,000 pages");
}

fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn ticket_pages_join_up_to_the_whole_list_by_status_and_by_customer() {
    let env = TestEnv::demo();
    // Refunds open tickets: five customers, the last one three times.
    for (i, customer) in ["p-a", "p-b", "p-c", "p-d", "p-e", "p-e", "p-e"]
        .iter()
        .enumerate()
    {
        env.send(
            &format!("page-{i}"),
            &format!("我要退款，订单号 20241130{i:05}"),
            customer,
            "standard",
        );
    }
    let (status, whole) = env.get("/v1/tickets?limit=500", DEMO_KEY);
    assert_eq!(status, StatusCode::OK, "{whole}");
    let whole = whole["tickets"].as_array().unwrap().clone();
    assert!(whole.len() >= 5, "every customer has a ticket: {whole:?}");

    let (paged, sizes) = all_pages(&env, DEMO_KEY, "/v1/tickets", "tickets", 2);
    assert_eq!(
        ids(&paged),
        ids(&whole),
        "pages in order, none twice, none missed"
    );
    assert!(
        sizes[..sizes.len() - 1].iter().all(|&n| n == 2),
        "{sizes:?}"
    );

    let of_e: Vec<String> = whole
        .iter()
        .filter(|t| t["customer_id"] == "p-e")
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!of_e.is_empty());
    let (paged, _) = all_pages(&env, DEMO_KEY, "/v1/tickets?customer=p-e", "tickets", 1);
    let mut paged_ids = ids(&paged);
    paged_ids.sort();
    let mut expected = of_e.clone();
    expected.sort();
    assert_eq!(
        paged_ids, expected,
        "the customer filter pages through the index"
    );
    assert!(paged.iter().all(|t| t["customer_id"] == "p-e"));

    // Status filter with paging: one ticket pending, found alone.
    let pending = &of_e[0];
    let (status, body) = env.request(
        axum::http::Method::PATCH,
        &format!("/v1/tickets/{pending}"),
        Some(DEMO_KEY),
        Some(axum::body::Body::from(
            json!({"status": "pending"}).to_string(),
        )),
        "application/json",
    );
    assert_eq!(status, StatusCode::OK, "{body}");
    let (paged, _) = all_pages(&env, DEMO_KEY, "/v1/tickets?status=pending", "tickets", 1);
    assert_eq!(ids(&paged), std::slice::from_ref(pending));
    let (paged, _) = all_pages(&env, DEMO_KEY, "/v1/tickets?status=open", "tickets", 3);
    assert_eq!(paged.len(), whole.len() - 1);
}

#[test]
fn a_conversations_messages_come_in_pages_oldest_first() {
    let env = TestEnv::demo();
    let sent: Vec<String> = (0..5)
        .map(|i| {
            env.send(
                "long-chat",
                &format!("where is my package? ({i})"),
                "pager",
                "standard",
            )["message_id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    // The customer's messages and the bot's replies, merged by arrival.
    let (_, whole) = env.get("/v1/conversations/long-chat?limit=500", DEMO_KEY);
    let whole = whole["messages"].as_array().unwrap().clone();
    let (pages, sizes) = all_pages(&env, DEMO_KEY, "/v1/conversations/long-chat", "messages", 2);
    assert_eq!(ids(&pages), ids(&whole));
    let customer: Vec<Value> = pages
        .iter()
        .filter(|e| e["author"] == "customer")
        .cloned()
        .collect();
    assert_eq!(ids(&customer), sent);
    assert!(
        pages.iter().any(|e| e["author"] == "bot"),
        "the bot answered some: {pages:?}"
    );
    let n = whole.len();
    assert_eq!(sizes.iter().sum::<usize>(), n);
    assert!(
        sizes[..sizes.len() - 1].iter().all(|s| *s == 2),
        "{sizes:?}"
    );
    // A page exactly as long as what is left says there is nothing after it.
    let (_, page) = env.get(&format!("/v1/conversations/long-chat?limit={n}"), DEMO_KEY);
    assert_eq!(page["messages"].as_array().unwrap().len(), n);
    assert!(page["next"].is_null(), "{page}");
    // One short of it: a next page with the last entry.
    let (_, page) = env.get(
        &format!("/v1/conversations/long-chat?limit={}", n - 1),
        DEMO_KEY,
    );
    assert!(page["next"].is_string(), "{page}");
    assert_eq!(page["conversation"]["id"], "long-chat");
}

#[test]
fn articles_and_drafts_come_in_pages() {
    let env = TestEnv::demo();
    for i in 0..3 {
        let (status, body) = env.post(
            "/v1/knowledge/articles",
            DEMO_KEY,
            &json!({"id": format!("kb-page-{i}"), "title": format!("Draft {i}"), "published": false}),
        );
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, whole) = env.get("/v1/knowledge/articles?limit=500", DEMO_KEY);
    let whole = whole["articles"].as_array().unwrap().clone();
    let (paged, _) = all_pages(&env, DEMO_KEY, "/v1/knowledge/articles", "articles", 1);
    assert_eq!(ids(&paged), ids(&whole));
    let (drafts, _) = all_pages(
        &env,
        DEMO_KEY,
        "/v1/knowledge/articles?status=draft",
        "articles",
        2,
    );
    assert_eq!(ids(&drafts), ["kb-page-0", "kb-page-1", "kb-page-2"]);
    let (drafts, sizes) = all_pages(&env, DEMO_KEY, "/v1/knowledge/drafts", "drafts", 2);
    assert_eq!(ids(&drafts), ["kb-page-0", "kb-page-1", "kb-page-2"]);
    assert_eq!(sizes, [2, 1]);
}

/// The defect: `/v1/agents` answered every agent in one array.
#[test]
fn agents_come_in_pages_with_their_load() {
    let env = TestEnv::demo();
    let (_, whole) = env.get("/v1/agents?limit=500", DEMO_KEY);
    let whole = whole["agents"].as_array().unwrap().clone();
    assert!(whole.len() >= 3, "the demo tenant has agents: {whole:?}");
    let (paged, sizes) = all_pages(&env, DEMO_KEY, "/v1/agents", "agents", 2);
    assert_eq!(ids(&paged), ids(&whole));
    assert!(sizes.iter().all(|n| *n == 2) || sizes.last() < Some(&2));
    for agent in &paged {
        assert!(agent["load"].is_u64(), "{agent}");
    }
    // One agent by id carries the same load as the list.
    let first = &paged[0];
    let (status, one) = env.get(
        &format!("/v1/agents/{}", first["id"].as_str().unwrap()),
        DEMO_KEY,
    );
    assert_eq!(status, StatusCode::OK, "{one}");
    assert_eq!(&one, first);
}

/// The defect: the operator's `/v1/tenants` and `/v1/plugins` answered
/// everything in one array.
#[test]
fn the_operators_tenants_and_plugins_come_in_pages() {
    let env = TestEnv::demo();
    for i in 0..4 {
        env.create_tenant(&format!("paged-{i}"));
    }
    for (path, field, by) in [
        ("/v1/tenants", "tenants", "id"),
        ("/v1/plugins", "plugins", "sha256"),
    ] {
        let (status, whole) = env.get(&format!("{path}?limit=500"), OPERATOR_KEY);
        assert_eq!(status, StatusCode::OK, "{whole}");
        let whole = whole[field].as_array().unwrap().clone();
        assert!(whole.len() >= 5, "{path}: {whole:?}");
        let (paged, sizes) = all_pages(&env, OPERATOR_KEY, path, field, 2);
        let keys = |items: &[Value]| -> Vec<String> {
            items
                .iter()
                .map(|i| i[by].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(keys(&paged), keys(&whole), "{path}");
        assert_eq!(sizes.len(), whole.len().div_ceil(2), "{path}: {sizes:?}");
        for bad in ["501", "0"] {
            let (status, body) = env.get(&format!("{path}?limit={bad}"), OPERATOR_KEY);
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{path} limit={bad}: {body}"
            );
        }
        let (status, body) = env.get(&format!("{path}?after=zz"), OPERATOR_KEY);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
    }
}

#[test]
fn the_page_limit_is_checked_at_its_boundary_and_bad_cursors_are_refused() {
    let env = TestEnv::demo();
    env.send("limits", "where is my package?", "limit-cust", "standard");
    for path in [
        "/v1/tickets",
        "/v1/conversations/limits",
        "/v1/knowledge/articles",
        "/v1/knowledge/drafts",
        "/v1/agents",
    ] {
        let (status, body) = env.get(&format!("{path}?limit=500"), DEMO_KEY);
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        for bad in ["501", "0"] {
            let (status, body) = env.get(&format!("{path}?limit={bad}"), DEMO_KEY);
            assert_eq!(
                status,
                StatusCode::BAD_REQUEST,
                "{path} limit={bad}: {body}"
            );
            assert_eq!(body["error"]["code"], "bad_request", "{body}");
            assert!(
                body["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("1 to 500"),
                "{body}"
            );
        }
        let (status, body) = env.get(&format!("{path}?after=not-hex"), DEMO_KEY);
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains("next"),
            "{body}"
        );
    }
}

#[test]
fn a_cursor_never_reaches_another_tenants_records() {
    let env = TestEnv::demo();
    for i in 0..3 {
        env.send(
            &format!("cur-{i}"),
            &format!("我要退款，订单号 20241201{i:05}"),
            &format!("cur-cust-{i}"),
            "standard",
        );
    }
    let (_, first) = env.get("/v1/tickets?limit=1", DEMO_KEY);
    let cursor = first["next"]
        .as_str()
        .expect("more than one ticket")
        .to_string();
    let other = env.create_tenant("pager-other");
    let (status, page) = env.get(&format!("/v1/tickets?after={cursor}"), &other);
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page, json!({"tickets": [], "next": null}));
    // A cursor spelling another tenant's key prefix stays inside the caller's.
    let forged: String = b"\0demo\0t-0".iter().map(|b| format!("{b:02x}")).collect();
    let (status, page) = env.get(&format!("/v1/tickets?after={forged}"), &other);
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["tickets"], json!([]));
}
