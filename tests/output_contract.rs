//! Every CSV the CI-size runs write against the contract as DESIGN §5 states it
//! (read from docs/DESIGN.md, not copied here): the header exactly, and every row
//! with as many cells as the header, parseable as numbers (or the documented text
//! columns). Covers nn, lattice (one and two fields), run and a width sweep.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

/// DESIGN §5's files and headers: `nn/background.csv` → "step,tau,point,mean,var".
/// The F > 1 lattice variants are keyed `lattice/spectrum.csv@fields`.
fn contract() -> BTreeMap<String, String> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/DESIGN.md"))
            .unwrap();
    let start = text.find("## 5.").expect("DESIGN §5");
    let end = text[start..]
        .find("## 6.")
        .map_or(text.len(), |e| start + e);
    let mut m = BTreeMap::new();
    for line in text[start..end].lines() {
        let l = line.trim().trim_start_matches('(');
        if let Some(rest) = l.strip_prefix("<out>/")
            && let Some((file, cols)) = rest.split_once(char::is_whitespace)
            && file.ends_with(".csv")
        {
            // The F > 1 variants sit inside a parenthesis.
            m.insert(
                file.to_string(),
                cols.trim().trim_end_matches(')').to_string(),
            );
        }
        if let Some(i) = l.find("spectrum.csv is ") {
            let cols = l[i + 16..].trim_end_matches("; and").trim_end_matches(';');
            m.insert("lattice/spectrum.csv@fields".into(), cols.to_string());
        }
    }
    assert!(m.len() >= 12, "parsed too little of DESIGN §5: {m:?}");
    m
}

fn run(args: &[&str], out: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_nncosmo-gpu"))
        .args(args)
        .args(["--force", "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// Checks `file` under `out` against the contract's `key`; `expand` turns the
/// dataset's `x0,x1,...,y` into this run's columns.
fn check(out: &Path, file: &str, want: &str, text_cols: &[&str]) {
    let path = out.join(file);
    let csv = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = csv.lines();
    let header = lines.next().unwrap_or_default();
    assert_eq!(header, want, "{file}: header");
    let cols: Vec<&str> = header.split(',').collect();
    let mut rows = 0;
    for (k, l) in lines.enumerate() {
        let cells: Vec<&str> = l.split(',').collect();
        assert_eq!(cells.len(), cols.len(), "{file} row {k}: {l}");
        for (c, v) in cols.iter().zip(&cells) {
            if !text_cols.contains(c) {
                assert!(v.parse::<f64>().is_ok(), "{file} row {k} column {c}: `{v}`");
            }
        }
        rows += 1;
    }
    assert!(rows > 0, "{file}: no rows");
}

#[test]
fn every_output_table_matches_design_section_5() {
    let c = contract();
    let d = common::guard::scratch("contract");
    let text = ["status"];
    let dataset = c["nn/dataset.csv"].replace("x0,x1,...,y", "x0,x1,y");

    let nn = d.join("nn");
    run(
        &[
            "nn",
            "--width",
            "64",
            "--ensemble",
            "8",
            "--steps",
            "20",
            "--record-every",
            "5",
        ],
        &nn,
    );
    check(&nn, "nn/dataset.csv", &dataset, &[]);
    for f in [
        "nn/background.csv",
        "nn/modes.csv",
        "nn/loss.csv",
        "nn/ntk.csv",
    ] {
        check(&nn, f, &c[f], &[]);
    }

    let lat = d.join("lattice");
    run(&["lattice", "--grid", "8", "--steps", "20"], &lat);
    for f in ["lattice/background.csv", "lattice/spectrum.csv"] {
        check(&lat, f, &c[f], &[]);
    }
    let lat2 = d.join("lattice2");
    run(
        &[
            "lattice", "--grid", "8", "--steps", "20", "--fields", "2", "--mass", "0.5", "--mass",
            "1",
        ],
        &lat2,
    );
    check(
        &lat2,
        "lattice/background.csv",
        &c["lattice/background.csv"],
        &[],
    );
    check(
        &lat2,
        "lattice/spectrum.csv",
        &c["lattice/spectrum.csv@fields"],
        &[],
    );
    check(&lat2, "lattice/fields.csv", &c["lattice/fields.csv"], &[]);

    let r = d.join("run");
    run(common::TINY_RUN, &r);
    check(&r, "nn/dataset.csv", &dataset, &[]);
    for f in [
        "nn/background.csv",
        "nn/modes.csv",
        "nn/loss.csv",
        "nn/ntk.csv",
        "lattice/background.csv",
        "compare/background.csv",
        "compare/modes.csv",
        "compare/finite_width.csv",
    ] {
        check(&r, f, &c[f], &[]);
    }
    // The run's dual lattice has one field per mode row.
    check(
        &r,
        "lattice/spectrum.csv",
        &c["lattice/spectrum.csv@fields"],
        &[],
    );
    check(&r, "lattice/fields.csv", &c["lattice/fields.csv"], &[]);

    let sw = d.join("sweep");
    run(
        &[
            "sweep",
            "--vary",
            "width=32,64,128",
            "--ensemble",
            "8",
            "--points",
            "4",
            "--steps",
            "10",
            "--lr",
            "0.1",
            "--momentum",
            "0.9",
            "--grid",
            "4",
        ],
        &sw,
    );
    check(&sw, "sweep/eft.csv", &c["sweep/eft.csv"], &text);
    check(
        &sw,
        "sweep/finite_width.csv",
        &c["sweep/finite_width.csv"],
        &[],
    );
}
