use lambda_runtime::LambdaEvent;
use slm_reconciler::{Invocation, Reconciler};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    slm_core::telemetry::init_lambda_logs();
    slm_core::metrics::init_from_env();
    let config = slm_core::config::Config::from_env()?;
    let handler = Reconciler::new(&slm_core::adapters::Clients::from_env().await, config);
    let handler = &handler;
    slm_core::telemetry::serve(move |e: LambdaEvent<serde_json::Value>| async move {
        let encode = |e: serde_json::Error| slm_core::Error::dependency("encode the answer", e);
        match Invocation::parse(e.payload)? {
            Invocation::Schedule(event) => serde_json::to_value(handler.handle_schedule(event).await?).map_err(encode),
            Invocation::Queue(event) => serde_json::to_value(slm_core::batch::lambda::run(handler, event, Some(slm_core::batch::lambda::deadline(e.context.deadline))).await).map_err(encode),
        }
    })
    .await
}
