//! A kill -9 of the real `ollama-dash` process in the middle of an upload (tus, and the chunked
//! protocol), then a restart on the same `DATA_PATH` and a resume that ends in a byte-exact file.
//! Each prints what the crash cost: the bytes the client had sent past the durable offset, which
//! it sends again. Here (not in `tests/`) because only here does cargo give the binary's path.
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

/// `bytes` in MiB, as printed.
fn mib(bytes: u64) -> String {
    if bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{:.2} MiB ({bytes} bytes)", bytes as f64 / MIB as f64)
    }
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
    let sent = 69 * MIB;
    println!(
        "tus: sent {} before kill, durable {}, re-sent {}",
        mib(sent),
        mib(offset),
        mib(sent - offset)
    );
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

/// A GGUF model file of about 60 MiB whose one big tensor holds [`chunk`]'s pattern (not
/// zeros), so the chunked upload completes into something the server accepts as a model.
fn model_file() -> Vec<u8> {
    let floats: u64 = 15 << 20;
    let mut bytes = ollama_dash_core::gguf::sample_model("llama", 3)
        .tensor("blk.0.ffn_up.weight", [floats], 0) // F32: 60 MiB, the last bytes of the file
        .to_bytes();
    let start = bytes.len() - (floats * 4) as usize;
    for (i, block) in bytes[start..].chunks_mut(MIB as usize).enumerate() {
        let pattern = chunk(i as u64 + 1000);
        block.copy_from_slice(&pattern[..block.len()]);
    }
    bytes
}

async fn post_chunk(
    client: &reqwest::Client,
    url: &str,
    id: &str,
    offset: u64,
    digest: &str,
    body: reqwest::Body,
) -> reqwest::Response {
    client
        .post(format!("{url}/v1/chunked-upload/chunk"))
        .bearer_auth(TOKEN)
        .query(&[("upload_id", id), ("sha256", digest)])
        .query(&[("offset", offset)])
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn upload_json(client: &reqwest::Client, url: &str, id: &str) -> serde_json::Value {
    let response = client
        .get(format!("{url}/v1/uploads/{id}"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The chunked protocol (`start`, `chunk`, `complete`) with a sha256 per chunk, as the web page
/// and most scripts use it: a kill -9 while the third chunk streams in, a restart on the same
/// `DATA_PATH`, the durable offset read back from `GET /v1/uploads/{id}`, the rest sent from
/// there, and `complete` answers the file's sha256, which is the expected one, the file
/// byte-exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_chunked_upload_then_resume_from_the_durable_offset() {
    const CHUNK: u64 = 16 * MIB;
    let file = model_file();
    let total = file.len() as u64;
    let expected = hex::encode(Sha256::digest(&file));
    let piece = |offset: u64| {
        let end = (offset + CHUNK).min(total);
        file[offset as usize..end as usize].to_vec()
    };
    let digest = |bytes: &[u8]| hex::encode(Sha256::digest(bytes));

    let data = tempfile::tempdir().unwrap();
    let (mut child, url) = serve(data.path());
    let client = reqwest::Client::new();
    let started = client
        .post(format!("{url}/v1/chunked-upload/start"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({
            "file_name": "crash.gguf",
            "total_size": total,
            "chunk_size": CHUNK,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 201);
    let started: serde_json::Value = started.json().await.unwrap();
    let id = started["upload_id"].as_str().unwrap().to_owned();
    assert_eq!(started["offset"], 0);

    // Two chunks acknowledged.
    let mut offset = 0;
    for _ in 0..2 {
        let bytes = piece(offset);
        let answer = post_chunk(&client, &url, &id, offset, &digest(&bytes), bytes.into()).await;
        assert_eq!(answer.status(), 200);
        let answer: serde_json::Value = answer.json().await.unwrap();
        offset += CHUNK;
        assert_eq!(answer["offset"], offset, "{answer}");
        assert_eq!(answer["complete"], false);
    }
    let acknowledged = offset;

    // The third streams 12 of its 16 MiB, then stalls with its connection open.
    let third = piece(offset);
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Vec<u8>>>(4);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
    let stalled = tokio::spawn({
        let (client, url, id, sum) = (client.clone(), url.clone(), id.clone(), digest(&third));
        async move {
            client
                .post(format!("{url}/v1/chunked-upload/chunk"))
                .bearer_auth(TOKEN)
                .query(&[("upload_id", id.as_str()), ("sha256", sum.as_str())])
                .query(&[("offset", offset)])
                .body(body)
                .send()
                .await
        }
    });
    let streamed = 12 * MIB;
    for block in third[..streamed as usize].chunks(MIB as usize) {
        tx.send(Ok(block.to_vec())).await.unwrap();
    }
    let sent = acknowledged + streamed;
    // Kill once the server is writing the third chunk to disk (its bytes go straight to the
    // file, so the file grows as they arrive).
    let data_file = data.path().join("uploads").join(&id);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::metadata(&data_file).unwrap().len() < acknowledged + 8 * MIB {
        assert!(
            std::time::Instant::now() < deadline,
            "the server never wrote the third chunk"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    child.kill().unwrap(); // SIGKILL: no shutdown, no flush
    child.wait().unwrap();
    drop(tx);
    assert!(
        stalled.await.unwrap().is_err(),
        "the stalled chunk got an answer from a killed server"
    );
    let on_disk = std::fs::metadata(&data_file).unwrap().len();
    assert!(
        on_disk > acknowledged,
        "bytes of the unfinished chunk were on disk at the kill: {on_disk}"
    );

    let (mut child, url) = serve(data.path());
    let info = upload_json(&client, &url, &id).await;
    assert_eq!(info["state"], "uploading", "{info}");
    let durable = info["offset"].as_u64().unwrap();
    assert_eq!(
        durable, acknowledged,
        "the durable offset is what was acknowledged, not what was on disk"
    );
    assert_eq!(
        std::fs::metadata(&data_file).unwrap().len(),
        durable,
        "the unfinished chunk's bytes were cut"
    );
    println!(
        "chunked: sent {} before kill, durable {}, re-sent {}",
        mib(sent),
        mib(durable),
        mib(sent - durable)
    );

    // Resume from the durable offset, chunk by chunk.
    let mut offset = durable;
    let mut last = serde_json::Value::Null;
    while offset < total {
        let bytes = piece(offset);
        let len = bytes.len() as u64;
        let answer = post_chunk(&client, &url, &id, offset, &digest(&bytes), bytes.into()).await;
        assert_eq!(answer.status(), 200);
        last = answer.json().await.unwrap();
        offset += len;
        assert_eq!(last["offset"], offset, "{last}");
    }
    assert_eq!(last["complete"], true, "{last}");

    let done = client
        .post(format!("{url}/v1/chunked-upload/complete"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({ "upload_id": id, "sha256": expected }))
        .send()
        .await
        .unwrap();
    let status = done.status();
    let done: serde_json::Value = done.json().await.unwrap();
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["upload"]["state"], "complete", "{done}");
    assert_eq!(
        done["upload"]["sha256"],
        expected.as_str(),
        "the resumed hash state is right"
    );
    assert_eq!(
        done["report"]["architecture"], "llama",
        "the file is read as the model it is: {done}"
    );
    let mut stored = std::fs::File::open(&data_file).unwrap();
    let mut actual = Sha256::new();
    std::io::copy(&mut stored, &mut actual).unwrap();
    assert_eq!(
        hex::encode(actual.finalize()),
        expected,
        "the file is byte-exact"
    );
    assert_eq!(std::fs::read(&data_file).unwrap(), file);

    child.kill().unwrap();
    child.wait().unwrap();
}
