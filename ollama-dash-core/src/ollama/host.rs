//! `OLLAMA_HOST` in Ollama's own format: `[scheme://]host[:port][/path]`.

use crate::config::config_error;
use crate::error::Result;

/// Turns an `OLLAMA_HOST` value into a base URL without a trailing slash.
///
/// Follows Ollama's `envconfig.Host`: no scheme means `http` with port 11434; an explicit
/// `http://` or `https://` without a port means 80 or 443; an empty host means `127.0.0.1`;
/// a host that already carries a port never gets a second one; a path is kept (a proxy prefix).
pub fn parse_ollama_host(raw: &str) -> Result<String> {
    let bad = |why: &str| config_error("OLLAMA_HOST", &format!("{why} (got {raw:?})"));
    let raw_trimmed = raw.trim();
    let (scheme, rest, default_port) = match raw_trimmed.split_once("://") {
        None => ("http", raw_trimmed, 11434),
        Some(("http", rest)) => ("http", rest, 80),
        Some(("https", rest)) => ("https", rest, 443),
        Some((other, _)) => return Err(bad(&format!("unsupported scheme {other:?}"))),
    };
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
        None => (rest, ""),
    };
    let (host, port) = split_host_port(hostport).map_err(&bad)?;
    let host = if host.is_empty() { "127.0.0.1" } else { host };
    let port = match port {
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| bad("port must be a number from 1 to 65535"))?,
        None => default_port,
    };
    if port == 0 {
        return Err(bad("port must be a number from 1 to 65535"));
    }
    let valid = |c: char| c.is_ascii_alphanumeric() || "-._:".contains(c);
    if !host.chars().all(valid) {
        return Err(bad(
            "host contains characters that cannot be in a host name",
        ));
    }
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    Ok(format!("{scheme}://{host}:{port}{path}"))
}

/// Splits `host[:port]`, `[v6]:port`, `[v6]` or a bare IPv6 address.
fn split_host_port(hostport: &str) -> std::result::Result<(&str, Option<&str>), &'static str> {
    if let Some(rest) = hostport.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("unclosed '[' in IPv6 address")?;
        return match after {
            "" => Ok((host, None)),
            _ => after
                .strip_prefix(':')
                .map(|p| (host, Some(p)))
                .ok_or("junk after ']'"),
        };
    }
    match hostport.matches(':').count() {
        0 => Ok((hostport, None)),
        1 => hostport
            .split_once(':')
            .map(|(h, p)| (h, Some(p)))
            .ok_or("bad host:port"),
        _ => Ok((hostport, None)), // a bare IPv6 address
    }
}

#[cfg(test)]
mod tests {
    use super::parse_ollama_host;

    #[test]
    fn follows_ollama_rules() {
        let cases = [
            ("", "http://127.0.0.1:11434"),
            ("127.0.0.1:11434", "http://127.0.0.1:11434"),
            ("0.0.0.0", "http://0.0.0.0:11434"),
            (":11435", "http://127.0.0.1:11435"),
            ("gpu-box", "http://gpu-box:11434"),
            ("gpu-box:8080", "http://gpu-box:8080"),
            ("http://gpu-box", "http://gpu-box:80"),
            ("https://gpu-box", "https://gpu-box:443"),
            ("https://gpu-box:8443/", "https://gpu-box:8443"),
            ("http://proxy:8700/ollama", "http://proxy:8700/ollama"),
            ("[::1]:11434", "http://[::1]:11434"),
            ("[::1]", "http://[::1]:11434"),
            ("::1", "http://[::1]:11434"),
            ("  localhost:1234 ", "http://localhost:1234"),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_ollama_host(input).ok().as_deref(),
                Some(want),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn rejects_garbage_naming_the_key() {
        for input in [
            "ftp://x",
            "host:port",
            "host:70000",
            "host:0",
            "[::1",
            "a b:1",
        ] {
            let err = parse_ollama_host(input).expect_err(input).to_string();
            assert!(err.contains("OLLAMA_HOST"), "{err}");
        }
    }
}
