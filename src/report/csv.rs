//! Tidy CSV tables (DESIGN §5): one serde row struct per file, whose field names
//! (or `#[serde(rename)]`s) are the header, and one row per observation.

use std::path::Path;

use serde::{Serialize, Serializer};

use super::{ReportError, write_atomic};

/// A CSV table of rows `R`, kept in memory and written atomically as a whole, so
/// that the file on disk is always a complete table (rewritten after each read-back
/// batch).
#[derive(Clone, Debug)]
pub struct CsvTable<R> {
    rows: Vec<R>,
}

impl<R> Default for CsvTable<R> {
    fn default() -> Self {
        Self { rows: Vec::new() }
    }
}

impl<R> FromIterator<R> for CsvTable<R> {
    fn from_iter<I: IntoIterator<Item = R>>(iter: I) -> Self {
        Self {
            rows: iter.into_iter().collect(),
        }
    }
}

impl<R: Serialize + Default> CsvTable<R> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, row: R) {
        self.rows.push(row);
    }

    pub fn rows(&self) -> usize {
        self.rows.len()
    }

    /// The header line's names: the row type's fields (taken from a default row, so
    /// that an empty table still has its header).
    pub fn header() -> Vec<String> {
        let text = header_line::<R>().unwrap_or_default();
        text.split(',').map(str::to_string).collect()
    }

    /// The whole file: the header, then a line per row.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ReportError> {
        let mut text = header_line::<R>()?.into_bytes();
        text.push(b'\n');
        let mut w = ::csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(text);
        for r in &self.rows {
            w.serialize(r).map_err(serialise)?;
        }
        w.into_inner().map_err(|e| serialise(e.into_error().into()))
    }

    pub fn write(&self, path: &Path) -> Result<(), ReportError> {
        write_atomic(path, &self.to_bytes()?)
    }
}

/// The header of `R` without its line end.
fn header_line<R: Serialize + Default>() -> Result<String, ReportError> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    w.serialize(R::default()).map_err(serialise)?;
    let bytes = w
        .into_inner()
        .map_err(|e| serialise(e.into_error().into()))?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(text.lines().next().unwrap_or_default().to_string())
}

fn serialise(e: ::csv::Error) -> ReportError {
    ReportError::Serialise {
        what: "CSV table".into(),
        message: e.to_string(),
    }
}

/// Writes a real as its shortest round-trip scientific form (`5e-1`, `NaN`): exact
/// and small, and the form every table has used (`#[serde(serialize_with = "sci")]`).
pub fn sci<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&format_args!("{v:e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default, Serialize)]
    struct Row {
        step: usize,
        #[serde(serialize_with = "sci")]
        t: f64,
        #[serde(rename = "H_eff", serialize_with = "sci")]
        h: f64,
        mode: Option<usize>,
        status: String,
    }

    #[test]
    fn header_from_fields_and_reals_in_scientific_form() {
        assert_eq!(
            CsvTable::<Row>::header(),
            ["step", "t", "H_eff", "mode", "status"]
        );
        let empty = CsvTable::<Row>::new().to_bytes().unwrap();
        assert_eq!(empty, b"step,t,H_eff,mode,status\n");
        let t: CsvTable<Row> = [
            Row {
                step: 3,
                t: 0.5,
                h: f64::NAN,
                mode: Some(2),
                status: "ok".into(),
            },
            Row {
                step: 10,
                t: -1234.5,
                h: f64::NEG_INFINITY,
                mode: None,
                status: "failed".into(),
            },
        ]
        .into_iter()
        .collect();
        assert_eq!(
            String::from_utf8(t.to_bytes().unwrap()).unwrap(),
            "step,t,H_eff,mode,status\n3,5e-1,NaN,2,ok\n10,-1.2345e3,-inf,,failed\n"
        );
    }
}
