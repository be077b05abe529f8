//! SVG line charts (plotters' SVG backend), returned as strings; the caller writes them atomically.

use plotters::prelude::*;

/// One named curve.
pub struct Series {
    /// Legend text.
    pub name: String,
    /// Points.
    pub points: Vec<(f64, f64)>,
}

const COLORS: [RGBColor; 6] = [RED, BLUE, GREEN, BLACK, MAGENTA, CYAN];

/// A chart of several curves; `log_y` plots log10 of positive values.
pub fn line_chart(title: &str, xlabel: &str, ylabel: &str, series: &[Series], log_y: bool) -> Result<String, String> {
    let tr = |v: f64| if log_y { v.max(1e-300).log10() } else { v };
    let pts: Vec<Vec<(f64, f64)>> = series
        .iter()
        .map(|s| s.points.iter().filter(|p| p.1.is_finite()).map(|&(x, y)| (x, tr(y))).collect())
        .collect();
    let all: Vec<&(f64, f64)> = pts.iter().flatten().collect();
    if all.is_empty() {
        return Err(format!("plot '{title}': no finite points"));
    }
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for p in &all {
        x0 = x0.min(p.0);
        x1 = x1.max(p.0);
        y0 = y0.min(p.1);
        y1 = y1.max(p.1);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-12);
    let (y0, y1) = (y0 - pad, y1 + pad);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(35)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| e.to_string())?;
        let yl = if log_y { format!("log10 {ylabel}") } else { ylabel.to_string() };
        chart.configure_mesh().x_desc(xlabel).y_desc(yl).draw().map_err(|e| e.to_string())?;
        for (k, (s, p)) in series.iter().zip(&pts).enumerate() {
            let c = COLORS[k % COLORS.len()];
            chart
                .draw_series(LineSeries::new(p.iter().copied(), c.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(s.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE)
            .draw()
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}
