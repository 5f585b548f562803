//! One path for every decision: a request whose path is not canonical is refused before routing.
//!
//! The role a request needs and what the passthrough forwards to Ollama are both read from the
//! request path. If the path could mean two things (`/ollama/api/chat/../delete` is `chat` to a
//! prefix check and `delete` to a client that resolves dot segments), the two decisions could
//! disagree. So a path must be canonical: no `.` or `..` segment and no empty segment (`//`),
//! raw or percent-encoded (`%2e%2e`, `%2E%2E`, `%2f`), no backslash, no NUL, no broken escape.
//! Then the raw path is the only meaning it has, and everything downstream reads that one.
//! [`super::front`] answers 400 to the others.

/// Why a path is not canonical, or `Ok` when it is.
pub(super) fn check(path: &str) -> Result<(), &'static str> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err("the path must start with /");
    };
    let decoded = percent_decode(rest).ok_or("the path has a broken percent escape")?;
    if decoded.contains(&b'\\') || decoded.contains(&0) {
        return Err("the path may not contain a backslash or NUL");
    }
    // Split the decoded path: an encoded slash (`%2f`) counts as a separator here, so
    // `chat%2f..%2fdelete` is caught like `chat/../delete`. A trailing slash is allowed.
    let decoded = decoded.strip_suffix(b"/").unwrap_or(&decoded);
    if decoded.is_empty() {
        return Ok(());
    }
    for segment in decoded.split(|&b| b == b'/') {
        match segment {
            b"" => return Err("the path may not contain an empty segment (//)"),
            b"." | b".." => return Err("the path may not contain . or .. segments"),
            _ => {}
        }
    }
    Ok(())
}

/// Decodes `%XX` escapes; `None` when one is broken.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn plain_paths_pass() {
        for path in [
            "/",
            "/ollama/",
            "/ollama/api/chat",
            "/api/models/show/hf.co/org/repo:Q4_K_M",
            "/api/models/show/hf.co%2Forg%2Frepo",
            "/v1/models/llama3.2:1b",
            "/assets/abc/app.js",
            "/api/sessions/0193-abc/messages",
            "/a/.hidden/b...c/..d",
        ] {
            assert_eq!(check(path), Ok(()), "{path}");
        }
    }

    #[test]
    fn dot_segments_empty_segments_and_odd_bytes_are_refused() {
        for path in [
            "/ollama/api/chat/../delete",
            "/ollama/api/chat/./../delete",
            "/ollama/api/chat/%2e%2e/copy",
            "/ollama/api/chat/%2E%2E/copy",
            "/ollama/api/chat/.%2e/copy",
            "/ollama/api/chat%2f..%2fdelete",
            "/ollama/api/chat%2F%2E%2E%2Fdelete",
            "/ollama//api/delete",
            "/ollama/api/chat/%2f/x",
            "/ollama/api/./delete",
            "/ollama/api/chat/..",
            "/ollama/api/chat\\..\\delete",
            "/ollama/api/chat%5c..%5cdelete",
            "/ollama/api/chat%00",
            "/ollama/api/chat%zz",
            "/ollama/api/chat%2",
            "*",
        ] {
            assert!(check(path).is_err(), "{path}");
        }
    }
}
