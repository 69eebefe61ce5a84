"""A raw-line observer used through `omproxy stdio --hooks seq_hooks:SeqLog`: it writes the
(direction, seq, id) of every message it sees to $OMPROXY_SEQLOG, so a test can check that hooks and
inspectors see one numbering."""

import json
import os
import threading

from omproxy_tui.proxy import StdioProxy


class SeqLog(StdioProxy):
    def _on_start(self):
        self._out = open(os.environ["OMPROXY_SEQLOG"], "w")
        self._lock = threading.Lock()  # raw-line hooks run on both relay threads at once

    def _log(self, line):
        obj = line.json
        mid = obj.get("id") if isinstance(obj, dict) else None
        with self._lock:
            self._out.write(json.dumps([line.direction, line.seq, mid]) + "\n")

    def _on_mcp_client_message(self, line):
        self._log(line)

    def _on_mcp_server_message(self, line):
        self._log(line)

    def _on_close(self):
        self._out.close()
