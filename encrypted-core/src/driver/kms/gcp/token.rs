//! OAuth access tokens: the token endpoint's and the metadata server's replies, and the
//! cache that keeps a token until shortly before it expires.

use std::future::Future;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// A token is dropped this long before it expires (at most; a fifth of its lifetime
/// when that is shorter), so that no request goes out with a token about to expire.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// One access token and when to stop using it.
pub(super) struct Token {
    pub(super) value: Zeroizing<String>,
    refresh_at: Instant,
}

impl Token {
    /// A token valid for `expires_in` seconds from `now`.
    pub(super) fn new(value: Zeroizing<String>, expires_in: u64, now: Instant) -> Self {
        let lifetime = Duration::from_secs(expires_in);
        let margin = REFRESH_MARGIN.min(lifetime / 5);
        Self {
            value,
            refresh_at: now + lifetime.saturating_sub(margin),
        }
    }

    pub(super) fn is_fresh(&self, now: Instant) -> bool {
        now < self.refresh_at
    }
}

/// Tokens by OAuth scope (libmongocrypt derives the scope from the key's endpoint). The
/// lock is held while a token is fetched, so that concurrent callers share one fetch.
#[derive(Default)]
pub(super) struct TokenCache {
    tokens: tokio::sync::Mutex<Vec<(String, Token)>>,
}

impl TokenCache {
    /// The cached token for `scope`, or the one `fetch` gets (then cached).
    pub(super) async fn get<F>(&self, scope: &str, fetch: F) -> crate::Result<Zeroizing<String>>
    where
        F: Future<Output = crate::Result<Token>>,
    {
        let mut tokens = self.tokens.lock().await;
        let now = Instant::now();
        tokens.retain(|(_, token)| token.is_fresh(now));
        if let Some((_, token)) = tokens.iter().find(|(cached, _)| cached == scope) {
            return Ok(token.value.clone());
        }
        let token = fetch.await?;
        let value = token.value.clone();
        tokens.push((scope.to_owned(), token));
        Ok(value)
    }

    /// Forgets `value` for `scope`: the KMS said it is no longer valid.
    pub(super) async fn forget(&self, scope: &str, value: &str) {
        self.tokens
            .lock()
            .await
            .retain(|(cached, token)| cached != scope || token.value.as_str() != value);
    }
}

/// The fields of a token reply (`access_token`, `expires_in`), from the OAuth token
/// endpoint or the metadata server; the token is borrowed from the zeroized reply and
/// copied once into a zeroizing string.
pub(super) fn parse_reply(reply: &[u8]) -> Option<(Zeroizing<String>, u64)> {
    #[derive(serde::Deserialize)]
    struct Reply<'a> {
        #[serde(borrow)]
        access_token: &'a str,
        #[serde(default)]
        expires_in: u64,
    }
    let reply: Reply<'_> = serde_json::from_slice(reply).ok()?;
    let valid =
        !reply.access_token.is_empty() && reply.access_token.bytes().all(|b| b.is_ascii_graphic());
    valid.then(|| {
        (
            Zeroizing::new(reply.access_token.to_owned()),
            reply.expires_in,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_token_replies() {
        let (token, expires_in) =
            parse_reply(br#"{"access_token":"ya29.abc","expires_in":3599,"token_type":"Bearer"}"#)
                .unwrap();
        assert_eq!((token.as_str(), expires_in), ("ya29.abc", 3599));
        // A token that would break the Authorization header is refused.
        assert!(parse_reply(br#"{"access_token":"a\r\nb: c","expires_in":1}"#).is_none());
        assert!(parse_reply(br#"{"error":"invalid_grant"}"#).is_none());
    }

    #[test]
    fn tokens_are_dropped_before_they_expire() {
        let now = Instant::now();
        let long = Token::new(Zeroizing::new("t".to_owned()), 3600, now);
        assert!(long.is_fresh(now + Duration::from_secs(3539)));
        assert!(!long.is_fresh(now + Duration::from_secs(3540)));
        let short = Token::new(Zeroizing::new("t".to_owned()), 10, now);
        assert!(short.is_fresh(now + Duration::from_secs(7)));
        assert!(!short.is_fresh(now + Duration::from_secs(8)));
        assert!(!Token::new(Zeroizing::new("t".to_owned()), 0, now).is_fresh(now));
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let cache = TokenCache::default();
        let fetches = AtomicUsize::new(0);
        let fetch = || async {
            fetches.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(Token::new(
                Zeroizing::new("t".to_owned()),
                3600,
                Instant::now(),
            ))
        };
        let (a, b) = tokio::join!(cache.get("s", fetch()), cache.get("s", fetch()));
        assert_eq!((a.unwrap().as_str(), b.unwrap().as_str()), ("t", "t"));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        cache.forget("s", "t").await;
        cache.get("s", fetch()).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }
}
