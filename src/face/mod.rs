//! The server's own pages on plain `GET` requests: the demo page at `/`, and the status
//! page, its JSON and the Prometheus metrics. What each may reveal follows [`Pages`]: counts
//! are public where the pages are on; names of sessions and relay clients only with
//! `status_details`, and then only to holders of the admin token where one is set.

use crate::plain_http::{HttpRequest, HttpResponse};
use crate::status::Disclosure;

/// The demo page (plain ES5 and CSS, no build step) in three files compiled in: the HTML,
/// its script at `/demo.js` and its style sheet at `/demo.css`. Three files rather than one so
/// the script can be checked as ES5 on its own (`tests/browser/es5-check.sh`) and the page
/// can be edited without escaping; the page names each asset with a hash of its content
/// (`/demo.js?v=HASH`), so a browser may keep a pinned asset for good and never mixes an old
/// script with a new page.
const DEMO_PAGE: &str = include_str!("demo.html");
const DEMO_SCRIPT: &str = include_str!("demo.js");
const DEMO_STYLE: &str = include_str!("demo.css");
const SCRIPT_VERSION: u64 = fnv1a(DEMO_SCRIPT.as_bytes());
const STYLE_VERSION: u64 = fnv1a(DEMO_STYLE.as_bytes());

/// FNV-1a, 64 bits: a content hash for cache busting (not a security property).
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

/// One of the demo page's assets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Asset {
    /// `/demo.js`
    Script,
    /// `/demo.css`
    Style,
}

impl Asset {
    fn content_type(self) -> &'static str {
        match self {
            Asset::Script => "application/javascript; charset=utf-8",
            Asset::Style => "text/css; charset=utf-8",
        }
    }

    fn body(self) -> &'static str {
        match self {
            Asset::Script => DEMO_SCRIPT,
            Asset::Style => DEMO_STYLE,
        }
    }

    fn version(self) -> String {
        format!(
            "{:016x}",
            match self {
                Asset::Script => SCRIPT_VERSION,
                Asset::Style => STYLE_VERSION,
            }
        )
    }
}

/// The demo page with its assets' versions filled in.
fn demo_page() -> String {
    DEMO_PAGE
        .replace("@SCRIPT_VERSION@", &Asset::Script.version())
        .replace("@STYLE_VERSION@", &Asset::Style.version())
}

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
    /// A demo asset; `pinned` when the request named its current version (`?v=HASH`).
    DemoAsset {
        asset: Asset,
        pinned: bool,
    },
    StatusHtml(Disclosure),
    StatusJson(Disclosure),
    Metrics,
}

impl Page {
    /// What the page may reveal, if it shows a status snapshot at all.
    pub(crate) fn disclosure(&self) -> Option<Disclosure> {
        match self {
            Page::Demo | Page::DemoAsset { .. } => None,
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
        "/demo.js" | "/demo.css" if pages.demo => {
            let asset = if request.path == "/demo.js" {
                Asset::Script
            } else {
                Asset::Style
            };
            let pinned = query_value(request, "v") == Some(asset.version().as_str());
            Page::DemoAsset { asset, pinned }
        }
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
    Ok(match query_value(request, "session") {
        Some(name) if pages.demo && !name.is_empty() => Disclosure::Session(name.to_owned()),
        _ => Disclosure::Aggregates,
    })
}

/// The value of `key=` in the request's query, as sent (not percent-decoded).
fn query_value<'r>(request: &'r HttpRequest, key: &str) -> Option<&'r str> {
    request
        .query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

/// The response for a page, given the snapshot it needs (none for the demo page).
pub(crate) fn render(page: &Page, status: Option<&crate::status::Status>) -> HttpResponse {
    let (content_type, body) = match (page, status) {
        (Page::Demo, _) => ("text/html; charset=utf-8", demo_page()),
        (Page::DemoAsset { asset, pinned }, _) => {
            // A pinned URL names one content for good; an unpinned one is revalidated (we
            // send no validators, so that means fetched again).
            let cache = if *pinned {
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            };
            return HttpResponse {
                status: 200,
                headers: vec![
                    ("Content-Type".into(), asset.content_type().into()),
                    ("Cache-Control".into(), cache.into()),
                    ("X-Content-Type-Options".into(), "nosniff".into()),
                ],
                body: asset.body().as_bytes().to_vec(),
            };
        }
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
    fn the_demo_page_names_its_assets_by_their_current_versions() {
        let page = render(&Page::Demo, None);
        let html = String::from_utf8(page.body).unwrap();
        assert!(!html.contains('@'), "every placeholder filled: {html}");
        for asset in [Asset::Script, Asset::Style] {
            let path = match asset {
                Asset::Script => "/demo.js",
                Asset::Style => "/demo.css",
            };
            let url = format!("{path}?v={}", asset.version());
            assert!(html.contains(&url), "{url}");
            let query = url.split_once('?').map(|(_, q)| q);
            let pinned = route(&get(path, query, None), &pages(false, None));
            assert_eq!(
                pinned,
                Some(Ok(Page::DemoAsset {
                    asset,
                    pinned: true
                }))
            );
            let response = render(
                &Page::DemoAsset {
                    asset,
                    pinned: true,
                },
                None,
            );
            let header = |name: &str| {
                response
                    .headers
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.as_str())
            };
            assert_eq!(header("Content-Type"), Some(asset.content_type()));
            assert!(header("Cache-Control").unwrap().contains("immutable"));
            assert_eq!(response.body, asset.body().as_bytes());
            for stale in [None, Some("v=0000000000000000"), Some("v")] {
                let unpinned = route(&get(path, stale, None), &pages(false, None));
                assert_eq!(
                    unpinned,
                    Some(Ok(Page::DemoAsset {
                        asset,
                        pinned: false
                    }))
                );
            }
            let response = render(
                &Page::DemoAsset {
                    asset,
                    pinned: false,
                },
                None,
            );
            assert!(response
                .headers
                .contains(&("Cache-Control".into(), "no-cache".into())));
            let no_demo = Pages {
                demo: false,
                ..pages(false, None)
            };
            assert_eq!(route(&get(path, None, None), &no_demo), None);
        }
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
