//! What the benchmark binaries read from their command line besides criterion's own options:
//! the filter (the first free argument), which also selects the rows of their summary tables.

/// Criterion options that take a value (the value is not the filter).
const TAKE_VALUES: [&str; 15] = [
    "--warm-up-time",
    "--measurement-time",
    "--sample-size",
    "--profile-time",
    "--save-baseline",
    "--baseline",
    "--baseline-lenient",
    "--load-baseline",
    "--color",
    "--output-format",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--nresamples",
    "--plotting-backend",
];

/// The first free argument (criterion's filter), skipping the values of criterion's options.
pub fn filter_argument(args: &[String]) -> Option<&str> {
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        if TAKE_VALUES.contains(&arg.as_str()) {
            rest.next();
        } else if !arg.starts_with('-') {
            return Some(arg);
        }
    }
    None
}
