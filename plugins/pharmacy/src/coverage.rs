//! Which drugs of the source's serious pairs (ANSM's contraindicated and
//! not-recommended pairs, after class expansion) customers can name: the
//! pack's synonym table gives common English names (brand names, US names)
//! and Chinese names; the rest can be asked about only by the source's
//! generic name. `switchyard pack build pharmacy` prints it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use switchyard_sdk::text::is_cjk;

use crate::graph::{ANSM_SOURCE, Graph, Severity};
use crate::names::Recognizer;

/// A serious pair of the source, between two drugs (entries that are one
/// drug counted once).
#[derive(Clone, Debug)]
pub struct SeriousPair {
    /// The names the drugs are shown by.
    pub drugs: [String; 2],
    /// Each drug's graph entries.
    pub entries: [Vec<u32>; 2],
    /// The most severe of the source's findings for the pair.
    pub severity: Severity,
    /// Each drug's common names in the synonym table: Latin script ...
    pub english: [Vec<String>; 2],
    /// ... and Chinese.
    pub chinese: [Vec<String>; 2],
}

/// The source's contraindicated and not-recommended pairs, by drug, sorted.
pub fn serious_pairs(graph: &Graph, names: &Recognizer) -> Vec<SeriousPair> {
    let mut entries: BTreeMap<&str, Vec<u32>> = BTreeMap::new();
    for id in 0..graph.drugs.len() as u32 {
        entries.entry(names.display(id)).or_default().push(id);
    }
    let mut pairs: BTreeMap<(&str, &str), Severity> = BTreeMap::new();
    for [a, b, f] in &graph.pairs {
        let finding = &graph.findings[*f as usize];
        if finding.source != ANSM_SOURCE || finding.severity < Severity::NotRecommended {
            continue;
        }
        let (a, b) = (names.display(*a), names.display(*b));
        if a == b {
            continue;
        }
        let key = (a.min(b), a.max(b));
        let level = pairs.entry(key).or_insert(finding.severity);
        *level = (*level).max(finding.severity);
    }
    let common = |drug: &str, chinese: bool| -> Vec<String> {
        let mut found: Vec<String> = Vec::new();
        for id in &entries[drug] {
            for name in names.common_names(*id) {
                if name.chars().any(is_cjk) == chinese && !found.contains(name) {
                    found.push(name.clone());
                }
            }
        }
        found
    };
    pairs
        .into_iter()
        .map(|((a, b), severity)| SeriousPair {
            drugs: [a.to_string(), b.to_string()],
            entries: [entries[a].clone(), entries[b].clone()],
            severity,
            english: [common(a, false), common(b, false)],
            chinese: [common(a, true), common(b, true)],
        })
        .collect()
}

/// How many drugs of the serious pairs have common names, and which have none.
#[derive(Debug, Default, Serialize)]
pub struct CommonNames {
    /// Distinct drugs in the source's contraindicated or not-recommended pairs.
    pub drugs: usize,
    /// Of them, with a common English (Latin-script) name in the synonym table.
    pub with_english: usize,
    /// Of them, with a Chinese name.
    pub with_chinese: usize,
    /// Drugs with no name in the synonym table at all.
    pub no_common_name: Vec<String>,
    /// Drugs with a Chinese name but no English one.
    pub no_english_name: Vec<String>,
    /// Drugs with an English name but no Chinese one.
    pub no_chinese_name: Vec<String>,
    /// Distinct serious pairs of drugs.
    pub pairs: usize,
    /// Of them, pairs whose two drugs have an English common name.
    pub pairs_with_english: usize,
    /// Of them, pairs whose two drugs have a Chinese name.
    pub pairs_with_chinese: usize,
    /// Rows of the synonym table whose drug the graph does not have.
    pub unknown_synonyms: Vec<String>,
}

impl CommonNames {
    pub fn of(graph: &Graph, synonyms: &str) -> CommonNames {
        let (names, unknown) = Recognizer::new(&graph.drugs, &graph.aliases, synonyms);
        let pairs = serious_pairs(graph, &names);
        let mut drugs: BTreeMap<&str, (bool, bool)> = BTreeMap::new();
        for pair in &pairs {
            for side in 0..2 {
                drugs.insert(
                    &pair.drugs[side],
                    (
                        !pair.english[side].is_empty(),
                        !pair.chinese[side].is_empty(),
                    ),
                );
            }
        }
        let pick = |want: (bool, bool)| -> Vec<String> {
            drugs
                .iter()
                .filter(|(_, has)| **has == want)
                .map(|(d, _)| d.to_string())
                .collect()
        };
        CommonNames {
            drugs: drugs.len(),
            with_english: drugs.values().filter(|(en, _)| *en).count(),
            with_chinese: drugs.values().filter(|(_, zh)| *zh).count(),
            no_common_name: pick((false, false)),
            no_english_name: pick((false, true)),
            no_chinese_name: pick((true, false)),
            pairs: pairs.len(),
            pairs_with_english: pairs
                .iter()
                .filter(|p| p.english.iter().all(|n| !n.is_empty()))
                .count(),
            pairs_with_chinese: pairs
                .iter()
                .filter(|p| p.chinese.iter().all(|n| !n.is_empty()))
                .count(),
            unknown_synonyms: unknown
                .into_iter()
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect(),
        }
    }
}
