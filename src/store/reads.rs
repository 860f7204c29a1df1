//! Where a read may be served: the primary, or a read replica that has
//! replayed what the reader wrote.
//!
//! After a write, the server tells the client the primary's position in
//! its write-ahead log ([`WalPosition`]); the client sends it back with its
//! next requests (a cookie does this for browsers). A read that carries a
//! position runs on the replica once the replica has replayed up to it,
//! waiting briefly, and otherwise on the primary: a client always sees its
//! own writes, whichever process answers. docs/operations.md, "Reads on
//! replicas", gives the reasons and what happens when a replica lags or
//! dies.

use std::fmt;

/// A position in the primary's write-ahead log (a PostgreSQL LSN as a
/// number). Positions only grow, also across a failover.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct WalPosition(pub u64);

impl WalPosition {
    /// Parses the form [`fmt::Display`] writes: hexadecimal, at most 16
    /// digits.
    pub fn parse(text: &str) -> Option<WalPosition> {
        if text.is_empty() || text.len() > 16 {
            return None;
        }
        u64::from_str_radix(text, 16).ok().map(WalPosition)
    }
}

impl fmt::Display for WalPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

/// What a reader requires of the copy it reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadFrom {
    /// The primary: the reader sent a position that could not be read, or
    /// the read decides what happens next (a lookup before a write).
    Primary,
    /// A replica, for a reader that wrote nothing recently. A lookup that
    /// finds nothing there is asked of the primary again, in case it was
    /// written a moment ago by a client that does not send positions.
    AnyReplica,
    /// A replica that has replayed at least this position.
    After(WalPosition),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_through_their_text_and_refuse_anything_else() {
        for position in [0, 1, 0x16_B374_D848, u64::MAX] {
            let text = WalPosition(position).to_string();
            assert_eq!(WalPosition::parse(&text), Some(WalPosition(position)));
        }
        for bad in ["", "xyz", "-1", "0/16B374D8", "1ffffffffffffffff", " 1"] {
            assert_eq!(WalPosition::parse(bad), None, "{bad:?}");
        }
    }
}
