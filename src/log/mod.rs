//! The log format: the record codec and the replay scanner.

pub(crate) mod reader;
pub(crate) mod record;
pub(crate) mod replay;
