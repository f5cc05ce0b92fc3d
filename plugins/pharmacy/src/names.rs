//! Finding drug names in a customer's message: the graph's generic names and
//! the other names the graph gives each drug (its aliases in the source,
//! "NITROGLYCERIN" for "TRINITRINE KNOWN AS NITROGLYCERIN IN THE US"), and
//! the pack's own synonym table (brand names, common English names, Chinese
//! names), case- and width-insensitive, with one typo tolerated in a Latin
//! name of 5+ letters (two in one of 9+; a word as near to two names stands
//! for both), except in everyday words ("alive" is not a misspelt Aleve), and
//! no word segmenter for Chinese.

use std::collections::{HashMap, HashSet};

use switchyard_sdk::text::{edit_distance_chars, is_cjk, normalize_with_offsets};

use crate::graph::Aliases;

/// The pack's synonym table: `GENERIC<TAB>synonym|synonym|...`, written by the
/// project. Generic names are the graph's (ANSM) spelling.
pub const SYNONYMS: &str = include_str!("../synonyms.tsv");

/// Everyday words never read as a misspelt drug name ("alive" is not Aleve),
/// one a line, `#` comments.
pub const EVERYDAY_WORDS: &str = include_str!("../everyday_words.txt");

/// A drug name found in a text.
#[derive(Clone, Debug, PartialEq)]
pub struct Mention {
    /// Graph drug ids the name stands for (one name can cover several
    /// entries, "ADRENALINE" and "ADRENALINE (ORAL-DENTAL ...)").
    pub drugs: Vec<u32>,
    /// Byte range in the original text.
    pub start: usize,
    pub end: usize,
}

/// Lookup key of a name: folded, without a parenthesised remark, words only.
pub fn key(name: &str) -> String {
    let mut depth = 0usize;
    let mut plain = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => plain.push(c),
            _ => {}
        }
    }
    let (folded, _) = normalize_with_offsets(&plain);
    folded
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Most words in a drug name ("ALCOHOL (DRINK OR INGREDIENT)" is one word once
/// its remark is dropped; "ACETYLSALICYLIC ACID" two).
const MAX_NAME_WORDS: usize = crate::aliases::MAX_NAME_WORDS;

pub struct Recognizer {
    /// Latin key (words joined by one space) -> drugs.
    latin: HashMap<String, Vec<u32>>,
    /// Single-word Latin keys of 5+ letters, for typo matching.
    fuzzy: Vec<(Vec<char>, Vec<u32>)>,
    /// `fuzzy` by first letter and length: a word is compared only with the
    /// names it could be a typo of (the synonym table has thousands).
    fuzzy_index: HashMap<(char, usize), Vec<usize>>,
    /// CJK names, longest first.
    cjk: Vec<(String, Vec<u32>)>,
    /// `cjk` by first character, in `cjk` order.
    cjk_index: HashMap<char, Vec<usize>>,
    /// Most words in a Latin key.
    max_words: usize,
    /// Per drug id: the name to show it by.
    display: Vec<String>,
    /// Per drug id: its names in the synonym table, as written there.
    common: Vec<Vec<String>>,
    /// Words that are never a typo ([`EVERYDAY_WORDS`]).
    everyday: HashSet<String>,
}

impl Recognizer {
    /// Every drug by its own name and the other names the graph gives it,
    /// plus the synonyms of drugs the graph has. Returns the recognizer and
    /// the synonym rows naming no known drug.
    pub fn new(drugs: &[String], aliases: &[Aliases], synonyms: &str) -> (Recognizer, Vec<String>) {
        let mut display: Vec<String> = drugs
            .iter()
            .map(|d| {
                crate::aliases::parse(d)
                    .names
                    .into_iter()
                    .next()
                    .unwrap_or_else(|| d.clone())
            })
            .collect();
        let mut by_key: HashMap<String, Vec<u32>> = HashMap::new();
        let add = |by_key: &mut HashMap<String, Vec<u32>>, name: &str, id: u32| {
            let k = key(name);
            if !k.is_empty() {
                let entry = by_key.entry(k).or_default();
                if !entry.contains(&id) {
                    entry.push(id);
                }
            }
        };
        for (id, name) in drugs.iter().enumerate() {
            add(&mut by_key, name, id as u32);
        }
        for alias in aliases {
            if let Some(shown) = display.get_mut(alias.drug as usize) {
                *shown = alias.names[0].clone();
                for name in &alias.names {
                    add(&mut by_key, name, alias.drug);
                }
            }
        }
        let mut names: HashMap<String, Vec<u32>> = by_key.clone();
        let mut common: Vec<Vec<String>> = vec![Vec::new(); drugs.len()];
        let mut unknown = Vec::new();
        for line in synonyms.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((generic, others)) = line.split_once('\t') else {
                unknown.push(line.to_string());
                continue;
            };
            let Some(ids) = by_key.get(&key(generic)) else {
                unknown.push(generic.to_string());
                continue;
            };
            for synonym in others.split('|') {
                let k = key(synonym);
                if !k.is_empty() {
                    let entry = names.entry(k).or_default();
                    for id in ids {
                        if !entry.contains(id) {
                            entry.push(*id);
                        }
                        let written = synonym.trim().to_string();
                        if !common[*id as usize].contains(&written) {
                            common[*id as usize].push(written);
                        }
                    }
                }
            }
        }
        let mut recognizer = Recognizer {
            latin: HashMap::new(),
            fuzzy: Vec::new(),
            fuzzy_index: HashMap::new(),
            cjk: Vec::new(),
            cjk_index: HashMap::new(),
            max_words: 1,
            display,
            common,
            everyday: EVERYDAY_WORDS
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_lowercase)
                .collect(),
        };
        for (k, mut ids) in names {
            ids.sort_unstable();
            if k.chars().any(is_cjk) {
                recognizer.cjk.push((k.replace(' ', ""), ids));
            } else {
                let words = k.split(' ').count();
                // The source has a few notes where a name belongs; no name is
                // that long.
                if words > MAX_NAME_WORDS {
                    continue;
                }
                recognizer.max_words = recognizer.max_words.max(words);
                if words == 1 && k.len() >= 5 && k.chars().all(|c| c.is_ascii_alphabetic()) {
                    recognizer.fuzzy.push((k.chars().collect(), ids.clone()));
                }
                recognizer.latin.insert(k, ids);
            }
        }
        recognizer
            .cjk
            .sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.0.cmp(&b.0)));
        recognizer.fuzzy.sort();
        for (i, (name, _)) in recognizer.fuzzy.iter().enumerate() {
            recognizer
                .fuzzy_index
                .entry((name[0], name.len()))
                .or_default()
                .push(i);
        }
        for (i, (name, _)) in recognizer.cjk.iter().enumerate() {
            if let Some(first) = name.chars().next() {
                recognizer.cjk_index.entry(first).or_default().push(i);
            }
        }
        (recognizer, unknown)
    }

    /// The name to show a drug by: the main name its source entry gives (or
    /// the main name of the drug it is one with).
    pub fn display(&self, id: u32) -> &str {
        &self.display[id as usize]
    }

    /// A drug's names in the pack's synonym table, as written there.
    pub fn common_names(&self, id: u32) -> &[String] {
        &self.common[id as usize]
    }

    /// The drug a name given on its own stands for (exact or one typo).
    pub fn lookup(&self, name: &str) -> Option<Vec<u32>> {
        self.exact(name)
            .or_else(|| self.fuzzy_word(&key(name).chars().collect::<Vec<_>>()))
    }

    /// The drug a name given on its own stands for, spelt as the graph or
    /// the synonym table spells it (case and width aside).
    pub fn exact(&self, name: &str) -> Option<Vec<u32>> {
        let k = key(name);
        if k.chars().any(is_cjk) {
            let k = k.replace(' ', "");
            return self
                .cjk
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, ids)| ids.clone());
        }
        self.latin.get(&k).cloned()
    }

    fn fuzzy_word(&self, word: &[char]) -> Option<Vec<u32>> {
        // A name of 5 letters with one dropped has 4.
        if word.len() < 4
            || !word.iter().all(|c| c.is_ascii_alphabetic())
            || self.everyday.contains(&word.iter().collect::<String>())
        {
            return None;
        }
        let max = if word.len() >= 9 { 2 } else { 1 };
        // Same first letter: a typo there is rare, and without it ordinary
        // words start matching drug names.
        let near: Vec<(usize, &Vec<u32>)> = (word.len().saturating_sub(max)..=word.len() + max)
            .filter_map(|len| self.fuzzy_index.get(&(word[0], len)))
            .flatten()
            .map(|&i| &self.fuzzy[i])
            .map(|(name, ids)| (edit_distance_chars(name, word, max), ids))
            .filter(|(d, _)| *d <= max)
            .collect();
        // As near to two names ("Covaine": Covatine, cocaine): both, for the
        // pharmacist to tell apart rather than a guess.
        let best = near.iter().map(|(d, _)| *d).min()?;
        let mut ids: Vec<u32> = near
            .into_iter()
            .filter(|(d, _)| *d == best)
            .flat_map(|(_, ids)| ids.iter().copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        Some(ids)
    }

    /// Drug names in `text`, in text order, not overlapping (longest first).
    pub fn find(&self, text: &str) -> Vec<Mention> {
        let (folded, offsets) = normalize_with_offsets(text);
        let original = |start: usize, end: usize| (offsets[start], offsets[end]);
        let mut found: Vec<Mention> = Vec::new();
        let mut taken = vec![false; folded.len()];
        // Every place a CJK name starts, in the order the names are tried
        // (longest first), each name's places in text order.
        let mut places: Vec<(usize, usize)> = Vec::new();
        // (A name such as "B族维生素" may start with a Latin letter.)
        for (at, c) in folded.char_indices() {
            for &i in self.cjk_index.get(&c).into_iter().flatten() {
                if folded[at..].starts_with(self.cjk[i].0.as_str()) {
                    places.push((i, at));
                }
            }
        }
        places.sort_unstable();
        for (i, at) in places {
            let (name, ids) = &self.cjk[i];
            let end = at + name.len();
            if taken[at..end].iter().any(|t| *t) {
                continue;
            }
            taken[at..end].iter_mut().for_each(|t| *t = true);
            let (start, end) = original(at, end);
            found.push(Mention {
                drugs: ids.clone(),
                start,
                end,
            });
        }
        let words: Vec<(usize, &str)> = folded
            .split(|c: char| !c.is_alphanumeric() || is_cjk(c))
            .filter(|w| !w.is_empty())
            .map(|w| (w.as_ptr() as usize - folded.as_ptr() as usize, w))
            .collect();
        let mut i = 0;
        while i < words.len() {
            let mut matched = None;
            for n in (1..=self.max_words.min(words.len() - i)).rev() {
                let phrase = words[i..i + n]
                    .iter()
                    .map(|(_, w)| *w)
                    .collect::<Vec<_>>()
                    .join(" ");
                if let Some(ids) = self.latin.get(&phrase) {
                    matched = Some((n, ids.clone()));
                    break;
                }
            }
            if matched.is_none() {
                let chars: Vec<char> = words[i].1.chars().collect();
                matched = self.fuzzy_word(&chars).map(|ids| (1, ids));
            }
            match matched {
                Some((n, ids)) => {
                    let (first, last) = (words[i], words[i + n - 1]);
                    let (start, end) = original(first.0, last.0 + last.1.len());
                    found.push(Mention {
                        drugs: ids,
                        start,
                        end,
                    });
                    i += n;
                }
                None => i += 1,
            }
        }
        found.sort_by_key(|m| m.start);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drugs() -> Vec<String> {
        [
            "ACETYLSALICYLIC ACID",
            "WARFARIN",
            "SIMVASTATIN",
            "CLARITHROMYCIN",
            "ADRENALINE (ORAL-DENTAL OR SUB-CUTANEOUS)",
            "ADRENALINE",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn generic_brand_chinese_and_misspelt_names_are_found_where_they_are() {
        let (r, _) = Recognizer::new(&drugs(), &[], SYNONYMS);
        let text = "我在吃华法林，可以同时吃阿司匹林吗？";
        let found = r.find(text);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(&text[found[0].start..found[0].end], "华法林");
        assert_eq!(found[0].drugs, [1]);
        assert_eq!(&text[found[1].start..found[1].end], "阿司匹林");
        assert_eq!(found[1].drugs, [0]);

        let text = "Can I take ZOCOR with Clarithromicin? And Acetylsalicylic Acid?";
        let found = r.find(text);
        let names: Vec<&str> = found.iter().map(|m| &text[m.start..m.end]).collect();
        assert_eq!(names, ["ZOCOR", "Clarithromicin", "Acetylsalicylic Acid"]);
        assert_eq!(found[0].drugs, [2]);
        // One name for two entries of the graph.
        assert_eq!(r.lookup("adrenaline").map(|ids| ids.len()), Some(2));
        // Ordinary words are not drugs.
        assert!(
            r.find("Can I take this with water after dinner, please?")
                .is_empty()
        );
        assert_eq!(
            r.lookup("ｗａｒｆａｒｉｎ"),
            Some(vec![1]),
            "full-width letters"
        );
    }

    #[test]
    fn everyday_words_are_not_typos_and_a_typo_as_near_to_two_names_is_both() {
        let drugs: Vec<String> = ["NAPROXEN", "COCAINE", "CAPTODIAME", "OMEPRAZOLE"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (r, _) = Recognizer::new(&drugs, &[], SYNONYMS);
        assert_eq!(r.lookup("Aleev"), Some(vec![0]));
        assert_eq!(r.lookup("alive"), None, "an everyday word");
        assert!(r.find("I feel alive, I will not lose it").is_empty());
        // A five-letter name with a letter dropped.
        assert_eq!(r.lookup("Losc"), Some(vec![3]));
        // Covatine (captodiame) and cocaine are one edit from "covaine".
        assert_eq!(r.lookup("covaine"), Some(vec![1, 2]));
        assert_eq!(r.exact("covaine"), None);
        assert_eq!(r.display(2), "CAPTODIAME");
        assert!(r.common_names(0).iter().any(|n| n == "Aleve"));
    }

    #[test]
    fn the_names_the_graph_gives_a_drug_are_its_names() {
        let drugs = vec![
            "TRINITRINE".to_string(),
            "TRINITRINE KNOWN AS NITROGLYCERIN IN THE US".to_string(),
        ];
        let names = vec!["TRINITRINE".to_string(), "NITROGLYCERIN".to_string()];
        let aliases = [0, 1].map(|drug| Aliases {
            drug,
            names: names.clone(),
        });
        let (r, _) = Recognizer::new(&drugs, &aliases, "TRINITRINE\tGTN|硝酸甘油\n");
        for name in [
            "nitroglycerin",
            "Trinitrine",
            "GTN",
            "硝酸甘油",
            "nitroglicerin",
        ] {
            assert_eq!(r.lookup(name), Some(vec![0, 1]), "{name}");
        }
        assert_eq!(r.display(1), "TRINITRINE");
    }

    #[test]
    fn synonyms_for_drugs_the_graph_lacks_are_reported() {
        let (_, unknown) = Recognizer::new(
            &drugs()[..2],
            &[],
            "SIMVASTATIN\tzocor\nWARFARIN\tcoumadin\n",
        );
        assert_eq!(unknown, ["SIMVASTATIN"]);
    }
}
