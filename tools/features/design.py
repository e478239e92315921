"""design_feature_store: the Feast repository for the caller's entities and views, the online store chosen from
QPS, p99, entity count and feature size with the sizing shown per candidate store, the offline store, and a local
profile (SQLite online, file offline, generated sample) the tests apply with the real Feast."""

from __future__ import annotations

import math

from ml_expert_mcp.tools.common.errors import PlanInputError
from ml_expert_mcp.tools.common.tool import tool
from ml_expert_mcp.tools.features import artifacts, sizing
from ml_expert_mcp.tools.features.facts import cite, facts, store
from ml_expert_mcp.tools.features.inputs import DesignFeatureStoreRequest, EntitySpec, FeatureViewSpec
from ml_expert_mcp.tools.features.plans import FeatureStoreArtifacts, FeatureStoreDesign, SizingLine, StoreOption

GIB = 1024**3
SECONDS_PER_MONTH = 30 * 86400
HEADROOM = 0.5  # plan nodes at half their published throughput
NODE_MEMORY_GIB = 26.0  # usable memory per node for the node count (an r7g.xlarge-class cache node holds ~26 GiB)


def _check(req: DesignFeatureStoreRequest) -> None:
    entity_names = [e.name for e in req.entities]
    if len(set(entity_names)) != len(entity_names):
        raise PlanInputError("entities", "entity names must be unique")
    views = {}
    for i, v in enumerate(req.feature_views):
        if v.name in views:
            raise PlanInputError(f"feature_views.{i}.name", f"duplicate view {v.name!r}")
        views[v.name] = v
        for j, name in enumerate(v.entities):
            if name not in entity_names:
                raise PlanInputError(f"feature_views.{i}.entities.{j}", f"unknown entity {name!r}; declared: "
                                     + ", ".join(entity_names))
        names = [f.name for f in v.features]
        if len(set(names)) != len(names):
            raise PlanInputError(f"feature_views.{i}.features", "feature names must be unique within a view")
    for i, o in enumerate(req.on_demand):
        for side in ("left", "right"):
            view, feature = getattr(o, side).split(":")
            if view not in views or feature not in {f.name for f in views[view].features}:
                raise PlanInputError(f"on_demand.{i}.{side}", f"{getattr(o, side)!r} names no declared view:feature")
            if views[view].features[[f.name for f in views[view].features].index(feature)].dtype in ("string", "bool"):
                raise PlanInputError(f"on_demand.{i}.{side}", "on-demand arithmetic needs a numeric feature")
    if req.on_demand:
        all_features = [f.name for v in req.feature_views for f in v.features]
        clash = {o.name for o in req.on_demand} & set(all_features)
        if clash:
            raise PlanInputError("on_demand", f"on-demand names clash with features: {sorted(clash)}")


def _keys(req: DesignFeatureStoreRequest, view: FeatureViewSpec) -> int:
    counts = {e.name: e.count for e in req.entities}
    return max(counts[n] for n in view.entities)


def _entities(req: DesignFeatureStoreRequest, view: FeatureViewSpec) -> list[EntitySpec]:
    by_name = {e.name: e for e in req.entities}
    return [by_name[n] for n in view.entities]


def _offline(req: DesignFeatureStoreRequest) -> tuple[str, str]:
    if req.warehouse:
        return req.warehouse, f"{req.warehouse}: the warehouse you named."
    if req.cloud == "local":
        return "file", "local: parquet files with the file offline store."
    if req.cloud == "gcp":
        return "bigquery", "GCP: BigQuery runs the point-in-time joins in the warehouse."
    if req.offline_gb <= 200:
        return "duckdb", f"{req.offline_gb:g} GB fits one machine: DuckDB over parquet joins it without a cluster."
    return "spark", f"{req.offline_gb:g} GB is past one machine: Spark runs the point-in-time joins."


def _options(req: DesignFeatureStoreRequest, serving: list[FeatureViewSpec]) -> list[StoreOption]:
    overhead = facts().feast_server_overhead_ms
    online_views = [v for v in req.feature_views if v.online]
    out = []
    for s in facts().store:
        why: list[str] = []
        calls = (len(serving) * math.ceil(req.entities_per_request / s.batch_limit)) if s.batch_limit else \
            (1 if s.id == "redis" else max(1, len(serving)))
        p99 = overhead + s.store_p99_ms * calls
        why.append(f"p99 {overhead:g} ms Feast server + {s.store_p99_ms:g} ms x {calls} round trip(s) ({s.round_trips}) "
                   f"= {p99:.3g} ms vs target {req.p99_ms:g} ms.")
        nodes: int | None = None
        usd: float | None = None
        if s.id == "redis":
            groups: dict[tuple[str, ...], list[FeatureViewSpec]] = {}
            for v in online_views:
                groups.setdefault(tuple(v.entities), []).append(v)
            gib = sum(max(_keys(req, vs[0]) for vs in [group]) * sizing.redis_bytes(
                req.project, _entities(req, group[0]), [(v.name, v.features) for v in group])
                for group in groups.values()) / GIB
            ops = req.online_qps * req.entities_per_request * max(1, len({tuple(v.entities) for v in serving}))
            by_ops = math.ceil(ops / (s.ops_per_node_s * HEADROOM)) if ops else 1
            by_mem = math.ceil(gib / NODE_MEMORY_GIB) or 1
            nodes = max(by_ops, by_mem, 1)
            why.append(f"{ops:.4g} HMGET/s at {HEADROOM:.0%} of {s.ops_per_node_s:.0f}/s per shard -> {by_ops}; "
                       f"{gib:.3g} GiB at {NODE_MEMORY_GIB:g} GiB per shard -> {by_mem}; x{1 + req.replicas} with replicas.")
        elif s.id == "dynamodb":
            gib = sum(_keys(req, v) * sizing.dynamodb_item_bytes(v.features, s.item_overhead_bytes or 0)
                      for v in online_views) / GIB
            rru = req.online_qps * req.entities_per_request * sum(
                0.5 * math.ceil(sizing.dynamodb_item_bytes(v.features, 0) / 4096) for v in serving)
            wru = sum((v.updates_per_day if v.updates_per_day is not None else _keys(req, v))
                      * math.ceil(sizing.dynamodb_item_bytes(v.features, 0) / 1024) for v in online_views) / 86400
            usd = (rru * SECONDS_PER_MONTH * (s.read_usd_per_million or 0) / 1e6
                   + wru * SECONDS_PER_MONTH * (s.write_usd_per_million or 0) / 1e6
                   + gib * GIB / 1e9 * (s.storage_usd_per_gb_month or 0))
            why.append(f"{rru:.4g} RRU/s at peak sustained + {wru:.4g} WRU/s + {gib:.3g} GiB: ${usd:,.0f}/month "
                       "on demand (an upper bound: peak all month).")
        else:
            gib = sum(_keys(req, v) * sizing.sql_bytes(_entities(req, v), v.features) for v in online_views) / GIB
            queries = req.online_qps * max(1, len(serving))
            by_ops = math.ceil(queries / (s.ops_per_node_s * HEADROOM)) if queries else 1
            nodes = by_ops if s.id == "postgres" else None
            why.append(f"{queries:.4g} queries/s at {HEADROOM:.0%} of {s.ops_per_node_s:.0f}/s per instance -> "
                       f"{by_ops} instance(s) (primary + read replicas); {gib:.3g} GiB incl. indexes.")
        total_gib = gib * (1 + req.replicas) if s.memory_bound else gib
        cloud_ok = req.cloud in s.clouds
        if not cloud_ok:
            why.append(f"not offered for cloud {req.cloud}.")
        fits = cloud_ok and p99 <= req.p99_ms
        out.append(StoreOption(store=s.id, fits=fits, p99_ms=round(p99, 3), memory_gib=round(total_gib, 4),
                               nodes=nodes, usd_per_month=round(usd, 2) if usd is not None else None, why=why,
                               sources=[cite(src) for src in s.sources]))
    return out


def _choose(req: DesignFeatureStoreRequest, options: list[StoreOption]) -> tuple[str, str]:
    by = {o.store: o for o in options}
    if req.cloud == "local":
        return "sqlite", "local: SQLite, in-process, no server."
    fitting = [o for o in options if o.fits and o.store != "sqlite"]
    if not fitting:
        best = min((o for o in options if o.store != "sqlite" and req.cloud in store(o.store).clouds),
                   key=lambda o: o.p99_ms)
        return best.store, (f"no store meets p99 {req.p99_ms:g} ms by the planning figures; {best.store} comes "
                            f"closest ({best.p99_ms:.3g} ms): measure, batch fewer views per request, or relax the target.")
    if "dynamodb" in {o.store for o in fitting}:
        return "dynamodb", ("DynamoDB meets the p99 on AWS without a memory ceiling or nodes to run "
                            f"(${by['dynamodb'].usd_per_month:,.0f}/month at peak).")
    if "postgres" in {o.store for o in fitting} and (by["postgres"].nodes or 1) <= 2 and by["postgres"].memory_gib < 200:
        return "postgres", "PostgreSQL meets the p99 and the load on one or two instances: no extra system to run."
    return "redis", f"Redis is the store that meets p99 {req.p99_ms:g} ms ({by['redis'].p99_ms:.3g} ms planned)."


@tool("Design a Feast feature store")
def design_feature_store(req: DesignFeatureStoreRequest) -> FeatureStoreDesign:
    """Feast feature repository (entities, views, TTLs, on-demand features, services) with online and offline
    stores chosen and sized from QPS, p99, entity count and feature sizes; local profile with sample data."""
    _check(req)
    services = artifacts.services_of(req)
    serving = [v for v in req.feature_views if v.online]
    options = _options(req, serving)
    online, online_why = _choose(req, options)
    offline, offline_why = _offline(req)
    chosen = next(o for o in options if o.store == online)
    engine = facts().materialize_rows_per_s
    lines = []
    for v in req.feature_views:
        rows = v.updates_per_day if v.updates_per_day is not None else float(_keys(req, v))
        if online == "redis":
            per = sizing.redis_bytes(req.project, _entities(req, v), [(v.name, v.features)])
        elif online == "dynamodb":
            per = sizing.dynamodb_item_bytes(v.features, store("dynamodb").item_overhead_bytes or 0)
        else:
            per = sizing.sql_bytes(_entities(req, v), v.features)
        usd = None
        if online == "dynamodb" and v.online:
            wru = math.ceil(sizing.dynamodb_item_bytes(v.features, 0) / 1024)
            usd = round(rows * 30 * wru * (store("dynamodb").write_usd_per_million or 0) / 1e6, 2)
        lines.append(SizingLine(view=v.name, entities=_keys(req, v), features=len(v.features),
                                bytes_per_entity=round(per, 1), gib=round(_keys(req, v) * per / GIB, 4) if v.online else 0,
                                rows_per_day=rows, materialize_minutes_per_day=round(rows / engine / 60, 3) if v.online else 0,
                                materialize_usd_per_month=usd))
    minutes = sum(x.materialize_minutes_per_day for x in lines)
    if minutes > 12 * 60:
        caveats_extra = [f"Materialization needs {minutes:,.0f} process-minutes a day: run it on "
                         f"{math.ceil(minutes / (12 * 60))}+ parallel processes or a distributed engine."]
    else:
        caveats_extra = []
    pit = [
        "get_historical_features joins each label row to the latest value with event_timestamp <= the label's "
        "timestamp and within the view's TTL: a value stamped after the label never leaks into training.",
        "Feast joins on event time only: a value that happened before the label but arrived later (created "
        "column) is still joined; if your features arrive late, shift the label timestamps back by that lag.",
    ] + [f"{v.name}: TTL {'0 = no expiry in Feast (the last value is used however old)' if v.ttl_seconds == 0 else f'{v.ttl_seconds} s'}"
         f"{'; online values older than that are returned as null' if v.ttl_seconds else ''}." for v in req.feature_views]
    skew = [
        "Training reads the offline store with the same definitions serving reads online: keep feature code in "
        "this repository (on-demand views run the same pandas code in both paths).",
        "Online values are only as fresh as the last materialization (or push for stream views): schedule "
        "`feast materialize-incremental` at least once per TTL, or serving sees nulls training never saw.",
    ] + [f"{v.name}: stream source: push to the online store and append to the batch source, or training and "
         "serving read different data." for v in req.feature_views if v.source == "stream"]
    caveats = [
        "Latency figures are planning numbers from published benchmarks and vendor statements, not a measurement "
        "of your network or server: load-test the feature server before committing to a p99.",
        "Memory follows Feast 0.67's layout per store; Redis adds allocator fragmentation (x1.2 assumed) and "
        "replicas; string features use the avg_bytes you gave.",
        f"Materialization time assumes {engine:g} rows/s per process "
        f"({cite(facts().materialize_rows_per_s_source)}); past that, use a distributed engine.",
        "Bigtable, Datastore, Cassandra and other Feast online stores are not compared.",
        f"Redis/PostgreSQL node counts assume {NODE_MEMORY_GIB:g} GiB usable per node and half the published "
        "throughput per node; scale them to the node type you buy.",
        "Feast 0.67's file (dask) offline store drops a label row from get_historical_features when one of its "
        "views has only values past the TTL (the DuckDB store returns nulls): count rows in and out when training "
        "from the local profile.",
        "Feast 0.67's DuckDB offline store failed to materialize a UnixTimestamp feature in our run (ValueError in "
        "type_map): store such timestamps as int64 epoch seconds there, or use the file store.",
    ] + caveats_extra
    summary = (f"Feast project {req.project}: online store {online} ({online_why}) and offline store {offline} "
               f"({offline_why}) for {req.online_qps:g} lookups/s of {req.entities_per_request} entit(y/ies) at p99 "
               f"{req.p99_ms:g} ms. Online data {chosen.memory_gib:.3g} GiB"
               + (f" on {chosen.nodes} node(s)" if chosen.nodes else "")
               + (f", ${chosen.usd_per_month:,.0f}/month" if chosen.usd_per_month is not None else "")
               + f"; materialization {sum(s.materialize_minutes_per_day for s in lines):.3g} min/day. "
               f"Services: {', '.join(services)}. A local profile (SQLite, files, sample data) applies as is.")
    return FeatureStoreDesign(
        summary=summary, caveats=caveats, online_store=online, offline_store=offline, options=options, sizing=lines,
        point_in_time=pit, training_serving_skew=skew, feature_services=services,
        artifacts=FeatureStoreArtifacts(
            repo_py=artifacts.repo_py(req, offline, local=False),
            feature_store_yaml=artifacts.feature_store_yaml(req, online, offline),
            local_repo_py=artifacts.repo_py(req, offline, local=True),
            local_feature_store_yaml=artifacts.local_feature_store_yaml(req),
            generate_sample_py=artifacts.generate_sample_py(req)))
