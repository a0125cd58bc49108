//! The OpenAPI 3 document of the v2 API, served at `GET /gateway/v2/openapi.json`.
//!
//! Written by hand next to the routes (`v2::ROUTES`); a test checks that every route served is
//! described here and nothing else is.

use gatehouse_store::resource::{
    AclOperation, AclResourceType, MAX_ACLS, MAX_DOMAIN_NAME_LEN, MAX_PREFIX_LEN,
    MAX_PRINCIPAL_LEN, MAX_SEPARATOR_LEN, MAX_TOPIC_NAME_LEN, MAX_VCLUSTER_NAME_LEN,
};
use gatehouse_store::Kind;

use crate::tokens::{MAX_LIFETIME_SECS, MIN_LIFETIME_SECS};
use serde_json::{json, Map, Value};

/// `VirtualCluster.spec.acls`: Kafka's ACL model in Conduktor's shape.
fn acls_schema() -> Value {
    let resource_types: Vec<&str> = AclResourceType::ALL_VALUES
        .iter()
        .map(|v| v.name())
        .collect();
    let operations: Vec<&str> = AclOperation::ALL_VALUES.iter().map(|v| v.name()).collect();
    json!({
        "type": "array", "maxItems": MAX_ACLS,
        "description": "the virtual cluster's ACLs, enforced when aclEnabled is true (deny by default; DENY wins; superUsers bypass them). Names are the tenant's own (unprefixed, alias names). Omitted when empty",
        "items": {
            "type": "object", "additionalProperties": false,
            "required": ["resourcePattern", "principal", "operation", "permissionType"],
            "properties": {
                "resourcePattern": {
                    "type": "object", "additionalProperties": false,
                    "required": ["resourceType", "name"],
                    "properties": {
                        "resourceType": {"type": "string", "enum": resource_types},
                        "name": {"type": "string", "minLength": 1,
                                 "description": "LITERAL '*' is every name of the type; PREFIXED '*' is refused; CLUSTER is named 'kafka-cluster'"},
                        "patternType": {"type": "string", "enum": ["LITERAL", "PREFIXED"], "default": "LITERAL"},
                    },
                },
                "principal": {"type": "string", "pattern": "^User:.+$", "description": "User:<service account name> or User:*"},
                "host": {"type": "string", "default": "*", "description": "'*' or one IP address"},
                "operation": {"type": "string", "enum": operations},
                "permissionType": {"type": "string", "enum": ["ALLOW", "DENY"]},
            },
        },
    })
}

pub(crate) fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn json_body(schema: Value) -> Value {
    json!({"content": {"application/json": {"schema": schema}}})
}

fn errors(codes: &[(&str, &str)]) -> Map<String, Value> {
    let mut m = Map::new();
    for (code, what) in codes {
        let mut r = json_body(schema_ref("Error"));
        r["description"] = json!(what);
        m.insert(code.to_string(), r);
    }
    m
}

pub(crate) fn ok(description: &str, schema: Value) -> Value {
    let mut r = json_body(schema);
    r["description"] = json!(description);
    r
}

pub(crate) fn responses(success: Value, codes: &[(&str, &str)]) -> Value {
    let mut m = errors(codes);
    m.insert("200".into(), success);
    m.insert(
        "429".into(),
        json!({
            "description": "too many wrong logins from this client address: answered without checking the credentials (see Retry-After)",
            "content": {"application/json": {"schema": schema_ref("Error")}},
        }),
    );
    m.insert(
        "401".into(),
        json!({
            "description": "no or wrong credentials (answered with WWW-Authenticate: Basic)",
            "content": {"application/json": {"schema": schema_ref("Error")}},
        }),
    );
    Value::Object(m)
}

pub(crate) fn query_param(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

pub(crate) fn dry_mode() -> Value {
    query_param(
        "dryMode",
        "validate against the current state and answer as if saved, without saving",
        json!({"type": "boolean", "default": false}),
    )
}

fn vcluster_param() -> Value {
    query_param(
        "vCluster",
        "the virtual cluster of the resource (scoped kinds only; default passthrough)",
        json!({"type": "string", "default": "passthrough"}),
    )
}

fn kind_paths(kind: Kind, paths: &mut Map<String, Value>) {
    let schema = schema_ref(kind.name());
    let name = kind.name();
    let mut scoped_params = Vec::new();
    if kind.scoped() {
        scoped_params.push(vcluster_param());
    }
    paths.insert(
        format!("/gateway/v2/{}", kind.path()),
        json!({
            "get": {
                "operationId": format!("list{name}"),
                "summary": format!("List every {name}"),
                "parameters": if kind.scoped() {
                    vec![query_param("vCluster", "only the resources of this virtual cluster", json!({"type": "string"}))]
                } else { vec![] },
                "responses": responses(ok("the resources", json!({"type": "array", "items": schema})), &[]),
            },
            "put": {
                "operationId": format!("upsert{name}"),
                "summary": format!("Create or update a {name}"),
                "parameters": [dry_mode()],
                "requestBody": {"required": true, "content": {"application/json": {"schema": schema}}},
                "responses": responses(
                    ok("the resource as stored, and what happened", schema_ref("UpsertResponse")),
                    &[("400", "invalid resource; msg starts with the field path"),
                      ("404", "unknown kind"),
                      ("409", "conflicts with other resources (prefix overlap, external name in use, an alias topic rule); msg starts with the field at fault")],
                ),
            },
        }),
    );
    paths.insert(
        format!("/gateway/v2/{}/{{name}}", kind.path()),
        json!({
            "parameters": [{"name": "name", "in": "path", "required": true, "schema": {"type": "string"}}],
            "get": {
                "operationId": format!("get{name}"),
                "summary": format!("One {name} (valid PUT input)"),
                "parameters": scoped_params,
                "responses": responses(ok("the resource", schema.clone()), &[("404", "no such resource")]),
            },
            "delete": {
                "operationId": format!("delete{name}"),
                "summary": format!("Delete a {name}"),
                "parameters": scoped_params,
                "responses": responses(
                    ok("the deleted resource", json!({"type": "object", "required": ["resource"], "properties": {"resource": schema}})),
                    &[("400", "the built-in passthrough virtual cluster cannot be deleted"),
                      ("404", "no such resource"),
                      ("409", "still referenced (by service accounts, alias topics or a route of the configuration)")],
                ),
            },
        }),
    );
}

fn token_paths(paths: &mut Map<String, Value>) {
    paths.insert(
        "/gateway/v2/token".into(),
        json!({"post": {
            "operationId": "createToken",
            "summary": "Issue a gateway token: the SASL/PLAIN password of a local service account",
            "description": "An HS256 JWT signed with the gateway's token key (auth.tokenSecret or GATEHOUSE_TOKEN_SECRET), carrying sub (the username), vCluster, iat, exp and jti (the id revocation refers to). The token is only in this answer: it is not stored or logged.",
            "requestBody": {"required": true, "content": {"application/json": {"schema": schema_ref("TokenRequest")}}},
            "responses": responses(
                ok("the token, its id and when it expires", schema_ref("TokenResponse")),
                &[("400", "invalid request; msg starts with the field (username, vCluster, lifeTimeSeconds)"),
                  ("503", "this gateway has no token key (cause NO_TOKEN_KEY)")],
            ),
        }}),
    );
    paths.insert(
        "/gateway/v2/token/revoke".into(),
        json!({"post": {
            "operationId": "revokeToken",
            "summary": "Revoke a gateway token, by the token or its id, on every gateway sharing the store",
            "description": "Idempotent: revoking a revoked token answers the first revocation. Gateways on the same store refuse the token from their next poll of the store (about 200 ms).",
            "requestBody": {"required": true, "content": {"application/json": {"schema": schema_ref("RevokeRequest")}}},
            "responses": responses(
                ok("the token is revoked", schema_ref("RevokeResponse")),
                &[("400", "neither or both of token and id, a malformed token, an id that is not a UUID")],
            ),
        }}),
    );
    paths.insert(
        "/gateway/v2/token/revoked".into(),
        json!({"get": {
            "operationId": "listRevokedTokens",
            "summary": "Every revoked token id (revocations of tokens expired for more than 10 minutes are pruned)",
            "responses": responses(
                ok("the revocations, by id", json!({"type": "array", "items": schema_ref("Revocation")})),
                &[],
            ),
        }}),
    );
}

/// `/gateway/v2/drain` and the unauthenticated health and metrics endpoints.
fn operations_paths(paths: &mut Map<String, Value>) {
    let mut drained = responses(
        ok("not used: the answer is 202", schema_ref("Readiness")),
        &[],
    );
    drained["202"] = ok(
        "draining: the readiness report as it is now",
        schema_ref("Readiness"),
    );
    drained.as_object_mut().unwrap().remove("200");
    paths.insert(
        "/gateway/v2/drain".into(),
        json!({"post": {
            "operationId": "drain",
            "summary": "Stop taking traffic: /health/ready answers 503 draining from now on, and the gateway drains its connections",
            "description": "Idempotent. What a load balancer or orchestrator calls before stopping the gateway (SIGTERM does the same).",
            "responses": drained,
        }}),
    );
    paths.insert(
        "/health/ready".into(),
        json!({"get": {
            "operationId": "ready",
            "summary": "Whether this gateway should get traffic, and if not, what it is waiting for",
            "description": "200 when every listener is bound, no drain was asked for and no check is failing (degraded checks are listed and keep 200); 503 otherwise. Needs no credentials.",
            "security": [],
            "responses": {
                "200": ok("ready", schema_ref("Readiness")),
                "503": ok("starting, draining or not_ready", schema_ref("Readiness")),
            },
        }}),
    );
    paths.insert(
        "/health/live".into(),
        json!({"get": {
            "operationId": "live",
            "summary": "The process is up (always 200 \"ok\")",
            "security": [],
            "responses": {"200": {"description": "ok", "content": {"text/plain": {"schema": {"type": "string"}}}}},
        }}),
    );
    paths.insert(
        "/metrics".into(),
        json!({"get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics (text format 0.0.4)",
            "description": "Needs an admin user's credentials when admin.metricsAuth is true; otherwise open.",
            "responses": {
                "200": {"description": "the metrics", "content": {"text/plain": {"schema": {"type": "string"}}}},
                "401": {"description": "admin.metricsAuth is true and no or wrong credentials were given"},
            },
        }}),
    );
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    operations_paths(&mut paths);
    paths.insert(
        "/gateway/v2/openapi.json".into(),
        json!({"get": {
            "operationId": "openapi",
            "summary": "This document",
            "responses": responses(ok("OpenAPI 3 document", json!({"type": "object"})), &[]),
        }}),
    );
    paths.insert(
        "/gateway/v2/apply".into(),
        json!({"post": {
            "operationId": "apply",
            "summary": "Upsert several resources in one transaction: all of them or none",
            "description": "Resources are applied in dependency order (every VirtualCluster, then every GatewayServiceAccount, then every AliasTopic; within a kind as given), each against the state the previous ones left. Errors name the resource by its index: resources[i].",
            "parameters": [dry_mode()],
            "requestBody": {"required": true, "content": {"application/json": {"schema": schema_ref("ApplyRequest")}}},
            "responses": responses(
                ok("one result per resource, in the order applied", schema_ref("ApplyResponse")),
                &[("400", "an invalid resource"), ("409", "a conflict")],
            ),
        }}),
    );
    token_paths(&mut paths);
    crate::openapi_zones::paths(&mut paths);
    for kind in Kind::ALL {
        kind_paths(kind, &mut paths);
    }
    let metadata = |kind: Kind| {
        let mut props = json!({
            "name": {"type": "string"},
        });
        let mut required = vec!["name"];
        match kind {
            Kind::VirtualCluster => {
                props["name"] = json!({"type": "string", "minLength": 1, "maxLength": MAX_VCLUSTER_NAME_LEN, "pattern": "^[a-zA-Z0-9._-]+$"});
            }
            Kind::GatewayServiceAccount => {
                props["vCluster"] = json!({"type": "string", "default": "passthrough"});
                props["name"] =
                    json!({"type": "string", "minLength": 1, "maxLength": MAX_PRINCIPAL_LEN});
            }
            Kind::AliasTopic => {
                props["vCluster"] = json!({"type": "string", "description": "the virtual cluster the alias belongs to (not passthrough, which has no aliases)"});
                props["name"] = json!({"type": "string", "minLength": 1, "maxLength": MAX_TOPIC_NAME_LEN, "pattern": "^[a-zA-Z0-9._-]+$",
                                       "description": "the topic name the tenant sees; a legal Kafka topic name, not '.' or '..'"});
                required = vec!["name", "vCluster"];
            }
        }
        json!({"type": "object", "additionalProperties": false, "required": required, "properties": props})
    };
    let envelope = |kind: Kind, spec: Value, spec_required: bool| {
        let mut required = vec!["apiVersion", "kind", "metadata"];
        if spec_required {
            required.push("spec");
        }
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": required,
            "properties": {
                "apiVersion": {"type": "string", "enum": ["gateway/v2"]},
                "kind": {"type": "string", "enum": [kind.name()]},
                "metadata": metadata(kind),
                "spec": spec,
            },
        })
    };
    let mut doc = json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Gatehouse admin API",
            "version": "v2",
            "description": "Tenant resources, partner zones and gateway tokens of the Gatehouse Kafka gateway. Every call needs HTTP basic auth. {kind} path segments also accept the kind names (VirtualCluster, GatewayServiceAccount, AliasTopic).",
        },
        "security": [{"basic": []}],
        "paths": paths,
        "components": {
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
            "schemas": {
                "VirtualCluster": envelope(Kind::VirtualCluster, json!({
                    "type": "object",
                    "additionalProperties": false,
                    "properties": {
                        "prefix": {"type": "string", "minLength": 1, "maxLength": MAX_PREFIX_LEN, "pattern": "^[a-zA-Z0-9._-]+$",
                                   "description": "put before every topic, group and transactional id of the tenant; default name + separator; may not be a prefix of another virtual cluster's prefix, nor have one as its prefix"},
                        "separator": {"type": "string", "maxLength": MAX_SEPARATOR_LEN, "default": ".", "pattern": "^[a-zA-Z0-9._-]*$"},
                        "aclEnabled": {"type": "boolean", "default": false},
                        "superUsers": {"type": "array", "items": {"type": "string"}, "default": []},
                        "type": {"type": "string", "enum": ["Standard", "Partner"], "default": "Standard",
                                 "description": "Partner needs aclEnabled: true (super users optional: without one, the ACLs alone decide; a PartnerZone's virtual cluster has none)"},
                        "homeDomain": {"type": "string", "minLength": 1, "maxLength": MAX_DOMAIN_NAME_LEN,
                                       "description": "a configured streaming domain: holds the tenant's own prefixed topics, consumer groups, transactional ids and WRITE aliases. Unset: the domain of the route the client connects through. A route binding this virtual cluster must be on this domain. Cannot change while it would move an alias topic whose physicalCluster is unset"},
                        "acls": acls_schema(),
                    },
                }), false),
                "AliasTopic": envelope(Kind::AliasTopic, json!({
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["physicalName"],
                    "description": "a name in a virtual cluster for a physical topic outside its prefix. Refused (409, msg naming the field): a physicalName that is another alias's name of the virtual cluster, or a name that is another alias's physicalName (an alias of an alias); a physicalName under the virtual cluster's own prefix; two aliases of one virtual cluster pointing at the same topic of the same domain; a WRITE alias off the home domain; a changed domain (delete and recreate)",
                    "properties": {
                        "physicalName": {"type": "string", "minLength": 1, "maxLength": MAX_TOPIC_NAME_LEN, "pattern": "^[a-zA-Z0-9._-]+$",
                                         "description": "the topic's name on its streaming domain (a legal Kafka topic name, not '.' or '..')"},
                        "physicalCluster": {"type": "string", "minLength": 1, "maxLength": MAX_DOMAIN_NAME_LEN,
                                            "description": "the configured streaming domain holding the topic; unset: the virtual cluster's home domain. A WRITE alias must leave it unset or name the declared homeDomain. Cannot be changed: delete the alias and create it again"},
                        "access": {"type": "string", "enum": ["READ", "WRITE"], "default": "READ",
                                   "description": "READ: consume, describe, commit offsets; WRITE: also produce"},
                    },
                }), true),
                "GatewayServiceAccount": envelope(Kind::GatewayServiceAccount, json!({
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["type"],
                    "properties": {
                        "type": {"type": "string", "enum": ["LOCAL", "EXTERNAL"]},
                        "externalNames": {"type": "array", "items": {"type": "string"}, "default": [],
                                          "description": "required (non-empty) for EXTERNAL, empty for LOCAL; each maps to one account in the whole store"},
                    },
                }), true),
                "Resource": {"oneOf": [schema_ref("VirtualCluster"), schema_ref("GatewayServiceAccount"), schema_ref("AliasTopic")]},
                "UpsertResponse": {
                    "type": "object",
                    "required": ["resource", "upsertResult"],
                    "properties": {
                        "resource": schema_ref("Resource"),
                        "upsertResult": {"type": "string", "enum": ["CREATED", "UPDATED", "NOT_CHANGED"]},
                    },
                },
                "ApplyRequest": {
                    "type": "object",
                    "required": ["resources"],
                    "properties": {"resources": {"type": "array", "items": schema_ref("Resource")}},
                },
                "ApplyResponse": {
                    "type": "object",
                    "required": ["results"],
                    "properties": {"results": {"type": "array", "items": schema_ref("UpsertResponse")}},
                },
                "TokenRequest": {
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["username", "vCluster", "lifeTimeSeconds"],
                    "properties": {
                        "username": {"type": "string", "minLength": 1, "maxLength": MAX_PRINCIPAL_LEN,
                                     "description": "the SASL/PLAIN username the token will be used with (its sub claim)"},
                        "vCluster": {"type": "string", "description": "an existing virtual cluster, or passthrough"},
                        "lifeTimeSeconds": {"type": "integer", "minimum": MIN_LIFETIME_SECS, "maximum": MAX_LIFETIME_SECS},
                    },
                },
                "TokenResponse": {
                    "type": "object",
                    "required": ["token", "id", "expiresAt"],
                    "properties": {
                        "token": {"type": "string", "description": "the JWT; use it as the SASL/PLAIN password"},
                        "id": {"type": "string", "format": "uuid", "description": "the token's jti"},
                        "expiresAt": {"type": "string", "format": "date-time"},
                    },
                },
                "RevokeRequest": {
                    "type": "object",
                    "additionalProperties": false,
                    "description": "exactly one of token and id",
                    "properties": {
                        "token": {"type": "string", "description": "the token itself (its signature is not required to verify: a token of a rotated key can be revoked)"},
                        "id": {"type": "string", "format": "uuid"},
                        "reason": {"type": "string", "maxLength": 1000},
                    },
                },
                "RevokeResponse": {
                    "type": "object",
                    "required": ["id", "revoked", "revokedAt"],
                    "properties": {
                        "id": {"type": "string"},
                        "revoked": {"type": "boolean", "enum": [true]},
                        "revokedAt": {"type": "string", "format": "date-time"},
                    },
                },
                "Revocation": {
                    "type": "object",
                    "required": ["id", "revokedAt"],
                    "properties": {
                        "id": {"type": "string"},
                        "revokedAt": {"type": "string", "format": "date-time"},
                        "expiresAt": {"type": "string", "format": "date-time", "description": "when the token itself expires, if known"},
                        "reason": {"type": "string"},
                    },
                },
                "Readiness": {
                    "type": "object",
                    "required": ["status", "checks"],
                    "properties": {
                        "status": {"type": "string", "enum": ["ready", "starting", "draining", "not_ready"]},
                        "checks": {
                            "type": "object",
                            "description": "one entry per component (the store, each streaming domain, ...)",
                            "additionalProperties": {
                                "type": "object",
                                "required": ["state", "detail"],
                                "properties": {
                                    "state": {"type": "string", "enum": ["ok", "degraded", "failing"]},
                                    "detail": {"type": "string"},
                                },
                            },
                        },
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["title", "msg", "cause"],
                    "properties": {
                        "title": {"type": "string"},
                        "msg": {"type": "string", "description": "what is wrong; for an invalid resource it starts with the field path, e.g. spec.prefix: ..."},
                        "cause": {"type": "string", "enum": ["INVALID_RESOURCE", "CONFLICT", "NOT_FOUND", "UNAUTHORIZED", "STORE_ERROR", "NO_TOKEN_KEY", "TOO_MANY_ATTEMPTS", "TIMEOUT", "TOO_LARGE", "BAD_REQUEST"]},
                    },
                },
            },
        },
    });
    let schemas = doc["components"]["schemas"]
        .as_object_mut()
        .expect("schemas is an object");
    crate::openapi_zones::schemas(schemas);
    doc
}
