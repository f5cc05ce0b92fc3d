//! Reading a drug name as the sources write it. A name cell of the ANSM
//! files (WorldVistA's translation) is often more than a name: another name
//! in it ("TRINITRINE KNOWN AS NITROGLYCERIN IN THE US", "ZIDOVUDINE (AZT)",
//! "METHYLENE BLUE OR METHYLTHIONINIUM CHLORIDE"), a remark that qualifies it
//! ("ADRENALINE (ORAL-DENTAL OR SUB-CUTANEOUS)"), a translator's note
//! ("EPINEPHRINE IS THE NAME FOR ADRENALINE SEARCHABLE ON THE ATC SEARCH
//! ENGINE.", "FRENCH: ARSENIEUX, MAY BE ARSENIC TRIOXIDE"), a salt after the
//! drug ("CANDESARTAN CILEXETIL"). [`parse`] gives every name such a cell
//! gives; what it cannot read as names it says so, for the build report.

/// What one source name says.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed {
    /// The names it gives (upper case, one space between words), the main one
    /// first; empty when it could not be read.
    pub names: Vec<String>,
    /// The rules that read it, empty when it is a plain name.
    pub rules: Vec<&'static str>,
}

impl Parsed {
    /// Whether the text could not be read as names (a note in place of a name).
    pub fn unparsed(&self) -> bool {
        self.names.is_empty()
    }
}

/// Most words in a name; a longer text is a note.
pub const MAX_NAME_WORDS: usize = 6;

/// Words of a parenthesised remark that qualifies a drug (its route, dose,
/// form, origin) rather than naming it.
const QUALIFIER_WORDS: &[&str] = &[
    "ORAL",
    "DENTAL",
    "SUB",
    "CUTANEOUS",
    "SUBCUTANEOUS",
    "DRINK",
    "INGREDIENT",
    "HORSE",
    "RABBIT",
    "CURATIVE",
    "PREVENTIVE",
    "DOSE",
    "DOSES",
    "OLDER",
    "PATIENTS",
    "JUICE",
    "FRUIT",
    "AND",
    "OR",
    "OF",
];

/// Salts and esters written after a drug's name ("HEPARIN SODIUM",
/// "PERINDOPRIL TERT-BUTYLAMINE"): the name without it is the drug's name
/// too. Not prodrug esters that make another medicine (tenofovir disoproxil
/// and tenofovir alafenamide differ).
const SALT_WORDS: &[&str] = &[
    "SODIUM",
    "CALCIUM",
    "POTASSIUM",
    "TROMETAMOL",
    "CILEXETIL",
    "TERT-BUTYLAMINE",
    "MOFETIL",
    "PEGOL",
    "RECOMBINANT",
];

/// Words that only a sentence has: a name with one of them is a note.
const NOTE_WORDS: &[&str] = &[
    "THE",
    "IS",
    "ARE",
    "NAMES",
    "DOCUMENT",
    "BELOW",
    "LISTS",
    "FRENCH",
    "ENGLISH",
    "MAY",
    "BE",
    "SEARCHABLE",
    "CALLED",
    "KNOWN",
];

fn clean(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
        .trim_matches(|c: char| c == '.' || c == ' ' || c == ',' || c == ':')
        .trim_matches(|c: char| c == '\'' || c == '"')
        .to_string()
}

/// The names in a source's drug-name cell.
pub fn parse(raw: &str) -> Parsed {
    let mut rules = Vec::new();
    let mut names = Vec::new();
    if read(&clean(raw), &mut names, &mut rules, 0).is_err() || names.is_empty() {
        return Parsed {
            names: Vec::new(),
            rules,
        };
    }
    // Salts: the drug without its salt is named too.
    for name in names.clone() {
        let words: Vec<&str> = name.split(' ').collect();
        if let [stem @ .., last] = words.as_slice()
            && !stem.is_empty()
            && SALT_WORDS.contains(last)
            && !stem.iter().any(|w| SALT_WORDS.contains(w))
            && !matches!(stem.last(), Some(&("OF" | "DE" | "AND")))
        {
            push(&mut names, stem.join(" "));
            note(&mut rules, "salt");
        }
    }
    Parsed { names, rules }
}

fn push(names: &mut Vec<String>, name: String) {
    if !name.is_empty() && !names.contains(&name) {
        names.push(name);
    }
}

fn note(rules: &mut Vec<&'static str>, rule: &'static str) {
    if !rules.contains(&rule) {
        rules.push(rule);
    }
}

/// Read `text` (cleaned) into `names`; `Err` when part of it is a note.
fn read(
    text: &str,
    names: &mut Vec<String>,
    rules: &mut Vec<&'static str>,
    depth: usize,
) -> Result<(), ()> {
    let text = clean(text);
    if text.is_empty() || depth > 4 {
        return Err(());
    }
    // A stray label before the name ("E: DIPHENHYDRAMINE").
    if let Some((label, rest)) = text.split_once(": ")
        && label.len() == 1
    {
        note(rules, "stray label");
        return read(rest, names, rules, depth + 1);
    }
    // "FRENCH: ARSENIEUX, MAY BE ARSENIC TRIOXIDE": the English name first.
    if let Some(rest) = text.strip_prefix("FRENCH: ") {
        note(rules, "translator's note");
        return match rest.split_once(", MAY BE ") {
            Some((french, english)) => {
                read(english, names, rules, depth + 1)?;
                read(french, names, rules, depth + 1)
            }
            None => read(rest, names, rules, depth + 1),
        };
    }
    // "THE FRENCH DOCUMENT LISTS 'CATIORESINE SULFO SODIQUE'".
    if let Some(rest) = text.strip_prefix("THE FRENCH DOCUMENT LISTS ") {
        note(rules, "translator's note");
        return read(rest, names, rules, depth + 1);
    }
    // "EPINEPHRINE IS THE NAME FOR ADRENALINE SEARCHABLE ON THE ATC SEARCH
    // ENGINE", "NOREPINEPHRINE IS THE SEARCHABLE NAME FOR NORADRENALINE".
    if let Some((first, rest)) = text.split_once(" IS THE ") {
        let rest = rest.strip_prefix("SEARCHABLE ").unwrap_or(rest);
        if let Some(second) = rest.strip_prefix("NAME FOR ") {
            let second = second.split(" SEARCHABLE").next().unwrap_or(second);
            note(rules, "translator's note");
            read(first, names, rules, depth + 1)?;
            return read(second, names, rules, depth + 1);
        }
    }
    // "TRINITRINE KNOWN AS NITROGLYCERIN IN THE US", "FAMPRIDINE CALLED
    // AMPYRA IN THE US".
    for joint in [" KNOWN AS ", " CALLED "] {
        if let Some((first, second)) = text.split_once(joint)
            && !first.contains('(')
        {
            let second = second
                .strip_suffix(" IN THE US")
                .or_else(|| second.strip_suffix(" IN THE USA"))
                .or_else(|| second.strip_suffix(" IN THE UK"))
                .unwrap_or(second);
            note(rules, "also known as");
            read(first, names, rules, depth + 1)?;
            return read(second, names, rules, depth + 1);
        }
    }

    // Bracketed and parenthesised remarks.
    let (main, groups) = split_groups(&text)?;
    let mut extra: Vec<String> = Vec::new();
    let mut main = main;
    for group in groups {
        let content = clean(&group.content);
        if group.attached {
            // Chemical notation, "DI(ACEFYLLINE) DIPHENHYDRAMINE": the same
            // word without the brackets.
            main = main.replace(&group.placeholder, &content);
            note(rules, "brackets in a word");
            continue;
        }
        main = main.replace(&group.placeholder, " ");
        if let Some(french) = content
            .strip_suffix(" IN THE FRENCH TABLE")
            .or_else(|| content.strip_suffix(" IN THE FRENCH LIST"))
        {
            note(rules, "French name");
            extra.push(french.to_string());
        } else if let Some(english) = content
            .strip_prefix("MAY BE ")
            .and_then(|c| c.strip_suffix(" IN ENGLISH"))
        {
            note(rules, "translator's note");
            extra.push(english.to_string());
        } else if let Some(former) = content.strip_prefix("FORMERLY CALLED ") {
            note(rules, "former name");
            extra.push(former.to_string());
        } else if let Some(head) = content
            .strip_suffix(" OF")
            .or_else(|| content.strip_suffix(" DE"))
        {
            // An index form: "DIMETHYL (FUMERATE OF)" is dimethyl fumarate,
            // "SODIUM (NITROPRUSSIATE DE)" is the French "nitroprussiate de
            // sodium".
            note(rules, "index form");
            let outside = clean(&main);
            main = if content.ends_with(" DE") {
                format!("{head} DE {outside}")
            } else {
                format!("{outside} {head}")
            };
        } else if content
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .all(|w| {
                QUALIFIER_WORDS.contains(&w)
                    || w.chars().all(|c| c.is_ascii_digit())
                    || (w.len() <= 2 && group.inside)
            })
        {
            // "(ORAL-DENTAL OR SUB-CUTANEOUS)", "(67 GA)": a qualifier.
            note(rules, "qualifier");
        } else {
            // "(AZT)", "(PARA-AMINOSALICYLIC ACID OR PAS)", "[LAIV]".
            note(rules, "other name in brackets");
            extra.extend(content.split(" OR ").map(str::to_string));
        }
    }
    let main = clean(&main);
    // "METHYLENE BLUE OR METHYLTHIONINIUM CHLORIDE".
    let alternatives: Vec<&str> = main.split(" OR ").collect();
    if alternatives.len() > 1 {
        note(rules, "or");
    }
    for alternative in alternatives {
        let alternative = clean(alternative);
        // "PARAFFIN, LIQUID": "LIQUID PARAFFIN" and "PARAFFIN".
        if let Some((head, tail)) = alternative.split_once(", ") {
            note(rules, "inverted");
            plain(&format!("{} {}", clean(tail), clean(head)), names)?;
            plain(head, names)?;
        } else {
            plain(&alternative, names)?;
        }
    }
    for other in extra {
        read(&other, names, rules, depth + 1)?;
    }
    Ok(())
}

/// A name that needs no more reading; `Err` if it is not a name.
fn plain(name: &str, names: &mut Vec<String>) -> Result<(), ()> {
    let name = clean(name);
    let words: Vec<&str> = name.split(' ').collect();
    let name_like = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '\'' | '/' | ',' | '.'))
        && name.chars().any(|c| c.is_ascii_alphabetic())
        && words.len() <= MAX_NAME_WORDS
        && !words.iter().any(|w| NOTE_WORDS.contains(w));
    if !name_like {
        return Err(());
    }
    push(names, name);
    Ok(())
}

struct Group {
    content: String,
    /// Written against a word, "DI(ACEFYLLINE)".
    attached: bool,
    /// Followed by more of the name, "GALLIUM (67 GA) CITRATE".
    inside: bool,
    placeholder: String,
}

/// The text with each top-level `(...)` or `[...]` replaced by a placeholder,
/// and the groups; `Err` if the brackets do not balance.
fn split_groups(text: &str) -> Result<(String, Vec<Group>), ()> {
    let chars: Vec<char> = text.chars().collect();
    let mut main = String::new();
    let mut groups = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '(' || c == '[' {
            let close = if c == '(' { ')' } else { ']' };
            let mut depth = 0;
            let mut end = None;
            for (j, d) in chars.iter().enumerate().skip(i) {
                if *d == c {
                    depth += 1;
                } else if *d == close {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(j);
                        break;
                    }
                }
            }
            let end = end.ok_or(())?;
            let attached = i > 0 && chars[i - 1].is_alphanumeric();
            let inside = chars[end + 1..].iter().any(|c| c.is_alphanumeric());
            let placeholder = format!("\u{1}{}\u{1}", groups.len());
            main.push_str(&placeholder);
            groups.push(Group {
                content: chars[i + 1..end].iter().collect(),
                attached,
                inside,
                placeholder,
            });
            i = end + 1;
        } else if c == ')' || c == ']' {
            return Err(());
        } else {
            main.push(c);
            i += 1;
        }
    }
    Ok((main, groups))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(raw: &str) -> Vec<String> {
        parse(raw).names
    }

    #[test]
    fn every_alias_a_source_name_gives_is_read() {
        let cases: &[(&str, &[&str])] = &[
            ("WARFARIN", &["WARFARIN"]),
            ("acetylsalicylic  acid ", &["ACETYLSALICYLIC ACID"]),
            (
                "TRINITRINE KNOWN AS NITROGLYCERIN IN THE US",
                &["TRINITRINE", "NITROGLYCERIN"],
            ),
            (
                "FAMPRIDINE CALLED AMPYRA IN THE US",
                &["FAMPRIDINE", "AMPYRA"],
            ),
            (
                "EPINEPHRINE IS THE NAME FOR ADRENALINE SEARCHABLE ON THE ATC SEARCH ENGINE.",
                &["EPINEPHRINE", "ADRENALINE"],
            ),
            (
                "NOREPINEPHRINE IS THE SEARCHABLE NAME FOR NORADRENALINE",
                &["NOREPINEPHRINE", "NORADRENALINE"],
            ),
            (
                "FRENCH: ARSENIEUX, MAY BE ARSENIC TRIOXIDE",
                &["ARSENIC TRIOXIDE", "ARSENIEUX"],
            ),
            (
                "THE FRENCH DOCUMENT LISTS 'CATIORESINE SULFO SODIQUE'",
                &["CATIORESINE SULFO SODIQUE"],
            ),
            ("E: DIPHENHYDRAMINE ", &["DIPHENHYDRAMINE"]),
            ("ZIDOVUDINE (AZT)", &["ZIDOVUDINE", "AZT"]),
            (
                "4-AMINOSALICYLIC ACID (PARA-AMINOSALICYLIC ACID OR PAS)",
                &["4-AMINOSALICYLIC ACID", "PARA-AMINOSALICYLIC ACID", "PAS"],
            ),
            (
                "ABCIXIMAB (FORMERLY CALLED C 7E3B FAB)",
                &["ABCIXIMAB", "C 7E3B FAB"],
            ),
            (
                "LEVOTHYROXINE (LEVOTHYROXINE SODIUM)",
                &["LEVOTHYROXINE", "LEVOTHYROXINE SODIUM"],
            ),
            (
                "METHYLENE BLUE OR METHYLTHIONINIUM CHLORIDE",
                &["METHYLENE BLUE", "METHYLTHIONINIUM CHLORIDE"],
            ),
            (
                "DIACID CITRATE OF SODIUM (MAY BE DISODIUM CITRATE IN ENGLISH)",
                &["DIACID CITRATE OF SODIUM", "DISODIUM CITRATE"],
            ),
            (
                "DIATRIZOIC ACID [ACIDE AMIDOTRIZOIQUE IN THE FRENCH TABLE]",
                &["DIATRIZOIC ACID", "ACIDE AMIDOTRIZOIQUE"],
            ),
            (
                "NITROPRUSSIDE [SODIUM (NITROPRUSSIATE DE) IN THE FRENCH LIST]",
                &["NITROPRUSSIDE", "NITROPRUSSIATE DE SODIUM"],
            ),
            (
                "LIVE ATTENUATED INFLUENZA VACCINE [LAIV]",
                &["LIVE ATTENUATED INFLUENZA VACCINE", "LAIV"],
            ),
            ("DIMETHYL (FUMERATE OF)", &["DIMETHYL FUMERATE"]),
            (
                "DI(ACEFYLLINE) DIPHENHYDRAMINE",
                &["DIACEFYLLINE DIPHENHYDRAMINE"],
            ),
            ("GALLIUM (67 GA) CITRATE", &["GALLIUM CITRATE"]),
            ("ADRENALINE (ORAL-DENTAL OR SUB-CUTANEOUS)", &["ADRENALINE"]),
            ("ALCOHOL (DRINK OF INGREDIENT)", &["ALCOHOL"]),
            ("GRAPEFRUIT (JUICE AND FRUIT)", &["GRAPEFRUIT"]),
            (
                "UNFRACTIONATED HEPARIN (CURATIVE DOSES AND/OR OLDER PATIENTS)",
                &["UNFRACTIONATED HEPARIN"],
            ),
            (
                "ANTILYMPHOCYTE IMMUNOGLOBULIN (HORSE)",
                &["ANTILYMPHOCYTE IMMUNOGLOBULIN"],
            ),
            ("PARAFFIN, LIQUID", &["LIQUID PARAFFIN", "PARAFFIN"]),
            (
                "ROTAVIRUS VACCINE, LIVE ATTENUATED",
                &["LIVE ATTENUATED ROTAVIRUS VACCINE", "ROTAVIRUS VACCINE"],
            ),
            ("HEPARIN SODIUM", &["HEPARIN SODIUM", "HEPARIN"]),
            (
                "PERINDOPRIL TERT-BUTYLAMINE",
                &["PERINDOPRIL TERT-BUTYLAMINE", "PERINDOPRIL"],
            ),
            (
                "CANDESARTAN CILEXETIL",
                &["CANDESARTAN CILEXETIL", "CANDESARTAN"],
            ),
            ("TENOFOVIR DISOPROXIL", &["TENOFOVIR DISOPROXIL"]),
            ("SODIUM CHLORIDE", &["SODIUM CHLORIDE"]),
            ("ST JOHN'S WORT", &["ST JOHN'S WORT"]),
            ("NONOXYNOL-9", &["NONOXYNOL-9"]),
        ];
        for (raw, expected) in cases {
            assert_eq!(names(raw), *expected, "{raw}");
        }
        assert!(parse("WARFARIN").rules.is_empty());
        assert_eq!(
            parse("TRINITRINE KNOWN AS NITROGLYCERIN IN THE US").rules,
            ["also known as"]
        );
    }

    #[test]
    fn notes_that_are_not_names_are_reported_unparsed() {
        for raw in [
            "THE NAMES FOR CODES DO NOT CORRESPOND EXACTLY WITH THE NAMES GIVEN IN THE FRENCH DOCUMENT FOR VARIOUS KINDS OF INSULIN. BELOW ARE ALL THE RXNORM AND ATC CODES FOR INSULIN ON RXNAV AND THE WHO ATC/DDD LISTS",
            "SEE THE FRENCH TABLE",
            "",
            "ASPIRIN (UNBALANCED",
            "ASPIRIN ]",
            "ASPIRIN?",
        ] {
            assert!(parse(raw).unparsed(), "{raw}: {:?}", parse(raw));
        }
    }
}
