"""Prefetching: a background thread moves the next batches to the device while this one runs."""

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import jax

_POLL_SECONDS = 0.1


def _prefetch_producer(source: Iterator[Any], buffer: queue.Queue, stop: threading.Event) -> None:
    """Producer thread: ``device_put`` each item into ``buffer``; then report the end."""

    def put(message):
        # A bounded put that gives up once the consumer has gone away.
        while not stop.is_set():
            try:
                buffer.put(message, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    try:
        for item in source:
            if not put(("item", jax.device_put(item))):
                return
    except Exception as error:  # handed to the consumer, which re-raises it
        put(("error", error))
        return
    put(("done", None))


def _prefetch_consumer(
    buffer: queue.Queue, stop: threading.Event, thread: threading.Thread
) -> Iterator[Any]:
    """Consumer generator: yield items in order, re-raise the source's error, stop the thread."""
    try:
        while True:
            kind, value = buffer.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()
        thread.join(timeout=1.0)


def prefetch(iterator: Iterable[Any], size: int = 2) -> Iterator[Any]:
    """Iterate over ``iterator`` with up to ``size`` items already copied to the device.

    A daemon thread pulls items from the source, calls ``jax.device_put`` on each (any
    pytree) and puts it into a ``queue.Queue(maxsize=size)``; the returned iterator takes
    them out in their original order. While the accelerator runs step ``t``, the host is
    already reading and transferring batch ``t + 1``. The queue bounds memory: at most
    ``size`` items wait in it, plus one held by the producer waiting for room, so after
    the consumer has taken ``k`` items the source has been pulled at most ``k + size + 1``
    times. The thread starts at once.

    If the source raises, the consumer receives every item produced before the error and
    then the same exception. Closing the iterator early (``break`` then garbage collection,
    or ``.close()``) stops the thread. Not jitted.

    Args:
      iterator: any iterable of pytrees of arrays.
      size: the queue bound, at least 1.

    Returns:
      An iterator of the same items as ``jax.Array`` pytrees, in order.

    Raises:
      ValueError: if ``size < 1``.

    Warning:
      ``flax.jax_utils.prefetch_to_device`` uses no thread: it only keeps ``size`` items
      dispatched ahead and shards each over local devices for ``pmap``. Reading or
      decoding on the host still blocks the training loop there; a thread (or
      ``tf.data``/Grain workers) is what overlaps it.

    Example:
      >>> items = list(prefetch(iter([{"x": 1.0}, {"x": 2.0}]), size=1))
      >>> [float(i["x"]) for i in items], type(items[0]["x"]).__name__
      ([1.0, 2.0], 'ArrayImpl')

    References:
      ``flax.jax_utils.prefetch_to_device``,
      https://flax.readthedocs.io/en/latest/api_reference/flax.jax_utils.html;
      ``queue.Queue``, https://docs.python.org/3/library/queue.html.
    """
    if size < 1:
        raise ValueError(f"prefetch size must be at least 1, got {size}")
    buffer: queue.Queue = queue.Queue(maxsize=size)
    stop = threading.Event()
    thread = threading.Thread(
        target=_prefetch_producer,
        args=(iter(iterator), buffer, stop),
        name="dlcore-prefetch",
        daemon=True,
    )
    thread.start()
    return _prefetch_consumer(buffer, stop, thread)
