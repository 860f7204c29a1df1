//! The app's own static files, compiled into the binary: the stylesheet,
//! the icon and the default avatar. Each is served under a name that
//! carries a hash of its content, so browsers may keep it for a year and a
//! new release still loads the new file. `/favicon.ico`, which browsers ask
//! for on their own, leads to the icon.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};
use warp::http::header::{CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use warp::http::{HeaderValue, StatusCode};
use warp::reply::Reply as _;

use crate::http::route::{route, Call, Reply, Route};
use crate::http::ApiError;

pub const ROUTES: &[Route] = &[
    route!(GET "/assets/:file" => asset),
    route!(GET "/favicon.ico" => favicon),
];

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

static FAVICON: LazyLock<Asset> = LazyLock::new(|| {
    Asset::new(
        "favicon",
        "svg",
        "image/svg+xml",
        include_bytes!("assets/favicon.svg"),
    )
});

/// The icon's path, below the base path.
pub fn favicon_path() -> String {
    format!("/assets/{}", FAVICON.name)
}

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
    let asset = [&*STYLESHEET, &*FAVICON, &*AVATAR]
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

/// Where the icon is, for a client that asks the conventional address: a
/// temporary redirect, kept for a day, since the icon's name changes with
/// its content.
async fn favicon(call: Call) -> Reply {
    let location = format!("{}{}", call.ctx.site.base_path, favicon_path());
    let mut response = StatusCode::FOUND.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(LOCATION, value);
    }
    headers.insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    Ok(response)
}
