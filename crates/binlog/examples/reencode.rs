//! Shows where re-encoding decoded rows differs from the file (a debugging aid).
fn main() {
    let path = std::env::args().nth(1).expect("usage: reencode FILE");
    let f = std::fs::File::open(&path).expect("open");
    let mut r =
        lifeboat_binlog::FileReader::new(std::io::BufReader::new(f), path.clone()).expect("binlog");
    let mut dec = lifeboat_binlog::Decoder::new();
    while let Ok(Some((raw, fde))) = r.next_with_format() {
        let Ok(ev) = dec.decode(fde, &raw) else { break };
        if let lifeboat_binlog::Event::Rows(rows) = &ev {
            let Some(t) = dec.table(rows.table_id) else {
                continue;
            };
            let decoded: Vec<_> = match rows
                .rows(t)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            {
                Ok(d) => d,
                Err(e) => {
                    println!("{}: {e}", raw.offset);
                    continue;
                }
            };
            let back = rows.encode_rows(t, &decoded).expect("encode");
            if back != *rows.rows {
                let at = back
                    .iter()
                    .zip(rows.rows.iter())
                    .position(|(a, b)| a != b)
                    .unwrap_or(back.len().min(rows.rows.len()));
                println!(
                    "{}: differs at {at} of {} (ours {}): file {:02x?} ours {:02x?}",
                    raw.offset,
                    rows.rows.len(),
                    back.len(),
                    &rows.rows[at.saturating_sub(4)..(at + 8).min(rows.rows.len())],
                    &back[at.saturating_sub(4)..(at + 8).min(back.len())]
                );
                let dbg = format!("{:?}", decoded.first().map(|r| (&r.before, &r.after)));
                println!("  {}", dbg.chars().take(600).collect::<String>());
                println!(
                    "  {:?}",
                    t.columns
                        .iter()
                        .map(|c| (c.real_type, c.meta))
                        .collect::<Vec<_>>()
                );
            }
        }
    }
}
