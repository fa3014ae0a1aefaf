//! `PETTYSYNC_TRUSTED_PROXIES`: the load balancers whose `X-Forwarded-For` is believed.

use serde::Deserialize;

/// The proxies (load balancers) in front of the server whose `X-Forwarded-For` is believed:
/// IP networks in CIDR form, or single addresses. In the environment a comma-separated list,
/// in a settings file a string or a list of strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<ipnet::IpNet>);

impl TrustedProxies {
    /// Parses `10.0.0.0/8, 192.168.1.7, fd00::/8`; the empty string trusts no one.
    pub fn parse(list: &str) -> Result<Self, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(parse_network)
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// True when `address` (IPv4-mapped IPv6 counts as IPv4) is one of the proxies.
    pub fn contains(&self, address: std::net::IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn parse_network(entry: &str) -> Result<ipnet::IpNet, String> {
    entry
        .parse::<ipnet::IpNet>()
        .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map(|network| network.trunc())
        .map_err(|_| format!("{entry:?} is neither an IP address nor a CIDR network"))
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Form {
            List(String),
            Entries(Vec<String>),
            // The environment provider reads `1` or `1.5` as numbers: refused below by name.
            Number(f64),
        }
        let list = match Form::deserialize(deserializer)? {
            Form::List(list) => list,
            Form::Entries(entries) => entries.join(","),
            Form::Number(number) => number.to_string(),
        };
        Self::parse(&list).map_err(serde::de::Error::custom)
    }
}
