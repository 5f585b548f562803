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
