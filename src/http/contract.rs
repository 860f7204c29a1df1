//! The API's own contract: the OpenAPI 3.1 document in `api/openapi.json`
//! (the RealWorld 1.1.0 operations plus what Conduit adds), embedded at
//! build time and served at `/api/openapi.json`. A test holds it and the
//! route table to the same operations.

use warp::http::header::{HeaderValue, CONTENT_TYPE};
use warp::reply::Response;

use super::route::{route, Call, Reply, Route};

/// The document, as served.
pub const DOCUMENT: &str = include_str!("../../api/openapi.json");

pub const ROUTES: &[Route] = &[route!(GET "/api/openapi.json" => document)];

async fn document(_call: Call) -> Reply {
    let mut response = Response::new(DOCUMENT.into());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::DOCUMENT;
    use crate::http::route::Verb;
    use crate::http::ALL;

    /// Where the document's paths are rooted (its one server).
    const BASE: &str = "/api";

    /// Every `METHOD /path` the document declares, paths in its
    /// `{name}` form.
    fn documented() -> BTreeSet<String> {
        let document: Value = serde_json::from_str(DOCUMENT).expect("the document is JSON");
        assert_eq!(document["openapi"].as_str().map(|v| &v[..3]), Some("3.1"));
        assert_eq!(document["servers"][0]["url"], BASE);
        let paths = document["paths"].as_object().expect("paths");
        let mut operations = BTreeSet::new();
        for (path, item) in paths {
            for method in [
                "get", "head", "post", "put", "delete", "patch", "options", "trace",
            ] {
                if item.get(method).is_some() {
                    operations.insert(format!("{} {path}", method.to_uppercase()));
                }
            }
        }
        operations
    }

    /// Every `METHOD /path` the route table serves under `/api`, HEAD
    /// beside each GET (as the server answers it), `:name` as `{name}`.
    fn routed() -> BTreeSet<String> {
        let mut operations = BTreeSet::new();
        for route in ALL.routes() {
            let Some(path) = route.template.strip_prefix(BASE) else {
                continue; // operations endpoints, outside the API
            };
            let path = path
                .split('/')
                .map(|segment| match segment.strip_prefix(':') {
                    Some(name) => format!("{{{name}}}"),
                    None => segment.to_owned(),
                })
                .collect::<Vec<_>>()
                .join("/");
            let methods: &[&str] = match route.verb {
                Verb::Get => &["GET", "HEAD"],
                Verb::Post => &["POST"],
                Verb::Put => &["PUT"],
                Verb::Delete => &["DELETE"],
            };
            for method in methods {
                operations.insert(format!("{method} {path}"));
            }
        }
        operations
    }

    #[test]
    fn the_document_and_the_route_table_list_the_same_operations() {
        let (documented, routed) = (documented(), routed());
        let undocumented: Vec<_> = routed.difference(&documented).collect();
        let unserved: Vec<_> = documented.difference(&routed).collect();
        assert!(
            undocumented.is_empty() && unserved.is_empty(),
            "served but not in api/openapi.json: {undocumented:?}; \
             in api/openapi.json but not served: {unserved:?}"
        );
        assert!(routed.contains("GET /openapi.json"), "the document itself");
        assert_eq!(routed.len(), 20 + 8, "20 API endpoints, 8 of them GETs");
    }
}
