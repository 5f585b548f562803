use ollama_dash_plugin::{ModelFacts, Plugin, Provides, export_plugin};

/// Flags models whose name or family says they were trained for code.
struct CodeModels;

impl Plugin for CodeModels {
    const NAME: &'static str = "sdk-example";
    const VERSION: &'static str = "0.1.0";
    const PROVIDES: &'static [Provides] = &[Provides::Detector];

    fn detect(model: &ModelFacts) -> Result<Vec<String>, String> {
        let is_code = ["coder", "starcoder", "codellama"]
            .iter()
            .any(|c| model.name.contains(c) || model.has_family(c));
        Ok(is_code.then(|| "code".to_owned()).into_iter().collect())
    }
}

export_plugin!(CodeModels);
