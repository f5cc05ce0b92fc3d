//! The pharmacy graph: drugs, interaction findings and the drug pairs each
//! finding applies to, and the builder that makes it from the ANSM thesaurus
//! (WorldVistA's English translation) and, optionally, the US ONC
//! high-priority list.
//!
//! The source has quirks the builder cleans and reports instead of dropping
//! silently: interactions are often stated between classes ("ORAL
//! ANTICOAGULANTS") whose names in the interaction file differ from the class
//! file ("OTHER ORAL ANTICOAGULANTS", typos, a different word order), and a few
//! severities are blank or misspelt.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use switchyard_sdk::text::edit_distance;

/// What the graph's JSON says it is; `init` refuses anything else.
pub const FORMAT: &str = "switchyard-pharmacy-graph";
pub const VERSION: u32 = 1;

/// ANSM's four levels, least severe first (so `max` is the most severe).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    TakeIntoAccount,
    Precaution,
    NotRecommended,
    Contraindication,
}

impl Severity {
    pub fn code(self) -> &'static str {
        match self {
            Severity::TakeIntoAccount => "take-into-account",
            Severity::Precaution => "precaution",
            Severity::NotRecommended => "not-recommended",
            Severity::Contraindication => "contraindication",
        }
    }

    /// What a pharmacist tells the customer at this level.
    pub fn advice(self) -> &'static str {
        match self {
            Severity::Contraindication => {
                "Do not take these together. A pharmacist must review before either is dispensed. 禁止合用，请由药师审核。"
            }
            Severity::NotRecommended => {
                "Avoid taking these together unless the prescriber decides otherwise; a pharmacist should review. 不建议合用，请由药师审核。"
            }
            Severity::Precaution => {
                "They can be taken together only with precautions (dose adjustment, monitoring); ask the pharmacist how. 合用需谨慎（调整剂量或监测），请咨询药师。"
            }
            Severity::TakeIntoAccount => {
                "A risk to keep in mind; tell your doctor or pharmacist you take both. 需注意，请告知医生或药师您同时服用这两种药。"
            }
        }
    }
}

/// One interaction statement of a source, shared by every pair it covers.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Finding {
    pub severity: Severity,
    /// The risk and why it arises, as the source states it.
    pub mechanism: String,
    /// A remark that qualifies the severity (a dose condition, or that the
    /// source's severity could not be read and the level was chosen for safety).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// Which source said it.
    pub source: String,
}

/// The graph as the pack's config carries it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Graph {
    pub format: String,
    pub version: u32,
    /// Drug names as the sources spell them (upper case), sorted; a drug's id
    /// is its index.
    pub drugs: Vec<String>,
    pub findings: Vec<Finding>,
    /// `[drug, drug, finding]` with the first drug id below the second.
    pub pairs: Vec<[u32; 3]>,
}

impl Graph {
    pub fn from_json(json: &str) -> Result<Graph, String> {
        let graph: Graph =
            serde_json::from_str(json).map_err(|e| format!("pharmacy graph: {e}"))?;
        if graph.format != FORMAT || graph.version != VERSION {
            return Err(format!(
                "pharmacy graph: expected format {FORMAT} version {VERSION}, got {} version {}",
                graph.format, graph.version
            ));
        }
        let (drugs, findings) = (graph.drugs.len() as u32, graph.findings.len() as u32);
        if let Some(bad) = graph
            .pairs
            .iter()
            .find(|[a, b, f]| a >= b || *b >= drugs || *f >= findings)
        {
            return Err(format!(
                "pharmacy graph: pair {bad:?} names a drug or finding that does not exist"
            ));
        }
        Ok(graph)
    }
}

/// The source's name for ANSM rows.
pub const ANSM_SOURCE: &str = "ANSM interaction thesaurus 2016 (English translation by WorldVistA)";
/// The source's name for ONC rows.
pub const ONC_SOURCE: &str =
    "US ONC high-priority drug-drug interactions (Phansalkar et al., JAMIA 2012)";
const ONC_MECHANISM: &str = "Listed as a high-priority interaction by the US ONC expert panel: the combination should normally be avoided.";

/// What the builder did with the source's quirks, for the operator to check.
#[derive(Debug, Default, Serialize)]
pub struct BuildReport {
    pub interaction_rows: usize,
    /// Rows with neither a drug nor a class on one side.
    pub empty_rows: Vec<String>,
    /// `(row id, severity as written, severity used)` where they differ.
    pub cleaned_severities: Vec<(String, String, String)>,
    /// `(class name in the interaction file, class used, how)`.
    pub resolved_classes: Vec<(String, String, String)>,
    /// Classes with no members anywhere, and how many rows they cost.
    pub unresolved_classes: Vec<(String, usize)>,
    pub drugs: usize,
    pub findings: usize,
    pub pairs: usize,
    pub onc: Option<OncCheck>,
}

/// How the ONC list compares with the ANSM graph before it is merged in.
#[derive(Debug, Default, Serialize)]
pub struct OncCheck {
    /// Distinct unordered pairs in the list.
    pub pairs: usize,
    /// Pairs whose two drugs ANSM names.
    pub both_named_by_ansm: usize,
    /// Of those, pairs ANSM already flags.
    pub flagged_by_ansm: usize,
    /// Drug names only the ONC list has.
    pub new_drugs: usize,
}

/// `ACETYLSALICYLIC  ACID ` -> `ACETYLSALICYLIC ACID`.
fn clean_name(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// A tab-separated file with a header row, columns found by name.
struct Table<'a> {
    columns: HashMap<&'a str, usize>,
    rows: Vec<Vec<&'a str>>,
}

impl<'a> Table<'a> {
    fn parse(what: &str, text: &'a str) -> Result<Table<'a>, String> {
        let text = text.trim_start_matches('\u{feff}');
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header = lines
            .next()
            .ok_or_else(|| format!("{what}: the file is empty"))?;
        let columns = header
            .split('\t')
            .enumerate()
            .map(|(i, c)| (c.trim(), i))
            .collect();
        let rows = lines.map(|l| l.split('\t').collect()).collect();
        Ok(Table { columns, rows })
    }

    fn column(&self, what: &str, name: &str) -> Result<usize, String> {
        self.columns
            .get(name)
            .copied()
            .ok_or_else(|| format!("{what}: no column {name:?}"))
    }
}

fn cell<'a>(row: &[&'a str], column: usize) -> &'a str {
    row.get(column).copied().unwrap_or("")
}

/// The severity a row's text names, cleaned: `Ok(severity, exact)`, or the
/// raw text when it names no level at all.
fn read_severity(raw: &str) -> Option<(Severity, bool)> {
    const LEVELS: [(&str, Severity); 6] = [
        ("contraindication", Severity::Contraindication),
        ("not recommended", Severity::NotRecommended),
        ("precaution for use", Severity::Precaution),
        ("precautions for use", Severity::Precaution),
        ("precaution", Severity::Precaution),
        ("take into account", Severity::TakeIntoAccount),
    ];
    let text: String = raw
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if let Some((_, level)) = LEVELS.iter().find(|(name, _)| *name == text) {
        return Some((*level, true));
    }
    // Several levels named ("Contraindication - Not recommended - Precaution
    // for use": it depends on the drug): the most severe, to be safe. Typos
    // ("CONTRANDICATION", "Nor recommended", "Tale into account") are within
    // two edits of a level's name.
    let chars: Vec<char> = text.chars().collect();
    let mut found: Option<Severity> = None;
    for (name, level) in LEVELS {
        let n = name.chars().count();
        let near = (0..chars.len()).any(|start| {
            (n.saturating_sub(2)..=n + 2).any(|len| {
                let end = start + len;
                end <= chars.len() && {
                    let window: String = chars[start..end].iter().collect();
                    edit_distance(&window, name, 2) <= 2
                }
            })
        });
        if near {
            found = Some(found.map_or(level, |f| f.max(level)));
        }
    }
    found.map(|level| (level, false))
}

fn trigrams(name: &str) -> BTreeSet<String> {
    let letters: String = name
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let padded: Vec<char> = format!(
        " {} ",
        letters.split_whitespace().collect::<Vec<_>>().join(" ")
    )
    .chars()
    .collect();
    padded.windows(3).map(|w| w.iter().collect()).collect()
}

fn dice(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f32 {
    2.0 * a.intersection(b).count() as f32 / (a.len() + b.len()).max(1) as f32
}

/// The class of the class file an interaction row means: the same name, the
/// name without "OTHER " (the row is about the rest of the class), the only
/// class with the row's code, or a clearly closest name (typos, word order).
fn resolve_class(
    name: &str,
    code: &str,
    members: &BTreeMap<String, BTreeSet<String>>,
    codes: &HashMap<String, BTreeSet<String>>,
) -> Option<(String, &'static str)> {
    if members.contains_key(name) {
        return Some((name.to_string(), "same name"));
    }
    let base = name.strip_prefix("OTHER ").unwrap_or(name);
    if members.contains_key(base) {
        return Some((base.to_string(), "the class without \"OTHER\""));
    }
    if let Some(classes) = codes.get(code.trim())
        && classes.len() == 1
    {
        return Some((
            classes.iter().next().unwrap().clone(),
            "the only class with its code",
        ));
    }
    let grams = trigrams(base);
    let mut scored: Vec<(f32, &String)> = members
        .keys()
        .map(|k| (dice(&grams, &trigrams(k)), k))
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    match scored.as_slice() {
        [(best, class), rest @ ..]
            if *best >= 0.6 && rest.first().is_none_or(|(second, _)| best - second > 0.1) =>
        {
            Some(((*class).clone(), "closest name"))
        }
        _ => None,
    }
}

/// Build the graph from the ANSM interaction and class-member files (TSV with
/// headers) and, if given, the ONC list (`DrugA$id$DrugB$id$` per line).
pub fn build(
    interactions: &str,
    class_members: &str,
    onc: Option<&str>,
) -> Result<(Graph, BuildReport), String> {
    let mut report = BuildReport::default();

    let table = Table::parse("class members", class_members)?;
    let (drug_col, class_col, code_col) = (
        table.column("class members", "Drug Name")?,
        table.column("class members", "Class Name")?,
        table.column("class members", "Class Code")?,
    );
    let mut members: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut codes: HashMap<String, BTreeSet<String>> = HashMap::new();
    for row in &table.rows {
        let (drug, class) = (
            clean_name(cell(row, drug_col)),
            clean_name(cell(row, class_col)),
        );
        if drug.is_empty() || class.is_empty() {
            continue;
        }
        members.entry(class.clone()).or_default().insert(drug);
        codes
            .entry(cell(row, code_col).trim().to_string())
            .or_default()
            .insert(class);
    }

    let table = Table::parse("interactions", interactions)?;
    let col = |name: &str| table.column("interactions", name);
    let (id_col, description_col, severity_col) = (
        col("Drug Interaction ID")?,
        col("Description")?,
        col("Severity")?,
    );
    let sides = [
        (
            col("Drug 1 Name")?,
            col("Drug 1 Class Name")?,
            col("Drug 1 Code")?,
        ),
        (
            col("Drug 2 Name")?,
            col("Drug 2 Class Name")?,
            col("Drug 2 Code")?,
        ),
    ];

    let mut drugs: BTreeSet<String> = members.values().flatten().cloned().collect();
    let mut resolved: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut unresolved: BTreeMap<String, usize> = BTreeMap::new();
    // (drug, drug) by name -> findings.
    let mut pairs: BTreeMap<(String, String), BTreeSet<Finding>> = BTreeMap::new();
    report.interaction_rows = table.rows.len();
    for row in &table.rows {
        let id = cell(row, id_col).trim().to_string();
        let mut expanded: Vec<BTreeSet<String>> = Vec::new();
        for (name_col, class_col, code_col) in sides {
            let name = clean_name(cell(row, name_col));
            let class = clean_name(cell(row, class_col));
            if !name.is_empty() {
                drugs.insert(name.clone());
                expanded.push(BTreeSet::from([name]));
            } else if !class.is_empty() {
                let target = resolved.entry(class.clone()).or_insert_with(|| {
                    let found = resolve_class(&class, cell(row, code_col), &members, &codes);
                    if let Some((target, how)) = &found
                        && *target != class
                    {
                        report.resolved_classes.push((
                            class.clone(),
                            target.clone(),
                            how.to_string(),
                        ));
                    }
                    found.map(|(target, _)| target)
                });
                match target {
                    Some(target) => expanded.push(members[target.as_str()].clone()),
                    None => {
                        *unresolved.entry(class).or_default() += 1;
                        break;
                    }
                }
            } else {
                report.empty_rows.push(id.clone());
                break;
            }
        }
        let [left, right] = expanded.as_slice() else {
            continue;
        };
        let raw = cell(row, severity_col).trim();
        let (severity, condition) = match read_severity(raw) {
            Some((severity, exact)) => {
                if !exact {
                    report.cleaned_severities.push((
                        id.clone(),
                        raw.to_string(),
                        severity.code().to_string(),
                    ));
                }
                (severity, None)
            }
            // No level named: a blank, or a condition only ("With doses of
            // methotrexate > 20 mg/week"). Not recommended, so a pharmacist
            // looks at it, with the source's words kept.
            None => {
                report.cleaned_severities.push((
                    id.clone(),
                    raw.to_string(),
                    Severity::NotRecommended.code().to_string(),
                ));
                let condition = if raw.is_empty() {
                    "The source gives no severity for this interaction; treated as not recommended until a pharmacist checks.".to_string()
                } else {
                    format!("The source qualifies it: {raw}")
                };
                (Severity::NotRecommended, Some(condition))
            }
        };
        let finding = Finding {
            severity,
            mechanism: cell(row, description_col).trim().to_string(),
            condition,
            source: ANSM_SOURCE.to_string(),
        };
        for a in left {
            for b in right {
                if a != b {
                    let key = if a < b {
                        (a.clone(), b.clone())
                    } else {
                        (b.clone(), a.clone())
                    };
                    pairs.entry(key).or_default().insert(finding.clone());
                }
            }
        }
    }
    report.unresolved_classes = unresolved.into_iter().collect();

    if let Some(onc) = onc {
        let mut check = OncCheck::default();
        let mut listed: BTreeSet<(String, String)> = BTreeSet::new();
        for (n, line) in onc.trim_start_matches('\u{feff}').lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let parts: Vec<&str> = line.split('$').collect();
            if parts.len() < 3 || parts[0].trim().is_empty() || parts[2].trim().is_empty() {
                return Err(format!(
                    "ONC list line {}: expected DrugA$id$DrugB$id$",
                    n + 1
                ));
            }
            let (a, b) = (clean_name(parts[0]), clean_name(parts[2]));
            if a != b {
                listed.insert(if a < b { (a, b) } else { (b, a) });
            }
        }
        check.pairs = listed.len();
        let named_by_ansm = drugs.clone();
        let onc_finding = Finding {
            severity: Severity::NotRecommended,
            mechanism: ONC_MECHANISM.to_string(),
            condition: None,
            source: ONC_SOURCE.to_string(),
        };
        for (a, b) in listed {
            if named_by_ansm.contains(&a) && named_by_ansm.contains(&b) {
                check.both_named_by_ansm += 1;
                if pairs.contains_key(&(a.clone(), b.clone())) {
                    check.flagged_by_ansm += 1;
                }
            }
            for name in [&a, &b] {
                if drugs.insert(name.clone()) {
                    check.new_drugs += 1;
                }
            }
            pairs.entry((a, b)).or_default().insert(onc_finding.clone());
        }
        report.onc = Some(check);
    }

    let drugs: Vec<String> = drugs.into_iter().collect();
    let drug_id: HashMap<&str, u32> = drugs
        .iter()
        .enumerate()
        .map(|(i, d)| (d.as_str(), i as u32))
        .collect();
    let mut finding_id: BTreeMap<Finding, u32> = BTreeMap::new();
    let mut findings = Vec::new();
    let mut edges = Vec::new();
    for ((a, b), found) in pairs {
        for finding in found {
            let next = findings.len() as u32;
            let f = *finding_id.entry(finding.clone()).or_insert_with(|| {
                findings.push(finding);
                next
            });
            edges.push([drug_id[a.as_str()], drug_id[b.as_str()], f]);
        }
    }
    report.drugs = drugs.len();
    report.findings = findings.len();
    report.pairs = edges
        .iter()
        .map(|[a, b, _]| (*a, *b))
        .collect::<BTreeSet<_>>()
        .len();
    Ok((
        Graph {
            format: FORMAT.into(),
            version: VERSION,
            drugs,
            findings,
            pairs: edges,
        },
        report,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severities_are_cleaned_to_the_most_severe_level_they_name() {
        let read = |s| read_severity(s).map(|(level, _)| level);
        assert_eq!(read("CONTRAINDICATION"), Some(Severity::Contraindication));
        assert_eq!(read("C0NTRAINDICATION"), Some(Severity::Contraindication));
        assert_eq!(read("CONTRANDICATION"), Some(Severity::Contraindication));
        assert_eq!(
            read("Contraindication with:"),
            Some(Severity::Contraindication)
        );
        assert_eq!(read("Nor recommended"), Some(Severity::NotRecommended));
        assert_eq!(read("Not recommeded:"), Some(Severity::NotRecommended));
        assert_eq!(read("Precaution of use"), Some(Severity::Precaution));
        assert_eq!(read("Tale into account"), Some(Severity::TakeIntoAccount));
        assert_eq!(
            read("Contraindication - Not recommended - Precaution for use"),
            Some(Severity::Contraindication)
        );
        assert_eq!(read(""), None);
        assert_eq!(read("With doses of methotrexate > 20 mg/week"), None);
        assert_eq!(
            read_severity("Precaution for use"),
            Some((Severity::Precaution, true))
        );
    }

    const MEMBERS: &str = "Drug Name\tRxNorm\tSource File\tClinical Source\tClass Name\tClass Code\n\
        WARFARIN\t11289\tx\tANSM\tORAL ANTICOAGULANTS\tB01A-001\n\
        APIXABAN\t1364430\tx\tANSM\tORAL ANTICOAGULANTS\tB01A-001\n\
        CLARITHROMYCIN\t21212\tx\tANSM\tSTRONG INHIBITORS OF CYP3A4\tJ02-J05\n";

    fn interactions(rows: &[&str]) -> String {
        let mut text = "Drug Interaction ID\tDrug 1 Name\tDrug 1 RxCUI\tDrug 1 Class Name\tDrug 1 Code\tDrug 2 Name\tDrug 2 RxCUI\tDrug 2 Class Name\tDrug 2 Code\tClinical Source\tSource File\tDescription\tSeverity\tComment\n".to_string();
        for row in rows {
            text.push_str(row);
            text.push('\n');
        }
        text
    }

    #[test]
    fn class_rows_expand_through_renamed_classes_and_quirks_are_reported() {
        let text = interactions(&[
            "1\tACETYLSALICYLIC ACID \t1191\t\t\t\t\tOTHER ORAL ANTICOAGULANTS\tB01A-001\tANSM\tf\tIncreased risk of bleeding\tContraindication with:\t",
            "2\tSIMVASTATIN\t36567\t\t\t\t\tSTRONG INHIBITORS OF CYP3A\tJ02-J05\tANSM\tf\tRisk of rhabdomyolysis\tCONTRAINDICATION\t",
            "3\tMETHOTREXATE\t6851\t\t\tACETYLSALICYLIC ACID\t1191\t\t\tANSM\tf\tIncreased toxicity\tWith doses of methotrexate > 20 mg/week\t",
            "4\t\t\t\t\t\t\t\t\tANSM\tf\t\t\t",
            "5\tFOO\t1\t\t\t\t\tNO SUCH CLASS AT ALL\tZZ\tANSM\tf\tx\tPrecaution for use\t",
        ]);
        let (graph, report) = build(&text, MEMBERS, Some("Warfarin$DB1$Apixaban$DB2$\n")).unwrap();
        let id = |name: &str| graph.drugs.iter().position(|d| d == name).unwrap() as u32;
        let has = |a: &str, b: &str, level: Severity| {
            let (a, b) = (id(a).min(id(b)), id(a).max(id(b)));
            graph
                .pairs
                .iter()
                .any(|p| p[0] == a && p[1] == b && graph.findings[p[2] as usize].severity == level)
        };
        assert!(has(
            "ACETYLSALICYLIC ACID",
            "WARFARIN",
            Severity::Contraindication
        ));
        assert!(has(
            "ACETYLSALICYLIC ACID",
            "APIXABAN",
            Severity::Contraindication
        ));
        assert!(has(
            "SIMVASTATIN",
            "CLARITHROMYCIN",
            Severity::Contraindication
        ));
        assert!(has(
            "METHOTREXATE",
            "ACETYLSALICYLIC ACID",
            Severity::NotRecommended
        ));
        assert!(
            has("WARFARIN", "APIXABAN", Severity::NotRecommended),
            "from the ONC list"
        );
        assert_eq!(report.empty_rows, ["4"]);
        assert_eq!(
            report.unresolved_classes,
            [("NO SUCH CLASS AT ALL".to_string(), 1)]
        );
        assert_eq!(
            report
                .cleaned_severities
                .iter()
                .map(|c| c.0.as_str())
                .collect::<Vec<_>>(),
            ["1", "3"]
        );
        let onc = report.onc.unwrap();
        assert_eq!(
            (onc.pairs, onc.both_named_by_ansm, onc.flagged_by_ansm),
            (1, 1, 0)
        );
        // The JSON form loads back, and a damaged one is refused.
        let json = serde_json::to_string(&graph).unwrap();
        assert_eq!(
            Graph::from_json(&json).unwrap().pairs.len(),
            graph.pairs.len()
        );
        assert!(Graph::from_json(&json.replace(FORMAT, "other")).is_err());
        assert!(Graph::from_json("{").is_err());
    }

    #[test]
    fn a_file_without_the_expected_columns_is_refused_by_name() {
        let err = build("a\tb\n1\t2\n", MEMBERS, None).unwrap_err();
        assert!(err.contains("Drug Interaction ID"), "{err}");
    }
}
