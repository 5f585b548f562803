//! One test over a real port: the whole server, bound, serving, shutting down gracefully.

use std::time::Duration;

use ollama_dash_core::DashboardConfig;
use ollama_dash_host::config::{Config, HostConfig};
use ollama_dash_host::server::Server;

use crate::support::sim;

#[tokio::test]
async fn serves_over_loopback_and_shuts_down_cleanly() {
    let sim = sim().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut dashboard = DashboardConfig::with_data_path(dir.path());
    dashboard.ollama_host = sim.url();
    let host: HostConfig = serde_json::from_value(serde_json::json!({ "listen": "127.0.0.1:0" }))
        .expect("host config");
    let server = Server::bind(Config { dashboard, host })
        .await
        .expect("binds");
    let addr = server.local_addr().expect("addr");
    let token = server.token().to_owned();
    assert!(
        dir.path().join("auth-token").exists(),
        "generated token is kept in DATA_PATH"
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));

    let client = reqwest::Client::new();
    let base = format!("http://{addr}");
    let ping = client
        .get(format!("{base}/ping"))
        .send()
        .await
        .expect("ping");
    assert_eq!(ping.status(), 200);
    let denied = client
        .get(format!("{base}/api/health"))
        .send()
        .await
        .expect("health");
    assert_eq!(denied.status(), 401);
    let health: serde_json::Value = client
        .get(format!("{base}/api/health"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "ok", "{health}");

    stop.send(()).expect("server still running");
    tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .expect("stops within its grace period")
        .expect("task")
        .expect("clean shutdown");
    assert!(
        client.get(format!("{base}/ping")).send().await.is_err(),
        "no longer accepting"
    );
}
