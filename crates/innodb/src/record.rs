//! Rows of a clustered index leaf record, decoded with a table definition.
//!
//! A clustered index record holds the key columns, then DB_TRX_ID (6 bytes) and DB_ROLL_PTR
//! (7 bytes), then the other columns in table order (a table without a usable key starts
//! with a 6-byte DB_ROW_ID). In the COMPACT family (COMPACT, DYNAMIC, COMPRESSED) the
//! header before the record's origin holds, backwards: 5 fixed bytes, a bitmap of the
//! nullable columns that are NULL, and the lengths of the variable-length columns present.
//! In REDUNDANT records the 6-byte header is preceded by the end offset of every field
//! (with a NULL flag, and an off-page flag).
//! Every length is checked against the page: a record that does not fit its definition is an
//! error, so that carved or damaged records are never presented as rows.
//!
//! MariaDB's instant ADD COLUMN (10.3+) leaves records of two kinds in the clustered index.
//! Those written before it (status 0) hold the first `n_core` fields only, with a null
//! bitmap for the nullable ones among them. Later ones (status 4) hold, between the 5 fixed
//! header bytes and the bitmap, a count of their fields: one byte `n`, or two when `n`
//! ≥ 0x80 (`n & 0x7f | next << 7`), for `n_core + 1 + n` fields. The added columns of a
//! record that lacks them have their default values, which the metadata record holds: the
//! first record of the leftmost leaf, min-rec flag set, status 4, every field present. The
//! root page (type 18) keeps `n_core` in the upper 13 bits of PAGE_DIRECTION's two bytes.
//! After an instant DROP COLUMN or a column added elsewhere than at the end (10.4+), the
//! metadata record is delete-marked too and holds, after DB_ROLL_PTR, a 20-byte pointer to
//! a BLOB that maps the records' fields to columns ([`Layout::learn_metadata`]): the
//! dropped columns' bytes stay in the records, and are skipped.
//!
//! MySQL 8 does it otherwise, and keeps what records need in the table's SDI
//! ([`crate::schema::RowVersions`]). 8.0.12–8.0.28: records written before the first
//! instant ADD COLUMN hold the first `instant_col` columns' fields; later ones have info bit
//! 0x80 and, before the null bitmap, their field count (one byte, or two big-endian with the
//! top bit set). 8.0.29+: later records have info bit 0x40 and a row version byte there
//! (also before the field offsets of REDUNDANT records); they hold the fields of that
//! version, in physical order: an added column goes last wherever the table shows it, a
//! dropped one stays where it was in the records older than its drop. The null bitmap
//! covers the nullable fields the record holds. Missing added columns take their defaults.

use lifeboat_mysql_types::column::column_type as ct;
use lifeboat_mysql_types::{Column, Value};

use crate::page::FIL_TRAILER;
use crate::schema::{Lifetime, TableSchema};

/// One field of a decoded record.
#[derive(Debug, Clone, PartialEq)]
pub enum Field<'a> {
    /// SQL NULL.
    Null,
    /// A value of the column.
    Value(Value<'a>),
    /// A column stored off the page (a BLOB chain): the bytes on the page, and where the
    /// rest lives.
    External {
        /// Bytes stored in the record (a prefix, for ROW_FORMAT=COMPACT and REDUNDANT).
        prefix: &'a [u8],
        /// Tablespace id, first page and offset of the stored part, and its length.
        space_id: u32,
        /// Page of the first part.
        page_no: u32,
        /// Offset in that page.
        offset: u32,
        /// Length of the stored part.
        length: u64,
    },
}

impl Field<'_> {
    /// The whole value of an [`Field::External`] column: the bytes in the record, then the
    /// rest read with [`read_blob`]. Any other field is an error.
    pub fn read_external(
        &self,
        page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>,
    ) -> Result<Vec<u8>, String> {
        let Field::External {
            prefix,
            page_no,
            offset,
            length,
            ..
        } = self
        else {
            return Err("not stored off the page".into());
        };
        read_blob(*page_no, *offset, *length, page_of).map(|rest| [*prefix, &rest].concat())
    }
}

/// A decoded clustered index record.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<'a> {
    /// The transaction that last changed the row.
    pub trx_id: u64,
    /// The roll pointer: where its previous version is in the undo log.
    pub roll_ptr: u64,
    /// The hidden row id of a table without a usable key.
    pub row_id: Option<u64>,
    /// The columns' values, in table order.
    pub fields: Vec<Field<'a>>,
    /// The bytes of the key columns (to recognize the same row in two page images).
    pub key: Vec<u8>,
    /// Where the record's bytes start (its header's first byte) and end (after its last
    /// field): what it occupies in the page's heap.
    pub span: (usize, usize),
}

/// Why a record does not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("record at {origin}: {reason}")]
pub struct RecordError {
    /// Origin of the record in its page.
    pub origin: usize,
    /// What is wrong.
    pub reason: String,
}

/// Where each column of a clustered index record is, in record order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Column(usize),
    /// The first bytes of a column the PRIMARY KEY takes a prefix of: `fixed` when the
    /// column is fixed-size (the prefix then is too). The whole value follows as a column.
    KeyPrefix {
        col: usize,
        fixed: Option<usize>,
    },
    RowId,
    TrxId,
    RollPtr,
    /// A column an instant DROP COLUMN removed: its bytes stay in the records. `fixed` is
    /// its size when fixed; else `big` says whether its length may take two bytes.
    Dropped {
        nullable: bool,
        fixed: Option<usize>,
        big: bool,
    },
    /// The pointer to the instant DROP metadata BLOB, in the metadata record only.
    MetadataBlob,
}

impl Slot {
    fn nullable(&self, schema: &TableSchema) -> bool {
        match self {
            Slot::Column(c) => schema.columns.get(*c).is_some_and(|c| c.nullable),
            Slot::Dropped { nullable, .. } => *nullable,
            _ => false,
        }
    }
}

/// The positions (in `slots`) of the nullable fields, in null-bitmap order.
fn nullable_slots(slots: &[Slot], schema: &TableSchema) -> Vec<usize> {
    slots
        .iter()
        .enumerate()
        .filter(|(_, s)| s.nullable(schema))
        .map(|(k, _)| k)
        .collect()
}

/// The fields of the clustered index in record order.
fn layout(s: &TableSchema) -> Vec<Slot> {
    let prefix = |i: usize| s.key_prefix.get(i).copied().flatten();
    let mut out: Vec<Slot> = s
        .clustered
        .iter()
        .enumerate()
        .map(|(i, &c)| match prefix(i) {
            Some(len) => Slot::KeyPrefix {
                col: c,
                fixed: s
                    .columns
                    .get(c)
                    .and_then(|col| fixed_size(col, s.mbmaxlen.get(c).copied().unwrap_or(1)))
                    .map(|n| n.min(len)),
            },
            None => Slot::Column(c),
        })
        .collect();
    if out.is_empty() {
        out.push(Slot::RowId);
    }
    out.push(Slot::TrxId);
    out.push(Slot::RollPtr);
    // Every column not wholly in the key, in table order (a prefix key column again).
    let whole: Vec<usize> = s
        .clustered
        .iter()
        .enumerate()
        .filter(|(i, _)| prefix(*i).is_none())
        .map(|(_, &c)| c)
        .collect();
    // After a MySQL 8.0.29+ instant ADD/DROP COLUMN, records hold the fields in their
    // physical order, dropped ones too (added columns go last, wherever the table shows
    // them). A column the SDI did not place follows.
    let physical = s.row_versions.iter().flat_map(|v| &v.fields);
    for f in physical {
        match &f.column {
            Ok(c) if whole.contains(c) || out.contains(&Slot::Column(*c)) => {}
            Ok(c) => out.push(Slot::Column(*c)),
            Err((col, mb)) => out.push(Slot::Dropped {
                nullable: col.nullable,
                fixed: fixed_size(col, *mb),
                big: big(col),
            }),
        }
    }
    for c in 0..s.columns.len() {
        if !whole.contains(&c) && !out.contains(&Slot::Column(c)) {
            out.push(Slot::Column(c));
        }
    }
    out
}

/// What MySQL 8's instant ADD/DROP COLUMN means for each field of a layout: see
/// [`crate::schema::RowVersions`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct MysqlInstant {
    /// Per slot, the row versions that hold it, when the SDI gave physical positions
    /// (8.0.29+).
    versions: Option<Vec<Lifetime>>,
    /// The highest row version of the table.
    newest: u8,
    /// Per slot, the value records that lack the field take (`Some(None)`: NULL).
    defaults: Vec<Option<Option<Vec<u8>>>>,
    /// Fields of the records written before the first 8.0.12–8.0.28 instant ADD COLUMN.
    n_core: Option<usize>,
}

impl MysqlInstant {
    fn new(schema: &TableSchema, slots: &[Slot]) -> Option<MysqlInstant> {
        let rv = schema.row_versions.as_ref()?;
        let default_of = |slot: &Slot| match slot {
            Slot::Column(c) => rv.defaults.get(*c).cloned().flatten(),
            _ => None,
        };
        let versions = (!rv.fields.is_empty()).then(|| {
            // Dropped slots are in the order of the dropped fields.
            let mut dropped = rv.fields.iter().filter(|f| f.column.is_err());
            slots
                .iter()
                .map(|slot| {
                    let f = match slot {
                        Slot::Column(c) => rv.fields.iter().find(|f| f.column == Ok(*c)),
                        Slot::Dropped { .. } => dropped.next(),
                        _ => None,
                    };
                    f.map_or(Lifetime::default(), |f| f.lifetime)
                })
                .collect::<Vec<_>>()
        });
        let newest = versions
            .iter()
            .flatten()
            .map(|l| l.newest())
            .max()
            .unwrap_or(0);
        // The key, DB_TRX_ID, DB_ROLL_PTR, then the other columns of the first ones.
        let n_core = rv.instant_cols.map(|n| {
            let keys = slots.iter().position(|s| *s == Slot::TrxId).unwrap_or(0);
            let whole_keys = (0..n)
                .filter(|c| {
                    schema.clustered.iter().enumerate().any(|(i, k)| {
                        k == c && schema.key_prefix.get(i).copied().flatten().is_none()
                    })
                })
                .count();
            (keys + 2 + n - whole_keys).min(slots.len())
        });
        Some(MysqlInstant {
            versions,
            newest,
            defaults: slots.iter().map(default_of).collect(),
            n_core,
        })
    }

    /// Whether a record of row version `v` holds slot `k`.
    fn holds(&self, k: usize, v: u8) -> bool {
        self.versions
            .as_ref()
            .and_then(|vs| vs.get(k))
            .is_none_or(|l| l.holds(v))
    }
}

/// The row version `v` a record says it has, checked against what `mysql` (the table's SDI)
/// knows: a definition without versions cannot lay the record out.
fn row_version(mysql: Option<&MysqlInstant>, v: u8) -> Result<u8, String> {
    match mysql {
        Some(m) if m.versions.is_some() && v <= m.newest => Ok(v),
        Some(m) if m.versions.is_some() => Err(format!(
            "row version {v}; the table's SDI knows versions up to {}",
            m.newest
        )),
        _ => Err(format!(
            "a record MySQL 8.0.29+ wrote after an instant ADD/DROP COLUMN (row version {v}): which columns it holds is in the table's SDI, not in a CREATE TABLE statement (read the definition from the tablespace rather than --schema)"
        )),
    }
}

/// Which fields a record holds: the first `n`, or those of a MySQL 8.0.29+ row version.
#[derive(Debug, Clone, Copy)]
enum Held {
    First(usize),
    Version(u8),
}

/// Bytes of the fractional seconds of a temporal with `fsp` digits.
fn frac_bytes(fsp: u16) -> usize {
    usize::from(fsp.min(6)).div_ceil(2)
}

/// Bytes of a binary DECIMAL.
fn decimal_bytes(meta: u16) -> usize {
    let (p, s) = (usize::from(meta >> 8), usize::from(meta & 0xff));
    let dig = |d: usize| (d / 9) * 4 + (d % 9).div_ceil(2);
    dig(p.saturating_sub(s)) + dig(s)
}

/// The fixed size of a column in a COMPACT record, `None` for variable-length ones.
fn fixed_size(col: &Column, mbmaxlen: u8) -> Option<usize> {
    let m = col.meta;
    Some(match col.real_type {
        ct::TINY | ct::YEAR => 1,
        ct::SHORT => 2,
        ct::INT24 | ct::DATE => 3,
        ct::LONG | ct::FLOAT => 4,
        ct::LONGLONG | ct::DOUBLE => 8,
        ct::NEWDECIMAL => decimal_bytes(m),
        ct::TIME2 => 3 + frac_bytes(m),
        ct::DATETIME2 => 5 + frac_bytes(m),
        ct::TIMESTAMP2 => 4 + frac_bytes(m),
        ct::BIT => usize::from(m >> 8) + usize::from(m & 0xff != 0),
        ct::ENUM => usize::from(m & 0xff).max(1),
        ct::SET => usize::from(m & 0xff).max(1),
        // CHAR in a single-byte character set has a fixed width; in a multi-byte one
        // COMPACT stores it with a length.
        ct::STRING if mbmaxlen <= 1 => usize::from(m),
        _ => return None,
    })
}

/// Whether a variable-length column's length may take two bytes.
fn big(col: &Column) -> bool {
    matches!(col.real_type, ct::BLOB | ct::GEOMETRY | ct::JSON) || col.meta > 255
}

fn be_uint(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x))
}

/// An InnoDB integer: big-endian, the sign bit flipped for signed columns; as the raw
/// two's-complement bits row events carry (so `Value::integer` reads it).
fn int_value(b: &[u8], unsigned: bool) -> u64 {
    let n = b.len();
    let v = be_uint(b);
    if unsigned || n == 0 {
        v
    } else {
        v ^ (1u64 << (8 * n - 1))
    }
}

fn value<'a>(col: &Column, b: &'a [u8]) -> Result<Value<'a>, String> {
    let unsigned = col.unsigned.unwrap_or(false);
    Ok(match col.real_type {
        ct::TINY | ct::SHORT | ct::INT24 | ct::LONG | ct::LONGLONG => {
            // REDUNDANT records give every field its own length: a damaged one may give an
            // integer any length.
            if b.is_empty() || b.len() > 8 {
                return Err(format!("an integer of {} bytes", b.len()));
            }
            Value::Int(int_value(b, unsigned))
        }
        ct::DATE => {
            let v = be_uint(b) ^ 0x80_0000;
            let (day, month) = ((v & 31) as u8, ((v >> 5) & 15) as u8);
            if month > 12 || day > 31 {
                return Err(format!("DATE month {month} day {day}"));
            }
            Value::Date(lifeboat_mysql_types::value::Date {
                year: (v >> 9) as u16,
                month,
                day,
            })
        }
        ct::ENUM => Value::Enum(be_uint(b) as u16),
        ct::SET => Value::Set(be_uint(b)),
        ct::STRING if col.collation != Some(63) => {
            // CHAR is padded with spaces; the server strips them when it reads the value.
            let end = b.iter().rposition(|&c| c != b' ').map_or(0, |p| p + 1);
            Value::Bytes(b.get(..end).unwrap_or_default())
        }
        ct::STRING | ct::VARCHAR | ct::BLOB => Value::Bytes(b),
        ct::GEOMETRY => Value::Geometry(b),
        ct::JSON => Value::Json(b),
        // The formats row events share.
        _ => {
            let (v, used) = Value::decode_slice(col, b)?;
            if used != b.len() {
                return Err(format!("{} of {} bytes", ct::name(col.real_type), b.len()));
            }
            v
        }
    })
}

/// The record layout of a table's clustered index, worked out once for many records.
#[derive(Debug, Clone)]
pub struct Layout {
    slots: Vec<Slot>,
    /// Positions (in `slots`) of the nullable fields, in bitmap order.
    nullable: Vec<usize>,
    /// What an instant ADD COLUMN left, when the index had one (MariaDB).
    instant: Option<Instant>,
    /// What MySQL 8's instant ADD/DROP COLUMN left, when the definition came from an SDI
    /// that says.
    mysql: Option<MysqlInstant>,
}

/// An index's instant ADD COLUMN state (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Instant {
    /// Fields of the records written before the first instant ADD.
    n_core: usize,
    /// The metadata record's field values, by slot: the added columns' defaults. `None`
    /// when it was not found.
    defaults: Option<Vec<Option<Vec<u8>>>>,
    /// Without them, take the added columns of older records as NULL rather than fail:
    /// for telling whether records fit, where only sizes matter.
    lenient: bool,
    /// Why a metadata record that is there could not be read (see
    /// [`Layout::learn_metadata`]).
    unreadable: Option<String>,
}

/// The number of fields records had before an instant ADD COLUMN, from the root page of a
/// MariaDB clustered index (a page of type 18); `None` for any other page.
pub fn instant_core_fields(page: &[u8]) -> Option<usize> {
    let fil = crate::FilHeader::parse(page)?;
    let ip = crate::index::IndexPage::new(page)?;
    if fil.page_type != 18 || !ip.header.compact {
        return None;
    }
    let v = crate::page::be::u16(page, crate::page::FIL_HEADER + 12)?;
    let n = usize::from(v >> 3);
    (n > 0).then_some(n)
}

impl Layout {
    /// How many fields make the key: those before DB_TRX_ID.
    fn keys(&self) -> usize {
        self.slots
            .iter()
            .position(|s| *s == Slot::TrxId)
            .unwrap_or(0)
    }

    /// The layout of `schema`'s clustered index records.
    pub fn new(schema: &TableSchema) -> Layout {
        let slots = layout(schema);
        let nullable = nullable_slots(&slots, schema);
        let mysql = MysqlInstant::new(schema, &slots);
        Layout {
            slots,
            nullable,
            instant: None,
            mysql,
        }
    }

    /// Records of this index may predate an instant ADD COLUMN: they hold the first
    /// `n_core` fields (from [`instant_core_fields`] of the root page).
    pub fn set_instant_core(&mut self, n_core: usize) {
        // After an instant DROP the records may hold more fields than the definition has.
        if (1..=1023).contains(&n_core) {
            self.instant = Some(Instant {
                n_core,
                defaults: None,
                lenient: false,
                unreadable: None,
            });
        }
    }

    /// Whether records of this layout may keep a column off the page: a BLOB, TEXT, JSON or
    /// GEOMETRY column, or columns whose longest values add up to more than a record may
    /// hold on the smallest pages (InnoDB moves long columns out only then). Only then are
    /// BLOB pages needed.
    pub fn may_store_off_page(&self, schema: &TableSchema) -> bool {
        const SMALLEST_RECORD_LIMIT: usize = 1900;
        let mut longest = 0usize;
        for slot in &self.slots {
            match slot {
                Slot::Column(c) => {
                    let Some(col) = schema.columns.get(*c) else {
                        continue;
                    };
                    if matches!(col.real_type, ct::BLOB | ct::GEOMETRY | ct::JSON) {
                        return true;
                    }
                    let mb = schema.mbmaxlen.get(*c).copied().unwrap_or(1);
                    longest += fixed_size(col, mb).unwrap_or(usize::from(col.meta));
                }
                Slot::Dropped { big: true, .. } => return true,
                Slot::Dropped { fixed, .. } => longest += fixed.unwrap_or(255),
                _ => {}
            }
        }
        longest > SMALLEST_RECORD_LIMIT
    }

    /// This layout for [`fit_with`] only: where the added columns' defaults are unknown,
    /// older records decode with NULL there instead of failing.
    pub fn lenient(mut self) -> Layout {
        if let Some(i) = &mut self.instant {
            i.lenient = true;
        }
        self
    }

    /// Whether the index had an instant ADD COLUMN, as far as known.
    pub fn instant_core(&self) -> Option<usize> {
        self.instant.as_ref().map(|i| i.n_core)
    }

    /// Reads the index's metadata record, if `page` (the index's leftmost leaf) starts with
    /// one: the added columns' defaults and, after an instant DROP or reordering of columns
    /// (MariaDB 10.4+), where each column is in the records. `page_of` reads the metadata
    /// BLOB's pages. `Err` says why a metadata record that is there could not be read.
    pub fn learn_metadata(
        &mut self,
        page: &[u8],
        schema: &TableSchema,
        page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>,
    ) -> Result<bool, String> {
        let got = self.read_metadata(page, schema, page_of);
        // Records that need the defaults then say why they are missing.
        if let (Err(e), Some(i)) = (&got, &mut self.instant) {
            i.unreadable = Some(e.clone());
        }
        got
    }

    fn read_metadata(
        &mut self,
        page: &[u8],
        schema: &TableSchema,
        page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>,
    ) -> Result<bool, String> {
        let Some(ip) = crate::index::IndexPage::new(page) else {
            return Ok(false);
        };
        let Some(Ok(first)) = ip.records().next() else {
            return Ok(false);
        };
        if !first.min_rec || ip.header.level != 0 || self.instant.is_none() {
            return Ok(false);
        }
        if first.deleted {
            // Instant DROP's format: a BLOB pointer after DB_ROLL_PTR leads to the map of
            // the fields. Where it is depends on the null bitmap's size, which depends on
            // the map: each possible size is tried, and the map is kept that reads the
            // record back with that size.
            let keys = self
                .slots
                .iter()
                .position(|s| *s == Slot::RollPtr)
                .map_or(0, |p| p + 1);
            let mut last = String::from("no metadata BLOB pointer found");
            // The map last read, by its pointer: with a fixed-size key every try finds the
            // same one.
            let mut read: Option<(Vec<u8>, Option<Vec<u8>>)> = None;
            for null_bytes in 0..=self.slots.len().div_ceil(8) + 8 {
                let Some(ptr) = metadata_pointer(
                    page,
                    first.origin,
                    schema,
                    self.slots.get(..keys).unwrap_or_default(),
                    null_bytes,
                ) else {
                    continue;
                };
                if read.as_ref().is_none_or(|(p, _)| p.as_slice() != ptr) {
                    read = Some((ptr.to_vec(), field_map(ptr, page_of)));
                }
                let Some(map) = read.as_ref().and_then(|(_, m)| m.as_deref()) else {
                    continue;
                };
                match self.with_field_map(schema, keys, map) {
                    Ok(mapped) => {
                        let mut with_blob = mapped.clone();
                        with_blob.slots.insert(keys, Slot::MetadataBlob);
                        with_blob.nullable = nullable_slots(&with_blob.slots, schema);
                        if with_blob.nullable.len().div_ceil(8) != null_bytes {
                            continue;
                        }
                        if let Ok((raw, _)) = compact_fields(page, first.origin, schema, &with_blob)
                        {
                            let mut raw: Vec<Option<Vec<u8>>> = raw
                                .into_iter()
                                .map(|f| f.map(|(b, _)| b.to_vec()))
                                .collect();
                            raw.remove(keys);
                            *self = mapped;
                            if let Some(i) = &mut self.instant {
                                i.defaults = Some(raw);
                            }
                            return Ok(true);
                        }
                    }
                    Err(e) => last = e,
                }
            }
            return Err(format!("instant DROP COLUMN metadata: {last}"));
        }
        let got = if ip.header.compact {
            compact_fields(page, first.origin, schema, self)
        } else {
            redundant_fields(page, first.origin, schema, self)
        };
        let (raw, _) = got.map_err(|e| format!("instant ADD COLUMN metadata record: {e}"))?;
        if raw.len() != self.slots.len() {
            return Ok(false);
        }
        let defaults = raw
            .into_iter()
            .map(|f| f.map(|(b, _)| b.to_vec()))
            .collect();
        if let Some(i) = &mut self.instant {
            i.defaults = Some(defaults);
        }
        Ok(true)
    }

    /// This layout with the fields after the first `keys` slots (key, DB_TRX_ID,
    /// DB_ROLL_PTR) laid out as an instant DROP's field map says: 4 bytes, the count; then
    /// 2 bytes per field: bit 15 dropped (then bit 14 NOT NULL, and the low 10 bits 0 for
    /// a variable length up to 255, 1 for a longer one, else 1 + the fixed size), or the
    /// column's number in the table.
    fn with_field_map(
        &self,
        schema: &TableSchema,
        keys: usize,
        map: &[u8],
    ) -> Result<Layout, String> {
        let n = map
            .get(..4)
            .map(be_uint)
            .ok_or("field map shorter than its count")? as usize;
        let entries = map
            .get(4..4 + 2 * n)
            .ok_or_else(|| format!("field map of {} bytes for {n} fields", map.len()))?;
        let mut slots: Vec<Slot> = self.slots.get(..keys).unwrap_or_default().to_vec();
        for e in entries.chunks_exact(2) {
            let v = be_uint(e) as u16;
            let ind = usize::from(v & 0x3ff);
            if v & 0x8000 != 0 {
                slots.push(Slot::Dropped {
                    nullable: v & 0x4000 == 0,
                    fixed: (ind >= 2).then(|| ind - 1),
                    big: ind == 1,
                });
            } else if ind < schema.columns.len() && !slots.contains(&Slot::Column(ind)) {
                slots.push(Slot::Column(ind));
            } else {
                return Err(format!(
                    "field map names column {ind}, which the definition does not have (or twice)"
                ));
            }
        }
        // Every column of the definition is somewhere.
        if (0..schema.columns.len()).any(|c| !slots.contains(&Slot::Column(c))) {
            return Err(
                "the field map leaves out columns of the definition (another definition?)".into(),
            );
        }
        let nullable = nullable_slots(&slots, schema);
        Ok(Layout {
            slots,
            nullable,
            instant: self.instant.clone(),
            mysql: None,
        })
    }
}

/// The 20-byte pointer to the instant DROP field map in the metadata record at `origin`:
/// after the `keys` slots, assuming a null bitmap of `null_bytes`.
fn metadata_pointer<'a>(
    page: &'a [u8],
    origin: usize,
    schema: &TableSchema,
    keys: &[Slot],
    null_bytes: usize,
) -> Option<&'a [u8]> {
    let b = usize::from(*page.get(origin.checked_sub(6)?)?);
    let count_bytes = if b < 0x80 { 1 } else { 2 };
    let mut len_at = origin.checked_sub(5 + count_bytes + null_bytes)?;
    let mut pos = origin;
    for slot in keys {
        let size = match slot {
            Slot::RowId | Slot::TrxId => 6,
            Slot::RollPtr => 7,
            Slot::Column(c) => {
                let col = schema.columns.get(*c)?;
                match fixed_size(col, schema.mbmaxlen.get(*c).copied().unwrap_or(1)) {
                    Some(n) => n,
                    None => var_length(page, &mut len_at, big(col))?.0,
                }
            }
            Slot::KeyPrefix { fixed: Some(n), .. } => *n,
            Slot::KeyPrefix { col, fixed: None } => {
                var_length(page, &mut len_at, big(schema.columns.get(*col)?))?.0
            }
            _ => return None,
        };
        pos += size;
    }
    page.get(pos..pos + 20)
}

/// The field map a metadata BLOB pointer leads to; `None` when it leads to no readable map.
fn field_map(ptr: &[u8], page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>) -> Option<Vec<u8>> {
    let length = be_uint(ptr.get(12..20)?) & 0x3fff_ffff_ffff;
    if !(4..=8 * 1024).contains(&length) {
        return None;
    }
    let map = read_blob(
        be_uint(ptr.get(4..8)?) as u32,
        be_uint(ptr.get(8..12)?) as u32,
        length,
        page_of,
    )
    .ok()?;
    (map.len() >= 4 && be_uint(map.get(..4)?) as usize * 2 + 4 == map.len()).then_some(map)
}

/// Decodes the record at `origin` of a clustered index leaf `page` with `schema`, whose
/// [`Layout`] was worked out beforehand: COMPACT-family records through their header,
/// REDUNDANT ones (the page header says which) through their field-offset array.
pub fn decode_with<'a>(
    page: &'a [u8],
    origin: usize,
    schema: &TableSchema,
    layout: &'a Layout,
) -> Result<Row<'a>, RecordError> {
    let fail = |reason: String| RecordError { origin, reason };
    // PAGE_N_HEAP's top bit marks the COMPACT family.
    let compact = page
        .get(crate::page::FIL_HEADER + 4)
        .is_none_or(|b| b & 0x80 != 0);
    let (raw, span) = if compact {
        compact_fields(page, origin, schema, layout)?
    } else {
        redundant_fields(page, origin, schema, layout)?
    };
    let mut fields: Vec<Field<'a>> = vec![Field::Null; schema.columns.len()];
    let mut key = Vec::new();
    let (mut trx_id, mut roll_ptr, mut row_id) = (0u64, 0u64, None);
    // The key fields: a key column's bytes make the key only there (a prefix key column
    // comes again, whole, after them).
    let keys = layout.keys();
    for (k, (slot, raw)) in layout.slots.iter().zip(raw).enumerate() {
        let Some((bytes, external)) = raw else {
            continue;
        };
        match slot {
            Slot::RowId => row_id = Some(be_uint(bytes)),
            Slot::TrxId => trx_id = be_uint(bytes),
            Slot::RollPtr => roll_ptr = be_uint(bytes),
            Slot::Dropped { .. } | Slot::MetadataBlob => {}
            Slot::KeyPrefix { .. } => key.extend_from_slice(bytes),
            Slot::Column(c) => {
                let column = schema
                    .columns
                    .get(*c)
                    .ok_or_else(|| fail("column out of range".into()))?;
                if column.primary_key && k < keys {
                    key.extend_from_slice(bytes);
                }
                let f = if external {
                    if bytes.len() < 20 {
                        return Err(fail(format!("external field {k} of {} bytes", bytes.len())));
                    }
                    let (prefix, ptr) = bytes.split_at(bytes.len() - 20);
                    Field::External {
                        prefix,
                        space_id: be_uint(ptr.get(0..4).unwrap_or_default()) as u32,
                        page_no: be_uint(ptr.get(4..8).unwrap_or_default()) as u32,
                        offset: be_uint(ptr.get(8..12).unwrap_or_default()) as u32,
                        length: be_uint(ptr.get(12..20).unwrap_or_default()) & 0x3fff_ffff_ffff,
                    }
                } else {
                    let name = column.name.as_deref().unwrap_or("?");
                    Field::Value(value(column, bytes).map_err(|e| fail(format!("`{name}`: {e}")))?)
                };
                if let Some(slot) = fields.get_mut(*c) {
                    *slot = f;
                }
            }
        }
    }
    if let Some(r) = row_id {
        key.extend_from_slice(&r.to_be_bytes());
    }
    Ok(Row {
        trx_id,
        roll_ptr,
        row_id,
        fields,
        key,
        span,
    })
}

/// A record's fields in slot order (`None`: SQL NULL; else the bytes, and whether they end
/// in a pointer to off-page parts), and the record's span.
type RawFields<'a> = (Vec<Option<(&'a [u8], bool)>>, (usize, usize));

/// The fields of a COMPACT-family record: sizes from the definition, the null bitmap and
/// the variable-length header.
fn compact_fields<'a>(
    page: &'a [u8],
    origin: usize,
    schema: &TableSchema,
    layout: &'a Layout,
) -> Result<RawFields<'a>, RecordError> {
    let fail = |reason: String| RecordError { origin, reason };
    let end = page.len().saturating_sub(FIL_TRAILER);
    let slots = &layout.slots;
    let header = |at: usize| {
        origin
            .checked_sub(at)
            .and_then(|a| page.get(a))
            .copied()
            .ok_or_else(|| fail("header before the page start".into()))
    };
    // Which fields the record holds, and the bytes its count or version takes between the
    // 5 fixed header bytes and the null bitmap. MySQL 8 marks the records it wrote after an
    // instant ADD COLUMN (info bit 0x80: the record's field count follows, one byte, or
    // two big-endian with the top bit set) or after 8.0.29's instant ADD/DROP COLUMN (0x40:
    // the row version follows); MariaDB marks its own with status 4 (see the module doc).
    let info = header(5)? & 0xf0;
    let status = header(3)? & 7;
    let mysql = layout.mysql.as_ref();
    let (held, count_bytes) = if info & 0xc0 == 0xc0 {
        return Err(fail(format!(
            "info bits {info:#04x}: both of MySQL's instant flags"
        )));
    } else if info & 0x40 != 0 {
        let v = row_version(mysql, header(6)?).map_err(fail)?;
        (Held::Version(v), 1)
    } else if info & 0x80 != 0 {
        let b = header(6)?;
        if b & 0x80 == 0 {
            (Held::First(usize::from(b)), 1)
        } else {
            let n = usize::from(b & 0x7f) << 8 | usize::from(header(7)?);
            (Held::First(n), 2)
        }
    } else if status == 4 {
        let b = usize::from(header(6)?);
        let (n_add, used) = if b < 0x80 {
            (b, 1)
        } else {
            (b & 0x7f | usize::from(header(7)?) << 7, 2)
        };
        // Without the root page's word, a record that has fields added is taken to have
        // them all.
        let n_core = match &layout.instant {
            Some(i) => i.n_core,
            None => slots.len().checked_sub(1 + n_add).ok_or_else(|| {
                fail(format!(
                    "{n_add} added fields, more than the definition has"
                ))
            })?,
        };
        (Held::First(n_core + 1 + n_add), used)
    } else if let Some(n) = mysql.and_then(|m| m.n_core) {
        (Held::First(n), 0)
    } else if mysql.is_some_and(|m| m.versions.is_some()) {
        (Held::Version(0), 0)
    } else {
        let n = layout.instant.as_ref().map_or(slots.len(), |i| i.n_core);
        (Held::First(n), 0)
    };
    if let Held::First(n) = held
        && n > slots.len()
    {
        return Err(fail(format!(
            "{n} fields, the definition has {}",
            slots.len()
        )));
    }
    let holds = |k: usize| match held {
        Held::First(n) => k < n,
        Held::Version(v) => mysql.is_none_or(|m| m.holds(k, v)),
    };
    // The nullable fields the record holds, in bitmap order.
    let nullable: std::borrow::Cow<'_, [usize]> = match held {
        Held::First(n) => {
            let held = layout.nullable.partition_point(|&k| k < n);
            layout.nullable.get(..held).unwrap_or_default().into()
        }
        Held::Version(_) => layout
            .nullable
            .iter()
            .copied()
            .filter(|&k| holds(k))
            .collect::<Vec<_>>()
            .into(),
    };
    let null_bytes = nullable.len().div_ceil(8);
    let bitmap_end = origin
        .checked_sub(5 + count_bytes)
        .ok_or_else(|| fail("header before the page start".into()))?;
    let header_end = bitmap_end
        .checked_sub(null_bytes)
        .ok_or_else(|| fail("header before the page start".into()))?;
    let mut is_null = vec![false; slots.len()];
    for (bit, &k) in nullable.iter().enumerate() {
        let byte = page
            .get(bitmap_end - 1 - bit / 8)
            .ok_or_else(|| fail("null bitmap outside the page".into()))?;
        if let Some(n) = is_null.get_mut(k) {
            *n = byte & (1 << (bit % 8)) != 0;
        }
    }
    // Lengths of the variable-length fields, read backwards from before the bitmap.
    let mut len_at = header_end;
    let mut pos = origin;
    let mut raw = Vec::with_capacity(slots.len());
    for (k, slot) in slots.iter().enumerate() {
        if !holds(k) {
            // A field dropped before the record's version is not there at all.
            if matches!(held, Held::Version(_)) && matches!(slot, Slot::Dropped { .. }) {
                raw.push(None);
            } else {
                raw.push(instant_default(layout, schema, k).map_err(fail)?);
            }
            continue;
        }
        if is_null.get(k).copied().unwrap_or(false) {
            raw.push(None);
            continue;
        }
        let lengths = |len_at: &mut usize, big: bool| {
            var_length(page, len_at, big).ok_or_else(|| fail("lengths outside the page".into()))
        };
        let (size, external) = match slot {
            Slot::RowId | Slot::TrxId => (6, false),
            Slot::RollPtr => (7, false),
            Slot::MetadataBlob => (20, true),
            Slot::Dropped { fixed: Some(n), .. } => (*n, false),
            Slot::Dropped {
                fixed: None, big, ..
            } => lengths(&mut len_at, *big)?,
            Slot::KeyPrefix { fixed: Some(n), .. } => (*n, false),
            Slot::KeyPrefix { col, fixed: None } => {
                let column = schema
                    .columns
                    .get(*col)
                    .ok_or_else(|| fail("column out of range".into()))?;
                lengths(&mut len_at, big(column))?
            }
            Slot::Column(c) => {
                let column = schema
                    .columns
                    .get(*c)
                    .ok_or_else(|| fail("column out of range".into()))?;
                let mb = schema.mbmaxlen.get(*c).copied().unwrap_or(1);
                match fixed_size(column, mb) {
                    Some(n) => (n, false),
                    None => lengths(&mut len_at, big(column))?,
                }
            }
        };
        let bytes = page
            .get(pos..pos + size)
            .filter(|_| pos + size <= end)
            .ok_or_else(|| fail(format!("field {k} of {size} bytes runs past the page")))?;
        pos += size;
        raw.push(Some((bytes, external)));
    }
    Ok((raw, (len_at, pos)))
}

/// A variable-length field's length from the header bytes before `len_at` (moved past
/// them): one byte, or two when the column may be long and the first has its top bit set
/// (then bit 6 says the field ends in a pointer to off-page parts).
fn var_length(page: &[u8], len_at: &mut usize, big: bool) -> Option<(usize, bool)> {
    *len_at = len_at.checked_sub(1)?;
    let b1 = *page.get(*len_at)?;
    if big && b1 & 0x80 != 0 {
        *len_at = len_at.checked_sub(1)?;
        let b2 = *page.get(*len_at)?;
        Some((
            usize::from(b1 & 0x3f) << 8 | usize::from(b2),
            b1 & 0x40 != 0,
        ))
    } else {
        Some((usize::from(b1), false))
    }
}

/// The value of field `k` of a record written before the instant ADD COLUMN that added it:
/// the metadata record's.
fn instant_default<'a>(
    layout: &'a Layout,
    schema: &TableSchema,
    k: usize,
) -> Result<Option<(&'a [u8], bool)>, String> {
    let name = match layout.slots.get(k) {
        Some(Slot::Column(c)) => schema.columns.get(*c).and_then(|c| c.name.clone()),
        _ => None,
    };
    // MySQL 8 keeps the defaults in the table's SDI.
    if let Some(m) = &layout.mysql {
        return match m.defaults.get(k) {
            Some(Some(d)) => Ok(d.as_deref().map(|b| (b, false))),
            _ => Err(format!(
                "column `{}` was added by an instant ADD COLUMN after the record was written, and the table's SDI gives no default for it",
                name.as_deref().unwrap_or("?")
            )),
        };
    }
    let instant = layout.instant.as_ref();
    if let Some(d) = instant.and_then(|i| i.defaults.as_ref()) {
        return Ok(d.get(k).and_then(|v| v.as_deref()).map(|b| (b, false)));
    }
    if instant.is_some_and(|i| i.lenient) {
        return Ok(None);
    }
    if instant.is_none() {
        return Err(format!(
            "column `{}` is not in the record (written before an instant ADD COLUMN added it); its default is in the index's metadata record (MariaDB) or the table's SDI (MySQL 8), neither of which was read",
            name.as_deref().unwrap_or("?")
        ));
    }
    let why = match instant.and_then(|i| i.unreadable.as_deref()) {
        Some(e) => format!("which could not be read ({e})"),
        None => {
            "which was not found (the index's leftmost leaf is missing or does not start with it)"
                .to_owned()
        }
    };
    Err(format!(
        "column `{}` was added by an instant ADD COLUMN after the record was written; its value is the default the index's metadata record holds, {why}",
        name.as_deref().unwrap_or("?")
    ))
}

/// The fields of a REDUNDANT record: before its 6-byte header, one end offset per field
/// (1 byte each, top bit NULL; or 2 bytes, top bit NULL, next bit stored off the page).
/// Fixed-size fields keep their size when NULL; the offsets say so.
fn redundant_fields<'a>(
    page: &'a [u8],
    origin: usize,
    schema: &TableSchema,
    layout: &'a Layout,
) -> Result<RawFields<'a>, RecordError> {
    let fail = |reason: String| RecordError { origin, reason };
    let end = page.len().saturating_sub(FIL_TRAILER);
    let info = origin
        .checked_sub(4)
        .and_then(|at| page.get(at..at + 2))
        .ok_or_else(|| fail("header before the page start".into()))?;
    let nf = be_uint(info) as usize;
    let (n, short) = ((nf >> 1) & 0x3ff, nf & 1 != 0);
    // MySQL 8.0.29+ after an instant ADD/DROP COLUMN: info bit 0x40, then the row version
    // before the field offsets; the record holds the fields of that version.
    let bits = *page
        .get(origin.saturating_sub(6))
        .ok_or_else(|| fail("header before the page start".into()))?
        & 0xf0;
    let mysql = layout.mysql.as_ref();
    let version = if bits & 0x40 != 0 {
        let v = *origin
            .checked_sub(7)
            .and_then(|at| page.get(at))
            .ok_or_else(|| fail("header before the page start".into()))?;
        Some(row_version(mysql, v).map_err(fail)?)
    } else {
        None
    };
    // The slots whose fields the record holds, in order.
    let held: Vec<usize> = match (version, mysql) {
        (Some(v), Some(m)) => (0..layout.slots.len()).filter(|&k| m.holds(k, v)).collect(),
        _ => (0..n.min(layout.slots.len())).collect(),
    };
    // Fewer fields: written before an instant ADD COLUMN.
    let added = (layout.instant.is_some() || mysql.is_some()) && n < layout.slots.len();
    if n != held.len() || (version.is_none() && n != layout.slots.len() && !added) {
        return Err(fail(format!(
            "{n} fields, the definition has {}",
            if version.is_some() {
                held.len()
            } else {
                layout.slots.len()
            }
        )));
    }
    let size = if short { 1 } else { 2 };
    let base = 6 + usize::from(version.is_some());
    let start_of_header = origin
        .checked_sub(base + n * size)
        .ok_or_else(|| fail("field offsets before the page start".into()))?;
    let mut fields: Vec<Option<(&[u8], bool)>> = Vec::with_capacity(n);
    let mut start = 0usize;
    for i in 0..n {
        let at = origin - base - (i + 1) * size;
        let (stop, null, external) = if short {
            let b = *page
                .get(at)
                .ok_or_else(|| fail("offset outside the page".into()))?;
            (usize::from(b & 0x7f), b & 0x80 != 0, false)
        } else {
            let v = be_uint(
                page.get(at..at + 2)
                    .ok_or_else(|| fail("offset outside the page".into()))?,
            );
            ((v & 0x3fff) as usize, v & 0x8000 != 0, v & 0x4000 != 0)
        };
        if stop < start || origin + stop > end {
            return Err(fail(format!("field {i} ends at {stop}, after {start}")));
        }
        let bytes = page.get(origin + start..origin + stop).unwrap_or_default();
        fields.push((!null).then_some((bytes, external)));
        start = stop;
    }
    let mut fields = fields.into_iter();
    let mut raw = Vec::with_capacity(layout.slots.len());
    for (k, slot) in layout.slots.iter().enumerate() {
        if held.binary_search(&k).is_ok() {
            raw.push(fields.next().flatten());
        } else if version.is_some() && matches!(slot, Slot::Dropped { .. }) {
            raw.push(None);
        } else {
            raw.push(instant_default(layout, schema, k).map_err(fail)?);
        }
    }
    Ok((raw, (start_of_header, origin + start)))
}

/// Reads an externally stored column. The old BLOB format (pages of type BLOB, as MariaDB
/// and MySQL 5.7 write them) holds a part length and the next page number after each page's
/// FIL header; a compressed table's chain is one zlib stream ([`crate::zip::read_zblob`]);
/// MySQL 8 indexes its pages from the first ([`crate::lob`]), a compressed table's in
/// 128 KiB zlib streams ([`crate::lob::read_z`]). `page_of` gives a page of the
/// tablespace by number.
pub fn read_blob(
    first_page: u32,
    offset: u32,
    length: u64,
    page_of: &mut dyn FnMut(u32) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, String> {
    // An off-page value is never empty: an all-zero pointer was cleared (a compressed
    // table clears the pointers of a purged record).
    if length == 0 && first_page == 0 {
        return Err("its BLOB pointer was cleared: the off-page value is lost".into());
    }
    // The first page is read once: it also says which format the chain has.
    let mut first = page_of(first_page).map(|p| (first_page, p));
    let first_type = first
        .as_ref()
        .and_then(|(_, p)| crate::page::be::u16(p, 24));
    let zblob = first_type == Some(crate::zip::ZBLOB);
    let mut page_of = |no: u32| match first.take() {
        Some((n, p)) if n == no => Some(p),
        _ => page_of(no),
    };
    // A compressed table's BLOB is one zlib stream over ZBLOB pages.
    if zblob {
        return crate::zip::read_zblob(first_page, length, &mut page_of);
    }
    // MySQL 8's LOB: `offset` holds the LOB version the record refers to.
    match first_type {
        Some(crate::lob::LOB_FIRST) => {
            let page = page_of(first_page).unwrap_or_default();
            return crate::lob::read(first_page, &page, offset, length, &mut page_of);
        }
        Some(crate::lob::ZLOB_FIRST) => {
            let page = page_of(first_page).unwrap_or_default();
            return crate::lob::read_z(first_page, &page, offset, length, &mut page_of);
        }
        Some(t @ (crate::lob::LOB_INDEX | crate::lob::LOB_DATA | 26..=29)) => {
            return Err(format!(
                "page {first_page} is a LOB page of type {t} but not the LOB's first page"
            ));
        }
        _ => {}
    }
    let mut out = Vec::new();
    let (mut page_no, mut at) = (first_page, offset as usize);
    // A cycle or a chain longer than the length says is damage.
    let mut hops = 0u64;
    while out.len() as u64 != length {
        hops += 1;
        if hops > length / 16 + 2 {
            return Err(format!("BLOB chain longer than its {length} bytes"));
        }
        let page = page_of(page_no).ok_or_else(|| format!("BLOB page {page_no} is missing"))?;
        let part = be_uint(
            page.get(at..at + 4)
                .ok_or("BLOB part header outside the page")?,
        );
        let next = be_uint(
            page.get(at + 4..at + 8)
                .ok_or("BLOB part header outside the page")?,
        ) as u32;
        let data = page
            .get(at + 8..at + 8 + part as usize)
            .ok_or_else(|| format!("BLOB part of {part} bytes runs past page {page_no}"))?;
        out.extend_from_slice(data);
        if out.len() as u64 > length {
            return Err(format!("BLOB chain holds more than its {length} bytes"));
        }
        if next == crate::page::FIL_NULL {
            break;
        }
        page_no = next;
        at = crate::page::FIL_HEADER;
    }
    if out.len() as u64 != length {
        return Err(format!(
            "BLOB chain ends after {} of its {length} bytes",
            out.len()
        ));
    }
    Ok(out)
}

/// How well a leaf page's records fit a table definition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Fit {
    /// User records on the page's list.
    pub records: usize,
    /// Of them, those that decode.
    pub decoded: usize,
    /// Every record decodes and no two overlap: the definition is possible.
    pub consistent: bool,
    /// Consistent, and the records, their headers and the deleted records' garbage fill the
    /// heap exactly (true of most pages; reused free space leaves gaps on some).
    pub exact: bool,
}

/// Checks the records of a COMPACT leaf `page` against `schema`. A definition with other
/// column sizes rarely decodes every record without overlaps, and practically never
/// accounts for every byte of the heap.
pub fn fit(page: &crate::index::IndexPage<'_>, schema: &TableSchema) -> Fit {
    fit_with(page, schema, &Layout::new(schema))
}

/// [`fit`] with the layout worked out beforehand.
pub fn fit_with(page: &crate::index::IndexPage<'_>, schema: &TableSchema, layout: &Layout) -> Fit {
    let mut f = Fit::default();
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut broken = false;
    // Keys along the list are unique and, for keys whose bytes sort like their values
    // (integers, temporals, binary strings), increasing.
    let sortable = schema.clustered.iter().all(|&c| {
        schema.columns.get(c).is_some_and(|col| {
            !matches!(
                col.real_type,
                ct::STRING | ct::VARCHAR | ct::BLOB | ct::FLOAT | ct::DOUBLE
            ) || col.collation == Some(63)
        })
    });
    let mut last_key: Option<Vec<u8>> = None;
    let mut unordered = false;
    let mut unaccounted = false;
    for rec in page.records() {
        let Ok(rec) = rec else {
            broken = true;
            break;
        };
        if rec.min_rec {
            // MariaDB's instant ADD COLUMN metadata record holds every field: its bytes are
            // the heap's too. Delete-marked, it is instant DROP's, with a field more: its
            // bytes are not counted, so the page cannot be an exact fit.
            match decode_with(page.bytes, rec.origin, schema, layout) {
                Ok(row) if !rec.deleted => spans.push(row.span),
                _ => unaccounted = true,
            }
            continue;
        }
        f.records += 1;
        if let Ok(row) = decode_with(page.bytes, rec.origin, schema, layout) {
            f.decoded += 1;
            spans.push(row.span);
            if let Some(prev) = &last_key
                && (*prev == row.key || (sortable && *prev > row.key))
            {
                unordered = true;
            }
            last_key = Some(row.key);
        }
    }
    spans.sort_unstable();
    let overlap = spans.windows(2).any(|w| match w {
        [a, b] => a.1 > b.0,
        _ => false,
    });
    let top = usize::from(page.header.heap_top);
    // The heap: from the end of the supremum record ("supremum", NUL-ended on REDUNDANT
    // pages) to the heap top.
    let heap_start = if page.header.compact {
        crate::index::COMPACT_SUPREMUM + 8
    } else {
        crate::index::REDUNDANT_SUPREMUM + 9
    };
    let inside = spans.iter().all(|&(a, b)| a >= heap_start && b <= top);
    let used: usize = spans.iter().map(|(a, b)| b - a).sum();
    let heap = top
        .saturating_sub(heap_start)
        .saturating_sub(usize::from(page.header.garbage));
    f.consistent =
        !broken && f.records > 0 && f.decoded == f.records && !overlap && inside && !unordered;
    f.exact = f.consistent && used == heap && !unaccounted;
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn off_page(ddl: &str) -> bool {
        let s = crate::schema::parse_create_table(ddl).unwrap();
        Layout::new(&s).may_store_off_page(&s)
    }

    /// [`crate::sdi`]'s table with row versions: `a` dropped in 1, `late` added in 2.
    fn versioned() -> TableSchema {
        crate::sdi::table_schema(&crate::sdi::tests::versioned()).unwrap()
    }

    /// A REDUNDANT record at 200 of an empty page: info bits, an optional version byte,
    /// the fields (None: NULL).
    fn redundant(info: u8, version: Option<u8>, fields: &[Option<&[u8]>]) -> Vec<u8> {
        let mut page = vec![0u8; 16384];
        let origin = 200;
        let mut end = 0;
        let mut at = origin - 6 - usize::from(version.is_some());
        for f in fields {
            end += f.map_or(0, <[u8]>::len);
            at -= 1;
            page[at] = end as u8 | if f.is_none() { 0x80 } else { 0 };
            page[origin + end - f.map_or(0, <[u8]>::len)..origin + end]
                .copy_from_slice(f.unwrap_or_default());
        }
        if let Some(v) = version {
            page[origin - 7] = v;
        }
        page[origin - 6] = info;
        let nf = (fields.len() as u16) << 1 | 1;
        page[origin - 4..origin - 2].copy_from_slice(&nf.to_be_bytes());
        page
    }

    #[test]
    fn redundant_records_of_each_row_version_decode() {
        let s = versioned();
        let layout = Layout::new(&s);
        let (id, sys) = ([0x80, 0, 0, 1], [0u8; 13]);
        let (trx, roll) = sys.split_at(6);
        let int = |f: &Field<'_>| match f {
            Field::Value(Value::Int(n)) => *n as u32 as i32,
            other => panic!("{other:?}"),
        };
        // Version 0 (no flag): the dropped column's bytes are there; `late` is not.
        let page = redundant(
            0,
            None,
            &[
                Some(&id),
                Some(trx),
                Some(roll),
                Some(b"aaaa"),
                Some(b"bee"),
            ],
        );
        let row = decode_with(&page, 200, &s, &layout).unwrap();
        assert_eq!(int(&row.fields[0]), 1);
        assert_eq!(int(&row.fields[1]), 7);
        assert_eq!(row.fields[2], Field::Value(Value::Bytes(b"bee")));
        // Version 2: no dropped column, `late` stored; `b` NULL.
        let late = [0x80, 0, 0, 42];
        let page = redundant(
            0x40,
            Some(2),
            &[Some(&id), Some(trx), Some(roll), None, Some(&late)],
        );
        let row = decode_with(&page, 200, &s, &layout).unwrap();
        assert_eq!(int(&row.fields[1]), 42);
        assert_eq!(row.fields[2], Field::Null);
        // A version the SDI does not know, or a field count that does not match it.
        let page = redundant(
            0x40,
            Some(3),
            &[Some(&id), Some(trx), Some(roll), None, Some(&late)],
        );
        assert!(decode_with(&page, 200, &s, &layout).is_err());
        let page = redundant(
            0x40,
            Some(1),
            &[Some(&id), Some(trx), Some(roll), None, Some(&late)],
        );
        assert!(decode_with(&page, 200, &s, &layout).is_err());
    }

    #[test]
    fn only_long_records_need_blob_pages() {
        assert!(off_page("CREATE TABLE t (id INT PRIMARY KEY, b TEXT)"));
        assert!(off_page("CREATE TABLE t (id INT PRIMARY KEY, j JSON)"));
        assert!(off_page(
            "CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(300), b VARCHAR(300)) CHARSET=utf8mb4"
        ));
        assert!(!off_page(
            "CREATE TABLE t (id BIGINT PRIMARY KEY, n VARCHAR(120) CHARACTER SET utf8mb4, d DECIMAL(12,2), t DATETIME(3))"
        ));
    }
}
