//! Registration over plain HTTP, for running the relay standalone: `POST /relay/clients` and
//! `POST /relay/channels`, answered only to `Authorization: Bearer <admin token>`. In a
//! cluster, a registration that reaches a node other than the relay's is forwarded to it.

use super::bridge::Route;
use super::{Relay, RelayError};
use crate::cluster::BRIDGE_HEADER;
use crate::plain_http::{HttpHandler, HttpReply, HttpRequest, HttpResponse};
use serde_json::{json, Value};

/// An [`HttpHandler`] for relay registration:
///
/// | request | answer |
/// |---|---|
/// | `POST /relay/clients` | `201 {"id":N,"token":"..."}` |
/// | `POST /relay/channels` with `{"clients":[A,B]}` | `201 {"clients":[A,B]}`; `404` unknown id, `409` existing channel, `400` malformed body or A = B |
/// | without `Authorization: Bearer <admin token>` | `401` |
/// | another method on those paths | `405` |
/// | any other path | `501` (the port speaks WebSocket) |
///
/// Errors have the body `{"error":"..."}`.
///
/// ```no_run
/// use ws::{Relay, RelayAdmin, RelayOptions, Server};
/// let relay = Relay::new(RelayOptions::default());
/// let server = Server::builder()
///     .route("/relay", relay.handler())
///     .plain_http(RelayAdmin::new(relay.clone(), "s3cret"))
///     .bind("127.0.0.1:8088")?;
/// server.run()?;
/// # Ok::<(), ws::Error>(())
/// ```
pub struct RelayAdmin {
    relay: Relay,
    bearer: String,
}

impl RelayAdmin {
    /// Serve registration for `relay` to requests carrying `admin_token`.
    pub fn new(relay: Relay, admin_token: &str) -> Self {
        RelayAdmin {
            relay,
            bearer: format!("Bearer {admin_token}"),
        }
    }

    fn authorized(&self, request: &HttpRequest) -> bool {
        let given = request.header("Authorization").unwrap_or("");
        crate::secret::same_secret(given.trim().as_bytes(), self.bearer.as_bytes())
    }

    fn register_client(&self) -> HttpResponse {
        match self.relay.register_client() {
            Ok(c) => HttpResponse::json(201, json!({ "id": c.id, "token": c.token }).to_string()),
            Err(e) => error_response(&e),
        }
    }

    fn register_channel(&self, body: &[u8]) -> HttpResponse {
        let pair = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
            match v.get("clients")?.as_array()?.as_slice() {
                [a, b] => Some((a.as_u64()?, b.as_u64()?)),
                _ => None,
            }
        });
        let Some((a, b)) = pair else {
            return error(400, "malformed body: expected {\"clients\":[A,B]}");
        };
        match self.relay.register_relay_channel(a, b) {
            Ok(()) => HttpResponse::json(201, json!({ "clients": [a, b] }).to_string()),
            Err(e) => error_response(&e),
        }
    }
}

impl RelayAdmin {
    /// The refusal of a request that is not a registration this admin may make, if it is not.
    fn refusal(&self, request: &HttpRequest) -> Option<HttpResponse> {
        let path = request.path.as_str();
        if path != "/relay/clients" && path != "/relay/channels" {
            return Some(HttpResponse::text(
                501,
                "this endpoint speaks only WebSocket",
            ));
        }
        if !self.authorized(request) {
            let mut response = error(401, "unauthorized");
            response
                .headers
                .push(("WWW-Authenticate".into(), "Bearer".into()));
            return Some(response);
        }
        if request.method != "POST" {
            let mut response = error(405, "use POST");
            response.headers.push(("Allow".into(), "POST".into()));
            return Some(response);
        }
        None
    }
}

impl HttpHandler for RelayAdmin {
    fn handle(&mut self, request: &HttpRequest) -> HttpResponse {
        if let Some(refusal) = self.refusal(request) {
            return refusal;
        }
        match request.path.as_str() {
            "/relay/clients" => self.register_client(),
            _ => self.register_channel(&request.body),
        }
    }

    /// In a cluster, a registration is made on the relay's node: one that arrives at
    /// another node is forwarded there (from a thread, so the loop never waits on the
    /// other node) and its answer passed back; 503 with the reason when no node can be
    /// told (the broker is away) or the relay's node does not answer.
    fn handle_later(&mut self, request: &HttpRequest, reply: HttpReply) -> Option<HttpResponse> {
        if let Some(refusal) = self.refusal(request) {
            return Some(refusal);
        }
        let cluster = self.relay.inner.options.cluster.clone();
        let Some(cluster) = cluster else {
            return Some(self.handle(request));
        };
        match self.relay.inner.route(request.header(BRIDGE_HEADER)) {
            Route::Local => Some(self.handle(request)),
            Route::Refuse(status, why) => Some(error(status, &why)),
            Route::Bridge(node) => {
                log::debug!(
                    "relay: {} forwarded to node {} ({})",
                    request.path,
                    node.name,
                    node.addr
                );
                crate::cluster::forward(node, cluster.bridge_credential(), request, reply);
                None
            }
        }
    }
}

fn error(status: u16, text: &str) -> HttpResponse {
    HttpResponse::json(status, json!({ "error": text }).to_string())
}

fn error_response(e: &RelayError) -> HttpResponse {
    let status = match e {
        RelayError::UnknownClient(_) => 404,
        RelayError::ChannelExists(..) | RelayError::ClientExists(_) => 409,
        RelayError::SameClient(_) => 400,
        RelayError::NoRandomness => 500,
        RelayError::Closed => 503,
    };
    error(status, &e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RelayOptions;

    fn request(method: &str, path: &str, auth: Option<&str>, body: &str) -> HttpRequest {
        HttpRequest {
            method: method.into(),
            path: path.into(),
            query: None,
            headers: auth
                .map(|a| vec![("authorization".to_owned(), a.to_owned())])
                .unwrap_or_default(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn body(response: &HttpResponse) -> Value {
        serde_json::from_slice(&response.body).unwrap()
    }

    #[test]
    fn clients_and_channels_are_registered_with_the_admin_token_only() {
        let relay = Relay::new(RelayOptions::default());
        let mut admin = RelayAdmin::new(relay, "sekrit");
        let ok = Some("Bearer sekrit");
        for auth in [
            None,
            Some("Bearer sekri"),
            Some("Bearer sekrit2"),
            Some("sekrit"),
        ] {
            let r = admin.handle(&request("POST", "/relay/clients", auth, ""));
            assert_eq!(r.status, 401, "{auth:?}");
            assert_eq!(body(&r)["error"], "unauthorized");
        }
        let a = admin.handle(&request("POST", "/relay/clients", ok, ""));
        assert_eq!(a.status, 201);
        let a = body(&a);
        assert_eq!(a["id"], 1);
        assert_eq!(a["token"].as_str().unwrap().len(), 32);
        let b = body(&admin.handle(&request("POST", "/relay/clients", ok, "")));
        assert_eq!(b["id"], 2);
        assert_ne!(a["token"], b["token"]);

        let channel = |admin: &mut RelayAdmin, body: &str| {
            admin.handle(&request("POST", "/relay/channels", ok, body))
        };
        let r = channel(&mut admin, r#"{"clients":[1,2]}"#);
        assert_eq!((r.status, body(&r)), (201, json!({"clients":[1,2]})));
        assert_eq!(channel(&mut admin, r#"{"clients":[2,1]}"#).status, 409);
        assert_eq!(channel(&mut admin, r#"{"clients":[1,3]}"#).status, 404);
        assert_eq!(channel(&mut admin, r#"{"clients":[1,1]}"#).status, 400);
        for bad in [
            "",
            "{",
            r#"{"clients":[1]}"#,
            r#"{"clients":[1,"2"]}"#,
            "[1,2]",
        ] {
            let r = channel(&mut admin, bad);
            assert_eq!(r.status, 400, "{bad}");
            assert!(body(&r)["error"].as_str().unwrap().starts_with("malformed"));
        }
        assert_eq!(
            admin
                .handle(&request("GET", "/relay/clients", ok, ""))
                .status,
            405
        );
        assert_eq!(admin.handle(&request("GET", "/", ok, "")).status, 501);
    }
}
