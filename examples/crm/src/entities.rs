//! SeaORM entities of the scoped tables. None of the queries in the routes
//! mention `entity_id`: the `TenantConnection` adds it.

macro_rules! no_relations {
    () => {
        #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
        pub enum Relation {}

        impl ActiveModelBehavior for ActiveModel {}
    };
}

pub mod user {
    use sea_orm::entity::prelude::*;
    use serde::Serialize;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        #[serde(skip)]
        pub entity_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub email: String,
        pub name: String,
        pub role: String,
        #[serde(skip)]
        pub password_hash: String,
    }

    no_relations!();
}

pub mod account {
    use sea_orm::entity::prelude::*;
    use serde::Serialize;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
    #[sea_orm(table_name = "accounts")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        #[serde(skip)]
        pub entity_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub name: String,
    }

    no_relations!();
}

pub mod pipeline {
    use sea_orm::entity::prelude::*;
    use serde::Serialize;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
    #[sea_orm(table_name = "pipelines")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        #[serde(skip)]
        pub entity_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub name: String,
    }

    no_relations!();
}

pub mod stage {
    use sea_orm::entity::prelude::*;
    use serde::Serialize;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
    #[sea_orm(table_name = "stages")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        #[serde(skip)]
        pub entity_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub pipeline_id: i64,
        pub ord: i32,
        pub name: String,
    }

    no_relations!();
}

pub mod lead {
    use sea_orm::entity::prelude::*;
    use serde::Serialize;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
    #[sea_orm(table_name = "leads")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        #[serde(skip)]
        pub entity_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub account_id: Option<i64>,
        pub stage_id: i64,
        pub owner_id: i64,
        pub name: String,
        pub phone: String,
        pub created_at: i64,
    }

    no_relations!();
}

pub mod call {
    use sea_orm::entity::prelude::*;
    use serde::Serialize;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
    #[sea_orm(table_name = "calls")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        #[serde(skip)]
        pub entity_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub lead_id: i64,
        pub agent_id: i64,
        pub disposition: String,
        pub duration_s: i32,
        pub outcome: String,
        pub created_at: i64,
    }

    no_relations!();
}

pub mod reminder {
    use sea_orm::entity::prelude::*;
    use serde::Serialize;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
    #[sea_orm(table_name = "reminders")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        #[serde(skip)]
        pub entity_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub call_id: i64,
        pub lead_id: i64,
        pub due_at: i64,
    }

    no_relations!();
}

pub mod sync_log {
    use sea_orm::entity::prelude::*;
    use serde::Serialize;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, Serialize)]
    #[sea_orm(table_name = "sync_log")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        #[serde(skip)]
        pub entity_id: i64,
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: i64,
        pub call_id: i64,
        pub credential_fingerprint: String,
        pub synced_at: i64,
    }

    no_relations!();
}
