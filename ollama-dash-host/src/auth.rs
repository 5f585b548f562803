//! Bearer-token auth: constant-time comparison, a generated token kept at 0600, and a per-address
//! throttle on failed attempts.

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use ollama_dash_core::{Dashboard, Role, hash_secret};
use subtle::ConstantTimeEq;

/// File inside `DATA_PATH` that keeps a generated token.
pub const TOKEN_FILE_NAME: &str = "auth-token";

/// Where the token in use came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSource {
    /// `AUTH_TOKEN` or the config file.
    Configured,
    /// Read back from `DATA_PATH/auth-token`.
    Stored,
    /// Generated on this start and written to `DATA_PATH/auth-token`.
    Generated,
}

/// Returns the configured token, else the stored one, else a new strong one (written 0600).
pub fn resolve_token(
    configured: Option<&str>,
    data_path: &Path,
) -> std::io::Result<(String, TokenSource)> {
    if let Some(token) = configured {
        return Ok((token.to_owned(), TokenSource::Configured));
    }
    let path = data_path.join(TOKEN_FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(stored) if stored.trim().len() >= crate::config::MIN_TOKEN_LEN => {
            warn_if_readable_by_others(&path);
            return Ok((stored.trim().to_owned(), TokenSource::Stored));
        }
        Ok(_) => tracing::warn!(path = %path.display(), "stored token too short; making a new one"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let token = generate_token();
    write_private(&path, &token)?;
    Ok((token, TokenSource::Generated))
}

/// 32 random bytes, base64url: 43 characters, 256 bits.
pub fn generate_token() -> String {
    let bytes: [u8; 32] = rand::random();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp: PathBuf = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(), "token file is readable by other users; chmod 600 it");
        }
    }
}

/// Who is calling: the key's name (recorded in traces) and its role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// `admin` for `AUTH_TOKEN`, else the key's name.
    pub name: String,
    /// What it may do.
    pub role: Role,
}

/// A key given in the config file: `[[api_keys]] name = "ci", key = "…", role = "user"`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct ConfiguredKey {
    /// Name recorded in traces.
    pub name: String,
    /// The secret, at least 16 characters.
    pub key: String,
    /// `admin`, `user` or `viewer`.
    pub role: String,
}

/// Checks bearer tokens and throttles addresses that keep failing.
#[derive(Debug)]
pub struct Authenticator {
    token: String,
    configured: Vec<(String, Principal)>,
    stored: RwLock<HashMap<String, Principal>>,
    limit: u32,
    window: Duration,
    failures: Mutex<HashMap<Subject, (u32, Instant)>>,
}

/// The outcome of checking a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The credentials are good.
    Allowed(Principal),
    /// Missing or wrong token.
    Denied,
    /// Too many failures from this address; retry after this many seconds.
    Throttled(u64),
}

impl Authenticator {
    /// `limit` failures per address per minute are allowed before answers turn to 429.
    pub fn new(token: String, limit: u32) -> Self {
        Self {
            token,
            configured: Vec::new(),
            stored: RwLock::default(),
            limit,
            window: Duration::from_secs(60),
            failures: Mutex::default(),
        }
    }

    /// Adds the keys from the config file; a bad role or short key is an error naming it.
    pub fn with_configured_keys(
        mut self,
        keys: &[ConfiguredKey],
    ) -> Result<Self, ollama_dash_core::Error> {
        for key in keys {
            let bad = |message: String| ollama_dash_core::Error::Config {
                key: format!("api_keys.{}", key.name),
                message,
            };
            let role: Role = key
                .role
                .parse()
                .map_err(|e: ollama_dash_core::Error| bad(e.to_string()))?;
            if key.key.chars().count() < crate::config::MIN_TOKEN_LEN {
                return Err(bad(format!(
                    "key must be at least {} characters",
                    crate::config::MIN_TOKEN_LEN
                )));
            }
            self.configured.push((
                key.key.clone(),
                Principal {
                    name: key.name.clone(),
                    role,
                },
            ));
        }
        Ok(self)
    }

    /// Replaces the keys created over the API (call after creating or deleting one).
    pub async fn reload_stored_keys(
        &self,
        dashboard: &Dashboard,
    ) -> Result<(), ollama_dash_core::Error> {
        let keys = dashboard.api_keys().await?;
        let map = keys
            .into_iter()
            .map(|k| {
                (
                    k.hash,
                    Principal {
                        name: k.name,
                        role: k.role,
                    },
                )
            })
            .collect();
        *self.stored.write().unwrap_or_else(|p| p.into_inner()) = map;
        Ok(())
    }

    /// Checks an `Authorization` header value from `addr`.
    ///
    /// The right credential always gets through: only failures are throttled (OWASP), so a
    /// client with a stale token, or everyone behind one proxy address, cannot lock out the
    /// callers that hold a good one. Tokens are at least 16 characters (generated ones 256
    /// bits), so letting a throttled address still present one gives guessing nothing.
    pub fn check(&self, authorization: Option<&str>, addr: Option<IpAddr>) -> Verdict {
        let now = Instant::now();
        if let Some(principal) = authorization
            .and_then(bearer_token)
            .and_then(|t| self.identify(t))
        {
            return Verdict::Allowed(principal);
        }
        // Failures count against the address and against the credential presented (the hash
        // of it), so one stale token is throttled from every address it comes from.
        let presented = authorization.and_then(bearer_token).unwrap_or_default();
        let subjects = [
            addr.map(Subject::Addr),
            (!presented.is_empty()).then(|| Subject::credential(presented)),
        ];
        let subjects = subjects.iter().flatten();
        if let Some(wait) = subjects
            .clone()
            .filter_map(|s| self.throttled(s, now))
            .max()
        {
            return Verdict::Throttled(wait);
        }
        let mut failures_now = 0;
        for subject in subjects {
            failures_now = failures_now.max(self.record_failure(*subject, now));
        }
        let addr = addr.map_or_else(|| "unknown".to_owned(), |a| a.to_string());
        if failures_now <= self.limit {
            tracing::warn!(%addr, failures = failures_now, "sign-in failed: missing or wrong token");
        }
        if failures_now == self.limit {
            tracing::warn!(%addr, "sign-in failures throttled for the rest of the minute");
        }
        Verdict::Denied
    }

    fn identify(&self, presented: &str) -> Option<Principal> {
        if presented.is_empty() {
            return None;
        }
        let equal = |secret: &str| bool::from(presented.as_bytes().ct_eq(secret.as_bytes()));
        if equal(&self.token) {
            return Some(Principal {
                name: "admin".to_owned(),
                role: Role::Admin,
            });
        }
        if let Some((_, p)) = self.configured.iter().find(|(secret, _)| equal(secret)) {
            return Some(p.clone());
        }
        // Stored keys are looked up by hash: the map lookup's timing can only leak bits of a
        // SHA-256 digest, never of the secret.
        let stored = self.stored.read().unwrap_or_else(|p| p.into_inner());
        stored.get(&hash_secret(presented)).cloned()
    }

    fn throttled(&self, subject: &Subject, now: Instant) -> Option<u64> {
        let failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let (count, since) = failures.get(subject)?;
        let elapsed = now.duration_since(*since);
        (*count >= self.limit && elapsed < self.window)
            .then(|| (self.window - elapsed).as_secs().max(1))
    }

    /// Counts one failure; returns how many this subject has in the current window.
    fn record_failure(&self, subject: Subject, now: Instant) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if failures.len() > 10_000 {
            failures.retain(|_, (_, since)| now.duration_since(*since) < self.window);
        }
        let entry = failures.entry(subject).or_insert((0, now));
        if now.duration_since(entry.1) >= self.window {
            *entry = (0, now);
        }
        entry.0 += 1;
        entry.0
    }
}

/// Who failures are counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Subject {
    /// The client address.
    Addr(IpAddr),
    /// A presented (wrong) credential, by the first 16 bytes of its SHA-256.
    Credential([u8; 16]),
}

impl Subject {
    fn credential(presented: &str) -> Self {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(presented.as_bytes());
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        Self::Credential(first)
    }
}

/// The credential of an `Authorization: Bearer …` value; the scheme is case-insensitive
/// (RFC 9110 §11.1), so `bearer` and `BEARER` work too.
fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Writes a `user` key may make, by the router's own path templates (`MatchedPath`), so this
/// table names exactly the routes the router serves: no prefix can stretch to a neighbour.
const USER_ROUTES: &[(http::Method, &str)] = &[
    (http::Method::POST, "/api/chat"),
    (http::Method::POST, "/api/sessions"),
    (http::Method::PATCH, "/api/sessions/{id}"),
    (http::Method::DELETE, "/api/sessions/{id}"),
    (http::Method::POST, "/api/sessions/{id}/messages"),
    (http::Method::POST, "/api/sessions/{id}/regenerate"),
    (http::Method::POST, "/api/sessions/{id}/branch"),
    (http::Method::POST, "/v1/chat/completions"),
    (http::Method::POST, "/v1/completions"),
    (http::Method::POST, "/v1/embeddings"),
    (http::Method::POST, "/v1/responses"),
];

/// Ollama's own calls a `user` key may POST through `/ollama`, as whole paths.
const OLLAMA_USER_POSTS: &[&str] = &[
    "/ollama/api/generate",
    "/ollama/api/chat",
    "/ollama/api/embed",
    "/ollama/api/embeddings",
    "/ollama/api/show",
];

/// Reads only an admin may make: the key list names every key and its role.
const ADMIN_READS: &[&str] = &["/api/keys"];

/// The router's template for the Ollama passthrough, whose role depends on the path it carries.
pub const PASSTHROUGH_ROUTE: &str = "/ollama/{*path}";

/// The role a request needs, from its method, the router's template for the route it matched
/// (`route`) and its path (already canonical: see `http::path_guard`). Reads need `viewer`
/// (the key list needs `admin`), generation and chat need `user`, every other change needs
/// `admin`. Deny by default: a new mutating route is admin-only until listed here.
pub fn required_role(method: &http::Method, route: &str, path: &str) -> Role {
    if matches!(
        *method,
        http::Method::GET | http::Method::HEAD | http::Method::OPTIONS
    ) {
        return if ADMIN_READS.contains(&route) {
            Role::Admin
        } else {
            Role::Viewer
        };
    }
    if route == "/api/auth/verify" {
        return Role::Viewer;
    }
    if USER_ROUTES.iter().any(|(m, r)| m == method && *r == route) {
        return Role::User;
    }
    if route == PASSTHROUGH_ROUTE
        && *method == http::Method::POST
        && OLLAMA_USER_POSTS.contains(&path)
    {
        return Role::User;
    }
    Role::Admin
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[test]
    fn compares_tokens_and_throttles_repeat_offenders() {
        let auth = Authenticator::new("a-long-enough-secret".into(), 3);
        let me: Option<IpAddr> = Some([10, 0, 0, 1].into());
        let other: Option<IpAddr> = Some([10, 0, 0, 2].into());
        let admin = Verdict::Allowed(Principal {
            name: "admin".into(),
            role: Role::Admin,
        });
        assert_eq!(auth.check(Some("Bearer a-long-enough-secret"), me), admin);
        assert_eq!(
            auth.check(Some("Bearer a-long-enough-secreT"), me),
            Verdict::Denied
        );
        assert_eq!(
            auth.check(Some("a-long-enough-secret"), me),
            Verdict::Denied
        );
        assert_eq!(auth.check(None, me), Verdict::Denied);
        // The fourth failure is throttled, the right token is not.
        assert!(
            matches!(auth.check(Some("Bearer a-long-enough-secreX"), me), Verdict::Throttled(s) if s <= 60)
        );
        assert_eq!(auth.check(Some("Bearer a-long-enough-secret"), me), admin);
        assert_eq!(
            auth.check(Some("Bearer a-long-enough-secret"), other),
            admin
        );
    }

    #[test]
    fn a_wrong_credential_is_throttled_from_every_address_the_right_one_never() {
        let auth = Authenticator::new("a-long-enough-secret".into(), 3);
        let stale = Some("Bearer a-stale-token-from-a-job");
        for last in 1..=3u8 {
            let from: Option<IpAddr> = Some([10, 0, 1, last].into());
            assert_eq!(auth.check(stale, from), Verdict::Denied);
        }
        // The same stale token from a fourth address: throttled, though that address is new.
        let fresh: Option<IpAddr> = Some([10, 0, 1, 9].into());
        assert!(matches!(auth.check(stale, fresh), Verdict::Throttled(_)));
        // Another wrong token from that address is only denied; the right one gets through.
        assert_eq!(
            auth.check(Some("Bearer another-wrong-token"), fresh),
            Verdict::Denied
        );
        assert!(matches!(
            auth.check(Some("Bearer a-long-enough-secret"), fresh),
            Verdict::Allowed(_)
        ));
    }

    #[test]
    fn the_bearer_scheme_is_case_insensitive() {
        let auth = Authenticator::new("a-long-enough-secret".into(), 3);
        for header in [
            "Bearer a-long-enough-secret",
            "bearer a-long-enough-secret",
            "BEARER a-long-enough-secret",
            "BeArEr  a-long-enough-secret ",
        ] {
            assert!(
                matches!(auth.check(Some(header), None), Verdict::Allowed(_)),
                "{header}"
            );
        }
        for header in [
            "Basic a-long-enough-secret",
            "Bearera-long-enough-secret",
            "Bearer",
        ] {
            assert_eq!(auth.check(Some(header), None), Verdict::Denied, "{header}");
        }
    }

    #[test]
    fn generated_token_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (token, source) = resolve_token(None, dir.path()).unwrap();
        assert_eq!(source, TokenSource::Generated);
        assert!(token.len() >= 43);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(TOKEN_FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (again, source) = resolve_token(None, dir.path()).unwrap();
        assert_eq!(
            (again.as_str(), source),
            (token.as_str(), TokenSource::Stored)
        );
        let (configured, source) = resolve_token(Some("configured-token-123"), dir.path()).unwrap();
        assert_eq!(
            (configured.as_str(), source),
            ("configured-token-123", TokenSource::Configured)
        );
    }
}

#[cfg(test)]
mod role_tests {
    use super::*;
    use http::Method;

    #[test]
    fn reads_are_viewer_generation_is_user_everything_else_admin() {
        let p = PASSTHROUGH_ROUTE;
        let cases = [
            (
                Method::GET,
                "/api/models/available",
                "/api/models/available",
                Role::Viewer,
            ),
            (Method::HEAD, p, "/ollama/api/tags", Role::Viewer),
            (Method::GET, "/api/keys", "/api/keys", Role::Admin),
            (
                Method::POST,
                "/api/auth/verify",
                "/api/auth/verify",
                Role::Viewer,
            ),
            (
                Method::POST,
                "/v1/chat/completions",
                "/v1/chat/completions",
                Role::User,
            ),
            (
                Method::POST,
                "/api/sessions/{id}/messages",
                "/api/sessions/abc/messages",
                Role::User,
            ),
            (
                Method::DELETE,
                "/api/sessions/{id}",
                "/api/sessions/abc",
                Role::User,
            ),
            (Method::POST, p, "/ollama/api/chat", Role::User),
            (Method::POST, p, "/ollama/api/chat/x", Role::Admin),
            (Method::DELETE, p, "/ollama/api/chat", Role::Admin),
            (Method::POST, p, "/ollama/api/pull", Role::Admin),
            (Method::DELETE, "/api/models", "/api/models", Role::Admin),
            (Method::POST, "/api/keys", "/api/keys", Role::Admin),
        ];
        for (method, route, path, role) in cases {
            assert_eq!(required_role(&method, route, path), role, "{method} {path}");
        }
    }
}
