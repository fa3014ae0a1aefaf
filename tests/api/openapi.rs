//! The OpenAPI document as a client generator reads it: valid OpenAPI 3.1 (checked by
//! `openapi-spec-validator`, which `scripts/test.sh` installs), every path parameter declared,
//! and the errors the server can answer listed with their problem+json bodies.

use std::collections::BTreeSet;
use std::process::Command;

use pettysync::http::docs::ApiDoc;
use serde_json::Value;
use utoipa::OpenApi;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn document() -> Value {
    serde_json::to_value(ApiDoc::openapi()).expect("the document serializes")
}

/// Every operation of the document: (method, path template, operation object).
fn operations(document: &Value) -> Vec<(String, String, Value)> {
    let paths = document["paths"].as_object().expect("paths is an object");
    let mut all = Vec::new();
    for (path, item) in paths {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                all.push((method.to_owned(), path.clone(), operation.clone()));
            }
        }
    }
    all
}

/// `{id}` and `{user_id}` of `/v1/pets/{id}/members/{user_id}`.
fn template_names(path: &str) -> BTreeSet<String> {
    path.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}'))
        .map(|(name, _)| name.to_owned())
        .collect()
}

fn declared(operation: &Value, location: &str) -> Vec<Value> {
    operation["parameters"]
        .as_array()
        .map(|parameters| {
            parameters
                .iter()
                .filter(|parameter| parameter["in"] == location)
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The response a status refers to, following a `$ref` into `components.responses`.
fn response<'a>(document: &'a Value, operation: &'a Value, status: &str) -> Option<&'a Value> {
    let response = operation["responses"].get(status)?;
    match response["$ref"].as_str() {
        Some(reference) => {
            let name = reference.strip_prefix("#/components/responses/")?;
            document["components"]["responses"].get(name)
        }
        None => Some(response),
    }
}

#[test]
fn the_openapi_document_passes_an_openapi_3_1_validator() {
    let json = ApiDoc::openapi()
        .to_pretty_json()
        .expect("the document serializes");
    let file = std::env::temp_dir().join(format!(
        "pettysync-openapi-{}-{}.json",
        std::process::id(),
        uuid::Uuid::new_v4()
    ));
    std::fs::write(&file, json).expect("the temp dir is writable");
    let output = Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--schema", "3.1"])
        .arg(&file)
        .output();
    let _ = std::fs::remove_file(&file);
    let output = output.expect("python3 runs (scripts/test.sh installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("No module named openapi_spec_validator"),
        "openapi-spec-validator is missing: scripts/test.sh installs it \
         (pip install openapi-spec-validator)"
    );
    assert!(
        output.status.success() && stdout.contains("OK"),
        "the validator refuses the document:\n{stdout}\n{stderr}"
    );
}

#[test]
fn every_path_parameter_of_every_operation_is_declared_with_a_schema() {
    let document = document();
    let mut problems = Vec::new();
    for (method, path, operation) in operations(&document) {
        let expected = template_names(&path);
        let parameters = declared(&operation, "path");
        let names: BTreeSet<String> = parameters
            .iter()
            .filter_map(|parameter| parameter["name"].as_str().map(str::to_owned))
            .collect();
        if names != expected {
            problems.push(format!(
                "{method} {path}: declares {names:?}, the path has {expected:?}"
            ));
        }
        for parameter in &parameters {
            if parameter["required"] != true || !parameter["schema"].is_object() {
                problems.push(format!(
                    "{method} {path}: {} is not required or has no schema",
                    parameter["name"]
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn uuid_path_parameters_say_so() {
    let document = document();
    for (method, path, operation) in operations(&document) {
        for parameter in declared(&operation, "path") {
            if parameter["name"] == "token" {
                assert_eq!(parameter["schema"]["type"], "string", "{method} {path}");
                continue;
            }
            assert_eq!(
                parameter["schema"]["format"], "uuid",
                "{method} {path}: {parameter}"
            );
        }
    }
}

#[test]
fn every_operation_lists_the_errors_it_can_answer_as_problem_json() {
    let document = document();
    let mut problems = Vec::new();
    for (method, path, operation) in operations(&document) {
        // The operational routes (health, metrics) answer without touching anything that fails.
        let mut expected = if path.starts_with("/v1/") {
            vec!["500"]
        } else {
            Vec::new()
        };
        let authenticated = operation["security"].as_array().is_some_and(|schemes| {
            schemes
                .iter()
                .any(|scheme| scheme.as_object().is_some_and(|scheme| !scheme.is_empty()))
        });
        if authenticated {
            expected.push("401");
        }
        if operation["requestBody"].is_object() {
            expected.extend(["400", "413", "422"]);
        }
        if !declared(&operation, "path").is_empty() {
            expected.push("404");
        }
        if !declared(&operation, "query").is_empty() {
            expected.push("422");
        }
        for status in expected {
            match response(&document, &operation, status) {
                None => problems.push(format!("{method} {path}: no {status}")),
                Some(response) => {
                    let schema = &response["content"]["application/problem+json"]["schema"]["$ref"];
                    if schema != "#/components/schemas/Problem" {
                        problems.push(format!(
                            "{method} {path}: {status} is not an application/problem+json Problem"
                        ));
                    }
                }
            }
        }
        if let Some(response) = response(&document, &operation, "429") {
            if response["headers"].get("Retry-After").is_none() {
                problems.push(format!("{method} {path}: 429 without Retry-After"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_link_names_an_operation_and_only_its_parameters() {
    let document = document();
    let operations = operations(&document);
    let links = document["components"]["links"]
        .as_object()
        .expect("components.links is an object");
    assert!(!links.is_empty(), "the document has no links");
    for (name, link) in links {
        let target = link["operationId"].as_str().unwrap_or_default();
        let Some((_, _, operation)) = operations
            .iter()
            .find(|(_, _, operation)| operation["operationId"] == target)
        else {
            panic!("link {name} names no operation: {link}");
        };
        let known: Vec<Value> = ["path", "query"]
            .into_iter()
            .flat_map(|location| declared(operation, location))
            .map(|parameter| parameter["name"].clone())
            .collect();
        for parameter in link["parameters"].as_object().into_iter().flatten() {
            assert!(
                known.contains(&Value::from(parameter.0.as_str())),
                "link {name}: {target} has no parameter {}",
                parameter.0
            );
        }
    }
    for (method, path, operation) in &operations {
        for (status, response) in operation["responses"].as_object().into_iter().flatten() {
            for (link, reference) in response["links"].as_object().into_iter().flatten() {
                let name = reference["$ref"]
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/components/links/"))
                    .unwrap_or_default();
                assert!(
                    links.contains_key(name),
                    "{method} {path} {status}: link {link} refers to nothing"
                );
            }
        }
    }
}
