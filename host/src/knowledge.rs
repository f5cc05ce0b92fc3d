//! Knowledge-base search for one tenant, hybrid in two ways:
//!
//! - **Keyword**: BM25 over the tokens plugins use (CJK characters and
//!   character pairs, Latin words), the title, keywords and problem type
//!   counting more than the body. A query word the articles never use is
//!   matched to the articles' words within one typo (two for long words),
//!   at a discount: "delivry" still finds "delivery".
//! - **N-gram**: cosine similarity of character-trigram TF-IDF vectors of the
//!   query and the whole article, which holds up where words are misspelt,
//!   inflected, run together or split differently.
//!
//! The relevance is a weighted sum of the squashed BM25 score and the n-gram
//! similarity, in [0, 1]. The index is rebuilt when an article changes.
//! BENCHMARKS.md ("Knowledge search") measures each part's contribution.

use std::collections::{HashMap, HashSet};

use switchyard_sdk::text;

use crate::model::{Article, ReplyTemplate};

/// BM25 parameters (the usual defaults).
const K1: f32 = 1.2;
const B: f32 = 0.75;
/// Field weights: a keyword or title match says more than a body match.
const TITLE_WEIGHT: f32 = 2.0;
const KEYWORD_WEIGHT: f32 = 3.0;
/// Score at which the keyword relevance reads 0.5 once squashed into [0, 1].
const HALF_SCORE: f32 = 6.0;
/// Query weight of a single CJK character next to a character pair: single
/// characters ("我", "的", "单") match nearly every Chinese article.
const CJK_CHAR_WEIGHT: f32 = 0.3;
/// Query weight of an article word standing in for a misspelt query word.
const FUZZY_WEIGHT: f32 = 0.7;
/// Shortest query word tried against the vocabulary for typos: shorter ones
/// are within one edit of too many words.
const FUZZY_MIN_CHARS: usize = 4;
/// Query words one search tries against the vocabulary for typos. Each try
/// walks every article word of a similar length; without a cap, a 2 KiB query
/// of unknown words against a large knowledge base cost tens of milliseconds
/// a search, and a plugin searching in a loop ran for seconds (issue 14).
/// A customer's message rarely has more misspelt words that matter.
pub const MAX_FUZZY_WORDS: usize = 8;

/// How the parts are combined; [`SearchMode::default`] is what the host serves.
#[derive(Clone, Copy, Debug)]
pub struct SearchMode {
    /// Match misspelt query words to article words.
    pub fuzzy_terms: bool,
    /// Share of the relevance that comes from n-gram similarity (0 = BM25 only).
    pub ngram_weight: f32,
}

impl Default for SearchMode {
    fn default() -> Self {
        SearchMode {
            fuzzy_terms: true,
            ngram_weight: 0.35,
        }
    }
}

impl SearchMode {
    /// Plain BM25, for comparison.
    pub const KEYWORD_ONLY: SearchMode = SearchMode {
        fuzzy_terms: false,
        ngram_weight: 0.0,
    };
}

/// Tokens worth matching on: no English function words.
fn terms(text: &str) -> impl Iterator<Item = String> {
    text::tokens(text)
        .into_iter()
        .filter(|t| !text::is_stopword(t))
}

fn is_latin_word(t: &str) -> bool {
    !t.chars().any(text::is_cjk)
}

/// Character trigrams of a text's tokens (words padded, CJK runs as they are).
fn trigrams(text: &str) -> HashMap<String, f32> {
    let mut out: HashMap<String, f32> = HashMap::new();
    for t in terms(text) {
        let n = t.chars().count();
        if is_latin_word(&t) {
            for g in text::char_ngrams(&t, 3) {
                *out.entry(g).or_default() += 1.0;
            }
        } else if n == 2 {
            // CJK pairs are already n-grams of the text.
            *out.entry(t).or_default() += 1.0;
        }
    }
    out
}

struct Doc {
    id: String,
    title: String,
    snippet: String,
    templates: Vec<ReplyTemplate>,
    /// Field-weighted term count.
    length: f32,
    /// Its informative terms, for [`KnowledgeIndex::coverage`].
    vocabulary: HashSet<String>,
}

/// Searchable published articles of one tenant. Both parts are inverted
/// indexes, so a query costs what its terms' postings hold, not the number
/// of articles.
#[derive(Default)]
pub struct KnowledgeIndex {
    docs: Vec<Doc>,
    /// Article id -> its place in `docs`.
    by_id: HashMap<String, usize>,
    /// term -> (doc, field-weighted term frequency).
    term_postings: HashMap<String, Vec<(u32, f32)>>,
    avg_length: f32,
    /// trigram -> (doc, weight in the doc's unit-length TF-IDF vector).
    gram_postings: HashMap<String, Vec<(u32, f32)>>,
    /// Latin words of the articles, by length, for typo matching.
    vocabulary: HashMap<usize, Vec<(String, Vec<char>)>>,
}

pub struct Hit {
    pub id: String,
    pub title: String,
    pub snippet: String,
    pub templates: Vec<ReplyTemplate>,
    /// Relevance in [0, 1].
    pub score: f32,
    /// The keyword part: squashed BM25, in [0, 1).
    pub keyword_score: f32,
    /// The n-gram part: cosine similarity, in [0, 1].
    pub ngram_score: f32,
}

/// Weight of a trigram found in `df` of `n` articles.
fn gram_idf(n: f32, df: u32) -> f32 {
    (1.0 + n / df as f32).ln()
}

fn normalize(v: &mut HashMap<String, f32>) {
    let norm = v.values().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.values_mut().for_each(|x| *x /= norm);
    }
}

impl KnowledgeIndex {
    /// Published articles in the index.
    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    pub fn build(articles: &[Article]) -> KnowledgeIndex {
        let mut docs = Vec::new();
        let mut term_postings: HashMap<String, Vec<(u32, f32)>> = HashMap::new();
        let mut doc_grams: Vec<HashMap<String, f32>> = Vec::new();
        for a in articles.iter().filter(|a| a.published) {
            let index = docs.len() as u32;
            let mut terms: HashMap<String, f32> = HashMap::new();
            let mut add = |field: &str, weight: f32| {
                for t in self::terms(field) {
                    *terms.entry(t).or_default() += weight;
                }
            };
            add(&a.title, TITLE_WEIGHT);
            add(&a.keywords.join(" "), KEYWORD_WEIGHT);
            // "refund", "after_sales": lets a caller that knows the intent say so in the query.
            let kind = format!("{} {}", a.problem_type, a.scenario).replace('_', " ");
            add(&kind, KEYWORD_WEIGHT);
            add(&a.body, 1.0);
            let length = terms.values().sum();
            for (t, tf) in terms {
                term_postings.entry(t).or_default().push((index, tf));
            }
            doc_grams.push(trigrams(&format!(
                "{} {} {kind} {}",
                a.title,
                a.keywords.join(" "),
                a.body
            )));
            let mut vocabulary: HashSet<String> = HashSet::new();
            for field in [&a.title, &a.keywords.join(" "), &kind, &a.body]
                .into_iter()
                .chain(a.templates.iter().map(|t| &t.text))
            {
                vocabulary.extend(text::informative_terms(field));
            }
            docs.push(Doc {
                id: a.id.clone(),
                title: a.title.clone(),
                snippet: a.body.chars().take(160).collect(),
                templates: a.templates.clone(),
                length,
                vocabulary,
            });
        }
        let n = docs.len() as f32;
        let mut gram_freq: HashMap<&str, u32> = HashMap::new();
        for grams in &doc_grams {
            for g in grams.keys() {
                *gram_freq.entry(g).or_default() += 1;
            }
        }
        let mut gram_postings: HashMap<String, Vec<(u32, f32)>> = HashMap::new();
        for (index, grams) in doc_grams.iter().enumerate() {
            let weighted: Vec<(&String, f32)> = grams
                .iter()
                .map(|(g, w)| (g, w * gram_idf(n, gram_freq[g.as_str()])))
                .collect();
            let norm = weighted.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
            for (g, w) in weighted {
                gram_postings
                    .entry(g.clone())
                    .or_default()
                    .push((index as u32, w / norm));
            }
        }
        let mut vocabulary: HashMap<usize, Vec<(String, Vec<char>)>> = HashMap::new();
        for t in term_postings.keys().filter(|t| is_latin_word(t)) {
            let chars: Vec<char> = t.chars().collect();
            if chars.len() >= FUZZY_MIN_CHARS - 1 && chars.iter().all(|c| c.is_alphabetic()) {
                vocabulary
                    .entry(chars.len())
                    .or_default()
                    .push((t.clone(), chars));
            }
        }
        vocabulary.values_mut().for_each(|v| v.sort());
        let avg_length = if docs.is_empty() {
            1.0
        } else {
            docs.iter().map(|d| d.length).sum::<f32>() / docs.len() as f32
        };
        let by_id = docs
            .iter()
            .enumerate()
            .map(|(i, d)| (d.id.clone(), i))
            .collect();
        KnowledgeIndex {
            docs,
            by_id,
            term_postings,
            avg_length,
            gram_postings,
            vocabulary,
        }
    }

    /// How much of `query` the published article `id` explains: the share of
    /// the query's informative terms (`text::informative_terms`) that the
    /// article's title, keywords, problem type, body or templates use; 0
    /// for an article not in the index. A search score says which article
    /// is nearest; this says whether it is about the question at all.
    pub fn coverage(&self, query: &str, id: &str) -> f32 {
        self.by_id
            .get(id)
            .map_or(0.0, |&i| text::coverage(query, &self.docs[i].vocabulary))
    }

    /// Article words within typo distance of `word`, which the articles never use.
    fn near_words(&self, word: &str) -> Vec<&str> {
        let chars: Vec<char> = word.chars().collect();
        if chars.len() < FUZZY_MIN_CHARS || !chars.iter().all(|c| c.is_alphabetic()) {
            return vec![];
        }
        let max = if chars.len() >= 9 { 2 } else { 1 };
        let mut out = Vec::new();
        for len in chars.len().saturating_sub(max)..=chars.len() + max {
            for (w, wc) in self.vocabulary.get(&len).into_iter().flatten() {
                // Typos rarely hit the first letter, and requiring it keeps
                // "card" from standing in for "ward".
                if wc[0] == chars[0] && text::edit_distance_chars(&chars, wc, max) <= max {
                    out.push(w.as_str());
                }
            }
        }
        out
    }

    /// Best `limit` articles for `query`, each with a relevance in [0, 1].
    pub fn search(&self, query: &str, limit: usize) -> Vec<Hit> {
        self.search_with(query, limit, SearchMode::default())
    }

    /// [`search`](Self::search) with the parts chosen, for measuring them.
    pub fn search_with(&self, query: &str, limit: usize, mode: SearchMode) -> Vec<Hit> {
        if self.docs.is_empty() {
            return vec![];
        }
        // (term, query weight): the query's own terms, and article words
        // standing in for the ones no article uses.
        let mut query_terms: Vec<String> = terms(query).collect();
        query_terms.sort();
        query_terms.dedup();
        let mut weighted: Vec<(&str, f32)> = Vec::new();
        let mut fuzzy_tries = 0;
        for t in &query_terms {
            let single_cjk = t.chars().count() == 1 && t.chars().all(text::is_cjk);
            if self.term_postings.contains_key(t.as_str()) {
                weighted.push((t, if single_cjk { CJK_CHAR_WEIGHT } else { 1.0 }));
            } else if mode.fuzzy_terms && is_latin_word(t) && fuzzy_tries < MAX_FUZZY_WORDS {
                // Only words long enough to be tried count against the cap.
                if t.chars().count() >= FUZZY_MIN_CHARS {
                    fuzzy_tries += 1;
                }
                for w in self.near_words(t) {
                    if !weighted.iter().any(|(x, _)| *x == w) {
                        weighted.push((w, FUZZY_WEIGHT));
                    }
                }
            }
        }
        let mut query_grams = trigrams(query);
        let n = self.docs.len() as f32;
        query_grams.retain(|g, w| match self.gram_postings.get(g) {
            Some(postings) => {
                *w *= gram_idf(n, postings.len() as u32);
                true
            }
            None => false,
        });
        normalize(&mut query_grams);

        let mut bm25 = vec![0f32; self.docs.len()];
        for &(t, weight) in &weighted {
            let postings = &self.term_postings[t];
            let df = postings.len() as f32;
            let idf = ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
            for &(doc, tf) in postings {
                let length = self.docs[doc as usize].length;
                bm25[doc as usize] += weight * idf * tf * (K1 + 1.0)
                    / (tf + K1 * (1.0 - B + B * length / self.avg_length));
            }
        }
        let mut ngram = vec![0f32; self.docs.len()];
        if mode.ngram_weight > 0.0 {
            for (g, w) in &query_grams {
                for &(doc, x) in &self.gram_postings[g] {
                    ngram[doc as usize] += w * x;
                }
            }
        }
        let mut scored: Vec<(f32, f32, f32, &Doc)> = self
            .docs
            .iter()
            .enumerate()
            // An n-gram overlap alone is too weak to show: some word must match.
            .filter(|(i, _)| bm25[*i] > 0.0)
            .map(|(i, doc)| {
                let keyword = bm25[i] / (bm25[i] + HALF_SCORE);
                let ngram = ngram[i].min(1.0);
                let score = (1.0 - mode.ngram_weight) * keyword + mode.ngram_weight * ngram;
                (score, keyword, ngram, doc)
            })
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.3.id.cmp(&b.3.id)));
        scored
            .into_iter()
            .take(limit)
            .map(|(score, keyword, ngram, doc)| Hit {
                id: doc.id.clone(),
                title: doc.title.clone(),
                snippet: doc.snippet.clone(),
                templates: doc.templates.clone(),
                score,
                keyword_score: keyword,
                ngram_score: ngram,
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
            templates: vec![],
            published: true,
            mined: None,
            updated_at_ms: 0,
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
    fn misspelt_words_still_find_the_article_but_plain_bm25_does_not() {
        let index = KnowledgeIndex::build(&[
            article(
                "address",
                "Change the delivery address",
                &["address", "delivery"],
                "Edit the address on the order page before the parcel ships.",
            ),
            article(
                "invoice",
                "Get an invoice",
                &["invoice"],
                "Request an electronic invoice on the order page.",
            ),
        ]);
        let query = "how to chnage my delivry adress";
        assert!(
            index
                .search_with(query, 3, SearchMode::KEYWORD_ONLY)
                .is_empty()
        );
        let hits = index.search(query, 3);
        assert_eq!(hits[0].id, "address");
        assert!(hits[0].keyword_score > 0.0 && hits[0].ngram_score > 0.0);
        // Short words are not stretched to near neighbours.
        assert!(index.search("cat", 3).is_empty());
    }

    #[test]
    fn unpublished_articles_are_not_found() {
        let mut draft = article("d", "退款草稿", &["退款"], "x");
        draft.published = false;
        assert!(KnowledgeIndex::build(&[draft]).search("退款", 5).is_empty());
    }
}
