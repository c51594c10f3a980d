use lambda_runtime::{LambdaEvent, service_fn};
use slm_reconciler::{Handler, Invocation};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    slm_core::telemetry::init_json_logs();
    let config = slm_core::config::Config::from_env()?;
    let handler = Handler::new(&slm_core::adapters::Clients::from_env().await, config);
    let handler = &handler;
    lambda_runtime::run(service_fn(move |e: LambdaEvent<serde_json::Value>| async move {
        match Invocation::parse(e.payload)? {
            Invocation::Schedule(event) => Ok::<_, lambda_runtime::Error>(serde_json::to_value(handler.handle_schedule(event).await?)?),
            Invocation::Queue(event) => Ok(serde_json::to_value(handler.handle_queue(event).await)?),
        }
    }))
    .await
}
