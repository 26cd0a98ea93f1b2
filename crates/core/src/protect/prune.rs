//! `lifeboat prune`: retention. Which backups to keep is decided from the start time encoded
//! in each backup id, so pruning needs no passphrase on an encrypted repository.
//!
//! Rules as in restic and pgBackRest: `--keep-last N` keeps the newest N; `--keep-daily N`
//! keeps the newest backup of each of the N newest days that have one (UTC); likewise weekly
//! (ISO weeks) and monthly. A backup is kept when any rule keeps it. Interrupted backups (no
//! manifest) are removed: the repository lock guarantees no writer is still at work.

use std::collections::BTreeSet;

use lifeboat_repo::Repository;
use serde::Serialize;

use crate::error::Error;

/// Options of `prune`.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct PruneOptions {
    /// Keep the newest N backups.
    #[cfg_attr(feature = "clap", arg(long, value_name = "N", default_value_t = 0))]
    pub keep_last: usize,
    /// Keep the newest backup of each of the newest N days.
    #[cfg_attr(feature = "clap", arg(long, value_name = "N", default_value_t = 0))]
    pub keep_daily: usize,
    /// Keep the newest backup of each of the newest N ISO weeks.
    #[cfg_attr(feature = "clap", arg(long, value_name = "N", default_value_t = 0))]
    pub keep_weekly: usize,
    /// Keep the newest backup of each of the newest N months.
    #[cfg_attr(feature = "clap", arg(long, value_name = "N", default_value_t = 0))]
    pub keep_monthly: usize,
    /// Show what would be removed; remove nothing.
    #[cfg_attr(feature = "clap", arg(long))]
    pub dry_run: bool,
}

/// One decision.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Decision {
    /// Backup id.
    pub id: String,
    /// Why it is kept (`last`, `daily`, ...); empty when removed.
    pub kept_by: Vec<&'static str>,
}

/// What prune decided (and, without --dry-run, did).
#[derive(Debug, Serialize)]
pub struct Outcome {
    /// Committed backups kept.
    pub keep: Vec<Decision>,
    /// Committed backups removed.
    pub remove: Vec<String>,
    /// Interrupted backups removed.
    pub incomplete: Vec<String>,
    /// Nothing was removed.
    pub dry_run: bool,
}

/// The start time encoded in a backup id (`YYYYMMDDTHHMMSS[.mmm]Z-xxxx`).
pub fn id_time(id: &str) -> Option<jiff::civil::DateTime> {
    let stamp = id.split('-').next()?;
    jiff::civil::DateTime::strptime("%Y%m%dT%H%M%S%.fZ", stamp).ok()
}

/// Decides which of `ids` to keep. Pure: the tests pin the rules.
pub fn plan(ids: &[String], opts: &PruneOptions) -> Result<Vec<Decision>, Error> {
    if opts.keep_last + opts.keep_daily + opts.keep_weekly + opts.keep_monthly == 0 {
        return Err(crate::target::guard::Refusal::Unsafe {
            action: "prune".into(),
            reason: "no --keep-* rule: that would remove every backup".into(),
        }
        .into());
    }
    let mut dated: Vec<(jiff::civil::DateTime, &String)> = Vec::new();
    for id in ids {
        let t = id_time(id).ok_or_else(|| Error::Mismatch {
            subject: format!("backup {id}"),
            problem: "its id does not encode a time".into(),
        })?;
        dated.push((t, id));
    }
    dated.sort_by(|a, b| b.cmp(a)); // newest first (ties: by id)
    let mut out: Vec<Decision> = dated
        .iter()
        .map(|(_, id)| Decision {
            id: (*id).clone(),
            kept_by: Vec::new(),
        })
        .collect();
    for d in out.iter_mut().take(opts.keep_last) {
        d.kept_by.push("last");
    }
    let mut bucket_rule =
        |n: usize, name: &'static str, key: &dyn Fn(&jiff::civil::DateTime) -> (i32, i32)| {
            let mut seen = BTreeSet::new();
            for (i, (t, _)) in dated.iter().enumerate() {
                if seen.len() >= n {
                    break;
                }
                if seen.insert(key(t))
                    && let Some(d) = out.get_mut(i)
                {
                    d.kept_by.push(name);
                }
            }
        };
    bucket_rule(opts.keep_daily, "daily", &|t| {
        (i32::from(t.year()), i32::from(t.date().day_of_year()))
    });
    bucket_rule(opts.keep_weekly, "weekly", &|t| {
        let w = t.date().iso_week_date();
        (i32::from(w.year()), i32::from(w.week()))
    });
    bucket_rule(opts.keep_monthly, "monthly", &|t| {
        (i32::from(t.year()), i32::from(t.month()))
    });
    Ok(out)
}

/// Applies the retention rules to the repository.
pub async fn run(repo: &Repository, opts: &PruneOptions) -> Result<Outcome, Error> {
    let lock = repo.lock("prune").await?;
    let result = async {
        let (committed, incomplete) = repo.backup_ids().await?;
        let decisions = plan(&committed, opts)?;
        let (keep, remove): (Vec<Decision>, Vec<Decision>) =
            decisions.into_iter().partition(|d| !d.kept_by.is_empty());
        let remove: Vec<String> = remove.into_iter().map(|d| d.id).collect();
        if !opts.dry_run {
            for id in remove.iter().chain(incomplete.iter()) {
                repo.delete_backup(id).await?;
            }
        }
        Ok::<_, Error>(Outcome {
            keep,
            remove,
            incomplete,
            dry_run: opts.dry_run,
        })
    }
    .await;
    lock.release().await?;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| format!("{s}-0000")).collect()
    }

    fn kept(d: &[Decision]) -> Vec<String> {
        d.iter()
            .filter(|d| !d.kept_by.is_empty())
            .map(|d| d.id[..8].to_owned())
            .collect()
    }

    #[test]
    fn id_times() {
        let t = id_time("20261121T173117.123Z-a593").unwrap();
        assert_eq!(
            (t.hour(), t.second(), t.subsec_nanosecond()),
            (17, 17, 123_000_000)
        );
        assert!(id_time("20261121T173117Z-a593").is_some());
        assert!(id_time("garbage").is_none());
    }

    #[test]
    fn rules() {
        let all = ids(&[
            "20261101T010000Z",
            "20261101T230000Z",
            "20261102T010000Z",
            "20261109T010000Z",
            "20261110T010000Z",
            "20261115T010000Z",
            "20261001T010000Z",
            "20260901T010000Z",
        ]);
        let o = |l, d, w, m| PruneOptions {
            keep_last: l,
            keep_daily: d,
            keep_weekly: w,
            keep_monthly: m,
            dry_run: true,
        };
        assert_eq!(
            kept(&plan(&all, &o(2, 0, 0, 0)).unwrap()),
            vec!["20261115", "20261110"]
        );
        // Daily: the newest of each of the 3 newest days; 1 Nov keeps its 23:00 backup only.
        assert_eq!(
            kept(&plan(&all, &o(0, 3, 0, 0)).unwrap()),
            vec!["20261115", "20261110", "20261109"]
        );
        let d = plan(&all, &o(0, 10, 0, 0)).unwrap();
        assert!(
            d.iter()
                .any(|x| x.id.starts_with("20261101T230000Z") && !x.kept_by.is_empty())
        );
        assert!(
            d.iter()
                .any(|x| x.id.starts_with("20261101T010000Z") && x.kept_by.is_empty())
        );
        // Monthly: Nov, Oct, Sep.
        assert_eq!(
            kept(&plan(&all, &o(0, 0, 0, 3)).unwrap()),
            vec!["20261115", "20261001", "20260901"]
        );
        // Weekly (ISO; 1 Nov 2026 is a Sunday): week 46 -> 15 Nov, week 45 -> 2 Nov,
        // week 44 -> 1 Nov 23:00.
        assert_eq!(
            kept(&plan(&all, &o(0, 0, 3, 0)).unwrap()),
            vec!["20261115", "20261102", "20261101"]
        );
        assert!(plan(&all, &o(0, 0, 0, 0)).is_err());
    }
}
