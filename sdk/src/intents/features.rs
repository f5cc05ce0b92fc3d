//! What the intent model sees of a text: hashed n-gram features in two
//! blocks, each weighted by TF-IDF and scaled to unit length.
//!
//! - **Words**: Latin words, lightly stemmed, and pairs of adjacent words;
//!   for Chinese, every ideograph and every run of two and three (no word
//!   segmenter needed).
//! - **Characters**: the 2- to 5-grams of every Latin word padded with a
//!   space on each side, so a typo or an abbreviation changes only a few.
//!
//! Text is folded first (full-width to half-width, lower case) and every run
//! of digits becomes one `0`: an order number says nothing about the intent.
//! Features are 64-bit FNV-1a hashes, computed without building strings.

use crate::text::{fold_char, is_cjk};

/// Which block a feature belongs to; each block is scaled to unit length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Block {
    Words = 0,
    Chars = 1,
}

const BLOCKS: usize = 2;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

#[derive(Clone, Copy)]
struct Hasher(u64);

impl Hasher {
    fn new(tag: u8) -> Hasher {
        Hasher(FNV_OFFSET).byte(tag)
    }
    fn byte(self, b: u8) -> Hasher {
        Hasher((self.0 ^ b as u64).wrapping_mul(FNV_PRIME))
    }
    fn char(self, c: char) -> Hasher {
        let mut buf = [0u8; 4];
        c.encode_utf8(&mut buf).bytes().fold(self, |h, b| h.byte(b))
    }
    fn str(self, s: &[char]) -> Hasher {
        s.iter().fold(self, |h, c| h.char(*c))
    }
}

// Tags keep the same characters in different roles apart.
const TAG_WORD: u8 = 1;
const TAG_WORD_PAIR: u8 = 2;
const TAG_CJK: u8 = 3;
const TAG_CHARS: u8 = 4;

/// English suffixes stripped so "refunds", "refunded" and "refunding" meet.
const SUFFIXES: [&str; 5] = ["ing", "ed", "es", "s", "ly"];

fn stem(word: &[char]) -> &[char] {
    for suffix in SUFFIXES {
        let n = suffix.len();
        if word.len() > n + 2 && word[word.len() - n..].iter().copied().eq(suffix.chars()) {
            return &word[..word.len() - n];
        }
    }
    word
}

/// Raw features of `text` with their counts, before weighting: (hash, block).
/// Appends to `out` (cleared first); the same hash may appear several times.
pub fn raw(text: &str, out: &mut Vec<(u64, Block)>) {
    out.clear();
    // Latin words (folded, digit runs as one '0') and CJK runs, in order.
    let mut word: Vec<char> = Vec::with_capacity(32);
    let mut cjk: Vec<char> = Vec::with_capacity(32);
    let mut previous_stem: Option<u64> = None;
    let mut in_digits = false;

    let end_word =
        |word: &mut Vec<char>, previous_stem: &mut Option<u64>, out: &mut Vec<(u64, Block)>| {
            if word.is_empty() {
                return;
            }
            let stemmed = Hasher::new(TAG_WORD).str(stem(word));
            out.push((stemmed.0, Block::Words));
            if let Some(previous) = *previous_stem {
                let pair = (0..8).fold(Hasher::new(TAG_WORD_PAIR), |h, i| {
                    h.byte((previous >> (i * 8)) as u8)
                });
                out.push((pair.str(stem(word)).0, Block::Words));
            }
            *previous_stem = Some(stemmed.0);
            // Character n-grams of " word ".
            let padded: Vec<char> = std::iter::once(' ')
                .chain(word.iter().copied())
                .chain(std::iter::once(' '))
                .collect();
            for n in 2..=5 {
                if padded.len() < n {
                    break;
                }
                for gram in padded.windows(n) {
                    out.push((Hasher::new(TAG_CHARS).str(gram).0, Block::Chars));
                }
            }
            word.clear();
        };
    let end_cjk = |cjk: &mut Vec<char>, out: &mut Vec<(u64, Block)>| {
        for n in 1..=3 {
            for gram in cjk.windows(n) {
                out.push((Hasher::new(TAG_CJK).str(gram).0, Block::Words));
            }
        }
        cjk.clear();
    };

    for c in text.chars().map(fold_char) {
        if is_cjk(c) {
            end_word(&mut word, &mut previous_stem, out);
            previous_stem = None;
            cjk.push(c);
            in_digits = false;
            continue;
        }
        if !cjk.is_empty() {
            end_cjk(&mut cjk, out);
        }
        if c.is_ascii_digit() {
            if !in_digits {
                word.push('0');
            }
            in_digits = true;
        } else if c.is_alphanumeric() {
            word.push(c);
            in_digits = false;
        } else {
            in_digits = false;
            end_word(&mut word, &mut previous_stem, out);
        }
    }
    end_word(&mut word, &mut previous_stem, out);
    end_cjk(&mut cjk, out);
}

/// Turn raw features into a weighted vector: counts of known features only
/// (`lookup` gives a feature's row and idf), sublinear term frequency
/// (1 + ln count) times idf, each block scaled to unit length. `out` gets
/// (row, weight), sorted by row, no duplicates.
pub fn weigh(
    raw: &mut [(u64, Block)],
    mut lookup: impl FnMut(u64) -> Option<(u32, f32)>,
    out: &mut Vec<(u32, f32)>,
) {
    out.clear();
    raw.sort_unstable_by_key(|(h, _)| *h);
    let mut norms = [0f32; BLOCKS];
    let mut blocks: Vec<Block> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let (hash, block) = raw[i];
        let mut count = 0;
        while i < raw.len() && raw[i].0 == hash {
            count += 1;
            i += 1;
        }
        if let Some((row, idf)) = lookup(hash) {
            let w = (1.0 + (count as f32).ln()) * idf;
            norms[block as usize] += w * w;
            out.push((row, w));
            blocks.push(block);
        }
    }
    for (entry, block) in out.iter_mut().zip(&blocks) {
        let norm = norms[*block as usize].sqrt();
        if norm > 0.0 {
            entry.1 /= norm;
        }
    }
    out.sort_unstable_by_key(|(row, _)| *row);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hashes(text: &str) -> Vec<(u64, Block)> {
        let mut out = Vec::new();
        raw(text, &mut out);
        out
    }

    #[test]
    fn folding_digits_and_stems_meet() {
        let mut a = hashes("Refunds for order 2024113012345");
        let mut b = hashes("ＲＥＦＵＮＤ for order 77");
        a.retain(|(_, b)| *b == Block::Words);
        b.retain(|(_, b)| *b == Block::Words);
        // "refunds"/"refund" stem alike only when long enough to strip: "refund" is
        // kept whole and "refunds" loses its "s".
        assert_eq!(a, b);
    }

    #[test]
    fn chinese_gives_ideographs_and_runs() {
        let f = hashes("我要退款");
        // 4 unigrams + 3 bigrams + 2 trigrams, no character block.
        assert_eq!(f.len(), 9);
        assert!(f.iter().all(|(_, b)| *b == Block::Words));
    }

    #[test]
    fn a_typo_keeps_most_character_grams() {
        let chars = |t: &str| -> std::collections::HashSet<u64> {
            hashes(t)
                .into_iter()
                .filter(|(_, b)| *b == Block::Chars)
                .map(|(h, _)| h)
                .collect()
        };
        let right = chars("transfer");
        let typo = chars("tranfser");
        let shared = right.intersection(&typo).count();
        assert!(shared * 3 >= right.len(), "{shared} of {}", right.len());
    }

    #[test]
    fn weighing_normalises_each_block() {
        let mut r = hashes("card lost card stolen");
        let mut rows = std::collections::HashMap::new();
        let mut out = Vec::new();
        weigh(
            &mut r,
            |h| {
                let n = rows.len() as u32;
                Some((*rows.entry(h).or_insert(n), 1.0))
            },
            &mut out,
        );
        let total: f32 = out.iter().map(|(_, w)| w * w).sum();
        assert!((total - 2.0).abs() < 1e-4, "two unit blocks: {total}");
        assert!(out.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
