//! The cost curve as an SVG: nanoseconds per key (or per get) of each step against the number
//! of keys, both axes logarithmic. A flat line is a cost linear in the keys; a line that
//! climbs is worse than linear.
//!
//! Written by hand (a few dozen lines of SVG) rather than with a plotting crate: `plotters`
//! would bring a font stack and a dozen crates into the benchmarks for one chart.

use super::Figures;

/// (figure, label, colour, how to turn the figure into nanoseconds per key for `n` keys).
type Series = (
    &'static str,
    &'static str,
    &'static str,
    fn(f64, u64) -> f64,
);

const SERIES: [Series; 5] = [
    ("fill_per_sec", "fill (per put)", "#1f77b4", |v, _| 1e9 / v),
    ("get_per_sec", "random get", "#2ca02c", |v, _| 1e9 / v),
    (
        "reopen_hint_ms",
        "reopen from the hint (per key)",
        "#d62728",
        |v, n| v * 1e6 / n as f64,
    ),
    (
        "reopen_replay_ms",
        "reopen by replay (per key)",
        "#ff7f0e",
        |v, n| v * 1e6 / n as f64,
    ),
    (
        "compaction_secs",
        "compaction (per live key)",
        "#9467bd",
        |v, n| v * 1e9 / n as f64,
    ),
];

const W: f64 = 720.0;
const H: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 260.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 50.0;

pub(super) fn svg(all: &[(u64, Figures)]) -> String {
    let points: Vec<Vec<(u64, f64)>> = SERIES
        .iter()
        .map(|(name, _, _, per_key)| {
            all.iter()
                .filter_map(|(n, f)| f.get(*name).map(|v| (*n, per_key(*v, *n))))
                .filter(|(_, y)| y.is_finite() && *y > 0.0)
                .collect()
        })
        .collect();
    let xs: Vec<f64> = all.iter().map(|(n, _)| (*n as f64).log10()).collect();
    let ys: Vec<f64> = points.iter().flatten().map(|(_, y)| y.log10()).collect();
    let (x0, x1) = bounds(&xs, 0.1);
    let (y0, y1) = bounds(&ys, 0.2);
    let (x0, y0) = (x0.floor(), y0.floor());
    let (x1, y1) = (x1.ceil(), y1.ceil());
    let px = |x: f64| LEFT + (x - x0) / (x1 - x0) * (W - LEFT - RIGHT);
    let py = |y: f64| H - BOTTOM - (y - y0) / (y1 - y0) * (H - TOP - BOTTOM);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"{W}\" height=\"{H}\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"18\" font-size=\"14\">logcache: cost per key against keys \
         (16-byte keys, 100-byte values; flat = linear)</text>\n"
    );
    // Decades on both axes.
    let mut d = x0;
    while d <= x1 + 1e-9 {
        let x = px(d);
        s += &format!(
            "<line x1=\"{x:.1}\" y1=\"{TOP}\" x2=\"{x:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>\n\
             <text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            H - BOTTOM,
            H - BOTTOM + 18.0,
            label(d)
        );
        d += 1.0;
    }
    let mut d = y0;
    while d <= y1 + 1e-9 {
        let y = py(d);
        s += &format!(
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{} ns</text>\n",
            W - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            label(d)
        );
        d += 1.0;
    }
    s += &format!(
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">keys</text>\n",
        (LEFT + W - RIGHT) / 2.0,
        H - 10.0
    );
    for (i, ((_, name, colour, _), pts)) in SERIES.iter().zip(&points).enumerate() {
        let path: Vec<String> = pts
            .iter()
            .map(|(n, y)| format!("{:.1},{:.1}", px((*n as f64).log10()), py(y.log10())))
            .collect();
        s += &format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>\n",
            path.join(" ")
        );
        for p in &path {
            let (x, y) = p.split_once(',').unwrap_or(("0", "0"));
            s += &format!("<circle cx=\"{x}\" cy=\"{y}\" r=\"3\" fill=\"{colour}\"/>\n");
        }
        let ly = TOP + 20.0 + i as f64 * 20.0;
        s += &format!(
            "<line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{colour}\" \
             stroke-width=\"2\"/>\n<text x=\"{:.1}\" y=\"{:.1}\">{name}</text>\n",
            W - RIGHT + 15.0,
            W - RIGHT + 35.0,
            W - RIGHT + 40.0,
            ly + 4.0
        );
    }
    s += "</svg>\n";
    s
}

/// The range of `v` widened by `pad` on each side (a unit range when empty).
fn bounds(v: &[f64], pad: f64) -> (f64, f64) {
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if lo.is_finite() && hi.is_finite() {
        (lo - pad, hi + pad)
    } else {
        (0.0, 1.0)
    }
}

/// `10^d` as 1, 10, 100, 1k, …, 1M, …
fn label(d: f64) -> String {
    let v = 10f64.powf(d).round() as u64;
    match v {
        v if v >= 1_000_000_000 => format!("{}G", v / 1_000_000_000),
        v if v >= 1_000_000 => format!("{}M", v / 1_000_000),
        v if v >= 1_000 => format!("{}k", v / 1_000),
        v => v.to_string(),
    }
}
