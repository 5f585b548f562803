//! [`Traced`]: what each kind of Ollama answer tells its trace.

use crate::ollama::types::{ChatResponse, EmbedResponse, GenerateResponse, Metrics};
use crate::traces::TraceHandle;

/// An answer (or one streamed line of it) that fills a trace.
pub trait Traced {
    /// Tells the trace what this carries: text, reasoning, tool calls and, on the final line,
    /// Ollama's counts and timings.
    fn record(&self, trace: &mut TraceHandle);
    /// Whether this is the final line (a whole answer always is).
    fn is_done(&self) -> bool;
    /// Ollama's counts and timings (empty before the final line).
    fn metrics(&self) -> Metrics;
}

impl Traced for ChatResponse {
    fn record(&self, trace: &mut TraceHandle) {
        let m = &self.message;
        trace.push_thinking(m.thinking.as_deref().unwrap_or_default());
        trace.push_output(&m.content);
        trace.push_tool_calls(m.tool_calls.as_deref().unwrap_or_default());
        if self.done {
            trace.set_metrics(&self.metrics);
        }
    }
    fn is_done(&self) -> bool {
        self.done
    }
    fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }
}

impl Traced for GenerateResponse {
    fn record(&self, trace: &mut TraceHandle) {
        trace.push_thinking(self.thinking.as_deref().unwrap_or_default());
        trace.push_output(&self.response);
        if self.done {
            trace.set_metrics(&self.metrics);
        }
    }
    fn is_done(&self) -> bool {
        self.done
    }
    fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }
}

impl Traced for EmbedResponse {
    fn record(&self, trace: &mut TraceHandle) {
        let count = self.embeddings.len();
        let dims = self.embeddings.first().map_or(0, Vec::len);
        trace.push_output(&format!("{count} embeddings of {dims} dimensions"));
        trace.set_metrics(&self.metrics());
    }
    fn is_done(&self) -> bool {
        true
    }
    fn metrics(&self) -> Metrics {
        Metrics {
            prompt_eval_count: self.prompt_eval_count,
            load_duration: self.load_duration,
            total_duration: self.total_duration,
            ..Metrics::default()
        }
    }
}
