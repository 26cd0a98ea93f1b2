//! Reading and writing a repository. Write order (docs/repository-format.md):
//! 1. data objects (`backups/<id>/data/<sha256>.zst`), each written whole (atomic rename on
//!    local disks, single PUT on object stores);
//! 2. the manifest (`backups/<id>/manifest.json`), with a conditional create: the commit point.
//!
//! A backup without a manifest is incomplete and is never listed as a backup.

use std::sync::Arc;

use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutPayload};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::format::{
    BackupId, Encryption, FORMAT_VERSION, LockInfo, Manifest, ObjectRef, RepoConfig,
};
use crate::writer::{Finished, ObjectWriter, compress_whole};

const CONFIG: &str = "config";

/// An open repository.
#[derive(Clone)]
pub struct Repository {
    pub(crate) store: Arc<dyn ObjectStore>,
    location: String,
    /// Its config.
    pub config: RepoConfig,
    /// Public key objects are encrypted to (encrypted repositories).
    recipient: Option<age::x25519::Recipient>,
    /// Secret key, once the passphrase opened it.
    identity: Option<Arc<age::x25519::Identity>>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("location", &self.location)
            .field("encrypted", &self.recipient.is_some())
            .field("key_open", &self.identity.is_some())
            .finish()
    }
}

const IDENTITY_OBJECT: &str = "keys/identity.age";

/// One entry of [`Repository::list_backups`].
#[derive(Debug, Serialize)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum BackupListing {
    /// Committed: has a manifest.
    Complete(Box<Manifest>),
    /// Data objects without a manifest: interrupted, never to be trusted.
    Incomplete {
        /// Backup id (from the directory name).
        id: String,
        /// Number of data objects present.
        objects: usize,
    },
    /// A manifest that cannot be read.
    Damaged {
        /// Backup id.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

/// A problem with one object, as `verify` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectProblem {
    /// Object path.
    pub object: String,
    /// What is wrong.
    pub problem: String,
}

/// What `verify` found for one backup.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// Backup id.
    pub id: String,
    /// Objects checked.
    pub objects: usize,
    /// Whether object contents were read and hashed.
    pub read_data: bool,
    /// Bytes read.
    pub bytes_read: u64,
    /// Problems; empty means OK.
    pub problems: Vec<ObjectProblem>,
}

pub(crate) fn storage(
    op: &'static str,
    path: &ObjPath,
) -> impl FnOnce(object_store::Error) -> Error + use<> {
    let path = path.to_string();
    move |source| Error::Storage { op, path, source }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

fn process_alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Runs CPU work on an object under `dir` on the blocking pool; `what` names it in errors.
async fn blocking<T: Send + 'static>(
    dir: &str,
    what: &str,
    work: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, Error> {
    let corrupt = |reason: String| Error::Corrupt {
        object: dir.to_owned(),
        reason,
    };
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| corrupt(format!("{what} task failed: {e}")))?
        .map_err(|e| corrupt(format!("{what} failed: {e}")))
}

/// Stored bytes that hand their buffer back once the store has let go of them.
struct Reclaim(Arc<Vec<u8>>);

impl AsRef<[u8]> for Reclaim {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

/// Settings for S3-compatible stores; each one unset falls back to the environment.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    /// Endpoint URL of a non-AWS store.
    pub endpoint: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// Access key id.
    pub access_key_id: Option<String>,
    /// Secret access key.
    pub secret_access_key: Option<String>,
}

/// An S3-compatible store for `s3://bucket[/prefix]`. Endpoint, region and credentials come
/// from the usual AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`,
/// `AWS_ENDPOINT_URL`), or `LIFEBOAT_S3_ENDPOINT` for a non-AWS store.
fn open_s3(location: &str, rest: &str, so: &StoreOptions) -> Result<Arc<dyn ObjectStore>, Error> {
    use object_store::aws::AmazonS3Builder;
    use object_store::{BackoffConfig, RetryConfig};
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Error::Unsupported(format!(
            "{location}: expected s3://BUCKET[/PREFIX]"
        )));
    }
    let mut b = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        // A store that refuses should fail in seconds, not after minutes of retries.
        .with_retry(RetryConfig {
            backoff: BackoffConfig::default(),
            max_retries: 2,
            retry_timeout: std::time::Duration::from_secs(10),
        });
    if let Some(ep) = so
        .endpoint
        .clone()
        .or_else(|| std::env::var("LIFEBOAT_S3_ENDPOINT").ok())
    {
        b = b
            .with_allow_http(ep.starts_with("http://"))
            .with_endpoint(ep);
    }
    if let Some(r) = &so.region {
        b = b.with_region(r);
    } else if std::env::var("AWS_REGION").is_err() && std::env::var("AWS_DEFAULT_REGION").is_err() {
        b = b.with_region("us-east-1");
    }
    if let Some(k) = &so.access_key_id {
        b = b.with_access_key_id(k);
    }
    if let Some(k) = &so.secret_access_key {
        b = b.with_secret_access_key(k);
    }
    let s3 = b.build().map_err(|source| Error::Storage {
        op: "opening",
        path: location.to_owned(),
        source,
    })?;
    let prefix = prefix.trim_matches('/');
    Ok(if prefix.is_empty() {
        Arc::new(s3)
    } else {
        Arc::new(object_store::prefix::PrefixStore::new(s3, prefix))
    })
}

fn open_store(
    location: &str,
    create: bool,
    so: &StoreOptions,
) -> Result<Arc<dyn ObjectStore>, Error> {
    if let Some(rest) = location.strip_prefix("s3://") {
        return open_s3(location, rest, so);
    }
    if location.contains("://") && !location.starts_with("file://") {
        return Err(Error::Unsupported(format!(
            "{location}: a repository is a local directory or s3://BUCKET[/PREFIX]"
        )));
    }
    let path = std::path::Path::new(location.strip_prefix("file://").unwrap_or(location));
    if path.is_file() {
        return Err(Error::NotADirectory(location.to_owned()));
    }
    if create {
        std::fs::create_dir_all(path).map_err(|e| Error::Storage {
            op: "creating",
            path: location.to_owned(),
            source: object_store::Error::Generic {
                store: "local",
                source: Box::new(e),
            },
        })?;
    } else if !path.is_dir() {
        return Err(Error::NotARepository(location.to_owned()));
    }
    let fs = LocalFileSystem::new_with_prefix(path).map_err(|source| Error::Storage {
        op: "opening",
        path: location.to_owned(),
        source,
    })?;
    Ok(Arc::new(crate::direct::DirectFs::new(fs)))
}

impl Repository {
    /// Creates a repository (the directory is created if needed; an existing repository is
    /// refused). With a passphrase, the repository is encrypted: a new X25519 key pair is made,
    /// the public key goes into `config`, the secret key into `keys/identity.age`, encrypted
    /// with the passphrase.
    pub async fn init(location: &str, passphrase: Option<&str>) -> Result<Self, Error> {
        Self::init_with(location, passphrase, &StoreOptions::default()).await
    }

    /// [`Repository::init`] with explicit store settings.
    pub async fn init_with(
        location: &str,
        passphrase: Option<&str>,
        so: &StoreOptions,
    ) -> Result<Self, Error> {
        let store = open_store(location, true, so)?;
        if store.head(&ObjPath::from(CONFIG)).await.is_ok() {
            return Err(Error::AlreadyExists(location.to_owned()));
        }
        let (encryption, recipient, identity) = match passphrase {
            None => (None, None, None),
            Some(pass) => {
                let identity = age::x25519::Identity::generate();
                let recipient = identity.to_public();
                let secret = {
                    use age::secrecy::ExposeSecret;
                    identity.to_string().expose_secret().as_bytes().to_vec()
                };
                let scrypt =
                    age::scrypt::Recipient::new(age::secrecy::SecretString::from(pass.to_owned()));
                let wrapped = age::encrypt(&scrypt, &secret).map_err(|e| Error::Crypto {
                    object: IDENTITY_OBJECT.into(),
                    reason: e.to_string(),
                })?;
                let path = ObjPath::from(IDENTITY_OBJECT);
                store
                    .put_opts(&path, PutPayload::from(wrapped), PutMode::Create.into())
                    .await
                    .map_err(storage("writing", &path))?;
                let enc = Encryption {
                    kind: "age-x25519".into(),
                    recipient: recipient.to_string(),
                    identity: IDENTITY_OBJECT.into(),
                };
                (Some(enc), Some(recipient), Some(Arc::new(identity)))
            }
        };
        let config = RepoConfig {
            format: FORMAT_VERSION,
            id: sha256_hex(
                format!(
                    "{location}{:?}{}",
                    std::time::SystemTime::now(),
                    std::process::id()
                )
                .as_bytes(),
            )
            .chars()
            .take(16)
            .collect(),
            created: jiff::Timestamp::now().to_string(),
            compression: "zstd".into(),
            encryption,
        };
        let path = ObjPath::from(CONFIG);
        let body = serde_json::to_vec_pretty(&config).map_err(|e| Error::BadMetadata {
            path: CONFIG.into(),
            reason: e.to_string(),
        })?;
        match store
            .put_opts(&path, PutPayload::from(body), PutMode::Create.into())
            .await
        {
            Ok(_) => {}
            Err(object_store::Error::AlreadyExists { .. }) => {
                return Err(Error::AlreadyExists(location.to_owned()));
            }
            Err(e) => return Err(storage("writing", &path)(e)),
        }
        Ok(Self {
            store,
            location: location.to_owned(),
            config,
            recipient,
            identity,
        })
    }

    /// Opens an existing repository.
    pub async fn open(location: &str) -> Result<Self, Error> {
        Self::open_with(location, &StoreOptions::default()).await
    }

    /// [`Repository::open`] with explicit store settings.
    pub async fn open_with(location: &str, so: &StoreOptions) -> Result<Self, Error> {
        let store = open_store(location, false, so)?;
        let path = ObjPath::from(CONFIG);
        let bytes = match store.get(&path).await {
            Ok(r) => r.bytes().await.map_err(storage("reading", &path))?,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(Error::NotARepository(location.to_owned()));
            }
            Err(e) => return Err(storage("reading", &path)(e)),
        };
        let config: RepoConfig =
            serde_json::from_slice(&bytes).map_err(|e| Error::BadMetadata {
                path: format!("{location}/{CONFIG}"),
                reason: e.to_string(),
            })?;
        if config.format > FORMAT_VERSION {
            return Err(Error::FormatTooNew {
                location: location.to_owned(),
                found: config.format,
                supported: FORMAT_VERSION,
            });
        }
        let recipient = match &config.encryption {
            None => None,
            Some(e) => Some(e.recipient.parse::<age::x25519::Recipient>().map_err(|e| {
                Error::BadMetadata {
                    path: format!("{location}/{CONFIG}"),
                    reason: format!("encryption recipient: {e}"),
                }
            })?),
        };
        Ok(Self {
            store,
            location: location.to_owned(),
            config,
            recipient,
            identity: None,
        })
    }

    /// Reads a whole object.
    async fn read_whole(&self, path: &ObjPath) -> Result<bytes::Bytes, Error> {
        self.store
            .get(path)
            .await
            .map_err(storage("reading", path))?
            .bytes()
            .await
            .map_err(storage("reading", path))
    }

    /// Whether objects and manifests are encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.recipient.is_some()
    }

    /// Whether reading needs a passphrase that was not given yet.
    pub fn needs_passphrase(&self) -> bool {
        self.recipient.is_some() && self.identity.is_none()
    }

    /// Opens the secret key with the passphrase (scrypt: about a second, by design).
    pub async fn open_key(&mut self, passphrase: &str) -> Result<(), Error> {
        let Some(enc) = &self.config.encryption else {
            return Ok(());
        };
        let path = ObjPath::from(enc.identity.as_str());
        let wrapped = self.read_whole(&path).await?;
        let pass = passphrase.to_owned();
        let location = self.location.clone();
        let identity = tokio::task::spawn_blocking(move || {
            let scrypt = age::scrypt::Identity::new(age::secrecy::SecretString::from(pass));
            let secret = age::decrypt(&scrypt, &wrapped)
                .map_err(|_| Error::WrongPassphrase(location.clone()))?;
            let text =
                String::from_utf8(secret).map_err(|_| Error::WrongPassphrase(location.clone()))?;
            text.trim()
                .parse::<age::x25519::Identity>()
                .map_err(|_| Error::WrongPassphrase(location))
        })
        .await
        .map_err(|e| Error::Crypto {
            object: enc.identity.clone(),
            reason: e.to_string(),
        })??;
        if identity.to_public().to_string() != enc.recipient {
            return Err(Error::BadMetadata {
                path: enc.identity.clone(),
                reason: "the key does not match the repository's recipient".into(),
            });
        }
        self.identity = Some(Arc::new(identity));
        Ok(())
    }

    /// Where the repository is.
    pub fn location(&self) -> &str {
        &self.location
    }

    fn manifest_path(&self, id: &BackupId) -> ObjPath {
        let name = if self.is_encrypted() {
            "manifest.age"
        } else {
            "manifest.json"
        };
        ObjPath::from(format!("backups/{id}/{name}"))
    }

    /// Compresses, hashes and stores one data object of backup `id`. CPU work runs on the
    /// blocking pool so several workers compress in parallel.
    pub async fn put_object(&self, id: &BackupId, raw: Vec<u8>) -> Result<ObjectRef, Error> {
        self.put_blob(&format!("backups/{id}/data"), raw).await
    }

    /// A writer for data objects of this repository (compress piece by piece, then
    /// [`Repository::put_written`]). Keep one per worker: it reuses its buffers.
    pub fn object_writer(&self) -> Result<ObjectWriter, Error> {
        ObjectWriter::new(!self.is_encrypted()).map_err(|e| Error::Corrupt {
            object: "(new object)".into(),
            reason: format!("cannot start compression: {e}"),
        })
    }

    /// Stores the object `w` holds as a data object of backup `id`; `w` is then ready for
    /// the next one.
    pub async fn put_written(
        &self,
        id: &BackupId,
        w: &mut ObjectWriter,
    ) -> Result<ObjectRef, Error> {
        let dir = format!("backups/{id}/data");
        let finished = w.finish().map_err(|e| {
            w.abandon();
            Error::Corrupt {
                object: dir.clone(),
                reason: format!("compression failed: {e}"),
            }
        })?;
        let (r, buf) = self.store_finished(&dir, finished).await?;
        if let Some(buf) = buf {
            w.recycle(buf);
        }
        Ok(r)
    }

    /// Compresses (and encrypts) `raw` and stores it content-addressed under `dir`
    /// (`<dir>/<sha256>.zst[.age]`).
    pub(crate) async fn put_blob(&self, dir: &str, raw: Vec<u8>) -> Result<ObjectRef, Error> {
        let hash = !self.is_encrypted();
        let finished = blocking(dir, "compression", move || compress_whole(&raw, hash)).await?;
        Ok(self.store_finished(dir, finished).await?.0)
    }

    /// Encrypts (encrypted repositories) and stores a compressed object under `dir`; hands
    /// back the compressed buffer when the store is done with it.
    async fn store_finished(
        &self,
        dir: &str,
        f: Finished,
    ) -> Result<(ObjectRef, Option<Vec<u8>>), Error> {
        let raw_size = f.raw_size;
        let (stored, sha) = match (&self.recipient, f.sha256) {
            (None, Some(sha)) => (f.compressed, sha),
            (recipient, _) => {
                let recipient = recipient.clone();
                let compressed = f.compressed;
                blocking(dir, "encryption", move || {
                    let stored = match &recipient {
                        Some(r) => age::encrypt(r, &compressed).map_err(std::io::Error::other)?,
                        None => compressed,
                    };
                    let sha = sha256_hex(&stored);
                    Ok((stored, sha))
                })
                .await?
            }
        };
        let suffix = if self.is_encrypted() {
            "zst.age"
        } else {
            "zst"
        };
        let path = format!("{dir}/{sha}.{suffix}");
        let size = stored.len() as u64;
        let op = ObjPath::from(path.as_str());
        // Content-addressed: an object already there with this size holds these bytes (a
        // resumed backup does not upload its stored chunks again).
        let present = matches!(self.store.head(&op).await, Ok(meta) if meta.size == size);
        let stored = Arc::new(stored);
        if !present {
            let payload = bytes::Bytes::from_owner(Reclaim(stored.clone()));
            self.store
                .put(&op, PutPayload::from(payload))
                .await
                .map_err(storage("writing", &op))?;
        }
        Ok((
            ObjectRef {
                path,
                sha256: sha,
                size,
                raw_size,
            },
            Arc::try_unwrap(stored).ok(),
        ))
    }

    /// Reads one object, checks size and SHA-256 against `r`, and decompresses it.
    pub async fn get_object(&self, r: &ObjectRef) -> Result<Vec<u8>, Error> {
        let compressed = self.read_checked(r).await?;
        let r2 = r.clone();
        tokio::task::spawn_blocking(move || decompress(&r2, &compressed))
            .await
            .map_err(|e| Error::Corrupt {
                object: r.path.clone(),
                reason: e.to_string(),
            })?
    }

    /// Reads one object for streaming use: size and SHA-256 are checked (and the object
    /// decrypted) before any byte is handed out; decompression then happens piece by piece,
    /// so a 64 MiB chunk never sits in memory decompressed. The zstd frame checksum and the
    /// recorded raw size are checked at the end: a consumer must treat its work as void
    /// unless the last piece arrived without error.
    pub async fn open_object(&self, r: &ObjectRef) -> Result<ObjectPieces, Error> {
        let compressed = self.read_checked(r).await?;
        let decoder = zstd::stream::read::Decoder::with_buffer(std::io::Cursor::new(compressed))
            .map_err(|e| Error::Corrupt {
                object: r.path.clone(),
                reason: format!("cannot decompress: {e}"),
            })?;
        Ok(ObjectPieces {
            object: r.clone(),
            decoder: Some(decoder),
            produced: 0,
        })
    }

    /// Reads one object, checks its size and SHA-256 and decrypts it: the compressed bytes.
    async fn read_checked(&self, r: &ObjectRef) -> Result<bytes::Bytes, Error> {
        let op = ObjPath::from(r.path.as_str());
        let bytes = self.read_whole(&op).await?;
        let identity = if r.path.ends_with(".age") {
            Some(
                self.identity
                    .clone()
                    .ok_or_else(|| Error::NeedPassphrase(self.location.clone()))?,
            )
        } else {
            None
        };
        let r2 = r.clone();
        tokio::task::spawn_blocking(move || check_and_decrypt(&r2, &bytes, identity.as_deref()))
            .await
            .map_err(|e| Error::Corrupt {
                object: r.path.clone(),
                reason: e.to_string(),
            })?
    }

    /// Writes the manifest: the commit point. Fails if the backup is already committed.
    pub async fn commit(&self, manifest: &Manifest) -> Result<(), Error> {
        let path = self.manifest_path(&manifest.id);
        let mut body = serde_json::to_vec_pretty(manifest).map_err(|e| Error::BadMetadata {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        if let Some(r) = &self.recipient {
            // age is authenticated encryption: a manifest changed after writing fails to decrypt.
            body = age::encrypt(r, &body).map_err(|e| Error::Crypto {
                object: path.to_string(),
                reason: e.to_string(),
            })?;
        }
        match self
            .store
            .put_opts(&path, PutPayload::from(body), PutMode::Create.into())
            .await
        {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. }) => {
                Err(Error::AlreadyCommitted(manifest.id.to_string()))
            }
            Err(e) => Err(storage("writing", &path)(e)),
        }
    }

    /// Reads a committed backup's manifest.
    pub async fn manifest(&self, id: &str) -> Result<Manifest, Error> {
        let id = BackupId::parse(id).ok_or_else(|| Error::NoSuchBackup(id.to_owned()))?;
        let path = self.manifest_path(&id);
        let stored = match self.store.get(&path).await {
            Ok(r) => r.bytes().await.map_err(storage("reading", &path))?,
            Err(object_store::Error::NotFound { .. }) => return Err(Error::NoSuchBackup(id.0)),
            Err(e) => return Err(storage("reading", &path)(e)),
        };
        let bytes = match &self.recipient {
            None => stored.to_vec(),
            Some(_) => {
                let identity = self
                    .identity
                    .as_ref()
                    .ok_or_else(|| Error::NeedPassphrase(self.location.clone()))?;
                age::decrypt(identity.as_ref(), &stored).map_err(|e| Error::BadMetadata {
                    path: path.to_string(),
                    reason: format!("cannot decrypt: {e}"),
                })?
            }
        };
        let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::BadMetadata {
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        if m.id != id {
            return Err(Error::BadMetadata {
                path: path.to_string(),
                reason: format!("it names backup {}", m.id),
            });
        }
        Ok(m)
    }

    /// Every backup directory: committed ones with their manifest, others as incomplete.
    pub async fn list_backups(&self) -> Result<Vec<BackupListing>, Error> {
        let prefix = ObjPath::from("backups");
        let listing = self
            .store
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(storage("listing", &prefix))?;
        let mut out = Vec::new();
        for dir in listing.common_prefixes {
            let Some(id) = dir.filename().map(str::to_owned) else {
                continue;
            };
            match self.manifest(&id).await {
                Ok(m) => out.push(BackupListing::Complete(Box::new(m))),
                Err(e @ Error::NeedPassphrase(_)) => return Err(e),
                Err(Error::NoSuchBackup(_)) => {
                    let data = ObjPath::from(format!("backups/{id}/data"));
                    let objects: Vec<_> = self
                        .store
                        .list(Some(&data))
                        .try_collect()
                        .await
                        .map_err(storage("listing", &data))?;
                    out.push(BackupListing::Incomplete {
                        id,
                        objects: objects.len(),
                    });
                }
                Err(e) => out.push(BackupListing::Damaged {
                    id,
                    reason: e.to_string(),
                }),
            }
        }
        out.sort_by(|a, b| listing_id(a).cmp(listing_id(b)));
        Ok(out)
    }

    /// Stores a backup's small state record (`backups/<id>/state.json`, plain JSON with no
    /// data: server identity and snapshot coordinates), overwriting an older one.
    pub async fn put_state(&self, id: &BackupId, state: &[u8]) -> Result<(), Error> {
        let path = ObjPath::from(format!("backups/{id}/state.json"));
        self.store
            .put(&path, PutPayload::from(state.to_vec()))
            .await
            .map_err(storage("writing", &path))?;
        Ok(())
    }

    /// Reads a backup's state record, if it has one.
    pub async fn get_state(&self, id: &str) -> Result<Option<Vec<u8>>, Error> {
        let id = BackupId::parse(id).ok_or_else(|| Error::NoSuchBackup(id.to_owned()))?;
        let path = ObjPath::from(format!("backups/{id}/state.json"));
        match self.store.get(&path).await {
            Ok(r) => Ok(Some(
                r.bytes().await.map_err(storage("reading", &path))?.to_vec(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(storage("reading", &path)(e)),
        }
    }

    /// Backup ids without reading manifests (so no passphrase is needed): (committed,
    /// incomplete), each sorted.
    pub async fn backup_ids(&self) -> Result<(Vec<String>, Vec<String>), Error> {
        let prefix = ObjPath::from("backups");
        let listing = self
            .store
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(storage("listing", &prefix))?;
        let (mut committed, mut incomplete) = (Vec::new(), Vec::new());
        for dir in listing.common_prefixes {
            let Some(id) = dir.filename().and_then(BackupId::parse) else {
                continue;
            };
            match self.store.head(&self.manifest_path(&id)).await {
                Ok(_) => committed.push(id.0),
                Err(object_store::Error::NotFound { .. }) => incomplete.push(id.0),
                Err(e) => return Err(storage("reading", &self.manifest_path(&id))(e)),
            }
        }
        committed.sort();
        incomplete.sort();
        Ok((committed, incomplete))
    }

    /// Deletes a backup: the manifest first (from then on it is no longer committed), then its
    /// data objects. Interrupted half-way, what is left is an incomplete backup, never a
    /// committed one with missing objects.
    pub async fn delete_backup(&self, id: &str) -> Result<(), Error> {
        let id = BackupId::parse(id).ok_or_else(|| Error::NoSuchBackup(id.to_owned()))?;
        let manifest = self.manifest_path(&id);
        match self.store.delete(&manifest).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(storage("deleting", &manifest)(e)),
        }
        let prefix = ObjPath::from(format!("backups/{id}"));
        let objects: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(storage("listing", &prefix))?;
        for meta in objects {
            match self.store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(storage("deleting", &meta.location)(e)),
            }
        }
        // Local directories left empty are harmless; remove them where the store is a disk.
        if let Some(base) = self.local_root() {
            let _ = std::fs::remove_dir_all(base.join("backups").join(&id.0));
        }
        Ok(())
    }

    fn local_root(&self) -> Option<std::path::PathBuf> {
        let p = std::path::Path::new(
            self.location
                .strip_prefix("file://")
                .unwrap_or(&self.location),
        );
        p.is_dir().then(|| p.to_owned())
    }

    /// Checks a committed backup: every object exists with its recorded size; with
    /// `read_data`, every object is read, hashed and decompressed.
    pub async fn verify(&self, id: &str, read_data: bool) -> Result<VerifyReport, Error> {
        let m = self.manifest(id).await?;
        let mut report = VerifyReport {
            id: m.id.to_string(),
            objects: m.objects.len(),
            read_data,
            bytes_read: 0,
            problems: Vec::new(),
        };
        for r in &m.objects {
            let op = ObjPath::from(r.path.as_str());
            let problem = match self.store.head(&op).await {
                Err(object_store::Error::NotFound { .. }) => Some("missing".to_owned()),
                Err(e) => Some(format!("cannot be read: {e}")),
                Ok(meta) if meta.size != r.size => {
                    Some(format!("size {} instead of {}", meta.size, r.size))
                }
                Ok(_) if read_data => match self.get_object(r).await {
                    Ok(_) => {
                        report.bytes_read += r.size;
                        None
                    }
                    Err(Error::Corrupt { reason, .. }) => Some(reason),
                    Err(e) => Some(e.to_string()),
                },
                Ok(_) => None,
            };
            if let Some(problem) = problem {
                report.problems.push(ObjectProblem {
                    object: r.path.clone(),
                    problem,
                });
            }
        }
        Ok(report)
    }

    /// Takes the repository-wide writer lock; refuses when any other such lock exists
    /// (stale ones included: they are reported, never broken silently).
    pub async fn lock(&self, command: &str) -> Result<LockGuard, Error> {
        self.lock_scope(command, None, false).await.map(|(g, _)| g)
    }

    /// Takes the lock of `scope` (e.g. `archive:<server>`), which conflicts only with locks
    /// of the same scope. With `take_over_stale`, a lock of this scope whose process is
    /// provably gone (this host, pid dead) is replaced and returned so the caller can say so.
    pub async fn lock_scope(
        &self,
        command: &str,
        scope: Option<&str>,
        take_over_stale: bool,
    ) -> Result<(LockGuard, Vec<LockInfo>), Error> {
        let same_scope = |l: &LockInfo| l.scope.as_deref() == scope;
        let mut taken_over = Vec::new();
        for l in self.locks().await?.into_iter().filter(same_scope) {
            if !(take_over_stale && l.stale) {
                return Err(Error::Locked(vec![l]));
            }
            let p = ObjPath::from(l.path.as_str());
            self.store
                .delete(&p)
                .await
                .map_err(storage("deleting", &p))?;
            taken_over.push(l);
        }
        let info = LockInfo {
            host: host_name(),
            pid: std::process::id(),
            started: jiff::Timestamp::now().to_string(),
            command: command.to_owned(),
            scope: scope.map(str::to_owned),
            stale: false,
            path: String::new(),
        };
        let name = format!("locks/{}-{}-{}.json", info.host, info.pid, BackupId::new());
        let path = ObjPath::from(name.as_str());
        let body = serde_json::to_vec(&info).unwrap_or_default();
        self.store
            .put_opts(&path, PutPayload::from(body), PutMode::Create.into())
            .await
            .map_err(storage("writing", &path))?;
        // Two writers may have checked at the same moment: the later one backs off.
        let others: Vec<LockInfo> = self
            .locks()
            .await?
            .into_iter()
            .filter(|l| same_scope(l) && l.path != name)
            .collect();
        if !others.is_empty() {
            let _ = self.store.delete(&path).await;
            return Err(Error::Locked(others));
        }
        Ok((
            LockGuard {
                store: self.store.clone(),
                path,
            },
            taken_over,
        ))
    }

    /// The locks present, with staleness decided for this host's processes.
    pub async fn locks(&self) -> Result<Vec<LockInfo>, Error> {
        let prefix = ObjPath::from("locks");
        let metas: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(storage("listing", &prefix))?;
        let me = host_name();
        let mut out = Vec::new();
        for meta in metas {
            let bytes = self.read_whole(&meta.location).await?;
            let mut info: LockInfo = serde_json::from_slice(&bytes).unwrap_or(LockInfo {
                host: "?".into(),
                pid: 0,
                started: "?".into(),
                command: "unreadable lock".into(),
                scope: None,
                stale: false,
                path: String::new(),
            });
            info.stale = info.host == me && !process_alive(info.pid);
            info.path = meta.location.to_string();
            out.push(info);
        }
        Ok(out)
    }

    /// Removes every lock (the explicit `repo unlock`). Returns what was removed.
    pub async fn unlock(&self) -> Result<Vec<LockInfo>, Error> {
        let locks = self.locks().await?;
        for l in &locks {
            let p = ObjPath::from(l.path.as_str());
            self.store
                .delete(&p)
                .await
                .map_err(storage("deleting", &p))?;
        }
        Ok(locks)
    }
}

fn listing_id(l: &BackupListing) -> &str {
    match l {
        BackupListing::Complete(m) => &m.id.0,
        BackupListing::Incomplete { id, .. } | BackupListing::Damaged { id, .. } => id,
    }
}

/// Checks size and SHA-256 of a stored object, and decrypts it when `identity` is given;
/// returns the compressed bytes.
fn check_and_decrypt(
    r: &ObjectRef,
    bytes: &bytes::Bytes,
    identity: Option<&age::x25519::Identity>,
) -> Result<bytes::Bytes, Error> {
    let corrupt = |reason: String| Error::Corrupt {
        object: r.path.clone(),
        reason,
    };
    if bytes.len() as u64 != r.size {
        return Err(corrupt(format!(
            "size {} instead of {}",
            bytes.len(),
            r.size
        )));
    }
    let sha = sha256_hex(bytes);
    if sha != r.sha256 {
        return Err(corrupt(format!("SHA-256 {sha} instead of {}", r.sha256)));
    }
    match identity {
        Some(id) => age::decrypt(id, bytes)
            .map(bytes::Bytes::from)
            .map_err(|e| corrupt(format!("cannot decrypt: {e}"))),
        None => Ok(bytes.clone()),
    }
}

/// Decompresses a checked object and checks its recorded raw size.
fn decompress(r: &ObjectRef, compressed: &[u8]) -> Result<Vec<u8>, Error> {
    let corrupt = |reason: String| Error::Corrupt {
        object: r.path.clone(),
        reason,
    };
    let cap = usize::try_from(r.raw_size).unwrap_or(usize::MAX);
    let raw = zstd::stream::decode_all(compressed)
        .map_err(|e| corrupt(format!("cannot decompress: {e}")))?;
    if raw.len() != cap {
        return Err(corrupt(format!(
            "{} bytes after decompression instead of {}",
            raw.len(),
            r.raw_size
        )));
    }
    Ok(raw)
}

/// Size of the pieces [`ObjectPieces`] hands out.
const PIECE: usize = 1 << 20;

/// A checked object, decompressed piece by piece (see [`Repository::open_object`]).
pub struct ObjectPieces {
    object: ObjectRef,
    decoder: Option<zstd::stream::read::Decoder<'static, std::io::Cursor<bytes::Bytes>>>,
    produced: u64,
}

impl std::fmt::Debug for ObjectPieces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectPieces")
            .field("object", &self.object.path)
            .field("produced", &self.produced)
            .finish()
    }
}

impl Iterator for ObjectPieces {
    type Item = Result<bytes::Bytes, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        use std::io::Read;
        let decoder = self.decoder.as_mut()?;
        let corrupt = |reason: String| Error::Corrupt {
            object: self.object.path.clone(),
            reason,
        };
        let mut piece = vec![0u8; PIECE];
        let mut filled = 0;
        while filled < PIECE {
            match decoder.read(&mut piece[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.decoder = None;
                    return Some(Err(corrupt(format!("cannot decompress: {e}"))));
                }
            }
        }
        self.produced += filled as u64;
        if self.produced > self.object.raw_size
            || (filled < PIECE && self.produced != self.object.raw_size)
        {
            self.decoder = None;
            return Some(Err(corrupt(format!(
                "{} bytes after decompression instead of {}",
                self.produced, self.object.raw_size
            ))));
        }
        if filled == 0 {
            self.decoder = None;
            return None;
        }
        piece.truncate(filled);
        Some(Ok(bytes::Bytes::from(piece)))
    }
}

/// A held writer lock; [`LockGuard::release`] removes it. Dropped without release (a crash),
/// the lock stays and is reported as stale.
#[derive(Debug)]
pub struct LockGuard {
    store: Arc<dyn ObjectStore>,
    path: ObjPath,
}

impl LockGuard {
    /// Removes the lock.
    pub async fn release(self) -> Result<(), Error> {
        self.store
            .delete(&self.path)
            .await
            .map_err(storage("deleting", &self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(id: &BackupId, objects: Vec<ObjectRef>) -> Manifest {
        Manifest {
            format: FORMAT_VERSION,
            id: id.clone(),
            kind: "logical".into(),
            started: "s".into(),
            finished: "f".into(),
            objects,
            body: serde_json::json!({}),
        }
    }

    #[tokio::test]
    async fn init_open_commit_list_verify() {
        let dir = tempfile::tempdir().unwrap();
        let loc = dir.path().join("repo");
        let loc = loc.to_str().unwrap();
        let repo = Repository::init(loc, None).await.unwrap();
        assert!(matches!(
            Repository::init(loc, None).await,
            Err(Error::AlreadyExists(_))
        ));
        let repo2 = Repository::open(loc).await.unwrap();
        assert_eq!(repo2.config.id, repo.config.id);

        let id = BackupId::new();
        let a = repo.put_object(&id, b"a\tb\n".repeat(1000)).await.unwrap();
        assert!(a.size < a.raw_size);
        // Not committed yet: listed as incomplete, not as a backup.
        let l = repo.list_backups().await.unwrap();
        assert!(matches!(
            &l[0],
            BackupListing::Incomplete { objects: 1, .. }
        ));
        repo.commit(&manifest(&id, vec![a.clone()])).await.unwrap();
        assert!(matches!(
            repo.commit(&manifest(&id, vec![])).await,
            Err(Error::AlreadyCommitted(_))
        ));
        let l = repo.list_backups().await.unwrap();
        assert!(matches!(&l[0], BackupListing::Complete(_)));
        let v = repo.verify(&id.0, true).await.unwrap();
        assert!(v.problems.is_empty());

        // Flip one byte: verify and get name the object.
        let file = dir.path().join("repo").join(&a.path);
        let mut bytes = std::fs::read(&file).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x40;
        std::fs::write(&file, bytes).unwrap();
        let v = repo.verify(&id.0, true).await.unwrap();
        assert_eq!(v.problems.len(), 1);
        assert_eq!(v.problems[0].object, a.path);
        let e = repo.get_object(&a).await.unwrap_err();
        assert!(e.to_string().contains(&a.path), "{e}");
        // Structure-only verify does not read data, but notices a missing object.
        std::fs::remove_file(&file).unwrap();
        let v = repo.verify(&id.0, false).await.unwrap();
        assert_eq!(v.problems[0].problem, "missing");
    }

    #[tokio::test]
    async fn bad_locations_and_ids() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(matches!(
            Repository::init(file.to_str().unwrap(), None).await,
            Err(Error::NotADirectory(_))
        ));
        assert!(matches!(
            Repository::open(dir.path().to_str().unwrap()).await,
            Err(Error::NotARepository(_))
        ));
        let repo = Repository::init(dir.path().join("r").to_str().unwrap(), None)
            .await
            .unwrap();
        assert!(matches!(
            repo.manifest("../../etc").await,
            Err(Error::NoSuchBackup(_))
        ));
        assert!(matches!(
            repo.manifest("20260101T000000Z-0000").await,
            Err(Error::NoSuchBackup(_))
        ));
        std::fs::write(dir.path().join("r/config"), "{trunc").unwrap();
        let e = Repository::open(dir.path().join("r").to_str().unwrap())
            .await
            .unwrap_err();
        assert!(matches!(e, Error::BadMetadata { .. }), "{e}");
    }

    #[tokio::test]
    async fn locks_are_reported_and_broken_only_explicitly() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path().to_str().unwrap(), None)
            .await
            .unwrap();
        let g = repo.lock("backup").await.unwrap();
        let e = repo.lock("backup").await.unwrap_err();
        assert!(
            matches!(e, Error::Locked(ref l) if l.len() == 1 && !l[0].stale),
            "{e}"
        );
        drop(g); // a crash: the lock stays
        let locks = repo.locks().await.unwrap();
        assert_eq!(locks.len(), 1);
        assert_eq!(repo.unlock().await.unwrap().len(), 1);
        repo.lock("backup").await.unwrap().release().await.unwrap();
        assert!(repo.locks().await.unwrap().is_empty());

        // Scoped locks: an archiver does not block backups, nor another server's archiver.
        let scope = Some("archive:a");
        let (a, _) = repo.lock_scope("archive", scope, true).await.unwrap();
        let (b, _) = repo
            .lock_scope("archive", Some("archive:b"), true)
            .await
            .unwrap();
        let g = repo.lock("backup").await.unwrap();
        let e = repo.lock_scope("archive", scope, true).await.unwrap_err();
        assert!(e.to_string().contains("`archive` (archive:a)"), "{e}");
        for l in [a, b, g] {
            l.release().await.unwrap();
        }
        // A lock of a process that is gone is taken over only when asked, and returned.
        let dead = LockInfo {
            host: host_name(),
            pid: u32::MAX - 1,
            started: "2026-01-01T00:00:00Z".into(),
            command: "archive".into(),
            scope: scope.map(Into::into),
            stale: false,
            path: String::new(),
        };
        std::fs::write(
            dir.path().join("locks/dead.json"),
            serde_json::to_vec(&dead).unwrap(),
        )
        .unwrap();
        assert!(repo.lock_scope("archive", scope, false).await.is_err());
        let (g, old) = repo.lock_scope("archive", scope, true).await.unwrap();
        assert_eq!(old.len(), 1);
        assert!(old[0].stale);
        g.release().await.unwrap();
        assert!(repo.locks().await.unwrap().is_empty());
    }

    /// An object's bytes as its streaming reader hands them out.
    async fn streamed(repo: &Repository, r: &ObjectRef) -> Vec<u8> {
        repo.open_object(r)
            .await
            .unwrap()
            .map(Result::unwrap)
            .flat_map(|b| b.to_vec())
            .collect()
    }

    #[tokio::test]
    async fn objects_stream_in_checked_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repository::init(dir.path().to_str().unwrap(), None)
            .await
            .unwrap();
        let id = BackupId::new();
        // Several pieces, the last one partial; and an empty object.
        let raw: Vec<u8> = (0..(2 * PIECE + 12345)).map(|i| (i % 251) as u8).collect();
        let a = repo.put_object(&id, raw.clone()).await.unwrap();
        assert_eq!(streamed(&repo, &a).await, raw);
        let empty = repo.put_object(&id, Vec::new()).await.unwrap();
        assert_eq!(repo.open_object(&empty).await.unwrap().count(), 0);

        // A recorded size that the data does not have: the last piece is an error.
        let mut wrong = a.clone();
        wrong.raw_size += 1;
        let last = repo.open_object(&wrong).await.unwrap().last().unwrap();
        assert!(matches!(last, Err(Error::Corrupt { .. })), "{last:?}");

        // One flipped byte: refused before any piece is handed out.
        let path = dir.path().join(&a.path);
        let mut stored = std::fs::read(&path).unwrap();
        stored[20] ^= 1;
        std::fs::write(&path, stored).unwrap();
        let e = repo.open_object(&a).await.unwrap_err();
        assert!(
            matches!(e, Error::Corrupt { ref object, .. } if *object == a.path),
            "{e}"
        );
    }

    #[tokio::test]
    async fn objects_written_piece_by_piece_read_back_whole_and_streamed() {
        for passphrase in [None, Some("pieces")] {
            let dir = tempfile::tempdir().unwrap();
            let repo = Repository::init(dir.path().to_str().unwrap(), passphrase)
                .await
                .unwrap();
            let id = BackupId::new();
            let mut w = repo.object_writer().unwrap();
            let mut refs = Vec::new();
            // Two objects from one writer (its buffers reused), each several frames.
            for round in 0..2u8 {
                let raw: Vec<u8> = (0..3 * PIECE + 777)
                    .map(|i| (i % 249) as u8 ^ round)
                    .collect();
                for piece in raw.chunks(PIECE / 2 + 3) {
                    w.write(piece).unwrap();
                }
                let r = repo.put_written(&id, &mut w).await.unwrap();
                assert_eq!(r.raw_size, raw.len() as u64);
                assert_eq!(repo.get_object(&r).await.unwrap(), raw);
                assert_eq!(streamed(&repo, &r).await, raw);
                refs.push(r);
            }
            assert_ne!(refs[0].path, refs[1].path);
            // Nothing written: an empty object.
            let empty = repo.put_written(&id, &mut w).await.unwrap();
            assert!(repo.get_object(&empty).await.unwrap().is_empty());
        }
    }
}
