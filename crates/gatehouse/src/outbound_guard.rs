//! The one way the server calls a URL that a client supplied (`jwks_uri` for `private_key_jwt`
//! client authentication, `backchannel_logout_uri` for back-channel logout), so that a
//! self-registered client cannot make Gatehouse a proxy into its own network (SSRF).
//!
//! Every call: an http(s) URL without userinfo; the host resolved, and refused when any of its
//! addresses is not publicly routable ([`is_private`]: loopback, private, link-local,
//! unspecified, multicast, CGNAT, IPv6 ULA and link-local, and IPv4 embedded in IPv6) unless
//! `clients.http.disallow_private_ip_ranges` is `false` (development); the connection then goes
//! to exactly the checked addresses, because the check *is* the HTTP client's DNS resolver
//! ([`GuardedResolver`]) — there is no second lookup a rebinding DNS server could answer
//! differently. An IP-literal host never reaches a resolver, so it is checked before the call.
//! No redirects, no proxy from the environment, a time limit and a size limit.
//!
//! [`OutboundGuard::check_registered`] applies the same address rules when a client registers
//! (RFC 7591 `invalid_client_metadata`). A name that does not resolve then is accepted: the check
//! at call time is the one that counts.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use url::{Host, Url};

/// How long one call may take, connection and body included.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// How long resolving a name may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest response body read (a JWKS is a few kilobytes).
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// Why a URL was not called.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Url(String),
    #[error("the address {0} is not publicly routable (clients.http.disallow_private_ip_ranges)")]
    Private(IpAddr),
    #[error("the call failed: {0}")]
    Transport(String),
}

/// Whether `ip` is not publicly routable: refused as a target of client-supplied URLs.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_private_v4(v4),
        IpAddr::V6(v6) => is_private_v6(v6),
    }
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_unspecified()
        || a == 0 // 0.0.0.0/8 "this network"
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a >= 240 // reserved
        || (a == 100 && (64..128).contains(&b)) // CGNAT 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments 192.0.0.0/24
        || (a == 198 && (b == 18 || b == 19)) // benchmarking 198.18.0.0/15
        || ip.is_documentation()
}

fn is_private_v6(ip: Ipv6Addr) -> bool {
    let seg = ip.segments();
    if let Some(v4) = embedded_v4(ip) {
        return is_private_v4(v4);
    }
    ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (seg[0] & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (seg[0] & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
        || (seg[0] == 0x2001 && seg[1] == 0) // Teredo: tunnels to any IPv4 address
}

/// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`), IPv4-compatible (`::a.b.c.d`),
/// NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::`) address.
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let seg = ip.segments();
    let o = ip.octets();
    let low = Ipv4Addr::new(o[12], o[13], o[14], o[15]);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if seg[..6] == [0; 6] && !ip.is_loopback() && !ip.is_unspecified() {
        return Some(low);
    }
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(low);
    }
    if seg[0] == 0x2002 {
        return Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]));
    }
    None
}

/// An absolute http(s) URL with a host and no userinfo, or why not.
pub fn parse(raw: &str) -> Result<Url, Refused> {
    let url = Url::parse(raw).map_err(|e| Refused::Url(format!("{raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(Refused::Url(format!(
            "{raw:?} must be an http:// or https:// URL"
        )));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Refused::Url(format!("{raw:?} must not carry credentials")));
    }
    Ok(url)
}

/// The literal address of `url`'s host, if it is one.
fn literal(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        Host::Domain(_) => None,
    }
}

/// The HTTP client's resolver: the system's, refusing a name any of whose addresses is private.
#[derive(Debug)]
struct GuardedResolver {
    allow_private: bool,
}

async fn resolve(host: &str, allow_private: bool) -> Result<Vec<SocketAddr>, Refused> {
    let lookup = tokio::net::lookup_host((host, 0));
    let addrs: Vec<SocketAddr> = tokio::time::timeout(RESOLVE_TIMEOUT, lookup)
        .await
        .map_err(|_| Refused::Transport(format!("resolving {host:?} timed out")))?
        .map_err(|e| Refused::Transport(format!("resolving {host:?}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(Refused::Transport(format!("{host:?} has no address")));
    }
    if !allow_private && let Some(a) = addrs.iter().find(|a| is_private(a.ip())) {
        return Err(Refused::Private(a.ip()));
    }
    Ok(addrs)
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve(&host, allow_private).await?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The guarded HTTP client for client-supplied URLs.
#[derive(Debug, Clone)]
pub struct OutboundGuard {
    http: reqwest::Client,
    allow_private: bool,
}

impl OutboundGuard {
    /// `disallow_private_ip_ranges`: `clients.http.disallow_private_ip_ranges`. An error when
    /// the HTTP client cannot be built: never a default client, which would have no time limit,
    /// follow redirects and resolve names without the address check.
    pub fn new(disallow_private_ip_ranges: bool) -> Result<OutboundGuard, reqwest::Error> {
        let allow_private = !disallow_private_ip_ranges;
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(RESOLVE_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { allow_private }))
            .build()?;
        Ok(OutboundGuard {
            http,
            allow_private,
        })
    }

    /// The URL, when it may be called now (the literal-address part of the check; names are
    /// checked by the resolver as the call connects).
    fn target(&self, raw: &str) -> Result<Url, Refused> {
        let url = parse(raw)?;
        if !self.allow_private
            && let Some(ip) = literal(&url)
            && is_private(ip)
        {
            return Err(Refused::Private(ip));
        }
        Ok(url)
    }

    /// At registration: `raw` is refused when it is not an http(s) URL, carries credentials, or
    /// names (or resolves to) an address that is not publicly routable.
    pub async fn check_registered(&self, raw: &str) -> Result<Url, Refused> {
        let url = self.target(raw)?;
        if !self.allow_private
            && let Some(Host::Domain(name)) = url.host()
        {
            // A name that does not resolve now is accepted: the call-time check decides.
            if let Err(e @ Refused::Private(_)) = resolve(name, false).await {
                return Err(e);
            }
        }
        Ok(url)
    }

    /// `GET raw`, its body if the answer is a 2xx of at most [`MAX_RESPONSE_BYTES`].
    pub async fn get(&self, raw: &str) -> Result<Vec<u8>, Refused> {
        let url = self.target(raw)?;
        let resp = self
            .http
            .get(url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(transport)?;
        if !resp.status().is_success() {
            return Err(Refused::Transport(format!("answered {}", resp.status())));
        }
        crate::gateway::outbound::read_limited(resp, MAX_RESPONSE_BYTES)
            .await
            .map_err(Refused::Transport)
    }

    /// `POST raw` with a form body; whether the answer was a 2xx.
    pub async fn post_form(&self, raw: &str, form: &[(&str, &str)]) -> Result<bool, Refused> {
        let url = self.target(raw)?;
        let resp = self
            .http
            .post(url)
            .form(form)
            .send()
            .await
            .map_err(transport)?;
        Ok(resp.status().is_success())
    }
}

/// A transport error, naming the refused address when the resolver refused it.
fn transport(e: reqwest::Error) -> Refused {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(s) = source {
        if let Some(Refused::Private(ip)) = s.downcast_ref::<Refused>() {
            return Refused::Private(*ip);
        }
        source = s.source();
    }
    Refused::Transport(e.without_url().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn private(s: &str) -> bool {
        is_private(s.parse().expect("ip"))
    }

    #[test]
    fn internal_addresses_are_private() {
        for ip in [
            "127.0.0.1",
            "127.1.2.3",
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "2001::1",
            "2001:db8::1",
        ] {
            assert!(private(ip), "{ip}");
        }
    }

    #[test]
    fn public_addresses_are_not_private() {
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "192.169.0.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
            "2002:0808:0808::",
        ] {
            assert!(!private(ip), "{ip}");
        }
    }

    #[test]
    fn urls_need_http_a_host_and_no_credentials() {
        assert!(parse("https://rp.example.com/logout").is_ok());
        assert!(parse("ftp://rp.example.com/").is_err());
        assert!(parse("file:///etc/passwd").is_err());
        assert!(parse("https://user:pw@rp.example.com/").is_err());
        assert!(parse("/relative").is_err());
    }

    #[tokio::test]
    async fn literal_and_resolved_private_targets_are_refused() {
        let g = OutboundGuard::new(true).expect("client");
        for raw in [
            "http://127.0.0.1:1/x",
            "http://[::1]:1/x",
            "http://[::ffff:127.0.0.1]:1/x",
            "http://0x7f000001:1/x",
            "http://127.1:1/x",
            "http://169.254.169.254/latest/meta-data/",
            "http://localhost:1/x",
        ] {
            assert!(
                matches!(g.get(raw).await, Err(Refused::Private(_))),
                "{raw}"
            );
            assert!(
                matches!(g.check_registered(raw).await, Err(Refused::Private(_))),
                "{raw}"
            );
        }
        // The development allowance lets them through to the (closed) port.
        let dev = OutboundGuard::new(false).expect("client");
        assert!(matches!(
            dev.get("http://127.0.0.1:1/x").await,
            Err(Refused::Transport(_))
        ));
        assert!(dev.check_registered("http://127.0.0.1:1/x").await.is_ok());
    }
}
