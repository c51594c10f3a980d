//! Logging and metrics set-up shared by every binary: in Lambda, timestamped lines in the format
//! and at the level of the function's logging configuration (JSON by default, which Lambda
//! filters by each line's `level`); in a terminal, readable text.

/// The filter Lambda's application log level sets (`AWS_LAMBDA_LOG_LEVEL`: TRACE, DEBUG, INFO,
/// WARN, ERROR or FATAL), else `RUST_LOG`, else info.
fn lambda_filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> tracing_subscriber::EnvFilter {
    let level = lambda_level.and_then(|l| match l.to_ascii_lowercase().as_str() {
        "fatal" => Some("error".to_string()),
        l @ ("trace" | "debug" | "info" | "warn" | "error") => Some(l.to_string()),
        _ => None,
    });
    let directives = level.or(rust_log.map(str::to_string)).unwrap_or_else(|| "info".to_string());
    tracing_subscriber::EnvFilter::try_new(&directives).unwrap_or_else(|_| "info".into())
}

/// Logs for a function in Lambda: JSON lines (with `timestamp`, `level`, the current span's
/// fields, such as a task id) unless the function's log format is Text.
pub fn init_lambda_logs() {
    let filter = lambda_filter(std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().as_deref(), std::env::var("RUST_LOG").ok().as_deref());
    let text = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("text"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = match text {
        true => logs.with_ansi(false).try_init(),
        false => logs.json().with_current_span(true).with_span_list(false).try_init(),
    };
}

/// The span everything done for one task runs in, in every function: its log lines carry the
/// task id (`span.task_id` in JSON), so one query follows a task across the functions' logs.
pub fn task_span(task_id: &crate::domain::TaskId) -> tracing::Span {
    tracing::info_span!("task", task_id = %task_id)
}

pub fn init_text_logs(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| default_filter.into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Runs a function's handler in Lambda's runtime, and writes the metrics each invocation
/// recorded to the log when it ends ([`crate::metrics::flush`]; the function's main has called
/// [`init_lambda_logs`] and [`crate::metrics::init_from_env`]). A failed invocation reports
/// its error's kind as Lambda's `errorType` (see [`diagnostic`]).
#[cfg(feature = "lambda")]
pub async fn serve<A, R, F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    A: serde::de::DeserializeOwned,
    R: serde::Serialize,
    F: Fn(lambda_runtime::LambdaEvent<A>) -> Fut,
    Fut: Future<Output = crate::Result<R>>,
{
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        let invocation = handler(event);
        async move {
            let result = invocation.await;
            crate::metrics::flush();
            result.map_err(|e| diagnostic(&e))
        }
    }))
    .await
}

/// What Lambda reports of a failed invocation: `errorType` the error's kind (`slm.Retryable`,
/// `slm.Validation`, ...: what an alarm or a destination can tell apart), `errorMessage` its
/// whole chain of causes.
#[cfg(feature = "lambda")]
pub fn diagnostic(e: &crate::Error) -> lambda_runtime::Diagnostic {
    lambda_runtime::Diagnostic { error_type: format!("slm.{}", e.kind().as_str()), error_message: e.chain() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(feature = "lambda")]
    #[test]
    fn a_failed_invocation_reports_its_kind_and_its_causes() {
        let d = diagnostic(&crate::Error::retryable("read object", "SlowDown"));
        assert_eq!((d.error_type.as_str(), d.error_message.as_str()), ("slm.Retryable", "retryable failure in read object: SlowDown"));
        assert_eq!(diagnostic(&crate::Error::validation("bad")).error_type, "slm.Validation");
    }

    #[test]
    fn lambda_s_log_level_wins_over_rust_log_and_fatal_is_error() {
        let shown = |lambda: Option<&str>, rust: Option<&str>| lambda_filter(lambda, rust).max_level_hint().map(|l| l.to_string().to_uppercase());
        assert_eq!(shown(Some("DEBUG"), Some("error")).as_deref(), Some("DEBUG"));
        assert_eq!(shown(Some("FATAL"), None).as_deref(), Some("ERROR"));
        assert_eq!(shown(None, Some("warn")).as_deref(), Some("WARN"));
        assert_eq!(shown(None, None).as_deref(), Some("INFO"));
        assert_eq!(shown(Some("LOUD"), None).as_deref(), Some("INFO"));
    }
}
