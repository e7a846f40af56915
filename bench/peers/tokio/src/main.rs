//! tokio-peer: the Tokio 1.x (current_thread runtime) peer of corun's
//! benchmarks. One workload per invocation:
//!
//!     tokio-peer W1 [N]   spawn N tasks returning an integer, await every
//!                         handle in spawn order             -> ns/task
//!     tokio-peer W2 [N]   the same through a JoinSet, joined in completion
//!                         order with join_next              -> ns/task
//!     tokio-peer W3 [N]   N tasks each sleeping 0.1 s concurrently
//!                         -> wall time over 0.1 s (ms), peak RSS per task
//!     tokio-peer W4 [M]   ping-pong: M one-way hand-offs (M/2 round trips)
//!                         between two tasks over two unbounded channels
//!                                                           -> ns/msg
//!     tokio-peer W5 [N]   N tasks behind Semaphore(64): the spawner acquires
//!                         a permit before each spawn and moves it into the
//!                         task, which yields once holding it -> ns/task
//!     tokio-peer W6 [N]   N tasks parked on a wait (a shared Notify)
//!                         -> RSS per idle task
//!
//! W3's clock runs from the first spawn to the last await, so its overhead
//! includes spawning the N tasks; with TOKIO_PEER_PHASES set it also prints
//! (to stderr) when spawning ended and the first and last task finished.
//!
//! Output: one line, `W1 <value> ns/task`, `W3 <ms> ms <bytes> B/task`, ...
//! Times are std::time::Instant around the workload only (runtime start and
//! stop are outside). Memory: VmHWM is reset (`5` > /proc/self/clear_refs),
//! then VmHWM after the workload minus VmRSS before, divided by N; the Vec
//! of N JoinHandles (8 bytes a slot) is included, as corun's handle table
//! is on its side.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::{Builder, Runtime};
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::{self, JoinHandle, JoinSet};

fn runtime() -> Runtime {
    Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("building the current_thread runtime")
}

/// A field of /proc/self/status in bytes (the file gives kB).
fn status_bytes(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    for line in s.lines() {
        if let Some(rest) = line.strip_prefix(field) {
            if let Some(rest) = rest.strip_prefix(':') {
                let kb: u64 = rest
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse()
                    .expect("parsing /proc/self/status");
                return kb * 1024;
            }
        }
    }
    panic!("{} not in /proc/self/status", field);
}

/// Resets VmHWM to the current RSS (Linux >= 4.0), then returns VmRSS.
fn rss_before() -> u64 {
    // Best effort: if the reset fails, VmHWM is still >= the peak we want.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    status_bytes("VmRSS")
}

fn per_task(hwm_after: u64, rss_before: u64, n: usize) -> f64 {
    hwm_after.saturating_sub(rss_before) as f64 / n as f64
}

// W1: spawn N, await each handle in spawn order.
fn w1(n: usize) {
    let rt = runtime();
    let dt = rt.block_on(async move {
        let t0 = Instant::now();
        let mut hs: Vec<JoinHandle<u64>> = Vec::with_capacity(n);
        for i in 0..n as u64 {
            hs.push(task::spawn(async move { i }));
        }
        let mut sum: u64 = 0;
        for h in hs {
            sum += h.await.expect("task failed");
        }
        let dt = t0.elapsed();
        let n64 = n as u64;
        assert_eq!(sum, n64 * n64.saturating_sub(1) / 2, "W1: wrong sum");
        dt
    });
    println!("W1 {:.1} ns/task", dt.as_nanos() as f64 / n as f64);
}

// W2: spawn N into a JoinSet, join_next until None (completion order).
fn w2(n: usize) {
    let rt = runtime();
    let dt = rt.block_on(async move {
        let t0 = Instant::now();
        let mut set: JoinSet<u64> = JoinSet::new();
        for i in 0..n as u64 {
            set.spawn(async move { i });
        }
        let mut sum: u64 = 0;
        let mut count = 0usize;
        while let Some(r) = set.join_next().await {
            sum += r.expect("task failed");
            count += 1;
        }
        let dt = t0.elapsed();
        let n64 = n as u64;
        assert_eq!(count, n, "W2: wrong count");
        assert_eq!(sum, n64 * n64.saturating_sub(1) / 2, "W2: wrong sum");
        dt
    });
    println!("W2 {:.1} ns/task", dt.as_nanos() as f64 / n as f64);
}

// W3: N tasks each sleeping 0.1 s concurrently.
fn w3(n: usize) {
    const SLEEP: Duration = Duration::from_millis(100);
    let rt = runtime();
    let (dt, before, hwm) = rt.block_on(async move {
        let before = rss_before();
        let t0 = Instant::now();
        let mut hs: Vec<JoinHandle<()>> = Vec::with_capacity(n);
        let started = Arc::new(AtomicUsize::new(0));
        let phases = std::env::var_os("TOKIO_PEER_PHASES").is_some();
        for _ in 0..n {
            let started = started.clone();
            hs.push(task::spawn(async move {
                started.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(SLEEP).await
            }));
        }
        let t_spawned = t0.elapsed();
        let mut first = None;
        for h in hs {
            h.await.expect("task failed");
            if first.is_none() {
                first = Some(t0.elapsed());
            }
        }
        let dt = t0.elapsed();
        assert_eq!(started.load(Ordering::Relaxed), n, "W3: wrong count");
        if phases {
            eprintln!(
                "W3 phases: spawned {:?}, first done {:?}, last done {:?}",
                t_spawned, first.unwrap_or_default(), dt
            );
        }
        let hwm = status_bytes("VmHWM");
        (dt, before, hwm)
    });
    let over_ms = (dt.as_secs_f64() - SLEEP.as_secs_f64()) * 1e3;
    println!(
        "W3 {:.2} ms {:.0} B/task",
        over_ms,
        per_task(hwm, before, n)
    );
}

// W4: M one-way hand-offs (M/2 round trips) over two unbounded channels.
fn w4(m: usize) {
    let m2 = (m / 2) as u64;
    let rt = runtime();
    let dt = rt.block_on(async move {
        let (tx1, mut rx1) = mpsc::unbounded_channel::<u64>();
        let (tx2, mut rx2) = mpsc::unbounded_channel::<u64>();
        let t0 = Instant::now();
        let a = task::spawn(async move {
            for i in 0..m2 {
                tx1.send(i).expect("send");
                let r = rx2.recv().await.expect("recv");
                assert_eq!(r, i, "W4: wrong reply");
            }
            m2
        });
        let b = task::spawn(async move {
            for _ in 0..m2 {
                let v = rx1.recv().await.expect("recv");
                tx2.send(v).expect("send");
            }
            m2
        });
        let na = a.await.expect("ping failed");
        let nb = b.await.expect("pong failed");
        let dt = t0.elapsed();
        assert!(na == m2 && nb == m2, "W4: wrong counts");
        dt
    });
    println!("W4 {:.1} ns/msg", dt.as_nanos() as f64 / (2 * m2) as f64);
}

// W5: N tasks behind Semaphore(64); each yields once holding its permit.
fn w5(n: usize) {
    const LIMIT: usize = 64;
    let rt = runtime();
    let dt = rt.block_on(async move {
        let sem = Arc::new(Semaphore::new(LIMIT));
        let done = Arc::new(AtomicUsize::new(0));
        let t0 = Instant::now();
        for _ in 0..n {
            let permit = sem.clone().acquire_owned().await.expect("acquire");
            let done = done.clone();
            // The handle is dropped (detached); completion is observed
            // through the permits coming back.
            drop(task::spawn(async move {
                let _p = permit;
                task::yield_now().await;
                done.fetch_add(1, Ordering::Relaxed);
            }));
        }
        let all = sem
            .acquire_many(LIMIT as u32)
            .await
            .expect("acquire_many");
        let dt = t0.elapsed();
        drop(all);
        assert_eq!(done.load(Ordering::Relaxed), n, "W5: wrong count");
        dt
    });
    println!("W5 {:.1} ns/task", dt.as_nanos() as f64 / n as f64);
}

// W6: N tasks parked on a wait (a shared Notify); RSS per idle task.
fn w6(n: usize) {
    let rt = runtime();
    let (before, hwm) = rt.block_on(async move {
        let notify = Arc::new(Notify::new());
        let parked = Arc::new(AtomicUsize::new(0));
        let before = rss_before();
        let mut hs: Vec<JoinHandle<()>> = Vec::with_capacity(n);
        for _ in 0..n {
            let notify = notify.clone();
            let parked = parked.clone();
            hs.push(task::spawn(async move {
                let w = notify.notified();
                parked.fetch_add(1, Ordering::Relaxed);
                w.await; // first poll registers the waiter, then parks
            }));
        }
        // Let every task run up to its wait.
        while parked.load(Ordering::Relaxed) < n {
            task::yield_now().await;
        }
        task::yield_now().await;
        let hwm = status_bytes("VmHWM");
        notify.notify_waiters();
        for h in hs {
            h.await.expect("task failed");
        }
        (before, hwm)
    });
    println!("W6 {:.0} B/task", per_task(hwm, before, n));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: tokio-peer W1|W2|W3|W4|W5|W6 [N]";
    let w = args.get(1).map(|s| s.to_ascii_uppercase()).unwrap_or_else(|| {
        eprintln!("{}", usage);
        std::process::exit(2)
    });
    let default_n = match w.as_str() {
        "W1" => 1_000_000,
        "W2" => 200_000,
        "W3" => 100_000,
        "W4" => 1_000_000,
        "W5" => 200_000,
        "W6" => 100_000,
        _ => {
            eprintln!("{}", usage);
            std::process::exit(2)
        }
    };
    let n: usize = match args.get(2) {
        Some(s) => match s.replace('_', "").parse() {
            Ok(v) if v > 0 => v,
            _ => {
                eprintln!("tokio-peer: bad N {:?}", s);
                std::process::exit(2)
            }
        },
        None => default_n,
    };
    match w.as_str() {
        "W1" => w1(n),
        "W2" => w2(n),
        "W3" => w3(n),
        "W4" => w4(n),
        "W5" => w5(n),
        "W6" => w6(n),
        _ => unreachable!(),
    }
}
