//! The fleet at scale: many partitions backed up through one `Client` at high concurrency against the testkit,
//! with backups that take as long as the benchmark says. `cargo bench -p sf-backup --bench fleet`.
//!
//! The partitions are those of an application of the testkit (`FLEET_SERVICES` persisted stateful services of
//! `FLEET_PARTITIONS_PER_SERVICE` partitions), resolved through the gateway's lists first. It reports the wall
//! time against the ideal (waves × (backup time + one poll interval)), the client's CPU
//! time and peak resident memory per partition, and the connections the gateway accepted. The gateway runs in a
//! child process (this same binary, started again with `SF_BACKUP_FLEET_GATEWAY` set), so the client's CPU and
//! memory are its own. Linux only: the figures come from `/proc/self`.
//!
//! Settings, as environment variables (the defaults are issue #18's benchmark):
//! `FLEET_SERVICES` (10) × `FLEET_PARTITIONS_PER_SERVICE` (100) partitions, `FLEET_CONCURRENCY` (100),
//! `FLEET_BACKUP_MS` (2000: 500 Accepted, then BackupInProgress), `FLEET_POLL_MS` (1000, constant).
#![forbid(unsafe_code)]

use std::future::{IntoFuture, poll_fn};
use std::io::{BufRead, BufReader, Write};
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_core::Stream;
use sf_backup::topology::FabricName;
use sf_backup::{Client, Uuid, WaitOptions};
use sf_backup_testkit::{ApplicationConfig, Config, Gateway, ServiceConfig, Topology};

const CHILD: &str = "SF_BACKUP_FLEET_GATEWAY";
const APPLICATION: &str = "fabric:/BenchApp";
/// Linux's `USER_HZ`, the unit of the CPU times in `/proc/self/stat` (100 on every mainstream kernel build).
const TICKS_PER_SECOND: u64 = 100;

fn setting(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a whole number")),
        Err(_) => default,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is accepted and ignored (there is one benchmark).
    if std::env::var_os(CHILD).is_some() {
        return gateway_process();
    }
    if std::env::args().any(|a| a == "--list") {
        println!("fleet: bench");
        return;
    }
    let services = setting("FLEET_SERVICES", 10);
    let per_service = setting("FLEET_PARTITIONS_PER_SERVICE", 100);
    let concurrency = setting("FLEET_CONCURRENCY", 100);
    let backup = Duration::from_millis(setting("FLEET_BACKUP_MS", 2000));
    let poll = Duration::from_millis(setting("FLEET_POLL_MS", 1000));
    let partitions = services * per_service;

    let mut child = Command::new(std::env::current_exe().expect("the benchmark's own path"))
        .env(
            CHILD,
            format!("{} {services} {per_service}", backup.as_millis()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the gateway process");
    let mut from_child = BufReader::new(child.stdout.take().expect("piped"));
    let mut to_child = child.stdin.take().expect("piped");
    let mut url = String::new();
    from_child
        .read_line(&mut url)
        .expect("the gateway's address");
    let url = url.trim().to_owned();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let client = Client::new(&url).expect("client");

    let rss_before = status_kib("VmRSS");
    let cpu_before = cpu_time();
    let resolving = Instant::now();
    let application: FabricName = APPLICATION.parse().expect("a valid name");
    let resolution = runtime
        .block_on(client.resolve_application(&application).into_future())
        .expect("resolve the application");
    let resolved_in = resolving.elapsed();
    assert_eq!(resolution.partitions.len() as u64, partitions);
    let ids: Vec<_> = resolution.partition_ids().collect();
    let started = Instant::now();
    let (succeeded, failed) = runtime.block_on(async {
        let options = WaitOptions::new()
            .poll_interval(poll)
            .max_poll_interval(poll);
        let mut fleet = client
            .backup_partitions(ids)
            .concurrency(concurrency as usize)
            .wait_options(options);
        let (mut succeeded, mut failed) = (0u64, 0u64);
        while let Some(outcome) = poll_fn(|cx| Pin::new(&mut fleet).poll_next(cx)).await {
            match outcome.result {
                Ok(_) => succeeded += 1,
                Err(error) => {
                    failed += 1;
                    eprintln!("{}: {error}", outcome.partition_id);
                }
            }
        }
        (succeeded, failed)
    });
    let wall = started.elapsed();
    let cpu = cpu_time() - cpu_before;
    let peak_kib = status_kib("VmHWM");

    writeln!(to_child, "stats").expect("ask the gateway");
    let mut stats = String::new();
    from_child
        .read_line(&mut stats)
        .expect("the gateway's counts");
    drop(to_child);
    let _ = child.wait();
    let mut counts = stats
        .split_whitespace()
        .map(|n| n.parse::<u64>().unwrap_or(0));
    let (accepted, peak_open, posts) = (
        counts.next().unwrap_or(0),
        counts.next().unwrap_or(0),
        counts.next().unwrap_or(0),
    );

    let waves = partitions.div_ceil(concurrency);
    let ideal = (backup + poll) * u32::try_from(waves).unwrap_or(u32::MAX);
    let ratio = wall.as_secs_f64() / ideal.as_secs_f64();
    let cpu_per = cpu.as_secs_f64() * 1000.0 / partitions as f64;
    let grown_kib = peak_kib.saturating_sub(rss_before);
    let kib_per = grown_kib as f64 / partitions as f64;
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let verdict = |ok: bool| if ok { "meets" } else { "MISSES" };

    println!(
        "fleet: {partitions} partitions ({services} services x {per_service}), concurrency {concurrency}, \
         {} ms backups, {} ms polls; load average before the end: {}",
        backup.as_millis(),
        poll.as_millis(),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "  resolution          {services} services, {partitions} partitions listed in {:.3} s \
         (GetServiceInfoList, then GetPartitionInfoList per service)",
        resolved_in.as_secs_f64()
    );
    println!(
        "  outcomes            {succeeded} succeeded, {failed} failed, {posts} backup requests"
    );
    println!(
        "  wall time           {:.2} s, ideal {:.2} s ({waves} waves x {:.1} s): {ratio:.3}x the ideal ({} goal <= 1.25x)",
        wall.as_secs_f64(),
        ideal.as_secs_f64(),
        (backup + poll).as_secs_f64(),
        verdict(ratio <= 1.25)
    );
    println!(
        "  client CPU          {:.3} s in all, {cpu_per:.3} ms per partition ({} goal <= 0.5 ms)",
        cpu.as_secs_f64(),
        verdict(cpu_per <= 0.5)
    );
    println!(
        "  client memory       {rss_before} KiB resident before, {peak_kib} KiB at peak: {kib_per:.1} KiB per \
         partition ({} goal <= 64 KiB), {:.1} KiB per partition in flight",
        verdict(kib_per <= 64.0),
        grown_kib as f64 / concurrency.min(partitions).max(1) as f64
    );
    println!(
        "  connections         {accepted} accepted, at most {peak_open} open at once, for concurrency {concurrency} \
         ({} goal <= the concurrency)",
        verdict(accepted <= concurrency)
    );
    assert_eq!(succeeded, partitions, "every partition must be backed up");
    assert_eq!(posts, partitions, "one backup request per partition");
}

/// The child: a testkit gateway whose backups take the given time; prints its URL, then on "stats" the
/// connections accepted, the most open at once and the backup requests received.
fn gateway_process() {
    let setting = std::env::var(CHILD).unwrap_or_default();
    let mut numbers = setting
        .split_whitespace()
        .map(|n| n.parse::<u64>().unwrap_or(0));
    let (backup_ms, services, per_service) = (
        numbers.next().unwrap_or(2000),
        numbers.next().unwrap_or(10),
        numbers.next().unwrap_or(100),
    );
    let mut application = ApplicationConfig::new(APPLICATION);
    for service in 0..services {
        let ids: Vec<Uuid> = (0..per_service).map(|_| Uuid::new_v4()).collect();
        application = application.service(
            ServiceConfig::stateful_persisted(format!("{APPLICATION}/Service{service}"))
                .uniform_int64_range(ids),
        );
    }
    let accepted_ms = backup_ms.min(500);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let gateway = Gateway::start(
            Config {
                accepted_ms: Some(accepted_ms),
                in_progress_ms: Some(backup_ms - accepted_ms),
                ..Config::default()
            }
            .with_topology(Topology::empty().application(application)),
        )
        .await
        .expect("start the gateway");
        println!("{}", gateway.url());
        let handle = gateway.handle();
        tokio::task::spawn_blocking(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if line.trim() == "stats" {
                    let posts = handle
                        .journal()
                        .iter()
                        .filter(|request| request.method == "POST")
                        .count();
                    println!(
                        "{} {} {posts}",
                        handle.connections_accepted(),
                        handle.connections_peak()
                    );
                }
            }
        })
        .await
        .expect("stdin reader");
    });
}

/// A field of `/proc/self/status` in KiB (`VmRSS` now, `VmHWM` at peak).
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// User plus system CPU time of this process (every thread), from `/proc/self/stat`.
fn cpu_time() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may contain spaces: utime and stime are the
    // 14th and 15th fields of the line, so the 12th and 13th after the name.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    Duration::from_millis(ticks * 1000 / TICKS_PER_SECOND)
}
