//! A list of HTTP(S) URLs.

use super::{Entry, Fetched, Source, SourceError};
use crate::parsers::human_bytes;
use std::io::Read;
use std::time::Duration;

/// Limits on fetching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UrlLimits {
    /// Time allowed for one whole request.
    pub timeout: Duration,
    /// Redirects followed before giving up.
    pub max_redirects: u32,
}

impl Default for UrlLimits {
    fn default() -> Self {
        UrlLimits {
            timeout: Duration::from_secs(30),
            max_redirects: 5,
        }
    }
}

/// Documents fetched over HTTP(S). The listing is the URL list itself; every run fetches
/// each URL and compares content hashes, so a changed page is noticed.
pub struct UrlSource {
    urls: Vec<String>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for UrlSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UrlSource")
            .field("urls", &self.urls)
            .finish()
    }
}

impl UrlSource {
    /// A source over `urls`.
    pub fn new(mut urls: Vec<String>, limits: UrlLimits) -> Result<UrlSource, SourceError> {
        for u in &urls {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                return Err(SourceError::permanent(format!(
                    "`{u}` is not an http(s) URL"
                )));
            }
        }
        urls.sort();
        urls.dedup();
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(limits.timeout))
            .max_redirects(limits.max_redirects)
            .http_status_as_error(false)
            .build()
            .new_agent();
        Ok(UrlSource { urls, agent })
    }
}

impl Source for UrlSource {
    fn list(&self) -> Result<Vec<Entry>, SourceError> {
        Ok(self
            .urls
            .iter()
            .map(|u| Entry {
                path: u.clone(),
                revision: String::new(),
            })
            .collect())
    }

    fn read(&self, entry: &Entry, max_bytes: usize) -> Result<Fetched, SourceError> {
        let url = &entry.path;
        let response = self.agent.get(url).call().map_err(|e| match e {
            ureq::Error::TooManyRedirects => {
                SourceError::permanent(format!("{url}: too many redirects"))
            }
            ureq::Error::Timeout(_) => SourceError::transient(format!("{url}: timed out")),
            other => SourceError::transient(format!("{url}: {other}")),
        })?;
        let status = response.status().as_u16();
        if status >= 500 || status == 429 {
            return Err(SourceError::transient(format!(
                "{url}: the server answered {status}"
            )));
        }
        if status >= 400 {
            return Err(SourceError::permanent(format!(
                "{url}: the server answered {status}"
            )));
        }
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let revision = ["etag", "last-modified"]
            .iter()
            .find_map(|h| response.headers().get(*h).and_then(|v| v.to_str().ok()))
            .unwrap_or_default()
            .to_string();
        if let Some(len) = response
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            && len > max_bytes as u64
        {
            return Err(too_large(url, len as usize, max_bytes));
        }
        let mut bytes = Vec::new();
        response
            .into_body()
            .into_reader()
            .take(max_bytes as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| SourceError::transient(format!("{url}: {e}")))?;
        if bytes.len() > max_bytes {
            return Err(too_large(url, bytes.len(), max_bytes));
        }
        Ok(Fetched {
            bytes,
            content_type,
            revision,
            acl: None,
        })
    }
}

fn too_large(url: &str, got: usize, max: usize) -> SourceError {
    SourceError {
        message: format!(
            "{url}: document is over the {} limit (at least {})",
            human_bytes(max),
            human_bytes(got)
        ),
        transient: false,
        too_large: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;

    /// A tiny HTTP server on loopback that answers each path from a table.
    fn serve(routes: Vec<(&'static str, String)>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                }
                let reply = routes
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map(|(_, r)| r.clone())
                    .unwrap_or_else(|| {
                        "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n".into()
                    });
                let mut s = stream;
                let _ = s.write_all(reply.as_bytes());
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn fetches_respecting_type_size_and_redirects() {
        let base = serve(vec![
            ("/doc", "HTTP/1.1 200 OK\r\ncontent-type: text/markdown\r\netag: \"v1\"\r\ncontent-length: 5\r\n\r\n# Hi\n".into()),
            ("/big", format!("HTTP/1.1 200 OK\r\ncontent-length: 2000\r\n\r\n{}", "x".repeat(2000))),
            ("/loop", "HTTP/1.1 302 Found\r\nlocation: /loop\r\ncontent-length: 0\r\n\r\n".into()),
            ("/down", "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n".into()),
        ]);
        let s = UrlSource::new(
            vec![format!("{base}/doc")],
            UrlLimits {
                timeout: Duration::from_secs(5),
                max_redirects: 3,
            },
        )
        .unwrap();
        let entry = |p: &str| Entry {
            path: format!("{base}{p}"),
            revision: String::new(),
        };
        let f = s.read(&entry("/doc"), 1000).unwrap();
        assert_eq!(f.bytes, b"# Hi\n");
        assert_eq!(f.content_type.as_deref(), Some("text/markdown"));
        assert_eq!(f.revision, "\"v1\"");
        assert!(s.read(&entry("/big"), 1000).unwrap_err().too_large);
        assert!(
            s.read(&entry("/loop"), 1000)
                .unwrap_err()
                .message
                .contains("too many redirects")
        );
        assert!(s.read(&entry("/down"), 1000).unwrap_err().transient);
        let missing = s.read(&entry("/missing"), 1000).unwrap_err();
        assert!(!missing.transient && missing.message.contains("404"));
    }
}
