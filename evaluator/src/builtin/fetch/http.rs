//! HTTP(S) downloads with `ureq`: timeouts, a size limit, retries with backoff, progress,
//! and the bytes hashed as they arrive.
//!
//! The body is saved exactly as the server sends it: no content decoding (a
//! `.tar.gz` served with `Content-Encoding: gzip` stays compressed, as with wget).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Reporter;
use super::checksum::{Computed, Hasher};

/// How downloads behave.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpSettings {
    /// Time allowed for resolving the host and connecting, in seconds.
    pub connect_timeout_secs: u64,
    /// Longest wait for any read of the response, in seconds (a stalled transfer fails).
    pub read_timeout_secs: u64,
    /// Tries per URL for errors that may pass (connection, timeouts, 5xx, 429).
    pub attempts: u32,
    /// Wait before the first retry, in milliseconds; doubled for each later one.
    pub backoff_ms: u64,
    /// The largest file accepted, in bytes.
    pub max_bytes: u64,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            connect_timeout_secs: 30,
            read_timeout_secs: 60,
            attempts: 3,
            backoff_ms: 1000,
            max_bytes: 8 << 30,
        }
    }
}

/// Why one URL did not give the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HttpFailure {
    #[error("HTTP status {status}")]
    Status { status: u16 },
    #[error("{0}")]
    Transport(String),
    #[error("larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("writing the download: {0}")]
    Write(String),
}

impl HttpFailure {
    /// Whether trying again may help.
    fn transient(&self) -> bool {
        match self {
            HttpFailure::Status { status } => *status >= 500 || *status == 429 || *status == 408,
            HttpFailure::Transport(_) => true,
            HttpFailure::TooLarge { .. } | HttpFailure::Write(_) => false,
        }
    }
}

/// Download `url` into `out` (truncated first), returning the digests of what arrived.
pub fn download(
    url: &str,
    out: &mut File,
    settings: &HttpSettings,
    reporter: &mut dyn Reporter,
) -> Result<Computed, HttpFailure> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_resolve(Some(Duration::from_secs(settings.connect_timeout_secs)))
        .timeout_connect(Some(Duration::from_secs(settings.connect_timeout_secs)))
        .timeout_per_read(Some(Duration::from_secs(settings.read_timeout_secs)))
        .http_status_as_error(false)
        .max_redirects(10)
        .user_agent(concat!("rstore/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let attempts = settings.attempts.max(1);
    let mut attempt = 1;
    loop {
        match try_once(&agent, url, out, settings, reporter) {
            Ok(d) => return Ok(d),
            Err(e) if e.transient() && attempt < attempts => {
                let wait = settings.backoff_ms.saturating_mul(1 << (attempt - 1).min(16));
                reporter.message(&format!(
                    "{url}: {e}; trying again in {:.1} s (attempt {} of {attempts})",
                    wait as f64 / 1000.0,
                    attempt + 1
                ));
                std::thread::sleep(Duration::from_millis(wait));
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

fn try_once(
    agent: &ureq::Agent,
    url: &str,
    out: &mut File,
    settings: &HttpSettings,
    reporter: &mut dyn Reporter,
) -> Result<Computed, HttpFailure> {
    out.set_len(0).and_then(|_| out.seek(SeekFrom::Start(0))).map_err(|e| HttpFailure::Write(e.to_string()))?;
    let response = agent
        .get(url)
        .header("Accept-Encoding", "identity")
        .call()
        .map_err(|e| HttpFailure::Transport(describe(&e)))?;
    let status = response.status().as_u16();
    if status != 200 {
        return Err(HttpFailure::Status { status });
    }
    let total = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(total) = total
        && total > settings.max_bytes
    {
        return Err(HttpFailure::TooLarge { limit: settings.max_bytes });
    }
    let mut body = response.into_body().into_with_config().limit(u64::MAX).reader();
    let mut hasher = Hasher::new();
    let mut buf = vec![0u8; 256 * 1024];
    reporter.progress(url, 0, total);
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(HttpFailure::Transport(format!("receiving the body: {e}"))),
        };
        if hasher.bytes() + n as u64 > settings.max_bytes {
            return Err(HttpFailure::TooLarge { limit: settings.max_bytes });
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| HttpFailure::Write(e.to_string()))?;
        reporter.progress(url, hasher.bytes(), total);
    }
    if let Some(total) = total
        && hasher.bytes() != total
    {
        return Err(HttpFailure::Transport(format!("the connection closed after {} of {total} bytes", hasher.bytes())));
    }
    out.flush().and_then(|_| out.sync_all()).map_err(|e| HttpFailure::Write(e.to_string()))?;
    Ok(hasher.finish())
}

fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::HostNotFound => "host not found".to_owned(),
        ureq::Error::ConnectionFailed => "connection failed".to_owned(),
        ureq::Error::Timeout(t) => format!("timed out ({t})"),
        other => other.to_string(),
    }
}
