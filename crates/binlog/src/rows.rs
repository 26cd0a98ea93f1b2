//! Row images of WRITE/UPDATE/DELETE_ROWS events, decoded against their table's TABLE_MAP.
//!
//! A column absent from an image (MINIMAL or NOBLOB images) is `None`, never NULL: a NULL
//! is `Some(Value::Null)`. That difference is what makes a flashback safe or unsafe.

use crate::events::RowsEvent;
use crate::read::Reader;
use crate::table::TableDef;
use crate::types::EventType;
use crate::value::Value;

/// What a row event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RowKind {
    /// WRITE_ROWS: after images only.
    Insert,
    /// UPDATE_ROWS and PARTIAL_UPDATE_ROWS: before and after images.
    Update,
    /// DELETE_ROWS: before images only.
    Delete,
}

impl RowKind {
    /// The kind of a row event type.
    pub fn of(t: EventType) -> Option<RowKind> {
        match t.code() {
            23 | 30 | 166 | 169 => Some(RowKind::Insert),
            24 | 31 | 39 | 167 | 170 => Some(RowKind::Update),
            25 | 32 | 168 | 171 => Some(RowKind::Delete),
            _ => None,
        }
    }

    /// Lower-case name (`insert`, `update`, `delete`).
    pub fn name(self) -> &'static str {
        match self {
            RowKind::Insert => "insert",
            RowKind::Update => "update",
            RowKind::Delete => "delete",
        }
    }
}

/// One row image: a value per column of the table; `None` where the column is absent.
#[derive(Debug, Clone, PartialEq)]
pub struct Image<'a> {
    /// Per column.
    pub values: Vec<Option<Value<'a>>>,
    /// The value-options prefix of a PARTIAL_UPDATE_ROWS after image (options, then the
    /// partial-JSON bitmap), raw.
    pub options: Option<&'a [u8]>,
    /// The unused high bits of the NULL bitmap's last byte: MariaDB sets them, MySQL 8
    /// clears them; kept so that an image encodes back to the same bytes.
    pub padding: u8,
}

impl Image<'_> {
    /// Whether every column is present.
    pub fn is_full(&self) -> bool {
        self.values.iter().all(Option::is_some)
    }
}

/// One changed row.
#[derive(Debug, Clone, PartialEq)]
pub struct Row<'a> {
    /// Before image (updates, deletes).
    pub before: Option<Image<'a>>,
    /// After image (inserts, updates).
    pub after: Option<Image<'a>>,
}

/// Set bits among the first `n` of a bitmap.
fn count_bits(map: &[u8], n: usize) -> usize {
    let full = n / 8;
    let mut c: usize = map.iter().take(full).map(|b| b.count_ones() as usize).sum();
    if !n.is_multiple_of(8)
        && let Some(b) = map.get(full)
    {
        c += (b & ((1u8 << (n % 8)) - 1)).count_ones() as usize;
    }
    c
}

/// Bit `i` of a little-endian bitmap.
fn bit(map: &[u8], i: usize) -> bool {
    map.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)
}

/// Iterates the rows of a row event.
pub struct Rows<'a> {
    event: &'a RowsEvent<'a>,
    table: &'a TableDef,
    r: Reader<'a>,
    kind: RowKind,
    index: usize,
    failed: bool,
}

impl<'a> RowsEvent<'a> {
    /// What the event does (`None` for the pre-GA v0 row events).
    pub fn kind(&self) -> Option<RowKind> {
        RowKind::of(self.event_type)
    }

    /// Decodes the rows against `table`, the definition from this event's TABLE_MAP.
    pub fn rows(&'a self, table: &'a TableDef) -> Result<Rows<'a>, String> {
        let kind = self
            .kind()
            .ok_or_else(|| format!("{} events are not decoded", self.event_type.name()))?;
        if table.table_id != self.table_id {
            return Err(format!(
                "rows for table id {} decoded with the map of table id {}",
                self.table_id, table.table_id
            ));
        }
        if self.column_count as usize != table.columns.len() {
            return Err(format!(
                "rows have {} columns, the table map of `{}`.`{}` has {}",
                self.column_count,
                table.schema,
                table.table,
                table.columns.len()
            ));
        }
        Ok(Rows {
            event: self,
            table,
            r: Reader::new(&self.rows),
            kind,
            index: 0,
            failed: false,
        })
    }

    /// Encodes rows back into the event's row data (the inverse of [`RowsEvent::rows`]).
    pub fn encode_rows(&self, table: &TableDef, rows: &[Row<'_>]) -> Result<Vec<u8>, String> {
        let mut out = Vec::with_capacity(self.rows.len());
        for row in rows {
            self.encode_row_into(table, row, &mut out)?;
        }
        Ok(out)
    }

    /// Appends one row's images, encoded, to `out`.
    pub fn encode_row_into(
        &self,
        table: &TableDef,
        row: &Row<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        self.encode_images_into(table, row.before.as_ref(), row.after.as_ref(), out)
    }

    fn encode_images_into(
        &self,
        table: &TableDef,
        before: Option<&Image<'_>>,
        after: Option<&Image<'_>>,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        if let Some(b) = before {
            encode_image(table, self.present, b, out)?;
        }
        if let Some(a) = after {
            encode_image(table, self.present_after.unwrap_or(self.present), a, out)?;
        }
        Ok(())
    }
}

/// Why a row event cannot be undone exactly from what the binlog holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Irreversible {
    /// What is missing, naming the columns.
    pub reason: String,
}

impl std::fmt::Display for Irreversible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for Irreversible {}

impl<'a> RowsEvent<'a> {
    /// The event that undoes this one for `rows` (some or all of its rows, decoded with
    /// `table`): an insert becomes a delete of the same image, a delete an insert, an update
    /// swaps its images. The rows are written in the order given (undo runs newest first:
    /// pass them reversed). Only what the images hold exactly: a delete whose before image
    /// lacks columns (MINIMAL or NOBLOB images), an update whose before image lacks a column
    /// its after image set, and partial JSON updates are refused, never filled in.
    ///
    /// The event keeps the flags that say how the server applied the change (foreign key
    /// checks off, as MySQL marks the rows a cascade changed; its SQL-layer foreign keys), not
    /// STMT_END_F (the caller marks the last of a statement), and no extra data (a partition
    /// id would name the old row's partition).
    pub fn undo<'r, 'v: 'r>(
        &self,
        table: &TableDef,
        rows: impl IntoIterator<Item = &'r Row<'v>>,
    ) -> Result<RowsEvent<'a>, Irreversible> {
        let name = || format!("`{}`.`{}`", table.schema, table.table);
        let missing = |map: &[u8], wanted: &dyn Fn(usize) -> bool| -> Vec<String> {
            (0..table.columns.len())
                .filter(|&i| wanted(i) && !bit(map, i))
                .map(|i| {
                    table
                        .columns
                        .get(i)
                        .map_or_else(|| format!("#{}", i + 1), |c| c.label(i))
                })
                .collect()
        };
        let code = self.event_type.code();
        let (kind, v2) = match (self.kind(), code) {
            (_, 39) => {
                return Err(Irreversible {
                    reason: format!(
                        "{}: a partial JSON update (binlog_row_value_options=PARTIAL_JSON) holds only the change, not the value it replaced",
                        name()
                    ),
                });
            }
            (Some(k), 23..=25 | 166..=168) => (k, false),
            (Some(k), _) => (k, true),
            (None, _) => {
                return Err(Irreversible {
                    reason: format!(
                        "{}: {} events are not undone",
                        name(),
                        self.event_type.name()
                    ),
                });
            }
        };
        let all = |_: usize| true;
        let (t, present, present_after) = match kind {
            RowKind::Insert => (if v2 { 32 } else { 25 }, self.present, None),
            RowKind::Delete => {
                let lost = missing(self.present, &all);
                if !lost.is_empty() {
                    return Err(Irreversible {
                        reason: format!(
                            "{}: the deleted rows' images lack {} (binlog_row_image MINIMAL or NOBLOB): they cannot be put back whole",
                            name(),
                            lost.join(", ")
                        ),
                    });
                }
                (if v2 { 30 } else { 23 }, self.present, None)
            }
            RowKind::Update => {
                let after = self.present_after.unwrap_or(self.present);
                let lost = missing(self.present, &|i| bit(after, i));
                if !lost.is_empty() {
                    return Err(Irreversible {
                        reason: format!(
                            "{}: the update set {} but its before image does not hold their old values (binlog_row_image MINIMAL or NOBLOB)",
                            name(),
                            lost.join(", ")
                        ),
                    });
                }
                (if v2 { 31 } else { 24 }, after, Some(self.present))
            }
        };
        let mut undo = RowsEvent {
            event_type: EventType::from_code(t),
            table_id: self.table_id,
            flags: self.flags & !RowsEvent::STMT_END,
            extra: &[],
            column_count: self.column_count,
            present,
            present_after,
            rows: std::borrow::Cow::Borrowed(&[]),
        };
        let mut out = Vec::with_capacity(self.rows.len());
        for row in rows {
            // Each image changes sides: what the change left is what the undo finds.
            undo.encode_images_into(table, row.after.as_ref(), row.before.as_ref(), &mut out)
                .map_err(|reason| Irreversible {
                    reason: format!("{}: {reason}", name()),
                })?;
        }
        undo.rows = std::borrow::Cow::Owned(out);
        Ok(undo)
    }
}

impl<'a> Rows<'a> {
    fn image(&mut self, present: &[u8], after: bool) -> Result<Image<'a>, String> {
        let table = self.table;
        let sh = |e: crate::read::Short| format!("truncated image: {e}");
        let mut options = None;
        let mut partial = Vec::new();
        if after && self.event.event_type.code() == 39 {
            let start = self.r.clone();
            let opts = self.r.packed().map_err(sh)?;
            if opts & 1 != 0 {
                let bits = self.r.take(table.json_columns.div_ceil(8)).map_err(sh)?;
                partial = (0..table.json_columns).map(|i| bit(bits, i)).collect();
            }
            let used = start.remaining() - self.r.remaining();
            options = Some(start.clone().take(used).map_err(sh)?);
        }
        let n_present = count_bits(present, table.columns.len());
        let nulls = self.r.take(n_present.div_ceil(8)).map_err(sh)?;
        let used = n_present % 8;
        let padding = match (used, nulls.last()) {
            (1..=7, Some(&b)) => b & (0xff << used),
            _ => 0,
        };
        let mut values = Vec::with_capacity(table.columns.len());
        let (mut k, mut json_k) = (0usize, 0usize);
        for (i, col) in table.columns.iter().enumerate() {
            let is_json = col.real_type == crate::table::column_type::JSON;
            let json_index = json_k;
            if is_json {
                json_k += 1;
            }
            if !bit(present, i) {
                values.push(None);
                continue;
            }
            let null = bit(nulls, k);
            k += 1;
            if null {
                values.push(Some(Value::Null));
                continue;
            }
            let part = is_json && partial.get(json_index).copied().unwrap_or(false);
            let v = Value::decode(col, &mut self.r, part).map_err(|e| {
                format!(
                    "column {} ({}): {e}",
                    col.label(i),
                    crate::table::column_type::name(col.real_type)
                )
            })?;
            values.push(Some(v));
        }
        Ok(Image {
            values,
            options,
            padding,
        })
    }
}

impl<'a> Iterator for Rows<'a> {
    type Item = Result<Row<'a>, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.r.remaining() == 0 {
            return None;
        }
        self.index += 1;
        let before_len = self.r.remaining();
        let present = self.event.present;
        let row = (|| {
            Ok(match self.kind {
                RowKind::Insert => Row {
                    before: None,
                    after: Some(self.image(present, true)?),
                },
                RowKind::Delete => Row {
                    before: Some(self.image(present, false)?),
                    after: None,
                },
                RowKind::Update => {
                    let before = self.image(present, false)?;
                    let after = self.image(self.event.present_after.unwrap_or(present), true)?;
                    Row {
                        before: Some(before),
                        after: Some(after),
                    }
                }
            })
        })();
        // A row that takes no bytes (no column present) would repeat forever.
        let row = row.and_then(|r| {
            if self.r.remaining() == before_len {
                Err("a row image of zero bytes (no column present)".to_owned())
            } else {
                Ok(r)
            }
        });
        Some(row.map_err(|e: String| {
            self.failed = true;
            format!(
                "`{}`.`{}` row {}: {e}",
                self.table.schema, self.table.table, self.index
            )
        }))
    }
}

fn encode_image(
    table: &TableDef,
    present: &[u8],
    image: &Image<'_>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    if let Some(o) = image.options {
        out.extend_from_slice(o);
    }
    let present_cols: Vec<usize> = (0..table.columns.len())
        .filter(|&i| bit(present, i))
        .collect();
    let mut nulls = vec![0u8; present_cols.len().div_ceil(8)];
    if let Some(last) = nulls.last_mut() {
        *last = image.padding;
    }
    for (k, &i) in present_cols.iter().enumerate() {
        if let (Some(Some(Value::Null)), Some(b)) = (image.values.get(i), nulls.get_mut(k / 8)) {
            *b |= 1 << (k % 8);
        }
    }
    out.extend_from_slice(&nulls);
    for &i in &present_cols {
        let (Some(col), Some(Some(v))) = (table.columns.get(i), image.values.get(i)) else {
            return Err(format!(
                "column {} is in the bitmap but not in the image",
                i + 1
            ));
        };
        v.encode(col, out)?;
    }
    Ok(())
}
