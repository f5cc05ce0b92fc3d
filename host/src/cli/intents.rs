//! `switchyard intents train` and `switchyard eval`: train an intent model
//! for the classifier plugin, and measure one on held-out data through the
//! real compiled plugin in the host.
//!
//! Data: CSV with a header and `text,label` columns (BANKING77's
//! `text,category` too), or CLINC150's JSON. A JSON path may name its parts
//! after `#` (`data_full.json#val+oos_val`); without, `--train` reads
//! `train+oos_train`, `--validation` `val+oos_val` and `--test`
//! `test+oos_test`.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use switchyard_sdk::intents::train::Example;

use crate::app::Switchyard;
use crate::model::Slot;
use crate::runtime::{BoundPlugin, Limits, Runtime, SlotOutput};
use crate::storage::Storage;
pub use crate::training::{
    TrainingArgs, classifier_config, load_examples, parse_csv, train_calibrated,
};

#[derive(Args)]
pub struct TrainArgs {
    /// Labelled examples (CSV `text,label`, or CLINC150 JSON).
    examples: String,
    /// More labelled examples trained on beside them (repeatable), for
    /// example another language's.
    #[arg(long = "also")]
    also: Vec<String>,
    /// How many times each `--also` example counts (1 to 100): a few
    /// dozen examples of a second language beside ten thousand of the first
    /// barely move the model otherwise.
    #[arg(long = "also-weight", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    also_weight: u32,
    /// Where to write the classifier config (`{"model": "<base64>"}`).
    #[arg(short = 'o', long = "output")]
    output: PathBuf,
    /// The languages the tenant serves (en, zh): training refuses examples
    /// with none in one of them. The example tenants serve both.
    #[arg(long, default_value = "en,zh", value_parser = super::languages::parse_languages)]
    languages: super::languages::Languages,
    #[command(flatten)]
    training: TrainingArgs,
}

#[derive(Args)]
pub struct EvalArgs {
    /// Training examples.
    #[arg(long)]
    train: String,
    /// Test examples: only ever scored, never used to choose anything.
    #[arg(long)]
    test: String,
    #[command(flatten)]
    training: TrainingArgs,
    /// Seed of the typo copy of the test set.
    #[arg(long, default_value_t = 2024)]
    typo_seed: u64,
}

/// Train and calibrate, say what came out, and give the classifier config.
fn train_and_report(examples: &[Example], args: &TrainingArgs) -> anyhow::Result<String> {
    let started = std::time::Instant::now();
    let trained = train_calibrated(examples, args)?;
    let config = classifier_config(&trained.model);
    println!(
        "trained on {} examples ({} intents, {} features, {} members of {} hidden units, config {} bytes) in {:.1} s",
        trained.examples,
        trained.model.labels().len(),
        trained.model.features(),
        trained.model.members(),
        trained.model.hidden(),
        config.len(),
        started.elapsed().as_secs_f64()
    );
    println!("{}", trained.calibration);
    Ok(config)
}

pub fn train_command(args: TrainArgs) -> anyhow::Result<()> {
    let mut examples = load_examples(&args.examples, &["train", "oos_train"])?;
    for more in &args.also {
        let more = load_examples(more, &["train", "oos_train"])?;
        for _ in 0..args.also_weight {
            examples.extend(more.iter().cloned());
        }
    }
    let coverage = super::languages::Coverage::of(&examples, &args.training.out_of_scope);
    println!("languages: {}", coverage.report().join("; "));
    coverage.check(&args.languages.0)?;
    let config = train_and_report(&examples, &args.training)?;
    std::fs::write(&args.output, &config)
        .with_context(|| format!("writing {}", args.output.display()))?;
    let classifier = super::plugin::embedded("classifier")?;
    println!(
        "wrote {}: roll it out as a new version of the classifier plugin with it as its config:",
        args.output.display()
    );
    println!(
        "  switchyard plugin push --sha256 {} --tenant TENANT --slot classify --config {}",
        crate::runtime::sha256_hex(classifier),
        args.output.display()
    );
    println!(
        "  switchyard plugin shadow VERSION --tenant TENANT --slot classify   (then canary / activate)"
    );
    Ok(())
}

/// Swap two neighbouring characters or drop one in 20% of the words of
/// `text` (words of two characters or more), seeded.
pub fn inject_typos(text: &str, rng: &mut StdRng) -> String {
    text.split(' ')
        .map(|word| {
            let mut chars: Vec<char> = word.chars().collect();
            if chars.len() >= 2 && rng.random_bool(0.2) {
                let at = rng.random_range(0..chars.len() - 1);
                if rng.random_bool(0.5) {
                    chars.swap(at, at + 1);
                } else {
                    chars.remove(at);
                }
            }
            chars.into_iter().collect::<String>()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One test query's answer from the plugin.
struct Answer {
    /// "unknown" when the plugin did not understand (the out-of-scope class,
    /// or under the model's threshold).
    intent: String,
    /// The best in-scope intent, understood or not.
    best_guess: String,
    micros: u64,
    fuel: u64,
}

/// The classifier component bound with `config`, run in the real host (a
/// scratch database, the default limits), as the smoke run calls a plugin.
struct PluginRunner {
    app: Switchyard,
    bound: BoundPlugin,
}

/// The scratch tenant `eval` runs the classifier in.
const EVAL_TENANT: &str = "eval";

impl PluginRunner {
    fn new(config: String) -> anyhow::Result<PluginRunner> {
        let app = Switchyard::new(Storage::temporary()?, Runtime::new()?, Limits::default());
        // Calls run in a tenant's context, as the smoke run's do.
        app.create_tenant(EVAL_TENANT, "eval", None)?;
        let classifier = crate::demo::FIRST_PARTY
            .iter()
            .find(|p| p.slot == Slot::Classify)
            .context("the classifier plugin is embedded")?;
        let meta = app.add_plugin(
            classifier.name,
            env!("CARGO_PKG_VERSION"),
            classifier.component,
        )?;
        let bound = app.bind_stored(&meta.sha256, &config, Limits::default())?;
        bound
            .check_init()
            .map_err(|e| anyhow::anyhow!("the classifier refused the model: {e}"))?;
        Ok(PluginRunner { app, bound })
    }

    fn classify(&self, text: &str) -> anyhow::Result<Answer> {
        let result = self.app.call_on_text(EVAL_TENANT, &self.bound, text)?;
        match result.output {
            Some(SlotOutput::Classify(c)) => Ok(Answer {
                best_guess: match c.intent.name.as_str() {
                    "unknown" => c.alternatives.first().map(|i| i.name.clone()),
                    _ => None,
                }
                .unwrap_or_else(|| c.intent.name.clone()),
                intent: c.intent.name,
                micros: result.micros,
                fuel: result.fuel,
            }),
            _ => bail!(
                "the classifier failed on {text:?}: {} {}",
                result.outcome.as_str(),
                result.detail.unwrap_or_default()
            ),
        }
    }
}

/// What `eval` measured on one test set.
pub struct Scores {
    pub queries: usize,
    /// The best in-scope intent is right, whether understood or not (the
    /// threshold and the out-of-scope class ignored), over in-scope queries.
    pub accuracy: f64,
    /// Macro-averaged F1 over the in-scope intents (out-of-scope answers count
    /// as wrong), at the threshold.
    pub macro_f1: f64,
    /// Right intent and understood by the plugin (at or over the model's
    /// threshold), over in-scope queries.
    pub in_scope_accuracy: f64,
    /// Out-of-scope queries the plugin answered "unknown".
    pub out_of_scope_recall: Option<f64>,
    pub median_micros: u64,
    pub p99_micros: u64,
    pub median_fuel: u64,
}

fn score(runner: &PluginRunner, test: &[Example], oos: &str) -> anyhow::Result<Scores> {
    use std::collections::HashMap;
    let mut micros = Vec::with_capacity(test.len());
    let mut fuel = Vec::with_capacity(test.len());
    let (mut in_scope, mut right, mut right_understood, mut oos_total, mut oos_caught) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    // label -> (true positives, predicted, actual)
    let mut f1: HashMap<String, (usize, usize, usize)> = HashMap::new();
    for e in test {
        let answer = runner.classify(&e.text)?;
        micros.push(answer.micros);
        fuel.push(answer.fuel);
        // The plugin applies the model's threshold itself.
        let understood = answer.intent != "unknown";
        let predicted = if understood {
            answer.intent.as_str()
        } else {
            oos
        };
        if e.label == oos {
            oos_total += 1;
            oos_caught += usize::from(!understood);
        } else {
            in_scope += 1;
            right += usize::from(answer.best_guess == e.label);
            right_understood += usize::from(understood && answer.intent == e.label);
            f1.entry(e.label.clone()).or_default().2 += 1;
        }
        if predicted != oos {
            f1.entry(predicted.to_string()).or_default().1 += 1;
            if predicted == e.label {
                f1.entry(predicted.to_string()).or_default().0 += 1;
            }
        }
    }
    micros.sort_unstable();
    fuel.sort_unstable();
    let at = |v: &[u64], q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    let labels: Vec<_> = f1.values().filter(|(_, _, actual)| *actual > 0).collect();
    let macro_f1 = labels
        .iter()
        .map(|(tp, predicted, actual)| {
            let p = *tp as f64 / (*predicted).max(1) as f64;
            let r = *tp as f64 / *actual as f64;
            if p + r > 0.0 {
                2.0 * p * r / (p + r)
            } else {
                0.0
            }
        })
        .sum::<f64>()
        / labels.len().max(1) as f64;
    Ok(Scores {
        queries: test.len(),
        accuracy: right as f64 / in_scope.max(1) as f64,
        macro_f1,
        in_scope_accuracy: right_understood as f64 / in_scope.max(1) as f64,
        out_of_scope_recall: (oos_total > 0).then(|| oos_caught as f64 / oos_total as f64),
        median_micros: at(&micros, 0.5),
        p99_micros: at(&micros, 0.99),
        median_fuel: at(&fuel, 0.5),
    })
}

fn print_scores(name: &str, s: &Scores) {
    print!(
        "{name:<10} {:>5} queries  accuracy {:.2}%  macro-F1 {:.2}%  in-scope accuracy at threshold {:.2}%",
        s.queries,
        s.accuracy * 100.0,
        s.macro_f1 * 100.0,
        s.in_scope_accuracy * 100.0
    );
    if let Some(recall) = s.out_of_scope_recall {
        print!("  out-of-scope recall {:.2}%", recall * 100.0);
    }
    println!(
        "  per query in the plugin: median {} µs, p99 {} µs, median fuel {}",
        s.median_micros, s.p99_micros, s.median_fuel
    );
}

pub fn eval_command(args: EvalArgs) -> anyhow::Result<()> {
    let examples = load_examples(&args.train, &["train", "oos_train"])?;
    let test = load_examples(&args.test, &["test", "oos_test"])?;
    let config = train_and_report(&examples, &args.training)?;
    let runner = PluginRunner::new(config)?;
    // One warm-up call: the first instantiates the plugin and loads the model.
    runner.classify("hello")?;
    let oos = &args.training.out_of_scope;
    print_scores("test", &score(&runner, &test, oos)?);
    let mut rng = StdRng::seed_from_u64(args.typo_seed);
    let typos: Vec<Example> = test
        .iter()
        .map(|e| Example {
            text: inject_typos(&e.text, &mut rng),
            label: e.label.clone(),
        })
        .collect();
    print_scores("typos", &score(&runner, &typos, oos)?);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_seeded_and_touch_about_a_fifth_of_words() {
        let text = "please tell me where my parcel is and when it will arrive at my door today";
        let a = inject_typos(text, &mut StdRng::seed_from_u64(1));
        let b = inject_typos(text, &mut StdRng::seed_from_u64(1));
        assert_eq!(a, b);
        let changed = a
            .split(' ')
            .zip(text.split(' '))
            .filter(|(x, y)| x != y)
            .count();
        assert!((1..=8).contains(&changed), "{changed} of 16 words: {a}");
    }
}
