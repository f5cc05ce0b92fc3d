//! The pack against the real interaction data in `../shared/data/ddi`
//! (skipped, saying so, when it is absent). The same checks run through the
//! compiled component in the host's end-to-end tests; these are the fast,
//! native ones with the figures printed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use switchyard_pack_pharmacy::coverage::{SeriousPair, serious_pairs};
use switchyard_pack_pharmacy::{Pharmacy, Query, Severity, graph};

fn ddi_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("SWITCHYARD_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"))
        .join("ddi");
    if dir
        .join("ansm_en_worldvista_interactions_2016.tsv")
        .exists()
    {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: the shared interaction data is not at {} (set SWITCHYARD_SHARED_DATA to the shared/data folder)",
            dir.display()
        );
        None
    }
}

fn read(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap()
}

#[test]
fn the_real_graph_flags_known_pairs_and_onc_pairs_and_not_others() {
    let Some(dir) = ddi_dir() else { return };
    let onc = read(&dir, "onc_high_priority_pairs_mapped.dsv");
    let (graph, report) = graph::build(
        &read(&dir, "ansm_en_worldvista_interactions_2016.tsv"),
        &read(&dir, "ansm_en_worldvista_class_members_2016.tsv"),
        Some(&onc),
    )
    .unwrap();
    let json = serde_json::to_string(&graph).unwrap();
    for (class, target, how) in &report.resolved_classes {
        eprintln!("class {class:?} -> {target:?} ({how})");
    }
    eprintln!(
        "graph: {} drugs, {} findings, {} pairs, {} bytes; {} severities cleaned, {} classes renamed, unresolved {:?}, empty rows {:?}",
        report.drugs,
        report.findings,
        report.pairs,
        json.len(),
        report.cleaned_severities.len(),
        report.resolved_classes.len(),
        report.unresolved_classes,
        report.empty_rows
    );
    let check = report.onc.as_ref().unwrap();
    eprintln!(
        "ONC cross-check before merging: {} of {} pairs whose drugs ANSM names are flagged by ANSM alone ({:.1}%)",
        check.flagged_by_ansm,
        check.both_named_by_ansm,
        100.0 * check.flagged_by_ansm as f64 / check.both_named_by_ansm as f64
    );
    let pack = Pharmacy::load(&json).unwrap();

    let ask = |text: &str| {
        pack.answer(&Query {
            text: text.into(),
            ..Query::default()
        })
    };
    let top = |text: &str| ask(text).interactions.first().map(|i| i.severity);
    assert_eq!(
        top("Can I take warfarin with aspirin?"),
        Some(Severity::Contraindication)
    );
    assert_eq!(
        top("我在吃华法林，可以同时吃阿司匹林吗？"),
        Some(Severity::Contraindication)
    );
    assert_eq!(
        top("Can I take simvastatin with clarithromycin?"),
        Some(Severity::Contraindication)
    );
    assert_eq!(
        top("Zocor and Biaxin together?"),
        Some(Severity::Contraindication)
    );
    assert_eq!(
        top("辛伐他汀和克拉霉素能一起吃吗"),
        Some(Severity::Contraindication)
    );

    // Every ONC pair whose two names the pack knows, asked as a customer would.
    let (mut known, mut flagged, mut missed) = (0, 0, Vec::new());
    for line in onc
        .trim_start_matches('\u{feff}')
        .lines()
        .filter(|l| !l.is_empty())
    {
        let parts: Vec<&str> = line.split('$').collect();
        let (a, b) = (parts[0], parts[2]);
        if !(pack.knows(a) && pack.knows(b)) {
            continue;
        }
        known += 1;
        if ask(&format!("Is it safe to take {a} and {b}?"))
            .interactions
            .is_empty()
        {
            missed.push(format!("{a}+{b}"));
        } else {
            flagged += 1;
        }
    }
    let share = flagged as f64 / known as f64;
    eprintln!(
        "ONC pairs flagged by the pack: {flagged} of {known} ({:.2}%); missed {:?}",
        share * 100.0,
        &missed[..missed.len().min(10)]
    );
    assert!(share >= 0.95, "{share}");

    // Pairs with no interaction in the source: every known drug pair the
    // graph does not list, sampled with a fixed stride.
    let listed: std::collections::HashSet<(u32, u32)> =
        graph.pairs.iter().map(|p| (p[0], p[1])).collect();
    let n = graph.drugs.len() as u32;
    let (mut sampled, mut wrongly) = (0, Vec::new());
    let mut state: u64 = 7;
    while sampled < 500 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let (a, b) = (
            ((state >> 33) % n as u64) as u32,
            ((state >> 13) % n as u64) as u32,
        );
        let (a, b) = (a.min(b), a.max(b));
        if a == b || listed.contains(&(a, b)) {
            continue;
        }
        let names = [
            graph.drugs[a as usize].clone(),
            graph.drugs[b as usize].clone(),
        ];
        // Names that stand for more than one entry (the same drug spelt two
        // ways, "LEVOFLOXACINE") may have interactions through the other
        // entry; keep to names with one meaning.
        if names.iter().any(|n| pack.entries(n).len() != 1) {
            continue;
        }
        let answer = pack.answer(&Query {
            drugs: names.to_vec(),
            ..Query::default()
        });
        if answer.drugs.len() != 2 || !answer.unknown.is_empty() {
            continue;
        }
        sampled += 1;
        if !answer.interactions.is_empty() {
            wrongly.push(names.join("+"));
        }
    }
    eprintln!(
        "no-interaction pairs sampled: {sampled}, wrongly flagged: {}",
        wrongly.len()
    );
    assert!(wrongly.len() * 100 <= sampled, "{wrongly:?}");
}

/// The graph built from the real files, and the pack loaded with it.
fn real_pack(dir: &Path) -> (Pharmacy, graph::BuildReport) {
    let (graph, report) = graph::build(
        &read(dir, "ansm_en_worldvista_interactions_2016.tsv"),
        &read(dir, "ansm_en_worldvista_class_members_2016.tsv"),
        Some(&read(dir, "onc_high_priority_pairs_mapped.dsv")),
    )
    .unwrap();
    let pack = Pharmacy::load(&serde_json::to_string(&graph).unwrap()).unwrap();
    (pack, report)
}

fn ask(pack: &Pharmacy, text: &str) -> switchyard_pack_pharmacy::Answer {
    pack.answer(&Query {
        text: text.into(),
        ..Query::default()
    })
}

/// The issue: built from the real ANSM data the pack missed nitroglycerin
/// (ANSM's "TRINITRINE KNOWN AS NITROGLYCERIN IN THE US") and most brand
/// names, so these came out with no finding.
#[test]
fn nitroglycerin_and_common_brand_names_are_found_in_the_real_graph() {
    let Some(dir) = ddi_dir() else { return };
    let (pack, report) = real_pack(&dir);
    for (text, drugs, level) in [
        (
            "can i take sildenafil with nitroglycerin",
            ["SILDENAFIL", "TRINITRINE"],
            Severity::Contraindication,
        ),
        (
            "tadalafil with nitroglycerin spray",
            ["TADALAFIL", "TRINITRINE"],
            Severity::Contraindication,
        ),
        (
            "viagra with nitroglycerin",
            ["SILDENAFIL", "TRINITRINE"],
            Severity::Contraindication,
        ),
        (
            "my mom takes coumadin and the dr gave her bactrim",
            ["WARFARIN", "SULFAMETHOXAZOLE"],
            Severity::NotRecommended,
        ),
        (
            "Is trinitrine OK with Cialis?",
            ["TADALAFIL", "TRINITRINE"],
            Severity::Contraindication,
        ),
        (
            "我在用硝酸甘油，能吃伟哥吗？",
            ["SILDENAFIL", "TRINITRINE"],
            Severity::Contraindication,
        ),
        (
            "nitroglicerin and viagara",
            ["SILDENAFIL", "TRINITRINE"],
            Severity::Contraindication,
        ),
    ] {
        let answer = ask(&pack, text);
        let top = answer.interactions.first();
        assert_eq!(top.map(|i| i.severity), Some(level), "{text}: {answer:?}");
        let found = answer
            .interactions
            .iter()
            .any(|i| i.severity == level && drugs.iter().all(|d| i.drugs.iter().any(|n| n == d)));
        assert!(found, "{text}: {:?}", answer.interactions);
        assert!(!answer.findings.is_empty(), "{text}");
    }
    // The source's own aliases are names of the drug.
    for (alias, drug) in [
        ("nitroglycerin", "TRINITRINE"),
        ("epinephrine", "ADRENALINE"),
        ("noradrenaline", "NOREPINEPHRINE"),
        ("AZT", "ZIDOVUDINE"),
        ("Ampyra", "FAMPRIDINE"),
        ("methylthioninium chloride", "METHYLENE BLUE"),
        ("levofloxacine", "LEVOFLOXACIN"),
        ("alrrazolam", "ALPRAZOLAM"),
    ] {
        let ids = pack.entries(alias);
        assert!(
            ids.iter().any(|id| pack.names().display(*id) == drug),
            "{alias}: {:?}",
            ids.iter()
                .map(|id| &pack.graph().drugs[*id as usize])
                .collect::<Vec<_>>()
        );
    }
    assert!(
        report.names_unparsed.len() <= 1,
        "{:?}",
        report.names_unparsed
    );
}

/// The first of `names`, from the `turn`-th on, that stands for the drug and
/// not for the other one (a combination's name stands for both).
fn pick<'a>(
    pack: &Pharmacy,
    names: impl Iterator<Item = &'a String> + Clone,
    turn: usize,
    own: &[u32],
    other: &[u32],
) -> Option<&'a str> {
    let names: Vec<&String> = names.collect();
    (0..names.len())
        .map(|k| names[(turn + k) % names.len()].as_str())
        .find(|name| {
            let ids = pack.entries(name);
            ids.iter().any(|id| own.contains(id)) && !ids.iter().any(|id| other.contains(id))
        })
}

/// `name` with one typo, the first letter kept (a typo there is out of
/// scope); the kinds of typo take turns. None for a name the recognizer does
/// not promise to read with a typo (one word of 5+ letters).
fn typo(pack: &Pharmacy, name: &str, turn: usize) -> Option<String> {
    let chars: Vec<char> = name.chars().collect();
    if chars.len() < 5 || !chars.iter().all(|c| c.is_ascii_alphabetic()) {
        return None;
    }
    let middle = chars.len() / 2;
    let variants = [
        // A letter dropped, doubled, replaced.
        [&chars[..middle], &chars[middle + 1..]].concat(),
        [&chars[..=middle], &chars[middle..]].concat(),
        [
            &chars[..middle],
            &[if chars[middle].eq_ignore_ascii_case(&'e') {
                'a'
            } else {
                'e'
            }],
            &chars[middle + 1..],
        ]
        .concat(),
    ];
    // Not a typo that spells another name, or an everyday word ("Relpax"
    // misspelt "Relax"): a customer who writes one is read as meaning it.
    let everyday = |t: &str| {
        switchyard_pack_pharmacy::names::EVERYDAY_WORDS
            .lines()
            .any(|w| w.eq_ignore_ascii_case(t))
    };
    (0..variants.len())
        .map(|k| {
            variants[(turn + k) % variants.len()]
                .iter()
                .collect::<String>()
        })
        .find(|t| {
            let exact = pack.names().exact(t).unwrap_or_default();
            (exact.is_empty() || exact == pack.entries(name)) && !everyday(t)
        })
}

/// Whether the answer to `text` has the pair's interaction at its level.
fn finds(pack: &Pharmacy, text: &str, pair: &SeriousPair) -> bool {
    ask(pack, text).interactions.iter().any(|i| {
        i.severity >= pair.severity && pair.drugs.iter().all(|d| i.drugs.iter().any(|n| n == d))
    })
}

/// Every contraindicated and not-recommended pair of the source whose two
/// drugs have a common name in the pack's synonym table is found by those
/// names, in English, in Chinese, and with a typo in an English name; the
/// figures are printed (BENCHMARKS.md, pharmacy).
#[test]
fn every_serious_pair_is_found_by_common_names_in_english_chinese_and_with_a_typo() {
    let Some(dir) = ddi_dir() else { return };
    let (pack, report) = real_pack(&dir);
    let pairs = serious_pairs(pack.graph(), pack.names());
    assert!(pairs.len() > 10_000, "{}", pairs.len());
    let is_cjk = |n: &&String| n.chars().any(switchyard_sdk::text::is_cjk);
    let (mut en, mut zh, mut typos) = ((0, 0), (0, 0), (0, 0));
    let mut same_name = 0;
    let mut missed: Vec<String> = Vec::new();
    for (turn, pair) in pairs.iter().enumerate() {
        let [a, b] = &pair.entries;
        let [names_a, names_b] = &pair.english;
        if !names_a.is_empty() && !names_b.is_empty() {
            match (
                pick(&pack, names_a.iter(), turn, a, b),
                pick(&pack, names_b.iter(), turn, b, a),
            ) {
                (Some(x), Some(y)) => {
                    en.1 += 1;
                    let text = format!("Can I take {x} with {y}?");
                    if finds(&pack, &text, pair) {
                        en.0 += 1;
                    } else {
                        missed.push(text);
                    }
                    // The same question with a typo in one name (the other
                    // when the first cannot have one).
                    let typoed = typo(&pack, x, turn)
                        .map(|t| format!("Can I take {t} with {y}?"))
                        .or_else(|| {
                            typo(&pack, y, turn).map(|t| format!("Can I take {x} with {t}?"))
                        });
                    if let Some(text) = typoed {
                        typos.1 += 1;
                        if finds(&pack, &text, pair) {
                            typos.0 += 1;
                        } else {
                            missed.push(text);
                        }
                    }
                }
                _ => same_name += 1,
            }
        }
        let [names_a, names_b] = &pair.chinese;
        if !names_a.is_empty() && !names_b.is_empty() {
            match (
                pick(&pack, names_a.iter().filter(is_cjk), turn, a, b),
                pick(&pack, names_b.iter().filter(is_cjk), turn, b, a),
            ) {
                (Some(x), Some(y)) => {
                    zh.1 += 1;
                    let text = format!("我在吃{x}，可以同时吃{y}吗？");
                    if finds(&pack, &text, pair) {
                        zh.0 += 1;
                    } else {
                        missed.push(text);
                    }
                }
                _ => same_name += 1,
            }
        }
    }
    let common = report.common_names.as_ref().unwrap();
    eprintln!(
        "serious pairs (ANSM contraindicated or not recommended, by drug): {}; drugs in them: {}, with an English common name {}, with a Chinese name {}",
        pairs.len(),
        common.drugs,
        common.with_english,
        common.with_chinese
    );
    eprintln!(
        "found by common names: English {} of {}, Chinese {} of {}, English with one typo {} of {}; pairs whose names all name both drugs (one product): {same_name}",
        en.0, en.1, zh.0, zh.1, typos.0, typos.1
    );
    eprintln!(
        "drugs with no common name: {} {:?}; English but no Chinese name: {}; Chinese but no English name: {} {:?}",
        common.no_common_name.len(),
        common.no_common_name,
        common.no_chinese_name.len(),
        common.no_english_name.len(),
        common.no_english_name
    );
    eprintln!(
        "source names read by a rule: {}, not parsed: {} {:?}; entries taken as one drug: {}",
        report.names_read.len(),
        report.names_unparsed.len(),
        report.names_unparsed,
        report.same_drug.len()
    );
    eprintln!("missed: {:?}", &missed[..missed.len().min(20)]);
    // Never let a loop over an empty list pass.
    assert!(
        en.1 > 10_000 && zh.1 > 10_000 && typos.1 > 5_000,
        "{en:?} {zh:?} {typos:?}"
    );
    assert!(
        missed.is_empty(),
        "{} missed: {:?}",
        missed.len(),
        &missed[..missed.len().min(20)]
    );
}

/// With hundreds of brand names and typos tolerated, everyday words must
/// still not be taken for drugs.
#[test]
fn everyday_customer_messages_name_no_drug_in_the_real_graph() {
    let Some(dir) = ddi_dir() else { return };
    let (pack, _) = real_pack(&dir);
    for text in [
        "Hello, where is my order? It was supposed to arrive yesterday and the tracking page says delivered.",
        "I would like to change my delivery address and my phone number, please call me back after lunch.",
        "Can I return the product? The package was damaged and the bottle was broken when it arrived.",
        "My prescription refill was rejected, can the pharmacist check my insurance and the payment?",
        "How long does shipping take to Shanghai? Do you deliver on weekends or public holidays?",
        "Thanks for your help, the agent was very patient. Have a great evening and see you tomorrow.",
        "I take my tablets every morning with breakfast and a glass of water or orange juice, is that fine?",
        "Please cancel the subscription, update my account password and send the invoice by email.",
        "Can I drink coffee, tea, milk or a coke with these capsules? What about chocolate after dinner?",
        "My daughter has a fever and a cough, my son has a headache; the doctor said rest and drink fluids.",
        "The store manager promised a discount coupon but the checkout price is still the same.",
        "I'm pregnant and breastfeeding questions: which vitamins and supplements are safe for my baby?",
        "你好，我的订单什么时候到？快递显示已经签收了，但是我没有收到。",
        "请帮我修改收货地址和电话号码，谢谢，下午再联系我。",
        "药品包装破损了，可以退货吗？发票什么时候开？",
        "我想取消订阅，并且修改账户密码，安卓手机上打不开应用。",
        "医生说多喝水，好好休息，早上吃完早饭再吃药。",
        "周末可以送货吗？优惠券为什么用不了？价格还是一样。",
    ] {
        let answer = ask(&pack, text);
        assert!(
            answer.drugs.is_empty(),
            "{text}: {:?}",
            answer
                .drugs
                .iter()
                .map(|d| (&d.written, &d.name))
                .collect::<Vec<_>>()
        );
    }
}

/// Every word of an English dictionary (Debian's wamerican, when installed;
/// skipped otherwise) that the recognizer would read as a misspelt drug name
/// is either a spelling of the drug itself or in `everyday_words.txt`.
#[test]
fn dictionary_words_are_not_taken_for_misspelt_drug_names() {
    let Some(dir) = ddi_dir() else { return };
    let Ok(words) = std::fs::read_to_string("/usr/share/dict/words") else {
        eprintln!("SKIPPED: no /usr/share/dict/words (apt-get install wamerican)");
        return;
    };
    let (pack, _) = real_pack(&dir);
    // Plurals and spellings of the drugs themselves.
    const THE_DRUG: &[&str] = &[
        "adrenalin",
        "alcoholic",
        "alcohols",
        "aspirins",
        "amphetamines",
        "grapefruits",
        "methadon",
        "eucalypti",
        "eucalyptuses",
        "rhubarbs",
        "liquors",
        "spermicides",
        "valiums",
    ];
    let (mut checked, mut taken) = (0, Vec::new());
    for word in words
        .lines()
        .filter(|w| w.chars().all(|c| c.is_ascii_alphabetic()))
    {
        let word = word.to_lowercase();
        checked += 1;
        if pack.names().exact(&word).is_none()
            && pack.names().lookup(&word).is_some()
            && !THE_DRUG.contains(&word.as_str())
        {
            taken.push(word);
        }
    }
    taken.sort();
    taken.dedup();
    eprintln!("dictionary words checked: {checked}");
    assert!(checked > 50_000, "{checked}");
    assert!(
        taken.is_empty(),
        "add these to everyday_words.txt, or make them names: {taken:?}"
    );
}

/// 36,802 real customer-service questions of other domains (BANKING77 and
/// CLINC150, in `../shared/data/intents`): no word of them is read as a
/// misspelt drug name; the only drugs found are words that are names
/// ("wine", "gold").
#[test]
fn other_domains_customer_questions_have_no_misspelt_drug_names() {
    let Some(dir) = ddi_dir() else { return };
    let intents = dir.join("../intents");
    let Ok(clinc) = std::fs::read_to_string(intents.join("clinc150/data_full.json")) else {
        eprintln!("SKIPPED: no {}", intents.display());
        return;
    };
    let (pack, _) = real_pack(&dir);
    let mut texts: Vec<String> = Vec::new();
    for file in ["banking77/train.csv", "banking77/test.csv"] {
        let csv = std::fs::read_to_string(intents.join(file)).unwrap();
        texts.extend(csv.lines().skip(1).map(str::to_string));
    }
    let clinc: serde_json::Value = serde_json::from_str(&clinc).unwrap();
    for split in clinc.as_object().unwrap().values() {
        for example in split.as_array().unwrap() {
            texts.push(example[0].as_str().unwrap().to_string());
        }
    }
    let (mut named, mut misspelt) = (BTreeMap::new(), BTreeMap::new());
    for text in &texts {
        for drug in ask(&pack, text).drugs {
            let seen = if pack.names().exact(&drug.written).is_some() {
                &mut named
            } else {
                &mut misspelt
            };
            *seen.entry(drug.written.to_lowercase()).or_insert(0) += 1;
        }
    }
    eprintln!(
        "{} questions; drug names found as written: {named:?}; as a typo: {misspelt:?}",
        texts.len()
    );
    assert!(texts.len() > 30_000, "{}", texts.len());
    assert!(misspelt.is_empty(), "{misspelt:?}");
}
