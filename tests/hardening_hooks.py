"""Hooks that attack the relay, used through `omproxy stdio --hooks hardening_hooks:NAME`."""

import sys
import time

from omproxy_tui.proxy import StdioProxy, modifies


def nested(depth: int):
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


class RawBoth(StdioProxy):
    """A raw-line observer on both directions."""

    def _on_mcp_client_message(self, line):
        line.json

    def _on_mcp_server_message(self, line):
        line.json


class TypedBoth(StdioProxy):
    """A seed-style (typed) observer on both directions."""

    def _on_mcp_client_message(self, message):
        pass

    def _on_mcp_server_message(self, message):
        pass


class ModifiesNested(StdioProxy):
    """A traffic-changing hook whose replacement is nested far too deep to encode."""

    @modifies
    def _on_mcp_client_message(self, line):
        if line.method == "nest":
            return {"jsonrpc": "2.0", "id": line.id, "method": "nest", "params": {"x": nested(5000)}}
        return None

    @modifies
    def _on_mcp_server_message(self, line):
        return None


class ExitsInServerHook(StdioProxy):
    """A server-side observe hook that calls sys.exit() on the second reply."""

    n = 0

    def _on_mcp_server_message(self, line):
        self.n += 1
        if self.n == 2:
            sys.exit(3)


class ExitsInModifier(StdioProxy):
    """A traffic-changing hook raising SystemExit / GeneratorExit."""

    @modifies
    def _on_mcp_client_message(self, line):
        if line.id == 1:
            raise SystemExit(4)
        if line.id == 2:
            raise GeneratorExit()
        return None


class HangsAsync(StdioProxy):
    """An async traffic-changing hook that never finishes for method "hang"."""

    hook_timeout = 1.0

    @modifies
    async def _on_mcp_client_message(self, line):
        import asyncio

        if line.method == "hang":
            await asyncio.sleep(3600)
        return None


class HangsSync(StdioProxy):
    """A sync traffic-changing hook that sleeps far past any deadline for method "hang"."""

    hook_timeout = 1.0

    @modifies
    def _on_mcp_client_message(self, line):
        if line.method == "hang":
            time.sleep(3600)
        return None


class ExitsAsync(StdioProxy):
    """Async hooks raising SystemExit: inside a task that would stop the whole event loop."""

    n = 0

    async def _on_mcp_server_message(self, line):
        self.n += 1
        if self.n == 2:
            raise SystemExit(5)

    @modifies
    async def _on_mcp_client_message(self, line):
        if line.id == 1:
            raise SystemExit(6)
        return None


class ContractProbe:
    """An addon with every member of the contract, recording the order of calls to stderr."""

    needs_loop = True
    whole_lines = False
    modifies_traffic = False

    def __init__(self) -> None:
        self.calls: list[str] = []

    def _note(self, name: str) -> None:
        if not self.calls or self.calls[-1] != name:
            self.calls.append(name)

    def prepare(self):
        self._note("prepare")

    async def loop_started(self):
        self._note("loop_started")

    async def loop_stopping(self):
        self._note("loop_stopping")

    def shutdown(self):
        self._note("shutdown")
        sys.stderr.write("CALLS " + " ".join(self.calls) + "\n")

    def _on_mcp_client_message(self, line):
        self._note("client_message")

    def _on_mcp_server_message(self, line):
        self._note("server_message")

    def _on_start(self):
        self._note("start")

    def _on_close(self):
        self._note("close")

    def _on_server_stderr(self, text):
        self._note("stderr")

    def _on_lifecycle(self, event, info):
        self._note(f"lifecycle:{event}")


class WithContractProbe(StdioProxy):
    def __init__(self):
        super().__init__()
        self.add_addon(ContractProbe())
