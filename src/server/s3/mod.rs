//! The S3 door (issue 29, in progress): what S3 clients need of a server, starting with AWS
//! Signature Version 4 (sigv4.rs) and `aws-chunked` bodies (chunked.rs). Not yet routed:
//! nothing outside the tests calls them.

#[allow(dead_code)]
mod chunked;
#[allow(dead_code)]
mod sigv4;
