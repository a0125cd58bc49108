//! The partner zone part of the OpenAPI document: its paths and schemas.

use gatehouse_store::resource::{
    MAX_BOOTSTRAP_SERVERS, MAX_DOMAIN_NAME_LEN, MAX_PRINCIPAL_LEN, MAX_TOPIC_NAME_LEN,
    MAX_VCLUSTER_NAME_LEN, MAX_ZONE_TEXT_LEN, MAX_ZONE_TOPICS,
};
use serde_json::{json, Map, Value};

use crate::openapi::{dry_mode, ok, query_param, responses, schema_ref};
use crate::tokens::{MAX_LIFETIME_SECS, MIN_LIFETIME_SECS};
use crate::zones::{DEFAULT_CA_LOCATION, TRAFFIC_LIMITS_NOTE};

fn name_param() -> Value {
    json!([{"name": "name", "in": "path", "required": true, "description": "the zone's name", "schema": {"type": "string"}}])
}

fn body(schema: Value) -> Value {
    json!({"required": true, "content": {"application/json": {"schema": schema}}})
}

pub(crate) fn paths(paths: &mut Map<String, Value>) {
    paths.insert(
        "/gateway/v2/partner-zone".into(),
        json!({
            "get": {
                "operationId": "listPartnerZone",
                "summary": "Every partner zone, each with its status",
                "responses": responses(ok("the zones", json!({"type": "array", "items": schema_ref("PartnerZoneWithStatus")})), &[]),
            },
            "put": {
                "operationId": "upsertPartnerZone",
                "summary": "Create or update a partner zone and, in one transaction, its Partner virtual cluster, service account, alias topics and ACLs",
                "description": "Resources the zone no longer implies (a removed topic's alias and ACLs, a renamed service account) are removed. Every change is recorded as a zone operation with the calling admin user.",
                "parameters": [dry_mode()],
                "requestBody": body(schema_ref("PartnerZone")),
                "responses": responses(
                    ok("the zone as stored and what changed", schema_ref("PartnerZoneUpsertResponse")),
                    &[("400", "invalid zone (an unknown field, a route not configured or unable to authenticate the zone's partners, a WRITE topic off the home domain, an unknown streaming domain); msg starts with the field path, e.g. spec.topics[1].physicalCluster"),
                      ("409", "conflicts with other resources (the name of a virtual cluster no zone manages, a prefix overlap, an external principal in use, an alias rule); msg starts with the zone's field")],
                ),
            },
        }),
    );
    paths.insert(
        "/gateway/v2/partner-zone/{name}".into(),
        json!({
            "parameters": name_param(),
            "get": {
                "operationId": "getPartnerZone",
                "summary": "One partner zone with its status (valid PUT input: status is ignored)",
                "responses": responses(ok("the zone", schema_ref("PartnerZoneWithStatus")), &[("404", "no such zone")]),
            },
            "delete": {
                "operationId": "offboardPartnerZone",
                "summary": "Offboard: revoke every token of the zone and remove the zone, its virtual cluster, alias topics, service account and ACLs in one transaction",
                "description": "Physical topics are left alone. Every gateway on the store ends the zone's client connections and refuses its tokens at its next refresh (about 200 ms).",
                "responses": responses(
                    ok("what was revoked and removed", schema_ref("PartnerZoneOffboarded")),
                    &[("404", "no such zone"), ("409", "a route of the gateway configuration binds the zone's virtual cluster")],
                ),
            },
        }),
    );
    paths.insert(
        "/gateway/v2/partner-zone/{name}/credentials".into(),
        json!({
            "parameters": name_param(),
            "post": {
                "operationId": "issuePartnerZoneCredentials",
                "summary": "Issue a gateway token for a PLAIN zone's service account, with the client.properties that use it",
                "description": "The token is only in this answer. Its id is recorded with the zone, so revoke-credentials and offboarding revoke it.",
                "requestBody": body(json!({
                    "type": "object", "additionalProperties": false, "required": ["lifeTimeSeconds"],
                    "properties": {
                        "lifeTimeSeconds": {"type": "integer", "minimum": MIN_LIFETIME_SECS, "maximum": MAX_LIFETIME_SECS},
                        "caLocation": {"type": "string", "default": DEFAULT_CA_LOCATION,
                                       "description": "the path, on the partner's machine, of the CA certificate that signs the gateway's certificate (written as ssl.ca.location when the route uses TLS)"},
                    },
                })),
                "responses": responses(
                    ok("the token and the properties", json!({
                        "type": "object", "required": ["token", "id", "expiresAt", "clientProperties"],
                        "properties": {
                            "token": {"type": "string"},
                            "id": {"type": "string", "format": "uuid"},
                            "expiresAt": {"type": "string", "format": "date-time"},
                            "clientProperties": {"type": "string", "description": "key=value lines and # comments, accepted by librdkafka, kafka-python (through a loader) and Java"},
                        },
                    })),
                    &[("400", "invalid request, or a zone that authenticates with OAUTHBEARER or MTLS"),
                      ("404", "no such zone"),
                      ("503", "this gateway has no token key (cause NO_TOKEN_KEY)")],
                ),
            },
        }),
    );
    paths.insert(
        "/gateway/v2/partner-zone/{name}/revoke-credentials".into(),
        json!({
            "parameters": name_param(),
            "post": {
                "operationId": "revokePartnerZoneCredentials",
                "summary": "Revoke one token of the zone (id) or every one, on every gateway sharing the store",
                "requestBody": {"required": false, "content": {"application/json": {"schema": {
                    "type": "object", "additionalProperties": false,
                    "properties": {"id": {"type": "string", "format": "uuid", "description": "omitted: every token of the zone"}},
                }}}},
                "responses": responses(
                    ok("the ids newly revoked (tokens revoked before are not listed)", json!({
                        "type": "object", "required": ["revokedTokenIds"],
                        "properties": {"revokedTokenIds": {"type": "array", "items": {"type": "string"}}},
                    })),
                    &[("404", "no such zone, or no token of the zone with that id")],
                ),
            },
        }),
    );
    paths.insert(
        "/gateway/v2/partner-zone-operations".into(),
        json!({"get": {
            "operationId": "listPartnerZoneOperations",
            "summary": "What was done to partner zones, by which admin user and when, oldest first (kept after offboarding)",
            "parameters": [query_param("zone", "only this zone's operations", json!({"type": "string"}))],
            "responses": responses(ok("the operations", json!({"type": "array", "items": schema_ref("PartnerZoneOperation")})), &[]),
        }}),
    );
}

pub(crate) fn schemas(schemas: &mut Map<String, Value>) {
    let topic_name = json!({"type": "string", "minLength": 1, "maxLength": MAX_TOPIC_NAME_LEN, "pattern": "^[a-zA-Z0-9._-]+$"});
    let text = json!({"type": "string", "minLength": 1, "maxLength": MAX_ZONE_TEXT_LEN});
    let limit = json!({"type": "integer", "minimum": 1});
    let zone = json!({
        "type": "object", "additionalProperties": false,
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"type": "string", "enum": ["gateway/v2"]},
            "kind": {"type": "string", "enum": ["PartnerZone"]},
            "metadata": {"type": "object", "additionalProperties": false, "required": ["name"], "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": MAX_VCLUSTER_NAME_LEN, "pattern": "^[a-zA-Z0-9._-]+$",
                         "description": "also the name of the zone's virtual cluster (prefix name + '.'); refused when a virtual cluster of that name exists that no zone manages"},
            }},
            "spec": {"type": "object", "additionalProperties": false, "properties": {
                "displayName": text, "contact": text,
                "route": {"type": "string", "description": "a configured route partners bootstrap on; it must authenticate the zone's authenticationMode and bind no other virtual cluster. Required unless bootstrapServers is given"},
                "bootstrapServers": {"type": "array", "maxItems": MAX_BOOTSTRAP_SERVERS, "items": {"type": "string", "description": "host:port"},
                                     "description": "explicit endpoints (a load balancer); they replace the route's endpoint in client.properties"},
                "authenticationMode": {"type": "string", "enum": ["PLAIN", "OAUTHBEARER", "MTLS"], "default": "PLAIN",
                                       "description": "PLAIN: gateway tokens for a LOCAL service account; OAUTHBEARER, MTLS: an EXTERNAL service account mapping externalPrincipal"},
                "serviceAccount": {"type": "string", "maxLength": MAX_PRINCIPAL_LEN, "description": "default: the zone's name"},
                "externalPrincipal": {"type": "string", "maxLength": MAX_PRINCIPAL_LEN, "description": "OAUTHBEARER and MTLS only (required there): the principal the partner authenticates as"},
                "homeDomain": {"type": "string", "maxLength": MAX_DOMAIN_NAME_LEN, "description": "the virtual cluster's home domain (a configured streaming domain)"},
                "topics": {"type": "array", "maxItems": MAX_ZONE_TOPICS, "items": {
                    "type": "object", "additionalProperties": false, "required": ["name", "backingTopic"],
                    "properties": {
                        "name": topic_name.clone(),
                        "backingTopic": topic_name,
                        "physicalCluster": {"type": "string", "description": "a configured streaming domain; unset: the home domain. A WRITE topic must be on the home domain"},
                        "permission": {"type": "string", "enum": ["READ", "WRITE"], "default": "READ",
                                       "description": "READ: ALLOW READ on the topic; WRITE: also ALLOW WRITE. Every zone also gets ALLOW READ on every group, and with a WRITE topic ALLOW WRITE and DESCRIBE on every transactional id (confined to the zone by its prefix)"},
                    },
                }},
                "trafficLimits": {"type": "object", "additionalProperties": false, "description": TRAFFIC_LIMITS_NOTE, "properties": {
                    "produceBytesPerSecond": limit.clone(), "consumeBytesPerSecond": limit.clone(), "commitsPerMinute": limit,
                }},
            }},
            "status": {"type": "object", "description": "ignored on PUT"},
        },
    });
    schemas.insert("PartnerZone".into(), zone);
    schemas.insert(
        "PartnerZoneWithStatus".into(),
        json!({"allOf": [schema_ref("PartnerZone"), {"type": "object", "required": ["status"], "properties": {"status": {
            "type": "object", "required": ["state", "trafficLimits", "credentials"],
            "properties": {
                "state": {"type": "string", "enum": ["READY", "FAILED"]},
                "reason": {"type": "string", "description": "FAILED only: what no longer works (a route or streaming domain no longer configured), starting with the field"},
                "trafficLimits": {"type": "object", "properties": {"enforced": {"type": "boolean"}, "note": {"type": "string"}}},
                "credentials": {"type": "array", "items": {"type": "object", "required": ["id", "account", "issuedAt", "expiresAt"], "properties": {
                    "id": {"type": "string"}, "account": {"type": "string"},
                    "issuedAt": {"type": "string", "format": "date-time"}, "expiresAt": {"type": "string", "format": "date-time"},
                    "revokedAt": {"type": "string", "format": "date-time"},
                }}},
            },
        }}}]}),
    );
    let keys = json!({"type": "array", "items": {"type": "string"}});
    schemas.insert(
        "PartnerZoneUpsertResponse".into(),
        json!({"type": "object", "required": ["zone", "upsertResult", "changed", "removed"], "properties": {
            "zone": schema_ref("PartnerZoneWithStatus"),
            "upsertResult": {"type": "string", "enum": ["CREATED", "UPDATED", "NOT_CHANGED"]},
            "changed": keys.clone(), "removed": keys.clone(),
            "clientProperties": {"type": "string", "description": "OAUTHBEARER and MTLS zones: what the partner's clients configure (no token is issued for them)"},
        }}),
    );
    schemas.insert(
        "PartnerZoneOffboarded".into(),
        json!({"type": "object", "required": ["zone", "revokedTokenIds", "removed"], "properties": {
            "zone": schema_ref("PartnerZone"), "revokedTokenIds": keys.clone(), "removed": keys,
        }}),
    );
    schemas.insert(
        "PartnerZoneOperation".into(),
        json!({"type": "object", "required": ["seq", "zone", "operation", "detail", "actor", "at", "revision"], "properties": {
            "seq": {"type": "integer"}, "zone": {"type": "string"},
            "operation": {"type": "string", "enum": ["CREATED", "UPDATED", "CREDENTIALS_ISSUED", "CREDENTIALS_REVOKED", "OFFBOARDED"]},
            "detail": {"type": "object", "description": "resources changed and removed, token ids (never a token)"},
            "actor": {"type": "string", "description": "the admin API user"},
            "at": {"type": "string", "format": "date-time"},
            "revision": {"type": "integer", "description": "the store revision it committed as"},
        }}),
    );
}
