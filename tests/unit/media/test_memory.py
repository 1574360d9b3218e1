"""Decompression bombs and big images, measured in a child process so the numbers are the
processing's own: peak resident memory of the child (VmHWM) and time."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import media_samples as samples

# Runs process_upload on each file given and reports, per file, the outcome and the time;
# then its own peak resident memory. Nothing else runs in that interpreter.
CHILD = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from imageboard.core.errors import DomainError
    from imageboard.media.limits import MediaLimits
    from imageboard.media.processing import process_upload

    workdir = Path(sys.argv[1])
    outcomes = []
    for name in sys.argv[2:]:
        started = time.perf_counter()
        try:
            result = process_upload(Path(name), name, MediaLimits(), is_op=True, workdir=workdir)
            outcome = {"accepted": [result.width, result.height, result.thumb_width, result.thumb_height]}
        except DomainError as error:
            outcome = {"refused": type(error).__name__, "message": error.message}
        outcome["seconds"] = time.perf_counter() - started
        outcomes.append(outcome)
    # VmHWM is the peak of this program's own memory map. (ru_maxrss would not do: Linux
    # carries the parent's resident size at fork over the exec into it.)
    status = Path("/proc/self/status").read_text()
    peak_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
    print(json.dumps({"outcomes": outcomes, "peak_mb": peak_kb / 1024}))
    """
)


def _run_child(workdir: Path, *files: Path) -> dict[str, object]:
    completed = subprocess.run(
        [sys.executable, "-c", CHILD, str(workdir), *map(str, files)],
        capture_output=True,
        timeout=120,
        check=True,
    )
    report: dict[str, object] = json.loads(completed.stdout.decode().strip().splitlines()[-1])
    return report


def _baseline_mb(workdir: Path) -> float:
    """Peak memory of the child doing nothing: the interpreter, libvips and our modules."""
    peak = _run_child(workdir)["peak_mb"]
    assert isinstance(peak, float)
    return peak


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> float:
    return _baseline_mb(tmp_path_factory.mktemp("baseline"))


def test_decompression_bombs_are_refused_quickly_with_little_memory(
    tmp_path: Path, workdir: Path, baseline: float
) -> None:
    bombs = {
        "bomb.png": samples.png_bomb(100_000, 100_000),
        "bomb.jpg": samples.jpeg_bomb(65_000, 65_000),
        "bomb.gif": samples.gif_bomb(65_535, 65_535),
        "bomb.webp": samples.webp_bomb(100_000, 100_000),
        "wide.png": samples.png_bomb(1_000_000, 1),  # few pixels, but one side far too long
    }
    files = []
    for name, data in bombs.items():
        path = tmp_path / name
        path.write_bytes(data)
        files.append(path)
    report = _run_child(workdir, *files)
    outcomes = report["outcomes"]
    assert isinstance(outcomes, list)
    for name, outcome in zip(bombs, outcomes, strict=True):
        assert outcome["refused"] == "TooLarge", (name, outcome)
        assert "The image is too large" in outcome["message"]
        assert outcome["seconds"] < 0.5, (name, outcome)
    assert "100000×100000 pixels" in outcomes[0]["message"]
    peak = report["peak_mb"]
    assert isinstance(peak, float)
    assert peak < baseline + 30, f"bombs raised peak memory to {peak:.0f} MB (baseline {baseline:.0f} MB)"
    assert list(workdir.iterdir()) == []


@pytest.fixture(scope="module")
def fifty_megapixels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """8000×6250 photos-like JPEGs (gradient plus noise, so the decoder has real work)."""
    import pyvips

    folder = tmp_path_factory.mktemp("50mp")
    width, height = 8000, 6250
    xyz = pyvips.Image.xyz(width, height)
    noise = pyvips.Image.gaussnoise(width, height, sigma=6)
    red = (xyz[0] * 255 / width + noise).cast("uchar")
    green = (xyz[1] * 255 / height + noise).cast("uchar")
    blue = ((xyz[0] + xyz[1]) / 57 + noise).cast("uchar")
    image = red.bandjoin([green, blue]).copy(interpretation="srgb")
    baseline_jpeg = folder / "baseline.jpg"
    image.jpegsave(str(baseline_jpeg), Q=75, keep=0)
    progressive = folder / "progressive.jpg"
    image.jpegsave(str(progressive), Q=75, interlace=True, keep=0)
    rotated = folder / "rotated.jpg"
    rotated.write_bytes(
        samples.insert_after_soi(
            baseline_jpeg.read_bytes(), samples.jpeg_segment(0xE1, samples.exif_blob(orientation=6))
        )
    )
    return {"baseline": baseline_jpeg, "progressive": progressive, "rotated": rotated}


@pytest.mark.parametrize(
    ("variant", "size"),
    [
        ("baseline", (8000, 6250, 250, 195)),
        ("progressive", (8000, 6250, 250, 195)),
        ("rotated", (6250, 8000, 195, 250)),
    ],
)
def test_fifty_megapixel_jpeg_stays_under_300_mb(
    fifty_megapixels: dict[str, Path],
    workdir: Path,
    variant: str,
    size: tuple[int, int, int, int],
    record_property: Callable[[str, object], None],
) -> None:
    source = fifty_megapixels[variant]
    assert source.stat().st_size <= 8 * 1024 * 1024  # within the default file size limit
    report = _run_child(workdir, source)
    outcomes = report["outcomes"]
    assert isinstance(outcomes, list)
    (outcome,) = outcomes
    assert outcome.get("accepted") == list(size), outcome
    peak = report["peak_mb"]
    assert isinstance(peak, float)
    record_property("peak_mb", round(peak))
    record_property("seconds", round(outcome["seconds"], 2))
    print(f"50 MP {variant} JPEG: peak RSS {peak:.0f} MB, {outcome['seconds']:.2f} s")
    assert peak < 300
