//! Native histograms in the test notation (`{{schema:1 count:3 buckets:[1 2]}}`).
//!
//! Pitot's storage contract holds only float samples, so the test runner keeps
//! histogram input series beside the store and answers plain selectors of them itself;
//! PromQL functions over histograms are not evaluated.

use std::collections::BTreeMap;
use std::fmt;

/// A native histogram sample as the test notation writes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// Bucket schema.
    pub schema: i64,
    /// Sum of observations.
    pub sum: f64,
    /// Count of observations.
    pub count: f64,
    /// Observations in the zero bucket.
    pub zero_count: f64,
    /// Width of the zero bucket.
    pub zero_threshold: f64,
    /// Positive bucket counts, from `offset`.
    pub buckets: Vec<f64>,
    /// Index of the first positive bucket.
    pub offset: i64,
    /// Negative bucket counts, from `n_offset`.
    pub n_buckets: Vec<f64>,
    /// Index of the first negative bucket.
    pub n_offset: i64,
    /// `unknown`, `reset`, `not_reset` or `gauge`.
    pub counter_reset_hint: String,
    /// Upper bounds of custom buckets (schema -53).
    pub custom_values: Vec<f64>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            schema: 0,
            sum: 0.0,
            count: 0.0,
            zero_count: 0.0,
            zero_threshold: 0.0,
            buckets: Vec::new(),
            offset: 0,
            n_buckets: Vec::new(),
            n_offset: 0,
            counter_reset_hint: "unknown".into(),
            custom_values: Vec::new(),
        }
    }
}

fn num(key: &str, v: &str) -> Result<f64, String> {
    v.parse::<f64>()
        .map_err(|_| format!("invalid value {v:?} for {key}"))
}

fn list(key: &str, v: &str) -> Result<Vec<f64>, String> {
    let inner = v
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| format!("{key} must be a [list]"))?;
    inner.split_whitespace().map(|x| num(key, x)).collect()
}

impl Histogram {
    /// Parses `{{key:value …}}`.
    pub fn parse(text: &str) -> Result<Histogram, String> {
        let inner = text
            .trim()
            .strip_prefix("{{")
            .and_then(|s| s.strip_suffix("}}"))
            .ok_or_else(|| format!("invalid histogram {text:?}"))?;
        let mut h = Histogram::default();
        let mut rest = inner.trim();
        while !rest.is_empty() {
            let (key, after) = rest
                .split_once(':')
                .ok_or_else(|| format!("invalid histogram field in {text:?}"))?;
            let key = key.trim();
            let after = after.trim_start();
            let (value, next) = if after.starts_with('[') {
                let end = after
                    .find(']')
                    .ok_or_else(|| format!("unterminated list in {text:?}"))?;
                (&after[..=end], &after[end + 1..])
            } else {
                let end = after.find(char::is_whitespace).unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            match key {
                "schema" => h.schema = num(key, value)? as i64,
                "sum" => h.sum = num(key, value)?,
                "count" => h.count = num(key, value)?,
                "z_bucket" => h.zero_count = num(key, value)?,
                "z_bucket_w" => h.zero_threshold = num(key, value)?,
                "buckets" => h.buckets = list(key, value)?,
                "offset" => h.offset = num(key, value)? as i64,
                "n_buckets" => h.n_buckets = list(key, value)?,
                "n_offset" => h.n_offset = num(key, value)? as i64,
                "custom_values" => h.custom_values = list(key, value)?,
                "counter_reset_hint" => match value {
                    "unknown" | "reset" | "not_reset" | "gauge" => {
                        h.counter_reset_hint = value.to_string()
                    }
                    other => return Err(format!("invalid counter_reset_hint {other:?}")),
                },
                other => return Err(format!("unknown histogram field {other:?}")),
            }
            rest = next.trim_start();
        }
        Ok(h)
    }

    /// `self + k·d`, bucket by bucket (buckets aligned by index).
    pub fn add_scaled(&self, d: &Histogram, k: f64) -> Histogram {
        let (buckets, offset) = add_spans(&self.buckets, self.offset, &d.buckets, d.offset, k);
        let (n_buckets, n_offset) =
            add_spans(&self.n_buckets, self.n_offset, &d.n_buckets, d.n_offset, k);
        Histogram {
            schema: self.schema,
            sum: self.sum + k * d.sum,
            count: self.count + k * d.count,
            zero_count: self.zero_count + k * d.zero_count,
            zero_threshold: self.zero_threshold,
            buckets,
            offset,
            n_buckets,
            n_offset,
            counter_reset_hint: self.counter_reset_hint.clone(),
            custom_values: self.custom_values.clone(),
        }
    }

    fn bucket_map(buckets: &[f64], offset: i64) -> BTreeMap<i64, f64> {
        buckets
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0.0)
            .map(|(i, v)| (offset + i as i64, *v))
            .collect()
    }

    /// Equality as tests need it: floats compared with `eq`, empty buckets ignored.
    pub fn matches(&self, o: &Histogram, eq: &dyn Fn(f64, f64) -> bool) -> bool {
        let maps_eq = |a: BTreeMap<i64, f64>, b: BTreeMap<i64, f64>| {
            a.len() == b.len()
                && a.iter()
                    .zip(b.iter())
                    .all(|(x, y)| x.0 == y.0 && eq(*x.1, *y.1))
        };
        self.schema == o.schema
            && eq(self.sum, o.sum)
            && eq(self.count, o.count)
            && eq(self.zero_count, o.zero_count)
            && eq(self.zero_threshold, o.zero_threshold)
            && self.counter_reset_hint == o.counter_reset_hint
            && self.custom_values == o.custom_values
            && maps_eq(
                Self::bucket_map(&self.buckets, self.offset),
                Self::bucket_map(&o.buckets, o.offset),
            )
            && maps_eq(
                Self::bucket_map(&self.n_buckets, self.n_offset),
                Self::bucket_map(&o.n_buckets, o.n_offset),
            )
    }
}

fn add_spans(a: &[f64], ao: i64, b: &[f64], bo: i64, k: f64) -> (Vec<f64>, i64) {
    if b.is_empty() {
        return (a.to_vec(), ao);
    }
    if a.is_empty() {
        return (b.iter().map(|v| v * k).collect(), bo);
    }
    let start = ao.min(bo);
    let end = (ao + a.len() as i64).max(bo + b.len() as i64);
    let mut out = vec![0.0; (end - start) as usize];
    for (i, v) in a.iter().enumerate() {
        out[(ao - start) as usize + i] += v;
    }
    for (i, v) in b.iter().enumerate() {
        out[(bo - start) as usize + i] += k * v;
    }
    (out, start)
}

/// Prints in the test notation, fields in a fixed order.
impl fmt::Display for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = |v: &[f64]| {
            v.iter()
                .map(|x| x.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        write!(
            f,
            "{{{{schema:{} count:{} sum:{}",
            self.schema, self.count, self.sum
        )?;
        if self.zero_threshold != 0.0 {
            write!(f, " z_bucket_w:{}", self.zero_threshold)?;
        }
        if self.zero_count != 0.0 {
            write!(f, " z_bucket:{}", self.zero_count)?;
        }
        if self.counter_reset_hint != "unknown" {
            write!(f, " counter_reset_hint:{}", self.counter_reset_hint)?;
        }
        if !self.buckets.is_empty() {
            write!(f, " offset:{} buckets:[{}]", self.offset, l(&self.buckets))?;
        }
        if !self.n_buckets.is_empty() {
            write!(
                f,
                " n_offset:{} n_buckets:[{}]",
                self.n_offset,
                l(&self.n_buckets)
            )?;
        }
        if !self.custom_values.is_empty() {
            write!(f, " custom_values:[{}]", l(&self.custom_values))?;
        }
        f.write_str("}}")
    }
}
