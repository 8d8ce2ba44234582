//! A statement ready to run, as every generator renders it.

/// A statement ready to run: its SQL on one backend, its construct label,
/// and the refusal it must get, if it is a construct the library refuses.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub sql: String,
    /// Bound values, for statements built with SeaORM.
    pub values: Option<sea_orm::Values>,
    pub construct: String,
    pub refusal: Option<&'static str>,
    pub is_read: bool,
    /// For an upsert: the id it may collide with.
    pub upsert_id: Option<i64>,
}
