//! `switchyard pack build`: make a knowledge pack's data (its config) from
//! source files. The pack component itself is embedded in the binary
//! (`switchyard pack component pharmacy -o pharmacy.wasm` writes it out);
//! install both with `switchyard plugin push --slot pack`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, Subcommand};

#[derive(Subcommand)]
pub enum PackCommand {
    /// Build a pack's data from its sources; prints what was cleaned.
    Build(BuildArgs),
    /// Write a pack's component (.wasm), as embedded in this binary.
    Component {
        /// Which pack: pharmacy.
        pack: String,
        /// Where to write the component.
        #[arg(short, long)]
        output: PathBuf,
    },
}

#[derive(Args)]
pub struct BuildArgs {
    /// Which pack: pharmacy.
    pack: String,
    /// Folder with the sources. For pharmacy: the ANSM files
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
        PackCommand::Build(args) => build(args),
        PackCommand::Component { pack, output } => {
            check_pack(&pack)?;
            std::fs::write(&output, crate::demo::PHARMACY_PACK)
                .with_context(|| format!("writing {}", output.display()))?;
            println!(
                "wrote {} ({} bytes)",
                output.display(),
                crate::demo::PHARMACY_PACK.len()
            );
            Ok(())
        }
    }
}

fn check_pack(pack: &str) -> anyhow::Result<()> {
    if pack != "pharmacy" {
        bail!("unknown pack {pack:?}; this build knows: pharmacy");
    }
    Ok(())
}

/// The first of `names` that exists in `dir`.
fn find(dir: &Path, names: &[&str]) -> Option<PathBuf> {
    names.iter().map(|n| dir.join(n)).find(|p| p.is_file())
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

fn build(args: BuildArgs) -> anyhow::Result<()> {
    check_pack(&args.pack)?;
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
    if json.len() > crate::app::MAX_CONFIG_BYTES {
        bail!(
            "the pack's data is {} bytes, above the {} a config may have",
            json.len(),
            crate::app::MAX_CONFIG_BYTES
        );
    }
    std::fs::write(&args.output, &json)
        .with_context(|| format!("writing {}", args.output.display()))?;
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
    Ok(())
}
