//! `knowledge`: article search, the plugin's own configuration, knowledge packs.

use crate::bindings::knowledge::{ArticleHit, Host, ReplyTemplate};
use crate::runtime::lanes::PackCall;
use crate::runtime::{HostState, Outcome, SlotOutput};

/// Most hits one search returns.
const MAX_HITS: u32 = 20;
/// Longest query the host searches for; longer ones are cut.
const MAX_QUERY_BYTES: usize = 2048;
/// Largest query one plugin may send a pack.
const MAX_PACK_QUERY_BYTES: usize = 64 * 1024;
/// Pack calls of one message that go into its trace, metrics and breaker;
/// a plugin that asks more is still answered, but its record stays bounded.
const MAX_RECORDED_PACK_CALLS: usize = 16;

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
                templates: hit
                    .templates
                    .into_iter()
                    .map(|t| ReplyTemplate {
                        lang: t.lang,
                        text: t.text,
                    })
                    .collect(),
            })
            .collect())
    }

    fn coverage(&mut self, query: String, article_id: String) -> wasmtime::Result<f32> {
        let _span = tracing::trace_span!("knowledge.coverage").entered();
        let Some(call) = self.context("knowledge.coverage")? else {
            return Ok(0.0);
        };
        let mut end = query.len().min(MAX_QUERY_BYTES);
        while !query.is_char_boundary(end) {
            end -= 1;
        }
        Ok(call.knowledge.coverage(&query[..end], &article_id))
    }

    fn plugin_config(&mut self) -> wasmtime::Result<String> {
        self.charge_host_call("knowledge.plugin-config")?;
        Ok(self.config.to_string())
    }

    fn query_pack(
        &mut self,
        pack: String,
        query: String,
    ) -> wasmtime::Result<Result<String, String>> {
        let _span = tracing::trace_span!("knowledge.query_pack", pack = %pack).entered();
        // During `init`, and inside a pack (which runs with no conversation),
        // there is nothing to ask: packs cannot call packs.
        let Some(call) = self.context("knowledge.query-pack")? else {
            return Ok(Err(
                "knowledge packs can only be asked while handling a message".into(),
            ));
        };
        if query.len() > MAX_PACK_QUERY_BYTES {
            return Ok(Err(format!(
                "pack query of {} bytes is longer than {MAX_PACK_QUERY_BYTES}",
                query.len()
            )));
        }
        let Some((bound, role)) = call.packs.pick(&pack, &call.conversation_id) else {
            return Ok(Err(format!(
                "no knowledge pack named {pack:?} is installed for this tenant"
            )));
        };
        // The pack runs in its own store under its own limits; its call's
        // time counts against the asking plugin's deadline, which keeps
        // ticking. Making a fresh pack instance (no warm one free) does not:
        // that is the host's cost, not the plugin's.
        let (mut result, cold_start) = bound.query(&query);
        self.excuse(cold_start);
        let answer = match result.output.take() {
            Some(SlotOutput::Pack(answer)) if result.outcome == Outcome::Ok => answer,
            _ => Err(format!(
                "knowledge pack {pack:?} failed: {}: {}",
                result.outcome.as_str(),
                result.detail.as_deref().unwrap_or_default()
            )),
        };
        let mut recorded = call.pack_calls.lock().unwrap();
        if recorded.len() < MAX_RECORDED_PACK_CALLS {
            recorded.push(PackCall {
                pack: bound.clone(),
                role,
                result,
            });
        }
        Ok(answer)
    }
}
