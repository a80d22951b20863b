//! `/openapi.json`, generated from the route table so that every route is
//! documented and every documented route exists.

use serde_json::{Map, Value, json};
use worker::Response;

use crate::error::ApiResult;
use crate::http;
use crate::routes::{Access, ROUTES, method_name};

/// OpenAPI path template (`{org}`) of a matchit pattern (`:org`).
pub fn openapi_path(pattern: &str) -> String {
    pattern
        .split('/')
        .map(|seg| match seg.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => seg.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

pub fn document() -> Value {
    let mut paths = Map::new();
    for spec in ROUTES {
        let params: Vec<Value> = spec
            .path
            .split('/')
            .filter_map(|seg| seg.strip_prefix(':'))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        let mut operation = json!({
            "operationId": format!("{:?}", spec.route),
            "summary": spec.summary,
            "parameters": params,
            "responses": {
                "2XX": {"description": "Success", "content": {"application/json": {}}},
                "default": {"description": "An RFC 9457 problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
            }
        });
        match spec.access {
            Access::Public => {}
            Access::Bootstrap => {
                operation["security"] = json!([{"bootstrap": []}]);
            }
            Access::Org(role) => {
                operation["security"] = json!([{"token": []}]);
                operation["x-outpost-role"] = json!(role.as_str());
            }
        }
        let entry = paths
            .entry(openapi_path(spec.path))
            .or_insert_with(|| Value::Object(Map::new()));
        entry[method_name(&spec.method).to_lowercase()] = operation;
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Outpost",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A model registry for edge and browser ML. Errors are RFC 9457 problem details."
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer", "description": "An organisation token `opt_<id>_<secret>` with a role"},
                "bootstrap": {"type": "http", "scheme": "bearer", "description": "The deployment's OUTPOST_BOOTSTRAP_SECRET"}
            },
            "schemas": {
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "instance": {"type": "string"}
                    }
                }
            }
        }
    })
}

pub fn serve() -> ApiResult<Response> {
    let response = http::json(&document(), 200)?;
    response
        .headers()
        .set("cache-control", "public, max-age=300")?;
    Ok(response)
}
