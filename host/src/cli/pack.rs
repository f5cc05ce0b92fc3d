//! `switchyard pack build`: make a knowledge pack's data (its config) from
//! source files. The pack components are embedded in the binary
//! (`switchyard pack component pharmacy -o pharmacy.wasm` writes one out);
//! install both with `switchyard plugin push --slot pack`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use switchyard_sdk::intents::train::Example;
use switchyard_sdk::playbook::Playbook;

use super::intents::TrainingArgs;

#[derive(Subcommand)]
pub enum PackCommand {
    /// Build a pack's data from its sources; prints what went in and what was cleaned.
    #[command(subcommand)]
    Build(BuildCommand),
    /// Write a pack's component (.wasm), as embedded in this binary.
    Component {
        /// Which pack: pharmacy or banking.
        pack: String,
        /// Where to write the component.
        #[arg(short, long)]
        output: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum BuildCommand {
    /// The drug-interaction graph, from the ANSM thesaurus (and the ONC list).
    Pharmacy(PharmacyArgs),
    /// The intent model, trained on labelled examples (BANKING77), with the
    /// playbook: each intent's queue, whether the bot answers it, its scripts.
    Banking(BankingArgs),
}

#[derive(Args)]
pub struct PharmacyArgs {
    /// Folder with the sources: the ANSM files
    /// `ansm_en_worldvista_interactions_2016.tsv` and
    /// `ansm_en_worldvista_class_members_2016.tsv` (or `interactions.tsv` and
    /// `class_members.tsv`), and optionally the ONC list
    /// `onc_high_priority_pairs_mapped.dsv`.
    #[arg(long)]
    from: PathBuf,
    /// Where to write the pack's config (JSON).
    #[arg(short, long)]
    output: PathBuf,
    /// Leave the ONC high-priority list out even when it is in the folder.
    #[arg(long)]
    no_onc: bool,
    /// Also write the full build report (JSON) here.
    #[arg(long)]
    report: Option<PathBuf>,
}

pub fn run(command: PackCommand) -> anyhow::Result<()> {
    match command {
        PackCommand::Build(BuildCommand::Pharmacy(args)) => build_pharmacy(args),
        PackCommand::Build(BuildCommand::Banking(args)) => build_banking(args),
        PackCommand::Component { pack, output } => {
            let component = match pack.as_str() {
                "pharmacy" | "banking" => super::plugin::embedded(&pack)?,
                _ => bail!("unknown pack {pack:?}; this build knows: pharmacy, banking"),
            };
            std::fs::write(&output, component)
                .with_context(|| format!("writing {}", output.display()))?;
            println!("wrote {} ({} bytes)", output.display(), component.len());
            Ok(())
        }
    }
}

/// The first of `names` that exists in `dir`.
fn find(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn build_pharmacy(args: PharmacyArgs) -> anyhow::Result<()> {
    let dir = &args.from;
    let interactions = find(dir, &["ansm_en_worldvista_interactions_2016.tsv", "interactions.tsv"])
        .with_context(|| format!("no interaction file (ansm_en_worldvista_interactions_2016.tsv or interactions.tsv) in {}", dir.display()))?;
    let members = find(dir, &["ansm_en_worldvista_class_members_2016.tsv", "class_members.tsv"])
        .with_context(|| format!("no class-member file (ansm_en_worldvista_class_members_2016.tsv or class_members.tsv) in {}", dir.display()))?;
    let onc = if args.no_onc {
        None
    } else {
        find(dir, &["onc_high_priority_pairs_mapped.dsv"])
    };
    let onc_text = onc.as_deref().map(read).transpose()?;
    let (graph, report) = switchyard_pack_pharmacy::graph::build(
        &read(&interactions)?,
        &read(&members)?,
        onc_text.as_deref(),
    )
    .map_err(anyhow::Error::msg)?;
    let json = serde_json::to_string(&graph)?;
    write_pack_data(&args.output, &json)?;
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_string_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }

    println!(
        "pharmacy pack data: {} ({} bytes)",
        args.output.display(),
        json.len()
    );
    println!(
        "  {} interaction rows -> {} drugs, {} findings, {} drug pairs",
        report.interaction_rows, report.drugs, report.findings, report.pairs
    );
    println!(
        "  severities cleaned: {} (blank or misspelt; blank and unreadable ones become not-recommended)",
        report.cleaned_severities.len()
    );
    for (id, raw, used) in &report.cleaned_severities {
        println!("    row {id}: {raw:?} -> {used}");
    }
    println!(
        "  class names matched to the class file: {}",
        report.resolved_classes.len()
    );
    for (class, target, how) in &report.resolved_classes {
        println!("    {class:?} -> {target:?} ({how})");
    }
    if !report.unresolved_classes.is_empty() {
        println!("  classes with no members (their rows are left out):");
        for (class, rows) in &report.unresolved_classes {
            println!("    {class:?}: {rows} rows");
        }
    }
    if !report.empty_rows.is_empty() {
        println!("  empty rows left out: {}", report.empty_rows.join(", "));
    }
    if let Some(onc) = &report.onc {
        println!(
            "  ONC list: {} pairs; ANSM alone flags {} of the {} whose drugs it names ({:.1}%); {} drugs only ONC names; all ONC pairs are now in the graph",
            onc.pairs,
            onc.flagged_by_ansm,
            onc.both_named_by_ansm,
            100.0 * onc.flagged_by_ansm as f64 / onc.both_named_by_ansm.max(1) as f64,
            onc.new_drugs
        );
    }
    print_pharmacy_names(&report);
    Ok(())
}

/// The part of the pharmacy build report about names: what the source's name
/// cells give, which entries are one drug, and which drugs of the serious
/// pairs customers cannot name by a common name.
fn print_pharmacy_names(report: &switchyard_pack_pharmacy::graph::BuildReport) {
    println!(
        "  source names read as more than their text (other names, remarks, notes, salts): {}",
        report.names_read.len()
    );
    for (name, names, rules) in &report.names_read {
        println!(
            "    {name:?} -> {} ({})",
            names.join(", "),
            rules.join(", ")
        );
    }
    println!(
        "  source names not parsed (a note where a name belongs; kept under their own text): {}",
        report.names_unparsed.len()
    );
    for name in &report.names_unparsed {
        println!("    {name:?}");
    }
    println!(
        "  source entries taken as one drug (every name of one finds the other's pairs): {}",
        report.same_drug.len()
    );
    for (a, b, why) in &report.same_drug {
        println!("    {a:?} = {b:?} ({why})");
    }
    if !report.code_conflicts.is_empty() {
        println!(
            "  RxNorm codes the sources give to names that do not look alike (not taken as one drug):"
        );
        for (code, a, b) in &report.code_conflicts {
            println!("    {code}: {a:?}, {b:?}");
        }
    }
    let Some(common) = &report.common_names else {
        return;
    };
    println!(
        "  common names (synonyms.tsv) of the {} drugs in the source's contraindicated and not-recommended pairs: English {}, Chinese {}; pairs whose two drugs have one: English {} of {}, Chinese {} of {}",
        common.drugs,
        common.with_english,
        common.with_chinese,
        common.pairs_with_english,
        common.pairs,
        common.pairs_with_chinese,
        common.pairs
    );
    for (what, drugs) in [
        ("no common name", &common.no_common_name),
        (
            "no English common name (a Chinese one only)",
            &common.no_english_name,
        ),
        (
            "no Chinese name (an English one only)",
            &common.no_chinese_name,
        ),
    ] {
        println!("    {what}: {}", drugs.len());
        if !drugs.is_empty() {
            println!("      {}", drugs.join(", "));
        }
    }
    // Against a small graph (the demo's) most rows name drugs it lacks: a
    // count and a few, the whole list in --report.
    const SHOWN: usize = 10;
    if !common.unknown_synonyms.is_empty() {
        let unknown = &common.unknown_synonyms;
        println!(
            "  synonym rows naming no drug of the graph: {}: {}{}",
            unknown.len(),
            unknown[..unknown.len().min(SHOWN)].join(", "),
            if unknown.len() > SHOWN {
                ", ... (all in --report)"
            } else {
                ""
            }
        );
    }
}

#[derive(Args)]
pub struct BankingArgs {
    /// Labelled examples (CSV `text,label` or `text,category`, or CLINC150
    /// JSON), or a folder holding `train.csv` (BANKING77's layout).
    #[arg(long)]
    from: PathBuf,
    /// More labelled examples trained on beside them (repeatable):
    /// `--also examples/banking/demo-train.csv` keeps the demo's Chinese
    /// examples, so the model serves both languages.
    #[arg(long = "also")]
    also: Vec<PathBuf>,
    /// How many times each `--also` example counts (1 to 100): a few
    /// dozen examples of a second language beside ten thousand of the first
    /// barely move the model otherwise.
    #[arg(long = "also-weight", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100))]
    also_weight: u32,
    /// The languages the tenant serves; by default those the playbook has
    /// scripts in. The build refuses examples with none in one of them.
    #[arg(long, value_parser = super::languages::parse_languages)]
    languages: Option<super::languages::Languages>,
    /// The playbook (JSON `{"intents": {name: {"queue", "bot", "script": {"en", "zh"}}}}`),
    /// for example `examples/banking/playbook.json`.
    #[arg(long)]
    playbook: PathBuf,
    /// Where to write the pack's data (its config: the model and the playbook).
    #[arg(short, long)]
    output: PathBuf,
    #[command(flatten)]
    training: TrainingArgs,
}

/// Write a pack's config, refusing one the host would refuse to bind.
fn write_pack_data(output: &Path, json: &str) -> anyhow::Result<()> {
    check_config_size(json)?;
    std::fs::write(output, json).with_context(|| format!("writing {}", output.display()))
}

fn check_config_size(json: &str) -> anyhow::Result<()> {
    if json.len() > crate::app::MAX_CONFIG_BYTES {
        bail!(
            "the pack's data is {} bytes, above the {} a config may have",
            json.len(),
            crate::app::MAX_CONFIG_BYTES
        );
    }
    Ok(())
}

/// A banking pack's data, built and checked, with what went into it.
pub struct BankingBuild {
    /// The pack's config (`switchyard_pack_banking::PackData` as JSON).
    pub json: String,
    pub examples: usize,
    pub intents: usize,
    pub features: usize,
    pub members: usize,
    pub hidden: usize,
    pub seconds: f64,
    /// How temperature and threshold were fitted.
    pub calibration: String,
    /// Intents the model names that the playbook has no entry for.
    pub unscripted: Vec<String>,
    /// Playbook entries for intents the examples do not have.
    pub unnamed: Vec<String>,
    /// Examples and intents per language.
    pub languages: Vec<String>,
}

/// The languages a playbook has scripts in: those its tenant serves.
pub fn playbook_languages(playbook: &Playbook) -> Vec<String> {
    let entries = || playbook.intents.values();
    let mut out = Vec::new();
    if entries().any(|e| !e.script.en.trim().is_empty()) {
        out.push("en".to_string());
    }
    if entries().any(|e| !e.script.zh.trim().is_empty()) {
        out.push("zh".to_string());
    }
    out
}

/// Train the intent model on `examples` and put it beside `playbook` as the
/// banking pack's data, loaded once by the pack's own code to be sure the
/// component will accept it. Refused: examples with none in one of
/// `languages` (the tenant's), a playbook entry without a queue or a
/// script, a playbook that covers none of the intents, data above the
/// config cap.
pub fn banking_pack_data(
    examples: &[Example],
    playbook: &Playbook,
    languages: &[String],
    training: &TrainingArgs,
) -> anyhow::Result<BankingBuild> {
    playbook.check().map_err(anyhow::Error::msg)?;
    // The model names exactly the examples' labels: checked before training.
    let labels: BTreeSet<&str> = examples
        .iter()
        .map(|e| e.label.as_str())
        .filter(|l| *l != training.out_of_scope)
        .collect();
    let unscripted: Vec<String> = labels
        .iter()
        .filter(|l| !playbook.intents.contains_key(**l))
        .map(|l| l.to_string())
        .collect();
    let unnamed: Vec<String> = playbook
        .intents
        .keys()
        .filter(|i| !labels.contains(i.as_str()))
        .cloned()
        .collect();
    if unscripted.len() == labels.len() {
        bail!(
            "the playbook has an entry for none of the {} intents of the examples",
            labels.len()
        );
    }
    let coverage = super::languages::Coverage::of(examples, &training.out_of_scope);
    coverage.check(languages)?;
    let started = std::time::Instant::now();
    let trained = super::intents::train_calibrated(examples, training)?;
    let seconds = started.elapsed().as_secs_f64();
    let model = &trained.model;
    let json = serde_json::to_string(&switchyard_pack_banking::PackData {
        model: model.to_base64(),
        playbook: playbook.clone(),
    })?;
    switchyard_pack_banking::Banking::load(&json).map_err(anyhow::Error::msg)?;
    check_config_size(&json)?;
    Ok(BankingBuild {
        json,
        examples: trained.examples,
        intents: labels.len(),
        features: model.features(),
        members: model.members(),
        hidden: model.hidden(),
        seconds,
        calibration: trained.calibration,
        unscripted,
        unnamed,
        languages: coverage.report(),
    })
}

fn build_banking(args: BankingArgs) -> anyhow::Result<()> {
    let examples_path = if args.from.is_dir() {
        find(&args.from, &["train.csv"])
            .with_context(|| format!("no train.csv in {}", args.from.display()))?
    } else {
        args.from.clone()
    };
    let playbook: Playbook = serde_json::from_str(&read(&args.playbook)?)
        .with_context(|| format!("{}: not a playbook", args.playbook.display()))?;
    let mut examples =
        super::intents::load_examples(&examples_path.to_string_lossy(), &["train", "oos_train"])?;
    for more in &args.also {
        let more = super::intents::load_examples(&more.to_string_lossy(), &["train", "oos_train"])?;
        for _ in 0..args.also_weight {
            examples.extend(more.iter().cloned());
        }
    }
    let languages = match &args.languages {
        Some(languages) => languages.0.clone(),
        None => playbook_languages(&playbook),
    };
    let build =
        banking_pack_data(&examples, &playbook, &languages, &args.training).with_context(|| {
            format!(
                "{} with {}",
                args.playbook.display(),
                examples_path.display()
            )
        })?;
    write_pack_data(&args.output, &build.json)?;

    println!(
        "banking pack data: {} ({} bytes)",
        args.output.display(),
        build.json.len()
    );
    println!(
        "  model: {} examples, {} intents, {} features, {} members of {} hidden units, trained in {:.1} s",
        build.examples, build.intents, build.features, build.members, build.hidden, build.seconds
    );
    println!("  {}", build.calibration);
    println!(
        "  languages (the tenant serves {}): {}",
        languages.join(", "),
        build.languages.join("; ")
    );
    let mut queues: BTreeMap<&str, usize> = BTreeMap::new();
    for entry in playbook.intents.values() {
        *queues.entry(entry.queue.as_str()).or_default() += 1;
    }
    println!(
        "  playbook: {} intents in {} queues ({}); the bot may answer {}",
        playbook.intents.len(),
        queues.len(),
        queues
            .iter()
            .map(|(q, n)| format!("{q} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        playbook.intents.values().filter(|e| e.bot).count()
    );
    if build.unscripted.is_empty() {
        println!("  every intent the model names has a playbook entry");
    } else {
        println!(
            "  {} intents the model names have no playbook entry (no script; the router's default queue): {}",
            build.unscripted.len(),
            build.unscripted.join(", ")
        );
    }
    if !build.unnamed.is_empty() {
        println!(
            "  {} playbook entries name intents the examples do not have: {}",
            build.unnamed.len(),
            build.unnamed.join(", ")
        );
    }
    Ok(())
}
