//! Prints the events of a binlog file, one per line (a debugging aid).
fn main() {
    let path = std::env::args().nth(1).expect("usage: events FILE");
    let f = std::fs::File::open(&path).expect("open");
    let mut r =
        lifeboat_binlog::FileReader::new(std::io::BufReader::new(f), path.clone()).expect("binlog");
    loop {
        let fde = r.format().clone();
        match r.next_event() {
            Ok(Some(ev)) => {
                let d = lifeboat_binlog::Event::decode(&fde, ev.event_type(), ev.data);
                let s: String = format!("{d:?}").chars().take(160).collect();
                println!("{} {} {s}", ev.offset, ev.event_type().name());
            }
            Ok(None) => break,
            Err(e) => {
                println!("error: {e}");
                break;
            }
        }
    }
    println!(
        "end {:?}, last transaction end {}",
        r.end(),
        r.last_transaction_end()
    );
}
