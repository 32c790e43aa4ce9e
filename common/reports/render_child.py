"""Entry point of the render process: ``python -m common.reports.render_child``.

Reads one pickled job from stdin (written by our own parent, so trusted), imports everything,
then lowers its own resource limits *before* it touches the template: address space (memory),
CPU seconds, no file writes, few file descriptors. It answers one JSON object on stdout: either
``{"result": ...}`` or ``{"error": {"message", "line", "kind"}}``. JSON, not pickle, goes back,
because this process ran untrusted code and the parent must not unpickle what it says.
"""

from __future__ import annotations

import json
import pickle
import sys
from typing import Any

from common.reports.child import apply_limits
from common.reports.errors import RenderError
from common.reports.render import render_in_process


def main() -> int:
    job: dict[str, Any] = pickle.loads(sys.stdin.buffer.read())
    apply_limits(job["memory_bytes"], job["cpu_seconds"])
    try:
        result = render_in_process(job["body"], job["parameters"], max_output_chars=job["output_chars"])
        answer: dict[str, Any] = {"result": result.to_dict()}
    except RenderError as exc:
        answer = {"error": exc.to_dict()}
    except MemoryError:
        error = RenderError("the report needed more memory than allowed", None, "memory")
        answer = {"error": error.to_dict()}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
