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
