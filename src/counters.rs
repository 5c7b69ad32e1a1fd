//! The one way counters are declared: [`stats!`] makes a public snapshot type (gauges the
//! caller fills in, counters copied from atomics), the atomic counters behind it, and the
//! named rows that reports and `/metrics` print — so no counter is listed by hand twice.
//!
//! Counters are `Relaxed` atomics: each is a monotonic total read on its own; no reader relies
//! on two counters being read at one instant.

use std::sync::atomic::{AtomicU64, Ordering};

/// Adds one.
pub(crate) fn bump(c: &AtomicU64) {
    c.fetch_add(1, Ordering::Relaxed);
}

/// Adds `n`.
pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

/// The current value.
pub(crate) fn load(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

/// Declares a stats snapshot and its counters:
///
/// ```text
/// stats! {
///     /// Doc of the snapshot.
///     pub struct BigStats, counted by pub(crate) Counters {
///         gauges { /// doc
///                  objects: u64, }
///         counters { /// doc
///                    hits, }
///         levels { /// doc (optional section)
///                  connections_open, }
///     }
/// }
/// ```
///
/// makes `BigStats` (every field public, gauges, counters then levels; the attributes given,
/// derives included, go on it), `Counters` (one `AtomicU64` per counter and level,
/// `Default`), `Counters::fill(&self, &mut BigStats)`, `Counters::rows()` and
/// `BigStats::counter_rows()` (the atomics as `(name, value)` rows, in declaration order), and
/// `BigStats::help(name)`: each field's doc comment, the one description of it that `/metrics`
/// and reports print. Counters are monotonic totals; gauges are levels the caller fills in;
/// levels are gauges kept in atomics (connections open now). Fields take doc comments only.
macro_rules! stats {
    (
        $(#[$meta:meta])*
        $vis:vis struct $stats:ident, counted by $cvis:vis $counters:ident {
            gauges { $( $(#[doc = $gdoc:literal])* $gauge:ident: $gty:ty, )* }
            counters { $( $(#[doc = $cdoc:literal])* $counter:ident, )* }
            $( levels { $( $(#[doc = $ldoc:literal])* $level:ident, )* } )?
        }
    ) => {
        $(#[$meta])*
        $vis struct $stats {
            $( $(#[doc = $gdoc])* pub $gauge: $gty, )*
            $( $(#[doc = $cdoc])* pub $counter: u64, )*
            $($( $(#[doc = $ldoc])* pub $level: u64, )*)?
        }

        #[derive(Debug, Default)]
        $cvis struct $counters {
            $( pub(crate) $counter: ::std::sync::atomic::AtomicU64, )*
            $($( pub(crate) $level: ::std::sync::atomic::AtomicU64, )*)?
        }

        #[allow(dead_code)]
        impl $counters {
            /// Copies every counter and level into `stats`.
            pub(crate) fn fill(&self, stats: &mut $stats) {
                $( stats.$counter = $crate::counters::load(&self.$counter); )*
                $($( stats.$level = $crate::counters::load(&self.$level); )*)?
            }

            /// Sets every counter back to zero (memcached's `stats reset`); levels stay.
            pub(crate) fn reset(&self) {
                $( self.$counter.store(0, ::std::sync::atomic::Ordering::Relaxed); )*
            }

            /// The counters and levels as `(name, value)` rows, in declaration order.
            pub(crate) fn rows(&self) -> Vec<(&'static str, u64)> {
                vec![
                    $( (stringify!($counter), $crate::counters::load(&self.$counter)), )*
                    $($( (stringify!($level), $crate::counters::load(&self.$level)), )*)?
                ]
            }
        }

        #[allow(dead_code)]
        impl $stats {
            /// The names of the counters (monotonic totals).
            pub(crate) const COUNTER_NAMES: &'static [&'static str] = &[ $( stringify!($counter), )* ];
            /// The names of the gauges and levels.
            pub(crate) const GAUGE_NAMES: &'static [&'static str] = &[
                $( stringify!($gauge), )*
                $($( stringify!($level), )*)?
            ];
            /// Each field's doc comment, by name.
            const HELP: &'static [(&'static str, &'static str)] = &[
                $( (stringify!($gauge), concat!($($gdoc),*)), )*
                $( (stringify!($counter), concat!($($cdoc),*)), )*
                $($( (stringify!($level), concat!($($ldoc),*)), )*)?
            ];

            /// The counters (not the gauges) as `(name, value)` rows, in declaration order.
            pub(crate) fn counter_rows(&self) -> Vec<(&'static str, u64)> {
                vec![ $( (stringify!($counter), self.$counter), )* ]
            }

            /// What the field `name` is: its doc comment as plain text (rustdoc links and code
            /// marks removed), or `None` for a name this type does not have.
            pub(crate) fn help(name: &str) -> Option<String> {
                Self::HELP
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, doc)| $crate::counters::plain(doc))
            }
        }
    };
}
pub(crate) use stats;

/// A doc comment as plain text: `[`X`](path)` and `[`X`]` become `X`, backticks go, and the
/// lines' leading spaces collapse to one.
pub(crate) fn plain(doc: &str) -> String {
    let mut out = String::with_capacity(doc.len());
    let mut rest = doc;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        match c {
            '`' | '[' => {}
            ']' => {
                // A link target: `](crate::Path)` is dropped whole.
                if let Some(after) = rest.strip_prefix('(') {
                    rest = after.find(')').map_or("", |end| &after[end + 1..]);
                }
            }
            c => out.push(c),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    stats! {
        /// A test snapshot.
        #[derive(Debug, Default)]
        #[allow(dead_code)]
        struct Probe, counted by Probed {
            gauges {
                /// Bytes in [`Probe`] and [`the store`](crate::DurableKVCache), all
                /// of `them`.
                bytes: u64,
            }
            counters {
                /// Hits.
                hits,
            }
            levels {
                /// Open now.
                open,
            }
        }
    }

    #[test]
    fn help_is_each_fields_doc_as_plain_text() {
        assert_eq!(
            Probe::help("bytes").as_deref(),
            Some("Bytes in Probe and the store, all of them.")
        );
        assert_eq!(Probe::help("hits").as_deref(), Some("Hits."));
        assert_eq!(Probe::help("open").as_deref(), Some("Open now."));
        assert_eq!(Probe::help("nothing"), None);
        assert_eq!(Probe::GAUGE_NAMES, ["bytes", "open"]);
        assert_eq!(Probe::COUNTER_NAMES, ["hits"]);
    }

    #[test]
    fn levels_are_filled_and_listed_but_not_reset() {
        let c = Probed::default();
        bump(&c.hits);
        add(&c.open, 3);
        c.reset();
        let mut p = Probe::default();
        c.fill(&mut p);
        assert_eq!((p.hits, p.open), (0, 3));
        assert_eq!(c.rows(), [("hits", 0), ("open", 3)]);
    }
}
