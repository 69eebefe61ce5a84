"""``omproxy.proxy`` is ``omproxy_tui.proxy``: StdioProxy, SseProxy, StreamableHttpProxy, DROP, modifies…

Replacing our own entry in sys.modules while being imported is the documented way to alias a
module: the import statement returns the module found there when execution ends.
"""

import sys

import omproxy_tui.proxy as _proxy

sys.modules[__name__] = _proxy
