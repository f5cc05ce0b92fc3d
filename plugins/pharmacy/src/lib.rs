//! The pharmacy knowledge pack: a drug-interaction graph (built by
//! `switchyard pack build pharmacy`) and the pack's own synonym table. Asked
//! about a message, it finds the drugs named (generic, brand or Chinese names,
//! with typos) and reports every interaction between them with its severity,
//! mechanism and advice, plus findings an inspector can attach to the message.
//!
//! Query (JSON), either form or both:
//! `{"text": "我在吃华法林，可以同时吃阿司匹林吗？", "context": ["earlier message", ...]}`
//! or `{"drugs": ["warfarin", "aspirin"]}`. Drugs named only in `context`
//! count, but an interaction is reported only if one of its drugs is in
//! `text` (or `drugs`), so an old pair is not raised again on every message.
//!
//! Answer: `{"drugs": [...], "unknown": [...], "interactions": [...],
//! "findings": [...]}`; see [`Answer`].

pub mod aliases;
pub mod coverage;
pub mod graph;
pub mod names;

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

pub use graph::{Finding, Graph, Severity};
use names::Recognizer;

/// Most interactions one answer lists (the most severe first); the answer
/// must stay well under the host's output cap.
const MAX_INTERACTIONS: usize = 20;
/// Longest mechanism text carried in a finding's detail.
const MAX_DETAIL_CHARS: usize = 600;

/// A loaded pack: the graph, indexed, and the name recognizer.
pub struct Pharmacy {
    graph: Graph,
    /// (low drug id, high drug id) -> findings.
    pairs: HashMap<(u32, u32), Vec<u32>>,
    names: Recognizer,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Query {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub context: Vec<String>,
    #[serde(default)]
    pub drugs: Vec<String>,
}

#[derive(Serialize, Debug)]
pub struct Answer {
    /// Drugs found, in the order they were found.
    pub drugs: Vec<DrugMention>,
    /// Names in `drugs` the pack does not know.
    pub unknown: Vec<String>,
    /// Interactions between the drugs, most severe first.
    pub interactions: Vec<Interaction>,
    /// One finding per interaction, in the shape of the WIT `finding`
    /// (kind "drug-interaction", code the severity; severity "critical" for
    /// contraindications and not-recommended pairs, "warning" for
    /// precautions, "info" otherwise), with byte spans in `text`.
    pub findings: Vec<FindingOut>,
}

#[derive(Serialize, Debug, Clone)]
pub struct DrugMention {
    /// The drug's main name in the graph; a combination's name ("Bactrim")
    /// names each of its drugs, joined by " + ".
    pub name: String,
    /// As the customer wrote it.
    pub written: String,
    /// Where: "text", "context" or "drugs".
    pub from: &'static str,
    /// Byte span in `text` (0, 0 elsewhere).
    pub start: usize,
    pub end: usize,
}

#[derive(Serialize, Debug)]
pub struct Interaction {
    /// The two drugs the finding is about, by their main names.
    pub drugs: [String; 2],
    pub severity: Severity,
    pub mechanism: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    pub advice: &'static str,
    pub source: String,
}

#[derive(Serialize, Debug)]
pub struct FindingOut {
    pub kind: &'static str,
    pub code: &'static str,
    pub severity: &'static str,
    pub detail: String,
    pub start: usize,
    pub end: usize,
}

impl Pharmacy {
    pub fn load(config: &str) -> Result<Pharmacy, String> {
        let graph = Graph::from_json(config)?;
        let mut pairs: HashMap<(u32, u32), Vec<u32>> = HashMap::new();
        for [a, b, f] in &graph.pairs {
            pairs.entry((*a, *b)).or_default().push(*f);
        }
        let (names, _unknown_synonyms) =
            Recognizer::new(&graph.drugs, &graph.aliases, names::SYNONYMS);
        Ok(Pharmacy {
            graph,
            pairs,
            names,
        })
    }

    /// Whether the pack knows `name` (as written, any synonym, one typo).
    pub fn knows(&self, name: &str) -> bool {
        self.names.lookup(name).is_some()
    }

    /// The graph's entries `name` stands for (as written, any synonym, one
    /// typo).
    pub fn entries(&self, name: &str) -> Vec<u32> {
        self.names.lookup(name).unwrap_or_default()
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    pub fn names(&self) -> &Recognizer {
        &self.names
    }

    /// `(drug of a, drug of b, finding)` between two drug-id sets.
    fn between(&self, a: &[u32], b: &[u32]) -> BTreeSet<(u32, u32, u32)> {
        let mut found = BTreeSet::new();
        for x in a {
            for y in b {
                if x != y
                    && let Some(fs) = self.pairs.get(&((*x).min(*y), (*x).max(*y)))
                {
                    found.extend(fs.iter().map(|f| (*x, *y, *f)));
                }
            }
        }
        found
    }

    pub fn answer(&self, query: &Query) -> Answer {
        // (mention, drug ids, whether it may start a new interaction)
        let mut mentions: Vec<(DrugMention, Vec<u32>, bool)> = Vec::new();
        let mut unknown = Vec::new();
        for name in &query.drugs {
            match self.names.lookup(name) {
                Some(ids) => mentions.push((self.mention(&ids, name, "drugs", 0, 0), ids, true)),
                None => unknown.push(name.clone()),
            }
        }
        for m in self.names.find(&query.text) {
            let written = &query.text[m.start..m.end];
            mentions.push((
                self.mention(&m.drugs, written, "text", m.start, m.end),
                m.drugs,
                true,
            ));
        }
        for earlier in &query.context {
            for m in self.names.find(earlier) {
                let written = &earlier[m.start..m.end];
                mentions.push((
                    self.mention(&m.drugs, written, "context", 0, 0),
                    m.drugs,
                    false,
                ));
            }
        }
        // The same drug named twice is one drug.
        let mut seen = BTreeSet::new();
        mentions.retain(|(_, ids, _)| seen.insert(ids.clone()));

        let mut interactions: Vec<(Interaction, usize, usize)> = Vec::new();
        let mut reported = BTreeSet::new();
        for (i, (first, a, first_new)) in mentions.iter().enumerate() {
            for (second, b, second_new) in &mentions[i + 1..] {
                if !first_new && !second_new {
                    continue;
                }
                for (x, y, f) in self.between(a, b) {
                    let finding: &Finding = &self.graph.findings[f as usize];
                    // The drugs the finding is about: a name can stand for
                    // more than one ("Bactrim": sulfamethoxazole and
                    // trimethoprim).
                    let drugs = [
                        self.names.display(x).to_string(),
                        self.names.display(y).to_string(),
                    ];
                    // The thesaurus often states a pair twice (once from each
                    // drug's page) in slightly different words: one finding
                    // per pair, level and source is enough for the pharmacist.
                    let key = (drugs.clone(), finding.severity, finding.source.clone());
                    if !reported.insert(key) {
                        continue;
                    }
                    // The span of the drug named last in the message, where the
                    // question is.
                    let span = if second.from == "text" { second } else { first };
                    interactions.push((
                        Interaction {
                            drugs,
                            severity: finding.severity,
                            mechanism: finding.mechanism.clone(),
                            condition: finding.condition.clone(),
                            advice: finding.severity.advice(),
                            source: finding.source.clone(),
                        },
                        span.start,
                        span.end,
                    ));
                }
            }
        }
        interactions.sort_by_key(|i| std::cmp::Reverse(i.0.severity));
        interactions.truncate(MAX_INTERACTIONS);
        let findings = interactions
            .iter()
            .map(|(i, start, end)| {
                let mut detail = format!(
                    "{} + {}: {}. {}",
                    i.drugs[0],
                    i.drugs[1],
                    i.severity.code(),
                    i.mechanism
                );
                if let Some(condition) = &i.condition {
                    detail.push(' ');
                    detail.push_str(condition);
                }
                if detail.chars().count() > MAX_DETAIL_CHARS {
                    detail = detail
                        .chars()
                        .take(MAX_DETAIL_CHARS - 1)
                        .collect::<String>()
                        + "…";
                }
                detail.push(' ');
                detail.push_str(i.advice);
                FindingOut {
                    kind: "drug-interaction",
                    code: i.severity.code(),
                    severity: match i.severity {
                        Severity::Contraindication | Severity::NotRecommended => "critical",
                        Severity::Precaution => "warning",
                        Severity::TakeIntoAccount => "info",
                    },
                    detail,
                    start: *start,
                    end: *end,
                }
            })
            .collect();
        Answer {
            drugs: mentions.into_iter().map(|(m, _, _)| m).collect(),
            unknown,
            interactions: interactions.into_iter().map(|(i, _, _)| i).collect(),
            findings,
        }
    }

    fn mention(
        &self,
        ids: &[u32],
        written: &str,
        from: &'static str,
        start: usize,
        end: usize,
    ) -> DrugMention {
        // The drug's main name ("ADRENALINE" for "ADRENALINE (ORAL-DENTAL OR
        // SUB-CUTANEOUS)" too); a name of a combination names each drug.
        let names: BTreeSet<&str> = ids.iter().map(|id| self.names.display(*id)).collect();
        DrugMention {
            name: names.into_iter().collect::<Vec<_>>().join(" + "),
            written: written.to_string(),
            from,
            start,
            end,
        }
    }

    /// The pack's `query` export: JSON in, JSON out.
    pub fn query_json(&self, query: &str) -> Result<String, String> {
        let query: Query = serde_json::from_str(query)
            .map_err(|e| format!("pharmacy query: {e} (expected {{\"text\": ..., \"context\": [...], \"drugs\": [...]}})"))?;
        serde_json::to_string(&self.answer(&query)).map_err(|e| e.to_string())
    }
}

thread_local! {
    static LOADED: RefCell<Option<Pharmacy>> = const { RefCell::new(None) };
}

pub struct Plugin;

impl switchyard_sdk::pack::Guest for Plugin {
    fn init(config: String) -> Result<(), String> {
        let pharmacy = Pharmacy::load(&config)?;
        LOADED.with(|l| *l.borrow_mut() = Some(pharmacy));
        Ok(())
    }

    fn query(query: String) -> Result<String, String> {
        LOADED.with(|l| match l.borrow().as_ref() {
            Some(pharmacy) => pharmacy.query_json(&query),
            None => Err("the pharmacy pack has no graph loaded".into()),
        })
    }
}

#[cfg(target_arch = "wasm32")]
switchyard_sdk::pack::export!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;

    /// A graph in the shape of the ANSM files, with their quirks: the
    /// nitrate named "TRINITRINE KNOWN AS NITROGLYCERIN IN THE US", and
    /// co-trimoxazole as its two drugs.
    fn pack() -> Pharmacy {
        let members = "Drug Name\tRxNorm\tSource File\tClinical Source\tClass Name\tClass Code\n\
            TRINITRINE KNOWN AS NITROGLYCERIN IN THE US\t4917\tx\tANSM\tNITRATE DERIVATIVES AND RELATED\tC01D-001\n\
            SILDENAFIL\t136411\tx\tANSM\tTYPE 5 PHOSPHODIESTERASE INHIBITORS\tG04BE\n\
            TADALAFIL\t358263\tx\tANSM\tTYPE 5 PHOSPHODIESTERASE INHIBITORS\tG04BE\n\
            WARFARIN\t11289\tx\tANSM\tVITAMIN K ANTAGONISTS\tB01AA-001\n";
        let header = "Drug Interaction ID\tDrug 1 Name\tDrug 1 RxCUI\tDrug 1 Class Name\tDrug 1 Code\tDrug 2 Name\tDrug 2 RxCUI\tDrug 2 Class Name\tDrug 2 Code\tClinical Source\tSource File\tDescription\tSeverity\tComment\n";
        let rows = "1\t\t\tNITRATE DERIVATIVES AND RELATED\tC01D-001\t\t\tTYPE 5 PHOSPHODIESTERASE INHIBITORS\tG04BE\tANSM\tf\tRisk of severe hypotension\tCONTRAINDICATION\t\n\
            2\tSULFAMETHOXAZOLE\t10180\t\t\t\t\tVITAMIN K ANTAGONISTS\tB01AA-001\tANSM\tf\tIncrease of the anticoagulant effect\tNot recommended\t\n\
            3\tTRIMETHOPRIM\t10829\t\t\tMETHOTREXATE\t6851\t\t\tANSM\tf\tIncreased haematological toxicity\tCONTRAINDICATION\t\n";
        let (graph, _) = graph::build(&format!("{header}{rows}"), members, None).unwrap();
        Pharmacy::load(&serde_json::to_string(&graph).unwrap()).unwrap()
    }

    fn ask(pack: &Pharmacy, text: &str) -> Answer {
        pack.answer(&Query {
            text: text.into(),
            ..Query::default()
        })
    }

    #[test]
    fn nitroglycerin_and_brand_names_of_the_issue_are_found() {
        let pack = pack();
        for (text, drugs, level) in [
            (
                "can i take sildenafil with nitroglycerin",
                ["SILDENAFIL", "TRINITRINE"],
                Severity::Contraindication,
            ),
            (
                "tadalafil with nitroglycerin spray",
                ["TADALAFIL", "TRINITRINE"],
                Severity::Contraindication,
            ),
            (
                "viagra with nitroglycerin",
                ["SILDENAFIL", "TRINITRINE"],
                Severity::Contraindication,
            ),
            (
                "my mom takes coumadin and the dr gave her bactrim",
                ["WARFARIN", "SULFAMETHOXAZOLE"],
                Severity::NotRecommended,
            ),
        ] {
            let answer = ask(&pack, text);
            assert_eq!(answer.interactions.len(), 1, "{text}: {answer:?}");
            let found = &answer.interactions[0];
            assert_eq!(
                (found.severity, &found.drugs),
                (level, &drugs.map(String::from)),
                "{text}"
            );
            assert_eq!(answer.findings[0].severity, "critical");
        }
        // A combination's name stands for each of its drugs.
        let answer = ask(&pack, "Bactrim and methotrexate?");
        assert_eq!(answer.drugs[0].name, "SULFAMETHOXAZOLE + TRIMETHOPRIM");
        assert_eq!(
            answer.interactions[0].drugs,
            ["TRIMETHOPRIM", "METHOTREXATE"]
        );
        assert_eq!(answer.interactions[0].severity, Severity::Contraindication);
    }
}
