//! Blind-spot mining: group the messages the engine did not understand (no
//! confident intent) or handed to a person (escalated) into clusters of
//! similar questions, each of which becomes a draft knowledge article.
//!
//! Messages are compared as TF-IDF vectors of their words, CJK character
//! pairs and (at a lower weight) the character trigrams of their words, so
//! "change the delivery adress" lands beside "change my delivery address" and
//! Chinese needs no segmenter. Clustering is a greedy pass against cluster
//! centres followed by refinement rounds (k-means style) until nothing moves:
//! deterministic for a given message order; each round costs messages times
//! clusters.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use switchyard_sdk::text;

use crate::app::{Error, Result, Switchyard};
use crate::model::{Article, MessageRecord, MessageRef, MinedFrom, now_ms};
use crate::storage::{Cursor, Page};

/// Most refinement rounds after the greedy pass (it usually settles in 2-4).
const REFINEMENTS: usize = 10;
/// Weight of one character trigram next to a whole word.
const TRIGRAM_WEIGHT: f32 = 0.3;
/// Words that frame a question rather than say what it is about; on top of
/// the English function words every matcher drops.
const QUESTION_FRAME: [&str; 32] = [
    "can", "could", "would", "will", "get", "got", "need", "want", "have", "has", "there", "here",
    "what", "how", "when", "where", "which", "who", "why", "not", "no", "yes", "any", "some", "if",
    "from", "by", "we", "our", "us", "hi", "hello",
];
/// Document frequency below which a word counts as this frequent: a word
/// seen once is no surer a sign of a topic than one seen twice, and in a
/// small batch of messages one-off words (a country, a product) would
/// otherwise outweigh the words the messages share.
const MIN_DOC_FREQ: u32 = 2;

/// Messages (indices into the texts clustered) that ask the same thing.
#[derive(Debug)]
pub struct Cluster {
    /// Best first: the member closest to the centroid leads.
    pub members: Vec<usize>,
    /// The centroid's heaviest words, for the draft's keywords.
    pub keywords: Vec<String>,
}

/// Features by name, while a batch is clustered.
type Named = HashMap<String, f32>;
/// A message as interned features, sorted by id, unit length.
type Sparse = Vec<(u32, f32)>;

fn features(text: &str) -> Named {
    let mut v = Named::new();
    for t in text::tokens(text) {
        if text::is_stopword(&t) || QUESTION_FRAME.contains(&t.as_str()) {
            continue;
        }
        let cjk = t.chars().any(text::is_cjk);
        match (cjk, t.chars().count()) {
            // Single ideographs are too common to say what a question is about.
            (true, 1) => {}
            (true, _) => *v.entry(t).or_default() += 1.0,
            (false, _) => {
                if t.chars().all(|c| c.is_alphabetic()) {
                    for g in text::char_ngrams(&t, 3) {
                        *v.entry(format!("#{g}")).or_default() += TRIGRAM_WEIGHT;
                    }
                }
                *v.entry(t).or_default() += 1.0;
            }
        }
    }
    v
}

/// A cluster's centre. A lone message stays sparse; a cluster of two or
/// more keeps a dense sum over the batch's features, so comparing a message
/// with it costs one lookup per feature of the message.
enum Centre {
    Single(Sparse),
    Sum { sum: Vec<f32>, norm: f32 },
}

impl Centre {
    fn cosine(&self, v: &Sparse) -> f32 {
        match self {
            Centre::Single(c) => {
                let (mut i, mut j, mut dot) = (0, 0, 0.0);
                while i < v.len() && j < c.len() {
                    match v[i].0.cmp(&c[j].0) {
                        std::cmp::Ordering::Less => i += 1,
                        std::cmp::Ordering::Greater => j += 1,
                        std::cmp::Ordering::Equal => {
                            dot += v[i].1 * c[j].1;
                            i += 1;
                            j += 1;
                        }
                    }
                }
                dot
            }
            Centre::Sum { sum, norm } if *norm > 0.0 => {
                v.iter().map(|(k, x)| x * sum[*k as usize]).sum::<f32>() / norm
            }
            Centre::Sum { .. } => 0.0,
        }
    }

    fn of<'a>(members: impl Iterator<Item = &'a Sparse>, features: usize) -> Centre {
        let mut sum = vec![0f32; features];
        for v in members {
            for (k, x) in v {
                sum[*k as usize] += x;
            }
        }
        let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt();
        Centre::Sum { sum, norm }
    }

    fn add(&mut self, v: &Sparse, features: usize) {
        if let Centre::Single(first) = self {
            *self = Centre::of([&*first, v].into_iter(), features);
            return;
        }
        if let Centre::Sum { sum, norm } = self {
            let mut squared = *norm * *norm;
            for (k, x) in v {
                let old = sum[*k as usize];
                squared += (old + x) * (old + x) - old * old;
                sum[*k as usize] = old + x;
            }
            *norm = squared.max(0.0).sqrt();
        }
    }
}

fn best_centre(centres: &[Centre], v: &Sparse) -> Option<(usize, f32)> {
    centres
        .iter()
        .enumerate()
        .map(|(i, c)| (i, c.cosine(v)))
        .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
}

/// Clusters of at least `min_size` texts whose vectors are at least
/// `similarity` (cosine) from their cluster's centroid; biggest first.
/// `background` texts (the tenant's articles) only count toward how common
/// a word is, so a small batch of messages still weighs words sensibly.
pub fn cluster(
    texts: &[String],
    background: &[String],
    similarity: f32,
    min_size: usize,
) -> Vec<Cluster> {
    let raw: Vec<Named> = texts.iter().map(|t| features(t)).collect();
    let background: Vec<Named> = background.iter().map(|t| features(t)).collect();
    let mut doc_freq: HashMap<&str, u32> = HashMap::new();
    for v in raw.iter().chain(&background) {
        for k in v.keys() {
            *doc_freq.entry(k).or_default() += 1;
        }
    }
    let n = (raw.len() + background.len()) as f32;
    // Only the clustered texts' features are interned: the background only weighs them.
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let mut names: Vec<&str> = Vec::new();
    let vectors: Vec<Sparse> = raw
        .iter()
        .map(|v| {
            let mut w: Sparse = v
                .iter()
                .map(|(k, x)| {
                    let df = doc_freq[k.as_str()].max(MIN_DOC_FREQ) as f32;
                    let id = *ids.entry(k).or_insert_with(|| {
                        names.push(k);
                        names.len() as u32 - 1
                    });
                    (id, x * (1.0 + n / df).ln())
                })
                .collect();
            w.sort_by_key(|(k, _)| *k);
            let norm = w.iter().map(|(_, x)| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                w.iter_mut().for_each(|(_, x)| *x /= norm);
            }
            w
        })
        .collect();
    let features = names.len();

    // Greedy pass: join the most similar cluster, or start one.
    let mut centres: Vec<Centre> = Vec::new();
    for v in vectors.iter().filter(|v| !v.is_empty()) {
        match best_centre(&centres, v) {
            Some((i, s)) if s >= similarity => centres[i].add(v, features),
            _ => centres.push(Centre::Single(v.clone())),
        }
    }
    // Refinement: every message moves to the centre it fits best now that
    // the clusters have formed, and centres follow their members, until
    // nothing moves (k-means style). Early members of the greedy pass are no
    // longer stuck where the order put them.
    let mut members: Vec<Vec<usize>> = Vec::new();
    for _ in 0..REFINEMENTS {
        let mut next: Vec<Vec<usize>> = vec![Vec::new(); centres.len()];
        for (index, v) in vectors.iter().enumerate() {
            if let Some((i, s)) = best_centre(&centres, v)
                && s >= similarity
            {
                next[i].push(index);
            }
        }
        let settled = next == members;
        members = next;
        if settled {
            break;
        }
        // Empty clusters keep their old centre: a later round may refill them.
        for (c, m) in centres.iter_mut().zip(&members) {
            match m.len() {
                0 => {}
                1 => *c = Centre::Single(vectors[m[0]].clone()),
                _ => *c = Centre::of(m.iter().map(|&i| &vectors[i]), features),
            }
        }
    }
    let mut clusters: Vec<Cluster> = members
        .into_iter()
        .filter(|m| m.len() >= min_size.max(2))
        .map(|m| {
            let centre = Centre::of(m.iter().map(|&i| &vectors[i]), features);
            let mut scored: Vec<(usize, f32)> =
                m.iter().map(|&i| (i, centre.cosine(&vectors[i]))).collect();
            scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let Centre::Sum { sum, .. } = &centre else {
                unreachable!("a centre of several members is a sum")
            };
            let mut words: Vec<(usize, f32)> = sum
                .iter()
                .enumerate()
                .filter(|(k, x)| **x > 0.0 && !names[*k].starts_with('#'))
                .map(|(k, x)| (k, *x))
                .collect();
            words.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| names[a.0].cmp(names[b.0])));
            Cluster {
                members: scored.into_iter().map(|(i, _)| i).collect(),
                keywords: words
                    .into_iter()
                    .take(5)
                    .map(|(k, _)| names[k].to_string())
                    .collect(),
            }
        })
        .collect();
    clusters.sort_by(|a, b| {
        b.members
            .len()
            .cmp(&a.members.len())
            .then(a.members[0].cmp(&b.members[0]))
    });
    clusters
}

/// What counts as a blind spot, and how alike a cluster's messages must be.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MineOptions {
    /// Only messages received at or after this time (ms since the epoch).
    pub since_ms: u64,
    /// An intent below this confidence counts as not understood.
    pub min_confidence: f32,
    /// Cosine similarity a message needs to its cluster's centroid.
    pub similarity: f32,
    /// Smallest cluster that becomes a draft.
    pub min_cluster_size: usize,
    /// A message whose best published article scores this much is answered
    /// already, not a blind spot.
    pub answered_score: f32,
    /// Intents that mean "not understood", whatever their confidence:
    /// `unknown`, and the out-of-scope intent a classifier may name (the bot
    /// declining a question is a blind spot when customers keep asking it).
    pub not_understood: Vec<String>,
}

impl Default for MineOptions {
    fn default() -> Self {
        MineOptions {
            since_ms: 0,
            min_confidence: 0.5,
            similarity: 0.35,
            min_cluster_size: 3,
            answered_score: 0.5,
            not_understood: vec!["unknown".into(), "out_of_scope".into()],
        }
    }
}

/// Newest blind spots looked at in one run: bounds the clustering's time and
/// memory (each cluster of two or more keeps a dense sum: 4 bytes a feature).
pub const MAX_CANDIDATES: usize = 3000;
/// Examples shown with a draft.
const EXAMPLES: usize = 5;

/// What one mining run found and made.
#[derive(Debug, Serialize)]
pub struct MineReport {
    /// Messages looked at (received since `since_ms`).
    pub scanned: usize,
    /// Of those, not understood or escalated.
    pub blind_spots: usize,
    /// Blind spots already in an earlier draft, so left alone.
    pub already_drafted: usize,
    /// Blind spots a published article answers well already.
    pub answered: usize,
    /// Blind spots beyond the newest MAX_CANDIDATES, left for another run.
    pub skipped: usize,
    /// Blind spots in no cluster big enough for a draft.
    pub unclustered: usize,
    /// Clusters left undrafted because the tenant's article quota is full
    /// (`quota_exceeded` says which quota); a later run drafts them.
    pub over_quota: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota_exceeded: Option<String>,
    /// New drafts, biggest cluster first.
    pub drafts: Vec<Draft>,
}

/// A draft article with the (masked) customer messages it came from.
#[derive(Debug, Serialize)]
pub struct Draft {
    #[serde(flatten)]
    pub article: Article,
    /// Up to five of its messages, closest to the cluster's centre first,
    /// masked; messages deleted since (a customer's erasure) are gone from here.
    pub examples: Vec<String>,
}

fn dismissed_key(tenant: &str) -> String {
    format!("dismissed-blind-spots/{tenant}")
}

fn is_blind_spot(m: &MessageRecord, options: &MineOptions) -> bool {
    let d = &m.decision;
    options.not_understood.contains(&d.intent.name)
        || d.intent.confidence < options.min_confidence
        || d.escalation.escalate
}

/// The text a draft may show: masked by the inspector if it masked it, and
/// by the host's own masker in any case.
fn shown_text(m: &MessageRecord) -> String {
    let text = m.decision.masked_text.as_deref().unwrap_or(&m.text);
    crate::pii::mask(text).into_owned()
}

/// A draft's title and keywords, made only of words that messages of at
/// least two customers in the cluster use, and never of digits: a draft
/// outlives any one customer's erasure, so it must not quote one customer
/// (issue 15, item 5: a title quoted a deleted customer's message with their
/// order number). The title is the lead message with every other word
/// replaced by "…"; with nothing shared, it names the cluster instead.
fn shared_title_and_keywords(
    cluster: &Cluster,
    texts: &[String],
    members: &[&MessageRecord],
) -> (String, Vec<String>) {
    let tokens: Vec<HashSet<String>> = cluster
        .members
        .iter()
        .map(|&i| text::tokens(&texts[i]).into_iter().collect())
        .collect();
    let customers_using = |token: &str, except: Option<&str>| -> usize {
        let mut seen: HashSet<&str> = HashSet::new();
        for (m, set) in members.iter().zip(&tokens) {
            let customer = m.customer.id.as_str();
            if Some(customer) != except && set.contains(token) {
                seen.insert(customer);
            }
        }
        seen.len()
    };
    let has_digit = |t: &str| t.chars().any(|c| c.is_numeric());
    let keywords: Vec<String> = cluster
        .keywords
        .iter()
        .filter(|k| !has_digit(k) && customers_using(k, None) >= 2)
        .cloned()
        .collect();

    let lead_customer = members[0].customer.id.as_str();
    let shared = |word: &str| {
        let folded = text::normalize(word);
        !has_digit(&folded) && customers_using(&folded, Some(lead_customer)) >= 1
    };
    let mut title = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, title: &mut String| {
        if word.is_empty() {
            return;
        }
        if shared(word) {
            title.push_str(word);
        } else if !title.trim_end().ends_with('…') {
            title.push('…');
        } else {
            // Consecutive left-out words are one "…".
            let trimmed = title.trim_end().len();
            title.truncate(trimmed);
        }
        word.clear();
    };
    for c in texts[cluster.members[0]].chars() {
        if text::is_cjk(c) {
            flush(&mut word, &mut title);
            word.push(c);
            flush(&mut word, &mut title);
        } else if c.is_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut title);
            title.push(c);
        }
    }
    flush(&mut word, &mut title);
    let said = title.chars().filter(|c| c.is_alphanumeric()).count();
    let title = if said == 0 {
        match keywords.is_empty() {
            true => format!("{} similar messages", members.len()),
            false => keywords.join(" · "),
        }
    } else {
        first_chars(title.trim(), 80)
    };
    (title, keywords)
}

fn first_chars(text: &str, n: usize) -> String {
    let mut out: String = text.chars().take(n).collect();
    if text.chars().count() > n {
        out.push('…');
    }
    out
}

/// Agents' answers a mined draft proposes as its solution.
pub const MAX_AGENT_ANSWERS: usize = 3;

impl Switchyard {
    /// Cluster the tenant's blind spots and store a draft article for each
    /// cluster big enough. A message goes into one draft at most, ever.
    pub fn mine_blind_spots(&self, tenant: &str, options: &MineOptions) -> Result<MineReport> {
        if !(0.0..=1.0).contains(&options.similarity) || options.similarity == 0.0 {
            return Err(Error::Invalid("similarity must be in (0, 1]".into()));
        }
        if !(0.0..=1.0).contains(&options.min_confidence) {
            return Err(Error::Invalid("min_confidence must be in [0, 1]".into()));
        }
        if !(2..=1000).contains(&options.min_cluster_size) {
            return Err(Error::Invalid(
                "min_cluster_size must be between 2 and 1000".into(),
            ));
        }
        self.tenant(tenant)?;
        // One run at a time: two runs would draft the same messages twice.
        let _one_at_a_time = self.article_locks.lock(tenant);
        let articles = self.storage.articles(tenant)?;
        let dismissed = self.dismissed_blind_spots(tenant)?;
        let drafted: HashSet<&str> = articles
            .iter()
            .filter_map(|a| a.mined.as_ref())
            .flat_map(|m| m.messages.iter().map(|r| r.message_id.as_str()))
            .chain(dismissed.iter().map(String::as_str))
            .collect();
        let knowledge = self.knowledge(tenant)?;

        let mut messages = self.storage.tenant_messages(tenant)?;
        messages.retain(|m| m.received_at_ms >= options.since_ms);
        let scanned = messages.len();
        messages.retain(|m| is_blind_spot(m, options));
        let blind_spots = messages.len();
        messages.retain(|m| !drafted.contains(m.id.as_str()));
        let already_drafted = blind_spots - messages.len();
        let before = messages.len();
        messages.retain(|m| {
            knowledge
                .search(&m.text, 1)
                .first()
                .is_none_or(|hit| hit.score < options.answered_score)
        });
        let answered = before - messages.len();
        // Clustered in arrival order, whatever order the scan found them in;
        // over the cap, the oldest wait, so a run looks at what customers ask now.
        messages.sort_by(|a, b| {
            a.received_at_ms
                .cmp(&b.received_at_ms)
                .then(a.id.cmp(&b.id))
        });
        let skipped = messages.len().saturating_sub(MAX_CANDIDATES);
        messages.drain(..skipped);

        let texts: Vec<String> = messages.iter().map(shown_text).collect();
        let background: Vec<String> = articles
            .iter()
            .filter(|a| a.published)
            .map(|a| format!("{} {} {}", a.title, a.keywords.join(" "), a.body))
            .collect();
        let clusters = cluster(
            &texts,
            &background,
            options.similarity,
            options.min_cluster_size,
        );
        let clustered: usize = clusters.iter().map(|c| c.members.len()).sum();

        let now = now_ms();
        let mut drafts = Vec::new();
        let (mut over_quota, mut quota_exceeded) = (0, None);
        for c in clusters {
            let members: Vec<&MessageRecord> = c.members.iter().map(|&i| &messages[i]).collect();
            // Only confident intents (messages that escalated for another
            // reason) say what the cluster is about.
            let mut guesses: HashMap<&str, usize> = HashMap::new();
            for m in &members {
                let intent = &m.decision.intent;
                if !options.not_understood.contains(&intent.name)
                    && intent.confidence >= options.min_confidence
                {
                    *guesses.entry(&intent.name).or_default() += 1;
                }
            }
            let intent_guess = guesses
                .into_iter()
                .filter(|(_, n)| n * 2 > members.len())
                .map(|(g, _)| g.to_string())
                .next();
            let (title, keywords) = shared_title_and_keywords(&c, &texts, &members);
            // What agents answered these customers becomes the draft's
            // proposed solution (a reviewer still edits and publishes it).
            let answers = self.agent_answers(tenant, &members)?;
            let body = match answers.first() {
                Some(_) => answers.join("\n\n"),
                None => String::new(),
            };
            let templates = answers
                .first()
                .map(|answer| {
                    vec![crate::model::ReplyTemplate {
                        lang: switchyard_sdk::Lang::of_words(answer)
                            .map_or("zh", |l| l.code())
                            .to_string(),
                        text: answer.clone(),
                    }]
                })
                .unwrap_or_default();
            let article = Article {
                id: format!("mined-{:x}", self.storage.next_id(tenant)?),
                title,
                scenario: String::new(),
                problem_type: intent_guess.clone().unwrap_or_default(),
                keywords,
                body,
                templates,
                published: false,
                mined: Some(MinedFrom {
                    messages: members
                        .iter()
                        .map(|m| MessageRef {
                            conversation_id: m.conversation_id.clone(),
                            message_id: m.id.clone(),
                        })
                        .collect(),
                    mined_at_ms: now,
                    intent_guess,
                    escalated: members
                        .iter()
                        .filter(|m| m.decision.escalation.escalate)
                        .count() as u32,
                }),
                updated_at_ms: now,
            };
            match self.check_article_quota(tenant, &article) {
                Ok(()) => {}
                Err(Error::QuotaExceeded(why)) => {
                    over_quota += 1;
                    quota_exceeded = Some(why);
                    continue;
                }
                Err(e) => return Err(e),
            }
            self.storage.put_article(tenant, &article)?;
            drafts.push(Draft {
                article,
                examples: c
                    .members
                    .iter()
                    .take(EXAMPLES)
                    .map(|&i| texts[i].clone())
                    .collect(),
            });
        }
        Ok(MineReport {
            scanned,
            blind_spots,
            already_drafted,
            answered,
            skipped,
            unclustered: texts.len() - clustered,
            over_quota,
            quota_exceeded,
            drafts,
        })
    }

    /// The replies agents sent right after these messages (the first agent
    /// reply after each, in a conversation an agent resolved), most given
    /// first, each once; at most [`MAX_AGENT_ANSWERS`].
    fn agent_answers(&self, tenant: &str, members: &[&MessageRecord]) -> Result<Vec<String>> {
        let mut counted: Vec<(String, usize)> = Vec::new();
        for message in members {
            let Some(conversation) = self
                .storage
                .conversation(tenant, &message.conversation_id)?
            else {
                continue;
            };
            if conversation.resolved_by.is_none() {
                continue;
            }
            let entries = self.storage.entries(tenant, &message.conversation_id)?;
            let answer = entries
                .iter()
                .skip_while(|e| e.id() != message.id)
                .find_map(|e| match e {
                    crate::model::Entry::Post(p)
                        if p.author == crate::model::Author::Agent && !p.private =>
                    {
                        Some(p.text.trim().to_string())
                    }
                    _ => None,
                });
            if let Some(answer) = answer.filter(|a| !a.is_empty()) {
                match counted.iter_mut().find(|(a, _)| *a == answer) {
                    Some((_, n)) => *n += 1,
                    None => counted.push((answer, 1)),
                }
            }
        }
        counted.sort_by_key(|c| std::cmp::Reverse(c.1));
        Ok(counted
            .into_iter()
            .take(MAX_AGENT_ANSWERS)
            .map(|(a, _)| a)
            .collect())
    }

    /// After a customer's erasure: mined drafts drop the references to
    /// messages that are gone (a conversation id may itself name the
    /// customer). A draft nobody has published yet gets its title and
    /// keywords made again from the messages left, since a draft mined
    /// before titles were made of shared words may quote the lead message;
    /// a draft with no message left is deleted. Returns the drafts changed.
    pub(crate) fn forget_in_drafts(&self, tenant: &str) -> Result<usize> {
        let _one_at_a_time = self.article_locks.lock(tenant);
        let mut changed = 0;
        for mut article in self.storage.articles(tenant)? {
            let Some(mined) = &mut article.mined else {
                continue;
            };
            let mut left = Vec::with_capacity(mined.messages.len());
            let mut records = Vec::with_capacity(mined.messages.len());
            for r in &mined.messages {
                if let Some(m) = self
                    .storage
                    .message(tenant, &r.conversation_id, &r.message_id)?
                {
                    left.push(r.clone());
                    records.push(m);
                }
            }
            if left.len() == mined.messages.len() {
                continue;
            }
            changed += 1;
            if left.is_empty() && !article.published {
                self.storage.delete_article(tenant, &article.id)?;
                continue;
            }
            mined.messages = left;
            mined.escalated = mined.escalated.min(mined.messages.len() as u32);
            if !article.published && !records.is_empty() {
                let texts: Vec<String> = records.iter().map(shown_text).collect();
                let cluster = Cluster {
                    members: (0..records.len()).collect(),
                    keywords: std::mem::take(&mut article.keywords),
                };
                let members: Vec<&MessageRecord> = records.iter().collect();
                (article.title, article.keywords) =
                    shared_title_and_keywords(&cluster, &texts, &members);
            }
            self.storage.put_article(tenant, &article)?;
        }
        if changed > 0 {
            self.knowledge.invalidate(tenant);
        }
        Ok(changed)
    }

    /// Ids of messages whose mined drafts were deleted: a reviewer said no.
    fn dismissed_blind_spots(&self, tenant: &str) -> Result<Vec<String>> {
        match self.storage.meta(&dismissed_key(tenant))? {
            Some(json) => serde_json::from_str(&json).map_err(|e| {
                Error::Internal(format!(
                    "dismissed blind spots of {tenant:?} unreadable: {e}"
                ))
            }),
            None => Ok(vec![]),
        }
    }

    /// Remember a deleted draft's messages so mining leaves them alone.
    /// Called with the article lock held.
    pub(crate) fn dismiss_blind_spots(&self, tenant: &str, mined: &MinedFrom) -> Result<()> {
        let mut ids = self.dismissed_blind_spots(tenant)?;
        ids.extend(mined.messages.iter().map(|r| r.message_id.clone()));
        ids.sort();
        ids.dedup();
        let json = serde_json::to_string(&ids).expect("strings serialize");
        self.storage.put_meta(&dismissed_key(tenant), &json)?;
        Ok(())
    }

    /// The tenant's unpublished articles, mined ones with their examples as
    /// they read now.
    pub fn drafts(
        &self,
        tenant: &str,
        after: Option<&Cursor>,
        limit: usize,
    ) -> Result<Page<Draft>> {
        let page = self
            .storage
            .articles_page(tenant, Some(false), after, limit)?;
        let mut out = Vec::new();
        for article in page.items {
            let mut examples = Vec::new();
            if let Some(mined) = &article.mined {
                // By key, one record each: loading each example's whole
                // conversation made a page of drafts cost as much as the
                // longest conversations they quote.
                for r in &mined.messages {
                    if examples.len() == EXAMPLES {
                        break;
                    }
                    if let Some(m) =
                        self.storage
                            .message(tenant, &r.conversation_id, &r.message_id)?
                    {
                        examples.push(shown_text(&m));
                    }
                }
            }
            out.push(Draft { article, examples });
        }
        Ok(Page {
            items: out,
            next: page.next,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn similar_questions_group_together_in_both_languages_and_with_typos() {
        let c = candidates(&[
            "how do I change my delivery address",
            "can I change the delivery adress of my order",
            "发票怎么开",
            "I need to change the address for delivery",
            "我要开发票，怎么开",
            "do you ship to Norway",
            "请问怎么开发票",
            "change delivery address please",
        ]);
        let clusters = cluster(&c, &[], 0.35, 2);
        assert_eq!(clusters.len(), 2, "{clusters:?}");
        let mut address = clusters[0].members.clone();
        address.sort();
        assert_eq!(address, [0, 1, 3, 7]);
        assert!(clusters[0].keywords.iter().any(|k| k == "address"));
        let mut invoice = clusters[1].members.clone();
        invoice.sort();
        assert_eq!(invoice, [2, 4, 6]);
        assert!(clusters[1].keywords.iter().any(|k| k == "发票"));
    }

    fn record(customer: &str, text: &str) -> MessageRecord {
        serde_json::from_value(serde_json::json!({
            "id": "m", "conversation_id": "c", "text": text, "channel": "web",
            "customer": {"id": customer, "tier": "standard"}, "received_at_ms": 0,
            "decision": {
                "intent": {"name": "unknown", "confidence": 0.0}, "alternatives": [], "entities": [],
                "findings": [], "masked_text": null, "escalation": {"escalate": true, "reasons": []},
                "route": {"to": "queue", "queue": "q", "agent": null, "priority": 0, "reason": ""},
                "reply": null, "suggestions": [], "ticket": null, "trace": []
            }
        }))
        .unwrap()
    }

    /// Issue 15, item 5: a mined draft's title quoted the lead message, so a
    /// forgotten customer's words and order number stayed in it.
    #[test]
    fn a_drafts_title_and_keywords_hold_only_words_two_customers_used() {
        let texts = candidates(&[
            "Zhang Wei here, change the delivery address of order 2024113012345",
            "please change the delivery address",
            "change delivery address, I moved to Main street",
            "我要改收货地址，王芳",
            "改一下收货地址",
        ]);
        let customers = ["zhang", "b", "c", "wang", "d"];
        let records: Vec<MessageRecord> = texts
            .iter()
            .zip(customers)
            .map(|(t, c)| record(c, t))
            .collect();
        let cluster = Cluster {
            members: vec![0, 1, 2],
            keywords: vec!["zhang".into(), "address".into(), "2024113012345".into()],
        };
        let members: Vec<&MessageRecord> = cluster.members.iter().map(|&i| &records[i]).collect();
        let (title, keywords) = shared_title_and_keywords(&cluster, &texts, &members);
        assert_eq!(title, "…, change the delivery address …");
        assert_eq!(
            keywords,
            ["address"],
            "one customer's name and order number are kept out"
        );

        let cluster = Cluster {
            members: vec![3, 4],
            keywords: vec!["地址".into(), "王芳".into()],
        };
        let members: Vec<&MessageRecord> = cluster.members.iter().map(|&i| &records[i]).collect();
        let (title, keywords) = shared_title_and_keywords(&cluster, &texts, &members);
        assert_eq!(title, "…改收货地址，…");
        assert_eq!(keywords, ["地址"]);

        // One customer asking three times shares nothing with anybody.
        let records: Vec<MessageRecord> = texts[..3].iter().map(|t| record("same", t)).collect();
        let members: Vec<&MessageRecord> = records.iter().collect();
        let cluster = Cluster {
            members: vec![0, 1, 2],
            keywords: vec!["address".into()],
        };
        let (title, keywords) = shared_title_and_keywords(&cluster, &texts, &members);
        assert_eq!((title.as_str(), keywords.len()), ("3 similar messages", 0));
    }

    #[test]
    fn singletons_and_empty_texts_make_no_cluster() {
        let c = candidates(&["do you ship to Norway", "the a is", "发票怎么开"]);
        assert!(cluster(&c, &[], 0.35, 2).is_empty());
        assert!(cluster(&[], &[], 0.35, 2).is_empty());
    }
}
