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
///     }
/// }
/// ```
///
/// makes `BigStats` (every field public, gauges then counters; the attributes given, derives
/// included, go on it), `Counters` (one `AtomicU64` per counter, `Default`),
/// `Counters::fill(&self, &mut BigStats)`, `Counters::rows()` and `BigStats::counter_rows()`
/// (the counters as `(name, value)` rows, in declaration order).
macro_rules! stats {
    (
        $(#[$meta:meta])*
        $vis:vis struct $stats:ident, counted by $cvis:vis $counters:ident {
            gauges { $( $(#[$gmeta:meta])* $gauge:ident: $gty:ty, )* }
            counters { $( $(#[$cmeta:meta])* $counter:ident, )* }
        }
    ) => {
        $(#[$meta])*
        $vis struct $stats {
            $( $(#[$gmeta])* pub $gauge: $gty, )*
            $( $(#[$cmeta])* pub $counter: u64, )*
        }

        #[derive(Debug, Default)]
        $cvis struct $counters {
            $( pub(crate) $counter: ::std::sync::atomic::AtomicU64, )*
        }

        #[allow(dead_code)]
        impl $counters {
            /// Copies every counter into `stats`.
            pub(crate) fn fill(&self, stats: &mut $stats) {
                $( stats.$counter = $crate::counters::load(&self.$counter); )*
            }

            /// Sets every counter back to zero (memcached's `stats reset`).
            pub(crate) fn reset(&self) {
                $( self.$counter.store(0, ::std::sync::atomic::Ordering::Relaxed); )*
            }

            /// The counters as `(name, value)` rows, in declaration order.
            pub(crate) fn rows(&self) -> Vec<(&'static str, u64)> {
                vec![ $( (stringify!($counter), $crate::counters::load(&self.$counter)), )* ]
            }
        }

        #[allow(dead_code)]
        impl $stats {
            /// The names of the counters (monotonic totals).
            pub(crate) const COUNTER_NAMES: &'static [&'static str] = &[ $( stringify!($counter), )* ];
            /// The names of the gauges (levels).
            pub(crate) const GAUGE_NAMES: &'static [&'static str] = &[ $( stringify!($gauge), )* ];

            /// The counters (not the gauges) as `(name, value)` rows, in declaration order.
            pub(crate) fn counter_rows(&self) -> Vec<(&'static str, u64)> {
                vec![ $( (stringify!($counter), self.$counter), )* ]
            }
        }
    };
}
pub(crate) use stats;
