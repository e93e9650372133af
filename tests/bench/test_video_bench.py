"""bench/video.py runs end to end at a tiny size and prints its summary line.

The figures are not judged (the machine is shared); what is checked is that
the worker starts and stops, the checks report, and the last line's format.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_video_bench_ramps_and_prints_its_summary():
    done = subprocess.run(
        [sys.executable, "bench/video.py", "--steps", "1,2", "--duration", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    summary = re.fullmatch(
        r"video device_checks=(\d+) cpu_per_check_pct=(\d+) frames_ok_pct=(\d+)", lines[-1]
    )
    assert summary, lines[-1]
    steps = [line for line in lines if line.startswith("step n=")]
    assert steps and steps[0].startswith("step n=1: ok"), steps
    assert int(summary.group(1)) >= 1 and int(summary.group(3)) >= 90
