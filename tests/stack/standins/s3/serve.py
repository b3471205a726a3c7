"""moto's S3 server on :9000, with the objects of earlier runs replayed from /data first."""

import os
import signal
import subprocess
import sys
import time
import urllib.request

URL = "http://127.0.0.1:9000"
RECORDING = os.environ["MOTO_RECORDER_FILEPATH"]


def answers() -> bool:
    try:
        urllib.request.urlopen(f"{URL}/moto-api/", timeout=1).close()
        return True
    except OSError:
        return False


server = subprocess.Popen(["moto_server", "-H", "0.0.0.0", "-p", "9000"])
signal.signal(signal.SIGTERM, lambda *_: server.terminate())
while not answers():
    if server.poll() is not None:
        sys.exit(server.returncode)
    time.sleep(0.2)
if os.path.exists(RECORDING) and os.path.getsize(RECORDING):
    # Replays every recorded request against this server (not recorded again).
    request = urllib.request.Request(f"{URL}/moto-api/recorder/replay-recording", method="POST")
    urllib.request.urlopen(request, timeout=600).close()
    with open(RECORDING) as recorded:
        print(f"replayed {sum(1 for _ in recorded)} recorded requests", flush=True)
with open("/tmp/ready", "w"):  # the healthcheck's signal: the objects are back
    pass
sys.exit(server.wait())
