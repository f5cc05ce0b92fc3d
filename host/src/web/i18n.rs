//! The interface's two languages. The strings live in `host/web/i18n/*.json`
//! (one key per string, the same keys in each); the server renders the ones
//! a page shell needs and hands the whole table to the page's script.

use std::sync::LazyLock;

use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

static EN: LazyLock<Map<String, Value>> =
    LazyLock::new(|| parse(include_str!("../../web/i18n/en.json")));
static ZH: LazyLock<Map<String, Value>> =
    LazyLock::new(|| parse(include_str!("../../web/i18n/zh.json")));

fn parse(text: &str) -> Map<String, Value> {
    // The tables are part of the binary: a broken one fails its unit test.
    serde_json::from_str(text).unwrap_or_default()
}

impl Lang {
    pub fn parse(code: &str) -> Option<Lang> {
        let code = code.trim().to_ascii_lowercase();
        if code.starts_with("zh") {
            Some(Lang::Zh)
        } else if code.starts_with("en") {
            Some(Lang::En)
        } else {
            None
        }
    }

    /// The browser's first language we have, by its `q` weights; English
    /// when it names neither.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for item in header.split(',') {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Lang::parse) else {
                continue;
            };
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.parse::<f32>().ok())
                .unwrap_or(1.0);
            if best.is_none_or(|(b, _)| q > b) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::En, |(_, lang)| lang)
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    /// For `<html lang>`.
    pub fn html_code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }

    /// The language's own name, for the switch.
    pub fn name(self) -> &'static str {
        match self {
            Lang::En => "English",
            Lang::Zh => "中文",
        }
    }

    pub fn other(self) -> Lang {
        match self {
            Lang::En => Lang::Zh,
            Lang::Zh => Lang::En,
        }
    }
}

pub fn strings(lang: Lang) -> &'static Map<String, Value> {
    match lang {
        Lang::En => &EN,
        Lang::Zh => &ZH,
    }
}

/// One string; English when the language lacks it, and "?" when both do
/// (a unit test checks every key the server renders exists).
pub fn text(lang: Lang, key: &str) -> &'static str {
    strings(lang)
        .get(key)
        .or_else(|| EN.get(key))
        .and_then(Value::as_str)
        .unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_tables_parse_and_have_the_same_keys() {
        let en: Map<String, Value> =
            serde_json::from_str(include_str!("../../web/i18n/en.json")).unwrap();
        let zh: Map<String, Value> =
            serde_json::from_str(include_str!("../../web/i18n/zh.json")).unwrap();
        assert!(en.len() > 50, "only {} strings", en.len());
        let missing_zh: Vec<_> = en.keys().filter(|k| !zh.contains_key(*k)).collect();
        let missing_en: Vec<_> = zh.keys().filter(|k| !en.contains_key(*k)).collect();
        assert!(missing_zh.is_empty(), "not in zh.json: {missing_zh:?}");
        assert!(missing_en.is_empty(), "not in en.json: {missing_en:?}");
        assert!(
            en.values()
                .chain(zh.values())
                .all(|v| v.as_str().is_some_and(|s| !s.is_empty()))
        );
    }

    #[test]
    fn the_browser_language_picks_by_weight() {
        assert_eq!(
            Lang::from_accept_language("zh-CN,zh;q=0.9,en;q=0.8"),
            Lang::Zh
        );
        assert_eq!(
            Lang::from_accept_language("en-US,en;q=0.9,zh;q=0.8"),
            Lang::En
        );
        assert_eq!(
            Lang::from_accept_language("fr-FR,zh;q=0.5,en;q=0.7"),
            Lang::En
        );
        assert_eq!(Lang::from_accept_language("fr-FR"), Lang::En);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
    }

    #[test]
    fn every_key_the_server_renders_exists() {
        for key in [
            "sign_in",
            "sign_in.explain",
            "sign_in.key",
            "sign_in.submit",
            "sign_in.no_key",
            "sign_in.unknown_key",
            "sign_in.cross_site",
            "sign_out",
            "skip_to_content",
            "account",
            "loading",
            "noscript",
            "desk",
            "console",
            "chat",
            "role.operator",
            "role.admin",
            "desk.for_agents",
            "console.for_admins",
            "chat.closed",
            "chat.open",
            "chat.close",
        ] {
            for lang in [Lang::En, Lang::Zh] {
                assert!(strings(lang).contains_key(key), "{key} missing in {lang:?}");
            }
        }
    }
}
