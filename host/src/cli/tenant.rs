//! `switchyard tenant …`: create and list tenants on a running server,
//! through its operator API. A new tenant can start as a copy of an example
//! tenant (`--from demo|pharmacy|banking`), so it answers its first message
//! with plugins, queues and agents instead of slot defaults.

use clap::Subcommand;

use super::plugin::{Client, ServerArgs};

#[derive(Subcommand)]
pub enum TenantCommand {
    /// Create a tenant and print its API key (shown once: only its hash is kept).
    Create {
        /// Tenant id (letters, digits, `-`, `_`, `.`).
        id: String,
        /// Display name; the id by default.
        #[arg(long)]
        name: Option<String>,
        /// Copy an example tenant's plugins and configs, pack, queues,
        /// agents and articles: demo, pharmacy or banking.
        #[arg(long)]
        from: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// List the tenants.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
}

pub fn run(command: TenantCommand) -> anyhow::Result<()> {
    match command {
        TenantCommand::Create {
            id,
            name,
            from,
            server,
        } => {
            let client = Client::new(&server)?;
            let name = name.unwrap_or_else(|| id.clone());
            let created = client.post(
                "/v1/tenants",
                &serde_json::json!({"id": id, "name": name, "from": from}),
            )?;
            match &from {
                Some(example) => println!("created tenant {id} from the {example} example"),
                None => println!(
                    "created tenant {id}, empty: every slot answers with its default until you push plugins (or create it with --from demo)"
                ),
            }
            println!(
                "api key (shown once): {}",
                created["api_key"].as_str().unwrap_or_default()
            );
        }
        TenantCommand::List { server } => {
            let client = Client::new(&server)?;
            let mut after: Option<String> = None;
            loop {
                let path = match &after {
                    Some(cursor) => format!("/v1/tenants?after={cursor}"),
                    None => "/v1/tenants".to_string(),
                };
                let page = client.get(&path)?;
                for t in page["tenants"].as_array().into_iter().flatten() {
                    println!(
                        "{}  {}",
                        t["id"].as_str().unwrap_or_default(),
                        t["name"].as_str().unwrap_or_default()
                    );
                }
                match page["next"].as_str() {
                    Some(next) => after = Some(next.to_string()),
                    None => break,
                }
            }
        }
    }
    Ok(())
}
