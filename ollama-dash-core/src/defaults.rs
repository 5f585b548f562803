//! Per-model generation defaults applied to what a request leaves out.
//!
//! [`Dashboard::generation_defaults`] reads the settings (`settings.rs`: the model's own values,
//! then the global ones) from memory; [`GenerationDefaults::apply`] fills only the fields a
//! request left out.

use crate::dashboard::Dashboard;
use crate::ollama::types::{KeepAlive, ModelOptions};

/// Defaults for one model: global settings overlaid with the model's own.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GenerationDefaults {
    /// Default options (temperature, top_k, top_p, min_p, num_ctx, num_predict, seed,
    /// repeat_penalty, stop, …).
    pub options: ModelOptions,
    /// Default keep-alive.
    pub keep_alive: Option<KeepAlive>,
}

impl GenerationDefaults {
    /// Fills what the request left out; never overrides a value the request set.
    pub fn apply(&self, options: &mut Option<ModelOptions>, keep_alive: &mut Option<KeepAlive>) {
        if keep_alive.is_none() {
            keep_alive.clone_from(&self.keep_alive);
        }
        if self.options == ModelOptions::default() {
            return;
        }
        let o = options.get_or_insert_with(ModelOptions::default);
        let d = &self.options;
        fill(&mut o.num_ctx, &d.num_ctx);
        fill(&mut o.num_predict, &d.num_predict);
        fill(&mut o.seed, &d.seed);
        fill(&mut o.temperature, &d.temperature);
        fill(&mut o.top_k, &d.top_k);
        fill(&mut o.top_p, &d.top_p);
        fill(&mut o.min_p, &d.min_p);
        fill(&mut o.repeat_penalty, &d.repeat_penalty);
        fill(&mut o.presence_penalty, &d.presence_penalty);
        fill(&mut o.frequency_penalty, &d.frequency_penalty);
        fill(&mut o.stop, &d.stop);
        for (key, value) in &d.extra {
            o.extra.entry(key.clone()).or_insert_with(|| value.clone());
        }
    }
}

fn fill<T: Clone>(slot: &mut Option<T>, default: &Option<T>) {
    if slot.is_none() {
        slot.clone_from(default);
    }
}

impl Dashboard {
    /// The generation defaults for `model` from settings (memory only, no I/O).
    pub async fn generation_defaults(&self, model: &str) -> GenerationDefaults {
        let mut options = ModelOptions::default();
        self.apply_defaults(model, &mut options);
        GenerationDefaults {
            options,
            keep_alive: self.default_keep_alive(model),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_only_what_the_request_left_out() {
        let defaults = GenerationDefaults {
            options: ModelOptions {
                temperature: Some(0.2),
                num_ctx: Some(8192),
                stop: Some(vec!["###".into()]),
                ..ModelOptions::default()
            },
            keep_alive: Some(KeepAlive::Duration("1h".into())),
        };
        let mut options = Some(ModelOptions {
            temperature: Some(0.9),
            ..ModelOptions::default()
        });
        let mut keep_alive = None;
        defaults.apply(&mut options, &mut keep_alive);
        let o = options.unwrap_or_default();
        assert_eq!(o.temperature, Some(0.9), "the request's value wins");
        assert_eq!(o.num_ctx, Some(8192));
        assert_eq!(o.stop, Some(vec!["###".to_owned()]));
        assert_eq!(keep_alive, Some(KeepAlive::Duration("1h".into())));

        let mut none = None;
        let mut keep = Some(KeepAlive::Seconds(0.0));
        GenerationDefaults::default().apply(&mut none, &mut keep);
        assert_eq!(none, None, "no defaults, no options object");
        assert_eq!(keep, Some(KeepAlive::Seconds(0.0)));
    }
}
