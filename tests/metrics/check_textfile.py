"""Reads a vault-token-renew metrics file with prometheus_client's parser (the Prometheus
project's own reading of the text exposition format) and checks what the runbook's alerts use.

Usage: check_textfile.py FILE EXPECTED_RESULT HEALS FAILURES
"""

import sys

from prometheus_client.parser import text_string_to_metric_families

PREFIX = "vault_token_renew_"


def main() -> None:
    path, result, heals, failures = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    text = open(path, encoding="utf-8").read()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    value = {}
    for family in families.values():
        for s in family.samples:
            assert s.labels.get("user"), f"{s.name} has no user label"
            value[(s.name, s.labels.get("result"))] = s.value

    # The counters' family names drop `_total`; their samples keep it.
    assert families[PREFIX + "heals"].type == "counter", families[PREFIX + "heals"].type
    assert families[PREFIX + "failures"].type == "counter"
    for gauge in ["last_run_timestamp_seconds", "last_success_timestamp_seconds", "last_run_result", "build_info"]:
        assert families[PREFIX + gauge].type == "gauge", gauge
    results = {r: value[(PREFIX + "last_run_result", r)] for r in ["ok", "healed", "drift", "fail"]}
    assert results == {r: float(r == result) for r in results}, results
    assert value[(PREFIX + "heals_total", None)] == heals, value
    assert value[(PREFIX + "failures_total", None)] == failures, value
    last_run = value[(PREFIX + "last_run_timestamp_seconds", None)]
    last_success = value[(PREFIX + "last_success_timestamp_seconds", None)]
    assert 0 < last_success <= last_run, (last_success, last_run)
    if result in ("ok", "healed"):
        assert last_success == last_run
        assert value[(PREFIX + "token_expire_timestamp_seconds", None)] > last_run
    print(f"{path}: {len(families)} families parse; last result {result}, heals {heals:g}, failures {failures:g}")


if __name__ == "__main__":
    main()
