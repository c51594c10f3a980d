use lambda_runtime::LambdaEvent;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    slm_core::telemetry::init_lambda_logs();
    slm_core::metrics::init_from_env();
    let config = slm_core::config::Config::from_env()?;
    let handler = slm_worker::Handler::new(&slm_core::adapters::Clients::from_env().await, config);
    let handler = &handler;
    slm_core::telemetry::serve(move |e: LambdaEvent<aws_lambda_events::sqs::SqsEvent>| async move {
        let deadline = slm_core::batch::lambda::deadline(e.context.deadline);
        Ok::<_, slm_core::Error>(handler.handle(e.payload, Some(deadline)).await)
    })
    .await
}
