//! S3's XML: the documents the door writes (listings, results, errors) and the two it reads
//! (`CompleteMultipartUpload`, `Delete`). Escaping and parsing are quick-xml's; the writer is
//! a string with elements appended, since every document here is small and flat.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use quick_xml::events::Event;

/// The namespace of S3's documents.
const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// An XML document being written.
pub(crate) struct Xml {
    out: String,
    root: bool,
}

impl Xml {
    pub(crate) fn new() -> Xml {
        Xml {
            out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
            root: true,
        }
    }

    /// Opens `tag`; the first element opened gets S3's namespace.
    pub(crate) fn open(&mut self, tag: &str) {
        if std::mem::take(&mut self.root) {
            self.out.push_str(&format!("<{tag} xmlns=\"{NS}\">"));
        } else {
            self.out.push_str(&format!("<{tag}>"));
        }
    }

    pub(crate) fn close(&mut self, tag: &str) {
        self.out.push_str(&format!("</{tag}>"));
    }

    /// `<tag>text</tag>`, the text escaped.
    pub(crate) fn elem(&mut self, tag: &str, text: &str) {
        self.out.push_str(&format!(
            "<{tag}>{}</{tag}>",
            quick_xml::escape::escape(text)
        ));
    }

    pub(crate) fn into_string(self) -> String {
        self.out
    }
}

impl IntoResponse for Xml {
    fn into_response(self) -> Response {
        let mut r = (StatusCode::OK, self.out).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/xml"),
        );
        r
    }
}

/// The text of every element named `tag`, in document order, with the text of `group`
/// elements they are inside numbered: each item is (index of the enclosing `group`, tag,
/// text). Used to read flat request documents such as
/// `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>…</ETag></Part>…`.
/// `None` for a document that is not well-formed XML.
pub(crate) fn fields(doc: &[u8], group: &str) -> Option<Vec<(usize, String, String)>> {
    let mut reader = quick_xml::Reader::from_reader(doc);
    reader.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut groups = 0usize;
    let mut out = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if name == group {
                    groups += 1;
                }
                stack.push(name);
            }
            Event::End(_) => {
                stack.pop()?;
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                out.push((groups, name, String::new()));
            }
            Event::Text(t) => {
                let text = t.decode().ok()?;
                let text = quick_xml::escape::unescape(&text).ok()?.into_owned();
                if let Some(name) = stack.last() {
                    out.push((groups, name.clone(), text));
                }
            }
            Event::GeneralRef(r) => {
                // An entity (`&amp;`) between text pieces: resolved and appended to the text.
                let name = r.decode().ok()?;
                let text = quick_xml::escape::unescape(&format!("&{name};"))
                    .ok()?
                    .into_owned();
                match (out.last_mut(), stack.last()) {
                    (Some((g, n, t)), Some(top)) if *g == groups && n == top => t.push_str(&text),
                    (_, Some(top)) => out.push((groups, top.clone(), text)),
                    _ => {}
                }
            }
            Event::CData(t) => {
                if let Some(name) = stack.last() {
                    out.push((
                        groups,
                        name.clone(),
                        String::from_utf8_lossy(&t).into_owned(),
                    ));
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    stack.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_document_reads_as_numbered_parts() {
        let doc = br#"<?xml version="1.0" encoding="UTF-8"?>
            <CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
              <Part><ETag>"a&amp;b"</ETag><PartNumber>1</PartNumber></Part>
              <Part><PartNumber>2</PartNumber><ETag>&quot;c&quot;</ETag></Part>
            </CompleteMultipartUpload>"#;
        let f = fields(doc, "Part").unwrap();
        let get = |g: usize, n: &str| {
            f.iter()
                .filter(|(gg, nn, _)| *gg == g && nn == n)
                .map(|(_, _, t)| t.as_str())
                .collect::<String>()
        };
        assert_eq!(get(1, "ETag"), "\"a&b\"");
        assert_eq!(get(1, "PartNumber"), "1");
        assert_eq!(get(2, "ETag"), "\"c\"");
        assert_eq!(get(2, "PartNumber"), "2");
        assert!(fields(b"<a><b></a>", "b").is_none());
        assert!(fields(b"<a>", "b").is_none());
    }

    #[test]
    fn text_is_escaped() {
        let mut x = Xml::new();
        x.open("R");
        x.elem("Key", "a<b>&\"c\"");
        x.close("R");
        let s = x.into_string();
        assert!(s.contains("<R xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"));
        assert!(s.contains("<Key>a&lt;b&gt;&amp;&quot;c&quot;</Key>"), "{s}");
    }
}
