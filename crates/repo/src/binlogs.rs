//! Archived binlogs in the repository (docs/repository-format.md, "Binlog archive").
//!
//! Layout under `binlogs/<server>/`, where `<server>` is the server's identity made safe for
//! a path:
//! - `<file>/data/<sha256>.zst[.age]`: segment data, bytes `[start, end)` of binlog `<file>`,
//!   compressed (and encrypted) like backup chunks;
//! - `<file>/seg-<start>-<end>.json`: the segment record, written after its data with a
//!   conditional create: the commit point of the segment. A reader trusts only recorded
//!   segments; the archived part of a file is the contiguous run of segments from offset 0;
//! - `<file>/index.json`: written once the file is complete (first/last event time and
//!   GTID, counts, SHA-256 of the whole file). The one byte a reader adjusts: the dump sends
//!   a file's format description with its "in use" flag (bit 0 of byte 21) cleared, while
//!   the server's file has it set until the server closes the file (ROTATE or STOP); see
//!   `lifeboat_core::archive::read_archived`;
//! - `gaps/<file>-<pos>.json`: a known hole (binlogs purged before they were archived, or an
//!   INCIDENT event in the stream).

use futures::TryStreamExt;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStoreExt, PutMode, PutPayload};
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::format::ObjectRef;
use crate::repository::{Repository, storage};

/// One archived piece of a binlog file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Segment {
    /// Server key.
    pub server: String,
    /// Binlog file name on the server.
    pub file: String,
    /// First byte (0 for the segment holding the magic bytes).
    pub start: u64,
    /// One past the last byte.
    pub end: u64,
    /// The stored data.
    pub object: ObjectRef,
    /// Timestamp of the last event in the segment (seconds since the epoch; 0 if none).
    pub last_event_time: u32,
    /// When the segment became durable (RFC 3339).
    pub stored_at: String,
    /// When its oldest byte was received from the server (ms since the epoch; 0 for
    /// imported files): `stored_at` minus this is how long data waited to become durable.
    #[serde(default)]
    pub received_ms: i64,
}

/// What a binlog file's events tell of it: when they were written, which GTIDs, how many.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileSpan {
    /// First event time (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_time: Option<String>,
    /// Last event time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_time: Option<String>,
    /// GTID state before the file (PREVIOUS_GTIDS / GTID_LIST).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gtids_before: Option<String>,
    /// First GTID in the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_gtid: Option<String>,
    /// Last GTID in the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_gtid: Option<String>,
    /// Events.
    pub events: u64,
    /// Transactions (GTID events).
    pub transactions: u64,
}

/// What is known about a complete archived binlog file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileIndex {
    /// Server key.
    pub server: String,
    /// File name.
    pub file: String,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the whole file, its format description's in-use flag (byte 21) cleared.
    pub sha256: String,
    /// Server version from the format description.
    pub server_version: String,
    /// Times, GTIDs and counts of its events.
    #[serde(flatten)]
    pub span: FileSpan,
    /// Ends in an incomplete event (the server crashed while writing it).
    pub truncated: bool,
    /// Ends with ROTATE or STOP (closed by the server, not cut short by a crash).
    #[serde(default)]
    pub closed_cleanly: bool,
}

/// A hole in the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// Server key.
    pub server: String,
    /// The archive is complete up to this file…
    pub after_file: Option<String>,
    /// …and this offset in it.
    pub after_pos: u64,
    /// It continues with this file (when known).
    pub next_file: Option<String>,
    /// Why.
    pub reason: String,
    /// When it was found (RFC 3339).
    pub recorded_at: String,
}

/// A server identity made safe as one path component.
pub fn server_key(identity: &str) -> String {
    identity
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn now() -> String {
    jiff::Timestamp::now().to_string()
}

impl Repository {
    /// Stores bytes `[start, start + bytes.len())` of `file` and then records the segment.
    /// When this returns, the segment is durable and listed.
    pub async fn put_segment(
        &self,
        server: &str,
        file: &str,
        start: u64,
        bytes: Vec<u8>,
        last_event_time: u32,
        received_ms: i64,
    ) -> Result<Segment, Error> {
        let end = start + bytes.len() as u64;
        let dir = format!("binlogs/{server}/{file}");
        let object = self.put_blob(&format!("{dir}/data"), bytes).await?;
        let seg = Segment {
            server: server.to_owned(),
            file: file.to_owned(),
            start,
            end,
            object,
            last_event_time,
            stored_at: now(),
            received_ms,
        };
        let path = ObjPath::from(format!("{dir}/seg-{start:012}-{end:012}.json"));
        let body = serde_json::to_vec_pretty(&seg).map_err(|e| Error::Corrupt {
            object: path.to_string(),
            reason: e.to_string(),
        })?;
        match self
            .store
            .put_opts(&path, PutPayload::from(body), PutMode::Create.into())
            .await
        {
            Ok(_) => {}
            // Recorded before (a retry after an unanswered PUT): the record names the same
            // range, and the data is content-addressed.
            Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(storage("writing", &path)(e)),
        }
        Ok(seg)
    }

    /// Every recorded segment of `server`, sorted by file and offset.
    pub async fn segments(&self, server: &str) -> Result<Vec<Segment>, Error> {
        let mut out: Vec<Segment> = self
            .read_json_under(&format!("binlogs/{server}"), |name| {
                name.starts_with("seg-") && name.ends_with(".json")
            })
            .await?;
        out.sort_by(|a, b| (&a.file, a.start).cmp(&(&b.file, b.start)));
        Ok(out)
    }

    /// The recorded segments of one file, by offset.
    pub async fn file_segments(&self, server: &str, file: &str) -> Result<Vec<Segment>, Error> {
        let mut out: Vec<Segment> = self
            .read_json_under(&format!("binlogs/{server}/{file}"), |name| {
                name.starts_with("seg-") && name.ends_with(".json")
            })
            .await?;
        out.sort_by_key(|s| s.start);
        Ok(out)
    }

    /// The index of one file, if it is complete.
    pub async fn file_index(&self, server: &str, file: &str) -> Result<Option<FileIndex>, Error> {
        Ok(self
            .read_json_under(&format!("binlogs/{server}/{file}"), |name| {
                name == "index.json"
            })
            .await?
            .pop())
    }

    /// Records that `file` is complete.
    pub async fn put_file_index(&self, index: &FileIndex) -> Result<(), Error> {
        let path = ObjPath::from(format!(
            "binlogs/{}/{}/index.json",
            index.server, index.file
        ));
        self.put_json(&path, index).await
    }

    /// Indexes of the complete files of `server`, sorted by file name.
    pub async fn file_indexes(&self, server: &str) -> Result<Vec<FileIndex>, Error> {
        let mut out: Vec<FileIndex> = self
            .read_json_under(&format!("binlogs/{server}"), |name| name == "index.json")
            .await?;
        out.sort_by(|a, b| a.file.cmp(&b.file));
        Ok(out)
    }

    /// Records a hole in `server`'s archive.
    pub async fn put_gap(&self, gap: &Gap) -> Result<(), Error> {
        let after = gap.after_file.as_deref().unwrap_or("start");
        let path = ObjPath::from(format!(
            "binlogs/{}/gaps/{after}-{:012}.json",
            gap.server, gap.after_pos
        ));
        self.put_json(&path, gap).await
    }

    /// Recorded holes of `server`.
    pub async fn gaps(&self, server: &str) -> Result<Vec<Gap>, Error> {
        let mut out: Vec<Gap> = self
            .read_json_under(&format!("binlogs/{server}/gaps"), |n| n.ends_with(".json"))
            .await?;
        out.sort_by(|a, b| (&a.after_file, a.after_pos).cmp(&(&b.after_file, b.after_pos)));
        Ok(out)
    }

    /// Servers with archived binlogs.
    pub async fn binlog_servers(&self) -> Result<Vec<String>, Error> {
        let prefix = ObjPath::from("binlogs");
        let listing = self
            .store
            .list_with_delimiter(Some(&prefix))
            .await
            .map_err(storage("listing", &prefix))?;
        let mut out: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(str::to_owned))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Reads a segment's bytes back (size, SHA-256 and decompression checked).
    pub async fn read_segment(&self, seg: &Segment) -> Result<Vec<u8>, Error> {
        let bytes = self.get_object(&seg.object).await?;
        if bytes.len() as u64 != seg.end - seg.start {
            return Err(Error::Corrupt {
                object: seg.object.path.clone(),
                reason: format!(
                    "{} bytes, the segment record says {}",
                    bytes.len(),
                    seg.end - seg.start
                ),
            });
        }
        Ok(bytes)
    }

    async fn put_json<T: Serialize>(&self, path: &ObjPath, value: &T) -> Result<(), Error> {
        let body = serde_json::to_vec_pretty(value).map_err(|e| Error::Corrupt {
            object: path.to_string(),
            reason: e.to_string(),
        })?;
        self.store
            .put(path, PutPayload::from(body))
            .await
            .map_err(storage("writing", path))?;
        Ok(())
    }

    async fn read_json_under<T: for<'de> Deserialize<'de>>(
        &self,
        prefix: &str,
        want: impl Fn(&str) -> bool,
    ) -> Result<Vec<T>, Error> {
        let prefix = ObjPath::from(prefix);
        let metas: Vec<_> = self
            .store
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(storage("listing", &prefix))?;
        let mut out = Vec::new();
        for m in metas {
            if !m.location.filename().is_some_and(&want) {
                continue;
            }
            let bytes = self
                .store
                .get(&m.location)
                .await
                .map_err(storage("reading", &m.location))?
                .bytes()
                .await
                .map_err(storage("reading", &m.location))?;
            let v = serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt {
                object: m.location.to_string(),
                reason: e.to_string(),
            })?;
            out.push(v);
        }
        Ok(out)
    }
}
