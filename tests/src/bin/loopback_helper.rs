//! Test helper: joins the cgroup2 directory given as the first argument, runs loopback TCP
//! connections (`sockops::record::loopback::run_connections`; the second argument is how
//! many, `--ipv6` for ::1) and prints the options read back, one JSON line per connection
//! (`[client, server]`). Tests run it as the only process of a cgroup they created.

use std::path::PathBuf;
use std::process::ExitCode;

use sockops::record::loopback;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(cgroup), Some(count)) = (args.first(), args.get(1)) else {
        eprintln!("usage: loopback_helper CGROUP COUNT [--ipv6]");
        return ExitCode::from(2);
    };
    let Ok(count) = count.parse::<usize>() else {
        eprintln!("loopback_helper: COUNT {count:?} is not a number");
        return ExitCode::from(2);
    };
    let ipv6 = args.iter().any(|a| a == "--ipv6");
    if let Err(e) = loopback::join_cgroup(&PathBuf::from(cgroup)) {
        eprintln!("loopback_helper: cannot join {cgroup}: {e}");
        return ExitCode::from(1);
    }
    match loopback::run_connections(count, ipv6) {
        Ok(reports) => {
            for r in reports {
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loopback_helper: {e}");
            ExitCode::from(1)
        }
    }
}
