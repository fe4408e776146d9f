//! `--repeat`: the spread of each goal's figure over the runs of one command, as min, median
//! and max, with how many runs met it.

use std::fmt;

use super::targets::{Status, Verdict};

/// One goal's figures over every run that measured it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Spread {
    /// The goal's label.
    pub label: &'static str,
    /// What the goal demands.
    pub goal: &'static str,
    /// The smallest figure.
    pub min: f64,
    /// The median figure (the mean of the middle two for an even count).
    pub median: f64,
    /// The largest figure.
    pub max: f64,
    /// Runs that measured it.
    pub measured: usize,
    /// Runs that met it.
    pub met: usize,
    /// Runs in all.
    pub runs: usize,
}

impl fmt::Display for Spread {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let figures = format!("{:.3} / {:.3} / {:.3}", self.min, self.median, self.max);
        write!(
            f,
            "{:<3} {:<52} {:<30} met in {} of {} runs",
            self.label, self.goal, figures, self.met, self.runs
        )?;
        if self.measured < self.runs {
            write!(f, " ({} measured)", self.measured)?;
        }
        Ok(())
    }
}

/// The spread of every goal that has a figure in at least one of `runs`, in the order of the
/// first run's verdicts.
pub(crate) fn over(runs: &[Vec<Verdict>]) -> Vec<Spread> {
    let Some(first) = runs.first() else {
        return Vec::new();
    };
    first
        .iter()
        .filter_map(|template| {
            let mut values = Vec::new();
            let mut met = 0;
            for run in runs {
                if let Some(v) = run.iter().find(|v| v.label == template.label) {
                    if let Some(value) = v.value {
                        values.push(value);
                    }
                    met += usize::from(v.status == Status::Met);
                }
            }
            if values.is_empty() {
                return None;
            }
            values.sort_by(f64::total_cmp);
            let n = values.len();
            let median = if n % 2 == 1 {
                values[n / 2]
            } else {
                (values[n / 2 - 1] + values[n / 2]) / 2.0
            };
            Some(Spread {
                label: template.label,
                goal: template.goal,
                min: values[0],
                median,
                max: values[n - 1],
                measured: n,
                met,
                runs: runs.len(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(label: &'static str, value: Option<f64>, status: Status) -> Verdict {
        Verdict {
            label,
            goal: "goal",
            measured: String::new(),
            value,
            status,
        }
    }

    /// Min, median and max come from every run's figure, whatever their order; a goal no run
    /// measured is left out, and one some runs missed says so.
    #[test]
    fn spread_over_runs() {
        let runs: Vec<Vec<Verdict>> = [1.4, 1.1, 1.3, 1.2, 1.5]
            .into_iter()
            .map(|r| {
                vec![
                    verdict(
                        "1",
                        Some(r),
                        if r >= 1.3 {
                            Status::Met
                        } else {
                            Status::Missed
                        },
                    ),
                    verdict("2", None, Status::Unjudged("no rows".into())),
                ]
            })
            .collect();
        let spread = over(&runs);
        assert_eq!(spread.len(), 1);
        let s = &spread[0];
        assert_eq!((s.min, s.median, s.max), (1.1, 1.3, 1.5));
        assert_eq!((s.met, s.measured, s.runs), (3, 5, 5));
        assert_eq!(
            s.to_string(),
            "1   goal                                                 \
             1.100 / 1.300 / 1.500          met in 3 of 5 runs"
        );
        let even = over(&runs[..4]);
        assert!((even[0].median - 1.25).abs() < 1e-9);
        let mut partial = runs[..2].to_vec();
        partial[1][0].value = None;
        assert!(over(&partial)[0].to_string().ends_with("(1 measured)"));
        assert!(over(&[]).is_empty());
    }
}
