//! Certificates for TLS tests: a run CA and leaf certificates it signs (rcgen).

/// PEM certificate and key files of a CA, or of a leaf it signed.
pub struct Pem {
    /// The certificate (PEM).
    pub cert: std::path::PathBuf,
    /// Its private key (PEM).
    pub key: std::path::PathBuf,
}

/// Writes `cert` and `key` as `<name>.crt` and `<name>.key` in `dir`.
pub fn write_pem(dir: &std::path::Path, name: &str, cert: &rcgen::Certificate, key: &rcgen::KeyPair) -> Pem {
    let pem = Pem { cert: dir.join(format!("{name}.crt")), key: dir.join(format!("{name}.key")) };
    std::fs::write(&pem.cert, cert.pem()).unwrap();
    std::fs::write(&pem.key, key.serialize_pem()).unwrap();
    pem
}

/// A CA and its issuer.
pub fn certificate_authority(
    dir: &std::path::Path,
    name: &str,
) -> (Pem, rcgen::Issuer<'static, rcgen::KeyPair>) {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::DigitalSignature];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let pem = write_pem(dir, name, &cert, &key);
    (pem, rcgen::Issuer::new(params, key))
}

/// A leaf certificate for `names`, signed by `issuer`, for a server or a client.
pub fn leaf(
    dir: &std::path::Path,
    name: &str,
    names: &[&str],
    server: bool,
    issuer: &rcgen::Issuer<'static, rcgen::KeyPair>,
) -> Pem {
    let mut params =
        rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    params.extended_key_usages = vec![if server {
        rcgen::ExtendedKeyUsagePurpose::ServerAuth
    } else {
        rcgen::ExtendedKeyUsagePurpose::ClientAuth
    }];
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    write_pem(dir, name, &cert, &key)
}
