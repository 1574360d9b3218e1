"""Faults, end to end, against the real server process:

* SIGKILL while uploads of several megabytes are in flight, three times over: no post is
  half-written (a post and its file appear together or not at all), every 2xx answer
  survives, and ``imageboard media gc --grace-hours 0`` removes every stray blob, half-written
  file and scratch file the dead processes left;
* PostgreSQL (a private cluster of this test) stopped under load for a few seconds: clear
  503s while it is down, recovery without restarting the site, and the load's integrity audit;
* Redis (our own server) killed: pages are still served, posting pauses with a clear 503
  from anti-spam, and both recover when Redis is back — the site is not restarted;
* NATS (our own server) killed: posting keeps working (the outbox holds the events) and
  every committed event reaches the stream once NATS is back;
* the media volume full (a 2 MB tmpfs): a clear 507, no post, no partial file; the site
  goes on serving and taking text posts.

Figures (errors while down, recovery times) go to the reliability figures.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import pyvips

from tests.reliability.conftest import Figures
from tests.reliability.load import LoadResult, make_threads, run_load, verify
from tests.reliability.services import (
    JSON,
    OwnNats,
    OwnRedis,
    PrivatePostgres,
    Rows,
    Site,
    admin,
    files_under,
    kill_site,
    private_postgres_root,
    restart_site,
    sqlite_rows,
    start_site,
    stop_site,
    wait_for,
)

BOARD_OPTIONS = [
    "--no-require-file", "--bump-limit", "100000", "--image-limit", "100000", "--pages", "100",
    "--threads-per-page", "100",
]  # fmt: skip


@contextlib.contextmanager
def running(data_dir: Path, env: dict[str, str]) -> Iterator[Site]:
    site = start_site(data_dir, env)
    try:
        yield site
    finally:
        stop_site(site)


# --------------------------------------------------------------------------- SIGKILL


def noise_png(seed: int, size: int = 1300) -> bytes:
    """A PNG of noise that does not compress: about 5 MB, and different for every seed."""
    band = pyvips.Image.gaussnoise(size, size, mean=128 + seed % 50, sigma=60).cast("uchar")
    image = band.bandjoin([band.rot90(), band.flip("horizontal")]).copy(interpretation="srgb")
    data: bytes = image.pngsave_buffer(compression=0, keep=pyvips.enums.ForeignKeep.NONE)
    return data


@dataclass
class Upload:
    token: str
    status: int | None = None
    no: int | None = None
    error: str = ""


def multipart_body(token: str, data: bytes, boundary: str = "killkillkill") -> tuple[bytes, str]:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="com"\r\n\r\n{token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="upfile"; filename="{token}.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def send_upload(url: str, upload: Upload, data: bytes, *, slow: bool) -> None:
    body, content_type = multipart_body(upload.token, data)

    def trickle() -> Iterator[bytes]:
        for at in range(0, len(body), 128 * 1024):
            yield body[at : at + 128 * 1024]
            time.sleep(0.05)

    try:
        answer = httpx.post(
            url + "/b/post",
            content=trickle() if slow else body,
            headers={**JSON, "content-type": content_type},
            timeout=60,
        )
        upload.status = answer.status_code
        if answer.status_code == 201:
            upload.no = answer.json()["no"]
        else:
            upload.error = answer.text[:200]
    except httpx.HTTPError as exc:
        upload.error = type(exc).__name__


def referenced_keys(data_dir: Path) -> set[str]:
    """The storage keys live attachments point at: originals and their thumbnails."""
    keys = set()
    for sha, ext, box in sqlite_rows(
        data_dir,
        "SELECT b.sha256, b.ext, a.thumb_box FROM attachments a JOIN media_blobs b ON b.sha256 = a.blob_sha256 "
        "WHERE NOT a.deleted",
    ):
        keys.add(f"src/{sha[:2]}/{sha}{ext}")
        if box:
            keys.add(f"thumb/{sha[:2]}/{sha}-{box}.jpg")
    return keys


def _spooling(data_dir: Path) -> bool:
    """An upload is being copied to the work directory."""
    return any(p.stat().st_size > 512 * 1024 for p in (data_dir / "tmp").glob("upload-*") if p.exists())


def _processing(data_dir: Path) -> bool:
    """An upload is being cleaned and thumbnailed."""
    return any((data_dir / "tmp").glob("ingest-*/media-*"))


def _storing(data_dir: Path) -> bool:
    """A file reached the media directory that no post references yet."""
    return bool(files_under(data_dir / "media") - referenced_keys(data_dir))


KILL_MOMENTS = {"spooling": _spooling, "processing": _processing, "storing": _storing, "answering": None}


def test_sigkill_during_uploads(tmp_path_factory: pytest.TempPathFactory, figures: Figures) -> None:
    bodies = [noise_png(seed) for seed in range(8)]
    site = start_site(tmp_path_factory.mktemp("sigkill") / "site", {"IMAGEBOARD_ANTISPAM": "off"})
    uploads: list[Upload] = []
    moments: dict[str, float] = {}
    try:
        for round_no, (moment, reached) in enumerate(KILL_MOMENTS.items()):
            batch = [Upload(f"sigkill-r{round_no}-u{i}") for i in range(len(bodies))]
            uploads += batch
            workers = [
                threading.Thread(target=send_upload, args=(site.url, u, bodies[i]), kwargs={"slow": i % 2 == 0})
                for i, u in enumerate(batch)
            ]
            started = time.monotonic()
            for worker in workers:
                worker.start()

            # Kill at the moment this round is about (or after 15 s, whatever happens); the
            # last round kills once some uploads were answered and others are in flight.
            def now(
                reached: Callable[[Path], bool] | None = reached,
                batch: list[Upload] = batch,
                data_dir: Path = site.data_dir,
            ) -> bool:
                if reached is None:
                    return sum(1 for u in batch if u.status == 201) >= 3
                try:
                    return reached(data_dir)
                except FileNotFoundError:
                    # The server removed a scratch directory while the probe walked it: look again.
                    return False

            with contextlib.suppress(AssertionError):
                wait_for(now, within=15, every=0.005, what=moment)
            moments[moment] = round(time.monotonic() - started, 2)
            kill_site(site)
            for worker in workers:
                worker.join(timeout=60)
            site = restart_site(site)
        data_dir = site.data_dir
        stray_media = files_under(data_dir / "media") - referenced_keys(data_dir)
        stray_scratch = files_under(data_dir / "tmp")

        # No half-written post: every post of these uploads holds its one file, whole.
        stored = {
            comment: (no, files)
            for no, comment, files in sqlite_rows(
                data_dir,
                "SELECT p.no, p.comment, (SELECT count(*) FROM attachments a WHERE a.post_id = p.id) FROM posts p "
                "WHERE p.comment LIKE 'sigkill-%'",
            )
        }
        assert all(files == 1 for _, files in stored.values()), stored
        for upload in uploads:
            if upload.status == 201:
                assert stored.get(upload.token, (None,))[0] == upload.no, f"{upload.token} was answered but is lost"
            elif upload.status is not None:
                assert upload.token not in stored, f"{upload.token} was refused ({upload.status}) but is stored"
        for no, _ in stored.values():
            post = httpx.get(f"{site.url}/b/thread/{no}.json", timeout=30).json()["posts"][0]
            original = httpx.get(f"{site.url}/media/b/{post['tim']}{post['ext']}", timeout=30)
            assert original.status_code == 200 and len(original.content) == post["fsize"]
            assert httpx.get(f"{site.url}/media/b/{post['tim']}s.jpg", timeout=30).status_code == 200

        # The collector removes what the dead processes left, and nothing a post uses.
        gc = site.cli("media", "gc", "--grace-hours", "0")
        assert gc.returncode == 0, gc.stderr
        assert files_under(data_dir / "media") == referenced_keys(data_dir), "stray blobs survived the collector"
        assert files_under(data_dir / "tmp") == set(), "scratch files survived the collector"
        for no, _ in stored.values():
            post = httpx.get(f"{site.url}/b/thread/{no}.json", timeout=30).json()["posts"][0]
            assert httpx.get(f"{site.url}/media/b/{post['tim']}{post['ext']}", timeout=30).status_code == 200
        answered = sum(1 for u in uploads if u.status == 201)
        figures.record(
            "sigkill_during_uploads",
            kills=len(KILL_MOMENTS),
            killed_after_s=moments,
            uploads_started=len(uploads),
            answered_2xx=answered,
            cut_off=sum(1 for u in uploads if u.status is None),
            posts_stored=len(stored),
            stored_without_answer=len(stored) - answered,
            half_written_posts=0,
            stray_blobs_before_gc=len(stray_media),
            scratch_files_before_gc=len(stray_scratch),
            gc_output_lines=len(gc.stdout.splitlines()) - 1,
        )
        # The kills must have hit uploads in flight and left debris, or this test proved nothing.
        assert sum(1 for u in uploads if u.status is None) >= 6
        assert stray_scratch, "no kill left scratch files behind"
        answer = httpx.post(site.url + "/b/post", data={"com": "after the kills"}, headers=JSON, timeout=30)
        assert answer.status_code == 201
    finally:
        stop_site(site)


# --------------------------------------------------------------------------- media volume full


@pytest.fixture
def tiny_media(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A data directory whose media directory is a 2 MB tmpfs (root only: mount)."""
    data_dir = tmp_path_factory.mktemp("full") / "site"
    media = data_dir / "media"
    media.mkdir(parents=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m,mode=0755", "tmpfs", str(media)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert mounted.returncode == 0, f"cannot mount a tmpfs (run as root): {mounted.stderr}"
    try:
        yield data_dir
    finally:
        subprocess.run(["umount", "-l", str(media)], check=False)


def test_media_volume_full(tiny_media: Path, figures: Figures) -> None:
    first, second = noise_png(1, 620), noise_png(2, 620)  # about 1.15 MB each
    with running(tiny_media, {"IMAGEBOARD_ANTISPAM": "off"}) as site:
        fits = httpx.post(
            site.url + "/b/post",
            data={"com": "fits"},
            files={"upfile": ("a.png", first, "image/png")},
            headers=JSON,
            timeout=60,
        )
        assert fits.status_code == 201, fits.text
        before = sqlite_rows(site.data_dir, "SELECT count(*) FROM posts")[0][0]
        last_no = httpx.get(site.url + "/api/v1/boards/b", timeout=30).json()["last_post_no"]
        answers = {}
        for route, files in (("/b/post", "upfile"), ("/api/v1/boards/b/threads", "files")):
            answer = httpx.post(
                site.url + route,
                data={"com": "does not fit", "comment": "does not fit"},
                files={files: ("b.png", second, "image/png")},
                headers=JSON,
                timeout=60,
            )
            answers[route] = answer.status_code
            assert answer.status_code == 507, answer.text
            error = answer.json()["error"]
            assert error["code"] == "storage_full" and "no room" in error["message"], error
        html = httpx.post(
            site.url + "/b/post",
            data={"com": "does not fit"},
            files={"upfile": ("b.png", second, "image/png")},
            timeout=60,
        )
        assert html.status_code == 507 and "no room left" in html.text
        # Nothing half-written: no post, no number used, no partial file in the media directory.
        assert sqlite_rows(site.data_dir, "SELECT count(*) FROM posts")[0][0] == before
        assert httpx.get(site.url + "/api/v1/boards/b", timeout=30).json()["last_post_no"] == last_no
        assert not [k for k in files_under(site.data_dir / "media") if ".tmp-" in k]
        assert files_under(site.data_dir / "tmp") == set()
        # The site goes on: pages, the first file, and posts without files.
        assert httpx.get(site.url + "/b/", timeout=30).status_code == 200
        post = httpx.get(f"{site.url}/b/thread/{fits.json()['no']}.json", timeout=30).json()["posts"][0]
        stored = httpx.get(f"{site.url}/media/b/{post['tim']}{post['ext']}", timeout=30).content
        assert base64.b64encode(hashlib.md5(stored, usedforsecurity=False).digest()).decode() == post["md5"]
        text_only = httpx.post(site.url + "/b/post", data={"com": "text still works"}, headers=JSON, timeout=30)
        assert text_only.status_code == 201
        figures.record("media_volume_full", volume="tmpfs 2 MB", answers=answers, html_answer=html.status_code)


# --------------------------------------------------------------------------- PostgreSQL restart

DOWN_SECONDS = 3.0
RECOVERY_LIMIT = 10.0


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres(private_postgres_root())
    cluster.create()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


def _json_error(text: str) -> dict[str, str]:
    try:
        return dict(json.loads(text)["error"])
    except (ValueError, KeyError, TypeError):
        return {}


def test_postgres_restart_under_load(
    private_postgres: PrivatePostgres, tmp_path_factory: pytest.TempPathFactory, figures: Figures
) -> None:
    admin(private_postgres.dsn, 'CREATE DATABASE "site"')
    dsn = private_postgres.dsn.rsplit("/", 1)[0] + "/site"
    url = dsn.replace("postgresql://", "postgresql+asyncpg://", 1)
    data_dir = tmp_path_factory.mktemp("pg-restart") / "site"
    with running(data_dir, {"IMAGEBOARD_ANTISPAM": "off", "IMAGEBOARD_DATABASE_URL": url}) as site:
        pid = site.pid
        assert site.cli("create-board", "load", "Load", *BOARD_OPTIONS).returncode == 0
        threads = make_threads(site.url, "load", 6, "pgpgpg")
        results: list[LoadResult] = []

        def load() -> None:
            results.append(
                asyncio.run(
                    run_load(
                        site.url,
                        "load",
                        posters=8,
                        readers=2,
                        seconds=4 + DOWN_SECONDS + 14,
                        threads=threads,
                        request_timeout=20,
                    )
                )
            )

        runner = threading.Thread(target=load)
        runner.start()
        time.sleep(4)
        down_at = time.monotonic()
        private_postgres.stop("fast")  # every connection is cut, as in a restart or fail-over
        time.sleep(DOWN_SECONDS)
        private_postgres.start()  # returns once it accepts connections
        up_at = time.monotonic()
        runner.join(timeout=120)
        assert results, "the load did not finish"
        result = results[0]
        down, up = down_at - result.started_at, up_at - result.started_at

        requests = [(a.started, a.ended, a.status, a.error) for a in result.attempts]
        requests += [(r.started, r.ended, r.status, r.error) for r in result.reads]
        before = [r for r in requests if r[1] < down]
        during = [r for r in requests if r[1] >= down and r[0] < up]
        after = [r for r in requests if r[0] >= up]
        assert before and during and after
        assert all(status is not None and status < 400 for _, _, status, _ in before), "errors before the outage"
        # While it is down: clear 503s, never another 5xx, never a dropped connection.
        outage_statuses = Counter(status for _, _, status, _ in during)
        assert None not in outage_statuses, [e for *_, s, e in during if s is None][:5]
        assert all(s < 500 or s == 503 for s in outage_statuses if s is not None), outage_statuses
        messages = {e for _, _, s, e in during if s == 503}
        assert messages and all("database cannot be reached" in m for m in messages), messages
        # Recovery, without restarting the site: the first success after the start, then no error.
        successes = sorted(end for start, end, status, _ in after if status is not None and status < 400)
        assert successes, "nothing succeeded after PostgreSQL came back"
        recovery = successes[0] - up
        settled = up + recovery
        late_errors = [(s, e) for start, _, s, e in requests if start >= settled + 0.5 and (s is None or s >= 400)]
        assert late_errors == [], late_errors[:5]
        assert recovery < RECOVERY_LIMIT, f"recovered after {recovery:.1f} s"
        assert site.pid == pid and site.alive()

        report = verify(site.url, "load", result, Rows(data_dir, postgres_dsn=dsn))
        assert report.problems == [], "\n".join(report.problems[:20])
        figures.record(
            "postgres_restart",
            requests=len(requests),
            down_s=round(up - down, 1),
            answers_while_down=dict(sorted((str(k), v) for k, v in outage_statuses.items())),
            non_503_server_errors=sum(1 for s in outage_statuses if s is not None and s >= 500 and s != 503),
            recovery_s=round(recovery, 2),
            **{
                k: v
                for k, v in report.summary().items()
                if k in ("tried", "accepted_2xx", "stored", "stored_without_answer", "problems")
            },
        )


# --------------------------------------------------------------------------- Redis down


def test_redis_down(tmp_path_factory: pytest.TempPathFactory, figures: Figures) -> None:
    redis = OwnRedis()
    redis.start()
    env = {
        "IMAGEBOARD_REDIS_URL": redis.url,
        "IMAGEBOARD_PAGE_CACHE": "redis",
        "IMAGEBOARD_ANTISPAM": "on",
        "IMAGEBOARD_ANTISPAM_AUTOMATED_CHECKS": "false",
        "IMAGEBOARD_ANTISPAM_THREADS_PER_WINDOW": "1000",
        "IMAGEBOARD_ANTISPAM_REPLIES_PER_WINDOW": "1000",
        "IMAGEBOARD_ANTISPAM_SITE_BURST_POSTS": "1000",
        "IMAGEBOARD_ANTISPAM_DUPLICATE_WINDOW": "0",
    }
    try:
        with running(tmp_path_factory.mktemp("redis") / "site", env) as site:
            pid = site.pid
            client = site.client(headers=JSON)
            first = client.post("/b/post", data={"sub": "redis", "com": "before"})
            assert first.status_code == 201, first.text
            thread = first.json()["no"]
            pages = ["/", "/b/", f"/b/thread/{thread}", "/b/catalog", f"/b/thread/{thread}.json", "/api/v1/boards/b"]
            for path in pages:
                assert httpx.get(site.url + path, timeout=30).status_code == 200

            redis.kill()
            down_at = time.monotonic()
            refused: list[httpx.Response] = []
            for i in range(5):
                answer = client.post("/b/post", data={"resto": str(thread), "com": f"while redis is down {i}"})
                refused.append(answer)
            statuses = Counter(a.status_code for a in refused)
            assert set(statuses) == {503}, [a.text for a in refused]
            for answer in refused:
                error = answer.json()["error"]
                assert error["code"] == "antispam_unavailable" and len(error["message"]) > 30, error
                assert answer.headers.get("retry-after")
            page_answers = Counter(httpx.get(site.url + path, timeout=30).status_code for path in pages * 3)
            assert set(page_answers) == {200}, page_answers
            posts_while_down = httpx.get(f"{site.url}/b/thread/{thread}.json", timeout=30).json()["posts"]
            assert len(posts_while_down) == 1, "a refused post was stored"

            redis.start()
            up_at = time.monotonic()

            def posting_works() -> bool:
                answer = client.post("/b/post", data={"resto": str(thread), "com": f"after {time.monotonic()}"})
                return answer.status_code == 201

            recovery = wait_for(posting_works, within=30, every=0.2, what="posting after Redis came back")
            assert all(httpx.get(site.url + path, timeout=30).status_code == 200 for path in pages)
            assert site.pid == pid and site.alive()
            figures.record(
                "redis_down",
                posting_while_down=dict(statuses),
                pages_while_down=dict(page_answers),
                down_s=round(up_at - down_at, 1),
                posting_recovery_s=round(recovery, 2),
            )
    finally:
        redis.kill()


# --------------------------------------------------------------------------- NATS down


async def _stream_ids(url: str, stream: str) -> Counter[str]:
    """How many times each event id (Nats-Msg-Id) is in the stream."""
    import nats

    connection = await nats.connect(url, connect_timeout=5)
    try:
        js = connection.jetstream()
        info = await js.stream_info(stream)
        ids: Counter[str] = Counter()
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            with contextlib.suppress(Exception):
                message = await js.get_msg(stream, seq)
                ids[(message.headers or {}).get("Nats-Msg-Id", "")] += 1
        return ids
    finally:
        await connection.close()


def test_nats_down(tmp_path_factory: pytest.TempPathFactory, figures: Figures) -> None:
    root = tmp_path_factory.mktemp("nats")
    broker = OwnNats(root / "jetstream")
    broker.start()
    env = {
        "IMAGEBOARD_ANTISPAM": "off",
        "IMAGEBOARD_EVENT_BUS": "nats",
        "IMAGEBOARD_NATS_URL": broker.url,
        "IMAGEBOARD_OUTBOX_SWEEP_INTERVAL": "1",
    }
    try:
        with running(root / "site", env) as site:
            pid = site.pid
            client = site.client(headers=JSON)
            first = client.post("/b/post", data={"sub": "nats", "com": "before"})
            assert first.status_code == 201, first.text
            thread = first.json()["no"]

            def unpublished() -> int:
                return int(sqlite_rows(site.data_dir, "SELECT count(*) FROM outbox WHERE published_at IS NULL")[0][0])

            wait_for(lambda: unpublished() == 0, within=10, what="the first events published")

            broker.kill()
            down_at = time.monotonic()
            written = []
            for i in range(10):
                answer = client.post("/b/post", data={"resto": str(thread), "com": f"while NATS is down {i}"})
                assert answer.status_code == 201, answer.text  # posting keeps working
                written.append(answer.json()["no"])
            waiting = unpublished()
            assert waiting >= len(written), f"only {waiting} events wait in the outbox"
            assert httpx.get(site.url + f"/b/thread/{thread}", timeout=30).status_code == 200

            time.sleep(1.0)
            broker.start()  # the same store: the stream and its earlier events are still there
            up_at = time.monotonic()
            recovery = wait_for(lambda: unpublished() == 0, within=60, every=0.2, what="the outbox drained")
            assert site.pid == pid and site.alive()

            committed = [row[0] for row in sqlite_rows(site.data_dir, "SELECT event_id FROM outbox")]
            in_stream = asyncio.run(_stream_ids(broker.url, "IMAGEBOARD"))
            missing = [event for event in committed if in_stream[event] == 0]
            doubled = [event for event in committed if in_stream[event] > 1]
            assert missing == [], f"{len(missing)} committed events never reached NATS"
            assert doubled == [], f"{len(doubled)} events are in the stream twice"
            figures.record(
                "nats_down",
                posts_while_down=len(written),
                events_waiting_in_outbox=waiting,
                events_committed=len(committed),
                events_in_stream=sum(in_stream[e] for e in committed),
                lost=len(missing),
                duplicated=len(doubled),
                down_s=round(up_at - down_at, 1),
                outbox_drained_after_s=round(recovery, 2),
            )
    finally:
        broker.kill()
