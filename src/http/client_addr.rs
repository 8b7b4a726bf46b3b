//! The client's address: the one place it is worked out (allow-lists, rate limits, logs).
//!
//! The TCP peer is the client, unless it is one of `CCM_TRUSTED_PROXIES`: then `X-Forwarded-For`
//! is believed, read from the right (the address the nearest proxy saw) and the first address that
//! is not itself a trusted proxy is the client. A peer outside the trusted proxies cannot choose
//! its address by sending the header.

use std::net::IpAddr;

use actix_web::HttpRequest;
use actix_web::dev::ServiceRequest;
use actix_web::web;
use ipnet::IpNet;

use super::AppState;

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Vec<IpNet>);

impl TrustedProxies {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind `peer`, given the request's `X-Forwarded-For` values (in order).
    pub fn resolve<'a>(&self, peer: IpAddr, forwarded_for: impl Iterator<Item = &'a str>) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let hops: Vec<&str> = forwarded_for.flat_map(|v| v.split(',')).map(str::trim).collect();
        let mut client = peer;
        for hop in hops.iter().rev() {
            let Some(ip) = parse_hop(hop) else {
                // Garbage from beyond the proxies: the last address a trusted proxy vouched for.
                return client;
            };
            client = ip;
            if !self.contains(ip) {
                return ip;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` item: an address, possibly with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    hop.parse::<std::net::SocketAddr>().ok().map(|addr| canonical(addr.ip()))
}

/// IPv4-mapped IPv6 addresses (`::ffff:1.2.3.4`, a dual-stack listener's peers) as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

fn resolve(
    peer: Option<std::net::SocketAddr>,
    headers: &actix_web::http::header::HeaderMap,
    state: Option<&AppState>,
) -> Option<IpAddr> {
    let peer = peer?.ip();
    let forwarded = headers.get_all("x-forwarded-for").filter_map(|v| v.to_str().ok());
    Some(match state {
        Some(state) => state.edge.trusted_proxies.resolve(peer, forwarded),
        None => canonical(peer),
    })
}

/// The client's address (see the module), or `None` when the peer is unknown (a test request).
pub fn client_ip(req: &HttpRequest) -> Option<IpAddr> {
    let state = req.app_data::<web::Data<AppState>>();
    resolve(req.peer_addr(), req.headers(), state.map(|s| s.get_ref()))
}

/// `client_ip` for middleware.
pub fn service_client_ip(req: &ServiceRequest) -> Option<IpAddr> {
    let state = req.app_data::<web::Data<AppState>>();
    resolve(req.peer_addr(), req.headers(), state.map(|s| s.get_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies(list.iter().map(|n| n.parse().unwrap()).collect())
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let none = proxies(&[]);
        assert_eq!(none.resolve(ip("10.0.0.1"), ["1.2.3.4"].into_iter()), ip("10.0.0.1"));
        let trusted = proxies(&["10.0.0.0/8", "::1/128"]);
        assert_eq!(trusted.resolve(ip("10.0.0.1"), ["1.2.3.4"].into_iter()), ip("1.2.3.4"));
        // The right-most address that is not a trusted proxy; what the client wrote on the left is not.
        assert_eq!(trusted.resolve(ip("10.0.0.1"), ["6.6.6.6, 1.2.3.4, 10.0.0.7"].into_iter()), ip("1.2.3.4"));
        assert_eq!(trusted.resolve(ip("10.0.0.1"), ["6.6.6.6", "1.2.3.4:443"].into_iter()), ip("1.2.3.4"));
        assert_eq!(trusted.resolve(ip("10.0.0.1"), ["junk, 10.0.0.9"].into_iter()), ip("10.0.0.9"));
        assert_eq!(trusted.resolve(ip("10.0.0.1"), std::iter::empty()), ip("10.0.0.1"));
        assert_eq!(trusted.resolve(ip("::ffff:10.0.0.1"), ["1.2.3.4"].into_iter()), ip("1.2.3.4"));
        assert_eq!(trusted.resolve(ip("192.168.0.1"), ["1.2.3.4"].into_iter()), ip("192.168.0.1"));
    }
}
