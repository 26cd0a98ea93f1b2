//! Which schemas a restore loads, and under which names.

use std::collections::BTreeMap;

use super::RestoreOptions;
use crate::error::Error;
use crate::protect::backup::{Body, SYSTEM_SCHEMAS, SchemaEntry, q};

pub(super) fn parse_renames(list: &[String]) -> Result<BTreeMap<String, String>, Error> {
    list.iter()
        .map(|r| {
            r.split_once('=')
                .filter(|(a, b)| !a.is_empty() && !b.is_empty())
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
                .ok_or_else(|| Error::Argument {
                    flag: "--rename",
                    value: r.clone(),
                    reason: "expected DB=NEWDB".into(),
                })
        })
        .collect()
}

/// The schemas and tables to restore, under their target names.
pub(super) fn select(body: &Body, opts: &RestoreOptions) -> Result<Selection, Error> {
    let renames = parse_renames(&opts.rename)?;
    let mut out = Vec::new();
    for s in &body.schemas {
        let mut s = s.clone();
        if !opts.tables.is_empty() {
            let named = |n: &str| opts.tables.contains(&format!("{}.{n}", s.name));
            s.tables.retain(|t| named(&t.name));
            s.views.retain(|v| named(&v.name));
            if s.tables.is_empty() && s.views.is_empty() {
                continue;
            }
            let names: Vec<&String> = s.tables.iter().map(|t| &t.name).collect();
            s.triggers
                .retain(|tr| tr.table.as_ref().is_some_and(|t| names.contains(&t)));
            s.routines.clear();
            s.events.clear();
        }
        let target = renames
            .get(&s.name)
            .cloned()
            .unwrap_or_else(|| s.name.clone());
        if target != s.name {
            for d in s
                .views
                .iter_mut()
                .chain(&mut s.triggers)
                .chain(&mut s.routines)
                .chain(&mut s.events)
            {
                d.create = requalify(&d.create, &s.name, &target);
            }
        }
        out.push((s, target));
    }
    for t in &opts.tables {
        let found = body.schemas.iter().any(|s| {
            let named = |n: &str| format!("{}.{n}", s.name) == *t;
            s.tables.iter().any(|x| named(&x.name)) || s.views.iter().any(|v| named(&v.name))
        });
        if !found {
            return Err(Error::Missing {
                what: format!("table or view {t}"),
                within: "this backup".into(),
                hint: None,
            });
        }
    }
    if out.is_empty() {
        return Err(Error::Missing {
            what: "database the selection matches: nothing to restore".into(),
            within: "this backup".into(),
            hint: None,
        });
    }
    Ok(out)
}

/// Replaces the database name in `CREATE DATABASE `old` ...`.
pub(super) fn rename_create_database(create: &str, old: &str, new: &str) -> String {
    if old == new {
        return create.to_owned();
    }
    create.replacen(&q(old), &q(new), 1)
}

/// Points qualified references `` `old`. `` in a view, trigger, routine or event at `new`.
/// The server writes view definitions fully qualified and backquoted; bodies written by hand
/// may not be (see [`mentions_unquoted`]).
pub(super) fn requalify(create: &str, old: &str, new: &str) -> String {
    create.replace(&format!("{}.", q(old)), &format!("{}.", q(new)))
}

/// Whether `text` names `db.` without backquotes (a reference [`requalify`] cannot rename).
pub(super) fn mentions_unquoted(text: &str, db: &str) -> bool {
    let (t, d) = (
        text.to_ascii_lowercase(),
        format!("{}.", db.to_ascii_lowercase()),
    );
    t.match_indices(&d).any(|(i, _)| {
        i == 0
            || !t.as_bytes()[i - 1].is_ascii_alphanumeric()
                && !matches!(t.as_bytes()[i - 1], b'_' | b'`' | b'$')
    })
}

/// The schemas a restore loads, each with the name it gets on the target.
pub(super) type Selection = Vec<(SchemaEntry, String)>;

/// The selected schemas under their target names (a system schema is refused), and warnings
/// about references a rename could not follow.
pub(super) fn checked_selection(
    body: &Body,
    opts: &RestoreOptions,
) -> Result<(Selection, Vec<String>), Error> {
    let selection = select(body, opts)?;
    for (_, target_name) in &selection {
        if SYSTEM_SCHEMAS.contains(&target_name.as_str()) {
            return Err(crate::target::guard::Refusal::Unsafe {
                action: format!("restore into {target_name}"),
                reason: "it is a system schema".into(),
            }
            .into());
        }
    }
    let mut warnings = Vec::new();
    for (s, target_name) in &selection {
        for d in s
            .views
            .iter()
            .chain(&s.triggers)
            .chain(&s.routines)
            .chain(&s.events)
        {
            if target_name != &s.name && mentions_unquoted(&d.create, &s.name) {
                warnings.push(format!(
                    "{target_name}.{}: its definition names `{}` without backquotes; such references were not renamed, check them",
                    d.name, s.name
                ));
            }
        }
    }
    Ok((selection, warnings))
}
