//! The native gateway's query string and the checks it makes before any handler runs: split raw, names
//! case-sensitive, the first of a repeated name kept (`httpgateway/GatewayUri.cpp` `ParseQueryString`), then the
//! api-version and `timeout`.

use crate::wire::dialect::Dialect;
use crate::wire::refusal::Refusal;
use crate::wire::words::INVALID_ARGUMENT;

/// The query values, as the gateway reads them: split on `&` and `=`, names case-sensitive, nothing decoded, the
/// first of a repeated name kept (`GatewayUri::ParseQueryString`).
pub(crate) struct GatewayQuery(Vec<(String, String)>);

impl GatewayQuery {
    pub(crate) fn parse(raw: &str) -> Self {
        let mut items: Vec<(String, String)> = Vec::new();
        for element in raw.split('&') {
            let pair: Vec<&str> = element.split('=').collect();
            if let [name, value] = pair.as_slice()
                && !items.iter().any(|(n, _)| n == name)
            {
                items.push(((*name).to_owned(), (*value).to_owned()));
            }
        }
        GatewayQuery(items)
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Which query, for its documented api-version.
#[derive(Clone, Copy)]
pub(crate) enum Listing {
    Services,
    Partitions,
}

impl Listing {
    fn documented_version(self) -> &'static str {
        match self {
            Listing::Services => "6.0",
            Listing::Partitions => "6.4",
        }
    }
}

/// The api-version as a number. The gateway takes a number (a `-preview` suffix dropped) between its handler's
/// minimum and the runtime's version; this one takes 6.0 and later (see the README for what is not modelled
/// below). The documented dialect takes exactly the spec's version.
pub(crate) fn api_version(
    query: &GatewayQuery,
    dialect: Dialect,
    listing: Listing,
) -> Result<f64, Refusal> {
    let raw = query.get("api-version");
    match dialect {
        Dialect::Documented => {
            let wanted = listing.documented_version();
            match raw {
                Some(version) if version == wanted => Ok(version.parse().unwrap_or(0.0)),
                Some(other) => Err(Refusal::invalid(format!(
                    "api-version must be \"{wanted}\", got {other:?}"
                ))),
                None => Err(Refusal::invalid(format!(
                    "api-version is required and must be \"{wanted}\""
                ))),
            }
        }
        _ => {
            let number = raw
                .map(|v| v.strip_suffix("-preview").unwrap_or(v))
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v >= 6.0);
            number.ok_or_else(|| Refusal::invalid(INVALID_ARGUMENT))
        }
    }
}

/// `timeout`, as for the other operations: seconds in 1..=4294967295.
pub(crate) fn check_timeout(query: &GatewayQuery) -> Result<(), Refusal> {
    match query.get("timeout") {
        None => Ok(()),
        Some(raw) => match raw.parse::<u64>() {
            Ok(1..=4_294_967_295) => Ok(()),
            _ => Err(Refusal::invalid(format!(
                "timeout must be an integer in 1..=4294967295, got {raw}"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_split_raw_and_the_first_value_wins() {
        let query = GatewayQuery::parse(
            "api-version=6.0&ContinuationToken=a%2Fb&Api-Version=9&api-version=7&x",
        );
        assert_eq!(query.get("api-version"), Some("6.0"));
        assert_eq!(query.get("ContinuationToken"), Some("a%2Fb"));
        assert_eq!(query.get("continuationtoken"), None);
        assert_eq!(query.get("x"), None);
    }
}
