//! Every fixture file decodes; the truncated and corrupt ones end or fail as they deserve.

use std::path::PathBuf;

use lifeboat_binlog::file::Error;
use lifeboat_binlog::{End, Event, FileReader};

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// Reads a whole file: (events, end, last transaction end) or the error.
fn scan(path: &std::path::Path) -> Result<(usize, End, u64, Vec<String>), Error> {
    let f = std::fs::File::open(path).unwrap();
    let mut r = FileReader::new(std::io::BufReader::new(f), path.display().to_string())?;
    let mut n = 0;
    let mut problems = Vec::new();
    loop {
        let fde = r.format().clone();
        let Some(ev) = r.next_event()? else { break };
        n += 1;
        if let Err(e) = Event::decode(&fde, ev.event_type(), ev.data) {
            problems.push(format!("{} @{}: {e}", ev.event_type().name(), ev.offset));
        }
    }
    Ok((n, r.end().unwrap(), r.last_transaction_end(), problems))
}

fn fixtures() -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(data("mysql-common"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().ends_with("LICENSE-MIT"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_fixture_reads_to_its_deserved_end() {
    let files = fixtures();
    assert_eq!(files.len(), 41);
    for f in files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let (n, end, trx, problems) = scan(&f).unwrap_or_else(|e| panic!("{name}: {e}"));
        match name.as_str() {
            // Cut inside the first event's header, and inside PREVIOUS_GTIDS.
            "binlog_truncated_event.000001" => {
                assert_eq!(
                    end,
                    End::Truncated {
                        offset: 4,
                        have: 10,
                        need: 0
                    }
                );
                assert_eq!((n, trx), (0, 4));
            }
            "binlog_truncated_prev_gtid_event.000001" => {
                assert!(matches!(end, End::Truncated { offset: 120, .. }), "{end:?}");
                assert_eq!(trx, 120);
            }
            // A relay log with a damaged QUERY event: framing holds, decoding names it.
            "corrupt-relay-bin.000624" => {
                assert_eq!(problems.len(), 1, "{problems:?}");
                assert!(problems[0].starts_with("Query @91204: "), "{problems:?}");
            }
            _ => {
                assert!(matches!(end, End::Clean { .. }), "{name}: {end:?}");
                assert!(problems.is_empty(), "{name}: {problems:?}");
                assert!(n > 0, "{name}");
            }
        }
    }
}

#[test]
fn a_flipped_byte_is_a_checksum_error_at_its_event() {
    let bytes = std::fs::read(data("mysql-common/binlog_transaction_with_GTID.000001")).unwrap();
    // Offsets of the events.
    let mut starts = Vec::new();
    let mut r = FileReader::new(&bytes[..], "f").unwrap();
    while let Some(ev) = r.next_event().unwrap() {
        starts.push(ev.offset as usize);
    }
    assert!(r.format().checksum_alg == Some(1));
    for pos in [4 + 30, starts[3] + 20, bytes.len() - 1] {
        let mut bad = bytes.clone();
        bad[pos] ^= 0x40;
        let mut r = FileReader::new(&bad[..], "f").unwrap();
        let err = loop {
            match r.next_event() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("flip at {pos} not detected"),
                Err(e) => break e,
            }
        };
        let at = *starts.iter().filter(|&&s| s <= pos).max().unwrap() as u64;
        assert!(
            matches!(err, Error::Checksum { offset, .. } if offset == at),
            "flip at {pos}: {err}"
        );
    }
}

#[test]
fn every_truncation_ends_cleanly_at_a_transaction_boundary() {
    let bytes = std::fs::read(data("mysql-common/binlog_transaction.000001")).unwrap();
    let mut boundaries = vec![4];
    let mut r = FileReader::new(&bytes[..], "f").unwrap();
    while r.next_event().unwrap().is_some() {
        boundaries.push(r.last_transaction_end());
    }
    for cut in 4..bytes.len() {
        let mut r = FileReader::new(&bytes[..cut], "f").unwrap();
        let mut last = 4;
        while let Some(ev) = r.next_event().unwrap() {
            last = ev.end();
        }
        match r.end().unwrap() {
            End::Clean { size } => assert_eq!(size as usize, cut),
            End::Truncated { offset, .. } => assert_eq!(offset, last),
        }
        let t = r.last_transaction_end();
        assert!(t <= last && boundaries.contains(&t), "cut {cut}: {t}");
    }
}

/// Reads and decodes everything it can; the point is that nothing panics.
fn read_all(bytes: &[u8]) {
    let Ok(mut r) = FileReader::new(bytes, "f") else {
        return;
    };
    loop {
        let fde = r.format().clone();
        match r.next_event() {
            Ok(Some(ev)) => {
                let _ = Event::decode(&fde, ev.event_type(), ev.data);
            }
            Ok(None) | Err(_) => break,
        }
    }
}

proptest::proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..600)) {
        let mut b = vec![0xfe, b'b', b'i', b'n'];
        b.extend(tail);
        read_all(&b);
    }

    #[test]
    fn damaged_real_files_never_panic(
        which in 0usize..41,
        flips in proptest::collection::vec((proptest::num::usize::ANY, proptest::num::u8::ANY), 1..8),
    ) {
        let files = fixtures();
        let mut b = std::fs::read(&files[which % files.len()]).unwrap();
        for (pos, v) in flips {
            let n = b.len();
            b[pos % n] = v;
        }
        // With checksums verified, most damage stops at the CRC; decode everything anyway.
        read_all(&b);
        if let Ok(r) = FileReader::new(&b[..], "f") {
            let mut r = r.verify_checksums(false);
            loop {
                let fde = r.format().clone();
                match r.next_event() {
                    Ok(Some(ev)) => { let _ = Event::decode(&fde, ev.event_type(), ev.data); }
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }
}

/// Decodes every event of a file with table maps tracked, and every row image; re-encodes
/// the rows and checks the bytes are the same. Returns (row events, rows) or the first error.
/// Encoding the decoded event gives its bytes back: the data, and the whole frame (header,
/// CRC32) for events with a 19-byte header. Compressed MariaDB events come back uncompressed
/// and must decode to the same event.
fn encodes_back(
    fde: &lifeboat_binlog::FormatDescription,
    raw: &lifeboat_binlog::RawEvent<'_>,
    ev: &Event<'_>,
) -> Result<(), String> {
    use lifeboat_binlog::EventType;
    use std::ops::Not;
    let t = raw.event_type();
    let (as_t, data) = ev.encode_data(t, fde).map_err(|e| e.to_string())?;
    if as_t != t {
        let again = Event::decode(fde, as_t, &data).map_err(|e| e.to_string())?;
        let same = match (ev, &again) {
            (Event::Rows(a), Event::Rows(b)) => {
                a.rows == b.rows && a.present == b.present && a.table_id == b.table_id
            }
            _ => *ev == again,
        };
        return if same {
            Ok(())
        } else {
            Err(format!(
                "{} encoded as {} decodes differently",
                t.name(),
                as_t.name()
            ))
        };
    }
    if data != raw.data {
        let at = data.iter().zip(raw.data).position(|(a, b)| a != b);
        return Err(format!(
            "{} event encodes to {} bytes, not its {} (first difference at {at:?})",
            t.name(),
            data.len(),
            raw.data.len()
        ));
    }
    // An FDE that announces no checksums has 4 bytes the format leaves undefined (a CRC32
    // from older servers, zeros from MariaDB 10.x); the encoder writes zeros.
    let undefined_trailer = t == EventType::FormatDescription
        && fde.checksum_alg == Some(0)
        && raw.bytes.ends_with(&[0, 0, 0, 0]).not();
    if raw.bytes.len() > raw.data.len() && usize::from(fde.header_len) == 19 && !undefined_trailer {
        let framed =
            lifeboat_binlog::encode_event(&raw.header, t, &data, fde).map_err(|e| e.to_string())?;
        if framed != raw.bytes {
            return Err(format!("{} event frames differently", t.name()));
        }
    }
    Ok(())
}

/// The undo of a row event decodes to the same rows with their images swapped, and the undo
/// of the undo is the event's own rows, byte for byte: what flashback writes is exact.
fn undoes_exactly(
    ev: &lifeboat_binlog::events::RowsEvent<'_>,
    t: &lifeboat_binlog::TableDef,
    rows: &[lifeboat_binlog::Row<'_>],
) -> Result<(), String> {
    let undo = match ev.undo(t, rows) {
        Ok(u) => u,
        // Refused by name: only images that lack what the undo needs.
        Err(e)
            if ev.event_type.code() == 39
                || rows.iter().any(|r| {
                    [&r.before, &r.after]
                        .into_iter()
                        .flatten()
                        .any(|i| !i.is_full())
                }) =>
        {
            assert!(!e.reason.is_empty());
            return Ok(());
        }
        Err(e) => return Err(format!("a full-image event is refused: {e}")),
    };
    let swapped: Vec<_> = undo
        .rows(t)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("the undo does not decode: {e}"))?;
    if swapped.len() != rows.len() {
        return Err("the undo has another row count".into());
    }
    for (a, b) in rows.iter().zip(&swapped) {
        if a.before != b.after || a.after != b.before {
            return Err("the undo's images are not the event's, swapped".into());
        }
    }
    // An inserted row with some columns only: its undo (a delete) is exact, the undo of
    // that undo (putting it back) is refused: the other columns are not in the binlog.
    let full = rows.iter().all(|r| {
        [&r.before, &r.after]
            .into_iter()
            .flatten()
            .all(lifeboat_binlog::Image::is_full)
    });
    if !full {
        return Ok(());
    }
    let again = undo
        .undo(t, &swapped)
        .map_err(|e| format!("the undo's undo: {e}"))?;
    if again.rows != ev.rows || again.present != ev.present {
        return Err("the undo of the undo differs from the event".into());
    }
    Ok(())
}

fn decode_rows(path: &std::path::Path) -> Result<(usize, usize), String> {
    // A relay log damaged on purpose, and a 5.2 development build's file whose XID events
    // are 11 bytes longer than any release writes: bytes no encoder would produce.
    let check_encoding =
        !path.ends_with("corrupt-relay-bin.000624") && !path.ends_with("ver_5_1-wl2325_r.001");
    let f = std::fs::File::open(path).unwrap();
    let mut r = FileReader::new(std::io::BufReader::new(f), path.display().to_string())
        .map_err(|e| e.to_string())?;
    let mut dec = lifeboat_binlog::Decoder::new();
    let (mut events, mut rows) = (0, 0);
    while let Some((raw, fde)) = r.next_with_format().map_err(|e| e.to_string())? {
        let at = raw.offset;
        // Compressed transactions: the events inside come through the same way.
        dec.decode_each(
            fde,
            &raw,
            |e| format!("@{at}: {e}"),
            |dec, raw, ev| {
                if check_encoding {
                    encodes_back(fde, raw, ev).map_err(|e| format!("@{at}: {e}"))?;
                }
                let Event::Rows(ev) = ev else {
                    return Ok(());
                };
                let t = dec
                    .table(ev.table_id)
                    .ok_or_else(|| format!("@{at}: no table map"))?;
                let decoded = ev
                    .rows(t)
                    .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                    .map_err(|e| format!("@{at}: {e}"))?;
                let back = ev
                    .encode_rows(t, &decoded)
                    .map_err(|e| format!("@{at}: {e}"))?;
                if back != *ev.rows {
                    return Err(format!("@{at}: rows re-encode differently"));
                }
                undoes_exactly(ev, t, &decoded).map_err(|e| format!("@{at}: {e}"))?;
                for row in &decoded {
                    for img in [&row.before, &row.after].into_iter().flatten() {
                        for (c, v) in t.columns.iter().zip(&img.values) {
                            if let Some(v) = v {
                                let _ = v.render(c);
                            }
                        }
                    }
                }
                events += 1;
                rows += decoded.len();
                Ok(())
            },
        )?;
    }
    Ok((events, rows))
}

#[test]
fn every_row_image_decodes_and_encodes_back_to_the_same_bytes() {
    let mut total = 0;
    for f in fixtures() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        match (name.as_str(), decode_rows(&f)) {
            ("corrupt-relay-bin.000624", Err(e)) => assert!(e.starts_with("@91204: Query"), "{e}"),
            // A 5.2 development build's test file with a malformed TABLE_MAP.
            ("ver_5_1-wl2325_r.001", Err(e)) => {
                assert!(e.contains("column metadata has 3 bytes left over"), "{e}")
            }
            (_, Ok((_, rows))) => total += rows,
            (_, Err(e)) => panic!("{name}: {e}"),
        }
    }
    assert!(total >= 90, "only {total} rows decoded");
}

/// The binlogs of the MySQL/MariaDB test suites (Debian's mariadb-test-data, installed by
/// scripts/install-deps): MySQL 5.x and 8.0 and MariaDB files, some deliberately broken.
#[test]
fn test_suite_binlogs_decode_or_fail_clearly() {
    let root = std::path::Path::new("/usr/share/mysql/mysql-test");
    assert!(
        root.join("std_data").is_dir(),
        "{} is missing: run scripts/install-deps (installs mariadb-test-data)",
        root.display()
    );
    let mut files = Vec::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if std::fs::read(&p).is_ok_and(|b| b.starts_with(&[0xfe, b'b', b'i', b'n'])) {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() >= 30, "{files:?}");
    let mut ok = 0;
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let outcome = std::panic::catch_unwind(|| decode_rows(f));
        let outcome = outcome.unwrap_or_else(|_| panic!("{name}: the decoder panicked"));
        match outcome {
            Ok(_) => ok += 1,
            Err(e) => {
                // Files broken on purpose, encrypted, or from servers before binlog v4 or
                // before 5.1 went GA: each must fail with a message saying what.
                let expected: &[(&str, &str)] = &[
                    ("corrupt-relay-bin.000624", "@91204: Query event: truncated"),
                    (
                        "binlog_old_version_4_1.000001",
                        "binlog format version 1 or 3",
                    ),
                    ("master-bin.000001", "binlog format version 1 or 3"),
                    ("bug47142_master-bin.000001", "binlog format version 1 or 3"),
                    ("trunc_binlog.000001", "binlog format version 1 or 3"),
                    ("ver_5_1-telco.001", "`test`.`t1`: column metadata"),
                    ("ver_5_1_17.001", "`test`.`t1`: column metadata"),
                    ("invalid_row_v2_tag.001", "no table map"),
                    ("binlog_before_20574.bin", "encrypted from offset 296"),
                    (
                        "mdev-39404-binlog.000001",
                        "checksum mismatch in the Gtid event at offset 256",
                    ),
                ];
                let want = expected.iter().find(|(f, _)| *f == name);
                match want {
                    Some((_, text)) => assert!(e.contains(text), "{name}: {e}"),
                    None => panic!("{name} failed unexpectedly: {e}"),
                }
            }
        }
    }
    assert!(ok >= files.len() - 10, "{ok} of {}", files.len());
}

/// Every QUERY event's status variables parse completely (no unknown code, no truncation)
/// on the fixture files and a live-server sample in the test suite's files.
#[test]
fn query_status_variables_parse() {
    let mut parsed = 0;
    let mut with_charset = 0;
    for f in fixtures() {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let file = std::fs::File::open(&f).unwrap();
        let mut r = FileReader::new(std::io::BufReader::new(file), name.clone()).unwrap();
        while let Ok(Some((raw, fde))) = r.next_with_format() {
            if let Ok(Event::Query(q)) = Event::decode(fde, raw.event_type(), raw.data) {
                let s = q
                    .session()
                    .unwrap_or_else(|e| panic!("{name} @{}: {e}", raw.offset));
                assert_eq!(s.unknown_code, None, "{name} @{}", raw.offset);
                parsed += 1;
                with_charset += usize::from(s.charset.is_some());
            }
        }
    }
    assert!(
        parsed > 100 && with_charset > 100,
        "{parsed} {with_charset}"
    );
}
