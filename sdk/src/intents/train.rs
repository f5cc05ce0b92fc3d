//! Training an [`IntentModel`]: build the vocabulary and idf from the
//! examples, then train each member network by minibatch Adam on the
//! cross-entropy, with the input rows updated only where a batch has
//! features (so an epoch costs what the examples contain, not the
//! vocabulary), and put the members side by side. Members train on
//! separate threads where there are cores for them. Seeded: the same
//! examples and options give the same model.

use std::collections::HashMap;

use super::features::{self, Block};
use super::{IntentModel, Scratch, Threshold, softmax};

/// One labelled example.
#[derive(Clone, Debug)]
pub struct Example {
    pub text: String,
    pub label: String,
}

/// How to train. The defaults were fixed without looking at any test set;
/// `switchyard eval` measures what they give.
#[derive(Clone, Debug)]
pub struct Options {
    /// Networks trained apart (each from its own seed) and averaged: their
    /// mistakes differ, so the average is right more often and knows better
    /// when it is unsure than one network with as many units (BENCHMARKS.md,
    /// "The ensemble against one network").
    pub members: usize,
    /// Units in each member's hidden layer.
    pub hidden: usize,
    /// Passes over the examples (more for small sets: at least
    /// [`MIN_STEPS`] batches in all).
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f32,
    /// L2 penalty on the weights.
    pub weight_decay: f32,
    /// Features seen in fewer examples are left out of the vocabulary;
    /// 0 = 2 from [`LARGE_SET`] examples on (it halves the model), else 1.
    pub min_df: u32,
    pub seed: u64,
    /// Share of hidden units switched off at random for each training example.
    pub dropout: f32,
    /// Share of an example's features left out at random each time it is
    /// seen, so no intent hangs on one word or n-gram.
    pub input_dropout: f32,
    /// Label meaning "none of the intents" (for example "oos"), if the
    /// examples include one.
    pub out_of_scope: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            members: 4,
            hidden: 64,
            epochs: 10,
            batch: 32,
            learning_rate: 2e-3,
            weight_decay: 1e-5,
            min_df: 0,
            seed: 7,
            dropout: 0.5,
            input_dropout: 0.2,
            out_of_scope: None,
        }
    }
}

/// Most members a model may have (the model format's limit).
pub const MAX_MEMBERS: usize = 64;
/// Fewest minibatch steps a training run takes, whatever the epochs say.
pub const MIN_STEPS: usize = 400;
/// From this many examples on, rare features are dropped by default.
pub const LARGE_SET: usize = 2000;

/// SplitMix64: small, seeded, good enough to shuffle and initialise.
struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Uniform in [0, n).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// Adam state of one parameter vector.
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
}

impl Adam {
    fn new(n: usize) -> Adam {
        Adam {
            m: vec![0.0; n],
            v: vec![0.0; n],
        }
    }
}

const BETA1: f32 = 0.9;
const BETA2: f32 = 0.999;
const EPSILON: f32 = 1e-8;

/// One Adam step on `params[range]` with `grads[range]`.
fn adam_step(
    params: &mut [f32],
    grads: &[f32],
    state: &mut Adam,
    range: std::ops::Range<usize>,
    step_size: f32,
    weight_decay: f32,
) {
    for i in range {
        let g = grads[i] + weight_decay * params[i];
        state.m[i] = BETA1 * state.m[i] + (1.0 - BETA1) * g;
        state.v[i] = BETA2 * state.v[i] + (1.0 - BETA2) * g * g;
        params[i] -= step_size * state.m[i] / (state.v[i].sqrt() + EPSILON);
    }
}

/// Train a model on `examples`. Errors when there is nothing to learn from.
pub fn train(examples: &[Example], options: &Options) -> Result<IntentModel, String> {
    if examples.is_empty() {
        return Err("no examples to train on".into());
    }
    let hidden = options.hidden.clamp(4, 1024);
    let members = options.members.clamp(1, MAX_MEMBERS);
    // Labels in order of first appearance.
    let mut labels: Vec<String> = Vec::new();
    let mut label_index: HashMap<&str, u32> = HashMap::new();
    for e in examples {
        if !label_index.contains_key(e.label.as_str()) {
            label_index.insert(&e.label, labels.len() as u32);
            labels.push(e.label.clone());
        }
    }
    if labels.len() < 2 {
        return Err("at least two labels are needed".into());
    }
    let out_of_scope = match &options.out_of_scope {
        Some(name) => Some(
            *label_index
                .get(name.as_str())
                .ok_or_else(|| format!("no example has the out-of-scope label {name:?}"))?,
        ),
        None => None,
    };

    let min_df = match options.min_df {
        0 if examples.len() >= LARGE_SET => 2,
        0 => 1,
        n => n,
    };
    // Vocabulary and idf.
    let mut raw = Vec::new();
    let mut document_frequency: HashMap<u64, u32> = HashMap::new();
    let mut per_example: Vec<Vec<(u64, Block)>> = Vec::with_capacity(examples.len());
    for e in examples {
        features::raw(&e.text, &mut raw);
        let mut seen: Vec<u64> = raw.iter().map(|(h, _)| *h).collect();
        seen.sort_unstable();
        seen.dedup();
        for h in seen {
            *document_frequency.entry(h).or_default() += 1;
        }
        per_example.push(raw.clone());
    }
    let n = examples.len() as f32;
    let mut kept: Vec<(u64, u32)> = document_frequency
        .into_iter()
        .filter(|(_, df)| *df >= min_df)
        .collect();
    kept.sort_unstable();
    let rows: super::FeatureRows = kept
        .iter()
        .enumerate()
        .map(|(row, (hash, df))| {
            let idf = ((1.0 + n) / (1.0 + *df as f32)).ln() + 1.0;
            (*hash, (row as u32, idf))
        })
        .collect();
    let vocabulary = rows.len();
    let vectors: Vec<Vec<(u32, f32)>> = per_example
        .iter_mut()
        .map(|raw| {
            let mut v = Vec::new();
            features::weigh(raw, |h| rows.get(&h).copied(), &mut v);
            v
        })
        .collect();
    let targets: Vec<u32> = examples
        .iter()
        .map(|e| label_index[e.label.as_str()])
        .collect();
    let classes = labels.len();

    let task = Task {
        vectors: &vectors,
        targets: &targets,
        vocabulary,
        classes,
        hidden,
        options,
    };
    let seeds: Vec<u64> = (0..members as u64)
        .map(|k| options.seed ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15))
        .collect();
    // One thread per core, each training a run of consecutive members, so
    // the members come back in seed order.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(members);
    let task = &task;
    let trained: Vec<Member> = std::thread::scope(|scope| {
        let handles: Vec<_> = seeds
            .chunks(members.div_ceil(threads))
            .map(|run| {
                scope.spawn(move || {
                    run.iter()
                        .map(|seed| task.train_member(*seed))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a training thread panicked"))
            .collect()
    });

    // Side by side: member k's units are k*hidden..(k+1)*hidden. Averaging
    // the members' scores is the wide network with each output weight and
    // bias divided by the number of members.
    let wide = hidden * members;
    let share = 1.0 / members as f32;
    let mut embed = vec![0.0f32; vocabulary * wide];
    let mut hidden_bias = Vec::with_capacity(wide);
    let mut output = vec![0.0f32; classes * wide];
    let mut output_bias = vec![0.0f32; classes];
    for (k, m) in trained.iter().enumerate() {
        for row in 0..vocabulary {
            embed[row * wide + k * hidden..row * wide + (k + 1) * hidden]
                .copy_from_slice(&m.embed[row * hidden..(row + 1) * hidden]);
        }
        hidden_bias.extend_from_slice(&m.hidden_bias);
        for c in 0..classes {
            for (o, w) in output[c * wide + k * hidden..c * wide + (k + 1) * hidden]
                .iter_mut()
                .zip(&m.output[c * hidden..(c + 1) * hidden])
            {
                *o = w * share;
            }
            output_bias[c] += m.output_bias[c] * share;
        }
    }
    drop(trained);

    // Quantise each input row to i8 with its own scale.
    let mut embed_q = Vec::with_capacity(embed.len());
    let mut embed_scale = Vec::with_capacity(vocabulary);
    for row in embed.chunks(wide) {
        let max = row.iter().fold(0f32, |m, w| m.max(w.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        embed_scale.push(scale);
        embed_q.extend(
            row.iter()
                .map(|w| (w / scale).round().clamp(-127.0, 127.0) as i8),
        );
    }
    Ok(IntentModel {
        labels,
        rows,
        hidden: wide,
        members,
        embed: embed_q,
        embed_scale,
        hidden_bias,
        output_by_unit: super::transpose(&output, classes, wide),
        output_bias,
        temperature: 1.0,
        threshold: Threshold::None,
        out_of_scope,
    })
}

/// One member's weights, in f32 (`output` is `classes` rows of `hidden`).
struct Member {
    embed: Vec<f32>,
    hidden_bias: Vec<f32>,
    output: Vec<f32>,
    output_bias: Vec<f32>,
}

/// What every member trains on.
struct Task<'a> {
    vectors: &'a [Vec<(u32, f32)>],
    targets: &'a [u32],
    vocabulary: usize,
    classes: usize,
    hidden: usize,
    options: &'a Options,
}

impl Task<'_> {
    fn train_member(&self, seed: u64) -> Member {
        let Task {
            vectors,
            targets,
            vocabulary,
            classes,
            hidden,
            options,
        } = *self;
        // Parameters, Glorot-uniform initialised.
        let mut rng = Rng::new(seed);
        let mut init = |n: usize, fan_in: usize, fan_out: usize| -> Vec<f32> {
            let a = (6.0 / (fan_in + fan_out) as f32).sqrt();
            (0..n).map(|_| (rng.unit() * 2.0 - 1.0) * a).collect()
        };
        // The input layer sees about as many features per example as a sentence
        // has n-grams, not the whole vocabulary: initialise for that fan-in.
        let mut embed = init(vocabulary * hidden, 64, hidden);
        let mut output = init(classes * hidden, hidden, classes);
        let mut hidden_bias = vec![0.0f32; hidden];
        let mut output_bias = vec![0.0f32; classes];
        let mut embed_adam = Adam::new(embed.len());
        let mut output_adam = Adam::new(output.len());
        let mut hidden_bias_adam = Adam::new(hidden);
        let mut output_bias_adam = Adam::new(classes);

        let mut embed_grad = vec![0.0f32; embed.len()];
        let mut touched: Vec<u32> = Vec::new();
        let mut is_touched = vec![false; vocabulary];
        let mut output_grad = vec![0.0f32; output.len()];
        let mut hidden_bias_grad = vec![0.0f32; hidden];
        let mut output_bias_grad = vec![0.0f32; classes];
        let mut pre = vec![0.0f32; hidden];
        let mut h = vec![0.0f32; hidden];
        let mut dh = vec![0.0f32; hidden];
        let mut scores = vec![0.0f32; classes];

        let dropout = options.dropout.clamp(0.0, 0.9);
        let keep_scale = 1.0 / (1.0 - dropout);
        let mut order: Vec<usize> = (0..vectors.len()).collect();
        let mut kept: Vec<(u32, f32)> = Vec::new();
        let batch = options.batch.max(1);
        let mut step = 0i32;
        let batches_per_epoch = vectors.len().div_ceil(batch);
        let epochs = options.epochs.max(MIN_STEPS.div_ceil(batches_per_epoch));
        for _epoch in 0..epochs {
            rng.shuffle(&mut order);
            for chunk in order.chunks(batch) {
                let scale = 1.0 / chunk.len() as f32;
                for &i in chunk {
                    let x: &[(u32, f32)] = if options.input_dropout > 0.0 {
                        kept.clear();
                        kept.extend(
                            vectors[i]
                                .iter()
                                .filter(|_| rng.unit() >= options.input_dropout),
                        );
                        &kept
                    } else {
                        &vectors[i]
                    };
                    // Forward.
                    pre.copy_from_slice(&hidden_bias);
                    for &(row, w) in x {
                        let r = row as usize * hidden;
                        for (p, e) in pre.iter_mut().zip(&embed[r..r + hidden]) {
                            *p += w * e;
                        }
                    }
                    for (hj, pj) in h.iter_mut().zip(pre.iter_mut()) {
                        *hj = pj.max(0.0);
                        if dropout > 0.0 {
                            if rng.unit() < dropout {
                                // Dropped: no output and no gradient.
                                *hj = 0.0;
                                *pj = 0.0;
                            } else {
                                *hj *= keep_scale;
                            }
                        }
                    }
                    for (c, s) in scores.iter_mut().enumerate() {
                        let o = &output[c * hidden..(c + 1) * hidden];
                        *s = o.iter().zip(&h).map(|(a, b)| a * b).sum::<f32>() + output_bias[c];
                    }
                    softmax(&mut scores);
                    // Backward: d(loss)/d(score) = p - onehot.
                    scores[targets[i] as usize] -= 1.0;
                    dh.iter_mut().for_each(|d| *d = 0.0);
                    for (c, ds) in scores.iter().enumerate() {
                        let ds = ds * scale;
                        output_bias_grad[c] += ds;
                        let o = &output[c * hidden..(c + 1) * hidden];
                        let og = &mut output_grad[c * hidden..(c + 1) * hidden];
                        for j in 0..hidden {
                            og[j] += ds * h[j];
                            dh[j] += ds * o[j];
                        }
                    }
                    for (d, p) in dh.iter_mut().zip(&pre) {
                        if *p <= 0.0 {
                            *d = 0.0;
                        } else {
                            *d *= keep_scale;
                        }
                    }
                    for (g, d) in hidden_bias_grad.iter_mut().zip(&dh) {
                        *g += d;
                    }
                    for &(row, w) in x {
                        if !is_touched[row as usize] {
                            is_touched[row as usize] = true;
                            touched.push(row);
                        }
                        let r = row as usize * hidden;
                        for (g, d) in embed_grad[r..r + hidden].iter_mut().zip(&dh) {
                            *g += w * d;
                        }
                    }
                }
                // Adam, bias-corrected step size.
                step += 1;
                let step_size = options.learning_rate * (1.0 - BETA2.powi(step)).sqrt()
                    / (1.0 - BETA1.powi(step));
                let decay = options.weight_decay;
                for &row in &touched {
                    let r = row as usize * hidden;
                    adam_step(
                        &mut embed,
                        &embed_grad,
                        &mut embed_adam,
                        r..r + hidden,
                        step_size,
                        decay,
                    );
                    embed_grad[r..r + hidden].iter_mut().for_each(|g| *g = 0.0);
                    is_touched[row as usize] = false;
                }
                touched.clear();
                let n = output.len();
                adam_step(
                    &mut output,
                    &output_grad,
                    &mut output_adam,
                    0..n,
                    step_size,
                    decay,
                );
                adam_step(
                    &mut hidden_bias,
                    &hidden_bias_grad,
                    &mut hidden_bias_adam,
                    0..hidden,
                    step_size,
                    0.0,
                );
                adam_step(
                    &mut output_bias,
                    &output_bias_grad,
                    &mut output_bias_adam,
                    0..classes,
                    step_size,
                    0.0,
                );
                output_grad.iter_mut().for_each(|g| *g = 0.0);
                hidden_bias_grad.iter_mut().for_each(|g| *g = 0.0);
                output_bias_grad.iter_mut().for_each(|g| *g = 0.0);
            }
        }
        Member {
            embed,
            hidden_bias,
            output,
            output_bias,
        }
    }
}

/// Fit the softmax temperature that minimises the negative log-likelihood of
/// `validation` (examples whose label the model does not know are skipped),
/// so confidences behave like probabilities. Returns the temperature set.
pub fn fit_temperature(model: &mut IntentModel, validation: &[Example]) -> f32 {
    let index: HashMap<&str, usize> = model
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.as_str(), i))
        .collect();
    let mut scratch = Scratch::default();
    // Logits at temperature 1, once.
    model.temperature = 1.0;
    let mut cases: Vec<(Vec<f32>, usize)> = Vec::new();
    for e in validation {
        let Some(&target) = index.get(e.label.as_str()) else {
            continue;
        };
        model.vector(&e.text, &mut scratch);
        model.probabilities(&mut scratch);
        let logits: Vec<f32> = scratch.scores.iter().map(|p| p.max(1e-30).ln()).collect();
        cases.push((logits, target));
    }
    if cases.is_empty() {
        return 1.0;
    }
    let nll = |t: f32| -> f64 {
        let mut total = 0.0f64;
        let mut s = Vec::new();
        for (logits, target) in &cases {
            s.clear();
            s.extend(logits.iter().map(|l| l / t));
            softmax(&mut s);
            total -= (s[*target].max(1e-30) as f64).ln();
        }
        total
    };
    // Golden-section search on log t in [1/8, 8].
    let (mut lo, mut hi) = ((0.125f32).ln(), 8f32.ln());
    let phi = 0.618_034f32;
    for _ in 0..40 {
        let a = hi - phi * (hi - lo);
        let b = lo + phi * (hi - lo);
        if nll(a.exp()) < nll(b.exp()) {
            hi = b;
        } else {
            lo = a;
        }
    }
    model.temperature = ((lo + hi) / 2.0).exp();
    model.temperature
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intents::Threshold;

    fn examples() -> Vec<Example> {
        let data = [
            ("where is my parcel", "track"),
            ("my package has not arrived", "track"),
            ("track my order", "track"),
            ("has my delivery shipped yet", "track"),
            ("我的快递到哪了", "track"),
            ("物流信息怎么查", "track"),
            ("I want my money back", "refund"),
            ("refund my order please", "refund"),
            ("can I get a refund", "refund"),
            ("return this and give me the money back", "refund"),
            ("我要退款", "refund"),
            ("退钱给我", "refund"),
        ];
        data.iter()
            .map(|(t, l)| Example {
                text: t.to_string(),
                label: l.to_string(),
            })
            .collect()
    }

    #[test]
    fn learns_seen_and_unseen_phrasings_in_both_languages() {
        let model = train(&examples(), &Options::default()).unwrap();
        let mut scratch = Scratch::default();
        for (text, want) in [
            ("where is my parcle", "track"),
            ("refund please", "refund"),
            ("我想退款", "refund"),
            ("快递到哪里了", "track"),
        ] {
            let best = &model.predict(text, 1, &mut scratch).ranked[0];
            assert_eq!(model.label(best.label), want, "{text}");
        }
    }

    #[test]
    fn same_seed_same_model_and_bytes_round_trip() {
        let a = train(&examples(), &Options::default()).unwrap();
        let b = train(&examples(), &Options::default()).unwrap();
        assert_eq!(a.to_bytes(), b.to_bytes());
        let bytes = a.to_bytes();
        let c = IntentModel::from_bytes(&bytes).unwrap();
        assert_eq!(c.to_bytes(), bytes);
        let mut scratch = Scratch::default();
        assert_eq!(
            a.predict("where is my parcel", 3, &mut scratch),
            c.predict("where is my parcel", 3, &mut scratch)
        );
        // Damaged models are refused with a reason, never a panic.
        for cut in [0, 3, 10, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                IntentModel::from_bytes(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(IntentModel::from_bytes(&extra).is_err());
    }

    #[test]
    fn members_sit_side_by_side_and_the_threshold_decides_on_evidence() {
        let model = train(&examples(), &Options::default()).unwrap();
        assert_eq!((model.members(), model.hidden()), (4, 64));
        let mut scratch = Scratch::default();
        let prediction = model.predict("where is my parcel", 3, &mut scratch);
        let evidence = prediction.evidence;
        let mut strict = IntentModel::from_bytes(&model.to_bytes()).unwrap();
        strict.threshold = Threshold::Evidence(evidence + 0.01);
        assert!(!strict.understood(&prediction));
        strict.threshold = Threshold::Evidence(evidence - 0.01);
        assert!(strict.understood(&prediction));
        assert!(
            strict
                .rank("where is my parcel", 2, &mut scratch)
                .understood
        );
    }

    #[test]
    fn format_one_models_are_still_read_with_their_confidence_threshold() {
        let options = Options {
            members: 1,
            ..Options::default()
        };
        let mut model = train(&examples(), &options).unwrap();
        model.threshold = Threshold::Confidence(0.4);
        let v2 = model.to_bytes();
        // Format 1 had no member count after the hidden units, and its
        // threshold was a bare confidence (kind byte, value, label at the end
        // of format 2).
        let hidden_at = 12 + model.labels().iter().map(|l| 4 + l.len()).sum::<usize>();
        let mut v1 = Vec::new();
        v1.extend_from_slice(&v2[..4]);
        v1.extend_from_slice(&1u32.to_le_bytes());
        v1.extend_from_slice(&v2[8..hidden_at + 4]);
        v1.extend_from_slice(&v2[hidden_at + 8..v2.len() - 9]);
        v1.extend_from_slice(&v2[v2.len() - 8..]);
        let old = IntentModel::from_bytes(&v1).unwrap();
        assert_eq!(old.threshold, Threshold::Confidence(0.4));
        assert_eq!(old.to_bytes(), v2);
        let mut scratch = Scratch::default();
        assert_eq!(
            old.predict("refund please", 2, &mut scratch),
            model.predict("refund please", 2, &mut scratch)
        );
        // A threshold of 0 in format 1 meant none.
        let len = v1.len();
        v1[len - 8..len - 4].copy_from_slice(&0f32.to_le_bytes());
        assert_eq!(
            IntentModel::from_bytes(&v1).unwrap().threshold,
            Threshold::None
        );
        let mut future = v2.clone();
        future[4..8].copy_from_slice(&3u32.to_le_bytes());
        assert!(
            IntentModel::from_bytes(&future)
                .err()
                .unwrap()
                .contains("format 3")
        );
    }

    #[test]
    fn refuses_what_it_cannot_learn_from() {
        let refused = |examples: &[Example], options: &Options| match train(examples, options) {
            Ok(_) => panic!("trained"),
            Err(e) => e,
        };
        assert!(refused(&[], &Options::default()).contains("no examples"));
        assert!(refused(&examples()[..3], &Options::default()).contains("two labels"));
        let options = Options {
            out_of_scope: Some("oos".into()),
            ..Options::default()
        };
        assert!(refused(&examples(), &options).contains("oos"));
    }
}
