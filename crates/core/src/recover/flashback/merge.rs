//! Column-level undo for `recover --mode merge`: an update is undone only in the columns it
//! changed, so a later write to other columns of the same row is kept. Each update's images
//! are narrowed to the key and those columns; the undo event says only them are present.

use lifeboat_binlog::{Image, Row};

/// Bitmap of `columns` over `width` columns.
fn bitmap(width: usize, columns: &[usize]) -> Vec<u8> {
    let mut b = vec![0u8; width.div_ceil(8)];
    for &c in columns {
        if let Some(byte) = b.get_mut(c / 8) {
            *byte |= 1 << (c % 8);
        }
    }
    b
}

/// `image` with only `keep` present.
fn only<'r>(image: &Image<'r>, keep: &[usize]) -> Image<'r> {
    Image {
        values: image
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| if keep.contains(&i) { v.clone() } else { None })
            .collect(),
        options: None,
        // The NULL bitmap covers other columns now: its spare bits mean nothing.
        padding: 0,
    }
}

/// The rows of one event grouped for their undo: `None` for rows undone whole (inserts,
/// deletes, updates of the key), `Some(bitmap)` for updates narrowed to the key and the
/// columns they changed (one group per set of columns). Updates that changed nothing are
/// left out.
pub(super) fn groups<'r>(
    rows: &[Row<'r>],
    key: &[usize],
    width: usize,
) -> Vec<(Option<Vec<u8>>, Vec<Row<'r>>)> {
    let mut whole = Vec::new();
    let mut narrowed: Vec<(Vec<u8>, Vec<Row<'r>>)> = Vec::new();
    for row in rows {
        let (Some(b), Some(a)) = (&row.before, &row.after) else {
            whole.push(row.clone());
            continue;
        };
        let changed: Vec<usize> = (0..width)
            .filter(|&i| match (b.values.get(i), a.values.get(i)) {
                (Some(Some(x)), Some(Some(y))) => !x.identical(y),
                // Present on one side only: not a column this merge can judge; undone whole.
                (Some(Some(_)), _) | (_, Some(Some(_))) => true,
                _ => false,
            })
            .collect();
        if changed.is_empty() {
            continue;
        }
        if changed.iter().any(|c| key.contains(c)) {
            whole.push(row.clone());
            continue;
        }
        let mut keep: Vec<usize> = key.to_vec();
        keep.extend(&changed);
        let map = bitmap(width, &keep);
        let row = Row {
            before: Some(only(b, &keep)),
            after: Some(only(a, &keep)),
        };
        match narrowed.iter_mut().find(|(m, _)| *m == map) {
            Some((_, rows)) => rows.push(row),
            None => narrowed.push((map, vec![row])),
        }
    }
    let mut out = Vec::new();
    if !whole.is_empty() {
        out.push((None, whole));
    }
    out.extend(narrowed.into_iter().map(|(m, r)| (Some(m), r)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeboat_binlog::Value;

    fn img(v: &[u64]) -> Image<'static> {
        Image {
            values: v.iter().map(|&x| Some(Value::Int(x))).collect(),
            options: None,
            padding: 0,
        }
    }

    #[test]
    fn updates_narrow_to_the_key_and_what_they_changed() {
        let rows = vec![
            Row {
                before: Some(img(&[1, 10, 100])),
                after: Some(img(&[1, 11, 100])),
            },
            Row {
                before: Some(img(&[2, 20, 200])),
                after: Some(img(&[2, 21, 200])),
            },
            Row {
                before: Some(img(&[3, 30, 300])),
                after: Some(img(&[3, 30, 300])),
            },
            Row {
                before: Some(img(&[4, 40, 400])),
                after: Some(img(&[5, 40, 400])),
            },
            Row {
                before: Some(img(&[6, 60, 600])),
                after: None,
            },
        ];
        let g = groups(&rows, &[0], 3);
        assert_eq!(g.len(), 2);
        // The key changed (4 -> 5) and the delete: whole.
        assert_eq!(g[0].0, None);
        assert_eq!(g[0].1.len(), 2);
        // Column 1 changed in two rows: one narrowed group; the no-op update is gone.
        assert_eq!(g[1].0.as_deref(), Some(&[0b011u8][..]));
        assert_eq!(g[1].1.len(), 2);
        assert_eq!(g[1].1[0].after.as_ref().unwrap().values[2], None);
    }
}
