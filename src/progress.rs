//! A progress line for long work on a terminal (a sweep of thousands of accessors): redrawn in
//! place on stderr, at most a few times a second, and erased at the end so the run's own lines
//! follow as if it had never been there. When stderr is not a terminal (the timer, the journal,
//! a pipe) or the run is quiet, nothing is written at all, so logs never change.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// `-q`: no progress either.
static QUIET: AtomicBool = AtomicBool::new(false);

pub fn set_quiet(quiet: bool) {
    QUIET.store(quiet, Ordering::Relaxed);
}

/// Redraws closer together than this only cost terminal output.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// Back to the start of the line and erase it.
const ERASE: &str = "\r\x1b[K";

pub struct Progress {
    out: Option<Box<dyn Write>>,
    label: &'static str,
    drawn_at: Option<Instant>,
}

impl Progress {
    /// On stderr if it is a terminal and the run is not quiet; else a progress that shows nothing.
    pub fn on_stderr(label: &'static str) -> Progress {
        let shown = std::io::stderr().is_terminal() && !QUIET.load(Ordering::Relaxed);
        Progress::to(
            shown.then(|| Box::new(std::io::stderr()) as Box<dyn Write>),
            label,
        )
    }

    pub fn to(out: Option<Box<dyn Write>>, label: &'static str) -> Progress {
        Progress {
            out,
            label,
            drawn_at: None,
        }
    }

    /// `<label>: <done>/<total> looked up`, or `<label>: <done> looked up` while the total is not
    /// known yet. The first call always draws; later ones at most every `REDRAW_EVERY`.
    pub fn update(&mut self, done: usize, total: Option<usize>) {
        let Some(out) = self.out.as_mut() else {
            return;
        };
        if self.drawn_at.is_some_and(|at| at.elapsed() < REDRAW_EVERY) {
            return;
        }
        let count = match total {
            Some(total) => format!("{done}/{total}"),
            None => done.to_string(),
        };
        let _ = write!(out, "{ERASE}{}: {count} looked up", self.label);
        let _ = out.flush();
        self.drawn_at = Some(Instant::now());
    }

    /// Erases the line, if one was drawn.
    pub fn finish(&mut self) {
        if let (Some(out), Some(_)) = (self.out.as_mut(), self.drawn_at.take()) {
            let _ = write!(out, "{ERASE}");
            let _ = out.flush();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn draws_at_once_and_erases_at_the_end() {
        let buf = Shared::default();
        let mut progress = Progress::to(Some(Box::new(buf.clone())), "sweep");
        progress.update(3, Some(10));
        drop(progress);
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text, "\r\x1b[Ksweep: 3/10 looked up\r\x1b[K");
    }

    #[test]
    fn nothing_is_written_without_a_terminal_or_before_a_draw() {
        let mut silent = Progress::to(None, "sweep");
        silent.update(1, None);
        silent.finish();
        let buf = Shared::default();
        drop(Progress::to(Some(Box::new(buf.clone())), "sweep"));
        assert!(
            buf.0.lock().unwrap().is_empty(),
            "nothing drawn, nothing erased"
        );
    }
}
