//! How well the demo shop understands real phrasing (issue 16, item 2),
//! measured through the whole pipeline of the demo tenant (the real
//! classifier, escalator, router and assistant components, over the API) on
//! the held-out evaluation set `examples/demo/eval/` (an author who saw
//! neither the training nor the validation messages). Each message opens its
//! own conversation. Prints the figures (BENCHMARKS.md quotes them) and holds
//! the demo to the targets per language:
//!
//! - routine questions (intents the router lets the bot answer) answered by
//!   the bot with the right intent: at least 85%;
//! - wrong bot answers (wrong intent, or an out-of-scope message answered
//!   otherwise than with the polite refusal): under 3% of the bot's answers;
//! - out-of-scope messages recognised as such (intent `out_of_scope`, which
//!   the bot declines politely when sure, or `unknown`): at least 80%.
//!
//! Run `cargo test --release -p switchyard-e2e --test e2e understanding --
//! --nocapture` to see the table.

use serde_json::Value;
use switchyard_e2e::*;

const ZH: &str = include_str!("../../examples/demo/eval/zh.csv");
const EN: &str = include_str!("../../examples/demo/eval/en.csv");
const ROUTER: &str = include_str!("../../examples/demo/router.json");
const VALIDATION: &str = include_str!("../../examples/demo/validation/validation.csv");
// Questions only an article answers (with the validation set's off-topic
// rows, what the knowledge-answer settings were chosen with).
const ARTICLE_QUESTIONS: &str = include_str!("../../examples/demo/validation/articles.csv");

fn rows(csv: &str) -> Vec<(String, String)> {
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    reader
        .records()
        .map(|r| {
            let r = r.expect("a CSV row");
            (r[0].to_string(), r[1].to_string())
        })
        .collect()
}

#[derive(Default, Debug)]
struct Figures {
    messages: usize,
    right_intent: usize,
    routine: usize,
    routine_answered_right: usize,
    bot_answers: usize,
    bot_wrong: usize,
    out_of_scope: usize,
    out_of_scope_recognised: usize,
    out_of_scope_to_bot: usize,
}

fn pct(part: usize, whole: usize) -> f64 {
    100.0 * part as f64 / whole.max(1) as f64
}

fn measure(
    env: &TestEnv,
    language: &str,
    set: &[(String, String)],
    bot_intents: &[&str],
) -> Figures {
    let mut f = Figures::default();
    for (n, (text, label)) in set.iter().enumerate() {
        let conversation = format!("eval-{language}-{n}");
        let r = env.send(&conversation, text, &conversation, "standard");
        let intent = r["intent"]["name"].as_str().unwrap();
        let to_bot = r["route"]["to"] == "bot";
        let off_topic = intent == "unknown" || intent == "out_of_scope";
        let right = intent == label || (label == "oos" && off_topic);
        f.messages += 1;
        f.right_intent += usize::from(right);
        if bot_intents.contains(&label.as_str()) {
            f.routine += 1;
            f.routine_answered_right += usize::from(to_bot && intent == label);
        }
        if label == "oos" {
            f.out_of_scope += 1;
            f.out_of_scope_recognised += usize::from(off_topic);
        }
        if to_bot {
            f.bot_answers += 1;
            // The bot answering an off-topic message is right only with the
            // polite refusal (the out-of-scope intent's script); from an
            // article or as an intent, it is wrong.
            let declined =
                intent == "out_of_scope" && r["route"]["reason"] == "bot answers out_of_scope";
            f.bot_wrong += usize::from(if label == "oos" { !declined } else { !right });
            f.out_of_scope_to_bot += usize::from(label == "oos");
        }
    }
    f
}

#[test]
fn the_demo_shop_meets_the_understanding_targets_on_the_held_out_set() {
    let env = TestEnv::demo();
    let router: Value = serde_json::from_str(ROUTER).unwrap();
    let bot_intents: Vec<&str> = router["bot_intents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    println!(
        "{:<4} {:>5} {:>9} {:>18} {:>16} {:>18}",
        "lang", "msgs", "accuracy", "routine answered", "wrong bot", "out-of-scope"
    );
    for (language, csv) in [("zh", ZH), ("en", EN)] {
        let set = rows(csv);
        assert!(
            set.len() > 400,
            "{language}: the set is there ({})",
            set.len()
        );
        let f = measure(&env, language, &set, &bot_intents);
        println!(
            "{language:<4} {:>5} {:>8.1}% {:>9.1}% ({}/{}) {:>6.1}% ({}/{}) {:>8.1}% ({}/{}, {} to the bot)",
            f.messages,
            pct(f.right_intent, f.messages),
            pct(f.routine_answered_right, f.routine),
            f.routine_answered_right,
            f.routine,
            pct(f.bot_wrong, f.bot_answers),
            f.bot_wrong,
            f.bot_answers,
            pct(f.out_of_scope_recognised, f.out_of_scope),
            f.out_of_scope_recognised,
            f.out_of_scope,
            f.out_of_scope_to_bot,
        );
        assert!(f.routine > 200 && f.out_of_scope > 50, "{f:?}");
        assert!(
            pct(f.routine_answered_right, f.routine) >= 85.0,
            "{language}: routine questions answered right: {f:?}"
        );
        assert!(
            pct(f.bot_wrong, f.bot_answers) < 3.0,
            "{language}: wrong bot answers: {f:?}"
        );
        assert!(
            pct(f.out_of_scope_recognised, f.out_of_scope) >= 80.0,
            "{language}: out-of-scope recall: {f:?}"
        );
    }
}

/// The knowledge answers (`article_answers` of the demo router and
/// assistant: an article's score, how much of the question it covers, and
/// how sure the classifier is that the message is off-topic): questions only
/// an article answers should get that article's reply from the bot;
/// off-topic messages never an article's. Printed for BENCHMARKS.md. The
/// off-topic messages are the validation set's, which the demo model has
/// learnt from: the figure without that is in BENCHMARKS.md (a model
/// trained on the training set alone, same pipeline).
#[test]
fn questions_only_an_article_answers_get_it_and_off_topic_messages_never_do() {
    let env = TestEnv::demo();
    let from_article = |r: &Value| -> Option<String> {
        let reason = r["route"]["reason"].as_str().unwrap_or_default();
        let first = &r["suggestions"][0];
        (r["route"]["to"] == "bot" && (reason.contains("from article") || first["kind"] == "reply"))
            .then(|| first["article_id"].as_str().map(str::to_string))
            .flatten()
    };
    let questions = rows(ARTICLE_QUESTIONS);
    let mut answered = 0;
    for (n, (text, article)) in questions.iter().enumerate() {
        let conversation = format!("article-q-{n}");
        let r = env.send(&conversation, text, &conversation, "standard");
        answered += usize::from(from_article(&r).as_deref() == Some(article.as_str()));
    }
    let off_topic: Vec<String> = rows(VALIDATION)
        .into_iter()
        .filter(|(_, label)| label == "oos")
        .map(|(text, _)| text)
        .collect();
    let mut wrongly = Vec::new();
    for (n, text) in off_topic.iter().enumerate() {
        let conversation = format!("off-topic-{n}");
        let r = env.send(&conversation, text, &conversation, "standard");
        if let Some(article) = from_article(&r) {
            wrongly.push((text.clone(), article));
        }
    }
    assert!(questions.len() >= 20 && off_topic.len() >= 100);
    println!(
        "article questions answered from their article {answered}/{} ({:.1}%); \
         off-topic messages answered from an article {}/{} ({:.1}%)",
        questions.len(),
        pct(answered, questions.len()),
        wrongly.len(),
        off_topic.len(),
        pct(wrongly.len(), off_topic.len()),
    );
    assert!(pct(answered, questions.len()) >= 50.0, "{answered}");
    assert!(pct(wrongly.len(), off_topic.len()) <= 2.0, "{wrongly:?}");
}

/// "Confidently wrong" fixed by knowledge, not special cases: an
/// international shipping question is `delivery_time` to the model, but the
/// international article answers it, not the domestic delivery times.
#[test]
fn an_international_question_gets_the_international_answer_not_the_domestic_one() {
    let env = TestEnv::demo();
    for (n, text) in [
        "do you deliver internationally?",
        "可以寄到美国吗，国际运费多少",
    ]
    .iter()
    .enumerate()
    {
        let conversation = format!("intl-{n}");
        let r = env.send(&conversation, text, &conversation, "standard");
        assert_eq!(r["route"]["to"], "bot", "{r}");
        let reply = r["reply"].as_str().unwrap();
        assert!(
            !reply.contains("1-3") && !reply.contains("次日达"),
            "regression (issue 16): the domestic delivery times answered an international question: {reply}"
        );
        let first = &r["suggestions"][0];
        assert_eq!(first["article_id"], "kb-international-shipping", "{r}");
    }
}
