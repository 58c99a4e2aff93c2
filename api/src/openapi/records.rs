//! Documents the record collections, which share one set of handlers configured per collection: the same
//! `Collection` list drives both the routes and these paths, so neither can drift from the other.

use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Required, ResponseBuilder, Schema};
use utoipa::{Modify, ToSchema};

use store::records::Collection;

/// Fields every stored record carries besides its own.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct RecordMeta {
    pub id: uuid::Uuid,
    /// Starts at 1 and grows with every change; the ETag is this number in quotes.
    pub version: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// Pump volumes in US fluid ounces, present when the user's volume unit is `oz`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PumpVolumesOz {
    pub volume_left_oz: Option<f64>,
    pub volume_right_oz: Option<f64>,
}

/// Adds the record collections to the document.
pub struct RecordPaths;

struct Doc {
    collection: Collection,
    schema: &'static str,
    tag: &'static str,
    noun: &'static str,
    /// Fields the server fills in when a request leaves them out.
    derived: &'static [&'static str],
}

const DOCS: [Doc; 4] = [
    Doc {
        collection: Collection::MassageSessions,
        schema: "MassageSession",
        tag: "massage",
        noun: "massage session",
        derived: &[],
    },
    Doc {
        collection: Collection::PumpSessions,
        schema: "PumpSession",
        tag: "pumping",
        noun: "pump session",
        derived: &["side"],
    },
    Doc {
        collection: Collection::SymptomChecks,
        schema: "SymptomCheck",
        tag: "symptoms",
        noun: "symptom check",
        derived: &[],
    },
    Doc {
        collection: Collection::Routines,
        schema: "Routine",
        tag: "routines",
        noun: "routine",
        derived: &["enabled", "days"],
    },
];

/// The object schema registered as `name`.
fn object(components: &utoipa::openapi::Components, name: &str) -> Option<utoipa::openapi::schema::Object> {
    match components.schemas.get(name) {
        Some(RefOr::T(Schema::Object(o))) => Some(o.clone()),
        _ => None,
    }
}

/// Three schemas from a kind's fields: `{Name}Request` (what a client sends: derived and defaulted fields
/// optional), `{Name}Patch` (a merge patch: nothing required) and `Stored{Name}` (what the server answers: its
/// metadata and every field, all present, nullable ones as null).
fn split_schemas(components: &mut utoipa::openapi::Components, d: &Doc) {
    let (Some(fields), Some(meta)) = (object(components, d.schema), object(components, "RecordMeta")) else {
        return;
    };
    let mut request = fields.clone();
    request.required.retain(|f| !d.derived.contains(&f.as_str()));
    let mut patch = fields.clone();
    patch.required.clear();
    patch.description = Some(format!("A JSON merge patch of a {}: only the fields to change", d.noun));
    let mut stored = fields.clone();
    stored.required = meta.required.iter().chain(fields.properties.keys()).cloned().collect();
    stored.properties = meta.properties.clone().into_iter().chain(fields.properties.clone()).collect();
    if d.collection == Collection::PumpSessions
        && let Some(oz) = object(components, "PumpVolumesOz")
    {
        stored.properties.extend(oz.properties);
    }
    components.schemas.remove(d.schema);
    components.schemas.insert(format!("{}Request", d.schema), Schema::Object(request).into());
    components.schemas.insert(format!("{}Patch", d.schema), Schema::Object(patch).into());
    components.schemas.insert(format!("Stored{}", d.schema), Schema::Object(stored).into());
}

pub(super) fn schema_ref(name: &str) -> RefOr<Schema> {
    RefOr::Ref(Ref::from_schema_name(name))
}

pub(super) fn json(schema: RefOr<Schema>) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(schema)).build()
}

pub(super) fn problem(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/problem+json", json(schema_ref("Problem")))
        .build()
}

pub(super) fn query(name: &str, description: &str, kind: Type) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(kind)))
        .build()
}

fn header(name: &str, description: &str) -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .build()
}

fn id_param() -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name("id")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Uuid))),
        ))
        .build()
}

impl Modify for RecordPaths {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        for d in &DOCS {
            split_schemas(components, d);
            let page = ObjectBuilder::new()
                .property("items", ArrayBuilder::new().items(schema_ref(&format!("Stored{}", d.schema))))
                .required("items")
                .property(
                    "next_cursor",
                    ObjectBuilder::new()
                        .schema_type(utoipa::openapi::schema::SchemaType::Array(vec![Type::String, Type::Null]))
                        .description(Some("Pass as `cursor` for the next page; null on the last page")),
                )
                .required("next_cursor");
            components.schemas.insert(format!("{}Page", d.schema), page.into());
        }
        // Their fields now stand in each `Stored{Name}`.
        components.schemas.remove("RecordMeta");
        components.schemas.remove("PumpVolumesOz");
        let security = SecurityRequirement::new("bearer", Vec::<String>::new());
        for d in &DOCS {
            let (path, item_path) = (d.collection.path().to_owned(), format!("{}/{{id}}", d.collection.path()));
            let stored = || json(schema_ref(&format!("Stored{}", d.schema)));
            let body = |required: bool| {
                RequestBodyBuilder::new()
                    .content("application/json", json(schema_ref(&format!("{}Request", d.schema))))
                    .required(Some(if required { Required::True } else { Required::False }))
                    .build()
            };
            let op = |id: &str, summary: String| {
                OperationBuilder::new()
                    .tag(d.tag)
                    .operation_id(Some(format!("{id}_{}", d.collection.name())))
                    .summary(Some(summary))
                    .security(security.clone())
                    .response("401", problem("No valid access token"))
            };
            let mut list = op("list", format!("The account's {}s, newest first, a page at a time", d.noun))
                .parameter(query("limit", "1-200, default 50", Type::Integer))
                .parameter(query("cursor", "The `next_cursor` of the previous page", Type::String))
                .parameter(query("from", "Only those starting at or after this RFC 3339 instant", Type::String))
                .parameter(query("to", "Only those starting before this RFC 3339 instant", Type::String));
            if matches!(d.collection, Collection::PumpSessions | Collection::MassageSessions) {
                list = list.parameter(query("side", "left, right or both", Type::String));
            }
            if d.collection == Collection::PumpSessions {
                list = list.parameter(query("pump_type", "manual or electric", Type::String));
            }
            let list = list
                .parameter(header(
                    "If-None-Match",
                    "The list's ETag you hold: 304 while nothing in the account changed",
                ))
                .response(
                    "200",
                    ResponseBuilder::new()
                        .description("A page, with a weak `ETag` that changes whenever any record of the account does")
                        .content("application/json", json(schema_ref(&format!("{}Page", d.schema)))),
                )
                .response(
                    "304",
                    ResponseBuilder::new().description("Nothing in the account changed since the ETag you hold"),
                )
                .response("422", problem("A bad filter, limit or cursor"));
            let create = op("create", format!("Creates a {} with a server-chosen id", d.noun))
                .request_body(Some(body(true)))
                .response(
                    "201",
                    ResponseBuilder::new()
                        .description("Created; `Location` and `ETag` set")
                        .content("application/json", stored()),
                )
                .response("422", problem("Invalid fields, every one named"));
            openapi.paths.add_path_operation(&path, vec![HttpMethod::Get], list);
            openapi.paths.add_path_operation(&path, vec![HttpMethod::Post], create);

            let get = op("get", format!("One {} with its `ETag`", d.noun))
                .parameter(id_param())
                .parameter(header("If-None-Match", "The ETag you hold: 304 when unchanged"))
                .response("200", ResponseBuilder::new().description("The record").content("application/json", stored()))
                .response("304", ResponseBuilder::new().description("Unchanged since the ETag you hold"))
                .response("404", problem("No such record in this account"));
            let put = op(
                "put",
                format!("Creates or replaces a {} under a client-chosen id; repeating it changes nothing", d.noun),
            )
            .parameter(id_param())
            .parameter(header("If-Match", "An ETag (or `*`): replace only that version"))
            .request_body(Some(body(true)))
            .response(
                "200",
                ResponseBuilder::new().description("Replaced (or unchanged)").content("application/json", stored()),
            )
            .response("201", ResponseBuilder::new().description("Created").content("application/json", stored()))
            .response("409", problem("The id belongs to another record"))
            .response("412", problem("If-Match does not match the current version"))
            .response("422", problem("Invalid fields, every one named"));
            let patch = op(
                "patch",
                format!("Changes fields of a {} (JSON merge patch); the result is validated whole", d.noun),
            )
            .parameter(id_param())
            .parameter(header("If-Match", "An ETag: change only that version"))
            .request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/merge-patch+json", json(schema_ref(&format!("{}Patch", d.schema))))
                    .required(Some(Required::True))
                    .build(),
            ))
            .response("200", ResponseBuilder::new().description("Changed").content("application/json", stored()))
            .response("404", problem("No such record in this account"))
            .response("412", problem("If-Match does not match the current version"))
            .response("422", problem("Invalid fields, every one named"));
            let delete = op("delete", format!("Deletes a {}; a tombstone remains for sync", d.noun))
                .parameter(id_param())
                .parameter(header("If-Match", "An ETag: delete only that version"))
                .response("204", ResponseBuilder::new().description("Deleted"))
                .response("404", problem("No such record in this account"))
                .response("412", problem("If-Match does not match the current version"));
            openapi.paths.add_path_operation(&item_path, vec![HttpMethod::Get], get);
            openapi.paths.add_path_operation(&item_path, vec![HttpMethod::Put], put);
            openapi.paths.add_path_operation(&item_path, vec![HttpMethod::Patch], patch);
            openapi.paths.add_path_operation(&item_path, vec![HttpMethod::Delete], delete);
        }
    }
}
