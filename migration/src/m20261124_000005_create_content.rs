use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Guides {
    Table,
    Id,
    Slug,
    Locale,
    Title,
    Summary,
    Steps,
    Sources,
    Published,
    ReviewedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tips {
    Table,
    Id,
    Text,
    Locale,
    Published,
    PublishAt,
    CreatedAt,
    UpdatedAt,
}

const ABM_36: &str = "Academy of Breastfeeding Medicine, Clinical Protocol #36: The Mastitis Spectrum, Revised 2022 \
(Mitchell KB et al., Breastfeeding Medicine 2022;17(5):360-376, doi:10.1089/bfm.2022.29207.kbm)";
const ADVICE: &str = "milkflow's lactation-consultant guidance: gentle circular massage from the outer breast toward \
the nipple, light to moderate pressure, before and during pumping";

/// A seeded guide: id, slug, title, summary, steps as (title, text, seconds), sources.
type Guide = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str, u32)],
    &'static [&'static str],
);

const GUIDES: &[Guide] = &[
    (
        "0193b2a0-0000-7000-8000-000000000001",
        "gentle-everyday-massage",
        "Gentle everyday breast massage",
        "For everyday comfort and engorgement: gentle circles from the outer breast toward the nipple, with light \
to moderate pressure. It should never hurt.",
        &[
            (
                "Get comfortable",
                "Sit or lie back and relax your shoulders. Wash your hands. A warm shower or a warm cloth \
for a minute or two beforehand can help your milk flow.",
                120,
            ),
            (
                "Circles from the outside in",
                "With the flat of your fingers, make small, gentle circles at the outer edge \
of the breast, then move a little closer to the nipple and repeat. Use light to moderate pressure, never so much that \
it hurts.",
                180,
            ),
            (
                "All the way around",
                "Work around the whole breast like a clock face, always moving from the outer breast \
toward the nipple.",
                120,
            ),
            (
                "Tender or hard spots",
                "If an area feels tender or hard, do not press into it. Stroke very lightly over the \
skin from the nipple back toward your armpit, like petting a cat, and note in the app where it is.",
                60,
            ),
            ("The other side", "Repeat on the other breast, just as gently.", 300),
        ],
        &[ADVICE, ABM_36],
    ),
    (
        "0193b2a0-0000-7000-8000-000000000002",
        "before-pumping-massage",
        "Massage before and during pumping",
        "A few minutes of gentle massage before and during pumping, with a manual or an electric pump, can help \
your milk flow and make pumping more efficient.",
        &[
            ("Warm up", "Apply a warm cloth or take a warm shower for a minute or two, and get your pump ready.", 90),
            (
                "Gentle circles",
                "Make small, gentle circles from the outer breast toward the nipple, all around the \
breast, with light to moderate pressure.",
                120,
            ),
            (
                "Light strokes toward the nipple",
                "Finish with light strokes from the outer breast toward the nipple on \
every side of the breast.",
                60,
            ),
            (
                "Pump and keep massaging",
                "Start pumping. While the pump runs, keep stroking gently toward the nipple, \
spending a little longer on areas that feel full. Never press hard.",
                600,
            ),
            (
                "Finish gently",
                "When the flow slows, massage gently once more for a minute, then pump for a minute or \
two. Log the session so you can see what helps your supply.",
                120,
            ),
        ],
        &[ADVICE],
    ),
    (
        "0193b2a0-0000-7000-8000-000000000003",
        "light-strokes-for-tender-spots",
        "Light strokes for a tender or hard spot",
        "Ducts narrow from swelling, not from a plug to push out: deep pressure on a lump can injure tissue. Use \
feather-light strokes toward the armpit, cold compresses, and your usual feeding or pumping rhythm.",
        &[
            (
                "Feather-light touch",
                "Use the lightest touch, just moving the skin, like petting a cat. Never press into \
the lump.",
                60,
            ),
            (
                "From the nipple toward the armpit",
                "Stroke slowly from the nipple back toward your armpit, and from the \
breast up toward your collarbone.",
                180,
            ),
            ("Cool it", "Afterwards, a cold compress for a few minutes can ease the swelling.", 600),
            (
                "Keep your usual rhythm",
                "Feed or pump as usual. Do not pump extra to empty the breast: extra pumping can \
feed the inflammation.",
                30,
            ),
            (
                "When to call",
                "A temperature of 38.0 °C (100.4 °F) or more, chills or flu-like feelings, redness that \
spreads, or a hard painful area that has not improved after 24 hours: contact your lactation consultant or clinician.",
                30,
            ),
        ],
        &[ABM_36],
    ),
];

const TIPS: &[(&str, &str)] = &[
    (
        "0193b2a0-0000-7000-8000-000000000101",
        "Massage gently: light to moderate pressure, moving from the outer breast \
toward the nipple. It should never hurt.",
    ),
    (
        "0193b2a0-0000-7000-8000-000000000102",
        "A tender or hard spot? Use light strokes toward your armpit and a cold \
compress. Never press deeply into a lump.",
    ),
    (
        "0193b2a0-0000-7000-8000-000000000103",
        "If a breast is inflamed, keep your usual feeding or pumping rhythm: pumping \
extra to \"empty\" it can make the inflammation worse.",
    ),
    (
        "0193b2a0-0000-7000-8000-000000000104",
        "Freshly expressed milk keeps up to 4 hours at room temperature (25 °C / 77 °F \
or colder), up to 4 days in the fridge (4 °C / 40 °F) and about 6 months in the freezer (-18 °C / 0 °F).",
    ),
    (
        "0193b2a0-0000-7000-8000-000000000105",
        "Thawed milk keeps up to 24 hours in the fridge or 1-2 hours at room \
temperature. Never refreeze it.",
    ),
    (
        "0193b2a0-0000-7000-8000-000000000106",
        "A temperature of 38.0 °C (100.4 °F) or more, chills or flu-like feelings? \
Contact your lactation consultant or clinician.",
    ),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Guides::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Guides::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Guides::Slug).string_len(64).not_null())
                    .col(ColumnDef::new(Guides::Locale).string_len(16).not_null())
                    .col(ColumnDef::new(Guides::Title).string_len(200).not_null())
                    .col(ColumnDef::new(Guides::Summary).text().not_null())
                    .col(ColumnDef::new(Guides::Steps).text().not_null())
                    .col(ColumnDef::new(Guides::Sources).text().not_null())
                    .col(ColumnDef::new(Guides::Published).boolean().not_null())
                    .col(ColumnDef::new(Guides::ReviewedAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(Guides::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Guides::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_guides_slug_locale")
                    .table(Guides::Table)
                    .col(Guides::Slug)
                    .col(Guides::Locale)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Tips::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Tips::Id).uuid().not_null().primary_key())
                    .col(ColumnDef::new(Tips::Text).text().not_null())
                    .col(ColumnDef::new(Tips::Locale).string_len(16).not_null())
                    .col(ColumnDef::new(Tips::Published).boolean().not_null())
                    .col(ColumnDef::new(Tips::PublishAt).timestamp_with_time_zone().null())
                    .col(ColumnDef::new(Tips::CreatedAt).timestamp_with_time_zone().not_null())
                    .col(ColumnDef::new(Tips::UpdatedAt).timestamp_with_time_zone().not_null())
                    .to_owned(),
            )
            .await?;
        let seeded = "2026-11-24T00:00:00Z";
        for (id, slug, title, summary, steps, sources) in GUIDES {
            let steps: Vec<serde_json::Value> = steps
                .iter()
                .map(|(t, text, s)| serde_json::json!({"title": t, "text": text, "duration_s": s}))
                .collect();
            let insert = Query::insert()
                .into_table(Guides::Table)
                .columns([
                    Guides::Id,
                    Guides::Slug,
                    Guides::Locale,
                    Guides::Title,
                    Guides::Summary,
                    Guides::Steps,
                    Guides::Sources,
                    Guides::Published,
                    Guides::ReviewedAt,
                    Guides::CreatedAt,
                    Guides::UpdatedAt,
                ])
                .values_panic([
                    uuid(id).into(),
                    (*slug).into(),
                    "en".into(),
                    (*title).into(),
                    (*summary).into(),
                    serde_json::Value::from(steps).to_string().into(),
                    serde_json::json!(sources).to_string().into(),
                    true.into(),
                    timestamp(seeded).into(),
                    timestamp(seeded).into(),
                    timestamp(seeded).into(),
                ])
                .to_owned();
            manager.exec_stmt(insert).await?;
        }
        for (id, text) in TIPS {
            let insert = Query::insert()
                .into_table(Tips::Table)
                .columns([Tips::Id, Tips::Text, Tips::Locale, Tips::Published, Tips::CreatedAt, Tips::UpdatedAt])
                .values_panic([
                    uuid(id).into(),
                    (*text).into(),
                    "en".into(),
                    true.into(),
                    timestamp(seeded).into(),
                    timestamp(seeded).into(),
                ])
                .to_owned();
            manager.exec_stmt(insert).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Tips::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Guides::Table).to_owned()).await
    }
}

fn uuid(s: &str) -> sea_orm::prelude::Uuid {
    sea_orm::prelude::Uuid::parse_str(s).unwrap_or_default()
}

fn timestamp(s: &str) -> sea_orm::prelude::DateTimeUtc {
    s.parse().unwrap_or_default()
}
