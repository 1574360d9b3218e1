"""The composition root's one call: the anti-spam service with the backends the
configuration asks for."""

from __future__ import annotations

from imageboard.antispam.limiter import ChallengeStore, RateLimiter
from imageboard.antispam.networks import NetworkList
from imageboard.antispam.schemas import AntispamConfig
from imageboard.antispam.service import AntispamService


def build_antispam(config: AntispamConfig, *, secret: bytes) -> AntispamService:
    """The composition root's one call: Redis backends when ``redis_url`` is set, in-memory
    ones otherwise; the network list when a file is configured."""
    limiter: RateLimiter
    challenges: ChallengeStore
    if config.redis_url:
        from imageboard.antispam.redis_backend import RedisChallengeStore, RedisRateLimiter, connect

        client = connect(config.redis_url)
        limiter = RedisRateLimiter(client, prefix=config.key_prefix)
        challenges = RedisChallengeStore(client, prefix=config.key_prefix)
    else:
        from imageboard.antispam.memory import MemoryChallengeStore, MemoryRateLimiter

        limiter = MemoryRateLimiter(max_keys=config.memory_max_keys)
        challenges = MemoryChallengeStore()
    networks = (
        NetworkList(config.network_list_file, check_interval=config.network_list_check_interval)
        if config.network_list_file
        else None
    )
    return AntispamService(config, limiter=limiter, challenges=challenges, secret=secret, networks=networks)
