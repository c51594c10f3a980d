//! Task executions in memory: started by name, resumed by task token, answered as Step
//! Functions and the adapter answer.

use crate::domain::{Outcome, TaskId, TaskStatus};
use crate::error::{Error, Result};
use crate::ports::Orchestrator;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// A Step Functions call, for failures a test arms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Call {
    Start,
    Succeed,
    Status,
}

#[derive(Debug, Default)]
pub struct MemoryOrchestrator {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Each execution's status, by name.
    executions: HashMap<String, String>,
    /// Executions started, (name, input), oldest first, until a test takes them.
    started: Vec<(String, String)>,
    /// Tokens not answered yet, with the execution that waits on each.
    waiting: HashMap<String, String>,
    /// The outcome each answered token was sent.
    outcomes: HashMap<String, Outcome>,
    /// Answers Step Functions refused as spent (an unknown, answered or timed-out token).
    ignored: Vec<String>,
    failing: HashMap<Call, usize>,
    tokens: u64,
}

impl State {
    /// Fails the call when a test armed it to (throttled: Retryable).
    fn fail(&mut self, call: Call, what: &'static str) -> Result<()> {
        match self.failing.get_mut(&call).filter(|n| **n > 0) {
            Some(n) => {
                *n -= 1;
                Err(Error::retryable(what, "ThrottlingException: injected"))
            }
            None => Ok(()),
        }
    }
}

impl MemoryOrchestrator {
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The token execution `name` waits on, as its callback state hands it to the planner.
    pub fn token(&self, name: &str) -> String {
        let mut s = self.state();
        s.tokens += 1;
        let token = format!("token-{}-{name}", s.tokens);
        s.waiting.insert(token.clone(), name.to_string());
        token
    }

    /// The executions started since the last take, (name, input), oldest first.
    pub fn take_started(&self) -> Vec<(String, String)> {
        std::mem::take(&mut self.state().started)
    }

    /// The outcome the token was answered with.
    pub fn outcome(&self, token: &str) -> Option<Outcome> {
        self.state().outcomes.get(token).cloned()
    }

    /// The tokens whose answers Step Functions refused as spent, which the adapter takes for
    /// success: unknown, answered already, or their execution no longer running.
    pub fn ignored(&self) -> Vec<String> {
        self.state().ignored.clone()
    }

    /// Sets an execution's status (TIMED_OUT, ABORTED...), as ended from outside slm.
    pub fn set_status(&self, name: &str, status: &str) {
        self.state().executions.insert(name.to_string(), status.to_string());
    }

    /// Step Functions forgets the execution (it does 90 days after it ended).
    pub fn forget(&self, name: &str) {
        self.state().executions.remove(name);
    }

    /// The next `times` calls of `call` fail as throttled (Retryable), doing nothing.
    pub fn fail_next(&self, call: Call, times: usize) {
        *self.state().failing.entry(call).or_default() += times;
    }
}

impl Orchestrator for MemoryOrchestrator {
    async fn start(&self, name: &str, input: String) -> Result<()> {
        let mut s = self.state();
        s.fail(Call::Start, "start execution")?;
        // ExecutionAlreadyExists, or the same start again: success, nothing new.
        if s.executions.contains_key(name) {
            return Ok(());
        }
        s.executions.insert(name.to_string(), "RUNNING".to_string());
        s.started.push((name.to_string(), input));
        Ok(())
    }

    async fn succeed(&self, token: &str, outcome: &Outcome) -> Result<()> {
        let mut s = self.state();
        s.fail(Call::Succeed, "signal task success")?;
        let execution = s.waiting.get(token).cloned();
        let running = execution.as_ref().is_none_or(|name| s.executions.get(name).is_none_or(|status| status == "RUNNING"));
        let Some(name) = execution.filter(|_| running) else {
            // InvalidToken or TaskTimedOut, which the adapter logs and takes for success.
            s.ignored.push(token.to_string());
            return Ok(());
        };
        s.waiting.remove(token);
        s.outcomes.insert(token.to_string(), outcome.clone());
        // The state machine records the outcome and ends: failed only when the task failed.
        if let Some(status) = s.executions.get_mut(&name) {
            *status = if outcome.status == TaskStatus::Failed { "FAILED" } else { "SUCCEEDED" }.to_string();
        }
        Ok(())
    }

    async fn execution_status(&self, task_id: &TaskId) -> Result<Option<String>> {
        let mut s = self.state();
        s.fail(Call::Status, "describe execution")?;
        Ok(s.executions.get(task_id.as_str()).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> TaskId {
        TaskId::parse("t-0123456789abcdef0123456789abcdef").unwrap()
    }

    fn outcome(status: TaskStatus) -> Outcome {
        Outcome { status, ..Outcome::refused(&task(), "why".into(), "ACTIVE", crate::domain::StorageClass::Standard.into()) }
    }

    #[tokio::test]
    async fn a_second_start_of_the_same_execution_starts_nothing() {
        // GIVEN an execution started
        let o = MemoryOrchestrator::new();
        o.start(task().as_str(), "first".into()).await.unwrap();
        // WHEN it is started again
        let again = o.start(task().as_str(), "second".into()).await;
        // THEN that is success, and only the first started
        assert!(again.is_ok());
        assert_eq!(o.take_started(), [(task().as_str().to_string(), "first".to_string())]);
        assert_eq!(o.execution_status(&task()).await.unwrap().as_deref(), Some("RUNNING"));
    }

    #[tokio::test]
    async fn an_answered_token_records_its_outcome_and_ends_the_execution() {
        let o = MemoryOrchestrator::new();
        o.start(task().as_str(), "{}".into()).await.unwrap();
        let token = o.token(task().as_str());
        o.succeed(&token, &outcome(TaskStatus::Succeeded)).await.unwrap();
        assert_eq!(o.outcome(&token), Some(outcome(TaskStatus::Succeeded)));
        assert_eq!(o.execution_status(&task()).await.unwrap().as_deref(), Some("SUCCEEDED"));
    }

    #[tokio::test]
    async fn a_failed_outcome_ends_the_execution_failed() {
        let o = MemoryOrchestrator::new();
        o.start(task().as_str(), "{}".into()).await.unwrap();
        o.succeed(&o.token(task().as_str()), &outcome(TaskStatus::Failed)).await.unwrap();
        assert_eq!(o.execution_status(&task()).await.unwrap().as_deref(), Some("FAILED"));
    }

    #[tokio::test]
    async fn an_unknown_or_spent_token_is_taken_for_success_and_records_nothing() {
        // GIVEN a token answered once, and one never issued
        let o = MemoryOrchestrator::new();
        o.start(task().as_str(), "{}".into()).await.unwrap();
        let token = o.token(task().as_str());
        o.succeed(&token, &outcome(TaskStatus::Succeeded)).await.unwrap();
        // WHEN each is answered (again)
        let spent = o.succeed(&token, &outcome(TaskStatus::Failed)).await;
        let unknown = o.succeed("no-such-token", &outcome(TaskStatus::Failed)).await;
        // THEN both are success as the adapter takes them, and the first outcome stays
        assert!(spent.is_ok() && unknown.is_ok());
        assert_eq!(o.ignored(), [token.clone(), "no-such-token".to_string()]);
        assert_eq!(o.outcome(&token), Some(outcome(TaskStatus::Succeeded)));
        assert_eq!(o.outcome("no-such-token"), None);
    }

    #[tokio::test]
    async fn the_token_of_an_execution_ended_from_outside_is_spent() {
        let o = MemoryOrchestrator::new();
        o.start(task().as_str(), "{}".into()).await.unwrap();
        let token = o.token(task().as_str());
        o.set_status(task().as_str(), "TIMED_OUT");
        o.succeed(&token, &outcome(TaskStatus::Succeeded)).await.unwrap();
        assert_eq!(o.outcome(&token), None);
        assert_eq!(o.execution_status(&task()).await.unwrap().as_deref(), Some("TIMED_OUT"));
    }

    #[tokio::test]
    async fn an_execution_never_started_or_forgotten_has_no_status() {
        let o = MemoryOrchestrator::new();
        assert_eq!(o.execution_status(&task()).await.unwrap(), None);
        o.start(task().as_str(), "{}".into()).await.unwrap();
        o.forget(task().as_str());
        assert_eq!(o.execution_status(&task()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn an_injected_failure_is_retryable_and_the_next_call_succeeds() {
        let o = MemoryOrchestrator::new();
        o.fail_next(Call::Start, 1);
        assert!(o.start(task().as_str(), "{}".into()).await.is_err_and(|e| e.is_retryable()));
        assert!(o.take_started().is_empty());
        o.start(task().as_str(), "{}".into()).await.unwrap();
        assert_eq!(o.take_started().len(), 1);
    }
}
