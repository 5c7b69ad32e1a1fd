//! The log format: the file as a whole, the record codec and the replay scanner.

pub(crate) mod file;
pub(crate) mod reader;
pub(crate) mod record;
pub(crate) mod replay;
