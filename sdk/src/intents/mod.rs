//! A trainable intent model: hashed word and character n-gram features
//! ([`features`]), one hidden layer, and a softmax over the intents.
//!
//! Trained natively (`switchyard intents train`, [`train::train`]), saved with
//! [`IntentModel::to_bytes`], and loaded by the classifier plugin from its
//! config, so one component serves every tenant with its own model. The same
//! code predicts natively and in WebAssembly.
//!
//! A model is an ensemble: several small networks trained apart on the same
//! features, whose scores are averaged. Averaged scores are the scores of one
//! wider network whose hidden layer is the members' side by side, so that is
//! how it is stored and run.
//!
//! Confidences are softmax probabilities divided by a temperature fitted on
//! validation data. Whether an answer counts as understood is decided on the
//! *evidence*: the best intent's averaged score before the softmax. A query
//! unlike anything the model was trained on matches no intent's features
//! strongly, whatever share of a small total the softmax gives the best one.
//! A model trained with an out-of-scope label treats that label as "none of
//! the intents".

pub mod features;
pub mod train;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use features::Block;

/// Format marker and version of [`IntentModel::to_bytes`]. Format 1 (one
/// network, a threshold on confidence) is still read.
const MAGIC: &[u8; 4] = b"SYIM";
const FORMAT_VERSION: u32 = 2;

/// Keys are already FNV hashes: mixing them once more (a multiply and a
/// shift) is all a hash table needs; SipHash's defence against chosen keys
/// buys nothing for a model's own features.
#[derive(Default)]
pub struct PremixedHasher(u64);

impl Hasher for PremixedHasher {
    fn finish(&self) -> u64 {
        let h = self.0.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        h ^ (h >> 29)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ *b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(crate) type FeatureRows = HashMap<u64, (u32, f32), BuildHasherDefault<PremixedHasher>>;

/// When a prediction counts as understood (besides not naming the
/// out-of-scope class).
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Threshold {
    /// Every answer stands.
    None,
    /// The best intent's confidence must reach this (format-1 models).
    Confidence(f32),
    /// The evidence ([`Prediction::evidence`]) must reach this.
    Evidence(f32),
}

/// A trained model, ready to predict.
pub struct IntentModel {
    labels: Vec<String>,
    /// Feature hash -> (row, idf).
    rows: FeatureRows,
    /// Hidden units of all members together.
    hidden: usize,
    /// Networks averaged (their hidden units side by side).
    members: usize,
    /// Input weights, one row of `hidden` per feature, quantised to i8 with a
    /// scale per row: a quarter of the size of f32.
    embed: Vec<i8>,
    embed_scale: Vec<f32>,
    hidden_bias: Vec<f32>,
    /// Output weights, one row of labels per hidden unit (saved the other
    /// way round): a query adds the rows of its active units, a loop that
    /// vectorises.
    output_by_unit: Vec<f32>,
    output_bias: Vec<f32>,
    /// Softmax temperature fitted on validation data (1 without it).
    pub temperature: f32,
    /// Under it a prediction counts as "not understood"; chosen on
    /// validation data by whoever trained the model.
    pub threshold: Threshold,
    /// Label index that means "none of the intents", if trained with one.
    pub out_of_scope: Option<u32>,
}

/// An intent and its calibrated probability.
#[derive(Clone, Debug, PartialEq)]
pub struct Scored {
    pub label: u32,
    pub confidence: f32,
}

/// What [`IntentModel::predict`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// The most likely labels, best first.
    pub ranked: Vec<Scored>,
    /// The best label's score before the softmax (averaged over the members,
    /// at temperature 1): how strongly the text matches it, whatever the
    /// other labels got.
    pub evidence: f32,
}

/// What [`IntentModel::rank`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct Ranking<'a> {
    /// The best intent is in scope and at least as confident as the threshold.
    pub understood: bool,
    /// In-scope intents, best first.
    pub intents: Vec<(&'a str, f32)>,
    /// The out-of-scope class's confidence when it is the best label (how
    /// sure the model is that the message is about none of the intents);
    /// `None` when an intent is best or the model has no such class.
    pub out_of_scope: Option<f32>,
}

/// Buffers for prediction, kept between queries: the feature lists and the
/// layers are not allocated again for each one (a query still allocates
/// its word buffers and the ranked list it returns).
#[derive(Default)]
pub struct Scratch {
    raw: Vec<(u64, Block)>,
    vector: Vec<(u32, f32)>,
    hidden: Vec<f32>,
    scores: Vec<f32>,
    /// (offset of the feature's input row, its weight times the row's scale
    /// in steps of `step`).
    inputs: Vec<(usize, i32)>,
    sums: Vec<i32>,
    /// (offset of an active hidden unit's output row, its activation).
    active: Vec<(usize, f32)>,
}

/// Units or labels computed together: the dense loops keep this many sums
/// in registers while they walk the rows, instead of reading and writing
/// the whole layer once per row (four 128-bit vectors of f32).
const LANES: usize = 16;

/// [`accumulate`] for the quantised input layer, in integers: each row's
/// scale is a whole number of steps, so the i8 weights are multiplied and
/// summed without a conversion to f32 for each one. Not one generic
/// function with `accumulate`: that was tried and the plugin ran nearly
/// twice as slow (CLINC150 `eval` median 89 µs against 48).
#[inline(always)]
fn accumulate_i8(sums: &mut [i32], matrix: &[i8], inputs: &[(usize, i32)]) {
    let width = sums.len();
    let whole = width - width % LANES;
    for start in (0..whole).step_by(LANES) {
        let mut lanes = [0i32; LANES];
        for &(offset, scale) in inputs {
            let at = offset + start;
            let row: &[i8; LANES] = matrix[at..at + LANES].try_into().unwrap();
            for (sum, w) in lanes.iter_mut().zip(row) {
                *sum += scale * *w as i32;
            }
        }
        sums[start..start + LANES].copy_from_slice(&lanes);
    }
    for (j, sum) in sums.iter_mut().enumerate().skip(whole) {
        *sum = inputs
            .iter()
            .map(|&(offset, scale)| scale * matrix[offset + j] as i32)
            .sum();
    }
}

/// `sums[j] += scale * row[j]` for every (row offset, scale) in `inputs`,
/// over the first `sums.len()` columns of each row, `LANES` columns at a time.
#[inline(always)]
fn accumulate(sums: &mut [f32], matrix: &[f32], inputs: &[(usize, f32)]) {
    let width = sums.len();
    let whole = width - width % LANES;
    for start in (0..whole).step_by(LANES) {
        let mut lanes = [0f32; LANES];
        for &(offset, scale) in inputs {
            let at = offset + start;
            let row: &[f32; LANES] = matrix[at..at + LANES].try_into().unwrap();
            for (sum, w) in lanes.iter_mut().zip(row) {
                *sum += scale * w;
            }
        }
        for (sum, lane) in sums[start..start + LANES].iter_mut().zip(lanes) {
            *sum += lane;
        }
    }
    for &(offset, scale) in inputs {
        for (sum, w) in sums[whole..]
            .iter_mut()
            .zip(&matrix[offset + whole..offset + width])
        {
            *sum += scale * w;
        }
    }
}

impl IntentModel {
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn label(&self, index: u32) -> &str {
        &self.labels[index as usize]
    }

    /// Known features (rows of the input layer).
    pub fn features(&self) -> usize {
        self.rows.len()
    }

    /// Hidden units of each member.
    pub fn hidden(&self) -> usize {
        self.hidden / self.members
    }

    /// Networks averaged.
    pub fn members(&self) -> usize {
        self.members
    }

    /// The weighted feature vector of `text` (row, weight), sorted by row.
    fn vector(&self, text: &str, scratch: &mut Scratch) {
        features::raw(text, &mut scratch.raw);
        features::weigh(
            &mut scratch.raw,
            |h| self.rows.get(&h).copied(),
            &mut scratch.vector,
        );
    }

    /// Every label's probability, in label order, for a feature vector; returns
    /// the evidence (the best score before the softmax).
    fn probabilities(&self, scratch: &mut Scratch) -> f32 {
        let Scratch {
            vector,
            hidden,
            scores,
            inputs,
            sums,
            active,
            ..
        } = scratch;
        // Scales in whole steps: as fine as a sum of i8 weights times them
        // can be without overflowing an i32, and never finer than 1/32767
        // of the largest.
        let largest = vector
            .iter()
            .map(|&(row, weight)| (weight * self.embed_scale[row as usize]).abs())
            .fold(0f32, f32::max);
        let most = (i32::MAX as usize / 128 / vector.len().max(1)).min(32767) as f32;
        let step = if largest > 0.0 { largest / most } else { 1.0 };
        inputs.clear();
        inputs.extend(vector.iter().map(|&(row, weight)| {
            let row = row as usize;
            let scale = weight * self.embed_scale[row] / step;
            (row * self.hidden, scale.round() as i32)
        }));
        sums.clear();
        sums.resize(self.hidden, 0);
        accumulate_i8(sums, &self.embed, inputs);
        hidden.clear();
        hidden.extend(
            self.hidden_bias
                .iter()
                .zip(sums.iter())
                .map(|(bias, sum)| bias + *sum as f32 * step),
        );
        // ReLU: only the active units reach the output layer.
        let labels = self.output_bias.len();
        active.clear();
        active.extend(
            hidden
                .iter()
                .enumerate()
                .filter(|(_, h)| **h > 0.0)
                .map(|(unit, h)| (unit * labels, *h)),
        );
        scores.clear();
        scores.extend_from_slice(&self.output_bias);
        accumulate(scores, &self.output_by_unit, active);
        let evidence = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        for s in scores.iter_mut() {
            *s /= self.temperature;
        }
        softmax(scores);
        evidence
    }

    /// The `top` most likely labels, best first, and the evidence.
    pub fn predict(&self, text: &str, top: usize, scratch: &mut Scratch) -> Prediction {
        self.vector(text, scratch);
        let evidence = self.probabilities(scratch);
        let mut ranked: Vec<Scored> = scratch
            .scores
            .iter()
            .enumerate()
            .map(|(label, p)| Scored {
                label: label as u32,
                confidence: *p,
            })
            .collect();
        let by_confidence = |a: &Scored, b: &Scored| b.confidence.total_cmp(&a.confidence);
        let top = top.clamp(1, ranked.len());
        if top < ranked.len() {
            // Only the best `top` need an order.
            ranked.select_nth_unstable_by(top - 1, by_confidence);
            ranked.truncate(top);
        }
        ranked.sort_by(by_confidence);
        Prediction { ranked, evidence }
    }

    /// Whether a prediction counts as understood: its best label is not the
    /// out-of-scope one, and it reaches the threshold.
    pub fn understood(&self, prediction: &Prediction) -> bool {
        let Some(best) = prediction.ranked.first() else {
            return false;
        };
        Some(best.label) != self.out_of_scope
            && match self.threshold {
                Threshold::None => true,
                Threshold::Confidence(t) => best.confidence >= t,
                Threshold::Evidence(t) => prediction.evidence >= t,
            }
    }

    /// The `top` best in-scope intents of `text` (names and confidences, best
    /// first), and whether the best counts as understood (see
    /// [`IntentModel::understood`]). The out-of-scope class is left out of
    /// the list: its guesses are what an agent wants to see when the model
    /// did not understand.
    pub fn rank(&self, text: &str, top: usize, scratch: &mut Scratch) -> Ranking<'_> {
        let predicted = self.predict(text, top + 1, scratch);
        let understood = self.understood(&predicted);
        let out_of_scope = predicted
            .ranked
            .first()
            .filter(|best| Some(best.label) == self.out_of_scope)
            .map(|best| best.confidence);
        let mut intents: Vec<(&str, f32)> = predicted
            .ranked
            .iter()
            .filter(|scored| Some(scored.label) != self.out_of_scope)
            .map(|scored| (self.label(scored.label), scored.confidence))
            .collect();
        intents.truncate(top);
        Ranking {
            understood: understood && !intents.is_empty(),
            intents,
            out_of_scope,
        }
    }

    /// Read a model from base64 (as `{"model": "<base64>"}` configs carry it).
    pub fn from_base64(text: &str) -> Result<IntentModel, String> {
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|e| format!("the model is not base64: {e}"))?;
        IntentModel::from_bytes(&bytes)
    }

    /// The model in base64, for a JSON config.
    pub fn to_base64(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(self.to_bytes())
    }

    /// The model in a compact binary form (little-endian; see `from_bytes`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.embed.len() + self.rows.len() * 16);
        out.extend_from_slice(MAGIC);
        put_u32(&mut out, FORMAT_VERSION);
        put_u32(&mut out, self.labels.len() as u32);
        for label in &self.labels {
            put_u32(&mut out, label.len() as u32);
            out.extend_from_slice(label.as_bytes());
        }
        put_u32(&mut out, self.hidden as u32);
        put_u32(&mut out, self.members as u32);
        put_u32(&mut out, self.rows.len() as u32);
        let mut rows: Vec<(u64, u32, f32)> = self
            .rows
            .iter()
            .map(|(h, (r, idf))| (*h, *r, *idf))
            .collect();
        rows.sort_unstable_by_key(|(_, r, _)| *r);
        for (hash, row, idf) in rows {
            let row = row as usize;
            out.extend_from_slice(&hash.to_le_bytes());
            put_f32(&mut out, idf);
            put_f32(&mut out, self.embed_scale[row]);
            out.extend(
                self.embed[row * self.hidden..(row + 1) * self.hidden]
                    .iter()
                    .map(|w| *w as u8),
            );
        }
        let labels = self.labels.len();
        let output = transpose(&self.output_by_unit, self.hidden, labels);
        for v in self
            .hidden_bias
            .iter()
            .chain(&output)
            .chain(&self.output_bias)
        {
            put_f32(&mut out, *v);
        }
        put_f32(&mut out, self.temperature);
        let (kind, value) = match self.threshold {
            Threshold::None => (0, 0.0),
            Threshold::Confidence(t) => (1, t),
            Threshold::Evidence(t) => (2, t),
        };
        out.push(kind);
        put_f32(&mut out, value);
        put_u32(&mut out, self.out_of_scope.unwrap_or(u32::MAX));
        out
    }

    /// Read a model written by [`IntentModel::to_bytes`]; a clear error for
    /// anything else.
    pub fn from_bytes(bytes: &[u8]) -> Result<IntentModel, String> {
        let mut r = Reader { bytes, at: 0 };
        if r.take(4)? != MAGIC {
            return Err("not a Switchyard intent model (bad magic)".into());
        }
        let version = r.u32()?;
        if !(1..=FORMAT_VERSION).contains(&version) {
            return Err(format!(
                "intent model format {version}; this build reads formats 1 to {FORMAT_VERSION}"
            ));
        }
        let label_count = r.count(100_000)?;
        let mut labels = Vec::with_capacity(label_count);
        for _ in 0..label_count {
            let len = r.count(1024)?;
            let label = std::str::from_utf8(r.take(len)?)
                .map_err(|_| "a label is not UTF-8".to_string())?;
            labels.push(label.to_string());
        }
        let hidden = r.count(4096)?;
        let members = if version >= 2 { r.count(64)? } else { 1 };
        let row_count = r.count(10_000_000)?;
        if hidden == 0 || label_count == 0 {
            return Err("a model needs labels and a hidden layer".into());
        }
        if members == 0 || hidden % members != 0 {
            return Err(format!(
                "{hidden} hidden units do not split into {members} members"
            ));
        }
        let mut rows = FeatureRows::with_capacity_and_hasher(row_count, Default::default());
        let mut embed = Vec::with_capacity(row_count * hidden);
        let mut embed_scale = Vec::with_capacity(row_count);
        for row in 0..row_count {
            let hash = u64::from_le_bytes(r.take(8)?.try_into().unwrap());
            let idf = r.f32()?;
            embed_scale.push(r.f32()?);
            embed.extend(r.take(hidden)?.iter().map(|b| *b as i8));
            if rows.insert(hash, (row as u32, idf)).is_some() {
                return Err("a feature appears twice".into());
            }
        }
        let hidden_bias = r.f32s(hidden)?;
        let output = r.f32s(hidden * label_count)?;
        let output_bias = r.f32s(label_count)?;
        let temperature = r.f32()?;
        let threshold = if version >= 2 {
            match (r.take(1)?[0], r.f32()?) {
                (0, _) => Threshold::None,
                (1, t) => Threshold::Confidence(t),
                (2, t) => Threshold::Evidence(t),
                (kind, _) => return Err(format!("unknown threshold kind {kind}")),
            }
        } else {
            // Format 1: a confidence threshold, 0 for none.
            match r.f32()? {
                0.0 => Threshold::None,
                t => Threshold::Confidence(t),
            }
        };
        if let Threshold::Confidence(t) | Threshold::Evidence(t) = threshold
            && !t.is_finite()
        {
            return Err("the threshold must be a finite number".into());
        }
        let out_of_scope = match r.u32()? {
            u32::MAX => None,
            i if (i as usize) < label_count => Some(i),
            i => return Err(format!("out-of-scope label {i} does not exist")),
        };
        if r.at != bytes.len() {
            return Err(format!("{} bytes after the model", bytes.len() - r.at));
        }
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err("temperature must be positive".into());
        }
        Ok(IntentModel {
            labels,
            rows,
            hidden,
            members,
            embed,
            embed_scale,
            hidden_bias,
            output_by_unit: transpose(&output, label_count, hidden),
            output_bias,
            temperature,
            threshold,
            out_of_scope,
        })
    }
}

/// `matrix` (`rows` × `columns`, row after row) with rows and columns swapped.
pub(crate) fn transpose(matrix: &[f32], rows: usize, columns: usize) -> Vec<f32> {
    let mut out = vec![0.0; matrix.len()];
    for r in 0..rows {
        for c in 0..columns {
            out[c * rows + r] = matrix[r * columns + c];
        }
    }
    out
}

fn softmax(scores: &mut [f32]) {
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for s in scores.iter_mut() {
        *s = (*s - max).exp();
        sum += *s;
    }
    for s in scores.iter_mut() {
        *s /= sum;
    }
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_f32(out: &mut Vec<u8>, v: f32) {
    out.extend_from_slice(&v.to_le_bytes());
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|e| *e <= self.bytes.len());
        let end = end.ok_or_else(|| "the model is cut short".to_string())?;
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }
    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn f32(&mut self) -> Result<f32, String> {
        Ok(f32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn count(&mut self, max: usize) -> Result<usize, String> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(format!("a count of {n} is over its limit of {max}"));
        }
        Ok(n)
    }
    fn f32s(&mut self, n: usize) -> Result<Vec<f32>, String> {
        (0..n).map(|_| self.f32()).collect()
    }
}
