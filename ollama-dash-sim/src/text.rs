//! Deterministic "model output": a seeded generator, a rough tokenizer, prose, thinking, JSON for a
//! schema, tool-call arguments and embeddings. Same input, same output.

use serde_json::{Map, Number, Value, json};
use sha2::{Digest, Sha256};

/// SplitMix64 seeded from a hash of the input.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn seeded(parts: &[&str]) -> Rng {
        let mut hasher = Sha256::new();
        for part in parts {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        let digest = hasher.finalize();
        let mut seed = [0u8; 8];
        seed.copy_from_slice(&digest[..8]);
        Rng(u64::from_le_bytes(seed))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// A float in `[-1, 1)`.
    pub(crate) fn signed_unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    fn pick<'a>(&mut self, items: &'a [&'a str]) -> &'a str {
        items
            .get(self.below(items.len()))
            .copied()
            .unwrap_or("model")
    }
}

/// Splits text into token-sized pieces: a word with its leading space, a run of other
/// whitespace, or a single punctuation character.
pub(crate) fn split_tokens(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let is_word = |i: usize| {
        chars
            .get(i)
            .is_some_and(|(_, c)| c.is_alphanumeric() || *c == '_')
    };
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&(start, c)) = chars.get(i) {
        let mut j = i + 1;
        if is_word(i) || (c == ' ' && is_word(i + 1)) {
            while is_word(j) {
                j += 1;
            }
        } else if c.is_whitespace() {
            while chars.get(j).is_some_and(|(_, c)| c.is_whitespace())
                && !(chars[j].1 == ' ' && is_word(j + 1))
            {
                j += 1;
            }
        }
        let end = chars.get(j).map_or(text.len(), |(at, _)| *at);
        tokens.push(&text[start..end]);
        i = j;
    }
    tokens
}

/// How many tokens `text` counts as.
pub(crate) fn count_tokens(text: &str) -> usize {
    split_tokens(text).len()
}

/// A stable token id for a piece of text, below `vocab`.
pub(crate) fn token_id(piece: &str, vocab: u64) -> i64 {
    (Rng::seeded(&["token", piece]).next_u64() % vocab.max(1)) as i64
}

/// The lower-cased words of `text` long enough to be topics.
pub(crate) fn topic_words(text: &str) -> Vec<String> {
    let mut words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4)
        .map(str::to_lowercase)
        .collect();
    words.dedup();
    words.truncate(12);
    words
}

const WORDS: &[&str] = &[
    "the",
    "a",
    "model",
    "answer",
    "local",
    "data",
    "system",
    "simple",
    "because",
    "it",
    "is",
    "can",
    "will",
    "each",
    "request",
    "value",
    "result",
    "stream",
    "context",
    "memory",
    "layer",
    "pattern",
    "language",
    "example",
    "question",
    "useful",
    "short",
    "clear",
    "response",
    "time",
    "first",
    "next",
    "then",
    "also",
    "often",
    "well",
    "more",
    "small",
    "large",
    "server",
    "client",
    "idea",
    "point",
    "part",
    "way",
    "case",
    "number",
    "reason",
    "and",
    "of",
    "to",
    "in",
    "with",
    "for",
    "on",
    "that",
    "this",
    "usually",
    "works",
    "helps",
    "means",
    "shows",
    "depends",
    "changes",
    "keeps",
    "runs",
    "builds",
    "finds",
    "gives",
    "careful",
    "quick",
    "steady",
    "important",
];

fn capitalised(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// `count` sentences of plausible filler, mixing in the topic words.
pub(crate) fn sentences(rng: &mut Rng, topic: &[String], count: usize) -> String {
    let mut out = Vec::new();
    for _ in 0..count {
        let len = 6 + rng.below(7);
        let comma_at = if rng.below(3) == 0 {
            2 + rng.below(3)
        } else {
            usize::MAX
        };
        let mut sentence = String::new();
        for i in 0..len {
            let word = match topic.get(rng.below(topic.len() * 4)) {
                Some(t) => t.clone(),
                None => rng.pick(WORDS).to_owned(),
            };
            if i > 0 {
                sentence.push(' ');
            }
            sentence.push_str(&if i == 0 { capitalised(&word) } else { word });
            if i == comma_at && i + 1 < len {
                sentence.push(',');
            }
        }
        sentence.push('.');
        out.push(sentence);
    }
    out.join(" ")
}

/// The visible answer: two to four sentences, a few dozen tokens; a question that mentions both
/// "code" and "math" gets a fixed Markdown sample first (a fenced code block, inline and display
/// TeX), for the page's highlighting and math.
pub(crate) fn answer(rng: &mut Rng, topic: &[String]) -> String {
    let count = 2 + rng.below(3);
    let prose = sentences(rng, topic, count);
    let asks = |word: &str| topic.iter().any(|t| t == word);
    if asks("code") && asks("math") {
        format!("{CODE_AND_MATH}\n\n{prose}")
    } else {
        prose
    }
}

/// The Markdown sample of [`answer`].
const CODE_AND_MATH: &str = r#"Here is the area of a circle in Python:

```python
import math

def area(radius: float) -> float:
    """The area of a circle."""
    return math.pi * radius ** 2  # grows with the square

print(area(2.0))
```

The formula is $A = \pi r^2$, and the Gaussian integral gives \(\sqrt{\pi}\):

$$\int_{-\infty}^{\infty} e^{-x^2}\,dx = \sqrt{\pi}$$"#;

/// The reasoning of a thinking model.
pub(crate) fn thinking(rng: &mut Rng, topic: &[String]) -> String {
    let about = topic.first().map_or("this", String::as_str);
    let count = 1 + rng.below(2);
    format!(
        "Okay, the user is asking about {about}. {}",
        sentences(rng, topic, count)
    )
}

/// A JSON value for a schema (`None`: free-form JSON mode); `key` names the property being filled.
pub(crate) fn json_for(
    schema: Option<&Value>,
    key: &str,
    rng: &mut Rng,
    topic: &[String],
    depth: usize,
) -> Value {
    let Some(schema) = schema.and_then(Value::as_object) else {
        return json!({ "answer": sentences(rng, topic, 1), "confidence": (50 + rng.below(50)) as f64 / 100.0 });
    };
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(choice) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.get(rng.below(e.len())))
    {
        return choice.clone();
    }
    for alternatives in ["anyOf", "oneOf", "allOf"] {
        if let Some(first) = schema
            .get(alternatives)
            .and_then(Value::as_array)
            .and_then(|a| a.first())
        {
            return json_for(Some(first), key, rng, topic, depth);
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.contains_key("properties") => "object",
        _ if schema.contains_key("items") => "array",
        _ => "string",
    };
    let bound =
        |name: &str, default: f64| schema.get(name).and_then(Value::as_f64).unwrap_or(default);
    match ty {
        "object" if depth < 6 => {
            let mut out = Map::new();
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, sub) in properties {
                    out.insert(
                        name.clone(),
                        json_for(Some(sub), name, rng, topic, depth + 1),
                    );
                }
            }
            Value::Object(out)
        }
        "array" if depth < 6 => {
            let min = bound("minItems", 1.0) as usize;
            let max = (bound("maxItems", 3.0) as usize).max(min);
            let len = min + rng.below(max - min + 1);
            (0..len)
                .map(|_| json_for(schema.get("items"), key, rng, topic, depth + 1))
                .collect()
        }
        "integer" => {
            let (lo, hi) = (bound("minimum", 0.0) as i64, bound("maximum", 100.0) as i64);
            json!(lo + rng.below((hi - lo).max(0) as usize + 1) as i64)
        }
        "number" => {
            let (lo, hi) = (bound("minimum", 0.0), bound("maximum", 100.0));
            let value = lo + (hi - lo) * (rng.below(1000) as f64 / 1000.0);
            Number::from_f64((value * 100.0).round() / 100.0).map_or(Value::Null, Value::Number)
        }
        "boolean" => json!(rng.below(2) == 0),
        "null" => Value::Null,
        _ => json!(string_for(
            schema.get("format").and_then(Value::as_str),
            key,
            rng,
            topic
        )),
    }
}

fn string_for(format: Option<&str>, key: &str, rng: &mut Rng, topic: &[String]) -> String {
    let key = key.to_lowercase();
    match format {
        Some("date") => return "2025-01-15".to_owned(),
        Some("date-time") => return "2025-01-15T12:00:00Z".to_owned(),
        Some("email") => return "user@example.com".to_owned(),
        Some("uri") => return "https://example.com/".to_owned(),
        _ => {}
    }
    if ["city", "location", "place", "town"]
        .iter()
        .any(|k| key.contains(k))
    {
        return rng
            .pick(&["Paris", "Tokyo", "Toronto", "Nairobi", "Lima"])
            .to_owned();
    }
    if key.contains("name") {
        return rng.pick(&["Ada", "Grace", "Linus", "Margaret"]).to_owned();
    }
    match topic.get(rng.below(topic.len())) {
        Some(word) if rng.below(2) == 0 => word.clone(),
        _ => sentences(rng, topic, 1).trim_end_matches('.').to_owned(),
    }
}

/// An L2-normalised embedding of `text` for a model: a sum of per-word random vectors, so texts
/// that share words point the same way.
pub(crate) fn embedding(model: &str, text: &str, dims: usize) -> Vec<f32> {
    let mut vector = vec![0f32; dims];
    let lowered = text.to_lowercase();
    let mut words: Vec<&str> = lowered
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        words.push(&lowered);
    }
    for word in words {
        let mut rng = Rng::seeded(&["embed", model, word]);
        for x in vector.iter_mut() {
            *x += rng.signed_unit();
        }
    }
    normalise(&mut vector);
    vector
}

/// Scales a vector to unit length, as Ollama's `normalize` does.
pub(crate) fn normalise(vector: &mut [f32]) {
    let norm = vector
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt()
        .max(1e-12);
    for x in vector.iter_mut() {
        *x = (f64::from(*x) / norm) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_into_token_pieces() {
        assert_eq!(
            split_tokens("Hello, world. It's"),
            ["Hello", ",", " world", ".", " It", "'", "s"]
        );
        assert_eq!(
            split_tokens(r#"{"a": 1}"#),
            ["{", "\"", "a", "\"", ":", " 1", "}"]
        );
        assert_eq!(split_tokens("a  b\n"), ["a", " ", " b", "\n"]);
        assert_eq!(split_tokens("").len(), 0);
    }

    #[test]
    fn is_deterministic() {
        let topic = topic_words("Why is the sky blue?");
        let a = answer(&mut Rng::seeded(&["m", "p"]), &topic);
        assert_eq!(a, answer(&mut Rng::seeded(&["m", "p"]), &topic));
        assert_ne!(a, answer(&mut Rng::seeded(&["m", "q"]), &topic));
        assert!((10..80).contains(&count_tokens(&a)), "{a}");
    }

    #[test]
    fn follows_a_schema() {
        let schema = json!({"type":"object","properties":{"city":{"type":"string"},"age":{"type":"integer","minimum":1,"maximum":9},
            "tags":{"type":"array","items":{"type":"string"}},"unit":{"enum":["c","f"]},"ok":{"type":["boolean","null"]}}});
        let value = json_for(Some(&schema), "", &mut Rng::seeded(&["x"]), &[], 0);
        assert!(value["city"].is_string() && value["tags"].is_array() && value["ok"].is_boolean());
        assert!((1..=9).contains(&value["age"].as_i64().expect("valid")));
        assert!(["c", "f"].contains(&value["unit"].as_str().expect("valid")));
    }

    #[test]
    fn embeddings_are_unit_length_and_similar_for_similar_text() {
        let a = embedding("m", "the cat sat", 64);
        let b = embedding("m", "the cat sat down", 64);
        let c = embedding("m", "quantum finance report", 64);
        let dot = |x: &[f32], y: &[f32]| x.iter().zip(y).map(|(p, q)| p * q).sum::<f32>();
        assert!((dot(&a, &a) - 1.0).abs() < 1e-4);
        assert!(dot(&a, &b) > dot(&a, &c));
    }
}
