"""Bytes per entity in each online store, from how Feast 0.67 lays the data out there.

- Entity key (serialization v3): 4 + per join key (4 type + 4 length + name) + per value (4 type + 4 length +
  8 for int64 or the string bytes).
- A feature value is a serialized ValueProto: 1 tag byte + payload (double 8, float 4, int64/int32/timestamp
  varint ~5, bool 1, string length varint + bytes); an event timestamp is a Timestamp proto (~12 bytes).
- Redis: one hash per entity key (+ project name) holding every view of that entity set: field mmh3(view:feature)
  (4 bytes) -> value, plus `_ts:<view>` -> timestamp. Listpack encoding (2 bytes around each entry) while the hash
  has <= 128 fields and values <= 64 bytes, else a hashtable (~48 bytes per field: dict entry, two sds headers,
  allocator rounding). ~64 bytes per key (dict entry, object header, key sds, bucket); x1.2 for fragmentation.
- DynamoDB: one item per entity per view: entity_id (32 hex chars), event_ts (ISO string), values map
  (name + value + 1 each), + 100 bytes of item overhead.
- PostgreSQL / SQLite: one row per entity per feature: 24-byte heap header (+ null bitmap, padded), 4-byte line
  pointer, entity_key, feature_name, value, two timestamps; primary-key (entity_key, feature_name) and entity_key
  B-tree entries (8-byte tuple header + key + 4-byte pointer) at 90% leaf fill.
"""

from __future__ import annotations

import math

from ml_expert_mcp.tools.features.inputs import EntitySpec, FeatureSpec

TIMESTAMP_PROTO = 12
REDIS_KEY_OVERHEAD = 64
REDIS_FRAGMENTATION = 1.2
LISTPACK_MAX_FIELDS, LISTPACK_MAX_VALUE = 128, 64


def value_bytes(f: FeatureSpec) -> int:
    payload = {"float64": 8, "float32": 4, "int64": 5, "int32": 5, "unix_timestamp": 5, "bool": 1}
    if f.dtype == "string":
        return 1 + (1 if f.avg_bytes < 128 else 2) + f.avg_bytes
    return 1 + payload[f.dtype]


def entity_key_bytes(entities: list[EntitySpec]) -> int:
    return 4 + sum(8 + len(e.join_key) + 8 + (8 if e.key_type == "int64" else 16) for e in entities)


def redis_bytes(project: str, entities: list[EntitySpec], views: list[tuple[str, list[FeatureSpec]]]) -> float:
    """One Redis hash: every view keyed by this entity set."""
    fields = [(4, value_bytes(f)) for _, feats in views for f in feats]
    fields += [(len(f"_ts:{name}"), TIMESTAMP_PROTO) for name, _ in views]
    listpack = len(fields) <= LISTPACK_MAX_FIELDS and all(v <= LISTPACK_MAX_VALUE for _, v in fields)
    per_field = 4 if listpack else 48
    body = (7 if listpack else 64) + sum(k + v + per_field for k, v in fields)
    key = entity_key_bytes(entities) + len(project)
    return (REDIS_KEY_OVERHEAD + key + body) * REDIS_FRAGMENTATION


def dynamodb_item_bytes(features: list[FeatureSpec], overhead: int) -> float:
    values = 3 + sum(len(f.name) + value_bytes(f) + 1 for f in features)
    return len("entity_id") + 32 + len("event_ts") + 26 + len("values") + values + overhead


def _align8(x: int) -> int:
    return 8 * math.ceil(x / 8)


def sql_bytes(entities: list[EntitySpec], features: list[FeatureSpec]) -> float:
    """One row per feature, with its two index entries."""
    key = entity_key_bytes(entities)
    total = 0.0
    for f in features:
        heap = _align8(24 + 1) + _align8((1 + key) + (1 + len(f.name)) + (1 + value_bytes(f))) + 16 + 4
        pk = 8 + _align8(1 + key + 1 + len(f.name)) + 4
        by_key = 8 + _align8(1 + key) + 4
        total += heap + (pk + by_key) / 0.9
    return total
