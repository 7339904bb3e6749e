//! A binary cache on a Remote Execution API v2 server (`grpc://HOST:PORT[/INSTANCE]`):
//! an existing CAS and ActionCache (buildbox-casd, BuildGrid, Buildbarn, bazel-remote)
//! holds rstore's cache.
//!
//! # Mapping
//!
//! Every value of the cache layout (an object, an entry record, an equivalence record;
//! see [`rstore_store::cache`]) is a CAS blob, and the ActionCache maps the value's key
//! to it: the *action digest* of key `K` is the digest of the bytes
//! `"rstore-cache-v1\n" ‖ K.path()` (no Action message is stored: the ActionCache is
//! used as a key-value map), and its ActionResult has one output file, `value`, whose
//! digest names the blob. A server checks that the blobs an ActionResult names exist
//! before it returns it, so a present key always has its value.
//!
//! Digests use BLAKE3 where the server lists it among its digest functions
//! (`GetCapabilities`), SHA-256 otherwise; every client of a server agrees, because
//! they all ask it. Blobs go in `BatchUpdateBlobs`/`BatchReadBlobs` requests of at
//! most [`BATCH_BYTES`], larger ones through ByteStream; existence is asked for many
//! keys at once (ActionCache lookups in flight together, `FindMissingBlobs` in batches).

use std::future::Future;
use std::time::Duration;

use bazel_remote_apis::build::bazel::remote::execution::v2::{
    ActionResult, BatchReadBlobsRequest, BatchUpdateBlobsRequest, Digest, FindMissingBlobsRequest,
    GetActionResultRequest, GetCapabilitiesRequest, OutputFile, UpdateActionResultRequest,
    action_cache_client::ActionCacheClient, batch_update_blobs_request, capabilities_client::CapabilitiesClient,
    content_addressable_storage_client::ContentAddressableStorageClient, digest_function,
};
use bazel_remote_apis::google::bytestream::{ReadRequest, WriteRequest, byte_stream_client::ByteStreamClient};
use data_encoding::HEXLOWER;
use rstore_store::cache::{Cache, CacheError, Key, MAX_VALUE_BYTES};
use sha2::Digest as _;
use tonic::transport::{Channel, Endpoint};

/// Blobs up to this size travel in batch requests (the gRPC default message limit is
/// 4 MiB; this leaves room for the envelope).
pub const BATCH_BYTES: usize = 3 << 20;
/// ActionCache lookups and updates in flight at once.
const IN_FLIGHT: usize = 64;
/// How often a call the server refused as busy is tried again (pauses doubling from
/// 20 ms up to 1 s: about 10 s in all).
const BUSY_RETRIES: u32 = 16;

/// Calls `call` until the server stops answering that it is busy: `RESOURCE_EXHAUSTED`
/// (BuildGrid refuses calls beyond its thread pool, 5 per core by default, fewer than
/// the calls a client has in flight) or `UNAVAILABLE`; any other answer is returned.
async fn patiently<T, F, Fut>(mut call: F) -> Result<T, tonic::Status>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let mut pause = std::time::Duration::from_millis(20);
    for _ in 0..BUSY_RETRIES {
        match call().await {
            Err(s) if matches!(s.code(), tonic::Code::ResourceExhausted | tonic::Code::Unavailable) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(1));
            }
            other => return other,
        }
    }
    call().await
}
/// The largest gRPC message accepted from the server.
const MAX_MESSAGE: usize = 16 << 20;

/// The digest function a server and its clients use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DigestFunction {
    Blake3,
    Sha256,
}

impl DigestFunction {
    fn of(self, data: &[u8]) -> Digest {
        let hash = match self {
            DigestFunction::Blake3 => blake3::hash(data).to_hex().to_string(),
            DigestFunction::Sha256 => HEXLOWER.encode(&sha2::Sha256::digest(data)),
        };
        Digest { hash, size_bytes: data.len() as i64 }
    }

    fn value(self) -> i32 {
        match self {
            DigestFunction::Blake3 => digest_function::Value::Blake3 as i32,
            DigestFunction::Sha256 => digest_function::Value::Sha256 as i32,
        }
    }

    /// The ByteStream path segment naming the function (none for SHA-256).
    fn segment(self) -> &'static str {
        match self {
            DigestFunction::Blake3 => "blake3/",
            DigestFunction::Sha256 => "",
        }
    }
}

/// A cache on a REAPI server.
pub struct ReapiCache {
    url: String,
    instance: String,
    runtime: tokio::runtime::Runtime,
    channel: Channel,
    function: DigestFunction,
}

impl std::fmt::Debug for ReapiCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ReapiCache({}, {:?})", self.url, self.function)
    }
}

fn status_error(url: &str, key: &str, s: &tonic::Status) -> CacheError {
    CacheError::Transport {
        cache: url.to_owned(),
        key: key.to_owned(),
        reason: format!("{:?}: {}", s.code(), s.message()),
    }
}

/// Opens `grpc://HOST:PORT[/INSTANCE]`, or any other cache URL through
/// [`rstore_store::cache::open`].
pub fn open(url: &str, token: Option<String>) -> Result<Box<dyn Cache>, CacheError> {
    if url.starts_with("grpc://") || url.starts_with("grpcs://") {
        return Ok(Box::new(ReapiCache::connect(url)?));
    }
    rstore_store::cache::open(url, token)
}

impl ReapiCache {
    /// Connects to `grpc://HOST:PORT[/INSTANCE]` and asks which digest function to use.
    pub fn connect(url: &str) -> Result<Self, CacheError> {
        let bad = |reason: &str| CacheError::BadUrl { url: url.to_owned(), reason: reason.to_owned() };
        if url.starts_with("grpcs://") {
            return Err(bad("TLS (grpcs://) is not supported yet: use grpc:// on a trusted network"));
        }
        let rest = url.strip_prefix("grpc://").ok_or_else(|| bad("not grpc://"))?;
        let (host, instance) = match rest.split_once('/') {
            Some((h, i)) => (h, i.trim_end_matches('/')),
            None => (rest, ""),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().map_err(|e| {
                CacheError::Transport { cache: url.into(), key: "runtime".into(), reason: e.to_string() }
            })?;
        let endpoint = Endpoint::from_shared(format!("http://{host}"))
            .map_err(|e| bad(&e.to_string()))?
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300));
        // The channel's connection task runs on this cache's runtime.
        let channel = {
            let _inside = runtime.enter();
            endpoint.connect_lazy()
        };
        let mut cache = ReapiCache {
            url: url.to_owned(),
            instance: instance.to_owned(),
            channel,
            runtime,
            function: DigestFunction::Sha256,
        };
        cache.function = cache.block(cache.capabilities())?;
        Ok(cache)
    }

    /// The digest function in use.
    pub fn digest_function(&self) -> DigestFunction {
        self.function
    }

    /// Runs a future to completion on this cache's runtime, from any thread (also
    /// from inside another runtime: it runs on a thread of its own).
    fn block<F: Future + Send>(&self, f: F) -> F::Output
    where
        F::Output: Send,
    {
        std::thread::scope(|s| s.spawn(|| self.runtime.block_on(f)).join().expect("a cache request panicked"))
    }

    async fn capabilities(&self) -> Result<DigestFunction, CacheError> {
        let mut client = CapabilitiesClient::new(self.channel.clone());
        let caps = client
            .get_capabilities(GetCapabilitiesRequest { instance_name: self.instance.clone() })
            .await
            .map_err(|s| status_error(&self.url, "capabilities", &s))?
            .into_inner();
        let cache = caps.cache_capabilities.unwrap_or_default();
        let offers = |v: digest_function::Value| cache.digest_functions.contains(&(v as i32));
        if offers(digest_function::Value::Blake3) {
            Ok(DigestFunction::Blake3)
        } else if offers(digest_function::Value::Sha256) || cache.digest_functions.is_empty() {
            Ok(DigestFunction::Sha256)
        } else {
            Err(CacheError::Unsupported {
                cache: self.url.clone(),
                reason: "the server offers neither BLAKE3 nor SHA-256 digests".into(),
            })
        }
    }

    fn action_digest(&self, key: &Key) -> Digest {
        self.function.of(format!("rstore-cache-v1\n{}", key.path()).as_bytes())
    }

    fn ac(&self) -> ActionCacheClient<Channel> {
        ActionCacheClient::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE)
    }

    fn cas(&self) -> ContentAddressableStorageClient<Channel> {
        ContentAddressableStorageClient::new(self.channel.clone())
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE)
    }

    /// The blob digest each key's ActionResult names (None: not in the cache).
    async fn lookup(&self, keys: &[Key]) -> Result<Vec<Option<Digest>>, CacheError> {
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(IN_FLIGHT) {
            let mut set = tokio::task::JoinSet::new();
            for (i, key) in chunk.iter().enumerate() {
                let ac = self.ac();
                let request = GetActionResultRequest {
                    instance_name: self.instance.clone(),
                    action_digest: Some(self.action_digest(key)),
                    inline_stdout: false,
                    inline_stderr: false,
                    inline_output_files: vec![],
                    digest_function: self.function.value(),
                };
                set.spawn(async move {
                    let result = patiently(|| {
                        let (mut ac, request) = (ac.clone(), request.clone());
                        async move { ac.get_action_result(request).await }
                    })
                    .await;
                    (i, result)
                });
            }
            let mut found: Vec<Option<Digest>> = vec![None; chunk.len()];
            while let Some(joined) = set.join_next().await {
                let (i, result) = joined.map_err(|e| CacheError::Transport {
                    cache: self.url.clone(),
                    key: "lookup".into(),
                    reason: e.to_string(),
                })?;
                match result {
                    Ok(r) => {
                        found[i] =
                            r.into_inner().output_files.into_iter().find(|f| f.path == "value").and_then(|f| f.digest)
                    }
                    Err(s) if s.code() == tonic::Code::NotFound => {}
                    Err(s) => return Err(status_error(&self.url, &chunk[i].to_string(), &s)),
                }
            }
            out.extend(found);
        }
        Ok(out)
    }

    /// One `BatchReadBlobs` request for `digests`: one result each.
    async fn read_batch(&self, digests: &[Digest]) -> Vec<Result<Vec<u8>, CacheError>> {
        if digests.is_empty() {
            return Vec::new();
        }
        let request = BatchReadBlobsRequest {
            instance_name: self.instance.clone(),
            digests: digests.to_vec(),
            acceptable_compressors: vec![],
            digest_function: self.function.value(),
        };
        let failed =
            |d: &Digest, reason: String| CacheError::Transport { cache: self.url.clone(), key: d.hash.clone(), reason };
        match self.cas().batch_read_blobs(request).await {
            Ok(r) => {
                let mut by_hash: std::collections::HashMap<String, Result<Vec<u8>, String>> = r
                    .into_inner()
                    .responses
                    .into_iter()
                    .map(|resp| {
                        let hash = resp.digest.map(|d| d.hash).unwrap_or_default();
                        let code = resp.status.as_ref().map(|s| s.code).unwrap_or(0);
                        (hash, if code == 0 { Ok(resp.data) } else { Err(format!("status {code}")) })
                    })
                    .collect();
                digests
                    .iter()
                    .map(|d| match by_hash.remove(&d.hash) {
                        Some(Ok(data)) => Ok(data),
                        Some(Err(reason)) => Err(failed(d, reason)),
                        // The same digest asked twice is answered once.
                        None => Err(failed(d, "no answer".into())),
                    })
                    .collect()
            }
            Err(s) => digests.iter().map(|d| Err(status_error(&self.url, &d.hash, &s))).collect(),
        }
    }

    /// The blobs `digests`, checked against their digests: small ones in batches,
    /// large ones through ByteStream.
    async fn read_blobs(&self, digests: &[Digest]) -> Vec<Result<Vec<u8>, CacheError>> {
        let mut out: Vec<Option<Result<Vec<u8>, CacheError>>> = (0..digests.len()).map(|_| None).collect();
        let mut batch: Vec<usize> = Vec::new();
        let mut batch_bytes = 0usize;
        let mut batches: Vec<Vec<usize>> = Vec::new();
        for (i, d) in digests.iter().enumerate() {
            let size = usize::try_from(d.size_bytes).unwrap_or(usize::MAX);
            if size > BATCH_BYTES {
                out[i] = Some(self.read_stream(d).await);
                continue;
            }
            if batch_bytes + size > BATCH_BYTES || batch.iter().any(|&j| digests[j] == *d) {
                batches.push(std::mem::take(&mut batch));
                batch_bytes = 0;
            }
            batch.push(i);
            batch_bytes += size;
        }
        batches.push(batch);
        for b in batches {
            let asked: Vec<Digest> = b.iter().map(|&i| digests[i].clone()).collect();
            for (&i, r) in b.iter().zip(self.read_batch(&asked).await) {
                out[i] = Some(r);
            }
        }
        digests
            .iter()
            .zip(out)
            .map(|(d, r)| {
                let data = r.unwrap_or_else(|| {
                    Err(CacheError::Transport {
                        cache: self.url.clone(),
                        key: d.hash.clone(),
                        reason: "no answer".into(),
                    })
                })?;
                // A server must hand out the bytes it was asked for.
                if self.function.of(&data) != *d {
                    return Err(CacheError::Transport {
                        cache: self.url.clone(),
                        key: d.hash.clone(),
                        reason: "the server returned other bytes than the blob's".into(),
                    });
                }
                Ok(data)
            })
            .collect()
    }

    fn resource(&self, d: &Digest) -> String {
        let prefix = if self.instance.is_empty() { String::new() } else { format!("{}/", self.instance) };
        format!("{prefix}blobs/{}{}/{}", self.function.segment(), d.hash, d.size_bytes)
    }

    async fn read_stream(&self, d: &Digest) -> Result<Vec<u8>, CacheError> {
        if d.size_bytes < 0 || d.size_bytes as u64 > MAX_VALUE_BYTES {
            return Err(CacheError::TooLarge {
                cache: self.url.clone(),
                key: d.hash.clone(),
                size: d.size_bytes.max(0) as u64,
                limit: MAX_VALUE_BYTES,
            });
        }
        let mut client = ByteStreamClient::new(self.channel.clone()).max_decoding_message_size(MAX_MESSAGE);
        let request = ReadRequest { resource_name: self.resource(d), read_offset: 0, read_limit: 0 };
        let mut stream = client.read(request).await.map_err(|s| status_error(&self.url, &d.hash, &s))?.into_inner();
        let mut data = Vec::with_capacity(d.size_bytes as usize);
        while let Some(message) = stream.message().await.map_err(|s| status_error(&self.url, &d.hash, &s))? {
            data.extend_from_slice(&message.data);
            if data.len() as i64 > d.size_bytes {
                break;
            }
        }
        Ok(data)
    }

    async fn write_stream(&self, d: &Digest, data: &[u8]) -> Result<(), CacheError> {
        let mut id = [0u8; 16];
        getrandom::getrandom(&mut id).map_err(|e| CacheError::Transport {
            cache: self.url.clone(),
            key: d.hash.clone(),
            reason: format!("random upload name: {e}"),
        })?;
        let h = HEXLOWER.encode(&id);
        let uuid = format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..]);
        let prefix = if self.instance.is_empty() { String::new() } else { format!("{}/", self.instance) };
        let name = format!("{prefix}uploads/{uuid}/blobs/{}{}/{}", self.function.segment(), d.hash, d.size_bytes);
        const PIECE: usize = 1 << 20;
        let total = data.len();
        let messages: Vec<WriteRequest> = data
            .chunks(PIECE)
            .enumerate()
            .map(|(i, c)| WriteRequest {
                resource_name: if i == 0 { name.clone() } else { String::new() },
                write_offset: (i * PIECE) as i64,
                finish_write: (i + 1) * PIECE >= total,
                data: c.to_vec(),
            })
            .collect();
        let mut client = ByteStreamClient::new(self.channel.clone()).max_encoding_message_size(MAX_MESSAGE);
        client.write(tokio_stream::iter(messages)).await.map_err(|s| status_error(&self.url, &d.hash, &s))?;
        Ok(())
    }

    async fn put_values(&self, items: &[(Key, &[u8])]) -> Result<(), CacheError> {
        let digests: Vec<Digest> = items.iter().map(|(_, v)| self.function.of(v)).collect();
        // Which blobs the CAS lacks, in batches.
        let mut missing = std::collections::HashSet::new();
        for chunk in digests.chunks(1024) {
            let request = FindMissingBlobsRequest {
                instance_name: self.instance.clone(),
                blob_digests: chunk.to_vec(),
                digest_function: self.function.value(),
            };
            let r =
                self.cas().find_missing_blobs(request).await.map_err(|s| status_error(&self.url, "existence", &s))?;
            missing.extend(r.into_inner().missing_blob_digests.into_iter().map(|d| d.hash));
        }
        let mut batch: Vec<batch_update_blobs_request::Request> = Vec::new();
        let mut batch_bytes = 0usize;
        let mut seen = std::collections::HashSet::new();
        for ((_, value), d) in items.iter().zip(&digests) {
            if !missing.contains(&d.hash) || !seen.insert(d.hash.clone()) {
                continue;
            }
            if value.len() > BATCH_BYTES {
                self.write_stream(d, value).await?;
                continue;
            }
            if batch_bytes + value.len() > BATCH_BYTES {
                self.update_batch(std::mem::take(&mut batch)).await?;
                batch_bytes = 0;
            }
            batch_bytes += value.len();
            batch.push(batch_update_blobs_request::Request {
                digest: Some(d.clone()),
                data: value.to_vec(),
                compressor: 0,
            });
        }
        self.update_batch(batch).await?;
        // Then the keys, all at once.
        for chunk in items.iter().zip(&digests).collect::<Vec<_>>().chunks(IN_FLIGHT) {
            let mut set = tokio::task::JoinSet::new();
            for ((key, _), d) in chunk {
                let ac = self.ac();
                let request = UpdateActionResultRequest {
                    instance_name: self.instance.clone(),
                    action_digest: Some(self.action_digest(key)),
                    action_result: Some(ActionResult {
                        output_files: vec![OutputFile {
                            path: "value".into(),
                            digest: Some((*d).clone()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                    results_cache_policy: None,
                    digest_function: self.function.value(),
                };
                let key = key.to_string();
                set.spawn(async move {
                    patiently(|| {
                        let (mut ac, request) = (ac.clone(), request.clone());
                        async move { ac.update_action_result(request).await }
                    })
                    .await
                    .map_err(|s| (key, s))
                });
            }
            while let Some(joined) = set.join_next().await {
                match joined {
                    Ok(Ok(_)) => {}
                    Ok(Err((key, s))) => return Err(status_error(&self.url, &key, &s)),
                    Err(e) => {
                        return Err(CacheError::Transport {
                            cache: self.url.clone(),
                            key: "update".into(),
                            reason: e.to_string(),
                        });
                    }
                }
            }
        }
        Ok(())
    }

    async fn update_batch(&self, requests: Vec<batch_update_blobs_request::Request>) -> Result<(), CacheError> {
        if requests.is_empty() {
            return Ok(());
        }
        let request = BatchUpdateBlobsRequest {
            instance_name: self.instance.clone(),
            requests,
            digest_function: self.function.value(),
        };
        let r = self.cas().batch_update_blobs(request).await.map_err(|s| status_error(&self.url, "upload", &s))?;
        for resp in r.into_inner().responses {
            if let Some(status) = resp.status
                && status.code != 0
            {
                let key = resp.digest.map(|d| d.hash).unwrap_or_default();
                return Err(CacheError::Transport {
                    cache: self.url.clone(),
                    key,
                    reason: format!("upload refused: {} {}", status.code, status.message),
                });
            }
        }
        Ok(())
    }
}

impl Cache for ReapiCache {
    fn url(&self) -> &str {
        &self.url
    }

    fn contains(&self, keys: &[Key]) -> Result<Vec<bool>, CacheError> {
        Ok(self.block(self.lookup(keys))?.into_iter().map(|d| d.is_some()).collect())
    }

    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, CacheError> {
        self.get_many(std::slice::from_ref(key)).pop().unwrap_or(Ok(None))
    }

    fn get_many(&self, keys: &[Key]) -> Vec<Result<Option<Vec<u8>>, CacheError>> {
        self.block(async {
            let found = match self.lookup(keys).await {
                Ok(f) => f,
                Err(e) => {
                    let text = e.to_string();
                    return keys
                        .iter()
                        .map(|k| {
                            Err(CacheError::Transport {
                                cache: self.url.clone(),
                                key: k.to_string(),
                                reason: text.clone(),
                            })
                        })
                        .collect();
                }
            };
            let present: Vec<Digest> = found.iter().flatten().cloned().collect();
            let mut data = self.read_blobs(&present).await.into_iter();
            found
                .into_iter()
                .map(|d| match d {
                    None => Ok(None),
                    Some(_) => data.next().unwrap_or(Ok(Vec::new())).map(Some),
                })
                .collect()
        })
    }

    fn put(&self, key: &Key, value: &[u8]) -> Result<(), CacheError> {
        self.put_many(&[(*key, value)])
    }

    fn put_many(&self, items: &[(Key, &[u8])]) -> Result<(), CacheError> {
        self.block(self.put_values(items))
    }
}
