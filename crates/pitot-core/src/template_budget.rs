//! One budget for every Go text/template evaluation a tenant can cause.
//!
//! Pitot runs tenant-written templates in three places: LogQL's `line_format` and
//! `label_format`, the rules' annotation and label templates, and Alertmanager's
//! notification templates. A template is a small program: `repeat`, a `printf` width,
//! a `range` or a template that calls itself twice can ask for any amount of memory or
//! time. Each engine therefore meters its evaluation against a [`TemplateBudget`] and
//! charges every string *before* it builds it, so a bomb ends in a
//! [`TemplateBudgetError`] with a stable reason ID instead of an allocation failure
//! that aborts the shared process.

use std::fmt;

/// Go's `fmt` refuses a width or precision above one million (`%!(BADWIDTH)`,
/// `%!(BADPREC)`); the template engines' `printf` does the same, and charges any
/// smaller width or precision to the budget before padding.
pub const GO_FMT_MAX_WIDTH: usize = 1_000_000;

/// The deepest nesting a template parser accepts (parentheses, pipelines, blocks).
/// Parsers recurse once per level, so this bounds their stack use; it matches the
/// evaluation depth of [`TemplateLimits::LOGQL_LINE`] and [`TemplateLimits::RULES`],
/// far beyond anything a hand-written template needs.
pub const MAX_TEMPLATE_PARSE_DEPTH: usize = 100;

/// How much one evaluation of a template may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateLimits {
    /// Bytes of strings built during one evaluation: the output and every intermediate
    /// string (a `repeat`, a padded `printf`, a concatenation, a `range` body's output).
    pub max_output_bytes: usize,
    /// Function calls, template invocations and `range` iterations in one evaluation.
    pub max_calls: u64,
    /// Nesting of evaluation: template invocations inside one another, nested blocks
    /// and parenthesised pipelines.
    pub max_depth: usize,
    /// Calls of a template's `query` function (rules only; each runs a PromQL query).
    pub max_queries: u32,
}

impl TemplateLimits {
    /// One LogQL line: `line_format` builds a log line, and Loki refuses lines above its
    /// default `max_line_size` of 256 KB. Every intermediate string counts as well as the
    /// output (`{{ .line | upper }}` builds the line twice), so 1 MiB lets a pipeline of a
    /// few functions over a maximal line through while a bomb stops at 1 MiB. A line's
    /// template is run once per line of a query, so calls are kept to 10,000 (a real
    /// `line_format` makes tens) to bound a query's CPU as well.
    pub const LOGQL_LINE: TemplateLimits = TemplateLimits {
        max_output_bytes: 1024 * 1024,
        max_calls: 10_000,
        max_depth: 100,
        max_queries: 0,
    };

    /// One rule annotation or label: the text is stored with the alert, sent to
    /// Alertmanager and shown in the API, so 64 KiB is already a very long summary.
    /// `query` runs a PromQL query at evaluation time; 20 per template covers console-style
    /// annotations that look up a few related series, while a loop of a million queries
    /// (which Prometheus would run) cannot hold the ruler.
    pub const RULES: TemplateLimits = TemplateLimits {
        max_output_bytes: 64 * 1024,
        max_calls: 100_000,
        max_depth: 100,
        max_queries: 20,
    };

    /// One Alertmanager notification field (a Slack message, an email body, a webhook
    /// title): 1 MiB is above every receiver's own payload limit (Slack truncates text at
    /// 40,000 characters, common SMTP servers refuse messages of a few MiB), and 200,000
    /// calls cover a `range` over thousands of alerts with several calls each. The depth
    /// of 32 is the nesting Alertmanager's templates already allowed.
    pub const ALERTMANAGER: TemplateLimits = TemplateLimits {
        max_output_bytes: 1024 * 1024,
        max_calls: 200_000,
        max_depth: 32,
        max_queries: 0,
    };
}

/// Why an evaluation was stopped; each variant has a stable reason ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateBudgetError {
    /// The strings built would exceed `max_output_bytes`.
    #[error("template-output-too-large: the template would build more than {limit} bytes; shorten its output (repeat, printf widths, range bodies)")]
    OutputTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// More than `max_calls` calls or iterations.
    #[error("template-too-many-calls: the template makes more than {limit} function calls, template calls or range iterations; simplify it")]
    TooManyCalls {
        /// The limit on calls.
        limit: u64,
    },
    /// Nesting deeper than `max_depth`.
    #[error("template-too-deep: the template nests more than {limit} levels (templates calling templates, nested blocks); flatten it")]
    TooDeep {
        /// The limit on depth.
        limit: usize,
    },
    /// More than `max_queries` calls of `query`.
    #[error("template-too-many-queries: the template runs more than {limit} queries; query fewer series or move the work into a recording rule")]
    TooManyQueries {
        /// The limit on queries.
        limit: u32,
    },
}

impl TemplateBudgetError {
    /// The stable reason ID (`template-output-too-large`, ...), for API error bodies and
    /// metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            TemplateBudgetError::OutputTooLarge { .. } => "template-output-too-large",
            TemplateBudgetError::TooManyCalls { .. } => "template-too-many-calls",
            TemplateBudgetError::TooDeep { .. } => "template-too-deep",
            TemplateBudgetError::TooManyQueries { .. } => "template-too-many-queries",
        }
    }
}

/// The meter of one evaluation: what has been spent of its [`TemplateLimits`].
///
/// An engine creates one per evaluation (one LogQL line, one annotation, one
/// notification field) and charges it as it goes; a charge that would pass a limit
/// fails and spends nothing, so the engine can stop before allocating.
#[derive(Clone)]
pub struct TemplateBudget {
    limits: TemplateLimits,
    bytes: usize,
    calls: u64,
    depth: usize,
    queries: u32,
}

impl fmt::Debug for TemplateBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TemplateBudget {{ bytes: {}/{}, calls: {}/{}, depth: {}/{}, queries: {}/{} }}",
            self.bytes,
            self.limits.max_output_bytes,
            self.calls,
            self.limits.max_calls,
            self.depth,
            self.limits.max_depth,
            self.queries,
            self.limits.max_queries
        )
    }
}

impl TemplateBudget {
    /// A fresh meter for one evaluation under `limits`.
    pub fn new(limits: TemplateLimits) -> Self {
        TemplateBudget {
            limits,
            bytes: 0,
            calls: 0,
            depth: 0,
            queries: 0,
        }
    }

    /// The limits this meter enforces.
    pub fn limits(&self) -> TemplateLimits {
        self.limits
    }

    /// Bytes charged so far.
    pub fn bytes_used(&self) -> usize {
        self.bytes
    }

    /// Charges `bytes` about to be built; call it before allocating them.
    pub fn charge_bytes(&mut self, bytes: usize) -> Result<(), TemplateBudgetError> {
        match self.bytes.checked_add(bytes) {
            Some(total) if total <= self.limits.max_output_bytes => {
                self.bytes = total;
                Ok(())
            }
            _ => Err(TemplateBudgetError::OutputTooLarge {
                limit: self.limits.max_output_bytes,
            }),
        }
    }

    /// Charges `count` copies of `bytes` bytes (a `repeat`), without overflowing.
    pub fn charge_repeat(&mut self, bytes: usize, count: usize) -> Result<(), TemplateBudgetError> {
        match bytes.checked_mul(count) {
            Some(total) => self.charge_bytes(total),
            None => Err(TemplateBudgetError::OutputTooLarge {
                limit: self.limits.max_output_bytes,
            }),
        }
    }

    /// Charges one function call, template invocation or `range` iteration.
    pub fn charge_call(&mut self) -> Result<(), TemplateBudgetError> {
        if self.calls >= self.limits.max_calls {
            return Err(TemplateBudgetError::TooManyCalls {
                limit: self.limits.max_calls,
            });
        }
        self.calls += 1;
        Ok(())
    }

    /// Charges one `query` call (also a call).
    pub fn charge_query(&mut self) -> Result<(), TemplateBudgetError> {
        if self.queries >= self.limits.max_queries {
            return Err(TemplateBudgetError::TooManyQueries {
                limit: self.limits.max_queries,
            });
        }
        self.charge_call()?;
        self.queries += 1;
        Ok(())
    }

    /// Enters one level of nesting; pair every successful call with [`Self::leave`].
    pub fn enter(&mut self) -> Result<(), TemplateBudgetError> {
        if self.depth >= self.limits.max_depth {
            return Err(TemplateBudgetError::TooDeep {
                limit: self.limits.max_depth,
            });
        }
        self.depth += 1;
        Ok(())
    }

    /// Leaves a level entered with [`Self::enter`].
    pub fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// `re.replace_all(src, repl)` (with `$1`/`${name}` expansion unless `literal`),
    /// charging `src` and then each replacement before it is written: an expansion is at
    /// most the replacement text plus the whole match for every `$` in it, since a group
    /// lies within the match. Go templates' `reReplaceAll`/`regexReplaceAll` use it.
    pub fn replace_all(
        &mut self,
        re: &regex::Regex,
        src: &str,
        repl: &str,
        literal: bool,
    ) -> Result<String, TemplateBudgetError> {
        self.charge_bytes(src.len())?;
        let mut replacer = MeteredReplacer {
            repl,
            literal,
            dollars: if literal {
                0
            } else {
                repl.matches('$').count()
            },
            budget: self,
            err: None,
        };
        let out = re
            .replace_all(src, regex::Replacer::by_ref(&mut replacer))
            .into_owned();
        match replacer.err {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    /// Runs `f` one nesting level deeper, leaving the level whatever `f` returns.
    pub fn nested<T, E: From<TemplateBudgetError>>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, E>,
    ) -> Result<T, E> {
        self.enter()?;
        let out = f(self);
        self.leave();
        out
    }
}

/// The replacer behind [`TemplateBudget::replace_all`]; after a refused charge it
/// writes nothing more.
struct MeteredReplacer<'a> {
    repl: &'a str,
    literal: bool,
    dollars: usize,
    budget: &'a mut TemplateBudget,
    err: Option<TemplateBudgetError>,
}

impl regex::Replacer for MeteredReplacer<'_> {
    fn replace_append(&mut self, caps: &regex::Captures<'_>, dst: &mut String) {
        if self.err.is_some() {
            return;
        }
        let whole = caps.get(0).map_or(0, |m| m.len());
        let bound = self
            .dollars
            .checked_mul(whole)
            .and_then(|d| d.checked_add(self.repl.len()))
            .unwrap_or(usize::MAX);
        if let Err(e) = self.budget.charge_bytes(bound) {
            self.err = Some(e);
            return;
        }
        if self.literal {
            dst.push_str(self.repl);
        } else {
            caps.expand(self.repl, dst);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> TemplateLimits {
        TemplateLimits {
            max_output_bytes: 10,
            max_calls: 3,
            max_depth: 2,
            max_queries: 1,
        }
    }

    #[test]
    fn bytes_are_refused_before_passing_the_limit_and_a_refusal_spends_nothing() {
        let mut b = TemplateBudget::new(small());
        b.charge_bytes(6).unwrap();
        let err = b.charge_bytes(5).unwrap_err();
        assert_eq!(err.reason(), "template-output-too-large");
        assert_eq!(b.bytes_used(), 6);
        b.charge_bytes(4).unwrap();
        assert_eq!(b.bytes_used(), 10);
        assert!(b.charge_bytes(usize::MAX).is_err());
    }

    #[test]
    fn a_huge_repeat_is_refused_without_overflow() {
        let mut b = TemplateBudget::new(small());
        assert!(b.charge_repeat(usize::MAX, 2).is_err());
        assert!(b.charge_repeat(1, 100_000_000_000_000).is_err());
        b.charge_repeat(2, 5).unwrap();
        assert_eq!(b.bytes_used(), 10);
    }

    #[test]
    fn calls_queries_and_depth_have_their_own_reasons() {
        let mut b = TemplateBudget::new(small());
        b.charge_query().unwrap();
        assert_eq!(
            b.charge_query().unwrap_err().reason(),
            "template-too-many-queries"
        );
        b.charge_call().unwrap();
        b.charge_call().unwrap();
        assert_eq!(
            b.charge_call().unwrap_err().reason(),
            "template-too-many-calls"
        );

        let mut b = TemplateBudget::new(small());
        let deep: Result<(), TemplateBudgetError> =
            b.nested(|b| b.nested(|b| b.nested(|_| Ok(()))));
        assert_eq!(deep.unwrap_err().reason(), "template-too-deep");
        // Every level was left again.
        b.nested(|b| b.nested(|_| Ok::<_, TemplateBudgetError>(())))
            .unwrap();
    }

    #[test]
    fn replacements_are_charged_before_they_are_written() {
        let re = regex::Regex::new("(a)").unwrap();
        let mut b = TemplateBudget::new(TemplateLimits {
            max_output_bytes: 100,
            ..small()
        });
        assert_eq!(b.replace_all(&re, "xax", "[$1]", false).unwrap(), "x[a]x");
        assert_eq!(b.replace_all(&re, "xax", "$1", true).unwrap(), "x$1x");
        let bomb = "$1".repeat(40);
        let err = b.replace_all(&re, "aaaa", &bomb, false).unwrap_err();
        assert_eq!(err.reason(), "template-output-too-large");
    }

    #[test]
    fn messages_start_with_the_reason_id() {
        let errs = [
            TemplateBudgetError::OutputTooLarge { limit: 1 },
            TemplateBudgetError::TooManyCalls { limit: 1 },
            TemplateBudgetError::TooDeep { limit: 1 },
            TemplateBudgetError::TooManyQueries { limit: 1 },
        ];
        for e in errs {
            assert!(e.to_string().starts_with(e.reason()), "{e}");
        }
    }
}
