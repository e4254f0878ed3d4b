//! TLS for secured clusters: client certificates and the ways Service Fabric clients validate the cluster's
//! server certificate (by thumbprint, by common name with optional issuer thumbprints, or by a CA bundle).
//!
//! Everything here produces one `rustls::ClientConfig` handed to reqwest, so the server certificate is judged
//! inside the TLS handshake: a rejected server never sees a request byte, and so never a storage secret or a
//! bearer token.
//!
//! The modes, which never compare the endpoint's host name except in the last two:
//! - server thumbprints: the leaf itself has one of them and is within its dates;
//! - common names: the leaf's subject CN or a DNS SAN is one of them, it is within its dates, and its chain
//!   validates to the CA bundle (or, without one, to the operating system's trust store);
//! - common names with issuer thumbprints: as above, but instead of a trusted chain the leaf's direct issuer
//!   (the leaf when self-signed) has one of the issuer thumbprints and its key verifies the leaf's signature;
//! - a CA bundle alone: the usual web PKI validation, host name included, against the bundle only;
//! - nothing: the operating system's verifier (rustls-platform-verifier), host name included.
//!
//! The rationale for each rule, and where it departs from the .NET client, is in the rustdoc of the
//! corresponding `ClientBuilder` method.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::{Error, Secret};

mod rejection;
mod settings;
mod verify;

use rejection::Diagnosing;
pub(crate) use rejection::rejection_in;
pub use rejection::{ServerCertificate, TlsCheck, TlsRejection};
use verify::{ClusterVerifier, Pinned, Policy, trust_anchors};

/// The provider every configuration of this crate names explicitly: ring with `tls-ring`, else aws-lc-rs. Never
/// installed process-wide, so that this crate never changes what other rustls users in the same program get.
fn provider() -> CryptoProvider {
    #[cfg(feature = "tls-ring")]
    return rustls::crypto::ring::default_provider();
    #[cfg(not(feature = "tls-ring"))]
    return rustls::crypto::aws_lc_rs::default_provider();
}

const PFX_HOW_TO_FIX: &str = "convert it to PEM with `openssl pkcs12 -in cert.pfx -out cert.pem -nodes` (add \
    `-legacy` for old RC2 or RC4 files with OpenSSL 3) and pass cert.pem as the client certificate file (it then holds \
    the private key unencrypted: keep it private)";

const PFX_GIVEN_AS_PEM: &str =
    "pass a .pfx or .p12 file with `client_certificate_pkcs12_file` and its password instead";

/// PEM or DER data given directly or as a file to read when the client is built.
#[derive(Clone)]
pub(crate) enum Input {
    Bytes(Vec<u8>),
    File(PathBuf),
}

// Bytes may hold a private key; a path is harmless and helps to find a misconfiguration.
impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bytes(bytes) => write!(f, "<{} bytes>", bytes.len()),
            Self::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl Input {
    fn read(&self, what: &'static str) -> Result<std::borrow::Cow<'_, [u8]>, Error> {
        match self {
            Self::Bytes(bytes) => Ok(bytes.as_slice().into()),
            Self::File(path) => std::fs::read(path).map(Into::into).map_err(|error| {
                Error::invalid(
                    what,
                    format!("cannot read {} ({error})", path.display()),
                    "pass the path of a readable file",
                )
            }),
        }
    }

    fn file(&self) -> Option<&Path> {
        match self {
            Self::File(path) => Some(path),
            Self::Bytes(_) => None,
        }
    }
}

/// Where the client certificate and its key come from.
#[derive(Clone, Debug)]
pub(crate) enum IdentityInput {
    /// One PEM with the certificate chain and the key.
    Pem(Input),
    /// The chain and the key in separate PEMs.
    PemParts { certificates: Input, key: Input },
    /// A PKCS#12 (.pfx) archive.
    Pkcs12 { archive: Input, password: Secret },
}

/// The TLS options of a [`ClientBuilder`](crate::ClientBuilder), unchecked until the client is built.
#[derive(Clone, Debug, Default)]
pub(crate) struct TlsOptions {
    pub(crate) identity: Option<IdentityInput>,
    pub(crate) ca_certificates: Option<Input>,
    pub(crate) thumbprints: Vec<String>,
    pub(crate) common_names: Vec<String>,
    pub(crate) issuer_thumbprints: Vec<String>,
    pub(crate) accept_any_server_certificate: bool,
}

impl TlsOptions {
    /// Settings that contradict each other are refused rather than one of them silently ignored. The messages
    /// name the builder methods; the command line tool checks the same rules first, naming its flags.
    fn refuse_contradictions(&self) -> Result<(), Error> {
        const WHAT: &str = "server certificate validation";
        let pinning = [
            (
                !self.thumbprints.is_empty(),
                "server_certificate_thumbprint",
            ),
            (
                !self.common_names.is_empty(),
                "server_certificate_common_name",
            ),
            (
                !self.issuer_thumbprints.is_empty(),
                "server_certificate_issuer_thumbprint",
            ),
            (self.ca_certificates.is_some(), "ca_certificates_pem"),
        ];
        let given: Vec<&str> = pinning
            .iter()
            .filter_map(|(given, name)| given.then_some(*name))
            .collect();
        if self.accept_any_server_certificate && !given.is_empty() {
            return Err(Error::invalid(
                WHAT,
                format!(
                    "danger_accept_invalid_server_certificates accepts any certificate, which contradicts {}",
                    given.join(" and ")
                ),
                "choose one: remove danger_accept_invalid_server_certificates, or the validation settings",
            ));
        }
        if !self.issuer_thumbprints.is_empty() && self.common_names.is_empty() {
            return Err(Error::invalid(
                "server certificate issuer thumbprint",
                "server_certificate_issuer_thumbprint only qualifies server_certificate_common_name, and no \
                 common name was given",
                "add the cluster certificate's common name, or pin the certificate itself by its thumbprint",
            ));
        }
        if self.ca_certificates.is_some()
            && !self.thumbprints.is_empty()
            && self.common_names.is_empty()
        {
            return Err(Error::invalid(
                WHAT,
                "ca_certificates_pem would be ignored: a certificate pinned with server_certificate_thumbprint \
                 is accepted whatever its issuer",
                "remove the CA certificates, or add server_certificate_common_name for certificates they issue",
            ));
        }
        Ok(())
    }

    /// The rustls configuration for these options. There is always one, even without options, where it does what
    /// reqwest's default would (the platform verifier): every verifier is wrapped in [`Diagnosing`], so that a
    /// refused certificate comes back with its thumbprint and subject. With `tls-ring` it is needed anyway: reqwest
    /// built with `rustls-no-provider` alone would look for a process-wide provider and panic without one.
    pub(crate) fn client_config(&self) -> Result<Option<rustls::ClientConfig>, Error> {
        self.refuse_contradictions()?;
        let provider = Arc::new(provider());
        let ca_certificates = match &self.ca_certificates {
            Some(input) => Some(certificates_from_pem(
                &input.read("CA certificates")?,
                "CA certificates",
                input.file(),
            )?),
            None => None,
        };
        let verifier: Arc<dyn ServerCertVerifier> = if self.accept_any_server_certificate {
            Arc::new(ClusterVerifier {
                policy: Policy::AcceptAny,
                provider: Arc::clone(&provider),
            })
        } else if let Some(pinned) = Pinned::new(self, ca_certificates.as_deref())? {
            Arc::new(ClusterVerifier {
                policy: Policy::Pinned(pinned),
                provider: Arc::clone(&provider),
            })
        } else if let Some(ca_certificates) = ca_certificates {
            WebPkiServerVerifier::builder_with_provider(
                Arc::new(trust_anchors(ca_certificates)?),
                Arc::clone(&provider),
            )
            .build()
            .map_err(|error| client_error("could not set up CA certificate validation", error))?
        } else {
            Arc::new(
                rustls_platform_verifier::Verifier::new(Arc::clone(&provider)).map_err(
                    |error| {
                        client_error("could not load the operating system's trust store", error)
                    },
                )?,
            )
        };
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| client_error("could not set up TLS", error))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Diagnosing(verifier)));
        let config = match &self.identity {
            None => builder.with_no_client_auth(),
            Some(identity) => {
                let (certificates, key) = load_identity(identity)?;
                builder
                    .with_client_auth_cert(certificates, key)
                    .map_err(|error| {
                        Error::invalid(
                            "client certificate",
                            format!(
                                "the certificate and private key cannot be used together ({error})"
                            ),
                            "pass the private key that belongs to the client certificate",
                        )
                    })?
            }
        };
        Ok(Some(config))
    }
}

fn client_error(message: &str, error: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Client {
        message: message.to_owned(),
        source: Some(Box::new(error)),
    }
}

fn certificates_from_pem(
    pem: &[u8],
    what: &'static str,
    file: Option<&Path>,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let shown = file.map_or_else(
        || "the PEM data".to_owned(),
        |path| path.display().to_string(),
    );
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| {
            Error::invalid(
                what,
                format!("{shown} is not valid PEM ({error})"),
                "pass PEM text with -----BEGIN CERTIFICATE----- blocks",
            )
        })?;
    if certificates.is_empty() {
        let how = if looks_binary(pem) {
            // A .pfx or .cer (DER) file is the usual mistake: Windows exports those.
            format!(
                "it looks binary (DER or PKCS#12); for a .pfx, {PFX_GIVEN_AS_PEM}; for a DER .cer, convert it \
                 with `openssl x509 -inform der -in cert.cer -out cert.pem`"
            )
        } else {
            "pass PEM text with -----BEGIN CERTIFICATE----- blocks".to_owned()
        };
        return Err(Error::invalid(
            what,
            format!("{shown} holds no certificate"),
            how,
        ));
    }
    Ok(certificates)
}

fn looks_binary(data: &[u8]) -> bool {
    data.first() == Some(&0x30)
}

fn load_identity(
    identity: &IdentityInput,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    const WHAT: &str = "client certificate";
    let (certificates, key) = match identity {
        IdentityInput::Pkcs12 { archive, password } => {
            pkcs12_identity(&archive.read(WHAT)?, password, archive.file())?
        }
        IdentityInput::Pem(input) => {
            let pem = input.read(WHAT)?;
            (
                certificates_from_pem(&pem, WHAT, input.file())?,
                private_key_from_pem(&pem, input.file())?,
            )
        }
        IdentityInput::PemParts { certificates, key } => (
            certificates_from_pem(&certificates.read(WHAT)?, WHAT, certificates.file())?,
            private_key_from_pem(&key.read("client certificate key")?, key.file())?,
        ),
    };
    Ok((certificates, key))
}

/// Without the `pkcs12` feature a .pfx file is refused with the conversion to PEM that works without it.
#[cfg(not(feature = "pkcs12"))]
fn pkcs12_identity(
    _data: &[u8],
    _password: &Secret,
    file: Option<&Path>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    let shown = file.map_or_else(
        || "the PKCS#12 archive".to_owned(),
        |path| path.display().to_string(),
    );
    Err(Error::invalid(
        "client certificate",
        format!("{shown} cannot be read: this build of sf-backup has its `pkcs12` feature off"),
        format!("enable the feature, or {PFX_HOW_TO_FIX}"),
    ))
}

/// The first private key in a PKCS#12 archive with the certificate chain the archive links to it, as a
/// Windows certificate export or `openssl pkcs12 -export` writes them.
#[cfg(feature = "pkcs12")]
fn pkcs12_identity(
    data: &[u8],
    password: &Secret,
    file: Option<&Path>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), Error> {
    use p12_keystore::error::Error as Pkcs12Error;
    const WHAT: &str = "client certificate";
    let shown = file.map_or_else(
        || "the PKCS#12 archive".to_owned(),
        |path| path.display().to_string(),
    );
    // Relaxed keeps a key whose certificate is missing, so that such a file gets its own message below.
    let store = p12_keystore::KeyStore::from_pkcs12(
        data,
        password.expose_secret(),
        p12_keystore::Pkcs12ImportPolicy::Relaxed,
    )
    .map_err(|error| {
        // The decoder's messages name what failed (a tag, an algorithm), never the password or decrypted bytes,
        // so they can be shown.
        let (problem, how) = match error {
            Pkcs12Error::MacError(_) | Pkcs12Error::UnpadError => (
                format!("{shown} cannot be opened with this password (or the file is damaged)"),
                "pass the password the certificate was exported with".to_owned(),
            ),
            Pkcs12Error::UnsupportedEncryptionScheme
            | Pkcs12Error::UnsupportedMacAlgorithm
            | Pkcs12Error::UnsupportedContentType
            | Pkcs12Error::UnsupportedCertificateType
            | Pkcs12Error::Pkcs5Error(_) => (
                format!("{shown} uses a PKCS#12 algorithm this client cannot read ({error})"),
                PFX_HOW_TO_FIX.to_owned(),
            ),
            _ if data.trim_ascii_start().starts_with(b"-----BEGIN") => (
                format!("{shown} is PEM text, not a PKCS#12 (.pfx/.p12) file"),
                "pass it with `client_certificate_pem_file` instead".to_owned(),
            ),
            other => (
                format!("{shown} is not a readable PKCS#12 (.pfx/.p12) file ({other})"),
                format!(
                    "export the certificate with its private key as .pfx; if this is one, {PFX_HOW_TO_FIX}"
                ),
            ),
        };
        Error::invalid(WHAT, problem, how)
    })?;
    let export_with_key = "export the certificate again with its private key (Windows: \"Yes, export the \
        private key\"; OpenSSL: `openssl pkcs12 -export -inkey key.pem -in cert.pem -out cert.pfx`)";
    let Some((_, chain)) = store.private_key_chain() else {
        return Err(Error::invalid(
            WHAT,
            format!("{shown} holds no private key"),
            export_with_key,
        ));
    };
    if chain.certs().is_empty() {
        return Err(Error::invalid(
            WHAT,
            format!("{shown} holds a private key but not its certificate"),
            export_with_key,
        ));
    }
    let certificates = chain
        .certs()
        .iter()
        .map(|certificate| CertificateDer::from(certificate.as_der().to_vec()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(rustls::pki_types::PrivatePkcs8KeyDer::from(
        chain.key().as_der().to_vec(),
    ));
    Ok((certificates, key))
}

fn private_key_from_pem(pem: &[u8], file: Option<&Path>) -> Result<PrivateKeyDer<'static>, Error> {
    let shown = file.map_or_else(
        || "the PEM data".to_owned(),
        |path| path.display().to_string(),
    );
    // The parser's error never quotes the key material, but keep the message to what went wrong.
    PrivateKeyDer::from_pem_slice(pem).map_err(|error| {
        let how = if looks_binary(pem) {
            PFX_GIVEN_AS_PEM.to_owned()
        } else {
            "pass an unencrypted PEM private key (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE \
             KEY); decrypt an encrypted one with `openssl pkey -in key.pem -out key-plain.pem`"
                .to_owned()
        };
        let problem = match error {
            rustls::pki_types::pem::Error::NoItemsFound => format!("{shown} holds no private key"),
            other => format!("{shown}: the private key cannot be read ({other})"),
        };
        Error::invalid("client certificate key", problem, how)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_pkcs12_files_name_the_file_and_not_the_password() {
        let identity = IdentityInput::Pkcs12 {
            archive: Input::File("/nonexistent/cluster.pfx".into()),
            password: Secret::new("pfx-password-123"),
        };
        let error = load_identity(&identity).unwrap_err();
        let text = format!("{error} {error:?}");
        assert!(error.is_invalid_input(), "{text}");
        assert!(text.contains("/nonexistent/cluster.pfx"), "{text}");
        assert!(!text.contains("pfx-password-123"));
        assert!(!format!("{identity:?}").contains("pfx-password-123"));
    }

    #[test]
    fn data_that_is_not_pkcs12_still_suggests_the_openssl_conversion() {
        let password = Secret::new("pfx-password-123");
        let error = pkcs12_identity(&[0x30, 0x82, 0x01], &password, None).unwrap_err();
        let text = format!("{error} {error:?}");
        assert!(error.is_invalid_input(), "{text}");
        assert!(
            text.contains("openssl pkcs12 -in cert.pfx -out cert.pem -nodes"),
            "{text}"
        );
        assert!(!text.contains("pfx-password-123"));
    }

    #[test]
    fn binary_certificate_files_suggest_a_conversion() {
        let error =
            certificates_from_pem(&[0x30, 0x82, 0x01], "client certificate", None).unwrap_err();
        assert!(error.to_string().contains("openssl"), "{error}");
    }
}
