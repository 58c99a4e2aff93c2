//! The client's address: the socket peer, or, when the peer is a trusted proxy, the right-most hop of
//! `X-Forwarded-For` (else `Forwarded`) that is not itself a trusted proxy.

use actix_web::HttpRequest;
use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr};

/// The address limits and the audit log count a request under.
pub fn client_address(req: &HttpRequest, trusted: &[IpNet]) -> IpAddr {
    let peer = req.peer_addr().map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let headers = req.headers();
    let forwarded_for = headers.get_all("x-forwarded-for").filter_map(|v| v.to_str().ok()).collect::<Vec<_>>();
    let hops: Vec<String> = if !forwarded_for.is_empty() {
        forwarded_for.iter().flat_map(|v| v.split(',')).map(|h| h.trim().to_owned()).collect()
    } else {
        headers.get_all("forwarded").filter_map(|v| v.to_str().ok()).flat_map(forwarded_for_values).collect()
    };
    from_hops(peer, &hops, trusted)
}

/// Walks from the peer leftwards through the hops while each is a trusted proxy.
fn from_hops(peer: IpAddr, hops: &[String], trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in hops.iter().rev() {
        // A hop no proxy of ours wrote is where trust ends; the last good one is the client.
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !is_trusted(&ip) {
            break;
        }
    }
    client
}

/// The `for=` values of one `Forwarded` header (RFC 7239), in order.
fn forwarded_for_values(value: &str) -> Vec<String> {
    value
        .split(',')
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (name, v) = pair.trim().split_once('=')?;
                name.trim().eq_ignore_ascii_case("for").then(|| v.trim().trim_matches('"').to_owned())
            })
        })
        .collect()
}

/// An address from a hop: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    hop.rsplit_once(':').and_then(|(host, _)| host.parse::<Ipv4Addr>().ok()).map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &str) -> Vec<IpNet> {
        list.split(',').map(|s| s.trim().parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn hops(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        assert_eq!(from_hops(ip("203.0.113.9"), &hops(&["1.1.1.1"]), &nets("10.0.0.0/8")), ip("203.0.113.9"));
        assert_eq!(from_hops(ip("10.0.0.2"), &hops(&["1.1.1.1"]), &[]), ip("10.0.0.2"), "no proxies trusted");
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let trusted = nets("10.0.0.0/8");
        // A client may put anything on the left; the proxies append on the right.
        let list = hops(&["6.6.6.6", "198.51.100.7", "10.0.0.5"]);
        assert_eq!(from_hops(ip("10.0.0.1"), &list, &trusted), ip("198.51.100.7"));
        assert_eq!(from_hops(ip("10.0.0.1"), &hops(&["garbage", "198.51.100.7"]), &trusted), ip("198.51.100.7"));
        assert_eq!(from_hops(ip("10.0.0.1"), &hops(&["10.0.0.9"]), &trusted), ip("10.0.0.9"), "all trusted");
        assert_eq!(from_hops(ip("10.0.0.1"), &[], &trusted), ip("10.0.0.1"));
    }

    #[test]
    fn forwarded_header_values_and_ports_are_read() {
        let values = forwarded_for_values(r#"for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8::1]:4711""#);
        assert_eq!(values, vec!["192.0.2.60", "[2001:db8::1]:4711"]);
        assert_eq!(parse_hop("[2001:db8::1]:4711"), Some(ip("2001:db8::1")));
        assert_eq!(parse_hop("192.0.2.60:443"), Some(ip("192.0.2.60")));
        assert_eq!(parse_hop("unknown"), None);
    }
}
