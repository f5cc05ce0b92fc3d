//! Knowledge search and blind-spot mining measured on BANKING77 (real
//! customer questions nobody here wrote), as `cargo bench --bench knowledge`.
//!
//! - **Search**: one article per intent, its title the intent's name and its
//!   body ten training questions; every test question is a query, and a hit
//!   is right when its article is the question's intent. Top-1 and top-3
//!   accuracy for plain BM25, BM25 with typo-tolerant words, and the hybrid
//!   the host serves, on the test set and on its seeded typo copy (20% of
//!   words with a swapped or dropped character, as `switchyard eval` makes it).
//! - **Mining**: the test questions as blind spots, clustered as
//!   `POST /v1/knowledge/mine` does; how many land in a draft (coverage) and
//!   how many of a draft's questions share its commonest intent (purity).
//!
//! Skips with a message when `../shared/data` is absent.

use std::collections::HashMap;
use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use switchyard::cli::{inject_typos, load_examples};
use switchyard::knowledge::{KnowledgeIndex, SearchMode};
use switchyard::mining::cluster;
use switchyard::model::Article;

const ARTICLE_EXAMPLES: usize = 10;

fn main() {
    let Some(dir) = switchyard_e2e::shared_data("intents/banking77", "test.csv") else {
        return;
    };
    let train = load_examples(dir.join("train.csv").to_str().unwrap(), &[]).unwrap();
    let test = load_examples(dir.join("test.csv").to_str().unwrap(), &[]).unwrap();

    let mut by_intent: HashMap<&str, Vec<&str>> = HashMap::new();
    for e in &train {
        let examples = by_intent.entry(&e.label).or_default();
        if examples.len() < ARTICLE_EXAMPLES {
            examples.push(&e.text);
        }
    }
    let articles: Vec<Article> = by_intent
        .iter()
        .map(|(intent, examples)| Article {
            id: intent.to_string(),
            title: intent.replace('_', " "),
            scenario: String::new(),
            problem_type: String::new(),
            keywords: vec![],
            body: examples.join("\n"),
            templates: vec![],
            published: true,
            mined: None,
            updated_at_ms: 0,
        })
        .collect();
    let index = KnowledgeIndex::build(&articles);
    let mut rng = StdRng::seed_from_u64(7);
    let typos: Vec<String> = test
        .iter()
        .map(|e| inject_typos(&e.text, &mut rng))
        .collect();

    println!(
        "knowledge search: {} articles (one per intent, {ARTICLE_EXAMPLES} training questions each), {} test questions",
        articles.len(),
        test.len()
    );
    println!(
        "{:<28} {:>8} {:>8} {:>13} {:>13}",
        "mode", "top-1", "top-3", "typos top-1", "typos top-3"
    );
    let modes = [
        ("BM25", SearchMode::KEYWORD_ONLY),
        (
            "BM25 + typo-tolerant words",
            SearchMode {
                fuzzy_terms: true,
                ngram_weight: 0.0,
            },
        ),
        ("hybrid (served)", SearchMode::default()),
        (
            "hybrid, n-gram weight 0.2",
            SearchMode {
                fuzzy_terms: true,
                ngram_weight: 0.2,
            },
        ),
        (
            "hybrid, n-gram weight 0.5",
            SearchMode {
                fuzzy_terms: true,
                ngram_weight: 0.5,
            },
        ),
    ];
    for (name, mode) in modes {
        let score = |queries: &mut dyn Iterator<Item = (&str, &str)>| {
            let (mut top1, mut top3, mut n) = (0usize, 0usize, 0usize);
            for (query, label) in queries {
                let hits = index.search_with(query, 3, mode);
                top1 += usize::from(hits.first().is_some_and(|h| h.id == label));
                top3 += usize::from(hits.iter().any(|h| h.id == label));
                n += 1;
            }
            (
                100.0 * top1 as f64 / n as f64,
                100.0 * top3 as f64 / n as f64,
            )
        };
        let clean = score(&mut test.iter().map(|e| (e.text.as_str(), e.label.as_str())));
        let typo = score(
            &mut typos
                .iter()
                .zip(&test)
                .map(|(t, e)| (t.as_str(), e.label.as_str())),
        );
        println!(
            "{name:<28} {:>7.2}% {:>7.2}% {:>12.2}% {:>12.2}%",
            clean.0, clean.1, typo.0, typo.1
        );
    }
    let mut micros: Vec<f64> = Vec::with_capacity(test.len());
    for e in &test {
        let started = Instant::now();
        std::hint::black_box(index.search(&e.text, 3));
        micros.push(started.elapsed().as_secs_f64() * 1e6);
    }
    micros.sort_by(f64::total_cmp);
    println!(
        "hybrid search latency: median {:.1} µs, p99 {:.1} µs",
        micros[micros.len() / 2],
        micros[micros.len() * 99 / 100]
    );

    println!(
        "\nblind-spot mining: {} test questions as blind spots, drafts of 3 or more",
        test.len()
    );
    println!(
        "{:>10} {:>8} {:>10} {:>8} {:>10}",
        "similarity", "drafts", "coverage", "purity", "time"
    );
    let questions: Vec<String> = test.iter().map(|e| e.text.clone()).collect();
    for similarity in [0.3, 0.35, 0.45] {
        let started = Instant::now();
        let clusters = cluster(&questions, &[], similarity, 3);
        let elapsed = started.elapsed();
        let clustered: usize = clusters.iter().map(|c| c.members.len()).sum();
        let pure: usize = clusters
            .iter()
            .map(|c| {
                let mut counts: HashMap<&str, usize> = HashMap::new();
                for &i in &c.members {
                    *counts.entry(&test[i].label).or_default() += 1;
                }
                counts.into_values().max().unwrap_or(0)
            })
            .sum();
        println!(
            "{similarity:>10} {:>8} {:>9.1}% {:>7.1}% {:>8.2} s",
            clusters.len(),
            100.0 * clustered as f64 / test.len() as f64,
            100.0 * pure as f64 / clustered.max(1) as f64,
            elapsed.as_secs_f64()
        );
    }
}
