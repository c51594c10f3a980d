// The API's routes make one deep future (each use case awaits the core's): its layout needs
// more than the default query depth.
#![recursion_limit = "256"]

use lambda_runtime::LambdaEvent;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    slm_core::telemetry::init_lambda_logs();
    slm_core::metrics::init_from_env();
    let config = slm_core::config::Config::from_env()?;
    let handler = slm_api::Handler::new(&slm_core::adapters::Clients::from_env().await, config);
    let handler = &handler;
    slm_core::telemetry::serve(move |e: LambdaEvent<aws_lambda_events::apigw::ApiGatewayV2httpRequest>| async move {
        Ok::<_, slm_core::Error>(handler.handle(e.payload).await)
    })
    .await
}
