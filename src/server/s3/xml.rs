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

    /// A document whose root has no namespace: S3's `<Error>` has none, and botocore reads
    /// the error code only from such a document.
    pub(crate) fn without_namespace() -> Xml {
        Xml {
            root: false,
            ..Xml::new()
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

/// The text of every leaf element, in document order, each with the number of `group`
/// elements opened so far (so the fields of the n-th `group` carry n): each item is (that
/// number, the element's name, its text, entities resolved). Used to read flat request
/// documents such as
/// `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>…</ETag></Part>…`.
/// `None` for a document that is not well-formed XML.
pub(crate) fn fields(doc: &[u8], group: &str) -> Option<Vec<(usize, String, String)>> {
    let mut reader = quick_xml::Reader::from_reader(doc);
    let mut buf = Vec::new();
    // The open elements: name, text so far, whether a child element was seen.
    let mut stack: Vec<(String, String, bool)> = Vec::new();
    let mut groups = 0usize;
    let mut out = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if name == group {
                    groups += 1;
                }
                if let Some(parent) = stack.last_mut() {
                    parent.2 = true;
                }
                stack.push((name, String::new(), false));
            }
            Event::End(_) => {
                let (name, text, parent) = stack.pop()?;
                if !parent {
                    out.push((groups, name, text));
                }
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if let Some(parent) = stack.last_mut() {
                    parent.2 = true;
                }
                out.push((groups, name, String::new()));
            }
            Event::Text(t) => {
                let text = t.decode().ok()?;
                if let Some(top) = stack.last_mut() {
                    top.1.push_str(&text);
                }
            }
            Event::GeneralRef(r) => {
                let name = r.decode().ok()?;
                let entity = format!("&{name};");
                let text = quick_xml::escape::unescape(&entity).ok()?;
                if let Some(top) = stack.last_mut() {
                    top.1.push_str(&text);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.1.push_str(&String::from_utf8_lossy(&t));
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
        let d = fields(
            b"<Delete><Object><Key>I'm a %3C &amp; weird path </Key></Object></Delete>",
            "Object",
        )
        .unwrap();
        assert_eq!(
            d,
            vec![(1, "Key".to_string(), "I'm a %3C & weird path ".to_string())]
        );
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
