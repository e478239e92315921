"""plan_llm_serving against published engine start-up logs and serving benchmarks.

    python -m bench.llm_serving_accuracy

KV cache (bench/evidence/llm_kv_cache.csv): for every log, bytes per token must be exact (the only integer the
logged GiB figure and token count allow, given the log's 2-decimal rounding), and kv_cache.tokens within 5% (median
<= 2%) given the same settings and the logged 'Available KV cache memory'. Where the GPU and utilization are known,
the budget is also modelled from the settings alone (weights, activation, non-torch memory) and that error is shown.
Latency (bench/evidence/llm_serving_perf.csv): output tokens/s and TTFT against published serving benchmarks; the
median row must be within 25%. The planning search over 5 GPU types x TP 1-8 x replicas is timed last.
"""

from __future__ import annotations

import csv
import re
import statistics
import time
from pathlib import Path
from typing import Any

from ml_expert_mcp.knowledge import gpu_catalog
from ml_expert_mcp.tools.serving import llm_memory as mem
from ml_expert_mcp.tools.serving.llm_inputs import EngineConfig, LlmModel, PlanLlmServingRequest, Workload
from ml_expert_mcp.tools.serving.llm_latency import at_concurrency, at_rate
from ml_expert_mcp.tools.serving.llm_serving import evaluate, plan_llm_serving

EVIDENCE = Path(__file__).parent / "evidence"
ARCH_FIELDS = ("num_hidden_layers", "hidden_size", "num_attention_heads", "num_key_value_heads", "head_dim",
               "intermediate_size", "vocab_size", "num_local_experts", "num_experts_per_tok", "moe_intermediate_size",
               "kv_lora_rank", "qk_rope_head_dim", "sliding_window", "global_layer_every")


def _version(text: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", text)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 11)  # "V1 (...)": the 0.8-0.11 accounting


def model_of(row: dict[str, str]) -> LlmModel:
    fields: dict[str, Any] = {k: int(row[k]) for k in ARCH_FIELDS if row.get(k)}
    if row.get("params_b"):
        fields["params_b"] = float(row["params_b"])
    fields["max_position_embeddings"] = max(int(row["max_model_len"]), 4096)
    return LlmModel(**fields)


def kv_row(row: dict[str, str]) -> dict[str, Any]:
    arch = mem.resolve_arch(model_of(row))
    tp, pp = int(row["tensor_parallel"]), int(row["pipeline_parallel"] or 1)
    engine = row["engine"]
    kv_bytes = mem.kv_dtype_bytes(row["kv_cache_dtype"], engine, row["weight_format"])
    version = _version(row["engine_version"])
    layout = mem.kv_layout(arch, tp, pp, kv_bytes, hybrid=engine == "vllm" and version >= (0, 10))
    block = int(row["block_size"])
    mml = int(row["max_model_len"])
    logged = int(row["logged_tokens"]) if row["logged_tokens"] else 0
    out: dict[str, Any] = {"id": row["id"], "bytes_per_token": layout.bytes_per_token, "logged_tokens": logged,
                           "split": row.get("split") or "score"}

    def tokens_for(avail_gib: float) -> int:
        if engine == "sglang":
            return mem.sglang_tokens(avail_gib * mem.GIB, layout)
        chunk = int(row["max_num_batched_tokens"] or 8192)
        return mem.vllm_report(avail_gib * mem.GIB, arch, tp, pp, kv_bytes, block, mml, chunk, version).tokens

    if row["logged_available_kv_gib"] and logged:
        avail = float(row["logged_available_kv_gib"])
        charge = layout.bytes_per_token if engine == "vllm" else layout.exact_bytes_per_token
        # the logged GiB is rounded to 0.005 (SGLang: K and V sizes, 0.01): the per-token charge the log allows lies
        # in this interval; with several ranks the logged tokens are the minimum over ranks while the GiB figure
        # is one rank's, so only the upper bound applies there
        rounding = 0.01 if engine == "sglang" else 0.005
        low = (avail - rounding) * mem.GIB / (logged + block)
        high = (avail + rounding) * mem.GIB / logged
        out["bytes_exact"] = (low <= charge or tp * pp > 1 and engine == "vllm") and charge <= high
        out["implied_bytes"] = round(avail * mem.GIB / logged)
        predicted = tokens_for(avail)
        out["tokens"] = predicted
        out["tokens_error"] = abs(predicted - logged) / logged
    if row["gpu_total_gib"] and (row["gpu_memory_utilization"] or row["mem_fraction_static"]) and row["params_b"]:
        weights = mem.weight_bytes(arch, row["weight_format"])
        total = float(row["gpu_total_gib"])
        if engine == "vllm":
            chunk0, seqs0 = mem.vllm_default_limits(total, row["gpu"], version >= (0, 8), mml)
            chunk = int(row["max_num_batched_tokens"] or chunk0)
            budget = mem.vllm_budget(arch, weights, total, float(row["gpu_memory_utilization"]), tp, pp, chunk,
                                     int(row["max_num_seqs"] or seqs0), version)
        else:
            budget = mem.sglang_budget(weights, total, float(row["mem_fraction_static"]), tp, pp)
        out["budget_gib"] = round(budget.available_gib, 2)
        if logged:
            out["budget_tokens"] = tokens_for(budget.available_gib)
            out["budget_error"] = abs(out["budget_tokens"] - logged) / logged
        else:  # budget-only log: compare the KV budget itself
            logged_gib = float(row["logged_available_kv_gib"])
            out["budget_error"] = abs(budget.available_gib - logged_gib) / logged_gib
    return out


def kv_report() -> dict[str, float]:
    rows = list(csv.DictReader((EVIDENCE / "llm_kv_cache.csv").open(encoding="utf-8")))
    results = [kv_row(r) for r in rows]
    print(f"KV cache evidence: {len(rows)} start-up logs ({EVIDENCE / 'llm_kv_cache.csv'})")
    print(f"{'id':36} {'split':>5} {'B/token':>8} {'implied':>8} {'exact':>5} {'logged':>9} {'ours':>9} {'err%':>6} "
          f"{'budget':>7} {'err%':>6}")
    for r in results:
        print(f"{r['id']:36} {r['split']:>5} {r['bytes_per_token']:>8} {r.get('implied_bytes', ''):>8} "
              f"{str(r.get('bytes_exact', '-')):>5} {r['logged_tokens']:>9} {r.get('tokens', ''):>9} "
              f"{100 * r['tokens_error'] if 'tokens_error' in r else float('nan'):>6.2f} "
              f"{r.get('budget_gib', ''):>7} {100 * r['budget_error'] if 'budget_error' in r else float('nan'):>6.1f}")
    errs = [r["tokens_error"] for r in results if "tokens_error" in r]
    exact = [r["bytes_exact"] for r in results if "bytes_exact" in r]
    budget = [r["budget_error"] for r in results if "budget_error" in r and r["split"] == "score"]
    fitted = [r["budget_error"] for r in results if "budget_error" in r and r["split"] == "fit"]
    token_logs = sum(1 for r in results if r["logged_tokens"])
    summary = {"logs": len(rows), "token_logs": token_logs, "rows_with_available": len(errs), "bytes_exact": sum(exact),
               "tokens_max_err": max(errs), "tokens_median_err": statistics.median(errs),
               "budget_rows": len(budget), "budget_median_err": statistics.median(budget) if budget else float("nan"),
               "budget_max_err": max(budget) if budget else float("nan")}
    print(f"bytes/token exact: {summary['bytes_exact']}/{len(exact)}; kv_cache.tokens error: median "
          f"{100 * summary['tokens_median_err']:.2f}%, max {100 * summary['tokens_max_err']:.2f}% "
          f"(floor: every row <= 5%, median <= 2%; at least 30 logs with a token line: {token_logs} of {len(rows)})")
    if budget:
        print(f"budget modelled from settings alone, held-out rows ({len(budget)}): median "
              f"{100 * summary['budget_median_err']:.1f}%, max {100 * summary['budget_max_err']:.1f}%")
    if fitted:
        print(f"  (rows the V1 profile-run constant was fitted on ({len(fitted)}): median "
              f"{100 * statistics.median(fitted):.1f}%, max {100 * max(fitted):.1f}%; not a score)")
    return summary


def perf_report() -> dict[str, float] | None:
    path = EVIDENCE / "llm_serving_perf.csv"
    if not path.exists():
        print("latency evidence: none")
        return None
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    print(f"\nServing benchmarks: {len(rows)} rows ({path})")
    print(f"{'id':34} {'tok/s':>8} {'ours':>8} {'err%':>6} {'TTFT ms':>8} {'ours':>8} {'err%':>6} {'AIC err':>8}")
    tok_errs, ttft_errs = [], []
    for row in rows:
        model = model_of(row)
        req = PlanLlmServingRequest(model=model, weight_format=row["weight_format"], kv_cache_dtype=row["kv_cache_dtype"],
                                    engine=row["engine"], engine_version=row["engine_version"], gpu=row["gpu"])
        arch = mem.resolve_arch(model)
        cfg = EngineConfig(tensor_parallel=int(row["tensor_parallel"]),
                           max_num_seqs=int(row["max_num_seqs"]) if row["max_num_seqs"] else None,
                           max_model_len=int(row["max_model_len"]),
                           gpu_memory_utilization=float(row["gpu_memory_utilization"] or 0.9),
                           max_num_batched_tokens=int(row["max_num_batched_tokens"]) if row["max_num_batched_tokens"] else None)
        n_in, n_out = int(row["input_tokens"]), int(row["output_tokens"])
        wl = Workload(mode="concurrency", concurrency=int(row["concurrency"]), input_tokens=n_in, output_tokens=n_out)
        ev = evaluate(req, arch, gpu_catalog()[row["gpu"]], cfg, int(row["max_model_len"]), wl)
        if row["concurrency"]:
            point = at_concurrency(ev.replica, int(row["concurrency"]), n_in, n_out, n_in, ev.settings.max_num_seqs,
                                   ev.kv_seqs, ev.chunk)
        else:
            point = at_rate(ev.replica, float(row["requests_per_s"]), n_in, n_out, n_in, ev.settings.max_num_seqs,
                            ev.kv_seqs, ev.chunk)
        tok = point.output_tokens_per_s * float(row.get("replicas") or 1)
        measured_tok = float(row["output_tokens_per_s"])
        tok_err = abs(tok - measured_tok) / measured_tok
        tok_errs.append(tok_err)
        ttft_err = float("nan")
        if row["ttft_ms"]:
            ttft_err = abs(point.ttft_s * 1e3 - float(row["ttft_ms"])) / float(row["ttft_ms"])
            ttft_errs.append(ttft_err)
        print(f"{row['id']:34} {measured_tok:>8.0f} {tok:>8.0f} {100 * tok_err:>6.1f} {row['ttft_ms'] or '-':>8} "
              f"{point.ttft_s * 1e3:>8.0f} {100 * ttft_err:>6.1f} {row.get('aiconfigurator_error', '') or '-':>8}")
    out = {"rows": len(rows), "tok_median_err": statistics.median(tok_errs),
           "ttft_median_err": statistics.median(ttft_errs) if ttft_errs else float("nan")}
    print(f"output tokens/s error: median {100 * out['tok_median_err']:.1f}%; TTFT error: median "
          f"{100 * out['ttft_median_err']:.1f}% (floor: median row within 25%)")
    return out


def search_timing() -> float:
    req = PlanLlmServingRequest.model_validate({
        "model": {"preset": "llama-3.1-70b"}, "weight_format": "fp8",
        "gpus": ["L4", "L40S", "A100-SXM-80GB", "H100-SXM-80GB", "H200-SXM-141GB"],
        "workload": {"mode": "rate", "requests_per_s": 10, "input_tokens": 2000, "output_tokens": 300,
                     "ttft_p95_ms": 2000, "tpot_p95_ms": 60}})
    start = time.perf_counter()
    plan = plan_llm_serving(req)
    elapsed = time.perf_counter() - start
    print(f"\nplanning search, 5 GPU types x TP 1-8 x replicas ({len(plan.candidates)} candidates listed): "
          f"{elapsed * 1e3:.0f} ms (floor: < 1 s); pick: {plan.settings.gpu} TP{plan.settings.tensor_parallel} "
          f"x {plan.replicas}")
    return elapsed


def main() -> None:
    kv_report()
    perf_report()
    search_timing()


if __name__ == "__main__":
    main()
