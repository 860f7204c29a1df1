//! Settings of the web app that the HTTP layer carries to every page
//! handler in [`super::Ctx`]: where the app is published (its path and
//! origin), and when its session cookie is `Secure`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::{Deserialize, Serialize};
use warp::http::HeaderValue;

use super::client::ClientAddr;

/// When the session cookie carries `Secure` (`cookie_secure`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CookieSecure {
    /// Always, except for a request that came over plain HTTP from a
    /// loopback address: the developer's own browser on `./conduit serve`.
    #[default]
    Auto,
    Always,
    /// For a deployment reached over plain HTTP only, where a browser would
    /// drop a `Secure` cookie.
    Never,
}

impl CookieSecure {
    /// Whether a cookie set in answer to a request from `client` is
    /// `Secure`. The server itself speaks plain HTTP, so a loopback client
    /// without a trusted proxy in between is a browser on this machine.
    pub fn applies(self, client: Option<IpAddr>) -> bool {
        match self {
            CookieSecure::Always => true,
            CookieSecure::Never => false,
            CookieSecure::Auto => !client.is_some_and(|ip| ip.is_loopback()),
        }
    }

    /// Whether the browser of `client` will refuse the cookie: it is
    /// `Secure`, and the browser reached this server over plain HTTP from
    /// another machine (a browser keeps a `Secure` cookie only from HTTPS,
    /// or from `localhost`).
    pub fn dropped_by(self, client: Option<ClientAddr>) -> bool {
        client.is_some_and(|client| {
            client.plain_http && !client.ip.is_loopback() && self.applies(Some(client.ip))
        })
    }
}

/// Where pages live and how their cookie is set.
#[derive(Clone, Debug, Default)]
pub struct SiteConfig {
    /// The path a gateway publishes the app under (`/conduit`), empty for
    /// the root. Requests arrive without it; links and redirects need it.
    pub base_path: String,
    /// `scheme://host[:port]` readers reach the app at, without a slash:
    /// absolute links are `origin + base_path + path`.
    pub origin: String,
    pub cookie_secure: CookieSecure,
}

impl SiteConfig {
    /// The absolute URL of the app's `path` (which starts with `/`).
    pub fn absolute(&self, path: &str) -> String {
        format!("{}{}{path}", self.origin, self.base_path)
    }
}

/// The origin absolute links use: `public_origin` when set, else the
/// address the server listens on (an unspecified one as loopback).
pub fn origin(configured: Option<&str>, listen: SocketAddr) -> String {
    if let Some(origin) = configured {
        return origin.to_owned();
    }
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, listen.port()))
}

/// Checks a `public_origin`: `http://` or `https://`, a host (and port),
/// nothing after it, in characters that need no escaping.
pub fn check_origin(origin: &str) -> Result<(), String> {
    let host = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"));
    let valid = host.is_some_and(|host| {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
            && !host.starts_with([':', '.', '-'])
    });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "public_origin: {origin:?} must look like https://blog.example.com \
             (a scheme and a host, optionally a port, nothing after)"
        ))
    }
}

/// Checks a `public_base_path`: empty, or `/segment[/segment...]` without
/// a trailing slash, in characters that need no escaping in a URL.
pub fn check_base_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Ok(());
    }
    let valid = path.starts_with('/')
        && path[1..].split('/').all(|segment| {
            !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._~".contains(c))
        });
    if valid {
        Ok(())
    } else {
        Err(format!(
            "public_base_path: {path:?} must be empty or look like /conduit (no trailing slash)"
        ))
    }
}

/// The value of the request's cookie `name`, if it sent one.
pub fn request_cookie(headers: &warp::http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(warp::http::header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(found, _)| *found == name)
        .map(|(_, value)| value.trim_matches('"').to_owned())
}

impl SiteConfig {
    /// `Set-Cookie` for one of the app's cookies: on the app's path, never
    /// read by scripts, sent on same-site requests and top-level
    /// navigation, `Secure` as `cookie_secure` says for a request from
    /// `client`. `value` must be a valid cookie value.
    pub fn cookie(
        &self,
        client: Option<IpAddr>,
        name: &str,
        value: &str,
        max_age: u64,
    ) -> HeaderValue {
        let site = self;
        let path = if site.base_path.is_empty() {
            "/"
        } else {
            &site.base_path
        };
        let secure = if site.cookie_secure.applies(client) {
            "; Secure"
        } else {
            ""
        };
        let cookie = format!(
            "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"
        );
        // Names are ours, a token is base64url and dots, and the base path was
        // validated: the value is always a valid header.
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_paths_are_empty_or_clean_absolute_paths() {
        for good in ["", "/conduit", "/blog/conduit", "/a-b.c_d~e"] {
            assert_eq!(check_base_path(good), Ok(()), "{good}");
        }
        for bad in ["/", "conduit", "/conduit/", "//x", "/a b", "/a?b", "/%2e"] {
            assert!(check_base_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn auto_is_secure_except_for_loopback_clients() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let remote: IpAddr = "10.1.2.3".parse().unwrap();
        assert!(!CookieSecure::Auto.applies(Some(loopback)));
        assert!(CookieSecure::Auto.applies(Some(remote)));
        assert!(CookieSecure::Auto.applies(None));
        assert!(CookieSecure::Always.applies(Some(loopback)));
        assert!(!CookieSecure::Never.applies(Some(remote)));
    }

    #[test]
    fn a_secure_cookie_is_dropped_over_plain_http_from_another_machine() {
        let lan = |plain_http| ClientAddr {
            ip: "192.168.1.20".parse().unwrap(),
            plain_http,
        };
        let local = ClientAddr {
            ip: "127.0.0.1".parse().unwrap(),
            plain_http: true,
        };
        assert!(CookieSecure::Auto.dropped_by(Some(lan(true))));
        assert!(CookieSecure::Always.dropped_by(Some(lan(true))));
        assert!(!CookieSecure::Never.dropped_by(Some(lan(true))));
        assert!(
            !CookieSecure::Auto.dropped_by(Some(lan(false))),
            "HTTPS at a proxy"
        );
        assert!(
            !CookieSecure::Always.dropped_by(Some(local)),
            "localhost keeps it"
        );
        assert!(!CookieSecure::Auto.dropped_by(None));
    }
}
