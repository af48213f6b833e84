//! `POST /api/v1/read`: Prometheus remote read, so a Prometheus with `remote_read`
//! pointed at Pitot, or a migration tool, reads what Pitot holds.
//!
//! Both answer types of `remote.proto` are served, chosen from the request's
//! `accepted_response_types` in the client's order (none means `SAMPLES`):
//! - `SAMPLES`: one snappy-compressed `ReadResponse`, held in memory, so its samples
//!   are held to the tenant's `max_samples_per_query` (the refusal names it and the
//!   streamed answer, which has no such bound);
//! - `STREAMED_XOR_CHUNKS`: one frame per series (split when a series' chunks pass
//!   [`MAX_FRAME_BYTES`]) of Prometheus XOR chunks of at most [`SAMPLES_PER_CHUNK`]
//!   samples, written as the client reads them.
//!
//! A read is a metrics read like any other: `metrics:read`, the data-source header,
//! the tenant's length, lookback and series limits, its query slots and timeout.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use pitot_core::Matcher;
use pitot_proto::remote_read::{
    decode_read_request, encode_samples_response, write_frame, Chunk, ChunkEncoding,
    ChunkedReadResponse, ChunkedSeries, MatchType, Query, ResponseType, STREAMED_CONTENT_TYPE,
};
use pitot_proto::remote_write::{Label, SeriesEncoder};
use pitot_storage_api::{QueryableRef, SelectHints, Series};
use tokio::sync::mpsc::Sender;

use crate::query_pool::Cancel;
use crate::remote_write::read_body;
use crate::tenant_query::{self, read_error, LengthRule, ReadGate};
use crate::{ApiError, AppStateRef};

/// Samples per chunk of a streamed answer, as Prometheus cuts its own chunks.
pub const SAMPLES_PER_CHUNK: usize = 120;

/// Largest frame of a streamed answer before a series is split across frames
/// (Prometheus' default for its own server).
pub const MAX_FRAME_BYTES: usize = 1 << 20;

/// Most bytes a chunk's fields add around its data in a frame: two varint times, the
/// type, and the tags and lengths.
const CHUNK_OVERHEAD_BYTES: usize = 32;

/// Largest decompressed request: a read request is a few matchers per query.
const MAX_REQUEST_BYTES: usize = 1 << 20;

/// Frames buffered between the query pool and the client.
const BUFFERED_FRAMES: usize = 16;

/// The remote-read routes, on Prometheus' path and Mimir's prefixed path.
pub fn router() -> Router<AppStateRef> {
    Router::new()
        .route("/api/v1/read", post(read))
        .route("/prometheus/api/v1/read", post(read))
}

/// One query, checked and bounded: its range, or `None` when the lookback limit
/// leaves nothing to read.
struct Planned {
    range: Option<(i64, i64)>,
    matchers: Vec<Matcher>,
}

async fn read(
    State(state): State<AppStateRef>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (tenant, selection) =
        crate::datasource::authorized_read(&state, &headers, pitot_core::DataKind::Metrics).await?;
    let body = read_body(body, state.limits.max_request_body_bytes).await?;
    let request = decode_read_request(&body, MAX_REQUEST_BYTES).map_err(|e| {
        ApiError::bad_data(format!(
            "cannot read the remote-read request: {e}; the body must be a snappy-compressed prometheus.ReadRequest of at most {MAX_REQUEST_BYTES} bytes decompressed"
        ))
    })?;
    let response_type = negotiate(&request.accepted_response_types)?;
    let limits = tenant_query::limits(&state, &tenant, state.engine.options().timeout);
    let gate = ReadGate::metrics(&limits);
    let now = chrono::Utc::now().timestamp_millis();
    let mut planned = Vec::with_capacity(request.queries.len());
    for (i, query) in request.queries.iter().enumerate() {
        planned.push(plan(&gate, query, now).map_err(|e| ApiError {
            message: format!("query {i}: {}", e.message),
            ..e
        })?);
    }
    let queryable = gate.metrics_queryable(selection.queryable(&state.queryable));
    let timeout = limits.timeout;
    match response_type {
        ResponseType::Samples => {
            let max_samples = limits.max_samples;
            let owner = tenant.clone();
            let response =
                tenant_query::run_read_timed(&state, &owner, timeout, move || async move {
                    samples_response(&queryable, &tenant, &planned, max_samples).await
                })
                .await?;
            Ok((
                [
                    (header::CONTENT_TYPE, "application/x-protobuf"),
                    (header::CONTENT_ENCODING, "snappy"),
                ],
                response,
            )
                .into_response())
        }
        ResponseType::StreamedXorChunks => {
            stream_chunks(&state, tenant, queryable, planned, timeout).await
        }
    }
}

/// The first accepted answer type this server knows, in the client's order.
fn negotiate(accepted: &[i32]) -> Result<ResponseType, ApiError> {
    if accepted.is_empty() {
        return Ok(ResponseType::Samples);
    }
    accepted
        .iter()
        .find_map(|&t| ResponseType::try_from(t).ok())
        .ok_or_else(|| {
            ApiError::bad_data(format!(
                "none of the accepted response types {accepted:?} is served; this server answers SAMPLES (0) and STREAMED_XOR_CHUNKS (1)"
            ))
        })
}

/// Checks one query's range and matchers against the tenant's limits.
fn plan(gate: &ReadGate, query: &Query, now: i64) -> Result<Planned, ApiError> {
    let (start, end) = (query.start_timestamp_ms, query.end_timestamp_ms);
    if end < start {
        return Err(ApiError::bad_data(format!(
            "end_timestamp_ms {end} is before start_timestamp_ms {start}"
        )));
    }
    let mut matchers = Vec::with_capacity(query.matchers.len());
    for m in &query.matchers {
        let op = MatchType::try_from(m.r#type).map_err(|_| {
            ApiError::bad_data(format!(
                "matcher on {:?} has unknown type {}; expected 0 (EQ), 1 (NEQ), 2 (RE) or 3 (NRE)",
                m.name, m.r#type
            ))
        })?;
        matchers.push(
            Matcher::from_op(m.name.clone(), op.operator(), &m.value)
                .map_err(|e| ApiError::bad_data(format!("matcher on {:?}: {e}", m.name)))?,
        );
    }
    Ok(Planned {
        range: gate.bound(start, end, now, LengthRule::Refuse)?,
        matchers,
    })
}

/// Selects one query's series, sorted by labels.
async fn select(
    queryable: &QueryableRef,
    tenant: &pitot_core::TenantId,
    query: &Planned,
) -> Result<Vec<Series>, ApiError> {
    let Some((start, end)) = query.range else {
        return Ok(Vec::new());
    };
    let querier = queryable.querier(tenant, start, end).map_err(read_error)?;
    let hints = SelectHints {
        start,
        end,
        labels_only: false,
    };
    let mut selected = querier
        .select(&hints, &query.matchers)
        .await
        .map_err(read_error)?;
    selected.series.sort_by(|a, b| a.labels.cmp(&b.labels));
    Ok(selected.series)
}

fn labels_of(series: &Series) -> Vec<Label> {
    series
        .labels
        .iter()
        .map(|l| Label::new(l.name.to_string(), l.value.to_string()))
        .collect()
}

/// The `SAMPLES` answer (snappy-compressed), refused once it would hold more than `max_samples` samples.
async fn samples_response(
    queryable: &QueryableRef,
    tenant: &pitot_core::TenantId,
    queries: &[Planned],
    max_samples: usize,
) -> Result<Vec<u8>, ApiError> {
    let mut results = Vec::with_capacity(queries.len());
    let mut total = 0usize;
    let mut buf = Vec::new();
    let mut pairs = Vec::new();
    for query in queries {
        let mut result = SeriesEncoder::default();
        let Some((start, end)) = query.range else {
            results.push(result.finish());
            continue;
        };
        for series in select(queryable, tenant, query).await? {
            buf.clear();
            series.collect_range(start, end, &mut buf);
            if buf.is_empty() {
                continue;
            }
            total += buf.len();
            if max_samples > 0 && total > max_samples {
                return Err(ApiError {
                    status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
                    error_type: "execution",
                    message: format!(
                    "the remote read would return more than {max_samples} samples (limit max_samples_per_query) (err-pitot-remote-read-samples); ask for STREAMED_XOR_CHUNKS, which streams without this bound, or narrow the range or the matchers"
                    ),
                });
            }
            pairs.clear();
            pairs.extend(buf.iter().map(|s| (s.t, s.v)));
            result.push(
                series
                    .labels
                    .iter()
                    .map(|l| (l.name.as_ref(), l.value.as_ref())),
                &pairs,
            );
        }
        results.push(result.finish());
    }
    Ok(encode_samples_response(results))
}

/// The frames of one series: chunks of [`SAMPLES_PER_CHUNK`] samples, a new frame
/// before the current one would pass [`MAX_FRAME_BYTES`] (labels aside).
fn series_frames(
    series: &Series,
    samples: &[pitot_core::Sample],
    query_index: i64,
) -> Result<Vec<Vec<u8>>, ApiError> {
    let labels = labels_of(series);
    let mut frames = Vec::new();
    let mut current = ChunkedSeries {
        labels: labels.clone(),
        chunks: Vec::new(),
    };
    let mut current_bytes = 0;
    let mut pairs = Vec::with_capacity(SAMPLES_PER_CHUNK);
    for part in samples.chunks(SAMPLES_PER_CHUNK) {
        pairs.clear();
        pairs.extend(part.iter().map(|s| (s.t, s.v)));
        let data = pitot_chunkenc::encode_prometheus_xor(&pairs).map_err(|e| {
            ApiError::internal(format!(
                "cannot encode a chunk of series {}: {e}",
                series.labels
            ))
        })?;
        // The chunk's bytes and its fields' framing (times, type, lengths).
        let size = data.len() + CHUNK_OVERHEAD_BYTES;
        if current_bytes + size > MAX_FRAME_BYTES && !current.chunks.is_empty() {
            let next = ChunkedSeries {
                labels: labels.clone(),
                chunks: Vec::new(),
            };
            frames.push(frame(std::mem::replace(&mut current, next), query_index));
            current_bytes = 0;
        }
        current_bytes += size;
        current.chunks.push(Chunk {
            min_time_ms: part[0].t,
            max_time_ms: part[part.len() - 1].t,
            r#type: ChunkEncoding::Xor as i32,
            data,
        });
    }
    if !current.chunks.is_empty() {
        frames.push(frame(current, query_index));
    }
    Ok(frames)
}

fn frame(series: ChunkedSeries, query_index: i64) -> Vec<u8> {
    let mut out = Vec::new();
    write_frame(
        &mut out,
        &ChunkedReadResponse {
            chunked_series: vec![series],
            query_index,
        },
    );
    out
}

/// The streamed answer, run by [`tenant_query::stream_read`]: every query's select
/// must succeed before the answer starts (an error before the first frame is the
/// request's answer), then frames go out as the client reads them.
async fn stream_chunks(
    state: &AppStateRef,
    tenant: pitot_core::TenantId,
    queryable: QueryableRef,
    planned: Vec<Planned>,
    timeout: std::time::Duration,
) -> Result<Response, ApiError> {
    let planned = Arc::new(planned);
    let (owner, for_emit) = (tenant.clone(), Arc::clone(&planned));
    let select = move || async move {
        let mut all = Vec::with_capacity(planned.len());
        for query in planned.iter() {
            all.push(select(&queryable, &tenant, query).await?);
        }
        Ok(all)
    };
    let emit = move |selected: Vec<Vec<Series>>, cancel: Cancel, frames: Sender<Bytes>| async move {
        let mut buf = Vec::new();
        for (index, (query, series)) in for_emit.iter().zip(&selected).enumerate() {
            let Some((start, end)) = query.range else {
                continue;
            };
            for s in series {
                if cancel.is_cancelled() {
                    return;
                }
                buf.clear();
                s.collect_range(start, end, &mut buf);
                if buf.is_empty() {
                    continue;
                }
                let Ok(encoded) = series_frames(s, &buf, index as i64) else {
                    // The stream cannot say why; ending it early makes the client's
                    // read fail rather than look complete.
                    tracing::error!(series = %s.labels, "remote read: a chunk could not be encoded; the stream ends here");
                    return;
                };
                for f in encoded {
                    if frames.send(Bytes::from(f)).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    let body =
        tenant_query::stream_read(state, owner, timeout, BUFFERED_FRAMES, select, emit).await?;
    Ok(([(header::CONTENT_TYPE, STREAMED_CONTENT_TYPE)], body).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_known_response_type_wins() {
        assert_eq!(negotiate(&[]).unwrap(), ResponseType::Samples);
        assert_eq!(negotiate(&[1, 0]).unwrap(), ResponseType::StreamedXorChunks);
        assert_eq!(negotiate(&[7, 0]).unwrap(), ResponseType::Samples);
        assert!(negotiate(&[7]).is_err());
    }

    #[test]
    fn a_long_series_is_cut_into_chunks_and_frames() {
        let samples: Vec<pitot_core::Sample> = (0..200_000)
            .map(|i| pitot_core::Sample {
                t: i * 1000,
                v: f64::from_bits(0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1)),
            })
            .collect();
        let series = Series::from_samples(
            pitot_core::Labels::from_unsorted(vec![pitot_core::Label::new("__name__", "x")]),
            samples.clone(),
        );
        let frames = series_frames(&series, &samples, 2).unwrap();
        assert!(
            frames.len() > 1,
            "random values pass 1 MiB: {}",
            frames.len()
        );
        let mut decoded = Vec::new();
        for f in &frames {
            assert!(f.len() <= MAX_FRAME_BYTES + 1024, "{}", f.len());
            let (message, rest) = pitot_proto::remote_read::read_frame(f).unwrap();
            assert!(rest.is_empty());
            assert_eq!(message.query_index, 2);
            for chunk in &message.chunked_series[0].chunks {
                let part = pitot_chunkenc::decode_prometheus_xor(&chunk.data).unwrap();
                assert!(part.len() <= SAMPLES_PER_CHUNK);
                assert_eq!(chunk.min_time_ms, part[0].0);
                assert_eq!(chunk.max_time_ms, part[part.len() - 1].0);
                decoded.extend(part);
            }
        }
        assert_eq!(decoded.len(), samples.len());
        assert!(decoded
            .iter()
            .zip(&samples)
            .all(|(a, b)| a.0 == b.t && a.1.to_bits() == b.v.to_bits()));
    }
}
