//! Host parsing on arbitrary bytes: never panics, and whatever it accepts
//! is a fixed point (normalising the normalised form changes nothing).

#![no_main]

use libfuzzer_sys::fuzz_target;
use tenancy_tower::host::{Host, TrustedProxies, parse_host, request_host};

fuzz_target!(|data: &[u8]| {
    if let Ok(host) = parse_host(data) {
        let again = parse_host(host.to_string().as_bytes());
        assert_eq!(again.as_ref(), Ok(&host), "not idempotent");
        if let Host::Domain(domain) = &host {
            assert!(domain.as_str().is_ascii());
            assert!(domain.as_str().len() <= tenancy_core::domain::MAX_NAME_LEN);
            assert_eq!(
                parse_host(domain.to_unicode().as_bytes()).as_ref(),
                Ok(&host)
            );
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = tenancy_core::Domain::parse(text);
    }
    // The same bytes as a Host header and as a forwarded host from a
    // trusted proxy.
    if let Ok(value) = http::HeaderValue::from_bytes(data) {
        let mut headers = http::HeaderMap::new();
        headers.insert(http::header::HOST, value.clone());
        headers.insert("x-forwarded-host", value.clone());
        headers.insert(http::header::FORWARDED, value);
        let uri = http::Uri::from_static("/");
        let proxies = TrustedProxies::new().with("10.0.0.0/8".parse().unwrap());
        let _ = request_host(
            &uri,
            &headers,
            Some("10.0.0.1:1".parse().unwrap()),
            &proxies,
        );
        let _ = request_host(&uri, &headers, None, &proxies);
    }
});
