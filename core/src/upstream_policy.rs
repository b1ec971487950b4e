//! Which addresses the gateway may connect to on a sandbox's behalf, and which addresses are
//! Portway's own.
//!
//! A sandbox names its upstream host; the gateway connects there for any visitor. Left
//! unchecked, that lets an exposure reach the cloud's metadata service (`169.254.169.254`),
//! the host's unspecified address, or Portway's own admin listener. The policy is checked on
//! the address the gateway actually connects to, after name resolution, so a name that
//! resolves (or is rebound) to a refused address is refused too:
//!
//! - always refused, unless an allow list names them: unspecified (`0.0.0.0`, `::`),
//!   link-local (`169.254.0.0/16`, `fe80::/10`: cloud metadata lives there), multicast
//!   (`224.0.0.0/4`, `ff00::/8`) and broadcast (`255.255.255.255`);
//! - `upstream_deny`: networks refused on top of those;
//! - `upstream_allow`: when not empty, the only networks allowed (and they may include the
//!   ones refused by default). The deny list wins over the allow list.
//!
//! IPv4-mapped IPv6 addresses (`::ffff:169.254.169.254`) are checked as the IPv4 address they
//! carry. Portway's own listeners ([`OwnListeners`]) are never a valid upstream, whatever the
//! lists say.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, PoisonError, RwLock};

use ipnet::IpNet;

/// A list of networks in CIDR notation (`10.0.0.0/8`, `fd00::/8`); a bare address is a
/// network of one (`/32` or `/128`). Parsed from strings; shown as strings.
///
/// ```
/// let nets = portway::Networks::parse(["10.0.0.0/8", "192.0.2.7"])?;
/// assert!(nets.contains("10.1.2.3".parse().unwrap()));
/// assert!(nets.contains("192.0.2.7".parse().unwrap()));
/// assert!(!nets.contains("192.0.2.8".parse().unwrap()));
/// assert_eq!(nets.to_strings(), ["10.0.0.0/8", "192.0.2.7/32"]);
/// assert!(portway::Networks::parse(["10.0.0.0/33"]).is_err());
/// # Ok::<(), String>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Networks(Vec<IpNet>);

impl Networks {
    /// No network at all.
    pub const fn none() -> Networks {
        Networks(Vec::new())
    }

    /// Parses each string as a network (CIDR) or a single address. `Err` is the message for
    /// the first one that is neither.
    pub fn parse<I, S>(items: I) -> Result<Networks, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut nets = Vec::new();
        for item in items {
            let s = item.as_ref().trim();
            let net = match s.parse::<IpNet>() {
                Ok(net) => net.trunc(),
                Err(_) => match s.parse::<IpAddr>() {
                    Ok(ip) => IpNet::from(ip),
                    Err(_) => {
                        return Err(format!(
                            "{s:?} is not a network (write 10.0.0.0/8, fd00::/8 or one address)"
                        ));
                    }
                },
            };
            nets.push(net);
        }
        Ok(Networks(nets))
    }

    /// Whether `ip` is in one of the networks (IPv4-mapped IPv6 addresses as their IPv4
    /// address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The networks as strings, in CIDR notation.
    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(ToString::to_string).collect()
    }
}

/// Why an address is refused as an upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    pub addr: IpAddr,
    pub why: &'static str,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} is {}", self.addr, self.why)
    }
}

/// The networks refused unless an allow list names them, with the reason given.
fn refused_by_default(ip: IpAddr) -> Option<&'static str> {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            if v4.is_unspecified() {
                Some("the unspecified address")
            } else if v4.is_link_local() {
                Some("link-local (where cloud metadata services answer)")
            } else if v4.is_multicast() {
                Some("a multicast address")
            } else if v4 == Ipv4Addr::BROADCAST {
                Some("the broadcast address")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            if v6.is_unspecified() {
                Some("the unspecified address")
            } else if v6.is_unicast_link_local() {
                Some("link-local (where cloud metadata services answer)")
            } else if v6.is_multicast() {
                Some("a multicast address")
            } else {
                None
            }
        }
    }
}

/// The upstream address policy of a gateway: the default refusals, then the deny and allow
/// lists (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UpstreamPolicy {
    pub allow: Networks,
    pub deny: Networks,
}

impl UpstreamPolicy {
    /// `Ok` when the gateway may connect to `ip`, else why not.
    pub fn check(&self, ip: IpAddr) -> Result<(), Refused> {
        let refused = |why| Err(Refused { addr: ip, why });
        if self.deny.contains(ip) {
            return refused("in upstream_deny");
        }
        if !self.allow.is_empty() {
            return if self.allow.contains(ip) {
                Ok(())
            } else {
                refused("not in upstream_allow")
            };
        }
        match refused_by_default(ip) {
            Some(why) => refused(why),
            None => Ok(()),
        }
    }
}

/// The addresses Portway itself listens on (its gateways, and whatever else the host
/// application registers, such as `portway serve`'s admin API), so that no exposure can
/// point back at them. Shared by every handle of a Portway.
#[derive(Debug, Default)]
pub struct OwnListeners {
    addrs: RwLock<Vec<(u64, SocketAddr)>>,
    next: std::sync::atomic::AtomicU64,
}

/// A listener's registration in [`OwnListeners`]: it stays registered while this guard lives.
#[derive(Debug)]
pub struct ListenerRegistration {
    listeners: Arc<OwnListeners>,
    id: u64,
}

impl Drop for ListenerRegistration {
    fn drop(&mut self) {
        self.listeners
            .addrs
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .retain(|(id, _)| *id != self.id);
    }
}

impl OwnListeners {
    /// Registers `addr` (as bound: `0.0.0.0:9090` stands for every local address) until the
    /// returned guard is dropped.
    pub fn register(self: &Arc<Self>, addr: SocketAddr) -> ListenerRegistration {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.addrs
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push((id, addr));
        ListenerRegistration {
            listeners: self.clone(),
            id,
        }
    }

    /// The registered addresses.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        let addrs = self.addrs.read().unwrap_or_else(PoisonError::into_inner);
        addrs.iter().map(|(_, a)| *a).collect()
    }

    /// The listener a connection from `local` to `target` would reach, if it is one of
    /// Portway's own. `local` is the connecting socket's own address, when known: a target
    /// whose address is the connecting socket's own is on this machine.
    pub fn reached_by(&self, target: SocketAddr, local: Option<IpAddr>) -> Option<SocketAddr> {
        let addrs = self.addrs.read().unwrap_or_else(PoisonError::into_inner);
        if addrs.is_empty() {
            return None;
        }
        let ip = target.ip().to_canonical();
        let on_this_host = ip.is_loopback()
            || ip.is_unspecified()
            || local.is_some_and(|l| l.to_canonical() == ip);
        addrs.iter().map(|(_, a)| *a).find(|listener| {
            listener.port() == target.port()
                && ((listener.ip().is_unspecified() && on_this_host)
                    || listener.ip().to_canonical() == ip)
        })
    }

    /// [`OwnListeners::reached_by`] for an upstream as a sandbox names it, before any
    /// connect: `host` an IP address or a host name (`localhost` and its subdomains are
    /// this machine).
    pub fn named_by(&self, host: &str, port: u16) -> Option<SocketAddr> {
        let ip = match host.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => {
                let h = host.trim_end_matches('.').to_ascii_lowercase();
                if h == "localhost" || h.ends_with(".localhost") {
                    IpAddr::V4(Ipv4Addr::LOCALHOST)
                } else {
                    return None;
                }
            }
        };
        self.reached_by(SocketAddr::new(ip, port), None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn default_refusals() {
        let p = UpstreamPolicy::default();
        for bad in [
            "0.0.0.0",
            "::",
            "169.254.169.254",
            "fe80::1",
            "224.0.0.1",
            "ff02::1",
            "255.255.255.255",
            "::ffff:169.254.169.254",
        ] {
            assert!(p.check(ip(bad)).is_err(), "{bad} was allowed");
        }
        for good in ["127.0.0.1", "::1", "10.0.0.7", "172.17.0.2", "2001:db8::1"] {
            assert!(p.check(ip(good)).is_ok(), "{good} was refused");
        }
    }

    #[test]
    fn lists() {
        let p = UpstreamPolicy {
            allow: Networks::parse(["10.0.0.0/8", "169.254.0.0/16"]).unwrap(),
            deny: Networks::parse(["10.9.0.0/16"]).unwrap(),
        };
        assert!(p.check(ip("10.1.0.1")).is_ok());
        assert!(
            p.check(ip("169.254.1.1")).is_ok(),
            "allow overrides a default"
        );
        assert_eq!(p.check(ip("10.9.0.1")).unwrap_err().why, "in upstream_deny");
        assert_eq!(
            p.check(ip("127.0.0.1")).unwrap_err().why,
            "not in upstream_allow"
        );
    }

    #[test]
    fn own_listeners() {
        let own = Arc::new(OwnListeners::default());
        let any = own.register("0.0.0.0:9090".parse().unwrap());
        let lo = own.register("127.0.0.1:8080".parse().unwrap());
        assert!(own.named_by("127.0.0.1", 9090).is_some());
        assert!(own.named_by("localhost", 9090).is_some());
        assert!(own.named_by("127.0.0.1", 8080).is_some());
        assert!(
            own.named_by("127.0.0.2", 8080).is_none(),
            "another loopback address"
        );
        assert!(own.named_by("10.0.0.7", 9090).is_none());
        let t: SocketAddr = "10.0.0.7:9090".parse().unwrap();
        assert!(
            own.reached_by(t, Some(ip("10.0.0.7"))).is_some(),
            "own interface address"
        );
        assert!(own.named_by("127.0.0.1", 8081).is_none());
        drop((any, lo));
        assert!(own.named_by("127.0.0.1", 9090).is_none());
    }
}
