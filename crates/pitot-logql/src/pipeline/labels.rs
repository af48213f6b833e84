//! The per-entry label set a pipeline works on: stream labels, structured metadata and
//! parsed labels, with Loki's conflict rules, `__error__`, and no allocation per entry
//! once its buffers have grown (slots keep their `String`s between entries).

use pitot_core::{Label, Labels};

/// Where a label came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Category {
    /// The stream's own labels.
    Stream,
    /// Structured metadata of the entry.
    Metadata,
    /// Extracted by a parser or set by a formatter.
    Parsed,
}

#[derive(Debug, Clone)]
struct Slot {
    name: String,
    value: String,
    cat: Category,
}

/// Name of the error label.
pub const ERROR_LABEL: &str = "__error__";
/// Name of the error details label.
pub const ERROR_DETAILS_LABEL: &str = "__error_details__";

/// Mutable labels of one entry.
#[derive(Debug, Default)]
pub struct LabelsBuilder {
    slots: Vec<Slot>,
    n: usize,
    err: Option<&'static str>,
    err_details: Option<String>,
    /// First slot added by the running parser invocation (first value wins inside one).
    parse_mark: usize,
    /// Set when labels changed since reset (stream-only entries keep cached series).
    changed: bool,
}

impl LabelsBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a new entry from its stream labels and structured metadata.
    pub fn reset(&mut self, stream: &Labels, metadata: &[Label]) {
        self.n = 0;
        self.err = None;
        self.err_details = None;
        self.changed = false;
        for l in stream.iter() {
            self.push(&l.name, &l.value, Category::Stream);
        }
        for l in metadata {
            if self.find(&l.name).is_some() {
                let name = format!("{}_extracted", l.name);
                self.set_raw(&name, &l.value, Category::Metadata);
            } else {
                self.push(&l.name, &l.value, Category::Metadata);
            }
            self.changed = true;
        }
        self.parse_mark = self.n;
    }

    fn push(&mut self, name: &str, value: &str, cat: Category) {
        if self.n < self.slots.len() {
            let s = &mut self.slots[self.n];
            s.name.clear();
            s.name.push_str(name);
            s.value.clear();
            s.value.push_str(value);
            s.cat = cat;
        } else {
            self.slots.push(Slot {
                name: name.to_string(),
                value: value.to_string(),
                cat,
            });
        }
        self.n += 1;
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.slots[..self.n].iter().position(|s| s.name == name)
    }

    /// The value of a label (including `__error__` and `__error_details__`).
    pub fn get(&self, name: &str) -> Option<&str> {
        if name == ERROR_LABEL {
            return self.err;
        }
        if name == ERROR_DETAILS_LABEL {
            return self.err_details.as_deref();
        }
        self.find(name).map(|i| self.slots[i].value.as_str())
    }

    /// The value of an ordinary label (the error labels read as absent).
    pub fn get_plain(&self, name: &str) -> Option<&str> {
        self.find(name).map(|i| self.slots[i].value.as_str())
    }

    fn set_raw(&mut self, name: &str, value: &str, cat: Category) {
        self.changed = true;
        match self.find(name) {
            Some(i) => {
                let s = &mut self.slots[i];
                s.value.clear();
                s.value.push_str(value);
                s.cat = cat;
            }
            None => self.push(name, value, cat),
        }
    }

    /// Sets a label in place (formatters): overwrites whatever source holds the name.
    pub fn set(&mut self, name: &str, value: &str) {
        if name == ERROR_LABEL || name == ERROR_DETAILS_LABEL {
            return;
        }
        self.set_raw(name, value, Category::Parsed);
    }

    /// Marks the start of a parser invocation.
    pub fn begin_parse(&mut self) {
        self.parse_mark = self.n;
    }

    /// Adds a parsed label: a name already held by the stream or metadata goes to
    /// `<name>_extracted`; inside one parser invocation the first value wins.
    pub fn set_parsed(&mut self, name: &str, value: &str) {
        match self.find(name) {
            Some(i) if self.slots[i].cat != Category::Parsed => {
                let mut extracted = String::with_capacity(name.len() + 10);
                extracted.push_str(name);
                extracted.push_str("_extracted");
                if let Some(j) = self.find(&extracted) {
                    if j >= self.parse_mark && self.slots[j].cat == Category::Parsed {
                        return;
                    }
                }
                self.set_raw(&extracted, value, Category::Parsed);
            }
            Some(i) => {
                if i >= self.parse_mark {
                    return;
                }
                self.set_raw(name, value, Category::Parsed);
            }
            None => {
                self.changed = true;
                self.push(name, value, Category::Parsed);
            }
        }
    }

    /// Whether the parser running now already set `name`.
    pub fn parsed_in_current(&self, name: &str) -> bool {
        matches!(self.find(name), Some(i) if i >= self.parse_mark && self.slots[i].cat == Category::Parsed)
    }

    /// Removes a label.
    pub fn del(&mut self, name: &str) {
        if name == ERROR_LABEL {
            self.err = None;
            self.changed = true;
            return;
        }
        if name == ERROR_DETAILS_LABEL {
            self.err_details = None;
            self.changed = true;
            return;
        }
        if let Some(i) = self.find(name) {
            self.slots[i..self.n].rotate_left(1);
            self.n -= 1;
            if i < self.parse_mark {
                self.parse_mark -= 1;
            }
            self.changed = true;
        }
    }

    /// Keeps only the labels for which `keep(name, value)` holds (error labels stay).
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        let mut i = 0;
        while i < self.n {
            if keep(&self.slots[i].name, &self.slots[i].value) {
                i += 1;
            } else {
                self.slots[i..self.n].rotate_left(1);
                self.n -= 1;
                self.changed = true;
            }
        }
        self.parse_mark = self.parse_mark.min(self.n);
    }

    /// Records a pipeline error unless one is already set (the first failure owns the
    /// details).
    pub fn set_err(&mut self, kind: &'static str, details: impl FnOnce() -> String) {
        if self.err.is_none() {
            self.err = Some(kind);
            self.err_details = Some(details());
            self.changed = true;
        }
    }

    /// Whether an error is set.
    pub fn has_err(&self) -> bool {
        self.err.is_some()
    }

    /// Whether labels differ from the stream's own.
    pub fn changed(&self) -> bool {
        self.changed
    }

    /// Visits every label (error labels last), unsorted.
    pub fn for_each(&self, mut f: impl FnMut(&str, &str)) {
        for s in &self.slots[..self.n] {
            f(&s.name, &s.value);
        }
        if let Some(e) = self.err {
            f(ERROR_LABEL, e);
        }
        if let Some(d) = &self.err_details {
            f(ERROR_DETAILS_LABEL, d);
        }
    }

    /// Visits labels of one category.
    pub fn for_each_in(&self, cat: Category, mut f: impl FnMut(&str, &str)) {
        for s in &self.slots[..self.n] {
            if s.cat == cat {
                f(&s.name, &s.value);
            }
        }
        if cat == Category::Parsed {
            if let Some(e) = self.err {
                f(ERROR_LABEL, e);
            }
            if let Some(d) = &self.err_details {
                f(ERROR_DETAILS_LABEL, d);
            }
        }
    }

    /// The final label set.
    pub fn labels(&self) -> Labels {
        let mut v = Vec::with_capacity(self.n + 2);
        self.for_each(|n, val| v.push(Label::new(n, val)));
        Labels::from_unsorted(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_follow_loki() {
        let stream = Labels::from_pairs([("app", "a"), ("sp", "s"), ("sm", "s"), ("tri", "s")]);
        let md = vec![
            Label::new("mp", "m"),
            Label::new("sm", "m"),
            Label::new("tri", "m"),
        ];
        let mut b = LabelsBuilder::new();
        b.reset(&stream, &md);
        b.begin_parse();
        for (k, v) in [("sp", "p"), ("mp", "p"), ("tri", "p"), ("sp", "again")] {
            b.set_parsed(k, v);
        }
        let l = b.labels();
        assert_eq!(l.get("sp"), Some("s"));
        assert_eq!(l.get("sp_extracted"), Some("p"));
        assert_eq!(l.get("mp"), Some("m"));
        assert_eq!(l.get("mp_extracted"), Some("p"));
        assert_eq!(l.get("sm_extracted"), Some("m"));
        assert_eq!(l.get("tri"), Some("s"));
        assert_eq!(l.get("tri_extracted"), Some("p"));
        b.set_err("X", || "first".into());
        b.set_err("Y", || "second".into());
        assert_eq!(b.get(ERROR_LABEL), Some("X"));
        assert_eq!(b.get(ERROR_DETAILS_LABEL), Some("first"));
    }
}
