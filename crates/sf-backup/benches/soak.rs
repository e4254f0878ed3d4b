//! Soak: one facade client sends many requests (1,000,000 by default) to the minimal loopback server of
//! `support/` over kept-alive connections, alternating the backup POST and the progress read, with a fixed number
//! in flight. It reports the process's resident memory (`VmRSS`) and the connections the server accepted at
//! the start, after a warm-up and at each quarter, and fails when the count of connections grows after the
//! warm-up (the pool should keep reusing the ones it has) or a request fails.
//!
//! Run: `cargo bench -p sf-backup --bench soak`; a quick run: `cargo bench -p sf-backup --bench soak --
//! --requests 20000`. Options: `--requests N` (default 1000000), `--in-flight N` (default 16), and `--line
//! raw|generated|deadline|facade` with `--operation post|progress|both` to run one line of the request bench
//! alone (default: the facade, both operations), for example under a profiler or valgrind.

mod support;

use std::process::ExitCode;
use std::time::Instant;

use futures_util::future::join_all;

use support::{Clients, Server};

#[derive(Clone, Copy, PartialEq)]
enum Line {
    Raw,
    Generated,
    Deadline,
    Facade,
}

#[derive(Clone, Copy, PartialEq)]
enum Operation {
    Post,
    Progress,
    Both,
}

struct Options {
    requests: u64,
    in_flight: u64,
    line: Line,
    operation: Operation,
}

const USAGE: &str = "options: --requests N (default 1000000), --in-flight N (default 16), --line \
                     raw|generated|deadline|facade (default facade), --operation post|progress|both (default both)";

fn options() -> Result<Options, String> {
    let mut options = Options {
        requests: 1_000_000,
        in_flight: 16,
        line: Line::Facade,
        operation: Operation::Both,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            // What `cargo bench` passes to every bench.
            "--bench" => {}
            "--help" | "-h" => return Err(USAGE.to_owned()),
            "--requests" => {
                options.requests = value("--requests")?
                    .replace('_', "")
                    .parse()
                    .map_err(|_| "--requests takes a number".to_owned())?;
            }
            "--in-flight" => {
                options.in_flight = value("--in-flight")?
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or("--in-flight takes a number above 0")?;
            }
            "--line" => {
                options.line = match value("--line")?.as_str() {
                    "raw" => Line::Raw,
                    "generated" => Line::Generated,
                    "deadline" => Line::Deadline,
                    "facade" => Line::Facade,
                    other => return Err(format!("unknown line {other:?}")),
                };
            }
            "--operation" => {
                options.operation = match value("--operation")?.as_str() {
                    "post" => Operation::Post,
                    "progress" => Operation::Progress,
                    "both" => Operation::Both,
                    other => return Err(format!("unknown operation {other:?}")),
                };
            }
            other => return Err(format!("unknown argument {other:?}; {USAGE}")),
        }
    }
    Ok(options)
}

fn main() -> ExitCode {
    let options = match options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("soak: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let server = runtime.block_on(Server::start());
    let clients = Clients::new(&server.base);

    let total = options.requests;
    // The warm-up: enough requests for every connection to be open and every buffer to have grown.
    let warm_up = (total / 100).clamp(options.in_flight.min(total), 10_000.max(options.in_flight));
    let mut checkpoints = vec![warm_up];
    checkpoints.extend((1..=4).map(|quarter| total * quarter / 4));
    checkpoints.retain(|&checkpoint| checkpoint >= warm_up);
    checkpoints.dedup();

    println!(
        "soak: {total} requests, {} in flight, one {} client, {}; load average (1, 5, 15 min) {}",
        options.in_flight,
        match options.line {
            Line::Raw => "raw reqwest",
            Line::Generated => "generated",
            Line::Deadline => "generated + deadline",
            Line::Facade => "facade",
        },
        match options.operation {
            Operation::Post => "backup POSTs",
            Operation::Progress => "progress reads",
            Operation::Both => "backup POSTs and progress reads alternating",
        },
        support::load_average().as_deref().unwrap_or("unknown"),
    );
    println!();
    println!("| requests | RSS | connections accepted | open | requests/s since the last row |");
    println!("|---|---|---|---|---|");
    // Prints a row of the table and returns the resident memory it shows.
    let row = |done: u64, rate: Option<f64>| {
        let rss = resident();
        println!(
            "| {done} | {} | {} | {} | {} |",
            rss.map_or("unknown".to_owned(), |kib| format!("{kib} KiB")),
            server.accepted(),
            server.open(),
            rate.map_or(String::new(), |rate| format!("{rate:.0}")),
        );
        rss
    };
    let start_rss = row(0, None);
    let mut end_rss = start_rss;
    let mut done = 0;
    let mut warm = None;
    for checkpoint in checkpoints {
        let started = Instant::now();
        runtime.block_on(run(&clients, &options, done, checkpoint));
        let rate = (checkpoint - done) as f64 / started.elapsed().as_secs_f64();
        done = checkpoint;
        end_rss = row(done, Some(rate));
        warm.get_or_insert((end_rss, server.accepted()));
    }
    let (warm_rss, warm_connections) = warm.unwrap_or((start_rss, server.accepted()));
    println!();
    if let (Some(start), Some(warm), Some(end)) = (start_rss, warm_rss, end_rss) {
        println!(
            "RSS: {start} KiB at the start, {warm} KiB after the warm-up ({warm_up} requests), {end} KiB at the \
             end: {:+} KiB since the warm-up.",
            end as i64 - warm as i64
        );
    }
    let connections = server.accepted();
    println!(
        "Connections accepted: {connections} (at most {} in flight), {warm_connections} of them by the end of the \
         warm-up.",
        options.in_flight
    );
    if connections > warm_connections {
        eprintln!(
            "soak: the client opened {} more connections after the warm-up",
            connections - warm_connections
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Requests `from..to`, by `in_flight` workers that each send one request at a time.
async fn run(clients: &Clients, options: &Options, from: u64, to: u64) {
    join_all((0..options.in_flight).map(|worker| async move {
        let mut index = from + worker;
        while index < to {
            let progress = match options.operation {
                Operation::Post => false,
                Operation::Progress => true,
                Operation::Both => index % 2 == 1,
            };
            match (options.line, progress) {
                (Line::Raw, false) => support::raw_post(clients).await,
                (Line::Raw, true) => support::raw_progress(clients).await,
                (Line::Generated, false) => support::generated_post(clients).await,
                (Line::Generated, true) => support::generated_progress(clients).await,
                (Line::Deadline, false) => support::generated_post_with_deadline(clients).await,
                (Line::Deadline, true) => support::generated_progress_with_deadline(clients).await,
                (Line::Facade, false) => support::facade_post(clients).await,
                (Line::Facade, true) => support::facade_progress(clients).await,
            }
            index += options.in_flight;
        }
    }))
    .await;
}

/// The resident memory of this process in KiB (`VmRSS` of /proc/self/status); `None` off Linux.
fn resident() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
