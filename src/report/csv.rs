//! Tidy CSV tables: a fixed header and one row per observation.

use std::fmt::Write;
use std::path::Path;

use super::{ReportError, write_atomic};

/// A CSV table built in memory and written atomically as a whole, so that the file
/// on disk is always a complete table (rewritten after each read-back batch).
#[derive(Clone, Debug)]
pub struct CsvTable {
    header: Vec<String>,
    text: String,
    rows: usize,
}

/// One CSV cell.
pub enum Cell<'a> {
    Int(i64),
    Num(f64),
    Text(&'a str),
}

impl From<usize> for Cell<'_> {
    fn from(v: usize) -> Self {
        Cell::Int(v as i64)
    }
}
impl From<u64> for Cell<'_> {
    fn from(v: u64) -> Self {
        Cell::Int(v as i64)
    }
}
impl From<i64> for Cell<'_> {
    fn from(v: i64) -> Self {
        Cell::Int(v)
    }
}
impl From<f64> for Cell<'_> {
    fn from(v: f64) -> Self {
        Cell::Num(v)
    }
}
impl From<f32> for Cell<'_> {
    fn from(v: f32) -> Self {
        Cell::Num(v as f64)
    }
}
impl<'a> From<&'a str> for Cell<'a> {
    fn from(v: &'a str) -> Self {
        Cell::Text(v)
    }
}

impl CsvTable {
    pub fn new(header: &[&str]) -> Self {
        let mut text = header.join(",");
        text.push('\n');
        Self {
            header: header.iter().map(|h| h.to_string()).collect(),
            text,
            rows: 0,
        }
    }

    pub fn header(&self) -> &[String] {
        &self.header
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends a row; the cell count must match the header.
    pub fn push(&mut self, cells: &[Cell<'_>]) {
        assert_eq!(cells.len(), self.header.len(), "CSV row width");
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                self.text.push(',');
            }
            match c {
                Cell::Int(v) => write!(self.text, "{v}").unwrap(),
                // Shortest round-trip representation keeps files exact and small.
                Cell::Num(v) => write!(self.text, "{v:e}").unwrap(),
                Cell::Text(s) => self.text.push_str(s),
            }
        }
        self.text.push('\n');
        self.rows += 1;
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn write(&self, path: &Path) -> Result<(), ReportError> {
        write_atomic(path, self.text.as_bytes())
    }
}

/// Builds a row of cells from heterogeneous values.
#[macro_export]
macro_rules! row {
    ($($v:expr),* $(,)?) => {
        &[$($crate::report::csv::Cell::from($v)),*]
    };
}
