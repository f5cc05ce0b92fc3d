//! Knowledge-base search for one tenant: BM25 over the same tokens plugins use
//! (CJK characters and character pairs, Latin words), with the title and the
//! keywords counting more than the body. Rebuilt when an article changes.

use std::collections::HashMap;

use switchyard_sdk::text;

use crate::model::Article;

/// BM25 parameters (the usual defaults).
const K1: f32 = 1.2;
const B: f32 = 0.75;
/// Field weights: a keyword or title match says more than a body match.
const TITLE_WEIGHT: f32 = 2.0;
const KEYWORD_WEIGHT: f32 = 3.0;
/// Score at which relevance reads 0.5 once squashed into [0, 1].
const HALF_SCORE: f32 = 6.0;
/// Query weight of a single CJK character next to a character pair: single
/// characters ("我", "的", "单") match nearly every Chinese article.
const CJK_CHAR_WEIGHT: f32 = 0.3;

/// Tokens worth matching on: no English function words.
fn terms(text: &str) -> impl Iterator<Item = String> {
    text::tokens(text)
        .into_iter()
        .filter(|t| !text::is_stopword(t))
}

struct Doc {
    id: String,
    title: String,
    snippet: String,
    terms: HashMap<String, f32>,
    length: f32,
}

/// Searchable published articles of one tenant.
#[derive(Default)]
pub struct KnowledgeIndex {
    docs: Vec<Doc>,
    doc_freq: HashMap<String, u32>,
    avg_length: f32,
}

pub struct Hit {
    pub id: String,
    pub title: String,
    pub snippet: String,
    pub score: f32,
}

impl KnowledgeIndex {
    pub fn build(articles: &[Article]) -> KnowledgeIndex {
        let mut docs = Vec::new();
        let mut doc_freq: HashMap<String, u32> = HashMap::new();
        for a in articles.iter().filter(|a| a.published) {
            let mut terms: HashMap<String, f32> = HashMap::new();
            let mut add = |field: &str, weight: f32| {
                for t in self::terms(field) {
                    *terms.entry(t).or_default() += weight;
                }
            };
            add(&a.title, TITLE_WEIGHT);
            add(&a.keywords.join(" "), KEYWORD_WEIGHT);
            // "refund", "after_sales": lets a caller that knows the intent say so in the query.
            add(
                &format!("{} {}", a.problem_type, a.scenario),
                KEYWORD_WEIGHT,
            );
            add(&a.body, 1.0);
            for t in terms.keys() {
                *doc_freq.entry(t.clone()).or_default() += 1;
            }
            let length = terms.values().sum();
            docs.push(Doc {
                id: a.id.clone(),
                title: a.title.clone(),
                snippet: a.body.chars().take(160).collect(),
                terms,
                length,
            });
        }
        let avg_length = if docs.is_empty() {
            1.0
        } else {
            docs.iter().map(|d| d.length).sum::<f32>() / docs.len() as f32
        };
        KnowledgeIndex {
            docs,
            doc_freq,
            avg_length,
        }
    }

    /// Best `limit` articles for `query`, each with a relevance in [0, 1].
    pub fn search(&self, query: &str, limit: usize) -> Vec<Hit> {
        let mut query_terms: Vec<String> = terms(query).collect();
        query_terms.sort();
        query_terms.dedup();
        let n = self.docs.len() as f32;
        let mut scored: Vec<(f32, &Doc)> = self
            .docs
            .iter()
            .filter_map(|doc| {
                let score: f32 = query_terms
                    .iter()
                    .filter_map(|t| {
                        let tf = *doc.terms.get(t)?;
                        let df = *self.doc_freq.get(t)? as f32;
                        let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
                        let single_cjk = t.chars().count() == 1 && t.chars().all(text::is_cjk);
                        let weight = if single_cjk { CJK_CHAR_WEIGHT } else { 1.0 };
                        Some(
                            weight * idf * tf * (K1 + 1.0)
                                / (tf + K1 * (1.0 - B + B * doc.length / self.avg_length)),
                        )
                    })
                    .sum();
                (score > 0.0).then_some((score, doc))
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
        scored
            .into_iter()
            .take(limit)
            .map(|(score, doc)| Hit {
                id: doc.id.clone(),
                title: doc.title.clone(),
                snippet: doc.snippet.clone(),
                score: score / (score + HALF_SCORE),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(id: &str, title: &str, keywords: &[&str], body: &str) -> Article {
        Article {
            id: id.into(),
            title: title.into(),
            scenario: String::new(),
            problem_type: String::new(),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            body: body.into(),
            published: true,
        }
    }

    #[test]
    fn finds_chinese_and_english_and_ranks_keywords_first() {
        let index = KnowledgeIndex::build(&[
            article(
                "refund",
                "退款多久到账",
                &["退款", "refund"],
                "退款1-7个工作日原路返回。Refunds take 1-7 days.",
            ),
            article(
                "invoice",
                "如何开发票",
                &["发票", "invoice"],
                "在订单详情页申请电子发票。",
            ),
            article("draft", "未发布", &["退款"], "草稿"),
        ]);
        let hits = index.search("我的退款什么时候到账", 3);
        assert_eq!(hits[0].id, "refund");
        assert!(hits.iter().all(|h| h.score > 0.0 && h.score < 1.0));
        assert_eq!(index.search("how do I get an invoice", 3)[0].id, "invoice");
        assert!(index.search("天气", 3).is_empty());
    }

    #[test]
    fn function_words_and_single_characters_do_not_decide_and_problem_type_counts() {
        let mut refund = article("refund", "退款时效", &["退款"], "退款1-7个工作日到账。");
        refund.problem_type = "refund".into();
        let noise = article(
            "noise",
            "is my the a",
            &[],
            "is it the one for me, or is it for you",
        );
        let index = KnowledgeIndex::build(&[refund, noise]);
        // Function words alone never make a hit.
        let hits = index.search("is it my refund", 5);
        assert_eq!(
            hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(),
            ["refund"]
        );
        // The intent's name finds the article of that problem type.
        assert_eq!(index.search("钱呢 refund", 2)[0].id, "refund");
    }

    #[test]
    fn unpublished_articles_are_not_found() {
        let mut draft = article("d", "退款草稿", &["退款"], "x");
        draft.published = false;
        assert!(KnowledgeIndex::build(&[draft]).search("退款", 5).is_empty());
    }
}
