//! Inspect-slot plugin: flags sensitive words (complaint, compensation,
//! regulator, media, legal) in Chinese and English, and masks personal data
//! (phone numbers, resident ID numbers, bank card numbers, e-mail addresses;
//! see `switchyard_sdk::personal`).
//!
//! With `packs`, it also asks each named knowledge pack about the message
//! (`{"text": message, "context": [the last messages of the conversation]}`)
//! and adds the `findings` the pack answers (the pharmacy pack's drug
//! interactions, for example).
//!
//! Config (JSON): `{"sensitive": [{"word", "code", "severity"}], "mask": {"phone", "id_card", "bank_card", "email"}, "packs": ["pharmacy"]}`.

use std::cell::RefCell;

use serde::Deserialize;
use switchyard_sdk::personal::{self, PersonalKind};
use switchyard_sdk::prelude::*;

#[derive(Deserialize)]
struct Config {
    #[serde(default)]
    sensitive: Vec<SensitiveWord>,
    #[serde(default)]
    mask: MaskConfig,
    /// Knowledge packs asked about every message.
    #[serde(default)]
    packs: Vec<String>,
}

/// Earlier messages a pack sees with the current one ("I take warfarin" ...
/// "can I take aspirin?").
const PACK_CONTEXT_MESSAGES: u32 = 6;

/// A finding as a pack answers it (the WIT `finding`, in JSON).
#[derive(Deserialize)]
struct PackFinding {
    kind: String,
    code: String,
    severity: String,
    detail: String,
    #[serde(default)]
    start: u32,
    #[serde(default)]
    end: u32,
}

#[derive(Deserialize)]
struct PackAnswer {
    #[serde(default)]
    findings: Vec<PackFinding>,
}

#[derive(Deserialize)]
struct SensitiveWord {
    word: String,
    code: String,
    #[serde(default = "default_severity")]
    severity: String,
}

fn default_severity() -> String {
    "warning".into()
}

#[derive(Deserialize)]
struct MaskConfig {
    #[serde(default = "yes")]
    phone: bool,
    #[serde(default = "yes")]
    id_card: bool,
    #[serde(default = "yes")]
    bank_card: bool,
    #[serde(default = "yes")]
    email: bool,
}

impl Default for MaskConfig {
    fn default() -> Self {
        MaskConfig {
            phone: true,
            id_card: true,
            bank_card: true,
            email: true,
        }
    }
}

fn yes() -> bool {
    true
}

/// A sensitive word folded once at `init`, so `inspect` only searches.
struct Rule {
    needle: text::Needle,
    code: String,
    severity: Severity,
}

struct Inspector {
    rules: Vec<Rule>,
    mask: MaskConfig,
    packs: Vec<String>,
}

thread_local! {
    static STATE: RefCell<Option<Inspector>> = const { RefCell::new(None) };
}

pub struct Plugin;

impl switchyard_sdk::inspect::Guest for Plugin {
    fn init(config: String) -> Result<(), String> {
        let config: Config =
            serde_json::from_str(&config).map_err(|e| format!("inspector config: {e}"))?;
        let mut rules = Vec::with_capacity(config.sensitive.len());
        for w in config.sensitive {
            let severity = match w.severity.as_str() {
                "info" => Severity::Info,
                "warning" => Severity::Warning,
                "critical" => Severity::Critical,
                other => {
                    return Err(format!(
                        "inspector config: unknown severity {other:?} for {:?}",
                        w.word
                    ));
                }
            };
            let needle = text::Needle::new(&w.word);
            if needle.is_empty() {
                return Err("inspector config: empty sensitive word".into());
            }
            rules.push(Rule {
                needle,
                code: w.code,
                severity,
            });
        }
        STATE.with(|s| {
            *s.borrow_mut() = Some(Inspector {
                rules,
                mask: config.mask,
                packs: config.packs,
            })
        });
        Ok(())
    }

    fn inspect(turn: Turn) -> Inspection {
        STATE.with(|s| match &*s.borrow() {
            Some(inspector) => {
                let mut inspection = inspector.inspect(&turn.message.text);
                inspection
                    .findings
                    .extend(inspector.ask_packs(&turn.message.text));
                inspection.findings.sort_by_key(|f| f.start);
                inspection
            }
            None => Inspection {
                findings: vec![],
                masked_text: None,
            },
        })
    }
}

impl Inspector {
    /// What the configured packs find in the message. A pack that is missing
    /// or fails costs its findings, logged, never the inspection.
    fn ask_packs(&self, text: &str) -> Vec<Finding> {
        if self.packs.is_empty() {
            return Vec::new();
        }
        let context: Vec<String> = host::history(PACK_CONTEXT_MESSAGES)
            .into_iter()
            .map(|m| m.text)
            .collect();
        let query = serde_json::json!({ "text": text, "context": context }).to_string();
        let mut findings = Vec::new();
        for pack in &self.packs {
            let answer = host::query_pack(pack, &query)
                .and_then(|a| serde_json::from_str::<PackAnswer>(&a).map_err(|e| e.to_string()));
            let answer = match answer {
                Ok(answer) => answer,
                Err(e) => {
                    host::log(Level::Warn, &format!("pack {pack}: {e}"));
                    continue;
                }
            };
            for f in answer.findings {
                let severity = match f.severity.as_str() {
                    "critical" => Severity::Critical,
                    "warning" => Severity::Warning,
                    _ => Severity::Info,
                };
                // A span outside the message would be refused by the host;
                // such a finding is kept, untied to the text.
                let (start, end) = if f.start <= f.end
                    && text.is_char_boundary(f.start as usize)
                    && text.is_char_boundary(f.end as usize)
                    && (f.end as usize) <= text.len()
                {
                    (f.start, f.end)
                } else {
                    (0, 0)
                };
                findings.push(Finding {
                    kind: f.kind,
                    code: f.code,
                    severity,
                    detail: f.detail,
                    start,
                    end,
                });
            }
        }
        findings
    }

    fn inspect(&self, original: &str) -> Inspection {
        let (folded, offsets) = text::normalize_with_offsets(original);
        let haystack = text::Haystack::from_folded(folded);
        let mut findings = Vec::new();
        for rule in &self.rules {
            if let Some((start, end)) = haystack.find(&rule.needle) {
                let (start, end) = (offsets[start], offsets[end]);
                // One finding per word and code is enough for the agent; two
                // rules may share a word with different codes.
                findings.push(Finding {
                    kind: "sensitive-word".into(),
                    code: rule.code.clone(),
                    severity: rule.severity,
                    detail: format!("mentions \"{}\"", &original[start..end]),
                    start: start as u32,
                    end: end as u32,
                });
            }
        }
        // What is personal is the SDK's (the host masks with the same rules);
        // the config only chooses which kinds this tenant masks.
        let mut masks = Vec::new();
        for span in personal::find_personal(original) {
            let wanted = match span.kind {
                PersonalKind::Phone => self.mask.phone,
                PersonalKind::IdCard => self.mask.id_card,
                PersonalKind::BankCard => self.mask.bank_card,
                PersonalKind::Email => self.mask.email,
            };
            if !wanted {
                continue;
            }
            let masked = personal::mask_span(&original[span.start..span.end], span.kind);
            findings.push(Finding {
                kind: "pii".into(),
                code: span.kind.code().into(),
                severity: Severity::Info,
                detail: format!("{} {masked} masked", span.kind.describe()),
                start: span.start as u32,
                end: span.end as u32,
            });
            masks.push((span.start, span.end, masked));
        }
        let masked_text = (!masks.is_empty()).then(|| {
            let mut out = String::with_capacity(original.len());
            let mut at = 0;
            for (start, end, replacement) in &masks {
                out.push_str(&original[at..*start]);
                out.push_str(replacement);
                at = *end;
            }
            out.push_str(&original[at..]);
            out
        });
        Inspection {
            findings,
            masked_text,
        }
    }
}

#[cfg(target_arch = "wasm32")]
switchyard_sdk::inspect::export!(Plugin);

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_sdk::inspect::Guest;
    use switchyard_sdk::testing;

    fn setup() {
        Plugin::init(
            r#"{"sensitive":[{"word":"12315","code":"regulator","severity":"critical"},
                {"word":"投诉","code":"complaint"},{"word":"lawyer","code":"legal","severity":"critical"},
                {"word":"sue","code":"legal","severity":"critical"}]}"#
                .into(),
        )
        .unwrap();
    }

    #[test]
    fn finds_regulator_and_complaint_with_offsets() {
        setup();
        let text = "我要去12315投诉你们";
        let out = Plugin::inspect(testing::turn(text));
        let codes: Vec<_> = out.findings.iter().map(|f| f.code.as_str()).collect();
        assert_eq!(codes, ["regulator", "complaint"]);
        let f = &out.findings[0];
        assert_eq!(&text[f.start as usize..f.end as usize], "12315");
        assert_eq!(f.severity, Severity::Critical);
    }

    #[test]
    fn english_words_tolerate_case_width_and_one_typo_but_not_substrings() {
        setup();
        let out = Plugin::inspect(testing::turn("My LAWYR will hear about this"));
        assert_eq!(out.findings[0].code, "legal");
        let out = Plugin::inspect(testing::turn("there is an issue with my parcel"));
        assert!(out.findings.is_empty(), "{:?}", out.findings);
    }

    #[test]
    fn masks_phone_id_and_card_but_not_order_numbers() {
        setup();
        let text = "手机13812345678，身份证11010519491231002X，卡号6222 0200 0000 0000 009，订单2024113012345";
        // Build a Luhn-valid card from the test digits to keep the test honest.
        let text = text.replace("6222 0200 0000 0000 009", "4111 1111 1111 1111");
        let out = Plugin::inspect(testing::turn(&text));
        let masked = out.masked_text.unwrap();
        assert!(masked.contains("*******5678"), "{masked}");
        assert!(masked.contains("**************002X"), "{masked}");
        assert!(masked.contains("**** **** **** 1111"), "{masked}");
        assert!(
            masked.contains("2024113012345"),
            "order number must stay: {masked}"
        );
        let pii: Vec<_> = out
            .findings
            .iter()
            .filter(|f| f.kind == "pii")
            .map(|f| f.code.as_str())
            .collect();
        assert_eq!(pii, ["phone", "id-card", "bank-card"]);
    }

    #[test]
    fn announced_id_and_card_numbers_are_masked_whatever_their_checksum() {
        setup();
        // Issue 15 item 3: wrong ID check digit, card failing Luhn.
        let text = "我的手机号13812345678，身份证号110101199003071234，卡号6222020200112233445，邮箱 li.lei@example.com，或 +1 415-555-0132";
        let out = Plugin::inspect(testing::turn(text));
        let masked = out.masked_text.unwrap();
        for secret in [
            "13812345678",
            "1101011990",
            "62220202001122",
            "li.lei",
            "415-555",
        ] {
            assert!(!masked.contains(secret), "{secret} in {masked}");
        }
        assert!(masked.contains("+* ***-***-0132"), "{masked}");
        let pii: Vec<_> = out
            .findings
            .iter()
            .filter(|f| f.kind == "pii")
            .map(|f| f.code.as_str())
            .collect();
        assert_eq!(pii, ["phone", "id-card", "bank-card", "email", "phone"]);
    }

    #[test]
    fn an_18_digit_id_at_the_end_or_before_punctuation_is_masked_without_panicking() {
        setup();
        // 110105194912310021 has a wrong check digit; 11010519491231002X is valid,
        // and so is 110101199003074258 (check digit 8).
        for text in [
            "身份证110101199003074258",
            "身份证110101199003074258，我要去12315投诉",
        ] {
            let out = Plugin::inspect(testing::turn(text));
            let masked = out.masked_text.expect("masked");
            assert!(
                masked.contains("**************4258") && !masked.contains("199003"),
                "{masked}"
            );
            let codes: Vec<_> = out.findings.iter().map(|f| f.code.as_str()).collect();
            assert!(codes.contains(&"id-card"), "{codes:?}");
        }
        let out = Plugin::inspect(testing::turn("身份证110101199003074258，我要去12315投诉"));
        assert!(
            out.findings.iter().any(|f| f.code == "regulator"),
            "other findings survive"
        );
    }

    #[test]
    fn rejects_bad_config_with_a_reason() {
        let err =
            Plugin::init(r#"{"sensitive":[{"word":"x","code":"y","severity":"loud"}]}"#.into())
                .unwrap_err();
        assert!(err.contains("loud"), "{err}");
        assert!(
            Plugin::init("not json".into())
                .unwrap_err()
                .contains("inspector config")
        );
    }
}
