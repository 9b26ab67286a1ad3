//! The shared run token: every RPC of the `gfn.v1.Learner` service carries
//! `authorization: Bearer <token>` when the learner was given a token, and the learner refuses
//! calls without it (`UNAUTHENTICATED`). The token comes from the environment variable
//! [`TOKEN_ENV`] or from a file, never from the command line (where `ps` would show it).

use std::path::Path;

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Request, Status};

/// Environment variable holding the run token (takes precedence over a token file).
pub const TOKEN_ENV: &str = "GFN_RUN_TOKEN";

/// Metadata key the token travels in.
pub const AUTHORIZATION: &str = "authorization";

/// Shortest token accepted: 16 characters (e.g. `openssl rand -hex 32` gives 64).
pub const MIN_TOKEN_LENGTH: usize = 16;

/// Why a run token was refused or could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// Fewer than [`MIN_TOKEN_LENGTH`] characters.
    #[error("the run token must have at least {MIN_TOKEN_LENGTH} characters")]
    TooShort,
    /// A space, a control character or a non-ASCII character.
    #[error("the run token must be printable ASCII without spaces")]
    NotPrintable,
    /// The token of [`TOKEN_ENV`] is not valid.
    #[error("{TOKEN_ENV}")]
    Environment(#[source] Box<TokenError>),
    /// The token file could not be read.
    #[error("reading the run token file {path:?}")]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The token file's token is not valid.
    #[error("{path:?}")]
    File {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        #[source]
        source: Box<TokenError>,
    },
}

/// A run token, checked for length and characters (printable ASCII, no spaces).
#[derive(Clone, PartialEq, Eq)]
pub struct RunToken(String);

impl std::fmt::Debug for RunToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunToken(<redacted>)")
    }
}

impl RunToken {
    /// Validates `text` (surrounding whitespace, such as a file's final newline, is dropped).
    pub fn new(text: &str) -> Result<Self, TokenError> {
        let token = text.trim();
        if token.len() < MIN_TOKEN_LENGTH {
            return Err(TokenError::TooShort);
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::NotPrintable);
        }
        Ok(Self(token.to_string()))
    }

    /// The token from [`TOKEN_ENV`] if set, else from `file` if given; `None` when neither is.
    pub fn load(file: Option<&Path>) -> Result<Option<Self>, TokenError> {
        if let Ok(text) = std::env::var(TOKEN_ENV) {
            return Self::new(&text).map(Some).map_err(|e| TokenError::Environment(Box::new(e)));
        }
        match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|source| TokenError::Read { path: path.to_path_buf(), source })?;
                Self::new(&text)
                    .map(Some)
                    .map_err(|e| TokenError::File { path: path.to_path_buf(), source: Box::new(e) })
            }
            None => Ok(None),
        }
    }

    /// The `authorization` header value: `Bearer <token>`.
    pub fn header(&self) -> MetadataValue<Ascii> {
        format!("Bearer {}", self.0).parse().expect("validated as printable ASCII")
    }

    /// Whether `header` is this token's header, compared in constant time.
    pub fn matches(&self, header: &[u8]) -> bool {
        let expected = format!("Bearer {}", self.0);
        let expected = expected.as_bytes();
        if header.len() != expected.len() {
            return false;
        }
        header.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// Client side: adds the token to every request (or nothing without a token).
#[derive(Debug, Clone, Default)]
pub struct AttachToken(Option<MetadataValue<Ascii>>);

impl AttachToken {
    /// Attaches `token` when there is one.
    pub fn new(token: Option<&RunToken>) -> Self {
        Self(token.map(RunToken::header))
    }
}

impl Interceptor for AttachToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(header) = &self.0 {
            request.metadata_mut().insert(AUTHORIZATION, header.clone());
        }
        Ok(request)
    }
}

/// Why a request was refused by [`check`]; the label of the learner's counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `authorization` header.
    Missing,
    /// A header that is not the run's token.
    Wrong,
}

impl Refusal {
    /// Counter label.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Missing => "missing_token",
            Self::Wrong => "wrong_token",
        }
    }
}

/// Server side: whether `request` carries `token`. The status never contains the token.
pub fn check<T>(token: &RunToken, request: &Request<T>) -> Result<(), (Refusal, Status)> {
    match request.metadata().get(AUTHORIZATION) {
        None => {
            Err((Refusal::Missing, Status::unauthenticated("missing run token (authorization: Bearer …)")))
        }
        Some(value) if token.matches(value.as_bytes()) => Ok(()),
        Some(_) => Err((Refusal::Wrong, Status::unauthenticated("wrong run token"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_validated_and_never_printed() {
        assert!(matches!(RunToken::new("short"), Err(TokenError::TooShort)));
        assert!(matches!(RunToken::new("has a space in it, 16+"), Err(TokenError::NotPrintable)));
        let token = RunToken::new("0123456789abcdef0123\n").unwrap();
        assert_eq!(format!("{token:?}"), "RunToken(<redacted>)");
        assert!(token.matches(b"Bearer 0123456789abcdef0123"));
        assert!(!token.matches(b"Bearer 0123456789abcdef0124"));
        assert!(!token.matches(b"0123456789abcdef0123"));
    }

    #[test]
    fn check_refuses_missing_and_wrong_tokens() {
        let token = RunToken::new("0123456789abcdef0123").unwrap();
        let mut attach = AttachToken::new(Some(&token));
        let good = attach.call(Request::new(())).unwrap();
        assert!(check(&token, &good).is_ok());
        let (refusal, status) = check(&token, &Request::new(())).unwrap_err();
        assert_eq!((refusal, status.code()), (Refusal::Missing, tonic::Code::Unauthenticated));
        let other = RunToken::new("fedcba9876543210fedc").unwrap();
        let wrong = AttachToken::new(Some(&other)).call(Request::new(())).unwrap();
        let (refusal, status) = check(&token, &wrong).unwrap_err();
        assert_eq!(refusal, Refusal::Wrong);
        assert!(!status.message().contains("fedcba"), "{status:?}");
    }
}
