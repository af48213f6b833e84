//! Function calls: range functions over windows, element-wise math, label functions,
//! time functions, sorting, `absent*`, `scalar`/`vector` and `histogram_quantile` over
//! classic buckets.

use crate::HashMap;

use chrono::{DateTime, Datelike, Timelike};
use pitot_core::{Labels, METRIC_NAME};
use promql_parser::label::MatchOp as ParserMatchOp;
use promql_parser::parser::{Call, Expr};

use super::aggregate::{go_quote, is_valid_label_name};
use super::labels::{drop_metric_name, format_float, set};
use super::range_fns::{counter_rate, counter_resets, RangeFn, WindowBounds};
use super::{unparen, Evaluator, Grid, Series, Val};
use crate::error::PromqlError;

fn arg(c: &Call, i: usize) -> Result<&Expr, PromqlError> {
    c.args.args.get(i).map(|b| b.as_ref()).ok_or_else(|| {
        PromqlError::BadQuery(format!("missing argument {i} in call to {}", c.func.name))
    })
}

fn string_arg(e: &Expr) -> Result<String, PromqlError> {
    match unparen(e) {
        Expr::StringLiteral(s) => Ok(s.val.clone()),
        other => Err(PromqlError::BadQuery(format!(
            "expected a string literal, got {other}"
        ))),
    }
}

impl Evaluator<'_> {
    pub(super) fn eval_call(&mut self, c: &Call, g: &Grid) -> Result<Val, PromqlError> {
        let name = c.func.name;
        let n = g.len();
        match name {
            "rate"
            | "increase"
            | "delta"
            | "irate"
            | "idelta"
            | "deriv"
            | "changes"
            | "resets"
            | "sum_over_time"
            | "avg_over_time"
            | "count_over_time"
            | "min_over_time"
            | "max_over_time"
            | "last_over_time"
            | "first_over_time"
            | "present_over_time"
            | "stddev_over_time"
            | "stdvar_over_time"
            | "mad_over_time"
            | "ts_of_min_over_time"
            | "ts_of_max_over_time"
            | "ts_of_first_over_time"
            | "ts_of_last_over_time" => self.range_function(c, 0, &[], g),
            "quantile_over_time" => {
                let q = self.eval_scalar(arg(c, 0)?, g)?;
                if let Some(bad) = q.iter().find(|q| q.is_nan() || **q < 0.0 || **q > 1.0) {
                    self.annotations.warn(format!(
                        "quantile value should be between 0 and 1, got {} ({})",
                        format_float(*bad),
                        self.position_of_arg(name, 0, Some(arg(c, 0)?))
                    ));
                }
                self.range_function(c, 1, &[q], g)
            }
            "predict_linear" => {
                let d = self.eval_scalar(arg(c, 1)?, g)?;
                self.range_function(c, 0, &[d], g)
            }
            "holt_winters" | "double_exponential_smoothing" => {
                let sf = self.eval_scalar(arg(c, 1)?, g)?;
                let tf = self.eval_scalar(arg(c, 2)?, g)?;
                for (&s, &t) in sf.iter().zip(&tf) {
                    if !(s > 0.0 && s < 1.0) {
                        return Err(PromqlError::Execution(format!(
                            "invalid smoothing factor. Expected: 0 < sf < 1, got: {}",
                            format_float(s)
                        )));
                    }
                    if !(t > 0.0 && t < 1.0) {
                        return Err(PromqlError::Execution(format!(
                            "invalid trend factor. Expected: 0 < tf < 1, got: {}",
                            format_float(t)
                        )));
                    }
                }
                self.range_function(c, 0, &[sf, tf], g)
            }
            "absent_over_time" => {
                let w = self.eval_windows(arg(c, 0)?, g)?;
                let mut points = vec![Some(1.0); n];
                let mut scratch = Vec::new();
                for s in &w.series {
                    let samples = s.samples(&mut scratch);
                    for (i, p) in points.iter_mut().enumerate() {
                        if !w.window(samples, i).is_empty() {
                            *p = None;
                        }
                    }
                }
                Ok(Val::Vector(self.absent_result(arg(c, 0)?, points)))
            }
            "absent" => {
                let v = self.eval_vector(arg(c, 0)?, g)?;
                let mut points = vec![Some(1.0); n];
                for s in &v {
                    for (i, p) in s.points.iter().enumerate() {
                        if p.is_some() {
                            points[i] = None;
                        }
                    }
                }
                Ok(Val::Vector(self.absent_result(arg(c, 0)?, points)))
            }
            "time" => Ok(Val::Scalar(
                (0..n).map(|i| g.at(i) as f64 / 1000.0).collect(),
            )),
            "pi" => Ok(Val::Scalar(vec![std::f64::consts::PI; n])),
            "min_of" | "max_of" => {
                let a = self.eval_scalar(arg(c, 0)?, g)?;
                let b = self.eval_scalar(arg(c, 1)?, g)?;
                let f = if name == "min_of" { go_min } else { go_max };
                Ok(Val::Scalar(
                    a.iter().zip(&b).map(|(x, y)| f(*x, *y)).collect(),
                ))
            }
            "step" => Ok(Val::Scalar(vec![self.query_step as f64 / 1000.0; n])),
            "range" => Ok(Val::Scalar(vec![
                (self.query_end - self.query_start) as f64
                    / 1000.0;
                n
            ])),
            "start" => Ok(Val::Scalar(vec![self.query_start as f64 / 1000.0; n])),
            "end" => Ok(Val::Scalar(vec![self.query_end as f64 / 1000.0; n])),
            "vector" => {
                let s = self.eval_scalar(arg(c, 0)?, g)?;
                Ok(Val::Vector(vec![Series {
                    labels: Labels::default(),
                    drop_name: false,
                    points: s.into_iter().map(Some).collect(),
                }]))
            }
            "scalar" => {
                let v = self.eval_vector(arg(c, 0)?, g)?;
                let mut out = vec![f64::NAN; n];
                for (i, o) in out.iter_mut().enumerate() {
                    let mut present = v.iter().filter_map(|s| s.points[i]);
                    if let (Some(x), None) = (present.next(), present.next()) {
                        *o = x;
                    }
                }
                Ok(Val::Scalar(out))
            }
            "timestamp" => {
                let inner = unparen(arg(c, 0)?);
                let mut v = match inner {
                    Expr::VectorSelector(vs) => self.eval_vector_selector(vs, g, true)?,
                    other => {
                        let mut v = self.eval_vector(other, g)?;
                        for s in &mut v {
                            for (i, p) in s.points.iter_mut().enumerate() {
                                if p.is_some() {
                                    *p = Some(g.at(i) as f64 / 1000.0);
                                }
                            }
                        }
                        v
                    }
                };
                for s in &mut v {
                    s.drop_name = true;
                }
                Ok(Val::Vector(v))
            }
            "abs" | "ceil" | "floor" | "exp" | "sqrt" | "ln" | "log2" | "log10" | "sgn" | "sin"
            | "cos" | "tan" | "asin" | "acos" | "atan" | "sinh" | "cosh" | "tanh" | "asinh"
            | "acosh" | "atanh" | "deg" | "rad" => {
                let f = math_fn(name);
                let mut v = self.eval_vector(arg(c, 0)?, g)?;
                for s in &mut v {
                    s.drop_name = true;
                    for p in s.points.iter_mut().flatten() {
                        *p = f(*p);
                    }
                }
                Ok(Val::Vector(v))
            }
            "round" => {
                let to_nearest = match c.args.args.get(1) {
                    Some(e) => self.eval_scalar(e, g)?,
                    None => vec![1.0; n],
                };
                let mut v = self.eval_vector(arg(c, 0)?, g)?;
                for s in &mut v {
                    s.drop_name = true;
                    for (i, p) in s.points.iter_mut().enumerate() {
                        if let Some(x) = p {
                            let inv = 1.0 / to_nearest[i];
                            *x = (*x * inv + 0.5).floor() / inv;
                        }
                    }
                }
                Ok(Val::Vector(v))
            }
            "clamp" | "clamp_min" | "clamp_max" => {
                let (lo, hi) = match name {
                    "clamp" => (
                        self.eval_scalar(arg(c, 1)?, g)?,
                        self.eval_scalar(arg(c, 2)?, g)?,
                    ),
                    "clamp_min" => (self.eval_scalar(arg(c, 1)?, g)?, vec![f64::INFINITY; n]),
                    _ => (vec![f64::NEG_INFINITY; n], self.eval_scalar(arg(c, 1)?, g)?),
                };
                let mut v = self.eval_vector(arg(c, 0)?, g)?;
                for s in &mut v {
                    s.drop_name = true;
                    for (i, p) in s.points.iter_mut().enumerate() {
                        let Some(x) = *p else { continue };
                        if name == "clamp" && hi[i] < lo[i] {
                            *p = None;
                            continue;
                        }
                        // NaN bounds give NaN, as Go's math.Max/Min do.
                        let y = go_max(lo[i], x);
                        *p = Some(go_min(hi[i], y));
                    }
                }
                super::retain_nonempty(&mut v);
                Ok(Val::Vector(v))
            }
            "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "hour"
            | "minute" | "month" | "year" => {
                let mut v = match c.args.args.first() {
                    Some(e) => self.eval_vector(e, g)?,
                    None => vec![Series {
                        labels: Labels::default(),
                        drop_name: false,
                        points: (0..n).map(|i| Some(g.at(i) as f64 / 1000.0)).collect(),
                    }],
                };
                for s in &mut v {
                    s.drop_name = true;
                    for p in s.points.iter_mut().flatten() {
                        *p = date_part(name, *p);
                    }
                }
                Ok(Val::Vector(v))
            }
            "label_replace" => self.label_replace(c, g),
            "label_join" => self.label_join(c, g),
            "sort" | "sort_desc" => {
                if n > 1 {
                    self.annotations.warn(format!(
                        "sort is ineffective for range queries since results are always ordered by labels ({})",
                        self.position_of_call(name)
                    ));
                }
                let mut v = self.eval_vector(arg(c, 0)?, g)?;
                if n == 1 {
                    let desc = name == "sort_desc";
                    v.sort_by(|a, b| {
                        let (x, y) = (
                            a.points[0].unwrap_or(f64::NAN),
                            b.points[0].unwrap_or(f64::NAN),
                        );
                        match (x.is_nan(), y.is_nan()) {
                            (true, true) => std::cmp::Ordering::Equal,
                            (true, false) => std::cmp::Ordering::Greater,
                            (false, true) => std::cmp::Ordering::Less,
                            _ if desc => y.partial_cmp(&x).expect("not NaN"),
                            _ => x.partial_cmp(&y).expect("not NaN"),
                        }
                    });
                }
                Ok(Val::Vector(v))
            }
            "sort_by_label" | "sort_by_label_desc" => {
                if n > 1 {
                    self.annotations.warn(format!(
                        "sort is ineffective for range queries since results are always ordered by labels ({})",
                        self.position_of_call(name)
                    ));
                }
                let mut keys = Vec::new();
                for e in c.args.args.iter().skip(1) {
                    keys.push(string_arg(e)?);
                }
                let mut v = self.eval_vector(arg(c, 0)?, g)?;
                let desc = name == "sort_by_label_desc";
                v.sort_by(|a, b| {
                    let mut ord = std::cmp::Ordering::Equal;
                    for k in &keys {
                        ord = natural_cmp(
                            a.labels.get(k).unwrap_or(""),
                            b.labels.get(k).unwrap_or(""),
                        );
                        if ord.is_ne() {
                            break;
                        }
                    }
                    if ord.is_eq() {
                        ord = labels_natural_cmp(&a.labels, &b.labels);
                    }
                    if desc {
                        ord.reverse()
                    } else {
                        ord
                    }
                });
                Ok(Val::Vector(v))
            }
            "info" => self.info(c, g),
            "histogram_quantile" => self.histogram_quantile(c, g),
            "histogram_quantiles" => self.histogram_quantiles(c, g),
            "histogram_fraction" => self.histogram_fraction(c, g),
            "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev"
            | "histogram_stdvar" => {
                // Only native histograms have these; float samples yield nothing.
                for e in c.args.args.iter() {
                    self.eval(e, g)?;
                }
                Ok(Val::Vector(Vec::new()))
            }
            other => Err(PromqlError::BadQuery(format!(
                "function {other:?} is not supported"
            ))),
        }
    }

    /// Applies a range function to the windows of argument `matrix_arg`, with extra
    /// per-step scalar parameters.
    fn range_function(
        &mut self,
        c: &Call,
        matrix_arg: usize,
        params: &[Vec<f64>],
        g: &Grid,
    ) -> Result<Val, PromqlError> {
        let name = c.func.name;
        let Some(func) = RangeFn::from_name(name) else {
            return Err(PromqlError::BadQuery(format!(
                "{name} is not a range function"
            )));
        };
        let matrix = arg(c, matrix_arg)?;
        let w = self.eval_windows_accounting(matrix, g, false)?;
        if matches!(func, RangeFn::Rate | RangeFn::Increase) {
            self.counter_name_info(&w.series, name);
        }
        let n = g.len();
        let deadline = self.deadline;
        let timed_out = |si: usize| {
            if !si.is_multiple_of(256) {
                return false;
            }
            pitot_core::yield_point();
            deadline.is_some_and(|(at, _)| std::time::Instant::now() > at) || self.is_canceled()
        };
        // Per part: the points of each series (`None` when it has none) and the samples
        // its windows hold per step (for the limit); `Err(())` past the deadline.
        type Part = (Vec<Option<Vec<Option<f64>>>>, Vec<usize>);
        let points_of = |part: &[super::WindowSeries<'_>]| -> Result<Vec<Part>, ()> {
            let mut ranges = Vec::with_capacity(n);
            let mut scratch = Vec::new();
            let mut resets = Vec::new();
            let counter = matches!(func, RangeFn::Rate | RangeFn::Increase);
            let is_rate = func == RangeFn::Rate;
            let mut out = Vec::with_capacity(part.len());
            let mut per_step = vec![0usize; n];
            for (si, s) in part.iter().enumerate() {
                if timed_out(si) {
                    return Err(());
                }
                let samples = s.samples(&mut scratch);
                w.ranges(samples, &mut ranges);
                if counter {
                    counter_resets(samples, &mut resets);
                }
                let mut points = vec![None; n];
                let mut any = false;
                for (i, point) in points.iter_mut().enumerate() {
                    let (a, b) = ranges[i];
                    per_step[i] += b - a;
                    let win = &samples[a..b];
                    if win.is_empty() {
                        continue;
                    }
                    let bounds = WindowBounds {
                        start: w.ends[i] - w.range,
                        end: w.ends[i],
                    };
                    *point = if counter {
                        counter_rate(samples, &resets, (a, b), bounds, is_rate)
                    } else {
                        let p0 = params.first().map_or(f64::NAN, |p| p[i]);
                        let p1 = params.get(1).map_or(f64::NAN, |p| p[i]);
                        func.apply(win, bounds, g.at(i), p0, p1)
                    };
                    any |= point.is_some();
                }
                out.push(any.then_some(points));
            }
            Ok(vec![(out, per_step)])
        };
        let parts =
            super::parallel_chunks(&w.series, points_of).map_err(|()| match self.deadline {
                _ if self.is_canceled() => PromqlError::Canceled,
                Some((_, timeout_ms)) => PromqlError::Timeout { timeout_ms },
                None => PromqlError::Execution("range function interrupted".into()),
            })?;
        // The windows' samples count against the limit as if held all at once per step
        // (counted while walking them, instead of in a separate pass before).
        let mut per_step = vec![0usize; n];
        let mut computed = Vec::with_capacity(w.series.len());
        for (points, counts) in parts {
            computed.extend(points);
            for (total, count) in per_step.iter_mut().zip(counts) {
                *total += count;
            }
        }
        self.account_peak(&per_step)?;
        let mut out = Vec::with_capacity(w.series.len());
        for (s, points) in w.series.iter().zip(computed) {
            let Some(points) = points else {
                continue;
            };
            self.check_dense(out.len() + 1, n)?;
            out.push(Series {
                labels: s.labels.clone().into_owned(),
                drop_name: s.drop_name || !func.keeps_name(),
                points,
            });
        }
        Ok(Val::Vector(out))
    }

    /// Prometheus notes when a counter function reads a metric whose name does not look
    /// like a counter.
    fn counter_name_info(&mut self, series: &[super::WindowSeries<'_>], func: &str) {
        let mut scratch = Vec::new();
        for s in series {
            if s.drop_name {
                continue;
            }
            let Some(metric) = s.labels.get(METRIC_NAME) else {
                continue;
            };
            let looks_like_counter = ["_total", "_sum", "_count", "_bucket"]
                .iter()
                .any(|suffix| metric.ends_with(suffix));
            // Decoded only for names that do not look like a counter.
            if !looks_like_counter && !s.samples(&mut scratch).is_empty() {
                let pos = self.position_of_arg(func, 0, None);
                self.annotations.info(format!(
                    "metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {} ({pos})",
                    go_quote(metric)
                ));
            }
        }
    }

    /// The result of `absent`/`absent_over_time`: one series with the labels of the
    /// selector's equality matchers, present where `points` says.
    fn absent_result(&self, e: &Expr, points: Vec<Option<f64>>) -> Vec<Series> {
        if points.iter().all(Option::is_none) {
            return Vec::new();
        }
        let mut labels = Labels::default();
        let vs = match unparen(e) {
            Expr::VectorSelector(vs) => Some(vs),
            Expr::MatrixSelector(ms) => Some(&ms.vs),
            _ => None,
        };
        if let Some(vs) = vs {
            let mut seen: HashMap<&str, usize> = HashMap::default();
            for m in &vs.matchers.matchers {
                *seen.entry(m.name.as_str()).or_default() += 1;
            }
            for m in &vs.matchers.matchers {
                if m.name == METRIC_NAME || seen[m.name.as_str()] > 1 {
                    continue;
                }
                if let ParserMatchOp::Equal = m.op {
                    labels = set(&labels, &m.name, &m.value);
                }
            }
        }
        vec![Series {
            labels,
            drop_name: false,
            points,
        }]
    }

    fn label_replace(&mut self, c: &Call, g: &Grid) -> Result<Val, PromqlError> {
        let dst = string_arg(arg(c, 1)?)?;
        let replacement = string_arg(arg(c, 2)?)?;
        let src = string_arg(arg(c, 3)?)?;
        let pattern = string_arg(arg(c, 4)?)?;
        let re = regex::Regex::new(&format!("^(?s:{pattern})$")).map_err(|_| {
            PromqlError::Execution(format!(
                "invalid regular expression in label_replace(): {pattern}"
            ))
        })?;
        if !is_valid_label_name(&dst) {
            return Err(PromqlError::Execution(format!(
                "invalid destination label name in label_replace(): {dst}"
            )));
        }
        let mut v = self.eval_vector(arg(c, 0)?, g)?;
        for s in &mut v {
            // The source may be a metric name marked for removal; setting the name keeps it.
            let value = s.labels.get(&src).unwrap_or("");
            if let Some(caps) = re.captures(value) {
                let mut out = String::new();
                caps.expand(&replacement, &mut out);
                s.labels = set(&s.labels, &dst, &out);
                if dst == METRIC_NAME {
                    s.drop_name = false;
                }
            }
        }
        check_unique(&v)?;
        Ok(Val::Vector(v))
    }

    fn label_join(&mut self, c: &Call, g: &Grid) -> Result<Val, PromqlError> {
        let dst = string_arg(arg(c, 1)?)?;
        let sep = string_arg(arg(c, 2)?)?;
        let mut srcs = Vec::new();
        for e in c.args.args.iter().skip(3) {
            srcs.push(string_arg(e)?);
        }
        if !is_valid_label_name(&dst) {
            return Err(PromqlError::Execution(format!(
                "invalid destination label name in label_join(): {dst}"
            )));
        }
        let mut v = self.eval_vector(arg(c, 0)?, g)?;
        for s in &mut v {
            let joined = srcs
                .iter()
                .map(|n| s.labels.get(n).unwrap_or(""))
                .collect::<Vec<_>>()
                .join(&sep);
            s.labels = set(&s.labels, &dst, &joined);
            if dst == METRIC_NAME {
                s.drop_name = false;
            }
        }
        check_unique(&v)?;
        Ok(Val::Vector(v))
    }

    /// `info(v, {selector})`: adds the data labels of matching info series (joined on
    /// `instance` and `job`) to each series of `v`. Among several matching info series the
    /// newest sample wins; without a match the series is kept as is, unless a data-label
    /// matcher requires a non-empty value.
    fn info(&mut self, c: &Call, g: &Grid) -> Result<Val, PromqlError> {
        const IDENTIFYING: [&str; 2] = ["instance", "job"];
        let n = g.len();
        let v = self.eval_vector(arg(c, 0)?, g)?;
        let selector = match c.args.args.get(1).map(|a| unparen(a)) {
            Some(Expr::VectorSelector(vs)) => Some(vs),
            _ => None,
        };
        let (info_matchers, data_matchers) = crate::engine::info_matchers(selector)?;
        let Some(data) = self.fetched.get(&super::call_key(c)) else {
            return Err(PromqlError::Execution(
                "info series were not prepared".into(),
            ));
        };
        let (offset, at) = match selector {
            Some(vs) => (super::offset_ms(&vs.offset), self.at_ms(&vs.at)),
            None => (0, None),
        };
        let mut scratch = Vec::new();
        let infos: Vec<(&Labels, Vec<Option<pitot_core::Sample>>)> = data
            .iter()
            .map(|s| {
                s.decode_into(&mut scratch);
                (s.labels(), self.instant_samples(&scratch, g, offset, at))
            })
            .collect();
        let id_of = |l: &Labels| -> (String, String) {
            (
                l.get(IDENTIFYING[0]).unwrap_or("").to_string(),
                l.get(IDENTIFYING[1]).unwrap_or("").to_string(),
            )
        };
        let mut by_id: HashMap<(String, String), Vec<usize>> = HashMap::default();
        for (i, (labels, _)) in infos.iter().enumerate() {
            by_id.entry(id_of(labels)).or_default().push(i);
        }
        let data_names: Vec<&str> = data_matchers.iter().map(|m| m.name.as_str()).collect();
        let required = data_matchers.iter().any(|m| !m.matches(""));
        let mut out: Vec<Series> = Vec::new();
        let mut index: HashMap<(Labels, bool), usize> = HashMap::default();
        let no_candidates = Vec::new();
        for s in v {
            let is_info = info_matchers
                .iter()
                .all(|m| m.matches(s.labels.get(&m.name).unwrap_or("")));
            if is_info {
                out.push(s);
                continue;
            }
            let candidates = by_id.get(&id_of(&s.labels)).unwrap_or(&no_candidates);
            for step in 0..n {
                let Some(value) = s.points[step] else {
                    continue;
                };
                let mut present: Vec<(i64, usize)> = candidates
                    .iter()
                    .filter_map(|&ii| infos[ii].1[step].map(|smp| (smp.t, ii)))
                    .collect();
                if present.is_empty() && required {
                    continue;
                }
                present.sort_by_key(|p| std::cmp::Reverse(p.0));
                let mut labels = s.labels.clone();
                for (_, ii) in present {
                    for l in infos[ii].0.iter() {
                        let skip = l.name == METRIC_NAME
                            || IDENTIFYING.contains(&l.name.as_str())
                            || (!data_names.is_empty() && !data_names.contains(&l.name.as_str()))
                            || labels.get(&l.name).is_some();
                        if !skip {
                            labels = set(&labels, &l.name, &l.value);
                        }
                    }
                }
                let key = (labels, s.drop_name);
                let oi = match index.get(&key) {
                    Some(&oi) => oi,
                    None => {
                        out.push(Series {
                            labels: key.0.clone(),
                            drop_name: key.1,
                            points: vec![None; n],
                        });
                        index.insert(key, out.len() - 1);
                        out.len() - 1
                    }
                };
                out[oi].points[step] = Some(value);
            }
        }
        Ok(Val::Vector(out))
    }

    /// Groups classic-histogram bucket series by their labels without `le` and the
    /// name, warning about series without a usable `le`.
    fn bucket_groups(&mut self, v: &[Series], c: &Call, index: usize) -> Vec<BucketGroup> {
        let mut groups: Vec<BucketGroup> = Vec::new();
        let mut by_key: HashMap<Labels, usize> = HashMap::default();
        for (si, s) in v.iter().enumerate() {
            let le = s.labels.get("le");
            let Some(upper) = le.and_then(parse_le) else {
                self.annotations.warn(format!(
                    "bucket label \"le\" is missing or has a malformed value of {} for metric name {} ({})",
                    go_quote(le.unwrap_or("")),
                    go_quote(s.labels.get(METRIC_NAME).unwrap_or("")),
                    self.position_of_arg(c.func.name, index, c.args.args.get(index).map(|b| b.as_ref()))
                ));
                continue;
            };
            let key = drop_metric_name(&super::labels::remove(&s.labels, &["le".to_string()]));
            let gi = *by_key.entry(key.clone()).or_insert_with(|| {
                groups.push(BucketGroup {
                    labels: key,
                    members: Vec::new(),
                });
                groups.len() - 1
            });
            groups[gi].members.push((upper, si));
        }
        groups
    }

    fn monotonicity_info(&mut self, v: &[Series], group: &BucketGroup, c: &Call, index: usize) {
        self.annotations.info(format!(
            "input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {} ({})",
            go_quote(v[group.members[0].1].labels.get(METRIC_NAME).unwrap_or("")),
            self.position_of_arg(c.func.name, index, c.args.args.get(index).map(|b| b.as_ref()))
        ));
    }

    fn warn_quantile_range(&mut self, qs: &[f64], c: &Call, index: usize) {
        if let Some(bad) = qs.iter().find(|q| q.is_nan() || **q < 0.0 || **q > 1.0) {
            self.annotations.warn(format!(
                "quantile value should be between 0 and 1, got {} ({})",
                format_float(*bad),
                self.position_of_arg(
                    c.func.name,
                    index,
                    c.args.args.get(index).map(|b| b.as_ref())
                )
            ));
        }
    }

    /// `histogram_quantile(φ, buckets)` over classic histograms.
    fn histogram_quantile(&mut self, c: &Call, g: &Grid) -> Result<Val, PromqlError> {
        let n = g.len();
        let qs = self.eval_scalar(arg(c, 0)?, g)?;
        let v = self.eval_vector(arg(c, 1)?, g)?;
        self.warn_quantile_range(&qs, c, 0);
        let groups = self.bucket_groups(&v, c, 1);
        let mut out = Vec::with_capacity(groups.len());
        for group in &groups {
            let mut points = vec![None; n];
            for (i, point) in points.iter_mut().enumerate() {
                let Some(mut buckets) = group.buckets_at(&v, i) else {
                    continue;
                };
                let (value, fixed) = bucket_quantile(qs[i], &mut buckets);
                if fixed {
                    self.monotonicity_info(&v, group, c, 1);
                }
                *point = Some(value);
            }
            out.push(Series {
                labels: group.labels.clone(),
                drop_name: false,
                points,
            });
        }
        super::retain_nonempty(&mut out);
        Ok(Val::Vector(out))
    }

    /// `histogram_quantiles(buckets, "label", φ1, φ2, …)`: several quantiles at once,
    /// told apart by a label holding φ.
    fn histogram_quantiles(&mut self, c: &Call, g: &Grid) -> Result<Val, PromqlError> {
        let n = g.len();
        let v = self.eval_vector(arg(c, 0)?, g)?;
        let label = string_arg(arg(c, 1)?)?;
        if !is_valid_label_name(&label) {
            return Err(PromqlError::Execution(format!(
                "invalid label name {}",
                go_quote(&label)
            )));
        }
        let mut qss = Vec::new();
        for (i, e) in c.args.args.iter().enumerate().skip(2) {
            let qs = self.eval_scalar(e, g)?;
            self.warn_quantile_range(&qs, c, i);
            qss.push(qs);
        }
        let groups = self.bucket_groups(&v, c, 0);
        let mut out: Vec<Series> = Vec::new();
        let mut index: HashMap<Labels, usize> = HashMap::default();
        for group in &groups {
            for i in 0..n {
                let Some(buckets) = group.buckets_at(&v, i) else {
                    continue;
                };
                for qs in &qss {
                    let (value, fixed) = bucket_quantile(qs[i], &mut buckets.clone());
                    if fixed {
                        self.monotonicity_info(&v, group, c, 0);
                    }
                    let labels = set(&group.labels, &label, &format_float(qs[i]));
                    let oi = *index.entry(labels.clone()).or_insert_with(|| {
                        out.push(Series {
                            labels,
                            drop_name: false,
                            points: vec![None; n],
                        });
                        out.len() - 1
                    });
                    out[oi].points[i] = Some(value);
                }
            }
        }
        Ok(Val::Vector(out))
    }

    /// `histogram_fraction(lower, upper, buckets)` over classic histograms.
    fn histogram_fraction(&mut self, c: &Call, g: &Grid) -> Result<Val, PromqlError> {
        let n = g.len();
        let lower = self.eval_scalar(arg(c, 0)?, g)?;
        let upper = self.eval_scalar(arg(c, 1)?, g)?;
        let v = self.eval_vector(arg(c, 2)?, g)?;
        let groups = self.bucket_groups(&v, c, 2);
        let mut out = Vec::with_capacity(groups.len());
        for group in &groups {
            let mut points = vec![None; n];
            for (i, point) in points.iter_mut().enumerate() {
                let Some(mut buckets) = group.buckets_at(&v, i) else {
                    continue;
                };
                let (value, fixed) = bucket_fraction(lower[i], upper[i], &mut buckets);
                if fixed {
                    self.monotonicity_info(&v, group, c, 2);
                }
                *point = Some(value);
            }
            out.push(Series {
                labels: group.labels.clone(),
                drop_name: false,
                points,
            });
        }
        super::retain_nonempty(&mut out);
        Ok(Val::Vector(out))
    }
}

/// The bucket series of one classic histogram: `(upper bound, series index)`.
struct BucketGroup {
    labels: Labels,
    members: Vec<(f64, usize)>,
}

impl BucketGroup {
    /// The `(upper bound, cumulative count)` pairs present at step `i`.
    fn buckets_at(&self, v: &[Series], i: usize) -> Option<Vec<(f64, f64)>> {
        let buckets: Vec<(f64, f64)> = self
            .members
            .iter()
            .filter_map(|&(upper, si)| v[si].points[i].map(|c| (upper, c)))
            .collect();
        (!buckets.is_empty()).then_some(buckets)
    }
}

fn parse_le(s: &str) -> Option<f64> {
    let t = s.trim();
    match t.to_ascii_lowercase().as_str() {
        "+inf" | "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        "nan" => None,
        _ => t.parse::<f64>().ok(),
    }
}

/// Sorts buckets, merges equal bounds, and makes cumulative counts monotonic. Returns
/// the cleaned buckets, or `None` when there is no `+Inf` bucket or fewer than two
/// buckets, and whether a real (not rounding-sized) decrease had to be fixed.
fn prepare_buckets(buckets: &mut [(f64, f64)]) -> (Option<Vec<(f64, f64)>>, bool) {
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(upper, count) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == upper => last.1 += count,
            _ => merged.push((upper, count)),
        }
    }
    if merged.last().is_none_or(|b| b.0 != f64::INFINITY) || merged.len() < 2 {
        return (None, false);
    }
    let mut fixed = false;
    for i in 1..merged.len() {
        let (prev, cur) = (merged[i - 1].1, merged[i].1);
        if cur < prev {
            // Differences below a trillionth of both counts are float noise.
            if prev - cur > 1e-12 * (prev + cur).abs() {
                fixed = true;
            }
            merged[i].1 = prev;
        }
    }
    (Some(merged), fixed)
}

/// The φ-quantile of classic histogram buckets `(upper bound, cumulative count)`, by
/// linear interpolation inside the bucket holding the rank. Returns the value and whether
/// the counts had to be made monotonic.
pub(crate) fn bucket_quantile(q: f64, buckets: &mut [(f64, f64)]) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    let (Some(buckets), fixed) = prepare_buckets(buckets) else {
        return (f64::NAN, false);
    };
    let total = buckets[buckets.len() - 1].1;
    if total == 0.0 || total.is_nan() {
        return (f64::NAN, fixed);
    }
    let rank = q * total;
    // The 0-quantile is the lower bound of the first bucket with observations.
    let mut b = if rank == 0.0 {
        buckets.partition_point(|x| x.1 <= 0.0)
    } else {
        buckets.partition_point(|x| x.1 < rank)
    };
    if b >= buckets.len() {
        b = buckets.len() - 1;
    }
    if b == buckets.len() - 1 {
        return (buckets[buckets.len() - 2].0, fixed);
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return (buckets[0].0, fixed);
    }
    let (mut start, mut count, mut rank) = (0.0, buckets[b].1, rank);
    let end = buckets[b].0;
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    if count == 0.0 {
        return (end, fixed);
    }
    (start + (end - start) * (rank / count), fixed)
}

/// The estimated fraction of observations in `(lower, upper]`, interpolating linearly
/// inside buckets as [`bucket_quantile`] does.
pub(crate) fn bucket_fraction(lower: f64, upper: f64, buckets: &mut [(f64, f64)]) -> (f64, bool) {
    if lower.is_nan() || upper.is_nan() {
        return (f64::NAN, false);
    }
    let (Some(buckets), fixed) = prepare_buckets(buckets) else {
        return (f64::NAN, false);
    };
    let total = buckets[buckets.len() - 1].1;
    if total == 0.0 || total.is_nan() {
        return (f64::NAN, fixed);
    }
    // Estimated number of observations at or below x.
    let below = |x: f64| -> f64 {
        if x == f64::INFINITY {
            return total;
        }
        if x == f64::NEG_INFINITY {
            return 0.0;
        }
        let b = buckets.partition_point(|bk| bk.0 < x);
        if b == buckets.len() - 1 {
            // Observations in the +Inf bucket count as at the highest finite bound.
            return total;
        }
        let (lo_bound, lo_count) = if b == 0 {
            if buckets[0].0 <= 0.0 {
                return if x >= buckets[0].0 { buckets[0].1 } else { 0.0 };
            }
            (0.0, 0.0)
        } else {
            buckets[b - 1]
        };
        let (hi_bound, hi_count) = buckets[b];
        if x <= lo_bound {
            return lo_count;
        }
        lo_count + (hi_count - lo_count) * (x - lo_bound) / (hi_bound - lo_bound)
    };
    if upper <= lower {
        return (0.0, fixed);
    }
    ((below(upper) - below(lower)) / total, fixed)
}

fn check_unique(v: &[Series]) -> Result<(), PromqlError> {
    let n = v.first().map_or(0, |s| s.points.len());
    let mut seen: HashMap<(Labels, bool), Vec<bool>> = HashMap::default();
    for s in v {
        let key = (s.labels.clone(), s.drop_name);
        let mask = seen.entry(key).or_insert_with(|| vec![false; n]);
        for (i, p) in s.points.iter().enumerate() {
            if p.is_some() {
                if mask[i] {
                    return Err(PromqlError::Execution(
                        "vector cannot contain metrics with the same labelset".into(),
                    ));
                }
                mask[i] = true;
            }
        }
    }
    Ok(())
}

fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn math_fn(name: &str) -> fn(f64) -> f64 {
    match name {
        "abs" => f64::abs,
        "ceil" => f64::ceil,
        "floor" => f64::floor,
        "exp" => f64::exp,
        "sqrt" => f64::sqrt,
        "ln" => f64::ln,
        "log2" => f64::log2,
        "log10" => f64::log10,
        "sgn" => |x: f64| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }
        },
        "sin" => f64::sin,
        "cos" => f64::cos,
        "tan" => f64::tan,
        "asin" => f64::asin,
        "acos" => f64::acos,
        "atan" => f64::atan,
        "sinh" => f64::sinh,
        "cosh" => f64::cosh,
        "tanh" => f64::tanh,
        "asinh" => f64::asinh,
        "acosh" => f64::acosh,
        "atanh" => f64::atanh,
        "deg" => f64::to_degrees,
        "rad" => f64::to_radians,
        _ => |_| f64::NAN,
    }
}

fn date_part(name: &str, secs: f64) -> f64 {
    if !secs.is_finite() {
        return f64::NAN;
    }
    let Some(t) = DateTime::from_timestamp(secs.floor() as i64, 0) else {
        return f64::NAN;
    };
    match name {
        "day_of_month" => t.day() as f64,
        "day_of_week" => t.weekday().num_days_from_sunday() as f64,
        "day_of_year" => t.ordinal() as f64,
        "days_in_month" => {
            let (y, m) = (t.year(), t.month());
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            let first_next = chrono::NaiveDate::from_ymd_opt(ny, nm, 1);
            let first = chrono::NaiveDate::from_ymd_opt(y, m, 1);
            match (first, first_next) {
                (Some(a), Some(b)) => (b - a).num_days() as f64,
                _ => f64::NAN,
            }
        }
        "hour" => t.hour() as f64,
        "minute" => t.minute() as f64,
        "month" => t.month() as f64,
        "year" => t.year() as f64,
        _ => f64::NAN,
    }
}

/// Compares strings so that runs of digits compare by numeric value ("a2" < "a10").
pub(crate) fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < ab.len() && j < bb.len() {
        if ab[i].is_ascii_digit() && bb[j].is_ascii_digit() {
            let si = i;
            while i < ab.len() && ab[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < bb.len() && bb[j].is_ascii_digit() {
                j += 1;
            }
            let na = a[si..i].trim_start_matches('0');
            let nb = b[sj..j].trim_start_matches('0');
            let ord = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if ord.is_ne() {
                return ord;
            }
        } else {
            if ab[i] != bb[j] {
                return ab[i].cmp(&bb[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (ab.len() - i).cmp(&(bb.len() - j))
}

fn labels_natural_cmp(a: &Labels, b: &Labels) -> std::cmp::Ordering {
    for (x, y) in a.iter().zip(b.iter()) {
        let ord = x
            .name
            .cmp(&y.name)
            .then_with(|| natural_cmp(&x.value, &y.value));
        if ord.is_ne() {
            return ord;
        }
    }
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order() {
        assert!(natural_cmp("4m5", "4m600").is_lt());
        assert!(natural_cmp("1.2.3", "1.11.3").is_lt());
        assert!(natural_cmp("2", "10").is_lt());
        assert!(natural_cmp("a", "a1").is_lt());
    }

    #[test]
    fn bucket_interpolation() {
        let mut b = vec![(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 20.0)];
        let (q, fixed) = bucket_quantile(0.5, &mut b);
        assert!(!fixed);
        assert_eq!(q, 1.0);
        let mut b = vec![(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 20.0)];
        assert_eq!(bucket_quantile(0.75, &mut b).0, 1.5);
        let mut b = vec![(1.0, 10.0), (f64::INFINITY, 20.0)];
        assert_eq!(bucket_quantile(0.99, &mut b).0, 1.0);
        // The minimum lies at the lower bound of the first non-empty bucket.
        let mut b = vec![(1.0, 0.0), (2.0, 0.0), (4.0, 5.0), (f64::INFINITY, 5.0)];
        assert_eq!(bucket_quantile(0.0, &mut b).0, 2.0);
        // Non-monotonic counts are fixed and reported; rounding noise is not.
        let mut b = vec![(1.0, 10.0), (2.0, 9.0), (f64::INFINITY, 20.0)];
        assert!(bucket_quantile(0.5, &mut b).1);
        let mut b = vec![(1.0, 10.0), (2.0, 10.0 - 1e-14), (f64::INFINITY, 20.0)];
        assert!(!bucket_quantile(0.5, &mut b).1);
    }

    #[test]
    fn fraction_interpolates() {
        let mut b = vec![(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 20.0)];
        assert_eq!(bucket_fraction(0.0, 1.5, &mut b).0, 0.75);
        let mut b = vec![(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 20.0)];
        assert_eq!(
            bucket_fraction(f64::NEG_INFINITY, f64::INFINITY, &mut b).0,
            1.0
        );
        let mut b = vec![(1.0, 10.0), (2.0, 20.0), (f64::INFINITY, 20.0)];
        assert_eq!(bucket_fraction(1.0, 2.0, &mut b).0, 0.5);
    }
}
