//! A mock host for running plugin logic natively, in unit tests and benchmarks.
//!
//! ```ignore
//! let mut host = MockHost::default();
//! host.history.push(past("where is my parcel", Some("logistics")));
//! testing::install(host);
//! let decision = MyEscalator::escalate(testing::turn("转人工"));
//! ```

use std::cell::RefCell;

use crate::text;
use crate::types::*;

/// What the host imports answer in a native build.
#[derive(Clone, Debug)]
pub struct MockHost {
    pub customer: Customer,
    pub history: Vec<PastMessage>,
    pub assigned_agent: Option<String>,
    /// What `host::conversation_state` answers.
    pub state: ConversationState,
    pub articles: Vec<MockArticle>,
    pub open_tickets: Vec<TicketSummary>,
    pub agents: Vec<Agent>,
    pub config: String,
    /// Lines the plugin logged.
    pub logs: Vec<String>,
    /// Installed knowledge packs: (name, the pack's `query`).
    pub packs: Vec<(String, MockPack)>,
    /// Tokens of each article, built on the first search after `articles` changed.
    search_cache: Vec<(String, Vec<String>)>,
}

/// A knowledge pack's `query` in a native build: JSON in, JSON out.
pub type MockPack = fn(&str) -> Result<String, String>;

/// A knowledge article the mock's search looks through.
#[derive(Clone, Debug)]
pub struct MockArticle {
    pub id: String,
    pub title: String,
    pub body: String,
    pub keywords: Vec<String>,
    /// (lang, text) reply templates.
    pub templates: Vec<(String, String)>,
}

impl Default for MockHost {
    fn default() -> Self {
        MockHost {
            customer: Customer {
                id: "c-1".into(),
                tier: Tier::Standard,
                tags: vec![],
            },
            history: vec![],
            assigned_agent: None,
            state: ConversationState {
                intent: None,
                ticket_id: None,
                facts: vec![],
                holder: Holder::Bot,
                language: None,
                ticket_holders: vec![],
            },
            articles: vec![],
            open_tickets: vec![],
            agents: vec![],
            config: String::new(),
            logs: vec![],
            packs: vec![],
            search_cache: vec![],
        }
    }
}

impl MockHost {
    /// What the host's `knowledge.coverage` answers, over the article's
    /// title, keywords, body and templates.
    pub fn coverage(&self, query: &str, article_id: &str) -> f32 {
        let Some(article) = self.articles.iter().find(|a| a.id == article_id) else {
            return 0.0;
        };
        let mut vocabulary = std::collections::HashSet::new();
        for field in [&article.title, &article.keywords.join(" "), &article.body]
            .into_iter()
            .chain(article.templates.iter().map(|(_, t)| t))
        {
            vocabulary.extend(text::informative_terms(field));
        }
        text::coverage(query, &vocabulary)
    }

    /// Token-overlap search, good enough to exercise a plugin's use of hits.
    pub fn search(&mut self, query: &str, limit: usize) -> Vec<ArticleHit> {
        let stale = self.search_cache.len() != self.articles.len()
            || self
                .search_cache
                .iter()
                .zip(&self.articles)
                .any(|(c, a)| c.0 != a.id);
        if stale {
            self.search_cache = self
                .articles
                .iter()
                .map(|a| {
                    let mut tokens =
                        text::tokens(&format!("{} {} {}", a.title, a.keywords.join(" "), a.body));
                    tokens.sort();
                    tokens.dedup();
                    (a.id.clone(), tokens)
                })
                .collect();
        }
        let query_tokens = text::tokens(query);
        let mut hits: Vec<ArticleHit> = self
            .articles
            .iter()
            .zip(&self.search_cache)
            .filter_map(|(a, (_, doc_tokens))| {
                let shared = query_tokens
                    .iter()
                    .filter(|t| doc_tokens.binary_search(t).is_ok())
                    .count();
                (shared > 0).then(|| ArticleHit {
                    id: a.id.clone(),
                    title: a.title.clone(),
                    snippet: a.body.chars().take(120).collect(),
                    score: shared as f32 / query_tokens.len().max(1) as f32,
                    templates: a
                        .templates
                        .iter()
                        .map(|(lang, text)| crate::types::ReplyTemplate {
                            lang: lang.clone(),
                            text: text.clone(),
                        })
                        .collect(),
                })
            })
            .collect();
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(limit);
        hits
    }
}

thread_local! {
    static MOCK: RefCell<MockHost> = RefCell::new(MockHost::default());
}

/// Make `host` answer this thread's host calls.
pub fn install(host: MockHost) {
    MOCK.with(|m| *m.borrow_mut() = host);
}

/// Read or change the mock installed on this thread.
pub fn with_mock<R>(f: impl FnOnce(&mut MockHost) -> R) -> R {
    MOCK.with(|m| f(&mut m.borrow_mut()))
}

/// A turn holding only a customer message, as the first slot sees it.
pub fn turn(text: &str) -> Turn {
    Turn {
        message: Message {
            id: "m-1".into(),
            conversation_id: "conv-1".into(),
            text: text.into(),
            channel: "web".into(),
            received_at_ms: 0,
        },
        customer: with_mock(|m| m.customer.clone()),
        findings: vec![],
        intent: None,
        entities: vec![],
        escalation: None,
        route: None,
        suggestions: vec![],
    }
}

/// An earlier message for [`MockHost::history`].
pub fn past(text: &str, intent: Option<&str>) -> PastMessage {
    PastMessage {
        id: format!("m-{}", text.len()),
        text: text.into(),
        intent: intent.map(|name| Intent {
            name: name.into(),
            confidence: 0.9,
        }),
        escalated: false,
        received_at_ms: 0,
    }
}
