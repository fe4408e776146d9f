//! Connecting to etcd: endpoints, TLS, authentication and the deadlines that keep a lost
//! member from hanging a request.

use std::path::Path;
use std::time::Duration;

use etcd_client::{Certificate, Client, ConnectOptions, Identity, TlsOptions};
use zeroize::Zeroizing;

use super::ClusterError;
use crate::config::EtcdConfig;

fn read(what: &'static str, path: &Path) -> Result<Vec<u8>, ClusterError> {
    std::fs::read(path).map_err(|source| ClusterError::File {
        what,
        path: path.to_owned(),
        source,
    })
}

/// The client's options from the config: TLS if a CA or a client certificate is given, a
/// user if one is, and `etcd_timeout` on every request.
fn options(config: &EtcdConfig) -> Result<ConnectOptions, ClusterError> {
    let mut options = ConnectOptions::new()
        .with_connect_timeout(config.timeout)
        .with_timeout(config.timeout)
        // A member cut off from the leader cancels this host's watch rather than keep it
        // open in silence: then the copy counts as stale.
        .with_require_leader(true)
        .with_keep_alive(Duration::from_secs(1), config.timeout)
        .with_keep_alive_while_idle(true);
    if config.ca_file.is_some() || config.cert_file.is_some() {
        let mut tls = TlsOptions::new();
        if let Some(ca) = &config.ca_file {
            tls = tls.ca_certificate(Certificate::from_pem(read("etcd_ca_file", ca)?));
        }
        if let (Some(cert), Some(key)) = (&config.cert_file, &config.key_file) {
            tls = tls.identity(Identity::from_pem(
                read("etcd_cert_file", cert)?,
                read("etcd_key_file", key)?,
            ));
        }
        options = options.with_tls(tls);
    }
    if let (Some(user), Some(file)) = (&config.user, &config.password_file) {
        let password = Zeroizing::new(read("etcd_password_file", file)?);
        let password = std::str::from_utf8(&password).map_err(|_| ClusterError::File {
            what: "etcd_password_file",
            path: file.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "not UTF-8"),
        })?;
        options = options.with_user(user.clone(), password.trim_end_matches(['\n', '\r']));
    }
    Ok(options)
}

/// Connects, and checks the cluster answers within `etcd_timeout`.
///
/// # Errors
/// If it does not, or a TLS or password file cannot be read.
pub async fn connect(config: EtcdConfig) -> Result<Client, ClusterError> {
    let failed = |detail: String| ClusterError::Connect {
        endpoints: config.endpoints.join(", "),
        detail,
    };
    let options = options(&config)?;
    let connecting = async {
        let mut client = Client::connect(&config.endpoints, Some(options)).await?;
        // A linearizable read: the cluster has a quorum and lets this user in.
        client.get(config.prefix.as_bytes(), None).await?;
        Ok::<_, etcd_client::Error>(client)
    };
    match tokio::time::timeout(config.timeout, connecting).await {
        Ok(Ok(client)) => Ok(client),
        // The debug form names what TLS disliked, which the message alone does not.
        Ok(Err(e)) => Err(failed(format!("{} ({e:?})", chain(&e)))),
        Err(_) => Err(failed(format!(
            "no answer within etcd_timeout ({} ms); is a quorum of members up and reachable?",
            config.timeout.as_millis()
        ))),
    }
}

/// `e` with every cause under it: a transport error alone says nothing of a bad certificate.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        cause = c.source();
    }
    text
}
