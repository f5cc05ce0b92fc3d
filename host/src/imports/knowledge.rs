//! `knowledge`: article search, the plugin's own configuration, knowledge packs.

use crate::bindings::knowledge::{ArticleHit, Host};
use crate::runtime::HostState;

/// Most hits one search returns.
const MAX_HITS: u32 = 20;
/// Longest query the host searches for; longer ones are cut.
const MAX_QUERY_BYTES: usize = 2048;

impl Host for HostState {
    fn search(&mut self, query: String, limit: u32) -> wasmtime::Result<Vec<ArticleHit>> {
        let _span = tracing::trace_span!("knowledge.search", limit).entered();
        let Some(call) = self.context("knowledge.search")? else {
            return Ok(Vec::new());
        };
        let mut end = query.len().min(MAX_QUERY_BYTES);
        while !query.is_char_boundary(end) {
            end -= 1;
        }
        Ok(call
            .knowledge
            .search(&query[..end], limit.min(MAX_HITS) as usize)
            .into_iter()
            .map(|hit| ArticleHit {
                id: hit.id,
                title: hit.title,
                snippet: hit.snippet,
                score: hit.score,
            })
            .collect())
    }

    fn plugin_config(&mut self) -> wasmtime::Result<String> {
        self.charge_host_call("knowledge.plugin-config")?;
        Ok(self.config.to_string())
    }

    fn query_pack(
        &mut self,
        pack: String,
        _query: String,
    ) -> wasmtime::Result<Result<String, String>> {
        let _span = tracing::trace_span!("knowledge.query_pack", pack = %pack).entered();
        self.charge_host_call("knowledge.query-pack")?;
        // Knowledge packs are installed per tenant; none are installable yet,
        // so every pack name is unknown. The guest sees a normal error.
        Ok(Err(format!(
            "no knowledge pack named {pack:?} is installed for this tenant"
        )))
    }
}
