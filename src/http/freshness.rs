//! Read-your-writes over HTTP: after a write, the answer carries the
//! primary's log position (header `Conduit-Written`, and a cookie of the
//! same meaning for browsers); a request that sends it back reads from a
//! replica only once the replica has replayed that far. See
//! `store/reads.rs`.

use warp::http::header::SET_COOKIE;
use warp::http::{HeaderMap, HeaderValue};
use warp::reply::Response;

use super::client::ClientAddr;
use super::context::Ctx;
use crate::store::{ReadFrom, WalPosition};

/// The header a client echoes: the position of its last write.
pub const HEADER: &str = "conduit-written";

/// The cookie that carries the same for browsers.
const COOKIE_NAME: &str = "conduit_written";

/// How long a browser keeps sending its position. Replicas replay within
/// milliseconds; a minute covers a replica that fell behind for a while.
const COOKIE_MAX_AGE_SECS: u64 = 60;

/// Where this request's reads may go: a replica that has replayed the
/// position it sent (the header wins over the cookie), any replica when it
/// sent none, the primary when what it sent cannot be read.
pub fn read_from(headers: &HeaderMap) -> ReadFrom {
    let sent = headers
        .get(HEADER)
        .map(|value| value.to_str().unwrap_or_default().trim().to_owned())
        .or_else(|| super::site::request_cookie(headers, COOKIE_NAME));
    match sent {
        None => ReadFrom::AnyReplica,
        Some(text) => match WalPosition::parse(&text) {
            Some(position) => ReadFrom::After(position),
            None => ReadFrom::Primary,
        },
    }
}

/// Adds the position after a successful write, when reads may leave the
/// primary (otherwise there is nothing to wait for, and nothing is added).
/// A failure to learn it is logged, never the client's problem: its next
/// read may then be served by a replica that has not caught up.
pub async fn stamp(ctx: &Ctx, client: Option<ClientAddr>, response: &mut Response) {
    let db = &ctx.db;
    if !db.store().has_read_replica() {
        return;
    }
    let position = match db.run(|store| store.written_position()).await {
        Ok(Some(position)) => position,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(cause = %error.report(), "could not read the write position");
            return;
        }
    };
    let text = position.to_string();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&text) {
        headers.insert(HEADER, value);
    }
    headers.append(
        SET_COOKIE,
        ctx.site.cookie(
            client.map(|c| c.ip),
            COOKIE_NAME,
            &text,
            COOKIE_MAX_AGE_SECS,
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn the_sent_position_decides_where_reads_go() {
        let after = |n| ReadFrom::After(WalPosition(n));
        for (sent, expected) in [
            (headers(&[]), ReadFrom::AnyReplica),
            (headers(&[("conduit-written", "2a")]), after(0x2a)),
            (
                headers(&[("cookie", "a=b; conduit_written=ff")]),
                after(0xff),
            ),
            (
                headers(&[("conduit-written", "10"), ("cookie", "conduit_written=ff")]),
                after(0x10),
            ),
            (headers(&[("conduit-written", "0/2A")]), ReadFrom::Primary),
            (
                headers(&[("cookie", "conduit_written=")]),
                ReadFrom::Primary,
            ),
            (
                headers(&[("cookie", "conduit_session=x")]),
                ReadFrom::AnyReplica,
            ),
        ] {
            assert_eq!(read_from(&sent), expected, "{sent:?}");
        }
    }
}
