//! Builds the tree of a template from lexed items: text, actions, `if`/`range`/`with`
//! blocks with `else`/`else if`, and pipelines of commands.

use pitot_core::MAX_TEMPLATE_PARSE_DEPTH;

use super::lex::{Item, Tok};
use super::value::Value;
use super::TemplateError;

/// A node of the template tree.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Text(String),
    /// `{{ pipeline }}`: printed unless it is a variable declaration.
    Action(Pipeline),
    /// `{{ if }}` with its `else if` branches and `else`.
    If {
        branches: Vec<(Pipeline, Vec<Node>)>,
        otherwise: Vec<Node>,
    },
    Range {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Break,
    Continue,
}

/// `$a, $b := cmd | cmd …`.
#[derive(Debug, Clone)]
pub(crate) struct Pipeline {
    pub vars: Vec<String>,
    /// `=` (assign to existing) rather than `:=` (declare).
    pub assign: bool,
    pub cmds: Vec<Vec<Operand>>,
}

/// One argument or the function of a command.
#[derive(Debug, Clone)]
pub(crate) enum Operand {
    /// `.` followed by field steps (`.Labels.job` is `Dot` with `["Labels", "job"]`).
    Dot(Vec<String>),
    /// `$x.a.b`.
    Var(String, Vec<String>),
    /// A function call target or argument-less function.
    Func(String),
    Literal(Value),
    /// `( pipeline ).a.b`.
    Sub(Box<Pipeline>, Vec<String>),
}

const KEYWORDS: [&str; 7] = ["if", "else", "end", "range", "with", "break", "continue"];

/// Parses lexed items into the node list of the whole template.
pub(crate) fn parse(items: Vec<Item>) -> Result<Vec<Node>, TemplateError> {
    let mut p = Parser {
        items,
        pos: 0,
        loops: 0,
        depth: 0,
    };
    let (nodes, end) = p.list()?;
    match end {
        End::Eof => Ok(nodes),
        End::Close => Err(TemplateError::new("unexpected {{end}}")),
        End::Else(_) => Err(TemplateError::new("unexpected {{else}}")),
    }
}

enum End {
    Eof,
    Close,
    /// `{{ else }}` or `{{ else if … }}` / `{{ else with … }}` (the rest tokens).
    Else(Vec<Tok>),
}

struct Parser {
    items: Vec<Item>,
    pos: usize,
    loops: usize,
    /// Blocks open around the current position, at most [`MAX_TEMPLATE_PARSE_DEPTH`].
    depth: usize,
}

impl Parser {
    fn list(&mut self) -> Result<(Vec<Node>, End), TemplateError> {
        if self.depth > MAX_TEMPLATE_PARSE_DEPTH {
            return Err(TemplateError::new(format!(
                "blocks nested more than {MAX_TEMPLATE_PARSE_DEPTH} deep"
            )));
        }
        self.depth += 1;
        let listed = self.list_inner();
        self.depth -= 1;
        listed
    }

    fn list_inner(&mut self) -> Result<(Vec<Node>, End), TemplateError> {
        let mut nodes = Vec::new();
        while self.pos < self.items.len() {
            let item = self.items[self.pos].clone();
            self.pos += 1;
            match item {
                Item::Text(t) => nodes.push(Node::Text(t)),
                Item::Action(toks) => {
                    let keyword = match toks.first() {
                        Some(Tok::Ident(w)) if KEYWORDS.contains(&w.as_str()) => w.clone(),
                        _ => {
                            nodes.push(Node::Action(pipeline(&toks, 0)?));
                            continue;
                        }
                    };
                    let rest = toks[1..].to_vec();
                    match keyword.as_str() {
                        "end" => return Ok((nodes, End::Close)),
                        "else" => return Ok((nodes, End::Else(rest))),
                        "if" => nodes.push(self.if_block(rest)?),
                        "with" => {
                            let (body, otherwise) = self.block("with")?;
                            nodes.push(Node::With {
                                pipe: pipeline(&rest, 0)?,
                                body,
                                otherwise,
                            });
                        }
                        "range" => {
                            self.loops += 1;
                            let (body, otherwise) = self.block("range")?;
                            self.loops -= 1;
                            nodes.push(Node::Range {
                                pipe: pipeline(&rest, 0)?,
                                body,
                                otherwise,
                            });
                        }
                        word => {
                            if self.loops == 0 {
                                return Err(TemplateError::new(format!(
                                    "{{{{{word}}}}} outside {{{{range}}}}"
                                )));
                            }
                            nodes.push(if word == "break" {
                                Node::Break
                            } else {
                                Node::Continue
                            });
                        }
                    }
                }
            }
        }
        Ok((nodes, End::Eof))
    }

    /// Body and plain `else` body of a `with`/`range` block.
    fn block(&mut self, what: &str) -> Result<(Vec<Node>, Vec<Node>), TemplateError> {
        let (body, end) = self.list()?;
        match end {
            End::Close => Ok((body, Vec::new())),
            End::Else(rest) if rest.is_empty() => {
                let (otherwise, end) = self.list()?;
                match end {
                    End::Close => Ok((body, otherwise)),
                    _ => Err(TemplateError::new(format!("unterminated {what}"))),
                }
            }
            End::Else(_) => Err(TemplateError::new(format!(
                "unexpected else-chain in {what}"
            ))),
            End::Eof => Err(TemplateError::new(format!("unexpected EOF in {what}"))),
        }
    }

    fn if_block(&mut self, cond: Vec<Tok>) -> Result<Node, TemplateError> {
        let mut branches = vec![];
        let mut cond = cond;
        loop {
            let (body, end) = self.list()?;
            branches.push((pipeline(&cond, 0)?, body));
            match end {
                End::Close => {
                    return Ok(Node::If {
                        branches,
                        otherwise: Vec::new(),
                    })
                }
                End::Eof => return Err(TemplateError::new("unexpected EOF in if")),
                End::Else(rest) if rest.is_empty() => {
                    let (otherwise, end) = self.list()?;
                    if !matches!(end, End::Close) {
                        return Err(TemplateError::new("expected end after else"));
                    }
                    return Ok(Node::If {
                        branches,
                        otherwise,
                    });
                }
                End::Else(rest) => match rest.first() {
                    Some(Tok::Ident(w)) if w == "if" => cond = rest[1..].to_vec(),
                    _ => return Err(TemplateError::new("expected if after else")),
                },
            }
        }
    }
}

/// Parses the tokens of one action into a pipeline.
/// `depth` counts the parentheses around it, at most [`MAX_TEMPLATE_PARSE_DEPTH`].
fn pipeline(toks: &[Tok], depth: usize) -> Result<Pipeline, TemplateError> {
    if depth > MAX_TEMPLATE_PARSE_DEPTH {
        return Err(TemplateError::new(format!(
            "parentheses nested more than {MAX_TEMPLATE_PARSE_DEPTH} deep"
        )));
    }
    let mut vars = Vec::new();
    let mut assign = false;
    let mut rest = toks;
    // Declarations: `$x :=`, `$x =`, `$i, $e :=`.
    let decl_end = toks
        .iter()
        .position(|t| matches!(t, Tok::Declare | Tok::Assign));
    if let Some(end) = decl_end {
        let head = &toks[..end];
        let all_vars = head.iter().all(|t| matches!(t, Tok::Var(_) | Tok::Comma));
        if all_vars && !head.is_empty() {
            vars = head
                .iter()
                .filter_map(|t| match t {
                    Tok::Var(v) => Some(v.clone()),
                    _ => None,
                })
                .collect();
            assign = matches!(toks[end], Tok::Assign);
            rest = &toks[end + 1..];
        }
    }
    if rest.is_empty() {
        return Err(TemplateError::new("missing value for command"));
    }
    let mut cmds = Vec::new();
    let mut pos = 0;
    loop {
        let mut cmd = Vec::new();
        while pos < rest.len() && rest[pos] != Tok::Pipe {
            let (op, next) = operand(rest, pos, depth)?;
            cmd.push(op);
            pos = next;
        }
        if cmd.is_empty() {
            return Err(TemplateError::new("missing command in pipeline"));
        }
        cmds.push(cmd);
        if pos >= rest.len() {
            break;
        }
        pos += 1;
    }
    Ok(Pipeline { vars, assign, cmds })
}

fn fields(toks: &[Tok], mut pos: usize) -> (Vec<String>, usize) {
    let mut out = Vec::new();
    while let Some(Tok::Field(f)) = toks.get(pos) {
        out.push(f.clone());
        pos += 1;
    }
    (out, pos)
}

fn operand(toks: &[Tok], pos: usize, depth: usize) -> Result<(Operand, usize), TemplateError> {
    match &toks[pos] {
        Tok::Dot => {
            let (f, next) = fields(toks, pos + 1);
            Ok((Operand::Dot(f), next))
        }
        Tok::Field(_) => {
            let (f, next) = fields(toks, pos);
            Ok((Operand::Dot(f), next))
        }
        Tok::Var(v) => {
            let (f, next) = fields(toks, pos + 1);
            Ok((Operand::Var(v.clone(), f), next))
        }
        Tok::Str(s) => Ok((Operand::Literal(Value::Str(s.clone())), pos + 1)),
        Tok::Int(i) => Ok((Operand::Literal(Value::Int(*i)), pos + 1)),
        Tok::Float(f) => Ok((Operand::Literal(Value::Float(*f)), pos + 1)),
        Tok::Ident(w) => Ok((
            match w.as_str() {
                "true" => Operand::Literal(Value::Bool(true)),
                "false" => Operand::Literal(Value::Bool(false)),
                "nil" => Operand::Literal(Value::Nil),
                _ => Operand::Func(w.clone()),
            },
            pos + 1,
        )),
        Tok::LParen => {
            let mut open = 0usize;
            let mut end = None;
            for (i, t) in toks.iter().enumerate().skip(pos) {
                match t {
                    Tok::LParen => open += 1,
                    Tok::RParen => {
                        open -= 1;
                        if open == 0 {
                            end = Some(i);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let end = end.ok_or_else(|| TemplateError::new("unclosed left paren"))?;
            let inner = pipeline(&toks[pos + 1..end], depth + 1)?;
            let (f, next) = fields(toks, end + 1);
            Ok((Operand::Sub(Box::new(inner), f), next))
        }
        t => Err(TemplateError::new(format!("unexpected {t:?} in operand"))),
    }
}
