//! Ollama model names, `[host/][namespace/]model[:tag][@digest]`, parsed and shown as Ollama does.

use std::fmt;

const DEFAULT_HOST: &str = "registry.ollama.ai";
const DEFAULT_NAMESPACE: &str = "library";
const DEFAULT_TAG: &str = "latest";
/// Ollama's marker for a part that was promised by a separator but left empty.
const MISSING: &str = "!";

/// A fully qualified model name; the parts keep the case they were written in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Name {
    pub(crate) host: String,
    pub(crate) namespace: String,
    pub(crate) model: String,
    pub(crate) tag: String,
}

#[derive(Clone, Copy, PartialEq)]
enum Part {
    Host,
    Namespace,
    Model,
    Tag,
    Digest,
}

impl Name {
    /// Parses like Ollama's `model.ParseName` and returns `None` when the name is invalid.
    pub(crate) fn parse(text: &str) -> Option<Name> {
        let (mut rest, mut tag, mut digest) = (text, "", "");
        let tag_follows = |s: &str| {
            s.rfind(':').map(|i| i as isize).unwrap_or(-1)
                > s.rfind('/').map(|i| i as isize).unwrap_or(-1)
        };
        if tag_follows(rest) {
            (rest, tag) = cut_promised(rest, ':');
        }
        if let Some(i) = rest.rfind('@') {
            digest = if rest[i + 1..].is_empty() {
                MISSING
            } else {
                &rest[i + 1..]
            };
            rest = &rest[..i];
        }
        if tag_follows(rest) {
            (rest, tag) = cut_promised(rest, ':');
        }
        let (mut host, mut namespace, model);
        match rest.rfind('/') {
            None => (host, namespace, model) = ("", "", rest),
            Some(_) => {
                let (before, last) = cut_promised(rest, '/');
                model = last;
                match before.rfind('/') {
                    None => (host, namespace) = ("", before),
                    Some(_) => {
                        let (before, ns) = cut_promised(before, '/');
                        namespace = ns;
                        host = before.split_once("://").map_or(before, |(_, host)| host);
                    }
                }
            }
        }
        if host.is_empty() {
            host = DEFAULT_HOST;
        }
        if namespace.is_empty() {
            namespace = DEFAULT_NAMESPACE;
        }
        if tag.is_empty() {
            tag = DEFAULT_TAG;
        }
        let valid = valid_part(Part::Host, host)
            && valid_part(Part::Namespace, namespace)
            && valid_part(Part::Model, model)
            && valid_part(Part::Tag, tag)
            && (digest.is_empty() || valid_part(Part::Digest, digest));
        valid.then(|| Name {
            host: host.to_owned(),
            namespace: namespace.to_owned(),
            model: model.to_owned(),
            tag: tag.to_owned(),
        })
    }

    /// The case-insensitive identity used to match local models.
    pub(crate) fn key(&self) -> String {
        self.to_string().to_lowercase()
    }

    /// The shortest display form, e.g. `llama3.2:latest`, `user/model:tag`, `hf.co/org/model:Q4_K_M`.
    pub(crate) fn display(&self) -> String {
        let mut out = String::new();
        if !self.host.eq_ignore_ascii_case(DEFAULT_HOST) {
            out.push_str(&format!("{}/{}/", self.host, self.namespace));
        } else if !self.namespace.eq_ignore_ascii_case(DEFAULT_NAMESPACE) {
            out.push_str(&format!("{}/", self.namespace));
        }
        out.push_str(&format!("{}:{}", self.model, self.tag));
        out
    }

    /// Hugging Face names (`hf.co/…`, `huggingface.co/…`) are pullable whatever the repository.
    pub(crate) fn is_hugging_face(&self) -> bool {
        ["hf.co", "huggingface.co"]
            .iter()
            .any(|host| self.host.eq_ignore_ascii_case(host))
    }
}

/// The full form, `host/namespace/model:tag`.
impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}:{}",
            self.host, self.namespace, self.model, self.tag
        )
    }
}

/// Splits at the last `sep`; a side left empty by the separator becomes the invalid marker.
fn cut_promised(text: &str, sep: char) -> (&str, &str) {
    match text.rfind(sep) {
        Some(i) => {
            let (before, after) = (&text[..i], &text[i + 1..]);
            (
                if before.is_empty() { MISSING } else { before },
                if after.is_empty() { MISSING } else { after },
            )
        }
        None => (text, ""),
    }
}

fn valid_part(part: Part, text: &str) -> bool {
    let max_len = if part == Part::Host { 350 } else { 80 };
    let len_ok = !text.is_empty() && (text.len() <= max_len || part == Part::Digest);
    len_ok
        && text.bytes().enumerate().all(|(i, b)| match b {
            b'_' => true,
            _ if b.is_ascii_alphanumeric() => true,
            _ if i == 0 => false,
            b'-' => true,
            b'.' => part != Part::Namespace,
            b':' => matches!(part, Part::Host | Part::Digest),
            _ => false,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_grammar() {
        let name = Name::parse("llama3.2").expect("valid");
        assert_eq!(
            name.to_string(),
            "registry.ollama.ai/library/llama3.2:latest"
        );
        assert_eq!(name.display(), "llama3.2:latest");
        let hf = Name::parse("hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M").expect("valid");
        assert_eq!(
            (hf.host.as_str(), hf.namespace.as_str(), hf.tag.as_str()),
            ("hf.co", "bartowski", "Q4_K_M")
        );
        assert_eq!(
            hf.display(),
            "hf.co/bartowski/Llama-3.2-1B-Instruct-GGUF:Q4_K_M"
        );
        assert!(hf.is_hugging_face());
        assert_eq!(
            Name::parse("user/model:v1").expect("valid").display(),
            "user/model:v1"
        );
        assert_eq!(
            Name::parse("localhost:5000/ns/m").expect("valid").host,
            "localhost:5000"
        );
        assert_eq!(
            Name::parse("http://example.com/ns/m:t")
                .expect("valid")
                .host,
            "example.com"
        );
        assert_eq!(
            Name::parse("LLaMA3.2:1B").expect("valid").key(),
            Name::parse("llama3.2:1b").expect("valid").key()
        );
        assert!(Name::parse("m@sha256:abc").is_some());
    }

    #[test]
    fn rejects_invalid_names() {
        for bad in [
            "",
            ":",
            "m:",
            "/m",
            "a b",
            "-m",
            "m:-t",
            "ns.x/m",
            "a/b/c/d",
            "m@",
            &"x".repeat(81),
        ] {
            assert!(Name::parse(bad).is_none(), "{bad:?} should be invalid");
        }
    }
}
