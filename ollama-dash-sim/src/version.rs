//! Version drift: which wire features the simulated Ollama version has (digest §14).

/// A parsed `major.minor.patch` version; anything unparsable counts as the newest build.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version(u32, u32, u32);

impl Version {
    pub(crate) fn parse(text: &str) -> Version {
        let core = text.trim().trim_start_matches('v');
        let core = core.split(['-', '+']).next().unwrap_or_default();
        let mut parts = core.split('.').map(|part| part.parse::<u32>());
        match (parts.next(), parts.next(), parts.next()) {
            (Some(Ok(major)), Some(Ok(minor)), patch) => {
                Version(major, minor, patch.and_then(Result::ok).unwrap_or(0))
            }
            _ => Version(u32::MAX, 0, 0),
        }
    }
}

/// The features that changed shape across Ollama releases.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Features {
    /// `done_reason` on generate and chat (v0.1.35).
    pub done_reason: bool,
    /// `size_vram` in /api/ps (v0.1.38).
    pub size_vram: bool,
    /// `/api/embed` exists (v0.3.0).
    pub embed: bool,
    /// `capabilities` in /api/show (v0.6.4).
    pub show_capabilities: bool,
    /// `think` and the `thinking` capability (v0.9.0).
    pub think: bool,
    /// `context_length` in /api/ps (v0.10.0).
    pub ps_context_length: bool,
    /// `think` accepts "low"/"medium"/"high" (v0.11.0).
    pub think_levels: bool,
    /// `dimensions` in /api/embed (v0.11.11).
    pub dimensions: bool,
    /// `capabilities` and `details.context_length`/`embedding_length` in /api/tags (about v0.30).
    pub tags_capabilities: bool,
    /// `prompt_eval_count` counts the cached prefix too. It did from the Go runner (v0.4.0,
    /// `numPromptInputs`) on; the C++ server before it counted only evaluated tokens
    /// (`prompt_n`), and so did v0.30.0's llama-server until v0.30.1 added `cache_n` back.
    pub prompt_count_includes_cache: bool,
    /// The default context length: 2048 through v0.6.x, then 4096 (an 8 GiB GPU in current builds).
    pub default_num_ctx: u64,
}

impl Features {
    pub(crate) fn of(version: &str) -> Features {
        let v = Version::parse(version);
        let since = |major, minor, patch| v >= Version(major, minor, patch);
        Features {
            done_reason: since(0, 1, 35),
            size_vram: since(0, 1, 38),
            embed: since(0, 3, 0),
            show_capabilities: since(0, 6, 4),
            think: since(0, 9, 0),
            ps_context_length: since(0, 10, 0),
            think_levels: since(0, 11, 0),
            dimensions: since(0, 11, 11),
            tags_capabilities: since(0, 30, 0),
            prompt_count_includes_cache: since(0, 4, 0) && v != Version(0, 30, 0),
            default_num_ctx: if since(0, 7, 0) { 4096 } else { 2048 },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders_versions() {
        assert!(Version::parse("0.12.6") > Version::parse("0.9.0"));
        assert!(Version::parse("v0.6.4-rc1") == Version::parse("0.6.4"));
        assert!(Version::parse("0.0.0") < Version::parse("0.1.0"));
        assert!(Version::parse("dev") > Version::parse("99.0.0"));
        let old = Features::of("0.5.0");
        assert!(old.embed && !old.think && old.default_num_ctx == 2048);
        assert!(Features::of("0.12.6").dimensions && !Features::of("0.12.6").tags_capabilities);
    }
}
