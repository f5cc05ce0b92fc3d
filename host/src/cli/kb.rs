//! `switchyard kb …`: a tenant's knowledge base on a running server: mine
//! blind spots into drafts, review and edit them, publish, search.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use serde_json::{Value, json};

use super::plugin::Client;
use crate::model::percent_encode;

#[derive(Args, Clone)]
pub struct TenantServerArgs {
    /// Base URL of the running server.
    #[arg(
        long,
        env = "SWITCHYARD_SERVER",
        default_value = "http://127.0.0.1:8080"
    )]
    server: String,
    /// The tenant's API key; defaults to the one `serve` keeps in DATA/TENANT.key.
    #[arg(long, env = "SWITCHYARD_KEY", hide_env_values = true)]
    key: Option<String>,
    /// Tenant whose key file to read when no --key is given.
    #[arg(long, default_value = crate::demo::DEMO_TENANT)]
    tenant: String,
    /// Data directory of the server, to find the key file.
    #[arg(long, env = "SWITCHYARD_DATA", default_value = "./switchyard-data")]
    data: PathBuf,
}

impl TenantServerArgs {
    fn client(&self) -> anyhow::Result<Client> {
        let key = match &self.key {
            Some(k) => k.clone(),
            None => {
                let file = self.data.join(format!("{}.key", self.tenant));
                std::fs::read_to_string(&file)
                    .with_context(|| {
                        format!("no --key given and {} is not readable", file.display())
                    })?
                    .trim()
                    .to_string()
            }
        };
        Ok(Client::with_key(&self.server, key))
    }
}

#[derive(Subcommand)]
pub enum KbCommand {
    /// Cluster the messages that were not understood or escalated into draft
    /// articles, and list the new drafts.
    Mine {
        /// Smallest cluster that becomes a draft.
        #[arg(long, default_value_t = 3)]
        min_size: usize,
        /// Cosine similarity a message needs to its cluster's centre (0-1].
        #[arg(long, default_value_t = 0.35)]
        similarity: f32,
        /// Only messages of the last HOURS hours.
        #[arg(long)]
        hours: Option<u64>,
        #[command(flatten)]
        server: TenantServerArgs,
    },
    /// Unpublished articles, mined ones with example messages.
    Drafts {
        #[command(flatten)]
        server: TenantServerArgs,
    },
    /// One article as JSON: edit it and give it back with `kb put`.
    Show {
        id: String,
        #[command(flatten)]
        server: TenantServerArgs,
    },
    /// Create or replace an article from a JSON file (as `kb show` prints it).
    Put {
        file: PathBuf,
        #[command(flatten)]
        server: TenantServerArgs,
    },
    /// Publish an article: search and the assistant use it from the next message on.
    Publish {
        id: String,
        #[command(flatten)]
        server: TenantServerArgs,
    },
    /// Take an article out of search, keeping it as a draft.
    Unpublish {
        id: String,
        #[command(flatten)]
        server: TenantServerArgs,
    },
    /// Delete an article; a mined draft's messages are not mined again.
    Delete {
        id: String,
        #[command(flatten)]
        server: TenantServerArgs,
    },
    /// Search the published articles as the assistant does.
    Search {
        query: String,
        #[arg(long, default_value_t = 5)]
        limit: usize,
        #[command(flatten)]
        server: TenantServerArgs,
    },
}

pub fn run(command: KbCommand) -> anyhow::Result<()> {
    match command {
        KbCommand::Mine {
            min_size,
            similarity,
            hours,
            server,
        } => {
            let since_ms = hours
                .map(|h| crate::model::now_ms().saturating_sub(h.saturating_mul(3_600_000)))
                .unwrap_or(0);
            let report = server.client()?.post(
                "/v1/knowledge/mine",
                &json!({"min_cluster_size": min_size, "similarity": similarity, "since_ms": since_ms}),
            )?;
            println!(
                "{} messages, {} blind spots ({} already drafted, {} answered by articles, {} skipped), {} in no cluster",
                report["scanned"],
                report["blind_spots"],
                report["already_drafted"],
                report["answered"],
                report["skipped"],
                report["unclustered"],
            );
            let drafts = report["drafts"].as_array().cloned().unwrap_or_default();
            println!("{} new drafts", drafts.len());
            for d in &drafts {
                print_draft(d);
            }
        }
        KbCommand::Drafts { server } => {
            let client = server.client()?;
            let mut path = "/v1/knowledge/drafts".to_string();
            loop {
                let page = client.get(&path)?;
                for d in page["drafts"].as_array().into_iter().flatten() {
                    print_draft(d);
                }
                match page["next"].as_str() {
                    Some(next) => path = format!("/v1/knowledge/drafts?after={next}"),
                    None => break,
                }
            }
        }
        KbCommand::Show { id, server } => {
            let article = server
                .client()?
                .get(&format!("/v1/knowledge/articles/{}", percent_encode(&id)))?;
            println!("{}", serde_json::to_string_pretty(&article)?);
        }
        KbCommand::Put { file, server } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let article: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", file.display()))?;
            let id = article["id"]
                .as_str()
                .with_context(|| format!("{} has no \"id\"", file.display()))?;
            let stored = server.client()?.put(
                &format!("/v1/knowledge/articles/{}", percent_encode(id)),
                &article,
            )?;
            println!(
                "stored {} ({})",
                stored["id"].as_str().unwrap_or(id),
                if stored["published"] == true {
                    "published"
                } else {
                    "draft"
                }
            );
        }
        KbCommand::Publish { id, server } => {
            server.client()?.post(
                &format!("/v1/knowledge/articles/{}/publish", percent_encode(&id)),
                &json!({}),
            )?;
            println!("published {id}");
        }
        KbCommand::Unpublish { id, server } => {
            server.client()?.post(
                &format!("/v1/knowledge/articles/{}/unpublish", percent_encode(&id)),
                &json!({}),
            )?;
            println!("unpublished {id}");
        }
        KbCommand::Delete { id, server } => {
            server
                .client()?
                .delete(&format!("/v1/knowledge/articles/{}", percent_encode(&id)))?;
            println!("deleted {id}");
        }
        KbCommand::Search {
            query,
            limit,
            server,
        } => {
            let hits = server.client()?.get(&format!(
                "/v1/knowledge/search?q={}&limit={limit}",
                percent_encode(&query)
            ))?;
            for h in hits.as_array().into_iter().flatten() {
                println!(
                    "{:.2} (keyword {:.2}, n-gram {:.2})  {}  {}",
                    h["score"].as_f64().unwrap_or(0.0),
                    h["keyword_score"].as_f64().unwrap_or(0.0),
                    h["ngram_score"].as_f64().unwrap_or(0.0),
                    h["id"].as_str().unwrap_or(""),
                    h["title"].as_str().unwrap_or(""),
                );
            }
        }
    }
    Ok(())
}

fn print_draft(d: &Value) {
    let size = d["mined"]["messages"].as_array().map_or(0, Vec::len);
    let keywords: Vec<&str> = super::json_strings(&d["keywords"]);
    println!(
        "\n{}  {}  ({} messages; keywords: {})",
        d["id"].as_str().unwrap_or(""),
        d["title"].as_str().unwrap_or(""),
        size,
        keywords.join(", ")
    );
    for e in d["examples"].as_array().into_iter().flatten() {
        println!("    - {}", e.as_str().unwrap_or(""));
    }
}
