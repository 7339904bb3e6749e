//! A small HTTP/1.1 server for a cache (`rstore cache serve`): GET and HEAD of the
//! layout's paths, `POST _exists` (many existence questions in one request), and PUT
//! for pushes when a token is configured. One thread per connection (at most
//! [`MAX_CONNECTIONS`]), connections kept alive, `Range: bytes=N-` honoured so clients
//! can resume. Requests are bounded: a header block of at most 64 KiB, a body of at
//! most [`super::MAX_VALUE_BYTES`], an `_exists` body of at most 8 MiB.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::keys::SecretKey;
use super::record::{EntryRecord, EquivalenceRecord};
use super::{CACHE_INFO, CACHE_INFO_TEXT, Cache, Key, MAX_VALUE_BYTES};

/// Connections served at once; more wait in the listen queue.
pub const MAX_CONNECTIONS: usize = 64;
const MAX_HEADER_BYTES: usize = 64 * 1024;
const MAX_EXISTS_BYTES: u64 = 8 << 20;

/// What the server serves and who may push.
pub struct ServeOptions {
    /// Signs entry and equivalence records on the way out (a local store's are unsigned).
    pub key: Option<SecretKey>,
    /// Pushes (PUT) need `Authorization: Bearer TOKEN`; None: read-only.
    pub push_token: Option<String>,
}

/// Serves `cache` on `listener` until the process ends.
pub fn serve(listener: TcpListener, cache: Arc<dyn Cache>, options: ServeOptions) -> std::io::Result<()> {
    let options = Arc::new(options);
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accepting a connection: {e}");
                continue;
            }
        };
        while active.load(Ordering::Acquire) >= MAX_CONNECTIONS {
            std::thread::sleep(Duration::from_millis(5));
        }
        active.fetch_add(1, Ordering::AcqRel);
        let (cache, options, active) = (cache.clone(), options.clone(), active.clone());
        std::thread::spawn(move || {
            if let Err(e) = connection(stream, &*cache, &options) {
                tracing::debug!("connection ended: {e}");
            }
            active.fetch_sub(1, Ordering::AcqRel);
        });
    }
    Ok(())
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<Request>> {
    let mut head = Vec::new();
    loop {
        let before = head.len();
        let n = reader.by_ref().take((MAX_HEADER_BYTES - head.len()) as u64 + 1).read_until(b'\n', &mut head)?;
        if n == 0 {
            return if head.is_empty() { Ok(None) } else { Err(std::io::ErrorKind::UnexpectedEof.into()) };
        }
        if head.len() > MAX_HEADER_BYTES {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "header block too large"));
        }
        let line = &head[before..];
        if line == b"\r\n" || line == b"\n" {
            if before == 0 {
                head.clear();
                continue;
            }
            break;
        }
    }
    let text =
        String::from_utf8(head).map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"))?;
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    let mut parts = first.split(' ');
    let (Some(method), Some(target), Some(_version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "bad request line"));
    };
    let headers =
        lines.filter_map(|l| l.split_once(':')).map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned())).collect();
    Ok(Some(Request { method: method.to_owned(), path: target.trim_start_matches('/').to_owned(), headers }))
}

fn respond(
    stream: &mut TcpStream,
    status: u16,
    reason: &str,
    extra: &[(&str, String)],
    body: &[u8],
    head_only: bool,
) -> std::io::Result<()> {
    let mut out = format!("HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\n", body.len());
    for (n, v) in extra {
        out.push_str(&format!("{n}: {v}\r\n"));
    }
    out.push_str("\r\n");
    stream.write_all(out.as_bytes())?;
    if !head_only {
        stream.write_all(body)?;
    }
    stream.flush()
}

fn read_body(reader: &mut BufReader<TcpStream>, request: &Request, limit: u64) -> std::io::Result<Vec<u8>> {
    let length: u64 = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no Content-Length"))?;
    if length > limit {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "body too large"));
    }
    let mut body = Vec::with_capacity(length as usize);
    reader.by_ref().take(length).read_to_end(&mut body)?;
    if body.len() as u64 != length {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    Ok(body)
}

/// The value at `key`, signed when the server has a key and the value is a record.
fn value(cache: &dyn Cache, key: &Key, options: &ServeOptions) -> Result<Option<Vec<u8>>, String> {
    let Some(bytes) = cache.get(key).map_err(|e| e.to_string())? else { return Ok(None) };
    let Some(secret) = &options.key else { return Ok(Some(bytes)) };
    Ok(Some(match key {
        Key::Entry(_) => {
            let mut r = EntryRecord::decode(&bytes).map_err(|e| e.to_string())?;
            r.sign(secret);
            r.encode()
        }
        Key::Equivalence(_) => {
            let mut r = EquivalenceRecord::decode(&bytes).map_err(|e| e.to_string())?;
            r.sign(secret);
            r.encode()
        }
        Key::Object(..) => bytes,
    }))
}

fn connection(stream: TcpStream, cache: &dyn Cache, options: &ServeOptions) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader)? {
        let head = request.method == "HEAD";
        match request.method.as_str() {
            "GET" | "HEAD" if request.path == CACHE_INFO => {
                let info = format!("{CACHE_INFO_TEXT}exists-batch\n");
                respond(&mut writer, 200, "OK", &[], info.as_bytes(), head)?;
            }
            "GET" | "HEAD" => match Key::from_path(&request.path) {
                None => respond(&mut writer, 404, "Not Found", &[], b"", head)?,
                Some(key) => match value(cache, &key, options) {
                    Ok(Some(bytes)) => {
                        let from = request
                            .header("range")
                            .and_then(|r| r.strip_prefix("bytes="))
                            .and_then(|r| r.strip_suffix('-'))
                            .and_then(|n| n.parse::<usize>().ok());
                        match from {
                            Some(n) if n <= bytes.len() => {
                                let range = format!("bytes {n}-{}/{}", bytes.len().saturating_sub(1), bytes.len());
                                respond(
                                    &mut writer,
                                    206,
                                    "Partial Content",
                                    &[("Content-Range", range)],
                                    &bytes[n..],
                                    head,
                                )?
                            }
                            _ => respond(&mut writer, 200, "OK", &[], &bytes, head)?,
                        }
                    }
                    Ok(None) => respond(&mut writer, 404, "Not Found", &[], b"", head)?,
                    Err(e) => {
                        tracing::warn!("serving {key}: {e}");
                        respond(&mut writer, 500, "Internal Server Error", &[], b"", head)?
                    }
                },
            },
            "POST" if request.path == "_exists" => {
                let body = read_body(&mut reader, &request, MAX_EXISTS_BYTES)?;
                let keys: Option<Vec<Key>> =
                    String::from_utf8_lossy(&body).lines().filter(|l| !l.is_empty()).map(Key::from_path).collect();
                match keys.map(|k| cache.contains(&k)) {
                    Some(Ok(answers)) => {
                        let text: String = answers.iter().map(|a| if *a { '1' } else { '0' }).collect();
                        respond(&mut writer, 200, "OK", &[], text.as_bytes(), false)?
                    }
                    Some(Err(e)) => {
                        tracing::warn!("answering existence: {e}");
                        respond(&mut writer, 500, "Internal Server Error", &[], b"", false)?
                    }
                    None => respond(&mut writer, 400, "Bad Request", &[], b"not a list of cache paths", false)?,
                }
            }
            "PUT" => {
                let allowed = match (&options.push_token, request.header("authorization")) {
                    (Some(token), Some(given)) => given.strip_prefix("Bearer ").is_some_and(|g| constant_eq(g, token)),
                    _ => false,
                };
                if !allowed {
                    // The body is not read: the connection is closed after the answer.
                    respond(&mut writer, 403, "Forbidden", &[("Connection", "close".into())], b"", false)?;
                    return Ok(());
                }
                let body = read_body(&mut reader, &request, MAX_VALUE_BYTES)?;
                if request.path == CACHE_INFO {
                    respond(&mut writer, 204, "No Content", &[], b"", false)?;
                    continue;
                }
                match Key::from_path(&request.path) {
                    None => respond(&mut writer, 404, "Not Found", &[], b"", false)?,
                    Some(key) => match cache.put(&key, &body) {
                        Ok(()) => respond(&mut writer, 201, "Created", &[], b"", false)?,
                        Err(e) => {
                            tracing::warn!("storing {key}: {e}");
                            respond(&mut writer, 422, "Unprocessable Content", &[], e.to_string().as_bytes(), false)?
                        }
                    },
                }
            }
            _ => respond(&mut writer, 405, "Method Not Allowed", &[], b"", head)?,
        }
    }
    Ok(())
}

fn constant_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::http::HttpCache;
    use crate::cache::local::LocalCache;

    /// The HTTP client against this server, over a local store: the conformance tests.
    #[test]
    fn http_conformance_against_the_server() {
        let tmp = tempfile::tempdir().unwrap();
        let store: &'static crate::Store = Box::leak(Box::new(crate::Store::open(tmp.path().join("store")).unwrap()));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let cache: Arc<dyn Cache> = Arc::new(LocalCache { store, url: "local".into() });
        let options = ServeOptions { key: None, push_token: Some("secret".into()) };
        std::thread::spawn(move || serve(listener, cache, options));
        let client = HttpCache::new(&url, Some("secret".into())).unwrap();
        crate::cache::conformance::run_all(&client);
        // Without the token, pushes are refused.
        let anonymous = HttpCache::new(&url, None).unwrap();
        let s = crate::cache::conformance::sample("refused");
        let key = Key::Object(crate::ObjectKind::Blob, s.blob.0);
        assert!(matches!(anonymous.put(&key, &s.blob.1), Err(crate::cache::CacheError::Status { status: 403, .. })));
    }
}
