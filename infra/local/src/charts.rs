//! The CLI's charts, drawn as SVG with plotters: the access report's reads per asset per day
//! (`slm report access --svg`) and the files and bytes moved per day (`slm report activity
//! --svg`, the end of the demo) and the savings case's cumulative costs (`slm report savings --svg`).

use crate::metrics_log::ActivityRow;
use anyhow::{Result, anyhow};
use plotters::prelude::*;
use slm_core::domain::report::AccessReport;
use slm_core::domain::savings::Comparison;
use std::collections::BTreeMap;

const COLOURS: [RGBColor; 8] = [
    RGBColor(0x1f, 0x77, 0xb4),
    RGBColor(0xd6, 0x27, 0x28),
    RGBColor(0x2c, 0xa0, 0x2c),
    RGBColor(0xff, 0x7f, 0x0e),
    RGBColor(0x94, 0x67, 0xbd),
    RGBColor(0x8c, 0x56, 0x4b),
    RGBColor(0xe3, 0x77, 0xc2),
    RGBColor(0x17, 0xbe, 0xcf),
];

fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

fn drawing<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("drawing the chart: {e:?}")
}

/// The access report as a line chart (the statistics' Fig. 2): reads per asset per day on a log
/// scale against days since launch, one line per asset type, the cold threshold dashed, each
/// type's recommended day marked.
pub fn access(report: &AccessReport) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (820, 440)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let floor = report.threshold / 10.0;
        let max = report.types.iter().flat_map(|t| t.points.iter().map(|p| p.1)).fold(report.threshold * 10.0, f64::max);
        let horizon = report.horizon_days.max(1) as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption("Reads per asset per day by days since launch", ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..horizon, (floor..max).log_scale())
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .x_desc("days since launch")
            .y_desc("reads per asset per day")
            .y_label_formatter(&|v| format!("{v}"))
            .draw()
            .map_err(drawing)?;
        let cold = format!("cold below {}", report.threshold);
        chart
            .draw_series(DashedLineSeries::new([(0.0, report.threshold), (horizon, report.threshold)], 4, 3, ShapeStyle::from(&RGBColor(0x88, 0x88, 0x88))))
            .map_err(drawing)?
            .label(cold)
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], RGBColor(0x88, 0x88, 0x88)));
        let half_bin = report.bin_days as f64 / 2.0;
        for (i, t) in report.types.iter().enumerate() {
            let c = colour(i);
            let after = t.recommended_offset_days.map_or("never cold".to_string(), |d| format!("archive after {d} d"));
            chart
                .draw_series(LineSeries::new(t.points.iter().map(|(d, r)| (*d as f64 + half_bin, r.max(floor))), c.stroke_width(2)))
                .map_err(drawing)?
                .label(format!("{} ({after})", t.asset_type))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], c.stroke_width(2)));
            if let Some(d) = t.recommended_offset_days {
                chart.draw_series(DashedLineSeries::new([(d as f64, floor), (d as f64, max)], 2, 2, c.into())).map_err(drawing)?;
            }
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).position(SeriesLabelPosition::UpperRight).draw().map_err(drawing)?;
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}

/// The savings case as a line chart: each strategy's cost cumulated month by month, the status
/// quo first, with each strategy's saving at the horizon in its legend.
pub fn savings(c: &Comparison) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (820, 440)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let months = c.assumptions.months as usize;
        let max = c.strategies.iter().map(|s| s.cumulative(months)).fold(1.0, f64::max) * 1.05;
        let mut chart = ChartBuilder::on(&root)
            .caption(format!("Cumulative cost over {months} months, {} assets", c.assets), ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..months as f64, 0f64..max)
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .x_desc("months")
            .y_desc("USD")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(drawing)?;
        for (i, s) in c.strategies.iter().enumerate() {
            let colour = colour(i);
            let mut sum = 0.0;
            let points: Vec<(f64, f64)> = std::iter::once((0.0, 0.0))
                .chain(s.monthly.iter().enumerate().map(|(m, v)| {
                    sum += v;
                    ((m + 1) as f64, sum)
                }))
                .collect();
            let saved = c.saved(&s.strategy, months).map_or(String::new(), |p| format!(", {:.0} % saved", p * 100.0));
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                .map_err(drawing)?
                .label(format!("{}{saved}", s.strategy))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2)));
        }
        chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).position(SeriesLabelPosition::UpperLeft).draw().map_err(drawing)?;
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}

/// Files (top) and bytes (bottom) moved per day, one bar per action and class in each day's
/// group, as the dashboard shows them on AWS.
pub fn activity(rows: &[ActivityRow]) -> Result<String> {
    let days: Vec<_> = rows.iter().map(|r| r.day).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let series: Vec<(String, String)> = rows.iter().map(|r| (r.action.clone(), r.class.clone())).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
    let at: BTreeMap<(chrono::NaiveDate, &str, &str), &ActivityRow> = rows.iter().map(|r| ((r.day, r.action.as_str(), r.class.as_str()), r)).collect();
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (820, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(drawing)?;
        let (top, bottom) = root.split_vertically(280);
        let width = 0.8 / series.len().max(1) as f64;
        let label = |x: &f64| days.get(x.round() as usize).filter(|_| (x - x.round()).abs() < 0.01).map(|d| d.to_string()).unwrap_or_default();
        for (area, title, unit, value) in [
            (&top, "Files moved per day", "files", Box::new(|r: &ActivityRow| r.files as f64) as Box<dyn Fn(&ActivityRow) -> f64>),
            (&bottom, "Bytes moved per day", "bytes", Box::new(|r: &ActivityRow| r.bytes as f64)),
        ] {
            let max = rows.iter().map(&value).fold(1.0, f64::max) * 1.15;
            let mut chart = ChartBuilder::on(area)
                .caption(title, ("sans-serif", 16))
                .margin(12)
                .x_label_area_size(30)
                .y_label_area_size(70)
                .build_cartesian_2d(-0.5f64..(days.len().max(1) as f64 - 0.5), 0f64..max)
                .map_err(drawing)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(days.len().clamp(1, 12) * 2 + 1)
                .x_label_formatter(&label)
                .y_desc(unit)
                .draw()
                .map_err(drawing)?;
            for (j, (action, class)) in series.iter().enumerate() {
                let c = colour(j);
                let bars = days.iter().enumerate().filter_map(|(i, day)| {
                    let r = at.get(&(*day, action.as_str(), class.as_str()))?;
                    let x0 = i as f64 - 0.4 + j as f64 * width;
                    Some(Rectangle::new([(x0, 0.0), (x0 + width * 0.9, value(r))], c.filled()))
                });
                chart
                    .draw_series(bars)
                    .map_err(drawing)?
                    .label(format!("{action} {class}"))
                    .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
            }
            chart.configure_series_labels().background_style(WHITE.mix(0.8)).border_style(BLACK).position(SeriesLabelPosition::UpperRight).draw().map_err(drawing)?;
        }
        root.present().map_err(drawing)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn the_access_chart_has_a_line_and_a_legend_per_type() {
        use slm_core::domain::report::TypeCurve;
        let curve = |t: &str, points: Vec<(i64, f64)>, after| TypeCurve { asset_type: t.into(), assets: 10, points, recommended_offset_days: after, projected: None };
        let report = AccessReport {
            bin_days: 7,
            horizon_days: 182,
            threshold: 0.01,
            target: slm_core::domain::StorageClass::GlacierIr,
            types: vec![curve("editorial", vec![(0, 1.0), (7, 0.2), (14, 0.001)], Some(14)), curve("vfx_plate", vec![(0, 0.0), (7, 0.0)], None)],
        };
        let svg = access(&report).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        for text in ["editorial (archive after 14 d)", "vfx_plate (never cold)", "cold below 0.01", "days since launch"] {
            assert!(svg.contains(text), "{text} is not in the chart");
        }
        // a line of each type's colour through its points, and its legend's
        let lines = |c: RGBColor| svg.matches(&format!(r##"<polyline fill="none" opacity="1" stroke="#{:02X}{:02X}{:02X}" stroke-width="2""##, c.0, c.1, c.2)).count();
        assert_eq!((lines(colour(0)), lines(colour(1))), (2, 2), "{svg}");
    }

    #[test]
    fn the_activity_chart_has_a_bar_per_action_class_and_day_and_names_each_in_its_legend() {
        let day = |d| NaiveDate::from_ymd_opt(2026, 12, d).unwrap();
        let row = |d, action: &str, files| ActivityRow { day: day(d), action: action.into(), class: "GLACIER".into(), files, bytes: files * 1024 };
        let rows = [row(5, "archive", 300), row(6, "archive", 100), row(6, "restore", 50), row(6, "purge", 20)];
        let svg = activity(&rows).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        for name in ["archive GLACIER", "restore GLACIER", "purge GLACIER", "2026-12-05", "2026-12-06", "Files moved per day", "Bytes moved per day"] {
            assert!(svg.contains(name), "{name} is not in the chart");
        }
        // four bars of files, four of bytes, and three legend swatches in each panel, in the
        // series' colours (the rest are backgrounds and borders)
        let coloured = |c: RGBColor| svg.matches(&format!(r##"opacity="1" fill="#{:02X}{:02X}{:02X}""##, c.0, c.1, c.2)).count();
        assert_eq!((coloured(colour(0)), coloured(colour(1)), coloured(colour(2))), (2 * 2 + 2, 2 + 2, 2 + 2), "archive, purge, restore");
    }
}
