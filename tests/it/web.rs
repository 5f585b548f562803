//! The embedded web page: served without a token, content-hashed assets cached forever,
//! compressed, and locked to our own origin by CSP.

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::support::{TestHost, sim};

async fn get(host: &TestHost, path: &str, gzip: bool) -> (StatusCode, http::HeaderMap, Vec<u8>) {
    let mut request = Request::builder().uri(path);
    if gzip {
        request = request.header("accept-encoding", "gzip");
    }
    let response = host
        .router
        .clone()
        .oneshot(request.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let (parts, body) = response.into_parts();
    (
        parts.status,
        parts.headers,
        body.collect().await.expect("body").to_bytes().to_vec(),
    )
}

#[tokio::test]
async fn index_points_at_hashed_assets_that_are_immutable() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let (status, headers, body) = get(&host, "/", false).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-cache");
    assert!(
        headers["content-security-policy"]
            .to_str()
            .expect("ascii")
            .contains("default-src 'self'")
    );
    let html = String::from_utf8(body).expect("utf-8");
    assert!(!html.contains("{{ASSETS}}"));
    let start = html.find("/assets/").expect("asset prefix");
    let prefix = &html[start..start + "/assets/".len() + 12];
    let app = format!("{prefix}/app.js");

    let (status, headers, body) = get(&host, &app, false).await;
    assert_eq!(status, StatusCode::OK, "{app}");
    assert!(
        headers["content-type"]
            .to_str()
            .expect("ascii")
            .contains("javascript")
    );
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(headers.contains_key("etag"));
    let plain_len = body.len();

    let (_, headers, body) = get(&host, &app, true).await;
    assert_eq!(
        headers.get("content-encoding").map(|v| v.as_bytes()),
        Some(&b"gzip"[..])
    );
    assert!(
        body.len() < plain_len,
        "compressed {} < {}",
        body.len(),
        plain_len
    );

    let (status, _, _) = get(&host, &format!("{prefix}/nope.js"), false).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&host, &format!("{prefix}/index.html"), false).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "index only at /");
}

/// Every ES module the page imports (statically or on demand) and every asset `index.html`
/// names is served from the same hashed prefix: a typo in an import path fails here, not in a
/// user's browser.
#[tokio::test]
async fn every_module_the_page_imports_is_served() {
    let sim = sim().await;
    let host = TestHost::new(&sim.url(), &[]).await;
    let (_, _, body) = get(&host, "/", false).await;
    let html = String::from_utf8(body).expect("utf-8");
    let mut queue: Vec<String> = html
        .split('"')
        .filter(|s| s.starts_with("/assets/"))
        .map(str::to_owned)
        .collect();
    assert!(queue.iter().any(|p| p.ends_with("/app.js")), "{queue:?}");
    // The grammars of the code highlighter are imported by name (`LANGUAGES` in markdown.js):
    // each one there is a file here, and each is served with the chunks it imports.
    let app = queue
        .iter()
        .find(|p| p.ends_with("/app.js"))
        .expect("app.js");
    let prefix = app.trim_end_matches("/app.js").to_owned();
    let web = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ollama-dash-host/web");
    let markdown = std::fs::read_to_string(web.join("markdown.js")).expect("markdown.js");
    for grammar in [
        "javascript",
        "python",
        "rust",
        "json",
        "css",
        "html",
        "cpp",
        "go",
        "java",
        "yaml",
    ] {
        assert!(
            markdown.contains(&format!("[\"{grammar}\"")),
            "{grammar} not in LANGUAGES"
        );
        assert!(
            web.join(format!("vendor/lezer/{grammar}.js")).is_file(),
            "{grammar}.js"
        );
        queue.push(format!("{prefix}/vendor/lezer/{grammar}.js"));
    }
    let mut seen = std::collections::BTreeSet::new();
    while let Some(path) = queue.pop() {
        if !seen.insert(path.clone()) {
            continue;
        }
        let (status, _, body) = get(&host, &path, false).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        if !path.ends_with(".js") {
            continue;
        }
        let dir = &path[..path.rfind('/').expect("a directory")];
        let source = String::from_utf8(body).expect("utf-8");
        for quoted in source.split('"').skip(1).step_by(2) {
            if !(quoted.starts_with("./") || quoted.starts_with("../")) || !quoted.ends_with(".js")
            {
                continue;
            }
            let mut parts: Vec<&str> = dir.split('/').collect();
            for piece in quoted.split('/') {
                match piece {
                    "." => {}
                    ".." => {
                        parts.pop();
                    }
                    other => parts.push(other),
                }
            }
            queue.push(parts.join("/"));
        }
    }
    for module in [
        "views/dashboard.js",
        "views/models.js",
        "views/chat.js",
        "views/traces.js",
        "views/settings.js",
        "markdown.js",
        "tus.js",
        "charts.js",
        "views/usage.js",
        "views/nodes.js",
        "vendor/uplot/uPlot.iife.min.js",
        "code-highlight.js",
        "math.js",
        "contract.js",
        "vendor/lezer/highlight.js",
        "vendor/temml/temml.min.js",
    ] {
        assert!(
            seen.iter().any(|p| p.ends_with(module)),
            "{module} not reached from index.html: {seen:?}"
        );
    }
}

/// The page never turns strings into markup or code: no `innerHTML` and friends, no `eval`, and
/// nothing fetched from another origin. Every file under `web/`, vendored ones included.
#[test]
fn web_sources_never_parse_strings_as_html_or_reach_other_origins() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ollama-dash-host/web");
    let mut files = vec![dir];
    let mut checked = 0;
    let mut vendored = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            for entry in std::fs::read_dir(&path).expect("web dir") {
                let entry = entry.expect("entry").path();
                if entry.is_dir() || entry.extension().is_some_and(|e| e == "js" || e == "html") {
                    files.push(entry);
                }
            }
            continue;
        }
        vendored += usize::from(path.components().any(|c| c.as_os_str() == "vendor"));
        let source = std::fs::read_to_string(&path).expect("source");
        for banned in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
            "src=\"http",
            "href=\"http",
            "fetch(\"http",
            "import(\"http",
            "from \"http",
        ] {
            assert!(
                !source.contains(banned),
                "{} contains {banned}",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 12, "only {checked} files checked");
    assert!(vendored >= 1, "the vendored chart library is checked too");
}
