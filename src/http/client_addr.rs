//! The client address that every per-address limit counts under (sign-in attempts, share
//! token lookups): one rule, in one place.
//!
//! The TCP peer is the client, unless the peer is one of `PETTYSYNC_TRUSTED_PROXIES`. Then
//! `X-Forwarded-For` is read from the right: each trusted proxy appends the address it
//! received the request from, so the right-most address that is not itself a trusted proxy
//! is the client. Entries to its left were written by the client and are ignored, so a
//! client cannot pick its own address. A peer that is not trusted is never asked.
//!
//! IPv6 clients are counted by their /64: one subscriber usually holds a whole /64 and can
//! pick any address in it.

use std::future::{ready, Ready};
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use actix_web::dev::Payload;
use actix_web::http::header::HeaderName;
use actix_web::{web, FromRequest, HttpRequest};

use crate::config::{Settings, TrustedProxies};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
/// Bits of an IPv6 address that name the subscriber (the routing prefix and subnet).
const IPV6_CLIENT_PREFIX: u32 = 64;

/// The real client address of a request, as the per-address limits see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(Option<IpAddr>);

impl ClientAddr {
    /// The client of `req`, by the module's rule and the server's trusted proxies.
    pub fn of(req: &HttpRequest) -> Self {
        let no_proxies = TrustedProxies::default();
        let trusted = req
            .app_data::<web::Data<Settings>>()
            .map_or(&no_proxies, |settings| &settings.trusted_proxies);
        let forwarded = req
            .headers()
            .get_all(X_FORWARDED_FOR)
            .filter_map(|value| value.to_str().ok());
        Self(client_ip(
            req.peer_addr().map(|peer| peer.ip()),
            forwarded,
            trusted,
        ))
    }

    /// The key a limit counts this client under: the IPv4 address, or the IPv6 /64.
    pub fn limit_key(&self) -> String {
        match self.0 {
            Some(IpAddr::V4(v4)) => v4.to_string(),
            Some(IpAddr::V6(v6)) => format!("{}/{IPV6_CLIENT_PREFIX}", ipv6_prefix(v6)),
            None => "unknown".to_owned(),
        }
    }
}

impl FromRequest for ClientAddr {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(Self::of(req)))
    }
}

/// The client's address: the peer, or behind trusted proxies the right-most untrusted
/// `X-Forwarded-For` entry. `forwarded` holds the header's values in the order received.
pub fn client_ip<'a>(
    peer: Option<IpAddr>,
    forwarded: impl Iterator<Item = &'a str>,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let mut client = peer?.to_canonical();
    if !trusted.contains(client) {
        return Some(client);
    }
    let hops: Vec<&str> = forwarded.flat_map(|value| value.split(',')).collect();
    for hop in hops.into_iter().rev() {
        // An entry that is not an address cannot have come from a trusted proxy: the
        // closest hop that is known stands for the client (fail closed, never the header's
        // free text).
        let Some(address) = parse_hop(hop) else {
            break;
        };
        client = address;
        if !trusted.contains(address) {
            break;
        }
    }
    Some(client)
}

/// One `X-Forwarded-For` entry: an address, possibly with a port or IPv6 brackets.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|socket| socket.ip()))
        .or_else(|_| hop.trim_start_matches('[').trim_end_matches(']').parse())
        .ok()
        .map(|address| address.to_canonical())
}

fn ipv6_prefix(address: Ipv6Addr) -> Ipv6Addr {
    let mask = u128::MAX << (128 - IPV6_CLIENT_PREFIX);
    Ipv6Addr::from(u128::from(address) & mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &str) -> TrustedProxies {
        TrustedProxies::parse(list).expect("a valid list")
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().expect("an address"))
    }

    fn client(peer: &str, forwarded: &[&str], trusted: &str) -> Option<IpAddr> {
        client_ip(ip(peer), forwarded.iter().copied(), &proxies(trusted))
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_header_says() {
        assert_eq!(
            client("203.0.113.9", &["198.51.100.1"], ""),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn an_untrusted_peer_cannot_forward_for_someone_else() {
        let found = client("203.0.113.9", &["198.51.100.1"], "10.0.0.0/8");
        assert_eq!(found, ip("203.0.113.9"));
    }

    #[test]
    fn behind_a_trusted_proxy_the_forwarded_address_is_the_client() {
        let found = client("10.0.0.2", &["198.51.100.1"], "10.0.0.0/8");
        assert_eq!(found, ip("198.51.100.1"));
    }

    #[test]
    fn the_right_most_untrusted_hop_wins_over_what_the_client_wrote() {
        // The client claimed 1.1.1.1; the edge proxy saw 198.51.100.1; an inner proxy
        // 10.0.0.7 passed it on to the peer 10.0.0.2.
        let forwarded = ["1.1.1.1, 198.51.100.1", "10.0.0.7"];
        let found = client("10.0.0.2", &forwarded, "10.0.0.0/8");
        assert_eq!(found, ip("198.51.100.1"));
    }

    #[test]
    fn garbage_in_the_header_stops_at_the_closest_known_hop() {
        let found = client(
            "10.0.0.2",
            &["198.51.100.1, not-an-ip, 10.0.0.7"],
            "10.0.0.0/8",
        );
        assert_eq!(found, ip("10.0.0.7"));
        assert_eq!(client("10.0.0.2", &[], "10.0.0.0/8"), ip("10.0.0.2"));
    }

    #[test]
    fn forwarded_entries_may_carry_ports_and_brackets() {
        let found = client("10.0.0.2", &["198.51.100.1:4711"], "10.0.0.0/8");
        assert_eq!(found, ip("198.51.100.1"));
        let found = client("10.0.0.2", &["[2001:db8::1]:443"], "10.0.0.0/8");
        assert_eq!(found, ip("2001:db8::1"));
        let found = client("10.0.0.2", &[" [2001:db8::2] "], "10.0.0.0/8");
        assert_eq!(found, ip("2001:db8::2"));
    }

    #[test]
    fn an_ipv4_mapped_peer_is_an_ipv4_address() {
        assert_eq!(
            client("::ffff:10.0.0.2", &["198.51.100.1"], "10.0.0.2"),
            ip("198.51.100.1")
        );
        assert_eq!(client("::ffff:203.0.113.9", &[], ""), ip("203.0.113.9"));
    }

    #[test]
    fn ipv6_clients_are_keyed_by_their_slash_64() {
        let a = ClientAddr(ip("2001:db8:1:2:aaaa::1")).limit_key();
        let b = ClientAddr(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")).limit_key();
        let other = ClientAddr(ip("2001:db8:1:3::1")).limit_key();
        assert_eq!(a, "2001:db8:1:2::/64");
        assert_eq!(a, b);
        assert_ne!(a, other);
        assert_eq!(ClientAddr(ip("203.0.113.9")).limit_key(), "203.0.113.9");
        assert_eq!(ClientAddr(None).limit_key(), "unknown");
    }
}
