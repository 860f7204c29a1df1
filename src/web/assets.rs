//! The app's own static files, compiled into the binary: one stylesheet and
//! the default avatar. Each is served under a name that carries a hash of
//! its content, so browsers may keep it for a year and a new release still
//! loads the new file.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};
use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Reply as _;

use crate::http::route::{route, Call, Reply, Route};
use crate::http::ApiError;

pub const ROUTES: &[Route] = &[route!(GET "/assets/:file" => asset)];

struct Asset {
    /// `style-<hash>.css`: the name pages link to.
    name: String,
    content_type: &'static str,
    body: &'static [u8],
}

impl Asset {
    fn new(stem: &str, extension: &str, content_type: &'static str, body: &'static [u8]) -> Asset {
        let digest = Sha256::digest(body);
        let hash: String = digest[..6].iter().map(|b| format!("{b:02x}")).collect();
        Asset {
            name: format!("{stem}-{hash}.{extension}"),
            content_type,
            body,
        }
    }
}

static STYLESHEET: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "style",
        "css",
        "text/css; charset=utf-8",
        include_bytes!("assets/style.css"),
    )
});

static AVATAR: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "avatar",
        "svg",
        "image/svg+xml",
        include_bytes!("assets/avatar.svg"),
    )
});

/// The stylesheet's path, below the base path (`/assets/style-1a2b3c.css`).
pub fn stylesheet_path() -> String {
    format!("/assets/{}", STYLESHEET.name)
}

/// The default avatar's path, below the base path.
pub fn avatar_path() -> String {
    format!("/assets/{}", AVATAR.name)
}

/// Only the current names are served: an old hash is a 404, never a stale
/// file under a name that promises it never changes.
async fn asset(call: Call) -> Reply {
    let name = call.param("file");
    let asset = [&*STYLESHEET, &*AVATAR]
        .into_iter()
        .find(|asset| asset.name == name)
        .ok_or_else(|| ApiError::NotFound(format!("no file named {name}")))?;
    let mut response = asset.body.into_response();
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    Ok(response)
}
