"""An MCP client that is not Guardian's code: the official MCP Python SDK.

Used by tests/e2e/serve_api.rs and the benchmark (tests/examples/bench-serve.rs).

    client.py stdio  -- GUARDIAN_BINARY ARGS...     # spawns `guardian mcp ...`
    client.py http   URL TOKEN
    client.py propose ANSWER -- GUARDIAN_BINARY ARGS...  # patch__propose; answers
                                                     # the approval elicitation
                                                     # with ANSWER (accept|decline)

Runs initialize, tools/list, tools/call of diagnostics on {"namespace":
NAMESPACE} (env MCP_NAMESPACE, default staging), prompts/list, prompts/get,
resources/list, resources/read of the pending actions, and prints one JSON
object with what it saw. With MCP_BENCH_CALLS=N it then times N more
tools/call round trips and adds their latencies (ms).
"""

import asyncio
import json
import os
import sys
import time

import httpx
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client


async def exercise(session: ClientSession) -> dict:
    out: dict = {}
    init = await session.initialize()
    out["server"] = init.serverInfo.name
    out["protocol"] = str(init.protocolVersion)
    out["capabilities"] = init.capabilities.model_dump(exclude_none=True)
    tools = await session.list_tools()
    out["tools"] = [
        {
            "name": t.name,
            "schema": t.inputSchema,
            "annotations": t.annotations.model_dump(exclude_none=True) if t.annotations else None,
        }
        for t in tools.tools
    ]
    ns = os.environ.get("MCP_NAMESPACE", "staging")
    result = await session.call_tool("diagnostics__analyze", {"namespace": ns})
    out["call"] = {
        "is_error": bool(result.isError),
        "structured": result.structuredContent,
        "text": [c.text for c in result.content if getattr(c, "type", "") == "text"],
    }
    bad = await session.call_tool("cluster__list", {"resource": 42})
    out["bad_call"] = {
        "is_error": bool(bad.isError),
        "text": [c.text for c in bad.content if getattr(c, "type", "") == "text"],
    }
    prompts = await session.list_prompts()
    out["prompts"] = [p.name for p in prompts.prompts]
    got = await session.get_prompt("diagnose-namespace", {"namespace": ns})
    out["prompt_text"] = got.messages[0].content.text
    resources = await session.list_resources()
    out["resources"] = [str(r.uri) for r in resources.resources]
    pending = await session.read_resource("guardian://actions/pending")
    out["pending"] = json.loads(pending.contents[0].text)
    n = int(os.environ.get("MCP_BENCH_CALLS", "0"))
    if n:
        latencies = []
        for _ in range(n):
            started = time.perf_counter()
            r = await session.call_tool("diagnostics__analyze", {"namespace": ns})
            latencies.append((time.perf_counter() - started) * 1e3)
            assert not r.isError, r
        out["latencies_ms"] = latencies
    return out


PATCH_INPUT = {
    "target": {"apiVersion": "apps/v1", "kind": "Deployment",
               "namespace": os.environ.get("MCP_NAMESPACE", "staging"), "name": "search"},
    "json_patch": [
        {"op": "test", "path": "/spec/template/spec/containers/0/name", "value": "search"},
        {"op": "test", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": "256Mi"},
        {"op": "replace", "path": "/spec/template/spec/containers/0/resources/limits/memory", "value": "512Mi"},
    ],
    "rationale": "search is OOMKilled: its memory limit is below its working set",
}


async def propose(argv: list[str], answer: str) -> dict:
    """patch__propose, with a client that supports elicitation and answers
    the approval question as a person would."""
    from mcp import types

    asked: list[str] = []

    async def on_elicit(ctx, params):
        asked.append(params.message)
        if answer == "accept":
            return types.ElicitResult(action="accept", content={"approve": True})
        return types.ElicitResult(action="decline")

    params = StdioServerParameters(command=argv[0], args=argv[1:], env=dict(os.environ))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, elicitation_callback=on_elicit) as session:
            await session.initialize()
            result = await session.call_tool("patch__propose", PATCH_INPUT)
            return {
                "is_error": bool(result.isError),
                "structured": result.structuredContent,
                "text": [c.text for c in result.content if getattr(c, "type", "") == "text"],
                "asked": asked,
            }


async def main() -> None:
    mode = sys.argv[1]
    if mode == "propose":
        argv = sys.argv[sys.argv.index("--") + 1 :]
        out = await propose(argv, sys.argv[2])
    elif mode == "stdio":
        argv = sys.argv[sys.argv.index("--") + 1 :]
        params = StdioServerParameters(command=argv[0], args=argv[1:], env=dict(os.environ))
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                out = await exercise(session)
    elif mode == "http":
        url, token = sys.argv[2], sys.argv[3]
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(headers=headers, timeout=60) as client:
            async with streamable_http_client(url, http_client=client) as (read, write, _):
                async with ClientSession(read, write) as session:
                    out = await exercise(session)
    else:
        raise SystemExit(f"unknown mode {mode}")
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main())
