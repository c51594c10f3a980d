#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    slm_core::telemetry::init_lambda_logs();
    slm_core::metrics::init_from_env();
    let config = slm_core::config::Config::from_env()?;
    slm_core::batch::lambda::serve(slm_completion::Completion::new(&slm_core::adapters::Clients::from_env().await, config)).await
}
