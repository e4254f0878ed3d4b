//! https serving: turns a [`TlsConfig`] into a TLS acceptor.

use std::io;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::aws_lc_rs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsConfig;

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn certificates(pem: &[u8], what: &str) -> io::Result<Vec<CertificateDer<'static>>> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(format!("{what}: not valid PEM ({error})")))?;
    if certificates.is_empty() {
        return Err(invalid(format!("{what}: no CERTIFICATE block")));
    }
    Ok(certificates)
}

pub(crate) fn acceptor(config: &TlsConfig) -> io::Result<TlsAcceptor> {
    // The provider is named explicitly so that no process-wide default has to be installed.
    let provider = Arc::new(aws_lc_rs::default_provider());
    let chain = certificates(&config.certificate_chain.read()?, "tls.certificate_chain")?;
    let key = PrivateKeyDer::from_pem_slice(&config.private_key.read()?)
        .map_err(|error| invalid(format!("tls.private_key: no usable private key ({error})")))?;
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| invalid(format!("TLS setup: {error}")))?;
    let builder = match &config.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for certificate in certificates(&ca.read()?, "tls.client_ca")? {
                roots
                    .add(certificate)
                    .map_err(|error| invalid(format!("tls.client_ca: {error}")))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|error| invalid(format!("tls.client_ca: {error}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let server_config = builder.with_single_cert(chain, key).map_err(|error| {
        invalid(format!(
            "tls: the certificate and key do not fit together ({error})"
        ))
    })?;
    Ok(TlsAcceptor::from(Arc::new(server_config)))
}
