//! Finding drug names in a customer's message: the graph's generic names and
//! the pack's own synonym table (brand names, common English names, Chinese
//! names), case- and width-insensitive, with one typo tolerated in a Latin
//! name of 5+ letters (two in one of 9+), and no word segmenter for Chinese.

use std::collections::HashMap;

use switchyard_sdk::text::{edit_distance_chars, is_cjk, normalize_with_offsets};

/// The pack's synonym table: `GENERIC<TAB>synonym|synonym|...`, written by the
/// project. Generic names are the graph's (ANSM) spelling.
pub const SYNONYMS: &str = include_str!("../synonyms.tsv");

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
const MAX_NAME_WORDS: usize = 6;

pub struct Recognizer {
    /// Latin key (words joined by one space) -> drugs.
    latin: HashMap<String, Vec<u32>>,
    /// Single-word Latin keys of 5+ letters, for typo matching.
    fuzzy: Vec<(Vec<char>, Vec<u32>)>,
    /// CJK names, longest first.
    cjk: Vec<(String, Vec<u32>)>,
    /// Most words in a Latin key.
    max_words: usize,
}

impl Recognizer {
    /// Every drug by its own name, plus the synonyms of drugs the graph has.
    /// Returns the recognizer and the synonym rows naming no known drug.
    pub fn new(drugs: &[String], synonyms: &str) -> (Recognizer, Vec<String>) {
        let mut by_key: HashMap<String, Vec<u32>> = HashMap::new();
        for (id, name) in drugs.iter().enumerate() {
            let k = key(name);
            if !k.is_empty() {
                by_key.entry(k).or_default().push(id as u32);
            }
        }
        let mut names: HashMap<String, Vec<u32>> = by_key.clone();
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
                    }
                }
            }
        }
        let mut recognizer = Recognizer {
            latin: HashMap::new(),
            fuzzy: Vec::new(),
            cjk: Vec::new(),
            max_words: 1,
        };
        for (k, ids) in names {
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
        (recognizer, unknown)
    }

    /// The drug a name given on its own stands for (exact or one typo).
    pub fn lookup(&self, name: &str) -> Option<Vec<u32>> {
        let k = key(name);
        if k.chars().any(is_cjk) {
            let k = k.replace(' ', "");
            return self
                .cjk
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, ids)| ids.clone());
        }
        if let Some(ids) = self.latin.get(&k) {
            return Some(ids.clone());
        }
        self.fuzzy_word(&k.chars().collect::<Vec<_>>())
    }

    fn fuzzy_word(&self, word: &[char]) -> Option<Vec<u32>> {
        if word.len() < 5 || !word.iter().all(|c| c.is_ascii_alphabetic()) {
            return None;
        }
        let max = if word.len() >= 9 { 2 } else { 1 };
        // Same first letter: a typo there is rare, and without it ordinary
        // words start matching drug names.
        self.fuzzy
            .iter()
            .filter(|(name, _)| name[0] == word[0] && name.len().abs_diff(word.len()) <= max)
            .map(|(name, ids)| (edit_distance_chars(name, word, max), ids))
            .filter(|(d, _)| *d <= max)
            .min_by_key(|(d, _)| *d)
            .map(|(_, ids)| ids.clone())
    }

    /// Drug names in `text`, in text order, not overlapping (longest first).
    pub fn find(&self, text: &str) -> Vec<Mention> {
        let (folded, offsets) = normalize_with_offsets(text);
        let original = |start: usize, end: usize| (offsets[start], offsets[end]);
        let mut found: Vec<Mention> = Vec::new();
        let mut taken = vec![false; folded.len()];
        for (name, ids) in &self.cjk {
            for (at, _) in folded.match_indices(name.as_str()) {
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
        let (r, _) = Recognizer::new(&drugs(), SYNONYMS);
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
    fn synonyms_for_drugs_the_graph_lacks_are_reported() {
        let (_, unknown) =
            Recognizer::new(&drugs()[..2], "SIMVASTATIN\tzocor\nWARFARIN\tcoumadin\n");
        assert_eq!(unknown, ["SIMVASTATIN"]);
    }
}
