//! `innodb inspect`: what a file of InnoDB pages holds.

use std::path::Path;

use lifeboat_innodb::{Inspector, Report};

use crate::error::Error;
use crate::forensic::pages::{each_page, page_size_of};

/// Summarizes the tablespace at `path`: format, page types, checksum verdicts, indexes with
/// their record counts. A damaged page 0 is survived: the page size is then found from the
/// page numbers the other pages carry.
pub fn inspect(path: &Path) -> Result<Report, Error> {
    let (page_size, fsp) = page_size_of(path)?;
    let mut ins = Inspector::new(page_size, fsp);
    let trailing = each_page(path, page_size, &mut |n, page| {
        ins.page(n, page);
        Ok(())
    })?;
    let mut report = ins.finish();
    report.trailing_bytes = trailing;
    Ok(report)
}
