//! The run report in a real browser: headless Chromium loads `index.html` of a tiny
//! `run`, and the page must print nothing to the console, lay out every figure with
//! a non-empty box holding drawn data, and show report.json's key metrics.
//!
//! Chromium is the distribution's package (`apt-get install chromium`). Without it
//! the test is skipped with a note, except in CI, where it must run.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Marker the probe logs once, proving console capture works.
const MARKER: &str = "nncosmo-probe-loaded";

/// Runs in the page after everything above it is parsed: records each inline
/// figure's box and the box of its drawn marks, and the text of every table.
const PROBE: &str = r##"<script>
console.log("nncosmo-probe-loaded");
(function () {
  const figures = [...document.querySelectorAll("figure svg")].map((svg) => {
    const r = svg.getBoundingClientRect();
    // Data marks are drawn in the palette's colours (grid and axes are grey/black).
    const data = ["#0072b2", "#d55e00", "#009e73", "#e69f00", "#cc79a7", "#56b4e9"];
    let marks = 0;
    for (const el of svg.querySelectorAll("path, polyline, polygon, circle, line")) {
      const c = ((el.getAttribute("stroke") || "") + (el.getAttribute("fill") || "")).toLowerCase();
      if (!data.some((d) => c.includes(d))) continue;
      const b = el.getBBox();
      marks = Math.max(marks, b.width, b.height);
    }
    return { w: r.width, h: r.height, marks: marks };
  });
  const tables = [...document.querySelectorAll("table")].map((t) =>
    [...t.rows].map((row) => [...row.cells].map((c) => c.textContent.trim())));
  const pre = document.createElement("pre");
  pre.id = "nncosmo-probe";
  pre.textContent = JSON.stringify({ figures: figures, tables: tables });
  document.body.appendChild(pre);
})();
</script>"##;

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome"]
        .iter()
        .flat_map(|n| std::env::split_paths(&path).map(move |d| d.join(n)))
        .find(|p| p.is_file())
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("nncosmo-browser-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// The tiny run of tests/duality_run.rs, into `out`.
fn tiny_run(out: &Path) {
    let o = Command::new(env!("CARGO_BIN_EXE_nncosmo-gpu"))
        .args(common::TINY_RUN)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Loads `page` and returns (DOM after the probe ran, the console lines).
fn load(browser: &Path, page: &Path, profile: &Path) -> (String, Vec<String>) {
    // Files, not pipes: the DOM is larger than a pipe buffer and nobody reads it
    // until the browser exits.
    let (dom_path, log_path) = (profile.join("dom.html"), profile.join("stderr.log"));
    std::fs::create_dir_all(profile).unwrap();
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--window-size=1280,1000",
            "--enable-logging=stderr",
            "--v=0",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("file://{}", page.display()))
        .stdout(std::fs::File::create(&dom_path).unwrap())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t0.elapsed() > Duration::from_secs(120) {
            let _ = child.kill();
            panic!("chromium did not finish loading the report within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(&log_path).unwrap();
    let console = log
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    (std::fs::read_to_string(&dom_path).unwrap(), console)
}

#[test]
fn report_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install chromium for the report test"
        );
        eprintln!("skipped: no chromium on PATH (apt-get install chromium)");
        return;
    };
    let out = tmp("run");
    tiny_run(&out);
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    let at = html.rfind("</body>").expect("index.html has a body");
    let page = out.join("probe.html");
    std::fs::write(&page, format!("{}{PROBE}\n{}", &html[..at], &html[at..])).unwrap();
    let (dom, console) = load(&browser, &page, &tmp("profile"));

    // The probe's own line proves console capture works; the page adds none.
    assert!(
        console.iter().any(|l| l.contains(MARKER)),
        "console not captured: {console:?}"
    );
    let others: Vec<&String> = console.iter().filter(|l| !l.contains(MARKER)).collect();
    assert!(others.is_empty(), "console messages: {others:?}");

    let open = "<pre id=\"nncosmo-probe\">";
    let start = dom.find(open).expect("probe ran") + open.len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let text = dom[start..end]
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let probe: serde_json::Value = serde_json::from_str(&text).unwrap();

    let svgs = std::fs::read_dir(&out)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "svg")
        })
        .count();
    let figures = probe["figures"].as_array().unwrap();
    assert_eq!(figures.len(), svgs, "every figure file is inlined");
    for (i, f) in figures.iter().enumerate() {
        let (w, h, marks) = (
            f["w"].as_f64().unwrap(),
            f["h"].as_f64().unwrap(),
            f["marks"].as_f64().unwrap(),
        );
        assert!(w > 100.0 && h > 100.0, "figure {i} box {w}×{h}");
        assert!(marks > 1.0, "figure {i} draws no data");
    }

    // The key metrics table: one row per comparison, max z to two decimals.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let table = probe["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t[0][0] == "comparison")
        .expect("the key metrics table");
    for (row, key) in [
        ("network vs lattice", "nn_vs_lattice"),
        ("network vs theory", "nn_vs_theory"),
        ("lattice vs theory", "lattice_vs_theory"),
    ] {
        let cells = table
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r[0] == row)
            .unwrap_or_else(|| panic!("no `{row}` row"));
        let m = &report["metrics"][key];
        for (col, field, mode, step) in [
            (1, "mean_max_z", "mean_mode", "mean_step"),
            (2, "power_max_z", "power_mode", "power_step"),
        ] {
            let want = format!(
                "{:.2} (class {}, step {})",
                m[field].as_f64().unwrap(),
                m[mode],
                m[step]
            );
            assert_eq!(cells[col], want.as_str(), "{row}, {field}");
        }
    }
    let _ = std::fs::remove_dir_all(&out);
}
