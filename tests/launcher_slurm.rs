//! The Slurm launcher for real: a private single-node cluster from the distribution's
//! packages (scripts/slurm-local.sh), `configs/slurm/submit.sh --wait` submitting a
//! 3-shard array job and its afterok merge, and the merged result against the
//! unsharded run. Outside CI the test is skipped with a note when slurm-wlm or munge
//! is not installed; in CI (CI=true) it must run.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::sums::{assert_same_background, assert_same_sums};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn have(prog: &str) -> bool {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .any(|d| Path::new(d).join(prog).exists())
}

/// Stops the cluster however the test ends.
struct Cluster(PathBuf);

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/slurm-local.sh"))
            .arg("stop")
            .arg(&self.0)
            .status();
    }
}

const FLAGS: &str =
    "--width 64 --ensemble 30 --points 8 --steps 40 --record-every 5 --ntk-every 20 --lr 0.3";

fn submit(slurm: &Path, work: &Path, out: &Path, extra: &str) -> std::process::Output {
    Command::new(repo().join("configs/slurm/submit.sh"))
        .args(["--wait", "3"])
        .env("SLURM_CONF", slurm.join("slurm.conf"))
        .env("NNCOSMO_BIN", env!("CARGO_BIN_EXE_nncosmo-gpu"))
        .env("NNCOSMO_COMMAND", "nn")
        .env("NNCOSMO_WORK", work)
        .env("NNCOSMO_OUT", out)
        .env("NNCOSMO_ARGS", format!("{FLAGS} {extra}"))
        .env("NNCOSMO_POLL", "1")
        .output()
        .unwrap()
}

#[test]
fn slurm_array_job_and_afterok_merge_equal_the_unsharded_run() {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if !(have("slurmctld") && have("slurmd") && have("munged")) {
        assert!(
            !ci,
            "CI must install slurm-wlm and munge for the launcher test"
        );
        eprintln!("skipped: install slurm-wlm and munge to run the Slurm launcher test");
        return;
    }
    let d = common::guard::scratch("slurm");
    // Unix socket paths are limited to ~100 bytes: keep the cluster's short.
    let slurm = PathBuf::from(format!("/tmp/nncosmo-slurm-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&slurm);
    let t = std::time::Instant::now();
    let st = Command::new(repo().join("scripts/slurm-local.sh"))
        .arg("start")
        .arg(&slurm)
        .output()
        .unwrap();
    let _cluster = Cluster(slurm.clone());
    assert!(
        st.status.success(),
        "slurm-local.sh start: {}{}",
        String::from_utf8_lossy(&st.stdout),
        String::from_utf8_lossy(&st.stderr)
    );
    let started = t.elapsed().as_secs_f64();

    let t = std::time::Instant::now();
    let out = d.join("merged");
    let o = submit(&slurm, &d.join("work"), &out, "");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(o.status.success(), "submit.sh --wait 3: {log}");
    assert!(
        log.contains("ARRAY_JOB=") && log.contains("MERGE_JOB="),
        "{log}"
    );
    eprintln!(
        "cluster up in {started:.1} s; 3 shards and the merge in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // The unsharded run (--shard 0/1 writes its statistics), outside Slurm.
    let whole = d.join("whole");
    let mut args: Vec<&str> = vec!["nn"];
    args.extend(FLAGS.split_whitespace());
    args.extend(["--shard", "0/1", "--out", whole.to_str().unwrap()]);
    let o = Command::new(env!("CARGO_BIN_EXE_nncosmo-gpu"))
        .args(&args)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_same_sums(&whole, &out, "slurm merge");
    assert_same_background(&whole, &out, "slurm merge");

    // A failing shard: the merge never runs, and --wait says so with a non-zero exit.
    let bad = d.join("merged-bad");
    let o = submit(&slurm, &d.join("work-bad"), &bad, "--lr -1");
    assert!(!o.status.success(), "a failed shard still merged");
    assert!(!bad.exists(), "the merge ran after a failed shard");
}
