//! Errors of the core. Each variant maps to a stable [`ErrorKind`] name that Step Functions
//! Retry/Catch clauses and API responses can match on.

use std::error::Error as StdError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

type Source = Box<dyn StdError + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input is wrong; retrying the same input cannot succeed.
    #[error("invalid input: {0}")]
    Validation(String),
    /// The thing asked for does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The caller may not do this: not a registered application, or beyond its grants.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request conflicts with the current state (for example another active task).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A transient failure (throttling, timeouts, 5xx): retry later.
    #[error("retryable failure in {operation}")]
    Retryable {
        operation: &'static str,
        #[source]
        source: Source,
    },
    /// A failure of a dependency that retrying will not fix.
    #[error("{operation} failed")]
    Dependency {
        operation: &'static str,
        #[source]
        source: Source,
    },
    /// Configuration missing or malformed.
    #[error("configuration: {0}")]
    Config(String),
}

/// Stable names of error classes, used as Step Functions error names and in API responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Validation,
    NotFound,
    Forbidden,
    Conflict,
    Retryable,
    Dependency,
    Config,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Validation => "Validation",
            ErrorKind::NotFound => "NotFound",
            ErrorKind::Forbidden => "Forbidden",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::Retryable => "Retryable",
            ErrorKind::Dependency => "Dependency",
            ErrorKind::Config => "Config",
        }
    }
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Validation(_) => ErrorKind::Validation,
            Error::NotFound(_) => ErrorKind::NotFound,
            Error::Forbidden(_) => ErrorKind::Forbidden,
            Error::Conflict(_) => ErrorKind::Conflict,
            Error::Retryable { .. } => ErrorKind::Retryable,
            Error::Dependency { .. } => ErrorKind::Dependency,
            Error::Config(_) => ErrorKind::Config,
        }
    }

    pub fn is_retryable(&self) -> bool {
        self.kind() == ErrorKind::Retryable
    }

    pub fn validation(msg: impl Into<String>) -> Self {
        Error::Validation(msg.into())
    }

    pub fn dependency(operation: &'static str, source: impl Into<Source>) -> Self {
        Error::Dependency { operation, source: source.into() }
    }

    pub fn retryable(operation: &'static str, source: impl Into<Source>) -> Self {
        Error::Retryable { operation, source: source.into() }
    }

    /// This error again, for another item the same failure stopped (one commit of many
    /// events): of the same kind, its chain the message.
    pub fn again(&self, operation: &'static str) -> Self {
        let message = self.chain();
        match self.kind() {
            ErrorKind::Validation => Error::Validation(message),
            ErrorKind::NotFound => Error::NotFound(message),
            ErrorKind::Forbidden => Error::Forbidden(message),
            ErrorKind::Conflict => Error::Conflict(message),
            ErrorKind::Retryable => Error::retryable(operation, message),
            ErrorKind::Dependency => Error::dependency(operation, message),
            ErrorKind::Config => Error::Config(message),
        }
    }

    /// The whole chain of causes on one line, for logs and recorded failure reasons.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut cur = self.source();
        while let Some(e) = cur {
            out.push_str(": ");
            out.push_str(&e.to_string());
            cur = e.source();
        }
        out
    }
}
