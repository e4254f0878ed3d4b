//! How URIs given by the caller appear in error messages.

/// `text` quoted for an error message without the parts of a URI that may hold a secret: the user info (a
/// password), the query (a SAS `sig=`) and the fragment, each replaced by `…` so the message still shows that the
/// part is there. Text that is not a URL with an authority is quoted only when it has none of the characters that
/// start those parts (`@`, `?`, `#`); otherwise it is not shown at all.
pub(crate) fn shown(text: &str) -> String {
    let text = text.trim();
    match url::Url::parse(text) {
        Ok(url) if !url.cannot_be_a_base() => {
            let user_info = if url.username().is_empty() && url.password().is_none() {
                ""
            } else {
                "…@"
            };
            let port = url
                .port()
                .map(|port| format!(":{port}"))
                .unwrap_or_default();
            let query = if url.query().is_some() { "?…" } else { "" };
            let fragment = if url.fragment().is_some() { "#…" } else { "" };
            format!(
                "\"{}://{user_info}{}{port}{}{query}{fragment}\"",
                url.scheme(),
                url.host_str().unwrap_or_default(),
                url.path()
            )
        }
        _ if text.contains(['@', '?', '#']) => {
            "the value (not shown: it may hold credentials)".to_owned()
        }
        _ => format!("{text:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn user_info_query_and_fragment_are_replaced() {
        for (input, expected) in [
            (
                "https://a.blob.core.windows.net/",
                "\"https://a.blob.core.windows.net/\"",
            ),
            (
                " https://user:pw-1@a.blob.core.windows.net/c?sv=1&sig=sig-1#frag-1 ",
                "\"https://…@a.blob.core.windows.net/c?…#…\"",
            ),
            ("http://cluster:19080?x=1", "\"http://cluster:19080/?…\""),
            ("ftp://only-user@host/", "\"ftp://…@host/\""),
            ("https://[::1]:19080/", "\"https://[::1]:19080/\""),
            ("not a url", "\"not a url\""),
            ("localhost:19080", "\"localhost:19080\""),
            (
                "https://u:pw-2@[bad",
                "the value (not shown: it may hold credentials)",
            ),
            (
                "mailto:u:pw-3@example",
                "the value (not shown: it may hold credentials)",
            ),
            (
                "sv=1?sig=sig-2",
                "the value (not shown: it may hold credentials)",
            ),
        ] {
            assert_eq!(shown(input), expected, "{input}");
        }
    }
}
