//! ListObjectsV2 (`list-type=2`: `prefix`, `delimiter`, `continuation-token`, `start-after`,
//! `max-keys`, `encoding-type=url`) and ListObjects version 1 (`marker`): a bucket's keys in
//! order, with the keys under a common prefix rolled up when a delimiter is given.

use axum::response::IntoResponse;

use super::buckets::{object_key, owner};
use super::error::{S3Error, S3Result};
use super::headers::{etag_of, modified_of};
use super::server::{Call, S3};
use super::sigv4::uri_encode;
use super::time::iso8601;
use super::xml::Xml;
use crate::protocol::memcache::{base64, base64_decode};
use crate::store::KvStore;

/// The most keys one page holds.
const MAX_KEYS: usize = 1000;

/// One entry of a page.
#[derive(Debug, PartialEq, Eq)]
enum Entry {
    Key(String),
    Prefix(String),
}

/// A page of `keys` (sorted, the bucket's name taken off) under `prefix`, after `after`, with
/// `delimiter` rolling keys up; whether more follow.
fn page(
    keys: &[String],
    prefix: &str,
    delimiter: &str,
    after: &str,
    max: usize,
) -> (Vec<Entry>, bool) {
    let mut out: Vec<Entry> = Vec::new();
    // A page that ended on a common prefix continues after every key under it.
    let rolled_after = !delimiter.is_empty() && after.ends_with(delimiter) && !after.is_empty();
    for key in keys {
        if !key.starts_with(prefix) || key.as_str() <= after {
            continue;
        }
        if rolled_after && key.starts_with(after) {
            continue;
        }
        let entry = match key[prefix.len()..]
            .find(delimiter)
            .filter(|_| !delimiter.is_empty())
        {
            Some(i) => Entry::Prefix(key[..prefix.len() + i + delimiter.len()].to_string()),
            None => Entry::Key(key.clone()),
        };
        if out.last() == Some(&entry) {
            continue;
        }
        if out.len() == max {
            return (out, true);
        }
        out.push(entry);
    }
    (out, false)
}

/// `GET /bucket`: ListObjects, version 2 with `list-type=2`, else version 1.
pub(crate) async fn list_objects<S: KvStore + 'static>(s3: &S3<S>, call: Call) -> S3Result {
    s3.bucket_exists(&call.bucket).await?;
    let q = &call.query;
    let v2 = q.get("list-type") == Some("2");
    let prefix = q.get("prefix").unwrap_or("").to_string();
    let delimiter = q.get("delimiter").unwrap_or("").to_string();
    let max = match q.get("max-keys") {
        None => MAX_KEYS,
        Some(m) => m
            .parse::<usize>()
            .map_err(|_| S3Error::invalid_argument("max-keys must be a whole number"))?
            .min(MAX_KEYS),
    };
    let url = match q.get("encoding-type") {
        None => false,
        Some("url") => true,
        Some(_) => return Err(S3Error::invalid_argument("encoding-type must be url")),
    };
    let token = match q.get("continuation-token").filter(|_| v2) {
        None => None,
        Some(t) => Some(
            base64_decode(t.as_bytes())
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| {
                    S3Error::invalid_argument("The continuation token provided is incorrect")
                })?,
        ),
    };
    let start_after = q.get("start-after").filter(|_| v2).unwrap_or("");
    let marker = q.get("marker").filter(|_| !v2).unwrap_or("");
    let after = token
        .as_deref()
        .unwrap_or(if v2 { start_after } else { marker })
        .to_string();

    let base = object_key(&call.bucket, "");
    let scan = [base.as_slice(), prefix.as_bytes()].concat();
    let strip = base.len();
    let mut keys: Vec<String> = s3
        .run(move |c| c.keys(&scan))
        .await?
        .ok_or_else(|| S3Error::not_implemented("listing over a store that cannot list its keys"))?
        .into_iter()
        .filter_map(|k| String::from_utf8(k.get(strip..)?.to_vec()).ok())
        .collect();
    keys.sort_unstable();
    let (entries, truncated) = page(&keys, &prefix, &delimiter, &after, max);

    // The manifests of the page's keys, read in one call on the pool: size, ETag and time.
    let wanted: Vec<Vec<u8>> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::Key(k) => Some(object_key(&call.bucket, k)),
            Entry::Prefix(_) => None,
        })
        .collect();
    let infos = s3
        .run(move |c| {
            let mut out = Vec::with_capacity(wanted.len());
            for k in &wanted {
                out.push(c.reader(k)?.map(|r| {
                    let a = r.attributes();
                    (r.len(), etag_of(a, r.version()), modified_of(a))
                }));
            }
            Ok(out)
        })
        .await?;

    let enc = |s: &str| {
        if url {
            uri_encode(s.as_bytes(), true)
        } else {
            s.to_string()
        }
    };
    let mut xml = Xml::new();
    xml.open("ListBucketResult");
    xml.elem("Name", &call.bucket);
    xml.elem("Prefix", &enc(&prefix));
    if v2 {
        if let Some(t) = q.get("continuation-token") {
            xml.elem("ContinuationToken", t);
        }
        if !start_after.is_empty() {
            xml.elem("StartAfter", &enc(start_after));
        }
    } else {
        xml.elem("Marker", &enc(marker));
    }
    if v2 {
        xml.elem("KeyCount", &(entries.len()).to_string());
    }
    xml.elem("MaxKeys", &max.to_string());
    if !delimiter.is_empty() {
        xml.elem("Delimiter", &enc(&delimiter));
    }
    if url {
        xml.elem("EncodingType", "url");
    }
    xml.elem("IsTruncated", if truncated { "true" } else { "false" });
    if truncated && let Some(last) = entries.last() {
        let last = match last {
            Entry::Key(k) | Entry::Prefix(k) => k,
        };
        if v2 {
            xml.elem("NextContinuationToken", &base64(last.as_bytes()));
        } else {
            xml.elem("NextMarker", &enc(last));
        }
    }
    let mut infos = infos.into_iter();
    for entry in &entries {
        match entry {
            Entry::Key(k) => {
                // An object evicted or deleted since the scan is left out.
                let Some(Some((size, etag, modified))) = infos.next() else {
                    continue;
                };
                xml.open("Contents");
                xml.elem("Key", &enc(k));
                xml.elem("LastModified", &iso8601(modified));
                xml.elem("ETag", &etag);
                xml.elem("Size", &size.to_string());
                if !v2 || q.get("fetch-owner") == Some("true") {
                    owner(&mut xml);
                }
                xml.elem("StorageClass", "STANDARD");
                xml.close("Contents");
            }
            Entry::Prefix(p) => {
                xml.open("CommonPrefixes");
                xml.elem("Prefix", &enc(p));
                xml.close("CommonPrefixes");
            }
        }
    }
    xml.close("ListBucketResult");
    Ok(xml.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(k: &[&str]) -> Vec<String> {
        k.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn pages_roll_up_prefixes_and_continue_after_them() {
        let all = keys(&["a", "dir/x", "dir/y", "dir/z/1", "e", "f/g"]);
        let (p, more) = page(&all, "", "/", "", 1000);
        assert_eq!(
            p,
            vec![
                Entry::Key("a".into()),
                Entry::Prefix("dir/".into()),
                Entry::Key("e".into()),
                Entry::Prefix("f/".into())
            ]
        );
        assert!(!more);
        let (p, more) = page(&all, "", "/", "", 2);
        assert_eq!(p.len(), 2);
        assert!(more);
        // Continuing after a common prefix skips every key under it.
        let (p, _) = page(&all, "", "/", "dir/", 1000);
        assert_eq!(p, vec![Entry::Key("e".into()), Entry::Prefix("f/".into())]);
        let (p, _) = page(&all, "dir/", "/", "", 1000);
        assert_eq!(
            p,
            vec![
                Entry::Key("dir/x".into()),
                Entry::Key("dir/y".into()),
                Entry::Prefix("dir/z/".into())
            ]
        );
        let (p, more) = page(&all, "", "", "dir/y", 2);
        assert_eq!(
            p,
            vec![Entry::Key("dir/z/1".into()), Entry::Key("e".into())]
        );
        assert!(more);
        let (p, more) = page(&all, "", "", "", 6);
        assert_eq!(p.len(), 6);
        assert!(!more, "exactly max keys: not truncated");
    }
}
