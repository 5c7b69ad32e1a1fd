//! The S3 door (`logcache serve --s3`): what S3 clients (awscli, boto3, rclone, s3cmd, the
//! `object_store` crate) need of a server, over the same store as the object API. See
//! docs/S3.md for the operations and what differs from AWS.
//!
//! | file | job |
//! |---|---|
//! | `server.rs` | [`S3Server`], the shared state, dispatch of a request to its operation |
//! | `config.rs` | [`S3Config`], the credentials file |
//! | `auth.rs` | who may ask: Signature V4 (header, presigned), the clock, the payload mode |
//! | `sigv4.rs`, `presigned.rs` | Signature Version 4 itself |
//! | `body.rs` | a request body: `aws-chunked` (chunked.rs), checksums (checksum.rs), MD5 |
//! | `write.rs` | writing an object: size checks, pumping bytes in, the synced commit |
//! | `buckets.rs` | buckets as namespaces: list, create, head, delete, location |
//! | `objects.rs` | put, get, head, delete, delete many, copy |
//! | `list.rs` | ListObjectsV2 and version 1 |
//! | `multipart.rs` | multipart uploads |
//! | `headers.rs` | attributes ↔ headers, GET conditions |
//! | `error.rs`, `xml.rs`, `time.rs` | S3's errors, XML and dates |

mod auth;
mod body;
mod buckets;
mod checksum;
mod chunked;
mod config;
mod error;
mod headers;
mod list;
mod multipart;
mod objects;
mod presigned;
mod presigned_v2;
mod server;
mod sigv4;
mod time;
mod write;
mod xml;

pub use config::S3Config;
pub use server::S3Server;
