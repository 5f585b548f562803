//! The managed Ollama's output, appended to `DATA_PATH/logs/ollama.log` and rotated by size
//! (`ollama.log.1` is the newest old file).

use std::path::PathBuf;

use tokio::io::AsyncWriteExt;

/// A size-rotated log file.
#[derive(Debug)]
pub(crate) struct RotatingLog {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: Option<tokio::fs::File>,
    size: u64,
}

impl RotatingLog {
    pub(crate) fn new(path: PathBuf, max_bytes: u64, keep: u32) -> Self {
        Self {
            path,
            max_bytes,
            keep,
            file: None,
            size: 0,
        }
    }

    fn rotated(&self, n: u32) -> PathBuf {
        let mut name = self.path.as_os_str().to_owned();
        name.push(format!(".{n}"));
        PathBuf::from(name)
    }

    async fn rotate(&mut self) -> std::io::Result<()> {
        self.file = None;
        let _ = tokio::fs::remove_file(self.rotated(self.keep)).await;
        for n in (1..self.keep).rev() {
            let _ = tokio::fs::rename(self.rotated(n), self.rotated(n + 1)).await;
        }
        tokio::fs::rename(&self.path, self.rotated(1)).await
    }

    /// Appends one line (a newline is added), rotating first when it would not fit.
    pub(crate) async fn line(&mut self, text: &str) -> std::io::Result<()> {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            let file = tokio::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .await?;
            self.size = file.metadata().await?.len();
            self.file = Some(file);
        }
        let bytes = text.len() as u64 + 1;
        if self.size > 0 && self.size + bytes > self.max_bytes {
            self.rotate().await?;
            return Box::pin(self.line(text)).await;
        }
        if let Some(file) = &mut self.file {
            file.write_all(text.as_bytes()).await?;
            file.write_all(b"\n").await?;
            file.flush().await?;
            self.size += bytes;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;

    #[tokio::test]
    async fn rotates_by_size_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/ollama.log");
        let mut log = RotatingLog::new(path.clone(), 100, 2);
        for i in 0..10 {
            log.line(&format!("{i:02} {}", "x".repeat(36)))
                .await
                .unwrap();
        }
        // 40-byte lines, 100-byte files: two lines per file; 10 lines → 5 files, 3 kept.
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
        assert!(read(path.clone()).starts_with("08 "));
        assert!(read(dir.path().join("logs/ollama.log.1")).starts_with("06 "));
        assert!(read(dir.path().join("logs/ollama.log.2")).starts_with("04 "));
        assert!(!dir.path().join("logs/ollama.log.3").exists());
        assert!(std::fs::metadata(&path).unwrap().len() <= 100);
    }
}
