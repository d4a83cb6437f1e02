//! One self-contained `index.html`: inline SVG plots, tables and notes, with no
//! external resources (it opens offline).

use std::fmt::Write;

/// Escapes text for HTML content and attribute values.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A page built section by section.
#[derive(Default)]
pub struct Page {
    title: String,
    body: String,
}

impl Page {
    pub fn new(title: &str) -> Self {
        Page {
            title: title.into(),
            body: String::new(),
        }
    }

    pub fn heading(&mut self, text: &str) {
        let _ = writeln!(self.body, "<h2>{}</h2>", esc(text));
    }

    pub fn paragraph(&mut self, text: &str) {
        let _ = writeln!(self.body, "<p>{}</p>", esc(text));
    }

    /// A bulleted list; items marked as warnings when `warn`.
    pub fn list(&mut self, items: &[String], warn: bool) {
        if items.is_empty() {
            return;
        }
        let class = if warn { " class=\"warn\"" } else { "" };
        self.body.push_str("<ul>\n");
        for it in items {
            let _ = writeln!(self.body, "<li{class}>{}</li>", esc(it));
        }
        self.body.push_str("</ul>\n");
    }

    pub fn table(&mut self, header: &[&str], rows: &[Vec<String>]) {
        self.body.push_str("<table>\n<tr>");
        for h in header {
            let _ = write!(self.body, "<th>{}</th>", esc(h));
        }
        self.body.push_str("</tr>\n");
        for r in rows {
            self.body.push_str("<tr>");
            for c in r {
                let _ = write!(self.body, "<td>{}</td>", esc(c));
            }
            self.body.push_str("</tr>\n");
        }
        self.body.push_str("</table>\n");
    }

    /// An inline SVG figure (the document's XML prolog, if any, is dropped).
    pub fn figure(&mut self, svg: &str, caption: &str) {
        let start = svg.find("<svg").unwrap_or(0);
        let _ = writeln!(
            self.body,
            "<figure>{}<figcaption>{}</figcaption></figure>",
            // Inline SVG needs no namespace declaration; dropping it keeps the page free of URLs.
            svg[start..].replace(" xmlns=\"http://www.w3.org/2000/svg\"", ""),
            esc(caption)
        );
    }

    pub fn preformatted(&mut self, text: &str) {
        let _ = writeln!(self.body, "<pre>{}</pre>", esc(text));
    }

    pub fn render(&self) -> String {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{t}</title>\n<style>\n\
body {{ font-family: sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}\n\
table {{ border-collapse: collapse; margin: 1em 0; font-size: 13px; }}\n\
th, td {{ border: 1px solid #ccc; padding: 3px 8px; text-align: right; }}\n\
th {{ background: #f3f3f3; }}\n\
figure {{ display: inline-block; margin: 0.5em; }}\n\
figcaption {{ font-size: 12px; color: #555; max-width: 720px; }}\n\
li.warn {{ color: #a33; }}\n\
pre {{ background: #f7f7f7; padding: 0.6em; overflow-x: auto; font-size: 12px; }}\n\
</style>\n</head>\n<body>\n<h1>{t}</h1>\n{b}</body>\n</html>\n",
            t = esc(&self.title),
            b = self.body
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_is_self_contained() {
        let mut p = Page::new("a <b>");
        p.table(&["x"], &[vec!["1 & 2".into()]]);
        p.figure(
            "<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\"></svg>",
            "c",
        );
        let html = p.render();
        assert!(html.contains("a &lt;b&gt;") && html.contains("1 &amp; 2"));
        assert!(!html.contains("<?xml"));
        for banned in ["http://", "https://", "<script src", "<link"] {
            assert!(!html.contains(banned), "{banned}");
        }
    }

    #[test]
    fn figures_share_no_ids() {
        use crate::report::plots::{Plot, Series, Style};
        let mut pg = Page::new("t");
        for name in ["a", "b"] {
            let mut p = Plot::new(name, "x", "y").log_y();
            p.add(Series::new(
                name,
                vec![(0.0, 1.0), (1.0, 10.0)],
                Style::Solid,
                0,
            ));
            pg.figure(&p.to_svg(), name);
        }
        let html = pg.render();
        let mut ids: Vec<&str> = html
            .split(" id=\"")
            .skip(1)
            .map(|s| &s[..s.find('"').unwrap()])
            .collect();
        let n = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate ids in {html}");
        assert!(!html.contains("http://"), "namespace URL left in the page");
    }
}
