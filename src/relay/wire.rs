//! The relay's wire format, JSON text messages compatible with the websocket-relay 0.3
//! JavaScript client:
//!
//! - in: `{"authentication":{"clientId":N,"token":"..."}}`, `{"relay":{"targetId":M,
//!   "message":"..."}}`, or both in one object (authenticate, then relay);
//! - out: `{"relay":{"senderId":N,"message":"..."}}` and `{"error":"..."}`.

use serde_json::{json, Value};

/// One message from a client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Inbound {
    pub authentication: Option<(u64, String)>,
    pub relay: Option<(u64, String)>,
}

/// The text of the error for anything that is not an [`Inbound`].
pub(crate) const MALFORMED: &str = "malformed message";

pub(crate) fn parse(text: &str) -> Result<Inbound, &'static str> {
    let value: Value = serde_json::from_str(text).map_err(|_| MALFORMED)?;
    let object = value.as_object().ok_or(MALFORMED)?;
    let field =
        |outer: &str, id: &str, text: &str| -> Result<Option<(u64, String)>, &'static str> {
            let Some(inner) = object.get(outer) else {
                return Ok(None);
            };
            let id = inner.get(id).and_then(Value::as_u64).ok_or(MALFORMED)?;
            let text = inner.get(text).and_then(Value::as_str).ok_or(MALFORMED)?;
            Ok(Some((id, text.to_owned())))
        };
    let inbound = Inbound {
        authentication: field("authentication", "clientId", "token")?,
        relay: field("relay", "targetId", "message")?,
    };
    if inbound.authentication.is_none() && inbound.relay.is_none() {
        return Err(MALFORMED);
    }
    Ok(inbound)
}

pub(crate) fn relay(sender: u64, message: &str) -> String {
    json!({ "relay": { "senderId": sender, "message": message } }).to_string()
}

pub(crate) fn error(text: &str) -> String {
    json!({ "error": text }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authentication_relay_and_both_parse() {
        assert_eq!(
            parse(r#"{"authentication":{"clientId":3,"token":"ab"}}"#),
            Ok(Inbound {
                authentication: Some((3, "ab".into())),
                relay: None
            })
        );
        assert_eq!(
            parse(r#"{"relay":{"targetId":4,"message":"hi \u00e9\ud83d\ude00"}}"#),
            Ok(Inbound {
                authentication: None,
                relay: Some((4, "hi é😀".into()))
            })
        );
        let both = parse(
            r#"{"relay":{"message":"x","targetId":1},"authentication":{"token":"t","clientId":2}}"#,
        )
        .unwrap();
        assert_eq!(both.authentication, Some((2, "t".into())));
        assert_eq!(both.relay, Some((1, "x".into())));
    }

    #[test]
    fn anything_else_is_malformed() {
        for bad in [
            "",
            "not json",
            "[1,2]",
            "{}",
            r#"{"other":1}"#,
            r#"{"authentication":{"clientId":"3","token":"ab"}}"#,
            r#"{"authentication":{"clientId":-1,"token":"ab"}}"#,
            r#"{"authentication":{"clientId":1.5,"token":"ab"}}"#,
            r#"{"authentication":{"clientId":1}}"#,
            r#"{"relay":{"targetId":1,"message":{"sdp":"x"}}}"#,
            r#"{"relay":{"message":"x"}}"#,
            r#"{"relay":{"targetId":1,"message":"x"},"authentication":7}"#,
        ] {
            assert_eq!(parse(bad), Err(MALFORMED), "{bad}");
        }
    }

    #[test]
    fn outgoing_messages_escape_what_they_carry() {
        assert_eq!(
            relay(7, "say \"hi\"\n"),
            r#"{"relay":{"message":"say \"hi\"\n","senderId":7}}"#
        );
        assert_eq!(error("incorrect token"), r#"{"error":"incorrect token"}"#);
    }
}
