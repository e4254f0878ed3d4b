//! Describing a refused TLS handshake in the operator's words ([`TlsRejection`]), and finding that description
//! again in the error the HTTP stack returns.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use super::verify::{encode_hex, is_self_signed, names, sha1};

/// Which check refused the server during the TLS handshake ([`TlsRejection::check`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsCheck {
    /// No trusted CA issued the certificate (its issuer is not in the trust store or the CA bundle).
    UnknownIssuer,
    /// The certificate issued itself, and nothing trusts it: the usual cluster certificate.
    SelfSigned,
    /// None of the certificate's names is the endpoint's host.
    NameMismatch,
    /// The certificate's validity ended.
    Expired,
    /// The certificate's validity has not begun (or this machine's clock is behind).
    NotYetValid,
    /// The certificate is a CA certificate (basic constraints `CA:TRUE`) presented as the server's own, which
    /// web PKI validation refuses.
    CaUsedAsEndEntity,
    /// The certificate matches none of the configured server thumbprints or common names.
    NotPinned,
    /// The certificate has a configured common name, but its direct issuer has none of the configured issuer
    /// thumbprints.
    IssuerNotPinned,
    /// The server did not answer in TLS at all: most likely an http port given an https endpoint.
    NotTls,
    /// Any other reason; [`TlsRejection::detail`] has the verifier's words.
    Other,
}

impl TlsCheck {
    /// A stable name for programs, such as `unknown_issuer` or `name_mismatch`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownIssuer => "unknown_issuer",
            Self::SelfSigned => "self_signed",
            Self::NameMismatch => "name_mismatch",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::CaUsedAsEndEntity => "ca_used_as_end_entity",
            Self::NotPinned => "not_pinned",
            Self::IssuerNotPinned => "issuer_not_pinned",
            Self::NotTls => "not_tls",
            Self::Other => "other",
        }
    }
}

/// The certificate the server presented, as an operator compares it with the cluster's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerCertificate {
    /// The SHA-1 thumbprint in upper-case hex without separators, as Service Fabric and Windows show it (and as
    /// [`ClientBuilder::server_certificate_thumbprint`](crate::ClientBuilder::server_certificate_thumbprint)
    /// takes it).
    pub sha1_thumbprint: String,
    /// The subject, such as `CN=mycluster.westus.cloudapp.azure.com`.
    pub subject: String,
    /// The issuer; the subject again when the certificate is self-signed.
    pub issuer: String,
    /// The subject's common names, then the DNS names of its subject alternative names.
    pub names: Vec<String>,
    /// The start of its validity.
    pub not_before: String,
    /// The end of its validity.
    pub not_after: String,
    /// Whether it issued itself.
    pub self_signed: bool,
    /// Whether it is a CA certificate (basic constraints `CA:TRUE`).
    pub is_ca: bool,
}

impl ServerCertificate {
    /// `None` only when the bytes are not a certificate at all.
    pub(super) fn read(der: &CertificateDer<'_>) -> Option<Self> {
        let (_, parsed) = x509_parser::parse_x509_certificate(der).ok()?;
        let validity = parsed.validity();
        Some(Self {
            sha1_thumbprint: encode_hex(&sha1(der)),
            subject: parsed.subject().to_string(),
            issuer: parsed.issuer().to_string(),
            names: names(&parsed).map(str::to_owned).collect(),
            not_before: validity.not_before.to_string(),
            not_after: validity.not_after.to_string(),
            self_signed: is_self_signed(&parsed),
            is_ca: parsed.is_ca(),
        })
    }
}

/// Why the TLS handshake with the server failed, in terms an operator can act on: which check refused it, and
/// the certificate the server presented (when it presented one). Found with
/// [`Error::tls_rejection`](crate::Error::tls_rejection). Nothing about the checks themselves is relaxed to make
/// this: each verifier decides as before, and only its refusal is described.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TlsRejection {
    /// Which check failed.
    pub check: TlsCheck,
    /// The server's certificate; `None` when none was presented (see [`TlsCheck::NotTls`]).
    pub certificate: Option<ServerCertificate>,
    /// The host name or address the certificate was checked against, for [`TlsCheck::NameMismatch`].
    pub host: Option<String>,
    /// The verifier's own explanation.
    pub detail: String,
}

impl fmt::Display for TlsRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = self.certificate.as_ref().map(|certificate| {
            format!(
                "the server certificate (SHA-1 thumbprint {}, subject \"{}\")",
                certificate.sha1_thumbprint, certificate.subject
            )
        });
        let subject = shown.as_deref().unwrap_or("the server certificate");
        match self.check {
            // The pinning rules already describe the certificate in their own words.
            TlsCheck::NotPinned | TlsCheck::IssuerNotPinned => f.write_str(&self.detail),
            _ if self.detail.starts_with("the server certificate (") => f.write_str(&self.detail),
            TlsCheck::UnknownIssuer => write!(
                f,
                "{subject} was issued by a CA that is not trusted ({})",
                self.detail
            ),
            TlsCheck::SelfSigned => write!(
                f,
                "{subject} is self-signed and not trusted ({})",
                self.detail
            ),
            TlsCheck::NameMismatch => write!(
                f,
                "{subject} is not issued for {} ({})",
                self.host.as_deref().unwrap_or("the endpoint's host"),
                self.detail
            ),
            TlsCheck::Expired => write!(f, "{subject} has expired ({})", self.detail),
            TlsCheck::NotYetValid => write!(f, "{subject} is not valid yet ({})", self.detail),
            TlsCheck::CaUsedAsEndEntity => write!(
                f,
                "{subject} is a CA certificate, which standard validation refuses as a server's own ({})",
                self.detail
            ),
            TlsCheck::NotTls => write!(
                f,
                "the server did not answer in TLS, so the endpoint is probably an http port ({})",
                self.detail
            ),
            TlsCheck::Other => write!(f, "{subject} was refused ({})", self.detail),
        }
    }
}

impl std::error::Error for TlsRejection {}

impl TlsRejection {
    /// The refusal as rustls carries it back through reqwest to [`rejection_in`].
    pub(super) fn into_rustls(self) -> rustls::Error {
        rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(Arc::new(
            Carried(self),
        ))))
    }

    /// Describes the refusal of a verifier that is not ours (web PKI, the platform's).
    fn of(error: &rustls::Error, end_entity: &CertificateDer<'_>, host: &ServerName<'_>) -> Self {
        let certificate = ServerCertificate::read(end_entity);
        let self_signed = certificate.as_ref().is_some_and(|c| c.self_signed);
        let is_ca = certificate.as_ref().is_some_and(|c| c.is_ca);
        let check = match error {
            rustls::Error::InvalidCertificate(problem) => match problem {
                CertificateError::UnknownIssuer if self_signed => TlsCheck::SelfSigned,
                CertificateError::UnknownIssuer => TlsCheck::UnknownIssuer,
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => TlsCheck::NameMismatch,
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    TlsCheck::Expired
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                    TlsCheck::NotYetValid
                }
                // webpki's CaUsedAsEndEntity has no rustls variant; the certificate itself says so.
                CertificateError::Other(other)
                    if is_ca || format!("{other:?}").contains("CaUsedAsEndEntity") =>
                {
                    TlsCheck::CaUsedAsEndEntity
                }
                _ => TlsCheck::Other,
            },
            _ => TlsCheck::Other,
        };
        Self {
            check,
            certificate,
            host: Some(host.to_str().into_owned()),
            // rustls shows a webpki reason it has no variant for as `Other(OtherError(..))`; the reason alone reads
            // better.
            detail: match error {
                rustls::Error::InvalidCertificate(CertificateError::Other(other)) => {
                    format!("refused by web PKI validation: {}", other.0)
                }
                other => other.to_string(),
            },
        }
    }
}

/// A [`TlsRejection`] inside a rustls error. rustls shows the error it carries with `Debug` inside its own
/// message, so this `Debug` is the readable explanation.
struct Carried(TlsRejection);

impl fmt::Debug for Carried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl fmt::Display for Carried {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Carried {}

/// The rustls error `error` is or wraps: the HTTP stack puts it inside I/O errors, sometimes one inside another,
/// and an I/O error's `source` skips the error it wraps.
fn rustls_error<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
    let mut current = error;
    loop {
        if let Some(tls) = current.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        current = current.downcast_ref::<std::io::Error>()?.get_ref()?;
    }
}

/// The refusal described by the TLS layer somewhere in `error`'s chain of causes: ours, or a handshake that
/// did not speak TLS at all.
pub(crate) fn rejection_in(error: &(dyn std::error::Error + 'static)) -> Option<TlsRejection> {
    let mut cause = Some(error);
    while let Some(current) = cause {
        match rustls_error(current) {
            Some(rustls::Error::InvalidCertificate(CertificateError::Other(other))) => {
                if let Some(Carried(rejection)) = other.0.downcast_ref::<Carried>() {
                    return Some(rejection.clone());
                }
            }
            Some(error @ rustls::Error::InvalidMessage(_)) => {
                return Some(TlsRejection {
                    check: TlsCheck::NotTls,
                    certificate: None,
                    host: None,
                    detail: error.to_string(),
                });
            }
            _ => {}
        }
        cause = current.source();
    }
    None
}

/// Any verifier, with its refusals described ([`TlsRejection`]); its decisions are unchanged.
#[derive(Debug)]
pub(super) struct Diagnosing(pub(super) Arc<dyn ServerCertVerifier>);

impl ServerCertVerifier for Diagnosing {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|error| match &error {
                // Ours already described it.
                rustls::Error::InvalidCertificate(CertificateError::Other(other))
                    if other.0.is::<Carried>() =>
                {
                    error
                }
                rustls::Error::InvalidCertificate(_) => {
                    TlsRejection::of(&error, end_entity, server_name).into_rustls()
                }
                _ => error,
            })
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }

    fn requires_raw_public_keys(&self) -> bool {
        self.0.requires_raw_public_keys()
    }

    fn root_hint_subjects(&self) -> Option<&[rustls::DistinguishedName]> {
        self.0.root_hint_subjects()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejection_is_found_inside_nested_io_errors_and_shows_no_internals() {
        let rejection = TlsRejection {
            check: TlsCheck::SelfSigned,
            certificate: None,
            host: Some("cluster".to_owned()),
            detail: "invalid peer certificate: UnknownIssuer".to_owned(),
        };
        // As tokio-rustls and hyper hand it on: the rustls error in an I/O error, in another I/O error.
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, rejection.into_rustls());
        let outer = std::io::Error::other(inner);
        let found = rejection_in(&outer).expect("found through both I/O errors");
        assert_eq!(found.check, TlsCheck::SelfSigned);
        let shown = outer.to_string();
        assert!(shown.contains("self-signed and not trusted"), "{shown}");
        assert!(
            !shown.contains("Carried") && !shown.contains("TlsRejection {"),
            "{shown}"
        );
        // A handshake that is not TLS at all has no certificate to show.
        let garbage = rustls::Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType);
        let found = rejection_in(&std::io::Error::other(garbage)).unwrap();
        assert_eq!(found.check, TlsCheck::NotTls);
        assert!(found.certificate.is_none());
        assert!(rejection_in(&std::io::Error::other("connection refused")).is_none());
    }
}
