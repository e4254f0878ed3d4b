//! The [`ClientBuilder`] settings of secured clusters: the client certificate, and how the cluster's server
//! certificate is validated (see [Secured clusters](ClientBuilder#secured-clusters)).

use std::path::PathBuf;

use super::{IdentityInput, Input};
use crate::{ClientBuilder, Secret};

#[cfg_attr(docsrs, doc(cfg(any(feature = "tls", feature = "tls-ring"))))]
impl ClientBuilder {
    /// Presents this client certificate: one PEM with the certificate (chain) and its unencrypted private key.
    /// Replaces any client certificate set before.
    pub fn client_certificate_pem(mut self, certificate_and_key: impl Into<Vec<u8>>) -> Self {
        self.tls.identity = Some(IdentityInput::Pem(Input::Bytes(certificate_and_key.into())));
        self
    }

    /// Presents this client certificate, given as separate PEMs for the certificate (chain) and its private key.
    pub fn client_certificate_pem_parts(
        mut self,
        certificate: impl Into<Vec<u8>>,
        key: impl Into<Vec<u8>>,
    ) -> Self {
        self.tls.identity = Some(IdentityInput::PemParts {
            certificates: Input::Bytes(certificate.into()),
            key: Input::Bytes(key.into()),
        });
        self
    }

    /// Presents the client certificate in this PEM file, which holds the certificate (chain) and its unencrypted
    /// private key (as `sfctl --pem`). Read by [`ClientBuilder::build`].
    pub fn client_certificate_pem_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.identity = Some(IdentityInput::Pem(Input::File(path.into())));
        self
    }

    /// Presents the client certificate in `certificate_path` with the private key in `key_path`, both PEM (as
    /// `sfctl --cert --key`). Read by [`ClientBuilder::build`].
    pub fn client_certificate_pem_files(
        mut self,
        certificate_path: impl Into<PathBuf>,
        key_path: impl Into<PathBuf>,
    ) -> Self {
        self.tls.identity = Some(IdentityInput::PemParts {
            certificates: Input::File(certificate_path.into()),
            key: Input::File(key_path.into()),
        });
        self
    }

    /// Presents the client certificate in a PKCS#12 (.pfx or .p12) file, as Windows and the Azure portal export
    /// cluster client certificates, with the password it was exported with (empty when it has none). The first
    /// private key in the file is used, with the certificate chain the file stores for it. Read by
    /// [`ClientBuilder::build`], which fails with [`Error::InvalidInput`](crate::Error::InvalidInput) when the file cannot be read, the
    /// password is wrong, or the file holds no private key; for a file encrypted with an algorithm this client
    /// cannot read, that error names the conversion to PEM (`openssl pkcs12 -in cert.pfx -out cert.pem -nodes`)
    /// for [`ClientBuilder::client_certificate_pem_file`]. The password is never shown, not even by `Debug`.
    ///
    /// Needs the `pkcs12` feature (on by default); without it, [`ClientBuilder::build`] refuses every such file
    /// with that conversion.
    #[cfg_attr(docsrs, doc(cfg(feature = "pkcs12")))]
    pub fn client_certificate_pkcs12_file(
        mut self,
        path: impl Into<PathBuf>,
        password: impl Into<Secret>,
    ) -> Self {
        self.tls.identity = Some(IdentityInput::Pkcs12 {
            archive: Input::File(path.into()),
            password: password.into(),
        });
        self
    }

    /// Trusts only the CA certificates in this PEM bundle instead of the operating system's trust store: for the
    /// usual validation by host name, and for the chain a certificate accepted by
    /// [common name](ClientBuilder::server_certificate_common_name) must have. Combined with
    /// [`ClientBuilder::server_certificate_issuer_thumbprint`], they are instead candidate issuers of the cluster
    /// certificate when the server does not send its issuer. A self-signed cluster certificate may be its own
    /// CA certificate here.
    ///
    /// [`ClientBuilder::build`] refuses a bundle that would be ignored: beside
    /// [`danger_accept_invalid_server_certificates`](ClientBuilder::danger_accept_invalid_server_certificates),
    /// or beside [server thumbprints](ClientBuilder::server_certificate_thumbprint) without a common name.
    pub fn ca_certificates_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls.ca_certificates = Some(Input::Bytes(pem.into()));
        self
    }

    /// Like [`ClientBuilder::ca_certificates_pem`], from a PEM file (as `sfctl --ca`). Read by
    /// [`ClientBuilder::build`].
    pub fn ca_certificates_pem_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.tls.ca_certificates = Some(Input::File(path.into()));
        self
    }

    /// Accepts the server certificate with this thumbprint, whatever its name or issuer (the .NET client's
    /// `RemoteCertThumbprints`). Only the server's own certificate is compared, never a CA certificate of its
    /// chain. SHA-1 as Service Fabric and Windows show it (40 hex digits) or SHA-256 (64); case, spaces and colons
    /// do not matter. Call again to accept several certificates, for example during a certificate rollover. The
    /// server must still prove it holds the certificate's key.
    ///
    /// A pinned certificate outside its validity dates (expired, or not yet valid) is refused, as the .NET client
    /// refuses it: its validator forgives an unknown root and a partial chain for a thumbprint match, but not a
    /// time error. Pin the renewed certificate's thumbprint beside the old one before the old one expires.
    pub fn server_certificate_thumbprint(mut self, thumbprint: impl AsRef<str>) -> Self {
        self.tls.thumbprints.push(thumbprint.as_ref().to_owned());
        self
    }

    /// Accepts a server certificate whose subject common name or one of whose DNS subject alternative names is
    /// `common_name` (compared literally, ignoring ASCII case; no wildcard matching), whatever host name the
    /// endpoint uses (the .NET client's `RemoteCommonNames`). Call again to accept several names.
    ///
    /// The certificate must also be within its validity dates, and vouched for: without
    /// [`server_certificate_issuer_thumbprint`](ClientBuilder::server_certificate_issuer_thumbprint), its chain
    /// (with the intermediates the server sends) must validate to the operating system's trust store, or to the
    /// [CA certificates](ClientBuilder::ca_certificates_pem) when given, as the .NET client demands. A self-signed
    /// certificate with the right name is therefore refused unless it is itself in the CA certificates: anyone
    /// can make one.
    pub fn server_certificate_common_name(mut self, common_name: impl Into<String>) -> Self {
        self.tls.common_names.push(common_name.into());
        self
    }

    /// Requires that a certificate accepted by [common name](ClientBuilder::server_certificate_common_name) was
    /// issued directly by a certificate with this thumbprint (the .NET client's issuer thumbprints; same format
    /// as [`server_certificate_thumbprint`](ClientBuilder::server_certificate_thumbprint)). Call again to accept
    /// several issuers, for example during an issuer rollover. Needs a common name: [`ClientBuilder::build`]
    /// refuses an issuer thumbprint without one.
    ///
    /// Only the direct issuer counts: pinning a root CA does not accept a certificate issued by a sub-CA under
    /// it (pin the sub-CA). The issuer is looked for among the certificates the server sends and the
    /// [CA certificates](ClientBuilder::ca_certificates_pem), and is the certificate itself when it is
    /// self-signed; it counts only if its key verifies the signature on the server certificate, so copying a CA
    /// certificate into a chain, or naming it as issuer, does not pass.
    ///
    /// Unlike the .NET client, which also demands that the chain validate to the machine's trust store, a
    /// pinned issuer is enough: the chain need not end at a CA the trust store knows. Pinning the issuer's key
    /// is the trust decision, and it is narrower than trusting every CA of the store; demanding both would force
    /// operators of clusters with a private CA to install that CA machine-wide, for every program, which is what
    /// pinning spares them. The pinned issuer's own validity dates are not checked (it serves as a trust anchor,
    /// like a certificate of a CA bundle); the server certificate's are.
    pub fn server_certificate_issuer_thumbprint(mut self, thumbprint: impl AsRef<str>) -> Self {
        self.tls
            .issuer_thumbprints
            .push(thumbprint.as_ref().to_owned());
        self
    }

    /// Accepts ANY server certificate (as `sfctl --no-verify`). Anyone between you and the cluster can then read
    /// and change the traffic, including storage secrets and tokens: use it only against a throw-away test
    /// cluster, never in production. Prefer [`ClientBuilder::server_certificate_thumbprint`], which also accepts
    /// self-signed certificates. [`ClientBuilder::build`] refuses it together with any other server validation
    /// setting (thumbprints, common names, issuer thumbprints, CA certificates), which it would silently void.
    pub fn danger_accept_invalid_server_certificates(mut self) -> Self {
        self.tls.accept_any_server_certificate = true;
        self
    }
}
