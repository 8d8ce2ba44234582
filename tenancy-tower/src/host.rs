//! The host a request came in on, normalised, and the rules for which
//! header may say what it is.
//!
//! The host picks the tenant, so every way to spell one host must meet and
//! every hostile spelling must be refused, never guessed at. The authority
//! is split with `http`'s own [`Authority`] parser,
//! names are normalised by [`Domain`] (UTS #46 through the `idna` crate),
//! and IP literals by the standard library.
//!
//! Where the host comes from:
//!
//! - HTTP/2's `:authority` (the request URI's authority) and HTTP/1.1's
//!   `Host` header. When both are present they must name the same host.
//!   Two `Host` headers are refused.
//! - `Forwarded: host=` and `X-Forwarded-Host` only when the peer address is
//!   a configured [`TrustedProxies`] entry; from anyone else they are ignored,
//!   because anyone can send them.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use http::header::{FORWARDED, HOST};
use http::uri::{Authority, Uri};
use ipnet::IpNet;
use tenancy_core::{Domain, DomainError};

/// Longest host header value considered at all, port included. Real names
/// are at most 253 octets; anything far longer is refused before parsing.
const MAX_RAW_LEN: usize = 1024;

/// `X-Forwarded-Host`, which `http` has no constant for.
const X_FORWARDED_HOST: &str = "x-forwarded-host";

/// A normalised request host, without its port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// A domain name in canonical form.
    Domain(Domain),
    /// An IPv4 or IPv6 literal (`127.0.0.1`, `[::1]`).
    Ip(IpAddr),
}

impl Host {
    /// The domain, if this host is one.
    pub fn domain(&self) -> Option<&Domain> {
        match self {
            Self::Domain(d) => Some(d),
            Self::Ip(_) => None,
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Domain(d) => fmt::Display::fmt(d, f),
            Self::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Self::Ip(ip) => fmt::Display::fmt(ip, f),
        }
    }
}

/// Why a request's host was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostError {
    /// The request names no host at all.
    Missing,
    /// The request has more than one `Host` header.
    Multiple,
    /// `:authority` (or an absolute URI) and `Host` name different hosts.
    Conflicting,
    /// The value is empty.
    Empty,
    /// The value is longer than any host could be.
    TooLong,
    /// The value is not a valid authority (bad bytes, a path, a query...).
    InvalidAuthority,
    /// The value carries `user:password@`.
    Userinfo,
    /// The port is not a number from 0 to 65535.
    InvalidPort,
    /// A bracketed IPv6 literal that does not parse.
    InvalidIpLiteral,
    /// The name itself is malformed.
    Domain(DomainError),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("the request names no host"),
            Self::Multiple => f.write_str("the request has more than one Host header"),
            Self::Conflicting => f.write_str(":authority and Host name different hosts"),
            Self::Empty => f.write_str("empty host"),
            Self::TooLong => f.write_str("host longer than any valid host"),
            Self::InvalidAuthority => f.write_str("host is not a valid authority"),
            Self::Userinfo => f.write_str("host carries user information"),
            Self::InvalidPort => f.write_str("invalid port in host"),
            Self::InvalidIpLiteral => f.write_str("invalid IP literal in host"),
            Self::Domain(e) => write!(f, "invalid host name: {e}"),
        }
    }
}

impl std::error::Error for HostError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Domain(e) => Some(e),
            _ => None,
        }
    }
}

/// Parses one host value (`Host` header, `:authority`, a forwarded host):
/// `name[:port]`, `ipv4[:port]` or `[ipv6][:port]`.
///
/// ```
/// use tenancy_tower::host::{parse_host, Host, HostError};
///
/// let a = parse_host(b"GoldenKey.localhost.:8080").unwrap();
/// let b = parse_host(b"goldenkey.localhost").unwrap();
/// assert_eq!(a, b);
/// assert_eq!(parse_host(b"[::1]:3000").unwrap().to_string(), "[::1]");
/// assert_eq!(parse_host(b"admin@goldenkey.localhost"), Err(HostError::Userinfo));
/// ```
///
/// # Errors
///
/// A [`HostError`] saying what is wrong. It never panics, on any bytes.
pub fn parse_host(raw: &[u8]) -> Result<Host, HostError> {
    if raw.is_empty() {
        return Err(HostError::Empty);
    }
    if raw.len() > MAX_RAW_LEN {
        return Err(HostError::TooLong);
    }
    if raw.contains(&b'@') {
        return Err(HostError::Userinfo);
    }
    let text = std::str::from_utf8(raw).map_err(|_| HostError::InvalidAuthority)?;
    // HTTP allows only ASCII here, but some clients send a Unicode name
    // as-is; its ASCII characters are still checked by `Domain::parse`.
    // Plain `name[:port]` (letters, digits, hyphens, dots, one colon) is a
    // valid authority by construction; anything else goes through `http`'s
    // parser, without the allocation on the common path.
    let plain = text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b':')
        && text.bytes().filter(|b| *b == b':').count() <= 1;
    if !plain && text.is_ascii() && Authority::try_from(text).is_err() {
        return Err(HostError::InvalidAuthority);
    }
    let (host, port) = split_port(text)?;
    if let Some(port) = port
        && (port.is_empty()
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u16>().is_err())
    {
        return Err(HostError::InvalidPort);
    }
    if let Some(literal) = host.strip_prefix('[') {
        let inner = literal
            .strip_suffix(']')
            .ok_or(HostError::InvalidIpLiteral)?;
        return inner
            .parse::<std::net::Ipv6Addr>()
            .map(|ip| Host::Ip(IpAddr::V6(ip)))
            .map_err(|_| HostError::InvalidIpLiteral);
    }
    if host.is_empty() {
        return Err(HostError::Empty);
    }
    if host.contains(':') {
        // An IPv6 address without brackets.
        return Err(HostError::InvalidAuthority);
    }
    if let Ok(ip) = host.parse::<std::net::Ipv4Addr>() {
        return Ok(Host::Ip(IpAddr::V4(ip)));
    }
    Domain::parse(host)
        .map(Host::Domain)
        .map_err(HostError::Domain)
}

/// Splits `host[:port]` / `[v6][:port]` into the host and the port text.
fn split_port(text: &str) -> Result<(&str, Option<&str>), HostError> {
    if text.starts_with('[') {
        let end = text.find(']').ok_or(HostError::InvalidIpLiteral)?;
        let (host, rest) = text.split_at(end + 1);
        return match rest {
            "" => Ok((host, None)),
            _ => rest
                .strip_prefix(':')
                .map(|port| (host, Some(port)))
                .ok_or(HostError::InvalidAuthority),
        };
    }
    Ok(match text.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (text, None),
    })
}

/// Proxies whose `Forwarded` / `X-Forwarded-Host` headers are believed.
///
/// Empty by default: forwarded hosts are ignored unless the peer address is
/// listed here.
///
/// ```
/// use tenancy_tower::host::TrustedProxies;
///
/// let proxies = TrustedProxies::new().with("10.0.0.0/8".parse().unwrap());
/// assert!(proxies.contains("10.1.2.3".parse().unwrap()));
/// assert!(!proxies.contains("192.0.2.1".parse().unwrap()));
/// ```
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// No trusted proxies.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a network (a single address is a /32 or /128).
    pub fn with(mut self, net: IpNet) -> Self {
        self.nets.push(net);
        self
    }

    /// Adds one address.
    pub fn with_addr(self, ip: IpAddr) -> Self {
        self.with(IpNet::from(ip))
    }

    /// Whether `ip` is a trusted proxy. IPv4-mapped IPv6 peers
    /// (`::ffff:10.0.0.1`) match their IPv4 form.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

/// The address of the peer that sent a request, for the trusted-proxy rule.
///
/// Insert it into the request extensions from your server's accept loop;
/// with the `axum` feature, axum's `ConnectInfo<SocketAddr>` is read too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// The peer address of a request, from [`PeerAddr`] or axum's `ConnectInfo`.
pub fn peer_addr(extensions: &http::Extensions) -> Option<SocketAddr> {
    if let Some(PeerAddr(addr)) = extensions.get::<PeerAddr>() {
        return Some(*addr);
    }
    #[cfg(feature = "axum")]
    if let Some(axum::extract::ConnectInfo(addr)) =
        extensions.get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(*addr);
    }
    None
}

/// The normalised host of a request.
///
/// `:authority` (the URI's authority) and `Host` must agree when both are
/// present. When `peer` is a trusted proxy, the host it forwarded
/// (`Forwarded: host=`, else `X-Forwarded-Host`; the value the nearest
/// proxy added, i.e. the last one) takes precedence.
///
/// # Errors
///
/// [`HostError::Missing`] when nothing names a host, and the other
/// [`HostError`] variants for malformed or contradictory values.
pub fn request_host(
    uri: &Uri,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trusted: &TrustedProxies,
) -> Result<Host, HostError> {
    if let Some(peer) = peer
        && trusted.contains(peer.ip())
        && let Some(forwarded) = forwarded_host(headers)?
    {
        return Ok(forwarded);
    }
    let mut host_headers = headers.get_all(HOST).iter();
    let from_header = match (host_headers.next(), host_headers.next()) {
        (_, Some(_)) => return Err(HostError::Multiple),
        (Some(value), None) => Some(parse_host(value.as_bytes())?),
        (None, None) => None,
    };
    let from_uri = uri
        .authority()
        .map(|a| parse_host(a.as_str().as_bytes()))
        .transpose()?;
    match (from_uri, from_header) {
        (Some(a), Some(b)) if a != b => Err(HostError::Conflicting),
        (Some(host), _) | (None, Some(host)) => Ok(host),
        (None, None) => Err(HostError::Missing),
    }
}

/// The host named by the nearest proxy, if any forwarded header names one.
fn forwarded_host(headers: &HeaderMap) -> Result<Option<Host>, HostError> {
    // RFC 7239: elements are comma separated, pairs semicolon separated;
    // each proxy appends an element, so the last one is the nearest
    // (trusted) proxy's. An earlier element's host could be anyone's.
    let forwarded = headers
        .get_all(FORWARDED)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .next_back()
        .and_then(|element| {
            element.split(|b| *b == b';').find_map(|pair| {
                let pair = trim(pair);
                let (key, value) = pair.split_at(pair.iter().position(|b| *b == b'=')?);
                key.eq_ignore_ascii_case(b"host")
                    .then(|| unquote(&value[1..]))
            })
        });
    if let Some(value) = forwarded {
        return parse_host(value).map(Some);
    }
    let x_forwarded = headers
        .get_all(X_FORWARDED_HOST)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(trim)
        .next_back();
    x_forwarded.map(parse_host).transpose()
}

fn trim(bytes: &[u8]) -> &[u8] {
    bytes.trim_ascii()
}

fn unquote(value: &[u8]) -> &[u8] {
    let value = trim(value);
    value
        .strip_prefix(b"\"")
        .and_then(|v| v.strip_suffix(b"\""))
        .unwrap_or(value)
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn domain(s: &str) -> Host {
        Host::Domain(Domain::parse(s).unwrap())
    }

    #[test]
    fn normalises_case_port_trailing_dot_and_idn() {
        for raw in [
            "goldenkey.localhost",
            "GOLDENKEY.localhost",
            "goldenkey.localhost.",
            "goldenkey.localhost:8080",
            "goldenkey.localhost.:80",
        ] {
            assert_eq!(
                parse_host(raw.as_bytes()),
                Ok(domain("goldenkey.localhost")),
                "{raw}"
            );
        }
        assert_eq!(
            parse_host("bücher.example".as_bytes()),
            parse_host(b"xn--bcher-kva.example")
        );
    }

    #[test]
    fn ip_literals() {
        assert_eq!(
            parse_host(b"127.0.0.1:3000"),
            Ok(Host::Ip("127.0.0.1".parse().unwrap()))
        );
        assert_eq!(parse_host(b"[::1]"), Ok(Host::Ip("::1".parse().unwrap())));
        assert_eq!(
            parse_host(b"[::1]:443"),
            Ok(Host::Ip("::1".parse().unwrap()))
        );
        assert_eq!(parse_host(b"[::1"), Err(HostError::InvalidAuthority));
        assert_eq!(parse_host(b"[nope]:80"), Err(HostError::InvalidIpLiteral));
        assert_eq!(parse_host(b"::1"), Err(HostError::InvalidAuthority));
    }

    #[test]
    fn rejects_every_malformed_shape() {
        let long_label = format!("{}.example", "a".repeat(64));
        let long_name = format!("{}.example", ["abcdefghi"; 25].join("."));
        let huge = "a".repeat(2000);
        let cases: Vec<(&[u8], HostError)> = vec![
            (b"", HostError::Empty),
            (b":80", HostError::Empty),
            (huge.as_bytes(), HostError::TooLong),
            (b"user@goldenkey.localhost", HostError::Userinfo),
            (b"user:pw@goldenkey.localhost", HostError::Userinfo),
            (b"goldenkey.localhost/leads", HostError::InvalidAuthority),
            (b"goldenkey.localhost?x", HostError::InvalidAuthority),
            (b"gold key.localhost", HostError::InvalidAuthority),
            (b"goldenkey.localhost:", HostError::InvalidPort),
            (b"goldenkey.localhost:99999", HostError::InvalidPort),
            (b"goldenkey.localhost:8o", HostError::InvalidPort),
            (b"\xff\xfe", HostError::InvalidAuthority),
            (b"a..b", HostError::Domain(DomainError::EmptyLabel)),
            (
                b"a_b.localhost",
                HostError::Domain(DomainError::InvalidCharacter('_')),
            ),
            (
                long_label.as_bytes(),
                HostError::Domain(DomainError::LabelTooLong),
            ),
            (
                long_name.as_bytes(),
                HostError::Domain(DomainError::NameTooLong),
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(
                parse_host(raw),
                Err(want),
                "{:?}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn host_header_and_authority_must_agree() {
        let none = TrustedProxies::new();
        let plain: Uri = "/leads".parse().unwrap();
        let absolute: Uri = "https://GoldenKey.localhost/leads".parse().unwrap();
        let h = |v| headers(&[("host", v)]);
        assert_eq!(
            request_host(&plain, &h("goldenkey.localhost"), None, &none),
            Ok(domain("goldenkey.localhost"))
        );
        // HTTP/2: only :authority.
        assert_eq!(
            request_host(&absolute, &HeaderMap::new(), None, &none),
            Ok(domain("goldenkey.localhost"))
        );
        assert_eq!(
            request_host(&absolute, &h("goldenkey.localhost:443"), None, &none),
            Ok(domain("goldenkey.localhost"))
        );
        assert_eq!(
            request_host(&absolute, &h("stone.localhost"), None, &none),
            Err(HostError::Conflicting)
        );
        assert_eq!(
            request_host(&plain, &HeaderMap::new(), None, &none),
            Err(HostError::Missing)
        );
        let two = headers(&[("host", "goldenkey.localhost"), ("host", "stone.localhost")]);
        assert_eq!(
            request_host(&plain, &two, None, &none),
            Err(HostError::Multiple)
        );
    }

    #[test]
    fn forwarded_hosts_only_from_trusted_proxies() {
        let uri: Uri = "/".parse().unwrap();
        let proxies = TrustedProxies::new().with("10.0.0.0/8".parse().unwrap());
        let proxy: SocketAddr = "10.0.0.5:5000".parse().unwrap();
        let mapped: SocketAddr = "[::ffff:10.0.0.5]:5000".parse().unwrap();
        let stranger: SocketAddr = "192.0.2.7:5000".parse().unwrap();
        let fwd = headers(&[
            ("host", "internal.lb"),
            (
                "forwarded",
                "for=192.0.2.7;host=evil.example, for=10.0.0.9;host=\"Stone.localhost\";proto=https",
            ),
        ]);
        assert_eq!(
            request_host(&uri, &fwd, Some(proxy), &proxies),
            Ok(domain("stone.localhost"))
        );
        assert_eq!(
            request_host(&uri, &fwd, Some(mapped), &proxies),
            Ok(domain("stone.localhost"))
        );
        assert_eq!(
            request_host(&uri, &fwd, Some(stranger), &proxies),
            Ok(domain("internal.lb"))
        );
        assert_eq!(
            request_host(&uri, &fwd, None, &proxies),
            Ok(domain("internal.lb"))
        );

        let xfh = headers(&[
            ("host", "internal.lb"),
            ("x-forwarded-host", "evil.example, goldenkey.localhost"),
        ]);
        assert_eq!(
            request_host(&uri, &xfh, Some(proxy), &proxies),
            Ok(domain("goldenkey.localhost"))
        );
        assert_eq!(
            request_host(&uri, &xfh, Some(stranger), &proxies),
            Ok(domain("internal.lb"))
        );

        // A trusted proxy that forwards garbage gets a refusal, not a fallback.
        let bad = headers(&[("host", "internal.lb"), ("x-forwarded-host", "a..b")]);
        assert!(request_host(&uri, &bad, Some(proxy), &proxies).is_err());
    }
}
