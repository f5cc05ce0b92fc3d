//! Which languages a set of training examples covers, against the languages
//! a tenant serves. A model trained on English alone sends a Chinese message
//! to whatever intent its characters happen to resemble, silently (issue 15,
//! item 8: BANKING77 swapped in dropped `我的卡被偷了，赶紧冻结` from the
//! card-emergency queue), so training for a tenant refuses data missing one
//! of its languages unless the operator names the languages it is for.
//!
//! Languages are told apart by script: Han characters are `zh`, Latin
//! letters `en` (the two the example tenants and playbooks serve); a text
//! with both counts as `zh`, the rarer script in customers' mixed messages.

use std::collections::{BTreeMap, BTreeSet};

use switchyard_sdk::intents::train::Example;
use switchyard_sdk::text::is_cjk;

/// The languages this check can tell apart.
pub const KNOWN: [&str; 2] = ["en", "zh"];

/// The language of one text, by script; `None` for digits and punctuation.
pub fn language_of(text: &str) -> Option<&'static str> {
    if text.chars().any(is_cjk) {
        Some("zh")
    } else if text.chars().any(|c| c.is_alphabetic()) {
        Some("en")
    } else {
        None
    }
}

/// Examples and intents per language.
#[derive(Debug, Default)]
pub struct Coverage {
    pub languages: BTreeMap<&'static str, LanguageCoverage>,
    /// Intents of the examples (out-of-scope left out).
    pub intents: BTreeSet<String>,
}

#[derive(Debug, Default)]
pub struct LanguageCoverage {
    pub examples: usize,
    pub intents: BTreeSet<String>,
}

impl Coverage {
    pub fn of(examples: &[Example], out_of_scope: &str) -> Coverage {
        let mut coverage = Coverage::default();
        for e in examples {
            let Some(lang) = language_of(&e.text) else {
                continue;
            };
            let entry = coverage.languages.entry(lang).or_default();
            entry.examples += 1;
            if e.label != out_of_scope {
                entry.intents.insert(e.label.clone());
                coverage.intents.insert(e.label.clone());
            }
        }
        coverage
    }

    /// One line per language: "en 10,003 examples, 77 of 77 intents".
    pub fn report(&self) -> Vec<String> {
        self.languages
            .iter()
            .map(|(lang, c)| {
                format!(
                    "{lang}: {} examples, {} of {} intents",
                    c.examples,
                    c.intents.len(),
                    self.intents.len()
                )
            })
            .collect()
    }

    /// Refuse when a language the tenant serves has no example: the model
    /// would answer it by chance.
    pub fn check(&self, served: &[String]) -> anyhow::Result<()> {
        let missing: Vec<&str> = served
            .iter()
            .map(String::as_str)
            .filter(|l| !self.languages.contains_key(l))
            .collect();
        if missing.is_empty() {
            return Ok(());
        }
        let have: Vec<&str> = self.languages.keys().copied().collect();
        anyhow::bail!(
            "the tenant serves {} but the examples have none in {} (they have: {}); add examples in {} \
             (for the banking pack, `--also examples/banking/demo-train.csv` keeps the bilingual demo \
             examples beside BANKING77), or pass `--languages {}` to train for those alone",
            served.join(", "),
            missing.join(", "),
            if have.is_empty() {
                "none".to_string()
            } else {
                self.report().join("; ")
            },
            missing.join(", "),
            have.join(",")
        )
    }
}

/// The value of `--languages en,zh` (one argument; clap would take a bare
/// `Vec` for a repeated flag).
#[derive(Clone, Debug)]
pub struct Languages(pub Vec<String>);

/// Parse `--languages en,zh`.
pub fn parse_languages(list: &str) -> Result<Languages, String> {
    let mut out = Vec::new();
    for lang in list.split(',').map(str::trim).filter(|l| !l.is_empty()) {
        if !KNOWN.contains(&lang) {
            return Err(format!(
                "unknown language {lang:?}; this check tells apart: {}",
                KNOWN.join(", ")
            ));
        }
        if !out.iter().any(|l: &String| l == lang) {
            out.push(lang.to_string());
        }
    }
    if out.is_empty() {
        return Err("name at least one language (en, zh)".into());
    }
    Ok(Languages(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn example(text: &str, label: &str) -> Example {
        Example {
            text: text.into(),
            label: label.into(),
        }
    }

    #[test]
    fn languages_are_told_apart_by_script() {
        assert_eq!(language_of("my card was stolen"), Some("en"));
        assert_eq!(language_of("我的卡被偷了，赶紧冻结"), Some("zh"));
        assert_eq!(language_of("card 被偷了"), Some("zh"));
        assert_eq!(language_of("12345 !!"), None);
    }

    #[test]
    fn english_only_examples_are_refused_for_a_bilingual_tenant() {
        let examples = [
            example("my card was stolen", "lost"),
            example("how do I top up", "top_up"),
            example("tell me a joke", "oos"),
        ];
        let coverage = Coverage::of(&examples, "oos");
        assert_eq!(coverage.report(), ["en: 3 examples, 2 of 2 intents"]);
        let err = coverage
            .check(&["en".into(), "zh".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("none in zh") && err.contains("--languages en"),
            "{err}"
        );
        coverage.check(&["en".into()]).unwrap();
        let mut with_zh = examples.to_vec();
        with_zh.push(example("我的卡被偷了", "lost"));
        let coverage = Coverage::of(&with_zh, "oos");
        coverage.check(&["en".into(), "zh".into()]).unwrap();
        assert_eq!(coverage.report()[1], "zh: 1 examples, 1 of 2 intents");
    }

    #[test]
    fn the_languages_flag_names_known_languages() {
        assert_eq!(parse_languages("en, zh,en").unwrap().0, ["en", "zh"]);
        assert!(parse_languages("fr").unwrap_err().contains("fr"));
        assert!(parse_languages(",").is_err());
    }
}
