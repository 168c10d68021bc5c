"""Bulk payouts: groups of 1,000 payments with `atomic: false`, each
payment settling on its own, next to the ordinary settlement of the same
run. The groups are sent over HTTP to one web process with the workers
paused, then the workers settle them; payments per second from their
resumption until none is pending."""

from __future__ import annotations

import json
import time
import urllib.request

from bench.services import Services

GROUP_SIZE = 1000


def bulk_payouts(services: Services, payer: str, payees: list[str], groups: int = 10) -> dict:
    """`groups` payouts of `GROUP_SIZE` transfers of 1.00 from `payer`,
    spread over `payees`, sent while the workers are paused; payments
    settled per second once they resume."""
    from bench.run import any_pending, stopped

    headers = {"Authorization": f"Bearer {services.admin_token}", "Content-Type": "application/json"}
    with stopped(services.worker_pids):
        for group in range(groups):
            payouts = [
                {"from_account": payer, "to_account": payees[(group * GROUP_SIZE + n) % len(payees)], "amount": "1.00"}
                for n in range(GROUP_SIZE)
            ]
            body = json.dumps({"atomic": False, "payments": payouts}).encode()
            request = urllib.request.Request(
                services.urls[0] + "/api/v1/payment-groups", body, headers=headers, method="POST"
            )
            with urllib.request.urlopen(request, timeout=60) as reply:
                if reply.status != 202:
                    raise RuntimeError(f"a payout group was answered {reply.status}")
        # Resumed as this block ends, the workers take the settlement the groups asked for.
        started = time.perf_counter()
    while any_pending():
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    settled = groups * GROUP_SIZE
    return {"groups": groups, "payments": settled, "seconds": round(elapsed, 2), "per_s": round(settled / elapsed, 1)}
