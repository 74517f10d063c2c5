"""
Reading carbon's whisper files: the newest fresh point of a metric, without the whisper library.

Format (whisper's own): a 16-byte header ``!2LfL`` (aggregation, max retention, x-files factor,
archive count), then 12 bytes ``!3L`` (offset, seconds per point, points) per archive; archive 0
holds the finest points, each 12 bytes ``!Ld`` (timestamp, value), in a ring.
"""

from __future__ import annotations

import configparser
import os
import struct

#: Where Debian's carbon keeps its whisper files (carbon.conf's LOCAL_DATA_DIR).
WHISPER_DIR = "/var/lib/graphite/whisper"
#: carbon's configuration on the carbon server (written by salt/monitoring/server.sls).
CARBON_CONF = "/etc/carbon/carbon.conf"
#: Seconds: an older point is not a measurement of now.
STALE_AFTER = 300


def data_dir(carbon_conf: str = CARBON_CONF) -> str:
    """Where the carbon of this node writes its whisper files: LOCAL_DATA_DIR of its carbon.conf
    ([cache]; ``monitoring:carbon:settings`` may move it), else Debian's :data:`WHISPER_DIR`."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(carbon_conf)
        configured = parser.get("cache", "LOCAL_DATA_DIR", fallback="").strip()
    except configparser.Error:
        configured = ""
    if not configured.startswith("/"):
        return WHISPER_DIR
    return configured.rstrip("/") or "/"


def metric_file(metric: str, whisper_dir: str = WHISPER_DIR) -> str:
    """The whisper file of a dotted metric path (``a.b.c`` -> ``<dir>/a/b/c.wsp``)."""
    return os.path.join(whisper_dir, *metric.split(".")) + ".wsp"


def latest(path: str, now: float) -> float | None:
    """The newest non-stale point of a whisper file (None: no file, no archive, no fresh point)."""
    try:
        with open(path, "rb") as handle:
            _, _, _, archives = struct.unpack("!2LfL", handle.read(16))
            if archives < 1:
                return None
            offset, _, points = struct.unpack("!3L", handle.read(12))
            handle.seek(offset)
            data = handle.read(points * 12)
    except (OSError, struct.error):
        return None
    best = None
    for i in range(0, len(data) - 11, 12):
        stamp, value = struct.unpack("!Ld", data[i:i + 12])
        if stamp and now - stamp <= STALE_AFTER and (best is None or stamp > best[0]):
            best = (stamp, value)
    return best[1] if best else None
