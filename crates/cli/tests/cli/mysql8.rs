//! MySQL 8 tablespaces with a history of instant ADD/DROP COLUMN, made from the Sakila 8.0
//! `actor.ibd` fixture (no MySQL server installs here): its SDI document rewritten as MySQL
//! writes it after the ALTERs, and some of its records rewritten in the formats MySQL uses
//! for rows inserted or updated after them, as an UPDATE would (the old record freed, the
//! new one at the heap top). `salvage` must read every row with the table's current
//! columns: CHECKSUM TABLE equal to the rows the history implies, built in MariaDB from the
//! untouched file's rows.
//!
//! Also the ZLOBs in which MySQL 8 keeps a compressed table's long values, written into a
//! MariaDB compressed table's file in place of its ZBLOB chains; and the SDI pages from which
//! `undrop --image` takes a dropped MySQL 8 table's definition and index.

use std::io::Write;

use lifeboat_innodb::index::IndexPage;
use lifeboat_server::testing::TestServer;
use mysql_async::prelude::Queryable;
use serde_json::{Value, json};

use crate::harness::{
    Lb, Shop, Sql, checksum_of, code, compressed, exported, json, load_sql, noise, on_ibd,
    sakila_80, stderr, undrop, write_image,
};

const PAGE: usize = 16384;
/// Page 3 holds actor's SDI, page 4 its clustered index (one leaf).
const SDI_PAGE: usize = 3;
const LEAF: usize = 4;

/// The origin of the table's SDI record (type 1) on the SDI page.
fn sdi_record(ibd: &[u8]) -> usize {
    let page = &ibd[SDI_PAGE * PAGE..(SDI_PAGE + 1) * PAGE];
    IndexPage::new(page)
        .unwrap()
        .records()
        .map(|r| r.unwrap().origin)
        .find(|&o| page[o..o + 4] == 1u32.to_be_bytes())
        .expect("no table SDI record")
}

/// The table's SDI document.
fn sdi_json(ibd: &[u8]) -> Value {
    let page = &ibd[SDI_PAGE * PAGE..(SDI_PAGE + 1) * PAGE];
    let mut page_of = |no: u32| {
        ibd.get(no as usize * PAGE..(no as usize + 1) * PAGE)
            .map(<[u8]>::to_vec)
    };
    let r = lifeboat_innodb::sdi::records(page, &mut page_of)
        .into_iter()
        .map(Result::unwrap)
        .find(|r| r.kind == 1)
        .unwrap();
    serde_json::from_str(&r.json).unwrap()
}

/// Stores `doc` as the table's SDI document, its columns numbered in order, compressed on a
/// new SDI BLOB page (where MySQL keeps a wide table's), and checksums the pages as MySQL
/// does.
fn replace_sdi(ibd: &mut Vec<u8>, doc: &Value) {
    let mut doc = doc.clone();
    for (i, c) in doc["dd_object"]["columns"]
        .as_array_mut()
        .into_iter()
        .flatten()
        .enumerate()
    {
        c["ordinal_position"] = json!(i + 1);
    }
    let text = serde_json::to_string(&doc).unwrap();
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(text.as_bytes()).unwrap();
    let data = z.finish().unwrap();
    assert!(data.len() < PAGE - 100);
    let rec = SDI_PAGE * PAGE + sdi_record(ibd);
    // The data field's length takes two bytes (the top bit set): room for a pointer.
    assert_eq!(ibd[rec - 6] & 0x80, 0x80, "not the fixture expected");
    // type 4, id 8, DB_TRX_ID 6, DB_ROLL_PTR 7, then the two lengths and the data.
    ibd[rec + 25..rec + 29].copy_from_slice(&(text.len() as u32).to_be_bytes());
    ibd[rec + 29..rec + 33].copy_from_slice(&(data.len() as u32).to_be_bytes());
    let space = ibd[34..38].to_vec();
    let blob_no = (ibd.len() / PAGE) as u32;
    let mut blob = vec![0u8; PAGE];
    blob[4..8].copy_from_slice(&blob_no.to_be_bytes());
    blob[8..16].fill(0xff); // no previous, no next page
    blob[24..26].copy_from_slice(&18u16.to_be_bytes()); // FIL_PAGE_SDI_BLOB
    blob[34..38].copy_from_slice(&space);
    blob[38..42].copy_from_slice(&(data.len() as u32).to_be_bytes());
    blob[42..46].fill(0xff); // the last part
    blob[46..46 + data.len()].copy_from_slice(&data);
    ibd.extend(blob);
    ibd[rec - 6] = 0xc0; // two bytes, external
    ibd[rec - 7] = 20;
    let mut ptr = space;
    ptr.extend(blob_no.to_be_bytes());
    ptr.extend(38u32.to_be_bytes());
    ptr.extend((data.len() as u64).to_be_bytes());
    ibd[rec + 33..rec + 53].copy_from_slice(&ptr);
    checksum(ibd, SDI_PAGE);
    checksum(ibd, blob_no as usize);
}

/// crc32 in the header and the trailer, as MySQL writes them.
fn checksum(ibd: &mut [u8], no: usize) {
    let page = &mut ibd[no * PAGE..(no + 1) * PAGE];
    let sum = lifeboat_innodb::checksum::crc32(page).to_be_bytes();
    page[..4].copy_from_slice(&sum);
    page[PAGE - 8..PAGE - 4].copy_from_slice(&sum);
}

/// One of actor's records as the fixture holds it.
struct Actor {
    origin: usize,
    id: u16,
    /// actor_id, DB_TRX_ID, DB_ROLL_PTR: the first 15 bytes.
    key_sys: Vec<u8>,
    first: Vec<u8>,
    last: Vec<u8>,
    update: Vec<u8>,
    owns_slot: bool,
}

fn actors(page: &[u8]) -> Vec<Actor> {
    IndexPage::new(page)
        .unwrap()
        .records()
        .map(|r| {
            let o = r.unwrap().origin;
            // No nullable columns: the two lengths, first_name's nearest the header.
            let (f, l) = (page[o - 6] as usize, page[o - 7] as usize);
            let at = o + 15;
            Actor {
                origin: o,
                id: u16::from_be_bytes([page[o], page[o + 1]]),
                key_sys: page[o..at].to_vec(),
                first: page[at..at + f].to_vec(),
                last: page[at + f..at + f + l].to_vec(),
                update: page[at + f + l..at + f + l + 4].to_vec(),
                owns_slot: page[o - 5] & 0x0f != 0,
            }
        })
        .collect()
}

/// A COMPACT record's bytes and where its origin is in them: the lengths of its
/// variable-length fields (in field order), its null bitmap (in field order), `count` (a
/// field count or row version) before the 5 fixed header bytes, the info bits, the data.
fn record(lens: &[u8], nulls: &[bool], count: u8, info: u8, data: &[u8]) -> (Vec<u8>, usize) {
    let mut out: Vec<u8> = lens.iter().rev().copied().collect();
    let mut bitmap = vec![0u8; nulls.len().div_ceil(8)];
    for (i, &n) in nulls.iter().enumerate() {
        if n {
            bitmap[i / 8] |= 1 << (i % 8);
        }
    }
    out.extend(bitmap.iter().rev());
    out.push(count);
    // info bits and n_owned; heap number and status; next record: set when placed.
    out.extend([info, 0, 0, 0, 0]);
    let origin = out.len();
    out.extend(data);
    (out, origin)
}

/// Puts `new` records on the leaf in place of the records at the given origins: each at
/// the heap top, linked where the old one was; the old one freed.
fn replace_records(page: &mut [u8], new: Vec<(usize, (Vec<u8>, usize))>) {
    const HDR: usize = 38;
    let u16_at = |p: &[u8], at: usize| u16::from_be_bytes([p[at], p[at + 1]]) as usize;
    let put16 = |p: &mut [u8], at: usize, v: usize| {
        p[at..at + 2].copy_from_slice(&(v as u16).to_be_bytes())
    };
    let set_next = |p: &mut [u8], from: usize, to: usize| {
        let rel = if to == 0 {
            0
        } else {
            to.wrapping_sub(from) & 0xffff
        };
        put16(p, from - 2, rel)
    };
    let mut order: Vec<usize> = IndexPage::new(page)
        .unwrap()
        .records()
        .map(|r| r.unwrap().origin)
        .collect();
    let (mut top, mut n_heap) = (u16_at(page, HDR + 2), u16_at(page, HDR + 4) & 0x7fff);
    let (mut free, mut garbage) = (u16_at(page, HDR + 6), u16_at(page, HDR + 8));
    let dir_start = PAGE - 8 - 2 * u16_at(page, HDR);
    for (old, (bytes, origin)) in new {
        assert!(top + bytes.len() < dir_start, "no room on the page");
        page[top..top + bytes.len()].copy_from_slice(&bytes);
        let at = top + origin;
        put16(page, at - 4, n_heap << 3); // status 0: an ordinary record
        n_heap += 1;
        top += bytes.len();
        let k = order.iter().position(|&o| o == old).unwrap();
        order[k] = at;
        // The old record's size: its header (5 bytes, two lengths) and data.
        let (f, l) = (page[old - 6] as usize, page[old - 7] as usize);
        garbage += 7 + 15 + f + l + 4;
        set_next(page, old, free);
        free = old;
    }
    let mut prev = 99; // the infimum
    for &o in &order {
        set_next(page, prev, o);
        prev = o;
    }
    set_next(page, prev, 112); // the supremum
    put16(page, HDR + 2, top);
    put16(page, HDR + 4, 0x8000 | n_heap);
    put16(page, HDR + 6, free);
    put16(page, HDR + 8, garbage);
}

/// `x` as InnoDB stores a signed INT.
fn int(x: i32) -> [u8; 4] {
    ((x as u32) ^ 0x8000_0000).to_be_bytes()
}

/// A copy of the column `like` in the SDI's columns, renamed and retyped.
fn column(like: &Value, name: &str, ty: &str, nullable: bool, private: &str) -> Value {
    let mut c = like.clone();
    c["name"] = json!(name);
    c["column_type_utf8"] = json!(ty);
    c["is_nullable"] = json!(nullable);
    c["se_private_data"] = json!(private);
    c
}

fn table_id(doc: &Value) -> u64 {
    doc["dd_object"]["se_private_id"].as_u64().unwrap()
}

/// MySQL 8.0.12–8.0.28: `ALTER TABLE actor ADD COLUMN nick VARCHAR(20) DEFAULT 'x'`
/// (instant), then rows rewritten: they carry the 0x80 flag and their field count (7).
/// Returns the file and the ids rewritten, with their nick (None: NULL).
fn instant_add_8012(ibd: &[u8]) -> (Vec<u8>, Vec<(u16, Option<String>)>) {
    let mut ibd = ibd.to_vec();
    let mut doc = sdi_json(&ibd);
    let t = &mut doc["dd_object"];
    t["se_private_data"] = json!("autoinc=0;instant_col=4;version=0;");
    let cols = t["columns"].as_array_mut().unwrap();
    let tid = cols[0]["se_private_data"].clone();
    let nick = column(
        &cols[2],
        "nick",
        "varchar(20)",
        true,
        &format!("default=78;{}", tid.as_str().unwrap()),
    );
    cols.insert(4, nick);
    let mut changed = Vec::new();
    rewrite_actors(&mut ibd, &doc, 15, |a| {
        let nick = (a.id % 4 != 0).then(|| format!("n{}", a.id));
        let mut data = [
            a.key_sys.clone(),
            a.first.clone(),
            a.last.clone(),
            a.update.clone(),
        ]
        .concat();
        let mut lens = vec![a.first.len() as u8, a.last.len() as u8];
        if let Some(n) = &nick {
            data.extend(n.as_bytes());
            lens.push(n.len() as u8);
        }
        let rec = record(&lens, &[nick.is_none()], 7, 0x80, &data);
        changed.push((a.id, nick));
        rec
    });
    (ibd, changed)
}

/// Writes `doc` as `ibd`'s SDI and rewrites the rows of actors with ids up to `max_id` as
/// `rewrite` makes them (each the new record an UPDATE puts at the heap top, the old one
/// freed), then checksums the leaf.
fn rewrite_actors(
    ibd: &mut Vec<u8>,
    doc: &Value,
    max_id: u16,
    mut rewrite: impl FnMut(&Actor) -> (Vec<u8>, usize),
) {
    replace_sdi(ibd, doc);
    let leaf = &mut ibd[LEAF * PAGE..(LEAF + 1) * PAGE];
    let new = actors(leaf)
        .iter()
        .filter(|a| a.id <= max_id && !a.owns_slot)
        .map(|a| (a.origin, rewrite(a)))
        .collect();
    replace_records(leaf, new);
    checksum(ibd, LEAF);
}

/// MySQL 8.0.29+: row version 1 `ADD COLUMN nick VARCHAR(20) DEFAULT 'x'`, 2 `DROP COLUMN
/// first_name`, 3 `ADD COLUMN score INT NOT NULL DEFAULT 7 AFTER actor_id` (all instant),
/// with rows rewritten under each version. Returns the file and the ids rewritten, with
/// their version, nick and score.
#[allow(clippy::type_complexity)]
fn row_versions_8029(ibd: &[u8]) -> (Vec<u8>, Vec<(u16, u8, Option<String>, i32)>) {
    let mut ibd = ibd.to_vec();
    let mut doc = sdi_json(&ibd);
    let tid = format!("table_id={};", table_id(&doc));
    let t = &mut doc["dd_object"];
    let cols = t["columns"].as_array().unwrap().clone();
    let named = |n: &str| cols.iter().find(|c| c["name"] == n).unwrap().clone();
    let at = |c: Value, pos: u32, extra: &str| {
        let mut c = c;
        c["se_private_data"] = json!(format!("{extra}physical_pos={pos};{tid}"));
        c
    };
    let mut first = at(named("first_name"), 3, "");
    first["name"] = json!("!hidden!_dropped_v2_p3_first_name");
    first["hidden"] = json!(2);
    first["se_private_data"] = json!(format!("physical_pos=3;{tid}version_dropped=2;"));
    let nick = column(
        &named("last_name"),
        "nick",
        "varchar(20)",
        true,
        &format!("default=78;physical_pos=6;{tid}version_added=1;"),
    );
    let mut score = column(
        &named("actor_id"),
        "score",
        "int",
        false,
        &format!("default=80000007;physical_pos=7;{tid}version_added=3;"),
    );
    score["is_unsigned"] = json!(false);
    score["is_auto_increment"] = json!(false);
    score["column_key"] = json!(1);
    // The table's order: the key, then score (AFTER actor_id), last_name, last_update,
    // nick; the engine's hidden columns after them.
    let new_cols = vec![
        at(named("actor_id"), 0, ""),
        score,
        at(named("last_name"), 4, ""),
        at(named("last_update"), 5, ""),
        nick,
        at(named("DB_TRX_ID"), 1, ""),
        at(named("DB_ROLL_PTR"), 2, ""),
        first,
    ];
    t["columns"] = json!(new_cols);
    let mut changed = Vec::new();
    rewrite_actors(&mut ibd, &doc, 30, |a| {
        let version = (a.id as u8 - 1) / 10 + 1;
        let (nick, score) = match version {
            1 => ((a.id % 2 == 0).then(|| format!("n{}", a.id)), 7),
            2 => (Some(format!("m{}", a.id)), 7),
            _ => (
                (a.id % 3 != 0).then(|| format!("k{}", a.id)),
                i32::from(a.id) * 10,
            ),
        };
        let mut data = a.key_sys.clone();
        let mut lens = Vec::new();
        if version == 1 {
            data.extend(&a.first);
            lens.push(a.first.len() as u8);
        }
        data.extend([a.last.clone(), a.update.clone()].concat());
        lens.push(a.last.len() as u8);
        if let Some(n) = &nick {
            data.extend(n.as_bytes());
            lens.push(n.len() as u8);
        }
        if version == 3 {
            data.extend(int(score));
        }
        let rec = record(&lens, &[nick.is_none()], version, 0x40, &data);
        changed.push((a.id, version, nick, score));
        rec
    });
    (ibd, changed)
}

fn sql_string(s: &Option<String>) -> String {
    s.as_ref().map_or("NULL".into(), |s| format!("'{s}'"))
}

/// Salvages `ibd` (its definition from its SDI) into database `db`: the report.
fn salvage_into(srv: &TestServer, lb: &Lb, ibd: &[u8], db: &str) -> Value {
    let file = srv.tmp().join(format!("{db}.ibd"));
    std::fs::write(&file, ibd).unwrap();
    let out = srv.tmp().join(format!("salvage-{db}"));
    let o = on_ibd(lb, "salvage", &file, None, &out);
    assert_eq!(code(&o), 0, "{db}: {}", stderr(&o));
    load_sql(srv, Some(db), Sql::File(&out.join("actor.sql")));
    json(&o)
}

#[tokio::test(flavor = "multi_thread")]
async fn mysql_8_tables_after_instant_add_and_drop_column_salvage_from_their_sdi() {
    let srv = TestServer::start().await;
    let lb = Lb::new();
    let mut c = srv.conn().await;
    c.query_drop(
        "CREATE DATABASE orig; CREATE DATABASE v1; CREATE DATABASE v2; CREATE DATABASE want",
    )
    .await
    .unwrap();
    let fixture = std::fs::read(sakila_80("actor")).unwrap();
    salvage_into(&srv, &lb, &fixture, "orig");

    // 8.0.12–8.0.28: older records lack nick (its default 'x'), newer ones count their fields.
    let (ibd, changed) = instant_add_8012(&fixture);
    assert!(changed.len() >= 10, "{}", changed.len());
    let r = salvage_into(&srv, &lb, &ibd, "v1");
    assert_eq!(r["rows"], 200, "{r}");
    let nick = changed
        .iter()
        .map(|(id, n)| format!("WHEN {id} THEN {}", sql_string(n)))
        .collect::<Vec<_>>()
        .join(" ");
    c.query_drop(format!(
        "CREATE TABLE want.v1 LIKE v1.actor; \
         INSERT INTO want.v1 (actor_id, first_name, last_name, last_update, nick) \
         SELECT actor_id, first_name, last_name, last_update, CASE actor_id {nick} ELSE 'x' END \
         FROM orig.actor"
    ))
    .await
    .unwrap();
    let (got, want) = (
        checksum_of(&mut c, "v1.actor").await,
        checksum_of(&mut c, "want.v1").await,
    );
    assert!(got.is_some() && got == want, "8.0.12: {got:?} {want:?}");

    // 8.0.29+: row versions 0–3, first_name dropped, score added in the middle.
    let (ibd, changed) = row_versions_8029(&fixture);
    assert!(
        (1..=3).all(|v| changed.iter().filter(|c| c.1 == v).count() >= 5),
        "{}",
        changed.len()
    );
    let r = salvage_into(&srv, &lb, &ibd, "v2");
    assert_eq!(r["rows"], 200, "{r}");
    let cols: Vec<String> = c
        .query("SELECT column_name FROM information_schema.columns WHERE table_schema = 'v2' ORDER BY ordinal_position")
        .await
        .unwrap();
    assert_eq!(
        cols,
        ["actor_id", "score", "last_name", "last_update", "nick"]
    );
    let (nick, score): (Vec<String>, Vec<String>) = changed
        .iter()
        .map(|(id, _, n, s)| {
            (
                format!("WHEN {id} THEN {}", sql_string(n)),
                format!("WHEN {id} THEN {s}"),
            )
        })
        .unzip();
    c.query_drop(format!(
        "CREATE TABLE want.v2 LIKE v2.actor; \
         INSERT INTO want.v2 (actor_id, score, last_name, last_update, nick) \
         SELECT actor_id, CASE actor_id {} ELSE 7 END, last_name, last_update, \
         CASE actor_id {} ELSE 'x' END FROM orig.actor",
        score.join(" "),
        nick.join(" ")
    ))
    .await
    .unwrap();
    let (got, want) = (
        checksum_of(&mut c, "v2.actor").await,
        checksum_of(&mut c, "want.v2").await,
    );
    assert!(got.is_some() && got == want, "8.0.29: {got:?} {want:?}");

    // The same file's blocks in a disk image: undrop reads the definition and the index
    // from its SDI there, and the same rows come back.
    let img = srv.tmp().join("v2.img");
    write_image(&img, 400_000, 200_003, &ibd);
    let out = srv.tmp().join("undrop-v2");
    let r = undrop(&lb, ("--image", &img), "sakila.actor", &[], &out);
    assert_eq!(r["rows"], 200, "{r}");
    c.query_drop("CREATE DATABASE undropped").await.unwrap();
    load_sql(&srv, Some("undropped"), Sql::File(&out.join("actor.sql")));
    let got = checksum_of(&mut c, "undropped.actor").await;
    assert!(got.is_some() && got == want, "undrop: {got:?} {want:?}");

    // Rows deleted while purge waits: delete-marked records of versions 0, 1 and 3 come
    // back from `undelete`, with the values their version implies.
    let mut deleted = ibd.clone();
    let gone = [1u16, 23, 150];
    let version_of = |id: u16| changed.iter().find(|c| c.0 == id).map_or(0, |c| c.1);
    assert_eq!(gone.map(version_of), [1, 3, 0]);
    {
        let leaf = &mut deleted[LEAF * PAGE..(LEAF + 1) * PAGE];
        for a in actors(leaf) {
            if gone.contains(&a.id) {
                leaf[a.origin - 5] |= 0x20;
            }
        }
    }
    checksum(&mut deleted, LEAF);
    let file = srv.tmp().join("deleted.ibd");
    std::fs::write(&file, &deleted).unwrap();
    let out = srv.tmp().join("undelete-v2");
    let o = on_ibd(&lb, "undelete", &file, None, &out);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(json(&o)["rows"], 3, "{}", json(&o));
    c.query_drop("CREATE DATABASE undeleted").await.unwrap();
    load_sql(&srv, Some("undeleted"), Sql::File(&out.join("actor.sql")));
    let got: Vec<(u16, i32, Option<String>)> = c
        .query("SELECT actor_id, score, nick FROM undeleted.actor ORDER BY actor_id")
        .await
        .unwrap();
    let want: Vec<(u16, i32, Option<String>)> = gone
        .iter()
        .map(|id| match changed.iter().find(|c| c.0 == *id) {
            Some((_, _, nick, score)) => (*id, *score, nick.clone()),
            None => (*id, 7, Some("x".into())),
        })
        .collect();
    assert_eq!(got, want);

    // Given a CREATE TABLE instead of the SDI, a versioned record is refused by name.
    let ddl = srv.tmp().join("actor.ddl");
    std::fs::write(
        &ddl,
        "CREATE TABLE actor (actor_id smallint unsigned NOT NULL, score int NOT NULL, \
         last_name varchar(45) NOT NULL, last_update timestamp NOT NULL, nick varchar(20), \
         PRIMARY KEY (actor_id)) DEFAULT CHARSET=utf8mb4",
    )
    .unwrap();
    let out = srv.tmp().join("salvage-ddl");
    let o = on_ibd(&lb, "salvage", &srv.tmp().join("v2.ibd"), Some(&ddl), &out);
    assert_ne!(code(&o), 0);
    let e = stderr(&o);
    assert!(e.contains("row version") && e.contains("SDI"), "{e}");
}

/// The ZBLOB chains (one zlib stream) that `ibd`, a tablespace of `zip`-byte compressed
/// pages, keeps for values longer than 128 KiB, rewritten as MySQL 8 stores those: a ZLOB
/// in pages appended to the file, the record's BLOB pointer (kept uncompressed at the end
/// of its compressed page) turned to its first page and LOB version 1. The pages get the
/// compressed pages' CRC-32 checksum. Returns the new file and how many values moved.
fn zlobs_for_long_values(ibd: &[u8], zip: usize) -> (Vec<u8>, usize) {
    use lifeboat_innodb::checksum::zip_crc32;
    let page = |no: usize| &ibd[no * zip..(no + 1) * zip];
    let ty = |p: &[u8]| u16::from_be_bytes([p[24], p[25]]);
    let space_id = &ibd[34..38];
    let mut out = ibd.to_vec();
    let mut moved = 0;
    let seal = |p: &mut [u8]| {
        let sum = zip_crc32(p);
        p[..4].copy_from_slice(&sum.to_be_bytes());
    };
    for first in 0..ibd.len() / zip {
        if ty(page(first)) != lifeboat_innodb::zip::ZBLOB {
            continue;
        }
        // The pointer: space id, first page, offset 12 (FIL_PAGE_NEXT), then the length.
        let mut needle = space_id.to_vec();
        needle.extend((first as u32).to_be_bytes());
        needle.extend(12u32.to_be_bytes());
        let (leaf, at) = (0..ibd.len() / zip)
            .filter(|&no| ty(page(no)) == 17855)
            .find_map(|no| {
                let p = page(no);
                p.windows(12).position(|w| w == needle).map(|at| (no, at))
            })
            .expect("the record pointing to the chain");
        let len = u32::from_be_bytes(page(leaf)[at + 16..at + 20].try_into().unwrap());
        if (len as usize) <= 128 * 1024 {
            continue;
        }
        let value = lifeboat_innodb::zip::read_zblob(first as u32, u64::from(len), &mut |n| {
            ibd.get(n as usize * zip..(n as usize + 1) * zip)
                .map(<[u8]>::to_vec)
        })
        .unwrap();
        let first_no = (out.len() / zip) as u32;
        for (no, mut p) in lifeboat_innodb::testing::zlob(zip, first_no, &value) {
            assert_eq!(no as usize * zip, out.len());
            p[34..38].copy_from_slice(space_id);
            seal(&mut p);
            out.extend(p);
        }
        let p = &mut out[leaf * zip..(leaf + 1) * zip];
        p[at + 4..at + 8].copy_from_slice(&first_no.to_be_bytes());
        p[at + 8..at + 12].copy_from_slice(&1u32.to_be_bytes());
        seal(p);
        moved += 1;
    }
    (out, moved)
}

/// MySQL 8 stores a compressed table's values longer than 128 KiB as ZLOBs (no MySQL here:
/// a MariaDB compressed table's long values are rewritten so, see
/// [`zlobs_for_long_values`]). `salvage` and `undrop --image` read them: CHECKSUM TABLE
/// equal to the server's table. Shorter values stay ZBLOB chains in the same file.
#[tokio::test(flavor = "multi_thread")]
async fn compressed_tables_long_values_in_zlobs_salvage_and_undrop_mariadb_only() {
    let srv = TestServer::start_with(compressed).await;
    let lb = Lb::new();
    let mut c = srv.conn().await;
    // Hex text deflates to about half: streams over several data pages. Lengths just past
    // one chunk (a one-byte second chunk), several chunks, and short ones that stay ZBLOBs.
    Shop::empty().build(&srv).await;
    c.query_drop(
        "SET SESSION group_concat_max_len = 16777216;
         CREATE DATABASE salvaged; CREATE DATABASE undropped;
         CREATE TABLE shop.docs (id INT PRIMARY KEY, name VARCHAR(40), body LONGBLOB)
           ENGINE=InnoDB ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=8;
         INSERT INTO shop.docs SELECT seq, CONCAT('doc ', seq), NULL FROM shop.seq_1_to_60;
         CREATE TEMPORARY TABLE shop.sizes (id INT, n INT);
         INSERT INTO shop.sizes VALUES (5, 131073), (10, 300000), (15, 700001), (20, 100000),
           (25, 131072), (30, 2000);
         UPDATE shop.docs d JOIN shop.sizes s USING (id) SET d.body = (SELECT SUBSTRING(
           GROUP_CONCAT(SHA2(CONCAT(s.id, '-', seq), 256) SEPARATOR ''), 1, s.n)
           FROM shop.seq_1_to_12000);",
    )
    .await
    .unwrap();
    let lens: Vec<u64> = c
        .query("SELECT LENGTH(body) FROM shop.docs WHERE body IS NOT NULL ORDER BY id")
        .await
        .unwrap();
    assert_eq!(lens, [131073, 300000, 700001, 100000, 131072, 2000]);
    let want = checksum_of(&mut c, "shop.docs").await;
    let (copy, schema) = exported(&srv, "shop", "docs").await;
    let (ibd, moved) = zlobs_for_long_values(&std::fs::read(&copy).unwrap(), 8192);
    assert_eq!(moved, 3, "the three values longer than 128 KiB");
    std::fs::write(&copy, &ibd).unwrap();

    let out = srv.tmp().join("salvage-docs");
    let o = on_ibd(&lb, "salvage", &copy, Some(&schema), &out);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["rows"], 60, "{r}");
    assert_eq!(r["damaged"], json!([]), "{r}");
    load_sql(&srv, Some("salvaged"), Sql::File(&out.join("docs.sql")));
    assert_eq!(checksum_of(&mut c, "salvaged.docs").await, want, "{r}");

    // In a disk image, at an odd offset among other bytes: the carver keeps the ZLOB pages
    // (by their compressed pages' checksum) along with the table's.
    let img = srv.tmp().join("docs.img");
    write_image(&img, 3_000_000, 1_234_567, &ibd);
    let out = srv.tmp().join("undrop-docs");
    let r = undrop(
        &lb,
        ("--image", &img),
        "shop.docs",
        &["--schema", schema.to_str().unwrap()],
        &out,
    );
    assert_eq!(
        (r["rows"].as_u64(), r["lost"].as_u64()),
        (Some(60), Some(0)),
        "{r}"
    );
    load_sql(&srv, Some("undropped"), Sql::File(&out.join("docs.sql")));
    assert_eq!(checksum_of(&mut c, "undropped.docs").await, want, "{r}");

    // A ZLOB data page zeroed in the file: its row is reported lost, never written wrong.
    let first_zlob = ibd
        .chunks(8192)
        .position(|p| u16::from_be_bytes([p[24], p[25]]) == lifeboat_innodb::lob::ZLOB_DATA)
        .unwrap();
    let mut damaged = ibd.clone();
    damaged[first_zlob * 8192..(first_zlob + 1) * 8192].fill(0);
    std::fs::write(&copy, &damaged).unwrap();
    let out = srv.tmp().join("salvage-damaged");
    let o = on_ibd(&lb, "salvage", &copy, Some(&schema), &out);
    assert!(code(&o) <= 1, "{}", stderr(&o));
    let r = json(&o);
    assert_eq!(r["rows"], 59, "{r}");
    let problem = r["damaged"][0]["problem"].as_str().unwrap_or_default();
    assert!(
        problem.contains(&format!("page {first_zlob} of a ZLOB stream")),
        "{r}"
    );
}

/// MySQL 8 keeps no SYS_ tables: `undrop --image` without a definition takes the dropped
/// tables' own SDI pages from the image (film's document on an SDI BLOB page), their
/// CREATE TABLE and the clustered index they name. The rows equal what `salvage` reads from
/// the files themselves.
#[tokio::test(flavor = "multi_thread")]
async fn undrop_of_mysql_8_tables_takes_definition_and_index_from_their_sdi() {
    let srv = TestServer::start().await;
    let srv_tmp = srv.tmp();
    let lb = Lb::new();
    let mut image = noise(1_500_000);
    for (at, table) in [(900_007, "film"), (400_001, "actor")] {
        let mut ibd = std::fs::read(sakila_80(table)).unwrap();
        // film's document as a wide table's would be stored: on an SDI BLOB page.
        if table == "film" {
            let doc = sdi_json(&ibd);
            replace_sdi(&mut ibd, &doc);
        }
        std::fs::write(srv_tmp.join(format!("{table}.ibd")), &ibd).unwrap();
        image.splice(at..at, ibd);
    }
    let img = srv.tmp().join("mysql8.img");
    std::fs::write(&img, &image).unwrap();
    srv.exec("CREATE DATABASE undropped; CREATE DATABASE salvaged")
        .await;
    let mut c = srv.conn().await;
    for (table, rows, index) in [("film", 1000, 167), ("actor", 200, 154)] {
        let out = srv.tmp().join(format!("undrop-{table}"));
        let r = undrop(
            &lb,
            ("--image", &img),
            &format!("sakila.{table}"),
            &[],
            &out,
        );
        assert_eq!(r["rows"], rows, "{table}: {r}");
        assert_eq!(r["chosen"]["index_id"], index, "{table}: {r}");
        assert!(r["chosen_by"].as_str().unwrap().contains("SDI"), "{r}");
        load_sql(
            &srv,
            Some("undropped"),
            Sql::File(&out.join(format!("{table}.sql"))),
        );
        let salvaged = srv.tmp().join(format!("salvage-{table}"));
        let o = on_ibd(
            &lb,
            "salvage",
            &srv.tmp().join(format!("{table}.ibd")),
            None,
            &salvaged,
        );
        assert_eq!(code(&o), 0, "{table}: {}", stderr(&o));
        load_sql(
            &srv,
            Some("salvaged"),
            Sql::File(&salvaged.join(format!("{table}.sql"))),
        );
        let (a, b) = (
            checksum_of(&mut c, &format!("undropped.{table}")).await,
            checksum_of(&mut c, &format!("salvaged.{table}")).await,
        );
        assert!(a.is_some() && a == b, "{table}: {a:?} {b:?}");
    }
}
