//! A strict reader of PEM files (RFC 7468) for TLS settings: every section must be
//! well-formed base64 of one DER `SEQUENCE`, so that a file that is not what it should be
//! is an error when it is configured, not a silently empty trust store.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use zeroize::Zeroizing;

/// One `-----BEGIN <label>-----` … `-----END <label>-----` section, decoded.
pub(crate) struct Section {
    /// The label: `CERTIFICATE`, `PRIVATE KEY`, …
    pub(crate) label: String,
    /// The DER bytes (zeroized on drop: a section may be a private key).
    pub(crate) der: Zeroizing<Vec<u8>>,
}

/// The sections of `pem`, in order. Text outside sections is ignored, as RFC 7468
/// allows (bundles often carry comments); anything malformed inside is an error.
///
/// The error says what is wrong without quoting the file.
pub(crate) fn sections(pem: &[u8]) -> Result<Vec<Section>, String> {
    let text = std::str::from_utf8(pem)
        .map_err(|_| "it is not PEM text (a binary DER file? convert it to PEM)".to_owned())?;
    let mut sections = Vec::new();
    let mut open: Option<(String, Zeroizing<String>)> = None;
    for line in text.lines().map(str::trim) {
        match &mut open {
            None => {
                if let Some(label) = boundary(line, "BEGIN") {
                    open = Some((label.to_owned(), Zeroizing::new(String::new())));
                } else if line.starts_with("-----") {
                    return Err("it has a PEM boundary outside a BEGIN/END section".to_owned());
                }
            }
            Some((label, body)) => {
                if let Some(end) = boundary(line, "END") {
                    if end != label {
                        return Err(format!("its `{label}` section ends as `{end}`"));
                    }
                    let der = decode(body)
                        .ok_or_else(|| format!("its `{label}` section is not valid base64 DER"))?;
                    sections.push(Section {
                        label: std::mem::take(label),
                        der,
                    });
                    open = None;
                } else if line.starts_with("-----") || line.contains(':') {
                    // Another boundary, or RFC 1421 headers (an encrypted private key).
                    return Err(format!("its `{label}` section is malformed or encrypted"));
                } else {
                    body.push_str(line);
                }
            }
        }
    }
    match open {
        Some((label, _)) => Err(format!("its `{label}` section has no END line")),
        None => Ok(sections),
    }
}

/// The label of a `-----BEGIN <label>-----` (or `END`) line.
fn boundary<'a>(line: &'a str, kind: &str) -> Option<&'a str> {
    line.strip_prefix("-----")?
        .strip_suffix("-----")?
        .strip_prefix(kind)?
        .strip_prefix(' ')
        .filter(|label| !label.is_empty())
}

/// The DER bytes of a section's base64, if they are exactly one DER `SEQUENCE`.
fn decode(base64: &str) -> Option<Zeroizing<Vec<u8>>> {
    let mut der = Zeroizing::new(vec![0_u8; base64::decoded_len_estimate(base64.len())]);
    let length = BASE64.decode_slice(base64, der.as_mut_slice()).ok()?;
    der.truncate(length);
    is_one_sequence(&der).then_some(der)
}

/// Whether `der` is one DER `SEQUENCE` whose length covers exactly the rest of it.
fn is_one_sequence(der: &[u8]) -> bool {
    let (Some(0x30), Some(&first)) = (der.first(), der.get(1)) else {
        return false;
    };
    let (header, length) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return false;
        }
        let Some(bytes) = der.get(2..2 + count) else {
            return false;
        };
        let length = bytes
            .iter()
            .fold(0_usize, |length, &b| (length << 8) | usize::from(b));
        (2 + count, length)
    };
    der.len().checked_sub(header) == Some(length)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem(label: &str, der: &[u8]) -> String {
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            BASE64.encode(der)
        )
    }

    #[test]
    fn reads_sections_and_ignores_explanatory_text() {
        let text = format!(
            "# Issuer: test\n{}\nsome comment\n{}",
            pem("CERTIFICATE", &[0x30, 0x01, 0x00]),
            pem("PRIVATE KEY", &[0x30, 0x00])
        );
        let sections = sections(text.as_bytes()).unwrap();
        let labels: Vec<&str> = sections.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["CERTIFICATE", "PRIVATE KEY"]);
        assert_eq!(sections[0].der.as_slice(), [0x30, 0x01, 0x00]);
    }

    #[test]
    fn refuses_what_is_not_well_formed() {
        assert!(sections(b"this is not a certificate").unwrap().is_empty());
        for bad in [
            pem("CERTIFICATE", b"not DER"),
            pem("CERTIFICATE", &[0x30, 0x05, 0x00]),
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n".to_owned(),
            "-----BEGIN CERTIFICATE-----\nMAA=\n".to_owned(),
            "-----BEGIN CERTIFICATE-----\nMAA=\n-----END PRIVATE KEY-----\n".to_owned(),
            "-----END CERTIFICATE-----\n".to_owned(),
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nMAA=\n-----END RSA PRIVATE KEY-----\n".to_owned(),
        ] {
            assert!(sections(bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(sections(&[0xff, 0xfe, 0x30]).is_err());
    }

    #[test]
    fn checks_long_form_der_lengths() {
        let mut der = vec![0x30, 0x81, 0x80];
        der.extend([0_u8; 0x80]);
        assert!(is_one_sequence(&der));
        der.push(0);
        assert!(!is_one_sequence(&der));
        assert!(!is_one_sequence(&[0x30, 0x80]));
    }
}
