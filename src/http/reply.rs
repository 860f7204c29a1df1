//! Successful JSON replies: a value as it is ([`json`]), or wrapped in the
//! RealWorld envelope `{"article": ...}` ([`enveloped`]). Errors have their
//! own type in [`super::error`].

use serde::Serialize;
use warp::http::StatusCode;
use warp::reply::{Reply, Response};

/// A JSON response with `status`.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    warp::reply::with_status(warp::reply::json(value), status).into_response()
}

/// `{"<key>": value}` with `status`, serialized straight from `value`
/// (no intermediate JSON tree).
pub fn enveloped<T: Serialize>(status: StatusCode, key: &'static str, value: &T) -> Response {
    json(status, &Envelope { key, value })
}

struct Envelope<'a, T> {
    key: &'static str,
    value: &'a T,
}

impl<T: Serialize> Serialize for Envelope<'_, T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.key, self.value)?;
        map.end()
    }
}
