//! The access suite (issues #13 item 5 and #17 F1), driven by one table of every route the
//! router serves, with the role each needs.
//!
//! [`ROUTES`] is checked against the router from both sides: every template written in a
//! `.route(…)` call under `ollama-dash-host/src/http` is in the table (a tidy read of the
//! sources, so a new route cannot be added without saying who may call it), every method the
//! table lists is served (a caller without the role gets the role layer's 403, which axum runs
//! only on a matched route) and every method it does not list answers 405. Then every route is
//! tried without a token, with the token in the wrong place, with each role, and — for every
//! admin route — disguised behind a user route in every encoding of `..`, `.`, `/` and `//`.

use std::path::{Path, PathBuf};

use http::StatusCode;
use serde_json::{Value, json};

use crate::support::{TOKEN, TestHost, authed, sim};

const USER_KEY: &str = "user-key-0123456789abcdef";
const OTHER_USER_KEY: &str = "bobs-key-0123456789abcdef";
const VIEWER_KEY: &str = "viewer-key-0123456789abcdef";

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Need {
    /// No token: the liveness probe and the page's own files (the page signs in itself).
    Public,
    Viewer,
    User,
    Admin,
}

/// `(method, router template, a concrete path, role)` for every route but the passthrough's
/// (whose role depends on the Ollama call it carries: see [`PASSTHROUGH`]). `GET` implies `HEAD`.
pub(crate) const ROUTES: &[(&str, &str, &str, Need)] = &[
    ("GET", "/ping", "/ping", Need::Public),
    ("GET", "/", "/", Need::Public),
    (
        "GET",
        "/assets/{build}/{*path}",
        "/assets/x/app.js",
        Need::Public,
    ),
    ("GET", "/api/health", "/api/health", Need::Viewer),
    ("GET", "/api/version", "/api/version", Need::Viewer),
    ("POST", "/api/auth/verify", "/api/auth/verify", Need::Viewer),
    ("GET", "/openapi.json", "/openapi.json", Need::Viewer),
    ("GET", "/metrics", "/metrics", Need::Viewer),
    ("GET", "/api/events", "/api/events", Need::Viewer),
    ("GET", "/api/stats", "/api/stats", Need::Viewer),
    (
        "GET",
        "/api/stats/history",
        "/api/stats/history",
        Need::Viewer,
    ),
    (
        "GET",
        "/api/models/available",
        "/api/models/available",
        Need::Viewer,
    ),
    (
        "GET",
        "/api/models/running",
        "/api/models/running",
        Need::Viewer,
    ),
    (
        "GET",
        "/api/models/snapshots",
        "/api/models/snapshots",
        Need::Viewer,
    ),
    (
        "GET",
        "/api/models/downloadable",
        "/api/models/downloadable",
        Need::Viewer,
    ),
    (
        "GET",
        "/api/models/show",
        "/api/models/show?name=llama3.2:1b",
        Need::Viewer,
    ),
    (
        "GET",
        "/api/models/show/{*name}",
        "/api/models/show/llama3.2:1b",
        Need::Viewer,
    ),
    (
        "POST",
        "/api/models/start",
        "/api/models/start",
        Need::Admin,
    ),
    ("POST", "/api/models/stop", "/api/models/stop", Need::Admin),
    ("POST", "/api/models/pull", "/api/models/pull", Need::Admin),
    (
        "POST",
        "/api/models/delete",
        "/api/models/delete",
        Need::Admin,
    ),
    ("DELETE", "/api/models", "/api/models", Need::Admin),
    ("POST", "/api/models/copy", "/api/models/copy", Need::Admin),
    ("GET", "/api/jobs", "/api/jobs", Need::Viewer),
    ("GET", "/api/jobs/{id}", "/api/jobs/x", Need::Viewer),
    (
        "POST",
        "/api/jobs/{id}/cancel",
        "/api/jobs/x/cancel",
        Need::Admin,
    ),
    (
        "POST",
        "/api/jobs/{id}/resume",
        "/api/jobs/x/resume",
        Need::Admin,
    ),
    (
        "GET",
        "/api/service/status",
        "/api/service/status",
        Need::Viewer,
    ),
    (
        "POST",
        "/api/service/start",
        "/api/service/start",
        Need::Admin,
    ),
    (
        "POST",
        "/api/service/stop",
        "/api/service/stop",
        Need::Admin,
    ),
    (
        "POST",
        "/api/service/restart",
        "/api/service/restart",
        Need::Admin,
    ),
    ("GET", "/api/settings", "/api/settings", Need::Viewer),
    (
        "PUT",
        "/api/settings/global",
        "/api/settings/global",
        Need::Admin,
    ),
    (
        "PUT",
        "/api/settings/model",
        "/api/settings/model",
        Need::Admin,
    ),
    (
        "DELETE",
        "/api/settings/model",
        "/api/settings/model",
        Need::Admin,
    ),
    ("GET", "/api/nodes", "/api/nodes", Need::Viewer),
    ("POST", "/api/nodes", "/api/nodes", Need::Admin),
    ("DELETE", "/api/nodes/{name}", "/api/nodes/x", Need::Admin),
    (
        "POST",
        "/api/nodes/{name}/drain",
        "/api/nodes/x/drain",
        Need::Admin,
    ),
    (
        "POST",
        "/api/nodes/{name}/undrain",
        "/api/nodes/x/undrain",
        Need::Admin,
    ),
    ("GET", "/api/keys", "/api/keys", Need::Admin),
    ("POST", "/api/keys", "/api/keys", Need::Admin),
    ("DELETE", "/api/keys/{name}", "/api/keys/x", Need::Admin),
    ("GET", "/api/plugins", "/api/plugins", Need::Viewer),
    (
        "POST",
        "/api/plugins/reload",
        "/api/plugins/reload",
        Need::Admin,
    ),
    (
        "GET",
        "/api/plugins/metrics",
        "/api/plugins/metrics",
        Need::Viewer,
    ),
    (
        "POST",
        "/api/plugins/collect",
        "/api/plugins/collect",
        Need::Admin,
    ),
    (
        "GET",
        "/api/plugins/detect/{*model}",
        "/api/plugins/detect/llama3.2:1b",
        Need::Viewer,
    ),
    ("POST", "/api/chat", "/api/chat", Need::User),
    ("GET", "/api/sessions", "/api/sessions", Need::Viewer),
    ("POST", "/api/sessions", "/api/sessions", Need::User),
    ("GET", "/api/sessions/{id}", "/api/sessions/x", Need::Viewer),
    ("PATCH", "/api/sessions/{id}", "/api/sessions/x", Need::User),
    (
        "DELETE",
        "/api/sessions/{id}",
        "/api/sessions/x",
        Need::User,
    ),
    (
        "GET",
        "/api/sessions/{id}/messages",
        "/api/sessions/x/messages",
        Need::Viewer,
    ),
    (
        "POST",
        "/api/sessions/{id}/messages",
        "/api/sessions/x/messages",
        Need::User,
    ),
    (
        "POST",
        "/api/sessions/{id}/regenerate",
        "/api/sessions/x/regenerate",
        Need::User,
    ),
    (
        "POST",
        "/api/sessions/{id}/branch",
        "/api/sessions/x/branch",
        Need::User,
    ),
    (
        "GET",
        "/api/v1/models/running",
        "/api/v1/models/running?model=llama3.2:1b",
        Need::Viewer,
    ),
    (
        "POST",
        "/api/v1/models/up",
        "/api/v1/models/up",
        Need::Admin,
    ),
    (
        "POST",
        "/api/v1/models/down",
        "/api/v1/models/down",
        Need::Admin,
    ),
    (
        "POST",
        "/v1/chat/completions",
        "/v1/chat/completions",
        Need::User,
    ),
    ("POST", "/v1/completions", "/v1/completions", Need::User),
    ("POST", "/v1/responses", "/v1/responses", Need::User),
    ("POST", "/v1/embeddings", "/v1/embeddings", Need::User),
    ("GET", "/v1/models", "/v1/models", Need::Viewer),
    (
        "GET",
        "/v1/models/{*id}",
        "/v1/models/llama3.2:1b",
        Need::Viewer,
    ),
    ("GET", "/v1/traces", "/v1/traces", Need::Viewer),
    (
        "GET",
        "/v1/traces/export",
        "/v1/traces/export",
        Need::Viewer,
    ),
    ("GET", "/v1/traces/stats", "/v1/traces/stats", Need::Viewer),
    ("GET", "/v1/traces/usage", "/v1/traces/usage", Need::Viewer),
    ("GET", "/v1/traces/{id}", "/v1/traces/x", Need::Viewer),
    ("GET", "/v1/uploads", "/v1/uploads", Need::Viewer),
    ("POST", "/v1/uploads", "/v1/uploads", Need::Admin),
    ("GET", "/v1/uploads/{id}", "/v1/uploads/x", Need::Viewer),
    ("PATCH", "/v1/uploads/{id}", "/v1/uploads/x", Need::Admin),
    ("DELETE", "/v1/uploads/{id}", "/v1/uploads/x", Need::Admin),
    ("POST", "/v1/uploads/{id}", "/v1/uploads/x", Need::Admin),
    (
        "POST",
        "/v1/chunked-upload/start",
        "/v1/chunked-upload/start",
        Need::Admin,
    ),
    (
        "POST",
        "/v1/chunked-upload/chunk",
        "/v1/chunked-upload/chunk?upload_id=x&offset=0",
        Need::Admin,
    ),
    (
        "POST",
        "/v1/chunked-upload/complete",
        "/v1/chunked-upload/complete",
        Need::Admin,
    ),
    (
        "POST",
        "/v1/models/upload",
        "/v1/models/upload",
        Need::Admin,
    ),
    (
        "POST",
        "/v1/models/import",
        "/v1/models/import",
        Need::Admin,
    ),
    (
        "GET",
        "/v1/models/imports",
        "/v1/models/imports",
        Need::Viewer,
    ),
    (
        "GET",
        "/v1/models/imports/{id}",
        "/v1/models/imports/x",
        Need::Viewer,
    ),
];

/// The passthrough's templates (any method) and, through them, Ollama's own calls with the role
/// each needs: reads are the viewer's, generation the user's, every other call the admin's.
pub(crate) const PASSTHROUGH: &[&str] = &["/ollama", "/ollama/", "/ollama/{*path}"];
const OLLAMA_CALLS: &[(&str, &str, Need)] = &[
    ("GET", "/ollama/api/tags", Need::Viewer),
    ("GET", "/ollama/api/version", Need::Viewer),
    ("GET", "/ollama/api/ps", Need::Viewer),
    ("POST", "/ollama/api/generate", Need::User),
    ("POST", "/ollama/api/chat", Need::User),
    ("POST", "/ollama/api/embed", Need::User),
    ("POST", "/ollama/api/embeddings", Need::User),
    ("POST", "/ollama/api/show", Need::User),
    ("DELETE", "/ollama/api/delete", Need::Admin),
    ("POST", "/ollama/api/copy", Need::Admin),
    ("POST", "/ollama/api/create", Need::Admin),
    ("POST", "/ollama/api/pull", Need::Admin),
    ("POST", "/ollama/api/push", Need::Admin),
    ("POST", "/ollama/api/blobs/sha256:00", Need::Admin),
    ("PUT", "/ollama/api/tags", Need::Admin),
];

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

async fn host() -> (ollama_dash_host::sim::SimHandle, TestHost) {
    let sim = sim().await;
    let host = TestHost::with_keys(
        &sim.url(),
        &[
            ("alice", USER_KEY, "user"),
            ("bob", OTHER_USER_KEY, "user"),
            ("val", VIEWER_KEY, "viewer"),
        ],
    )
    .await;
    (sim, host)
}

/// Status and JSON body of `method path` with `token` (an empty JSON object as the body of a
/// write, so a handler that is reached sees well-formed input). The body of a stream (the
/// event stream) is not read.
async fn status_of(host: &TestHost, method: &str, path: &str, token: Option<&str>) -> StatusCode {
    let body = (method != "GET" && method != "HEAD").then(|| json!({}));
    host.open(authed(method, path, body, token)).await.status()
}

async fn call(
    host: &TestHost,
    method: &str,
    path: &str,
    token: Option<&str>,
) -> (StatusCode, Value) {
    let (status, _, json) = host.send(authed(method, path, None, token)).await;
    (status, json)
}

fn key_of(need: Need) -> &'static str {
    match need {
        Need::Public | Need::Viewer => VIEWER_KEY,
        Need::User => USER_KEY,
        Need::Admin => TOKEN,
    }
}

fn host_http_sources() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read host sources").flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../ollama-dash-host/src/http"),
        &mut files,
    );
    files
}

/// The templates the sources hand to `.route(…)`: a string literal, or a `const` of the same
/// file, or the passthrough's named template. Test modules (after `#[cfg(test)]`) are skipped.
fn templates_in_sources() -> Vec<String> {
    let mut found = Vec::new();
    for file in host_http_sources() {
        let source = std::fs::read_to_string(&file).expect("read");
        let code = source.split("#[cfg(test)]").next().unwrap_or_default();
        for (at, _) in code.match_indices(".route(") {
            let argument = code[at + ".route(".len()..].trim_start();
            let template = if let Some(rest) = argument.strip_prefix('"') {
                rest.split('"').next().unwrap_or_default().to_owned()
            } else {
                let name: String = argument
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let short = name.rsplit("::").next().unwrap_or_default();
                if short.is_empty() {
                    continue; // `fleet.route(&model, …)`: the fleet's router, not HTTP's
                } else if short == "PASSTHROUGH_ROUTE" {
                    ollama_dash_host::auth::PASSTHROUGH_ROUTE.to_owned()
                } else {
                    let declaration = format!("const {short}: &str = \"");
                    let at = code.find(&declaration).unwrap_or_else(|| {
                        panic!("{}: no const {short} for a route", file.display())
                    });
                    code[at + declaration.len()..]
                        .split('"')
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                }
            };
            assert!(template.starts_with('/'), "{}: {template}", file.display());
            found.push(template);
        }
    }
    found.sort();
    found.dedup();
    found
}

/// The table names every route the sources build, and the router serves exactly the methods the
/// table lists for each.
#[tokio::test]
async fn the_route_table_is_the_routers_own() {
    let listed: Vec<&str> = ROUTES
        .iter()
        .map(|r| r.1)
        .chain(PASSTHROUGH.iter().copied())
        .collect();
    let built = templates_in_sources();
    assert!(built.len() >= 60, "too few routes found: {built:?}");
    let missing: Vec<&String> = built
        .iter()
        .filter(|t| !listed.contains(&t.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "routes with no row in access.rs's ROUTES (say who may call them): {missing:?}"
    );
    let stale: Vec<&&str> = listed
        .iter()
        .filter(|t| !built.iter().any(|b| b == *t))
        .collect();
    assert!(stale.is_empty(), "rows for routes not built: {stale:?}");

    let (_sim, host) = host().await;
    for &(method, template, path, need) in ROUTES {
        // A listed method is served: too weak a key meets the role layer (403), which axum
        // runs only on a route that matched; a public route answers without one.
        let status = match need {
            Need::Public => status_of(&host, method, path, None).await,
            Need::Viewer => status_of(&host, method, path, None).await,
            Need::User => status_of(&host, method, path, Some(VIEWER_KEY)).await,
            Need::Admin => status_of(&host, method, path, Some(USER_KEY)).await,
        };
        let expected = match need {
            Need::Public => status,
            Need::Viewer => StatusCode::UNAUTHORIZED,
            Need::User | Need::Admin => StatusCode::FORBIDDEN,
        };
        assert_eq!(status, expected, "{method} {template}");
        // Every method the table does not list for this template answers 405.
        for other in METHODS {
            let served = ROUTES.iter().any(|r| r.1 == template && r.0 == other);
            if !served {
                let status = status_of(&host, other, path, Some(TOKEN)).await;
                assert_eq!(
                    status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{other} {template} is served but has no row"
                );
            }
        }
    }
}

/// Every route but `/ping` and the page's files needs the token in `Authorization`; a token in
/// the query string, a cookie or another header is not one.
#[tokio::test]
async fn every_route_needs_the_token_in_the_authorization_header() {
    let (_sim, host) = host().await;
    let paths = ROUTES
        .iter()
        .map(|&(m, _, p, need)| (m, p.to_owned(), need))
        .chain(
            OLLAMA_CALLS
                .iter()
                .map(|&(m, p, need)| (m, p.to_owned(), need)),
        );
    let mut tried = 0;
    for (method, path, need) in paths {
        let status = status_of(&host, method, &path, None).await;
        if need == Need::Public {
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
            continue;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        let (_, json) = call(&host, method, &path, None).await;
        assert_eq!(
            json["error"]["type"], "authentication_error",
            "{path}: {json}"
        );
        tried += 1;
    }
    println!("{tried} routes and Ollama calls without a token, each 401");
    assert!(tried > 80, "{tried}");

    // The admin token anywhere but `Authorization: Bearer` is no token.
    let joiner = |p: &str| if p.contains('?') { '&' } else { '?' };
    for (method, path) in [
        ("GET", "/api/health"),
        ("GET", "/api/keys"),
        ("GET", "/v1/traces"),
    ] {
        for name in ["token", "access_token", "api_key", "key", "auth"] {
            let path = format!("{path}{}{name}={TOKEN}", joiner(path));
            let status = status_of(&host, method, &path, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        }
        for (header, value) in [
            ("cookie", format!("token={TOKEN}")),
            ("cookie", format!("Authorization=Bearer {TOKEN}")),
            ("x-api-key", TOKEN.to_owned()),
            ("api-key", TOKEN.to_owned()),
            ("authorization", format!("Token {TOKEN}")),
            ("authorization", format!("Basic {TOKEN}")),
            ("authorization", TOKEN.to_owned()),
        ] {
            let mut request = authed(method, path, None, None);
            request.headers_mut().insert(
                http::HeaderName::from_static(header),
                http::HeaderValue::from_str(&value).unwrap(),
            );
            let status = host.open(request).await.status();
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{header}: {value} on {path}"
            );
        }
    }
}

/// Each role reaches the routes of its rank and gets 403 in the JSON shape on every route above
/// it: a viewer makes no change, a user only generates and chats, through `/ollama` too.
#[tokio::test]
async fn each_role_reaches_exactly_the_routes_of_its_rank() {
    let (_sim, host) = host().await;
    let calls = ROUTES
        .iter()
        .filter(|r| r.3 != Need::Public)
        .map(|&(m, _, p, need)| (m, p, need))
        .chain(OLLAMA_CALLS.iter().copied());
    let mut refused = 0;
    for (method, path, need) in calls {
        for (role, key) in [(Need::Viewer, VIEWER_KEY), (Need::User, USER_KEY)] {
            let status = status_of(&host, method, path, Some(key)).await;
            if need > role {
                assert_eq!(status, StatusCode::FORBIDDEN, "{role:?} {method} {path}");
                let mut request = authed(method, path, Some(json!({})), Some(key));
                request
                    .headers_mut()
                    .insert("accept", http::HeaderValue::from_static("application/json"));
                let (_, _, json) = host.send(request).await;
                assert_eq!(json["error"]["type"], "permission_error", "{path}: {json}");
                refused += 1;
            } else if method == "GET" {
                // A read of the caller's rank is answered (the ids in these paths do not exist,
                // so 404 is an answer too); never refused for the role.
                assert!(
                    status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                    "{role:?} {method} {path}: {status}"
                );
            }
        }
    }
    println!("{refused} calls above the caller's role, each 403");
    assert!(refused > 60, "{refused}");
    // The key that holds the rank gets past the role layer on every route (its handler may
    // still refuse the empty body; it never says 401 or 403). Only reads and generation are
    // sent here: the admin's writes would change the host under the other tests' feet.
    for &(method, _, path, need) in ROUTES {
        if need == Need::User {
            let status = status_of(&host, method, path, Some(key_of(need))).await;
            assert!(
                status != StatusCode::FORBIDDEN && status != StatusCode::UNAUTHORIZED,
                "{method} {path}: {status}"
            );
        }
    }
}

/// Every way a client or proxy may write "up one level", "this level" or "an empty level",
/// raw or percent-encoded, from the user route `from` to `target`.
fn disguises(from: &str, target: &str) -> Vec<String> {
    let depth = from.split('/').filter(|s| !s.is_empty()).count();
    let ups = |up: &str, sep: &str| vec![up; depth].join(sep);
    let rest = target.trim_start_matches('/');
    let (first, after) = rest.split_once('/').unwrap_or((rest, ""));
    vec![
        format!("{from}/{}/{rest}", ups("..", "/")),
        format!("{from}/./{}/{rest}", ups("..", "/")),
        format!("{from}/{}/{rest}", ups("%2e%2e", "/")),
        format!("{from}/{}/{rest}", ups("%2E%2E", "/")),
        format!("{from}/{}/{rest}", ups(".%2e", "/")),
        format!("{from}%2f{}%2f{rest}", ups("..", "%2f")),
        format!("{from}%2F{}%2F{rest}", ups("%2E%2E", "%2F")),
        format!("{from}//{}/{rest}", ups("..", "/")),
        format!("/./{rest}"),
        format!("//{rest}"),
        format!("/{first}//{after}"),
        format!("/{first}/./{after}"),
        format!("/{first}%2f{after}"),
        format!("/{first}%2F{after}"),
        match rest.rsplit_once('/') {
            Some((head, last)) => format!("/{head}%2f{last}"),
            None => format!("/{rest}"),
        },
    ]
}

/// F1 for every admin route: a `user` key that writes the path of an admin route behind a user
/// route, in any disguise, is refused before any handler runs — 400 `non_canonical_path` for a
/// dot or empty segment, 404, 405 or 403 for an encoded slash (no route has one, or not for this
/// method, or the passthrough sees an admin call) — and the admin's plain path is 403 for it.
#[tokio::test]
async fn a_user_key_reaches_no_admin_route_in_any_disguise() {
    let (_sim, host) = host().await;
    let admin_calls = ROUTES
        .iter()
        .filter(|r| r.3 == Need::Admin)
        .map(|&(m, _, p, _)| (m, p))
        .chain(
            OLLAMA_CALLS
                .iter()
                .filter(|c| c.2 == Need::Admin)
                .map(|&(m, p, _)| (m, p)),
        );
    let mut tried = 0;
    for (method, target) in admin_calls {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let status = status_of(&host, method, target, Some(USER_KEY)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {target}");
        let froms: &[&str] = if path.starts_with("/ollama/") {
            &[
                "/ollama/api/chat",
                "/ollama/api/generate",
                "/ollama/api/show",
            ]
        } else {
            &[
                "/v1/chat/completions",
                "/api/sessions/x/messages",
                "/api/chat",
            ]
        };
        for from in froms {
            for disguised in disguises(from, path) {
                let disguised = match query {
                    "" => disguised,
                    query => format!("{disguised}?{query}"),
                };
                let (status, _, json) = host
                    .send(authed(method, &disguised, Some(json!({})), Some(USER_KEY)))
                    .await;
                let lower = disguised.to_ascii_lowercase();
                let dot_or_empty = lower.contains("..")
                    || lower.contains("%2e")
                    || lower.contains("/./")
                    || lower.contains("//");
                if dot_or_empty {
                    assert_eq!(
                        status,
                        StatusCode::BAD_REQUEST,
                        "{method} {disguised}: {json}"
                    );
                    assert_eq!(json["error"]["code"], "non_canonical_path", "{disguised}");
                } else {
                    // Only an encoded slash: one segment to the router, which has no such
                    // route (404), or a route without this method (405), or routes it as the
                    // admin call it is (403).
                    assert!(
                        matches!(
                            status,
                            StatusCode::NOT_FOUND
                                | StatusCode::METHOD_NOT_ALLOWED
                                | StatusCode::FORBIDDEN
                        ),
                        "{method} {disguised}: {status} {json}"
                    );
                }
                assert!(json["error"]["message"].is_string(), "{disguised}: {json}");
                tried += 1;
            }
        }
    }
    println!("{tried} disguised admin calls from a user key, each refused");
    assert!(tried > 1500, "{tried}");
}

/// A `user` key reads only its own traces: the list, one trace, the export, the stats and the
/// usage; a viewer and the admin read everyone's.
#[tokio::test]
async fn a_user_key_reads_only_its_own_traces() {
    let (_sim, host) = host().await;
    let chat = json!({"model": "llama3.2:1b", "messages": [{"role": "user", "content": "hi"}]});
    let (status, _, json) = host
        .send(authed(
            "POST",
            "/v1/chat/completions",
            Some(chat),
            Some(USER_KEY),
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    host.dashboard.flush_writes().await.expect("flush");
    let (_, page) = call(&host, "GET", "/v1/traces", Some(USER_KEY)).await;
    let id = page["data"][0]["id"]
        .as_str()
        .expect("alice's trace")
        .to_owned();
    assert_eq!(page["data"][0]["api_key"], "alice", "{page}");

    // Bob sees none of it, even when he asks for alice's key by name.
    for path in ["/v1/traces", "/v1/traces?key=alice"] {
        let (status, page) = call(&host, "GET", path, Some(OTHER_USER_KEY)).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(page["data"], json!([]), "{path}: {page}");
    }
    let (status, _) = call(
        &host,
        "GET",
        &format!("/v1/traces/{id}"),
        Some(OTHER_USER_KEY),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let export = host
        .open(authed(
            "GET",
            "/v1/traces/export?format=jsonl",
            None,
            Some(OTHER_USER_KEY),
        ))
        .await;
    assert_eq!(export.status(), StatusCode::OK);
    let bytes = http_body_util::BodyExt::collect(export.into_body())
        .await
        .expect("export")
        .to_bytes();
    assert!(
        !String::from_utf8_lossy(&bytes).contains(&id),
        "bob's export has alice's trace"
    );
    let (_, stats) = call(&host, "GET", "/v1/traces/stats", Some(OTHER_USER_KEY)).await;
    assert!(!stats.to_string().contains("llama3.2:1b"), "{stats}");
    let (_, usage) = call(
        &host,
        "GET",
        "/v1/traces/usage?window=1h",
        Some(OTHER_USER_KEY),
    )
    .await;
    assert!(!usage.to_string().contains("llama3.2:1b"), "{usage}");

    // The viewer and the admin see it.
    for key in [VIEWER_KEY, TOKEN] {
        let (status, _) = call(&host, "GET", &format!("/v1/traces/{id}"), Some(key)).await;
        assert_eq!(status, StatusCode::OK);
    }
}
