//! Settings of the API's edge: browser origins, trusted proxies and the shared limit store.

use ipnet::IpNet;
use std::net::IpAddr;

/// How the API meets browsers and proxies.
#[derive(Debug, Clone, Default)]
pub struct EdgeSettings {
    /// Exact origins (`https://app.example.org`) allowed to call the API from a browser; empty = no CORS headers.
    pub cors_origins: Vec<String>,
    /// Peers whose `X-Forwarded-For` / `Forwarded` headers name the client; empty = the socket peer is the client.
    pub trusted_proxies: Vec<IpNet>,
    /// Where every replica keeps its login limits and locks; the database when unset.
    pub redis_url: Option<String>,
}

/// Parses `MILKFLOW_CORS_ORIGINS`: a comma-separated list of `scheme://host[:port]` origins.
pub fn cors_origins(raw: Option<&str>) -> Result<Vec<String>, String> {
    let mut origins = Vec::new();
    for item in raw.unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (scheme, rest) = item.split_once("://").ok_or_else(|| format!("'{item}' is not an origin"))?;
        let is_origin =
            matches!(scheme, "http" | "https") && !rest.is_empty() && !rest.contains(['/', '?', '#', '*', '@', ' ']);
        if !is_origin {
            return Err(format!("'{item}' is not an exact origin such as https://app.example.org"));
        }
        origins.push(item.to_owned());
    }
    Ok(origins)
}

/// Parses `MILKFLOW_TRUSTED_PROXIES`: a comma-separated list of CIDRs or single addresses.
pub fn trusted_proxies(raw: Option<&str>) -> Result<Vec<IpNet>, String> {
    raw.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            item.parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("'{item}' is not an address or CIDR such as 10.0.0.0/8"))
        })
        .collect()
}

/// Parses `MILKFLOW_REDIS_URL`: `redis://` or `rediss://`, or unset.
pub fn redis_url(raw: Option<String>) -> Result<Option<String>, String> {
    match raw.filter(|s| !s.trim().is_empty()) {
        None => Ok(None),
        Some(url) if url.starts_with("redis://") || url.starts_with("rediss://") => Ok(Some(url)),
        Some(url) => Err(format!("'{url}' must be a redis:// or rediss:// URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_must_be_exact() {
        assert_eq!(
            cors_origins(Some("https://app.example.org, http://localhost:5173")).unwrap(),
            vec!["https://app.example.org", "http://localhost:5173"]
        );
        assert!(cors_origins(Some("*")).is_err());
        assert!(cors_origins(Some("https://app.example.org/path")).is_err());
        assert!(cors_origins(Some("app.example.org")).is_err());
        assert!(cors_origins(None).unwrap().is_empty());
    }

    #[test]
    fn proxies_are_cidrs_or_addresses() {
        let nets = trusted_proxies(Some("10.0.0.0/8, 127.0.0.1, ::1")).unwrap();
        assert_eq!(nets.len(), 3);
        assert!(nets[1].contains(&"127.0.0.1".parse::<IpAddr>().unwrap()));
        assert!(trusted_proxies(Some("10.0.0.0/33")).is_err());
        assert!(trusted_proxies(Some("proxy.local")).is_err());
    }
}
