//! The log pipeline: a query's stages compiled once, then run entry by entry.
//!
//! A [`Pipeline`] is immutable and shared between threads; the mutable per-entry
//! buffers (labels, rewritten line, parser scratch space) live in a [`PipelineState`]
//! owned by whoever walks a stream, so that steady-state processing does not allocate.
//! Pipelines made only of line filters never touch labels at all.

pub mod filters;
pub mod ip;
pub mod json;
pub mod labels;
pub mod logfmt;
pub mod pattern;
pub mod template;

use pitot_core::{Label, Labels, Matcher};
use regex::Regex;

use crate::ast::{Conversion, LabelFmt, LogSelector, NamedMatcher, Stage, Unwrap};
use crate::units::{parse_bytes, parse_go_duration, parse_go_float};
use filters::{LabelFilterC, LineFilterC};
use json::{JsonExtractor, JsonPath, JSON_ERR};
use labels::LabelsBuilder;
use logfmt::{LogfmtExtractor, LOGFMT_ERR};
use pattern::Pattern;
use template::{Template, TemplateData};

/// Error kind of a failed template.
pub const TEMPLATE_ERR: &str = "TemplateFormatErr";
/// Error kind of a failed unwrap conversion.
pub const SAMPLE_ERR: &str = "SampleExtractionErr";

#[derive(Debug, Clone)]
enum CStage {
    Line(LineFilterC),
    Json,
    JsonParams(Vec<(String, JsonPath)>),
    Logfmt {
        strict: bool,
        keep_empty: bool,
    },
    LogfmtParams {
        strict: bool,
        params: Vec<(String, String)>,
    },
    Regexp(Regex),
    Pattern(Pattern, Vec<String>),
    Unpack,
    Label(LabelFilterC),
    LineFormat(Template),
    LabelFormat(Vec<(String, LabelFmtC)>),
    Drop(Vec<NamedMatcher>),
    Keep(Vec<NamedMatcher>),
    Decolorize(Regex),
}

#[derive(Debug, Clone)]
enum LabelFmtC {
    Rename(String),
    Template(Template),
}

/// A compiled pipeline.
#[derive(Debug, Clone)]
pub struct Pipeline {
    stages: Vec<CStage>,
    /// Only line filters: labels are the stream's (plus metadata).
    line_only: bool,
    /// When set, the single parser extracts only these keys.
    wanted: Option<Vec<String>>,
}

/// Per-walker scratch state of a pipeline.
#[derive(Debug, Default)]
pub struct PipelineState {
    /// The entry's labels after the pipeline (valid when [`Self::used_labels`]).
    pub labels: LabelsBuilder,
    /// Whether `labels` holds the entry's labels (false: the stream's labels apply).
    pub used_labels: bool,
    line_buf: String,
    line_tmp: String,
    rewritten: bool,
    json: JsonExtractor,
    logfmt: LogfmtExtractor,
    snapshot: Vec<(String, String)>,
}

impl PipelineState {
    /// The current line: the original or its rewrite.
    pub fn line<'a>(&'a self, original: &'a str) -> &'a str {
        if self.rewritten {
            &self.line_buf
        } else {
            original
        }
    }
}

struct BuilderData<'a> {
    lbs: &'a LabelsBuilder,
    line: &'a str,
    ts: i64,
}

impl TemplateData for BuilderData<'_> {
    fn label(&self, name: &str) -> Option<&str> {
        self.lbs.get(name)
    }
    fn line(&self) -> &str {
        self.line
    }
    fn timestamp(&self) -> i64 {
        self.ts
    }
}

struct SnapshotData<'a> {
    labels: &'a [(String, String)],
    line: &'a str,
    ts: i64,
}

impl TemplateData for SnapshotData<'_> {
    fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    fn line(&self) -> &str {
        self.line
    }
    fn timestamp(&self) -> i64 {
        self.ts
    }
}

const ANSI_RE: &str = "[\u{1b}\u{9b}][\\[\\]()#;?]*(?:(?:(?:[a-zA-Z\\d]*(?:;[a-zA-Z\\d]*)*)?\u{7})|(?:(?:\\d{1,4}(?:;\\d{0,4})*)?[\\dA-PRZcf-ntqry=><~]))";

/// The ANSI escape regex, compiled once per process.
fn ansi_regex() -> Result<Regex, String> {
    static ANSI: std::sync::OnceLock<Result<Regex, String>> = std::sync::OnceLock::new();
    ANSI.get_or_init(|| Regex::new(ANSI_RE).map_err(|e| e.to_string()))
        .clone()
}

impl Pipeline {
    /// Compiles stages (already validated by the parser).
    pub fn compile(stages: &[Stage]) -> Result<Self, String> {
        let mut out = Vec::with_capacity(stages.len());
        for s in stages {
            out.push(match s {
                Stage::LineFilter(lf) => CStage::Line(LineFilterC::compile(lf)?),
                Stage::Json(params) if params.is_empty() => CStage::Json,
                Stage::Json(params) => {
                    let mut ps = Vec::new();
                    for (label, expr) in params {
                        ps.push((label.clone(), JsonPath::parse(expr)?));
                    }
                    CStage::JsonParams(ps)
                }
                Stage::Logfmt {
                    strict,
                    keep_empty,
                    params,
                } => {
                    if params.is_empty() {
                        CStage::Logfmt {
                            strict: *strict,
                            keep_empty: *keep_empty,
                        }
                    } else {
                        CStage::LogfmtParams {
                            strict: *strict,
                            params: params.clone(),
                        }
                    }
                }
                Stage::Regexp(re) => CStage::Regexp(crate::parser::compile_regex(re)?),
                Stage::Pattern(p) => {
                    let pat = Pattern::parse(p)?;
                    let names = pat.names();
                    CStage::Pattern(pat, names)
                }
                Stage::Unpack => CStage::Unpack,
                Stage::LabelFilter(lf) => CStage::Label(LabelFilterC::compile(lf)?),
                Stage::LineFormat(t) => CStage::LineFormat(Template::parse(t)?),
                Stage::LabelFormat(ops) => {
                    let mut c = Vec::new();
                    for op in ops {
                        match op {
                            LabelFmt::Rename { dst, src } => {
                                c.push((dst.clone(), LabelFmtC::Rename(src.clone())))
                            }
                            LabelFmt::Template { dst, template } => c.push((
                                dst.clone(),
                                LabelFmtC::Template(Template::parse(template)?),
                            )),
                        }
                    }
                    CStage::LabelFormat(c)
                }
                Stage::Drop(items) => CStage::Drop(items.clone()),
                Stage::Keep(items) => CStage::Keep(items.clone()),
                Stage::Decolorize => CStage::Decolorize(ansi_regex()?),
            });
        }
        let line_only = out.iter().all(|s| matches!(s, CStage::Line(_)));
        Ok(Pipeline {
            stages: out,
            line_only,
            wanted: None,
        })
    }

    /// Lets the parser skip keys nobody reads: `needed` are the labels the caller uses
    /// (grouping, unwrap). Applies only to a pipeline with one parameterless `json` or
    /// `logfmt` stage followed by nothing but line filters, label filters and `drop`.
    pub fn with_label_hints(mut self, needed: &[String]) -> Self {
        let parsers: Vec<usize> = self
            .stages
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                !matches!(
                    s,
                    CStage::Line(_) | CStage::Label(_) | CStage::Drop(_) | CStage::Keep(_)
                )
            })
            .map(|(i, _)| i)
            .collect();
        let [p] = parsers.as_slice() else {
            return self;
        };
        if !matches!(self.stages[*p], CStage::Json | CStage::Logfmt { .. }) {
            return self;
        }
        let mut names: Vec<String> = needed.to_vec();
        for s in &self.stages[p + 1..] {
            match s {
                CStage::Line(_) => {}
                CStage::Label(f) => f.names(&mut names),
                CStage::Drop(items) => names.extend(items.iter().map(|i| i.name.clone())),
                _ => return self,
            }
        }
        let extra: Vec<String> = names
            .iter()
            .filter_map(|n| n.strip_suffix("_extracted").map(str::to_string))
            .collect();
        names.extend(extra);
        names.sort();
        names.dedup();
        self.wanted = Some(names);
        self
    }

    /// Whether every stage is a line filter.
    pub fn is_line_only(&self) -> bool {
        self.line_only
    }

    /// Runs the pipeline on one entry. Returns false when the entry is filtered out;
    /// otherwise the line is `state.line(line)` and the labels are `state.labels` (or
    /// the stream's when `state.used_labels` is false).
    pub fn process(
        &self,
        st: &mut PipelineState,
        ts: i64,
        line: &str,
        stream: &Labels,
        metadata: &[Label],
        force_labels: bool,
    ) -> bool {
        st.rewritten = false;
        st.used_labels = !self.line_only || !metadata.is_empty() || force_labels;
        if st.used_labels {
            st.labels.reset(stream, metadata);
        }
        for stage in &self.stages {
            match stage {
                CStage::Line(f) => {
                    if !f.keep(st.line(line)) {
                        return false;
                    }
                }
                CStage::Json => {
                    st.labels.begin_parse();
                    let cur = if st.rewritten { &st.line_buf } else { line };
                    if let Err(e) =
                        st.json
                            .extract_only(cur, &mut st.labels, self.wanted.as_deref())
                    {
                        st.labels.set_err(JSON_ERR, || e.to_string());
                    }
                }
                CStage::JsonParams(params) => {
                    st.labels.begin_parse();
                    let cur = if st.rewritten { &st.line_buf } else { line };
                    match serde_json::from_str::<serde_json::Value>(cur) {
                        Ok(doc) => {
                            for (label, path) in params {
                                let v = path.lookup(&doc).unwrap_or_default();
                                st.labels.set_parsed(label, &v);
                            }
                        }
                        Err(e) => st.labels.set_err(JSON_ERR, || e.to_string()),
                    }
                }
                CStage::Logfmt { strict, keep_empty } => {
                    st.labels.begin_parse();
                    let cur = if st.rewritten { &st.line_buf } else { line };
                    if let Err(e) = st.logfmt.extract(
                        cur,
                        *strict,
                        *keep_empty,
                        &mut st.labels,
                        self.wanted.as_deref(),
                    ) {
                        st.labels.set_err(LOGFMT_ERR, || e);
                    }
                }
                CStage::LogfmtParams { strict, params } => {
                    st.labels.begin_parse();
                    let cur = if st.rewritten { &st.line_buf } else { line };
                    let lbs = &mut st.labels;
                    let r = st.logfmt.decode(cur, *strict, |k, v| {
                        for (label, key) in params {
                            if key == k && !lbs.parsed_in_current(label) {
                                lbs.set_parsed(label, v);
                            }
                        }
                    });
                    if let Err(e) = r {
                        st.labels.set_err(LOGFMT_ERR, || e);
                    }
                }
                CStage::Regexp(re) => {
                    st.labels.begin_parse();
                    let cur = if st.rewritten { &st.line_buf } else { line };
                    if let Some(caps) = re.captures(cur) {
                        for (i, name) in re.capture_names().enumerate() {
                            if let Some(name) = name {
                                let v = caps.get(i).map(|m| m.as_str()).unwrap_or("");
                                st.labels.set_parsed(name, v);
                            }
                        }
                    }
                }
                CStage::Pattern(p, names) => {
                    st.labels.begin_parse();
                    let cur = if st.rewritten { &st.line_buf } else { line };
                    let lbs = &mut st.labels;
                    p.captures(cur, |i, v| lbs.set_parsed(&names[i], v));
                }
                CStage::Unpack => {
                    st.labels.begin_parse();
                    let cur = if st.rewritten { &st.line_buf } else { line };
                    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(cur) {
                        Ok(obj) => {
                            let mut entry = None;
                            let mut key = String::new();
                            for (k, v) in &obj {
                                if let serde_json::Value::String(s) = v {
                                    if k == "_entry" {
                                        entry = Some(s.clone());
                                        continue;
                                    }
                                    key.clear();
                                    json::sanitize_key_into(k, true, &mut key);
                                    st.labels.set_parsed(&key, s);
                                }
                            }
                            if let Some(e) = entry {
                                st.line_buf = e;
                                st.rewritten = true;
                            }
                        }
                        Err(e) => st.labels.set_err(JSON_ERR, || e.to_string()),
                    }
                }
                CStage::Label(f) => {
                    if !f.keep(&mut st.labels) {
                        return false;
                    }
                }
                CStage::LineFormat(t) => {
                    let cur = if st.rewritten {
                        st.line_buf.as_str()
                    } else {
                        line
                    };
                    let data = BuilderData {
                        lbs: &st.labels,
                        line: cur,
                        ts,
                    };
                    let mut out = std::mem::take(&mut st.line_tmp);
                    match t.execute(&data, &mut out) {
                        Ok(()) => {
                            st.line_tmp = std::mem::replace(&mut st.line_buf, out);
                            st.rewritten = true;
                        }
                        Err(e) => {
                            st.line_tmp = out;
                            st.labels.set_err(TEMPLATE_ERR, || e);
                        }
                    }
                }
                CStage::LabelFormat(ops) => {
                    let has_template = ops.iter().any(|(_, o)| matches!(o, LabelFmtC::Template(_)));
                    if has_template {
                        st.snapshot.clear();
                        let snap = &mut st.snapshot;
                        st.labels
                            .for_each(|n, v| snap.push((n.to_string(), v.to_string())));
                    }
                    for (dst, op) in ops {
                        match op {
                            LabelFmtC::Rename(src) => {
                                if let Some(v) = st.labels.get(src).map(str::to_string) {
                                    st.labels.set(dst, &v);
                                    if src != dst {
                                        st.labels.del(src);
                                    }
                                }
                            }
                            LabelFmtC::Template(t) => {
                                let cur = if st.rewritten {
                                    st.line_buf.as_str()
                                } else {
                                    line
                                };
                                let data = SnapshotData {
                                    labels: &st.snapshot,
                                    line: cur,
                                    ts,
                                };
                                let mut out = std::mem::take(&mut st.line_tmp);
                                match t.execute(&data, &mut out) {
                                    Ok(()) => st.labels.set(dst, &out),
                                    Err(e) => st.labels.set_err(TEMPLATE_ERR, || e),
                                }
                                st.line_tmp = out;
                            }
                        }
                    }
                }
                CStage::Drop(items) => {
                    for item in items {
                        let matches = match &item.matcher {
                            None => true,
                            Some(m) => st.labels.get(&item.name).is_some_and(|v| m.matches(v)),
                        };
                        if matches {
                            st.labels.del(&item.name);
                        }
                    }
                }
                CStage::Keep(items) => {
                    st.labels.retain(|n, v| {
                        items.iter().any(|item| {
                            item.name == n && item.matcher.as_ref().is_none_or(|m| m.matches(v))
                        })
                    });
                }
                CStage::Decolorize(re) => {
                    let cur = if st.rewritten {
                        st.line_buf.as_str()
                    } else {
                        line
                    };
                    if let std::borrow::Cow::Owned(s) = re.replace_all(cur, "") {
                        st.line_buf = s;
                        st.rewritten = true;
                    }
                }
            }
        }
        true
    }
}

/// How a range aggregation turns an entry into a sample value.
#[derive(Debug, Clone)]
pub struct Unwrapper {
    label: String,
    conversion: Conversion,
    post: Vec<LabelFilterC>,
}

impl Unwrapper {
    /// Compiles an unwrap stage.
    pub fn compile(u: &Unwrap) -> Result<Self, String> {
        let mut post = Vec::new();
        for f in &u.post_filters {
            post.push(LabelFilterC::compile(f)?);
        }
        Ok(Unwrapper {
            label: u.label.clone(),
            conversion: u.conversion,
            post,
        })
    }

    /// The value of the entry whose labels are in `lbs`, or `None` when the entry is
    /// dropped (label missing or a post filter refuses it). The unwrapped label is
    /// removed from `lbs`.
    pub fn extract(&self, lbs: &mut LabelsBuilder) -> Option<f64> {
        let raw = lbs.get_plain(&self.label)?;
        if raw.is_empty() {
            return None;
        }
        let parsed = match self.conversion {
            Conversion::Float => parse_go_float(raw),
            Conversion::Duration | Conversion::DurationSeconds => {
                parse_go_duration(raw).map(|ns| ns as f64 / 1e9)
            }
            Conversion::Bytes => parse_bytes(raw).map(|b| b as f64),
        };
        let value = match parsed {
            Ok(v) => v,
            Err(e) => {
                lbs.set_err(SAMPLE_ERR, || e);
                0.0
            }
        };
        for f in &self.post {
            if !f.keep(lbs) {
                return None;
            }
        }
        lbs.del(&self.label);
        Some(value)
    }
}

/// The literals every kept line contains: `|= "x"` filters before any stage that
/// rewrites lines, for storage to skip chunks with.
pub fn required_literals(sel: &LogSelector) -> Vec<String> {
    let mut out = Vec::new();
    for s in &sel.stages {
        match s {
            Stage::LineFilter(lf)
                if lf.op == crate::ast::LineFilterOp::Contains && lf.values.len() == 1 =>
            {
                if let crate::ast::LineFilterValue::Str(v) = &lf.values[0] {
                    if !v.is_empty() {
                        out.push(v.clone());
                    }
                }
            }
            Stage::LineFormat(_) | Stage::Decolorize | Stage::Unpack => break,
            _ => {}
        }
    }
    out
}

/// Checks that `matchers` select `labels` (a missing label reads as empty).
pub fn matches_stream(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

#[cfg(test)]
mod tests;
