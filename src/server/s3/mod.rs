//! The S3 door (issue 29, in progress): what S3 clients need of a server, starting with AWS
//! Signature Version 4 (sigv4.rs). Not yet routed: nothing outside the tests calls it.

#[allow(dead_code)]
mod sigv4;
