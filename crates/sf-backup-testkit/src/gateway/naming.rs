//! Names and ids as the native gateway reads and writes them (`src/prod/src/Common/NamingUri.cpp`
//! `IdToFabricName` and `FabricNameToId`, called from `httpgateway/UriArgumentParser.cpp` `TryGetPathId`).

/// A path id as the gateway turns it into a name (`NamingUri::IdToFabricName`): percent-decoded, then every `~`
/// made a `/`, then prefixed with `fabric:/`. `None` for a malformed escape or an empty id.
pub(crate) fn id_to_name(id: &str) -> Option<String> {
    let bytes = id.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes.get(index + 1..index + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    let decoded = String::from_utf8(decoded).ok()?;
    if decoded.is_empty() {
        return None;
    }
    Some(format!("fabric:/{}", decoded.replace('~', "/")))
}

/// A name as the gateway writes it as an `Id` (`NamingUri::FabricNameToId`): without `fabric:/`, `/` as `~` when
/// the api-version is 6.0 or later, and the characters its `EscapeString` escapes percent-encoded.
pub(crate) fn name_to_id(name: &str, delimiter: bool) -> String {
    let rest = name.trim_start_matches("fabric:/");
    let rest = if delimiter {
        rest.replace('/', "~")
    } else {
        rest.to_owned()
    };
    let mut out = String::with_capacity(rest.len());
    for c in rest.chars() {
        if "[]&^`{}|\"<>\\ ".contains(c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_decode_like_the_gateway_and_names_encode_back() {
        assert_eq!(id_to_name("FakeApp").as_deref(), Some("fabric:/FakeApp"));
        assert_eq!(
            id_to_name("myapp~app1~svc1").as_deref(),
            Some("fabric:/myapp/app1/svc1")
        );
        assert_eq!(
            id_to_name("myapp%2Fapp1%2fsvc1").as_deref(),
            Some("fabric:/myapp/app1/svc1")
        );
        // Unescaped first, then `~` replaced: an escaped `~` is a delimiter too.
        assert_eq!(id_to_name("a%7Eb").as_deref(), Some("fabric:/a/b"));
        assert_eq!(id_to_name("a%2"), None);
        assert_eq!(id_to_name("a%zz"), None);
        assert_eq!(id_to_name(""), None);

        assert_eq!(
            name_to_id("fabric:/myapp/app1/svc1", true),
            "myapp~app1~svc1"
        );
        assert_eq!(
            name_to_id("fabric:/myapp/app1/svc1", false),
            "myapp/app1/svc1"
        );
        assert_eq!(name_to_id("fabric:/my app/s{1}", true), "my%20app~s%7B1%7D");
    }
}
