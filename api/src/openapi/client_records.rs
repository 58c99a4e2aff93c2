//! Documents a member's read-only lists of a client's logs, configured per collection like the owner's own.

use utoipa::Modify;
use utoipa::openapi::path::{HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{OpenApi, Required, ResponseBuilder};

use super::records::{json, problem, query, schema_ref};
use crate::routes::clients::SHARED_LOGS;

/// Adds `GET /v1/clients/{client_id}/<collection>` for each shared collection.
pub struct ClientRecordPaths;

impl Modify for ClientRecordPaths {
    fn modify(&self, openapi: &mut OpenApi) {
        for collection in SHARED_LOGS {
            let segment = collection.path().trim_start_matches("/v1/");
            let schema = match collection {
                store::records::Collection::MassageSessions => "MassageSession",
                store::records::Collection::PumpSessions => "PumpSession",
                _ => "SymptomCheck",
            };
            let client = ParameterBuilder::new()
                .name("client_id")
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some("The client's account id, from `GET /v1/clients`"))
                .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                .build();
            let mut list = OperationBuilder::new()
                .tag("care-team")
                .operation_id(Some(format!("client_list_{}", collection.name())))
                .summary(Some(format!(
                    "A client's {segment}, newest first (needs `logs:read`); the paging and filters of the owner's list"
                )))
                .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
                .parameter(client)
                .parameter(query("limit", "1-200, default 50", Type::Integer))
                .parameter(query("cursor", "The `next_cursor` of the previous page", Type::String))
                .parameter(query("from", "Only those starting at or after this RFC 3339 instant", Type::String))
                .parameter(query("to", "Only those starting before this RFC 3339 instant", Type::String));
            if collection != store::records::Collection::SymptomChecks {
                list = list.parameter(query("side", "left, right or both", Type::String));
            }
            if collection == store::records::Collection::PumpSessions {
                list = list.parameter(query("pump_type", "manual or electric", Type::String));
            }
            let list = list
                .response(
                    "200",
                    ResponseBuilder::new()
                        .description("A page")
                        .content("application/json", json(schema_ref(&format!("{schema}Page")))),
                )
                .response("401", problem("No valid access token"))
                .response("404", problem("No such client, or the grant does not allow it (revoked, expired, scope)"))
                .response("422", problem("A bad filter, limit or cursor"));
            openapi.paths.add_path_operation(
                format!("/v1/clients/{{client_id}}/{segment}"),
                vec![HttpMethod::Get],
                list,
            );
        }
        // A suggested routine is a routine as the owner would send it.
        let suggest = openapi.paths.paths.get_mut("/v1/clients/{client_id}/routine-suggestions");
        if let Some(utoipa::openapi::RefOr::T(body)) =
            suggest.and_then(|p| p.post.as_mut()).and_then(|op| op.request_body.as_mut())
        {
            body.content.insert("application/json".into(), json(schema_ref("RoutineRequest")).into());
        }
    }
}
