//! Statistics and the report: printed lines and tables, kept for the JSON file.

use std::time::Duration;

use serde_json::{json, Value};

use crate::ctx::Ctx;

#[derive(Default, Clone)]
pub struct Stats {
    pub v: Vec<f64>,
}
impl Stats {
    pub fn push(&mut self, x: f64) {
        self.v.push(x)
    }
    fn sorted(&self) -> Vec<f64> {
        let mut v = self.v.clone();
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v
    }
    pub fn median(&self) -> f64 {
        let v = self.sorted();
        if v.is_empty() {
            return f64::NAN;
        }
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }
    pub fn min(&self) -> f64 {
        self.sorted().first().copied().unwrap_or(f64::NAN)
    }
    pub fn max(&self) -> f64 {
        self.sorted().last().copied().unwrap_or(f64::NAN)
    }
}

/// Rows of a table: a variant's name and its samples, in the order first measured.
pub type Rows = Vec<(String, Stats)>;

pub fn get<'a>(rows: &'a [(String, Stats)], n: &str) -> Option<&'a Stats> {
    rows.iter().find(|(k, _)| k == n).map(|(_, s)| s)
}
pub fn entry<'a>(rows: &'a mut Rows, n: &str) -> &'a mut Stats {
    if let Some(i) = rows.iter().position(|(k, _)| k == n) {
        return &mut rows[i].1;
    }
    rows.push((n.to_string(), Stats::default()));
    &mut rows.last_mut().unwrap().1
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn fmt(x: f64) -> String {
    if x.is_nan() {
        "-".into()
    } else if x >= 100.0 {
        format!("{x:.1}")
    } else if x >= 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.3}")
    }
}

pub fn fmt_opt(x: Option<f64>) -> String {
    x.map(fmt).unwrap_or("-".into())
}

pub fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{} ({} / {} ms)", fmt(a / b), fmt(a), fmt(b)),
        _ => "-".into(),
    }
}

impl Ctx {
    pub fn say(&mut self, s: impl Into<String>) {
        let s = s.into();
        println!("{s}");
        self.report.push(s);
    }
    /// Prints a table: one row per variant, with ratios of each median to the references.
    pub fn table(&mut self, title: &str, unit: &str, rows: &[(String, Stats)], refs: &[&str]) {
        self.say(format!("\n### {title}\n"));
        let mut head = format!("| variant | n | median {unit} | min | max |");
        let mut sep = "|---|---|---|---|---|".to_string();
        let refs: Vec<(&str, f64)> = refs
            .iter()
            .filter_map(|r| {
                rows.iter()
                    .find(|(n, _)| n == r)
                    .map(|(_, s)| (*r, s.median()))
            })
            .collect();
        for (r, _) in &refs {
            head.push_str(&format!(" ÷ {r} |"));
            sep.push_str("---|");
        }
        self.say(head);
        self.say(sep);
        let mut jrows = serde_json::Map::new();
        for (name, s) in rows {
            let mut line = format!(
                "| {name} | {} | {} | {} | {} |",
                s.v.len(),
                fmt(s.median()),
                fmt(s.min()),
                fmt(s.max())
            );
            for (_, m) in &refs {
                line.push_str(&format!(" {} |", fmt(s.median() / m)));
            }
            self.say(line);
            jrows.insert(
                name.clone(),
                json!({"median": s.median(), "min": s.min(), "max": s.max(), "samples": s.v}),
            );
        }
        self.json
            .insert(format!("{title} ({unit})"), Value::Object(jrows));
    }
}
