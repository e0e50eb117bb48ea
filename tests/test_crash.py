"""Crash safety: a real writer process SIGKILLed at random moments, 50 times.

After every kill each batch is whole or absent, the chain verifies, the live projections equal a
replay of the log, and the next writer resumes appending where the last one stopped.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter

from monitor.daemon import open_store
from monitor.projections import Projector, default_projections, replay
from monitor.store import verify

BATCH = 25
WRITER = f"""
import sys, uuid
from monitor.daemon import open_store
from monitor.events import NewEvent
store = open_store(sys.argv[1])
print("ready", flush=True)
run = uuid.uuid4().hex[:8]
for b in range(10**9):
    batch_id = f"{{run}}-{{b}}"
    store.append([NewEvent("Noted", f"item:crash:{{i % 5}}", {{"batch": batch_id, "i": i, "pad": "x" * 300}},
                           f"{{batch_id}}-{{i}}") for i in range({BATCH})])
"""


def test_sigkill_during_appends_never_leaves_a_partial_batch(tmp_path):
    rng = random.Random(20261121)
    heads = []
    for attempt in range(50):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        assert child.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.15))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()

        with open_store(tmp_path) as store:
            report = verify(store.conn)
            assert report.ok, f"after kill {attempt}: {report.problem}"
            sizes = Counter(e.data["batch"] for e in store.read())
            partial = {batch: n for batch, n in sizes.items() if n != BATCH}
            assert not partial, f"after kill {attempt}: partial batches {partial}"
            heads.append(report.head_seq)
            if attempt % 10 == 9:
                live = [p["digest"] for p in Projector(default_projections()).digests(store.conn)]
                assert live == [p["digest"] for p in replay(store, default_projections()).projections]
    assert heads == sorted(heads)
    assert heads[-1] > heads[len(heads) // 2] > 0, "appending must resume after each crash"
