//! A kill -9 of the real `ollama-dash` process in the middle of a tus upload, then a restart
//! and a resume that ends in a byte-exact file. Here (not in `tests/`) because only here does
//! cargo give the binary's path.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use sha2::{Digest, Sha256};

const TOKEN: &str = "crash-test-token-0123456789";
const MIB: u64 = 1 << 20;
const TOTAL_MIB: u64 = 80;

/// Megabyte `i` of the file: deterministic, not repetitive within the megabyte.
fn chunk(i: u64) -> Vec<u8> {
    (0..MIB)
        .map(|j| (i.wrapping_mul(131) ^ j.wrapping_mul(7) ^ (j >> 11)) as u8)
        .collect()
}

fn serve(data: &Path) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ollama-dash"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("DATA_PATH", data)
        .env("AUTH_TOKEN", TOKEN)
        .env("OLLAMA_HOST", "127.0.0.1:9") // uploads need no Ollama
        .env("OLLAMA_DASH_UPLOAD_RESERVE_BYTES", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let url = support::listening_address(child.stdout.take().unwrap());
    (child, url)
}

async fn head_offset(client: &reqwest::Client, location: &str) -> u64 {
    let response = client
        .head(location)
        .bearer_auth(TOKEN)
        .header("tus-resumable", "1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.headers()["upload-offset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn patch(
    client: &reqwest::Client,
    location: &str,
    offset: u64,
    body: reqwest::Body,
) -> reqwest::Response {
    client
        .patch(location)
        .bearer_auth(TOKEN)
        .header("tus-resumable", "1.0.0")
        .header("content-type", "application/offset+octet-stream")
        .header("upload-offset", offset)
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_upload_then_resume_to_a_byte_exact_file() {
    let data = tempfile::tempdir().unwrap();
    let (mut child, url) = serve(data.path());
    let client = reqwest::Client::new();
    let created = client
        .post(format!("{url}/v1/uploads"))
        .bearer_auth(TOKEN)
        .header("tus-resumable", "1.0.0")
        .header("upload-length", TOTAL_MIB * MIB)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = format!("{url}{}", created.headers()["location"].to_str().unwrap());
    let id = location.rsplit('/').next().unwrap().to_owned();

    // 3 MiB acknowledged in one complete request.
    let first: Vec<u8> = (0..3).flat_map(chunk).collect();
    let answer = patch(&client, &location, 0, first.into()).await;
    assert_eq!(answer.status(), 204);
    assert_eq!(
        answer.headers()["upload-offset"],
        (3 * MIB).to_string().as_str()
    );

    // A second request streams 66 MiB and then stalls, its connection still open.
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let stalled = tokio::spawn({
        let (client, location) = (client.clone(), location.clone());
        async move { patch(&client, &location, 3 * MIB, body).await }
    });
    for i in 3..69 {
        tx.send(Ok(chunk(i))).await.unwrap();
    }
    // The server checkpoints every 64 MiB of a request: wait (on the server's own answer)
    // until the first one inside this request is durable.
    let mut offset = 3 * MIB;
    for _ in 0..1_000_000 {
        offset = head_offset(&client, &location).await;
        if offset > 3 * MIB {
            break;
        }
    }
    assert_eq!(offset, 67 * MIB, "3 MiB + one 64 MiB checkpoint");

    child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    child.wait().unwrap();
    drop(tx);
    let _ = stalled.await;
    let on_disk = std::fs::metadata(data.path().join("uploads").join(&id))
        .unwrap()
        .len();
    assert!(
        on_disk >= 67 * MIB,
        "bytes past the checkpoint may be on disk: {on_disk}"
    );

    let (mut child, url) = serve(data.path());
    let location = format!("{url}/v1/uploads/{id}");
    let offset = head_offset(&client, &location).await;
    assert_eq!(offset, 67 * MIB, "the offset reported is the durable one");
    assert_eq!(
        std::fs::metadata(data.path().join("uploads").join(&id))
            .unwrap()
            .len(),
        offset,
        "bytes past the checkpoint were cut"
    );
    let rest: Vec<u8> = (offset / MIB..TOTAL_MIB).flat_map(chunk).collect();
    let answer = patch(&client, &location, offset, rest.into()).await;
    assert_eq!(answer.status(), 204);
    assert_eq!(
        answer.headers()["upload-offset"],
        (TOTAL_MIB * MIB).to_string().as_str()
    );

    let mut expected = Sha256::new();
    (0..TOTAL_MIB).for_each(|i| expected.update(chunk(i)));
    let expected = hex::encode(expected.finalize());
    let info: serde_json::Value = client
        .get(&location)
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["state"], "complete");
    assert_eq!(
        info["sha256"],
        expected.as_str(),
        "the resumed hash state is right"
    );
    let mut file = std::fs::File::open(data.path().join("uploads").join(&id)).unwrap();
    let mut actual = Sha256::new();
    std::io::copy(&mut file, &mut actual).unwrap();
    assert_eq!(
        hex::encode(actual.finalize()),
        expected,
        "the file is byte-exact"
    );

    child.kill().unwrap();
    child.wait().unwrap();
}
