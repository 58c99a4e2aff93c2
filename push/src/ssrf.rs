//! A push endpoint is a URL a stranger gives us: it must not reach our own network (no SSRF).

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};

/// Whether an address is one a stranger's push endpoint must not reach: anything but global unicast.
/// IPv4: this network, loopback, private, carrier-grade NAT, link-local, IETF protocol assignments
/// (192.0.0.0/24), documentation, benchmarking (198.18.0.0/15), multicast and reserved (240.0.0.0/4).
/// IPv6: unspecified, loopback, IPv4-compatible (::/96) and IPv4-mapped, NAT64 (64:ff9b::/96, 64:ff9b:1::/48),
/// discard (100::/64), Teredo and documentation (2001::/32, 2001:db8::/32), 6to4 (2002::/16), unique-local,
/// site-local (fec0::/10), link-local and multicast: the tunnelling forms all lead back into IPv4.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || (o[0], o[1], o[2]) == (192, 0, 0)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || o[0] >= 240
        }
        IpAddr::V6(v6) => {
            let seg = v6.segments();
            v6.is_multicast()
                || seg[..6] == [0; 6]
                || v6.to_ipv4_mapped().is_some()
                || seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
                || seg[..3] == [0x64, 0xff9b, 1]
                || seg[..4] == [0x100, 0, 0, 0]
                || seg[..2] == [0x2001, 0]
                || seg[..2] == [0x2001, 0xdb8]
                || seg[0] == 0x2002
                || (seg[0] & 0xfe00) == 0xfc00
                || (seg[0] & 0xffc0) == 0xfe80
                || (seg[0] & 0xffc0) == 0xfec0
        }
    }
}

/// Why a push endpoint may not be used.
pub type Refusal = &'static str;

/// Checks a Web Push endpoint URL: `https`, port 443, no credentials, and a host that is neither an internal
/// address nor a local name. With `allow_insecure` (development, tests) only the URL's shape is checked.
/// Run at registration and again before each send; names are checked once more when they are resolved.
pub fn check_url(url: &reqwest::Url, allow_insecure: bool) -> Result<(), Refusal> {
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        _ => return Err("must be an https:// URL"),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry credentials");
    }
    let host = url.host().ok_or("must name a host")?;
    if allow_insecure {
        return Ok(());
    }
    if url.port_or_known_default() != Some(443) {
        return Err("must use port 443");
    }
    let internal = match host {
        url::Host::Ipv4(ip) => is_internal(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => is_internal(IpAddr::V6(ip)),
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost"
                || [".localhost", ".local", ".internal", ".lan", ".home.arpa"].iter().any(|s| name.ends_with(s))
                || !name.contains('.')
        }
    };
    if internal {
        return Err("must point to a public push service, not a private, loopback or link-local address");
    }
    Ok(())
}

/// A resolver that drops internal addresses, so a public name that points (or is re-pointed) at our own
/// network cannot be reached at send time either.
#[derive(Debug, Default, Clone, Copy)]
pub struct PublicOnly;

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = found.into_iter().filter(|a| !is_internal(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_ranges_are_recognised() {
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.5.4",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "::ffff:8.8.8.8",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b:1::a00:1",
            "2002:7f00:1::1",
            "2001:0:4136:e378::1",
            "2001:db8::1",
            "100::1",
            "fec0::1",
            "192.0.0.8",
            "198.18.0.1",
            "198.19.255.255",
            "240.0.0.1",
            "255.255.255.255",
            "0.1.2.3",
        ] {
            assert!(is_internal(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "2a00:1450:4001::1", "198.20.0.1", "192.0.1.1", "2001:4860::8888", "223.255.255.1"] {
            assert!(!is_internal(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn endpoints_need_https_port_443_and_a_public_host() {
        let check = |url: &str| check_url(&url.parse().unwrap(), false);
        assert!(check("https://fcm.googleapis.com/fcm/send/abc").is_ok());
        assert!(check("https://push.example.org:443/x").is_ok());
        for bad in [
            "http://push.example.org/x",
            "https://push.example.org:8443/x",
            "https://push.example.org:22/x",
            "https://user:pw@push.example.org/x",
            "https://[::ffff:127.0.0.1]/x",
            "https://[64:ff9b::a9fe:a9fe]/x",
            "https://[2002:a9fe:a9fe::]/x",
            "https://198.18.0.1/x",
            "https://2130706433/x",
            "https://0x7f.1/x",
            "https://localhost/x",
            "https://metadata.internal/x",
            "https://intranet/x",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
        assert!(check_url(&"http://127.0.0.1:9000/x".parse().unwrap(), true).is_ok(), "insecure mode: any port");
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused() {
        let err = PublicOnly.resolve("localhost".parse().unwrap()).await.err().expect("refused");
        assert!(err.to_string().contains("no public address"), "{err}");
    }
}
