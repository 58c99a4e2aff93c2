//! The committed `openapi.yaml` is exactly what the code generates.
//!
//! After changing the API, regenerate it with `UPDATE_OPENAPI=1 cargo nextest run -p api openapi`.

use std::process::Command;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml");

#[test]
fn committed_openapi_matches_the_code() {
    let generated = api::openapi::yaml().expect("the document generates");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(COMMITTED, &generated).expect("write openapi.yaml");
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi.yaml differs from the code; regenerate it with `UPDATE_OPENAPI=1 cargo nextest run -p api openapi`"
    );
}

#[test]
fn the_binary_prints_the_same_document() {
    let out = Command::new(env!("CARGO_BIN_EXE_milkflow-api")).arg("openapi").output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout).unwrap(), api::openapi::yaml().unwrap());
}

#[test]
fn operation_ids_are_unique_for_generated_clients() {
    use utoipa::OpenApi;
    let doc = api::openapi::ApiDoc::openapi();
    let mut ids: Vec<String> = Vec::new();
    for item in doc.paths.paths.values() {
        for op in [&item.get, &item.post, &item.put, &item.patch, &item.delete].into_iter().flatten() {
            ids.push(op.operation_id.clone().expect("every operation has an id"));
        }
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "duplicate operationIds: {ids:?}");
}

#[test]
fn the_committed_document_is_valid_openapi_3_1() {
    let python = "import sys\nfrom openapi_spec_validator import OpenAPIV31SpecValidator\nfrom openapi_spec_validator.readers import read_from_filename\ndoc, _ = read_from_filename(sys.argv[1])\nerrors = list(OpenAPIV31SpecValidator(doc).iter_errors())\nfor e in errors[:20]:\n    print('/'.join(map(str, e.path)), e.message[:300])\nsys.exit(1 if errors else 0)\n";
    let installed = Command::new("python3").args(["-c", "import openapi_spec_validator"]).status().unwrap().success();
    if !installed {
        assert!(std::env::var("CI").is_err(), "CI installs openapi-spec-validator (.ci/run)");
        eprintln!("SKIPPED: openapi-spec-validator is not installed (pip install -r bench/requirements.txt)");
        return;
    }
    let out = Command::new("python3").args(["-c", python, COMMITTED]).output().unwrap();
    assert!(out.status.success(), "openapi.yaml is not valid OpenAPI 3.1:\n{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn every_schema_a_reference_names_is_in_the_document() {
    use utoipa::OpenApi;
    let text = serde_json::to_string(&api::openapi::ApiDoc::openapi()).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let marker = "\"#/components/schemas/";
    let dangling: Vec<&str> = text
        .match_indices(marker)
        .filter_map(|(at, _)| text[at + marker.len()..].split('"').next())
        .filter(|name| !schemas.contains_key(*name))
        .collect();
    assert!(dangling.is_empty(), "references to schemas that are not in the document: {dangling:?}");
}

/// The schema `name` of the generated document, as JSON.
fn schema(name: &str) -> serde_json::Value {
    use utoipa::OpenApi;
    let doc = serde_json::to_value(api::openapi::ApiDoc::openapi()).unwrap();
    doc["components"]["schemas"][name].clone()
}

fn required(schema: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> =
        schema["required"].as_array().into_iter().flatten().map(|v| v.as_str().unwrap().to_owned()).collect();
    names.sort();
    names
}

#[test]
fn requests_leave_derived_fields_optional_and_stored_records_require_every_field() {
    let request = schema("PumpSessionRequest");
    assert!(!required(&request).contains(&"side".to_owned()), "the server derives side");
    assert!(request["properties"].get("id").is_none() && request["properties"].get("version").is_none());
    let stored = schema("StoredPumpSession");
    for field in ["id", "version", "created_at", "side", "notes", "massage_before", "volume_left_ml"] {
        assert!(required(&stored).contains(&field.to_owned()), "{field} in {stored}");
    }
    assert!(!required(&stored).contains(&"volume_left_oz".to_owned()), "only when the user's unit is oz");
    let routine = required(&schema("RoutineRequest"));
    assert!(!routine.contains(&"enabled".to_owned()) && !routine.contains(&"days".to_owned()), "{routine:?}");
    assert!(required(&schema("StoredRoutine")).contains(&"days".to_owned()));
    assert!(required(&schema("RoutinePatch")).is_empty());
    assert!(schema("PumpSession").is_null(), "no schema serves both requests and responses");
    for (view, field) in
        [("UserView", "display_name"), ("DeviceView", "last_success_at"), ("DeliveryView", "last_error")]
    {
        assert!(required(&schema(view)).contains(&field.to_owned()), "{view}.{field}");
    }
}
