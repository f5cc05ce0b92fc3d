//! The pack's `query` on the real ANSM graph, natively, as
//! `cargo bench -p switchyard-pack-pharmacy --bench query`: the time per
//! question (a message and two earlier ones of context) for messages that
//! name interacting drugs by brand, generic and Chinese names, and for one
//! that names none. `BENCH_QUERIES` sets the repetitions (default 2,000).
//! Skips with a message when `../shared/data` is absent.

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let dir = std::env::var_os("SWITCHYARD_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
        .join("ddi");
    let read = |name: &str| std::fs::read_to_string(dir.join(name));
    let (Ok(interactions), Ok(classes)) = (
        read("ansm_en_worldvista_interactions_2016.tsv"),
        read("ansm_en_worldvista_class_members_2016.tsv"),
    ) else {
        eprintln!("SKIPPED: no shared interaction data at {}", dir.display());
        return;
    };
    let (graph, _) = switchyard_pack_pharmacy::graph::build(&interactions, &classes, None).unwrap();
    let json = serde_json::to_string(&graph).unwrap();
    let started = Instant::now();
    let pack = switchyard_pack_pharmacy::Pharmacy::load(&json).unwrap();
    println!("load: {:.1} ms", started.elapsed().as_secs_f64() * 1e3);
    let n: usize = std::env::var("BENCH_QUERIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    for text in [
        "can i take sildenafil with nitroglycerin",
        "my mom takes coumadin and the dr gave her bactrim",
        "我在吃华法林，可以同时吃阿司匹林吗？",
        "I would like to know when my order will be delivered to my home address, it has been a week",
    ] {
        let query = serde_json::json!({
            "text": text,
            "context": ["I have been taking some medicine for my heart for years now", "hello there"],
        })
        .to_string();
        let started = Instant::now();
        for _ in 0..n {
            std::hint::black_box(pack.query_json(&query).unwrap());
        }
        let micros = started.elapsed().as_secs_f64() * 1e6 / n as f64;
        println!("{micros:>8.1} µs  {text}");
    }
}
