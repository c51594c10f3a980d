//! slm: the operator's and developer's command line.

mod api;
mod bench;
mod demo;
mod dlq;
mod local;
mod output;
mod policy;
mod report;
mod savings;
mod security;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "slm", version, about = "Storage lifecycle management for media assets")]
struct Cli {
    #[command(flatten)]
    target: api::Target,
    /// How results are printed: tables and text for reading, or JSON for scripts.
    #[arg(long, global = true, value_enum, default_value_t = output::Output::Table, env = "SLM_OUTPUT")]
    output: output::Output,
    /// Where the local stack keeps its state (the saved stack, the keys, the emulator and its
    /// Python tools): by default .local in the checkout when run from it, else
    /// $XDG_DATA_HOME/slm (~/.local/share/slm).
    #[arg(long, global = true, visible_alias = "root", value_name = "DIR", env = "SLM_DATA_DIR")]
    data_dir: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The local stack: the emulator and the resources of template.yaml.
    Local {
        #[command(subcommand)]
        command: local::LocalCommand,
    },
    /// Assets on the local stack.
    Asset {
        #[command(subcommand)]
        command: local::AssetCommand,
    },
    /// Tasks on the local stack.
    Task {
        #[command(subcommand)]
        command: local::TaskCommand,
    },
    /// Lifecycle policies on the local stack.
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// Titles and their business dates on the local stack.
    Title {
        #[command(subcommand)]
        command: policy::TitleCommand,
    },
    /// What the policies would do on a day: actions, bytes and estimated savings; creates nothing.
    DryRun(policy::DryRunArgs),
    /// Runs the policy evaluator as its schedule would at a chosen time (creates and starts tasks).
    Evaluate(policy::EvaluateArgs),
    /// Runs the reconciler as its schedule would at a chosen time, and waits for its sweep.
    Reconcile(policy::EvaluateArgs),
    /// The applications that may call the API, with their grants (administrators only).
    App {
        #[command(subcommand)]
        command: security::AppCommand,
    },
    /// Legal holds on assets and titles: no purge while one stands.
    Hold {
        #[command(subcommand)]
        command: security::HoldCommand,
    },
    /// The audit trail of an asset, a title, a policy or a caller: every request, accepted or refused.
    Audit(security::AuditArgs),
    /// Reports on the local stack.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Media buckets on AWS.
    Bucket {
        #[command(subcommand)]
        command: BucketCommand,
    },
    /// Dead-letter queues: what waits in them, and sending it back to be processed again.
    Dlq {
        #[command(subcommand)]
        command: dlq::DlqCommand,
    },
    /// The demo: a production's assets archived, restored and purged on the local stack.
    Demo(demo::DemoArgs),
    /// Writes a synthetic production (an S3 Inventory report, its title's dates, reads per asset
    /// and day, and its policies) to assess with `slm report savings --production DIR`.
    Generate(savings::GenerateArgs),
    /// Benchmarks on the local stack (figures for BENCHMARKS.md).
    Bench(bench::BenchArgs),
    /// Prints the shell completions of slm (e.g. `slm completions bash > ~/.local/share/bash-completion/completions/slm`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Checks of template.yaml against what the code does.
    Lint {
        #[command(subcommand)]
        command: LintCommand,
    },
}

#[derive(Subcommand)]
enum LintCommand {
    /// Two-sided IAM check: every call the functions made in the end-to-end suite (as the local
    /// stack recorded it) is granted to that function in template.yaml, action and resource, and
    /// every grant is used (but for the deliberate exceptions). Run it after the suite.
    Iam {
        /// Where the sessions recorded what they used (default: SLM_IAM_USAGE_DIR, else iam-usage
        /// in the data directory).
        #[arg(long)]
        usage: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Reads per asset per day by asset type against days since launch, the recommended archive
    /// offset per type and its projected saving (text or JSON, and an SVG chart).
    Access(policy::AccessReportArgs),
    /// Files and bytes archived, restored and purged per day, by class, from the functions'
    /// metrics (text or JSON, and an SVG chart): what the deployed stack's dashboard shows.
    Activity(report::ActivityArgs),
    /// What slm's policies would save against the status quo, S3 Intelligent-Tiering and the best
    /// age-only lifecycle rule, month by month: on the registry through the API (a title, or
    /// all), or on an S3 Inventory report and access statistics (a bucket slm has not registered
    /// yet); with the policies' money-losing cases.
    Savings(savings::SavingsArgs),
    /// What running slm costs per million files archived, restored and purged, by service, and
    /// its registry at rest (the requests per file of BENCHMARKS.md, priced).
    Cost(savings::CostArgs),
}

#[derive(Subcommand)]
enum BucketCommand {
    /// Routes a media bucket's restore notifications to slm's S3-events queue (keeps its other
    /// notification configurations). Uses the usual AWS environment (profile, region).
    Connect {
        /// The media bucket to connect.
        #[arg(long)]
        bucket: String,
        /// The S3EventsQueueArn output of the deployed stack.
        #[arg(long)]
        queue_arn: String,
        /// Only restore events: new objects are not registered as they arrive (a backfill or
        /// the reconciler's sweep registers them).
        #[arg(long)]
        no_register_new: bool,
        /// Days after which S3 aborts incomplete multipart uploads (slm's large copies that a
        /// task gave up): a lifecycle rule beside the bucket's own; 0 adds none.
        #[arg(long, default_value_t = 7)]
        abort_uploads_after_days: i32,
    },
}

/// The exit codes (README, "Exit codes"): 0 done, 1 an error, 2 a usage error (clap's), and
/// what the API answered or a watched task came to.
mod exit {
    pub const ERROR: u8 = 1;
    pub const REFUSED: u8 = 3;
    pub const NOT_FOUND: u8 = 4;
    pub const CONFLICT: u8 = 5;
    pub const TASK_NOT_SUCCEEDED: u8 = 6;
}

/// A watched task ended without succeeding.
#[derive(Debug, thiserror::Error)]
#[error("task {task_id} ended {status}")]
pub struct TaskNotSucceeded {
    pub task_id: String,
    pub status: String,
}

fn exit_code(e: &anyhow::Error) -> u8 {
    if let Some(api) = e.downcast_ref::<slm_local::http_api::ApiError>() {
        return match api.status {
            401 | 403 => exit::REFUSED,
            404 => exit::NOT_FOUND,
            409 => exit::CONFLICT,
            _ => exit::ERROR,
        };
    }
    if e.downcast_ref::<TaskNotSucceeded>().is_some() {
        return exit::TASK_NOT_SUCCEEDED;
    }
    exit::ERROR
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            std::process::ExitCode::from(exit_code(&e))
        }
    }
}

async fn run() -> Result<()> {
    slm_core::telemetry::init_text_logs("warn");
    let cli = Cli::parse();
    output::set(cli.output);
    if let Some(dir) = &cli.data_dir {
        slm_local::files::set_data_dir(dir)?;
    }
    let target = &cli.target;
    match cli.command {
        Command::Local { command } => local::run_local(command).await,
        Command::Asset { command } => local::run_asset(command, &api::Api::connect(target).await?).await,
        Command::Task { command } => local::run_task(command, &api::Api::connect(target).await?).await,
        Command::Bucket { command: BucketCommand::Connect { bucket, queue_arn, no_register_new, abort_uploads_after_days } } => {
            let clients = slm_core::adapters::Clients::new(&target.aws_config().await, None);
            let abort = (abort_uploads_after_days > 0).then_some(abort_uploads_after_days);
            let how = slm_core::adapters::s3::Connection { keep_existing: true, register_new: !no_register_new, abort_incomplete_uploads_days: abort };
            let delivery = slm_core::adapters::s3::connect_bucket(&clients.s3, &bucket, &queue_arn, how).await?;
            let what = if how.register_new { "restore and object-created" } else { "restore" };
            match delivery {
                slm_core::adapters::s3::Delivery::Direct => println!("s3://{bucket} now sends its {what} events to {queue_arn} (a notification configuration of its own)"),
                slm_core::adapters::s3::Delivery::EventBridge { overlapping } => {
                    let why = match overlapping.is_empty() {
                        true => "the bucket already sends its events to EventBridge".to_string(),
                        false => format!("the bucket's own configurations {} share event types with slm's, which S3 refuses", overlapping.join(", ")),
                    };
                    println!("s3://{bucket} now sends its events to EventBridge, and the stack's S3EventsRule sends its restore and object-created events to {queue_arn}: {why}");
                    if !how.register_new {
                        println!("note: by EventBridge, new objects are registered as they arrive whatever --no-register-new says (the stack's rule is one for every media bucket)");
                    }
                }
            }
            Ok(())
        }
        Command::Dlq { command } => dlq::run(command, target).await,
        Command::Policy { command } => policy::run_policy(command, &api::Api::connect(target).await?).await,
        Command::Title { command } => policy::run_title(command, &api::Api::connect(target).await?).await,
        Command::DryRun(args) => policy::dry_run(args, &api::Api::connect(target).await?).await,
        Command::Evaluate(args) => policy::evaluate(args).await,
        Command::Reconcile(args) => policy::reconcile(args).await,
        Command::Report { command: ReportCommand::Access(args) } => policy::access_report(args).await,
        Command::Report { command: ReportCommand::Activity(args) } => report::activity(args),
        Command::Report { command: ReportCommand::Savings(args) } => savings::report(args, target).await,
        Command::Report { command: ReportCommand::Cost(args) } => savings::cost(args),
        Command::Generate(args) => savings::generate(args),
        Command::App { command } => security::run_app(command, &api::Api::connect(target).await?).await,
        Command::Hold { command } => security::run_hold(command, &api::Api::connect(target).await?).await,
        Command::Audit(args) => security::audit(args, &api::Api::connect(target).await?).await,
        Command::Demo(args) => demo::demo(args).await,
        Command::Bench(args) => bench::bench(args).await,
        Command::Lint { command: LintCommand::Iam { usage } } => lint_iam(usage),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "slm", &mut script);
            match std::io::Write::write_all(&mut std::io::stdout(), &script) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(()),
            }
        }
    }
}

fn lint_iam(usage: Option<std::path::PathBuf>) -> Result<()> {
    let started = std::time::Instant::now();
    let dir = usage.unwrap_or_else(slm_local::iam::usage_dir);
    let template = slm_local::Template::load_default()?;
    let (report, summary) = slm_local::iam::check(&template, &dir)?;
    println!("IAM check: {summary}");
    for line in report.lines() {
        println!("{line}");
    }
    let elapsed = started.elapsed().as_millis();
    if !report.passed() {
        eprintln!("IAM check FAILED: {} missing, {} unused, {} stale exceptions ({elapsed} ms)", report.missing.len(), report.unused.len(), report.stale.len());
        std::process::exit(1);
    }
    println!("IAM check passed ({elapsed} ms)");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_answer_of_the_api_and_an_unsuccessful_task_has_its_exit_code() {
        let api = |status| anyhow::Error::new(slm_local::http_api::ApiError { status, error: "E".into(), message: "m".into() });
        let codes: Vec<u8> = [403, 401, 404, 409, 400, 500].into_iter().map(|s| exit_code(&api(s))).collect();
        assert_eq!(codes, vec![3, 3, 4, 5, 1, 1]);
        let failed = anyhow::Error::new(TaskNotSucceeded { task_id: "t".into(), status: "PARTIALLY_FAILED".into() });
        assert_eq!(exit_code(&failed.context("watching")), 6, "found through context");
        assert_eq!(exit_code(&anyhow::anyhow!("no local stack")), 1);
    }
}

#[cfg(test)]
mod help {
    use super::*;
    use clap::CommandFactory;

    /// Every command says what it does, and every argument what it takes.
    #[test]
    fn every_command_and_argument_has_help() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let here = format!("{path} {}", command.get_name());
            if command.get_about().is_none() && path.contains(' ') {
                missing.push(format!("{here}: no about"));
            }
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if !matches!(id, "help" | "version") && arg.get_help().is_none() {
                    missing.push(format!("{here} --{id}: no help"));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &here, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert_eq!(missing, Vec::<String>::new());
    }
}
