//! The curated catalogue of downloadable models (`data/catalogue.json`, shipped in the binary):
//! a short "best" list and "all", with sizes and capability flags; installed ones are marked.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::lifecycle::same_model;
use crate::live::InstalledModel;

const CATALOGUE: &str = include_str!("../data/catalogue.json");

/// One downloadable model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogueEntry {
    /// Name to pull, e.g. `llama3.2:3b`.
    pub name: String,
    /// One line for people.
    pub description: String,
    /// Approximate download size, bytes.
    pub size_bytes: u64,
    /// e.g. `3.2B`.
    pub parameter_size: String,
    /// Flags, as Ollama names them.
    pub capabilities: Vec<String>,
    /// On the short list.
    pub best: bool,
    /// Installed in Ollama right now (per the cache).
    #[serde(default)]
    pub installed: bool,
}

#[derive(Deserialize)]
struct File {
    models: Vec<CatalogueEntry>,
}

/// Which part of the catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// The short list.
    Best,
    /// Everything.
    All,
}

impl std::str::FromStr for Category {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "best" => Ok(Category::Best),
            "all" => Ok(Category::All),
            other => Err(Error::BadRequest(format!(
                "unknown category {other:?}: use best or all"
            ))),
        }
    }
}

/// The catalogue as shipped.
pub fn entries() -> Result<Vec<CatalogueEntry>> {
    serde_json::from_str::<File>(CATALOGUE)
        .map(|f| f.models)
        .map_err(|e| Error::Protocol(format!("catalogue.json: {e}")))
}

/// Downloadable models of a category, marked installed when `installed` holds them (`None`:
/// not known yet).
pub(crate) fn downloadable(
    category: Category,
    installed: Option<&[InstalledModel]>,
) -> Result<Vec<CatalogueEntry>> {
    let mut list = entries()?;
    list.retain(|e| category == Category::All || e.best);
    for entry in &mut list {
        entry.installed =
            installed.is_some_and(|models| models.iter().any(|m| same_model(&m.name, &entry.name)));
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn the_shipped_catalogue_is_sound() {
        let all = entries().unwrap();
        assert!(all.len() >= 30);
        let best: Vec<_> = all.iter().filter(|e| e.best).collect();
        assert!((5..all.len()).contains(&best.len()));
        let mut names: Vec<&str> = all.iter().map(|e| e.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len(), "no duplicates");
        for e in &all {
            assert!(e.size_bytes > 10_000_000, "{}", e.name);
            assert!(crate::lifecycle::check_name(&e.name).is_ok());
            assert!(!e.capabilities.is_empty());
            for cap in &e.capabilities {
                assert!(
                    crate::capabilities::KNOWN.contains(&cap.as_str()),
                    "{}: {cap}",
                    e.name
                );
            }
            assert!(!e.installed);
        }
        assert!("best".parse::<Category>().is_ok());
        assert!("most".parse::<Category>().is_err());
    }
}
