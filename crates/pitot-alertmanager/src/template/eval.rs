//! Execution of parsed templates against JSON data, metered by a [`TemplateBudget`]:
//! output is charged before it is written, every call, `range` iteration and
//! `template` invocation is counted, and `template` invocations nest at most the
//! budget's depth (32 for Alertmanager), so templates that call each other twice per
//! level cannot expand exponentially.

use std::collections::HashMap;

use pitot_core::{TemplateBudget, TemplateBudgetError};
use serde_json::Value;

use super::parse::{Arg, Node, Pipeline};
use crate::error::AmError;

const FUNCTIONS: [&str; 11] = [
    "toUpper",
    "toLower",
    "title",
    "join",
    "len",
    "eq",
    "ne",
    "not",
    "and",
    "or",
    "trimSpace",
];

/// Whether `name` is a supported template function.
pub fn is_function(name: &str) -> bool {
    FUNCTIONS.contains(&name) || name == "safeHtml"
}

fn err(msg: impl Into<String>) -> AmError {
    AmError::Template(msg.into())
}

fn budget_err(e: TemplateBudgetError) -> AmError {
    AmError::Template(e.to_string())
}

/// Runs templates with the named `define`s, charging `budget`.
pub struct Evaluator<'a> {
    pub defines: &'a HashMap<String, Vec<Node>>,
    pub budget: &'a mut TemplateBudget,
}

impl Evaluator<'_> {
    fn write(&mut self, text: &str, out: &mut String) -> Result<(), AmError> {
        self.budget.charge_bytes(text.len()).map_err(budget_err)?;
        out.push_str(text);
        Ok(())
    }

    pub fn run(&mut self, nodes: &[Node], dot: &Value, out: &mut String) -> Result<(), AmError> {
        for node in nodes {
            match node {
                Node::Text(t) => self.write(t, out)?,
                Node::Print(p) => {
                    let v = self.pipeline(p, dot)?;
                    self.write(&print(&v), out)?;
                }
                Node::If(p, body, else_body) => {
                    if truthy(&self.pipeline(p, dot)?) {
                        self.run(body, dot, out)?;
                    } else {
                        self.run(else_body, dot, out)?;
                    }
                }
                Node::Range(p, body, else_body) => {
                    let items: Vec<Value> = match self.pipeline(p, dot)? {
                        Value::Array(a) => a,
                        Value::Object(o) => o.into_iter().map(|(_, v)| v).collect(),
                        Value::Null => Vec::new(),
                        other => return Err(err(format!("range over non-list {}", print(&other)))),
                    };
                    if items.is_empty() {
                        self.run(else_body, dot, out)?;
                    }
                    for item in &items {
                        self.budget.charge_call().map_err(budget_err)?;
                        self.run(body, item, out)?;
                    }
                }
                Node::Define(..) => {}
                Node::Template(name, p) => {
                    let body = self
                        .defines
                        .get(name)
                        .ok_or_else(|| err(format!("template {name:?} not defined")))?;
                    // `{{ template "x" . }}` passes the dot itself: no copy of the
                    // notification data per call.
                    let passes_dot = matches!(
                        p.as_deref(),
                        Some([cmd]) if matches!(cmd.as_slice(), [Arg::Field(path)] if path.is_empty())
                    );
                    let data = match p {
                        _ if passes_dot => None,
                        Some(p) => Some(self.pipeline(p, dot)?),
                        None => Some(Value::Null),
                    };
                    self.budget.charge_call().map_err(budget_err)?;
                    self.budget
                        .enter()
                        .map_err(|e| err(format!("template {name:?} recursion too deep: {e}")))?;
                    let result = self.run(body, data.as_ref().unwrap_or(dot), out);
                    self.budget.leave();
                    result?;
                }
            }
        }
        Ok(())
    }

    fn pipeline(&mut self, p: &Pipeline, dot: &Value) -> Result<Value, AmError> {
        let mut piped: Option<Value> = None;
        for cmd in p {
            let mut args = Vec::new();
            let (head, rest) = cmd.split_first().ok_or_else(|| err("empty command"))?;
            if let Arg::Func(name) = head {
                for a in rest {
                    args.push(self.arg(a, dot)?);
                }
                if let Some(v) = piped.take() {
                    args.push(v);
                }
                piped = Some(call(name, args, self.budget)?);
            } else {
                if !rest.is_empty() || piped.is_some() {
                    return Err(err("only functions take arguments"));
                }
                piped = Some(self.arg(head, dot)?);
            }
        }
        Ok(piped.unwrap_or(Value::Null))
    }

    fn arg(&mut self, a: &Arg, dot: &Value) -> Result<Value, AmError> {
        Ok(match a {
            Arg::Field(path) => field(dot, path),
            Arg::Str(s) => Value::String(s.clone()),
            Arg::Num(n) => serde_json::Number::from_f64(*n)
                .map(Value::Number)
                .unwrap_or(Value::Null),
            Arg::Bool(b) => Value::Bool(*b),
            Arg::Func(name) => call(name, Vec::new(), self.budget)?,
            Arg::Paren(p, path) => field(&self.pipeline(p, dot)?, path),
        })
    }
}

/// Field access with Alertmanager's helper methods on alert lists and label maps.
fn field(v: &Value, path: &[String]) -> Value {
    let mut cur = v.clone();
    for name in path {
        cur = match (&cur, name.as_str()) {
            (Value::Array(alerts), "Firing" | "Resolved") => {
                let want = if name == "Firing" {
                    "firing"
                } else {
                    "resolved"
                };
                Value::Array(
                    alerts
                        .iter()
                        .filter(|a| a.get("Status").and_then(Value::as_str) == Some(want))
                        .cloned()
                        .collect(),
                )
            }
            (Value::Object(m), "SortedPairs") if !m.contains_key("SortedPairs") => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Array(
                    keys.into_iter()
                        .map(|k| serde_json::json!({"Name": k, "Value": m[k]}))
                        .collect(),
                )
            }
            (Value::Object(m), "Names") if !m.contains_key("Names") => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Array(keys.into_iter().map(|k| Value::String(k.clone())).collect())
            }
            (Value::Object(m), "Values") if !m.contains_key("Values") => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                Value::Array(keys.into_iter().map(|k| m[k].clone()).collect())
            }
            (Value::Array(pairs), "Names" | "Values") => {
                let key = if name == "Names" { "Name" } else { "Value" };
                Value::Array(
                    pairs
                        .iter()
                        .map(|p| p.get(key).cloned().unwrap_or(Value::Null))
                        .collect(),
                )
            }
            (Value::Object(m), _) => m.get(name).cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        };
    }
    cur
}

/// Calls a function, charging the call and its string result (at most a small multiple
/// of its arguments; `join`, which multiplies its separator by the list, is charged
/// before it is built).
fn call(name: &str, args: Vec<Value>, budget: &mut TemplateBudget) -> Result<Value, AmError> {
    budget.charge_call().map_err(budget_err)?;
    let v = call_inner(name, args, budget)?;
    match &v {
        Value::String(s) if name != "join" => {
            budget.charge_bytes(s.len()).map_err(budget_err)?;
        }
        _ => {}
    }
    Ok(v)
}

fn call_inner(name: &str, args: Vec<Value>, budget: &mut TemplateBudget) -> Result<Value, AmError> {
    let arity = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(err(format!(
                "{name} wants {n} arguments, got {}",
                args.len()
            )))
        }
    };
    Ok(match name {
        "toUpper" | "toLower" | "title" | "trimSpace" | "safeHtml" => {
            arity(1)?;
            let s = print(&args[0]);
            Value::String(match name {
                "toUpper" => s.to_uppercase(),
                "toLower" => s.to_lowercase(),
                "trimSpace" => s.trim().to_string(),
                "title" => s
                    .split(' ')
                    .map(|w| {
                        let mut c = w.chars();
                        c.next()
                            .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
                    .join(" "),
                _ => s,
            })
        }
        "join" => {
            arity(2)?;
            let sep = print(&args[0]);
            let items: Vec<String> = match &args[1] {
                Value::Array(a) => a.iter().map(print).collect(),
                Value::Null => Vec::new(),
                other => return Err(err(format!("join wants a list, got {}", print(other)))),
            };
            let joined = items
                .iter()
                .map(String::len)
                .sum::<usize>()
                .saturating_add(sep.len().saturating_mul(items.len().saturating_sub(1)));
            budget.charge_bytes(joined).map_err(budget_err)?;
            Value::String(items.join(&sep))
        }
        "len" => {
            arity(1)?;
            let n = match &args[0] {
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                Value::String(s) => s.len(),
                Value::Null => 0,
                other => return Err(err(format!("len of {}", print(other)))),
            };
            Value::from(n as u64)
        }
        "eq" | "ne" => {
            arity(2)?;
            let same = loose_eq(&args[0], &args[1]);
            Value::Bool(if name == "eq" { same } else { !same })
        }
        "not" => {
            arity(1)?;
            Value::Bool(!truthy(&args[0]))
        }
        "and" | "or" => {
            if args.is_empty() {
                return Err(err(format!("{name} wants arguments")));
            }
            let want = name == "or";
            args.iter()
                .find(|a| truthy(a) == want)
                .cloned()
                .unwrap_or_else(|| args[args.len() - 1].clone())
        }
        other => return Err(err(format!("function {other:?} not defined"))),
    })
}

fn loose_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Null, Value::String(s)) | (Value::String(s), Value::Null) => s.is_empty(),
        _ => a == b,
    }
}

/// Go's truthiness: zero values and empty collections are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// How Go prints a value: strings bare, lists as `[a b]`, missing values as `<no value>`.
pub fn print(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".to_string(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        Value::Array(a) => format!("[{}]", a.iter().map(print).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", print(&o[*k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}
