"""Proof that the metrics web page is served: the dashboard fetches its own pages over HTTP and judges them.

A dashboard that was started is not yet one people can read: the check asks the running server for the
runs page and for the newest run's page, as a browser would (with the token when there is one), and counts
the pages that answered 200 with what they should show. All of them must: ``ui.served`` passes at 1.0.
"""

from __future__ import annotations

import httpx

from taxiway.store import Store
from taxiway.store.checks import Check
from taxiway.store.evidence import Evidence, Limit, Measurement
from taxiway.train.runs import list_runs

TIMEOUT_S = 30.0  # per request: a loaded machine answers slowly, a dead server not at all

__all__ = ["prove_served"]


def prove_served(
    store: Store, project_name: str, url: str, *, token: str | None = None, timeout_s: float = TIMEOUT_S
) -> Evidence:
    """Fetch the runs page (and the newest run's page) from ``url`` and record ``ui.served``.

    The token, when given, is sent once as the dashboard expects and never recorded.

    Example (nothing listens on port 9 — the discard port — so no page answers and the check fails):
        >>> import tempfile, os
        >>> from taxiway.store import StoreLocation
        >>> root = tempfile.mkdtemp()
        >>> store = Store.open(StoreLocation(f"sqlite:///{root}/t.db", os.path.join(root, "a")))
        >>> prove_served(store, "demo", "http://127.0.0.1:9/", timeout_s=5).status
        'fail'
        >>> store.close()
    """
    newest = list_runs(store, limit=1)
    pages: list[tuple[str, str | None]] = [("runs", None)]
    if newest:
        pages.append((f"runs/{newest[0].id}", newest[0].id))
    answers: list[dict[str, object]] = []
    params = {"token": token} if token else None
    with httpx.Client(base_url=url, timeout=timeout_s, follow_redirects=True) as client:
        for path, must_show in pages:
            try:
                response = client.get("/" + path, params=params)
            except httpx.HTTPError as error:
                answers.append({"path": path, "ok": False, "error": type(error).__name__})
                continue
            shows = must_show is None or must_show in response.text
            answers.append(
                {
                    "path": path,
                    "ok": response.status_code == 200 and shows,
                    "http_status": response.status_code,
                }
            )
    good = sum(1 for answer in answers if answer["ok"])
    return store.evidence.record(
        Check.UI_SERVED,
        subject_kind="project",
        subject_id=project_name,
        value=good / len(pages),
        limit=Limit(1.0, ">="),
        measured=Measurement(sample_size=len(pages), method="GET of the dashboard's own pages over HTTP"),
        details={"url": url, "token_required": token is not None, "pages": answers},
    )
