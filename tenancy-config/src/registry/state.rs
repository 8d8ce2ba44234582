//! The registry's immutable state: declared keys, layers, snapshots, and
//! how a change rebuilds them.

use super::*;

/// The declared keys, fixed for a registry's life.
pub(crate) struct Declared {
    pub(super) keys: Box<[Declared1]>,
    pub(super) by_name: HashMap<&'static str, usize>,
    /// The address of each key's `static`: the hot path finds a key without
    /// hashing its name.
    pub(super) by_addr: IdMap<usize, usize>,
}

pub(super) struct Declared1 {
    pub(super) key: &'static dyn DeclaredKey,
    pub(super) schema: Option<Value>,
    pub(super) default: Entry,
}

/// One value in a layer or a snapshot.
#[derive(Clone)]
pub(super) struct Entry {
    pub(super) value: AnyValue,
    pub(super) json: Arc<Value>,
    pub(super) source: Source,
    /// The store revision that wrote it (0 for a default).
    pub(super) revision: u64,
}

/// One layer's overrides, by key index.
pub(super) type Layer = Arc<[Option<Entry>]>;

/// A tenant's effective values, by key index.
pub(super) struct Snapshot {
    pub(super) entries: Box<[Entry]>,
}

pub(super) struct TenantState {
    pub(super) overrides: Layer,
    pub(super) snapshot: Arc<Snapshot>,
}

/// Everything a read needs, immutable; replaced as a whole on change.
pub(super) struct State {
    /// The store revision of the last full load (see [`ConfigRegistry::poll`]).
    pub(super) revision: u64,
    /// The highest revision this state has seen (local writes and scope
    /// reloads included): a store whose revision is lower was restored or
    /// rebuilt, and must be reloaded whole.
    pub(super) max_seen: u64,
    pub(super) forced: Layer,
    pub(super) global: Layer,
    /// Tenants with at least one override of their own.
    pub(super) tenants: IdMap<TenantId, TenantState>,
    /// The snapshot of every other tenant.
    pub(super) base: Arc<Snapshot>,
    /// Stored overrides that failed their key's checks, for [`Health`].
    pub(super) invalid: Arc<[String]>,
}

pub(super) fn snapshot_of(state: &State, tenant: TenantId) -> &Arc<Snapshot> {
    state
        .tenants
        .get(&tenant)
        .map_or(&state.base, |t| &t.snapshot)
}

pub(super) fn source_of(scope: Scope) -> Source {
    match scope {
        Scope::Forced => Source::Forced,
        Scope::Global => Source::Global,
        Scope::Tenant(_) => Source::Tenant,
    }
}

pub(super) fn layer_of(state: &State, scope: Scope) -> Option<&Layer> {
    match scope {
        Scope::Forced => Some(&state.forced),
        Scope::Global => Some(&state.global),
        Scope::Tenant(tenant) => state.tenants.get(&tenant).map(|t| &t.overrides),
    }
}

/// Resolves one tenant's snapshot (`tenant: None` for the base one).
pub(super) fn resolve(
    declared: &Declared,
    forced: &Layer,
    tenant: Option<&Layer>,
    global: &Layer,
) -> Snapshot {
    let entries = declared
        .keys
        .iter()
        .enumerate()
        .map(|(i, d)| {
            forced[i]
                .as_ref()
                .or_else(|| tenant.and_then(|t| t[i].as_ref()))
                .or(global[i].as_ref())
                .unwrap_or(&d.default)
                .clone()
        })
        .collect();
    Snapshot { entries }
}

/// `state` with `scope`'s layer replaced; snapshots rebuilt where needed.
pub(super) fn with_layer(declared: &Declared, state: &State, scope: Scope, layer: Layer) -> State {
    let empty = layer.iter().all(Option::is_none);
    match scope {
        Scope::Tenant(tenant) => {
            let mut tenants = IdMap::default();
            tenants.reserve(state.tenants.len() + 1);
            for (id, t) in &state.tenants {
                if *id != tenant {
                    tenants.insert(
                        *id,
                        TenantState {
                            overrides: Arc::clone(&t.overrides),
                            snapshot: Arc::clone(&t.snapshot),
                        },
                    );
                }
            }
            if !empty {
                let snapshot = resolve(declared, &state.forced, Some(&layer), &state.global);
                tenants.insert(
                    tenant,
                    TenantState {
                        overrides: layer,
                        snapshot: Arc::new(snapshot),
                    },
                );
            }
            State {
                revision: state.revision,
                max_seen: state.max_seen,
                forced: Arc::clone(&state.forced),
                global: Arc::clone(&state.global),
                tenants,
                base: Arc::clone(&state.base),
                invalid: Arc::clone(&state.invalid),
            }
        }
        Scope::Forced | Scope::Global => {
            let (forced, global) = if scope == Scope::Forced {
                (layer, Arc::clone(&state.global))
            } else {
                (Arc::clone(&state.forced), layer)
            };
            let tenants = state
                .tenants
                .iter()
                .map(|(id, t)| {
                    let snapshot = resolve(declared, &forced, Some(&t.overrides), &global);
                    (
                        *id,
                        TenantState {
                            overrides: Arc::clone(&t.overrides),
                            snapshot: Arc::new(snapshot),
                        },
                    )
                })
                .collect();
            let base = Arc::new(resolve(declared, &forced, None, &global));
            State {
                revision: state.revision,
                max_seen: state.max_seen,
                forced,
                global,
                tenants,
                base,
                invalid: Arc::clone(&state.invalid),
            }
        }
    }
}

/// Checks one stored override against its declared key. Overrides of keys
/// this registry does not declare are skipped quietly (another version of
/// the application may declare them); invalid ones are skipped loudly.
pub(super) fn parse_override(
    declared: &Declared,
    o: Override,
    invalid: &mut Vec<String>,
) -> Option<(usize, Entry)> {
    let Some(&index) = declared.by_name.get(o.key.as_str()) else {
        tracing::debug!(target: "tenancy::config", key = %o.key, scope = %o.scope, "stored override of an undeclared key ignored");
        return None;
    };
    let key = declared.keys[index].key;
    match key.parse(o.value) {
        Ok((value, json)) => Some((
            index,
            Entry {
                value,
                json: Arc::new(json),
                source: source_of(o.scope),
                revision: o.revision,
            },
        )),
        Err(error) => {
            tracing::warn!(
                target: "tenancy::config",
                key = %o.key, scope = %o.scope, %error,
                "stored override fails its key's checks; ignored"
            );
            invalid.push(format!("{} {}: {error}", o.scope, o.key));
            None
        }
    }
}

pub(super) fn build_state(declared: &Declared, loaded: Loaded) -> State {
    let max_seen = loaded
        .overrides
        .iter()
        .map(|o| o.revision)
        .fold(loaded.revision, u64::max);
    let mut invalid = Vec::new();
    let mut forced = vec![None; declared.keys.len()];
    let mut global = vec![None; declared.keys.len()];
    let mut per_tenant: IdMap<TenantId, Vec<Option<Entry>>> = IdMap::default();
    for o in loaded.overrides {
        let scope = o.scope;
        let Some((index, entry)) = parse_override(declared, o, &mut invalid) else {
            continue;
        };
        let layer = match scope {
            Scope::Forced => &mut forced,
            Scope::Global => &mut global,
            Scope::Tenant(tenant) => per_tenant
                .entry(tenant)
                .or_insert_with(|| vec![None; declared.keys.len()]),
        };
        layer[index] = Some(entry);
    }
    let forced: Layer = forced.into();
    let global: Layer = global.into();
    let tenants = per_tenant
        .into_iter()
        .map(|(id, layer)| {
            let layer: Layer = layer.into();
            let snapshot = resolve(declared, &forced, Some(&layer), &global);
            (
                id,
                TenantState {
                    overrides: layer,
                    snapshot: Arc::new(snapshot),
                },
            )
        })
        .collect();
    let base = Arc::new(resolve(declared, &forced, None, &global));
    State {
        revision: loaded.revision,
        max_seen,
        forced,
        global,
        tenants,
        base,
        invalid: invalid.into(),
    }
}

/// A map keyed by small integers (tenant ids, key addresses), hashed with
/// one multiplication (the Fx hash) instead of SipHash: the keys are not
/// attacker-chosen, and this is the read path.
pub(super) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

#[derive(Default)]
pub(super) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_i64(&mut self, n: i64) {
        self.write_u64(n.cast_unsigned());
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}
