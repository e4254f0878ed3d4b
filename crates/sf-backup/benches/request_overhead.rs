//! Per-request overhead of the facade against a hand-written reqwest request that puts the same bytes on the
//! wire, for the backup POST and for the progress read (GET and decode: what a wait mostly does), one request at
//! a time and 64 in flight, all against the minimal loopback server in `support/`.
//!
//! Five lines per operation, each adding one layer, so the cost of each is named: `raw_reqwest` (hand-written),
//! `generated_client` (sf-backup-api alone), `generated_client_with_deadline` (plus a timer like the facade's),
//! `facade_send` (the facade with `.send().await`: plus validation, the storage conversion, the tracing span and
//! the progress conversion) and `facade` (awaiting the builder, as the docs show: plus the future's box).
//!
//! Two kinds of figures. The criterion groups give each line's time per request, one line after another. The
//! table printed at the end gives the ratios against `raw_reqwest`, measured apart from criterion: the five lines
//! run interleaved in short rounds (in a shuffled order), so load from other processes falls on all of them alike,
//! and each ratio is the median of the per-round ratios.
//!
//! Run: `cargo bench -p sf-backup --bench request_overhead`. Only the ratio table: add `-- ratios` (a filter that
//! no criterion line matches). `SF_BACKUP_BENCH_ROUNDS` sets the rounds per row of the table (default 150; 0
//! leaves the table out). Before measuring, one request of each client is captured and compared, so all of them
//! are known to send the same request (method, target, headers, body).

mod support;

use std::future::Future;
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput};
use futures_util::future::join_all;
use tokio::runtime::Runtime;

use support::{CONCURRENCY, Clients, Server};

fn main() {
    // One thread for client and server alike: the figures are then CPU per request, not scheduling luck on a
    // shared machine.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let server = runtime.block_on(Server::start());
    let clients = Clients::new(&server.base);
    support::assert_same_requests(&runtime);

    let mut criterion = Criterion::default().configure_from_args();
    criterion_groups(&mut criterion, &runtime, &clients);
    criterion.final_summary();

    let args: Vec<String> = std::env::args().collect();
    let has = |flag: &str| {
        args.iter()
            .any(|arg| arg == flag || arg.starts_with(&format!("{flag}=")))
    };
    if has("--list") || has("--profile-time") {
        return;
    }
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) criterion runs each line once, and
    // one short round checks that the table is produced.
    let plan = if has("--bench") {
        let rounds = std::env::var("SF_BACKUP_BENCH_ROUNDS")
            .ok()
            .map(|rounds| {
                rounds
                    .parse()
                    .expect("SF_BACKUP_BENCH_ROUNDS is a number of rounds")
            })
            .unwrap_or(150);
        Plan {
            rounds,
            sequential: 200,
            concurrent: 8 * CONCURRENCY,
        }
    } else {
        Plan {
            rounds: 1,
            sequential: 2,
            concurrent: CONCURRENCY,
        }
    };
    if plan.rounds > 0 {
        ratios(&runtime, &clients, &plan);
    }
}

fn criterion_groups(c: &mut Criterion, runtime: &Runtime, clients: &Clients) {
    let mut group = c.benchmark_group("backup_partition/sequential");
    sequential_settings(&mut group);
    sequential(&mut group, "raw_reqwest", runtime, || {
        support::raw_post(clients)
    });
    sequential(&mut group, "generated_client", runtime, || {
        support::generated_post(clients)
    });
    sequential(
        &mut group,
        "generated_client_with_deadline",
        runtime,
        || support::generated_post_with_deadline(clients),
    );
    sequential(&mut group, "facade_send", runtime, || {
        support::facade_send_post(clients)
    });
    sequential(&mut group, "facade", runtime, || {
        support::facade_post(clients)
    });
    group.finish();

    let mut group = c.benchmark_group("backup_partition/concurrent");
    concurrent_settings(&mut group);
    concurrent(&mut group, "raw_reqwest", runtime, || {
        support::raw_post(clients)
    });
    concurrent(&mut group, "generated_client", runtime, || {
        support::generated_post(clients)
    });
    concurrent(
        &mut group,
        "generated_client_with_deadline",
        runtime,
        || support::generated_post_with_deadline(clients),
    );
    concurrent(&mut group, "facade_send", runtime, || {
        support::facade_send_post(clients)
    });
    concurrent(&mut group, "facade", runtime, || {
        support::facade_post(clients)
    });
    group.finish();

    let mut group = c.benchmark_group("backup_progress/sequential");
    sequential_settings(&mut group);
    sequential(&mut group, "raw_reqwest", runtime, || {
        support::raw_progress(clients)
    });
    sequential(&mut group, "generated_client", runtime, || {
        support::generated_progress(clients)
    });
    sequential(
        &mut group,
        "generated_client_with_deadline",
        runtime,
        || support::generated_progress_with_deadline(clients),
    );
    sequential(&mut group, "facade_send", runtime, || {
        support::facade_send_progress(clients)
    });
    sequential(&mut group, "facade", runtime, || {
        support::facade_progress(clients)
    });
    group.finish();

    let mut group = c.benchmark_group("backup_progress/concurrent");
    concurrent_settings(&mut group);
    concurrent(&mut group, "raw_reqwest", runtime, || {
        support::raw_progress(clients)
    });
    concurrent(&mut group, "generated_client", runtime, || {
        support::generated_progress(clients)
    });
    concurrent(
        &mut group,
        "generated_client_with_deadline",
        runtime,
        || support::generated_progress_with_deadline(clients),
    );
    concurrent(&mut group, "facade_send", runtime, || {
        support::facade_send_progress(clients)
    });
    concurrent(&mut group, "facade", runtime, || {
        support::facade_progress(clients)
    });
    group.finish();
}

fn sequential_settings(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
}

fn concurrent_settings(group: &mut BenchmarkGroup<'_, WallTime>) {
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.sample_size(30);
    group.throughput(Throughput::Elements(CONCURRENCY as u64));
}

/// One criterion line: a request per iteration. Each line passes its own closure, so each measures its own
/// future type (one shared future type would be as large as the largest line's).
fn sequential<F, Fut>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    runtime: &Runtime,
    request: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    group.bench_function(name, |b| b.to_async(runtime).iter(&request));
}

/// One criterion line: [`CONCURRENCY`] requests in flight per iteration.
fn concurrent<F, Fut>(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    runtime: &Runtime,
    request: F,
) where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    group.bench_function(BenchmarkId::new(name, CONCURRENCY), |b| {
        b.to_async(runtime)
            .iter(|| join_all((0..CONCURRENCY).map(|_| request())));
    });
}

/// How much the ratio table measures: rounds per row, and requests per line and round.
struct Plan {
    rounds: usize,
    sequential: usize,
    concurrent: usize,
}

#[derive(Clone, Copy)]
enum Operation {
    Post,
    Progress,
}

/// The table's lines, in layer order; the first is the baseline.
const LINES: [&str; 5] = [
    "raw reqwest",
    "generated",
    "generated + deadline",
    "facade, send()",
    "facade",
];
const GENERATED_WITH_DEADLINE: usize = 2;
const FACADE: usize = 4;

/// One line's batch: nanoseconds per request by the wall clock and, where known, in CPU time of the thread.
#[derive(Clone, Copy)]
struct Sample {
    wall: f64,
    cpu: Option<f64>,
}

/// A row of the table: its label, whether it is a throughput row, and each line's samples (one per round).
type Row = (&'static str, bool, [Vec<Sample>; LINES.len()]);

/// Prints the ratio tables: per row, `rounds` rounds of the five lines interleaved.
fn ratios(runtime: &Runtime, clients: &Clients, plan: &Plan) {
    let rows = [
        ("backup POST, one at a time", Operation::Post, false),
        ("backup POST, 64 in flight", Operation::Post, true),
        (
            "progress GET + decode, one at a time",
            Operation::Progress,
            false,
        ),
        (
            "progress GET + decode, 64 in flight",
            Operation::Progress,
            true,
        ),
    ];
    let mut shuffle = fastrand::Rng::with_seed(19);
    let load_before = support::load_average();
    let started = Instant::now();
    let mut table: Vec<Row> = Vec::new();
    for (label, operation, in_flight) in rows {
        let requests = if in_flight {
            plan.concurrent
        } else {
            plan.sequential
        };
        let mut samples: [Vec<Sample>; LINES.len()] = Default::default();
        // One round first that is not kept: connections and caches warm for every line. The order is shuffled
        // in each round, so that no line always follows the same one.
        let mut order: [usize; LINES.len()] = std::array::from_fn(|line| line);
        for round in 0..=plan.rounds {
            shuffle.shuffle(&mut order);
            for line in order {
                let cpu_before = support::thread_cpu_time();
                let wall = batch(runtime, clients, operation, line, in_flight, requests);
                let cpu = cpu_before
                    .zip(support::thread_cpu_time())
                    .map(|(before, after)| after.saturating_sub(before));
                if round > 0 {
                    let per_request = |time: Duration| time.as_nanos() as f64 / requests as f64;
                    samples[line].push(Sample {
                        wall: per_request(wall),
                        cpu: cpu.map(per_request),
                    });
                }
            }
        }
        table.push((label, in_flight, samples));
    }
    let elapsed = started.elapsed();
    let load_after = support::load_average();

    println!();
    println!(
        "Ratios against raw reqwest, the five lines interleaved: {} rounds per row, each round {} requests per line \
         one at a time or {} with {CONCURRENCY} in flight, in a shuffled order; median of the per-round ratios \
         [quartiles]. Measured in {:.0} s; {} CPUs; load average (1, 5, 15 min) {} before, {} after.",
        plan.rounds,
        plan.sequential,
        plan.concurrent,
        elapsed.as_secs_f64(),
        std::thread::available_parallelism().map_or(0, usize::from),
        load_before.as_deref().unwrap_or("unknown"),
        load_after.as_deref().unwrap_or("unknown"),
    );
    if plan.rounds == 1 {
        println!(
            "(A check that the table is produced, from one short round: these figures mean nothing.)"
        );
    }
    if table[0].2[0][0].cpu.is_some() {
        print_table(
            "CPU time of the bench's one thread (client and server; time spent descheduled does not count)",
            &table,
            |sample| sample.cpu.unwrap_or(f64::NAN),
        );
    }
    print_table("Wall clock", &table, |sample| sample.wall);
}

fn print_table(title: &str, table: &[Row], measure: fn(&Sample) -> f64) {
    println!();
    println!("{title}:");
    println!();
    println!(
        "| | {} | facade ÷ (generated + deadline) | target |",
        LINES.join(" | ")
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (label, in_flight, samples) in table {
        let times = |line: usize| samples[line].iter().map(measure);
        // Time per request one at a time (lower is better), throughput with many in flight (higher is better).
        let ratio = |line: usize, base: usize| -> Vec<f64> {
            times(line)
                .zip(times(base))
                .map(|(line, base)| if *in_flight { base / line } else { line / base })
                .collect()
        };
        let raw = median(times(0).collect());
        let absolute = if *in_flight {
            format!("{:.1} k req/s", 1e6 / raw)
        } else {
            format!("{:.2} µs", raw / 1e3)
        };
        let facade = median(ratio(FACADE, 0));
        let (measure, target) = if *in_flight {
            ("throughput", format!("≥ 0.95: {}", met(facade >= 0.95)))
        } else {
            ("time", format!("≤ 1.05: {}", met(facade <= 1.05)))
        };
        let layers: Vec<String> = (1..LINES.len())
            .map(|line| shown(&ratio(line, 0)))
            .collect();
        println!(
            "| {label}, {measure} | {absolute} | {} | {} | {target} |",
            layers.join(" | "),
            shown(&ratio(FACADE, GENERATED_WITH_DEADLINE)),
        );
    }
    println!();
}

fn met(met: bool) -> &'static str {
    if met { "met" } else { "missed" }
}

/// Runs one line's batch of `requests` and returns the time it took.
fn batch(
    runtime: &Runtime,
    clients: &Clients,
    operation: Operation,
    line: usize,
    in_flight: bool,
    requests: usize,
) -> Duration {
    match (operation, line) {
        (Operation::Post, 0) => timed(runtime, in_flight, requests, || support::raw_post(clients)),
        (Operation::Post, 1) => timed(runtime, in_flight, requests, || {
            support::generated_post(clients)
        }),
        (Operation::Post, 2) => timed(runtime, in_flight, requests, || {
            support::generated_post_with_deadline(clients)
        }),
        (Operation::Post, 3) => timed(runtime, in_flight, requests, || {
            support::facade_send_post(clients)
        }),
        (Operation::Post, _) => timed(runtime, in_flight, requests, || {
            support::facade_post(clients)
        }),
        (Operation::Progress, 0) => timed(runtime, in_flight, requests, || {
            support::raw_progress(clients)
        }),
        (Operation::Progress, 1) => timed(runtime, in_flight, requests, || {
            support::generated_progress(clients)
        }),
        (Operation::Progress, 2) => timed(runtime, in_flight, requests, || {
            support::generated_progress_with_deadline(clients)
        }),
        (Operation::Progress, 3) => timed(runtime, in_flight, requests, || {
            support::facade_send_progress(clients)
        }),
        (Operation::Progress, _) => timed(runtime, in_flight, requests, || {
            support::facade_progress(clients)
        }),
    }
}

/// The time `requests` requests take, one at a time or [`CONCURRENCY`] in flight.
fn timed<F, Fut>(runtime: &Runtime, in_flight: bool, requests: usize, request: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    runtime.block_on(async {
        let started = Instant::now();
        if in_flight {
            for _ in 0..requests.div_ceil(CONCURRENCY) {
                join_all((0..CONCURRENCY).map(|_| request())).await;
            }
        } else {
            for _ in 0..requests {
                request().await;
            }
        }
        started.elapsed()
    })
}

/// The median and quartiles of a line's ratios, as a table cell.
fn shown(ratios: &[f64]) -> String {
    let mut sorted = ratios.to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    format!("{:.3} [{:.3}, {:.3}]", at(0.5), at(0.25), at(0.75))
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
