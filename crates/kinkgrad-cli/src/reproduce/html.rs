//! The report as one self-contained HTML page: a summary of the verdicts, then per section its
//! settings, a table `finding | reference | source | measured | verdict | note` and its figures
//! (inline SVG). No script, no style sheet or font from the network; every text is escaped.

use super::row::{Section, Verdict};
use super::Timed;

/// `s` with the five HTML special characters escaped (safe in text and in quoted attributes).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}\
table{border-collapse:collapse;width:100%;margin:0.5em 0 1em}\
th,td{border:1px solid #ccc;padding:4px 6px;text-align:left;vertical-align:top;font-size:0.9em}\
th{background:#f3f3f3}td.num{font-family:monospace;white-space:pre-wrap}\
.pass{background:#dff5e3}.miss{background:#fbe0e0}.info{background:#eef2f8}\
.verdict{font-weight:bold;text-align:center}\
#summary span{display:inline-block;padding:4px 10px;margin-right:8px;border-radius:4px}\
figure{margin:1em 0}figure svg{max-width:100%;height:auto}figcaption{font-size:0.9em;color:#555}\
.settings{color:#555;font-size:0.9em}nav a{margin-right:0.8em}";

/// One section: heading (its id as the anchor), settings and time, the table, the figures.
fn section(t: &Timed) -> String {
    let s: &Section = &t.section;
    let mut h = format!(
        "<section id=\"{id}\">\n<h2>{title}</h2>\n<p class=\"settings\">Settings: {settings}. Section id \
         <code>{id}</code>, computed in {secs:.1} s.</p>\n",
        id = escape(s.id),
        title = escape(&s.title),
        settings = escape(&s.settings),
        secs = t.seconds
    );
    h += "<table>\n<tr><th>finding</th><th>reference</th><th>source</th><th>measured (this run)</th>\
          <th>verdict</th><th>note</th></tr>\n";
    for r in &s.rows {
        let v = r.verdict.as_str();
        h += &format!(
            "<tr class=\"{v}\"><td>{}</td><td class=\"num\">{}</td><td>{}</td><td class=\"num\">{}</td>\
             <td class=\"verdict\">{v}</td><td>{}</td></tr>\n",
            escape(&r.name),
            escape(&r.reference),
            escape(&r.source),
            escape(&r.measured),
            escape(&r.note)
        );
    }
    h += "</table>\n";
    for f in &s.figures {
        // the SVG comes from plotters (crate::plot::svg), which escapes its own text
        h += &format!(
            "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>\n",
            strip_prolog(&f.svg),
            escape(&f.caption)
        );
    }
    h += "</section>\n";
    h
}

/// An SVG document without an XML declaration (not allowed inside HTML).
fn strip_prolog(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

/// The whole page.
pub fn page(done: &[Timed], quick: bool, seconds: f64) -> String {
    let (mut p, mut m, mut i) = (0, 0, 0);
    for r in done.iter().flat_map(|t| t.section.rows.iter()) {
        match r.verdict {
            Verdict::Pass => p += 1,
            Verdict::Miss => m += 1,
            Verdict::Info => i += 1,
        }
    }
    let mut h = String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    h += "<title>kinkgrad reproduce</title>\n";
    h += &format!("<style>{STYLE}</style>\n</head>\n<body>\n");
    h += "<h1>kinkgrad reproduce: the evidence, measured in one run</h1>\n";
    h += &format!(
        "<p>kinkgrad {} &middot; {} run &middot; {:.1} s &middot; every measured value below was computed in \
         this run; references name their source.</p>\n",
        escape(env!("CARGO_PKG_VERSION")),
        if quick { "<code>--quick</code> (reduced settings, stated per section)" } else { "full" },
        seconds
    );
    h += &format!(
        "<div id=\"summary\"><span class=\"pass\">{p} pass</span><span class=\"miss\">{m} miss</span>\
         <span class=\"info\">{i} info</span></div>\n"
    );
    h += "<nav><p>";
    for t in done {
        h += &format!("<a href=\"#{id}\">{}</a>", escape(&t.section.title), id = escape(t.section.id));
    }
    h += "</p></nav>\n";
    for t in done {
        h += &section(t);
    }
    h += "</body>\n</html>\n";
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reproduce::row::{Figure, Row};

    #[test]
    fn text_is_escaped_and_every_section_has_its_anchor() {
        let row = Row {
            section: "demo",
            name: "<script>alert(1)</script>".into(),
            reference: "a & b".into(),
            source: "\"quoted\"".into(),
            measured: "1 < 2".into(),
            verdict: Verdict::Miss,
            note: String::new(),
        };
        let s = Section {
            id: "demo",
            title: "Demo".into(),
            settings: "none".into(),
            rows: vec![row],
            figures: vec![Figure { caption: "c".into(), svg: "<?xml version=\"1.0\"?><svg></svg>".into() }],
        };
        let page = page(&[Timed { section: s, seconds: 0.5 }], true, 0.5);
        assert!(!page.contains("<script>"));
        assert!(page.contains("&lt;script&gt;") && page.contains("a &amp; b") && page.contains("1 &lt; 2"));
        assert!(page.contains("<section id=\"demo\">") && page.contains("0 pass") && page.contains("1 miss"));
        assert!(!page.contains("<?xml") && page.contains("<svg></svg>"));
    }
}
