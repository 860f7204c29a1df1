//! Who the client is: the socket's peer, or, when that peer is a trusted
//! proxy (the gateway), the nearest untrusted address in `X-Forwarded-For`.
//! Abuse limits are counted per this address.

use std::net::IpAddr;

use warp::http::HeaderMap;

/// Who sent a request, put into its extensions by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr {
    /// The client's address.
    pub ip: IpAddr,
    /// The browser is known to have reached this server over plain HTTP:
    /// it connected directly (this server speaks only plain HTTP), or a
    /// trusted proxy says so in `X-Forwarded-Proto`. Through a proxy that
    /// says nothing, it is not known.
    pub plain_http: bool,
}

/// An IPv4 or IPv6 network such as `10.0.0.0/8`; a bare address is a /32 or /128.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address
            .trim()
            .parse()
            .map_err(|_| format!("{text:?} is not an IP network"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{text:?} has an invalid prefix length"))?,
            None => max,
        };
        Ok(Cidr { network, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// Parses CIDR strings (validated with the configuration).
    pub fn parse(list: &[String]) -> Result<Self, String> {
        list.iter()
            .map(|s| Cidr::parse(s))
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(ip))
    }

    /// Who sent a request that arrived from `peer`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> ClientAddr {
        if !self.trusts(peer) {
            return ClientAddr {
                ip: peer,
                plain_http: true,
            };
        }
        // The proxy nearest to this server speaks last.
        let forwarded_proto = headers
            .get_all("x-forwarded-proto")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .next_back()
            .map(str::trim);
        ClientAddr {
            ip: self.client_addr(peer, headers),
            plain_http: forwarded_proto.is_some_and(|proto| proto.eq_ignore_ascii_case("http")),
        }
    }

    /// The client address for a request from `peer`.
    fn client_addr(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut chain = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            let Ok(value) = value.to_str() else {
                return peer;
            };
            for hop in value.split(',') {
                match hop.trim().parse::<IpAddr>() {
                    Ok(ip) => chain.push(ip),
                    Err(_) => return peer,
                }
            }
        }
        // Walk back from the nearest hop: the first address we do not trust
        // is the client; everything before it could be forged.
        chain
            .iter()
            .rev()
            .find(|ip| !self.trusts(**ip))
            .or(chain.first())
            .copied()
            .unwrap_or(peer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in xff {
            map.append("x-forwarded-for", value.parse().unwrap());
        }
        map
    }

    #[test]
    fn networks_match_their_addresses() {
        let net = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(net.contains("10.1.2.3".parse().unwrap()));
        assert!(!net.contains("11.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("::1").unwrap().contains("::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        for bad in ["10.0.0.0/33", "nope", "10.0.0/8", "::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap();
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        let stranger: IpAddr = "203.0.113.9".parse().unwrap();
        let cases = [
            (
                stranger,
                headers(&["198.51.100.1"]),
                stranger,
                "untrusted peer: header ignored",
            ),
            (
                proxy,
                headers(&["198.51.100.1"]),
                "198.51.100.1".parse().unwrap(),
                "one hop",
            ),
            (
                proxy,
                headers(&["1.1.1.1, 198.51.100.1, 10.0.0.7"]),
                "198.51.100.1".parse().unwrap(),
                "nearest untrusted hop",
            ),
            (
                proxy,
                headers(&["1.1.1.1", "198.51.100.1"]),
                "198.51.100.1".parse().unwrap(),
                "several headers",
            ),
            (proxy, headers(&[]), proxy, "no header"),
            (proxy, headers(&["garbage"]), proxy, "unparsable header"),
        ];
        for (peer, headers, expected, why) in cases {
            assert_eq!(proxies.client(peer, &headers).ip, expected, "{why}");
        }
    }

    #[test]
    fn plain_http_is_known_from_a_direct_peer_or_a_proxy_that_says_so() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into()]).unwrap();
        let direct: IpAddr = "192.168.1.20".parse().unwrap();
        let proxy: IpAddr = "10.0.0.5".parse().unwrap();
        assert!(proxies.client(direct, &HeaderMap::new()).plain_http);
        let mut told = HeaderMap::new();
        told.insert("x-forwarded-proto", "https, http".parse().unwrap());
        assert!(
            proxies.client(proxy, &told).plain_http,
            "the nearest proxy's word"
        );
        told.insert("x-forwarded-proto", "HTTPS".parse().unwrap());
        assert!(!proxies.client(proxy, &told).plain_http);
        assert!(
            !proxies.client(proxy, &HeaderMap::new()).plain_http,
            "a proxy that says nothing may terminate TLS"
        );
    }
}
