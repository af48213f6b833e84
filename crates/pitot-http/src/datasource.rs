//! Which data sources a request writes or reads: named by `X-Pitot-Datasource` (or a
//! `/ds/<name>/` path prefix, turned into that header), else the tenant's default
//! custom data source of the right type. Checks the token's data source restriction and
//! that managed data sources are written by the platform only.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use axum::http::HeaderMap;
use pitot_core::{DataKind, Matcher, Origin, Target, TenantId};
use pitot_storage_api::{
    LogQueryableRef, MergeQueryable, Querier, Queryable, QueryableRef, ResolvingLogQueryable,
    ResolvingQueryable, SampleIter, SelectHints, Series, SeriesSet, StorageError,
};

use crate::auth::Principal;
use crate::{ApiError, AppState};

/// The header that names the data source(s) of a request.
pub const HEADER: &str = "x-pitot-datasource";

/// The data sources one request reads, in the order named.
#[derive(Debug, Clone)]
pub struct Selection {
    /// What is read.
    pub targets: Vec<Target>,
}

impl Selection {
    /// The storage keys to read.
    pub fn keys(&self) -> Vec<TenantId> {
        self.targets.iter().map(|t| t.storage.clone()).collect()
    }

    /// The first data source named (where a query's scanned bytes are metered).
    pub fn primary(&self) -> &Target {
        &self.targets[0]
    }

    /// A metrics queryable over the selected data sources, counting the samples read
    /// from each (one counter per target, in order).
    pub fn metered_queryable(&self, inner: &QueryableRef) -> (QueryableRef, Vec<Arc<AtomicU64>>) {
        let counters: Vec<Arc<AtomicU64>> = self
            .targets
            .iter()
            .map(|_| Arc::new(AtomicU64::new(0)))
            .collect();
        let sources: Vec<QueryableRef> = self
            .targets
            .iter()
            .zip(&counters)
            .map(|(t, c)| {
                let fixed: QueryableRef = Arc::new(ResolvingQueryable::fixed(
                    Arc::clone(inner),
                    vec![t.storage.clone()],
                ));
                Arc::new(Metered {
                    inner: fixed,
                    scanned: Arc::clone(c),
                }) as QueryableRef
            })
            .collect();
        let queryable: QueryableRef = if sources.len() == 1 {
            sources.into_iter().next().expect("one source")
        } else {
            Arc::new(MergeQueryable::new(sources))
        };
        (queryable, counters)
    }

    /// A metrics queryable over the selected data sources.
    pub fn queryable(&self, inner: &QueryableRef) -> QueryableRef {
        Arc::new(ResolvingQueryable::fixed(Arc::clone(inner), self.keys()))
    }

    /// A logs queryable over the selected data sources.
    pub fn log_queryable(&self, inner: &LogQueryableRef) -> LogQueryableRef {
        Arc::new(ResolvingLogQueryable::fixed(Arc::clone(inner), self.keys()))
    }
}

/// The names in the header (comma- or `|`-separated), in order, without duplicates.
pub(crate) fn named(headers: &HeaderMap) -> Result<Vec<String>, ApiError> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(Vec::new());
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::bad_data("X-Pitot-Datasource is not valid ASCII"))?;
    let mut out: Vec<String> = Vec::new();
    for name in value
        .split([',', '|'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        if !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    Ok(out)
}

/// Finds `name` among the tenant's data sources and checks it holds `kind` and that
/// the caller's token may use it.
async fn lookup(
    state: &AppState,
    principal: &Principal,
    tenant: &TenantId,
    name: &str,
    kind: DataKind,
) -> Result<Target, ApiError> {
    let list = state.datasources.of_fresh(tenant).await?;
    let ds = match list.iter().find(|d| d.name == name) {
        Some(ds) => ds,
        None if name == DataKind::Metrics.as_str() || name == DataKind::Logs.as_str() => {
            // A tenant without data source rows gets its defaults, if it exists: the
            // platform token names tenants in X-Scope-OrgID, and a typo there must not
            // create an invisible tenant that stores, answers and is metered.
            if state.meta.get_tenant(tenant).await?.is_none() {
                return Err(ApiError::not_found(format!(
                    "tenant {:?} does not exist; create it first (pitot tenant create {0}, or POST /api/pitot/v1/tenants)",
                    tenant.as_str()
                )));
            }
            return Ok(Target::default_for(tenant, kind));
        }
        None => {
            return Err(ApiError::not_found(format!(
                "data source {name:?} not found for tenant {tenant:?}; list the tenant's data sources with GET /api/pitot/v1/datasources"
            )))
        }
    };
    if ds.kind != kind {
        return Err(ApiError::bad_data(format!(
            "data source {name:?} holds {}, not {kind}; name a {kind} data source in X-Pitot-Datasource",
            ds.kind
        )));
    }
    if let Principal::Token(info) = principal {
        if !info.allows_datasource(name) {
            return Err(ApiError::forbidden(format!(
                "token {} may only use the data sources {}; it cannot use {name:?}",
                info.id,
                info.datasources.as_deref().unwrap_or_default().join(",")
            )));
        }
    }
    Ok(ds.target())
}

/// Who pushes and where: authenticates the request, requires the write scope of
/// `kind` (`metrics:write` or `logs:write`) and resolves the data source it names.
/// Every push endpoint (remote write, import, Loki push) starts with it.
pub async fn authorized_write(
    state: &AppState,
    headers: &HeaderMap,
    kind: DataKind,
) -> Result<Target, ApiError> {
    let principal = crate::auth::authenticate(state, headers).await?;
    let scope = match kind {
        DataKind::Metrics => pitot_core::Scope::MetricsWrite,
        DataKind::Logs => pitot_core::Scope::LogsWrite,
    };
    let tenant = principal.require(scope)?;
    for_write(state, &principal, &tenant, headers, kind).await
}

/// The one data source a push of `kind` goes to.
pub async fn for_write(
    state: &AppState,
    principal: &Principal,
    tenant: &TenantId,
    headers: &HeaderMap,
    kind: DataKind,
) -> Result<Target, ApiError> {
    let names = named(headers)?;
    let target = match names.as_slice() {
        [] => lookup(state, principal, tenant, kind.default_datasource(), kind).await?,
        [one] => lookup(state, principal, tenant, one, kind).await?,
        _ => {
            return Err(ApiError::bad_data(format!(
                "X-Pitot-Datasource names {} data sources; a push goes to exactly one",
                names.len()
            )))
        }
    };
    if target.origin == Origin::Managed && !principal.is_platform() {
        return Err(ApiError::forbidden(format!(
            "data source {:?} is managed: only the platform writes it, tenants read it",
            target.datasource
        )));
    }
    Ok(target)
}

/// Who reads and what: authenticates the request, requires the read scope of `kind`
/// (`metrics:read` or `logs:read`) and resolves the data sources it may read. Every
/// read endpoint starts with it.
pub async fn authorized_read(
    state: &AppState,
    headers: &HeaderMap,
    kind: DataKind,
) -> Result<(TenantId, Selection), ApiError> {
    let principal = crate::auth::authenticate(state, headers).await?;
    let scope = match kind {
        DataKind::Metrics => pitot_core::Scope::MetricsRead,
        DataKind::Logs => pitot_core::Scope::LogsRead,
    };
    let tenant = principal.require(scope)?;
    let selection = for_read(state, &principal, &tenant, headers, kind).await?;
    Ok((tenant, selection))
}

/// The data sources a read of `kind` covers.
pub async fn for_read(
    state: &AppState,
    principal: &Principal,
    tenant: &TenantId,
    headers: &HeaderMap,
    kind: DataKind,
) -> Result<Selection, ApiError> {
    let mut names = named(headers)?;
    if names.is_empty() {
        names.push(kind.default_datasource().to_string());
    }
    let mut targets = Vec::with_capacity(names.len());
    for name in &names {
        targets.push(lookup(state, principal, tenant, name, kind).await?);
    }
    Ok(Selection { targets })
}

/// Counts the samples the engine reads from one data source.
struct Metered {
    inner: QueryableRef,
    scanned: Arc<AtomicU64>,
}

impl Queryable for Metered {
    fn querier(
        &self,
        tenant: &TenantId,
        mint: i64,
        maxt: i64,
    ) -> Result<Box<dyn Querier>, StorageError> {
        Ok(Box::new(MeteredQuerier {
            inner: self.inner.querier(tenant, mint, maxt)?,
            scanned: Arc::clone(&self.scanned),
        }))
    }
}

struct MeteredQuerier {
    inner: Box<dyn Querier>,
    scanned: Arc<AtomicU64>,
}

#[async_trait]
impl Querier for MeteredQuerier {
    async fn select(
        &self,
        hints: &SelectHints,
        matchers: &[Matcher],
    ) -> Result<SeriesSet, StorageError> {
        let set = self.inner.select(hints, matchers).await?;
        let series = set
            .series
            .into_iter()
            .map(|mut s| {
                // The wrapped series' own labels are not read again.
                let labels = std::mem::take(&mut s.labels);
                let s = Arc::new(s);
                let scanned = Arc::clone(&self.scanned);
                let (bulk, bulk_scanned) = (Arc::clone(&s), Arc::clone(&scanned));
                Series::new(labels, move || -> SampleIter {
                    Box::new(CountingIter {
                        inner: s.samples(),
                        counted: 0,
                        scanned: Arc::clone(&scanned),
                    })
                })
                .with_bulk(move |mint, maxt, out| {
                    let before = out.len();
                    bulk.collect_range(mint, maxt, out);
                    bulk_scanned.fetch_add((out.len() - before) as u64, Ordering::Relaxed);
                })
            })
            .collect();
        Ok(SeriesSet {
            series,
            warnings: set.warnings,
        })
    }

    async fn label_names(&self, matchers: &[Matcher]) -> Result<Vec<String>, StorageError> {
        self.inner.label_names(matchers).await
    }

    async fn label_values(
        &self,
        name: &str,
        matchers: &[Matcher],
    ) -> Result<Vec<String>, StorageError> {
        self.inner.label_values(name, matchers).await
    }
}

/// Counts the samples a query reads and adds them to the shared total once, when the
/// query drops the iterator (an atomic add per sample cost a tenth of a large query).
struct CountingIter {
    inner: SampleIter,
    counted: u64,
    scanned: Arc<AtomicU64>,
}

impl Iterator for CountingIter {
    type Item = pitot_core::Sample;

    fn next(&mut self) -> Option<Self::Item> {
        let sample = self.inner.next()?;
        self.counted += 1;
        Some(sample)
    }
}

impl Drop for CountingIter {
    fn drop(&mut self) {
        self.scanned.fetch_add(self.counted, Ordering::Relaxed);
    }
}

/// Forwards `/ds/<name>/<rest>` to `/<rest>` with `X-Pitot-Datasource: <name>`, so
/// clients that can only set a URL (a Grafana data source, promtool) pick a data source.
pub async fn forward_prefixed(
    router: axum::Router,
    mut request: axum::extract::Request,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use tower::ServiceExt;
    let path = request.uri().path().to_string();
    let Some(rest) = path.strip_prefix("/ds/") else {
        return ApiError::not_found("no such path").into_response();
    };
    let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
    let Ok(value) = axum::http::HeaderValue::from_str(name) else {
        return ApiError::bad_data("the data source name in the path is not valid").into_response();
    };
    let new_path = format!("/{tail}");
    let new_uri = match request.uri().query() {
        Some(q) => format!("{new_path}?{q}"),
        None => new_path,
    };
    let Ok(uri) = new_uri.parse() else {
        return ApiError::bad_data("the path after /ds/<name> is not valid").into_response();
    };
    *request.uri_mut() = uri;
    request.headers_mut().insert(HEADER, value);
    match router.oneshot(request).await {
        Ok(response) => response,
        Err(infallible) => match infallible {},
    }
}
