//! What commands print on stdout. A reader that stops early (`pitot limits get | head
//! -1`) closes the pipe, and `println!` then panics; through these macros a closed
//! stdout ends the command quietly and successfully instead, as it does other Unix
//! tools.

use std::io::Write;

/// Stdout was closed by its reader; `main` exits successfully on it.
#[derive(Debug)]
pub struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stdout was closed by its reader")
    }
}

impl std::error::Error for StdoutClosed {}

/// Writes `args` to stdout and flushes it.
pub fn write(args: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(StdoutClosed.into()),
        Err(e) => Err(anyhow::Error::new(e).context("cannot write to stdout")),
    }
}

/// `println!` for command output: returns early with [`StdoutClosed`] when the reader
/// is gone.
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!("{}\n", format_args!($($arg)*)))?
    };
}

/// `print!` for command output (see [`outln`]).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::out::write(format_args!($($arg)*))?
    };
}

pub(crate) use {out, outln};

/// A table for people: every column as wide as its widest cell, numbers right-aligned,
/// so columns line up whatever the tenant names or figures are.
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column titles.
    pub fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    /// Adds a row (one cell per column).
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table's lines, without trailing spaces.
    pub fn lines(&self) -> Vec<String> {
        let columns = self.header.len();
        let numeric: Vec<bool> = (0..columns)
            .map(|c| {
                !self.rows.is_empty()
                    && self.rows.iter().all(|r| {
                        let cell = r.get(c).map(String::as_str).unwrap_or("");
                        cell.is_empty() || cell.parse::<f64>().is_ok()
                    })
            })
            .collect();
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                std::iter::once(&self.header)
                    .chain(&self.rows)
                    .map(|r| r.get(c).map_or(0, |cell| cell.chars().count()))
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        std::iter::once(&self.header)
            .chain(&self.rows)
            .map(|r| {
                let cells: Vec<String> = (0..columns)
                    .map(|c| {
                        let cell = r.get(c).map(String::as_str).unwrap_or("");
                        if numeric[c] {
                            format!("{cell:>width$}", width = widths[c])
                        } else {
                            format!("{cell:<width$}", width = widths[c])
                        }
                    })
                    .collect();
                cells.join("  ").trim_end().to_string()
            })
            .collect()
    }

    /// Prints the table on stdout.
    pub fn print(&self) -> anyhow::Result<()> {
        for line in self.lines() {
            outln!("{line}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_columns_line_up_whatever_their_contents() {
        let mut t = super::Table::new(&["TENANT", "SAMPLES", "NAME"]);
        t.row(vec![
            "a-very-long-tenant-name".into(),
            "5".into(),
            "x".into(),
        ]);
        t.row(vec!["b".into(), "1234567".into(), "prometheus".into()]);
        let lines = t.lines();
        let col = |line: &str, word: &str| line.find(word).expect(word);
        assert_eq!(
            col(&lines[0], "NAME"),
            col(&lines[2], "prometheus"),
            "{lines:#?}"
        );
        assert_eq!(
            col(&lines[1], "x"),
            col(&lines[2], "prometheus"),
            "{lines:#?}"
        );
        // Numbers end where their title ends.
        let end = |line: &str, word: &str| col(line, word) + word.len();
        assert_eq!(end(&lines[0], "SAMPLES"), end(&lines[1], "5"), "{lines:#?}");
        assert_eq!(
            end(&lines[0], "SAMPLES"),
            end(&lines[2], "1234567"),
            "{lines:#?}"
        );
        assert!(lines.iter().all(|l| !l.ends_with(' ')));
    }

    #[test]
    fn a_closed_stdout_is_its_own_error() {
        let error: anyhow::Error = super::StdoutClosed.into();
        assert!(error.downcast_ref::<super::StdoutClosed>().is_some());
    }
}
