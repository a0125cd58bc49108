-- Revoked gateway tokens, by token id (the JWT's `jti`). Written in the same revision-locked
-- transaction as resources, so every gateway polling the revision sees a revocation at its
-- next poll. Times are Unix seconds. `expires_at` is the token's own expiry when known: after
-- it the token is refused as expired anyway and the row may be pruned; NULL keeps it forever.
CREATE TABLE gatehouse_revoked_tokens (
    id TEXT PRIMARY KEY,
    revoked_at BIGINT NOT NULL,
    expires_at BIGINT,
    reason TEXT
);
