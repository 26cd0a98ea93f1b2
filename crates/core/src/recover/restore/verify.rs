//! Row counts and checksums of the restored tables against the backup.

use std::collections::BTreeMap;

use mysql_async::Conn;
use mysql_async::prelude::Queryable;

use super::Job;
use super::load::{PROGRESS_DB, TableWork};
use crate::error::Error;
use crate::protect::backup::{TableEntry, q};
use crate::target::guard::GuardedTarget;

pub(super) async fn verify_table(
    conn: &mut Conn,
    db: &str,
    tb: &TableEntry,
    count: bool,
    checksum: bool,
    matched: &mut usize,
) -> Result<(), Error> {
    let fq = format!("{}.{}", q(db), q(&tb.name));
    let n: Option<u64> = if count {
        conn.query_first(format!("SELECT COUNT(*) FROM {fq}"))
            .await
            .map_err(Error::sql(format!("counting rows of {db}.{}", tb.name)))?
    } else {
        Some(tb.rows)
    };
    if n != Some(tb.rows) {
        return Err(Error::Mismatch {
            subject: format!("{db}.{}", tb.name),
            problem: format!(
                "{} rows after restore; the backup recorded {}",
                n.unwrap_or(0),
                tb.rows
            ),
        });
    }
    if checksum && let Some(expected) = tb.checksum {
        let row: Option<(String, Option<u64>)> = conn
            .query_first(format!("CHECKSUM TABLE {fq}"))
            .await
            .map_err(Error::sql(format!("CHECKSUM TABLE {db}.{}", tb.name)))?;
        let got = row.and_then(|r| r.1);
        if got != Some(expected) {
            return Err(Error::Mismatch {
                subject: format!("{db}.{}", tb.name),
                problem: format!(
                    "CHECKSUM TABLE is {} after restore; the backup recorded {expected}",
                    got.map_or("NULL".into(), |g| g.to_string())
                ),
            });
        }
        *matched += 1;
    }
    Ok(())
}

impl Job<'_> {
    /// Row counts always, checksums with `--verify`; then the progress records go.
    pub(super) async fn verify(
        &self,
        t: &mut GuardedTarget,
        work: &BTreeMap<(String, String), TableWork>,
    ) -> Result<usize, Error> {
        let (selection, opts, backup_lit) = (self.selection, self.opts, &self.backup_lit);
        // Row counts always; checksums with --verify. Tables a loader finished are checked
        // already.
        let mut matched = 0usize;
        for (s, name) in selection {
            for tb in &s.tables {
                match work.get(&(name.clone(), tb.name.clone())) {
                    Some(w) if w.checked => matched += usize::from(w.checksum_matched),
                    _ => verify_table(t.conn(), name, tb, true, opts.verify, &mut matched).await?,
                }
            }
        }
        // Done: the progress records are no longer needed.
        t.conn()
            .query_drop(format!(
                "DELETE FROM {PROGRESS_DB}.chunks WHERE backup_id = {backup_lit}"
            ))
            .await
            .map_err(Error::sql("clearing restore progress"))?;
        let left: Option<u64> = t
            .conn()
            .query_first(format!("SELECT COUNT(*) FROM {PROGRESS_DB}.chunks"))
            .await
            .map_err(Error::sql("reading restore progress"))?;
        if left == Some(0) {
            t.conn()
                .query_drop(format!("DROP DATABASE {PROGRESS_DB}"))
                .await
                .map_err(Error::sql("dropping the restore progress schema"))?;
        }
        Ok(matched)
    }
}
