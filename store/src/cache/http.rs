//! A cache on a web server: GET and HEAD read it, PUT pushes to it (nginx's WebDAV
//! module with `create_full_put_path on`, an object store, or `rstore cache serve`).
//!
//! A server that lists `exists-batch` in its `rstore-cache` file (as `rstore cache
//! serve` does) answers existence for many keys in one request: `POST _exists` with
//! one key path per line, answered by one `0` or `1` per key. Other servers are asked
//! with HEAD requests, many at once over kept-alive connections.
//!
//! A body cut short is resumed with a `Range` request where the server allows it, and
//! fetched again otherwise; a value is returned only when it is complete.

use std::io::Read;
use std::sync::OnceLock;
use std::time::Duration;

use super::{CACHE_INFO, CACHE_INFO_TEXT, Cache, CacheError, Key, MAX_VALUE_BYTES, parallel_map};

/// Requests in flight at once.
const WORKERS: usize = 16;
/// Keys per batched existence request.
const BATCH: usize = 8192;
/// Attempts per request (transient failures and cut-short bodies).
const ATTEMPTS: u32 = 3;

/// An HTTP(S) cache.
pub struct HttpCache {
    base: String,
    agent: ureq::Agent,
    token: Option<String>,
    batch_exists: OnceLock<bool>,
}

impl std::fmt::Debug for HttpCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HttpCache({})", self.base)
    }
}

enum Failure {
    Status(u16),
    Transport(String),
    TooLarge(u64),
}

impl HttpCache {
    pub fn new(url: &str, token: Option<String>) -> Result<Self, CacheError> {
        let base = url.trim_end_matches('/').to_owned();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .http_status_as_error(false)
            .max_redirects(5)
            .max_idle_connections_per_host(WORKERS * 2)
            .user_agent(concat!("rstore/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Self { base, agent, token, batch_exists: OnceLock::new() })
    }

    fn url_of(&self, path: &str) -> String {
        format!("{}/{path}", self.base)
    }

    fn error(&self, key: &str, f: Failure) -> CacheError {
        let cache = self.base.clone();
        let key = key.to_owned();
        match f {
            Failure::Status(status) => CacheError::Status { cache, key, status },
            Failure::Transport(reason) => CacheError::Transport { cache, key, reason },
            Failure::TooLarge(size) => CacheError::TooLarge { cache, key, size, limit: MAX_VALUE_BYTES },
        }
    }

    /// GET `path`: Ok(None) on 404/410. Resumes a body cut short.
    fn fetch(&self, path: &str) -> Result<Option<Vec<u8>>, Failure> {
        let url = self.url_of(path);
        let mut body: Vec<u8> = Vec::new();
        let mut last = Failure::Transport("no attempt".into());
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(100 << attempt));
            }
            let mut request = self.agent.get(&url).header("Accept-Encoding", "identity");
            if !body.is_empty() {
                request = request.header("Range", format!("bytes={}-", body.len()));
            }
            let response = match request.call() {
                Ok(r) => r,
                Err(e) => {
                    last = Failure::Transport(e.to_string());
                    continue;
                }
            };
            let status = response.status().as_u16();
            match status {
                404 | 410 => return Ok(None),
                200 => body.clear(),
                206 if !body.is_empty() => {}
                s if s >= 500 || s == 429 || s == 408 => {
                    last = Failure::Status(s);
                    continue;
                }
                s => return Err(Failure::Status(s)),
            }
            let length = response
                .headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok());
            let expected = length.map(|l| l + body.len() as u64);
            if let Some(total) = expected
                && total > MAX_VALUE_BYTES
            {
                return Err(Failure::TooLarge(total));
            }
            let mut reader = response.into_body().into_with_config().limit(MAX_VALUE_BYTES + 1).reader();
            let mut buf = vec![0u8; 256 * 1024];
            let cut = loop {
                match reader.read(&mut buf) {
                    Ok(0) => break None,
                    Ok(n) => {
                        body.extend_from_slice(&buf[..n]);
                        if body.len() as u64 > MAX_VALUE_BYTES {
                            return Err(Failure::TooLarge(body.len() as u64));
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => break Some(e.to_string()),
                }
            };
            match (cut, expected) {
                (None, Some(total)) if body.len() as u64 == total => return Ok(Some(body)),
                (None, None) => return Ok(Some(body)),
                (None, Some(total)) => {
                    last = Failure::Transport(format!("the body ended after {} of {total} bytes", body.len()));
                }
                (Some(e), _) => last = Failure::Transport(format!("receiving the body: {e}")),
            }
        }
        Err(last)
    }

    fn head(&self, path: &str) -> Result<bool, Failure> {
        let url = self.url_of(path);
        let mut last = Failure::Transport("no attempt".into());
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(100 << attempt));
            }
            match self.agent.head(&url).call() {
                Ok(r) => match r.status().as_u16() {
                    200 => return Ok(true),
                    404 | 410 => return Ok(false),
                    s if s >= 500 || s == 429 || s == 408 => last = Failure::Status(s),
                    s => return Err(Failure::Status(s)),
                },
                Err(e) => last = Failure::Transport(e.to_string()),
            }
        }
        Err(last)
    }

    fn server_batches(&self) -> bool {
        *self.batch_exists.get_or_init(|| match self.fetch(CACHE_INFO) {
            Ok(Some(info)) => String::from_utf8_lossy(&info).lines().any(|l| l.trim() == "exists-batch"),
            _ => false,
        })
    }

    fn contains_batched(&self, keys: &[Key]) -> Result<Vec<bool>, CacheError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH) {
            let body: String = chunk.iter().map(|k| k.path() + "\n").collect();
            let response = self
                .agent
                .post(&self.url_of("_exists"))
                .send(body.as_bytes())
                .map_err(|e| self.error("_exists", Failure::Transport(e.to_string())))?;
            let status = response.status().as_u16();
            if status != 200 {
                return Err(self.error("_exists", Failure::Status(status)));
            }
            let answer = response
                .into_body()
                .into_with_config()
                .limit(chunk.len() as u64 + 16)
                .read_to_vec()
                .map_err(|e| self.error("_exists", Failure::Transport(e.to_string())))?;
            let answer: Vec<bool> = answer.iter().filter(|b| !b.is_ascii_whitespace()).map(|b| *b == b'1').collect();
            if answer.len() != chunk.len() {
                return Err(self.error(
                    "_exists",
                    Failure::Transport(format!("{} answers to {} questions", answer.len(), chunk.len())),
                ));
            }
            out.extend(answer);
        }
        Ok(out)
    }
}

impl Cache for HttpCache {
    fn url(&self) -> &str {
        &self.base
    }

    fn contains(&self, keys: &[Key]) -> Result<Vec<bool>, CacheError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        if self.server_batches() {
            return self.contains_batched(keys);
        }
        parallel_map(keys, WORKERS, |k| self.head(&k.path()).map_err(|f| self.error(&k.to_string(), f)))
            .into_iter()
            .collect()
    }

    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, CacheError> {
        self.fetch(&key.path()).map_err(|f| self.error(&key.to_string(), f))
    }

    fn get_many(&self, keys: &[Key]) -> Vec<Result<Option<Vec<u8>>, CacheError>> {
        parallel_map(keys, WORKERS, |k| self.get(k))
    }

    fn put(&self, key: &Key, value: &[u8]) -> Result<(), CacheError> {
        self.put_path(&key.path(), &key.to_string(), value)
    }

    fn initialise(&self) -> Result<(), CacheError> {
        match self.fetch(CACHE_INFO) {
            Ok(Some(_)) => Ok(()),
            Ok(None) => self.put_path(CACHE_INFO, CACHE_INFO, CACHE_INFO_TEXT.as_bytes()),
            Err(f) => Err(self.error(CACHE_INFO, f)),
        }
    }
}

impl HttpCache {
    fn put_path(&self, path: &str, what: &str, value: &[u8]) -> Result<(), CacheError> {
        let url = self.url_of(path);
        let mut last = Failure::Transport("no attempt".into());
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(Duration::from_millis(100 << attempt));
            }
            let mut request = self.agent.put(&url);
            if let Some(token) = &self.token {
                request = request.header("Authorization", format!("Bearer {token}"));
            }
            match request.send(value) {
                Ok(r) => match r.status().as_u16() {
                    200 | 201 | 204 => return Ok(()),
                    s if s >= 500 || s == 429 || s == 408 => last = Failure::Status(s),
                    s => return Err(self.error(what, Failure::Status(s))),
                },
                Err(e) => last = Failure::Transport(e.to_string()),
            }
        }
        Err(self.error(what, last))
    }
}
