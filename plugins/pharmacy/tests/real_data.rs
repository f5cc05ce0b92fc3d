//! The pack against the real interaction data in `../shared/data/ddi`
//! (skipped, saying so, when it is absent). The same checks run through the
//! compiled component in the host's end-to-end tests; these are the fast,
//! native ones with the figures printed.

use std::path::{Path, PathBuf};

use switchyard_pack_pharmacy::{Pharmacy, Query, Severity, graph};

fn ddi_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SWITCHYARD_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
        .join("ddi");
    if dir
        .join("ansm_en_worldvista_interactions_2016.tsv")
        .exists()
    {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: the shared interaction data is not at {} (set SWITCHYARD_SHARED_DATA to the shared/data folder)",
            dir.display()
        );
        None
    }
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

#[test]
fn the_real_graph_flags_known_pairs_and_onc_pairs_and_not_others() {
    let Some(dir) = ddi_dir() else { return };
    let onc = read(&dir, "onc_high_priority_pairs_mapped.dsv");
    let (graph, report) = graph::build(
        &read(&dir, "ansm_en_worldvista_interactions_2016.tsv"),
        &read(&dir, "ansm_en_worldvista_class_members_2016.tsv"),
        Some(&onc),
    )
    .unwrap();
    let json = serde_json::to_string(&graph).unwrap();
    for (class, target, how) in &report.resolved_classes {
        eprintln!("class {class:?} -> {target:?} ({how})");
    }
    eprintln!(
        "graph: {} drugs, {} findings, {} pairs, {} bytes; {} severities cleaned, {} classes renamed, unresolved {:?}, empty rows {:?}",
        report.drugs,
        report.findings,
        report.pairs,
        json.len(),
        report.cleaned_severities.len(),
        report.resolved_classes.len(),
        report.unresolved_classes,
        report.empty_rows
    );
    let check = report.onc.as_ref().unwrap();
    eprintln!(
        "ONC cross-check before merging: {} of {} pairs whose drugs ANSM names are flagged by ANSM alone ({:.1}%)",
        check.flagged_by_ansm,
        check.both_named_by_ansm,
        100.0 * check.flagged_by_ansm as f64 / check.both_named_by_ansm as f64
    );
    let pack = Pharmacy::load(&json).unwrap();

    let ask = |text: &str| {
        pack.answer(&Query {
            text: text.into(),
            ..Query::default()
        })
    };
    let top = |text: &str| ask(text).interactions.first().map(|i| i.severity);
    assert_eq!(
        top("Can I take warfarin with aspirin?"),
        Some(Severity::Contraindication)
    );
    assert_eq!(
        top("我在吃华法林，可以同时吃阿司匹林吗？"),
        Some(Severity::Contraindication)
    );
    assert_eq!(
        top("Can I take simvastatin with clarithromycin?"),
        Some(Severity::Contraindication)
    );
    assert_eq!(
        top("Zocor and Biaxin together?"),
        Some(Severity::Contraindication)
    );
    assert_eq!(
        top("辛伐他汀和克拉霉素能一起吃吗"),
        Some(Severity::Contraindication)
    );

    // Every ONC pair whose two names the pack knows, asked as a customer would.
    let (mut known, mut flagged, mut missed) = (0, 0, Vec::new());
    for line in onc
        .trim_start_matches('\u{feff}')
        .lines()
        .filter(|l| !l.is_empty())
    {
        let parts: Vec<&str> = line.split('$').collect();
        let (a, b) = (parts[0], parts[2]);
        if !(pack.knows(a) && pack.knows(b)) {
            continue;
        }
        known += 1;
        if ask(&format!("Is it safe to take {a} and {b}?"))
            .interactions
            .is_empty()
        {
            missed.push(format!("{a}+{b}"));
        } else {
            flagged += 1;
        }
    }
    let share = flagged as f64 / known as f64;
    eprintln!(
        "ONC pairs flagged by the pack: {flagged} of {known} ({:.2}%); missed {:?}",
        share * 100.0,
        &missed[..missed.len().min(10)]
    );
    assert!(share >= 0.95, "{share}");

    // Pairs with no interaction in the source: every known drug pair the
    // graph does not list, sampled with a fixed stride.
    let listed: std::collections::HashSet<(u32, u32)> =
        graph.pairs.iter().map(|p| (p[0], p[1])).collect();
    let n = graph.drugs.len() as u32;
    let (mut sampled, mut wrongly) = (0, Vec::new());
    let mut state: u64 = 7;
    while sampled < 500 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let (a, b) = (
            ((state >> 33) % n as u64) as u32,
            ((state >> 13) % n as u64) as u32,
        );
        let (a, b) = (a.min(b), a.max(b));
        if a == b || listed.contains(&(a, b)) {
            continue;
        }
        let names = [
            graph.drugs[a as usize].clone(),
            graph.drugs[b as usize].clone(),
        ];
        // Names that stand for more than one entry may have interactions
        // through the other entry; keep to names with one meaning.
        let answer = pack.answer(&Query {
            drugs: names.to_vec(),
            ..Query::default()
        });
        if answer.drugs.len() != 2 || !answer.unknown.is_empty() {
            continue;
        }
        sampled += 1;
        if !answer.interactions.is_empty() {
            wrongly.push(names.join("+"));
        }
    }
    eprintln!(
        "no-interaction pairs sampled: {sampled}, wrongly flagged: {}",
        wrongly.len()
    );
    assert!(wrongly.len() * 100 <= sampled, "{wrongly:?}");
}
