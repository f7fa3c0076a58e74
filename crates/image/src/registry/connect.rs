//! Reaching a registry: the scheme (HTTPS, or HTTP for local and insecure registries when
//! HTTPS fails), the CA certificates, and the first credential the registry accepts.

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::Client;

use super::{chain, reference, PullOptions, MANIFEST_TYPES};
use crate::{ImageError, Name};

/// A client that has fetched the image's first manifest with the credential it uses.
pub(crate) struct Session {
    pub client: Client,
    registry: String,
    pub auth: RegistryAuth,
}

enum Fail {
    /// The registry refused this credential (try the next).
    Auth(String),
    /// Nothing answered over this scheme.
    Transport(String),
    /// The registry answered: no such image.
    NotFound(String),
    Other(String),
}

fn classify(e: &OciDistributionError) -> Fail {
    match e {
        OciDistributionError::AuthenticationFailure(m) => Fail::Auth(format!("the token server refused it: {}", m.trim())),
        OciDistributionError::UnauthorizedError { .. } => Fail::Auth("the registry answered 401 Unauthorized".into()),
        OciDistributionError::RegistryError { envelope, .. } if format!("{envelope:?}").contains("Unauthorized") || format!("{envelope:?}").contains("Denied") => {
            Fail::Auth(format!("the registry refused it: {envelope}"))
        }
        OciDistributionError::RequestError(r) if r.is_connect() || r.is_timeout() || r.is_request() => Fail::Transport(chain(e)),
        OciDistributionError::RegistryError { envelope, .. } if format!("{envelope:?}").contains("ManifestUnknown") || format!("{envelope:?}").contains("NameUnknown") => {
            Fail::NotFound("the registry has no such image (manifest unknown): check the name and tag".into())
        }
        _ => Fail::Other(chain(e)),
    }
}

/// Registries reached over plain HTTP when HTTPS fails: the loopback names, and those
/// named insecure.
fn may_use_http(registry: &str, insecure: &[String]) -> bool {
    let host = registry.rsplit_once(':').filter(|(_, p)| p.bytes().all(|c| c.is_ascii_digit())).map_or(registry, |(h, _)| h);
    matches!(host, "localhost" | "127.0.0.1" | "[::1]" | "::1") || insecure.iter().any(|i| i == registry || i == host)
}

fn client(opts: &PullOptions, http_for: Option<&str>) -> Result<Client, String> {
    let mut certs = Vec::new();
    for f in &opts.ca_files {
        let data = std::fs::read(f).map_err(|e| format!("cannot read the CA file {}: {e}", f.display()))?;
        certs.push(Certificate { encoding: CertificateEncoding::Pem, data });
    }
    Ok(Client::new(ClientConfig {
        protocol: match http_for {
            Some(r) => ClientProtocol::HttpsExcept(vec![r.to_owned()]),
            None => ClientProtocol::Https,
        },
        extra_root_certificates: certs,
        platform_resolver: None,
        connect_timeout: Some(std::time::Duration::from_secs(30)),
        read_timeout: Some(std::time::Duration::from_secs(300)),
        ..Default::default()
    }))
}

impl Session {
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// Connects and fetches the manifest `name` points at; returns the session with its
    /// body and digest.
    pub async fn open(name: &Name, opts: &PullOptions) -> Result<(Session, bytes::Bytes, String), ImageError> {
        let shown = name.to_string();
        let r = reference(name, None);
        let registry = r.resolve_registry().to_owned();
        let err = |detail: String| ImageError::Registry { image: shown.clone(), detail };
        let found = opts.keyring.lookup(&shown);
        for note in &found.notes {
            tracing::warn!("{note}");
        }
        let mut candidates: Vec<(RegistryAuth, String)> = found.creds.iter().map(|c| (RegistryAuth::Basic(c.username.clone(), c.password.clone()), c.from.clone())).collect();
        if candidates.is_empty() {
            candidates.push((RegistryAuth::Anonymous, "anonymous".into()));
        }
        let mut http: Option<String> = None;
        let mut https_failure = String::new();
        let mut refused = Vec::new();
        let mut i = 0;
        while i < candidates.len() {
            let (auth, from) = &candidates[i];
            let c = client(opts, http.as_deref()).map_err(&err)?;
            let res = async {
                c.auth(&r, auth, oci_client::RegistryOperation::Pull).await?;
                c.pull_manifest_raw(&r, auth, MANIFEST_TYPES).await
            }
            .await;
            match res {
                Ok((body, digest)) => {
                    return Ok((Session { client: c, registry, auth: auth.clone() }, body, digest));
                }
                Err(e) => match classify(&e) {
                    Fail::Transport(t) if http.is_none() && may_use_http(&registry, &opts.insecure) => {
                        tracing::debug!("{registry} over HTTPS: {t}; trying HTTP");
                        https_failure = t;
                        http = Some(registry.clone());
                        continue;
                    }
                    Fail::Transport(t) => {
                        let how = if http.is_some() { "over HTTPS or HTTP" } else { "over HTTPS" };
                        return Err(err(format!("cannot reach registry {registry} {how}: {t} (is it running, and its address right? a registry without TLS must be on localhost or named with --insecure-registry; one with a private CA needs --registry-ca-file)")));
                    }
                    Fail::Auth(a) => refused.push(format!("{from}: {a}")),
                    Fail::Other(o) if http.is_some() => {
                        return Err(err(format!("registry {registry} over HTTPS: {https_failure}; over HTTP: {o} (a registry with a private CA needs --registry-ca-file)")))
                    }
                    Fail::Other(o) | Fail::NotFound(o) => return Err(err(format!("registry {registry}: {o}"))),
                },
            }
            i += 1;
        }
        let mut detail = format!("registry {registry} refused the pull: {}", refused.join("; "));
        if found.creds.is_empty() {
            detail.push_str(" (no credentials were found for it: give them in Docker's config.json, an imagePullSecret or a kubelet credential provider)");
        }
        for n in &found.notes {
            detail.push_str("; ");
            detail.push_str(n);
        }
        Err(err(detail))
    }

    /// A manifest by reference: (body, digest).
    pub async fn manifest(&self, r: &oci_client::Reference) -> Result<(bytes::Bytes, String), ImageError> {
        self.client.pull_manifest_raw(r, &self.auth, MANIFEST_TYPES).await.map_err(|e| ImageError::Registry {
            image: r.whole(),
            detail: match classify(&e) {
                Fail::Auth(a) | Fail::Transport(a) | Fail::Other(a) | Fail::NotFound(a) => a,
            },
        })
    }
}
