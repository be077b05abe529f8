//! Every `--plot` of the tool: the format chosen by the file's extension (`.svg` through plotters'
//! SVG backend, `.png` through its bitmap backend), anything else refused with one line before the
//! run starts ([`check`]); text drawn with the font bundled in the binary (DejaVu Sans, see
//! `fonts/LICENSE-DejaVu`), so no system font is needed at run time; files written atomically.
//!
//! A figure is a [`Figure`]: it draws itself on any backend. [`LineChart`] is the common chart:
//! axis labels, the legend in its own column right of the data (it never covers a curve), paired
//! colours for learned/true curves (same hue, the reference dashed) and a log scale when the
//! values span decades.

use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

/// The font of every label, compiled into the binary.
const FONT: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");

/// An output format of `--plot`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Scalable vector graphics.
    Svg,
    /// A PNG image (RGB, 8 bits).
    Png,
}

/// The format of `path` from its extension (case-insensitive), or the one-line refusal.
pub fn check(path: &Path) -> Result<Format, String> {
    let ext = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase());
    match ext.as_deref() {
        Some("svg") => Ok(Format::Svg),
        Some("png") => Ok(Format::Png),
        Some(e) => Err(format!("--plot {}: unsupported format '.{e}': use a .svg or .png file name", path.display())),
        None => Err(format!("--plot {}: no extension: use a .svg or .png file name", path.display())),
    }
}

/// Something that draws itself on a drawing area of any plotters backend.
pub trait Figure {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32) {
        (900, 500)
    }
    /// Draws the figure on `root` (already filled white).
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

/// A plotters error as a message.
pub fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

fn fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        for family in ["sans-serif", "serif", "monospace"] {
            // the bundled font is a valid TrueType file: registration cannot fail (tested)
            let _ = plotters::style::register_font(family, FontStyle::Normal, FONT);
        }
    });
}

/// The figure as SVG text.
pub fn svg(fig: &impl Figure) -> Result<String, String> {
    fonts();
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, fig.size()).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        fig.draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(text)
}

/// The figure as PNG bytes.
pub fn png(fig: &impl Figure) -> Result<Vec<u8>, String> {
    fonts();
    let (w, h) = fig.size();
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        fig.draw(&root)?;
        root.present().map_err(err)?;
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| format!("PNG encoder: {e}"))?;
        writer.write_image_data(&rgb).map_err(|e| format!("PNG encoder: {e}"))?;
    }
    Ok(out)
}

/// Writes `fig` to `path` in the format of its extension, atomically.
pub fn save(path: &Path, fig: &impl Figure) -> Result<(), String> {
    let bytes = match check(path)? {
        Format::Svg => svg(fig)?.into_bytes(),
        Format::Png => png(fig)?,
    };
    kinkgrad::io::atomic::write_atomic(path, |w| w.write_all(&bytes)).map_err(|e| e.to_string())
}

/// One named curve.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points.
    pub points: Vec<(f64, f64)>,
}

/// Distinct hues (colour-blind friendly, Okabe-Ito).
const PALETTE: [RGBColor; 7] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
];

/// Width of the legend column right of the data.
const LEGEND_WIDTH: u32 = 220;

/// A line chart of several curves.
pub struct LineChart<'a> {
    /// Caption.
    pub title: &'a str,
    /// x-axis label.
    pub xlabel: &'a str,
    /// y-axis label.
    pub ylabel: &'a str,
    /// The curves.
    pub series: &'a [Series],
    /// Whether a log scale may be used: it is when every value is positive and they span at least
    /// two decades.
    pub log_y: bool,
    /// The curves come in (learned, true) pairs: each pair shares a hue and the second is dashed.
    pub paired: bool,
}

impl LineChart<'_> {
    /// Whether the y axis is logarithmic (see [`LineChart::log_y`]).
    fn uses_log(&self) -> bool {
        let ys = || self.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).filter(|y| y.is_finite());
        let (lo, hi) = ys().fold((f64::INFINITY, 0.0f64), |(a, b), y| (a.min(y), b.max(y)));
        self.log_y && ys().all(|y| y > 0.0) && hi / lo >= 100.0
    }

    fn colour(&self, k: usize) -> RGBColor {
        PALETTE[if self.paired { k / 2 } else { k } % PALETTE.len()]
    }

    fn dashed(&self, k: usize) -> bool {
        self.paired && k % 2 == 1
    }
}

impl Figure for LineChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let log = self.uses_log();
        let tr = |v: f64| if log { v.log10() } else { v };
        let pts: Vec<Vec<(f64, f64)>> = self
            .series
            .iter()
            .map(|s| s.points.iter().filter(|p| p.1.is_finite()).map(|&(x, y)| (x, tr(y))).collect())
            .collect();
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for p in pts.iter().flatten() {
            (x0, x1, y0, y1) = (x0.min(p.0), x1.max(p.0), y0.min(p.1), y1.max(p.1));
        }
        if x0 > x1 {
            return Err(format!("plot '{}': no finite points", self.title));
        }
        if x1 <= x0 {
            x1 = x0 + 1.0;
        }
        let pad = ((y1 - y0) * 0.05).max(1e-12);
        let (y0, y1) = (y0 - pad, y1 + pad);
        let (w, _) = root.dim_in_pixel();
        let (area, legend) = root.split_horizontally(w.saturating_sub(LEGEND_WIDTH));
        let mut chart = ChartBuilder::on(&area)
            .caption(self.title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(75)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(err)?;
        let ylabel = if log { format!("{} (log scale)", self.ylabel) } else { self.ylabel.to_string() };
        let fmt_y = |v: &f64| if log { format!("{:.0e}", 10f64.powf(*v)) } else { format!("{v:.3}") };
        chart.configure_mesh().x_desc(self.xlabel).y_desc(ylabel).y_label_formatter(&fmt_y).draw().map_err(err)?;
        for (k, p) in pts.iter().enumerate() {
            let style = self.colour(k).stroke_width(2);
            if self.dashed(k) {
                chart.draw_series(DashedLineSeries::new(p.iter().copied(), 8, 5, style)).map_err(err)?;
            } else {
                chart.draw_series(LineSeries::new(p.iter().copied(), style)).map_err(err)?;
            }
        }
        // the legend: its own column, one entry per curve
        for (k, s) in self.series.iter().enumerate() {
            let y = 60 + 24 * k as i32;
            let style = self.colour(k).stroke_width(2);
            let line: Vec<(i32, i32)> = vec![(10, y), (40, y)];
            if self.dashed(k) {
                legend.draw(&PathElement::new(vec![(10, y), (20, y)], style)).map_err(err)?;
                legend.draw(&PathElement::new(vec![(28, y), (40, y)], style)).map_err(err)?;
            } else {
                legend.draw(&PathElement::new(line, style)).map_err(err)?;
            }
            legend
                .draw(&Text::new(s.name.clone(), (48, y - 8), ("sans-serif", 14).into_font().color(&BLACK)))
                .map_err(err)?;
        }
        Ok(())
    }
}

/// Charts stacked vertically, sharing the figure's height evenly.
pub struct Stacked<'a>(pub Vec<LineChart<'a>>);

impl Figure for Stacked<'_> {
    fn size(&self) -> (u32, u32) {
        (900, 350 * self.0.len().max(1) as u32)
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        for (area, chart) in root.split_evenly((self.0.len().max(1), 1)).iter().zip(&self.0) {
            chart.draw(area)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(series: &[Series], log_y: bool) -> LineChart<'_> {
        LineChart { title: "t", xlabel: "position", ylabel: "height", series, log_y, paired: true }
    }

    #[test]
    fn the_extension_chooses_the_format() {
        assert_eq!(check(Path::new("a/b.svg")), Ok(Format::Svg));
        assert_eq!(check(Path::new("b.PNG")), Ok(Format::Png));
        let e = check(Path::new("b.jpg")).unwrap_err();
        assert!(e.contains(".jpg") && !e.contains('\n'), "{e}");
        assert!(check(Path::new("b")).is_err());
    }

    #[test]
    fn the_bundled_font_is_valid() {
        // ab_glyph parses the file; a broken font would make every text draw fail
        assert!(plotters::style::register_font("kinkgrad-test", FontStyle::Normal, FONT).is_ok());
    }

    #[test]
    fn both_formats_render_with_labels() {
        let s = [
            Series { name: "learned".into(), points: vec![(0.0, 1.0), (1.0, 2.0)] },
            Series { name: "true".into(), points: vec![(0.0, 1.5), (1.0, 2.5)] },
        ];
        let svg = svg(&chart(&s, false)).unwrap();
        for label in ["learned", "true", "position", "height"] {
            assert!(svg.contains(label), "{label}");
        }
        let png = png(&chart(&s, false)).unwrap();
        // the PNG signature (RFC 2083, section 3.1)
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn a_log_scale_only_where_values_span_decades() {
        let pts = |ys: &[f64]| Series {
            name: "s".into(),
            points: ys.iter().enumerate().map(|(i, &y)| (i as f64, y)).collect(),
        };
        assert!(chart(&[pts(&[1.0, 1e-3])], true).uses_log());
        assert!(!chart(&[pts(&[1.0, 0.5])], true).uses_log());
        assert!(!chart(&[pts(&[1.0, -1e-3])], true).uses_log());
        assert!(!chart(&[pts(&[1.0, 1e-3])], false).uses_log());
    }
}
