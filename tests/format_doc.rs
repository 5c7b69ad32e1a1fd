//! docs/FORMAT.md states limits as numbers; each must be the constant the code enforces
//! (issue 28: the value limit was written as 4294901759 while the code enforced 4294900735).

use logcache::{DEFAULT_MAX_VALUE_LEN, MAX_ATTRIBUTES, MAX_KEY_LEN, MAX_VALUE_LEN_LIMIT};

const FORMAT: &str = include_str!("../docs/FORMAT.md");

/// Every number written right after `lead` in FORMAT.md (at least one must be).
fn numbers_after(lead: &str) -> Vec<u64> {
    let found: Vec<u64> = FORMAT
        .match_indices(lead)
        .map(|(at, _)| {
            let digits: String = FORMAT[at + lead.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits
                .parse()
                .unwrap_or_else(|_| panic!("no number after {lead:?}"))
        })
        .collect();
    assert!(!found.is_empty(), "FORMAT.md no longer says {lead:?}");
    found
}

#[test]
fn every_limit_in_format_md_is_the_codes() {
    for (lead, code) in [
        ("key length in bytes, decimal, at most ", MAX_KEY_LEN as u64),
        ("`KEYLEN` ≤ ", MAX_KEY_LEN as u64),
        ("configured maximum (default ", DEFAULT_MAX_VALUE_LEN),
        ("never above ", MAX_VALUE_LEN_LIMIT),
        ("the bytes that follow, at most ", MAX_ATTRIBUTES as u64),
    ] {
        for written in numbers_after(lead) {
            assert_eq!(written, code, "FORMAT.md: {lead:?}{written}");
        }
    }
}
