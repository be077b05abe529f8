//! `kinkgrad bench --compare BASELINE.json`: the change of every figure against an earlier run's JSON
//! (`kinkgrad bench --json`), workload by workload.

use crate::output::num;
use serde_json::{json, Value};
use std::path::Path;

/// Reads an earlier run's JSON; one line saying what is wrong otherwise.
pub fn load(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("--compare {}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| format!("--compare {}: not the JSON of `kinkgrad bench --json`: {e}", path.display()))?;
    if !v["results"].is_array() {
        return Err(format!(
            "--compare {}: no \"results\" list (not the JSON of `kinkgrad bench --json`)",
            path.display()
        ));
    }
    Ok(v)
}

/// The workload's name: its string up to the first space (`mlp_step`, `lenet_step`, `transport`).
fn short(w: &str) -> &str {
    w.split(' ').next().unwrap_or(w)
}

/// For each row of this run: the baseline's row of the same workload (same string, else same name)
/// and, for each figure present in both, old, new and new / old.
pub fn compare(baseline: &Value, rows: &[Value]) -> Vec<Value> {
    let old_rows = baseline["results"].as_array().map(Vec::as_slice).unwrap_or_default();
    rows.iter()
        .map(|r| {
            let w = r["workload"].as_str().unwrap_or("");
            let old = old_rows
                .iter()
                .find(|o| o["workload"].as_str() == Some(w))
                .or_else(|| old_rows.iter().find(|o| o["workload"].as_str().map(short) == Some(short(w))));
            let mut changes = serde_json::Map::new();
            if let (Some(o), Some(n)) = (old, r.as_object()) {
                for (k, v) in n {
                    if let (Some(new), Some(before)) = (v.as_f64(), o[k].as_f64()) {
                        changes
                            .insert(k.clone(), json!({"old": before, "new": new, "new_over_old": num(new / before)}));
                    }
                }
            }
            json!({"workload": w, "baseline_workload": old.map(|o| o["workload"].clone()), "changes": changes})
        })
        .collect()
}

/// The comparison as text: one line per figure.
pub fn text(path: &Path, cmp: &[Value]) -> String {
    let mut s = format!("change against {}\n", path.display());
    for c in cmp {
        s += &format!("{}\n", c["workload"].as_str().unwrap_or(""));
        let changes = c["changes"].as_object().filter(|m| !m.is_empty());
        let Some(changes) = changes else {
            s += "  (not in the baseline)\n";
            continue;
        };
        for (k, v) in changes {
            let (old, new) = (v["old"].as_f64().unwrap_or(f64::NAN), v["new"].as_f64().unwrap_or(f64::NAN));
            let shown = |x: f64| if k.ends_with("seconds") { format!("{:.3} ms", x * 1e3) } else { format!("{x:.3}") };
            s += &format!("  {k:<40} {:>12} -> {:>12}  new/old {:.3}\n", shown(old), shown(new), new / old);
        }
    }
    s
}
