//! Personal data the host itself masks wherever text leaves the decision
//! path: log lines (the host's and plugins'), decision-trace details, audit
//! reasons and metric labels, and stored messages when a tenant asks for it.
//! Mobile and landline phone numbers, mainland resident ID numbers and bank
//! card numbers keep their last four digits; every other digit becomes `*`.
//!
//! This does not depend on any plugin: an inspector's `masked-text` is an
//! extra, the host masks even when no inspector ran.

use std::borrow::Cow;

use switchyard_sdk::text::{is_bank_card, is_cn_mobile, number_runs, resident_id};

/// What kind of personal number a digit run is, if any.
fn is_personal(text: &str, run: &switchyard_sdk::text::NumberRun) -> Option<usize> {
    let digits = run.digits.as_str();
    let next = text[run.end..].chars().next();
    if resident_id(digits, next).is_some() {
        // A trailing X check character is part of the number.
        let x = matches!(next, Some('X' | 'x')) && digits.len() == 17;
        return Some(run.end + usize::from(x));
    }
    let international = text[..run.start].ends_with('+') && digits.len() >= 8;
    let landline = digits.starts_with('0') && (10..=12).contains(&digits.len());
    (is_cn_mobile(digits) || is_bank_card(digits) || international || landline).then_some(run.end)
}

/// `text` with phone, ID and bank card numbers masked; borrowed when there is
/// nothing to mask.
pub fn mask(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|b| b.is_ascii_digit()) && !text.contains(|c| ('０'..='９').contains(&c))
    {
        return Cow::Borrowed(text);
    }
    let mut spans = Vec::new();
    for run in number_runs(text, true) {
        if let Some(end) = is_personal(text, &run) {
            spans.push((run.start, end));
        }
    }
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for (start, end) in spans {
        out.push_str(&text[at..start]);
        let span = &text[start..end];
        let digits = span.chars().filter(|c| c.is_alphanumeric()).count();
        let keep_from = digits.saturating_sub(4);
        let mut seen = 0;
        for c in span.chars() {
            if c.is_alphanumeric() {
                out.push(if seen < keep_from { '*' } else { c });
                seen += 1;
            } else {
                out.push(c);
            }
        }
        at = end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::mask;

    #[test]
    fn phones_ids_and_cards_keep_only_their_last_four_digits() {
        assert_eq!(mask("call me at 13812345678"), "call me at *******5678");
        assert_eq!(mask("手机 138 1234 5678。"), "手机 *** **** 5678。");
        assert_eq!(mask("+44 20 7946 0958"), "+** ** **** 0958");
        assert_eq!(mask("010-62345678"), "***-****5678");
        // GB 11643 checksum, with and without the X check character.
        assert_eq!(mask("身份证11010519491231002X"), "身份证**************002X");
        assert_eq!(mask("id 110105194912310021?"), "id 110105194912310021?");
        assert_eq!(
            mask("card 6222 0212 3456 7890 128"),
            "card **** **** **** ***0 128"
        );
        assert_eq!(mask("卡号4111111111111111"), "卡号************1111");
    }

    #[test]
    fn order_numbers_and_plain_text_are_left_alone() {
        assert_eq!(
            mask("订单 2024113012345 到哪里了"),
            "订单 2024113012345 到哪里了"
        );
        assert!(matches!(mask("no digits"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(mask("12315"), "12315");
    }
}
