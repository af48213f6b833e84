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

#[cfg(test)]
mod tests {
    #[test]
    fn a_closed_stdout_is_its_own_error() {
        let error: anyhow::Error = super::StdoutClosed.into();
        assert!(error.downcast_ref::<super::StdoutClosed>().is_some());
    }
}
