//! The pharmacy graph: drugs, interaction findings and the drug pairs each
//! finding applies to, and the builder that makes it from the ANSM thesaurus
//! (WorldVistA's English translation) and, optionally, the US ONC
//! high-priority list.
//!
//! The source has quirks the builder cleans and reports instead of dropping
//! silently: interactions are often stated between classes ("ORAL
//! ANTICOAGULANTS") whose names in the interaction file differ from the class
//! file ("OTHER ORAL ANTICOAGULANTS", typos, a different word order), a few
//! severities are blank or misspelt, drug names carry other names and notes
//! ("TRINITRINE KNOWN AS NITROGLYCERIN IN THE US", read by [`crate::aliases`]),
//! and one drug often has two entries (French and English spellings,
//! "LEVOFLOXACINE"; typos; truncated names; the same name with a remark),
//! which the builder links so that every name of one finds the pairs of all.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use switchyard_sdk::text::{edit_distance, edit_distance_chars};

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
    /// The names each drug is known by besides its own, read from the
    /// sources (see [`crate::aliases`] and [`BuildReport::same_drug`]);
    /// drugs with no other name are left out. Graphs made before there were
    /// aliases have none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<Aliases>,
}

/// Every name of one drug of the graph.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Aliases {
    pub drug: u32,
    /// Its names (upper case), the one to show it by first; the entries the
    /// sources give for the same drug share the list.
    pub names: Vec<String>,
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
        if let Some(bad) = graph
            .aliases
            .iter()
            .find(|a| a.drug >= drugs || a.names.is_empty())
        {
            return Err(format!(
                "pharmacy graph: aliases of drug {} name no drug, or no name",
                bad.drug
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
    /// Source names read as more than their own text: `(source name, the
    /// names it gives, the rules that read it)`.
    pub names_read: Vec<(String, Vec<String>, Vec<String>)>,
    /// Source names that could not be read as names (a note where a name
    /// belongs). Their pairs stay in the graph, and they get the names of the
    /// drug their RxNorm code gives, if any.
    pub names_unparsed: Vec<String>,
    /// Source entries taken as one drug, so that every name of one finds the
    /// pairs of the others: `(name, name, why)`.
    pub same_drug: Vec<(String, String, String)>,
    /// Names the sources give one RxNorm code that do not look alike, so are
    /// not taken as one drug: `(code, name, name)`.
    pub code_conflicts: Vec<(String, String, String)>,
    /// Which drugs of the source's serious pairs customers can name, by the
    /// pack's own synonym table.
    pub common_names: Option<crate::coverage::CommonNames>,
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
    let padded: Vec<char> = format!(" {} ", trigram_text(name)).chars().collect();
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
    let rxnorm_col = table.column("class members", "RxNorm").ok();
    // Per drug name as written: its RxNorm codes and how often it is used.
    let mut seen = NameUse::default();
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
        seen.add(&drug, rxnorm_col.map_or("", |c| cell(row, c)));
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
    let rxcui_cols = [col("Drug 1 RxCUI").ok(), col("Drug 2 RxCUI").ok()];

    let mut drugs: BTreeSet<String> = members.values().flatten().cloned().collect();
    let mut resolved: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut unresolved: BTreeMap<String, usize> = BTreeMap::new();
    // (drug, drug) by name -> findings.
    let mut pairs: BTreeMap<(String, String), BTreeSet<Finding>> = BTreeMap::new();
    report.interaction_rows = table.rows.len();
    for row in &table.rows {
        let id = cell(row, id_col).trim().to_string();
        let mut expanded: Vec<BTreeSet<String>> = Vec::new();
        for ((name_col, class_col, code_col), rxcui_col) in sides.into_iter().zip(rxcui_cols) {
            let name = clean_name(cell(row, name_col));
            let class = clean_name(cell(row, class_col));
            if !name.is_empty() {
                seen.add(&name, rxcui_col.map_or("", |c| cell(row, c)));
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
            seen.add(&a, "");
            seen.add(&b, "");
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
    let aliases = link_names(&drugs, &seen, &mut report);
    let graph = Graph {
        format: FORMAT.into(),
        version: VERSION,
        drugs,
        findings,
        pairs: edges,
        aliases,
    };
    report.common_names = Some(crate::coverage::CommonNames::of(
        &graph,
        crate::names::SYNONYMS,
    ));
    Ok((graph, report))
}

/// Per drug name as the sources write it: the RxNorm codes they give it and
/// how many rows use it.
#[derive(Default)]
struct NameUse {
    codes: HashMap<String, BTreeSet<String>>,
    rows: HashMap<String, usize>,
}

impl NameUse {
    fn add(&mut self, name: &str, code: &str) {
        *self.rows.entry(name.to_string()).or_default() += 1;
        let code = code.trim();
        if !code.is_empty() && code.chars().all(|c| c.is_ascii_digit()) {
            self.codes
                .entry(name.to_string())
                .or_default()
                .insert(code.to_string());
        }
    }
}

/// Union-find over drug ids.
struct Groups(Vec<usize>);

impl Groups {
    fn root(&mut self, mut i: usize) -> usize {
        while self.0[i] != i {
            self.0[i] = self.0[self.0[i]];
            i = self.0[i];
        }
        i
    }

    /// Joins two groups; false if they were one already.
    fn join(&mut self, a: usize, b: usize) -> bool {
        let (a, b) = (self.root(a), self.root(b));
        self.0[a.max(b)] = a.min(b);
        a != b
    }
}

/// Shortest length of a name two spellings of which one edit apart are taken
/// for the same drug (the source's typos and French spellings: "ALRRAZOLAM",
/// "LEVOFLOXACINE", "ST JOHNS WORT").
const SPELLING_MIN_CHARS: usize = 7;

/// Every name of every drug: the names each source name gives, shared by
/// the entries that are one drug (they share a name, are spelt one edit
/// apart, or carry the same RxNorm code and look alike).
fn link_names(drugs: &[String], seen: &NameUse, report: &mut BuildReport) -> Vec<Aliases> {
    let parsed: Vec<crate::aliases::Parsed> =
        drugs.iter().map(|d| crate::aliases::parse(d)).collect();
    for (drug, p) in drugs.iter().zip(&parsed) {
        if p.unparsed() {
            report.names_unparsed.push(drug.clone());
        } else if p.names.len() > 1 || p.names[0] != *drug {
            report.names_read.push((
                drug.clone(),
                p.names.clone(),
                p.rules.iter().map(|r| r.to_string()).collect(),
            ));
        }
    }
    let keys: Vec<Vec<String>> = parsed
        .iter()
        .map(|p| p.names.iter().map(|n| crate::names::key(n)).collect())
        .collect();
    let mut groups = Groups((0..drugs.len()).collect());
    let mut link = |groups: &mut Groups, a: usize, b: usize, why: String| {
        if groups.join(a, b) {
            report
                .same_drug
                .push((drugs[a].clone(), drugs[b].clone(), why));
        }
    };

    // A name in common.
    let mut by_key: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, ks) in keys.iter().enumerate() {
        for k in ks {
            match by_key.get(k.as_str()) {
                Some(&j) => link(&mut groups, j, i, format!("both name {k:?}")),
                None => {
                    by_key.insert(k, i);
                }
            }
        }
    }
    // One edit apart.
    let spelt: Vec<(usize, Vec<char>)> = by_key
        .iter()
        .filter(|(k, _)| k.chars().count() >= SPELLING_MIN_CHARS)
        .map(|(k, i)| (*i, k.chars().collect()))
        .collect();
    for (n, (i, a)) in spelt.iter().enumerate() {
        for (j, b) in &spelt[n + 1..] {
            if i != j && edit_distance_chars(a, b, 1) <= 1 {
                link(&mut groups, *i, *j, "spelt one letter apart".into());
            }
        }
    }
    // The same RxNorm code (or one with its last digit lost, as truncated
    // names in the class file have it), when the names look alike: the
    // sources give one code to two different drugs now and then.
    let mut by_code: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, drug) in drugs.iter().enumerate() {
        for code in seen.codes.get(drug).into_iter().flatten() {
            by_code.entry(code).or_default().push(i);
        }
    }
    let codes: Vec<&str> = by_code.keys().copied().collect();
    for code in &codes {
        let mut same: Vec<usize> = by_code[code].clone();
        if code.len() >= 4 {
            for digit in '0'..='9' {
                if let Some(longer) = by_code.get(format!("{code}{digit}").as_str()) {
                    same.extend(longer);
                }
            }
        }
        same.sort_unstable();
        same.dedup();
        for (n, &a) in same.iter().enumerate() {
            for &b in &same[n + 1..] {
                if groups.root(a) == groups.root(b) {
                    continue;
                }
                if look_alike(drugs, &parsed, a, b) {
                    link(&mut groups, a, b, format!("RxNorm code {code}"));
                } else if by_code[code].contains(&a) && by_code[code].contains(&b) {
                    report.code_conflicts.push((
                        code.to_string(),
                        drugs[a].clone(),
                        drugs[b].clone(),
                    ));
                }
            }
        }
    }

    // Each group's names, the name to show first: that of the entry the
    // sources use most, a plain name before one read by a rule.
    let mut members: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..drugs.len() {
        let root = groups.root(i);
        members.entry(root).or_default().push(i);
    }
    let table_generics: BTreeSet<String> = crate::names::SYNONYMS
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('\t'))
        .map(|(generic, _)| crate::names::key(generic))
        .collect();
    let mut aliases = Vec::new();
    for entries in members.values() {
        let mut ranked: Vec<usize> = entries
            .iter()
            .copied()
            .filter(|i| !parsed[*i].unparsed())
            .collect();
        // The name the pack's synonym table uses first; then not a
        // spelling of another entry's name with its first letters lost
        // ("AMIPRIL") or a plural "S" added.
        let main = |i: usize| parsed[i].names.first().map_or("", String::as_str);
        let variant = |i: usize| {
            let name = main(i);
            entries.iter().any(|&j| {
                let other = main(j);
                (other.len() > name.len() && other.len() - name.len() <= 2 && other.ends_with(name))
                    || name.strip_suffix('S') == Some(other)
            })
        };
        ranked.sort_by_key(|i| {
            (
                !table_generics.contains(&crate::names::key(main(*i))),
                variant(*i),
                std::cmp::Reverse(seen.rows.get(&drugs[*i]).copied().unwrap_or(0)),
                !parsed[*i].rules.is_empty(),
                drugs[*i].len(),
                drugs[*i].clone(),
            )
        });
        let mut names: Vec<String> = Vec::new();
        let mut name_keys: BTreeSet<String> = BTreeSet::new();
        for i in &ranked {
            for name in &parsed[*i].names {
                if name_keys.insert(crate::names::key(name)) {
                    names.push(name.clone());
                }
            }
        }
        if names.is_empty() {
            continue;
        }
        for &i in entries {
            if names.len() > 1 || names[0] != drugs[i] {
                aliases.push(Aliases {
                    drug: i as u32,
                    names: names.clone(),
                });
            }
        }
    }
    aliases.sort_by_key(|a| a.drug);
    aliases
}

/// Whether two source names look like one drug's: a name of one is much like
/// a name of the other, or one is a note that names the other.
fn look_alike(drugs: &[String], parsed: &[crate::aliases::Parsed], a: usize, b: usize) -> bool {
    let named_in = |note: usize, other: usize| {
        let words = format!(" {} ", trigram_text(&drugs[note]));
        parsed[other]
            .names
            .iter()
            .any(|n| words.contains(&format!(" {} ", trigram_text(n))))
    };
    parsed[a].names.iter().any(|x| {
        parsed[b]
            .names
            .iter()
            .any(|y| dice(&trigrams(x), &trigrams(y)) >= 0.5)
    }) || (parsed[a].unparsed() && named_in(a, b))
        || (parsed[b].unparsed() && named_in(b, a))
}

/// Letters and digits only, words one space apart.
fn trigram_text(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
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
    fn names_the_source_gives_are_read_and_entries_of_one_drug_are_linked() {
        let members = "Drug Name\tRxNorm\tSource File\tClinical Source\tClass Name\tClass Code\n\
            TRINITRINE KNOWN AS NITROGLYCERIN IN THE US\t4917\tx\tANSM\tNITRATE DERIVATIVES AND RELATED\tC01D-001\n\
            ISOSORBIDE DINITRATE\t6058\tx\tANSM\tNITRATE DERIVATIVES AND RELATED\tC01D-001\n\
            SILDENAFIL\t136411\tx\tANSM\tTYPE 5 PHOSPHODIESTERASE INHIBITORS\tG04BE\n\
            TADALAFIL\t358263\tx\tANSM\tTYPE 5 PHOSPHODIESTERASE INHIBITORS\tG04BE\n\
            TRINITRINE\t\tx\tANSM\tMEDICATIONS AT THE ORIGIN OF ORTHOSTATIC HYPOTENSION\tMOH\n\
            AMIPRIL\t35296\tx\tANSM\tMEDICATIONS THAT LOWER BLOOD PRESSURE\tMLBP\n\
            CEFOTETAN\t2184\tx\tANSM\tCEPHALOSPORINS\tJ01D\n\
            THE NAMES FOR CODES DO NOT CORRESPOND EXACTLY WITH THE NAMES GIVEN IN THE FRENCH DOCUMENT FOR VARIOUS KINDS OF INSULIN.\t5856\tx\tANSM\tINSULIN\tA10A\n";
        let text = interactions(&[
            "1\t\t\tNITRATE DERIVATIVES AND RELATED\tC01D-001\t\t\tTYPE 5 PHOSPHODIESTERASE INHIBITORS\tG04BE\tANSM\tf\tRisk of severe hypotension\tCONTRAINDICATION\t",
            "2\tRAMIPRIL\t35296\t\t\tLEVOFLOXACINE\t82122\t\t\tANSM\tf\tx\tTake into account\t",
            "3\tLEVOFLOXACIN\t82122\t\t\tCEFOPERAZONE\t2184\t\t\tANSM\tf\tx\tTake into account\t",
            "4\tINSULIN\t5856\t\t\tAVIZAFONE\t3102\t\t\tANSM\tf\tx\tNot recommended\t",
        ]);
        let (graph, report) = build(&text, members, None).unwrap();
        let names_of = |drug: &str| {
            let id = graph.drugs.iter().position(|d| d == drug).unwrap() as u32;
            graph
                .aliases
                .iter()
                .find(|a| a.drug == id)
                .map(|a| a.names.clone())
                .unwrap_or_default()
        };
        // The alias in the name, shared with the other entry of the drug, the
        // name the synonym table uses shown first.
        let trinitrine = ["TRINITRINE", "NITROGLYCERIN"];
        assert_eq!(
            names_of("TRINITRINE KNOWN AS NITROGLYCERIN IN THE US"),
            trinitrine
        );
        assert_eq!(names_of("TRINITRINE"), trinitrine);
        // A French spelling and a truncated name, linked by spelling and by
        // their RxNorm code; the correct one shown first.
        assert_eq!(names_of("LEVOFLOXACINE"), ["LEVOFLOXACIN", "LEVOFLOXACINE"]);
        assert_eq!(names_of("AMIPRIL"), ["RAMIPRIL", "AMIPRIL"]);
        // A note where a name belongs: reported, and named by its code.
        assert_eq!(report.names_unparsed.len(), 1);
        assert_eq!(
            names_of(
                "THE NAMES FOR CODES DO NOT CORRESPOND EXACTLY WITH THE NAMES GIVEN IN THE FRENCH DOCUMENT FOR VARIOUS KINDS OF INSULIN."
            ),
            ["INSULIN"]
        );
        let links: Vec<(&str, &str)> = report
            .same_drug
            .iter()
            .map(|(a, b, _)| (a.as_str(), b.as_str()))
            .collect();
        assert!(links.contains(&("TRINITRINE", "TRINITRINE KNOWN AS NITROGLYCERIN IN THE US")));
        assert!(links.contains(&("LEVOFLOXACIN", "LEVOFLOXACINE")));
        assert!(links.contains(&("AMIPRIL", "RAMIPRIL")));
        // One code for two different drugs: not linked, reported.
        assert_eq!(
            report.code_conflicts,
            [(
                "2184".to_string(),
                "CEFOPERAZONE".to_string(),
                "CEFOTETAN".to_string()
            )]
        );
        assert!(
            report
                .names_read
                .iter()
                .any(|(raw, names, _)| raw.starts_with("TRINITRINE KNOWN") && *names == trinitrine)
        );
        // The drugs of the serious pairs and their common names.
        let common = report.common_names.as_ref().unwrap();
        assert_eq!((common.drugs, common.pairs), (6, 5), "{common:?}");
        assert_eq!(common.no_common_name, ["AVIZAFONE"]);
        // The JSON form keeps the aliases.
        let json = serde_json::to_string(&graph).unwrap();
        assert_eq!(Graph::from_json(&json).unwrap().aliases, graph.aliases);
        assert!(Graph::from_json(&json.replace("\"drug\":0,", "\"drug\":999,")).is_err());
    }

    #[test]
    fn a_file_without_the_expected_columns_is_refused_by_name() {
        let err = build("a\tb\n1\t2\n", MEMBERS, None).unwrap_err();
        assert!(err.contains("Drug Interaction ID"), "{err}");
    }
}
