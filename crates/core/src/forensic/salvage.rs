//! `salvage`: every readable row of a damaged tablespace.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Error;
use crate::forensic::pages::{TableFile, Tablespace};
use crate::forensic::pages::{
    each_page_in_memory, layout_of, leaf_index, page_reader, row_values, write_report,
};
use crate::forensic::recovered::{Format, TableOut, Written};
use crate::forensic::undelete::FastHash;

/// One page of a tablespace as `salvage` found it, when something was wrong or lost there.
#[derive(Debug, Clone, Serialize)]
pub struct SalvagedPage {
    /// Page number.
    pub page: u64,
    /// Its checksum verdict.
    pub checksum: lifeboat_innodb::checksum::Verdict,
    /// Page type as its header says.
    pub page_type: String,
    /// Records its header counts (a leaf of the table's index).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
    /// Rows recovered from it.
    pub recovered: u64,
    /// Rows were (or may have been) lost here.
    pub lost: bool,
    /// What is wrong there.
    pub problem: String,
}

/// What `salvage` did.
#[derive(Debug, Clone, Serialize)]
pub struct Salvaged {
    /// The file.
    pub file: PathBuf,
    /// The index read (the table's clustered index).
    pub index_id: u64,
    /// Pages in the file.
    pub pages: u64,
    /// Leaf pages of the index read.
    pub leaf_pages: u64,
    /// Rows recovered, each once.
    pub rows: u64,
    /// Of them, rows from pages whose checksum does not match but whose every record
    /// decodes with the definition.
    pub rows_from_damaged_pages: u64,
    /// Pages with a bad checksum, or whose records could not all be read.
    pub damaged: Vec<SalvagedPage>,
    /// The rows written (the SQL or TSV file).
    pub output: Written,
    /// The report written next to it.
    pub report: PathBuf,
}

/// Every readable row of a damaged tablespace: reads each page in place, picks the index
/// whose leaf pages fit `schema` best (the table's clustered index), and takes the rows of
/// every leaf page whose records all decode: pages with a valid checksum, and damaged pages
/// whose records still fit exactly. Pages that are damaged and do not fit are listed as
/// lost, with the records their headers counted. Writes `<table>.sql` and `report.json` to
/// `out`. Reads `ibd` only.
pub fn salvage(table: &TableFile<'_>, out: &Path, format: Format) -> Result<Salvaged, Error> {
    let (ibd, index_id) = (table.ibd, table.index_id);
    use lifeboat_innodb::index::IndexPage;
    use lifeboat_innodb::record::{Layout, decode_with, fit_with};
    let ts = Tablespace::open(ibd, table.schema)?;
    let (report, schema, page_size, full_crc32) =
        (&ts.report, &*ts.schema, ts.page_size, ts.full_crc32);
    let mut page_of = page_reader(ibd, page_size, report.flags)?;
    // Each index's records as the definition lays them out there (an instant ADD COLUMN
    // is an index's own history).
    let layouts: std::collections::HashMap<u64, Layout> = report
        .indexes
        .iter()
        .map(|i| (i.index_id, layout_of(schema, Some(i), &mut page_of)))
        .collect();
    let plain = Layout::new(schema);
    let layout_for = |id: u64| layouts.get(&id).unwrap_or(&plain);
    // Pass 1: which index's leaves fit the definition best.
    let index_id = match index_id {
        Some(i) => i,
        None => {
            let mut fits: std::collections::HashMap<u64, u64> = Default::default();
            // Why the first leaf that did not fit failed: the error's hint.
            let mut why: Option<String> = None;
            each_page_in_memory(ibd, page_size, report.flags, &mut |no, page| {
                if let (Some(id), Some(ip)) = (leaf_index(page), IndexPage::new(page)) {
                    let layout = layout_for(id);
                    if fit_with(&ip, schema, layout).consistent {
                        *fits.entry(id).or_default() += 1;
                    } else if why.is_none() {
                        why = ip.records().flatten().find_map(|r| {
                            decode_with(page, r.origin, schema, layout)
                                .err()
                                .map(|e| format!(" (page {no}, index {id}: {e})"))
                        });
                    }
                }
                Ok(())
            })?;
            fits.into_iter()
                .max_by_key(|&(id, n)| (n, std::cmp::Reverse(id)))
                .map(|(id, _)| id)
                .ok_or_else(|| Error::NoRows {
                    table: schema.table.clone(),
                    problem: format!(
                        "no page's records in {} fit its definition{}",
                        ibd.display(),
                        why.unwrap_or_default()
                    ),
                })?
        }
    };
    // Pass 2: the rows.
    let mut sql = TableOut::create(
        out,
        schema,
        &format!("salvage of {}", ibd.display()),
        format,
    )?;
    let layout = layout_for(index_id);
    let mut result = Salvaged {
        file: ibd.to_path_buf(),
        index_id,
        pages: 0,
        leaf_pages: 0,
        rows: 0,
        rows_from_damaged_pages: 0,
        damaged: Vec::new(),
        output: sql.written(),
        report: out.join("report.json"),
    };
    let mut seen: std::collections::HashSet<Vec<u8>, FastHash> = Default::default();
    // Pages the tablespace lists as free hold stale records (older versions of rows that
    // live on elsewhere): never read as the table's.
    let mut free = lifeboat_innodb::fsp::FreePages::new(
        page_size,
        report.flags.map_or(page_size, |f| f.page_size),
    );
    each_page_in_memory(ibd, page_size, report.flags, &mut |no, page| {
        result.pages += 1;
        let verdict = lifeboat_innodb::checksum::verify(page, full_crc32);
        let valid = verdict.is_valid() || verdict == lifeboat_innodb::checksum::Verdict::Empty;
        free.page(no, page, verdict.is_valid());
        if free.is_free(no, page) {
            return Ok(());
        }
        let type_name = lifeboat_innodb::FilHeader::parse(page).map_or_else(
            || "unknown".to_owned(),
            |h| lifeboat_innodb::PageType::from_code(h.page_type, report.vendor).name(),
        );
        let mut finding = SalvagedPage {
            page: no,
            checksum: verdict,
            page_type: type_name,
            records: None,
            recovered: 0,
            lost: false,
            problem: String::new(),
        };
        let ours = leaf_index(page) == Some(index_id);
        if !ours {
            if !valid {
                finding.lost = true;
                finding.problem =
                    "damaged; not recognizable as a page of the table's index (its rows, if it held any, are lost)".into();
                result.damaged.push(finding);
            }
            return Ok(());
        }
        result.leaf_pages += 1;
        let Some(ip) = IndexPage::new(page) else {
            return Ok(());
        };
        finding.records = Some(u64::from(ip.header.n_recs));
        let f = fit_with(&ip, schema, layout);
        if !valid && !f.consistent {
            finding.lost = true;
            finding.problem = format!(
                "damaged: {} of its {} records decode; none taken",
                f.decoded, f.records
            );
            result.damaged.push(finding);
            return Ok(());
        }
        let mut problems = Vec::new();
        for rec in ip.records() {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    problems.push(format!("record list broken: {e:?}"));
                    break;
                }
            };
            if rec.deleted || rec.min_rec {
                continue;
            }
            let row = match decode_with(page, rec.origin, schema, layout) {
                Ok(r) => r,
                Err(e) => {
                    problems.push(e.to_string());
                    continue;
                }
            };
            if !seen.insert(row.key.clone()) {
                continue;
            }
            let mut v = Vec::with_capacity(128);
            match row_values(&row, schema, rec.origin, &mut page_of, format, &mut v) {
                Ok(()) => {
                    sql.row(&v)?;
                    finding.recovered += 1;
                    result.rows += 1;
                    if !valid {
                        result.rows_from_damaged_pages += 1;
                    }
                }
                Err(e) => problems.push(e),
            }
        }
        if !valid || !problems.is_empty() {
            finding.lost = !problems.is_empty();
            finding.problem = if problems.is_empty() {
                "checksum does not match; every record decodes with the definition and was taken"
                    .into()
            } else {
                problems.join("; ")
            };
            result.damaged.push(finding);
        }
        Ok(())
    })?;
    result.output = sql.finish()?;
    write_report(&result.report, &result)?;
    Ok(result)
}
