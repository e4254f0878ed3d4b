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

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::{Error, Secret};

mod settings;

// The crypto library of the provider the feature chose; its `digest` module computes thumbprints (ring's API,
// which aws-lc-rs copies).
#[cfg(not(feature = "tls-ring"))]
use ::aws_lc_rs as crypto_library;
#[cfg(feature = "tls-ring")]
use ::ring as crypto_library;

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

fn encode_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn sha1(data: &[u8]) -> Vec<u8> {
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
fn trust_anchors(certificates: Vec<CertificateDer<'static>>) -> Result<RootCertStore, Error> {
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
struct Pinned {
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
    fn new(
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
fn names<'a>(
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
fn is_self_signed(certificate: &x509_parser::certificate::X509Certificate<'_>) -> bool {
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
enum Policy {
    AcceptAny,
    Pinned(Pinned),
}

#[derive(Debug)]
struct ClusterVerifier {
    policy: Policy,
    provider: Arc<CryptoProvider>,
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
    fn read(der: &CertificateDer<'_>) -> Option<Self> {
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
    fn into_rustls(self) -> rustls::Error {
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
struct Diagnosing(Arc<dyn ServerCertVerifier>);

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

    #[test]
    fn sha1_matches_a_known_digest() {
        assert_eq!(
            encode_hex(&sha1(b"abc")),
            "A9993E364706816ABA3E25717850C26C9CD0D89D"
        );
    }

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
