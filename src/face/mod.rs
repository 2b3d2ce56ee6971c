//! The server's own pages on plain `GET` requests: the demo page at `/`, and the status
//! page, its JSON and the Prometheus metrics. What each may reveal follows [`Pages`]: counts
//! are public where the pages are on; names of sessions and relay clients only with
//! `status_details`, and then only to holders of the admin token where one is set.

use crate::plain_http::{HttpRequest, HttpResponse};
use crate::status::Disclosure;

/// The demo page: one file, plain ES5 and CSS, no build step.
const DEMO_PAGE: &str = include_str!("demo.html");

/// Seconds between reloads of the HTML status page.
const STATUS_REFRESH: u32 = 2;

/// Which built-in pages the server answers (see [`crate::Settings::pages`]). All off by
/// default in the library; the command-line server turns the demo and status pages on.
///
/// ```
/// let pages = ws::Pages { demo: true, status: true, ..ws::Pages::default() };
/// let server = ws::Server::builder()
///     .settings(ws::Settings::default().pages(pages))
///     .bind("127.0.0.1:0")?;
/// # Ok::<(), ws::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pages {
    /// `GET /`: the demo page (chat and file transfer through pipe sessions, an echo
    /// tester, relay channels). It also lets `/status.json?session=NAME` describe the one
    /// session a page has joined.
    pub demo: bool,
    /// `GET /status` (HTML), `/status.json` and `/metrics`: counts without names.
    pub status: bool,
    /// Let `/status` and `/status.json` name every session and relay client.
    pub status_details: bool,
    /// Where set, the details need `Authorization: Bearer TOKEN`.
    pub admin_token: Option<String>,
}

impl Pages {
    pub(crate) fn any(&self) -> bool {
        self.demo || self.status
    }
}

/// What a request for a built-in page needs from the loop.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Page {
    Demo,
    StatusHtml(Disclosure),
    StatusJson(Disclosure),
    Metrics,
}

impl Page {
    /// What the page may reveal, if it shows a status snapshot at all.
    pub(crate) fn disclosure(&self) -> Option<Disclosure> {
        match self {
            Page::Demo => None,
            Page::StatusHtml(d) | Page::StatusJson(d) => Some(d.clone()),
            Page::Metrics => Some(Disclosure::Aggregates),
        }
    }
}

/// Which built-in page `request` asks for: `None` if none (the application's
/// [`crate::HttpHandler`] answers it), `Err` for an answer given without a page.
pub(crate) fn route(request: &HttpRequest, pages: &Pages) -> Option<Result<Page, HttpResponse>> {
    let page = match request.path.as_str() {
        "/" | "/index.html" if pages.demo => Page::Demo,
        "/status" | "/status.json" if pages.status => {
            let disclosure = match disclosure(request, pages) {
                Ok(d) => d,
                Err(refusal) => return Some(Err(refusal)),
            };
            if request.path == "/status" {
                Page::StatusHtml(disclosure)
            } else {
                Page::StatusJson(disclosure)
            }
        }
        "/metrics" if pages.status => Page::Metrics,
        _ => return None,
    };
    if request.method != "GET" && request.method != "HEAD" {
        let mut refusal = HttpResponse::text(405, "only GET here");
        refusal.headers.push(("Allow".into(), "GET, HEAD".into()));
        return Some(Err(refusal));
    }
    Some(Ok(page))
}

/// How much a status request may see.
fn disclosure(request: &HttpRequest, pages: &Pages) -> Result<Disclosure, HttpResponse> {
    let authorized = match (&pages.admin_token, request.header("Authorization")) {
        (_, _) if !pages.status_details => false,
        (None, _) => true,
        (Some(_), None) => false,
        (Some(token), Some(given)) => {
            let given = given.strip_prefix("Bearer ").unwrap_or("");
            if !crate::secret::same_secret(given.trim().as_bytes(), token.as_bytes()) {
                let mut refusal = HttpResponse::text(401, "wrong admin token");
                refusal
                    .headers
                    .push(("WWW-Authenticate".into(), "Bearer".into()));
                return Err(refusal);
            }
            true
        }
    };
    if authorized {
        return Ok(Disclosure::Everything);
    }
    let session = request
        .query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("session="));
    Ok(match session {
        Some(name) if pages.demo && !name.is_empty() => Disclosure::Session(name.to_owned()),
        _ => Disclosure::Aggregates,
    })
}

/// The response for a page, given the snapshot it needs (none for the demo page).
pub(crate) fn render(page: &Page, status: Option<&crate::status::Status>) -> HttpResponse {
    let (content_type, body) = match (page, status) {
        (Page::Demo, _) => ("text/html; charset=utf-8", DEMO_PAGE.to_owned()),
        (Page::StatusHtml(_), Some(s)) => ("text/html; charset=utf-8", s.to_html(STATUS_REFRESH)),
        (Page::StatusJson(_), Some(s)) => ("application/json", s.to_json()),
        (Page::Metrics, Some(s)) => (
            "text/plain; version=0.0.4; charset=utf-8",
            s.to_prometheus(),
        ),
        (_, None) => return HttpResponse::text(500, "no status"),
    };
    HttpResponse {
        status: 200,
        headers: vec![
            ("Content-Type".into(), content_type.into()),
            ("Cache-Control".into(), "no-store".into()),
        ],
        body: body.into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(path: &str, query: Option<&str>, auth: Option<&str>) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            path: path.into(),
            query: query.map(str::to_owned),
            headers: auth
                .map(|a| vec![("Authorization".into(), a.to_owned())])
                .unwrap_or_default(),
            body: Vec::new(),
        }
    }

    fn pages(details: bool, token: Option<&str>) -> Pages {
        Pages {
            demo: true,
            status: true,
            status_details: details,
            admin_token: token.map(str::to_owned),
        }
    }

    #[test]
    fn names_need_details_and_the_token_where_one_is_set() {
        let json = |p: &Pages, auth| route(&get("/status.json", None, auth), p);
        let everything = Some(Ok(Page::StatusJson(Disclosure::Everything)));
        let aggregates = Some(Ok(Page::StatusJson(Disclosure::Aggregates)));
        assert_eq!(json(&pages(false, None), None), aggregates);
        assert_eq!(json(&pages(false, Some("t")), Some("Bearer t")), aggregates);
        assert_eq!(json(&pages(true, None), None), everything);
        assert_eq!(json(&pages(true, Some("t")), None), aggregates);
        assert_eq!(json(&pages(true, Some("t")), Some("Bearer t")), everything);
        let wrong = json(&pages(true, Some("t")), Some("Bearer u"));
        assert!(matches!(wrong, Some(Err(r)) if r.status == 401));
    }

    #[test]
    fn a_session_is_described_to_whoever_names_it_while_the_demo_is_on() {
        let request = get("/status.json", Some("x=1&session=lobby"), None);
        assert_eq!(
            route(&request, &pages(false, None)),
            Some(Ok(Page::StatusJson(Disclosure::Session("lobby".into()))))
        );
        let no_demo = Pages {
            demo: false,
            ..pages(false, None)
        };
        assert_eq!(
            route(&request, &no_demo),
            Some(Ok(Page::StatusJson(Disclosure::Aggregates)))
        );
    }

    #[test]
    fn pages_that_are_off_are_left_to_the_application() {
        assert_eq!(route(&get("/", None, None), &Pages::default()), None);
        assert_eq!(route(&get("/metrics", None, None), &Pages::default()), None);
        assert_eq!(route(&get("/other", None, None), &pages(true, None)), None);
        let mut post = get("/metrics", None, None);
        post.method = "POST".into();
        assert!(matches!(route(&post, &pages(false, None)), Some(Err(r)) if r.status == 405));
    }
}
