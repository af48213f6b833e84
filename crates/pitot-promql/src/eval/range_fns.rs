//! Functions over the samples of one range-vector window.
//!
//! Each function receives the window's samples (ascending, staleness markers removed)
//! and returns the point for one step, or `None` when the function yields no sample.

use pitot_core::Sample;

use super::aggregate::{kahan_inc, kahan_sum, mean, quantile, variance};

/// The bounds of one window: `(start, end]` in ms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WindowBounds {
    pub start: i64,
    pub end: i64,
}

/// `rate`, `increase` and `delta`: the change over the window, extrapolated towards the
/// window's edges when the samples do not reach them.
///
/// The first and last sample span the "sampled interval". Towards each edge, the result
/// is extrapolated by the distance to that edge if it is less than 1.1 times the average
/// sample spacing (the series most likely continues there), and by half a spacing
/// otherwise (the series most likely started or ended inside the window). For counters,
/// extrapolation to the start never goes past the point where the counter would be zero.
pub(crate) fn extrapolated_rate(
    w: &[Sample],
    bounds: WindowBounds,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let mut result = w[w.len() - 1].v - w[0].v;
    if is_counter {
        let mut prev = w[0].v;
        for s in &w[1..] {
            if s.v < prev {
                result += prev;
            }
            prev = s.v;
        }
    }
    Some(extrapolate(w, bounds, result, is_counter, is_rate))
}

/// The positions `i` where a series' value falls (`samples[i].v < samples[i - 1].v`):
/// the counter resets of every window, found once per series instead of once per
/// window (a 5-minute window over a 15-second series re-reads each sample 20 times).
pub(crate) fn counter_resets(samples: &[Sample], out: &mut Vec<usize>) {
    out.clear();
    out.extend(
        samples
            .windows(2)
            .enumerate()
            .filter(|(_, pair)| pair[1].v < pair[0].v)
            .map(|(i, _)| i + 1),
    );
}

/// [`extrapolated_rate`] of a counter for the window `samples[a..b]`, given the series'
/// [`counter_resets`]: the same additions in the same order, so the same result.
pub(crate) fn counter_rate(
    samples: &[Sample],
    resets: &[usize],
    (a, b): (usize, usize),
    bounds: WindowBounds,
    is_rate: bool,
) -> Option<f64> {
    if b < a + 2 {
        return None;
    }
    let w = &samples[a..b];
    let mut result = w[w.len() - 1].v - w[0].v;
    let from = resets.partition_point(|&i| i <= a);
    for &i in resets[from..].iter().take_while(|&&i| i < b) {
        result += samples[i - 1].v;
    }
    Some(extrapolate(w, bounds, result, true, is_rate))
}

/// Extrapolates the change `result` over the window `w` (at least two samples) towards
/// its edges.
fn extrapolate(
    w: &[Sample],
    bounds: WindowBounds,
    result: f64,
    is_counter: bool,
    is_rate: bool,
) -> f64 {
    let first = w[0];
    let last = w[w.len() - 1];
    let range_s = (bounds.end - bounds.start) as f64 / 1000.0;
    let mut to_start = (first.t - bounds.start) as f64 / 1000.0;
    let mut to_end = (bounds.end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg_spacing = sampled / (w.len() - 1) as f64;
    let threshold = avg_spacing * 1.1;
    if to_start >= threshold {
        to_start = avg_spacing / 2.0;
    }
    if is_counter && result > 0.0 && first.v >= 0.0 {
        let to_zero = sampled * (first.v / result);
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg_spacing / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if is_rate {
        factor /= range_s;
    }
    result * factor
}

/// `irate` and `idelta`: the change between the last two samples.
pub(crate) fn instant_delta(w: &[Sample], is_rate: bool) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let last = w[w.len() - 1];
    let prev = w[w.len() - 2];
    let mut result = if is_rate && last.v < prev.v {
        // Counter reset: the counter restarted from zero.
        last.v
    } else {
        last.v - prev.v
    };
    let dt = (last.t - prev.t) as f64 / 1000.0;
    if dt == 0.0 {
        return None;
    }
    if is_rate {
        result /= dt;
    }
    Some(result)
}

/// Least-squares fit `v = slope * x + intercept` with `x` in seconds relative to
/// `intercept_t` (ms).
pub(crate) fn linear_regression(w: &[Sample], intercept_t: i64) -> (f64, f64) {
    let init_y = w[0].v;
    let const_y = w.iter().all(|s| s.v == init_y);
    if const_y {
        if init_y.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init_y);
    }
    let n = w.len() as f64;
    let (mut sx, mut cx) = (0.0, 0.0);
    let (mut sy, mut cy) = (0.0, 0.0);
    let (mut sxy, mut cxy) = (0.0, 0.0);
    let (mut sx2, mut cx2) = (0.0, 0.0);
    for s in w {
        let x = (s.t - intercept_t) as f64 / 1000.0;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(s.v, sy, cy);
        (sxy, cxy) = kahan_inc(x * s.v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    let sx = sx + cx;
    let sy = sy + cy;
    let sxy = sxy + cxy;
    let sx2 = sx2 + cx2;
    let cov_xy = sxy - sx * sy / n;
    let var_x = sx2 - sx * sx / n;
    let slope = cov_xy / var_x;
    let intercept = sy / n - slope * sx / n;
    (slope, intercept)
}

/// `double_exponential_smoothing` (formerly `holt_winters`): the smoothed level after
/// walking the window with level factor `sf` and trend factor `tf`.
pub(crate) fn double_exponential_smoothing(w: &[Sample], sf: f64, tf: f64) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let mut level_prev = 0.0;
    let mut level = w[0].v;
    let mut trend = w[1].v - w[0].v;
    for (i, s) in w.iter().enumerate().skip(1) {
        if i > 1 {
            trend = tf * (level - level_prev) + (1.0 - tf) * trend;
        }
        let next = sf * s.v + (1.0 - sf) * (level + trend);
        level_prev = level;
        level = next;
    }
    Some(level)
}

/// Number of value changes; NaN to NaN is not a change.
pub(crate) fn changes(w: &[Sample]) -> f64 {
    let mut n = 0.0;
    for pair in w.windows(2) {
        let (a, b) = (pair[0].v, pair[1].v);
        if a != b && !(a.is_nan() && b.is_nan()) {
            n += 1.0;
        }
    }
    n
}

/// Number of counter resets (decreases).
pub(crate) fn resets(w: &[Sample]) -> f64 {
    w.windows(2).filter(|p| p[1].v < p[0].v).count() as f64
}

/// Values of a window.
fn values(w: &[Sample]) -> Vec<f64> {
    w.iter().map(|s| s.v).collect()
}

/// A function over range-vector windows, resolved from its name once per query so the
/// per-step loop does not compare strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeFn {
    Rate,
    Increase,
    Delta,
    Irate,
    Idelta,
    Deriv,
    PredictLinear,
    DoubleExponentialSmoothing,
    Changes,
    Resets,
    SumOverTime,
    AvgOverTime,
    CountOverTime,
    MinOverTime,
    MaxOverTime,
    LastOverTime,
    FirstOverTime,
    PresentOverTime,
    StddevOverTime,
    StdvarOverTime,
    QuantileOverTime,
    MadOverTime,
    TsOfMinOverTime,
    TsOfMaxOverTime,
    TsOfFirstOverTime,
    TsOfLastOverTime,
}

impl RangeFn {
    /// The function called `name`, if it is a range function.
    pub fn from_name(name: &str) -> Option<RangeFn> {
        Some(match name {
            "rate" => RangeFn::Rate,
            "increase" => RangeFn::Increase,
            "delta" => RangeFn::Delta,
            "irate" => RangeFn::Irate,
            "idelta" => RangeFn::Idelta,
            "deriv" => RangeFn::Deriv,
            "predict_linear" => RangeFn::PredictLinear,
            "holt_winters" | "double_exponential_smoothing" => RangeFn::DoubleExponentialSmoothing,
            "changes" => RangeFn::Changes,
            "resets" => RangeFn::Resets,
            "sum_over_time" => RangeFn::SumOverTime,
            "avg_over_time" => RangeFn::AvgOverTime,
            "count_over_time" => RangeFn::CountOverTime,
            "min_over_time" => RangeFn::MinOverTime,
            "max_over_time" => RangeFn::MaxOverTime,
            "last_over_time" => RangeFn::LastOverTime,
            "first_over_time" => RangeFn::FirstOverTime,
            "present_over_time" => RangeFn::PresentOverTime,
            "stddev_over_time" => RangeFn::StddevOverTime,
            "stdvar_over_time" => RangeFn::StdvarOverTime,
            "quantile_over_time" => RangeFn::QuantileOverTime,
            "mad_over_time" => RangeFn::MadOverTime,
            "ts_of_min_over_time" => RangeFn::TsOfMinOverTime,
            "ts_of_max_over_time" => RangeFn::TsOfMaxOverTime,
            "ts_of_first_over_time" => RangeFn::TsOfFirstOverTime,
            "ts_of_last_over_time" => RangeFn::TsOfLastOverTime,
            _ => return None,
        })
    }

    /// Whether the result keeps the input's metric name.
    pub fn keeps_name(self) -> bool {
        matches!(self, RangeFn::LastOverTime | RangeFn::FirstOverTime)
    }

    /// The point for one step: `w` is the window (non-empty), `eval_t` the step time,
    /// `p0`/`p1` the function's scalar parameters at this step.
    pub fn apply(
        self,
        w: &[Sample],
        bounds: WindowBounds,
        eval_t: i64,
        p0: f64,
        p1: f64,
    ) -> Option<f64> {
        let last = w[w.len() - 1];
        Some(match self {
            RangeFn::Rate => return extrapolated_rate(w, bounds, true, true),
            RangeFn::Increase => return extrapolated_rate(w, bounds, true, false),
            RangeFn::Delta => return extrapolated_rate(w, bounds, false, false),
            RangeFn::Irate => return instant_delta(w, true),
            RangeFn::Idelta => return instant_delta(w, false),
            RangeFn::Deriv => {
                if w.len() < 2 {
                    return None;
                }
                linear_regression(w, w[0].t).0
            }
            RangeFn::PredictLinear => {
                if w.len() < 2 {
                    return None;
                }
                let (slope, intercept) = linear_regression(w, eval_t);
                slope * p0 + intercept
            }
            RangeFn::DoubleExponentialSmoothing => return double_exponential_smoothing(w, p0, p1),
            RangeFn::Changes => changes(w),
            RangeFn::Resets => resets(w),
            RangeFn::SumOverTime => kahan_sum(w.iter().map(|s| s.v)),
            RangeFn::AvgOverTime => mean(&values(w)),
            RangeFn::CountOverTime => w.len() as f64,
            RangeFn::MinOverTime => {
                w.iter()
                    .fold(f64::NAN, |m, s| if s.v < m || m.is_nan() { s.v } else { m })
            }
            RangeFn::MaxOverTime => {
                w.iter()
                    .fold(f64::NAN, |m, s| if s.v > m || m.is_nan() { s.v } else { m })
            }
            RangeFn::LastOverTime => last.v,
            RangeFn::FirstOverTime => w[0].v,
            RangeFn::PresentOverTime => 1.0,
            RangeFn::StddevOverTime => variance(&values(w)).sqrt(),
            RangeFn::StdvarOverTime => variance(&values(w)),
            RangeFn::QuantileOverTime => quantile(p0, &mut values(w)),
            RangeFn::MadOverTime => {
                let mut vals = values(w);
                if vals.iter().any(|v| v.is_nan()) {
                    return Some(f64::NAN);
                }
                let median = quantile(0.5, &mut vals);
                let mut dev: Vec<f64> = vals.iter().map(|v| (v - median).abs()).collect();
                quantile(0.5, &mut dev)
            }
            RangeFn::TsOfMinOverTime => {
                let mut best = w[0];
                for s in &w[1..] {
                    if s.v <= best.v || best.v.is_nan() {
                        best = *s;
                    }
                }
                best.t as f64 / 1000.0
            }
            RangeFn::TsOfMaxOverTime => {
                let mut best = w[0];
                for s in &w[1..] {
                    if s.v >= best.v || best.v.is_nan() {
                        best = *s;
                    }
                }
                best.t as f64 / 1000.0
            }
            RangeFn::TsOfFirstOverTime => w[0].t as f64 / 1000.0,
            RangeFn::TsOfLastOverTime => last.t as f64 / 1000.0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(pairs: &[(i64, f64)]) -> Vec<Sample> {
        pairs.iter().map(|&(t, v)| Sample::new(t, v)).collect()
    }

    #[test]
    fn rate_extrapolates_to_window_edges() {
        // Samples every 5m from 0 to 50m, value = 80 per 5m; window (0, 50m].
        let w: Vec<Sample> = (1..=10)
            .map(|i| Sample::new(i * 300_000, i as f64 * 80.0))
            .collect();
        let r = extrapolated_rate(
            &w,
            WindowBounds {
                start: 0,
                end: 3_000_000,
            },
            true,
            true,
        )
        .unwrap();
        // The first sample is one interval after the start: extrapolated fully.
        assert!((r - 800.0 / 3000.0).abs() < 1e-12, "{r}");
    }

    #[test]
    fn rate_counter_reset_adds_previous_value() {
        let w = samples(&[(0, 0.0), (60_000, 10.0), (120_000, 2.0), (180_000, 12.0)]);
        let inc = extrapolated_rate(
            &w,
            WindowBounds {
                start: -1,
                end: 180_000,
            },
            true,
            false,
        )
        .unwrap();
        // 10 before the reset + 12 after it, barely extrapolated.
        assert!((inc - 22.0).abs() < 0.01, "{inc}");
    }

    #[test]
    fn rate_needs_two_samples() {
        let w = samples(&[(0, 1.0)]);
        assert_eq!(
            extrapolated_rate(&w, WindowBounds { start: -1, end: 0 }, true, true),
            None
        );
    }

    #[test]
    fn zero_cutoff_limits_start_extrapolation() {
        // Counter at 1 at t=0 with slope 10/5m would reach zero 30s before t=0.
        let w: Vec<Sample> = (0..=10)
            .map(|i| Sample::new(i * 300_000, 1.0 + 10.0 * i as f64))
            .collect();
        let inc = extrapolated_rate(
            &w,
            WindowBounds {
                start: -3_000_000,
                end: 3_000_000,
            },
            true,
            false,
        )
        .unwrap();
        assert!((inc - 101.0).abs() < 1e-9, "{inc}");
    }

    proptest::proptest! {
        /// The per-series reset list gives every window the exact bits of the
        /// per-window loop, resets, NaNs and all.
        #[test]
        fn counter_rate_matches_the_window_loop(
            values in proptest::collection::vec(
                proptest::prop_oneof![
                    8 => 0.0f64..1e6,
                    1 => proptest::num::f64::ANY,
                ],
                0..40,
            ),
            a in 0usize..40,
            len in 0usize..40,
            is_rate: bool,
        ) {
            let samples: Vec<Sample> = values
                .iter()
                .enumerate()
                .map(|(i, &v)| Sample::new(i as i64 * 15_000, v))
                .collect();
            let a = a.min(samples.len());
            let b = (a + len).min(samples.len());
            let bounds = WindowBounds { start: a as i64 * 15_000 - 7_000, end: b as i64 * 15_000 + 3_000 };
            let mut resets = Vec::new();
            counter_resets(&samples, &mut resets);
            let want = extrapolated_rate(&samples[a..b], bounds, true, is_rate);
            let got = counter_rate(&samples, &resets, (a, b), bounds, is_rate);
            proptest::prop_assert_eq!(want.map(f64::to_bits), got.map(f64::to_bits));
        }
    }

    #[test]
    fn irate_handles_reset() {
        let w = samples(&[(0, 10.0), (10_000, 4.0)]);
        assert_eq!(instant_delta(&w, true), Some(0.4));
        assert_eq!(instant_delta(&w, false), Some(-6.0));
    }

    #[test]
    fn regression_slope() {
        let w = samples(&[(0, 0.0), (1000, 2.0), (2000, 4.0)]);
        let (slope, intercept) = linear_regression(&w, 0);
        assert!((slope - 2.0).abs() < 1e-12);
        assert!(intercept.abs() < 1e-12);
    }

    #[test]
    fn changes_ignores_nan_to_nan() {
        let w = samples(&[(0, 0.0), (1, f64::NAN), (2, 0.0)]);
        assert_eq!(changes(&w), 2.0);
        let w = samples(&[(0, f64::NAN), (1, f64::NAN)]);
        assert_eq!(changes(&w), 0.0);
    }
}
