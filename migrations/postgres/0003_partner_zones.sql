-- Partner zones (`kind: PartnerZone`), by name, as their normalised JSON document. The virtual
-- cluster, alias topics and service account a zone implies are ordinary rows of
-- gatehouse_resources, written in the same revision-locked transaction as the zone.
CREATE TABLE gatehouse_partner_zones (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL,
    revision BIGINT NOT NULL
);

-- Every gateway token issued for a zone (never the token itself: its id, the JWT's `jti`), so
-- a zone's credentials can be revoked all at once. Times are Unix seconds; `revoked_at` is
-- NULL while the token is not revoked. The rows of a zone go when the zone is offboarded (its
-- revocations stay in gatehouse_revoked_tokens until the tokens expire).
CREATE TABLE gatehouse_partner_zone_tokens (
    id TEXT PRIMARY KEY,
    zone TEXT NOT NULL,
    account TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX gatehouse_partner_zone_tokens_zone ON gatehouse_partner_zone_tokens (zone);

-- What was done to each zone, by whom (the admin API user) and when (Unix seconds): applied
-- (CREATED/UPDATED), credentials issued (the token id only), credentials revoked, offboarded.
-- Kept after the zone is gone; read by the admin API and the governance audit log.
CREATE TABLE gatehouse_partner_zone_operations (
    seq BIGSERIAL PRIMARY KEY,
    zone TEXT NOT NULL,
    operation TEXT NOT NULL,
    detail TEXT NOT NULL,
    actor TEXT NOT NULL,
    at BIGINT NOT NULL,
    revision BIGINT NOT NULL
);
CREATE INDEX gatehouse_partner_zone_operations_zone ON gatehouse_partner_zone_operations (zone, seq);
