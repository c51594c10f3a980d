//! `slm` as `cargo install --path cli` leaves it: the built binary copied out of the checkout and
//! run from a directory outside it, with a home of its own. It reads its embedded files, never
//! the checkout's, and keeps the local stack's state in the data directory (under the home, or
//! `--root`), where it also writes and runs the emulator's scripts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A copy of the binary in a directory of its own, with a home and a working directory there.
struct Installed {
    dir: PathBuf,
    /// A free port for the emulator, so that this one is started from the data directory.
    port: u16,
    venv: Option<PathBuf>,
}

impl Installed {
    /// `name`: the test's, so that tests in one process do not share a directory.
    fn new(name: &str) -> Installed {
        let dir = std::env::temp_dir().join(format!("slm-installed-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["bin", "home", "work"] {
            std::fs::create_dir_all(dir.join(sub)).unwrap();
        }
        std::fs::copy(env!("CARGO_BIN_EXE_slm"), dir.join("bin/slm")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Installed { dir, port, venv: None }
    }

    fn home(&self) -> PathBuf {
        self.dir.join("home")
    }

    fn slm(&self, args: &[&str]) -> Output {
        let mut command = Command::new(self.dir.join("bin/slm"));
        command.args(args).current_dir(self.dir.join("work")).env("HOME", self.home()).env("SLM_LOCAL_PORT", self.port.to_string());
        for var in ["SLM_ROOT", "SLM_EMULATOR", "SLM_CHECKOUT", "SLM_DATA_DIR", "SLM_VENV", "SLM_IAM_USAGE_DIR", "SLM_AS", "SLM_OUTPUT", "SLM_API_URL", "AWS_ENDPOINT_URL", "XDG_DATA_HOME"] {
            command.env_remove(var);
        }
        if let Some(venv) = &self.venv {
            command.env("SLM_VENV", venv);
        }
        command.output().expect("the copied slm runs")
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        if self.venv.is_some() {
            self.slm(&["local", "down"]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

fn succeeded(out: &Output) -> String {
    assert!(out.status.success(), "exit {:?}\nstdout: {}\nstderr: {}", out.status.code(), text(&out.stdout), text(&out.stderr));
    text(&out.stdout)
}

fn emulator_files_in(dir: &Path) {
    for file in ["stack.sh", "moto_server.py", "requirements.txt"] {
        let embedded = slm_local::files::ALL.iter().find(|f| f.path.ends_with(file)).unwrap().embedded();
        assert_eq!(std::fs::read_to_string(dir.join("emulator").join(file)).ok().as_deref(), Some(embedded), "{file} in {}", dir.display());
    }
}

#[test]
fn outside_the_checkout_slm_reads_its_embedded_files_and_keeps_its_state_under_the_home() {
    // GIVEN slm copied out of the checkout, run from a directory outside it with a home of its own
    let slm = Installed::new("home");

    // WHEN it is asked for help, and for the local stack's status (no emulator on its port)
    let help = succeeded(&slm.slm(&["--help"]));
    let status = slm.slm(&["local", "status"]);

    // THEN the help names the data directory flag, and the status says the emulator is not
    // running, the files are the embedded ones and the state is in the home's data directory,
    // where the emulator's scripts were written
    assert!(help.contains("--data-dir <DIR>") && help.contains("--root"), "{help}");
    let data = slm.home().join(".local/share/slm");
    let stdout = text(&status.stdout);
    assert!(!status.status.success(), "{stdout}");
    assert!(stdout.contains("moto is not running"), "{stdout}");
    assert!(stdout.contains("project files: embedded in slm"), "{stdout}");
    assert!(stdout.contains(&format!("data directory: {}", data.display())), "{stdout}");
    emulator_files_in(&data);
}

#[test]
fn root_names_the_data_directory() {
    // GIVEN slm outside the checkout
    let slm = Installed::new("root");
    let root = slm.dir.join("state");

    // WHEN it is run with --root
    let status = slm.slm(&["--root", root.to_str().unwrap(), "local", "status"]);

    // THEN the state is there, and nothing under the home
    assert!(text(&status.stdout).contains(&format!("data directory: {}", root.display())), "{}", text(&status.stdout));
    emulator_files_in(&root);
    assert!(!slm.home().join(".local").exists());
}

#[test]
fn a_bench_dlq_or_report_command_asked_wrongly_is_refused_before_it_starts_anything() {
    // GIVEN slm outside the checkout, with no local stack
    let slm = Installed::new("refusals");
    let data = slm.home().join(".local/share/slm");
    for (args, says) in [
        // WHEN a bench names a fault kind that does not exist, a rate no run could bear, an
        // empty show, or a list of runs where one set of faults is asked for; or the functions'
        // memory without their binaries
        (&["bench", "--faults", "crash", "--files", "10"][..], "no fault kind \"crash\"; one of all, s3-errors, dynamodb-throttling, service-errors, lost-answers, connections, crashes, notifications"),
        (&["bench", "--faults", "crashes,bogus", "--files", "10"][..], "no fault kind \"bogus\""),
        (&["bench", "--faults", "all", "--fault-rate", "0.9"][..], "--fault-rate is a share of attempts, from 0 to 0.5, not 0.9"),
        (&["bench", "--show", "0"][..], "--show, --files-per-asset and --evaluation-cap must be positive"),
        (&["bench", "--show", "5", "--faults", "each"][..], "no fault kind \"each\""),
        (&["bench", "--lambda-memory"][..], "not run from a checkout: name the binaries' directory with --functions-dir"),
        (&["bench", "--lambda-memory", "--functions-dir", "nowhere"][..], "no slm-api, slm-planner, slm-worker, slm-completion, slm-evaluator, slm-reconciler in nowhere: build the functions first"),
        // ...or the dead letters of a deployed stack are asked for by its API's URL alone
        (&["--api-url", "http://127.0.0.1:9", "dlq", "list"][..], "slm dlq needs --stack NAME"),
    ] {
        let out = slm.slm(args);
        // THEN each is refused with what was wrong
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out.stderr));
        assert!(text(&out.stderr).contains(says), "{args:?}: {}", text(&out.stderr));
    }
    // WHEN the activity report is asked of a metrics file that is not there, or of one with a
    // broken EMF line among a function's other log lines
    let missing = slm.home().join("nothing.jsonl");
    let bad = slm.home().join("function.log");
    std::fs::write(&bad, "{\"level\":\"INFO\",\"fields\":{\"message\":\"task complete\"}}\n{\"_aws\":{\"Timestamp\":\"soon\"}}\n").unwrap();
    for (file, says) in [(&missing, "nothing.jsonl does not exist".to_string()), (&bad, "function.log:2: no _aws.Timestamp".to_string())] {
        let out = slm.slm(&["report", "activity", "--file", file.to_str().unwrap()]);
        // THEN it is refused, naming the file (and the line)
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains(&says), "{}", text(&out.stderr));
    }
    // AND no emulator was started, nor its files written
    assert!(!data.join(format!("moto-{}.pid", slm.port)).exists());
    assert!(!data.join("emulator").exists(), "{}", data.display());
}

#[test]
fn outside_the_checkout_slm_brings_up_the_local_stack_and_calls_its_api() {
    // GIVEN slm outside the checkout, sharing the checkout's emulator venv (SLM_VENV: no
    // second install), with a free port for its own emulator
    assert!(slm_local::emulator("install").unwrap().success(), "installing the emulator's venv");
    let venv = std::env::var_os("SLM_VENV").map(PathBuf::from).unwrap_or_else(|| slm_local::files::data_dir().join("venv"));
    let mut slm = Installed::new("up");
    slm.venv = Some(venv);
    let data = slm.home().join(".local/share/slm");

    // WHEN it brings the local stack up (template and state machine from the binary), and the
    // administrator lists the applications through the API (its key from the data directory)
    let up = succeeded(&slm.slm(&["local", "up"]));
    let apps = succeeded(&slm.slm(&["--output", "json", "app", "list"]));
    let status = succeeded(&slm.slm(&["local", "status"]));
    let dead = succeeded(&slm.slm(&["--output", "json", "dlq", "list"]));

    // THEN the emulator started from the data directory on its port, the stack and keys were
    // saved there, and the API answered
    assert!(up.contains(&format!("local stack is up on http://127.0.0.1:{}", slm.port)), "{up}");
    assert!(data.join(format!("moto-{}.pid", slm.port)).is_file());
    emulator_files_in(&data);
    assert!(data.join("stack.json").is_file() && data.join("credentials.json").is_file());
    let apps: serde_json::Value = serde_json::from_str(&apps).unwrap_or_else(|e| panic!("{e}: {apps}"));
    assert!(apps["applications"].is_array(), "{apps}");
    assert!(status.contains("moto answers") && status.contains("project files: embedded in slm"), "{status}");
    // ...and each source queue's dead-letter queue was found from its redrive policy, empty
    let dead: serde_json::Value = serde_json::from_str(&dead).unwrap_or_else(|e| panic!("{e}: {dead}"));
    let queues: Vec<(&str, u64)> = dead.as_array().unwrap().iter().map(|q| (q["queue"].as_str().unwrap(), q["waiting"].as_u64().unwrap())).collect();
    assert_eq!(queues, vec![("ControlQueue", 0), ("WorkQueue", 0), ("S3EventsQueue", 0), ("ReconcileQueue", 0)], "{dead}");
    assert!(dead.as_array().unwrap().iter().all(|q| q["dead_letter_queue"].as_str().is_some_and(|n| n.contains("DLQ"))), "{dead}");
    // ...and a redrive of a queue the stack does not have is refused with the ones it has
    let refused = slm.slm(&["dlq", "redrive", "--queue", "NoSuchQueue"]);
    assert!(!refused.status.success());
    assert!(text(&refused.stderr).contains("no source queue NoSuchQueue: one of ControlQueue, WorkQueue, S3EventsQueue, ReconcileQueue"), "{}", text(&refused.stderr));

    // AND `local down` stops it
    succeeded(&slm.slm(&["local", "down"]));
    assert!(!data.join(format!("moto-{}.pid", slm.port)).exists());
    assert!(!slm.slm(&["local", "status"]).status.success());
    slm.venv = None;
}
