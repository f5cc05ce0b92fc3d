//! Text helpers for Chinese and English customer messages: width and case
//! folding, tokens without a word segmenter, n-grams, fuzzy matching and
//! number spotting. The host uses the same functions for knowledge search, so
//! plugins and host agree on what a "token" is.

/// True for CJK ideographs (the characters Chinese words are written in).
pub fn is_cjk(c: char) -> bool {
    matches!(c,
        '\u{4E00}'..='\u{9FFF}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2A6DF}')
}

/// Full-width forms to half-width, ideographic space to space, then lowercase.
/// One char in, one char out, so offsets can be mapped back.
pub fn fold_char(c: char) -> char {
    let c = match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    };
    if c.is_ascii() {
        c.to_ascii_lowercase()
    } else {
        c.to_lowercase().next().unwrap_or(c)
    }
}

/// Folded text (see [`fold_char`]).
pub fn normalize(text: &str) -> String {
    text.chars().map(fold_char).collect()
}

/// Folded text plus, for every byte of it, the byte offset in `text` of the
/// char it came from (with one extra entry for the end), so a match found in
/// the folded text can be reported against the original.
pub fn normalize_with_offsets(text: &str) -> (String, Vec<usize>) {
    let mut folded = String::with_capacity(text.len());
    let mut offsets = Vec::with_capacity(text.len() + 1);
    for (at, c) in text.char_indices() {
        let f = fold_char(c);
        for _ in 0..f.len_utf8() {
            offsets.push(at);
        }
        folded.push(f);
    }
    offsets.push(text.len());
    (folded, offsets)
}

/// Tokens for matching, on folded text: every CJK ideograph and every pair of
/// adjacent ideographs (Chinese needs no segmenter this way), and every run of
/// letters or digits as one word.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_cjk: Option<char> = None;
    for c in text.chars().map(fold_char) {
        if is_cjk(c) {
            flush_word(&mut word, &mut out);
            out.push(c.to_string());
            if let Some(p) = prev_cjk {
                let mut pair = String::with_capacity(6);
                pair.push(p);
                pair.push(c);
                out.push(pair);
            }
            prev_cjk = Some(c);
        } else {
            prev_cjk = None;
            if c.is_alphanumeric() || c == '\'' {
                if c != '\'' {
                    word.push(c);
                }
            } else {
                flush_word(&mut word, &mut out);
            }
        }
    }
    flush_word(&mut word, &mut out);
    out
}

fn flush_word(word: &mut String, out: &mut Vec<String>) {
    if !word.is_empty() {
        out.push(std::mem::take(word));
    }
}

/// English function words: frequent everywhere, so they only add noise to
/// matching (question words such as "where" and "when" stay: they carry intent).
pub const ENGLISH_STOPWORDS: [&str; 36] = [
    "a", "an", "the", "is", "are", "am", "was", "be", "i", "im", "me", "my", "you", "your", "u",
    "it", "its", "this", "that", "to", "for", "of", "on", "in", "at", "and", "or", "so", "just",
    "with", "whats", "do", "does", "pls", "please", "s",
];

/// Words that make a question a question, not what it is about: they are in
/// every customer's message, whatever the topic ("how", "can", "what"), so a
/// match on them says nothing about whether an article answers it.
const QUESTION_WORDS: [&str; 30] = [
    "how", "what", "when", "where", "which", "who", "why", "can", "could", "would", "will",
    "should", "there", "any", "we", "our", "us", "they", "them", "if", "not", "dont", "hi",
    "hello", "thanks", "get", "have", "has", "did", "much",
];

/// CJK characters that carry no topic: particles, pronouns, question words,
/// modal verbs, measure words.
const CJK_FUNCTION_CHARS: &str = "的了吗呢吧啊呀嘛哦么我你您他她它们是在有没能可以会怎要不这那哪个什时候多少还就也都和与及请问帮一下好吗谁几给让把被对";

/// The terms of a question that say what it is about: CJK characters other
/// than function characters, and Latin words other than function and
/// question words, without a plural "s" and cut to their first five letters
/// (inflections and typos past the fifth letter still match). Digits say
/// nothing about a topic.
pub fn informative_terms(text: &str) -> Vec<String> {
    let mut terms: Vec<String> = tokens(text)
        .into_iter()
        .filter(|t| {
            let mut chars = t.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if is_cjk(c) => !CJK_FUNCTION_CHARS.contains(c),
                (Some(c), Some(_)) if is_cjk(c) => false, // pairs: the characters count
                (Some(_), _) => {
                    !t.chars().all(|c| c.is_ascii_digit())
                        && !is_stopword(t)
                        && !QUESTION_WORDS.contains(&t.as_str())
                }
                (None, _) => false,
            }
        })
        .map(|t| {
            // "rings" and "ring" are one term: a plural's "s" goes before the cut.
            let stem = match t.strip_suffix('s') {
                Some(stem) if stem.chars().count() >= 3 && !stem.ends_with('s') => stem,
                _ => t.as_str(),
            };
            stem.chars().take(5).collect()
        })
        .collect();
    terms.sort();
    terms.dedup();
    terms
}

/// The share, in [0, 1], of `query`'s [`informative_terms`] that `vocabulary`
/// (a text's informative terms, or all its terms cut the same way) holds; 0
/// when the query has none.
pub fn coverage(query: &str, vocabulary: &std::collections::HashSet<String>) -> f32 {
    let terms = informative_terms(query);
    if terms.is_empty() {
        return 0.0;
    }
    let held = terms.iter().filter(|t| vocabulary.contains(*t)).count();
    held as f32 / terms.len() as f32
}

/// Whether a folded token is an English function word.
pub fn is_stopword(token: &str) -> bool {
    ENGLISH_STOPWORDS.contains(&token)
}

/// Character n-grams of `word` padded with `^` and `$`, so short words and
/// word boundaries count. Typos change only a few of them.
pub fn char_ngrams(word: &str, n: usize) -> Vec<String> {
    let padded: Vec<char> = std::iter::once('^')
        .chain(word.chars())
        .chain(std::iter::once('$'))
        .collect();
    if padded.len() < n {
        return vec![padded.iter().collect()];
    }
    padded.windows(n).map(|w| w.iter().collect()).collect()
}

/// Edit distance between `a` and `b` where swapping two neighbours counts as
/// one edit (optimal string alignment: typed typos are mostly swaps, drops and
/// doubled keys), giving up (returning `max + 1`) once it must exceed `max`.
pub fn edit_distance(a: &str, b: &str, max: usize) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    edit_distance_chars(&a, &b, max)
}

/// [`edit_distance`] on pre-split chars; allocation-free for words under 32 chars.
pub fn edit_distance_chars(a: &[char], b: &[char], max: usize) -> usize {
    if a.len().abs_diff(b.len()) > max {
        return max + 1;
    }
    const STACK: usize = 32;
    let width = b.len() + 1;
    let mut stack = [[0usize; STACK]; 3];
    let mut heap;
    let (before_prev, prev, cur) = if width <= STACK {
        let [x, y, z] = &mut stack;
        (&mut x[..width], &mut y[..width], &mut z[..width])
    } else {
        heap = vec![vec![0usize; width]; 3];
        let (x, rest) = heap.split_at_mut(1);
        let (y, z) = rest.split_at_mut(1);
        (&mut x[0][..], &mut y[0][..], &mut z[0][..])
    };
    for (j, cell) in prev.iter_mut().enumerate() {
        *cell = j;
    }
    let (mut before_prev, mut prev, mut cur) = (before_prev, prev, cur);
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (prev[j - 1] + cost).min(prev[j] + 1).min(cur[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(before_prev[j - 2] + 1);
            }
            cur[j] = best;
            row_min = row_min.min(best);
        }
        if row_min > max {
            return max + 1;
        }
        std::mem::swap(&mut before_prev, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()].min(max + 1)
}

/// A word or phrase to look for, folded and split once (at a plugin's `init`).
#[derive(Clone, Debug)]
pub struct Needle {
    folded: String,
    chars: Vec<char>,
    /// A single Latin word of 5+ letters: one typo is tolerated.
    fuzzy: bool,
}

impl Needle {
    pub fn new(word: &str) -> Needle {
        let folded = normalize(word.trim());
        let fuzzy = folded.len() >= 5 && folded.chars().all(|c| c.is_ascii_alphabetic());
        Needle {
            chars: folded.chars().collect(),
            folded,
            fuzzy,
        }
    }

    /// The folded form.
    pub fn as_str(&self) -> &str {
        &self.folded
    }

    pub fn is_empty(&self) -> bool {
        self.folded.is_empty()
    }
}

/// A message prepared once for many [`Needle`] searches: folded, with its
/// Latin words split out for typo-tolerant matching.
pub struct Haystack {
    folded: String,
    /// (start, end, chars) of every alphanumeric word of the folded text.
    words: Vec<(usize, usize, Vec<char>)>,
}

impl Haystack {
    /// Prepare an already folded text (see [`normalize`]).
    pub fn from_folded(folded: String) -> Haystack {
        let words = words_with_offsets(&folded)
            .filter(|(_, w)| w.is_ascii())
            .map(|(start, w)| (start, start + w.len(), w.chars().collect()))
            .collect();
        Haystack { folded, words }
    }

    pub fn new(text: &str) -> Haystack {
        Haystack::from_folded(normalize(text))
    }

    pub fn folded(&self) -> &str {
        &self.folded
    }

    /// The first place `needle` occurs (byte range of the folded text).
    pub fn find(&self, needle: &Needle) -> Option<(usize, usize)> {
        if needle.is_empty() {
            return None;
        }
        if let Some((at, _)) = self
            .folded
            .match_indices(&needle.folded)
            .find(|(at, _)| is_word_bounded(&self.folded, *at, &needle.folded))
        {
            return Some((at, at + needle.folded.len()));
        }
        if needle.fuzzy {
            for (start, end, chars) in &self.words {
                if chars.len().abs_diff(needle.chars.len()) <= 1
                    && edit_distance_chars(chars, &needle.chars, 1) <= 1
                {
                    return Some((*start, *end));
                }
            }
        }
        None
    }

    pub fn contains(&self, needle: &Needle) -> bool {
        self.find(needle).is_some()
    }
}

/// Where `needle` occurs in `haystack` (both already folded), as byte ranges of
/// `haystack`. For a Latin-script needle of 5 or more letters, a word of the
/// haystack within one edit also counts (typos such as "refnud"). For many
/// needles against one text, prepare a [`Haystack`] and [`Needle`]s instead.
pub fn find_fuzzy(haystack: &str, needle: &str) -> Vec<(usize, usize)> {
    let mut found: Vec<(usize, usize)> = haystack
        .match_indices(needle)
        .filter(|(at, _)| is_word_bounded(haystack, *at, needle))
        .map(|(at, m)| (at, at + m.len()))
        .collect();
    let latin_word = needle.chars().all(|c| c.is_ascii_alphabetic());
    if found.is_empty() && latin_word && needle.len() >= 5 {
        for (start, word) in words_with_offsets(haystack) {
            if edit_distance(word, needle, 1) <= 1 {
                found.push((start, start + word.len()));
            }
        }
    }
    found
}

/// A Latin-script needle must not start or end inside a longer word ("sue" is
/// not in "issue"); CJK needles match anywhere.
fn is_word_bounded(haystack: &str, at: usize, needle: &str) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric();
    let first_is_word = needle.chars().next().is_some_and(is_word);
    let last_is_word = needle.chars().last().is_some_and(is_word);
    let before = haystack[..at].chars().next_back();
    let after = haystack[at + needle.len()..].chars().next();
    !(first_is_word && before.is_some_and(is_word) || last_is_word && after.is_some_and(is_word))
}

fn words_with_offsets(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(move |w| (w.as_ptr() as usize - text.as_ptr() as usize, w))
}

/// A mainland resident ID number (GB 11643) at a digit run: 18 digits, or 17
/// followed by `X` (`next_char`), whose last character matches the weighted
/// checksum. Returns the 18 characters (ASCII).
pub fn resident_id(digits: &str, next_char: Option<char>) -> Option<String> {
    let (body, check) = match (digits.len(), next_char) {
        (17, Some('X' | 'x')) => (digits, 'X'),
        (18, _) => (&digits[..17], digits.as_bytes()[17] as char),
        _ => return None,
    };
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let expected = b"10X98765432"[(sum % 11) as usize] as char;
    (check == expected).then(|| format!("{body}{check}"))
}

/// A bank card number: 16 to 19 digits passing the Luhn check.
pub fn is_bank_card(digits: &str) -> bool {
    if !(16..=19).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// A mainland mobile number: 11 digits `1[3-9]…`, optionally after country code 86.
pub fn is_cn_mobile(digits: &str) -> bool {
    let d = digits
        .strip_prefix("86")
        .filter(|d| d.len() == 11)
        .unwrap_or(digits);
    d.len() == 11 && d.starts_with('1') && matches!(d.as_bytes()[1], b'3'..=b'9')
}

/// A run of digits in a message, possibly written with full-width digits or
/// grouped by single spaces or dashes ("138 0013 8000").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NumberRun {
    /// Byte offset in the original text.
    pub start: usize,
    /// Byte offset just past the last digit.
    pub end: usize,
    /// The digits only, ASCII.
    pub digits: String,
}

/// Every digit run of `text`. With `allow_groups`, one space or dash between
/// digits keeps the run going.
pub fn number_runs(text: &str, allow_groups: bool) -> Vec<NumberRun> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut runs = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if ascii_digit(chars[i].1).is_none() {
            i += 1;
            continue;
        }
        let start = chars[i].0;
        let mut digits = String::new();
        let mut end = start;
        while i < chars.len() {
            let (at, c) = chars[i];
            if let Some(d) = ascii_digit(c) {
                digits.push(d);
                end = at + c.len_utf8();
                i += 1;
            } else if allow_groups
                && matches!(c, ' ' | '-')
                && chars
                    .get(i + 1)
                    .is_some_and(|(_, n)| ascii_digit(*n).is_some())
            {
                i += 1;
            } else {
                break;
            }
        }
        // A letter glued to the digits (order "A1234") belongs to another token kind.
        runs.push(NumberRun { start, end, digits });
    }
    runs
}

fn ascii_digit(c: char) -> Option<char> {
    match c {
        '0'..='9' => Some(c),
        '\u{FF10}'..='\u{FF19}' => char::from_u32(c as u32 - 0xFF10 + '0' as u32),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_width_and_case() {
        assert_eq!(normalize("ＲＥＦＵＮＤ　１２３"), "refund 123");
        assert_eq!(normalize("我要退款"), "我要退款");
    }

    #[test]
    fn offsets_map_back_to_original() {
        let text = "Ａ投诉b";
        let (folded, offsets) = normalize_with_offsets(text);
        let at = folded.find("投诉").unwrap();
        let end = at + "投诉".len();
        assert_eq!(&text[offsets[at]..offsets[end]], "投诉");
    }

    #[test]
    fn tokens_split_chinese_into_chars_and_pairs() {
        assert_eq!(tokens("退款 Refund!"), vec!["退", "款", "退款", "refund"]);
    }

    #[test]
    fn fuzzy_finds_one_typo_in_long_latin_words_only() {
        assert_eq!(find_fuzzy("i want a refnud now", "refund"), vec![(9, 15)]);
        assert!(find_fuzzy("the issue is", "sue").is_empty());
        assert_eq!(find_fuzzy("i will sue you", "sue"), vec![(7, 10)]);
    }

    #[test]
    fn prepared_haystack_agrees_with_find_fuzzy() {
        let hay = Haystack::new("I want a REFNUD now, the issue is 投诉");
        for word in ["refund", "sue", "投诉", "issue", "now", "money back"] {
            let expected = find_fuzzy(hay.folded(), &normalize(word)).first().copied();
            assert_eq!(hay.find(&Needle::new(word)), expected, "{word}");
        }
        let long: String = "a".repeat(40);
        assert_eq!(edit_distance(&long, &format!("{long}b"), 1), 1);
    }

    #[test]
    fn edit_distance_is_bounded() {
        assert_eq!(edit_distance("kitten", "sitting", 5), 3);
        assert_eq!(edit_distance("refund", "refnud", 2), 1);
        assert_eq!(edit_distance("a", "abcdef", 2), 3);
    }

    #[test]
    fn personal_numbers_are_recognised() {
        assert_eq!(
            resident_id("11010519491231002", Some('X')).as_deref(),
            Some("11010519491231002X")
        );
        assert!(resident_id("11010519491231002", Some('1')).is_none());
        assert!(
            resident_id("110105194912310021", None).is_none(),
            "wrong check digit"
        );
        assert!(is_bank_card("4111111111111111"));
        assert!(!is_bank_card("4111111111111112"));
        assert!(is_cn_mobile("13812345678") && is_cn_mobile("8613812345678"));
        assert!(!is_cn_mobile("2024113012345"));
    }

    #[test]
    fn number_runs_read_full_width_and_groups() {
        let runs = number_runs("电话 １３８ 0013-8000，订单2024", true);
        assert_eq!(runs[0].digits, "13800138000");
        assert_eq!(runs[1].digits, "2024");
        let plain = number_runs("138 0013", false);
        assert_eq!(plain.len(), 2);
    }
}

#[cfg(test)]
mod coverage_tests {
    use super::*;

    fn vocabulary(text: &str) -> std::collections::HashSet<String> {
        informative_terms(text).into_iter().collect()
    }

    #[test]
    fn coverage_counts_what_a_question_is_about_not_how_it_asks() {
        let article = vocabulary(
            "港澳台及国际配送 International shipping: we ship to 40 countries, 可以寄到美国、日本",
        );
        assert_eq!(coverage("可以寄到美国吗", &article), 1.0);
        assert_eq!(coverage("do you ship internationally?", &article), 1.0);
        // Only the question words match: about something else.
        let delivery = vocabulary("配送时效说明：发货后什么时候到，一般 1-3 天送达");
        assert!(coverage("世界杯什么时候开始", &delivery) < 0.3);
        assert_eq!(coverage("???", &delivery), 0.0);
    }
}
