//! Decoding a stream of events with the state it needs: the table maps that row events
//! refer to, and the GTID of the transaction being read.

use std::collections::HashMap;

use crate::events::{DecodeError, Event};
use crate::file::RawEvent;
use crate::frame::FormatDescription;
use crate::gtid::Gtid;
use crate::table::TableDef;

/// Keeps the table maps and current GTID while events are decoded in order.
#[derive(Debug, Default)]
pub struct Decoder {
    /// Table id → (the TABLE_MAP's data, its definition): a map repeated byte for byte
    /// (every transaction maps its tables again) is not parsed again.
    tables: HashMap<u64, (Vec<u8>, TableDef)>,
    gtid: Option<Gtid>,
    gtid_text: Option<String>,
}

impl Decoder {
    /// A decoder with no table maps yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Decodes `raw` under `fde`, remembering TABLE_MAP definitions and GTIDs.
    pub fn decode<'a>(
        &mut self,
        fde: &FormatDescription,
        raw: &RawEvent<'a>,
    ) -> Result<Event<'a>, DecodeError> {
        let ev = Event::decode(fde, raw.event_type(), raw.data)?;
        match &ev {
            Event::TableMap(m) => {
                if self
                    .tables
                    .get(&m.table_id)
                    .is_some_and(|(raw_map, _)| raw_map.as_slice() == raw.data)
                {
                    return Ok(ev);
                }
                let def = TableDef::from_map(m).map_err(|reason| DecodeError {
                    event: "Table_map",
                    reason: format!(
                        "`{}`.`{}`: {reason}",
                        String::from_utf8_lossy(m.schema),
                        String::from_utf8_lossy(m.table)
                    ),
                })?;
                self.tables.insert(m.table_id, (raw.data.to_vec(), def));
            }
            Event::Gtid(_) | Event::MariadbGtid(_) => {
                self.gtid = ev.gtid(raw.header.server_id);
            }
            Event::FormatDescription(_) | Event::Rotate { .. } => {
                // A new file (or server) starts: its table ids mean nothing from before.
                self.tables.clear();
            }
            _ => {}
        }
        if matches!(ev, Event::Gtid(_) | Event::MariadbGtid(_)) {
            self.gtid_text = self.gtid.as_ref().map(ToString::to_string);
        }
        Ok(ev)
    }

    /// Decodes `raw` and, for a compressed transaction (TRANSACTION_PAYLOAD), the events
    /// inside it: `f` sees the event, then each inner event (at the payload's offset), in
    /// order, with the decoder's state as of that event. Decoding errors go through `err`.
    pub fn decode_each<'a, E>(
        &mut self,
        fde: &FormatDescription,
        raw: &RawEvent<'a>,
        err: impl Fn(DecodeError) -> E,
        mut f: impl FnMut(&Decoder, &RawEvent<'_>, &Event<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let ev = self.decode(fde, raw).map_err(&err)?;
        f(self, raw, &ev)?;
        if let Event::TransactionPayload {
            compression,
            uncompressed_size,
            payload,
        } = &ev
        {
            let bytes = crate::events::payload_bytes(*compression, *uncompressed_size, payload)
                .map_err(&err)?;
            for item in crate::events::payload_events(&bytes) {
                let (header, data) = item.map_err(&err)?;
                let inner = RawEvent {
                    offset: raw.offset,
                    header,
                    bytes: data,
                    data,
                };
                let ev = self.decode(fde, &inner).map_err(&err)?;
                f(self, &inner, &ev)?;
            }
        }
        Ok(())
    }

    /// The definition a row event's table id refers to.
    pub fn table(&self, table_id: u64) -> Option<&TableDef> {
        self.tables.get(&table_id).map(|(_, t)| t)
    }

    /// The GTID of the transaction being read (the last GTID event seen).
    pub fn gtid(&self) -> Option<&Gtid> {
        self.gtid.as_ref()
    }

    /// The current GTID as text (formatted once per transaction).
    pub fn gtid_text(&self) -> Option<&str> {
        self.gtid_text.as_deref()
    }
}
