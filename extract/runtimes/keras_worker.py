"""The child process that runs a base on Keras with another backend (`python -m extract.runtimes.keras_worker`).

Started with KERAS_BACKEND set, so its Keras is JAX's or PyTorch's from its first import. It
speaks frames over its stdin/stdout: one kind byte, an 8-byte length, the payload. The parent
sends the configuration (JSON), the child answers `ready` (its device) or an error line; then
each batch (a .npy array, float32 images) is answered by its features (a .npy array). Arrays go
through `np.save`/`np.load` without pickle. End of input ends the child. Its stdout is the
channel only: anything a library prints goes to stderr, which the parent keeps in a log file.
"""
from __future__ import annotations

import atexit
import dataclasses
import io
import json
import os
import struct
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from extract.runtimes import RuntimeUnavailable

if TYPE_CHECKING:
    from extract.extractor import Extractor

CONFIG, READY, ARRAY, ERROR = b"c", b"r", b"a", b"e"
_HEADER = struct.Struct(">cQ")
START_SECONDS = 600  # building a big base and its first compilation, on a slow machine


def send(stream: BinaryIO, kind: bytes, payload: bytes) -> None:
    stream.write(_HEADER.pack(kind, len(payload)))
    stream.write(payload)
    stream.flush()


def receive(stream: BinaryIO) -> tuple[bytes, bytes] | None:
    """(kind, payload), or None at end of input (the other side is gone)."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    kind, length = _HEADER.unpack(header)
    payload = stream.read(length)
    return (kind, payload) if len(payload) == length else None


def array_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return buffer.getvalue()


def bytes_array(payload: bytes) -> np.ndarray:
    return np.load(io.BytesIO(payload), allow_pickle=False)


class KerasWorker:
    """The parent's handle on one child: `features(images)`; the child ends when this is closed."""

    def __init__(self, backend: str, extractor: "Extractor"):
        self.backend, self.config_id = backend, extractor.config.config_id
        self.log = tempfile.NamedTemporaryFile(prefix=f"keras-{backend}-", suffix=".log", delete=False)
        root = str(Path(__file__).resolve().parents[2])  # the folder holding `extract` and `store`
        env = {**os.environ, "KERAS_BACKEND": backend,
               "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen([sys.executable, "-m", "extract.runtimes.keras_worker"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=self.log, env=env)
        atexit.register(self.close)
        request = {"config": extractor.config.to_json(), "xla": extractor.xla}
        with tempfile.TemporaryDirectory(prefix="keras-base-") as folder:
            if extractor.config.weights_source == "none":  # TensorFlow's seeded random init: send its numbers
                request["weights_file"] = str(Path(folder) / "base.weights.h5")
                extractor.build()._base.save_weights(request["weights_file"])
            try:
                reply = self._ask(CONFIG, json.dumps(request).encode())
            except RuntimeUnavailable:
                self.close()  # a child that could not build the configuration is not left behind
                raise
        self.device = json.loads(reply)["device"]

    def features(self, images: np.ndarray) -> np.ndarray:
        return bytes_array(self._ask(ARRAY, array_bytes(np.asarray(images, np.float32)))).astype(np.float32)

    def _ask(self, kind: bytes, payload: bytes) -> bytes:
        try:
            send(self.process.stdin, kind, payload)
            answer = receive(self.process.stdout)
        except (BrokenPipeError, OSError):
            answer = None
        if answer is None:
            raise RuntimeUnavailable(f"The {self.backend} worker of configuration {self.config_id} ended: "
                                     f"{self._last_log_line()}. Received: --runtime {self.backend}")
        reply_kind, reply = answer
        if reply_kind == ERROR:
            raise RuntimeUnavailable(reply.decode(errors="replace"))
        return reply

    def _last_log_line(self) -> str:
        self._stop()
        try:
            lines = [line for line in Path(self.log.name).read_text(errors="replace").splitlines() if line.strip()]
        except OSError:
            lines = []
        self.close()
        return lines[-1].strip()[:300] if lines else f"exit status {self.process.returncode}"

    def close(self) -> None:
        """End the child (its input closed: it exits) and remove its log."""
        self._stop()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)

    def _stop(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):  # end of input: the child exits
            try:
                stream.close()
            except OSError:
                pass
        if self.process.poll() is None:
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


_WORKERS: dict[tuple[str, str], KerasWorker] = {}  # (backend, configuration id) -> its child, per process


def worker_for(backend: str, extractor: "Extractor") -> KerasWorker:
    """This process's child for a configuration on `backend` (started once, reused by derived extractors)."""
    key = (backend, extractor.config.config_id)
    worker = _WORKERS.get(key)
    if worker is None or worker.process.poll() is not None:
        worker = _WORKERS[key] = KerasWorker(backend, extractor)
    return worker


def serve(inbox: BinaryIO, outbox: BinaryIO) -> None:
    """The child's loop: build the configuration, then answer every batch with its features."""
    from extract import devices
    from extract.extractor import Extractor
    from store.config import ExtractorConfig

    first = receive(inbox)
    if first is None or first[0] != CONFIG:
        return
    try:
        request = json.loads(first[1])
        config = ExtractorConfig.from_json(request["config"])
        backend = devices.keras_backend()
        devices.check_compute_device(config.compute)  # --mixed-precision: a GPU this backend sees
        extractor = Extractor.from_config(config, bool(request.get("xla")), runtime=backend)
        if request.get("weights_file"):  # the parent's random init (another backend draws other numbers)
            extractor._base = extractor.base()
            extractor._base.load_weights(request["weights_file"])
            extractor.config = dataclasses.replace(config, weights_source="sent by the parent process")
        infer = extractor.build().infer
    except Exception as error:  # one line to the parent, whatever failed (weights, backend, memory)
        send(outbox, ERROR, " ".join(str(error).split())[:500].encode() or type(error).__name__.encode())
        return
    send(outbox, READY, json.dumps({"device": infer.device}).encode())
    while (message := receive(inbox)) is not None:
        try:
            with devices.exact_float32(config.compute):
                features = infer(bytes_array(message[1]))
            send(outbox, ARRAY, array_bytes(features))
        except Exception as error:
            send(outbox, ERROR, f"Keras on {backend} failed on a batch: {' '.join(str(error).split())[:300]}".encode())


def main() -> None:
    outbox = os.fdopen(os.dup(1), "wb")  # the channel; fd 1 itself now points at stderr for library prints
    os.dup2(2, 1)
    serve(sys.stdin.buffer, outbox)


if __name__ == "__main__":
    main()
