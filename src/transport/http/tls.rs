//! Naming what went wrong in a TLS handshake, so that a refused certificate is one clear
//! error rather than a connection failure retried five times.
//!
//! Owns: recognising a rustls failure inside a `ureq` error and wording it. Not: the roots
//! of trust (`client`, from the system's and `--cacert`).
//! Invariant: a handshake failure is never worth another attempt; the same certificate
//! would be refused again.

/// What a TLS handshake failure inside `e` was, worded for an error message; `None` when
/// `e` is not one.
pub fn failure(e: &ureq::Error) -> Option<String> {
    let rustls_error = match e {
        ureq::Error::Rustls(inner) => inner,
        ureq::Error::Io(io) => io.get_ref()?.downcast_ref::<rustls::Error>()?,
        _ => return None,
    };
    Some(match rustls_error {
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
            "its certificate is not signed by an authority settee trusts (self-signed or a private CA)"
                .to_string()
        }
        rustls::Error::InvalidCertificate(c) => format!("its certificate was refused: {c}"),
        other => format!("the TLS handshake failed: {other}"),
    })
}
