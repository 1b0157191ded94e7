"""Just enough OpenAPI for ``kubectl apply``'s validation step.

``kubectl apply`` (validation on, its default) first downloads ``/openapi/v2`` as protobuf
(gnostic's ``Document``) and asks ``/openapi/v3`` whether the server validates fields itself;
without an answer it stops with "failed to download openapi" unless ``--validate=false``.
The emulator answers ``/openapi/v2`` with an empty Document (a valid protobuf message: every
field at its default), so kubectl finds no schema for any kind and validates nothing client-side
(as it does for a kind without a schema), and ``/openapi/v3`` with 404 (not served: kubectl then
falls back to the v2 answer). No schema validation happens either way: the emulator does none
(the packaging tests check every example against the CRD schema with check-jsonschema).
"""

from __future__ import annotations

from aiohttp import web

__all__ = ["PATHS", "answer"]

PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"
PROTOBUF_ANSWER = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"  # Go parses
PATHS = ("/openapi/v2",)


def answer(path: str, accept: str) -> web.Response:
    """The answer for one of `PATHS`: an empty OpenAPI v2 Document (protobuf or JSON)."""
    if "protobuf" in accept:
        return web.Response(body=b"", headers={"Content-Type": PROTOBUF_ANSWER})
    return web.json_response({"swagger": "2.0", "info": {"title": "finnexus emulator",
                                                         "version": "v1"}, "paths": {},
                              "definitions": {}})
