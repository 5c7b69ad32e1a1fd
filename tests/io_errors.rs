//! I/O error injection: placeholder replaced below.
