//! Event type codes: MySQL 0–42 and MariaDB 160–172.

macro_rules! event_types {
    ($($name:ident = $code:literal, $text:literal;)*) => {
        /// The type code of an event (the fifth byte of its header).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum EventType {
            $(
                #[doc = $text]
                $name,
            )*
            /// A code this crate does not know; the event is passed through raw.
            Other(u8),
        }

        impl EventType {
            /// The type of code `c`.
            pub fn from_code(c: u8) -> Self {
                match c {
                    $($code => Self::$name,)*
                    other => Self::Other(other),
                }
            }

            /// The numeric code.
            pub fn code(self) -> u8 {
                match self {
                    $(Self::$name => $code,)*
                    Self::Other(c) => c,
                }
            }

            /// The server's name for it (`Write_rows_v1`, `Gtid`, …).
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$name => $text,)*
                    Self::Other(_) => "Unknown",
                }
            }
        }
    };
}

event_types! {
    Unknown = 0, "Unknown";
    StartV3 = 1, "Start_v3";
    Query = 2, "Query";
    Stop = 3, "Stop";
    Rotate = 4, "Rotate";
    Intvar = 5, "Intvar";
    Load = 6, "Load";
    Slave = 7, "Slave";
    CreateFile = 8, "Create_file";
    AppendBlock = 9, "Append_block";
    ExecLoad = 10, "Exec_load";
    DeleteFile = 11, "Delete_file";
    NewLoad = 12, "New_load";
    Rand = 13, "RAND";
    UserVar = 14, "User_var";
    FormatDescription = 15, "Format_desc";
    Xid = 16, "Xid";
    BeginLoadQuery = 17, "Begin_load_query";
    ExecuteLoadQuery = 18, "Execute_load_query";
    TableMap = 19, "Table_map";
    PreGaWriteRows = 20, "Write_rows_v0";
    PreGaUpdateRows = 21, "Update_rows_v0";
    PreGaDeleteRows = 22, "Delete_rows_v0";
    WriteRowsV1 = 23, "Write_rows_v1";
    UpdateRowsV1 = 24, "Update_rows_v1";
    DeleteRowsV1 = 25, "Delete_rows_v1";
    Incident = 26, "Incident";
    Heartbeat = 27, "Heartbeat";
    Ignorable = 28, "Ignorable";
    RowsQuery = 29, "Rows_query";
    WriteRows = 30, "Write_rows";
    UpdateRows = 31, "Update_rows";
    DeleteRows = 32, "Delete_rows";
    Gtid = 33, "Gtid";
    AnonymousGtid = 34, "Anonymous_Gtid";
    PreviousGtids = 35, "Previous_gtids";
    TransactionContext = 36, "Transaction_context";
    ViewChange = 37, "View_change";
    XaPrepare = 38, "XA_prepare";
    PartialUpdateRows = 39, "Update_rows_partial";
    TransactionPayload = 40, "Transaction_payload";
    HeartbeatV2 = 41, "Heartbeat_v2";
    GtidTagged = 42, "Gtid_tagged_log";
    AnnotateRows = 160, "Annotate_rows";
    BinlogCheckpoint = 161, "Binlog_checkpoint";
    MariadbGtid = 162, "Gtid";
    GtidList = 163, "Gtid_list";
    StartEncryption = 164, "Start_encryption";
    QueryCompressed = 165, "Query_compressed";
    WriteRowsCompressedV1 = 166, "Write_rows_compressed_v1";
    UpdateRowsCompressedV1 = 167, "Update_rows_compressed_v1";
    DeleteRowsCompressedV1 = 168, "Delete_rows_compressed_v1";
    WriteRowsCompressed = 169, "Write_rows_compressed";
    UpdateRowsCompressed = 170, "Update_rows_compressed";
    DeleteRowsCompressed = 171, "Delete_rows_compressed";
    PartialRowData = 172, "Partial_row_data";
}

impl EventType {
    /// Row events of any version, compressed or not.
    pub fn is_rows(self) -> bool {
        matches!(
            self.code(),
            20..=25 | 30..=32 | 39 | 166..=171
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for c in 0..=255u8 {
            assert_eq!(EventType::from_code(c).code(), c);
        }
        assert_eq!(EventType::from_code(33), EventType::Gtid);
        assert_eq!(EventType::from_code(162), EventType::MariadbGtid);
        assert_eq!(EventType::from_code(99), EventType::Other(99));
        assert!(EventType::WriteRowsCompressed.is_rows());
        assert!(!EventType::TableMap.is_rows());
    }
}
