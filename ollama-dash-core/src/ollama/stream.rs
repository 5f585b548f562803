//! An NDJSON reader for Ollama's streams: yields each line as soon as it arrives.

use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::types::StreamItem;
use crate::error::{Error, Result};

/// Longest line accepted, the same cap as Ollama's Go client.
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

type ByteStream = Pin<Box<dyn Stream<Item = std::result::Result<Bytes, String>> + Send>>;

/// Reads an NDJSON body line by line.
///
/// Ends after the final line ([`StreamItem::is_final`]). A mid-stream `{"error": …}` line
/// yields [`Error::StreamError`]; a body that ends before the final line yields
/// [`Error::StreamTruncated`]; silence longer than the idle timeout yields [`Error::Timeout`].
/// After an error the stream ends.
pub struct NdjsonStream<T> {
    body: ByteStream,
    buf: BytesMut,
    /// Bytes of `buf` already searched for a newline (so a long line is scanned once).
    scanned: usize,
    idle: Duration,
    finished: bool,
    _item: PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for NdjsonStream<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NdjsonStream")
            .field("buffered", &self.buf.len())
            .field("finished", &self.finished)
            .finish()
    }
}

#[derive(Deserialize)]
struct ErrorLine {
    error: Option<String>,
}

impl<T: DeserializeOwned + StreamItem> NdjsonStream<T> {
    /// Wraps a stream of body chunks; `idle` bounds the wait for each chunk.
    pub fn new<S, E>(body: S, idle: Duration) -> Self
    where
        S: Stream<Item = std::result::Result<Bytes, E>> + Send + 'static,
        E: std::fmt::Display,
    {
        let body = body.map(|r| r.map_err(|e| e.to_string()));
        Self {
            body: Box::pin(body),
            buf: BytesMut::new(),
            scanned: 0,
            idle,
            finished: false,
            _item: PhantomData,
        }
    }

    /// The next line, `None` once the stream is over.
    pub async fn next(&mut self) -> Option<Result<T>> {
        if self.finished {
            return None;
        }
        let item = self.next_inner().await;
        if !matches!(item, Ok(ref line) if !line.is_final()) {
            self.finished = true;
        }
        Some(item)
    }

    async fn next_inner(&mut self) -> Result<T> {
        loop {
            if let Some(pos) = self.buf[self.scanned..].iter().position(|&b| b == b'\n') {
                let line = self.buf.split_to(self.scanned + pos + 1);
                self.scanned = 0;
                if let Some(item) = parse_line(&line)? {
                    return Ok(item);
                }
                continue;
            }
            self.scanned = self.buf.len();
            if self.buf.len() > MAX_LINE_BYTES {
                return Err(Error::Protocol(format!(
                    "a stream line is longer than {MAX_LINE_BYTES} bytes"
                )));
            }
            let chunk = tokio::time::timeout(self.idle, self.body.next())
                .await
                .map_err(|_| Error::Timeout {
                    what: "the next line of a stream".to_owned(),
                    seconds: self.idle.as_secs(),
                })?;
            match chunk {
                Some(Ok(bytes)) => self.buf.extend_from_slice(&bytes),
                Some(Err(message)) => {
                    tracing::debug!(%message, "Ollama stream body failed");
                    return Err(Error::StreamTruncated);
                }
                None => {
                    // A last line without its newline still counts.
                    let rest = std::mem::take(&mut self.buf);
                    return match parse_line(rest.chunk())? {
                        Some(item) => Ok(item),
                        None => Err(Error::StreamTruncated),
                    };
                }
            }
        }
    }

    /// Turns the reader into a [`Stream`].
    pub fn into_stream(self) -> impl Stream<Item = Result<T>> + Send
    where
        T: Send + 'static,
    {
        futures_util::stream::unfold(
            self,
            |mut s| async move { s.next().await.map(|item| (item, s)) },
        )
    }
}

/// Parses one line: `None` for a blank line, an error for an `{"error": …}` line.
fn parse_line<T: DeserializeOwned>(line: &[u8]) -> Result<Option<T>> {
    let line = line.trim_ascii();
    if line.is_empty() {
        return Ok(None);
    }
    // Only a line naming an `error` key can be an error line: skip the second parse otherwise.
    if line.windows(7).any(|w| w == b"\"error\"")
        && let Ok(ErrorLine {
            error: Some(message),
        }) = serde_json::from_slice::<ErrorLine>(line)
    {
        return Err(Error::StreamError(message));
    }
    serde_json::from_slice(line)
        .map(Some)
        .map_err(|e| Error::Protocol(format!("bad stream line: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ollama::types::{GenerateResponse, ProgressResponse};

    fn stream_of(chunks: &[&'static str]) -> NdjsonStream<GenerateResponse> {
        let items: Vec<std::result::Result<Bytes, String>> = chunks
            .iter()
            .map(|c| Ok(Bytes::from_static(c.as_bytes())))
            .collect();
        NdjsonStream::new(futures_util::stream::iter(items), Duration::from_secs(5))
    }

    async fn collect(mut s: NdjsonStream<GenerateResponse>) -> Vec<Result<GenerateResponse>> {
        let mut out = Vec::new();
        while let Some(item) = s.next().await {
            out.push(item);
        }
        out
    }

    #[tokio::test]
    async fn yields_lines_split_across_chunks_and_stops_at_done() {
        let items = collect(stream_of(&[
            "{\"model\":\"m\",\"response\":\"He\",\"done\":false}\n{\"model\":\"m\",\"resp",
            "onse\":\"llo\",\"done\":false}\n\n",
            "{\"model\":\"m\",\"response\":\"\",\"done\":true,\"done_reason\":\"stop\",\"eval_count\":2}\n",
            "{\"model\":\"m\",\"response\":\"ignored\",\"done\":false}\n",
        ]))
        .await;
        let texts: Vec<String> = items
            .iter()
            .map(|i| i.as_ref().map(|r| r.response.clone()).unwrap_or_default())
            .collect();
        assert_eq!(texts, ["He", "llo", ""]);
        let last = items
            .last()
            .and_then(|i| i.as_ref().ok())
            .expect("final line");
        assert_eq!(last.metrics.done_reason.as_deref(), Some("stop"));
        assert_eq!(last.metrics.eval_count, Some(2));
    }

    #[tokio::test]
    async fn a_byte_at_a_time_and_quoted_error_text_are_plain_lines() {
        let text = "{\"model\":\"m\",\"response\":\"an \\\"error\\\": x\",\"done\":false}\n{\"model\":\"m\",\"response\":\"\",\"done\":true}\n";
        let bytes: Vec<&'static str> = (0..text.len()).map(|i| &text[i..=i]).collect();
        let items = collect(stream_of(&bytes)).await;
        let texts: Vec<String> = items
            .into_iter()
            .map(|i| i.expect("a line").response)
            .collect();
        assert_eq!(texts, ["an \"error\": x", ""]);
    }

    #[tokio::test]
    async fn mid_stream_error_line_is_an_error() {
        let items = collect(stream_of(&[
            "{\"model\":\"m\",\"response\":\"a\",\"done\":false}\n",
            "{\"error\":\"llama runner process has terminated\"}\n",
        ]))
        .await;
        assert_eq!(items.len(), 2);
        assert!(matches!(&items[1], Err(Error::StreamError(m)) if m.contains("terminated")));
    }

    #[tokio::test]
    async fn stream_without_done_is_truncated() {
        let items = collect(stream_of(&[
            "{\"model\":\"m\",\"response\":\"a\",\"done\":false}\n",
        ]))
        .await;
        assert!(matches!(items.last(), Some(Err(Error::StreamTruncated))));
    }

    #[tokio::test]
    async fn final_line_without_newline_counts() {
        let items = collect(stream_of(&[
            "{\"model\":\"m\",\"response\":\"\",\"done\":true}",
        ]))
        .await;
        assert!(matches!(items.as_slice(), [Ok(r)] if r.done));
    }

    #[tokio::test]
    async fn progress_ends_at_success() {
        let chunks: Vec<std::result::Result<Bytes, String>> = vec![Ok(Bytes::from_static(
            b"{\"status\":\"pulling manifest\"}\n{\"status\":\"success\"}\n",
        ))];
        let mut s: NdjsonStream<ProgressResponse> =
            NdjsonStream::new(futures_util::stream::iter(chunks), Duration::from_secs(1));
        assert_eq!(
            s.next().await.and_then(|r| r.ok()).map(|p| p.status),
            Some("pulling manifest".into())
        );
        assert_eq!(
            s.next().await.and_then(|r| r.ok()).map(|p| p.status),
            Some("success".into())
        );
        assert!(s.next().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn silence_longer_than_idle_times_out() {
        let body = futures_util::stream::pending::<std::result::Result<Bytes, String>>();
        let mut s: NdjsonStream<GenerateResponse> =
            NdjsonStream::new(body, Duration::from_secs(30));
        assert!(matches!(
            s.next().await,
            Some(Err(Error::Timeout { seconds: 30, .. }))
        ));
        assert!(s.next().await.is_none());
    }

    #[tokio::test]
    async fn overlong_line_is_refused() {
        let big = Bytes::from(vec![b'x'; MAX_LINE_BYTES + 10]);
        let body = futures_util::stream::iter(vec![Ok::<_, String>(big)]);
        let mut s: NdjsonStream<GenerateResponse> = NdjsonStream::new(body, Duration::from_secs(1));
        assert!(matches!(s.next().await, Some(Err(Error::Protocol(_)))));
    }
}
