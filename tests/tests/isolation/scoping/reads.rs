//! Reads compared with the same SQL on D|t, and bound values in each placeholder style.

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use tenancy_seaorm::TenantConnection;
use tenancy_testkit::{rows_sorted, try_rows};

use super::keys::{Keys, each_key_kind};
use super::{MYSQL, On, PG, PG_MYSQL, PG_SQLITE, with_pair};

const READS: &[(On, &str, &str)] = &[
    (On::All, "plain", "SELECT id, name, status FROM leads"),
    (
        MYSQL,
        "from dual",
        "SELECT (SELECT count(*) FROM leads) AS n FROM DUAL WHERE (SELECT count(*) FROM accounts) > 0",
    ),
    (
        On::All,
        "OR cannot widen",
        "SELECT id FROM leads WHERE status = 'new' OR 1 = 1",
    ),
    (
        On::All,
        "OR with NOT",
        "SELECT id FROM leads WHERE NOT (status = 'hot') OR score IS NULL",
    ),
    (
        On::All,
        "inner join",
        "SELECT l.id, a.name FROM leads l JOIN accounts a ON a.id = l.account_id",
    ),
    (
        On::All,
        "inner join keyword",
        "SELECT l.id, a.name FROM leads l INNER JOIN accounts a ON a.id = l.account_id",
    ),
    (
        On::All,
        "left join keeps unmatched rows",
        "SELECT l.id, a.id, a.name FROM leads l LEFT JOIN accounts a ON a.id = l.account_id",
    ),
    (
        On::All,
        "left outer join",
        "SELECT l.id, a.name FROM leads l LEFT OUTER JOIN accounts a ON a.id = l.account_id WHERE a.id IS NULL",
    ),
    (
        On::All,
        "right join",
        "SELECT l.id, a.id FROM leads l RIGHT JOIN accounts a ON a.id = l.account_id",
    ),
    (
        PG_SQLITE,
        "full join",
        "SELECT l.id, a.id FROM leads l FULL JOIN accounts a ON a.id = l.account_id",
    ),
    (
        PG_SQLITE,
        "full outer join",
        "SELECT l.id, a.id FROM leads l FULL OUTER JOIN accounts a ON a.id = l.account_id",
    ),
    (
        On::All,
        "cross join",
        "SELECT l.id, a.id FROM leads l CROSS JOIN accounts a",
    ),
    (
        On::All,
        "comma join",
        "SELECT l.id, a.name FROM leads l, accounts a WHERE a.id = l.account_id OR 1 = 1",
    ),
    (
        On::All,
        "natural join",
        "SELECT id, name FROM leads NATURAL JOIN accounts",
    ),
    (
        On::All,
        "using on the tenant column",
        "SELECT l.id, a.id FROM leads l JOIN accounts a USING (entity_id)",
    ),
    (
        On::All,
        "using",
        "SELECT id, l.name FROM leads l JOIN accounts a USING (id)",
    ),
    (
        On::All,
        "left join using",
        "SELECT id, a.name FROM leads l LEFT JOIN accounts a USING (id)",
    ),
    (
        On::All,
        "three-way join with a global table",
        "SELECT l.id, a.name, r.name FROM leads l JOIN accounts a ON a.id = l.account_id LEFT JOIN regions r ON r.id = a.region_id",
    ),
    (
        On::All,
        "parenthesised join",
        "SELECT l.id, c.id FROM (leads l JOIN accounts a ON a.id = l.account_id) LEFT JOIN calls c ON c.lead_id = l.id",
    ),
    (
        PG_MYSQL,
        "nested parenthesised joins",
        "SELECT l.id, c.id FROM leads l LEFT JOIN (calls c JOIN accounts a ON a.id = c.lead_id) ON c.lead_id = l.id",
    ),
    (
        On::All,
        "subquery in FROM",
        "SELECT x.id FROM (SELECT id, status FROM leads WHERE score > 10) AS x WHERE x.status <> 'lost'",
    ),
    (
        On::All,
        "IN subquery",
        "SELECT id FROM accounts WHERE id IN (SELECT account_id FROM leads)",
    ),
    (
        On::All,
        "NOT IN subquery",
        "SELECT id FROM accounts WHERE id NOT IN (SELECT account_id FROM leads WHERE account_id IS NOT NULL)",
    ),
    (
        On::All,
        "EXISTS",
        "SELECT a.id FROM accounts a WHERE EXISTS (SELECT 1 FROM leads l WHERE l.account_id = a.id)",
    ),
    (
        On::All,
        "scalar subquery in SELECT",
        "SELECT a.id, (SELECT count(*) FROM leads l WHERE l.account_id = a.id) FROM accounts a",
    ),
    (
        On::All,
        "uncorrelated scalar subquery",
        "SELECT (SELECT count(*) FROM leads), (SELECT count(*) FROM calls)",
    ),
    (
        On::All,
        "subquery in HAVING",
        "SELECT status, count(*) FROM leads GROUP BY status HAVING count(*) > (SELECT count(*) FROM accounts) / 10",
    ),
    (
        On::All,
        "subquery in ORDER BY",
        "SELECT id FROM accounts ORDER BY (SELECT count(*) FROM leads WHERE leads.account_id = accounts.id), id",
    ),
    (
        On::All,
        "subquery in JOIN ON",
        "SELECT l.id FROM leads l JOIN accounts a ON a.id = l.account_id AND a.id IN (SELECT account_id FROM leads)",
    ),
    (
        PG,
        "lateral",
        "SELECT a.id, x.n FROM accounts a, LATERAL (SELECT count(*) AS n FROM leads l WHERE l.account_id = a.id) x",
    ),
    (
        On::All,
        "CTE",
        "WITH hot AS (SELECT id, account_id FROM leads WHERE status = 'hot') SELECT h.id, a.name FROM hot h JOIN accounts a ON a.id = h.account_id",
    ),
    (
        On::All,
        "two CTEs, the second reading the first",
        "WITH a AS (SELECT id FROM leads), b AS (SELECT id FROM a WHERE id > 3) SELECT count(*) FROM b",
    ),
    (
        On::All,
        "recursive CTE",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 3) SELECT n, (SELECT count(*) FROM calls) FROM r",
    ),
    (
        On::All,
        "CTE inside a subquery",
        "SELECT count(*) FROM (WITH x AS (SELECT id FROM leads) SELECT id FROM x) y",
    ),
    (
        On::All,
        "UNION",
        "SELECT name FROM leads UNION SELECT name FROM accounts",
    ),
    (
        On::All,
        "UNION ALL",
        "SELECT id FROM leads UNION ALL SELECT id FROM accounts",
    ),
    (
        On::All,
        "INTERSECT",
        "SELECT id FROM leads INTERSECT SELECT id FROM accounts",
    ),
    (
        On::All,
        "EXCEPT",
        "SELECT id FROM leads EXCEPT SELECT lead_id FROM calls",
    ),
    (
        On::All,
        "aggregates",
        "SELECT status, count(*), sum(score), min(id), max(id) FROM leads GROUP BY status",
    ),
    (
        On::All,
        "count with OR",
        "SELECT count(*) FROM calls WHERE disposition = 'sale' OR seconds >= 0",
    ),
    (
        On::All,
        "ORDER BY and LIMIT",
        "SELECT id FROM leads ORDER BY id DESC LIMIT 3",
    ),
    (
        On::All,
        "LIMIT OFFSET",
        "SELECT id FROM leads ORDER BY id LIMIT 2 OFFSET 1",
    ),
    (On::All, "DISTINCT", "SELECT DISTINCT name FROM leads"),
    (
        On::All,
        "self join",
        "SELECT a.id, b.id FROM leads a JOIN leads b ON a.name = b.name AND a.id < b.id",
    ),
    (On::All, "schema-qualified", "SELECT id FROM {schema}.leads"),
    (
        On::All,
        "schema-qualified with alias",
        "SELECT l.id FROM {schema}.leads l JOIN {schema}.accounts a ON a.id = l.account_id",
    ),
    (PG_SQLITE, "quoted", "SELECT \"id\" FROM \"leads\""),
    (MYSQL, "backquoted", "SELECT `id` FROM `leads`"),
    (
        PG_SQLITE,
        "differently cased",
        "SELECT ID FROM LEADS WHERE Status = 'new'",
    ),
    (
        On::All,
        "global table alone",
        "SELECT id, name FROM regions",
    ),
    (
        On::All,
        "global joined to scoped",
        "SELECT r.name, count(a.id) FROM regions r LEFT JOIN accounts a ON a.region_id = r.id GROUP BY r.name",
    ),
    (
        On::All,
        "CASE with subquery",
        "SELECT id, CASE WHEN EXISTS (SELECT 1 FROM calls c WHERE c.lead_id = leads.id) THEN 'called' ELSE 'fresh' END FROM leads",
    ),
    (On::All, "VALUES-free constant select", "SELECT 1"),
    (
        PG_MYSQL,
        "FOR UPDATE",
        "SELECT id FROM leads WHERE status = 'new' FOR UPDATE",
    ),
];

each_key_kind!(
    reads_equal_the_tenants_own_copy,
    bound_values_keep_their_order
);

async fn reads_equal_the_tenants_own_copy(keys: Keys) {
    with_pair(keys, |pair| async move {
        let mut failures = Vec::new();
        for (on, name, sql) in READS {
            if !on.has(pair.backend) {
                continue;
            }
            let expected = try_rows(&pair.only, &pair.for_only(sql)).await;
            let got = try_rows(&pair.scoped, &pair.for_shared(sql)).await;
            match (expected, got) {
                (Ok(mut expected), Ok(mut got)) => {
                    expected.sort();
                    got.sort();
                    if expected != got {
                        failures.push(format!(
                            "{name}: {sql}\n  expected {expected:?}\n       got {got:?}"
                        ));
                    }
                }
                (expected, got) => failures.push(format!(
                    "{name}: {sql}\n  expected {expected:?}\n       got {got:?}"
                )),
            }
        }
        assert!(
            failures.is_empty(),
            "{} on {} with {:?} keys:\n{}",
            failures.len(),
            pair.backend,
            pair.keys,
            failures.join("\n")
        );
    })
    .await;
}

/// Bound values: the tenant goes in as a parameter beside the caller's, in
/// the right order for each placeholder style.
async fn bound_values_keep_their_order(keys: Keys) {
    with_pair(keys, |pair| async move {
        let (sql, only_sql) = match pair.backend.db_backend() {
            DbBackend::Postgres => (
                "SELECT l.id FROM leads l JOIN accounts a ON a.id = l.account_id WHERE l.status = $1 AND l.id > $2 AND a.name <> $3",
                "SELECT l.id FROM leads l JOIN accounts a ON a.id = l.account_id WHERE l.status = $1 AND l.id > $2 AND a.name <> $3",
            ),
            _ => (
                "SELECT l.id FROM leads l JOIN accounts a ON a.id = l.account_id WHERE l.status = ? AND l.id > ? AND a.name <> ?",
                "SELECT l.id FROM leads l JOIN accounts a ON a.id = l.account_id WHERE l.status = ? AND l.id > ? AND a.name <> ?",
            ),
        };
        for status in ["new", "hot", "lost"] {
            let values = || vec![status.into(), 3_i32.into(), "acct0".into()];
            let stmt = |sql: &str| Statement::from_sql_and_values(pair.backend.db_backend(), sql, values());
            let got = pair.scoped.query_all_raw(stmt(sql)).await.expect("scoped");
            let want = pair.only.query_all_raw(stmt(only_sql)).await.expect("oracle");
            let ids = |rows: Vec<sea_orm::QueryResult>| {
                let mut ids: Vec<i64> = rows
                    .iter()
                    .map(|r| r.try_get_by_index::<i64>(0).or_else(|_| r.try_get_by_index::<i32>(0).map(i64::from)).expect("id"))
                    .collect();
                ids.sort_unstable();
                ids
            };
            let (got, want) = (ids(got), ids(want));
            assert_eq!(got, want, "status {status} on {} with {:?} keys", pair.backend, pair.keys);
        }
        // The same text for another tenant reuses the cached plan and still
        // sees only that tenant.
        let other = TenantConnection::new(pair.shared.clone(), pair.scoped.registry().clone(), pair.keys.tenant(3));
        let count = rows_sorted(&other, &pair.for_shared("SELECT count(*) FROM leads WHERE 1 = 1 OR entity_id = {t2}")).await;
        let direct = rows_sorted(&pair.shared, &pair.for_shared("SELECT count(*) FROM leads WHERE entity_id = {t3}")).await;
        assert_eq!(count, direct, "on {} with {:?} keys", pair.backend, pair.keys);
    })
    .await;
}
