"""Start what is missing so interlock runs on a bare machine, and stop it after.

The stack never replaces something the user configured: a model URL or a
Redis URL that is set is used as it is, and fails loudly if it is down.
"""

from __future__ import annotations

import logging
from types import TracebackType

from interlock.config import Settings
from interlock.embedded.model_server import LlamaServer
from interlock.embedded.redis_server import RedisServer, redis_answers

log = logging.getLogger(__name__)


class EmbeddedStack:
    """Context manager yielding the settings with embedded endpoints filled in."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model_server: LlamaServer | None = None
        self.redis_server: RedisServer | None = None

    def start(self) -> Settings:
        updates: dict[str, object] = {}
        try:
            if self.settings.embedded_models:
                self.model_server = LlamaServer(
                    log_dir=self.settings.data_dir,
                    threads=self.settings.embedded_model_threads,
                    slots=self.settings.embedded_model_slots,
                    context=self.settings.embedded_model_ctx,
                )
                self.model_server.start()
                log.info("embedded model server at %s", self.model_server.base_url)
                url = self.model_server.openai_url
                if not self.settings.small_model_urls:
                    updates["small_model_urls"] = [url]
                if not self.settings.large_model_urls:
                    updates["large_model_urls"] = [url]
            redis_configured = "redis_url" in self.settings.model_fields_set
            if not redis_configured and not redis_answers(self.settings.redis_url):
                self.redis_server = RedisServer(data_dir=self.settings.data_dir / "redis")
                self.redis_server.start()
                log.info("embedded redis at %s", self.redis_server.url)
                updates["redis_url"] = self.redis_server.url
        except BaseException:
            self.stop()
            raise
        return self.settings.model_copy(update=updates)

    def stop(self) -> None:
        for server in (self.model_server, self.redis_server):
            if server is not None:
                server.stop()
        self.model_server = self.redis_server = None

    def __enter__(self) -> Settings:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
