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
