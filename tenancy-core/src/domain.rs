//! Domain names, normalised so that every spelling of one name meets.
//!
//! Tenants are found by the domain a user comes in on, so two spellings of
//! one name (`GoldenKey.example.`, `goldenkey.example`, a Unicode name and its
//! punycode) must give the same key, and a hostile spelling must be refused
//! rather than guessed at. Internationalised names go through the `idna`
//! crate (UTS #46, the same processing browsers apply), never hand parsing.

use std::fmt;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use serde::{Deserialize, Serialize};

/// The longest domain name, in ASCII form, without the root dot (RFC 1035).
pub const MAX_NAME_LEN: usize = 253;
/// The longest label, in ASCII form (RFC 1035).
pub const MAX_LABEL_LEN: usize = 63;

/// A domain name in its canonical form: lowercase ASCII, punycode for
/// internationalised labels, no trailing dot, no port.
///
/// ```
/// use tenancy_core::Domain;
///
/// let a: Domain = "GoldenKey.Example.".parse().unwrap();
/// let b: Domain = "goldenkey.example".parse().unwrap();
/// assert_eq!(a, b);
/// assert_eq!(a.as_str(), "goldenkey.example");
///
/// // Unicode and punycode spellings of one name meet.
/// let unicode: Domain = "bücher.example".parse().unwrap();
/// let puny: Domain = "xn--bcher-kva.example".parse().unwrap();
/// assert_eq!(unicode, puny);
///
/// assert!("bad host.example".parse::<Domain>().is_err());
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Domain(String);

/// Why a text is not a domain name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DomainError {
    /// The name is empty (or only a dot).
    #[error("empty domain name")]
    Empty,
    /// The name holds a character no host name may hold.
    #[error("invalid character {0:?} in domain name")]
    InvalidCharacter(char),
    /// Two dots in a row, or a leading dot.
    #[error("empty label in domain name")]
    EmptyLabel,
    /// A label is longer than 63 octets in ASCII form.
    #[error("domain label longer than {MAX_LABEL_LEN} octets")]
    LabelTooLong,
    /// The name is longer than 253 octets in ASCII form.
    #[error("domain name longer than {MAX_NAME_LEN} octets")]
    NameTooLong,
    /// A label starts or ends with a hyphen, or is not valid IDNA.
    #[error("invalid internationalised or hyphenated label in domain name")]
    InvalidLabel,
}

impl Domain {
    /// Normalises `name`: case, one trailing dot, Unicode to punycode.
    ///
    /// # Errors
    ///
    /// A [`DomainError`] saying what is wrong; nothing here panics.
    pub fn parse(name: &str) -> Result<Self, DomainError> {
        // One trailing dot is the DNS root: `a.example.` is `a.example`.
        let name = name.strip_suffix('.').unwrap_or(name);
        if name.is_empty() {
            return Err(DomainError::Empty);
        }
        // Bound the work before handing the name to IDNA processing: no valid
        // name is longer than this in any spelling it could arrive in.
        if name.len() > 4 * MAX_NAME_LEN {
            return Err(DomainError::NameTooLong);
        }
        if let Some(bad) = name
            .chars()
            .find(|c| c.is_ascii() && !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
        {
            return Err(DomainError::InvalidCharacter(bad));
        }
        if name.split('.').any(str::is_empty) {
            return Err(DomainError::EmptyLabel);
        }
        // Fast path, the usual case: letters, digits, hyphens and dots, no
        // punycode label. UTS #46 maps such a name to its lowercase form and
        // checks only the hyphen rule, so that is all this does.
        if name.is_ascii()
            && !name
                .split('.')
                .any(|label| label.len() >= 4 && label[..4].eq_ignore_ascii_case("xn--"))
        {
            if name
                .split('.')
                .any(|label| label.starts_with('-') || label.ends_with('-'))
            {
                return Err(DomainError::InvalidLabel);
            }
            if name.split('.').any(|label| label.len() > MAX_LABEL_LEN) {
                return Err(DomainError::LabelTooLong);
            }
            if name.len() > MAX_NAME_LEN {
                return Err(DomainError::NameTooLong);
            }
            return Ok(Self(name.to_ascii_lowercase()));
        }
        let ascii = Uts46::new()
            .to_ascii(
                name.as_bytes(),
                AsciiDenyList::STD3,
                Hyphens::CheckFirstLast,
                DnsLength::Ignore,
            )
            .map_err(|_| DomainError::InvalidLabel)?;
        // Unicode full stops (U+3002 and friends) map to '.', so check the
        // labels again on the ASCII form.
        if ascii.split('.').any(str::is_empty) {
            return Err(DomainError::EmptyLabel);
        }
        if ascii.split('.').any(|label| label.len() > MAX_LABEL_LEN) {
            return Err(DomainError::LabelTooLong);
        }
        if ascii.len() > MAX_NAME_LEN {
            return Err(DomainError::NameTooLong);
        }
        // A punycode label can decode to a label that itself starts with
        // `xn--` (`xn--xn--n-lyyyyll` decodes to `xn--n` and three Canadian
        // syllabics), which UTS #46 without CheckHyphens lets through. Its
        // Unicode form would not parse back to it: one domain, two
        // spellings that disagree. Only names that round-trip are domains.
        let unicode = idna::domain_to_unicode(&ascii).0;
        let again = Uts46::new().to_ascii(
            unicode.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::CheckFirstLast,
            DnsLength::Ignore,
        );
        if !again.is_ok_and(|again| again == ascii)
            || unicode.split('.').any(|label| {
                // `get`: a Unicode label may have no char boundary at 4.
                label
                    .get(..4)
                    .is_some_and(|p| p.eq_ignore_ascii_case("xn--"))
            })
        {
            return Err(DomainError::InvalidLabel);
        }
        Ok(Self(ascii.into_owned()))
    }

    /// The canonical ASCII form.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Unicode form, for showing to people (never for lookups).
    pub fn to_unicode(&self) -> String {
        idna::domain_to_unicode(&self.0).0
    }

    /// The leftmost label, if this name is exactly one label below `base`:
    /// `goldenkey` for `goldenkey.crm.example` under `crm.example`.
    pub fn subdomain_of(&self, base: &Domain) -> Option<&str> {
        let prefix = self.0.strip_suffix(base.as_str())?.strip_suffix('.')?;
        (!prefix.is_empty() && !prefix.contains('.')).then_some(prefix)
    }
}

impl fmt::Debug for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Domain({:?})", self.0)
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Domain {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Domain {
    type Error = DomainError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Domain> for String {
    fn from(d: Domain) -> Self {
        d.0
    }
}

impl AsRef<str> for Domain {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        Domain::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}")).0
    }

    #[test]
    fn case_and_trailing_dot_meet() {
        assert_eq!(ok("GoldenKey.LOCALHOST."), "goldenkey.localhost");
        assert_eq!(ok("stone.localhost"), "stone.localhost");
        assert_eq!(ok("localhost"), "localhost");
    }

    #[test]
    fn unicode_and_punycode_meet() {
        assert_eq!(ok("Bücher.example"), "xn--bcher-kva.example");
        assert_eq!(ok("XN--BCHER-KVA.example"), "xn--bcher-kva.example");
        // Ideographic full stop separates labels too.
        assert_eq!(ok("bücher\u{3002}example"), "xn--bcher-kva.example");
        assert_eq!(
            Domain::parse("xn--bcher-kva.example").unwrap().to_unicode(),
            "bücher.example"
        );
    }

    #[test]
    fn rejects_malformed_names() {
        let long_label = "a".repeat(64);
        let long_name = format!("{}.example", ["abcdefghi"; 25].join("."));
        let cases: &[(&str, DomainError)] = &[
            ("", DomainError::Empty),
            (".", DomainError::Empty),
            ("a..b", DomainError::EmptyLabel),
            (".a", DomainError::EmptyLabel),
            ("a.b..", DomainError::EmptyLabel),
            ("a b", DomainError::InvalidCharacter(' ')),
            ("a_b.example", DomainError::InvalidCharacter('_')),
            ("user@host", DomainError::InvalidCharacter('@')),
            ("host:80", DomainError::InvalidCharacter(':')),
            ("host/path", DomainError::InvalidCharacter('/')),
            ("a\0b", DomainError::InvalidCharacter('\0')),
            (&long_label, DomainError::LabelTooLong),
            (&long_name, DomainError::NameTooLong),
            ("-a.example", DomainError::InvalidLabel),
            ("a-.example", DomainError::InvalidLabel),
            ("xn--zz.example", DomainError::InvalidLabel),
            // Found by the host fuzz target: decodes to a label that
            // itself starts with `xn--`.
            ("XN--XN--N-LYYYYLL", DomainError::InvalidLabel),
            ("xn--xn--n-lyyyyll.example", DomainError::InvalidLabel),
            ("XN--XN--XXXN-N--LLL", DomainError::InvalidLabel),
        ];
        for (input, want) in cases {
            assert_eq!(Domain::parse(input).as_ref(), Err(want), "{input:?}");
        }
    }

    #[test]
    fn the_ascii_fast_path_agrees_with_uts46() {
        for name in [
            "GoldenKey.localhost",
            "a-b.c",
            "ab--cd.example",
            "x.Y.z",
            "123.example",
            "a",
        ] {
            let slow = Uts46::new()
                .to_ascii(
                    name.as_bytes(),
                    AsciiDenyList::STD3,
                    Hyphens::CheckFirstLast,
                    DnsLength::Ignore,
                )
                .unwrap();
            assert_eq!(Domain::parse(name).unwrap().as_str(), slow, "{name}");
        }
        for bad in ["-a.example", "a-.example"] {
            assert!(
                Uts46::new()
                    .to_ascii(
                        bad.as_bytes(),
                        AsciiDenyList::STD3,
                        Hyphens::CheckFirstLast,
                        DnsLength::Ignore
                    )
                    .is_err()
            );
            assert_eq!(Domain::parse(bad), Err(DomainError::InvalidLabel));
        }
    }

    #[test]
    fn label_and_name_limits_are_inclusive() {
        let label = "a".repeat(63);
        assert!(Domain::parse(&label).is_ok());
        // 4 labels of 63 plus 3 dots = 255 > 253; 3 of 63 + 61 + 3 dots = 253.
        let max = format!("{label}.{label}.{label}.{}", "b".repeat(61));
        assert_eq!(max.len(), 253);
        assert!(Domain::parse(&max).is_ok());
        assert_eq!(
            Domain::parse(&format!("{max}b")),
            Err(DomainError::NameTooLong)
        );
    }

    #[test]
    fn subdomains() {
        let base = Domain::parse("crm.example").unwrap();
        let d = |s: &str| Domain::parse(s).unwrap();
        assert_eq!(
            d("goldenkey.crm.example").subdomain_of(&base),
            Some("goldenkey")
        );
        assert_eq!(d("a.b.crm.example").subdomain_of(&base), None);
        assert_eq!(d("crm.example").subdomain_of(&base), None);
        assert_eq!(d("evilcrm.example").subdomain_of(&base), None);
    }

    #[test]
    fn serde_normalises_and_validates() {
        let d: Domain = serde_json::from_str("\"Stone.Localhost.\"").unwrap();
        assert_eq!(d.as_str(), "stone.localhost");
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"stone.localhost\"");
        assert!(serde_json::from_str::<Domain>("\"a b\"").is_err());
    }

    /// Found by the host fuzz target in the first version of the round-trip
    /// check: a Unicode form with no char boundary at byte 4 panicked.
    #[test]
    fn unicode_forms_are_sliced_safely() {
        for name in ["X\u{344}", "\u{344}abc.example", "ab\u{e9}d.example"] {
            if let Ok(domain) = Domain::parse(name) {
                assert_eq!(Domain::parse(&domain.to_unicode()), Ok(domain));
            }
        }
    }
}
