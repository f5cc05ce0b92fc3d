//! When the bot may answer from a knowledge article instead of an intent:
//! the `"article_answers"` settings the first-party router (whether the bot
//! answers) and assistant (with which article) share, so the two decide
//! alike.
//!
//! `{"min_score": 0.3, "min_coverage": 0.75, "out_of_scope_intent":
//! "out_of_scope", "max_out_of_scope": 0.9}`: the best published article
//! must score at least `min_score`, cover at least `min_coverage` of the
//! message's informative words (`knowledge.coverage`: a keyword search also
//! finds the nearest article for questions it does not answer), and the
//! classifier must not be sure the message is about something else (its
//! out-of-scope intent at `max_out_of_scope` or more). BENCHMARKS.md
//! ("Knowledge answers") says how the demo's values were chosen.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArticleAnswers {
    pub min_score: f32,
    #[serde(default = "default_min_coverage")]
    pub min_coverage: f32,
    #[serde(default)]
    pub out_of_scope_intent: Option<String>,
    #[serde(default = "default_max_out_of_scope")]
    pub max_out_of_scope: f32,
}

fn default_min_coverage() -> f32 {
    0.75
}

fn default_max_out_of_scope() -> f32 {
    0.9
}

impl ArticleAnswers {
    /// Every threshold within [0, 1]; `plugin` names the config in the error.
    pub fn check(&self, plugin: &str) -> Result<(), String> {
        let values = [self.min_score, self.min_coverage, self.max_out_of_scope];
        if values.iter().all(|v| (0.0..=1.0).contains(v)) {
            Ok(())
        } else {
            Err(format!(
                "{plugin} config: article_answers.min_score ({}), min_coverage ({}) and max_out_of_scope ({}) run from 0 to 1",
                self.min_score, self.min_coverage, self.max_out_of_scope
            ))
        }
    }

    /// Whether `intent` (name, confidence) is the out-of-scope intent.
    pub fn is_out_of_scope(&self, intent: &str) -> bool {
        self.out_of_scope_intent.as_deref() == Some(intent)
    }

    /// Whether the classifier is sure the message is about something else:
    /// then no article answers it, whatever its words share with one.
    pub fn surely_off_topic(&self, intent: &str, confidence: f32) -> bool {
        self.is_out_of_scope(intent) && confidence >= self.max_out_of_scope
    }

    /// Whether an article with this search score and coverage may answer.
    pub fn answers(&self, score: f32, coverage: f32) -> bool {
        score >= self.min_score && coverage >= self.min_coverage
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_bounds_and_gates() {
        let a: ArticleAnswers =
            serde_json::from_str(r#"{"min_score": 0.3, "out_of_scope_intent": "out_of_scope"}"#)
                .unwrap();
        assert_eq!((a.min_coverage, a.max_out_of_scope), (0.75, 0.9));
        assert!(a.check("router").is_ok());
        assert!(a.surely_off_topic("out_of_scope", 0.9));
        assert!(!a.surely_off_topic("out_of_scope", 0.89));
        assert!(!a.surely_off_topic("refund", 1.0));
        assert!(a.answers(0.3, 0.75) && !a.answers(0.29, 1.0) && !a.answers(1.0, 0.74));
        let bad: ArticleAnswers = serde_json::from_str(r#"{"min_score": 1.5}"#).unwrap();
        assert!(
            bad.check("assistant")
                .unwrap_err()
                .contains("assistant config")
        );
        assert!(
            serde_json::from_str::<ArticleAnswers>(r#"{"min_score": 0.3, "typo": 1}"#).is_err()
        );
    }
}
