//! Personal data in a customer's words: phone numbers, resident ID numbers,
//! bank card numbers and e-mail addresses. The host masks with it wherever
//! text leaves the decision path (logs, traces, stored texts, replies,
//! tickets) and the first-party plugins find with it (the inspector's
//! findings, the classifier's entities), so both agree on what is personal.
//!
//! A number is personal by its shape (a checksum-valid ID or card, a mainland
//! mobile, a landline with its area code, an international number) or because
//! the customer announced it ("身份证", "card number", "电话"), whatever its
//! checksum: a mistyped ID is still somebody's ID. A number the customer
//! announced as an order number is not personal, whatever its shape: an
//! 18-digit order number passes a Luhn check one time in ten.
//!
//! Digits may be written full-width and grouped by up to three of
//! ` -./()` between groups ("138.1234.5678", "138 1234  5678",
//! "+1 (415) 555-0132"). Masking keeps the layout and the last four
//! characters: `138.1234.5678` → `***.****.5678`.

use std::borrow::Cow;

use crate::text::{fold_char, is_bank_card, is_cn_mobile, resident_id};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PersonalKind {
    Phone,
    IdCard,
    BankCard,
    Email,
}

impl PersonalKind {
    /// The finding code the inspector reports (`phone`, `id-card`, ...).
    pub fn code(self) -> &'static str {
        match self {
            PersonalKind::Phone => "phone",
            PersonalKind::IdCard => "id-card",
            PersonalKind::BankCard => "bank-card",
            PersonalKind::Email => "email",
        }
    }

    /// What it is, for a person reading a finding.
    pub fn describe(self) -> &'static str {
        match self {
            PersonalKind::Phone => "phone number",
            PersonalKind::IdCard => "ID number",
            PersonalKind::BankCard => "bank card number",
            PersonalKind::Email => "e-mail address",
        }
    }
}

/// A piece of personal data: byte offsets into the text it was found in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonalSpan {
    pub start: usize,
    pub end: usize,
    pub kind: PersonalKind,
}

/// Digit groups one number may span: "+86 138 1234 5678" is four.
const MAX_GROUPS: usize = 8;
/// The longest personal number (a 19-digit card).
const MAX_DIGITS: usize = 19;
/// Characters before a number searched for the word that announces it
/// ("my ID card number is ").
const CUE_WINDOW_CHARS: usize = 24;
/// An order cue this far before a number or further announces something
/// else ("订单 我要投诉！座机 010-…" is a landline).
const ORDER_CUE_REACH_CHARS: usize = 12;
/// At most this many separator characters between two groups of one number.
const MAX_SEPARATOR_CHARS: usize = 3;

/// What the words just before a number say it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cue {
    Order,
    IdCard,
    BankCard,
    Phone,
}

/// Folded cue words. A Latin cue must start a word ("id" is not in "paid").
/// "#" and "no." are left out: "card no." and "phone #" name what follows.
const CUES: &[(&str, Cue)] = &[
    ("订单", Cue::Order),
    ("单号", Cue::Order),
    ("运单", Cue::Order),
    ("编号", Cue::Order),
    ("order", Cue::Order),
    ("tracking", Cue::Order),
    ("身份证", Cue::IdCard),
    ("证件", Cue::IdCard),
    ("身份号", Cue::IdCard),
    ("护照", Cue::IdCard),
    ("id", Cue::IdCard),
    ("identity", Cue::IdCard),
    ("passport", Cue::IdCard),
    ("ssn", Cue::IdCard),
    ("social security", Cue::IdCard),
    ("卡号", Cue::BankCard),
    ("银行卡", Cue::BankCard),
    ("信用卡", Cue::BankCard),
    ("储蓄卡", Cue::BankCard),
    ("借记卡", Cue::BankCard),
    ("账号", Cue::BankCard),
    ("账户", Cue::BankCard),
    ("card", Cue::BankCard),
    ("account", Cue::BankCard),
    ("acct", Cue::BankCard),
    ("iban", Cue::BankCard),
    ("电话", Cue::Phone),
    ("座机", Cue::Phone),
    ("固话", Cue::Phone),
    ("landline", Cue::Phone),
    ("手机", Cue::Phone),
    ("联系方式", Cue::Phone),
    ("致电", Cue::Phone),
    ("phone", Cue::Phone),
    ("tel", Cue::Phone),
    ("mobile", Cue::Phone),
    ("cell", Cue::Phone),
    ("call me", Cue::Phone),
    ("whatsapp", Cue::Phone),
];

/// The cue nearest before byte `at` of `text`, within [`CUE_WINDOW_CHARS`]
/// and after byte `from` (the previous number: a cue announces one number).
fn cue_before(text: &str, from: usize, at: usize) -> Option<Cue> {
    let window: String = {
        let mut chars: Vec<char> = text[from..at]
            .chars()
            .rev()
            .take(CUE_WINDOW_CHARS)
            .map(fold_char)
            .collect();
        chars.reverse();
        chars.into_iter().collect()
    };
    let mut nearest: Option<(usize, Cue)> = None;
    let reach_from = window
        .char_indices()
        .rev()
        .nth(ORDER_CUE_REACH_CHARS - 1)
        .map_or(0, |(at, _)| at);
    for (word, cue) in CUES {
        let latin = word.as_bytes()[0].is_ascii_alphabetic();
        for (pos, _) in window.match_indices(word) {
            let starts_word = !latin
                || !window[..pos]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphabetic());
            let in_reach = *cue != Cue::Order || pos + word.len() >= reach_from;
            if starts_word && in_reach && nearest.is_none_or(|(p, _)| pos >= p) {
                nearest = Some((pos, *cue));
            }
        }
    }
    nearest.map(|(_, cue)| cue)
}

fn digit(c: char) -> Option<char> {
    match c {
        '0'..='9' => Some(c),
        '\u{FF10}'..='\u{FF19}' => char::from_u32(c as u32 - 0xFF10 + '0' as u32),
        _ => None,
    }
}

fn is_separator(c: char) -> bool {
    matches!(
        c,
        ' ' | '-' | '.' | '/' | '(' | ')' | '\u{3000}' | '\u{FF0D}'
    )
}

/// A maximal run of digits.
struct Group {
    start: usize,
    end: usize,
    digits: String,
    /// Joined to the previous group by separators only.
    joined: bool,
}

fn digit_groups(text: &str) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    let mut chars = text.char_indices().peekable();
    let mut gap = 0usize; // separator chars since the last group, or MAX+1
    while let Some((at, c)) = chars.next() {
        if let Some(d) = digit(c) {
            let mut group = Group {
                start: at,
                end: at + c.len_utf8(),
                digits: d.to_string(),
                joined: !groups.is_empty() && (1..=MAX_SEPARATOR_CHARS).contains(&gap),
            };
            while let Some(&(at, c)) = chars.peek() {
                let Some(d) = digit(c) else { break };
                group.digits.push(d);
                group.end = at + c.len_utf8();
                chars.next();
            }
            groups.push(group);
            gap = 0;
        } else if is_separator(c) {
            gap += 1;
        } else {
            gap = MAX_SEPARATOR_CHARS + 1;
        }
    }
    groups
}

/// What the digits of groups `first..=last` are, if personal.
fn classify(
    text: &str,
    groups: &[Group],
    first: usize,
    last: usize,
) -> Option<(usize, PersonalKind)> {
    let digits: String = groups[first..=last]
        .iter()
        .map(|g| g.digits.as_str())
        .collect();
    let (start, end) = (groups[first].start, groups[last].end);
    let before = text[..start].chars().next_back();
    let next = text[end..].chars().next();
    let with_x = digits.len() == 17 && matches!(next, Some('X' | 'x'));
    let end_x = end + usize::from(with_x);
    let after = text[end_x..].chars().next();
    let previous_end = first.checked_sub(1).map_or(0, |p| groups[p].end);
    let cue = cue_before(text, previous_end, start);
    if cue == Some(Cue::Order) {
        return None;
    }
    // Part of a code such as "SF1381234567890" unless the customer said what it is.
    let glued = before.is_some_and(|c| c.is_ascii_alphabetic())
        || after.is_some_and(|c| c.is_ascii_alphanumeric());
    if glued && cue.is_none() {
        return None;
    }
    let n = digits.len();
    match cue {
        Some(Cue::IdCard) if n == 15 || n == 18 || with_x => {
            return Some((end_x, PersonalKind::IdCard));
        }
        Some(Cue::BankCard) if (12..=19).contains(&n) => {
            return Some((end, PersonalKind::BankCard));
        }
        Some(Cue::Phone) if (7..=15).contains(&n) => return Some((end, PersonalKind::Phone)),
        _ => {}
    }
    if resident_id(&digits, next).is_some() {
        return Some((end_x, PersonalKind::IdCard));
    }
    if is_bank_card(&digits) {
        return Some((end, PersonalKind::BankCard));
    }
    let international = before == Some('+') && (8..=15).contains(&n)
        || digits.starts_with("00") && (10..=15).contains(&n);
    let landline = digits.starts_with('0') && (10..=12).contains(&n);
    // North American "415-555-0132", "(415) 555-0132".
    let north_american = last - first == 2
        && groups[first].digits.len() == 3
        && groups[first + 1].digits.len() == 3
        && groups[last].digits.len() == 4;
    (is_cn_mobile(&digits) || international || landline || north_american)
        .then_some((end, PersonalKind::Phone))
}

/// Every piece of personal data in `text`, in text order, not overlapping.
pub fn find_personal(text: &str) -> Vec<PersonalSpan> {
    let mut found = Vec::new();
    if text.bytes().any(|b| b.is_ascii_digit()) || text.contains(|c| digit(c).is_some()) {
        let groups = digit_groups(text);
        let mut first = 0;
        while first < groups.len() {
            // The longest run of joined groups from `first` that is personal.
            let mut best = None;
            let mut digits = 0;
            let mut last = first;
            while last < groups.len() && last - first < MAX_GROUPS {
                if last > first && !groups[last].joined {
                    break;
                }
                digits += groups[last].digits.len();
                if digits > MAX_DIGITS {
                    break;
                }
                if digits >= 7
                    && let Some((end, kind)) = classify(text, &groups, first, last)
                {
                    best = Some((last, end, kind));
                }
                last += 1;
            }
            match best {
                Some((last, end, kind)) => {
                    found.push(PersonalSpan {
                        start: groups[first].start,
                        end,
                        kind,
                    });
                    first = last + 1;
                }
                None => first += 1,
            }
        }
    }
    if text.contains('@') {
        found.extend(emails(text));
        found.sort_by_key(|s| s.start);
        // A number inside an address is the address's.
        let mut kept: Vec<PersonalSpan> = Vec::with_capacity(found.len());
        for span in found {
            match kept.last_mut() {
                Some(prev) if span.start < prev.end => {
                    if span.kind == PersonalKind::Email {
                        *prev = span;
                    }
                }
                _ => kept.push(span),
            }
        }
        found = kept;
    }
    found
}

/// E-mail addresses: `local@domain.tld`, ASCII.
fn emails(text: &str) -> Vec<PersonalSpan> {
    let local = |c: u8| c.is_ascii_alphanumeric() || b"._%+-".contains(&c);
    let domain = |c: u8| c.is_ascii_alphanumeric() || b".-".contains(&c);
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    for (at, _) in text.match_indices('@') {
        let mut start = at;
        while start > 0 && local(bytes[start - 1]) {
            start -= 1;
        }
        while start < at && !bytes[start].is_ascii_alphanumeric() {
            start += 1;
        }
        let mut end = at + 1;
        while end < bytes.len() && domain(bytes[end]) {
            end += 1;
        }
        while end > at + 1 && !bytes[end - 1].is_ascii_alphanumeric() {
            end -= 1;
        }
        let host = &text[at + 1..end];
        let tld_ok = host
            .rsplit_once('.')
            .is_some_and(|(name, tld)| !name.is_empty() && tld.len() >= 2);
        if start < at && tld_ok && out.last().is_none_or(|s: &PersonalSpan| s.end <= start) {
            out.push(PersonalSpan {
                start,
                end,
                kind: PersonalKind::Email,
            });
        }
    }
    out
}

/// `span` (the text of one finding) masked: an address keeps its first
/// character and its domain; a number keeps its layout and last four
/// characters.
pub fn mask_span(span: &str, kind: PersonalKind) -> String {
    if kind == PersonalKind::Email
        && let Some((local, domain)) = span.split_once('@')
    {
        let first = local.chars().next().unwrap_or('*');
        return format!("{first}***@{domain}");
    }
    let visible = span.chars().filter(|c| c.is_alphanumeric()).count();
    let keep_from = visible.saturating_sub(4);
    let mut seen = 0;
    span.chars()
        .map(|c| {
            if c.is_alphanumeric() {
                seen += 1;
                if seen > keep_from { c } else { '*' }
            } else {
                c
            }
        })
        .collect()
}

/// `text` with every piece of personal data masked; borrowed when there is
/// none.
pub fn mask_personal(text: &str) -> Cow<'_, str> {
    let spans = find_personal(text);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for span in spans {
        out.push_str(&text[at..span.start]);
        out.push_str(&mask_span(&text[span.start..span.end], span.kind));
        at = span.end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(&str, PersonalKind)> {
        find_personal(text)
            .into_iter()
            .map(|s| (&text[s.start..s.end], s.kind))
            .collect()
    }

    #[test]
    fn phones_ids_and_cards_keep_only_their_last_four_characters() {
        assert_eq!(
            mask_personal("call me at 13812345678"),
            "call me at *******5678"
        );
        assert_eq!(
            mask_personal("手机 138 1234 5678。"),
            "手机 *** **** 5678。"
        );
        assert_eq!(mask_personal("+44 20 7946 0958"), "+** ** **** 0958");
        assert_eq!(mask_personal("010-62345678"), "***-****5678");
        assert_eq!(
            mask_personal("身份证11010519491231002X"),
            "身份证**************002X"
        );
        assert_eq!(
            mask_personal("卡号4111111111111111"),
            "卡号************1111"
        );
    }

    #[test]
    fn the_separators_the_old_masker_missed_are_read() {
        for (text, masked) in [
            ("138.1234.5678", "***.****.5678"),
            ("138 1234  5678", "*** ****  5678"),
            ("138/1234/5678", "***/****/5678"),
            ("4111.1111.1111.1111", "****.****.****.1111"),
            ("+1 415-555-0132", "+* ***-***-0132"),
            ("(415) 555-0132", "(***) ***-0132"),
            ("１３８１２３４５６７８", "＊＊＊＊＊＊＊５６７８"),
        ] {
            let got = mask_personal(text);
            assert_eq!(got.replace('＊', "*"), masked.replace('＊', "*"), "{text}");
        }
    }

    #[test]
    fn announced_numbers_are_personal_whatever_their_checksum() {
        // Wrong check digit (…1234), and a card number failing Luhn.
        let text = "我的手机号13812345678，身份证号110101199003071234，卡号6222020200112233445";
        assert_eq!(
            kinds(text),
            [
                ("13812345678", PersonalKind::Phone),
                ("110101199003071234", PersonalKind::IdCard),
                ("6222020200112233445", PersonalKind::BankCard),
            ]
        );
        assert_eq!(
            kinds("my ID number is 110101199003071234 and card no. 4000 1234 5678 9010"),
            [
                ("110101199003071234", PersonalKind::IdCard),
                ("4000 1234 5678 9010", PersonalKind::BankCard),
            ]
        );
        assert_eq!(kinds("phone: 6234 5678")[0].1, PersonalKind::Phone);
    }

    #[test]
    fn order_numbers_stay_order_numbers() {
        for text in [
            "订单 2024113012345 到哪里了",
            "order 4111111111111111",
            "订单号 110101199003074258",
            "paid 1234567 yesterday",
            "tracking SF1381234567890",
            "2024.11.30 12:30",
            "12315",
        ] {
            assert_eq!(mask_personal(text), text, "{text}");
        }
        // An order cue reaches only the number it announces.
        assert_eq!(
            mask_personal("订单 我要投诉！座机 010-62345678"),
            "订单 我要投诉！座机 ***-****5678"
        );
        assert_eq!(
            mask_personal("订单的事先不说了，我的联系方式就是 13812345678"),
            "订单的事先不说了，我的联系方式就是 *******5678"
        );
        assert_eq!(
            mask_personal("about my order from last monday: 13812345678"),
            "about my order from last monday: *******5678"
        );
        assert_eq!(
            mask_personal("order number is 13812345678"),
            "order number is 13812345678"
        );
        // An order number next to a phone: the phone alone is masked.
        assert_eq!(
            mask_personal("订单 2024113012345 13812345678"),
            "订单 2024113012345 *******5678"
        );
    }

    #[test]
    fn email_addresses_are_masked_to_their_first_character() {
        assert_eq!(
            mask_personal("mail me at John.Doe+cs@example.co.uk, thanks"),
            "mail me at J***@example.co.uk, thanks"
        );
        assert_eq!(
            mask_personal("a@b is not one, x@y.z neither"),
            "a@b is not one, x@y.z neither"
        );
        assert_eq!(kinds("tel 13812345678@qq.com")[0].1, PersonalKind::Email);
    }

    #[test]
    fn eight_kib_of_digit_groups_is_linear() {
        assert!(find_personal(&"1 ".repeat(4096)).is_empty());
        let phones = "13812345678 ".repeat(700);
        assert_eq!(find_personal(&phones).len(), 700);
    }
}
