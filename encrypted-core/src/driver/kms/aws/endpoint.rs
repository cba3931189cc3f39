//! KMS endpoints (`host[:port]`) and which of them an AWS provider may reach.
//!
//! A key document's `masterKey.endpoint` and `masterKey.region` are data: whoever can
//! write the key vault chooses them. They must not choose where a signed request (and
//! the session token in it) goes, nor who answers a `Decrypt`. So a provider reaches
//! only the official AWS KMS endpoints of the key's region, or endpoints the application
//! allowed explicitly.

use std::fmt;
use std::net::Ipv6Addr;

/// The HTTPS port, which an endpoint without one means.
const HTTPS_PORT: u16 = 443;

/// An endpoint, normalised: the host in lower case, the port explicit, so that
/// `KMS.example.com` and `kms.example.com:443` are the same endpoint.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Endpoint {
    host: String,
    port: u16,
}

impl Endpoint {
    /// Parses `host[:port]`: a DNS name, an IPv4 address or a bracketed IPv6 address,
    /// and an optional decimal port. No scheme, user, path, query or anything else.
    pub(crate) fn parse(text: &str) -> Option<Self> {
        if text.len() > 261 {
            return None;
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (address, rest) = rest.split_once(']')?;
            let address: Ipv6Addr = address.parse().ok()?;
            let port = match rest {
                "" => None,
                _ => Some(rest.strip_prefix(':')?),
            };
            (format!("[{address}]"), port)
        } else {
            let (host, port) = match text.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            };
            let labels_ok = host.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
            if host.is_empty() || !labels_ok {
                return None;
            }
            (host.to_ascii_lowercase(), port)
        };
        let port = match port {
            None => HTTPS_PORT,
            Some(digits)
                if !digits.is_empty()
                    && digits.len() <= 5
                    && digits.bytes().all(|b| b.is_ascii_digit()) =>
            {
                digits.parse().ok().filter(|&port| port != 0)?
            }
            Some(_) => return None,
        };
        Some(Self { host, port })
    }

    /// The official AWS KMS endpoint of `region` (the host used when a master key
    /// names none), if `region` is a well-formed region name.
    pub(crate) fn default_for(region: &str) -> Option<Self> {
        valid_region(region).then(|| Self {
            host: format!("kms.{region}.amazonaws.com"),
            port: HTTPS_PORT,
        })
    }

    /// Whether this is one of AWS's own KMS endpoints for `region`: `kms.<region>` or
    /// `kms-fips.<region>` under `amazonaws.com` (`amazonaws.com.cn` in China), on 443.
    pub(crate) fn is_official_for(&self, region: &str) -> bool {
        if !valid_region(region) || self.port != HTTPS_PORT {
            return false;
        }
        let domain = if region.starts_with("cn-") {
            "amazonaws.com.cn"
        } else {
            "amazonaws.com"
        };
        ["kms", "kms-fips"]
            .iter()
            .any(|service| self.host == format!("{service}.{region}.{domain}"))
    }

    /// The host, without the port (the `gcp` provider derives its OAuth audience and
    /// scope from it, as libmongocrypt does).
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// `host` on the HTTPS port, `host:port` otherwise: what the `Host` header and the
    /// URL carry.
    pub(crate) fn authority(&self) -> String {
        if self.port == HTTPS_PORT {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// An AWS region name: lower-case letters, digits and `-` (`us-east-1`), nothing that
/// could change a host name (dots, slashes, ports, user info).
pub(crate) fn valid_region(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 63
        && !region.starts_with('-')
        && !region.ends_with('-')
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_the_default_port() {
        let a = Endpoint::parse("KMS.example.com").unwrap();
        assert_eq!(a, Endpoint::parse("kms.example.com:443").unwrap());
        assert_eq!(a.authority(), "kms.example.com");
        let b = Endpoint::parse("127.0.0.1:4566").unwrap();
        assert_eq!(b.authority(), "127.0.0.1:4566");
        assert_ne!(b, Endpoint::parse("127.0.0.1").unwrap());
        assert_eq!(
            Endpoint::parse("[::1]:8443").unwrap().authority(),
            "[::1]:8443"
        );
    }

    #[test]
    fn refuses_anything_but_host_and_port() {
        for bad in [
            "",
            "https://kms.us-east-1.amazonaws.com",
            "kms.us-east-1.amazonaws.com/",
            "user@evil.example",
            "evil.example#kms.us-east-1.amazonaws.com",
            "evil.example:443:1",
            "evil.example:",
            "evil.example:+443",
            "evil.example:0",
            "evil.example:65536",
            "evil..example",
            "evil.example.",
            " evil.example",
            "[::1",
            "[not-ipv6]:443",
        ] {
            assert_eq!(Endpoint::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn knows_the_official_endpoints_of_a_region() {
        let official = |endpoint: &str, region: &str| {
            Endpoint::parse(endpoint).unwrap().is_official_for(region)
        };
        assert!(official("kms.us-east-1.amazonaws.com", "us-east-1"));
        assert!(official(
            "kms-fips.us-east-1.amazonaws.com:443",
            "us-east-1"
        ));
        assert!(official("kms.cn-north-1.amazonaws.com.cn", "cn-north-1"));
        assert!(!official("kms.us-east-1.amazonaws.com", "eu-west-1"));
        assert!(!official("kms.us-east-1.amazonaws.com:8443", "us-east-1"));
        assert!(!official("kms.evil.example.amazonaws.com", "evil.example"));
        assert!(!official("evil.example", "us-east-1"));
        for bad in [
            "",
            "evil.example",
            "us-east-1/x",
            "us-east-1:1",
            "a@b",
            "US-EAST-1",
        ] {
            assert!(Endpoint::default_for(bad).is_none(), "{bad}");
        }
    }
}
