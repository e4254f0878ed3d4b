//! Judging the cluster's server certificate in the handshake by thumbprint or by common name (with issuer
//! thumbprints, a CA bundle or the system trust store vouching for it), or accepting any.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::TlsOptions;
use super::rejection::{ServerCertificate, TlsCheck, TlsRejection};
use crate::Error;

// The crypto library of the provider the feature chose; its `digest` module computes thumbprints (ring's API,
// which aws-lc-rs copies).
#[cfg(not(feature = "tls-ring"))]
use ::aws_lc_rs as crypto_library;
#[cfg(feature = "tls-ring")]
use ::ring as crypto_library;

/// A certificate thumbprint: SHA-1, as Service Fabric and Windows show it, or SHA-256.
#[derive(Clone, PartialEq, Eq)]
enum Thumbprint {
    Sha1(Vec<u8>),
    Sha256(Vec<u8>),
}

impl Thumbprint {
    fn parse(text: &str, what: &'static str) -> Result<Self, Error> {
        // Spaces and colons are how tools group the bytes; U+200E is the invisible mark that Windows' certificate
        // dialog puts in front of a thumbprint copied from it.
        let hex: String = text
            .chars()
            .filter(|c| !(c.is_whitespace() || *c == ':' || *c == '\u{200e}'))
            .collect();
        let bytes = decode_hex(&hex);
        match bytes {
            Some(bytes) if bytes.len() == 20 => Ok(Self::Sha1(bytes)),
            Some(bytes) if bytes.len() == 32 => Ok(Self::Sha256(bytes)),
            _ => Err(Error::invalid(
                what,
                format!(
                    "{text:?} is not a SHA-1 (40 hex digits) or SHA-256 (64 hex digits) thumbprint"
                ),
                "pass the thumbprint as Service Fabric shows it, such as 8A3C2F...; case, spaces and colons \
                 do not matter",
            )),
        }
    }

    fn matches(&self, der: &[u8]) -> bool {
        match self {
            Self::Sha1(expected) => *expected == sha1(der),
            Self::Sha256(expected) => *expected == sha256(der),
        }
    }
}

impl fmt::Debug for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, bytes) = match self {
            Self::Sha1(bytes) => ("SHA-1", bytes),
            Self::Sha256(bytes) => ("SHA-256", bytes),
        };
        write!(f, "{kind} {}", encode_hex(bytes))
    }
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) || !hex.is_ascii() {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok())
        .collect()
}

pub(super) fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

pub(super) fn sha1(data: &[u8]) -> Vec<u8> {
    // SHA-1 only identifies a certificate the operator already chose, as Service Fabric does; it signs nothing.
    crypto_library::digest::digest(&crypto_library::digest::SHA1_FOR_LEGACY_USE_ONLY, data)
        .as_ref()
        .to_vec()
}

fn sha256(data: &[u8]) -> Vec<u8> {
    crypto_library::digest::digest(&crypto_library::digest::SHA256, data)
        .as_ref()
        .to_vec()
}

/// The CA certificates of a bundle as trust anchors.
pub(super) fn trust_anchors(
    certificates: Vec<CertificateDer<'static>>,
) -> Result<RootCertStore, Error> {
    let mut roots = RootCertStore::empty();
    for certificate in certificates {
        roots.add(certificate).map_err(|error| {
            Error::invalid(
                "CA certificates",
                format!("a certificate cannot be used as a trust anchor ({error})"),
                "pass the PEM certificates of the CAs that issued the cluster's certificate",
            )
        })?;
    }
    Ok(roots)
}

/// The operating system's trust store (or the PEM files that `SSL_CERT_FILE` and `SSL_CERT_DIR` name) as trust
/// anchors, for chains that are validated without comparing the host name.
fn system_trust_anchors() -> Result<RootCertStore, Error> {
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    let (added, _unusable) = roots.add_parsable_certificates(loaded.certs);
    if added == 0 {
        let reasons: Vec<String> = loaded.errors.iter().map(ToString::to_string).collect();
        return Err(Error::Client {
            message: format!(
                "could not load the operating system's trust store for common-name validation: it holds no \
                 usable certificate{}; pass the CA of the cluster certificate with ca_certificates_pem, or \
                 pin its issuer with server_certificate_issuer_thumbprint",
                if reasons.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", reasons.join("; "))
                }
            ),
            source: None,
        });
    }
    Ok(roots)
}

/// Validation by thumbprint or by common name, as the .NET client's X509 credentials offer it: the server's host
/// name is not compared with the certificate, because cluster certificates are often issued for another name.
///
/// - A leaf whose thumbprint is pinned is accepted whatever its name and issuer, within its validity dates.
/// - A leaf accepted by name (subject CN or a DNS SAN) must be within its dates and either have a direct issuer
///   with a pinned issuer thumbprint, or chain to the CA bundle or the operating system's trust store.
#[derive(Debug)]
pub(super) struct Pinned {
    thumbprints: Vec<Thumbprint>,
    by_name: Option<ByName>,
}

/// Acceptance by common name, and what must vouch for the named certificate.
#[derive(Debug)]
struct ByName {
    common_names: Vec<String>,
    vouched: Voucher,
}

enum Voucher {
    /// The leaf's direct issuer (the leaf itself when self-signed) has one of these thumbprints and signed it.
    /// Candidates are the certificates the server sends and those of the CA bundle.
    Issuer {
        thumbprints: Vec<Thumbprint>,
        known_issuers: Vec<CertificateDer<'static>>,
    },
    /// The leaf chains to one of these trust anchors.
    Chain {
        roots: Arc<RootCertStore>,
        source: &'static str,
    },
}

// The system store holds well over a hundred anchors; their count and origin say enough.
impl fmt::Debug for Voucher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Issuer {
                thumbprints,
                known_issuers,
            } => f
                .debug_struct("Issuer")
                .field("thumbprints", thumbprints)
                .field("known_issuers", &known_issuers.len())
                .finish(),
            Self::Chain { roots, source } => {
                write!(f, "Chain({} anchors of {source})", roots.len())
            }
        }
    }
}

impl Pinned {
    /// `None` when the options pin nothing (the usual validation by host name then applies).
    pub(super) fn new(
        options: &TlsOptions,
        ca_certificates: Option<&[CertificateDer<'static>]>,
    ) -> Result<Option<Self>, Error> {
        let parse_all = |texts: &[String], what| {
            texts
                .iter()
                .map(|text| Thumbprint::parse(text, what))
                .collect::<Result<Vec<_>, _>>()
        };
        let thumbprints = parse_all(&options.thumbprints, "server certificate thumbprint")?;
        let issuer_thumbprints = parse_all(
            &options.issuer_thumbprints,
            "server certificate issuer thumbprint",
        )?;
        let mut common_names = Vec::new();
        for name in &options.common_names {
            let name = name.trim();
            if name.is_empty() {
                return Err(Error::invalid(
                    "server certificate common name",
                    "it is empty",
                    "pass the CN of the cluster certificate, such as mycluster.westus.cloudapp.azure.com",
                ));
            }
            common_names.push(name.to_owned());
        }
        let by_name = if common_names.is_empty() {
            None
        } else {
            let vouched = match (issuer_thumbprints.is_empty(), ca_certificates) {
                (false, known) => Voucher::Issuer {
                    thumbprints: issuer_thumbprints,
                    known_issuers: known.map(<[_]>::to_vec).unwrap_or_default(),
                },
                (true, Some(bundle)) => Voucher::Chain {
                    roots: Arc::new(trust_anchors(bundle.to_vec())?),
                    source: "the configured CA certificates",
                },
                (true, None) => Voucher::Chain {
                    roots: Arc::new(system_trust_anchors()?),
                    source: "the operating system's trust store",
                },
            };
            Some(ByName {
                common_names,
                vouched,
            })
        };
        if thumbprints.is_empty() && by_name.is_none() {
            return Ok(None);
        }
        Ok(Some(Self {
            thumbprints,
            by_name,
        }))
    }

    fn check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        provider: &CryptoProvider,
    ) -> Result<(), (TlsCheck, String)> {
        let described = describe(end_entity);
        let (_, parsed) = x509_parser::parse_x509_certificate(end_entity).map_err(|error| {
            (
                TlsCheck::Other,
                format!("the server certificate ({described}) cannot be parsed ({error})"),
            )
        })?;
        if self.thumbprints.iter().any(|t| t.matches(end_entity)) {
            // As the .NET client: it forgives an unknown root and a partial chain for a pinned certificate, but
            // not a certificate outside its validity dates. The handshake signature proves the key is held.
            return valid_at(&parsed, now).map_err(|(check, problem)| {
                (
                    check,
                    format!(
                        "the server certificate ({described}) has a configured thumbprint but {problem}"
                    ),
                )
            });
        }
        let Some(by_name) = &self.by_name else {
            return Err((
                TlsCheck::NotPinned,
                format!(
                    "the server certificate ({described}) matches none of the configured server thumbprints"
                ),
            ));
        };
        if !names(&parsed).any(|name| {
            by_name
                .common_names
                .iter()
                .any(|wanted| wanted.eq_ignore_ascii_case(name.trim()))
        }) {
            let what = if self.thumbprints.is_empty() {
                "common names"
            } else {
                "thumbprints or common names"
            };
            return Err((
                TlsCheck::NotPinned,
                format!(
                    "the server certificate ({described}) matches none of the configured server {what} (by \
                     subject CN or DNS name)"
                ),
            ));
        }
        valid_at(&parsed, now).map_err(|(check, problem)| {
            (
                check,
                format!(
                    "the server certificate ({described}) has a configured common name but {problem}"
                ),
            )
        })?;
        let leaf = ParsedCertificate::try_from(end_entity).map_err(|error| {
            (
                TlsCheck::Other,
                format!("the server certificate ({described}) cannot be parsed ({error})"),
            )
        })?;
        let algorithms = provider.signature_verification_algorithms.all;
        match &by_name.vouched {
            Voucher::Issuer {
                thumbprints,
                known_issuers,
            } => {
                let mut candidates = std::iter::once(end_entity)
                    .chain(intermediates)
                    .chain(known_issuers)
                    .filter(|candidate| thumbprints.iter().any(|t| t.matches(candidate)));
                // The pinned issuer is the only anchor and no intermediate is offered, so only a certificate it
                // signed itself passes: not one from a sub-CA under it, nor one that merely names it as issuer.
                if candidates.any(|issuer| {
                    let mut anchor = RootCertStore::empty();
                    anchor.add(issuer.clone().into_owned()).is_ok()
                        && verify_server_cert_signed_by_trust_anchor(
                            &leaf,
                            &anchor,
                            &[],
                            now,
                            algorithms,
                        )
                        .is_ok()
                }) {
                    Ok(())
                } else {
                    Err((
                        TlsCheck::IssuerNotPinned,
                        format!(
                            "the server certificate ({described}) has a configured common name but its direct \
                             issuer has none of the configured issuer thumbprints (or did not sign it)"
                        ),
                    ))
                }
            }
            Voucher::Chain { roots, source } => {
                verify_server_cert_signed_by_trust_anchor(
                    &leaf,
                    roots,
                    intermediates,
                    now,
                    algorithms,
                )
                .map_err(|error| {
                    let check = match &error {
                        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
                            if is_self_signed(&parsed) =>
                        {
                            TlsCheck::SelfSigned
                        }
                        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
                            TlsCheck::UnknownIssuer
                        }
                        _ if parsed.is_ca() => TlsCheck::CaUsedAsEndEntity,
                        _ => TlsCheck::Other,
                    };
                    (
                        check,
                        format!(
                            "the server certificate ({described}) has a configured common name but does not \
                             chain to {source} ({})",
                            chain_problem(&error)
                        ),
                    )
                })
            }
        }
    }
}

/// The subject CNs and the DNS names of the subject alternative names, where a certificate names its holder.
pub(super) fn names<'a>(
    certificate: &'a x509_parser::certificate::X509Certificate<'_>,
) -> impl Iterator<Item = &'a str> {
    let common_names = certificate
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok());
    let dns_names = certificate
        .subject_alternative_name()
        .ok()
        .flatten()
        .into_iter()
        .flat_map(|san| san.value.general_names.iter())
        .filter_map(|name| match name {
            x509_parser::extensions::GeneralName::DNSName(dns) => Some(*dns),
            _ => None,
        });
    common_names.chain(dns_names)
}

/// `Err` says why the certificate is not valid at `now`.
fn valid_at(
    certificate: &x509_parser::certificate::X509Certificate<'_>,
    now: UnixTime,
) -> Result<(), (TlsCheck, String)> {
    let validity = certificate.validity();
    let now = i64::try_from(now.as_secs())
        .ok()
        .and_then(|secs| x509_parser::time::ASN1Time::from_timestamp(secs).ok())
        .ok_or((
            TlsCheck::Other,
            "the current time cannot be compared with its validity dates".to_owned(),
        ))?;
    if now < validity.not_before {
        Err((
            TlsCheck::NotYetValid,
            format!("is not valid before {}", validity.not_before),
        ))
    } else if now > validity.not_after {
        Err((
            TlsCheck::Expired,
            format!("expired on {}", validity.not_after),
        ))
    } else {
        Ok(())
    }
}

/// Whether the certificate names itself as its issuer (the usual shape of a cluster certificate made with
/// `New-SelfSignedCertificate` or the portal's self-signed option).
pub(super) fn is_self_signed(certificate: &x509_parser::certificate::X509Certificate<'_>) -> bool {
    certificate.subject().as_raw() == certificate.issuer().as_raw()
}

/// webpki's reasons read like `UnknownIssuer`; the common ones get words.
fn chain_problem(error: &rustls::Error) -> String {
    match error {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "UnknownIssuer: no trusted CA issued it".to_owned()
        }
        rustls::Error::InvalidCertificate(CertificateError::BadSignature) => {
            "BadSignature: a signature in its chain does not verify".to_owned()
        }
        other => format!("{other:?}"),
    }
}

/// SHA-1 thumbprint and subject, for messages that let an operator see which certificate the server sent.
fn describe(certificate: &CertificateDer<'_>) -> String {
    let thumbprint = encode_hex(&sha1(certificate));
    match x509_parser::parse_x509_certificate(certificate) {
        Ok((_, parsed)) => format!(
            "SHA-1 thumbprint {thumbprint}, subject \"{}\"",
            parsed.subject()
        ),
        Err(_) => format!("SHA-1 thumbprint {thumbprint}"),
    }
}

#[derive(Debug)]
pub(super) enum Policy {
    AcceptAny,
    Pinned(Pinned),
}

#[derive(Debug)]
pub(super) struct ClusterVerifier {
    pub(super) policy: Policy,
    pub(super) provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for ClusterVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.policy {
            Policy::AcceptAny => Ok(ServerCertVerified::assertion()),
            Policy::Pinned(pinned) => pinned
                .check(end_entity, intermediates, now, &self.provider)
                .map(|()| ServerCertVerified::assertion())
                .map_err(|(check, detail)| {
                    TlsRejection {
                        check,
                        certificate: ServerCertificate::read(end_entity),
                        host: None,
                        detail,
                    }
                    .into_rustls()
                }),
        }
    }

    // The handshake signatures prove that the server holds the key of the certificate accepted above; without
    // them any server could replay a pinned certificate.
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_ignore_case_spaces_colons_and_the_windows_mark() {
        let sha1 =
            Thumbprint::parse("\u{200e}8a 3c:2F 00112233445566778899AABBCCDDEEFF00", "t").unwrap();
        assert!(matches!(sha1, Thumbprint::Sha1(ref b) if b.len() == 20 && b[0] == 0x8a));
        let sha256 = Thumbprint::parse(&"ab".repeat(32), "t").unwrap();
        assert!(matches!(sha256, Thumbprint::Sha256(_)));
        for bad in [
            "",
            "xyz",
            &"ab".repeat(19),
            &"ab".repeat(21),
            "é".repeat(40).as_str(),
        ] {
            let error = Thumbprint::parse(bad, "server certificate thumbprint").unwrap_err();
            assert!(error.is_invalid_input(), "{bad}");
            assert!(error.to_string().contains("server certificate thumbprint"));
        }
    }

    #[test]
    fn sha1_matches_a_known_digest() {
        assert_eq!(
            encode_hex(&sha1(b"abc")),
            "A9993E364706816ABA3E25717850C26C9CD0D89D"
        );
    }
}
