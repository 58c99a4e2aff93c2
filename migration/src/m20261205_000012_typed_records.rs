use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// One typed table per kind of record, in place of `records` (typed filter columns plus the fields as JSON
/// text). Every row moves with its id, version, change number, times and tombstone, so a phone's sync cursor
/// and every occurrence's routine id stay valid. Tombstones keep only their envelope and time.
#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in TABLES {
            manager.create_table(table.create()).await?;
            for index in table.indexes() {
                manager.create_index(index).await?;
            }
            let copy = table.copy_sql(db.get_database_backend());
            db.execute_unprepared(&copy).await?;
        }
        manager.drop_table(Table::drop().table("records").to_owned()).await
    }

    async fn down(&self, _: &SchemaManager) -> Result<(), DbErr> {
        Err(DbErr::Migration("the typed record tables cannot be folded back into `records`".into()))
    }
}

/// A column of a typed table: its name, type, and where its value lies in an old record's JSON.
struct Field {
    name: &'static str,
    kind: Kind,
}

#[derive(Clone, Copy)]
enum Kind {
    Int,
    SmallInt,
    Double,
    Bool,
    Text,
    /// A choice, stored as its name.
    Choice,
    Instant,
    Json,
}

struct TypedTable {
    name: &'static str,
    /// The moment a row lists by, filled from `records.sort_at` (kept by tombstones).
    time: Option<&'static str>,
    fields: &'static [Field],
    /// Live rows must have these (a tombstone has none of its fields).
    required: &'static [&'static str],
    checks: &'static [&'static str],
}

const fn f(name: &'static str, kind: Kind) -> Field {
    Field { name, kind }
}

const TABLES: [TypedTable; 4] = [
    TypedTable {
        name: "massage_sessions",
        time: Some("started_at"),
        fields: &[
            f("duration_s", Kind::Int),
            f("side", Kind::Choice),
            f("pressure", Kind::Choice),
            f("guide", Kind::Text),
            f("context", Kind::Choice),
            f("spots", Kind::Json),
            f("notes", Kind::Text),
        ],
        required: &["duration_s", "side", "pressure", "context", "spots"],
        checks: &[
            "duration_s BETWEEN 1 AND 14400",
            "side IN ('left', 'right', 'both')",
            "pressure IN ('light', 'moderate')",
            "context IN ('standalone', 'before_pumping', 'during_pumping')",
            "length(notes) <= 2000",
        ],
    },
    TypedTable {
        name: "pump_sessions",
        time: Some("started_at"),
        fields: &[
            f("ended_at", Kind::Instant),
            f("side", Kind::Choice),
            f("volume_left_ml", Kind::Double),
            f("volume_right_ml", Kind::Double),
            f("pump_type", Kind::Choice),
            f("mode", Kind::Choice),
            f("massage_before", Kind::Bool),
            f("massage_during", Kind::Bool),
            f("notes", Kind::Text),
        ],
        required: &[
            "ended_at",
            "side",
            "volume_left_ml",
            "volume_right_ml",
            "pump_type",
            "mode",
            "massage_before",
            "massage_during",
        ],
        checks: &[
            "ended_at >= started_at",
            "side IN ('left', 'right', 'both')",
            "volume_left_ml BETWEEN 0 AND 1000",
            "volume_right_ml BETWEEN 0 AND 1000",
            "pump_type IN ('manual', 'electric')",
            "mode IN ('single', 'double')",
            "length(notes) <= 2000",
        ],
    },
    TypedTable {
        name: "symptom_checks",
        time: Some("at"),
        fields: &[
            f("engorgement", Kind::SmallInt),
            f("pain", Kind::SmallInt),
            f("spots", Kind::Json),
            f("redness", Kind::Bool),
            f("temperature_c", Kind::Double),
            f("flu_like", Kind::Bool),
            f("notes", Kind::Text),
        ],
        required: &["engorgement", "pain", "spots", "redness", "flu_like"],
        checks: &[
            "engorgement BETWEEN 1 AND 5",
            "pain BETWEEN 0 AND 10",
            "temperature_c BETWEEN 34 AND 43",
            "length(notes) <= 2000",
        ],
    },
    TypedTable {
        name: "routines",
        time: None,
        fields: &[
            f("name", Kind::Text),
            f("kind", Kind::Choice),
            f("enabled", Kind::Bool),
            f("days", Kind::Json),
            f("schedule", Kind::Json),
        ],
        required: &["kind", "enabled", "days", "schedule"],
        checks: &["kind IN ('massage', 'pump', 'massage_then_pump')", "length(name) <= 100"],
    },
];

impl TypedTable {
    fn create(&self) -> TableCreateStatement {
        let mut t = Table::create();
        t.table(self.name)
            .col(ColumnDef::new("id").uuid().not_null().primary_key())
            .col(ColumnDef::new("user_id").uuid().not_null());
        if let Some(time) = self.time {
            t.col(ColumnDef::new(time).timestamp_with_time_zone().not_null());
        }
        for field in self.fields {
            let mut c = ColumnDef::new(field.name);
            match field.kind {
                Kind::Int => c.integer(),
                Kind::SmallInt => c.small_integer(),
                Kind::Double => c.double(),
                Kind::Bool => c.boolean(),
                Kind::Text => c.text(),
                Kind::Choice => c.string_len(24),
                Kind::Instant => c.timestamp_with_time_zone(),
                Kind::Json => c.json_binary(),
            };
            t.col(c.null());
        }
        t.col(ColumnDef::new("version").big_integer().not_null())
            .col(ColumnDef::new("change_seq").big_integer().not_null())
            .col(ColumnDef::new("created_at").timestamp_with_time_zone().not_null())
            .col(ColumnDef::new("updated_at").timestamp_with_time_zone().not_null())
            .col(ColumnDef::new("deleted_at").timestamp_with_time_zone().null())
            .foreign_key(
                ForeignKey::create()
                    .name(format!("fk_{}_user", self.name))
                    .from(self.name, "user_id")
                    .to("users", "id")
                    .on_delete(ForeignKeyAction::Cascade),
            )
            .check(Expr::cust("version >= 1"));
        let live = self.required.iter().map(|c| format!("{c} IS NOT NULL")).collect::<Vec<_>>().join(" AND ");
        t.check(Expr::cust(format!("deleted_at IS NOT NULL OR ({live})")));
        for check in self.checks {
            t.check(Expr::cust(*check));
        }
        t.to_owned()
    }

    /// Listing (owner, time or creation, id) and sync (owner, change number: unique, as each change takes one).
    fn indexes(&self) -> [IndexCreateStatement; 2] {
        let listed = self.time.unwrap_or("created_at");
        [
            Index::create()
                .name(format!("idx_{}_listing", self.name))
                .table(self.name)
                .col("user_id")
                .col(listed)
                .col("id")
                .to_owned(),
            Index::create()
                .name(format!("idx_{}_sync", self.name))
                .table(self.name)
                .col("user_id")
                .col("change_seq")
                .unique()
                .to_owned(),
        ]
    }

    /// `INSERT ... SELECT` of this kind's rows of `records`, each field read from the stored JSON.
    fn copy_sql(&self, backend: DbBackend) -> String {
        let mut columns = vec!["id", "user_id"];
        let mut values = vec!["id".to_owned(), "user_id".to_owned()];
        if let Some(time) = self.time {
            columns.push(time);
            values.push("sort_at".into());
        }
        for field in self.fields {
            columns.push(field.name);
            values.push(read(backend, field));
        }
        for envelope in ["version", "change_seq", "created_at", "updated_at", "deleted_at"] {
            columns.push(envelope);
            values.push(envelope.into());
        }
        format!(
            "INSERT INTO {table} ({columns}) SELECT {values} FROM records WHERE collection = '{table}'",
            table = self.name,
            columns = columns.join(", "),
            values = values.join(", "),
        )
    }
}

/// A field of an old record's JSON text as its typed column (NULL in a tombstone, whose JSON is `{}`).
fn read(backend: DbBackend, field: &Field) -> String {
    let name = field.name;
    if backend == DbBackend::Postgres {
        let text = format!("(data::jsonb ->> '{name}')");
        return match field.kind {
            Kind::Int => format!("{text}::integer"),
            Kind::SmallInt => format!("{text}::smallint"),
            Kind::Double => format!("{text}::double precision"),
            Kind::Bool => format!("{text}::boolean"),
            Kind::Text | Kind::Choice => text,
            Kind::Instant => format!("{text}::timestamptz"),
            Kind::Json => format!("(data::jsonb -> '{name}')"),
        };
    }
    let value = format!("json_extract(data, '$.{name}')");
    match field.kind {
        // As sea-orm writes an instant to SQLite (RFC 3339 with `+00:00`), so text comparisons order it.
        Kind::Instant => format!("replace({value}, 'Z', '+00:00')"),
        Kind::Json => format!("json(json_extract(data, '$.{name}'))"),
        _ => value,
    }
}
