//! Classify-slot plugin: intent with a calibrated confidence, plus entities
//! (order numbers, phone numbers, e-mail addresses, amounts).
//!
//! One component serves every tenant with its own intents. Three configs (JSON):
//!
//! - A trained model: `{"model": "<base64>"}`, as written by
//!   `switchyard intents train EXAMPLES.csv -o MODEL` (see
//!   `switchyard_sdk::intents`). For thousands of examples; confidences are
//!   calibrated on validation data, and a message the model places in its
//!   out-of-scope class gets the intent "unknown" with confidence 0.
//! - An industry pack that carries the model: `{"pack": "banking"}`; the pack
//!   is asked `{"text": ...}` and answers the intent (see the banking pack).
//! - A small intent set scored at `init` (below):
//!   `{"intents": [{"name", "keywords": [...], "examples": [...]}],
//!   "none_score": 0.3, "temperature": 0.08}`.
//!
//! How it scores: every text becomes TF-IDF features (each CJK ideograph and
//! ideograph pair, each Latin word and its character trigrams, so Chinese needs
//! no segmenter and typos keep most trigrams). An intent's similarity is a
//! blend of the best matching example and the intent's centroid; a keyword of
//! the intent found in the message lifts it. A softmax over the intents plus a
//! "none of them" score turns similarities into confidences, so a message that
//! resembles nothing gets a low confidence instead of the least bad intent.

mod follow_up;

use std::cell::RefCell;
use std::collections::HashMap;

pub use follow_up::FollowUp;

use serde::Deserialize;
use switchyard_sdk::intents::{IntentModel as TrainedModel, Scratch};
use switchyard_sdk::personal::{self, PersonalKind};
use switchyard_sdk::playbook;
use switchyard_sdk::prelude::*;

#[derive(Deserialize)]
struct Config {
    intents: Vec<IntentSpec>,
    /// Similarity the "none of the intents" class gets; higher = more cautious.
    #[serde(default = "default_none_score")]
    none_score: f32,
    /// Softmax temperature; lower = more decisive confidences.
    #[serde(default = "default_temperature")]
    temperature: f32,
    #[serde(default)]
    follow_up: FollowUp,
}

fn default_none_score() -> f32 {
    0.3
}
fn default_temperature() -> f32 {
    0.08
}

#[derive(Deserialize)]
struct IntentSpec {
    name: String,
    #[serde(default)]
    keywords: Vec<String>,
    #[serde(default)]
    examples: Vec<String>,
}

/// Sparse L2-normalised vector, sorted by feature id.
type Vector = Vec<(u32, f32)>;

struct IntentModel {
    name: String,
    keywords: Vec<text::Needle>,
    /// This intent's examples in `Model::example_postings` numbering.
    examples: std::ops::Range<usize>,
}

struct Model {
    vocabulary: HashMap<String, u32>,
    idf: Vec<f32>,
    intents: Vec<IntentModel>,
    /// Inverted index: feature id -> (example, weight). A query touches only the
    /// examples that share a feature with it.
    example_postings: Vec<Vec<(u32, f32)>>,
    example_count: usize,
    /// Feature id -> (intent, centroid weight).
    centroid_postings: Vec<Vec<(u32, f32)>>,
    none_score: f32,
    temperature: f32,
}

/// Weight of a keyword hit added to an intent's similarity.
const KEYWORD_LIFT: f32 = 0.45;

/// What `init` loaded: one of the three configs.
enum Loaded {
    /// The model, its buffers, and the intent its out-of-scope class answers.
    Trained(TrainedModel, Box<Scratch>, Option<String>),
    Pack(String),
    Examples(Model),
}

thread_local! {
    static LOADED: RefCell<Option<Loaded>> = const { RefCell::new(None) };
    /// How follow-ups are read (`follow_up.rs`), from the same config.
    static FOLLOW_UP: RefCell<FollowUp> = RefCell::new(FollowUp::default());
}

/// `{"model": "<base64>"}`: a model from `switchyard intents train`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainedConfig {
    model: String,
    #[serde(default)]
    follow_up: FollowUp,
    /// The intent a message gets when the model's out-of-scope class is its
    /// best label, with that class's confidence (so the escalator, router
    /// and assistant can treat "surely about something else" apart from "not
    /// sure what it is"); without it such a message is "unknown" at 0.
    #[serde(default)]
    out_of_scope_intent: Option<String>,
}

fn load_trained(config: &str) -> Option<Result<(Loaded, FollowUp), String>> {
    let trained: TrainedConfig = serde_json::from_str(config).ok()?;
    if trained
        .out_of_scope_intent
        .as_ref()
        .is_some_and(|name| name.trim().is_empty() || name == "unknown")
    {
        return Some(Err(
            "classifier config: out_of_scope_intent must name an intent other than \"unknown\""
                .into(),
        ));
    }
    Some(
        TrainedModel::from_base64(&trained.model)
            .map(|model| {
                (
                    Loaded::Trained(model, Box::default(), trained.out_of_scope_intent),
                    trained.follow_up,
                )
            })
            .map_err(|e| format!("classifier config: {e}")),
    )
}

/// `{"pack": "banking"}`: an industry pack that carries its own model names
/// the intent (see `switchyard-pack-banking`), so the model ships, and is
/// swapped, with the pack's scripts and routes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PackConfig {
    pack: String,
    #[serde(default)]
    follow_up: FollowUp,
}

/// The best intent and the runners-up; a message not understood (the
/// out-of-scope class, or under the threshold fitted on validation data)
/// becomes "unknown" with confidence 0, its in-scope guesses kept as
/// alternatives for the agent.
fn best_and_alternatives(understood: bool, mut ranked: Vec<Intent>) -> (Intent, Vec<Intent>) {
    if !understood || ranked.is_empty() {
        ranked.truncate(5);
        return (unknown(), ranked);
    }
    let best = ranked.remove(0);
    ranked.truncate(5);
    (best, ranked)
}

fn unknown() -> Intent {
    Intent {
        name: "unknown".into(),
        confidence: 0.0,
    }
}

fn classify_trained(
    model: &TrainedModel,
    scratch: &mut Scratch,
    text: &str,
    out_of_scope_intent: Option<&str>,
) -> (Intent, Vec<Intent>) {
    let ranking = model.rank(text, 6, scratch);
    let ranked: Vec<Intent> = ranking
        .intents
        .iter()
        .map(|(name, confidence)| Intent {
            name: name.to_string(),
            confidence: *confidence,
        })
        .collect();
    if let (Some(name), Some(confidence)) = (out_of_scope_intent, ranking.out_of_scope) {
        let mut alternatives = ranked;
        alternatives.truncate(5);
        return (
            Intent {
                name: name.to_string(),
                confidence,
            },
            alternatives,
        );
    }
    best_and_alternatives(ranking.understood, ranked)
}

/// Ask the pack; a pack that is missing or fails leaves the intent unknown
/// (logged), which escalates like any message not understood.
fn classify_by_pack(pack: &str, text: &str) -> (Intent, Vec<Intent>) {
    let Some(answer) = playbook::classify(pack, text) else {
        return (unknown(), vec![]);
    };
    // What the pack says is checked here, so a pack's bad answer costs the
    // intent, not this plugin's output (nor its circuit breaker).
    let sound = |name: &str, confidence: f32| !name.is_empty() && (0.0..=1.0).contains(&confidence);
    if !sound(&answer.intent, answer.confidence) {
        host::log(
            Level::Warn,
            &format!(
                "pack {pack}: its answer names intent {:?} at confidence {}",
                answer.intent, answer.confidence
            ),
        );
        return (unknown(), vec![]);
    }
    let ranked = std::iter::once(Intent {
        name: answer.intent,
        confidence: answer.confidence,
    })
    .chain(
        answer
            .alternatives
            .into_iter()
            .filter(|a| sound(&a.intent, a.confidence))
            .map(|a| Intent {
                name: a.intent,
                confidence: a.confidence,
            }),
    )
    .collect();
    best_and_alternatives(answer.understood, ranked)
}

pub struct Plugin;

impl switchyard_sdk::classify::Guest for Plugin {
    fn init(config: String) -> Result<(), String> {
        LOADED.with(|l| *l.borrow_mut() = None);
        let (loaded, follow_up) = if let Some(trained) = load_trained(&config) {
            trained?
        } else if let Ok(PackConfig { pack, follow_up }) = serde_json::from_str(&config) {
            if pack.trim().is_empty() {
                return Err("classifier config: \"pack\" names no pack".into());
            }
            (Loaded::Pack(pack), follow_up)
        } else {
            let mut config: Config =
                serde_json::from_str(&config).map_err(|e| format!("classifier config: {e}"))?;
            let follow_up = std::mem::take(&mut config.follow_up);
            (Loaded::Examples(Model::train(config)?), follow_up)
        };
        if !(0.0..=1.0).contains(&follow_up.confident) {
            return Err(format!(
                "classifier config: follow_up.confident is {}; confidences run from 0 to 1",
                follow_up.confident
            ));
        }
        LOADED.with(|l| *l.borrow_mut() = Some(loaded));
        FOLLOW_UP.with(|f| *f.borrow_mut() = follow_up);
        Ok(())
    }

    fn classify(turn: Turn) -> Classification {
        let entities = extract_entities(&turn.message.text);
        let own = read(&turn.message.text);
        let (intent, alternatives) = FOLLOW_UP.with(|options| {
            follow_up::with_context(&options.borrow(), &turn.message.text, &entities, own, read)
        });
        Classification {
            intent,
            alternatives,
            entities,
        }
    }
}

/// The intent of `text` alone, and the runners-up.
fn read(text: &str) -> (Intent, Vec<Intent>) {
    let text = model_input(text);
    LOADED.with(|l| match l.borrow_mut().as_mut() {
        Some(Loaded::Trained(model, scratch, out_of_scope)) => {
            classify_trained(model, scratch, text, out_of_scope.as_deref())
        }
        Some(Loaded::Pack(pack)) => classify_by_pack(pack, text),
        Some(Loaded::Examples(model)) => {
            let mut ranked = model.rank(text);
            let best = ranked.remove(0);
            ranked.truncate(5);
            (best, ranked)
        }
        None => (unknown(), vec![]),
    })
}

/// Numbers in a message looked at for entities (order ids, phones, amounts);
/// a customer's message that matters has a handful.
pub const MAX_NUMBER_RUNS: usize = 64;

/// Characters of a message the intent models read: what a customer wants is
/// said near the start, and the models were trained on messages far shorter.
/// Without a bound, 8 KiB of one-letter words ran the classifier out of its
/// default fuel (issue 14); entities are still looked for in the whole text.
pub const MODEL_INPUT_CHARS: usize = 1_000;

fn model_input(text: &str) -> &str {
    match text.char_indices().nth(MODEL_INPUT_CHARS) {
        Some((end, _)) => &text[..end],
        None => text,
    }
}

/// Features of a text: CJK ideographs and pairs, Latin words, and trigrams of
/// Latin words (weighted lower: they are many and each says little).
fn features(text: &str) -> Vec<(String, f32)> {
    let mut out = Vec::new();
    for token in text::tokens(text) {
        let is_latin = token.chars().next().is_some_and(|c| !text::is_cjk(c));
        if is_latin {
            if token.chars().all(|c| c.is_ascii_digit()) || text::is_stopword(&token) {
                continue; // order numbers and function words say nothing about intent
            }
            if token.chars().count() > 3 {
                for gram in text::char_ngrams(&token, 3) {
                    out.push((format!("#{gram}"), 0.3));
                }
            }
            out.push((token, 1.0));
        } else {
            out.push((token, 1.0));
        }
    }
    out
}

fn normalize(v: &mut Vector) {
    let norm = v.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
    if norm > 0.0 {
        for (_, w) in v.iter_mut() {
            *w /= norm;
        }
    }
}

impl Model {
    fn train(config: Config) -> Result<Model, String> {
        if config.intents.is_empty() {
            return Err("classifier config: no intents".into());
        }
        if config.temperature.is_nan()
            || config.temperature <= 0.0
            || !config.none_score.is_finite()
        {
            return Err("classifier config: temperature must be > 0 and none_score finite".into());
        }
        let mut vocabulary: HashMap<String, u32> = HashMap::new();
        let mut doc_freq: Vec<u32> = Vec::new();
        let mut raw: Vec<Vec<HashMap<u32, f32>>> = Vec::new();
        let mut docs = 0u32;
        for spec in &config.intents {
            if spec.name.is_empty() {
                return Err("classifier config: an intent has no name".into());
            }
            if spec.examples.is_empty() && spec.keywords.is_empty() {
                return Err(format!(
                    "classifier config: intent {:?} has neither examples nor keywords",
                    spec.name
                ));
            }
            let mut per_intent = Vec::new();
            // Keywords are short examples too: they anchor intents with few examples.
            for example in spec.examples.iter().chain(&spec.keywords) {
                let mut counts: HashMap<u32, f32> = HashMap::new();
                for (f, w) in features(example) {
                    let next = vocabulary.len() as u32;
                    let id = *vocabulary.entry(f).or_insert(next);
                    if id as usize == doc_freq.len() {
                        doc_freq.push(0);
                    }
                    *counts.entry(id).or_default() += w;
                }
                for id in counts.keys() {
                    doc_freq[*id as usize] += 1;
                }
                docs += 1;
                per_intent.push(counts);
            }
            raw.push(per_intent);
        }
        let idf: Vec<f32> = doc_freq
            .iter()
            .map(|df| ((1.0 + docs as f32) / (1.0 + *df as f32)).ln() + 1.0)
            .collect();
        let weigh = |counts: &HashMap<u32, f32>| -> Vector {
            let mut v: Vector = counts
                .iter()
                .map(|(id, tf)| (*id, (1.0 + tf.ln()) * idf[*id as usize]))
                .collect();
            v.sort_unstable_by_key(|(id, _)| *id);
            normalize(&mut v);
            v
        };
        let mut example_postings: Vec<Vec<(u32, f32)>> = vec![Vec::new(); idf.len()];
        let mut centroid_postings: Vec<Vec<(u32, f32)>> = vec![Vec::new(); idf.len()];
        let mut example_count = 0usize;
        let mut intents = Vec::with_capacity(config.intents.len());
        for (intent_index, (spec, examples)) in config.intents.iter().zip(raw).enumerate() {
            let first = example_count;
            let mut sum: HashMap<u32, f32> = HashMap::new();
            for counts in &examples {
                for (id, w) in weigh(counts) {
                    example_postings[id as usize].push((example_count as u32, w));
                    *sum.entry(id).or_default() += w;
                }
                example_count += 1;
            }
            let mut centroid: Vector = sum.into_iter().collect();
            centroid.sort_unstable_by_key(|(id, _)| *id);
            normalize(&mut centroid);
            for (id, w) in centroid {
                centroid_postings[id as usize].push((intent_index as u32, w));
            }
            intents.push(IntentModel {
                name: spec.name.clone(),
                keywords: spec
                    .keywords
                    .iter()
                    .map(|k| text::Needle::new(k))
                    .filter(|k| !k.is_empty())
                    .collect(),
                examples: first..example_count,
            });
        }
        Ok(Model {
            vocabulary,
            idf,
            intents,
            example_postings,
            example_count,
            centroid_postings,
            none_score: config.none_score,
            temperature: config.temperature,
        })
    }

    fn vectorize(&self, text: &str) -> Vector {
        let mut counts: HashMap<u32, f32> = HashMap::new();
        for (f, w) in features(text) {
            if let Some(id) = self.vocabulary.get(&f) {
                *counts.entry(*id).or_default() += w;
            }
        }
        let mut v: Vector = counts
            .into_iter()
            .map(|(id, tf)| (id, (1.0 + tf.ln()) * self.idf[id as usize]))
            .collect();
        v.sort_unstable_by_key(|(id, _)| *id);
        normalize(&mut v);
        v
    }

    /// Every intent with its confidence, best first.
    fn rank(&self, text: &str) -> Vec<Intent> {
        let query = self.vectorize(text);
        let mut example_dot = vec![0.0f32; self.example_count];
        let mut centroid_dot = vec![0.0f32; self.intents.len()];
        for (id, weight) in &query {
            for (example, w) in &self.example_postings[*id as usize] {
                example_dot[*example as usize] += weight * w;
            }
            for (intent, w) in &self.centroid_postings[*id as usize] {
                centroid_dot[*intent as usize] += weight * w;
            }
        }
        let haystack = text::Haystack::new(text);
        let scores: Vec<f32> = self
            .intents
            .iter()
            .zip(&centroid_dot)
            .map(|(intent, centroid)| {
                let nearest = example_dot[intent.examples.clone()]
                    .iter()
                    .copied()
                    .fold(0.0, f32::max);
                let similarity = 0.7 * nearest + 0.3 * centroid;
                let keyword_hit = intent.keywords.iter().any(|k| haystack.contains(k));
                (similarity + if keyword_hit { KEYWORD_LIFT } else { 0.0 }).min(1.2)
            })
            .collect();
        let top = scores.iter().copied().fold(self.none_score, f32::max);
        let exp = |s: f32| ((s - top) / self.temperature).exp();
        let total: f32 = scores.iter().map(|s| exp(*s)).sum::<f32>() + exp(self.none_score);
        let mut ranked: Vec<Intent> = self
            .intents
            .iter()
            .zip(&scores)
            .map(|(intent, s)| Intent {
                name: intent.name.clone(),
                confidence: exp(*s) / total,
            })
            .collect();
        ranked.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        ranked
    }
}

/// Words that announce an order number within a few characters before it.
const ORDER_CUES: [&str; 7] = ["订单", "单号", "order", "#", "no.", "编号", "ord"];

/// Order numbers, phone numbers, e-mail addresses and amounts.
pub fn extract_entities(original: &str) -> Vec<Entity> {
    let mut entities = Vec::new();
    let personal_spans = personal::find_personal(original);
    // Each run costs a few thousand instructions (cues, ID and card checks):
    // 8 KiB of "1,1,1,..." ran the classifier out of its default fuel.
    for run in text::number_runs(original, false)
        .into_iter()
        .take(MAX_NUMBER_RUNS)
    {
        let before = &original[..run.start];
        let cue_before = {
            let tail: String = before
                .chars()
                .rev()
                .take(8)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            let tail = text::normalize(&tail);
            ORDER_CUES.iter().any(|cue| tail.contains(cue))
        };
        let d = &run.digits;
        // Personal data (a phone, or an ID or card number, announced or
        // checksum-valid) is never an order number; what is personal is the
        // SDK's, so the host masks exactly what is not taken as an order.
        let personal = personal_spans
            .iter()
            .find(|p| p.start < run.end && run.start < p.end);
        let is_phone = personal.is_some_and(|p| p.kind == PersonalKind::Phone);
        if personal.is_some() && !is_phone {
            continue;
        }
        let prefix_letters: String = before
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphabetic())
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if let Some(phone) = personal.filter(|_| is_phone) {
            // One entity for a phone written in groups ("138 1234 5678").
            if phone.start >= run.start {
                entities.push(Entity {
                    kind: "phone".into(),
                    value: personal::mask_span(&original[phone.start..phone.end], phone.kind),
                    start: phone.start as u32,
                    end: phone.end as u32,
                });
            }
        } else if (cue_before && d.len() >= 4 && d.len() <= 24)
            || (!prefix_letters.is_empty()
                && prefix_letters.len() <= 3
                && d.len() >= 4
                && cue_before)
            || (d.len() >= 10 && d.len() <= 24)
        {
            let start = run.start - prefix_letters.len();
            entities.push(Entity {
                kind: "order-id".into(),
                value: format!("{}{}", prefix_letters.to_ascii_uppercase(), d),
                start: start as u32,
                end: run.end as u32,
            });
        } else if let Some(amount) = amount_at(original, &run) {
            entities.push(amount);
        }
    }
    // E-mail addresses are ASCII; scan the original so offsets need no mapping.
    let is_email_char = |c: char| c.is_ascii_alphanumeric() || "._%+-@".contains(c);
    for (start, word) in original
        .split(|c: char| !is_email_char(c))
        .map(|w| (w.as_ptr() as usize - original.as_ptr() as usize, w))
    {
        let word = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        if let Some((user, domain)) = word.split_once('@')
            && !user.is_empty()
            && domain.contains('.')
        {
            entities.push(Entity {
                kind: "email".into(),
                value: word.to_ascii_lowercase(),
                start: start as u32,
                end: (start + word.len()) as u32,
            });
        }
    }
    entities.sort_by_key(|e| e.start);
    entities
}

/// "20元", "¥20", "$15.50", "20块": a number with a currency next to it.
fn amount_at(original: &str, run: &text::NumberRun) -> Option<Entity> {
    let before = original[..run.start].chars().next_back();
    let after: String = original[run.end..].chars().take(1).collect();
    let currency_before = matches!(before, Some('¥' | '$' | '￥' | '€'));
    let currency_after = ["元", "块", "刀"].contains(&after.as_str());
    (currency_before || currency_after).then(|| Entity {
        kind: "amount".into(),
        value: run.digits.clone(),
        start: run.start as u32,
        end: run.end as u32,
    })
}

#[cfg(target_arch = "wasm32")]
switchyard_sdk::classify::export!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::classify::Guest;
    use switchyard_sdk::testing;

    /// The demo tenant's real intent set, as shipped in `examples/demo`.
    fn demo() {
        let config = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/demo/intents.json"
        ))
        .unwrap();
        Plugin::init(config).unwrap();
    }

    fn intent_of(text: &str) -> Intent {
        Plugin::classify(testing::turn(text)).intent
    }

    #[test]
    fn demo_intents_in_chinese_and_english() {
        demo();
        for (text, want) in [
            ("我要退款，订单号 2024113012345", "refund"),
            ("转人工", "human_agent"),
            ("I want to talk to a real person", "human_agent"),
            ("我的快递到哪了", "logistics"),
            ("where is my package?", "logistics"),
            ("能开发票吗", "invoice"),
            ("can I exchange this for a bigger size", "exchange"),
            ("I want to return these shoes", "return"),
            ("我要投诉你们的客服", "complaint"),
            ("优惠券怎么用不了", "coupon"),
        ] {
            let got = intent_of(text);
            assert_eq!(got.name, want, "{text}: {got:?}");
            assert!(got.confidence >= 0.8, "{text}: confidence {got:?}");
        }
    }

    #[test]
    fn typos_and_full_width_still_classify() {
        demo();
        assert_eq!(intent_of("i want a refnud pls").name, "refund");
        assert_eq!(intent_of("ＲＥＦＵＮＤ please").name, "refund");
    }

    #[test]
    fn out_of_scope_gets_low_confidence() {
        demo();
        for text in [
            "what's the weather on mars tomorrow",
            "帮我写一首关于大海的诗",
            "asdkjh qwe",
        ] {
            let got = intent_of(text);
            assert!(got.confidence < 0.8, "{text}: {got:?}");
        }
    }

    #[test]
    fn confidences_form_a_distribution() {
        demo();
        let out = Plugin::classify(testing::turn("我要退款"));
        let sum: f32 = std::iter::once(&out.intent)
            .chain(&out.alternatives)
            .map(|i| i.confidence)
            .sum();
        assert!(sum <= 1.0 + 1e-4 && out.intent.confidence > 0.0);
        assert!(out.alternatives.len() <= 5);
    }

    #[test]
    fn extracts_order_phone_amount_email() {
        let text = "订单号 2024113012345，电话13812345678，少退了20元，mail me at a.b@shop.com, order #A1234";
        let entities = extract_entities(text);
        let kinds: Vec<_> = entities
            .iter()
            .map(|e| (e.kind.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("order-id", "2024113012345"),
                ("phone", "*******5678"),
                ("amount", "20"),
                ("email", "a.b@shop.com"),
                ("order-id", "A1234"),
            ]
        );
        let order = &entities[0];
        assert_eq!(
            &text[order.start as usize..order.end as usize],
            "2024113012345"
        );
    }

    #[test]
    fn personal_numbers_are_not_order_numbers_unless_announced() {
        let id = "身份证110101199003074258 卡号4111111111111111";
        assert!(
            extract_entities(id).iter().all(|e| e.kind != "order-id"),
            "{:?}",
            extract_entities(id)
        );
        let announced = extract_entities("订单号 4111111111111111");
        assert_eq!(announced[0].kind, "order-id");
    }

    #[test]
    fn a_trained_model_is_loaded_from_its_config() {
        use switchyard_sdk::intents::Threshold;
        use switchyard_sdk::intents::train::{Example, Options, train};
        let examples: Vec<Example> = [
            ("where is my parcel", "track"),
            ("track my order", "track"),
            ("我的快递到哪了", "track"),
            ("I want my money back", "refund"),
            ("refund my order please", "refund"),
            ("我要退款", "refund"),
            ("what is the meaning of life", "oos"),
            ("tell me a joke", "oos"),
        ]
        .iter()
        .map(|(t, l)| Example {
            text: t.to_string(),
            label: l.to_string(),
        })
        .collect();
        let options = Options {
            out_of_scope: Some("oos".into()),
            ..Options::default()
        };
        let model = train(&examples, &options).unwrap();
        let config = serde_json::json!({ "model": model.to_base64() });
        Plugin::init(config.to_string()).unwrap();
        let c = Plugin::classify(testing::turn("please refund order 2024113012345"));
        assert_eq!(c.intent.name, "refund");
        assert_eq!(c.entities[0].kind, "order-id", "entities still come");
        assert_eq!(c.alternatives[0].name, "track");
        let joke = Plugin::classify(testing::turn("tell me a joke"));
        assert_eq!(joke.intent.name, "unknown");
        assert_eq!(joke.intent.confidence, 0.0);
        // An answer under the model's threshold is not understood either,
        // whichever kind it is; the guess stays as the first alternative.
        let mut strict = model;
        for threshold in [Threshold::Evidence(1e6), Threshold::Confidence(1.5)] {
            strict.threshold = threshold;
            let config = serde_json::json!({ "model": strict.to_base64() });
            Plugin::init(config.to_string()).unwrap();
            let unsure = Plugin::classify(testing::turn("please refund order 2024113012345"));
            assert_eq!(unsure.intent.name, "unknown", "{threshold:?}");
            assert_eq!(unsure.intent.confidence, 0.0);
            assert_eq!(unsure.alternatives[0].name, "refund");
        }

        let damaged = serde_json::json!({"model": "U1lJTQ=="}).to_string();
        assert!(Plugin::init(damaged).unwrap_err().contains("cut short"));
        let not_base64 = serde_json::json!({"model": "%%%"}).to_string();
        assert!(Plugin::init(not_base64).unwrap_err().contains("base64"));
        // The example-set form still works after a model was loaded.
        demo();
        assert_eq!(intent_of("我要退款").name, "refund");
    }

    fn banking_pack(query: &str) -> Result<String, String> {
        let query: serde_json::Value = serde_json::from_str(query).map_err(|e| e.to_string())?;
        let text = query["text"].as_str().ok_or("text only")?;
        if text.contains("broken") {
            return Ok(
                serde_json::json!({"intent": "lost_or_stolen_card", "confidence": 7.5,
                "understood": true, "alternatives": []})
                .to_string(),
            );
        }
        let (intent, understood) = if text.contains("card") {
            ("lost_or_stolen_card", true)
        } else {
            ("exchange_rate", false)
        };
        Ok(
            serde_json::json!({"intent": intent, "confidence": 0.9, "understood": understood,
            "alternatives": [{"intent": "compromised_card", "confidence": 0.05}], "playbook": null})
            .to_string(),
        )
    }

    #[test]
    fn a_pack_that_carries_the_model_names_the_intent() {
        let mut host = testing::MockHost::default();
        host.packs = vec![("banking".into(), banking_pack)];
        testing::install(host);
        Plugin::init(r#"{"pack": "banking"}"#.into()).unwrap();
        let c = Plugin::classify(testing::turn("I lost my card, order 2024113012345"));
        assert_eq!(c.intent.name, "lost_or_stolen_card");
        assert_eq!(c.intent.confidence, 0.9);
        assert_eq!(c.alternatives[0].name, "compromised_card");
        assert_eq!(c.entities[0].kind, "order-id", "entities still come");
        // Not understood: unknown, the guess kept as the first alternative.
        let c = Plugin::classify(testing::turn("tell me a joke"));
        assert_eq!(c.intent.name, "unknown");
        assert_eq!(c.alternatives[0].name, "exchange_rate");
        // A confidence out of range: unknown, logged, nothing invalid passed on.
        let c = Plugin::classify(testing::turn("broken card"));
        assert_eq!(
            (c.intent.name.as_str(), c.intent.confidence),
            ("unknown", 0.0)
        );
        assert!(testing::with_mock(|m| m
            .logs
            .iter()
            .any(|l| l.contains("7.5"))));
        // No such pack: unknown, logged.
        testing::install(testing::MockHost::default());
        let c = Plugin::classify(testing::turn("I lost my card"));
        assert_eq!(c.intent.name, "unknown");
        assert!(testing::with_mock(|m| m
            .logs
            .iter()
            .any(|l| l.contains("banking"))));
        assert!(
            Plugin::init(r#"{"pack": " "}"#.into())
                .unwrap_err()
                .contains("names no pack")
        );
    }

    #[test]
    fn bad_config_is_refused_with_a_reason() {
        assert!(
            Plugin::init(r#"{"intents": []}"#.into())
                .unwrap_err()
                .contains("no intents")
        );
        assert!(
            Plugin::init(r#"{"intents": [{"name": "x"}]}"#.into())
                .unwrap_err()
                .contains("neither")
        );
    }
}
