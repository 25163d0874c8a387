//! What `explore` prints of each model's sweep: the findings table and the exploration metrics.

use crate::Strategy;
use crate::explore::Findings;
use crate::schedule::pct_bound;
use crate::subject::Subject;

pub(super) fn print_table(findings: &[Findings]) {
    println!(
        "{:<12} {:<8} {:<30} {:>8} {:>10} {:>13} {:>12}",
        "model", "verdict", "first violated", "seed", "scenarios", "time to find", "scenarios/s"
    );
    for f in findings {
        let (verdict, first, seed, time) = match f.first() {
            Some(found) => (
                "FAIL",
                found.invariant.to_string(),
                found.seed.to_string(),
                format!("{:.2} s", found.after.as_secs_f64()),
            ),
            None => ("pass", "-".into(), "-".into(), "-".into()),
        };
        println!(
            "{:<12} {:<8} {:<30} {:>8} {:>10} {:>13} {:>12.0}",
            f.model,
            verdict,
            first,
            seed,
            f.scenarios,
            time,
            f.rate()
        );
        if f.failures.len() > 1 {
            let all: Vec<String> = f
                .failures
                .iter()
                .map(|found| format!("{} (seed {})", found.invariant.code(), found.seed))
                .collect();
            println!("{:<12} violated: {}", "", all.join(", "));
        }
    }
}

pub(super) fn print_metrics(f: &Findings, strategy: Strategy) {
    println!(
        "{}: {}{} distinct interleavings, {} (state, operation) pairs, {:.0} scenarios/s",
        f.model,
        if f.interleavings.is_exact() {
            ""
        } else {
            "about "
        },
        f.interleavings.count(),
        f.coverage.len(),
        f.rate()
    );
    if f.unclassified > 0 {
        println!(
            "{}: {} more failing seeds not told apart (past {} failure classes)",
            f.model,
            f.unclassified,
            crate::explore::MAX_CLASSES
        );
    }
    if let Strategy::Pct { depth } = strategy {
        let p = f.pct;
        let k = p.estimate.max(p.steps);
        let bound = pct_bound(p.threads, k, depth);
        println!(
            "{}: pct depth {depth}: each scenario finds a given depth-{depth} bug with probability >= 1/(n*k^(d-1)) = 1/({}*{k}^{}) = {bound:.2e}",
            f.model,
            p.threads,
            depth - 1
        );
        println!(
            "{}:   n = {} threads, the most any scenario had (the client, each operation, each task of the manager's own that called the backend); k = {k}: the most steps measured was {}, and change points were drawn over each scenario's estimate (at most {}), which {} of {} scenarios exceeded",
            f.model, p.threads, p.steps, p.estimate, p.over_estimate, f.scenarios
        );
    }
}

/// After the table: which failures were expected, and why; and whether the rest held.
pub(super) fn print_expected(models: &[&dyn Subject], all: &[crate::explore::Findings]) {
    let expected: Vec<&str> = models
        .iter()
        .zip(all)
        .filter(|(m, f)| !f.failures.is_empty() && m.expected_to_fail().is_some())
        .map(|(m, _)| m.name())
        .collect();
    if let Some(why) = models.iter().find_map(|m| m.expected_to_fail())
        && !expected.is_empty()
    {
        println!(
            "\nexpected: {} ({why}; --verbose prints each)",
            expected.join(", ")
        );
    }
    let failed: Vec<&str> = models
        .iter()
        .zip(all)
        .filter(|(m, f)| !f.failures.is_empty() && m.expected_to_fail().is_none())
        .map(|(m, _)| m.name())
        .collect();
    if failed.is_empty() {
        let held: Vec<&str> = models
            .iter()
            .filter(|m| m.expected_to_fail().is_none())
            .map(|m| m.name())
            .collect();
        if !held.is_empty() {
            println!("held: {} (no violation)", held.join(", "));
        }
    } else {
        println!("unexpected failures: {} (below)", failed.join(", "));
    }
}
