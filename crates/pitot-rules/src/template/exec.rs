//! Runs a parsed template: variables, pipelines, `if`/`range`/`with`, function calls.

use pitot_core::TemplateBudget;

use super::funcs::{call, Env};
use super::gofmt::format_value;
use super::parse::{Node, Operand, Pipeline};
use super::value::Value;
use super::TemplateError;

enum Flow {
    Normal,
    Break,
    Continue,
}

/// Executes `nodes` with `root` as `.` and `$`, pre-declared `vars`, writing to a
/// string; output, calls, `range` iterations and nesting are charged to `budget`.
pub(crate) fn execute(
    nodes: &[Node],
    root: &Value,
    vars: Vec<(String, Value)>,
    env: &Env<'_>,
    budget: &mut TemplateBudget,
) -> Result<String, TemplateError> {
    let mut vars = vars;
    vars.insert(0, ("$".to_string(), root.clone()));
    let mut ex = Exec {
        env,
        vars,
        out: String::new(),
        budget,
    };
    ex.nodes(nodes, root)?;
    Ok(ex.out)
}

struct Exec<'a, 'b> {
    env: &'a Env<'a>,
    vars: Vec<(String, Value)>,
    out: String,
    budget: &'b mut TemplateBudget,
}

impl Exec<'_, '_> {
    fn nodes(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, TemplateError> {
        self.budget.enter()?;
        let mark = self.vars.len();
        let flow = self.nodes_inner(nodes, dot);
        self.vars.truncate(mark);
        self.budget.leave();
        flow
    }

    /// Appends `text` to the output after charging it.
    fn write(&mut self, text: &str) -> Result<(), TemplateError> {
        self.budget.charge_bytes(text.len())?;
        self.out.push_str(text);
        Ok(())
    }

    fn nodes_inner(&mut self, nodes: &[Node], dot: &Value) -> Result<Flow, TemplateError> {
        for node in nodes {
            match node {
                Node::Text(t) => self.write(t)?,
                Node::Action(p) => {
                    let v = self.pipeline(p, dot)?;
                    if p.vars.is_empty() {
                        self.write(&format_value(&v))?;
                    }
                }
                Node::If {
                    branches,
                    otherwise,
                } => {
                    let mut taken = false;
                    for (cond, body) in branches {
                        if self.pipeline(cond, dot)?.truthy() {
                            taken = true;
                            match self.nodes(body, dot)? {
                                Flow::Normal => {}
                                f => return Ok(f),
                            }
                            break;
                        }
                    }
                    if !taken {
                        match self.nodes(otherwise, dot)? {
                            Flow::Normal => {}
                            f => return Ok(f),
                        }
                    }
                }
                Node::With {
                    pipe,
                    body,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    let v = self.pipeline(pipe, dot)?;
                    let flow = if v.truthy() {
                        self.nodes(body, &v)?
                    } else {
                        self.nodes(otherwise, dot)?
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range {
                    pipe,
                    body,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    let decl = pipe.vars.clone();
                    let plain = Pipeline {
                        vars: Vec::new(),
                        assign: false,
                        cmds: pipe.cmds.clone(),
                    };
                    let v = self.pipeline(&plain, dot)?;
                    // Lazily: `range 100000000000000` must not build its entries first.
                    let entries: Box<dyn Iterator<Item = (Value, Value)>> = match v {
                        Value::List(items) => Box::new(
                            items
                                .into_iter()
                                .enumerate()
                                .map(|(i, e)| (Value::Int(i as i64), e)),
                        ),
                        Value::Map(m) => Box::new(m.into_iter().map(|(k, v)| (Value::Str(k), v))),
                        Value::Int(n) => {
                            Box::new((0..n.max(0)).map(|i| (Value::Int(i), Value::Int(i))))
                        }
                        Value::Nil => Box::new(std::iter::empty()),
                        other => {
                            return Err(TemplateError::new(format!(
                                "range can't iterate over {}",
                                format_value(&other)
                            )))
                        }
                    };
                    let mut entries = entries.peekable();
                    if entries.peek().is_none() {
                        self.nodes(otherwise, dot)?;
                    }
                    for (k, e) in entries {
                        self.budget.charge_call()?;
                        let inner = self.vars.len();
                        match decl.as_slice() {
                            [] => {}
                            [one] => self.vars.push((one.clone(), e.clone())),
                            [key, elem, ..] => {
                                self.vars.push((key.clone(), k));
                                self.vars.push((elem.clone(), e.clone()));
                            }
                        }
                        let flow = self.nodes(body, &e)?;
                        self.vars.truncate(inner);
                        if matches!(flow, Flow::Break) {
                            break;
                        }
                    }
                    self.vars.truncate(mark);
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn pipeline(&mut self, p: &Pipeline, dot: &Value) -> Result<Value, TemplateError> {
        let mut piped: Option<Value> = None;
        for cmd in &p.cmds {
            piped = Some(self.command(cmd, dot, piped)?);
        }
        let v = piped.unwrap_or(Value::Nil);
        for name in &p.vars {
            if p.assign {
                let slot = self
                    .vars
                    .iter_mut()
                    .rev()
                    .find(|(n, _)| n == name)
                    .ok_or_else(|| TemplateError::new(format!("undefined variable: {name}")))?;
                slot.1 = v.clone();
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn command(
        &mut self,
        cmd: &[Operand],
        dot: &Value,
        piped: Option<Value>,
    ) -> Result<Value, TemplateError> {
        if let Operand::Func(name) = &cmd[0] {
            if name == "and" || name == "or" {
                return self.and_or(name == "and", &cmd[1..], dot, piped);
            }
            let mut args = Vec::with_capacity(cmd.len());
            for op in &cmd[1..] {
                args.push(self.operand(op, dot)?);
            }
            args.extend(piped);
            return call(name, args, self.env, self.budget);
        }
        if cmd.len() > 1 || piped.is_some() {
            return Err(TemplateError::new("can't give argument to non-function"));
        }
        self.operand(&cmd[0], dot)
    }

    fn and_or(
        &mut self,
        is_and: bool,
        ops: &[Operand],
        dot: &Value,
        piped: Option<Value>,
    ) -> Result<Value, TemplateError> {
        if ops.is_empty() && piped.is_none() {
            return Err(TemplateError::new("wrong number of args: want at least 1"));
        }
        let mut last = Value::Nil;
        for op in ops {
            last = self.operand(op, dot)?;
            if last.truthy() != is_and {
                return Ok(last);
            }
        }
        Ok(piped.unwrap_or(last))
    }

    fn operand(&mut self, op: &Operand, dot: &Value) -> Result<Value, TemplateError> {
        match op {
            Operand::Dot(fields) => walk(dot.clone(), fields),
            Operand::Var(name, fields) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v.clone())
                    .ok_or_else(|| TemplateError::new(format!("undefined variable: {name}")))?;
                walk(v, fields)
            }
            Operand::Func(name) => call(name, Vec::new(), self.env, self.budget),
            Operand::Literal(v) => Ok(v.clone()),
            Operand::Sub(p, fields) => {
                self.budget.enter()?;
                let v = self.pipeline(p, dot);
                self.budget.leave();
                walk(v?, fields)
            }
        }
    }
}

/// Follows field steps; a missing map key is the zero value (Prometheus sets
/// `missingkey=zero`, and its maps hold strings).
fn walk(mut v: Value, fields: &[String]) -> Result<Value, TemplateError> {
    for f in fields {
        v = match v {
            Value::Map(mut m) => m.remove(f).unwrap_or(Value::Str(String::new())),
            Value::Nil => {
                return Err(TemplateError::new(format!(
                    "nil pointer evaluating field {f}"
                )))
            }
            other => {
                return Err(TemplateError::new(format!(
                    "can't evaluate field {f} in {}",
                    format_value(&other)
                )))
            }
        };
    }
    Ok(v)
}
