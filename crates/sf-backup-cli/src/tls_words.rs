//! What a failed connection means in an operator's words: a refused TLS handshake (which check failed, the
//! certificate the server presented, the option that would accept it) and plain http sent to a TLS port.

/// A refused TLS handshake in an operator's words: which check failed, the certificate the server presented
/// (its SHA-1 thumbprint, as Service Fabric writes it, and its subject), and the option that would accept it.
pub fn tls_advice(rejection: &sf_backup::TlsRejection) -> String {
    use sf_backup::TlsCheck;
    let mut lines = vec![format!(
        "could not connect to the service: TLS: {rejection}"
    )];
    let Some(certificate) = &rejection.certificate else {
        if rejection.check == TlsCheck::NotTls {
            lines.push(
                "the endpoint answers plain http: for a cluster without security, write --endpoint with \
                 http:// instead of https://"
                    .to_owned(),
            );
        }
        return lines.join("\n  ");
    };
    let thumbprint = &certificate.sha1_thumbprint;
    lines.push(format!(
        "server certificate: SHA-1 thumbprint {thumbprint}, subject \"{}\", issuer \"{}\", valid from {} to {}",
        certificate.subject, certificate.issuer, certificate.not_before, certificate.not_after
    ));
    if !certificate.names.is_empty() {
        lines.push(format!("its names: {}", certificate.names.join(", ")));
    }
    let pin = format!("--server-cert-thumbprint {thumbprint} (this certificate only)");
    let name = certificate.names.first().map_or_else(
        || "--server-cert-common-name <NAME>".to_owned(),
        |name| format!("--server-cert-common-name {name}"),
    );
    let accept = match rejection.check {
        TlsCheck::SelfSigned => Some(format!(
            "to accept it: {pin}, the usual choice for a self-signed cluster certificate; or --ca <FILE> with \
             this certificate in it (then the endpoint's host must be one of its names)"
        )),
        TlsCheck::UnknownIssuer => Some(format!(
            "to accept it: --ca <FILE> with the certificate of the CA that issued it (\"{}\"); or {pin}",
            certificate.issuer
        )),
        TlsCheck::NameMismatch => Some(format!(
            "to accept it: write one of its names in --endpoint; or {name} (accepted whatever the host, if \
             its chain is trusted); or {pin}"
        )),
        TlsCheck::CaUsedAsEndEntity => Some(format!(
            "to accept it: {pin}; a pinned certificate is accepted whatever its kind (standard validation, \
             --ca and --server-cert-common-name refuse a CA certificate here)"
        )),
        TlsCheck::NotPinned => Some(format!(
            "if this is your cluster's certificate, accept it with {pin} (keep the old thumbprint during a \
             certificate rollover: the flag is repeatable)"
        )),
        TlsCheck::IssuerNotPinned => Some(format!(
            "to accept it: --server-cert-issuer-thumbprint with the thumbprint of the certificate that issued \
             it (\"{}\"); or {pin}",
            certificate.issuer
        )),
        TlsCheck::Expired | TlsCheck::NotYetValid => Some(
            "no option accepts a certificate outside its validity dates: renew the cluster certificate, or \
             check this machine's clock (--no-verify turns every check off, for test clusters only)"
                .to_owned(),
        ),
        _ => None,
    };
    lines.extend(accept);
    lines.join("\n  ")
}

/// A hint for plain http sent to a TLS port (a secured cluster's gateway): the answer is a TLS alert, which the
/// HTTP client reports as an unreadable response. Only a hint, found in the message's words, so that a different
/// wording in a later HTTP library merely loses it.
pub fn https_hint(message: &str) -> Option<String> {
    if !message.contains("invalid HTTP version parsed") {
        return None;
    }
    let start = message.find("(http://")? + 1;
    let url = &message[start..];
    let authority_end = url["http://".len()..]
        .find(['/', ')', '?'])
        .map_or(url.len(), |end| end + "http://".len());
    let host = &url["http://".len()..authority_end];
    Some(format!(
        "; the endpoint answered something other than plain HTTP, most likely in TLS: a secured cluster's gateway \
         speaks https, so try --endpoint https://{host}"
    ))
}

/// The same, for `--output json`: stable names a program can act on.
pub fn tls_json(rejection: &sf_backup::TlsRejection) -> serde_json::Value {
    let certificate = rejection.certificate.as_ref();
    serde_json::json!({
        "check": rejection.check.as_str(),
        "sha1_thumbprint": certificate.map(|c| c.sha1_thumbprint.as_str()),
        "subject": certificate.map(|c| c.subject.as_str()),
        "issuer": certificate.map(|c| c.issuer.as_str()),
    })
}
