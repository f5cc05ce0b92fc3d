//! Training intent models for the classifier plugin: labelled examples
//! from CSV or CLINC150's JSON, and training with calibration (the
//! temperature and the out-of-scope threshold chosen on data the
//! calibration model did not learn from). The `intents` commands and the
//! demo tenant's seeding both train through here.

use std::borrow::Cow;

use anyhow::{Context, bail};
use clap::Args;
use switchyard_sdk::intents::train::{self, Example, Options};
use switchyard_sdk::intents::{IntentModel, Scratch, Threshold as ModelThreshold};

#[derive(Args)]
pub struct TrainingArgs {
    /// Validation examples, for the temperature and the threshold; without
    /// them every tenth training example is held out for that. Either way,
    /// once those are chosen the final model is trained on all the examples
    /// (training and validation) with the same options.
    #[arg(long)]
    pub validation: Option<String>,
    /// The label that means "none of the intents" (used when present).
    #[arg(long, default_value = "oos")]
    pub out_of_scope: String,
    /// Networks trained apart and averaged (1 to 64).
    #[arg(long, default_value_t = Options::default().members, value_parser = member_count)]
    pub members: usize,
    /// Hidden units of each member.
    #[arg(long, default_value_t = Options::default().hidden)]
    pub hidden: usize,
    /// Passes over the examples.
    #[arg(long, default_value_t = Options::default().epochs)]
    pub epochs: usize,
    /// Training seed.
    #[arg(long, default_value_t = Options::default().seed)]
    pub seed: u64,
    /// Choose the threshold that keeps the most in-scope answers right while
    /// catching at least this share (0-1) of out-of-scope queries, instead of
    /// the one that maximises in-scope accuracy plus out-of-scope recall.
    /// "At least" with 95% confidence: the lower bound of the Wilson
    /// interval of the recall on validation must reach it (100 out-of-scope
    /// queries measure a recall to within about 8 points).
    #[arg(long, value_parser = share)]
    pub min_oos_recall: Option<f64>,
}

fn member_count(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=train::MAX_MEMBERS).contains(&n) => Ok(n),
        _ => Err(format!(
            "{text:?} is not a number of members from 1 to {}",
            train::MAX_MEMBERS
        )),
    }
}

fn share(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if (0.0..=1.0).contains(&x) => Ok(x),
        _ => Err(format!("{text:?} is not a share between 0 and 1")),
    }
}

impl Default for TrainingArgs {
    /// What the command line gives when no option is set.
    fn default() -> Self {
        TrainingArgs {
            validation: None,
            out_of_scope: "oos".into(),
            members: Options::default().members,
            hidden: Options::default().hidden,
            epochs: Options::default().epochs,
            seed: Options::default().seed,
            min_oos_recall: None,
        }
    }
}

/// Read examples from CSV or CLINC150 JSON (see the module docs).
pub fn load_examples(spec: &str, default_parts: &[&str]) -> anyhow::Result<Vec<Example>> {
    let (path, parts) = match spec.split_once('#') {
        Some((path, parts)) => (path, parts.split('+').collect::<Vec<_>>()),
        None => (spec, default_parts.to_vec()),
    };
    let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    let examples = if path.ends_with(".json") {
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).with_context(|| format!("{path}: not JSON"))?;
        let mut out = Vec::new();
        for part in parts {
            let Some(rows) = value.get(part) else {
                if default_parts.contains(&part) && part.starts_with("oos") {
                    continue; // a dataset without out-of-scope parts
                }
                bail!("{path} has no part {part:?}");
            };
            let rows: Vec<(String, String)> = serde_json::from_value(rows.clone())
                .with_context(|| format!("{path}#{part}: expected [[text, label], ...]"))?;
            out.extend(
                rows.into_iter()
                    .map(|(text, label)| Example { text, label }),
            );
        }
        out
    } else {
        parse_csv(&bytes, path)?
    };
    if examples.is_empty() {
        bail!("{spec}: no examples");
    }
    Ok(examples)
}

/// Examples from CSV with a header and `text` and `label` (or `category`,
/// `intent`) columns; `path` names the file in errors.
pub fn parse_csv(bytes: &[u8], path: &str) -> anyhow::Result<Vec<Example>> {
    let mut reader = csv::Reader::from_reader(bytes);
    let header = reader
        .headers()
        .with_context(|| format!("{path}: header"))?;
    let column = |names: &[&str]| header.iter().position(|h| names.contains(&h.trim()));
    let text = column(&["text"]).with_context(|| format!("{path}: no \"text\" column"))?;
    let label = column(&["label", "category", "intent"])
        .with_context(|| format!("{path}: no \"label\" (or \"category\") column"))?;
    let mut out = Vec::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("{path}: record {}", line + 1))?;
        match (record.get(text), record.get(label)) {
            (Some(t), Some(l)) if !t.trim().is_empty() && !l.trim().is_empty() => {
                out.push(Example {
                    text: t.to_string(),
                    label: l.trim().to_string(),
                })
            }
            _ => bail!("{path}: record {} has no text or no label", line + 1),
        }
    }
    Ok(out)
}

/// A model trained, calibrated and given its threshold, with what was learnt
/// on the way.
pub struct Trained {
    pub model: IntentModel,
    /// How the threshold was chosen, for the report.
    pub calibration: String,
    /// Examples the final model was trained on.
    pub examples: usize,
}

fn options(args: &TrainingArgs, examples: &[Example]) -> Options {
    Options {
        members: args.members,
        hidden: args.hidden,
        epochs: args.epochs,
        seed: args.seed,
        out_of_scope: examples
            .iter()
            .any(|e| e.label == args.out_of_scope)
            .then(|| args.out_of_scope.clone()),
        ..Options::default()
    }
}

pub fn train_calibrated(examples: &[Example], args: &TrainingArgs) -> anyhow::Result<Trained> {
    let validation = match &args.validation {
        Some(spec) => Some(load_examples(spec, &["val", "oos_val"])?),
        None => None,
    };
    train_calibrated_on(examples, validation, args)
}

/// [`train_calibrated`] with the validation examples at hand (none: every
/// tenth training example is held out for the calibration).
pub fn train_calibrated_on(
    examples: &[Example],
    validation: Option<Vec<Example>>,
    args: &TrainingArgs,
) -> anyhow::Result<Trained> {
    let options = options(args, examples);
    let held_out = validation.is_none();
    // The calibration model learns from `fitting` and is calibrated on
    // `validation`; the final model learns from `all`.
    let (fitting, validation, all): (Cow<[Example]>, Vec<Example>, Cow<[Example]>) =
        match validation {
            Some(validation) => {
                let all = examples.iter().chain(&validation).cloned().collect();
                (examples.into(), validation, Cow::Owned(all))
            }
            None => {
                let (kept, held): (Vec<_>, Vec<_>) = examples
                    .iter()
                    .cloned()
                    .enumerate()
                    .partition(|(i, _)| i % 10 != 9);
                (
                    kept.into_iter().map(|(_, e)| e).collect(),
                    held.into_iter().map(|(_, e)| e).collect(),
                    examples.into(),
                )
            }
        };
    let mut model = train::train(&fitting, &options).map_err(anyhow::Error::msg)?;
    let temperature = train::fit_temperature(&mut model, &validation);
    let threshold = choose_threshold(&model, &validation, &args.out_of_scope, args.min_oos_recall);
    let mut calibration = format!(
        "temperature {temperature:.3} and {} fitted on {} validation examples{}",
        describe(threshold.threshold),
        validation.len(),
        if held_out {
            " (every tenth training example)"
        } else {
            ""
        }
    );
    if threshold.out_of_scope > 0 {
        calibration += &format!(
            "; on validation: in-scope accuracy {:.2}%, out-of-scope recall {:.2}%",
            threshold.in_scope_accuracy * 100.0,
            threshold.out_of_scope_recall * 100.0
        );
    }
    // The final model learns from the validation examples too, with the
    // same options; its temperature and threshold are the calibration
    // model's, fitted on examples that model had not seen.
    let mut model = train::train(&all, &options).map_err(anyhow::Error::msg)?;
    model.temperature = temperature;
    model.threshold = threshold.threshold;
    if !held_out {
        calibration += "; the final model is trained on training and validation examples together";
    }
    Ok(Trained {
        model,
        calibration,
        examples: all.len(),
    })
}

/// A threshold in words.
fn describe(threshold: ModelThreshold) -> String {
    match threshold {
        ModelThreshold::None => "no threshold".into(),
        ModelThreshold::Confidence(t) => format!("confidence threshold {t:.3}"),
        ModelThreshold::Evidence(t) => format!("evidence threshold {t:.3}"),
    }
}

struct Threshold {
    threshold: ModelThreshold,
    in_scope_accuracy: f64,
    out_of_scope_recall: f64,
    out_of_scope: usize,
}

/// One validation answer: in scope, right, its evidence, the model's
/// out-of-scope class on top.
type ScoredAnswer = (bool, bool, f32, bool);

/// The evidence threshold that maximises in-scope accuracy plus out-of-scope
/// recall on `validation`, or with `min_recall` the one with the best
/// in-scope accuracy among those that catch at least that share of the
/// out-of-scope queries with 95% confidence (when none does, the one that
/// catches most). None when `validation` has no out-of-scope examples:
/// every answer stands.
fn choose_threshold(
    model: &IntentModel,
    validation: &[Example],
    oos: &str,
    min_recall: Option<f64>,
) -> Threshold {
    let mut scratch = Scratch::default();
    let scored: Vec<ScoredAnswer> = validation
        .iter()
        .map(|e| {
            let prediction = model.predict(&e.text, 1, &mut scratch);
            let best = &prediction.ranked[0];
            let in_scope = e.label != oos;
            let correct = model.label(best.label) == e.label;
            let says_oos = Some(best.label) == model.out_of_scope;
            (in_scope, correct, prediction.evidence, says_oos)
        })
        .collect();
    pick_threshold(&scored, min_recall)
}

/// The lower end of the 95% Wilson interval of `hits` out of `n`.
fn wilson_lower_bound(hits: usize, n: usize) -> f64 {
    if n == 0 {
        return 0.0;
    }
    const Z: f64 = 1.96;
    let (n, p) = (n as f64, hits as f64 / n as f64);
    let centre = p + Z * Z / (2.0 * n);
    let margin = Z * (p * (1.0 - p) / n + Z * Z / (4.0 * n * n)).sqrt();
    (centre - margin) / (1.0 + Z * Z / n)
}

/// [`choose_threshold`] on validation answers already scored. Candidates
/// lie halfway between neighbouring evidence values, so the threshold does
/// not sit on one validation query.
fn pick_threshold(scored: &[ScoredAnswer], min_recall: Option<f64>) -> Threshold {
    let out_of_scope = scored.iter().filter(|s| !s.0).count();
    let in_scope = scored.len() - out_of_scope;
    if out_of_scope == 0 || in_scope == 0 {
        let right = scored.iter().filter(|s| s.0 && s.1 && !s.3).count();
        return Threshold {
            threshold: ModelThreshold::None,
            in_scope_accuracy: right as f64 / in_scope.max(1) as f64,
            out_of_scope_recall: 0.0,
            out_of_scope,
        };
    }
    let mut by_evidence: Vec<&ScoredAnswer> = scored.iter().collect();
    by_evidence.sort_by(|a, b| a.2.total_cmp(&b.2));
    // Sweep upwards: at candidate i, answers i.. are over the threshold.
    // Start with everything over it.
    let mut right = scored.iter().filter(|s| s.0 && s.1 && !s.3).count();
    let mut caught = scored.iter().filter(|s| !s.0 && s.3).count();
    let mut best: Option<(f64, f32, usize, usize)> = None;
    for i in 0..=by_evidence.len() {
        let candidate = match i {
            0 => f32::NEG_INFINITY,
            i if i == by_evidence.len() => by_evidence[i - 1].2 + 1.0,
            i => (by_evidence[i - 1].2 + by_evidence[i].2) / 2.0,
        };
        if i > 0 {
            let under = by_evidence[i - 1];
            match under {
                (true, true, _, false) => right -= 1,
                (false, _, _, false) => caught += 1,
                _ => {}
            }
            // Only a change of evidence moves the threshold.
            if i < by_evidence.len() && by_evidence[i].2 == under.2 {
                continue;
            }
        }
        let accuracy = right as f64 / in_scope as f64;
        let recall = caught as f64 / out_of_scope as f64;
        let merit = match min_recall {
            None => accuracy + recall,
            Some(min) if wilson_lower_bound(caught, out_of_scope) >= min => accuracy,
            // Under the floor: worse than any threshold that reaches it,
            // and among these the higher recall wins.
            Some(_) => recall - 2.0,
        };
        if best.is_none_or(|b| merit > b.0) {
            best = Some((merit, candidate, right, caught));
        }
    }
    let (_, threshold, right, caught) = best.expect("at least one candidate");
    Threshold {
        threshold: if threshold == f32::NEG_INFINITY {
            ModelThreshold::None
        } else {
            ModelThreshold::Evidence(threshold)
        },
        in_scope_accuracy: right as f64 / in_scope as f64,
        out_of_scope_recall: caught as f64 / out_of_scope as f64,
        out_of_scope,
    }
}

/// The classifier config that carries `model`.
pub fn classifier_config(model: &IntentModel) -> String {
    serde_json::json!({
        "model": model.to_base64()
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn examples(rows: &[(&str, &str)]) -> Vec<Example> {
        rows.iter()
            .map(|(text, label)| Example {
                text: text.to_string(),
                label: label.to_string(),
            })
            .collect()
    }

    #[test]
    fn a_floor_on_a_trained_model_never_lowers_the_threshold() {
        let train = examples(&[
            ("where is my parcel", "track"),
            ("track my order please", "track"),
            ("has my package shipped", "track"),
            ("when will my delivery arrive", "track"),
            ("I want my money back", "refund"),
            ("refund this order", "refund"),
            ("please return my payment", "refund"),
            ("can I get a refund", "refund"),
            ("tell me a joke", "oos"),
            ("what is the weather", "oos"),
        ]);
        let validation = examples(&[
            ("where is my order", "track"),
            ("has the parcel shipped yet", "track"),
            ("give me a refund", "refund"),
            ("I want to return it for money", "refund"),
            ("sing me a song", "oos"),
            ("who won the game", "oos"),
            ("what time is it in paris", "oos"),
            ("recommend a movie", "oos"),
        ]);
        let options = Options {
            out_of_scope: Some("oos".into()),
            ..Options::default()
        };
        let model = train::train(&train, &options).unwrap();
        let level = |t: &Threshold| match t.threshold {
            ModelThreshold::None => f32::NEG_INFINITY,
            ModelThreshold::Evidence(t) => t,
            ModelThreshold::Confidence(_) => panic!("a confidence threshold"),
        };
        let free = choose_threshold(&model, &validation, "oos", None);
        let all = choose_threshold(&model, &validation, "oos", Some(0.5));
        assert!(level(&all) >= level(&free));
        assert!(all.out_of_scope_recall >= free.out_of_scope_recall);
        assert_eq!(all.out_of_scope, 4);
    }

    #[test]
    fn the_threshold_floor_trades_in_scope_answers_for_out_of_scope_recall() {
        // Four right in-scope answers and four out-of-scope queries the
        // model answered in scope, with this evidence.
        let scored: Vec<ScoredAnswer> = [0.9, 0.8, 0.6, 0.5]
            .map(|c| (true, true, c, false))
            .into_iter()
            .chain([0.3, 0.45, 0.55, 0.7].map(|c| (false, false, c, false)))
            .collect();
        let at = |min| {
            let t = pick_threshold(&scored, min);
            let ModelThreshold::Evidence(level) = t.threshold else {
                panic!("{:?}", t.threshold)
            };
            (
                (level * 1000.0).round() as u32,
                t.in_scope_accuracy,
                t.out_of_scope_recall,
            )
        };
        // The best sum (1.5) first comes halfway between 0.45 and 0.5: all
        // four right, half caught.
        assert_eq!(at(None), (475, 1.0, 0.5));
        // Four queries prove little: three caught of four is a recall of at
        // least 0.30 with 95% confidence, and costs the 0.5 answer...
        assert_eq!(at(Some(0.3)), (575, 0.75, 0.75));
        // ...all four, at least 0.51.
        assert_eq!(at(Some(0.5)), (750, 0.5, 1.0));
        // A floor already met changes nothing...
        assert_eq!(at(Some(0.1)), (475, 1.0, 0.5));
        // ...and one no threshold meets gives the best recall there is.
        assert_eq!(at(Some(0.6)), (750, 0.5, 1.0));
        // Answers with the same evidence are never split.
        let tied: Vec<ScoredAnswer> = vec![
            (true, true, 0.5, false),
            (false, false, 0.5, false),
            (false, false, 0.2, false),
        ];
        let t = pick_threshold(&tied, None);
        assert_eq!(t.threshold, ModelThreshold::Evidence(0.35));
        // No out-of-scope queries: no threshold.
        let in_scope_only = &scored[..4];
        assert_eq!(
            pick_threshold(in_scope_only, None).threshold,
            ModelThreshold::None
        );
    }

    #[test]
    fn the_recall_floor_is_a_lower_confidence_bound() {
        // On CLINC150's 100 out-of-scope validation queries, a floor of 0.75
        // needs 84 caught: 83 could come from a true recall under 0.75.
        assert!(wilson_lower_bound(84, 100) >= 0.75);
        assert!(wilson_lower_bound(83, 100) < 0.75);
        assert_eq!(wilson_lower_bound(0, 0), 0.0);
        assert!(wilson_lower_bound(1000, 1000) > 0.99);
    }
}
