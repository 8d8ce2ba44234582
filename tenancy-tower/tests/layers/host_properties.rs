//! Properties of host normalisation: no input panics, normalising is
//! idempotent, and every spelling of a name meets its canonical form.

use proptest::prelude::*;
use tenancy_core::Domain;
use tenancy_tower::host::{Host, parse_host};

/// Labels mixing ASCII, case, digits, hyphens and some Unicode letters.
fn label() -> impl Strategy<Value = String> {
    prop::string::string_regex("[a-zA-Z0-9][a-zA-Z0-9äöüßéñçøå-]{0,20}[a-zA-Z0-9]|[a-z]")
        .expect("regex")
}

fn name() -> impl Strategy<Value = String> {
    prop::collection::vec(label(), 1..5).prop_map(|labels| labels.join("."))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn no_bytes_panic(raw in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse_host(&raw);
    }

    #[test]
    fn no_text_panics(raw in "\\PC{0,80}") {
        let _ = parse_host(raw.as_bytes());
        let _ = Domain::parse(&raw);
    }

    #[test]
    fn normalising_is_idempotent(raw in name(), port in prop::option::of(0u16..), dot in any::<bool>()) {
        let mut spelled = raw.clone();
        if dot { spelled.push('.'); }
        if let Some(port) = port { spelled.push_str(&format!(":{port}")); }
        if let Ok(host) = parse_host(spelled.as_bytes()) {
            let again = parse_host(host.to_string().as_bytes());
            prop_assert_eq!(again.as_ref(), Ok(&host));
            // Port, ASCII case and the root dot never change the host.
            prop_assert_eq!(parse_host(raw.to_ascii_uppercase().as_bytes()), Ok(host.clone()));
            prop_assert_eq!(parse_host(raw.as_bytes()), Ok(host));
        }
    }

    #[test]
    fn unicode_and_punycode_spellings_meet(raw in name()) {
        if let Ok(Host::Domain(domain)) = parse_host(raw.as_bytes()) {
            let unicode = domain.to_unicode();
            prop_assert_eq!(parse_host(unicode.as_bytes()), Ok(Host::Domain(domain.clone())));
            prop_assert!(domain.as_str().is_ascii());
            prop_assert_eq!(domain.as_str().to_ascii_lowercase(), domain.as_str());
        }
    }
}
